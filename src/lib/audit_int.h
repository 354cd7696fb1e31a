/* audit_int.h - what the parts of the audit log share (not for callers:
 * they see audit.h).  audit_rec.c is the codec of the stored bytes (records,
 * checkpoints) and the chain's hash and signatures; audit.c the log in LMDB
 * (head, append, query, retention); audit_verify.c the readers that check
 * or hand out the whole log (verify, JSON Lines export). */
#ifndef PILOT_AUDIT_INT_H
#define PILOT_AUDIT_INT_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"

struct json_gen;
struct store_txn;

#define HEAD_KEY "head"
#define CKPT_KEY "ckpt"
#define CKPT_SIG_KEY "ckpt_sig"
#define CKPT_DOMAIN "pilot-audit-checkpoint-v1\n"
#define HASH_LEN crypto_hash_sha256_BYTES
#define HEX_LEN (2 * HASH_LEN)

struct audit {
	struct store *st;
	int db;	  /* records */
	int meta; /* head, checkpoint */
	/* Cache of the committed head (status, --follow).  Appends never use
	 * it: they read the head from their own transaction. */
	uint64_t last_id;
	uint8_t last_hash[HASH_LEN];
	/* Head written by appends in a transaction not yet committed. */
	int pend;
	uint64_t pend_id;
	uint8_t pend_hash[HASH_LEN];
	audit_notify_cb notify;
	void *notify_arg;
};

struct ckpt {
	uint64_t first_id_kept, pruned_through, ts;
	uint8_t prev[HASH_LEN];
};

/* audit_rec.c */
void audit_sha256(uint8_t out[HASH_LEN], const void *buf, size_t len);
/** Copy at most \p max bytes of \p in as valid UTF-8 (see audit_rec.c). */
void audit_utf8_sanitize(char *out, const char *in, size_t max);
/** \retval 0 or -EBADMSG. */
int audit_ckpt_parse(const char *buf, size_t len, struct ckpt *c);
/** The checkpoint's canonical bytes, in \p j's buffer.  \retval 0 or -EINVAL. */
int audit_ckpt_gen(const struct ckpt *c, struct json_gen *j, const char **out, size_t *len);
/** \retval 0 if \p sig is \p pk's signature over the checkpoint \p body. */
int audit_ckpt_sig_ok(const char *body, size_t len, const uint8_t *sig, const uint8_t pk[32]);
/** \retval 0 or -errno. */
int audit_ckpt_sign(const char *body, size_t len, uint8_t sig[64], const uint8_t sk[64]);

/* audit.c */
/** The head kept in meta, read in \p t.  \retval 0, -ENOENT, -EBADMSG or a
 *  store error. */
int audit_head_get(struct audit *a, struct store_txn *t, uint64_t *id, uint8_t hash[HASH_LEN]);
/** The id range worth looking at in snapshot \p t (see audit.c). */
int audit_id_range(struct audit *a, struct store_txn *t, uint64_t *lo, uint64_t *hi);

#endif
