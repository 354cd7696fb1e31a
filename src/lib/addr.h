/* addr.h - Pilot addresses: 48-bit (16-bit network, 32-bit node), their text
 * form "N:NNNN.HHHH.LLLL[:port]" and their IPv6 mapping inside the
 * deployment's RFC 4193 /48 (SPEC section 3). */
#ifndef PILOT_ADDR_H
#define PILOT_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

struct pilot_addr {
	uint16_t net;
	uint32_t node;
};

/* The deployment prefix: the first 6 bytes of every overlay address. */
struct pilot_prefix {
	uint8_t b[6];
};

/* Node ID 0xFFFFFFFF of a network is its broadcast address (SPEC
 * section 6); the registry never hands it out. */
#define PILOT_NODE_BROADCAST 0xFFFFFFFFu

#define PILOT_ADDR_STRLEN 24 /* "65535:FFFF.FFFF.FFFF" + NUL, rounded up */
#define PILOT_SADDR_STRLEN 32

/** Parse "N:NNNN.HHHH.LLLL".  The decimal and hex network fields must agree.
 *  \retval 0 or -EINVAL. */
int addr_parse(const char *s, struct pilot_addr *out);
/** Parse "N:NNNN.HHHH.LLLL:port" (port 0..65535). \retval 0 or -EINVAL. */
int addr_parse_socket(const char *s, struct pilot_addr *out, uint16_t *port);
/** Format; \p buf must hold PILOT_ADDR_STRLEN bytes. Returns buf. */
char *addr_format(const struct pilot_addr *a, char *buf);

/** 48-bit integer form: net << 32 | node. */
uint64_t addr_to_u48(const struct pilot_addr *a);
void addr_from_u48(uint64_t v, struct pilot_addr *out);

/** Map to IPv6: prefix(48) | net(16) | 0(32) | node(32). */
void addr_to_ipv6(const struct pilot_prefix *p, const struct pilot_addr *a, struct in6_addr *out);
/** Inverse; refuses addresses outside the prefix or with the 32 zero bits set.
 *  \retval 0 or -EINVAL. */
int addr_from_ipv6(const struct pilot_prefix *p, const struct in6_addr *in, struct pilot_addr *out);

/* A node's hostname (NAME.pilot): one DNS label of letters, digits and
 * '-', not at either end, kept in lower case.  All-digit names are refused:
 * they would read as node IDs wherever a TARGET may be either. */
#define PILOT_HOSTNAME_MAX 63
/** \retval NULL with \p out the canonical (lower-case) form of \p in, or the
 *  rule \p in breaks (a phrase to follow the name in an error line). */
const char *addr_hostname_norm(const char *in, char out[PILOT_HOSTNAME_MAX + 1]);

/** Parse "fdxx:xxxx:xxxx::/48" or "fdxx:xxxx:xxxx::" (must be in fc00::/7).
 *  \retval 0 or -EINVAL. */
int prefix_parse(const char *s, struct pilot_prefix *out);
/** Format as "fdxx:xxxx:xxxx::/48"; \p buf holds INET6_ADDRSTRLEN + 4. */
char *prefix_format(const struct pilot_prefix *p, char *buf, size_t len);
/** Generate a random RFC 4193 prefix (fd00::/8 + 40 random bits). */
void prefix_generate(struct pilot_prefix *out);

#endif
