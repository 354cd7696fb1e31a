/* join.c - see join.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "httpc.h"
#include "join.h"
#include "json.h"

#define B64V sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* The payload a JOIN_MAX_LEN string can carry, and room for its checksum. */
#define JOIN_RAW_MAX (JOIN_MAX_LEN * 3 / 4)

static const char *const join_keys[] = {"r", "p", "n", "t", NULL};

void join_info_wipe(struct join_info *ji)
{
	sodium_memzero(ji, sizeof(*ji));
}

static void join_check_sum(const uint8_t *json, size_t len, uint8_t out[JOIN_CHECK_LEN])
{
	uint8_t h[JOIN_HASH_LEN];

	crypto_generichash(h, sizeof(h), json, len, NULL, 0);
	memcpy(out, h, JOIN_CHECK_LEN);
}

/* A host nodes can dial: an address literal or a DNS name's characters
 * (conf_split_hostport took brackets off and checked an IPv6 literal). */
static int host_ok(const char *registry, const char *host)
{
	struct in_addr a4;

	if (registry[0] == '[' || inet_pton(AF_INET, host, &a4) == 1)
		return 1;
	if (host[0] == '-' || host[0] == '.')
		return 0;
	for (const char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' || *c == '_'))
			return 0;
	return 1;
}

/* Printable, no control characters: a token ends up in a config file and
 * on command lines. */
static int token_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > JOIN_TOKEN_MAX)
		return 0;
	for (const unsigned char *c = (const unsigned char *)t; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return 0;
	return 1;
}

int join_check_registry(const char *registry, char *err, size_t errlen)
{
	char host[256];
	uint16_t port = 0;

	if (!registry[0] || conf_split_hostport(registry, host, sizeof(host), &port) < 0 ||
	    port == 0 || !host_ok(registry, host)) {
		snprintf(err, errlen, "registry address '%.*s': expected HOST:PORT or [IPV6]:PORT",
			 64, registry);
		return -EINVAL;
	}
	return 0;
}

/* What both directions refuse. */
static int join_check(const struct join_info *ji, char *err, size_t errlen)
{
	char curl[128];
	int ret;

	if ((ret = join_check_registry(ji->registry, err, errlen)) < 0)
		return ret;
	if (httpc_pin_to_curl(ji->pin, curl, sizeof(curl)) < 0) {
		snprintf(err, errlen,
			 "registry pin '%.*s': expected the SHA-256 of the registry's public key, "
			 "base64 or hex",
			 64, ji->pin);
		return -EINVAL;
	}
	if (ji->token[0] && !ji->network) {
		snprintf(err, errlen, "a network token needs a network");
		return -EINVAL;
	}
	if (ji->token[0] && !token_ok(ji->token)) {
		snprintf(err, errlen, "network token: 1-%d characters, no control characters",
			 JOIN_TOKEN_MAX);
		return -EINVAL;
	}
	return 0;
}

int join_encode(const struct join_info *ji, char *out, size_t outlen, char *err, size_t errlen)
{
	uint8_t raw[JOIN_RAW_MAX];
	struct json_gen j;
	const char *json = NULL;
	size_t jlen = 0, len = 0, plen = strlen(JOIN_PREFIX) + 2;
	int ret;

	if ((ret = join_check(ji, err, errlen)) < 0)
		return ret;
	if ((ret = json_gen_init(&j)) < 0) {
		snprintf(err, errlen, "%s", strerror(-ret));
		return ret;
	}
	jg_map_open(&j);
	jg_kstr(&j, "r", ji->registry);
	jg_kstr(&j, "p", ji->pin);
	if (ji->network)
		jg_ku64(&j, "n", ji->network);
	if (ji->token[0])
		jg_kstr(&j, "t", ji->token);
	jg_map_close(&j);
	ret = json_gen_finish(&j, &json, &jlen);
	if (ret == 0 && jlen + JOIN_CHECK_LEN > sizeof(raw))
		ret = -E2BIG;
	if (ret == 0) {
		memcpy(raw, json, jlen);
		join_check_sum(raw, jlen, raw + jlen);
		len = jlen + JOIN_CHECK_LEN;
		if (plen + sodium_base64_ENCODED_LEN(len, B64V) - 1 > JOIN_MAX_LEN)
			ret = -E2BIG;
		else if (outlen < plen + sodium_base64_ENCODED_LEN(len, B64V))
			ret = -ENOSPC;
	}
	if (ret == 0) {
		snprintf(out, outlen, "%s%d:", JOIN_PREFIX, JOIN_VERSION);
		sodium_bin2base64(out + plen, outlen - plen, raw, len, B64V);
		ret = (int)strlen(out);
	} else {
		snprintf(err, errlen, "%s",
			 ret == -E2BIG ? "join string too long (the token is too long)"
				       : strerror(-ret));
	}
	sodium_memzero(raw, sizeof(raw));
	/* The generator's buffer held the token too. */
	if (json)
		sodium_memzero((void *)json, jlen);
	json_gen_free(&j);
	return ret;
}

/* "pilot-joinN:" at \p s: the offset of what follows, or an error. */
static int join_prefix(const char *s, size_t len, size_t *off, char *err, size_t errlen)
{
	size_t pl = strlen(JOIN_PREFIX), i = pl;
	unsigned long v = 0;

	if (len < pl || memcmp(s, JOIN_PREFIX, pl) != 0) {
		snprintf(err, errlen, "not a join string (it starts with %s%d:)", JOIN_PREFIX,
			 JOIN_VERSION);
		return -EINVAL;
	}
	for (; i < len && i < pl + 6 && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (i == pl || i >= len || s[i] != ':') {
		snprintf(err, errlen, "not a join string (it starts with %s%d:)", JOIN_PREFIX,
			 JOIN_VERSION);
		return -EINVAL;
	}
	if (v != JOIN_VERSION || i != pl + 1) {
		snprintf(err, errlen,
			 "unsupported join string version %.*s (this program reads version %d)",
			 (int)(i - pl), s + pl, JOIN_VERSION);
		return -EPROTONOSUPPORT;
	}
	*off = i + 1;
	return 0;
}

/* Copy string member \p key (absent: leave "") into \p out. */
static int take_str(yajl_val o, const char *key, char *out, size_t outlen, const char *what,
		    char *err, size_t errlen)
{
	const char *v = NULL;
	int ret = json_get_str(o, key, &v);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0 || strlen(v) >= outlen || !v[0]) {
		snprintf(err, errlen, "join string key '%s' (%s): expected a string of 1-%zu bytes",
			 key, what, outlen - 1);
		return -EINVAL;
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* The JSON payload, checksum already verified. */
static int join_fields(const char *json, size_t len, struct join_info *ji, char *err, size_t errlen)
{
	char msg[128];
	const char *bad = NULL;
	yajl_val o = NULL;
	uint64_t net = 0;
	int ret = -EINVAL;

	if (json_has_nul_escape(json, len) || !(o = json_parse(json, len, 0, msg, sizeof(msg))) ||
	    !YAJL_IS_OBJECT(o) || json_has_dup_keys(o)) {
		snprintf(err, errlen, "join string payload is not a JSON object of its kind");
		goto out;
	}
	if (json_only_keys(o, join_keys, &bad) < 0) {
		snprintf(err, errlen,
			 "join string has an unknown key '%.32s' (made by a newer Pilot?)", bad);
		goto out;
	}
	if (!json_get(o, "r") || !json_get(o, "p")) {
		snprintf(err, errlen, "join string lacks the registry's %s",
			 !json_get(o, "r") ? "address (\"r\")" : "pin (\"p\")");
		goto out;
	}
	if ((ret = take_str(o, "r", ji->registry, sizeof(ji->registry), "registry address", err,
			    errlen)) < 0 ||
	    (ret = take_str(o, "p", ji->pin, sizeof(ji->pin), "registry pin", err, errlen)) < 0 ||
	    (ret = take_str(o, "t", ji->token, sizeof(ji->token), "network token", err, errlen)) <
		0)
		goto out;
	ret = json_get_u64(o, "n", &net);
	if (ret == -ENOENT) {
		ret = 0;
	} else if (ret < 0 || net == 0 || net > 65535) {
		snprintf(err, errlen,
			 "join string key 'n' (network): expected a network ID 1-65535");
		ret = -EINVAL;
		goto out;
	}
	ji->network = (uint16_t)net;
	ret = join_check(ji, err, errlen);
out:
	if (o)
		yajl_tree_free(o);
	return ret;
}

int join_decode(const char *s, size_t len, struct join_info *ji, char *err, size_t errlen)
{
	static const char ws[] = " \t\r\n";
	uint8_t raw[JOIN_RAW_MAX], sum[JOIN_CHECK_LEN];
	size_t off = 0, rawlen = 0;
	const char *end = NULL;
	int ret;

	memset(ji, 0, sizeof(*ji));
	while (len > 0 && memchr(ws, s[0], sizeof(ws) - 1)) {
		s++;
		len--;
	}
	while (len > 0 && memchr(ws, s[len - 1], sizeof(ws) - 1))
		len--;
	if (len > JOIN_MAX_LEN) {
		snprintf(err, errlen, "join string too long (%zu characters, at most %d)", len,
			 JOIN_MAX_LEN);
		return -E2BIG;
	}
	if ((ret = join_prefix(s, len, &off, err, errlen)) < 0)
		return ret;
	if (sodium_base642bin(raw, sizeof(raw), s + off, len - off, NULL, &rawlen, &end, B64V) !=
		0 ||
	    end != s + len) {
		snprintf(err, errlen,
			 "join string: not valid base64url after '%s%d:' (copied wrongly?)",
			 JOIN_PREFIX, JOIN_VERSION);
		ret = -EINVAL;
		goto out;
	}
	if (rawlen <= JOIN_CHECK_LEN + 1) {
		snprintf(err, errlen, "join string too short (copied wrongly?)");
		ret = -EINVAL;
		goto out;
	}
	rawlen -= JOIN_CHECK_LEN;
	join_check_sum(raw, rawlen, sum);
	if (sodium_memcmp(sum, raw + rawlen, JOIN_CHECK_LEN) != 0) {
		snprintf(err, errlen, "join string checksum mismatch: copied wrongly?");
		ret = -EBADMSG;
		goto out;
	}
	ret = join_fields((const char *)raw, rawlen, ji, err, errlen);
out:
	sodium_memzero(raw, sizeof(raw));
	if (ret < 0)
		join_info_wipe(ji);
	return ret;
}
