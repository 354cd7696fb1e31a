/* rdv_jwks.c - the key sets of oidc and spiffe networks, fetched outside
 * any request: OpenID Connect discovery (the issuer's
 * /.well-known/openid-configuration, whose issuer must be the configured
 * one exactly) then its jwks_uri, or a SPIFFE bundle endpoint
 * (https_web).  HTTPS only, through httpc (libcurl driven by our loop),
 * bodies capped at 64 KiB, redirects followed only on the same host (at
 * most 3).  A good set is stored (net_jwks) and stays fresh for its
 * max-age bounded to [5 min, 24 h] (1 h without one); a failed fetch keeps
 * the last good set and tries again later.  A token whose kid the set
 * lacks asks for a refresh (keys_want), at most one per 30 s per network:
 * key rollover works, and unknown kids cannot make us hammer the provider.
 * Requests parked on a fetch are answered when it ends (rdv_http_wake).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "httpc.h"
#include "json.h"
#include "jwt.h"
#include "log.h"
#include "rdv.h"
#include "rdv_jwks.h"
#include "util.h"

#define FETCH_TIMEOUT_MS 10000
#define REFETCH_MIN_MS (30 * 1000)	  /* one refresh per network per 30 s at most */
#define RETRY_MS (60 * 1000)		  /* after a failed fetch */
#define FRESH_DEFAULT_MS (3600 * 1000ull) /* without a max-age */
#define FRESH_MIN_MS (300 * 1000ull)
#define FRESH_MAX_MS (86400 * 1000ull)
#define REDIRECTS_MAX 3
#define SCAN_S 5 /* how often stale sets are looked for */

enum { ST_DISCOVERY, ST_KEYS };

struct rdv_fetch {
	struct rdv_fetch *next;
	struct rdv_jwks *j;
	uint16_t net;
	int spiffe;
	int stage;
	int redirects;
	char issuer[256];
	char url[512];
	char *ca; /* PEM roots for this provider, or NULL (the system's) */
	struct httpc_req *req;
	uint64_t last_ms;  /* last attempt began */
	uint64_t retry_ms; /* no scheduled fetch before */
	int due;	   /* on_scan: to start once its read transaction ends */
};

struct rdv_jwks {
	struct rdv *r;
	struct httpc *http;
	struct event *scan;
	struct rdv_fetch *fetches;
	uint64_t fetched, failed; /* metrics */
};

static struct rdv_fetch *find(struct rdv_jwks *j, uint16_t net, int create)
{
	struct rdv_fetch *f;

	for (f = j->fetches; f; f = f->next)
		if (f->net == net)
			return f;
	if (!create || !(f = calloc(1, sizeof(*f))))
		return NULL;
	f->j = j;
	f->net = net;
	f->next = j->fetches;
	j->fetches = f;
	return f;
}

static void fetch_done(struct rdv_fetch *f, int ok)
{
	f->req = NULL;
	if (ok) {
		f->j->fetched++;
	} else {
		f->j->failed++;
		f->retry_ms = now_real_ms() + RETRY_MS;
	}
	rdv_http_wake(f->j->r, f->net);
}

static const char *host_of(const char *url, char *out, size_t len)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, "/?#");
	snprintf(out, len, "%.*s", (int)n, h);
	return out;
}

static int get(struct rdv_fetch *f, const char *url);

/* A 3xx: follow only to https on the same host, a few times. */
static int redirect(struct rdv_fetch *f, const struct httpc_info *info)
{
	char a[256], b[256];

	if (!info->location[0] || strncasecmp(info->location, "https://", 8) != 0 ||
	    strcasecmp(host_of(f->url, a, sizeof(a)), host_of(info->location, b, sizeof(b))) != 0 ||
	    ++f->redirects > REDIRECTS_MAX) {
		log_warnx("network %u: %s redirects to '%.200s': refused (only https on the same "
			  "host, at most %d times)",
			  f->net, f->url, info->location, REDIRECTS_MAX);
		return -EPERM;
	}
	return get(f, info->location);
}

static uint64_t fresh_for(const struct httpc_info *info, yajl_val doc)
{
	uint64_t ms = FRESH_DEFAULT_MS;
	uint64_t hint;

	if (info->max_age >= 0)
		ms = (uint64_t)info->max_age * 1000;
	/* A SPIFFE bundle says how often to look again. */
	if (json_get_u64(doc, "spiffe_refresh_hint", &hint) == 0)
		ms = hint < FRESH_MAX_MS / 1000 ? hint * 1000 : FRESH_MAX_MS;
	return MAX(FRESH_MIN_MS, MIN(ms, FRESH_MAX_MS));
}

static int keep_keys(struct rdv_fetch *f, const char *body, size_t len,
		     const struct httpc_info *info)
{
	struct rdv_jwks_rec rec = {0};
	struct store_txn t;
	struct jwks keys;
	char err[160];
	yajl_val doc;
	int rc, nkeys;

	if (jwks_parse(body, len, f->spiffe ? JWKS_SPIFFE : JWKS_OIDC, &keys, err, sizeof(err)) <
	    0) {
		log_warnx("network %u: key set from %s refused: %s (the last good set stays)",
			  f->net, f->url, err);
		return -EINVAL;
	}
	nkeys = (int)keys.n;
	jwks_free(&keys);
	if (nkeys == 0) {
		log_warnx("network %u: key set from %s holds no usable key (the last good set "
			  "stays)",
			  f->net, f->url);
		return -EINVAL;
	}
	/* Only a SPIFFE bundle says more than its keys (its refresh hint). */
	doc = f->spiffe ? json_parse(body, len, 0, err, sizeof(err)) : NULL;
	rec.fetched_ms = now_real_ms();
	rec.fresh_until_ms = rec.fetched_ms + fresh_for(info, doc);
	if (doc)
		yajl_tree_free(doc);
	rec.json = (char *)body;
	rec.len = len;
	store_txn_begin(f->j->r->db.st, &t, 0);
	rdv_net_jwks_put(&t, &f->j->r->db, f->net, &rec);
	if ((rc = store_txn_commit(&t)) < 0) {
		log_warnx("network %u: storing its key set: %s", f->net, strerror(-rc));
		return rc;
	}
	log_info("network %u: %d usable keys from %s, fresh for %llu s", f->net, nkeys, f->url,
		 (unsigned long long)((rec.fresh_until_ms - rec.fetched_ms) / 1000));
	return 0;
}

/* The discovery document: its issuer must be ours exactly (a provider
 * answering for another issuer would make tokens of that one pass). */
static int discovered(struct rdv_fetch *f, const char *body, size_t len)
{
	char err[128];
	const char *iss, *uri;
	yajl_val doc = json_parse(body, len, 0, err, sizeof(err));
	int rc = -EINVAL;

	if (!doc || !YAJL_IS_OBJECT(doc)) {
		log_warnx("network %u: discovery document from %s is not JSON: %s", f->net, f->url,
			  doc ? "not an object" : err);
	} else if (json_get_str(doc, "issuer", &iss) < 0 || strcmp(iss, f->issuer) != 0) {
		log_warnx("network %u: discovery at %s names issuer '%.200s', not '%s': refused",
			  f->net, f->url, iss ? iss : "", f->issuer);
	} else if (json_get_str(doc, "jwks_uri", &uri) < 0 ||
		   strncasecmp(uri, "https://", 8) != 0 || strlen(uri) >= sizeof(f->url)) {
		log_warnx("network %u: discovery at %s has no https jwks_uri", f->net, f->url);
	} else {
		f->stage = ST_KEYS;
		f->redirects = 0;
		rc = get(f, uri);
	}
	if (doc)
		yajl_tree_free(doc);
	return rc;
}

static void on_get(void *arg, int err, long status, const char *body, size_t len,
		   const char *errmsg, const struct httpc_info *info)
{
	struct rdv_fetch *f = arg;
	int rc;

	f->req = NULL;
	if (err < 0) {
		log_warnx("network %u: fetching %s: %s", f->net, f->url,
			  errmsg ? errmsg : "failed");
		fetch_done(f, 0);
		return;
	}
	if (status >= 300 && status < 400) {
		if (redirect(f, info) < 0)
			fetch_done(f, 0);
		return;
	}
	if (status != 200) {
		log_warnx("network %u: %s answered HTTP %ld", f->net, f->url, status);
		fetch_done(f, 0);
		return;
	}
	if (f->stage == ST_DISCOVERY) {
		if (discovered(f, body, len) < 0)
			fetch_done(f, 0);
		return;
	}
	rc = keep_keys(f, body, len, info);
	fetch_done(f, rc == 0);
}

static int get(struct rdv_fetch *f, const char *url)
{
	struct httpc_opts o = {.ca_pem = f->ca,
			       .timeout_ms = FETCH_TIMEOUT_MS,
			       .connect_timeout_ms = FETCH_TIMEOUT_MS / 2,
			       .max_body = JWKS_MAX};

	if (url != f->url)
		snprintf(f->url, sizeof(f->url), "%s", url);
	f->req = httpc_get(f->j->http, f->url, &o, on_get, f);
	if (!f->req) {
		log_warnx("network %u: cannot fetch %s", f->net, f->url);
		return -EINVAL;
	}
	return 0;
}

/* Begin a fetch for \p f's network.  \retval 0 (running) or -errno. */
static int start(struct rdv_fetch *f)
{
	struct rdv_idp_source src;
	char url[600];
	size_t n;
	int rc = rdv_idp_source(&f->j->r->db, f->net, &src);

	if (rc < 0)
		return rc; /* not an oidc or spiffe-endpoint network (any more) */
	free(f->ca);
	f->ca = src.ca;
	f->spiffe = src.spiffe;
	f->redirects = 0;
	f->last_ms = now_real_ms();
	if (src.spiffe) {
		f->stage = ST_KEYS;
		rc = get(f, src.url);
	} else {
		/* OpenID Connect Discovery 1.0, 4: the issuer without its
		 * trailing '/', then the well-known path. */
		snprintf(f->issuer, sizeof(f->issuer), "%s", src.url);
		n = strlen(src.url);
		while (n > 8 && src.url[n - 1] == '/')
			n--;
		snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration", (int)n,
			 src.url);
		f->stage = ST_DISCOVERY;
		rc = get(f, url);
	}
	if (rc < 0)
		f->retry_ms = f->last_ms + RETRY_MS;
	return rc;
}

/* db->keys_want: a request's token names a key the set lacks. */
static int keys_want(void *arg, uint16_t net)
{
	struct rdv_jwks *j = arg;
	struct rdv_fetch *f = find(j, net, 1);
	uint64_t now = now_real_ms();

	if (!f)
		return 0;
	if (f->req)
		return 1; /* one is running: wait for it */
	if (f->last_ms && now - f->last_ms < REFETCH_MIN_MS)
		return 0;
	return start(f) == 0;
}

struct scan {
	struct rdv_jwks *j;
	uint16_t nets[256];
	size_t n;
};

static int scan_cb(void *arg, const struct rdv_network *n)
{
	struct scan *s = arg;

	if ((n->rule == RDV_JOIN_OIDC || n->rule == RDV_JOIN_SPIFFE) &&
	    s->n < sizeof(s->nets) / sizeof(s->nets[0]))
		s->nets[s->n++] = n->id;
	return 0;
}

static void on_scan(evutil_socket_t fd, short what, void *arg)
{
	struct rdv_jwks *j = arg;
	struct scan s = {.j = j};
	struct store_txn t;
	uint64_t now = now_real_ms();

	(void)fd;
	(void)what;
	store_txn_begin(j->r->db.st, &t, 1);
	rdv_net_iter(&t, &j->r->db, scan_cb, &s);
	for (size_t i = 0; i < s.n; i++) {
		struct rdv_fetch *f = find(j, s.nets[i], 1);
		uint64_t until;
		int rc = rdv_net_jwks_fresh_until(&t, &j->r->db, s.nets[i], &until);
		int stale = rc == -ENOENT || (rc == 0 && until <= now);
		if (f && stale && !f->req && now >= f->retry_ms &&
		    (!f->last_ms || now - f->last_ms >= REFETCH_MIN_MS))
			f->due = 1;
	}
	store_txn_abort(&t);
	for (struct rdv_fetch *f = j->fetches; f; f = f->next)
		if (f->due) {
			f->due = 0;
			start(f);
		}
}

int rdv_jwks_start(struct rdv *r)
{
	struct timeval tv = {SCAN_S, 0};
	struct rdv_jwks *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->r = r;
	j->http = httpc_new(r->base);
	j->scan = event_new(r->base, -1, EV_PERSIST, on_scan, j);
	if (!j->http || !j->scan || event_add(j->scan, &tv) < 0) {
		r->jwks = j;
		rdv_jwks_stop(r);
		return -ENOMEM;
	}
	r->jwks = j;
	r->db.keys_want = keys_want;
	r->db.keys_arg = j;
	on_scan(-1, 0, j); /* sets missing since we were down: now */
	return 0;
}

void rdv_jwks_stop(struct rdv *r)
{
	struct rdv_jwks *j = r->jwks;
	struct rdv_fetch *f, *next;

	if (!j)
		return;
	r->db.keys_want = NULL;
	httpc_free(j->http); /* cancels fetches without callbacks */
	if (j->scan)
		event_free(j->scan);
	for (f = j->fetches; f; f = next) {
		next = f->next;
		free(f->ca);
		free(f);
	}
	free(j);
	r->jwks = NULL;
}

void rdv_jwks_counts(const struct rdv *r, uint64_t *fetched, uint64_t *failed)
{
	*fetched = r->jwks ? r->jwks->fetched : 0;
	*failed = r->jwks ? r->jwks->failed : 0;
}
