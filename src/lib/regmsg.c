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

/* Parse \p body as a JSON object whose members are all in \p allowed and
 * none given twice: the shape every registry request body must have. */
static int parse_object(const char *body, size_t len, const char *const *allowed, yajl_val *root,
			char *err, size_t errlen)
{
	const char *bad = NULL;
	char jerr[128];

	*root = json_parse(body, len, 0, jerr, sizeof(jerr));
	if (!*root) {
		snprintf(err, errlen, "body is not JSON: %s", jerr);
		return -EINVAL;
	}
	if (!YAJL_IS_OBJECT(*root)) {
		snprintf(err, errlen, "body is not a JSON object");
		goto fail;
	}
	if (json_only_keys(*root, allowed, &bad) < 0) {
		snprintf(err, errlen, "unknown member '%.64s'", bad ? bad : "?");
		goto fail;
	}
	if (no_duplicates(*root, &bad) < 0) {
		snprintf(err, errlen, "member '%.64s' given twice", bad);
		goto fail;
	}
	return 0;
fail:
	yajl_tree_free(*root);
	*root = NULL;
	return -EINVAL;
}

int regmsg_parse(const char *op, const char *body, size_t len, const char *const *op_keys,
		 struct regmsg_req *out, char *err, size_t errlen)
{
	const char *allowed[REGMSG_COMMON_KEYS + REGMSG_MAX_OP_KEYS + 1] = {"op", "node_id", "ts",
									    "nonce"};
	const char *s;
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

	if (parse_object(body, len, allowed, &out->root, err, errlen) < 0)
		goto out;
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

int regmsg_parse_admin(const char *body, size_t len, const char *const *keys, yajl_val *root,
		       char *err, size_t errlen)
{
	return regmsg_parse_admin_max(body, len, REGMSG_MAX_BODY, keys, root, err, errlen);
}

int regmsg_parse_admin_max(const char *body, size_t len, size_t max, const char *const *keys,
			   yajl_val *root, char *err, size_t errlen)
{
	static const char *const none[] = {NULL};

	*root = NULL;
	if (!err)
		errlen = 0;
	else if (errlen)
		err[0] = '\0';
	if (len > max) {
		snprintf(err, errlen, "body of %zu bytes is larger than %zu", len, max);
		return -E2BIG;
	}
	/* `curl -X POST` with no body is the natural way to ask for a list. */
	if (len == 0) {
		body = "{}";
		len = 2;
	}
	return parse_object(body, len, keys ? keys : none, root, err, errlen);
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

/* ---------------------------------------------------------------- invites */

#define INVITE_PREFIX "pilot-invite-v1"
#define INVITE_B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* The signed bytes: a domain line, so that an invite signature is never
 * valid as a registry request or anything else, then the payload. */
static int invite_signed_bytes(const uint8_t *payload, size_t plen, uint8_t *m, size_t mlen)
{
	size_t dl = strlen(INVITE_PREFIX) + 1;

	if (plen > RDV_INVITE_PAYLOAD_MAX || mlen < dl + plen)
		return -EINVAL;
	memcpy(m, INVITE_PREFIX "\n", dl);
	memcpy(m + dl, payload, plen);
	return (int)(dl + plen);
}

int rdv_invite_make(const uint8_t ed_sk[64], uint16_t net, uint32_t inviter, uint64_t expiry_unix,
		    char *out, size_t outlen)
{
	uint8_t r[16], sig[crypto_sign_BYTES], m[sizeof(INVITE_PREFIX) + RDV_INVITE_PAYLOAD_MAX];
	struct json_gen j;
	const char *payload;
	size_t plen, o, need;
	int ret, mlen;

	/* JSON integers beyond INT64_MAX do not parse back (yajl reads them
	 * as signed): such an invite could never be accepted. */
	if (net == 0 || expiry_unix == 0 || expiry_unix > INT64_MAX)
		return -EINVAL;
	ret = json_gen_init(&j);
	if (ret < 0)
		return ret;
	randombytes_buf(r, sizeof(r));
	jg_map_open(&j);
	jg_ku64(&j, "n", net);
	jg_ku64(&j, "i", inviter);
	jg_ku64(&j, "e", expiry_unix);
	jg_kb64(&j, "r", r, sizeof(r));
	jg_map_close(&j);
	ret = json_gen_finish(&j, &payload, &plen);
	if (ret < 0) {
		ret = -ENOMEM;
		goto out;
	}
	mlen = invite_signed_bytes((const uint8_t *)payload, plen, m, sizeof(m));
	if (mlen < 0) {
		ret = mlen;
		goto out;
	}
	if (crypto_sign_detached(sig, NULL, m, (size_t)mlen, ed_sk) != 0) {
		ret = -EINVAL;
		goto out;
	}
	o = strlen(INVITE_PREFIX);
	need = o + 1 + sodium_base64_ENCODED_LEN(plen, INVITE_B64URL) + 1 +
	       sodium_base64_ENCODED_LEN(sizeof(sig), INVITE_B64URL);
	if (outlen < need) {
		ret = -ENOSPC;
		goto out;
	}
	memcpy(out, INVITE_PREFIX ".", o + 1);
	o++;
	sodium_bin2base64(out + o, outlen - o, (const uint8_t *)payload, plen, INVITE_B64URL);
	o += strlen(out + o);
	out[o++] = '.';
	sodium_bin2base64(out + o, outlen - o, sig, sizeof(sig), INVITE_B64URL);
	ret = 0;
out:
	json_gen_free(&j);
	return ret;
}

/* Decode exactly [s, s + len) as unpadded base64url into at most \p max
 * bytes.  \retval decoded length or -EINVAL. */
static int b64url_decode(const char *s, size_t len, uint8_t *out, size_t max)
{
	size_t n = 0;

	/* Without an end pointer libsodium insists on consuming all of it,
	 * and it refuses non-zero trailing bits: one encoding per payload. */
	if (len == 0 || sodium_base642bin(out, max, s, len, NULL, &n, NULL, INVITE_B64URL) != 0)
		return -EINVAL;
	return (int)n;
}

int rdv_invite_parse(const char *s, size_t len, struct rdv_invite *out)
{
	static const char *const keys[] = {"n", "i", "e", "r", NULL};
	const size_t pl = strlen(INVITE_PREFIX);
	const char *p, *dot;
	yajl_val root = NULL;
	char err[64];
	uint32_t v32;
	int n, ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len >= RDV_INVITE_MAX || len < pl + 3 || memchr(s, '\0', len) ||
	    memcmp(s, INVITE_PREFIX ".", pl + 1) != 0)
		goto out;
	p = s + pl + 1;
	dot = memchr(p, '.', len - (size_t)(p - s));
	if (!dot)
		goto out;
	n = b64url_decode(p, (size_t)(dot - p), out->payload, sizeof(out->payload));
	if (n < 0)
		goto out;
	out->payload_len = (size_t)n;
	p = dot + 1;
	/* A third part would be a second dot: not in the base64url alphabet,
	 * so the decoder refuses it below. */
	if (b64url_decode(p, len - (size_t)(p - s), out->sig, sizeof(out->sig)) !=
	    (int)sizeof(out->sig))
		goto out;
	if (parse_object((const char *)out->payload, out->payload_len, keys, &root, err,
			 sizeof(err)) < 0)
		goto out;
	if (json_get_u32(root, "n", &v32) < 0 || v32 == 0 || v32 > UINT16_MAX)
		goto out;
	out->net = (uint16_t)v32;
	if (json_get_u32(root, "i", &out->inviter) < 0)
		goto out;
	if (json_get_u64(root, "e", &out->expiry) < 0 || out->expiry == 0)
		goto out;
	if (json_get_b64(root, "r", out->r, sizeof(out->r)) < 0)
		goto out;
	ret = 0;
out:
	if (root)
		yajl_tree_free(root);
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}

int rdv_invite_verify(const struct rdv_invite *inv, const uint8_t ed_pk[32])
{
	uint8_t m[sizeof(INVITE_PREFIX) + RDV_INVITE_PAYLOAD_MAX];
	int mlen = invite_signed_bytes(inv->payload, inv->payload_len, m, sizeof(m));

	if (mlen < 0 || crypto_sign_verify_detached(inv->sig, m, (size_t)mlen, ed_pk) != 0)
		return -EBADMSG;
	return 0;
}

const char *const regmsg_network_create_keys[] = {"name",
						  "join_rule",
						  "token",
						  "network_id",
						  "org_id",
						  "ca_cert",
						  "oidc_issuer",
						  "oidc_audience",
						  "oidc_claim",
						  "oidc_ca",
						  "spiffe_trust_domain",
						  "spiffe_id",
						  "spiffe_audience",
						  "spiffe_bundle",
						  "spiffe_bundle_endpoint",
						  "spiffe_bundle_ca",
						  "shared_subject",
						  NULL};
