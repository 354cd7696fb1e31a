/* contrib/bench/revoke_fanout.c - how fast an org_revoke (or, with -k ca,
 * a ca_revoke by serial) reaches the open events streams of N peers (a
 * benchmark: it prints figures and asserts nothing; make check does not run
 * it).  contrib/bench/revoke_fanout.sh starts a throwaway pilot-rendezvous
 * on 127.0.0.1, builds this and runs it.
 *
 *   1. make N+1 Ed25519 identities; `register` each (signed requests);
 *   2. admin `org_create`, then `network_create` (join rule open, owned by
 *      the org);
 *   3. every node `org_enroll`s (and so joins the network);
 *   4. nodes 1..N open an `events` stream each (libcurl multi interface,
 *      one TLS connection per stream), with `after` = the node's current
 *      seq, and every stream is waited for until it delivered its
 *      `synced` marker: all N are then live;
 *   5. t0; admin `org_revoke` of node 0 (org_id given); for each stream the
 *      arrival of its `node.revoked` line is recorded.
 * Printed: how long registrations, joins and stream set-up took, the time
 * from t0 to the first / median / p99 / last delivery, and the org_revoke
 * request's own latency.
 *
 * With -k ca (the ca join rule, issue 14) steps 2, 3 and 5 are instead:
 *   2. a CA key pair and its self-signed certificate made here with
 *      src/lib/cert.h (as `pilotctl ca generate` does; the key stays in
 *      this process), admin `network_create` (join rule ca, `ca_cert`);
 *   3. after `register`, a node certificate for every node's key and ID
 *      (cert_sign, 1 day), and every node `network_join`s with it;
 *   5. t0; admin `ca_revoke` of node 0's serial; the registry takes node 0
 *      out and queues `network.left` (node 0, the network) to every other
 *      member: its arrival on each stream is recorded the same way.
 *
 * The current seq of a node is not asked for: each join queues one
 * `network.joined` to every member already in the network, so a node whose
 * join answer counted M members (itself included) has heard N+1-M events.
 * A stream whose backlog is not empty before `synced` (the count was off)
 * is counted and shown ("backlog lines"); it changes nothing else.
 *
 * Rate limit: the registry allows each source address 50 requests/s with
 * bursts of 100 (RDV_RATE_PER_SEC / RDV_RATE_BURST, admin requests too).
 * Each node makes 3 requests (register, org_enroll, events), so the nodes
 * are spread over several loopback source addresses 127.0.0.2 ..
 * 127.0.0.(1+S) (bound with CURLOPT_INTERFACE; all of 127/8 is on lo) —
 * by default S = ceil((N+1)/30), i.e. at most 30 nodes per source — and
 * admin requests come from 127.0.0.1.  On top, every source is paced by a
 * client-side token bucket a little below the registry's (45/s, burst
 * 90), and a `rate_limited` (429) answer is retried after a back-off and
 * counted.  With -s 1 everything comes from one address and is paced.
 * Only 127.0.0.1 is accepted as the registry address.
 *
 * Arrival times: the client reads all streams in one thread (epoll +
 * curl_multi_socket_action).  A line's arrival is the time epoll_wait
 * returned with its socket readable (so the client's own TLS and JSON
 * work on the other 999 streams of the same wake-up does not count); the
 * time the line was parsed is shown too ("parsed").
 *
 * Every wait is bounded (-w per set-up phase, -d for the deliveries, curl
 * timeouts on each request); the program exits non-zero with a message
 * when a phase fails or times out.
 *
 * Build from a configured build tree (here ./build):
 *
 *   cc -std=c11 -O2 -Ibuild -Isrc/lib -Icontrib/bench contrib/bench/revoke_fanout.c \
 *      contrib/bench/bench_reg.c \
 *      build/src/libpilot_common.a \
 *      $(pkg-config --libs libsodium yajl lmdb libcurl libevent openssl) \
 *      -o /tmp/revoke_fanout
 *   /tmp/revoke_fanout -r 127.0.0.1:PORT -p PIN -t TOKEN_FILE [-n N]
 *        [-s SOURCES] [-c CONCURRENCY] [-w PHASE_TIMEOUT_S] [-d DELIVERY_TIMEOUT_S]
 *        [-m METRICS_PORT] [-q SETTLE_MS] [-k org|ca]
 *
 * -k org|ca: org_revoke (default) or ca_revoke by serial, above.
 * -q: how long the live streams idle before t0 (default 300 ms); the
 * admin connection is then warmed (network_list) so that the revocation goes
 * over a kept-alive connection (the registry closes idle ones after 30 s).
 * With -m, the registry's /metrics (plain HTTP on 127.0.0.1:METRICS_PORT)
 * is read around each phase (its mean handler time per request, from
 * pilot_registry_request_seconds) and just before and after t0 (its count
 * of open streams and connections, and the revocation's own handler time).
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_reg.h"
#include "cert.h"
#include "json.h"
#include "regmsg.h"
#include "util.h"

#define REGISTRY_HOST BENCH_REGISTRY_HOST
#define ADMIN_SOURCE "127.0.0.1"
#define MAX_SOURCES 253	    /* 127.0.0.2 .. 127.0.0.254 */
#define NODES_PER_SOURCE 30 /* 3 requests each: well within a burst of 100 */
#define MAX_RETRIES 20	    /* per request, on 429 */
#define MAX_N 30000
#define RESP_MAX (64u << 20)	/* an org_enroll answer lists every member */
#define LINE_MAX_LEN (1u << 20) /* one events line */
#define REQ_TIMEOUT_S 60L

enum kind { K_REGISTER, K_ENROLL, K_JOIN, K_EVENTS, K_ADMIN };
static const char *const kind_op[] = {"register", "org_enroll", "network_join", "events", "admin"};

struct xfer {
	CURL *e;
	enum kind kind;
	int node; /* -1 for admin */
	struct curl_slist *hdrs;
	char *buf; /* response body (requests) or partial line (streams) */
	size_t len, cap;
	int overflow;
	int finished; /* the transfer ended (CURLMSG_DONE) */
	CURLcode res;
	long status;
	uint64_t t_start_ns, t_end_ns;
	/* events streams */
	int synced, backlog_lines, revoked_seen;
	uint64_t t_synced_ns, t_rev_wake_ns, t_rev_parse_ns;
};

struct node {
	uint8_t sk[64], pk[32];
	uint32_t id;
	uint64_t after; /* the seq the stream starts after */
	int state;	/* in the current phase: 0 pending, 1 in flight, 2 done */
	int retries;
	uint64_t not_before_ms;
	uint64_t lat_ns; /* the successful request's latency in the current phase */
	struct xfer *stream;
	char *cert; /* -k ca: its certificate, base64 */
	uint8_t serial[CERT_SERIAL_LEN];
};

static struct {
	int n; /* peers; nodes are 0..n, node 0 is revoked */
	int nsrc, conc;
	unsigned phase_s, deliver_s, settle_ms;
	uint16_t port, metrics_port;
	char pin[160], token[512];
	char auth_hdr[600];
	struct node *nodes;
	struct bench_src *src;
	struct bench_src admin_src;
	CURLM *multi;
	int ep;
	uint64_t timer_ms; /* libcurl's timer deadline (mono ms), 0 = none */
	uint64_t wake_ns;  /* when the current epoll_wait returned */
	int phase_done, phase_failed;
	uint64_t retries_429;
	uint32_t org_id, revoked_id;
	uint64_t net_id;
	char enroll_token[128];
	int ca;		       /* -k ca */
	const char *rev_op;    /* org_revoke or ca_revoke */
	const char *rev_event; /* what each stream waits for */
	uint8_t ca_sk[64];
	struct cert ca_cert;
	int streams_synced;
	int revoked_delivered;
	int streams_ended;
} B;

/* ------------------------------------------------------------ libcurl glue */

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	struct epoll_event ev = {.data.fd = s};

	(void)e;
	(void)userp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(B.ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (!sockp) {
		if (epoll_ctl(B.ep, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
			epoll_ctl(B.ep, EPOLL_CTL_MOD, s, &ev);
		curl_multi_assign(B.multi, s, (void *)1);
	} else if (epoll_ctl(B.ep, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT) {
		epoll_ctl(B.ep, EPOLL_CTL_ADD, s, &ev);
	}
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	(void)userp;
	B.timer_ms = timeout_ms < 0 ? 0 : now_mono_ms() + (uint64_t)timeout_ms;
	return 0;
}

static int buf_add(struct xfer *x, const char *p, size_t n, size_t max)
{
	if (x->len + n + 1 > max) {
		x->overflow = 1;
		return -1;
	}
	if (x->len + n + 1 > x->cap) {
		size_t ncap = x->cap ? x->cap : 4096;
		char *nb;
		while (ncap < x->len + n + 1)
			ncap *= 2;
		nb = realloc(x->buf, ncap);
		if (!nb)
			bench_die("out of memory");
		x->buf = nb;
		x->cap = ncap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return 0;
}

static void stream_line(struct xfer *x, const char *line, size_t len, uint64_t parsed_ns)
{
	char err[128];
	const char *ev;
	uint32_t id;
	yajl_val v = json_parse(line, len, 0, err, sizeof(err));

	if (!v) {
		fprintf(stderr, "revoke_fanout: node %d: bad events line: %s\n", x->node, err);
		return;
	}
	if (json_get_str(v, "event", &ev) == 0) {
		if (strcmp(ev, "synced") == 0) {
			if (!x->synced) {
				x->synced = 1;
				x->t_synced_ns = parsed_ns;
				B.streams_synced++;
			}
		} else if (strcmp(ev, "ping") == 0) {
			/* keep-alive */
		} else if (!x->synced) {
			x->backlog_lines++;
		} else if (strcmp(ev, B.rev_event) == 0 && !x->revoked_seen &&
			   json_get_u32(v, "node_id", &id) == 0 && id == B.revoked_id &&
			   (!B.ca || (json_get_u32(v, "network_id", &id) == 0 && id == B.net_id))) {
			x->revoked_seen = 1;
			x->t_rev_wake_ns = B.wake_ns;
			x->t_rev_parse_ns = parsed_ns;
			B.revoked_delivered++;
		}
	}
	yajl_tree_free(v);
}

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm;

	if (x->kind != K_EVENTS) {
		buf_add(x, p, n, RESP_MAX);
		return n;
	}
	/* Split into lines; a line longer than LINE_MAX_LEN is dropped. */
	while (n) {
		char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (!x->overflow)
			buf_add(x, p, take, LINE_MAX_LEN);
		if (nl) {
			if (!x->overflow && x->len)
				stream_line(x, x->buf, x->len, now_mono_ns());
			x->len = 0;
			x->overflow = 0;
			take++;
		}
		p += take;
		n -= take;
	}
	return sz * nm;
}

static struct xfer *xfer_new(enum kind k, int node, const char *path, const char *body, size_t len,
			     const char *hdr, const char *iface)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x || !(x->e = curl_easy_init()))
		bench_die("out of memory");
	x->kind = k;
	x->node = node;
	x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	if (hdr)
		x->hdrs = curl_slist_append(x->hdrs, hdr);
	if (!x->hdrs)
		bench_die("out of memory");
	bench_easy_setup(x->e, B.port, path, x->hdrs, body, len, iface, B.pin,
			 k == K_EVENTS ? 0 : REQ_TIMEOUT_S);
	curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->e, CURLOPT_PRIVATE, x);
	x->t_start_ns = now_mono_ns();
	if (curl_multi_add_handle(B.multi, x->e) != CURLM_OK)
		bench_die("curl_multi_add_handle failed");
	return x;
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	curl_multi_remove_handle(B.multi, x->e);
	curl_easy_cleanup(x->e);
	curl_slist_free_all(x->hdrs);
	free(x->buf);
	free(x);
}

/* ------------------------------------------------------------ requests */

static void add_register(struct json_gen *j, void *arg)
{
	struct node *n = arg;

	jg_kb64(j, "public_key", n->pk, sizeof(n->pk));
	jg_ku64(j, "listen_port", 40000 + (uint64_t)(n - B.nodes) % 20000);
	jg_kbool(j, "public", 0);
}

static void add_enroll(struct json_gen *j, void *arg)
{
	(void)arg;
	jg_ku64(j, "org_id", B.org_id);
	jg_kstr(j, "token", B.enroll_token);
}

static void add_join(struct json_gen *j, void *arg)
{
	struct node *n = arg;

	jg_ku64(j, "network_id", B.net_id);
	jg_key(j, "certificates");
	jg_array_open(j);
	jg_str(j, n->cert);
	jg_array_close(j);
}

static void add_events(struct json_gen *j, void *arg)
{
	struct node *n = arg;

	jg_ku64(j, "after", n->after);
}

/* A signed node request (doc/REGISTRY.md "Node requests"). */
static struct xfer *node_req(enum kind k, int i)
{
	static const regmsg_add_fn adders[] = {add_register, add_enroll, add_join, add_events};
	struct node *n = &B.nodes[i];
	char path[64], hdr[BENCH_SIG_HDR_MAX];
	char *body = NULL;
	size_t len;
	struct xfer *x;

	bench_node_msg(n->sk, kind_op[k], k == K_REGISTER ? 0 : n->id, adders[k], n, path, &body,
		       &len, hdr);
	x = xfer_new(k, i, path, body, len, hdr, B.src[i % B.nsrc].iface);
	free(body);
	return x;
}

/* ------------------------------------------------------------ event loop */

static void on_done(struct xfer *x);

/* One round: wait at most \p max_ms for sockets or libcurl's timer, let
 * libcurl work, and handle the transfers that ended. */
static void pump(int max_ms)
{
	struct epoll_event evs[1024];
	uint64_t now = now_mono_ms();
	int wait = max_ms, n, running;
	CURLMsg *msg;
	int left;

	if (B.timer_ms) {
		int t = B.timer_ms <= now ? 0 : (int)(B.timer_ms - now);
		if (t < wait)
			wait = t;
	}
	n = epoll_wait(B.ep, evs, (int)nitems(evs), wait);
	B.wake_ns = now_mono_ns();
	if (n < 0 && errno != EINTR)
		bench_die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		int fl = 0;
		if (evs[i].events & EPOLLIN)
			fl |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			fl |= CURL_CSELECT_OUT;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			fl |= CURL_CSELECT_ERR;
		curl_multi_socket_action(B.multi, evs[i].data.fd, fl, &running);
	}
	if (B.timer_ms && now_mono_ms() >= B.timer_ms) {
		B.timer_ms = 0;
		curl_multi_socket_action(B.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((msg = curl_multi_info_read(B.multi, &left))) {
		struct xfer *x = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		x->res = msg->data.result;
		curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &x->status);
		x->t_end_ns = B.wake_ns;
		x->finished = 1;
		on_done(x);
	}
}

/* Error code of a registry answer, for messages. */
static const char *err_text(const struct xfer *x)
{
	return x->buf && x->len ? x->buf : (x->res != CURLE_OK ? curl_easy_strerror(x->res) : "");
}

static int is_rate_limited(const struct xfer *x)
{
	return x->res == CURLE_OK && x->status == 429;
}

static void retry_later(struct node *n)
{
	if (++n->retries > MAX_RETRIES)
		bench_die("still rate limited after %d retries", MAX_RETRIES);
	B.retries_429++;
	n->state = 0;
	n->not_before_ms = now_mono_ms() + 100u * (unsigned)n->retries;
}

static void on_node_done(struct xfer *x)
{
	struct node *n = &B.nodes[x->node];
	char err[128];
	yajl_val v;

	if (is_rate_limited(x)) {
		retry_later(n);
		xfer_free(x);
		return;
	}
	if (x->res != CURLE_OK || x->status != 200 || x->overflow) {
		fprintf(stderr, "revoke_fanout: node %d %s: %s (HTTP %ld) %s\n", x->node,
			kind_op[x->kind], curl_easy_strerror(x->res), x->status, err_text(x));
		B.phase_failed++;
		n->state = 2;
		xfer_free(x);
		return;
	}
	v = json_parse(x->buf, x->len, 0, err, sizeof(err));
	if (!v)
		bench_die("node %d %s: bad answer: %s", x->node, kind_op[x->kind], err);
	if (x->kind == K_REGISTER) {
		if (json_get_u32(v, "node_id", &n->id) < 0 || n->id == 0)
			bench_die("node %d register: no node_id in the answer", x->node);
	} else {
		/* org_enroll: {"org_id":..,"joined":[{"network":{..,"members":M},..}]};
		 * network_join: {"network":{..,"members":M},"members":[..]} */
		yajl_val joined = json_get(v, "joined"), net = json_get(v, "network");
		uint64_t m = 0;
		if (x->kind == K_ENROLL)
			net = joined && YAJL_IS_ARRAY(joined) && joined->u.array.len == 1
				  ? json_get(joined->u.array.values[0], "network")
				  : NULL;
		if (!net || json_get_u64(net, "members", &m) < 0 || m < 1 || m > (uint64_t)B.n + 1)
			bench_die("node %d %s: unexpected answer", x->node, kind_op[x->kind]);
		n->after = (uint64_t)B.n + 1 - m;
	}
	yajl_tree_free(v);
	n->lat_ns = x->t_end_ns - x->t_start_ns;
	n->state = 2;
	B.phase_done++;
	xfer_free(x);
}

static void on_done(struct xfer *x)
{
	struct node *n;

	switch (x->kind) {
	case K_REGISTER:
	case K_ENROLL:
	case K_JOIN:
		on_node_done(x);
		break;
	case K_EVENTS:
		n = &B.nodes[x->node];
		if (x->synced) { /* a live stream ended (registry side) */
			B.streams_ended++;
			break;
		}
		if (is_rate_limited(x)) {
			n->stream = NULL;
			retry_later(n);
			xfer_free(x);
			break;
		}
		fprintf(stderr, "revoke_fanout: node %d events: %s (HTTP %ld) %s\n", x->node,
			curl_easy_strerror(x->res), x->status, err_text(x));
		B.phase_failed++;
		n->state = 2;
		break;
	case K_ADMIN:
		break; /* the caller looks at it */
	}
}

/* Run one kind of node request for nodes [first, n], at most B.conc in
 * flight (streams count until they are synced), paced per source.
 * \retval elapsed ns; dies on failure or timeout. */
static uint64_t run_phase(enum kind k, int first)
{
	uint64_t t0 = now_mono_ns(), deadline = now_mono_ms() + B.phase_s * 1000ull;
	int total = B.n + 1 - first, lo = first;

	B.phase_done = B.phase_failed = 0;
	B.streams_synced = 0;
	for (int i = first; i <= B.n; i++) {
		B.nodes[i].state = 0;
		B.nodes[i].retries = 0;
		B.nodes[i].not_before_ms = 0;
	}
	for (;;) {
		uint64_t now = now_mono_ms();
		int busy, done;

		if (k == K_EVENTS) {
			/* A stream is done once it delivered `synced`. */
			for (int i = lo; i <= B.n; i++) {
				struct node *n = &B.nodes[i];
				if (n->state == 1 && n->stream && n->stream->synced) {
					n->state = 2;
					n->lat_ns = n->stream->t_synced_ns - n->stream->t_start_ns;
					B.phase_done++;
				}
			}
		}
		done = B.phase_done + B.phase_failed;
		if (B.phase_failed)
			bench_die("%d %s requests failed", B.phase_failed, kind_op[k]);
		if (done == total)
			break;
		if (now > deadline)
			bench_die("%s: only %d of %d done after %u s", kind_op[k], done, total,
				  B.phase_s);
		busy = 0;
		for (int i = first; i <= B.n; i++)
			busy += B.nodes[i].state == 1;
		while (lo <= B.n && B.nodes[lo].state == 2)
			lo++;
		for (int i = lo; i <= B.n && busy < B.conc; i++) {
			struct node *n = &B.nodes[i];
			if (n->state != 0 || n->not_before_ms > now ||
			    !bench_pace_take(&B.src[i % B.nsrc], now))
				continue;
			n->state = 1;
			busy++;
			if (k == K_EVENTS)
				n->stream = node_req(k, i);
			else
				node_req(k, i);
		}
		pump(5);
	}
	return now_mono_ns() - t0;
}

/* Start an admin request (doc/REGISTRY.md "Admin requests"): Bearer
 * token, no signature envelope; from ADMIN_SOURCE. */
static struct xfer *admin_start(const char *op, const char *body)
{
	char path[64];

	snprintf(path, sizeof(path), "/v1/admin/%s", op);
	if (!bench_pace_take(&B.admin_src, now_mono_ms()))
		bench_die("admin source paced out");
	return xfer_new(K_ADMIN, -1, path, body, strlen(body), B.auth_hdr, B.admin_src.iface);
}

/* Run an admin request to its end while the streams keep being read.
 * \retval its parsed answer (yajl_tree_free); dies unless it is 200. */
static yajl_val admin_call(const char *op, const char *body, uint64_t *lat_ns)
{
	uint64_t deadline = now_mono_ms() + B.phase_s * 1000ull;
	struct xfer *x = admin_start(op, body);
	char err[128];
	yajl_val v;

	while (!x->finished) {
		if (now_mono_ms() > deadline)
			bench_die("admin %s: no answer after %u s", op, B.phase_s);
		pump(50);
	}
	if (x->res != CURLE_OK || x->status != 200)
		bench_die("admin %s: %s (HTTP %ld) %s", op, curl_easy_strerror(x->res), x->status,
			  err_text(x));
	v = json_parse(x->buf, x->len, 0, err, sizeof(err));
	if (!v)
		bench_die("admin %s: bad answer: %s", op, err);
	if (lat_ns)
		*lat_ns = x->t_end_ns - x->t_start_ns;
	xfer_free(x);
	return v;
}

/* ------------------------------------------------------------ metrics */

static size_t on_metrics(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;

	buf_add(x, p, sz * nm, 1u << 20);
	return sz * nm;
}

struct mstat {
	int ok;
	double lat_sum; /* pilot_registry_request_seconds_sum */
	uint64_t lat_count, streams, conns, rate_limited;
};

/* The registry's own view, from its loopback metrics page (-m). */
static void metrics_read(struct mstat *m)
{
	static const struct {
		const char *name;
		size_t off;
	} want[] = {
	    {"pilot_registry_request_seconds_count ", offsetof(struct mstat, lat_count)},
	    {"pilot_registry_event_streams ", offsetof(struct mstat, streams)},
	    {"pilot_registry_connections ", offsetof(struct mstat, conns)},
	    {"pilot_registry_rate_limited_total ", offsetof(struct mstat, rate_limited)},
	};
	static const char sum[] = "pilot_registry_request_seconds_sum ";
	char url[64];
	struct xfer x = {0};
	CURL *e;

	memset(m, 0, sizeof(*m));
	if (!B.metrics_port || !(e = curl_easy_init()))
		return;
	snprintf(url, sizeof(url), "http://%s:%u/metrics", REGISTRY_HOST, B.metrics_port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_metrics);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
	if (curl_easy_perform(e) == CURLE_OK && x.buf) {
		m->ok = 1;
		for (const char *l = x.buf; *l; l += strcspn(l, "\n"), l += *l == '\n') {
			if (strncmp(l, sum, strlen(sum)) == 0)
				m->lat_sum = strtod(l + strlen(sum), NULL);
			for (size_t i = 0; i < nitems(want); i++)
				if (strncmp(l, want[i].name, strlen(want[i].name)) == 0)
					*(uint64_t *)((char *)m + want[i].off) =
					    strtoull(l + strlen(want[i].name), NULL, 10);
		}
	}
	free(x.buf);
	curl_easy_cleanup(e);
}

/* Mean registry handler time per request between two readings. */
static void print_handler(const struct mstat *a, const struct mstat *b)
{
	if (a->ok && b->ok && b->lat_count > a->lat_count)
		printf("          registry handler time (metrics): %" PRIu64
		       " requests, mean %.3f ms\n",
		       b->lat_count - a->lat_count,
		       (b->lat_sum - a->lat_sum) * 1e3 / (double)(b->lat_count - a->lat_count));
}

/* ------------------------------------------------------------ report */

static void lat_line(const char *what, int first, uint64_t elapsed)
{
	size_t cnt = (size_t)(B.n + 1 - first);
	uint64_t *v = malloc(cnt * sizeof(*v));

	if (!v)
		bench_die("out of memory");
	for (size_t i = 0; i < cnt; i++)
		v[i] = B.nodes[first + (int)i].lat_ns;
	qsort(v, cnt, sizeof(*v), bench_cmp_u64);
	printf("%-9s %6zu in %8.3f s = %7.1f/s; per request: median %.2f ms, p99 %.2f ms, "
	       "max %.2f ms\n",
	       what, cnt, (double)elapsed / 1e9, (double)cnt / ((double)elapsed / 1e9),
	       bench_ms(bench_pct(v, cnt, 50)), bench_ms(bench_pct(v, cnt, 99)),
	       bench_ms(v[cnt - 1]));
	free(v);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -r 127.0.0.1:PORT -p PIN -t TOKEN_FILE [-n PEERS] [-s SOURCES]\n"
		"       [-c CONCURRENCY] [-w PHASE_TIMEOUT_S] [-d DELIVERY_TIMEOUT_S]\n"
		"       [-m METRICS_PORT] [-q SETTLE_MS] [-k org|ca]\n",
		prog);
	exit(2);
}

static void read_token(const char *path)
{
	char *s = NULL;
	size_t len;

	if (file_read_all(path, sizeof(B.token) - 1, &s, &len) < 0)
		bench_die("cannot read the admin token from %s", path);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
		s[--len] = '\0';
	if (!len)
		bench_die("%s is empty", path);
	memcpy(B.token, s, len + 1);
	sodium_memzero(s, len);
	free(s);
	snprintf(B.auth_hdr, sizeof(B.auth_hdr), "Authorization: Bearer %s", B.token);
}

/* ------------------------------------------------------------ -k ca */

/* The CA, as `pilotctl ca generate` makes it: self-signed, 2 days. */
static void ca_make(uint64_t now_s)
{
	struct cert *ca = &B.ca_cert;

	memset(ca, 0, sizeof(*ca));
	ca->kind = CERT_KIND_CA;
	randombytes_buf(ca->serial, sizeof(ca->serial));
	ca->not_before = now_s;
	ca->not_after = now_s + 2 * 86400;
	crypto_sign_keypair(ca->public_key, B.ca_sk);
	cert_key_id(ca->public_key, ca->issuer);
	snprintf(ca->name, sizeof(ca->name), "bench-ca");
	if (cert_sign(ca, B.ca_sk) < 0 || cert_verify_ca(ca, now_s) != CERT_OK)
		bench_die("cannot make the CA certificate");
}

/* A node's certificate, as `pilotctl ca sign --public-key K --node-id ID`
 * makes it: 1 day, no tags. */
static void ca_sign_node(struct node *n, uint64_t now_s)
{
	struct cert c;
	char b64[CERT_PEM_MAX];

	memset(&c, 0, sizeof(c));
	c.kind = CERT_KIND_NODE;
	randombytes_buf(c.serial, sizeof(c.serial));
	c.not_before = now_s;
	c.not_after = now_s + 86400;
	memcpy(c.public_key, n->pk, sizeof(c.public_key));
	cert_key_id(B.ca_cert.public_key, c.issuer);
	c.has_node_id = 1;
	c.node_id = n->id;
	if (cert_sign(&c, B.ca_sk) < 0 || cert_verify_node(&c, &B.ca_cert, now_s) != CERT_OK ||
	    cert_to_b64(&c, b64, sizeof(b64)) < 0 || !(n->cert = strdup(b64)))
		bench_die("cannot make node %" PRIu32 "'s certificate", n->id);
	memcpy(n->serial, c.serial, sizeof(n->serial));
}

int main(int argc, char **argv)
{
	const char *reg = NULL, *pin = NULL, *tokfile = NULL;
	char body[CERT_PEM_MAX + 512], addr[32];
	struct rlimit rl;
	uint64_t t_keys, t_reg, t_enroll, t_events, lat_org = 0, lat_net, t0, elapsed;
	struct mstat m0, m1, m2, m3, m4, m5;
	yajl_val v;
	struct xfer *rev;
	int opt, backlog = 0, backlog_streams = 0;

	bench_prog = "revoke_fanout";
	B.n = 1000;
	B.conc = 32;
	B.phase_s = 300;
	B.deliver_s = 30;
	B.settle_ms = 300;
	while ((opt = getopt(argc, argv, "r:p:t:n:s:c:w:d:m:q:k:h")) != -1) {
		switch (opt) {
		case 'r':
			reg = optarg;
			break;
		case 'p':
			pin = optarg;
			break;
		case 't':
			tokfile = optarg;
			break;
		case 'n':
			B.n = (int)bench_num_arg(optarg, 1, MAX_N, 'n');
			break;
		case 's':
			B.nsrc = (int)bench_num_arg(optarg, 1, MAX_SOURCES, 's');
			break;
		case 'c':
			B.conc = (int)bench_num_arg(optarg, 1, 1000, 'c');
			break;
		case 'w':
			B.phase_s = (unsigned)bench_num_arg(optarg, 1, 3600, 'w');
			break;
		case 'd':
			B.deliver_s = (unsigned)bench_num_arg(optarg, 1, 600, 'd');
			break;
		case 'm':
			B.metrics_port = (uint16_t)bench_num_arg(optarg, 1, 65535, 'm');
			break;
		case 'q':
			B.settle_ms = (unsigned)bench_num_arg(optarg, 0, 600000, 'q');
			break;
		case 'k':
			if (strcmp(optarg, "org") != 0 && strcmp(optarg, "ca") != 0)
				usage(argv[0]);
			B.ca = strcmp(optarg, "ca") == 0;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!reg || !pin || !tokfile || optind != argc)
		usage(argv[0]);
	B.rev_op = B.ca ? "ca_revoke" : "org_revoke";
	B.rev_event = B.ca ? "network.left" : "node.revoked";
	B.port = bench_registry_port(reg);
	bench_set_pin(B.pin, pin);
	read_token(tokfile);
	if (!B.nsrc)
		B.nsrc = MIN(MAX_SOURCES, (B.n + 1 + NODES_PER_SOURCE - 1) / NODES_PER_SOURCE);

	/* One socket per stream, plus a few. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)B.n + (rlim_t)B.conc + 64)
		bench_die("open-file limit %llu is too low for %d streams (ulimit -n)",
			  (unsigned long long)rl.rlim_cur, B.n);
	if (B.n + 1 > 4000)
		fprintf(stderr, "revoke_fanout: warning: pilot-rendezvous serves at most 4096 "
				"connections (RDV_MAX_CONNS) and every stream holds one\n");
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		bench_die("cannot initialise libsodium / libcurl");
	B.nodes = calloc((size_t)B.n + 1, sizeof(*B.nodes));
	B.src = calloc((size_t)B.nsrc, sizeof(*B.src));
	if (!B.nodes || !B.src)
		bench_die("out of memory");
	for (int i = 0; i < B.nsrc; i++) {
		snprintf(addr, sizeof(addr), "127.0.0.%d", 2 + i);
		bench_pace_init(&B.src[i], addr);
	}
	bench_pace_init(&B.admin_src, ADMIN_SOURCE);
	B.ep = epoll_create1(EPOLL_CLOEXEC);
	B.multi = curl_multi_init();
	if (B.ep < 0 || !B.multi)
		bench_die("cannot set up epoll / libcurl multi");
	curl_multi_setopt(B.multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(B.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	/* The cache counts the streams' connections too: room for them, the
	 * idle keep-alive connections of every source, and the admin's. */
	curl_multi_setopt(B.multi, CURLMOPT_MAXCONNECTS, (long)B.n + (long)B.nsrc * B.conc + 16);

	printf("revoke_fanout: %s, %d peers + 1 node to revoke, registry %s:%u, %s, "
	       "%d source address%s (127.0.0.2-127.0.0.%d, <= %d nodes each; admin from %s), "
	       "%d requests in flight\n",
	       B.rev_op, B.n, REGISTRY_HOST, B.port, curl_version_info(CURLVERSION_NOW)->version,
	       B.nsrc, B.nsrc == 1 ? "" : "es", 1 + B.nsrc, (B.n + B.nsrc) / B.nsrc, ADMIN_SOURCE,
	       B.conc);
	fflush(stdout);

	t_keys = now_mono_ns();
	for (int i = 0; i <= B.n; i++)
		crypto_sign_keypair(B.nodes[i].pk, B.nodes[i].sk);
	t_keys = now_mono_ns() - t_keys;
	printf("keys      %d Ed25519 key pairs in %.1f ms\n", B.n + 1, bench_ms(t_keys));

	/* 1. register */
	metrics_read(&m0);
	t_reg = run_phase(K_REGISTER, 0);
	lat_line("register", 0, t_reg);
	metrics_read(&m1);
	print_handler(&m0, &m1);
	fflush(stdout);

	/* 2. org and network (-k ca: the CA and a ca network) */
	if (B.ca) {
		char cab64[CERT_PEM_MAX];
		uint64_t t_certs, now_s = now_real_ms() / 1000;
		ca_make(now_s);
		if (cert_to_b64(&B.ca_cert, cab64, sizeof(cab64)) < 0)
			bench_die("cannot encode the CA certificate");
		snprintf(body, sizeof(body),
			 "{\"name\":\"bench-net\",\"join_rule\":\"ca\",\"ca_cert\":\"%s\"}", cab64);
		v = admin_call("network_create", body, &lat_net);
		if (json_get_u64(v, "network_id", &B.net_id) < 0)
			bench_die("network_create: unexpected answer");
		yajl_tree_free(v);
		printf("admin     network_create %.2f ms (network %" PRIu64 ", join rule ca)\n",
		       bench_ms(lat_net), B.net_id);
		t_certs = now_mono_ns();
		for (int i = 0; i <= B.n; i++)
			ca_sign_node(&B.nodes[i], now_s);
		t_certs = now_mono_ns() - t_certs;
		printf("certs     %d node certificates signed (cert.h) in %.1f ms\n", B.n + 1,
		       bench_ms(t_certs));
	} else {
		v = admin_call("org_create", "{\"name\":\"bench-org\"}", &lat_org);
		{
			const char *tok;
			if (json_get_u32(v, "org_id", &B.org_id) < 0 ||
			    json_get_str(v, "enroll_token", &tok) < 0 ||
			    strlen(tok) >= sizeof(B.enroll_token))
				bench_die("org_create: unexpected answer");
			snprintf(B.enroll_token, sizeof(B.enroll_token), "%s", tok);
		}
		yajl_tree_free(v);
		snprintf(body, sizeof(body),
			 "{\"name\":\"bench-net\",\"join_rule\":\"open\",\"org_id\":%" PRIu32 "}",
			 B.org_id);
		v = admin_call("network_create", body, &lat_net);
		if (json_get_u64(v, "network_id", &B.net_id) < 0)
			bench_die("network_create: unexpected answer");
		yajl_tree_free(v);
		printf("admin     org_create %.2f ms (org %" PRIu32 "), network_create %.2f ms "
		       "(network %" PRIu64 ", open, owned by the org)\n",
		       bench_ms(lat_org), B.org_id, bench_ms(lat_net), B.net_id);
	}

	/* 3. everyone joins */
	metrics_read(&m1);
	t_enroll = run_phase(B.ca ? K_JOIN : K_ENROLL, 0);
	lat_line(B.ca ? "join" : "org_enroll", 0, t_enroll);
	metrics_read(&m2);
	print_handler(&m1, &m2);
	fflush(stdout);

	/* 4. N live streams */
	t_events = run_phase(K_EVENTS, 1);
	for (int i = 1; i <= B.n; i++) {
		backlog += B.nodes[i].stream->backlog_lines;
		backlog_streams += B.nodes[i].stream->backlog_lines != 0;
	}
	lat_line("events", 1, t_events);
	metrics_read(&m3);
	print_handler(&m2, &m3);
	printf("          %d streams live (each delivered `synced`); backlog lines before "
	       "`synced`: %d on %d streams; 429 retries so far: %" PRIu64 "\n",
	       B.streams_synced, backlog, backlog_streams, B.retries_429);
	fflush(stdout);

	/* 5. let the registry settle, warm the admin connection (keep-alive:
	 * the revocation is timed without a TLS handshake), revoke */
	for (uint64_t until = now_mono_ms() + B.settle_ms; now_mono_ms() < until;)
		pump(20);
	v = admin_call("network_list", "{}", NULL);
	yajl_tree_free(v);
	for (uint64_t until = now_mono_ms() + 50; now_mono_ms() < until;)
		pump(10);
	metrics_read(&m4);
	if (m4.ok)
		printf("          registry before t0: %" PRIu64 " events streams, %" PRIu64
		       " connections, %" PRIu64 " requests refused by the rate limit\n",
		       m4.streams, m4.conns, m4.rate_limited);
	if (B.streams_ended)
		bench_die("%d streams ended before the revocation", B.streams_ended);
	B.revoked_id = B.nodes[0].id;
	B.revoked_delivered = 0;
	if (B.ca) {
		char hex[2 * CERT_SERIAL_LEN + 1];
		hex_encode(hex, sizeof(hex), B.nodes[0].serial, sizeof(B.nodes[0].serial));
		snprintf(body, sizeof(body), "{\"network_id\":%" PRIu64 ",\"serial\":\"%s\"}",
			 B.net_id, hex);
	} else {
		snprintf(body, sizeof(body), "{\"node_id\":%" PRIu32 ",\"org_id\":%" PRIu32 "}",
			 B.revoked_id, B.org_id);
	}
	t0 = now_mono_ns();
	rev = admin_start(B.rev_op, body);
	{
		uint64_t deadline = now_mono_ms() + B.deliver_s * 1000ull;
		while ((B.revoked_delivered < B.n || !rev->finished) && now_mono_ms() < deadline)
			pump(20);
	}
	elapsed = now_mono_ns() - t0;
	metrics_read(&m5);

	/* report */
	{
		uint64_t *w = malloc((size_t)B.n * sizeof(*w)),
			 *p = malloc((size_t)B.n * sizeof(*p));
		uint64_t rev_ns = rev->finished ? rev->t_end_ns - t0 : 0;
		curl_off_t total_us = 0;
		long nconn = -1;
		size_t k = 0, before_reply = 0;
		uint64_t notified = 0;

		if (!w || !p)
			bench_die("out of memory");
		for (int i = 1; i <= B.n; i++) {
			struct xfer *x = B.nodes[i].stream;
			if (!x->revoked_seen)
				continue;
			w[k] = x->t_rev_wake_ns - t0;
			p[k] = x->t_rev_parse_ns - t0;
			before_reply += rev->finished && x->t_rev_wake_ns <= rev->t_end_ns;
			k++;
		}
		qsort(w, k, sizeof(*w), bench_cmp_u64);
		qsort(p, k, sizeof(*p), bench_cmp_u64);
		if (rev->finished) {
			char err[128];
			curl_easy_getinfo(rev->e, CURLINFO_TOTAL_TIME_T, &total_us);
			curl_easy_getinfo(rev->e, CURLINFO_NUM_CONNECTS, &nconn);
			if ((v = json_parse(rev->buf ? rev->buf : "", rev->len, 0, err,
					    sizeof(err)))) {
				yajl_val rm = json_get(v, "removed");
				if (B.ca && rm && YAJL_IS_ARRAY(rm))
					notified = rm->u.array.len;
				else
					json_get_u64(v, "notified", &notified);
				yajl_tree_free(v);
			}
		}
		if (!rev->finished || rev->res != CURLE_OK || rev->status != 200)
			printf("%s: FAILED: %s (HTTP %ld) %s\n", B.rev_op,
			       rev->finished ? curl_easy_strerror(rev->res) : "no answer",
			       rev->status, rev->finished ? err_text(rev) : "");
		else
			printf("%s of node %" PRIu32 ": HTTP 200 after %.2f ms (libcurl total "
			       "%.2f ms, %s connection%s), %s %" PRIu64 "\n",
			       B.rev_op, B.revoked_id, bench_ms(rev_ns), (double)total_us / 1e3,
			       nconn == 0 ? "reused keep-alive" : "new", nconn == 0 ? "" : " (TLS)",
			       B.ca ? "removed" : "notified", notified);
		printf("%s delivered to %zu of %d streams (waited %.1f ms)%s\n", B.rev_event, k,
		       B.n, bench_ms(elapsed), k < (size_t)B.n ? " (TIMED OUT for the rest)" : "");
		if (k) {
			printf(
			    "  from t0 (socket readable): first %.2f ms, median %.2f ms, p99 %.2f "
			    "ms, last %.2f ms\n",
			    bench_ms(w[0]), bench_ms(bench_pct(w, k, 50)),
			    bench_ms(bench_pct(w, k, 99)), bench_ms(w[k - 1]));
			printf(
			    "  from t0 (line parsed):     first %.2f ms, median %.2f ms, p99 %.2f "
			    "ms, last %.2f ms\n",
			    bench_ms(p[0]), bench_ms(bench_pct(p, k, 50)),
			    bench_ms(bench_pct(p, k, 99)), bench_ms(p[k - 1]));
			printf("  %zu of %zu deliveries were readable no later than the %s "
			       "answer\n",
			       before_reply, k, B.rev_op);
		}
		if (m4.ok && m5.ok && m5.lat_count == m4.lat_count + 1)
			printf("  registry handler time of %s (metrics; transaction, commit "
			       "and the pushes to the streams): %.3f ms\n",
			       B.rev_op, (m5.lat_sum - m4.lat_sum) * 1e3);
		printf("429 (rate_limited) retries in the whole run: %" PRIu64 "\n", B.retries_429);
		free(w);
		free(p);
	}

	xfer_free(rev);
	for (int i = 1; i <= B.n; i++)
		xfer_free(B.nodes[i].stream);
	for (int i = 0; i <= B.n; i++)
		free(B.nodes[i].cert);
	curl_multi_cleanup(B.multi);
	close(B.ep);
	sodium_memzero(B.nodes, ((size_t)B.n + 1) * sizeof(*B.nodes));
	sodium_memzero(B.token, sizeof(B.token));
	sodium_memzero(B.ca_sk, sizeof(B.ca_sk));
	free(B.nodes);
	free(B.src);
	curl_global_cleanup();
	return 0;
}
