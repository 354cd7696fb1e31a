/* fuzz_pkt.c - libFuzzer harness for pkt_parse, the parser of every packet
 * crossing pilot0 (local kernel and decrypted peer traffic alike).
 *
 * Beyond "does not crash": whatever parses must also survive the builders
 * that answer it, and what they build must parse back with a correct
 * checksum and the fields the reply rules promise. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void check_built(const uint8_t *b, int n, enum pkt_kind kind)
{
	struct pkt_info pi;

	CHECK(n >= 40 && n <= 1280);
	CHECK(pkt_parse(b, (size_t)n, &pi) == 0);
	CHECK(pi.kind == kind);
	CHECK(pkt_l4_csum(&pi.src, &pi.dst, pi.proto, b + pi.l4_off, (size_t)n - pi.l4_off) == 0);
}

static int unanswerable(const struct in6_addr *a)
{
	return IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_UNSPECIFIED(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static uint8_t out[1500];
	struct pkt_info pi, r;
	int len;

	if (pkt_parse(d, n, &pi) != 0)
		return 0;
	CHECK(pi.len == n && pi.l4_off >= 40 && pi.l4_off <= n);
	if (pi.kind == PKT_OTHER || pi.kind == PKT_ICMP6_OTHER || pi.kind == PKT_ICMP6_ERROR)
		CHECK(pi.sport == 0 && pi.dport == 0);

	if (pi.kind == PKT_TCP) {
		len = pkt_make_rst_reply(&pi, out, sizeof(out));
		if (!(pi.tcp_flags & PKT_TCP_RST) && !unanswerable(&pi.src) &&
		    !unanswerable(&pi.dst))
			CHECK(len == 60);
		if (len > 0) {
			check_built(out, len, PKT_TCP);
			CHECK(pkt_parse(out, (size_t)len, &r) == 0);
			CHECK(r.sport == pi.dport && r.dport == pi.sport);
			CHECK(memcmp(&r.src, &pi.dst, 16) == 0 && memcmp(&r.dst, &pi.src, 16) == 0);
			CHECK(r.tcp_flags & PKT_TCP_RST);
			if (pi.tcp_flags & PKT_TCP_ACK)
				CHECK(r.tcp_seq == pi.tcp_ack && r.tcp_flags == PKT_TCP_RST);
			else
				CHECK(r.tcp_ack == pi.tcp_seq + pi.tcp_payload_len);
		}
	}

	len = pkt_make_icmp6_unreach(&pi.dst, 1, d, n, out, sizeof(out));
	if (len > 0) {
		check_built(out, len, PKT_ICMP6_ERROR);
		CHECK(memcmp(out + 48, d, (size_t)len - 48) == 0);
	} else if (pi.kind != PKT_ICMP6_ERROR && pi.kind != PKT_ICMP6_OTHER &&
		   pi.kind != PKT_OTHER && !unanswerable(&pi.src) &&
		   !IN6_IS_ADDR_MULTICAST(&pi.dst)) {
		/* A well-formed TCP/UDP/echo packet from a unicast source
		 * always gets its unreachable. */
		abort();
	}
	len = pkt_make_icmp6_ptb(&pi.dst, 1280, d, n, out, sizeof(out));
	if (len > 0)
		check_built(out, len, PKT_ICMP6_ERROR);
	return 0;
}
