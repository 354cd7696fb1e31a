/* rdv_http.c - the registry's HTTPS front end: libevent evhttp over
 * bufferevent_openssl, routing POST /v1/node/OP to rdv_reg_handle and
 * POST /v1/admin/OP to rdv_admin_handle, the events streams, a
 * per-source token bucket (admin requests included) and a connection cap. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "log.h"
#include "rdv.h"
#include "regmsg.h"
#include "util.h"

#define NODE_PATH "/v1/node/"
#define ADMIN_PATH "/v1/admin/"
#define RATE_KEY_LEN RDV_SRC_KEY_LEN /* family byte + IPv4 address or IPv6 /64 */

struct rdv_stream {
	struct rdv *r;
	uint32_t node;
	uint64_t seq; /* last event seq written to this stream */
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct rdv_stream *next, **pprev;
};

/* One TLS connection (the SSL object's ex_data). */
struct rdv_conn {
	struct rdv *r;
	struct bufferevent *bev;
	struct evbuffer *held;	/* an error page of evhttp's being replaced */
	int state;		/* PAGE_* */
	int busy;		/* our own changes to the output buffer */
	size_t big;		/* input beyond RDV_BODY_SMALL (counted in body_bytes) */
	struct event *deadline; /* armed while big */
};

enum { PAGE_PASS, PAGE_HOLD, PAGE_DONE };

/* ---------------------------------------------------------------- replies */

static void send_reply(struct evhttp_request *req, const struct rdv_reply *rep)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (rep->len)
		evbuffer_add(evhttp_request_get_output_buffer(req), rep->body, rep->len);
	evhttp_send_reply(req, rep->status, NULL, NULL);
}

static void send_error(struct evhttp_request *req, int err, int status, const char *msg)
{
	struct rdv_reply rep = {0};

	if (rdv_reply_error(&rep, err, msg) < 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (status)
		rep.status = status;
	send_reply(req, &rep);
	rdv_reply_free(&rep);
}

/* ------------------------------------------------ evhttp's own error pages
 *
 * libevent 2.1 answers some requests itself, before our callback sees
 * them: a body over evhttp_set_max_body_size (413), a malformed request
 * line or header (400), a method it does not know (501).  Its answer is an
 * HTML page and there is no hook for it.  So the output buffer of every
 * connection is watched: bytes added while we are not replying are
 * evhttp's; an error page among them is held back and replaced by our JSON
 * error envelope with the same status (clients parse every error the same
 * way, and a too_large says the limit).  evhttp writes such a page in one
 * synchronous burst (status line, headers, body with a Content-Length) and
 * closes the connection after it, so the page is complete when its last
 * byte is added and nothing of ours follows it.  Our callback was added
 * after bufferevent_openssl's, so it runs first and the page never
 * reaches TLS. */

static int page_err(int status, const char **msg)
{
	static char big[96];

	switch (status) {
	case 413:
		snprintf(big, sizeof(big), "request body larger than %d bytes (%d MiB)",
			 REGMSG_MAX_POLICY_BODY, REGMSG_MAX_POLICY_BODY >> 20);
		*msg = big;
		return -E2BIG;
	case 404:
		*msg = "no such resource";
		return -ENOENT;
	case 400:
		*msg = "malformed HTTP request";
		return -EINVAL;
	default:
		*msg = status >= 500 && status != 501 ? "internal error" : "request not served";
		return status >= 500 && status != 501 ? -EIO : -EINVAL;
	}
}

/* Our envelope in place of the held page; \p hdr_len bytes of it are the
 * status line and headers. */
static void page_replace(struct rdv_conn *k, struct evbuffer *out, size_t hdr_len)
{
	char *head = (char *)evbuffer_pullup(k->held, (ev_ssize_t)hdr_len);
	struct rdv_reply rep = {0};
	const char *msg = NULL, *eol;
	int status = head ? atoi(head + 9) : 500;

	int err = page_err(status, &msg);

	if (rdv_reply_error(&rep, err, msg) == 0) {
		eol = head ? memchr(head, '\r', hdr_len) : NULL;
		/* The status line as evhttp made it, then our headers. */
		if (eol)
			evbuffer_add(out, head, (size_t)(eol - head));
		else
			evbuffer_add_printf(out, "HTTP/1.1 %d Error", status);
		evbuffer_add_printf(out,
				    "\r\nContent-Type: application/json\r\nCache-Control: no-store"
				    "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				    rep.len);
		evbuffer_add(out, rep.body, rep.len);
		rdv_reply_free(&rep);
	}
	evbuffer_drain(k->held, evbuffer_get_length(k->held));
	k->state = PAGE_DONE;
}

/* Is the held page complete?  Then its header length, else 0. */
static size_t page_complete(struct evbuffer *held)
{
	struct evbuffer_ptr end = evbuffer_search(held, "\r\n\r\n", 4, NULL);
	struct evbuffer_ptr cl;
	size_t hdr_len, body = 0;
	char num[24] = "";

	if (end.pos < 0)
		return 0;
	hdr_len = (size_t)end.pos + 4;
	cl = evbuffer_search_range(held, "Content-Length: ", 16, NULL, &end);
	if (cl.pos >= 0 && evbuffer_ptr_set(held, &cl, 16, EVBUFFER_PTR_ADD) == 0 &&
	    evbuffer_copyout_from(held, &cl, num, sizeof(num) - 1) > 0)
		body = strtoul(num, NULL, 10);
	return evbuffer_get_length(held) >= hdr_len + body ? hdr_len : 0;
}

/* Move the last \p n bytes of \p out to the held page. */
static void page_take(struct rdv_conn *k, struct evbuffer *out, size_t n)
{
	size_t keep = evbuffer_get_length(out) - n;
	struct evbuffer *front;

	if (keep == 0) {
		evbuffer_remove_buffer(out, k->held, n);
		return;
	}
	front = evbuffer_new();
	if (!front)
		return;
	evbuffer_remove_buffer(out, front, keep);
	evbuffer_remove_buffer(out, k->held, n);
	evbuffer_prepend_buffer(out, front);
	evbuffer_free(front);
}

/* Does what was just added start an error page (status 400-599)? */
static int page_starts(struct evbuffer *out, size_t at)
{
	struct evbuffer_ptr p;
	char line[13] = "";

	if (evbuffer_ptr_set(out, &p, at, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(out, &p, line, 12) != 12)
		return 0;
	return strncmp(line, "HTTP/1.", 7) == 0 && line[8] == ' ' &&
	       (line[9] == '4' || line[9] == '5');
}

static void on_output(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
	struct rdv_conn *k = arg;
	size_t hdr_len;

	if (!info->n_added || k->busy || k->r->replying)
		return;
	if (k->state == PAGE_PASS && !page_starts(out, evbuffer_get_length(out) - info->n_added))
		return;
	k->busy = 1;
	if (k->state == PAGE_DONE) {
		/* The connection closes after the page: nothing may follow ours. */
		page_take(k, out, info->n_added);
		evbuffer_drain(k->held, evbuffer_get_length(k->held));
	} else {
		k->state = PAGE_HOLD;
		page_take(k, out, info->n_added);
		if ((hdr_len = page_complete(k->held)) > 0)
			page_replace(k, out, hdr_len);
	}
	k->busy = 0;
}

/* ------------------------------------------------ large request bodies
 *
 * evhttp keeps a request body in the connection's input buffer until the
 * whole of it (Content-Length) is there.  Watching that buffer is how the
 * large ones are bounded in time and in total. */

/* Cut the connection: evhttp sees the end of the stream and frees it. */
static void conn_cut(struct rdv_conn *k, const char *why)
{
	evutil_socket_t fd = bufferevent_getfd(k->bev);

	log_info("dropping a connection: %s (limits: %d s, %u bytes in all)", why,
		 RDV_BODY_DEADLINE_S, RDV_BODY_BUDGET);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void on_body_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_cut(arg, "a large request body not complete in time");
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct rdv_conn *k = arg;
	struct rdv *r = k->r;
	size_t len = evbuffer_get_length(in);
	size_t big = len > RDV_BODY_SMALL ? len - RDV_BODY_SMALL : 0;
	struct timeval tv = {RDV_BODY_DEADLINE_S, 0};

	r->body_bytes = r->body_bytes - k->big + big;
	k->big = big;
	if (!big) {
		event_del(k->deadline);
		return;
	}
	if (!event_pending(k->deadline, EV_TIMEOUT, NULL))
		event_add(k->deadline, &tv);
	if (info->n_added && r->body_bytes > RDV_BODY_BUDGET) {
		/* Take it back now: the connection goes, its bytes with it. */
		r->body_bytes -= k->big;
		k->big = 0;
		evbuffer_drain(in, len);
		conn_cut(k, "too many large request bodies in flight");
	}
}

/* ---------------------------------------------------------------- peers */

/* The TCP peer as text (no brackets) and as a rate-limit key.  IPv6 peers
 * are limited per /64, the smallest block one subscriber usually gets. */
static int peer_of(struct evhttp_connection *evcon, char *ip, size_t iplen,
		   uint8_t key[RATE_KEY_LEN])
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const void *a4 = NULL;

	if (!bev || getpeername(bufferevent_getfd(bev), (struct sockaddr *)&ss, &sl) < 0)
		return errno ? -errno : -EINVAL;
	memset(key, 0, RATE_KEY_LEN);
	if (ss.ss_family == AF_INET) {
		a4 = &((struct sockaddr_in *)&ss)->sin_addr;
	} else if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		/* A v4 client of a dual-stack socket is a v4 client. */
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			a4 = &a6->s6_addr[12];
		} else {
			key[0] = 6;
			memcpy(key + 1, a6->s6_addr, 8);
			return inet_ntop(AF_INET6, a6, ip, (socklen_t)iplen) ? 0 : -errno;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	key[0] = 4;
	memcpy(key + 1, a4, 4);
	return inet_ntop(AF_INET, a4, ip, (socklen_t)iplen) ? 0 : -errno;
}

/* ---------------------------------------------------------------- rate */

/* A token bucket per source: RDV_RATE_PER_SEC, bursts up to
 * RDV_RATE_BURST; every source is metered, however many there are
 * (rdv_limit.c).  \retval 1 if the request may go on. */
static int rate_take(struct rdv *r, const uint8_t key[RATE_KEY_LEN], uint64_t now)
{
	return rdv_rate_take(&r->rate, key, RDV_RATE_PER_SEC, RDV_RATE_BURST, now);
}

void rdv_http_maint(struct rdv *r)
{
	rdv_rate_sweep(&r->rate, now_mono_ms(), (uint64_t)RDV_RATE_BURST * 1000 / RDV_RATE_PER_SEC);
}

/* ---------------------------------------------------------------- streams */

static void stream_unlink(struct rdv_stream *s)
{
	if (s->next)
		s->next->pprev = s->pprev;
	*s->pprev = s->next;
	s->r->nstreams--;
}

/* The client went away: libevent frees the request and connection after
 * this returns; only our record goes here. */
static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
	struct rdv_stream *s = arg;

	(void)evcon;
	log_debug("node %u: events stream closed by the client", s->node);
	stream_unlink(s);
	free(s);
}

/* We end the stream (replaced, too slow, shutting down). */
static void stream_end(struct rdv_stream *s)
{
	stream_unlink(s);
	evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	evhttp_send_reply_end(s->req);
	free(s);
}

/* Write \p buf to the stream, or end it if the client does not keep up:
 * it resumes from the store with its next events request.
 * \retval 0, or -EPIPE if the stream was ended (and freed). */
static int stream_write(struct rdv_stream *s, struct evbuffer *buf)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);

	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > RDV_STREAM_MAX_BUFFER) {
		log_info("node %u: events stream is not read; closing it", s->node);
		stream_end(s);
		return -EPIPE;
	}
	evhttp_send_reply_chunk(s->req, buf);
	return 0;
}

static int stream_line(void *arg, uint64_t seq, const char *line, size_t len)
{
	struct evbuffer *buf = arg;

	(void)seq;
	if (evbuffer_add(buf, line, len) < 0 || evbuffer_add(buf, "\n", 1) < 0)
		return -ENOMEM;
	return 0;
}

struct last_seq {
	struct evbuffer *buf;
	uint64_t seq;
};

static int stream_collect(void *arg, uint64_t seq, const char *line, size_t len)
{
	struct last_seq *ls = arg;
	int rc = stream_line(ls->buf, seq, line, len);

	if (rc == 0)
		ls->seq = seq;
	return rc;
}

/* Send what was queued for the stream's node since it last wrote. */
static void stream_push(struct rdv *r, struct rdv_stream *s)
{
	struct last_seq ls = {evbuffer_new(), s->seq};
	struct rdv_node n;
	struct store_txn t;
	int rc;

	if (!ls.buf)
		return;
	store_txn_begin(r->db.st, &t, 1);
	/* A revoked node hears nothing more: its streams end (org_revoke
	 * wakes them for this). */
	if (rdv_node_get(&t, &r->db, s->node, &n) == 0 && n.revoked) {
		store_txn_abort(&t);
		evbuffer_free(ls.buf);
		log_info("node %u: revoked; ending its events stream", s->node);
		stream_end(s);
		return;
	}
	rc = rdv_event_iter(&t, &r->db, s->node, s->seq, stream_collect, &ls);
	store_txn_abort(&t);
	if (rc < 0)
		log_warnx("node %u: reading events: %s", s->node, strerror(-rc));
	if (evbuffer_get_length(ls.buf) && stream_write(s, ls.buf) == 0)
		s->seq = ls.seq;
	evbuffer_free(ls.buf);
}

void rdv_http_notify(void *arg, uint32_t node)
{
	struct rdv *r = arg;
	struct rdv_stream *s, *next;

	if (node == 0) {
		/* Every stream (a replica copied the whole state again). */
		for (size_t b = 0; b < RDV_STREAM_BUCKETS; b++)
			for (s = r->streams[b]; s; s = next) {
				next = s->next;
				stream_push(r, s);
			}
		return;
	}
	for (s = r->streams[node % RDV_STREAM_BUCKETS]; s; s = next) {
		next = s->next;
		if (s->node == node)
			stream_push(r, s);
	}
}

static void stream_start(struct rdv *r, struct evhttp_request *req, const struct rdv_reply *rep)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct rdv_stream *s, **head, *oldest = NULL;
	struct evbuffer *buf;
	int n = 0;

	s = calloc(1, sizeof(*s));
	buf = evbuffer_new();
	if (!s || !buf) {
		free(s);
		if (buf)
			evbuffer_free(buf);
		send_error(req, -EIO, 0, "out of memory");
		return;
	}
	s->r = r;
	s->node = rep->stream_node;
	s->seq = rep->stream_seq;
	s->req = req;
	s->evcon = evcon;
	evhttp_add_header(h, "Content-Type", "application/x-ndjson");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply_start(req, 200, NULL);
	if (rep->len) {
		evbuffer_add(buf, rep->body, rep->len);
		evhttp_send_reply_chunk(req, buf);
	}
	evbuffer_free(buf);
	evhttp_connection_set_closecb(evcon, stream_closed, s);

	head = &r->streams[s->node % RDV_STREAM_BUCKETS];
	s->next = *head;
	if (*head)
		(*head)->pprev = &s->next;
	s->pprev = head;
	*head = s;
	r->nstreams++;
	/* New streams go first, so the last one of this node is the oldest:
	 * a node that reconnected must not pile up dead streams. */
	for (struct rdv_stream *o = *head; o; o = o->next)
		if (o->node == s->node) {
			n++;
			oldest = o;
		}
	if (n > RDV_STREAMS_PER_NODE) {
		log_debug("node %u: more than %d events streams; ending the oldest", s->node,
			  RDV_STREAMS_PER_NODE);
		stream_end(oldest);
	}
	log_debug("node %u: events stream open from seq %llu", s->node, (unsigned long long)s->seq);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
	static const char ping[] = "{\"seq\":0,\"event\":\"ping\"}\n";
	struct rdv *r = arg;
	struct evbuffer *buf;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < RDV_STREAM_BUCKETS; i++) {
		struct rdv_stream *s, *next;
		for (s = r->streams[i]; s; s = next) {
			next = s->next;
			buf = evbuffer_new();
			if (!buf)
				return;
			evbuffer_add(buf, ping, sizeof(ping) - 1);
			stream_write(s, buf);
			evbuffer_free(buf);
		}
	}
}

/* ---------------------------------------------------------------- requests */

/* Upper bounds (seconds) of the latency histogram's finite buckets: a
 * request is mostly one LMDB commit, i.e. one fsync. */
static const double lat_bounds[RDV_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
						   0.025,  0.05,  0.1,	  0.5};

double rdv_lat_bound(int i)
{
	return i >= 0 && i < RDV_LAT_BUCKETS ? lat_bounds[i] : 0;
}

static void count_request(struct rdv *r, const struct rdv_reply *rep, uint64_t ns)
{
	double sec = (double)ns / 1e9;
	int b = 0;

	if (rep->op >= 0 && rep->op < RDV_OP_SLOTS && rep->outcome >= 0 &&
	    rep->outcome < RDV_OUTCOMES)
		r->stats.requests[rep->op][rep->outcome]++;
	while (b < RDV_LAT_BUCKETS && sec > lat_bounds[b])
		b++;
	r->stats.lat_buckets[b]++;
	r->stats.lat_count++;
	r->stats.lat_sum += sec;
}

static void handle_request(struct rdv *r, struct evhttp_request *req);

/* ------------------------------------------------------------- parking */

/* A node request waiting for its network's key set (rdv_jwks.c): a copy
 * of what it said, to run again as it was.  evhttp keeps the request
 * (detached from its connection if the client goes: replying then only
 * frees it). */
struct rdv_parked {
	struct rdv_parked *next;
	struct evhttp_request *req;
	uint16_t net;
	char *body, *sig;
	size_t len;
	uint64_t since_ns;
	char ip[INET6_ADDRSTRLEN];
};

#define PARKED_MAX 1024

static int park(struct rdv *r, struct evhttp_request *req, uint16_t net, const char *body,
		size_t len, const char *sig, const char *ip)
{
	struct rdv_parked *p;

	if (r->nparked >= PARKED_MAX || !(p = calloc(1, sizeof(*p))))
		return -ENOSPC; /* answered now: keys_pending (unavailable) */
	p->body = malloc(len + 1);
	p->sig = sig ? strdup(sig) : NULL;
	if (!p->body || (sig && !p->sig)) {
		free(p->body);
		free(p->sig);
		free(p);
		return -ENOMEM;
	}
	memcpy(p->body, body, len);
	p->body[len] = '\0';
	p->len = len;
	p->req = req;
	p->net = net;
	p->since_ns = now_mono_ns();
	snprintf(p->ip, sizeof(p->ip), "%s", ip);
	p->next = r->parked;
	r->parked = p;
	r->nparked++;
	return 0;
}

static void parked_run(struct rdv *r, struct rdv_parked *p)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(p->req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	struct rdv_reply rep;
	int rc;

	r->db.keys_rerun = 1;
	rc = path ? rdv_reg_handle(&r->db, path + strlen(NODE_PATH), p->body, p->len, p->sig, p->ip,
				   now_real_ms(), &rep)
		  : -EINVAL;
	r->db.keys_rerun = 0;
	r->replying++;
	if (rc < 0) {
		send_error(p->req, -EIO, 0, "out of memory");
	} else {
		count_request(r, &rep, now_mono_ns() - p->since_ns);
		send_reply(p->req, &rep);
		rdv_reply_free(&rep);
	}
	r->replying--;
}

void rdv_http_wake(struct rdv *r, uint16_t net)
{
	struct rdv_parked **pp = &r->parked, *p, *mine = NULL;

	/* Unlink first: a request run again may park nothing, but replies
	 * may re-enter evhttp. */
	while ((p = *pp)) {
		if (p->net == net) {
			*pp = p->next;
			p->next = mine;
			mine = p;
			r->nparked--;
		} else {
			pp = &p->next;
		}
	}
	while ((p = mine)) {
		mine = p->next;
		parked_run(r, p);
		free(p->body);
		free(p->sig);
		free(p);
	}
}

static void parked_drop(struct rdv *r)
{
	struct rdv_parked *p;

	while ((p = r->parked)) {
		r->parked = p->next;
		send_error(p->req, -EAGAIN, 0, "the registry is stopping");
		free(p->body);
		free(p->sig);
		free(p);
	}
	r->nparked = 0;
}

/* Everything written to a connection's output from here on is ours
 * (on_output leaves it alone). */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct rdv *r = arg;

	r->replying++;
	handle_request(r, req);
	r->replying--;
}

static void handle_request(struct rdv *r, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char ip[INET6_ADDRSTRLEN];
	uint8_t key[RATE_KEY_LEN];
	struct rdv_reply rep;
	const char *path, *sig = NULL, *body;
	uint64_t t0;
	size_t len;
	int one = 1, admin, rc;

	/* Never answer a request that did not come over TLS (evhttp falls back
	 * to a plain socket if our bufferevent callback could not make one). */
	if (!bev || !bufferevent_openssl_get_ssl(bev)) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	/* Replies are small and written in pieces: without this, Nagle and
	 * the client's delayed ACK add 40 ms to every keep-alive request. */
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (peer_of(evcon, ip, sizeof(ip), key) < 0) {
		send_error(req, -EIO, 0, "cannot tell the peer address");
		return;
	}
	if (!rate_take(r, key, now_mono_ms())) {
		r->stats.rate_limited++;
		send_error(req, -EBUSY, 0, "too many requests; slow down");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
		send_error(req, -EINVAL, 405, "only POST is served");
		return;
	}
	path = uri ? evhttp_uri_get_path(uri) : NULL;
	admin = path && strncmp(path, ADMIN_PATH, strlen(ADMIN_PATH)) == 0;
	if (!path || (!admin && strncmp(path, NODE_PATH, strlen(NODE_PATH)) != 0)) {
		send_error(req, -ENOENT, 0, "no such resource");
		return;
	}
	len = evbuffer_get_length(in);
	/* Only an admin request may be large (policy_set; rdv_admin_handle
	 * holds every other op to REGMSG_MAX_BODY). */
	if (len > (admin ? (size_t)REGMSG_MAX_POLICY_BODY : (size_t)REGMSG_MAX_BODY)) {
		char m[96];
		snprintf(m, sizeof(m), "body of %zu bytes is larger than %d (%s)", len,
			 admin ? REGMSG_MAX_POLICY_BODY : REGMSG_MAX_BODY,
			 admin ? "an admin request" : "16 KiB: a node request");
		send_error(req, -E2BIG, 0, m);
		return;
	}
	body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	if (!body) {
		send_error(req, -EIO, 0, "out of memory");
		return;
	}
	t0 = now_mono_ns();
	if (admin) {
		const char *auth =
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
		rc = rdv_admin_handle(&r->db, r->admin_token, path + strlen(ADMIN_PATH), body, len,
				      auth, ip, now_real_ms(), &rep);
	} else {
		sig = evhttp_find_header(evhttp_request_get_input_headers(req), "Pilot-Signature");
		rc = rdv_reg_handle(&r->db, path + strlen(NODE_PATH), body, len, sig, ip,
				    now_real_ms(), &rep);
	}
	if (rc < 0) {
		send_error(req, -EIO, 0, "out of memory");
		return;
	}
	if (rep.wait_net && park(r, req, rep.wait_net, body, len, sig, ip) == 0) {
		rdv_reply_free(&rep);
		return; /* answered by rdv_http_wake */
	}
	count_request(r, &rep, now_mono_ns() - t0);
	if (rep.stream_node && rep.status == 200)
		stream_start(r, req, &rep);
	else
		send_reply(req, &rep);
	rdv_reply_free(&rep);
}

/* ---------------------------------------------------------------- conns */

/* OpenSSL calls this as each connection's SSL object is freed (with its
 * bufferevent): the one reliable "connection gone" hook for connections
 * evhttp owns, including those that never finished a handshake. */
static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct rdv_conn *k = ptr;
	struct rdv *r;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!k)
		return;
	r = k->r;
	r->body_bytes -= k->big;
	if (k->deadline)
		event_free(k->deadline);
	evbuffer_free(k->held);
	free(k);
	r->nconns--;
	if (r->listener_paused && !r->stopping && r->nconns < RDV_MAX_CONNS) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(r->bound));
		r->listener_paused = 0;
		log_info("accepting connections again (%zu open)", r->nconns);
	}
}

static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
	struct rdv *r = arg;
	struct bufferevent *bev;
	struct rdv_conn *k = calloc(1, sizeof(*k));
	SSL *ssl = k ? SSL_new(r->tls.ctx) : NULL;

	if (ssl) {
		k->held = evbuffer_new();
		k->deadline = evtimer_new(base, on_body_deadline, k);
	}
	if (!ssl || !k->held || !k->deadline) {
		log_warnx("cannot set up TLS for a new connection");
		if (ssl)
			SSL_free(ssl);
		if (k && k->deadline)
			event_free(k->deadline);
		if (k && k->held)
			evbuffer_free(k->held);
		free(k);
		return NULL;
	}
	k->r = r;
	SSL_set_ex_data(ssl, r->ssl_conn_idx, k);
	r->nconns++;
	/* Deferred callbacks: a failed write never re-enters our code (and
	 * frees a stream) in the middle of a walk over the streams. */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		SSL_free(ssl); /* conn_gone undoes the count */
		log_warnx("cannot set up a connection");
		return NULL;
	}
	k->bev = bev;
	/* After bufferevent_openssl's own: callbacks run newest first. */
	if (!evbuffer_add_cb(bufferevent_get_output(bev), on_output, k) ||
	    !evbuffer_add_cb(bufferevent_get_input(bev), on_input, k)) {
		bufferevent_free(bev);
		log_warnx("cannot set up a connection");
		return NULL;
	}
	/* At the cap, stop accepting: new clients wait in the kernel's
	 * backlog instead of costing us memory and a TLS handshake. */
	if (r->nconns >= RDV_MAX_CONNS && !r->listener_paused) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(r->bound));
		r->listener_paused = 1;
		log_warnx("%d connections open: not accepting more for now", RDV_MAX_CONNS);
	}
	return bev;
}

static void on_maint(evutil_socket_t fd, short what, void *arg)
{
	struct rdv *r = arg;
	int n;

	(void)fd;
	(void)what;
	n = rdv_nonce_prune(&r->db, now_real_ms());
	if (n < 0)
		log_warnx("pruning nonces: %s", strerror(-n));
	else if (n > 0)
		log_debug("pruned %d nonces", n);
	n = rdv_jti_prune(&r->db, now_real_ms());
	if (n < 0)
		log_warnx("pruning token IDs: %s", strerror(-n));
	n = rdv_invite_prune(&r->db, now_real_ms());
	if (n < 0)
		log_warnx("pruning used invites: %s", strerror(-n));
	else if (n > 0)
		log_debug("pruned %d used invites", n);
	rdv_reg_signup_prune(&r->db, now_real_ms());
	rdv_http_maint(r);
}

int rdv_http_start(struct rdv *r)
{
	struct timeval ping = {RDV_PING_INTERVAL_S, 0}, maint = {RDV_MAINT_INTERVAL_S, 0};
	char host[256];
	uint16_t port;
	int ret;

	if (rdv_rate_init(&r->rate, RDV_RATE_TABLE_MAX) < 0)
		return -ENOMEM;
	r->ssl_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone);
	if (r->ssl_conn_idx < 0) {
		log_warnx("OpenSSL: no ex_data index");
		return -ENOMEM;
	}
	ret = conf_split_hostport(r->cfg.listen, host, sizeof(host), &port);
	if (ret < 0) {
		log_warnx("listen address '%s' is not HOST:PORT", r->cfg.listen);
		return ret;
	}
	r->http = evhttp_new(r->base);
	if (!r->http)
		return -ENOMEM;
	evhttp_set_bevcb(r->http, new_conn, r);
	evhttp_set_gencb(r->http, on_request, r);
	evhttp_set_timeout(r->http, RDV_HTTP_TIMEOUT_S);
	/* evhttp refuses a larger body with 413 before reading it into
	 * memory (on_output turns its page into our JSON); lingering close
	 * lets the client see that answer.  handle_request holds node
	 * requests to REGMSG_MAX_BODY. */
	evhttp_set_max_body_size(r->http, REGMSG_MAX_POLICY_BODY);
	evhttp_set_max_headers_size(r->http, 8192);
	evhttp_set_flags(r->http, EVHTTP_SERVER_LINGERING_CLOSE);
	r->bound = evhttp_bind_socket_with_handle(r->http, host, port);
	if (!r->bound) {
		ret = errno ? -errno : -EADDRNOTAVAIL;
		log_warn("cannot listen on %s", r->cfg.listen);
		return ret;
	}
	r->ev_ping = event_new(r->base, -1, EV_PERSIST, on_ping, r);
	r->ev_maint = event_new(r->base, -1, EV_PERSIST, on_maint, r);
	if (!r->ev_ping || !r->ev_maint || event_add(r->ev_ping, &ping) < 0 ||
	    event_add(r->ev_maint, &maint) < 0)
		return -ENOMEM;
	return 0;
}

void rdv_http_stop(struct rdv *r)
{
	r->stopping = 1;
	if (r->ev_ping)
		event_free(r->ev_ping);
	if (r->ev_maint)
		event_free(r->ev_maint);
	r->ev_ping = r->ev_maint = NULL;
	parked_drop(r);
	/* Our stream records go; evhttp_free closes their connections. */
	for (size_t i = 0; i < RDV_STREAM_BUCKETS; i++)
		while (r->streams[i]) {
			struct rdv_stream *s = r->streams[i];
			evhttp_connection_set_closecb(s->evcon, NULL, NULL);
			stream_unlink(s);
			free(s);
		}
	if (r->http)
		evhttp_free(r->http);
	r->http = NULL;
	r->bound = NULL;
	rdv_rate_free(&r->rate);
}
