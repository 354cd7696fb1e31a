/* flow.c - see flow.h. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"

int flow_table_init(struct flow_table *ft, uint32_t max_flows)
{
	uint32_t cap = 64;

	memset(ft, 0, sizeof(*ft));
	if (max_flows == 0 || max_flows > (1u << 26))
		return -EINVAL;
	/* Keep the load factor at or under 3/4 so probes stay short. */
	while (cap / 4 * 3 < max_flows)
		cap <<= 1;
	ft->slots = calloc(cap, sizeof(*ft->slots));
	if (!ft->slots)
		return -ENOMEM;
	ft->cap = cap;
	ft->limit = max_flows;
	randombytes_buf(ft->hash_key, sizeof(ft->hash_key));
	return 0;
}

void flow_table_free(struct flow_table *ft)
{
	free(ft->slots);
	ft->slots = NULL;
	ft->cap = ft->count = 0;
}

void flow_key_from_pkt(struct flow_key *k, const struct pkt_info *pi, int from_local)
{
	memset(k, 0, sizeof(*k));
	k->proto = pi->proto;
	if (from_local) {
		k->local = pi->src;
		k->remote = pi->dst;
		k->lport = pi->sport;
		k->rport = pi->dport;
	} else {
		k->local = pi->dst;
		k->remote = pi->src;
		k->lport = pi->dport;
		k->rport = pi->sport;
	}
	/* ICMPv6 echo: the identifier is both "ports"; requests and replies
	 * then share a key. */
}

/* SipHash keyed per table: remote peers choose ports and addresses, so an
 * unkeyed hash would let them aim collisions at one bucket. */
static uint32_t flow_hash(const struct flow_table *ft, const struct flow_key *k)
{
	uint8_t out[8];
	crypto_shorthash(out, (const unsigned char *)k, sizeof(*k), ft->hash_key);
	return (uint32_t)out[0] | (uint32_t)out[1] << 8 | (uint32_t)out[2] << 16 |
	       (uint32_t)out[3] << 24;
}

struct flow *flow_lookup(struct flow_table *ft, const struct flow_key *k)
{
	uint32_t mask = ft->cap - 1, i = flow_hash(ft, k) & mask;

	for (uint32_t n = 0; n < ft->cap; n++, i = (i + 1) & mask) {
		struct flow *f = &ft->slots[i];
		if (!f->used)
			return NULL;
		if (memcmp(&f->key, k, sizeof(*k)) == 0)
			return f;
	}
	return NULL;
}

struct flow *flow_insert(struct flow_table *ft, const struct flow_key *k)
{
	uint32_t mask = ft->cap - 1, i = flow_hash(ft, k) & mask;

	if (ft->count >= ft->limit)
		return NULL;
	for (;; i = (i + 1) & mask) {
		struct flow *f = &ft->slots[i];
		if (!f->used) {
			memset(f, 0, sizeof(*f));
			f->key = *k;
			f->used = 1;
			ft->count++;
			return f;
		}
	}
}

void flow_remove(struct flow_table *ft, struct flow *f)
{
	uint32_t mask = ft->cap - 1, i = (uint32_t)(f - ft->slots), j = i;

	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	ft->slots[i].used = 0;
	ft->count--;
	for (;;) {
		uint32_t h;
		j = (j + 1) & mask;
		if (!ft->slots[j].used)
			return;
		h = flow_hash(ft, &ft->slots[j].key) & mask;
		/* Move j back to i if its home h is not in the cyclic range (i, j]. */
		if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) {
			ft->slots[i] = ft->slots[j];
			ft->slots[j].used = 0;
			i = j;
		}
	}
}

void flow_track(struct flow *f, const struct pkt_info *pi, int from_local, uint64_t now_ms)
{
	f->last_ms = now_ms;
	f->packets++;
	f->bytes += pi->len;
	if (pi->kind != PKT_TCP)
		return;
	if (pi->tcp_flags & (PKT_TCP_FIN | PKT_TCP_RST))
		f->tcp_fin = 1;
	if (from_local) {
		uint32_t end = pi->tcp_seq + pi->tcp_payload_len;
		if (!f->have_snd || (int32_t)(end - f->local_snd_nxt) > 0)
			f->local_snd_nxt = end;
		f->have_snd = 1;
		/* What the local side acknowledged is at most what it expects next. */
		if (pi->tcp_flags & PKT_TCP_ACK) {
			if (!f->have_rcv || (int32_t)(pi->tcp_ack - f->local_rcv_nxt) > 0)
				f->local_rcv_nxt = pi->tcp_ack;
			f->have_rcv = 1;
		}
	} else {
		uint32_t end = pi->tcp_seq + pi->tcp_payload_len;
		if (!f->have_rcv || (int32_t)(end - f->local_rcv_nxt) > 0)
			f->local_rcv_nxt = end;
		f->have_rcv = 1;
	}
}

uint64_t flow_timeout_ms(const struct flow *f)
{
	if (f->key.proto == IPPROTO_TCP)
		return f->tcp_fin ? 10000 : 2ull * 3600 * 1000;
	if (f->key.proto == IPPROTO_UDP)
		return 180000;
	return 30000;
}

void flow_foreach(struct flow_table *ft, flow_visit_cb cb, void *arg)
{
	/* After a removal at slot i, backward shift may move a not yet
	 * visited entry into i, so slot i is looked at again.  (At the wrap
	 * an entry already visited can come round a second time; callbacks
	 * are idempotent decisions, so that is harmless.) */
	for (uint32_t i = 0; i < ft->cap; i++) {
		while (ft->slots[i].used) {
			if (!cb(arg, &ft->slots[i]))
				break;
			flow_remove(ft, &ft->slots[i]);
			/* A shifted entry may now sit in slot i: visit it too. */
		}
	}
}
