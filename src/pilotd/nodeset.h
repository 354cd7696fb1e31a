/* nodeset.h - a persistent set of node IDs (the block list, the revoked
 * nodes): O(1) membership for the admission pipeline, kept in one LMDB
 * sub-database so it survives restarts. */
#ifndef PILOT_NODESET_H
#define PILOT_NODESET_H

#include <stdint.h>

struct store;

struct nodeset {
	uint32_t *ids; /* open addressing; 0 = empty */
	uint32_t cap, count;
	struct store *st;
	int db;
};

/** Load set \p dbname from \p st. \retval 0 or -errno. */
int nodeset_init(struct nodeset *s, struct store *st, const char *dbname);
void nodeset_free(struct nodeset *s);
int nodeset_has(const struct nodeset *s, uint32_t id);
/** Add / remove durably. \retval 0, -EEXIST / -ENOENT, or -errno. */
int nodeset_add(struct nodeset *s, uint32_t id);
int nodeset_del(struct nodeset *s, uint32_t id);
typedef void (*nodeset_cb)(void *arg, uint32_t id, uint64_t since_ms);
/** Visit the members in ID order (read from the store). */
int nodeset_foreach(struct nodeset *s, nodeset_cb cb, void *arg);

#endif
