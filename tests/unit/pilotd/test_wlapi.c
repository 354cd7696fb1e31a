/* test_wlapi.c - the SPIFFE Workload API on the wire (src/pilotd/wlapi.c):
 * the endpoint URI, the FetchJWTSVID request in its gRPC frame, and the
 * JWTSVIDResponse decoder against well-formed, malformed, truncated and
 * oversized input. */
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

#include "wlapi.h"

#define SVID "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
#define ID "spiffe://example.org/agents/b"

/* ------------------------------------------------------------ an encoder */

struct pb {
	uint8_t b[300000];
	size_t n;
};

static void pb_varint(struct pb *p, uint64_t v)
{
	do {
		p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void pb_key(struct pb *p, unsigned field, unsigned wt)
{
	pb_varint(p, (uint64_t)field << 3 | wt);
}

static void pb_bytes(struct pb *p, unsigned field, const void *s, size_t n)
{
	pb_key(p, field, 2);
	pb_varint(p, n);
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

/* Field \p field of wire type 1 (8 bytes) or 5 (4 bytes), each byte \p v. */
static void pb_fixed(struct pb *p, unsigned field, unsigned wt, uint8_t v)
{
	size_t n = wt == 1 ? 8 : 4;

	pb_key(p, field, wt);
	memset(p->b + p->n, v, n);
	p->n += n;
}

static void pb_str(struct pb *p, unsigned field, const char *s)
{
	pb_bytes(p, field, s, strlen(s));
}

/* A JWTSVID with \p id and \p svid (either NULL: left out). */
static void pb_svid(struct pb *p, const char *id, const char *svid)
{
	struct pb m = {.n = 0};

	if (id)
		pb_str(&m, 1, id);
	if (svid)
		pb_str(&m, 2, svid);
	pb_bytes(p, 1, m.b, m.n);
}

static struct pb *pb_new(void)
{
	struct pb *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	return p;
}

static int decode(const struct pb *p, struct wlapi_svid *sv)
{
	return wlapi_response(p->b, p->n, sv);
}

/* Decode a response holding the one JWTSVID \p m (its fields as built). */
static int decode_one(struct pb *p, const struct pb *m, struct wlapi_svid *sv)
{
	p->n = 0;
	pb_bytes(p, 1, m->b, m->n);
	return decode(p, sv);
}

/* ------------------------------------------------------------ the endpoint */

static void test_endpoint(void **state)
{
	struct wlapi_endpoint ep;
	char err[400], longp[200];

	(void)state;
	assert_int_equal(
	    wlapi_endpoint_parse("unix:///run/spire/agent.sock", &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.unix_path, "/run/spire/agent.sock");
	assert_string_equal(ep.url, "http://localhost/SpiffeWorkloadAPI/FetchJWTSVID");
	assert_int_equal(wlapi_endpoint_parse("unix:/tmp/x.sock", &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.unix_path, "/tmp/x.sock");
	assert_int_equal(wlapi_endpoint_parse("tcp://127.0.0.1:8000", &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.unix_path, "");
	assert_string_equal(ep.url, "http://127.0.0.1:8000/SpiffeWorkloadAPI/FetchJWTSVID");

	static const char *const bad[] = {
	    "",
	    "/tmp/x.sock",	       /* not a URI */
	    "unix://host/tmp/x.sock",  /* an authority */
	    "unix:tmp/x.sock",	       /* relative */
	    "unix://",		       /* no path */
	    "unix:///tmp/x.sock?x=1",  /* a query */
	    "unix:///tmp/x.sock#f",    /* a fragment */
	    "unix:///tmp/%78.sock",    /* an escape */
	    "unix:///tmp/a b",	       /* a space */
	    "tcp://localhost:8000",    /* a host name */
	    "tcp://127.0.0.1",	       /* no port */
	    "tcp://127.0.0.1:0",       /* port 0 */
	    "tcp://127.0.0.1:65536",   /* port out of range */
	    "tcp://127.0.0.1:80x",     /* trailing junk */
	    "tcp://127.0.0.1:80/path", /* a path */
	    "http://127.0.0.1:80",     /* another scheme */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wlapi_endpoint_parse(bad[i], &ep, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(wlapi_endpoint_parse(NULL, &ep, err, sizeof(err)), -EINVAL);
	/* sun_path holds 107 bytes and a NUL */
	memset(longp, 'a', sizeof(longp));
	memcpy(longp, "unix:///", 8);
	longp[8 + 107] = '\0';
	assert_int_equal(wlapi_endpoint_parse(longp, &ep, err, sizeof(err)), -EINVAL);
	longp[8 + 106] = '\0';
	assert_int_equal(wlapi_endpoint_parse(longp, &ep, err, sizeof(err)), 0);
	assert_int_equal(strlen(ep.unix_path), 107);
}

/* ------------------------------------------------------------ the request */

static void test_request(void **state)
{
	static const uint8_t want[] = {0, 0, 0, 0, 7, 0x0a, 5, 'p', 'i', 'l', 'o', 't'};
	uint8_t out[600];
	char aud[300];
	int n;

	(void)state;
	n = wlapi_request(out, sizeof(out), "pilot", NULL);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(wlapi_request(out, sizeof(out), "pilot", ""), sizeof(want));
	/* with a SPIFFE ID: field 2 after the audience */
	n = wlapi_request(out, sizeof(out), "pilot", ID);
	assert_int_equal(n, 5 + 7 + 2 + (int)strlen(ID));
	assert_int_equal(out[4], 7 + 2 + strlen(ID));
	assert_int_equal(out[12], 0x12);
	assert_int_equal(out[13], strlen(ID));
	assert_memory_equal(out + 14, ID, strlen(ID));
	/* a 200-byte audience: a two-byte varint length */
	memset(aud, 'x', 200);
	aud[200] = '\0';
	n = wlapi_request(out, sizeof(out), aud, NULL);
	assert_int_equal(n, 5 + 1 + 2 + 200);
	assert_int_equal(out[5], 0x0a);
	assert_int_equal(out[6], 0x80 | (200 & 0x7f));
	assert_int_equal(out[7], 200 >> 7);
	assert_int_equal(out[3] << 8 | out[4], 203);
	/* refused: no audience, an oversized one, no room */
	assert_int_equal(wlapi_request(out, sizeof(out), "", NULL), -EINVAL);
	assert_int_equal(wlapi_request(out, sizeof(out), NULL, NULL), -EINVAL);
	memset(aud, 'x', sizeof(aud) - 1);
	aud[WLAPI_AUD_MAX + 1] = '\0';
	assert_int_equal(wlapi_request(out, sizeof(out), aud, NULL), -EINVAL);
	for (size_t cap = 0; cap < sizeof(want); cap++)
		assert_int_equal(wlapi_request(out, cap, "pilot", NULL), -ENOSPC);
	assert_int_equal(wlapi_request(out, sizeof(want), "pilot", NULL), sizeof(want));
}

/* ------------------------------------------------------------ the gRPC frame */

static void test_unframe(void **state)
{
	uint8_t b[64] = {0, 0, 0, 0, 3, 1, 2, 3};
	const uint8_t *m;
	size_t ml;

	(void)state;
	assert_int_equal(wlapi_unframe(b, 8, &m, &ml), 0);
	assert_ptr_equal(m, b + 5);
	assert_int_equal(ml, 3);
	for (size_t n = 0; n < 8; n++) /* truncated */
		assert_int_equal(wlapi_unframe(b, n, &m, &ml), -EBADMSG);
	assert_int_equal(wlapi_unframe(b, 9, &m, &ml), -EBADMSG); /* a byte after it */
	b[0] = 1;						  /* compressed */
	assert_int_equal(wlapi_unframe(b, 8, &m, &ml), -EBADMSG);
	b[0] = 0;
	b[1] = 0x80; /* 2 GiB */
	assert_int_equal(wlapi_unframe(b, 8, &m, &ml), -EMSGSIZE);
	b[1] = 0;
	b[2] = (WLAPI_MSG_MAX + 1) >> 16;
	b[3] = ((WLAPI_MSG_MAX + 1) >> 8) & 0xff;
	b[4] = (WLAPI_MSG_MAX + 1) & 0xff;
	assert_int_equal(wlapi_unframe(b, 8, &m, &ml), -EMSGSIZE);
	/* an empty message: framed right, and holds no SVID */
	memset(b, 0, 5);
	assert_int_equal(wlapi_unframe(b, 5, &m, &ml), 0);
	assert_int_equal(ml, 0);
	{
		struct wlapi_svid sv;
		assert_int_equal(wlapi_response_body(b, 5, &sv), -ENOENT);
		assert_int_equal(wlapi_response_body(b, 4, &sv), -EBADMSG);
		assert_null(sv.svid);
	}
}

/* ------------------------------------------------------------ the response */

static void test_response_good(void **state)
{
	struct pb *p = pb_new(), *f = pb_new();
	struct wlapi_svid sv;

	(void)state;
	pb_svid(p, ID, SVID);
	assert_int_equal(decode(p, &sv), 1);
	assert_int_equal(sv.id_len, strlen(ID));
	assert_memory_equal(sv.spiffe_id, ID, sv.id_len);
	assert_int_equal(sv.svid_len, strlen(SVID));
	assert_memory_equal(sv.svid, SVID, sv.svid_len);
	/* a second one: counted, the first kept */
	pb_svid(p, "spiffe://example.org/other", "a.b.c");
	assert_int_equal(decode(p, &sv), 2);
	assert_memory_equal(sv.spiffe_id, ID, sv.id_len);
	/* framed: the same through wlapi_response_body */
	f->b[0] = 0;
	f->b[1] = (uint8_t)(p->n >> 24);
	f->b[2] = (uint8_t)(p->n >> 16);
	f->b[3] = (uint8_t)(p->n >> 8);
	f->b[4] = (uint8_t)p->n;
	memcpy(f->b + 5, p->b, p->n);
	f->n = p->n + 5;
	assert_int_equal(wlapi_response_body(f->b, f->n, &sv), 2);
	assert_memory_equal(sv.svid, SVID, sv.svid_len);
	/* an empty signature part is the registry's to refuse */
	p->n = 0;
	pb_svid(p, ID, "a.b.");
	assert_int_equal(decode(p, &sv), 1);
	free(p);
	free(f);
}

static void test_response_unknown_fields(void **state)
{
	struct pb *p = pb_new(), *m = pb_new();
	struct wlapi_svid sv;

	(void)state;
	/* in the JWTSVID: hint (3) and unknown fields of every wire type */
	pb_str(m, 3, "internal");
	pb_key(m, 9, 0);
	pb_varint(m, UINT64_MAX);
	pb_fixed(m, 10, 1, 0xff);
	pb_str(m, 1, ID);
	pb_fixed(m, 11, 5, 0xee);
	pb_str(m, 2, SVID);
	pb_str(m, 536870911, "the largest field number");
	pb_bytes(p, 1, m->b, m->n);
	/* in the response: unknown fields around it */
	pb_key(p, 2, 0);
	pb_varint(p, 1);
	pb_str(p, 7, "x");
	assert_int_equal(decode(p, &sv), 1);
	assert_memory_equal(sv.spiffe_id, ID, sv.id_len);
	assert_memory_equal(sv.svid, SVID, sv.svid_len);
	free(p);
	free(m);
}

static void test_response_malformed(void **state)
{
	struct pb *p = pb_new(), *m = pb_new();
	struct wlapi_svid sv;

	(void)state;
	/* none at all */
	assert_int_equal(decode(p, &sv), -ENOENT);
	pb_str(p, 5, "unknown only");
	assert_int_equal(decode(p, &sv), -ENOENT);
	/* a JWTSVID without its SPIFFE ID, or its SVID, or empty */
	p->n = 0;
	pb_svid(p, NULL, SVID);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	pb_svid(p, ID, NULL);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	pb_svid(p, NULL, NULL);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	/* a good one, then a bad one: the whole answer is refused */
	p->n = 0;
	pb_svid(p, ID, SVID);
	pb_svid(p, ID, "not a jwt");
	assert_int_equal(decode(p, &sv), -EBADMSG);
	assert_null(sv.svid);
	/* a singular field twice */
	m->n = 0;
	pb_str(m, 1, ID);
	pb_str(m, 2, SVID);
	pb_str(m, 2, SVID);
	assert_int_equal(decode_one(p, m, &sv), -EBADMSG);
	m->n = 0;
	pb_str(m, 1, ID);
	pb_str(m, 1, ID);
	pb_str(m, 2, SVID);
	assert_int_equal(decode_one(p, m, &sv), -EBADMSG);
	/* known fields of the wrong wire type */
	p->n = 0;
	pb_key(p, 1, 0);
	pb_varint(p, 5);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	m->n = 0;
	pb_fixed(m, 1, 5, 0);
	pb_str(m, 2, SVID);
	assert_int_equal(decode_one(p, m, &sv), -EBADMSG);
	m->n = 0;
	pb_str(m, 1, ID);
	pb_str(m, 2, SVID);
	pb_key(m, 3, 0); /* hint as a varint */
	pb_varint(m, 1);
	assert_int_equal(decode_one(p, m, &sv), -EBADMSG);
	/* groups (wire types 3 and 4), and the reserved 6 and 7 */
	for (unsigned wt = 3; wt <= 7; wt++) {
		if (wt == 5)
			continue;
		p->n = 0;
		pb_key(p, 4, wt);
		assert_int_equal(decode(p, &sv), -EBADMSG);
	}
	/* field number 0; above 2^29-1 */
	p->n = 0;
	pb_key(p, 0, 2);
	pb_varint(p, 0);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	pb_varint(p, (uint64_t)536870912 << 3 | 2);
	pb_varint(p, 0);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	/* varints: unterminated, longer than ten bytes, past 64 bits */
	p->n = 0;
	p->b[p->n++] = 0x0a;
	p->b[p->n++] = 0x80;
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	p->b[p->n++] = 0x10;
	memset(p->b + p->n, 0x80, 10);
	p->n += 10;
	p->b[p->n++] = 0;
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	p->b[p->n++] = 0x10;
	memset(p->b + p->n, 0xff, 9);
	p->n += 9;
	p->b[p->n++] = 0x02;
	assert_int_equal(decode(p, &sv), -EBADMSG);
	/* a length past the end, and one near 2^64 */
	p->n = 0;
	pb_key(p, 1, 2);
	pb_varint(p, 100);
	memset(p->b + p->n, 0, 50);
	p->n += 50;
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	pb_key(p, 1, 2);
	pb_varint(p, UINT64_MAX - 3);
	assert_int_equal(decode(p, &sv), -EBADMSG);
	/* fixed-width values cut short */
	p->n = 0;
	pb_key(p, 9, 1);
	memset(p->b + p->n, 0, 7);
	p->n += 7;
	assert_int_equal(decode(p, &sv), -EBADMSG);
	p->n = 0;
	pb_key(p, 9, 5);
	memset(p->b + p->n, 0, 3);
	p->n += 3;
	assert_int_equal(decode(p, &sv), -EBADMSG);
	free(p);
	free(m);
}

static void test_response_strings(void **state)
{
	static const char *const bad_svid[] = {
	    "",	       "a.b",	  "a.b.c.d", ".b.c",	   "a..c",    "a.b=.c",
	    "a.b.c\n", "a b.b.c", "a.b.c ",  "ab\x80.b.c", "a/b.c.d", "a+b.c.d",
	};
	static const char *const bad_id[] = {
	    "",
	    "spiffe:/",
	    "spiffe://",
	    "https://example.org/x",
	    "spiffe://a/b\n",
	    "spiffe://a/ b",
	    "SPIFFE://example.org/x",
	};
	struct pb *p = pb_new();
	struct wlapi_svid sv;
	char nul[] = "spiffe://a/b\0c";

	(void)state;
	for (size_t i = 0; i < sizeof(bad_svid) / sizeof(bad_svid[0]); i++) {
		p->n = 0;
		pb_svid(p, ID, bad_svid[i]);
		assert_int_equal(decode(p, &sv), -EBADMSG);
	}
	for (size_t i = 0; i < sizeof(bad_id) / sizeof(bad_id[0]); i++) {
		p->n = 0;
		pb_svid(p, bad_id[i], SVID);
		assert_int_equal(decode(p, &sv), -EBADMSG);
	}
	/* a NUL inside the SPIFFE ID */
	{
		struct pb m = {.n = 0};
		pb_bytes(&m, 1, nul, sizeof(nul) - 1);
		pb_str(&m, 2, SVID);
		p->n = 0;
		pb_bytes(p, 1, m.b, m.n);
		assert_int_equal(decode(p, &sv), -EBADMSG);
	}
	free(p);
}

static void test_response_bounds(void **state)
{
	struct pb *p = pb_new();
	struct wlapi_svid sv;
	char *big = malloc(WLAPI_SVID_MAX + 2), *id = malloc(WLAPI_ID_MAX + 2);

	(void)state;
	assert_non_null(big);
	assert_non_null(id);
	/* an SVID of WLAPI_SVID_MAX bytes, and one more */
	memset(big, 'A', WLAPI_SVID_MAX + 1);
	big[10] = big[20] = '.';
	big[WLAPI_SVID_MAX] = '\0';
	pb_svid(p, ID, big);
	assert_int_equal(decode(p, &sv), 1);
	assert_int_equal(sv.svid_len, WLAPI_SVID_MAX);
	big[WLAPI_SVID_MAX] = 'A';
	big[WLAPI_SVID_MAX + 1] = '\0';
	p->n = 0;
	pb_svid(p, ID, big);
	assert_int_equal(decode(p, &sv), -E2BIG);
	/* a SPIFFE ID of WLAPI_ID_MAX bytes, and one more */
	memset(id, 'x', WLAPI_ID_MAX + 1);
	memcpy(id, "spiffe://example.org/", 21);
	id[WLAPI_ID_MAX] = '\0';
	p->n = 0;
	pb_svid(p, id, SVID);
	assert_int_equal(decode(p, &sv), 1);
	id[WLAPI_ID_MAX] = 'x';
	id[WLAPI_ID_MAX + 1] = '\0';
	p->n = 0;
	pb_svid(p, id, SVID);
	assert_int_equal(decode(p, &sv), -E2BIG);
	/* WLAPI_SVIDS_MAX of them, and one more */
	p->n = 0;
	for (int i = 0; i < WLAPI_SVIDS_MAX; i++)
		pb_svid(p, ID, SVID);
	assert_int_equal(decode(p, &sv), WLAPI_SVIDS_MAX);
	pb_svid(p, ID, SVID);
	assert_int_equal(decode(p, &sv), -E2BIG);
	/* a message over WLAPI_MSG_MAX */
	p->n = 0;
	pb_svid(p, ID, SVID);
	assert_true(WLAPI_MSG_MAX + 10 < sizeof(p->b));
	pb_key(p, 15, 2);
	pb_varint(p, WLAPI_MSG_MAX);
	memset(p->b + p->n, 0, WLAPI_MSG_MAX);
	p->n += WLAPI_MSG_MAX;
	assert_int_equal(decode(p, &sv), -E2BIG);
	free(big);
	free(id);
	free(p);
}

/* Every prefix of a good answer is refused or decodes to what it holds,
 * and never reads past its end (ASan in the sanitizer builds). */
static void test_response_truncated(void **state)
{
	struct pb *p = pb_new();
	struct wlapi_svid sv;

	(void)state;
	pb_svid(p, ID, SVID);
	pb_str(p, 4, "tail");
	pb_svid(p, "spiffe://example.org/second", SVID);
	for (size_t n = 0; n < p->n; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		int rc;
		assert_non_null(cut);
		memcpy(cut, p->b, n);
		rc = wlapi_response(cut, n, &sv);
		assert_true(rc == -EBADMSG || rc == -ENOENT || rc == 1);
		if (rc == 1) {
			assert_true(sv.spiffe_id >= (const char *)cut &&
				    sv.svid + sv.svid_len <= (const char *)cut + n);
			assert_memory_equal(sv.svid, SVID, sv.svid_len);
		} else {
			assert_null(sv.svid);
		}
		free(cut);
	}
	assert_int_equal(decode(p, &sv), 2);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoint),
	    cmocka_unit_test(test_request),
	    cmocka_unit_test(test_unframe),
	    cmocka_unit_test(test_response_good),
	    cmocka_unit_test(test_response_unknown_fields),
	    cmocka_unit_test(test_response_malformed),
	    cmocka_unit_test(test_response_strings),
	    cmocka_unit_test(test_response_bounds),
	    cmocka_unit_test(test_response_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
