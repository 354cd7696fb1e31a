/* fuzz_jwt.c - JWS compact tokens (src/lib/jwt.c, jwk.c) against a fixed
 * key set (fuzz_jwt_keys.h: RSA, EC P-256 and Ed25519), verified by the
 * OIDC and the JWT-SVID rules, and jwt_peek_kid.  The input is read twice:
 *   - as a token, as it would arrive;
 *   - when it starts with '{', as "header JSON\npayload JSON", encoded and
 *     signed here with the Ed25519 key: a change to a signed token breaks
 *     its signature, so only this way do the fuzzer's own claims reach
 *     the checks behind it.
 * Oracles:
 *   - every answer is a known code with a message, and claims are kept
 *     only on success;
 *   - a leeway beyond JWT_LEEWAY_MAX answers as JWT_LEEWAY_MAX does;
 *   - an accepted token holds what the rules ask (issuer or trust domain,
 *     audience, dates, the key's algorithm), its SPIFFE ID matches itself
 *     as a pattern, and with one signature character changed it is
 *     refused for its signature;
 *   - once the header was read (a kid known), jwt_peek_kid agrees;
 *   - a token really signed by the key its kid names is never refused for
 *     its signature.
 * A violation aborts, so libFuzzer reports it like a crash. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "json.h"
#include "jwt.h"
#include "fuzz_jwt_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FZ_LEEWAY 30

static struct jwks fz_oidc, fz_svid;
static uint8_t fz_ed_sk[64];

static void fz_setup(void)
{
	static const char *const toks[] = {FZ_TOK_RS256, FZ_TOK_ES256, FZ_TOK_EDDSA};
	static int done;
	uint8_t seed[32], pk[32];
	struct jwt t;

	if (done)
		return;
	done = 1;
	if (sodium_init() < 0)
		abort();
	memset(seed, FZ_ED_SEED_FILL, sizeof(seed));
	if (crypto_sign_seed_keypair(pk, fz_ed_sk, seed) != 0)
		abort();
	if (jwks_parse(FZ_JWKS, strlen(FZ_JWKS), JWKS_OIDC, &fz_oidc, NULL, 0) != 0 ||
	    fz_oidc.n != 3 || fz_oidc.skipped != 3 ||
	    jwks_parse(FZ_JWKS, strlen(FZ_JWKS), JWKS_SPIFFE, &fz_svid, NULL, 0) != 0 ||
	    fz_svid.n != 3 || fz_svid.skipped != 3)
		abort();
	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
		struct jwt_expect x = {
		    .issuer = FZ_ISS, .audience = FZ_AUD, .now_s = FZ_NOW, .leeway_s = FZ_LEEWAY};

		if (jwt_verify(toks[i], strlen(toks[i]), &fz_oidc, &x, &t, NULL, 0) != JWT_OK)
			abort();
		jwt_free(&t);
		x.spiffe = 1;
		x.issuer = NULL;
		x.trust_domain = FZ_TD;
		if (jwt_verify(toks[i], strlen(toks[i]), &fz_svid, &x, &t, NULL, 0) != JWT_OK)
			abort();
		jwt_free(&t);
	}
}

static const struct jwk *fz_key(const struct jwks *s, const char *kid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->keys[i].has_kid && strcmp(s->keys[i].kid, kid) == 0)
			return &s->keys[i];
	return NULL;
}

/* What an accepted token must hold. */
static void fz_accepted(const char *tok, size_t len, const struct jwks *s,
			const struct jwt_expect *x, const struct jwt *t)
{
	const struct jwk *k = fz_key(s, t->kid);
	char td[256], *bad;
	struct jwt u;

	/* A set of three keys: only a kid can pick one. */
	if (!k || k->alg != t->alg || !t->claims || !YAJL_IS_OBJECT(t->claims))
		abort();
	if (!t->sub[0] || strlen(t->sub) > JWT_STR_MAX || t->exp + FZ_LEEWAY <= x->now_s ||
	    t->nbf > x->now_s + FZ_LEEWAY || !jwt_claim_has(t, "aud", x->audience))
		abort();
	if (x->issuer && strcmp(t->iss, x->issuer) != 0)
		abort();
	if (x->spiffe && (!spiffe_id_valid(t->sub, td, sizeof(td)) || strcmp(td, FZ_TD) != 0))
		abort();
	/* An ID is a pattern that matches itself; a trailing "*" matches it
	 * when it has a path. */
	if (x->spiffe && (spiffe_id_match(t->sub, t->sub) != 1 ||
			  spiffe_id_match("spiffe://" FZ_TD "/*", t->sub) !=
			      (strlen(t->sub) > strlen("spiffe://" FZ_TD))))
		abort();
	/* true and false are told apart, and a claim is never both. */
	if ((jwt_claim_has(t, "email_verified", "true") &&
	     jwt_claim_has(t, "email_verified", "false")) ||
	    (jwt_claim_has(t, "groups", "ops") && !YAJL_IS_STRING(json_get(t->claims, "groups")) &&
	     !YAJL_IS_ARRAY(json_get(t->claims, "groups"))))
		abort();
	/* One signature character changed: its first carries six bits of
	 * the signature and no padding bits, so the bytes differ. */
	bad = malloc(len);
	if (!bad)
		abort();
	memcpy(bad, tok, len);
	{
		char *c = memchr(bad, '.', len) + 1;

		c = memchr(c, '.', len - (size_t)(c - bad)) + 1;
		*c = *c == 'A' ? 'B' : 'A';
	}
	if (jwt_verify(bad, len, s, x, &u, NULL, 0) != JWT_E_SIGNATURE)
		abort();
	free(bad);
}

/* \p tok under the rules \p x, against \p s.  \retval its answer. */
static enum jwt_err fz_verify(const char *tok, size_t len, const struct jwks *s,
			      struct jwt_expect *x)
{
	char msg[160], kid[JWT_KID_MAX + 1];
	enum jwt_err e, e2;
	struct jwt t;
	int rc;

	x->leeway_s = FZ_LEEWAY;
	e = jwt_verify(tok, len, s, x, &t, msg, sizeof(msg));
	if ((unsigned)e > JWT_E_NOMEM || !jwt_err_code(e) || (e != JWT_OK && !msg[0]) ||
	    (e == JWT_OK) != (t.claims != NULL) || (len > JWT_MAX && e != JWT_E_SIZE))
		abort();
	if (e == JWT_OK)
		fz_accepted(tok, len, s, x, &t);
	/* Where the header was read to its kid, peek reads the same. */
	rc = jwt_peek_kid(tok, len, kid);
	if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
		abort();
	if (e == JWT_OK || e == JWT_E_UNKNOWN_KID || e == JWT_E_SIGNATURE || e >= JWT_E_CLAIMS) {
		if (e != JWT_E_NOMEM && !(rc == 0 && strcmp(kid, t.kid) == 0) &&
		    !(rc == -ENOENT && !t.kid[0]))
			abort();
	}
	jwt_free(&t);
	/* The leeway is clamped: beyond the limit, the limit. */
	x->leeway_s = UINT_MAX;
	e2 = jwt_verify(tok, len, s, x, &t, NULL, 0);
	jwt_free(&t);
	x->leeway_s = JWT_LEEWAY_MAX;
	if (e2 != jwt_verify(tok, len, s, x, &t, NULL, 0))
		abort();
	jwt_free(&t);
	return e;
}

static void fz_token(const char *tok, size_t len, int signed_here)
{
	struct jwt_expect oidc = {.issuer = FZ_ISS, .audience = FZ_AUD, .now_s = FZ_NOW};
	struct jwt_expect svid = {
	    .audience = FZ_AUD, .trust_domain = FZ_TD, .spiffe = 1, .now_s = FZ_NOW};
	char kid[JWT_KID_MAX + 1];
	int ours = signed_here && jwt_peek_kid(tok, len, kid) == 0 && strcmp(kid, "fz-ed") == 0;

	if (fz_verify(tok, len, &fz_oidc, &oidc) == JWT_E_SIGNATURE && ours)
		abort();
	if (fz_verify(tok, len, &fz_svid, &svid) == JWT_E_SIGNATURE && ours)
		abort();
}

/* "header\npayload" encoded and signed with the Ed25519 key. */
static void fz_json(const char *s, size_t n)
{
	const char *nl = memchr(s, '\n', n);
	size_t hl, pl, max, o;
	uint8_t sig[64];
	char *tok, *exact;

	if (!nl)
		return;
	hl = (size_t)(nl - s);
	pl = n - hl - 1;
	max = sodium_base64_ENCODED_LEN(hl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
	      sodium_base64_ENCODED_LEN(pl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
	      sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_URLSAFE_NO_PADDING) + 2;
	tok = malloc(max);
	if (!tok)
		abort();
	sodium_bin2base64(tok, max, (const uint8_t *)s, hl,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	o = strlen(tok);
	tok[o++] = '.';
	sodium_bin2base64(tok + o, max - o, (const uint8_t *)nl + 1, pl,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	o += strlen(tok + o);
	crypto_sign_detached(sig, NULL, (const uint8_t *)tok, o, fz_ed_sk);
	tok[o++] = '.';
	sodium_bin2base64(tok + o, max - o, sig, sizeof(sig),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	o += strlen(tok + o);
	/* exactly sized, so an over-read shows under ASan */
	exact = malloc(o);
	if (!exact)
		abort();
	memcpy(exact, tok, o);
	free(tok);
	fz_token(exact, o, 1);
	free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s;

	fz_setup();
	/* A copy without a NUL after it, so an over-read shows under ASan. */
	s = malloc(n ? n : 1);
	if (!s)
		return 0;
	memcpy(s, d, n);
	fz_token(s, n, 0);
	if (n && s[0] == '{')
		fz_json(s, n);
	free(s);
	return 0;
}
