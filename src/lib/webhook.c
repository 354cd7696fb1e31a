/* webhook.c - see webhook.h. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define K_URL "c.url"
#define K_SECRET "c.secret"
#define K_SEQ "s.seq"
#define K_BYTES "s.bytes"
#define K_DELIVERED "s.delivered"
#define K_DROPPED "s.dropped"
#define Q_PREFIX 'Q'

enum wh_state {
	WH_IDLE,     /* nothing in flight, no backoff (maybe an idle poll) */
	WH_INFLIGHT, /* one request out */
	WH_BACKOFF,  /* waiting to retry */
};

struct webhook {
	struct store *st;
	int db;
	struct event_base *base;
	struct httpc *http;
	struct webhook_opts o;
	char url[WEBHOOK_URL_MAX + 1];
	uint8_t *secret; /* sodium_malloc'd WEBHOOK_SECRET_MAX bytes */
	size_t secret_len;

	struct event *ev_timer; /* retry after backoff, or idle poll */
	struct event *ev_kick;	/* deferred attempt */
	enum wh_state state;
	struct httpc_req *req;
	uint64_t cur_seq, cur_event; /* what is in flight */

	uint32_t backoff_ms; /* next retry delay before jitter; 0: minimum */
	uint32_t last_delay_ms;
	uint32_t failures;
	uint64_t last_attempt_ms, next_attempt_ms, last_success_ms, last_error_ms;
	long last_status;
	char last_error[256];
};

/* ------------------------------------------------------------ helpers */

static uint64_t get_u64(struct store_txn *t, int db, const char *key)
{
	uint8_t b[8];

	if (store_get_fixed(t, db, key, strlen(key), b, sizeof(b)) != 0)
		return 0;
	return store_rd_be64(b);
}

static void put_u64(struct store_txn *t, int db, const char *key, uint64_t v)
{
	uint8_t b[8];

	store_be64(b, v);
	store_put(t, db, key, strlen(key), b, sizeof(b));
}

struct first_q {
	uint64_t seq;
	int found;
	uint8_t *val; /* malloc'd copy when wanted */
	size_t len;
	int want_val;
	int err;
};

static int first_q_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct first_q *f = arg;

	if (k->mv_size != 9)
		return 0; /* not ours: skip */
	f->seq = store_rd_be64((const uint8_t *)k->mv_data + 1);
	f->len = v->mv_size;
	if (f->want_val) {
		f->val = malloc(v->mv_size + 1);
		if (!f->val) {
			f->err = -ENOMEM;
			return 1;
		}
		memcpy(f->val, v->mv_data, v->mv_size);
		f->val[v->mv_size] = '\0';
	}
	f->found = 1;
	return 1;
}

/* The oldest queued entry. \retval 0 (f->found says if any) or -errno. */
static int first_q(struct webhook *w, struct store_txn *t, struct first_q *f)
{
	const uint8_t pfx = Q_PREFIX;
	int ret = store_iter_prefix(t, w->db, &pfx, 1, first_q_cb, f);

	return ret < 0 ? ret : f->err;
}

static void q_key(uint8_t key[9], uint64_t seq)
{
	key[0] = Q_PREFIX;
	store_be64(key + 1, seq);
}

static void set_error(struct webhook *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct webhook *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->last_error, sizeof(w->last_error), fmt, ap);
	va_end(ap);
	w->last_error_ms = now_real_ms();
}

/* The endpoint rule (see webhook.h), using curl's own URL parser so that
 * what we check is what curl will connect to. */
static int url_ok(const char *url)
{
	char *scheme = NULL, *host = NULL, *user = NULL;
	size_t n = url ? strlen(url) : 0;
	int ret = -EINVAL;
	CURLU *u;

	if (n == 0 || n > WEBHOOK_URL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] == 0x7f)
			return -EINVAL;
	if (!(u = curl_url()))
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	/* user:password@ in a URL ends up in logs and status output. */
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") == 0) {
		ret = 0;
	} else if (strcasecmp(scheme, "http") == 0) {
		/* Events in clear text only to this host. */
		if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
		    (strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == strlen(host)))
			ret = 0;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ret;
}

static void rfc3339_ms(char *out, size_t len, uint64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03uZ", buf, (unsigned)(ms % 1000));
}

/* ------------------------------------------------------------ engine */

static void attempt(struct webhook *w);

static void arm_timer(struct webhook *w, uint32_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(w->ev_timer, &tv);
}

/* Equal jitter: the delay is in [cur/2, cur] and cur doubles, so delays
 * never shrink while failures go on, and a fleet does not retry in step. */
static uint32_t next_delay(struct webhook *w)
{
	uint32_t cur = w->backoff_ms ? w->backoff_ms : w->o.backoff_min_ms;

	w->backoff_ms = cur >= w->o.backoff_max_ms / 2 ? w->o.backoff_max_ms : cur * 2;
	return cur / 2 + randombytes_uniform(cur / 2 + 1);
}

static void failed(struct webhook *w)
{
	uint32_t ms = next_delay(w);

	w->failures++;
	w->state = WH_BACKOFF;
	w->last_delay_ms = ms;
	w->next_attempt_ms = now_real_ms() + ms;
	arm_timer(w, ms);
	/* One line per failure would flood the journal for a receiver down
	 * for hours: log the first and then every 10th. */
	if (w->failures == 1 || w->failures % 10 == 0)
		log_warnx("webhook: delivery of event %" PRIu64 " failed (%s), attempt %" PRIu32
			  ", retrying in %" PRIu32 " ms",
			  w->cur_event, w->last_error, w->failures, ms);
}

/* A 2xx: the head of the outbox is delivered.  Delete it, unless it is no
 * longer there (cleared meanwhile). */
static int ack(struct webhook *w)
{
	uint8_t key[9];
	struct store_txn t;
	uint64_t bytes;
	MDB_val v;
	int ret;

	q_key(key, w->cur_seq);
	store_txn_begin(w->st, &t, 0);
	ret = store_get(&t, w->db, key, sizeof(key), &v);
	if (ret == -ENOENT) {
		store_txn_abort(&t);
		return 0;
	}
	if (ret == 0) {
		bytes = get_u64(&t, w->db, K_BYTES);
		bytes = bytes > v.mv_size - 8 ? bytes - (v.mv_size - 8) : 0;
		store_del(&t, w->db, key, sizeof(key));
		put_u64(&t, w->db, K_BYTES, bytes);
		put_u64(&t, w->db, K_DELIVERED, w->cur_event);
	}
	return store_txn_commit(&t);
}

static void on_done(void *arg, int err, long status, const char *body, size_t len,
		    const char *errmsg)
{
	struct webhook *w = arg;
	int ret;

	(void)body;
	(void)len;
	w->req = NULL;
	w->last_status = err == 0 ? status : 0;
	if (err == 0 && status >= 200 && status < 300) {
		ret = ack(w);
		if (ret == 0) {
			if (w->failures)
				log_info("webhook: delivering again after %" PRIu32 " failures",
					 w->failures);
			w->failures = 0;
			w->backoff_ms = 0;
			w->last_delay_ms = 0;
			w->last_success_ms = now_real_ms();
			w->next_attempt_ms = 0;
			w->state = WH_IDLE;
			event_active(w->ev_kick, 0, 0);
			return;
		}
		/* Not deleted: it goes again (at least once). */
		set_error(w, "delivered, but the outbox update failed: %s", strerror(-ret));
	} else if (err == 0) {
		set_error(w, "HTTP %ld", status);
	} else {
		set_error(w, "%s", errmsg ? errmsg : strerror(-err));
	}
	failed(w);
}

static void attempt(struct webhook *w)
{
	char hdr_id[64], hdr_sig[32 + 2 * crypto_auth_hmacsha256_BYTES];
	const char *headers[3] = {hdr_id, NULL, NULL};
	struct httpc_opts ho = {0};
	struct first_q f = {.want_val = 1};
	struct store_txn t;
	const char *body;
	uint8_t key[9];
	size_t blen;
	int ret;

	if (!w->url[0] || w->state != WH_IDLE)
		return;
	evtimer_del(w->ev_timer);
	store_txn_begin(w->st, &t, 1);
	ret = first_q(w, &t, &f);
	store_txn_abort(&t);
	if (ret < 0 || !f.found || f.len < 8) {
		if (ret < 0) {
			set_error(w, "reading the outbox: %s", strerror(-ret));
		} else if (f.found) {
			/* Cannot happen short of an edit: do not block the queue. */
			log_warnx("webhook: dropping malformed outbox entry %" PRIu64, f.seq);
			q_key(key, f.seq);
			store_txn_begin(w->st, &t, 0);
			store_del(&t, w->db, key, sizeof(key));
			store_txn_commit(&t);
			free(f.val);
			event_active(w->ev_kick, 0, 0);
			return;
		}
		free(f.val);
		w->next_attempt_ms = 0;
		arm_timer(w, ret < 0 ? w->o.backoff_max_ms : WEBHOOK_IDLE_POLL_MS);
		return;
	}
	w->cur_seq = f.seq;
	w->cur_event = store_rd_be64(f.val);
	body = (const char *)f.val + 8;
	blen = f.len - 8;
	snprintf(hdr_id, sizeof(hdr_id), "X-Pilot-Event-Id: %" PRIu64, w->cur_event);
	if (w->secret_len) {
		crypto_auth_hmacsha256_state st;
		uint8_t mac[crypto_auth_hmacsha256_BYTES];
		int n = snprintf(hdr_sig, sizeof(hdr_sig), "X-Pilot-Signature: sha256=");

		crypto_auth_hmacsha256_init(&st, w->secret, w->secret_len);
		crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, blen);
		crypto_auth_hmacsha256_final(&st, mac);
		sodium_memzero(&st, sizeof(st));
		hex_encode(hdr_sig + n, sizeof(hdr_sig) - (size_t)n, mac, sizeof(mac));
		headers[1] = hdr_sig;
	}
	ho.timeout_ms = w->o.timeout_ms;
	ho.connect_timeout_ms = MIN(w->o.timeout_ms, 5000u);
	if (strncasecmp(w->url, "https://", 8) == 0)
		ho.cafile = w->o.cafile;
	w->last_attempt_ms = now_real_ms();
	w->next_attempt_ms = 0;
	w->state = WH_INFLIGHT;
	w->req = httpc_post(w->http, w->url, headers, body, blen, &ho, on_done, NULL, w);
	free(f.val);
	if (!w->req) {
		set_error(w, "cannot start a request to the endpoint");
		failed(w);
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;

	(void)fd;
	(void)what;
	if (w->state == WH_IDLE)
		attempt(w);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;

	(void)fd;
	(void)what;
	if (w->state == WH_BACKOFF)
		w->state = WH_IDLE;
	attempt(w);
}

void webhook_kick(struct webhook *w)
{
	if (w && w->url[0] && w->state == WH_IDLE)
		event_active(w->ev_kick, 0, 0);
}

/* Stop what is in flight and forget the backoff (new endpoint). */
static void reset_engine(struct webhook *w)
{
	if (w->req)
		httpc_cancel(w->req);
	w->req = NULL;
	evtimer_del(w->ev_timer);
	w->state = WH_IDLE;
	w->failures = 0;
	w->backoff_ms = 0;
	w->last_delay_ms = 0;
	w->next_attempt_ms = 0;
}

/* ------------------------------------------------------------ API */

int webhook_new(struct store *st, const char *db_name, struct event_base *base, struct httpc *http,
		const struct webhook_opts *o, struct webhook **out)
{
	struct store_txn t;
	struct webhook *w;
	MDB_val v;
	int ret;

	*out = NULL;
	if (sodium_init() < 0)
		return -EIO;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->st = st;
	w->base = base;
	w->http = http;
	if (o)
		w->o = *o;
	if (!w->o.capacity)
		w->o.capacity = WEBHOOK_CAPACITY_DEFAULT;
	if (!w->o.capacity_bytes)
		w->o.capacity_bytes = WEBHOOK_CAPACITY_BYTES_DEFAULT;
	if (!w->o.backoff_min_ms)
		w->o.backoff_min_ms = WEBHOOK_BACKOFF_MIN_MS;
	if (!w->o.backoff_max_ms)
		w->o.backoff_max_ms = WEBHOOK_BACKOFF_MAX_MS;
	if (w->o.backoff_max_ms < w->o.backoff_min_ms)
		w->o.backoff_max_ms = w->o.backoff_min_ms;
	if (!w->o.timeout_ms)
		w->o.timeout_ms = WEBHOOK_TIMEOUT_MS;
	w->o.cafile = NULL; /* copied below: the caller's string may not live on */
	if (o && o->cafile && !(w->o.cafile = strdup(o->cafile))) {
		ret = -ENOMEM;
		goto fail;
	}
	w->db = store_dbi(st, db_name);
	w->secret = sodium_malloc(WEBHOOK_SECRET_MAX);
	w->ev_timer = evtimer_new(base, on_timer, w);
	w->ev_kick = event_new(base, -1, 0, on_kick, w);
	if (w->db < 0) {
		ret = -ENOENT;
		goto fail;
	}
	if (!w->secret || !w->ev_timer || !w->ev_kick) {
		ret = -ENOMEM;
		goto fail;
	}
	store_txn_begin(st, &t, 1);
	ret = store_get(&t, w->db, K_URL, strlen(K_URL), &v);
	if (ret == 0 && v.mv_size <= WEBHOOK_URL_MAX) {
		memcpy(w->url, v.mv_data, v.mv_size);
		w->url[v.mv_size] = '\0';
		if (url_ok(w->url) < 0) {
			log_warnx("webhook: ignoring stored endpoint that is not valid");
			w->url[0] = '\0';
		}
	}
	ret = store_get(&t, w->db, K_SECRET, strlen(K_SECRET), &v);
	if (ret == 0 && v.mv_size <= WEBHOOK_SECRET_MAX) {
		memcpy(w->secret, v.mv_data, v.mv_size);
		w->secret_len = v.mv_size;
	}
	ret = t.ret;
	store_txn_abort(&t);
	if (ret < 0)
		goto fail;
	*out = w;
	/* Redeliver whatever was not acknowledged before the restart. */
	webhook_kick(w);
	return 0;
fail:
	webhook_free(w);
	return ret;
}

void webhook_free(struct webhook *w)
{
	if (!w)
		return;
	if (w->req)
		httpc_cancel(w->req);
	if (w->ev_timer)
		event_free(w->ev_timer);
	if (w->ev_kick)
		event_free(w->ev_kick);
	if (w->secret)
		sodium_free(w->secret); /* wipes it */
	free((char *)w->o.cafile);
	free(w);
}

int webhook_set_endpoint(struct webhook *w, const char *url, const uint8_t *secret,
			 size_t secret_len)
{
	struct store_txn t;
	int ret;

	if ((ret = url_ok(url)) < 0)
		return ret;
	if (secret_len > WEBHOOK_SECRET_MAX || (secret_len && !secret))
		return -EINVAL;
	store_txn_begin(w->st, &t, 0);
	store_put(&t, w->db, K_URL, strlen(K_URL), url, strlen(url));
	if (secret_len)
		store_put(&t, w->db, K_SECRET, strlen(K_SECRET), secret, secret_len);
	else
		store_del(&t, w->db, K_SECRET, strlen(K_SECRET));
	if ((ret = store_txn_commit(&t)) < 0)
		return ret;
	reset_engine(w);
	snprintf(w->url, sizeof(w->url), "%s", url);
	sodium_memzero(w->secret, WEBHOOK_SECRET_MAX);
	if (secret_len)
		memcpy(w->secret, secret, secret_len);
	w->secret_len = secret_len;
	webhook_kick(w);
	return 0;
}

int webhook_clear(struct webhook *w, uint64_t *purged)
{
	struct store_txn t;
	uint64_t n = 0;
	int ret;

	if (purged)
		*purged = 0;
	store_txn_begin(w->st, &t, 0);
	for (;;) {
		struct first_q f = {0};
		uint8_t key[9];
		if ((ret = first_q(w, &t, &f)) < 0 || !f.found)
			break;
		q_key(key, f.seq);
		store_del(&t, w->db, key, sizeof(key));
		n++;
	}
	put_u64(&t, w->db, K_BYTES, 0);
	store_del(&t, w->db, K_URL, strlen(K_URL));
	store_del(&t, w->db, K_SECRET, strlen(K_SECRET));
	if (ret < 0) {
		store_txn_abort(&t);
		return ret;
	}
	if ((ret = store_txn_commit(&t)) < 0)
		return ret;
	reset_engine(w);
	w->url[0] = '\0';
	sodium_memzero(w->secret, WEBHOOK_SECRET_MAX);
	w->secret_len = 0;
	if (n)
		log_info("webhook: endpoint cleared, %" PRIu64 " undelivered events dropped", n);
	if (purged)
		*purged = n;
	return 0;
}

int webhook_secret_load(const char *path, uint8_t *out, size_t outlen, size_t *len)
{
	uint8_t buf[WEBHOOK_SECRET_MAX + 2];
	struct stat sb;
	size_t n = 0;
	int fd, ret = 0;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* file_check_secret's rule, on the descriptor we read: the file
	 * cannot be swapped between the check and the read. */
	if (fstat(fd, &sb) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		ret = -EPERM;
		goto out;
	}
	while (n < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
		     buf[n - 1] == '\t'))
		n--;
	if (n == 0)
		ret = -EINVAL;
	else if (n > WEBHOOK_SECRET_MAX || n > outlen)
		ret = -EFBIG;
	else {
		memcpy(out, buf, n);
		*len = n;
	}
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return ret;
}

int webhook_enqueue_txn(struct webhook *w, struct store_txn *t, uint64_t event_id,
			const char *event, uint32_t node_id, const char *details)
{
	uint64_t tail, head, backlog, bytes;
	struct first_q f = {0};
	char ts[40];
	uint8_t key[9], *val = NULL;
	struct json_gen j;
	const char *body;
	size_t len;
	int ret;

	if (t->ret)
		return t->ret;
	if (!w || !w->url[0])
		return 0;
	if (!audit_type_ok(event))
		return -EINVAL;
	if ((ret = json_gen_init(&j)) < 0)
		return ret;
	rfc3339_ms(ts, sizeof(ts), now_real_ms());
	jg_map_open(&j);
	jg_ku64(&j, "event_id", event_id);
	jg_kstr(&j, "event", event);
	jg_ku64(&j, "node_id", node_id);
	jg_kstr(&j, "timestamp", ts);
	jg_key(&j, "data");
	if ((ret = audit_gen_details(&j, details)) < 0)
		goto out;
	jg_map_close(&j);
	if ((ret = json_gen_finish(&j, &body, &len)) < 0)
		goto out;
	if (len > WEBHOOK_BODY_MAX) {
		ret = -EINVAL;
		goto out;
	}
	/* Everything from the caller's transaction: earlier enqueues in it
	 * count, and an abort leaves no trace. */
	tail = get_u64(t, w->db, K_SEQ);
	bytes = get_u64(t, w->db, K_BYTES);
	if ((ret = first_q(w, t, &f)) < 0)
		goto out;
	head = f.found ? f.seq : tail + 1;
	backlog = tail >= head ? tail - head + 1 : 0;
	if (backlog >= w->o.capacity || bytes + len > w->o.capacity_bytes) {
		put_u64(t, w->db, K_DROPPED, get_u64(t, w->db, K_DROPPED) + 1);
		ret = t->ret ? t->ret : -ENOSPC;
		goto out;
	}
	if (!(val = malloc(8 + len))) {
		ret = -ENOMEM;
		goto out;
	}
	store_be64(val, event_id);
	memcpy(val + 8, body, len);
	q_key(key, tail + 1);
	store_put(t, w->db, key, sizeof(key), val, 8 + len);
	put_u64(t, w->db, K_SEQ, tail + 1);
	put_u64(t, w->db, K_BYTES, bytes + len);
	ret = t->ret;
out:
	free(val);
	json_gen_free(&j);
	return ret;
}

int webhook_audit_txn(struct audit *a, struct webhook *w, struct store_txn *t, const char *type,
		      const char *actor, const char *subject, uint32_t node_id, const char *details,
		      uint64_t *event_id, int *dropped)
{
	uint64_t id = 0, note;
	char det[AUDIT_TYPE_MAX + 128];
	int ret;

	if (dropped)
		*dropped = 0;
	if ((ret = audit_append_txn(a, t, type, actor, subject, details, &id)) < 0)
		return ret;
	if (event_id)
		*event_id = id;
	ret = webhook_enqueue_txn(w, t, id, type, node_id, details);
	if (ret == -ENOSPC) {
		/* The event is in the audit log; its webhook is not.  Say so
		 * there, where the receiver's gap can be looked up. */
		snprintf(det, sizeof(det), "{\"dropped_event_id\":%" PRIu64 ",\"event\":\"%s\"}",
			 id, type);
		ret = audit_append_txn(a, t, "webhook.outbox_full", "webhook", subject, det, &note);
		if (ret == 0 && dropped)
			*dropped = 1;
	} else if (ret == -EINVAL) {
		/* Details the audit log took are good JSON; only the size limit
		 * of a body can refuse them.  Record it like a drop. */
		snprintf(det, sizeof(det),
			 "{\"dropped_event_id\":%" PRIu64
			 ",\"event\":\"%s\",\"reason\":\"too large\"}",
			 id, type);
		ret = audit_append_txn(a, t, "webhook.dropped", "webhook", subject, det, &note);
		if (ret == 0 && dropped)
			*dropped = 1;
	}
	return ret;
}

int webhook_status(struct webhook *w, struct webhook_status *s)
{
	struct first_q f = {0};
	struct store_txn t;
	uint64_t tail;
	int ret;

	memset(s, 0, sizeof(*s));
	snprintf(s->url, sizeof(s->url), "%s", w->url);
	s->has_secret = w->secret_len > 0;
	s->capacity = w->o.capacity;
	s->capacity_bytes = w->o.capacity_bytes;
	s->failures = w->failures;
	s->in_flight = w->state == WH_INFLIGHT;
	s->last_attempt_ms = w->last_attempt_ms;
	s->next_attempt_ms = w->next_attempt_ms;
	s->last_success_ms = w->last_success_ms;
	s->backoff_ms = w->last_delay_ms;
	s->last_status = w->last_status;
	snprintf(s->last_error, sizeof(s->last_error), "%s", w->last_error);
	s->last_error_ms = w->last_error_ms;
	store_txn_begin(w->st, &t, 1);
	tail = get_u64(&t, w->db, K_SEQ);
	s->backlog_bytes = get_u64(&t, w->db, K_BYTES);
	s->last_delivered_id = get_u64(&t, w->db, K_DELIVERED);
	s->dropped = get_u64(&t, w->db, K_DROPPED);
	ret = first_q(w, &t, &f);
	if (ret == 0 && f.found && tail >= f.seq)
		s->backlog = tail - f.seq + 1;
	if (ret == 0)
		ret = t.ret;
	store_txn_abort(&t);
	return ret;
}

void webhook_status_json(const struct webhook_status *s, struct json_gen *j)
{
	jg_map_open(j);
	jg_kstr(j, "url", s->url);
	jg_kbool(j, "signed", s->has_secret);
	jg_ku64(j, "backlog", s->backlog);
	jg_ku64(j, "backlog_bytes", s->backlog_bytes);
	jg_ku64(j, "capacity", s->capacity);
	jg_ku64(j, "last_delivered_id", s->last_delivered_id);
	jg_ku64(j, "dropped", s->dropped);
	jg_ku64(j, "failures", s->failures);
	jg_kbool(j, "in_flight", s->in_flight);
	jg_ku64(j, "last_attempt_ms", s->last_attempt_ms);
	jg_ku64(j, "next_attempt_ms", s->next_attempt_ms);
	jg_ku64(j, "last_success_ms", s->last_success_ms);
	jg_ku64(j, "backoff_ms", s->backoff_ms);
	jg_key(j, "last_status");
	jg_i64(j, s->last_status);
	jg_kstr(j, "last_error", s->last_error);
	jg_ku64(j, "last_error_ms", s->last_error_ms);
	jg_map_close(j);
}
