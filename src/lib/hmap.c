/* hmap.c - see hmap.h. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

#define MIN_CAP 16

struct hmap {
	size_t ksize, vsize, slot; /* slot: 1 (in use) + key + value */
	size_t cap, count, max;	   /* cap: a power of two, at least 2 * count */
	uint8_t *slots;
	uint8_t hkey[crypto_shorthash_KEYBYTES];
};

static uint8_t *slot_at(const struct hmap *m, size_t i)
{
	return m->slots + i * m->slot;
}

static size_t home(const struct hmap *m, const void *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, m->ksize, m->hkey);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (m->cap - 1));
}

struct hmap *hmap_new(size_t ksize, size_t vsize, size_t max)
{
	struct hmap *m;

	if (ksize == 0 || ksize > HMAP_KEY_MAX || vsize > 4096) {
		errno = EINVAL;
		return NULL;
	}
	if (!(m = calloc(1, sizeof(*m))))
		return NULL;
	m->ksize = ksize;
	m->vsize = vsize;
	m->slot = 1 + ksize + vsize;
	m->max = max;
	m->cap = MIN_CAP;
	if (!(m->slots = calloc(m->cap, m->slot))) {
		free(m);
		return NULL;
	}
	crypto_shorthash_keygen(m->hkey);
	return m;
}

void hmap_free(struct hmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

/* The slot holding \p key, or the empty one where it would go. */
static size_t probe(const struct hmap *m, const void *key)
{
	size_t i = home(m, key);

	for (;;) {
		const uint8_t *s = slot_at(m, i);
		if (!s[0] || memcmp(s + 1, key, m->ksize) == 0)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
}

void *hmap_get(const struct hmap *m, const void *key)
{
	uint8_t *s = slot_at(m, probe(m, key));

	return s[0] ? s + 1 + m->ksize : NULL;
}

static int grow(struct hmap *m)
{
	struct hmap old = *m;

	if (m->cap > SIZE_MAX / 2 / m->slot)
		return -ENOMEM;
	m->cap *= 2;
	if (!(m->slots = calloc(m->cap, m->slot))) {
		*m = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++) {
		const uint8_t *s = slot_at(&old, i);
		if (s[0])
			memcpy(slot_at(m, probe(m, s + 1)), s, m->slot);
	}
	free(old.slots);
	return 0;
}

void *hmap_put(struct hmap *m, const void *key, int *is_new)
{
	uint8_t *s = slot_at(m, probe(m, key));
	int rc;

	*is_new = 0;
	if (s[0])
		return s + 1 + m->ksize;
	if (m->max && m->count >= m->max) {
		errno = ENOSPC;
		return NULL;
	}
	if ((m->count + 1) * 2 > m->cap) {
		if ((rc = grow(m)) < 0) {
			errno = -rc;
			return NULL;
		}
		s = slot_at(m, probe(m, key));
	}
	s[0] = 1;
	memcpy(s + 1, key, m->ksize);
	memset(s + 1 + m->ksize, 0, m->vsize);
	m->count++;
	*is_new = 1;
	return s + 1 + m->ksize;
}

/* Is \p h (a home slot) cyclically in (\p gap, \p i]?  Then the entry at
 * \p i may not move back to \p gap. */
static int home_between(size_t gap, size_t h, size_t i)
{
	return gap <= i ? (gap < h && h <= i) : (gap < h || h <= i);
}

int hmap_del(struct hmap *m, const void *key)
{
	size_t gap = probe(m, key), i = gap, mask = m->cap - 1;

	if (!slot_at(m, gap)[0])
		return -ENOENT;
	/* Backward shift: pull later entries of the run into the gap, so no
	 * tombstones build up under churn (nonces come and go all day). */
	for (;;) {
		uint8_t *s;
		i = (i + 1) & mask;
		s = slot_at(m, i);
		if (!s[0])
			break;
		if (home_between(gap, home(m, s + 1), i))
			continue;
		memcpy(slot_at(m, gap), s, m->slot);
		gap = i;
	}
	slot_at(m, gap)[0] = 0;
	m->count--;
	return 0;
}

size_t hmap_count(const struct hmap *m)
{
	return m->count;
}

int hmap_clear(struct hmap *m)
{
	uint8_t *small = calloc(MIN_CAP, m->slot);

	m->count = 0;
	crypto_shorthash_keygen(m->hkey);
	if (!small) {
		memset(m->slots, 0, m->cap * m->slot);
		return -ENOMEM;
	}
	free(m->slots);
	m->slots = small;
	m->cap = MIN_CAP;
	return 0;
}
