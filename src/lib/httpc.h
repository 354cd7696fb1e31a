/* httpc.h - asynchronous HTTPS client: libcurl's multi interface driven by
 * the daemon's libevent loop (curl's socket/timer callbacks mapped onto
 * events).  Used for the registry (with SPKI pinning, TLS 1.3 only), and
 * later webhooks, JWKS and OIDC discovery. */
#ifndef PILOT_HTTPC_H
#define PILOT_HTTPC_H

#include <stddef.h>

struct event_base;
struct httpc;
struct httpc_req;

struct httpc_opts {
	const char *pin;    /* SPKI pin for CURLOPT_PINNEDPUBLICKEY ("sha256//B64"), or NULL */
	const char *cafile; /* CA bundle to verify against, or NULL */
	long timeout_ms;    /* whole-transfer timeout; 0 = none (streams) */
	long connect_timeout_ms;
	int tls13_only;		 /* refuse anything below TLS 1.3 */
	size_t max_body;	 /* bytes of response held at most; 0 = HTTPC_BODY_MAX */
	const char *ca_pem;	 /* PEM roots (text) to verify against, in place of the system's */
	const char *unix_socket; /* connect to this AF_UNIX path, not the URL's host (or NULL) */
	int h2_prior_knowledge;	 /* HTTP/2 from the first byte (cleartext h2c; gRPC) */
};

/** The TLS and timeout options of \p o on a curl easy handle \p easy
 *  (CURL *) for \p url, as every request of this client gets them: for a
 *  one-shot blocking request (pilotd --probe).  \retval 0, -EINVAL (a pin
 *  or CA over plain http, a bad pin), -ENOTSUP (curl lacks it). */
int httpc_easy_tls(void *easy, const char *url, const struct httpc_opts *o);

/* What a GET's (or a raw POST's) response headers and trailers said. */
struct httpc_info {
	long max_age;		/* Cache-Control max-age (s), or -1 */
	char location[512];	/* Location of a redirect, or "" */
	int grpc_status;	/* gRPC's grpc-status (header or trailer), or -1 */
	char grpc_message[256]; /* its grpc-message (decoded, printable ASCII), or "" */
};

#define HTTPC_BODY_MAX (1024 * 1024) /* the default max_body */

/** Called exactly once per request (unless cancelled): \p err is 0 when an
 *  HTTP response arrived (any status), else -errno-like and \p errmsg says
 *  why (curl's error buffer).  \p body is the whole body (NUL-terminated;
 *  for streams, what was not delivered as lines). */
typedef void (*httpc_done_cb)(void *arg, int err, long status, const char *body, size_t len,
			      const char *errmsg);
/** Streaming: called for every complete '\n'-terminated line of a 2xx
 *  response body as it arrives (without the newline). */
typedef void (*httpc_line_cb)(void *arg, const char *line, size_t len);

struct httpc *httpc_new(struct event_base *base);
void httpc_free(struct httpc *h); /* cancels outstanding requests without callbacks */

/** POST \p body with the extra \p headers ("Name: value", NULL-terminated)
 *  and Content-Type: application/json.  \p line_cb may be NULL.
 *  \retval request handle (owned by httpc; valid until done/cancel) or NULL. */
struct httpc_req *httpc_post(struct httpc *h, const char *url, const char *const *headers,
			     const char *body, size_t len, const struct httpc_opts *o,
			     httpc_done_cb done, httpc_line_cb line_cb, void *arg);
/** GET \p url (https:// only; redirects are not followed: a 3xx comes
 *  back with info->location for the caller to judge).  \p done as
 *  httpc_done_cb, with the response headers' \p info.
 *  \retval request handle or NULL. */
typedef void (*httpc_get_cb)(void *arg, int err, long status, const char *body, size_t len,
			     const char *errmsg, const struct httpc_info *info);
struct httpc_req *httpc_get(struct httpc *h, const char *url, const struct httpc_opts *o,
			    httpc_get_cb done, void *arg);
/** POST the bytes \p body as they are, with \p headers, which name its
 *  Content-Type (none is added); for binary protocols (gRPC).  The
 *  response's headers and trailers come to \p done in its info.
 *  \retval request handle or NULL. */
struct httpc_req *httpc_post_raw(struct httpc *h, const char *url, const char *const *headers,
				 const void *body, size_t len, const struct httpc_opts *o,
				 httpc_get_cb done, void *arg);
/** Cancel; the done callback is not called. */
void httpc_cancel(struct httpc_req *r);

/** A CURLcode as -errno: -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH (not
 *  resolved), -ECONNRESET (sent or received nothing), -EACCES (TLS peer
 *  not authenticated), -ENOMEM, -EINVAL (bad URL), else -EIO; 0 for
 *  CURLE_OK.  Shared with the blocking clients (rdv_etcd.c). */
int httpc_curl_errno(int code);

/** Convert a pin given as base64 or hex SHA-256 into curl's "sha256//B64"
 *  form. \retval 0 or -EINVAL. */
int httpc_pin_to_curl(const char *pin, char *out, size_t outlen);

#endif
