/* jwt_mint.h - tokens and key sets made in a test (test_jwt.c,
 * test_rdv_reg.c): keys by OpenSSL 3 (RSA, EC P-256, Ed25519) written as
 * JWKs, and JWS compact tokens signed with them (ES256 as raw r || s),
 * base64url by libsodium.  Header-only: static inline helpers, so that a
 * test uses what it needs.  Text returned is kept until arena_free().
 * Include after <cmocka.h>: failures are cmocka assertions. */
#ifndef PILOT_TEST_JWT_MINT_H
#define PILOT_TEST_JWT_MINT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "jwt.h"

#define TXT_MAX 32768 /* one helper string: tokens made too long, 40-key sets */

struct tkey {
	EVP_PKEY *pkey;
	enum jwt_alg alg; /* what the key signs with */
};

/* The helpers return text they allocate and keep until the test ends
 * (arena_free, each test's teardown), so that calls nest freely. */
static char **arena;
static size_t arena_n, arena_cap;

static inline const char *keep(char *s)
{
	assert_non_null(s);
	if (arena_n == arena_cap) {
		arena_cap = arena_cap ? 2 * arena_cap : 256;
		arena = realloc(arena, arena_cap * sizeof(*arena));
		assert_non_null(arena);
	}
	arena[arena_n++] = s;
	return s;
}

static inline int arena_free(void **state)
{
	(void)state;
	for (size_t i = 0; i < arena_n; i++)
		free(arena[i]);
	arena_n = 0;
	return 0;
}

/* Append to \p buf, a TXT_MAX buffer. */
static inline void cat(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void cat(char *buf, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;
	int m;

	va_start(ap, fmt);
	m = vsnprintf(buf + n, TXT_MAX - n, fmt, ap);
	va_end(ap);
	assert_true(m >= 0 && (size_t)m < TXT_MAX - n);
}

static inline const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static inline const char *fmt(const char *f, ...)
{
	char *b = NULL;
	va_list ap;

	va_start(ap, f);
	assert_true(vasprintf(&b, f, ap) >= 0);
	va_end(ap);
	return keep(b);
}

static inline const char *b64(const void *in, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *b = malloc(len);

	assert_non_null(b);
	sodium_bin2base64(b, len, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return keep(b);
}

static inline const char *b64s(const char *s)
{
	return b64(s, strlen(s));
}

static inline void keygen(struct tkey *k, enum jwt_alg alg, size_t rsa_bits)
{
	k->alg = alg;
	if (alg == JWT_ALG_RS256)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", rsa_bits);
	else if (alg == JWT_ALG_ES256)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k->pkey);
}

/* A big-endian parameter of \p k, left-padded to \p pad bytes (0: minimal). */
static inline size_t bn_param(const struct tkey *k, const char *name, uint8_t *out, size_t pad)
{
	BIGNUM *bn = NULL;
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(k->pkey, name, &bn), 1);
	n = pad ? BN_bn2binpad(bn, out, (int)pad) : BN_bn2bin(bn, out);
	BN_free(bn);
	assert_true(n > 0);
	return (size_t)n;
}

/* \p k's public JWK: kid when not NULL, then \p extra (",member..." or ""). */
static inline const char *jwk(const struct tkey *k, const char *kid, const char *extra)
{
	char b[TXT_MAX] = "";
	uint8_t x[512], y[512];
	size_t n;

	if (k->alg == JWT_ALG_RS256) {
		n = bn_param(k, OSSL_PKEY_PARAM_RSA_N, x, 0);
		cat(b, "{\"kty\":\"RSA\",\"n\":\"%s\"", b64(x, n));
		n = bn_param(k, OSSL_PKEY_PARAM_RSA_E, y, 0);
		cat(b, ",\"e\":\"%s\"", b64(y, n));
	} else if (k->alg == JWT_ALG_ES256) {
		bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, x, 32);
		bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, y, 32);
		cat(b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"", b64(x, 32),
		    b64(y, 32));
	} else {
		n = 32;
		assert_int_equal(EVP_PKEY_get_raw_public_key(k->pkey, x, &n), 1);
		cat(b, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"", b64(x, n));
	}
	if (kid)
		cat(b, ",\"kid\":\"%s\"", kid);
	cat(b, "%s}", extra);
	return fmt("%s", b);
}

/* A key set: top-level members \p head (each followed by ',', or ""), then
 * the JWKs given (NULL-terminated) as its keys. */
static inline const char *doc(const char *head, ...)
{
	char b[TXT_MAX] = "";
	const char *k;
	va_list ap;

	cat(b, "{%s\"keys\":[", head);
	va_start(ap, head);
	for (int i = 0; (k = va_arg(ap, const char *)); i++)
		cat(b, "%s%s", i ? "," : "", k);
	va_end(ap);
	cat(b, "]}");
	return fmt("%s", b);
}

/* The raw JWS signature of \p in by \p k (ES256 as r || s). */
static inline size_t sign_raw(const struct tkey *k, const char *in, uint8_t sig[1024])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 1024;

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, k->alg == JWT_ALG_EDDSA ? NULL : EVP_sha256(),
					    NULL, k->pkey),
			 1);
	assert_int_equal(EVP_DigestSign(md, sig, &n, (const uint8_t *)in, strlen(in)), 1);
	EVP_MD_CTX_free(md);
	if (k->alg == JWT_ALG_ES256) {
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		const BIGNUM *r, *s;
		uint8_t rs[64];

		assert_non_null(es);
		ECDSA_SIG_get0(es, &r, &s);
		assert_int_equal(BN_bn2binpad(r, rs, 32), 32);
		assert_int_equal(BN_bn2binpad(s, rs + 32, 32), 32);
		ECDSA_SIG_free(es);
		memcpy(sig, rs, 64);
		n = 64;
	}
	return n;
}

/* "H.P.S": encoded parts \p h and \p p signed by \p k. */
static inline const char *tokp(const struct tkey *k, const char *h, const char *p)
{
	const char *in = fmt("%s.%s", h, p);
	uint8_t sig[1024];
	size_t n = sign_raw(k, in, sig);

	return fmt("%s.%s", in, b64(sig, n));
}

/* A token of header and payload JSON signed by \p k. */
static inline const char *tokh(const struct tkey *k, const char *hdr, const char *pay)
{
	return tokp(k, b64s(hdr), b64s(pay));
}

/* A token with header {"alg":alg,"kid":kid,"typ":"JWT"} (kid NULL: none). */
static inline const char *tok(const struct tkey *k, const char *alg, const char *kid,
			      const char *pay)
{
	return tokh(k,
		    kid ? fmt("{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid)
			: fmt("{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg),
		    pay);
}

/* A token's signing input (its first two parts). */
static inline const char *input_of(const char *t)
{
	return fmt("%.*s", (int)(strrchr(t, '.') - t), t);
}

/* \p input with signature bytes \p sig appended. */
static inline const char *with_sig(const char *input, const uint8_t *sig, size_t n)
{
	return fmt("%s.%s", input, b64(sig, n));
}

#endif
