/* dp.c - see dp.h; dp_int.h names the other files of the data path.
 * This one has the socket and the two packet loops, TUN -> admission ->
 * seal -> send and receive -> open -> admission -> TUN, the flow cuts
 * and the tick that runs the other files' timers. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/virtio_net.h>
#include <unistd.h>

#include "dp_int.h"
#include "log.h"
#include "pkt.h"
#include "util.h"

/* ---- init ---- */

int dp_init(struct pilotd *d, const struct dp_ops *ops)
{
	struct sockaddr_in6 sa;
	int fd, zero = 0, one = 1, bufsz = 4 << 20;

	d->dp_ops = ops;
	d->batch = calloc(1, sizeof(*d->batch));
	if (!d->batch || dp_bcast_init(&d->bcast) < 0 || dp_hs_init(d) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < DP_GRO_FLOWS; i++)
		d->batch->gro[i].buf = d->batch->gro_buf[i];
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Bursts of a fast sender overrun default buffers; FORCE needs
	 * CAP_NET_ADMIN, which pilotd has, and falls back otherwise. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_any;
	sa.sin6_port = htons((uint16_t)d->cfg.listen_port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		log_warn("bind UDP port %u", d->cfg.listen_port);
		close(fd);
		return e;
	}
	d->udp_fd = fd;
	d->udp_gso = !!(d->offload & PILOTD_OFFLOAD_UDP_GSO); /* tried at the first batch */
	/* UDP GRO: a run of datagrams from one source, of one size, comes up
	 * as one receive (the kernel no longer cuts a UDP GSO send from a peer
	 * back into datagrams before the socket, nor queues each alone). */
	if ((d->offload & PILOTD_OFFLOAD_UDP_GRO) &&
	    setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0)
		d->udp_gro = 1;
	else if (d->offload & PILOTD_OFFLOAD_UDP_GRO)
		log_warnx("UDP GRO refused by the kernel (%s): one receive per datagram",
			  strerror(errno));
	return 0;
}

void dp_free(struct pilotd *d)
{
	if (d->udp_fd > 0)
		close(d->udp_fd);
	d->udp_fd = -1;
	free(d->batch);
	d->batch = NULL;
	dp_bcast_free(&d->bcast);
	dp_hs_free(d);
}

/* ---- the TUN loop's batch of sends ---- */

/* The kernel takes at most this many segments in one UDP GSO send
 * (UDP_MAX_SEGMENTS, 64 before Linux 6.9), and no more bytes than one IP
 * packet may carry (the send is one skb until it is cut). */
#define GSO_UDP_MAX_SEGS 64
#define GSO_UDP_MAX_BYTES 65000

static int same_dest(const struct msghdr *a, const struct msghdr *b)
{
	return a->msg_namelen == b->msg_namelen &&
	       memcmp(a->msg_name, b->msg_name, a->msg_namelen) == 0;
}

/* Group the batch into runs of records to one endpoint, all of one size
 * but the last (which may be shorter): each run is one message with a
 * UDP_SEGMENT size, which the kernel cuts into datagrams below the socket
 * (one trip through the stack for up to 64 records).  \retval messages. */
static unsigned gso_group(struct dp_batch *b)
{
	unsigned out = 0, i = 0;

	while (i < b->ntx) {
		struct msghdr *first = &b->txm[i].msg_hdr;
		size_t seg = first->msg_iov->iov_len, total = seg;
		unsigned j = i + 1;
		struct msghdr *m = &b->gm[out].msg_hdr;

		b->giov[i] = *first->msg_iov;
		while (j < b->ntx && j - i < GSO_UDP_MAX_SEGS &&
		       same_dest(first, &b->txm[j].msg_hdr)) {
			size_t len = b->txm[j].msg_hdr.msg_iov->iov_len;
			if (len > seg || total + len > GSO_UDP_MAX_BYTES)
				break;
			total += len;
			b->giov[j] = *b->txm[j].msg_hdr.msg_iov;
			j++;
			if (len < seg)
				break; /* a shorter one ends the run */
		}
		memset(m, 0, sizeof(*m));
		m->msg_name = first->msg_name;
		m->msg_namelen = first->msg_namelen;
		m->msg_iov = &b->giov[i];
		m->msg_iovlen = j - i;
		if (j - i > 1) {
			struct cmsghdr *cm;
			uint16_t sz = (uint16_t)seg;
			m->msg_control = b->gctl[out].b;
			m->msg_controllen = sizeof(b->gctl[out].b);
			cm = CMSG_FIRSTHDR(m);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(sz));
			memcpy(CMSG_DATA(cm), &sz, sizeof(sz));
		}
		out++;
		i = j;
	}
	return out;
}

/* The batch as UDP GSO sends.  \retval 0, or -1 when the kernel refused
 * GSO itself (the caller sends the batch again without). */
static int tx_flush_gso(struct pilotd *d)
{
	struct dp_batch *b = d->batch;
	unsigned n = gso_group(b), off = 0;

	while (off < n) {
		int r = sendmmsg(d->udp_fd, b->gm + off, n - off, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (off == 0 && b->gm[0].msg_hdr.msg_controllen &&
			    (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT ||
			     errno == EOPNOTSUPP)) {
				log_warnx("UDP GSO refused by the kernel (%s): one send per record",
					  strerror(errno));
				d->udp_gso = 0;
				return -1;
			}
			off++; /* as in tx_flush: skip that message, keep the rest */
			continue;
		}
		for (int k = 0; k < r; k++) {
			d->ctr.udp_tx_packets += b->gm[off + k].msg_hdr.msg_iovlen;
			if (b->gm[off + k].msg_hdr.msg_iovlen > 1)
				d->ctr.udp_tx_gso_sends++;
		}
		off += (unsigned)r;
	}
	b->ntx = 0;
	return 0;
}

/* Send the batch tx_seal_slot queued, in as few sendmmsg calls as the
 * socket allows. */
static void tx_flush(struct pilotd *d)
{
	struct dp_batch *b = d->batch;
	unsigned off = 0;

	if (b->ntx > 1 && d->udp_gso && tx_flush_gso(d) == 0)
		return;

	while (off < b->ntx) {
		int n = sendmmsg(d->udp_fd, b->txm + off, b->ntx - off, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Socket buffer full or an ICMP error pending on one
			 * destination: skip that datagram, keep the rest. */
			off++;
			continue;
		}
		d->ctr.udp_tx_packets += (uint64_t)n;
		off += (unsigned)n;
	}
	b->ntx = 0;
}

/* Encrypt tx slot \p i (plaintext at +TNL_DATA_HDR) for \p p and queue it. */
static int tx_seal_slot(struct pilotd *d, struct peer *p, unsigned i, size_t plen)
{
	struct dp_batch *b = d->batch;
	int n = tnl_data_seal(p->cur, b->tx[i], plen);

	if (n < 0)
		return n;
	if (dp_relayed(d, p)) {
		/* The slot has room for the frame around the record. */
		memmove(b->tx[i] + BCN_RELAY_HDR, b->tx[i], (size_t)n);
		n = d->dp_ops->bcn_wrap(d, b->tx[i], (size_t)n, DP_BUFSZ, p->node_id);
		if (n < 0)
			return n;
		memcpy(&b->txa[i], &d->bcn.addr, sizeof(b->txa[i]));
		d->ctr.relay_tx_packets++;
	} else {
		memcpy(&b->txa[i], &p->ep, sizeof(b->txa[i]));
	}
	b->txv[i].iov_base = b->tx[i];
	b->txv[i].iov_len = (size_t)n;
	memset(&b->txm[i], 0, sizeof(b->txm[i]));
	b->txm[i].msg_hdr.msg_name = &b->txa[i];
	b->txm[i].msg_hdr.msg_namelen = sizeof(b->txa[i]);
	b->txm[i].msg_hdr.msg_iov = &b->txv[i];
	b->txm[i].msg_hdr.msg_iovlen = 1;
	p->tx_bytes += plen;
	p->last_tx_ms = p->last_data_ms = now_mono_ms();
	if (!p->unanswered_since_ms)
		p->unanswered_since_ms = p->last_tx_ms;
	return 0;
}

/* ---- admission ---- */

static void tun_write_pkt(struct pilotd *d, const uint8_t *pkt, size_t len)
{
	ssize_t n = tun_write(&d->tun, pkt, len);
	if (n == (ssize_t)len)
		d->ctr.tun_tx_packets++;
}

/* ---- receive coalescing (gso.h) ---- */

static void gro_write(struct pilotd *d, struct gso_coalesce *c)
{
	struct gso_hdr h;
	unsigned segs = c->segs;
	size_t len;

	if (!c->len)
		return;
	len = gso_coalesce_finish(c, &h);
	if (segs <= 1) {
		tun_write_pkt(d, c->buf, len);
		return;
	}
	if (tun_write_gso(&d->tun, &h, c->buf, len) == (ssize_t)len) {
		d->ctr.tun_tx_packets += segs;
		d->ctr.tun_tx_super++;
		d->ctr.tun_tx_coalesced += segs;
	}
}

/* Everything joined so far goes to pilot0: at the end of each receive
 * batch, so joining adds no wait of its own. */
static void gro_flush(struct pilotd *d)
{
	for (unsigned i = 0; i < DP_GRO_FLOWS; i++)
		gro_write(d, &d->batch->gro[i]);
}

/* An admitted packet for pilot0: joined to the super-packet of its TCP
 * flow when it continues it, else written (after what its flow has
 * pending, so a flow's packets keep their order). */
static void tun_deliver(struct pilotd *d, const uint8_t *pkt, size_t len)
{
	struct dp_batch *b = d->batch;
	struct gso_coalesce *c, *free_c = NULL;
	int r;

	if (!d->tun.tso) {
		tun_write_pkt(d, pkt, len);
		return;
	}
	for (unsigned i = 0; i < DP_GRO_FLOWS; i++) {
		c = &b->gro[i];
		if (!c->len) {
			if (!free_c)
				free_c = c;
			continue;
		}
		if ((r = gso_coalesce_add(c, pkt, len)) == -ESRCH)
			continue;
		if (r == 1)
			return;
		gro_write(d, c);
		if (r == 0 && gso_coalesce_add(c, pkt, len) == 1)
			return;
		tun_write_pkt(d, pkt, len);
		return;
	}
	if (!free_c) {
		free_c = &b->gro[b->gro_next];
		b->gro_next = (b->gro_next + 1) % DP_GRO_FLOWS;
		gro_write(d, free_c);
	}
	if (gso_coalesce_add(free_c, pkt, len) != 1)
		tun_write_pkt(d, pkt, len);
}

static void deny_local(struct pilotd *d, const uint8_t *pkt, size_t len, const struct pkt_info *pi)
{
	uint8_t *out = d->batch->scratch;
	int n;

	/* A TCP segment of a connection that is not (or no longer) allowed
	 * is answered with a RST the local socket accepts at once; a new
	 * connection or datagram with ICMPv6 "administratively prohibited",
	 * which makes connect()/send() fail with EACCES. */
	if (pi->kind == PKT_TCP && !(pi->tcp_flags & PKT_TCP_SYN)) {
		if (pi->tcp_flags & PKT_TCP_RST)
			return;
		n = pkt_make_rst_reply(pi, out, DP_BUFSZ);
		if (n > 0) {
			tun_write_pkt(d, out, (size_t)n);
			d->ctr.rst_sent++;
		}
		return;
	}
	if (pi->kind == PKT_ICMP6_ERROR)
		return; /* never answer an error with an error */
	n = pkt_make_icmp6_unreach(&pi->dst, 1, pkt, len, out, DP_BUFSZ);
	if (n > 0) {
		tun_write_pkt(d, out, (size_t)n);
		d->ctr.icmp_prohibited_sent++;
	}
}

/* The flow an ICMPv6 error \p pi (from \p pkt) quotes, if this node has
 * it: the error then belongs to that flow (a peer's refusal of our first
 * packet, a packet too big) whatever the policy says of ICMPv6. */
static struct flow *quoted_flow(struct pilotd *d, const uint8_t *pkt, const struct pkt_info *pi,
				int from_local)
{
	struct pkt_info q;
	struct flow_key k;

	if (pkt_icmp6_quoted(pkt, pi, &q) < 0)
		return NULL;
	/* The quoted packet went the other way. */
	flow_key_from_pkt(&k, &q, !from_local);
	return flow_lookup(&d->flows, &k);
}

/* Find or admit the flow of \p pi (the packet \p pkt).  \retval flow, or
 * NULL when denied, with the reason in \p why. */
static struct flow *flow_admit(struct pilotd *d, const uint8_t *pkt, const struct pkt_info *pi,
			       uint32_t peer_node, uint16_t net, int from_local, uint64_t now,
			       enum admit_reason *why_out)
{
	struct flow_key k;
	struct flow *f;
	struct admit_req r;
	enum admit_reason why;

	*why_out = ADMIT_OK;
	flow_key_from_pkt(&k, pi, from_local);
	f = flow_lookup(&d->flows, &k);
	if (f)
		return f;
	if (pi->kind == PKT_ICMP6_ERROR && (f = quoted_flow(d, pkt, pi, from_local)) &&
	    f->peer_node == peer_node)
		return &d->flow_passthrough;
	if (!from_local && !d->dp_ops->inbound_open(d)) {
		d->ctr.flows_denied++;
		d->admit.denied[ADMIT_NOT_SYNCED]++;
		d->dp_ops->flow_denied(d, pi, peer_node, 1, ADMIT_NOT_SYNCED);
		*why_out = ADMIT_NOT_SYNCED;
		return NULL;
	}
	memset(&r, 0, sizeof(r));
	r.peer_node = peer_node;
	r.net = net;
	r.inbound = !from_local;
	r.pi = pi;
	r.now_ms = now;
	why = admit_check(&d->admit, &r);
	if (why != ADMIT_OK) {
		d->ctr.flows_denied++;
		d->dp_ops->flow_denied(d, pi, peer_node, !from_local, why);
		*why_out = why;
		return NULL;
	}
	/* ICMPv6 errors belong to the flow they quote; they pass on the
	 * strength of the peer check without making a flow of their own. */
	if (pi->kind == PKT_ICMP6_ERROR)
		return &d->flow_passthrough;
	f = flow_insert(&d->flows, &k);
	if (!f) {
		d->ctr.flows_denied++;
		d->admit.denied[ADMIT_LIMIT_TOTAL]++;
		*why_out = ADMIT_LIMIT_TOTAL;
		return NULL;
	}
	f->peer_node = peer_node;
	f->basis = r.basis;
	f->basis_net = r.basis_net;
	f->inbound = (uint8_t)!from_local;
	f->created_ms = now;
	admit_flow_added(&d->admit, (pi->kind == PKT_TCP || pi->kind == PKT_UDP) ? k.lport : 0);
	d->ctr.flows_admitted++;
	return f;
}

/* ---- outbound: TUN -> tunnel ---- */

/* The kernel answers a broadcast no socket listens for with "port
 * unreachable", as for any unicast datagram (from the broadcast address,
 * which is on pilot0, or from ours): one broadcast would bring the sender
 * an error from every member.  Errors are never sent about a broadcast
 * (RFC 4443 2.4(e), as for multicast). */
static int quotes_broadcast(struct pilotd *d, const uint8_t *pkt, const struct pkt_info *pi)
{
	struct pkt_info q;
	struct pilot_addr qa;

	return pkt_icmp6_quoted(pkt, pi, &q) == 0 && addr_from_ipv6(&d->prefix, &q.dst, &qa) == 0 &&
	       qa.node == PILOT_NODE_BROADCAST;
}

static void outbound(struct pilotd *d, unsigned slot, size_t len, uint64_t now)
{
	struct dp_batch *b = d->batch;
	uint8_t *pkt = b->tx[slot] + TNL_DATA_HDR;
	struct pkt_info pi;
	struct pilot_addr src, dst;
	struct flow *f;
	struct peer *p;
	enum admit_reason why;

	d->ctr.tun_rx_packets++;
	if (pkt_parse(pkt, len, &pi) < 0 || addr_from_ipv6(&d->prefix, &pi.dst, &dst) < 0 ||
	    addr_from_ipv6(&d->prefix, &pi.src, &src) < 0) {
		d->ctr.tx_dropped_malformed++;
		return;
	}
	if (src.node == PILOT_NODE_BROADCAST ||
	    (pi.kind == PKT_ICMP6_ERROR && quotes_broadcast(d, pkt, &pi))) {
		d->ctr.bcast_dropped++; /* nothing is sent from, or about, a broadcast */
		return;
	}
	if (src.node != d->node_id || dst.node == d->node_id || dst.node == 0) {
		d->ctr.tx_dropped_malformed++;
		return;
	}
	if (dst.node == PILOT_NODE_BROADCAST) {
		struct dp_bcast_result res;
		int rc = src.net != dst.net ? -EINVAL
					    : dp_bcast_out(d, pkt, len, &pi, dst.net, now, &res);
		/* The backbone, a network we are not in, not UDP: the program
		 * learns at once.  Over the rate: dropped, as by a busy link. */
		if (rc < 0 && rc != -EBUSY)
			deny_local(d, pkt, len, &pi);
		return;
	}
	f = flow_admit(d, pkt, &pi, dst.node, dst.net, 1, now, &why);
	if (!f) {
		deny_local(d, pkt, len, &pi);
		return;
	}
	if (f != &d->flow_passthrough)
		flow_track(f, &pi, 1, now);
	p = d->dp_ops->peer_for(d, dst.node);
	if (!p) {
		d->ctr.tx_dropped_no_peer++;
		return;
	}
	if (dp_relayed(d, p) && len > dp_relay_mtu(d)) {
		/* The relay's frame must fit the underlay: the sender learns a
		 * smaller path MTU for this peer (TCP shrinks its segments). */
		int n = pkt_make_icmp6_ptb(&pi.dst, (uint32_t)dp_relay_mtu(d), pkt, len,
					   d->batch->scratch, DP_BUFSZ);
		if (n > 0)
			tun_write_pkt(d, d->batch->scratch, (size_t)n);
		d->ctr.relay_dropped_too_big++;
		return;
	}
	if (!dp_session_ready(d, p, now)) {
		peer_queue_push(p, pkt, len);
		d->ctr.tx_queued++;
		dp_want_session(d, p);
		return;
	}
	if (tx_seal_slot(d, p, slot, len) < 0) {
		dp_want_session(d, p);
		return;
	}
	/* Compact: slot i may be sent as the ntx-th message. */
	if (b->ntx != slot) {
		b->txm[b->ntx] = b->txm[slot];
	}
	b->ntx++;
}

/* The largest packet a tx slot holds (room for the record and relay
 * headers around it). */
#define SLOT_PKT_MAX (DP_BUFSZ - TNL_DATA_OVERHEAD - BCN_RELAY_OVERHEAD)

/* A vnet pilot0: each read is one packet or one TCP super-packet, which is
 * cut into segments straight into tx slots; each segment then goes the way
 * a packet read alone would (admission, seal, batch).  A full batch is sent
 * before the next slot is reused. */
static void tun_read_offload(struct pilotd *d, uint64_t now)
{
	struct dp_batch *b = d->batch;
	unsigned slot = 0;

	b->ntx = 0;
	for (unsigned reads = 0; reads < DP_BATCH; reads++) {
		struct gso_hdr h;
		ssize_t n = tun_read_vnet(&d->tun, &h, b->super, sizeof(b->super));
		int segs;

		if (n <= 0)
			break;
		if ((h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_NONE) {
			if (((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
			     gso_complete_csum(b->super, (size_t)n, &h) < 0) ||
			    (size_t)n > SLOT_PKT_MAX) {
				d->ctr.tun_rx_bad_offload++;
				continue;
			}
			if (slot == DP_BATCH) {
				tx_flush(d);
				slot = 0;
			}
			memcpy(b->tx[slot] + TNL_DATA_HDR, b->super, (size_t)n);
			outbound(d, slot++, (size_t)n, now);
			continue;
		}
		if ((segs = gso_count(b->super, (size_t)n, &h)) < 0) {
			d->ctr.tun_rx_bad_offload++;
			continue;
		}
		d->ctr.tun_rx_super++;
		for (int k = 0; k < segs; k++) {
			int len;
			if (slot == DP_BATCH) {
				tx_flush(d);
				slot = 0;
			}
			len = gso_segment(b->super, (size_t)n, &h, (unsigned)k,
					  b->tx[slot] + TNL_DATA_HDR, SLOT_PKT_MAX);
			if (len < 0) {
				d->ctr.tun_rx_bad_offload++;
				break;
			}
			d->ctr.tun_rx_segments++;
			outbound(d, slot++, (size_t)len, now);
		}
	}
	tx_flush(d);
}

void dp_tun_readable(int fd, short what, void *arg)
{
	struct pilotd *d = arg;
	struct dp_batch *b = d->batch;
	uint64_t now = now_mono_ms();

	(void)fd;
	(void)what;
	if (d->tun.vnet) {
		tun_read_offload(d, now);
		return;
	}
	for (int rounds = 0; rounds < 4; rounds++) {
		unsigned i, got = 0;
		b->ntx = 0;
		for (i = 0; i < DP_BATCH; i++) {
			ssize_t n = tun_read(&d->tun, b->tx[i] + TNL_DATA_HDR, SLOT_PKT_MAX);
			if (n <= 0)
				break;
			got++;
			outbound(d, i, (size_t)n, now);
		}
		tx_flush(d);
		if (got < DP_BATCH)
			break;
	}
}

/* ---- inbound: tunnel -> TUN ---- */

/* The authenticated peer \p p sent the first packet of a flow this node
 * refused (\p why): tell its program at once, through the tunnel, instead
 * of letting it time out (SPEC section 5).  Within a per-peer budget, for
 * decisions that stand, and never to an answer of the same kind. */
static void refuse_remote(struct pilotd *d, struct peer *p, const uint8_t *pkt,
			  const struct pkt_info *pi, enum admit_reason why, uint64_t now)
{
	/* Built in scratch: dp_seal_now moves it into place (memmove). */
	uint8_t *out = d->batch->scratch;
	int n;

	if (!admit_reason_answered(why) || (pi->kind == PKT_TCP && (pi->tcp_flags & PKT_TCP_RST)) ||
	    pi->kind == PKT_ICMP6_ERROR || !dp_session_ready(d, p, now))
		return;
	if (!admit_refusal_ok(&d->admit, p->node_id, now)) {
		d->ctr.refusals_rate_limited++;
		return;
	}
	n = pkt_make_refusal(pkt, pi, out, DP_BUFSZ - TNL_DATA_OVERHEAD);
	if (n <= 0)
		return;
	dp_send_data_now(d, p, out, (size_t)n);
	if (pi->kind == PKT_TCP)
		d->ctr.refusals_rst_sent++;
	else
		d->ctr.refusals_icmp_sent++;
}

static void handle_data(struct pilotd *d, uint8_t *buf, size_t len, const struct sockaddr_in6 *src,
			uint32_t via, uint64_t now)
{
	struct tnl_keypair *kp;
	struct pkt_info pi;
	struct pilot_addr sa, da;
	struct peer *p;
	struct flow *f;
	enum admit_reason why;
	uint32_t idx;
	uint8_t *pkt = buf + TNL_DATA_HDR;
	int n;

	if (tnl_msg_receiver_index(buf, len, &idx) < 0) {
		d->ctr.rx_dropped_malformed++;
		return;
	}
	p = peer_index_find(&d->peers, idx);
	kp = p ? peer_keypair_by_index(p, idx) : NULL;
	if (!kp || now - kp->created_ms > d->reject_ms || (via && via != p->node_id)) {
		d->ctr.rx_dropped_unknown_index++;
		return;
	}
	n = tnl_data_open(kp, buf, len);
	if (n < 0) {
		if (n == -EALREADY)
			d->ctr.rx_dropped_replay++;
		else
			d->ctr.rx_dropped_auth++;
		return;
	}
	peer_confirm_keypair(&d->peers, p, kp);
	p->last_rx_ms = now;
	p->unanswered_since_ms = 0;
	dp_note_rx(d, p, src, via, now);
	if (p->qcount && dp_session_ready(d, p, now))
		dp_flush_queue(d, p);
	if (n == 0)
		return; /* keepalive */
	p->rx_bytes += (uint64_t)n;
	p->last_data_ms = now;
	/* No spoofing through a tunnel: the inner source must be the peer's
	 * own address and the destination ours. */
	if (pkt_parse(pkt, (size_t)n, &pi) < 0) {
		d->ctr.rx_dropped_malformed++;
		return;
	}
	if (addr_from_ipv6(&d->prefix, &pi.src, &sa) < 0 || sa.node != p->node_id ||
	    addr_from_ipv6(&d->prefix, &pi.dst, &da) < 0 ||
	    (da.node != d->node_id && da.node != PILOT_NODE_BROADCAST) || sa.net != da.net) {
		d->ctr.rx_dropped_spoof++;
		return;
	}
	if (da.node == PILOT_NODE_BROADCAST) {
		if (dp_bcast_in(d, p, pkt, (size_t)n, &pi, da.net, now) == 0)
			tun_write_pkt(d, pkt, (size_t)n);
		return;
	}
	f = flow_admit(d, pkt, &pi, p->node_id, da.net, 0, now, &why);
	if (!f) {
		refuse_remote(d, p, pkt, &pi, why, now);
		return;
	}
	if (f != &d->flow_passthrough)
		flow_track(f, &pi, 0, now);
	tun_deliver(d, pkt, (size_t)n);
}

static void inbound(struct pilotd *d, uint8_t *buf, size_t len, const struct sockaddr_in6 *src,
		    uint64_t now)
{
	d->ctr.udp_rx_packets++;
	if (len < 4) {
		d->ctr.rx_dropped_malformed++;
		return;
	}
	switch (buf[0]) {
	case TNL_MSG_INIT:
		dp_handle_init(d, buf, len, src, 0);
		break;
	case TNL_MSG_RESP:
		dp_handle_resp(d, buf, len, src, 0);
		break;
	case TNL_MSG_COOKIE:
		dp_handle_cookie(d, buf, len);
		break;
	case TNL_MSG_DATA:
		handle_data(d, buf, len, src, 0, now);
		break;
	default:
		if (bcn_is_frame(buf[0]))
			d->dp_ops->bcn_input(d, buf, len, src, now);
		else
			d->ctr.rx_dropped_malformed++;
	}
}

void dp_relayed_in(struct pilotd *d, uint8_t *rec, size_t len, uint32_t from, uint64_t now)
{
	/* The beacon vouches for the sender's node ID; the tunnel still
	 * authenticates the record itself, and it must be that node's. */
	if (len < 4 || !from) {
		d->ctr.rx_dropped_malformed++;
		return;
	}
	switch (rec[0]) {
	case TNL_MSG_INIT:
		dp_handle_init(d, rec, len, &d->bcn.addr, from);
		break;
	case TNL_MSG_RESP:
		dp_handle_resp(d, rec, len, &d->bcn.addr, from);
		break;
	case TNL_MSG_DATA:
		handle_data(d, rec, len, &d->bcn.addr, from, now);
		break;
	default:
		d->ctr.rx_dropped_malformed++;
	}
}

/* The segment size of a UDP GRO receive, 0 when it is one datagram. */
static size_t gro_segment_size(struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		int sz;
		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO ||
		    c->cmsg_len < CMSG_LEN(sizeof(sz)))
			continue;
		memcpy(&sz, CMSG_DATA(c), sizeof(sz));
		return sz > 0 ? (size_t)sz : 0;
	}
	return 0;
}

/* One receive: a datagram, or with UDP GRO a run of them from one source,
 * each \p seg bytes but the last; each is a record of its own. */
static void rx_datagrams(struct pilotd *d, uint8_t *buf, size_t len, size_t seg,
			 const struct sockaddr_in6 *src, uint64_t now)
{
	if (!seg || seg >= len) {
		inbound(d, buf, len, src, now);
		return;
	}
	d->ctr.udp_rx_gro++;
	for (size_t off = 0; off < len; off += seg)
		inbound(d, buf + off, len - off < seg ? len - off : seg, src, now);
}

void dp_udp_readable(int fd, short what, void *arg)
{
	struct pilotd *d = arg;
	struct dp_batch *b = d->batch;
	/* Without GRO nothing longer than a record is wanted: a bigger
	 * datagram is cut short and dropped as truncated. */
	size_t rxlen = d->udp_gro ? DP_RX_BUFSZ : DP_BUFSZ;

	(void)what;
	for (int rounds = 0; rounds < 4; rounds++) {
		uint64_t now;
		int n;
		bcn_mmsg_rx_prepare(b->rxm, b->rxv, b->rxa, &b->rx[0][0], DP_RX_BUFSZ, DP_BATCH);
		for (unsigned i = 0; i < DP_BATCH; i++) {
			b->rxv[i].iov_len = rxlen;
			if (d->udp_gro) {
				b->rxm[i].msg_hdr.msg_control = b->rxctl[i].b;
				b->rxm[i].msg_hdr.msg_controllen = sizeof(b->rxctl[i].b);
			}
		}
		n = recvmmsg(fd, b->rxm, DP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		now = now_mono_ms();
		for (int i = 0; i < n; i++) {
			struct msghdr *m = &b->rxm[i].msg_hdr;
			if (m->msg_namelen != sizeof(struct sockaddr_in6) ||
			    (m->msg_flags & MSG_TRUNC))
				continue;
			rx_datagrams(d, b->rx[i], b->rxm[i].msg_len,
				     d->udp_gro ? gro_segment_size(m) : 0, &b->rxa[i], now);
		}
		gro_flush(d);
		if (n < DP_BATCH)
			break;
	}
}

/* ---- cutting flows ---- */

struct cut_ctx {
	struct pilotd *d;
	struct dp_cut_sel sel;
	unsigned cut;
};

void dp_cut_one(struct pilotd *d, struct flow *f)
{
	uint8_t *out = d->batch->scratch;
	int n = -1;

	if (f->key.proto == IPPROTO_TCP) {
		/* From the remote address to the local socket, with the
		 * sequence number the socket expects next. */
		n = pkt_make_rst(&f->key.remote, f->key.rport, &f->key.local, f->key.lport,
				 f->have_rcv ? f->local_rcv_nxt : 0, f->local_snd_nxt, f->have_snd,
				 out, DP_BUFSZ);
		if (n > 0)
			d->ctr.rst_sent++;
	} else if (f->key.proto == IPPROTO_UDP) {
		/* Quote a datagram of the flow so a connected socket learns. */
		uint8_t orig[48];
		uint16_t plen = htons(8);
		memset(orig, 0, sizeof(orig));
		orig[0] = 0x60;
		memcpy(orig + 4, &plen, 2);
		orig[6] = IPPROTO_UDP;
		orig[7] = 64;
		memcpy(orig + 8, &f->key.local, 16);
		memcpy(orig + 24, &f->key.remote, 16);
		orig[40] = (uint8_t)(f->key.lport >> 8);
		orig[41] = (uint8_t)f->key.lport;
		orig[42] = (uint8_t)(f->key.rport >> 8);
		orig[43] = (uint8_t)f->key.rport;
		orig[45] = 8;
		n = pkt_make_icmp6_unreach(&f->key.remote, 1, orig, sizeof(orig), out, DP_BUFSZ);
		if (n > 0)
			d->ctr.icmp_prohibited_sent++;
	}
	if (n > 0)
		tun_write_pkt(d, out, (size_t)n);
	d->ctr.flows_cut++;
}

static int cut_visit(void *arg, struct flow *f)
{
	struct cut_ctx *c = arg;

	if ((c->sel.node && f->peer_node != c->sel.node) ||
	    (c->sel.basis && f->basis != c->sel.basis) ||
	    (c->sel.basis == FLOW_BASIS_NETWORK && f->basis_net != c->sel.net))
		return 0;
	dp_cut_one(c->d, f);
	admit_flow_removed(&c->d->admit, f->key.lport);
	c->cut++;
	return 1;
}

unsigned dp_cut_flows(struct pilotd *d, const struct dp_cut_sel *sel)
{
	struct cut_ctx c = {d, *sel, 0};
	flow_foreach(&d->flows, cut_visit, &c);
	return c.cut;
}
/* ---- timers ---- */

static int expire_visit(void *arg, struct flow *f)
{
	struct pilotd *d = arg;
	if (now_mono_ms() - f->last_ms < flow_timeout_ms(f))
		return 0;
	admit_flow_removed(&d->admit, f->key.lport);
	return 1;
}

static void peer_timers(void *arg, struct peer *p)
{
	struct pilotd *d = arg;
	uint64_t now = now_mono_ms();

	peer_expire_keypairs(&d->peers, p, now, d->reject_ms);
	dp_path_timers(d, p, now);
	if (p->cur && p->path == PATH_RELAYED)
		d->bcn.relayed_peers++;
	dp_hs_timers(d, p, now);
}

void dp_tick(struct pilotd *d)
{
	static const uint64_t sweep_every = 1000;

	d->bcn.relayed_peers = 0; /* counted again by peer_timers */
	peer_foreach(&d->peers, peer_timers, d);
	if (now_mono_ms() - d->last_sweep_ms >= sweep_every) {
		d->last_sweep_ms = now_mono_ms();
		flow_foreach(&d->flows, expire_visit, d);
	}
}
