/* fuzz_rdv.c - the registry's request handling (rdv_reg*.c over the LMDB
 * store), fed whole requests the way its HTTPS front end (rdv_http.c)
 * routes them: POST /v1/node/OP to rdv_reg_handle, POST /v1/admin/OP to
 * rdv_admin_handle, any other path "not found".  fuzz_regmsg fuzzes the
 * envelope parser alone; here the requests get past it, past the
 * signature, freshness and nonce checks, into the operations and the store.
 *
 * The input is up to FZ_LINES lines, one request each:
 *     PATH SP WHO SP BODY
 *   PATH  what follows /v1/ in the URL: node/OP or admin/OP
 *   WHO   node: '1'..'3' signed by baseline node a, b or c; '4' by a key
 *         the registry does not know; '0' no Pilot-Signature header; other
 *         characters a signature that is well-formed but wrong (the body
 *         claiming to be node a).
 *         admin: '1' the right bearer token, '0' no Authorization header,
 *         other characters a wrong token
 *   BODY  the JSON body, where these words are replaced first, so that a
 *         mutated body still reaches the operation behind the envelope:
 *         @ts (the registry's clock, ms), @nonce (a nonce never used),
 *         @id (the signer's node ID), @pk (the signer's public key),
 *         @a @b @c (the baseline nodes' IDs), @net (an open network),
 *         @tnet (a token network, token "fuzz-network-token-0001").
 * A signed request is signed here, over the expanded body: the fuzzer
 * plays an enrolled node (or the admin) that sends hostile requests.
 *
 * The baseline (fz_baseline: three registered nodes, two networks, a
 * trust pair, an org) is written with the same requests.  State carries
 * over from one input to the next as it does in a registry, and is built
 * again from nothing every FZ_REBUILD inputs, so that it stays small and
 * what one input broke (a revoked or expired baseline node) does not
 * blind the rest.  A crash input therefore reproduces on the baseline
 * alone, or with the inputs before it in its window.
 *
 * Oracles: the handler answers (never -ENOMEM here), with an HTTP status
 * of 200 or 4xx/5xx and a JSON object body (an error with error.code and
 * error.message), or, for a 200 events request, JSON lines. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"
#include "json.h"
#include "log.h"
#include "rdv.h"
#include "rdv_store.h"
#include "regmsg.h"
#include "util.h"

#include "fuzz_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FZ_NOW 1700000000000ull
#define FZ_LINES 16
#define FZ_REBUILD 4096
/* The admin's `audit` and `audit_verify` read the whole log: kept short,
 * or they would take most of the fuzzer's time. */
#define FZ_AUDIT_MAX 16
#define FZ_MAINT 4 /* inputs between the maintenance passes */
#define FZ_ADMIN_TOKEN "fuzz-admin-token-0123456789abcdef"
#define FZ_PEER "198.18.7.7"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

struct fz_key {
	uint8_t pk[32], sk[64];
	char pk_b64[48];
	uint32_t id; /* 0 until registered */
};

static struct fz {
	char dir[64];
	struct rdv_db db;
	int open;
	struct fz_key keys[4]; /* a, b, c, and one never registered */
	uint8_t audit_sk[64], invite_sk[64];
	uint32_t net, tnet;
	uint64_t nonce_ctr, inputs;
	int verbose;
} fz;

static void fz_keypair(struct fz_key *k, uint8_t fill)
{
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	CHECK(crypto_sign_seed_keypair(k->pk, k->sk, seed) == 0);
	CHECK(b64_encode(k->pk_b64, sizeof(k->pk_b64), k->pk, 32) > 0);
}

static void fz_close(void)
{
	if (!fz.open)
		return;
	rdv_db_close(&fz.db);
	fz_rmdir(fz.dir);
	fz.open = 0;
}

/* The @words of a request body (see the header). */
static size_t fz_word(struct fz_buf *b, const char *w, size_t rest, void *arg)
{
	const struct fz_key *signer = arg;
	size_t n;

	if ((n = fz_is_word(w, rest, "ts"))) {
		fz_put_u(b, FZ_NOW);
	} else if ((n = fz_is_word(w, rest, "nonce"))) {
		uint8_t nb[REGMSG_NONCE_LEN] = {0};
		char nonce[32];
		uint64_t c = ++fz.nonce_ctr;

		memcpy(nb, &c, sizeof(c));
		b64_encode(nonce, sizeof(nonce), nb, sizeof(nb));
		fz_put(b, nonce, strlen(nonce));
	} else if ((n = fz_is_word(w, rest, "id"))) {
		fz_put_u(b, signer ? signer->id : 0);
	} else if ((n = fz_is_word(w, rest, "pk"))) {
		const char *pk = signer ? signer->pk_b64 : fz.keys[0].pk_b64;
		fz_put(b, pk, strlen(pk));
	} else if ((n = fz_is_word(w, rest, "tnet"))) {
		fz_put_u(b, fz.tnet);
	} else if ((n = fz_is_word(w, rest, "net"))) {
		fz_put_u(b, fz.net);
	} else if (rest >= 1 && w[0] >= 'a' && w[0] <= 'c') {
		fz_put_u(b, fz.keys[w[0] - 'a'].id);
		n = 1;
	}
	return n;
}

/* The answer, whatever the request: a status and a JSON body. */
static void fz_check_reply(const struct rdv_reply *rep)
{
	char err[128];
	yajl_val v;

	CHECK(rep->status == 200 || (rep->status >= 400 && rep->status <= 599));
	if (rep->wait_net)
		return; /* parked until the network's key set is fetched */
	if (rep->stream_node) {
		/* an events backlog: JSON lines */
		const char *p = rep->body, *end = rep->body + rep->len;

		CHECK(rep->status == 200);
		while (p && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

			v = json_parse(p, l, 0, err, sizeof(err));
			CHECK(v && YAJL_IS_OBJECT(v));
			yajl_tree_free(v);
			p += l + 1;
		}
		return;
	}
	v = json_parse(rep->body, rep->len, 0, err, sizeof(err));
	CHECK(v && YAJL_IS_OBJECT(v));
	if (rep->status != 200) {
		const char *code = NULL, *msg = NULL;
		yajl_val e = json_get(v, "error");

		CHECK(json_get_str(e, "code", &code) == 0 && code[0]);
		CHECK(json_get_str(e, "message", &msg) == 0);
	}
	yajl_tree_free(v);
}

/* One request line; \retval the HTTP status, 0 for none (no such path). */
static int fz_request(const char *line, size_t len, yajl_val *out)
{
	static const char node_pfx[] = "node/", admin_pfx[] = "admin/";
	const char *sp = memchr(line, ' ', len), *body;
	char path[96], op[REGMSG_OP_MAX + 32], sig[REGMSG_SIG_B64_LEN], who;
	struct fz_key *signer = NULL;
	struct fz_buf b = {0};
	struct rdv_reply rep;
	size_t plen, blen;
	int admin, status;

	if (!sp || (size_t)(sp - line) >= sizeof(op) || len < (size_t)(sp - line) + 2)
		return 0;
	plen = (size_t)(sp - line);
	who = sp[1];
	body = sp + 2 + (len > plen + 2 && sp[2] == ' ');
	blen = len - (size_t)(body - line);
	admin = plen > sizeof(admin_pfx) - 1 && memcmp(line, admin_pfx, sizeof(admin_pfx) - 1) == 0;
	if (!admin &&
	    (plen <= sizeof(node_pfx) - 1 || memcmp(line, node_pfx, sizeof(node_pfx) - 1)))
		return 0; /* rdv_http.c: "no such resource" */
	memcpy(op, line, plen);
	op[plen] = '\0';
	if (memchr(op, '\0', plen))
		return 0; /* a URL path holds no NUL */
	/* Who the body claims to be (@id, @pk): the signer, or node a when
	 * the signature is missing or forged. */
	if (!admin)
		signer = &fz.keys[who >= '1' && who <= '4' ? who - '1' : 0];
	fz_expand_words(&b, body, blen, fz_word, signer);
	if (admin) {
		const char *auth = who == '1'	? "Bearer " FZ_ADMIN_TOKEN
				   : who == '0' ? NULL
						: "Bearer not-the-token";
		CHECK(rdv_admin_handle(&fz.db, FZ_ADMIN_TOKEN, op + sizeof(admin_pfx) - 1, b.p,
				       b.len, auth, FZ_PEER, FZ_NOW, &rep) == 0);
	} else {
		snprintf(path, sizeof(path), "/v1/%s", op);
		if (who >= '1' && who <= '4')
			CHECK(regmsg_sign(signer->sk, path, b.p, b.len, sig) == 0);
		else
			snprintf(sig, sizeof(sig), "%s",
				 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
				 "LS4vMDEyMzQ1Njc4OTo7PD0+Pw==");
		CHECK(rdv_reg_handle(&fz.db, op + sizeof(node_pfx) - 1, b.p, b.len,
				     who == '0' ? NULL : sig, FZ_PEER, FZ_NOW, &rep) == 0);
	}
	fz_check_reply(&rep);
	status = rep.status;
	if (fz.verbose) /* FUZZ_VERBOSE=1: what each request got, for writing seeds */
		fprintf(stderr, "%s %d %.*s\n", op, status, (int)(rep.len > 300 ? 300 : rep.len),
			rep.body ? rep.body : "");
	if (out) {
		char err[64];
		*out = rep.stream_node ? NULL : json_parse(rep.body, rep.len, 0, err, sizeof(err));
	}
	rdv_reply_free(&rep);
	free(b.p);
	return status;
}

/* A baseline request that must succeed; \retval the number \p key of its
 * answer (0 if none asked). */
static uint32_t fz_must(const char *line, const char *key)
{
	yajl_val v = NULL;
	uint32_t id = 0;
	int status = fz_request(line, strlen(line), &v);

	if (status != 200) {
		fprintf(stderr, "fuzz_rdv: baseline request %s answered %d\n", line, status);
		abort();
	}
	if (key)
		CHECK(json_get_u32(v, key, &id) == 0 && id);
	yajl_tree_free(v);
	return id;
}

static void fz_baseline(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(fz.dir, sizeof(fz.dir), "%s/pilot-fuzz-rdv.XXXXXX", tmp);
	CHECK(mkdtemp(fz.dir));
	CHECK(rdv_db_open(&fz.db, fz.dir) == 0);
	fz.open = 1;
	fz.db.admin_token = FZ_ADMIN_TOKEN;
	fz.db.invite_sk = fz.invite_sk;
	CHECK(crypto_sign_ed25519_sk_to_pk(fz.db.invite_pk, fz.invite_sk) == 0);
	CHECK(crypto_sign_ed25519_sk_to_pk(fz.db.audit_pk, fz.audit_sk) == 0);
	fz.db.have_audit_pk = 1;
	memset(fz.db.beacon_pk, 0xbe, sizeof(fz.db.beacon_pk));
	fz.db.beacon_port = 4243;
	fz.db.have_beacon = 1;
	for (int i = 0; i < 4; i++)
		fz.keys[i].id = 0;
	fz.keys[0].id =
	    fz_must("node/register 1 {\"op\":\"register\",\"ts\":@ts,\"nonce\":\"@nonce\","
		    "\"public_key\":\"@pk\",\"listen_port\":4000,\"public\":true,"
		    "\"hostname\":\"alpha\"}",
		    "node_id");
	fz.keys[1].id =
	    fz_must("node/register 2 {\"op\":\"register\",\"ts\":@ts,\"nonce\":\"@nonce\","
		    "\"public_key\":\"@pk\",\"listen_port\":4001,\"public\":false,"
		    "\"hostname\":\"beta\"}",
		    "node_id");
	fz.keys[2].id =
	    fz_must("node/register 3 {\"op\":\"register\",\"ts\":@ts,\"nonce\":\"@nonce\","
		    "\"public_key\":\"@pk\",\"listen_port\":4002,\"public\":false}",
		    "node_id");
	fz.net = fz_must("admin/network_create 1 {\"name\":\"fz-open\",\"join_rule\":\"open\"}",
			 "network_id");
	fz.tnet = fz_must("admin/network_create 1 {\"name\":\"fz-token\",\"join_rule\":\"token\","
			  "\"token\":\"fuzz-network-token-0001\"}",
			  "network_id");
	fz_must("node/network_join 1 {\"op\":\"network_join\",\"node_id\":@id,\"ts\":@ts,"
		"\"nonce\":\"@nonce\",\"network_id\":@net}",
		NULL);
	fz_must("node/network_join 2 {\"op\":\"network_join\",\"node_id\":@id,\"ts\":@ts,"
		"\"nonce\":\"@nonce\",\"network_id\":@tnet,\"token\":\"fuzz-network-token-0001\"}",
		NULL);
	fz_must("node/handshake 1 {\"op\":\"handshake\",\"node_id\":@id,\"ts\":@ts,"
		"\"nonce\":\"@nonce\",\"target\":@c,\"justification\":\"fuzz\"}",
		NULL);
	fz_must("node/approve 3 {\"op\":\"approve\",\"node_id\":@id,\"ts\":@ts,"
		"\"nonce\":\"@nonce\",\"target\":@a}",
		NULL);
	fz_must("admin/org_create 1 {\"name\":\"fz-org\"}", "org_id");
}

static void fz_setup(void)
{
	static int done;
	uint8_t seed[32], pk[32];

	if (done)
		return;
	done = 1;
	fz.verbose = getenv("FUZZ_VERBOSE") != NULL;
	CHECK(sodium_init() >= 0);
	/* Refusals are logged as warnings: only what says "error" is shown. */
	log_init("fuzz_rdv", LOG_LVL_ERROR, LOG_FMT_TEXT);
	for (int i = 0; i < 4; i++)
		fz_keypair(&fz.keys[i], (uint8_t)(0xa1 + i));
	memset(seed, 0x41, sizeof(seed));
	CHECK(crypto_sign_seed_keypair(pk, fz.audit_sk, seed) == 0);
	memset(seed, 0x49, sizeof(seed));
	CHECK(crypto_sign_seed_keypair(pk, fz.invite_sk, seed) == 0);
	atexit(fz_close);
}

/* What the registry's timers do between requests (rdv.c), on the
 * request clock: nonce, invite and token-ID pruning, certificate expiry,
 * audit retention. */
static void fz_maint(void)
{
	(void)rdv_nonce_prune(&fz.db, FZ_NOW);
	(void)rdv_invite_prune(&fz.db, FZ_NOW);
	(void)rdv_jti_prune(&fz.db, FZ_NOW);
	(void)rdv_reg_sweep(&fz.db, FZ_NOW);
	(void)audit_prune(fz.db.audit, FZ_AUDIT_MAX, 0, FZ_NOW, fz.audit_sk, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *s = (const char *)d, *end = s + n;
	int lines = 0;

	fz_setup();
	if (fz.inputs++ % FZ_REBUILD == 0) {
		fz_close();
		fz_baseline();
	}
	while (s < end && lines < FZ_LINES) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);

		if (len)
			(void)fz_request(s, len, NULL);
		lines++;
		s += len + 1;
	}
	if (fz.inputs % FZ_MAINT == 0)
		fz_maint();
	return 0;
}
