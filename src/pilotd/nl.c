/* nl.c - see nl.h.  All of Pilot's rtnetlink traffic, through libmnl.
 *
 * One NETLINK_ROUTE socket, used synchronously: each call sends one request
 * with NLM_F_ACK and reads until the kernel's NLMSG_ERROR for that sequence
 * number and our port id.  The socket is blocking (with a receive timeout),
 * which is fine: the kernel answers rtnetlink requests itself. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"
#include "nl.h"
#include "util.h"

/* Large enough for any single rtnetlink reply we ask for (an RTM_NEWLINK
 * with all its stats is a few KiB); a bigger datagram is MSG_TRUNC and
 * reported as -ENOSPC by libmnl rather than parsed half. */
#define NL_BUF_SIZE 32768
/* The kernel always answers, but under rtnl_lock contention it can take
 * seconds; a daemon must still not wait forever. */
#define NL_RCV_TIMEOUT_S 10

struct nl_ctx {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
	char errmsg[256];
	int quiet; /* -errno a caller expects: not worth a warning */
	uint8_t buf[NL_BUF_SIZE];
};

/* What one transaction gathers from the replies. */
struct nl_reply {
	struct nl_ctx *nl;
	int error;   /* -errno from NLMSG_ERROR, 0 for a plain ACK */
	int ifindex; /* RTM_GETLINK only */
	uint32_t bad_attr_off;
	int have_bad_attr_off;
};

/* Attribute policy: the minimum length of each attribute we read, indexed
 * by type.  Anything not listed is ignored, never dereferenced. */
struct nl_policy {
	enum mnl_attr_data_type type;
	size_t len; /* for MNL_TYPE_BINARY */
};

struct nl_parse {
	const struct nl_policy *pol;
	size_t npol;
	const struct nlattr **tb;
};

static int nl_attr_cb(const struct nlattr *a, void *data)
{
	struct nl_parse *p = data;
	uint16_t type = mnl_attr_get_type(a);
	int rc;

	if (type >= p->npol || p->pol[type].type == MNL_TYPE_UNSPEC)
		return MNL_CB_OK;
	if (p->pol[type].type == MNL_TYPE_BINARY)
		rc = mnl_attr_validate2(a, MNL_TYPE_BINARY, p->pol[type].len);
	else
		rc = mnl_attr_validate(a, p->pol[type].type);
	/* A malformed attribute is skipped, not fatal: the kernel's answer
	 * (ACK or errno) is still in the header we already trust. */
	if (rc < 0)
		return MNL_CB_OK;
	p->tb[type] = a;
	return MNL_CB_OK;
}

static const struct nl_policy nlmsgerr_policy[NLMSGERR_ATTR_MAX + 1] = {
    [NLMSGERR_ATTR_MSG] = {MNL_TYPE_NUL_STRING, 0},
    [NLMSGERR_ATTR_OFFS] = {MNL_TYPE_U32, 0},
};

static int nl_cb_error(const struct nlmsghdr *nlh, void *data)
{
	struct nl_reply *r = data;
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = {NULL};
	struct nl_parse p = {nlmsgerr_policy, nitems(nlmsgerr_policy), tb};
	size_t off;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	/* Extended-ack TLVs follow the echoed request: just its header when
	 * NETLINK_CAP_ACK took effect (NLM_F_CAPPED), the whole request
	 * otherwise (older kernels, or the option refused). */
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		off = sizeof(*err);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED) &&
		    err->msg.nlmsg_len >= sizeof(struct nlmsghdr))
			off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
		/* libmnl aligns the offset; bound it by what arrived. */
		if (mnl_nlmsg_size(MNL_ALIGN(off)) <= nlh->nlmsg_len)
			mnl_attr_parse(nlh, (unsigned)off, nl_attr_cb, &p);
	}
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(r->nl->errmsg, sizeof(r->nl->errmsg), "%s",
			 mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]));
	if (tb[NLMSGERR_ATTR_OFFS]) {
		r->bad_attr_off = mnl_attr_get_u32(tb[NLMSGERR_ATTR_OFFS]);
		r->have_bad_attr_off = 1;
	}
	/* error == 0 is the ACK; any text then is a kernel warning. */
	r->error = err->error <= 0 ? err->error : -err->error;
	return MNL_CB_STOP;
}

static int nl_cb_noop(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

static int nl_cb_overrun(const struct nlmsghdr *nlh, void *data)
{
	errno = ENOBUFS;
	return MNL_CB_ERROR;
}

/* With a control-callback array libmnl uses it, not its defaults, for every
 * type below NLMSG_MIN_TYPE, so all four must be here.  Not const only
 * because mnl_cb_run2() takes a non-const array; it is never written. */
static mnl_cb_t nl_ctl_cb[NLMSG_MIN_TYPE] = {
    [NLMSG_NOOP] = nl_cb_noop,
    [NLMSG_ERROR] = nl_cb_error,
    [NLMSG_DONE] = nl_cb_noop, /* we never dump; the ACK still ends it */
    [NLMSG_OVERRUN] = nl_cb_overrun,
};

struct nl_ctx *nl_open(void)
{
	struct nl_ctx *nl;
	struct timeval tv = {.tv_sec = NL_RCV_TIMEOUT_S};
	int one = 1, saved;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return NULL;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock) {
		log_warn("netlink socket");
		goto fail;
	}
	/* Both options are best effort: kernels before 4.12 (EXT_ACK) or 4.3
	 * (CAP_ACK) refuse them, and requests still work without. */
	if (mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one)) < 0)
		log_debug("netlink: NETLINK_EXT_ACK unsupported: %s", strerror(errno));
	if (mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
		log_debug("netlink: NETLINK_CAP_ACK unsupported: %s", strerror(errno));
	if (setsockopt(mnl_socket_get_fd(nl->sock), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		log_warn("netlink SO_RCVTIMEO");
		goto fail;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		log_warn("netlink bind");
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	/* A random start keeps our sequence numbers distinct from a previous
	 * run's on a recycled port id; 0 is avoided since libmnl treats a zero
	 * sequence as "do not check". */
	nl->seq = (unsigned)time(NULL) ^ (unsigned)nl->portid;
	return nl;
fail:
	saved = errno;
	nl_close(nl);
	errno = saved;
	return NULL;
}

void nl_close(struct nl_ctx *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

const char *nl_last_error(const struct nl_ctx *nl)
{
	return nl ? nl->errmsg : "";
}

/* Discard anything left from an earlier transaction that gave up early
 * (timeout, ENOBUFS), so it cannot be mistaken for this one's reply:
 * libmnl fails a whole datagram on a sequence mismatch. */
static void nl_drain(struct nl_ctx *nl)
{
	int fd = mnl_socket_get_fd(nl->sock);

	while (recv(fd, nl->buf, sizeof(nl->buf), MSG_DONTWAIT) >= 0)
		;
}

static struct nlmsghdr *nl_msg_start(struct nl_ctx *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	if (++nl->seq == 0)
		nl->seq = 1;
	nlh->nlmsg_seq = nl->seq;
	return nlh;
}

/* Send \p nlh (built in nl->buf) and read replies until its ACK or error.
 * \p data_cb sees any RTM_* replies.  \retval 0 or -errno. */
static int nl_transact(struct nl_ctx *nl, struct nlmsghdr *nlh, const char *what, mnl_cb_t data_cb,
		       struct nl_reply *r)
{
	unsigned seq = nlh->nlmsg_seq;
	ssize_t n;
	int rc;

	nl->errmsg[0] = '\0';
	r->nl = nl;
	r->error = 0;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (n < 0) {
			rc = (errno == EAGAIN || errno == EWOULDBLOCK) ? -ETIMEDOUT : -errno;
			if (rc == -EINTR)
				continue;
			goto out;
		}
		/* seq and portid are checked by libmnl for every message: a
		 * reply to someone else's request is -EPROTO / -ESRCH. */
		rc = mnl_cb_run2(nl->buf, (size_t)n, seq, nl->portid, data_cb, r, nl_ctl_cb,
				 nitems(nl_ctl_cb));
		if (rc < 0) {
			rc = -errno;
			goto out;
		}
		if (rc == MNL_CB_STOP)
			break;
	}
	rc = r->error;
out:
	if (rc < 0 && rc == nl->quiet) {
		log_debug("netlink %s: %s", what, strerror(-rc));
	} else if (rc < 0) {
		if (r->have_bad_attr_off)
			log_warnx("netlink %s: %s%s%s (attribute at offset %u)", what,
				  strerror(-rc), nl->errmsg[0] ? ": " : "", nl->errmsg,
				  r->bad_attr_off);
		else
			log_warnx("netlink %s: %s%s%s", what, strerror(-rc),
				  nl->errmsg[0] ? ": " : "", nl->errmsg);
	} else if (nl->errmsg[0]) {
		log_debug("netlink %s: kernel warning: %s", what, nl->errmsg);
	}
	return rc;
}

static const struct nl_policy ifla_policy[IFLA_IFNAME + 1] = {
    [IFLA_IFNAME] = {MNL_TYPE_NUL_STRING, 0},
};

struct nl_link_query {
	struct nl_reply r;
	const char *name;
};

static int nl_link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nl_link_query *q = data;
	const struct ifinfomsg *ifi;
	const struct nlattr *tb[IFLA_IFNAME + 1] = {NULL};
	struct nl_parse p = {ifla_policy, nitems(ifla_policy), tb};

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	mnl_attr_parse(nlh, sizeof(*ifi), nl_attr_cb, &p);
	/* The kernel answers for exactly the name asked, but check anyway:
	 * this index goes into every later request. */
	if (tb[IFLA_IFNAME] && strcmp(mnl_attr_get_str(tb[IFLA_IFNAME]), q->name) == 0 &&
	    ifi->ifi_index > 0)
		q->r.ifindex = ifi->ifi_index;
	return MNL_CB_OK;
}

int nl_link_index(struct nl_ctx *nl, const char *ifname)
{
	struct nl_link_query q = {.name = ifname};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	char what[64];
	int rc;

	if (!nl || !ifname || ifname[0] == '\0' || strlen(ifname) >= IFNAMSIZ) {
		rc = -EINVAL;
		goto out;
	}
	nl_drain(nl);
	nlh = nl_msg_start(nl, RTM_GETLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	/* Skip the stats blobs we do not read. */
	if (!mnl_attr_put_strz_check(nlh, NL_BUF_SIZE, IFLA_IFNAME, ifname) ||
	    !mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)) {
		rc = -EMSGSIZE;
		goto out;
	}
	snprintf(what, sizeof(what), "get link %s", ifname);
	rc = nl_transact(nl, nlh, what, nl_link_cb, &q.r);
	if (rc < 0)
		goto out;
	rc = q.r.ifindex > 0 ? q.r.ifindex : -ENODEV;
out:
	return rc;
}

int nl_link_up(struct nl_ctx *nl, int ifindex, unsigned mtu)
{
	struct nl_reply r = {0};
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	char what[64];
	int rc;

	if (!nl || ifindex <= 0 || mtu == 0) {
		rc = -EINVAL;
		goto out;
	}
	nl_drain(nl);
	nlh = nl_msg_start(nl, RTM_NEWLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	/* ifi_change is the mask of flags to touch: only IFF_UP.  The kernel
	 * applies IFLA_MTU before the flags, so the link comes up with it. */
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (!mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, IFLA_MTU, mtu)) {
		rc = -EMSGSIZE;
		goto out;
	}
	snprintf(what, sizeof(what), "set link %d up, mtu %u", ifindex, mtu);
	rc = nl_transact(nl, nlh, what, NULL, &r);
out:
	return rc;
}

static int nl_addr6(struct nl_ctx *nl, uint16_t type, uint16_t flags, int ifindex,
		    const struct in6_addr *a, int plen, uint32_t ifa_flags, const char *verb)
{
	struct nl_reply r = {0};
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	char what[128], txt[INET6_ADDRSTRLEN];
	int rc;

	if (!nl || ifindex <= 0 || !a || plen < 0 || plen > 128) {
		rc = -EINVAL;
		goto out;
	}
	nl_drain(nl);
	nlh = nl_msg_start(nl, type, flags);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = (uint8_t)plen;
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	/* IPv6 reads IFA_ADDRESS as the peer when it differs from IFA_LOCAL;
	 * the same address in both means "no peer", as iproute2 sends it.
	 * The u8 ifa_flags is the legacy field: kernels since 3.14 take the
	 * flags from IFA_FLAGS when it is present, so set both. */
	if (!mnl_attr_put_check(nlh, NL_BUF_SIZE, IFA_LOCAL, sizeof(*a), a) ||
	    !mnl_attr_put_check(nlh, NL_BUF_SIZE, IFA_ADDRESS, sizeof(*a), a) ||
	    (type == RTM_NEWADDR &&
	     !mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, IFA_FLAGS,
				     IFA_F_NODAD | (ifa_flags & ~IFA_F_DEPRECATED)))) {
		rc = -EMSGSIZE;
		goto out;
	}
	if (type == RTM_NEWADDR && (ifa_flags & IFA_F_DEPRECATED)) {
		/* Deprecated = preferred lifetime 0 (the flag itself is the
		 * kernel's to set); valid for ever. */
		struct ifa_cacheinfo ci = {.ifa_prefered = 0, .ifa_valid = 0xffffffffu};
		if (!mnl_attr_put_check(nlh, NL_BUF_SIZE, IFA_CACHEINFO, sizeof(ci), &ci)) {
			rc = -EMSGSIZE;
			goto out;
		}
	}
	inet_ntop(AF_INET6, a, txt, sizeof(txt));
	snprintf(what, sizeof(what), "%s %s/%d on link %d", verb, txt, plen, ifindex);
	rc = nl_transact(nl, nlh, what, NULL, &r);
out:
	return rc;
}

int nl_addr6_add(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen)
{
	/* NODAD: the address is ours alone inside the overlay prefix, and DAD
	 * would leave it "tentative" (unusable) for about a second.  Even so
	 * the kernel installs its local route from the addrconf worker, just
	 * after our ACK: packets to it in the next few ms may be dropped. */
	return nl_addr6(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, a, plen, 0,
			"add address");
}

int nl_addr6_add_bind_only(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen)
{
	/* No prefix route, and deprecated: RFC 6724 rule 3 then keeps the
	 * kernel from choosing it as a source, which rule 8 (longest
	 * matching prefix, capped by each address's prefix length) would do
	 * for a /128 near other addresses of the subnet. */
	return nl_addr6(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, a, plen,
			IFA_F_NOPREFIXROUTE | IFA_F_DEPRECATED, "add address");
}

int nl_addr6_del(struct nl_ctx *nl, int ifindex, const struct in6_addr *a, int plen)
{
	return nl_addr6(nl, RTM_DELADDR, 0, ifindex, a, plen, 0, "delete address");
}

/* One IPv6 route: what a request names of it. */
struct nl_route6 {
	const struct in6_addr *dst;
	int plen;
	int oif;
	uint32_t table;
	uint8_t type;			/* RTN_UNICAST, RTN_LOCAL */
	const struct in6_addr *prefsrc; /* or NULL */
};

static int nl_route6(struct nl_ctx *nl, uint16_t type, uint16_t flags, const struct nl_route6 *rt,
		     const char *verb)
{
	struct nl_reply r = {0};
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	char what[160], txt[INET6_ADDRSTRLEN];
	int rc;

	if (!nl || rt->oif <= 0 || !rt->dst || rt->plen < 0 || rt->plen > 128) {
		rc = -EINVAL;
		goto out;
	}
	nl_drain(nl);
	nlh = nl_msg_start(nl, type, flags);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = (uint8_t)rt->plen;
	rtm->rtm_table = rt->table < 256 ? (uint8_t)rt->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = type == RTM_DELROUTE ? RTPROT_UNSPEC : RTPROT_STATIC;
	rtm->rtm_scope = rt->type == RTN_LOCAL ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = rt->type;
	/* rtm_table is 8 bits; RTA_TABLE is the authoritative 32-bit field.
	 * A default route (plen 0) carries no RTA_DST, as iproute2 sends it. */
	if ((rt->plen > 0 &&
	     !mnl_attr_put_check(nlh, NL_BUF_SIZE, RTA_DST, sizeof(*rt->dst), rt->dst)) ||
	    !mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, RTA_OIF, (uint32_t)rt->oif) ||
	    !mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, RTA_TABLE, rt->table) ||
	    (rt->prefsrc && !mnl_attr_put_check(nlh, NL_BUF_SIZE, RTA_PREFSRC, sizeof(*rt->prefsrc),
						rt->prefsrc))) {
		rc = -EMSGSIZE;
		goto out;
	}
	inet_ntop(AF_INET6, rt->dst, txt, sizeof(txt));
	snprintf(what, sizeof(what), "%s %sroute %s/%d via link %d, table %u", verb,
		 rt->type == RTN_LOCAL ? "local " : "", txt, rt->plen, rt->oif, rt->table);
	rc = nl_transact(nl, nlh, what, NULL, &r);
out:
	return rc;
}

int nl_route6_add(struct nl_ctx *nl, int ifindex, const struct in6_addr *dst, int plen)
{
	struct nl_route6 rt = {dst, plen, ifindex, RT_TABLE_MAIN, RTN_UNICAST, NULL};
	return nl_route6(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, "add");
}

int nl_route6_add_src(struct nl_ctx *nl, int ifindex, const struct in6_addr *dst, int plen,
		      const struct in6_addr *src)
{
	struct nl_route6 rt = {dst, plen, ifindex, RT_TABLE_MAIN, RTN_UNICAST, src};
	return nl_route6(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, "add");
}

int nl_route6_local(struct nl_ctx *nl, int add, int ifindex, const struct in6_addr *dst,
		    uint32_t table)
{
	struct nl_route6 rt = {dst, 128, ifindex, table, RTN_LOCAL, NULL};
	int rc;

	if (add)
		return nl_route6(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt, "add");
	/* Absent is a normal answer here (the kernel has not installed it
	 * yet, or it is gone already): the caller decides. */
	if (nl)
		nl->quiet = -ESRCH;
	rc = nl_route6(nl, RTM_DELROUTE, 0, &rt, "delete");
	if (nl)
		nl->quiet = 0;
	return rc;
}

int nl_rule6(struct nl_ctx *nl, int add, const char *iifname, uint32_t table, uint32_t prio)
{
	struct nl_reply r = {0};
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh;
	char what[96];
	int rc;

	if (!nl || !iifname || !iifname[0] || strlen(iifname) >= IFNAMSIZ || table == 0) {
		rc = -EINVAL;
		goto out;
	}
	nl_drain(nl);
	/* EXCL: the kernel refuses a second identical rule (EEXIST) instead
	 * of stacking copies, one per restart. */
	nlh =
	    nl_msg_start(nl, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = AF_INET6;
	frh->action = FR_ACT_TO_TBL;
	frh->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	if (!mnl_attr_put_strz_check(nlh, NL_BUF_SIZE, FRA_IIFNAME, iifname) ||
	    !mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, FRA_TABLE, table) ||
	    !mnl_attr_put_u32_check(nlh, NL_BUF_SIZE, FRA_PRIORITY, prio)) {
		rc = -EMSGSIZE;
		goto out;
	}
	snprintf(what, sizeof(what), "%s rule iif %s lookup %u pref %u", add ? "add" : "delete",
		 iifname, table, prio);
	nl->quiet = add ? -EEXIST : -ENOENT;
	rc = nl_transact(nl, nlh, what, NULL, &r);
	nl->quiet = 0;
	if (add && rc == -EEXIST)
		rc = 0;
out:
	return rc;
}
