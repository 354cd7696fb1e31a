/* test_webhook.c - the webhook outbox against a real HTTP receiver (an
 * evhttp server on 127.0.0.1 in the same event loop) that fails the first
 * deliveries and then goes down for a while: every event arrives, in
 * order, without a gap, each signature valid; the backoff grows; a full
 * outbox says -ENOSPC and is audited; a restart redelivers. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "audit.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

static const char *const dbs[] = {"audit", "audit_meta", "webhook", NULL};
static const char secret[] = "s3cret-key";

#define MAXREQ 512

/* ---- the receiver ---- */

struct rcv {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *ev_up;
	uint16_t port;
	int fail_first;	  /* 500 to the first N requests */
	int always_fail;  /* 500 to everything */
	int down_after;	  /* at this request: 503 and stop listening... */
	uint32_t down_ms; /* ...for this long */
	int requests;	  /* seen (answered) */
	uint64_t at[MAXREQ];
	uint64_t ids[MAXREQ]; /* accepted (200) event_ids, in order */
	int nacc;
	int bad_sig, bad_hdr, unsigned_req;
	const char *key; /* HMAC secret expected, or NULL */
};

static void rcv_listen(struct rcv *r)
{
	r->bound = evhttp_bind_socket_with_handle(r->http, "127.0.0.1", r->port);
	if (r->bound && !r->port) {
		struct sockaddr_in sin;
		socklen_t sl = sizeof(sin);
		assert_int_equal(
		    getsockname(evhttp_bound_socket_get_fd(r->bound), (struct sockaddr *)&sin, &sl),
		    0);
		r->port = ntohs(sin.sin_port);
	}
}

static void rcv_up(evutil_socket_t fd, short what, void *arg)
{
	struct rcv *r = arg;
	struct timeval tv = {0, 50000};
	(void)fd;
	(void)what;
	rcv_listen(r);
	if (!r->bound)
		evtimer_add(r->ev_up, &tv); /* the port is busy a moment longer */
}

static void check_request(struct rcv *r, struct evhttp_request *req, uint64_t *event_id)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = (const char *)evbuffer_pullup(in, -1);
	const char *hid = evhttp_find_header(h, "X-Pilot-Event-Id");
	const char *hsig = evhttp_find_header(h, "X-Pilot-Signature");
	const char *ct = evhttp_find_header(h, "Content-Type");
	static const char *const keys[] = {"event_id",	"event", "node_id",
					   "timestamp", "data",	 NULL};
	const char *ev, *ts;
	yajl_val v;

	*event_id = 0;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || !ct ||
	    strcmp(ct, "application/json") != 0 || !hid) {
		r->bad_hdr++;
		return;
	}
	v = json_parse(body, len, 0, NULL, 0);
	if (!v || json_only_keys(v, keys, NULL) < 0 || json_get_u64(v, "event_id", event_id) < 0 ||
	    json_get_str(v, "event", &ev) < 0 || json_get_str(v, "timestamp", &ts) < 0 ||
	    strlen(ts) != 24 || ts[23] != 'Z' || !YAJL_IS_OBJECT(json_get(v, "data")) ||
	    strtoull(hid, NULL, 10) != *event_id)
		r->bad_hdr++;
	if (v)
		yajl_tree_free(v);
	if (r->key) {
		crypto_auth_hmacsha256_state st;
		uint8_t mac[32];
		char want[7 + 65];
		memcpy(want, "sha256=", 7);
		crypto_auth_hmacsha256_init(&st, (const uint8_t *)r->key, strlen(r->key));
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, len);
		crypto_auth_hmacsha256_final(&st, mac);
		hex_encode(want + 7, 65, mac, 32);
		if (!hsig || strcmp(hsig, want) != 0)
			r->bad_sig++;
	} else if (hsig) {
		r->unsigned_req++;
	}
}

static void rcv_handle(struct evhttp_request *req, void *arg)
{
	struct rcv *r = arg;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	uint64_t id;

	check_request(r, req, &id);
	if (r->requests < MAXREQ)
		r->at[r->requests] = now_mono_ms();
	r->requests++;
	/* Close after errors: the next attempt must connect anew, which
	 * fails while the receiver is down. */
	if (r->always_fail || r->requests <= r->fail_first) {
		evhttp_add_header(out, "Connection", "close");
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	}
	if (r->requests == r->down_after) {
		struct timeval tv = {r->down_ms / 1000, (r->down_ms % 1000) * 1000};
		evhttp_add_header(out, "Connection", "close");
		evhttp_send_reply(req, 503, "Service Unavailable", NULL);
		evhttp_del_accept_socket(r->http, r->bound);
		r->bound = NULL;
		evtimer_add(r->ev_up, &tv);
		return;
	}
	if (r->nacc < MAXREQ)
		r->ids[r->nacc++] = id;
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void rcv_start(struct rcv *r, struct event_base *base)
{
	r->base = base;
	r->http = evhttp_new(base);
	assert_non_null(r->http);
	evhttp_set_gencb(r->http, rcv_handle, r);
	r->ev_up = evtimer_new(base, rcv_up, r);
	rcv_listen(r);
	assert_non_null(r->bound);
}

static void rcv_stop(struct rcv *r)
{
	event_free(r->ev_up);
	evhttp_free(r->http);
}

/* ---- fixture ---- */

struct env {
	char *dir;
	struct store *st;
	struct audit *a;
	struct event_base *base;
	struct httpc *http;
	struct webhook *w;
	struct rcv rcv;
	char url[64];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	assert_true(sodium_init() >= 0);
	e->dir = strdup("/tmp/pilot-test-webhook.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->st = store_open(e->dir, dbs, 64 << 20);
	assert_non_null(e->st);
	assert_int_equal(audit_open(e->st, "audit", "audit_meta", &e->a), 0);
	e->base = event_base_new();
	e->http = httpc_new(e->base);
	assert_non_null(e->http);
	rcv_start(&e->rcv, e->base);
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%u/hook", e->rcv.port);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[300];
	webhook_free(e->w);
	httpc_free(e->http);
	rcv_stop(&e->rcv);
	event_base_free(e->base);
	audit_close(e->a);
	store_close(e->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e->dir);
	free(e);
	return 0;
}

static void make_webhook(struct env *e, uint64_t capacity)
{
	struct webhook_opts o = {
	    .capacity = capacity, .backoff_min_ms = 40, .backoff_max_ms = 400, .timeout_ms = 2000};
	assert_int_equal(webhook_new(e->st, "webhook", e->base, e->http, &o, &e->w), 0);
}

/* Events through the daemon's path: audit + outbox in one transaction. */
static void emit(struct env *e, int n, int *dropped_total)
{
	struct store_txn t;
	int dropped;

	store_txn_begin(e->st, &t, 0);
	for (int i = 0; i < n; i++) {
		char det[64];
		snprintf(det, sizeof(det), "{\"i\":%d}", i);
		assert_int_equal(webhook_audit_txn(e->a, e->w, &t, "trust.added", "self", "node:9",
						   42, det, NULL, &dropped),
				 0);
		if (dropped_total)
			*dropped_total += dropped;
	}
	assert_int_equal(store_txn_commit(&t), 0);
	audit_txn_committed(e->a);
	webhook_kick(e->w);
}

struct watch {
	struct env *e;
	int want;	       /* accepted requests */
	uint32_t max_failures; /* seen in status while waiting */
	int saw_next_attempt;  /* next_attempt_ms after last_attempt_ms while failing */
	uint64_t max_backlog;
};

static int delivered(struct watch *wt)
{
	struct webhook_status s;
	assert_int_equal(webhook_status(wt->e->w, &s), 0);
	wt->max_failures = MAX(wt->max_failures, s.failures);
	wt->max_backlog = MAX(wt->max_backlog, s.backlog);
	if (s.failures && !s.in_flight && s.next_attempt_ms >= s.last_attempt_ms)
		wt->saw_next_attempt = 1;
	return wt->e->rcv.nacc >= wt->want && s.backlog == 0 && !s.in_flight;
}

/* Drive the loop until cond or max_ms: every wait here is bounded. */
static int run_until(struct env *e, int (*cond)(struct watch *), struct watch *wt, uint32_t max_ms)
{
	uint64_t end = now_mono_ms() + max_ms;
	while (!cond || !cond(wt)) {
		struct timeval tv = {0, 10000};
		if (now_mono_ms() >= end)
			return -ETIMEDOUT;
		event_base_loopexit(e->base, &tv);
		event_base_dispatch(e->base);
	}
	return 0;
}

static void expect_ids(struct env *e, uint64_t first, int n)
{
	assert_int_equal(e->rcv.nacc, n);
	for (int i = 0; i < n; i++)
		if (e->rcv.ids[i] != first + (uint64_t)i)
			fail_msg("delivery %d: event %" PRIu64 ", wanted %" PRIu64, i,
				 e->rcv.ids[i], first + (uint64_t)i);
}

static void test_delivery_fail_down_recover(void **state)
{
	struct env *e = *state;
	struct watch wt = {.e = e, .want = 30};
	struct webhook_status s;
	struct audit_verify_result vr;

	e->rcv.fail_first = 4;
	e->rcv.down_after = 6;
	e->rcv.down_ms = 700;
	e->rcv.key = secret;
	make_webhook(e, 0);
	assert_int_equal(
	    webhook_set_endpoint(e->w, e->url, (const uint8_t *)secret, strlen(secret)), 0);
	for (int burst = 0; burst < 3; burst++) {
		emit(e, 10, NULL);
		run_until(e, NULL, &wt, 30);
	}
	assert_int_equal(run_until(e, delivered, &wt, 20000), 0);

	/* Every event, in order, no gap, no duplicate, every signature good. */
	expect_ids(e, 1, 30);
	assert_int_equal(e->rcv.bad_sig, 0);
	assert_int_equal(e->rcv.bad_hdr, 0);
	/* The receiver was really down (connection refused in between). */
	assert_true(wt.max_failures >= 4);
	assert_true(wt.saw_next_attempt);
	/* Backoff grows: delays are in [b/2, b] with b = 40, 80, 160, 320. */
	uint64_t d1 = e->rcv.at[1] - e->rcv.at[0], d2 = e->rcv.at[2] - e->rcv.at[1],
		 d3 = e->rcv.at[3] - e->rcv.at[2], d4 = e->rcv.at[4] - e->rcv.at[3];
	print_message("# retry delays: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		      " ms; %d requests for 30 events\n",
		      d1, d2, d3, d4, e->rcv.requests);
	assert_true(d1 >= 15 && d1 < 1000);
	assert_true(d3 > d1);
	assert_true(d4 > d2);
	assert_true(d4 >= 150);

	assert_int_equal(webhook_status(e->w, &s), 0);
	assert_int_equal(s.backlog, 0);
	assert_int_equal(s.backlog_bytes, 0);
	assert_int_equal(s.failures, 0);
	assert_int_equal(s.last_delivered_id, 30);
	assert_true(s.has_secret);
	/* The outage is remembered: the last error is a refused connection. */
	print_message("# last error: %s\n", s.last_error);
	assert_non_null(strstr(s.last_error, "onnect"));
	assert_true(s.last_success_ms >= s.last_error_ms);
	assert_int_equal(audit_verify(e->a, NULL, &vr), 0);
	assert_true(vr.ok);
	assert_int_equal(vr.last_id, 30);
}

static void test_restart_redelivers(void **state)
{
	struct env *e = *state;
	struct watch wt = {.e = e, .want = 10};
	struct webhook_status s;

	e->rcv.always_fail = 1;
	e->rcv.key = secret;
	make_webhook(e, 0);
	assert_int_equal(
	    webhook_set_endpoint(e->w, e->url, (const uint8_t *)secret, strlen(secret)), 0);
	emit(e, 10, NULL);
	run_until(e, NULL, &wt, 300);
	assert_true(e->rcv.requests >= 2);
	assert_int_equal(e->rcv.nacc, 0);

	/* Stop everything, reopen the state: the outbox and endpoint are
	 * there, and delivery picks up by itself. */
	webhook_free(e->w);
	e->w = NULL;
	audit_close(e->a);
	store_close(e->st);
	e->st = store_open(e->dir, dbs, 64 << 20);
	assert_non_null(e->st);
	assert_int_equal(audit_open(e->st, "audit", "audit_meta", &e->a), 0);
	e->rcv.always_fail = 0;
	make_webhook(e, 0);
	assert_int_equal(webhook_status(e->w, &s), 0);
	assert_int_equal(s.backlog, 10);
	assert_true(s.has_secret);
	assert_int_equal(run_until(e, delivered, &wt, 10000), 0);
	expect_ids(e, 1, 10);
	assert_int_equal(e->rcv.bad_sig, 0);
	/* And new events go on from there. */
	wt.want = 15;
	emit(e, 5, NULL);
	assert_int_equal(run_until(e, delivered, &wt, 10000), 0);
	expect_ids(e, 1, 15);
}

struct collect {
	int n;
	char rec[8][512];
};

static int collect_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct collect *c = arg;
	(void)id;
	if (c->n < 8)
		snprintf(c->rec[c->n], sizeof(c->rec[0]), "%.*s", (int)len, rec);
	c->n++;
	return 0;
}

static void test_outbox_full(void **state)
{
	struct env *e = *state;
	struct watch wt = {.e = e};
	struct audit_filter f = {.type = "webhook.outbox_full"};
	struct collect c = {0};
	struct webhook_status s;
	struct store_txn t;
	int dropped = 0;

	e->rcv.always_fail = 1;
	make_webhook(e, 5);
	assert_int_equal(webhook_set_endpoint(e->w, e->url, NULL, 0), 0);
	emit(e, 7, &dropped);
	assert_int_equal(dropped, 2);
	assert_int_equal(webhook_status(e->w, &s), 0);
	assert_int_equal(s.backlog, 5);
	assert_int_equal(s.dropped, 2);
	assert_false(s.has_secret);
	/* The audit log holds all 7 events and says which webhooks were lost. */
	assert_int_equal(audit_query(e->a, &f, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);
	assert_non_null(strstr(c.rec[0], "\"dropped_event_id\":6"));
	assert_non_null(strstr(c.rec[1], "\"dropped_event_id\":8"));
	/* Directly: -ENOSPC, and the caller's transaction is still good. */
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(webhook_enqueue_txn(e->w, &t, 100, "x.y", 0, NULL), -ENOSPC);
	assert_int_equal(t.ret, 0);
	assert_int_equal(store_txn_commit(&t), 0);
	/* Once it drains, events are taken again. */
	e->rcv.always_fail = 0;
	wt.want = 5;
	assert_int_equal(run_until(e, delivered, &wt, 10000), 0);
	expect_ids(e, 1, 5); /* event ids of the first five emits: 1..5 */
	dropped = 0;
	emit(e, 1, &dropped);
	assert_int_equal(dropped, 0);
	wt.want = 6;
	assert_int_equal(run_until(e, delivered, &wt, 10000), 0);
	assert_int_equal(e->rcv.ids[5], 10); /* 8 records + 2 notices before it */
	assert_int_equal(e->rcv.unsigned_req, 0);
}

static void test_capacity_bytes(void **state)
{
	struct env *e = *state;
	struct webhook_opts o = {.capacity_bytes = 300, .backoff_min_ms = 1000};
	struct store_txn t;
	int n = 0, rc;

	e->rcv.always_fail = 1;
	assert_int_equal(webhook_new(e->st, "webhook", e->base, e->http, &o, &e->w), 0);
	assert_int_equal(webhook_set_endpoint(e->w, e->url, NULL, 0), 0);
	store_txn_begin(e->st, &t, 0);
	while ((rc = webhook_enqueue_txn(e->w, &t, (uint64_t)n + 1, "a.b", 1,
					 "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}")) == 0)
		n++;
	assert_int_equal(rc, -ENOSPC);
	assert_true(n >= 1 && n <= 3);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void test_endpoint_rules_secret_clear(void **state)
{
	struct env *e = *state;
	struct webhook_status s;
	struct store_txn t;
	uint64_t purged;
	uint8_t sec[WEBHOOK_SECRET_MAX];
	size_t slen;
	char path[300], link[300];
	FILE *fp;
	static const char *const bad[] = {
	    "",
	    "ftp://example.com/x",
	    "http://example.com/hook",
	    "http://127.0.0.1@evil.example/",
	    "https://user:pw@example.com/",
	    "https://exa mple.com/",
	    "https://example.com/\r\nX-Evil: 1",
	    "file:///etc/passwd",
	    "http://127.0.0.1.evil.example/",
	};
	static const char *const good[] = {
	    "https://example.com/hook?x=1",
	    "http://localhost:8080/x",
	    "http://[::1]:9/",
	    "http://127.0.0.2/",
	};

	make_webhook(e, 0);
	for (size_t i = 0; i < nitems(bad); i++)
		if (webhook_set_endpoint(e->w, bad[i], NULL, 0) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
	for (size_t i = 0; i < nitems(good); i++)
		if (webhook_set_endpoint(e->w, good[i], NULL, 0) != 0)
			fail_msg("refused %s", good[i]);
	/* No endpoint: nothing is queued, nothing fails. */
	assert_int_equal(webhook_clear(e->w, &purged), 0);
	store_txn_begin(e->st, &t, 0);
	assert_int_equal(webhook_enqueue_txn(e->w, &t, 1, "a.b", 0, NULL), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(webhook_status(e->w, &s), 0);
	assert_int_equal(s.backlog, 0);
	assert_string_equal(s.url, "");
	/* Clear drops the backlog. */
	e->rcv.always_fail = 1;
	assert_int_equal(webhook_set_endpoint(e->w, e->url, NULL, 0), 0);
	emit(e, 4, NULL);
	assert_int_equal(webhook_clear(e->w, &purged), 0);
	assert_int_equal(purged, 4);
	assert_int_equal(webhook_status(e->w, &s), 0);
	assert_int_equal(s.backlog, 0);
	assert_int_equal(s.backlog_bytes, 0);
	/* The status as JSON parses. */
	{
		struct json_gen j;
		const char *out;
		size_t len;
		yajl_val v;
		assert_int_equal(json_gen_init(&j), 0);
		webhook_status_json(&s, &j);
		assert_int_equal(json_gen_finish(&j, &out, &len), 0);
		v = json_parse(out, len, 0, NULL, 0);
		assert_non_null(v);
		yajl_tree_free(v);
		json_gen_free(&j);
	}

	/* Secret files: private, regular, not empty, not a symlink. */
	snprintf(path, sizeof(path), "%s/secret", e->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("top-secret\n", fp);
	fclose(fp);
	chmod(path, 0644);
	assert_int_equal(webhook_secret_load(path, sec, sizeof(sec), &slen), -EPERM);
	chmod(path, 0600);
	assert_int_equal(webhook_secret_load(path, sec, sizeof(sec), &slen), 0);
	assert_int_equal(slen, 10);
	assert_memory_equal(sec, "top-secret", 10);
	snprintf(link, sizeof(link), "%s/secret-link", e->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(webhook_secret_load(link, sec, sizeof(sec), &slen), -ELOOP);
	fp = fopen(path, "w");
	fputs("\n", fp);
	fclose(fp);
	assert_int_equal(webhook_secret_load(path, sec, sizeof(sec), &slen), -EINVAL);
	assert_int_equal(webhook_secret_load("/nonexistent/x", sec, sizeof(sec), &slen), -ENOENT);
}

static void test_endpoint_change_keeps_order(void **state)
{
	struct env *e = *state;
	struct watch wt = {.e = e, .want = 0};
	struct rcv r2 = {0};
	char url2[64];

	/* The first endpoint refuses everything; the backlog then goes, in
	 * order, to the one that replaces it. */
	e->rcv.always_fail = 1;
	make_webhook(e, 0);
	assert_int_equal(webhook_set_endpoint(e->w, e->url, NULL, 0), 0);
	emit(e, 8, NULL);
	run_until(e, NULL, &wt, 150);
	rcv_start(&r2, e->base);
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%u/hook2", r2.port);
	assert_int_equal(webhook_set_endpoint(e->w, url2, NULL, 0), 0);
	for (uint64_t end = now_mono_ms() + 10000; r2.nacc < 8 && now_mono_ms() < end;)
		run_until(e, NULL, &wt, 20);
	assert_int_equal(r2.nacc, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(r2.ids[i], (uint64_t)i + 1);
	rcv_stop(&r2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_delivery_fail_down_recover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_redelivers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outbox_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capacity_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_rules_secret_clear, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_change_keeps_order, setup, teardown),
	};
	log_init("test_webhook", LOG_LVL_ERROR, LOG_FMT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
