/* dp_hs.c - the tunnel's handshakes (tnl.c does the cryptography): send
 * initiations, answer them, take responses and cookie replies, and the
 * per-peer timers that start handshakes again (retransmit, give up,
 * rekey) or keep a quiet session's path alive. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "dp_int.h"
#include "hmap.h"
#include "util.h"

/* Handshake load, after WireGuard's cookie design (doc/PROTOCOL.md):
 * - below HS_LOAD_THRESHOLD messages a second, every message that passes
 *   mac1 gets its DH;
 * - above it, a direct message without a valid mac2 gets a cookie reply
 *   (smaller than what it answers, and capped) and no DH: a flood from
 *   spoofed addresses never holds a cookie, so it costs us a MAC each;
 * - a valid mac2 proves the source receives at its address, and each
 *   proven address gets HS_SRC_RATE DHs a second, so one flooding from its
 *   own address spends only its own budget and a peer with a cookie always
 *   gets through;
 * - relayed messages (no address to prove: a cookie would go to the
 *   beacon) must name a node we admit, and each relaying node gets
 *   HS_RELAY_RATE a second, loaded or not;
 * - HS_DH_CAP bounds the DH work of one second whatever the mix. */
#define HS_LOAD_THRESHOLD 50
#define HS_SRC_RATE 20
#define HS_SRC_BURST 10
#define HS_SRC_MAX 4096 /* proven addresses metered at once */
#define HS_RELAY_RATE 10
#define HS_RELAY_BURST 10
#define HS_DH_CAP 4000
#define HS_COOKIE_CAP 100000

int dp_hs_init(struct pilotd *d)
{
	d->hs_src = hmap_new(sizeof(struct in6_addr), sizeof(struct token_bucket), HS_SRC_MAX);
	return d->hs_src ? 0 : -ENOMEM;
}

void dp_hs_free(struct pilotd *d)
{
	hmap_free(d->hs_src);
	d->hs_src = NULL;
}

#define HS_TS_STEP_NS (1ull << 24) /* the TAI64N timestamp's resolution (tnl.c) */
#define HS_TS_RESERVE_NS (600ull * 1000000000ull)

/* The timestamp of a new initiation to \p p: the wall clock, but never at
 * or below one this node sent to \p p before in this run, nor below what
 * an earlier run may have sent (the floor, kept in the state ahead of
 * use).  A responder takes only a timestamp greater than the last it took
 * from us (replay), so with the bare clock (WireGuard's way) a clock
 * stepped back an hour would have every peer refuse our handshakes for
 * an hour; this way they go on, the timestamps running ahead of the clock
 * until it catches up. */
static uint64_t hs_timestamp(struct pilotd *d, struct peer *p)
{
	uint64_t ts = (uint64_t)now_real_ms() * 1000000ull;

	if (ts < d->hs_ts_floor_ns)
		ts = d->hs_ts_floor_ns;
	if (p->init_ts_ns && ts < p->init_ts_ns + HS_TS_STEP_NS)
		ts = p->init_ts_ns + HS_TS_STEP_NS;
	p->init_ts_ns = ts;
	if (ts >= d->hs_ts_reserved_ns && d->dp_ops->hs_ts_reserve) {
		d->hs_ts_reserved_ns = ts + HS_TS_RESERVE_NS;
		d->dp_ops->hs_ts_reserve(d, d->hs_ts_reserved_ns);
	}
	return ts;
}

/* A new initiation to \p to (hop limit \p ttl, 0: default), or on \p p's
 * path when NULL. */
void dp_send_init_ttl(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *to, int ttl)
{
	uint8_t *msg = p->init_msg;
	uint64_t now = now_mono_ms();
	uint32_t idx;

	if (!to && !p->eplen && !dp_relayed(d, p)) {
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
	if (!idx || tnl_hs_create_init(p->hs, &d->id, &p->ps, idx, hs_timestamp(d, p), &p->cookie,
				       now, msg) < 0) {
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
		dp_send_to_ttl(d, p, msg, TNL_INIT_LEN, to, ttl);
	else
		dp_send_one(d, p, msg, TNL_INIT_LEN);
}

void dp_send_init_to(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *to)
{
	dp_send_init_ttl(d, p, to, 0);
}

void dp_send_init(struct pilotd *d, struct peer *p)
{
	dp_send_init_to(d, p, NULL);
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

/* A new second: the counts start again.  A second under load makes the
 * next one start under load (else a flood would get HS_LOAD_THRESHOLD
 * DHs at the start of each); after a quiet one the proven sources are
 * forgotten (their buckets would be full). */
static void hs_window(struct pilotd *d, uint64_t now)
{
	if (now - d->hs_window_start_ms < 1000)
		return;
	d->hs_loaded = d->hs_in_window > HS_LOAD_THRESHOLD;
	if (!d->hs_loaded && hmap_count(d->hs_src))
		hmap_clear(d->hs_src);
	d->hs_window_start_ms = now;
	d->hs_in_window = d->hs_dh_in_window = d->hs_cookies_in_window = 0;
}

static int hs_take_dh(struct pilotd *d)
{
	if (d->hs_dh_in_window >= HS_DH_CAP)
		return 0;
	d->hs_dh_in_window++;
	return 1;
}

/* Ask \p src to prove its address.  The cap bounds what a spoofed flood
 * can reflect at the addresses it names. */
static void hs_send_cookie(struct pilotd *d, const uint8_t *msg, size_t len,
			   const struct sockaddr_in6 *src, uint64_t now)
{
	if (d->hs_cookies_in_window >= HS_COOKIE_CAP)
		return;
	d->hs_cookies_in_window++;
	if (tnl_cookie_reply_create(&d->cookies, &d->id, msg, len, (const struct sockaddr *)src,
				    sizeof(*src), now, d->batch->scratch) == 0) {
		sendto(d->udp_fd, d->batch->scratch, TNL_COOKIE_LEN, 0,
		       (const struct sockaddr *)src, sizeof(*src));
		d->ctr.cookie_sent++;
	}
}

/* One DH for the proven address of \p src, from its own budget. */
static int hs_src_take(struct pilotd *d, const struct sockaddr_in6 *src, uint64_t now)
{
	struct token_bucket *tb;
	int is_new;

	tb = hmap_put(d->hs_src, &src->sin6_addr, &is_new);
	if (!tb && errno == ENOSPC) {
		/* More proven addresses than we meter: start the meters over
		 * rather than refuse the ones not yet in (fail open per
		 * address; HS_DH_CAP still bounds the whole). */
		hmap_clear(d->hs_src);
		tb = hmap_put(d->hs_src, &src->sin6_addr, &is_new);
	}
	return tb && token_bucket_take(tb, HS_SRC_RATE, HS_SRC_BURST, now);
}

/* Whether a handshake message gets a DH out of us: from \p src directly,
 * or relayed by the node \p relay (the peer the beacon named, already
 * checked as one we admit).  \retval 1 to go on, 0 to drop it (counted). */
static int hs_admit_load(struct pilotd *d, const uint8_t *msg, size_t len,
			 const struct sockaddr_in6 *src, struct peer *relay)
{
	uint64_t now = now_mono_ms();
	int ok;

	hs_window(d, now);
	d->hs_in_window++;
	if (relay)
		ok = token_bucket_take(&relay->hs_relay_tb, HS_RELAY_RATE, HS_RELAY_BURST, now);
	else if (!d->hs_loaded && d->hs_in_window <= HS_LOAD_THRESHOLD)
		ok = 1;
	else if (tnl_check_mac2(&d->cookies, msg, len, (const struct sockaddr *)src, sizeof(*src),
				now) < 0) {
		hs_send_cookie(d, msg, len, src, now);
		ok = 0;
	} else
		ok = hs_src_take(d, src, now);
	if (ok && !hs_take_dh(d))
		ok = 0;
	if (!ok)
		d->ctr.handshake_rate_limited++;
	return ok;
}

/* A relayed handshake names its sender (the beacon authenticated it):
 * before any DH, that node must be one we admit and know the key of.
 * \retval its peer, or NULL (counted). */
static struct peer *hs_relay_peer(struct pilotd *d, uint32_t via)
{
	struct peer *p = admit_peer(&d->admit, via) ? d->dp_ops->peer_for(d, via) : NULL;

	if (!p)
		d->ctr.handshake_rejected_peer++;
	return p;
}

void dp_handle_init(struct pilotd *d, uint8_t *msg, size_t len, const struct sockaddr_in6 *src,
		    uint32_t via)
{
	uint8_t pk[32], ts[TNL_TIMESTAMP_LEN], *out = d->batch->scratch;
	struct tnl_handshake *hs = NULL;
	struct tnl_keypair *kp = NULL;
	struct peer *p, *relay = NULL;
	uint64_t now = now_mono_ms();
	uint32_t idx, node;

	if (len != TNL_INIT_LEN || tnl_check_mac1(&d->id, msg, len) < 0) {
		d->ctr.handshake_rejected_mac++;
		return;
	}
	if (via && !(relay = hs_relay_peer(d, via)))
		return;
	if (!hs_admit_load(d, msg, len, src, relay))
		return;
	d->ctr.handshake_init_rx++;
	hs = tnl_hs_new();
	if (!hs)
		return;
	if (tnl_hs_consume_init_from(hs, &d->id, msg, len, relay ? relay->ps.ed_pk : NULL, pk, ts) <
	    0) {
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
	dp_note_rx(d, p, src, via, now);
	p->last_handshake_real_ms = now_real_ms();
	d->ctr.handshake_resp_sent++;
	/* The answer goes back the way the initiation came. */
	if (via)
		dp_send_relayed(d, p, out, TNL_RESP_LEN);
	else
		dp_send_to(d, p, out, TNL_RESP_LEN, src);
out:
	tnl_hs_free(hs);
}

void dp_handle_resp(struct pilotd *d, uint8_t *msg, size_t len, const struct sockaddr_in6 *src,
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
	if (!hs_admit_load(d, msg, len, src, via ? p : NULL))
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
	dp_note_rx(d, p, src, via, now);
	p->hs_wanted = 0;
	p->punch_left = 0;
	p->hs_first_ms = 0;
	p->last_handshake_real_ms = now_real_ms();
	d->ctr.handshake_completed++;
	dp_flush_queue(d, p);
}

void dp_handle_cookie(struct pilotd *d, uint8_t *msg, size_t len)
{
	struct peer *p;
	uint64_t now = now_mono_ms();
	uint32_t idx;

	if (len != TNL_COOKIE_LEN || tnl_msg_receiver_index(msg, len, &idx) < 0)
		return;
	p = peer_index_find(&d->peers, idx);
	if (!p || tnl_cookie_reply_consume(&p->cookie, &p->ps, msg, len, now) < 0)
		return;
	/* The responder is under load and answered our init with a cookie,
	 * not a DH: send it again now with mac2 instead of waiting out
	 * REKEY_TIMEOUT (only for the init in flight, at most once a second;
	 * the reply is bound to our init's mac1, so no one else can ask). */
	if (p->hs && p->hs->state == TNL_HS_INIT_SENT && p->hs->local_index == idx &&
	    now - p->cookie_resend_ms >= 1000) {
		p->cookie_resend_ms = now;
		dp_send_init(d, p);
	}
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

/* A new handshake when: the initiator's session is old enough to
 * rekey; the session nears the reject limit while in use; or we sent
 * data and heard nothing back for KEEPALIVE + REKEY_TIMEOUT (the peer
 * restarted and lost its keys, or its path changed). */
static int rekey_due(const struct pilotd *d, const struct peer *p, uint64_t now)
{
	return (p->cur->is_initiator && now - p->cur->created_ms >= d->rekey_ms &&
		now - p->last_tx_ms < KEEPALIVE_MS) ||
	       (now - p->cur->created_ms >= d->reject_ms - KEEPALIVE_MS - REKEY_TIMEOUT_MS &&
		now - p->last_rx_ms < KEEPALIVE_MS) ||
	       (p->unanswered_since_ms &&
		now - p->unanswered_since_ms >= KEEPALIVE_MS + REKEY_TIMEOUT_MS);
}

/* An empty record on a session that has nothing else to say. */
static void keepalive(struct pilotd *d, struct peer *p, uint64_t now)
{
	/* Passive keepalive: we heard from the peer and said nothing back.
	 * Soon, so a sender can tell a live path from a dead one in seconds. */
	if (p->last_rx_ms > p->last_tx_ms && now - p->last_tx_ms >= PASSIVE_KEEPALIVE_MS &&
	    now - p->last_rx_ms < KEEPALIVE_MS * 2) {
		dp_send_data_now(d, p, NULL, 0);
		return;
	}
	/* Hold the NAT mappings of a direct path that is in use. */
	if (p->path != PATH_RELAYED && now - p->last_tx_ms >= NAT_KEEPALIVE_MS &&
	    now - p->last_data_ms < NAT_KEEPALIVE_IDLE_MS)
		dp_send_data_now(d, p, NULL, 0);
}

void dp_hs_timers(struct pilotd *d, struct peer *p, uint64_t now)
{
	if (p->hs || (p->hs_wanted && !dp_session_ready(d, p, now))) {
		if (now - p->hs_first_ms > REKEY_ATTEMPT_MS)
			give_up(d, p);
		else if (now - p->hs_sent_ms >= REKEY_TIMEOUT_MS)
			dp_send_init(d, p);
		return;
	}
	if (!p->cur)
		return;
	if (rekey_due(d, p, now)) {
		p->unanswered_since_ms = 0;
		p->hs_first_ms = now;
		dp_send_init(d, p);
		return;
	}
	keepalive(d, p, now);
}
