/* ctl_ping.c - "pilotctl ping": real ICMPv6 echo requests to a peer's
 * overlay address, sent by pilotctl itself through the kernel and pilot0,
 * so the answer covers the whole path (routing, admission, tunnel).
 *
 * The daemon resolves the target and, between echoes, says which path the
 * tunnel takes (IPC `peer`): each reply line names it ("via direct
 * ADDR:PORT", "via punched ADDR:PORT", "via relay BEACON"), and a line
 * says when it changes, as `tailscale ping` does.  A daemon that cannot
 * say (an older one, or one that went away) leaves the path out; the
 * echoes go on.  We prefer an unprivileged ICMP
 * socket (SOCK_DGRAM/IPPROTO_ICMPV6: the kernel owns the echo id and hands
 * us only our replies, allowed by net.ipv4.ping_group_range, which covers
 * IPv6 too) and fall back to a raw socket when that is refused (root or
 * CAP_NET_RAW).  Errors such as "administratively prohibited", which
 * pilotd sends for a denied flow, arrive through IPV6_RECVERR. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <math.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

#define PING_DATALEN 56		  /* as ping(8): 64-byte ICMPv6 messages */
#define PING_MAX_COUNT 65535	  /* icmp6_seq is 16 bits; no wrap-around to track */
#define PATH_POLL_NS 100000000ull /* ask pilotd for the path at most ten times a second */
#define PATH_IPC_MS 1000	  /* a slow answer must not hold the echoes up for long */

enum { SEQ_PENDING = 0, SEQ_REPLIED, SEQ_LOST, SEQ_ERROR };

/* A path as pilotd reported it, and the echo at which it was first seen. */
struct ping_path {
	char path[16]; /* direct, punched, relayed, none */
	char endpoint[64];
	unsigned seq;
};

struct ping {
	struct ctl *c;
	const char *target;
	char ip_text[INET6_ADDRSTRLEN];
	struct sockaddr_in6 dst;
	int fd, raw;
	uint16_t id;	   /* raw sockets only; the kernel picks it for ping sockets */
	uint8_t cookie[8]; /* in every payload: replies to someone else's ping do not count */
	unsigned count;
	uint64_t interval_ns, timeout_ns;
	unsigned sent, received, errors, prohibited, oldest;
	uint64_t *sent_ns; /* by seq - 1 */
	uint8_t *state;
	double *rtt;		 /* received ones, in arrival order */
	char node[16];		 /* the resolved node ID, which `peer` is asked about */
	struct ping_path *paths; /* every path seen, in order: each later one is a change */
	unsigned npaths, paths_cap;
	unsigned *rpath; /* by received reply: 1 + index into paths; 0: not known */
	unsigned *rseq;	 /* by received reply: its seq */
	int path_off;	 /* pilotd does not answer `peer` (older, or gone): stop asking */
	uint64_t path_asked_ns;
};

static volatile sig_atomic_t ping_stop;

static void on_sigint(int sig)
{
	(void)sig;
	ping_stop = 1;
}

/* Seconds as a decimal ("0.5", "2") within [min, max]. */
static int parse_secs(const char *s, double min, double max, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

static int parse_args(struct ping *p, int argc, char **argv)
{
	struct ctl *c = p->c;
	/* ping(8) keeps intervals below 0.2 s for root: no flooding a peer
	 * from an unprivileged account. */
	double min_interval = geteuid() == 0 ? 0.001 : 0.2;
	int literal = 0;

	p->count = 4;
	p->interval_ns = 1000000000ull;
	p->timeout_ns = 2000000000ull;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val;
		char opt;

		if (literal || a[0] != '-' || a[1] == '\0') {
			if (p->target)
				return ctl_usage(c, "ping: too many arguments (from '%s' on)", a);
			p->target = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			literal = 1;
			continue;
		}
		opt = a[1];
		if (strchr("ciW", opt) == NULL || a[0] != '-')
			return ctl_usage(c, "ping: unknown option '%s'", a);
		/* "-c 5" and "-c5", as ping(8) */
		if (a[2])
			val = a + 2;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return ctl_usage(c, "ping: option -%c needs a value", opt);
		if (opt == 'c') {
			char *end;
			unsigned long v;
			errno = 0;
			v = strtoul(val, &end, 10);
			if (errno || end == val || *end || val[0] == '-' || v < 1 ||
			    v > PING_MAX_COUNT)
				return ctl_usage(c, "ping: COUNT must be 1..%d, not '%s'",
						 PING_MAX_COUNT, val);
			p->count = (unsigned)v;
		} else if (opt == 'i') {
			if (parse_secs(val, min_interval, 3600, &p->interval_ns))
				return ctl_usage(
				    c, "ping: INTERVAL must be %g..3600 seconds, not '%s'",
				    min_interval, val);
		} else if (parse_secs(val, 0.001, 3600, &p->timeout_ns)) {
			return ctl_usage(c, "ping: TIMEOUT must be 0.001..3600 seconds, not '%s'",
					 val);
		}
	}
	if (!p->target)
		return ctl_usage(c, "ping: missing TARGET");
	return 0;
}

static int resolve(struct ping *p)
{
	yajl_val tree, data;
	const char *ip = NULL;
	uint32_t node = 0;
	int ret = ctl_call1(p->c, "resolve", "target", p->target, &tree, &data);

	if (ret)
		return ret;
	p->dst.sin6_family = AF_INET6;
	if (json_get_str(data, "ipv6", &ip) != 0 || inet_pton(AF_INET6, ip, &p->dst.sin6_addr) != 1)
		ret = ctl_fail(p->c, -EPROTO, "internal", "",
			       "pilotd resolved '%s' to no IPv6 address", p->target);
	else
		inet_ntop(AF_INET6, &p->dst.sin6_addr, p->ip_text, sizeof(p->ip_text));
	/* Without a node ID there is nothing to ask the path of. */
	if (json_get_u32(data, "node_id", &node) == 0)
		snprintf(p->node, sizeof(p->node), "%u", node);
	else
		p->path_off = 1;
	yajl_tree_free(tree);
	/* The connection stays open for the path questions, which must be
	 * quick: a daemon that hangs costs an echo a second, not thirty. */
	p->c->ipc_timeout_ms = PATH_IPC_MS;
	return ret;
}

/* Ask pilotd for the peer's path into \p out.  \retval 0, or -errno when
 * it cannot say (then we stop asking; the failure is not the run's). */
static int path_ask(struct ping *p, struct ping_path *out)
{
	struct ctl *c = p->c;
	yajl_val tree, data;
	char b[64];
	int ret = ctl_call1(c, "peer", "target", p->node, &tree, &data);

	if (ret == 0) {
		snprintf(out->path, sizeof(out->path), "%s", ctl_mtext(data, "path", b, sizeof(b)));
		ctl_mtext(data, "endpoint", b, sizeof(b));
		snprintf(out->endpoint, sizeof(out->endpoint), "%s", strcmp(b, "-") ? b : "");
		yajl_tree_free(tree);
	} else if (strcmp(c->err.code, "not_found") == 0) {
		/* Neither a trust pair nor a session (any more): no tunnel. */
		snprintf(out->path, sizeof(out->path), "none");
		ret = 0;
	} else {
		p->path_off = 1;
		if (!c->json && strcmp(c->err.code, "unsupported") != 0)
			printf("path to %s: not known from now on (%s)\n", p->target,
			       c->err.message);
	}
	memset(&c->err, 0, sizeof(c->err));
	return ret;
}

/* Keep \p now as the current path; a change from the one before is
 * recorded and, in text, printed. */
static const struct ping_path *path_note(struct ping *p, const struct ping_path *now)
{
	struct ping_path *last = p->npaths ? &p->paths[p->npaths - 1] : NULL;
	char from[96], to[96], line[256];

	if (last && strcmp(last->path, now->path) == 0 &&
	    strcmp(last->endpoint, now->endpoint) == 0)
		return last;
	if (p->npaths == p->paths_cap) {
		unsigned cap = p->paths_cap ? p->paths_cap * 2 : 8;
		struct ping_path *np = realloc(p->paths, cap * sizeof(*np));
		if (!np)
			return last; /* the change goes unrecorded; the echoes go on */
		p->paths = np;
		p->paths_cap = cap;
		last = p->npaths ? &p->paths[p->npaths - 1] : NULL;
	}
	if (last && !p->c->json)
		printf("%s\n",
		       ctl_path_change(
			   p->target, ctl_path_text(last->path, last->endpoint, from, sizeof(from)),
			   ctl_path_text(now->path, now->endpoint, to, sizeof(to)), line,
			   sizeof(line)));
	p->paths[p->npaths] = *now;
	return &p->paths[p->npaths++];
}

/* The path at echo \p seq: asked again when the last answer is older than
 * PATH_POLL_NS.  \retval it, or NULL when pilotd cannot say. */
static const struct ping_path *path_now(struct ping *p, unsigned seq)
{
	uint64_t now = now_mono_ns();
	struct ping_path cur = {.seq = seq};

	if (p->path_off)
		return NULL;
	if (p->npaths && now - p->path_asked_ns < PATH_POLL_NS)
		return &p->paths[p->npaths - 1];
	p->path_asked_ns = now;
	if (path_ask(p, &cur) != 0)
		return NULL;
	return path_note(p, &cur);
}

/* " via direct 198.18.0.3:4242" for a reply line; "" when not known. */
static const char *via_text(const struct ping_path *pp, char *buf, size_t len)
{
	char t[96];

	if (!pp)
		return "";
	snprintf(buf, len, " via %s", ctl_path_text(pp->path, pp->endpoint, t, sizeof(t)));
	return buf;
}

static int open_socket(struct ping *p)
{
	int one = 1, err_dgram;

	p->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (p->fd < 0) {
		struct icmp6_filter f;
		err_dgram = errno;
		p->fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
		if (p->fd < 0)
			return ctl_fail(p->c, -err_dgram, "forbidden",
					"allow unprivileged ping (it covers ICMPv6 too): sysctl -w "
					"net.ipv4.ping_group_range='0 2147483647'; or run as root",
					"cannot open an ICMPv6 socket: %s", strerror(err_dgram));
		p->raw = 1;
		/* A raw socket sees every ICMPv6 message of the host: keep only
		 * echo replies (errors come through the error queue). */
		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		if (setsockopt(p->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) < 0)
			return ctl_fail(p->c, -errno, "internal", "", "ICMP6_FILTER: %s",
					strerror(errno));
		p->id = (uint16_t)getpid();
	}
	if (setsockopt(p->fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one)) < 0)
		return ctl_fail(p->c, -errno, "internal", "", "IPV6_RECVERR: %s", strerror(errno));
	/* connect(): the kernel then delivers only this peer's replies and
	 * tells us at once when there is no route (pilot0 down). */
	if (connect(p->fd, (struct sockaddr *)&p->dst, sizeof(p->dst)) < 0)
		return ctl_fail(p->c, -errno, "unreachable",
				"is pilotd up and pilot0 configured? see 'pilotctl status'",
				"cannot reach %s: %s", p->ip_text, strerror(errno));
	return 0;
}

static int send_one(struct ping *p)
{
	uint8_t pkt[sizeof(struct icmp6_hdr) + PING_DATALEN];
	struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;
	unsigned seq = p->sent + 1;

	memset(pkt, 0, sizeof(pkt));
	h->icmp6_type = ICMP6_ECHO_REQUEST;
	h->icmp6_id = htons(p->id);
	h->icmp6_seq = htons((uint16_t)seq);
	memcpy(pkt + sizeof(*h), p->cookie, sizeof(p->cookie));
	for (size_t i = sizeof(*h) + sizeof(p->cookie); i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)i;
	/* The kernel computes the ICMPv6 checksum for both socket kinds. */
	p->sent_ns[seq - 1] = now_mono_ns();
	p->sent++;
	if (send(p->fd, pkt, sizeof(pkt), 0) < 0) {
		int e = errno;
		p->state[seq - 1] = SEQ_ERROR;
		p->errors++;
		if (!p->c->json)
			printf("icmp_seq=%u: send failed: %s\n", seq, strerror(e));
		if (e == EACCES || e == EPERM)
			p->prohibited++;
	}
	return 0;
}

static void on_reply(struct ping *p, const uint8_t *buf, size_t len)
{
	const struct icmp6_hdr *h = (const struct icmp6_hdr *)buf;
	const struct ping_path *pp;
	char via[128];
	unsigned seq;
	double ms;

	if (len < sizeof(*h) + sizeof(p->cookie) || h->icmp6_type != ICMP6_ECHO_REPLY)
		return;
	if (p->raw && ntohs(h->icmp6_id) != p->id)
		return;
	if (memcmp(buf + sizeof(*h), p->cookie, sizeof(p->cookie)) != 0)
		return;
	seq = ntohs(h->icmp6_seq);
	if (seq < 1 || seq > p->sent)
		return;
	ms = (double)(now_mono_ns() - p->sent_ns[seq - 1]) / 1e6;
	/* Asked after the time is taken: the question adds nothing to it. */
	pp = path_now(p, seq);
	if (p->state[seq - 1] != SEQ_PENDING) {
		if (!p->c->json)
			printf("%zu bytes from %s: icmp_seq=%u time=%.3f ms (%s)%s\n", len,
			       p->ip_text, seq, ms,
			       p->state[seq - 1] == SEQ_REPLIED ? "DUP!" : "late",
			       via_text(pp, via, sizeof(via)));
		return;
	}
	p->state[seq - 1] = SEQ_REPLIED;
	p->rseq[p->received] = seq;
	p->rpath[p->received] = pp ? (unsigned)(pp - p->paths) + 1 : 0;
	p->rtt[p->received++] = ms;
	if (!p->c->json)
		printf("%zu bytes from %s: icmp_seq=%u time=%.3f ms%s\n", len, p->ip_text, seq, ms,
		       via_text(pp, via, sizeof(via)));
}

static const char *icmp6_error_text(uint8_t type, uint8_t code)
{
	static const char *const unreach[] = {"no route to destination",
					      "administratively prohibited",
					      "beyond scope of source",
					      "address unreachable",
					      "port unreachable",
					      "source address failed policy",
					      "reject route"};

	switch (type) {
	case ICMP6_DST_UNREACH:
		return code < nitems(unreach) ? unreach[code] : "destination unreachable";
	case ICMP6_PACKET_TOO_BIG:
		return "packet too big";
	case ICMP6_TIME_EXCEEDED:
		return "time exceeded";
	case ICMP6_PARAM_PROB:
		return "parameter problem";
	default:
		return "ICMPv6 error";
	}
}

/* One message from the error queue: an ICMPv6 error about one of our
 * requests (the data is our original request, so we know its seq). */
static void on_error(struct ping *p)
{
	uint8_t data[256], ctrl[512];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof(ctrl)};
	struct sock_extended_err *ee = NULL;
	const struct icmp6_hdr *h = (const struct icmp6_hdr *)data;
	char from[INET6_ADDRSTRLEN] = "?";
	ssize_t n = recvmsg(p->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
	unsigned seq = 0;

	if (n < 0)
		return;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)
			ee = (struct sock_extended_err *)CMSG_DATA(cm);
	if (!ee || ee->ee_origin != SO_EE_ORIGIN_ICMP6)
		return;
	if ((size_t)n >= sizeof(*h) && h->icmp6_type == ICMP6_ECHO_REQUEST &&
	    (!p->raw || ntohs(h->icmp6_id) == p->id))
		seq = ntohs(h->icmp6_seq);
	{
		const struct sockaddr_in6 *off = (const struct sockaddr_in6 *)SO_EE_OFFENDER(ee);
		if (off->sin6_family == AF_INET6)
			inet_ntop(AF_INET6, &off->sin6_addr, from, sizeof(from));
	}
	if (seq >= 1 && seq <= p->sent && p->state[seq - 1] == SEQ_PENDING) {
		p->state[seq - 1] = SEQ_ERROR;
		p->errors++;
		if (ee->ee_type == ICMP6_DST_UNREACH && ee->ee_code == ICMP6_DST_UNREACH_ADMIN)
			p->prohibited++;
	}
	if (!p->c->json)
		printf("from %s icmp_seq=%u: %s\n", from, seq,
		       icmp6_error_text(ee->ee_type, ee->ee_code));
}

static void drain(struct ping *p, short revents)
{
	uint8_t buf[2048];

	if (revents & POLLERR)
		for (int i = 0; i < 64; i++)
			on_error(p);
	if (revents & POLLIN) {
		for (;;) {
			ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0)
				break;
			on_reply(p, buf, (size_t)n);
		}
	}
}

/* Requests are sent in order with one timeout, so their deadlines are in
 * order too: only the oldest pending one needs checking. */
static void expire(struct ping *p, uint64_t now)
{
	while (p->oldest < p->sent) {
		unsigned i = p->oldest;
		if (p->state[i] == SEQ_PENDING) {
			if (now < p->sent_ns[i] + p->timeout_ns)
				return;
			p->state[i] = SEQ_LOST;
			if (!p->c->json)
				printf("no reply from %s: icmp_seq=%u (timeout)\n", p->ip_text,
				       i + 1);
			/* A lost echo is when a path tends to change (a dead
			 * direct path falls back to the relay): say so now. */
			path_now(p, i + 1);
		}
		p->oldest++;
	}
}

static int run(struct ping *p)
{
	uint64_t next_send = now_mono_ns();

	while (!ping_stop) {
		uint64_t now = now_mono_ns(), wake = UINT64_MAX;
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		int r;

		if (p->sent < p->count && now >= next_send) {
			send_one(p);
			next_send += p->interval_ns;
		}
		expire(p, now);
		if (p->sent == p->count && p->oldest == p->sent)
			break;
		if (p->sent < p->count)
			wake = next_send;
		if (p->oldest < p->sent)
			wake = MIN(wake, p->sent_ns[p->oldest] + p->timeout_ns);
		r = poll(&pfd, 1,
			 wake > now ? (int)MIN((wake - now + 999999) / 1000000, INT_MAX) : 0);
		if (r < 0 && errno != EINTR)
			return ctl_fail(p->c, -errno, "internal", "", "poll: %s", strerror(errno));
		if (r > 0)
			drain(p, pfd.revents);
	}
	return 0;
}

static void gen_path(struct json_gen *g, const struct ping_path *pp)
{
	jg_kstr(g, "path", pp->path);
	jg_kstr(g, "endpoint", pp->endpoint);
}

/* data.replies: each reply with the path it took (when pilotd said). */
static void gen_replies(struct ping *p, struct json_gen *g)
{
	char num[32];

	jg_key(g, "replies");
	jg_array_open(g);
	for (unsigned i = 0; i < p->received; i++) {
		int n = snprintf(num, sizeof(num), "%.3f", p->rtt[i]);
		jg_map_open(g);
		jg_ku64(g, "seq", p->rseq[i]);
		jg_key(g, "rtt_ms");
		jg_raw(g, num, (size_t)n);
		if (p->rpath[i])
			gen_path(g, &p->paths[p->rpath[i] - 1]);
		jg_map_close(g);
	}
	jg_array_close(g);
}

/* data.path_changes: [{"seq","from":{path,endpoint},"to":{...}}]. */
static void gen_path_changes(struct ping *p, struct json_gen *g)
{
	jg_key(g, "path_changes");
	jg_array_open(g);
	for (unsigned i = 1; i < p->npaths; i++) {
		jg_map_open(g);
		jg_ku64(g, "seq", p->paths[i].seq);
		jg_key(g, "from");
		jg_map_open(g);
		gen_path(g, &p->paths[i - 1]);
		jg_map_close(g);
		jg_key(g, "to");
		jg_map_open(g);
		gen_path(g, &p->paths[i]);
		jg_map_close(g);
		jg_map_close(g);
	}
	jg_array_close(g);
}

static int report(struct ping *p)
{
	double min = 0, max = 0, sum = 0;
	unsigned lost_pct = p->sent ? (p->sent - p->received) * 100 / p->sent : 0;
	int ret = 0;

	for (unsigned i = 0; i < p->received; i++) {
		double v = p->rtt[i];
		min = i == 0 || v < min ? v : min;
		max = i == 0 || v > max ? v : max;
		sum += v;
	}
	if (!p->c->json) {
		printf("\n--- %s ping statistics ---\n%u sent, %u received, %u%% loss\n", p->target,
		       p->sent, p->received, lost_pct);
		if (p->received)
			printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", min, sum / p->received,
			       max);
	} else if (p->received) {
		struct json_gen g;
		char num[32];
		int n;

		ret = ctl_emit_begin(&g);
		if (ret)
			return ret;
		jg_kstr(&g, "target", p->target);
		jg_kstr(&g, "ipv6", p->ip_text);
		jg_ku64(&g, "sent", p->sent);
		jg_ku64(&g, "received", p->received);
		jg_key(&g, "rtt_ms");
		jg_array_open(&g);
		for (unsigned i = 0; i < p->received; i++) {
			n = snprintf(num, sizeof(num), "%.3f", p->rtt[i]);
			jg_raw(&g, num, (size_t)n);
		}
		jg_array_close(&g);
		jg_key(&g, "rtt_avg_ms");
		n = snprintf(num, sizeof(num), "%.3f", sum / p->received);
		jg_raw(&g, num, (size_t)n);
		gen_replies(p, &g);
		gen_path_changes(p, &g);
		ret = ctl_emit_end(p->c, &g);
	}
	if (p->received)
		return ret;
	if (p->errors && p->prohibited == p->errors) {
		char hint[300];
		snprintf(hint, sizeof(hint),
			 "trust comes first ('pilotctl handshake %s'); else check the block list "
			 "and the network's policy",
			 p->target);
		return ctl_fail(p->c, -EACCES, "forbidden", hint,
				"%s (%s): administratively prohibited (%u sent, 0 received)",
				p->target, p->ip_text, p->sent);
	}
	return ctl_fail(p->c, -ETIMEDOUT, "timeout",
			"see 'pilotctl status' for the path to this peer and 'pilotctl trust'",
			"no reply from %s (%s): %u sent, 0 received", p->target, p->ip_text,
			p->sent);
}

int ctl_cmd_ping(struct ctl *c, int argc, char **argv)
{
	struct ping p = {.c = c, .fd = -1};
	struct sigaction sa = {.sa_handler = on_sigint}, old_int, old_term;
	int ret;

	ret = parse_args(&p, argc, argv);
	if (ret)
		return ret;
	if (getrandom(p.cookie, sizeof(p.cookie), 0) != (ssize_t)sizeof(p.cookie))
		return ctl_fail(c, -EIO, "internal", "", "getrandom failed");
	ret = resolve(&p);
	if (ret)
		return ret;
	p.sent_ns = calloc(p.count, sizeof(*p.sent_ns));
	p.state = calloc(p.count, sizeof(*p.state));
	p.rtt = calloc(p.count, sizeof(*p.rtt));
	p.rseq = calloc(p.count, sizeof(*p.rseq));
	p.rpath = calloc(p.count, sizeof(*p.rpath));
	if (!p.sent_ns || !p.state || !p.rtt || !p.rseq || !p.rpath) {
		ret = -ENOMEM;
		goto out;
	}
	ret = open_socket(&p);
	if (ret)
		goto out;
	/* A line as soon as it happens, also into a pipe or a file (ping(8)
	 * does the same): someone is watching the path change. */
	if (!c->json) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("PING %s (%s): %d data bytes\n", p.target, p.ip_text, PING_DATALEN);
	}
	/* Ctrl-C ends the run early but still prints the statistics; no
	 * SA_RESTART, so poll() returns at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	ret = run(&p);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (ret == 0)
		ret = report(&p);
out:
	if (p.fd >= 0)
		close(p.fd);
	free(p.sent_ns);
	free(p.state);
	free(p.rtt);
	free(p.rseq);
	free(p.rpath);
	free(p.paths);
	return ret;
}
