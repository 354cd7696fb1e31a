/* jwk.c - see jwt.h: key sets (RFC 7517 JWKS, SPIFFE bundles) parsed into
 * OpenSSL public keys, and the signature checks of the three algorithms
 * accepted (RS256, ES256, EdDSA/Ed25519).  Keys are built with
 * EVP_PKEY_fromdata from their JWK members; nothing here trusts a key's
 * claim about itself beyond what its type and members say.
 */
#include "config.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "jwt.h"
#include "jwt_int.h"

#define B64_MAX 1024 /* decoded bytes of one key member (RSA n of 8192 bits) */

int jwt_b64url_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *outlen)
{
	/* Strict: the URL-safe alphabet only, no padding, no whitespace, and
	 * no stray low bits in the last character (libsodium refuses those),
	 * so every value has exactly one encoding. */
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return -EINVAL;
	}
	if (len % 4 == 1)
		return -EINVAL;
	if (sodium_base642bin(out, max, s, len, NULL, outlen, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -EINVAL;
	return 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Member \p name of \p k as base64url bytes. \retval 0, -ENOENT, -EINVAL. */
static int member_b64(yajl_val k, const char *name, uint8_t *out, size_t max, size_t *len)
{
	const char *s;

	if (!json_get(k, name))
		return -ENOENT;
	if (json_get_str(k, name, &s) < 0 || !*s)
		return -EINVAL;
	return jwt_b64url_decode(s, strlen(s), out, max, len);
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
	EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	EVP_PKEY *pkey = NULL;

	if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
			pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static int rsa_key(yajl_val k, EVP_PKEY **out, char *err, size_t errlen)
{
	uint8_t n[B64_MAX], e[16];
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int ret = -EINVAL;

	if (member_b64(k, "n", n, sizeof(n), &nlen) < 0 ||
	    member_b64(k, "e", e, sizeof(e), &elen) < 0)
		return seterr(err, errlen, "RSA key without valid n and e"), -EINVAL;
	/* A modulus is written without leading zero bytes (RFC 7518 6.3.1.1). */
	if (n[0] == 0 || e[0] == 0 || nlen * 8 < JWT_RSA_MIN_BITS) {
		seterr(err, errlen, "RSA key of %zu bits (at least %d are needed) or not minimal",
		       nlen * 8, JWT_RSA_MIN_BITS);
		return -EINVAL;
	}
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn && be && (!BN_is_odd(be) || BN_is_one(be) || BN_num_bits(bn) < JWT_RSA_MIN_BITS)) {
		seterr(err, errlen, "RSA key with a bad exponent or modulus");
		goto out;
	}
	bld = bn && be ? OSSL_PARAM_BLD_new() : NULL;
	if (bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1)
		*out = from_params("RSA", bld);
	if (*out)
		ret = 0;
	else
		seterr(err, errlen, "RSA key not accepted by OpenSSL");
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return ret;
}

static int ec_key(yajl_val k, EVP_PKEY **out, char *err, size_t errlen)
{
	uint8_t x[64], y[64], pub[65];
	size_t xlen, ylen;
	const char *crv;
	OSSL_PARAM_BLD *bld;
	EVP_PKEY_CTX *chk;
	int ok = 0;

	if (json_get_str(k, "crv", &crv) < 0 || strcmp(crv, "P-256") != 0)
		return seterr(err, errlen, "EC key not on P-256"), -EINVAL;
	if (member_b64(k, "x", x, sizeof(x), &xlen) < 0 ||
	    member_b64(k, "y", y, sizeof(y), &ylen) < 0 || xlen != 32 || ylen != 32)
		return seterr(err, errlen, "EC key without 32-byte x and y"), -EINVAL;
	pub[0] = 0x04; /* uncompressed point */
	memcpy(pub + 1, x, 32);
	memcpy(pub + 33, y, 32);
	bld = OSSL_PARAM_BLD_new();
	if (bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ==
		1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) == 1)
		*out = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (!*out)
		return seterr(err, errlen, "EC key not accepted by OpenSSL"), -EINVAL;
	/* fromdata does not promise the point is on the curve: an invalid
	 * point is the classic invalid-curve attack's way in. */
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
	ok = chk && EVP_PKEY_public_check(chk) == 1;
	EVP_PKEY_CTX_free(chk);
	if (!ok) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return seterr(err, errlen, "EC key is not a point on P-256"), -EINVAL;
	}
	return 0;
}

static int okp_key(yajl_val k, EVP_PKEY **out, char *err, size_t errlen)
{
	uint8_t x[64];
	size_t xlen;
	const char *crv;

	if (json_get_str(k, "crv", &crv) < 0 || strcmp(crv, "Ed25519") != 0)
		return seterr(err, errlen, "OKP key not Ed25519"), -EINVAL;
	if (member_b64(k, "x", x, sizeof(x), &xlen) < 0 || xlen != 32)
		return seterr(err, errlen, "Ed25519 key without a 32-byte x"), -EINVAL;
	*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	if (!*out)
		return seterr(err, errlen, "Ed25519 key not accepted by OpenSSL"), -EINVAL;
	return 0;
}

/* The algorithm a key's type stands for, or 0 (a type or curve not used
 * here: skipped).  A key's own "alg" must agree, or the key is skipped:
 * RS384 on an RSA key is another algorithm, not a hint. */
static enum jwt_alg key_alg(yajl_val k, const char *kty)
{
	const char *crv = NULL, *alg = NULL;
	enum jwt_alg a;

	json_get_str(k, "crv", &crv);
	if (strcmp(kty, "RSA") == 0)
		a = JWT_ALG_RS256;
	else if (strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0)
		a = JWT_ALG_ES256;
	else if (strcmp(kty, "OKP") == 0 && crv && strcmp(crv, "Ed25519") == 0)
		a = JWT_ALG_EDDSA;
	else
		return 0;
	if (json_get(k, "alg")) {
		if (json_get_str(k, "alg", &alg) < 0)
			return 0;
		if (jwt_alg_from_name(alg) != a)
			return 0;
	}
	return a;
}

/* Does the key count for \p profile?  \retval 1, 0 (skip) or -EINVAL. */
static int key_in_profile(yajl_val k, enum jwks_profile profile)
{
	const char *use;

	if (!json_get(k, "use"))
		return profile == JWKS_OIDC; /* a SPIFFE bundle always says */
	if (json_get_str(k, "use", &use) < 0)
		return -EINVAL;
	return strcmp(use, profile == JWKS_SPIFFE ? "jwt-svid" : "sig") == 0;
}

static int add_key(struct jwks *s, yajl_val k, enum jwks_profile profile, char *err, size_t errlen)
{
	static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
	struct jwk *j;
	const char *kty, *kid = NULL;
	EVP_PKEY *pkey = NULL;
	enum jwt_alg alg;
	int in, rc;

	if (!YAJL_IS_OBJECT(k) || json_get_str(k, "kty", &kty) < 0)
		return seterr(err, errlen, "a key without kty"), -EINVAL;
	for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
		if (json_get(k, private_members[i]))
			return seterr(err, errlen,
				      "the key set holds private or secret key "
				      "material ('%s'): refused",
				      private_members[i]),
			       -EINVAL;
	if ((in = key_in_profile(k, profile)) < 0)
		return seterr(err, errlen, "a key's 'use' is not a string"), -EINVAL;
	if (json_get(k, "kid") && (json_get_str(k, "kid", &kid) < 0 || strlen(kid) > JWT_KID_MAX))
		return seterr(err, errlen, "a key's kid is not a string of at most %d bytes",
			      JWT_KID_MAX),
		       -EINVAL;
	alg = key_alg(k, kty);
	if (!in || !alg) {
		s->skipped++;
		return 0;
	}
	if (profile == JWKS_SPIFFE && !kid)
		return seterr(err, errlen, "a jwt-svid key without kid"), -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		if (s->keys[i].has_kid == !!kid && (!kid || strcmp(s->keys[i].kid, kid) == 0))
			return seterr(err, errlen, "kid '%s' appears twice", kid ? kid : ""),
			       -EINVAL;
	if (s->n == JWKS_KEYS_MAX) {
		s->skipped++;
		return 0;
	}
	rc = alg == JWT_ALG_RS256   ? rsa_key(k, &pkey, err, errlen)
	     : alg == JWT_ALG_ES256 ? ec_key(k, &pkey, err, errlen)
				    : okp_key(k, &pkey, err, errlen);
	if (rc < 0)
		return rc;
	j = &s->keys[s->n++];
	memset(j, 0, sizeof(*j));
	j->alg = alg;
	j->pkey = pkey;
	if (kid) {
		j->has_kid = 1;
		snprintf(j->kid, sizeof(j->kid), "%s", kid);
	}
	return 0;
}

int jwks_parse(const char *json, size_t len, enum jwks_profile profile, struct jwks *out, char *err,
	       size_t errlen)
{
	char perr[128];
	yajl_val root, keys;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len > JWKS_MAX)
		return seterr(err, errlen, "key set of %zu bytes (at most %d)", len, JWKS_MAX),
		       -EINVAL;
	if (json_has_nul_escape(json, len))
		return seterr(err, errlen, "key set holds a \\u0000 escape"), -EINVAL;
	root = json_parse(json, len, 0, perr, sizeof(perr));
	if (!root)
		return seterr(err, errlen, "key set is not JSON: %s", perr), -EINVAL;
	keys = json_get(root, "keys");
	if (!YAJL_IS_OBJECT(root) || !YAJL_IS_ARRAY(keys)) {
		seterr(err, errlen, "not a key set (an object with array 'keys')");
		rc = -EINVAL;
	} else if (json_has_dup_keys(root)) {
		seterr(err, errlen, "key set repeats a JSON member");
		rc = -EINVAL;
	}
	for (size_t i = 0; !rc && i < keys->u.array.len; i++)
		rc = add_key(out, keys->u.array.values[i], profile, err, errlen);
	yajl_tree_free(root);
	if (rc < 0)
		jwks_free(out);
	return rc;
}

void jwks_free(struct jwks *s)
{
	for (size_t i = 0; i < s->n; i++)
		EVP_PKEY_free(s->keys[i].pkey);
	memset(s, 0, sizeof(*s));
}

/* One DER INTEGER of the big-endian unsigned \p v (32 bytes). */
static size_t der_int(uint8_t *out, const uint8_t *v, size_t len)
{
	size_t o = 0;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	out[o++] = 0x02;
	out[o++] = (uint8_t)(len + (v[0] & 0x80 ? 1 : 0));
	if (v[0] & 0x80)
		out[o++] = 0;
	memcpy(out + o, v, len);
	return o + len;
}

/* JWS writes an ES256 signature as r || s (32 bytes each); OpenSSL wants
 * ECDSA-Sig-Value in DER.  Zero r or s is refused here: some verifiers
 * accepted (0, 0) for any message ("psychic signatures"). */
static int es256_der(const uint8_t sig[64], uint8_t der[72], size_t *len)
{
	static const uint8_t zero[32];
	uint8_t body[70];
	size_t n;

	if (sodium_memcmp(sig, zero, 32) == 0 || sodium_memcmp(sig + 32, zero, 32) == 0)
		return -EINVAL;
	n = der_int(body, sig, 32);
	n += der_int(body + n, sig + 32, 32);
	der[0] = 0x30;
	der[1] = (uint8_t)n;
	memcpy(der + 2, body, n);
	*len = n + 2;
	return 0;
}

int jwt_sig_verify(const struct jwk *k, const uint8_t *msg, size_t msglen, const uint8_t *sig,
		   size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[72];
	size_t derlen;
	int ok = 0;

	if (!md)
		return -ENOMEM;
	switch (k->alg) {
	case JWT_ALG_RS256:
		/* PKCS #1 v1.5 with SHA-256; the signature is exactly the
		 * modulus' length (RFC 7518 3.3). */
		if (siglen == (size_t)EVP_PKEY_get_size(k->pkey) &&
		    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1)
			ok = EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
		break;
	case JWT_ALG_ES256:
		if (siglen == 64 && es256_der(sig, der, &derlen) == 0 &&
		    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1)
			ok = EVP_DigestVerify(md, der, derlen, msg, msglen) == 1;
		break;
	case JWT_ALG_EDDSA:
		if (siglen == 64 && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1)
			ok = EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
		break;
	}
	EVP_MD_CTX_free(md);
	return ok ? 0 : -EBADMSG;
}

enum jwt_alg jwt_alg_from_name(const char *s)
{
	if (strcmp(s, "RS256") == 0)
		return JWT_ALG_RS256;
	if (strcmp(s, "ES256") == 0)
		return JWT_ALG_ES256;
	if (strcmp(s, "EdDSA") == 0)
		return JWT_ALG_EDDSA;
	return 0;
}
