/* hmap.h - a hash table of fixed-size keys and values, in memory: open
 * addressing with linear probing and backward-shift deletion, keyed
 * SipHash (crypto_shorthash) with a random key, since its keys often come
 * from the network (request nonces) and an unkeyed hash would let a peer
 * aim collisions at one run.  Bounded: a table never holds more than the
 * \p max given at creation. */
#ifndef PILOT_HMAP_H
#define PILOT_HMAP_H

#include <stddef.h>

#define HMAP_KEY_MAX 32

struct hmap;

/** A table of \p ksize-byte keys (1..HMAP_KEY_MAX) and \p vsize-byte
 *  values (0 for a set), at most \p max entries (0: no bound).
 *  \retval NULL (errno set) on bad sizes or no memory. */
struct hmap *hmap_new(size_t ksize, size_t vsize, size_t max);
void hmap_free(struct hmap *m); /* NULL is fine */

/** The value of \p key, or NULL.  Valid until the next put or del. */
void *hmap_get(const struct hmap *m, const void *key);
/** The value of \p key, made (zeroed, *\p is_new = 1) when absent.
 *  \retval NULL (errno ENOSPC: the bound; ENOMEM) when it cannot be made. */
void *hmap_put(struct hmap *m, const void *key, int *is_new);
/** \retval 0, or -ENOENT. */
int hmap_del(struct hmap *m, const void *key);
size_t hmap_count(const struct hmap *m);
/** Empty \p m: its memory shrinks back to the first allocation and its
 *  hash key is made anew (what was aimed at the old one misses now).
 *  \retval 0, or -ENOMEM (\p m is empty all the same, at its old size). */
int hmap_clear(struct hmap *m);

#endif
