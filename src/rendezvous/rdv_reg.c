/* rdv_reg.c - node and admin requests of doc/REGISTRY.md against the
 * registry store.
 *
 * Every request runs in one LMDB write transaction: the checks read, the
 * operation writes, the nonce is recorded, the audit record is appended,
 * and all of it commits together or not at all.  The daemon is
 * single-threaded, so holding the one LMDB writer for the length of a
 * request costs nothing.  Refusals that look like attacks (forged, stale
 * or replayed requests, wrong admin tokens) change nothing, but are
 * audited afterwards in a small transaction of their own.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "audit.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rdv.h"
#include "regmsg.h"
#include "util.h"

#define PATH_PREFIX "/v1/node/"
#define PILOT_SUFFIX ".pilot"
#define ROTATE_DOMAIN "pilot-rotate-key-v1\n"
#define NET_TOKEN_MIN 16
#define NET_TOKEN_MAX 1024
#define SYNCED_LINE "{\"seq\":0,\"event\":\"synced\"}"
#define ORG_TOKEN_BYTES 32
#define AUDIT_LIST_MAX 256 /* IDs listed in one audit record's details */

/* A growable set of node IDs (event audiences, revoked peers). */
struct idset {
	uint32_t *v;
	size_t n, cap;
};

struct reg_ctx {
	struct rdv_db *db;
	struct store_txn t;
	struct regmsg_req req;
	const char *peer_ip;
	uint64_t now;
	struct rdv_node self; /* the signer's record, if have_self */
	int have_self;
	uint32_t self_id;    /* 0 until known: a key's first registration */
	uint8_t pk[32];	     /* the signer's key */
	int key_retired;     /* register: the body's key was retired */
	int key_revoked;     /* register: the body's key belongs to a revoked node */
	int refused_revoked; /* refused as "revoked": a security record */
	int admin;	     /* an admin request: no signer */
	uint32_t org_scope;  /* admin request with an org's admin token: that org */
	const char *body;    /* the request body as received (admin requests) */
	size_t body_len;
	struct json_gen out; /* the response object, open */
	/* events: the backlog, as JSON lines */
	int streaming;
	char *lines;
	size_t nlines, caplines;
	uint64_t stream_seq;
	struct idset notify; /* nodes with new events: woken after the commit */
	uint32_t inviter;    /* network_join by invite: who made it (audit) */
	int invited;	     /* ... by invite (inviter 0: an admin's) */
	char msg[192];
};

typedef int (*reg_fn)(struct reg_ctx *c);

struct reg_op {
	const char *name;
	const char *const *keys; /* the op's own members */
	reg_fn fn;
	int org_ok; /* admin: an org's admin token may use it (the op checks scope) */
};

static int fail(struct reg_ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reg_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return err;
}

/* ---------------------------------------------------------------- replies */

static const struct {
	int err;
	int status;
	const char *code;
} err_map[] = {
    {-EINVAL, 400, "bad_request"}, {-EBADMSG, 401, "bad_signature"}, {-ESTALE, 401, "stale"},
    {-EALREADY, 409, "replay"},	   {-E2BIG, 413, "too_large"},	     {-ENOENT, 404, "not_found"},
    {-EACCES, 403, "forbidden"},   {-EEXIST, 409, "conflict"},	     {-EBUSY, 429, "rate_limited"},
    {-EAGAIN, 503, "unavailable"}, {-ENOSPC, 503, "unavailable"},    {-EPERM, 401, "unauthorized"},
};

static size_t err_index(int err)
{
	for (size_t i = 0; i < nitems(err_map); i++)
		if (err_map[i].err == err)
			return i;
	return nitems(err_map);
}

/* Outcomes as metrics labels: success, then every code a reply can carry. */
static const char *const outcome_names[RDV_OUTCOMES] = {
    "ok",	   "bad_request",  "bad_signature", "stale",	"replay",
    "too_large",   "not_found",	   "forbidden",	    "conflict", "rate_limited",
    "unavailable", "unauthorized", "internal",
};

const char *rdv_outcome_name(int i)
{
	return i >= 0 && i < RDV_OUTCOMES ? outcome_names[i] : NULL;
}

static int outcome_of(const char *code)
{
	for (int i = 1; i < RDV_OUTCOMES; i++)
		if (strcmp(outcome_names[i], code) == 0)
			return i;
	return RDV_OUTCOMES - 1; /* internal */
}

static int reply_take(struct rdv_reply *rep, int status, struct json_gen *j)
{
	const char *s;
	size_t len;

	if (json_gen_finish(j, &s, &len) < 0)
		return -ENOMEM;
	rep->body = malloc(len + 1);
	if (!rep->body)
		return -ENOMEM;
	memcpy(rep->body, s, len);
	rep->body[len] = '\0';
	rep->len = len;
	rep->status = status;
	return 0;
}

int rdv_reply_error(struct rdv_reply *rep, int err, const char *msg)
{
	size_t i = err_index(err);
	struct json_gen j;
	int ret;

	free(rep->body);
	memset(rep, 0, sizeof(*rep));
	ret = json_gen_init(&j);
	if (ret < 0)
		return ret;
	jg_map_open(&j);
	jg_key(&j, "error");
	jg_map_open(&j);
	jg_kstr(&j, "code", i < nitems(err_map) ? err_map[i].code : "internal");
	jg_kstr(&j, "message", msg && msg[0] ? msg : "request refused");
	jg_map_close(&j);
	jg_map_close(&j);
	ret = reply_take(rep, i < nitems(err_map) ? err_map[i].status : 500, &j);
	rep->outcome = outcome_of(i < nitems(err_map) ? err_map[i].code : "internal");
	json_gen_free(&j);
	return ret;
}

void rdv_reply_free(struct rdv_reply *rep)
{
	free(rep->body);
	memset(rep, 0, sizeof(*rep));
}

int rdv_endpoint_format(char *out, size_t len, const char *ip, uint16_t port)
{
	int n;

	if (strchr(ip, ':'))
		n = snprintf(out, len, "[%s]:%u", ip, port);
	else
		n = snprintf(out, len, "%s:%u", ip, port);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* ---------------------------------------------------------------- helpers */

static void put_lookup(struct json_gen *j, const struct rdv_node *n)
{
	struct pilot_addr a = {0, n->id};
	char abuf[PILOT_ADDR_STRLEN];

	jg_ku64(j, "node_id", n->id);
	jg_kb64(j, "public_key", n->pk, sizeof(n->pk));
	jg_kstr(j, "address", addr_format(&a, abuf));
	jg_kstr(j, "hostname", n->hostname);
	jg_kbool(j, "public", n->public);
}

static int get_port(struct reg_ctx *c, uint16_t *port)
{
	uint32_t v;

	if (json_get_u32(c->req.root, "listen_port", &v) < 0 || v > 65535)
		return fail(c, -EINVAL, "member 'listen_port' must be a port number");
	*port = (uint16_t)v;
	return 0;
}

static int idset_add(struct idset *s, uint32_t id)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		uint32_t *nv = realloc(s->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = id;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void idset_sort_unique(struct idset *s)
{
	size_t o = 0;

	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
	for (size_t i = 0; i < s->n; i++)
		if (o == 0 || s->v[o - 1] != s->v[i])
			s->v[o++] = s->v[i];
	s->n = o;
}

static void idset_free(struct idset *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* rdv_id_cb collecting into an idset. */
static int idset_cb(void *arg, uint32_t id)
{
	return idset_add(arg, id);
}

static const struct {
	uint8_t rule;
	const char *name;
} join_rules[] = {
    {RDV_JOIN_OPEN, "open"},
    {RDV_JOIN_TOKEN, "token"},
    {RDV_JOIN_INVITE, "invite"},
};

static const char *join_rule_name(uint8_t rule)
{
	for (size_t i = 0; i < nitems(join_rules); i++)
		if (join_rules[i].rule == rule)
			return join_rules[i].name;
	return "unknown";
}

static void put_network(struct json_gen *j, const struct rdv_network *n)
{
	jg_ku64(j, "network_id", n->id);
	jg_kstr(j, "name", n->name);
	jg_kstr(j, "join_rule", join_rule_name(n->rule));
	jg_ku64(j, "members", n->members);
}

static int get_target(struct reg_ctx *c, uint32_t *id)
{
	if (json_get_u32(c->req.root, "target", id) < 0 || *id == 0)
		return fail(c, -EINVAL, "member 'target' must be a node ID");
	return 0;
}

/* Read a node the request names.  Store failures other than "absent"
 * become internal errors, never not_found. */
static int load_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n)
{
	int rc = rdv_node_get(&c->t, c->db, id, n);

	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	return 0;
}

/* A node the signer wants to see: absent, deregistered and invisible are
 * all answered with the same not_found, so existence does not leak. */
static int visible_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n)
{
	int rc = load_node(c, id, n);

	if (rc == -ENOENT || (rc == 0 && !rdv_visible(&c->t, c->db, c->self_id, n)))
		return fail(c, -ENOENT, "no such node");
	return rc;
}

/* A node that must exist and be registered (the target of a handshake). */
static int active_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n)
{
	int rc = load_node(c, id, n);

	if (rc == -ENOENT || (rc == 0 && !n->active))
		return fail(c, -ENOENT, "no such node");
	return rc;
}

/* Hostnames are DNS labels ("NAME.pilot"): letters, digits and '-', not at
 * either end, kept in lower case.  All-digit names are refused: they would
 * read as node IDs wherever a TARGET may be either.
 * \retval NULL with \p out canonical, or the rule \p in breaks. */
static const char *hostname_norm(const char *in, char out[RDV_HOSTNAME_MAX + 1])
{
	size_t n = strlen(in), digits = 0;

	if (n == 0 || n > RDV_HOSTNAME_MAX)
		return "must be 1 to 63 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (!(isascii(ch) && (isalnum(ch) || ch == '-')))
			return "may hold only letters, digits and '-'";
		digits += isdigit(ch) != 0;
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	if (in[0] == '-' || in[n - 1] == '-')
		return "must not start or end with '-'";
	if (digits == n)
		return "must not be all digits (it would read as a node ID)";
	return NULL;
}

/* Names a node may not take: they would read as infrastructure, or as
 * special in tools that resolve NAME.pilot. */
static const char *const reserved_hostnames[] = {
    "localhost", "pilot", "registry", "rendezvous", "beacon", "admin", "root",	  "backbone",
    "broadcast", "local", "all",      "any",	    "none",   "self",  "gateway",
};

static int hostname_reserved(const char *host)
{
	for (size_t i = 0; i < nitems(reserved_hostnames); i++)
		if (strcmp(host, reserved_hostnames[i]) == 0)
			return 1;
	return 0;
}

/* Validate and canonicalise a hostname a node wants to take. */
static int hostname_take_check(struct reg_ctx *c, const char *in, char out[RDV_HOSTNAME_MAX + 1])
{
	const char *why = hostname_norm(in, out);

	if (why)
		return fail(c, -EINVAL, "hostname %s", why);
	if (hostname_reserved(out))
		return fail(c, -EACCES, "hostname '%s' is reserved", out);
	return 0;
}

/* May the signer take \p host?  A deregistered node gives its name up to
 * the next taker. */
static int hostname_free_check(struct reg_ctx *c, const char *host)
{
	struct rdv_node o;
	uint32_t owner;
	int rc;

	if (rdv_host_get(&c->t, c->db, host, &owner) < 0 || owner == c->self_id)
		return 0;
	rc = load_node(c, owner, &o);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && o.active)
		return fail(c, -EEXIST, "hostname '%s' is taken", host);
	return 0;
}

static void release_hostname(struct reg_ctx *c, const struct rdv_node *n)
{
	uint32_t owner;

	if (n->hostname[0] && rdv_host_get(&c->t, c->db, n->hostname, &owner) == 0 &&
	    owner == n->id)
		rdv_host_del(&c->t, c->db, n->hostname);
}

static void add_notify(struct reg_ctx *c, uint32_t node)
{
	/* Duplicates go at the end (sorted out once before waking): a check
	 * here would make fan-outs to a big network quadratic. */
	if (c->notify.n && c->notify.v[c->notify.n - 1] == node)
		return;
	if (idset_add(&c->notify, node) < 0 && c->t.ret == 0)
		c->t.ret = -ENOMEM;
}

struct ev_body {
	uint16_t network_id; /* 0: none (events never name the backbone) */
	const struct rdv_node *peer;
	uint32_t node_id;
	const uint8_t *public_key;
	const char *justification;
	uint64_t version; /* policy.changed: the policy's version (0: none) */
};

/* Queue an event for \p node in the request's transaction: it becomes
 * durable (and visible to streams) only if the request commits. */
static void queue_event(struct reg_ctx *c, uint32_t node, const char *event,
			const struct ev_body *b)
{
	struct json_gen j;
	const char *s;
	size_t len;
	uint64_t seq = rdv_event_next_seq(&c->t, c->db, node);

	if (seq == 0)
		return; /* the transaction failed; commit reports it */
	if (json_gen_init(&j) < 0) {
		c->t.ret = -ENOMEM;
		return;
	}
	jg_map_open(&j);
	jg_ku64(&j, "seq", seq);
	jg_kstr(&j, "event", event);
	if (b->network_id)
		jg_ku64(&j, "network_id", b->network_id);
	if (b->peer) {
		jg_key(&j, "peer");
		jg_map_open(&j);
		put_lookup(&j, b->peer);
		jg_map_close(&j);
	}
	if (b->node_id)
		jg_ku64(&j, "node_id", b->node_id);
	if (b->public_key)
		jg_kb64(&j, "public_key", b->public_key, 32);
	if (b->justification)
		jg_kstr(&j, "justification", b->justification);
	if (b->version)
		jg_ku64(&j, "version", b->version);
	jg_map_close(&j);
	if (json_gen_finish(&j, &s, &len) < 0)
		c->t.ret = -ENOMEM;
	else
		rdv_event_put(&c->t, c->db, node, seq, s, len);
	json_gen_free(&j);
	add_notify(c, node);
}

/* policy.changed {network_id, version} to every member of \p net. */
static int policy_tell(struct reg_ctx *c, uint16_t net, uint64_t version)
{
	struct ev_body b = {.network_id = net, .version = version};
	struct idset m = {0};
	int rc = 0;

	if (rdv_member_iter(&c->t, c->db, net, idset_cb, &m) < 0)
		rc = fail(c, -EIO, "registry store error");
	for (size_t i = 0; rc == 0 && i < m.n; i++)
		queue_event(c, m.v[i], "policy.changed", &b);
	idset_free(&m);
	return rc;
}

/* The members or their tags changed in \p net: views depend on both, so
 * when the network has rules every member is told to fetch its view
 * again.  (Without rules a view is "admit everything", whoever is in.) */
static int policy_touch(struct reg_ctx *c, uint16_t net)
{
	struct rdv_policy p;

	if (rdv_policy_get(&c->t, c->db, net, &p, 0) < 0)
		return fail(c, -EIO, "registry store error");
	return p.rules ? policy_tell(c, net, p.version) : 0;
}

/* policy_touch for every network of \p node. */
static int policy_touch_node(struct reg_ctx *c, uint32_t node)
{
	struct idset nets = {0};
	int rc = 0;

	if (rdv_node_net_iter(&c->t, c->db, node, idset_cb, &nets) < 0)
		rc = fail(c, -EIO, "registry store error");
	for (size_t i = 0; rc == 0 && i < nets.n; i++)
		rc = policy_touch(c, (uint16_t)nets.v[i]);
	idset_free(&nets);
	return rc;
}

/* ---------------------------------------------------------------- audit */

#define SUBJ_MAX 32 /* "network:65535", "node:4294967295" */

static const char *node_subj(char buf[SUBJ_MAX], uint32_t id)
{
	snprintf(buf, SUBJ_MAX, "node:%u", id);
	return buf;
}

static const char *net_subj(char buf[SUBJ_MAX], uint16_t id)
{
	snprintf(buf, SUBJ_MAX, "network:%u", id);
	return buf;
}

static const char *org_subj(char buf[SUBJ_MAX], uint32_t id)
{
	snprintf(buf, SUBJ_MAX, "org:%u", id);
	return buf;
}

/* Start the details object of an audit record.  \retval 0, or <0 when
 * the transaction already failed (nothing to record: it will not commit). */
static int audit_begin(struct reg_ctx *c, struct json_gen *d)
{
	if (c->t.ret < 0)
		return c->t.ret;
	if (json_gen_init(d) < 0) {
		c->t.ret = -ENOMEM;
		return -ENOMEM;
	}
	jg_map_open(d);
	return 0;
}

/* Finish \p d and append the record in the request's transaction: the
 * action commits with its record or not at all (audit_append_txn fails
 * the transaction otherwise).  The actor is "node:ID" (the signer) or
 * "admin:IP"; a node's source address goes into the details. */
static void audit_end(struct reg_ctx *c, struct json_gen *d, const char *type, const char *subject)
{
	char actor[INET6_ADDRSTRLEN + 8], *det = NULL;
	const char *s;
	size_t len;

	if (c->admin) {
		snprintf(actor, sizeof(actor), "admin:%s", c->peer_ip);
		/* An org's admin acts from the same address space as the
		 * deployment's: the details say which credential it was. */
		if (c->org_scope)
			jg_ku64(d, "org_admin", c->org_scope);
	} else {
		snprintf(actor, sizeof(actor), "node:%u", c->self_id);
		jg_kstr(d, "ip", c->peer_ip);
	}
	jg_map_close(d);
	if (json_gen_finish(d, &s, &len) < 0 || !(det = strndup(s, len))) {
		if (c->t.ret == 0)
			c->t.ret = -ENOMEM;
	} else if (audit_append_txn(c->db->audit, &c->t, type, actor, subject, det, NULL) < 0) {
		log_warnx("audit %s: cannot append the record; the request fails", type);
	}
	free(det);
	json_gen_free(d);
}

/* A record whose details are one network ID (or none: 0). */
static void audit_simple(struct reg_ctx *c, const char *type, const char *subject, uint16_t net)
{
	struct json_gen d;

	if (audit_begin(c, &d) < 0)
		return;
	if (net)
		jg_ku64(&d, "network_id", net);
	audit_end(c, &d, type, subject);
}

/* trust.approved for {self, peer}: basis "approval" (the peer asked and
 * self approved), "mutual" (both asked) or "network" (a shared network
 * approved on their behalf). */
static void audit_trust_approved(struct reg_ctx *c, uint32_t peer, const char *basis, uint16_t net)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (audit_begin(c, &d) < 0)
		return;
	jg_kstr(&d, "basis", basis);
	if (net)
		jg_ku64(&d, "network_id", net);
	audit_end(c, &d, "trust.approved", node_subj(sb, peer));
}

/* trust.revoked of {a, b} for \p reason ("untrust", "network_left",
 * "network_deleted"); the subject is \p a, the details name \p b. */
static void audit_trust_revoked(struct reg_ctx *c, uint32_t a, uint32_t b, const char *reason,
				uint16_t net)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (audit_begin(c, &d) < 0)
		return;
	jg_ku64(&d, "peer", b);
	jg_kstr(&d, "reason", reason);
	if (net)
		jg_ku64(&d, "network_id", net);
	audit_end(c, &d, "trust.revoked", node_subj(sb, a));
}

static void audit_hostname(struct reg_ctx *c, const char *now, const char *before)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (audit_begin(c, &d) < 0)
		return;
	jg_kstr(&d, "hostname", now);
	jg_kstr(&d, "previous", before);
	audit_end(c, &d, "node.hostname", node_subj(sb, c->self_id));
}

static void audit_visibility(struct reg_ctx *c, int pub)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (audit_begin(c, &d) < 0)
		return;
	jg_kbool(&d, "public", pub);
	audit_end(c, &d, "node.visibility", node_subj(sb, c->self_id));
}

/* Make {self, peer} a trust pair on \p basis (0: consent, else the shared
 * network that approved it): clear requests both ways and tell both. */
static void make_pair(struct reg_ctx *c, const struct rdv_node *peer, uint16_t basis)
{
	/* network_id names the network that approved it (absent: consent),
	 * so each node can check that basis for itself. */
	struct ev_body to_peer = {.peer = &c->self, .network_id = basis},
		       to_self = {.peer = peer, .network_id = basis};

	rdv_trust_put(&c->t, c->db, c->self_id, peer->id, c->now, basis);
	rdv_inbox_del(&c->t, c->db, c->self_id, peer->id);
	rdv_inbox_del(&c->t, c->db, peer->id, c->self_id);
	queue_event(c, peer->id, "trust.approved", &to_peer);
	queue_event(c, c->self_id, "trust.approved", &to_self);
}

/* ---------------------------------------------------------------- ops */

static int audience(struct reg_ctx *c, uint32_t node, struct idset *out);

/* The signer's process restarted (its first registration since): the
 * sessions its peers hold with it are dead.  Everyone who may hold one
 * hears "peer.restarted" and handshakes again at once.  The event names
 * the node only; a peer that wants the new endpoint resolves it, so the
 * visibility rules stay in resolve. */
static int tell_restarted(struct reg_ctx *c)
{
	struct idset aud = {0};
	struct ev_body b = {.node_id = c->self_id};
	int rc = audience(c, c->self_id, &aud);

	for (size_t i = 0; rc == 0 && i < aud.n; i++)
		queue_event(c, aud.v[i], "peer.restarted", &b);
	idset_free(&aud);
	return rc;
}

/* Optional "behind_nat" (register, heartbeat): the node found a NAT
 * between it and the beacon.  \p out is -1 when absent (keep what is
 * stored: a new process says it again once its beacon answers). */
static int get_behind_nat(struct reg_ctx *c, int *out)
{
	int rc = json_get_bool(c->req.root, "behind_nat", out);

	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'behind_nat' must be true or false");
	if (rc < 0)
		*out = -1;
	return 0;
}

static int op_register(struct reg_ctx *c)
{
	struct rdv_node *n = &c->self;
	char host[RDV_HOSTNAME_MAX + 1] = "", pbuf[INET6_ADDRSTRLEN + 4], ibuf[INET6_ADDRSTRLEN],
				     abuf[PILOT_ADDR_STRLEN];
	char old_host[RDV_HOSTNAME_MAX + 1], sb[SUBJ_MAX];
	struct idset nets = {0};
	struct json_gen d;
	const char *hs;
	struct pilot_addr a;
	struct in6_addr ip6;
	uint16_t port = 0;
	int pub, restarted = 0, nat, rc, is_new = !c->have_self,
		 was_active = c->have_self && n->active, old_pub = n->public;

	snprintf(old_host, sizeof(old_host), "%s", c->have_self ? n->hostname : "");
	if ((rc = get_port(c, &port)) < 0)
		return rc;
	if (json_get_bool(c->req.root, "public", &pub) < 0)
		return fail(c, -EINVAL, "member 'public' must be true or false");
	rc = json_get_bool(c->req.root, "restarted", &restarted);
	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'restarted' must be true or false");
	if ((rc = get_behind_nat(c, &nat)) < 0)
		return rc;
	rc = json_get_str(c->req.root, "hostname", &hs);
	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'hostname' must be a string");
	if (rc == 0 && hs[0] && (rc = hostname_take_check(c, hs, host)) < 0)
		return rc;
	if (host[0] && (rc = hostname_free_check(c, host)) < 0)
		return rc;

	if (!c->have_self) {
		rc = rdv_node_id_alloc(&c->t, c->db, &c->self_id);
		if (rc == -ENOSPC)
			return fail(c, -ENOSPC, "no node IDs left");
		if (rc < 0)
			return fail(c, -EIO, "registry store error");
		memset(n, 0, sizeof(*n));
		n->id = c->self_id;
		memcpy(n->pk, c->pk, sizeof(n->pk));
		n->created_ms = c->now;
		rdv_key_put(&c->t, c->db, n->pk, n->id);
		log_info("node %u: registered a new key from %s", n->id, c->peer_ip);
	} else if (strcmp(n->hostname, host) != 0) {
		release_hostname(c, n);
	}
	n->listen_port = port;
	n->public = pub;
	if (nat >= 0)
		n->behind_nat = nat;
	n->active = 1;
	n->seen_ms = c->now;
	snprintf(n->hostname, sizeof(n->hostname), "%s", host);
	if (rdv_endpoint_format(n->endpoint, sizeof(n->endpoint), c->peer_ip, port) < 0)
		return fail(c, -EIO, "peer address too long");
	if (host[0])
		rdv_host_put(&c->t, c->db, host, n->id);
	rdv_node_put(&c->t, c->db, n);
	/* A node registers at every start: only a new key, or a return after
	 * deregister, is an event; changed settings are recorded as such. */
	if (is_new || !was_active) {
		if (audit_begin(c, &d) == 0) {
			jg_kbool(&d, "new", is_new);
			jg_kb64(&d, "public_key", n->pk, sizeof(n->pk));
			jg_kstr(&d, "hostname", n->hostname);
			jg_kbool(&d, "public", n->public);
			jg_ku64(&d, "listen_port", n->listen_port);
			audit_end(c, &d, "node.registered", node_subj(sb, n->id));
		}
	} else {
		if (strcmp(old_host, n->hostname) != 0)
			audit_hostname(c, n->hostname, old_host);
		if (old_pub != n->public)
			audit_visibility(c, n->public);
	}
	if (!is_new && restarted && (rc = tell_restarted(c)) < 0)
		return rc;

	a.net = 0;
	a.node = n->id;
	addr_to_ipv6(&c->db->prefix, &a, &ip6);
	jg_ku64(&c->out, "node_id", n->id);
	jg_kstr(&c->out, "address", addr_format(&a, abuf));
	jg_kstr(&c->out, "ipv6", inet_ntop(AF_INET6, &ip6, ibuf, sizeof(ibuf)));
	jg_kstr(&c->out, "prefix", prefix_format(&c->db->prefix, pbuf, sizeof(pbuf)));
	/* The backbone first (implicit, never stored), then the networks the
	 * node joined: memberships outlive deregistration. */
	if (rdv_node_net_iter(&c->t, c->db, n->id, idset_cb, &nets) < 0) {
		idset_free(&nets);
		return fail(c, -EIO, "registry store error");
	}
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	jg_u64(&c->out, 0);
	for (size_t i = 0; i < nets.n; i++)
		jg_u64(&c->out, nets.v[i]);
	jg_array_close(&c->out);
	idset_free(&nets);
	/* The beacon, vouched for by this pinned TLS answer. */
	if (c->db->have_beacon) {
		jg_kb64(&c->out, "beacon_key", c->db->beacon_pk, 32);
		jg_ku64(&c->out, "beacon_port", c->db->beacon_port);
	}
	return 0;
}

static int op_heartbeat(struct reg_ctx *c)
{
	uint16_t port = 0;
	int nat, rc;

	if ((rc = get_port(c, &port)) < 0 || (rc = get_behind_nat(c, &nat)) < 0)
		return rc;
	if (nat >= 0)
		c->self.behind_nat = nat;
	c->self.listen_port = port;
	c->self.seen_ms = c->now;
	if (rdv_endpoint_format(c->self.endpoint, sizeof(c->self.endpoint), c->peer_ip, port) < 0)
		return fail(c, -EIO, "peer address too long");
	rdv_node_put(&c->t, c->db, &c->self);
	jg_ku64(&c->out, "server_time", c->now);
	jg_ku64(&c->out, "inbox", rdv_inbox_count(&c->t, c->db, c->self_id));
	return 0;
}

static int op_lookup(struct reg_ctx *c)
{
	int by_key = json_get(c->req.root, "public_key") != NULL;
	struct rdv_node n;
	uint8_t pk[32];
	uint32_t id;
	int rc;

	if (by_key == (json_get(c->req.root, "target") != NULL))
		return fail(c, -EINVAL, "give exactly one of 'target' and 'public_key'");
	if (by_key) {
		if (json_get_b64(c->req.root, "public_key", pk, sizeof(pk)) < 0)
			return fail(c, -EINVAL, "member 'public_key' must be base64 of 32 bytes");
		if (rdv_key_get(&c->t, c->db, pk, &id) < 0)
			return fail(c, -ENOENT, "no such node");
	} else if ((rc = get_target(c, &id)) < 0) {
		return rc;
	}
	if ((rc = visible_node(c, id, &n)) < 0)
		return rc;
	put_lookup(&c->out, &n);
	return 0;
}

static int op_resolve(struct reg_ctx *c)
{
	struct rdv_node n;
	uint32_t id;
	int rc;

	if ((rc = get_target(c, &id)) < 0 || (rc = visible_node(c, id, &n)) < 0)
		return rc;
	put_lookup(&c->out, &n);
	/* Behind a NAT, the address the registry saw is the NAT's, and a
	 * datagram sent there unasked, before the node's own mapping exists,
	 * would leave an entry on a NAT that does not filter inbound, which
	 * moves the node's port once it sends (doc/NAT.md).  Such a node is
	 * reached by a punch or through the relay, never by a guess. */
	jg_kstr(&c->out, "endpoint", n.behind_nat ? "" : n.endpoint);
	jg_kbool(&c->out, "behind_nat", n.behind_nat);
	return 0;
}

static int op_deregister(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	release_hostname(c, &c->self);
	c->self.active = 0;
	rdv_node_put(&c->t, c->db, &c->self);
	if (audit_begin(c, &d) == 0) {
		jg_kstr(&d, "hostname", c->self.hostname);
		audit_end(c, &d, "node.deregistered", node_subj(sb, c->self_id));
	}
	log_info("node %u: deregistered", c->self_id);
	return 0;
}

static int op_handshake(struct reg_ctx *c)
{
	struct rdv_inbox_entry e;
	struct rdv_node tn;
	const char *just = "";
	uint16_t basis;
	uint32_t tid;
	size_t jl;
	int rc;

	if ((rc = get_target(c, &tid)) < 0)
		return rc;
	if (tid == c->self_id)
		return fail(c, -EINVAL, "a node cannot handshake with itself");
	rc = json_get_str(c->req.root, "justification", &just);
	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'justification' must be a string");
	jl = strlen(just);
	if (jl > RDV_JUSTIFICATION_MAX)
		return fail(c, -EINVAL, "member 'justification' is longer than %d bytes",
			    RDV_JUSTIFICATION_MAX);
	for (size_t i = 0; i < jl; i++)
		if ((unsigned char)just[i] < 0x20 || just[i] == 0x7f)
			return fail(c, -EINVAL, "member 'justification' must be printable");
	/* A private target is reachable here (that is what the inbox is
	 * for); its endpoint stays hidden until it consents. */
	if ((rc = active_node(c, tid, &tn)) < 0)
		return rc;

	if (rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		jg_kstr(&c->out, "status", "approved");
		return 0;
	}
	/* Both asked: consent is given, and the pair outlives any network. */
	if (rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e) == 0) {
		make_pair(c, &tn, 0);
		audit_trust_approved(c, tid, "mutual", 0);
		log_info("node %u and node %u: trust pair made (both asked)", c->self_id, tid);
		jg_kstr(&c->out, "status", "approved");
		return 0;
	}
	/* A shared network approves on its members' behalf; the pair lasts
	 * as long as that (the lowest shared) network does for both.  Only a
	 * network whose policy lets the two talk speaks for them: one that
	 * hides them from each other (resolve-time evaluation) must not hand
	 * out a pair that would show them anyway. */
	rc = rdv_connecting_network(&c->t, c->db, &c->self, &tn, &basis);
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	if (rc > 0) {
		make_pair(c, &tn, basis);
		audit_trust_approved(c, tid, "network", basis);
		log_info("node %u and node %u: trust pair made (shared network %u)", c->self_id,
			 tid, basis);
		jg_kstr(&c->out, "status", "approved");
		return 0;
	}
	rc = rdv_inbox_get(&c->t, c->db, tid, c->self_id, &e);
	if (rc == -ENOENT && rdv_inbox_count(&c->t, c->db, tid) >= RDV_INBOX_MAX)
		return fail(c, -EBUSY, "the target has too many pending requests");
	memset(&e, 0, sizeof(e));
	e.from = c->self_id;
	e.ms = c->now;
	memcpy(e.justification, just, jl);
	rdv_inbox_put(&c->t, c->db, tid, &e);
	/* A repeated request updates the justification but does not notify
	 * again, so a requester cannot flood the target's event queue. */
	if (rc == -ENOENT) {
		struct ev_body b = {.node_id = c->self_id, .justification = e.justification};
		queue_event(c, tid, "handshake.received", &b);
	}
	{
		char sb[SUBJ_MAX];
		struct json_gen d;
		if (audit_begin(c, &d) == 0) {
			jg_kstr(&d, "justification", e.justification);
			jg_kbool(&d, "repeat", rc != -ENOENT);
			audit_end(c, &d, "handshake.requested", node_subj(sb, tid));
		}
	}
	jg_kstr(&c->out, "status", "pending");
	return 0;
}

struct inbox_out {
	struct reg_ctx *c;
};

static int inbox_item(void *arg, const struct rdv_inbox_entry *e)
{
	struct reg_ctx *c = ((struct inbox_out *)arg)->c;
	struct json_gen *j = &c->out;
	struct pilot_addr a = {0, e->from};
	char abuf[PILOT_ADDR_STRLEN];
	struct rdv_node n;
	int rc = load_node(c, e->from, &n);

	if (rc == -ENOENT)
		return 0; /* node records are never deleted; be lenient anyway */
	if (rc < 0)
		return rc;
	if (n.revoked)
		return 0; /* its requests died with it */
	jg_map_open(j);
	jg_ku64(j, "node_id", n.id);
	jg_kstr(j, "address", addr_format(&a, abuf));
	jg_kstr(j, "hostname", n.hostname);
	jg_kb64(j, "public_key", n.pk, sizeof(n.pk));
	jg_kstr(j, "justification", e->justification);
	jg_ku64(j, "ts", e->ms);
	jg_map_close(j);
	return 0;
}

static int op_inbox(struct reg_ctx *c)
{
	struct inbox_out io = {c};

	jg_key(&c->out, "requests");
	jg_array_open(&c->out);
	if (rdv_inbox_iter(&c->t, c->db, c->self_id, inbox_item, &io) < 0)
		return fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

static int op_approve(struct reg_ctx *c)
{
	struct rdv_inbox_entry e;
	struct rdv_node tn;
	struct ev_body b = {.peer = &c->self};
	uint32_t tid;
	int rc;

	if ((rc = get_target(c, &tid)) < 0)
		return rc;
	rc = rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e);
	if (rc == -ENOENT && !rdv_trust_has(&c->t, c->db, c->self_id, tid))
		return fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0 && rc != -ENOENT)
		return fail(c, -EIO, "registry store error");
	rc = load_node(c, tid, &tn);
	if (rc == -ENOENT || (rc == 0 && tn.revoked))
		return fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0)
		return rc;
	if (!rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		rdv_trust_put(&c->t, c->db, c->self_id, tid, c->now, 0);
		rdv_inbox_del(&c->t, c->db, c->self_id, tid);
		rdv_inbox_del(&c->t, c->db, tid, c->self_id);
		queue_event(c, tid, "trust.approved", &b);
		audit_trust_approved(c, tid, "approval", 0);
		log_info("node %u approved node %u: trust pair made", c->self_id, tid);
	}
	jg_key(&c->out, "peer");
	jg_map_open(&c->out);
	put_lookup(&c->out, &tn);
	jg_map_close(&c->out);
	return 0;
}

static int op_reject(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct rdv_inbox_entry e;
	struct ev_body b = {0};
	uint32_t tid;
	int rc;

	if ((rc = get_target(c, &tid)) < 0)
		return rc;
	rc = rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e);
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	rdv_inbox_del(&c->t, c->db, c->self_id, tid);
	b.node_id = c->self_id;
	queue_event(c, tid, "handshake.rejected", &b);
	audit_simple(c, "handshake.rejected", node_subj(sb, tid), 0);
	return 0;
}

static int op_untrust(struct reg_ctx *c)
{
	struct ev_body b = {0};
	uint32_t tid;
	int rc;

	if ((rc = get_target(c, &tid)) < 0)
		return rc;
	if (tid == c->self_id)
		return fail(c, -EINVAL, "a node cannot untrust itself");
	if (rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		rdv_trust_del(&c->t, c->db, c->self_id, tid);
		b.node_id = c->self_id;
		queue_event(c, tid, "trust.revoked", &b);
		audit_trust_revoked(c, tid, c->self_id, "untrust", 0);
		log_info("node %u untrusted node %u", c->self_id, tid);
	}
	return 0;
}

static int trusts_item(void *arg, uint32_t id)
{
	struct reg_ctx *c = arg;
	struct rdv_node n;
	int rc = load_node(c, id, &n);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	jg_map_open(&c->out);
	put_lookup(&c->out, &n);
	jg_map_close(&c->out);
	return 0;
}

static int op_trusts(struct reg_ctx *c)
{
	jg_key(&c->out, "peers");
	jg_array_open(&c->out);
	if (rdv_trust_iter(&c->t, c->db, c->self_id, trusts_item, c) < 0)
		return fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

static int backlog_add(struct reg_ctx *c, const char *line, size_t len)
{
	if (c->nlines + len + 1 > c->caplines) {
		size_t ncap = MAX(c->caplines * 2, c->nlines + len + 1 + 4096);
		char *nb = realloc(c->lines, ncap);
		if (!nb)
			return -ENOMEM;
		c->lines = nb;
		c->caplines = ncap;
	}
	memcpy(c->lines + c->nlines, line, len);
	c->lines[c->nlines + len] = '\n';
	c->nlines += len + 1;
	return 0;
}

static int backlog_line(void *arg, uint64_t seq, const char *line, size_t len)
{
	struct reg_ctx *c = arg;
	int rc = backlog_add(c, line, len);

	if (rc == 0)
		c->stream_seq = seq;
	return rc;
}

static int op_events(struct reg_ctx *c)
{
	uint64_t after, last;

	if (json_get_u64(c->req.root, "after", &after) < 0)
		return fail(c, -EINVAL, "member 'after' must be the last seq seen (0 at first)");
	/* The request acknowledges everything up to `after`. */
	if (rdv_event_prune(&c->t, c->db, c->self_id, after) < 0)
		return fail(c, -EIO, "registry store error");
	last = rdv_event_last_seq(&c->t, c->db, c->self_id);
	/* A client ahead of us (state restored from a backup) must still get
	 * what we number from now on. */
	c->stream_seq = MIN(after, last);
	if (rdv_event_iter(&c->t, c->db, c->self_id, after, backlog_line, c) < 0)
		return fail(c, -EIO, "registry store error");
	/* The backlog is complete: from here on the node has heard every
	 * revocation queued for it (pilotd admits no inbound flow before). */
	if (backlog_add(c, SYNCED_LINE, strlen(SYNCED_LINE)) < 0)
		return fail(c, -EIO, "out of memory");
	c->streaming = 1;
	return 0;
}

/* ------------------------------------------------------ node settings */

/* The signer's hostname or visibility changed: everyone who may see it
 * hears "peer.updated" (its lookup object), so that their name caches
 * drop the old answer at once. */
static int tell_updated(struct reg_ctx *c)
{
	struct idset aud = {0};
	struct ev_body b = {.peer = &c->self};
	int rc = audience(c, c->self_id, &aud);

	for (size_t i = 0; rc == 0 && i < aud.n; i++)
		queue_event(c, aud.v[i], "peer.updated", &b);
	idset_free(&aud);
	return rc;
}

static int op_set_hostname(struct reg_ctx *c)
{
	char host[RDV_HOSTNAME_MAX + 1];
	const char *hs;
	int rc;

	if (json_get_str(c->req.root, "hostname", &hs) < 0)
		return fail(c, -EINVAL, "member 'hostname' must be a string");
	if ((rc = hostname_take_check(c, hs, host)) < 0 || (rc = hostname_free_check(c, host)) < 0)
		return rc;
	if (strcmp(c->self.hostname, host) != 0) {
		audit_hostname(c, host, c->self.hostname);
		release_hostname(c, &c->self);
		snprintf(c->self.hostname, sizeof(c->self.hostname), "%s", host);
		rdv_node_put(&c->t, c->db, &c->self);
		log_info("node %u: hostname is now '%s'", c->self_id, host);
		if ((rc = tell_updated(c)) < 0)
			return rc;
	}
	rdv_host_put(&c->t, c->db, host, c->self_id);
	jg_kstr(&c->out, "hostname", host);
	return 0;
}

static int op_clear_hostname(struct reg_ctx *c)
{
	if (c->self.hostname[0]) {
		audit_hostname(c, "", c->self.hostname);
		release_hostname(c, &c->self);
		c->self.hostname[0] = '\0';
		rdv_node_put(&c->t, c->db, &c->self);
		log_info("node %u: hostname cleared", c->self_id);
		return tell_updated(c);
	}
	return 0;
}

static int op_set_visibility(struct reg_ctx *c)
{
	int pub, rc;

	if (json_get_bool(c->req.root, "public", &pub) < 0)
		return fail(c, -EINVAL, "member 'public' must be true or false");
	if (c->self.public != pub) {
		c->self.public = pub;
		rdv_node_put(&c->t, c->db, &c->self);
		audit_visibility(c, pub);
		log_info("node %u: now %s", c->self_id, pub ? "public" : "private");
		if ((rc = tell_updated(c)) < 0)
			return rc;
	}
	jg_kbool(&c->out, "public", pub);
	return 0;
}

/* Tags feed policy ("tag:NAME"): 1-32 of [a-z0-9-_.] after lower-casing,
 * starting with a letter or digit.  \retval NULL or the rule broken. */
static const char *tag_norm(const char *in, char out[RDV_TAG_MAX + 1])
{
	size_t n = strlen(in);

	if (n == 0 || n > RDV_TAG_MAX)
		return "must be 1 to 32 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (!(isascii(ch) && (isalnum(ch) || ch == '-' || ch == '_' || ch == '.')))
			return "may hold only letters, digits, '-', '_' and '.'";
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	if (!isalnum((unsigned char)in[0]))
		return "must start with a letter or digit";
	return NULL;
}

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int op_set_tags(struct reg_ctx *c)
{
	char tags[RDV_TAGS_MAX][RDV_TAG_MAX + 1], sb[SUBJ_MAX];
	yajl_val arr = json_get(c->req.root, "tags");
	struct json_gen d;
	size_t n = 0;
	int changed;

	if (!arr || !YAJL_IS_ARRAY(arr))
		return fail(c, -EINVAL, "member 'tags' must be an array of strings");
	if (arr->u.array.len > RDV_TAGS_MAX)
		return fail(c, -EINVAL, "at most %d tags", RDV_TAGS_MAX);
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val v = arr->u.array.values[i];
		const char *why;
		if (!YAJL_IS_STRING(v))
			return fail(c, -EINVAL, "member 'tags' must be an array of strings");
		why = tag_norm(v->u.string, tags[i]);
		if (why)
			return fail(c, -EINVAL, "tag %zu %s", i + 1, why);
	}
	/* Canonical form: sorted and unique, so equal sets compare equal. */
	qsort(tags, arr->u.array.len, sizeof(tags[0]), cmp_tag);
	for (size_t i = 0; i < arr->u.array.len; i++)
		if (n == 0 || strcmp(tags[n - 1], tags[i]) != 0)
			memmove(tags[n++], tags[i], sizeof(tags[0]));
	changed = n != c->self.ntags;
	for (size_t i = 0; !changed && i < n; i++)
		changed = strcmp(tags[i], c->self.tags[i]) != 0;
	if (changed && audit_begin(c, &d) == 0) {
		jg_key(&d, "tags");
		jg_array_open(&d);
		for (size_t i = 0; i < n; i++)
			jg_str(&d, tags[i]);
		jg_array_close(&d);
		jg_key(&d, "previous");
		jg_array_open(&d);
		for (size_t i = 0; i < c->self.ntags; i++)
			jg_str(&d, c->self.tags[i]);
		jg_array_close(&d);
		audit_end(c, &d, "node.tags", node_subj(sb, c->self_id));
	}
	c->self.ntags = n;
	memcpy(c->self.tags, tags, n * sizeof(tags[0]));
	rdv_node_put(&c->t, c->db, &c->self);
	if (changed && policy_touch_node(c, c->self_id) < 0)
		return -EIO;
	jg_key(&c->out, "tags");
	jg_array_open(&c->out);
	for (size_t i = 0; i < n; i++)
		jg_str(&c->out, c->self.tags[i]);
	jg_array_close(&c->out);
	return 0;
}

/* Everyone who can see \p node through trust or a shared non-backbone
 * network (not \p node itself), sorted and unique. */
static int audience(struct reg_ctx *c, uint32_t node, struct idset *out)
{
	struct idset nets = {0};
	int rc;

	rc = rdv_trust_iter(&c->t, c->db, node, idset_cb, out);
	if (rc == 0)
		rc = rdv_node_net_iter(&c->t, c->db, node, idset_cb, &nets);
	for (size_t i = 0; rc == 0 && i < nets.n; i++)
		rc = rdv_member_iter(&c->t, c->db, (uint16_t)nets.v[i], idset_cb, out);
	idset_free(&nets);
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	idset_sort_unique(out);
	for (size_t i = 0; i < out->n; i++)
		if (out->v[i] == node) {
			memmove(out->v + i, out->v + i + 1, (out->n - i - 1) * sizeof(*out->v));
			out->n--;
			break;
		}
	return 0;
}

static int op_rotate_key(struct reg_ctx *c)
{
	char oldb[64], newb[64], m[512], sb[SUBJ_MAX];
	uint8_t npk[32], proof[64];
	struct json_gen d;
	struct idset aud = {0};
	struct ev_body b = {0};
	uint32_t owner;
	int rc, n;

	if (json_get_b64(c->req.root, "new_public_key", npk, sizeof(npk)) < 0)
		return fail(c, -EINVAL, "member 'new_public_key' must be base64 of an Ed25519 key");
	if (json_get_b64(c->req.root, "proof", proof, sizeof(proof)) < 0)
		return fail(c, -EINVAL, "member 'proof' must be base64 of an Ed25519 signature");
	if (sodium_memcmp(npk, c->self.pk, sizeof(npk)) == 0)
		return fail(c, -EINVAL, "the new key must differ from the current one");
	/* The proof binds the new key to this node, its old key and this
	 * request (ts): it cannot be lifted into another rotation.  Keys go
	 * in as canonical base64, whatever spelling the body used. */
	b64_encode(oldb, sizeof(oldb), c->self.pk, sizeof(c->self.pk));
	b64_encode(newb, sizeof(newb), npk, sizeof(npk));
	n = snprintf(m, sizeof(m), ROTATE_DOMAIN "%u\n%s\n%s\n%llu", c->self_id, oldb, newb,
		     (unsigned long long)c->req.ts);
	if (n < 0 || (size_t)n >= sizeof(m))
		return fail(c, -EIO, "internal: proof too long");
	if (crypto_sign_verify_detached(proof, (const uint8_t *)m, (size_t)n, npk) != 0)
		return fail(c, -EBADMSG, "member 'proof' does not verify with the new key");
	/* Checked after the proof, so only the new key's holder learns
	 * whether it is in use. */
	rc = rdv_key_get(&c->t, c->db, npk, &owner);
	if (rc == 0 || rc == -EKEYREVOKED || rc == -EKEYREJECTED)
		return fail(c, -EEXIST, "the new key is %s",
			    rc == 0		 ? "registered to a node"
			    : rc == -EKEYREVOKED ? "retired"
						 : "revoked");
	if (rc != -ENOENT)
		return fail(c, -EIO, "registry store error");
	if ((rc = audience(c, c->self_id, &aud)) < 0)
		goto out;
	rdv_key_retire(&c->t, c->db, c->self.pk, c->self_id);
	rdv_key_put(&c->t, c->db, npk, c->self_id);
	memcpy(c->self.pk, npk, sizeof(npk));
	rdv_node_put(&c->t, c->db, &c->self);
	b.node_id = c->self_id;
	b.public_key = npk;
	for (size_t i = 0; i < aud.n; i++)
		queue_event(c, aud.v[i], "peer.key_rotated", &b);
	if (audit_begin(c, &d) == 0) {
		jg_kstr(&d, "old_public_key", oldb);
		jg_kstr(&d, "new_public_key", newb);
		jg_ku64(&d, "peers_told", aud.n);
		audit_end(c, &d, "node.key_rotated", node_subj(sb, c->self_id));
	}
	log_info("node %u: rotated its key (%zu peers told)", c->self_id, aud.n);
	jg_ku64(&c->out, "node_id", c->self_id);
	jg_kstr(&c->out, "public_key", newb);
	rc = 0;
out:
	idset_free(&aud);
	return rc;
}

struct shared_out {
	struct reg_ctx *c;
	uint32_t other;
};

static int shared_out_cb(void *arg, uint32_t net)
{
	struct shared_out *so = arg;

	if (rdv_member_has(&so->c->t, so->c->db, (uint16_t)net, so->other))
		jg_u64(&so->c->out, net);
	return 0;
}

static int op_find(struct reg_ctx *c)
{
	char host[RDV_HOSTNAME_MAX + 1], buf[RDV_HOSTNAME_MAX + sizeof(PILOT_SUFFIX)];
	struct shared_out so = {c, c->self_id};
	const char *hs, *why;
	struct rdv_node n;
	uint32_t id;
	size_t len;
	int rc;

	if (json_get_str(c->req.root, "hostname", &hs) < 0)
		return fail(c, -EINVAL, "member 'hostname' must be a string");
	len = strlen(hs);
	if (len >= sizeof(buf))
		return fail(c, -EINVAL, "hostname must be 1 to 63 characters");
	memcpy(buf, hs, len + 1);
	if (len > strlen(PILOT_SUFFIX) &&
	    strcasecmp(buf + len - strlen(PILOT_SUFFIX), PILOT_SUFFIX) == 0)
		buf[len - strlen(PILOT_SUFFIX)] = '\0';
	why = hostname_norm(buf, host);
	if (why)
		return fail(c, -EINVAL, "hostname %s", why);
	/* Absent, deregistered and invisible all end in the very same
	 * refusal (visible_node's): existence does not leak. */
	rc = rdv_host_get(&c->t, c->db, host, &id);
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no such node");
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	if ((rc = visible_node(c, id, &n)) < 0)
		return rc;
	if (strcmp(n.hostname, host) != 0)
		return fail(c, -ENOENT, "no such node");
	put_lookup(&c->out, &n);
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	so.other = n.id;
	if (rdv_node_net_iter(&c->t, c->db, c->self_id, shared_out_cb, &so) < 0)
		return fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	jg_kbool(&c->out, "trusted", rdv_trust_has(&c->t, c->db, c->self_id, n.id));
	return 0;
}

/* ------------------------------------------------------------ networks */

/* Member `network_id`: 0..65535; with \p zero_msg, 0 is refused with it. */
static int get_net(struct reg_ctx *c, uint16_t *net, const char *zero_msg)
{
	uint32_t v;

	if (json_get_u32(c->req.root, "network_id", &v) < 0 || v > UINT16_MAX)
		return fail(c, -EINVAL, "member 'network_id' must be a network ID (0 to 65535)");
	if (v == 0 && zero_msg)
		return fail(c, -EINVAL, "%s", zero_msg);
	*net = (uint16_t)v;
	return 0;
}

/* Load a network the request names.  Store failures are internal. */
static int load_net(struct reg_ctx *c, uint16_t id, struct rdv_network *n)
{
	int rc = rdv_net_get(&c->t, c->db, id, n);

	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no such network");
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	return 0;
}

/* The lookup objects of the active members of \p net (except \p skip) as
 * an array member \p key of the response. */
static int put_members(struct reg_ctx *c, const char *key, uint16_t net, uint32_t skip)
{
	struct idset m = {0};
	struct rdv_node n;
	int rc;

	if (net == 0)
		rc = rdv_node_iter(&c->t, c->db, idset_cb, &m);
	else
		rc = rdv_member_iter(&c->t, c->db, net, idset_cb, &m);
	if (rc < 0) {
		rc = fail(c, -EIO, "registry store error");
		goto out;
	}
	jg_key(&c->out, key);
	jg_array_open(&c->out);
	for (size_t i = 0; i < m.n; i++) {
		if (m.v[i] == skip)
			continue;
		rc = load_node(c, m.v[i], &n);
		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			goto out;
		/* A deregistered member is hidden, as everywhere else. */
		if (!n.active)
			continue;
		jg_map_open(&c->out);
		put_lookup(&c->out, &n);
		jg_map_close(&c->out);
	}
	jg_array_close(&c->out);
	rc = 0;
out:
	idset_free(&m);
	return rc;
}

/* Accept an invite for \p net, or say why not.  The signature is checked
 * before anything else about the invite is revealed (expiry, use). */
static int use_invite(struct reg_ctx *c, const struct rdv_network *net, const char *s)
{
	struct rdv_invite inv;
	struct rdv_node inviter;
	uint64_t now_s = c->now / 1000;
	int rc;

	if (rdv_invite_parse(s, strlen(s), &inv) < 0)
		return fail(c, -EINVAL, "member 'invite' is not a pilot-invite-v1 invite");
	if (inv.net != net->id)
		return fail(c, -EINVAL, "the invite is for network %u", inv.net);
	if (inv.inviter == RDV_INVITER_REGISTRY) {
		/* An admin's invite: signed with the registry's own key. */
		if (!c->db->invite_sk || rdv_invite_verify(&inv, c->db->invite_pk) < 0)
			return fail(c, -EACCES, "the invite's signature does not verify");
	} else {
		rc = load_node(c, inv.inviter, &inviter);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		if (rc == -ENOENT || rdv_invite_verify(&inv, inviter.pk) < 0)
			return fail(c, -EACCES, "the invite's signature does not verify");
		if (!rdv_member_has(&c->t, c->db, net->id, inv.inviter))
			return fail(c, -EACCES, "the inviter is not a member of network %u",
				    net->id);
	}
	if (inv.expiry <= now_s)
		return fail(c, -EACCES, "the invite expired");
	/* The maker's clock may run ahead of ours by as much as a request's
	 * may: an invite made for exactly 7 days must not be refused. */
	if (inv.expiry - now_s > RDV_INVITE_MAX_LIFE_S + REGMSG_MAX_SKEW_MS / 1000)
		return fail(c, -EACCES, "an invite lives at most 7 days");
	if (rdv_invite_used(&c->t, c->db, inv.r))
		return fail(c, -EEXIST, "invite already used");
	rdv_invite_use(&c->t, c->db, inv.r, inv.expiry, net->id, c->self_id, c->now);
	c->inviter = inv.inviter;
	c->invited = 1;
	return 0;
}

static int check_join(struct reg_ctx *c, const struct rdv_network *net)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	const char *tok = NULL, *inv = NULL;
	int rc;

	if (json_get_str(c->req.root, "token", &tok) == -EINVAL ||
	    json_get_str(c->req.root, "invite", &inv) == -EINVAL)
		return fail(c, -EINVAL, "members 'token' and 'invite' must be strings");
	if (tok && net->rule != RDV_JOIN_TOKEN)
		return fail(c, -EINVAL, "network %u does not take a token", net->id);
	if (inv && net->rule != RDV_JOIN_INVITE)
		return fail(c, -EINVAL, "network %u does not take an invite", net->id);
	switch (net->rule) {
	case RDV_JOIN_OPEN:
		return 0;
	case RDV_JOIN_TOKEN:
		if (!tok)
			return fail(c, -EINVAL, "network %u needs member 'token'", net->id);
		crypto_hash_sha256(h, (const uint8_t *)tok, strlen(tok));
		rc = sodium_memcmp(h, net->token_hash, sizeof(h));
		sodium_memzero(h, sizeof(h));
		if (rc != 0)
			return fail(c, -EACCES, "wrong token for network %u", net->id);
		return 0;
	case RDV_JOIN_INVITE:
		if (!inv)
			return fail(c, -EINVAL, "network %u needs member 'invite'", net->id);
		return use_invite(c, net, inv);
	default:
		return fail(c, -EACCES, "network %u: join rule not supported", net->id);
	}
}

/* Make \p n a member of \p net (not yet one) and tell the other members. */
static int add_member(struct reg_ctx *c, struct rdv_network *net, const struct rdv_node *n)
{
	struct idset m = {0};
	struct ev_body b = {.network_id = net->id, .peer = n};

	if (rdv_member_iter(&c->t, c->db, net->id, idset_cb, &m) < 0) {
		idset_free(&m);
		return fail(c, -EIO, "registry store error");
	}
	rdv_member_put(&c->t, c->db, net->id, n->id, c->now);
	net->members++;
	rdv_net_put(&c->t, c->db, net);
	for (size_t i = 0; i < m.n; i++)
		queue_event(c, m.v[i], "network.joined", &b);
	idset_free(&m);
	return policy_touch(c, net->id);
}

static int op_network_join(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	uint16_t id = 0;
	int rc, already;

	if ((rc = get_net(c, &id, "every node is in the backbone (network 0)")) < 0 ||
	    (rc = load_net(c, id, &net)) < 0)
		return rc;
	/* Joining again answers again, without events, and uses up no
	 * invite: a retry after a lost reply must be harmless. */
	already = rdv_member_has(&c->t, c->db, id, c->self_id);
	if (!already) {
		if ((rc = check_join(c, &net)) < 0)
			return rc;
		if ((rc = add_member(c, &net, &c->self)) < 0)
			return rc;
		if (audit_begin(c, &d) == 0) {
			jg_kstr(&d, "join_rule", join_rule_name(net.rule));
			if (c->invited && c->inviter != RDV_INVITER_REGISTRY)
				jg_ku64(&d, "inviter", c->inviter);
			else if (c->invited)
				jg_kstr(&d, "inviter", "admin");
			audit_end(c, &d, "network.joined", net_subj(sb, id));
		}
		log_info("node %u joined network %u (%s)", c->self_id, id,
			 join_rule_name(net.rule));
	}
	jg_key(&c->out, "network");
	jg_map_open(&c->out);
	put_network(&c->out, &net);
	jg_map_close(&c->out);
	return put_members(c, "members", id, c->self_id);
}

struct basis_collect {
	uint16_t net;
	struct idset *out;
};

static int basis_cb(void *arg, uint32_t peer, uint16_t basis)
{
	struct basis_collect *bc = arg;

	return basis == bc->net ? idset_add(bc->out, peer) : 0;
}

static int op_network_leave(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct idset revoked = {0}, m = {0};
	struct basis_collect bc = {0, &revoked};
	struct ev_body b = {.node_id = c->self_id};
	uint16_t id = 0;
	int rc;

	if ((rc = get_net(c, &id, "a node cannot leave the backbone (network 0)")) < 0 ||
	    (rc = load_net(c, id, &net)) < 0)
		return rc;
	if (rdv_member_has(&c->t, c->db, id, c->self_id)) {
		/* Collect, then change: no writes under an open cursor. */
		bc.net = id;
		if (rdv_trust_iter_basis(&c->t, c->db, c->self_id, basis_cb, &bc) < 0) {
			rc = fail(c, -EIO, "registry store error");
			goto out;
		}
		for (size_t i = 0; i < revoked.n; i++) {
			rdv_trust_del(&c->t, c->db, c->self_id, revoked.v[i]);
			queue_event(c, revoked.v[i], "trust.revoked", &b);
			audit_trust_revoked(c, revoked.v[i], c->self_id, "network_left", id);
		}
		rdv_member_del(&c->t, c->db, id, c->self_id);
		net.members = net.members ? net.members - 1 : 0;
		rdv_net_put(&c->t, c->db, &net);
		if (rdv_member_iter(&c->t, c->db, id, idset_cb, &m) < 0) {
			rc = fail(c, -EIO, "registry store error");
			goto out;
		}
		b.network_id = id;
		for (size_t i = 0; i < m.n; i++)
			queue_event(c, m.v[i], "network.left", &b);
		if ((rc = policy_touch(c, id)) < 0)
			goto out;
		if (audit_begin(c, &d) == 0) {
			jg_ku64(&d, "trust_pairs_revoked", revoked.n);
			audit_end(c, &d, "network.left", net_subj(sb, id));
		}
		log_info("node %u left network %u (%zu trust pairs revoked)", c->self_id, id,
			 revoked.n);
	}
	jg_key(&c->out, "revoked");
	jg_array_open(&c->out);
	for (size_t i = 0; i < revoked.n; i++)
		jg_u64(&c->out, revoked.v[i]);
	jg_array_close(&c->out);
	rc = 0;
out:
	idset_free(&revoked);
	idset_free(&m);
	return rc;
}

static int net_list_cb(void *arg, const struct rdv_network *n)
{
	struct reg_ctx *c = arg;
	int member = !c->admin && rdv_member_has(&c->t, c->db, n->id, c->self_id);

	/* Nodes see the networks they are in and those anyone may ask to
	 * join (names are not secret); rules to come may be unlisted. */
	if (!c->admin && !member && n->rule != RDV_JOIN_OPEN && n->rule != RDV_JOIN_TOKEN &&
	    n->rule != RDV_JOIN_INVITE)
		return 0;
	jg_map_open(&c->out);
	put_network(&c->out, n);
	if (!c->admin)
		jg_kbool(&c->out, "member", member);
	jg_map_close(&c->out);
	return 0;
}

static int op_network_list(struct reg_ctx *c)
{
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	if (rdv_net_iter(&c->t, c->db, net_list_cb, c) < 0)
		return fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

static int op_network_nodes(struct reg_ctx *c)
{
	uint16_t id = 0;
	int rc;

	if ((rc = get_net(c, &id, NULL)) < 0)
		return rc;
	/* Not a member and no such network are the same answer, so that
	 * unlisted networks do not show through. */
	if (id == 0)
		return fail(c, -EACCES, "the backbone (network 0) is not listed");
	if (!rdv_member_has(&c->t, c->db, id, c->self_id))
		return fail(c, -EACCES, "not a member of network %u", id);
	return put_members(c, "nodes", id, 0);
}

/* ------------------------------------------------------------ orgs */

/* Member `org_id`, optional: 0 when absent.  \retval 0 or -EINVAL. */
static int get_org_opt(struct reg_ctx *c, uint32_t *org)
{
	int rc = json_get_u32(c->req.root, "org_id", org);

	if (rc == -ENOENT) {
		*org = 0;
		return 0;
	}
	if (rc < 0 || *org == 0)
		return fail(c, -EINVAL, "member 'org_id' must be an org ID (1 to 4294967295)");
	return 0;
}

static int get_org(struct reg_ctx *c, uint32_t *org)
{
	int rc = get_org_opt(c, org);

	if (rc == 0 && *org == 0)
		return fail(c, -EINVAL, "member 'org_id' is required");
	return rc;
}

static int load_org(struct reg_ctx *c, uint32_t id, struct rdv_org *o)
{
	int rc = rdv_org_get(&c->t, c->db, id, o);

	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no such org");
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	return 0;
}

/* Join every network org \p o owns, as network_join would (events, audit),
 * and answer each with its members. */
static int enroll_networks(struct reg_ctx *c, const struct rdv_org *o, struct idset *joined)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct idset nets = {0};
	int rc = 0;

	if (rdv_org_net_iter(&c->t, c->db, o->id, idset_cb, &nets) < 0) {
		rc = fail(c, -EIO, "registry store error");
		goto out;
	}
	jg_key(&c->out, "joined");
	jg_array_open(&c->out);
	for (size_t i = 0; i < nets.n; i++) {
		uint16_t id = (uint16_t)nets.v[i];
		if ((rc = load_net(c, id, &net)) < 0) {
			rc = fail(c, -EIO, "registry store error"); /* the index lies */
			goto out;
		}
		if (!rdv_member_has(&c->t, c->db, id, c->self_id)) {
			if ((rc = add_member(c, &net, &c->self)) < 0)
				goto out;
			if (audit_begin(c, &d) == 0) {
				jg_kstr(&d, "join_rule", "org");
				jg_ku64(&d, "org_id", o->id);
				audit_end(c, &d, "network.joined", net_subj(sb, id));
			}
			if (idset_add(joined, id) < 0) {
				rc = fail(c, -EIO, "out of memory");
				goto out;
			}
		}
		jg_map_open(&c->out);
		jg_key(&c->out, "network");
		jg_map_open(&c->out);
		put_network(&c->out, &net);
		jg_map_close(&c->out);
		if ((rc = put_members(c, "members", id, c->self_id)) < 0)
			goto out;
		jg_map_close(&c->out);
	}
	jg_array_close(&c->out);
out:
	idset_free(&nets);
	return rc;
}

static void put_id_list(struct json_gen *j, const char *key, const struct idset *s, size_t max)
{
	jg_key(j, key);
	jg_array_open(j);
	for (size_t i = 0; i < s->n && i < max; i++)
		jg_u64(j, s->v[i]);
	jg_array_close(j);
}

/* Enrol in an org with its enroll token: membership of the org and of
 * every network it owns.  Idempotent: a member enrolling again gets the
 * same answer, and only networks it is not in yet are joined. */
static int op_org_enroll(struct reg_ctx *c)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_org o;
	struct idset joined = {0};
	const char *tok;
	uint32_t id;
	int rc, is_new, bad;

	if ((rc = get_org(c, &id)) < 0)
		return rc;
	if (json_get_str(c->req.root, "token", &tok) < 0)
		return fail(c, -EINVAL, "member 'token' must be the org's enroll token");
	if ((rc = load_org(c, id, &o)) < 0)
		return rc;
	crypto_hash_sha256(h, (const uint8_t *)tok, strlen(tok));
	bad = sodium_memcmp(h, o.enroll_hash, sizeof(h)) != 0;
	sodium_memzero(h, sizeof(h));
	if (bad)
		return fail(c, -EACCES, "wrong enroll token for org %u", id);
	is_new = !rdv_org_member_has(&c->t, c->db, id, c->self_id);
	if (is_new)
		rdv_org_member_put(&c->t, c->db, id, c->self_id, c->now);
	jg_ku64(&c->out, "org_id", id);
	if ((rc = enroll_networks(c, &o, &joined)) < 0)
		goto out;
	if ((is_new || joined.n) && audit_begin(c, &d) == 0) {
		jg_kbool(&d, "new", is_new);
		put_id_list(&d, "networks_joined", &joined, AUDIT_LIST_MAX);
		audit_end(c, &d, "org.enrolled", org_subj(sb, id));
	}
	if (is_new || joined.n)
		log_info("node %u enrolled in org %u (%zu networks joined)", c->self_id, id,
			 joined.n);
out:
	idset_free(&joined);
	return rc;
}

/* ------------------------------------------------------------ policy */

/* Member `network_id` of a policy request: a network the caller may read
 * the policy of.  A node must be a member (not a member and no such
 * network are the same forbidden, as for network_nodes); the admin gets
 * not_found for a network that does not exist. */
static int policy_net(struct reg_ctx *c, uint16_t *id)
{
	struct rdv_network net;
	int rc;

	if ((rc = get_net(c, id, NULL)) < 0)
		return rc;
	if (!c->admin) {
		if (*id == 0 || !rdv_member_has(&c->t, c->db, *id, c->self_id))
			return fail(c, -EACCES, "not a member of network %u", *id);
		return 0;
	}
	if (*id == 0)
		return fail(c, -EINVAL, "the backbone (network 0) has no policy");
	return load_net(c, *id, &net);
}

static int op_policy_show(struct reg_ctx *c)
{
	struct rdv_policy p;
	uint16_t id = 0;
	int rc;

	if ((rc = policy_net(c, &id)) < 0)
		return rc;
	if (rdv_policy_get(&c->t, c->db, id, &p, 1) < 0)
		return fail(c, -EIO, "registry store error");
	jg_ku64(&c->out, "network_id", id);
	jg_ku64(&c->out, "version", p.version);
	jg_key(&c->out, "policy");
	/* Stored canonical (policy_gen's output), so it goes out verbatim. */
	if (p.json)
		jg_raw(&c->out, p.json, p.len);
	else
		jg_raw(&c->out, "{\"rules\":[]}", strlen("{\"rules\":[]}"));
	rdv_policy_free(&p);
	return 0;
}

/* A policy_member for \p n: tags as a NULL-terminated pointer array. */
struct pmember {
	struct policy_member m;
	const char *tags[RDV_TAGS_MAX + 1];
};

static void pmember_set(struct pmember *pm, const struct rdv_node *n)
{
	size_t k = 0;

	for (; k < n->ntags && k < RDV_TAGS_MAX; k++)
		pm->tags[k] = n->tags[k];
	pm->tags[k] = NULL;
	pm->m.node = n->id;
	pm->m.tags = pm->tags;
}

/* Member \p key of policy_test: a node ID (number or digits), an address
 * "N:NNNN.HHHH.LLLL" or a hostname (with or without ".pilot").  \p n gets
 * the node with its tags when they count: for a node asking, those of
 * members of \p net (anyone else is tested without tags); a hostname must
 * name a member or a node the caller can see, else it is not_found like a
 * name nobody has. */
static int policy_party(struct reg_ctx *c, const char *key, uint16_t net, struct rdv_node *n)
{
	char host[RDV_HOSTNAME_MAX + 1], buf[RDV_HOSTNAME_MAX + sizeof(PILOT_SUFFIX)];
	yajl_val v = json_get(c->req.root, key);
	struct pilot_addr a;
	struct rdv_node tmp;
	const char *s, *why;
	uint32_t id = 0;
	int by_name = 0, rc;

	memset(n, 0, sizeof(*n));
	if (v && YAJL_IS_INTEGER(v)) {
		if (json_get_u32(c->req.root, key, &id) < 0)
			id = 0;
	} else if (v && YAJL_IS_STRING(v)) {
		s = v->u.string;
		if (s[0] && strspn(s, "0123456789") == strlen(s)) {
			unsigned long long x = strlen(s) <= 10 ? strtoull(s, NULL, 10) : 0;
			id = x <= UINT32_MAX ? (uint32_t)x : 0;
		} else if (addr_parse(s, &a) == 0) {
			id = a.node;
		} else {
			size_t len = strlen(s);
			if (len >= sizeof(buf))
				return fail(c, -EINVAL, "member '%s': hostname %s", key,
					    "must be 1 to 63 characters");
			memcpy(buf, s, len + 1);
			if (len > strlen(PILOT_SUFFIX) &&
			    strcasecmp(buf + len - strlen(PILOT_SUFFIX), PILOT_SUFFIX) == 0)
				buf[len - strlen(PILOT_SUFFIX)] = '\0';
			if ((why = hostname_norm(buf, host)))
				return fail(c, -EINVAL, "member '%s': hostname %s", key, why);
			rc = rdv_host_get(&c->t, c->db, host, &id);
			if (rc == -ENOENT)
				return fail(c, -ENOENT, "no such node");
			if (rc < 0)
				return fail(c, -EIO, "registry store error");
			by_name = 1;
		}
	} else {
		return fail(c, -EINVAL, "member '%s' must be a node ID, address or hostname", key);
	}
	if (id == 0)
		return fail(c, -EINVAL, "member '%s' must be a node ID, address or hostname", key);
	n->id = id;
	rc = load_node(c, id, &tmp);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && (c->admin || id == c->self_id || rdv_member_has(&c->t, c->db, net, id))) {
		*n = tmp;
		return 0;
	}
	if (by_name && (rc < 0 || c->admin || !rdv_visible(&c->t, c->db, c->self_id, &tmp)))
		return fail(c, -ENOENT, "no such node");
	return 0;
}

/* "tcp/443", "udp/53", "icmp". */
static int policy_port(struct reg_ctx *c, uint8_t *proto, uint16_t *port)
{
	const char *s, *num;
	char *end;
	unsigned long v;

	if (json_get_str(c->req.root, "port", &s) < 0)
		goto bad;
	*port = 0;
	if (strcmp(s, "icmp") == 0) {
		*proto = POLICY_P_ICMP;
		return 0;
	}
	if (strncmp(s, "tcp/", 4) == 0)
		*proto = POLICY_P_TCP;
	else if (strncmp(s, "udp/", 4) == 0)
		*proto = POLICY_P_UDP;
	else
		goto bad;
	num = s + 4;
	if (num[0] < '1' || num[0] > '9' || strlen(num) > 5)
		goto bad;
	v = strtoul(num, &end, 10);
	if (*end || v == 0 || v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	return fail(c, -EINVAL, "member 'port' must be tcp/PORT, udp/PORT or icmp");
}

/* The optional name of rule \p idx in the canonical document. */
static void put_rule_name(struct json_gen *j, const struct rdv_policy *p, int idx)
{
	yajl_val root = NULL, rules, name = NULL;
	char err[64];

	if (idx >= 0 && p->json)
		root = json_parse(p->json, p->len, 0, err, sizeof(err));
	rules = json_get(root, "rules");
	if (YAJL_IS_ARRAY(rules) && (size_t)idx < rules->u.array.len)
		name = json_get(rules->u.array.values[idx], "name");
	jg_kstr(j, "rule_name", YAJL_IS_STRING(name) ? name->u.string : "");
	if (root)
		yajl_tree_free(root);
}

static int op_policy_test(struct reg_ctx *c)
{
	struct rdv_node from, to;
	struct pmember pf, pt;
	struct rdv_policy p;
	struct policy *pol = NULL;
	char err[160];
	uint16_t id = 0, port = 0;
	uint8_t proto = 0;
	int rc, allowed, rule = -1;

	if ((rc = policy_net(c, &id)) < 0 || (rc = policy_party(c, "from", id, &from)) < 0 ||
	    (rc = policy_party(c, "to", id, &to)) < 0 || (rc = policy_port(c, &proto, &port)) < 0)
		return rc;
	if (rdv_policy_get(&c->t, c->db, id, &p, 1) < 0)
		return fail(c, -EIO, "registry store error");
	if (p.rules && policy_parse(p.json, p.len, &pol, err, sizeof(err)) < 0) {
		rdv_policy_free(&p);
		return fail(c, -EIO, "stored policy of network %u: %s", id, err);
	}
	pmember_set(&pf, &from);
	pmember_set(&pt, &to);
	allowed = policy_eval(pol, &pf.m, &pt.m, proto, port, &rule);
	jg_kbool(&c->out, "allowed", allowed == 1);
	jg_key(&c->out, "rule");
	jg_i64(&c->out, rule);
	put_rule_name(&c->out, &p, rule);
	jg_kbool(&c->out, "default_deny", p.rules > 0);
	jg_ku64(&c->out, "version", p.version);
	policy_free(pol);
	rdv_policy_free(&p);
	return 0;
}

/* A member as policy_view_gen sees it: the tags are copied, since the
 * node records they come from do not outlive the scan. */
struct vnode {
	uint32_t id;
	size_t ntags;
	char tags[RDV_TAGS_MAX][RDV_TAG_MAX + 1];
	const char *ptrs[RDV_TAGS_MAX + 1];
};

struct view_members {
	struct reg_ctx *c;
	struct vnode *v;
	size_t n, cap;
};

static int view_member_cb(void *arg, uint32_t id)
{
	struct view_members *vm = arg;
	struct rdv_node n;
	int rc = load_node(vm->c, id, &n);

	if (rc == -ENOENT || (rc == 0 && n.revoked))
		return 0;
	if (rc < 0)
		return rc;
	if (vm->n == vm->cap) {
		size_t ncap = vm->cap ? vm->cap * 2 : 16;
		struct vnode *nv = realloc(vm->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		vm->v = nv;
		vm->cap = ncap;
	}
	vm->v[vm->n].id = n.id;
	vm->v[vm->n].ntags = MIN(n.ntags, (size_t)RDV_TAGS_MAX);
	memcpy(vm->v[vm->n].tags, n.tags, sizeof(n.tags));
	vm->n++;
	return 0;
}

/* The caller's view of a network's policy (policy_view_gen): what pilotd
 * needs to decide its own flows there, and nothing about other pairs. */
static int op_policy_view(struct reg_ctx *c)
{
	struct view_members vm = {.c = c};
	struct policy_member *pm = NULL;
	struct policy *pol = NULL;
	struct rdv_policy p = {0};
	struct json_gen j;
	yajl_val view = NULL;
	const char *s;
	char err[160];
	uint16_t id = 0;
	size_t len;
	int rc;

	if ((rc = policy_net(c, &id)) < 0)
		return rc;
	if (json_gen_init(&j) < 0)
		return fail(c, -EIO, "out of memory");
	if (rdv_policy_get(&c->t, c->db, id, &p, 1) < 0 ||
	    rdv_member_iter(&c->t, c->db, id, view_member_cb, &vm) < 0) {
		rc = fail(c, -EIO, "registry store error");
		goto out;
	}
	if (p.rules && policy_parse(p.json, p.len, &pol, err, sizeof(err)) < 0) {
		rc = fail(c, -EIO, "stored policy of network %u: %s", id, err);
		goto out;
	}
	pm = calloc(vm.n ? vm.n : 1, sizeof(*pm));
	if (!pm) {
		rc = fail(c, -EIO, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < vm.n; i++) {
		struct vnode *v = &vm.v[i];
		for (size_t k = 0; k < v->ntags; k++)
			v->ptrs[k] = v->tags[k];
		v->ptrs[v->ntags] = NULL;
		pm[i].node = v->id;
		pm[i].tags = v->ptrs;
	}
	/* Generated apart and merged member by member: the view's members
	 * sit at the top level of the answer, beside network_id and
	 * version. */
	if (policy_view_gen(pol, pm, vm.n, c->self_id, &j) < 0 ||
	    json_gen_finish(&j, &s, &len) < 0 ||
	    !(view = json_parse(s, len, 0, err, sizeof(err)))) {
		rc = fail(c, -EIO, "cannot compile the policy view of network %u", id);
		goto out;
	}
	jg_ku64(&c->out, "network_id", id);
	jg_ku64(&c->out, "version", p.version);
	for (size_t i = 0; YAJL_IS_OBJECT(view) && i < view->u.object.len; i++) {
		jg_key(&c->out, view->u.object.keys[i]);
		json_gen_value(&c->out, view->u.object.values[i]);
	}
	rc = 0;
out:
	if (view)
		yajl_tree_free(view);
	json_gen_free(&j);
	policy_free(pol);
	rdv_policy_free(&p);
	free(pm);
	free(vm.v);
	return rc;
}

static const char *const k_register[] = {"public_key", "listen_port", "public", "hostname",
					 "restarted",  "behind_nat",  NULL};
static const char *const k_heartbeat[] = {"listen_port", "behind_nat", NULL};
static const char *const k_lookup[] = {"target", "public_key", NULL};
static const char *const k_target[] = {"target", NULL};
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

static const struct reg_op reg_ops[] = {
    {"register", k_register, op_register, 0},
    {"heartbeat", k_heartbeat, op_heartbeat, 0},
    {"lookup", k_lookup, op_lookup, 0},
    {"resolve", k_target, op_resolve, 0},
    {"deregister", k_none, op_deregister, 0},
    {"handshake", k_handshake, op_handshake, 0},
    {"inbox", k_none, op_inbox, 0},
    {"approve", k_target, op_approve, 0},
    {"reject", k_target, op_reject, 0},
    {"untrust", k_target, op_untrust, 0},
    {"trusts", k_none, op_trusts, 0},
    {"events", k_events, op_events, 0},
    {"set_hostname", k_hostname, op_set_hostname, 0},
    {"clear_hostname", k_none, op_clear_hostname, 0},
    {"set_visibility", k_visibility, op_set_visibility, 0},
    {"set_tags", k_tags, op_set_tags, 0},
    {"rotate_key", k_rotate, op_rotate_key, 0},
    {"find", k_hostname, op_find, 0},
    {"network_join", k_join, op_network_join, 0},
    {"network_leave", k_net, op_network_leave, 0},
    {"network_list", k_none, op_network_list, 0},
    {"network_nodes", k_net, op_network_nodes, 0},
    {"org_enroll", k_enroll, op_org_enroll, 0},
    {"policy_show", k_net, op_policy_show, 0},
    {"policy_test", k_policy_test, op_policy_test, 0},
    {"policy_view", k_net, op_policy_view, 0},
};

static const struct reg_op *find_op(const struct reg_op *ops, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}

/* ---------------------------------------------------------------- admin */

/* Network names: 1-63 of [a-z0-9-_.], as given (no case folding: the
 * admin spells the canonical name). */
static int netname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RDV_NETNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

static int admin_network_create(struct reg_ctx *c)
{
	static const char *const later[] = {"ca", "oidc", "spiffe"};
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net = {0}, other;
	struct rdv_org org;
	const char *name, *rule, *tok = NULL;
	uint32_t want = 0;
	int rc;

	/* An org's admin creates networks of its own org, nothing else. */
	if ((rc = get_org_opt(c, &net.org)) < 0)
		return rc;
	if (c->org_scope && net.org != c->org_scope)
		return fail(c, -EACCES,
			    "an org's admin token creates only networks of its org (org_id %u)",
			    c->org_scope);
	if (json_get_str(c->req.root, "name", &name) < 0 || !netname_ok(name))
		return fail(c, -EINVAL, "member 'name' must be 1 to 63 of [a-z0-9-_.]");
	if (json_get_str(c->req.root, "join_rule", &rule) < 0)
		return fail(c, -EINVAL, "member 'join_rule' must be open, token or invite");
	for (size_t i = 0; i < nitems(join_rules); i++)
		if (strcmp(rule, join_rules[i].name) == 0)
			net.rule = join_rules[i].rule;
	for (size_t i = 0; !net.rule && i < nitems(later); i++)
		if (strcmp(rule, later[i]) == 0)
			return fail(c, -EINVAL, "join rule not supported yet");
	if (!net.rule)
		return fail(c, -EINVAL, "member 'join_rule' must be open, token or invite");
	rc = json_get_str(c->req.root, "token", &tok);
	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'token' must be a string");
	if (net.rule == RDV_JOIN_TOKEN &&
	    (!tok || strlen(tok) < NET_TOKEN_MIN || strlen(tok) > NET_TOKEN_MAX))
		return fail(c, -EINVAL,
			    "join rule token needs member 'token' of %d to %d characters",
			    NET_TOKEN_MIN, NET_TOKEN_MAX);
	if (net.rule != RDV_JOIN_TOKEN && tok)
		return fail(c, -EINVAL, "only join rule token takes a token");
	if (net.org && (rc = load_org(c, net.org, &org)) < 0)
		return rc;
	rc = json_get_u32(c->req.root, "network_id", &want);
	if (rc == -EINVAL || (rc == 0 && (want == 0 || want > UINT16_MAX)))
		return fail(c, -EINVAL, "member 'network_id' must be 1 to 65535");
	if (want) {
		rc = rdv_net_get(&c->t, c->db, (uint16_t)want, &other);
		if (rc == 0)
			return fail(c, -EEXIST, "network %u exists", want);
		if (rc != -ENOENT)
			return fail(c, -EIO, "registry store error");
		net.id = (uint16_t)want;
	} else {
		rc = rdv_net_id_free(&c->t, c->db, &net.id);
		if (rc == -ENOSPC)
			return fail(c, -ENOSPC, "no network IDs left");
		if (rc < 0)
			return fail(c, -EIO, "registry store error");
	}
	snprintf(net.name, sizeof(net.name), "%s", name);
	net.created_ms = c->now;
	/* Only a hash is kept: the store never holds a usable token. */
	if (tok)
		crypto_hash_sha256(net.token_hash, (const uint8_t *)tok, strlen(tok));
	rdv_net_put(&c->t, c->db, &net);
	put_network(&c->out, &net);
	/* Never the token, not even its hash. */
	if (audit_begin(c, &d) == 0) {
		jg_kstr(&d, "name", net.name);
		jg_kstr(&d, "join_rule", join_rule_name(net.rule));
		if (net.org)
			jg_ku64(&d, "org_id", net.org);
		audit_end(c, &d, "network.created", net_subj(sb, net.id));
	}
	log_info("admin from %s: created network %u '%s' (join rule %s, org %u)", c->peer_ip,
		 net.id, net.name, rule, net.org);
	return 0;
}

struct pair_collect {
	uint16_t net;
	uint32_t node;
	uint64_t *v;
	size_t n, cap;
};

static int pair_collect_cb(void *arg, uint32_t peer, uint16_t basis)
{
	struct pair_collect *pc = arg;
	uint32_t a = MIN(pc->node, peer), b = MAX(pc->node, peer);

	if (basis != pc->net)
		return 0;
	if (pc->n == pc->cap) {
		size_t ncap = pc->cap ? pc->cap * 2 : 16;
		uint64_t *nv = realloc(pc->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		pc->v = nv;
		pc->cap = ncap;
	}
	pc->v[pc->n++] = (uint64_t)a << 32 | b;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int admin_network_delete(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_network net;
	struct idset m = {0};
	struct pair_collect pc = {0};
	struct ev_body b = {0};
	size_t np = 0;
	uint16_t id = 0;
	int rc;

	if ((rc = get_net(c, &id, "the backbone (network 0) cannot be deleted")) < 0 ||
	    (rc = load_net(c, id, &net)) < 0)
		return rc;
	if (rdv_member_iter(&c->t, c->db, id, idset_cb, &m) < 0)
		goto store_err;
	/* Pairs this network approved; each is seen from both of its nodes. */
	pc.net = id;
	for (size_t i = 0; i < m.n; i++) {
		pc.node = m.v[i];
		if (rdv_trust_iter_basis(&c->t, c->db, m.v[i], pair_collect_cb, &pc) < 0)
			goto store_err;
	}
	if (pc.n)
		qsort(pc.v, pc.n, sizeof(*pc.v), cmp_u64);
	for (size_t i = 0; i < pc.n; i++) {
		uint32_t a = (uint32_t)(pc.v[i] >> 32), bb = (uint32_t)pc.v[i];
		if (i && pc.v[i] == pc.v[i - 1])
			continue;
		rdv_trust_del(&c->t, c->db, a, bb);
		/* Neither side asked for this: both are told. */
		b.node_id = bb;
		queue_event(c, a, "trust.revoked", &b);
		b.node_id = a;
		queue_event(c, bb, "trust.revoked", &b);
		audit_trust_revoked(c, a, bb, "network_deleted", id);
		np++;
	}
	b.network_id = id;
	for (size_t i = 0; i < m.n; i++) {
		for (size_t j = 0; j < m.n; j++) {
			if (i == j)
				continue;
			b.node_id = m.v[j];
			queue_event(c, m.v[i], "network.left", &b);
		}
		b.node_id = 0;
		queue_event(c, m.v[i], "network.deleted", &b);
		rdv_member_del(&c->t, c->db, id, m.v[i]);
	}
	rdv_net_del(&c->t, c->db, id);
	if (audit_begin(c, &d) == 0) {
		jg_kstr(&d, "name", net.name);
		jg_ku64(&d, "members", m.n);
		jg_ku64(&d, "trust_pairs_revoked", np);
		audit_end(c, &d, "network.deleted", net_subj(sb, id));
	}
	log_info("admin from %s: deleted network %u '%s' (%zu members, %zu trust pairs revoked)",
		 c->peer_ip, id, net.name, m.n, np);
	rc = 0;
	goto out;
store_err:
	rc = fail(c, -EIO, "registry store error");
out:
	free(pc.v);
	idset_free(&m);
	return rc;
}

/* An invite network is joined only with a member's invite, so its first
 * member has to come from the admin (doc/REGISTRY.md, network_add).
 * Works for any join rule: the admin needs no token or invite. */
static int admin_network_add(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct rdv_network net;
	struct rdv_node n;
	uint16_t id = 0;
	uint32_t nid;
	int rc;

	if ((rc = get_net(c, &id, "every node is in the backbone (network 0)")) < 0 ||
	    (rc = load_net(c, id, &net)) < 0)
		return rc;
	if (json_get_u32(c->req.root, "node_id", &nid) < 0 || nid == 0)
		return fail(c, -EINVAL, "member 'node_id' must be a node ID");
	if ((rc = active_node(c, nid, &n)) < 0)
		return rc;
	if (!rdv_member_has(&c->t, c->db, id, nid)) {
		if ((rc = add_member(c, &net, &n)) < 0)
			return rc;
		audit_simple(c, "network.member_added", node_subj(sb, nid), id);
		log_info("admin from %s: added node %u to network %u", c->peer_ip, nid, id);
	}
	put_network(&c->out, &net);
	return 0;
}

/* An invite signed by the registry for the admin: how an operator enrols
 * nodes of an invite network without being a member himself.  Single use
 * and at most 7 days, as a member's (doc/REGISTRY.md "Invites"). */
static int admin_network_invite(struct reg_ctx *c)
{
	char code[RDV_INVITE_MAX], sb[SUBJ_MAX];
	struct rdv_network net;
	struct json_gen d;
	uint64_t expiry;
	uint32_t ttl = 86400;
	uint16_t id = 0;
	int rc;

	if ((rc = get_net(c, &id, "the backbone (network 0) takes no invites")) < 0)
		return rc;
	rc = rdv_net_get(&c->t, c->db, id, &net);
	if (rc < 0 && rc != -ENOENT)
		return fail(c, -EIO, "registry store error");
	if (c->org_scope && (rc == -ENOENT || net.org != c->org_scope))
		return fail(c, -EACCES, "network %u does not belong to org %u", id, c->org_scope);
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no such network");
	if (net.rule != RDV_JOIN_INVITE)
		return fail(c, -EINVAL, "network %u does not take an invite (join rule %s)", id,
			    join_rule_name(net.rule));
	if (json_get_u32(c->req.root, "ttl", &ttl) == -EINVAL || ttl == 0 ||
	    ttl > RDV_INVITE_MAX_LIFE_S)
		return fail(c, -EINVAL, "member 'ttl' must be 1 to %u seconds",
			    RDV_INVITE_MAX_LIFE_S);
	if (!c->db->invite_sk)
		return fail(c, -EIO, "the registry has no invite key");
	expiry = c->now / 1000 + ttl;
	if (rdv_invite_make(c->db->invite_sk, id, RDV_INVITER_REGISTRY, expiry, code,
			    sizeof(code)) < 0)
		return fail(c, -EIO, "could not make the invite");
	if (audit_begin(c, &d) == 0) {
		jg_ku64(&d, "network_id", id);
		jg_ku64(&d, "expires", expiry);
		audit_end(c, &d, "network.invite_made", net_subj(sb, id));
	}
	jg_ku64(&c->out, "network_id", id);
	jg_kstr(&c->out, "invite", code);
	jg_ku64(&c->out, "expires", expiry);
	sodium_memzero(code, sizeof(code));
	log_info("admin from %s: made an invite to network %u (expires in %u s)", c->peer_ip, id,
		 ttl);
	return 0;
}

static int admin_network_nodes(struct reg_ctx *c)
{
	struct rdv_network net;
	uint16_t id = 0;
	int rc;

	if ((rc = get_net(c, &id, NULL)) < 0)
		return rc;
	/* The admin may list the backbone: every registered node. */
	if (id != 0 && (rc = load_net(c, id, &net)) < 0)
		return rc;
	return put_members(c, "nodes", id, 0);
}

/* ------------------------------------------------------------ admin: audit */

struct audit_out {
	struct json_gen *j;
	size_t n, limit;
	uint64_t last; /* event_id of the last record written */
	int more;      /* a further match exists */
	/* newest first: records are held back, the oldest may be one too many */
	int hold;
	char *buf;
	size_t len, cap;
	size_t *offs; /* record i is buf[offs[i]..offs[i+1]) */
};

static int audit_hold(struct audit_out *o, const char *rec, size_t len)
{
	if (o->n > o->limit)
		return -EOVERFLOW; /* audit_query delivers at most limit + 1 */
	if (o->len + len > o->cap) {
		size_t ncap = MAX(o->cap * 2, o->len + len + 65536);
		char *nb = realloc(o->buf, ncap);
		if (!nb)
			return -ENOMEM;
		o->buf = nb;
		o->cap = ncap;
	}
	if (!o->offs && !(o->offs = calloc(o->limit + 2, sizeof(*o->offs))))
		return -ENOMEM;
	memcpy(o->buf + o->len, rec, len);
	o->offs[o->n++] = o->len;
	o->len += len;
	o->offs[o->n] = o->len;
	return 0;
}

/* audit_rec_cb: records go out verbatim, the stored bytes (the hash chain
 * is over exactly those, so a client can re-check it). */
static int audit_out_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct audit_out *o = arg;

	if (o->hold)
		return audit_hold(o, rec, len);
	if (o->n == o->limit) {
		o->more = 1;
		return 1;
	}
	jg_raw(o->j, rec, len);
	o->n++;
	o->last = id;
	return 0;
}

/* The `node` member: a node ID (actor or subject "node:ID"), or an actor
 * or subject as written ("admin:192.0.2.1", "network:3", "ip:...").  */
static int audit_node_filter(struct reg_ctx *c, char *buf, size_t len, const char **out)
{
	yajl_val v = json_get(c->req.root, "node");
	uint32_t id;

	*out = NULL;
	if (!v)
		return 0;
	if (json_get_u32(c->req.root, "node", &id) == 0 && id != 0) {
		snprintf(buf, len, "node:%u", id);
		*out = buf;
		return 0;
	}
	if (YAJL_IS_STRING(v) && v->u.string[0] && strlen(v->u.string) <= AUDIT_NAME_MAX) {
		*out = v->u.string;
		return 0;
	}
	return fail(c, -EINVAL, "member 'node' must be a node ID or an actor/subject string");
}

/* Read the audit log: {"events":[records],"last_id":N,"more":bool}.
 * Continue with since_id = last_id + 1: that is the last record sent when
 * the limit cut the answer short, else the newest record of the log. */
static int admin_audit(struct reg_ctx *c)
{
	struct audit_filter f = {0};
	struct audit_out o = {.j = &c->out};
	char node[SUBJ_MAX];
	uint32_t limit = RDV_AUDIT_QUERY_DEFAULT;
	uint64_t head;
	int rc, newest = 0;

	rc = json_get_u64(c->req.root, "since_id", &f.since_id);
	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'since_id' must be an event ID");
	rc = json_get_u64(c->req.root, "since_ms", &f.since_ms);
	if (rc == -EINVAL)
		return fail(c, -EINVAL, "member 'since_ms' must be Unix milliseconds");
	rc = json_get_str(c->req.root, "type", &f.type);
	if (rc == -EINVAL || (rc == 0 && (!f.type[0] || strlen(f.type) >= AUDIT_TYPE_MAX)))
		return fail(c, -EINVAL,
			    "member 'type' must be an event type (\"area.what\", "
			    "\"area.\" or \"area.*\")");
	if ((rc = audit_node_filter(c, node, sizeof(node), &f.node)) < 0)
		return rc;
	f.node_exact = 1;
	rc = json_get_u32(c->req.root, "limit", &limit);
	if (rc == -EINVAL || limit == 0 || limit > RDV_AUDIT_QUERY_MAX)
		return fail(c, -EINVAL, "member 'limit' must be 1 to %d", RDV_AUDIT_QUERY_MAX);
	if (json_get_bool(c->req.root, "newest", &newest) == -EINVAL)
		return fail(c, -EINVAL, "member 'newest' must be true or false");
	/* One more than asked for tells whether the answer is complete. */
	f.limit = (size_t)limit + 1;
	f.newest = newest;
	o.limit = limit;
	o.hold = newest;
	head = audit_last_id(c->db->audit, NULL);
	jg_key(&c->out, "events");
	jg_array_open(&c->out);
	rc = audit_query(c->db->audit, &f, audit_out_cb, &o);
	if (rc == 0 && newest) {
		/* Delivered oldest first: the surplus one is the oldest. */
		size_t skip = o.n > limit ? 1 : 0;
		o.more = skip;
		for (size_t i = skip; i < o.n; i++)
			jg_raw(&c->out, o.buf + o.offs[i], o.offs[i + 1] - o.offs[i]);
	}
	jg_array_close(&c->out);
	free(o.buf);
	free(o.offs);
	if (rc < 0)
		return fail(c, -EIO, "audit log: %s", strerror(-rc));
	jg_ku64(&c->out, "last_id", !newest && o.more ? o.last : MAX(head, o.last));
	jg_kbool(&c->out, "more", o.more);
	return 0;
}

/* Emit the members of object \p v into the open object of \p j. */
static void put_members_of(struct json_gen *j, yajl_val v)
{
	for (size_t i = 0; YAJL_IS_OBJECT(v) && i < v->u.object.len; i++) {
		yajl_val m = v->u.object.values[i];
		jg_key(j, v->u.object.keys[i]);
		if (YAJL_IS_STRING(m))
			jg_str(j, m->u.string);
		else if (YAJL_IS_NUMBER(m) && m->u.number.r)
			jg_raw(j, m->u.number.r, strlen(m->u.number.r));
		else if (YAJL_IS_TRUE(m) || YAJL_IS_FALSE(m))
			jg_bool(j, YAJL_IS_TRUE(m));
		else
			jg_null(j);
	}
}

/* Verify the whole audit log: audit_verify_json's object plus the audit
 * key's public half ("public_key", b64), which checkpoints are checked
 * with.  A log that does not verify is still a 200: "ok" is the verdict. */
static int admin_audit_verify(struct reg_ctx *c)
{
	struct audit_verify_result res;
	struct json_gen j;
	const char *s;
	char err[128];
	yajl_val v = NULL;
	size_t len;
	int rc;

	rc = audit_verify(c->db->audit, c->db->have_audit_pk ? c->db->audit_pk : NULL, &res);
	if (rc < 0)
		return fail(c, -EIO, "audit log: %s", strerror(-rc));
	if (json_gen_init(&j) < 0)
		return fail(c, -EIO, "out of memory");
	audit_verify_json(&res, &j);
	if (json_gen_finish(&j, &s, &len) == 0)
		v = json_parse(s, len, 0, err, sizeof(err));
	json_gen_free(&j);
	if (!v)
		return fail(c, -EIO, "cannot build the verification result");
	put_members_of(&c->out, v);
	yajl_tree_free(v);
	if (c->db->have_audit_pk)
		jg_kb64(&c->out, "public_key", c->db->audit_pk, sizeof(c->db->audit_pk));
	else
		jg_kstr(&c->out, "public_key", "");
	if (res.ok)
		log_info("admin from %s: audit log verified (%llu records)", c->peer_ip,
			 (unsigned long long)res.records);
	else
		log_warnx("admin from %s: audit log does NOT verify: %s", c->peer_ip, res.reason);
	return 0;
}

/* ------------------------------------------------------------ admin: orgs */

/* A fresh secret: 32 random bytes, base64url without padding.  Only its
 * SHA-256 is kept. */
static void new_secret(char out[64], uint8_t hash[crypto_hash_sha256_BYTES])
{
	uint8_t raw[ORG_TOKEN_BYTES];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, 64, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	crypto_hash_sha256(hash, (const uint8_t *)out, strlen(out));
}

static int admin_org_create(struct reg_ctx *c)
{
	char enroll[64], admin[64], sb[SUBJ_MAX];
	struct rdv_org o = {0};
	struct json_gen d;
	const char *name;
	int rc;

	if (json_get_str(c->req.root, "name", &name) < 0 || !netname_ok(name))
		return fail(c, -EINVAL, "member 'name' must be 1 to 63 of [a-z0-9-_.]");
	rc = rdv_org_id_alloc(&c->t, c->db, &o.id);
	if (rc == -ENOSPC)
		return fail(c, -ENOSPC, "no org IDs left");
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.created_ms = c->now;
	new_secret(enroll, o.enroll_hash);
	new_secret(admin, o.admin_hash);
	rdv_org_put(&c->t, c->db, &o);
	/* Shown once, here; the reply is sent only if this commits. */
	jg_ku64(&c->out, "org_id", o.id);
	jg_kstr(&c->out, "name", o.name);
	jg_kstr(&c->out, "enroll_token", enroll);
	jg_kstr(&c->out, "admin_token", admin);
	sodium_memzero(enroll, sizeof(enroll));
	sodium_memzero(admin, sizeof(admin));
	if (audit_begin(c, &d) == 0) {
		jg_kstr(&d, "name", o.name);
		audit_end(c, &d, "org.created", org_subj(sb, o.id));
	}
	log_info("admin from %s: created org %u '%s'", c->peer_ip, o.id, o.name);
	return 0;
}

/* The org an admin request names: an org's admin reaches only its own
 * (forbidden otherwise, before anything about the other is read). */
static int admin_org(struct reg_ctx *c, uint32_t id, struct rdv_org *o)
{
	if (c->org_scope && id != c->org_scope)
		return fail(c, -EACCES, "an org's admin token acts only on org %u", c->org_scope);
	return load_org(c, id, o);
}

static int org_member_out(void *arg, uint32_t id)
{
	struct reg_ctx *c = arg;
	struct rdv_node n;
	int rc = load_node(c, id, &n);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	/* A deregistered member is hidden, as in every member list. */
	if (!n.active)
		return 0;
	jg_map_open(&c->out);
	put_lookup(&c->out, &n);
	jg_map_close(&c->out);
	return 0;
}

static int admin_org_members(struct reg_ctx *c)
{
	struct rdv_org o;
	uint32_t id;
	int rc;

	if ((rc = get_org(c, &id)) < 0 || (rc = admin_org(c, id, &o)) < 0)
		return rc;
	jg_key(&c->out, "nodes");
	jg_array_open(&c->out);
	if (rdv_org_member_iter(&c->t, c->db, id, org_member_out, c) < 0)
		return fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	return 0;
}

static int inbox_from_cb(void *arg, const struct rdv_inbox_entry *e)
{
	return idset_add(arg, e->from);
}

/* Take node \p n out of everything, in the request's transaction: every
 * network (network.left to the rest, policy.changed where views change),
 * every trust pair (trust.revoked to the peer), every org, its inbox and
 * hostname; then mark it and its key revoked.  The lists of what it left
 * go to \p nets and \p peers. */
static int revoke_node(struct reg_ctx *c, struct rdv_node *n, struct idset *nets,
		       struct idset *peers)
{
	struct idset orgs = {0}, m = {0}, inbox = {0};
	struct rdv_network net;
	struct ev_body b = {.node_id = n->id};
	int rc = 0;

	/* Collect, then change: no writes under an open cursor. */
	if (rdv_node_net_iter(&c->t, c->db, n->id, idset_cb, nets) < 0 ||
	    rdv_trust_iter(&c->t, c->db, n->id, idset_cb, peers) < 0 ||
	    rdv_node_org_iter(&c->t, c->db, n->id, idset_cb, &orgs) < 0 ||
	    rdv_inbox_iter(&c->t, c->db, n->id, inbox_from_cb, &inbox) < 0) {
		rc = fail(c, -EIO, "registry store error");
		goto out;
	}
	for (size_t i = 0; i < nets->n; i++) {
		uint16_t id = (uint16_t)nets->v[i];
		if ((rc = load_net(c, id, &net)) < 0)
			goto out;
		rdv_member_del(&c->t, c->db, id, n->id);
		net.members = net.members ? net.members - 1 : 0;
		rdv_net_put(&c->t, c->db, &net);
		m.n = 0;
		if (rdv_member_iter(&c->t, c->db, id, idset_cb, &m) < 0) {
			rc = fail(c, -EIO, "registry store error");
			goto out;
		}
		b.network_id = id;
		for (size_t k = 0; k < m.n; k++)
			queue_event(c, m.v[k], "network.left", &b);
		if ((rc = policy_touch(c, id)) < 0)
			goto out;
	}
	b.network_id = 0;
	for (size_t i = 0; i < peers->n; i++) {
		rdv_trust_del(&c->t, c->db, n->id, peers->v[i]);
		queue_event(c, peers->v[i], "trust.revoked", &b);
	}
	for (size_t i = 0; i < orgs.n; i++)
		rdv_org_member_del(&c->t, c->db, orgs.v[i], n->id);
	for (size_t i = 0; i < inbox.n; i++)
		rdv_inbox_del(&c->t, c->db, n->id, inbox.v[i]);
	release_hostname(c, n);
	n->active = 0;
	n->revoked = 1;
	rdv_node_put(&c->t, c->db, n);
	rdv_key_revoke(&c->t, c->db, n->pk, n->id);
	/* Its open streams are woken, and ended (rdv_http.c). */
	add_notify(c, n->id);
out:
	idset_free(&orgs);
	idset_free(&m);
	idset_free(&inbox);
	return rc;
}

static void put_revoke_answer(struct reg_ctx *c, uint32_t node, const struct idset *nets,
			      const struct idset *peers, size_t notified)
{
	jg_ku64(&c->out, "node_id", node);
	put_id_list(&c->out, "networks_left", nets, SIZE_MAX);
	put_id_list(&c->out, "trust_revoked", peers, SIZE_MAX);
	jg_ku64(&c->out, "notified", notified);
}

/* Revoke a node (doc/REGISTRY.md "Revocation"): everywhere, for ever, in
 * one transaction.  The deployment's admin may leave org_id out (a
 * deployment-wide revocation); an org's admin revokes members of its org
 * only (org_id defaults to its org).  Revoking a revoked node again
 * changes nothing. */
static int admin_org_revoke(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_org o;
	struct rdv_node n;
	struct idset aud = {0}, nets = {0}, peers = {0};
	struct ev_body b = {0};
	uint32_t nid, org;
	int rc;

	if (json_get_u32(c->req.root, "node_id", &nid) < 0 || nid == 0)
		return fail(c, -EINVAL, "member 'node_id' must be a node ID");
	if ((rc = get_org_opt(c, &org)) < 0)
		return rc;
	/* With an org's token the org is that one (naming it is optional:
	 * `pilotctl org revoke NODE` sends none). */
	if (org == 0)
		org = c->org_scope;
	if (org && (rc = admin_org(c, org, &o)) < 0)
		return rc;
	/* An org's admin must not reach beyond its members: anyone else is
	 * answered alike, whether it exists or not.  (A revoked node is a
	 * member of no org any more.) */
	if (org && !rdv_org_member_has(&c->t, c->db, org, nid))
		return fail(c, -ENOENT, "node %u is not a member of org %u", nid, org);
	rc = load_node(c, nid, &n);
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no such node");
	if (rc < 0)
		return rc;
	if (n.revoked) {
		put_revoke_answer(c, nid, &nets, &peers, 0);
		return 0;
	}
	/* Who hears of it is decided before anything is removed. */
	if ((rc = audience(c, nid, &aud)) < 0)
		goto out;
	b.node_id = nid;
	for (size_t i = 0; i < aud.n; i++)
		queue_event(c, aud.v[i], "node.revoked", &b);
	if ((rc = revoke_node(c, &n, &nets, &peers)) < 0)
		goto out;
	if (audit_begin(c, &d) == 0) {
		if (org)
			jg_ku64(&d, "org_id", org);
		jg_ku64(&d, "networks_left_count", nets.n);
		put_id_list(&d, "networks_left", &nets, AUDIT_LIST_MAX);
		jg_ku64(&d, "trust_revoked_count", peers.n);
		put_id_list(&d, "trust_revoked", &peers, AUDIT_LIST_MAX);
		jg_ku64(&d, "notified", aud.n);
		jg_kb64(&d, "public_key", n.pk, sizeof(n.pk));
		audit_end(c, &d, "node.revoked", node_subj(sb, nid));
	}
	log_warnx("admin from %s: revoked node %u (%zu networks, %zu trust pairs, %zu nodes told)",
		  c->peer_ip, nid, nets.n, peers.n, aud.n);
	put_revoke_answer(c, nid, &nets, &peers, aud.n);
	rc = 0;
out:
	idset_free(&aud);
	idset_free(&nets);
	idset_free(&peers);
	return rc;
}

/* ------------------------------------------------------------ admin: policy */

/* Does \p body hold a "\u0000" escape inside a string?  yajl's tree keeps
 * strings NUL-terminated, so "tag:web\u0000x" would be read as "tag:web":
 * a policy must not mean less than what the admin sent. */
static int has_nul_escape(const char *body, size_t len)
{
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			in_str = body[i] == '"';
		} else if (body[i] == '"') {
			in_str = 0;
		} else if (body[i] == '\\' && i + 1 < len) {
			if (body[i + 1] == 'u' && i + 5 < len &&
			    memcmp(body + i + 2, "0000", 4) == 0)
				return 1;
			i++;
		}
	}
	return 0;
}

struct policy_resolver {
	struct reg_ctx *c;
	uint16_t net;
};

/* policy_resolve_fn: a hostname (canonical) to its node.  An org's admin
 * names only members of its org or of the network. */
static int policy_resolve(void *arg, const char *name, uint32_t *node)
{
	struct policy_resolver *pr = arg;
	struct reg_ctx *c = pr->c;
	struct rdv_node n;
	uint32_t id;

	if (rdv_host_get(&c->t, c->db, name, &id) < 0 || rdv_node_get(&c->t, c->db, id, &n) < 0 ||
	    n.revoked || strcmp(n.hostname, name) != 0)
		return -ENOENT;
	if (c->org_scope && !rdv_org_member_has(&c->t, c->db, c->org_scope, id) &&
	    !rdv_member_has(&c->t, c->db, pr->net, id))
		return -ENOENT;
	*node = id;
	return 0;
}

static int admin_policy_set(struct reg_ctx *c)
{
	struct policy_resolver pr = {c, 0};
	struct rdv_policy old, np = {0};
	struct rdv_network net;
	struct policy *pol = NULL;
	struct json_gen j;
	yajl_val v = json_get(c->req.root, "policy");
	char err[192], sb[SUBJ_MAX], *canon = NULL;
	struct json_gen d;
	const char *text;
	size_t tlen, clen;
	int rc;

	if ((rc = get_net(c, &pr.net, "the backbone (network 0) has no policy")) < 0)
		return rc;
	if (!v || !YAJL_IS_OBJECT(v))
		return fail(c, -EINVAL, "member 'policy' must be a pilot-policy(5) object");
	rc = rdv_net_get(&c->t, c->db, pr.net, &net);
	if (rc < 0 && rc != -ENOENT)
		return fail(c, -EIO, "registry store error");
	/* An org's admin learns nothing of networks outside its org. */
	if (c->org_scope && (rc == -ENOENT || net.org != c->org_scope))
		return fail(c, -EACCES, "network %u does not belong to org %u", pr.net,
			    c->org_scope);
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no such network");
	if (has_nul_escape(c->body, c->body_len))
		return fail(c, -EINVAL, "policy: a string holds a NUL character");
	if (json_gen_init(&j) < 0)
		return fail(c, -EIO, "out of memory");
	json_gen_value(&j, v);
	if (json_gen_finish(&j, &text, &tlen) < 0) {
		rc = fail(c, -EIO, "out of memory");
		goto out;
	}
	rc = policy_normalize(text, tlen, policy_resolve, &pr, &canon, &clen, err, sizeof(err));
	if (rc == -EINVAL || rc == -ENOENT || rc == -E2BIG) {
		rc = fail(c, rc == -E2BIG ? -E2BIG : -EINVAL, "policy: %s", err);
		goto out;
	}
	/* Names become "node:ID": the stored form may be the longer one, and
	 * it is what policy_show and every view are made from. */
	if (clen > POLICY_MAX_BYTES) {
		rc = fail(c, -E2BIG, "policy: %zu bytes in canonical form, more than %d (%d MiB)",
			  clen, POLICY_MAX_BYTES, POLICY_MAX_BYTES >> 20);
		goto out;
	}
	if (rc < 0 || policy_parse(canon, clen, &pol, err, sizeof(err)) < 0) {
		rc = fail(c, -EIO, "policy: %s", rc < 0 ? strerror(-rc) : err);
		goto out;
	}
	if (rdv_policy_get(&c->t, c->db, pr.net, &old, 0) < 0) {
		rc = fail(c, -EIO, "registry store error");
		goto out;
	}
	np.version = old.version + 1;
	np.rules = (uint32_t)policy_rule_count(pol);
	np.json = canon;
	np.len = clen;
	rdv_policy_put(&c->t, c->db, pr.net, &np);
	if ((rc = policy_tell(c, pr.net, np.version)) < 0)
		goto out;
	if (audit_begin(c, &d) == 0) {
		jg_ku64(&d, "version", np.version);
		jg_ku64(&d, "rules", np.rules);
		audit_end(c, &d, "policy.changed", net_subj(sb, pr.net));
	}
	log_info("admin from %s: policy of network %u is version %llu (%u rules)", c->peer_ip,
		 pr.net, (unsigned long long)np.version, np.rules);
	jg_ku64(&c->out, "network_id", pr.net);
	jg_ku64(&c->out, "version", np.version);
	jg_ku64(&c->out, "rules", np.rules);
	rc = 0;
out:
	policy_free(pol);
	free(canon);
	json_gen_free(&j);
	return rc;
}

static const char *const ka_create[] = {"name", "join_rule", "token", "network_id", "org_id", NULL};
static const char *const ka_add[] = {"network_id", "node_id", NULL};
static const char *const ka_invite[] = {"network_id", "ttl", NULL};
static const char *const ka_name[] = {"name", NULL};
static const char *const ka_org[] = {"org_id", NULL};
static const char *const ka_revoke[] = {"node_id", "org_id", NULL};
static const char *const ka_policy_set[] = {"network_id", "policy", NULL};
static const char *const ka_audit[] = {"since_id", "since_ms", "type", "node",
				       "limit",	   "newest",   NULL};

static const struct reg_op admin_ops[] = {
    {"network_create", ka_create, admin_network_create, 1},
    {"network_delete", k_net, admin_network_delete, 0},
    {"network_list", k_none, op_network_list, 0},
    {"network_nodes", k_net, admin_network_nodes, 0},
    {"network_add", ka_add, admin_network_add, 0},
    {"network_invite", ka_invite, admin_network_invite, 1},
    {"audit", ka_audit, admin_audit, 0},
    {"audit_verify", k_none, admin_audit_verify, 0},
    {"org_create", ka_name, admin_org_create, 0},
    {"org_members", ka_org, admin_org_members, 1},
    {"org_revoke", ka_revoke, admin_org_revoke, 1},
    {"policy_set", ka_policy_set, admin_policy_set, 1},
    {"policy_show", k_net, op_policy_show, 0},
    {"policy_test", k_policy_test, op_policy_test, 0},
};

/* Metrics slots: node ops, admin ops, then one "unknown" per API. */
#define OP_UNKNOWN_NODE ((int)(nitems(reg_ops) + nitems(admin_ops)))
#define OP_UNKNOWN_ADMIN (OP_UNKNOWN_NODE + 1)
_Static_assert(nitems(reg_ops) + nitems(admin_ops) + 2 <= RDV_OP_SLOTS,
	       "RDV_OP_SLOTS too small for the operations");

int rdv_op_label(int i, const char **api, const char **name)
{
	if (i < 0 || i > OP_UNKNOWN_ADMIN)
		return -ENOENT;
	if (i < (int)nitems(reg_ops) || i == OP_UNKNOWN_NODE) {
		*api = "node";
		*name = i == OP_UNKNOWN_NODE ? "unknown" : reg_ops[i].name;
	} else {
		*api = "admin";
		*name = i == OP_UNKNOWN_ADMIN ? "unknown" : admin_ops[i - nitems(reg_ops)].name;
	}
	return 0;
}

/* ---------------------------------------------------------------- entry */

/* Find the signer's key: register proves possession of the key in its
 * body; every other request names its node. */
static int find_signer(struct reg_ctx *c, int is_register)
{
	int rc;

	if (is_register) {
		if (json_get_b64(c->req.root, "public_key", c->pk, sizeof(c->pk)) < 0)
			return fail(c, -EINVAL,
				    "member 'public_key' must be base64 of an Ed25519 key");
		rc = rdv_key_get(&c->t, c->db, c->pk, &c->self_id);
		if (rc == -EKEYREVOKED) {
			/* Refused once the signature and nonce are checked, so
			 * that only the key's holder learns it was retired. */
			c->key_retired = 1;
			c->self_id = 0;
			return 0;
		}
		if (rc == -EKEYREJECTED) {
			/* Likewise; the revoked node is the claimed identity of
			 * the security record. */
			c->key_revoked = 1;
			return 0;
		}
		if (rc == -ENOENT)
			return 0;
		if (rc < 0)
			return fail(c, -EIO, "registry store error");
	} else {
		c->self_id = c->req.node_id;
	}
	rc = load_node(c, c->self_id, &c->self);
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "node %u is not registered", c->self_id);
	if (rc < 0)
		return rc;
	c->have_self = 1;
	if (!is_register)
		memcpy(c->pk, c->self.pk, sizeof(c->pk));
	return 0;
}

static int handle(struct reg_ctx *c, const struct reg_op *op, const char *body, size_t len,
		  const char *sig_b64)
{
	char path[sizeof(PATH_PREFIX) + REGMSG_OP_MAX], err[160];
	int is_register = strcmp(op->name, "register") == 0, rc;

	rc = regmsg_parse(op->name, body, len, op->keys, &c->req, err, sizeof(err));
	if (rc < 0)
		return fail(c, rc == -E2BIG ? -E2BIG : -EINVAL, "%s", err);
	if (!sig_b64)
		return fail(c, -EBADMSG, "missing Pilot-Signature header");
	store_txn_begin(c->db->st, &c->t, 0);
	if ((rc = find_signer(c, is_register)) < 0)
		return rc;
	snprintf(path, sizeof(path), PATH_PREFIX "%s", op->name);
	if (regmsg_verify(c->pk, path, body, len, sig_b64) < 0)
		return fail(c, -EBADMSG, "signature does not verify");
	if (regmsg_check_fresh(c->req.ts, c->now) < 0)
		return fail(c, -ESTALE, "timestamp is more than %d s from the registry's clock",
			    REGMSG_MAX_SKEW_MS / 1000);
	if (c->self_id && rdv_nonce_seen(&c->t, c->db, c->self_id, c->req.nonce))
		return fail(c, -EALREADY, "nonce already used");
	if (c->key_retired)
		return fail(c, -EACCES, "key_retired: this key was replaced by rotate_key");
	/* A revoked node is refused whatever it asks (register with its key
	 * included: it cannot come back as a new node either). */
	if (c->key_revoked || (c->have_self && c->self.revoked)) {
		c->refused_revoked = 1;
		return fail(c, -EACCES, "revoked");
	}
	if (!is_register && !c->self.active)
		return fail(c, -ENOENT, "node %u is deregistered; register again", c->self_id);
	rc = op->fn(c);
	if (rc < 0)
		return rc;
	/* The key decides the ID; a node that remembers another one (the
	 * registry lost its state) learns its ID from the reply. */
	if (is_register && c->req.has_node_id && c->req.node_id != c->self_id)
		log_info("node %u: registered while believing it was node %u", c->self_id,
			 c->req.node_id);
	if (c->self_id == 0)
		return fail(c, -EIO, "internal: no signer");
	rdv_nonce_put(&c->t, c->db, c->self_id, c->req.nonce, c->now);
	return c->t.ret;
}

static void log_refusal(const struct reg_ctx *c, const char *op, int err)
{
	size_t i = err_index(err);
	const char *code = i < nitems(err_map) ? err_map[i].code : "internal";

	/* Every admin action is logged; a wrong token is worth a warning. */
	if (c->admin && err == -EPERM)
		log_warnx("admin %s from %s: %s: %s", op, c->peer_ip, code, c->msg);
	else if (c->admin && i < nitems(err_map) && err != -ENOSPC && err != -EAGAIN)
		log_info("admin %s from %s: %s: %s", op, c->peer_ip, code, c->msg);
	/* Forgeries, replays and retired keys (perhaps a stolen one) are
	 * worth an operator's attention; ordinary client mistakes are not. */
	else if (err == -EBADMSG || err == -EALREADY || c->key_retired || c->refused_revoked)
		log_warnx("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code, c->msg);
	else if (i == nitems(err_map) || err == -ENOSPC || err == -EAGAIN)
		log_errorx("%s%s from %s (node %u): %s: %s", c->admin ? "admin " : "", op,
			   c->peer_ip, c->self_id, code, c->msg);
	else
		log_debug("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code, c->msg);
}

/* The audit type of a refusal that looks like an attack, or NULL. */
static const char *security_type(const struct reg_ctx *c, int err)
{
	if (c->admin)
		return err == -EPERM ? "security.unauthorized" : NULL;
	if (c->refused_revoked)
		return "security.revoked";
	switch (err) {
	case -EALREADY:
		return "security.nonce_replay";
	case -EBADMSG:
		return "security.bad_signature";
	case -ESTALE:
		return "security.stale";
	default:
		return NULL;
	}
}

/* Audit a refused request that looks like an attack, in a transaction of
 * its own: the refusal itself changed nothing.  The claimed identity is
 * not proven, so the actor is the source address ("ip:ADDR") and the
 * claimed node the subject.  At most RDV_SEC_AUDIT_PER_SEC records a
 * second, so that a flood of forgeries cannot fill the disk; the next
 * record written counts those left out ("suppressed"). */
static void security_audit(struct reg_ctx *c, const char *op, int err)
{
	struct rdv_sec_limit *l = &c->db->sec;
	const char *type = security_type(c, err), *s;
	char actor[INET6_ADDRSTRLEN + 8], sb[SUBJ_MAX], *det = NULL;
	uint32_t claimed = c->self_id ? c->self_id : c->req.has_node_id ? c->req.node_id : 0;
	struct store_txn t;
	struct json_gen d;
	size_t len;
	int rc;

	if (!type || !c->db->audit)
		return;
	if (c->now < l->window_ms || c->now - l->window_ms >= 1000) {
		l->window_ms = c->now;
		l->in_window = 0;
	}
	if (l->in_window >= RDV_SEC_AUDIT_PER_SEC) {
		l->suppressed++;
		l->suppressed_total++;
		return;
	}
	l->in_window++;
	if (json_gen_init(&d) < 0)
		return;
	jg_map_open(&d);
	jg_kstr(&d, "ip", c->peer_ip);
	jg_kstr(&d, "op", op);
	if (claimed)
		jg_ku64(&d, "claimed_node", claimed);
	if (!c->admin && strcmp(op, "register") == 0)
		jg_kb64(&d, "public_key", c->pk, sizeof(c->pk));
	jg_kstr(&d, "reason", c->msg);
	if (l->suppressed)
		jg_ku64(&d, "suppressed", l->suppressed);
	jg_map_close(&d);
	snprintf(actor, sizeof(actor), "ip:%s", c->peer_ip);
	rc = json_gen_finish(&d, &s, &len) < 0 || !(det = strndup(s, len)) ? -ENOMEM : 0;
	if (rc == 0) {
		store_txn_begin(c->db->st, &t, 0);
		rc = audit_append_txn(c->db->audit, &t, type, actor,
				      claimed ? node_subj(sb, claimed) : "", det, NULL);
		if (rc == 0)
			rc = store_txn_commit(&t);
		store_txn_abort(&t);
		if (rc == 0) {
			audit_txn_committed(c->db->audit);
			l->suppressed = 0;
		} else {
			audit_txn_aborted(c->db->audit);
		}
	}
	if (rc < 0)
		log_warnx("audit %s from %s: cannot record it: %s", type, c->peer_ip,
			  strerror(-rc));
	free(det);
	json_gen_free(&d);
}

static struct reg_ctx *ctx_new(struct rdv_db *db, const char *peer_ip, uint64_t now_ms)
{
	struct reg_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->db = db;
	c->peer_ip = peer_ip;
	c->now = now_ms;
	if (json_gen_init(&c->out) < 0) {
		free(c);
		return NULL;
	}
	jg_map_open(&c->out);
	return c;
}

/* Turn the outcome \p rc of a request into \p rep: commit on success (the
 * reply is built first, so what the client is told is exactly what became
 * durable), wake the streams of nodes with new events, free \p c. */
static int ctx_finish(struct reg_ctx *c, int rc, const char *op, struct rdv_reply *rep)
{
	struct rdv_db *db = c->db;
	int ret, committed = 0;

	if (rc == 0 && !c->streaming) {
		jg_map_close(&c->out);
		rc = reply_take(rep, 200, &c->out);
		if (rc < 0)
			rc = fail(c, -EIO, "cannot build the response");
	}
	if (rc == 0) {
		rc = store_txn_commit(&c->t);
		if (rc < 0) {
			fail(c, rc == -ENOSPC ? -ENOSPC : -EIO, "registry store: %s",
			     strerror(-rc));
			rc = rc == -ENOSPC ? -ENOSPC : -EIO;
		} else {
			committed = 1;
		}
	} else if (c->t.ret < 0) {
		/* The store failed under the op: that, not the op's verdict,
		 * is the answer. */
		fail(c, c->t.ret == -ENOSPC ? -ENOSPC : -EIO, "registry store: %s",
		     strerror(-c->t.ret));
		rc = c->t.ret == -ENOSPC ? -ENOSPC : -EIO;
	}
	store_txn_abort(&c->t);
	/* The audit module caches the chain head only once it is durable. */
	if (committed)
		audit_txn_committed(db->audit);
	else
		audit_txn_aborted(db->audit);

	if (rc < 0) {
		log_refusal(c, op, rc);
		security_audit(c, op, rc);
		ret = rdv_reply_error(rep, rc, c->msg); /* frees a reply built before */
		goto out;
	}
	if (c->streaming) {
		rep->status = 200;
		rep->body = c->lines;
		rep->len = c->nlines;
		c->lines = NULL;
		rep->stream_node = c->self_id;
		rep->stream_seq = c->stream_seq;
	}
	if (c->admin)
		log_info("admin %s from %s: ok", op, c->peer_ip);
	else
		log_debug("%s from %s (node %u): ok", op, c->peer_ip, c->self_id);
	idset_sort_unique(&c->notify);
	for (size_t i = 0; db->notify && i < c->notify.n; i++)
		db->notify(db->notify_arg, c->notify.v[i]);
	ret = 0;
out:
	regmsg_req_free(&c->req);
	json_gen_free(&c->out);
	idset_free(&c->notify);
	free(c->lines);
	free(c);
	return ret;
}

int rdv_reg_handle(struct rdv_db *db, const char *op, const char *body, size_t len,
		   const char *sig_b64, const char *peer_ip, uint64_t now_ms, struct rdv_reply *rep)
{
	const struct reg_op *o = find_op(reg_ops, nitems(reg_ops), op);
	struct reg_ctx *c;
	int ret;

	memset(rep, 0, sizeof(*rep));
	if (len > REGMSG_MAX_BODY) {
		ret = rdv_reply_error(rep, -E2BIG, "body larger than 16 KiB");
	} else if (!o) {
		ret = rdv_reply_error(rep, -ENOENT, "no such operation");
	} else {
		c = ctx_new(db, peer_ip, now_ms);
		if (!c)
			return -ENOMEM;
		ret = ctx_finish(c, handle(c, o, body, len, sig_b64), op, rep);
	}
	rep->op = o ? (int)(o - reg_ops) : OP_UNKNOWN_NODE;
	return ret;
}

/* Is \p auth "Bearer <admin_token>"?  Both sides are hashed to a fixed
 * length first, so the comparison's time says nothing about the token,
 * not even its length. */
static const char *bearer_token(const char *auth)
{
	static const char scheme[] = "Bearer";
	const char *tok;

	if (!auth || strncasecmp(auth, scheme, strlen(scheme)) != 0 || auth[strlen(scheme)] != ' ')
		return NULL;
	tok = auth + strlen(scheme);
	while (*tok == ' ')
		tok++;
	return tok;
}

static int admin_auth(const char *admin_token, const char *auth)
{
	uint8_t want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];
	const char *tok = bearer_token(auth);
	int ok;

	if (!tok)
		return -EPERM;
	crypto_hash_sha256(want, (const uint8_t *)admin_token, strlen(admin_token));
	crypto_hash_sha256(got, (const uint8_t *)tok, strlen(tok));
	ok = sodium_memcmp(want, got, sizeof(want)) == 0;
	sodium_memzero(want, sizeof(want));
	sodium_memzero(got, sizeof(got));
	return ok ? 0 : -EPERM;
}

struct org_auth {
	uint8_t h[crypto_hash_sha256_BYTES];
	uint32_t org;
};

static int org_auth_cb(void *arg, const struct rdv_org *o)
{
	struct org_auth *a = arg;

	/* Every org is compared, in constant time, whether or not one
	 * matched already. */
	if (sodium_memcmp(a->h, o->admin_hash, sizeof(a->h)) == 0)
		a->org = o->id;
	return 0;
}

/* Is \p auth "Bearer <an org's admin token>"?  \retval 0 with
 * c->org_scope set, -EPERM, or -EIO (store). */
static int org_auth(struct reg_ctx *c, const char *auth)
{
	const char *tok = bearer_token(auth);
	struct org_auth a = {.org = 0};
	int rc;

	if (!tok || !*tok)
		return -EPERM;
	crypto_hash_sha256(a.h, (const uint8_t *)tok, strlen(tok));
	rc = rdv_org_iter(&c->t, c->db, org_auth_cb, &a);
	sodium_memzero(a.h, sizeof(a.h));
	if (rc < 0)
		return fail(c, -EIO, "registry store error");
	if (!a.org)
		return -EPERM;
	c->org_scope = a.org;
	return 0;
}

static int admin_handle(struct reg_ctx *c, const struct reg_op *op, const char *admin_token,
			const char *auth, const char *body, size_t len)
{
	char err[160];
	int rc;

	if (!admin_token)
		return fail(c, -EACCES, "admin API disabled");
	/* Begun before the token check: an org's token is found in the store.
	 * A refusal aborts it, changing nothing. */
	store_txn_begin(c->db->st, &c->t, 0);
	if (admin_auth(admin_token, auth) < 0) {
		rc = org_auth(c, auth);
		if (rc == -EIO)
			return rc;
		if (rc < 0)
			return fail(c, -EPERM, "%s",
				    auth ? "wrong admin token" : "missing admin token");
	}
	if (!op)
		return fail(c, -ENOENT, "no such operation");
	if (c->org_scope && !op->org_ok)
		return fail(c, -EACCES, "an org's admin token may not use '%s'", op->name);
	/* Only policy_set carries a document; the rest stay small. */
	rc = regmsg_parse_admin_max(
	    body, len, op->fn == admin_policy_set ? REGMSG_MAX_POLICY_BODY : REGMSG_MAX_BODY,
	    op->keys, &c->req.root, err, sizeof(err));
	if (rc < 0)
		return fail(c, rc == -E2BIG ? -E2BIG : -EINVAL, "%s: %s", op->name, err);
	c->body = body;
	c->body_len = len;
	if ((rc = op->fn(c)) < 0)
		return rc;
	return c->t.ret;
}

int rdv_admin_handle(struct rdv_db *db, const char *admin_token, const char *op, const char *body,
		     size_t len, const char *auth, const char *peer_ip, uint64_t now_ms,
		     struct rdv_reply *rep)
{
	const struct reg_op *o = find_op(admin_ops, nitems(admin_ops), op);
	struct reg_ctx *c;
	int ret;

	memset(rep, 0, sizeof(*rep));
	c = ctx_new(db, peer_ip, now_ms);
	if (!c)
		return -ENOMEM;
	c->admin = 1;
	/* Logs name only known operations: the path is the client's text. */
	ret = ctx_finish(c, admin_handle(c, o, admin_token, auth, body, len),
			 o ? o->name : "(unknown operation)", rep);
	rep->op = o ? (int)(nitems(reg_ops) + (size_t)(o - admin_ops)) : OP_UNKNOWN_ADMIN;
	return ret;
}
