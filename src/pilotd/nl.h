/* nl.h - every rtnetlink request Pilot makes, through libmnl.  Each call is
 * one transaction: NLM_F_ACK requested, sequence and port id checked,
 * NETLINK_EXT_ACK enabled and the kernel's message logged on failure. */
#ifndef PILOT_NL_H
#define PILOT_NL_H

#include <netinet/in.h>

struct nl_ctx;

/** \retval NULL on failure (errno set). */
struct nl_ctx *nl_open(void);
void nl_close(struct nl_ctx *nl); /* NULL is fine */

/** \retval ifindex (>0) or -errno. */
int nl_link_index(struct nl_ctx *nl, const char *ifname);
/** Set MTU and bring the link up. \retval 0 or -errno. */
int nl_link_up(struct nl_ctx *nl, int ifindex, unsigned mtu);
/** Add (replace) an IPv6 address with IFA_F_NODAD. \retval 0 or -errno. */
int nl_addr6_add(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen);
/** Delete; -EADDRNOTAVAIL if absent. \retval 0 or -errno. */
int nl_addr6_del(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen);
/** Add (replace) an IPv6 route to \p dst/\p plen via the device. \retval 0 or -errno. */
int nl_route6_add(struct nl_ctx *nl, int ifindex, const struct in6_addr *dst, int plen);
/** Copy of the kernel's last extended-ack message, "" if none. */
const char *nl_last_error(const struct nl_ctx *nl);

#endif
