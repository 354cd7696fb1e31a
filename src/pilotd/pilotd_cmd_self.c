/* pilotd_cmd_self.c - control-socket commands about this node's names
 * and settings (doc/IPC.md): find (the lookup itself: pilotd_find.c),
 * set-hostname, clear-hostname, set-public, set-private, set-tags,
 * rotate-key and config.  Each but config asks the registry and answers
 * when it has replied; a setting is kept in the meta table once the
 * registry took it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "regmsg.h"
#include "util.h"

/* ---- find ----
 * `pilotctl find` asks the registry every time; the name service
 * socket's `find` takes a cached answer, or shares a lookup in flight
 * (pilotd_find.c). */

static void reply_find(struct pilotd *d, struct ipc_req *req, const struct pilotd_find_answer *a)
{
	struct json_gen *j;

	if (!a->found) {
		/* The same answer whether the name is unknown or hidden. */
		ipc_reply_error(req, "not_found", "no such host", NULL);
		return;
	}
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "node_id", a->node);
	gen_addr(d, j, a->net, a->node);
	jg_kstr(j, "hostname", a->hostname);
	jg_key(j, "networks");
	jg_array_open(j);
	for (unsigned i = 0; i < a->nnets; i++)
		jg_u64(j, a->nets[i]);
	jg_array_close(j);
	if (a->ext_net) {
		jg_ku64(j, "external_network_id", a->ext_net);
		jg_kstr(j, "external_id", a->external_id);
		jg_kstr(j, "external_issuer", a->external_issuer);
	}
	jg_kbool(j, "trusted", a->trusted);
	if (a->score >= 0)
		jg_ku64(j, "score", (uint64_t)a->score);
	ipc_reply_ok_end(req);
}

static void on_find(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		    const struct pilotd_find_answer *a)
{
	struct ipc_req *req = arg;

	if (err < 0)
		reply_registry_error(req, code, msg);
	else
		reply_find(d, req, a);
}

/* \p cached: the name service's question (a cached answer will do). */
static void find(struct pilotd *d, struct ipc_req *req, yajl_val args, int cached)
{
	const struct pilotd_find_answer *a;
	struct pilotd_find_wait *w;
	const char *name = NULL;
	char canon[64];
	int limited = 0;

	if (json_get_str(args, "hostname", &name) < 0 ||
	    pilotd_find_canon(name, canon, sizeof(canon)) < 0) {
		ipc_reply_error(req, "not_found", "no such host", NULL);
		return;
	}
	if (!need_registered(d, req))
		return;
	if (cached && (a = pilotd_find_cached(d, canon)) != NULL) {
		d->ctr.resolve_cached++;
		reply_find(d, req, a);
		return;
	}
	/* The request stays valid until answered, even if its client goes
	 * (ipc.c): nothing to cancel.  The name service's lookups spend the
	 * client user's share of their registry budget (findlim.h). */
	if (!cached) {
		w = pilotd_find_ask(d, canon, 0, on_find, req);
	} else if (!(w = pilotd_find_ask_local(d, canon, ipc_req_uid(req), on_find, req,
					       &limited)) &&
		   limited) {
		d->ctr.resolve_rate_limited++;
		ipc_reply_error(req, "rate_limited", "too many name lookups for the registry",
				"try again shortly; see pilotd(8), LOCAL SOCKETS");
		return;
	}
	if (!w)
		ipc_reply_error(req, "internal", "could not send the request", NULL);
}

void cmd_find(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	find(d, req, args, 0);
}

void cmd_find_cached(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	find(d, req, args, 1);
}

/* ---- settings ---- */

static void add_hostname(struct json_gen *j, void *arg)
{
	jg_kstr(j, "hostname", ((struct pend *)arg)->text);
}

static void on_set_hostname(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			    yajl_val resp)
{
	struct pend *p = arg;
	const char *hn = NULL;
	struct json_gen *j;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	json_get_str(resp, "hostname", &hn);
	snprintf(d->hostname, sizeof(d->hostname), "%.63s", hn ? hn : p->text);
	pilotd_meta_put(d, "hostname", d->hostname, strlen(d->hostname));
	pilotd_audit_event(d, "node.hostname", 0, "{\"hostname\":\"%s\"}", d->hostname);
	j = ipc_reply_ok_begin(p->req);
	jg_kstr(j, "hostname", d->hostname);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_set_hostname(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	const char *hn = NULL;
	struct pend *p;

	if (json_get_str(args, "hostname", &hn) < 0 || !*hn || strlen(hn) > 63) {
		ipc_reply_error(req, "bad_request", "expected a hostname of 1-63 characters",
				"letters, digits and '-'");
		return;
	}
	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	snprintf(p->text, sizeof(p->text), "%s", hn);
	pend_call(d, p, "set_hostname", add_hostname, on_set_hostname);
}

static void on_clear_hostname(struct pilotd *d, void *arg, int err, const char *code,
			      const char *msg, yajl_val resp)
{
	struct pend *p = arg;

	(void)resp;
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else {
		d->hostname[0] = '\0';
		pilotd_meta_put(d, "hostname", "", 0);
		pilotd_audit_event(d, "node.hostname", 0, "{\"hostname\":\"\"}");
		ipc_reply_ok_begin(p->req);
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

void cmd_clear_hostname(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	registry_call(d, req, "clear_hostname", on_clear_hostname);
}

static void add_public(struct json_gen *j, void *arg)
{
	jg_kbool(j, "public", ((struct pend *)arg)->node);
}

static void on_visibility(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			  yajl_val resp)
{
	struct pend *p = arg;
	struct json_gen *j;

	(void)resp;
	if (err < 0) {
		reply_registry_error(p->req, code, msg);
	} else {
		d->public_ = (int)p->node;
		pilotd_meta_put(d, "public", d->public_ ? "1" : "0", 1);
		pilotd_audit_event(d, "node.visibility", 0, "{\"public\":%s}",
				   d->public_ ? "true" : "false");
		j = ipc_reply_ok_begin(p->req);
		jg_kstr(j, "visibility", d->public_ ? "public" : "private");
		ipc_reply_ok_end(p->req);
	}
	free(p);
}

static void set_visibility(struct pilotd *d, struct ipc_req *req, int pub)
{
	struct pend *p;

	if (!need_registered(d, req) || !(p = pend_new(req, (uint32_t)pub)))
		return;
	pend_call(d, p, "set_visibility", add_public, on_visibility);
}

void cmd_set_public(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	set_visibility(d, req, 1);
}

void cmd_set_private(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	(void)args;
	set_visibility(d, req, 0);
}

static void add_tags_text(struct json_gen *j, void *arg)
{
	const char *p = ((struct pend *)arg)->text;

	jg_key(j, "tags");
	jg_array_open(j);
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n)
			jg_strn(j, p, n);
		p += n + (p[n] == ',');
	}
	jg_array_close(j);
}

static void on_set_tags(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			yajl_val resp)
{
	struct pend *p = arg;
	yajl_val tags = json_get(resp, "tags");
	struct json_gen *j;
	size_t o = 0;

	if (registry_failed(p->req, err, code, msg))
		goto out;
	d->tags[0] = '\0';
	for (size_t i = 0; tags && YAJL_IS_ARRAY(tags) && i < tags->u.array.len; i++) {
		yajl_val t = tags->u.array.values[i];
		if (YAJL_IS_STRING(t) && o < sizeof(d->tags))
			o += (size_t)snprintf(d->tags + o, sizeof(d->tags) - o, "%s%s",
					      o ? "," : "", t->u.string);
	}
	pilotd_meta_put(d, "tags", d->tags, strlen(d->tags));
	pilotd_audit_event(d, "node.tags", 0, "{\"count\":%u}",
			   (unsigned)(tags && YAJL_IS_ARRAY(tags) ? tags->u.array.len : 0));
	j = ipc_reply_ok_begin(p->req);
	jg_key(j, "tags");
	if (tags)
		jg_array_open(j);
	for (size_t i = 0; tags && YAJL_IS_ARRAY(tags) && i < tags->u.array.len; i++)
		if (YAJL_IS_STRING(tags->u.array.values[i]))
			jg_str(j, tags->u.array.values[i]->u.string);
	if (tags)
		jg_array_close(j);
	else
		jg_null(j);
	ipc_reply_ok_end(p->req);
out:
	free(p);
}

void cmd_set_tags(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	yajl_val tags = json_get(args, "tags");
	struct pend *p;
	size_t o = 0;

	if (tags && YAJL_IS_STRING(tags) && !tags->u.string[0])
		tags = NULL; /* "" = clear */
	if (tags && !YAJL_IS_ARRAY(tags)) {
		ipc_reply_error(req, "bad_request", "tags must be an array of strings", NULL);
		return;
	}
	if (!need_registered(d, req) || !(p = pend_new(req, 0)))
		return;
	for (size_t i = 0; tags && i < tags->u.array.len; i++) {
		yajl_val t = tags->u.array.values[i];
		/* Commas would split a tag: the registry's charset has none. */
		if (!YAJL_IS_STRING(t) || strchr(t->u.string, ',') ||
		    o + strlen(t->u.string) + 2 > sizeof(p->text)) {
			ipc_reply_error(req, "bad_request", "invalid tag",
					"at most 10 tags of [a-z0-9-_.], 1-32 characters");
			free(p);
			return;
		}
		o += (size_t)snprintf(p->text + o, sizeof(p->text) - o, "%s%s", o ? "," : "",
				      t->u.string);
	}
	pend_call(d, p, "set_tags", add_tags_text, on_set_tags);
}

/* ---- rotate-key ---- */

struct rotate {
	struct pend p;
	uint64_t ts;
	uint8_t new_pk[32];
	char proof[REGMSG_SIG_B64_LEN];
	char admin_token[512]; /* renews an expired identity; "" if none */
};

static void add_rotate(struct json_gen *j, void *arg)
{
	struct rotate *r = arg;
	jg_kb64(j, "new_public_key", r->new_pk, 32);
	jg_kstr(j, "proof", r->proof);
	if (r->admin_token[0])
		jg_kstr(j, "admin_token", r->admin_token);
	/* A fresh token renews an expired identity too (SPEC 6): the
	 * registry checks it against a network that admitted us on one. */
	if (r->p.d)
		pilotd_tokens_put(r->p.d, j);
}

static void on_rotate(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		      yajl_val resp)
{
	struct rotate *r = arg;
	struct json_gen *j;
	char pk[64];

	(void)resp;
	d->rotating = 0;
	if (err < 0) {
		/* Refused: the old key stays. (Unreachable: the registry may
		 * or may not have it; the next registration settles it.) */
		if (strcmp(code, "registry_unavailable") != 0)
			pilotd_identity_drop_next(d);
		reply_registry_error(r->p.req, code, msg);
		goto out;
	}
	if (!d->ed_sk_next || pilotd_identity_replace(d, d->ed_sk_next) < 0) {
		ipc_reply_error(r->p.req, "internal",
				"the registry accepted the new key but it could not be saved",
				"restart pilotd: it completes the rotation at registration");
		goto out;
	}
	b64_encode(pk, sizeof(pk), d->ed_pk, 32);
	j = ipc_reply_ok_begin(r->p.req);
	jg_ku64(j, "node_id", d->node_id);
	jg_kstr(j, "public_key", pk);
	ipc_reply_ok_end(r->p.req);
out:
	sodium_memzero(r, sizeof(*r));
	free(r);
}

void cmd_rotate_key(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	char msg[400], oldb[64], newb[64];
	uint8_t *sk = NULL, sig[64];
	struct rotate *r;
	const char *tok = NULL;
	int n;

	if (!need_registered(d, req))
		return;
	if (d->rotating) {
		ipc_reply_error(req, "conflict", "a key rotation is already in progress", NULL);
		return;
	}
	r = calloc(1, sizeof(*r));
	sk = sodium_malloc(64);
	if (!r || !sk) {
		ipc_reply_error(req, "internal", "out of memory", NULL);
		goto fail;
	}
	r->p.req = req;
	r->p.d = d;
	/* Only a token given with the command: the configured one must not
	 * renew an expired identity without the operator asking. */
	if (json_get_str(args, "admin_token", &tok) == 0 && *tok)
		snprintf(r->admin_token, sizeof(r->admin_token), "%s", tok);
	crypto_sign_keypair(r->new_pk, sk);
	/* Persist the new key before the registry hears of it, so a crash in
	 * between can be completed at the next start. */
	if (pilotd_identity_set_next(d, sk) < 0) {
		ipc_reply_error(req, "internal", "could not save the new key", NULL);
		goto fail;
	}
	r->ts = now_real_ms();
	b64_encode(oldb, sizeof(oldb), d->ed_pk, 32);
	b64_encode(newb, sizeof(newb), r->new_pk, 32);
	n = snprintf(msg, sizeof(msg), "pilot-rotate-key-v1\n%u\n%s\n%s\n%llu", d->node_id, oldb,
		     newb, (unsigned long long)r->ts);
	crypto_sign_detached(sig, NULL, (const uint8_t *)msg, (size_t)n, sk);
	b64_encode(r->proof, sizeof(r->proof), sig, 64);
	sodium_free(sk);
	d->rotating = 1;
	if (regc_call_ts(&d->regc, "rotate_key", r->ts, add_rotate, r, on_rotate, r) < 0) {
		d->rotating = 0;
		pilotd_identity_drop_next(d);
		ipc_reply_error(req, "internal", "could not send the request", NULL);
		free(r);
	}
	return;
fail:
	if (sk)
		sodium_free(sk);
	free(r);
}

/* ---- config ----
 * The configuration this daemon runs with (defaults, file and flags), as
 * `pilotd --check-config` prints it: every secret replaced by
 * CONF_REDACTED and its source, so that a bug report can carry it. */
void cmd_config(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	struct json_gen *j;

	(void)args;
	j = ipc_reply_ok_begin(req);
	jg_kstr(j, "path", conf_loaded_path(&d->cfg));
	jg_key(j, "config");
	conf_dump_gen(pilotd_schema, &d->cfg, j);
	ipc_reply_ok_end(req);
}
