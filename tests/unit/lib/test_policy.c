/* test_policy.c - pilot-policy(5): the strict parser (accept/refuse
 * table, limits, error lines), the canonical form and its round trip,
 * normalisation of node names through a resolver, the evaluator's
 * first-allowing-rule answers, and the compiled view: exact output for a
 * small case, refusal of malformed views, size, and a randomised property
 * test that view lookups and policy_eval agree on every sampled flow. */
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

#include "json.h"
#include "policy.h"
#include "util.h"

/* ---------------------------------------------------------------- helpers */

struct buf {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (b->s && b->len + (size_t)n < b->cap)
			break;
		b->cap = (b->cap + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->len += (size_t)n;
}

static struct policy *must_parse(const char *json)
{
	struct policy *p = NULL;
	char err[256];
	int rc = policy_parse(json, strlen(json), &p, err, sizeof(err));

	if (rc)
		print_error("unexpected refusal: %s\n  %s\n", err, json);
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
}

/* \retval malloc'd canonical text of \p p */
static char *gen_text(const struct policy *p)
{
	struct json_gen j;
	const char *out;
	size_t len;
	char *s;

	assert_int_equal(json_gen_init(&j), 0);
	assert_int_equal(policy_gen(p, &j), 0);
	assert_int_equal(json_gen_finish(&j, &out, &len), 0);
	s = strndup(out, len);
	assert_non_null(s);
	json_gen_free(&j);
	return s;
}

static char *view_text(const struct policy *p, const struct policy_member *m, size_t n,
		       uint32_t self, int *rc)
{
	struct json_gen j;
	const char *out;
	size_t len;
	char *s = NULL;

	assert_int_equal(json_gen_init(&j), 0);
	*rc = policy_view_gen(p, m, n, self, &j);
	if (*rc == 0) {
		assert_int_equal(json_gen_finish(&j, &out, &len), 0);
		s = strndup(out, len);
		assert_non_null(s);
	}
	json_gen_free(&j);
	return s;
}

static int view_from_text(const char *text, struct policy_view **v, char *err, size_t errlen)
{
	yajl_val root = json_parse(text, strlen(text), 0, err, errlen);
	int rc;

	if (!root)
		return -EINVAL;
	rc = policy_view_parse(root, v, err, errlen);
	yajl_tree_free(root);
	return rc;
}

static struct policy_view *view_of(const struct policy *p, const struct policy_member *m, size_t n,
				   uint32_t self)
{
	struct policy_view *v = NULL;
	char err[256];
	int rc;
	char *t = view_text(p, m, n, self, &rc);

	assert_int_equal(rc, 0);
	rc = view_from_text(t, &v, err, sizeof(err));
	if (rc)
		print_error("view refused: %s\n", err);
	assert_int_equal(rc, 0);
	free(t);
	return v;
}

/* ---------------------------------------------------------------- parse */

static void test_parse_table(void **state)
{
	static const struct {
		const char *json;
		int rc;
		const char *err; /* substring of the error line */
	} cases[] = {
	    /* accepted */
	    {"{\"rules\":[]}", 0, NULL},
	    {" { \"rules\" : [ ] } ", 0, NULL},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", 0, NULL},
	    {"{\"rules\":[{\"from\":[\"tag:frontend\"],\"to\":[\"tag:api\"],"
	     "\"ports\":[\"tcp/80\",\"tcp/443\"]}]}",
	     0, NULL},
	    {"{\"rules\":[{\"from\":[\"tag:Web\"],\"to\":[\"node:1\",\"node:4294967295\"],"
	     "\"ports\":[\"tcp/1-65535\",\"udp/*\",\"icmp\",\"tcp/*\",\"udp/65535\"]}]}",
	     0, NULL},
	    {"{\"rules\":[{\"name\":\"web to api\",\"from\":[\"tag:a.b-c_d\"],\"to\":[\"*\"],"
	     "\"ports\":[\"udp/53\"]}]}",
	     0, NULL},
	    {"{\"rules\":[{\"from\":[\"tag:abcdefghijklmnopqrstuvwxyz012345\"],\"to\":[\"*\"],"
	     "\"ports\":[\"tcp/1\"]}]}",
	     0, NULL},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/7-7\"],"
	     "\"name\":\"caf\xc3\xa9\"}]}",
	     0, NULL},
	    /* document */
	    {"", -EINVAL, "invalid JSON"},
	    {"[]", -EINVAL, "must be a JSON object"},
	    {"{}", -EINVAL, "'rules' must be an array"},
	    {"{\"rules\":{}}", -EINVAL, "'rules' must be an array"},
	    {"{\"rules\":[],\"extra\":1}", -EINVAL, "unknown member 'extra'"},
	    {"{\"rules\":[],\"rules\":[]}", -EINVAL, "given twice"},
	    {"{\"rules\":[]} x", -EINVAL, "invalid JSON"},
	    {"{\"rules\":[]/* c */}", -EINVAL, "comments"},
	    {"{\"rules\":[1]}", -EINVAL, "rule 0: must be an object"},
	    /* rule members */
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"]}]}", -EINVAL, "rule 0: missing 'ports'"},
	    {"{\"rules\":[{\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL, "rule 0: missing 'from'"},
	    {"{\"rules\":[{\"from\":\"*\",\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: 'from' must be an array"},
	    {"{\"rules\":[{\"from\":[],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: 'from' is empty"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[]}]}", -EINVAL,
	     "rule 0: 'ports' is empty"},
	    {"{\"rules\":[{\"from\":[1],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: from[0] must be a string"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[80]}]}", -EINVAL,
	     "rule 0: ports[0] must be a string"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"port\":[\"*\"]}]}", -EINVAL,
	     "rule 0: unknown member 'port'"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	     -EINVAL, "rule 0: member 'from' given twice"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"name\":\"\"}]}",
	     -EINVAL, "rule 0: 'name'"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"name\":5}]}",
	     -EINVAL, "rule 0: 'name'"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],"
	     "\"name\":\"a\\u0001b\"}]}",
	     -EINVAL, "rule 0: 'name'"},
	    /* ports */
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/0\"]}]}", -EINVAL,
	     "rule 0: ports[0] 'tcp/0': port out of range"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"udp/65536\"]}]}", -EINVAL,
	     "port out of range"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/80-79\"]}]}", -EINVAL,
	     "'tcp/80-79': range is reversed"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/080\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/8a\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/-80\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/80-\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/1-2-3\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/ 80\"]}]}", -EINVAL,
	     "bad port number"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"sctp/80\"]}]}", -EINVAL,
	     "not a port"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"icmp/8\"]}]}", -EINVAL,
	     "not a port"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"TCP/80\"]}]}", -EINVAL,
	     "not a port"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"80\"]}]}", -EINVAL,
	     "not a port"},
	    /* selectors */
	    {"{\"rules\":[{\"from\":[\"tag:\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: from[0] 'tag:': tag name must be 1 to 32"},
	    {"{\"rules\":[{\"from\":[\"tag:abcdefghijklmnopqrstuvwxyz0123456\"],\"to\":[\"*\"],"
	     "\"ports\":[\"*\"]}]}",
	     -EINVAL, "tag name must be 1 to 32"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"tag:we b\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: to[0] 'tag:we b': tag name may hold only"},
	    {"{\"rules\":[{\"from\":[\"tag:-web\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "must start with a letter or digit"},
	    {"{\"rules\":[{\"from\":[\"node:0\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "node ID out of range"},
	    {"{\"rules\":[{\"from\":[\"node:4294967296\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	     -EINVAL, "node ID out of range"},
	    {"{\"rules\":[{\"from\":[\"node:01\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "bad node ID"},
	    {"{\"rules\":[{\"from\":[\"node:abc\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "bad node ID"},
	    {"{\"rules\":[{\"from\":[\"db1\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: from[0] 'db1': not a selector"},
	    {"{\"rules\":[{\"from\":[\"42\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "not a selector"},
	    {"{\"rules\":[{\"from\":[\"**\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "not a selector"},
	    {"{\"rules\":[{\"from\":[\"tag:web\\u0000x\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	     -EINVAL, "NUL"},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]},"
	     "{\"from\":[\"*\"],\"to\":[\"tag:ok\",\"tag:a\\nb\"],\"ports\":[\"*\"]}]}",
	     -EINVAL, "rule 1: to[1] 'tag:a?b'"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < nitems(cases); i++) {
		struct policy *p = NULL;
		int rc = policy_parse(cases[i].json, strlen(cases[i].json), &p, err, sizeof(err));
		if (rc != cases[i].rc || (cases[i].err && !strstr(err, cases[i].err)))
			print_error("case %zu: rc %d err '%s'\n  %s\n", i, rc, err, cases[i].json);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_non_null(p);
		} else {
			assert_null(p);
			assert_non_null(strstr(err, cases[i].err));
			assert_null(strchr(err, '\n'));
		}
		policy_free(p);
	}
}

/* The error line names the rule, the field and the value, as the man page
 * shows. */
static void test_parse_error_line(void **state)
{
	const char *doc =
	    "{\"rules\":["
	    "{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/1\"]},"
	    "{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/1\"]},"
	    "{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/1\"]},"
	    "{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/80\",\"tcp/99999\"]}]}";
	struct policy *p = (struct policy *)1;
	char err[256];

	(void)state;
	assert_int_equal(policy_parse(doc, strlen(doc), &p, err, sizeof(err)), -EINVAL);
	assert_null(p);
	assert_string_equal(err, "rule 3: ports[1] 'tcp/99999': port out of range");
	/* A long hostile value is shown cut and printable. */
	{
		struct buf b = {0};
		bprintf(&b, "{\"rules\":[{\"from\":[\"tag:");
		for (int i = 0; i < 200; i++)
			bprintf(&b, "\\u00e9");
		bprintf(&b, "\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}");
		assert_int_equal(policy_parse(b.s, b.len, &p, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "...': tag name must be 1 to 32"));
		for (const char *c = err; *c; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
		free(b.s);
	}
	/* No error buffer: still refused, nothing written. */
	assert_int_equal(policy_parse(doc, strlen(doc), &p, NULL, 0), -EINVAL);
}

/* POLICY_MAX_BYTES of text pass (spaces count), one byte more is
 * refused before it is parsed. */
static void test_parse_max_bytes(void **state)
{
	static const char doc[] = "{\"rules\":[]}";
	char *big = malloc(POLICY_MAX_BYTES + 2), err[256];
	struct policy *p;

	(void)state;
	assert_non_null(big);
	memset(big, ' ', POLICY_MAX_BYTES + 1);
	memcpy(big, doc, strlen(doc));
	assert_int_equal(policy_parse(big, POLICY_MAX_BYTES, &p, err, sizeof(err)), 0);
	assert_int_equal(policy_rule_count(p), 0);
	policy_free(p);
	assert_int_equal(policy_parse(big, POLICY_MAX_BYTES + 1, &p, err, sizeof(err)), -E2BIG);
	assert_null(p);
	assert_non_null(strstr(err, "4194305 bytes of JSON, more than 4194304 (4 MiB)"));
	free(big);
}

static void test_parse_limits(void **state)
{
	struct policy *p;
	struct buf b = {0};
	char err[256];

	(void)state;
	/* POLICY_MAX_RULES rules pass, one more is refused. */
	bprintf(&b, "{\"rules\":[");
	for (int i = 0; i < POLICY_MAX_RULES; i++)
		bprintf(&b, "%s{\"from\":[\"*\"],\"to\":[\"node:%d\"],\"ports\":[\"tcp/%d\"]}",
			i ? "," : "", i + 1, i % 65535 + 1);
	bprintf(&b, "]}");
	p = must_parse(b.s);
	assert_int_equal(policy_rule_count(p), POLICY_MAX_RULES);
	policy_free(p);
	b.len -= 2;
	bprintf(&b, ",{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}");
	assert_int_equal(policy_parse(b.s, b.len, &p, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "more than 10000 rules"));
	free(b.s);

	/* 64 selectors and 64 ports pass; 65 are refused. */
	for (int extra = 0; extra <= 1; extra++) {
		for (int field = 0; field < 3; field++) {
			memset(&b, 0, sizeof(b));
			bprintf(&b,
				"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],"
				"\"%s\":[",
				field == 0   ? "from"
				: field == 1 ? "to"
					     : "ports");
			for (int i = 0; i < 64 + extra; i++)
				bprintf(&b, "%s\"%s%d\"", i ? "," : "",
					field == 2 ? "udp/" : "tag:t", i + 1);
			bprintf(&b, "]}]}");
			/* The field is given twice above: drop the first one. */
			{
				const char *f = field == 0   ? "\"from\":[\"*\"],"
						: field == 1 ? "\"to\":[\"*\"],"
							     : "\"ports\":[\"*\"],";
				char *at = strstr(b.s, f);
				memmove(at, at + strlen(f), strlen(at + strlen(f)) + 1);
				b.len = strlen(b.s);
			}
			if (!extra) {
				p = must_parse(b.s);
				policy_free(p);
			} else {
				assert_int_equal(policy_parse(b.s, b.len, &p, err, sizeof(err)),
						 -E2BIG);
				assert_non_null(strstr(err, "more than 64 entries"));
			}
			free(b.s);
		}
	}
}

/* ---------------------------------------------------------------- canonical */

static void test_canonical(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"{\"rules\":[]}", "{\"rules\":[]}"},
	    {"{ \"rules\": [ {\"name\": \"web\", \"ports\": [\"tcp/80-80\", \"tcp/*\", "
	     "\"udp/1-65535\", \"icmp\", \"*\", \"tcp/8000-8080\"], \"to\": [\"*\"], "
	     "\"from\": [\"tag:Front-End\", \"node:7\"]} ] }",
	     "{\"rules\":[{\"from\":[\"tag:front-end\",\"node:7\"],\"to\":[\"*\"],"
	     "\"ports\":[\"tcp/80\",\"tcp/*\",\"udp/1-65535\",\"icmp\",\"*\",\"tcp/8000-8080\"],"
	     "\"name\":\"web\"}]}"},
	    {"{\"rules\":[{\"from\":[\"tag:A\",\"tag:a\"],\"to\":[\"node:4294967295\"],"
	     "\"ports\":[\"udp/65535\"]},{\"from\":[\"tag:a\"],\"to\":[\"tag:B\"],"
	     "\"ports\":[\"udp/*\"],\"name\":\"\\\"q\\\"\"}]}",
	     "{\"rules\":[{\"from\":[\"tag:a\",\"tag:a\"],\"to\":[\"node:4294967295\"],"
	     "\"ports\":[\"udp/65535\"]},{\"from\":[\"tag:a\"],\"to\":[\"tag:b\"],"
	     "\"ports\":[\"udp/*\"],\"name\":\"\\\"q\\\"\"}]}"},
	};

	(void)state;
	for (size_t i = 0; i < nitems(cases); i++) {
		struct policy *p = must_parse(cases[i].in), *q;
		char *a = gen_text(p), *b;
		assert_string_equal(a, cases[i].out);
		/* parse -> gen -> parse: the same policy, the same text. */
		q = must_parse(a);
		assert_int_equal(policy_rule_count(q), policy_rule_count(p));
		b = gen_text(q);
		assert_string_equal(a, b);
		free(a);
		free(b);
		policy_free(p);
		policy_free(q);
	}
}

/* ---------------------------------------------------------------- normalize */

struct fake_dir {
	int calls;
	char last[80];
	int fail_with; /* the resolver's own failure, e.g. -EIO */
};

static int fake_resolve(void *arg, const char *name, uint32_t *node)
{
	static const struct {
		const char *name;
		uint32_t node;
	} hosts[] = {{"db1", 42}, {"web1", 7}, {"api-2", 4000000000u}};
	struct fake_dir *d = arg;

	d->calls++;
	snprintf(d->last, sizeof(d->last), "%s", name);
	if (d->fail_with)
		return d->fail_with;
	for (size_t i = 0; i < nitems(hosts); i++) {
		if (strcmp(hosts[i].name, name) == 0) {
			*node = hosts[i].node;
			return 0;
		}
	}
	return -ENOENT;
}

static void test_normalize(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out_or_err;
		int calls;
	} cases[] = {
	    {"{\"rules\":[{\"from\":[\"db1\",\"WEB1\",\"Api-2\"],\"to\":[\"123\",\"node:5\"],"
	     "\"ports\":[\"tcp/80\"]}]}",
	     0,
	     "{\"rules\":[{\"from\":[\"node:42\",\"node:7\",\"node:4000000000\"],"
	     "\"to\":[\"node:123\",\"node:5\"],\"ports\":[\"tcp/80\"]}]}",
	     3},
	    /* addresses: the node part; IDs and addresses need no resolver */
	    {"{\"rules\":[{\"from\":[\"7:0007.0000.002A\",\"1:0001.FFFF.FFFF\"],"
	     "\"to\":[\"*\",\"tag:Api\"],\"ports\":[\"icmp\"]}]}",
	     0,
	     "{\"rules\":[{\"from\":[\"node:42\",\"node:4294967295\"],\"to\":[\"*\","
	     "\"tag:api\"],\"ports\":[\"icmp\"]}]}",
	     0},
	    {"{\"rules\":[]}", 0, "{\"rules\":[]}", 0},
	    {"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"web1\",\"nosuch\"],\"ports\":[\"*\"]}]}",
	     -ENOENT, "rule 0: to[1] 'nosuch': no such node", 2},
	    {"{\"rules\":[{\"from\":[\"foo bar\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "rule 0: from[0] 'foo bar': not a selector", 0},
	    {"{\"rules\":[{\"from\":[\"0\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "node ID out of range", 0},
	    {"{\"rules\":[{\"from\":[\"4294967296\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "node ID out of range", 0},
	    {"{\"rules\":[{\"from\":[\"1:0001.0000.0000\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	     -EINVAL, "node ID out of range", 0},
	    /* an address whose two network fields disagree is no address */
	    {"{\"rules\":[{\"from\":[\"2:0001.0000.0001\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	     -EINVAL, "not a selector", 0},
	    {"{\"rules\":[{\"from\":[\"-db1\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}", -EINVAL,
	     "not a selector", 0},
	    {"{\"rules\":[{\"from\":[\"db1\"],\"to\":[\"*\"],\"ports\":[\"tcp/0\"]}]}", -EINVAL,
	     "port out of range", 1},
	    /* strict anyway: comments are the CLI's business */
	    {"{\"rules\":[]// c\n}", -EINVAL, "comments", 0},
	    {"{\"rules\":[],\"x\":1}", -EINVAL, "unknown member 'x'", 0},
	};
	char err[256], *out;
	size_t outlen;

	(void)state;
	for (size_t i = 0; i < nitems(cases); i++) {
		struct fake_dir d = {0};
		int rc = policy_normalize(cases[i].in, strlen(cases[i].in), fake_resolve, &d, &out,
					  &outlen, err, sizeof(err));
		if (rc != cases[i].rc)
			print_error("case %zu: rc %d err '%s'\n", i, rc, err);
		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(d.calls, cases[i].calls);
		if (rc == 0) {
			struct policy *p;
			assert_string_equal(out, cases[i].out_or_err);
			assert_int_equal(outlen, strlen(out));
			/* The output is a canonical document. */
			p = must_parse(out);
			policy_free(p);
			free(out);
		} else {
			assert_null(out);
			assert_non_null(strstr(err, cases[i].out_or_err));
		}
	}
	/* Hostnames reach the resolver lower-cased. */
	{
		struct fake_dir d = {0};
		const char *in =
		    "{\"rules\":[{\"from\":[\"DB1\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}";
		assert_int_equal(policy_normalize(in, strlen(in), fake_resolve, &d, &out, &outlen,
						  err, sizeof(err)),
				 0);
		assert_string_equal(d.last, "db1");
		free(out);
		/* The resolver's own failure is passed on, naming the selector. */
		d.fail_with = -EIO;
		assert_int_equal(policy_normalize(in, strlen(in), fake_resolve, &d, &out, &outlen,
						  err, sizeof(err)),
				 -EIO);
		assert_string_equal(err, "rule 0: from[0] 'DB1': cannot resolve");
	}
}

/* ---------------------------------------------------------------- eval */

static const char *const t_fe[] = {"frontend", NULL};
static const char *const t_api[] = {"api", "mon", NULL};
static const char *const t_both[] = {"frontend", "api", NULL};

static void test_eval(void **state)
{
	const char *doc =
	    "{\"rules\":["
	    "{\"from\":[\"tag:frontend\"],\"to\":[\"tag:api\"],\"ports\":[\"tcp/80\",\"tcp/443\"]},"
	    "{\"from\":[\"tag:api\"],\"to\":[\"node:42\"],\"ports\":[\"tcp/5432\"]},"
	    "{\"from\":[\"*\"],\"to\":[\"tag:mon\"],\"ports\":[\"icmp\",\"udp/161-162\"]},"
	    "{\"from\":[\"node:9\"],\"to\":[\"*\"],\"ports\":[\"*\"]},"
	    "{\"from\":[\"tag:frontend\"],\"to\":[\"tag:api\"],\"ports\":[\"tcp/*\"]}]}";
	const struct policy_member fe = {1, t_fe, NULL, NULL, 0}, api = {2, t_api, NULL, NULL, 0},
				   db = {42, NULL, NULL, NULL, 0}, admin = {9, NULL, NULL, NULL, 0},
				   both = {5, t_both, NULL, NULL, 0};
	static const char *const no_tags[] = {NULL};
	const struct policy_member bare = {77, no_tags, NULL, NULL, 0};
	static const struct {
		int from, to; /* index into m[] */
		uint8_t proto;
		uint16_t port;
		int allowed, rule;
	} cases[] = {
	    {0, 1, 6, 80, 1, 0},    {0, 1, 6, 443, 1, 0},   /* tag -> tag */
	    {0, 1, 6, 81, 1, 4},    {0, 1, 6, 0, 1, 4},	    /* any-port rule later */
	    {0, 1, 17, 80, 0, -1},  {1, 0, 6, 80, 0, -1},   /* proto, direction */
	    {1, 2, 6, 5432, 1, 1},  {2, 1, 6, 5432, 0, -1}, /* tag -> node */
	    {4, 2, 6, 5432, 1, 1},  {0, 2, 6, 5432, 0, -1}, /* tag list */
	    {0, 1, 58, 0, 1, 2},    {2, 1, 58, 1234, 1, 2}, /* icmp: port ignored */
	    {0, 2, 58, 0, 0, -1},   {0, 1, 17, 161, 1, 2},  /* icmp elsewhere; range start */
	    {0, 1, 17, 162, 1, 2},  {0, 1, 17, 163, 0, -1}, /* range end; past it */
	    {0, 1, 17, 160, 0, -1}, {3, 2, 132, 0, 1, 3},   /* before it; "*": any proto */
	    {3, 0, 6, 65535, 1, 3}, {3, 5, 58, 0, 1, 3},    /* node -> * */
	    {2, 3, 6, 22, 0, -1},   {4, 4, 6, 80, 1, 0},    /* self-tags */
	    {5, 1, 58, 0, 1, 2},    {5, 0, 6, 80, 0, -1},   /* no tags */
	    {4, 1, 6, 8080, 1, 4},  {0, 1, 0, 80, 0, -1},   /* proto 0 query */
	};
	const struct policy_member *m[] = {&fe, &api, &db, &admin, &both, &bare};
	struct policy *p = must_parse(doc);

	(void)state;
	for (size_t i = 0; i < nitems(cases); i++) {
		int rule = 99;
		int a = policy_eval(p, m[cases[i].from], m[cases[i].to], cases[i].proto,
				    cases[i].port, &rule);
		if (a != cases[i].allowed || rule != cases[i].rule)
			print_error("case %zu: allowed %d rule %d\n", i, a, rule);
		assert_int_equal(a, cases[i].allowed);
		assert_int_equal(rule, cases[i].rule);
	}
	/* The rule pointer is optional. */
	assert_int_equal(policy_eval(p, &fe, &api, 6, 80, NULL), 1);
	policy_free(p);

	/* First allowing rule wins, whatever follows. */
	p = must_parse("{\"rules\":["
		       "{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"udp/53\"]},"
		       "{\"from\":[\"node:1\"],\"to\":[\"*\"],\"ports\":[\"tcp/1-1000\"]},"
		       "{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]},"
		       "{\"from\":[\"node:1\"],\"to\":[\"*\"],\"ports\":[\"tcp/80\"]}]}");
	{
		int rule;
		assert_int_equal(policy_eval(p, &fe, &api, 6, 80, &rule), 1);
		assert_int_equal(rule, 1);
		assert_int_equal(policy_eval(p, &api, &fe, 6, 80, &rule), 1);
		assert_int_equal(rule, 2);
		assert_int_equal(policy_eval(p, &api, &fe, 17, 53, &rule), 1);
		assert_int_equal(rule, 0);
	}
	policy_free(p);
}

static void test_default_allow(void **state)
{
	const struct policy_member a = {1, NULL, NULL, NULL, 0}, b = {2, t_fe, NULL, NULL, 0};
	struct policy *p = must_parse("{\"rules\":[]}");
	struct policy_view *v;
	char *t;
	int rule = 5, rc;

	(void)state;
	assert_int_equal(policy_rule_count(p), 0);
	assert_int_equal(policy_eval(p, &a, &b, 6, 22, &rule), 1);
	assert_int_equal(rule, -1);
	rule = 5;
	assert_int_equal(policy_eval(NULL, &a, &b, 17, 1, &rule), 1);
	assert_int_equal(rule, -1);
	/* And its view: no default deny, no entries; also with no policy. */
	for (int i = 0; i < 2; i++) {
		t = view_text(i ? NULL : p, NULL, 0, 1, &rc);
		assert_int_equal(rc, 0);
		assert_string_equal(t, "{\"default_deny\":false,\"allow\":[]}");
		assert_int_equal(view_from_text(t, &v, NULL, 0), 0);
		assert_int_equal(policy_view_default_deny(v), 0);
		assert_int_equal(policy_view_allows(v, 2, 1, 6, 22), 1);
		assert_int_equal(policy_view_allows(v, 12345, 0, 132, 0), 1);
		policy_view_free(v);
		free(t);
	}
	assert_int_equal(policy_view_allows(NULL, 2, 1, 6, 22), 1);
	assert_int_equal(policy_view_default_deny(NULL), 0);
	policy_free(p);
}

/* ---------------------------------------------------------------- view */

static const char *const t_a[] = {"a", NULL};
static const char *const t_b[] = {"b", NULL};

static void test_view_exact(void **state)
{
	struct policy *p = must_parse(
	    "{\"rules\":["
	    "{\"from\":[\"tag:a\"],\"to\":[\"tag:b\"],\"ports\":[\"tcp/80-90\",\"tcp/91\",\"tcp/"
	    "100\"]},"
	    "{\"from\":[\"tag:b\"],\"to\":[\"tag:a\"],\"ports\":[\"udp/53\",\"icmp\"]},"
	    "{\"from\":[\"node:3\"],\"to\":[\"*\"],\"ports\":[\"*\"]},"
	    "{\"from\":[\"tag:a\"],\"to\":[\"tag:b\"],\"ports\":[\"tcp/85-95\",\"tcp/99\"]}]}");
	/* Out of order on purpose: the view is sorted by node. */
	const struct policy_member m[] = {{4, NULL, NULL, NULL, 0},
					  {3, t_b, NULL, NULL, 0},
					  {1, t_a, NULL, NULL, 0},
					  {2, t_b, NULL, NULL, 0}};
	const struct policy_member dup[] = {
	    {1, t_a, NULL, NULL, 0}, {2, t_b, NULL, NULL, 0}, {1, NULL, NULL, NULL, 0}};
	const struct policy_member zero[] = {{1, t_a, NULL, NULL, 0}, {0, t_b, NULL, NULL, 0}};
	struct policy_view *v;
	int rc;
	char *t = view_text(p, m, nitems(m), 1, &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_string_equal(
	    t, "{\"default_deny\":true,\"allow\":["
	       "{\"node\":2,\"dir\":\"in\",\"proto\":17,\"ranges\":[[53,53]]},"
	       "{\"node\":2,\"dir\":\"in\",\"proto\":58,\"ranges\":[[0,65535]]},"
	       "{\"node\":2,\"dir\":\"out\",\"proto\":6,\"ranges\":[[80,95],[99,100]]},"
	       "{\"node\":3,\"dir\":\"in\",\"proto\":0,\"ranges\":[[0,65535]]},"
	       "{\"node\":3,\"dir\":\"out\",\"proto\":6,\"ranges\":[[80,95],[99,100]]}]}");
	assert_int_equal(view_from_text(t, &v, NULL, 0), 0);
	free(t);
	assert_int_equal(policy_view_default_deny(v), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 80), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 95), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 96), 0);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 98), 0);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 99), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 100), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 101), 0);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 79), 0);
	assert_int_equal(policy_view_allows(v, 2, 1, 6, 80), 0); /* direction */
	assert_int_equal(policy_view_allows(v, 2, 1, 17, 53), 1);
	assert_int_equal(policy_view_allows(v, 2, 1, 17, 54), 0);
	assert_int_equal(policy_view_allows(v, 2, 1, 58, 777), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 58, 0), 0);
	assert_int_equal(policy_view_allows(v, 3, 1, 132, 9), 1); /* "*" rule */
	assert_int_equal(policy_view_allows(v, 3, 1, 0, 0), 1);
	assert_int_equal(policy_view_allows(v, 3, 0, 17, 53), 0);
	assert_int_equal(policy_view_allows(v, 4, 0, 6, 80), 0); /* no rule */
	assert_int_equal(policy_view_allows(v, 4, 1, 6, 80), 0);
	assert_int_equal(policy_view_allows(v, 99, 0, 6, 80), 0); /* not a member */
	assert_int_equal(policy_view_allows(v, 0, 0, 6, 80), 0);
	policy_view_free(v);

	/* node 3's view: "*" out to everyone, plus its tag b rules. */
	t = view_text(p, m, nitems(m), 3, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(t,
			    "{\"default_deny\":true,\"allow\":["
			    "{\"node\":1,\"dir\":\"in\",\"proto\":6,\"ranges\":[[80,95],[99,100]]},"
			    "{\"node\":1,\"dir\":\"out\",\"proto\":0,\"ranges\":[[0,65535]]},"
			    "{\"node\":2,\"dir\":\"out\",\"proto\":0,\"ranges\":[[0,65535]]},"
			    "{\"node\":4,\"dir\":\"out\",\"proto\":0,\"ranges\":[[0,65535]]}]}");
	free(t);

	/* Members must be well formed and self among them. */
	assert_null(view_text(p, m, nitems(m), 5, &rc));
	assert_int_equal(rc, -ENOENT);
	assert_null(view_text(p, dup, nitems(dup), 2, &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(view_text(p, zero, nitems(zero), 1, &rc));
	assert_int_equal(rc, -EINVAL);
	policy_free(p);
}

static void test_view_parse_table(void **state)
{
	static const struct {
		const char *json;
		int rc;
		const char *err;
	} cases[] = {
	    {"{\"default_deny\":true,\"allow\":[]}", 0, NULL},
	    {"{\"allow\":[],\"default_deny\":false}", 0, NULL},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":4294967295,\"dir\":\"out\",\"proto\":6,"
	     "\"ranges\":[[0,0],[1,1],[65535,65535]]},{\"node\":4294967295,\"dir\":\"out\","
	     "\"proto\":17,\"ranges\":[[0,65535]]}]}",
	     0, NULL},
	    {"[]", -EINVAL, "must be a JSON object"},
	    {"{\"default_deny\":true}", -EINVAL, "'allow' must be an array"},
	    {"{\"allow\":[]}", -EINVAL, "'default_deny'"},
	    {"{\"default_deny\":1,\"allow\":[]}", -EINVAL, "'default_deny'"},
	    {"{\"default_deny\":true,\"allow\":[],\"x\":0}", -EINVAL, "unknown member 'x'"},
	    {"{\"default_deny\":true,\"allow\":[],\"allow\":[]}", -EINVAL, "given twice"},
	    {"{\"default_deny\":true,\"allow\":{}}", -EINVAL, "'allow' must be an array"},
	    {"{\"default_deny\":false,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "without default deny"},
	    {"{\"default_deny\":true,\"allow\":[7]}", -EINVAL, "allow[0]: must be an object"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6}]}", -EINVAL,
	     "allow[0]: 'ranges'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[]}]}",
	     -EINVAL, "allow[0]: 'ranges'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":0,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "allow[0]: 'node'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":-1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "'node'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":4294967296,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "'node'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":\"1\",\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "'node'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"both\",\"proto\":6,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "'dir'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":1,"
	     "\"ranges\":[[1,2]]}]}",
	     -EINVAL, "'proto'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,2]],\"why\":1}]}",
	     -EINVAL, "allow[0]: unknown member 'why'"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1]]}]}",
	     -EINVAL, "allow[0]: ranges[0]"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[2,1]]}]}",
	     -EINVAL, "ranges[0]"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,65536]]}]}",
	     -EINVAL, "ranges[0]"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[-1,5]]}]}",
	     -EINVAL, "ranges[0]"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1.5,2]]}]}",
	     -EINVAL, "ranges[0]"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[5,6],[1,2]]}]}",
	     -EINVAL, "ranges[1] does not follow"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,5],[5,6]]}]}",
	     -EINVAL, "ranges[1] does not follow"},
	    {"{\"default_deny\":true,\"allow\":[{\"node\":1,\"dir\":\"in\",\"proto\":6,"
	     "\"ranges\":[[1,5]]},{\"node\":2,\"dir\":\"in\",\"proto\":6,\"ranges\":[[1,5]]},"
	     "{\"node\":1,\"dir\":\"in\",\"proto\":6,\"ranges\":[[7,8]]}]}",
	     -EINVAL, "allow[2]: node 1 in proto 6 given twice"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < nitems(cases); i++) {
		struct policy_view *v = (struct policy_view *)1;
		int rc = view_from_text(cases[i].json, &v, err, sizeof(err));
		if (rc != cases[i].rc || (cases[i].err && !strstr(err, cases[i].err)))
			print_error("case %zu: rc %d err '%s'\n", i, rc, err);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_non_null(v);
		} else {
			assert_null(v);
			assert_non_null(strstr(err, cases[i].err));
		}
		policy_view_free(v);
	}
	assert_int_equal(policy_view_parse(NULL, &(struct policy_view *){NULL}, NULL, 0), -EINVAL);
}

/* Sizes: one entry per (peer, dir, proto) at most, short entries, and
 * thousands of rules on one pair merge into what they cover. */
static void test_view_size(void **state)
{
	enum { N = 1000 };
	static const char *const pool[][2] = {{"t0", NULL}, {"t1", NULL}, {"t2", NULL},
					      {"t3", NULL}, {"t4", NULL}, {"t5", NULL}};
	struct policy_member *m = calloc(N, sizeof(*m));
	struct policy *p;
	struct policy_view *v;
	struct buf b = {0};
	size_t entries;
	char *t;
	int rc;

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < N; i++) {
		m[i].node = (uint32_t)(i * 7919 + 1);
		m[i].tags = pool[i % 6];
	}
	p = must_parse("{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}");
	t = view_text(p, m, N, m[0].node, &rc);
	assert_int_equal(rc, 0);
	for (entries = 0, b.s = t; (b.s = strstr(b.s, "\"node\"")); b.s++)
		entries++;
	assert_int_equal(entries, 2 * (N - 1));
	assert_true(strlen(t) < entries * 64 + 64);
	free(t);
	policy_free(p);

	/* Ten tag rules: never more than 3 entries per (peer, dir). */
	p = must_parse(
	    "{\"rules\":["
	    "{\"from\":[\"tag:t0\"],\"to\":[\"tag:t1\"],\"ports\":[\"tcp/80\",\"tcp/443\"]},"
	    "{\"from\":[\"tag:t1\"],\"to\":[\"tag:t2\"],\"ports\":[\"tcp/5432\"]},"
	    "{\"from\":[\"tag:t0\"],\"to\":[\"tag:t3\"],\"ports\":[\"udp/53\",\"icmp\"]},"
	    "{\"from\":[\"tag:t3\"],\"to\":[\"tag:t0\"],\"ports\":[\"udp/*\"]},"
	    "{\"from\":[\"tag:t0\"],\"to\":[\"tag:t4\"],\"ports\":[\"tcp/8000-8100\"]},"
	    "{\"from\":[\"tag:t5\"],\"to\":[\"tag:t0\"],\"ports\":[\"tcp/22\"]},"
	    "{\"from\":[\"tag:t0\"],\"to\":[\"tag:t0\"],\"ports\":[\"tcp/9000-9010\"]},"
	    "{\"from\":[\"tag:t2\"],\"to\":[\"tag:t0\"],\"ports\":[\"icmp\"]},"
	    "{\"from\":[\"node:1\"],\"to\":[\"tag:t5\"],\"ports\":[\"tcp/1-1024\"]},"
	    "{\"from\":[\"tag:t4\"],\"to\":[\"node:1\"],\"ports\":[\"tcp/81-442\"]}]}");
	t = view_text(p, m, N, m[0].node, &rc);
	assert_int_equal(rc, 0);
	for (entries = 0, b.s = t; (b.s = strstr(b.s, "\"node\"")); b.s++)
		entries++;
	assert_true(entries > 0 && entries <= 2 * (N - 1) * 3);
	assert_int_equal(view_from_text(t, &v, NULL, 0), 0);
	/* t4 member: out 8000-8100 (rule 4) and in 81-442 (rule 9). */
	assert_int_equal(policy_view_allows(v, m[4].node, 0, 6, 8100), 1);
	assert_int_equal(policy_view_allows(v, m[4].node, 1, 6, 442), 1);
	assert_int_equal(policy_view_allows(v, m[4].node, 1, 6, 443), 0);
	policy_view_free(v);
	free(t);
	policy_free(p);

	/* 10000 rules for the same pairs merge to one range each. */
	memset(&b, 0, sizeof(b));
	bprintf(&b, "{\"rules\":[");
	for (int i = 0; i < POLICY_MAX_RULES; i++)
		bprintf(&b,
			"%s{\"from\":[\"*\"],\"to\":[\"tag:t%d\",\"*\"],\"ports\":[\"tcp/%d\"]}",
			i ? "," : "", i % 6, i + 1);
	bprintf(&b, "]}");
	p = must_parse(b.s);
	free(b.s);
	t = view_text(p, m, 3, m[1].node, &rc);
	assert_int_equal(rc, 0);
	memset(&b, 0, sizeof(b));
	bprintf(&b, "{\"default_deny\":true,\"allow\":[");
	bprintf(&b, "{\"node\":1,\"dir\":\"in\",\"proto\":6,\"ranges\":[[1,10000]]},");
	bprintf(&b, "{\"node\":1,\"dir\":\"out\",\"proto\":6,\"ranges\":[[1,10000]]},");
	bprintf(&b, "{\"node\":15839,\"dir\":\"in\",\"proto\":6,\"ranges\":[[1,10000]]},");
	bprintf(&b, "{\"node\":15839,\"dir\":\"out\",\"proto\":6,\"ranges\":[[1,10000]]}]}");
	assert_string_equal(t, b.s);
	free(b.s);
	free(t);
	policy_free(p);
	free(m);
}

/* ---------------------------------------------------------------- property */

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	/* xorshift64*: reproducible from the seed printed on failure */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32) % n;
}

static const char *const prop_tags[] = {"a", "b", "c", "d", "web", "db"};

static void rand_port(struct rng *r, struct buf *b)
{
	const char *pn = rnd(r, 2) ? "tcp" : "udp";
	uint32_t x = rnd(r, 20), lo, hi;

	if (x == 0)
		bprintf(b, "\"*\"");
	else if (x <= 2)
		bprintf(b, "\"icmp\"");
	else if (x <= 4)
		bprintf(b, "\"%s/*\"", pn);
	else if (x == 5)
		bprintf(b, "\"%s/65530-65535\"", pn);
	else if (x <= 12)
		bprintf(b, "\"%s/%u\"", pn, rnd(r, 50) + 1);
	else {
		lo = rnd(r, 50) + 1;
		hi = lo + rnd(r, 10);
		bprintf(b, "\"%s/%u-%u\"", pn, lo, hi);
	}
}

static void rand_sel(struct rng *r, struct buf *b, const struct policy_member *m, size_t n)
{
	uint32_t x = rnd(r, 20);

	if (x < 2)
		bprintf(b, "\"*\"");
	else if (x < 12)
		bprintf(b, "\"tag:%s\"", prop_tags[rnd(r, nitems(prop_tags))]);
	else if (x == 12)
		bprintf(b, "\"tag:nobody\"");
	else if (x == 13)
		bprintf(b, "\"node:%u\"", 5000 + rnd(r, 100)); /* not a member */
	else
		bprintf(b, "\"node:%u\"", m[rnd(r, (uint32_t)n)].node);
}

static void test_view_matches_eval(void **state)
{
	enum { POLICIES = 200, SAMPLES = 500, MAXM = 24 };
	static const uint8_t protos[] = {6, 6, 6, 17, 17, 17, 58, 0, 1, 132};
	const char *env = getenv("POLICY_TEST_SEED");
	struct rng r = {env ? strtoull(env, NULL, 0) : 0x5eed5eedull};
	uint64_t seed0 = r.s;
	const char *tags[MAXM][5];
	struct policy_member m[MAXM];
	struct policy_view *views[MAXM];
	size_t checked = 0, allowed = 0;

	(void)state;
	for (int it = 0; it < POLICIES; it++) {
		size_t n = 2 + rnd(&r, MAXM - 1), nrules = rnd(&r, 9);
		struct buf b = {0};
		struct policy *p;

		for (size_t i = 0; i < n; i++) {
			size_t nt = rnd(&r, 4), k = 0;
			uint32_t first = rnd(&r, nitems(prop_tags));
			/* distinct IDs, some at the top of the range */
			m[i].node = i == 0 && rnd(&r, 4) == 0 ? UINT32_MAX : (uint32_t)(i * 37 + 1);
			for (size_t t = 0; t < nt; t++)
				tags[i][k++] = prop_tags[(first + t) % nitems(prop_tags)];
			tags[i][k] = NULL;
			m[i].tags = rnd(&r, 8) == 0 ? NULL : tags[i];
			m[i].score = (int)rnd(&r, 101);
		}
		bprintf(&b, "{\"rules\":[");
		for (size_t k = 0; k < nrules; k++) {
			uint32_t nf = 1 + rnd(&r, 3), nt = 1 + rnd(&r, 3), np = 1 + rnd(&r, 4);
			bprintf(&b, "%s{\"from\":[", k ? "," : "");
			for (uint32_t s = 0; s < nf; s++) {
				bprintf(&b, "%s", s ? "," : "");
				rand_sel(&r, &b, m, n);
			}
			bprintf(&b, "],\"to\":[");
			for (uint32_t s = 0; s < nt; s++) {
				bprintf(&b, "%s", s ? "," : "");
				rand_sel(&r, &b, m, n);
			}
			bprintf(&b, "],\"ports\":[");
			for (uint32_t s = 0; s < np; s++) {
				bprintf(&b, "%s", s ? "," : "");
				rand_port(&r, &b);
			}
			bprintf(&b, "]");
			if (rnd(&r, 3) == 0)
				bprintf(&b, ",\"min_score\":%u", rnd(&r, 101));
			bprintf(&b, "}");
		}
		bprintf(&b, "]}");
		p = must_parse(b.s);
		/* The canonical form is a fixed point for these too. */
		{
			char *g1 = gen_text(p), *g2;
			struct policy *q = must_parse(g1);
			g2 = gen_text(q);
			assert_string_equal(g1, g2);
			free(g1);
			free(g2);
			policy_free(q);
		}
		for (size_t i = 0; i < n; i++) {
			views[i] = view_of(p, m, n, m[i].node);
			assert_int_equal(policy_view_default_deny(views[i]), nrules > 0);
		}
		for (int s = 0; s < SAMPLES; s++) {
			size_t self = rnd(&r, (uint32_t)n), peer = rnd(&r, (uint32_t)n - 1);
			int inbound = (int)rnd(&r, 2), rule, want, got;
			uint8_t proto = protos[rnd(&r, nitems(protos))];
			uint32_t px = rnd(&r, 10);
			uint16_t port = px == 0	  ? 0
					: px == 1 ? (uint16_t)(65529 + rnd(&r, 7))
						  : (uint16_t)rnd(&r, 62);
			if (peer >= self)
				peer++;
			want = inbound ? policy_eval(p, &m[peer], &m[self], proto, port, &rule)
				       : policy_eval(p, &m[self], &m[peer], proto, port, &rule);
			got = policy_view_allows(views[self], m[peer].node, inbound, proto, port);
			if (want != got)
				print_error("seed %#llx policy %d sample %d: self %u peer %u %s "
					    "proto %u port %u: eval %d (rule %d) view %d\n%s\n",
					    (unsigned long long)seed0, it, s, m[self].node,
					    m[peer].node, inbound ? "in" : "out", proto, port, want,
					    rule, got, b.s);
			assert_int_equal(want, got);
			checked++;
			allowed += (size_t)want;
		}
		for (size_t i = 0; i < n; i++)
			policy_view_free(views[i]);
		policy_free(p);
		free(b.s);
	}
	/* Both answers must have been exercised. */
	assert_int_equal(checked, POLICIES * SAMPLES);
	assert_true(allowed > checked / 10 && allowed < checked - checked / 10);
}

/* External identities (oidc, spiffe members): SPIFFE ID patterns and
 * claims select members by who their token says they are. */
static void test_external_selectors(void **state)
{
	const char *doc =
	    "{\"rules\":["
	    "{\"from\":[\"spiffe://example.org/agents/*\"],\"to\":[\"claim:groups=ops\"],"
	    "\"ports\":[\"tcp/443\"]},"
	    "{\"from\":[\"spiffe://example.org/*/db\"],\"to\":[\"*\"],\"ports\":[\"tcp/5432\"]}]}";
	static const char *const ops[] = {"groups=ops", "email=x@example.org", NULL};
	static const char *const dev[] = {"groups=dev", NULL};
	const struct policy_member agent = {1, NULL, "spiffe://example.org/agents/a/b", NULL, 0},
				   other = {2, NULL, "spiffe://other.org/agents/a", NULL, 0},
				   opsm = {3, NULL, "alice", ops, 0},
				   devm = {4, NULL, "bob", dev, 0},
				   db = {5, NULL, "spiffe://example.org/x/db", NULL, 0},
				   none = {6, NULL, NULL, NULL, 0};
	const struct policy_member all[] = {agent, other, opsm, devm, db, none};
	static const char *const bad[] = {
	    "{\"rules\":[{\"from\":[\"spiffe://Example.org/"
	    "a\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"spiffe://example.org\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"spiffe://example.org/a/../"
	    "b\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"claim:groups\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"claim:=ops\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"claim:a b=c\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	};
	struct policy *p = must_parse(doc), *q;
	struct policy_view *v;
	char err[256], *t;
	int rule;

	(void)state;
	assert_int_equal(policy_eval(p, &agent, &opsm, 6, 443, &rule), 1);
	assert_int_equal(rule, 0);
	assert_int_equal(policy_eval(p, &agent, &devm, 6, 443, &rule), 0); /* no groups=ops */
	assert_int_equal(policy_eval(p, &other, &opsm, 6, 443, &rule), 0); /* other domain */
	assert_int_equal(policy_eval(p, &opsm, &agent, 6, 443, &rule), 0); /* direction */
	assert_int_equal(policy_eval(p, &none, &opsm, 6, 443, &rule), 0);
	assert_int_equal(policy_eval(p, &db, &none, 6, 5432, &rule), 1);
	assert_int_equal(rule, 1);
	assert_int_equal(policy_eval(p, &agent, &none, 6, 5432, &rule), 0);
	/* the canonical text keeps the selectors as written */
	t = gen_text(p);
	assert_non_null(strstr(t, "\"spiffe://example.org/agents/*\""));
	assert_non_null(strstr(t, "\"claim:groups=ops\""));
	q = must_parse(t);
	assert_int_equal(policy_eval(q, &agent, &opsm, 6, 443, &rule), 1);
	policy_free(q);
	free(t);
	/* views agree with the evaluator */
	v = view_of(p, all, 6, 3);
	assert_int_equal(policy_view_allows(v, 1, 1, 6, 443), 1); /* agent -> ops member */
	assert_int_equal(policy_view_allows(v, 2, 1, 6, 443), 0);
	assert_int_equal(policy_view_allows(v, 5, 1, 6, 5432), 1); /* db -> everyone */
	assert_int_equal(policy_view_allows(v, 1, 0, 6, 443), 0);  /* ops opens to agent: no */
	policy_view_free(v);
	v = view_of(p, all, 6, 4);
	assert_int_equal(policy_view_allows(v, 1, 1, 6, 443), 0);
	policy_view_free(v);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		q = NULL;
		if (policy_parse(bad[i], strlen(bad[i]), &q, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", bad[i]);
	}
	policy_free(p);
}

/* "min_score": the from member's score must reach it, in the evaluator
 * and in views alike; refused when not an integer 0..100; canonical form
 * keeps it; threshold crossing either way. */
static void test_min_score(void **state)
{
	static const char *const refused[] = {
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"min_score\":101}]}",
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"min_score\":-1}]}",
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"min_score\":1.5}]}",
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"min_score\":\"15\"}]"
	    "}",
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"],\"min_score\":true}]}",
	};
	const char *doc = "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/8000\"],"
			  "\"min_score\":15},{\"from\":[\"node:3\"],\"to\":[\"*\"],\"ports\":["
			  "\"udp/53\"],\"min_score\":0}]}";
	struct policy_member m[] = {
	    {1, NULL, NULL, NULL, 14}, {2, NULL, NULL, NULL, 15}, {3, NULL, NULL, NULL, 0}};
	struct policy *p, *q;
	struct policy_view *v;
	char err[256], *t;
	int rule;

	(void)state;
	for (size_t i = 0; i < nitems(refused); i++) {
		q = NULL;
		assert_int_equal(policy_parse(refused[i], strlen(refused[i]), &q, err, sizeof(err)),
				 -EINVAL);
		assert_null(q);
		assert_string_equal(err, "rule 0: 'min_score' must be an integer from 0 to 100");
	}
	p = must_parse(doc);
	t = gen_text(p);
	/* 0 is no threshold: the canonical text leaves it out. */
	assert_string_equal(t, "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/"
			       "8000\"],\"min_score\":15},{\"from\":[\"node:3\"],\"to\":[\"*\"],"
			       "\"ports\":[\"udp/53\"]}]}");
	free(t);
	assert_int_equal(policy_rule_min_score(p, 0), 15);
	assert_int_equal(policy_rule_min_score(p, 1), 0);
	assert_int_equal(policy_rule_min_score(p, 7), 0);
	assert_int_equal(policy_has_min_score(p), 1);
	/* Evaluator: 14 is below, 15 reaches it; the to side's score does not
	 * matter. */
	assert_int_equal(policy_eval(p, &m[0], &m[1], 6, 8000, &rule), 0);
	assert_int_equal(rule, -1);
	assert_int_equal(policy_eval(p, &m[1], &m[0], 6, 8000, &rule), 1);
	assert_int_equal(rule, 0);
	assert_int_equal(policy_eval(p, &m[2], &m[0], 17, 53, &rule), 1);
	assert_int_equal(rule, 1);
	/* Views: node 1 (14) opens nothing to 2, node 2 (15) may open to 1. */
	v = view_of(p, m, nitems(m), 1);
	assert_int_equal(policy_view_allows(v, 2, 0, 6, 8000), 0);
	assert_int_equal(policy_view_allows(v, 2, 1, 6, 8000), 1);
	policy_view_free(v);
	v = view_of(p, m, nitems(m), 2);
	assert_int_equal(policy_view_allows(v, 1, 0, 6, 8000), 1);
	assert_int_equal(policy_view_allows(v, 1, 1, 6, 8000), 0);
	policy_view_free(v);
	/* Crossing, either way, at the threshold and not beside it. */
	assert_int_equal(policy_score_crosses(p, 14, 15), 1);
	assert_int_equal(policy_score_crosses(p, 20, 4), 1);
	assert_int_equal(policy_score_crosses(p, 15, 40), 0);
	assert_int_equal(policy_score_crosses(p, 0, 14), 0);
	assert_int_equal(policy_score_crosses(p, 14, 14), 0);
	policy_free(p);
	p = must_parse("{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}");
	assert_int_equal(policy_has_min_score(p), 0);
	assert_int_equal(policy_score_crosses(p, 0, 100), 0);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_error_line),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_parse_max_bytes),
	    cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_eval),
	    cmocka_unit_test(test_default_allow),
	    cmocka_unit_test(test_view_exact),
	    cmocka_unit_test(test_view_parse_table),
	    cmocka_unit_test(test_view_size),
	    cmocka_unit_test(test_view_matches_eval),
	    cmocka_unit_test(test_external_selectors),
	    cmocka_unit_test(test_min_score),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
