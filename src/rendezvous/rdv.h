/* rdv.h - pilot-rendezvous: the registry daemon.
 *
 * One context (struct rdv) owns everything: configuration, the LMDB state
 * (rdv_store.h), the TLS identity (rdv_tls.h), the event loop and the
 * HTTP server (rdv_http.c) with its event streams and rate limiter.
 * Request semantics (rdv_reg*.c) are a pure function of the store and the
 * request bytes, so tests drive them without a network.
 */
#ifndef PILOT_RDV_H
#define PILOT_RDV_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "rdv_limit.h"
#include "rdv_store.h"
#include "rdv_tls.h"

#define RDV_DEFAULT_CONFIG "/etc/pilot/rendezvous.json"
#define RDV_DEFAULT_STATE_DIR "/var/lib/pilot-rendezvous"

/* Limits of the HTTP front end. */
#define RDV_RATE_PER_SEC 50 /* per source address (IPv6: per /64) */
#define RDV_RATE_BURST 100
#define RDV_RATE_TABLE_MAX 65536 /* source addresses per generation (rdv_limit.h) */
#define RDV_MAX_CONNS 4096	 /* concurrent TLS connections */
#define RDV_HTTP_TIMEOUT_S 30	 /* idle / handshake / slow request */
/* A request buffered beyond RDV_BODY_SMALL (whatever its path: evhttp
 * reads up to REGMSG_MAX_POLICY_BODY of any) must be complete within
 * RDV_BODY_DEADLINE_S, and all such bodies together may hold at most
 * RDV_BODY_BUDGET: a slow or crowded client cannot pin 4 MiB per
 * connection for ever. */
#define RDV_BODY_SMALL (64 * 1024)
#define RDV_BODY_DEADLINE_S 60
#define RDV_BODY_BUDGET (256u * 1024 * 1024)
#define RDV_PING_INTERVAL_S 15		/* events stream keep-alive */
#define RDV_MAINT_INTERVAL_S 60		/* nonce/invite pruning, rate table sweep */
#define RDV_STREAMS_PER_NODE 4		/* a 5th events stream closes the oldest */
#define RDV_STREAM_MAX_BUFFER (1 << 20) /* unread output before a stream is cut */
#define RDV_INBOX_MAX 1024		/* pending handshakes per target */
/* Pending handshakes one requester may hold, all targets together (one
 * per target already: a repeat replaces it).  A request stops counting
 * RDV_INBOX_HOLD_MS after it was made or repeated (it stays in the inbox),
 * so requests nobody answers do not lock a node out for ever; a flood
 * of fresh identities is bounded by registrations_per_prefix_hour. */
#define RDV_INBOX_PER_REQUESTER 64
#define RDV_INBOX_HOLD_MS (7 * 86400 * 1000ull)
#define RDV_AUDIT_PRUNE_INTERVAL_S 3600 /* audit retention (audit_max_*) */
#define RDV_AUDIT_QUERY_DEFAULT 1000	/* records per admin `audit` answer */
#define RDV_AUDIT_QUERY_MAX 10000

/* Metrics: request counters by operation and outcome, a latency histogram. */
#define RDV_OP_SLOTS 64	  /* node ops + admin ops + "unknown" (checked in rdv_reg.c) */
#define RDV_OUTCOMES 14	  /* "ok" + the error codes (rdv_outcome_name) */
#define RDV_LAT_BUCKETS 9 /* finite buckets of pilot_registry_request_seconds */

struct rdv_config {
	struct conf_head head; /* must be first (conf.h) */
	char *listen;
	char *beacon_listen;
	char *serve; /* "registry", "beacon" or "registry,beacon" */
	uint32_t relay_rate_mbit, relay_total_mbit;
	char *state_dir;
	char *store; /* "lmdb" or "etcd" */
	char **etcd_endpoints;
	char *etcd_prefix;
	char *etcd_ca, *etcd_cert, *etcd_key;
	uint32_t etcd_timeout_ms, etcd_max_txn_ops, etcd_poll_ms;
	char *log_level;
	char *log_format;
	char *tls_cert;
	char *tls_key;
	char *admin_token;
	char *admin_token_file;
	char *metrics_listen; /* NULL: no metrics */
	int metrics_allow_remote;
	uint32_t audit_max_records;  /* 0: no count limit */
	uint32_t audit_max_age_days; /* 0: keep for ever */
	char *identity_lifetime;     /* duration; NULL: identities do not expire */
	char *registration;	     /* "open", "token" or "approval" (rdv_reg_signup.c) */
	uint32_t registrations_per_prefix_hour; /* 0: no cap */
	int print_pin;
	int print_join;
	char *join_host; /* --print-join's options (flags only) */
	char *network;
	char *token;
	char *import_lmdb; /* --import-lmdb DIR (flag only) */
	int check_config;
	int help;
	int version;
};

/* The configuration's keys (rendezvous.json, and each as a long flag). */
extern const struct conf_key rdv_schema[];

struct rdv_stream;
struct rdv_jwks;
struct rdv_parked;
struct event_base;
struct event;
struct evbuffer;
struct evhttp;
struct evhttp_bound_socket;
struct metrics;

/* Counters of the Prometheus page (rdv_http.c fills them, rdv.c shows them). */
struct rdv_stats {
	uint64_t requests[RDV_OP_SLOTS][RDV_OUTCOMES];
	uint64_t lat_buckets[RDV_LAT_BUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
	uint64_t lat_count;
	double lat_sum;	       /* seconds */
	uint64_t rate_limited; /* requests refused by the per-source token bucket */
	uint64_t reloads, reload_failures;
	uint64_t audit_pruned;
};

#define RDV_STREAM_BUCKETS 256

struct rdv {
	struct rdv_config cfg;
	int argc; /* kept for SIGHUP: the flags are parsed again, and win again */
	char **argv;
	struct rdv_db db;
	struct rdv_tls tls;
	char *admin_token;	       /* sodium_malloc'd; NULL only without a registry here */
	int admin_token_kept;	       /* none configured: STATE_DIR/admin.token's (rdv_token.c) */
	uint64_t identity_lifetime_ms; /* identity_lifetime, checked; 0 never */
	int reg_rule;		       /* registration, checked (enum rdv_reg_rule) */
	uint8_t *audit_sk;  /* sodium_malloc'd Ed25519 secret key (64), signs checkpoints */
	uint8_t *invite_sk; /* sodium_malloc'd Ed25519 secret key (64), signs admin invites */

	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *ev_sigterm, *ev_sigint, *ev_sighup, *ev_ping, *ev_maint, *ev_watchdog;
	struct event *ev_audit_prune;
	struct event *ev_cert_sweep;
	struct event *ev_repl;	   /* store etcd: looks for other replicas' writes */
	int repl_down;		   /* etcd did not answer the last poll */
	uint64_t repl_retry_ms;	   /* no poll before this (monotonic) while down */
	char presence[512];	   /* this replica's presence value in etcd (JSON) */
	struct metrics *metrics;   /* NULL unless metrics_listen */
	struct rdv_bcn *bcn;	   /* the beacon (rdv_bcn.h), NULL unless served here */
	struct rdv_jwks *jwks;	   /* key set fetcher (rdv_jwks.h), with the registry */
	struct rdv_parked *parked; /* requests waiting for a key set (rdv_http.c) */
	size_t nparked;
	int serve_registry, serve_beacon;
	struct rdv_stats stats;
	int ssl_conn_idx; /* SSL ex_data index whose free hook counts connections */
	size_t nconns;
	int replying;	   /* inside on_request: output written now is ours, not evhttp's */
	size_t body_bytes; /* input buffered beyond RDV_BODY_SMALL, all connections */
	int listener_paused;
	int stopping;

	/* Open events streams, hashed by node ID. */
	struct rdv_stream *streams[RDV_STREAM_BUCKETS];
	size_t nstreams;
	/* Token buckets by source address (rdv_limit.h). */
	struct rdv_rate rate;
};

/** The whole daemon: parse flags and config, then run until SIGTERM.
 *  \retval process exit status. */
int rdv_main(int argc, char **argv);

/* ------------------------------------------------------------ rdv_reg.c */

/* A response to a node request: an HTTP status and a body.  For a
 * successful `events` request, body holds the backlog (JSON lines) and
 * stream_node names the node whose live events should follow. */
struct rdv_reply {
	int status;
	char *body; /* malloc'd */
	size_t len;
	uint32_t stream_node;
	uint64_t stream_seq; /* last seq in body (or already acknowledged) */
	uint16_t wait_net;   /* not answered yet: run again once this network's keys came */
	int op;		     /* metrics: rdv_op_label() index */
	int outcome;	     /* metrics: rdv_outcome_name() index, 0 = ok */
};

/** \brief Handle one signed node request, POST /v1/node/\p op.
 *  Checks, in this order: size, envelope (regmsg_parse), the signer's key
 *  (node_id, or register's public_key), the signature \p sig_b64 (NULL if
 *  the header was absent), freshness against \p now_ms, the nonce; then
 *  applies the operation and records the nonce in the same transaction.
 *  A refused request changes nothing.  \p peer_ip is the TCP peer address
 *  (no brackets), used for endpoints.
 *  \retval 0 with \p rep filled (success or error reply), or -ENOMEM when
 *  not even an error reply could be built. */
int rdv_reg_handle(struct rdv_db *db, const char *op, const char *body, size_t len,
		   const char *sig_b64, const char *peer_ip, uint64_t now_ms,
		   struct rdv_reply *rep);
/** \brief Handle one admin request, POST /v1/admin/\p op.
 *  Checks, in this order: an admin token is configured (else 403
 *  forbidden), \p auth (the Authorization header, NULL if absent) is
 *  "Bearer <admin_token>" compared in constant time (else 401
 *  unauthorized), the operation exists, the body (regmsg_parse_admin);
 *  then applies the operation in one transaction.  A refused request
 *  changes nothing.  Every request is logged with \p peer_ip, never the
 *  token.  \retval 0 with \p rep filled, or -ENOMEM. */
int rdv_admin_handle(struct rdv_db *db, const char *admin_token, const char *op, const char *body,
		     size_t len, const char *auth, const char *peer_ip, uint64_t now_ms,
		     struct rdv_reply *rep);
/** Fill \p rep with the error reply for \p err (a -errno as returned by
 *  the checks: -EINVAL bad_request, -EBADMSG bad_signature, -ESTALE stale,
 *  -EALREADY replay, -E2BIG too_large, -ENOENT not_found, -EACCES
 *  forbidden, -EEXIST conflict, -EBUSY rate_limited, -EAGAIN/-ENOSPC
 *  unavailable, -EPERM unauthorized, else internal).  \retval 0 or -ENOMEM. */
int rdv_reply_error(struct rdv_reply *rep, int err, const char *msg);
/** End the memberships whose certificates expired (once a second).
 *  \retval 0 or -errno (logged). */
int rdv_reg_sweep(struct rdv_db *db, uint64_t now_ms);
/** ... with reply code \p code (NULL: \p err's). */
int rdv_reply_error_code(struct rdv_reply *rep, int err, const char *code, const char *msg);
void rdv_reply_free(struct rdv_reply *rep);
/** Metrics labels: operation \p i (0 .. RDV_OP_SLOTS-1) as its API
 *  ("node" or "admin") and name; \retval 0, or -ENOENT past the last. */
int rdv_op_label(int i, const char **api, const char **name);
/** Metrics labels: outcome \p i ("ok", then the error codes), or NULL. */
const char *rdv_outcome_name(int i);
/** Metrics labels: why a new key's registration was refused (enum
 *  rdv_reg_refusal \p i), or NULL past the last. */
const char *rdv_reg_refusal_name(int i);
/** Registrations held for approval now (pending). */
size_t rdv_reg_pending_count(struct rdv_db *db);
/** Forget expired registration tokens and old held registrations (the
 *  maintenance timer).  \retval 0 or -errno (logged). */
int rdv_reg_signup_prune(struct rdv_db *db, uint64_t now_ms);
/** Format the endpoint "IP:PORT" / "[V6]:PORT". \retval 0 or -ENOSPC. */
int rdv_endpoint_format(char *out, size_t len, const char *ip, uint16_t port);

/* ----------------------------------------------------------- rdv_http.c */

/** Answer the requests parked on network \p net's key set (its fetch
 *  ended, well or not): each runs once more and cannot park again. */
void rdv_http_wake(struct rdv *r, uint16_t net);
/** Bind the registry listener and serve.  \retval 0 or -errno (logged). */
int rdv_http_start(struct rdv *r);
/** Close every stream and connection and the listener. */
void rdv_http_stop(struct rdv *r);
/** rdv_notify_fn: push newly queued events of \p node to its streams. */
void rdv_http_notify(void *arg, uint32_t node);
/** Periodic housekeeping of the front end (rate table sweep). */
void rdv_http_maint(struct rdv *r);
/** Upper bound in seconds of latency bucket \p i (0 .. RDV_LAT_BUCKETS-1). */
double rdv_lat_bound(int i);

/* ---------------------------------------------------------- rdv_token.c */

#define RDV_ADMIN_TOKEN_FILE "admin.token" /* in the state dir */
#define RDV_STATE_TOKEN_BYTES 32

/** Copy the admin token \p tok (\p len bytes, not 0) into guarded memory
 *  (*out, free with sodium_free).  \retval 0, -EINVAL or -ENOMEM. */
int rdv_token_set(char **out, const char *tok, size_t len);
/** Read admin_token_file \p path: refused when group or others may read
 *  it, or when empty.  \retval 0 or -errno with \p err set. */
int rdv_token_load_file(char **out, const char *path, char *err, size_t errlen);
/** STATE_DIR/admin.token into \p out (PATH_MAX). \retval 0 or -ENAMETOOLONG. */
int rdv_token_state_path(const char *state_dir, char *out, size_t len);
/** Read back the token this registry made: mode 0600 (no group or other
 *  access), base64url of RDV_STATE_TOKEN_BYTES bytes; anything else is
 *  refused.  \retval 0, -ENOENT (not made yet, \p err untouched), or
 *  -errno with \p err set. */
int rdv_token_load_state(char **out, const char *state_dir, char *err, size_t errlen);
/** Make it: RDV_STATE_TOKEN_BYTES random bytes, base64url, mode 0600,
 *  written to a temporary file and linked into place (it appears whole
 *  or not at all, and never replaces one: if another process made it
 *  first, that one is read).  \retval 0 or -errno with \p err set. */
int rdv_token_create_state(char **out, const char *state_dir, char *err, size_t errlen);

/* ----------------------------------------------------------- rdv_join.c */

/** \brief --print-join: print the join string for \p c's registry on
 *  stdout, one line (doc/JOIN.md): c->join_host (HOST[:PORT], the port
 *  defaulting to listen's) or else the listen address, refused when it is
 *  a wildcard; the pin of the TLS certificate, which must exist already;
 *  c->network and c->token when given.  \retval 0 or -errno with \p err
 *  set. */
int rdv_join_print(const struct rdv_config *c, char *err, size_t errlen);

/* ------------------------------------------------------------ rdv.c */

/** \brief SIGHUP: read the configuration again (file and the original
 *  flags) and apply it whole, or change nothing.  Reloadable: log_level,
 *  log_format, admin_token / admin_token_file (the file is read again),
 *  audit_max_records, audit_max_age_days, identity_lifetime, registration,
 *  registrations_per_prefix_hour, relay_rate_mbit.  A change to listen,
 *  beacon_listen, state_dir, tls_cert, tls_key, metrics_listen or
 *  metrics_allow_remote needs a restart and refuses the whole reload, as
 *  does a configuration that does not parse or check.  \retval 0 or -errno
 *  (logged either way). */
int rdv_reload(struct rdv *r);
/** Apply the audit retention (audit_max_records, audit_max_age_days) now.
 *  \retval records pruned, or -errno (logged). */
int rdv_audit_prune(struct rdv *r, uint64_t now_ms);
/** The Prometheus page (metrics_fill_fn). */
void rdv_metrics_fill(void *arg, struct evbuffer *out);

#endif
