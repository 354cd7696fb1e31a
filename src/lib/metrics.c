/* metrics.c - see metrics.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"

struct metrics {
	struct evhttp *http;
	metrics_fill_fn fill;
	void *arg;
};

static void on_request(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *out;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	m->fill(m->arg, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

int metrics_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return strcmp(host, "localhost") == 0;
}

struct metrics *metrics_listen(struct event_base *base, const char *hostport, int allow_remote,
			       metrics_fill_fn fill, void *arg)
{
	char host[256];
	uint16_t port;
	struct metrics *m;

	if (conf_split_hostport(hostport, host, sizeof(host), &port) < 0) {
		log_warnx("metrics_listen '%s': expected HOST:PORT", hostport);
		return NULL;
	}
	/* Counters describe peers and traffic: keep them local unless the
	 * operator says otherwise. */
	if (!allow_remote && !metrics_host_is_loopback(host)) {
		log_warnx("metrics_listen '%s': not a loopback address (set metrics_allow_remote)",
			  hostport);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->fill = fill;
	m->arg = arg;
	m->http = evhttp_new(base);
	if (!m->http || evhttp_bind_socket(m->http, host, port) < 0) {
		log_warn("metrics listener %s", hostport);
		metrics_close(m);
		return NULL;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_gencb(m->http, on_request, m);
	log_info("metrics on http://%s/metrics", hostport);
	return m;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m);
}

void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(struct evbuffer *out, const char *name, const char *labels, uint64_t v)
{
	if (labels && *labels)
		evbuffer_add_printf(out, "%s{%s} %" PRIu64 "\n", name, labels, v);
	else
		evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

void metrics_sample_f(struct evbuffer *out, const char *name, const char *labels, double v)
{
	if (labels && *labels)
		evbuffer_add_printf(out, "%s{%s} %.6f\n", name, labels, v);
	else
		evbuffer_add_printf(out, "%s %.6f\n", name, v);
}

void metrics_counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
	metrics_family(out, name, "counter", help);
	metrics_sample(out, name, NULL, v);
}

void metrics_gauge(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
	metrics_family(out, name, "gauge", help);
	metrics_sample(out, name, NULL, v);
}
