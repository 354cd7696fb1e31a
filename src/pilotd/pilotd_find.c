/* pilotd_find.c - NAME.pilot to a node: the one path every front takes
 * (`pilotctl find`, the name service socket of the NSS module, the DNS
 * stub), so that they all show exactly what the registry lets this node
 * see.  The policy is the registry's (its `find` answers a node that is
 * public, trusted by us or in a non-backbone network with us, and
 * "no such node" for every other name, existing or not); this file only
 * asks, caches and shares.
 *
 * Programs' lookups go through a small cache, because getaddrinfo asks
 * twice or more per connect: a found name is kept briefly, a missing one
 * at most a second (a node that turns public must become visible at
 * once), and every registry event drops the whole cache
 * (pilotd_finds_flush): trust, revocation, policy, membership, hostname
 * and visibility changes all reach us as events.  An answer asked for
 * before such an event is handed to those waiting for it but not kept.
 * Cached lookups of one name share one registry call while it is in
 * flight (a resolver asks for A and AAAA at once). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define FIND_CACHE 64
#define FIND_POS_TTL_MS 5000
#define FIND_NEG_TTL_MS 1000

struct find_entry {
	char name[64];
	uint64_t expires_ms;
	struct pilotd_find_answer a;
};

struct pilotd_find_wait {
	struct find_flight *f;
	pilotd_find_cb cb;
	void *arg;
	struct pilotd_find_wait *next;
};

/* One registry `find` in flight. */
struct find_flight {
	struct find_cache *c; /* NULL once the daemon let go of it (pilotd_finds_free) */
	char name[64];
	int shared;   /* cached lookups may join it */
	int budgeted; /* spent from the name services' registry budget (findlim.h) */
	uint64_t gen;
	struct pilotd_find_wait *waiters;
	struct find_flight *next;
};

struct find_cache {
	struct find_entry e[FIND_CACHE];
	unsigned next;
	uint64_t gen; /* bumped by each flush: answers asked for before it are not kept */
	struct find_flight *flights;
};

int pilotd_find_canon(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in), i;

	if (n && in[n - 1] == '.')
		n--;
	if (n > 6 && strncasecmp(in + n - 6, ".pilot", 6) == 0)
		n -= 6;
	if (n == 0 || n > 63 || n >= outlen)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return -EINVAL;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

static struct find_cache *cache_of(struct pilotd *d)
{
	if (!d->finds)
		d->finds = calloc(1, sizeof(*d->finds));
	return d->finds;
}

const struct pilotd_find_answer *pilotd_find_cached(struct pilotd *d, const char *name)
{
	uint64_t now = now_mono_ms();

	if (!d->finds)
		return NULL;
	for (unsigned i = 0; i < FIND_CACHE; i++) {
		struct find_entry *e = &d->finds->e[i];
		if (e->expires_ms > now && strcmp(e->name, name) == 0)
			return &e->a;
	}
	return NULL;
}

static void cache_put(struct find_cache *c, const char *name, const struct pilotd_find_answer *a)
{
	struct find_entry *e = &c->e[c->next++ % FIND_CACHE];

	snprintf(e->name, sizeof(e->name), "%.63s", name);
	e->a = *a;
	e->expires_ms = now_mono_ms() + (a->found ? FIND_POS_TTL_MS : FIND_NEG_TTL_MS);
}

/* The registry's answer to `find` (NULL: "no such node") as an answer. */
static void answer_from(yajl_val resp, const char *name, struct pilotd_find_answer *a)
{
	const char *hn = NULL, *xi = NULL, *xs = NULL;
	uint32_t score, xn = 0;
	yajl_val nets;

	memset(a, 0, sizeof(*a));
	a->score = -1;
	if (json_get_u32(resp, "node_id", &a->node) < 0 || !a->node)
		return;
	a->found = 1;
	json_get_bool(resp, "trusted", &a->trusted);
	a->score = json_get_u32(resp, "score", &score) == 0 && score <= 100 ? (int)score : -1;
	json_get_str(resp, "hostname", &hn);
	snprintf(a->hostname, sizeof(a->hostname), "%.63s", hn ? hn : name);
	nets = json_get(resp, "networks");
	for (size_t i = 0; nets && YAJL_IS_ARRAY(nets) && i < nets->u.array.len; i++) {
		yajl_val v = nets->u.array.values[i];
		long long n = YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
		if (n <= 0 || n > 65535 || a->nnets >= nitems(a->nets))
			continue;
		a->nets[a->nnets++] = (uint16_t)n;
		/* Prefer the address a shared network admits; else the
		 * backbone address (trust or a public node). */
		if (!a->net || n < a->net)
			a->net = (uint16_t)n;
	}
	if (json_get_u32(resp, "external_network_id", &xn) == 0 && xn && xn <= 65535 &&
	    json_get_str(resp, "external_id", &xi) == 0 &&
	    json_get_str(resp, "external_issuer", &xs) == 0) {
		a->ext_net = (uint16_t)xn;
		snprintf(a->external_id, sizeof(a->external_id), "%s", xi);
		snprintf(a->external_issuer, sizeof(a->external_issuer), "%s", xs);
	}
}

static void flight_unlink(struct find_flight *f)
{
	struct find_flight **pp;

	if (!f->c)
		return;
	for (pp = &f->c->flights; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->c = NULL;
}

static void on_find(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
		    yajl_val resp)
{
	struct find_flight *f = arg;
	struct pilotd_find_answer a;
	struct pilotd_find_wait *w;
	int missing = err < 0 && strcmp(code, "not_found") == 0;

	if (err == 0 || missing)
		answer_from(err == 0 ? resp : NULL, f->name, &a);
	if ((err == 0 || missing) && f->c && f->gen == f->c->gen)
		cache_put(f->c, f->name, &a);
	flight_unlink(f);
	if (f->budgeted)
		findlim_done(&d->findlim);
	while ((w = f->waiters)) {
		f->waiters = w->next;
		if (err == 0 || missing)
			w->cb(d, w->arg, 0, NULL, NULL, &a);
		else
			w->cb(d, w->arg, err, code, msg, NULL);
		free(w);
	}
	free(f);
}

static void add_hostname(struct json_gen *j, void *arg)
{
	jg_kstr(j, "hostname", ((struct find_flight *)arg)->name);
}

static struct find_flight *flight_new(struct pilotd *d, struct find_cache *c, const char *name,
				      int shared, const uid_t *budget_uid, int *limited)
{
	struct find_flight *f;

	if (budget_uid && findlim_take(&d->findlim, *budget_uid, now_mono_ms()) != FINDLIM_OK) {
		*limited = 1;
		return NULL;
	}
	if (!(f = calloc(1, sizeof(*f)))) {
		if (budget_uid)
			findlim_done(&d->findlim);
		return NULL;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->shared = shared;
	f->budgeted = budget_uid != NULL;
	f->gen = c->gen;
	if (regc_call(&d->regc, "find", add_hostname, f, on_find, f) < 0) {
		if (f->budgeted)
			findlim_done(&d->findlim);
		free(f);
		return NULL;
	}
	if (f->budgeted)
		d->ctr.resolve_registry++;
	f->c = c;
	f->next = c->flights;
	c->flights = f;
	d->ctr.find_registry_calls++;
	return f;
}

static struct pilotd_find_wait *ask(struct pilotd *d, const char *name, int shared,
				    const uid_t *budget_uid, pilotd_find_cb cb, void *arg,
				    int *limited)
{
	struct find_cache *c = cache_of(d);
	struct find_flight *f = NULL;
	struct pilotd_find_wait *w;

	if (!c || !(w = calloc(1, sizeof(*w))))
		return NULL;
	/* Joining a lookup in flight costs the registry nothing. */
	for (f = shared ? c->flights : NULL; f; f = f->next)
		if (f->shared && strcmp(f->name, name) == 0)
			break;
	if (!f && !(f = flight_new(d, c, name, shared, budget_uid, limited))) {
		free(w);
		return NULL;
	}
	w->f = f;
	w->cb = cb;
	w->arg = arg;
	w->next = f->waiters;
	f->waiters = w;
	return w;
}

struct pilotd_find_wait *pilotd_find_ask(struct pilotd *d, const char *name, int shared,
					 pilotd_find_cb cb, void *arg)
{
	int limited = 0;

	return ask(d, name, shared, NULL, cb, arg, &limited);
}

struct pilotd_find_wait *pilotd_find_ask_local(struct pilotd *d, const char *name, uid_t uid,
					       pilotd_find_cb cb, void *arg, int *limited)
{
	*limited = 0;
	return ask(d, name, 1, &uid, cb, arg, limited);
}

void pilotd_find_cancel(struct pilotd_find_wait *w)
{
	struct pilotd_find_wait **pp;

	if (!w)
		return;
	/* The flight goes on (a registry call cannot be taken back); its
	 * answer is still cached for the next asker. */
	for (pp = &w->f->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	free(w);
}

void pilotd_finds_flush(struct pilotd *d)
{
	if (!d->finds)
		return;
	memset(d->finds->e, 0, sizeof(d->finds->e));
	d->finds->gen++;
}

void pilotd_finds_free(struct pilotd *d)
{
	struct find_flight *f;

	if (!d->finds)
		return;
	/* Flights outlive the cache only as the registry client's callback
	 * arguments, and it makes no calls once the daemon is freed. */
	while ((f = d->finds->flights)) {
		struct pilotd_find_wait *w;
		d->finds->flights = f->next;
		while ((w = f->waiters)) {
			f->waiters = w->next;
			free(w);
		}
		free(f);
	}
	free(d->finds);
	d->finds = NULL;
}
