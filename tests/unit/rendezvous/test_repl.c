/* test_repl.c - the registry on etcd (src/rendezvous/rdv_repl.c): two
 * replicas (two state directories, one prefix) against a real etcd on
 * loopback.  What one writes the other sees after it catches up, deletes
 * included; a write from a stale copy conflicts and nothing of it lands;
 * single-use keys are refused through the other replica; a compacted
 * history means a whole copy; an LMDB registry is not silently replaced;
 * a transaction larger than etcd allows is refused whole; a registration
 * token's last use is taken through one replica only.  Skipped when
 * /usr/bin/etcd is absent (Debian's etcd-server). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "etcd_fixture.h"
#include "json.h"
#include "log.h"
#include "rdv.h"
#include "regmsg.h"
#include "util.h"
#include "rdv_etcd.h"
#include "rdv_repl.h"
#include "rdv_store.h"

#define TIMEOUT_MS 2000

static struct {
	struct etcd_fixture etcd;
	char tmp[64];
	int seq; /* a fresh prefix and directories per case */
} g = {.etcd.pid = -1};

struct pair {
	char dir_a[128], dir_b[128], prefix[32];
	struct rdv_db a, b;
	int open_a, open_b;
	uint32_t woken[16];
	size_t nwoken;
};

static void on_notify(void *arg, uint32_t node)
{
	struct pair *p = arg;

	if (p->nwoken < 16)
		p->woken[p->nwoken++] = node;
}

static int open_replica(struct pair *p, struct rdv_db *db, const char *dir, size_t max_ops)
{
	const char *eps[] = {g.etcd.url};
	struct rdv_db_etcd ec = {.endpoints = eps,
				 .n = 1,
				 .prefix = p->prefix,
				 .timeout_ms = TIMEOUT_MS,
				 .max_txn_ops = max_ops};
	int rc = rdv_db_open_etcd(db, dir, &ec);

	if (rc == 0) {
		db->notify = on_notify;
		db->notify_arg = p;
	}
	return rc;
}

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	g.seq++;
	snprintf(p->prefix, sizeof(p->prefix), "/t%d/", g.seq);
	snprintf(p->dir_a, sizeof(p->dir_a), "%s/a%d", g.tmp, g.seq);
	snprintf(p->dir_b, sizeof(p->dir_b), "%s/b%d", g.tmp, g.seq);
	if (open_replica(p, &p->a, p->dir_a, 128) < 0)
		return -1;
	p->open_a = 1;
	if (open_replica(p, &p->b, p->dir_b, 128) < 0)
		return -1;
	p->open_b = 1;
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	if (p->open_a)
		rdv_db_close(&p->a);
	if (p->open_b)
		rdv_db_close(&p->b);
	free(p);
	return 0;
}

static int host_put(struct rdv_db *db, const char *name, uint32_t id)
{
	struct store_txn t;

	store_txn_begin(db->st, &t, 0);
	rdv_host_put(&t, db, name, id);
	return store_txn_commit(&t);
}

static int host_get(struct rdv_db *db, const char *name, uint32_t *id)
{
	struct store_txn t;
	int rc;

	store_txn_begin(db->st, &t, 1);
	rc = rdv_host_get(&t, db, name, id);
	store_txn_abort(&t);
	return rc;
}

/* ------------------------------------------------------------ cases */

static void test_same_prefix(void **state)
{
	struct pair *p = *state;

	/* The second replica took the deployment prefix the first made. */
	assert_memory_equal(p->a.prefix.b, p->b.prefix.b, sizeof(p->a.prefix.b));
}

static void test_write_seen(void **state)
{
	struct pair *p = *state;
	struct store_txn t;
	uint32_t id = 0;

	assert_int_equal(host_put(&p->a, "alice", 7), 0);
	assert_int_equal(host_get(&p->b, "alice", &id), -ENOENT); /* not yet */
	assert_int_equal(rdv_db_sync(&p->b), 0);
	assert_int_equal(host_get(&p->b, "alice", &id), 0);
	assert_int_equal(id, 7);

	store_txn_begin(p->a.st, &t, 0);
	rdv_host_del(&t, &p->a, "alice");
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(rdv_db_sync(&p->b), 0);
	assert_int_equal(host_get(&p->b, "alice", &id), -ENOENT);
}

static void test_conflict(void **state)
{
	struct pair *p = *state;
	uint32_t ida = 0, idb = 0, id = 0;
	struct store_txn t;
	int rc;

	/* Both allocate a node ID from the same copy: one wins. */
	store_txn_begin(p->a.st, &t, 0);
	assert_int_equal(rdv_node_id_alloc(&t, &p->a, &ida), 0);
	rdv_host_put(&t, &p->a, "from-a", ida);
	assert_int_equal(store_txn_commit(&t), 0);

	store_txn_begin(p->b.st, &t, 0);
	assert_int_equal(rdv_node_id_alloc(&t, &p->b, &idb), 0);
	assert_int_equal(idb, ida); /* the stale copy offers the same ID... */
	rdv_host_put(&t, &p->b, "from-b", idb);
	assert_int_equal(store_txn_commit(&t), STORE_CONFLICT); /* ...and loses */
	assert_int_equal(host_get(&p->b, "from-b", &id), -ENOENT);

	/* Caught up, run again: a new ID. */
	assert_int_equal(rdv_db_sync(&p->b), 0);
	store_txn_begin(p->b.st, &t, 0);
	assert_int_equal(rdv_node_id_alloc(&t, &p->b, &idb), 0);
	assert_int_not_equal(idb, ida);
	rdv_host_put(&t, &p->b, "from-b", idb);
	rc = store_txn_commit(&t);
	assert_int_equal(rc, 0);
	assert_int_equal(rdv_db_sync(&p->a), 0);
	assert_int_equal(host_get(&p->a, "from-b", &id), 0);
	assert_int_equal(id, idb);
	assert_int_equal(host_get(&p->a, "from-a", &id), 0);
	assert_int_equal(id, ida);
}

static void test_unique(void **state)
{
	struct pair *p = *state;
	uint8_t nonce[16] = {1, 2, 3};
	struct store_txn t;

	assert_int_equal(host_put(&p->a, "x", 1), 0); /* b's copy is now stale */

	/* A nonce alone does not serialise with other writes... */
	store_txn_begin(p->b.st, &t, 0);
	rdv_nonce_put(&t, &p->b, 5, nonce, 1000);
	assert_int_equal(store_txn_commit(&t), 0);

	/* ...and the same nonce through the other replica is refused, even
	 * before that replica's copy has it. */
	store_txn_begin(p->a.st, &t, 0);
	assert_int_equal(rdv_nonce_seen(&t, &p->a, 5, nonce), 0);
	rdv_nonce_put(&t, &p->a, 5, nonce, 1000);
	assert_int_equal(store_txn_commit(&t), -EEXIST);
	/* With other changes too (a serialised write). */
	store_txn_begin(p->a.st, &t, 0);
	rdv_host_put(&t, &p->a, "y", 2);
	rdv_nonce_put(&t, &p->a, 5, nonce, 1000);
	assert_int_equal(store_txn_commit(&t), -EEXIST);

	/* A copy takes such revisions in with the next serialised write. */
	assert_int_equal(rdv_db_sync(&p->b), 0);
	assert_int_equal(host_put(&p->b, "z", 3), 0);
	assert_int_equal(rdv_db_sync(&p->a), 0);
	store_txn_begin(p->a.st, &t, 1);
	assert_int_equal(rdv_nonce_seen(&t, &p->a, 5, nonce), 1);
	store_txn_abort(&t);
}

static void test_notify(void **state)
{
	struct pair *p = *state;
	struct store_txn t;

	store_txn_begin(p->a.st, &t, 0);
	rdv_event_put(&t, &p->a, 42, 1, "{}", 2);
	assert_int_equal(store_txn_commit(&t), 0);
	p->nwoken = 0;
	assert_int_equal(rdv_db_sync(&p->b), 0);
	assert_int_equal(p->nwoken, 1);
	assert_int_equal(p->woken[0], 42);
}

static void test_compacted(void **state)
{
	struct pair *p = *state;
	const char *eps[] = {g.etcd.url};
	struct rdv_etcd *e = rdv_etcd_open(eps, 1, TIMEOUT_MS, NULL, NULL, NULL);
	struct store_txn t;
	int64_t rev = 0;
	uint32_t id = 0;
	char name[16];

	assert_non_null(e);
	assert_int_equal(host_put(&p->a, "keep", 1), 0);
	assert_int_equal(rdv_db_sync(&p->b), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(host_put(&p->a, name, (uint32_t)i + 10), 0);
	}
	store_txn_begin(p->a.st, &t, 0);
	rdv_host_del(&t, &p->a, "keep");
	assert_int_equal(store_txn_commit(&t), 0);
	/* b's place in the history is gone: it copies the whole state. */
	assert_int_equal(rdv_etcd_put(e, "/unrelated", 10, "v", 1, 0, &rev), 0);
	assert_int_equal(rdv_etcd_compact(e, rev), 0);
	rdv_etcd_close(e);
	assert_int_equal(rdv_db_sync(&p->b), 0);
	assert_int_equal(host_get(&p->b, "keep", &id), -ENOENT);
	assert_int_equal(host_get(&p->b, "n4", &id), 0);
	assert_int_equal(id, 14);
	assert_memory_equal(p->a.prefix.b, p->b.prefix.b, sizeof(p->a.prefix.b));
}

static void test_too_large(void **state)
{
	struct pair *p = *state;
	struct store_txn t;
	uint32_t id;
	char name[16];

	store_txn_begin(p->a.st, &t, 0);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		rdv_host_put(&t, &p->a, name, (uint32_t)i);
	}
	assert_int_equal(store_txn_commit(&t), -E2BIG);
	assert_int_equal(host_get(&p->a, "big0", &id), -ENOENT);
}

static void test_restart(void **state)
{
	struct pair *p = *state;
	uint32_t id = 0;

	/* b goes down, a writes, b comes back from its position. */
	rdv_db_close(&p->b);
	p->open_b = 0;
	assert_int_equal(host_put(&p->a, "while-down", 3), 0);
	assert_int_equal(open_replica(p, &p->b, p->dir_b, 128), 0);
	p->open_b = 1;
	assert_int_equal(host_get(&p->b, "while-down", &id), 0);
	assert_int_equal(id, 3);
}

static void test_refuses_lmdb_state(void **state)
{
	struct pair *p = *state;
	struct rdv_db db;
	char dir[160];

	snprintf(dir, sizeof(dir), "%s/lmdb%d", g.tmp, g.seq);
	assert_int_equal(rdv_db_open(&db, dir), 0); /* makes a prefix: state */
	rdv_db_close(&db);
	assert_int_equal(open_replica(p, &db, dir, 128), -EEXIST);
}

static void count_replica(void *arg, const char *name, const char *info)
{
	(void)info;
	if (strcmp(name, "a:1") == 0 || strcmp(name, "b:2") == 0)
		(*(int *)arg)++;
}

/* Each replica's presence key lives on its lease: both listed while they
 * run, one gone at once when it stops cleanly. */
static void test_presence(void **state)
{
	struct pair *p = *state;
	int n = 0;

	assert_int_equal(rdv_repl_presence(p->a.repl, "a:1", "{\"listen\":\"a:1\"}", 1000), 0);
	assert_int_equal(rdv_repl_presence(p->b.repl, "b:2", "{}", 1000), 0);
	/* between renewals, nothing is sent (and nothing fails) */
	assert_int_equal(rdv_repl_presence(p->a.repl, "a:1", "{}", 1500), 0);
	assert_int_equal(rdv_repl_replicas(p->a.repl, count_replica, &n), 0);
	assert_int_equal(n, 2);
	/* a renewal keeps it */
	assert_int_equal(
	    rdv_repl_presence(p->a.repl, "a:1", "{}", 1000 + RDV_REPL_PRESENCE_RENEW_MS), 0);
	rdv_db_close(&p->b);
	p->open_b = 0;
	n = 0;
	assert_int_equal(rdv_repl_replicas(p->a.repl, count_replica, &n), 0);
	assert_int_equal(n, 1);
}

/* An LMDB registry moved into etcd: every key, the deployment prefix, in
 * many small transactions; never into a prefix that holds anything. */
static void test_import(void **state)
{
	struct pair *p = *state;
	const char *eps[] = {g.etcd.url};
	struct rdv_db_etcd ec = {
	    .endpoints = eps, .n = 1, .timeout_ms = TIMEOUT_MS, .max_txn_ops = 16};
	struct rdv_db src, rep;
	struct pilot_prefix want;
	char dir[160], rdir[160], pfx[32], err[1024], name[32];
	uint64_t n = 0;
	uint32_t id = 0;

	snprintf(dir, sizeof(dir), "%s/src%d", g.tmp, g.seq);
	snprintf(rdir, sizeof(rdir), "%s/rep%d", g.tmp, g.seq);
	snprintf(pfx, sizeof(pfx), "/imp%d/", g.seq);
	ec.prefix = pfx;
	/* no registry there: refused, nothing made */
	assert_int_equal(rdv_db_import(dir, &ec, &n, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no LMDB registry"));
	assert_int_equal(rdv_db_open(&src, dir), 0);
	want = src.prefix;
	for (uint32_t i = 1; i <= 300; i++) {
		snprintf(name, sizeof(name), "host-%u", i);
		assert_int_equal(host_put(&src, name, i), 0);
	}
	rdv_db_close(&src);

	assert_int_equal(rdv_db_import(dir, &ec, &n, err, sizeof(err)), 0);
	assert_true(n >= 301); /* the hosts and the meta keys at least */
	{
		struct rdv_db_etcd rc = ec;
		rc.max_txn_ops = 128;
		assert_int_equal(rdv_db_open_etcd(&rep, rdir, &rc), 0);
	}
	assert_memory_equal(&rep.prefix, &want, sizeof(want));
	for (uint32_t i = 1; i <= 300; i += 37) {
		snprintf(name, sizeof(name), "host-%u", i);
		assert_int_equal(host_get(&rep, name, &id), 0);
		assert_int_equal(id, i);
	}
	assert_int_equal(host_get(&rep, "host-300", &id), 0);
	rdv_db_close(&rep);

	/* again: the prefix is taken now; and p's, which two replicas use */
	assert_int_equal(rdv_db_import(dir, &ec, &n, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already holds keys"));
	ec.prefix = p->prefix;
	assert_int_equal(host_put(&p->a, "x", 1), 0);
	assert_int_equal(rdv_db_import(dir, &ec, &n, err, sizeof(err)), -EEXIST);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(g.tmp, sizeof(g.tmp), "/tmp/test_repl.XXXXXX");
	if (!mkdtemp(g.tmp)) {
		g.tmp[0] = '\0';
		return -1;
	}
	return etcd_fixture_start(&g.etcd, "test_repl", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_fixture_stop(&g.etcd);
	fixture_rm_tree(g.tmp);
	g.tmp[0] = '\0';
	return 0;
}

/* A new key's register request through \p db: \retval the HTTP status,
 * the reply's error code (or "") into \p code. */
static int register_new(struct rdv_db *db, const char *tok, char code[64])
{
	char body[512], pkb[64], nonce[32], sig[REGMSG_SIG_B64_LEN], err[128];
	uint8_t pk[32], sk[64], nb[16];
	struct rdv_reply rep;
	const char *c = "";
	yajl_val v;
	int st;

	crypto_sign_keypair(pk, sk);
	randombytes_buf(nb, sizeof(nb));
	b64_encode(pkb, sizeof(pkb), pk, 32);
	b64_encode(nonce, sizeof(nonce), nb, sizeof(nb));
	snprintf(body, sizeof(body),
		 "{\"op\":\"register\",\"ts\":%llu,\"nonce\":\"%s\",\"public_key\":\"%s\","
		 "\"listen_port\":4000,\"public\":false,\"registration_token\":\"%s\"}",
		 (unsigned long long)now_real_ms(), nonce, pkb, tok);
	assert_int_equal(regmsg_sign(sk, "/v1/node/register", body, strlen(body), sig), 0);
	assert_int_equal(rdv_reg_handle(db, "register", body, strlen(body), sig, "198.18.2.7",
					now_real_ms(), &rep),
			 0);
	st = rep.status;
	v = json_parse(rep.body, rep.len, 0, err, sizeof(err));
	assert_non_null(v);
	json_get_str(json_get(v, "error"), "code", &c);
	snprintf(code, 64, "%s", c);
	yajl_tree_free(v);
	rdv_reply_free(&rep);
	return st;
}

static void test_regtoken_once(void **state)
{
	struct pair *p = *state;
	const char *t = NULL;
	char tok[128], code[64];
	struct rdv_reply rep;
	const char *body = "{\"uses\":1}";
	struct rdv_repl_stats st;
	uint64_t conflicts;
	yajl_val v;
	char err[128];

	p->a.reg_rule = p->b.reg_rule = RDV_REG_TOKEN;
	assert_int_equal(rdv_admin_handle(&p->a, "adm", "registration_token", body, strlen(body),
					  "Bearer adm", "198.18.2.1", now_real_ms(), &rep),
			 0);
	assert_int_equal(rep.status, 200);
	v = json_parse(rep.body, rep.len, 0, err, sizeof(err));
	assert_int_equal(json_get_str(v, "token", &t), 0);
	snprintf(tok, sizeof(tok), "%s", t);
	yajl_tree_free(v);
	rdv_reply_free(&rep);
	assert_int_equal(rdv_db_sync(&p->b), 0);
	/* The one use through A; B's copy still shows it unused, and its
	 * write of the same use conflicts: run again, it sees it taken. */
	assert_int_equal(register_new(&p->a, tok, code), 200);
	rdv_repl_get_stats(p->b.repl, &st);
	conflicts = st.conflicts;
	assert_int_equal(register_new(&p->b, tok, code), 403);
	assert_string_equal(code, "registration_token_used");
	rdv_repl_get_stats(p->b.repl, &st);
	assert_int_equal(st.conflicts, conflicts + 1);
	assert_int_equal(rdv_db_sync(&p->a), 0);
	assert_int_equal(register_new(&p->a, tok, code), 403);
	assert_string_equal(code, "registration_token_used");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_same_prefix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_seen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compacted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_lmdb_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_presence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_regtoken_once, setup, teardown),
	};
	int rc;

	if (fixture_skip_without_etcd("test_repl"))
		return 0;
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	group_teardown(NULL); /* also when the group's setup failed half-way */
	return rc;
}
