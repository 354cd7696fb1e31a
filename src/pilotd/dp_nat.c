/* dp_nat.c - NAT traversal (doc/NAT.md): punches the beacon arranges,
 * the probes that answer them, handshaking again with a restarted peer,
 * and the path timers: punch when a handshake goes unanswered, relay when
 * that fails too, and keep trying to get off the relay. */
#include "config.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "dp_int.h"
#include "log.h"
#include "util.h"

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

	bcn_probe_make(probe, d->node_id, p->node_id, p->punch_nonce, p->ps.probe_key);
	dp_sendto_ttl(d->udp_fd, probe, sizeof(probe), &p->punch_ep, ttl);
	if (dp_session_ready(d, p, now)) {
		n = dp_seal_now(d, p, NULL, 0);
		if (n > 0)
			dp_send_to_ttl(d, p, d->batch->scratch, (size_t)n, &p->punch_ep, ttl);
	} else if (p->hs && p->hs->state == TNL_HS_INIT_SENT) {
		/* The same initiation again: a copy that got through is
		 * answered, and the others are refused as replays. */
		dp_send_to_ttl(d, p, p->init_msg, TNL_INIT_LEN, &p->punch_ep, ttl);
	} else if (p->hs_wanted) {
		dp_send_init_ttl(d, p, &p->punch_ep, ttl);
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
	p->punch_attempts++;
	p->last_punch_real_ms = now_real_ms();
	p->punch_left = PUNCH_BURST;
	p->probe_answers = 0;
	memcpy(p->punch_nonce, nonce, sizeof(p->punch_nonce));
	punch_fire(d, p, now);
}

void dp_probe(struct pilotd *d, const uint8_t *probe, size_t len, uint32_t node,
	      const uint8_t nonce[8], const struct sockaddr_in6 *src, uint64_t now)
{
	struct peer *p = peer_find(&d->peers, node);

	/* Only from the peer itself (a key only it shares with us), for the
	 * punch in progress, and a few times: at most that many records go
	 * to the address a probe came from. */
	if (!p || bcn_probe_verify(probe, len, d->node_id, p->ps.probe_key) < 0) {
		d->ctr.probes_rejected++;
		return;
	}
	if (!p->punch_rx_ms || now - p->punch_rx_ms > PUNCH_PROBE_MS ||
	    p->probe_answers >= PUNCH_BURST ||
	    sodium_memcmp(nonce, p->punch_nonce, sizeof(p->punch_nonce)) != 0)
		return;
	p->probe_answers++;
	p->probe_rx_ms = now;
	/* The peer's address at another port than the beacon (or the last
	 * probe) showed: a NAT on the way maps per destination. */
	if (memcmp(&p->punch_ep.sin6_addr, &src->sin6_addr, sizeof(src->sin6_addr)) == 0 &&
	    p->punch_ep.sin6_port != src->sin6_port)
		p->probe_shifted = 1;
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
	dp_send_init_to(d, p, direct ? (const struct sockaddr_in6 *)&p->ep : NULL);
	/* The same initiation through the relay too: whichever copy arrives
	 * first is answered, the other is refused as a replay. */
	if (p->hs && direct && dp_relayed(d, p))
		dp_send_relayed(d, p, p->init_msg, TNL_INIT_LEN);
}

static void punch_req(struct pilotd *d, struct peer *p, uint64_t now)
{
	d->dp_ops->bcn_punch_req(d, p->node_id);
	p->punch_req_ms = now;
}

void dp_punch_now(struct pilotd *d, struct peer *p)
{
	uint64_t now = now_mono_ms();

	if (p->hs_wanted && !dp_session_ready(d, p, now) && d->dp_ops->bcn_ready(d) &&
	    p->punch_req_ms < p->hs_first_ms)
		punch_req(d, p, now);
}

/* Punch when a handshake goes unanswered, relay when that fails too; while
 * relayed, keep trying to upgrade; on a path that stopped answering, punch
 * again (the NAT mapping may have changed) and fall back to the relay. */
void dp_path_timers(struct pilotd *d, struct peer *p, uint64_t now)
{
	if (p->punch_left && now - p->punch_sent_ms >= PUNCH_SPACING_MS)
		punch_fire(d, p, now);
	if (!d->dp_ops->bcn_ready(d))
		return;
	if (p->hs_wanted && !dp_session_ready(d, p, now)) {
		uint64_t age = now - p->hs_first_ms;
		if (age >= PUNCH_AFTER_MS && p->punch_req_ms < p->hs_first_ms)
			punch_req(d, p, now);
		if (age >= RELAY_AFTER_MS && p->path != PATH_RELAYED) {
			dp_path_set(d, p, PATH_RELAYED, now);
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
			dp_direct_keepalive(d, p);
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
			dp_path_set(d, p, PATH_RELAYED, now);
			dp_send_data_now(d, p, NULL, 0);
		} else if (u >= SUSPECT_MS && now - p->punch_req_ms >= SUSPECT_MS) {
			punch_req(d, p, now);
		}
	}
}
