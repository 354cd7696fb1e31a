/* rdv_bcn.c - see rdv_bcn.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "bcn.h"
#include "log.h"
#include "rdv.h"
#include "rdv_bcn.h"
#include "util.h"

#define BATCH 32
#define BUFSZ 2048
#define NODE_BUCKETS 4096 /* chained; RDV_BCN_MAX_NODES bounds the entries */
#define PAIR_SLOTS 8192	  /* direct-mapped cache of visibility answers */
#define SWEEP_MS 10000

struct bnode {
	struct bnode *next;
	uint32_t id;
	uint8_t pk[32];
	uint8_t key[BCN_KEY_LEN];
	struct bcn_replay rx;
	struct sockaddr_in6 ep;
	int bound;
	uint64_t seen_ms, checked_ms; /* monotonic */
	double relay_tokens, ctl_tokens;
	uint64_t bucket_ms;
};

struct pair {
	uint32_t a, b; /* a < b; 0/0 = empty */
	uint64_t checked_ms;
	int allowed;
};

struct rdv_bcn {
	struct rdv *r;
	int fd;
	struct event *ev, *ev_sweep;
	uint8_t *x_sk; /* sodium_malloc'd X25519 form of the beacon key */
	uint8_t pk[32];
	struct bcn_counter tx;
	double relay_rate, relay_burst; /* bytes/s, bytes; 0 rate: no relaying */
	/* The whole beacon's: many nodes each within their own budget must
	 * not take the beacon's uplink (and every other relayed pair) down. */
	double total_rate, total_burst, total_tokens;
	uint64_t total_ms;
	struct bnode *nodes[NODE_BUCKETS];
	size_t nnodes;
	struct pair pairs[PAIR_SLOTS];
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	struct rdv_bcn_stats st;

	uint8_t rx[BATCH][BUFSZ];
	struct sockaddr_in6 rxa[BATCH];
	struct mmsghdr rxm[BATCH];
	struct iovec rxv[BATCH];
	/* Up to two answers per frame (a punch goes to both sides). */
	uint8_t ctl[2 * BATCH][BCN_PUNCH_LEN];
	struct sockaddr_in6 txa[2 * BATCH];
	struct mmsghdr txm[2 * BATCH];
	struct iovec txv[2 * BATCH];
	unsigned ntx;
};

/* ------------------------------------------------------------ node table */

static unsigned bucket_of(const struct rdv_bcn *b, uint32_t id)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	/* Keyed: node IDs are public, chains must not be steerable. */
	crypto_shorthash(h, (const uint8_t *)&id, sizeof(id), b->hash_key);
	memcpy(&v, h, sizeof(v));
	return (unsigned)(v % NODE_BUCKETS);
}

static struct bnode *node_find(struct rdv_bcn *b, uint32_t id)
{
	for (struct bnode *n = b->nodes[bucket_of(b, id)]; n; n = n->next)
		if (n->id == id)
			return n;
	return NULL;
}

/* Unlink *\p pp (its key is wiped). */
static void node_unlink(struct rdv_bcn *b, struct bnode **pp)
{
	struct bnode *n = *pp;

	*pp = n->next;
	sodium_memzero(n, sizeof(*n));
	free(n);
	b->nnodes--;
}

static void node_drop(struct rdv_bcn *b, uint32_t id)
{
	struct bnode **pp = &b->nodes[bucket_of(b, id)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			node_unlink(b, pp);
			return;
		}
}

/* The registry's record of \p id, if it is an active node. */
static int registry_node(struct rdv_bcn *b, uint32_t id, struct rdv_node *out)
{
	struct store_txn t;
	int rc;

	store_txn_begin(b->r->db.st, &t, 1);
	rc = rdv_node_get(&t, &b->r->db, id, out);
	store_txn_abort(&t);
	if (rc < 0 || !out->active || out->revoked)
		return -ENOENT;
	return 0;
}

static int node_keyed(struct rdv_bcn *b, struct bnode *n, const uint8_t pk[32])
{
	uint8_t x_pk[32];

	if (crypto_sign_ed25519_pk_to_curve25519(x_pk, pk) != 0 ||
	    bcn_key(n->key, b->x_sk, x_pk, n->id, pk, b->pk) < 0)
		return -EINVAL;
	memcpy(n->pk, pk, 32);
	memset(&n->rx, 0, sizeof(n->rx));
	n->bound = 0;
	return 0;
}

/* A new, unbound entry for \p id with key \p pk, in the table. */
static struct bnode *node_new(struct rdv_bcn *b, uint32_t id, const uint8_t pk[32], uint64_t now)
{
	struct bnode *n;
	unsigned h;

	if (b->nnodes >= RDV_BCN_MAX_NODES || !(n = calloc(1, sizeof(*n))))
		return NULL;
	n->id = id;
	if (node_keyed(b, n, pk) < 0) {
		free(n);
		return NULL;
	}
	n->bucket_ms = now;
	/* Forgotten after a binding's lifetime unless it binds: frames naming
	 * real nodes with bad MACs cost one X25519 per node per
	 * RDV_BCN_BIND_TTL_MS, not one per sweep. */
	n->seen_ms = now;
	n->relay_tokens = b->relay_burst;
	n->ctl_tokens = RDV_BCN_CTL_PER_S;
	h = bucket_of(b, id);
	n->next = b->nodes[h];
	b->nodes[h] = n;
	b->nnodes++;
	return n;
}

/* The entry of an active node, its key re-read every RDV_BCN_RECHECK_MS
 * (key rotation, deregistration, revocation).  NULL: unknown. */
static struct bnode *node_get(struct rdv_bcn *b, uint32_t id, uint64_t now)
{
	struct bnode *n = node_find(b, id);
	struct rdv_node rn;

	if (n && now - n->checked_ms < RDV_BCN_RECHECK_MS)
		return n;
	if (registry_node(b, id, &rn) < 0) {
		if (n)
			node_drop(b, id);
		return NULL;
	}
	if (!n) {
		if (!(n = node_new(b, id, rn.pk, now)))
			return NULL;
	} else if (memcmp(n->pk, rn.pk, 32) != 0 && node_keyed(b, n, rn.pk) < 0) {
		node_drop(b, id);
		return NULL;
	}
	n->checked_ms = now;
	return n;
}

static int fresh(const struct bnode *n, uint64_t now)
{
	return n->bound && now - n->seen_ms < RDV_BCN_BIND_TTL_MS;
}

/* ------------------------------------------------------------ visibility */

/* May \p x and \p y be introduced to each other?  Each must see the other
 * by the registry's rules (doc/REGISTRY.md), which is what `resolve`
 * requires of a requester; both ways, because a punch hands each side
 * the other's endpoint. */
static int pair_allowed(struct rdv_bcn *b, uint32_t x, uint32_t y, uint64_t now)
{
	uint32_t a = x < y ? x : y, c = x < y ? y : x, k[2] = {a, c};
	uint8_t h[crypto_shorthash_BYTES];
	struct rdv_node na, nc;
	struct store_txn t;
	struct pair *p;
	uint64_t v;
	int ok;

	crypto_shorthash(h, (const uint8_t *)k, sizeof(k), b->hash_key);
	memcpy(&v, h, sizeof(v));
	p = &b->pairs[v % PAIR_SLOTS];
	if (p->a == a && p->b == c && now - p->checked_ms < RDV_BCN_RECHECK_MS)
		return p->allowed;
	store_txn_begin(b->r->db.st, &t, 1);
	ok = rdv_node_get(&t, &b->r->db, a, &na) == 0 && rdv_node_get(&t, &b->r->db, c, &nc) == 0 &&
	     rdv_visible(&t, &b->r->db, a, &nc) == 1 && rdv_visible(&t, &b->r->db, c, &na) == 1;
	store_txn_abort(&t);
	p->a = a;
	p->b = c;
	p->checked_ms = now;
	p->allowed = ok;
	return ok;
}

/* ------------------------------------------------------------ budgets */

static void refill(struct rdv_bcn *b, struct bnode *n, uint64_t now)
{
	double dt = (double)(now - n->bucket_ms) / 1000.0;

	n->bucket_ms = now;
	n->relay_tokens += dt * b->relay_rate;
	if (n->relay_tokens > b->relay_burst)
		n->relay_tokens = b->relay_burst;
	n->ctl_tokens += dt * RDV_BCN_CTL_PER_S;
	if (n->ctl_tokens > RDV_BCN_CTL_PER_S)
		n->ctl_tokens = RDV_BCN_CTL_PER_S;
}

/* A quarter second of traffic, and at least a few full packets. */
static double burst_of(double rate)
{
	return rate / 4 > 65536 ? rate / 4 : (rate > 0 ? 65536 : 0);
}

void rdv_bcn_set_rate(struct rdv_bcn *b, uint32_t mbit, uint32_t total_mbit)
{
	b->relay_rate = (double)mbit * 125000.0;
	b->relay_burst = burst_of(b->relay_rate);
	b->total_rate = (double)total_mbit * 125000.0;
	b->total_burst = burst_of(b->total_rate);
	if (b->total_tokens > b->total_burst)
		b->total_tokens = b->total_burst;
}

/* Charge \p bytes to the whole beacon's budget.  \retval 1 or 0 (over). */
static int total_take(struct rdv_bcn *b, double bytes, uint64_t now)
{
	if (now > b->total_ms) {
		b->total_tokens += (double)(now - b->total_ms) / 1000.0 * b->total_rate;
		if (b->total_tokens > b->total_burst)
			b->total_tokens = b->total_burst;
	}
	b->total_ms = now;
	if (b->total_tokens < bytes)
		return 0;
	b->total_tokens -= bytes;
	return 1;
}

/* ------------------------------------------------------------ sending */

static void queue(struct rdv_bcn *b, uint8_t *buf, size_t len, const struct sockaddr_in6 *to)
{
	unsigned i = b->ntx++;

	b->txa[i] = *to;
	b->txv[i].iov_base = buf;
	b->txv[i].iov_len = len;
	memset(&b->txm[i], 0, sizeof(b->txm[i]));
	b->txm[i].msg_hdr.msg_name = &b->txa[i];
	b->txm[i].msg_hdr.msg_namelen = sizeof(b->txa[i]);
	b->txm[i].msg_hdr.msg_iov = &b->txv[i];
	b->txm[i].msg_hdr.msg_iovlen = 1;
}

static void flush(struct rdv_bcn *b)
{
	unsigned off = 0;

	while (off < b->ntx) {
		int n = sendmmsg(b->fd, b->txm + off, b->ntx - off, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			off++; /* skip the one that failed, keep the rest */
			continue;
		}
		off += (unsigned)n;
	}
	b->ntx = 0;
}

/* Seal a control frame for node \p to into the next control buffer. */
static void send_ctl(struct rdv_bcn *b, struct bcn_frame *f, const struct bnode *to)
{
	uint8_t *buf = b->ctl[b->ntx];
	int len;

	f->node = to->id;
	f->counter = bcn_counter_next(&b->tx, now_real_ms() / 1000);
	len = bcn_seal(f, to->key, buf, sizeof(b->ctl[0]));
	if (len > 0)
		queue(b, buf, (size_t)len, &to->ep);
}

/* ------------------------------------------------------------ frames */

static void drop(struct rdv_bcn *b, enum rdv_bcn_drop why)
{
	b->st.dropped[why]++;
}

/* The node \p n wants to reach: bound, and allowed to meet \p n; else the
 * drop is counted and NULL returned. */
static struct bnode *target(struct rdv_bcn *b, const struct bnode *n, uint32_t id, uint64_t now)
{
	struct bnode *t = id != n->id ? node_get(b, id, now) : NULL;

	if (!t || !fresh(t, now)) {
		drop(b, t ? RDV_BCN_DROP_UNBOUND : RDV_BCN_DROP_UNKNOWN);
		return NULL;
	}
	if (!pair_allowed(b, n->id, t->id, now)) {
		drop(b, RDV_BCN_DROP_DENIED);
		return NULL;
	}
	return t;
}

static void on_punch_req(struct rdv_bcn *b, struct bnode *n, const struct bcn_frame *f,
			 uint64_t now)
{
	struct bcn_frame out;
	struct bnode *t;

	if (n->ctl_tokens < 1) {
		drop(b, RDV_BCN_DROP_RATE);
		return;
	}
	n->ctl_tokens -= 1;
	if (!(t = target(b, n, f->peer, now)))
		return;
	b->st.punch_reqs++;
	memset(&out, 0, sizeof(out));
	out.type = BCN_PUNCH;
	randombytes_buf(out.nonce, sizeof(out.nonce));
	out.peer = t->id;
	out.ep = t->ep;
	send_ctl(b, &out, n);
	out.peer = n->id;
	out.ep = n->ep;
	send_ctl(b, &out, t);
	b->st.punches_sent += 2;
}

static void on_relay(struct rdv_bcn *b, struct bnode *n, uint8_t *buf, const struct bcn_frame *f,
		     uint64_t now)
{
	struct bcn_frame out;
	struct bnode *t;
	int len;

	if (!(t = target(b, n, f->peer, now)))
		return;
	if (n->relay_tokens < (double)f->plen || !total_take(b, (double)f->plen, now)) {
		drop(b, RDV_BCN_DROP_RATE);
		return;
	}
	n->relay_tokens -= (double)f->plen;
	/* Same layout both ways: rewrite the header in place, new MAC. */
	memset(&out, 0, sizeof(out));
	out.type = BCN_RELAYED;
	out.node = t->id;
	out.peer = n->id;
	out.plen = f->plen;
	out.counter = bcn_counter_next(&b->tx, now_real_ms() / 1000);
	len = bcn_seal(&out, t->key, buf, BUFSZ);
	if (len < 0)
		return;
	queue(b, buf, (size_t)len, &t->ep);
	b->st.relayed_packets++;
	b->st.relayed_bytes += f->plen;
}

/* ECHO: the source this frame came from, answered to that source in place
 * (the same length: never more bytes than asked).  It moves no binding and
 * keeps none alive: the asking socket need not be the node's tunnel socket
 * (netcheck's second port), and the binding must stay the one peers reach. */
static void on_echo(struct rdv_bcn *b, struct bnode *n, uint8_t *buf, const struct bcn_frame *f,
		    const struct sockaddr_in6 *src, uint64_t now)
{
	struct bcn_frame out;
	int len;

	refill(b, n, now);
	if (n->ctl_tokens < 1) {
		drop(b, RDV_BCN_DROP_RATE);
		return;
	}
	n->ctl_tokens -= 1;
	out = *f;
	out.type = BCN_ECHO_OK;
	out.node = n->id;
	out.ep = *src;
	out.counter = bcn_counter_next(&b->tx, now_real_ms() / 1000);
	len = bcn_seal(&out, n->key, buf, BUFSZ);
	if (len < 0)
		return;
	queue(b, buf, (size_t)len, src);
	b->st.echoes++;
}

static void frame_in(struct rdv_bcn *b, uint8_t *buf, size_t len, const struct sockaddr_in6 *src,
		     uint64_t now, uint64_t now_s)
{
	struct bcn_frame f;
	struct bnode *n;
	uint32_t id;
	uint8_t type;
	int rc;

	b->st.rx_frames++;
	if (bcn_peek(buf, len, &type, &id) < 0 ||
	    (type != BCN_BIND && type != BCN_PUNCH_REQ && type != BCN_RELAY && type != BCN_ECHO)) {
		drop(b, RDV_BCN_DROP_MALFORMED);
		return;
	}
	n = node_get(b, id, now);
	if (!n) {
		drop(b, RDV_BCN_DROP_UNKNOWN);
		return;
	}
	rc = bcn_open(buf, len, n->key, &f);
	if (rc < 0) {
		drop(b, rc == -EPERM ? RDV_BCN_DROP_MAC : RDV_BCN_DROP_MALFORMED);
		return;
	}
	rc = bcn_replay_check(&n->rx, f.counter, now_s);
	if (rc < 0) {
		drop(b, RDV_BCN_DROP_REPLAY);
		return;
	}
	if (f.type == BCN_ECHO) {
		on_echo(b, n, buf, &f, src, now);
		return;
	}
	/* Only the newest authenticated frame moves an endpoint (roaming);
	 * a delayed or replayed one cannot drag it back. */
	if (rc == 1) {
		if (!n->bound || memcmp(&n->ep, src, sizeof(*src)) != 0) {
			char eb[64];
			log_debug("beacon: node %u at %s", id, bcn_ep_format6(src, eb, sizeof(eb)));
		}
		n->ep = *src;
		n->bound = 1;
	}
	n->seen_ms = now;
	refill(b, n, now);
	switch (f.type) {
	case BCN_BIND: {
		struct bcn_frame out;
		/* The binding moved above; the answer is metered (a BIND from
		 * a spoofed source must not become a stream of answers). */
		if (n->ctl_tokens < 1) {
			drop(b, RDV_BCN_DROP_RATE);
			break;
		}
		n->ctl_tokens -= 1;
		memset(&out, 0, sizeof(out));
		out.type = BCN_BIND_OK;
		out.ep = *src;
		send_ctl(b, &out, n);
		b->st.binds++;
		break;
	}
	case BCN_PUNCH_REQ:
		on_punch_req(b, n, &f, now);
		break;
	case BCN_RELAY:
		on_relay(b, n, buf, &f, now);
		break;
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct rdv_bcn *b = arg;

	(void)what;
	for (int rounds = 0; rounds < 8; rounds++) {
		uint64_t now, now_s;
		int n;

		bcn_mmsg_rx_prepare(b->rxm, b->rxv, b->rxa, &b->rx[0][0], BUFSZ, BATCH);
		n = recvmmsg(fd, b->rxm, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		now = now_mono_ms();
		now_s = now_real_ms() / 1000;
		for (int i = 0; i < n; i++) {
			if (b->rxm[i].msg_hdr.msg_namelen != sizeof(struct sockaddr_in6) ||
			    (b->rxm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				drop(b, RDV_BCN_DROP_MALFORMED);
				continue;
			}
			frame_in(b, b->rx[i], b->rxm[i].msg_len, &b->rxa[i], now, now_s);
		}
		flush(b);
		if (n < BATCH)
			break;
	}
}

/* Forget nodes silent for longer than a binding lives. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct rdv_bcn *b = arg;
	uint64_t now = now_mono_ms(), bound = 0;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < NODE_BUCKETS; i++) {
		struct bnode **pp = &b->nodes[i];
		while (*pp) {
			struct bnode *n = *pp;
			if (now - n->seen_ms >= RDV_BCN_BIND_TTL_MS) {
				node_unlink(b, pp);
				continue;
			}
			bound += n->bound;
			pp = &n->next;
		}
	}
	b->st.nodes = bound;
}

/* ------------------------------------------------------------ bindings file */

/* Bindings outlive a restart (an upgrade, or moving the beacon to its own
 * process): without them a relayed pair would wait for the idle side's
 * next BIND (up to 25 s).  One line per bound node, "ID ENDPOINT WALL_MS",
 * written at a clean stop; entries older than a binding lives are skipped
 * at start, and each node is checked against the registry again. */
#define BINDINGS_FILE "beacon.bindings"
#define BINDINGS_MAX (RDV_BCN_MAX_NODES * 72)

static void bindings_path(const struct rdv_bcn *b, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", b->r->cfg.state_dir, BINDINGS_FILE);
}

static void bindings_save(struct rdv_bcn *b)
{
	uint64_t now = now_mono_ms(), wall = now_real_ms();
	char path[PATH_MAX], eb[64], *buf;
	size_t len = 0, cap = b->nnodes * 72 + 1;
	int rc;

	buf = malloc(cap);
	if (!buf)
		return;
	for (unsigned i = 0; i < NODE_BUCKETS; i++)
		for (struct bnode *n = b->nodes[i]; n; n = n->next) {
			if (!fresh(n, now) || len + 72 > cap)
				continue;
			len += (size_t)snprintf(buf + len, cap - len, "%u %s %llu\n", n->id,
						bcn_ep_format6(&n->ep, eb, sizeof(eb)),
						(unsigned long long)(wall - (now - n->seen_ms)));
		}
	bindings_path(b, path, sizeof(path));
	rc = file_write_atomic(path, buf, len, 0600);
	free(buf);
	if (rc < 0)
		log_warnx("beacon: saving bindings to %s: %s", path, strerror(-rc));
}

static void bindings_load(struct rdv_bcn *b)
{
	uint64_t now = now_mono_ms(), wall = now_real_ms();
	char path[PATH_MAX], *buf = NULL, *line, *save = NULL;
	size_t len = 0, n = 0;

	bindings_path(b, path, sizeof(path));
	if (file_read_all(path, BINDINGS_MAX, &buf, &len) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long ms;
		struct sockaddr_storage ss;
		struct bnode *node;
		char ep[64];
		unsigned id;
		socklen_t sl;

		if (sscanf(line, "%u %63s %llu", &id, ep, &ms) != 3 || !id || ms > wall ||
		    wall - ms >= RDV_BCN_BIND_TTL_MS || bcn_ep_parse(ep, &ss, &sl) < 0 ||
		    !(node = node_get(b, id, now)))
			continue;
		memcpy(&node->ep, &ss, sizeof(node->ep));
		node->bound = 1;
		node->seen_ms = now - (wall - ms);
		n++;
	}
	free(buf);
	if (n)
		log_info("beacon: %zu bindings kept from the last run", n);
}

/* ------------------------------------------------------------ lifecycle */

static int bind_socket(const char *hostport, int *out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, zero = 0, bufsz = 4 << 20;

	if (bcn_ep_parse(hostport, &ss, &sl) < 0)
		return -EINVAL;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	{
		/* "0.0.0.0" (v4-mapped any) means every address, both families. */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		static const uint8_t v4any[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(&s6->sin6_addr, v4any, 16) == 0)
			s6->sin6_addr = in6addr_any;
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

int rdv_bcn_start(struct rdv *r)
{
	struct timeval sweep = {SWEEP_MS / 1000, 0};
	struct rdv_bcn *b;
	uint8_t *sk = NULL;
	char host[64], b64[64];
	uint16_t port;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->r = r;
	b->fd = -1;
	crypto_shorthash_keygen(b->hash_key);
	bcn_counter_start(&b->tx, now_real_ms() / 1000);
	rdv_bcn_set_rate(b, r->cfg.relay_rate_mbit, r->cfg.relay_total_mbit);
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	b->x_sk = sodium_malloc(32);
	if (!sk || !b->x_sk) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = rdv_key_load(r->cfg.state_dir, RDV_BEACON_KEY_FILE, "beacon", sk, b->pk);
	if (ret < 0)
		goto fail;
	if (crypto_sign_ed25519_sk_to_curve25519(b->x_sk, sk) != 0) {
		ret = -EINVAL;
		goto fail;
	}
	ret = bind_socket(r->cfg.beacon_listen, &b->fd);
	if (ret < 0) {
		log_warnx("beacon: cannot bind UDP %s: %s", r->cfg.beacon_listen, strerror(-ret));
		goto fail;
	}
	b->ev = event_new(r->base, b->fd, EV_READ | EV_PERSIST, on_readable, b);
	b->ev_sweep = event_new(r->base, -1, EV_PERSIST, on_sweep, b);
	if (!b->ev || !b->ev_sweep || event_add(b->ev, NULL) < 0 ||
	    event_add(b->ev_sweep, &sweep) < 0) {
		ret = -ENOMEM;
		goto fail;
	}
	conf_split_hostport(r->cfg.beacon_listen, host, sizeof(host), &port);
	bindings_load(b);
	memcpy(r->db.beacon_pk, b->pk, 32);
	r->db.beacon_port = port;
	r->db.have_beacon = 1;
	r->bcn = b;
	sodium_free(sk);
	b64_encode(b64, sizeof(b64), b->pk, 32);
	log_info("beacon on %s (UDP), key %s, relay budget %u Mbit/s per node, %u in all",
		 r->cfg.beacon_listen, b64, r->cfg.relay_rate_mbit, r->cfg.relay_total_mbit);
	return 0;
fail:
	sodium_free(sk);
	r->bcn = b;
	rdv_bcn_stop(r);
	return ret;
}

void rdv_bcn_stop(struct rdv *r)
{
	struct rdv_bcn *b = r->bcn;

	if (!b)
		return;
	if (b->fd >= 0 && b->ev)
		bindings_save(b); /* only a beacon that served */
	if (b->ev)
		event_free(b->ev);
	if (b->ev_sweep)
		event_free(b->ev_sweep);
	if (b->fd >= 0)
		close(b->fd);
	for (unsigned i = 0; i < NODE_BUCKETS; i++)
		while (b->nodes[i])
			node_unlink(b, &b->nodes[i]);
	sodium_free(b->x_sk);
	r->db.have_beacon = 0;
	free(b);
	r->bcn = NULL;
}

int rdv_bcn_announce(struct rdv *r)
{
	uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	char host[64];
	uint16_t port;
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = rdv_key_load(r->cfg.state_dir, RDV_BEACON_KEY_FILE, "beacon", sk, r->db.beacon_pk);
	sodium_free(sk);
	if (ret < 0)
		return ret;
	if (conf_split_hostport(r->cfg.beacon_listen, host, sizeof(host), &port) < 0)
		return -EINVAL;
	r->db.beacon_port = port;
	r->db.have_beacon = 1;
	log_info("beacon served by another process; announcing port %u", port);
	return 0;
}

const struct rdv_bcn_stats *rdv_bcn_stats(const struct rdv_bcn *b)
{
	return &b->st;
}

const char *rdv_bcn_drop_name(enum rdv_bcn_drop d)
{
	static const char *const names[RDV_BCN_DROP_COUNT] = {
	    "malformed", "unknown_node", "mac", "replay", "unbound", "denied", "rate_limited"};
	return d < RDV_BCN_DROP_COUNT ? names[d] : "?";
}
