/* fuzz_regmsg.c - libFuzzer harness for the registry's untrusted inputs:
 * the input is a request body, parsed for every node operation (and
 * whatever parses has a (wrong) signature checked over it, as the registry
 * would), as an admin body (a policy_set body's policy goes through the
 * registry's path: re-serialised, normalised, parsed; a registration
 * token's ttl through duration_parse), and as an invite.
 * Built by replay_main.c into tests/fuzz/replay_regmsg for make check. */
#include "config.h"

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy.h"
#include "regmsg.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const char *const k_register[] = {"public_key",	       "listen_port", "public",
					 "hostname",	       "restarted",   "behind_nat",
					 "registration_token", NULL};
static const char *const k_heartbeat[] = {"listen_port", NULL};
static const char *const k_lookup[] = {"target", "public_key", NULL};
static const char *const k_handshake[] = {"target", "justification", NULL};
static const char *const k_events[] = {"after", NULL};
static const char *const k_hostname[] = {"hostname", NULL};
static const char *const k_visibility[] = {"public", NULL};
static const char *const k_tags[] = {"tags", NULL};
static const char *const k_rotate[] = {"new_public_key", "proof", NULL};
static const char *const k_join[] = {"network_id", "token", "invite", NULL};
static const char *const k_net[] = {"network_id", NULL};
static const char *const k_none[] = {NULL};
static const char *const k_enroll[] = {"org_id", "token", NULL};
static const char *const k_policy_test[] = {"network_id", "from", "to", "port", NULL};
/* admin bodies */
static const char *const ka_create[] = {"name", "join_rule", "token", "network_id", "org_id", NULL};
static const char *const ka_add[] = {"network_id", "node_id", NULL};
static const char *const ka_name[] = {"name", NULL};
static const char *const ka_org[] = {"org_id", NULL};
static const char *const ka_revoke[] = {"node_id", "org_id", NULL};
static const char *const ka_policy_set[] = {"network_id", "policy", NULL};
static const char *const ka_regtoken[] = {"uses", "ttl", NULL};
static const char *const ka_token_id[] = {"token_id", NULL};
static const char *const ka_key[] = {"public_key", NULL};

static const struct {
	const char *op, *path;
	const char *const *keys;
} ops[] = {
    {"register", "/v1/node/register", k_register},
    {"heartbeat", "/v1/node/heartbeat", k_heartbeat},
    {"lookup", "/v1/node/lookup", k_lookup},
    {"handshake", "/v1/node/handshake", k_handshake},
    {"events", "/v1/node/events", k_events},
    {"inbox", "/v1/node/inbox", k_none},
    {"set_hostname", "/v1/node/set_hostname", k_hostname},
    {"set_visibility", "/v1/node/set_visibility", k_visibility},
    {"set_tags", "/v1/node/set_tags", k_tags},
    {"rotate_key", "/v1/node/rotate_key", k_rotate},
    {"find", "/v1/node/find", k_hostname},
    {"network_join", "/v1/node/network_join", k_join},
    {"network_leave", "/v1/node/network_leave", k_net},
    {"org_enroll", "/v1/node/org_enroll", k_enroll},
    {"policy_show", "/v1/node/policy_show", k_net},
    {"policy_test", "/v1/node/policy_test", k_policy_test},
    {"policy_view", "/v1/node/policy_view", k_net},
};

static const char *const *const admin_keys[] = {
    ka_create, ka_add,	      k_net,	     k_none,	  ka_name,     ka_org,
    ka_revoke, ka_policy_set, k_policy_test, ka_regtoken, ka_token_id, ka_key};

/* A fixed key and a signature that is well-formed but not valid for any
 * of these bodies: the point is to run the verify paths. */
static const uint8_t pk[32] = {0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a, 0x92, 0xb7, 0x0a,
			       0xa7, 0x4d, 0x1b, 0x7e, 0xbc, 0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4,
			       0x96, 0x8c, 0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c};
static const char sig[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
			  "LS4vMDEyMzQ1Njc4OTo7PD0+Pw==";

/* Each parser costs a JSON parse of the body, and most refuse it at once
 * (another op, other members): run the ones that may accept it (the node
 * op it names; policy_set for an admin body with a policy) and one more
 * picked by the input's length, whose refusals are then reached too. */
struct fz_pick {
	char op[REGMSG_OP_MAX]; /* the body's "op", or "" */
	int has_policy;
	size_t n;
};

static void fz_pick_init(struct fz_pick *k, const char *body, size_t n)
{
	yajl_val root = json_parse(body, n, 0, NULL, 0);
	const char *op = NULL;

	k->op[0] = '\0';
	k->n = n;
	k->has_policy = root && json_get(root, "policy") != NULL;
	if (root && json_get_str(root, "op", &op) == 0)
		snprintf(k->op, sizeof(k->op), "%s", op);
	if (root)
		yajl_tree_free(root);
}

static void fuzz_node_bodies(const char *body, size_t n, const struct fz_pick *k)
{
	char err[160];

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct regmsg_req r;
		if (strcmp(k->op, ops[i].op) != 0 && i != k->n % (sizeof(ops) / sizeof(ops[0])))
			continue;
		if (regmsg_parse(ops[i].op, body, n, ops[i].keys, &r, err, sizeof(err)) < 0) {
			if (r.root || !memchr(err, '\0', sizeof(err)))
				__builtin_trap(); /* a failed parse owns nothing */
			continue;
		}
		if (strcmp(r.op, ops[i].op) != 0 || (!r.has_node_id && strcmp(r.op, "register")))
			__builtin_trap();
		(void)regmsg_check_fresh(r.ts, 1700000000000ull);
		if (regmsg_verify(pk, ops[i].path, body, n, sig) == 0)
			__builtin_trap(); /* a forged signature must never verify */
		regmsg_req_free(&r);
	}
}

/* The registry's resolver stand-in: every hostname is node 7. */
static int resolve_any(void *arg, const char *name, uint32_t *node)
{
	(void)arg;
	if (!name[0])
		__builtin_trap(); /* the normaliser hands over only valid names */
	*node = 7;
	return 0;
}

/* policy_set: the body's policy object, serialised again as the registry
 * does, normalised; what normalises must parse, and normalise to itself. */
static void fuzz_policy_set(yajl_val root)
{
	yajl_val pol = json_get(root, "policy");
	char err[192], *canon = NULL, *again = NULL;
	struct policy *p = NULL;
	struct json_gen j;
	const char *text;
	size_t len, clen, alen;

	if (!pol || !YAJL_IS_OBJECT(pol) || json_gen_init(&j) < 0)
		return;
	json_gen_value(&j, pol);
	if (json_gen_finish(&j, &text, &len) == 0 &&
	    policy_normalize(text, len, resolve_any, NULL, &canon, &clen, err, sizeof(err)) == 0) {
		if (policy_parse(canon, clen, &p, err, sizeof(err)) < 0 ||
		    policy_normalize(canon, clen, resolve_any, NULL, &again, &alen, err,
				     sizeof(err)) < 0 ||
		    alen != clen || memcmp(canon, again, clen) != 0)
			__builtin_trap();
	}
	policy_free(p);
	free(canon);
	free(again);
	json_gen_free(&j);
}

/* registration_token's "ttl" as a duration ("12h", "30d"): whatever it
 * says, a parse that succeeds gives seconds a day's multiple can hold. */
static void fuzz_ttl(yajl_val root)
{
	const char *s = NULL;
	uint64_t secs;

	if (json_get_str(root, "ttl", &s) == 0 && duration_parse(s, &secs) == 0 &&
	    secs > UINT64_MAX / 1000)
		__builtin_trap();
}

static void fuzz_admin_bodies(const char *body, size_t n, const struct fz_pick *k)
{
	char err[160];

	for (size_t i = 0; i < sizeof(admin_keys) / sizeof(admin_keys[0]); i++) {
		yajl_val root = NULL;
		if (!(k->has_policy && admin_keys[i] == ka_policy_set) &&
		    i != k->n % (sizeof(admin_keys) / sizeof(admin_keys[0])))
			continue;
		if (regmsg_parse_admin(body, n, admin_keys[i], &root, err, sizeof(err)) < 0) {
			if (root || !memchr(err, '\0', sizeof(err)))
				__builtin_trap();
			continue;
		}
		if (!root || !YAJL_IS_OBJECT(root))
			__builtin_trap();
		if (admin_keys[i] == ka_policy_set)
			fuzz_policy_set(root);
		if (admin_keys[i] == ka_regtoken)
			fuzz_ttl(root);
		yajl_tree_free(root);
	}
}

static void fuzz_invite(const uint8_t *d, size_t n)
{
	struct rdv_invite inv;

	if (rdv_invite_parse((const char *)d, n, &inv) < 0)
		return;
	if (inv.net == 0 || inv.expiry == 0 || inv.payload_len > sizeof(inv.payload))
		__builtin_trap();
	/* Nobody holds pk's secret: no input can carry a valid signature. */
	if (rdv_invite_verify(&inv, pk) == 0)
		__builtin_trap();
}

/* The input as an invite's payload, so that mutations reach the JSON
 * inside the base64url wrapping. */
static void fuzz_invite_payload(const uint8_t *d, size_t n)
{
	static const uint8_t zsig[64];
	char s[RDV_INVITE_MAX + 8];
	size_t o;

	if (n == 0 || n > RDV_INVITE_PAYLOAD_MAX)
		return;
	memcpy(s, "pilot-invite-v1.", 16);
	o = 16;
	sodium_bin2base64(s + o, sizeof(s) - o, d, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	o += strlen(s + o);
	s[o++] = '.';
	sodium_bin2base64(s + o, sizeof(s) - o, zsig, sizeof(zsig),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	fuzz_invite((const uint8_t *)s, strlen(s));
}

/* Property: whatever fields the input picks, a made invite parses back to
 * the same fields and verifies with the maker's key. */
static void fuzz_invite_roundtrip(const uint8_t *d, size_t n)
{
	static uint8_t mpk[32], msk[64];
	static int ready;
	char out[RDV_INVITE_MAX];
	struct rdv_invite inv;
	uint16_t net;
	uint32_t inviter;
	uint64_t expiry = 0;

	if (n < 14)
		return;
	if (!ready) {
		uint8_t seed[32] = {1};
		if (sodium_init() < 0)
			__builtin_trap();
		crypto_sign_seed_keypair(mpk, msk, seed);
		ready = 1;
	}
	net = (uint16_t)(d[0] << 8 | d[1]);
	inviter = (uint32_t)d[2] << 24 | (uint32_t)d[3] << 16 | (uint32_t)d[4] << 8 | d[5];
	for (int i = 0; i < 8; i++)
		expiry = expiry << 8 | d[6 + i];
	if (rdv_invite_make(msk, net, inviter, expiry, out, sizeof(out)) < 0) {
		if (net && inviter && expiry && expiry <= INT64_MAX)
			__builtin_trap();
		return;
	}
	if (rdv_invite_parse(out, strlen(out), &inv) < 0 || inv.net != net ||
	    inv.inviter != inviter || inv.expiry != expiry || rdv_invite_verify(&inv, mpk) < 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct fz_pick k;

	fz_pick_init(&k, (const char *)d, n);
	fuzz_node_bodies((const char *)d, n, &k);
	fuzz_admin_bodies((const char *)d, n, &k);
	fuzz_invite(d, n);
	fuzz_invite_payload(d, n);
	fuzz_invite_roundtrip(d, n);
	return 0;
}
