/* dp_path.c - which path a peer's records take (direct, punched,
 * relayed), as the records that authenticate show it.  Only these moves
 * are made on what arrives; the timers that move a path when nothing
 * does are dp_nat.c's. */
#include "config.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dp_int.h"
#include "log.h"

void dp_path_set(struct pilotd *d, struct peer *p, enum peer_path to, uint64_t now)
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
	} else {
		/* A working path: the attempts it took, and the next count
		 * starts here. */
		if (to == PATH_PUNCHED)
			p->punched_after = p->punch_attempts - p->punch_mark;
		p->punch_mark = p->punch_attempts;
		p->probe_shifted = 0;
		if (to == PATH_DIRECT)
			p->ep_direct_ok = 1;
	}
}

const char *dp_path_reason(const struct peer *p, int beacon_ok, int own_nat_symmetric, char *buf,
			   size_t len)
{
	switch (p->path) {
	case PATH_DIRECT:
		return "direct";
	case PATH_PUNCHED:
		snprintf(buf, len, "punched after %u attempt%s", p->punched_after,
			 p->punched_after == 1 ? "" : "s");
		return buf;
	case PATH_RELAYED:
		break;
	default:
		return "none";
	}
	/* Relayed: the first of these that holds says why. */
	if (!beacon_ok)
		return "no_beacon";
	if (p->probe_shifted || own_nat_symmetric)
		return "symmetric_nat";
	if (p->punch_attempts && (p->last_direct_rx_ms || p->probe_rx_ms))
		return "punch_timed_out";
	return "udp_blocked";
}

/* A keepalive straight to \p p's endpoint (no-op without a session). */
void dp_direct_keepalive(struct pilotd *d, struct peer *p)
{
	int n = dp_seal_now(d, p, NULL, 0);

	if (n > 0 && p->eplen)
		dp_send_to(d, p, d->batch->scratch, (size_t)n, (const struct sockaddr_in6 *)&p->ep);
}

/* A record authenticated as \p p's arrived, from \p src or through the
 * relay (\p via != 0).  Only this moves endpoints and paths (roaming): a
 * forged or replayed datagram never gets here. */
void dp_note_rx(struct pilotd *d, struct peer *p, const struct sockaddr_in6 *src, uint32_t via,
		uint64_t now)
{
	int punch_recent;

	if (via) {
		p->last_relay_rx_ms = now;
		/* The peer relays because it stopped hearing us directly;
		 * while its direct records still arrive, direct stays. */
		if (p->path == PATH_NONE ||
		    (p->path != PATH_RELAYED && now - p->last_direct_rx_ms > DIRECT_STALE_MS))
			dp_path_set(d, p, PATH_RELAYED, now);
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
			dp_direct_keepalive(d, p);
		}
		return;
	}
	/* "punched" only when the punch made the path: an endpoint that
	 * worked unpunched before (a LAN neighbour back from a restart) is
	 * direct even if a punch ran meanwhile. */
	if (p->path == PATH_RELAYED || p->path == PATH_NONE) {
		dp_path_set(d, p, punch_recent && !p->ep_direct_ok ? PATH_PUNCHED : PATH_DIRECT,
			    now);
		p->punch_left = 0;
	}
}
