/* test_rdv_store.c - the registry's tables (src/rendezvous/rdv_store*.c) on
 * a real LMDB in a temporary directory: every list function walks its
 * table in key order, stops when its callback says 1, fails (stickily)
 * when it says <0, and refuses a key of the wrong shape with -EBADMSG. */
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

/* Each test on a fresh registry store. */
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_node_iter),	T(test_trust_iter), T(test_member_iter),
	    T(test_org_iter),	T(test_net_iter),   T(test_inbox_iter),
	    T(test_event_iter), T(test_prune),	    T(test_bad_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
