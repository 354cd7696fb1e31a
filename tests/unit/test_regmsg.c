/* test_regmsg.c - the registry request envelope (regmsg.c) and the
 * registry's request handling (rdv_reg.c, rdv_store.c) against a
 * temporary LMDB directory, without a network. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "json.h"
#include "log.h"
#include "rdv.h"
#include "rdv_store.h"
#include "regmsg.h"
#include "util.h"

#define NOW 1700000000000ull

/* ------------------------------------------------------------ envelope */

static const char *const no_keys[] = {NULL};
static const char *const hb_keys[] = {"listen_port", NULL};

static void test_sign_verify(void **state)
{
	uint8_t pk[32], sk[64], pk2[32], sk2[64];
	const char body[] = "{\"op\":\"heartbeat\"}";
	char sig[REGMSG_SIG_B64_LEN], bad[REGMSG_SIG_B64_LEN];
	char *copy;

	(void)state;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	assert_int_equal(regmsg_sign(sk, "/v1/node/heartbeat", body, strlen(body), sig), 0);
	assert_int_equal(strlen(sig), 88);
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), sig), 0);
	/* another key */
	assert_int_equal(regmsg_verify(pk2, "/v1/node/heartbeat", body, strlen(body), sig),
			 -EBADMSG);
	/* the path is signed */
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeaT", body, strlen(body), sig),
			 -EBADMSG);
	assert_int_equal(regmsg_verify(pk, "/v1/node/lookup", body, strlen(body), sig), -EBADMSG);
	/* every byte of the body is signed */
	copy = strdup(body);
	for (size_t i = 0; i < strlen(body); i++) {
		copy[i] ^= 1;
		assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", copy, strlen(body), sig),
				 -EBADMSG);
		copy[i] ^= 1;
	}
	free(copy);
	/* a shorter body (same prefix) */
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body) - 1, sig),
			 -EBADMSG);
	/* a changed signature, bad encodings */
	memcpy(bad, sig, sizeof(bad));
	bad[10] = bad[10] == 'A' ? 'B' : 'A';
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), bad),
			 -EBADMSG);
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), "AAAA"),
			 -EBADMSG);
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), "!!"),
			 -EBADMSG);
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), ""), -EBADMSG);
	assert_int_equal(regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), NULL),
			 -EBADMSG);
	{
		char longsig[400];
		memset(longsig, 'A', sizeof(longsig) - 1);
		longsig[sizeof(longsig) - 1] = '\0';
		assert_int_equal(
		    regmsg_verify(pk, "/v1/node/heartbeat", body, strlen(body), longsig), -EBADMSG);
	}
}

static int parse(const char *op, const char *body, const char *const *keys, struct regmsg_req *r)
{
	char err[160];
	int rc = regmsg_parse(op, body, strlen(body), keys, r, err, sizeof(err));

	if (rc == 0)
		assert_non_null(r->root);
	else
		assert_true(err[0] != '\0');
	return rc;
}

#define NONCE "\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\""

static void test_parse_ok(void **state)
{
	struct regmsg_req r;

	(void)state;
	assert_int_equal(parse("heartbeat",
			       "{\"op\":\"heartbeat\",\"node_id\":7,\"ts\":1700000000000," NONCE
			       ",\"listen_port\":4000}",
			       hb_keys, &r),
			 0);
	assert_string_equal(r.op, "heartbeat");
	assert_true(r.has_node_id);
	assert_int_equal(r.node_id, 7);
	assert_true(r.ts == 1700000000000ull);
	for (int i = 0; i < REGMSG_NONCE_LEN; i++)
		assert_int_equal(r.nonce[i], i);
	regmsg_req_free(&r);
	regmsg_req_free(&r); /* twice is fine */

	/* register may omit node_id */
	assert_int_equal(parse("register", "{\"op\":\"register\",\"ts\":5," NONCE "}", no_keys, &r),
			 0);
	assert_false(r.has_node_id);
	regmsg_req_free(&r);
	/* and may give it */
	assert_int_equal(parse("register", "{\"op\":\"register\",\"node_id\":3,\"ts\":5," NONCE "}",
			       no_keys, &r),
			 0);
	assert_true(r.has_node_id);
	regmsg_req_free(&r);
}

static void test_parse_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "{\"op\":\"heartbeat\"",
	    "[1,2,3]",
	    "\"heartbeat\"",
	    "42",
	    "null",
	    /* op */
	    "{\"node_id\":1,\"ts\":1," NONCE "}",
	    "{\"op\":\"lookup\",\"node_id\":1,\"ts\":1," NONCE "}",
	    "{\"op\":7,\"node_id\":1,\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat \",\"node_id\":1,\"ts\":1," NONCE "}",
	    /* node_id */
	    "{\"op\":\"heartbeat\",\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":\"1\",\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":-1,\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1.5,\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":0,\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":4294967296,\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":null,\"ts\":1," NONCE "}",
	    /* ts */
	    "{\"op\":\"heartbeat\",\"node_id\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":\"1\"," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":-5," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1e3," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":99999999999999999999," NONCE "}",
	    /* nonce */
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1,\"nonce\":\"AAECAwQFBgcICQoLDA0O\"}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1,\"nonce\":\"AAECAwQFBgcICQoLDA0ODxA=\"}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1,\"nonce\":\"!!!!\"}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1,\"nonce\":16}",
	    /* members */
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1," NONCE ",\"extra\":1}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1," NONCE ",\"target\":2}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1,\"ts\":2," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"node_id\":2,\"ts\":1," NONCE "}",
	    /* no comments on the wire */
	    "{\"op\":\"heartbeat\",/* c */\"node_id\":1,\"ts\":1," NONCE "}",
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1," NONCE "} // c",
	    /* trailing garbage */
	    "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1," NONCE "} {}",
	};
	struct regmsg_req r;
	char *big;
	char err[160];

	(void)state;
	for (size_t i = 0; i < nitems(bad); i++) {
		int rc = parse("heartbeat", bad[i], hb_keys, &r);
		if (rc != -EINVAL)
			fail_msg("accepted or wrong error %d for: %s", rc, bad[i]);
		assert_null(r.root);
	}
	/* a NUL inside the body */
	assert_int_equal(regmsg_parse("heartbeat", "{\"op\":\0}", 9, hb_keys, &r, err, sizeof(err)),
			 -EINVAL);
	/* oversize, refused before parsing */
	big = malloc(REGMSG_MAX_BODY + 2);
	memset(big, ' ', REGMSG_MAX_BODY + 1);
	big[REGMSG_MAX_BODY + 1] = '\0';
	assert_int_equal(
	    regmsg_parse("heartbeat", big, REGMSG_MAX_BODY + 1, hb_keys, &r, err, sizeof(err)),
	    -E2BIG);
	free(big);
}

static void test_fresh(void **state)
{
	(void)state;
	assert_int_equal(regmsg_check_fresh(NOW, NOW), 0);
	assert_int_equal(regmsg_check_fresh(NOW - REGMSG_MAX_SKEW_MS, NOW), 0);
	assert_int_equal(regmsg_check_fresh(NOW + REGMSG_MAX_SKEW_MS, NOW), 0);
	assert_int_equal(regmsg_check_fresh(NOW - REGMSG_MAX_SKEW_MS - 1, NOW), -ESTALE);
	assert_int_equal(regmsg_check_fresh(NOW + REGMSG_MAX_SKEW_MS + 1, NOW), -ESTALE);
	assert_int_equal(regmsg_check_fresh(0, NOW), -ESTALE);
	assert_int_equal(regmsg_check_fresh(UINT64_MAX, NOW), -ESTALE);
	assert_int_equal(regmsg_check_fresh(0, 0), 0);
}

static void add_port(struct json_gen *j, void *arg)
{
	jg_ku64(j, "listen_port", *(unsigned *)arg);
}

static void test_build(void **state)
{
	char *a = NULL, *b = NULL;
	size_t al, bl;
	unsigned port = 4242;
	struct regmsg_req ra, rb;
	char err[160];

	(void)state;
	assert_int_equal(regmsg_build("heartbeat", 9, NOW, add_port, &port, &a, &al), 0);
	assert_int_equal(regmsg_build("heartbeat", 9, NOW, add_port, &port, &b, &bl), 0);
	assert_int_equal(strlen(a), al);
	assert_int_equal(regmsg_parse("heartbeat", a, al, hb_keys, &ra, err, sizeof(err)), 0);
	assert_int_equal(regmsg_parse("heartbeat", b, bl, hb_keys, &rb, err, sizeof(err)), 0);
	assert_int_equal(ra.node_id, 9);
	assert_true(ra.ts == NOW);
	assert_memory_not_equal(ra.nonce, rb.nonce, REGMSG_NONCE_LEN);
	regmsg_req_free(&ra);
	regmsg_req_free(&rb);
	free(a);
	free(b);
	/* register with node 0 omits node_id */
	assert_int_equal(regmsg_build("register", 0, NOW, NULL, NULL, &a, &al), 0);
	assert_null(strstr(a, "node_id"));
	free(a);
}

/* ------------------------------------------------------------ registry */

struct fixture {
	char dir[64];
	struct rdv_db db;
	uint32_t notified[64];
	size_t nnotified;
};

struct tnode {
	uint8_t pk[32], sk[64];
	uint32_t id;
};

static void on_notify(void *arg, uint32_t node)
{
	struct fixture *f = arg;

	if (f->nnotified < nitems(f->notified))
		f->notified[f->nnotified++] = node;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_regmsg.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rdv_db_open(&f->db, f->dir), 0);
	f->db.notify = on_notify;
	f->db.notify_arg = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	rdv_db_close(&f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* A signed request: \p extra is the op's members, as JSON text after a
 * comma ("" for none).  Returns the HTTP status; *out gets the parsed
 * reply (caller frees) unless NULL.  The body is kept in \p body_out to
 * replay it. */
static int req_full(struct fixture *f, struct tnode *n, const char *op, uint64_t ts,
		    const char *extra, int with_node_id, yajl_val *out, char *body_out,
		    size_t body_len, const char *sign_path, struct rdv_reply *rep_out)
{
	char body[4096], path[64], sig[REGMSG_SIG_B64_LEN], nonce[32];
	uint8_t nb[REGMSG_NONCE_LEN];
	struct rdv_reply rep;
	int status;

	randombytes_buf(nb, sizeof(nb));
	b64_encode(nonce, sizeof(nonce), nb, sizeof(nb));
	if (with_node_id)
		snprintf(body, sizeof(body),
			 "{\"op\":\"%s\",\"node_id\":%u,\"ts\":%llu,\"nonce\":\"%s\"%s%s}", op,
			 n->id, (unsigned long long)ts, nonce, extra[0] ? "," : "", extra);
	else
		snprintf(body, sizeof(body), "{\"op\":\"%s\",\"ts\":%llu,\"nonce\":\"%s\"%s%s}", op,
			 (unsigned long long)ts, nonce, extra[0] ? "," : "", extra);
	snprintf(path, sizeof(path), "/v1/node/%s", sign_path ? sign_path : op);
	assert_int_equal(regmsg_sign(n->sk, path, body, strlen(body), sig), 0);
	if (body_out)
		snprintf(body_out, body_len, "%s", body);
	assert_int_equal(
	    rdv_reg_handle(&f->db, op, body, strlen(body), sig, "192.0.2.7", NOW, &rep), 0);
	status = rep.status;
	if (out) {
		char err[128];
		*out = rep.stream_node ? NULL : json_parse(rep.body, rep.len, 0, err, sizeof(err));
		if (!rep.stream_node)
			assert_non_null(*out);
	}
	if (rep_out)
		*rep_out = rep;
	else
		rdv_reply_free(&rep);
	return status;
}

static int req(struct fixture *f, struct tnode *n, const char *op, const char *extra, yajl_val *out)
{
	return req_full(f, n, op, NOW, extra, 1, out, NULL, 0, NULL, NULL);
}

/* Replay \p body with a signature by \p n. */
static int replay(struct fixture *f, struct tnode *n, const char *op, const char *body,
		  uint64_t now, yajl_val *out)
{
	char path[64], sig[REGMSG_SIG_B64_LEN], err[128];
	struct rdv_reply rep;
	int status;

	snprintf(path, sizeof(path), "/v1/node/%s", op);
	assert_int_equal(regmsg_sign(n->sk, path, body, strlen(body), sig), 0);
	assert_int_equal(
	    rdv_reg_handle(&f->db, op, body, strlen(body), sig, "192.0.2.7", now, &rep), 0);
	status = rep.status;
	if (out) {
		*out = json_parse(rep.body, rep.len, 0, err, sizeof(err));
		assert_non_null(*out);
	}
	rdv_reply_free(&rep);
	return status;
}

static const char *err_code(yajl_val v)
{
	yajl_val e = json_get(v, "error");
	const char *code = NULL;

	assert_non_null(e);
	assert_int_equal(json_get_str(e, "code", &code), 0);
	return code;
}

static void expect_error(yajl_val v, const char *code)
{
	assert_string_equal(err_code(v), code);
	yajl_tree_free(v);
}

static void do_register(struct fixture *f, struct tnode *n, int pub, const char *hostname)
{
	char extra[512], pkb[64];
	yajl_val v;
	uint32_t id;

	if (!n->id)
		crypto_sign_keypair(n->pk, n->sk);
	b64_encode(pkb, sizeof(pkb), n->pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":%s%s%s%s", pkb,
		 pub ? "true" : "false", hostname ? ",\"hostname\":\"" : "",
		 hostname ? hostname : "", hostname ? "\"" : "");
	assert_int_equal(req_full(f, n, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	if (n->id)
		assert_int_equal(id, n->id);
	n->id = id;
	yajl_tree_free(v);
}

static char *target(uint32_t id)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "\"target\":%u", id);
	return buf;
}

/* The events backlog of \p n after \p after, as one string of lines. */
static char *events(struct fixture *f, struct tnode *n, uint64_t after)
{
	char extra[64];
	struct rdv_reply rep;
	char *s;

	snprintf(extra, sizeof(extra), "\"after\":%llu", (unsigned long long)after);
	assert_int_equal(req_full(f, n, "events", NOW, extra, 1, NULL, NULL, 0, NULL, &rep), 200);
	assert_int_equal(rep.stream_node, n->id);
	s = strndup(rep.body ? rep.body : "", rep.len);
	rdv_reply_free(&rep);
	return s;
}

static size_t count_lines(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_register(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	char extra[256], pkb[64], pbuf[64];
	const char *s;
	uint32_t id;
	yajl_val v;

	do_register(f, &a, 0, "alice");
	assert_int_equal(a.id, 1);
	do_register(f, &b, 1, NULL);
	assert_int_equal(b.id, 2);
	/* the same key again: the same ID, and the answer is complete */
	b64_encode(pkb, sizeof(pkb), a.pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4001,\"public\":false,"
		 "\"hostname\":\"alice\"",
		 pkb);
	assert_int_equal(req_full(f, &a, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_get_str(v, "address", &s), 0);
	assert_string_equal(s, "0:0000.0000.0001");
	assert_int_equal(json_get_str(v, "prefix", &s), 0);
	assert_string_equal(s, prefix_format(&f->db.prefix, pbuf, sizeof(pbuf)));
	assert_int_equal(json_get_str(v, "ipv6", &s), 0);
	assert_non_null(strstr(s, "::1"));
	assert_true(YAJL_IS_ARRAY(json_get(v, "networks")));
	assert_int_equal(json_get(v, "networks")->u.array.len, 1);
	yajl_tree_free(v);
	/* with node_id: must be the key's */
	assert_int_equal(req_full(f, &a, "register", NOW, extra, 1, &v, NULL, 0, NULL, NULL), 200);
	yajl_tree_free(v);
	/* a node_id that is not the key's does not matter: the key decides */
	a.id = 2;
	assert_int_equal(req_full(f, &a, "register", NOW, extra, 1, &v, NULL, 0, NULL, NULL), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	assert_int_equal(id, 1);
	yajl_tree_free(v);
	a.id = 1;
	/* proof of possession: signed by another key */
	assert_int_equal(req_full(f, &b, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 401);
	expect_error(v, "bad_signature");
	/* a hostname in use by an active node */
	{
		struct tnode c = {0};
		crypto_sign_keypair(c.pk, c.sk);
		b64_encode(pkb, sizeof(pkb), c.pk, 32);
		snprintf(extra, sizeof(extra),
			 "\"public_key\":\"%s\",\"listen_port\":1,\"public\":true,"
			 "\"hostname\":\"Alice\"",
			 pkb);
		assert_int_equal(
		    req_full(f, &c, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 409);
		expect_error(v, "conflict");
		/* bad hostnames */
		snprintf(extra, sizeof(extra),
			 "\"public_key\":\"%s\",\"listen_port\":1,\"public\":true,"
			 "\"hostname\":\"12345\"",
			 pkb);
		assert_int_equal(
		    req_full(f, &c, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 400);
		expect_error(v, "bad_request");
		snprintf(extra, sizeof(extra),
			 "\"public_key\":\"%s\",\"listen_port\":70000,\"public\":true", pkb);
		assert_int_equal(
		    req_full(f, &c, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 400);
		expect_error(v, "bad_request");
		/* refused requests took no ID: the next one is 3 */
		do_register(f, &c, 1, "carol");
		assert_int_equal(c.id, 3);
	}
}

static void test_replay_and_stale(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	char body[1024], extra[256], pkb[64];
	const char *ep;
	yajl_val v;

	do_register(f, &a, 1, NULL);
	do_register(f, &b, 0, NULL);

	/* a heartbeat, then its replay: refused, and the endpoint it would
	 * set again is not touched by the refused request */
	assert_int_equal(req_full(f, &a, "heartbeat", NOW, "\"listen_port\":5000", 1, &v, body,
				  sizeof(body), NULL, NULL),
			 200);
	yajl_tree_free(v);
	assert_int_equal(replay(f, &a, "heartbeat", body, NOW, &v), 409);
	expect_error(v, "replay");
	assert_int_equal(replay(f, &a, "heartbeat", body, NOW + 30000, &v), 409);
	expect_error(v, "replay");

	/* a replayed handshake after the target rejected it changes nothing */
	assert_int_equal(req_full(f, &a, "handshake", NOW, "\"target\":2,\"justification\":\"hi\"",
				  1, &v, body, sizeof(body), NULL, NULL),
			 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "reject", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(replay(f, &a, "handshake", body, NOW, &v), 409);
	expect_error(v, "replay");
	assert_int_equal(req(f, &b, "inbox", "", &v), 200);
	assert_int_equal(json_get(v, "requests")->u.array.len, 0);
	yajl_tree_free(v);

	/* stale: either side of the window */
	assert_int_equal(req_full(f, &a, "heartbeat", NOW - REGMSG_MAX_SKEW_MS - 1,
				  "\"listen_port\":6000", 1, &v, NULL, 0, NULL, NULL),
			 401);
	expect_error(v, "stale");
	assert_int_equal(req_full(f, &a, "heartbeat", NOW + REGMSG_MAX_SKEW_MS + 1,
				  "\"listen_port\":6000", 1, &v, NULL, 0, NULL, NULL),
			 401);
	expect_error(v, "stale");
	assert_int_equal(req_full(f, &a, "heartbeat", NOW - REGMSG_MAX_SKEW_MS,
				  "\"listen_port\":5001", 1, &v, NULL, 0, NULL, NULL),
			 200);
	yajl_tree_free(v);
	/* the stale heartbeats did not move the endpoint */
	assert_int_equal(req(f, &b, "resolve", target(a.id), &v), 200);
	assert_int_equal(json_get_str(v, "endpoint", &ep), 0);
	assert_string_equal(ep, "192.0.2.7:5001");
	yajl_tree_free(v);

	/* a stale first registration takes no ID */
	crypto_sign_keypair(c.pk, c.sk);
	b64_encode(pkb, sizeof(pkb), c.pk, 32);
	snprintf(extra, sizeof(extra), "\"public_key\":\"%s\",\"listen_port\":1,\"public\":true",
		 pkb);
	assert_int_equal(
	    req_full(f, &c, "register", NOW - 120000, extra, 0, &v, NULL, 0, NULL, NULL), 401);
	expect_error(v, "stale");
	/* a replayed first registration is a replay, not a second node */
	assert_int_equal(
	    req_full(f, &c, "register", NOW, extra, 0, &v, body, sizeof(body), NULL, NULL), 200);
	yajl_tree_free(v);
	assert_int_equal(replay(f, &c, "register", body, NOW, &v), 409);
	expect_error(v, "replay");

	/* signed for another path */
	assert_int_equal(
	    req_full(f, &a, "heartbeat", NOW, "\"listen_port\":1", 1, &v, NULL, 0, "lookup", NULL),
	    401);
	expect_error(v, "bad_signature");
	/* unknown signer */
	a.id = 999;
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":1", &v), 404);
	expect_error(v, "not_found");
	a.id = 1;
	/* a signature by another node */
	b.id = a.id;
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":1", &v), 401);
	expect_error(v, "bad_signature");
}

static void test_envelope_errors(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0};
	struct rdv_reply rep;
	const char body[] = "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":1}";
	char *big;
	yajl_val v;

	do_register(f, &a, 1, NULL);
	/* missing signature */
	assert_int_equal(
	    rdv_reg_handle(&f->db, "heartbeat", body, strlen(body), NULL, "::1", NOW, &rep), 0);
	assert_int_equal(rep.status, 400); /* envelope first: no nonce */
	rdv_reply_free(&rep);
	{
		char b2[256];
		snprintf(b2, sizeof(b2),
			 "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":%llu,"
			 "\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"listen_port\":7}",
			 (unsigned long long)NOW);
		assert_int_equal(
		    rdv_reg_handle(&f->db, "heartbeat", b2, strlen(b2), NULL, "::1", NOW, &rep), 0);
		assert_int_equal(rep.status, 401);
		assert_non_null(strstr(rep.body, "bad_signature"));
		rdv_reply_free(&rep);
	}
	assert_int_equal(req_full(f, &a, "heartbeat", NOW, "\"listen_port\":1,\"x\":1", 1, &v, NULL,
				  0, NULL, NULL),
			 400);
	expect_error(v, "bad_request");
	/* unknown op */
	assert_int_equal(rdv_reg_handle(&f->db, "nope", body, strlen(body), NULL, "::1", NOW, &rep),
			 0);
	assert_int_equal(rep.status, 404);
	rdv_reply_free(&rep);
	/* too large */
	big = calloc(1, REGMSG_MAX_BODY + 1);
	memset(big, ' ', REGMSG_MAX_BODY + 1);
	assert_int_equal(
	    rdv_reg_handle(&f->db, "heartbeat", big, REGMSG_MAX_BODY + 1, "x", "::1", NOW, &rep),
	    0);
	assert_int_equal(rep.status, 413);
	assert_non_null(strstr(rep.body, "too_large"));
	rdv_reply_free(&rep);
	free(big);
	/* IPv6 endpoints are bracketed */
	{
		char sig[REGMSG_SIG_B64_LEN], b2[256];
		const char *ep;
		snprintf(b2, sizeof(b2),
			 "{\"op\":\"heartbeat\",\"node_id\":1,\"ts\":%llu,"
			 "\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"listen_port\":7}",
			 (unsigned long long)NOW);
		regmsg_sign(a.sk, "/v1/node/heartbeat", b2, strlen(b2), sig);
		assert_int_equal(rdv_reg_handle(&f->db, "heartbeat", b2, strlen(b2), sig,
						"2001:db8::1", NOW, &rep),
				 0);
		assert_int_equal(rep.status, 200);
		rdv_reply_free(&rep);
		assert_int_equal(req(f, &a, "resolve", target(a.id), &v), 200);
		assert_int_equal(json_get_str(v, "endpoint", &ep), 0);
		assert_string_equal(ep, "[2001:db8::1]:7");
		yajl_tree_free(v);
	}
}

static void test_visibility(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	struct rdv_reply r1, r2;
	char pkb[64], extra[128];
	const char *s;
	yajl_val v;
	int pub;

	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, "bob");
	do_register(f, &c, 1, "carol");

	/* private B is answered exactly like a node that does not exist */
	assert_int_equal(req_full(f, &a, "lookup", NOW, target(b.id), 1, NULL, NULL, 0, NULL, &r1),
			 404);
	assert_int_equal(req_full(f, &a, "lookup", NOW, target(77), 1, NULL, NULL, 0, NULL, &r2),
			 404);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	rdv_reply_free(&r1);
	rdv_reply_free(&r2);
	assert_int_equal(req_full(f, &a, "resolve", NOW, target(b.id), 1, NULL, NULL, 0, NULL, &r1),
			 404);
	assert_int_equal(req_full(f, &a, "resolve", NOW, target(77), 1, NULL, NULL, 0, NULL, &r2),
			 404);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	rdv_reply_free(&r1);
	rdv_reply_free(&r2);
	/* by key too */
	b64_encode(pkb, sizeof(pkb), b.pk, 32);
	snprintf(extra, sizeof(extra), "\"public_key\":\"%s\"", pkb);
	assert_int_equal(req(f, &a, "lookup", extra, &v), 404);
	expect_error(v, "not_found");
	/* target and public_key together, or neither */
	snprintf(extra, sizeof(extra), "\"public_key\":\"%s\",\"target\":2", pkb);
	assert_int_equal(req(f, &a, "lookup", extra, &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "lookup", "", &v), 400);
	expect_error(v, "bad_request");

	/* public C is visible */
	assert_int_equal(req(f, &a, "lookup", target(c.id), &v), 200);
	assert_int_equal(json_get_str(v, "hostname", &s), 0);
	assert_string_equal(s, "carol");
	assert_int_equal(json_get_bool(v, "public", &pub), 0);
	assert_true(pub);
	assert_int_equal(json_get_str(v, "address", &s), 0);
	assert_string_equal(s, "0:0000.0000.0003");
	assert_null(json_get(v, "endpoint"));
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "resolve", target(c.id), &v), 200);
	assert_int_equal(json_get_str(v, "endpoint", &s), 0);
	assert_string_equal(s, "192.0.2.7:4000");
	yajl_tree_free(v);
	/* a node sees itself */
	assert_int_equal(req(f, &b, "lookup", target(b.id), &v), 200);
	yajl_tree_free(v);

	/* deregistered C is hidden, even though public */
	assert_int_equal(req(f, &c, "deregister", "", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "lookup", target(c.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &c, "heartbeat", "\"listen_port\":1", &v), 404);
	expect_error(v, "not_found");
	/* and its hostname is free; registering again gives the same ID */
	do_register(f, &c, 1, "carol");
	assert_int_equal(c.id, 3);
	assert_int_equal(req(f, &a, "lookup", target(c.id), &v), 200);
	yajl_tree_free(v);
}

static void test_trust_flow(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	const char *s;
	char *ev;
	yajl_val v, req0;
	uint32_t id;

	do_register(f, &a, 0, "a");
	do_register(f, &b, 0, "b");
	f->nnotified = 0;

	/* A asks B: pending, in B's inbox, an event for B */
	assert_int_equal(
	    req(f, &a, "handshake", "\"target\":2,\"justification\":\"let me in\"", &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "pending");
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 1);
	assert_int_equal(f->notified[0], b.id);
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":4000", &v), 200);
	assert_int_equal(json_get_u32(v, "inbox", &id), 0);
	assert_int_equal(id, 1);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "inbox", "", &v), 200);
	assert_int_equal(json_get(v, "requests")->u.array.len, 1);
	req0 = json_get(v, "requests")->u.array.values[0];
	assert_int_equal(json_get_u32(req0, "node_id", &id), 0);
	assert_int_equal(id, a.id);
	assert_int_equal(json_get_str(req0, "justification", &s), 0);
	assert_string_equal(s, "let me in");
	assert_int_equal(json_get_str(req0, "hostname", &s), 0);
	assert_string_equal(s, "a");
	yajl_tree_free(v);
	ev = events(f, &b, 0);
	assert_non_null(strstr(ev, "{\"seq\":1,\"event\":\"handshake.received\",\"node_id\":1,"
				   "\"justification\":\"let me in\"}\n"));
	free(ev);
	/* a repeated handshake does not notify again */
	f->nnotified = 0;
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 0);
	/* still invisible while pending */
	assert_int_equal(req(f, &a, "resolve", target(b.id), &v), 404);
	expect_error(v, "not_found");
	/* nonsense */
	assert_int_equal(req(f, &a, "handshake", target(a.id), &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "handshake", "\"target\":2,\"justification\":\"a\\u0001\"", &v),
			 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "handshake", target(99), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &a, "approve", target(b.id), &v), 404);
	expect_error(v, "not_found");

	/* B approves: the pair exists, A is told with B's lookup object */
	f->nnotified = 0;
	assert_int_equal(req(f, &b, "approve", target(a.id), &v), 200);
	assert_int_equal(json_get_u32(json_get(v, "peer"), "node_id", &id), 0);
	assert_int_equal(id, a.id);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 1);
	assert_int_equal(f->notified[0], a.id);
	ev = events(f, &a, 0);
	assert_non_null(strstr(ev, "\"event\":\"trust.approved\",\"peer\":{\"node_id\":2,"));
	free(ev);
	assert_int_equal(req(f, &a, "resolve", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "inbox", "", &v), 200);
	assert_int_equal(json_get(v, "requests")->u.array.len, 0);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "trusts", "", &v), 200);
	assert_int_equal(json_get(v, "peers")->u.array.len, 1);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "trusts", "", &v), 200);
	assert_int_equal(json_get(v, "peers")->u.array.len, 1);
	yajl_tree_free(v);
	/* handshake once trusted: approved, idempotent */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "approved");
	yajl_tree_free(v);

	/* A untrusts: gone for both, B is told */
	f->nnotified = 0;
	assert_int_equal(req(f, &a, "untrust", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 1);
	assert_int_equal(f->notified[0], b.id);
	ev = events(f, &b, 1);
	assert_null(strstr(ev, "handshake.received")); /* acknowledged, pruned */
	assert_non_null(strstr(ev, "\"event\":\"trust.revoked\",\"node_id\":1}"));
	free(ev);
	/* after=1 pruned seq 1 for good */
	ev = events(f, &b, 0);
	assert_null(strstr(ev, "\"seq\":1,"));
	assert_non_null(strstr(ev, "\"seq\":2,"));
	free(ev);
	assert_int_equal(req(f, &a, "resolve", target(b.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &b, "trusts", "", &v), 200);
	assert_int_equal(json_get(v, "peers")->u.array.len, 0);
	yajl_tree_free(v);
	/* idempotent */
	f->nnotified = 0;
	assert_int_equal(req(f, &a, "untrust", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 0);

	/* reject: the requester is told, the inbox is empty */
	assert_int_equal(req(f, &b, "handshake", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "reject", target(b.id), &v), 200);
	yajl_tree_free(v);
	ev = events(f, &b, 2);
	assert_non_null(strstr(ev, "\"event\":\"handshake.rejected\",\"node_id\":1}"));
	free(ev);
	assert_int_equal(req(f, &a, "reject", target(b.id), &v), 404);
	expect_error(v, "not_found");
}

static void test_both_asked(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	const char *s;
	char *ea, *eb;
	yajl_val v;

	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	f->nnotified = 0;
	assert_int_equal(req(f, &b, "handshake", target(a.id), &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "approved");
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 2);
	ea = events(f, &a, 0);
	eb = events(f, &b, 0);
	assert_int_equal(count_lines(ea, "trust.approved"), 1);
	assert_non_null(strstr(ea, "\"peer\":{\"node_id\":2,"));
	assert_int_equal(count_lines(eb, "trust.approved"), 1);
	assert_non_null(strstr(eb, "\"peer\":{\"node_id\":1,"));
	free(ea);
	free(eb);
	assert_int_equal(req(f, &a, "inbox", "", &v), 200);
	assert_int_equal(json_get(v, "requests")->u.array.len, 0);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "inbox", "", &v), 200);
	assert_int_equal(json_get(v, "requests")->u.array.len, 0);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "resolve", target(a.id), &v), 200);
	yajl_tree_free(v);
}

static void test_nonce_prune(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0};
	char body[1024];
	yajl_val v;

	do_register(f, &a, 0, NULL);
	assert_int_equal(req_full(f, &a, "heartbeat", NOW, "\"listen_port\":1", 1, &v, body,
				  sizeof(body), NULL, NULL),
			 200);
	yajl_tree_free(v);
	/* not yet old enough */
	assert_int_equal(rdv_nonce_prune(&f->db, NOW + RDV_NONCE_KEEP_MS - 1), 0);
	assert_int_equal(replay(f, &a, "heartbeat", body, NOW, &v), 409);
	expect_error(v, "replay");
	/* two nonces (register + heartbeat) go */
	assert_int_equal(rdv_nonce_prune(&f->db, NOW + RDV_NONCE_KEEP_MS + 1), 2);
	/* once forgotten, a replay is stale anyway */
	assert_int_equal(replay(f, &a, "heartbeat", body, NOW + RDV_NONCE_KEEP_MS + 1, &v), 401);
	expect_error(v, "stale");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_verify),
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test(test_parse_refuses),
	    cmocka_unit_test(test_fresh),
	    cmocka_unit_test(test_build),
	    cmocka_unit_test_setup_teardown(test_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_and_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_envelope_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_visibility, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trust_flow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_both_asked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nonce_prune, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	log_init("test_regmsg", LOG_LVL_ERROR, LOG_FMT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
