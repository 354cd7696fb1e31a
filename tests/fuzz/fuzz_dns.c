/* fuzz_dns.c - the DNS stub's codec (src/pilotd/dns.c): the input as a
 * query.  Whatever it is, the parser gives one of its documented verdicts
 * and what it read is consistent with the bytes (the question as sent, a
 * name within bounds, labels that tile it); each answer the stub may give
 * to it is then encoded under several limits and read back by an
 * independent reader (every pointer aimed backwards at the question, the
 * counts matching the records, nothing past the limit; TC only with no
 * records), and is refused as a query (it is a response).
 * Corpus: tests/fuzz/corpus/dns. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FZ_MAX 4096

/* The end of the name at \p off in \p m, or 0 when it is not one we
 * write: labels, then the root or a pointer to an earlier offset. */
static size_t fz_name_end(const uint8_t *m, size_t len, size_t off)
{
	for (int guard = 0; guard < 130; guard++) {
		if (off >= len)
			return 0;
		if ((m[off] & 0xc0) == 0xc0) {
			if (off + 2 > len || (size_t)(get_be16(m + off) & 0x3fff) >= off)
				return 0;
			return off + 2;
		}
		if (m[off] & 0xc0)
			return 0;
		if (m[off] == 0)
			return off + 1;
		off += 1 + (size_t)m[off];
	}
	return 0;
}

/* An answer we wrote for \p q under \p limit: well formed, or abort. */
static void fz_check_answer(const struct dns_query *q, const uint8_t *m, int rc, size_t limit)
{
	struct dns_query back;
	size_t off = DNS_HDR_LEN, len;
	unsigned qd, an, ns, ar;

	if (rc == -ENOSPC) {
		/* Only when not even the header and question fit. */
		if (limit >=
		    DNS_HDR_LEN + (q->have_question ? q->qname_len + 4 : 0) + (q->edns ? 11 : 0))
			abort();
		return;
	}
	if (rc < DNS_HDR_LEN || (size_t)rc > limit)
		abort();
	len = (size_t)rc;
	if (get_be16(m) != q->id || !(get_be16(m + 2) & DNS_F_QR))
		abort();
	qd = get_be16(m + 4), an = get_be16(m + 6), ns = get_be16(m + 8), ar = get_be16(m + 10);
	if (qd != (q->have_question ? 1u : 0u) || ar != (q->edns ? 1u : 0u))
		abort();
	if ((get_be16(m + 2) & DNS_F_TC) && (an || ns))
		abort();
	if (qd) {
		if (memcmp(m + off, q->qname, q->qname_len) != 0)
			abort();
		off += q->qname_len + 4;
	}
	for (unsigned i = 0; i < an + ns + ar; i++) {
		size_t e = fz_name_end(m, len, off);
		if (!e || e + 10 > len)
			abort();
		off = e + 10 + (size_t)get_be16(m + e + 8);
		if (off > len)
			abort();
	}
	if (off != len)
		abort();
	/* A response is never taken as a query. */
	if (dns_parse_query(m, len, &back) != -EBADMSG)
		abort();
}

static void fz_answers(const struct dns_query *q, const uint8_t *d, size_t n)
{
	static const unsigned rcodes[] = {DNS_NOERROR,	DNS_NXDOMAIN, DNS_REFUSED,
					  DNS_SERVFAIL, DNS_FORMERR,  DNS_BADVERS};
	static uint8_t out[DNS_MSG_MAX];
	struct in6_addr ip;
	size_t limits[4] = {DNS_UDP_MIN, dns_udp_limit(q), sizeof(out),
			    n ? (size_t)d[n - 1] * 2 : 0};

	memset(&ip, 0xfd, sizeof(ip));
	for (size_t r = 0; r < sizeof(rcodes) / sizeof(rcodes[0]); r++) {
		for (int shape = 0; shape < 4; shape++) {
			struct dns_answer a = {.rcode = rcodes[r], .aa = shape > 0};
			if (shape == 1)
				a.aaaa = &ip, a.ttl = 5;
			if (shape >= 2) {
				a.soa = shape - 1;
				a.zone_labels = 1 + (n ? d[0] % 3 : 0);
				a.soa_min = 1;
			}
			for (size_t l = 0; l < 4; l++) {
				int rc = dns_encode_answer(q, &a, out, limits[l]);
				fz_check_answer(q, out, rc, limits[l]);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct dns_query q;
	char host[DNS_LABEL_MAX + 1];
	int rc;

	if (n > FZ_MAX)
		return 0;
	rc = dns_parse_query(d, n, &q);
	if (rc == -EBADMSG) {
		if (n >= DNS_HDR_LEN && !(d[2] & 0x80))
			abort(); /* dropped: only short messages and responses */
		return 0;
	}
	if (rc != 0 && rc != DNS_FORMERR && rc != DNS_NOTIMP && rc != DNS_BADVERS)
		abort();
	if (q.id != get_be16(d) || q.flags != get_be16(d + 2))
		abort();
	if (rc == DNS_BADVERS && (!q.edns || !q.edns_version))
		abort();
	if (rc == 0 && (!q.have_question || (q.edns && q.edns_version)))
		abort();
	if (q.have_question) {
		size_t off = 0;
		/* As sent, within bounds, the labels tiling it up to the root. */
		if (q.qname_len < 1 || q.qname_len > DNS_NAME_MAX ||
		    memcmp(d + DNS_HDR_LEN, q.qname, q.qname_len) != 0)
			abort();
		for (unsigned i = 0; i < q.nlabels; i++) {
			if (q.label_off[i] != off || !q.qname[off] || q.qname[off] > DNS_LABEL_MAX)
				abort();
			off += 1 + (size_t)q.qname[off];
		}
		if (off + 1 != q.qname_len || q.qname[off] != 0)
			abort();
		for (unsigned i = 0; i < q.nlabels; i++) {
			int hl = dns_label_host(&q, i, host, sizeof(host));
			if (hl >= 0 &&
			    ((size_t)hl != q.qname[q.label_off[i]] || strlen(host) != (size_t)hl))
				abort();
			for (int k = 0; k < hl; k++)
				if (!((host[k] >= 'a' && host[k] <= 'z') ||
				      (host[k] >= '0' && host[k] <= '9') || host[k] == '-'))
					abort();
		}
		if (dns_zone_depth(&q, "pilot") >= (int)q.nlabels)
			abort();
	}
	if (q.edns && (q.edns_payload < DNS_UDP_MIN || dns_udp_limit(&q) > DNS_EDNS_PAYLOAD))
		abort();
	fz_answers(&q, d, n);
	return 0;
}
