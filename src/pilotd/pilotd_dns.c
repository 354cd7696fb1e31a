/* pilotd_dns.c - the DNS stub: NAME.pilot for programs that do not go
 * through glibc's NSS (musl, Go's own resolver, containers), over UDP and
 * TCP on dns_listen (by default this node's own overlay address, port 53).
 *
 * It is authoritative for the pilot domain and for nothing else: it does
 * not recurse, and every other name is REFUSED.  NAME.pilot is answered
 * exactly as the NSS module's socket answers it, by the same lookup
 * (pilotd_find.c: the registry's `find`, which shows only the nodes this
 * node may see, through the same cache): an AAAA record with the node's
 * address; NODATA (NOERROR, no record) for any other type; NXDOMAIN for a
 * name nobody has or this node may not see, the same answer for both.
 *
 * Queries are untrusted (dns.c parses them).  Each source address has its
 * own token bucket (dns_rate, dns_burst; over it a query is dropped), and
 * at most DNS_PENDING_MAX lookups wait on the registry at once (beyond,
 * SERVFAIL), since each new name may become a signed registry call.
 * Peers never get answers from it: a query from another node's overlay
 * address came through a tunnel, and what this node may see is not that
 * node's to learn (REFUSED). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bucket.h"
#include "bytes.h"
#include "dns.h"
#include "hmap.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "resolved.h"
#include "util.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

#define DNS_ZONE "pilot"
#define DNS_QUERY_MAX 4096   /* a longer query is dropped (ours are < 300 octets) */
#define DNS_PENDING_MAX 64   /* lookups waiting on the registry, all sources */
#define DNS_SOURCES_MAX 4096 /* source addresses metered at once */
#define DNS_TCP_MAX 16	     /* TCP connections at once */
#define DNS_TCP_IDLE_S 10
#define DNS_UDP_BATCH 64 /* datagrams per wakeup */
#define DNS_TTL 5	 /* as long as the lookup cache keeps a found name */
#define DNS_NEG_TTL 1	 /* ... and a missing one */

struct dns_tcp;

/* A query waiting on a lookup. */
struct dns_pend {
	struct pilotd_dns *s;
	struct dns_pend *next;
	struct dns_tcp *conn; /* NULL: over UDP, to src */
	struct sockaddr_storage src;
	socklen_t srclen;
	struct dns_query q;
	struct pilotd_find_wait *w;
};

struct dns_tcp {
	struct pilotd_dns *s;
	struct dns_tcp *next;
	struct bufferevent *bev;
	struct dns_pend *pend; /* one query at a time per connection */
	struct sockaddr_storage src;
	socklen_t srclen;
	int closing; /* the client is done: free once the answer is out */
};

struct pilotd_dns {
	struct pilotd *d;
	int udp_fd;
	struct event *ev_udp;
	struct evconnlistener *tcp;
	struct hmap *src; /* source address (16 octets, IPv4 mapped) -> token bucket */
	struct dns_pend *pend;
	struct dns_tcp *conns;
	unsigned npend, ntcp;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char listen[INET6_ADDRSTRLEN + 8]; /* as resolvectl takes it too */
	char error[300];		   /* why it is not serving; "" when it is */
	struct resolved res;
	int resolved_on;
	uint8_t buf[DNS_QUERY_MAX + 1];
};

/* ------------------------------------------------------------ config */

/* \p spec ("ADDR:PORT", "[V6]:PORT") as a socket address. */
static int listen_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN + 1];
	uint16_t port;

	memset(ss, 0, sizeof(*ss));
	if (conf_split_hostport(spec, host, sizeof(host), &port) < 0 || port == 0)
		return -EINVAL;
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	return -EINVAL;
}

int pilotd_dns_check_cfg(const struct pilotd_cfg *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (cfg->dns_listen && listen_addr(cfg->dns_listen, &ss, &len) < 0) {
		snprintf(err, errlen,
			 "dns_listen '%.200s': expected a numeric ADDRESS:PORT or [IPV6]:PORT "
			 "(port 1-65535)",
			 cfg->dns_listen);
		return -EINVAL;
	}
	return 0;
}

/* ADDRESS, or [ADDRESS]:PORT off port 53: the form resolvectl takes. */
static void format_listen(struct pilotd_dns *s)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&s->addr;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&s->addr;
	int v6 = s->addr.ss_family == AF_INET6;
	uint16_t port = ntohs(v6 ? a6->sin6_port : a4->sin_port);
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(s->addr.ss_family,
		  v6 ? (const void *)&a6->sin6_addr : (const void *)&a4->sin_addr, ip, sizeof(ip));
	if (port == 53)
		snprintf(s->listen, sizeof(s->listen), "%s", ip);
	else
		snprintf(s->listen, sizeof(s->listen), v6 ? "[%s]:%u" : "%s:%u", ip, port);
}

/* ------------------------------------------------------------ sources */

static void src_key(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	} else {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	}
}

/* One query's worth from the bucket of \p sa. */
static int src_take(struct pilotd_dns *s, const struct sockaddr *sa)
{
	struct token_bucket *tb;
	uint8_t key[16];
	int is_new;

	src_key(sa, key);
	tb = hmap_put(s->src, key, &is_new);
	if (!tb && errno == ENOSPC) {
		/* More sources than we meter: start the meters over rather
		 * than refuse every new one. */
		hmap_clear(s->src);
		tb = hmap_put(s->src, key, &is_new);
	}
	return tb && token_bucket_take(tb, s->d->cfg.dns_rate, s->d->cfg.dns_burst, now_mono_ms());
}

/* Another node's overlay address: the query came through a tunnel. */
static int from_peer(struct pilotd_dns *s, const struct sockaddr *sa)
{
	struct pilotd *d = s->d;
	const struct in6_addr *ip;
	struct pilot_addr a;

	if (sa->sa_family != AF_INET6 || !d->have_prefix)
		return 0;
	ip = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (addr_from_ipv6(&d->prefix, ip, &a) < 0)
		return 0;
	return a.node != d->node_id;
}

/* ------------------------------------------------------------ answers */

/* Send \p a to the asker of \p q: \p conn, else \p src over UDP. */
static void send_answer(struct pilotd_dns *s, const struct dns_query *q, const struct dns_answer *a,
			struct dns_tcp *conn, const struct sockaddr *src, socklen_t srclen)
{
	uint8_t out[DNS_EDNS_PAYLOAD];
	size_t limit = conn ? sizeof(out) : dns_udp_limit(q);
	int n = dns_encode_answer(q, a, out, limit);

	if (n < 0) {
		s->d->ctr.dns_dropped++;
		return;
	}
	if (n >= DNS_HDR_LEN && (out[2] & (DNS_F_TC >> 8)))
		s->d->ctr.dns_truncated++;
	switch (a->rcode) {
	case DNS_NOERROR:
		s->d->ctr.dns_answered++;
		break;
	case DNS_NXDOMAIN:
		s->d->ctr.dns_nxdomain++;
		break;
	case DNS_REFUSED:
		s->d->ctr.dns_refused++;
		break;
	case DNS_SERVFAIL:
		s->d->ctr.dns_servfail++;
		break;
	default:
		s->d->ctr.dns_formerr++;
		break;
	}
	if (conn) {
		uint8_t len[2];
		put_be16(len, (uint16_t)n);
		evbuffer_add(bufferevent_get_output(conn->bev), len, 2);
		evbuffer_add(bufferevent_get_output(conn->bev), out, (size_t)n);
		return;
	}
	if (sendto(s->udp_fd, out, (size_t)n, MSG_DONTWAIT, src, srclen) < 0)
		log_debug("dns: answer not sent: %s", strerror(errno));
}

/* An answer of rcode \p rcode with nothing in it but, for our zone, the
 * SOA: for the apex and every name below it. */
static void set_answer(struct dns_answer *a, const struct dns_query *q, unsigned rcode, int zone)
{
	memset(a, 0, sizeof(*a));
	a->rcode = rcode;
	if (zone && q->have_question) {
		a->aa = 1;
		a->soa = 1;
		a->zone_labels = 1;
		a->soa_min = DNS_NEG_TTL;
	}
}

/* The lookup's answer to \p q (found or not). */
static void answer_found(struct pilotd_dns *s, const struct dns_query *q,
			 const struct pilotd_find_answer *f, struct dns_answer *a,
			 struct in6_addr *ip)
{
	struct pilot_addr pa = {f->net, f->node};

	set_answer(a, q, f->found ? DNS_NOERROR : DNS_NXDOMAIN, 1);
	if (!f->found || (q->qtype != DNS_T_AAAA && q->qtype != DNS_T_ANY))
		return; /* NXDOMAIN, or NODATA: the name has no other type */
	addr_to_ipv6(&s->d->prefix, &pa, ip);
	a->aaaa = ip;
	a->ttl = DNS_TTL;
	a->soa = 0;
}

static void pend_free(struct dns_pend *p)
{
	struct dns_pend **pp;

	for (pp = &p->s->pend; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	p->s->npend--;
	if (p->conn)
		p->conn->pend = NULL;
	free(p);
}

static int tcp_serve(struct dns_tcp *c);

static void on_found(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		     const struct pilotd_find_answer *f)
{
	struct dns_pend *p = arg;
	struct pilotd_dns *s = p->s;
	struct dns_tcp *conn = p->conn;
	struct dns_answer a;
	struct in6_addr ip;

	(void)d;
	if (err < 0) {
		log_debug("dns: lookup failed: %s: %s", code, msg);
		set_answer(&a, &p->q, DNS_SERVFAIL, 0);
	} else {
		answer_found(s, &p->q, f, &a, &ip);
	}
	send_answer(s, &p->q, &a, conn, (const struct sockaddr *)&p->src, p->srclen);
	pend_free(p);
	if (conn)
		tcp_serve(conn);
}

/* A query for one label under the zone: the lookup.  \retval 1 when the
 * answer comes later (the query waits), 0 when \p a holds it now. */
/* The uid the stub's registry lookups are counted as in findlim.h: none
 * a process has (uid_t -2 is nobody's by convention too). */
#define DNS_BUDGET_UID ((uid_t)-2)

static int answer_host(struct pilotd_dns *s, const struct dns_query *q, struct dns_tcp *conn,
		       const struct sockaddr *src, socklen_t srclen, struct dns_answer *a,
		       struct in6_addr *ip)
{
	struct pilotd *d = s->d;
	const struct pilotd_find_answer *f;
	char label[DNS_LABEL_MAX + 1], canon[64];
	struct dns_pend *p;
	size_t digits = 0;
	int n, limited = 0;

	/* Not a hostname (the NSS module asks for none of these either): a
	 * label of digits reads as a node ID, never a name. */
	if ((n = dns_label_host(q, 0, label, sizeof(label))) <= 0 ||
	    pilotd_find_canon(label, canon, sizeof(canon)) < 0) {
		set_answer(a, q, DNS_NXDOMAIN, 1);
		return 0;
	}
	for (int i = 0; i < n; i++)
		digits += label[i] >= '0' && label[i] <= '9';
	if (digits == (size_t)n) {
		set_answer(a, q, DNS_NXDOMAIN, 1);
		return 0;
	}
	if (!d->node_id || !d->have_prefix) {
		set_answer(a, q, DNS_SERVFAIL, 0); /* not registered: ask again later */
		return 0;
	}
	if ((f = pilotd_find_cached(d, canon))) {
		answer_found(s, q, f, a, ip);
		return 0;
	}
	if (s->npend >= DNS_PENDING_MAX || !(p = calloc(1, sizeof(*p)))) {
		d->ctr.dns_busy++;
		set_answer(a, q, DNS_SERVFAIL, 0);
		return 0;
	}
	p->s = s;
	p->conn = conn;
	p->q = *q;
	memcpy(&p->src, src, srclen);
	p->srclen = srclen;
	/* The stub's lookups share the name services' registry budget, as
	 * one user of their own. */
	if (!(p->w = pilotd_find_ask_local(d, canon, DNS_BUDGET_UID, on_found, p, &limited))) {
		if (limited)
			d->ctr.dns_busy++;
		free(p);
		set_answer(a, q, DNS_SERVFAIL, 0);
		return 0;
	}
	p->next = s->pend;
	s->pend = p;
	s->npend++;
	if (conn)
		conn->pend = p;
	return 1;
}

/* One message from \p src.  \retval 1 when its answer comes later. */
static int handle(struct pilotd_dns *s, const uint8_t *msg, size_t len, struct dns_tcp *conn,
		  const struct sockaddr *src, socklen_t srclen)
{
	struct pilotd *d = s->d;
	struct dns_query q;
	struct dns_answer a;
	struct in6_addr ip;
	int rc, depth;

	d->ctr.dns_queries++;
	if (!src_take(s, src)) {
		d->ctr.dns_rate_limited++;
		return 0;
	}
	rc = dns_parse_query(msg, len, &q);
	if (rc < 0) {
		d->ctr.dns_dropped++;
		return 0;
	}
	depth = rc == 0 ? dns_zone_depth(&q, DNS_ZONE) : -1;
	if (rc > 0)
		set_answer(&a, &q, (unsigned)rc, 0);
	else if (depth < 0 || (q.qclass != DNS_C_IN && q.qclass != DNS_C_ANY) ||
		 q.qtype == DNS_T_AXFR || q.qtype == DNS_T_IXFR || from_peer(s, src))
		set_answer(&a, &q, DNS_REFUSED, 0); /* not ours to answer, or not for it */
	else if (depth == 0) {
		set_answer(&a, &q, DNS_NOERROR, 1); /* the apex: its SOA, nothing else */
		if (q.qtype == DNS_T_SOA || q.qtype == DNS_T_ANY)
			a.soa = 2;
	} else if (depth > 1)
		set_answer(&a, &q, DNS_NXDOMAIN, 1); /* hostnames are one label */
	else if (answer_host(s, &q, conn, src, srclen, &a, &ip))
		return 1;
	send_answer(s, &q, &a, conn, src, srclen);
	return 0;
}

/* ------------------------------------------------------------ UDP */

static void udp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct pilotd_dns *s = arg;

	(void)what;
	for (int i = 0; i < DNS_UDP_BATCH; i++) {
		struct sockaddr_storage src;
		socklen_t sl = sizeof(src);
		ssize_t n =
		    recvfrom(fd, s->buf, sizeof(s->buf), MSG_TRUNC, (struct sockaddr *)&src, &sl);
		if (n < 0)
			break;
		if ((size_t)n > DNS_QUERY_MAX) {
			s->d->ctr.dns_queries++;
			s->d->ctr.dns_dropped++;
			continue;
		}
		handle(s, s->buf, (size_t)n, NULL, (struct sockaddr *)&src, sl);
	}
}

/* ------------------------------------------------------------ TCP */

static void tcp_free(struct dns_tcp *c)
{
	struct dns_tcp **pp;

	for (pp = &c->s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->pend) {
		pilotd_find_cancel(c->pend->w);
		c->pend->conn = NULL;
		pend_free(c->pend);
	}
	c->s->ntcp--;
	bufferevent_free(c->bev);
	free(c);
}

/* Messages in the input, one at a time: each waits for its answer.  A
 * client that is done (EOF) is let go once its last answer is out.
 * \retval -1 when \p c is gone. */
static int tcp_serve(struct dns_tcp *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t hdr[2];
	size_t len;

	while (!c->pend && evbuffer_get_length(in) >= 2) {
		evbuffer_copyout(in, hdr, 2);
		len = get_be16(hdr);
		if (len > DNS_QUERY_MAX) {
			c->s->d->ctr.dns_queries++;
			c->s->d->ctr.dns_dropped++;
			tcp_free(c);
			return -1;
		}
		if (evbuffer_get_length(in) < 2 + len)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, c->s->buf, len);
		handle(c->s, c->s->buf, len, c, (struct sockaddr *)&c->src, c->srclen);
	}
	if (c->closing && !c->pend && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		tcp_free(c);
		return -1;
	}
	return 0;
}

static void tcp_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	tcp_serve(arg);
}

static void tcp_written(struct bufferevent *bev, void *arg)
{
	struct dns_tcp *c = arg;

	(void)bev;
	if (c->closing)
		tcp_serve(c);
}

static void tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dns_tcp *c = arg;

	/* A client that sent its queries and shut its side still gets the
	 * answers; an error or the idle timeout ends the connection. */
	if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
		c->closing = 1;
		bufferevent_disable(bev, EV_READ);
		tcp_serve(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		tcp_free(c);
}

static void tcp_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		       int salen, void *arg)
{
	struct pilotd_dns *s = arg;
	struct timeval idle = {DNS_TCP_IDLE_S, 0};
	struct dns_tcp *c;

	(void)lis;
	if (s->ntcp >= DNS_TCP_MAX || (size_t)salen > sizeof(c->src) ||
	    !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->s = s;
	memcpy(&c->src, sa, (size_t)salen);
	c->srclen = (socklen_t)salen;
	c->bev = bufferevent_socket_new(s->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		close(fd);
		return;
	}
	s->ntcp++;
	c->next = s->conns;
	s->conns = c;
	s->d->ctr.dns_tcp_connections++;
	bufferevent_setcb(c->bev, tcp_read, tcp_written, tcp_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	/* A client that sends while its query waits fills no more than this. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * (2 + DNS_QUERY_MAX));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------ start, stop */

/* A socket of \p type bound to the stub's address.  \p freebind: our own
 * overlay address, which may still be tentative on pilot0.  \retval fd,
 * or -errno. */
static int open_sock(struct pilotd_dns *s, int type, int freebind)
{
	int one = 1, fd, rc;

	fd = socket(s->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (s->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (freebind)
		setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&s->addr, s->addrlen) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) < 0)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int open_all(struct pilotd_dns *s, int freebind)
{
	int fd;

	if ((s->udp_fd = open_sock(s, SOCK_DGRAM, freebind)) < 0)
		return s->udp_fd;
	s->ev_udp = event_new(s->d->base, s->udp_fd, EV_READ | EV_PERSIST, udp_readable, s);
	if (!s->ev_udp || event_add(s->ev_udp, NULL) < 0)
		return -ENOMEM;
	if ((fd = open_sock(s, SOCK_STREAM, freebind)) < 0)
		return fd;
	s->tcp = evconnlistener_new(s->d->base, tcp_accept, s,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!s->tcp) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

int pilotd_dns_start(struct pilotd *d)
{
	struct pilotd_dns *s;
	int rc, freebind = !d->cfg.dns_listen;

	if (!d->cfg.dns || d->dns)
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	d->dns = s;
	s->d = d;
	s->udp_fd = -1;
	if (d->cfg.dns_listen) {
		if (listen_addr(d->cfg.dns_listen, &s->addr, &s->addrlen) < 0) {
			snprintf(s->error, sizeof(s->error), "dns_listen: not an address");
			return -EINVAL; /* checked with the config */
		}
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->addr;
		a->sin6_family = AF_INET6;
		a->sin6_addr = d->my_ip6;
		a->sin6_port = htons(53);
		s->addrlen = sizeof(*a);
	}
	format_listen(s);
	if (!(s->src = hmap_new(16, sizeof(struct token_bucket), DNS_SOURCES_MAX)))
		rc = -ENOMEM;
	else
		rc = open_all(s, freebind);
	if (rc < 0) {
		snprintf(s->error, sizeof(s->error), "cannot listen on %s: %s%s", s->listen,
			 strerror(-rc),
			 rc == -EACCES ? " (a port below 1024 needs CAP_NET_BIND_SERVICE; see "
					 "pilotd(8) DNS STUB)"
				       : "");
		log_errorx("DNS stub: %s", s->error);
		return rc;
	}
	log_info("DNS stub: NAME.pilot on %s (UDP and TCP)", s->listen);
	if (d->cfg.dns_resolved) {
		s->resolved_on = 1;
		resolved_register(&s->res, d->base, d->cfg.tun, s->listen);
	} else {
		log_debug("DNS stub: dns_resolved is false: not telling systemd-resolved");
	}
	return 0;
}

void pilotd_dns_stop(struct pilotd *d)
{
	struct pilotd_dns *s = d->dns;

	if (!s)
		return;
	if (s->resolved_on)
		resolved_stop(&s->res);
	/* Connections first: each drops its own waiting query. */
	if (s->tcp)
		evconnlistener_free(s->tcp);
	while (s->conns)
		tcp_free(s->conns); /* and the query it has waiting */
	while (s->pend) {
		struct dns_pend *p = s->pend;
		pilotd_find_cancel(p->w);
		pend_free(p);
	}
	if (s->ev_udp)
		event_free(s->ev_udp);
	if (s->udp_fd >= 0)
		close(s->udp_fd);
	hmap_free(s->src);
	free(s);
	d->dns = NULL;
}

const char *pilotd_dns_problem(struct pilotd *d)
{
	if (!d->cfg.dns || !d->tun_up)
		return NULL;
	if (!d->dns)
		return "not started";
	return d->dns->error[0] ? d->dns->error : NULL;
}

void pilotd_dns_status(struct pilotd *d, struct json_gen *j)
{
	struct pilotd_dns *s = d->dns;

	jg_key(j, "dns");
	jg_map_open(j);
	jg_kbool(j, "enabled", d->cfg.dns);
	if (s) {
		jg_kstr(j, "listen", s->listen);
		jg_kbool(j, "serving", !s->error[0]);
		if (s->error[0])
			jg_kstr(j, "error", s->error);
		jg_kstr(j, "resolved", s->resolved_on ? s->res.state : "off");
		if (s->resolved_on && s->res.last_error[0])
			jg_kstr(j, "resolved_error", s->res.last_error);
		jg_ku64(j, "pending", s->npend);
	}
	jg_map_close(j);
}
