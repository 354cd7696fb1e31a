/* test_expiry.c - when peers' identities and certificate memberships end
 * (issue 14): the per-node expiry table (src/pilotd/expiry.c), member
 * expiry in the membership table (member_set_expiry, member_expire) and
 * the admission pipeline's identity stage (ADMIT_EXPIRED). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "expiry.h"
#include "member.h"
#include "store.h"

#define MAXDUE 1100

/* What expiry_due / member_expire called back with. */
struct due {
	uint32_t node[MAXDUE];
	uint16_t net[MAXDUE];
	size_t n;
};

static void due_cb(void *arg, uint32_t node)
{
	struct due *d = arg;

	assert_true(d->n < MAXDUE);
	d->node[d->n++] = node;
}

static int has_node(const struct due *d, uint32_t node)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->node[i] == node)
			return 1;
	return 0;
}

/* ------------------------------------------------------------ expiry.c */

static void test_expiry_set_get(void **state)
{
	struct expiry_table t = {0};
	struct due d = {0};

	(void)state;
	/* empty: nothing known, nothing due, clearing is harmless */
	assert_true(expiry_get(&t, 5) == 0);
	assert_false(expiry_passed(&t, 5, UINT64_MAX));
	expiry_due(&t, UINT64_MAX, due_cb, &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(expiry_set(&t, 5, 0), 0);
	assert_int_equal(t.count, 0);
	/* node 0 is nobody */
	assert_int_equal(expiry_set(&t, 0, 1000), 0);
	assert_int_equal(t.count, 0);
	assert_true(expiry_get(&t, 0) == 0);

	/* ends at the second: not before it, at it and after it */
	assert_int_equal(expiry_set(&t, 5, 1000), 0);
	assert_int_equal(t.count, 1);
	assert_true(expiry_get(&t, 5) == 1000);
	assert_true(expiry_get(&t, 6) == 0);
	assert_false(expiry_passed(&t, 5, 999));
	assert_true(expiry_passed(&t, 5, 1000));
	assert_true(expiry_passed(&t, 5, 1001));
	assert_false(expiry_passed(&t, 6, 1000));
	/* a new end replaces the old one, in place */
	assert_int_equal(expiry_set(&t, 5, 2000), 0);
	assert_int_equal(t.count, 1);
	assert_true(expiry_get(&t, 5) == 2000);
	assert_false(expiry_passed(&t, 5, 1999));
	/* "never" (0) takes the entry away */
	assert_int_equal(expiry_set(&t, 6, 3000), 0);
	assert_int_equal(expiry_set(&t, 5, 0), 0);
	assert_int_equal(t.count, 1);
	assert_true(expiry_get(&t, 5) == 0);
	assert_false(expiry_passed(&t, 5, UINT64_MAX));
	assert_true(expiry_get(&t, 6) == 3000);
	expiry_free(&t);
	assert_int_equal(t.count, 0);
	assert_true(expiry_get(&t, 6) == 0);
	/* usable again after expiry_free */
	assert_int_equal(expiry_set(&t, 6, 1), 0);
	assert_true(expiry_get(&t, 6) == 1);
	expiry_free(&t);
}

static void test_expiry_due(void **state)
{
	struct expiry_table t = {0};
	struct due d = {0};

	(void)state;
	assert_int_equal(expiry_set(&t, 5, 1000), 0);
	assert_int_equal(expiry_set(&t, 6, 2000), 0);
	expiry_due(&t, 999, due_cb, &d);
	assert_int_equal(d.n, 0);
	expiry_due(&t, 1000, due_cb, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.node[0], 5);
	/* once per end */
	expiry_due(&t, 1500, due_cb, &d);
	assert_int_equal(d.n, 1);
	/* the same end again does not re-arm it; a new one does */
	assert_int_equal(expiry_set(&t, 5, 1000), 0);
	expiry_due(&t, 1500, due_cb, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(expiry_set(&t, 5, 3000), 0);
	expiry_due(&t, 2999, due_cb, &d);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.node[1], 6);
	expiry_due(&t, 3000, due_cb, &d);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.node[2], 5);
	/* cut entries stay known: admission still refuses them */
	assert_true(expiry_passed(&t, 5, 3000));
	assert_true(expiry_passed(&t, 6, 3000));
	expiry_free(&t);
}

/* Probe clusters: nodes with the same home slot, a cluster that wraps
 * past the end of the table, removal from the middle of either. */
static void test_expiry_clusters(void **state)
{
	struct expiry_table t = {0};
	uint32_t wrap[4], same[4] = {1, 65, 129, 193}, n = 1;

	(void)state;
	/* the first table has 64 slots and node * 2654435761 (odd) mod 64
	 * is a bijection: nodes 64 apart share a home */
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(expiry_set(&t, same[i], 100 + i), 0);
	assert_int_equal(t.cap, 64);
	/* nodes whose home is the last slot: their cluster wraps to 0.. */
	while (((n * 2654435761u) & 63) != 63)
		n++;
	for (size_t i = 0; i < 4; i++) {
		wrap[i] = n + 64 * (uint32_t)i;
		assert_int_equal(expiry_set(&t, wrap[i], 200 + i), 0);
	}
	assert_int_equal(t.cap, 64);
	assert_int_equal(t.count, 8);
	for (size_t i = 0; i < 4; i++) {
		assert_true(expiry_get(&t, same[i]) == 100 + i);
		assert_true(expiry_get(&t, wrap[i]) == 200 + i);
	}
	/* out of the middle, then the head */
	assert_int_equal(expiry_set(&t, same[1], 0), 0);
	assert_int_equal(expiry_set(&t, wrap[1], 0), 0);
	assert_int_equal(expiry_set(&t, wrap[0], 0), 0);
	assert_int_equal(t.count, 5);
	assert_true(expiry_get(&t, same[0]) == 100);
	assert_true(expiry_get(&t, same[1]) == 0);
	assert_true(expiry_get(&t, same[2]) == 102);
	assert_true(expiry_get(&t, same[3]) == 103);
	assert_true(expiry_get(&t, wrap[0]) == 0);
	assert_true(expiry_get(&t, wrap[1]) == 0);
	assert_true(expiry_get(&t, wrap[2]) == 202);
	assert_true(expiry_get(&t, wrap[3]) == 203);
	/* and back in */
	assert_int_equal(expiry_set(&t, wrap[0], 300), 0);
	assert_true(expiry_get(&t, wrap[0]) == 300);
	assert_true(expiry_get(&t, wrap[3]) == 203);
	assert_int_equal(t.count, 6);
	expiry_free(&t);
}

/* The table grows as it fills (never more than 3/4 full) and keeps every
 * entry across growth and removals. */
static void test_expiry_bounds(void **state)
{
	struct expiry_table t = {0};
	struct due d = {0};
	const uint32_t N = 1000;

	(void)state;
	for (uint32_t i = 1; i <= N; i++) {
		assert_int_equal(expiry_set(&t, i * 7919u, 100 + i), 0);
		assert_true(t.count * 4 <= t.cap * 3);
		assert_int_equal(t.cap & (t.cap - 1), 0); /* a power of two */
	}
	assert_int_equal(t.count, N);
	for (uint32_t i = 1; i <= N; i++)
		assert_true(expiry_get(&t, i * 7919u) == 100 + i);
	/* every odd one goes */
	for (uint32_t i = 1; i <= N; i += 2)
		assert_int_equal(expiry_set(&t, i * 7919u, 0), 0);
	assert_int_equal(t.count, N / 2);
	for (uint32_t i = 1; i <= N; i++)
		assert_true(expiry_get(&t, i * 7919u) == (i % 2 ? 0 : 100 + i));
	/* due: exactly those that are left and ended, once each */
	expiry_due(&t, 100 + N / 2, due_cb, &d);
	assert_int_equal(d.n, N / 4);
	for (size_t i = 0; i < d.n; i++) {
		uint32_t k = d.node[i] / 7919u;
		assert_int_equal(k % 2, 0);
		assert_true(k <= N / 2);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(d.node[j], d.node[i]);
	}
	expiry_due(&t, UINT64_MAX, due_cb, &d);
	assert_int_equal(d.n, N / 2);
	expiry_free(&t);
}

/* ------------------------------------------------------------ member.c */

struct menv {
	char dir[64];
	struct store *st;
	struct member_table m;
};

static int msetup(void **state)
{
	static const char *const dbs[] = {"networks", NULL};
	struct menv *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/pilot-test-expiry.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->st = store_open(e->dir, dbs, 16 << 20);
	assert_non_null(e->st);
	assert_int_equal(member_init(&e->m, e->st), 0);
	assert_int_equal(member_net_add(&e->m, 3, "pki", "ca"), 0);
	assert_int_equal(member_net_add(&e->m, 4, "lab", "open"), 0);
	*state = e;
	return 0;
}

static int mteardown(void **state)
{
	struct menv *e = *state;
	char cmd[128];

	member_free(&e->m);
	store_close(e->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void member_cb(void *arg, uint16_t net, uint32_t node)
{
	struct due *d = arg;

	assert_true(d->n < MAXDUE);
	d->net[d->n] = net;
	d->node[d->n++] = node;
}

static const uint8_t PK[32] = {1};

static void test_member_expire(void **state)
{
	struct menv *e = *state;
	struct member_table *m = &e->m;
	struct due d = {0};

	member_add(m, 3, 10, PK, "a");
	member_add(m, 3, 11, PK, "b");
	member_add(m, 3, 12, PK, "c");
	member_add(m, 4, 10, PK, "a");
	member_set_expiry(m, 3, 10, 1000);
	member_set_expiry(m, 3, 11, 2000);
	member_set_expiry(m, 4, 10, 1000);
	member_set_expiry(m, 3, 99, 1000); /* not a member: nothing */
	member_set_expiry(m, 0, 10, 1000); /* the backbone: nothing */
	assert_int_equal(m->expiring, 3);
	assert_true(member_find(m, 3, 10)->not_after == 1000);
	/* setting the same end again counts once */
	member_set_expiry(m, 3, 10, 1000);
	assert_int_equal(m->expiring, 3);

	/* before the end: nothing; at it: both of node 10's, after removal */
	member_expire(m, 999, member_cb, &d);
	assert_int_equal(d.n, 0);
	member_expire(m, 1000, member_cb, &d);
	assert_int_equal(d.n, 2);
	assert_true((d.net[0] == 3 && d.net[1] == 4) || (d.net[0] == 4 && d.net[1] == 3));
	assert_int_equal(d.node[0], 10);
	assert_int_equal(d.node[1], 10);
	assert_null(member_find(m, 3, 10));
	assert_null(member_find(m, 4, 10));
	assert_int_equal(member_shared(m, 10), 0);
	assert_non_null(member_find(m, 3, 11));
	assert_non_null(member_find(m, 3, 12));
	assert_int_equal(m->expiring, 1);
	assert_int_equal(m->count, 2);
	/* once */
	member_expire(m, 1500, member_cb, &d);
	assert_int_equal(d.n, 2);

	/* "never" takes the end away */
	member_set_expiry(m, 3, 11, 0);
	assert_int_equal(m->expiring, 0);
	member_expire(m, UINT64_MAX, member_cb, &d);
	assert_int_equal(d.n, 2);
	assert_non_null(member_find(m, 3, 11));

	/* removing or clearing an entry with an end keeps the count right */
	member_set_expiry(m, 3, 12, 500);
	assert_int_equal(m->expiring, 1);
	member_remove(m, 3, 12);
	assert_int_equal(m->expiring, 0);
	member_set_expiry(m, 3, 11, 500);
	member_add(m, 4, 11, PK, "b");
	member_set_expiry(m, 4, 11, 700);
	assert_int_equal(m->expiring, 2);
	member_clear_net(m, 3);
	assert_int_equal(m->expiring, 1);
	member_expire(m, 700, member_cb, &d);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.net[2], 4);
	assert_int_equal(d.node[2], 11);
	assert_int_equal(m->expiring, 0);
	/* a member that joins again starts without an end */
	member_add(m, 4, 11, PK, "b");
	assert_true(member_find(m, 4, 11)->not_after == 0);
}

/* Many ends, across growth of the table: each member goes at its own
 * second, once, and the others stay. */
static void test_member_expire_many(void **state)
{
	struct menv *e = *state;
	struct member_table *m = &e->m;
	struct due d = {0};
	const uint32_t N = 600;

	for (uint32_t i = 1; i <= N; i++) {
		member_add(m, 3, i, PK, NULL);
		member_set_expiry(m, 3, i, i % 3 ? i : 0); /* every third: never */
		member_add(m, 4, i, PK, NULL);
	}
	assert_int_equal(m->count, 2 * N);
	assert_int_equal(m->expiring, N - N / 3);
	member_expire(m, N / 2, member_cb, &d);
	assert_int_equal(d.n, N / 2 - N / 6);
	for (size_t i = 0; i < d.n; i++) {
		assert_int_equal(d.net[i], 3);
		assert_true(d.node[i] <= N / 2 && d.node[i] % 3 != 0);
	}
	for (uint32_t i = 1; i <= N; i++) {
		int gone = i <= N / 2 && i % 3 != 0;
		assert_int_equal(member_find(m, 3, i) == NULL, gone);
		assert_non_null(member_find(m, 4, i));
		assert_int_equal(has_node(&d, i), gone);
	}
	member_expire(m, UINT64_MAX, member_cb, &d);
	assert_int_equal(d.n, N - N / 3);
	assert_int_equal(m->expiring, 0);
	assert_int_equal(m->count, N + N / 3);
}

/* ------------------------------------------------------------ admit.c */

struct fake {
	struct expiry_table exp;
	uint64_t now_s;
	uint32_t trusted, blocked, revoked;
};

static int f_expired(void *c, uint32_t n)
{
	struct fake *fk = c;

	return expiry_passed(&fk->exp, n, fk->now_s);
}
static int f_trusted(void *c, uint32_t n)
{
	return ((struct fake *)c)->trusted == n;
}
static int f_blocked(void *c, uint32_t n)
{
	return ((struct fake *)c)->blocked == n;
}
static int f_revoked(void *c, uint32_t n)
{
	return ((struct fake *)c)->revoked == n;
}

static enum admit_reason ask(struct admit *a, uint32_t node)
{
	struct pkt_info pi;
	struct admit_req r;

	memset(&pi, 0, sizeof(pi));
	inet_pton(AF_INET6, "fd00:1:2:0::1", &pi.src);
	inet_pton(AF_INET6, "fd00:1:2:0::2", &pi.dst);
	pi.proto = 17;
	pi.kind = PKT_UDP;
	pi.sport = 40000;
	pi.dport = 53;
	pi.len = 60;
	memset(&r, 0, sizeof(r));
	r.peer_node = node;
	r.pi = &pi;
	r.now_ms = 1000;
	return admit_check(a, &r);
}

static void test_admit_expired(void **state)
{
	static const struct admit_ops ops = {.is_blocked = f_blocked,
					     .is_revoked = f_revoked,
					     .is_expired = f_expired,
					     .is_trusted = f_trusted};
	static const struct admit_ops no_expiry = {.is_trusted = f_trusted};
	struct fake fk = {.trusted = 5, .now_s = 999};
	struct admit a;

	(void)state;
	assert_string_equal(admit_reason_name(ADMIT_EXPIRED), "identity_expired");
	assert_true(admit_reason_answered(ADMIT_EXPIRED));
	assert_int_equal(admit_init(&a, &ops, &fk), 0);
	assert_int_equal(expiry_set(&fk.exp, 5, 1000), 0);
	assert_int_equal(expiry_set(&fk.exp, 6, 1000), 0);
	/* before the end, at it */
	assert_int_equal(ask(&a, 5), ADMIT_OK);
	fk.now_s = 1000;
	assert_int_equal(ask(&a, 5), ADMIT_EXPIRED);
	assert_int_equal(a.denied[ADMIT_EXPIRED], 1);
	/* identity before basis: an untrusted expired node is "expired" */
	assert_int_equal(ask(&a, 6), ADMIT_EXPIRED);
	assert_int_equal(ask(&a, 7), ADMIT_NOT_TRUSTED);
	/* the block list and revocation come first */
	fk.revoked = 5;
	assert_int_equal(ask(&a, 5), ADMIT_REVOKED);
	fk.blocked = 5;
	assert_int_equal(ask(&a, 5), ADMIT_BLOCKED);
	fk.revoked = fk.blocked = 0;
	/* the tunnel stays (refusals reach the peer through it) */
	assert_true(admit_peer(&a, 5));
	/* renewed ("never"): admitted again */
	assert_int_equal(expiry_set(&fk.exp, 5, 0), 0);
	assert_int_equal(ask(&a, 5), ADMIT_OK);
	assert_int_equal(a.denied[ADMIT_EXPIRED], 2);
	admit_free(&a);
	/* a daemon without the hook has no identity expiry */
	assert_int_equal(expiry_set(&fk.exp, 5, 1), 0);
	assert_int_equal(admit_init(&a, &no_expiry, &fk), 0);
	assert_int_equal(ask(&a, 5), ADMIT_OK);
	admit_free(&a);
	expiry_free(&fk.exp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expiry_set_get),
	    cmocka_unit_test(test_expiry_due),
	    cmocka_unit_test(test_expiry_clusters),
	    cmocka_unit_test(test_expiry_bounds),
	    cmocka_unit_test_setup_teardown(test_member_expire, msetup, mteardown),
	    cmocka_unit_test_setup_teardown(test_member_expire_many, msetup, mteardown),
	    cmocka_unit_test(test_admit_expired),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
