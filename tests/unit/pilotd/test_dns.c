/* test_dns.c - the DNS stub's codec (src/pilotd/dns.c): what queries are
 * taken and what is refused (FORMERR, NOTIMP, BADVERS, dropped), the zone
 * and hostname of a question in any case, and the answers written: AAAA,
 * NODATA and NXDOMAIN with the zone's SOA, the OPT record, compression
 * pointers aimed at the question, truncation. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "dns.h"

/* ------------------------------------------------------------ building queries */

struct qb {
	uint8_t b[1024];
	size_t len;
};

static void qb_u16(struct qb *q, uint16_t v)
{
	put_be16(q->b + q->len, v);
	q->len += 2;
}

static void qb_byte(struct qb *q, uint8_t v)
{
	q->b[q->len++] = v;
}

/* A dotted name as labels ("" or "." is the root). */
static void qb_name(struct qb *q, const char *name)
{
	const char *p = name;

	while (*p && strcmp(p, ".") != 0) {
		size_t n = strcspn(p, ".");
		qb_byte(q, (uint8_t)n);
		memcpy(q->b + q->len, p, n);
		q->len += n;
		p += n;
		if (*p == '.')
			p++;
	}
	qb_byte(q, 0);
}

static void qb_header(struct qb *q, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		      uint16_t ns, uint16_t ar)
{
	q->len = 0;
	qb_u16(q, id);
	qb_u16(q, flags);
	qb_u16(q, qd);
	qb_u16(q, an);
	qb_u16(q, ns);
	qb_u16(q, ar);
}

/* An OPT record: payload size, version, DO, and \p optlen octets of options. */
static void qb_opt(struct qb *q, uint16_t payload, uint8_t version, int dobit, const uint8_t *opts,
		   uint16_t optlen)
{
	qb_byte(q, 0);
	qb_u16(q, DNS_T_OPT);
	qb_u16(q, payload);
	qb_byte(q, 0);
	qb_byte(q, version);
	qb_byte(q, dobit ? 0x80 : 0);
	qb_byte(q, 0);
	qb_u16(q, optlen);
	memcpy(q->b + q->len, opts, optlen);
	q->len += optlen;
}

/* A header (id 7, no flags) and one question for NAME AAAA IN, announcing
 * \p ar additional records for the caller to add. */
static void qb_start(struct qb *q, uint16_t ar, const char *name)
{
	qb_header(q, 7, 0, 1, 0, 0, ar);
	qb_name(q, name);
	qb_u16(q, DNS_T_AAAA);
	qb_u16(q, DNS_C_IN);
}

/* The usual stub query: RD set, one question, optionally EDNS. */
static size_t query(struct qb *q, const char *name, uint16_t qtype, int edns)
{
	qb_header(q, 0x1234, DNS_F_RD, 1, 0, 0, edns ? 1 : 0);
	qb_name(q, name);
	qb_u16(q, qtype);
	qb_u16(q, DNS_C_IN);
	if (edns)
		qb_opt(q, 4096, 0, 0, NULL, 0);
	return q->len;
}

/* ------------------------------------------------------------ reading answers */

/* An answer, read back independently of the encoder: counts, and each
 * record's type, owner offset (names must be a pointer or the root) and
 * RDATA. */
struct rr {
	uint16_t type, class, rdlen;
	uint32_t ttl;
	size_t owner, rdata; /* offsets */
};

struct resp {
	uint16_t id, flags, qd, an, ns, ar;
	size_t qend;
	struct rr rr[8];
	unsigned nrr;
};

/* The end of the name at \p off: labels, then a pointer to an earlier
 * offset or the root. */
static size_t name_end(const uint8_t *m, size_t len, size_t off)
{
	for (int guard = 0; guard < 128; guard++) {
		assert_true(off < len);
		if ((m[off] & 0xc0) == 0xc0) {
			assert_true(off + 2 <= len);
			assert_true((size_t)(get_be16(m + off) & 0x3fff) < off);
			return off + 2;
		}
		if (m[off] == 0)
			return off + 1;
		off += 1 + (size_t)m[off];
	}
	fail_msg("name without end");
	return 0;
}

static void read_resp(const uint8_t *m, size_t len, struct resp *r)
{
	size_t off = DNS_HDR_LEN;

	memset(r, 0, sizeof(*r));
	assert_true(len >= DNS_HDR_LEN);
	r->id = get_be16(m);
	r->flags = get_be16(m + 2);
	r->qd = get_be16(m + 4);
	r->an = get_be16(m + 6);
	r->ns = get_be16(m + 8);
	r->ar = get_be16(m + 10);
	for (unsigned i = 0; i < r->qd; i++)
		off = name_end(m, len, off) + 4;
	r->qend = off;
	for (unsigned i = 0; i < (unsigned)(r->an + r->ns + r->ar); i++) {
		struct rr *x = &r->rr[r->nrr++];
		assert_true(r->nrr <= 8);
		x->owner = off;
		off = name_end(m, len, off);
		assert_true(off + 10 <= len);
		x->type = get_be16(m + off);
		x->class = get_be16(m + off + 2);
		x->ttl = get_be32(m + off + 4);
		x->rdlen = get_be16(m + off + 8);
		x->rdata = off + 10;
		off += 10 + (size_t)x->rdlen;
		assert_true(off <= len);
	}
	assert_int_equal(off, len);
}

/* ------------------------------------------------------------ parsing */

static void test_plain_aaaa(void **state)
{
	struct dns_query q;
	struct qb b;
	char host[64];
	size_t n = query(&b, "bob.pilot", DNS_T_AAAA, 0);

	(void)state;
	assert_int_equal(dns_parse_query(b.b, n, &q), 0);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.have_question);
	assert_int_equal(q.qtype, DNS_T_AAAA);
	assert_int_equal(q.qclass, DNS_C_IN);
	assert_int_equal(q.nlabels, 2);
	assert_int_equal(q.qname_len, 11);
	assert_false(q.edns);
	assert_int_equal(dns_udp_limit(&q), DNS_UDP_MIN);
	assert_int_equal(dns_zone_depth(&q, "pilot"), 1);
	assert_int_equal(dns_label_host(&q, 0, host, sizeof(host)), 3);
	assert_string_equal(host, "bob");
	assert_int_equal(dns_label_host(&q, 2, host, sizeof(host)), -EINVAL);
}

static void test_qtypes(void **state)
{
	static const uint16_t types[] = {DNS_T_A,      DNS_T_AAAA, 15 /* MX */,
					 16 /* TXT */, DNS_T_ANY,  65 /* HTTPS */};
	struct dns_query q;
	struct qb b;

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t n = query(&b, "alice.pilot", types[i], i % 2);
		assert_int_equal(dns_parse_query(b.b, n, &q), 0);
		assert_int_equal(q.qtype, types[i]);
		assert_int_equal(q.edns, (int)(i % 2));
	}
}

static void test_case_insensitive(void **state)
{
	struct dns_query q;
	struct qb b;
	char host[64];
	size_t n = query(&b, "BoB.PiLoT.", DNS_T_AAAA, 0);

	(void)state;
	assert_int_equal(dns_parse_query(b.b, n, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), 1);
	assert_int_equal(dns_label_host(&q, 0, host, sizeof(host)), 3);
	assert_string_equal(host, "bob");
	/* The name is kept as sent, to be echoed as sent. */
	assert_memory_equal(q.qname,
			    "\x03"
			    "BoB"
			    "\x05"
			    "PiLoT"
			    "\x00",
			    11);
	n = query(&b, "PILOT", DNS_T_SOA, 0);
	assert_int_equal(dns_parse_query(b.b, n, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), 0);
}

static void test_zones(void **state)
{
	struct dns_query q;
	struct qb b;
	char host[64];

	(void)state;
	query(&b, "example.com", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), -1);
	query(&b, "a.b.pilot", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), 2);
	query(&b, "pilotx", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), -1);
	query(&b, "pilot.example", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), -1);
	query(&b, ".", DNS_T_NS, 0); /* the root */
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(q.nlabels, 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), -1);
	/* Not a hostname: an underscore, a dot inside a label, a NUL. */
	query(&b, "_srv.pilot", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_zone_depth(&q, "pilot"), 1);
	assert_int_equal(dns_label_host(&q, 0, host, sizeof(host)), -EINVAL);
	qb_header(&b, 1, 0, 1, 0, 0, 0);
	memcpy(b.b + b.len,
	       "\x03"
	       "a\0b"
	       "\x05"
	       "pilot"
	       "\x00"
	       "\x00\x1c\x00\x01",
	       15);
	b.len += 15;
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_label_host(&q, 0, host, sizeof(host)), -EINVAL);
	/* A label longer than the room given. */
	query(&b, "abcdefgh.pilot", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_label_host(&q, 0, host, 8), -EINVAL);
	assert_int_equal(dns_label_host(&q, 0, host, 9), 8);
}

static void test_edns(void **state)
{
	static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	struct dns_query q;
	struct qb b;

	(void)state;
	qb_header(&b, 7, DNS_F_RD, 1, 0, 0, 1);
	qb_name(&b, "bob.pilot");
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	qb_opt(&b, 4096, 0, 1, cookie, sizeof(cookie));
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_true(q.edns);
	assert_true(q.edns_do);
	assert_int_equal(q.edns_payload, 4096);
	assert_int_equal(dns_udp_limit(&q), DNS_EDNS_PAYLOAD);

	/* A payload size below 512 means 512. */
	qb_start(&b, 1, "bob.pilot");
	qb_opt(&b, 100, 0, 0, NULL, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(dns_udp_limit(&q), DNS_UDP_MIN);

	/* An option running past the RDATA, or a short option header. */
	qb_start(&b, 1, "bob.pilot");
	qb_opt(&b, 1232, 0, 0,
	       (const uint8_t *)"\x00\x0a\x00\x09"
				"12345678",
	       12);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	qb_start(&b, 1, "bob.pilot");
	qb_opt(&b, 1232, 0, 0, (const uint8_t *)"\x00\x0a\x00", 3);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	/* RDLENGTH past the message. */
	qb_start(&b, 1, "bob.pilot");
	qb_opt(&b, 1232, 0, 0, NULL, 0);
	b.b[b.len - 1] = 4;
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
}

static void test_edns_badvers(void **state)
{
	struct dns_query q;
	struct dns_answer a = {.rcode = DNS_BADVERS};
	struct resp r;
	struct qb b;
	uint8_t out[512];
	int n;

	(void)state;
	qb_start(&b, 1, "bob.pilot");
	qb_opt(&b, 1232, 1, 0, NULL, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_BADVERS);
	assert_true(q.edns);
	n = dns_encode_answer(&q, &a, out, sizeof(out));
	assert_true(n > 0);
	read_resp(out, (size_t)n, &r);
	assert_int_equal(r.flags & 0xf, 0); /* BADVERS is 16: its low bits are 0 */
	assert_int_equal(r.ar, 1);
	assert_int_equal(r.rr[0].type, DNS_T_OPT);
	assert_int_equal(out[r.rr[0].owner + 5], 1); /* extended rcode: 16 >> 4 */
	assert_int_equal(out[r.rr[0].owner + 6], 0); /* our version */

	/* Without EDNS an extended rcode cannot be said: FORMERR. */
	query(&b, "bob.pilot", DNS_T_AAAA, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	n = dns_encode_answer(&q, &a, out, sizeof(out));
	assert_true(n > 0);
	read_resp(out, (size_t)n, &r);
	assert_int_equal(r.flags & 0xf, DNS_FORMERR);
	assert_int_equal(r.ar, 0);
}

static void test_additional_refused(void **state)
{
	struct dns_query q;
	struct qb b;

	(void)state;
	/* An additional record that is not an OPT (here an A record). */
	qb_start(&b, 1, "bob.pilot");
	qb_byte(&b, 0);
	qb_u16(&b, DNS_T_A);
	qb_u16(&b, DNS_C_IN);
	qb_u16(&b, 0);
	qb_u16(&b, 0);
	qb_u16(&b, 4);
	memcpy(b.b + b.len, "\x7f\0\0\x01", 4);
	b.len += 4;
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	/* An OPT whose owner is not the root. */
	qb_start(&b, 1, "bob.pilot");
	qb_byte(&b, 1);
	qb_byte(&b, 'x');
	qb_opt(&b, 1232, 0, 0, NULL, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	/* Two additional records (two OPTs). */
	qb_start(&b, 2, "bob.pilot");
	qb_opt(&b, 1232, 0, 0, NULL, 0);
	qb_opt(&b, 1232, 0, 0, NULL, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
}

static void test_questions_count(void **state)
{
	struct dns_query q;
	struct dns_answer a = {.rcode = DNS_FORMERR};
	struct resp r;
	struct qb b;
	uint8_t out[512];
	int n;

	(void)state;
	/* Two questions: FORMERR, answered with the header alone. */
	qb_header(&b, 0xbeef, DNS_F_RD, 2, 0, 0, 0);
	qb_name(&b, "a.pilot");
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	qb_name(&b, "b.pilot");
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	assert_int_equal(q.id, 0xbeef);
	assert_false(q.have_question);
	n = dns_encode_answer(&q, &a, out, sizeof(out));
	assert_int_equal(n, DNS_HDR_LEN);
	read_resp(out, (size_t)n, &r);
	assert_int_equal(r.id, 0xbeef);
	assert_true(r.flags & DNS_F_QR);
	assert_true(r.flags & DNS_F_RD);
	assert_int_equal(r.flags & 0xf, DNS_FORMERR);
	assert_int_equal(r.qd + r.an + r.ns + r.ar, 0);
	/* No question, answer or authority records in a query. */
	qb_header(&b, 1, 0, 0, 0, 0, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	qb_header(&b, 1, 0, 1, 1, 0, 0);
	qb_name(&b, "a.pilot");
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	qb_header(&b, 1, 0, 1, 0, 1, 0);
	qb_name(&b, "a.pilot");
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
}

static void test_pointers_refused(void **state)
{
	struct dns_query q;
	struct qb b;

	(void)state;
	/* A pointer to the header (offset 12 = itself: a loop). */
	qb_header(&b, 1, 0, 1, 0, 0, 0);
	qb_byte(&b, 0xc0);
	qb_byte(&b, 0x0c);
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	/* A label, then a pointer back to it. */
	qb_header(&b, 1, 0, 1, 0, 0, 0);
	qb_byte(&b, 1);
	qb_byte(&b, 'a');
	qb_byte(&b, 0xc0);
	qb_byte(&b, 0x0c);
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	/* The extended label types (01, 10). */
	for (int t = 0x40; t <= 0x80; t += 0x40) {
		qb_header(&b, 1, 0, 1, 0, 0, 0);
		qb_byte(&b, (uint8_t)t);
		qb_byte(&b, 0);
		qb_u16(&b, DNS_T_AAAA);
		qb_u16(&b, DNS_C_IN);
		assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	}
}

/* A name of labels of the given lengths ("x" repeated), then "pilot". */
static void long_name(struct qb *b, const int *lens, int n)
{
	qb_header(b, 1, 0, 1, 0, 0, 0);
	for (int i = 0; i < n; i++) {
		qb_byte(b, (uint8_t)lens[i]);
		memset(b->b + b->len, 'x', (size_t)lens[i]);
		b->len += (size_t)lens[i];
	}
	qb_byte(b, 0);
	qb_u16(b, DNS_T_AAAA);
	qb_u16(b, DNS_C_IN);
}

static void test_lengths(void **state)
{
	static const int ok63[] = {63}, bad64[] = {64}, max255[] = {63, 63, 63, 61},
			 over256[] = {63, 63, 63, 62};
	struct dns_query q;
	struct qb b;
	int ones[127];

	(void)state;
	long_name(&b, ok63, 1);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	long_name(&b, bad64, 1); /* 64 = 0x40: not a plain label */
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	long_name(&b, max255, 4); /* 3 * 64 + 62 + 1 = 255 octets */
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(q.qname_len, 255);
	long_name(&b, over256, 4); /* 256 */
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
	for (int i = 0; i < 127; i++)
		ones[i] = 1;
	long_name(&b, ones, 127); /* 127 labels of one: 255 octets */
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(q.nlabels, 127);
	long_name(&b, ones, 127);
	/* one more label of one: 257 */
	memmove(b.b + DNS_HDR_LEN + 2, b.b + DNS_HDR_LEN, b.len - DNS_HDR_LEN);
	b.b[DNS_HDR_LEN] = 1;
	b.b[DNS_HDR_LEN + 1] = 'y';
	b.len += 2;
	assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_FORMERR);
}

static void test_truncated_and_trailing(void **state)
{
	struct dns_query q;
	struct qb b;
	size_t n = query(&b, "bob.pilot", DNS_T_AAAA, 1);

	(void)state;
	assert_int_equal(dns_parse_query(b.b, n, &q), 0);
	for (size_t k = 0; k < n; k++) {
		int rc = dns_parse_query(b.b, k, &q);
		if (k < DNS_HDR_LEN)
			assert_int_equal(rc, -EBADMSG);
		else
			assert_int_equal(rc, DNS_FORMERR);
	}
	b.b[n] = 0;
	assert_int_equal(dns_parse_query(b.b, n + 1, &q), DNS_FORMERR);
	assert_int_equal(dns_parse_query(NULL, 0, &q), -EBADMSG);
}

static void test_not_a_query(void **state)
{
	struct dns_query q;
	struct dns_answer a = {.rcode = DNS_NOTIMP};
	struct resp r;
	struct qb b;
	uint8_t out[64];
	int n;

	(void)state;
	/* A response is never answered (two servers would loop). */
	query(&b, "bob.pilot", DNS_T_AAAA, 0);
	b.b[2] |= 0x80;
	assert_int_equal(dns_parse_query(b.b, b.len, &q), -EBADMSG);
	/* Opcode STATUS (2), NOTIFY (4), UPDATE (5): not implemented. */
	for (int op = 1; op <= 5; op++) {
		query(&b, "bob.pilot", DNS_T_AAAA, 0);
		b.b[2] = (uint8_t)(b.b[2] | op << 3);
		assert_int_equal(dns_parse_query(b.b, b.len, &q), DNS_NOTIMP);
		n = dns_encode_answer(&q, &a, out, sizeof(out));
		assert_int_equal(n, DNS_HDR_LEN);
		read_resp(out, (size_t)n, &r);
		assert_int_equal(DNS_OPCODE(r.flags), op);
		assert_int_equal(r.flags & 0xf, DNS_NOTIMP);
	}
}

/* ------------------------------------------------------------ answers */

static void test_answer_aaaa(void **state)
{
	struct dns_query q;
	struct in6_addr ip;
	struct dns_answer a = {.rcode = DNS_NOERROR, .aa = 1, .aaaa = &ip, .ttl = 5};
	struct resp r;
	struct qb b;
	uint8_t out[512];
	size_t n = query(&b, "Bob.Pilot", DNS_T_AAAA, 1);
	int len;

	(void)state;
	b.b[3] |= DNS_F_CD;
	inet_pton(AF_INET6, "fd4e:1c3a:9b20::2b", &ip);
	assert_int_equal(dns_parse_query(b.b, n, &q), 0);
	len = dns_encode_answer(&q, &a, out, sizeof(out));
	assert_true(len > 0);
	read_resp(out, (size_t)len, &r);
	assert_int_equal(r.id, 0x1234);
	assert_true(r.flags & DNS_F_QR);
	assert_true(r.flags & DNS_F_AA);
	assert_true(r.flags & DNS_F_RD);
	assert_true(r.flags & DNS_F_CD);
	assert_false(r.flags & (DNS_F_TC | DNS_F_RA));
	assert_int_equal(r.flags & 0xf, 0);
	assert_int_equal(r.qd, 1);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ns, 0);
	assert_int_equal(r.ar, 1);
	/* The question as it was asked, case and all. */
	assert_memory_equal(out + DNS_HDR_LEN, b.b + DNS_HDR_LEN, 11 + 4);
	/* The record: owner a pointer to the question's name. */
	assert_int_equal(get_be16(out + r.rr[0].owner), 0xc00c);
	assert_int_equal(r.rr[0].type, DNS_T_AAAA);
	assert_int_equal(r.rr[0].class, DNS_C_IN);
	assert_int_equal(r.rr[0].ttl, 5);
	assert_int_equal(r.rr[0].rdlen, 16);
	assert_memory_equal(out + r.rr[0].rdata, ip.s6_addr, 16);
	/* The OPT: our payload size, version 0, no options. */
	assert_int_equal(r.rr[1].type, DNS_T_OPT);
	assert_int_equal(out[r.rr[1].owner], 0);
	assert_int_equal(r.rr[1].class, DNS_EDNS_PAYLOAD);
	assert_int_equal(r.rr[1].rdlen, 0);
}

/* The SOA record of an answer: owner and MNAME point at the zone label of
 * the question; TTL and MINIMUM \p min. */
static void check_soa(const uint8_t *out, const struct rr *x, uint32_t min)
{
	size_t zone = DNS_HDR_LEN + 4; /* "bob." is 4 octets: "pilot" follows */

	assert_int_equal(x->type, DNS_T_SOA);
	assert_int_equal(get_be16(out + x->owner), 0xc000 | zone);
	assert_int_equal(x->ttl, min);
	assert_int_equal(x->rdlen, 35);
	assert_int_equal(get_be16(out + x->rdata), 0xc000 | zone);
	assert_memory_equal(out + x->rdata + 2, "\x0ahostmaster", 11);
	assert_int_equal(get_be16(out + x->rdata + 13), 0xc000 | zone);
	assert_int_equal(get_be32(out + x->rdata + 15), 1);   /* serial */
	assert_int_equal(get_be32(out + x->rdata + 31), min); /* minimum */
}

static void test_answer_negative(void **state)
{
	struct dns_query q;
	struct dns_answer nodata = {
	    .rcode = DNS_NOERROR, .aa = 1, .soa = 1, .zone_labels = 1, .soa_min = 1};
	struct dns_answer nx = nodata;
	struct dns_answer soa = nodata;
	struct resp r;
	struct qb b;
	uint8_t out[512];
	int len;

	(void)state;
	/* A for a pilot name: NODATA, the SOA in the authority section. */
	query(&b, "bob.pilot", DNS_T_A, 0);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	len = dns_encode_answer(&q, &nodata, out, sizeof(out));
	assert_true(len > 0);
	read_resp(out, (size_t)len, &r);
	assert_int_equal(r.flags & 0xf, DNS_NOERROR);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	assert_int_equal(r.ar, 0);
	check_soa(out, &r.rr[0], 1);

	nx.rcode = DNS_NXDOMAIN;
	len = dns_encode_answer(&q, &nx, out, sizeof(out));
	read_resp(out, (size_t)len, &r);
	assert_int_equal(r.flags & 0xf, DNS_NXDOMAIN);
	assert_true(r.flags & DNS_F_AA);
	assert_int_equal(r.ns, 1);
	check_soa(out, &r.rr[0], 1);

	/* The SOA as the answer. */
	soa.soa = 2;
	len = dns_encode_answer(&q, &soa, out, sizeof(out));
	read_resp(out, (size_t)len, &r);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ns, 0);
	check_soa(out, &r.rr[0], 1);

	/* A refusal: no authority, not authoritative. */
	{
		struct dns_answer ref = {.rcode = DNS_REFUSED};
		len = dns_encode_answer(&q, &ref, out, sizeof(out));
		read_resp(out, (size_t)len, &r);
		assert_int_equal(r.flags & 0xf, DNS_REFUSED);
		assert_false(r.flags & DNS_F_AA);
		assert_int_equal(r.qd, 1);
		assert_int_equal(r.an + r.ns + r.ar, 0);
	}
}

static void test_truncation(void **state)
{
	static const int lens[] = {63, 63, 63, 55}; /* + "pilot" = 255 */
	struct dns_query q;
	struct in6_addr ip;
	struct dns_answer a = {.rcode = DNS_NOERROR, .aa = 1, .aaaa = &ip, .ttl = 5};
	struct resp r;
	struct qb b;
	uint8_t out[600];
	size_t qlen;
	int len;

	(void)state;
	memset(&ip, 0xfd, sizeof(ip));
	long_name(&b, lens, 4);
	/* make the last label "pilot": 63,63,63,55 is 248 octets: + 6 + root */
	b.len -= 5;
	b.b[b.len++] = 5;
	memcpy(b.b + b.len, "pilot", 5);
	b.len += 5;
	b.b[b.len++] = 0;
	qb_u16(&b, DNS_T_AAAA);
	qb_u16(&b, DNS_C_IN);
	assert_int_equal(dns_parse_query(b.b, b.len, &q), 0);
	assert_int_equal(q.qname_len, 255);
	qlen = DNS_HDR_LEN + 255 + 4;
	/* Room for everything: 12 + 259 + 28. */
	len = dns_encode_answer(&q, &a, out, qlen + 28);
	assert_int_equal(len, (int)(qlen + 28));
	/* One octet less: cut to the question, TC set. */
	len = dns_encode_answer(&q, &a, out, qlen + 27);
	assert_int_equal(len, (int)qlen);
	read_resp(out, (size_t)len, &r);
	assert_true(r.flags & DNS_F_TC);
	assert_int_equal(r.an, 0);
	/* Not even the question: nothing. */
	assert_int_equal(dns_encode_answer(&q, &a, out, qlen - 1), -ENOSPC);
	/* Every answer of ours fits a plain 512-octet UDP reply. */
	{
		struct dns_answer soa = {
		    .rcode = DNS_NXDOMAIN, .aa = 1, .soa = 1, .zone_labels = 1, .soa_min = 1};
		len = dns_encode_answer(&q, &soa, out, DNS_UDP_MIN);
		assert_true(len > 0 && len <= DNS_UDP_MIN);
		read_resp(out, (size_t)len, &r);
		assert_false(r.flags & DNS_F_TC);
		assert_int_equal(r.ns, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_aaaa),
	    cmocka_unit_test(test_qtypes),
	    cmocka_unit_test(test_case_insensitive),
	    cmocka_unit_test(test_zones),
	    cmocka_unit_test(test_edns),
	    cmocka_unit_test(test_edns_badvers),
	    cmocka_unit_test(test_additional_refused),
	    cmocka_unit_test(test_questions_count),
	    cmocka_unit_test(test_pointers_refused),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_truncated_and_trailing),
	    cmocka_unit_test(test_not_a_query),
	    cmocka_unit_test(test_answer_aaaa),
	    cmocka_unit_test(test_answer_negative),
	    cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
