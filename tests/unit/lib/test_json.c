/* test_json.c - the bounded JSON parser and typed getters, and the checks
 * for repeated members and hidden NULs that signed documents rely on. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static yajl_val P(const char *s)
{
	char err[128];
	return json_parse(s, strlen(s), 0, err, sizeof(err));
}

static void test_getters(void **state)
{
	yajl_val v = P("{\"s\":\"x\",\"n\":18446744073709551615,\"neg\":-1,\"b\":true,"
		       "\"k\":\"AAECAw==\",\"f\":1.5,\"big\":4294967296}");
	const char *s;
	uint64_t u;
	uint32_t u32;
	int b;
	uint8_t k[4];
	(void)state;
	assert_non_null(v);
	assert_int_equal(json_get_str(v, "s", &s), 0);
	assert_string_equal(s, "x");
	assert_int_equal(json_get_str(v, "n", &s), -EINVAL);
	assert_int_equal(json_get_str(v, "absent", &s), -ENOENT);
	assert_int_equal(json_get_u64(v, "n", &u), -EINVAL); /* beyond long long in yajl */
	assert_int_equal(json_get_u64(v, "neg", &u), -EINVAL);
	assert_int_equal(json_get_u64(v, "f", &u), -EINVAL);
	assert_int_equal(json_get_u32(v, "big", &u32), -EINVAL);
	assert_int_equal(json_get_bool(v, "b", &b), 0);
	assert_true(b);
	assert_int_equal(json_get_b64(v, "k", k, 4), 0);
	assert_int_equal(k[3], 3);
	assert_int_equal(json_get_b64(v, "k", k, 3), -EINVAL);
	yajl_tree_free(v);
}

static void test_refusals(void **state)
{
	char deep[200];
	(void)state;
	assert_null(P("{\"a\":1 /* c */}")); /* comments refused on the wire */
	assert_null(P("{\"a\":"));
	assert_null(P("\x7b\"a\":\"\xff\"}"));
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_null(json_parse(deep, sizeof(deep), 0, NULL, 0));
	{
		char err[64];
		yajl_val v = json_parse("{\"a\":1 // c\n}", 13, 1, err, sizeof(err));
		assert_non_null(v); /* allowed in config files */
		yajl_tree_free(v);
	}
	assert_null(json_parse("{\"a\":1}\0x", 9, 0, NULL, 0)); /* NUL byte */
}

static void test_only_keys(void **state)
{
	static const char *const allowed[] = {"a", "b", NULL};
	yajl_val v = P("{\"a\":1,\"c\":2}");
	const char *bad = NULL;
	(void)state;
	assert_int_equal(json_only_keys(v, allowed, &bad), -EINVAL);
	assert_string_equal(bad, "c");
	yajl_tree_free(v);
	v = P("{\"a\":1,\"b\":2}");
	assert_int_equal(json_only_keys(v, allowed, &bad), 0);
	yajl_tree_free(v);
}

/* A repeated member anywhere in the tree, in objects nested in objects
 * and arrays; the same key in sibling objects is no repetition. */
static void test_dup_keys(void **state)
{
	static const struct {
		const char *json;
		bool dup;
	} cases[] = {
	    {"{}", false},
	    {"[]", false},
	    {"\"a\"", false},
	    {"{\"a\":1,\"b\":2}", false},
	    {"{\"a\":1,\"A\":1}", false}, /* keys are case-sensitive */
	    {"{\"a\":1,\"a\":1}", true},
	    {"{\"a\":1,\"b\":2,\"a\":3}", true},
	    {"{\"a\":{\"c\":1,\"c\":2}}", true},
	    {"{\"a\":{\"c\":1},\"b\":{\"c\":1}}", false},
	    {"{\"a\":[{\"x\":1},{\"x\":1}]}", false},
	    {"{\"a\":[{\"x\":1,\"x\":2}]}", true},
	    {"[1,{\"y\":[[{\"z\":0,\"z\":0}]]}]", true},
	    {"[{\"a\":1},{\"a\":2,\"b\":[{}],\"a\":3}]", true},
	    {"{\"a\":{\"a\":{\"a\":1}}}", false}, /* one per level */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		yajl_val v = P(cases[i].json);
		assert_non_null(v);
		if (json_has_dup_keys(v) != cases[i].dup)
			fail_msg("json_has_dup_keys(%s) is not %d", cases[i].json, cases[i].dup);
		yajl_tree_free(v);
	}
}

/* "\u0000" only inside strings, keys included, and not an escaped
 * backslash followed by "u0000". */
static void test_nul_escape(void **state)
{
	static const struct {
		const char *json;
		bool nul;
	} cases[] = {
	    {"{\"a\":\"x\\u0000y\"}", true}, {"{\"a\\u0000\":1}", true},
	    {"{\"a\":\"\\u0001\"}", false},  {"{\"a\":\"\\\\u0000\"}", false},
	    {"{\"a\":\"\\u00000\"}", true},  {"{\"a\":\"\\u000\"}", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (json_has_nul_escape(cases[i].json, strlen(cases[i].json)) != cases[i].nul)
			fail_msg("json_has_nul_escape(%s) is not %d", cases[i].json, cases[i].nul);
}

static void test_gen(void **state)
{
	struct json_gen j;
	const char *out;
	size_t len;
	uint8_t b[3] = {1, 2, 3};
	(void)state;
	assert_int_equal(json_gen_init(&j), 0);
	jg_map_open(&j);
	jg_kstr(&j, "s", "q\"uote");
	jg_ku64(&j, "u", UINT64_MAX);
	jg_kbool(&j, "t", 1);
	jg_kb64(&j, "b", b, 3);
	jg_map_close(&j);
	assert_int_equal(json_gen_finish(&j, &out, &len), 0);
	assert_string_equal(out, "{\"s\":\"q\\\"uote\",\"u\":18446744073709551615,\"t\":true,"
				 "\"b\":\"AQID\"}");
	json_gen_free(&j);
	/* A structural error is reported, not silently emitted. */
	assert_int_equal(json_gen_init(&j), 0);
	jg_map_open(&j);
	jg_u64(&j, 5); /* value where a key belongs */
	assert_int_equal(json_gen_finish(&j, &out, &len), -EINVAL);
	json_gen_free(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_getters),   cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_only_keys), cmocka_unit_test(test_gen),
	    cmocka_unit_test(test_dup_keys),  cmocka_unit_test(test_nul_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
