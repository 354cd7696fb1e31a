/* httpc.c - see httpc.h.
 *
 * curl's multi "socket" interface on libevent: curl tells us which sockets
 * to watch (CURLMOPT_SOCKETFUNCTION -> one event per socket) and when to
 * call it back (CURLMOPT_TIMERFUNCTION -> one evtimer); we hand every
 * readiness back with curl_multi_socket_action() and then collect finished
 * transfers from curl_multi_info_read().
 *
 * Re-entrancy: libcurl refuses add/remove calls from inside its own
 * callbacks (CURLM_RECURSIVE_API_CALL), and a line callback may well cancel
 * its request, start another or free the whole client.  So while curl is
 * running our callbacks (in_curl) cancels and new requests are only marked,
 * and done after curl returns; httpc_free() inside any callback only marks
 * the client dead, and the outermost dispatcher tears it down. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "httpc.h"
#include "log.h"
#include "util.h"

#define PIN_PREFIX "sha256//"

struct hsock {
	LIST_ENTRY(hsock) entry;
	curl_socket_t fd;
	struct event *ev;
};

struct httpc_req {
	TAILQ_ENTRY(httpc_req) entry;
	struct httpc *h;
	CURL *easy;
	struct curl_slist *hdrs;
	char *buf; /* body received and not delivered as lines */
	size_t len, cap;
	unsigned added : 1;	/* in the multi handle */
	unsigned cancelled : 1; /* no more callbacks; freed once curl lets go */
	unsigned overflow : 1;
	size_t max; /* bytes held at most (undelivered, for streams) */
	httpc_done_cb done;
	httpc_get_cb get_done; /* httpc_get: in place of done */
	struct httpc_info info;
	httpc_line_cb line_cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

struct httpc {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	TAILQ_HEAD(, httpc_req) reqs;
	LIST_HEAD(, hsock) socks;
	int in_curl;	 /* inside curl_multi_socket_action (curl callbacks may run) */
	int in_dispatch; /* inside one of our event callbacks */
	int dead;	 /* httpc_free() was called from a callback */
};

static void req_free(struct httpc_req *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r->buf);
	free(r);
}

/* Take \p r out of curl and of our list, and free it. */
static void req_destroy(struct httpc_req *r)
{
	struct httpc *h = r->h;

	if (r->added)
		curl_multi_remove_handle(h->multi, r->easy);
	TAILQ_REMOVE(&h->reqs, r, entry);
	req_free(r);
}

static void sock_free(struct hsock *s)
{
	LIST_REMOVE(s, entry);
	if (s->ev)
		event_free(s->ev);
	free(s);
}

static void destroy(struct httpc *h)
{
	struct httpc_req *r;
	struct hsock *s;

	while ((r = TAILQ_FIRST(&h->reqs)))
		req_destroy(r);
	/* Closing the cached connections may still call the socket callback. */
	if (h->multi)
		curl_multi_cleanup(h->multi);
	while ((s = LIST_FIRST(&h->socks)))
		sock_free(s);
	if (h->timer)
		event_free(h->timer);
	free(h);
	/* curl_global_init/cleanup are reference counted. */
	curl_global_cleanup();
}

int httpc_curl_errno(int code)
{
	switch ((CURLcode)code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		return -EACCES; /* the peer could not be authenticated */
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* A finished transfer: report it (unless cancelled) and free it. */
static void finish(struct httpc_req *r, CURLcode rc)
{
	long status = 0;
	int err = httpc_curl_errno(rc);
	const char *msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->overflow) {
		err = -EFBIG;
		snprintf(r->errbuf, sizeof(r->errbuf), "response body larger than %zu bytes",
			 r->max);
		msg = r->errbuf;
	}
	if (err == 0)
		msg = NULL;
	r->buf[r->len] = '\0';
	if (!r->cancelled && r->get_done)
		r->get_done(r->arg, err, status, r->buf, r->len, msg, &r->info);
	else if (!r->cancelled && r->done)
		r->done(r->arg, err, status, r->buf, r->len, msg);
	req_destroy(r);
}

/* Work that had to wait until curl returned: cancels and new requests. */
static void run_deferred(struct httpc *h)
{
	struct httpc_req *r, *next;

	for (r = TAILQ_FIRST(&h->reqs); r; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->cancelled) {
			req_destroy(r);
		} else if (!r->added) {
			CURLMcode mc = curl_multi_add_handle(h->multi, r->easy);
			if (mc != CURLM_OK) {
				snprintf(r->errbuf, sizeof(r->errbuf), "%s",
					 curl_multi_strerror(mc));
				/* Report it like any failed transfer.  The callback may
				 * cancel others: start over (done entries are skipped). */
				finish(r, CURLE_FAILED_INIT);
				if (h->dead)
					return;
				next = TAILQ_FIRST(&h->reqs);
				continue;
			}
			r->added = 1;
		}
	}
}

static void action(struct httpc *h, curl_socket_t fd, int flags)
{
	struct CURLMsg *m;
	int running, left;

	h->in_dispatch++;
	h->in_curl++;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	h->in_curl--;
	if (!h->dead)
		run_deferred(h);
	while (!h->dead && (m = curl_multi_info_read(h->multi, &left))) {
		struct httpc_req *r = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			finish(r, m->data.result);
	}
	h->in_dispatch--;
	if (h->dead && h->in_dispatch == 0)
		destroy(h);
}

static void on_sock_event(evutil_socket_t fd, short what, void *arg)
{
	int flags =
	    ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	action(arg, fd, flags);
}

static void on_timer_event(evutil_socket_t fd, short what, void *arg)
{
	action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	struct hsock *s = socketp;
	short kind;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(h->multi, fd, NULL);
			sock_free(s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		LIST_INSERT_HEAD(&h->socks, s, entry);
		curl_multi_assign(h->multi, fd, s);
	} else if (s->ev) {
		event_free(s->ev);
		s->ev = NULL;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	       ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	s->ev = event_new(h->base, fd, kind, on_sock_event, h);
	if (!s->ev || event_add(s->ev, NULL) < 0) {
		log_warnx("httpc: cannot watch socket %d", (int)fd);
		return -1;
	}
	return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	/* Even a 0 timeout goes through the loop: curl must not be
	 * re-entered from its own timer callback. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv) < 0 ? -1 : 0;
}

/* Hand complete lines of a 2xx body to line_cb; keep the partial rest. */
static int deliver_lines(struct httpc_req *r)
{
	size_t start = 0;
	char *nl;

	while (!r->cancelled && !r->h->dead &&
	       (nl = memchr(r->buf + start, '\n', r->len - start)) != NULL) {
		size_t n = (size_t)(nl - (r->buf + start));
		if (n && r->buf[start + n - 1] == '\r')
			n--;		  /* tolerate CRLF streams */
		r->buf[start + n] = '\0'; /* lines are C strings too */
		r->line_cb(r->arg, r->buf + start, n);
		start = (size_t)(nl - r->buf) + 1;
	}
	if (r->cancelled || r->h->dead)
		return -ECANCELED;
	memmove(r->buf, r->buf + start, r->len - start);
	r->len -= start;
	return 0;
}

static size_t on_curl_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct httpc_req *r = userp;
	size_t n = size * nmemb;
	long status = 0;

	if (r->cancelled || r->h->dead)
		return 0; /* aborts the transfer; it is reaped after curl returns */
	if (r->len + n > r->max) {
		r->overflow = 1;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t ncap = MIN(MAX(r->cap * 2, r->len + n + 1), r->max + 1);
		char *nb = realloc(r->buf, ncap);
		if (!nb)
			return 0;
		r->buf = nb;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	if (r->line_cb) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300 && deliver_lines(r) < 0)
			return 0;
	}
	return n;
}

struct httpc *httpc_new(struct event_base *base)
{
	struct httpc *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		curl_global_cleanup();
		return NULL;
	}
	h->base = base;
	TAILQ_INIT(&h->reqs);
	LIST_INIT(&h->socks);
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, on_timer_event, h);
	if (!h->multi || !h->timer) {
		destroy(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void httpc_free(struct httpc *h)
{
	struct httpc_req *r;

	if (!h)
		return;
	if (h->in_dispatch) {
		/* Called from one of our callbacks: no further callbacks, and the
		 * dispatcher frees everything once the stack unwinds. */
		h->dead = 1;
		for (r = TAILQ_FIRST(&h->reqs); r; r = TAILQ_NEXT(r, entry))
			r->cancelled = 1;
		return;
	}
	destroy(h);
}

void httpc_cancel(struct httpc_req *r)
{
	if (!r)
		return;
	r->cancelled = 1;
	/* Inside curl the handle may not be removed; run_deferred does it. */
	if (!r->h->in_curl)
		req_destroy(r);
}

int httpc_pin_to_curl(const char *pin, char *out, size_t outlen)
{
	uint8_t digest[32];
	size_t len;
	int n;

	if (!pin || !out)
		return -EINVAL;
	if (strncmp(pin, PIN_PREFIX, strlen(PIN_PREFIX)) == 0)
		pin += strlen(PIN_PREFIX);
	len = strlen(pin);
	/* 64 characters can only be hex (base64 of 32 bytes is 43/44). */
	if (len == 64)
		n = hex_decode(digest, sizeof(digest), pin);
	else if (len == 43 || len == 44)
		n = b64_decode(digest, sizeof(digest), pin);
	else
		return -EINVAL;
	if (n != (int)sizeof(digest))
		return -EINVAL;
	if (outlen < strlen(PIN_PREFIX) + 45)
		return -EINVAL;
	memcpy(out, PIN_PREFIX, strlen(PIN_PREFIX));
	if (b64_encode(out + strlen(PIN_PREFIX), outlen - strlen(PIN_PREFIX), digest,
		       sizeof(digest)) < 0)
		return -EINVAL;
	return 0;
}

static int header_ok(const char *hdr)
{
	/* A CR or LF would let a value smuggle in another header. */
	return strpbrk(hdr, "\r\n") == NULL && strchr(hdr, ':') != NULL;
}

static int add_header(struct httpc_req *r, const char *hdr)
{
	struct curl_slist *l = curl_slist_append(r->hdrs, hdr);

	if (!l)
		return -ENOMEM;
	r->hdrs = l;
	return 0;
}

static int set_tls(struct httpc_req *r, const char *url, const struct httpc_opts *o)
{
	return httpc_easy_tls(r->easy, url, o);
}

int httpc_easy_tls(void *easy, const char *url, const struct httpc_opts *o)
{
	char pin[64];
	int https = strncasecmp(url, "https://", 8) == 0;

	if (!o)
		return 0;
	/* Over plain http a pin or TLS floor would be silently ignored: refuse. */
	if ((o->pin || o->cafile || o->tls13_only) && !https)
		return -EINVAL;
	if (o->pin) {
		if (httpc_pin_to_curl(o->pin, pin, sizeof(pin)) < 0)
			return -EINVAL;
		if (curl_easy_setopt((CURL *)easy, CURLOPT_PINNEDPUBLICKEY, pin) != CURLE_OK)
			return -ENOTSUP;
		if (!o->cafile) {
			/* The registry's certificate is self-signed: the SPKI pin is
			 * the trust anchor, and curl checks it with chain and name
			 * verification off. */
			curl_easy_setopt((CURL *)easy, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt((CURL *)easy, CURLOPT_SSL_VERIFYHOST, 0L);
		}
	}
	if (o->cafile)
		curl_easy_setopt((CURL *)easy, CURLOPT_CAINFO, o->cafile);
	if (o->ca_pem) {
		/* In place of the system's roots, not beside them. */
		struct curl_blob blob = {(void *)o->ca_pem, strlen(o->ca_pem), CURL_BLOB_COPY};
		if (!https ||
		    curl_easy_setopt((CURL *)easy, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK)
			return -ENOTSUP;
		curl_easy_setopt((CURL *)easy, CURLOPT_CAPATH, NULL);
	}
	if (o->tls13_only && curl_easy_setopt((CURL *)easy, CURLOPT_SSLVERSION,
					      (long)CURL_SSLVERSION_TLSv1_3) != CURLE_OK)
		return -ENOTSUP;
	if (o->timeout_ms > 0)
		curl_easy_setopt((CURL *)easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt((CURL *)easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	return 0;
}

static int hex_val(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* Response headers (and, from curl, trailers) of a GET or a raw POST:
 * Cache-Control's max-age, Location, grpc-status and grpc-message. */
static size_t on_curl_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct httpc_req *r = userp;
	size_t n = size * nmemb;
	char line[512], *v;

	if (n >= sizeof(line))
		return n; /* not one we read */
	memcpy(line, data, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		r->info.max_age = -1; /* a new response (after a 100): start over */
		r->info.location[0] = '\0';
		r->info.grpc_status = -1;
		r->info.grpc_message[0] = '\0';
	} else if (strncasecmp(line, "cache-control:", 14) == 0 &&
		   (v = strcasestr(line + 14, "max-age=")) != NULL) {
		char *end;
		long a = strtol(v + 8, &end, 10);
		if (end != v + 8 && a >= 0)
			r->info.max_age = a;
	} else if (strncasecmp(line, "location:", 9) == 0) {
		v = line + 9 + strspn(line + 9, " \t");
		snprintf(r->info.location, sizeof(r->info.location), "%s", v);
	} else if (strncasecmp(line, "grpc-status:", 12) == 0) {
		char *end;
		long st;
		v = line + 12 + strspn(line + 12, " \t");
		st = strtol(v, &end, 10);
		/* Codes are 0-16; anything else is as good as UNKNOWN (2). */
		r->info.grpc_status = (end != v && !*end && st >= 0 && st <= 16) ? (int)st : 2;
	} else if (strncasecmp(line, "grpc-message:", 13) == 0) {
		char *o = r->info.grpc_message, *end = o + sizeof(r->info.grpc_message) - 1;
		v = line + 13 + strspn(line + 13, " \t");
		/* Percent-encoded (gRPC over HTTP/2); it reaches the logs:
		 * printable ASCII only. */
		for (; *v && o < end; o++) {
			int hi, lo;
			if (v[0] == '%' && (hi = hex_val(v[1])) >= 0 && (lo = hex_val(v[2])) >= 0) {
				*o = (char)(hi << 4 | lo);
				v += 3;
			} else {
				*o = *v++;
			}
			if (*o < 0x20 || *o > 0x7e)
				*o = '?';
		}
		*o = '\0';
	}
	return n;
}

/* What req_start makes. */
enum req_kind { REQ_POST_JSON, REQ_GET, REQ_POST_RAW };

static struct httpc_req *req_start(struct httpc *h, const char *url, const char *const *headers,
				   const char *body, size_t len, enum req_kind kind,
				   const struct httpc_opts *o, httpc_done_cb done,
				   httpc_line_cb line_cb, void *arg);

struct httpc_req *httpc_post(struct httpc *h, const char *url, const char *const *headers,
			     const char *body, size_t len, const struct httpc_opts *o,
			     httpc_done_cb done, httpc_line_cb line_cb, void *arg)
{
	return req_start(h, url, headers, body, len, REQ_POST_JSON, o, done, line_cb, arg);
}

struct httpc_req *httpc_get(struct httpc *h, const char *url, const struct httpc_opts *o,
			    httpc_get_cb done, void *arg)
{
	struct httpc_req *r;

	/* Fetched documents decide who is trusted (key sets): never over
	 * plain http, and redirects are the caller's to judge (Location). */
	if (!url || strncasecmp(url, "https://", 8) != 0)
		return NULL;
	r = req_start(h, url, NULL, NULL, 0, REQ_GET, o, NULL, NULL, arg);
	if (r)
		r->get_done = done;
	return r;
}

struct httpc_req *httpc_post_raw(struct httpc *h, const char *url, const char *const *headers,
				 const void *body, size_t len, const struct httpc_opts *o,
				 httpc_get_cb done, void *arg)
{
	struct httpc_req *r;

	if (!url || strncasecmp(url, "http", 4) != 0)
		return NULL;
	r = req_start(h, url, headers, body, len, REQ_POST_RAW, o, NULL, NULL, arg);
	if (r)
		r->get_done = done;
	return r;
}

static struct httpc_req *req_start(struct httpc *h, const char *url, const char *const *headers,
				   const char *body, size_t len, enum req_kind kind,
				   const struct httpc_opts *o, httpc_done_cb done,
				   httpc_line_cb line_cb, void *arg)
{
	struct httpc_req *r;
	int get = kind == REQ_GET;
	CURL *e;

	if (!h || h->dead || !url || (!body && len))
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->h = h;
	r->done = done;
	r->line_cb = line_cb;
	r->arg = arg;
	r->max = o && o->max_body ? o->max_body : HTTPC_BODY_MAX;
	r->cap = 4096;
	r->buf = malloc(r->cap);
	r->easy = e = curl_easy_init();
	if (!r->buf || !e)
		goto fail;

	/* "Expect:" off: curl would wait up to a second for a 100 Continue
	 * before sending a body over 1 KiB. */
	r->info.max_age = -1;
	r->info.grpc_status = -1;
	if (kind == REQ_POST_JSON && add_header(r, "Content-Type: application/json"))
		goto fail;
	if (kind != REQ_GET && add_header(r, "Expect:"))
		goto fail;
	if (get && add_header(r, "Accept: application/json"))
		goto fail;
	for (size_t i = 0; headers && headers[i]; i++)
		if (!header_ok(headers[i]) || add_header(r, headers[i]))
			goto fail;

	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK)
		goto fail;
		/* Only HTTP(S): URLs may come from configuration (webhooks). */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			 o && o->h2_prior_knowledge ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
						    : (long)CURL_HTTP_VERSION_1_1);
	/* curl 7.88 fails the second request on a reused prior-knowledge
	 * HTTP/2 connection ("Error in the HTTP2 framing layer"; curl's own
	 * command line does the same with --next): one connection each. */
	if (o && o->h2_prior_knowledge)
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	if (o && o->unix_socket &&
	    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket) != CURLE_OK)
		goto fail;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	if (kind != REQ_POST_JSON) {
		/* Trailers (gRPC's status) come through here as well. */
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_curl_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	}
	if (get) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
#else
		curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		/* Binary-safe: the size is set first, so curl copies len bytes. */
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	/* No SIGALRM for resolver timeouts in a daemon with its own loop. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L); /* long-lived event streams */
	curl_easy_setopt(e, CURLOPT_USERAGENT, "pilot/" PACKAGE_VERSION);
	if (set_tls(r, url, o) < 0)
		goto fail;

	TAILQ_INSERT_TAIL(&h->reqs, r, entry);
	if (h->in_curl)
		return r; /* added by run_deferred once curl returns */
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		TAILQ_REMOVE(&h->reqs, r, entry);
		goto fail;
	}
	r->added = 1;
	return r;
fail:
	req_free(r);
	return NULL;
}
