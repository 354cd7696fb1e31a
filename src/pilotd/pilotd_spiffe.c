/* pilotd_spiffe.c - this node's JWT-SVIDs from the SPIFFE Workload API
 * (SPEC sections 6 and 8: `spiffe_auto`, `spiffe_endpoint_socket`,
 * `spiffe_audience`).  FetchJWTSVID is a unary gRPC call: HTTP/2 with
 * prior knowledge on the agent's unix socket, through the daemon's curl
 * (httpc_post_raw), the messages in wlapi.c.  An SVID is fetched at start
 * (the Workload API on a local socket answers long before the registry
 * over TLS, so a configured spiffe network joins with it), and again when
 * half of its lifetime has passed; each new one is kept with the node's
 * tokens and renews every spiffe membership.  A failure is retried after
 * 1 s, doubling to 30 s; the SVID held stays in use until its exp, and
 * when none comes before then the membership lapses (pilotd_cert_tick).
 * The registry verifies the SVID; here its exp is read, unverified, only
 * to know when to fetch the next.
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define SPIFFE_ENV "SPIFFE_ENDPOINT_SOCKET"
#define SPIFFE_BACKOFF_MAX_S 30
#define SPIFFE_TIMEOUT_MS 10000

/* gRPC status codes by number (grpc/doc/statuscodes.md). */
static const char *const grpc_codes[] = {
    "OK",	 "CANCELLED",	   "UNKNOWN",		"INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",	 "OUT_OF_RANGE",   "UNIMPLEMENTED",	"INTERNAL",	      "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

static const char *grpc_code_name(int code)
{
	return code >= 0 && (size_t)code < nitems(grpc_codes) ? grpc_codes[code] : "UNKNOWN";
}

static const char *endpoint_uri(const struct pilotd_cfg *cfg)
{
	const char *env = getenv(SPIFFE_ENV);

	return cfg->spiffe_endpoint_socket ? cfg->spiffe_endpoint_socket : env;
}

int pilotd_spiffe_check_cfg(const struct pilotd_cfg *cfg, char *err, size_t errlen)
{
	struct wlapi_endpoint ep;
	const char *uri = endpoint_uri(cfg);
	char why[400];

	if (!cfg->spiffe_auto)
		return 0;
	if (!cfg->spiffe_audience || !*cfg->spiffe_audience) {
		snprintf(err, errlen,
			 "spiffe_auto needs spiffe_audience (the audience a spiffe network "
			 "was created with, --spiffe-audience)");
		return -EINVAL;
	}
	if (strlen(cfg->spiffe_audience) > WLAPI_AUD_MAX) {
		snprintf(err, errlen, "spiffe_audience: at most %d bytes", WLAPI_AUD_MAX);
		return -EINVAL;
	}
	if (!uri || !*uri) {
		snprintf(err, errlen,
			 "spiffe_auto needs the Workload API: set spiffe_endpoint_socket "
			 "(unix:///PATH) or $" SPIFFE_ENV);
		return -EINVAL;
	}
	if (wlapi_endpoint_parse(uri, &ep, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s %s",
			 cfg->spiffe_endpoint_socket ? "spiffe_endpoint_socket" : "$" SPIFFE_ENV,
			 why);
		return -EINVAL;
	}
	return 0;
}

static void fetch(struct pilotd *d);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fetch(arg);
}

static void schedule(struct pilotd *d, uint64_t in_ms)
{
	struct pilotd_spiffe *s = &d->spiffe;
	struct timeval tv = {(time_t)(in_ms / 1000), (suseconds_t)(in_ms % 1000) * 1000};

	s->next_ms = now_real_ms() + in_ms;
	evtimer_add(s->timer, &tv);
}

static void fail(struct pilotd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct pilotd *d, const char *fmt, ...)
{
	struct pilotd_spiffe *s = &d->spiffe;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	s->failures++;
	s->backoff_s = s->backoff_s ? MIN(s->backoff_s * 2, SPIFFE_BACKOFF_MAX_S) : 1;
	log_warnx("SPIFFE Workload API %s: %s (again in %u s%s)", s->uri, s->last_error,
		  s->backoff_s,
		  d->tokens.svid && d->tokens.svid_exp > now_real_ms() / 1000
		      ? "; the SVID held stays in use until it expires"
		      : "");
	schedule(d, (uint64_t)s->backoff_s * 1000);
}

/* A new SVID: keep it, renew what it admits us to. */
static void take(struct pilotd *d, const struct wlapi_svid *sv, uint64_t exp, uint64_t now_s)
{
	struct pilotd_spiffe *s = &d->spiffe;
	char tok[WLAPI_SVID_MAX + 1];
	int had = d->tokens.svid && d->tokens.svid_exp > now_s;

	memcpy(tok, sv->svid, sv->svid_len);
	tok[sv->svid_len] = '\0';
	if (d->tokens.svid && strcmp(d->tokens.svid, tok) == 0) {
		sodium_memzero(tok, sizeof(tok));
		log_debug("SPIFFE: the Workload API handed out the SVID we hold (exp in %llu s)",
			  (unsigned long long)(exp - now_s));
		return;
	}
	pilotd_token_keep(d, "spiffe", tok);
	sodium_memzero(tok, sizeof(tok));
	snprintf(s->spiffe_id, sizeof(s->spiffe_id), "%.*s", (int)MIN(sv->id_len, 255),
		 sv->spiffe_id);
	log_info("SPIFFE: JWT-SVID for %s from the Workload API (audience %s, exp in %llu s)%s",
		 s->spiffe_id, d->cfg.spiffe_audience, (unsigned long long)(exp - now_s),
		 had ? ": renewing" : "");
	pilotd_creds_renew(d, "spiffe");
	if (!had)
		pilotd_join_configured(d); /* those that needed one */
}

static void on_fetched(void *arg, int err, long status, const char *body, size_t len,
		       const char *errmsg, const struct httpc_info *info)
{
	struct pilotd *d = arg;
	struct pilotd_spiffe *s = &d->spiffe;
	struct wlapi_svid sv;
	uint64_t now_s = now_real_ms() / 1000, exp;
	int n;

	s->req = NULL;
	if (err < 0) {
		fail(d, "%s", errmsg ? errmsg : strerror(-err));
		return;
	}
	/* A gRPC error comes as 200 with grpc-status (trailers-only). */
	if (info->grpc_status > 0) {
		fail(d, "FetchJWTSVID: %s (%d)%s%s", grpc_code_name(info->grpc_status),
		     info->grpc_status, info->grpc_message[0] ? ": " : "", info->grpc_message);
		return;
	}
	if (status != 200) {
		fail(d, "FetchJWTSVID: HTTP status %ld (not a gRPC server?)", status);
		return;
	}
	if (info->grpc_status < 0) {
		fail(d, "FetchJWTSVID: the answer has no grpc-status");
		return;
	}
	n = wlapi_response_body((const uint8_t *)body, len, &sv);
	if (n < 0) {
		fail(d, "FetchJWTSVID: %s",
		     n == -ENOENT    ? "no JWT-SVID in the answer (is this workload registered?)"
		     : n == -EBADMSG ? "a malformed answer"
				     : "an oversized answer");
		return;
	}
	if (jwt_peek_exp(sv.svid, sv.svid_len, &exp) < 0 || exp == 0) {
		fail(d, "FetchJWTSVID: the JWT-SVID has no readable exp");
		return;
	}
	if (exp <= now_s) {
		fail(d, "FetchJWTSVID: the JWT-SVID has expired already (exp %llu)",
		     (unsigned long long)exp);
		return;
	}
	s->fetches++;
	s->backoff_s = 0;
	s->last_ok_s = now_s;
	s->last_error[0] = '\0';
	if (n > 1)
		log_debug("SPIFFE: %d JWT-SVIDs in the answer; the first is used", n);
	take(d, &sv, exp, now_s);
	/* The next at half of what is left of this one's lifetime. */
	schedule(d, MAX((exp - now_s) * 1000 / 2, 1000));
}

static void fetch(struct pilotd *d)
{
	struct pilotd_spiffe *s = &d->spiffe;
	static const char *const hdrs[] = {"Content-Type: application/grpc", "TE: trailers",
					   "workload.spiffe.io: true", NULL};
	struct httpc_opts o = {.timeout_ms = SPIFFE_TIMEOUT_MS,
			       .connect_timeout_ms = 3000,
			       .max_body = WLAPI_GRPC_HDR + WLAPI_MSG_MAX,
			       .h2_prior_knowledge = 1};
	uint8_t body[WLAPI_GRPC_HDR + 16 + WLAPI_AUD_MAX];
	int len;

	if (s->req)
		return;
	s->last_try_s = now_real_ms() / 1000;
	len = wlapi_request(body, sizeof(body), d->cfg.spiffe_audience, NULL);
	if (len < 0) {
		fail(d, "cannot encode the request: %s", strerror(-len));
		return;
	}
	o.unix_socket = s->ep.unix_path[0] ? s->ep.unix_path : NULL;
	log_debug("SPIFFE: FetchJWTSVID (audience %s) at %s", d->cfg.spiffe_audience, s->uri);
	s->req = httpc_post_raw(d->http, s->ep.url, hdrs, body, (size_t)len, &o, on_fetched, d);
	if (!s->req)
		fail(d, "cannot start the request");
}

int pilotd_spiffe_start(struct pilotd *d)
{
	struct pilotd_spiffe *s = &d->spiffe;
	char err[400];
	int rc;

	if (!d->cfg.spiffe_auto || s->on)
		return 0;
	if ((rc = pilotd_spiffe_check_cfg(&d->cfg, err, sizeof(err))) < 0) {
		log_warnx("%s", err);
		return rc;
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->uri, sizeof(s->uri), "%s", endpoint_uri(&d->cfg));
	wlapi_endpoint_parse(s->uri, &s->ep, err, sizeof(err));
	s->timer = evtimer_new(d->base, on_timer, d);
	if (!s->timer)
		return -ENOMEM;
	s->on = 1;
	log_info("SPIFFE: JWT-SVIDs for audience %s from the Workload API at %s",
		 d->cfg.spiffe_audience, s->uri);
	fetch(d);
	return 0;
}

void pilotd_spiffe_stop(struct pilotd *d)
{
	struct pilotd_spiffe *s = &d->spiffe;

	if (s->req)
		httpc_cancel(s->req);
	s->req = NULL;
	if (s->timer)
		event_free(s->timer);
	s->timer = NULL;
	s->on = 0;
}

void pilotd_spiffe_status(struct pilotd *d, struct json_gen *j)
{
	struct pilotd_spiffe *s = &d->spiffe;
	uint64_t now = now_real_ms();

	if (!s->on)
		return;
	jg_key(j, "spiffe");
	jg_map_open(j);
	jg_kstr(j, "socket", s->uri);
	jg_kstr(j, "audience", d->cfg.spiffe_audience);
	jg_kstr(j, "spiffe_id", s->spiffe_id);
	jg_ku64(j, "svid_exp", d->tokens.svid ? d->tokens.svid_exp : 0);
	jg_ku64(j, "last_fetch", s->last_ok_s);
	jg_ku64(j, "next_fetch_in", s->next_ms > now ? (s->next_ms - now + 999) / 1000 : 0);
	jg_ku64(j, "fetches", s->fetches);
	jg_ku64(j, "failures", s->failures);
	jg_kstr(j, "last_error", s->last_error);
	jg_map_close(j);
}
