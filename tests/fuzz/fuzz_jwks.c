/* fuzz_jwks.c - key sets (src/lib/jwk.c: JWKS and SPIFFE bundles), the
 * input parsed by both profiles.  Oracles:
 *   - a refusal is -EINVAL with a message and no key kept;
 *   - an accepted set accounts for every member of its "keys" (kept or
 *     skipped), keeps at most JWKS_KEYS_MAX, each an OpenSSL key of its
 *     algorithm's type (RSA of at least JWT_RSA_MIN_BITS), kids distinct
 *     and at most one key without one, every key named in a bundle;
 *   - a key a bundle keeps (use "jwt-svid") is one the OIDC profile skips;
 *   - the fixed tokens (fuzz_jwt_keys.h) verify against a fuzzed set only
 *     through a key equal to the one that signed them.
 * A violation aborts, so libFuzzer reports it like a crash. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "json.h"
#include "jwt.h"
#include "fuzz_jwt_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static struct jwks fz_ref; /* the keys that signed the fixed tokens */

static void fz_setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	if (jwks_parse(FZ_JWKS, strlen(FZ_JWKS), JWKS_OIDC, &fz_ref, NULL, 0) != 0 || fz_ref.n != 3)
		abort();
}

static const struct jwk *fz_key(const struct jwks *s, const char *kid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->keys[i].has_kid && strcmp(s->keys[i].kid, kid) == 0)
			return &s->keys[i];
	return NULL;
}

/* How many members "keys" has, or -1 when the document is not a JWKS. */
static long fz_members(const char *s, size_t n)
{
	yajl_val v = json_parse(s, n, 0, NULL, 0), keys = json_get(v, "keys");
	long m = YAJL_IS_ARRAY(keys) ? (long)keys->u.array.len : -1;

	if (v)
		yajl_tree_free(v);
	return m;
}

static void fz_check_set(const struct jwks *s, enum jwks_profile prof, long members)
{
	static const char *const types[] = {NULL, "RSA", "EC", "ED25519"};
	size_t nokid = 0;

	if (s->n > JWKS_KEYS_MAX || members < 0 || s->n + s->skipped != (size_t)members)
		abort();
	for (size_t i = 0; i < s->n; i++) {
		const struct jwk *k = &s->keys[i];

		if (k->alg < JWT_ALG_RS256 || k->alg > JWT_ALG_EDDSA || !k->pkey ||
		    !EVP_PKEY_is_a(k->pkey, types[k->alg]))
			abort();
		if (k->alg == JWT_ALG_RS256 && EVP_PKEY_get_bits(k->pkey) < JWT_RSA_MIN_BITS)
			abort();
		if (!k->has_kid && (k->kid[0] || prof == JWKS_SPIFFE || ++nokid > 1))
			abort();
		if (k->has_kid && fz_key(s, k->kid) != k)
			abort();
	}
}

/* The fixed tokens against \p s: accepted only through their own key. */
static void fz_tokens(const struct jwks *s, int spiffe)
{
	static const char *const toks[] = {FZ_TOK_RS256, FZ_TOK_ES256, FZ_TOK_EDDSA};
	struct jwt_expect x = {.issuer = spiffe ? NULL : FZ_ISS,
			       .audience = FZ_AUD,
			       .trust_domain = FZ_TD,
			       .spiffe = spiffe,
			       .now_s = FZ_NOW};

	for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
		struct jwt t;
		enum jwt_err e = jwt_verify(toks[i], strlen(toks[i]), s, &x, &t, NULL, 0);
		const struct jwk *k = fz_key(s, t.kid), *ref = fz_key(&fz_ref, t.kid);

		if ((unsigned)e > JWT_E_NOMEM)
			abort();
		if (e == JWT_OK && (!k || !ref || EVP_PKEY_eq(k->pkey, ref->pkey) != 1))
			abort();
		jwt_free(&t);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct jwks oidc, svid;
	char err[160];
	int ro, rs;
	long members;
	char *s;

	fz_setup();
	if (n > JWKS_MAX + 1)
		return 0;
	/* A copy without a NUL after it, so an over-read shows under ASan. */
	s = malloc(n ? n : 1);
	if (!s)
		return 0;
	memcpy(s, d, n);
	members = fz_members(s, n);
	err[0] = '\0';
	ro = jwks_parse(s, n, JWKS_OIDC, &oidc, err, sizeof(err));
	if (ro != 0 && (ro != -EINVAL || !err[0] || oidc.n != 0))
		abort();
	err[0] = '\0';
	rs = jwks_parse(s, n, JWKS_SPIFFE, &svid, err, sizeof(err));
	if (rs != 0 && (rs != -EINVAL || !err[0] || svid.n != 0))
		abort();
	if (ro == 0) {
		fz_check_set(&oidc, JWKS_OIDC, members);
		fz_tokens(&oidc, 0);
	}
	if (rs == 0) {
		fz_check_set(&svid, JWKS_SPIFFE, members);
		fz_tokens(&svid, 1);
	}
	if (ro == 0 && rs == 0 && svid.n > oidc.skipped)
		abort();
	jwks_free(&oidc);
	jwks_free(&svid);
	free(s);
	return 0;
}
