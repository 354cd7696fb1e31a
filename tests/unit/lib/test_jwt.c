/* test_jwt.c - JWS compact tokens and the key sets they are checked
 * against (src/lib/jwt.c, src/lib/jwk.c; the contract is jwt.h).  Keys are
 * made here with OpenSSL 3 (RSA 2048 and 1024, EC P-256, Ed25519), written
 * as JWKs, and tokens signed here, so every refusal is shown on a token
 * that would otherwise pass: claims (iss, aud, exp/nbf and the leeway
 * clamp), the key and algorithm choice (kid, alg none, HMAC with a public
 * key, alg not the key's, key-carrying headers), the strict form (size,
 * parts, canonical base64url, repeated members, hidden NULs), signatures
 * (tampering, another key, ES256 zero r/s and its DER form, RSA length),
 * the JWT-SVID rules, key set parsing for both profiles, and SPIFFE IDs
 * and patterns. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "jwt.h"

#define T_NOW 1700000000ull
#define T_ISS "https://idp.example.com"
#define T_AUD "pilot:net1"
#define Q_AUD "\"" T_AUD "\"" /* aud as JSON */
#define T_TD "example.org"
#define T_SVID "spiffe://" T_TD "/ns/prod/sa/web"
#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

#include "../jwt_mint.h"

static struct tkey k_rsa, k_rsa2, k_rsa1024, k_ec, k_ed;
/* kid rsa1, ec1, ed1: OIDC (no use), and the same as a SPIFFE bundle */
static struct jwks set3, set_svid;

/* A payload: sub, iss (NULL: none), aud as raw JSON (NULL: none), exp (0:
 * none) and \p extra (",member..." or ""). */
static const char *payx(const char *iss, const char *sub, const char *aud, uint64_t exp,
			const char *extra)
{
	char b[TXT_MAX] = "";

	cat(b, "{\"sub\":\"%s\"", sub);
	if (iss)
		cat(b, ",\"iss\":\"%s\"", iss);
	if (aud)
		cat(b, ",\"aud\":%s", aud);
	if (exp)
		cat(b, ",\"exp\":%llu", (unsigned long long)exp);
	cat(b, "%s}", extra);
	return fmt("%s", b);
}

/* The standard OIDC payload with \p extra members. */
static const char *pay(const char *extra)
{
	return payx(T_ISS, "alice", Q_AUD, T_NOW + 3600, extra);
}

/* A JWT-SVID payload for \p sub. */
static const char *svid_pay(const char *sub, const char *extra)
{
	return fmt("{\"sub\":\"%s\",\"aud\":[" Q_AUD "],\"exp\":%llu%s}", sub, T_NOW + 300, extra);
}

static struct jwt_expect oidc(void)
{
	struct jwt_expect x = {.issuer = T_ISS, .audience = T_AUD, .now_s = T_NOW};
	return x;
}

static struct jwt_expect svid(void)
{
	struct jwt_expect x = {
	    .audience = T_AUD, .trust_domain = T_TD, .spiffe = 1, .now_s = T_NOW};
	return x;
}

/* jwt_verify's answer, with what always holds: the claims are kept only
 * on success, and a refusal says why. */
static enum jwt_err ver_out(const char *t, size_t len, const struct jwks *ks,
			    const struct jwt_expect *x, struct jwt *out)
{
	char msg[256];
	enum jwt_err e = jwt_verify(t, len, ks, x, out, msg, sizeof(msg));

	if (e == JWT_OK) {
		assert_non_null(out->claims);
	} else {
		assert_null(out->claims);
		assert_true(msg[0] != '\0');
	}
	return e;
}

static enum jwt_err ver(const char *t, const struct jwks *ks, const struct jwt_expect *x)
{
	struct jwt out;
	enum jwt_err e = ver_out(t, strlen(t), ks, x, &out);

	jwt_free(&out);
	return e;
}

#define VER(want, t, ks, x)                                                                        \
	do {                                                                                       \
		struct jwt_expect x_ = (x);                                                        \
		enum jwt_err got_ = ver((t), (ks), &x_);                                           \
		if (got_ != (want))                                                                \
			fail_msg("%s:%d: jwt_verify gave %d (%s), not %d", __FILE__, __LINE__,     \
				 got_, jwt_err_code(got_), (want));                                \
	} while (0)
/* The common case: an OIDC token against set3. */
#define VER3(want, t) VER(want, t, &set3, oidc())

static const char *alg_name(enum jwt_alg a)
{
	return a == JWT_ALG_RS256 ? "RS256" : a == JWT_ALG_ES256 ? "ES256" : "EdDSA";
}

/* jwks_parse, with what always holds: a refusal says why and keeps no key. */
static int parse(const char *d, enum jwks_profile prof, struct jwks *s)
{
	char err[256] = "";
	int rc = jwks_parse(d, strlen(d), prof, s, err, sizeof(err));

	if (rc < 0) {
		assert_int_equal(rc, -EINVAL);
		assert_true(err[0] != '\0');
		assert_int_equal(s->n, 0);
	}
	return rc;
}

/* A set of the given JWKs (NULL-terminated) parsed for \p prof: rc, and
 * the kept and skipped counts. */
static int parse_keys(enum jwks_profile prof, size_t *n, size_t *skipped, ...)
{
	char b[TXT_MAX] = "";
	const char *k;
	struct jwks s;
	va_list ap;
	int rc;

	cat(b, "{\"keys\":[");
	va_start(ap, skipped);
	for (int i = 0; (k = va_arg(ap, const char *)); i++)
		cat(b, "%s%s", i ? "," : "", k);
	va_end(ap);
	cat(b, "]}");
	rc = parse(b, prof, &s);
	*n = s.n;
	*skipped = s.skipped;
	jwks_free(&s);
	return rc;
}

/* One key alone refuses the set. */
#define REFUSED(key, prof)                                                                         \
	do {                                                                                       \
		size_t n_, sk_;                                                                    \
		if (parse_keys((prof), &n_, &sk_, (key), (const char *)NULL) != -EINVAL)           \
			fail_msg("%s:%d: key set accepted: %.200s", __FILE__, __LINE__, (key));    \
	} while (0)
/* One key alone: \p kept of it kept, the rest skipped. */
#define KEPT(kept, key, prof)                                                                      \
	do {                                                                                       \
		size_t n_, sk_;                                                                    \
		if (parse_keys((prof), &n_, &sk_, (key), (const char *)NULL) != 0 ||               \
		    n_ != (kept) || n_ + sk_ != 1)                                                 \
			fail_msg("%s:%d: not %d kept: %.200s", __FILE__, __LINE__, (kept), (key)); \
	} while (0)

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	keygen(&k_rsa, JWT_ALG_RS256, 2048);
	keygen(&k_rsa2, JWT_ALG_RS256, 2048);
	keygen(&k_rsa1024, JWT_ALG_RS256, 1024);
	keygen(&k_ec, JWT_ALG_ES256, 0);
	keygen(&k_ed, JWT_ALG_EDDSA, 0);
	if (parse(doc("", jwk(&k_rsa, "rsa1", ""), jwk(&k_ec, "ec1", ",\"use\":\"sig\""),
		      jwk(&k_ed, "ed1", ",\"alg\":\"EdDSA\""), NULL),
		  JWKS_OIDC, &set3) != 0 ||
	    set3.n != 3)
		return -1;
	if (parse(doc("\"spiffe_sequence\":7,", jwk(&k_rsa, "rsa1", ",\"use\":\"jwt-svid\""),
		      jwk(&k_ec, "ec1", ",\"use\":\"jwt-svid\""),
		      jwk(&k_ed, "ed1", ",\"use\":\"jwt-svid\""), NULL),
		  JWKS_SPIFFE, &set_svid) != 0 ||
	    set_svid.n != 3)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct tkey *all[] = {&k_rsa, &k_rsa2, &k_rsa1024, &k_ec, &k_ed};

	(void)state;
	jwks_free(&set3);
	jwks_free(&set_svid);
	arena_free(NULL);
	free(arena);
	for (size_t i = 0; i < NITEMS(all); i++)
		EVP_PKEY_free(all[i]->pkey);
	return 0;
}

/* ---------------------------------------------------------------- valid tokens */

static void test_codes(void **state)
{
	(void)state;
	for (int e = JWT_OK; e <= JWT_E_NOMEM; e++)
		assert_non_null(jwt_err_code((enum jwt_err)e));
	assert_string_equal(jwt_err_code(JWT_OK), "ok");
	assert_string_equal(jwt_err_code(JWT_E_SIZE), "token_too_large");
	assert_string_equal(jwt_err_code(JWT_E_FORMAT), "token_invalid");
	assert_string_equal(jwt_err_code(JWT_E_ALG_NONE), "token_bad_alg");
	assert_string_equal(jwt_err_code(JWT_E_ALG_HMAC), "token_bad_alg");
	assert_string_equal(jwt_err_code(JWT_E_UNKNOWN_KID), "token_unknown_key");
	assert_string_equal(jwt_err_code(JWT_E_SIGNATURE), "token_bad_signature");
	assert_string_equal(jwt_err_code(JWT_E_ISSUER), "token_wrong_issuer");
	assert_string_equal(jwt_err_code(JWT_E_AUDIENCE), "token_wrong_audience");
	assert_string_equal(jwt_err_code(JWT_E_EXPIRED), "token_expired");
	assert_string_equal(jwt_err_code(JWT_E_NOT_YET), "token_not_yet_valid");
	assert_string_equal(jwt_err_code(JWT_E_SPIFFE_ID), "token_wrong_subject");
}

/* Each algorithm by its key, and what a verified token gives back. */
static void test_valid(void **state)
{
	const struct tkey *ks[] = {&k_rsa, &k_ec, &k_ed};
	const char *kids[] = {"rsa1", "ec1", "ed1"};

	(void)state;
	for (size_t i = 0; i < NITEMS(ks); i++) {
		const char *t = tok(ks[i], alg_name(ks[i]->alg), kids[i],
				    pay(",\"nbf\":1699999000,\"iat\":1699998999,\"jti\":\"j-42\","
					"\"groups\":[\"ops\",7,[\"dev\"],\"net-admins\"],"
					"\"admin\":true,\"email_verified\":false,"
					"\"email\":\"alice@example.com\",\"n\":5"));
		struct jwt_expect x = oidc();
		struct jwt out;

		assert_int_equal(ver_out(t, strlen(t), &set3, &x, &out), JWT_OK);
		assert_string_equal(out.iss, T_ISS);
		assert_string_equal(out.sub, "alice");
		assert_string_equal(out.jti, "j-42");
		assert_string_equal(out.kid, kids[i]);
		assert_int_equal(out.alg, ks[i]->alg);
		assert_int_equal(out.exp, T_NOW + 3600);
		assert_int_equal(out.nbf, 1699999000);
		assert_int_equal(out.iat, 1699998999);

		assert_true(jwt_claim_has(&out, "groups", "ops"));
		assert_true(jwt_claim_has(&out, "groups", "net-admins"));
		assert_false(jwt_claim_has(&out, "groups", "dev")); /* nested: not a member */
		assert_false(jwt_claim_has(&out, "groups", "7"));
		assert_false(jwt_claim_has(&out, "groups", "OPS"));
		assert_true(jwt_claim_has(&out, "admin", "true"));
		assert_false(jwt_claim_has(&out, "admin", "false"));
		assert_true(jwt_claim_has(&out, "email_verified", "false"));
		assert_false(jwt_claim_has(&out, "email_verified", "true"));
		assert_true(jwt_claim_has(&out, "email", "alice@example.com"));
		assert_false(jwt_claim_has(&out, "email", "alice@example.co"));
		assert_false(jwt_claim_has(&out, "n", "5")); /* a number is neither */
		assert_false(jwt_claim_has(&out, "absent", "x"));
		assert_true(jwt_claim_has(&out, "aud", T_AUD));
		jwt_free(&out);
		jwt_free(&out); /* twice is harmless */
		assert_false(jwt_claim_has(&out, "groups", "ops"));
	}
}

/* Absent optional claims read as 0 / "", and dates may be fractional. */
static void test_optional_claims(void **state)
{
	const char *t = tok(&k_ec, "ES256", "ec1",
			    "{\"iss\":\"" T_ISS "\",\"sub\":\"bob\",\"aud\":" Q_AUD
			    ",\"exp\":1700003600.75,\"nbf\":1.6e9}");
	struct jwt_expect x = oidc();
	struct jwt out;

	(void)state;
	assert_int_equal(ver_out(t, strlen(t), &set3, &x, &out), JWT_OK);
	assert_int_equal(out.exp, 1700003600);
	assert_int_equal(out.nbf, 1600000000);
	assert_int_equal(out.iat, 0);
	assert_string_equal(out.jti, "");
	jwt_free(&out);
	/* msg may be NULL */
	assert_int_equal(jwt_verify(t, strlen(t), &set3, &x, &out, NULL, 0), JWT_OK);
	jwt_free(&out);
	assert_int_equal(jwt_verify("x", 1, &set3, &x, &out, NULL, 0), JWT_E_FORMAT);
}

/* ---------------------------------------------------------------- claims */

/* iss, sub and jti: each payload with the answer it gets. */
static void test_iss_sub(void **state)
{
	char sub[JWT_STR_MAX + 2];
	const struct {
		const char *pay;
		enum jwt_err want;
	} cases[] = {
	    {payx("https://evil.example.com", "alice", Q_AUD, T_NOW + 60, ""), JWT_E_ISSUER},
	    /* a prefix or a trailing slash is another issuer */
	    {payx(T_ISS "/", "alice", Q_AUD, T_NOW + 60, ""), JWT_E_ISSUER},
	    {payx("https://idp.example.co", "alice", Q_AUD, T_NOW + 60, ""), JWT_E_ISSUER},
	    /* missing, empty or not a string: a claim error */
	    {payx(NULL, "alice", Q_AUD, T_NOW + 60, ""), JWT_E_CLAIMS},
	    {payx("", "alice", Q_AUD, T_NOW + 60, ""), JWT_E_CLAIMS},
	    {payx(NULL, "alice", Q_AUD, T_NOW + 60, ",\"iss\":[\"" T_ISS "\"]"), JWT_E_CLAIMS},
	    /* sub: required, non-empty, at most JWT_STR_MAX bytes */
	    {fmt("{\"iss\":\"" T_ISS "\",\"aud\":" Q_AUD ",\"exp\":%llu}", T_NOW + 60),
	     JWT_E_CLAIMS},
	    {payx(T_ISS, "", Q_AUD, T_NOW + 60, ""), JWT_E_CLAIMS},
	    {pay(",\"jti\":17"), JWT_E_CLAIMS}, /* jti, when present, is a string */
	};

	(void)state;
	assert_string_equal(jwt_err_code(JWT_E_ISSUER), "token_wrong_issuer");
	for (size_t i = 0; i < NITEMS(cases); i++)
		VER3(cases[i].want, tok(&k_rsa, "RS256", "rsa1", cases[i].pay));
	memset(sub, 's', JWT_STR_MAX);
	sub[JWT_STR_MAX] = '\0';
	VER3(JWT_OK, tok(&k_ec, "ES256", "ec1", payx(T_ISS, sub, Q_AUD, T_NOW + 60, "")));
	strcat(sub, "s");
	VER3(JWT_E_CLAIMS, tok(&k_ec, "ES256", "ec1", payx(T_ISS, sub, Q_AUD, T_NOW + 60, "")));
	/* issuer NULL: iss not needed */
	{
		struct jwt_expect x = oidc();

		x.issuer = NULL;
		VER(JWT_OK,
		    tok(&k_rsa, "RS256", "rsa1", payx(NULL, "alice", Q_AUD, T_NOW + 60, "")), &set3,
		    x);
	}
}

static void test_audience(void **state)
{
	static const struct {
		const char *aud; /* raw JSON, NULL: absent */
		enum jwt_err want;
	} cases[] = {
	    {NULL, JWT_E_AUDIENCE},
	    {"\"other\"", JWT_E_AUDIENCE},
	    {"\"" T_AUD "x\"", JWT_E_AUDIENCE},
	    {"\"pilot:net\"", JWT_E_AUDIENCE},
	    {Q_AUD, JWT_OK},
	    {"[\"a\"," Q_AUD ",\"b\"]", JWT_OK},
	    {"[" Q_AUD "]", JWT_OK},
	    {"[\"a\",\"b\"]", JWT_E_AUDIENCE},
	    {"[]", JWT_E_AUDIENCE},
	    {"[[" Q_AUD "]]", JWT_E_AUDIENCE},
	    {"{" Q_AUD ":1}", JWT_E_AUDIENCE},
	    {"null", JWT_E_AUDIENCE},
	    {"true", JWT_E_AUDIENCE},
	};

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++) {
		struct jwt_expect x = oidc();
		enum jwt_err e = ver(
		    tok(&k_ed, "EdDSA", "ed1", payx(T_ISS, "alice", cases[i].aud, T_NOW + 60, "")),
		    &set3, &x);

		if (e != cases[i].want)
			fail_msg("aud %s: %d, not %d", cases[i].aud ? cases[i].aud : "(absent)", e,
				 cases[i].want);
	}
	assert_string_equal(jwt_err_code(JWT_E_AUDIENCE), "token_wrong_audience");
}

/* exp and nbf against now, with the leeway (at most JWT_LEEWAY_MAX). */
static void test_times(void **state)
{
	static const struct {
		uint64_t exp;
		const char *nbf; /* ",\"nbf\":N" or "" */
		unsigned leeway;
		enum jwt_err want;
	} cases[] = {
	    {T_NOW + 1, "", 0, JWT_OK},
	    {T_NOW, "", 0, JWT_E_EXPIRED}, /* exp is the first second refused */
	    {T_NOW - 1, "", 0, JWT_E_EXPIRED},
	    {T_NOW - 30, "", 60, JWT_OK},
	    {T_NOW - 59, "", 60, JWT_OK},
	    {T_NOW - 60, "", 60, JWT_E_EXPIRED},
	    {T_NOW - 120, "", 1000, JWT_E_EXPIRED}, /* clamped to 60 */
	    {T_NOW - 61, "", 1000, JWT_E_EXPIRED},
	    {T_NOW - 59, "", 1000, JWT_OK},
	    {T_NOW - 3600, "", 0xffffffffu, JWT_E_EXPIRED},
	    {T_NOW + 60, ",\"nbf\":1700000000", 0, JWT_OK},
	    {T_NOW + 60, ",\"nbf\":1700000001", 0, JWT_E_NOT_YET},
	    {T_NOW + 600, ",\"nbf\":1700000030", 30, JWT_OK},
	    {T_NOW + 600, ",\"nbf\":1700000031", 30, JWT_E_NOT_YET},
	    {T_NOW + 600, ",\"nbf\":1700000060", 1000, JWT_OK},
	    {T_NOW + 600, ",\"nbf\":1700000061", 1000, JWT_E_NOT_YET}, /* clamped */
	    {T_NOW + 600, ",\"nbf\":1700000120", 1000, JWT_E_NOT_YET},
	    {T_NOW + 600, ",\"nbf\":-1", 0, JWT_E_CLAIMS},
	    {T_NOW + 600, ",\"nbf\":\"1\"", 0, JWT_E_CLAIMS},
	    {T_NOW + 600, ",\"iat\":\"1\"", 0, JWT_E_CLAIMS},
	    {T_NOW + 600, ",\"iat\":1e300", 0, JWT_E_CLAIMS},
	    {T_NOW + 600, ",\"nbf\":null", 0, JWT_E_CLAIMS},
	    {0, "", 0, JWT_E_CLAIMS}, /* exp missing */
	    {0, ",\"exp\":\"1700003600\"", 0, JWT_E_CLAIMS},
	    {0, ",\"exp\":-5", 0, JWT_E_CLAIMS},
	    {0, ",\"exp\":1e16", 0, JWT_E_CLAIMS},
	    {0, ",\"exp\":99999999999999999999", 0, JWT_E_CLAIMS},
	    {0, ",\"exp\":9223372036854775807", 60, JWT_OK}, /* no wrap */
	};

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++) {
		struct jwt_expect x = oidc();
		enum jwt_err e;

		x.leeway_s = cases[i].leeway;
		e = ver(tok(&k_ec, "ES256", "ec1",
			    payx(T_ISS, "alice", Q_AUD, cases[i].exp, cases[i].nbf)),
			&set3, &x);
		if (e != cases[i].want)
			fail_msg("case %zu (exp %llu%s, leeway %u): %d, not %d", i,
				 (unsigned long long)cases[i].exp, cases[i].nbf, cases[i].leeway, e,
				 cases[i].want);
	}
	assert_string_equal(jwt_err_code(JWT_E_EXPIRED), "token_expired");
}

/* The signature comes first: a token that fails it is refused as such,
 * whatever its claims or payload say. */
static void test_signature_first(void **state)
{
	const char *h = b64s("{\"alg\":\"ES256\",\"kid\":\"ec1\"}");

	(void)state;
	VER3(JWT_E_SIGNATURE,
	     tok(&k_rsa2, "RS256", "rsa1", payx("https://evil", "alice", NULL, T_NOW - 3600, "")));
	/* a payload that is not JSON, signed by another key, then by the right one */
	VER3(JWT_E_SIGNATURE, tokp(&k_rsa2, h, b64s("not json")));
	VER3(JWT_E_FORMAT, tokp(&k_ec, h, b64s("not json")));
}

/* ---------------------------------------------------------------- signatures */

/* The same token with its payload one byte different, signature kept. */
static void test_tamper(void **state)
{
	const struct tkey *ks[] = {&k_rsa, &k_ec, &k_ed};
	const char *kids[] = {"rsa1", "ec1", "ed1"};
	char p2[512];

	(void)state;
	snprintf(p2, sizeof(p2), "%s", pay(",\"groups\":[\"users\"]"));
	strstr(p2, "users")[2] = 'E'; /* "usErs" */
	for (size_t i = 0; i < NITEMS(ks); i++) {
		const char *alg = alg_name(ks[i]->alg);
		const char *t = tok(ks[i], alg, kids[i], pay(",\"groups\":[\"users\"]"));
		const char *d1 = strchr(t, '.'), *sig = strrchr(t, '.');
		char bad[2048];

		VER3(JWT_OK, t);
		VER3(JWT_E_SIGNATURE, fmt("%.*s.%s%s", (int)(d1 - t), t, b64s(p2), sig));
		/* one signature character changed (the first: no stray bits) */
		snprintf(bad, sizeof(bad), "%s", t);
		strrchr(bad, '.')[1] = sig[1] == 'A' ? 'B' : 'A';
		VER3(JWT_E_SIGNATURE, bad);
		/* the signature of another token by the same key */
		VER3(JWT_E_SIGNATURE, fmt("%s%s", input_of(t),
					  strrchr(tok(ks[i], alg, kids[i], pay(",\"x\":1")), '.')));
	}
	assert_string_equal(jwt_err_code(JWT_E_SIGNATURE), "token_bad_signature");
}

/* kid picks the key; a token signed by another key under a known kid. */
static void test_kid(void **state)
{
	const char *p = pay("");
	struct jwks one, nokid;

	(void)state;
	VER3(JWT_E_SIGNATURE, tok(&k_rsa2, "RS256", "rsa1", p));
	VER3(JWT_E_UNKNOWN_KID, tok(&k_rsa, "RS256", "rsa2", p));
	assert_string_equal(jwt_err_code(JWT_E_UNKNOWN_KID), "token_unknown_key");
	VER3(JWT_E_UNKNOWN_KID, tok(&k_rsa, "RS256", "RSA1", p)); /* case matters */
	VER3(JWT_E_UNKNOWN_KID, tok(&k_rsa, "RS256", "", p));
	/* no kid: the set's only key, never one of several */
	VER3(JWT_E_UNKNOWN_KID, tok(&k_rsa, "RS256", NULL, p));
	assert_int_equal(parse(doc("", jwk(&k_rsa, "rsa1", ""), NULL), JWKS_OIDC, &one), 0);
	assert_int_equal(one.n, 1);
	VER(JWT_OK, tok(&k_rsa, "RS256", NULL, p), &one, oidc());
	VER(JWT_E_SIGNATURE, tok(&k_rsa2, "RS256", NULL, p), &one, oidc());
	VER(JWT_E_ALG, tok(&k_ec, "ES256", NULL, p), &one, oidc());
	jwks_free(&one);
	assert_int_equal(one.n, 0);
	/* a key without kid is found only by a token without one */
	assert_int_equal(parse(doc("", jwk(&k_ed, NULL, ""), NULL), JWKS_OIDC, &nokid), 0);
	assert_int_equal(nokid.keys[0].has_kid, 0);
	VER(JWT_OK, tok(&k_ed, "EdDSA", NULL, p), &nokid, oidc());
	VER(JWT_E_UNKNOWN_KID, tok(&k_ed, "EdDSA", "ed1", p), &nokid, oidc());
	jwks_free(&nokid);
	/* an empty set knows no key */
	assert_int_equal(parse("{\"keys\":[]}", JWKS_OIDC, &nokid), 0);
	VER(JWT_E_UNKNOWN_KID, tok(&k_ed, "EdDSA", "ed1", p), &nokid, oidc());
	VER(JWT_E_UNKNOWN_KID, tok(&k_ed, "EdDSA", NULL, p), &nokid, oidc());
	jwks_free(&nokid);
}

/* ES256 signatures with a zero half, and signatures of the wrong length. */
static void test_sig_shapes(void **state)
{
	const char *in = input_of(tok(&k_ec, "ES256", "ec1", pay("")));
	uint8_t sig[1100], rs[64];
	size_t n = sign_raw(&k_ec, in, sig);

	(void)state;
	assert_int_equal(n, 64);
	for (int half = 0; half < 3; half++) {
		memcpy(rs, sig, 64);
		if (half != 1)
			memset(rs, 0, 32); /* r = 0 */
		if (half != 0)
			memset(rs + 32, 0, 32); /* s = 0 */
		VER3(JWT_E_SIGNATURE, with_sig(in, rs, 64));
	}
	/* r || s, 32 bytes each: 63 or 65 bytes, or DER, is refused */
	VER3(JWT_E_SIGNATURE, with_sig(in, sig, 63));
	memmove(sig + 1, sig, 64);
	sig[0] = 0;
	VER3(JWT_E_SIGNATURE, with_sig(in, sig, 65));
	VER3(JWT_OK, with_sig(in, sig + 1, 64));
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		size_t dl = sizeof(sig);

		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k_ec.pkey), 1);
		assert_int_equal(EVP_DigestSign(md, sig, &dl, (const uint8_t *)in, strlen(in)), 1);
		EVP_MD_CTX_free(md);
		VER3(JWT_E_SIGNATURE, with_sig(in, sig, dl));
	}

	/* RS256: exactly the modulus' length */
	in = input_of(tok(&k_rsa, "RS256", "rsa1", pay("")));
	assert_int_equal(sign_raw(&k_rsa, in, sig + 1), 256);
	sig[0] = 0;
	VER3(JWT_E_SIGNATURE, with_sig(in, sig + 1, 255));
	VER3(JWT_E_SIGNATURE, with_sig(in, sig, 257));
	VER3(JWT_OK, with_sig(in, sig + 1, 256));

	/* EdDSA: 64 bytes */
	in = input_of(tok(&k_ed, "EdDSA", "ed1", pay("")));
	assert_int_equal(sign_raw(&k_ed, in, sig), 64);
	VER3(JWT_E_SIGNATURE, with_sig(in, sig, 63));
	VER3(JWT_OK, with_sig(in, sig, 64));
	memset(sig, 0, sizeof(sig));
	VER3(JWT_E_SIGNATURE, with_sig(in, sig, 64));
	/* longer than any signature: not even decoded */
	VER3(JWT_E_FORMAT, with_sig(in, sig, sizeof(sig)));
}

/* ES256's r || s becomes DER for OpenSSL, which wants it minimal: halves
 * with a leading zero byte (shorter INTEGERs) and with the top bit set (a
 * 0x00 prefix) verify. */
static void test_es256_der(void **state)
{
	int seen = 0; /* r zero-led, s zero-led, r high, s high */

	(void)state;
	for (int i = 0; i < 50000 && seen != 0xf; i++) {
		const char *t = tok(&k_ec, "ES256", "ec1", pay(fmt(",\"jti\":\"%d\"", i)));
		const char *s64 = strrchr(t, '.') + 1;
		uint8_t rs[64];
		size_t n;
		int now = 0;

		assert_int_equal(sodium_base642bin(rs, sizeof(rs), s64, strlen(s64), NULL, &n, NULL,
						   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
				 0);
		now |= rs[0] == 0 && rs[1] < 0x80 ? 1 : 0; /* INTEGER of 31 bytes or less */
		now |= rs[32] == 0 && rs[33] < 0x80 ? 2 : 0;
		now |= rs[0] & 0x80 ? 4 : 0;
		now |= rs[32] & 0x80 ? 8 : 0;
		if (now & ~seen)
			VER3(JWT_OK, t);
		seen |= now;
		arena_free(NULL);
	}
	assert_int_equal(seen, 0xf);
}

/* ---------------------------------------------------------------- algorithms */

/* Header \p hdr over the standard payload, with signature part \p sig64. */
static const char *hdr_token(const char *hdr, const char *sig64)
{
	return fmt("%s.%s.%s", b64s(hdr), b64s(pay("")), sig64);
}

static void test_alg_none(void **state)
{
	static const char *const hdrs[] = {
	    "{\"alg\":\"none\"}",
	    "{\"alg\":\"none\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"None\"}",
	    "{\"alg\":\"NONE\"}",
	};

	(void)state;
	for (size_t i = 0; i < NITEMS(hdrs); i++) {
		VER3(JWT_E_ALG_NONE, hdr_token(hdrs[i], "c2ln"));
		VER(JWT_E_ALG_NONE, hdr_token(hdrs[i], "c2ln"), &set_svid, svid());
		/* The unsecured JWS of RFC 7519 6.1 ends in an empty
		 * signature: refused for its alg, as any "none" token. */
		VER3(JWT_E_ALG_NONE, hdr_token(hdrs[i], ""));
	}
	VER3(JWT_E_ALG, hdr_token("{\"alg\":\"nOnE\"}", "c2ln"));
	assert_string_equal(jwt_err_code(JWT_E_ALG_NONE), "token_bad_alg");
}

/* HS256 "signed" with the RSA key's public key, as PEM and as DER: the
 * classic confusion of a verifier that lets the token pick HMAC. */
static void test_alg_hmac(void **state)
{
	static const char *const mds[] = {"SHA256", "SHA384", "SHA512"};
	static const char *const algs[] = {"HS256", "HS384", "HS512"};
	uint8_t *der = NULL, mac[64];
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long pemlen;
	int derlen;

	(void)state;
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, k_rsa.pkey), 1);
	pemlen = BIO_get_mem_data(bio, &pem);
	assert_true(pemlen > 0);
	derlen = i2d_PUBKEY(k_rsa.pkey, &der);
	assert_true(derlen > 0);
	for (size_t i = 0; i < NITEMS(algs); i++) {
		for (int form = 0; form < 2; form++) {
			const char *in = input_of(
			    hdr_token(fmt("{\"alg\":\"%s\",\"kid\":\"rsa1\"}", algs[i]), ""));
			size_t maclen = 0;

			assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, mds[i], NULL,
						  form ? (const void *)der : (const void *)pem,
						  form ? (size_t)derlen : (size_t)pemlen,
						  (const uint8_t *)in, strlen(in), mac, sizeof(mac),
						  &maclen));
			VER3(JWT_E_ALG_HMAC, with_sig(in, mac, maclen));
			VER(JWT_E_ALG_HMAC, with_sig(in, mac, maclen), &set_svid, svid());
		}
	}
	OPENSSL_free(der);
	BIO_free(bio);
}

/* The key fixes the algorithm: a header alg that is not the key's is
 * refused even when the key really signed the token. */
static void test_alg_key(void **state)
{
	static const struct {
		const struct tkey *k;
		const char *alg, *kid;
		enum jwt_err want;
	} cases[] = {
	    {&k_rsa, "ES256", "rsa1", JWT_E_ALG},  {&k_ec, "ES256", "rsa1", JWT_E_ALG},
	    {&k_rsa, "EdDSA", "rsa1", JWT_E_ALG},  {&k_ec, "RS256", "ec1", JWT_E_ALG},
	    {&k_ed, "ES256", "ed1", JWT_E_ALG},	   {&k_ed, "RS256", "ed1", JWT_E_ALG},
	    {&k_rsa, "RS384", "rsa1", JWT_E_ALG},  {&k_rsa, "PS256", "rsa1", JWT_E_ALG},
	    {&k_ec, "ES384", "ec1", JWT_E_ALG},	   {&k_ed, "Ed25519", "ed1", JWT_E_ALG},
	    {&k_rsa, "rs256", "rsa1", JWT_E_ALG},  {&k_rsa, "", "rsa1", JWT_E_ALG},
	    {&k_rsa, "RS256 ", "rsa1", JWT_E_ALG}, {&k_rsa, "RS256", "rsa1", JWT_OK},
	};
	const char *p = pay("");

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++) {
		struct jwt_expect x = oidc();
		enum jwt_err e = ver(tok(cases[i].k, cases[i].alg, cases[i].kid, p), &set3, &x);

		if (e != cases[i].want)
			fail_msg("alg %s kid %s: %d, not %d", cases[i].alg, cases[i].kid, e,
				 cases[i].want);
	}
	/* alg missing or not a string */
	VER3(JWT_E_HEADER, tokh(&k_rsa, "{\"kid\":\"rsa1\"}", p));
	VER3(JWT_E_HEADER, tokh(&k_rsa, "{\"alg\":[\"RS256\"],\"kid\":\"rsa1\"}", p));
	VER3(JWT_E_HEADER, tokh(&k_rsa, "{\"alg\":null,\"kid\":\"rsa1\"}", p));
}

/* Header members that carry or point at a key, or change how the token is
 * read, are refused even on a validly signed token. */
static void test_header_refused(void **state)
{
	static const char *const members[] = {
	    "\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
	    "\"jku\":\"https://evil.example.com/jwks\"",
	    "\"x5u\":\"https://evil.example.com/cert\"",
	    "\"x5c\":[\"MIIB\"]",
	    "\"crit\":[\"exp\"]",
	    "\"crit\":[]",
	    "\"b64\":false",
	    "\"zip\":\"DEF\"",
	    "\"enc\":\"A128GCM\"",
	    "\"jwk\":null",
	};
	const char *p = pay("");

	(void)state;
	for (size_t i = 0; i < NITEMS(members); i++) {
		const char *t =
		    tokh(&k_ed, fmt("{\"alg\":\"EdDSA\",\"kid\":\"ed1\",%s}", members[i]), p);

		VER3(JWT_E_HEADER, t);
		VER(JWT_E_HEADER, t, &set_svid, svid());
	}
	/* typ and kid have their types; kid its length */
	VER3(JWT_E_HEADER, tokh(&k_ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":1}", p));
	VER3(JWT_E_HEADER, tokh(&k_ed, "{\"alg\":\"EdDSA\",\"kid\":1}", p));
	VER3(JWT_E_HEADER, tokh(&k_ed, "{\"alg\":\"EdDSA\",\"kid\":null}", p));
	VER3(JWT_E_HEADER,
	     tokh(&k_ed, fmt("{\"alg\":\"EdDSA\",\"kid\":\"%0*d\"}", JWT_KID_MAX + 1, 0), p));
	VER3(JWT_E_UNKNOWN_KID,
	     tokh(&k_ed, fmt("{\"alg\":\"EdDSA\",\"kid\":\"%0*d\"}", JWT_KID_MAX, 0), p));
	/* outside SPIFFE, other members (cty, a private one) and any typ pass */
	VER3(JWT_OK,
	     tokh(&k_ed,
		  "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"at+jwt\",\"cty\":\"x\",\"ext\":1}",
		  p));
}

/* ---------------------------------------------------------------- form */

static void test_size(void **state)
{
	static const char *const hdrs[] = {
	    "{\"alg\":\"EdDSA\",\"kid\":\"ed1\"}",
	    "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"JWT\"}",
	    "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"JOSE\"}",
	};
	const char *t = NULL;
	char kid[JWT_KID_MAX + 1], *big = malloc(TXT_MAX);

	(void)state;
	/* a valid token of exactly JWT_MAX bytes passes, one byte more not */
	for (int padn = 5900; padn < 6200 && !t; padn++)
		for (size_t h = 0; h < NITEMS(hdrs) && !t; h++) {
			t = tokh(&k_ed, hdrs[h], pay(fmt(",\"pad\":\"%0*d\"", padn, 0)));
			if (strlen(t) != JWT_MAX)
				t = NULL;
		}
	assert_non_null(t);
	VER3(JWT_OK, t);
	VER3(JWT_E_SIZE, fmt("%sA", t));
	assert_string_equal(jwt_err_code(JWT_E_SIZE), "token_too_large");
	assert_non_null(big);
	keep(big);
	memset(big, 'A', TXT_MAX - 1);
	big[TXT_MAX - 1] = '\0';
	VER3(JWT_E_SIZE, big);
	assert_int_equal(jwt_peek_kid(big, strlen(big), kid), -EINVAL);
}

/* Stray low bits in the last character of a part whose length leaves some
 * (length % 4 of 2 or 3). */
static const char *stray_bits(const char *in)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *b = strdup(in);
	size_t n = strlen(in);
	int idx;

	keep(b);
	idx = (int)(strchr(alpha, b[n - 1]) - alpha);
	assert_true(n % 4 == 2 || n % 4 == 3);
	assert_int_equal(idx & (n % 4 == 2 ? 0x0f : 0x03), 0);
	b[n - 1] = alpha[idx | 1];
	return b;
}

/* JSON padded with spaces to a length of 1 mod 3, so that its encoding is
 * 2 mod 4 long and has stray bits to set. */
static const char *pad31(const char *json)
{
	size_t n = strlen(json);

	return fmt("%s%*s", json, (int)((4 - n % 3) % 3), "");
}

static void test_format(void **state)
{
	static const char *const shapes[] = {
	    "", ".", "..", "...", "abc", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c.",
	};
	const char *h = b64s(pad31("{\"alg\":\"ES256\",\"kid\":\"ec1\"}"));
	const char *p = b64s(pad31(pay("")));
	char t[1024], bad[1024];
	const char *sig;

	(void)state;
	snprintf(t, sizeof(t), "%s", tokp(&k_ec, h, p));
	VER3(JWT_OK, t);
	sig = strrchr(t, '.') + 1;
	for (size_t i = 0; i < NITEMS(shapes); i++)
		VER3(JWT_E_FORMAT, shapes[i]);
	/* parts missing or extra around a valid token */
	VER3(JWT_E_FORMAT, fmt("%s.%s", h, p));
	VER3(JWT_E_FORMAT, fmt("%s.", t));
	VER3(JWT_E_FORMAT, fmt("%s.%s", t, sig));
	VER3(JWT_E_FORMAT, fmt(".%s", t));
	VER3(JWT_E_FORMAT, fmt("%s..%s", h, sig));
	VER3(JWT_E_FORMAT, fmt("%s.%s..%s", h, p, sig));

	/* whitespace anywhere */
	VER3(JWT_E_FORMAT, fmt(" %s", t));
	VER3(JWT_E_FORMAT, fmt("%s\n", t));
	VER3(JWT_E_FORMAT, fmt("%s\r\n", t));
	VER3(JWT_E_FORMAT, fmt("%s .%s.%s", h, p, sig));
	VER3(JWT_E_FORMAT, fmt("%s.%s.%.10s\t%s", h, p, sig, sig + 10));
	/* in the payload: only read once the signature (over it) verifies */
	VER3(JWT_E_SIGNATURE, fmt("%s. %s.%s", h, p, sig));
	VER3(JWT_E_FORMAT, tokp(&k_ec, h, fmt(" %s", p)));
	/* a NUL inside the length given */
	snprintf(bad, sizeof(bad), "%s", t);
	bad[5] = '\0';
	{
		struct jwt_expect x = oidc();
		struct jwt out;

		assert_int_equal(ver_out(bad, strlen(t), &set3, &x, &out), JWT_E_FORMAT);
	}

	/* padding, in each part (signed over, so only the form is wrong) */
	VER3(JWT_E_FORMAT, tokp(&k_ec, fmt("%s==", h), p));
	VER3(JWT_E_FORMAT, tokp(&k_ec, h, fmt("%s==", p)));
	VER3(JWT_E_FORMAT, fmt("%s=", t)); /* 64 bytes: 86 characters, "==" short */
	VER3(JWT_E_FORMAT, fmt("%s==", t));

	/* stray low bits in the last character */
	VER3(JWT_E_FORMAT, tokp(&k_ec, stray_bits(h), p));
	VER3(JWT_E_FORMAT, tokp(&k_ec, h, stray_bits(p)));
	assert_int_equal(strlen(sig) % 4, 2);
	VER3(JWT_E_FORMAT, fmt("%s.%s", input_of(t), stray_bits(sig)));

	/* a length of 1 mod 4, and characters of the other alphabets */
	VER3(JWT_E_FORMAT, tokp(&k_ec, h, fmt("%sAAA", p)));
	VER3(JWT_E_FORMAT, fmt("%sAAA", t));
	snprintf(bad, sizeof(bad), "%s", t);
	bad[3] = '+';
	VER3(JWT_E_FORMAT, bad);
	snprintf(bad, sizeof(bad), "%s", p);
	bad[3] = '/';
	VER3(JWT_E_FORMAT, tokp(&k_ec, h, bad));
	snprintf(bad, sizeof(bad), "%s", t);
	strrchr(bad, '.')[3] = '+';
	VER3(JWT_E_FORMAT, bad);
}

/* Parts that decode but are not the JSON objects a token is made of. */
static void test_json_parts(void **state)
{
	static const char *const hdrs[] = {
	    "[\"alg\",\"ES256\"]",
	    "\"ES256\"",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\"",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"kid\":\"ec1\"}",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"alg\":\"none\"}",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"x\":{\"a\":1,\"a\":1}}",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\\u0000x\"}",
	    "{\"alg\":\"ES256\",\"kid\":\"ec1\"}{}",
	    "{\"alg\":\"ES256\",/*c*/\"kid\":\"ec1\"}",
	    "{\"alg\":\"ES256\",\"kid\":\"ec\xff\"}",
	    "",
	};
	static const char *const claims[] = {
	    ",\"sub\":\"root\"",
	    ",\"exp\":1700003600",
	    ",\"groups\":[{\"g\":1,\"g\":2}]",
	    ",\"note\":\"a\\u0000b\"",
	    ",\"groups\":[\"a\\u0000b\"]",
	};
	const char *p = pay("");
	char deep[256] = "";

	(void)state;
	for (size_t i = 0; i < NITEMS(hdrs); i++) {
		struct jwt_expect x = oidc();
		enum jwt_err e = ver(tokp(&k_ec, b64s(hdrs[i]), b64s(p)), &set3, &x);

		if (e != JWT_E_FORMAT)
			fail_msg("header %s: %d", hdrs[i], e);
	}
	/* payloads: not an object, repeated members, hidden NULs, trailing text */
	VER3(JWT_E_FORMAT, tok(&k_ec, "ES256", "ec1", "[]"));
	VER3(JWT_E_FORMAT, tok(&k_ec, "ES256", "ec1", "null"));
	VER3(JWT_E_FORMAT, tok(&k_ec, "ES256", "ec1", fmt("%sx", p)));
	for (size_t i = 0; i < NITEMS(claims); i++) {
		struct jwt_expect x = oidc();
		enum jwt_err e = ver(tok(&k_ec, "ES256", "ec1", pay(claims[i])), &set3, &x);

		if (e != JWT_E_FORMAT)
			fail_msg("claim %s: %d", claims[i], e);
	}
	VER3(JWT_E_FORMAT,
	     tok(&k_ec, "ES256", "ec1", payx(T_ISS, "alice\\u0000admin", Q_AUD, T_NOW + 60, "")));
	VER3(JWT_E_FORMAT, tok(&k_ec, "ES256", "ec1",
			       payx(T_ISS, "alice", "\"" T_AUD "\\u0000x\"", T_NOW + 60, "")));
	/* nested deeper than the parser allows (32) */
	for (int i = 0; i < 33; i++)
		strcat(deep, "[");
	for (int i = 0; i < 33; i++)
		strcat(deep, "]");
	VER3(JWT_E_FORMAT, tok(&k_ec, "ES256", "ec1", pay(fmt(",\"n\":%s", deep))));
	/* an escaped backslash before "u0000" is no NUL */
	VER3(JWT_OK, tok(&k_ec, "ES256", "ec1", pay(",\"note\":\"\\\\u0000\"")));
}

static void test_peek_kid(void **state)
{
	char kid[JWT_KID_MAX + 1];
	const char *p = pay(""), *t;

	(void)state;
	t = tok(&k_ec, "ES256", "ec1", p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), 0);
	assert_string_equal(kid, "ec1");
	/* the signature and alg are not looked at */
	t = tok(&k_rsa2, "HS256", "k-9", p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), 0);
	assert_string_equal(kid, "k-9");
	t = tok(&k_ec, "ES256", NULL, p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), -ENOENT);
	t = tokh(&k_ec, "{\"alg\":\"ES256\",\"kid\":7}", p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), -EINVAL);
	t = tokh(&k_ec, "{\"alg\":\"ES256\",\"kid\":\"a\",\"kid\":\"b\"}", p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), -EINVAL);
	t = tokh(&k_ec, fmt("{\"kid\":\"%0*d\"}", JWT_KID_MAX, 0), p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), 0);
	assert_int_equal(strlen(kid), JWT_KID_MAX);
	t = tokh(&k_ec, fmt("{\"kid\":\"%0*d\"}", JWT_KID_MAX + 1, 0), p);
	assert_int_equal(jwt_peek_kid(t, strlen(t), kid), -EINVAL);
	assert_int_equal(jwt_peek_kid("a.b", 3, kid), -EINVAL);
	assert_int_equal(jwt_peek_kid("e30.e30.e30", 11, kid), -ENOENT); /* {} */
	assert_int_equal(jwt_peek_kid("e30=.e30.e30", 12, kid), -EINVAL);
}

/* ---------------------------------------------------------------- SPIFFE */

static void test_spiffe(void **state)
{
	static const char *const not_ours[] = {
	    "spiffe://other.org/ns/prod/sa/web", "spiffe://example.org.evil/ns/prod",
	    "spiffe://sub.example.org/ns/prod",	 "alice",
	    "spiffe://Example.org/ns/prod",	 "spiffe://example.org/ns/prod/",
	};
	const char *p = svid_pay(T_SVID, ",\"iat\":1699999990"), *t;
	struct jwt_expect x = svid();
	struct jwt out;

	(void)state;
	t = tok(&k_ec, "ES256", "ec1", p);
	assert_int_equal(ver_out(t, strlen(t), &set_svid, &x, &out), JWT_OK);
	assert_string_equal(out.sub, T_SVID);
	assert_string_equal(out.iss, "");
	assert_string_equal(out.kid, "ec1");
	jwt_free(&out);
	/* each algorithm; typ JOSE or absent; an iss is not checked */
	VER(JWT_OK, tok(&k_rsa, "RS256", "rsa1", p), &set_svid, svid());
	VER(JWT_OK, tokh(&k_ed, "{\"alg\":\"EdDSA\",\"kid\":\"ed1\",\"typ\":\"JOSE\"}", p),
	    &set_svid, svid());
	VER(JWT_OK, tokh(&k_ed, "{\"kid\":\"ed1\",\"alg\":\"EdDSA\"}", p), &set_svid, svid());
	t = tok(&k_ec, "ES256", "ec1", svid_pay(T_SVID, ",\"iss\":\"https://anything\""));
	VER(JWT_OK, t, &set_svid, svid());
	VER(JWT_E_ISSUER, t, &set_svid, oidc()); /* the OIDC rules would want the issuer */

	/* sub: a SPIFFE ID of the trust domain */
	for (size_t i = 0; i < NITEMS(not_ours); i++)
		VER(JWT_E_SPIFFE_ID, tok(&k_ec, "ES256", "ec1", svid_pay(not_ours[i], "")),
		    &set_svid, svid());
	assert_string_equal(jwt_err_code(JWT_E_SPIFFE_ID), "token_wrong_subject");
	/* no trust domain configured: nothing matches */
	x.trust_domain = NULL;
	VER(JWT_E_SPIFFE_ID, tok(&k_ec, "ES256", "ec1", svid_pay(T_SVID, "")), &set_svid, x);
	/* the other claims still hold */
	VER(JWT_E_AUDIENCE,
	    tok(&k_ec, "ES256", "ec1",
		fmt("{\"sub\":\"" T_SVID "\",\"aud\":\"other\",\"exp\":%llu}", T_NOW + 60)),
	    &set_svid, svid());
	VER(JWT_E_EXPIRED,
	    tok(&k_ec, "ES256", "ec1",
		fmt("{\"sub\":\"" T_SVID "\",\"aud\":" Q_AUD ",\"exp\":%llu}", T_NOW)),
	    &set_svid, svid());
}

static void test_spiffe_header(void **state)
{
	static const struct {
		const char *hdr;
		enum jwt_err svid, oidc;
	} cases[] = {
	    {"{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"JWT\",\"cty\":\"JWT\"}", JWT_E_HEADER,
	     JWT_OK},
	    {"{\"alg\":\"ES256\",\"kid\":\"ec1\",\"x-ext\":true}", JWT_E_HEADER, JWT_OK},
	    {"{\"alg\":\"ES256\",\"typ\":\"JWT\"}", JWT_E_HEADER, JWT_E_UNKNOWN_KID},
	    {"{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"at+jwt\"}", JWT_E_HEADER, JWT_OK},
	    {"{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"jwt\"}", JWT_E_HEADER, JWT_OK},
	    {"{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"\"}", JWT_E_HEADER, JWT_OK},
	    {"{\"alg\":\"ES256\",\"kid\":\"ec1\",\"typ\":\"JWT\"}", JWT_OK, JWT_OK},
	    {"{\"alg\":\"ES256\",\"kid\":\"ec2\",\"typ\":\"JWT\"}", JWT_E_UNKNOWN_KID,
	     JWT_E_UNKNOWN_KID},
	};
	const char *p = svid_pay(T_SVID, ",\"iss\":\"" T_ISS "\"");
	struct jwks one;

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++) {
		struct jwt_expect xs = svid(), xo = oidc();
		const char *t = tokh(&k_ec, cases[i].hdr, p);
		enum jwt_err es = ver(t, &set_svid, &xs), eo = ver(t, &set_svid, &xo);

		if (es != cases[i].svid || eo != cases[i].oidc)
			fail_msg("%s: spiffe %d (not %d), oidc %d (not %d)", cases[i].hdr, es,
				 cases[i].svid, eo, cases[i].oidc);
	}
	/* no kid is refused even when the bundle holds one key */
	assert_int_equal(
	    parse(doc("", jwk(&k_ec, "ec1", ",\"use\":\"jwt-svid\""), NULL), JWKS_SPIFFE, &one), 0);
	assert_int_equal(one.n, 1);
	VER(JWT_E_HEADER, tokh(&k_ec, "{\"alg\":\"ES256\"}", p), &one, svid());
	VER(JWT_OK, tokh(&k_ec, "{\"alg\":\"ES256\"}", p), &one, oidc());
	jwks_free(&one);
}

/* ---------------------------------------------------------------- key sets */

static void test_jwks_oidc(void **state)
{
	const char *d = doc(
	    "\"extra\":{\"x\":1},", jwk(&k_rsa, "a", ""),
	    jwk(&k_ec, "b", ",\"use\":\"sig\",\"alg\":\"ES256\""),
	    jwk(&k_ed, "c", ",\"use\":\"sig\",\"key_ops\":[\"verify\"]"),
	    jwk(&k_rsa2, "d", ",\"use\":\"enc\""), jwk(&k_rsa2, "e", ",\"use\":\"jwt-svid\""),
	    "{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"f\",\"x\":\"AA\",\"y\":\"AA\"}",
	    "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"g\",\"x\":\"AA\"}",
	    "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"kid\":\"h\",\"x\":\"AA\"}",
	    "{\"kty\":\"oct\",\"kid\":\"i\",\"alg\":\"HS256\"}",
	    "{\"kty\":\"EC\",\"kid\":\"j\",\"x\":\"AA\",\"y\":\"AA\"}",
	    "{\"kty\":\"RSA-PSS\",\"kid\":\"k\"}",
	    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"l\",\"use\":\"sig\",\"alg\":\"ES384\"}",
	    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"m\",\"alg\":7}",
	    jwk(&k_rsa2, "n", ",\"alg\":\"ES256\""), jwk(&k_rsa2, "o", ",\"alg\":\"RS512\""),
	    jwk(&k_ed, "p", ",\"alg\":\"ES256\""), jwk(&k_rsa2, "q", ",\"alg\":\"RS256\""), NULL);
	static const struct {
		const char *kid;
		enum jwt_alg alg;
	} kept[] = {
	    {"a", JWT_ALG_RS256}, {"b", JWT_ALG_ES256}, {"c", JWT_ALG_EDDSA}, {"q", JWT_ALG_RS256}};
	struct jwks s;

	(void)state;
	assert_int_equal(parse(d, JWKS_OIDC, &s), 0);
	assert_int_equal(s.n, NITEMS(kept));
	assert_int_equal(s.skipped, 13);
	for (size_t i = 0; i < NITEMS(kept); i++) {
		assert_string_equal(s.keys[i].kid, kept[i].kid);
		assert_int_equal(s.keys[i].alg, kept[i].alg);
		assert_true(s.keys[i].has_kid);
		assert_non_null(s.keys[i].pkey);
	}
	jwks_free(&s);
	/* the same document as a SPIFFE bundle: only the jwt-svid key */
	assert_int_equal(parse(d, JWKS_SPIFFE, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.skipped, 16);
	assert_string_equal(s.keys[0].kid, "e");
	jwks_free(&s);
	/* an empty set is a set */
	assert_int_equal(parse("{\"keys\":[]}", JWKS_OIDC, &s), 0);
	assert_int_equal(s.n + s.skipped, 0);
}

/* An RSA JWK of modulus bytes \p n and exponent text \p e. */
static const char *rsa_jwk(const uint8_t *n, size_t len, const char *e)
{
	return fmt("{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":%s}", b64(n, len), e);
}

static const char *ec_jwk(const uint8_t *x, size_t xl, const uint8_t *y, size_t yl)
{
	return fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}", b64(x, xl),
		   b64(y, yl));
}

static void test_jwks_rsa(void **state)
{
	static const char *const bad_e[] = {
	    "\"AQAA\"",	  /* 65536: even */
	    "\"AQ\"",	  /* 1 */
	    "\"AAEAAQ\"", /* a leading zero */
	    "\"AQAB=\"",  "\"\"", "65537", "null",
	};
	uint8_t n[600];
	size_t nn = bn_param(&k_rsa, OSSL_PKEY_PARAM_RSA_N, n + 1, 0);
	char err[256];
	struct jwks s;
	const char *d;

	(void)state;
	/* below 2048 bits, unless not for this profile */
	d = doc("", jwk(&k_rsa1024, "r", ""), NULL);
	assert_int_equal(jwks_parse(d, strlen(d), JWKS_OIDC, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "1024 bits"));
	KEPT(0, jwk(&k_rsa1024, "r", ",\"use\":\"enc\""), JWKS_OIDC);
	/* the modulus minimal, the exponent odd and above 1 */
	KEPT(1, rsa_jwk(n + 1, nn, "\"AQAB\""), JWKS_OIDC);
	n[0] = 0;
	REFUSED(rsa_jwk(n, nn + 1, "\"AQAB\""), JWKS_OIDC);
	for (size_t i = 0; i < NITEMS(bad_e); i++)
		REFUSED(rsa_jwk(n + 1, nn, bad_e[i]), JWKS_OIDC);
	REFUSED(fmt("{\"kty\":\"RSA\",\"n\":\"%s\"}", b64(n + 1, nn)), JWKS_OIDC);
	/* 256 bytes with the top bits clear: 2041 bits */
	n[1] = 0x01;
	REFUSED(rsa_jwk(n + 1, nn, "\"AQAB\""), JWKS_OIDC);
}

static void test_jwks_ec_okp(void **state)
{
	uint8_t x[32], y[32], z[32] = {0};

	(void)state;
	bn_param(&k_ec, OSSL_PKEY_PARAM_EC_PUB_X, x, 32);
	bn_param(&k_ec, OSSL_PKEY_PARAM_EC_PUB_Y, y, 32);
	KEPT(1, ec_jwk(x, 32, y, 32), JWKS_OIDC);
	y[31] ^= 1; /* off the curve */
	REFUSED(ec_jwk(x, 32, y, 32), JWKS_OIDC);
	y[31] ^= 1;
	REFUSED(ec_jwk(x, 32, y, 31), JWKS_OIDC);
	REFUSED(ec_jwk(x, 31, y, 32), JWKS_OIDC);
	REFUSED(fmt("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\"}", b64(x, 32)), JWKS_OIDC);
	REFUSED(ec_jwk(z, 32, z, 32), JWKS_OIDC); /* (0, 0) is not on it either */
	/* Ed25519: 32 bytes */
	REFUSED("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}", JWKS_OIDC);
	REFUSED("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}", JWKS_OIDC);
}

/* Private key material, members of the wrong type: the whole set refused. */
static void test_jwks_refused(void **state)
{
	(void)state;
	REFUSED(jwk(&k_ec, "p", ",\"d\":\"AAAA\""), JWKS_OIDC);
	REFUSED(jwk(&k_rsa, "p", ",\"p\":\"AAAA\",\"q\":\"AAAA\""), JWKS_OIDC);
	REFUSED(jwk(&k_ed, "p", ",\"d\":\"AAAA\""), JWKS_SPIFFE);
	REFUSED("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}", JWKS_OIDC);
	REFUSED("{\"kty\":7}", JWKS_OIDC);
	REFUSED("{\"crv\":\"P-256\"}", JWKS_OIDC);
	REFUSED("7", JWKS_OIDC);
	REFUSED("[]", JWKS_OIDC);
	REFUSED(jwk(&k_ed, NULL, ",\"use\":1"), JWKS_OIDC);
	REFUSED(jwk(&k_ed, NULL, ",\"kid\":1"), JWKS_OIDC);
	REFUSED(jwk(&k_ed, NULL, fmt(",\"kid\":\"%0*d\"", JWT_KID_MAX + 1, 0)), JWKS_OIDC);
	KEPT(1, jwk(&k_ed, NULL, fmt(",\"kid\":\"%0*d\"", JWT_KID_MAX, 0)), JWKS_OIDC);
}

static void test_jwks_kids(void **state)
{
	size_t n, sk;
	struct jwks s;

	(void)state;
	/* a repeated kid, even on keys of different types */
	assert_int_equal(
	    parse_keys(JWKS_OIDC, &n, &sk, jwk(&k_ec, "same", ""), jwk(&k_ed, "same", ""), NULL),
	    -EINVAL);
	/* a skipped key does not count */
	assert_int_equal(parse_keys(JWKS_OIDC, &n, &sk, jwk(&k_ec, "same", ",\"use\":\"enc\""),
				    jwk(&k_ed, "same", ""), NULL),
			 0);
	assert_int_equal(n, 1);
	/* two keys without kid are as ambiguous as a repeated one */
	assert_int_equal(
	    parse_keys(JWKS_OIDC, &n, &sk, jwk(&k_ec, NULL, ""), jwk(&k_ed, NULL, ""), NULL),
	    -EINVAL);
	assert_int_equal(
	    parse_keys(JWKS_OIDC, &n, &sk, jwk(&k_ec, NULL, ""), jwk(&k_ed, "x", ""), NULL), 0);
	assert_int_equal(n, 2);

	/* SPIFFE: only jwt-svid keys, and each names itself */
	REFUSED(jwk(&k_ec, NULL, ",\"use\":\"jwt-svid\""), JWKS_SPIFFE);
	KEPT(0, jwk(&k_ec, NULL, ",\"use\":\"jwt-svid\""), JWKS_OIDC); /* not its use */
	assert_int_equal(parse(doc("\"spiffe_sequence\":1,",
				   jwk(&k_ec, "a", ",\"use\":\"x509-svid\",\"x5c\":[\"MIIB\"]"),
				   jwk(&k_ed, "b", ""), jwk(&k_ed, "c", ",\"use\":\"sig\""),
				   jwk(&k_rsa, "d", ",\"use\":\"jwt-svid\""),
				   jwk(&k_ed, NULL, ",\"use\":\"x509-svid\""), NULL),
			       JWKS_SPIFFE, &s),
			 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.skipped, 4);
	assert_string_equal(s.keys[0].kid, "d");
	jwks_free(&s);
}

static void test_jwks_documents(void **state)
{
	static const char *const docs[] = {
	    "",
	    "[]",
	    "{}",
	    "\"keys\"",
	    "{\"keys\":{}}",
	    "{\"keys\":null}",
	    "{\"Keys\":[]}",
	    "{\"keys\":[]",
	    "{\"keys\":[]}x",
	    "{\"keys\":[],\"keys\":[]}",
	    "{\"keys\":[{\"kty\":\"RSA\",\"kty\":\"EC\"}]}",
	    "{\"keys\":[{\"kty\":\"XX\",\"a\":{\"b\":1,\"b\":2}}]}",
	    "{\"keys\":[],\"x\":[{\"y\":1,\"y\":1}]}",
	    "{\"keys\":[{\"kty\":\"XX\",\"kid\":\"a\\u0000b\"}]}",
	    "{\"keys\":[] /* c */}",
	    "{\"keys\":[{\"kty\":\"X\xff\"}]}",
	};
	char *big = malloc(JWKS_MAX + 1);
	struct jwks s;

	(void)state;
	assert_non_null(big);
	keep(big);
	for (size_t i = 0; i < NITEMS(docs); i++) {
		if (parse(docs[i], JWKS_OIDC, &s) != -EINVAL)
			fail_msg("accepted: %s", docs[i]);
		if (parse(docs[i], JWKS_SPIFFE, &s) != -EINVAL)
			fail_msg("accepted as a bundle: %s", docs[i]);
	}
	/* unknown key types are skipped, not refused */
	assert_int_equal(parse("{\"keys\":[{\"kty\":\"XX\"}]}", JWKS_OIDC, &s), 0);
	assert_int_equal(s.skipped, 1);
	/* at most JWKS_MAX bytes */
	memset(big, ' ', JWKS_MAX + 1);
	memcpy(big, "{\"keys\":[]}", 11);
	assert_int_equal(jwks_parse(big, JWKS_MAX, JWKS_OIDC, &s, NULL, 0), 0);
	assert_int_equal(jwks_parse(big, JWKS_MAX + 1, JWKS_OIDC, &s, NULL, 0), -EINVAL);
}

/* More usable keys than JWKS_KEYS_MAX: the first are kept, the rest
 * counted as skipped. */
static void test_jwks_cap(void **state)
{
	char d[TXT_MAX] = "";
	struct jwks s;

	(void)state;
	cat(d, "{\"keys\":[");
	for (int i = 0; i < JWKS_KEYS_MAX + 8; i++)
		cat(d, "%s%s", i ? "," : "", jwk(i % 2 ? &k_ed : &k_ec, fmt("k%d", i), ""));
	cat(d, "]}");
	assert_int_equal(parse(d, JWKS_OIDC, &s), 0);
	assert_int_equal(s.n, JWKS_KEYS_MAX);
	assert_int_equal(s.skipped, 8);
	assert_string_equal(s.keys[JWKS_KEYS_MAX - 1].kid, "k31");
	jwks_free(&s);
}

/* ---------------------------------------------------------------- SPIFFE IDs */

static void test_spiffe_id(void **state)
{
	static const char *const valid[] = {
	    "spiffe://example.org/a",
	    "spiffe://example.org/ns/prod/sa/web",
	    "spiffe://example.org/A-Z_a.z09",
	    "spiffe://example.org/a/.b/..c/...",
	    "spiffe://a.b-c_d/x",
	    "spiffe://1.2.3.4/x",
	};
	static const char *const invalid[] = {
	    "",
	    "spiffe://",
	    "spiffe:///a",
	    "spiffe://Example.org/a",
	    "spiffe://EXAMPLE.ORG/a",
	    "SPIFFE://example.org/a",
	    "spiffe:/example.org/a",
	    "http://example.org/a",
	    "spiffe://example.org/",
	    "spiffe://example.org/a/",
	    "spiffe://example.org//a",
	    "spiffe://example.org", /* the trust domain's ID, not a workload's */
	    "spiffe://example.org/a//b",
	    "spiffe://example.org/.",
	    "spiffe://example.org/./a",
	    "spiffe://example.org/a/..",
	    "spiffe://example.org/../a",
	    "spiffe://example.org/a%20b",
	    "spiffe://example.org/%2e",
	    "spiffe://example.org/a?x=1",
	    "spiffe://example.org/a#f",
	    "spiffe://example.org?x",
	    "spiffe://example.org:8080/a",
	    "spiffe://user@example.org/a",
	    "spiffe://exa mple.org/a",
	    "spiffe://example.org/a b",
	    "spiffe://example.org/*",
	    "spiffe://example.org/a\\b",
	    "spiffe://example.org/caf\xc3\xa9",
	    " spiffe://example.org/a",
	};
	char td[256];
	const char *id;

	(void)state;
	for (size_t i = 0; i < NITEMS(valid); i++)
		if (!spiffe_id_valid(valid[i], NULL, 0))
			fail_msg("refused: %s", valid[i]);
	for (size_t i = 0; i < NITEMS(invalid); i++)
		if (spiffe_id_valid(invalid[i], td, sizeof(td)))
			fail_msg("accepted: %s", invalid[i]);
	assert_true(spiffe_id_valid("spiffe://example.org/ns/x", td, sizeof(td)));
	assert_string_equal(td, "example.org");
	assert_false(spiffe_id_valid("spiffe://example.org/ns/x", td, 11)); /* no room */
	assert_true(spiffe_id_valid("spiffe://example.org/ns/x", td, 12));
	/* a trust domain of 255 bytes, not 256; an ID of 2048 bytes, not more */
	assert_true(spiffe_id_valid(fmt("spiffe://%0*d/a", 255, 0), td, sizeof(td)));
	assert_int_equal(strlen(td), 255);
	assert_false(spiffe_id_valid(fmt("spiffe://%0*d/a", 256, 0), NULL, 0));
	id = fmt("spiffe://example.org/%0*d", 2048 - 21, 0);
	assert_int_equal(strlen(id), 2048);
	assert_true(spiffe_id_valid(id, NULL, 0));
	assert_false(spiffe_id_valid(fmt("%s0", id), NULL, 0));
}

static void test_spiffe_match(void **state)
{
	static const struct {
		const char *pattern, *id;
		int match;
	} cases[] = {
	    {"spiffe://example.org/agents/*", "spiffe://example.org/agents/a", 1},
	    {"spiffe://example.org/agents/*", "spiffe://example.org/agents/a/b", 1},
	    {"spiffe://example.org/agents/*", "spiffe://example.org/agents", 0},
	    {"spiffe://example.org/agents/*", "spiffe://example.org/other/a", 0},
	    {"spiffe://example.org/agents/*", "spiffe://example.org/agentsx/a", 0},
	    {"spiffe://example.org/agents/*", "spiffe://example.org", 0},
	    {"spiffe://example.org/agents/*", "spiffe://other.org/agents/a", 0},
	    {"spiffe://example.org/agents/*", "spiffe://example.org.evil/agents/a", 0},
	    {"spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/prod/sa/web", 1},
	    {"spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/dev/sa/web", 1},
	    {"spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/a/b/sa/web", 0},
	    {"spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/sa/web", 0},
	    {"spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/prod/sa/web/x", 0},
	    {"spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/prod/sa/db", 0},
	    {"spiffe://example.org/*/*", "spiffe://example.org/a/b", 1},
	    {"spiffe://example.org/*/*", "spiffe://example.org/a/b/c", 1},
	    {"spiffe://example.org/*/*", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/*", "spiffe://example.org/x", 1},
	    {"spiffe://example.org/*", "spiffe://example.org/x/y", 1},
	    {"spiffe://example.org/*", "spiffe://example.org", 0},
	    {"spiffe://example.org", "spiffe://example.org", 0}, /* no workload */
	    {"spiffe://example.org", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/a", "spiffe://example.org/a", 1},
	    {"spiffe://example.org/a", "spiffe://example.org/a/b", 0},
	    {"spiffe://example.org/a", "spiffe://example.org/A", 0},
	    {"spiffe://example.org/a/b", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/ab", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/a", "spiffe://example.org/ab", 0},
	    /* a star is a whole segment, and only in patterns */
	    {"spiffe://example.org/a*", "spiffe://example.org/ab", 0},
	    {"spiffe://example.org/*a", "spiffe://example.org/ba", 0},
	    {"spiffe://example.org/**", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/*", "spiffe://example.org/*", 0},
	    {"spiffe://*/a", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/*/", "spiffe://example.org/a/", 0},
	    /* either side invalid */
	    {"spiffe://Example.org/*", "spiffe://example.org/a", 0},
	    {"spiffe://example.org/*", "spiffe://example.org/a/../b", 0},
	    {"spiffe://example.org/*", "spiffe://example.org/a?x", 0},
	    {"spiffe://example.org/*", "", 0},
	    {"", "spiffe://example.org/a", 0},
	};

	(void)state;
	for (size_t i = 0; i < NITEMS(cases); i++)
		if (spiffe_id_match(cases[i].pattern, cases[i].id) != cases[i].match)
			fail_msg("%s ~ %s is not %d", cases[i].pattern, cases[i].id,
				 cases[i].match);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, arena_free)
	const struct CMUnitTest tests[] = {
	    T(test_codes),
	    T(test_valid),
	    T(test_optional_claims),
	    T(test_iss_sub),
	    T(test_audience),
	    T(test_times),
	    T(test_signature_first),
	    T(test_tamper),
	    T(test_kid),
	    T(test_sig_shapes),
	    T(test_es256_der),
	    T(test_alg_none),
	    T(test_alg_hmac),
	    T(test_alg_key),
	    T(test_header_refused),
	    T(test_size),
	    T(test_format),
	    T(test_json_parts),
	    T(test_peek_kid),
	    T(test_spiffe),
	    T(test_spiffe_header),
	    T(test_jwks_oidc),
	    T(test_jwks_rsa),
	    T(test_jwks_ec_okp),
	    T(test_jwks_refused),
	    T(test_jwks_kids),
	    T(test_jwks_documents),
	    T(test_jwks_cap),
	    T(test_spiffe_id),
	    T(test_spiffe_match),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
