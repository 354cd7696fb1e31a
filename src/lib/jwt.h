/* jwt.h - JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515),
 * checked the strict way, and the key sets they are checked against (JWKS,
 * RFC 7517; SPIFFE trust bundles).  Used by the registry's oidc and spiffe
 * join rules (doc/IDENTITY.md).
 *
 * What the checks refuse, and why (each has been a real vulnerability in
 * some library): a token's own `alg` never picks the algorithm -- the key
 * found by `kid` does, and the header must agree with it; `none` and HMAC
 * are refused outright (HS256 "signed" with a public key); headers that
 * carry or point at keys (`jwk`, `jku`, `x5u`, `x5c`) and any `crit` are
 * refused; base64url must be canonical, JSON must not repeat a key or hide
 * a NUL; RSA keys are at least 2048 bits; EC keys are points on P-256.
 * Signatures go through OpenSSL 3's EVP_DigestVerify.
 */
#ifndef PILOT_JWT_H
#define PILOT_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#define JWT_MAX 8192	     /* bytes of a token */
#define JWKS_MAX (64 * 1024) /* bytes of a key set document */
#define JWKS_KEYS_MAX 32     /* usable keys kept from one set */
#define JWT_KID_MAX 128
#define JWT_STR_MAX 255	  /* iss, sub, jti */
#define JWT_LEEWAY_MAX 60 /* seconds of clock skew allowed at most */
#define JWT_RSA_MIN_BITS 2048

enum jwt_alg { JWT_ALG_RS256 = 1, JWT_ALG_ES256, JWT_ALG_EDDSA };

struct evp_pkey_st;

struct jwk {
	char kid[JWT_KID_MAX + 1]; /* "" when the key had none */
	int has_kid;
	enum jwt_alg alg;	  /* fixed by the key's type (and its own "alg") */
	struct evp_pkey_st *pkey; /* EVP_PKEY, owned */
};

struct jwks {
	struct jwk keys[JWKS_KEYS_MAX];
	size_t n;
	size_t skipped; /* keys in the document that are not usable here */
};

/* Which keys of a document count: an OpenID provider's JWKS (use absent or
 * "sig"), or a SPIFFE bundle's JWT authorities (use "jwt-svid"). */
enum jwks_profile { JWKS_OIDC = 1, JWKS_SPIFFE };

/** Parse a key set.  Keys of other uses, types, curves or algorithms are
 *  skipped (counted in skipped); a key that claims to be usable but is
 *  malformed, weak (RSA < 2048 bits), off its curve or private, a repeated
 *  kid, or a document that is not a JWKS refuses the whole set.
 *  \retval 0 (possibly with no keys), or -EINVAL with \p err filled. */
int jwks_parse(const char *json, size_t len, enum jwks_profile profile, struct jwks *out, char *err,
	       size_t errlen);
void jwks_free(struct jwks *s);

struct jwt_expect {
	const char *issuer;	  /* exact match; NULL: not checked (spiffe) */
	const char *audience;	  /* must be in aud */
	const char *trust_domain; /* spiffe: sub must be a SPIFFE ID of it */
	int spiffe;		  /* JWT-SVID rules (headers alg/kid/typ only, kid needed) */
	uint64_t now_s;
	unsigned leeway_s; /* clamped to JWT_LEEWAY_MAX */
};

struct jwt {
	char iss[JWT_STR_MAX + 1], sub[JWT_STR_MAX + 1], jti[JWT_STR_MAX + 1];
	char kid[JWT_KID_MAX + 1];
	enum jwt_alg alg;
	uint64_t exp, nbf, iat; /* seconds; nbf/iat 0 when absent */
	yajl_val claims;	/* the payload object, owned (jwt_free) */
};

enum jwt_err {
	JWT_OK = 0,
	JWT_E_SIZE,	   /* longer than JWT_MAX */
	JWT_E_FORMAT,	   /* not three canonical base64url parts of JSON objects */
	JWT_E_HEADER,	   /* a refused or malformed header member */
	JWT_E_ALG_NONE,	   /* alg none */
	JWT_E_ALG_HMAC,	   /* HS256/384/512 */
	JWT_E_ALG,	   /* another algorithm, or not the key's */
	JWT_E_UNKNOWN_KID, /* no key of the set has that kid */
	JWT_E_SIGNATURE,   /* the signature does not verify */
	JWT_E_CLAIMS,	   /* a claim missing or of the wrong type */
	JWT_E_ISSUER,	   /* iss is not the issuer */
	JWT_E_AUDIENCE,	   /* aud absent or without the audience */
	JWT_E_EXPIRED,	   /* exp passed */
	JWT_E_NOT_YET,	   /* nbf in the future */
	JWT_E_SPIFFE_ID,   /* sub is not a SPIFFE ID of the trust domain */
	JWT_E_NOMEM,
};

/** The reply code for \p e ("token_invalid", "token_expired", ...). */
const char *jwt_err_code(enum jwt_err e);

/** Check token \p tok (\p len bytes, surrounding whitespace not allowed)
 *  against \p keys and \p x; on JWT_OK fill \p out (free with jwt_free).
 *  The signature is checked before any claim, so a claim error means an
 *  authentic token.  \p msg (may be NULL) says what was wrong. */
enum jwt_err jwt_verify(const char *tok, size_t len, const struct jwks *keys,
			const struct jwt_expect *x, struct jwt *out, char *msg, size_t msglen);
void jwt_free(struct jwt *t);

/** The header's kid without checking anything else (to pick a key set to
 *  refresh).  \retval 0, -ENOENT (no kid) or -EINVAL. */
int jwt_peek_kid(const char *tok, size_t len, char kid[JWT_KID_MAX + 1]);
/** The payload's exp, read as jwt_verify reads it, without checking the
 *  signature (a holder's own token: when to renew it).
 *  \retval 0, -ENOENT (no exp) or -EINVAL. */
int jwt_peek_exp(const char *tok, size_t len, uint64_t *exp);

/** Does claim \p name equal \p value (a string, or true/false), or is it
 *  an array holding that string (groups)?  \retval 1 or 0. */
int jwt_claim_has(const struct jwt *t, const char *name, const char *value);

/** Is \p id a workload's SPIFFE ID ("spiffe://TD/PATH", at least one
 *  path segment, lower-case trust domain,
 *  path segments of [A-Za-z0-9._-], no "." or ".." segment, no trailing
 *  slash, no query or fragment)?  \p td (may be NULL) receives the trust
 *  domain (up to 255 bytes).  \retval 1 or 0. */
int spiffe_id_valid(const char *id, char *td, size_t tdlen);
/** Is \p pattern a SPIFFE ID pattern (spiffe_id_match)?  \retval 1 or 0. */
int spiffe_pattern_valid(const char *pattern);
/** Is \p s a claim to match, "NAME=VALUE" (NAME of [A-Za-z0-9_.:-], VALUE
 *  not empty, at most JWT_CLAIM_SEL_MAX bytes in all)?  \retval 1 or 0. */
#define JWT_CLAIM_SEL_MAX 127
int jwt_claim_sel_ok(const char *s);
/** Does SPIFFE ID \p id match \p pattern?  A pattern is a SPIFFE ID in
 *  which a segment "*" matches any one segment, and a last segment "*"
 *  matches one or more.  \retval 1 or 0. */
int spiffe_id_match(const char *pattern, const char *id);

#endif
