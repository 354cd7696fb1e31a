/* jwt.c - see jwt.h: a compact JWS token taken apart strictly, its
 * signature checked with the key its kid names (the key, not the token,
 * fixes the algorithm), then its claims against what the network expects;
 * and SPIFFE IDs.  Order matters: nothing from the payload is believed
 * before the signature verifies.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwt.h"
#include "jwt_int.h"

#define SPIFFE_PREFIX "spiffe://"
#define SPIFFE_ID_MAX 2048 /* the SPIFFE ID standard's limit */
#define TD_MAX 255

static enum jwt_err fail(char *msg, size_t msglen, enum jwt_err e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum jwt_err fail(char *msg, size_t msglen, enum jwt_err e, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return e;
}

const char *jwt_err_code(enum jwt_err e)
{
	switch (e) {
	case JWT_OK:
		return "ok";
	case JWT_E_SIZE:
		return "token_too_large";
	case JWT_E_FORMAT:
	case JWT_E_HEADER:
	case JWT_E_CLAIMS:
		return "token_invalid";
	case JWT_E_ALG_NONE:
	case JWT_E_ALG_HMAC:
	case JWT_E_ALG:
		return "token_bad_alg";
	case JWT_E_UNKNOWN_KID:
		return "token_unknown_key";
	case JWT_E_SIGNATURE:
		return "token_bad_signature";
	case JWT_E_ISSUER:
		return "token_wrong_issuer";
	case JWT_E_AUDIENCE:
		return "token_wrong_audience";
	case JWT_E_EXPIRED:
		return "token_expired";
	case JWT_E_NOT_YET:
		return "token_not_yet_valid";
	case JWT_E_SPIFFE_ID:
		return "token_wrong_subject";
	case JWT_E_NOMEM:
		return "internal";
	}
	return "token_invalid";
}

/* One base64url part of JSON: decoded, parsed, an object with no repeated
 * key and no hidden NUL.  \retval the tree or NULL. */
static yajl_val json_part(const char *s, size_t len, char *why, size_t whylen)
{
	uint8_t buf[JWT_MAX];
	size_t n;
	yajl_val v;

	if (jwt_b64url_decode(s, len, buf, sizeof(buf), &n) < 0) {
		snprintf(why, whylen, "not canonical base64url");
		return NULL;
	}
	if (json_has_nul_escape((const char *)buf, n)) {
		snprintf(why, whylen, "JSON with a \\u0000 escape");
		return NULL;
	}
	v = json_parse((const char *)buf, n, 0, why, whylen);
	if (v && (!YAJL_IS_OBJECT(v) || json_has_dup_keys(v))) {
		snprintf(why, whylen,
			 YAJL_IS_OBJECT(v) ? "a JSON member appears twice" : "not a JSON object");
		yajl_tree_free(v);
		return NULL;
	}
	return v;
}

struct parts {
	const char *h, *p, *s; /* header, payload, signature */
	size_t hl, pl, sl;
};

static int split(const char *tok, size_t len, struct parts *pt)
{
	const char *d1 = memchr(tok, '.', len), *d2;

	if (!d1)
		return -EINVAL;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		return -EINVAL;
	pt->h = tok;
	pt->hl = (size_t)(d1 - tok);
	pt->p = d1 + 1;
	pt->pl = (size_t)(d2 - pt->p);
	pt->s = d2 + 1;
	pt->sl = len - (size_t)(pt->s - tok);
	/* An empty signature is judged after the header: "alg none" tokens
	 * have one, and deserve their own refusal. */
	return pt->hl && pt->pl ? 0 : -EINVAL;
}

/* The header: its alg and kid, and nothing that is refused. */
static enum jwt_err check_header(yajl_val h, const struct jwt_expect *x, struct jwt *out,
				 int *has_kid, char *msg, size_t msglen)
{
	static const char *const spiffe_ok[] = {"alg", "kid", "typ", NULL};
	/* Members that carry a key, point at one, or change how the token is
	 * read: a verifier that honours them lets the token choose its key. */
	static const char *const refused[] = {"jwk", "jku", "x5u", "x5c", "crit",
					      "b64", "zip", "enc", NULL};
	const char *alg, *kid, *typ, *bad;

	if (x->spiffe && json_only_keys(h, spiffe_ok, &bad) < 0)
		return fail(msg, msglen, JWT_E_HEADER,
			    "a JWT-SVID header holds only alg, kid and typ, not '%s'", bad);
	for (size_t i = 0; refused[i]; i++)
		if (json_get(h, refused[i]))
			return fail(msg, msglen, JWT_E_HEADER, "header member '%s' is refused",
				    refused[i]);
	if (json_get_str(h, "alg", &alg) < 0)
		return fail(msg, msglen, JWT_E_HEADER, "header without a string alg");
	if (strcmp(alg, "none") == 0 || strcmp(alg, "None") == 0 || strcmp(alg, "NONE") == 0)
		return fail(msg, msglen, JWT_E_ALG_NONE, "alg none: unsigned tokens are refused");
	if (strncmp(alg, "HS", 2) == 0)
		return fail(msg, msglen, JWT_E_ALG_HMAC,
			    "alg %.16s: HMAC tokens are refused (keys here are public)", alg);
	out->alg = jwt_alg_from_name(alg);
	if (!out->alg)
		return fail(msg, msglen, JWT_E_ALG, "alg '%.16s' is not RS256, ES256 or EdDSA",
			    alg);
	if (json_get(h, "typ")) {
		if (json_get_str(h, "typ", &typ) < 0)
			return fail(msg, msglen, JWT_E_HEADER, "typ is not a string");
		if (x->spiffe && strcmp(typ, "JWT") != 0 && strcmp(typ, "JOSE") != 0)
			return fail(msg, msglen, JWT_E_HEADER, "a JWT-SVID's typ is JWT or JOSE");
	}
	*has_kid = json_get(h, "kid") != NULL;
	if (*has_kid) {
		if (json_get_str(h, "kid", &kid) < 0 || strlen(kid) > JWT_KID_MAX)
			return fail(msg, msglen, JWT_E_HEADER,
				    "kid is not a string of at most %d bytes", JWT_KID_MAX);
		snprintf(out->kid, sizeof(out->kid), "%s", kid);
	} else if (x->spiffe) {
		return fail(msg, msglen, JWT_E_HEADER, "a JWT-SVID header must name its key (kid)");
	}
	return JWT_OK;
}

/* The key: by kid, or the set's only key when the token names none. */
static enum jwt_err pick_key(const struct jwks *keys, const struct jwt *t, int has_kid,
			     const struct jwk **k, char *msg, size_t msglen)
{
	*k = NULL;
	if (has_kid) {
		for (size_t i = 0; i < keys->n; i++)
			if (keys->keys[i].has_kid && strcmp(keys->keys[i].kid, t->kid) == 0)
				*k = &keys->keys[i];
		if (!*k)
			return fail(msg, msglen, JWT_E_UNKNOWN_KID, "no key with kid '%s'", t->kid);
	} else if (keys->n == 1) {
		*k = &keys->keys[0];
	} else {
		return fail(msg, msglen, JWT_E_UNKNOWN_KID,
			    "the token names no key (kid) and the set has %zu", keys->n);
	}
	if ((*k)->alg != t->alg)
		return fail(msg, msglen, JWT_E_ALG, "the token's alg is not its key's");
	return JWT_OK;
}

/* A NumericDate (seconds, possibly fractional): \retval 0, -ENOENT, -EINVAL. */
static int get_date(yajl_val o, const char *name, uint64_t *out)
{
	yajl_val v = json_get(o, name);
	double d;

	if (!v)
		return -ENOENT;
	if (YAJL_IS_INTEGER(v)) {
		if (YAJL_GET_INTEGER(v) < 0)
			return -EINVAL;
		*out = (uint64_t)YAJL_GET_INTEGER(v);
		return 0;
	}
	if (!YAJL_IS_DOUBLE(v))
		return -EINVAL;
	d = YAJL_GET_DOUBLE(v);
	if (!isfinite(d) || d < 0 || d > 1e15)
		return -EINVAL;
	*out = (uint64_t)d; /* truncation: floor, as d >= 0 */
	return 0;
}

static int get_bounded_str(yajl_val o, const char *name, char *out, size_t outlen)
{
	const char *s;

	if (!json_get(o, name))
		return -ENOENT;
	if (json_get_str(o, name, &s) < 0 || !*s || strlen(s) >= outlen)
		return -EINVAL;
	snprintf(out, outlen, "%s", s);
	return 0;
}

/* A string member's text (the caller checked YAJL_IS_STRING). */
static const char *str_of(yajl_val v)
{
	return v->u.string;
}

/* Is \p v the string \p want, or an array holding it (aud, groups)? */
static int str_or_member(yajl_val v, const char *want)
{
	if (YAJL_IS_STRING(v))
		return strcmp(str_of(v), want) == 0;
	if (!YAJL_IS_ARRAY(v))
		return 0;
	for (size_t i = 0; i < v->u.array.len; i++)
		if (YAJL_IS_STRING(v->u.array.values[i]) &&
		    strcmp(str_of(v->u.array.values[i]), want) == 0)
			return 1;
	return 0;
}

static enum jwt_err check_claims(yajl_val p, const struct jwt_expect *x, struct jwt *t, char *msg,
				 size_t msglen)
{
	unsigned leeway = x->leeway_s > JWT_LEEWAY_MAX ? JWT_LEEWAY_MAX : x->leeway_s;
	char td[TD_MAX + 1];
	int rc;

	rc = get_bounded_str(p, "iss", t->iss, sizeof(t->iss));
	if (rc == -EINVAL || (rc == -ENOENT && x->issuer))
		return fail(msg, msglen, JWT_E_CLAIMS, "iss missing or not a string");
	if (x->issuer && strcmp(t->iss, x->issuer) != 0)
		return fail(msg, msglen, JWT_E_ISSUER, "iss '%.80s' is not the network's issuer",
			    t->iss);
	if (get_bounded_str(p, "sub", t->sub, sizeof(t->sub)) < 0)
		return fail(msg, msglen, JWT_E_CLAIMS, "sub missing, empty or longer than %d bytes",
			    JWT_STR_MAX);
	if (get_bounded_str(p, "jti", t->jti, sizeof(t->jti)) == -EINVAL)
		return fail(msg, msglen, JWT_E_CLAIMS, "jti is not a string");
	if (!x->audience || !str_or_member(json_get(p, "aud"), x->audience))
		return fail(msg, msglen, JWT_E_AUDIENCE, "aud does not hold '%.80s'", x->audience);
	if (get_date(p, "exp", &t->exp) < 0)
		return fail(msg, msglen, JWT_E_CLAIMS, "exp missing or not a date");
	if (get_date(p, "nbf", &t->nbf) == -EINVAL || get_date(p, "iat", &t->iat) == -EINVAL)
		return fail(msg, msglen, JWT_E_CLAIMS, "nbf or iat is not a date");
	if (x->now_s >= t->exp + leeway)
		return fail(msg, msglen, JWT_E_EXPIRED, "expired %llu s ago",
			    (unsigned long long)(x->now_s - t->exp));
	if (t->nbf > x->now_s + leeway)
		return fail(msg, msglen, JWT_E_NOT_YET, "not valid for another %llu s",
			    (unsigned long long)(t->nbf - x->now_s));
	if (x->spiffe) {
		if (!spiffe_id_valid(t->sub, td, sizeof(td)))
			return fail(msg, msglen, JWT_E_SPIFFE_ID, "sub is not a SPIFFE ID");
		if (!x->trust_domain || strcmp(td, x->trust_domain) != 0)
			return fail(msg, msglen, JWT_E_SPIFFE_ID,
				    "sub is not in trust domain '%.80s'",
				    x->trust_domain ? x->trust_domain : "");
	}
	return JWT_OK;
}

enum jwt_err jwt_verify(const char *tok, size_t len, const struct jwks *keys,
			const struct jwt_expect *x, struct jwt *out, char *msg, size_t msglen)
{
	uint8_t sig[1024];
	char why[128] = "";
	struct parts pt;
	const struct jwk *k;
	yajl_val h;
	size_t siglen;
	int has_kid = 0;
	enum jwt_err e;

	memset(out, 0, sizeof(*out));
	if (msg && msglen)
		msg[0] = '\0';
	if (len > JWT_MAX)
		return fail(msg, msglen, JWT_E_SIZE, "token of %zu bytes (at most %d)", len,
			    JWT_MAX);
	if (split(tok, len, &pt) < 0)
		return fail(msg, msglen, JWT_E_FORMAT,
			    "not three non-empty parts separated by '.'");
	h = json_part(pt.h, pt.hl, why, sizeof(why));
	if (!h)
		return fail(msg, msglen, JWT_E_FORMAT, "header: %s", why);
	e = check_header(h, x, out, &has_kid, msg, msglen);
	yajl_tree_free(h);
	if (e)
		return e;
	if ((e = pick_key(keys, out, has_kid, &k, msg, msglen)))
		return e;
	if (pt.sl == 0)
		return fail(msg, msglen, JWT_E_FORMAT, "an empty signature");
	if (jwt_b64url_decode(pt.s, pt.sl, sig, sizeof(sig), &siglen) < 0)
		return fail(msg, msglen, JWT_E_FORMAT, "signature: not canonical base64url");
	/* The signing input is the two encoded parts as sent (RFC 7515 5.2). */
	switch (jwt_sig_verify(k, (const uint8_t *)tok, pt.hl + 1 + pt.pl, sig, siglen)) {
	case 0:
		break;
	case -ENOMEM:
		return fail(msg, msglen, JWT_E_NOMEM, "out of memory");
	default:
		return fail(msg, msglen, JWT_E_SIGNATURE, "the signature does not verify");
	}
	out->claims = json_part(pt.p, pt.pl, why, sizeof(why));
	if (!out->claims)
		return fail(msg, msglen, JWT_E_FORMAT, "payload: %s", why);
	if ((e = check_claims(out->claims, x, out, msg, msglen)))
		jwt_free(out);
	return e;
}

void jwt_free(struct jwt *t)
{
	if (t->claims)
		yajl_tree_free(t->claims);
	t->claims = NULL;
}

int jwt_peek_kid(const char *tok, size_t len, char kid[JWT_KID_MAX + 1])
{
	char why[64];
	struct parts pt;
	const char *s;
	yajl_val h;
	int rc = -EINVAL;

	if (len > JWT_MAX || split(tok, len, &pt) < 0)
		return -EINVAL;
	h = json_part(pt.h, pt.hl, why, sizeof(why));
	if (!h)
		return -EINVAL;
	if (!json_get(h, "kid"))
		rc = -ENOENT;
	else if (json_get_str(h, "kid", &s) == 0 && strlen(s) <= JWT_KID_MAX)
		rc = snprintf(kid, JWT_KID_MAX + 1, "%s", s) < 0 ? -EINVAL : 0;
	yajl_tree_free(h);
	return rc;
}

int jwt_peek_exp(const char *tok, size_t len, uint64_t *exp)
{
	char why[64];
	struct parts pt;
	yajl_val p;
	int rc;

	if (len > JWT_MAX || split(tok, len, &pt) < 0)
		return -EINVAL;
	p = json_part(pt.p, pt.pl, why, sizeof(why));
	if (!p)
		return -EINVAL;
	rc = get_date(p, "exp", exp);
	yajl_tree_free(p);
	return rc;
}

int jwt_claim_has(const struct jwt *t, const char *name, const char *value)
{
	yajl_val v = t->claims ? json_get(t->claims, name) : NULL;

	if (YAJL_IS_TRUE(v))
		return strcmp(value, "true") == 0;
	if (YAJL_IS_FALSE(v))
		return strcmp(value, "false") == 0;
	return str_or_member(v, value);
}

/* ---------------------------------------------------------- SPIFFE IDs */

static int td_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
	       ch == '_';
}

static int seg_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/* Path segments from \p p ("/a/b", or "" for none): each non-empty, of
 * segment characters (or a lone '*' when \p star), not "." or "..". */
static int path_valid(const char *p, int star)
{
	while (*p) {
		const char *s = p + 1, *e;
		size_t n;

		if (*p != '/')
			return 0;
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		if (!(star && n == 1 && s[0] == '*'))
			for (size_t i = 0; i < n; i++)
				if (!seg_char(s[i]))
					return 0;
		p = s + n;
	}
	return 1;
}

static int id_split(const char *id, int star, char *td, size_t tdlen, const char **path)
{
	const char *t, *slash;
	size_t n;

	if (strlen(id) > SPIFFE_ID_MAX || strncmp(id, SPIFFE_PREFIX, strlen(SPIFFE_PREFIX)) != 0)
		return 0;
	t = id + strlen(SPIFFE_PREFIX);
	slash = strchr(t, '/');
	n = slash ? (size_t)(slash - t) : strlen(t);
	if (n == 0 || n > TD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!td_char(t[i]))
			return 0;
	*path = t + n;
	/* "spiffe://td" names the trust domain, not a workload. */
	if (!**path || !path_valid(*path, star))
		return 0;
	if (td) {
		if (tdlen <= n)
			return 0;
		memcpy(td, t, n);
		td[n] = '\0';
	}
	return 1;
}

int spiffe_id_valid(const char *id, char *td, size_t tdlen)
{
	const char *path;

	return id_split(id, 0, td, tdlen, &path);
}

int spiffe_pattern_valid(const char *pattern)
{
	const char *path;

	return id_split(pattern, 1, NULL, 0, &path);
}

int jwt_claim_sel_ok(const char *s)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || !eq[1] || strlen(s) > JWT_CLAIM_SEL_MAX)
		return 0;
	for (const char *p = s; p < eq; p++)
		if (!(*p == '_' || *p == '.' || *p == ':' || *p == '-' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

int spiffe_id_match(const char *pattern, const char *id)
{
	char ptd[TD_MAX + 1], itd[TD_MAX + 1];
	const char *pp, *ip;

	if (!id_split(pattern, 1, ptd, sizeof(ptd), &pp) ||
	    !id_split(id, 0, itd, sizeof(itd), &ip) || strcmp(ptd, itd) != 0)
		return 0;
	/* Segment by segment; both paths are valid, so each starts with '/'. */
	while (*pp) {
		const char *ps = pp + 1, *pe = strchr(ps, '/');
		size_t pn = pe ? (size_t)(pe - ps) : strlen(ps), in;
		const char *is, *ie;

		if (!*ip)
			return 0;
		is = ip + 1;
		ie = strchr(is, '/');
		in = ie ? (size_t)(ie - is) : strlen(is);
		if (pn == 1 && ps[0] == '*') {
			if (!pe)
				return 1; /* a last "*": one segment or more */
		} else if (pn != in || memcmp(ps, is, pn) != 0) {
			return 0;
		}
		pp = ps + pn;
		ip = is + in;
	}
	return *ip == '\0';
}
