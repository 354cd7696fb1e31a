/* regmsg.h - the registry request envelope (doc/REGISTRY.md): signing on
 * the node, parsing and verification on the registry.  The one parser of
 * untrusted registry requests; fuzzed by tests/fuzz/fuzz_regmsg.c. */
#ifndef PILOT_REGMSG_H
#define PILOT_REGMSG_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "policy.h"

/* Request bodies: every request at most REGMSG_MAX_BODY, except the admin
 * policy_set, which carries a whole policy (POLICY_MAX_BYTES) in its
 * envelope.  The HTTP layer reads no more than REGMSG_MAX_POLICY_BODY of
 * any request; the handlers hold each op to its own limit. */
#define REGMSG_MAX_BODY (16 * 1024)
#define REGMSG_MAX_POLICY_BODY (POLICY_MAX_BYTES + POLICY_ENVELOPE_MAX)
#define REGMSG_MAX_SKEW_MS 60000
#define REGMSG_NONCE_LEN 16
#define REGMSG_SIG_B64_LEN 89 /* 64 bytes base64 + NUL */
#define REGMSG_OP_MAX 24

struct regmsg_req {
	char op[REGMSG_OP_MAX];
	int has_node_id;
	uint32_t node_id;
	uint64_t ts;
	uint8_t nonce[REGMSG_NONCE_LEN];
	yajl_val root; /* owned; free with regmsg_req_free */
};

/** Sign "pilot-registry-request-v1\n" || "POST " path "\n" || body.
 *  \p sig_b64 gets REGMSG_SIG_B64_LEN bytes. \retval 0 or -errno. */
int regmsg_sign(const uint8_t ed_sk[64], const char *path, const char *body, size_t len,
		char *sig_b64);
/** \retval 0, or -EBADMSG (bad encoding or signature). */
int regmsg_verify(const uint8_t ed_pk[32], const char *path, const char *body, size_t len,
		  const char *sig_b64);

/** Parse and check the envelope of a node request for \p op (from the
 *  path): size, JSON object, `op` equal to \p op, `node_id` (required
 *  unless op is "register"), `ts`, `nonce`, and that every member is in
 *  the common set or in \p op_keys (NULL-terminated).  Does not check
 *  freshness or the signature.  On error \p err gets a one-line reason.
 *  \retval 0, -E2BIG, -EINVAL. */
int regmsg_parse(const char *op, const char *body, size_t len, const char *const *op_keys,
		 struct regmsg_req *out, char *err, size_t errlen);
void regmsg_req_free(struct regmsg_req *r);
/** \retval 0 if |ts - now| <= REGMSG_MAX_SKEW_MS, else -ESTALE. */
int regmsg_check_fresh(uint64_t ts, uint64_t now_ms);

/** Node side: build the body of a request.  Writes the common members
 *  (op, node_id unless 0 and op is register, ts, fresh random nonce) then
 *  calls \p add to add the op's own members to the open map.
 *  \p out is malloc'd, NUL-terminated; caller frees. \retval 0 or -errno. */
struct json_gen;
typedef void (*regmsg_add_fn)(struct json_gen *j, void *arg);
int regmsg_build(const char *op, uint32_t node_id, uint64_t now_ms, regmsg_add_fn add, void *arg,
		 char **out, size_t *outlen);

/** Parse the body of an admin request (POST /v1/admin/OP): a JSON object
 *  (an empty body counts as {}) with no member outside \p keys
 *  (NULL-terminated) and none twice.  \p *root is owned by the caller
 *  (yajl_tree_free).  \retval 0, -E2BIG, -EINVAL with \p err filled. */
int regmsg_parse_admin_max(const char *body, size_t len, size_t max, const char *const *keys,
			   yajl_val *root, char *err, size_t errlen);
/** regmsg_parse_admin_max with \p max REGMSG_MAX_BODY. */
int regmsg_parse_admin(const char *body, size_t len, const char *const *keys, yajl_val *root,
		       char *err, size_t errlen);

/* Invites (doc/REGISTRY.md "Invites"):
 *   pilot-invite-v1.<b64url(payload)>.<b64url(signature)>
 * payload {"n":NET,"i":INVITER,"e":EXPIRY_UNIX_S,"r":"<b64 16 bytes>"},
 * signed by the inviter over "pilot-invite-v1\n" || payload bytes.
 * INVITER 0 (RDV_INVITER_REGISTRY) is the registry itself: an admin's
 * invite, signed with the registry's invite key. */
#define RDV_INVITE_MAX 512	   /* longest invite accepted, with the NUL */
#define RDV_INVITE_PAYLOAD_MAX 256 /* longest decoded payload accepted */
#define RDV_INVITE_MAX_LIFE_S (7 * 24 * 3600)
#define RDV_INVITER_REGISTRY 0 /* "i" of an invite the registry made for an admin */

struct rdv_invite {
	uint16_t net;	  /* 1..65535 */
	uint32_t inviter; /* node ID, or RDV_INVITER_REGISTRY */
	uint64_t expiry;  /* Unix seconds */
	uint8_t r[16];	  /* single-use random part */
	uint8_t sig[64];
	size_t payload_len;
	uint8_t payload[RDV_INVITE_PAYLOAD_MAX]; /* the signed bytes, as received */
};

/** Make an invite to network \p net (not 0) from node \p inviter (or
 *  RDV_INVITER_REGISTRY, signed with the registry's invite key),
 *  valid until \p expiry_unix (seconds, 1..INT64_MAX), signed with
 *  \p ed_sk; \p out
 *  gets it NUL-terminated (RDV_INVITE_MAX bytes always suffice).
 *  \retval 0, -EINVAL, -ENOSPC or -ENOMEM. */
int rdv_invite_make(const uint8_t ed_sk[64], uint16_t net, uint32_t inviter, uint64_t expiry_unix,
		    char *out, size_t outlen);
/** Parse the untrusted invite \p s (\p len bytes, need not be
 *  NUL-terminated): format, payload members and their ranges.  Does not
 *  check the signature (rdv_invite_verify), expiry or use.
 *  \retval 0 or -EINVAL. */
int rdv_invite_parse(const char *s, size_t len, struct rdv_invite *out);
/** \retval 0 if \p inv's signature verifies with \p ed_pk, else -EBADMSG. */
int rdv_invite_verify(const struct rdv_invite *inv, const uint8_t ed_pk[32]);

/** The members of admin network_create (NULL-terminated): what the
 *  registry accepts and what pilotd passes through from pilotctl. */
extern const char *const regmsg_network_create_keys[];

#endif
