/* rdv_reg_node.c - node requests about the signer itself and about names:
 * register, heartbeat, lookup, resolve, find, deregister, the events
 * stream, hostname, visibility, tags and key rotation (doc/REGISTRY.md).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "audit.h"
#include "cert.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rdv_reg_int.h"
#include "util.h"

#define PILOT_SUFFIX ".pilot"
#define ROTATE_DOMAIN "pilot-rotate-key-v1\n"
#define SYNCED_LINE "{\"seq\":0,\"event\":\"synced\"}"

/* ------------------------------------------------------- node records */

void reg_put_lookup(struct json_gen *j, const struct rdv_node *n)
{
	struct pilot_addr a = {0, n->id};
	char abuf[PILOT_ADDR_STRLEN];

	jg_ku64(j, "node_id", n->id);
	jg_kb64(j, "public_key", n->pk, sizeof(n->pk));
	jg_kstr(j, "address", addr_format(&a, abuf));
	jg_kstr(j, "hostname", n->hostname);
	jg_kbool(j, "public", n->public);
	/* Peers cut its flows at that second, the registry's word or not. */
	if (n->expires_ms)
		jg_ku64(j, "expires_at", n->expires_ms / 1000);
}

/* A peer's lookup object as member \p key (NULL: as an array element). */
void reg_put_peer(struct json_gen *j, const char *key, const struct rdv_node *n)
{
	if (key)
		jg_key(j, key);
	jg_map_open(j);
	reg_put_lookup(j, n);
	jg_map_close(j);
}

/* Node \p id's lookup object as an array element of the response; one that
 * is absent (or deregistered, with \p active_only) is left out. */
int reg_put_node(struct reg_ctx *c, uint32_t id, int active_only)
{
	struct rdv_node n;
	int rc = reg_load_node(c, id, &n);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (active_only && !n.active)
		return 0;
	reg_put_peer(&c->out, NULL, &n);
	return 0;
}

int reg_get_target(struct reg_ctx *c, uint32_t *id)
{
	if (json_get_u32(c->req.root, "target", id) < 0 || *id == 0)
		return reg_fail(c, -EINVAL, "member 'target' must be a node ID");
	return 0;
}

/* Read a node the request names.  Store failures other than "absent"
 * become internal errors, never not_found. */
int reg_load_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n)
{
	int rc = rdv_node_get(&c->t, c->db, id, n);

	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	return 0;
}

/* A node the signer wants to see: absent, deregistered and invisible are
 * all answered with the same not_found, so existence does not leak. */
int reg_visible_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n)
{
	int rc = reg_load_node(c, id, n);

	if (rc == -ENOENT || (rc == 0 && !rdv_visible(&c->t, c->db, c->self_id, n)))
		return reg_fail(c, -ENOENT, "no such node");
	return rc;
}

/* A node that must exist and be registered (the target of a handshake). */
int reg_active_node(struct reg_ctx *c, uint32_t id, struct rdv_node *n)
{
	int rc = reg_load_node(c, id, n);

	if (rc == -ENOENT || (rc == 0 && !n->active))
		return reg_fail(c, -ENOENT, "no such node");
	return rc;
}

static int get_port(struct reg_ctx *c, uint16_t *port)
{
	uint32_t v;

	if (json_get_u32(c->req.root, "listen_port", &v) < 0 || v > 65535)
		return reg_fail(c, -EINVAL, "member 'listen_port' must be a port number");
	*port = (uint16_t)v;
	return 0;
}

/* Hostnames follow the one rule of addr_hostname_norm (addr.h); the
 * store keeps them in a field of this size. */
_Static_assert(RDV_HOSTNAME_MAX == PILOT_HOSTNAME_MAX, "hostname sizes");
_Static_assert(RDV_TAG_MAX == CERT_TAG_MAX && RDV_TAGS_MAX == CERT_TAGS_MAX, "tag sizes");

/* The node named by hostname \p s ("NAME" or "NAME.pilot", any case): its
 * canonical name into \p host, its owner into \p id.  A malformed name is
 * a bad_request whose message \p what leads; one nobody holds, not_found. */
int reg_host_find(struct reg_ctx *c, const char *s, const char *what,
		  char host[RDV_HOSTNAME_MAX + 1], uint32_t *id)
{
	char buf[RDV_HOSTNAME_MAX + sizeof(PILOT_SUFFIX)];
	const char *why = "must be 1 to 63 characters";
	size_t len = strlen(s);

	if (len < sizeof(buf)) {
		memcpy(buf, s, len + 1);
		if (len > strlen(PILOT_SUFFIX) &&
		    strcasecmp(buf + len - strlen(PILOT_SUFFIX), PILOT_SUFFIX) == 0)
			buf[len - strlen(PILOT_SUFFIX)] = '\0';
		why = addr_hostname_norm(buf, host);
	}
	if (why)
		return reg_fail(c, -EINVAL, "%shostname %s", what, why);
	return reg_store_rc(c, rdv_host_get(&c->t, c->db, host, id), -ENOENT, "no such node");
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
	const char *why = addr_hostname_norm(in, out);

	if (why)
		return reg_fail(c, -EINVAL, "hostname %s", why);
	if (hostname_reserved(out))
		return reg_fail(c, -EACCES, "hostname '%s' is reserved", out);
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
	rc = reg_load_node(c, owner, &o);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && o.active)
		return reg_fail(c, -EEXIST, "hostname '%s' is taken", host);
	return 0;
}

void reg_release_hostname(struct reg_ctx *c, const struct rdv_node *n)
{
	uint32_t owner;

	if (n->hostname[0] && rdv_host_get(&c->t, c->db, n->hostname, &owner) == 0 &&
	    owner == n->id)
		rdv_host_del(&c->t, c->db, n->hostname);
}

static void audit_hostname(struct reg_ctx *c, const char *now, const char *before)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (reg_audit_begin(c, &d) < 0)
		return;
	jg_kstr(&d, "hostname", now);
	jg_kstr(&d, "previous", before);
	reg_audit_end(c, &d, "node.hostname", reg_node_subj(sb, c->self_id));
}

static void audit_visibility(struct reg_ctx *c, int pub)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	if (reg_audit_begin(c, &d) < 0)
		return;
	jg_kbool(&d, "public", pub);
	reg_audit_end(c, &d, "node.visibility", reg_node_subj(sb, c->self_id));
}

/* \p event to everyone who may see the signer (reg_audience). */
static int tell_audience(struct reg_ctx *c, const char *event, const struct ev_body *b)
{
	struct idset aud = {0};
	int rc = reg_audience(c, c->self_id, &aud);

	for (size_t i = 0; rc == 0 && i < aud.n; i++)
		reg_queue_event(c, aud.v[i], event, b);
	reg_idset_free(&aud);
	return rc;
}

/* The signer's process restarted (its first registration since): the
 * sessions its peers hold with it are dead.  Everyone who may hold one
 * hears "peer.restarted" and handshakes again at once.  The event names
 * the node only; a peer that wants the new endpoint resolves it, so the
 * visibility rules stay in resolve. */
static int tell_restarted(struct reg_ctx *c)
{
	struct ev_body b = {.node_id = c->self_id};

	return tell_audience(c, "peer.restarted", &b);
}

/* Optional "behind_nat" (register, heartbeat): the node found a NAT
 * between it and the beacon.  \p out is -1 when absent (keep what is
 * stored: a new process says it again once its beacon answers). */
static int get_behind_nat(struct reg_ctx *c, int *out)
{
	int rc = json_get_bool(c->req.root, "behind_nat", out);

	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'behind_nat' must be true or false");
	if (rc < 0)
		*out = -1;
	return 0;
}

int reg_op_register(struct reg_ctx *c)
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
		return reg_fail(c, -EINVAL, "member 'public' must be true or false");
	rc = json_get_bool(c->req.root, "restarted", &restarted);
	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'restarted' must be true or false");
	if ((rc = get_behind_nat(c, &nat)) < 0)
		return rc;
	rc = json_get_str(c->req.root, "hostname", &hs);
	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'hostname' must be a string");
	if (rc == 0 && hs[0] && (rc = hostname_take_check(c, hs, host)) < 0)
		return rc;
	if (host[0] && (rc = hostname_free_check(c, host)) < 0)
		return rc;

	if (!c->have_self) {
		/* A key the registry does not know: the registration rule. */
		if ((rc = reg_signup_check(c, host)) != 0)
			return rc > 0 ? 0 : rc;
		rc = rdv_node_id_alloc(&c->t, c->db, &c->self_id);
		if ((rc = reg_store_rc(c, rc, -ENOSPC, "no node IDs left")) < 0)
			return rc;
		memset(n, 0, sizeof(*n));
		n->id = c->self_id;
		memcpy(n->pk, c->pk, sizeof(n->pk));
		n->created_ms = c->now;
		if (c->db->identity_lifetime_ms)
			n->expires_ms = c->now + c->db->identity_lifetime_ms;
		rdv_key_put(&c->t, c->db, n->pk, n->id);
		log_info("node %u: registered a new key from %s", n->id, c->peer_ip);
	} else if (strcmp(n->hostname, host) != 0) {
		reg_release_hostname(c, n);
	}
	n->listen_port = port;
	n->public = pub;
	if (nat >= 0)
		n->behind_nat = nat;
	n->active = 1;
	n->seen_ms = c->now;
	snprintf(n->hostname, sizeof(n->hostname), "%s", host);
	if (rdv_endpoint_format(n->endpoint, sizeof(n->endpoint), c->peer_ip, port) < 0)
		return reg_fail(c, -EIO, "peer address too long");
	if (host[0])
		rdv_host_put(&c->t, c->db, host, n->id);
	rdv_node_put(&c->t, c->db, n);
	/* A node registers at every start: only a new key, or a return after
	 * deregister, is an event; changed settings are recorded as such. */
	if (is_new || !was_active) {
		if (reg_audit_begin(c, &d) == 0) {
			jg_kbool(&d, "new", is_new);
			/* How a new key came in: the registration rule's way. */
			if (is_new && c->signup_via)
				jg_kstr(&d, "registration", c->signup_via);
			if (is_new && c->token_id[0])
				jg_kstr(&d, "token_id", c->token_id);
			jg_kb64(&d, "public_key", n->pk, sizeof(n->pk));
			jg_kstr(&d, "hostname", n->hostname);
			jg_kbool(&d, "public", n->public);
			jg_ku64(&d, "listen_port", n->listen_port);
			reg_audit_end(c, &d, "node.registered", reg_node_subj(sb, n->id));
		}
	} else {
		if (strcmp(old_host, n->hostname) != 0)
			audit_hostname(c, n->hostname, old_host);
		if (old_pub != n->public)
			audit_visibility(c, n->public);
	}
	if (!is_new && restarted && (rc = tell_restarted(c)) < 0)
		return rc;
	/* Certificates are checked again at every registration: one that
	 * expired or was revoked while the node was away ends here. */
	if (!is_new && (rc = reg_ca_recheck_node(c, n->id, n->pk)) < 0)
		return rc;

	a.net = 0;
	a.node = n->id;
	addr_to_ipv6(&c->db->prefix, &a, &ip6);
	jg_ku64(&c->out, "node_id", n->id);
	jg_kstr(&c->out, "address", addr_format(&a, abuf));
	jg_kstr(&c->out, "ipv6", inet_ntop(AF_INET6, &ip6, ibuf, sizeof(ibuf)));
	jg_kstr(&c->out, "prefix", prefix_format(&c->db->prefix, pbuf, sizeof(pbuf)));
	if (n->expires_ms)
		jg_ku64(&c->out, "expires_at", n->expires_ms / 1000);
	/* The backbone first (implicit, never stored), then the networks the
	 * node joined: memberships outlive deregistration. */
	if (rdv_node_net_iter(&c->t, c->db, n->id, reg_idset_cb, &nets) < 0) {
		reg_idset_free(&nets);
		return reg_fail(c, -EIO, "registry store error");
	}
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	jg_u64(&c->out, 0);
	for (size_t i = 0; i < nets.n; i++)
		jg_u64(&c->out, nets.v[i]);
	jg_array_close(&c->out);
	reg_idset_free(&nets);
	/* The beacon, vouched for by this pinned TLS answer. */
	if (c->db->have_beacon) {
		jg_kb64(&c->out, "beacon_key", c->db->beacon_pk, 32);
		jg_ku64(&c->out, "beacon_port", c->db->beacon_port);
	}
	/* A registration starts counting uptime (the time away is not). */
	return reg_rep_heartbeat(c, 1);
}

int reg_op_heartbeat(struct reg_ctx *c)
{
	char ep[sizeof(c->self.endpoint)];
	uint16_t port = 0;
	int nat, rc;

	if ((rc = get_port(c, &port)) < 0 || (rc = get_behind_nat(c, &nat)) < 0)
		return rc;
	if (rdv_endpoint_format(ep, sizeof(ep), c->peer_ip, port) < 0)
		return reg_fail(c, -EIO, "peer address too long");
	/* The node record changes only when what others learn of the node
	 * does: most heartbeats write nothing shared (with store "etcd", no
	 * serialised write each). */
	if ((nat >= 0 && nat != c->self.behind_nat) || port != c->self.listen_port ||
	    strcmp(ep, c->self.endpoint) != 0) {
		if (nat >= 0)
			c->self.behind_nat = nat;
		c->self.listen_port = port;
		c->self.seen_ms = c->now;
		snprintf(c->self.endpoint, sizeof(c->self.endpoint), "%s", ep);
		rdv_node_put(&c->t, c->db, &c->self);
	}
	jg_ku64(&c->out, "server_time", c->now);
	jg_ku64(&c->out, "inbox", rdv_inbox_count(&c->t, c->db, c->self_id));
	return reg_rep_heartbeat(c, 0);
}

int reg_op_lookup(struct reg_ctx *c)
{
	int by_key = json_get(c->req.root, "public_key") != NULL;
	struct rdv_node n;
	uint8_t pk[32];
	uint32_t id;
	int rc;

	if (by_key == (json_get(c->req.root, "target") != NULL))
		return reg_fail(c, -EINVAL, "give exactly one of 'target' and 'public_key'");
	if (by_key) {
		if (json_get_b64(c->req.root, "public_key", pk, sizeof(pk)) < 0)
			return reg_fail(c, -EINVAL,
					"member 'public_key' must be base64 of 32 bytes");
		if (rdv_key_get(&c->t, c->db, pk, &id) < 0)
			return reg_fail(c, -ENOENT, "no such node");
	} else if ((rc = reg_get_target(c, &id)) < 0) {
		return rc;
	}
	if ((rc = reg_visible_node(c, id, &n)) < 0)
		return rc;
	reg_put_lookup(&c->out, &n);
	return reg_rep_put_score(c, n.id);
}

int reg_op_resolve(struct reg_ctx *c)
{
	struct rdv_node n;
	uint32_t id;
	int rc;

	if ((rc = reg_get_target(c, &id)) < 0 || (rc = reg_visible_node(c, id, &n)) < 0)
		return rc;
	reg_put_lookup(&c->out, &n);
	/* Behind a NAT, the address the registry saw is the NAT's, and a
	 * datagram sent there unasked, before the node's own mapping exists,
	 * would leave an entry on a NAT that does not filter inbound, which
	 * moves the node's port once it sends (doc/NAT.md).  Such a node is
	 * reached by a punch or through the relay, never by a guess. */
	jg_kstr(&c->out, "endpoint", n.behind_nat ? "" : n.endpoint);
	jg_kbool(&c->out, "behind_nat", n.behind_nat);
	return reg_rep_put_score(c, n.id);
}

int reg_op_deregister(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;

	int rc;

	reg_release_hostname(c, &c->self);
	c->self.active = 0;
	rdv_node_put(&c->t, c->db, &c->self);
	if ((rc = reg_rep_gone(c)) < 0)
		return rc;
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "hostname", c->self.hostname);
		reg_audit_end(c, &d, "node.deregistered", reg_node_subj(sb, c->self_id));
	}
	log_info("node %u: deregistered", c->self_id);
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

int reg_op_events(struct reg_ctx *c)
{
	uint64_t after, last;

	if (json_get_u64(c->req.root, "after", &after) < 0)
		return reg_fail(c, -EINVAL,
				"member 'after' must be the last seq seen (0 at first)");
	/* The request acknowledges everything up to `after`. */
	if (rdv_event_prune(&c->t, c->db, c->self_id, after) < 0)
		return reg_fail(c, -EIO, "registry store error");
	last = rdv_event_last_seq(&c->t, c->db, c->self_id);
	/* A client ahead of us (state restored from a backup) must still get
	 * what we number from now on. */
	c->stream_seq = MIN(after, last);
	if (rdv_event_iter(&c->t, c->db, c->self_id, after, backlog_line, c) < 0)
		return reg_fail(c, -EIO, "registry store error");
	/* The backlog is complete: from here on the node has heard every
	 * revocation queued for it (pilotd admits no inbound flow before). */
	if (backlog_add(c, SYNCED_LINE, strlen(SYNCED_LINE)) < 0)
		return reg_fail(c, -EIO, "out of memory");
	c->streaming = 1;
	return 0;
}

/* ------------------------------------------------------ node settings */

/* The signer's hostname or visibility changed: everyone who may see it
 * hears "peer.updated" (its lookup object), so that their name caches
 * drop the old answer at once. */
static int tell_updated(struct reg_ctx *c)
{
	struct ev_body b = {.peer = &c->self};

	return tell_audience(c, "peer.updated", &b);
}

int reg_op_set_hostname(struct reg_ctx *c)
{
	char host[RDV_HOSTNAME_MAX + 1];
	const char *hs;
	int rc;

	if (json_get_str(c->req.root, "hostname", &hs) < 0)
		return reg_fail(c, -EINVAL, "member 'hostname' must be a string");
	if ((rc = hostname_take_check(c, hs, host)) < 0 || (rc = hostname_free_check(c, host)) < 0)
		return rc;
	if (strcmp(c->self.hostname, host) != 0) {
		audit_hostname(c, host, c->self.hostname);
		reg_release_hostname(c, &c->self);
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

int reg_op_clear_hostname(struct reg_ctx *c)
{
	if (c->self.hostname[0]) {
		audit_hostname(c, "", c->self.hostname);
		reg_release_hostname(c, &c->self);
		c->self.hostname[0] = '\0';
		rdv_node_put(&c->t, c->db, &c->self);
		log_info("node %u: hostname cleared", c->self_id);
		return tell_updated(c);
	}
	return 0;
}

int reg_op_set_visibility(struct reg_ctx *c)
{
	int pub, rc;

	if (json_get_bool(c->req.root, "public", &pub) < 0)
		return reg_fail(c, -EINVAL, "member 'public' must be true or false");
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

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(a, b);
}

int reg_op_set_tags(struct reg_ctx *c)
{
	char tags[RDV_TAGS_MAX][RDV_TAG_MAX + 1], sb[SUBJ_MAX];
	yajl_val arr = json_get(c->req.root, "tags");
	struct json_gen d;
	size_t n = 0;
	int changed;

	if (!arr || !YAJL_IS_ARRAY(arr))
		return reg_fail(c, -EINVAL, "member 'tags' must be an array of strings");
	if (arr->u.array.len > RDV_TAGS_MAX)
		return reg_fail(c, -EINVAL, "at most %d tags", RDV_TAGS_MAX);
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val v = arr->u.array.values[i];
		const char *why;
		if (!YAJL_IS_STRING(v))
			return reg_fail(c, -EINVAL, "member 'tags' must be an array of strings");
		/* Tags feed policy ("tag:NAME"); a certificate's obey the
		 * same rule (cert.h), so one function checks both. */
		why = cert_tag_norm(v->u.string, tags[i]);
		if (why)
			return reg_fail(c, -EINVAL, "tag %zu %s", i + 1, why);
	}
	/* Canonical form: sorted and unique, so equal sets compare equal. */
	qsort(tags, arr->u.array.len, sizeof(tags[0]), cmp_tag);
	for (size_t i = 0; i < arr->u.array.len; i++)
		if (n == 0 || strcmp(tags[n - 1], tags[i]) != 0)
			memmove(tags[n++], tags[i], sizeof(tags[0]));
	changed = n != c->self.ntags;
	for (size_t i = 0; !changed && i < n; i++)
		changed = strcmp(tags[i], c->self.tags[i]) != 0;
	if (changed && reg_audit_begin(c, &d) == 0) {
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
		reg_audit_end(c, &d, "node.tags", reg_node_subj(sb, c->self_id));
	}
	c->self.ntags = n;
	memcpy(c->self.tags, tags, n * sizeof(tags[0]));
	rdv_node_put(&c->t, c->db, &c->self);
	if (changed && reg_policy_touch_node(c, c->self_id) < 0)
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
int reg_audience(struct reg_ctx *c, uint32_t node, struct idset *out)
{
	struct idset nets = {0};
	int rc;

	rc = rdv_trust_iter(&c->t, c->db, node, reg_idset_cb, out);
	if (rc == 0)
		rc = rdv_node_net_iter(&c->t, c->db, node, reg_idset_cb, &nets);
	for (size_t i = 0; rc == 0 && i < nets.n; i++)
		rc = rdv_member_iter(&c->t, c->db, (uint16_t)nets.v[i], reg_idset_cb, out);
	reg_idset_free(&nets);
	if (rc < 0)
		return reg_fail(c, -EIO, "registry store error");
	reg_idset_sort_unique(out);
	reg_idset_drop(out, node);
	return 0;
}

/* Identity expiry at a key rotation: before the end it renews (a new
 * identity_lifetime from now); after it, only with the registry's admin
 * token in member 'admin_token'.  *\p renewed: the end moved. */
static int renew_identity(struct reg_ctx *c, int *renewed)
{
	const char *tok = NULL;
	int expired = c->self.expires_ms && c->now >= c->self.expires_ms;
	uint64_t old = c->self.expires_ms;

	if (json_get_str(c->req.root, "admin_token", &tok) == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'admin_token' must be a string");
	if (expired) {
		size_t n = tok ? strlen(tok) : 0;
		const char *want = c->db->admin_token;
		if ((!tok || !want || n != strlen(want) || sodium_memcmp(tok, want, n) != 0) &&
		    !reg_idp_vouches(c, c->self_id))
			return reg_fail_code(c, -EACCES, "identity_expired", "node.refused_expired",
					     "the identity of node %u expired: only a rotation "
					     "with the admin token, or with a fresh token of a "
					     "network that admitted it on one, renews it",
					     c->self_id);
	}
	if (c->db->identity_lifetime_ms)
		c->self.expires_ms = c->now + c->db->identity_lifetime_ms;
	else if (expired)
		c->self.expires_ms = 0; /* the admin renewed one an admin had ended */
	*renewed = c->self.expires_ms != old;
	return 0;
}

void reg_tell_expiry(struct reg_ctx *c, uint32_t node, uint64_t expires_ms, const struct idset *aud)
{
	struct ev_body b = {.node_id = node, .has_expiry = 1, .expires_at = expires_ms / 1000};

	for (size_t i = 0; i < aud->n; i++)
		reg_queue_event(c, aud->v[i], "node.expiry", &b);
	reg_queue_event(c, node, "node.expiry", &b);
}

int reg_op_rotate_key(struct reg_ctx *c)
{
	char oldb[64], newb[64], m[512], sb[SUBJ_MAX];
	uint8_t npk[32], proof[64];
	struct json_gen d;
	struct idset aud = {0};
	struct ev_body b = {0};
	uint32_t owner;
	int rc, n, renewed = 0;

	if (json_get_b64(c->req.root, "new_public_key", npk, sizeof(npk)) < 0)
		return reg_fail(c, -EINVAL,
				"member 'new_public_key' must be base64 of an Ed25519 key");
	if (json_get_b64(c->req.root, "proof", proof, sizeof(proof)) < 0)
		return reg_fail(c, -EINVAL,
				"member 'proof' must be base64 of an Ed25519 signature");
	if (sodium_memcmp(npk, c->self.pk, sizeof(npk)) == 0)
		return reg_fail(c, -EINVAL, "the new key must differ from the current one");
	/* The proof binds the new key to this node, its old key and this
	 * request (ts): it cannot be lifted into another rotation.  Keys go
	 * in as canonical base64, whatever spelling the body used. */
	b64_encode(oldb, sizeof(oldb), c->self.pk, sizeof(c->self.pk));
	b64_encode(newb, sizeof(newb), npk, sizeof(npk));
	n = snprintf(m, sizeof(m), ROTATE_DOMAIN "%u\n%s\n%s\n%llu", c->self_id, oldb, newb,
		     (unsigned long long)c->req.ts);
	if (n < 0 || (size_t)n >= sizeof(m))
		return reg_fail(c, -EIO, "internal: proof too long");
	if (crypto_sign_verify_detached(proof, (const uint8_t *)m, (size_t)n, npk) != 0)
		return reg_fail(c, -EBADMSG, "member 'proof' does not verify with the new key");
	/* Checked after the proof, so only the new key's holder learns
	 * whether it is in use. */
	rc = rdv_key_get(&c->t, c->db, npk, &owner);
	if (rc == 0 || rc == -EKEYREVOKED || rc == -EKEYREJECTED)
		return reg_fail(c, -EEXIST, "the new key is %s",
				rc == 0		     ? "registered to a node"
				: rc == -EKEYREVOKED ? "retired"
						     : "revoked");
	if (rc != -ENOENT)
		return reg_fail(c, -EIO, "registry store error");
	if ((rc = renew_identity(c, &renewed)) < 0)
		return rc;
	if ((rc = reg_audience(c, c->self_id, &aud)) < 0)
		goto out;
	rdv_key_retire(&c->t, c->db, c->self.pk, c->self_id);
	rdv_key_put(&c->t, c->db, npk, c->self_id);
	memcpy(c->self.pk, npk, sizeof(npk));
	rdv_node_put(&c->t, c->db, &c->self);
	if (renewed)
		reg_tell_expiry(c, c->self_id, c->self.expires_ms, &aud);
	b.node_id = c->self_id;
	b.public_key = npk;
	for (size_t i = 0; i < aud.n; i++)
		reg_queue_event(c, aud.v[i], "peer.key_rotated", &b);
	/* A certificate binds the old key: its memberships end (the node
	 * joins again with one for the new key). */
	if ((rc = reg_ca_recheck_node(c, c->self_id, npk)) < 0)
		goto out;
	if (reg_audit_begin(c, &d) == 0) {
		jg_kstr(&d, "old_public_key", oldb);
		jg_kstr(&d, "new_public_key", newb);
		jg_ku64(&d, "peers_told", aud.n);
		reg_audit_end(c, &d, "node.key_rotated", reg_node_subj(sb, c->self_id));
	}
	log_info("node %u: rotated its key (%zu peers told)", c->self_id, aud.n);
	jg_ku64(&c->out, "node_id", c->self_id);
	jg_kstr(&c->out, "public_key", newb);
	rc = 0;
out:
	reg_idset_free(&aud);
	return rc;
}

struct shared_out {
	struct reg_ctx *c;
	uint16_t ext_net; /* the first shared network that admitted other on a token */
	uint32_t other;
};

static int shared_out_cb(void *arg, uint32_t net)
{
	struct shared_out *so = arg;

	struct rdv_ext e;

	if (!rdv_member_has(&so->c->t, so->c->db, (uint16_t)net, so->other))
		return 0;
	jg_u64(&so->c->out, net);
	if (!so->ext_net &&
	    rdv_net_ext_get(&so->c->t, so->c->db, (uint16_t)net, so->other, &e) == 0)
		so->ext_net = (uint16_t)net;
	return 0;
}

int reg_op_find(struct reg_ctx *c)
{
	char host[RDV_HOSTNAME_MAX + 1];
	struct shared_out so = {.c = c, .other = c->self_id};
	const char *hs;
	struct rdv_node n;
	uint32_t id;
	int rc;

	if (json_get_str(c->req.root, "hostname", &hs) < 0)
		return reg_fail(c, -EINVAL, "member 'hostname' must be a string");
	/* Absent, deregistered and invisible all end in the very same
	 * refusal (reg_visible_node's): existence does not leak. */
	if ((rc = reg_host_find(c, hs, "", host, &id)) < 0 ||
	    (rc = reg_visible_node(c, id, &n)) < 0)
		return rc;
	if (strcmp(n.hostname, host) != 0)
		return reg_fail(c, -ENOENT, "no such node");
	reg_put_lookup(&c->out, &n);
	jg_key(&c->out, "networks");
	jg_array_open(&c->out);
	so.other = n.id;
	if (rdv_node_net_iter(&c->t, c->db, c->self_id, shared_out_cb, &so) < 0)
		return reg_fail(c, -EIO, "registry store error");
	jg_array_close(&c->out);
	/* Who a shared oidc/spiffe network admitted it as (others' networks
	 * say nothing: an external identity is not for every resolver). */
	if (so.ext_net) {
		jg_ku64(&c->out, "external_network_id", so.ext_net);
		if ((rc = reg_put_member_ext(c, so.ext_net, n.id, 0)) < 0)
			return rc;
	}
	jg_kbool(&c->out, "trusted", rdv_trust_has(&c->t, c->db, c->self_id, n.id));
	return reg_rep_put_score(c, n.id);
}

/* Admin: one node's identity ends at `expires_at` (Unix s; 0: never).
 * Peers learn it at once (node.expiry) and cut at that second; a time
 * already past ends it now. */
int reg_admin_node_expire(struct reg_ctx *c)
{
	char sb[SUBJ_MAX];
	struct json_gen d;
	struct rdv_node n;
	struct idset aud = {0};
	uint64_t at;
	uint32_t id;
	int rc;

	if (json_get_u32(c->req.root, "node_id", &id) < 0 || id == 0)
		return reg_fail(c, -EINVAL, "member 'node_id' must be a node ID");
	if (json_get_u64(c->req.root, "expires_at", &at) < 0 || at > UINT64_MAX / 1000)
		return reg_fail(c, -EINVAL, "member 'expires_at' must be Unix seconds (0: never)");
	if ((rc = reg_load_node(c, id, &n)) == -ENOENT)
		return reg_fail(c, -ENOENT, "no such node");
	if (rc < 0)
		return rc;
	if ((rc = reg_audience(c, id, &aud)) < 0)
		goto out;
	n.expires_ms = at * 1000;
	rdv_node_put(&c->t, c->db, &n);
	reg_tell_expiry(c, id, n.expires_ms, &aud);
	if (reg_audit_begin(c, &d) == 0) {
		jg_ku64(&d, "expires_at", at);
		jg_ku64(&d, "peers_told", aud.n);
		reg_audit_end(c, &d, "node.expiry", reg_node_subj(sb, id));
	}
	log_info("admin from %s: node %u's identity %s %llu", c->peer_ip, id,
		 at ? "ends at" : "never ends;", (unsigned long long)at);
	jg_ku64(&c->out, "node_id", id);
	jg_ku64(&c->out, "expires_at", at);
	rc = 0;
out:
	reg_idset_free(&aud);
	return rc;
}
