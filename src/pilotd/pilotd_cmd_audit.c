/* pilotd_cmd_audit.c - the control-socket commands audit, audit.verify
 * and webhook.*: this node's log (or, with an admin token, the
 * registry's), its verification, and the webhook's settings. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "util.h"
#include "webhook.h"

/* ---- IPC ---- */

/* The modules write a whole object; the envelope wants its members inside
 * "data": re-emit them from a parse of the object. */
static void emit_members(struct json_gen *j, const char *obj, size_t len)
{
	yajl_val v = json_parse(obj, len, 0, NULL, 0);

	for (size_t i = 0; v && YAJL_IS_OBJECT(v) && i < v->u.object.len; i++) {
		jg_key(j, v->u.object.keys[i]);
		json_gen_value(j, v->u.object.values[i]);
	}
	if (v)
		yajl_tree_free(v);
}

/* Open the ok reply with the members of the object written into \p tmp
 * (which is freed). */
static struct json_gen *reply_members(struct ipc_req *req, struct json_gen *tmp)
{
	struct json_gen *j = ipc_reply_ok_begin(req);
	const char *out;
	size_t n;

	if (json_gen_finish(tmp, &out, &n) == 0)
		emit_members(j, out, n);
	json_gen_free(tmp);
	return j;
}

struct q_ctx {
	struct json_gen *j;
	uint64_t last;
	char err[64];
};

static int q_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct q_ctx *q = arg;
	jg_raw(q->j, rec, len);
	q->last = id;
	return 0;
}

/* --since: an event ID, or a time: Unix seconds with an "s" suffix, or a
 * duration back from now ("90s", "15m", "2h", "7d"). */
static int parse_since(const char *s, struct audit_filter *f)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return 0;
	v = strtoull(s, &end, 10);
	if (end == s)
		return -EINVAL;
	if (*end == '\0') {
		f->since_id = v;
		return 0;
	}
	if (end[1] != '\0')
		return -EINVAL;
	switch (*end) {
	case 'm':
		v *= 60;
		break;
	case 'h':
		v *= 3600;
		break;
	case 'd':
		v *= 86400;
		break;
	case 's':
		break;
	default:
		return -EINVAL;
	}
	/* A bare "NNNs" large enough to be a Unix time is one. */
	if (*end == 's' && v > 1000000000ull)
		f->since_ms = v * 1000;
	else
		f->since_ms = now_real_ms() - MIN(v * 1000, now_real_ms());
	return 0;
}

static void on_registry_audit(struct pilotd *d, void *arg, int err, const char *code,
			      const char *msg, yajl_val resp)
{
	struct pend *p = arg;
	yajl_val ev = json_get(resp, "events");
	struct json_gen *j;
	uint64_t last = 0;

	(void)d;
	if (registry_failed(p->req, err, code, msg))
		goto out;
	j = ipc_reply_ok_begin(p->req);
	jg_key(j, "events");
	jg_array_open(j);
	for (size_t i = 0; ev && YAJL_IS_ARRAY(ev) && i < ev->u.array.len; i++) {
		/* Re-emit the registry's records as they came. */
		yajl_val r = ev->u.array.values[i];
		struct json_gen tmp;
		const char *s;
		size_t n;
		if (json_gen_init(&tmp) < 0)
			continue;
		json_gen_value(&tmp, r);
		if (json_gen_finish(&tmp, &s, &n) == 0)
			jg_raw(j, s, n);
		json_gen_free(&tmp);
	}
	jg_array_close(j);
	json_get_u64(resp, "last_id", &last);
	jg_ku64(j, "last_id", last);
	jg_kstr(j, "source", "registry");
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

struct reg_query {
	struct audit_filter f;
	char type[64], node[64];
};

static void add_reg_query(struct json_gen *j, void *arg)
{
	struct reg_query *q = arg;
	if (q->f.since_id)
		jg_ku64(j, "since_id", q->f.since_id);
	if (q->f.since_ms)
		jg_ku64(j, "since_ms", q->f.since_ms);
	if (q->type[0])
		jg_kstr(j, "type", q->type);
	if (q->node[0]) {
		/* The registry matches a number as "node:N", a string exactly. */
		if (strspn(q->node, "0123456789") == strlen(q->node))
			jg_ku64(j, "node", strtoull(q->node, NULL, 10));
		else
			jg_kstr(j, "node", q->node);
	}
	jg_ku64(j, "limit", q->f.limit);
	jg_kbool(j, "newest", 1); /* the latest records, as for the node's own log */
}

/* The registry's own log (audit, audit_verify): an admin request, with
 * the answer relayed by \p cb. */
static void registry_log_call(struct pilotd *d, struct ipc_req *req, yajl_val args, const char *op,
			      const char *hint, regc_add_fn add, void *add_arg, regc_cb cb)
{
	const char *tok = pilotd_admin_token(d, args);
	struct pend *p;

	if (!tok) {
		ipc_reply_error(req, "forbidden", "the registry's log needs the admin token", hint);
		return;
	}
	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	if (regc_admin(&d->regc, op, tok, add, add_arg, cb, p) < 0) {
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(p);
	}
}

void cmd_audit(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct reg_query q;
	const char *since = NULL, *type = NULL, *node = NULL;
	int reg = 0;
	uint32_t limit = 1000;
	struct q_ctx c;
	int rc;

	memset(&q, 0, sizeof(q));
	json_get_str(args, "since", &since);
	json_get_str(args, "type", &type);
	json_get_str(args, "node", &node);
	json_get_bool(args, "registry", &reg);
	json_get_u32(args, "limit", &limit);
	if (parse_since(since, &q.f) < 0) {
		ipc_reply_error(req, "bad_request", "--since: expected an event ID or a time",
				"e.g. 120 (event ID), 15m, 2h, 7d, or 1795660000s (Unix time)");
		return;
	}
	q.f.limit = MIN(limit ? limit : 1000, 10000);
	q.f.newest = 1;
	snprintf(q.type, sizeof(q.type), "%s", type ? type : "");
	snprintf(q.node, sizeof(q.node), "%s", node ? node : "");
	if (reg) {
		registry_log_call(d, req, args, "audit",
				  "pilotctl --admin-token T audit --registry", add_reg_query, &q,
				  on_registry_audit);
		return;
	}
	q.f.type = q.type[0] ? q.type : NULL;
	q.f.node = q.node[0] ? q.node : NULL;
	if (q.node[0] && strspn(q.node, "0123456789") == strlen(q.node)) {
		/* --node 42: that node exactly (not node:142) */
		char tmp[64];
		snprintf(tmp, sizeof(tmp), "node:%.40s", q.node);
		memcpy(q.node, tmp, sizeof(q.node));
		q.f.node_exact = 1;
	}
	memset(&c, 0, sizeof(c));
	c.j = ipc_reply_ok_begin(req);
	jg_key(c.j, "events");
	jg_array_open(c.j);
	rc = audit_query(pilotd_audit_log(d), &q.f, q_cb, &c);
	jg_array_close(c.j);
	jg_ku64(c.j, "last_id", c.last ? c.last : audit_last_id(pilotd_audit_log(d), NULL));
	jg_kstr(c.j, "source", "node");
	if (rc < 0)
		jg_kstr(c.j, "error", strerror(-rc));
	ipc_reply_ok_end(req);
}

static void on_registry_verify(struct pilotd *d, void *arg, int err, const char *code,
			       const char *msg, yajl_val resp)
{
	struct pend *p = arg;
	struct json_gen *j, tmp;
	const char *s;
	size_t n;

	(void)d;
	if (registry_failed(p->req, err, code, msg))
		goto out;
	j = ipc_reply_ok_begin(p->req);
	/* The registry's verdict, member for member. */
	for (size_t i = 0; YAJL_IS_OBJECT(resp) && i < resp->u.object.len; i++) {
		if (json_gen_init(&tmp) < 0)
			continue;
		json_gen_value(&tmp, resp->u.object.values[i]);
		if (json_gen_finish(&tmp, &s, &n) == 0) {
			jg_key(j, resp->u.object.keys[i]);
			jg_raw(j, s, n);
		}
		json_gen_free(&tmp);
	}
	jg_kstr(j, "source", "registry");
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_audit_verify(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct audit_verify_result res;
	struct json_gen *j, tmp;
	int reg = 0, rc;

	json_get_bool(args, "registry", &reg);
	if (reg) {
		registry_log_call(d, req, args, "audit_verify",
				  "pilotctl --admin-token T audit verify --registry", NULL, NULL,
				  on_registry_verify);
		return;
	}
	pilotd_audit_flush(d);
	rc = audit_verify(pilotd_audit_log(d), d->ed_pk, &res);
	if (rc < 0) {
		ipc_reply_error(req, "internal", strerror(-rc), NULL);
		return;
	}
	if (json_gen_init(&tmp) < 0) {
		ipc_reply_error(req, "internal", "out of memory", NULL);
		return;
	}
	audit_verify_json(&res, &tmp);
	j = reply_members(req, &tmp);
	jg_kstr(j, "source", "node");
	ipc_reply_ok_end(req);
}

static void gen_webhook_status(struct pilotd *d, struct ipc_req *req)
{
	struct webhook_status ws;
	struct json_gen tmp;

	if (webhook_status(pilotd_audit_webhook(d), &ws) < 0) {
		ipc_reply_error(req, "internal", "webhook status unavailable", NULL);
		return;
	}
	if (json_gen_init(&tmp) < 0) {
		ipc_reply_error(req, "internal", "out of memory", NULL);
		return;
	}
	webhook_status_json(&ws, &tmp);
	reply_members(req, &tmp);
	ipc_reply_ok_end(req);
}

void cmd_webhook_set(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	const char *url = NULL, *secret = NULL;
	int rc;

	if (json_get_str(args, "url", &url) < 0 || !*url) {
		ipc_reply_error(req, "bad_request", "missing URL", NULL);
		return;
	}
	json_get_str(args, "secret", &secret);
	if (secret && strlen(secret) > 256) {
		ipc_reply_error(req, "bad_request", "secret longer than 256 bytes", NULL);
		return;
	}
	rc = webhook_set_endpoint(pilotd_audit_webhook(d), url, (const uint8_t *)secret,
				  secret ? strlen(secret) : 0);
	if (rc < 0) {
		ipc_reply_error(req, "bad_request",
				rc == -EINVAL ? "not an acceptable URL" : strerror(-rc),
				"https://HOST/PATH (plain http only to a loopback address)");
		return;
	}
	{
		char q[600];
		if (json_quote(q, sizeof(q), url) < 0)
			snprintf(q, sizeof(q), "\"(long)\"");
		pilotd_audit_event(d, "webhook.set", 0, "{\"url\":%s,\"signed\":%s}", q,
				   secret && *secret ? "true" : "false");
	}
	gen_webhook_status(d, req);
}

void cmd_webhook_clear(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint64_t purged = 0;
	struct json_gen *j;
	int rc;

	(void)args;
	rc = webhook_clear(pilotd_audit_webhook(d), &purged);
	if (rc < 0) {
		ipc_reply_error(req, "internal", strerror(-rc), NULL);
		return;
	}
	pilotd_audit_event(d, "webhook.cleared", 0, "{\"purged\":%llu}",
			   (unsigned long long)purged);
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "purged", purged);
	ipc_reply_ok_end(req);
}

void cmd_webhook_status(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	gen_webhook_status(d, req);
}
