/* dns.c - see dns.h.  Every read is checked against the message's end
 * before it is made; every write against the limit (a sticky overflow
 * flag, so an encoder path cannot forget one check). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "dns.h"

#define OPT_HDR_LEN 11 /* root name, type, class, TTL, RDLENGTH */
#define RR_FIXED 10    /* type, class, TTL, RDLENGTH after an owner name */
#define PTR(off) (uint16_t)(0xc000 | (off))
#define SOA_REFRESH 3600
#define SOA_RETRY 600
#define SOA_EXPIRE 86400

/* ------------------------------------------------------------ parsing */

/* The question name at \p *pos, plain labels only (no pointer in a
 * question), into q->qname.  \retval 0 or DNS_FORMERR. */
static int parse_qname(const uint8_t *msg, size_t len, size_t *pos, struct dns_query *q)
{
	size_t p = *pos, total = 0;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return DNS_FORMERR; /* the name runs past the message */
		c = msg[p];
		if (c & 0xc0)
			return DNS_FORMERR; /* a pointer or an extended label type */
		if (c == 0)
			break;
		/* c <= 63 here (the two high bits are clear). */
		if (p + 1 + c > len || total + 1 + c + 1 > DNS_NAME_MAX ||
		    q->nlabels >= DNS_LABELS_MAX)
			return DNS_FORMERR;
		q->label_off[q->nlabels++] = (uint8_t)total;
		memcpy(q->qname + total, msg + p, (size_t)1 + c);
		total += (size_t)1 + c;
		p += (size_t)1 + c;
	}
	q->qname[total++] = 0;
	q->qname_len = total;
	*pos = p + 1;
	return 0;
}

/* The one additional record: an OPT (root owner, RFC 6891 6.1.2) whose
 * options each fit its RDATA exactly.  \retval 0, DNS_FORMERR or
 * DNS_BADVERS. */
static int parse_opt(const uint8_t *msg, size_t len, size_t *pos, struct dns_query *q)
{
	size_t p = *pos, rdlen, end;
	uint16_t payload;

	if (p + OPT_HDR_LEN > len || msg[p] != 0 || get_be16(msg + p + 1) != DNS_T_OPT)
		return DNS_FORMERR;
	payload = get_be16(msg + p + 3);
	q->edns_version = msg[p + 6];
	q->edns_do = (msg[p + 7] & 0x80) != 0;
	rdlen = get_be16(msg + p + 9);
	p += OPT_HDR_LEN;
	if (rdlen > len - p)
		return DNS_FORMERR;
	end = p + rdlen;
	while (p < end) {
		if (end - p < 4 || get_be16(msg + p + 2) > end - p - 4)
			return DNS_FORMERR;
		p += 4 + (size_t)get_be16(msg + p + 2);
	}
	q->edns = 1;
	q->edns_payload = payload < DNS_UDP_MIN ? DNS_UDP_MIN : payload;
	*pos = end;
	return q->edns_version != 0 ? DNS_BADVERS : 0;
}

int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q)
{
	uint16_t qd, an, ns, ar;
	size_t pos = DNS_HDR_LEN;
	int rc;

	memset(q, 0, sizeof(*q));
	if (!msg || len < DNS_HDR_LEN)
		return -EBADMSG;
	q->id = get_be16(msg);
	q->flags = get_be16(msg + 2);
	if (q->flags & DNS_F_QR)
		return -EBADMSG;
	if (DNS_OPCODE(q->flags) != 0)
		return DNS_NOTIMP;
	qd = get_be16(msg + 4);
	an = get_be16(msg + 6);
	ns = get_be16(msg + 8);
	ar = get_be16(msg + 10);
	if (qd != 1 || an != 0 || ns != 0 || ar > 1)
		return DNS_FORMERR;
	if ((rc = parse_qname(msg, len, &pos, q)) != 0)
		return rc;
	if (len - pos < 4)
		return DNS_FORMERR;
	q->qtype = get_be16(msg + pos);
	q->qclass = get_be16(msg + pos + 2);
	pos += 4;
	q->have_question = 1;
	if (ar == 1 && (rc = parse_opt(msg, len, &pos, q)) != 0)
		return rc;
	return pos == len ? 0 : DNS_FORMERR;
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int dns_zone_depth(const struct dns_query *q, const char *zone)
{
	size_t zl = strlen(zone);
	const uint8_t *l;

	if (!q->have_question || q->nlabels == 0)
		return -1;
	l = q->qname + q->label_off[q->nlabels - 1];
	if (l[0] != zl)
		return -1;
	for (size_t i = 0; i < zl; i++)
		if (ascii_lower(l[1 + i]) != ascii_lower((unsigned char)zone[i]))
			return -1;
	return (int)q->nlabels - 1;
}

int dns_label_host(const struct dns_query *q, unsigned i, char *out, size_t outlen)
{
	const uint8_t *l;

	if (!q->have_question || i >= q->nlabels)
		return -EINVAL;
	l = q->qname + q->label_off[i];
	if ((size_t)l[0] + 1 > outlen)
		return -EINVAL;
	for (size_t k = 0; k < l[0]; k++) {
		int c = ascii_lower(l[1 + k]);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return -EINVAL;
		out[k] = (char)c;
	}
	out[l[0]] = '\0';
	return l[0];
}

size_t dns_udp_limit(const struct dns_query *q)
{
	if (!q->edns)
		return DNS_UDP_MIN;
	return q->edns_payload < DNS_EDNS_PAYLOAD ? q->edns_payload : DNS_EDNS_PAYLOAD;
}

/* ------------------------------------------------------------ encoding */

struct wr {
	uint8_t *b;
	size_t len, cap;
	int over; /* a write did not fit: the message is void */
};

static uint8_t *wr_take(struct wr *w, size_t n)
{
	uint8_t *p;

	if (w->over || n > w->cap - w->len) {
		w->over = 1;
		return NULL;
	}
	p = w->b + w->len;
	w->len += n;
	return p;
}

static void wr_bytes(struct wr *w, const void *s, size_t n)
{
	uint8_t *p = wr_take(w, n);
	if (p)
		memcpy(p, s, n);
}

static void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t *p = wr_take(w, 2);
	if (p)
		put_be16(p, v);
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t *p = wr_take(w, 4);
	if (p)
		put_be32(p, v);
}

/* Owner or RDATA name: a pointer to a name already in the message. */
static void wr_rr_head(struct wr *w, uint16_t name_off, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	wr_u16(w, PTR(name_off));
	wr_u16(w, type);
	wr_u16(w, DNS_C_IN);
	wr_u32(w, ttl);
	wr_u16(w, rdlen);
}

/* The zone's SOA, owner and MNAME the zone apex in the question, RNAME
 * hostmaster.<zone>. */
static void wr_soa(struct wr *w, uint16_t zone_off, uint32_t min)
{
	static const uint8_t hostmaster[] = "\x0ahostmaster";

	wr_rr_head(w, zone_off, DNS_T_SOA, min, 2 + (sizeof(hostmaster) - 1) + 2 + 5 * 4);
	wr_u16(w, PTR(zone_off));
	wr_bytes(w, hostmaster, sizeof(hostmaster) - 1);
	wr_u16(w, PTR(zone_off));
	wr_u32(w, 1); /* serial: nothing transfers this zone */
	wr_u32(w, SOA_REFRESH);
	wr_u32(w, SOA_RETRY);
	wr_u32(w, SOA_EXPIRE);
	wr_u32(w, min);
}

static void wr_opt(struct wr *w, const struct dns_query *q, unsigned rcode)
{
	uint8_t *p = wr_take(w, OPT_HDR_LEN);

	if (!p)
		return;
	p[0] = 0;
	put_be16(p + 1, DNS_T_OPT);
	put_be16(p + 3, DNS_EDNS_PAYLOAD);
	p[5] = (uint8_t)(rcode >> 4); /* the extended rcode's high bits */
	p[6] = 0;		      /* version */
	p[7] = q->edns_do ? 0x80 : 0;
	p[8] = 0;
	put_be16(p + 9, 0);
}

static void wr_header(struct wr *w, const struct dns_query *q, const struct dns_answer *a, int tc,
		      uint16_t an, uint16_t ns)
{
	uint16_t f = DNS_F_QR | (uint16_t)(q->flags & (0x7800 | DNS_F_RD | DNS_F_CD));

	if (a->aa)
		f |= DNS_F_AA;
	if (tc)
		f |= DNS_F_TC;
	f |= (uint16_t)(a->rcode & 0xf);
	wr_u16(w, q->id);
	wr_u16(w, f);
	wr_u16(w, q->have_question ? 1 : 0);
	wr_u16(w, an);
	wr_u16(w, ns);
	wr_u16(w, q->edns ? 1 : 0);
}

static int encode(const struct dns_query *q, const struct dns_answer *a, struct wr *w, int cut)
{
	uint16_t an = 0, ns = 0, zone_off = 0;
	int soa = q->have_question && a->soa && a->zone_labels >= 1 && a->zone_labels <= q->nlabels;

	if (soa)
		zone_off = (uint16_t)(DNS_HDR_LEN + q->label_off[q->nlabels - a->zone_labels]);
	if (!cut) {
		an = (a->aaaa && q->have_question ? 1 : 0) + (soa && a->soa == 2 ? 1 : 0);
		ns = soa && a->soa == 1 ? 1 : 0;
	}
	wr_header(w, q, a, cut, an, ns);
	if (q->have_question) {
		wr_bytes(w, q->qname, q->qname_len);
		wr_u16(w, q->qtype);
		wr_u16(w, q->qclass);
	}
	if (!cut) {
		if (a->aaaa && q->have_question) {
			wr_rr_head(w, DNS_HDR_LEN, DNS_T_AAAA, a->ttl, 16);
			wr_bytes(w, a->aaaa->s6_addr, 16);
		}
		if (soa)
			wr_soa(w, zone_off, a->soa_min);
	}
	if (q->edns)
		wr_opt(w, q, a->rcode);
	return w->over ? -ENOSPC : (int)w->len;
}

int dns_encode_answer(const struct dns_query *q, const struct dns_answer *a, uint8_t *out,
		      size_t limit)
{
	struct wr w = {out, 0, limit, 0};
	int n;

	/* Without EDNS an extended rcode cannot be said: say FORMERR. */
	if (a->rcode > 15 && !q->edns) {
		struct dns_answer f = *a;
		f.rcode = DNS_FORMERR;
		return dns_encode_answer(q, &f, out, limit);
	}
	if ((n = encode(q, a, &w, 0)) >= 0)
		return n;
	w.len = 0;
	w.over = 0;
	return encode(q, a, &w, 1);
}
