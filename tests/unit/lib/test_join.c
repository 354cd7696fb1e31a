/* test_join.c - the join string codec (src/lib/join.c): round trips, and
 * every way a string is refused.  Payloads with a valid checksum are built
 * here from the documented format (doc/JOIN.md), independently of the
 * encoder, so the JSON checks behind the checksum are reached. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include "join.h"

#define PIN "q2lE6fQRcE2ozD8cnyBTs1QdHX2ddl4dPyPbr8rR/mY="
#define PIN_HEX "ab6944e9f411704da8cc3f1c9f2053b3541d1d7d9d765e1d3f23dbafcad1fe66"
#define B64URL "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/* "pilot-join1:" + base64url(json || first 4 bytes of BLAKE2b-128(json)). */
static void wrap(const char *json, char *out, size_t outlen)
{
	uint8_t raw[4096], h[16];
	size_t n = strlen(json);

	assert_true(n + 4 <= sizeof(raw));
	memcpy(raw, json, n);
	crypto_generichash(h, sizeof(h), raw, n, NULL, 0);
	memcpy(raw + n, h, 4);
	snprintf(out, outlen, "pilot-join1:");
	sodium_bin2base64(out + 12, outlen - 12, raw, n + 4,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int decode_str(const char *s, struct join_info *ji, char *err, size_t errlen)
{
	return join_decode(s, strlen(s), ji, err, errlen);
}

static void fill(struct join_info *ji, const char *reg, const char *pin, uint16_t net,
		 const char *tok)
{
	memset(ji, 0, sizeof(*ji));
	snprintf(ji->registry, sizeof(ji->registry), "%s", reg);
	snprintf(ji->pin, sizeof(ji->pin), "%s", pin);
	ji->network = net;
	snprintf(ji->token, sizeof(ji->token), "%s", tok);
}

static void round_trip(const struct join_info *in)
{
	char s[JOIN_MAX_LEN + 1], err[256];
	struct join_info out;
	int n = join_encode(in, s, sizeof(s), err, sizeof(err));

	assert_true(n > 12);
	assert_int_equal((size_t)n, strlen(s));
	assert_memory_equal(s, "pilot-join1:", 12);
	assert_int_equal(strspn(s + 12, B64URL), strlen(s + 12));
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), 0);
	assert_string_equal(out.registry, in->registry);
	assert_string_equal(out.pin, in->pin);
	assert_int_equal(out.network, in->network);
	assert_string_equal(out.token, in->token);
}

static void test_round_trip(void **state)
{
	struct join_info ji;
	char tok[JOIN_TOKEN_MAX + 1];

	(void)state;
	fill(&ji, "198.18.0.1:9000", PIN, 0, "");
	round_trip(&ji);
	fill(&ji, "rdv.example:8443", PIN, 7, "lab-token-0123456789");
	round_trip(&ji);
	fill(&ji, "[2001:db8::1]:9000", PIN_HEX, 65535, "");
	round_trip(&ji);
	fill(&ji, "rdv.example:9000", "sha256//" PIN, 1, "t:with:colons and spaces");
	round_trip(&ji);
	memset(tok, 'x', JOIN_TOKEN_MAX);
	tok[JOIN_TOKEN_MAX] = '\0';
	fill(&ji, "rdv.example:9000", PIN, 9, tok);
	round_trip(&ji);
}

static void test_whitespace_around(void **state)
{
	struct join_info in, out;
	char s[JOIN_MAX_LEN + 16], err[256];

	(void)state;
	fill(&in, "198.18.0.1:9000", PIN, 3, "");
	s[0] = ' ';
	assert_true(join_encode(&in, s + 1, sizeof(s) - 1, err, sizeof(err)) > 0);
	strcat(s, "\r\n");
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), 0);
	assert_int_equal(out.network, 3);
	/* white space inside is a copying error */
	fill(&in, "198.18.0.1:9000", PIN, 0, "");
	assert_true(join_encode(&in, s, sizeof(s), err, sizeof(err)) > 0);
	memmove(s + 21, s + 20, strlen(s + 20) + 1);
	s[20] = ' ';
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "base64url"));
}

/* One character changed anywhere after the prefix: never accepted. */
static void test_checksum(void **state)
{
	struct join_info in, out;
	char s[JOIN_MAX_LEN + 1], t[JOIN_MAX_LEN + 1], err[256];
	size_t n, mismatches = 0;

	(void)state;
	fill(&in, "rdv.example:8443", PIN, 7, "lab-token-0123456789");
	assert_true(join_encode(&in, s, sizeof(s), err, sizeof(err)) > 0);
	n = strlen(s);
	for (size_t i = 12; i < n; i++) {
		memcpy(t, s, n + 1);
		t[i] = t[i] == 'A' ? 'B' : 'A';
		int ret = decode_str(t, &out, err, sizeof(err));
		/* The last character also carries unused bits: a change there
		 * may make the base64 itself non-canonical. */
		assert_true(ret == -EBADMSG || (i == n - 1 && ret == -EINVAL));
		if (ret == -EBADMSG) {
			assert_string_equal(err, "join string checksum mismatch: copied wrongly?");
			mismatches++;
		}
		/* nothing of a refused string is left behind */
		assert_int_equal(out.registry[0], 0);
		assert_int_equal(out.token[0], 0);
	}
	assert_true(mismatches >= n - 13);
}

static void test_version_and_prefix(void **state)
{
	struct join_info in, out;
	char s[JOIN_MAX_LEN + 1], err[256];

	(void)state;
	fill(&in, "198.18.0.1:9000", PIN, 0, "");
	assert_true(join_encode(&in, s, sizeof(s), err, sizeof(err)) > 0);
	s[10] = '2';
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "unsupported join string version 2"));
	assert_int_equal(decode_str("pilot-join12:AAAA", &out, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(decode_str("pilot-join01:AAAA", &out, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_int_equal(decode_str("pilot-join:AAAA", &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a join string"));
	assert_int_equal(decode_str("pilot-join1", &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(decode_str("hello", &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a join string"));
	assert_int_equal(decode_str("", &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(decode_str("PILOT-JOIN1:AAAA", &out, err, sizeof(err)), -EINVAL);
}

static void test_oversized(void **state)
{
	static char s[JOIN_MAX_LEN + 2];
	struct join_info out;
	char err[256];

	(void)state;
	memcpy(s, "pilot-join1:", 12);
	memset(s + 12, 'A', sizeof(s) - 13);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(strlen(s), JOIN_MAX_LEN + 1);
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "too long"));
	/* Just at the limit it is looked at (and is garbage). */
	s[JOIN_MAX_LEN] = '\0';
	assert_int_not_equal(decode_str(s, &out, err, sizeof(err)), -E2BIG);
}

static void test_bad_base64(void **state)
{
	static const char *const bad[] = {
	    "pilot-join1:eyJyIjoiMTk4LjE4LjAuMTo5MDAwIn0=", /* padding */
	    "pilot-join1:eyJyIjoiMTk4+LjE4LjAuMTo5MDAwIn0", /* standard alphabet */
	    "pilot-join1:eyJyIjoi*MTk4LjE4LjAuMTo5MDAwIn0",
	    "pilot-join1:A", /* a length base64 cannot have */
	    "pilot-join1:",
	};
	struct join_info out;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode_str(bad[i], &out, err, sizeof(err)), -EINVAL);
		assert_true(strstr(err, "base64url") || strstr(err, "too short"));
	}
	assert_int_equal(decode_str("pilot-join1:AAAAAA", &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too short"));
}

/* Well-formed strings whose JSON is not a join string's. */
static void test_strict_fields(void **state)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"x\":1}", "unknown key 'x'"},
	    {"{\"r\":1,\"p\":\"" PIN "\"}", "key 'r'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":[]}", "key 'p'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":\"7\"}", "key 'n'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":0}", "key 'n'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":65536}", "key 'n'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":7.5}", "key 'n'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":-7}", "key 'n'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"t\":\"tok\"}", "needs a network"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":7,\"t\":\"\"}", "key 't'"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":7,\"t\":\"a\\u0001b\"}",
	     "network token"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":7,\"t\":\"ab\\u0000cd\"}",
	     "not a JSON object"},
	    {"{\"p\":\"" PIN "\"}", "address"},
	    {"{\"r\":\"198.18.0.1:9000\"}", "pin"},
	    {"{\"r\":\"198.18.0.1:9000\",\"r\":\"198.18.0.2:9000\",\"p\":\"" PIN "\"}",
	     "not a JSON object"},
	    {"{\"r\":\"198.18.0.1\",\"p\":\"" PIN "\"}", "registry address"},
	    {"{\"r\":\"198.18.0.1:0\",\"p\":\"" PIN "\"}", "registry address"},
	    {"{\"r\":\"bad host:9000\",\"p\":\"" PIN "\"}", "registry address"},
	    {"{\"r\":\"-x:9000\",\"p\":\"" PIN "\"}", "registry address"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"not-a-pin\"}", "registry pin"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\"/*c*/}", "not a JSON object"},
	    {"[\"198.18.0.1:9000\"]", "not a JSON object"},
	    {"{\"r\":\"198.18.0.1:9000\",\"p\":", "not a JSON object"},
	    {"\"r\"", "not a JSON object"},
	};
	struct join_info out;
	char s[JOIN_MAX_LEN + 1], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wrap(bad[i].json, s, sizeof(s));
		err[0] = '\0';
		if (decode_str(s, &out, err, sizeof(err)) != -EINVAL || !strstr(err, bad[i].msg))
			fail_msg("%s: got '%s', want '%s'", bad[i].json, err, bad[i].msg);
		assert_int_equal(out.registry[0], 0);
	}
	/* The same framing with a good payload decodes (the table tests the
	 * payload, not the framing). */
	wrap("{\"r\":\"198.18.0.1:9000\",\"p\":\"" PIN "\",\"n\":7,\"t\":\"tok-1\"}", s, sizeof(s));
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), 0);
	assert_string_equal(out.token, "tok-1");
	/* Key order is free. */
	wrap("{\"n\":7,\"p\":\"" PIN "\",\"r\":\"198.18.0.1:9000\"}", s, sizeof(s));
	assert_int_equal(decode_str(s, &out, err, sizeof(err)), 0);
	assert_int_equal(out.network, 7);
}

static void test_encode_refuses(void **state)
{
	struct join_info in;
	char s[JOIN_MAX_LEN + 1], err[256];

	(void)state;
	fill(&in, "0.0.0.0", PIN, 0, "");
	assert_int_equal(join_encode(&in, s, sizeof(s), err, sizeof(err)), -EINVAL);
	fill(&in, "198.18.0.1:9000", "AAAA", 0, "");
	assert_int_equal(join_encode(&in, s, sizeof(s), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pin"));
	fill(&in, "198.18.0.1:9000", PIN, 0, "secret-token");
	assert_int_equal(join_encode(&in, s, sizeof(s), err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "secret-token"));
	fill(&in, "198.18.0.1:9000", PIN, 7, "bad\ttoken");
	assert_int_equal(join_encode(&in, s, sizeof(s), err, sizeof(err)), -EINVAL);
	assert_null(strstr(err, "bad\ttoken"));
	fill(&in, "198.18.0.1:9000", PIN, 7, "");
	memset(in.token, 'x', JOIN_TOKEN_MAX); /* the longest token there is */
	assert_true(join_encode(&in, s, sizeof(s), err, sizeof(err)) > 0);
	/* too small an output buffer */
	assert_int_equal(join_encode(&in, s, 100, err, sizeof(err)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	  cmocka_unit_test(test_whitespace_around),
	    cmocka_unit_test(test_checksum),	  cmocka_unit_test(test_version_and_prefix),
	    cmocka_unit_test(test_oversized),	  cmocka_unit_test(test_bad_base64),
	    cmocka_unit_test(test_strict_fields), cmocka_unit_test(test_encode_refuses),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
