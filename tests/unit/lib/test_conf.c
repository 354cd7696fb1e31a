/* test_conf.c - declarative config: file, flags, errors with file:line. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "json.h"

struct cfg {
	struct conf_head head;
	char *name, *hp;
	uint32_t port;
	int flag, act;
	char **list;
};

#define O(m) offsetof(struct cfg, m)
static const struct conf_key schema[] = {
    {"name", CONF_STR, O(name), 0, 0, "dflt", "a name", 0},
    {"listen_port", CONF_U32, O(port), 1, 65535, "4242", "port", 0},
    {"public", CONF_BOOL, O(flag), 0, 0, "false", "flag", 0},
    {"registry", CONF_HOSTPORT, O(hp), 0, 0, NULL, "hp", 0},
    {"networks", CONF_STRLIST, O(list), 0, 0, NULL, "list", 0},
    {"print_pin", CONF_ACTION, O(act), 0, 0, NULL, "act", 0},
    CONF_END,
};

static char path[64];

static void write_file(const char *text)
{
	FILE *f;
	strcpy(path, "/tmp/pilot-test-conf.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
}

static int load(const char *text, int argc, char **argv, struct cfg *c, char *err)
{
	int rc;
	memset(c, 0, sizeof(*c));
	write_file(text);
	rc = conf_load(schema, c, path, argc, argv, err, 256);
	unlink(path);
	return rc;
}

static void test_defaults_file_flags(void **state)
{
	struct cfg c;
	char err[256];
	char *argv[] = {"prog", "--listen-port", "5000", "--public", "--networks=1,7", NULL};
	(void)state;
	assert_int_equal(
	    load("{ // comment\n \"name\": \"x\", \"listen_port\": 9 /* c */ }", 5, argv, &c, err),
	    0);
	assert_string_equal(c.name, "x");
	assert_int_equal(c.port, 5000); /* flags win */
	assert_true(c.flag);
	assert_string_equal(c.list[0], "1");
	assert_string_equal(c.list[1], "7");
	assert_null(c.list[2]);
	assert_false(c.act);
	conf_free(schema, &c);
}

static void test_errors_name_file_line_key(void **state)
{
	struct cfg c;
	char err[256];
	char *argv[] = {"prog", NULL};
	(void)state;
	assert_int_equal(load("{\n\"name\": \"x\",\n\"bogus\": 1\n}", 1, argv, &c, err), -EINVAL);
	assert_non_null(strstr(err, ":3: unknown key 'bogus'"));
	conf_free(schema, &c);
	assert_true(load("{\n\n\"listen_port\": 70000\n}", 1, argv, &c, err) < 0);
	assert_non_null(strstr(err, ":3: key 'listen_port'"));
	conf_free(schema, &c);
	assert_true(load("{\n\"listen_port\": \"80\"\n}", 1, argv, &c, err) < 0);
	assert_non_null(strstr(err, "expected a whole number"));
	conf_free(schema, &c);
	assert_true(load("{\n\"name\": \"x\"\n\"y\": 1}", 1, argv, &c, err) < 0);
	assert_non_null(strstr(err, ":3:"));
	conf_free(schema, &c);
	assert_true(load("{\"registry\": \"nohostport\"}", 1, argv, &c, err) < 0);
	assert_non_null(strstr(err, "HOST:PORT"));
	conf_free(schema, &c);
	assert_true(load("{\"name\": \"a\", \"name\": \"b\"}", 1, argv, &c, err) < 0);
	assert_non_null(strstr(err, "twice"));
	conf_free(schema, &c);
	assert_true(load("[1]", 1, argv, &c, err) < 0);
	conf_free(schema, &c);
	assert_true(load("{\"print_pin\": true}", 1, argv, &c, err) < 0);
	conf_free(schema, &c);
}

static void test_flag_errors(void **state)
{
	struct cfg c;
	char err[256];
	char *a1[] = {"prog", "--nope", NULL};
	char *a2[] = {"prog", "--listen-port", NULL};
	char *a3[] = {"prog", "--listen-port", "-1", NULL};
	char *a4[] = {"prog", "stray", NULL};
	char *a5[] = {"prog", "--print-pin", "--registry", "[::1]:9000", NULL};
	(void)state;
	assert_true(load("{}", 2, a1, &c, err) < 0);
	assert_non_null(strstr(err, "--nope"));
	conf_free(schema, &c);
	assert_true(load("{}", 2, a2, &c, err) < 0);
	conf_free(schema, &c);
	assert_true(load("{}", 3, a3, &c, err) < 0);
	conf_free(schema, &c);
	assert_true(load("{}", 2, a4, &c, err) < 0);
	conf_free(schema, &c);
	assert_int_equal(load("{}", 4, a5, &c, err), 0);
	assert_true(c.act);
	assert_string_equal(c.hp, "[::1]:9000");
	conf_free(schema, &c);
}

static void test_hostport(void **state)
{
	char h[64];
	uint16_t p;
	(void)state;
	assert_int_equal(conf_split_hostport("198.18.0.1:9000", h, sizeof(h), &p), 0);
	assert_string_equal(h, "198.18.0.1");
	assert_int_equal(p, 9000);
	assert_int_equal(conf_split_hostport("[fd00::1]:1", h, sizeof(h), &p), 0);
	assert_string_equal(h, "fd00::1");
	assert_int_equal(conf_split_hostport("fd00::1:9000", h, sizeof(h), &p), -EINVAL);
	assert_int_equal(conf_split_hostport("host:", h, sizeof(h), &p), -EINVAL);
	assert_int_equal(conf_split_hostport(":80", h, sizeof(h), &p), -EINVAL);
	assert_int_equal(conf_split_hostport("h:65536", h, sizeof(h), &p), -EINVAL);
	assert_int_equal(conf_split_hostport("[zz]:80", h, sizeof(h), &p), -EINVAL);
}

static const struct conf_key secret_schema[] = {
    {"admin_token", CONF_STR, O(name), 0, 0, NULL, "", CONF_SECRET_ALL},
    {"networks", CONF_STRLIST, O(list), 0, 0, NULL, "", CONF_SECRET_TAIL},
    {"listen_port", CONF_U32, O(port), 1, 65535, "4242", "port", 0},
    CONF_END,
};

static void test_dump_redacts_flag(void **state)
{
	struct cfg c;
	char err[256], *dump;
	char *argv[] = {"prog", "--admin-token", "sekrit", NULL};
	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(secret_schema, &c, NULL, 3, argv, err, sizeof(err)), 0);
	dump = conf_dump(secret_schema, &c);
	assert_null(strstr(dump, "sekrit"));
	assert_non_null(strstr(dump, "\"*** (from --admin-token)\""));
	free(dump);
	conf_free(secret_schema, &c);
}

/* Tokens in the file: "***" and the file's name; "ID:TOKEN" list entries
 * keep their ID. */
static void test_dump_redacts_file(void **state)
{
	struct cfg c;
	char err[256], want[160], *dump;
	char *argv[] = {"prog", "--config", path, NULL};
	(void)state;
	write_file("{\"admin_token\": \"filesekrit\",\n"
		   " \"networks\": [\"3\", \"7:lab-token-0123\"]}\n");
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(secret_schema, &c, NULL, 3, argv, err, sizeof(err)), 0);
	dump = conf_dump(secret_schema, &c);
	assert_null(strstr(dump, "filesekrit"));
	assert_null(strstr(dump, "lab-token"));
	snprintf(want, sizeof(want), "\"*** (from %s)\"", path);
	assert_non_null(strstr(dump, want));
	snprintf(want, sizeof(want), "\"7:*** (from %s)\"", path);
	assert_non_null(strstr(dump, want));
	assert_non_null(strstr(dump, "\"3\""));
	free(dump);
	conf_free(secret_schema, &c);
	unlink(path);
}

/* Secrets held by a file others may read are named, those given by flags
 * or in a file others cannot read are not. */
static void test_exposed_secrets(void **state)
{
	struct cfg c;
	char err[256], names[64];
	char *argv[] = {"prog", "--config", path, NULL};
	char *argv_flag[] = {"prog", "--config", path, "--admin-token", "x", NULL};
	(void)state;
	write_file("{\"admin_token\": \"filesekrit\",\n"
		   " \"networks\": [\"3\", \"7:lab-token-0123\"]}\n");
	assert_int_equal(chmod(path, 0644), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(secret_schema, &c, NULL, 3, argv, err, sizeof(err)), 0);
	assert_int_equal(conf_exposed_secrets(secret_schema, &c, names, sizeof(names)), 2);
	assert_string_equal(names, "admin_token, networks");
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(conf_exposed_secrets(secret_schema, &c, names, sizeof(names)), 0);
	assert_string_equal(names, "");
	conf_free(secret_schema, &c);
	/* The flag's token is not the file's; "3" alone holds no token. */
	write_file("{\"networks\": [\"3\"]}\n");
	assert_int_equal(chmod(path, 0644), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(secret_schema, &c, NULL, 5, argv_flag, err, sizeof(err)), 0);
	assert_int_equal(conf_exposed_secrets(secret_schema, &c, names, sizeof(names)), 0);
	conf_free(secret_schema, &c);
	unlink(path);
}

static const struct conf_key url_schema[] = {
    {"webhook", CONF_STR, O(name), 0, 0, NULL, "", CONF_SECRET_URL},
    CONF_END,
};

/* url_schema's dump of --webhook URL, malloc'd. */
static char *dump_url(const char *url)
{
	struct cfg c;
	char err[256], *dump;
	char *argv[] = {"prog", "--webhook", (char *)url, NULL};

	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(url_schema, &c, NULL, 3, argv, err, sizeof(err)), 0);
	dump = conf_dump(url_schema, &c);
	assert_non_null(dump);
	conf_free(url_schema, &c);
	return dump;
}

/* A URL keeps its scheme and host; a path or query (where chat services
 * put the credential) and user information are hidden; a bare host stays
 * as it is. */
static void test_dump_redacts_url(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
	    {"https://hooks.example.com/services/T0/B0/XYZsecret",
	     "\"https://hooks.example.com/*** (from --webhook)\""},
	    {"https://h.example:8443?token=XYZsecret",
	     "\"https://h.example:8443*** (from --webhook)\""},
	    {"https://u:XYZsecret@h.example/x", "\"https://*** (from --webhook)\""},
	    {"https://h.example/", "\"https://h.example/\""},
	    {"http://127.0.0.1:8080", "\"http://127.0.0.1:8080\""},
	    {"XYZsecret", "\"*** (from --webhook)\""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dump = dump_url(cases[i].url);
		if (!strstr(dump, cases[i].want))
			fail_msg("%s: %s, want %s", cases[i].url, dump, cases[i].want);
		assert_null(strstr(dump, "XYZsecret"));
		free(dump);
	}
}

/* conf_dump_gen writes the same object into a generator, on one line. */
static void test_dump_gen(void **state)
{
	struct cfg c;
	struct json_gen j;
	const char *out;
	size_t len;
	char err[256];
	char *argv[] = {"prog", "--admin-token", "sekrit", NULL};
	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(secret_schema, &c, NULL, 3, argv, err, sizeof(err)), 0);
	assert_int_equal(json_gen_init(&j), 0);
	conf_dump_gen(secret_schema, &c, &j);
	assert_int_equal(json_gen_finish(&j, &out, &len), 0);
	assert_true(len == strlen("{\"admin_token\":\"*** (from --admin-token)\",\"networks\":[],"
				  "\"listen_port\":4242}"));
	assert_memory_equal(out,
			    "{\"admin_token\":\"*** (from --admin-token)\",\"networks\":[],"
			    "\"listen_port\":4242}",
			    len);
	json_gen_free(&j);
	conf_free(secret_schema, &c);
}

/* A flag-only option with a value (--join-host H): set by the flag alone,
 * an unknown key in the file, never in a dump; a secret one is not quoted
 * in errors. */
struct fcfg {
	struct conf_head head;
	char *name, *host, *tok;
	int act;
};

#define FO(m) offsetof(struct fcfg, m)
static const struct conf_key flag_schema[] = {
    {"name", CONF_STR, FO(name), 0, 0, "dflt", "a name", 0},
    {"print_join", CONF_ACTION, FO(act), 0, 0, NULL, "act", 0},
    {"join_host", CONF_FLAGSTR, FO(host), 0, 0, NULL, "host", 0},
    {"token", CONF_FLAGSTR, FO(tok), 0, 0, NULL, "token", CONF_SECRET_ALL},
    CONF_END,
};

static void test_flag_only_string(void **state)
{
	struct fcfg c;
	char err[256], *dump;
	char *argv[] = {"prog",	       "--print-join",	 "--join-host",
			"rdv.example", "--token=sekrit", NULL};
	char *argv_file[] = {"prog", "--config", path, NULL};
	char *argv_novalue[] = {"prog", "--join-host", NULL};
	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(flag_schema, &c, NULL, 5, argv, err, sizeof(err)), 0);
	assert_true(c.act);
	assert_string_equal(c.host, "rdv.example");
	assert_string_equal(c.tok, "sekrit");
	dump = conf_dump(flag_schema, &c);
	assert_non_null(dump);
	assert_null(strstr(dump, "join_host"));
	assert_null(strstr(dump, "sekrit"));
	assert_non_null(strstr(dump, "\"name\""));
	free(dump);
	conf_free(flag_schema, &c);
	assert_null(c.host);
	assert_null(c.tok);

	write_file("{\n\"join_host\": \"x\"\n}\n");
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(flag_schema, &c, NULL, 3, argv_file, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: unknown key 'join_host'"));
	conf_free(flag_schema, &c);
	unlink(path);

	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(flag_schema, &c, NULL, 2, argv_novalue, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	conf_free(flag_schema, &c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_file_flags),
	    cmocka_unit_test(test_errors_name_file_line_key),
	    cmocka_unit_test(test_flag_errors),
	    cmocka_unit_test(test_hostport),
	    cmocka_unit_test(test_dump_redacts_flag),
	    cmocka_unit_test(test_dump_redacts_file),
	    cmocka_unit_test(test_exposed_secrets),
	    cmocka_unit_test(test_dump_redacts_url),
	    cmocka_unit_test(test_dump_gen),
	    cmocka_unit_test(test_flag_only_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
