/* test_audit.c - the hash-chained audit log: append/query, verification
 * against edits, deletions and forged checkpoints, aborts, pruning, and
 * kill -9 in the middle of bursts. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "json.h"
#include "store.h"
#include "util.h"

static const char *const dbs[] = {"meta", "audit", "audit_meta", NULL};

struct env {
	char *dir;
	struct store *st;
	struct audit *a;
	uint8_t pk[32], sk[64];
};

static void rm_rf(const char *d)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static void env_open(struct env *e)
{
	e->st = store_open(e->dir, dbs, 64 << 20);
	assert_non_null(e->st);
	assert_int_equal(audit_open(e->st, "audit", "audit_meta", &e->a), 0);
}

static void env_close(struct env *e)
{
	audit_close(e->a);
	store_close(e->st);
	e->a = NULL;
	e->st = NULL;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	e->dir = strdup("/tmp/pilot-test-audit.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_true(sodium_init() >= 0);
	crypto_sign_keypair(e->pk, e->sk);
	env_open(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	env_close(e);
	rm_rf(e->dir);
	free(e->dir);
	free(e);
	return 0;
}

static void append_n(struct env *e, int n)
{
	for (int i = 0; i < n; i++) {
		char det[64];
		uint64_t id;
		snprintf(det, sizeof(det), "{\"i\":%d,\"why\":\"test\"}", i);
		assert_int_equal(audit_append(e->a, i % 3 ? "trust.added" : "flow.denied", "node:1",
					      i % 2 ? "node:42" : "node:7", det, &id),
				 0);
	}
}

struct collect {
	uint64_t ids[4096];
	char *recs[4096];
	size_t n;
};

static int collect_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct collect *c = arg;
	assert_true(c->n < 4096);
	c->ids[c->n] = id;
	c->recs[c->n] = strndup(rec, len);
	c->n++;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->recs[i]);
	c->n = 0;
}

static size_t query_n(struct env *e, const struct audit_filter *f, struct collect *c)
{
	collect_free(c);
	assert_int_equal(audit_query(e->a, f, collect_cb, c), 0);
	return c->n;
}

static void verify_expect(struct env *e, int ok, uint64_t bad_id)
{
	struct audit_verify_result r;
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	if (r.ok != ok || (!ok && r.bad_id != bad_id))
		fail_msg("verify: ok=%d bad_id=%" PRIu64 " reason=%s (wanted ok=%d bad_id=%" PRIu64
			 ")",
			 r.ok, r.bad_id, r.reason, ok, bad_id);
}

/* Edit the store directly, as an attacker with the file would. */
static void raw_edit(struct env *e, void (*fn)(struct store *st, void *arg), void *arg)
{
	env_close(e);
	struct store *st = store_open(e->dir, dbs, 64 << 20);
	assert_non_null(st);
	fn(st, arg);
	store_close(st);
	env_open(e);
}

struct rec_edit {
	uint64_t id;
	const char *from, *to; /* replace first occurrence; to NULL: delete */
};

static void do_rec_edit(struct store *st, void *arg)
{
	struct rec_edit *re = arg;
	struct store_txn t;
	uint8_t key[8];
	MDB_val v;
	int db = store_dbi(st, "audit");
	char buf[4096];

	store_be64(key, re->id);
	store_txn_begin(st, &t, 0);
	if (!re->to) {
		store_del(&t, db, key, 8);
	} else {
		assert_int_equal(store_get(&t, db, key, 8, &v), 0);
		assert_true(v.mv_size < sizeof(buf) - 64);
		memcpy(buf, v.mv_data, v.mv_size);
		buf[v.mv_size] = '\0';
		char *p = strstr(buf, re->from);
		assert_non_null(p);
		char out[4096];
		snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - buf), buf, re->to,
			 p + strlen(re->from));
		store_put(&t, db, key, 8, out, strlen(out));
	}
	assert_int_equal(store_txn_commit(&t), 0);
}

static void test_append_query(void **state)
{
	struct env *e = *state;
	struct audit_filter f;
	struct collect c = {0};
	struct store_txn t;
	uint64_t id;

	append_n(e, 20);
	assert_int_equal(audit_last_id(e->a, NULL), 20);
	assert_int_equal(query_n(e, NULL, &c), 20);
	for (size_t i = 0; i < c.n; i++) {
		struct audit_rec r;
		assert_int_equal(c.ids[i], i + 1);
		assert_int_equal(audit_rec_parse(c.recs[i], strlen(c.recs[i]), &r), 0);
		assert_int_equal(r.event_id, i + 1);
		assert_string_equal(r.actor, "node:1");
		audit_rec_free(&r);
	}
	/* type: exact and by area */
	f = (struct audit_filter){.type = "flow.denied"};
	assert_int_equal(query_n(e, &f, &c), 7); /* i = 0,3,...,18 */
	f.type = "trust.*";
	assert_int_equal(query_n(e, &f, &c), 13);
	f.type = "trust.";
	assert_int_equal(query_n(e, &f, &c), 13);
	f.type = "trust";
	assert_int_equal(query_n(e, &f, &c), 0);
	/* node: substring and exact */
	f = (struct audit_filter){.node = "node:4"};
	assert_int_equal(query_n(e, &f, &c), 10);
	f.node = "node:";
	assert_int_equal(query_n(e, &f, &c), 20);
	f.node_exact = 1;
	assert_int_equal(query_n(e, &f, &c), 0);
	f.node = "node:7";
	assert_int_equal(query_n(e, &f, &c), 10);
	/* since, limit, newest */
	f = (struct audit_filter){.since_id = 15};
	assert_int_equal(query_n(e, &f, &c), 6);
	assert_int_equal(c.ids[0], 15);
	f = (struct audit_filter){.since_ms = now_real_ms() + 60000};
	assert_int_equal(query_n(e, &f, &c), 0);
	f = (struct audit_filter){.since_ms = now_real_ms() - 60000, .limit = 5};
	assert_int_equal(query_n(e, &f, &c), 5);
	assert_int_equal(c.ids[4], 5);
	f = (struct audit_filter){.since_id = 21, .limit = 1000000000, .newest = 1};
	assert_int_equal(query_n(e, &f, &c), 0);
	f = (struct audit_filter){.since_id = 19, .limit = 1000000000, .newest = 1};
	assert_int_equal(query_n(e, &f, &c), 2);
	f = (struct audit_filter){.limit = 3, .newest = 1, .type = "flow.denied"};
	assert_int_equal(query_n(e, &f, &c), 3);
	assert_int_equal(c.ids[0], 13);
	assert_int_equal(c.ids[2], 19);

	/* Details are re-emitted on one line; actor sanitised. */
	assert_int_equal(audit_append(e->a, "policy.changed", "ad\xff\xc0\x80min", "net:1",
				      "{\n  \"rules\" : [1, 2.5, \"x\\ny\"],\n  \"ok\": true }",
				      &id),
			 0);
	f = (struct audit_filter){.since_id = id};
	assert_int_equal(query_n(e, &f, &c), 1);
	assert_null(strchr(c.recs[0], '\n'));
	assert_non_null(strstr(c.recs[0], "\"details\":{\"rules\":[1,2.5,\"x\\ny\"],\"ok\":true}"));
	assert_non_null(strstr(c.recs[0], "\"actor\":\"ad???min\""));

	/* Refused input fails the caller's transaction (sticky). */
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(audit_append_txn(e->a, &t, "NoDot", NULL, NULL, NULL, &id), -EINVAL);
	assert_int_equal(store_txn_commit(&t), -EINVAL);
	audit_txn_aborted(e->a);
	assert_int_equal(audit_append(e->a, "a.b", NULL, NULL, "[1]", &id), -EINVAL);
	assert_int_equal(audit_append(e->a, "a.b", NULL, NULL, "{\"x\":", &id), -EINVAL);
	assert_int_equal(audit_append(e->a, "a..b", NULL, NULL, NULL, &id), -EINVAL);
	/* Oversized details: the record stays, marked. */
	{
		char *big = malloc(AUDIT_DETAILS_MAX + 64);
		assert_non_null(big);
		memset(big, 'x', AUDIT_DETAILS_MAX + 63);
		memcpy(big, "{\"s\":\"", 6);
		memcpy(big + AUDIT_DETAILS_MAX + 61, "\"}", 3);
		assert_int_equal(audit_append(e->a, "handshake.received", "peer", "self", big, &id),
				 0);
		free(big);
		f = (struct audit_filter){.since_id = id};
		assert_int_equal(query_n(e, &f, &c), 1);
		assert_non_null(strstr(c.recs[0], "\"details\":{\"details_truncated\":8255}"));
	}
	assert_int_equal(audit_append(e->a, "a.b", NULL, NULL, NULL, &id), 0);
	assert_int_equal(id, 23);
	verify_expect(e, 1, 0);
	collect_free(&c);
}

static void test_verify_and_reopen(void **state)
{
	struct env *e = *state;
	struct audit_verify_result r;
	uint8_t h1[32], h2[32];
	uint64_t id;

	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.records, 0);
	append_n(e, 50);
	assert_int_equal(audit_verify(e->a, NULL, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.records, 50);
	assert_int_equal(r.first_id, 1);
	assert_int_equal(r.last_id, 50);
	assert_int_equal(r.head_id, 50);
	audit_last_id(e->a, h1);
	env_close(e);
	env_open(e);
	assert_int_equal(audit_last_id(e->a, h2), 50);
	assert_memory_equal(h1, h2, 32);
	assert_int_equal(audit_append(e->a, "node.registered", "self", "self", NULL, &id), 0);
	assert_int_equal(id, 51);
	verify_expect(e, 1, 0);
}

static void test_tamper_edit(void **state)
{
	struct env *e = *state;
	struct rec_edit re = {5, "\"why\":\"test\"", "\"why\":\"tset\""};

	append_n(e, 10);
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 5);
	/* The last record: only the head in meta can tell. */
	re = (struct rec_edit){10, "node:1", "node:2"};
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 5); /* still the first problem */
	struct audit_verify_result r;
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_int_equal(r.errors, 2);
}

static void test_tamper_edit_last_and_json(void **state)
{
	struct env *e = *state;
	struct rec_edit re = {10, "node:1", "node:2"};

	append_n(e, 10);
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 10);
	re = (struct rec_edit){3, "{\"event_id\"", "[\"event_id\""};
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 3);
	/* A record that claims another id. */
	re = (struct rec_edit){3, "[\"event_id\":3", "{\"event_id\":4"};
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 3);
}

static void test_delete_middle_and_last(void **state)
{
	struct env *e = *state;
	struct rec_edit re = {5, NULL, NULL};
	struct audit_verify_result r;
	uint64_t id;

	append_n(e, 10);
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 5);
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_non_null(strstr(r.reason, "missing"));
	assert_int_equal(r.errors, 1);

	/* A fresh log, its last record deleted. */
	teardown(state);
	setup(state);
	e = *state;
	append_n(e, 10);
	re = (struct rec_edit){10, NULL, NULL};
	raw_edit(e, do_rec_edit, &re);
	verify_expect(e, 0, 10);
	/* Going on does not hide it: the chain continues from the head. */
	assert_int_equal(audit_append(e->a, "x.y", NULL, NULL, NULL, &id), 0);
	assert_int_equal(id, 11);
	verify_expect(e, 0, 10);
}

static void del_head(struct store *st, void *arg)
{
	struct store_txn t;
	(void)arg;
	store_txn_begin(st, &t, 0);
	store_del(&t, store_dbi(st, "audit_meta"), "head", 4);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void test_head_missing(void **state)
{
	struct env *e = *state;
	struct audit_filter f = {.type = "audit.integrity"};
	struct collect c = {0};
	uint64_t id;

	append_n(e, 5);
	raw_edit(e, del_head, NULL);
	verify_expect(e, 0, 5);
	/* The next append says so in the chain before going on. */
	assert_int_equal(audit_append(e->a, "x.y", NULL, NULL, NULL, &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(query_n(e, &f, &c), 1);
	assert_int_equal(c.ids[0], 6);
	verify_expect(e, 1, 0);
	collect_free(&c);
}

static void test_abort_after_append(void **state)
{
	struct env *e = *state;
	struct store_txn t;
	uint8_t h[32], h2[32];
	uint64_t id, id2;

	append_n(e, 3);
	audit_last_id(e->a, h);
	/* Aborted by the caller. */
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(audit_append_txn(e->a, &t, "trust.added", "a", "b", NULL, &id), 0);
	assert_int_equal(id, 4);
	store_txn_abort(&t);
	audit_txn_aborted(e->a);
	assert_int_equal(audit_last_id(e->a, h2), 3);
	assert_memory_equal(h, h2, 32);
	/* Failed at commit (sticky error after the append). */
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(audit_append_txn(e->a, &t, "trust.added", "a", "b", NULL, &id), 0);
	store_put(&t, 999, "k", 1, "v", 1); /* a later step of the action fails */
	assert_int_not_equal(store_txn_commit(&t), 0);
	audit_txn_aborted(e->a);
	assert_int_equal(audit_last_id(e->a, NULL), 3);
	/* Even a caller that forgets audit_txn_aborted cannot fork the chain. */
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(audit_append_txn(e->a, &t, "trust.added", "a", "b", NULL, &id), 0);
	store_txn_abort(&t);
	assert_int_equal(audit_append(e->a, "trust.added", "a", "b", NULL, &id), 0);
	assert_int_equal(id, 4);
	/* Two records in one transaction, committed together. */
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(audit_append_txn(e->a, &t, "trust.added", "a", "b", NULL, &id), 0);
	assert_int_equal(audit_append_txn(e->a, &t, "trust.added", "a", "c", NULL, &id2), 0);
	assert_int_equal(id2, id + 1);
	assert_int_equal(audit_last_id(e->a, NULL), 4); /* not before the commit */
	assert_int_equal(store_txn_commit(&t), 0);
	audit_txn_committed(e->a);
	assert_int_equal(audit_last_id(e->a, NULL), 6);
	verify_expect(e, 1, 0);
}

static void count_notify(void *arg, uint64_t last)
{
	*(uint64_t *)arg = last;
}

static void test_notify(void **state)
{
	struct env *e = *state;
	uint64_t last = 0;

	audit_set_notify(e->a, count_notify, &last);
	append_n(e, 3);
	assert_int_equal(last, 3);
	audit_set_notify(e->a, NULL, NULL);
}

static void test_prune(void **state)
{
	struct env *e = *state;
	struct audit_verify_result r;
	struct collect c = {0};
	uint64_t pruned, id;

	append_n(e, 100);
	assert_int_equal(audit_prune(e->a, 30, 0, now_real_ms(), e->sk, &pruned), 0);
	assert_int_equal(pruned, 70);
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_true(r.ok);
	assert_true(r.checkpoint);
	assert_int_equal(r.pruned_through, 70);
	assert_int_equal(r.first_id, 71);
	assert_int_equal(r.records, 30);
	assert_int_equal(query_n(e, NULL, &c), 30);
	assert_int_equal(c.ids[0], 71);
	/* Nothing more to do; then a second prune over a checkpoint. */
	assert_int_equal(audit_prune(e->a, 30, 0, now_real_ms(), e->sk, &pruned), 0);
	assert_int_equal(pruned, 0);
	append_n(e, 10);
	assert_int_equal(audit_prune(e->a, 25, 0, now_real_ms(), e->sk, &pruned), 0);
	assert_int_equal(pruned, 15);
	verify_expect(e, 1, 0);
	/* Verification needs the key once there is a checkpoint. */
	assert_int_equal(audit_verify(e->a, NULL, &r), 0);
	assert_false(r.ok);
	/* By age: everything is older than a minute from now + 2 min. */
	assert_int_equal(audit_prune(e->a, 0, 60000, now_real_ms() + 120000, e->sk, &pruned), 0);
	assert_int_equal(pruned, 25);
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.records, 0);
	assert_int_equal(r.pruned_through, 110);
	/* The chain goes on after the checkpoint, also across a reopen. */
	env_close(e);
	env_open(e);
	assert_int_equal(audit_append(e->a, "x.y", NULL, NULL, NULL, &id), 0);
	assert_int_equal(id, 111);
	verify_expect(e, 1, 0);
	/* Key rotation: re-sign the checkpoint. */
	uint8_t pk2[32], sk2[64];
	crypto_sign_keypair(pk2, sk2);
	assert_int_equal(audit_checkpoint_resign(e->a, pk2, sk2), -EBADMSG); /* wrong old key */
	assert_int_equal(audit_checkpoint_resign(e->a, e->pk, sk2), 0);
	assert_int_equal(audit_verify(e->a, pk2, &r), 0);
	assert_true(r.ok);
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_false(r.ok);
	collect_free(&c);
}

static void forge_ckpt(struct store *st, void *arg)
{
	const uint8_t *sk = arg; /* NULL: edit the body, keep the signature */
	struct store_txn t;
	int db = store_dbi(st, "audit_meta"), rdb = store_dbi(st, "audit");
	const char *body = "{\"first_id_kept\":81,\"prev_hash\":\"0000000000000000000000000000000"
			   "000000000000000000000000000000000\",\"pruned_through\":80,\"ts\":1}";
	char msg[512];
	uint8_t sig[64], key[8];
	MDB_val v;

	store_txn_begin(st, &t, 0);
	if (!sk) {
		assert_int_equal(store_get(&t, db, "ckpt", 4, &v), 0);
		char buf[512];
		assert_true(v.mv_size < sizeof(buf));
		memcpy(buf, v.mv_data, v.mv_size);
		buf[v.mv_size] = '\0';
		char *p = strstr(buf, "\"ts\":");
		assert_non_null(p);
		p[5] = p[5] == '1' ? '2' : '1';
		store_put(&t, db, "ckpt", 4, buf, v.mv_size);
	} else {
		/* Hide records 71..80 behind a checkpoint signed by another key,
		 * claiming a prev_hash the attacker computed from record 80. */
		uint8_t h[32];
		char hex[65];
		store_be64(key, 80);
		assert_int_equal(store_get(&t, rdb, key, 8, &v), 0);
		crypto_hash_sha256(h, v.mv_data, v.mv_size);
		hex_encode(hex, sizeof(hex), h, 32);
		char b2[300];
		snprintf(
		    b2, sizeof(b2),
		    "{\"first_id_kept\":81,\"prev_hash\":\"%s\",\"pruned_through\":80,\"ts\":1}",
		    hex);
		body = b2;
		snprintf(msg, sizeof(msg), "pilot-audit-checkpoint-v1\n%s", body);
		crypto_sign_detached(sig, NULL, (const uint8_t *)msg, strlen(msg), sk);
		store_put(&t, db, "ckpt", 4, body, strlen(body));
		store_put(&t, db, "ckpt_sig", 8, sig, 64);
		for (uint64_t i = 71; i <= 80; i++) {
			store_be64(key, i);
			store_del(&t, rdb, key, 8);
		}
	}
	assert_int_equal(store_txn_commit(&t), 0);
}

static void test_checkpoint_tamper(void **state)
{
	struct env *e = *state;
	struct audit_verify_result r;
	uint8_t pk2[32], sk2[64];
	uint64_t pruned;

	append_n(e, 100);
	assert_int_equal(audit_prune(e->a, 30, 0, now_real_ms(), e->sk, &pruned), 0);
	verify_expect(e, 1, 0);
	raw_edit(e, forge_ckpt, NULL);
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.bad_id, 71);
	assert_non_null(strstr(r.reason, "signature"));
	/* A broken log is not pruned (nor re-signed). */
	assert_int_equal(audit_prune(e->a, 10, 0, now_real_ms(), e->sk, &pruned), -EBADMSG);
	assert_int_equal(pruned, 0);

	teardown(state);
	setup(state);
	e = *state;
	append_n(e, 100);
	assert_int_equal(audit_prune(e->a, 30, 0, now_real_ms(), e->sk, &pruned), 0);
	crypto_sign_keypair(pk2, sk2);
	raw_edit(e, forge_ckpt, sk2);
	assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
	assert_false(r.ok);
	assert_int_equal(r.bad_id, 81);
	assert_non_null(strstr(r.reason, "signature"));
}

static void test_prune_refuses_broken_chain(void **state)
{
	struct env *e = *state;
	struct rec_edit re = {20, "node:1", "node:9"};
	uint64_t pruned;

	append_n(e, 50);
	raw_edit(e, do_rec_edit, &re);
	assert_int_equal(audit_prune(e->a, 10, 0, now_real_ms(), e->sk, &pruned), -EBADMSG);
	assert_int_equal(pruned, 0);
	verify_expect(e, 0, 20); /* the evidence is still there */
	/* Pruning short of the damage is fine (the break is between 20 and
	 * 21; the first record kept, 16, is still checked against 15). */
	assert_int_equal(audit_prune(e->a, 35, 0, now_real_ms(), e->sk, &pruned), 0);
	assert_int_equal(pruned, 15);
	verify_expect(e, 0, 20);
}

static void test_export(void **state)
{
	struct env *e = *state;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	uint64_t n;
	uint8_t prev[32] = {0}, h[32];
	FILE *f;
	int lines = 0;

	append_n(e, 20);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(audit_export_jsonl(e->a, 0, f, &n), 0);
	fclose(f);
	assert_int_equal(n, 20);
	/* A SIEM can re-check the chain from the lines alone. */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct audit_rec r;
		assert_int_equal(audit_rec_parse(line, strlen(line), &r), 0);
		assert_memory_equal(r.prev, prev, 32);
		assert_int_equal(r.event_id, (uint64_t)lines + 1);
		audit_rec_free(&r);
		crypto_hash_sha256(h, (const uint8_t *)line, strlen(line));
		memcpy(prev, h, 32);
		lines++;
	}
	assert_int_equal(lines, 20);
	free(buf);
	f = open_memstream(&buf, &len);
	assert_int_equal(audit_export_jsonl(e->a, 18, f, &n), 0);
	fclose(f);
	assert_int_equal(n, 3);
	free(buf);
}

#define ZERO64_1 "000000000000000000000000000000000000000000000000000000000000000"
#define ZERO64 "0" ZERO64_1

static void test_rec_parse_strict(void **state)
{
	struct audit_rec r;
	const char *good =
	    "{\"event_id\":1,\"ts\":2,\"type\":\"a.b\",\"actor\":\"\",\"subject\":\"\","
	    "\"details\":{},\"prev\":\"0000000000000000000000000000000000000000000000"
	    "000000000000000000\"}";
	(void)state;
	assert_int_equal(audit_rec_parse(good, strlen(good), &r), 0);
	audit_rec_free(&r);
	/* Each one wrong in one way: negative id, details not an object,
	 * upper-case hex, an extra member. */
	const char *bad[] = {
	    "{}",
	    "[]",
	    ("{\"event_id\":-1,\"ts\":2,\"type\":\"a.b\",\"actor\":\"\",\"subject\":\"\","
	     "\"details\":{},\"prev\":\"" ZERO64 "\"}"),
	    ("{\"event_id\":1,\"ts\":2,\"type\":\"a.b\",\"actor\":\"\",\"subject\":\"\","
	     "\"details\":[],\"prev\":\"" ZERO64 "\"}"),
	    ("{\"event_id\":1,\"ts\":2,\"type\":\"a.b\",\"actor\":\"\",\"subject\":\"\","
	     "\"details\":{},\"prev\":\"A" ZERO64_1 "\"}"),
	    ("{\"event_id\":1,\"ts\":2,\"type\":\"a.b\",\"actor\":\"\",\"subject\":\"\","
	     "\"details\":{},\"prev\":\"" ZERO64 "\",\"x\":1}"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(audit_rec_parse(bad[i], strlen(bad[i]), &r), -EBADMSG);
}

/* ---- kill -9 in the middle of bursts ---- */

static void crash_child(const char *dir, int wfd)
{
	struct store *st = store_open(dir, dbs, 64 << 20);
	struct audit *a;
	uint64_t n = 0;

	if (!st || audit_open(st, "audit", "audit_meta", &a) < 0)
		_exit(2);
	for (;;) {
		uint64_t ids[8];
		int k = 0;
		if (n++ % 2 == 0) {
			if (audit_append(a, "burst.single", "child", "x", "{\"k\":1}", &ids[0]) < 0)
				_exit(3);
			k = 1;
		} else {
			/* A burst: several records and one durable commit. */
			struct store_txn t;
			store_txn_begin(st, &t, 0);
			for (k = 0; k < 5; k++)
				if (audit_append_txn(a, &t, "burst.batch", "child", "y", NULL,
						     &ids[k]) < 0)
					_exit(4);
			if (store_txn_commit(&t) < 0)
				_exit(5);
			audit_txn_committed(a);
		}
		/* Acknowledged only now: the commit returned. */
		if (write(wfd, ids, sizeof(ids[0]) * (size_t)k) != (ssize_t)(sizeof(ids[0]) * k))
			_exit(6);
	}
}

static void test_crash(void **state)
{
	struct env *e = *state;
	uint64_t total_acked = 0, max_acked = 0;

	env_close(e); /* an LMDB env must not cross fork() */
	for (int round = 0; round < 3; round++) {
		int p[2];
		pid_t pid;
		uint64_t *acked = NULL;
		size_t nacked = 0, cap = 0;
		char buf[8 * 512];
		size_t have = 0;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			crash_child(e->dir, p[1]);
			_exit(0);
		}
		close(p[1]);
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		uint64_t start = now_mono_ms();
		int killed = 0;
		for (;;) {
			ssize_t r = read(p[0], buf + have, sizeof(buf) - have);
			if (r > 0) {
				have += (size_t)r;
				size_t whole = have / 8 * 8;
				for (size_t i = 0; i < whole; i += 8) {
					if (nacked == cap) {
						cap = cap ? cap * 2 : 1024;
						acked = realloc(acked, cap * sizeof(*acked));
						assert_non_null(acked);
					}
					memcpy(&acked[nacked++], buf + i, 8);
				}
				memmove(buf, buf + whole, have - whole);
				have -= whole;
			} else if (r == 0) {
				break; /* the child is gone and the pipe drained */
			} else {
				usleep(1000);
			}
			if (!killed && now_mono_ms() - start >= 200) {
				kill(pid, SIGKILL);
				killed = 1;
			}
			assert_true(now_mono_ms() - start < 10000);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		close(p[0]);
		assert_true(nacked > 0);

		env_open(e);
		struct audit_verify_result r;
		assert_int_equal(audit_verify(e->a, e->pk, &r), 0);
		if (!r.ok)
			fail_msg("round %d: %s", round, r.reason);
		/* Every acknowledged event is there. */
		struct store_txn t;
		store_txn_begin(e->st, &t, 1);
		int db = store_dbi(e->st, "audit");
		for (size_t i = 0; i < nacked; i++) {
			uint8_t key[8];
			MDB_val v;
			store_be64(key, acked[i]);
			if (store_get(&t, db, key, 8, &v) != 0)
				fail_msg("acknowledged event %" PRIu64 " lost", acked[i]);
			max_acked = MAX(max_acked, acked[i]);
		}
		store_txn_abort(&t);
		assert_true(r.last_id >= max_acked);
		total_acked += nacked;
		print_message("# crash round %d: %zu events acknowledged, log at %" PRIu64
			      ", verify ok\n",
			      round, nacked, r.last_id);
		free(acked);
		env_close(e);
	}
	assert_true(total_acked > 0);
	env_open(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_edit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_edit_last_and_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_middle_and_last, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_head_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_after_append, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_tamper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prune_refuses_broken_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export, setup, teardown),
	    cmocka_unit_test(test_rec_parse_strict),
	    cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
