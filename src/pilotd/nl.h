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
/** An address programs may bind to and receive on, but the kernel never
 *  picks as a source: no prefix route (IFA_F_NOPREFIXROUTE), preferred
 *  lifetime 0 (deprecated), valid for ever. */
int nl_addr6_add_bind_only(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen);
/** Delete; -EADDRNOTAVAIL if absent. \retval 0 or -errno. */
int nl_addr6_del(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen);
/** Add (replace) an IPv6 route to \p dst/\p plen via the device. \retval 0 or -errno. */
int nl_route6_add(struct nl_ctx *nl, int ifindex, const struct in6_addr *dst, int plen);
/** The same, with \p src as the source address programs get (RTA_PREFSRC). */
int nl_route6_add_src(struct nl_ctx *nl, int ifindex, const struct in6_addr *dst, int plen,
		      const struct in6_addr *src);
/** Add (replace) or delete the local route \p dst/128 through \p ifindex
 *  in \p table (RT_TABLE_LOCAL is the kernel's own).  Deleting one that
 *  is not there is -ESRCH, without a warning. \retval 0 or -errno. */
int nl_route6_local(struct nl_ctx *nl, int add, int ifindex, const struct in6_addr *dst,
		    uint32_t table);
/** Add or delete the IPv6 rule "iif \p iifname lookup \p table pref
 *  \p prio".  Adding one that exists is success. \retval 0 or -errno. */
int nl_rule6(struct nl_ctx *nl, int add, const char *iifname, uint32_t table, uint32_t prio);
/** Copy of the kernel's last extended-ack message, "" if none. */
const char *nl_last_error(const struct nl_ctx *nl);

#endif
