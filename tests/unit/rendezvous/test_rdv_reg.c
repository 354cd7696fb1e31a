/* test_rdv_reg.c - the registry request envelope (regmsg.c) and the
 * registry's request handling (rdv_reg*.c, rdv_store.c) against a
 * temporary LMDB directory, without a network; the ca join rule, its
 * revocation lists and certificate expiry, and identity expiry (issue 14)
 * on the request clock the fixture sets (struct fixture.now); the oidc and
 * spiffe join rules on tokens minted here (jwt_mint.h). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit.h"
#include "cert.h"
#include "hmap.h"
#include "json.h"
#include "log.h"
#include "rdv.h"
#include "rdv_limit.h"
#include "rdv_store.h"
#include "regmsg.h"
#include "util.h"

#include "../jwt_mint.h"

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
	uint64_t now;	/* the registry's clock (ms); 0: NOW */
	const char *ip; /* the source of node requests; NULL: 198.18.2.7 */
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

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_rdv_reg.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rdv_db_open(&f->db, f->dir), 0);
	f->db.notify = on_notify;
	f->db.notify_arg = f;
	*state = f;
	return 0;
}

/* The registry's clock, and the ts of requests made on it. */
static uint64_t clk(const struct fixture *f)
{
	return f->now ? f->now : NOW;
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
	assert_int_equal(rdv_reg_handle(&f->db, op, body, strlen(body), sig,
					f->ip ? f->ip : "198.18.2.7", clk(f), &rep),
			 0);
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
	return req_full(f, n, op, clk(f), extra, 1, out, NULL, 0, NULL, NULL);
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
	    rdv_reg_handle(&f->db, op, body, strlen(body), sig, "198.18.2.7", now, &rep), 0);
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
	assert_int_equal(req_full(f, n, "register", clk(f), extra, 0, &v, NULL, 0, NULL, NULL),
			 200);
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
	assert_int_equal(req_full(f, n, "events", clk(f), extra, 1, NULL, NULL, 0, NULL, &rep),
			 200);
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
	assert_string_equal(ep, "198.18.2.7:5001");
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
	assert_string_equal(s, "198.18.2.7:4000");
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

/* ------------------------------------------------------------ issue 3 */

#define ADMIN_TOKEN "correct-horse-battery-staple"
#define ADMIN_AUTH "Bearer " ADMIN_TOKEN

/* An admin request; returns the status, *out the parsed reply. */
static int admin_req(struct fixture *f, const char *token, const char *auth, const char *op,
		     const char *body, yajl_val *out)
{
	struct rdv_reply rep;
	char err[128];
	int status;

	assert_int_equal(rdv_admin_handle(&f->db, token, op, body, strlen(body), auth,
					  "198.19.100.9", clk(f), &rep),
			 0);
	status = rep.status;
	if (out) {
		*out = json_parse(rep.body, rep.len, 0, err, sizeof(err));
		assert_non_null(*out);
	}
	rdv_reply_free(&rep);
	return status;
}

static int admin(struct fixture *f, const char *op, const char *body, yajl_val *out)
{
	return admin_req(f, ADMIN_TOKEN, ADMIN_AUTH, op, body, out);
}

/* Create a network; returns its ID. */
static uint32_t mk_net(struct fixture *f, const char *body)
{
	yajl_val v;
	uint32_t id;

	assert_int_equal(admin(f, "network_create", body, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &id), 0);
	yajl_tree_free(v);
	return id;
}

static int join(struct fixture *f, struct tnode *n, uint32_t net, const char *more, yajl_val *out)
{
	char extra[1024];

	snprintf(extra, sizeof(extra), "\"network_id\":%u%s%s", net, more ? "," : "",
		 more ? more : "");
	return req(f, n, "network_join", extra, out);
}

static void join_ok(struct fixture *f, struct tnode *n, uint32_t net, const char *more)
{
	yajl_val v;

	assert_int_equal(join(f, n, net, more, &v), 200);
	yajl_tree_free(v);
}

static char *net_extra(uint32_t net)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "\"network_id\":%u", net);
	return buf;
}

static size_t arr_len(yajl_val v, const char *key)
{
	yajl_val a = json_get(v, key);

	assert_non_null(a);
	assert_true(YAJL_IS_ARRAY(a));
	return a->u.array.len;
}

static uint32_t arr_u32(yajl_val v, const char *key, size_t i)
{
	yajl_val a = json_get(v, key);

	assert_true(i < a->u.array.len);
	return (uint32_t)YAJL_GET_INTEGER(a->u.array.values[i]);
}

/* The node record as stored. */
/* Array member \p key of \p v is the \p n IDs at \p want. */
static void expect_ids(yajl_val v, const char *key, const uint32_t *want, size_t n)
{
	assert_int_equal(arr_len(v, key), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(arr_u32(v, key, i), want[i]);
}

static void stored(struct fixture *f, uint32_t id, struct rdv_node *n)
{
	struct store_txn t;

	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_node_get(&t, &f->db, id, n), 0);
	store_txn_abort(&t);
}

static int set_host(struct fixture *f, struct tnode *n, const char *h, yajl_val *out)
{
	char extra[256];

	snprintf(extra, sizeof(extra), "\"hostname\":\"%s\"", h);
	return req(f, n, "set_hostname", extra, out);
}

static void expect_msg(yajl_val v, const char *code, const char *needle)
{
	const char *m = NULL;

	assert_string_equal(err_code(v), code);
	assert_int_equal(json_get_str(json_get(v, "error"), "message", &m), 0);
	if (!strstr(m, needle))
		fail_msg("message '%s' does not mention '%s'", m, needle);
	yajl_tree_free(v);
}

static void test_hostname_rules(void **state)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
	    {"", "1 to 63"},
	    {"1234567", "all digits"},
	    {"-abc", "start or end"},
	    {"abc-", "start or end"},
	    {"a_b", "letters, digits"},
	    {"a.b", "letters, digits"},
	    {"caf\\u00e9", "letters, digits"},
	    {"a b", "letters, digits"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1 to 63"},
	};
	static const char *const reserved[] = {"localhost",  "LocalHost", "pilot", "registry",
					       "rendezvous", "beacon",	  "admin", "root",
					       "backbone",   "broadcast", "local", "all",
					       "any",	     "none",	  "self",  "gateway"};
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	struct rdv_node n;
	const char *s;
	char name63[64];
	yajl_val v;

	do_register(f, &a, 1, NULL);
	do_register(f, &b, 1, "bob");
	for (size_t i = 0; i < nitems(bad); i++) {
		assert_int_equal(set_host(f, &a, bad[i].name, &v), 400);
		expect_msg(v, "bad_request", bad[i].why);
	}
	for (size_t i = 0; i < nitems(reserved); i++) {
		assert_int_equal(set_host(f, &a, reserved[i], &v), 403);
		expect_msg(v, "forbidden", "reserved");
	}
	/* register refuses reserved names too */
	{
		char extra[256], pkb[64];
		crypto_sign_keypair(c.pk, c.sk);
		b64_encode(pkb, sizeof(pkb), c.pk, 32);
		snprintf(extra, sizeof(extra),
			 "\"public_key\":\"%s\",\"listen_port\":1,\"public\":true,"
			 "\"hostname\":\"gateway\"",
			 pkb);
		assert_int_equal(
		    req_full(f, &c, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 403);
		expect_error(v, "forbidden");
	}
	stored(f, a.id, &n);
	assert_string_equal(n.hostname, ""); /* nothing above changed it */

	/* canonical lower case; 63 characters fit; mixed digits are fine */
	memset(name63, 'x', 63);
	name63[63] = '\0';
	name63[0] = 'Q';
	assert_int_equal(set_host(f, &a, name63, &v), 200);
	assert_int_equal(json_get_str(v, "hostname", &s), 0);
	assert_int_equal(strlen(s), 63);
	assert_int_equal(s[0], 'q');
	yajl_tree_free(v);
	assert_int_equal(set_host(f, &a, "Alice-2", &v), 200);
	assert_int_equal(json_get_str(v, "hostname", &s), 0);
	assert_string_equal(s, "alice-2");
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_string_equal(n.hostname, "alice-2");
	/* the old name was given up */
	assert_int_equal(set_host(f, &b, name63, &v), 200);
	yajl_tree_free(v);
	/* taken (in any case), and again by the owner is fine */
	assert_int_equal(set_host(f, &b, "ALICE-2", &v), 409);
	expect_error(v, "conflict");
	assert_int_equal(set_host(f, &a, "alice-2", &v), 200);
	yajl_tree_free(v);
	/* find works with the new name */
	assert_int_equal(req(f, &b, "find", "\"hostname\":\"alice-2.pilot\"", &v), 200);
	yajl_tree_free(v);

	/* clear: gone from find, and free for another node */
	assert_int_equal(req(f, &a, "clear_hostname", "", &v), 200);
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_string_equal(n.hostname, "");
	assert_int_equal(req(f, &b, "find", "\"hostname\":\"alice-2\"", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(set_host(f, &b, "alice-2", &v), 200);
	yajl_tree_free(v);
	/* idempotent */
	assert_int_equal(req(f, &a, "clear_hostname", "", &v), 200);
	yajl_tree_free(v);
	/* a deregistered owner gives its name up */
	assert_int_equal(req(f, &b, "deregister", "", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(set_host(f, &a, "alice-2", &v), 200);
	yajl_tree_free(v);
	/* wrong type */
	assert_int_equal(req(f, &a, "set_hostname", "\"hostname\":7", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "set_hostname", "", &v), 400);
	expect_error(v, "bad_request");
}

static void test_tags_and_visibility(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	struct rdv_node n;
	const char *s;
	yajl_val v, t;
	int pub;

	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	assert_int_equal(
	    req(f, &a, "set_tags", "\"tags\":[\"Web\",\"db\",\"web\",\"a.b_c-9\",\"0x\"]", &v),
	    200);
	t = json_get(v, "tags");
	assert_int_equal(arr_len(v, "tags"), 4);
	assert_string_equal(t->u.array.values[0]->u.string, "0x");
	assert_string_equal(t->u.array.values[1]->u.string, "a.b_c-9");
	assert_string_equal(t->u.array.values[2]->u.string, "db");
	assert_string_equal(t->u.array.values[3]->u.string, "web");
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_int_equal(n.ntags, 4);
	assert_string_equal(n.tags[3], "web");

	/* refused: too many, charset, start, length, types; nothing changes */
	assert_int_equal(
	    req(f, &a, "set_tags",
		"\"tags\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\","
		"\"k\"]",
		&v),
	    400);
	expect_msg(v, "bad_request", "at most 10");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"ok\",\"no way\"]", &v), 400);
	expect_msg(v, "bad_request", "tag 2");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"-x\"]", &v), 400);
	expect_msg(v, "bad_request", "start with");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"_x\"]", &v), 400);
	expect_msg(v, "bad_request", "start with");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"\"]", &v), 400);
	expect_msg(v, "bad_request", "1 to 32");
	assert_int_equal(
	    req(f, &a, "set_tags", "\"tags\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]", &v), 400);
	expect_msg(v, "bad_request", "1 to 32");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"t:x\"]", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[1]", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":\"web\"", &v), 400);
	expect_error(v, "bad_request");
	stored(f, a.id, &n);
	assert_int_equal(n.ntags, 4);
	/* ten, with duplicates folding, and 32 characters fit */
	assert_int_equal(
	    req(f, &a, "set_tags",
		"\"tags\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"b\",\"B\",\"c\",\"d\","
		"\"e\",\"f\",\"g\",\"h\",\"i\"]",
		&v),
	    200);
	assert_int_equal(arr_len(v, "tags"), 9);
	yajl_tree_free(v);
	/* empty clears; tags survive re-registration */
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"x\"]", &v), 200);
	yajl_tree_free(v);
	do_register(f, &a, 0, NULL);
	stored(f, a.id, &n);
	assert_int_equal(n.ntags, 1);
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[]", &v), 200);
	assert_int_equal(arr_len(v, "tags"), 0);
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_int_equal(n.ntags, 0);

	/* visibility */
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &a, "set_visibility", "\"public\":true", &v), 200);
	assert_int_equal(json_get_bool(v, "public", &pub), 0);
	assert_true(pub);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 200);
	assert_int_equal(json_get_bool(v, "public", &pub), 0);
	assert_true(pub);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "set_visibility", "\"public\":\"no\"", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "set_visibility", "\"public\":false", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 404);
	expect_error(v, "not_found");
	(void)s;
}

/* The rotate_key proof by \p sk over the doc's exact bytes. */
static void rotate_proof(const uint8_t sk[64], uint32_t id, const uint8_t oldpk[32],
			 const uint8_t newpk[32], uint64_t ts, char *out, size_t outlen)
{
	char m[512], ob[64], nb[64];
	uint8_t sig[64];
	int n;

	b64_encode(ob, sizeof(ob), oldpk, 32);
	b64_encode(nb, sizeof(nb), newpk, 32);
	n = snprintf(m, sizeof(m), "pilot-rotate-key-v1\n%u\n%s\n%s\n%llu", id, ob, nb,
		     (unsigned long long)ts);
	crypto_sign_detached(sig, NULL, (const uint8_t *)m, (size_t)n, sk);
	b64_encode(out, outlen, sig, sizeof(sig));
}

static int rotate(struct fixture *f, struct tnode *n, const uint8_t newpk[32], const char *proof,
		  yajl_val *out)
{
	char extra[512], nb[64];

	b64_encode(nb, sizeof(nb), newpk, 32);
	snprintf(extra, sizeof(extra), "\"new_public_key\":\"%s\",\"proof\":\"%s\"", nb, proof);
	return req(f, n, "rotate_key", extra, out);
}

static void test_rotate_key(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0}, old;
	uint8_t npk[32], nsk[64];
	char proof[128], extra[256], pkb[64], *ev;
	struct rdv_node n;
	const char *s;
	uint32_t net, id;
	yajl_val v;

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	do_register(f, &d, 0, NULL);
	/* B trusts A; C shares a network with A; D has nothing to do with A */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "approve", target(a.id), &v), 200);
	yajl_tree_free(v);
	net = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	join_ok(f, &a, net, NULL);
	join_ok(f, &c, net, NULL);
	crypto_sign_keypair(npk, nsk);

	/* wrong proofs: by the old key, over another ts, for another node */
	rotate_proof(a.sk, a.id, a.pk, npk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 401);
	expect_msg(v, "bad_signature", "proof");
	rotate_proof(nsk, a.id, a.pk, npk, NOW + 1, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 401);
	expect_error(v, "bad_signature");
	rotate_proof(nsk, b.id, a.pk, npk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 401);
	expect_error(v, "bad_signature");
	assert_int_equal(rotate(f, &a, npk, "AAAA", &v), 400);
	expect_error(v, "bad_request");
	/* the same key, or one registered to another node */
	rotate_proof(a.sk, a.id, a.pk, a.pk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, a.pk, proof, &v), 400);
	expect_error(v, "bad_request");
	rotate_proof(d.sk, a.id, a.pk, d.pk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, d.pk, proof, &v), 409);
	expect_error(v, "conflict");
	/* nothing changed: the old key still signs, nobody was told */
	stored(f, a.id, &n);
	assert_memory_equal(n.pk, a.pk, 32);
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);
	ev = events(f, &b, 0);
	assert_null(strstr(ev, "key_rotated"));
	free(ev);

	/* the real thing */
	f->nnotified = 0;
	rotate_proof(nsk, a.id, a.pk, npk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	assert_int_equal(id, a.id);
	assert_int_equal(json_get_str(v, "public_key", &s), 0);
	b64_encode(pkb, sizeof(pkb), npk, 32);
	assert_string_equal(s, pkb);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 2);
	old = a;
	memcpy(a.pk, npk, 32);
	memcpy(a.sk, nsk, 64);
	/* B (trust) and C (network) are told; D is not */
	snprintf(extra, sizeof(extra),
		 "\"event\":\"peer.key_rotated\",\"node_id\":%u,"
		 "\"public_key\":\"%s\"}",
		 a.id, pkb);
	ev = events(f, &b, 0);
	assert_non_null(strstr(ev, extra));
	free(ev);
	ev = events(f, &c, 0);
	assert_non_null(strstr(ev, extra));
	free(ev);
	ev = events(f, &d, 0);
	assert_null(strstr(ev, "key_rotated"));
	free(ev);
	/* the old key signs nothing and cannot register: key_retired */
	assert_int_equal(req(f, &old, "heartbeat", "\"listen_port\":4000", &v), 401);
	expect_error(v, "bad_signature");
	b64_encode(pkb, sizeof(pkb), old.pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":false", pkb);
	old.id = 0;
	assert_int_equal(req_full(f, &old, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL),
			 403);
	expect_msg(v, "forbidden", "key_retired");
	/* ...and lookups by it find nothing */
	snprintf(extra, sizeof(extra), "\"public_key\":\"%s\"", pkb);
	assert_int_equal(req(f, &b, "lookup", extra, &v), 404);
	expect_error(v, "not_found");
	/* the new key works; ID, hostname, trust, membership stay */
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 200);
	assert_int_equal(json_get_str(v, "hostname", &s), 0);
	assert_string_equal(s, "alice");
	yajl_tree_free(v);
	assert_int_equal(req(f, &c, "lookup", target(a.id), &v), 200);
	yajl_tree_free(v);
	do_register(f, &a, 0, "alice");
	assert_int_equal(a.id, 1);
	assert_int_equal(req(f, &a, "trusts", "", &v), 200);
	assert_int_equal(arr_len(v, "peers"), 1);
	yajl_tree_free(v);
	/* rotating back to the retired key is a conflict */
	rotate_proof(old.sk, a.id, a.pk, old.pk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, old.pk, proof, &v), 409);
	expect_msg(v, "conflict", "retired");

	/* A's hostname and visibility changes reach the same audience as
	 * "peer.updated", so their name caches drop A at once; a request
	 * that changes nothing tells nobody */
	{
		static const char *const changes[][2] = {
		    {"set_hostname", "\"hostname\":\"alicia\""},
		    {"set_hostname", "\"hostname\":\"alicia\""},
		    {"set_visibility", "\"public\":true"},
		    {"clear_hostname", ""},
		};
		static const size_t want[] = {1, 1, 2, 3};
		char needle[96];
		snprintf(needle, sizeof(needle),
			 "\"event\":\"peer.updated\",\"peer\":{\"node_id\":%u", a.id);
		for (size_t i = 0; i < nitems(changes); i++) {
			assert_int_equal(req(f, &a, changes[i][0], changes[i][1], &v), 200);
			yajl_tree_free(v);
			ev = events(f, &b, 0);
			assert_int_equal(count_lines(ev, needle), want[i]);
			free(ev);
			ev = events(f, &c, 0);
			assert_int_equal(count_lines(ev, needle), want[i]);
			free(ev);
			ev = events(f, &d, 0);
			assert_null(strstr(ev, "peer.updated"));
			free(ev);
		}
	}
}

/* A process's first registration says "restarted": everyone who may hold
 * a session with it hears "peer.restarted"; a new key or a later
 * registration tells nobody.  "behind_nat" (register or heartbeat) hides
 * the endpoint from resolve, and absent keeps what was said. */
/* \p from resolves \p id: the endpoint and behind_nat it is told. */
static void expect_resolve(struct fixture *f, struct tnode *from, uint32_t id, const char *ep,
			   int nat)
{
	const char *s;
	yajl_val v;
	int got;

	assert_int_equal(req(f, from, "resolve", target(id), &v), 200);
	assert_int_equal(json_get_str(v, "endpoint", &s), 0);
	assert_string_equal(s, ep);
	assert_int_equal(json_get_bool(v, "behind_nat", &got), 0);
	assert_int_equal(got, nat);
	yajl_tree_free(v);
}

/* \p n sends a heartbeat with \p extra; \retval its HTTP status. */
static int heartbeat(struct fixture *f, struct tnode *n, const char *extra)
{
	char body[128];
	yajl_val v;
	int st;

	snprintf(body, sizeof(body), "\"listen_port\":4000%s", extra);
	st = req(f, n, "heartbeat", body, &v);
	if (st != 200)
		expect_error(v, "bad_request");
	else
		yajl_tree_free(v);
	return st;
}

static void test_restarted_and_behind_nat(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0};
	char extra[512], pkb[64], needle[96];
	char *ev;
	yajl_val v;

	do_register(f, &a, 1, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 1, NULL);
	/* a and b: a trust pair (both asked) */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "handshake", target(a.id), &v), 200);
	yajl_tree_free(v);

	b64_encode(pkb, sizeof(pkb), a.pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":true,\"restarted\":true",
		 pkb);
	assert_int_equal(req_full(f, &a, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 200);
	yajl_tree_free(v);
	snprintf(needle, sizeof(needle), "\"event\":\"peer.restarted\",\"node_id\":%u", a.id);
	ev = events(f, &b, 0);
	assert_int_equal(count_lines(ev, needle), 1);
	free(ev);
	ev = events(f, &c, 0);
	assert_null(strstr(ev, "peer.restarted"));
	free(ev);
	/* a re-registration that is not a restart tells nobody */
	do_register(f, &a, 1, NULL);
	ev = events(f, &b, 0);
	assert_int_equal(count_lines(ev, needle), 1);
	free(ev);
	/* a new key with "restarted": nobody knows it yet */
	crypto_sign_keypair(d.pk, d.sk);
	b64_encode(pkb, sizeof(pkb), d.pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":true,\"restarted\":true",
		 pkb);
	assert_int_equal(req_full(f, &d, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 200);
	yajl_tree_free(v);
	ev = events(f, &b, 0);
	assert_int_equal(count_lines(ev, "peer.restarted"), 1);
	free(ev);
	/* a wrong type is refused */
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":true,\"restarted\":1", pkb);
	assert_int_equal(req_full(f, &d, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 400);
	expect_error(v, "bad_request");

	/* behind a NAT: no endpoint to send to unasked */
	assert_int_equal(heartbeat(f, &c, ",\"behind_nat\":true"), 200);
	expect_resolve(f, &a, c.id, "", 1);
	/* absent keeps it (a heartbeat before the beacon answered) */
	do_register(f, &c, 1, NULL);
	assert_int_equal(heartbeat(f, &c, ""), 200);
	expect_resolve(f, &a, c.id, "", 1);
	assert_int_equal(heartbeat(f, &c, ",\"behind_nat\":\"no\""), 400);
	assert_int_equal(heartbeat(f, &c, ",\"behind_nat\":false"), 200);
	expect_resolve(f, &a, c.id, "198.18.2.7:4000", 0);
}

static void test_find(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, m = {0}, p = {0};
	struct rdv_reply r1, r2;
	const char *s;
	uint32_t net, net2;
	int tr;
	yajl_val v;

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");
	do_register(f, &c, 0, "carol");
	do_register(f, &m, 0, "mallory");
	do_register(f, &p, 1, "pub");
	/* C shares nothing with A: alice answers exactly like nobody */
	assert_int_equal(
	    req_full(f, &c, "find", NOW, "\"hostname\":\"alice\"", 1, NULL, NULL, 0, NULL, &r1),
	    404);
	assert_int_equal(
	    req_full(f, &c, "find", NOW, "\"hostname\":\"nobody\"", 1, NULL, NULL, 0, NULL, &r2),
	    404);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	rdv_reply_free(&r1);
	/* a deregistered name too */
	assert_int_equal(req(f, &m, "deregister", "", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req_full(f, &c, "find", NOW, "\"hostname\":\"mallory.pilot\"", 1, NULL,
				  NULL, 0, NULL, &r1),
			 404);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	rdv_reply_free(&r1);
	rdv_reply_free(&r2);
	/* a public node is found by anyone, any case, with or without .pilot */
	assert_int_equal(req(f, &c, "find", "\"hostname\":\"PUB.Pilot\"", &v), 200);
	assert_int_equal(json_get_str(v, "hostname", &s), 0);
	assert_string_equal(s, "pub");
	assert_int_equal(arr_len(v, "networks"), 0);
	assert_int_equal(json_get_bool(v, "trusted", &tr), 0);
	assert_false(tr);
	yajl_tree_free(v);
	/* nonsense names are bad requests, not "not found" */
	assert_int_equal(req(f, &c, "find", "\"hostname\":\"a_b\"", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &c, "find", "\"hostname\":\".pilot\"", &v), 400);
	expect_error(v, "bad_request");

	/* members of shared networks see each other (both networks listed) */
	net = mk_net(f, "{\"name\":\"one\",\"join_rule\":\"open\"}");
	net2 = mk_net(f, "{\"name\":\"two\",\"join_rule\":\"open\"}");
	join_ok(f, &a, net2, NULL);
	join_ok(f, &a, net, NULL);
	join_ok(f, &b, net, NULL);
	join_ok(f, &b, net2, NULL);
	join_ok(f, &c, net2, NULL);
	assert_int_equal(req(f, &b, "find", "\"hostname\":\"alice\"", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 2);
	assert_int_equal(arr_u32(v, "networks", 0), net);
	assert_int_equal(arr_u32(v, "networks", 1), net2);
	assert_int_equal(json_get_bool(v, "trusted", &tr), 0);
	assert_false(tr);
	assert_null(json_get(v, "endpoint"));
	yajl_tree_free(v);
	assert_int_equal(req(f, &c, "find", "\"hostname\":\"alice\"", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 1);
	assert_int_equal(arr_u32(v, "networks", 0), net2);
	yajl_tree_free(v);
	/* resolve works through the network too */
	assert_int_equal(req(f, &b, "resolve", target(a.id), &v), 200);
	yajl_tree_free(v);
	/* trust shows */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "find", "\"hostname\":\"alice\"", &v), 200);
	assert_int_equal(json_get_bool(v, "trusted", &tr), 0);
	assert_true(tr);
	yajl_tree_free(v);
}

static void test_network_join_open_token(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	uint32_t open, tok, id;
	const char *s;
	char *ev;
	int mem;
	yajl_val v, nv;

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");
	do_register(f, &c, 0, "carol");
	open = mk_net(f, "{\"name\":\"open-net\",\"join_rule\":\"open\"}");
	tok = mk_net(f, "{\"name\":\"tok.net\",\"join_rule\":\"token\","
			"\"token\":\"0123456789abcdef\"}");
	assert_int_equal(open, 1);
	assert_int_equal(tok, 2);

	/* A joins: alone */
	assert_int_equal(join(f, &a, open, NULL, &v), 200);
	nv = json_get(v, "network");
	assert_int_equal(json_get_u32(nv, "network_id", &id), 0);
	assert_int_equal(id, open);
	assert_int_equal(json_get_str(nv, "name", &s), 0);
	assert_string_equal(s, "open-net");
	assert_int_equal(json_get_str(nv, "join_rule", &s), 0);
	assert_string_equal(s, "open");
	assert_int_equal(json_get_u32(nv, "members", &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(arr_len(v, "members"), 0);
	yajl_tree_free(v);
	/* B joins: sees A, A is told */
	f->nnotified = 0;
	assert_int_equal(join(f, &b, open, NULL, &v), 200);
	assert_int_equal(arr_len(v, "members"), 1);
	assert_int_equal(json_get_u32(json_get(v, "members")->u.array.values[0], "node_id", &id),
			 0);
	assert_int_equal(id, a.id);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 1);
	assert_int_equal(f->notified[0], a.id);
	ev = events(f, &a, 0);
	assert_non_null(strstr(ev, "\"event\":\"network.joined\",\"network_id\":1,"
				   "\"peer\":{\"node_id\":2,"));
	free(ev);
	/* joining again: same answer, no event */
	f->nnotified = 0;
	assert_int_equal(join(f, &b, open, NULL, &v), 200);
	assert_int_equal(json_get_u32(json_get(v, "network"), "members", &id), 0);
	assert_int_equal(id, 2);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 0);
	/* register now lists the network after the backbone */
	do_register(f, &b, 0, "bob");
	/* (checked through network_list:) */
	assert_int_equal(req(f, &b, "network_list", "", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 2);
	nv = json_get(v, "networks")->u.array.values[0];
	assert_int_equal(json_get_bool(nv, "member", &mem), 0);
	assert_true(mem);
	nv = json_get(v, "networks")->u.array.values[1];
	assert_int_equal(json_get_bool(nv, "member", &mem), 0);
	assert_false(mem);
	assert_int_equal(json_get_str(nv, "join_rule", &s), 0);
	assert_string_equal(s, "token");
	yajl_tree_free(v);

	/* members see each other; handshake auto-approves */
	assert_int_equal(req(f, &a, "lookup", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &c, "lookup", target(b.id), &v), 404);
	expect_error(v, "not_found");
	f->nnotified = 0;
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "approved");
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 2);
	{
		struct store_txn t;
		uint16_t basis = 99;
		store_txn_begin(f->db.st, &t, 1);
		assert_int_equal(rdv_trust_get(&t, &f->db, a.id, b.id, &basis), 0);
		assert_int_equal(basis, open);
		assert_int_equal(rdv_trust_get(&t, &f->db, b.id, a.id, &basis), 0);
		assert_int_equal(basis, open);
		store_txn_abort(&t);
	}
	ev = events(f, &b, 0);
	assert_int_equal(count_lines(ev, "trust.approved"), 1);
	free(ev);

	/* network_nodes: members only, never the backbone */
	assert_int_equal(req(f, &a, "network_nodes", net_extra(open), &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 2);
	yajl_tree_free(v);
	assert_int_equal(req(f, &c, "network_nodes", net_extra(open), &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(req(f, &c, "network_nodes", net_extra(999), &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(req(f, &a, "network_nodes", net_extra(0), &v), 403);
	expect_error(v, "forbidden");
	/* join nonsense */
	assert_int_equal(join(f, &c, 0, NULL, &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &c, 70000, NULL, &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &c, 77, NULL, &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(join(f, &c, open, "\"token\":\"0123456789abcdef\"", &v), 400);
	expect_error(v, "bad_request");

	/* token: missing, wrong, then right */
	assert_int_equal(join(f, &c, tok, NULL, &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &c, tok, "\"token\":\"0123456789abcdeF\"", &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(join(f, &c, tok, "\"token\":\"\"", &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(join(f, &c, tok, "\"invite\":\"x\"", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &c, "network_nodes", net_extra(tok), &v), 403);
	expect_error(v, "forbidden"); /* the refusals made no member */
	assert_int_equal(join(f, &c, tok, "\"token\":\"0123456789abcdef\"", &v), 200);
	assert_int_equal(json_get_u32(json_get(v, "network"), "members", &id), 0);
	assert_int_equal(id, 1);
	yajl_tree_free(v);
	/* the store keeps a hash, not the token */
	{
		struct store_txn t;
		struct rdv_network rn;
		uint8_t h[32];
		store_txn_begin(f->db.st, &t, 1);
		assert_int_equal(rdv_net_get(&t, &f->db, (uint16_t)tok, &rn), 0);
		store_txn_abort(&t);
		crypto_hash_sha256(h, (const uint8_t *)"0123456789abcdef", 16);
		assert_memory_equal(rn.token_hash, h, 32);
	}
}

/* Make C an invite network member through the admin, then use invites. */
static void test_network_invite(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
	char inv[RDV_INVITE_MAX], more[RDV_INVITE_MAX + 32], body[128];
	uint64_t now_s = NOW / 1000;
	uint32_t net, other;
	yajl_val v;

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");
	do_register(f, &c, 0, "carol");
	do_register(f, &d, 0, "dave");
	do_register(f, &e, 0, "erin");
	net = mk_net(f, "{\"name\":\"inv\",\"join_rule\":\"invite\"}");
	other = mk_net(f, "{\"name\":\"inv2\",\"join_rule\":\"invite\"}");
	/* the first member comes from the admin */
	snprintf(body, sizeof(body), "{\"network_id\":%u,\"node_id\":%u}", net, a.id);
	assert_int_equal(admin(f, "network_add", body, &v), 200);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"network_id\":%u,\"node_id\":999}", net);
	assert_int_equal(admin(f, "network_add", body, &v), 404);
	expect_error(v, "not_found");

	/* no invite, or not an invite */
	assert_int_equal(join(f, &b, net, NULL, &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &b, net, "\"invite\":\"pilot-invite-v1.x.y\"", &v), 400);
	expect_error(v, "bad_request");
	/* valid */
	assert_int_equal(rdv_invite_make(a.sk, (uint16_t)net, a.id, now_s + 3600, inv, sizeof(inv)),
			 0);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &b, net, more, &v), 200);
	assert_int_equal(arr_len(v, "members"), 1);
	yajl_tree_free(v);
	/* reused by another node: conflict, and C is not a member */
	assert_int_equal(join(f, &c, net, more, &v), 409);
	expect_msg(v, "conflict", "invite already used");
	assert_int_equal(req(f, &c, "network_nodes", net_extra(net), &v), 403);
	expect_error(v, "forbidden");
	/* for another network */
	assert_int_equal(
	    rdv_invite_make(a.sk, (uint16_t)other, a.id, now_s + 3600, inv, sizeof(inv)), 0);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &c, net, more, &v), 400);
	expect_error(v, "bad_request");
	/* expired, and living too long */
	assert_int_equal(rdv_invite_make(a.sk, (uint16_t)net, a.id, now_s, inv, sizeof(inv)), 0);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &c, net, more, &v), 403);
	expect_msg(v, "forbidden", "expired");
	assert_int_equal(
	    rdv_invite_make(a.sk, (uint16_t)net, a.id,
			    now_s + RDV_INVITE_MAX_LIFE_S + REGMSG_MAX_SKEW_MS / 1000 + 1, inv,
			    sizeof(inv)),
	    0);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &c, net, more, &v), 403);
	expect_msg(v, "forbidden", "7 days");
	/* 7 days on a maker's clock a minute ahead of ours is fine */
	assert_int_equal(rdv_invite_make(a.sk, (uint16_t)net, a.id,
					 now_s + RDV_INVITE_MAX_LIFE_S + REGMSG_MAX_SKEW_MS / 1000,
					 inv, sizeof(inv)),
			 0);
	/* forged: signed by D, claiming to be from A */
	{
		char forged[RDV_INVITE_MAX];
		assert_int_equal(rdv_invite_make(d.sk, (uint16_t)net, a.id, now_s + 3600, forged,
						 sizeof(forged)),
				 0);
		snprintf(more, sizeof(more), "\"invite\":\"%s\"", forged);
		assert_int_equal(join(f, &c, net, more, &v), 403);
		expect_msg(v, "forbidden", "signature");
		/* from a node that does not exist */
		assert_int_equal(rdv_invite_make(d.sk, (uint16_t)net, 4000, now_s + 3600, forged,
						 sizeof(forged)),
				 0);
		snprintf(more, sizeof(more), "\"invite\":\"%s\"", forged);
		assert_int_equal(join(f, &c, net, more, &v), 403);
		expect_error(v, "forbidden");
	}
	/* an inviter who is not a member (D signs its own, truthfully) */
	{
		char dinv[RDV_INVITE_MAX];
		assert_int_equal(
		    rdv_invite_make(d.sk, (uint16_t)net, d.id, now_s + 3600, dinv, sizeof(dinv)),
		    0);
		snprintf(more, sizeof(more), "\"invite\":\"%s\"", dinv);
		assert_int_equal(join(f, &c, net, more, &v), 403);
		expect_msg(v, "forbidden", "not a member");
	}
	/* the 7-day invite made above is fine; it is single use even after a
	 * refused attempt with it */
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &c, net, more, &v), 200);
	assert_int_equal(arr_len(v, "members"), 2);
	yajl_tree_free(v);
	/* an inviter who left: its old invites stop working */
	assert_int_equal(rdv_invite_make(b.sk, (uint16_t)net, b.id, now_s + 3600, inv, sizeof(inv)),
			 0);
	assert_int_equal(req(f, &b, "network_leave", net_extra(net), &v), 200);
	yajl_tree_free(v);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &e, net, more, &v), 403);
	expect_msg(v, "forbidden", "not a member");
	/* an invite survives its inviter's key rotation?  No: current key */
	assert_int_equal(rdv_invite_make(c.sk, (uint16_t)net, c.id, now_s + 3600, inv, sizeof(inv)),
			 0);
	{
		uint8_t npk[32], nsk[64];
		char proof[128];
		crypto_sign_keypair(npk, nsk);
		rotate_proof(nsk, c.id, c.pk, npk, NOW, proof, sizeof(proof));
		assert_int_equal(rotate(f, &c, npk, proof, &v), 200);
		yajl_tree_free(v);
		memcpy(c.pk, npk, 32);
		memcpy(c.sk, nsk, 64);
	}
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	assert_int_equal(join(f, &e, net, more, &v), 403);
	expect_msg(v, "forbidden", "signature");
	/* a token to an invite network */
	assert_int_equal(join(f, &e, net, "\"token\":\"0123456789abcdef\"", &v), 400);
	expect_error(v, "bad_request");
}

static void test_network_leave(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0};
	uint32_t net, id;
	char *ev, want[128];
	size_t c_revoked;
	yajl_val v;

	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	do_register(f, &d, 0, NULL);
	net = mk_net(f, "{\"name\":\"n\",\"join_rule\":\"open\"}");
	/* A-C by consent (both asked) before C joins: basis 0, survives */
	assert_int_equal(req(f, &a, "handshake", target(c.id), &v), 200);
	yajl_tree_free(v);
	join_ok(f, &a, net, NULL);
	join_ok(f, &b, net, NULL);
	join_ok(f, &c, net, NULL);
	assert_int_equal(req(f, &c, "handshake", target(a.id), &v), 200);
	yajl_tree_free(v);
	/* A-B through the network; A-D by approval outside it */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	{
		struct store_txn t;
		uint16_t basis = 99;
		store_txn_begin(f->db.st, &t, 1);
		assert_int_equal(rdv_trust_get(&t, &f->db, a.id, c.id, &basis), 0);
		assert_int_equal(basis, 0); /* both asked wins over the network */
		assert_int_equal(rdv_trust_get(&t, &f->db, a.id, b.id, &basis), 0);
		assert_int_equal(basis, net);
		store_txn_abort(&t);
	}
	assert_int_equal(req(f, &d, "handshake", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "approve", target(d.id), &v), 200);
	yajl_tree_free(v);

	ev = events(f, &c, 0);
	c_revoked = count_lines(ev, "trust.revoked");
	free(ev);
	f->nnotified = 0;
	assert_int_equal(req(f, &a, "network_leave", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "revoked"), 1);
	assert_int_equal(arr_u32(v, "revoked", 0), b.id);
	yajl_tree_free(v);
	/* B: trust.revoked and network.left; C: network.left only */
	ev = events(f, &b, 0);
	snprintf(want, sizeof(want), "\"event\":\"trust.revoked\",\"node_id\":%u}", a.id);
	assert_non_null(strstr(ev, want));
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":%u,\"node_id\":%u}",
		 net, a.id);
	assert_non_null(strstr(ev, want));
	free(ev);
	ev = events(f, &c, 0);
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "trust.revoked"), c_revoked);
	free(ev);
	ev = events(f, &d, 0);
	assert_null(strstr(ev, "revoked"));
	assert_null(strstr(ev, "network.left"));
	free(ev);
	/* A keeps C and D, loses B */
	assert_int_equal(req(f, &a, "trusts", "", &v), 200);
	assert_int_equal(arr_len(v, "peers"), 2);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &c, "lookup", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "network_nodes", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 2);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "network_list", "", &v), 200);
	assert_int_equal(json_get_u32(json_get(v, "networks")->u.array.values[0], "members", &id),
			 0);
	assert_int_equal(id, 2);
	yajl_tree_free(v);
	/* again: nothing to do, nobody told */
	f->nnotified = 0;
	assert_int_equal(req(f, &a, "network_leave", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "revoked"), 0);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 0);
	assert_int_equal(req(f, &a, "network_leave", net_extra(0), &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "network_leave", net_extra(55), &v), 404);
	expect_error(v, "not_found");
}

static void test_admin_auth(void **state)
{
	struct fixture *f = *state;
	struct rdv_reply rep;
	yajl_val v;

	/* no token configured: forbidden, whatever is sent */
	assert_int_equal(admin_req(f, NULL, ADMIN_AUTH, "network_list", "", &v), 403);
	expect_msg(v, "forbidden", "admin API disabled");
	assert_int_equal(admin_req(f, NULL, NULL, "network_list", "", &v), 403);
	expect_error(v, "forbidden");
	/* missing, wrong, prefix of it, longer, another scheme */
	assert_int_equal(admin_req(f, ADMIN_TOKEN, NULL, "network_list", "", &v), 401);
	expect_error(v, "unauthorized");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer nope", "network_list", "", &v), 401);
	expect_error(v, "unauthorized");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer correct-horse", "network_list", "", &v),
			 401);
	expect_error(v, "unauthorized");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, ADMIN_AUTH "x", "network_list", "", &v), 401);
	expect_error(v, "unauthorized");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Basic " ADMIN_TOKEN, "network_list", "", &v),
			 401);
	expect_error(v, "unauthorized");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, ADMIN_TOKEN, "network_list", "", &v), 401);
	expect_error(v, "unauthorized");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer", "network_list", "", &v), 401);
	expect_error(v, "unauthorized");
	/* a refused create made nothing */
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer x", "network_create",
				   "{\"name\":\"x\",\"join_rule\":\"open\"}", &v),
			 401);
	expect_error(v, "unauthorized");
	/* right (scheme in any case, extra spaces) */
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "bearer  " ADMIN_TOKEN, "network_list", "", &v),
			 200);
	assert_int_equal(arr_len(v, "networks"), 0);
	yajl_tree_free(v);
	/* unknown op, bad bodies */
	assert_int_equal(admin(f, "network_explode", "{}", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin(f, "network_list", "{\"x\":1}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "network_list", "[]", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "network_create",
			       "{\"name\":\"a\",\"name\":\"b\","
			       "\"join_rule\":\"open\"}",
			       &v),
			 400);
	expect_error(v, "bad_request");
	/* too large */
	{
		char *big = calloc(1, REGMSG_MAX_BODY + 2);
		memset(big, ' ', REGMSG_MAX_BODY + 1);
		assert_int_equal(rdv_admin_handle(&f->db, ADMIN_TOKEN, "network_list", big,
						  REGMSG_MAX_BODY + 1, ADMIN_AUTH, "::1", NOW,
						  &rep),
				 0);
		assert_int_equal(rep.status, 413);
		rdv_reply_free(&rep);
		free(big);
	}
	/* node requests cannot reach admin ops */
	{
		struct tnode a = {0};
		do_register(f, &a, 0, NULL);
		assert_int_equal(req(f, &a, "network_create", "", &v), 404);
		expect_error(v, "not_found");
	}
}

static void test_admin_networks(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0};
	char *ev, want[160];
	const char *s;
	uint32_t id, n1;
	yajl_val v;

	/* ID allocation: explicit, then the lowest free */
	assert_int_equal(mk_net(f, "{\"name\":\"three\",\"join_rule\":\"open\",\"network_id\":3}"),
			 3);
	assert_int_equal(mk_net(f, "{\"name\":\"one\",\"join_rule\":\"open\"}"), 1);
	assert_int_equal(mk_net(f, "{\"name\":\"two\",\"join_rule\":\"open\"}"), 2);
	assert_int_equal(mk_net(f, "{\"name\":\"four\",\"join_rule\":\"open\"}"), 4);
	assert_int_equal(
	    mk_net(f, "{\"name\":\"max\",\"join_rule\":\"invite\",\"network_id\":65535}"), 65535);
	assert_int_equal(admin(f, "network_create",
			       "{\"name\":\"dup\",\"join_rule\":\"open\",\"network_id\":3}", &v),
			 409);
	expect_error(v, "conflict");
	/* validation */
	static const char *const bad[] = {
	    "{\"join_rule\":\"open\"}",
	    "{\"name\":\"\",\"join_rule\":\"open\"}",
	    "{\"name\":\"Upper\",\"join_rule\":\"open\"}",
	    "{\"name\":\"sp ace\",\"join_rule\":\"open\"}",
	    /* a 64-character name (parenthesised: one element, two literals) */
	    ("{\"join_rule\":\"open\",\"name\":"
	     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"),
	    "{\"name\":\"x\"}",
	    "{\"name\":\"x\",\"join_rule\":\"closed\"}",
	    "{\"name\":\"x\",\"join_rule\":\"token\"}",
	    "{\"name\":\"x\",\"join_rule\":\"token\",\"token\":\"short\"}",
	    "{\"name\":\"x\",\"join_rule\":\"open\",\"token\":\"0123456789abcdef\"}",
	    "{\"name\":\"x\",\"join_rule\":\"open\",\"network_id\":0}",
	    "{\"name\":\"x\",\"join_rule\":\"open\",\"network_id\":65536}",
	    "{\"name\":\"x\",\"join_rule\":\"open\",\"network_id\":\"5\"}",
	    "{\"name\":\"x\",\"join_rule\":\"open\",\"members\":[]}",
	};
	for (size_t i = 0; i < nitems(bad); i++) {
		assert_int_equal(admin(f, "network_create", bad[i], &v), 400);
		expect_error(v, "bad_request");
	}
	assert_int_equal(admin(f, "network_create", "{\"name\":\"x\",\"join_rule\":\"oidc\"}", &v),
			 400);
	expect_msg(v, "bad_request", "oidc_issuer");
	assert_int_equal(admin(f, "network_list", "", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 5);
	assert_null(json_get(json_get(v, "networks")->u.array.values[0], "member"));
	yajl_tree_free(v);

	/* delete: memberships go, basis pairs go, approval pairs stay */
	n1 = 1;
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	do_register(f, &d, 0, NULL);
	join_ok(f, &a, n1, NULL);
	join_ok(f, &b, n1, NULL);
	join_ok(f, &c, n1, NULL);
	join_ok(f, &a, 2, NULL);
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200); /* basis 1 */
	yajl_tree_free(v);
	assert_int_equal(req(f, &d, "handshake", target(c.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &c, "approve", target(d.id), &v), 200); /* basis 0 */
	yajl_tree_free(v);
	/* the admin sees the backbone and the network */
	assert_int_equal(admin(f, "network_nodes", "{\"network_id\":0}", &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 4);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "network_nodes", "{\"network_id\":1}", &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 3);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "network_nodes", "{\"network_id\":9}", &v), 404);
	expect_error(v, "not_found");

	f->nnotified = 0;
	assert_int_equal(admin(f, "network_delete", "{\"network_id\":1}", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 3);
	ev = events(f, &a, 0);
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":1,\"node_id\":%u}",
		 b.id);
	assert_non_null(strstr(ev, want));
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":1,\"node_id\":%u}",
		 c.id);
	assert_non_null(strstr(ev, want));
	assert_non_null(strstr(ev, "\"event\":\"network.deleted\",\"network_id\":1}"));
	snprintf(want, sizeof(want), "\"event\":\"trust.revoked\",\"node_id\":%u}", b.id);
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "network.left"), 2);
	free(ev);
	ev = events(f, &c, 0);
	assert_null(strstr(ev, "trust.revoked"));
	assert_int_equal(count_lines(ev, "network.deleted"), 1);
	free(ev);
	assert_int_equal(req(f, &a, "trusts", "", &v), 200);
	assert_int_equal(arr_len(v, "peers"), 0);
	yajl_tree_free(v);
	assert_int_equal(req(f, &c, "trusts", "", &v), 200);
	assert_int_equal(arr_len(v, "peers"), 1);
	yajl_tree_free(v);
	/* memberships are gone both ways; A keeps network 2 */
	{
		struct store_txn t;
		struct rdv_network rn;
		store_txn_begin(f->db.st, &t, 1);
		assert_int_equal(rdv_net_get(&t, &f->db, 1, &rn), -ENOENT);
		assert_false(rdv_member_has(&t, &f->db, 1, a.id));
		assert_false(rdv_share_network(&t, &f->db, a.id, b.id));
		store_txn_abort(&t);
	}
	{
		char extra[256], pkb[64];
		b64_encode(pkb, sizeof(pkb), a.pk, 32);
		snprintf(extra, sizeof(extra),
			 "\"public_key\":\"%s\",\"listen_port\":1,\"public\":false", pkb);
		assert_int_equal(
		    req_full(f, &a, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 200);
		assert_int_equal(arr_len(v, "networks"), 2);
		assert_int_equal(arr_u32(v, "networks", 0), 0);
		assert_int_equal(arr_u32(v, "networks", 1), 2);
		yajl_tree_free(v);
	}
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &b, "network_list", "", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 4);
	yajl_tree_free(v);
	/* the freed ID is the lowest free again */
	assert_int_equal(mk_net(f, "{\"name\":\"again\",\"join_rule\":\"token\","
				   "\"token\":\"aaaaaaaaaaaaaaaa\"}"),
			 1);
	assert_int_equal(admin(f, "network_list", "", &v), 200);
	assert_int_equal(json_get_str(json_get(v, "networks")->u.array.values[0], "name", &s), 0);
	assert_string_equal(s, "again");
	assert_int_equal(json_get_u32(json_get(v, "networks")->u.array.values[0], "members", &id),
			 0);
	assert_int_equal(id, 0);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "network_delete", "{\"network_id\":0}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "network_delete", "{\"network_id\":77}", &v), 404);
	expect_error(v, "not_found");
}

static void test_invite_format(void **state)
{
	uint8_t pk[32], sk[64], pk2[32], sk2[64];
	char inv[RDV_INVITE_MAX], bad[RDV_INVITE_MAX + 64];
	struct rdv_invite p;
	char *dot;

	(void)state;
	crypto_sign_keypair(pk, sk);
	crypto_sign_keypair(pk2, sk2);
	assert_int_equal(rdv_invite_make(sk, 7, 42, 1700000000, inv, sizeof(inv)), 0);
	assert_non_null(strstr(inv, "pilot-invite-v1."));
	assert_null(strchr(inv, '='));
	assert_null(strchr(inv, '+'));
	assert_null(strchr(inv, '/'));
	assert_int_equal(rdv_invite_parse(inv, strlen(inv), &p), 0);
	assert_int_equal(p.net, 7);
	assert_int_equal(p.inviter, 42);
	assert_true(p.expiry == 1700000000);
	assert_int_equal(rdv_invite_verify(&p, pk), 0);
	assert_int_equal(rdv_invite_verify(&p, pk2), -EBADMSG);
	/* the payload is exactly the documented JSON */
	assert_non_null(strstr((char *)p.payload, "{\"n\":7,\"i\":42,\"e\":1700000000,\"r\":\""));
	/* two invites differ in r */
	{
		struct rdv_invite q;
		char inv2[RDV_INVITE_MAX];
		assert_int_equal(rdv_invite_make(sk, 7, 42, 1700000000, inv2, sizeof(inv2)), 0);
		assert_int_equal(rdv_invite_parse(inv2, strlen(inv2), &q), 0);
		assert_memory_not_equal(p.r, q.r, 16);
	}
	/* make: bad arguments, small buffer */
	assert_int_equal(rdv_invite_make(sk, 0, 42, 1, inv, sizeof(inv)), -EINVAL);
	/* inviter 0 is the registry (an admin's invite) */
	assert_int_equal(rdv_invite_make(sk, 7, RDV_INVITER_REGISTRY, 1, inv, sizeof(inv)), 0);
	assert_int_equal(rdv_invite_parse(inv, strlen(inv), &p), 0);
	assert_int_equal(p.inviter, 0);
	assert_int_equal(rdv_invite_make(sk, 7, 42, 0, inv, sizeof(inv)), -EINVAL);
	assert_int_equal(rdv_invite_make(sk, 7, 42, (uint64_t)INT64_MAX + 1, inv, sizeof(inv)),
			 -EINVAL);
	assert_int_equal(rdv_invite_make(sk, 7, 42, INT64_MAX, inv, sizeof(inv)), 0);
	assert_int_equal(rdv_invite_parse(inv, strlen(inv), &p), 0);
	assert_true(p.expiry == INT64_MAX);
	assert_int_equal(rdv_invite_make(sk, 7, 42, 1, bad, 40), -ENOSPC);
	assert_int_equal(rdv_invite_make(sk, 7, 42, 1, inv, sizeof(inv)), 0);

	/* a signature over another payload (one byte of the payload flipped) */
	snprintf(bad, sizeof(bad), "%s", inv);
	dot = strchr(bad + 16, '.');
	bad[20] = bad[20] == 'A' ? 'B' : 'A';
	if (rdv_invite_parse(bad, strlen(bad), &p) == 0)
		assert_int_equal(rdv_invite_verify(&p, pk), -EBADMSG);
	/* formats */
	{
		static const char *const junk[] = {
		    "",
		    "pilot-invite-v1",
		    "pilot-invite-v1.",
		    "pilot-invite-v1..",
		    "pilot-invite-v2.e30.AAAA",
		    "PILOT-INVITE-V1.e30.AAAA",
		    "pilot-invite-v1.e30",
		    "pilot-invite-v1.e30.AAAA", /* {} and a short signature */
		};
		for (size_t i = 0; i < nitems(junk); i++)
			assert_int_equal(rdv_invite_parse(junk[i], strlen(junk[i]), &p), -EINVAL);
	}
	/* a third part, padding, standard alphabet, trailing bytes */
	snprintf(bad, sizeof(bad), "%s.AAAA", inv);
	assert_int_equal(rdv_invite_parse(bad, strlen(bad), &p), -EINVAL);
	snprintf(bad, sizeof(bad), "%s==", inv);
	assert_int_equal(rdv_invite_parse(bad, strlen(bad), &p), -EINVAL);
	snprintf(bad, sizeof(bad), "%s\n", inv);
	assert_int_equal(rdv_invite_parse(bad, strlen(bad), &p), -EINVAL);
	snprintf(bad, sizeof(bad), "%s", inv);
	assert_int_equal(rdv_invite_parse(bad, strlen(bad) - 1, &p), -EINVAL);
	/* a NUL inside */
	snprintf(bad, sizeof(bad), "%s", inv);
	bad[30] = '\0';
	assert_int_equal(rdv_invite_parse(bad, strlen(inv), &p), -EINVAL);
	(void)dot;
	/* payloads that are signed but wrong: build by hand */
	{
		static const char *const payloads[] = {
		    "{\"n\":0,\"i\":1,\"e\":5,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
		    "{\"n\":65536,\"i\":1,\"e\":5,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
		    "{\"n\":1,\"i\":-1,\"e\":5,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
		    "{\"n\":1,\"i\":1,\"e\":0,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
		    "{\"n\":1,\"i\":1,\"e\":5,\"r\":\"AAAA\"}",
		    "{\"n\":1,\"i\":1,\"e\":5}",
		    "{\"n\":1,\"i\":1,\"e\":5,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"x\":1}",
		    "{\"n\":1,\"n\":2,\"i\":1,\"e\":5,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
		    "{\"n\":\"1\",\"i\":1,\"e\":5,\"r\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
		    "[1,2,3]",
		};
		uint8_t sig[64];
		for (size_t i = 0; i < nitems(payloads); i++) {
			char pb[256], sb[100], m[512];
			size_t pl = strlen(payloads[i]);
			snprintf(m, sizeof(m), "pilot-invite-v1\n%s", payloads[i]);
			crypto_sign_detached(sig, NULL, (uint8_t *)m, strlen(m), sk);
			sodium_bin2base64(pb, sizeof(pb), (const uint8_t *)payloads[i], pl,
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			sodium_bin2base64(sb, sizeof(sb), sig, sizeof(sig),
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			snprintf(bad, sizeof(bad), "pilot-invite-v1.%s.%s", pb, sb);
			if (rdv_invite_parse(bad, strlen(bad), &p) != -EINVAL)
				fail_msg("accepted payload %s", payloads[i]);
		}
		/* and the well-formed one passes, whitespace and all */
		{
			const char *ok = "{ \"r\":\"AAAAAAAAAAAAAAAAAAAAAA\", \"e\":5,\"i\":1,"
					 "\"n\":65535 }";
			char pb[256], sb[100], m[512];
			snprintf(m, sizeof(m), "pilot-invite-v1\n%s", ok);
			crypto_sign_detached(sig, NULL, (uint8_t *)m, strlen(m), sk);
			sodium_bin2base64(pb, sizeof(pb), (const uint8_t *)ok, strlen(ok),
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			sodium_bin2base64(sb, sizeof(sb), sig, sizeof(sig),
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			snprintf(bad, sizeof(bad), "pilot-invite-v1.%s.%s", pb, sb);
			assert_int_equal(rdv_invite_parse(bad, strlen(bad), &p), 0);
			assert_int_equal(p.net, 65535);
			assert_int_equal(rdv_invite_verify(&p, pk), 0);
		}
	}
	/* too long */
	memset(bad, 'A', sizeof(bad) - 1);
	bad[sizeof(bad) - 1] = '\0';
	memcpy(bad, "pilot-invite-v1.", 16);
	assert_int_equal(rdv_invite_parse(bad, strlen(bad), &p), -EINVAL);
}

static void test_admin_parse(void **state)
{
	static const char *const keys[] = {"name", "network_id", NULL};
	char err[160];
	yajl_val root;

	(void)state;
	assert_int_equal(regmsg_parse_admin("", 0, keys, &root, err, sizeof(err)), 0);
	assert_true(YAJL_IS_OBJECT(root));
	yajl_tree_free(root);
	assert_int_equal(regmsg_parse_admin("{\"name\":\"x\"}", 12, keys, &root, err, sizeof(err)),
			 0);
	yajl_tree_free(root);
	assert_int_equal(regmsg_parse_admin("{\"nope\":1}", 10, keys, &root, err, sizeof(err)),
			 -EINVAL);
	assert_null(root);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(
	    regmsg_parse_admin("{\"name\":1,\"name\":2}", 19, keys, &root, err, sizeof(err)),
	    -EINVAL);
	assert_int_equal(regmsg_parse_admin("{/**/}", 6, keys, &root, err, sizeof(err)), -EINVAL);
	assert_int_equal(regmsg_parse_admin("   ", 3, keys, &root, err, sizeof(err)), -EINVAL);
	assert_int_equal(
	    regmsg_parse_admin("{}", REGMSG_MAX_BODY + 1, keys, &root, err, sizeof(err)), -E2BIG);
	assert_int_equal(regmsg_parse_admin("{}", 2, NULL, &root, NULL, 0), 0);
	yajl_tree_free(root);
}

/* ------------------------------------------------------------ audit log */

/* The admin `audit` answer for \p body (status 200 expected). */
static yajl_val audit_q(struct fixture *f, const char *body)
{
	yajl_val v;

	assert_int_equal(admin(f, "audit", body, &v), 200);
	assert_non_null(json_get(v, "events"));
	assert_true(YAJL_IS_ARRAY(json_get(v, "events")));
	return v;
}

static yajl_val ev_at(yajl_val v, size_t i)
{
	yajl_val a = json_get(v, "events");

	assert_true(i < a->u.array.len);
	return a->u.array.values[i];
}

static const char *ev_str(yajl_val e, const char *key)
{
	const char *s = NULL;

	assert_int_equal(json_get_str(e, key, &s), 0);
	return s;
}

static uint64_t ev_u64(yajl_val e, const char *key)
{
	uint64_t x = 0;

	if (json_get_u64(e, key, &x) != 0)
		fail_msg("no integer member '%s'", key);
	return x;
}

static const char *ev_detail(yajl_val e, const char *key)
{
	return ev_str(json_get(e, "details"), key);
}

/* The types of the records matching \p body, comma-separated. */
static const char *audit_types(struct fixture *f, const char *body)
{
	static char buf[4096];
	yajl_val v = audit_q(f, body);
	size_t o = 0, n = arr_len(v, "events");

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "," : "",
				      ev_str(ev_at(v, i), "type"));
	yajl_tree_free(v);
	return buf;
}

static uint64_t audit_count(struct fixture *f)
{
	yajl_val v = audit_q(f, "{\"limit\":10000}");
	uint64_t n = arr_len(v, "events");

	yajl_tree_free(v);
	return n;
}

/* The stored bytes of audit record \p id (malloc'd). */
static char *audit_raw(struct fixture *f, uint64_t id, size_t *len)
{
	struct store_txn t;
	uint8_t k[8];
	MDB_val v;
	char *s;

	store_be64(k, id);
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(store_get(&t, f->db.dbi[RDV_DB_AUDIT], k, sizeof(k), &v), 0);
	s = strndup(v.mv_data, v.mv_size);
	*len = v.mv_size;
	store_txn_abort(&t);
	return s;
}

static uint64_t count_type(struct fixture *f, const char *type)
{
	char body[128];
	yajl_val v;
	uint64_t n;

	snprintf(body, sizeof(body), "{\"type\":\"%s\",\"limit\":10000}", type);
	v = audit_q(f, body);
	n = arr_len(v, "events");
	yajl_tree_free(v);
	return n;
}

/* The newest audit record of \p type (caller frees the reply). */
static yajl_val newest(struct fixture *f, const char *type, yajl_val *e)
{
	char body[128];
	yajl_val v;

	snprintf(body, sizeof(body), "{\"type\":\"%s\",\"newest\":true,\"limit\":1}", type);
	v = audit_q(f, body);
	*e = ev_at(v, 0);
	return v;
}

static uint64_t detail_u64(yajl_val e, const char *key)
{
	return ev_u64(json_get(e, "details"), key);
}

static void test_audit_trust_sequence(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	yajl_val v, e;

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, NULL);
	/* registering again at a restart, heartbeats, reads: no records */
	do_register(f, &a, 0, "alice");
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "trusts", "", &v), 200);
	yajl_tree_free(v);
	/* a refused request: no record */
	assert_int_equal(req(f, &a, "handshake", target(a.id), &v), 400);
	expect_error(v, "bad_request");
	assert_string_equal(audit_types(f, "{}"), "node.registered,node.registered");

	assert_int_equal(
	    req(f, &a, "handshake", "\"target\":2,\"justification\":\"db access\"", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "approve", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "untrust", target(b.id), &v), 200);
	yajl_tree_free(v);
	/* untrust again: nothing changed, nothing recorded */
	assert_int_equal(req(f, &a, "untrust", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_string_equal(audit_types(f, "{}"),
			    "node.registered,node.registered,"
			    "handshake.requested,trust.approved,trust.revoked");

	v = audit_q(f, "{}");
	e = ev_at(v, 0);
	assert_int_equal(ev_u64(e, "event_id"), 1);
	assert_string_equal(ev_str(e, "actor"), "node:1");
	assert_string_equal(ev_str(e, "subject"), "node:1");
	assert_string_equal(ev_detail(e, "hostname"), "alice");
	assert_string_equal(ev_detail(e, "ip"), "198.18.2.7");
	assert_true(YAJL_IS_TRUE(json_get(json_get(e, "details"), "new")));
	e = ev_at(v, 2);
	assert_string_equal(ev_str(e, "actor"), "node:1");
	assert_string_equal(ev_str(e, "subject"), "node:2");
	assert_string_equal(ev_detail(e, "justification"), "db access");
	e = ev_at(v, 3);
	assert_string_equal(ev_str(e, "type"), "trust.approved");
	assert_string_equal(ev_str(e, "actor"), "node:2");
	assert_string_equal(ev_str(e, "subject"), "node:1");
	assert_string_equal(ev_detail(e, "basis"), "approval");
	e = ev_at(v, 4);
	assert_string_equal(ev_str(e, "actor"), "node:1");
	assert_string_equal(ev_str(e, "subject"), "node:2");
	assert_string_equal(ev_detail(e, "reason"), "untrust");
	assert_int_equal(ev_u64(v, "last_id"), 5);
	assert_true(YAJL_IS_FALSE(json_get(v, "more")));
	/* records are chained: each names the hash of the one before */
	for (size_t i = 1; i < 5; i++) {
		uint8_t h[32];
		char hex[65], *raw;
		size_t len;
		raw = audit_raw(f, i, &len);
		crypto_hash_sha256(h, (const uint8_t *)raw, len);
		hex_encode(hex, sizeof(hex), h, sizeof(h));
		assert_string_equal(ev_str(ev_at(v, i), "prev"), hex);
		free(raw);
	}
	yajl_tree_free(v);

	/* both asked: trust.approved with basis mutual, recorded once */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "handshake", target(a.id), &v), 200);
	yajl_tree_free(v);
	v = audit_q(f, "{\"since_id\":6}");
	assert_int_equal(arr_len(v, "events"), 2);
	assert_string_equal(ev_str(ev_at(v, 1), "type"), "trust.approved");
	assert_string_equal(ev_detail(ev_at(v, 1), "basis"), "mutual");
	yajl_tree_free(v);
	/* a rejection */
	assert_int_equal(req(f, &b, "untrust", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "reject", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_string_equal(audit_types(f, "{\"since_id\":8}"),
			    "trust.revoked,handshake.requested,handshake.rejected");
}

static void test_audit_node_and_network_ops(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	uint8_t npk[32], nsk[64];
	char proof[128], extra[512], *raw;
	uint32_t net, tnet;
	uint64_t n;
	yajl_val v;

	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	assert_int_equal(set_host(f, &a, "alice", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(set_host(f, &a, "alice", &v), 200); /* unchanged */
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "set_visibility", "\"public\":true", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "set_visibility", "\"public\":true", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"Web\",\"db\"]", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"db\",\"web\"]", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "clear_hostname", "", &v), 200);
	yajl_tree_free(v);
	assert_string_equal(audit_types(f, "{\"since_id\":3}"),
			    "node.hostname,node.visibility,node.tags,node.hostname");
	v = audit_q(f, "{\"since_id\":5}");
	assert_true(YAJL_IS_ARRAY(json_get(json_get(ev_at(v, 0), "details"), "tags")));
	assert_string_equal(ev_detail(ev_at(v, 1), "previous"), "alice");
	assert_string_equal(ev_detail(ev_at(v, 1), "hostname"), "");
	yajl_tree_free(v);

	/* rotate_key */
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, a.id, a.pk, npk, NOW, proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 200);
	yajl_tree_free(v);
	memcpy(a.pk, npk, 32);
	memcpy(a.sk, nsk, 64);
	v = audit_q(f, "{\"type\":\"node.key_rotated\"}");
	assert_int_equal(arr_len(v, "events"), 1);
	assert_string_equal(ev_str(ev_at(v, 0), "actor"), "node:1");
	yajl_tree_free(v);

	/* networks: the admin's actions name the admin's address */
	net = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	tnet = mk_net(f, "{\"name\":\"ops\",\"join_rule\":\"token\","
			 "\"token\":\"sesame-sesame-sesame\"}");
	join_ok(f, &a, net, NULL);
	join_ok(f, &a, net, NULL); /* again: no record */
	join_ok(f, &b, tnet, "\"token\":\"sesame-sesame-sesame\"");
	assert_int_equal(admin(f, "network_add", "{\"network_id\":1,\"node_id\":2}", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "network_add", "{\"network_id\":1,\"node_id\":2}", &v), 200);
	yajl_tree_free(v);
	/* sharing a network: the handshake is approved by it */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	yajl_tree_free(v);
	snprintf(extra, sizeof(extra), "\"network_id\":%u", net);
	assert_int_equal(req(f, &b, "network_leave", extra, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "network_delete", "{\"network_id\":2}", &v), 200);
	yajl_tree_free(v);
	assert_string_equal(audit_types(f, "{\"type\":\"network.\"}"),
			    "network.created,network.created,network.joined,network.joined,"
			    "network.member_added,network.left,network.deleted");
	v = audit_q(f, "{\"type\":\"network.*\"}");
	assert_string_equal(ev_str(ev_at(v, 0), "actor"), "admin:198.19.100.9");
	assert_string_equal(ev_str(ev_at(v, 0), "subject"), "network:1");
	assert_string_equal(ev_detail(ev_at(v, 0), "join_rule"), "open");
	assert_string_equal(ev_str(ev_at(v, 3), "actor"), "node:2");
	assert_string_equal(ev_detail(ev_at(v, 3), "join_rule"), "token");
	assert_string_equal(ev_str(ev_at(v, 4), "subject"), "node:2");
	assert_int_equal(ev_u64(json_get(ev_at(v, 4), "details"), "network_id"), 1);
	yajl_tree_free(v);
	v = audit_q(f, "{\"type\":\"trust.\"}");
	assert_int_equal(arr_len(v, "events"), 2);
	assert_string_equal(ev_detail(ev_at(v, 0), "basis"), "network");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "network_id"), net);
	assert_string_equal(ev_detail(ev_at(v, 1), "reason"), "network_left");
	yajl_tree_free(v);
	/* deregister; then back (not new) */
	assert_int_equal(req(f, &b, "deregister", "", &v), 200);
	yajl_tree_free(v);
	do_register(f, &b, 0, NULL);
	v = audit_q(f, "{\"node\":2,\"newest\":true,\"limit\":2}");
	assert_int_equal(arr_len(v, "events"), 2);
	assert_string_equal(ev_str(ev_at(v, 0), "type"), "node.deregistered");
	assert_string_equal(ev_str(ev_at(v, 1), "type"), "node.registered");
	assert_true(YAJL_IS_FALSE(json_get(json_get(ev_at(v, 1), "details"), "new")));
	yajl_tree_free(v);

	/* secrets never reach the log: not the join token, not its hash */
	n = audit_count(f);
	for (uint64_t i = 1; i <= n; i++) {
		size_t len;
		raw = audit_raw(f, i, &len);
		assert_null(strstr(raw, "sesame"));
		assert_null(strstr(raw, "\"token\":"));
		free(raw);
	}
}

static void test_audit_security(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	struct rdv_node before, after;
	char body[1024];
	uint64_t n;
	yajl_val v, e;

	do_register(f, &a, 1, NULL);
	do_register(f, &b, 0, NULL);
	assert_int_equal(req_full(f, &a, "handshake", NOW, "\"target\":2", 1, &v, body,
				  sizeof(body), NULL, NULL),
			 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &b, "reject", target(a.id), &v), 200);
	yajl_tree_free(v);
	n = audit_count(f);
	stored(f, a.id, &before);

	/* the replayed handshake changes nothing but the audit log */
	assert_int_equal(replay(f, &a, "handshake", body, NOW + 5000, &v), 409);
	expect_error(v, "replay");
	assert_int_equal(audit_count(f), n + 1);
	v = audit_q(f, "{\"type\":\"security.\"}");
	assert_int_equal(arr_len(v, "events"), 1);
	e = ev_at(v, 0);
	assert_string_equal(ev_str(e, "type"), "security.nonce_replay");
	assert_string_equal(ev_str(e, "actor"), "ip:198.18.2.7");
	assert_string_equal(ev_str(e, "subject"), "node:1");
	assert_string_equal(ev_detail(e, "ip"), "198.18.2.7");
	assert_string_equal(ev_detail(e, "op"), "handshake");
	assert_int_equal(ev_u64(json_get(e, "details"), "claimed_node"), 1);
	yajl_tree_free(v);
	stored(f, a.id, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(req(f, &b, "inbox", "", &v), 200);
	assert_int_equal(arr_len(v, "requests"), 0);
	yajl_tree_free(v);
	{
		char *ev = events(f, &b, 0);
		assert_int_equal(count_lines(ev, "handshake.received"), 1); /* the original */
		free(ev);
	}

	/* forged (another node's key), stale, wrong admin token */
	b.id = a.id;
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":1", &v), 401);
	expect_error(v, "bad_signature");
	b.id = 2;
	assert_int_equal(req_full(f, &a, "heartbeat", NOW - 3600000, "\"listen_port\":1", 1, &v,
				  NULL, 0, NULL, NULL),
			 401);
	expect_error(v, "stale");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer guess", "network_list", "", &v), 401);
	expect_error(v, "unauthorized");
	/* ordinary refusals are not security events */
	assert_int_equal(req(f, &a, "lookup", "\"target\":77", &v), 404);
	expect_error(v, "not_found");
	assert_string_equal(audit_types(f, "{\"type\":\"security.*\"}"),
			    "security.nonce_replay,security.bad_signature,security.stale,"
			    "security.unauthorized");
	v = audit_q(f, "{\"type\":\"security.unauthorized\"}");
	assert_string_equal(ev_str(ev_at(v, 0), "actor"), "ip:198.19.100.9");
	assert_string_equal(ev_detail(ev_at(v, 0), "op"), "network_list");
	yajl_tree_free(v);
	/* nothing of the refused requests themselves */
	stored(f, a.id, &after);
	assert_memory_equal(&before, &after, sizeof(before));

	/* a flood: at most RDV_SEC_AUDIT_PER_SEC records a second, the rest
	 * counted in the next record */
	n = audit_count(f);
	f->db.sec.window_ms = 0;
	b.id = a.id;
	for (int i = 0; i < RDV_SEC_AUDIT_PER_SEC + 10; i++) {
		assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":1", &v), 401);
		yajl_tree_free(v);
	}
	assert_int_equal(audit_count(f), n + RDV_SEC_AUDIT_PER_SEC);
	assert_true(f->db.sec.suppressed == 10);
	/* a second later (the registry's clock) */
	snprintf(body, sizeof(body),
		 "{\"op\":\"heartbeat\",\"node_id\":%u,\"ts\":%llu," NONCE ",\"listen_port\":1}",
		 a.id, (unsigned long long)(NOW + 1000));
	assert_int_equal(replay(f, &b, "heartbeat", body, NOW + 1000, &v), 401);
	expect_error(v, "bad_signature");
	v = audit_q(f, "{\"newest\":true,\"limit\":1}");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "suppressed"), 10);
	assert_true(YAJL_IS_TRUE(json_get(v, "more")));
	yajl_tree_free(v);
	assert_true(f->db.sec.suppressed == 0);
	assert_true(f->db.sec.suppressed_total == 10);
}

static void test_audit_query(void **state)
{
	struct fixture *f = *state;
	struct tnode n[4];
	char body[128];
	yajl_val v;

	memset(n, 0, sizeof(n));
	for (int i = 0; i < 4; i++)
		do_register(f, &n[i], 1, NULL);
	assert_int_equal(req(f, &n[0], "handshake", target(n[1].id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &n[2], "handshake", target(n[1].id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &n[1], "approve", target(n[2].id), &v), 200);
	yajl_tree_free(v);
	/* 1-4 registered, 5 1->2, 6 3->2, 7 2 approved 3 */

	/* node: as actor or subject, by ID or as written */
	assert_string_equal(
	    audit_types(f, "{\"node\":2}"),
	    "node.registered,handshake.requested,handshake.requested,trust.approved");
	assert_string_equal(audit_types(f, "{\"node\":\"node:3\"}"),
			    "node.registered,handshake.requested,trust.approved");
	assert_string_equal(audit_types(f, "{\"node\":4}"), "node.registered");
	assert_string_equal(audit_types(f, "{\"node\":\"node:\"}"), ""); /* exact only */
	/* type, exact and by area */
	assert_string_equal(audit_types(f, "{\"type\":\"handshake.requested\"}"),
			    "handshake.requested,handshake.requested");
	assert_string_equal(audit_types(f, "{\"type\":\"trust.\",\"node\":3}"), "trust.approved");
	assert_string_equal(audit_types(f, "{\"type\":\"trust.approve\"}"), "");
	/* since_id and since_ms (records carry the registry's wall clock) */
	assert_string_equal(audit_types(f, "{\"since_id\":6}"),
			    "handshake.requested,trust.approved");
	assert_string_equal(audit_types(f, "{\"since_ms\":1}"),
			    "node.registered,node.registered,node.registered,node.registered,"
			    "handshake.requested,handshake.requested,trust.approved");
	snprintf(body, sizeof(body), "{\"since_ms\":%llu}",
		 (unsigned long long)(now_real_ms() + 3600000));
	assert_string_equal(audit_types(f, body), "");
	/* limit: oldest first, `more`, and last_id to go on from */
	v = audit_q(f, "{\"limit\":3}");
	assert_int_equal(arr_len(v, "events"), 3);
	assert_true(YAJL_IS_TRUE(json_get(v, "more")));
	assert_int_equal(ev_u64(v, "last_id"), 3);
	yajl_tree_free(v);
	v = audit_q(f, "{\"limit\":3,\"since_id\":4}");
	assert_int_equal(ev_u64(ev_at(v, 0), "event_id"), 4);
	assert_int_equal(ev_u64(v, "last_id"), 6);
	yajl_tree_free(v);
	v = audit_q(f, "{\"limit\":3,\"since_id\":7}");
	assert_int_equal(arr_len(v, "events"), 1);
	assert_true(YAJL_IS_FALSE(json_get(v, "more")));
	assert_int_equal(ev_u64(v, "last_id"), 7);
	yajl_tree_free(v);
	/* nothing new: last_id is the log's newest */
	v = audit_q(f, "{\"since_id\":8,\"type\":\"node.registered\"}");
	assert_int_equal(arr_len(v, "events"), 0);
	assert_int_equal(ev_u64(v, "last_id"), 7);
	yajl_tree_free(v);
	/* newest: the last matches, still oldest first */
	v = audit_q(f, "{\"newest\":true,\"limit\":2,\"type\":\"node.registered\"}");
	assert_int_equal(arr_len(v, "events"), 2);
	assert_int_equal(ev_u64(ev_at(v, 0), "event_id"), 3);
	assert_int_equal(ev_u64(ev_at(v, 1), "event_id"), 4);
	assert_true(YAJL_IS_TRUE(json_get(v, "more")));
	yajl_tree_free(v);
	v = audit_q(f, "{\"newest\":true,\"limit\":4,\"type\":\"node.registered\"}");
	assert_int_equal(arr_len(v, "events"), 4);
	assert_true(YAJL_IS_FALSE(json_get(v, "more")));
	yajl_tree_free(v);
	/* bad requests */
	{
		static const char *const bad[] = {
		    "{\"limit\":0}",	    "{\"limit\":10001}", "{\"limit\":\"5\"}",
		    "{\"type\":\"\"}",	    "{\"type\":7}",	 "{\"node\":0}",
		    "{\"node\":\"\"}",	    "{\"node\":true}",	 "{\"since_id\":-1}",
		    "{\"since_ms\":\"x\"}", "{\"newest\":1}",	 "{\"what\":1}",
		};
		for (size_t i = 0; i < nitems(bad); i++) {
			if (admin(f, "audit", bad[i], &v) != 400)
				fail_msg("accepted: %s", bad[i]);
			expect_error(v, "bad_request");
		}
	}
	assert_int_equal(admin(f, "audit", "{\"limit\":10000}", &v), 200);
	yajl_tree_free(v);
	/* the admin token is needed */
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer x", "audit", "{}", &v), 401);
	expect_error(v, "unauthorized");
}

static void test_audit_verify(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	uint8_t *sk = sodium_malloc(64), pk[32];
	char pkb[64], path[128], *raw;
	const char *s;
	struct store_txn t;
	uint8_t k[8];
	size_t len;
	uint64_t pruned = 0;
	yajl_val v;

	assert_int_equal(rdv_audit_key_load(f->dir, sk, f->db.audit_pk), 0);
	f->db.have_audit_pk = 1;
	do_register(f, &a, 1, NULL);
	do_register(f, &b, 1, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(req(f, &a, "set_visibility",
				     i % 2 ? "\"public\":true" : "\"public\":false", &v),
				 200);
		yajl_tree_free(v);
	}
	assert_int_equal(admin(f, "audit_verify", "{}", &v), 200);
	assert_true(YAJL_IS_TRUE(json_get(v, "ok")));
	assert_int_equal(ev_u64(v, "records"), 5);
	assert_int_equal(ev_u64(v, "last_id"), 5);
	assert_int_equal(ev_u64(v, "head_id"), 5);
	assert_int_equal(ev_u64(v, "errors"), 0);
	b64_encode(pkb, sizeof(pkb), f->db.audit_pk, 32);
	assert_int_equal(json_get_str(v, "public_key", &s), 0);
	assert_string_equal(s, pkb);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "audit_verify", "{\"x\":1}", &v), 400);
	expect_error(v, "bad_request");

	/* retention: a signed checkpoint, and the rest still verifies */
	assert_int_equal(audit_prune(f->db.audit, 3, 0, now_real_ms(), sk, &pruned), 0);
	assert_true(pruned == 2);
	assert_int_equal(admin(f, "audit_verify", "{}", &v), 200);
	assert_true(YAJL_IS_TRUE(json_get(v, "ok")));
	assert_true(YAJL_IS_TRUE(json_get(v, "checkpoint")));
	assert_int_equal(ev_u64(v, "pruned_through"), 2);
	assert_int_equal(ev_u64(v, "first_id"), 3);
	yajl_tree_free(v);
	assert_string_equal(audit_types(f, "{}"),
			    "node.visibility,node.visibility,node.visibility");

	/* edit record 4 through the store: verify points at it */
	raw = audit_raw(f, 4, &len);
	assert_non_null(strstr(raw, "\"actor\":\"node:1\""));
	memcpy(strstr(raw, "\"actor\":\"node:1\""), "\"actor\":\"node:2\"", 16);
	store_be64(k, 4);
	store_txn_begin(f->db.st, &t, 0);
	store_put(&t, f->db.dbi[RDV_DB_AUDIT], k, sizeof(k), raw, len);
	assert_int_equal(store_txn_commit(&t), 0);
	free(raw);
	assert_int_equal(admin(f, "audit_verify", "{}", &v), 200);
	assert_true(YAJL_IS_FALSE(json_get(v, "ok")));
	assert_int_equal(ev_u64(v, "bad_id"), 4);
	assert_int_equal(json_get_str(v, "reason", &s), 0);
	if (!strstr(s, "modified"))
		fail_msg("reason: %s", s);
	assert_int_equal(json_get_str(v, "public_key", &s), 0);
	assert_string_equal(s, pkb);
	yajl_tree_free(v);
	/* a log that does not verify is not pruned (nor re-signed) */
	assert_int_equal(audit_prune(f->db.audit, 1, 0, now_real_ms(), sk, &pruned), -EBADMSG);

	/* the key: kept, private, and refused when others can read it */
	snprintf(path, sizeof(path), "%s/audit.key", f->dir);
	assert_int_equal(file_check_secret(path), 0);
	assert_int_equal(rdv_audit_key_load(f->dir, sk, pk), 0);
	assert_memory_equal(pk, f->db.audit_pk, 32);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(rdv_audit_key_load(f->dir, sk, pk), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(file_write_atomic(path, "AAAA\n", 5, 0600), 0);
	assert_int_equal(rdv_audit_key_load(f->dir, sk, pk), -EBADMSG);
	{
		/* a secret key whose public half is not its seed's */
		uint8_t bad[64];
		char b64[100];
		crypto_sign_keypair(pk, bad);
		bad[40] ^= 1;
		b64_encode(b64, sizeof(b64), bad, sizeof(bad));
		assert_int_equal(file_write_atomic(path, b64, strlen(b64), 0600), 0);
		assert_int_equal(rdv_audit_key_load(f->dir, sk, pk), -EBADMSG);
	}
	sodium_free(sk);
}

/* ------------------------------------------------------------ issue 6 */

struct torg {
	uint32_t id;
	char enroll[64], admin[64], auth[80];
};

static void mk_org(struct fixture *f, const char *name, struct torg *o)
{
	char body[128];
	const char *s;
	yajl_val v;

	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	assert_int_equal(admin(f, "org_create", body, &v), 200);
	assert_int_equal(json_get_u32(v, "org_id", &o->id), 0);
	assert_int_equal(json_get_str(v, "name", &s), 0);
	assert_string_equal(s, name);
	assert_int_equal(json_get_str(v, "enroll_token", &s), 0);
	snprintf(o->enroll, sizeof(o->enroll), "%s", s);
	assert_int_equal(json_get_str(v, "admin_token", &s), 0);
	snprintf(o->admin, sizeof(o->admin), "%s", s);
	snprintf(o->auth, sizeof(o->auth), "Bearer %s", o->admin);
	yajl_tree_free(v);
}

/* An admin request with org \p o's admin token. */
static int org_admin(struct fixture *f, const struct torg *o, const char *op, const char *body,
		     yajl_val *out)
{
	return admin_req(f, ADMIN_TOKEN, o->auth, op, body, out);
}

/* org_revoke with org \p o's token and the body \p fmt... is refused
 * with \p status and \p code. */
static void __attribute__((format(printf, 5, 6)))
revoke_refused(struct fixture *f, const struct torg *o, int status, const char *code,
	       const char *fmt, ...)
{
	char body[256];
	va_list ap;
	yajl_val v;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (org_admin(f, o, "org_revoke", body, &v) != status)
		fail_msg("org_revoke %s was not refused with %d", body, status);
	expect_error(v, code);
}

static int enroll(struct fixture *f, struct tnode *n, uint32_t org, const char *token,
		  yajl_val *out)
{
	char extra[256];

	snprintf(extra, sizeof(extra), "\"org_id\":%u,\"token\":\"%s\"", org, token);
	return req(f, n, "org_enroll", extra, out);
}

/* The last event seq handed out for \p node: events after it are new. */
static uint64_t seq_now(struct fixture *f, uint32_t node)
{
	struct store_txn t;
	uint64_t seq;

	store_txn_begin(f->db.st, &t, 1);
	seq = rdv_event_last_seq(&t, &f->db, node);
	store_txn_abort(&t);
	return seq;
}

static int is_member(struct fixture *f, uint32_t net, uint32_t node)
{
	struct store_txn t;
	int m;

	store_txn_begin(f->db.st, &t, 1);
	m = rdv_member_has(&t, &f->db, (uint16_t)net, node);
	store_txn_abort(&t);
	return m;
}

static int has_pair(struct fixture *f, uint32_t a, uint32_t b)
{
	struct store_txn t;
	int m;

	store_txn_begin(f->db.st, &t, 1);
	m = rdv_trust_has(&t, &f->db, a, b);
	store_txn_abort(&t);
	return m;
}

static void test_org_create_enroll(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	struct torg o, o2;
	char body[256], want[160], *ev;
	uint32_t n1, n2, n3, id;
	uint64_t records;
	yajl_val v, j;

	mk_org(f, "acme", &o);
	assert_int_equal(o.id, 1);
	/* two secrets, 32 random bytes each in base64url without padding */
	assert_int_equal(strlen(o.enroll), 43);
	assert_int_equal(strlen(o.admin), 43);
	assert_string_not_equal(o.enroll, o.admin);
	assert_int_equal(strspn(o.enroll, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789-_"),
			 43);
	mk_org(f, "other", &o2);
	assert_int_equal(o2.id, 2);
	assert_string_not_equal(o.enroll, o2.enroll);
	/* validation */
	assert_int_equal(admin(f, "org_create", "{\"name\":\"Bad Name\"}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "org_create", "{}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "org_create", "{\"name\":\"x\",\"org_id\":3}", &v), 400);
	expect_error(v, "bad_request");

	/* networks of the org, one of the other org, one of nobody */
	snprintf(body, sizeof(body), "{\"name\":\"acme-web\",\"join_rule\":\"open\",\"org_id\":%u}",
		 o.id);
	n1 = mk_net(f, body);
	snprintf(body, sizeof(body),
		 "{\"name\":\"acme-db\",\"join_rule\":\"invite\",\"org_id\":%u}", o.id);
	n2 = mk_net(f, body);
	snprintf(body, sizeof(body), "{\"name\":\"o2\",\"join_rule\":\"open\",\"org_id\":%u}",
		 o2.id);
	n3 = mk_net(f, body);
	mk_net(f, "{\"name\":\"free\",\"join_rule\":\"open\"}");
	assert_int_equal(
	    admin(f, "network_create", "{\"name\":\"x\",\"join_rule\":\"open\",\"org_id\":77}", &v),
	    404);
	expect_error(v, "not_found");
	assert_int_equal(
	    admin(f, "network_create", "{\"name\":\"x\",\"join_rule\":\"open\",\"org_id\":0}", &v),
	    400);
	expect_error(v, "bad_request");

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");
	join_ok(f, &b, n1, NULL);
	records = audit_count(f);

	/* a wrong token, an unknown org, a bad body: refused, nothing changed */
	assert_int_equal(enroll(f, &a, o.id, o.admin, &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(enroll(f, &a, o.id, o2.enroll, &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(enroll(f, &a, 77, o.enroll, &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req(f, &a, "org_enroll", "\"org_id\":1", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &a, "org_enroll", "\"org_id\":0,\"token\":\"x\"", &v), 400);
	expect_error(v, "bad_request");
	assert_false(is_member(f, n1, a.id));
	assert_int_equal(audit_count(f), records);
	ev = events(f, &b, 0);
	assert_null(strstr(ev, "network.joined"));
	free(ev);

	/* the right token: every network of the org, none other */
	f->nnotified = 0;
	assert_int_equal(enroll(f, &a, o.id, o.enroll, &v), 200);
	assert_int_equal(json_get_u32(v, "org_id", &id), 0);
	assert_int_equal(id, o.id);
	assert_int_equal(arr_len(v, "joined"), 2);
	j = json_get(v, "joined")->u.array.values[0];
	assert_int_equal(json_get_u32(json_get(j, "network"), "network_id", &id), 0);
	assert_int_equal(id, n1);
	assert_int_equal(json_get_u32(json_get(j, "network"), "members", &id), 0);
	assert_int_equal(id, 2);
	assert_int_equal(arr_len(j, "members"), 1);
	assert_int_equal(json_get_u32(json_get(j, "members")->u.array.values[0], "node_id", &id),
			 0);
	assert_int_equal(id, b.id);
	j = json_get(v, "joined")->u.array.values[1];
	assert_int_equal(json_get_u32(json_get(j, "network"), "network_id", &id), 0);
	assert_int_equal(id, n2);
	assert_int_equal(arr_len(j, "members"), 0);
	yajl_tree_free(v);
	assert_true(is_member(f, n1, a.id));
	assert_true(is_member(f, n2, a.id));
	assert_false(is_member(f, n3, a.id));
	assert_false(is_member(f, 4, a.id));
	/* the same events as network_join */
	ev = events(f, &b, 0);
	snprintf(want, sizeof(want),
		 "\"event\":\"network.joined\",\"network_id\":%u,\"peer\":{"
		 "\"node_id\":%u",
		 n1, a.id);
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "network.joined"), 1);
	free(ev);
	assert_int_equal(f->nnotified, 1);
	/* sharing the network, A sees B */
	assert_int_equal(req(f, &a, "lookup", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_string_equal(audit_types(f, "{\"since_id\":1,\"type\":\"org.\"}"),
			    "org.created,org.created,org.enrolled");
	assert_string_equal(audit_types(f, "{\"node\":1}"),
			    "node.registered,network.joined,network.joined,org.enrolled");
	v = audit_q(f, "{\"type\":\"org.enrolled\"}");
	assert_string_equal(ev_str(ev_at(v, 0), "actor"), "node:1");
	assert_string_equal(ev_str(ev_at(v, 0), "subject"), "org:1");
	assert_int_equal(arr_len(json_get(ev_at(v, 0), "details"), "networks_joined"), 2);
	yajl_tree_free(v);
	v = audit_q(f, "{\"type\":\"network.joined\",\"node\":1}");
	assert_string_equal(ev_detail(ev_at(v, 0), "join_rule"), "org");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "org_id"), o.id);
	yajl_tree_free(v);
	v = audit_q(f, "{\"type\":\"network.created\"}");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "org_id"), o.id);
	assert_null(json_get(json_get(ev_at(v, 3), "details"), "org_id"));
	yajl_tree_free(v);

	/* again: the same answer, no events, no records */
	records = audit_count(f);
	f->nnotified = 0;
	assert_int_equal(enroll(f, &a, o.id, o.enroll, &v), 200);
	assert_int_equal(arr_len(v, "joined"), 2);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 0);
	assert_int_equal(audit_count(f), records);
	/* a network the org creates later is joined by enrolling again */
	snprintf(body, sizeof(body), "{\"name\":\"acme-new\",\"join_rule\":\"open\",\"org_id\":%u}",
		 o.id);
	id = mk_net(f, body);
	assert_int_equal(enroll(f, &a, o.id, o.enroll, &v), 200);
	assert_int_equal(arr_len(v, "joined"), 3);
	yajl_tree_free(v);
	assert_true(is_member(f, id, a.id));

	/* the org's members */
	assert_int_equal(admin(f, "org_members", "{\"org_id\":1}", &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 1);
	assert_int_equal(json_get_u32(json_get(v, "nodes")->u.array.values[0], "node_id", &id), 0);
	assert_int_equal(id, a.id);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "org_members", "{\"org_id\":2}", &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 0);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "org_members", "{\"org_id\":9}", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin(f, "org_members", "{}", &v), 400);
	expect_error(v, "bad_request");

	/* the enroll token is no admin credential; no secret reaches the log */
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer x", "org_members", "{\"org_id\":1}", &v),
			 401);
	expect_error(v, "unauthorized");
	{
		char auth[80];
		snprintf(auth, sizeof(auth), "Bearer %s", o.enroll);
		assert_int_equal(
		    admin_req(f, ADMIN_TOKEN, auth, "org_members", "{\"org_id\":1}", &v), 401);
		expect_error(v, "unauthorized");
	}
	for (uint64_t i = 1, n = audit_count(f); i <= n; i++) {
		size_t len;
		char *raw = audit_raw(f, i, &len);
		assert_null(strstr(raw, o.enroll));
		assert_null(strstr(raw, o.admin));
		assert_null(strstr(raw, o2.admin));
		free(raw);
	}
}

static void test_org_scope(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	struct torg o, o2;
	char body[256];
	uint32_t mine, theirs, free_net, id;
	yajl_val v;

	mk_org(f, "one", &o);
	mk_org(f, "two", &o2);
	snprintf(body, sizeof(body), "{\"name\":\"theirs\",\"join_rule\":\"open\",\"org_id\":%u}",
		 o2.id);
	theirs = mk_net(f, body);
	free_net = mk_net(f, "{\"name\":\"free\",\"join_rule\":\"open\"}");

	/* network_create: of its own org only, and org_id is required */
	snprintf(body, sizeof(body), "{\"name\":\"mine\",\"join_rule\":\"open\",\"org_id\":%u}",
		 o.id);
	assert_int_equal(org_admin(f, &o, "network_create", body, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &mine), 0);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"name\":\"x\",\"join_rule\":\"open\",\"org_id\":%u}",
		 o2.id);
	assert_int_equal(org_admin(f, &o, "network_create", body, &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(
	    org_admin(f, &o, "network_create", "{\"name\":\"x\",\"join_rule\":\"open\"}", &v), 403);
	expect_error(v, "forbidden");
	/* the record says which credential it was */
	v = audit_q(f, "{\"type\":\"network.created\",\"newest\":true,\"limit\":1}");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "org_admin"), o.id);
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "org_id"), o.id);
	yajl_tree_free(v);

	/* everything outside its org, and every other operation: forbidden */
	static const struct {
		const char *op, *body;
	} no[] = {
	    {"org_members", "{\"org_id\":2}"},
	    {"org_members", "{\"org_id\":99}"},
	    {"org_revoke", "{\"node_id\":1,\"org_id\":2}"},
	    {"org_create", "{\"name\":\"x\"}"},
	    {"network_list", ""},
	    {"network_nodes", "{\"network_id\":1}"},
	    {"network_delete", "{\"network_id\":1}"},
	    {"network_add", "{\"network_id\":2,\"node_id\":1}"},
	    {"policy_show", "{\"network_id\":2}"},
	    {"policy_test", "{\"network_id\":2,\"from\":1,\"to\":2,\"port\":\"icmp\"}"},
	    {"audit", "{}"},
	    {"audit_verify", "{}"},
	    {"policy_set", "{\"network_id\":1,\"policy\":{\"rules\":[]}}"},
	    {"policy_set", "{\"network_id\":2,\"policy\":{\"rules\":[]}}"},
	    {"policy_set", "{\"network_id\":999,\"policy\":{\"rules\":[]}}"},
	};
	for (size_t i = 0; i < nitems(no); i++) {
		if (org_admin(f, &o, no[i].op, no[i].body, &v) != 403)
			fail_msg("%s %s was not forbidden", no[i].op, no[i].body);
		expect_error(v, "forbidden");
	}
	(void)theirs;
	(void)free_net;
	/* unknown op: not_found, as for the deployment's token */
	assert_int_equal(org_admin(f, &o, "network_explode", "{}", &v), 404);
	expect_error(v, "not_found");

	/* its own org */
	assert_int_equal(org_admin(f, &o, "org_members", "{\"org_id\":1}", &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 0);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"network_id\":%u,\"policy\":{\"rules\":[]}}", mine);
	assert_int_equal(org_admin(f, &o, "policy_set", body, &v), 200);
	yajl_tree_free(v);
	v = audit_q(f, "{\"type\":\"policy.changed\"}");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "org_admin"), o.id);
	assert_string_equal(ev_str(ev_at(v, 0), "actor"), "admin:198.19.100.9");
	yajl_tree_free(v);

	/* org_revoke: its members only (org_id defaults to its org) */
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	assert_int_equal(enroll(f, &a, o.id, o.enroll, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(enroll(f, &b, o2.id, o2.enroll, &v), 200);
	yajl_tree_free(v);
	revoke_refused(f, &o, 404, "not_found", "{\"node_id\":%u}", b.id);
	revoke_refused(f, &o, 400, "bad_request", "{\"node_id\":%u,\"org_id\":0}", a.id);
	revoke_refused(f, &o, 404, "not_found", "{\"node_id\":%u,\"org_id\":%u}", b.id, o.id);
	revoke_refused(f, &o, 404, "not_found", "{\"node_id\":%u,\"org_id\":%u}", c.id, o.id);
	revoke_refused(f, &o, 404, "not_found", "{\"node_id\":999,\"org_id\":%u}", o.id);
	revoke_refused(f, &o, 403, "forbidden", "{\"node_id\":%u,\"org_id\":%u}", b.id, o2.id);
	/* b and c are untouched */
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":1", &v), 200);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"node_id\":%u}", a.id);
	assert_int_equal(org_admin(f, &o, "org_revoke", body, &v), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	assert_int_equal(id, a.id);
	assert_string_equal(json_get(v, "scope")->u.string, "org");
	yajl_tree_free(v);
	/* out of the org, not banned (test_org_revoke_scoped) */
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":1", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(org_admin(f, &o, "org_revoke", body, &v), 404);
	expect_error(v, "not_found");
	/* the org's token is no deployment token, and a wrong one is refused */
	assert_int_equal(
	    admin_req(f, ADMIN_TOKEN, "Bearer nope", "org_members", "{\"org_id\":1}", &v), 401);
	expect_error(v, "unauthorized");
	/* with the admin API disabled, org tokens are refused too */
	assert_int_equal(admin_req(f, NULL, o.auth, "org_members", "{\"org_id\":1}", &v), 403);
	expect_msg(v, "forbidden", "admin API disabled");
}

static void test_revoke(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0}, e = {0}, x = {0};
	struct torg o;
	struct rdv_reply r1, r2;
	struct rdv_network rn;
	struct store_txn t;
	char body[256], want[160], extra[256], pkb[64], *ev;
	const char *s;
	uint32_t n1, n2, id;
	uint64_t records, mb, mc, md, me;
	yajl_val v, det;

	mk_org(f, "acme", &o);
	n1 = mk_net(f, "{\"name\":\"one\",\"join_rule\":\"open\"}");
	n2 = mk_net(f, "{\"name\":\"two\",\"join_rule\":\"open\"}");
	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, NULL); /* trust pair with A by approval */
	do_register(f, &c, 0, NULL); /* shares network 1 with A, no pair */
	do_register(f, &d, 0, NULL); /* nothing to do with A */
	do_register(f, &e, 0, NULL); /* network 2 and a pair through it */
	join_ok(f, &a, n1, NULL);
	join_ok(f, &c, n1, NULL);
	join_ok(f, &a, n2, NULL);
	join_ok(f, &e, n2, NULL);
	assert_int_equal(req(f, &b, "handshake", target(a.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "approve", target(b.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &e, "handshake", target(a.id), &v), 200); /* basis n2 */
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "handshake", target(d.id), &v), 200); /* pending at D */
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "pending");
	yajl_tree_free(v);
	assert_int_equal(enroll(f, &a, o.id, o.enroll, &v), 200);
	yajl_tree_free(v);
	assert_true(has_pair(f, a.id, b.id));
	assert_true(has_pair(f, a.id, e.id));
	assert_false(has_pair(f, a.id, c.id));
	mb = seq_now(f, b.id);
	mc = seq_now(f, c.id);
	md = seq_now(f, d.id);
	me = seq_now(f, e.id);
	records = audit_count(f);

	assert_int_equal(admin(f, "org_revoke", "{\"node_id\":999}", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin(f, "org_revoke", "{}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "org_revoke", "{\"node_id\":1,\"org_id\":9}", &v), 404);
	expect_error(v, "not_found");
	snprintf(body, sizeof(body), "{\"node_id\":%u,\"org_id\":%u}", b.id, o.id);
	assert_int_equal(admin(f, "org_revoke", body, &v), 404); /* B is no member */
	expect_error(v, "not_found");
	assert_int_equal(audit_count(f), records);

	f->nnotified = 0;
	snprintf(body, sizeof(body), "{\"node_id\":%u}", a.id);
	assert_int_equal(admin(f, "org_revoke", body, &v), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	assert_int_equal(id, a.id);
	expect_ids(v, "networks_left", (uint32_t[]){n1, n2}, 2);
	expect_ids(v, "trust_revoked", (uint32_t[]){b.id, e.id}, 2);
	assert_int_equal(json_get_u32(v, "notified", &id), 0);
	assert_int_equal(id, 3); /* B, C, E: not D */
	yajl_tree_free(v);

	/* the events, to the right nodes */
	snprintf(want, sizeof(want), "\"event\":\"node.revoked\",\"node_id\":%u}", a.id);
	ev = events(f, &b, mb);
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "trust.revoked"), 1);
	assert_null(strstr(ev, "network.left"));
	free(ev);
	ev = events(f, &c, mc); /* only shared a network */
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "network.left"), 1);
	assert_null(strstr(ev, "trust.revoked"));
	free(ev);
	ev = events(f, &e, me);
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "network.left"), 1);
	assert_int_equal(count_lines(ev, "trust.revoked"), 1);
	free(ev);
	ev = events(f, &d, md);
	assert_string_equal(ev, "{\"seq\":0,\"event\":\"synced\"}\n");
	free(ev);
	/* and A's own streams are woken, to be ended */
	{
		int woke = 0;
		for (size_t i = 0; i < f->nnotified; i++)
			woke |= f->notified[i] == a.id;
		assert_true(woke);
	}

	/* pairs, memberships, org membership gone; counts kept */
	assert_false(has_pair(f, a.id, b.id));
	assert_false(has_pair(f, a.id, e.id));
	assert_false(is_member(f, n1, a.id));
	assert_false(is_member(f, n2, a.id));
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_net_get(&t, &f->db, (uint16_t)n1, &rn), 0);
	assert_int_equal(rn.members, 1);
	assert_false(rdv_org_member_has(&t, &f->db, o.id, a.id));
	store_txn_abort(&t);
	assert_int_equal(req(f, &b, "trusts", "", &v), 200);
	assert_int_equal(arr_len(v, "peers"), 0);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "org_members", "{\"org_id\":1}", &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 0);
	yajl_tree_free(v);
	/* its pending request is gone from D's inbox view, its ID is unseen */
	assert_int_equal(req(f, &d, "inbox", "", &v), 200);
	assert_int_equal(arr_len(v, "requests"), 0);
	yajl_tree_free(v);
	assert_int_equal(req(f, &d, "approve", target(a.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(req_full(f, &c, "lookup", NOW, target(a.id), 1, NULL, NULL, 0, NULL, &r1),
			 404);
	assert_int_equal(req_full(f, &c, "lookup", NOW, target(777), 1, NULL, NULL, 0, NULL, &r2),
			 404);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	rdv_reply_free(&r1);
	rdv_reply_free(&r2);
	assert_int_equal(req(f, &c, "handshake", target(a.id), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin(f, "network_add", "{\"network_id\":1,\"node_id\":1}", &v), 404);
	expect_error(v, "not_found");
	/* its hostname is free again */
	assert_int_equal(set_host(f, &c, "alice", &v), 200);
	yajl_tree_free(v);

	/* one record, with the lists */
	assert_string_equal(audit_types(f, "{\"since_id\":1,\"type\":\"node.revoked\"}"),
			    "node.revoked");
	v = audit_q(f, "{\"type\":\"node.revoked\"}");
	assert_string_equal(ev_str(ev_at(v, 0), "actor"), "admin:198.19.100.9");
	assert_string_equal(ev_str(ev_at(v, 0), "subject"), "node:1");
	det = json_get(ev_at(v, 0), "details");
	assert_int_equal(arr_len(det, "networks_left"), 2);
	assert_int_equal(arr_len(det, "trust_revoked"), 2);
	assert_int_equal(ev_u64(det, "notified"), 3);
	yajl_tree_free(v);

	/* the revoked node: every signed request, register with its key */
	records = audit_count(f);
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":1", &v), 403);
	expect_msg(v, "forbidden", "revoked");
	assert_int_equal(join(f, &a, n1, NULL, &v), 403);
	expect_msg(v, "forbidden", "revoked");
	assert_int_equal(enroll(f, &a, o.id, o.enroll, &v), 403);
	expect_msg(v, "forbidden", "revoked");
	assert_int_equal(req(f, &a, "lookup", target(b.id), &v), 403);
	expect_msg(v, "forbidden", "revoked");
	{
		struct rdv_reply rep;
		assert_int_equal(
		    req_full(f, &a, "events", NOW, "\"after\":0", 1, NULL, NULL, 0, NULL, &rep),
		    403);
		assert_int_equal(rep.stream_node, 0);
		rdv_reply_free(&rep);
	}
	b64_encode(pkb, sizeof(pkb), a.pk, 32);
	snprintf(extra, sizeof(extra), "\"public_key\":\"%s\",\"listen_port\":1,\"public\":true",
		 pkb);
	assert_int_equal(req_full(f, &a, "register", NOW, extra, 1, &v, NULL, 0, NULL, NULL), 403);
	expect_msg(v, "forbidden", "revoked");
	/* not even when it forgets its node ID (a "new" node) */
	x = a;
	x.id = 0;
	assert_int_equal(req_full(f, &x, "register", NOW, extra, 0, &v, NULL, 0, NULL, NULL), 403);
	expect_msg(v, "forbidden", "revoked");
	/* and nobody can move to its key */
	{
		char proof[128];
		rotate_proof(a.sk, c.id, c.pk, a.pk, NOW, proof, sizeof(proof));
		assert_int_equal(rotate(f, &c, a.pk, proof, &v), 409);
		expect_error(v, "conflict");
	}
	/* forged requests in its name are bad signatures, not "revoked" */
	b.id = a.id;
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":1", &v), 401);
	expect_error(v, "bad_signature");
	b.id = 2;
	assert_string_equal(audit_types(f, "{\"type\":\"security.\"}"),
			    "security.revoked,security.revoked,security.revoked,security.revoked,"
			    "security.revoked,security.revoked,security.revoked,"
			    "security.bad_signature");
	v = audit_q(f, "{\"type\":\"security.revoked\",\"newest\":true,\"limit\":1}");
	assert_string_equal(ev_str(ev_at(v, 0), "subject"), "node:1");
	assert_string_equal(ev_detail(ev_at(v, 0), "op"), "register");
	assert_string_equal(ev_detail(ev_at(v, 0), "reason"), "revoked");
	yajl_tree_free(v);
	assert_int_equal(audit_count(f), records + 8);

	/* revoking again changes nothing */
	f->nnotified = 0;
	snprintf(body, sizeof(body), "{\"node_id\":%u}", a.id);
	assert_int_equal(admin(f, "org_revoke", body, &v), 200);
	assert_int_equal(arr_len(v, "networks_left"), 0);
	assert_int_equal(arr_len(v, "trust_revoked"), 0);
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 0);
	assert_int_equal(audit_count(f), records + 8);
}

/* The events of \p n since \p after hold \p want (a substring) \p times. */
static void expect_events(struct fixture *f, struct tnode *n, uint64_t after, const char *want,
			  size_t times)
{
	char *ev = events(f, n, after);

	if (count_lines(ev, want) != times)
		fail_msg("node %u: %zu times %s, not %zu, in:\n%s", n->id, count_lines(ev, want),
			 want, times, ev);
	free(ev);
}

/* An org admin's org_revoke reaches that org alone: X, in orgs A and B
 * (and a network of no org), is removed from A and A's networks with the
 * pair A's network made; its place in B, the other network, the pairs
 * made elsewhere and its key stay; it cannot come back into A.  Then the
 * deployment admin's revoke still bans it everywhere. */
static void test_org_revoke_scoped(void **state)
{
	struct fixture *f = *state;
	struct tnode x = {0}, pa = {0}, pb = {0}, q = {0}, r = {0};
	struct torg oa, ob;
	char body[256], want[160], sb[32];
	const char *s;
	uint32_t a1, a2, b1, f1, id;
	uint64_t records, mx, mpa, mpb, mq, mr;
	yajl_val v, e, det;

	mk_org(f, "alpha", &oa);
	mk_org(f, "beta", &ob);
	snprintf(body, sizeof(body), "{\"name\":\"a-one\",\"join_rule\":\"open\",\"org_id\":%u}",
		 oa.id);
	a1 = mk_net(f, body);
	snprintf(body, sizeof(body), "{\"name\":\"a-two\",\"join_rule\":\"open\",\"org_id\":%u}",
		 oa.id);
	a2 = mk_net(f, body);
	snprintf(body, sizeof(body), "{\"name\":\"b-one\",\"join_rule\":\"open\",\"org_id\":%u}",
		 ob.id);
	b1 = mk_net(f, body);
	f1 = mk_net(f, "{\"name\":\"free\",\"join_rule\":\"open\"}");
	do_register(f, &x, 0, "xeno");
	do_register(f, &pa, 0, NULL); /* org A: a pair with X through a1 */
	do_register(f, &pb, 0, NULL); /* org B: a pair with X through b1 */
	do_register(f, &q, 0, NULL);  /* network f1: a pair with X through it */
	do_register(f, &r, 0, NULL);  /* no network: a pair with X by approval */
	assert_int_equal(enroll(f, &x, oa.id, oa.enroll, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(enroll(f, &x, ob.id, ob.enroll, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(enroll(f, &pa, oa.id, oa.enroll, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(enroll(f, &pb, ob.id, ob.enroll, &v), 200);
	yajl_tree_free(v);
	join_ok(f, &x, f1, NULL);
	join_ok(f, &q, f1, NULL);
	assert_int_equal(req(f, &pa, "handshake", target(x.id), &v), 200); /* basis a1 */
	yajl_tree_free(v);
	assert_int_equal(req(f, &pb, "handshake", target(x.id), &v), 200); /* basis b1 */
	yajl_tree_free(v);
	assert_int_equal(req(f, &q, "handshake", target(x.id), &v), 200); /* basis f1 */
	yajl_tree_free(v);
	assert_int_equal(req(f, &r, "handshake", target(x.id), &v), 200); /* pending */
	yajl_tree_free(v);
	assert_int_equal(req(f, &x, "approve", target(r.id), &v), 200); /* basis 0 */
	yajl_tree_free(v);
	assert_true(has_pair(f, x.id, pa.id) && has_pair(f, x.id, pb.id));
	assert_true(has_pair(f, x.id, q.id) && has_pair(f, x.id, r.id));

	/* B's admin reaches no node outside B, X's membership of A included */
	records = audit_count(f);
	revoke_refused(f, &ob, 404, "not_found", "{\"node_id\":%u}", pa.id);
	revoke_refused(f, &ob, 403, "forbidden", "{\"node_id\":%u,\"org_id\":%u}", x.id, oa.id);
	assert_int_equal(audit_count(f), records);
	assert_true(is_member(f, a1, pa.id) && has_pair(f, x.id, pa.id));

	/* A's admin removes X from A */
	mx = seq_now(f, x.id);
	mpa = seq_now(f, pa.id);
	mpb = seq_now(f, pb.id);
	mq = seq_now(f, q.id);
	mr = seq_now(f, r.id);
	f->nnotified = 0;
	snprintf(body, sizeof(body), "{\"node_id\":%u}", x.id);
	assert_int_equal(org_admin(f, &oa, "org_revoke", body, &v), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	assert_int_equal(id, x.id);
	assert_int_equal(json_get_str(v, "scope", &s), 0);
	assert_string_equal(s, "org");
	assert_int_equal(json_get_u32(v, "org_id", &id), 0);
	assert_int_equal(id, oa.id);
	expect_ids(v, "networks_left", (uint32_t[]){a1, a2}, 2);
	expect_ids(v, "trust_revoked", (uint32_t[]){pa.id}, 1);
	assert_int_equal(json_get_u32(v, "notified", &id), 0);
	assert_int_equal(id, 1); /* PA: the other member of a1 and a2 */
	yajl_tree_free(v);

	/* gone from A and A's networks, with the pair a1 made */
	assert_false(is_member(f, a1, x.id));
	assert_false(is_member(f, a2, x.id));
	assert_false(has_pair(f, x.id, pa.id));
	snprintf(body, sizeof(body), "{\"org_id\":%u}", oa.id);
	assert_int_equal(org_admin(f, &oa, "org_members", body, &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 1); /* PA */
	yajl_tree_free(v);
	/* B, B's network, the network of no org and the other pairs stay */
	assert_true(is_member(f, b1, x.id));
	assert_true(is_member(f, f1, x.id));
	assert_true(has_pair(f, x.id, pb.id));
	assert_true(has_pair(f, x.id, q.id));
	assert_true(has_pair(f, x.id, r.id));
	snprintf(body, sizeof(body), "{\"org_id\":%u}", ob.id);
	assert_int_equal(org_admin(f, &ob, "org_members", body, &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 2); /* X, PB */
	yajl_tree_free(v);

	/* the pushes: membership ends and the pair, never a key revocation */
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":%u,\"node_id\":%u}",
		 a1, x.id);
	expect_events(f, &x, mx, want, 1);
	expect_events(f, &pa, mpa, want, 1);
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":%u,\"node_id\":%u}",
		 a2, x.id);
	expect_events(f, &x, mx, want, 1);
	expect_events(f, &pa, mpa, want, 1);
	snprintf(want, sizeof(want), "\"event\":\"trust.revoked\",\"node_id\":%u}", x.id);
	expect_events(f, &pa, mpa, want, 1);
	snprintf(want, sizeof(want), "\"event\":\"trust.revoked\",\"node_id\":%u}", pa.id);
	expect_events(f, &x, mx, want, 1);
	expect_events(f, &x, mx, "\"event\"", 4); /* and the synced marker */
	expect_events(f, &pa, mpa, "\"event\"", 4);
	for (size_t i = 0; i < 3; i++) {
		struct tnode *n = i == 0 ? &pb : i == 1 ? &q : &r;
		uint64_t m = i == 0 ? mpb : i == 1 ? mq : mr;
		expect_events(f, n, m, "\"event\"", 1); /* only synced */
	}
	expect_events(f, &pa, mpa, "node.revoked", 0);
	{
		int woke_x = 0, woke_pa = 0, woke_pb = 0;
		for (size_t i = 0; i < f->nnotified; i++) {
			woke_x |= f->notified[i] == x.id;
			woke_pa |= f->notified[i] == pa.id;
			woke_pb |= f->notified[i] == pb.id;
		}
		assert_true(woke_x && woke_pa);
		assert_false(woke_pb);
	}

	/* one record per change, each naming org A's authority */
	assert_int_equal(audit_count(f), records + 4);
	assert_int_equal(count_type(f, "node.revoked"), 0);
	snprintf(sb, sizeof(sb), "node:%u", x.id);
	v = audit_q(f, "{\"type\":\"network.member_removed\"}");
	assert_int_equal(arr_len(v, "events"), 2);
	for (size_t i = 0; i < 2; i++) {
		e = ev_at(v, i);
		assert_string_equal(ev_str(e, "actor"), "admin:198.19.100.9");
		assert_string_equal(ev_str(e, "subject"), sb);
		assert_int_equal(detail_u64(e, "org_admin"), oa.id);
		assert_int_equal(detail_u64(e, "org_id"), oa.id);
		assert_int_equal(detail_u64(e, "network_id"), i == 0 ? a1 : a2);
		assert_string_equal(ev_detail(e, "reason"), "org_revoked");
		assert_int_equal(detail_u64(e, "trust_pairs_revoked"), i == 0 ? 1 : 0);
	}
	yajl_tree_free(v);
	v = newest(f, "trust.revoked", &e);
	assert_int_equal(detail_u64(e, "org_admin"), oa.id);
	assert_int_equal(detail_u64(e, "network_id"), a1);
	assert_string_equal(ev_detail(e, "reason"), "org_revoked");
	yajl_tree_free(v);
	v = newest(f, "org.member_removed", &e);
	assert_string_equal(ev_str(e, "subject"), sb);
	det = json_get(e, "details");
	assert_int_equal(ev_u64(det, "org_admin"), oa.id);
	assert_int_equal(ev_u64(det, "org_id"), oa.id);
	assert_int_equal(ev_u64(det, "networks_left_count"), 2);
	assert_int_equal(ev_u64(det, "trust_revoked_count"), 1);
	assert_int_equal(arr_u32(det, "trust_revoked", 0), pa.id);
	assert_int_equal(ev_u64(det, "notified"), 1);
	yajl_tree_free(v);

	/* its key is not banned: it registers, resolves and is resolved */
	do_register(f, &x, 0, "xeno");
	assert_int_equal(heartbeat(f, &x, ""), 200);
	{
		static const char *const op[] = {"resolve", "resolve", "lookup"};
		struct tnode *from[] = {&x, &pb, &q}, *to[] = {&pb, &x, &x};
		for (size_t i = 0; i < nitems(op); i++) {
			if (req(f, from[i], op[i], target(to[i]->id), &v) != 200)
				fail_msg("%s of node %u by %u refused", op[i], to[i]->id,
					 from[i]->id);
			yajl_tree_free(v);
		}
	}
	assert_int_equal(enroll(f, &x, ob.id, ob.enroll, &v), 200);
	yajl_tree_free(v);
	/* but A will not take it back, on any credential */
	assert_int_equal(enroll(f, &x, oa.id, oa.enroll, &v), 403);
	expect_msg(v, "forbidden", "removed");
	assert_int_equal(join(f, &x, a1, NULL, &v), 403);
	expect_msg(v, "forbidden", "removed");
	assert_false(is_member(f, a1, x.id));
	/* and removing it again finds no member */
	revoke_refused(f, &oa, 404, "not_found", "{\"node_id\":%u}", x.id);

	/* the deployment admin's revoke still bans it everywhere */
	mpb = seq_now(f, pb.id);
	snprintf(body, sizeof(body), "{\"node_id\":%u}", x.id);
	assert_int_equal(admin(f, "org_revoke", body, &v), 200);
	assert_int_equal(json_get_str(v, "scope", &s), 0);
	assert_string_equal(s, "deployment");
	assert_int_equal(arr_len(v, "networks_left"), 2); /* b1, f1 */
	assert_int_equal(arr_len(v, "trust_revoked"), 3); /* PB, Q, R */
	yajl_tree_free(v);
	assert_false(is_member(f, b1, x.id));
	assert_false(is_member(f, f1, x.id));
	assert_false(has_pair(f, x.id, pb.id) || has_pair(f, x.id, q.id) ||
		     has_pair(f, x.id, r.id));
	snprintf(want, sizeof(want), "\"event\":\"node.revoked\",\"node_id\":%u}", x.id);
	expect_events(f, &pb, mpb, want, 1);
	assert_int_equal(count_type(f, "node.revoked"), 1);
	assert_int_equal(req(f, &x, "heartbeat", "\"listen_port\":1", &v), 403);
	expect_msg(v, "forbidden", "revoked");
	assert_int_equal(enroll(f, &x, ob.id, ob.enroll, &v), 403);
	expect_msg(v, "forbidden", "revoked");
}

/* A policy_set by the deployment's admin; returns the status. */
static int pset(struct fixture *f, uint32_t net, const char *policy, yajl_val *out)
{
	char body[2048];

	snprintf(body, sizeof(body), "{\"network_id\":%u,\"policy\":%s}", net, policy);
	return admin(f, "policy_set", body, out);
}

static int ptest(struct fixture *f, struct tnode *n, uint32_t net, const char *from, const char *to,
		 const char *port, yajl_val *out)
{
	char extra[512];

	snprintf(extra, sizeof(extra), "\"network_id\":%u,\"from\":%s,\"to\":%s,\"port\":\"%s\"",
		 net, from, to, port);
	if (!n) {
		char body[600];
		snprintf(body, sizeof(body), "{%s}", extra);
		return admin(f, "policy_test", body, out);
	}
	return req(f, n, "policy_test", extra, out);
}

static int allowed_of(yajl_val v)
{
	int b = -1;

	assert_int_equal(json_get_bool(v, "allowed", &b), 0);
	return b;
}

static void test_policy(void **state)
{
	struct fixture *f = *state;
	struct tnode web = {0}, api = {0}, db = {0}, out = {0};
	char pol[1024], want[200], *ev;
	const char *s;
	uint64_t ver, mark, mw, ma, mo;
	uint32_t net, net2, id;
	int b;
	yajl_val v, a;

	net = mk_net(f, "{\"name\":\"prod\",\"join_rule\":\"open\"}");
	net2 = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	do_register(f, &web, 0, "web1");
	do_register(f, &api, 0, "api1");
	do_register(f, &db, 0, "db1");
	do_register(f, &out, 0, "outsider");
	join_ok(f, &web, net, NULL);
	join_ok(f, &api, net, NULL);
	join_ok(f, &db, net, NULL);
	join_ok(f, &web, net2, NULL);
	assert_int_equal(req(f, &api, "set_tags", "\"tags\":[\"API\"]", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &db, "set_tags", "\"tags\":[\"db\"]", &v), 200);
	yajl_tree_free(v);

	/* no policy yet */
	assert_int_equal(req(f, &web, "policy_show", net_extra(net), &v), 200);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 0);
	assert_int_equal(arr_len(json_get(v, "policy"), "rules"), 0);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, &web, net, "\"db1\"", "\"api1\"", "udp/53", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	assert_int_equal(json_get_bool(v, "default_deny", &b), 0);
	assert_false(b);
	yajl_tree_free(v);

	/* selectors by hostname (any case), address and ID */
	mark = seq_now(f, db.id);
	snprintf(pol, sizeof(pol),
		 "{\"rules\":[{\"from\":[\"WEB1\",\"0:0000.0000.0003\"],"
		 "\"to\":[\"tag:API\"],\"ports\":[\"tcp/443\",\"tcp/8000-8080\"],"
		 "\"name\":\"web-api\"},"
		 "{\"from\":[\"%u\"],\"to\":[\"api1\"],\"ports\":[\"icmp\"]}]}",
		 web.id);
	assert_int_equal(pset(f, net, pol, &v), 200);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 1);
	assert_int_equal(json_get_u32(v, "rules", &id), 0);
	assert_int_equal(id, 2);
	yajl_tree_free(v);
	assert_int_equal(req(f, &api, "policy_show", net_extra(net), &v), 200);
	a = json_get(json_get(v, "policy"), "rules");
	assert_int_equal(a->u.array.len, 2);
	snprintf(want, sizeof(want), "node:%u", web.id);
	assert_string_equal(
	    YAJL_GET_STRING(json_get(a->u.array.values[0], "from")->u.array.values[0]), want);
	snprintf(want, sizeof(want), "node:%u", db.id);
	assert_string_equal(
	    YAJL_GET_STRING(json_get(a->u.array.values[0], "from")->u.array.values[1]), want);
	assert_string_equal(
	    YAJL_GET_STRING(json_get(a->u.array.values[0], "to")->u.array.values[0]), "tag:api");
	snprintf(want, sizeof(want), "node:%u", api.id);
	assert_string_equal(
	    YAJL_GET_STRING(json_get(a->u.array.values[1], "to")->u.array.values[0]), want);
	yajl_tree_free(v);
	/* every member heard of it */
	snprintf(want, sizeof(want),
		 "\"event\":\"policy.changed\",\"network_id\":%u,\"version\":1}", net);
	ev = events(f, &db, mark);
	assert_non_null(strstr(ev, want));
	free(ev);
	ev = events(f, &out, 0);
	assert_null(strstr(ev, "policy.changed"));
	free(ev);

	/* refusals change nothing */
	static const char *const bad[] = {
	    "{\"rules\":[{\"from\":[\"nobody\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/0\"]}]}",
	    "{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"]}]}",
	    "{\"rules\":[{\"from\":[\"tag:a\\u0000b\"],\"to\":[\"*\"],\"ports\":[\"*\"]}]}",
	    "{\"rulez\":[]}",
	    "[]",
	    "\"{\\\"rules\\\":[]}\"",
	};
	for (size_t i = 0; i < nitems(bad); i++) {
		if (pset(f, net, bad[i], &v) != 400)
			fail_msg("accepted: %s", bad[i]);
		expect_error(v, "bad_request");
	}
	assert_int_equal(pset(f, 0, "{\"rules\":[]}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(pset(f, 77, "{\"rules\":[]}", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin(f, "policy_set", "{\"network_id\":1}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "policy_show", net_extra(net), &v), 400); /* not an object */
	expect_error(v, "bad_request");

	/* show and test: members and the admin */
	assert_int_equal(req(f, &out, "policy_show", net_extra(net), &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(req(f, &out, "policy_show", net_extra(99), &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(req(f, &web, "policy_show", net_extra(0), &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(admin(f, "policy_show", "{\"network_id\":1}", &v), 200);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 1);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "policy_show", "{\"network_id\":99}", &v), 404);
	expect_error(v, "not_found");

	assert_int_equal(ptest(f, &web, net, "\"web1\"", "\"api1\"", "tcp/443", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	assert_int_equal(json_get_u64(v, "rule", &ver), 0);
	assert_true(ver == 0);
	assert_int_equal(json_get_str(v, "rule_name", &s), 0);
	assert_string_equal(s, "web-api");
	assert_int_equal(json_get_bool(v, "default_deny", &b), 0);
	assert_true(b);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 1);
	yajl_tree_free(v);
	snprintf(want, sizeof(want), "%u", web.id);
	assert_int_equal(ptest(f, &db, net, want, "\"0:0000.0000.0002\"", "tcp/80", &v), 200);
	assert_int_equal(allowed_of(v), 0);
	assert_int_equal(json_get(v, "rule")->u.number.i, -1);
	assert_int_equal(json_get_str(v, "rule_name", &s), 0);
	assert_string_equal(s, "");
	yajl_tree_free(v);
	assert_int_equal(ptest(f, NULL, net, "\"web1\"", "\"api1\"", "icmp", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	assert_int_equal(json_get(v, "rule")->u.number.i, 1);
	yajl_tree_free(v);
	/* the reverse direction is another flow */
	assert_int_equal(ptest(f, &web, net, "\"api1\"", "\"web1\"", "tcp/443", &v), 200);
	assert_int_equal(allowed_of(v), 0);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, &web, net, "\"db1\"", "\"api1\"", "tcp/8080", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	yajl_tree_free(v);
	/* bad ports and parties; a name the member cannot see is unknown */
	static const char *const badport[] = {"tcp/0",	"tcp/65536", "sctp/1", "tcp/",
					      "tcp/08", "icmp/1",    "*",      "udp/1x"};
	for (size_t i = 0; i < nitems(badport); i++) {
		assert_int_equal(ptest(f, &web, net, "\"web1\"", "\"api1\"", badport[i], &v), 400);
		expect_error(v, "bad_request");
	}
	assert_int_equal(ptest(f, &web, net, "0", "\"api1\"", "icmp", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(ptest(f, &web, net, "\"-bad-\"", "\"api1\"", "icmp", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(ptest(f, &web, net, "true", "\"api1\"", "icmp", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(ptest(f, &web, net, "\"outsider\"", "\"api1\"", "icmp", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(ptest(f, &web, net, "\"nobody\"", "\"api1\"", "icmp", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(ptest(f, NULL, net, "\"outsider\"", "\"api1\"", "icmp", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, &out, net, "\"web1\"", "\"api1\"", "icmp", &v), 403);
	expect_error(v, "forbidden");

	/* the view: what web1 may open and accept, nothing about others */
	assert_int_equal(req(f, &web, "policy_view", net_extra(net), &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &id), 0);
	assert_int_equal(id, net);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 1);
	assert_int_equal(json_get_bool(v, "default_deny", &b), 0);
	assert_true(b);
	a = json_get(v, "allow");
	assert_true(YAJL_IS_ARRAY(a));
	{
		int tcp = 0, icmp = 0;
		for (size_t i = 0; i < a->u.array.len; i++) {
			yajl_val e = a->u.array.values[i];
			uint32_t node = 0, proto = 0;
			const char *dir = NULL;
			assert_int_equal(json_get_u32(e, "node", &node), 0);
			assert_int_equal(json_get_str(e, "dir", &dir), 0);
			assert_int_equal(json_get_u32(e, "proto", &proto), 0);
			assert_int_equal(node, api.id);
			assert_string_equal(dir, "out");
			if (proto == 6) {
				yajl_val r = json_get(e, "ranges");
				tcp++;
				assert_int_equal(r->u.array.len, 2);
				assert_int_equal(
				    r->u.array.values[0]->u.array.values[0]->u.number.i, 443);
				assert_int_equal(
				    r->u.array.values[1]->u.array.values[1]->u.number.i, 8080);
			} else {
				assert_int_equal(proto, 58);
				icmp++;
			}
		}
		assert_int_equal(tcp, 1);
		assert_int_equal(icmp, 1);
	}
	yajl_tree_free(v);
	assert_int_equal(req(f, &api, "policy_view", net_extra(net), &v), 200);
	a = json_get(v, "allow");
	for (size_t i = 0; i < a->u.array.len; i++)
		assert_string_equal(YAJL_GET_STRING(json_get(a->u.array.values[i], "dir")), "in");
	assert_true(a->u.array.len >= 2);
	yajl_tree_free(v);
	assert_int_equal(req(f, &out, "policy_view", net_extra(net), &v), 403);
	expect_error(v, "forbidden");
	assert_int_equal(req(f, &web, "policy_view", net_extra(net2), &v), 200);
	assert_int_equal(json_get_bool(v, "default_deny", &b), 0);
	assert_false(b);
	assert_int_equal(arr_len(v, "allow"), 0);
	yajl_tree_free(v);

	/* tags and members change views: policy.changed to every member */
	mw = seq_now(f, web.id);
	mark = seq_now(f, db.id);
	ma = seq_now(f, api.id);
	mo = seq_now(f, out.id);
	assert_int_equal(req(f, &db, "set_tags", "\"tags\":[\"db\",\"api\"]", &v), 200);
	yajl_tree_free(v);
	snprintf(want, sizeof(want),
		 "\"event\":\"policy.changed\",\"network_id\":%u,\"version\":1}", net);
	ev = events(f, &web, mw);
	assert_int_equal(count_lines(ev, want), 1);
	free(ev);
	ev = events(f, &db, mark);
	assert_int_equal(count_lines(ev, want), 1);
	free(ev);
	/* the same tags again: no change, no event */
	assert_int_equal(req(f, &db, "set_tags", "\"tags\":[\"api\",\"db\"]", &v), 200);
	yajl_tree_free(v);
	ev = events(f, &web, mw);
	assert_int_equal(count_lines(ev, want), 1);
	free(ev);
	/* a network without rules: no event */
	assert_int_equal(req(f, &web, "set_tags", "\"tags\":[\"web\"]", &v), 200);
	yajl_tree_free(v);
	ev = events(f, &web, mw);
	assert_int_equal(count_lines(ev, "policy.changed"), 2); /* net only, not net2 */
	free(ev);
	join_ok(f, &out, net, NULL);
	ev = events(f, &api, ma);
	assert_int_equal(count_lines(ev, want), 3);
	free(ev);
	ev = events(f, &out, mo);
	assert_int_equal(count_lines(ev, want), 1);
	free(ev);
	assert_int_equal(req(f, &out, "network_leave", net_extra(net), &v), 200);
	yajl_tree_free(v);
	ev = events(f, &api, ma);
	assert_int_equal(count_lines(ev, want), 4);
	free(ev);

	/* versions go up; no rules is allowed and means "no rules" */
	assert_int_equal(pset(f, net, "{\"rules\":[]}", &v), 200);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 2);
	assert_int_equal(json_get_u32(v, "rules", &id), 0);
	assert_int_equal(id, 0);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, &web, net, "\"api1\"", "\"web1\"", "udp/9", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	assert_int_equal(json_get_bool(v, "default_deny", &b), 0);
	assert_false(b);
	yajl_tree_free(v);
	snprintf(want, sizeof(want),
		 "\"event\":\"policy.changed\",\"network_id\":%u,\"version\":2}", net);
	ev = events(f, &api, ma);
	assert_int_equal(count_lines(ev, want), 1);
	free(ev);
	assert_string_equal(audit_types(f, "{\"type\":\"policy.\"}"),
			    "policy.changed,policy.changed");
	v = audit_q(f, "{\"type\":\"policy.changed\"}");
	assert_string_equal(ev_str(ev_at(v, 0), "subject"), "network:1");
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "version"), 1);
	assert_int_equal(ev_u64(json_get(ev_at(v, 0), "details"), "rules"), 2);
	yajl_tree_free(v);
	/* a deleted network takes its policy along */
	assert_int_equal(admin(f, "network_delete", "{\"network_id\":1}", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(mk_net(f, "{\"name\":\"again\",\"join_rule\":\"open\"}"), 1);
	assert_int_equal(admin(f, "policy_show", "{\"network_id\":1}", &v), 200);
	assert_int_equal(json_get_u64(v, "version", &ver), 0);
	assert_true(ver == 0);
	yajl_tree_free(v);
}

/* Byte-identical 404s for a hidden node and for one that does not exist. */
static void expect_hidden(struct fixture *f, struct tnode *s, const char *op, const char *extra,
			  const char *nobody)
{
	struct rdv_reply r1, r2;

	assert_int_equal(req_full(f, s, op, NOW, extra, 1, NULL, NULL, 0, NULL, &r1), 404);
	assert_int_equal(req_full(f, s, op, NOW, nobody, 1, NULL, NULL, 0, NULL, &r2), 404);
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	rdv_reply_free(&r1);
	rdv_reply_free(&r2);
}

static void test_policy_visibility(void **state)
{
	struct fixture *f = *state;
	struct tnode web = {0}, api = {0}, db = {0};
	const char *s;
	uint32_t net;
	yajl_val v;

	net = mk_net(f, "{\"name\":\"prod\",\"join_rule\":\"open\"}");
	do_register(f, &web, 0, "web1");
	do_register(f, &api, 0, "api1");
	do_register(f, &db, 0, "db1");
	join_ok(f, &web, net, NULL);
	join_ok(f, &api, net, NULL);
	join_ok(f, &db, net, NULL);
	assert_int_equal(req(f, &web, "set_tags", "\"tags\":[\"web\"]", &v), 200);
	yajl_tree_free(v);
	/* without rules everyone sees everyone */
	assert_int_equal(req(f, &db, "resolve", target(web.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(pset(f, net,
			      "{\"rules\":[{\"from\":[\"tag:web\"],\"to\":[\"api1\"],"
			      "\"ports\":[\"tcp/8443\"]}]}",
			      &v),
			 200);
	yajl_tree_free(v);

	/* web -> api allowed: both see each other (either direction counts) */
	assert_int_equal(req(f, &web, "resolve", target(api.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &api, "resolve", target(web.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &api, "find", "\"hostname\":\"web1\"", &v), 200);
	yajl_tree_free(v);
	/* db is allowed nothing: it sees neither, exactly as nobody */
	expect_hidden(f, &db, "resolve", target(web.id), target(999));
	expect_hidden(f, &db, "lookup", target(api.id), target(999));
	expect_hidden(f, &db, "find", "\"hostname\":\"web1\"", "\"hostname\":\"nosuch\"");
	expect_hidden(f, &web, "lookup", target(db.id), target(999));
	/* network_nodes still lists the members (membership is not secret) */
	assert_int_equal(req(f, &db, "network_nodes", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 3);
	yajl_tree_free(v);
	/* the network does not approve a handshake its policy would hide */
	assert_int_equal(req(f, &db, "handshake", target(web.id), &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "pending");
	yajl_tree_free(v);
	assert_false(has_pair(f, db.id, web.id));
	assert_int_equal(req(f, &api, "handshake", target(web.id), &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "approved");
	yajl_tree_free(v);
	/* trust pairs and public nodes are unaffected */
	assert_int_equal(req(f, &web, "approve", target(db.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &db, "resolve", target(web.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &api, "set_visibility", "\"public\":true", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &db, "resolve", target(api.id), &v), 200);
	yajl_tree_free(v);
	/* a tag that now matches opens the way */
	assert_int_equal(req(f, &api, "set_visibility", "\"public\":false", &v), 200);
	yajl_tree_free(v);
	expect_hidden(f, &db, "resolve", target(api.id), target(999));
	assert_int_equal(req(f, &db, "set_tags", "\"tags\":[\"web\"]", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &db, "resolve", target(api.id), &v), 200);
	yajl_tree_free(v);
}

static void test_events_synced(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	struct rdv_reply rep;
	const char *nl;
	char *ev;

	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	/* nothing queued: only the marker */
	ev = events(f, &a, 0);
	assert_string_equal(ev, "{\"seq\":0,\"event\":\"synced\"}\n");
	free(ev);
	/* a backlog, then the marker, last */
	assert_int_equal(req(f, &b, "handshake", target(a.id), NULL), 200);
	assert_int_equal(req(f, &b, "untrust", target(a.id), NULL), 200);
	assert_int_equal(req(f, &a, "approve", target(b.id), NULL), 200);
	assert_int_equal(req(f, &b, "untrust", target(a.id), NULL), 200);
	assert_int_equal(
	    req_full(f, &a, "events", NOW, "\"after\":0", 1, NULL, NULL, 0, NULL, &rep), 200);
	ev = strndup(rep.body, rep.len);
	assert_int_equal(count_lines(ev, "\n"), 3);
	assert_non_null(strstr(ev, "\"seq\":1,\"event\":\"handshake.received\""));
	nl = strstr(ev, "\"seq\":2,\"event\":\"trust.revoked\"");
	assert_non_null(nl);
	assert_non_null(strstr(nl, "\n{\"seq\":0,\"event\":\"synced\"}\n"));
	assert_string_equal(ev + strlen(ev) - strlen("{\"seq\":0,\"event\":\"synced\"}\n"),
			    "{\"seq\":0,\"event\":\"synced\"}\n");
	/* the stream goes on from the last real event */
	assert_true(rep.stream_seq == 2);
	free(ev);
	rdv_reply_free(&rep);
	/* acknowledged: again only the marker */
	ev = events(f, &a, 2);
	assert_string_equal(ev, "{\"seq\":0,\"event\":\"synced\"}\n");
	free(ev);
}

/* An admin's invite (issue 12): the registry signs it; the operator need
 * not be a member; single use like a member's; an org's admin invites only
 * to its org's networks; an "i":0 invite signed by anyone else is refused. */
static void test_admin_invite(void **state)
{
	struct fixture *f = *state;
	static uint8_t isk[64];
	uint8_t ipk[32], fpk[32], fsk[64];
	struct tnode a = {0}, b = {0};
	struct torg o;
	char body[160], more[RDV_INVITE_MAX + 32], forged[RDV_INVITE_MAX];
	const char *inv = NULL, *type;
	uint32_t net, open, onet;
	uint64_t exp;
	yajl_val v, e;

	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");
	net = mk_net(f, "{\"name\":\"inv\",\"join_rule\":\"invite\"}");
	open = mk_net(f, "{\"name\":\"op\",\"join_rule\":\"open\"}");
	snprintf(body, sizeof(body), "{\"network_id\":%u}", net);
	/* no invite key loaded: a clear error, no invite */
	assert_int_equal(admin(f, "network_invite", body, &v), 500);
	expect_msg(v, "internal", "invite key");
	crypto_sign_keypair(ipk, isk);
	f->db.invite_sk = isk;
	memcpy(f->db.invite_pk, ipk, 32);

	assert_int_equal(admin(f, "network_invite", body, &v), 200);
	assert_int_equal(json_get_str(v, "invite", &inv), 0);
	assert_int_equal(json_get_u64(v, "expires", &exp), 0);
	assert_true(exp == NOW / 1000 + 86400);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", inv);
	yajl_tree_free(v);
	/* nobody is a member yet; the invite admits the first one, once */
	join_ok(f, &a, net, more);
	assert_int_equal(join(f, &b, net, more, &v), 409);
	expect_msg(v, "conflict", "invite already used");
	/* the join is audited with the admin as its inviter */
	v = audit_q(f, "{\"type\":\"network.joined\"}");
	e = ev_at(v, 0);
	assert_string_equal(ev_str(json_get(e, "details"), "inviter"), "admin");
	yajl_tree_free(v);
	v = audit_q(f, "{\"type\":\"network.invite_made\"}");
	e = ev_at(v, 0);
	type = ev_str(e, "actor");
	assert_non_null(strstr(type, "admin:"));
	yajl_tree_free(v);

	/* ttl bounds, and only invite networks */
	snprintf(body, sizeof(body), "{\"network_id\":%u,\"ttl\":604801}", net);
	assert_int_equal(admin(f, "network_invite", body, &v), 400);
	expect_error(v, "bad_request");
	snprintf(body, sizeof(body), "{\"network_id\":%u,\"ttl\":60}", net);
	assert_int_equal(admin(f, "network_invite", body, &v), 200);
	assert_int_equal(json_get_u64(v, "expires", &exp), 0);
	assert_true(exp == NOW / 1000 + 60);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"network_id\":%u}", open);
	assert_int_equal(admin(f, "network_invite", body, &v), 400);
	expect_msg(v, "bad_request", "does not take an invite");
	assert_int_equal(admin(f, "network_invite", "{\"network_id\":4242}", &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin(f, "network_invite", "{\"network_id\":0}", &v), 400);
	expect_error(v, "bad_request");

	/* "i":0 signed by another key */
	crypto_sign_keypair(fpk, fsk);
	assert_int_equal(rdv_invite_make(fsk, (uint16_t)net, RDV_INVITER_REGISTRY,
					 NOW / 1000 + 3600, forged, sizeof(forged)),
			 0);
	snprintf(more, sizeof(more), "\"invite\":\"%s\"", forged);
	assert_int_equal(join(f, &b, net, more, &v), 403);
	expect_msg(v, "forbidden", "signature");

	/* an org's admin: its own networks only */
	mk_org(f, "acme", &o);
	snprintf(body, sizeof(body), "{\"name\":\"oi\",\"join_rule\":\"invite\",\"org_id\":%u}",
		 o.id);
	assert_int_equal(org_admin(f, &o, "network_create", body, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &onet), 0);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"network_id\":%u}", onet);
	assert_int_equal(org_admin(f, &o, "network_invite", body, &v), 200);
	yajl_tree_free(v);
	snprintf(body, sizeof(body), "{\"network_id\":%u}", net);
	assert_int_equal(org_admin(f, &o, "network_invite", body, &v), 403);
	expect_error(v, "forbidden");
	f->db.invite_sk = NULL;
}

/* ------------------------------------------------------------ issue 14 */

/* The ca join rule, revocation lists, certificate and identity expiry.
 * Times in certificates are Unix seconds on the registry's clock (clk). */
#define T_S (NOW / 1000)
#define CA_NB (T_S - 86400)
#define CA_NA (T_S + 30 * 86400)
#define C_NB (T_S - 3600)
#define C_NA (T_S + 86400)

struct tca {
	uint8_t pk[32], sk[64];
	struct cert c;
	char txt[CERT_PEM_MAX];
};

/* A certificate and its wire form (base64). */
struct tcert {
	struct cert c;
	char txt[CERT_PEM_MAX];
};

static void tc_text(struct tcert *t)
{
	assert_int_equal(cert_to_b64(&t->c, t->txt, sizeof(t->txt)), 0);
}

static void mk_ca(struct tca *ca, const char *name, uint64_t nb, uint64_t na)
{
	assert_int_equal(crypto_sign_keypair(ca->pk, ca->sk), 0);
	memset(&ca->c, 0, sizeof(ca->c));
	ca->c.kind = CERT_KIND_CA;
	randombytes_buf(ca->c.serial, sizeof(ca->c.serial));
	ca->c.not_before = nb;
	ca->c.not_after = na;
	memcpy(ca->c.public_key, ca->pk, 32);
	cert_key_id(ca->pk, ca->c.issuer);
	snprintf(ca->c.name, sizeof(ca->c.name), "%s", name);
	assert_int_equal(cert_sign(&ca->c, ca->sk), 0);
	assert_int_equal(cert_to_b64(&ca->c, ca->txt, sizeof(ca->txt)), 0);
}

/* A node certificate by \p ca for key \p pk; \p node_id 0 names no node;
 * \p tags NULL-ended, canonical. */
static void mk_cert(struct tcert *t, const struct tca *ca, const uint8_t pk[32], uint64_t nb,
		    uint64_t na, uint32_t node_id, const char *const *tags)
{
	struct cert *c = &t->c;

	memset(c, 0, sizeof(*c));
	c->kind = CERT_KIND_NODE;
	randombytes_buf(c->serial, sizeof(c->serial));
	c->not_before = nb;
	c->not_after = na;
	memcpy(c->public_key, pk, 32);
	cert_key_id(ca->pk, c->issuer);
	c->has_node_id = node_id != 0;
	c->node_id = node_id;
	for (; tags && *tags; tags++)
		snprintf(c->tags[c->ntags++], sizeof(c->tags[0]), "%s", *tags);
	assert_int_equal(cert_sign(c, ca->sk), 0);
	tc_text(t);
}

/* A good certificate of \p ca for node \p n (its key and ID). */
static void mk_cert_for(struct tcert *t, const struct tca *ca, const struct tnode *n,
			const char *const *tags)
{
	mk_cert(t, ca, n->pk, C_NB, C_NA, n->id, tags);
}

static const char *const tags_web[] = {"web", NULL};
static const char *const tags_db[] = {"db", NULL};

/* network_create of ca network \p name on CA certificate text \p ca_txt. */
static int create_ca(struct fixture *f, const char *name, const char *ca_txt, yajl_val *out)
{
	char body[CERT_PEM_MAX + 192];

	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"join_rule\":\"ca\",\"ca_cert\":\"%s\"}",
		 name, ca_txt);
	return admin(f, "network_create", body, out);
}

static uint32_t mk_ca_net(struct fixture *f, const char *name, const struct tca *ca)
{
	yajl_val v;
	uint32_t id;

	assert_int_equal(create_ca(f, name, ca->txt, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &id), 0);
	yajl_tree_free(v);
	return id;
}

/* \p op (network_join, network_renew) of \p net offering \p certs
 * (NULL-ended texts). */
static int cert_op(struct fixture *f, struct tnode *n, const char *op, uint32_t net,
		   const char *const *certs, yajl_val *out)
{
	char extra[3800];
	size_t o;

	o = (size_t)snprintf(extra, sizeof(extra), "\"network_id\":%u,\"certificates\":[", net);
	for (size_t i = 0; certs[i]; i++)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s\"%s\"", i ? "," : "",
				      certs[i]);
	snprintf(extra + o, sizeof(extra) - o, "]");
	return req(f, n, op, extra, out);
}

static int join_cert(struct fixture *f, struct tnode *n, uint32_t net, const struct tcert *t,
		     yajl_val *out)
{
	const char *certs[] = {t->txt, NULL};

	return cert_op(f, n, "network_join", net, certs, out);
}

static void join_cert_ok(struct fixture *f, struct tnode *n, uint32_t net, const struct tcert *t)
{
	yajl_val v;

	assert_int_equal(join_cert(f, n, net, t, &v), 200);
	yajl_tree_free(v);
}

/* \p len bytes as hex, in one of a few rotating buffers. */
static const char *hexs(const uint8_t *p, size_t len)
{
	static char buf[4][65];
	static unsigned i;
	char *s = buf[i++ % 4];

	assert_true(len <= 32);
	hex_encode(s, 65, p, len);
	return s;
}

static int ca_revoke(struct fixture *f, uint32_t net, const char *entry, yajl_val *out)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"network_id\":%u%s%s}", net, entry[0] ? "," : "", entry);
	return admin(f, "ca_revoke", body, out);
}

static void ca_revoke_ok(struct fixture *f, uint32_t net, const char *entry)
{
	yajl_val v;

	assert_int_equal(ca_revoke(f, net, entry, &v), 200);
	yajl_tree_free(v);
}

static char *entry_serial(const struct cert *c)
{
	static char buf[80];

	snprintf(buf, sizeof(buf), "\"serial\":\"%s\"", hexs(c->serial, CERT_SERIAL_LEN));
	return buf;
}

static char *entry_fp(const struct cert *c)
{
	static char buf[100];

	snprintf(buf, sizeof(buf), "\"fingerprint\":\"%s\"", hexs(c->fingerprint, CERT_FP_LEN));
	return buf;
}

static char *entry_key(const uint8_t pk[32])
{
	static char buf[80];
	char b[64];

	b64_encode(b, sizeof(b), pk, 32);
	snprintf(buf, sizeof(buf), "\"public_key\":\"%s\"", b);
	return buf;
}

static char *entry_node(uint32_t id)
{
	static char buf[40];

	snprintf(buf, sizeof(buf), "\"node_id\":%u", id);
	return buf;
}

static int cert_stored(struct fixture *f, uint32_t net, uint32_t node, struct cert *c)
{
	struct store_txn t;
	int rc;

	store_txn_begin(f->db.st, &t, 1);
	rc = rdv_net_cert_get(&t, &f->db, (uint16_t)net, node, c);
	store_txn_abort(&t);
	return rc;
}

/* A JSON string's text: escape the newlines of armored text. */
static void json_escape_nl(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in && o + 3 < cap; in++) {
		if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static void test_ca_create(void **state)
{
	struct fixture *f = *state;
	struct tca ca, old, early, tampered, other_issuer;
	struct tcert leaf;
	struct cert sc;
	struct store_txn t;
	struct tnode a = {0};
	char body[2048], pem[CERT_PEM_MAX], esc[CERT_PEM_MAX + 64];
	uint8_t kid[CERT_KEYID_LEN];
	const char *s;
	uint32_t net, net2;
	uint64_t x;
	yajl_val v, e;
	static const struct {
		const char *tail;
		int status;
		const char *code;
	} bad[] = {
	    {"\"join_rule\":\"ca\"", 400, "bad_request"},
	    {"\"join_rule\":\"ca\",\"ca_cert\":7", 400, "bad_request"},
	    {"\"join_rule\":\"ca\",\"ca_cert\":\"bm90IGEgY2VydGlmaWNhdGU=\"", 400, "cert_invalid"},
	    {"\"join_rule\":\"ca\",\"ca_cert\":\"\"", 400, "cert_invalid"},
	};

	do_register(f, &a, 0, NULL);
	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	assert_int_equal(create_ca(f, "pki", ca.txt, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &net), 0);
	assert_int_equal(json_get_str(v, "join_rule", &s), 0);
	assert_string_equal(s, "ca");
	assert_int_equal(json_get_str(v, "ca_name", &s), 0);
	assert_string_equal(s, "Example CA");
	assert_int_equal(json_get_str(v, "ca_fingerprint", &s), 0);
	assert_string_equal(s, hexs(ca.c.fingerprint, CERT_FP_LEN));
	cert_key_id(ca.pk, kid);
	assert_int_equal(json_get_str(v, "ca_key_id", &s), 0);
	assert_string_equal(s, hexs(kid, sizeof(kid)));
	assert_int_equal(json_get_u64(v, "ca_not_after", &x), 0);
	assert_int_equal(x, CA_NA);
	yajl_tree_free(v);
	/* the CA certificate is kept, as given */
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_net_ca_get(&t, &f->db, (uint16_t)net, &sc), 0);
	store_txn_abort(&t);
	assert_memory_equal(sc.fingerprint, ca.c.fingerprint, CERT_FP_LEN);
	assert_memory_equal(sc.public_key, ca.pk, 32);
	/* audited with the CA */
	v = newest(f, "network.created", &e);
	assert_string_equal(ev_detail(e, "join_rule"), "ca");
	assert_string_equal(ev_detail(e, "ca_fingerprint"), hexs(ca.c.fingerprint, CERT_FP_LEN));
	assert_string_equal(ev_detail(e, "ca_name"), "Example CA");
	yajl_tree_free(v);
	/* armored text is taken too */
	assert_true(cert_to_pem(&ca.c, pem, sizeof(pem)) > 0);
	json_escape_nl(pem, esc, sizeof(esc));
	assert_int_equal(create_ca(f, "pki2", esc, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &net2), 0);
	yajl_tree_free(v);
	assert_true(net2 != net);

	/* refused, and no network made */
	for (size_t i = 0; i < nitems(bad); i++) {
		snprintf(body, sizeof(body), "{\"name\":\"bad\",%s}", bad[i].tail);
		assert_int_equal(admin(f, "network_create", body, &v), bad[i].status);
		expect_error(v, bad[i].code);
	}
	/* a node's certificate is no CA */
	mk_cert(&leaf, &ca, a.pk, C_NB, C_NA, 0, NULL);
	assert_int_equal(create_ca(f, "bad", leaf.txt, &v), 400);
	expect_error(v, "cert_invalid");
	/* not self-issued */
	mk_ca(&other_issuer, "Other", CA_NB, CA_NA);
	randombytes_buf(other_issuer.c.issuer, CERT_KEYID_LEN);
	assert_int_equal(cert_sign(&other_issuer.c, other_issuer.sk), 0);
	assert_int_equal(cert_to_b64(&other_issuer.c, other_issuer.txt, CERT_PEM_MAX), 0);
	assert_int_equal(create_ca(f, "bad", other_issuer.txt, &v), 400);
	expect_error(v, "cert_invalid");
	/* a self-signature that does not verify */
	mk_ca(&tampered, "Tampered", CA_NB, CA_NA);
	tampered.c.sig[7] ^= 1;
	assert_int_equal(cert_to_b64(&tampered.c, tampered.txt, CERT_PEM_MAX), 0);
	assert_int_equal(create_ca(f, "bad", tampered.txt, &v), 403);
	expect_error(v, "cert_bad_signature");
	/* outside its window: ended (not_after excluded), or not begun */
	mk_ca(&old, "Old", CA_NB, T_S);
	assert_int_equal(create_ca(f, "bad", old.txt, &v), 403);
	expect_error(v, "cert_ca_expired");
	mk_ca(&early, "Early", T_S + CERT_SKEW_S + 1, CA_NA);
	assert_int_equal(create_ca(f, "bad", early.txt, &v), 403);
	expect_error(v, "cert_ca_expired");
	/* another rule takes no CA */
	snprintf(body, sizeof(body), "{\"name\":\"bad\",\"join_rule\":\"open\",\"ca_cert\":\"%s\"}",
		 ca.txt);
	assert_int_equal(admin(f, "network_create", body, &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "network_list", "{}", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 2);
	yajl_tree_free(v);
	/* at the edges of the window: one that ends a second from now and
	 * one that begins within the allowed skew are taken */
	mk_ca(&old, "Old", CA_NB, T_S + 1);
	assert_int_equal(create_ca(f, "edge1", old.txt, &v), 200);
	yajl_tree_free(v);
	mk_ca(&early, "Early", T_S + CERT_SKEW_S, CA_NA);
	assert_int_equal(create_ca(f, "edge2", early.txt, &v), 200);
	yajl_tree_free(v);
	/* certificates go to ca networks only */
	{
		uint32_t open = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
		struct tcert ac;
		mk_cert_for(&ac, &ca, &a, NULL);
		/* ... others do not look at them: a daemon offers its
		 * certificates to every network it joins */
		assert_int_equal(join_cert(f, &a, open, &ac, &v), 200);
		yajl_tree_free(v);
		assert_true(is_member(f, open, a.id));
	}
}

static void test_ca_join(void **state)
{
	struct fixture *f = *state;
	struct tca ca, other;
	struct tcert ca_a, ca_b, c_other, c_expired, c_good;
	struct tnode a = {0}, b = {0}, c = {0};
	struct cert sc;
	char want[256], *ev;
	const char *s;
	uint32_t net, id;
	uint64_t x, ma, recs;
	yajl_val v, nv, cv, e;

	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	mk_ca(&other, "Other CA", CA_NB, CA_NA);
	net = mk_ca_net(f, "pki", &ca);
	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");
	do_register(f, &c, 0, "carol");
	mk_cert_for(&ca_a, &ca, &a, tags_web);
	mk_cert(&ca_b, &ca, b.pk, C_NB, C_NA, 0, tags_db); /* names no node */

	/* A joins on its certificate: the reply carries it */
	assert_int_equal(join_cert(f, &a, net, &ca_a, &v), 200);
	nv = json_get(v, "network");
	assert_int_equal(json_get_str(nv, "join_rule", &s), 0);
	assert_string_equal(s, "ca");
	assert_int_equal(json_get_u32(nv, "members", &id), 0);
	assert_int_equal(id, 1);
	cv = json_get(nv, "certificate");
	assert_non_null(cv);
	assert_int_equal(json_get_str(cv, "serial", &s), 0);
	assert_string_equal(s, hexs(ca_a.c.serial, CERT_SERIAL_LEN));
	assert_int_equal(json_get_str(cv, "fingerprint", &s), 0);
	assert_string_equal(s, hexs(ca_a.c.fingerprint, CERT_FP_LEN));
	assert_int_equal(json_get_u64(cv, "not_before", &x), 0);
	assert_int_equal(x, C_NB);
	assert_int_equal(json_get_u64(cv, "not_after", &x), 0);
	assert_int_equal(x, C_NA);
	assert_int_equal(json_get_u32(cv, "cert_node_id", &id), 0);
	assert_int_equal(id, a.id);
	assert_int_equal(arr_len(cv, "tags"), 1);
	assert_string_equal(YAJL_GET_STRING(json_get(cv, "tags")->u.array.values[0]), "web");
	yajl_tree_free(v);
	assert_true(is_member(f, net, a.id));
	assert_int_equal(cert_stored(f, net, a.id, &sc), 0);
	assert_memory_equal(sc.fingerprint, ca_a.c.fingerprint, CERT_FP_LEN);
	/* audited with the certificate */
	v = newest(f, "network.joined", &e);
	snprintf(want, sizeof(want), "node:%u", a.id);
	assert_string_equal(ev_str(e, "actor"), want);
	assert_string_equal(ev_detail(e, "join_rule"), "ca");
	assert_string_equal(ev_detail(e, "serial"), hexs(ca_a.c.serial, CERT_SERIAL_LEN));
	assert_int_equal(detail_u64(e, "not_after"), C_NA);
	assert_int_equal(detail_u64(e, "cert_node_id"), a.id);
	yajl_tree_free(v);

	/* B joins on one that names no node: sees A with its certificate;
	 * A hears when B's membership ends by itself */
	ma = seq_now(f, a.id);
	f->nnotified = 0;
	assert_int_equal(join_cert(f, &b, net, &ca_b, &v), 200);
	assert_null(json_get(json_get(json_get(v, "network"), "certificate"), "cert_node_id"));
	assert_int_equal(arr_len(v, "members"), 1);
	cv = json_get(json_get(v, "members")->u.array.values[0], "certificate");
	assert_int_equal(json_get_str(cv, "serial", &s), 0);
	assert_string_equal(s, hexs(ca_a.c.serial, CERT_SERIAL_LEN));
	yajl_tree_free(v);
	assert_int_equal(f->nnotified, 1);
	assert_int_equal(f->notified[0], a.id);
	ev = events(f, &a, ma);
	snprintf(want, sizeof(want),
		 "\"event\":\"network.joined\",\"network_id\":%u,\"peer\":{\"node_id\":%u,", net,
		 b.id);
	assert_non_null(strstr(ev, want));
	snprintf(want, sizeof(want), "\"cert_not_after\":%llu}", (unsigned long long)C_NA);
	assert_non_null(strstr(ev, want));
	free(ev);
	/* network_nodes: each with its certificate */
	assert_int_equal(req(f, &a, "network_nodes", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 2);
	for (size_t i = 0; i < 2; i++)
		assert_non_null(json_get(json_get(v, "nodes")->u.array.values[i], "certificate"));
	yajl_tree_free(v);
	/* a member joining again needs nothing and changes nothing */
	recs = audit_count(f);
	f->nnotified = 0;
	join_ok(f, &a, net, NULL);
	assert_int_equal(f->nnotified, 0);
	assert_int_equal(audit_count(f), recs);

	/* several offered: what does not decode, is from another CA or no
	 * longer holds is passed over; the first good one admits */
	mk_cert(&c_other, &other, c.pk, C_NB, C_NA, c.id, NULL);
	mk_cert(&c_expired, &ca, c.pk, C_NB, T_S, c.id, NULL);
	mk_cert_for(&c_good, &ca, &c, tags_db);
	{
		const char *certs[] = {"bm90IGEgY2VydA==", c_other.txt, c_expired.txt, c_good.txt,
				       NULL};
		assert_int_equal(cert_op(f, &c, "network_join", net, certs, &v), 200);
		cv = json_get(json_get(v, "network"), "certificate");
		assert_int_equal(json_get_str(cv, "serial", &s), 0);
		assert_string_equal(s, hexs(c_good.c.serial, CERT_SERIAL_LEN));
		yajl_tree_free(v);
	}
	assert_int_equal(cert_stored(f, net, c.id, &sc), 0);
	assert_memory_equal(sc.serial, c_good.c.serial, CERT_SERIAL_LEN);
	/* leaving drops the certificate */
	assert_int_equal(req(f, &c, "network_leave", net_extra(net), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(cert_stored(f, net, c.id, &sc), -ENOENT);
	/* a network_delete drops them all, and the CA */
	snprintf(want, sizeof(want), "{\"network_id\":%u}", net);
	assert_int_equal(admin(f, "network_delete", want, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(cert_stored(f, net, a.id, &sc), -ENOENT);
	assert_int_equal(cert_stored(f, net, b.id, &sc), -ENOENT);
	{
		struct store_txn t;
		store_txn_begin(f->db.st, &t, 1);
		assert_int_equal(rdv_net_ca_get(&t, &f->db, (uint16_t)net, &sc), -ENOENT);
		store_txn_abort(&t);
	}
}

/* Every refusal a certificate can earn at join: code, status, one audit
 * record each (but cert_required), and no membership. */
static void test_ca_join_refused(void **state)
{
	struct fixture *f = *state;
	struct tca ca, other;
	struct tcert good, other_ca, tampered, for_b, names_b, early, expired, outlives, edge;
	struct tnode a = {0}, b = {0}, c = {0};
	char body[128];
	uint64_t before;
	uint32_t net;
	yajl_val v, e;

	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	mk_ca(&other, "Other CA", CA_NB, CA_NA);
	net = mk_ca_net(f, "pki", &ca);
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	mk_cert_for(&good, &ca, &c, NULL);
	mk_cert_for(&other_ca, &other, &c, NULL);
	tampered = good;
	tampered.c.sig[3] ^= 0x10;
	tc_text(&tampered);
	mk_cert(&for_b, &ca, b.pk, C_NB, C_NA, 0, NULL);
	mk_cert(&names_b, &ca, c.pk, C_NB, C_NA, b.id, NULL);
	mk_cert(&early, &ca, c.pk, T_S + CERT_SKEW_S + 1, C_NA, c.id, NULL);
	mk_cert(&expired, &ca, c.pk, C_NB, T_S, c.id, NULL);
	mk_cert(&outlives, &ca, c.pk, C_NB, CA_NA + 1, c.id, NULL);
	{
		const struct {
			const char *code;
			int status;
			const char *certs[4];
		} cases[] = {
		    {"cert_invalid", 400, {"bm90IGEgY2VydA=="}},
		    {"cert_invalid", 400, {"!!", ""}},
		    {"cert_wrong_ca", 403, {other_ca.txt}},
		    {"cert_bad_signature", 403, {tampered.txt}},
		    {"cert_wrong_key", 403, {for_b.txt}},
		    {"cert_wrong_node", 403, {names_b.txt}},
		    {"cert_not_yet_valid", 403, {early.txt}},
		    {"cert_expired", 403, {expired.txt}},
		    {"cert_invalid", 403, {outlives.txt}},
		    {"cert_invalid", 403, {ca.txt}}, /* the CA's own: not a node's */
		    /* none good: the first from the CA decides */
		    {"cert_expired", 403, {other_ca.txt, expired.txt, for_b.txt}},
		    {"cert_wrong_key", 403, {"!!", for_b.txt, expired.txt}},
		    {"cert_wrong_ca", 403, {"!!", other_ca.txt}},
		};
		before = count_type(f, "network.join_refused");
		for (size_t i = 0; i < nitems(cases); i++) {
			int st = cert_op(f, &c, "network_join", net, cases[i].certs, &v);
			if (st != cases[i].status || strcmp(err_code(v), cases[i].code) != 0)
				fail_msg("case %zu: %d %s, want %d %s", i, st, err_code(v),
					 cases[i].status, cases[i].code);
			yajl_tree_free(v);
			assert_false(is_member(f, net, c.id));
		}
		assert_int_equal(count_type(f, "network.join_refused"), before + nitems(cases));
	}
	/* the record: the claimed node, the code, as the security records */
	v = newest(f, "network.join_refused", &e);
	assert_string_equal(ev_str(e, "actor"), "ip:198.18.2.7");
	snprintf(body, sizeof(body), "node:%u", c.id);
	assert_string_equal(ev_str(e, "subject"), body);
	assert_string_equal(ev_detail(e, "code"), "cert_wrong_ca");
	assert_string_equal(ev_detail(e, "op"), "network_join");
	assert_int_equal(detail_u64(e, "claimed_node"), c.id);
	yajl_tree_free(v);

	/* no certificate at all: cert_required, a client's mistake (not
	 * audited); a malformed list is a bad request */
	before = count_type(f, "network.join_refused");
	assert_int_equal(join(f, &c, net, NULL, &v), 400);
	expect_error(v, "cert_required");
	assert_int_equal(join(f, &c, net, "\"certificates\":[]", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &c, net, "\"certificates\":\"x\"", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &c, net, "\"certificates\":[7]", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(join(f, &c, net,
			      "\"certificates\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
			      "\"a\"]",
			      &v),
			 400);
	expect_error(v, "bad_request");
	assert_int_equal(count_type(f, "network.join_refused"), before);
	assert_false(is_member(f, net, c.id));

	/* the edges of the window: ends in a second, begins within the skew */
	mk_cert(&edge, &ca, a.pk, C_NB, T_S + 1, a.id, NULL);
	join_cert_ok(f, &a, net, &edge);
	mk_cert(&edge, &ca, b.pk, T_S + CERT_SKEW_S, C_NA, b.id, NULL);
	join_cert_ok(f, &b, net, &edge);
	/* and the good one admits */
	join_cert_ok(f, &c, net, &good);
	assert_true(is_member(f, net, c.id));
}

/* Entries of the revocation list refuse joins, each with its code. */
static void test_ca_crl_refuses(void **state)
{
	struct fixture *f = *state;
	struct tca ca;
	struct tcert cc, cc2, dc, ec, fc, gc;
	struct tnode c = {0}, d = {0}, e = {0}, n = {0}, g = {0};
	char pkb[64], want[32];
	const char *s;
	uint32_t net, open;
	int b;
	yajl_val v;
	static const char *const bad_entries[] = {
	    "",
	    "\"serial\":\"00112233445566778899aabbccddeeff\",\"node_id\":3",
	    "\"serial\":\"00112233\"",
	    "\"serial\":\"zz112233445566778899aabbccddeeff\"",
	    "\"serial\":7",
	    "\"fingerprint\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddee\"",
	    "\"public_key\":\"AAAA\"",
	    "\"node_id\":0",
	    "\"node_id\":\"3\"",
	};

	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	net = mk_ca_net(f, "pki", &ca);
	open = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	do_register(f, &c, 0, NULL);
	do_register(f, &d, 0, NULL);
	do_register(f, &e, 0, NULL);
	do_register(f, &n, 0, NULL);
	do_register(f, &g, 0, NULL);
	mk_cert_for(&cc, &ca, &c, NULL);
	mk_cert_for(&cc2, &ca, &c, NULL);
	mk_cert_for(&dc, &ca, &d, NULL);
	mk_cert_for(&ec, &ca, &e, NULL);
	mk_cert(&fc, &ca, n.pk, C_NB, C_NA, 0, NULL); /* names no node: the ID still counts */
	mk_cert_for(&gc, &ca, &g, NULL);

	/* malformed entries, other networks: refused, nothing stored */
	for (size_t i = 0; i < nitems(bad_entries); i++) {
		assert_int_equal(ca_revoke(f, net, bad_entries[i], &v), 400);
		expect_error(v, "bad_request");
	}
	assert_int_equal(ca_revoke(f, open, entry_node(3), &v), 400);
	expect_msg(v, "bad_request", "not a ca network");
	assert_int_equal(ca_revoke(f, 0, entry_node(3), &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(ca_revoke(f, 999, entry_node(3), &v), 404);
	expect_error(v, "not_found");
	assert_int_equal(admin_req(f, ADMIN_TOKEN, "Bearer wrong", "ca_revoke",
				   "{\"network_id\":1,\"node_id\":3}", &v),
			 401);
	expect_error(v, "unauthorized");
	{
		char body[64];
		snprintf(body, sizeof(body), "{\"network_id\":%u}", open);
		assert_int_equal(admin(f, "ca_crl", body, &v), 400);
		expect_msg(v, "bad_request", "not a ca network");
		snprintf(body, sizeof(body), "{\"network_id\":%u}", net);
		assert_int_equal(admin(f, "ca_crl", body, &v), 200);
		assert_int_equal(arr_len(v, "entries"), 0);
		yajl_tree_free(v);
	}

	/* by serial: that certificate only */
	assert_int_equal(ca_revoke(f, net, entry_serial(&cc.c), &v), 200);
	assert_int_equal(json_get_str(v, "kind", &s), 0);
	assert_string_equal(s, "serial");
	assert_int_equal(json_get_str(v, "value", &s), 0);
	assert_string_equal(s, hexs(cc.c.serial, CERT_SERIAL_LEN));
	assert_int_equal(json_get_bool(v, "ca", &b), 0);
	assert_false(b);
	assert_int_equal(arr_len(v, "removed"), 0);
	yajl_tree_free(v);
	assert_int_equal(join_cert(f, &c, net, &cc, &v), 403);
	expect_error(v, "cert_revoked");
	/* by fingerprint of a node's certificate */
	assert_int_equal(ca_revoke(f, net, entry_fp(&dc.c), &v), 200);
	assert_int_equal(json_get_str(v, "kind", &s), 0);
	assert_string_equal(s, "fingerprint");
	assert_int_equal(json_get_bool(v, "ca", &b), 0);
	assert_false(b);
	yajl_tree_free(v);
	assert_int_equal(join_cert(f, &d, net, &dc, &v), 403);
	expect_error(v, "cert_revoked");
	/* by key: any certificate for it */
	assert_int_equal(ca_revoke(f, net, entry_key(e.pk), &v), 200);
	assert_int_equal(json_get_str(v, "kind", &s), 0);
	assert_string_equal(s, "public_key");
	assert_int_equal(json_get_str(v, "value", &s), 0);
	b64_encode(pkb, sizeof(pkb), e.pk, 32);
	assert_string_equal(s, pkb);
	yajl_tree_free(v);
	assert_int_equal(join_cert(f, &e, net, &ec, &v), 403);
	expect_error(v, "cert_key_revoked");
	/* by node ID, even on a certificate that names none */
	assert_int_equal(ca_revoke(f, net, entry_node(n.id), &v), 200);
	assert_int_equal(json_get_str(v, "kind", &s), 0);
	assert_string_equal(s, "node_id");
	assert_int_equal(json_get_str(v, "value", &s), 0);
	snprintf(want, sizeof(want), "%u", n.id);
	assert_string_equal(s, want);
	yajl_tree_free(v);
	assert_int_equal(join_cert(f, &n, net, &fc, &v), 403);
	expect_error(v, "cert_node_revoked");
	/* the others still join: another serial of C, and G */
	join_cert_ok(f, &c, net, &cc2);
	assert_true(is_member(f, net, c.id));
	/* the CA's own fingerprint: nobody joins on it any more, and its
	 * members go */
	assert_int_equal(ca_revoke(f, net, entry_fp(&ca.c), &v), 200);
	assert_int_equal(json_get_bool(v, "ca", &b), 0);
	assert_true(b);
	assert_int_equal(arr_len(v, "removed"), 1);
	assert_int_equal(arr_u32(v, "removed", 0), c.id);
	yajl_tree_free(v);
	assert_false(is_member(f, net, c.id));
	assert_int_equal(join_cert(f, &g, net, &gc, &v), 403);
	expect_error(v, "cert_ca_revoked");
	assert_int_equal(count_type(f, "ca.revoked"), 5);
}

/* ca_revoke takes the holders out at once (membership, trust pairs on its
 * basis, events, audit); the list persists and ca_crl shows it. */
static void test_ca_revoke_evicts(void **state)
{
	struct fixture *f = *state;
	struct tca ca;
	struct tcert ca_a, ca_b, ca_c, ca_d, ca_b2;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0};
	struct rdv_network rn;
	struct store_txn t;
	struct cert sc;
	char want[160], body[64], *ev;
	const char *s;
	uint32_t net, open;
	uint64_t mb, mc, ma, x;
	yajl_val v, e, ent;

	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	net = mk_ca_net(f, "pki", &ca);
	open = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	mk_cert_for(&ca_a, &ca, &a, NULL);
	mk_cert_for(&ca_b, &ca, &b, NULL);
	mk_cert_for(&ca_c, &ca, &c, NULL);
	join_cert_ok(f, &a, net, &ca_a);
	join_cert_ok(f, &b, net, &ca_b);
	join_cert_ok(f, &c, net, &ca_c);
	join_ok(f, &c, open, NULL);
	do_register(f, &d, 0, NULL);
	mk_cert(&ca_d, &ca, d.pk, C_NB, C_NA, 0, NULL); /* names no node */
	/* a trust pair on the network's basis */
	assert_int_equal(req(f, &a, "handshake", target(b.id), &v), 200);
	assert_int_equal(json_get_str(v, "status", &s), 0);
	assert_string_equal(s, "approved");
	yajl_tree_free(v);
	assert_true(has_pair(f, a.id, b.id));
	ma = seq_now(f, a.id);
	mb = seq_now(f, b.id);
	mc = seq_now(f, c.id);

	/* A's serial: A is out */
	f->nnotified = 0;
	assert_int_equal(ca_revoke(f, net, entry_serial(&ca_a.c), &v), 200);
	assert_int_equal(arr_len(v, "removed"), 1);
	assert_int_equal(arr_u32(v, "removed", 0), a.id);
	yajl_tree_free(v);
	assert_false(is_member(f, net, a.id));
	assert_true(is_member(f, net, b.id));
	assert_int_equal(cert_stored(f, net, a.id, &sc), -ENOENT);
	assert_false(has_pair(f, a.id, b.id));
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_net_get(&t, &f->db, (uint16_t)net, &rn), 0);
	store_txn_abort(&t);
	assert_int_equal(rn.members, 2);
	/* B and C are told (network.left; B trust.revoked), A nothing */
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":%u,\"node_id\":%u}",
		 net, a.id);
	ev = events(f, &b, mb);
	assert_non_null(strstr(ev, want));
	snprintf(want, sizeof(want), "\"event\":\"trust.revoked\",\"node_id\":%u}", a.id);
	assert_non_null(strstr(ev, want));
	free(ev);
	ev = events(f, &c, mc);
	assert_int_equal(count_lines(ev, "network.left"), 1);
	assert_null(strstr(ev, "trust.revoked"));
	free(ev);
	/* the revoked node learns it is out of the network and that the pair
	 * the network made is gone, and nothing else */
	ev = events(f, &a, ma);
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":%u,\"node_id\":%u}",
		 net, a.id);
	assert_non_null(strstr(ev, want));
	snprintf(want, sizeof(want), "\"event\":\"trust.revoked\",\"node_id\":%u}", b.id);
	assert_non_null(strstr(ev, want));
	assert_int_equal(count_lines(ev, "\"event\""), 3);
	free(ev);
	{
		int woke_b = 0, woke_c = 0;
		for (size_t i = 0; i < f->nnotified; i++) {
			woke_b |= f->notified[i] == b.id;
			woke_c |= f->notified[i] == c.id;
		}
		assert_true(woke_b && woke_c);
	}
	/* audited: the member taken out, and the entry */
	v = newest(f, "network.cert_revoked", &e);
	snprintf(want, sizeof(want), "network:%u", net);
	assert_string_equal(ev_str(e, "subject"), want);
	assert_string_equal(ev_str(e, "actor"), "admin:198.19.100.9");
	assert_int_equal(detail_u64(e, "node_id"), a.id);
	assert_string_equal(ev_detail(e, "reason"), "cert_revoked");
	assert_int_equal(detail_u64(e, "trust_pairs_revoked"), 1);
	yajl_tree_free(v);
	v = newest(f, "ca.revoked", &e);
	assert_string_equal(ev_str(e, "subject"), want);
	assert_string_equal(ev_detail(e, "kind"), "serial");
	assert_string_equal(ev_detail(e, "value"), hexs(ca_a.c.serial, CERT_SERIAL_LEN));
	assert_int_equal(detail_u64(e, "removed"), 1);
	yajl_tree_free(v);

	/* B's key, then an ID nobody holds (kept all the same), then C's
	 * certificate's fingerprint */
	assert_int_equal(ca_revoke(f, net, entry_key(b.pk), &v), 200);
	assert_int_equal(arr_len(v, "removed"), 1);
	assert_int_equal(arr_u32(v, "removed", 0), b.id);
	yajl_tree_free(v);
	assert_int_equal(ca_revoke(f, net, entry_node(999), &v), 200);
	assert_int_equal(arr_len(v, "removed"), 0);
	yajl_tree_free(v);
	assert_true(is_member(f, net, c.id));
	ca_revoke_ok(f, net, entry_node(999)); /* again: one entry */
	assert_int_equal(count_type(f, "network.cert_revoked"), 2);
	/* by node ID: the member goes, whether or not its certificate names
	 * it */
	join_cert_ok(f, &d, net, &ca_d);
	assert_int_equal(ca_revoke(f, net, entry_node(d.id), &v), 200);
	assert_int_equal(arr_len(v, "removed"), 1);
	assert_int_equal(arr_u32(v, "removed", 0), d.id);
	yajl_tree_free(v);
	assert_false(is_member(f, net, d.id));
	assert_true(is_member(f, net, c.id));

	/* the list, to the admin and to a member; not to others */
	snprintf(body, sizeof(body), "{\"network_id\":%u}", net);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(admin(f, "ca_crl", body, &v), 200);
		assert_int_equal(json_get_str(v, "ca_fingerprint", &s), 0);
		assert_string_equal(s, hexs(ca.c.fingerprint, CERT_FP_LEN));
		assert_int_equal(json_get_str(v, "ca_name", &s), 0);
		assert_string_equal(s, "Example CA");
		assert_int_equal(arr_len(v, "entries"), 4);
		/* in the list's order: serial, public_key, node_id (by ID) */
		ent = json_get(v, "entries")->u.array.values[0];
		assert_string_equal(ev_str(ent, "kind"), "serial");
		assert_string_equal(ev_str(ent, "value"), hexs(ca_a.c.serial, CERT_SERIAL_LEN));
		assert_int_equal(json_get_u64(ent, "revoked_ms", &x), 0);
		assert_int_equal(x, NOW);
		ent = json_get(v, "entries")->u.array.values[1];
		assert_string_equal(ev_str(ent, "kind"), "public_key");
		ent = json_get(v, "entries")->u.array.values[2];
		assert_string_equal(ev_str(ent, "kind"), "node_id");
		snprintf(want, sizeof(want), "%u", d.id);
		assert_string_equal(ev_str(ent, "value"), want);
		ent = json_get(v, "entries")->u.array.values[3];
		assert_string_equal(ev_str(ent, "value"), "999");
		yajl_tree_free(v);
		assert_int_equal(req(f, &c, "ca_crl", net_extra(net), &v), 200);
		assert_int_equal(arr_len(v, "entries"), 4);
		yajl_tree_free(v);
		assert_int_equal(req(f, &a, "ca_crl", net_extra(net), &v), 403);
		expect_error(v, "forbidden");
		assert_int_equal(req(f, &c, "ca_crl", net_extra(open), &v), 400);
		expect_error(v, "bad_request");
		assert_int_equal(req(f, &c, "ca_crl", net_extra(999), &v), 403);
		expect_error(v, "forbidden");
		if (round == 1)
			break;
		/* the list is in the store: it survives a restart */
		rdv_db_close(&f->db);
		assert_int_equal(rdv_db_open(&f->db, f->dir), 0);
		f->db.notify = on_notify;
		f->db.notify_arg = f;
	}
	/* and still refuses */
	assert_int_equal(join_cert(f, &a, net, &ca_a, &v), 403);
	expect_error(v, "cert_revoked");
	mk_cert_for(&ca_b2, &ca, &b, NULL);
	assert_int_equal(join_cert(f, &b, net, &ca_b2, &v), 403);
	expect_error(v, "cert_key_revoked");
	/* C's fingerprint */
	assert_int_equal(ca_revoke(f, net, entry_fp(&ca_c.c), &v), 200);
	assert_int_equal(arr_len(v, "removed"), 1);
	assert_int_equal(arr_u32(v, "removed", 0), c.id);
	yajl_tree_free(v);
	assert_false(is_member(f, net, c.id));
	assert_true(is_member(f, open, c.id)); /* other networks are not touched */
}

/* Certificate memberships end by themselves: the sweep at not_after, and
 * the re-check at register and rotate_key. */
static void test_ca_ends(void **state)
{
	struct fixture *f = *state;
	struct tca ca;
	struct tcert ca_a, ca_b, ca_c, ca_d;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0};
	uint8_t npk[32], nsk[64];
	char want[160], proof[128], *ev;
	uint64_t mb, recs;
	uint32_t net;
	yajl_val v, e;

	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	net = mk_ca_net(f, "pki", &ca);
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	do_register(f, &d, 0, NULL);
	mk_cert(&ca_a, &ca, a.pk, C_NB, T_S + 100, a.id, NULL);
	mk_cert(&ca_b, &ca, b.pk, C_NB, T_S + 1000, b.id, NULL);
	mk_cert(&ca_c, &ca, c.pk, C_NB, T_S + 200, c.id, NULL);
	mk_cert_for(&ca_d, &ca, &d, NULL);
	join_cert_ok(f, &a, net, &ca_a);
	join_cert_ok(f, &b, net, &ca_b);
	join_cert_ok(f, &c, net, &ca_c);
	join_cert_ok(f, &d, net, &ca_d);
	mb = seq_now(f, b.id);

	/* the sweep: nothing before A's not_after, A at it */
	recs = audit_count(f);
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 100) * 1000 - 1), 0);
	assert_true(is_member(f, net, a.id));
	assert_int_equal(audit_count(f), recs);
	f->nnotified = 0;
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 100) * 1000), 0);
	assert_false(is_member(f, net, a.id));
	assert_true(is_member(f, net, b.id));
	assert_true(is_member(f, net, c.id));
	assert_true(f->nnotified >= 1);
	snprintf(want, sizeof(want), "\"event\":\"network.left\",\"network_id\":%u,\"node_id\":%u}",
		 net, a.id);
	ev = events(f, &b, mb);
	assert_non_null(strstr(ev, want));
	free(ev);
	v = newest(f, "network.cert_expired", &e);
	assert_string_equal(ev_str(e, "actor"), "admin:registry");
	snprintf(want, sizeof(want), "network:%u", net);
	assert_string_equal(ev_str(e, "subject"), want);
	assert_int_equal(detail_u64(e, "node_id"), a.id);
	assert_string_equal(ev_detail(e, "reason"), "cert_expired");
	yajl_tree_free(v);
	/* once: a second sweep finds nothing */
	recs = audit_count(f);
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 150) * 1000), 0);
	assert_int_equal(audit_count(f), recs);

	/* C comes back after its end, before a sweep: register ends it */
	f->now = (T_S + 200) * 1000;
	do_register(f, &c, 0, NULL);
	assert_false(is_member(f, net, c.id));
	v = newest(f, "network.cert_ended", &e);
	snprintf(want, sizeof(want), "node:%u", c.id);
	assert_string_equal(ev_str(e, "actor"), want);
	assert_int_equal(detail_u64(e, "node_id"), c.id);
	assert_string_equal(ev_detail(e, "reason"), "cert_expired");
	yajl_tree_free(v);
	/* B registers while its certificate holds: stays */
	do_register(f, &b, 0, NULL);
	assert_true(is_member(f, net, b.id));
	assert_int_equal(count_type(f, "network.cert_ended"), 1);

	/* D rotates its key: the certificate binds the old one */
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, d.id, d.pk, npk, clk(f), proof, sizeof(proof));
	assert_int_equal(rotate(f, &d, npk, proof, &v), 200);
	yajl_tree_free(v);
	assert_false(is_member(f, net, d.id));
	v = newest(f, "network.cert_ended", &e);
	assert_int_equal(detail_u64(e, "node_id"), d.id);
	assert_string_equal(ev_detail(e, "reason"), "cert_wrong_key");
	yajl_tree_free(v);

	/* B at its end */
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 1000) * 1000), 0);
	assert_false(is_member(f, net, b.id));
	assert_int_equal(count_type(f, "network.cert_expired"), 2);
}

/* Does \p net's policy let web1 reach db1 on \p port (admin policy_test)? */
static int web_db(struct fixture *f, uint32_t net, const char *port)
{
	yajl_val v;
	int b;

	assert_int_equal(ptest(f, NULL, net, "\"web1\"", "\"db1\"", port, &v), 200);
	b = allowed_of(v);
	yajl_tree_free(v);
	return b;
}

/* A certificate's tags are the member's tags in its network; set_tags
 * counts elsewhere only.  network_renew replaces the certificate. */
static void test_ca_tags_renew(void **state)
{
	static const char *const tags_ops[] = {"ops", NULL};
	struct fixture *f = *state;
	struct tca ca;
	struct tcert ca_a, ca_b, renew_a, expired_a;
	struct tnode a = {0}, b = {0}, c = {0};
	struct cert sc;
	char pol[512], want[160], *ev;
	const char *s;
	uint32_t net, lab;
	uint64_t x, mb, recs;
	yajl_val v, e, cv;

	mk_ca(&ca, "Example CA", CA_NB, CA_NA);
	net = mk_ca_net(f, "pki", &ca);
	lab = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	do_register(f, &a, 0, "web1");
	do_register(f, &b, 0, "db1");
	do_register(f, &c, 0, NULL);
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"api\"]", NULL), 200);
	assert_int_equal(req(f, &b, "set_tags", "\"tags\":[\"api\"]", NULL), 200);
	mk_cert(&ca_a, &ca, a.pk, C_NB, T_S + 100, a.id, tags_web);
	mk_cert_for(&ca_b, &ca, &b, tags_db);
	join_cert_ok(f, &a, net, &ca_a);
	join_cert_ok(f, &b, net, &ca_b);
	join_ok(f, &a, lab, NULL);
	join_ok(f, &b, lab, NULL);
	snprintf(
	    pol, sizeof(pol),
	    "{\"rules\":[{\"from\":[\"tag:web\"],\"to\":[\"tag:db\"],\"ports\":[\"tcp/5432\"]},"
	    "{\"from\":[\"tag:api\"],\"to\":[\"tag:api\"],\"ports\":[\"tcp/80\"]},"
	    "{\"from\":[\"tag:ops\"],\"to\":[\"tag:db\"],\"ports\":[\"tcp/22\"]}]}");
	assert_int_equal(pset(f, net, pol, NULL), 200);
	assert_int_equal(pset(f, lab, pol, NULL), 200);

	/* in pki the certificates' tags count, in lab the nodes' own */
	assert_true(web_db(f, net, "tcp/5432"));
	assert_false(web_db(f, net, "tcp/80"));
	assert_int_equal(ptest(f, &a, net, "\"web1\"", "\"db1\"", "tcp/5432", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	yajl_tree_free(v);
	assert_false(web_db(f, lab, "tcp/5432"));
	assert_true(web_db(f, lab, "tcp/80"));
	/* set_tags does not reach pki */
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"ops\"]", NULL), 200);
	assert_false(web_db(f, net, "tcp/22"));
	assert_true(web_db(f, net, "tcp/5432"));
	/* ...where it does count in lab: A is no "api" there any more */
	assert_false(web_db(f, lab, "tcp/80"));

	/* renew: refusals first */
	mk_cert(&expired_a, &ca, a.pk, C_NB, T_S, a.id, tags_ops);
	{
		const char *exp_certs[] = {expired_a.txt, NULL};
		const char *a_certs[] = {ca_a.txt, NULL};
		recs = count_type(f, "network.renew_refused");
		assert_int_equal(cert_op(f, &a, "network_renew", net, exp_certs, &v), 403);
		expect_error(v, "cert_expired");
		assert_int_equal(count_type(f, "network.renew_refused"), recs + 1);
		assert_int_equal(cert_op(f, &a, "network_renew", lab, a_certs, &v), 400);
		expect_error(v, "bad_request");
		assert_int_equal(cert_op(f, &c, "network_renew", net, a_certs, &v), 403);
		expect_error(v, "forbidden");
		assert_int_equal(cert_op(f, &a, "network_renew", 0, a_certs, &v), 400);
		expect_error(v, "bad_request");
		assert_int_equal(req(f, &a, "network_renew", net_extra(net), &v), 400);
		expect_error(v, "cert_required");
	}
	assert_int_equal(cert_stored(f, net, a.id, &sc), 0);
	assert_memory_equal(sc.serial, ca_a.c.serial, CERT_SERIAL_LEN);

	/* renewed: a later end and other tags; the members hear the end */
	mb = seq_now(f, b.id);
	mk_cert(&renew_a, &ca, a.pk, C_NB, T_S + 1000, a.id, tags_ops);
	{
		const char *certs[] = {renew_a.txt, NULL};
		assert_int_equal(cert_op(f, &a, "network_renew", net, certs, &v), 200);
	}
	cv = json_get(json_get(v, "network"), "certificate");
	assert_int_equal(json_get_u64(cv, "not_after", &x), 0);
	assert_int_equal(x, T_S + 1000);
	assert_int_equal(json_get_str(cv, "serial", &s), 0);
	assert_string_equal(s, hexs(renew_a.c.serial, CERT_SERIAL_LEN));
	yajl_tree_free(v);
	assert_int_equal(cert_stored(f, net, a.id, &sc), 0);
	assert_memory_equal(sc.serial, renew_a.c.serial, CERT_SERIAL_LEN);
	ev = events(f, &b, mb);
	snprintf(want, sizeof(want), "\"cert_not_after\":%llu}", (unsigned long long)(T_S + 1000));
	assert_non_null(strstr(ev, want));
	free(ev);
	v = newest(f, "network.cert_renewed", &e);
	assert_string_equal(ev_detail(e, "serial"), hexs(renew_a.c.serial, CERT_SERIAL_LEN));
	assert_int_equal(detail_u64(e, "not_after"), T_S + 1000);
	yajl_tree_free(v);
	/* its tags now */
	assert_true(web_db(f, net, "tcp/22"));
	assert_false(web_db(f, net, "tcp/5432"));
	/* the old end no longer ends it; the new one does */
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 100) * 1000), 0);
	assert_true(is_member(f, net, a.id));
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 1000) * 1000), 0);
	assert_false(is_member(f, net, a.id));
}

/* rotate_key to \p npk with \p proof and member admin_token \p tok. */
static int rotate_tok(struct fixture *f, struct tnode *n, const uint8_t npk[32], const char *proof,
		      const char *tok, yajl_val *out)
{
	char extra[512], pkb[64];

	b64_encode(pkb, sizeof(pkb), npk, 32);
	snprintf(extra, sizeof(extra),
		 "\"new_public_key\":\"%s\",\"proof\":\"%s\",\"admin_token\":\"%s\"", pkb, proof,
		 tok);
	return req(f, n, "rotate_key", extra, out);
}

/* node_expire and the identity's end: writes refused (identity_expired),
 * events still heard, rotate_key with the admin token renews. */
static void test_identity_expire(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, d = {0};
	struct rdv_node n;
	uint8_t npk[32], nsk[64];
	char body[128], want[160], proof[128], extra[512], pkb[64], *ev;
	uint64_t x, mb, md, refused;
	uint32_t id, lab;
	yajl_val v, e;

	f->db.admin_token = ADMIN_TOKEN;
	lab = mk_net(f, "{\"name\":\"lab\",\"join_rule\":\"open\"}");
	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, NULL);
	do_register(f, &d, 0, NULL);
	assert_int_equal(req(f, &a, "handshake", target(b.id), NULL), 200);
	assert_int_equal(req(f, &b, "approve", target(a.id), NULL), 200);
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, 0);

	/* refusals */
	assert_int_equal(admin(f, "node_expire", "{}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "node_expire", "{\"node_id\":0,\"expires_at\":1}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "node_expire", "{\"node_id\":1}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "node_expire", "{\"node_id\":1,\"expires_at\":\"1\"}", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(admin(f, "node_expire", "{\"node_id\":999,\"expires_at\":1}", &v), 404);
	expect_error(v, "not_found");

	/* A's identity ends in 10 s: its peers and itself hear it */
	mb = seq_now(f, b.id);
	md = seq_now(f, d.id);
	snprintf(body, sizeof(body), "{\"node_id\":%u,\"expires_at\":%llu}", a.id,
		 (unsigned long long)(T_S + 10));
	assert_int_equal(admin(f, "node_expire", body, &v), 200);
	assert_int_equal(json_get_u32(v, "node_id", &id), 0);
	assert_int_equal(id, a.id);
	assert_int_equal(json_get_u64(v, "expires_at", &x), 0);
	assert_int_equal(x, T_S + 10);
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, (T_S + 10) * 1000);
	snprintf(want, sizeof(want),
		 "\"event\":\"node.expiry\",\"node_id\":%u,\"expires_at\":%llu}", a.id,
		 (unsigned long long)(T_S + 10));
	ev = events(f, &b, mb);
	assert_non_null(strstr(ev, want));
	free(ev);
	ev = events(f, &a, 0);
	assert_non_null(strstr(ev, want));
	free(ev);
	ev = events(f, &d, md);
	assert_null(strstr(ev, "node.expiry"));
	free(ev);
	v = newest(f, "node.expiry", &e);
	snprintf(want, sizeof(want), "node:%u", a.id);
	assert_string_equal(ev_str(e, "subject"), want);
	assert_int_equal(detail_u64(e, "expires_at"), T_S + 10);
	assert_int_equal(detail_u64(e, "peers_told"), 1);
	yajl_tree_free(v);
	/* lookups carry the end */
	assert_int_equal(req(f, &b, "lookup", target(a.id), &v), 200);
	assert_int_equal(json_get_u64(v, "expires_at", &x), 0);
	assert_int_equal(x, T_S + 10);
	yajl_tree_free(v);

	/* a millisecond before: fine; at the second: refused */
	f->now = (T_S + 10) * 1000 - 1;
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);
	f->now = (T_S + 10) * 1000;
	refused = count_type(f, "node.refused_expired");
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 403);
	expect_error(v, "identity_expired");
	assert_int_equal(req(f, &a, "set_tags", "\"tags\":[\"x\"]", &v), 403);
	expect_error(v, "identity_expired");
	assert_int_equal(join(f, &a, lab, NULL, &v), 403);
	expect_error(v, "identity_expired");
	b64_encode(pkb, sizeof(pkb), a.pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":false", pkb);
	assert_int_equal(req_full(f, &a, "register", clk(f), extra, 0, &v, NULL, 0, NULL, NULL),
			 403);
	expect_error(v, "identity_expired");
	assert_int_equal(count_type(f, "node.refused_expired"), refused + 4);
	v = newest(f, "node.refused_expired", &e);
	snprintf(want, sizeof(want), "node:%u", a.id);
	assert_string_equal(ev_str(e, "subject"), want);
	assert_string_equal(ev_detail(e, "code"), "identity_expired");
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_int_equal(n.ntags, 0);
	assert_false(is_member(f, lab, a.id));
	/* its events it still hears; the others are not touched */
	free(events(f, &a, 0));
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);

	/* rotate_key renews it only with the admin token */
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, a.id, a.pk, npk, clk(f), proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 403);
	expect_error(v, "identity_expired");
	assert_int_equal(rotate_tok(f, &a, npk, proof, "wrong", &v), 403);
	expect_error(v, "identity_expired");
	assert_int_equal(rotate_tok(f, &a, npk, proof, ADMIN_TOKEN "x", &v), 403);
	expect_error(v, "identity_expired");
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, (T_S + 10) * 1000);
	mb = seq_now(f, b.id);
	assert_int_equal(rotate_tok(f, &a, npk, proof, ADMIN_TOKEN, &v), 200);
	yajl_tree_free(v);
	memcpy(a.pk, npk, 32);
	memcpy(a.sk, nsk, 64);
	/* no identity_lifetime: it never ends now, and B hears so */
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, 0);
	snprintf(want, sizeof(want), "\"event\":\"node.expiry\",\"node_id\":%u,\"expires_at\":0}",
		 a.id);
	ev = events(f, &b, mb);
	assert_non_null(strstr(ev, want));
	assert_non_null(strstr(ev, "peer.key_rotated"));
	free(ev);
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);

	/* an end in the past ends it at once; 0 takes the end away */
	snprintf(body, sizeof(body), "{\"node_id\":%u,\"expires_at\":%llu}", b.id,
		 (unsigned long long)(T_S - 5));
	assert_int_equal(admin(f, "node_expire", body, NULL), 200);
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":4000", &v), 403);
	expect_error(v, "identity_expired");
	snprintf(body, sizeof(body), "{\"node_id\":%u,\"expires_at\":0}", b.id);
	assert_int_equal(admin(f, "node_expire", body, NULL), 200);
	stored(f, b.id, &n);
	assert_int_equal(n.expires_ms, 0);
	assert_int_equal(req(f, &b, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "lookup", target(b.id), &v), 200);
	assert_null(json_get(v, "expires_at"));
	yajl_tree_free(v);
	f->db.admin_token = NULL;
}

/* identity_lifetime: a new identity ends that long after it registered;
 * a rotation before the end moves it, after it only with the token. */
static void test_identity_lifetime(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	struct rdv_node n;
	uint8_t npk[32], nsk[64];
	char extra[512], pkb[64], proof[128], want[128], *ev;
	uint64_t x, mb, end;
	yajl_val v;

	f->db.admin_token = ADMIN_TOKEN;
	f->db.identity_lifetime_ms = 3600 * 1000;
	crypto_sign_keypair(a.pk, a.sk);
	b64_encode(pkb, sizeof(pkb), a.pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":false", pkb);
	assert_int_equal(req_full(f, &a, "register", clk(f), extra, 0, &v, NULL, 0, NULL, NULL),
			 200);
	assert_int_equal(json_get_u32(v, "node_id", &a.id), 0);
	assert_int_equal(json_get_u64(v, "expires_at", &x), 0);
	assert_int_equal(x, T_S + 3600);
	yajl_tree_free(v);
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, NOW + 3600 * 1000);
	do_register(f, &b, 0, NULL);
	assert_int_equal(req(f, &a, "handshake", target(b.id), NULL), 200);
	assert_int_equal(req(f, &b, "approve", target(a.id), NULL), 200);
	/* registering again does not move it */
	f->now = NOW + 1000;
	do_register(f, &a, 0, NULL);
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, NOW + 3600 * 1000);

	/* a rotation before the end renews it (no token needed) */
	mb = seq_now(f, b.id);
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, a.id, a.pk, npk, clk(f), proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 200);
	yajl_tree_free(v);
	memcpy(a.pk, npk, 32);
	memcpy(a.sk, nsk, 64);
	end = NOW + 1000 + 3600 * 1000;
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, end);
	snprintf(want, sizeof(want),
		 "\"event\":\"node.expiry\",\"node_id\":%u,\"expires_at\":%llu}", a.id,
		 (unsigned long long)(end / 1000));
	ev = events(f, &b, mb);
	assert_non_null(strstr(ev, want));
	free(ev);

	/* at the end: refused; the token renews it from now */
	f->now = end;
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 403);
	expect_error(v, "identity_expired");
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, a.id, a.pk, npk, clk(f), proof, sizeof(proof));
	assert_int_equal(rotate(f, &a, npk, proof, &v), 403);
	expect_error(v, "identity_expired");
	assert_int_equal(rotate_tok(f, &a, npk, proof, ADMIN_TOKEN, &v), 200);
	yajl_tree_free(v);
	memcpy(a.pk, npk, 32);
	memcpy(a.sk, nsk, 64);
	stored(f, a.id, &n);
	assert_int_equal(n.expires_ms, end + 3600 * 1000);
	assert_int_equal(req(f, &a, "heartbeat", "\"listen_port\":4000", &v), 200);
	yajl_tree_free(v);
	/* no admin token configured: an ended identity cannot be renewed */
	f->now = end + 3600 * 1000;
	f->db.admin_token = NULL;
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, a.id, a.pk, npk, clk(f), proof, sizeof(proof));
	assert_int_equal(rotate_tok(f, &a, npk, proof, ADMIN_TOKEN, &v), 403);
	expect_error(v, "identity_expired");
	f->db.identity_lifetime_ms = 0;
}

/* ------------------------------------------------- oidc and spiffe rules */

#define ID_TD "example.org"
#define ID_AUD "pilot:agents"
#define ID_ISS "https://idp.example.com"
#define ID_EXP (T_S + 3600)

static struct tkey idk_ec, idk_ed, idk_rogue;

static void idp_keys(void)
{
	if (idk_ec.pkey)
		return;
	keygen(&idk_ec, JWT_ALG_ES256, 0);
	keygen(&idk_ed, JWT_ALG_EDDSA, 0);
	keygen(&idk_rogue, JWT_ALG_ES256, 0);
}

static int idp_teardown(void **state)
{
	arena_free(NULL);
	return teardown(state);
}

/* \p s as the inside of a JSON string. */
static const char *jesc(const char *s)
{
	char *b = malloc(2 * strlen(s) + 1), *o = b;

	assert_non_null(b);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return keep(b);
}

static const char *alg_of(const struct tkey *k)
{
	return k->alg == JWT_ALG_ES256 ? "ES256" : "EdDSA";
}

/* A JWT-SVID by \p k (kid) for \p sub: aud, exp and \p extra members. */
static const char *svid_tok(const struct tkey *k, const char *kid, const char *sub, const char *aud,
			    uint64_t exp, const char *extra)
{
	return tok(k, alg_of(k), kid,
		   fmt("{\"sub\":\"%s\",\"aud\":[\"%s\"],\"exp\":%llu%s}", sub, aud,
		       (unsigned long long)exp, extra));
}

static const char *svid_of(const char *sub, const char *extra)
{
	return svid_tok(&idk_ec, "ec1", sub, ID_AUD, ID_EXP, extra);
}

/* The trust bundle: ec1 and ed1 as JWT-SVID authorities. */
static const char *bundle_txt(void)
{
	return doc("\"spiffe_sequence\":1,", jwk(&idk_ec, "ec1", ",\"use\":\"jwt-svid\""),
		   jwk(&idk_ed, "ed1", ",\"use\":\"jwt-svid\""), NULL);
}

static int create_spiffe(struct fixture *f, const char *name, const char *pattern, const char *more,
			 yajl_val *out)
{
	return admin(
	    f, "network_create",
	    fmt("{\"name\":\"%s\",\"join_rule\":\"spiffe\",\"spiffe_trust_domain\":\"" ID_TD
		"\",\"spiffe_id\":\"%s\",\"spiffe_audience\":\"" ID_AUD
		"\",\"spiffe_bundle\":\"%s\"%s%s}",
		name, pattern, jesc(bundle_txt()), more ? "," : "", more ? more : ""),
	    out);
}

static uint32_t mk_spiffe(struct fixture *f, const char *name, const char *pattern,
			  const char *more)
{
	yajl_val v;
	uint32_t id;

	assert_int_equal(create_spiffe(f, name, pattern, more, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &id), 0);
	yajl_tree_free(v);
	return id;
}

/* An oidc network needing \p claim (NULL: none). */
static uint32_t mk_oidc(struct fixture *f, const char *name, const char *claim)
{
	return mk_net(f, fmt("{\"name\":\"%s\",\"join_rule\":\"oidc\",\"oidc_issuer\":\"" ID_ISS
			     "\",\"oidc_audience\":\"" ID_AUD "\"%s%s%s}",
			     name, claim ? ",\"oidc_claim\":[\"" : "", claim ? claim : "",
			     claim ? "\"]" : ""));
}

/* What the fetcher does: \p net's key set is ec1. */
static void put_oidc_keys(struct fixture *f, uint32_t net)
{
	const char *ks = doc("", jwk(&idk_ec, "ec1", ""), NULL);
	struct rdv_jwks_rec r = {.fetched_ms = clk(f), .fresh_until_ms = clk(f) + 3600000};
	struct store_txn t;

	r.json = (char *)ks;
	r.len = strlen(ks);
	store_txn_begin(f->db.st, &t, 0);
	rdv_net_jwks_put(&t, &f->db, (uint16_t)net, &r);
	assert_int_equal(store_txn_commit(&t), 0);
}

static const char *oidc_tok(const char *sub, const char *extra)
{
	return tok(&idk_ec, "ES256", "ec1",
		   fmt("{\"iss\":\"" ID_ISS "\",\"sub\":\"%s\",\"aud\":\"" ID_AUD
		       "\",\"exp\":%llu%s}",
		       sub, (unsigned long long)ID_EXP, extra));
}

static int join_tok(struct fixture *f, struct tnode *n, uint32_t net, const char *member,
		    const char *t, yajl_val *out)
{
	return join(f, n, net, fmt("\"%s\":\"%s\"", member, t), out);
}

static int join_svid(struct fixture *f, struct tnode *n, uint32_t net, const char *t, yajl_val *out)
{
	return join_tok(f, n, net, "svid", t, out);
}

static void join_svid_ok(struct fixture *f, struct tnode *n, uint32_t net, const char *t)
{
	yajl_val v;

	if (join_svid(f, n, net, t, &v) != 200)
		fail_msg("join refused: %s", err_code(v));
	yajl_tree_free(v);
}

static int renew_svid(struct fixture *f, struct tnode *n, uint32_t net, const char *t,
		      yajl_val *out)
{
	return req(f, n, "network_renew", fmt("\"network_id\":%u,\"svid\":\"%s\"", net, t), out);
}

/* The identity \p node was admitted as (-ENOENT: none). */
static int ext_stored(struct fixture *f, uint32_t net, uint32_t node, struct rdv_ext *e)
{
	struct store_txn t;
	int rc;

	store_txn_begin(f->db.st, &t, 1);
	rc = rdv_net_ext_get(&t, &f->db, (uint16_t)net, node, e);
	store_txn_abort(&t);
	return rc;
}

static void test_idp_create(void **state)
{
	struct fixture *f = *state;
	const char *bundle, *nojwt, *s;
	struct store_txn t;
	struct rdv_jwks_rec r;
	char *text;
	size_t len;
	uint32_t net;
	yajl_val v;

	idp_keys();
	bundle = jesc(bundle_txt());
	nojwt = jesc(doc("", jwk(&idk_ec, "ec1", ",\"use\":\"x509-svid\""), NULL));
	{
		const char *oidc = "\"join_rule\":\"oidc\",";
		const char *sp = "\"join_rule\":\"spiffe\",\"spiffe_trust_domain\":\"" ID_TD
				 "\",\"spiffe_audience\":\"" ID_AUD "\",";
		const char *const bad[] = {
		    fmt("%s\"oidc_audience\":\"a\"", oidc),
		    fmt("%s\"oidc_issuer\":\"http://idp.example.com\",\"oidc_audience\":\"a\"",
			oidc),
		    fmt("%s\"oidc_issuer\":\"https://\",\"oidc_audience\":\"a\"", oidc),
		    fmt("%s\"oidc_issuer\":7,\"oidc_audience\":\"a\"", oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\"", oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"\"", oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"oidc_claim\":[\"groups\"]",
			oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"oidc_claim\":[\"=ops\"]",
			oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"oidc_claim\":\"groups=ops\"",
			oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"oidc_claim\":[7]",
			oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"oidc_ca\":\"not pem\"",
			oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"spiffe_id\":\"spiffe://" ID_TD "/x\"",
			oidc),
		    fmt("%s\"oidc_issuer\":\"" ID_ISS "\",\"oidc_audience\":\"a\","
			"\"shared_subject\":\"yes\"",
			oidc),
		    /* spiffe: neither, both */
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "/*\"", sp),
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "/*\",\"spiffe_bundle\":\"%s\","
			"\"spiffe_bundle_endpoint\":\"https://b.example.org/\"",
			sp, bundle),
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "/*\","
			"\"spiffe_bundle_endpoint\":\"http://b.example.org/\"",
			sp),
		    /* a bad trust domain, a pattern outside it or malformed */
		    fmt("\"join_rule\":\"spiffe\",\"spiffe_trust_domain\":\"Example.ORG/x\","
			"\"spiffe_audience\":\"a\",\"spiffe_id\":\"spiffe://" ID_TD
			"/*\",\"spiffe_bundle\":\"%s\"",
			bundle),
		    fmt("%s\"spiffe_id\":\"spiffe://other.org/*\",\"spiffe_bundle\":\"%s\"", sp,
			bundle),
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "\",\"spiffe_bundle\":\"%s\"", sp,
			bundle),
		    fmt("%s\"spiffe_id\":\"/agents/*\",\"spiffe_bundle\":\"%s\"", sp, bundle),
		    fmt("%s\"spiffe_audience\":\"b\"", sp),
		    /* no JWT-SVID key, not a key set */
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "/*\",\"spiffe_bundle\":\"%s\"", sp,
			nojwt),
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "/*\",\"spiffe_bundle\":\"[1]\"", sp),
		    fmt("%s\"spiffe_id\":\"spiffe://" ID_TD "/*\",\"spiffe_bundle\":\"%s\","
			"\"oidc_issuer\":\"" ID_ISS "\"",
			sp, bundle),
		    /* the rule's members on an open network */
		    "\"join_rule\":\"open\",\"oidc_issuer\":\"" ID_ISS "\"",
		    "\"join_rule\":\"open\",\"spiffe_id\":\"spiffe://" ID_TD "/*\"",
		    "\"join_rule\":\"open\",\"shared_subject\":true",
		    "\"join_rule\":\"token\",\"token\":\"0123456789abcdef\",\"oidc_audience\":"
		    "\"a\"",
		};
		for (size_t i = 0; i < nitems(bad); i++) {
			int st =
			    admin(f, "network_create", fmt("{\"name\":\"bad\",%s}", bad[i]), &v);
			if (st != 400 || strcmp(err_code(v), "bad_request") != 0)
				fail_msg("case %zu: %d %s", i, st, err_code(v));
			yajl_tree_free(v);
		}
	}
	assert_int_equal(admin(f, "network_list", "{}", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 0);
	yajl_tree_free(v);

	/* good ones: the reply shows the settings */
	assert_int_equal(create_spiffe(f, "agents", "spiffe://" ID_TD "/agents/*", NULL, &v), 200);
	assert_int_equal(json_get_u32(v, "network_id", &net), 0);
	assert_int_equal(json_get_str(v, "join_rule", &s), 0);
	assert_string_equal(s, "spiffe");
	assert_int_equal(json_get_str(v, "spiffe_id", &s), 0);
	assert_string_equal(s, "spiffe://" ID_TD "/agents/*");
	assert_int_equal(json_get_str(v, "spiffe_trust_domain", &s), 0);
	assert_string_equal(s, ID_TD);
	yajl_tree_free(v);
	/* the bundle is the network's key set, never refreshed */
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_net_jwks_get(&t, &f->db, (uint16_t)net, &r), 0);
	assert_true(r.fresh_until_ms == UINT64_MAX);
	assert_string_equal(r.json, bundle_txt());
	rdv_jwks_rec_free(&r);
	assert_int_equal(rdv_net_idp_get(&t, &f->db, (uint16_t)net, &text, &len), 0);
	assert_non_null(strstr(text, "\"spiffe_id\":\"spiffe://" ID_TD "/agents/*\""));
	free(text);
	store_txn_abort(&t);

	net = mk_oidc(f, "staff", "groups=ops");
	assert_int_equal(admin(f, "network_list", "{}", &v), 200);
	assert_int_equal(arr_len(v, "networks"), 2);
	yajl_tree_free(v);
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_net_jwks_get(&t, &f->db, (uint16_t)net, &r), -ENOENT);
	assert_int_equal(rdv_net_idp_get(&t, &f->db, (uint16_t)net, &text, &len), 0);
	assert_non_null(strstr(text, "\"issuer\":\"" ID_ISS "\""));
	assert_non_null(strstr(text, "\"groups=ops\""));
	free(text);
	store_txn_abort(&t);
	/* an endpoint instead of a bundle */
	assert_int_equal(admin(f, "network_create",
			       "{\"name\":\"ep\",\"join_rule\":\"spiffe\",\"spiffe_trust_domain\":"
			       "\"" ID_TD
			       "\",\"spiffe_audience\":\"a\",\"spiffe_id\":\"spiffe://" ID_TD
			       "/*\",\"spiffe_bundle_endpoint\":\"https://b.example.org/bundle\"}",
			       &v),
			 200);
	assert_int_equal(json_get_str(v, "spiffe_bundle_endpoint", &s), 0);
	assert_string_equal(s, "https://b.example.org/bundle");
	yajl_tree_free(v);
}

static void test_idp_join(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	struct rdv_ext e;
	char want[256], *ev;
	const char *s, *ta = svid_of("spiffe://" ID_TD "/agents/a", ",\"jti\":\"ja\"");
	uint64_t x, ma;
	uint32_t net;
	yajl_val v, nv, iv, ae;

	idp_keys();
	net = mk_spiffe(f, "agents", "spiffe://" ID_TD "/agents/*", NULL);
	do_register(f, &a, 0, "alice");
	do_register(f, &b, 0, "bob");

	assert_int_equal(join_svid(f, &a, net, ta, &v), 200);
	nv = json_get(v, "network");
	assert_int_equal(json_get_str(nv, "join_rule", &s), 0);
	assert_string_equal(s, "spiffe");
	iv = json_get(nv, "identity");
	assert_non_null(iv);
	assert_int_equal(json_get_str(iv, "external_id", &s), 0);
	assert_string_equal(s, "spiffe://" ID_TD "/agents/a");
	assert_int_equal(json_get_str(iv, "external_issuer", &s), 0);
	assert_string_equal(s, ID_TD);
	assert_int_equal(json_get_u64(iv, "not_after", &x), 0);
	assert_int_equal(x, ID_EXP);
	yajl_tree_free(v);
	assert_true(is_member(f, net, a.id));
	assert_int_equal(ext_stored(f, net, a.id, &e), 0);
	assert_string_equal(e.sub, "spiffe://" ID_TD "/agents/a");
	assert_int_equal(e.exp_s, ID_EXP);
	/* audited with the identity */
	v = newest(f, "network.joined", &ae);
	assert_string_equal(ev_detail(ae, "join_rule"), "spiffe");
	assert_string_equal(ev_detail(ae, "external_id"), "spiffe://" ID_TD "/agents/a");
	assert_string_equal(ev_detail(ae, "external_issuer"), ID_TD);
	assert_int_equal(detail_u64(ae, "not_after"), ID_EXP);
	yajl_tree_free(v);

	/* B (an Ed25519 key of the bundle) sees A with its identity; A
	 * hears of B with B's end */
	ma = seq_now(f, a.id);
	assert_int_equal(join_svid(f, &b, net,
				   svid_tok(&idk_ed, "ed1", "spiffe://" ID_TD "/agents/b", ID_AUD,
					    ID_EXP + 5, ""),
				   &v),
			 200);
	assert_int_equal(arr_len(v, "members"), 1);
	assert_int_equal(json_get_str(json_get(v, "members")->u.array.values[0], "external_id", &s),
			 0);
	assert_string_equal(s, "spiffe://" ID_TD "/agents/a");
	yajl_tree_free(v);
	ev = events(f, &a, ma);
	snprintf(want, sizeof(want),
		 "\"event\":\"network.joined\",\"network_id\":%u,\"peer\":{\"node_id\":%u,", net,
		 b.id);
	assert_non_null(strstr(ev, want));
	snprintf(want, sizeof(want), "\"cert_not_after\":%llu}", (unsigned long long)ID_EXP + 5);
	assert_non_null(strstr(ev, want));
	free(ev);
	/* network_nodes: each with its identity */
	assert_int_equal(req(f, &a, "network_nodes", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "nodes"), 2);
	for (size_t i = 0; i < 2; i++)
		assert_non_null(json_get(json_get(v, "nodes")->u.array.values[i], "external_id"));
	yajl_tree_free(v);
	/* a member joining again changes nothing */
	x = audit_count(f);
	join_svid_ok(f, &a, net, ta);
	assert_int_equal(audit_count(f), x);
}

/* Each refusal: its code, one network.join_refused record, no member. */
static void test_idp_refused(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, c = {0};
	const char *sub = "spiffe://" ID_TD "/agents/c";
	uint64_t before;
	uint32_t net;
	yajl_val v, e;

	idp_keys();
	net = mk_spiffe(f, "agents", "spiffe://" ID_TD "/agents/*", NULL);
	do_register(f, &a, 0, NULL);
	do_register(f, &c, 0, NULL);
	{
		const struct {
			const char *code;
			const char *tok;
		} cases[] = {
		    {"token_wrong_subject", svid_of("spiffe://" ID_TD "/db/c", "")},
		    {"token_wrong_subject", svid_of("spiffe://" ID_TD "/agents", "")},
		    {"token_wrong_subject", svid_of("spiffe://other.org/agents/c", "")},
		    {"token_wrong_audience",
		     svid_tok(&idk_ec, "ec1", sub, "pilot:other", ID_EXP, "")},
		    {"token_expired", svid_tok(&idk_ec, "ec1", sub, ID_AUD, T_S - 31, "")},
		    {"token_bad_signature", svid_tok(&idk_rogue, "ec1", sub, ID_AUD, ID_EXP, "")},
		    {"token_unknown_key", svid_tok(&idk_rogue, "rogue", sub, ID_AUD, ID_EXP, "")},
		    {"token_invalid", "not.a.token"},
		};
		before = count_type(f, "network.join_refused");
		for (size_t i = 0; i < nitems(cases); i++) {
			int st = join_svid(f, &c, net, cases[i].tok, &v);
			if (st != 403 && st != 400)
				fail_msg("case %zu: status %d", i, st);
			if (strcmp(err_code(v), cases[i].code) != 0)
				fail_msg("case %zu: %s, want %s", i, err_code(v), cases[i].code);
			yajl_tree_free(v);
			assert_false(is_member(f, net, c.id));
			assert_int_equal(count_type(f, "network.join_refused"), before + i + 1);
		}
	}
	v = newest(f, "network.join_refused", &e);
	assert_string_equal(ev_detail(e, "code"), "token_invalid");
	assert_int_equal(detail_u64(e, "claimed_node"), c.id);
	yajl_tree_free(v);
	/* within the leeway it verifies, but a membership ending before it
	 * begins is refused; a second to go still admits */
	assert_int_equal(
	    join_svid(f, &a, net,
		      svid_tok(&idk_ec, "ec1", "spiffe://" ID_TD "/agents/a", ID_AUD, T_S - 20, ""),
		      &v),
	    403);
	expect_error(v, "token_expired");
	assert_false(is_member(f, net, a.id));
	join_svid_ok(f, &a, net,
		     svid_tok(&idk_ec, "ec1", "spiffe://" ID_TD "/agents/a", ID_AUD, T_S + 1, ""));
	/* no token, an empty one, the other rule's member: a client's
	 * mistake, not audited */
	before = count_type(f, "network.join_refused");
	assert_int_equal(join(f, &c, net, NULL, &v), 400);
	expect_error(v, "token_required");
	assert_int_equal(join_svid(f, &c, net, "", &v), 400);
	expect_error(v, "token_required");
	assert_int_equal(join_tok(f, &c, net, "oidc_token", svid_of(sub, ""), &v), 400);
	expect_error(v, "token_required");
	assert_int_equal(count_type(f, "network.join_refused"), before);
	assert_false(is_member(f, net, c.id));
	join_svid_ok(f, &c, net, svid_of(sub, ""));
}

static void test_idp_subject(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	const char *sa = "spiffe://" ID_TD "/agents/a";
	const char *t1 = svid_of(sa, ",\"jti\":\"t1\""), *t2 = svid_of(sa, ",\"jti\":\"t2\"");
	uint64_t before;
	uint32_t net, shared, other;
	struct store_txn t;
	yajl_val v;

	idp_keys();
	net = mk_spiffe(f, "agents", "spiffe://" ID_TD "/agents/*", NULL);
	shared = mk_spiffe(f, "shared", "spiffe://" ID_TD "/agents/*", "\"shared_subject\":true");
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	join_svid_ok(f, &a, net, t1);

	/* one subject, one member */
	before = count_type(f, "network.join_refused");
	assert_int_equal(join_svid(f, &b, net, t2, &v), 403);
	expect_msg(v, "subject_in_use", sa);
	assert_false(is_member(f, net, b.id));
	/* a token ID is one node's */
	assert_int_equal(join_svid(f, &b, shared, t1, &v), 403);
	expect_error(v, "token_replayed");
	assert_false(is_member(f, shared, b.id));
	assert_int_equal(count_type(f, "network.join_refused"), before + 2);
	/* unless the network lets a subject be several members */
	join_svid_ok(f, &b, shared, t2);
	join_svid_ok(f, &c, shared, svid_of(sa, ""));
	assert_true(is_member(f, shared, c.id));

	/* leaving frees the subject; its own token again is fine */
	assert_int_equal(req(f, &a, "network_leave", net_extra(net), &v), 200);
	yajl_tree_free(v);
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_ext_subject_node(&t, &f->db, (uint16_t)net, ID_TD, sa, &other),
			 -ENOENT);
	store_txn_abort(&t);
	join_svid_ok(f, &a, net, t1);
	assert_int_equal(req(f, &a, "network_leave", net_extra(net), &v), 200);
	yajl_tree_free(v);
	/* ... and another node may then join as it (with a token of its own) */
	assert_int_equal(join_svid(f, &b, net, t1, &v), 403);
	expect_error(v, "token_replayed");
	join_svid_ok(f, &b, net, t2);
	assert_true(is_member(f, net, b.id));
	assert_int_equal(join_svid(f, &a, net, svid_of(sa, ""), &v), 403);
	expect_error(v, "subject_in_use");
	/* a member whose credential ended is evicted: free again */
	assert_int_equal(rdv_reg_sweep(&f->db, ID_EXP * 1000), 0);
	assert_false(is_member(f, net, b.id));
	f->now = ID_EXP * 1000 - 10000;
	join_svid_ok(f, &a, net, svid_tok(&idk_ec, "ec1", sa, ID_AUD, ID_EXP + 600, ""));
	f->now = 0;
}

/* A token past its exp but within the leeway is still one node's. */
static void test_idp_replay_leeway(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	const char *t1;
	uint32_t net;
	yajl_val v;

	idp_keys();
	net = mk_spiffe(f, "shared", "spiffe://" ID_TD "/agents/*", "\"shared_subject\":true");
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	t1 = svid_tok(&idk_ec, "ec1", "spiffe://" ID_TD "/agents/a", ID_AUD, T_S + 100,
		      ",\"jti\":\"t1\"");
	join_svid_ok(f, &a, net, t1);
	f->now = (T_S + 110) * 1000;
	assert_int_equal(join_svid(f, &b, net, t1, &v), 403);
	expect_error(v, "token_replayed");
	f->now = (T_S + 131) * 1000;
	assert_int_equal(join_svid(f, &b, net, t1, &v), 403);
	expect_error(v, "token_expired");
	f->now = 0;
}

static int want_calls;
static uint16_t want_net;

static int keys_want_yes(void *arg, uint16_t net)
{
	(void)arg;
	want_calls++;
	want_net = net;
	return 1;
}

static void test_idp_oidc(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	struct rdv_reply rep;
	uint64_t before, recs;
	uint32_t net, plain;
	const char *s;
	yajl_val v, iv;

	idp_keys();
	net = mk_oidc(f, "staff", "groups=ops");
	plain = mk_oidc(f, "plain", NULL);
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);

	/* no key set yet, no fetcher: refused */
	before = count_type(f, "network.join_refused");
	assert_int_equal(
	    join_tok(f, &a, net, "oidc_token", oidc_tok("alice", ",\"groups\":[\"ops\"]"), &v),
	    403);
	expect_error(v, "token_unknown_key");
	assert_int_equal(count_type(f, "network.join_refused"), before + 1);

	/* with a fetcher that may run: parked, nothing written */
	f->db.keys_want = keys_want_yes;
	want_calls = 0;
	recs = audit_count(f);
	assert_int_equal(req_full(f, &a, "network_join", clk(f),
				  fmt("\"network_id\":%u,\"oidc_token\":\"%s\"", net,
				      oidc_tok("alice", ",\"groups\":[\"ops\"]")),
				  1, NULL, NULL, 0, NULL, &rep),
			 503);
	assert_int_equal(rep.wait_net, net);
	assert_non_null(memmem(rep.body, rep.len, "keys_pending", 12));
	rdv_reply_free(&rep);
	assert_int_equal(want_calls, 1);
	assert_int_equal(want_net, net);
	assert_false(is_member(f, net, a.id));
	assert_int_equal(audit_count(f), recs);
	/* run again once the fetch ended (and found nothing): refused */
	f->db.keys_rerun = 1;
	assert_int_equal(
	    join_tok(f, &a, net, "oidc_token", oidc_tok("alice", ",\"groups\":[\"ops\"]"), &v),
	    403);
	expect_error(v, "token_unknown_key");
	assert_int_equal(want_calls, 1);
	assert_int_equal(audit_count(f), recs + 1);
	f->db.keys_rerun = 0;
	f->db.keys_want = NULL;

	/* the fetcher stored the set */
	put_oidc_keys(f, net);
	put_oidc_keys(f, plain);
	/* the claim is needed: absent, another value, not a string */
	before = count_type(f, "network.join_refused");
	assert_int_equal(join_tok(f, &a, net, "oidc_token", oidc_tok("alice", ""), &v), 403);
	expect_error(v, "token_claim_mismatch");
	assert_int_equal(join_tok(f, &a, net, "oidc_token",
				  oidc_tok("alice", ",\"groups\":[\"dev\",\"opsx\"]"), &v),
			 403);
	expect_error(v, "token_claim_mismatch");
	assert_int_equal(
	    join_tok(f, &a, net, "oidc_token", oidc_tok("alice", ",\"groups\":\"dev\""), &v), 403);
	expect_error(v, "token_claim_mismatch");
	/* another issuer */
	assert_int_equal(
	    join_tok(f, &a, net, "oidc_token",
		     tok(&idk_ec, "ES256", "ec1",
			 fmt("{\"iss\":\"https://evil.example.com\",\"sub\":\"alice\","
			     "\"aud\":\"" ID_AUD "\",\"exp\":%llu,\"groups\":[\"ops\"]}",
			     (unsigned long long)ID_EXP)),
		     &v),
	    403);
	expect_error(v, "token_wrong_issuer");
	assert_int_equal(count_type(f, "network.join_refused"), before + 4);
	assert_false(is_member(f, net, a.id));
	/* has it (among others; a string alone too) */
	assert_int_equal(join_tok(f, &a, net, "oidc_token",
				  oidc_tok("alice", ",\"groups\":[\"dev\",\"ops\"]"), &v),
			 200);
	iv = json_get(json_get(v, "network"), "identity");
	assert_int_equal(json_get_str(iv, "external_id", &s), 0);
	assert_string_equal(s, "alice");
	assert_int_equal(json_get_str(iv, "external_issuer", &s), 0);
	assert_string_equal(s, ID_ISS);
	yajl_tree_free(v);
	assert_int_equal(
	    join_tok(f, &b, net, "oidc_token", oidc_tok("bob", ",\"groups\":\"ops\""), &v), 200);
	yajl_tree_free(v);
	/* no claim needed */
	assert_int_equal(join_tok(f, &c, plain, "oidc_token", oidc_tok("carol", ""), &v), 200);
	yajl_tree_free(v);
	/* an oidc network takes no svid */
	assert_int_equal(join_svid(f, &c, net, oidc_tok("carol", ""), &v), 400);
	expect_error(v, "token_required");
}

static void test_idp_renew(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0};
	const char *sa = "spiffe://" ID_TD "/agents/a";
	struct rdv_ext e;
	struct store_txn t;
	struct rdv_jwks_rec r;
	char *text, body[64];
	size_t len;
	uint64_t x, mb;
	uint32_t net, other;
	yajl_val v, ev;

	idp_keys();
	net = mk_spiffe(f, "agents", "spiffe://" ID_TD "/agents/*", NULL);
	do_register(f, &a, 0, NULL);
	do_register(f, &b, 0, NULL);
	do_register(f, &c, 0, NULL);
	join_svid_ok(f, &a, net, svid_tok(&idk_ec, "ec1", sa, ID_AUD, T_S + 100, ""));
	join_svid_ok(f, &b, net, svid_of("spiffe://" ID_TD "/agents/b", ""));

	/* not a member: renew nothing */
	assert_int_equal(renew_svid(f, &c, net, svid_of("spiffe://" ID_TD "/agents/c", ""), &v),
			 403);
	yajl_tree_free(v);
	/* a fresh token moves the end; the members hear of it */
	mb = seq_now(f, b.id);
	assert_int_equal(
	    renew_svid(f, &a, net, svid_tok(&idk_ec, "ec1", sa, ID_AUD, T_S + 500, ""), &v), 200);
	assert_int_equal(
	    json_get_u64(json_get(json_get(v, "network"), "identity"), "not_after", &x), 0);
	assert_int_equal(x, T_S + 500);
	yajl_tree_free(v);
	assert_int_equal(ext_stored(f, net, a.id, &e), 0);
	assert_int_equal(e.exp_s, T_S + 500);
	{
		char *evs = events(f, &b, mb), want[64];
		snprintf(want, sizeof(want), "\"cert_not_after\":%llu",
			 (unsigned long long)T_S + 500);
		assert_non_null(strstr(evs, want));
		free(evs);
	}
	v = newest(f, "network.credential_renewed", &ev);
	assert_int_equal(detail_u64(ev, "not_after"), T_S + 500);
	yajl_tree_free(v);
	/* another subject: refused, audited, nothing changed */
	x = count_type(f, "network.renew_refused");
	assert_int_equal(renew_svid(f, &a, net, svid_of("spiffe://" ID_TD "/agents/z", ""), &v),
			 403);
	expect_error(v, "subject_changed");
	/* or one that does not verify */
	assert_int_equal(
	    renew_svid(f, &a, net, svid_tok(&idk_rogue, "ec1", sa, ID_AUD, T_S + 900, ""), &v),
	    403);
	expect_error(v, "token_bad_signature");
	/* or another member's */
	assert_int_equal(renew_svid(f, &a, net, svid_of("spiffe://" ID_TD "/agents/b", ""), &v),
			 403);
	expect_error(v, "subject_in_use");
	assert_int_equal(count_type(f, "network.renew_refused"), x + 3);
	assert_int_equal(ext_stored(f, net, a.id, &e), 0);
	assert_string_equal(e.sub, sa);
	assert_int_equal(e.exp_s, T_S + 500);

	/* the sweep at the old end keeps A, at the new one ends it */
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 100) * 1000), 0);
	assert_true(is_member(f, net, a.id));
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 500) * 1000 - 1), 0);
	assert_true(is_member(f, net, a.id));
	assert_int_equal(rdv_reg_sweep(&f->db, (T_S + 500) * 1000), 0);
	assert_false(is_member(f, net, a.id));
	assert_true(is_member(f, net, b.id));
	assert_int_equal(ext_stored(f, net, a.id, &e), -ENOENT);
	v = newest(f, "network.credential_expired", &ev);
	assert_int_equal(detail_u64(ev, "node_id"), a.id);
	assert_string_equal(ev_detail(ev, "reason"), "credential_expired");
	yajl_tree_free(v);
	assert_int_equal(count_type(f, "network.credential_expired"), 1);

	/* network_delete drops the rule's tables */
	snprintf(body, sizeof(body), "{\"network_id\":%u}", net);
	assert_int_equal(admin(f, "network_delete", body, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(ext_stored(f, net, b.id, &e), -ENOENT);
	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_net_idp_get(&t, &f->db, (uint16_t)net, &text, &len), -ENOENT);
	assert_int_equal(rdv_net_jwks_get(&t, &f->db, (uint16_t)net, &r), -ENOENT);
	assert_int_equal(rdv_ext_subject_node(&t, &f->db, (uint16_t)net, ID_TD,
					      "spiffe://" ID_TD "/agents/b", &other),
			 -ENOENT);
	store_txn_abort(&t);
	/* and no sweep finds B later */
	x = audit_count(f);
	assert_int_equal(rdv_reg_sweep(&f->db, (ID_EXP + 1) * 1000), 0);
	assert_int_equal(audit_count(f), x);
}

/* An expired identity: a rotation backed by a fresh SVID of a network that
 * admitted the node on one renews it, as the same subject only. */
static void test_idp_renews_identity(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0};
	uint8_t npk[32], nsk[64];
	char proof[128], extra[4096], pkb[64];
	const char *tok;
	uint32_t net;
	yajl_val v;

	idp_keys();
	net = mk_spiffe(f, "agents", "spiffe://" ID_TD "/agents/*", NULL);
	do_register(f, &a, 0, NULL);
	join_svid_ok(f, &a, net,
		     svid_tok(&idk_ec, "ec1", "spiffe://" ID_TD "/agents/a", ID_AUD, ID_EXP, ""));
	snprintf(extra, sizeof(extra), "{\"node_id\":%u,\"expires_at\":1}", a.id);
	assert_int_equal(admin(f, "node_expire", extra, &v), 200);
	yajl_tree_free(v);
	crypto_sign_keypair(npk, nsk);
	rotate_proof(nsk, a.id, a.pk, npk, clk(f), proof, sizeof(proof));
	b64_encode(pkb, sizeof(pkb), npk, 32);
	/* another subject's token does not vouch for this identity */
	tok = svid_tok(&idk_ec, "ec1", "spiffe://" ID_TD "/agents/b", ID_AUD, ID_EXP, "");
	snprintf(extra, sizeof(extra), "\"new_public_key\":\"%s\",\"proof\":\"%s\",\"svid\":\"%s\"",
		 pkb, proof, tok);
	assert_int_equal(req(f, &a, "rotate_key", extra, &v), 403);
	expect_error(v, "identity_expired");
	/* nor a forged one */
	tok = svid_tok(&idk_rogue, "ec1", "spiffe://" ID_TD "/agents/a", ID_AUD, ID_EXP, "");
	snprintf(extra, sizeof(extra), "\"new_public_key\":\"%s\",\"proof\":\"%s\",\"svid\":\"%s\"",
		 pkb, proof, tok);
	assert_int_equal(req(f, &a, "rotate_key", extra, &v), 403);
	expect_error(v, "identity_expired");
	/* its own subject's fresh token does */
	tok = svid_tok(&idk_ec, "ec1", "spiffe://" ID_TD "/agents/a", ID_AUD, ID_EXP, "");
	snprintf(extra, sizeof(extra), "\"new_public_key\":\"%s\",\"proof\":\"%s\",\"svid\":\"%s\"",
		 pkb, proof, tok);
	assert_int_equal(req(f, &a, "rotate_key", extra, &v), 200);
	yajl_tree_free(v);
}

static void test_idp_policy(void **state)
{
	struct fixture *f = *state;
	struct tnode ops = {0}, dev = {0}, agent = {0}, db = {0};
	uint32_t staff, agents;
	yajl_val v;

	idp_keys();
	staff = mk_oidc(f, "staff", NULL);
	put_oidc_keys(f, staff);
	agents = mk_spiffe(f, "agents", "spiffe://" ID_TD "/*", NULL);
	do_register(f, &ops, 0, "ops1");
	do_register(f, &dev, 0, "dev1");
	do_register(f, &agent, 0, "agent1");
	do_register(f, &db, 0, "db1");
	assert_int_equal(join_tok(f, &ops, staff, "oidc_token",
				  oidc_tok("olga", ",\"groups\":[\"ops\",\"x\"]"), &v),
			 200);
	yajl_tree_free(v);
	assert_int_equal(
	    join_tok(f, &dev, staff, "oidc_token", oidc_tok("dave", ",\"groups\":[\"dev\"]"), &v),
	    200);
	yajl_tree_free(v);
	assert_int_equal(pset(f, staff,
			      "{\"rules\":[{\"from\":[\"claim:groups=ops\"],"
			      "\"to\":[\"*\"],\"ports\":[\"tcp/22\"]}]}",
			      &v),
			 200);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, NULL, staff, "\"ops1\"", "\"dev1\"", "tcp/22", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, NULL, staff, "\"dev1\"", "\"ops1\"", "tcp/22", &v), 200);
	assert_int_equal(allowed_of(v), 0);
	yajl_tree_free(v);

	join_svid_ok(f, &agent, agents, svid_of("spiffe://" ID_TD "/agents/x", ""));
	join_svid_ok(f, &db, agents, svid_of("spiffe://" ID_TD "/db/main", ""));
	assert_int_equal(pset(f, agents,
			      "{\"rules\":[{\"from\":[\"spiffe://" ID_TD
			      "/agents/*\"],\"to\":[\"*\"],\"ports\":[\"tcp/5432\"]}]}",
			      &v),
			 200);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, NULL, agents, "\"agent1\"", "\"db1\"", "tcp/5432", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	yajl_tree_free(v);
	assert_int_equal(ptest(f, NULL, agents, "\"db1\"", "\"agent1\"", "tcp/5432", &v), 200);
	assert_int_equal(allowed_of(v), 0);
	yajl_tree_free(v);
}

/* ------------------------------------------------------------ reputation */

#define REP_POLICY                                                                                 \
	"{\"rules\":[{\"from\":[\"*\"],\"to\":[\"*\"],\"ports\":[\"tcp/"                           \
	"8000\"],\"min_score\":15}]}"
#define REP_TOKEN "\"token\":\"0123456789abcdef\""

/* \p asker's score request for \p id: status, the reply in *out. */
static int rep_score_req(struct fixture *f, struct tnode *asker, uint32_t id, yajl_val *out)
{
	return req(f, asker, "score", target(id), out);
}

static int rep_score(struct fixture *f, struct tnode *asker, uint32_t id)
{
	uint32_t s = 999;
	yajl_val v;

	assert_int_equal(rep_score_req(f, asker, id, &v), 200);
	assert_int_equal(json_get_u32(v, "score", &s), 0);
	assert_non_null(json_get(v, "factors"));
	yajl_tree_free(v);
	return (int)s;
}

/* A factor of \p id's score as its JSON text ("6.666", "2"). */
static const char *rep_factor(struct fixture *f, struct tnode *asker, uint32_t id, const char *k)
{
	static char buf[32];
	yajl_val v, x;

	assert_int_equal(rep_score_req(f, asker, id, &v), 200);
	x = json_get(json_get(v, "factors"), k);
	assert_non_null(x);
	assert_true(YAJL_IS_NUMBER(x));
	if (YAJL_IS_INTEGER(x))
		snprintf(buf, sizeof(buf), "%lld", YAJL_GET_INTEGER(x));
	else
		snprintf(buf, sizeof(buf), "%.3f", YAJL_GET_DOUBLE(x));
	yajl_tree_free(v);
	return buf;
}

static int rep_report(struct fixture *f, struct tnode *n, uint32_t id, const char *verdict,
		      yajl_val *out)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "\"target\":%u,\"verdict\":\"%s\"", id, verdict);
	return req(f, n, "report", extra, out);
}

static void rep_report_ok(struct fixture *f, struct tnode *n, uint32_t id, const char *verdict)
{
	yajl_val v;

	assert_int_equal(rep_report(f, n, id, verdict, &v), 200);
	yajl_tree_free(v);
}

/* \p from asks \p to, \p to approves: a trust pair. */
static void rep_approve(struct fixture *f, struct tnode *from, struct tnode *to)
{
	yajl_val v;

	assert_int_equal(req(f, from, "handshake", target(to->id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, to, "approve", target(from->id), &v), 200);
	yajl_tree_free(v);
}

static struct rdv_rep rep_stored(struct fixture *f, uint32_t id)
{
	struct store_txn t;
	struct rdv_rep r;

	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(rdv_rep_get(&t, &f->db, id, &r), 0);
	store_txn_abort(&t);
	return r;
}

/* policy.changed of \p net among \p n's events after \p after. */
static size_t rep_changed(struct fixture *f, struct tnode *n, uint64_t after, uint32_t net)
{
	char want[128], *ev = events(f, n, after);
	size_t k;

	snprintf(want, sizeof(want), "\"event\":\"policy.changed\",\"network_id\":%u,", net);
	k = count_lines(ev, want);
	free(ev);
	return k;
}

static void test_rep_report(void **state)
{
	struct fixture *f = *state;
	struct tnode s = {0}, a = {0}, x = {0};
	char extra[512], body[4096], longr[260];
	const char *str;
	uint32_t net, u;
	yajl_val v;
	int b;

	do_register(f, &s, 0, "s");
	do_register(f, &a, 0, "a");
	do_register(f, &x, 0, "x");
	net = mk_net(f, "{\"name\":\"tok\",\"join_rule\":\"token\"," REP_TOKEN "}");
	join_ok(f, &s, net, REP_TOKEN);
	join_ok(f, &a, net, REP_TOKEN);
	/* A new node: nothing earned; its own score is always visible. */
	assert_int_equal(rep_score(f, &s, s.id), 0);
	assert_int_equal(rep_score_req(f, &s, s.id, &v), 200);
	assert_int_equal(json_get_u32(v, "node_id", &u), 0);
	assert_int_equal(u, s.id);
	assert_non_null(json_get(json_get(v, "factors"), "penalty"));
	yajl_tree_free(v);
	/* ... to a member of its network too, not to a stranger. */
	assert_int_equal(rep_score(f, &a, s.id), 0);
	assert_int_equal(rep_score_req(f, &x, s.id, &v), 404);
	expect_error(v, "not_found");

	/* A shared token network: a's good report counts whole (fresh: 10). */
	assert_int_equal(rep_report(f, &a, s.id, "good", &v), 200);
	assert_int_equal(json_get_bool(v, "replaced", &b), 0);
	assert_false(b);
	yajl_tree_free(v);
	assert_int_equal(rep_score(f, &s, s.id), 10);
	assert_string_equal(rep_factor(f, &s, s.id, "reports"), "10");
	assert_string_equal(rep_factor(f, &s, s.id, "good_weight"), "1");
	/* Nothing shared: forbidden, and audited as a refusal. */
	assert_int_equal(rep_report(f, &x, s.id, "bad", &v), 403);
	expect_msg(v, "forbidden", "shares no trust pair and no network");
	assert_non_null(strstr(audit_types(f, "{\"type\":\"reputation.report_refused\"}"),
			       "reputation.report_refused"));
	assert_int_equal(rep_score(f, &s, s.id), 10);
	/* Oneself, nonsense verdicts and reasons, unknown nodes. */
	assert_int_equal(rep_report(f, &s, s.id, "good", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(rep_report(f, &a, s.id, "meh", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(rep_report(f, &a, 999, "bad", &v), 404);
	expect_error(v, "not_found");
	memset(longr, 'r', 201);
	longr[201] = '\0';
	snprintf(extra, sizeof(extra), "\"target\":%u,\"verdict\":\"bad\",\"reason\":\"%s\"", s.id,
		 longr);
	assert_int_equal(req(f, &a, "report", extra, &v), 400);
	expect_error(v, "bad_request");
	snprintf(extra, sizeof(extra), "\"target\":%u,\"verdict\":\"bad\",\"reason\":\"a\\u0007\"",
		 s.id);
	assert_int_equal(req(f, &a, "report", extra, &v), 400);
	expect_error(v, "bad_request");

	/* A later report replaces the earlier: one standing opinion. */
	longr[200] = '\0';
	snprintf(extra, sizeof(extra), "\"target\":%u,\"verdict\":\"bad\",\"reason\":\"%s\"", s.id,
		 longr);
	assert_int_equal(
	    req_full(f, &a, "report", clk(f), extra, 1, &v, body, sizeof(body), NULL, NULL), 200);
	assert_int_equal(json_get_bool(v, "replaced", &b), 0);
	assert_true(b);
	yajl_tree_free(v);
	assert_string_equal(rep_factor(f, &s, s.id, "good_reports"), "0");
	assert_string_equal(rep_factor(f, &s, s.id, "bad_reports"), "1");
	assert_string_equal(rep_factor(f, &s, s.id, "reports"), "-15");
	assert_int_equal(rep_score(f, &s, s.id), 0);
	/* The same signed request again: the nonce check refuses it. */
	assert_int_equal(replay(f, &a, "report", body, clk(f), &v), 409);
	expect_error(v, "replay");
	v = audit_q(f, "{\"type\":\"reputation.report\"}");
	assert_int_equal(arr_len(v, "events"), 2);
	str = ev_detail(ev_at(v, 1), "verdict");
	assert_string_equal(str, "bad");
	assert_int_equal(strlen(ev_detail(ev_at(v, 1), "reason")), 200);
	assert_int_equal(ev_u64(json_get(ev_at(v, 1), "details"), "reporter"), a.id);
	assert_int_equal(ev_u64(json_get(ev_at(v, 1), "details"), "subject"), s.id);
	yajl_tree_free(v);
	rep_report_ok(f, &a, s.id, "good");
	assert_int_equal(rep_score(f, &s, s.id), 10);
	assert_int_equal(f->db.rep_reports[0], 2);
	assert_int_equal(f->db.rep_reports[1], 1);

	/* lookup, find and heartbeat carry the score. */
	assert_int_equal(req(f, &a, "lookup", target(s.id), &v), 200);
	assert_int_equal(json_get_u32(v, "score", &u), 0);
	assert_int_equal(u, 10);
	yajl_tree_free(v);
	assert_int_equal(req(f, &a, "find", "\"hostname\":\"s\"", &v), 200);
	assert_int_equal(json_get_u32(v, "score", &u), 0);
	assert_int_equal(u, 10);
	yajl_tree_free(v);
	assert_int_equal(req(f, &s, "heartbeat", "\"listen_port\":4000", &v), 200);
	assert_int_equal(json_get_u32(v, "score", &u), 0);
	assert_int_equal(u, 10);
	yajl_tree_free(v);
}

/* Entries of the durable nonce table. */
static int count_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	(void)k;
	(void)v;
	(*(size_t *)arg)++;
	return 0;
}

static size_t nonces_stored(struct fixture *f)
{
	struct store_txn t;
	size_t n = 0;

	store_txn_begin(f->db.st, &t, 1);
	assert_int_equal(store_iter_prefix(&t, f->db.dbi[RDV_DB_NONCES], NULL, 0, count_cb, &n), 0);
	store_txn_abort(&t);
	return n;
}

/* LMDB alone: a request that changes nothing keeps its nonce in memory
 * (no commit), and is refused as a replay all the same; one that changes
 * something records it durably; a request signed before the registry
 * started is refused, since the memory cache began empty then. */
static void test_nonce_memory(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	char body[1024];
	size_t n0;
	yajl_val v;

	f->now = NOW;
	do_register(f, &a, 1, "a");
	do_register(f, &b, 0, "b");
	n0 = nonces_stored(f);
	/* A lookup and an idle heartbeat: answered, nothing stored. */
	assert_int_equal(
	    req_full(f, &b, "lookup", clk(f), target(a.id), 1, &v, body, sizeof(body), NULL, NULL),
	    200);
	yajl_tree_free(v);
	assert_int_equal(heartbeat(f, &b, ""), 200);
	assert_int_equal(nonces_stored(f), n0);
	assert_int_equal(hmap_count(f->db.nonce_mem), 2);
	/* ... and the lookup's replay is refused from memory. */
	assert_int_equal(replay(f, &b, "lookup", body, NOW + 1000, &v), 409);
	expect_error(v, "replay");
	/* A change (a new port) stores its nonce with it. */
	f->now = NOW + 2000;
	assert_int_equal(req_full(f, &b, "heartbeat", clk(f), "\"listen_port\":4100", 1, &v, body,
				  sizeof(body), NULL, NULL),
			 200);
	yajl_tree_free(v);
	assert_int_equal(nonces_stored(f), n0 + 1);
	assert_int_equal(replay(f, &b, "heartbeat", body, NOW + 3000, &v), 409);
	expect_error(v, "replay");
	/* Forgotten once a replay would be stale anyway (2 x the skew). */
	f->now = NOW + 2 * REGMSG_MAX_SKEW_MS + 5000;
	assert_int_equal(heartbeat(f, &a, ""), 200);
	assert_int_equal(heartbeat(f, &a, ""), 200);
	assert_int_equal(hmap_count(f->db.nonce_mem), 2);
	/* Signed before the registry's start: refused. */
	f->db.started_ms = f->now;
	assert_int_equal(
	    req_full(f, &b, "lookup", f->now - 1, target(a.id), 1, &v, NULL, 0, NULL, NULL), 401);
	expect_error(v, "stale");
	assert_int_equal(
	    req_full(f, &b, "lookup", f->now, target(a.id), 1, &v, NULL, 0, NULL, NULL), 200);
	yajl_tree_free(v);
}

/* Heartbeats write nothing shared until something others see changes or
 * the uptime's flush is due; a deregistration flushes what is pending. */
static void test_rep_heartbeat_writes(void **state)
{
	struct fixture *f = *state;
	struct tnode s = {0};
	struct rdv_node n0, n1;
	struct rdv_rep r0, r;

	f->now = NOW;
	do_register(f, &s, 0, "s");
	stored(f, s.id, &n0);
	r0 = rep_stored(f, s.id);
	assert_int_equal(r0.last_hb_ms, NOW);

	/* Same port, same address: neither record moves, the uptime waits. */
	f->now = NOW + 60000;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	f->now = NOW + 120000;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	stored(f, s.id, &n1);
	assert_int_equal(n1.seen_ms, n0.seen_ms);
	r = rep_stored(f, s.id);
	assert_int_equal(r.online_ms, r0.online_ms);
	assert_int_equal(r.last_hb_ms, r0.last_hb_ms);

	/* A new port is news: the node record changes (not the rep one). */
	f->now = NOW + 180000;
	assert_int_equal(req(f, &s, "heartbeat", "\"listen_port\":4001", NULL), 200);
	stored(f, s.id, &n1);
	assert_int_equal(n1.listen_port, 4001);
	assert_int_equal(n1.seen_ms, NOW + 180000);
	assert_int_equal(rep_stored(f, s.id).online_ms, 0);

	/* RDV_REP_FLUSH_MS after the registration: 4 min 30 s of uptime. */
	f->now = NOW + 270000;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	assert_int_equal(rep_stored(f, s.id).online_ms, 0);
	f->now = NOW + RDV_REP_FLUSH_MS;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	r = rep_stored(f, s.id);
	assert_int_equal(r.online_ms, RDV_REP_FLUSH_MS);
	assert_int_equal(r.last_hb_ms, NOW + RDV_REP_FLUSH_MS);

	/* One more minute, then away: the deregistration flushes it. */
	f->now = NOW + RDV_REP_FLUSH_MS + 60000;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	assert_int_equal(rep_stored(f, s.id).online_ms, RDV_REP_FLUSH_MS);
	assert_int_equal(req(f, &s, "deregister", "", NULL), 200);
	assert_int_equal(rep_stored(f, s.id).online_ms, RDV_REP_FLUSH_MS + 60000);
}

/* The uptime's arithmetic across replicas (rdv_rep_heartbeat alone). */
static void test_rep_heartbeat_replicas(void **state)
{
	struct rdv_rep r = {0};
	struct rdv_presence a, b;
	const uint64_t T = NOW;

	(void)state;
	/* Registered on A at 0, heartbeats there for 2 min. */
	assert_int_equal(rdv_rep_heartbeat(&r, &a, 0, T + 0, 1), 1);
	assert_int_equal(rdv_rep_heartbeat(&r, &a, 1, T + 60000, 0), 0);
	assert_int_equal(rdv_rep_heartbeat(&r, &a, 1, T + 120000, 0), 0);
	assert_int_equal(a.pending_ms, 120000);
	assert_int_equal(r.online_ms, 0);
	/* Fails over to B (no presence there): B starts counting, and says so
	 * in the rep record. */
	assert_int_equal(rdv_rep_heartbeat(&r, &b, 0, T + 150000, 0), 1);
	assert_int_equal(r.last_hb_ms, T + 150000);
	assert_int_equal(rdv_rep_heartbeat(&r, &b, 1, T + 170000, 0), 0);
	/* Back on A: its last heartbeat is older than the rep record's, so the
	 * time on B is not counted again; what A held is flushed. */
	assert_int_equal(rdv_rep_heartbeat(&r, &a, 1, T + 180000, 0), 1);
	assert_int_equal(r.online_ms, 120000);
	assert_int_equal(a.pending_ms, 0);
	/* A gap is capped, and a clock that went back starts again. */
	assert_int_equal(rdv_rep_heartbeat(&r, &a, 1, T + 180000 + 240000, 0), 0);
	assert_int_equal(a.pending_ms, RDV_REP_GAP_MAX_MS);
	assert_int_equal(rdv_rep_heartbeat(&r, &a, 1, T + 100000, 0), 1);
	assert_int_equal(r.online_ms, 120000 + RDV_REP_GAP_MAX_MS);
	/* B's pending 20 s goes at its deregistration flush. */
	assert_int_equal(rdv_rep_flush(&r, &b, T + 200000), 1);
	assert_int_equal(r.online_ms, 140000 + RDV_REP_GAP_MAX_MS);
}

static void test_rep_uptime_approvals_blocks(void **state)
{
	struct fixture *f = *state;
	struct tnode s = {0}, a = {0}, b = {0}, c = {0};
	uint64_t ma, mb;
	uint32_t net, u;
	yajl_val v;
	struct rdv_rep r;

	f->now = NOW;
	do_register(f, &s, 0, "s");
	do_register(f, &a, 0, "a");
	do_register(f, &b, 0, "b");
	do_register(f, &c, 0, "c");
	net = mk_net(f, "{\"name\":\"tok\",\"join_rule\":\"token\"," REP_TOKEN "}");
	join_ok(f, &s, net, REP_TOKEN);
	join_ok(f, &a, net, REP_TOKEN);
	assert_int_equal(pset(f, net, REP_POLICY, &v), 200);
	yajl_tree_free(v);

	/* Uptime: each heartbeat adds the gap since the last, at most 3 min. */
	f->now = NOW + 60000;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	f->now = NOW + 600000;
	assert_int_equal(heartbeat(f, &s, ""), 200);
	r = rep_stored(f, s.id);
	assert_int_equal(r.online_ms, 60000 + 180000);
	assert_string_equal(rep_factor(f, &s, s.id, "online_hours"), "0.066");
	/* A registration starts again: the time away is not online. */
	f->now = NOW + 3600000;
	do_register(f, &s, 0, "s");
	assert_int_equal(rep_stored(f, s.id).online_ms, 240000);

	/* Below the threshold: policy_test says which rule wants what. */
	assert_int_equal(ptest(f, &a, net, "\"s\"", "\"a\"", "tcp/8000", &v), 200);
	assert_int_equal(allowed_of(v), 0);
	assert_int_equal(json_get_u32(v, "min_score", &u), 0);
	assert_int_equal(u, 15);
	assert_int_equal(json_get_u32(v, "min_score_rule", &u), 0);
	assert_int_equal(u, 0);
	yajl_tree_free(v);

	/* Approvals: b's takes s to 10 (handshakes 6.666 + trust 3.333),
	 * no threshold crossed yet. */
	ma = seq_now(f, a.id);
	rep_approve(f, &s, &b);
	assert_int_equal(rep_score(f, &s, s.id), 10);
	assert_string_equal(rep_factor(f, &s, s.id, "handshakes"), "6.666");
	assert_string_equal(rep_factor(f, &s, s.id, "trust"), "3.333");
	assert_int_equal(rep_changed(f, &a, ma, net), 0);
	/* a's good report: 20, across 15: the network's members are told. */
	ma = seq_now(f, a.id);
	rep_report_ok(f, &a, s.id, "good");
	assert_int_equal(rep_stored(f, s.id).score_pub, 20);
	assert_int_equal(rep_changed(f, &a, ma, net), 1);
	assert_int_equal(ptest(f, &a, net, "\"s\"", "\"a\"", "tcp/8000", &v), 200);
	assert_int_equal(allowed_of(v), 1);
	yajl_tree_free(v);
	/* ... and a's view now lets s open tcp/8000 to it. */
	assert_int_equal(req(f, &a, "policy_view", net_extra(net), &v), 200);
	assert_int_equal(arr_len(v, "allow"), 1);
	assert_int_equal(json_get_u32(json_get(v, "allow")->u.array.values[0], "node", &u), 0);
	assert_int_equal(u, s.id);
	yajl_tree_free(v);
	/* A second fresh approver adds nothing: fresh ones count as one. */
	rep_approve(f, &s, &c);
	assert_string_equal(rep_factor(f, &s, s.id, "approvals"), "2");
	assert_string_equal(rep_factor(f, &s, s.id, "approvals_weight"), "1");
	assert_int_equal(rep_score(f, &s, s.id), 20);
	/* Untrust and approve again: the approval is not counted twice. */
	assert_int_equal(req(f, &b, "untrust", target(s.id), &v), 200);
	yajl_tree_free(v);
	assert_string_equal(rep_factor(f, &s, s.id, "trust_pairs"), "1");
	rep_approve(f, &s, &b);
	assert_string_equal(rep_factor(f, &s, s.id, "approvals"), "2");
	assert_string_equal(rep_factor(f, &s, s.id, "trust_pairs"), "2");

	/* b blocks s: a bad opinion (bad weighs double): 4, below again. */
	ma = seq_now(f, a.id);
	mb = seq_now(f, s.id);
	assert_int_equal(req(f, &b, "block", "\"target\":1,\"blocked\":true", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(rep_score(f, &a, s.id), 4);
	assert_string_equal(rep_factor(f, &s, s.id, "blocks"), "1");
	assert_string_equal(rep_factor(f, &s, s.id, "bad_reports"), "0");
	assert_int_equal(rep_changed(f, &a, ma, net), 1);
	assert_int_equal(rep_changed(f, &s, mb, net), 1);
	assert_int_equal(f->db.rep_blocks, 1);
	/* A block overrides b's report while it stands. */
	rep_report_ok(f, &b, s.id, "good");
	assert_int_equal(rep_score(f, &s, s.id), 4);
	assert_int_equal(req(f, &b, "block", "\"target\":1,\"blocked\":false", &v), 200);
	yajl_tree_free(v);
	assert_int_equal(rep_score(f, &s, s.id), 20);
	assert_string_equal(rep_factor(f, &s, s.id, "good_reports"), "2");
	assert_int_equal(req(f, &b, "block", "\"target\":1", &v), 400);
	expect_error(v, "bad_request");
	assert_int_equal(req(f, &s, "block", "\"target\":1,\"blocked\":true", &v), 400);
	expect_error(v, "bad_request");
	/* c's bad report: 4. */
	rep_report_ok(f, &c, s.id, "bad");
	assert_int_equal(rep_score(f, &s, s.id), 4);

	/* The sweep: two weeks on, without a request about s, age and the
	 * counterparts' establishment lift it across 15 again; the sweep
	 * publishes it and tells the network. */
	ma = seq_now(f, a.id);
	f->now = NOW + 14 * 86400000ull;
	assert_int_equal(rdv_reg_sweep(&f->db, f->now), 0);
	r = rep_stored(f, s.id);
	assert_true(r.score_pub >= 15);
	assert_int_equal(rep_changed(f, &a, ma, net), 1);
	/* Not again within the minute. */
	ma = seq_now(f, a.id);
	assert_int_equal(rdv_reg_sweep(&f->db, f->now + 1000), 0);
	assert_int_equal(rep_changed(f, &a, ma, net), 0);
}

static void test_rep_revocations(void **state)
{
	struct fixture *f = *state;
	struct tnode s = {0};
	struct tcert tc;
	struct tca ca;
	uint32_t net;
	yajl_val v;
	char body[64];

	do_register(f, &s, 0, "s");
	assert_int_equal(rep_stored(f, s.id).revocations, 0);
	/* A CA revocation that takes it out of a network: one. */
	mk_ca(&ca, "rep-ca", C_NB, C_NA);
	net = mk_ca_net(f, "repca", &ca);
	mk_cert_for(&tc, &ca, &s, NULL);
	join_cert_ok(f, &s, net, &tc);
	ca_revoke_ok(f, net, entry_node(s.id));
	assert_int_equal(is_member(f, net, s.id), 0);
	assert_int_equal(rep_stored(f, s.id).revocations, 1);
	assert_string_equal(rep_factor(f, &s, s.id, "penalty"), "20");
	/* An admin's revoke: two. */
	snprintf(body, sizeof(body), "{\"node_id\":%u}", s.id);
	assert_int_equal(admin(f, "org_revoke", body, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(rep_stored(f, s.id).revocations, 2);
	/* Revoking a revoked node again changes nothing. */
	assert_int_equal(admin(f, "org_revoke", body, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(rep_stored(f, s.id).revocations, 2);
}

/* ------------------------------------------------------------ registration */

/* A register request of \p n's key (made at the first call), with the
 * members \p more after a comma (NULL none); n->id is set on success.
 * \retval the HTTP status, *out the reply (caller frees) unless NULL. */
static int try_register(struct fixture *f, struct tnode *n, const char *more, yajl_val *out)
{
	static const uint8_t zero[32];
	char extra[1024], pkb[64];
	yajl_val v;
	uint32_t id;
	int st;

	if (memcmp(n->pk, zero, 32) == 0)
		crypto_sign_keypair(n->pk, n->sk);
	b64_encode(pkb, sizeof(pkb), n->pk, 32);
	snprintf(extra, sizeof(extra),
		 "\"public_key\":\"%s\",\"listen_port\":4000,\"public\":false%s%s", pkb,
		 more ? "," : "", more ? more : "");
	st = req_full(f, n, "register", clk(f), extra, 0, &v, NULL, 0, NULL, NULL);
	if (st == 200) {
		assert_int_equal(json_get_u32(v, "node_id", &id), 0);
		n->id = id;
	}
	if (out)
		*out = v;
	else
		yajl_tree_free(v);
	return st;
}

/* A registration token made by the admin: its text into \p tok. */
static void mk_regtoken(struct fixture *f, const char *body, char tok[128], char id[64])
{
	const char *t = NULL, *i = NULL;
	yajl_val v;

	assert_int_equal(admin(f, "registration_token", body, &v), 200);
	assert_int_equal(json_get_str(v, "token", &t), 0);
	assert_int_equal(json_get_str(v, "token_id", &i), 0);
	assert_int_equal(strlen(i), 32);
	snprintf(tok, 128, "%s", t);
	if (id)
		snprintf(id, 64, "%s", i);
	yajl_tree_free(v);
}

static char *tok_member(const char *tok)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "\"registration_token\":\"%s\"", tok);
	return buf;
}

/* Does the registry know \p pk? */
static int key_known(struct fixture *f, const uint8_t pk[32])
{
	struct store_txn t;
	uint32_t id;
	int rc;

	store_txn_begin(f->db.st, &t, 1);
	rc = rdv_key_get(&t, &f->db, pk, &id);
	store_txn_abort(&t);
	return rc == 0;
}

static void test_registration_open(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0};
	yajl_val v, e;

	/* The default: anyone registers, a token is ignored. */
	assert_int_equal(f->db.reg_rule, RDV_REG_OPEN);
	assert_int_equal(try_register(f, &a, NULL, NULL), 200);
	assert_int_equal(try_register(f, &b, tok_member("nonsense"), NULL), 200);
	v = newest(f, "node.registered", &e);
	assert_string_equal(ev_detail(e, "registration"), "open");
	yajl_tree_free(v);
	assert_int_equal(f->db.reg_stats.new_keys, 2);
	/* A known key's registration is no new one. */
	assert_int_equal(try_register(f, &a, NULL, NULL), 200);
	assert_int_equal(f->db.reg_stats.new_keys, 2);
}

static void test_registration_token(void **state)
{
	struct fixture *f = *state;
	struct tnode a = {0}, b = {0}, c = {0}, d = {0}, x = {0};
	char tok[128], id[64], tok2[128], id2[64], body[128];
	yajl_val v, e;

	f->db.reg_rule = RDV_REG_TOKEN;
	/* Without a token, with a wrong one: refused, nothing kept, audited. */
	assert_int_equal(try_register(f, &x, NULL, &v), 403);
	expect_msg(v, "registration_token_required", "registration token");
	assert_int_equal(try_register(f, &x, tok_member("not-a-token"), &v), 403);
	expect_error(v, "registration_token_invalid");
	assert_int_equal(try_register(f, &x, "\"registration_token\":7", &v), 400);
	expect_error(v, "bad_request");
	assert_false(key_known(f, x.pk));
	assert_int_equal(count_type(f, "registration.refused"), 2);
	v = newest(f, "registration.refused", &e);
	assert_string_equal(ev_detail(e, "code"), "registration_token_invalid");
	assert_string_equal(ev_str(e, "actor"), "ip:198.18.2.7");
	yajl_tree_free(v);
	assert_int_equal(f->db.reg_stats.refused[RDV_REFUSED_TOKEN_MISSING], 1);
	assert_int_equal(f->db.reg_stats.refused[RDV_REFUSED_TOKEN_BAD], 1);

	/* A token of two uses: two new keys, not a third. */
	mk_regtoken(f, "{\"uses\":2,\"ttl\":\"1h\"}", tok, id);
	assert_int_equal(count_type(f, "registration.token_made"), 1);
	assert_int_equal(try_register(f, &a, tok_member(tok), NULL), 200);
	v = newest(f, "node.registered", &e);
	assert_string_equal(ev_detail(e, "registration"), "token");
	assert_string_equal(ev_detail(e, "token_id"), id);
	yajl_tree_free(v);
	assert_int_equal(try_register(f, &b, tok_member(tok), NULL), 200);
	assert_int_equal(try_register(f, &c, tok_member(tok), &v), 403);
	expect_msg(v, "registration_token_used", "2 of 2");
	assert_false(key_known(f, c.pk));
	/* A known key needs none, and uses none. */
	assert_int_equal(try_register(f, &a, NULL, NULL), 200);
	assert_int_equal(try_register(f, &a, tok_member(tok), NULL), 200);

	/* Expiry: a token of 10 s, tried 11 s later. */
	mk_regtoken(f, "{\"ttl\":10}", tok2, id2);
	f->now = NOW + 11000;
	assert_int_equal(try_register(f, &c, tok_member(tok2), &v), 403);
	expect_error(v, "registration_token_expired");
	f->now = 0;
	/* The list: states, never a token. */
	assert_int_equal(admin(f, "registration_tokens", "{}", &v), 200);
	assert_int_equal(arr_len(v, "tokens"), 2);
	{
		yajl_val a0 = json_get(v, "tokens")->u.array.values[0],
			 a1 = json_get(v, "tokens")->u.array.values[1];
		yajl_val used = strcmp(ev_str(a0, "token_id"), id) == 0 ? a0 : a1;
		yajl_val fresh = used == a0 ? a1 : a0;
		assert_string_equal(ev_str(used, "state"), "used");
		assert_int_equal(ev_u64(used, "uses"), 2);
		assert_int_equal(ev_u64(used, "uses_max"), 2);
		assert_string_equal(ev_str(fresh, "state"), "valid");
		assert_null(json_get(fresh, "token"));
	}
	yajl_tree_free(v);
	/* Revoked: refused as unknown. */
	snprintf(body, sizeof(body), "{\"token_id\":\"%s\"}", id2);
	assert_int_equal(admin(f, "registration_token_revoke", body, &v), 200);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "registration_token_revoke", body, &v), 404);
	yajl_tree_free(v);
	assert_int_equal(try_register(f, &c, tok_member(tok2), &v), 403);
	expect_error(v, "registration_token_invalid");
	assert_int_equal(count_type(f, "registration.token_revoked"), 1);
	/* Bad arguments. */
	assert_int_equal(admin(f, "registration_token", "{\"uses\":0}", &v), 400);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "registration_token", "{\"ttl\":\"forever\"}", &v), 400);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "registration_token", "{\"ttl\":\"400d\"}", &v), 400);
	yajl_tree_free(v);
	assert_int_equal(admin(f, "registration_token_revoke", "{\"token_id\":\"zz\"}", &v), 400);
	yajl_tree_free(v);
	/* The default: one use, a day. */
	mk_regtoken(f, "{}", tok2, NULL);
	assert_int_equal(try_register(f, &d, tok_member(tok2), NULL), 200);
	f->now = NOW + 86400000ull - 1000;
	{
		struct tnode y = {0};
		assert_int_equal(try_register(f, &y, tok_member(tok2), &v), 403);
		expect_error(v, "registration_token_used");
	}
	f->now = 0;
}

/* The held registration of \p pk as the admin lists it (NULL if none);
 * *list is the reply to free. */
static yajl_val held_of(struct fixture *f, const uint8_t pk[32], yajl_val *list)
{
	char b64[64];
	yajl_val a;

	b64_encode(b64, sizeof(b64), pk, 32);
	assert_int_equal(admin(f, "registration_pending", "{}", list), 200);
	a = json_get(*list, "registrations");
	for (size_t i = 0; i < a->u.array.len; i++)
		if (strcmp(ev_str(a->u.array.values[i], "public_key"), b64) == 0)
			return a->u.array.values[i];
	return NULL;
}

static int decide_key(struct fixture *f, const char *op, const uint8_t pk[32], size_t chars)
{
	char b64[64], body[128];
	yajl_val v;
	int st;

	b64_encode(b64, sizeof(b64), pk, 32);
	b64[chars] = '\0';
	snprintf(body, sizeof(body), "{\"public_key\":\"%s\"}", b64);
	st = admin(f, op, body, &v);
	yajl_tree_free(v);
	return st;
}

static void test_registration_approval(void **state)
{
	struct fixture *f = *state;
	struct tnode x = {0}, y = {0}, z = {0}, w = {0};
	char tok[128];
	yajl_val v, h, e;

	f->db.reg_rule = RDV_REG_APPROVAL;
	/* Held: refused as pending, kept for the admin, audited once. */
	assert_int_equal(try_register(f, &x, "\"hostname\":\"newbie\"", &v), 403);
	expect_msg(v, "registration_pending", "pilotctl registration approve");
	assert_false(key_known(f, x.pk));
	h = held_of(f, x.pk, &v);
	assert_non_null(h);
	assert_string_equal(ev_str(h, "state"), "pending");
	assert_string_equal(ev_str(h, "ip"), "198.18.2.7");
	assert_string_equal(ev_str(h, "hostname"), "newbie");
	assert_int_equal(ev_u64(h, "first_seen"), NOW / 1000);
	yajl_tree_free(v);
	assert_int_equal(rdv_reg_pending_count(&f->db), 1);
	f->now = NOW + 5000;
	assert_int_equal(try_register(f, &x, "\"hostname\":\"newbie\"", &v), 403);
	expect_error(v, "registration_pending");
	assert_int_equal(count_type(f, "registration.pending"), 1);
	v = newest(f, "registration.pending", &e);
	assert_string_equal(ev_str(e, "actor"), "ip:198.18.2.7");
	assert_string_equal(ev_detail(e, "hostname"), "newbie");
	yajl_tree_free(v);
	assert_int_equal(f->db.reg_stats.pending, 1);
	assert_int_equal(f->db.reg_stats.refused[RDV_REFUSED_PENDING], 2);

	/* Approved by the first characters of its key: it comes in. */
	assert_int_equal(decide_key(f, "registration_approve", x.pk, 8), 200);
	h = held_of(f, x.pk, &v);
	assert_string_equal(ev_str(h, "state"), "approved");
	yajl_tree_free(v);
	assert_int_equal(try_register(f, &x, "\"hostname\":\"newbie\"", NULL), 200);
	assert_true(key_known(f, x.pk));
	v = newest(f, "node.registered", &e);
	assert_string_equal(ev_detail(e, "registration"), "approval");
	yajl_tree_free(v);
	assert_null(held_of(f, x.pk, &v));
	yajl_tree_free(v);
	assert_int_equal(count_type(f, "registration.approved"), 1);
	/* Known now: never asked again. */
	assert_int_equal(try_register(f, &x, NULL, NULL), 200);
	assert_int_equal(decide_key(f, "registration_approve", x.pk, 44), 409);

	/* Rejected: refused with its own code, not audited at every try. */
	assert_int_equal(try_register(f, &y, NULL, &v), 403);
	expect_error(v, "registration_pending");
	assert_int_equal(decide_key(f, "registration_reject", y.pk, 44), 200);
	assert_int_equal(try_register(f, &y, NULL, &v), 403);
	expect_msg(v, "registration_rejected", "rejected");
	assert_int_equal(try_register(f, &y, NULL, &v), 403);
	expect_error(v, "registration_rejected");
	assert_int_equal(count_type(f, "registration.rejected"), 1);
	assert_false(key_known(f, y.pk));
	/* ... until the admin thinks again. */
	assert_int_equal(decide_key(f, "registration_approve", y.pk, 10), 200);
	assert_int_equal(try_register(f, &y, NULL, NULL), 200);

	/* A token lets a key in at once under approval too. */
	mk_regtoken(f, "{}", tok, NULL);
	assert_int_equal(try_register(f, &z, tok_member(tok), NULL), 200);
	/* A whole key the registry never saw may be approved beforehand;
	 * a prefix of none is not found. */
	crypto_sign_keypair(w.pk, w.sk);
	assert_int_equal(decide_key(f, "registration_reject", w.pk, 12), 404);
	assert_int_equal(decide_key(f, "registration_approve", w.pk, 12), 404);
	assert_int_equal(decide_key(f, "registration_approve", w.pk, 44), 200);
	assert_int_equal(try_register(f, &w, NULL, NULL), 200);
	assert_int_equal(decide_key(f, "registration_approve", w.pk, 3), 400);
	assert_int_equal(f->db.reg_stats.approved, 3);
	assert_int_equal(f->db.reg_stats.rejected, 1);
	f->now = 0;
}

static void test_registration_prefix_cap(void **state)
{
	struct fixture *f = *state;
	struct tnode n[8], known = {0}, v6[4], p = {0};
	yajl_val v;

	memset(n, 0, sizeof(n));
	memset(v6, 0, sizeof(v6));
	assert_int_equal(try_register(f, &known, NULL, NULL), 200);
	f->db.reg_per_prefix_hour = 3;
	/* Three new keys from one /24 (any of its addresses), not a fourth. */
	f->ip = "198.18.5.1";
	assert_int_equal(try_register(f, &n[0], NULL, NULL), 200);
	f->ip = "198.18.5.2";
	assert_int_equal(try_register(f, &n[1], NULL, NULL), 200);
	f->ip = "::ffff:198.18.5.3"; /* the same /24, through a dual-stack socket */
	assert_int_equal(try_register(f, &n[2], NULL, NULL), 200);
	f->ip = "198.18.5.200";
	assert_int_equal(try_register(f, &n[3], NULL, &v), 429);
	expect_msg(v, "registration_limited", "198.18.5.0/24");
	assert_false(key_known(f, n[3].pk));
	assert_int_equal(f->db.reg_stats.refused[RDV_REFUSED_PREFIX_CAP], 1);
	assert_int_equal(count_type(f, "registration.refused"), 1);
	/* Known keys are never counted or refused; another /24 has its own. */
	assert_int_equal(try_register(f, &known, NULL, NULL), 200);
	assert_int_equal(try_register(f, &n[0], NULL, NULL), 200);
	f->ip = "198.18.6.1";
	assert_int_equal(try_register(f, &n[4], NULL, NULL), 200);
	/* IPv6: per /64. */
	f->ip = "fd12:3456:789a:1::1";
	assert_int_equal(try_register(f, &v6[0], NULL, NULL), 200);
	f->ip = "fd12:3456:789a:1:ffff::2";
	assert_int_equal(try_register(f, &v6[1], NULL, NULL), 200);
	assert_int_equal(try_register(f, &v6[2], NULL, NULL), 200);
	f->ip = "fd12:3456:789a:1::9";
	assert_int_equal(try_register(f, &v6[3], NULL, &v), 429);
	expect_msg(v, "registration_limited", "fd12:3456:789a:1::/64");
	f->ip = "fd12:3456:789a:2::1";
	assert_int_equal(try_register(f, &v6[3], NULL, NULL), 200);

	/* The last hour slides: early in the next clock hour the previous
	 * one still counts almost whole; an hour later, nothing. */
	f->ip = "198.18.5.7";
	f->now = (NOW / 3600000 + 1) * 3600000 + 60000;
	assert_int_equal(try_register(f, &n[5], NULL, &v), 429);
	yajl_tree_free(v);
	f->now = (NOW / 3600000 + 2) * 3600000 + 60000;
	assert_int_equal(try_register(f, &n[5], NULL, NULL), 200);

	/* Held registrations count too: they are new identities. */
	f->db.reg_rule = RDV_REG_APPROVAL;
	f->ip = "198.18.7.1";
	f->db.reg_per_prefix_hour = 1;
	assert_int_equal(try_register(f, &p, NULL, &v), 403);
	expect_error(v, "registration_pending");
	assert_int_equal(try_register(f, &p, NULL, &v), 403); /* the same one again */
	expect_error(v, "registration_pending");
	assert_int_equal(try_register(f, &n[6], NULL, &v), 429);
	expect_error(v, "registration_limited");
	/* 0: no cap. */
	f->db.reg_per_prefix_hour = 0;
	f->db.reg_rule = RDV_REG_OPEN;
	for (int i = 0; i < 2; i++) {
		struct tnode m = {0};
		assert_int_equal(try_register(f, &m, NULL, NULL), 200);
	}
	f->ip = NULL;
	f->now = 0;
}

static void test_inbox_per_requester(void **state)
{
	enum { T = RDV_INBOX_PER_REQUESTER + 2 };
	struct fixture *f = *state;
	struct tnode r = {0}, t[T];
	char extra[64];
	yajl_val v;

	memset(t, 0, sizeof(t));
	do_register(f, &r, 0, NULL);
	for (int i = 0; i < T; i++)
		do_register(f, &t[i], 0, NULL);
	/* One requester fills at most RDV_INBOX_PER_REQUESTER inboxes. */
	for (int i = 0; i < RDV_INBOX_PER_REQUESTER; i++) {
		assert_int_equal(req(f, &r, "handshake", target(t[i].id), &v), 200);
		yajl_tree_free(v);
	}
	assert_int_equal(req(f, &r, "handshake", target(t[RDV_INBOX_PER_REQUESTER].id), &v), 429);
	expect_msg(v, "rate_limited", "handshake requests pending");
	assert_int_equal(f->db.reg_stats.inbox_limited, 1);
	/* A repeat to a target it asked already takes no new place. */
	snprintf(extra, sizeof(extra), "\"target\":%u,\"justification\":\"again\"", t[0].id);
	assert_int_equal(req(f, &r, "handshake", extra, &v), 200);
	yajl_tree_free(v);
	/* An answer gives a place back. */
	assert_int_equal(req(f, &t[0], "reject", target(r.id), &v), 200);
	yajl_tree_free(v);
	assert_int_equal(req(f, &r, "handshake", target(t[RDV_INBOX_PER_REQUESTER].id), &v), 200);
	yajl_tree_free(v);
	/* Requests nobody answers stop counting after RDV_INBOX_HOLD_MS. */
	assert_int_equal(req(f, &r, "handshake", target(t[RDV_INBOX_PER_REQUESTER + 1].id), &v),
			 429);
	yajl_tree_free(v);
	f->now = NOW + RDV_INBOX_HOLD_MS + 1000;
	assert_int_equal(req(f, &r, "handshake", target(t[RDV_INBOX_PER_REQUESTER + 1].id), &v),
			 200);
	yajl_tree_free(v);
	/* The requests still wait in the targets' inboxes. */
	assert_int_equal(req(f, &t[1], "inbox", "", &v), 200);
	assert_int_equal(arr_len(v, "requests"), 1);
	yajl_tree_free(v);
	f->now = 0;
}

/* The request limiter with its table full still meters a new source:
 * the longest idle generation goes, the new source starts with a burst
 * and is refused after it (the old limiter let it through unmetered). */
static void test_rate_limiter_full(void **state)
{
	struct rdv_rate l;
	uint8_t k[6][RDV_SRC_KEY_LEN];

	(void)state;
	memset(k, 0, sizeof(k));
	for (int i = 0; i < 6; i++) {
		k[i][0] = 4;
		k[i][4] = (uint8_t)(i + 1);
	}
	assert_int_equal(rdv_rate_init(&l, 4), 0);
	/* Four sources fill the generation, each using its burst of 2. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rdv_rate_take(&l, k[i], 1, 2, 1000), 1);
		assert_int_equal(rdv_rate_take(&l, k[i], 1, 2, 1000), 1);
		assert_int_equal(rdv_rate_take(&l, k[i], 1, 2, 1000), 0);
	}
	assert_int_equal(rdv_rate_count(&l), 4);
	assert_int_equal(l.rotations, 0);
	/* A fifth: metered all the same. */
	assert_int_equal(rdv_rate_take(&l, k[4], 1, 2, 1000), 1);
	assert_int_equal(rdv_rate_take(&l, k[4], 1, 2, 1000), 1);
	assert_int_equal(rdv_rate_take(&l, k[4], 1, 2, 1000), 0);
	assert_int_equal(l.rotations, 1);
	/* The others are remembered (the previous generation), still empty. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(rdv_rate_take(&l, k[i], 1, 2, 1000), 0);
	assert_int_equal(rdv_rate_count(&l), 5);
	/* A sixth fills the new generation again: the oldest goes, no one
	 * unmetered. */
	assert_int_equal(rdv_rate_take(&l, k[5], 1, 2, 1000), 1);
	assert_int_equal(rdv_rate_take(&l, k[5], 1, 2, 1000), 1);
	assert_int_equal(rdv_rate_take(&l, k[5], 1, 2, 1000), 0);
	assert_int_equal(l.rotations, 2);
	assert_int_equal(rdv_rate_take(&l, k[0], 1, 2, 1000), 0);
	/* The sweep forgets only what has been idle long enough. */
	rdv_rate_sweep(&l, 1500, 2000);
	assert_int_equal(rdv_rate_take(&l, k[0], 1, 2, 1500), 0);
	rdv_rate_sweep(&l, 4000, 2000);
	rdv_rate_sweep(&l, 6100, 2000);
	assert_int_equal(rdv_rate_count(&l), 0);
	assert_int_equal(rdv_rate_take(&l, k[0], 1, 2, 6100), 1);
	rdv_rate_free(&l);
}

static void test_prefix_key(void **state)
{
	uint8_t a[RDV_SRC_KEY_LEN], b[RDV_SRC_KEY_LEN];
	char text[RDV_PREFIX_TEXT_MAX];

	(void)state;
	assert_int_equal(rdv_prefix_key("198.18.2.7", a, text), 0);
	assert_string_equal(text, "198.18.2.0/24");
	assert_int_equal(rdv_prefix_key("::ffff:198.18.2.250", b, NULL), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(rdv_prefix_key("198.18.3.7", b, NULL), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(rdv_prefix_key("fd12:3456:789a:1:2:3:4:5", a, text), 0);
	assert_string_equal(text, "fd12:3456:789a:1::/64");
	assert_int_equal(rdv_prefix_key("fd12:3456:789a:1::9", b, NULL), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(rdv_prefix_key("registry", a, NULL), -EINVAL);
	assert_int_equal(rdv_prefix_key("", a, NULL), -EINVAL);
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
	    cmocka_unit_test(test_invite_format),
	    cmocka_unit_test(test_admin_parse),
	    cmocka_unit_test_setup_teardown(test_hostname_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tags_and_visibility, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotate_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restarted_and_behind_nat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_find, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_network_join_open_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_network_invite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_invite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_network_leave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_auth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admin_networks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_trust_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_node_and_network_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_security, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_org_create_enroll, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_org_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_org_revoke_scoped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_visibility, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_synced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_join, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_join_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_crl_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_revoke_evicts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ca_tags_renew, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_lifetime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idp_create, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_join, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_refused, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_subject, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_replay_leeway, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_oidc, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_renew, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_renews_identity, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_idp_policy, setup, idp_teardown),
	    cmocka_unit_test_setup_teardown(test_rep_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rep_uptime_approvals_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rep_heartbeat_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nonce_memory, setup, teardown),
	    cmocka_unit_test(test_rep_heartbeat_replicas),
	    cmocka_unit_test_setup_teardown(test_rep_revocations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registration_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registration_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registration_approval, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registration_prefix_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inbox_per_requester, setup, teardown),
	    cmocka_unit_test(test_rate_limiter_full),
	    cmocka_unit_test(test_prefix_key),
	};

	if (sodium_init() < 0)
		return 1;
	log_init("test_rdv_reg", LOG_LVL_ERROR, LOG_FMT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
