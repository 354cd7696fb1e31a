/* metrics.h - a Prometheus text-format endpoint (GET /metrics) on a local
 * HTTP listener, for either daemon.  Off unless configured; the daemon
 * fills the page through a callback with the helpers below. */
#ifndef PILOT_METRICS_H
#define PILOT_METRICS_H

#include <stdint.h>

struct event_base;
struct evbuffer;
struct metrics;

/** Write the whole exposition into \p out. */
typedef void (*metrics_fill_fn)(void *arg, struct evbuffer *out);

/** Listen on "HOST:PORT" / "[V6]:PORT". Refuses a non-loopback address
 *  unless \p allow_remote. \retval server or NULL (logged). */
struct metrics *metrics_listen(struct event_base *base, const char *hostport, int allow_remote,
			       metrics_fill_fn fill, void *arg);
void metrics_close(struct metrics *m);
/** The rule metrics_listen() applies without allow_remote (127/8, ::1,
 *  "localhost"); configuration checks use it to refuse a bad file early. */
int metrics_host_is_loopback(const char *host);

/* Exposition helpers: HELP/TYPE once per family, then samples. */
void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help);
void metrics_sample(struct evbuffer *out, const char *name, const char *labels, uint64_t v);
void metrics_sample_f(struct evbuffer *out, const char *name, const char *labels, double v);
/** A family of one unlabelled sample: HELP/TYPE, then \p v. */
void metrics_counter(struct evbuffer *out, const char *name, const char *help, uint64_t v);
void metrics_gauge(struct evbuffer *out, const char *name, const char *help, uint64_t v);

#endif
