/* expiry.h - when peers' identities end (SPEC section 6, identity
 * expiry): node -> Unix second, from the registry's lookup objects and
 * node.expiry events.  The admission pipeline asks it for every first
 * packet (O(1)); once a second the daemon cuts the flows of identities
 * whose end has come (expiry_due). */
#ifndef PILOT_EXPIRY_H
#define PILOT_EXPIRY_H

#include <stdint.h>

struct expiry_entry {
	uint32_t node; /* 0 = empty */
	uint32_t cut;  /* its flows were cut at the end already */
	uint64_t at_s; /* the identity's end */
};

struct expiry_table {
	struct expiry_entry *e;
	uint32_t cap, count;
};

void expiry_free(struct expiry_table *t);
/** \p node's identity ends at \p at_s (0: never, the entry goes).
 *  \retval 0 or -ENOMEM. */
int expiry_set(struct expiry_table *t, uint32_t node, uint64_t at_s);
/** \retval \p node's end, 0 if none is known. */
uint64_t expiry_get(const struct expiry_table *t, uint32_t node);
/** Has \p node's identity ended at \p now_s? */
int expiry_passed(const struct expiry_table *t, uint32_t node, uint64_t now_s);
typedef void (*expiry_fn)(void *arg, uint32_t node);
/** Call \p cb once for every identity that ended by \p now_s. */
void expiry_due(struct expiry_table *t, uint64_t now_s, expiry_fn cb, void *arg);

#endif
