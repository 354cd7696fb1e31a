/* test_path.c - the words for a tunnel path (ctl_path.c): what `pilotctl
 * ping` prints after "via" and when the path changes. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ctl.h"

static void test_path_text(void **state)
{
	static const struct {
		const char *path, *endpoint, *want;
	} cases[] = {
	    {"direct", "198.18.0.3:4242", "direct 198.18.0.3:4242"},
	    {"punched", "198.18.0.12:4242", "punched 198.18.0.12:4242"},
	    /* pilotd's state is "relayed"; its endpoint is then the beacon */
	    {"relayed", "198.18.0.1:9001", "relay 198.18.0.1:9001"},
	    {"relayed", "[fd00::1]:9001", "relay [fd00::1]:9001"},
	    {"relayed", "", "relay"},
	    {"none", "198.18.0.3:4242", "none"},
	    {"", "", "none"},
	    {NULL, NULL, "none"},
	    {"direct", NULL, "direct"},
	    /* a word this pilotctl does not know yet is shown as it came */
	    {"quic", "198.18.0.3:443", "quic 198.18.0.3:443"},
	};
	char buf[96];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(
		    ctl_path_text(cases[i].path, cases[i].endpoint, buf, sizeof(buf)),
		    cases[i].want);
}

static void test_path_text_truncates(void **state)
{
	char buf[8];
	(void)state;
	assert_string_equal(ctl_path_text("direct", "198.18.0.3:4242", buf, sizeof(buf)),
			    "direct ");
}

static void test_path_change(void **state)
{
	char from[96], to[96], line[256];
	(void)state;
	ctl_path_text("relayed", "198.18.0.1:9001", from, sizeof(from));
	ctl_path_text("punched", "198.18.0.12:4242", to, sizeof(to));
	assert_string_equal(ctl_path_change("bob", from, to, line, sizeof(line)),
			    "path to bob: relay 198.18.0.1:9001 -> punched 198.18.0.12:4242");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_text),
	    cmocka_unit_test(test_path_text_truncates),
	    cmocka_unit_test(test_path_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
