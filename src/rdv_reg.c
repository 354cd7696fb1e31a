/* rdv_reg.c - node requests of doc/REGISTRY.md against the registry store.
 *
 * Every request runs in one LMDB write transaction: the checks read, the
 * operation writes, the nonce is recorded, and all of it commits together
 * or not at all.  The daemon is single-threaded, so holding the one LMDB
 * writer for the length of a request costs nothing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "json.h"
#include "log.h"
#include "rdv.h"
#include "regmsg.h"
#include "util.h"

#define PATH_PREFIX "/v1/node/"
#define MAX_NOTIFY 4

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
	struct json_gen out; /* the response object, open */
	/* events: the backlog, as JSON lines */
	int streaming;
	char *lines;
	size_t nlines, caplines;
	uint64_t stream_seq;
	uint32_t notify[MAX_NOTIFY];
	size_t nnotify;
	char msg[192];
};

typedef int (*reg_fn)(struct reg_ctx *c);

struct reg_op {
	const char *name;
	const char *const *keys; /* the op's own members */
	reg_fn fn;
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
    {-EAGAIN, 503, "unavailable"}, {-ENOSPC, 503, "unavailable"},
};

static size_t err_index(int err)
{
	for (size_t i = 0; i < nitems(err_map); i++)
		if (err_map[i].err == err)
			return i;
	return nitems(err_map);
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
 * read as node IDs wherever a TARGET may be either. */
static int hostname_norm(const char *in, char out[RDV_HOSTNAME_MAX + 1])
{
	size_t n = strlen(in), digits = 0;

	if (n == 0 || n > RDV_HOSTNAME_MAX || in[0] == '-' || in[n - 1] == '-')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (!(isascii(ch) && (isalnum(ch) || ch == '-')))
			return -EINVAL;
		digits += isdigit(ch) != 0;
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return digits == n ? -EINVAL : 0;
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
	for (size_t i = 0; i < c->nnotify; i++)
		if (c->notify[i] == node)
			return;
	if (c->nnotify < MAX_NOTIFY)
		c->notify[c->nnotify++] = node;
}

struct ev_body {
	const struct rdv_node *peer;
	uint32_t node_id;
	const char *justification;
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
	if (b->peer) {
		jg_key(&j, "peer");
		jg_map_open(&j);
		put_lookup(&j, b->peer);
		jg_map_close(&j);
	}
	if (b->node_id)
		jg_ku64(&j, "node_id", b->node_id);
	if (b->justification)
		jg_kstr(&j, "justification", b->justification);
	jg_map_close(&j);
	if (json_gen_finish(&j, &s, &len) < 0)
		c->t.ret = -ENOMEM;
	else
		rdv_event_put(&c->t, c->db, node, seq, s, len);
	json_gen_free(&j);
	add_notify(c, node);
}

/* Make {self, peer} a trust pair: clear requests both ways and tell both. */
static void make_pair(struct reg_ctx *c, const struct rdv_node *peer)
{
	struct ev_body to_peer = {.peer = &c->self}, to_self = {.peer = peer};

	rdv_trust_put(&c->t, c->db, c->self_id, peer->id, c->now);
	rdv_inbox_del(&c->t, c->db, c->self_id, peer->id);
	rdv_inbox_del(&c->t, c->db, peer->id, c->self_id);
	queue_event(c, peer->id, "trust.approved", &to_peer);
	queue_event(c, c->self_id, "trust.approved", &to_self);
}

/* ---------------------------------------------------------------- ops */

static int op_register(struct reg_ctx *c)
{
	struct rdv_node *n = &c->self;
	char host[RDV_HOSTNAME_MAX + 1] = "", pbuf[INET6_ADDRSTRLEN + 4], ibuf[INET6_ADDRSTRLEN],
				     abuf[PILOT_ADDR_STRLEN];
	const char *hs;
	struct pilot_addr a;
	struct in6_addr ip6;
	uint32_t owner;
	uint16_t port = 0;
	int pub, rc;

	if ((rc = get_port(c, &port)) < 0)
		return rc;
	if (json_get_bool(c->req.root, "public", &pub) < 0)
		return fail(c, -EINVAL, "member 'public' must be true or false");
	rc = json_get_str(c->req.root, "hostname", &hs);
	if (rc == -EINVAL || (rc == 0 && hs[0] && hostname_norm(hs, host) < 0))
		return fail(c, -EINVAL,
			    "member 'hostname' must be a DNS label (letters, digits, '-', "
			    "at most %d, not all digits)",
			    RDV_HOSTNAME_MAX);
	if (host[0] && rdv_host_get(&c->t, c->db, host, &owner) == 0 && owner != c->self_id) {
		struct rdv_node o;
		rc = load_node(c, owner, &o);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		/* A deregistered node gives its name up to the next taker. */
		if (rc == 0 && o.active)
			return fail(c, -EEXIST, "hostname '%s' is taken", host);
	}

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
	n->active = 1;
	n->seen_ms = c->now;
	snprintf(n->hostname, sizeof(n->hostname), "%s", host);
	if (rdv_endpoint_format(n->endpoint, sizeof(n->endpoint), c->peer_ip, port) < 0)
		return fail(c, -EIO, "peer address too long");
	if (host[0])
		rdv_host_put(&c->t, c->db, host, n->id);
	rdv_node_put(&c->t, c->db, n);

	a.net = 0;
	a.node = n->id;
	addr_to_ipv6(&c->db->prefix, &a, &ip6);
	jg_ku64(&c->out, "node_id", n->id);
	jg_kstr(&c->out, "address", addr_format(&a, abuf));
	jg_kstr(&c->out, "ipv6", inet_ntop(AF_INET6, &ip6, ibuf, sizeof(ibuf)));
	jg_kstr(&c->out, "prefix", prefix_format(&c->db->prefix, pbuf, sizeof(pbuf)));
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	jg_u64(&c->out, 0); /* the backbone; other networks come with networks */
	jg_array_close(&c->out);
	return 0;
}

static int op_heartbeat(struct reg_ctx *c)
{
	uint16_t port = 0;
	int rc;

	if ((rc = get_port(c, &port)) < 0)
		return rc;
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
	jg_kstr(&c->out, "endpoint", n.endpoint);
	return 0;
}

static int op_deregister(struct reg_ctx *c)
{
	release_hostname(c, &c->self);
	c->self.active = 0;
	rdv_node_put(&c->t, c->db, &c->self);
	log_info("node %u: deregistered", c->self_id);
	return 0;
}

static int op_handshake(struct reg_ctx *c)
{
	struct rdv_inbox_entry e;
	struct rdv_node tn;
	const char *just = "";
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
	/* Both asked, or a shared network: consent is already given. */
	if (rdv_inbox_get(&c->t, c->db, c->self_id, tid, &e) == 0 ||
	    rdv_share_network(&c->t, c->db, c->self_id, tid)) {
		make_pair(c, &tn);
		log_info("node %u and node %u: trust pair made (both asked)", c->self_id, tid);
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
	if (rc == -ENOENT)
		return fail(c, -ENOENT, "no pending request from node %u", tid);
	if (rc < 0)
		return rc;
	if (!rdv_trust_has(&c->t, c->db, c->self_id, tid)) {
		rdv_trust_put(&c->t, c->db, c->self_id, tid, c->now);
		rdv_inbox_del(&c->t, c->db, c->self_id, tid);
		rdv_inbox_del(&c->t, c->db, tid, c->self_id);
		queue_event(c, tid, "trust.approved", &b);
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

static int backlog_line(void *arg, uint64_t seq, const char *line, size_t len)
{
	struct reg_ctx *c = arg;

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
	c->stream_seq = seq;
	return 0;
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
	c->streaming = 1;
	return 0;
}

static const char *const k_register[] = {"public_key", "listen_port", "public", "hostname", NULL};
static const char *const k_heartbeat[] = {"listen_port", NULL};
static const char *const k_lookup[] = {"target", "public_key", NULL};
static const char *const k_target[] = {"target", NULL};
static const char *const k_handshake[] = {"target", "justification", NULL};
static const char *const k_events[] = {"after", NULL};
static const char *const k_none[] = {NULL};

static const struct reg_op reg_ops[] = {
    {"register", k_register, op_register}, {"heartbeat", k_heartbeat, op_heartbeat},
    {"lookup", k_lookup, op_lookup},	   {"resolve", k_target, op_resolve},
    {"deregister", k_none, op_deregister}, {"handshake", k_handshake, op_handshake},
    {"inbox", k_none, op_inbox},	   {"approve", k_target, op_approve},
    {"reject", k_target, op_reject},	   {"untrust", k_target, op_untrust},
    {"trusts", k_none, op_trusts},	   {"events", k_events, op_events},
};

static const struct reg_op *find_op(const char *name)
{
	for (size_t i = 0; i < nitems(reg_ops); i++)
		if (strcmp(reg_ops[i].name, name) == 0)
			return &reg_ops[i];
	return NULL;
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

	/* Forgeries and replays are worth an operator's attention; ordinary
	 * client mistakes are not. */
	if (err == -EBADMSG || err == -EALREADY)
		log_warnx("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code, c->msg);
	else if (i == nitems(err_map) || err == -ENOSPC || err == -EAGAIN)
		log_errorx("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code,
			   c->msg);
	else
		log_debug("%s from %s (node %u): %s: %s", op, c->peer_ip, c->self_id, code, c->msg);
}

int rdv_reg_handle(struct rdv_db *db, const char *op, const char *body, size_t len,
		   const char *sig_b64, const char *peer_ip, uint64_t now_ms, struct rdv_reply *rep)
{
	struct reg_ctx *c;
	const struct reg_op *o;
	int ret, rc;

	memset(rep, 0, sizeof(*rep));
	if (len > REGMSG_MAX_BODY)
		return rdv_reply_error(rep, -E2BIG, "body larger than 16 KiB");
	o = find_op(op);
	if (!o)
		return rdv_reply_error(rep, -ENOENT, "no such operation");
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->db = db;
	c->peer_ip = peer_ip;
	c->now = now_ms;
	ret = json_gen_init(&c->out);
	if (ret < 0) {
		free(c);
		return ret;
	}
	jg_map_open(&c->out);

	rc = handle(c, o, body, len, sig_b64);
	if (rc == 0 && !c->streaming) {
		jg_map_close(&c->out);
		rc = reply_take(rep, 200, &c->out);
		if (rc < 0)
			fail(c, -EIO, "cannot build the response");
	}
	if (rc == 0) {
		/* The reply is ready before the commit, so what the node is
		 * told is exactly what became durable. */
		rc = store_txn_commit(&c->t);
		if (rc < 0) {
			fail(c, rc == -ENOSPC ? -ENOSPC : -EIO, "registry store: %s",
			     strerror(-rc));
			rc = rc == -ENOSPC ? -ENOSPC : -EIO;
		}
	} else if (c->t.ret < 0) {
		/* The store failed under the op: that, not the op's verdict,
		 * is the answer. */
		fail(c, c->t.ret == -ENOSPC ? -ENOSPC : -EIO, "registry store: %s",
		     strerror(-c->t.ret));
		rc = c->t.ret == -ENOSPC ? -ENOSPC : -EIO;
	}
	store_txn_abort(&c->t);

	if (rc < 0) {
		log_refusal(c, op, rc);
		ret = rdv_reply_error(rep, rc, c->msg);
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
	log_debug("%s from %s (node %u): ok", op, peer_ip, c->self_id);
	for (size_t i = 0; db->notify && i < c->nnotify; i++)
		db->notify(db->notify_arg, c->notify[i]);
	ret = 0;
out:
	regmsg_req_free(&c->req);
	json_gen_free(&c->out);
	free(c->lines);
	free(c);
	return ret;
}
