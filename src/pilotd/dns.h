/* dns.h - the DNS messages of pilotd's name stub (pilotd_dns.c): the one
 * parser of queries, which arrive from any local program and are
 * untrusted, and the encoder of our answers.  No allocation, no state.
 *
 * A query is taken only in the shape stub resolvers send (RFC 1035 4.1):
 * a header with QR clear and opcode QUERY, exactly one question, no
 * answer or authority records, and at most one additional record, which
 * must be an EDNS0 OPT (RFC 6891).  The question name is read label by
 * label, bounded by DNS_NAME_MAX; a compression pointer (or any label type
 * but a plain one) is refused there: a question has nothing before it to
 * point at, so a pointer could only be a loop or nonsense.  Compression
 * is used only in the answers we write, each pointer aimed back at the
 * question.  Bytes after the last record are refused too. */
#ifndef PILOT_DNS_H
#define PILOT_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_MAX 255      /* wire octets of a name, its root label included */
#define DNS_LABEL_MAX 63      /* octets of one label */
#define DNS_LABELS_MAX 127    /* (255 - 1) / 2: one-octet labels */
#define DNS_UDP_MIN 512	      /* what a UDP reply may always have (RFC 1035) */
#define DNS_EDNS_PAYLOAD 1232 /* what we advertise, and use at most, over UDP */
#define DNS_MSG_MAX 65535     /* a message over TCP (its 2-octet length) */

enum dns_rcode {
	DNS_NOERROR = 0,
	DNS_FORMERR = 1,
	DNS_SERVFAIL = 2,
	DNS_NXDOMAIN = 3,
	DNS_NOTIMP = 4,
	DNS_REFUSED = 5,
	DNS_BADVERS = 16, /* extended: only with EDNS (the OPT record carries the high bits) */
};

enum dns_type {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_SOA = 6,
	DNS_T_AAAA = 28,
	DNS_T_OPT = 41,
	DNS_T_IXFR = 251,
	DNS_T_AXFR = 252,
	DNS_T_ANY = 255,
};

#define DNS_C_IN 1
#define DNS_C_ANY 255

/* Header flag bits (the second 16-bit word). */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_F_CD 0x0010
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xf)

/* A query as parsed.  Only id and flags are set for a query refused
 * before its question (have_question 0). */
struct dns_query {
	uint16_t id, flags;
	int have_question;
	uint8_t qname[DNS_NAME_MAX]; /* wire form, case as sent (echoed as sent) */
	size_t qname_len;
	unsigned nlabels;		   /* labels before the root one */
	uint8_t label_off[DNS_LABELS_MAX]; /* each label's length octet, in qname */
	uint16_t qtype, qclass;
	int edns; /* the query had an OPT record: so will the answer */
	uint8_t edns_version;
	uint16_t edns_payload; /* the requester's UDP payload size, at least DNS_UDP_MIN */
	int edns_do;	       /* DNSSEC OK: echoed, nothing is signed */
};

/** Parse the query \p msg of \p len octets into \p q.
 *  \retval 0 a well-formed query;
 *  \retval DNS_FORMERR, DNS_NOTIMP or DNS_BADVERS: answer with that rcode
 *          (q has the id and flags, and the question and EDNS state when
 *          they were read);
 *  \retval -EBADMSG not to be answered at all: shorter than a header, or a
 *          response (answering responses is how two servers loop). */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q);

/** How many labels of the question come before the zone \p zone (one
 *  label, e.g. "pilot", compared without regard to ASCII case).
 *  \retval 0 the apex itself, N > 0, or -1 when the name is not in it. */
int dns_zone_depth(const struct dns_query *q, const char *zone);

/** Label \p i (0: leftmost) of the question, lower-cased, as a C string in
 *  \p out (room for DNS_LABEL_MAX + 1).  \retval its length, or -EINVAL
 *  when it holds an octet other than a letter, digit or hyphen (no
 *  hostname has one) or \p i is out of range. */
int dns_label_host(const struct dns_query *q, unsigned i, char *out, size_t outlen);

/* What to answer.  A negative answer (NXDOMAIN, or NOERROR without an
 * address) carries the zone's SOA in the authority section, so that
 * resolvers cache it for soa_min seconds at most (RFC 2308). */
struct dns_answer {
	unsigned rcode;		     /* enum dns_rcode */
	int aa;			     /* authoritative: our own zone */
	const struct in6_addr *aaaa; /* the one AAAA record, or NULL */
	uint32_t ttl;		     /* of the AAAA record */
	int soa;		     /* 1: the SOA in the authority section; 2: as the answer */
	unsigned zone_labels;	     /* the zone: the question's last N labels (for soa) */
	uint32_t soa_min;	     /* the SOA's TTL and MINIMUM */
};

/** Encode \p a, the answer to \p q, into \p out of at most \p limit octets
 *  (the transport's: DNS_UDP_MIN, the requester's EDNS size, or
 *  DNS_MSG_MAX over TCP).  An answer that does not fit is cut to its
 *  header, question and OPT record, with TC set (the client asks again
 *  over TCP).  \retval its length, or -ENOSPC when not even that fits. */
int dns_encode_answer(const struct dns_query *q, const struct dns_answer *a, uint8_t *out,
		      size_t limit);

/** The UDP reply limit for \p q: its EDNS payload size, capped at
 *  DNS_EDNS_PAYLOAD, or DNS_UDP_MIN without EDNS. */
size_t dns_udp_limit(const struct dns_query *q);

#endif
