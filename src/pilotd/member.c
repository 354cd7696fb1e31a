/* member.c - see member.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "member.h"
#include "policy.h"
#include "store.h"
#include "util.h"

/* Stored: key = net (BE16); value = rule NUL name NUL. */

static uint32_t hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (uint32_t)k;
}

static struct member_entry *slot(struct member_table *m, uint64_t key)
{
	uint32_t mask = m->cap - 1;
	for (uint32_t i = hash64(key) & mask, n = 0; n < m->cap; n++, i = (i + 1) & mask)
		if (m->e[i].key == 0 || m->e[i].key == key)
			return &m->e[i];
	return NULL;
}

static int grow(struct member_table *m)
{
	struct member_entry *old = m->e;
	uint32_t oldcap = m->cap;

	m->cap = oldcap ? oldcap * 2 : 256;
	m->e = calloc(m->cap, sizeof(*m->e));
	if (!m->e) {
		m->e = old;
		m->cap = oldcap;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*slot(m, old[i].key) = old[i];
	free(old);
	return 0;
}

static int load_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct member_table *m = arg;
	const char *rule = v->mv_data, *name;
	struct member_net *n;

	if (k->mv_size != 2 || v->mv_size < 2 || ((const char *)v->mv_data)[v->mv_size - 1] != '\0')
		return -EBADMSG;
	name = memchr(rule, '\0', v->mv_size);
	if (!name || name + 1 >= rule + v->mv_size || m->nnets >= MEMBER_MAX_NETS)
		return -EBADMSG;
	n = &m->nets[m->nnets++];
	memset(n, 0, sizeof(*n));
	n->id =
	    (uint16_t)(((const uint8_t *)k->mv_data)[0] << 8 | ((const uint8_t *)k->mv_data)[1]);
	snprintf(n->rule, sizeof(n->rule), "%s", rule);
	snprintf(n->name, sizeof(n->name), "%s", name + 1);
	return 0;
}

int member_init(struct member_table *m, struct store *st)
{
	struct store_txn t;
	int rc;

	memset(m, 0, sizeof(*m));
	m->st = st;
	m->db = store_dbi(st, "networks");
	if (m->db < 0)
		return m->db;
	if ((rc = grow(m)) < 0)
		return rc;
	store_txn_begin(st, &t, 1);
	store_iter_prefix(&t, m->db, NULL, 0, load_cb, m);
	rc = t.ret;
	store_txn_abort(&t);
	return rc;
}

void member_free(struct member_table *m)
{
	for (unsigned i = 0; i < m->nnets; i++)
		policy_view_free(m->nets[i].view);
	free(m->e);
	m->e = NULL;
	m->cap = m->count = 0;
}

struct member_net *member_net_find(struct member_table *m, uint16_t net)
{
	for (unsigned i = 0; i < m->nnets; i++)
		if (m->nets[i].id == net)
			return &m->nets[i];
	return NULL;
}

int member_net_add(struct member_table *m, uint16_t net, const char *name, const char *rule)
{
	struct member_net *n = member_net_find(m, net);
	struct store_txn t;
	uint8_t key[2] = {(uint8_t)(net >> 8), (uint8_t)net};
	char val[160];
	int len, rc;

	if (!n && m->nnets >= MEMBER_MAX_NETS)
		return -ENOSPC;
	len = snprintf(val, sizeof(val), "%.15s%c%.63s", rule, '\0', name);
	store_txn_begin(m->st, &t, 0);
	store_put(&t, m->db, key, 2, val, (size_t)len + 1);
	if ((rc = store_txn_commit(&t)) < 0)
		return rc;
	if (!n) {
		n = &m->nets[m->nnets++];
		memset(n, 0, sizeof(*n));
		n->id = net;
	}
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->rule, sizeof(n->rule), "%s", rule);
	return 0;
}

int member_net_remove(struct member_table *m, uint16_t net)
{
	struct member_net *n = member_net_find(m, net);
	struct store_txn t;
	uint8_t key[2] = {(uint8_t)(net >> 8), (uint8_t)net};
	int rc;

	store_txn_begin(m->st, &t, 0);
	store_del(&t, m->db, key, 2);
	if ((rc = store_txn_commit(&t)) < 0)
		return rc;
	member_clear_net(m, net);
	if (n) {
		policy_view_free(n->view);
		*n = m->nets[--m->nnets];
	}
	return 0;
}

void member_add(struct member_table *m, uint16_t net, uint32_t node, const uint8_t pk[32],
		const char *hostname)
{
	uint64_t key = (uint64_t)net << 32 | node;
	struct member_entry *e;

	if (net == 0 || node == 0)
		return;
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return;
	e = slot(m, key);
	if (e->key == 0) {
		m->count++;
		e->not_after = 0;
	}
	e->key = key;
	memcpy(e->ed_pk, pk, 32);
	snprintf(e->hostname, sizeof(e->hostname), "%s", hostname ? hostname : "");
}

static void remove_at(struct member_table *m, struct member_entry *e)
{
	uint32_t mask = m->cap - 1, i = (uint32_t)(e - m->e), j = i;

	if (e->not_after)
		m->expiring--;
	e->key = 0;
	m->count--;
	/* Re-place the rest of the probe cluster. */
	for (j = (i + 1) & mask; m->e[j].key; j = (j + 1) & mask) {
		struct member_entry x = m->e[j];
		m->e[j].key = 0;
		*slot(m, x.key) = x;
	}
}

void member_set_expiry(struct member_table *m, uint16_t net, uint32_t node, uint64_t not_after)
{
	struct member_entry *e = member_find(m, net, node);

	if (!e)
		return;
	m->expiring += (not_after != 0) - (e->not_after != 0);
	e->not_after = not_after;
}

void member_expire(struct member_table *m, uint64_t now_s, member_expired_fn cb, void *arg)
{
	for (uint32_t i = 0; m->expiring && i < m->cap;) {
		struct member_entry *e = &m->e[i];
		if (e->key && e->not_after && e->not_after <= now_s) {
			uint16_t net = (uint16_t)(e->key >> 32);
			uint32_t node = (uint32_t)e->key;
			remove_at(m, e); /* slot i may now hold another entry */
			cb(arg, net, node);
		} else {
			i++;
		}
	}
}

void member_remove(struct member_table *m, uint16_t net, uint32_t node)
{
	struct member_entry *e = member_find(m, net, node);
	if (e)
		remove_at(m, e);
}

void member_clear_net(struct member_table *m, uint16_t net)
{
	for (uint32_t i = 0; i < m->cap;) {
		if (m->e[i].key && (uint16_t)(m->e[i].key >> 32) == net)
			remove_at(m, &m->e[i]); /* slot i may now hold another entry */
		else
			i++;
	}
}

struct member_entry *member_find(struct member_table *m, uint16_t net, uint32_t node)
{
	uint64_t key = (uint64_t)net << 32 | node;
	struct member_entry *e;

	if (net == 0 || !m->cap)
		return NULL;
	e = slot(m, key);
	return e && e->key == key ? e : NULL;
}

uint16_t member_shared(struct member_table *m, uint32_t node)
{
	uint16_t best = 0;
	for (unsigned i = 0; i < m->nnets; i++)
		if (member_find(m, m->nets[i].id, node) && (!best || m->nets[i].id < best))
			best = m->nets[i].id;
	return best;
}

struct member_entry *member_any(struct member_table *m, uint32_t node)
{
	for (unsigned i = 0; i < m->nnets; i++) {
		struct member_entry *e = member_find(m, m->nets[i].id, node);
		if (e)
			return e;
	}
	return NULL;
}

uint32_t member_find_pk(struct member_table *m, const uint8_t pk[32])
{
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->e[i].key && memcmp(m->e[i].ed_pk, pk, 32) == 0)
			return (uint32_t)m->e[i].key;
	return 0;
}

void member_set_pk(struct member_table *m, uint32_t node, const uint8_t pk[32])
{
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->e[i].key && (uint32_t)m->e[i].key == node)
			memcpy(m->e[i].ed_pk, pk, 32);
}
