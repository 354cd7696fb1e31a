/* rdv_reg_admin.c - the admin API's own requests (reading and verifying
 * the audit log) and its authentication: the deployment's admin token or
 * an org's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "audit.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "rdv_reg_int.h"
#include "rdv_repl.h"
#include "util.h"

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
	return reg_fail(c, -EINVAL, "member 'node' must be a node ID or an actor/subject string");
}

/* Read the audit log: {"events":[records],"last_id":N,"more":bool}.
 * Continue with since_id = last_id + 1: that is the last record sent when
 * the limit cut the answer short, else the newest record of the log. */
int reg_admin_audit(struct reg_ctx *c)
{
	struct audit_filter f = {0};
	struct audit_out o = {.j = &c->out};
	char node[SUBJ_MAX];
	uint32_t limit = RDV_AUDIT_QUERY_DEFAULT;
	uint64_t head;
	int rc, newest = 0;

	rc = json_get_u64(c->req.root, "since_id", &f.since_id);
	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'since_id' must be an event ID");
	rc = json_get_u64(c->req.root, "since_ms", &f.since_ms);
	if (rc == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'since_ms' must be Unix milliseconds");
	rc = json_get_str(c->req.root, "type", &f.type);
	if (rc == -EINVAL || (rc == 0 && (!f.type[0] || strlen(f.type) >= AUDIT_TYPE_MAX)))
		return reg_fail(c, -EINVAL,
				"member 'type' must be an event type (\"area.what\", "
				"\"area.\" or \"area.*\")");
	if ((rc = audit_node_filter(c, node, sizeof(node), &f.node)) < 0)
		return rc;
	f.node_exact = 1;
	rc = json_get_u32(c->req.root, "limit", &limit);
	if (rc == -EINVAL || limit == 0 || limit > RDV_AUDIT_QUERY_MAX)
		return reg_fail(c, -EINVAL, "member 'limit' must be 1 to %d", RDV_AUDIT_QUERY_MAX);
	if (json_get_bool(c->req.root, "newest", &newest) == -EINVAL)
		return reg_fail(c, -EINVAL, "member 'newest' must be true or false");
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
		return reg_fail(c, -EIO, "audit log: %s", strerror(-rc));
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
int reg_admin_audit_verify(struct reg_ctx *c)
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
		return reg_fail(c, -EIO, "audit log: %s", strerror(-rc));
	if (json_gen_init(&j) < 0)
		return reg_fail(c, -EIO, "out of memory");
	audit_verify_json(&res, &j);
	if (json_gen_finish(&j, &s, &len) == 0)
		v = json_parse(s, len, 0, err, sizeof(err));
	json_gen_free(&j);
	if (!v)
		return reg_fail(c, -EIO, "cannot build the verification result");
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

static void replica_out(void *arg, const char *name, const char *info)
{
	struct reg_ctx *c = arg;
	char err[64];
	yajl_val v = json_parse(info, strlen(info), 0, err, sizeof(err));

	jg_map_open(&c->out);
	jg_kstr(&c->out, "name", name);
	if (v && YAJL_IS_OBJECT(v))
		put_members_of(&c->out, v);
	jg_map_close(&c->out);
	if (v)
		yajl_tree_free(v);
}

/* The live replicas of a registry on etcd (each one's presence key under
 * its lease, rdv_repl.h); with LMDB alone, none: this process is all. */
int reg_admin_replicas(struct reg_ctx *c)
{
	int rc = 0;

	jg_kstr(&c->out, "store", c->db->repl ? "etcd" : "lmdb");
	jg_key(&c->out, "replicas");
	jg_array_open(&c->out);
	if (c->db->repl)
		rc = rdv_repl_replicas(c->db->repl, replica_out, c);
	jg_array_close(&c->out);
	return rc < 0 ? reg_fail(c, -EAGAIN, "etcd: the list of replicas: %s", strerror(-rc)) : 0;
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
		return reg_fail(c, -EIO, "registry store error");
	if (!a.org)
		return -EPERM;
	c->org_scope = a.org;
	return 0;
}

int reg_admin_auth(struct reg_ctx *c, const char *admin_token, const char *auth)
{
	int rc;

	if (admin_auth(admin_token, auth) == 0)
		return 0;
	rc = org_auth(c, auth);
	if (rc == -EIO)
		return rc;
	if (rc < 0)
		return reg_fail(c, -EPERM, "%s",
				auth ? "wrong admin token" : "missing admin token");
	return 0;
}
