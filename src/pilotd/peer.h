/* peer.h - peers and their tunnel sessions: the handshake state machine
 * (initiate, retransmit, rekey, expire), the index table that maps a
 * receiver index in a record to its keypair in O(1), and the queue of
 * packets waiting for a session (there is never a plaintext fallback). */
#ifndef PILOT_PEER_H
#define PILOT_PEER_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bucket.h"
#include "tnl.h"

#define PEER_QUEUE_LEN 64
#define PEER_PKT_MAX 2048

/* Timers (ms), as WireGuard's. */
#define REKEY_TIMEOUT_MS 5000
#define REKEY_ATTEMPT_MS 90000
#define KEEPALIVE_MS 10000

enum peer_path { PATH_NONE = 0, PATH_DIRECT, PATH_PUNCHED, PATH_RELAYED };

struct peer {
	uint32_t node_id;
	uint8_t ed_pk[32];
	struct tnl_peer_static ps;
	char hostname[64];

	struct sockaddr_storage ep;
	socklen_t eplen;
	enum peer_path path;
	uint64_t resolve_ms; /* last registry resolve, monotonic */
	int resolving;

	struct tnl_handshake *hs; /* our initiation in flight (initiator) */
	uint64_t hs_first_ms, hs_sent_ms;
	int hs_wanted; /* a session is needed: keep trying */
	uint8_t last_init_ts[TNL_TIMESTAMP_LEN];
	int have_init_ts;
	struct tnl_cookie_state cookie;
	uint64_t cookie_resend_ms;	 /* last init sent again on a cookie reply */
	uint64_t init_ts_ns;		 /* the timestamp of our last init to it */
	struct token_bucket hs_relay_tb; /* handshakes it relays to us (dp_hs.c) */

	struct tnl_keypair *cur, *prev, *next; /* next: responder, unconfirmed */

	uint8_t *q[PEER_QUEUE_LEN]; /* packets waiting for a session */
	uint16_t qlen[PEER_QUEUE_LEN];
	unsigned qhead, qcount;

	/* Path (dp.c, doc/NAT.md): ep is the direct endpoint; path says
	 * whether records go there or through the beacon's relay. */
	uint64_t last_direct_rx_ms, last_relay_rx_ms, last_data_ms;
	uint64_t punch_req_ms, punch_rx_ms, punch_sent_ms, next_punch_ms;
	uint32_t punch_backoff_ms;
	struct sockaddr_in6 punch_ep;	/* where the last PUNCH said the peer is */
	unsigned punch_left;		/* sends still due in this punch burst */
	unsigned probe_answers;		/* probes answered in this punch */
	uint8_t punch_nonce[8];		/* names this punch in probes */
	uint8_t init_msg[TNL_INIT_LEN]; /* our handshake in flight, for punch resends */
	/* Upgrading a relayed path without the beacon (dp.c): ep_direct_ok
	 * says ep answered us directly without a punch (public, or on our
	 * LAN), so sending there unasked cannot spoil a NAT's mapping. */
	int ep_direct_ok;
	uint64_t direct_tx_ms;	  /* last record sent to ep or punch_ep ourselves */
	uint64_t direct_reply_ms; /* last answer to a direct record while relayed */
	uint64_t next_direct_ms;  /* relayed: next keepalive straight to ep ... */
	uint32_t direct_backoff_ms;
	/* Why the path is what it is (dp_path_reason, doc/NAT.md "Why a
	 * path is relayed"): punch bursts we sent it, the count when the path
	 * last became direct or punched, how many the last punched path took,
	 * the wall clock of the last burst, the last verified probe, and
	 * whether a probe came from the address the beacon named at another
	 * port (its NAT, or ours, maps per destination). */
	uint32_t punch_attempts, punch_mark, punched_after;
	uint64_t last_punch_real_ms;
	uint64_t probe_rx_ms;
	int probe_shifted;
	int restart_pending; /* peer.restarted heard: handshake once resolved */

	uint64_t last_tx_ms, last_rx_ms; /* authenticated traffic, monotonic */
	uint64_t unanswered_since_ms;	 /* first data sent since we last heard */
	uint64_t last_handshake_real_ms;
	uint64_t rx_bytes, tx_bytes;
	uint32_t flows;
	int used;
};

/* Index table entry: a receiver index names a keypair or a handshake. */
struct peer_index {
	uint32_t index; /* 0 = empty */
	struct peer *peer;
};

struct peer_table {
	struct peer **slots; /* open addressing by node ID */
	uint32_t cap, count;
	struct peer_index *idx; /* open addressing by index */
	uint32_t idx_cap, idx_count;
};

int peer_table_init(struct peer_table *pt);
void peer_table_free(struct peer_table *pt);
struct peer *peer_find(struct peer_table *pt, uint32_t node_id);
/** Create (or return) the peer for \p node_id with key \p ed_pk.  A
 *  changed key resets its sessions. \retval peer or NULL (-ENOMEM/-EINVAL). */
struct peer *peer_get(struct peer_table *pt, const struct tnl_identity *self, uint32_t node_id,
		      const uint8_t ed_pk[32]);
/** Tear down sessions, queue and index entries; forget the peer. */
void peer_remove(struct peer_table *pt, struct peer *p);
/** Wipe sessions and handshakes (e.g. on untrust) but keep the peer. */
void peer_reset(struct peer_table *pt, struct peer *p);

/** Allocate a fresh random receiver index for \p p. */
uint32_t peer_index_new(struct peer_table *pt, struct peer *p);
void peer_index_del(struct peer_table *pt, uint32_t index);
struct peer *peer_index_find(struct peer_table *pt, uint32_t index);

/** The keypair of \p p whose local index is \p index, or NULL. */
struct tnl_keypair *peer_keypair_by_index(struct peer *p, uint32_t index);
/** Install a new keypair as initiator (becomes current) or responder
 *  (becomes next until confirmed by the first record under it). */
void peer_install_keypair(struct peer_table *pt, struct peer *p, struct tnl_keypair *kp);
/** A record authenticated under \p kp: promote "next" if it was that. */
void peer_confirm_keypair(struct peer_table *pt, struct peer *p, struct tnl_keypair *kp);
/** Drop keypairs past REJECT time; \retval 1 if current is usable. */
int peer_expire_keypairs(struct peer_table *pt, struct peer *p, uint64_t now_ms,
			 uint64_t reject_ms);

/** Queue a packet (copied) while the session is not ready; the oldest is
 *  dropped when full. \retval 0 or -ENOMEM. */
int peer_queue_push(struct peer *p, const uint8_t *pkt, size_t len);
/** Pop the oldest; caller frees with free(). \retval length or 0 if empty. */
size_t peer_queue_pop(struct peer *p, uint8_t **pkt);
void peer_queue_clear(struct peer *p);

/** Our identity changed: reset every peer's sessions and statics. */
void peer_reset_all(struct peer_table *pt, const struct tnl_identity *self);

typedef void (*peer_visit_cb)(void *arg, struct peer *p);
void peer_foreach(struct peer_table *pt, peer_visit_cb cb, void *arg);
const char *peer_path_name(enum peer_path p);

#endif
