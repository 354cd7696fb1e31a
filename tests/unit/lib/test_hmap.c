/* test_hmap.c - the fixed-size hash table: against a plain array as the
 * reference, under random inserts and deletes (the backward shift must
 * keep every run reachable), its bound, and its argument checks. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include "hmap.h"

#define N 4000

struct ref {
	uint8_t key[20];
	uint32_t val;
	int in;
};

static void test_random_against_reference(void **state)
{
	static struct ref r[N];
	struct hmap *m = hmap_new(20, sizeof(uint32_t), 0);
	size_t in = 0;
	int is_new;

	(void)state;
	assert_non_null(m);
	randombytes_buf(r, sizeof(r));
	for (size_t i = 0; i < N; i++)
		r[i].in = 0;
	/* Bounded: 20 rounds over N keys, each a put or a delete. */
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < N; i++) {
			int del = randombytes_uniform(3) == 0;
			if (del) {
				assert_int_equal(hmap_del(m, r[i].key), r[i].in ? 0 : -ENOENT);
				in -= r[i].in;
				r[i].in = 0;
			} else {
				uint32_t *v = hmap_put(m, r[i].key, &is_new);
				assert_non_null(v);
				assert_int_equal(is_new, !r[i].in);
				if (is_new)
					assert_int_equal(*v, 0);
				else
					assert_int_equal(*v, r[i].val);
				r[i].val = randombytes_random();
				*v = r[i].val;
				in += !r[i].in;
				r[i].in = 1;
			}
		}
		assert_int_equal(hmap_count(m), in);
		for (size_t i = 0; i < N; i++) {
			uint32_t *v = hmap_get(m, r[i].key);
			if (r[i].in) {
				assert_non_null(v);
				assert_int_equal(*v, r[i].val);
			} else {
				assert_null(v);
			}
		}
	}
	hmap_free(m);
}

static void test_bound_and_set(void **state)
{
	struct hmap *m = hmap_new(4, 0, 3);
	uint32_t k;
	int is_new;

	(void)state;
	assert_non_null(m);
	for (k = 1; k <= 3; k++) {
		assert_non_null(hmap_put(m, &k, &is_new));
		assert_int_equal(is_new, 1);
	}
	k = 4;
	errno = 0;
	assert_null(hmap_put(m, &k, &is_new));
	assert_int_equal(errno, ENOSPC);
	k = 2; /* a key already in is found, full or not */
	assert_non_null(hmap_put(m, &k, &is_new));
	assert_int_equal(is_new, 0);
	assert_int_equal(hmap_del(m, &k), 0);
	k = 4;
	assert_non_null(hmap_put(m, &k, &is_new));
	assert_non_null(hmap_get(m, &k));
	assert_int_equal(hmap_count(m), 3);
	/* cleared: nothing found, and the bound counts from zero again */
	assert_int_equal(hmap_clear(m), 0);
	assert_int_equal(hmap_count(m), 0);
	assert_null(hmap_get(m, &k));
	for (k = 10; k < 13; k++)
		assert_non_null(hmap_put(m, &k, &is_new));
	assert_null(hmap_put(m, &k, &is_new));
	hmap_free(m);
	hmap_free(NULL);
}

/* A cleared table is empty, takes new keys up to its bound again, and
 * forgets every old key (also under its new hash key). */
static void test_clear(void **state)
{
	struct hmap *m = hmap_new(4, sizeof(uint32_t), 100);
	uint32_t k, *v;
	int is_new;

	(void)state;
	assert_non_null(m);
	for (k = 0; k < 100; k++) {
		assert_non_null(v = hmap_put(m, &k, &is_new));
		*v = k + 1;
	}
	assert_int_equal(hmap_clear(m), 0);
	assert_int_equal(hmap_count(m), 0);
	for (k = 0; k < 100; k++)
		assert_null(hmap_get(m, &k));
	for (k = 1000; k < 1100; k++) {
		assert_non_null(v = hmap_put(m, &k, &is_new));
		assert_int_equal(is_new, 1);
		assert_int_equal(*v, 0);
	}
	errno = 0;
	assert_null(hmap_put(m, &k, &is_new));
	assert_int_equal(errno, ENOSPC);
	for (k = 1000; k < 1100; k++)
		assert_non_null(hmap_get(m, &k));
	assert_int_equal(hmap_clear(m), 0);
	assert_int_equal(hmap_clear(m), 0); /* an empty one too */
	assert_int_equal(hmap_count(m), 0);
	hmap_free(m);
}

static void test_bad_sizes(void **state)
{
	(void)state;
	errno = 0;
	assert_null(hmap_new(0, 4, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(hmap_new(HMAP_KEY_MAX + 1, 4, 0));
	assert_null(hmap_new(8, 5000, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_against_reference),
	    cmocka_unit_test(test_bound_and_set),
	    cmocka_unit_test(test_clear),
	    cmocka_unit_test(test_bad_sizes),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
