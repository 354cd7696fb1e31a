/* audit.h - the hash-chained audit log (SPEC section 7), kept in two LMDB
 * sub-databases of the daemon's store.
 *
 * Records: key = big-endian event_id, value = one compact JSON object
 *
 *   {"event_id":N,"ts":MS,"type":"area.what","actor":"..","subject":"..",
 *    "details":{..},"prev":"<hex SHA-256>"}
 *
 * "Canonical" means the exact stored bytes: nobody re-serialises a record,
 * its hash is SHA-256 over those bytes, and "prev" is the hash of the
 * previous record (64 zeros for event 1, or the checkpoint's prev_hash for
 * the first record kept after pruning).  The bytes contain no raw newline,
 * so a JSON Lines export is the records one per line, verbatim, and a SIEM
 * can re-check the chain itself.
 *
 * Meta (second sub-database):
 *   "head"      be64 last event_id || SHA-256 of that record (40 bytes),
 *               written in the same transaction as every record: it makes
 *               a deleted or edited tail detectable, which a chain alone
 *               cannot do.
 *   "ckpt"      after pruning: {"first_id_kept","prev_hash","pruned_through","ts"}
 *   "ckpt_sig"  Ed25519 signature (64 bytes) over "pilot-audit-checkpoint-v1\n"
 *               followed by the "ckpt" bytes (domain-separated from every
 *               other signature made with the node key).
 *
 * Durability: a record is written inside the caller's write transaction,
 * so the action and its record commit together, and LMDB commits are
 * fsync'd (store.c): once the commit returns, the record survives a crash.
 * The chain head used by an append is read from that same transaction, so
 * an aborted transaction can never leave a hole or fork in the chain; the
 * copy in struct audit is only a cache (status, --follow), advanced by
 * audit_txn_committed().
 *
 * Single-threaded use, like the rest of the daemon's event loop.
 */
#ifndef PILOT_AUDIT_H
#define PILOT_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct store;
struct store_txn;
struct json_gen;

#define AUDIT_TYPE_MAX 64	/* "area.what": [a-z0-9_-] and at least one '.' */
#define AUDIT_NAME_MAX 256	/* actor, subject (bytes) */
#define AUDIT_DETAILS_MAX 8192	/* details JSON as given (bytes); longer: replaced */
#define AUDIT_PRUNE_BATCH 10000 /* records deleted per transaction */

struct audit;

/** \brief Bind to the sub-databases \p db_name (records) and \p meta_name
 *  (head, checkpoint), which the caller listed in store_open().  Loads the
 *  chain head.  \retval 0 and *out, or -ENOENT (no such sub-database),
 *  -ENOMEM, or a store error. */
int audit_open(struct store *st, const char *db_name, const char *meta_name, struct audit **out);
/** Free \p a (NULL is fine).  Does not close the store. */
void audit_close(struct audit *a);

/** \brief Append a record inside the caller's write transaction \p t.
 *  \p actor / \p subject may be NULL (stored as ""); invalid UTF-8 in them
 *  is replaced by '?', longer than AUDIT_NAME_MAX is cut.  \p details is a
 *  JSON object as text, or NULL for {}; it is re-emitted compactly, and
 *  one over AUDIT_DETAILS_MAX bytes is replaced by {"details_truncated":LEN}
 *  (the event keeps its record).
 *  On any failure (bad type or details: -EINVAL; store: -errno) the
 *  transaction is failed too (sticky), so the action cannot commit without
 *  its record.  After store_txn_commit() call audit_txn_committed() (on
 *  success) or audit_txn_aborted() (otherwise, or after store_txn_abort).
 *  \retval 0 and *event_id (may be NULL), or the error. */
int audit_append_txn(struct audit *a, struct store_txn *t, const char *type, const char *actor,
		     const char *subject, const char *details, uint64_t *event_id);
/** The caller's transaction holding appends committed: advance the cached
 *  head and notify (audit_set_notify). */
void audit_txn_committed(struct audit *a);
/** The caller's transaction was aborted or failed: forget its appends. */
void audit_txn_aborted(struct audit *a);
/** \brief Append in a transaction of its own and commit it (durable when
 *  this returns 0).  \retval 0 or -errno. */
int audit_append(struct audit *a, const char *type, const char *actor, const char *subject,
		 const char *details, uint64_t *event_id);

/** Called after every commit that added records, with the new last id
 *  (for `pilotctl audit --follow`).  \p cb NULL turns it off. */
typedef void (*audit_notify_cb)(void *arg, uint64_t last_id);
void audit_set_notify(struct audit *a, audit_notify_cb cb, void *arg);
/** Last committed event_id (0 if none) and, if \p hash, its SHA-256. */
uint64_t audit_last_id(const struct audit *a, uint8_t hash[32]);

/* ---- query and export ---- */

struct audit_filter {
	uint64_t since_id; /* event_id >= since_id (0: from the first) */
	uint64_t since_ms; /* ts >= since_ms (0: any) */
	const char *type;  /* exact; "area." or "area.*" matches the area; NULL: any */
	const char *node;  /* matched against actor and subject; NULL: any */
	int node_exact;	   /* 1: actor or subject equals node; 0: contains it */
	size_t limit;	   /* at most this many records (0: no limit) */
	int newest;	   /* with limit: the newest matches (still delivered oldest first) */
};

/** One record: its exact stored bytes (valid during the call only).
 *  \retval 0 go on, 1 stop, <0 fail (returned by audit_query). */
typedef int (*audit_rec_cb)(void *arg, uint64_t event_id, const char *rec, size_t len);
/** \brief Records matching \p f (NULL: all), oldest first, from one
 *  read-only snapshot.  Records that do not parse are skipped (audit_verify
 *  reports them).  \retval 0, the callback's error, or a store error. */
int audit_query(struct audit *a, const struct audit_filter *f, audit_rec_cb cb, void *arg);
/** \brief JSON Lines for SIEMs: every record from \p since_id on, one per
 *  line, exactly the stored bytes.  A tampered record holding a newline is
 *  skipped (and logged) rather than let it forge extra lines; the chain
 *  break it leaves shows in any verifier.  \retval 0 or -errno. */
int audit_export_jsonl(struct audit *a, uint64_t since_id, FILE *out, uint64_t *written);

/* ---- verification ---- */

struct audit_verify_result {
	int ok;			 /* the whole log verified */
	uint64_t records;	 /* records present */
	uint64_t first_id;	 /* lowest event_id present (0: none) */
	uint64_t last_id;	 /* highest event_id present (0: none) */
	uint64_t head_id;	 /* last event_id according to meta */
	uint64_t pruned_through; /* from a valid checkpoint, else 0 */
	int checkpoint;		 /* a checkpoint exists (and was checked) */
	uint64_t errors;	 /* problems found (verification goes on after one) */
	uint64_t bad_id;	 /* the first problem's event_id */
	char reason[192];	 /* the first problem, for humans */
};

/** \brief Check the whole log: every key/event_id agree, ids are
 *  consecutive (a gap is a deleted record), each record's "prev" is the
 *  hash of its predecessor (a mismatch between K and K+1 reports K: its
 *  bytes are not those K+1 was chained to), the first record follows the
 *  genesis or the checkpoint, whose signature is checked with \p pk (the
 *  daemon's Ed25519 public key; NULL only if no checkpoint is expected),
 *  and the last record is the head kept in meta (a deleted or edited tail).
 *  \retval 0 with \p res filled (res->ok says the verdict), or a store
 *  error when the log could not be read. */
int audit_verify(struct audit *a, const uint8_t pk[32], struct audit_verify_result *res);
/** Fill \p j with the verification result as a JSON object. */
void audit_verify_json(const struct audit_verify_result *res, struct json_gen *j);

/* ---- retention ---- */

/** \brief Delete the oldest records so that at most \p max_records remain
 *  (0: no count limit) and none is older than \p max_age_ms before
 *  \p now_ms (0: no age limit); then write a checkpoint signed with \p sk
 *  (Ed25519, 64 bytes) so the rest still verifies.  Before deleting, the
 *  part to be deleted is checked (chain, existing checkpoint signature,
 *  link to the first record kept): a broken log is never pruned or
 *  re-signed (-EBADMSG; run audit_verify).  Works in transactions of
 *  AUDIT_PRUNE_BATCH records.  \retval 0 and *pruned (may be NULL), or -errno. */
int audit_prune(struct audit *a, uint64_t max_records, uint64_t max_age_ms, uint64_t now_ms,
		const uint8_t sk[64], uint64_t *pruned);
/** \brief After a key rotation: check the checkpoint with \p old_pk and
 *  sign it again with \p new_sk (no checkpoint: nothing to do).
 *  \retval 0, -EBADMSG (bad existing signature), or -errno. */
int audit_checkpoint_resign(struct audit *a, const uint8_t old_pk[32], const uint8_t new_sk[64]);

/* ---- record format (the one parser of stored bytes; fuzzed) ---- */

struct audit_rec {
	uint64_t event_id, ts;
	const char *type, *actor, *subject; /* point into the parsed tree */
	uint8_t prev[32];
	void *tree; /* yajl_val owning the strings; audit_rec_free() */
};

/** \brief Parse and validate stored record bytes (untrusted: the file can
 *  be edited).  Exactly the seven members, with their types; "prev" is 64
 *  hex digits.  \retval 0 (free with audit_rec_free), -EBADMSG, -ENOMEM. */
int audit_rec_parse(const char *buf, size_t len, struct audit_rec *r);
void audit_rec_free(struct audit_rec *r);

/** \brief Emit \p details (a JSON object as text, or NULL for {}) into
 *  \p j compactly (no raw newlines), after parsing it with the bounded
 *  parser; over AUDIT_DETAILS_MAX bytes, {"details_truncated":LEN} instead.
 *  Shared with the webhook body.  \retval 0 or -EINVAL (not an object). */
int audit_gen_details(struct json_gen *j, const char *details);
/** \retval 1 if \p type is a valid event name ("area.what"), else 0. */
int audit_type_ok(const char *type);

#endif
