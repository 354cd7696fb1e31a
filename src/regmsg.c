/* regmsg.c - see regmsg.h.  The registry request envelope: the one place
 * where an untrusted request body is parsed, and where the bytes a
 * signature covers are defined. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "regmsg.h"
#include "util.h"

#define REGMSG_DOMAIN "pilot-registry-request-v1\n"
#define REGMSG_COMMON_KEYS 4
#define REGMSG_MAX_OP_KEYS 28

/* The signed bytes: domain line, request line, body.  The domain line keeps
 * a registry signature from ever being valid in another protocol, and the
 * request line binds the body to the operation it was sent to. */
static int signed_bytes(const char *path, const char *body, size_t len, uint8_t **out,
			size_t *outlen)
{
	size_t dl = strlen(REGMSG_DOMAIN), pl = strlen(path), n;
	uint8_t *m;

	if (len > SIZE_MAX - dl - pl - 7)
		return -E2BIG;
	n = dl + 5 + pl + 1 + len;
	m = malloc(n ? n : 1);
	if (!m)
		return -ENOMEM;
	memcpy(m, REGMSG_DOMAIN, dl);
	memcpy(m + dl, "POST ", 5);
	memcpy(m + dl + 5, path, pl);
	m[dl + 5 + pl] = '\n';
	if (len)
		memcpy(m + dl + 5 + pl + 1, body, len);
	*out = m;
	*outlen = n;
	return 0;
}

int regmsg_sign(const uint8_t ed_sk[64], const char *path, const char *body, size_t len,
		char *sig_b64)
{
	uint8_t sig[crypto_sign_BYTES], *m = NULL;
	size_t mlen;
	int ret;

	ret = signed_bytes(path, body, len, &m, &mlen);
	if (ret < 0)
		goto out;
	if (crypto_sign_detached(sig, NULL, m, mlen, ed_sk) != 0) {
		ret = -EINVAL;
		goto out;
	}
	ret = b64_encode(sig_b64, REGMSG_SIG_B64_LEN, sig, sizeof(sig));
	if (ret >= 0)
		ret = 0;
out:
	free(m);
	return ret;
}

int regmsg_verify(const uint8_t ed_pk[32], const char *path, const char *body, size_t len,
		  const char *sig_b64)
{
	uint8_t sig[crypto_sign_BYTES + 4], *m = NULL;
	size_t mlen;
	int ret, n;

	/* A signature header longer than any encoding of 64 bytes is refused
	 * before decoding, so the decoder never sees attacker-sized input. */
	if (!sig_b64 || strnlen(sig_b64, REGMSG_SIG_B64_LEN) >= REGMSG_SIG_B64_LEN)
		return -EBADMSG;
	n = b64_decode(sig, sizeof(sig), sig_b64);
	if (n != crypto_sign_BYTES)
		return -EBADMSG;
	ret = signed_bytes(path, body, len, &m, &mlen);
	if (ret < 0)
		goto out;
	if (crypto_sign_verify_detached(sig, m, mlen, ed_pk) != 0)
		ret = -EBADMSG;
out:
	free(m);
	return ret;
}

void regmsg_req_free(struct regmsg_req *r)
{
	if (!r)
		return;
	if (r->root)
		yajl_tree_free(r->root);
	r->root = NULL;
}

/* yajl's tree keeps duplicate members; refuse them so that no later reader
 * can pick a different one of two values than the one we checked. */
static int no_duplicates(yajl_val obj, const char **dup)
{
	for (size_t i = 0; i < obj->u.object.len; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(obj->u.object.keys[i], obj->u.object.keys[j]) == 0) {
				*dup = obj->u.object.keys[i];
				return -EINVAL;
			}
	return 0;
}

int regmsg_parse(const char *op, const char *body, size_t len, const char *const *op_keys,
		 struct regmsg_req *out, char *err, size_t errlen)
{
	const char *allowed[REGMSG_COMMON_KEYS + REGMSG_MAX_OP_KEYS + 1] = {"op", "node_id", "ts",
									    "nonce"};
	const char *s, *bad = NULL;
	char jerr[128];
	size_t na = REGMSG_COMMON_KEYS;
	int ret = -EINVAL, rc;

	memset(out, 0, sizeof(*out));
	if (!err)
		errlen = 0; /* snprintf(NULL, 0, ...) is a no-op */
	else if (errlen)
		err[0] = '\0';
	if (len > REGMSG_MAX_BODY) {
		snprintf(err, errlen, "body of %zu bytes is larger than %d", len, REGMSG_MAX_BODY);
		return -E2BIG;
	}
	if (strlen(op) >= REGMSG_OP_MAX) {
		snprintf(err, errlen, "operation name too long");
		return -EINVAL;
	}
	for (size_t i = 0; op_keys && op_keys[i]; i++) {
		if (na >= REGMSG_COMMON_KEYS + REGMSG_MAX_OP_KEYS) {
			snprintf(err, errlen, "internal: too many members for '%s'", op);
			return -EINVAL;
		}
		allowed[na++] = op_keys[i];
	}
	allowed[na] = NULL;

	out->root = json_parse(body, len, 0, jerr, sizeof(jerr));
	if (!out->root) {
		snprintf(err, errlen, "body is not JSON: %s", jerr);
		goto out;
	}
	if (!YAJL_IS_OBJECT(out->root)) {
		snprintf(err, errlen, "body is not a JSON object");
		goto out;
	}
	if (json_only_keys(out->root, allowed, &bad) < 0) {
		snprintf(err, errlen, "unknown member '%.64s'", bad ? bad : "?");
		goto out;
	}
	if (no_duplicates(out->root, &bad) < 0) {
		snprintf(err, errlen, "member '%.64s' given twice", bad);
		goto out;
	}
	if (json_get_str(out->root, "op", &s) < 0 || strcmp(s, op) != 0) {
		snprintf(err, errlen, "member 'op' must be \"%s\"", op);
		goto out;
	}
	snprintf(out->op, sizeof(out->op), "%s", op);

	rc = json_get_u32(out->root, "node_id", &out->node_id);
	if (rc == -ENOENT && strcmp(op, "register") == 0) {
		out->has_node_id = 0;
	} else if (rc < 0 || out->node_id == 0) {
		snprintf(err, errlen, "member 'node_id' must be a node ID (1 to 4294967295)");
		goto out;
	} else {
		out->has_node_id = 1;
	}
	if (json_get_u64(out->root, "ts", &out->ts) < 0) {
		snprintf(err, errlen, "member 'ts' must be Unix milliseconds");
		goto out;
	}
	if (json_get_b64(out->root, "nonce", out->nonce, sizeof(out->nonce)) < 0) {
		snprintf(err, errlen, "member 'nonce' must be base64 of %d bytes",
			 REGMSG_NONCE_LEN);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		regmsg_req_free(out);
	return ret;
}

int regmsg_check_fresh(uint64_t ts, uint64_t now_ms)
{
	uint64_t d = ts > now_ms ? ts - now_ms : now_ms - ts;
	return d <= REGMSG_MAX_SKEW_MS ? 0 : -ESTALE;
}

int regmsg_build(const char *op, uint32_t node_id, uint64_t now_ms, regmsg_add_fn add, void *arg,
		 char **out, size_t *outlen)
{
	struct json_gen j;
	uint8_t nonce[REGMSG_NONCE_LEN];
	const char *buf;
	size_t len;
	int ret;

	ret = json_gen_init(&j);
	if (ret < 0)
		return ret;
	randombytes_buf(nonce, sizeof(nonce));
	jg_map_open(&j);
	jg_kstr(&j, "op", op);
	if (!(node_id == 0 && strcmp(op, "register") == 0))
		jg_ku64(&j, "node_id", node_id);
	jg_ku64(&j, "ts", now_ms);
	jg_kb64(&j, "nonce", nonce, sizeof(nonce));
	if (add)
		add(&j, arg);
	jg_map_close(&j);
	ret = json_gen_finish(&j, &buf, &len);
	if (ret < 0)
		goto out;
	*out = malloc(len + 1);
	if (!*out) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(*out, buf, len);
	(*out)[len] = '\0';
	if (outlen)
		*outlen = len;
out:
	json_gen_free(&j);
	return ret;
}
