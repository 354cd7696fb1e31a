/* test_findlim.c - the name service's registry budget (src/pilotd/findlim.c):
 * per-user and shared buckets, refill, the in-flight cap, and the
 * least recently seen user giving its place up. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "findlim.h"

#define T0 1000000 /* ms: a time after the clock's start */

/* Take for \p uid until refused; \retval how many were let through. */
static unsigned drain(struct findlim *f, uid_t uid, uint64_t now, enum findlim_verdict *why)
{
	unsigned n = 0;
	enum findlim_verdict v;

	while ((v = findlim_take(f, uid, now)) == FINDLIM_OK) {
		findlim_done(f);
		n++;
		assert_true(n <= 1000);
	}
	*why = v;
	return n;
}

static void test_user_and_shared(void **state)
{
	struct findlim f;
	enum findlim_verdict why;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(drain(&f, 65534, T0, &why), FINDLIM_UID_BURST);
	assert_int_equal(why, FINDLIM_UID);
	/* The others keep theirs: root gets its burst (half the shared
	 * bucket), and then the shared bucket is empty for everyone. */
	assert_int_equal(FINDLIM_BURST, 2 * FINDLIM_UID_BURST);
	assert_int_equal(drain(&f, 0, T0, &why), FINDLIM_UID_BURST);
	assert_int_equal(findlim_take(&f, 1000, T0), FINDLIM_ALL);
	/* A refusal by the shared bucket did not spend user 1000's token:
	 * after one second the shared bucket has FINDLIM_RATE again, and 1000
	 * gets them all (its bucket is still full). */
	assert_int_equal(drain(&f, 1000, T0 + 1000, &why), FINDLIM_RATE);
	assert_int_equal(why, FINDLIM_ALL);
	/* 65534 refills at FINDLIM_UID_RATE: 10 s later, at most its burst. */
	assert_int_equal(drain(&f, 65534, T0 + 11000, &why), FINDLIM_UID_BURST);
	assert_int_equal(why, FINDLIM_UID);
}

/* Over a long run, one user gets at most burst + rate x time. */
static void test_rate(void **state)
{
	struct findlim f;
	unsigned ok = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	for (uint64_t t = 0; t <= 10000; t += 10)
		for (int k = 0; k < 5; k++)
			if (findlim_take(&f, 42, T0 + t) == FINDLIM_OK) {
				findlim_done(&f);
				ok++;
			}
	assert_int_equal(ok, FINDLIM_UID_BURST + 10 * FINDLIM_UID_RATE);
}

static void test_inflight(void **state)
{
	struct findlim f;

	(void)state;
	memset(&f, 0, sizeof(f));
	/* Different users (each within its own bucket), none answered. */
	for (unsigned i = 0; i < FINDLIM_INFLIGHT; i++)
		assert_int_equal(findlim_take(&f, (uid_t)(i / 4), T0 + i * 1000), FINDLIM_OK);
	assert_int_equal(findlim_take(&f, 500, T0 + 100000), FINDLIM_BUSY);
	findlim_done(&f);
	assert_int_equal(findlim_take(&f, 500, T0 + 100000), FINDLIM_OK);
	/* done() never goes below zero */
	for (unsigned i = 0; i < FINDLIM_INFLIGHT + 5; i++)
		findlim_done(&f);
	assert_int_equal(f.inflight, 0);
}

static void test_eviction(void **state)
{
	struct findlim f;
	enum findlim_verdict why;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(drain(&f, 7, T0, &why), FINDLIM_UID_BURST);
	/* FINDLIM_UIDS other users, each seen later than 7 (the shared
	 * bucket refills in between): 7's place goes to the last of them. */
	for (unsigned i = 0; i < FINDLIM_UIDS; i++) {
		assert_int_equal(findlim_take(&f, (uid_t)(100 + i), T0 + 1000 * (i + 1)),
				 FINDLIM_OK);
		findlim_done(&f);
	}
	for (unsigned i = 0; i < FINDLIM_UIDS; i++)
		assert_false(f.uid[i].used && f.uid[i].uid == 7);
	/* Every user still has one place: the table never grows. */
	for (unsigned i = 0; i < FINDLIM_UIDS; i++)
		assert_true(f.uid[i].used);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_user_and_shared),
	    cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_inflight),
	    cmocka_unit_test(test_eviction),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
