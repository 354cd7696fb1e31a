/* rdv_token.c - the registry's admin token: configured (admin_token, or
 * admin_token_file), or else made on first start and kept in
 * STATE_DIR/admin.token (32 random bytes, base64url, mode 0600), so that
 * a registry always has one and the operator has nothing to copy by hand.
 * The token only ever lives in guarded memory (sodium_malloc). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rdv.h"
#include "util.h"

#define ADMIN_TOKEN_MAX 4096
#define B64V sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* base64url of RDV_STATE_TOKEN_BYTES, no padding */
#define STATE_TOKEN_LEN (sodium_base64_ENCODED_LEN(RDV_STATE_TOKEN_BYTES, B64V) - 1)

int rdv_token_set(char **out, const char *tok, size_t len)
{
	if (len == 0)
		return -EINVAL;
	*out = sodium_malloc(len + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, tok, len);
	(*out)[len] = '\0';
	return 0;
}

/* Read \p path (a secret: refused when group or others may read it) into
 * guarded memory, trailing line ends and blanks dropped; \p what names
 * the file in errors.  With \p strict the content must be a token this
 * registry made.  \retval 0, -ENOENT (no such file), or -errno with \p err. */
static int token_read(char **out, const char *path, const char *what, int strict, char *err,
		      size_t errlen)
{
	uint8_t bin[RDV_STATE_TOKEN_BYTES];
	char *buf = NULL;
	size_t len = 0, binlen = 0;
	const char *end = NULL;
	int ret;

	ret = file_check_secret(path);
	if (ret == -ENOENT)
		return ret;
	if (ret == -EPERM) {
		snprintf(err, errlen, "%s %s: readable by group or others (chmod 600 it)", what,
			 path);
		goto out;
	}
	if (ret == 0)
		ret = file_read_all(path, ADMIN_TOKEN_MAX, &buf, &len);
	if (ret < 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-ret));
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	if (len == 0) {
		snprintf(err, errlen, "%s %s: empty", what, path);
		ret = -EINVAL;
		goto out;
	}
	if (strict &&
	    (len != STATE_TOKEN_LEN ||
	     sodium_base642bin(bin, sizeof(bin), buf, len, NULL, &binlen, &end, B64V) != 0 ||
	     end != buf + len || binlen != sizeof(bin))) {
		snprintf(err, errlen,
			 "%s %s: not a token this registry made (%zu base64url characters); "
			 "remove it to have a new one made, or set admin_token_file",
			 what, path, (size_t)STATE_TOKEN_LEN);
		ret = -EINVAL;
		goto out;
	}
	ret = rdv_token_set(out, buf, len);
	if (ret < 0)
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(-ret));
out:
	sodium_memzero(bin, sizeof(bin));
	if (buf) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return ret;
}

int rdv_token_load_file(char **out, const char *path, char *err, size_t errlen)
{
	int ret = token_read(out, path, "admin_token_file", 0, err, errlen);

	if (ret == -ENOENT)
		snprintf(err, errlen, "admin_token_file %s: %s", path, strerror(ENOENT));
	return ret;
}

int rdv_token_state_path(const char *state_dir, char *out, size_t len)
{
	if (snprintf(out, len, "%s/%s", state_dir, RDV_ADMIN_TOKEN_FILE) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int rdv_token_load_state(char **out, const char *state_dir, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (rdv_token_state_path(state_dir, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "state_dir %s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	return token_read(out, path, "admin token", 1, err, errlen);
}

int rdv_token_create_state(char **out, const char *state_dir, char *err, size_t errlen)
{
	uint8_t bin[RDV_STATE_TOKEN_BYTES];
	char path[PATH_MAX], text[STATE_TOKEN_LEN + 2];
	int ret;

	if (rdv_token_state_path(state_dir, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "state_dir %s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	randombytes_buf(bin, sizeof(bin));
	sodium_bin2base64(text, sizeof(text), bin, sizeof(bin), B64V);
	sodium_memzero(bin, sizeof(bin));
	strcat(text, "\n");
	ret = file_create_atomic(path, text, strlen(text), 0600);
	sodium_memzero(text, sizeof(text));
	/* Another process on this state dir (a second replica's start, a
	 * registry-only and a beacon-only one) may have made it first: then
	 * that one is ours too.  Either way, read back what is on disk. */
	if (ret < 0 && ret != -EEXIST) {
		snprintf(err, errlen, "admin token %s: %s", path, strerror(-ret));
		return ret;
	}
	return token_read(out, path, "admin token", 1, err, errlen);
}
