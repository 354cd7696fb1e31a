/* test_redact.c - naming what a configuration dump left out (ctl_redact.c),
 * on dumps as pilotd's own conf_dump writes them. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ctl.h"
#include "json.h"

struct names {
	char all[600];
	unsigned n;
};

static void collect(void *arg, const char *what)
{
	struct names *nm = arg;
	size_t l = strlen(nm->all);
	snprintf(nm->all + l, sizeof(nm->all) - l, "%s%s", nm->n++ ? "|" : "", what);
}

static void names_of(const char *dump, struct names *nm, unsigned *ret)
{
	char err[128];
	yajl_val v = json_parse(dump, strlen(dump), 0, err, sizeof(err));

	assert_non_null(v);
	memset(nm, 0, sizeof(*nm));
	*ret = ctl_redactions(v, collect, nm);
	yajl_tree_free(v);
}

/* A dump from pilotd's real schema code: build one through conf_dump. */
struct cfg {
	struct conf_head head;
	char *admin, *webhook, *host;
	char **networks;
};
#define O(m) offsetof(struct cfg, m)
static const struct conf_key schema[] = {
    {"admin_token", CONF_STR, O(admin), 0, 0, NULL, "", CONF_SECRET_ALL},
    {"networks", CONF_STRLIST, O(networks), 0, 0, NULL, "", CONF_SECRET_TAIL},
    {"webhook", CONF_STR, O(webhook), 0, 0, NULL, "", CONF_SECRET_URL},
    {"hostname", CONF_STR, O(host), 0, 0, NULL, "", 0},
    CONF_END,
};

static void test_from_conf_dump(void **state)
{
	struct cfg c;
	char err[256], *dump;
	char *argv[] = {"prog",
			"--admin-token",
			"sekrit",
			"--networks",
			"3,7:lab-token-0123",
			"--webhook",
			"https://hooks.example.com/services/T0/XYZ",
			"--hostname",
			"alice",
			NULL};
	struct names nm;
	unsigned n;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(schema, &c, NULL, 9, argv, err, sizeof(err)), 0);
	dump = conf_dump(schema, &c);
	assert_non_null(dump);
	names_of(dump, &nm, &n);
	assert_int_equal(n, 3);
	assert_string_equal(nm.all, "admin_token|join token for network 7|"
				    "webhook (all after https://hooks.example.com/)");
	free(dump);
	conf_free(schema, &c);
}

static void test_nothing_redacted(void **state)
{
	struct names nm;
	unsigned n;

	(void)state;
	names_of("{\"admin_token\":null,\"networks\":[\"3\"],\"webhook\":\"https://h.example/\","
		 "\"listen_port\":4242}",
		 &nm, &n);
	assert_int_equal(n, 0);
	assert_string_equal(nm.all, "");
	names_of("[]", &nm, &n); /* not an object: nothing */
	assert_int_equal(n, 0);
}

/* Keys it has no words for are named by key. */
static void test_other_keys(void **state)
{
	struct names nm;
	unsigned n;

	(void)state;
	names_of("{\"secrets\":[\"a:*** (from f)\",\"*** (from f)\"],\"tok\":\"*** (from --tok)\"}",
		 &nm, &n);
	assert_int_equal(n, 3);
	assert_string_equal(nm.all, "token of secrets entry a|secrets entry|tok");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_conf_dump),
	    cmocka_unit_test(test_nothing_redacted),
	    cmocka_unit_test(test_other_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
