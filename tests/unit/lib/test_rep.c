/* test_rep.c - the reputation formula (rep.h): each factor and its cap,
 * the fresh pool's cap against many fresh identities, bad reports'
 * double weight, the penalty cap, clamping, the boundaries at 7 days,
 * 30 days and 168 hours, and determinism. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "rep.h"

#define DAY 86400000ull
#define HOUR 3600000ull
#define NOW (400 * DAY)
#define FRESH (NOW - DAY)      /* a counterpart one day old */
#define ESTAB (NOW - 10 * DAY) /* ten days old */

static struct rep_score score_of(const struct rep_facts *f)
{
	struct rep_score s;

	rep_compute(f, NOW, &s);
	return s;
}

static void test_zero(void **state)
{
	struct rep_facts f = {.created_ms = NOW};
	struct rep_score s = score_of(&f);

	(void)state;
	assert_int_equal(s.score, 0);
	assert_int_equal(s.total, 0);
	assert_int_equal(s.age + s.uptime + s.handshakes + s.trust + s.reports + s.penalty, 0);
}

static void test_age_uptime(void **state)
{
	struct rep_facts f = {.created_ms = NOW - 15 * DAY, .online_ms = 84 * HOUR};
	struct rep_score s = score_of(&f);

	(void)state;
	assert_int_equal(s.age, 10000);
	assert_int_equal(s.uptime, 10000);
	assert_int_equal(s.score, 20);
	/* Caps: 30 days and 168 hours give the whole 20 points, no more. */
	f.created_ms = NOW - REP_AGE_FULL_MS;
	f.online_ms = REP_ONLINE_FULL_MS;
	s = score_of(&f);
	assert_int_equal(s.age, 20000);
	assert_int_equal(s.uptime, 20000);
	f.created_ms = NOW - REP_AGE_FULL_MS + 1;
	f.online_ms = REP_ONLINE_FULL_MS - 1;
	s = score_of(&f);
	assert_true(s.age < 20000 && s.age >= 19999);
	assert_true(s.uptime < 20000 && s.uptime >= 19999);
	f.created_ms = NOW - 300 * DAY;
	f.online_ms = 5000 * HOUR;
	s = score_of(&f);
	assert_int_equal(s.age, 20000);
	assert_int_equal(s.uptime, 20000);
	/* A record from the future (clock stepped back) is age 0. */
	f.created_ms = NOW + DAY;
	f.online_ms = 0;
	s = score_of(&f);
	assert_int_equal(s.age, 0);
}

static void test_established_boundary(void **state)
{
	struct rep_pool p = {0};

	(void)state;
	rep_pool_add(&p, NOW - REP_ESTABLISHED_MS, REP_REL_STRONG, NOW);
	assert_int_equal(p.established, 1000);
	rep_pool_add(&p, NOW - REP_ESTABLISHED_MS + 1, REP_REL_STRONG, NOW);
	assert_int_equal(p.fresh, 1000);
	assert_int_equal(p.n, 2);
	assert_int_equal(rep_pool_weight(&p), 2000);
	rep_pool_add(&p, ESTAB, REP_REL_OPEN, NOW);
	assert_int_equal(rep_pool_weight(&p), 2500);
	/* rel 0 (nothing shared) counts the counterpart but weighs nothing. */
	rep_pool_add(&p, ESTAB, 0, NOW);
	assert_int_equal(p.n, 4);
	assert_int_equal(rep_pool_weight(&p), 2500);
}

/* The example in doc/REGISTRY.md, which the e2e test walks. */
static void test_fresh_path(void **state)
{
	struct rep_facts f = {.created_ms = NOW};
	struct rep_score s;

	(void)state;
	rep_pool_add(&f.approvals, FRESH, REP_REL_STRONG, NOW);
	rep_pool_add(&f.approvals, FRESH, REP_REL_STRONG, NOW);
	rep_pool_add(&f.trust, FRESH, REP_REL_STRONG, NOW);
	rep_pool_add(&f.trust, FRESH, REP_REL_STRONG, NOW);
	s = score_of(&f);
	assert_int_equal(s.wh, 1000);
	assert_int_equal(s.handshakes, 6666);
	assert_int_equal(s.trust, 3333);
	assert_int_equal(s.score, 10);
	rep_pool_add(&f.good, FRESH, REP_REL_STRONG, NOW);
	s = score_of(&f);
	assert_int_equal(s.reports, 10000);
	assert_int_equal(s.score, 20);
	rep_pool_add(&f.bad, FRESH, REP_REL_STRONG, NOW);
	s = score_of(&f);
	assert_int_equal(s.reports, -6000);
	assert_int_equal(s.score, 4);
}

static void test_saturation(void **state)
{
	struct rep_facts f = {.created_ms = NOW};
	struct rep_score s;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		rep_pool_add(&f.approvals, ESTAB, REP_REL_STRONG, NOW);
		rep_pool_add(&f.trust, ESTAB, REP_REL_STRONG, NOW);
		rep_pool_add(&f.good, ESTAB, REP_REL_STRONG, NOW);
	}
	s = score_of(&f);
	assert_true(s.handshakes < 20000 && s.handshakes >= 19999);
	assert_true(s.trust < 10000 && s.trust >= 9999);
	assert_true(s.reports < 30000 && s.reports >= 29999);
	assert_int_equal(s.score, 60);
	/* Every factor at its cap: 100. */
	f.created_ms = NOW - 60 * DAY;
	f.online_ms = 1000 * HOUR;
	s = score_of(&f);
	assert_int_equal(s.score, 100);
}

/* 1000 fresh bad reporters move a score no more than one established. */
static void test_sybil(void **state)
{
	struct rep_facts base = {.created_ms = NOW - 60 * DAY, .online_ms = 200 * HOUR};
	struct rep_facts one = base, many = base;
	struct rep_score s1, sm, s0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		rep_pool_add(&base.good, ESTAB, REP_REL_STRONG, NOW);
		rep_pool_add(&one.good, ESTAB, REP_REL_STRONG, NOW);
		rep_pool_add(&many.good, ESTAB, REP_REL_STRONG, NOW);
	}
	rep_pool_add(&one.bad, ESTAB, REP_REL_STRONG, NOW);
	for (int i = 0; i < 1000; i++)
		rep_pool_add(&many.bad, FRESH, REP_REL_STRONG, NOW);
	s0 = score_of(&base);
	s1 = score_of(&one);
	sm = score_of(&many);
	assert_true(s1.total < s0.total);
	assert_int_equal(sm.b, 1000);
	assert_int_equal(sm.total, s1.total);
	assert_true(s0.score - sm.score <= s0.score - s1.score);
	/* ... and the same for praise. */
	many = base;
	for (int i = 0; i < 1000; i++)
		rep_pool_add(&many.good, FRESH, REP_REL_STRONG, NOW);
	one = base;
	rep_pool_add(&one.good, ESTAB, REP_REL_STRONG, NOW);
	assert_int_equal(score_of(&many).total, score_of(&one).total);
}

static void test_bad_double(void **state)
{
	struct rep_facts f = {.created_ms = NOW};
	struct rep_score s;

	(void)state;
	rep_pool_add(&f.good, ESTAB, REP_REL_STRONG, NOW);
	rep_pool_add(&f.good, ESTAB, REP_REL_STRONG, NOW);
	rep_pool_add(&f.bad, ESTAB, REP_REL_STRONG, NOW);
	s = score_of(&f);
	assert_int_equal(s.g, 2000);
	assert_int_equal(s.b, 1000);
	/* Two good against one bad: even. */
	assert_int_equal(s.reports, 0);
	rep_pool_add(&f.bad, ESTAB, REP_REL_STRONG, NOW);
	s = score_of(&f);
	assert_int_equal(s.reports, 30000 * (2000 - 4000) / (2000 + 4000 + 2000));
	assert_true(s.reports < 0);
	assert_int_equal(s.score, 0); /* clamped */
}

static void test_penalty(void **state)
{
	struct rep_facts f = {.created_ms = NOW - 60 * DAY, .online_ms = 1000 * HOUR};
	struct rep_score s;

	(void)state;
	s = score_of(&f);
	assert_int_equal(s.score, 40);
	f.revocations = 1;
	s = score_of(&f);
	assert_int_equal(s.penalty, 20000);
	assert_int_equal(s.score, 20);
	f.revocations = 3;
	assert_int_equal(score_of(&f).penalty, 60000);
	assert_int_equal(score_of(&f).score, 0);
	f.revocations = 4000000000u;
	assert_int_equal(score_of(&f).penalty, 60000);
	assert_int_equal(score_of(&f).total, 40000 - 60000);
	assert_int_equal(score_of(&f).score, 0);
}

static void test_rounding_determinism(void **state)
{
	struct rep_facts f = {.created_ms = NOW, .online_ms = 0};
	struct rep_score a, b;
	char buf[24];

	(void)state;
	/* 14.5 points round up to 15; 14.499 down to 14. */
	f.online_ms = REP_ONLINE_FULL_MS * 145 / 200; /* 14.5 points */
	a = score_of(&f);
	assert_int_equal(a.uptime, 14500);
	assert_int_equal(a.score, 15);
	f.online_ms -= REP_ONLINE_FULL_MS / 20000; /* one milli-point less */
	assert_int_equal(score_of(&f).score, 14);
	rep_pool_add(&f.good, FRESH, 700, NOW);
	rep_pool_add(&f.bad, ESTAB, 300, NOW);
	a = score_of(&f);
	b = score_of(&f);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_string_equal(rep_milli_str(6666, buf), "6.666");
	assert_string_equal(rep_milli_str(-6000, buf), "-6");
	assert_string_equal(rep_milli_str(6500, buf), "6.5");
	assert_string_equal(rep_milli_str(0, buf), "0");
	assert_string_equal(rep_milli_str(-1, buf), "-0.001");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zero),
	    cmocka_unit_test(test_age_uptime),
	    cmocka_unit_test(test_established_boundary),
	    cmocka_unit_test(test_fresh_path),
	    cmocka_unit_test(test_saturation),
	    cmocka_unit_test(test_sybil),
	    cmocka_unit_test(test_bad_double),
	    cmocka_unit_test(test_penalty),
	    cmocka_unit_test(test_rounding_determinism),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
