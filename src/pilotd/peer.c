/* peer.c - see peer.h. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "util.h"

static uint32_t hash32(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352dU;
	v ^= v >> 15;
	v *= 0x846ca68bU;
	v ^= v >> 16;
	return v;
}

int peer_table_init(struct peer_table *pt)
{
	memset(pt, 0, sizeof(*pt));
	pt->cap = 64;
	pt->slots = calloc(pt->cap, sizeof(*pt->slots));
	pt->idx_cap = 256;
	pt->idx = calloc(pt->idx_cap, sizeof(*pt->idx));
	if (!pt->slots || !pt->idx) {
		peer_table_free(pt);
		return -ENOMEM;
	}
	return 0;
}

static void peer_destroy(struct peer *p)
{
	tnl_hs_free(p->hs);
	tnl_keypair_free(p->cur);
	tnl_keypair_free(p->prev);
	tnl_keypair_free(p->next);
	peer_queue_clear(p);
	sodium_memzero(&p->ps, sizeof(p->ps));
	free(p);
}

void peer_table_free(struct peer_table *pt)
{
	for (uint32_t i = 0; pt->slots && i < pt->cap; i++)
		if (pt->slots[i])
			peer_destroy(pt->slots[i]);
	free(pt->slots);
	free(pt->idx);
	memset(pt, 0, sizeof(*pt));
}

struct peer *peer_find(struct peer_table *pt, uint32_t node_id)
{
	uint32_t mask = pt->cap - 1;
	for (uint32_t i = hash32(node_id) & mask, n = 0; n < pt->cap; n++, i = (i + 1) & mask) {
		if (!pt->slots[i])
			return NULL;
		if (pt->slots[i]->node_id == node_id)
			return pt->slots[i];
	}
	return NULL;
}

static int slots_insert(struct peer **slots, uint32_t cap, struct peer *p)
{
	uint32_t mask = cap - 1, i = hash32(p->node_id) & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = p;
	return 0;
}

static int grow_peers(struct peer_table *pt)
{
	uint32_t ncap = pt->cap * 2;
	struct peer **ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < pt->cap; i++)
		if (pt->slots[i])
			slots_insert(ns, ncap, pt->slots[i]);
	free(pt->slots);
	pt->slots = ns;
	pt->cap = ncap;
	return 0;
}

void peer_reset(struct peer_table *pt, struct peer *p)
{
	struct tnl_keypair **kps[] = {&p->cur, &p->prev, &p->next};

	for (size_t i = 0; i < nitems(kps); i++) {
		if (*kps[i]) {
			peer_index_del(pt, (*kps[i])->local_index);
			tnl_keypair_free(*kps[i]);
			*kps[i] = NULL;
		}
	}
	if (p->hs) {
		peer_index_del(pt, p->hs->local_index);
		tnl_hs_free(p->hs);
		p->hs = NULL;
	}
	p->hs_wanted = 0;
	/* have_init_ts stays: the peer's timestamps are wall-clock and keep
	 * rising across its restarts, so a captured old initiation must stay
	 * refused after we drop the sessions. Only a new key clears it. */
	p->path = PATH_NONE; /* the next session finds its own path */
	p->punch_left = 0;
	peer_queue_clear(p);
}

struct peer *peer_get(struct peer_table *pt, const struct tnl_identity *self, uint32_t node_id,
		      const uint8_t ed_pk[32])
{
	struct peer *p = peer_find(pt, node_id);

	if (p) {
		if (memcmp(p->ed_pk, ed_pk, 32) != 0) {
			/* Key rotated: nothing of the old sessions may be used. */
			struct tnl_peer_static ps;
			if (tnl_peer_static_init(&ps, self, ed_pk) < 0)
				return NULL;
			peer_reset(pt, p);
			p->have_init_ts = 0;
			p->ps = ps;
			memcpy(p->ed_pk, ed_pk, 32);
			sodium_memzero(&ps, sizeof(ps));
		}
		return p;
	}
	if ((pt->count + 1) * 4 > pt->cap * 3 && grow_peers(pt) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (tnl_peer_static_init(&p->ps, self, ed_pk) < 0) {
		free(p);
		return NULL;
	}
	p->node_id = node_id;
	memcpy(p->ed_pk, ed_pk, 32);
	p->used = 1;
	slots_insert(pt->slots, pt->cap, p);
	pt->count++;
	return p;
}

void peer_remove(struct peer_table *pt, struct peer *p)
{
	uint32_t mask = pt->cap - 1, i = hash32(p->node_id) & mask, j;

	peer_reset(pt, p);
	while (pt->slots[i] != p)
		i = (i + 1) & mask;
	pt->slots[i] = NULL;
	pt->count--;
	/* Re-insert the rest of the cluster (simple and rare). */
	for (j = (i + 1) & mask; pt->slots[j]; j = (j + 1) & mask) {
		struct peer *q = pt->slots[j];
		pt->slots[j] = NULL;
		slots_insert(pt->slots, pt->cap, q);
	}
	peer_destroy(p);
}

/* ---- index table ---- */

static struct peer_index *idx_slot(struct peer_table *pt, uint32_t index)
{
	uint32_t mask = pt->idx_cap - 1;
	for (uint32_t i = hash32(index) & mask, n = 0; n < pt->idx_cap; n++, i = (i + 1) & mask) {
		if (pt->idx[i].index == 0 || pt->idx[i].index == index)
			return &pt->idx[i];
	}
	return NULL;
}

static int grow_idx(struct peer_table *pt)
{
	struct peer_index *old = pt->idx;
	uint32_t oldcap = pt->idx_cap;

	pt->idx_cap *= 2;
	pt->idx = calloc(pt->idx_cap, sizeof(*pt->idx));
	if (!pt->idx) {
		pt->idx = old;
		pt->idx_cap = oldcap;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < oldcap; i++)
		if (old[i].index)
			*idx_slot(pt, old[i].index) = old[i];
	free(old);
	return 0;
}

uint32_t peer_index_new(struct peer_table *pt, struct peer *p)
{
	uint32_t v;
	struct peer_index *s;

	if ((pt->idx_count + 1) * 2 > pt->idx_cap && grow_idx(pt) < 0)
		return 0;
	/* Random indices: a record's index reveals nothing and cannot be guessed. */
	do {
		v = randombytes_random();
		s = v ? idx_slot(pt, v) : NULL;
	} while (!s || s->index != 0);
	s->index = v;
	s->peer = p;
	pt->idx_count++;
	return v;
}

void peer_index_del(struct peer_table *pt, uint32_t index)
{
	uint32_t mask = pt->idx_cap - 1, i, j;
	struct peer_index *s = idx_slot(pt, index);

	if (!index || !s || s->index != index)
		return;
	i = (uint32_t)(s - pt->idx);
	pt->idx[i].index = 0;
	pt->idx_count--;
	for (j = (i + 1) & mask; pt->idx[j].index; j = (j + 1) & mask) {
		struct peer_index e = pt->idx[j];
		pt->idx[j].index = 0;
		*idx_slot(pt, e.index) = e;
	}
}

struct peer *peer_index_find(struct peer_table *pt, uint32_t index)
{
	struct peer_index *s = index ? idx_slot(pt, index) : NULL;
	return s && s->index == index ? s->peer : NULL;
}

struct tnl_keypair *peer_keypair_by_index(struct peer *p, uint32_t index)
{
	if (p->cur && p->cur->local_index == index)
		return p->cur;
	if (p->next && p->next->local_index == index)
		return p->next;
	if (p->prev && p->prev->local_index == index)
		return p->prev;
	return NULL;
}

static void drop_kp(struct peer_table *pt, struct tnl_keypair **kp)
{
	if (*kp) {
		peer_index_del(pt, (*kp)->local_index);
		tnl_keypair_free(*kp);
		*kp = NULL;
	}
}

void peer_install_keypair(struct peer_table *pt, struct peer *p, struct tnl_keypair *kp)
{
	if (kp->is_initiator) {
		/* Confirmed by the response: it becomes current at once. */
		drop_kp(pt, &p->next);
		drop_kp(pt, &p->prev);
		p->prev = p->cur;
		p->cur = kp;
	} else {
		/* The initiator has not proven it holds the keys yet (its
		 * first record will): keep it aside until then. */
		drop_kp(pt, &p->next);
		p->next = kp;
	}
}

void peer_confirm_keypair(struct peer_table *pt, struct peer *p, struct tnl_keypair *kp)
{
	if (kp != p->next)
		return;
	drop_kp(pt, &p->prev);
	p->prev = p->cur;
	p->cur = p->next;
	p->next = NULL;
}

int peer_expire_keypairs(struct peer_table *pt, struct peer *p, uint64_t now_ms, uint64_t reject_ms)
{
	struct tnl_keypair **kps[] = {&p->cur, &p->prev, &p->next};

	for (size_t i = 0; i < nitems(kps); i++)
		if (*kps[i] && now_ms - (*kps[i])->created_ms > reject_ms)
			drop_kp(pt, kps[i]);
	return p->cur != NULL;
}

/* ---- queue ---- */

int peer_queue_push(struct peer *p, const uint8_t *pkt, size_t len)
{
	unsigned slot;
	uint8_t *copy;

	if (len > PEER_PKT_MAX)
		return -EMSGSIZE;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, pkt, len);
	if (p->qcount == PEER_QUEUE_LEN) {
		/* Full: drop the oldest, as a router queue would. */
		free(p->q[p->qhead]);
		p->qhead = (p->qhead + 1) % PEER_QUEUE_LEN;
		p->qcount--;
	}
	slot = (p->qhead + p->qcount) % PEER_QUEUE_LEN;
	p->q[slot] = copy;
	p->qlen[slot] = (uint16_t)len;
	p->qcount++;
	return 0;
}

size_t peer_queue_pop(struct peer *p, uint8_t **pkt)
{
	size_t len;

	if (p->qcount == 0)
		return 0;
	*pkt = p->q[p->qhead];
	len = p->qlen[p->qhead];
	p->q[p->qhead] = NULL;
	p->qhead = (p->qhead + 1) % PEER_QUEUE_LEN;
	p->qcount--;
	return len;
}

void peer_queue_clear(struct peer *p)
{
	uint8_t *b;
	while (peer_queue_pop(p, &b))
		free(b);
}

void peer_reset_all(struct peer_table *pt, const struct tnl_identity *self)
{
	for (uint32_t i = 0; i < pt->cap; i++) {
		struct peer *p = pt->slots[i];
		if (!p)
			continue;
		peer_reset(pt, p);
		/* precomputed_ss depends on our static key */
		if (tnl_peer_static_init(&p->ps, self, p->ed_pk) < 0)
			sodium_memzero(&p->ps, sizeof(p->ps));
	}
}

void peer_foreach(struct peer_table *pt, peer_visit_cb cb, void *arg)
{
	/* Callbacks must not add or remove peers. */
	for (uint32_t i = 0; i < pt->cap; i++)
		if (pt->slots[i])
			cb(arg, pt->slots[i]);
}

const char *peer_path_name(enum peer_path p)
{
	switch (p) {
	case PATH_DIRECT:
		return "direct";
	case PATH_PUNCHED:
		return "punched";
	case PATH_RELAYED:
		return "relayed";
	default:
		return "none";
	}
}
