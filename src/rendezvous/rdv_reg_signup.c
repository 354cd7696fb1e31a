/* rdv_reg_signup.c - who may register a new key (doc/REGISTRY.md
 * "Registration"): the rule of rendezvous.json "registration" (open,
 * token or approval), the registration tokens the admin makes, the
 * registrations held for the admin's approval, and the cap on new
 * identities per source prefix (registrations_per_prefix_hour).
 *
 * Only a key the registry does not know goes through here: a known key
 * registers again whatever the rule (a node's every start is a register).
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "rdv_reg_int.h"
#include "util.h"

#define TOKEN_TEXT_MAX 256	      /* what a registration token may be on the wire */
#define TOKEN_TTL_DEFAULT_S 86400     /* a token made without --ttl lasts a day */
#define TOKEN_TTL_MAX_S (366 * 86400) /* and at most a year */
#define TOKEN_USES_MAX 1000000	      /* uses one token may have */
#define KEY_PREFIX_MIN 6	      /* characters of a key's base64 an admin may give */
#define B64_KEY_LEN 44		      /* an Ed25519 key in base64 */

static const char *const refusal_names[] = {
    [RDV_REFUSED_TOKEN_MISSING] = "token_required",
    [RDV_REFUSED_TOKEN_BAD] = "token_invalid",
    [RDV_REFUSED_PENDING] = "pending",
    [RDV_REFUSED_REJECTED] = "rejected",
    [RDV_REFUSED_PREFIX_CAP] = "prefix_limit",
};
_Static_assert(nitems(refusal_names) == nitems(((struct rdv_reg_stats *)0)->refused),
	       "one counter per refusal");

const char *rdv_reg_refusal_name(int i)
{
	return i >= 0 && i < (int)nitems(refusal_names) ? refusal_names[i] : NULL;
}

static const char *state_name(uint8_t state)
{
	return state == RDV_SIGNUP_PENDING    ? "pending"
	       : state == RDV_SIGNUP_REJECTED ? "rejected"
					      : "approved";
}

static void token_id_hex(const uint8_t id[RDV_REGTOK_ID_LEN], char out[2 * RDV_REGTOK_ID_LEN + 1])
{
	sodium_bin2hex(out, 2 * RDV_REGTOK_ID_LEN + 1, id, RDV_REGTOK_ID_LEN);
}

/* ------------------------------------------------------------ the rule */

/* A refusal of a new key's registration, counted for the metrics. */
static void count_refusal(struct reg_ctx *c, enum rdv_reg_refusal why)
{
	c->db->reg_stats.refused[why]++;
}

/* May one more new identity come from the signer's prefix?  It is
 * counted once the request commits. */
static int prefix_take(struct reg_ctx *c)
{
	uint32_t cap = c->db->reg_per_prefix_hour;
	char text[RDV_PREFIX_TEXT_MAX];
	int rc;

	/* A source that is no address (the registry itself) is not counted. */
	if (!cap || rdv_prefix_key(c->peer_ip, c->newkey_prefix, text) < 0)
		return 0;
	rc = rdv_newkeys_check(&c->db->newkeys, c->newkey_prefix, cap, c->now);
	if (rc == -EBUSY || rc == -ENOSPC) {
		count_refusal(c, RDV_REFUSED_PREFIX_CAP);
		if (rc == -ENOSPC)
			return reg_fail_code(c, -EBUSY, "registration_limited",
					     "registration.refused",
					     "too many source prefixes registered new identities "
					     "this hour; try again later");
		return reg_fail_code(c, -EBUSY, "registration_limited", "registration.refused",
				     "too many new identities from %s in the last hour "
				     "(registrations_per_prefix_hour %u); try again later",
				     text, cap);
	}
	c->newkey_count = 1;
	return 0;
}

/* Take one use of registration token \p tok: it must be one the admin
 * made, not expired, not used up.  An unknown token and a wrong one are
 * the same refusal; only the holder of a real token learns more. */
static int token_take(struct reg_ctx *c, const char *tok)
{
	struct rdv_regtoken rt;
	uint8_t h[32];
	size_t len = strlen(tok);
	int rc = -ENOENT;

	if (len > 0 && len <= TOKEN_TEXT_MAX) {
		crypto_hash_sha256(h, (const uint8_t *)tok, len);
		rc = rdv_regtoken_get(&c->t, c->db, h, &rt);
		if (rc == 0 && sodium_memcmp(rt.hash, h, sizeof(h)) != 0)
			rc = -ENOENT;
	}
	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	if (rc == -ENOENT) {
		count_refusal(c, RDV_REFUSED_TOKEN_BAD);
		return reg_fail_code(c, -EACCES, "registration_token_invalid",
				     "registration.refused", "no such registration token");
	}
	token_id_hex(rt.id, c->token_id);
	if (c->now >= rt.expires_ms) {
		count_refusal(c, RDV_REFUSED_TOKEN_BAD);
		return reg_fail_code(c, -EACCES, "registration_token_expired",
				     "registration.refused",
				     "registration token %s expired at %llu (Unix s)", c->token_id,
				     (unsigned long long)(rt.expires_ms / 1000));
	}
	if (rt.uses >= rt.uses_max) {
		count_refusal(c, RDV_REFUSED_TOKEN_BAD);
		return reg_fail_code(c, -EACCES, "registration_token_used", "registration.refused",
				     "registration token %s is used up (%u of %u uses)",
				     c->token_id, rt.uses, rt.uses_max);
	}
	rt.uses++;
	rt.last_used_ms = c->now;
	rdv_regtoken_put(&c->t, c->db, &rt);
	c->signup_via = "token";
	return 0;
}

static void audit_pending(struct reg_ctx *c, const struct rdv_signup *s)
{
	struct json_gen d;

	if (reg_audit_begin(c, &d) < 0)
		return;
	jg_kb64(&d, "public_key", s->pk, sizeof(s->pk));
	jg_kstr(&d, "hostname", s->hostname);
	reg_audit_end(c, &d, "registration.pending", "");
}

/* "approval": a key the admin approved comes in; a rejected one is
 * refused; any other is held (and kept, the first time) until the admin
 * decides.  \retval 0 in, 1 held, or the refusal. */
static int approval_take(struct reg_ctx *c, const char *host)
{
	struct rdv_signup s;
	char b64[B64_KEY_LEN + 1];
	int rc = rdv_signup_get(&c->t, c->db, c->pk, &s);

	if (rc < 0 && rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	if (rc == 0 && s.state == RDV_SIGNUP_APPROVED) {
		/* Counted against its prefix when it first asked. */
		rdv_signup_del(&c->t, c->db, c->pk);
		c->signup_via = "approval";
		return 0;
	}
	b64_encode(b64, sizeof(b64), c->pk, sizeof(c->pk));
	if (rc == 0 && s.state == RDV_SIGNUP_REJECTED) {
		/* Audited once, when the admin rejected it: a node that keeps
		 * trying must not write a record each time. */
		count_refusal(c, RDV_REFUSED_REJECTED);
		return reg_fail_code(c, -EACCES, "registration_rejected", NULL,
				     "the deployment admin rejected the registration of key %s",
				     b64);
	}
	if (rc == -ENOENT) {
		if ((rc = prefix_take(c)) < 0)
			return rc;
		if (rdv_signup_pending_count(&c->t, c->db) >= RDV_SIGNUP_MAX) {
			count_refusal(c, RDV_REFUSED_PREFIX_CAP);
			return reg_fail_code(c, -EBUSY, "registration_limited",
					     "registration.refused",
					     "%d registrations already wait for approval; try "
					     "again later",
					     RDV_SIGNUP_MAX);
		}
		memset(&s, 0, sizeof(s));
		memcpy(s.pk, c->pk, sizeof(s.pk));
		s.state = RDV_SIGNUP_PENDING;
		s.first_ms = c->now;
		c->signup_new_pending = 1;
	}
	/* A node asks again every few seconds while it waits: the record is
	 * written when something an admin sees changed, or hourly (it is
	 * forgotten RDV_SIGNUP_KEEP_MS after the last). */
	if (c->signup_new_pending || strcmp(s.ip, c->peer_ip) != 0 ||
	    strcmp(s.hostname, host) != 0 || c->now >= s.last_ms + RDV_SIGNUP_TOUCH_MS) {
		s.last_ms = c->now;
		snprintf(s.ip, sizeof(s.ip), "%s", c->peer_ip);
		snprintf(s.hostname, sizeof(s.hostname), "%s", host);
		rdv_signup_put(&c->t, c->db, &s);
	}
	if (c->signup_new_pending) {
		audit_pending(c, &s);
		log_info("registration of key %s from %s waits for the admin's approval", b64,
			 c->peer_ip);
	}
	count_refusal(c, RDV_REFUSED_PENDING);
	c->held = -EACCES;
	reg_fail_code(c, -EACCES, "registration_pending", NULL,
		      "the registration of key %s waits for the deployment admin: pilotctl "
		      "registration approve %.12s",
		      b64, b64);
	return 1;
}

int reg_signup_check(struct reg_ctx *c, const char *host)
{
	const char *tok = NULL;
	int rc = json_get_str(c->req.root, "registration_token", &tok);

	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'registration_token' must be a string");
	if (c->db->reg_rule == RDV_REG_OPEN) {
		c->signup_via = "open";
		return prefix_take(c);
	}
	/* A token lets a key in under either rule, approval included: the
	 * admin who made it approved its holders beforehand. */
	if (tok) {
		if ((rc = prefix_take(c)) < 0)
			return rc;
		return token_take(c, tok);
	}
	if (c->db->reg_rule == RDV_REG_TOKEN) {
		count_refusal(c, RDV_REFUSED_TOKEN_MISSING);
		return reg_fail_code(
		    c, -EACCES, "registration_token_required", "registration.refused",
		    "this registry takes a new key only with a registration token "
		    "(pilotd --registration-token; pilotctl registration token makes "
		    "one)");
	}
	return approval_take(c, host);
}

/* ------------------------------------------------------------ admin: tokens */

/* Member "ttl": seconds, or a duration ("12h", "30d"). */
static int get_ttl(struct reg_ctx *c, uint64_t *ttl)
{
	yajl_val v = json_get(c->req.root, "ttl");
	const char *s = NULL;
	uint32_t n;

	*ttl = TOKEN_TTL_DEFAULT_S;
	if (!v)
		return 0;
	if (json_get_u32(c->req.root, "ttl", &n) == 0)
		*ttl = n;
	else if (json_get_str(c->req.root, "ttl", &s) < 0 || duration_parse(s, ttl) < 0)
		*ttl = 0;
	if (*ttl == 0 || *ttl > TOKEN_TTL_MAX_S)
		return reg_fail(c, -EINVAL,
				"member 'ttl' must be 1 s to 366 days (seconds, or a duration such "
				"as 12h or 30d)");
	return 0;
}

int reg_admin_registration_token(struct reg_ctx *c)
{
	char tok[REG_SECRET_MAX], id[2 * RDV_REGTOK_ID_LEN + 1];
	struct rdv_regtoken rt = {0};
	struct json_gen d;
	uint64_t ttl;
	uint32_t uses = 1;
	int rc;

	if ((rc = get_ttl(c, &ttl)) < 0)
		return rc;
	rc = json_get_u32(c->req.root, "uses", &uses);
	if ((rc < 0 && json_get(c->req.root, "uses")) || uses == 0 || uses > TOKEN_USES_MAX)
		return reg_fail(c, -EINVAL, "member 'uses' must be 1 to %d", TOKEN_USES_MAX);
	reg_new_secret(tok, rt.hash);
	memcpy(rt.id, rt.hash, sizeof(rt.id));
	rt.created_ms = c->now;
	rt.expires_ms = c->now + ttl * 1000;
	rt.uses_max = uses;
	rdv_regtoken_put(&c->t, c->db, &rt);
	token_id_hex(rt.id, id);
	/* Shown once, here; the reply is sent only if this commits. */
	jg_kstr(&c->out, "token", tok);
	jg_kstr(&c->out, "token_id", id);
	jg_ku64(&c->out, "expires_at", rt.expires_ms / 1000);
	jg_ku64(&c->out, "uses", uses);
	sodium_memzero(tok, sizeof(tok));
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "token_id", id);
		jg_ku64(&d, "uses", uses);
		jg_ku64(&d, "expires_at", rt.expires_ms / 1000);
		reg_audit_end(c, &d, "registration.token_made", "");
	}
	log_info("admin from %s: made registration token %s (%u uses, %llu s)", c->peer_ip, id,
		 uses, (unsigned long long)ttl);
	return 0;
}

static int token_out(void *arg, const struct rdv_regtoken *t)
{
	struct reg_ctx *c = arg;
	struct json_gen *j = &c->out;
	char id[2 * RDV_REGTOK_ID_LEN + 1];

	token_id_hex(t->id, id);
	jg_map_open(j);
	jg_kstr(j, "token_id", id);
	jg_kstr(j, "state",
		c->now >= t->expires_ms	 ? "expired"
		: t->uses >= t->uses_max ? "used"
					 : "valid");
	jg_ku64(j, "created", t->created_ms / 1000);
	jg_ku64(j, "expires_at", t->expires_ms / 1000);
	jg_ku64(j, "uses", t->uses);
	jg_ku64(j, "uses_max", t->uses_max);
	if (t->last_used_ms)
		jg_ku64(j, "last_used", t->last_used_ms / 1000);
	jg_map_close(j);
	return 0;
}

int reg_admin_registration_tokens(struct reg_ctx *c)
{
	jg_key(&c->out, "tokens");
	jg_array_open(&c->out);
	if (rdv_regtoken_iter(&c->t, c->db, token_out, c) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

int reg_admin_registration_token_revoke(struct reg_ctx *c)
{
	uint8_t id[RDV_REGTOK_ID_LEN];
	struct rdv_regtoken rt;
	const char *hex = NULL;
	size_t n = 0;
	int rc;

	if (json_get_str(c->req.root, "token_id", &hex) < 0 || strlen(hex) != 2 * sizeof(id) ||
	    sodium_hex2bin(id, sizeof(id), hex, strlen(hex), NULL, &n, NULL) < 0 || n != sizeof(id))
		return reg_fail(c, -EINVAL,
				"member 'token_id' must be %zu hex digits (as "
				"registration tokens lists it)",
				2 * sizeof(id));
	rc = rdv_regtoken_get(&c->t, c->db, id, &rt);
	if ((rc = reg_store_rc(c, rc, -ENOENT, "no such registration token")) < 0)
		return rc;
	rdv_regtoken_del(&c->t, c->db, id);
	jg_kstr(&c->out, "token_id", hex);
	{
		struct json_gen d;
		if (reg_audit_begin(c, &d) == 0) {
			jg_kstr(&d, "token_id", hex);
			jg_ku64(&d, "uses", rt.uses);
			reg_audit_end(c, &d, "registration.token_revoked", "");
		}
	}
	log_info("admin from %s: revoked registration token %s", c->peer_ip, hex);
	return 0;
}

/* ------------------------------------------------------------ admin: held */

static void put_signup(struct json_gen *j, const struct rdv_signup *s)
{
	jg_map_open(j);
	jg_kb64(j, "public_key", s->pk, sizeof(s->pk));
	jg_kstr(j, "state", state_name(s->state));
	jg_ku64(j, "first_seen", s->first_ms / 1000);
	jg_ku64(j, "last_seen", s->last_ms / 1000);
	if (s->decided_ms)
		jg_ku64(j, "decided", s->decided_ms / 1000);
	jg_kstr(j, "ip", s->ip);
	jg_kstr(j, "hostname", s->hostname);
	jg_map_close(j);
}

static int signup_out(void *arg, const struct rdv_signup *s)
{
	put_signup(arg, s);
	return 0;
}

int reg_admin_registration_pending(struct reg_ctx *c)
{
	jg_key(&c->out, "registrations");
	jg_array_open(&c->out);
	if (rdv_signup_iter(&c->t, c->db, signup_out, &c->out) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

/* The records whose key's base64 starts with what the admin gave. */
struct key_match {
	const char *prefix;
	size_t len, n;
	struct rdv_signup found;
};

static int key_match_cb(void *arg, const struct rdv_signup *s)
{
	struct key_match *m = arg;
	char b64[B64_KEY_LEN + 1];

	b64_encode(b64, sizeof(b64), s->pk, sizeof(s->pk));
	if (strncmp(b64, m->prefix, m->len) == 0) {
		m->found = *s;
		m->n++;
	}
	return 0;
}

/* Member "public_key": a held registration's key, in base64 or as its
 * first KEY_PREFIX_MIN or more characters when they name one alone.
 * Approving a whole key that never asked approves it beforehand.
 * \retval 0 with *s (s->state 0 for such a new one), or the refusal. */
static int find_signup(struct reg_ctx *c, struct rdv_signup *s, int approve)
{
	struct key_match m = {0};
	uint8_t pk[33];
	const char *k = NULL;

	if (json_get_str(c->req.root, "public_key", &k) < 0 || strlen(k) < KEY_PREFIX_MIN ||
	    strlen(k) > B64_KEY_LEN)
		return reg_fail(
		    c, -EINVAL,
		    "member 'public_key' must be a key in base64, or at least %d of its "
		    "first characters",
		    KEY_PREFIX_MIN);
	m.prefix = k;
	m.len = strlen(k);
	if (rdv_signup_iter(&c->t, c->db, key_match_cb, &m) < 0)
		return reg_fail(c, -EIO, "registry store error");
	if (m.n > 1)
		return reg_fail(c, -EINVAL,
				"'%s' starts %zu held registrations' keys; give more of it", k,
				m.n);
	if (m.n == 1) {
		*s = m.found;
		return 0;
	}
	if (!approve || m.len != B64_KEY_LEN || b64_decode(pk, sizeof(pk), k) != 32)
		return reg_fail(c, -ENOENT, "no registration waits with key %s", k);
	memset(s, 0, sizeof(*s));
	memcpy(s->pk, pk, 32);
	s->first_ms = s->last_ms = c->now;
	return 0;
}

static int decide(struct reg_ctx *c, uint8_t state)
{
	const char *type =
	    state == RDV_SIGNUP_APPROVED ? "registration.approved" : "registration.rejected";
	uint32_t id;
	struct rdv_signup s;
	struct json_gen d;
	uint8_t before;
	int rc;

	if ((rc = find_signup(c, &s, state == RDV_SIGNUP_APPROVED)) < 0)
		return rc;
	/* A key that registered meanwhile (a token, another rule) is a node. */
	rc = rdv_key_get(&c->t, c->db, s.pk, &id);
	if (rc != -ENOENT)
		return rc < 0 && rc != -EKEYREVOKED && rc != -EKEYREJECTED
			   ? reg_fail(c, -EIO, "registry store error")
			   : reg_fail(c, -EEXIST, "that key is node %u's already", id);
	before = s.state;
	s.state = state;
	s.decided_ms = c->now;
	rdv_signup_put(&c->t, c->db, &s);
	jg_kb64(&c->out, "public_key", s.pk, sizeof(s.pk));
	jg_kstr(&c->out, "state", state_name(state));
	if (reg_audit_begin(c, &d) == 0) {
		jg_kb64(&d, "public_key", s.pk, sizeof(s.pk));
		jg_kstr(&d, "previous", before ? state_name(before) : "none");
		jg_kstr(&d, "ip", s.ip);
		jg_kstr(&d, "hostname", s.hostname);
		reg_audit_end(c, &d, type, "");
	}
	c->signup_decided = state; /* counted once it commits */
	log_info("admin from %s: %s the registration of a key asked from %s", c->peer_ip,
		 state == RDV_SIGNUP_APPROVED ? "approved" : "rejected", s.ip[0] ? s.ip : "-");
	return 0;
}

int reg_admin_registration_approve(struct reg_ctx *c)
{
	return decide(c, RDV_SIGNUP_APPROVED);
}

int reg_admin_registration_reject(struct reg_ctx *c)
{
	return decide(c, RDV_SIGNUP_REJECTED);
}

/* ------------------------------------------------------------ upkeep */

size_t rdv_reg_pending_count(struct rdv_db *db)
{
	struct store_txn t;
	size_t n;

	store_txn_begin(db->st, &t, 1);
	n = rdv_signup_pending_count(&t, db);
	store_txn_abort(&t);
	return n;
}

int rdv_reg_signup_prune(struct rdv_db *db, uint64_t now_ms)
{
	int a = rdv_regtoken_prune(db, now_ms), b = rdv_signup_prune(db, now_ms);

	if (a < 0)
		log_warnx("pruning expired registration tokens: %s", strerror(-a));
	if (b < 0)
		log_warnx("pruning old held registrations: %s", strerror(-b));
	return a < 0 ? a : b < 0 ? b : 0;
}
