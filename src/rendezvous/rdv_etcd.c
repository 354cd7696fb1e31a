/* rdv_etcd.c - see rdv_etcd.h.
 *
 * etcd's gRPC gateway maps every KV and Lease call onto "POST /v3/<svc>/
 * <method>" with the request as protobuf JSON: bytes as base64, int64 as
 * strings, enums by name, proto field names; zero values are left out of
 * answers, so a member that is absent reads as 0, "" or false.  An error
 * comes back as HTTP 4xx/5xx with {"error": text, "code": gRPC code}
 * (inside {"error": {...}} on the streaming keepalive), which we turn into
 * -errno and keep the text of (rdv_etcd_last_error).
 *
 * Blocking by design: the registry's writes are few, and a synchronous
 * client is easy to test against a real etcd; the daemon will run it off
 * its loop.  One curl easy handle is reused, so connections to the
 * endpoint in use are kept alive between requests.
 *
 * Failover: a request whose endpoint cannot be reached, times out, or
 * answers "unavailable" (a member without a leader) goes to each of the
 * others once, in order, starting after the one last used; the one that
 * answers is used first from then on.  A request that timed out may still
 * have been applied: what the registry sends is either a compare-guarded
 * transaction or an idempotent put/delete, so sending it twice is safe. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <sodium.h>

#include "httpc.h"
#include "json.h"
#include "rdv_etcd.h"
#include "util.h"

#define URL_MAX 512
#define RESP_MAX (64u * 1024 * 1024) /* a whole range in one answer, at most */
#define B64 sodium_base64_VARIANT_ORIGINAL

/* gRPC status codes etcd reports (google.golang.org/grpc/codes). */
enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

struct rdv_etcd {
	CURL *curl;
	struct curl_slist *hdrs;
	char **eps; /* base URLs, without a trailing '/' */
	size_t n, cur;
	char *buf; /* the answer being received, NUL-terminated */
	size_t len, cap;
	int overflow;
	uint8_t *scratch; /* a kv's key and value, decoded */
	size_t scap;
	char curl_err[CURL_ERROR_SIZE];
	char err[512];
	int timeout_ms; /* per attempt (a watch sets its own, then this again) */
};

static void set_err(struct rdv_etcd *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct rdv_etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ transport */

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct rdv_etcd *e = arg;
	size_t n = size * nmemb;

	if (n > RESP_MAX - e->len) {
		e->overflow = 1;
		return 0; /* curl fails the transfer (CURLE_WRITE_ERROR) */
	}
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap ? e->cap : 4096;
		char *b;
		while (cap < e->len + n + 1)
			cap *= 2;
		if (!(b = realloc(e->buf, cap)))
			return 0;
		e->buf = b;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	e->buf[e->len] = '\0';
	return n;
}

/* Errors worth trying the next endpoint for: this one is down or slow, or
 * its TLS is wrong; anything else would fail the same way everywhere. */
static int try_next(int rc)
{
	return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EHOSTUNREACH ||
	       rc == -ECONNRESET || rc == -EACCES;
}

/* POST \p body to endpoint \p i.  \retval 0 with an HTTP answer (any
 * status) in e->buf, or -errno with e->err set. */
static int attempt(struct rdv_etcd *e, size_t i, const char *path, const char *body, size_t len,
		   long *status)
{
	char url[URL_MAX];
	CURLcode cc;
	int rc;

	snprintf(url, sizeof(url), "%s%s", e->eps[i], path); /* fits: checked at open */
	e->len = 0;
	e->overflow = 0;
	e->curl_err[0] = '\0';
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	cc = curl_easy_perform(e->curl);
	if (e->overflow) {
		set_err(e, "%s: answer larger than %u bytes", e->eps[i], RESP_MAX);
		return -EFBIG;
	}
	if ((rc = httpc_curl_errno(cc)) < 0) {
		set_err(e, "%s: %s", e->eps[i],
			e->curl_err[0] ? e->curl_err : curl_easy_strerror(cc));
		return rc;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

static int grpc_errno(long code, const char *msg)
{
	switch (code) {
	case GRPC_INVALID_ARGUMENT:
	case GRPC_FAILED_PRECONDITION: /* a key twice in one txn */
		return -EINVAL;
	case GRPC_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	case GRPC_NOT_FOUND:
		return -ENOENT;
	case GRPC_ALREADY_EXISTS:
		return -EEXIST;
	case GRPC_PERMISSION_DENIED:
	case GRPC_UNAUTHENTICATED:
		return -EACCES;
	case GRPC_RESOURCE_EXHAUSTED:
		return -ENOSPC;
	case GRPC_OUT_OF_RANGE:
		/* Compacted and future revisions share the code; only the
		 * text tells them apart (etcd's own client compares it too). */
		return strstr(msg, "compacted") ? -ESTALE : -ERANGE;
	case GRPC_UNAVAILABLE:
		return -EAGAIN;
	default:
		return -EPROTO;
	}
}

/* An error in the answer \p v (HTTP \p status): {"error": text, "code": N}
 * or {"error": {"grpc_code": N, "message": text}}.  \retval 0 (none) or
 * -errno with e->err set. */
static int answer_error(struct rdv_etcd *e, long status, yajl_val v)
{
	yajl_val err = json_get(v, "error");
	const char *msg = NULL;
	uint64_t code = 0;

	if (err && YAJL_IS_OBJECT(err)) {
		json_get_str(err, "message", &msg);
		json_get_u64(err, "grpc_code", &code);
	} else if (err && YAJL_IS_STRING(err) && err->u.string[0]) {
		msg = err->u.string;
		json_get_u64(v, "code", &code);
	} else if (status == 200) {
		return 0;
	}
	if (!msg || !code) {
		set_err(e, "%s: HTTP %ld%s%s", e->eps[e->cur], status, msg ? ": " : "",
			msg ? msg : "");
		return status == 200 || !msg ? -EPROTO : grpc_errno((long)code, msg);
	}
	set_err(e, "%s", msg);
	return grpc_errno((long)code, msg);
}

/* Read the answer in e->buf.  \retval 0 with *out, or -errno. */
static int answer(struct rdv_etcd *e, long status, yajl_val *out)
{
	char perr[128] = "";
	yajl_val v = json_parse(e->buf ? e->buf : "", e->len, 0, perr, sizeof(perr));
	int rc;

	if (!v) {
		set_err(e, "%s: HTTP %ld, unreadable answer: %s", e->eps[e->cur], status, perr);
		return -EPROTO;
	}
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		set_err(e, "%s: HTTP %ld, answer not an object", e->eps[e->cur], status);
		return -EPROTO;
	}
	if ((rc = answer_error(e, status, v)) < 0) {
		yajl_tree_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* POST the document in \p j to \p path, with failover.  \retval 0 with
 * the answer in *out (free with yajl_tree_free), or -errno. */
static int request(struct rdv_etcd *e, const char *path, struct json_gen *j, yajl_val *out)
{
	const char *body;
	size_t len;
	size_t first = e->cur;
	long status = 0;
	int rc = -EIO;

	if (json_gen_finish(j, &body, &len) < 0) {
		set_err(e, "%s: the request could not be built", path);
		return -ENOMEM; /* our generator fails only for memory */
	}
	for (size_t k = 0; k < e->n; k++) {
		size_t i = (first + k) % e->n;

		rc = attempt(e, i, path, body, len, &status);
		if (rc == 0) {
			e->cur = i;
			rc = answer(e, status, out);
			if (rc != -EAGAIN)
				break;
		} else if (!try_next(rc)) {
			break;
		}
	}
	if (rc == 0)
		e->err[0] = '\0';
	return rc;
}

/* ------------------------------------------------------------ documents */

/* Member \p k: \p n bytes as base64 (any length, unlike jg_b64). */
static void kbytes(struct json_gen *j, const char *k, const void *b, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, B64);
	char *s = malloc(cap);

	if (!s) {
		j->err = 1;
		return;
	}
	sodium_bin2base64(s, cap, n ? b : (const void *)"", n, B64);
	jg_kstr(j, k, s);
	free(s);
}

/* Member \p k: \p v as protobuf JSON's int64, a string. */
static void ki64(struct json_gen *j, const char *k, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	jg_kstr(j, k, s);
}

/* key, and range_end when there is one. */
static void krange(struct json_gen *j, const void *key, size_t klen, const void *end, size_t elen)
{
	kbytes(j, "key", key, klen);
	if (elen)
		kbytes(j, "range_end", end, elen);
}

/* A member proto3 may leave out (then 0): a string or a number. */
static int get_i64(yajl_val obj, const char *k, int64_t *out)
{
	yajl_val v = json_get(obj, k);
	char *end;
	long long x;

	*out = 0;
	if (!v)
		return 0;
	if (YAJL_IS_INTEGER(v)) {
		*out = YAJL_GET_INTEGER(v);
		return 0;
	}
	if (!YAJL_IS_STRING(v) || !v->u.string[0])
		return -EPROTO;
	errno = 0;
	x = strtoll(v->u.string, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*out = x;
	return 0;
}

static int header_rev(struct rdv_etcd *e, yajl_val v, int64_t *rev)
{
	int64_t r;

	if (get_i64(json_get(v, "header"), "revision", &r) < 0) {
		set_err(e, "answer with a bad header.revision");
		return -EPROTO;
	}
	if (rev)
		*rev = r;
	return 0;
}

/* Base64 member \p k of \p obj (absent: empty) into \p out, which holds
 * enough.  \retval bytes or -EPROTO. */
static ssize_t get_bytes(yajl_val obj, const char *k, uint8_t *out, size_t cap)
{
	yajl_val v = json_get(obj, k);
	const char *end;
	size_t n, len;

	if (!v)
		return 0;
	if (!YAJL_IS_STRING(v))
		return -EPROTO;
	len = strlen(v->u.string);
	if (sodium_base642bin(out, cap, v->u.string, len, NULL, &n, &end, B64) != 0 ||
	    end != v->u.string + len)
		return -EPROTO;
	return (ssize_t)n;
}

static size_t b64_len(yajl_val obj, const char *k)
{
	yajl_val v = json_get(obj, k);

	return v && YAJL_IS_STRING(v) ? strlen(v->u.string) : 0;
}

/* One of "kvs" as a struct rdv_etcd_kv, decoded into e->scratch. */
static int kv_read(struct rdv_etcd *e, yajl_val o, struct rdv_etcd_kv *kv)
{
	/* base64 decodes to at most 3/4 of its length: room for both. */
	size_t kcap = b64_len(o, "key") / 4 * 3 + 3, vcap = b64_len(o, "value") / 4 * 3 + 3;
	ssize_t kl, vl;

	if (kcap + vcap > e->scap) {
		uint8_t *s = realloc(e->scratch, kcap + vcap);
		if (!s)
			return -ENOMEM;
		e->scratch = s;
		e->scap = kcap + vcap;
	}
	if (!YAJL_IS_OBJECT(o) || !json_get(o, "key") ||
	    (kl = get_bytes(o, "key", e->scratch, kcap)) < 0 ||
	    (vl = get_bytes(o, "value", e->scratch + kcap, vcap)) < 0 ||
	    get_i64(o, "create_revision", &kv->create_rev) < 0 ||
	    get_i64(o, "mod_revision", &kv->mod_rev) < 0 ||
	    get_i64(o, "version", &kv->version) < 0 || get_i64(o, "lease", &kv->lease) < 0)
		return -EPROTO;
	kv->key = e->scratch;
	kv->klen = (size_t)kl;
	kv->val = e->scratch + kcap;
	kv->vlen = (size_t)vl;
	return 0;
}

/* Every kv of a range answer \p r to \p cb.  \retval 0, -errno, or cb's. */
static int kv_walk(struct rdv_etcd *e, yajl_val r, rdv_etcd_kv_cb cb, void *arg)
{
	yajl_val kvs = json_get(r, "kvs");
	struct rdv_etcd_kv kv;
	int rc;

	if (!kvs || !cb)
		return 0;
	if (!YAJL_IS_ARRAY(kvs))
		goto bad;
	for (size_t i = 0; i < kvs->u.array.len; i++) {
		if ((rc = kv_read(e, kvs->u.array.values[i], &kv)) == -EPROTO)
			goto bad;
		if (rc < 0 || (rc = cb(arg, &kv)) != 0)
			return rc;
	}
	return 0;
bad:
	set_err(e, "answer with a malformed kv");
	return -EPROTO;
}

/* ------------------------------------------------------------ the API */

void rdv_etcd_close(struct rdv_etcd *e)
{
	if (!e)
		return;
	if (e->curl) {
		curl_easy_cleanup(e->curl);
		curl_global_cleanup(); /* reference counted, as in httpc.c */
	}
	curl_slist_free_all(e->hdrs);
	for (size_t i = 0; e->eps && i < e->n; i++)
		free(e->eps[i]);
	free(e->eps);
	free(e->buf);
	free(e->scratch);
	free(e);
}

/* Copy the endpoints, refusing what is not an http(s) base URL. */
/* Length of endpoint \p u without its trailing '/'s. */
static size_t url_len(const char *u)
{
	size_t len = strlen(u);

	while (len && u[len - 1] == '/')
		len--;
	return len;
}

int rdv_etcd_url_ok(const char *u)
{
	/* room for the longest path, "/v3/lease/keepalive" */
	return u && url_len(u) <= URL_MAX - 64 &&
	       (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
}

static int set_endpoints(struct rdv_etcd *e, const char *const *eps, size_t n)
{
	if (!n || !(e->eps = calloc(n, sizeof(*e->eps))))
		return n ? -ENOMEM : -EINVAL;
	for (e->n = 0; e->n < n; e->n++) {
		const char *u = eps[e->n];

		if (!rdv_etcd_url_ok(u))
			return -EINVAL;
		if (!(e->eps[e->n] = strndup(u, url_len(u))))
			return -ENOMEM;
	}
	return 0;
}

/* The options every request shares; TLS files where given. */
static int set_options(struct rdv_etcd *e, int timeout_ms, const char *ca, const char *cert,
		       const char *key)
{
	CURL *c = e->curl;
	struct curl_slist *h;

	/* "Expect:" off: curl would wait for a 100 Continue before a body
	 * over 1 KiB, which etcd's gateway never sends. */
	if (!(h = curl_slist_append(NULL, "Content-Type: application/json")))
		return -ENOMEM;
	e->hdrs = h;
	if (!(h = curl_slist_append(e->hdrs, "Expect:")))
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->hdrs);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	/* No SIGALRM for the resolver's timeout: we live in a daemon. */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->curl_err);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "pilot/" PACKAGE_VERSION);
	if ((ca && curl_easy_setopt(c, CURLOPT_CAINFO, ca) != CURLE_OK) ||
	    (cert && curl_easy_setopt(c, CURLOPT_SSLCERT, cert) != CURLE_OK) ||
	    (key && curl_easy_setopt(c, CURLOPT_SSLKEY, key) != CURLE_OK))
		return -EINVAL;
	return 0;
}

struct rdv_etcd *rdv_etcd_open(const char *const *endpoints, size_t n, int timeout_ms,
			       const char *ca, const char *cert, const char *key)
{
	struct rdv_etcd *e = calloc(1, sizeof(*e));
	int rc = -ENOMEM;

	if (!e)
		goto fail;
	if (timeout_ms <= 0 || (rc = set_endpoints(e, endpoints, n)) < 0)
		goto fail;
	rc = -ENOMEM;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	if (!(e->curl = curl_easy_init())) {
		curl_global_cleanup();
		goto fail;
	}
	if ((rc = set_options(e, timeout_ms, ca, cert, key)) < 0)
		goto fail;
	e->timeout_ms = timeout_ms;
	return e;
fail:
	rdv_etcd_close(e);
	errno = timeout_ms <= 0 ? EINVAL : -rc;
	return NULL;
}

const char *rdv_etcd_last_error(const struct rdv_etcd *e)
{
	return e->err;
}

const char *rdv_etcd_endpoint(const struct rdv_etcd *e)
{
	return e->eps[e->cur];
}

size_t rdv_etcd_prefix_end(const void *prefix, size_t plen, uint8_t *out)
{
	const uint8_t *p = prefix;

	while (plen && p[plen - 1] == 0xff)
		plen--;
	if (!plen) {
		out[0] = 0;
		return 1;
	}
	memcpy(out, p, plen);
	out[plen - 1]++;
	return plen;
}

/* Start a request document; the caller adds members and calls doc_send(). */
static int doc_begin(struct rdv_etcd *e, struct json_gen *j)
{
	if (json_gen_init(j) < 0) {
		set_err(e, "out of memory");
		return -ENOMEM;
	}
	jg_map_open(j);
	return 0;
}

/* Close the document in \p j, send it to \p path and free it.  \retval 0
 * with *out, or -errno. */
static int doc_send(struct rdv_etcd *e, const char *path, struct json_gen *j, yajl_val *out)
{
	int rc;

	jg_map_close(j);
	rc = request(e, path, j, out);
	json_gen_free(j);
	return rc;
}

int rdv_etcd_range_page(struct rdv_etcd *e, const void *key, size_t klen, const void *end,
			size_t elen, int64_t rev, int64_t limit, rdv_etcd_kv_cb cb, void *arg,
			int *more, int64_t *hdr_rev)
{
	struct json_gen j;
	yajl_val v, m;
	int64_t r;
	int rc;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	krange(&j, key, klen, end, elen);
	if (rev)
		ki64(&j, "revision", rev);
	if (limit > 0)
		ki64(&j, "limit", limit);
	if ((rc = doc_send(e, "/v3/kv/range", &j, &v)) < 0)
		return rc;
	if ((rc = header_rev(e, v, &r)) == 0 && (rc = kv_walk(e, v, cb, arg)) == 0) {
		if (hdr_rev)
			*hdr_rev = r;
		if (more)
			*more = (m = json_get(v, "more")) && YAJL_IS_TRUE(m);
	}
	yajl_tree_free(v);
	return rc;
}

int rdv_etcd_range(struct rdv_etcd *e, const void *key, size_t klen, const void *end, size_t elen,
		   int64_t rev, rdv_etcd_kv_cb cb, void *arg, int64_t *hdr_rev)
{
	return rdv_etcd_range_page(e, key, klen, end, elen, rev, 0, cb, arg, NULL, hdr_rev);
}

int rdv_etcd_range_prefix(struct rdv_etcd *e, const void *prefix, size_t plen, int64_t rev,
			  rdv_etcd_kv_cb cb, void *arg, int64_t *hdr_rev)
{
	uint8_t *end = malloc(plen ? plen : 1);
	size_t elen;
	int rc;

	if (!end)
		return -ENOMEM;
	elen = rdv_etcd_prefix_end(prefix, plen, end);
	/* Every key: from "\0" (etcd refuses an empty key) to "\0", the end. */
	rc = rdv_etcd_range(e, plen ? prefix : "", plen ? plen : 1, end, elen, rev, cb, arg,
			    hdr_rev);
	free(end);
	return rc;
}

int rdv_etcd_put(struct rdv_etcd *e, const void *key, size_t klen, const void *val, size_t vlen,
		 int64_t lease, int64_t *hdr_rev)
{
	struct json_gen j;
	yajl_val v;
	int rc;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	kbytes(&j, "key", key, klen);
	kbytes(&j, "value", val, vlen);
	if (lease)
		ki64(&j, "lease", lease);
	if ((rc = doc_send(e, "/v3/kv/put", &j, &v)) < 0)
		return rc;
	rc = header_rev(e, v, hdr_rev);
	yajl_tree_free(v);
	return rc;
}

int rdv_etcd_delete(struct rdv_etcd *e, const void *key, size_t klen, const void *end, size_t elen,
		    int64_t *deleted, int64_t *hdr_rev)
{
	struct json_gen j;
	yajl_val v;
	int64_t n;
	int rc;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	krange(&j, key, klen, end, elen);
	if ((rc = doc_send(e, "/v3/kv/deleterange", &j, &v)) < 0)
		return rc;
	if ((rc = header_rev(e, v, hdr_rev)) == 0 && get_i64(v, "deleted", &n) < 0) {
		set_err(e, "answer with a bad deleted count");
		rc = -EPROTO;
	}
	if (rc == 0 && deleted)
		*deleted = n;
	yajl_tree_free(v);
	return rc;
}

static const char *const target_names[] = {"VERSION", "CREATE", "MOD", "VALUE"};
static const char *const target_fields[] = {"version", "create_revision", "mod_revision", "value"};
static const char *const result_names[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};

static int gen_cmp(struct json_gen *j, const struct rdv_etcd_cmp *c)
{
	if ((unsigned)c->target >= nitems(target_names) ||
	    (unsigned)c->result >= nitems(result_names))
		return -EINVAL;
	jg_map_open(j);
	krange(j, c->key, c->klen, c->end, c->elen);
	jg_kstr(j, "target", target_names[c->target]);
	jg_kstr(j, "result", result_names[c->result]);
	if (c->target == RDV_ETCD_VALUE)
		kbytes(j, "value", c->val, c->vlen);
	else
		ki64(j, target_fields[c->target], c->num);
	jg_map_close(j);
	return 0;
}

static int gen_op(struct json_gen *j, const struct rdv_etcd_op *o)
{
	jg_map_open(j);
	switch (o->kind) {
	case RDV_ETCD_OP_PUT:
		jg_key(j, "request_put");
		jg_map_open(j);
		kbytes(j, "key", o->key, o->klen);
		kbytes(j, "value", o->val, o->vlen);
		if (o->lease)
			ki64(j, "lease", o->lease);
		break;
	case RDV_ETCD_OP_DELETE:
		jg_key(j, "request_delete_range");
		jg_map_open(j);
		krange(j, o->key, o->klen, o->end, o->elen);
		break;
	case RDV_ETCD_OP_RANGE:
		jg_key(j, "request_range");
		jg_map_open(j);
		krange(j, o->key, o->klen, o->end, o->elen);
		break;
	default:
		return -EINVAL;
	}
	jg_map_close(j);
	jg_map_close(j);
	return 0;
}

static int gen_ops(struct json_gen *j, const char *k, const struct rdv_etcd_op *ops, size_t n)
{
	int rc = 0;

	jg_key(j, k);
	jg_array_open(j);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = gen_op(j, &ops[i]);
	jg_array_close(j);
	return rc;
}

static int gen_txn(struct json_gen *j, const struct rdv_etcd_txn *t)
{
	int rc = 0;

	jg_key(j, "compare");
	jg_array_open(j);
	for (size_t i = 0; i < t->ncmp && rc == 0; i++)
		rc = gen_cmp(j, &t->cmp[i]);
	jg_array_close(j);
	if (rc == 0)
		rc = gen_ops(j, "success", t->success, t->nsuccess);
	if (rc == 0)
		rc = gen_ops(j, "failure", t->failure, t->nfailure);
	return rc;
}

/* The kvs of every response_range in the answer \p v, to t->cb. */
static int txn_ranges(struct rdv_etcd *e, yajl_val v, const struct rdv_etcd_txn *t)
{
	yajl_val rs = json_get(v, "responses");
	int rc;

	if (!rs || !t->cb)
		return 0;
	if (!YAJL_IS_ARRAY(rs)) {
		set_err(e, "answer with malformed responses");
		return -EPROTO;
	}
	for (size_t i = 0; i < rs->u.array.len; i++) {
		yajl_val r = json_get(rs->u.array.values[i], "response_range");
		if (r && (rc = kv_walk(e, r, t->cb, t->arg)) != 0)
			return rc;
	}
	return 0;
}

int rdv_etcd_txn(struct rdv_etcd *e, const struct rdv_etcd_txn *t, int *succeeded, int64_t *hdr_rev)
{
	struct json_gen j;
	yajl_val v;
	int64_t r;
	int ok = 0, rc;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	if ((rc = gen_txn(&j, t)) < 0) {
		json_gen_free(&j);
		set_err(e, "txn: unknown compare target, result or op");
		return rc;
	}
	if ((rc = doc_send(e, "/v3/kv/txn", &j, &v)) < 0)
		return rc;
	if (json_get(v, "succeeded") && json_get_bool(v, "succeeded", &ok) < 0) {
		set_err(e, "answer with a bad succeeded");
		rc = -EPROTO;
	}
	if (rc == 0 && (rc = header_rev(e, v, &r)) == 0 && (rc = txn_ranges(e, v, t)) == 0) {
		if (succeeded)
			*succeeded = ok;
		if (hdr_rev)
			*hdr_rev = r;
	}
	yajl_tree_free(v);
	return rc;
}

int rdv_etcd_compact(struct rdv_etcd *e, int64_t rev)
{
	struct json_gen j;
	yajl_val v;
	int rc;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	ki64(&j, "revision", rev);
	if ((rc = doc_send(e, "/v3/kv/compaction", &j, &v)) < 0)
		return rc;
	yajl_tree_free(v);
	return 0;
}

/* A lease call with {"ID": id} (and "TTL" when ttl > 0).  \retval 0 with
 * *out, or -errno. */
static int lease_call(struct rdv_etcd *e, const char *path, int64_t id, int64_t ttl, yajl_val *out)
{
	struct json_gen j;
	int rc;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	if (id)
		ki64(&j, "ID", id);
	if (ttl > 0)
		ki64(&j, "TTL", ttl);
	return doc_send(e, path, &j, out);
}

int rdv_etcd_lease_grant(struct rdv_etcd *e, int64_t ttl, int64_t *id, int64_t *granted)
{
	int64_t i, t;
	yajl_val v;
	int rc;

	if (ttl <= 0) {
		set_err(e, "lease grant: TTL %" PRId64 " is not positive", ttl);
		return -EINVAL;
	}
	if ((rc = lease_call(e, "/v3/lease/grant", 0, ttl, &v)) < 0)
		return rc;
	if (get_i64(v, "ID", &i) < 0 || get_i64(v, "TTL", &t) < 0 || i == 0) {
		set_err(e, "lease grant: answer without a lease");
		rc = -EPROTO;
	} else {
		*id = i;
		if (granted)
			*granted = t;
	}
	yajl_tree_free(v);
	return rc;
}

int rdv_etcd_lease_keepalive(struct rdv_etcd *e, int64_t id, int64_t *ttl)
{
	int64_t t;
	yajl_val v;
	int rc;

	if ((rc = lease_call(e, "/v3/lease/keepalive", id, 0, &v)) < 0)
		return rc;
	/* A stream of one message: {"result": {...}}; a lease that is gone
	 * comes back as a TTL of 0 (left out), not as an error. */
	if (get_i64(json_get(v, "result"), "TTL", &t) < 0) {
		set_err(e, "lease keepalive: answer with a bad TTL");
		rc = -EPROTO;
	} else if (t <= 0) {
		set_err(e, "lease %" PRId64 " not found", id);
		rc = -ENOENT;
	} else if (ttl) {
		*ttl = t;
	}
	yajl_tree_free(v);
	return rc;
}

int rdv_etcd_lease_revoke(struct rdv_etcd *e, int64_t id)
{
	yajl_val v;
	int rc;

	if ((rc = lease_call(e, "/v3/lease/revoke", id, 0, &v)) < 0)
		return rc;
	yajl_tree_free(v);
	return 0;
}

/* ------------------------------------------------------------ watch */

/* A watch through the gateway is one long answer: a stream of JSON
 * objects, {"result": WatchResponse} each.  The write callback cuts
 * complete objects off the front of the buffer as they arrive and hands
 * their events on; when the caller has what it waited for, the callback
 * ends the transfer (a write error we then treat as success). */
struct watch_ctx {
	struct rdv_etcd *e;
	rdv_etcd_ev_cb cb;
	void *arg;
	int rc;		     /* the first failure, or the callback's stop value */
	int stop;	     /* 1: end the transfer */
	int created;	     /* the watch was accepted */
	int64_t compact_rev; /* etcd cancelled: history compacted to this */
};

/* Length of the first complete top-level object in b[0..n), or 0. */
static size_t json_object_len(const char *b, size_t n)
{
	int depth = 0, str = 0, esc = 0;

	for (size_t i = 0; i < n; i++) {
		char c = b[i];
		if (str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				str = 0;
		} else if (c == '"') {
			str = 1;
		} else if (c == '{') {
			depth++;
		} else if (c == '}' && --depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

static int watch_event(struct watch_ctx *w, yajl_val ev)
{
	struct rdv_etcd_event x;
	const char *type = NULL;
	int rc;

	memset(&x, 0, sizeof(x));
	if (!YAJL_IS_OBJECT(ev))
		return -EPROTO;
	json_get_str(ev, "type", &type);
	x.del = type && strcmp(type, "DELETE") == 0;
	if ((rc = kv_read(w->e, json_get(ev, "kv"), &x.kv)) < 0)
		return rc;
	return w->cb(w->arg, &x);
}

/* One WatchResponse (or an error object).  \retval 0 to go on. */
static int watch_message(struct watch_ctx *w, yajl_val v)
{
	yajl_val res = json_get(v, "result"), evs, t;
	int rc;

	if (!res) {
		rc = answer_error(w->e, 200, v);
		return rc < 0 ? rc : -EPROTO;
	}
	if ((t = json_get(res, "created")) && YAJL_IS_TRUE(t))
		w->created = 1;
	if (get_i64(res, "compact_revision", &w->compact_rev) < 0)
		return -EPROTO;
	if (w->compact_rev > 0) {
		set_err(w->e, "watch: history compacted up to revision %lld",
			(long long)w->compact_rev);
		return -ESTALE;
	}
	if ((t = json_get(res, "canceled")) && YAJL_IS_TRUE(t)) {
		const char *why = NULL;
		json_get_str(res, "cancel_reason", &why);
		set_err(w->e, "watch cancelled: %s", why ? why : "no reason given");
		return -EPROTO;
	}
	if (!(evs = json_get(res, "events")))
		return 0;
	if (!YAJL_IS_ARRAY(evs))
		return -EPROTO;
	for (size_t i = 0; i < evs->u.array.len; i++)
		if ((rc = watch_event(w, evs->u.array.values[i])) != 0)
			return rc;
	/* etcd never splits one revision's events across answers: the end
	 * of an answer is a place where the caller may commit. */
	return w->cb(w->arg, NULL);
}

static size_t on_watch_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct watch_ctx *w = arg;
	struct rdv_etcd *e = w->e;
	size_t n = size * nmemb, len;

	if (on_write(p, size, nmemb, e) != n)
		return 0;
	while ((len = json_object_len(e->buf, e->len)) > 0) {
		char perr[128] = "";
		yajl_val v;
		size_t skip = 0;

		while (skip < len && e->buf[skip] != '{')
			skip++;
		v = json_parse(e->buf + skip, len - skip, 0, perr, sizeof(perr));
		if (!v) {
			set_err(e, "watch: unreadable answer: %s", perr);
			w->rc = -EPROTO;
			return 0;
		}
		w->rc = watch_message(w, v);
		yajl_tree_free(v);
		memmove(e->buf, e->buf + len, e->len - len + 1);
		e->len -= len;
		if (w->rc != 0) {
			w->stop = 1;
			return 0; /* ends the transfer */
		}
	}
	return n;
}

int rdv_etcd_watch(struct rdv_etcd *e, const void *key, size_t klen, const void *end, size_t elen,
		   int64_t start_rev, int timeout_ms, rdv_etcd_ev_cb cb, void *arg,
		   int64_t *compact_rev)
{
	struct watch_ctx w = {.e = e, .cb = cb, .arg = arg};
	struct json_gen j;
	const char *body;
	size_t len, first = e->cur;
	CURLcode cc = CURLE_OK;
	long status = 0;
	int rc = -EIO;

	if ((rc = doc_begin(e, &j)) < 0)
		return rc;
	jg_key(&j, "create_request");
	jg_map_open(&j);
	krange(&j, key, klen, end, elen);
	ki64(&j, "start_revision", start_rev);
	jg_map_close(&j);
	jg_map_close(&j);
	if (json_gen_finish(&j, &body, &len) < 0) {
		json_gen_free(&j);
		return -ENOMEM;
	}
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_watch_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	for (size_t k = 0; k < e->n; k++) {
		size_t i = (first + k) % e->n;
		char url[URL_MAX];

		snprintf(url, sizeof(url), "%s/v3/watch", e->eps[i]);
		e->len = 0;
		e->overflow = 0;
		e->curl_err[0] = '\0';
		w.rc = 0;
		w.stop = 0;
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		cc = curl_easy_perform(e->curl);
		if (w.stop) {
			e->cur = i;
			rc = w.rc; /* the callback's stop value or the stream's error */
			break;
		}
		if (e->overflow) {
			set_err(e, "%s: watch answer larger than %u bytes", e->eps[i], RESP_MAX);
			rc = -EFBIG;
			break;
		}
		rc = httpc_curl_errno(cc);
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
		if (rc == -ETIMEDOUT && w.created) {
			/* The stream ran its time without the caller's stop. */
			e->cur = i;
			set_err(e, "%s: watch: no answer within %d ms", e->eps[i], timeout_ms);
			break;
		}
		if (rc == 0) {
			set_err(e, "%s: watch ended (HTTP %ld)", e->eps[i], status);
			rc = -EPROTO;
			break;
		}
		set_err(e, "%s: %s", e->eps[i],
			e->curl_err[0] ? e->curl_err : curl_easy_strerror(cc));
		if (!try_next(rc))
			break;
	}
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
	json_gen_free(&j);
	if (compact_rev)
		*compact_rev = w.compact_rev;
	if (rc > 0)
		e->err[0] = '\0'; /* the caller's stop */
	return rc;
}
