/* test_rdv_store.c - the registry's tables (src/rendezvous/rdv_store*.c) on
 * a real LMDB in a temporary directory: every list function walks its
 * table in key order, stops when its callback says 1, fails (stickily)
 * when it says <0, and refuses a key of the wrong shape with -EBADMSG.
 * Node records by version, and the ca rule's tables (net_ca, net_certs,
 * cert_exp, crl). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cert.h"
#include "rdv_store.h"

#define MAXSEEN 16

struct env {
	char dir[64];
	struct rdv_db db;
	struct store_txn t;
};

/* What the callbacks saw (seq: a sequence number, time or basis);
 * stop_after > 0 stops after that many, fail_at > 0 fails on that call. */
struct seen {
	uint32_t id[MAXSEEN];
	uint64_t seq[MAXSEEN];
	char text[MAXSEEN][RDV_JUSTIFICATION_MAX + 1];
	size_t n;
	size_t stop_after, fail_at;
};

/* Note one call: an ID, a number and a text, as the callback has them. */
static int note(struct seen *s, uint32_t id, uint64_t num, const char *text, size_t len)
{
	assert_true(s->n < MAXSEEN);
	s->id[s->n] = id;
	s->seq[s->n] = num;
	snprintf(s->text[s->n], sizeof(s->text[0]), "%.*s", (int)len, text ? text : "");
	s->n++;
	if (s->fail_at && s->n == s->fail_at)
		return -EIO;
	if (s->stop_after && s->n == s->stop_after)
		return 1;
	return 0;
}

static int id_cb(void *arg, uint32_t id)
{
	return note(arg, id, 0, NULL, 0);
}

static int pair_cb(void *arg, uint32_t peer, uint16_t basis)
{
	return note(arg, peer, basis, NULL, 0);
}

static int net_cb(void *arg, const struct rdv_network *n)
{
	return note(arg, n->id, 0, n->name, strlen(n->name));
}

static int org_cb(void *arg, const struct rdv_org *o)
{
	return note(arg, o->id, 0, o->name, strlen(o->name));
}

static int inbox_cb(void *arg, const struct rdv_inbox_entry *e)
{
	return note(arg, e->from, e->ms, e->justification, strlen(e->justification));
}

static int event_cb(void *arg, uint64_t seq, const char *line, size_t len)
{
	return note(arg, 0, seq, line, len);
}

static void ids_are(const struct seen *s, size_t n, const uint32_t *want)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s->id[i], want[i]);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/pilot-test-rdv-store.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(rdv_db_open(&e->db, e->dir), 0);
	store_txn_begin(e->db.st, &e->t, 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	if (e->t.txn)
		store_txn_abort(&e->t);
	rdv_db_close(&e->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void put_node(struct env *e, uint32_t id)
{
	struct rdv_node n = {.id = id, .active = 1};

	snprintf(n.hostname, sizeof(n.hostname), "h%u", id);
	rdv_node_put(&e->t, &e->db, &n);
}

static void test_node_iter(void **state)
{
	struct env *e = *state;
	struct seen s = {0}, stop = {.stop_after = 2}, fail = {.fail_at = 2};
	const uint32_t want[] = {1, 2, 300, 70000};

	put_node(e, 300);
	put_node(e, 1);
	put_node(e, 70000);
	put_node(e, 2);
	assert_int_equal(rdv_node_iter(&e->t, &e->db, id_cb, &s), 0);
	ids_are(&s, 4, want);
	assert_int_equal(rdv_node_iter(&e->t, &e->db, id_cb, &stop), 0);
	ids_are(&stop, 2, want);
	/* A failing callback fails the walk and the transaction. */
	assert_int_equal(rdv_node_iter(&e->t, &e->db, id_cb, &fail), -EIO);
	assert_int_equal(fail.n, 2);
	assert_int_equal(store_txn_commit(&e->t), -EIO);
}

static void test_trust_iter(void **state)
{
	struct env *e = *state;
	struct seen s = {0}, b = {0}, two = {0};
	const uint32_t want1[] = {2, 3, 9}, want2[] = {1};

	rdv_trust_put(&e->t, &e->db, 1, 9, 10, 0);
	rdv_trust_put(&e->t, &e->db, 3, 1, 11, 7);
	rdv_trust_put(&e->t, &e->db, 1, 2, 12, 0);
	assert_int_equal(rdv_trust_iter(&e->t, &e->db, 1, id_cb, &s), 0);
	ids_are(&s, 3, want1);
	assert_int_equal(rdv_trust_iter(&e->t, &e->db, 2, id_cb, &two), 0);
	ids_are(&two, 1, want2);
	assert_int_equal(rdv_trust_iter_basis(&e->t, &e->db, 1, pair_cb, &b), 0);
	ids_are(&b, 3, want1);
	assert_int_equal(b.seq[0], 0);
	assert_int_equal(b.seq[1], 7);
	assert_int_equal(b.seq[2], 0);
	rdv_trust_del(&e->t, &e->db, 9, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_trust_iter(&e->t, &e->db, 1, id_cb, &s), 0);
	ids_are(&s, 2, want1);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_member_iter(void **state)
{
	struct env *e = *state;
	struct seen m = {0}, nn = {0}, none = {0};
	const uint32_t members[] = {4, 5, 6}, nets[] = {2, 3, 0x0102};

	rdv_member_put(&e->t, &e->db, 3, 6, 1);
	rdv_member_put(&e->t, &e->db, 3, 4, 1);
	rdv_member_put(&e->t, &e->db, 3, 5, 1);
	rdv_member_put(&e->t, &e->db, 0x0102, 4, 1);
	rdv_member_put(&e->t, &e->db, 2, 4, 1);
	assert_int_equal(rdv_member_iter(&e->t, &e->db, 3, id_cb, &m), 0);
	ids_are(&m, 3, members);
	assert_int_equal(rdv_node_net_iter(&e->t, &e->db, 4, id_cb, &nn), 0);
	ids_are(&nn, 3, nets);
	rdv_member_del(&e->t, &e->db, 3, 4);
	assert_int_equal(rdv_member_iter(&e->t, &e->db, 1, id_cb, &none), 0);
	assert_int_equal(none.n, 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(rdv_member_iter(&e->t, &e->db, 3, id_cb, &m), 0);
	ids_are(&m, 2, members + 1);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_org_iter(void **state)
{
	struct env *e = *state;
	struct seen orgs = {0}, mem = {0}, by_node = {0}, nets = {0};
	const uint32_t want_orgs[] = {1, 2}, want_mem[] = {5, 8}, want_by_node[] = {1, 2},
		       want_nets[] = {4, 9};
	struct rdv_org o = {.id = 2, .created_ms = 1};
	struct rdv_network n = {.rule = RDV_JOIN_OPEN, .org = 1};

	snprintf(o.name, sizeof(o.name), "beta");
	rdv_org_put(&e->t, &e->db, &o);
	o.id = 1;
	snprintf(o.name, sizeof(o.name), "alpha");
	rdv_org_put(&e->t, &e->db, &o);
	rdv_org_member_put(&e->t, &e->db, 1, 8, 1);
	rdv_org_member_put(&e->t, &e->db, 1, 5, 1);
	rdv_org_member_put(&e->t, &e->db, 2, 5, 1);
	n.id = 9;
	snprintf(n.name, sizeof(n.name), "nine");
	rdv_net_put(&e->t, &e->db, &n);
	n.id = 4;
	snprintf(n.name, sizeof(n.name), "four");
	rdv_net_put(&e->t, &e->db, &n);
	assert_int_equal(rdv_org_iter(&e->t, &e->db, org_cb, &orgs), 0);
	ids_are(&orgs, 2, want_orgs);
	assert_string_equal(orgs.text[0], "alpha");
	assert_int_equal(rdv_org_member_iter(&e->t, &e->db, 1, id_cb, &mem), 0);
	ids_are(&mem, 2, want_mem);
	assert_int_equal(rdv_node_org_iter(&e->t, &e->db, 5, id_cb, &by_node), 0);
	ids_are(&by_node, 2, want_by_node);
	assert_int_equal(rdv_org_net_iter(&e->t, &e->db, 1, id_cb, &nets), 0);
	ids_are(&nets, 2, want_nets);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_net_iter(void **state)
{
	struct env *e = *state;
	struct seen s = {0}, stop = {.stop_after = 1};
	const uint32_t want[] = {1, 2, 4};
	struct rdv_network n = {.rule = RDV_JOIN_OPEN};
	uint16_t id;

	assert_int_equal(rdv_net_id_free(&e->t, &e->db, &id), 0);
	assert_int_equal(id, 1);
	for (size_t i = 0; i < 3; i++) {
		n.id = (uint16_t)want[2 - i];
		snprintf(n.name, sizeof(n.name), "net%u", n.id);
		rdv_net_put(&e->t, &e->db, &n);
	}
	assert_int_equal(rdv_net_iter(&e->t, &e->db, net_cb, &s), 0);
	ids_are(&s, 3, want);
	assert_string_equal(s.text[2], "net4");
	assert_int_equal(rdv_net_iter(&e->t, &e->db, net_cb, &stop), 0);
	ids_are(&stop, 1, want);
	/* The lowest gap. */
	assert_int_equal(rdv_net_id_free(&e->t, &e->db, &id), 0);
	assert_int_equal(id, 3);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_inbox_iter(void **state)
{
	struct env *e = *state;
	struct seen s = {0};
	struct rdv_inbox_entry in = {.from = 30, .ms = 5};
	const uint32_t want[] = {2, 30};

	snprintf(in.justification, sizeof(in.justification), "late");
	rdv_inbox_put(&e->t, &e->db, 7, &in);
	in.from = 2;
	in.ms = 6;
	snprintf(in.justification, sizeof(in.justification), "early");
	rdv_inbox_put(&e->t, &e->db, 7, &in);
	rdv_inbox_put(&e->t, &e->db, 8, &in);
	assert_int_equal(rdv_inbox_count(&e->t, &e->db, 7), 2);
	assert_int_equal(rdv_inbox_count(&e->t, &e->db, 9), 0);
	assert_int_equal(rdv_inbox_iter(&e->t, &e->db, 7, inbox_cb, &s), 0);
	ids_are(&s, 2, want);
	assert_string_equal(s.text[0], "early");
	assert_int_equal(s.seq[0], 6);
	assert_string_equal(s.text[1], "late");
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_event_iter(void **state)
{
	struct env *e = *state;
	struct seen s = {0}, after = {0};
	char line[16];

	for (int i = 0; i < 4; i++) {
		uint64_t seq = rdv_event_next_seq(&e->t, &e->db, 3);
		int n = snprintf(line, sizeof(line), "{\"e\":%d}", i);
		rdv_event_put(&e->t, &e->db, 3, seq, line, (size_t)n);
	}
	rdv_event_put(&e->t, &e->db, 4, rdv_event_next_seq(&e->t, &e->db, 4), "x", 1);
	assert_int_equal(rdv_event_last_seq(&e->t, &e->db, 3), 4);
	assert_int_equal(rdv_event_iter(&e->t, &e->db, 3, 0, event_cb, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.seq[0], 1);
	assert_string_equal(s.text[3], "{\"e\":3}");
	assert_int_equal(rdv_event_iter(&e->t, &e->db, 3, 2, event_cb, &after), 0);
	assert_int_equal(after.n, 2);
	assert_int_equal(after.seq[0], 3);
	assert_int_equal(rdv_event_prune(&e->t, &e->db, 3, 3), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_event_iter(&e->t, &e->db, 3, 0, event_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq[0], 4);
	/* The counter outlives the queue. */
	assert_int_equal(rdv_event_next_seq(&e->t, &e->db, 3), 5);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_event_iter(&e->t, &e->db, 4, 0, event_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_prune(void **state)
{
	struct env *e = *state;
	uint8_t nonce[16] = {1}, r[16] = {2};
	uint64_t now = 10 * RDV_NONCE_KEEP_MS;

	rdv_nonce_put(&e->t, &e->db, 1, nonce, 1000);
	nonce[0] = 2;
	rdv_nonce_put(&e->t, &e->db, 1, nonce, now);
	rdv_invite_use(&e->t, &e->db, r, 1, 1, 1, 1000);
	r[0] = 3;
	rdv_invite_use(&e->t, &e->db, r, (now + RDV_INVITE_KEEP_MS) / 1000, 1, 1, 1000);
	assert_int_equal(store_txn_commit(&e->t), 0);
	assert_int_equal(rdv_nonce_prune(&e->db, now), 1);
	assert_int_equal(rdv_nonce_prune(&e->db, now), 0);
	assert_int_equal(rdv_invite_prune(&e->db, now + RDV_INVITE_KEEP_MS), 1);
	store_txn_begin(e->db.st, &e->t, 1);
	assert_false(rdv_nonce_seen(&e->t, &e->db, 1, (uint8_t[16]){1}));
	assert_true(rdv_nonce_seen(&e->t, &e->db, 1, nonce));
	assert_false(rdv_invite_used(&e->t, &e->db, (uint8_t[16]){2}));
	assert_true(rdv_invite_used(&e->t, &e->db, r));
	store_txn_abort(&e->t);
}

/* A key of the wrong length in a table is corruption: the walk stops
 * with -EBADMSG, stickily. */
static void test_bad_key(void **state)
{
	struct env *e = *state;
	struct seen s = {0};
	const uint8_t bad_trust[7] = {0, 0, 0, 1, 0, 0, 2};

	put_node(e, 1);
	store_put(&e->t, e->db.dbi[RDV_DB_NODES], "abc", 3, "", 0);
	assert_int_equal(rdv_node_iter(&e->t, &e->db, id_cb, &s), -EBADMSG);
	assert_int_equal(store_txn_commit(&e->t), -EBADMSG);

	store_txn_begin(e->db.st, &e->t, 0);
	store_put(&e->t, e->db.dbi[RDV_DB_TRUST], bad_trust, sizeof(bad_trust), "", 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_trust_iter(&e->t, &e->db, 1, id_cb, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
	store_txn_abort(&e->t);

	store_txn_begin(e->db.st, &e->t, 0);
	store_put(&e->t, e->db.dbi[RDV_DB_NET_NODES], "\0\1\0", 3, "", 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_member_iter(&e->t, &e->db, 1, id_cb, &s), -EBADMSG);
	store_txn_abort(&e->t);

	store_txn_begin(e->db.st, &e->t, 0);
	store_put(&e->t, e->db.dbi[RDV_DB_ORGS], "\0\0\0\1x", 5, "", 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_org_iter(&e->t, &e->db, org_cb, &s), -EBADMSG);
	store_txn_abort(&e->t);

	/* A record that does not decode fails the same way. */
	store_txn_begin(e->db.st, &e->t, 0);
	store_put(&e->t, e->db.dbi[RDV_DB_NETWORKS], "\0\1", 2, "junk", 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_net_iter(&e->t, &e->db, net_cb, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
	store_txn_abort(&e->t);
}

/* ------------------------------------------------ issue 14: expiry, certs */

static void assert_node_equal(const struct rdv_node *a, const struct rdv_node *b)
{
	assert_int_equal(a->id, b->id);
	assert_memory_equal(a->pk, b->pk, 32);
	assert_int_equal(a->listen_port, b->listen_port);
	assert_int_equal(a->public, b->public);
	assert_int_equal(a->active, b->active);
	assert_int_equal(a->revoked, b->revoked);
	assert_int_equal(a->behind_nat, b->behind_nat);
	assert_true(a->created_ms == b->created_ms);
	assert_true(a->seen_ms == b->seen_ms);
	assert_true(a->expires_ms == b->expires_ms);
	assert_string_equal(a->hostname, b->hostname);
	assert_string_equal(a->endpoint, b->endpoint);
	assert_int_equal(a->ntags, b->ntags);
	for (size_t i = 0; i < a->ntags; i++)
		assert_string_equal(a->tags[i], b->tags[i]);
}

/* Store \p len bytes as node \p id's record, then read it. */
static int raw_node(struct env *e, uint32_t id, const uint8_t *rec, size_t len,
		    struct rdv_node *out)
{
	uint8_t k[4];

	store_be32(k, id);
	store_put(&e->t, e->db.dbi[RDV_DB_NODES], k, sizeof(k), rec, len);
	return rdv_node_get(&e->t, &e->db, id, out);
}

/* Node records: version 3 keeps expires_ms (last, be64); versions 2 (no
 * expiry) and 1 (no tags either) still read; nothing else does. */
static void test_node_versions(void **state)
{
	struct env *e = *state;
	struct rdv_node n = {.id = 7,
			     .listen_port = 4000,
			     .public = 1,
			     .active = 1,
			     .behind_nat = 1,
			     .created_ms = 11,
			     .seen_ms = 12,
			     .expires_ms = 1700000000123ull,
			     .ntags = 2},
			got, want;
	uint8_t k[4], rec[512], bad[520];
	size_t len, tl;
	MDB_val v;

	for (int i = 0; i < 32; i++)
		n.pk[i] = (uint8_t)(i + 1);
	snprintf(n.hostname, sizeof(n.hostname), "alice");
	snprintf(n.endpoint, sizeof(n.endpoint), "198.18.2.1:4000");
	snprintf(n.tags[0], sizeof(n.tags[0]), "db");
	snprintf(n.tags[1], sizeof(n.tags[1]), "web");
	rdv_node_put(&e->t, &e->db, &n);
	assert_int_equal(rdv_node_get(&e->t, &e->db, 7, &got), 0);
	assert_node_equal(&got, &n);
	/* the record as written: version 3, the end last */
	store_be32(k, 7);
	assert_int_equal(store_get(&e->t, e->db.dbi[RDV_DB_NODES], k, sizeof(k), &v), 0);
	len = v.mv_size;
	assert_true(len <= sizeof(rec));
	memcpy(rec, v.mv_data, len);
	assert_int_equal(rec[0], 3);
	assert_true(store_rd_be64(rec + len - 8) == n.expires_ms);
	/* never, and the largest end */
	n.expires_ms = 0;
	rdv_node_put(&e->t, &e->db, &n);
	assert_int_equal(rdv_node_get(&e->t, &e->db, 7, &got), 0);
	assert_true(got.expires_ms == 0);
	n.expires_ms = UINT64_MAX;
	rdv_node_put(&e->t, &e->db, &n);
	assert_int_equal(rdv_node_get(&e->t, &e->db, 7, &got), 0);
	assert_true(got.expires_ms == UINT64_MAX);

	/* version 2: the same without the end, which reads as never */
	want = n;
	want.expires_ms = 0;
	memcpy(bad, rec, len - 8);
	bad[0] = 2;
	assert_int_equal(raw_node(e, 8, bad, len - 8, &got), 0);
	want.id = 8;
	assert_node_equal(&got, &want);
	/* version 1: no tags either */
	tl = 1 + (1 + strlen("db")) + (1 + strlen("web"));
	bad[0] = 1;
	assert_int_equal(raw_node(e, 9, bad, len - 8 - tl, &got), 0);
	want.id = 9;
	want.ntags = 0;
	assert_node_equal(&got, &want);

	/* what no version is: an end cut short or followed by more, an end
	 * under version 2, tags under version 1, unknown versions */
	assert_int_equal(raw_node(e, 10, rec, len - 1, &got), -EBADMSG);
	memcpy(bad, rec, len);
	bad[len] = 0;
	assert_int_equal(raw_node(e, 10, bad, len + 1, &got), -EBADMSG);
	bad[0] = 2;
	assert_int_equal(raw_node(e, 10, bad, len, &got), -EBADMSG);
	bad[0] = 1;
	assert_int_equal(raw_node(e, 10, bad, len - 8, &got), -EBADMSG);
	bad[0] = 3;
	assert_int_equal(raw_node(e, 10, bad, len - 8, &got), -EBADMSG);
	bad[0] = 4;
	assert_int_equal(raw_node(e, 10, bad, len, &got), -EBADMSG);
	assert_int_equal(raw_node(e, 10, bad, len - 8, &got), -EBADMSG);
	bad[0] = 0;
	assert_int_equal(raw_node(e, 10, bad, len, &got), -EBADMSG);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

/* A certificate as the store keeps it (signed by a throw-away key: the
 * store checks the format, not the CA). */
static void mk_cert(struct cert *c, uint64_t not_after, const char *tag)
{
	uint8_t pk[32], sk[64];

	crypto_sign_keypair(pk, sk);
	memset(c, 0, sizeof(*c));
	c->kind = CERT_KIND_NODE;
	randombytes_buf(c->serial, sizeof(c->serial));
	c->not_before = 1;
	c->not_after = not_after;
	memcpy(c->public_key, pk, 32);
	randombytes_buf(c->issuer, sizeof(c->issuer));
	if (tag) {
		snprintf(c->tags[0], sizeof(c->tags[0]), "%s", tag);
		c->ntags = 1;
	}
	assert_int_equal(cert_sign(c, sk), 0);
}

static int exp_cb(void *arg, uint16_t net, uint32_t node)
{
	return note(arg, node, net, NULL, 0);
}

/* The (net, node) pairs an expiry walk at \p now_s saw, as net<<32|node. */
static size_t expired(struct env *e, uint64_t now_s, size_t max, uint64_t *out)
{
	struct seen s = {0};

	assert_int_equal(rdv_cert_expired_iter(&e->t, &e->db, now_s, max, exp_cb, &s), 0);
	for (size_t i = 0; i < s.n; i++)
		out[i] = s.seq[i] << 32 | s.id[i];
	return s.n;
}

#define PAIR(net, node) ((uint64_t)(net) << 32 | (node))

/* net_ca, net_certs and the cert_exp index: round trips, expiry order,
 * replacement and deletion keep the index in step, certificate tags. */
static void test_cert_tables(void **state)
{
	struct env *e = *state;
	struct cert ca, c10, c11, c12, c4, c11b, got;
	struct rdv_node n = {.id = 10, .ntags = 1};
	struct seen stop = {.stop_after = 1}, fail = {.fail_at = 1};
	uint64_t p[MAXSEEN];
	uint8_t val[16] = {1}, pk[32], sk[64];

	mk_cert(&ca, 10000, NULL);
	crypto_sign_keypair(pk, sk);
	ca.kind = CERT_KIND_CA;
	memcpy(ca.public_key, pk, 32);
	cert_key_id(pk, ca.issuer);
	snprintf(ca.name, sizeof(ca.name), "CA");
	assert_int_equal(cert_sign(&ca, sk), 0);
	rdv_net_ca_put(&e->t, &e->db, 3, &ca);
	assert_int_equal(rdv_net_ca_get(&e->t, &e->db, 3, &got), 0);
	assert_memory_equal(got.fingerprint, ca.fingerprint, CERT_FP_LEN);
	assert_string_equal(got.name, "CA");
	assert_int_equal(rdv_net_ca_get(&e->t, &e->db, 4, &got), -ENOENT);

	mk_cert(&c10, 500, "web");
	mk_cert(&c11, 100, NULL);
	mk_cert(&c12, 100, "db");
	mk_cert(&c4, 300, NULL);
	rdv_net_cert_put(&e->t, &e->db, 3, 10, &c10);
	rdv_net_cert_put(&e->t, &e->db, 3, 12, &c12);
	rdv_net_cert_put(&e->t, &e->db, 3, 11, &c11);
	rdv_net_cert_put(&e->t, &e->db, 4, 10, &c4);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 3, 10, &got), 0);
	assert_memory_equal(got.fingerprint, c10.fingerprint, CERT_FP_LEN);
	assert_int_equal(got.ntags, 1);
	assert_string_equal(got.tags[0], "web");
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 4, 10, &got), 0);
	assert_memory_equal(got.fingerprint, c4.fingerprint, CERT_FP_LEN);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 3, 99, &got), -ENOENT);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 5, 10, &got), -ENOENT);

	/* expiry order, up to and with now; at most max */
	assert_int_equal(expired(e, 99, 100, p), 0);
	assert_int_equal(expired(e, 100, 100, p), 2);
	assert_true(p[0] == PAIR(3, 11) && p[1] == PAIR(3, 12));
	assert_int_equal(expired(e, 499, 100, p), 3);
	assert_true(p[2] == PAIR(4, 10));
	assert_int_equal(expired(e, 500, 100, p), 4);
	assert_true(p[3] == PAIR(3, 10));
	assert_int_equal(expired(e, UINT64_MAX, 2, p), 2);
	assert_true(p[0] == PAIR(3, 11) && p[1] == PAIR(3, 12));
	assert_int_equal(rdv_cert_expired_iter(&e->t, &e->db, 500, 100, exp_cb, &stop), 0);
	assert_int_equal(stop.n, 1);

	/* a new certificate moves the entry; deleting takes it away */
	mk_cert(&c11b, 1000, NULL);
	rdv_net_cert_put(&e->t, &e->db, 3, 11, &c11b);
	assert_int_equal(expired(e, 100, 100, p), 1);
	assert_true(p[0] == PAIR(3, 12));
	assert_int_equal(expired(e, 1000, 100, p), 4);
	assert_true(p[3] == PAIR(3, 11));
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 3, 11, &got), 0);
	assert_memory_equal(got.fingerprint, c11b.fingerprint, CERT_FP_LEN);
	rdv_net_cert_del(&e->t, &e->db, 3, 12);
	rdv_net_cert_del(&e->t, &e->db, 3, 77); /* none: nothing happens */
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 3, 12, &got), -ENOENT);
	assert_int_equal(expired(e, 100, 100, p), 0);
	assert_int_equal(expired(e, 1000, 100, p), 3);

	/* a member's tags in a network: its certificate's, if it has one */
	snprintf(n.tags[0], sizeof(n.tags[0]), "own");
	rdv_member_tags(&e->t, &e->db, 3, &n);
	assert_int_equal(n.ntags, 1);
	assert_string_equal(n.tags[0], "web");
	snprintf(n.tags[0], sizeof(n.tags[0]), "own");
	rdv_net_cert_put(&e->t, &e->db, 0, 10, &c10); /* (a stray one, not read) */
	rdv_member_tags(&e->t, &e->db, 0, &n);	      /* the backbone: its own */
	assert_string_equal(n.tags[0], "own");
	rdv_net_cert_del(&e->t, &e->db, 0, 10);
	rdv_member_tags(&e->t, &e->db, 5, &n); /* no certificate: its own */
	assert_string_equal(n.tags[0], "own");
	rdv_member_tags(&e->t, &e->db, 4, &n); /* a certificate without tags */
	assert_int_equal(n.ntags, 0);

	/* dropping network 3: its CA, certificates, index entries and list;
	 * network 4's stay */
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_SERIAL, val, sizeof(val), 1);
	rdv_crl_put(&e->t, &e->db, 4, RDV_CRL_SERIAL, val, sizeof(val), 1);
	rdv_net_ca_put(&e->t, &e->db, 4, &ca);
	rdv_net_certs_drop(&e->t, &e->db, 3);
	assert_int_equal(rdv_net_ca_get(&e->t, &e->db, 3, &got), -ENOENT);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 3, 10, &got), -ENOENT);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 3, 11, &got), -ENOENT);
	assert_int_equal(expired(e, UINT64_MAX, 100, p), 1);
	assert_true(p[0] == PAIR(4, 10));
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_SERIAL, val, sizeof(val)));
	assert_true(rdv_crl_has(&e->t, &e->db, 4, RDV_CRL_SERIAL, val, sizeof(val)));
	assert_int_equal(rdv_net_ca_get(&e->t, &e->db, 4, &got), 0);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 4, 10, &got), 0);
	assert_int_equal(store_txn_commit(&e->t), 0);

	/* a record that does not decode is corruption */
	store_txn_begin(e->db.st, &e->t, 0);
	store_put(&e->t, e->db.dbi[RDV_DB_NET_CERTS], "\0\5\0\0\0\1", 6, "junk", 4);
	assert_int_equal(rdv_net_cert_get(&e->t, &e->db, 5, 1, &got), -EBADMSG);
	/* a failing callback fails the walk and the transaction */
	assert_int_equal(rdv_cert_expired_iter(&e->t, &e->db, UINT64_MAX, 100, exp_cb, &fail),
			 -EIO);
	assert_int_equal(store_txn_commit(&e->t), -EIO);
}

static int crl_note(void *arg, uint8_t kind, const uint8_t *val, size_t len, uint64_t ms)
{
	struct seen *s = arg;

	/* id: the kind; seq: the time; text: the value's first byte, length */
	char t[16];
	snprintf(t, sizeof(t), "%02x/%zu", val[0], len);
	return note(s, kind, ms, t, strlen(t));
}

/* Revocation lists: one entry per (network, kind, value), the value's
 * length by its kind, walked in kind order. */
static void test_crl(void **state)
{
	struct env *e = *state;
	struct seen s = {0}, four = {0};
	uint8_t serial[16], fp[32], key[32], node[4] = {0, 0, 0, 9}, val[33] = {0};
	const uint32_t kinds[] = {RDV_CRL_SERIAL, RDV_CRL_FINGERPRINT, RDV_CRL_KEY, RDV_CRL_NODE};

	memset(serial, 0xa1, sizeof(serial));
	memset(fp, 0xb2, sizeof(fp));
	memset(key, 0xc3, sizeof(key));
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_NODE, node, sizeof(node), 40);
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_KEY, key, sizeof(key), 30);
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_SERIAL, serial, sizeof(serial), 10);
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_FINGERPRINT, fp, sizeof(fp), 20);
	rdv_crl_put(&e->t, &e->db, 4, RDV_CRL_SERIAL, serial, sizeof(serial), 50);
	assert_true(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_SERIAL, serial, sizeof(serial)));
	assert_true(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_FINGERPRINT, fp, sizeof(fp)));
	assert_true(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_KEY, key, sizeof(key)));
	assert_true(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_NODE, node, sizeof(node)));
	/* another network, kind or value is not listed */
	assert_false(rdv_crl_has(&e->t, &e->db, 5, RDV_CRL_SERIAL, serial, sizeof(serial)));
	assert_false(rdv_crl_has(&e->t, &e->db, 4, RDV_CRL_KEY, key, sizeof(key)));
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_KEY, fp, sizeof(fp)));
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_FINGERPRINT, key, sizeof(key)));
	node[3] = 8;
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_NODE, node, sizeof(node)));
	key[31] ^= 1;
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_KEY, key, sizeof(key)));
	key[31] ^= 1;
	/* no value, or longer than any: never listed */
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_SERIAL, serial, 0));
	assert_false(rdv_crl_has(&e->t, &e->db, 3, RDV_CRL_KEY, val, sizeof(val)));

	/* the walk: network 3's four, in kind order, lengths by kind */
	assert_int_equal(rdv_crl_iter(&e->t, &e->db, 3, crl_note, &s), 0);
	ids_are(&s, 4, kinds);
	assert_int_equal(s.seq[0], 10);
	assert_string_equal(s.text[0], "a1/16");
	assert_int_equal(s.seq[1], 20);
	assert_string_equal(s.text[1], "b2/32");
	assert_int_equal(s.seq[2], 30);
	assert_string_equal(s.text[2], "c3/32");
	assert_int_equal(s.seq[3], 40);
	assert_string_equal(s.text[3], "00/4");
	/* listing again is one entry, with the new time */
	rdv_crl_put(&e->t, &e->db, 4, RDV_CRL_SERIAL, serial, sizeof(serial), 60);
	assert_int_equal(rdv_crl_iter(&e->t, &e->db, 4, crl_note, &four), 0);
	assert_int_equal(four.n, 1);
	assert_int_equal(four.seq[0], 60);
	assert_int_equal(store_txn_commit(&e->t), 0);

	/* a corrupt entry (a time not 8 bytes, a kind unknown) fails the walk */
	store_txn_begin(e->db.st, &e->t, 0);
	memset(val, 0, sizeof(val));
	val[1] = 6;
	val[2] = RDV_CRL_SERIAL;
	store_put(&e->t, e->db.dbi[RDV_DB_CRL], val, 35, "1234", 4);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_crl_iter(&e->t, &e->db, 6, crl_note, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
	store_txn_abort(&e->t);
	store_txn_begin(e->db.st, &e->t, 0);
	val[2] = 9;
	store_put(&e->t, e->db.dbi[RDV_DB_CRL], val, 35, "12345678", 8);
	memset(&s, 0, sizeof(s));
	assert_int_equal(rdv_crl_iter(&e->t, &e->db, 6, crl_note, &s), -EBADMSG);
	store_txn_abort(&e->t);

	/* an entry of no length, or too long, fails the transaction */
	store_txn_begin(e->db.st, &e->t, 0);
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_KEY, val, sizeof(val), 1);
	assert_int_equal(store_txn_commit(&e->t), -EINVAL);
	store_txn_begin(e->db.st, &e->t, 0);
	rdv_crl_put(&e->t, &e->db, 3, RDV_CRL_KEY, val, 0, 1);
	assert_int_equal(store_txn_commit(&e->t), -EINVAL);
}

static int pair_note(void *arg, uint16_t net, uint32_t node)
{
	struct seen *s = arg;

	assert_true(s->n < MAXSEEN);
	s->seq[s->n] = net;
	s->id[s->n++] = node;
	return 0;
}

static size_t expired_at(struct env *e, uint64_t now_s, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(rdv_cert_expired_iter(&e->t, &e->db, now_s, 100, pair_note, s), 0);
	return s->n;
}

static void mk_ext(struct rdv_ext *x, const char *sub, uint64_t exp)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->iss, sizeof(x->iss), "https://idp.example.com");
	snprintf(x->sub, sizeof(x->sub), "%s", sub);
	x->exp_s = exp;
}

/* Member records of oidc and spiffe networks, with their expiry index
 * entry (cert_exp) and their subject's binding (ext_subj). */
static void test_ext_tables(void **state)
{
	struct env *e = *state;
	struct rdv_ext x, y, got;
	struct seen s;
	uint8_t k[6] = {0, 3, 0, 0, 0, 11}, rec[300];
	uint32_t node;

	mk_ext(&x, "alice", 500);
	x.nclaims = 2;
	snprintf(x.claims[0], sizeof(x.claims[0]), "groups=ops");
	memset(x.claims[1], 'c', RDV_EXT_CLAIM_MAX);
	x.claims[1][RDV_EXT_CLAIM_MAX] = '\0';
	memset(x.sub, 's', RDV_EXT_STR_MAX);
	x.sub[RDV_EXT_STR_MAX] = '\0';
	rdv_net_ext_put(&e->t, &e->db, 3, 10, &x);
	assert_int_equal(rdv_net_ext_get(&e->t, &e->db, 3, 10, &got), 0);
	assert_string_equal(got.iss, x.iss);
	assert_string_equal(got.sub, x.sub);
	assert_int_equal(got.exp_s, 500);
	assert_int_equal(got.nclaims, 2);
	assert_string_equal(got.claims[0], "groups=ops");
	assert_string_equal(got.claims[1], x.claims[1]);
	assert_int_equal(rdv_net_ext_get(&e->t, &e->db, 3, 11, &got), -ENOENT);
	assert_int_equal(rdv_net_ext_get(&e->t, &e->db, 4, 10, &got), -ENOENT);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 3, x.iss, x.sub, &node), 0);
	assert_int_equal(node, 10);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 4, x.iss, x.sub, &node), -ENOENT);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 3, "https://other", x.sub, &node),
			 -ENOENT);
	/* the expiry index: due at exp, not before */
	assert_int_equal(expired_at(e, 499, &s), 0);
	assert_int_equal(expired_at(e, 500, &s), 1);
	assert_int_equal(s.seq[0], 3);
	assert_int_equal(s.id[0], 10);
	/* a new record replaces the old one's index entry */
	x.exp_s = 900;
	rdv_net_ext_put(&e->t, &e->db, 3, 10, &x);
	assert_int_equal(expired_at(e, 899, &s), 0);
	assert_int_equal(expired_at(e, 900, &s), 1);

	/* the binding goes with the record only while it names the node */
	mk_ext(&y, x.sub, 700);
	rdv_net_ext_put(&e->t, &e->db, 3, 12, &y); /* a shared subject: the latest holds it */
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 3, x.iss, x.sub, &node), 0);
	assert_int_equal(node, 12);
	rdv_net_ext_del(&e->t, &e->db, 3, 10);
	assert_int_equal(rdv_net_ext_get(&e->t, &e->db, 3, 10, &got), -ENOENT);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 3, x.iss, x.sub, &node), 0);
	assert_int_equal(node, 12);
	assert_int_equal(expired_at(e, 1000, &s), 1);
	assert_int_equal(s.seq[0], 3);
	assert_int_equal(s.id[0], 12);
	rdv_net_ext_del(&e->t, &e->db, 3, 12);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 3, x.iss, x.sub, &node), -ENOENT);
	assert_int_equal(expired_at(e, 1000, &s), 0);
	rdv_net_ext_del(&e->t, &e->db, 3, 12); /* none: nothing */
	/* (iss, sub) is one key: not iss "a" + sub "bc" = "ab" + "c" */
	mk_ext(&y, "bc", 700);
	snprintf(y.iss, sizeof(y.iss), "a");
	rdv_net_ext_put(&e->t, &e->db, 6, 1, &y);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 6, "a", "bc", &node), 0);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 6, "ab", "c", &node), -ENOENT);
	rdv_net_ext_del(&e->t, &e->db, 6, 1);

	/* a corrupt record is refused: version, lengths, trailing bytes */
	{
		static const struct {
			size_t len;
			uint8_t b[24];
		} bad[] = {
		    {0, {0}},
		    {8, {1}},
		    {14, {2, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'a', 1, 'b', 0}},
		    {13, {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'a', 1, 'b'}},
		    {14, {1, 0, 0, 0, 0, 0, 0, 1, 0, 5, 'a', 1, 'b', 0}},
		    {15, {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'a', 1, 'b', 0, 0}},
		    {15, {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'a', 1, 'b', 1, 3}},
		    {14, {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'a', 1, 'b', 17}},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memcpy(rec, bad[i].b, bad[i].len);
			store_put(&e->t, e->db.dbi[RDV_DB_NET_EXT], k, sizeof(k), rec, bad[i].len);
			if (rdv_net_ext_get(&e->t, &e->db, 3, 11, &got) != -EBADMSG)
				fail_msg("case %zu taken", i);
		}
		/* and the good form of the same */
		memcpy(rec,
		       (uint8_t[]){1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 'a', 1, 'b', 1, 3, 'x', '=', 'y'},
		       18);
		store_put(&e->t, e->db.dbi[RDV_DB_NET_EXT], k, sizeof(k), rec, 18);
		assert_int_equal(rdv_net_ext_get(&e->t, &e->db, 3, 11, &got), 0);
		assert_int_equal(got.exp_s, 256);
		assert_string_equal(got.iss, "a");
		assert_string_equal(got.sub, "b");
		assert_string_equal(got.claims[0], "x=y");
	}
	/* a network's drop takes its records, bindings and settings */
	rdv_net_idp_put(&e->t, &e->db, 5, "{}", 2);
	mk_ext(&x, "bob", 300);
	rdv_net_ext_put(&e->t, &e->db, 5, 1, &x);
	rdv_net_ext_drop(&e->t, &e->db, 5);
	assert_int_equal(rdv_net_ext_get(&e->t, &e->db, 5, 1, &got), -ENOENT);
	assert_int_equal(rdv_ext_subject_node(&e->t, &e->db, 5, x.iss, x.sub, &node), -ENOENT);
	assert_int_equal(expired_at(e, 300, &s), 0);
	assert_int_equal(store_txn_commit(&e->t), 0);
}

static void test_jti(void **state)
{
	struct env *e = *state;
	const char *iss = "https://idp.example.com";
	uint32_t node = 0;

	rdv_jti_put(&e->t, &e->db, iss, "j1", 1000, 7);
	rdv_jti_put(&e->t, &e->db, iss, "j2", 5000, 8);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, iss, "j1", 999, &node), 0);
	assert_int_equal(node, 7);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, iss, "j1", 1000, &node), 0);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, iss, "j1", 1001, &node), -ENOENT);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, "https://other", "j1", 999, &node), -ENOENT);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, iss, "j3", 999, &node), -ENOENT);
	/* (iss, jti) is one key: not iss "a" + jti "bc" = "ab" + "c" */
	rdv_jti_put(&e->t, &e->db, "a", "bc", 1000, 9);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, "ab", "c", 0, &node), -ENOENT);
	assert_int_equal(store_txn_commit(&e->t), 0);

	/* kept a minute past exp */
	assert_int_equal(rdv_jti_prune(&e->db, 1060 * 1000ull), 0);
	assert_int_equal(rdv_jti_prune(&e->db, 1061 * 1000ull), 2);
	assert_int_equal(rdv_jti_prune(&e->db, 1061 * 1000ull), 0);
	store_txn_begin(e->db.st, &e->t, 1);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, iss, "j1", 0, &node), -ENOENT);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, "a", "bc", 0, &node), -ENOENT);
	assert_int_equal(rdv_jti_node(&e->t, &e->db, iss, "j2", 0, &node), 0);
	assert_int_equal(node, 8);
	store_txn_abort(&e->t);
	assert_int_equal(rdv_jti_prune(&e->db, 0), 0);
}

/* Each test on a fresh registry store. */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_node_iter),	T(test_trust_iter),    T(test_member_iter), T(test_org_iter),
	    T(test_net_iter),	T(test_inbox_iter),    T(test_event_iter),  T(test_prune),
	    T(test_bad_key),	T(test_node_versions), T(test_cert_tables), T(test_crl),
	    T(test_ext_tables), T(test_jti),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
