/* regc.c - see regc.h. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "regc.h"
#include "regmsg.h"
#include "store.h"
#include "util.h"

#define REGC_TIMEOUT_MS 10000
/* The largest answer: a policy view, which policy_view_gen bounds (its
 * VIEW_MAX_* come to about 44 MiB of JSON); policy_show is at most
 * POLICY_MAX_BYTES plus its envelope.  The registry is pinned: this is a
 * bound, not a defence. */
#define REGC_RESPONSE_MAX (64 * 1024 * 1024)
#define REGC_BACKOFF_MIN_MS 500
#define REGC_BACKOFF_MAX_MS 30000
/* A registration held for the admin's approval asks again this often at
 * most, so that an approval takes effect soon (a held request writes
 * nothing). */
#define REGC_PENDING_POLL_MS 10000

struct regc_call {
	struct regc *r;
	regc_cb cb;
	void *arg;
	size_t idx; /* the registry it went to */
	char op[REGMSG_OP_MAX];
};

static void retry_now(struct regc *r);

const char *regc_addr(const struct regc *r)
{
	return r->nurls ? r->addrs[r->cur] : "";
}

/* Registry \p idx did not answer (or cannot serve): the next one takes
 * over.  Only a failure of the one in use moves on, so that the calls in
 * flight to a dead replica, failing together, move it once. */
static void failover(struct regc *r, size_t idx, const char *why)
{
	if (r->nurls < 2 || idx != r->cur)
		return;
	r->cur = (r->cur + 1) % r->nurls;
	r->failovers++;
	r->fail_streak++;
	log_warnx("registry %s: %s; going on with %s", r->addrs[idx], why, r->addrs[r->cur]);
	/* Registered again there at once: its beacon, and the proof that
	 * it answers, come with the reply. */
	if (r->registered)
		retry_now(r);
}

static void fail_cb(struct regc_call *c, int err, const char *code, const char *msg)
{
	if (c->cb)
		c->cb(c->r->d, c->arg, err, code, msg, NULL);
}

static void call_done(void *arg, int err, long status, const char *body, size_t len,
		      const char *errmsg)
{
	struct regc_call *c = arg;
	struct regc *r = c->r;
	yajl_val root = NULL;
	char perr[128];

	if (err < 0) {
		r->connected = 0;
		r->last_errno = err;
		snprintf(r->last_error, sizeof(r->last_error), "%s: %s", r->addrs[c->idx],
			 errmsg ? errmsg : "failed");
		log_debug("registry %s: %s", c->op, r->last_error);
		failover(r, c->idx, errmsg ? errmsg : "no answer");
		fail_cb(c, -EHOSTUNREACH, "registry_unavailable", r->last_error);
		goto out;
	}
	r->connected = 1;
	r->last_errno = 0;
	r->last_ok_ms = now_mono_ms();
	if (status == 200)
		r->clock_refused = 0;
	root = json_parse(body, len, 0, perr, sizeof(perr));
	if (!root || !YAJL_IS_OBJECT(root)) {
		snprintf(r->last_error, sizeof(r->last_error), "bad reply to %s: %s", c->op, perr);
		fail_cb(c, -EBADMSG, "registry_unavailable", r->last_error);
		goto out;
	}
	if (status != 200) {
		yajl_val e = json_get(root, "error");
		const char *code = "internal", *msg = "registry error";
		json_get_str(e, "code", &code);
		json_get_str(e, "message", &msg);
		log_debug("registry %s: %ld %s: %s", c->op, status, code, msg);
		snprintf(r->last_error, sizeof(r->last_error), "%s: %s: %s", c->op, code, msg);
		if (strcmp(code, "stale") == 0) {
			if (!r->clock_refused)
				log_warnx("the registry refuses this node's requests: %s; is this "
					  "machine's clock right?",
					  msg);
			r->clock_refused = 1;
			snprintf(r->refused_msg, sizeof(r->refused_msg), "%s", msg);
		}
		/* A replica that lost its store answers "unavailable". */
		if (strcmp(code, "unavailable") == 0)
			failover(r, c->idx, msg);
		fail_cb(c, -EPROTO, code, msg);
		goto out;
	}
	if (c->cb)
		c->cb(r->d, c->arg, 0, NULL, NULL, root);
out:
	if (root)
		yajl_tree_free(root);
	free(c);
}

static int regc_send(struct regc *r, const char *op, uint64_t ts, regc_add_fn add, void *add_arg,
		     httpc_done_cb done, httpc_line_cb line_cb, void *cbarg, long timeout_ms,
		     struct httpc_req **out_req, size_t *idx)
{
	char url[400], path[64], sig[REGMSG_SIG_B64_LEN], hdr[REGMSG_SIG_B64_LEN + 32];
	const char *headers[2] = {hdr, NULL};
	struct httpc_opts o = r->opts;
	struct httpc_req *req;
	char *body = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "/v1/node/%s", op);
	snprintf(url, sizeof(url), "https://%s%s", r->addrs[r->cur], path);
	*idx = r->cur;
	rc = regmsg_build(op, r->d->node_id, ts, add, add_arg, &body, &len);
	if (rc < 0)
		return rc;
	rc = regmsg_sign(r->d->ed_sk, path, body, len, sig);
	if (rc < 0)
		goto out;
	snprintf(hdr, sizeof(hdr), "Pilot-Signature: %s", sig);
	o.timeout_ms = timeout_ms;
	if (line_cb)
		o.max_body = 0; /* a stream holds only a partial line */
	req = httpc_post(r->d->http, url, headers, body, len, &o, done, line_cb, cbarg);
	if (!req) {
		rc = -ENOMEM;
		goto out;
	}
	if (out_req)
		*out_req = req;
out:
	free(body);
	return rc;
}

int regc_call(struct regc *r, const char *op, regc_add_fn add, void *add_arg, regc_cb cb, void *arg)
{
	return regc_call_ts(r, op, now_real_ms(), add, add_arg, cb, arg);
}

int regc_call_ts(struct regc *r, const char *op, uint64_t ts, regc_add_fn add, void *add_arg,
		 regc_cb cb, void *arg)
{
	struct regc_call *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->op, sizeof(c->op), "%s", op);
	rc = regc_send(r, op, ts, add, add_arg, call_done, NULL, c, REGC_TIMEOUT_MS, NULL, &c->idx);
	if (rc < 0)
		free(c);
	return rc;
}

int regc_admin(struct regc *r, const char *op, const char *token, regc_add_fn add, void *add_arg,
	       regc_cb cb, void *arg)
{
	char url[400], auth[600];
	const char *headers[2] = {auth, NULL};
	struct regc_call *c;
	struct json_gen j;
	const char *body;
	size_t len;
	int rc = -ENOMEM;

	if (!token || !*token || strpbrk(token, "\r\n"))
		return -EINVAL;
	if (snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >= (int)sizeof(auth))
		return -EINVAL;
	snprintf(url, sizeof(url), "https://%s/v1/admin/%s", r->addrs[r->cur], op);
	if (json_gen_init(&j) < 0)
		return -ENOMEM;
	jg_map_open(&j);
	if (add)
		add(&j, add_arg);
	jg_map_close(&j);
	c = calloc(1, sizeof(*c));
	if (!c || json_gen_finish(&j, &body, &len) < 0)
		goto out;
	c->r = r;
	c->cb = cb;
	c->arg = arg;
	c->idx = r->cur;
	snprintf(c->op, sizeof(c->op), "%s", op);
	{
		struct httpc_opts o = r->opts;
		o.timeout_ms = REGC_TIMEOUT_MS;
		if (httpc_post(r->d->http, url, headers, body, len, &o, call_done, NULL, c)) {
			c = NULL;
			rc = 0;
		}
	}
out:
	sodium_memzero(auth, sizeof(auth));
	free(c);
	json_gen_free(&j);
	return rc;
}

/* ---- registration ---- */

static void do_register(struct regc *r);

static void schedule(struct event *ev, uint32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(ev, &tv);
}

static uint32_t next_backoff(uint32_t *b)
{
	uint32_t cur = *b ? *b : REGC_BACKOFF_MIN_MS;
	*b = MIN(cur * 2, REGC_BACKOFF_MAX_MS);
	/* Jitter so a fleet restarting together does not stampede. */
	return cur / 2 + randombytes_uniform(cur / 2 + 1);
}

static void add_register(struct json_gen *j, void *arg)
{
	struct pilotd *d = arg;
	jg_kb64(j, "public_key", d->ed_pk, 32);
	jg_ku64(j, "listen_port", d->cfg.listen_port);
	jg_kbool(j, "public", d->public_);
	if (d->hostname[0])
		jg_kstr(j, "hostname", d->hostname);
	/* Only a key the registry does not know needs it (a known one's is
	 * ignored): offered until this process has registered once, so that
	 * a registry that lost its state takes the node back as well. */
	if (d->cfg.registration_token && d->cfg.registration_token[0] && !d->regc.ever_registered)
		jg_kstr(j, "registration_token", d->cfg.registration_token);
	/* The first registration of this process: every session our peers
	 * hold with us died with the last one, and the registry tells them
	 * so (peer.restarted) rather than letting them find out after 15 s
	 * of unanswered data. */
	if (!d->regc.ever_registered)
		jg_kbool(j, "restarted", 1);
	if (d->bcn.have_reflexive)
		jg_kbool(j, "behind_nat", d->bcn.behind_nat);
}

static void start_events(struct regc *r);
static void sync_trust(struct regc *r);

/* Say why registration failed, in words an operator can act on: a TLS
 * failure with a pin configured is almost always the wrong pin. */
static void set_reason(struct regc *r, const char *code, const char *msg)
{
	if (strcmp(code, "registry_unavailable") != 0)
		snprintf(r->reg_reason, sizeof(r->reg_reason), "%s", code);
	else if (r->last_errno == -EACCES)
		snprintf(r->reg_reason, sizeof(r->reg_reason), "%s",
			 r->pin[0] ? "pin_mismatch" : "tls_failed");
	else
		snprintf(r->reg_reason, sizeof(r->reg_reason), "unreachable");
	snprintf(r->reg_message, sizeof(r->reg_message), "%s", msg ? msg : "");
}

static void on_registered(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			  yajl_val resp)
{
	struct regc *r = &d->regc;
	struct pilot_prefix px;
	const char *prefix = NULL;
	uint32_t id = 0;
	struct timeval hb = {d->cfg.heartbeat_interval, 0};

	(void)arg;
	if (err < 0 && strcmp(code, "conflict") == 0 && d->hostname[0]) {
		/* Someone else holds the name: come up without it rather than
		 * not at all, and say so. */
		log_errorx("hostname '%s' is taken in this deployment (%s); registering without a "
			   "hostname",
			   d->hostname, msg);
		d->hostname[0] = '\0';
		pilotd_meta_put(d, "hostname", "", 0);
		do_register(r);
		return;
	}
	if (err < 0 && strcmp(code, "forbidden") == 0 && d->ed_sk_next) {
		/* A rotate-key was accepted but we died before switching: the
		 * registry has retired the old key.  Take the new one. */
		log_warnx(
		    "the registry retired this node's old key: completing the interrupted key "
		    "rotation");
		if (pilotd_identity_replace(d, d->ed_sk_next) == 0) {
			do_register(r);
			return;
		}
	}
	if (err < 0) {
		uint32_t ms = next_backoff(&r->backoff_ms);
		set_reason(r, code, msg);
		/* Another replica is next: try it soon; after a whole round
		 * of them, back off as with one. */
		if (r->nurls > 1 && r->fail_streak % r->nurls != 0)
			ms = REGC_BACKOFF_MIN_MS;
		if (strcmp(code, "registration_pending") == 0)
			ms = MIN(ms, REGC_PENDING_POLL_MS);
		log_warnx("registration with %s failed (%s: %s); retrying in %u ms", regc_addr(r),
			  r->reg_reason, msg, ms);
		schedule(r->ev_retry, ms);
		return;
	}
	if (json_get_u32(resp, "node_id", &id) < 0 || id == 0 ||
	    json_get_str(resp, "prefix", &prefix) < 0 || prefix_parse(prefix, &px) < 0) {
		set_reason(r, "bad_reply", "the registry sent a malformed registration reply");
		log_warnx("registry sent a malformed registration reply; retrying");
		schedule(r->ev_retry, next_backoff(&r->backoff_ms));
		return;
	}
	if (d->node_id && d->node_id != id) {
		log_warnx("registry assigned node ID %u but this node was %u; using the registry's",
			  id, d->node_id);
	}
	r->backoff_ms = 0;
	r->registered = 1;
	r->ever_registered = 1;
	r->fail_streak = 0;
	{
		uint64_t ea = 0; /* absent: the identity does not expire */
		uint32_t score;
		json_get_u64(resp, "expires_at", &ea);
		d->expires_at = ea;
		if (json_get_u32(resp, "score", &score) == 0 && score <= 100) {
			r->score = (int)score;
			r->have_score = 1;
		}
	}
	r->reg_reason[0] = r->reg_message[0] = '\0';
	if (d->ed_sk_next && !d->rotating)
		pilotd_identity_drop_next(d); /* the registry never took it */
	if (r->hooks->registered(d, id, &px) < 0) {
		schedule(r->ev_retry, next_backoff(&r->backoff_ms));
		return;
	}
	evtimer_add(r->ev_heartbeat, &hb);
	r->hooks->configure_beacon(d, resp);
	start_events(r);
	sync_trust(r);
	r->hooks->after_register(d);
}

static void do_register(struct regc *r)
{
	if (regc_call(r, "register", add_register, r->d, on_registered, NULL) < 0)
		schedule(r->ev_retry, next_backoff(&r->backoff_ms));
}

static void retry_now(struct regc *r)
{
	schedule(r->ev_retry, 0);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	do_register(arg);
}

/* ---- heartbeat ---- */

static void add_heartbeat(struct json_gen *j, void *arg)
{
	struct pilotd *d = arg;
	jg_ku64(j, "listen_port", d->cfg.listen_port);
	if (d->bcn.have_reflexive)
		jg_kbool(j, "behind_nat", d->bcn.behind_nat);
}

static void on_heartbeat(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			 yajl_val resp)
{
	uint32_t score;

	(void)arg;
	if (err == 0 && json_get_u32(resp, "score", &score) == 0 && score <= 100) {
		d->regc.score = (int)score;
		d->regc.have_score = 1;
	}
	if (err < 0 && strcmp(code, "not_found") == 0) {
		/* The registry forgot us (state lost or we were deregistered). */
		log_warnx("registry no longer knows this node (%s); registering again", msg);
		d->regc.registered = 0;
		set_reason(&d->regc, "registering", "the registry no longer knew this node");
		do_register(&d->regc);
	}
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct regc *r = arg;
	struct timeval hb = {r->d->cfg.heartbeat_interval, 0};

	(void)fd;
	(void)what;
	if (r->registered)
		regc_call(r, "heartbeat", add_heartbeat, r->d, on_heartbeat, NULL);
	evtimer_add(r->ev_heartbeat, &hb);
}

/* ---- trust sync ---- */

static void on_trusts(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		      yajl_val resp)
{
	(void)arg;
	if (err < 0) {
		log_warnx("trust sync with the registry failed (%s: %s)", code, msg);
		return;
	}
	d->regc.hooks->sync_trust(d, json_get(resp, "peers"));
}

static void sync_trust(struct regc *r)
{
	regc_call(r, "trusts", NULL, NULL, on_trusts, NULL);
}

/* ---- events stream ---- */

static void add_events(struct json_gen *j, void *arg)
{
	struct regc *r = arg;
	jg_ku64(j, "after", r->events_after);
}

static void events_line(void *arg, const char *line, size_t len)
{
	struct regc *r = arg;
	char err[128];
	uint64_t seq = 0;
	yajl_val ev = json_parse(line, len, 0, err, sizeof(err));

	if (!ev || !YAJL_IS_OBJECT(ev)) {
		log_warnx("registry event not understood: %s", err);
		goto out;
	}
	r->events_backoff_ms = 0;
	if (json_get_u64(ev, "seq", &seq) == 0 && seq == 0) {
		const char *name = NULL;
		/* seq 0: a keepalive, or the marker that the backlog is done. */
		if (json_get_str(ev, "event", &name) == 0 && strcmp(name, "synced") == 0)
			r->hooks->event(r->d, ev);
		goto out;
	}
	r->hooks->event(r->d, ev);
	if (seq > r->events_after) {
		/* Remember it durably, so a restart does not replay events the
		 * registry already delivered (it prunes up to `after`). */
		struct store_txn t;
		uint8_t v[8];
		r->events_after = seq;
		store_be64(v, seq);
		store_txn_begin(r->d->st, &t, 0);
		store_put(&t, r->d->db_meta, "events_after", 12, v, 8);
		if (store_txn_commit(&t) < 0)
			log_warnx("saving the registry event position failed");
	}
out:
	if (ev)
		yajl_tree_free(ev);
}

static void events_done(void *arg, int err, long status, const char *body, size_t len,
			const char *errmsg)
{
	struct regc *r = arg;
	uint32_t ms = next_backoff(&r->events_backoff_ms);

	(void)body;
	(void)len;
	r->events_req = NULL;
	if (err < 0) {
		log_debug("registry events stream ended: %s", errmsg ? errmsg : "");
		failover(r, r->events_idx, errmsg ? errmsg : "events stream ended");
	} else if (status != 200)
		log_warnx("registry events stream refused: HTTP %ld", status);
	schedule(r->ev_events_retry, ms);
}

static void start_events(struct regc *r)
{
	if (r->events_req)
		return;
	if (regc_send(r, "events", now_real_ms(), add_events, r, events_done, events_line, r, 0,
		      &r->events_req, &r->events_idx) < 0)
		schedule(r->ev_events_retry, next_backoff(&r->events_backoff_ms));
}

static void events_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct regc *r = arg;
	(void)fd;
	(void)what;
	if (r->registered)
		start_events(r);
}

/* ---- life cycle ---- */

int regc_init(struct regc *r, struct pilotd *d, const struct regc_hooks *hooks)
{
	const struct pilotd_cfg *c = &d->cfg;

	memset(r, 0, sizeof(*r));
	r->d = d;
	r->hooks = hooks;
	if (!c->registry || !c->registry[0]) {
		log_warnx("no registry configured (--registry HOST:PORT)");
		return -EINVAL;
	}
	while (c->registry[r->nurls])
		r->nurls++;
	r->addrs = calloc(r->nurls, sizeof(*r->addrs));
	if (!r->addrs)
		return -ENOMEM;
	for (size_t i = 0; i < r->nurls; i++)
		snprintf(r->addrs[i], sizeof(r->addrs[i]), "%s", c->registry[i]);
	if (c->registry_pin && c->registry_pin[0]) {
		if (httpc_pin_to_curl(c->registry_pin, r->pin, sizeof(r->pin)) < 0) {
			log_warnx("--registry-pin: expected the base64 or hex SHA-256 of the "
				  "registry's public key (pilot-rendezvous --print-pin)");
			return -EINVAL;
		}
		r->opts.pin = r->pin;
	}
	r->opts.cafile = c->registry_ca && c->registry_ca[0] ? c->registry_ca : NULL;
	if (!r->opts.pin && !r->opts.cafile) {
		log_warnx(
		    "the registry must be authenticated: give --registry-pin or --registry-ca");
		return -EINVAL;
	}
	r->opts.tls13_only = 1;
	r->opts.max_body = REGC_RESPONSE_MAX;
	r->opts.connect_timeout_ms = 5000;
	r->ev_heartbeat = evtimer_new(d->base, heartbeat_cb, r);
	r->ev_retry = evtimer_new(d->base, retry_cb, r);
	r->ev_events_retry = evtimer_new(d->base, events_retry_cb, r);
	if (!r->ev_heartbeat || !r->ev_retry || !r->ev_events_retry)
		return -ENOMEM;
	return 0;
}

void regc_free(struct regc *r)
{
	if (r->events_req)
		httpc_cancel(r->events_req);
	if (r->ev_heartbeat)
		event_free(r->ev_heartbeat);
	if (r->ev_retry)
		event_free(r->ev_retry);
	if (r->ev_events_retry)
		event_free(r->ev_events_retry);
	free(r->addrs);
	memset(r, 0, sizeof(*r));
}

void regc_reregister(struct regc *r)
{
	do_register(r);
}

void regc_heartbeat_now(struct regc *r)
{
	if (r->registered)
		regc_call(r, "heartbeat", add_heartbeat, r->d, on_heartbeat, NULL);
}

void regc_start(struct regc *r)
{
	struct store_txn t;
	uint8_t v[8];

	store_txn_begin(r->d->st, &t, 1);
	if (store_get_fixed(&t, r->d->db_meta, "events_after", 12, v, 8) == 0)
		r->events_after = store_rd_be64(v);
	store_txn_abort(&t);
	set_reason(r, "registering", "the first registration is under way");
	do_register(r);
}
