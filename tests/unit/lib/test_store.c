/* test_store.c - the LMDB wrapper: sticky errors, iteration, durability. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "trust.h"

static const char *const dbs[] = {"a", "b", "trust", "asked", NULL};

static char *tmpdir(void)
{
	char *d = strdup("/tmp/pilot-test-store.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void rm_rf(const char *d)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static int count_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)k;
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static void test_put_get_iter(void **state)
{
	char *dir = tmpdir(), sub[300];
	struct store *st;
	struct store_txn t;
	struct stat sb;
	MDB_val v;
	int a, n = 0;
	uint8_t k[8];
	(void)state;
	snprintf(sub, sizeof(sub), "%s/state", dir);
	st = store_open(sub, dbs, 1 << 20);
	assert_non_null(st);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	a = store_dbi(st, "a");
	assert_true(a >= 0);
	assert_int_equal(store_dbi(st, "nope"), -ENOENT);
	store_txn_begin(st, &t, 0);
	for (uint64_t i = 0; i < 10; i++) {
		store_be64(k, i);
		store_put(&t, a, k, 8, "x", 1);
	}
	store_put(&t, a, "pfx:1", 5, "1", 1);
	store_put(&t, a, "pfx:2", 5, "2", 1);
	assert_int_equal(store_txn_commit(&t), 0);
	store_txn_begin(st, &t, 1);
	assert_int_equal(store_iter_prefix(&t, a, "pfx:", 4, count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_get(&t, a, "missing", 7, &v), -ENOENT);
	assert_int_equal(t.ret, 0); /* not-found is not sticky */
	assert_int_equal(store_last(&t, a, &v, &v), 0);
	store_txn_abort(&t);
	store_close(st);
	rm_rf(dir);
	free(dir);
}

static void test_sticky_error(void **state)
{
	char *dir = tmpdir();
	struct store *st = store_open(dir, dbs, 1 << 20);
	struct store_txn t;
	MDB_val v;
	int a = store_dbi(st, "a");
	(void)state;
	/* A failed step makes the whole transaction fail and change nothing. */
	store_txn_begin(st, &t, 0);
	store_put(&t, a, "k1", 2, "v", 1);
	store_put(&t, 99, "k2", 2, "v", 1); /* bad dbi */
	store_put(&t, a, "k3", 2, "v", 1);
	assert_int_equal(store_txn_commit(&t), -EINVAL);
	store_txn_begin(st, &t, 1);
	assert_int_equal(store_get(&t, a, "k1", 2, &v), -ENOENT);
	store_txn_abort(&t);
	/* Writes in a read-only txn are refused. */
	store_txn_begin(st, &t, 1);
	store_put(&t, a, "k1", 2, "v", 1);
	assert_int_equal(store_txn_commit(&t), -EROFS);
	store_close(st);
	rm_rf(dir);
	free(dir);
}

static void test_trust_persists(void **state)
{
	char *dir = tmpdir();
	struct store *st = store_open(dir, dbs, 1 << 20);
	struct trust_table t;
	uint8_t pk[32];
	(void)state;
	memset(pk, 7, 32);
	assert_int_equal(trust_init(&t, st), 0);
	assert_int_equal(trust_mark_asked(&t, 9), 0);
	assert_true(trust_was_asked(&t, 9));
	for (uint32_t i = 1; i <= 200; i++)
		assert_int_equal(trust_add(&t, i, pk, "host"), 0);
	assert_false(trust_was_asked(&t, 9)); /* trusting clears the request */
	assert_int_equal(trust_remove(&t, 100), 0);
	assert_int_equal(trust_remove(&t, 100), -ENOENT);
	trust_free(&t);
	store_close(st);
	/* Reopen: what was committed is there. */
	st = store_open(dir, dbs, 1 << 20);
	assert_int_equal(trust_init(&t, st), 0);
	assert_int_equal(t.count, 199);
	assert_null(trust_find(&t, 100));
	assert_non_null(trust_find(&t, 200));
	assert_string_equal(trust_find(&t, 5)->hostname, "host");
	assert_non_null(trust_find_pk(&t, pk));
	trust_free(&t);
	store_close(st);
	rm_rf(dir);
	free(dir);
}

/* A damaged, empty or truncated data.mdb is refused and left as it was,
 * never started afresh as an empty store. */
static void test_refuses_damaged(void **state)
{
	char *dir = tmpdir(), path[300], junk[8192];
	struct store *st = store_open(dir, dbs, 1 << 20);
	struct store_txn t;
	struct stat sb;
	FILE *f;
	(void)state;
	assert_non_null(st);
	store_txn_begin(st, &t, 0);
	store_put(&t, store_dbi(st, "a"), "k", 1, "v", 1);
	assert_int_equal(store_txn_commit(&t), 0);
	store_close(st);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);

	/* both meta pages overwritten */
	memset(junk, 0x5a, sizeof(junk));
	assert_non_null(f = fopen(path, "r+"));
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	assert_int_equal(stat(path, &sb), 0);
	assert_null(store_open(dir, dbs, 1 << 20));
	/* emptied, and cut to less than its two meta pages */
	assert_int_equal(truncate(path, 0), 0);
	assert_null(store_open(dir, dbs, 1 << 20));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(truncate(path, 4096), 0);
	assert_null(store_open(dir, dbs, 1 << 20));
	/* gone altogether: a new store, as on a first start */
	assert_int_equal(unlink(path), 0);
	assert_non_null(st = store_open(dir, dbs, 1 << 20));
	store_close(st);
	rm_rf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_iter),
	    cmocka_unit_test(test_sticky_error),
	    cmocka_unit_test(test_trust_persists),
	    cmocka_unit_test(test_refuses_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
