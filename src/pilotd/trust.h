/* trust.h - pilotd's trust store: the peers this node consented to trust
 * (it approved them, or it asked and they approved), and the requests it
 * sent and is waiting on.  In memory for O(1) admission, persisted in LMDB
 * (databases "trust" and "asked") so trust survives restarts. */
#ifndef PILOT_TRUST_H
#define PILOT_TRUST_H

#include <stdint.h>

struct store;

struct trust_entry {
	uint32_t node_id;
	uint8_t ed_pk[32];
	char hostname[64];
	uint64_t since; /* Unix ms */
	int used;
};

struct trust_table {
	struct trust_entry *e; /* open addressing by node ID */
	uint32_t cap, count;
	struct store *st;
	int db_trust, db_asked;
};

/** Load from \p st. \retval 0 or -errno. */
int trust_init(struct trust_table *t, struct store *st);
void trust_free(struct trust_table *t);
struct trust_entry *trust_find(struct trust_table *t, uint32_t node_id);
struct trust_entry *trust_find_pk(struct trust_table *t, const uint8_t pk[32]);
/** Add or update, durably. \retval 0 or -errno. */
int trust_add(struct trust_table *t, uint32_t node_id, const uint8_t pk[32], const char *hostname);
/** Remove durably (also any "asked" record). \retval 0, -ENOENT, -errno. */
int trust_remove(struct trust_table *t, uint32_t node_id);
/** We sent a handshake request to \p node_id (durable). */
int trust_mark_asked(struct trust_table *t, uint32_t node_id);
int trust_was_asked(struct trust_table *t, uint32_t node_id);
int trust_clear_asked(struct trust_table *t, uint32_t node_id);

typedef void (*trust_visit_cb)(void *arg, const struct trust_entry *e);
void trust_foreach(struct trust_table *t, trust_visit_cb cb, void *arg);

#endif
