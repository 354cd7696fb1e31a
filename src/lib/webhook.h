/* webhook.h - webhooks (SPEC section 7): a durable outbox in LMDB and a
 * delivery engine on the daemon's event loop.
 *
 * Every event is POSTed as
 *
 *   {"event_id":N,"event":"area.what","node_id":N,
 *    "timestamp":"2025-01-02T03:04:05.678Z","data":{...}}
 *
 * with headers "X-Pilot-Event-Id: N" and, when a secret is configured,
 * "X-Pilot-Signature: sha256=<hex HMAC-SHA256(secret, body)>" (the exact
 * body bytes).  event_id is the audit event_id: a receiver that sees a gap
 * knows an event was lost, and the audit log says which and why.
 *
 * Guarantees: at least once, in order.  An event is queued inside the
 * caller's write transaction (with its audit record), so it is durable
 * when the action is; one request is in flight at a time; the head of the
 * outbox is deleted only after a 2xx answer; anything else (refused
 * connection, timeout, 3xx/4xx/5xx) is retried after an exponential
 * backoff with jitter (1 s doubling to 5 min by default), for ever, and
 * after a restart.  A receiver dedups on event_id.
 *
 * Nothing is dropped silently: the outbox has a capacity (events and
 * bytes).  When it is full, webhook_enqueue_txn() returns -ENOSPC without
 * failing the caller's transaction; the caller then records an audit event
 * "webhook.outbox_full" naming the dropped event_id and counts it
 * (webhook_audit_txn() does both), and the daemon goes on.
 *
 * The sub-database (name passed in) holds the outbox and the endpoint:
 *   "Q" be64(seq)   be64(event_id) || body        the queue, in order
 *   "c.url"         the endpoint URL
 *   "c.secret"      the HMAC secret (the state files are 0600 in a 0700 dir)
 *   "s.seq" "s.bytes" "s.delivered" "s.dropped"   be64 counters
 *
 * Endpoints: https:// (verified against the system CAs or opts.cafile);
 * http:// only to a loopback address (a local relay, tests), since the
 * events name nodes and actions.  No credentials in the URL.
 */
#ifndef PILOT_WEBHOOK_H
#define PILOT_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_txn;
struct event_base;
struct httpc;
struct json_gen;
struct audit;
struct webhook;

#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_SECRET_MAX 256
#define WEBHOOK_BODY_MAX (16 * 1024)
#define WEBHOOK_CAPACITY_DEFAULT 100000
#define WEBHOOK_CAPACITY_BYTES_DEFAULT (48ull << 20)
#define WEBHOOK_BACKOFF_MIN_MS 1000
#define WEBHOOK_BACKOFF_MAX_MS (5 * 60 * 1000)
#define WEBHOOK_TIMEOUT_MS 10000
#define WEBHOOK_IDLE_POLL_MS 10000 /* re-check an empty outbox (a missed kick) */

struct webhook_opts {
	uint64_t capacity;	 /* events queued at most; 0: default */
	uint64_t capacity_bytes; /* body bytes queued at most; 0: default */
	uint32_t backoff_min_ms; /* first retry delay; 0: default */
	uint32_t backoff_max_ms; /* cap; 0: default */
	uint32_t timeout_ms;	 /* per attempt; 0: default */
	const char *cafile;	 /* CA bundle for https endpoints; NULL: system store */
};

/** \brief Open the outbox in sub-database \p db_name of \p st (listed in
 *  store_open), load the endpoint and start delivering any backlog on
 *  \p base through \p http (the daemon's client; free the webhook first).
 *  \p o may be NULL.  \retval 0 and *out, or -errno. */
int webhook_new(struct store *st, const char *db_name, struct event_base *base, struct httpc *http,
		const struct webhook_opts *o, struct webhook **out);
/** Cancel the attempt in flight (it is retried at the next start) and free
 *  \p w (NULL is fine). */
void webhook_free(struct webhook *w);

/** \brief Set (persistently) the endpoint and its secret (\p secret may be
 *  NULL: unsigned).  The backlog is kept and goes to the new endpoint.
 *  \retval 0, -EINVAL (bad URL: see above; secret too long), or -errno. */
int webhook_set_endpoint(struct webhook *w, const char *url, const uint8_t *secret,
			 size_t secret_len);
/** \brief Remove the endpoint and drop the backlog (events then are only in
 *  the audit log).  \retval 0 and *purged (may be NULL), or -errno. */
int webhook_clear(struct webhook *w, uint64_t *purged);
/** \brief Read a secret from \p path: a regular file that group and others
 *  cannot access (as file_check_secret, checked on the open descriptor),
 *  trailing whitespace removed.  \retval 0 and *len, -EPERM (too open),
 *  -EINVAL (empty), -EFBIG (over WEBHOOK_SECRET_MAX), or -errno. */
int webhook_secret_load(const char *path, uint8_t *out, size_t outlen, size_t *len);

/** \brief Queue an event inside the caller's write transaction.
 *  \p details is a JSON object as text or NULL; \p node_id is this node
 *  (0 when none).  With no endpoint configured this does nothing.
 *  \retval 0; -ENOSPC when the outbox is full (the transaction stays good;
 *  see the contract above); -EINVAL for a bad event name or details (the
 *  transaction stays good); or the transaction's sticky store error.
 *  After a successful commit call webhook_kick(). */
int webhook_enqueue_txn(struct webhook *w, struct store_txn *t, uint64_t event_id,
			const char *event, uint32_t node_id, const char *details);
/** Something was committed to the outbox: deliver it (deferred to the
 *  loop; cheap, idempotent, and does not shorten a backoff). */
void webhook_kick(struct webhook *w);

/** \brief The usual pair in one call: audit_append_txn(), then, with \p w
 *  not NULL, webhook_enqueue_txn() of the same event; on -ENOSPC also an
 *  audit record "webhook.outbox_full" {"dropped_event_id","event"} (not
 *  queued) and *dropped = 1 for the daemon's counter.  Commit, then call
 *  audit_txn_committed() and webhook_kick() (or audit_txn_aborted()).
 *  \retval 0 and *event_id, or the (sticky) error. */
int webhook_audit_txn(struct audit *a, struct webhook *w, struct store_txn *t, const char *type,
		      const char *actor, const char *subject, uint32_t node_id, const char *details,
		      uint64_t *event_id, int *dropped);

struct webhook_status {
	char url[WEBHOOK_URL_MAX + 1]; /* "" when none is set */
	int has_secret;
	uint64_t backlog, backlog_bytes; /* queued, not yet acknowledged */
	uint64_t capacity, capacity_bytes;
	uint64_t last_delivered_id; /* event_id of the last 2xx (persisted) */
	uint64_t dropped;	    /* events refused, outbox full (persisted) */
	uint32_t failures;	    /* consecutive failed attempts */
	int in_flight;
	uint64_t last_attempt_ms, next_attempt_ms, last_success_ms; /* Unix ms; 0: none */
	uint32_t backoff_ms;					    /* current retry delay */
	long last_status; /* HTTP status of the last answer (0: none) */
	char last_error[256];
	uint64_t last_error_ms;
};

/** \retval 0 with \p s filled, or a store error. */
int webhook_status(struct webhook *w, struct webhook_status *s);
/** \p s as one JSON object (for `pilotctl webhook status`). */
void webhook_status_json(const struct webhook_status *s, struct json_gen *j);

#endif
