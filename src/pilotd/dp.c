/* dp.c - see dp.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "bcn.h"
#include "conf.h"
#include "dp.h"
#include "log.h"
#include "pilotd.h"
#include "pkt.h"
#include "util.h"

/* Above this many handshake messages per second we ask for cookies
 * (mac2) before doing any DH; above the hard cap we drop outright. */
#define HS_LOAD_THRESHOLD 50
#define HS_HARD_CAP 2000

/* Path selection (doc/NAT.md); times in ms. */
#define PUNCH_AFTER_MS 1000	   /* a handshake unanswered this long asks for a punch */
#define RELAY_AFTER_MS 3000	   /* ... and this long goes through the relay */
#define PUNCH_BURST 6		   /* sends to a punched endpoint ... */
#define PUNCH_LOW_TTL_SENDS 3	   /* ... the first ones with PUNCH_LOW_TTL ... */
#define PUNCH_LOW_TTL 2		   /* ... past our own NAT, short of the peer's */
#define PUNCH_SPACING_MS 200	   /* ... this far apart */
#define PUNCH_RECENT_MS 10000	   /* a path found this soon after a punch is "punched" */
#define PUNCH_PROBE_MS 5000	   /* probes naming a punch are answered this long */
#define UPGRADE_FIRST_MS 5000	   /* relayed: first punch retry, doubling ... */
#define UPGRADE_MAX_MS 60000	   /* ... up to this */
#define SUSPECT_MS 3000		   /* data unanswered this long: re-punch */
#define FALLBACK_MS 6000	   /* ... this long: relay */
#define DIRECT_STALE_MS 3000	   /* relayed records win only when direct ones stopped */
#define DIRECT_PROBE_FIRST_MS 2000 /* relayed, ep known good: keepalive there, doubling ... */
#define DIRECT_PROBE_MAX_MS 16000  /* ... up to this */
#define DIRECT_ANSWER_MS 5000	   /* a direct record this soon after ours answers it */
#define DIRECT_REPLY_MS 1000	   /* answer unasked direct records at most this often */
#define PASSIVE_KEEPALIVE_MS 1000  /* answer received data this soon (path liveness) */
#define NAT_KEEPALIVE_MS 25000	   /* hold NAT mappings of paths in use */
#define NAT_KEEPALIVE_IDLE_MS 180000
#define UNDERLAY_MTU 1500

struct dp_batch {
	uint8_t tx[DP_BATCH][DP_BUFSZ];
	uint8_t rx[DP_BATCH][DP_BUFSZ];
	struct mmsghdr txm[DP_BATCH], rxm[DP_BATCH];
	struct iovec txv[DP_BATCH], rxv[DP_BATCH];
	struct sockaddr_in6 txa[DP_BATCH], rxa[DP_BATCH];
	struct peer *txp[DP_BATCH];
	unsigned ntx;
	uint8_t scratch[DP_BUFSZ];		      /* control messages and synthesized replies */
	uint8_t relay[DP_BUFSZ + BCN_RELAY_OVERHEAD]; /* a record wrapped for the relay */
};

/* ---- init ---- */

int dp_init(struct pilotd *d, const struct dp_ops *ops)
{
	struct sockaddr_in6 sa;
	int fd, zero = 0, one = 1, bufsz = 4 << 20;

	d->dp_ops = ops;
	d->batch = calloc(1, sizeof(*d->batch));
	if (!d->batch)
		return -ENOMEM;
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
	return 0;
}

void dp_free(struct pilotd *d)
{
	if (d->udp_fd > 0)
		close(d->udp_fd);
	d->udp_fd = -1;
	free(d->batch);
	d->batch = NULL;
}

/* ---- sending ---- */

/* Send with the hop limit \p ttl (0: the socket's default).  IPv4 peers
 * are v4-mapped on our dual-stack socket and take IP_TTL; IPv6 ones
 * IPV6_HOPLIMIT. */
static ssize_t sendto_ttl(int fd, const uint8_t *buf, size_t len, const struct sockaddr_in6 *to,
			  int ttl)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_name = (void *)to,
			    .msg_namelen = sizeof(*to),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.b,
			    .msg_controllen = sizeof(cm.b)};
	struct cmsghdr *c;

	if (ttl <= 0)
		return sendto(fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to));
	memset(&cm, 0, sizeof(cm));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_len = CMSG_LEN(sizeof(int));
	if (IN6_IS_ADDR_V4MAPPED(&to->sin6_addr)) {
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_TTL;
	} else {
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_HOPLIMIT;
	}
	memcpy(CMSG_DATA(c), &ttl, sizeof(ttl));
	return sendmsg(fd, &mh, 0);
}

static void send_to_ttl(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len,
			const struct sockaddr_in6 *to, int ttl)
{
	if (sendto_ttl(d->udp_fd, buf, len, to, ttl) < 0) {
		if (errno != EAGAIN)
			log_debug("send to node %u: %s", p->node_id, strerror(errno));
		return;
	}
	d->ctr.udp_tx_packets++;
	p->last_tx_ms = now_mono_ms();
	if (to != &d->bcn.addr)
		p->direct_tx_ms = p->last_tx_ms;
}

static void send_to(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len,
		    const struct sockaddr_in6 *to)
{
	send_to_ttl(d, p, buf, len, to, 0);
}

static int relayed(const struct pilotd *d, const struct peer *p)
{
	return p->path == PATH_RELAYED && d->bcn.have_key;
}

/* Through the beacon: the record, as it is, inside a RELAY frame. */
static void send_relayed(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len)
{
	uint8_t *f = d->batch->relay;
	int n;

	if (len + BCN_RELAY_OVERHEAD > sizeof(d->batch->relay))
		return;
	memcpy(f + BCN_RELAY_HDR, buf, len);
	n = d->dp_ops->bcn_wrap(d, f, len, sizeof(d->batch->relay), p->node_id);
	if (n < 0)
		return;
	d->ctr.relay_tx_packets++;
	send_to(d, p, f, (size_t)n, &d->bcn.addr);
}

/* Send a record on \p p's path: its endpoint, or the relay. */
static void send_one(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len)
{
	if (relayed(d, p))
		send_relayed(d, p, buf, len);
	else if (p->eplen)
		send_to(d, p, buf, len, (const struct sockaddr_in6 *)&p->ep);
}

static void tx_flush(struct pilotd *d)
{
	struct dp_batch *b = d->batch;
	unsigned off = 0;

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
	if (relayed(d, p)) {
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

/* Seal \p pkt (copied into scratch) and send it straight away. */
static int seal_now(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len)
{
	uint8_t *buf = d->batch->scratch;
	int n;

	if (!p->cur || len + TNL_DATA_OVERHEAD > DP_BUFSZ)
		return -EINVAL;
	if (len)
		memmove(buf + TNL_DATA_HDR, pkt, len);
	n = tnl_data_seal(p->cur, buf, len);
	if (n < 0)
		return n;
	p->tx_bytes += len;
	if (len) {
		p->last_data_ms = now_mono_ms();
		if (!p->unanswered_since_ms)
			p->unanswered_since_ms = p->last_data_ms;
	}
	return n;
}

/* Seal \p pkt (copied into scratch; NULL/0: a keepalive) and send it on
 * \p p's path straight away. */
static void send_data_now(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len)
{
	int n;

	if (!relayed(d, p) && !p->eplen)
		return;
	n = seal_now(d, p, pkt, len);
	if (n > 0)
		send_one(d, p, d->batch->scratch, (size_t)n);
}

static int session_ready(struct pilotd *d, struct peer *p, uint64_t now)
{
	return p->cur && (p->eplen || relayed(d, p)) && now - p->cur->created_ms < d->reject_ms &&
	       p->cur->send_counter < TNL_REKEY_AFTER_MESSAGES;
}

void dp_flush_queue(struct pilotd *d, struct peer *p)
{
	uint8_t *pkt;
	size_t len;
	int sent = 0;

	while ((len = peer_queue_pop(p, &pkt)) > 0) {
		send_data_now(d, p, pkt, len);
		free(pkt);
		sent = 1;
	}
	/* An empty record confirms the new session to a responder at once. */
	if (!sent && p->cur && p->cur->is_initiator)
		send_data_now(d, p, NULL, 0);
}

/* ---- handshakes ---- */

/* A new initiation to \p to (hop limit \p ttl, 0: default), or on \p p's
 * path when NULL. */
static void send_init_ttl(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *to, int ttl)
{
	uint8_t *msg = p->init_msg;
	uint64_t now = now_mono_ms();
	uint32_t idx;

	if (!to && !p->eplen && !relayed(d, p)) {
		d->dp_ops->resolve_peer(d, p);
		return;
	}
	if (p->hs) {
		peer_index_del(&d->peers, p->hs->local_index);
		tnl_hs_free(p->hs);
	}
	p->hs = tnl_hs_new();
	if (!p->hs)
		return;
	idx = peer_index_new(&d->peers, p);
	if (!idx ||
	    tnl_hs_create_init(p->hs, &d->id, &p->ps, idx, (uint64_t)now_real_ms() * 1000000ull,
			       &p->cookie, now, msg) < 0) {
		peer_index_del(&d->peers, idx);
		tnl_hs_free(p->hs);
		p->hs = NULL;
		return;
	}
	if (!p->hs_first_ms)
		p->hs_first_ms = now;
	p->hs_sent_ms = now;
	d->ctr.handshake_init_sent++;
	if (to)
		send_to_ttl(d, p, msg, TNL_INIT_LEN, to, ttl);
	else
		send_one(d, p, msg, TNL_INIT_LEN);
}

static void send_init_to(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *to)
{
	send_init_ttl(d, p, to, 0);
}

void dp_send_init(struct pilotd *d, struct peer *p)
{
	send_init_to(d, p, NULL);
}

void dp_want_session(struct pilotd *d, struct peer *p)
{
	uint64_t now = now_mono_ms();

	if (!p->hs_wanted) {
		p->hs_wanted = 1;
		p->hs_first_ms = now;
	}
	if (!p->hs || now - p->hs_sent_ms >= REKEY_TIMEOUT_MS)
		dp_send_init(d, p);
}

static int hs_admit_load(struct pilotd *d, const uint8_t *msg, size_t len,
			 const struct sockaddr_in6 *src, uint32_t via)
{
	uint64_t now = now_mono_ms();

	if (now - d->hs_window_start_ms >= 1000) {
		d->hs_window_start_ms = now;
		d->hs_in_window = 0;
	}
	d->hs_in_window++;
	if (d->hs_in_window > HS_HARD_CAP) {
		d->ctr.handshake_rate_limited++;
		return 0;
	}
	if (d->hs_in_window <= HS_LOAD_THRESHOLD)
		return 1;
	/* Relayed: no address to prove (a cookie would go to the beacon),
	 * but the beacon authenticated the sender and meters it. */
	if (via)
		return 1;
	/* Under load: only sources that prove they receive at their address
	 * (a valid mac2 from our cookie) get a DH out of us. */
	if (tnl_check_mac2(&d->cookies, msg, len, (const struct sockaddr *)src, sizeof(*src),
			   now) == 0)
		return 1;
	if (tnl_cookie_reply_create(&d->cookies, &d->id, msg, len, (const struct sockaddr *)src,
				    sizeof(*src), now, d->batch->scratch) == 0) {
		sendto(d->udp_fd, d->batch->scratch, TNL_COOKIE_LEN, 0,
		       (const struct sockaddr *)src, sizeof(*src));
		d->ctr.cookie_sent++;
	}
	d->ctr.handshake_rate_limited++;
	return 0;
}

static void path_set(struct pilotd *d, struct peer *p, enum peer_path to, uint64_t now)
{
	char eb[64];

	if (p->path == to)
		return;
	log_info("path to node %u: %s -> %s%s%s", p->node_id, peer_path_name(p->path),
		 peer_path_name(to), to == PATH_RELAYED ? "" : " ",
		 to == PATH_RELAYED ? "" : bcn_ep_format(&p->ep, eb, sizeof(eb)));
	p->path = to;
	d->ctr.path_changes++;
	if (to == PATH_RELAYED) {
		p->punch_backoff_ms = UPGRADE_FIRST_MS;
		p->next_punch_ms = now + UPGRADE_FIRST_MS;
		p->direct_backoff_ms = DIRECT_PROBE_FIRST_MS;
		p->next_direct_ms = now + DIRECT_PROBE_FIRST_MS;
	} else if (to == PATH_DIRECT) {
		p->ep_direct_ok = 1;
	}
}

/* A keepalive straight to \p p's endpoint (no-op without a session). */
static void direct_keepalive(struct pilotd *d, struct peer *p)
{
	int n = seal_now(d, p, NULL, 0);

	if (n > 0 && p->eplen)
		send_to(d, p, d->batch->scratch, (size_t)n, (const struct sockaddr_in6 *)&p->ep);
}

/* A record authenticated as \p p's arrived, from \p src or through the
 * relay (\p via != 0).  Only this moves endpoints and paths (roaming): a
 * forged or replayed datagram never gets here. */
static void note_rx(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *src, uint32_t via,
		    uint64_t now)
{
	int punch_recent;

	if (via) {
		p->last_relay_rx_ms = now;
		/* The peer relays because it stopped hearing us directly;
		 * while its direct records still arrive, direct stays. */
		if (p->path == PATH_NONE ||
		    (p->path != PATH_RELAYED && now - p->last_direct_rx_ms > DIRECT_STALE_MS))
			path_set(d, p, PATH_RELAYED, now);
		return;
	}
	p->last_direct_rx_ms = now;
	if (p->eplen != sizeof(*src) || memcmp(&p->ep, src, sizeof(*src)) != 0) {
		char eb[64];
		memset(&p->ep, 0, sizeof(p->ep));
		memcpy(&p->ep, src, sizeof(*src));
		if (p->eplen && p->path != PATH_NONE)
			log_info("node %u moved to %s", p->node_id,
				 bcn_ep_format(&p->ep, eb, sizeof(eb)));
		p->eplen = sizeof(*src);
		p->ep_direct_ok = 0; /* not known to work unpunched */
	}
	punch_recent = p->punch_rx_ms && now - p->punch_rx_ms < PUNCH_RECENT_MS;
	if (p->path == PATH_RELAYED && !punch_recent && now - p->direct_tx_ms >= DIRECT_ANSWER_MS) {
		/* Heard directly, unasked, while relayed: perhaps only this
		 * direction works.  Answer there, and move only once a direct
		 * record answers ours: both directions then work. */
		if (now - p->direct_reply_ms >= DIRECT_REPLY_MS) {
			p->direct_reply_ms = now;
			direct_keepalive(d, p);
		}
		return;
	}
	/* "punched" only when the punch made the path: an endpoint that
	 * worked unpunched before (a LAN neighbour back from a restart) is
	 * direct even if a punch ran meanwhile. */
	if (p->path == PATH_RELAYED || p->path == PATH_NONE) {
		path_set(d, p, punch_recent && !p->ep_direct_ok ? PATH_PUNCHED : PATH_DIRECT, now);
		p->punch_left = 0;
	}
}

static void handle_init(struct pilotd *d, uint8_t *msg, size_t len, const struct sockaddr_in6 *src,
			uint32_t via)
{
	uint8_t pk[32], ts[TNL_TIMESTAMP_LEN], *out = d->batch->scratch;
	struct tnl_handshake *hs = NULL;
	struct tnl_keypair *kp = NULL;
	struct peer *p;
	uint64_t now = now_mono_ms();
	uint32_t idx, node;

	if (len != TNL_INIT_LEN || tnl_check_mac1(&d->id, msg, len) < 0) {
		d->ctr.handshake_rejected_mac++;
		return;
	}
	if (!hs_admit_load(d, msg, len, src, via))
		return;
	d->ctr.handshake_init_rx++;
	hs = tnl_hs_new();
	if (!hs)
		return;
	if (tnl_hs_consume_init(hs, &d->id, msg, len, pk, ts) < 0) {
		d->ctr.handshake_rejected_mac++;
		goto out;
	}
	/* Dark by default: only peers this node trusts or shares a network
	 * with get an answer. */
	node = d->dp_ops->node_by_pk(d, pk);
	if (!node || (via && via != node) || !admit_peer(&d->admit, node)) {
		d->ctr.handshake_rejected_peer++;
		goto out;
	}
	p = peer_get(&d->peers, &d->id, node, pk);
	if (!p)
		goto out;
	if (p->have_init_ts && tnl_timestamp_cmp(ts, p->last_init_ts) <= 0) {
		d->ctr.handshake_rejected_replay++;
		goto out;
	}
	idx = peer_index_new(&d->peers, p);
	if (!idx)
		goto out;
	if (tnl_hs_create_resp(hs, &d->id, &p->ps, idx, &p->cookie, now, out) < 0 ||
	    !(kp = tnl_keypair_new()) || tnl_hs_derive(hs, kp, 0, now) < 0) {
		peer_index_del(&d->peers, idx);
		tnl_keypair_free(kp);
		goto out;
	}
	memcpy(p->last_init_ts, ts, sizeof(ts));
	p->have_init_ts = 1;
	peer_install_keypair(&d->peers, p, kp);
	note_rx(d, p, src, via, now);
	p->last_handshake_real_ms = now_real_ms();
	d->ctr.handshake_resp_sent++;
	/* The answer goes back the way the initiation came. */
	if (via)
		send_relayed(d, p, out, TNL_RESP_LEN);
	else
		send_to(d, p, out, TNL_RESP_LEN, src);
out:
	tnl_hs_free(hs);
}

static void handle_resp(struct pilotd *d, uint8_t *msg, size_t len, const struct sockaddr_in6 *src,
			uint32_t via)
{
	struct tnl_keypair *kp;
	struct peer *p;
	uint32_t idx;
	uint64_t now = now_mono_ms();

	if (len != TNL_RESP_LEN || tnl_msg_receiver_index(msg, len, &idx) < 0)
		return;
	p = peer_index_find(&d->peers, idx);
	if (!p || !p->hs || p->hs->local_index != idx || (via && via != p->node_id)) {
		d->ctr.rx_dropped_unknown_index++;
		return;
	}
	if (!hs_admit_load(d, msg, len, src, via))
		return;
	if (tnl_hs_consume_resp(p->hs, &d->id, &p->ps, msg, len) < 0) {
		d->ctr.handshake_rejected_mac++;
		return;
	}
	kp = tnl_keypair_new();
	if (!kp || tnl_hs_derive(p->hs, kp, 1, now) < 0) {
		tnl_keypair_free(kp);
		return;
	}
	/* The keypair takes over the handshake's index entry. */
	tnl_hs_free(p->hs);
	p->hs = NULL;
	if (p->cur)
		d->ctr.rekeys++;
	else
		d->dp_ops->tunnel_established(d, p->node_id, "initiator");
	peer_install_keypair(&d->peers, p, kp);
	note_rx(d, p, src, via, now);
	p->hs_wanted = 0;
	p->punch_left = 0;
	p->hs_first_ms = 0;
	p->last_handshake_real_ms = now_real_ms();
	d->ctr.handshake_completed++;
	dp_flush_queue(d, p);
}

static void handle_cookie(struct pilotd *d, uint8_t *msg, size_t len)
{
	struct peer *p;
	uint32_t idx;

	if (len != TNL_COOKIE_LEN || tnl_msg_receiver_index(msg, len, &idx) < 0)
		return;
	p = peer_index_find(&d->peers, idx);
	if (p)
		tnl_cookie_reply_consume(&p->cookie, &p->ps, msg, len, now_mono_ms());
}

/* ---- admission ---- */

static void tun_write_pkt(struct pilotd *d, const uint8_t *pkt, size_t len)
{
	ssize_t n = tun_write(&d->tun, pkt, len);
	if (n == (ssize_t)len)
		d->ctr.tun_tx_packets++;
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

/* The largest inner packet a relayed record carries in one underlay
 * datagram (IPv4 or IPv6 headers to the beacon). */
static size_t relay_mtu(const struct pilotd *d)
{
	size_t ip = IN6_IS_ADDR_V4MAPPED(&d->bcn.addr.sin6_addr) ? 20 : 40;
	return UNDERLAY_MTU - ip - 8 - TNL_DATA_OVERHEAD - BCN_RELAY_OVERHEAD;
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
	    addr_from_ipv6(&d->prefix, &pi.src, &src) < 0 || src.node != d->node_id ||
	    dst.node == d->node_id || dst.node == 0) {
		d->ctr.tx_dropped_malformed++;
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
	if (relayed(d, p) && len > relay_mtu(d)) {
		/* The relay's frame must fit the underlay: the sender learns a
		 * smaller path MTU for this peer (TCP shrinks its segments). */
		int n = pkt_make_icmp6_ptb(&pi.dst, (uint32_t)relay_mtu(d), pkt, len,
					   d->batch->scratch, DP_BUFSZ);
		if (n > 0)
			tun_write_pkt(d, d->batch->scratch, (size_t)n);
		d->ctr.relay_dropped_too_big++;
		return;
	}
	if (!session_ready(d, p, now)) {
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

void dp_tun_readable(int fd, short what, void *arg)
{
	struct pilotd *d = arg;
	struct dp_batch *b = d->batch;
	uint64_t now = now_mono_ms();

	(void)fd;
	(void)what;
	for (int rounds = 0; rounds < 4; rounds++) {
		unsigned i, got = 0;
		b->ntx = 0;
		for (i = 0; i < DP_BATCH; i++) {
			ssize_t n = tun_read(&d->tun, b->tx[i] + TNL_DATA_HDR,
					     DP_BUFSZ - TNL_DATA_OVERHEAD - BCN_RELAY_OVERHEAD);
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
	/* Built in scratch: seal_now moves it into place (memmove). */
	uint8_t *out = d->batch->scratch;
	int n;

	if (!admit_reason_answered(why) || (pi->kind == PKT_TCP && (pi->tcp_flags & PKT_TCP_RST)) ||
	    pi->kind == PKT_ICMP6_ERROR || !session_ready(d, p, now))
		return;
	if (!admit_refusal_ok(&d->admit, p->node_id, now)) {
		d->ctr.refusals_rate_limited++;
		return;
	}
	n = pkt_make_refusal(pkt, pi, out, DP_BUFSZ - TNL_DATA_OVERHEAD);
	if (n <= 0)
		return;
	send_data_now(d, p, out, (size_t)n);
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
	note_rx(d, p, src, via, now);
	if (p->qcount && session_ready(d, p, now))
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
	    addr_from_ipv6(&d->prefix, &pi.dst, &da) < 0 || da.node != d->node_id ||
	    sa.net != da.net) {
		d->ctr.rx_dropped_spoof++;
		return;
	}
	f = flow_admit(d, pkt, &pi, p->node_id, da.net, 0, now, &why);
	if (!f) {
		refuse_remote(d, p, pkt, &pi, why, now);
		return;
	}
	if (f != &d->flow_passthrough)
		flow_track(f, &pi, 0, now);
	tun_write_pkt(d, pkt, (size_t)n);
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
		handle_init(d, buf, len, src, 0);
		break;
	case TNL_MSG_RESP:
		handle_resp(d, buf, len, src, 0);
		break;
	case TNL_MSG_COOKIE:
		handle_cookie(d, buf, len);
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
		handle_init(d, rec, len, &d->bcn.addr, from);
		break;
	case TNL_MSG_RESP:
		handle_resp(d, rec, len, &d->bcn.addr, from);
		break;
	case TNL_MSG_DATA:
		handle_data(d, rec, len, &d->bcn.addr, from, now);
		break;
	default:
		d->ctr.rx_dropped_malformed++;
	}
}

void dp_udp_readable(int fd, short what, void *arg)
{
	struct pilotd *d = arg;
	struct dp_batch *b = d->batch;

	(void)what;
	for (int rounds = 0; rounds < 4; rounds++) {
		uint64_t now;
		int n;
		bcn_mmsg_rx_prepare(b->rxm, b->rxv, b->rxa, &b->rx[0][0], DP_BUFSZ, DP_BATCH);
		n = recvmmsg(fd, b->rxm, DP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		now = now_mono_ms();
		for (int i = 0; i < n; i++) {
			if (b->rxm[i].msg_hdr.msg_namelen != sizeof(struct sockaddr_in6) ||
			    (b->rxm[i].msg_hdr.msg_flags & MSG_TRUNC))
				continue;
			inbound(d, b->rx[i], b->rxm[i].msg_len, &b->rxa[i], now);
		}
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

/* ---- punching (doc/NAT.md) ---- */

/* One send of a punch burst: a probe opens our NAT towards the peer's
 * endpoint; the record (a keepalive, or our pending initiation) is what
 * moves the peer's path once it arrives: it is authenticated. */
static void punch_fire(struct pilotd *d, struct peer *p, uint64_t now)
{
	uint8_t probe[BCN_PROBE_LEN];
	/* The first sends of a burst open our own NAT but must not reach the
	 * peer's before the peer's own sends have opened it: a NAT that does
	 * not filter inbound keeps an entry for a datagram that arrives
	 * first, and then moves the peer's port when it sends (conntrack's
	 * clash).  They die a hop past our NAT; the rest go all the way. */
	int ttl = p->punch_left > PUNCH_BURST - PUNCH_LOW_TTL_SENDS ? PUNCH_LOW_TTL : 0;
	int n;

	bcn_probe_make(probe, d->node_id, p->punch_nonce);
	sendto_ttl(d->udp_fd, probe, sizeof(probe), &p->punch_ep, ttl);
	if (session_ready(d, p, now)) {
		n = seal_now(d, p, NULL, 0);
		if (n > 0)
			send_to_ttl(d, p, d->batch->scratch, (size_t)n, &p->punch_ep, ttl);
	} else if (p->hs && p->hs->state == TNL_HS_INIT_SENT) {
		/* The same initiation again: a copy that got through is
		 * answered, and the others are refused as replays. */
		send_to_ttl(d, p, p->init_msg, TNL_INIT_LEN, &p->punch_ep, ttl);
	} else if (p->hs_wanted) {
		send_init_ttl(d, p, &p->punch_ep, ttl);
	}
	p->punch_sent_ms = now;
	if (p->punch_left)
		p->punch_left--;
}

void dp_punch(struct pilotd *d, uint32_t node, const struct sockaddr_in6 *ep,
	      const uint8_t nonce[8], uint64_t now)
{
	struct peer *p;

	/* The beacon checked that we may meet; we check again. */
	if (admit_blocked(&d->admit, node) || !(p = d->dp_ops->peer_for(d, node)))
		return;
	p->punch_ep = *ep;
	p->punch_rx_ms = now;
	p->punch_left = PUNCH_BURST;
	p->probe_answers = 0;
	memcpy(p->punch_nonce, nonce, sizeof(p->punch_nonce));
	punch_fire(d, p, now);
}

void dp_probe(struct pilotd *d, uint32_t node, const uint8_t nonce[8],
	      const struct sockaddr_in6 *src, uint64_t now)
{
	struct peer *p = peer_find(&d->peers, node);

	/* Only for the punch in progress, and a few times: at most that
	 * many authenticated records go to the address a probe came from. */
	if (!p || !p->punch_rx_ms || now - p->punch_rx_ms > PUNCH_PROBE_MS ||
	    p->probe_answers >= PUNCH_BURST ||
	    sodium_memcmp(nonce, p->punch_nonce, sizeof(p->punch_nonce)) != 0)
		return;
	p->probe_answers++;
	if (memcmp(&p->punch_ep, src, sizeof(*src)) != 0) {
		p->punch_ep = *src;
		p->punch_left = PUNCH_BURST;
	}
	punch_fire(d, p, now);
}

void dp_peer_restarted(struct pilotd *d, struct peer *p)
{
	/* Straight to its endpoint when that cannot spoil a NAT's mapping:
	 * the path is direct or punched now, or the endpoint answered us
	 * directly unpunched before. */
	int direct =
	    p->eplen && (p->path == PATH_DIRECT || p->path == PATH_PUNCHED || p->ep_direct_ok);

	/* Nothing held for it: its next packet handshakes anyway. */
	if (!p->cur && !p->hs && !p->hs_wanted)
		return;
	log_info("node %u restarted: handshaking again now", p->node_id);
	p->unanswered_since_ms = 0;
	p->hs_first_ms = now_mono_ms();
	send_init_to(d, p, direct ? (const struct sockaddr_in6 *)&p->ep : NULL);
	/* The same initiation through the relay too: whichever copy arrives
	 * first is answered, the other is refused as a replay. */
	if (p->hs && direct && relayed(d, p))
		send_relayed(d, p, p->init_msg, TNL_INIT_LEN);
}

static void punch_req(struct pilotd *d, struct peer *p, uint64_t now)
{
	d->dp_ops->bcn_punch_req(d, p->node_id);
	p->punch_req_ms = now;
}

void dp_punch_now(struct pilotd *d, struct peer *p)
{
	uint64_t now = now_mono_ms();

	if (p->hs_wanted && !session_ready(d, p, now) && d->dp_ops->bcn_ready(d) &&
	    p->punch_req_ms < p->hs_first_ms)
		punch_req(d, p, now);
}

/* Punch when a handshake goes unanswered, relay when that fails too; while
 * relayed, keep trying to upgrade; on a path that stopped answering, punch
 * again (the NAT mapping may have changed) and fall back to the relay. */
static void path_timers(struct pilotd *d, struct peer *p, uint64_t now)
{
	if (p->punch_left && now - p->punch_sent_ms >= PUNCH_SPACING_MS)
		punch_fire(d, p, now);
	if (!d->dp_ops->bcn_ready(d))
		return;
	if (p->hs_wanted && !session_ready(d, p, now)) {
		uint64_t age = now - p->hs_first_ms;
		if (age >= PUNCH_AFTER_MS && p->punch_req_ms < p->hs_first_ms)
			punch_req(d, p, now);
		if (age >= RELAY_AFTER_MS && p->path != PATH_RELAYED) {
			path_set(d, p, PATH_RELAYED, now);
			dp_send_init(d, p);
		}
		return;
	}
	if (!p->cur)
		return;
	if (p->path == PATH_RELAYED) {
		/* An endpoint that answered us directly before (a restarted
		 * peer on our LAN, a public one) is tried again directly, as
		 * often as the punch retries or more: no beacon needed. */
		if (p->ep_direct_ok && p->eplen && now >= p->next_direct_ms) {
			direct_keepalive(d, p);
			p->direct_backoff_ms = MIN(p->direct_backoff_ms * 2, DIRECT_PROBE_MAX_MS);
			p->next_direct_ms = now + p->direct_backoff_ms;
		}
		if (now >= p->next_punch_ms) {
			punch_req(d, p, now);
			p->punch_backoff_ms = MIN(p->punch_backoff_ms * 2, UPGRADE_MAX_MS);
			p->next_punch_ms = now + p->punch_backoff_ms;
		}
		return;
	}
	if (p->unanswered_since_ms) {
		uint64_t u = now - p->unanswered_since_ms;
		if (u >= FALLBACK_MS) {
			path_set(d, p, PATH_RELAYED, now);
			send_data_now(d, p, NULL, 0);
		} else if (u >= SUSPECT_MS && now - p->punch_req_ms >= SUSPECT_MS) {
			punch_req(d, p, now);
		}
	}
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

static void give_up(struct pilotd *d, struct peer *p)
{
	/* Nothing answered for REKEY_ATTEMPT: drop what waited; the next
	 * packet starts over. */
	peer_queue_clear(p);
	p->hs_wanted = 0;
	p->hs_first_ms = 0;
	if (p->hs) {
		peer_index_del(&d->peers, p->hs->local_index);
		tnl_hs_free(p->hs);
		p->hs = NULL;
	}
}

static void peer_timers(void *arg, struct peer *p)
{
	struct pilotd *d = arg;
	uint64_t now = now_mono_ms();

	peer_expire_keypairs(&d->peers, p, now, d->reject_ms);
	path_timers(d, p, now);
	if (p->cur && p->path == PATH_RELAYED)
		d->bcn.relayed_peers++;
	if (p->hs || (p->hs_wanted && !session_ready(d, p, now))) {
		if (now - p->hs_first_ms > REKEY_ATTEMPT_MS)
			give_up(d, p);
		else if (now - p->hs_sent_ms >= REKEY_TIMEOUT_MS)
			dp_send_init(d, p);
		return;
	}
	if (!p->cur)
		return;
	/* A new handshake when: the initiator's session is old enough to
	 * rekey; the session nears the reject limit while in use; or we sent
	 * data and heard nothing back for KEEPALIVE + REKEY_TIMEOUT (the peer
	 * restarted and lost its keys, or its path changed). */
	if ((p->cur->is_initiator && now - p->cur->created_ms >= d->rekey_ms &&
	     now - p->last_tx_ms < KEEPALIVE_MS) ||
	    (now - p->cur->created_ms >= d->reject_ms - KEEPALIVE_MS - REKEY_TIMEOUT_MS &&
	     now - p->last_rx_ms < KEEPALIVE_MS) ||
	    (p->unanswered_since_ms &&
	     now - p->unanswered_since_ms >= KEEPALIVE_MS + REKEY_TIMEOUT_MS)) {
		p->unanswered_since_ms = 0;
		p->hs_first_ms = now;
		dp_send_init(d, p);
		return;
	}
	/* Passive keepalive: we heard from the peer and said nothing back.
	 * Soon, so a sender can tell a live path from a dead one in seconds. */
	if (p->last_rx_ms > p->last_tx_ms && now - p->last_tx_ms >= PASSIVE_KEEPALIVE_MS &&
	    now - p->last_rx_ms < KEEPALIVE_MS * 2) {
		send_data_now(d, p, NULL, 0);
		return;
	}
	/* Hold the NAT mappings of a direct path that is in use. */
	if (p->path != PATH_RELAYED && now - p->last_tx_ms >= NAT_KEEPALIVE_MS &&
	    now - p->last_data_ms < NAT_KEEPALIVE_IDLE_MS)
		send_data_now(d, p, NULL, 0);
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
