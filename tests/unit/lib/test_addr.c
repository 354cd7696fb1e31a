/* test_addr.c - Pilot address text <=> 48-bit <=> IPv6, both ways. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "addr.h"

static void test_spec_example(void **state)
{
	struct pilot_addr a;
	struct pilot_prefix p;
	struct in6_addr ip, want;
	char buf[PILOT_ADDR_STRLEN];

	(void)state;
	assert_int_equal(addr_parse("1:0001.0000.002A", &a), 0);
	assert_int_equal(a.net, 1);
	assert_int_equal(a.node, 42);
	assert_string_equal(addr_format(&a, buf), "1:0001.0000.002A");
	assert_int_equal(prefix_parse("fd4e:1c3a:9b20::/48", &p), 0);
	addr_to_ipv6(&p, &a, &ip);
	inet_pton(AF_INET6, "fd4e:1c3a:9b20:1::2a", &want);
	assert_memory_equal(&ip, &want, 16);
}

static void test_roundtrip(void **state)
{
	static const struct pilot_addr cases[] = {
	    {0, 1}, {0, 0xffffffff}, {65535, 0x12345678}, {7, 0x0001abcd}, {256, 0x80000000},
	};
	struct pilot_prefix p;
	(void)state;
	prefix_generate(&p);
	assert_int_equal(p.b[0], 0xfd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pilot_addr a = cases[i], b;
		struct in6_addr ip;
		char buf[PILOT_ADDR_STRLEN];
		addr_format(&a, buf);
		assert_int_equal(addr_parse(buf, &b), 0);
		assert_int_equal(b.net, a.net);
		assert_int_equal(b.node, a.node);
		addr_from_u48(addr_to_u48(&a), &b);
		assert_int_equal(b.net, a.net);
		assert_int_equal(b.node, a.node);
		addr_to_ipv6(&p, &a, &ip);
		assert_int_equal(addr_from_ipv6(&p, &ip, &b), 0);
		assert_int_equal(b.net, a.net);
		assert_int_equal(b.node, a.node);
	}
}

static void test_lowercase_and_socket(void **state)
{
	struct pilot_addr a;
	uint16_t port;
	(void)state;
	assert_int_equal(addr_parse("1:0001.0000.002a", &a), 0);
	assert_int_equal(a.node, 42);
	assert_int_equal(addr_parse_socket("1:0001.0000.002A:8080", &a, &port), 0);
	assert_int_equal(port, 8080);
	assert_int_equal(addr_parse_socket("1:0001.0000.002A:0", &a, &port), 0);
	assert_int_equal(addr_parse_socket("1:0001.0000.002A:65536", &a, &port), -EINVAL);
	assert_int_equal(addr_parse_socket("1:0001.0000.002A:", &a, &port), -EINVAL);
	assert_int_equal(addr_parse_socket("1:0001.0000.002A", &a, &port), -EINVAL);
	assert_int_equal(addr_parse_socket("1:0001.0000.002A:80x", &a, &port), -EINVAL);
}

static void test_malformed(void **state)
{
	static const char *bad[] = {
	    "",
	    "1",
	    "1:",
	    "2:0001.0000.002A",	 /* network fields disagree */
	    "1:0001.0000.002A ", /* trailing junk */
	    " 1:0001.0000.002A",
	    "1:0001.0000.02A",	 /* short group */
	    "1:0001.0000.0002A", /* long group */
	    "1:0001:0000:002A",
	    "1:0001.0000.00G2",
	    "65536:0000.0000.0001",
	    "123456:0000.0000.0001",
	    "-1:FFFF.0000.0001",
	    ":0001.0000.002A",
	    "1:0001.0000",
	    "0x1:0001.0000.002A",
	};
	struct pilot_addr a;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_parse(bad[i], &a), -EINVAL);
}

static void test_ipv6_refused(void **state)
{
	struct pilot_prefix p, q;
	struct in6_addr ip;
	struct pilot_addr a;
	(void)state;
	assert_int_equal(prefix_parse("fd4e:1c3a:9b20::", &p), 0);
	inet_pton(AF_INET6, "fd4e:1c3a:9b21:1::2a", &ip); /* other deployment */
	assert_int_equal(addr_from_ipv6(&p, &ip, &a), -EINVAL);
	inet_pton(AF_INET6, "fd4e:1c3a:9b20:1:1::2a", &ip); /* zero bits set */
	assert_int_equal(addr_from_ipv6(&p, &ip, &a), -EINVAL);
	assert_int_equal(prefix_parse("2001:db8::/48", &q), -EINVAL); /* not ULA */
	assert_int_equal(prefix_parse("fd4e:1c3a:9b20::/64", &q), -EINVAL);
	assert_int_equal(prefix_parse("fd4e:1c3a:9b20:1::/48", &q), -EINVAL);
	assert_int_equal(prefix_parse("fd4e:1c3a:9b20::/48x", &q), -EINVAL);
	assert_int_equal(prefix_parse("nonsense", &q), -EINVAL);
}

static void test_prefix_format(void **state)
{
	struct pilot_prefix p, q;
	char buf[64];
	(void)state;
	for (int i = 0; i < 50; i++) {
		prefix_generate(&p);
		prefix_format(&p, buf, sizeof(buf));
		assert_int_equal(prefix_parse(buf, &q), 0);
		assert_memory_equal(p.b, q.b, 6);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_example),	 cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_lowercase_and_socket), cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_ipv6_refused),	 cmocka_unit_test(test_prefix_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
