/* test_etcd.c - the etcd v3 client (src/rendezvous/rdv_etcd.c) against a
 * real etcd: one single-member cluster on loopback (free high ports, its
 * data in a mkdtemp directory), started once for the group and killed by
 * its pid at the end.  Each case uses keys of its own prefix.  Dead
 * endpoints are a port nothing listens on (refused at once) and a socket
 * that listens but never answers (a timeout).  Skipped when /usr/bin/etcd
 * is absent (Debian's etcd-server). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "etcd_fixture.h"
#include "log.h"
#include "rdv_etcd.h"

#define TIMEOUT_MS 2000
#define RACERS 8

static struct {
	struct etcd_fixture etcd;
	char url[64];
	int silent_fd;	   /* listens, never accepts: requests time out */
	char dead_url[64]; /* nothing listens: refused */
	char silent_url[64];
} g = {.etcd.pid = -1, .silent_fd = -1};

static int group_setup(void **state)
{
	int sport;

	(void)state;
	snprintf(g.dead_url, sizeof(g.dead_url), "http://127.0.0.1:%d", fixture_free_port());
	if ((g.silent_fd = fixture_tcp_socket(16, &sport)) < 0)
		return -1;
	snprintf(g.silent_url, sizeof(g.silent_url), "http://127.0.0.1:%d", sport);
	if (etcd_fixture_start(&g.etcd, "test_etcd", NULL) < 0)
		return -1;
	snprintf(g.url, sizeof(g.url), "%s", g.etcd.url);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_fixture_stop(&g.etcd);
	if (g.silent_fd >= 0)
		close(g.silent_fd);
	g.silent_fd = -1;
	return 0;
}

static int setup(void **state)
{
	const char *eps[] = {g.url};
	struct rdv_etcd *e = rdv_etcd_open(eps, 1, TIMEOUT_MS, NULL, NULL, NULL);

	if (!e)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	rdv_etcd_close(*state);
	return 0;
}

/* ------------------------------------------------------------ helpers */

#define KV_MAX 8

struct got {
	size_t n;
	uint8_t key[KV_MAX][64];
	size_t klen[KV_MAX];
	uint8_t *val[KV_MAX];
	size_t vlen[KV_MAX];
	struct rdv_etcd_kv kv[KV_MAX]; /* numbers only: the pointers are stale */
	size_t stop_after;	       /* stop the walk (returning 7) after this many */
};

static int collect(void *arg, const struct rdv_etcd_kv *kv)
{
	struct got *o = arg;

	assert_true(o->n < KV_MAX);
	assert_true(kv->klen <= sizeof(o->key[0]));
	memcpy(o->key[o->n], kv->key, kv->klen);
	o->klen[o->n] = kv->klen;
	o->val[o->n] = malloc(kv->vlen ? kv->vlen : 1);
	assert_non_null(o->val[o->n]);
	memcpy(o->val[o->n], kv->val, kv->vlen);
	o->vlen[o->n] = kv->vlen;
	o->kv[o->n] = *kv;
	o->n++;
	return o->stop_after && o->n == o->stop_after ? 7 : 0;
}

static void got_free(struct got *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->val[i]);
	memset(o, 0, sizeof(*o));
}

/* The value of \p key (a C string) at \p rev: asserts there is one. */
static void assert_value(struct rdv_etcd *e, const char *key, int64_t rev, const char *val)
{
	struct got o = {0};

	assert_int_equal(rdv_etcd_range(e, key, strlen(key), NULL, 0, rev, collect, &o, NULL), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.vlen[0], strlen(val));
	assert_memory_equal(o.val[0], val, strlen(val));
	got_free(&o);
}

static size_t count(struct rdv_etcd *e, const char *prefix)
{
	struct got o = {0};
	size_t n;

	assert_int_equal(rdv_etcd_range_prefix(e, prefix, strlen(prefix), 0, collect, &o, NULL), 0);
	n = o.n;
	got_free(&o);
	return n;
}

static void put(struct rdv_etcd *e, const char *key, const char *val, int64_t *rev)
{
	assert_int_equal(rdv_etcd_put(e, key, strlen(key), val, strlen(val), 0, rev), 0);
}

/* ------------------------------------------------------------ cases */

static void test_open(void **state)
{
	const char *bad[] = {"ftp://127.0.0.1:2379"};
	const char *slash[] = {"http://127.0.0.1:2379//"};
	struct rdv_etcd *e;

	errno = 0;
	assert_null(rdv_etcd_open(bad, 0, TIMEOUT_MS, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(rdv_etcd_open(bad, 1, TIMEOUT_MS, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(rdv_etcd_open(slash, 1, 0, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	e = rdv_etcd_open(slash, 1, TIMEOUT_MS, NULL, NULL, NULL);
	assert_non_null(e);
	assert_string_equal(rdv_etcd_endpoint(e), "http://127.0.0.1:2379");
	assert_string_equal(rdv_etcd_last_error(e), "");
	rdv_etcd_close(e);
	rdv_etcd_close(NULL);
}

static void test_prefix_end(void **state)
{
	uint8_t out[4];

	assert_int_equal(rdv_etcd_prefix_end("ab", 2, out), 2);
	assert_memory_equal(out, "ac", 2);
	assert_int_equal(rdv_etcd_prefix_end("a\xff\xff", 3, out), 1);
	assert_memory_equal(out, "b", 1);
	assert_int_equal(rdv_etcd_prefix_end("\xff\xff", 2, out), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(rdv_etcd_prefix_end("", 0, out), 1);
	assert_int_equal(out[0], 0);
}

/* Any bytes, NUL and 0xff included, in keys and values; a value far
 * larger than anything the shared JSON helpers encode. */
static void test_binary(void **state)
{
	struct rdv_etcd *e = *state;
	const uint8_t key[] = {'b', 'i', 'n', '/', 0, 0xff, 1, 0};
	size_t big = 300 * 1024;
	uint8_t *val = malloc(big);
	struct got o = {0};
	int64_t rev = 0, hrev = 0;

	assert_non_null(val);
	for (size_t i = 0; i < big; i++)
		val[i] = (uint8_t)(i * 7 + i / 256);
	val[0] = 0;
	assert_int_equal(rdv_etcd_put(e, key, sizeof(key), val, big, 0, &rev), 0);
	assert_true(rev > 0);
	assert_int_equal(rdv_etcd_range(e, key, sizeof(key), NULL, 0, 0, collect, &o, &hrev), 0);
	assert_int_equal(hrev, rev);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.klen[0], sizeof(key));
	assert_memory_equal(o.key[0], key, sizeof(key));
	assert_int_equal(o.vlen[0], big);
	assert_memory_equal(o.val[0], val, big);
	assert_int_equal(o.kv[0].create_rev, rev);
	assert_int_equal(o.kv[0].mod_rev, rev);
	assert_int_equal(o.kv[0].version, 1);
	assert_int_equal(o.kv[0].lease, 0);
	got_free(&o);

	/* An empty value, and a second version. */
	assert_int_equal(rdv_etcd_put(e, key, sizeof(key), NULL, 0, 0, &hrev), 0);
	assert_int_equal(rdv_etcd_range(e, key, sizeof(key), NULL, 0, 0, collect, &o, NULL), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.vlen[0], 0);
	assert_int_equal(o.kv[0].create_rev, rev);
	assert_int_equal(o.kv[0].mod_rev, hrev);
	assert_int_equal(o.kv[0].version, 2);
	got_free(&o);

	/* A key one byte shorter is another key: nothing there. */
	assert_int_equal(rdv_etcd_range(e, key, sizeof(key) - 1, NULL, 0, 0, collect, &o, NULL), 0);
	assert_int_equal(o.n, 0);
	free(val);
}

static void test_prefix(void **state)
{
	struct rdv_etcd *e = *state;
	struct got o = {0};

	put(e, "pfx/c", "3", NULL);
	put(e, "pfx/a", "1", NULL);
	put(e, "pfx0", "outside", NULL); /* '0' is '/' + 1: the range's end */
	put(e, "pfx.", "outside", NULL);
	put(e, "pfx/b", "2", NULL);
	put(e, "pfx/\xff", "4", NULL);
	assert_int_equal(rdv_etcd_range_prefix(e, "pfx/", 4, 0, collect, &o, NULL), 0);
	assert_int_equal(o.n, 4);
	assert_memory_equal(o.key[0], "pfx/a", 5);
	assert_memory_equal(o.key[1], "pfx/b", 5);
	assert_memory_equal(o.key[2], "pfx/c", 5);
	assert_memory_equal(o.key[3], "pfx/\xff", 5);
	assert_memory_equal(o.val[1], "2", 1);
	got_free(&o);

	/* [pfx/a, pfx/c) */
	assert_int_equal(rdv_etcd_range(e, "pfx/a", 5, "pfx/c", 5, 0, collect, &o, NULL), 0);
	assert_int_equal(o.n, 2);
	got_free(&o);

	/* A callback that stops the walk. */
	o.stop_after = 2;
	assert_int_equal(rdv_etcd_range_prefix(e, "pfx/", 4, 0, collect, &o, NULL), 7);
	assert_int_equal(o.n, 2);
	got_free(&o);

	/* The empty prefix is every key. */
	assert_true(count(e, "") >= 6);
}

static void test_old_revision(void **state)
{
	struct rdv_etcd *e = *state;
	int64_t r1, r2;

	put(e, "old/k", "v1", &r1);
	put(e, "old/k", "v2", &r2);
	assert_true(r2 > r1);
	assert_value(e, "old/k", r1, "v1");
	assert_value(e, "old/k", r2, "v2");
	assert_value(e, "old/k", 0, "v2");
	/* Before it was written, the key was not there. */
	assert_int_equal(count(e, "old/"), 1);
	{
		struct got o = {0};
		assert_int_equal(rdv_etcd_range(e, "old/k", 5, NULL, 0, r1 - 1, collect, &o, NULL),
				 0);
		assert_int_equal(o.n, 0);
	}
}

/* Compare-and-swap from RACERS processes at once, each with its own
 * client: exactly one sees mod_revision == R and writes. */
static int racer(const char *url, int64_t rev, int i)
{
	const char *eps[] = {url};
	struct rdv_etcd *e = rdv_etcd_open(eps, 1, TIMEOUT_MS * 5, NULL, NULL, NULL);
	char val[16];
	int ok = -1;

	snprintf(val, sizeof(val), "racer%d", i);
	struct rdv_etcd_cmp cmp = {.key = "cas/k",
				   .klen = 5,
				   .target = RDV_ETCD_MOD,
				   .result = RDV_ETCD_EQUAL,
				   .num = rev};
	struct rdv_etcd_op op = {
	    .kind = RDV_ETCD_OP_PUT, .key = "cas/k", .klen = 5, .val = val, .vlen = strlen(val)};
	struct rdv_etcd_txn t = {.cmp = &cmp, .ncmp = 1, .success = &op, .nsuccess = 1};
	if (!e || rdv_etcd_txn(e, &t, &ok, NULL) < 0)
		ok = -1;
	rdv_etcd_close(e);
	return ok == 1 ? 0 : ok == 0 ? 1 : 2;
}

static void test_cas_race(void **state)
{
	struct rdv_etcd *e = *state;
	pid_t pids[RACERS];
	int64_t rev, now;
	int wins = 0, losses = 0, winner = -1;
	struct got o = {0};

	put(e, "cas/k", "start", &rev);
	for (int i = 0; i < RACERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(racer(g.url, rev, i));
	}
	for (int i = 0; i < RACERS; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) == 0) {
			wins++;
			winner = i;
		} else if (WEXITSTATUS(st) == 1) {
			losses++;
		}
	}
	assert_int_equal(wins, 1);
	assert_int_equal(losses, RACERS - 1);

	/* The failure branch reads what won. */
	char want[16];
	snprintf(want, sizeof(want), "racer%d", winner);
	struct rdv_etcd_cmp cmp = {.key = "cas/k",
				   .klen = 5,
				   .target = RDV_ETCD_MOD,
				   .result = RDV_ETCD_EQUAL,
				   .num = rev};
	struct rdv_etcd_op put_op = {
	    .kind = RDV_ETCD_OP_PUT, .key = "cas/k", .klen = 5, .val = "late", .vlen = 4};
	struct rdv_etcd_op get_op = {.kind = RDV_ETCD_OP_RANGE, .key = "cas/k", .klen = 5};
	struct rdv_etcd_txn t = {.cmp = &cmp,
				 .ncmp = 1,
				 .success = &put_op,
				 .nsuccess = 1,
				 .failure = &get_op,
				 .nfailure = 1,
				 .cb = collect,
				 .arg = &o};
	int ok = -1;
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, &now), 0);
	assert_int_equal(ok, 0);
	assert_true(now > rev);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.vlen[0], strlen(want));
	assert_memory_equal(o.val[0], want, strlen(want));
	assert_int_equal(o.kv[0].mod_rev, now);
	got_free(&o);

	/* And a swap on the revision that is current now succeeds. */
	cmp.num = now;
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 1);
	assert_int_equal(o.n, 0); /* the success branch has no range */
	assert_value(e, "cas/k", 0, "late");
}

static void test_create_if_absent(void **state)
{
	struct rdv_etcd *e = *state;
	struct got o = {0};
	int ok = -1;

	struct rdv_etcd_cmp cmp = {.key = "cia/k",
				   .klen = 5,
				   .target = RDV_ETCD_CREATE,
				   .result = RDV_ETCD_EQUAL,
				   .num = 0};
	struct rdv_etcd_op put_a = {
	    .kind = RDV_ETCD_OP_PUT, .key = "cia/k", .klen = 5, .val = "first", .vlen = 5};
	struct rdv_etcd_op get_op = {.kind = RDV_ETCD_OP_RANGE, .key = "cia/k", .klen = 5};
	struct rdv_etcd_txn t = {.cmp = &cmp,
				 .ncmp = 1,
				 .success = &put_a,
				 .nsuccess = 1,
				 .failure = &get_op,
				 .nfailure = 1,
				 .cb = collect,
				 .arg = &o};
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 1);
	put_a.val = "second";
	put_a.vlen = 6;
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 0);
	assert_int_equal(o.n, 1);
	assert_memory_equal(o.val[0], "first", 5);
	got_free(&o);
	assert_value(e, "cia/k", 0, "first");

	/* VALUE compares, and NOT_EQUAL. */
	struct rdv_etcd_cmp vcmp = {.key = "cia/k",
				    .klen = 5,
				    .target = RDV_ETCD_VALUE,
				    .result = RDV_ETCD_EQUAL,
				    .val = "first",
				    .vlen = 5};
	t.cmp = &vcmp;
	t.cb = NULL;
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 1);
	assert_value(e, "cia/k", 0, "second");
	vcmp.result = RDV_ETCD_NOT_EQUAL;
	vcmp.val = "second";
	vcmp.vlen = 6;
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 0);
	/* VERSION GREATER 1: it has two. */
	struct rdv_etcd_cmp ver = {.key = "cia/k",
				   .klen = 5,
				   .target = RDV_ETCD_VERSION,
				   .result = RDV_ETCD_GREATER,
				   .num = 1};
	t.cmp = &ver;
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 1);
}

static void test_delete(void **state)
{
	struct rdv_etcd *e = *state;
	int64_t n = -1, rev = 0;
	int ok = -1;

	put(e, "del/a", "1", NULL);
	put(e, "del/b", "2", NULL);
	put(e, "del/c", "3", NULL);
	put(e, "del/d", "4", NULL);
	put(e, "dem", "outside", NULL);
	assert_int_equal(rdv_etcd_delete(e, "del/a", 5, "del/c", 5, &n, &rev), 0);
	assert_int_equal(n, 2);
	assert_true(rev > 0);
	assert_int_equal(count(e, "del/"), 2);
	assert_int_equal(rdv_etcd_delete(e, "del/a", 5, NULL, 0, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(rdv_etcd_delete(e, "del/c", 5, NULL, 0, &n, NULL), 0);
	assert_int_equal(n, 1);

	/* A prefix delete inside a transaction. */
	uint8_t end[4];
	size_t elen = rdv_etcd_prefix_end("del/", 4, end);
	struct rdv_etcd_op op = {
	    .kind = RDV_ETCD_OP_DELETE, .key = "del/", .klen = 4, .end = end, .elen = elen};
	struct rdv_etcd_txn t = {.success = &op, .nsuccess = 1};
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), 0);
	assert_int_equal(ok, 1); /* no compare: always the success branch */
	assert_int_equal(count(e, "del/"), 0);
	assert_value(e, "dem", 0, "outside");
}

static void test_lease(void **state)
{
	struct rdv_etcd *e = *state;
	struct got o = {0};
	int64_t id = 0, ttl = 0, left = 0;

	assert_int_equal(rdv_etcd_lease_grant(e, 30, &id, &ttl), 0);
	assert_true(id != 0);
	assert_int_equal(ttl, 30);
	assert_int_equal(rdv_etcd_put(e, "lease/k", 7, "v", 1, id, NULL), 0);
	assert_int_equal(rdv_etcd_range(e, "lease/k", 7, NULL, 0, 0, collect, &o, NULL), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.kv[0].lease, id);
	got_free(&o);
	assert_int_equal(rdv_etcd_lease_keepalive(e, id, &left), 0);
	assert_true(left > 0 && left <= 30);

	/* A put inside a txn can attach a lease too. */
	struct rdv_etcd_op op = {.kind = RDV_ETCD_OP_PUT,
				 .key = "lease/t",
				 .klen = 7,
				 .val = "w",
				 .vlen = 1,
				 .lease = id};
	struct rdv_etcd_txn t = {.success = &op, .nsuccess = 1};
	assert_int_equal(rdv_etcd_txn(e, &t, NULL, NULL), 0);
	assert_int_equal(count(e, "lease/"), 2);

	assert_int_equal(rdv_etcd_lease_revoke(e, id), 0);
	assert_int_equal(count(e, "lease/"), 0);
	assert_int_equal(rdv_etcd_lease_keepalive(e, id, &left), -ENOENT);
	assert_int_equal(rdv_etcd_lease_revoke(e, id), -ENOENT);
	assert_non_null(strstr(rdv_etcd_last_error(e), "lease not found"));
	/* A put on a lease that is gone is refused. */
	assert_int_equal(rdv_etcd_put(e, "lease/k", 7, "v", 1, id, NULL), -ENOENT);
	assert_int_equal(rdv_etcd_lease_grant(e, 0, &id, NULL), -EINVAL);
}

static void test_failover(void **state)
{
	const char *dead_first[] = {g.dead_url, g.url};
	const char *silent_first[] = {g.silent_url, g.dead_url, g.url};
	const char *all_dead[] = {g.dead_url, g.silent_url};
	struct rdv_etcd *e;
	uint64_t t0, took;

	/* Refused: the next endpoint at once, and it stays the first. */
	e = rdv_etcd_open(dead_first, 2, TIMEOUT_MS, NULL, NULL, NULL);
	assert_non_null(e);
	assert_string_equal(rdv_etcd_endpoint(e), g.dead_url);
	put(e, "fo/k", "v", NULL);
	assert_string_equal(rdv_etcd_endpoint(e), g.url);
	t0 = fixture_now_ms();
	assert_value(e, "fo/k", 0, "v");
	assert_true(fixture_now_ms() - t0 < TIMEOUT_MS / 2);
	rdv_etcd_close(e);

	/* Silent: after the timeout, on through a refusal to the live one. */
	e = rdv_etcd_open(silent_first, 3, 500, NULL, NULL, NULL);
	assert_non_null(e);
	t0 = fixture_now_ms();
	assert_value(e, "fo/k", 0, "v");
	took = fixture_now_ms() - t0;
	assert_true(took >= 450 && took < 2000);
	assert_string_equal(rdv_etcd_endpoint(e), g.url);
	rdv_etcd_close(e);

	/* Nothing alive: a clean error within one timeout per endpoint. */
	e = rdv_etcd_open(all_dead, 2, 500, NULL, NULL, NULL);
	assert_non_null(e);
	t0 = fixture_now_ms();
	assert_int_equal(rdv_etcd_put(e, "fo/k", 4, "x", 1, 0, NULL), -ETIMEDOUT);
	took = fixture_now_ms() - t0;
	assert_true(took < 1500);
	assert_non_null(strstr(rdv_etcd_last_error(e), g.silent_url));
	t0 = fixture_now_ms();
	assert_true(rdv_etcd_range(e, "fo/k", 4, NULL, 0, 0, NULL, NULL, NULL) < 0);
	assert_true(fixture_now_ms() - t0 < 1500);
	rdv_etcd_close(e);
	assert_value(*state, "fo/k", 0, "v"); /* the put never landed */
}

/* etcd's refusals come back as -errno with etcd's text; the next success
 * clears it.  Last: it compacts the history. */
static void test_errors(void **state)
{
	struct rdv_etcd *e = *state;
	int64_t r1, r2;
	int ok = -1;

	put(e, "err/k", "v1", &r1);
	put(e, "err/k", "v2", &r2);
	assert_int_equal(rdv_etcd_range(e, "err/k", 5, NULL, 0, r2 + 1000, NULL, NULL, NULL),
			 -ERANGE);
	assert_non_null(strstr(rdv_etcd_last_error(e), "future revision"));
	assert_value(e, "err/k", 0, "v2");
	assert_string_equal(rdv_etcd_last_error(e), "");

	assert_int_equal(rdv_etcd_compact(e, r2), 0);
	assert_int_equal(rdv_etcd_range(e, "err/k", 5, NULL, 0, r1, NULL, NULL, NULL), -ESTALE);
	assert_non_null(strstr(rdv_etcd_last_error(e), "compacted"));
	assert_value(e, "err/k", r2, "v2");
	assert_int_equal(rdv_etcd_compact(e, r1), -ESTALE);

	assert_int_equal(rdv_etcd_put(e, "", 0, "v", 1, 0, NULL), -EINVAL);
	assert_non_null(strstr(rdv_etcd_last_error(e), "key is not provided"));

	/* One key written twice in a branch. */
	struct rdv_etcd_op ops[2] = {
	    {.kind = RDV_ETCD_OP_PUT, .key = "err/d", .klen = 5, .val = "1", .vlen = 1},
	    {.kind = RDV_ETCD_OP_PUT, .key = "err/d", .klen = 5, .val = "2", .vlen = 1},
	};
	struct rdv_etcd_txn t = {.success = ops, .nsuccess = 2};
	assert_int_equal(rdv_etcd_txn(e, &t, &ok, NULL), -EINVAL);
	assert_non_null(strstr(rdv_etcd_last_error(e), "duplicate key"));
	assert_int_equal(ok, -1);

	/* Ours: an unknown compare target never leaves the client. */
	struct rdv_etcd_cmp cmp = {.key = "err/k", .klen = 5, .target = 9};
	struct rdv_etcd_txn bad = {.cmp = &cmp, .ncmp = 1};
	assert_int_equal(rdv_etcd_txn(e, &bad, &ok, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open),
	    cmocka_unit_test(test_prefix_end),
	    cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prefix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_revision, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cas_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_if_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};
	int rc;

	if (fixture_skip_without_etcd("test_etcd"))
		return 0;
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	group_teardown(NULL); /* also when the group's setup failed half-way */
	return rc;
}
