/* test_rdv_bcn.c - the beacon server (src/rendezvous/rdv_bcn.c) over real UDP on
 * loopback: a registry in a temporary LMDB directory, the beacon on its
 * own port and event base, and nodes as plain sockets that build and
 * check frames with the shared codec (src/lib/bcn.c).  Every refusal is
 * checked by the drop counter it must move, and by the silence of the
 * sockets it must not reach.  The underlay is IPv4 (127.0.0.1), IPv6 (::1)
 * or both at once (a dual-stack beacon with nodes of either family); the
 * IPv6 cases are skipped where ::1 is unusable. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sodium.h>

#include "bcn.h"
#include "log.h"
#include "rdv.h"
#include "rdv_bcn.h"
#include "rdv_store.h"

#define NNODES 4 /* A, B, C (trusted by nobody), D (registered, never binds) */
#define A 0
#define B 1
#define C 2
#define D 3
#define UNKNOWN_ID 999
#define PUMP_ROUNDS 50
#define BUFCAP 2048

struct tnode {
	uint8_t pk[32], sk[64];
	uint32_t id;
	uint8_t key[BCN_KEY_LEN];
	int fd;
	struct sockaddr_in6 ep; /* the socket's address as the beacon sees it */
	struct bcn_counter tx;
	struct bcn_replay rx; /* frames from the beacon */
};

/* The underlay: the beacon's listen address and the nodes' sockets. */
enum net {
	NET_V4, /* "127.0.0.1:PORT", nodes on 127.0.0.1 */
	NET_V6, /* "[::1]:PORT", nodes on ::1 */
	/* "0.0.0.0:PORT", which the beacon binds as [::] dual-stack; A and C
	 * on 127.0.0.1, B and D on ::1. */
	NET_DUAL,
};

struct fixture {
	char dir[64];
	char listen[32];
	struct rdv *r;
	struct sockaddr_in beacon4;  /* where IPv4 sockets send */
	struct sockaddr_in6 beacon6; /* where IPv6 sockets send */
	struct tnode n[NNODES];
};

static int ipv6_ok; /* ::1 is usable here (set in main) */

/* ------------------------------------------------------------ sockets */

/* A UDP socket bound to the loopback of \p af (127.0.0.1:0 or [::1]:0).
 * \p ep: its address as the beacon sees it.  \retval the fd, or -1. */
static int loopback_socket(int af, struct sockaddr_in6 *ep)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	struct sockaddr *sa = af == AF_INET6 ? (struct sockaddr *)&s6 : (struct sockaddr *)&s4;
	socklen_t sl = af == AF_INET6 ? sizeof(s6) : sizeof(s4);
	int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), bufsz = 1 << 20, one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	memset(&s6, 0, sizeof(s6));
	memset(&s4, 0, sizeof(s4));
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_loopback;
	s4.sin_family = AF_INET;
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* An IPv6 node is IPv6 only: nothing of it may pass as IPv4. */
	if ((af == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, sa, sl) < 0 || getsockname(fd, sa, &sl) < 0) {
		close(fd);
		return -1;
	}
	if (ep) {
		memset(ep, 0, sizeof(*ep));
		ep->sin6_family = AF_INET6;
		if (af == AF_INET6) {
			/* A native IPv6 peer: the beacon sees [::1]:port. */
			ep->sin6_addr = s6.sin6_addr;
			ep->sin6_port = s6.sin6_port;
		} else {
			/* The beacon's socket is dual-stack: IPv4 peers are v4-mapped. */
			ep->sin6_addr.s6_addr[10] = 0xff;
			ep->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&ep->sin6_addr.s6_addr[12], &s4.sin_addr, 4);
			ep->sin6_port = s4.sin_port;
		}
	}
	return fd;
}

static int udp_socket_af(int af, struct sockaddr_in6 *ep)
{
	int fd = loopback_socket(af, ep);

	assert_true(fd >= 0);
	return fd;
}

static int udp_socket(struct sockaddr_in6 *ep)
{
	return udp_socket_af(AF_INET, ep);
}

static uint16_t free_udp_port(int af)
{
	struct sockaddr_in6 ep;

	close(udp_socket_af(af, &ep));
	return ntohs(ep.sin6_port);
}

/* Can a socket be bound to [::1]:0 here? */
static int have_ipv6_loopback(void)
{
	int fd = loopback_socket(AF_INET6, NULL);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void assert_native_v6(const struct sockaddr_in6 *ep)
{
	assert_int_equal(ep->sin6_family, AF_INET6);
	assert_false(IN6_IS_ADDR_V4MAPPED(&ep->sin6_addr));
	assert_true(IN6_IS_ADDR_LOOPBACK(&ep->sin6_addr));
}

static void assert_v4_mapped(const struct sockaddr_in6 *ep)
{
	assert_int_equal(ep->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_V4MAPPED(&ep->sin6_addr));
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ fixture */

static void node_put(struct fixture *f, const struct tnode *tn, int revoked)
{
	struct rdv_node rn;
	struct store_txn t;

	memset(&rn, 0, sizeof(rn));
	rn.id = tn->id;
	memcpy(rn.pk, tn->pk, 32);
	rn.active = 1;
	rn.public = 0;
	rn.revoked = revoked;
	store_txn_begin(f->r->db.st, &t, 0);
	rdv_node_put(&t, &f->r->db, &rn);
	assert_int_equal(store_txn_commit(&t), 0);
}

static int setup_net(void **state, uint32_t mbit, uint32_t total_mbit, enum net net)
{
	struct fixture *f;
	uint8_t beacon_x_pk[32], x_sk[32];
	struct store_txn t;

	if (net != NET_V4 && !ipv6_ok) {
		*state = NULL; /* the case skips itself */
		return 0;
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_rdv_bcn.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->r = calloc(1, sizeof(*f->r));
	assert_non_null(f->r);
	assert_int_equal(rdv_db_open(&f->r->db, f->dir), 0);
	f->r->base = event_base_new();
	assert_non_null(f->r->base);
	switch (net) {
	case NET_V4:
		snprintf(f->listen, sizeof(f->listen), "127.0.0.1:%u", free_udp_port(AF_INET));
		break;
	case NET_V6:
		snprintf(f->listen, sizeof(f->listen), "[::1]:%u", free_udp_port(AF_INET6));
		break;
	case NET_DUAL:
		snprintf(f->listen, sizeof(f->listen), "0.0.0.0:%u", free_udp_port(AF_INET));
		break;
	}
	f->r->cfg.state_dir = f->dir;
	f->r->cfg.beacon_listen = f->listen;
	f->r->cfg.relay_rate_mbit = mbit;
	f->r->cfg.relay_total_mbit = total_mbit;
	assert_int_equal(rdv_bcn_start(f->r), 0);
	assert_non_null(f->r->bcn);
	assert_true(f->r->db.have_beacon);

	memset(&f->beacon4, 0, sizeof(f->beacon4));
	f->beacon4.sin_family = AF_INET;
	f->beacon4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->beacon4.sin_port = htons(f->r->db.beacon_port);
	memset(&f->beacon6, 0, sizeof(f->beacon6));
	f->beacon6.sin6_family = AF_INET6;
	f->beacon6.sin6_addr = in6addr_loopback;
	f->beacon6.sin6_port = htons(f->r->db.beacon_port);

	assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(beacon_x_pk, f->r->db.beacon_pk), 0);
	for (int i = 0; i < NNODES; i++) {
		struct tnode *tn = &f->n[i];
		tn->id = (uint32_t)(i + 1);
		assert_int_equal(crypto_sign_keypair(tn->pk, tn->sk), 0);
		assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(x_sk, tn->sk), 0);
		assert_int_equal(
		    bcn_key(tn->key, x_sk, beacon_x_pk, tn->id, tn->pk, f->r->db.beacon_pk), 0);
		if (net == NET_V6 || (net == NET_DUAL && (i & 1))) {
			tn->fd = udp_socket_af(AF_INET6, &tn->ep);
			assert_native_v6(&tn->ep);
		} else {
			tn->fd = udp_socket_af(AF_INET, &tn->ep);
			assert_v4_mapped(&tn->ep);
		}
		node_put(f, tn, 0);
	}
	sodium_memzero(x_sk, sizeof(x_sk));
	store_txn_begin(f->r->db.st, &t, 0);
	rdv_trust_put(&t, &f->r->db, f->n[A].id, f->n[B].id, 1700000000000ull, 0);
	assert_int_equal(store_txn_commit(&t), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_net(state, 100, 1000, NET_V4);
}

static int setup_rate1(void **state)
{
	return setup_net(state, 1, 1000, NET_V4);
}

/* Each node may relay 100 Mbit/s, the whole beacon 1. */
static int setup_total1(void **state)
{
	return setup_net(state, 100, 1, NET_V4);
}

static int setup_rate0(void **state)
{
	return setup_net(state, 0, 1000, NET_V4);
}

static int setup6(void **state)
{
	return setup_net(state, 100, 1000, NET_V6);
}

static int setup_dual(void **state)
{
	return setup_net(state, 100, 1000, NET_DUAL);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (!f)
		return 0;
	rdv_bcn_stop(f->r);
	assert_null(f->r->bcn);
	for (int i = 0; i < NNODES; i++)
		close(f->n[i].fd);
	event_base_free(f->r->base);
	rdv_db_close(&f->r->db);
	free(f->r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* ------------------------------------------------------------ helpers */

static const struct rdv_bcn_stats *stats(struct fixture *f)
{
	return rdv_bcn_stats(f->r->bcn);
}

/* Run the beacon's loop until it has taken in \p want frames in all. */
static void pump(struct fixture *f, uint64_t want)
{
	for (int i = 0; i < PUMP_ROUNDS; i++) {
		event_base_loop(f->r->base, EVLOOP_NONBLOCK);
		if (stats(f)->rx_frames >= want)
			return;
		sleep_ms(2);
	}
	fail_msg("the beacon took in %llu frames, expected %llu",
		 (unsigned long long)stats(f)->rx_frames, (unsigned long long)want);
}

/* Send from \p fd to the beacon's address of the socket's family. */
static void send_raw(struct fixture *f, int fd, const uint8_t *buf, size_t len)
{
	struct sockaddr_storage me;
	socklen_t sl = sizeof(me);
	const struct sockaddr *to = (const struct sockaddr *)&f->beacon4;
	socklen_t tl = sizeof(f->beacon4);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &sl), 0);
	if (me.ss_family == AF_INET6) {
		to = (const struct sockaddr *)&f->beacon6;
		tl = sizeof(f->beacon6);
	}
	assert_int_equal(sendto(fd, buf, len, 0, to, tl), (ssize_t)len);
}

/* Send \p len bytes from \p fd and let the beacon handle them. */
static void send_pump(struct fixture *f, int fd, const uint8_t *buf, size_t len)
{
	uint64_t want = stats(f)->rx_frames + 1;

	send_raw(f, fd, buf, len);
	pump(f, want);
}

/* Seal a node -> beacon frame of \p tn with \p counter; a RELAY carries
 * \p payload.  \retval the frame length. */
static size_t seal_with(const struct tnode *tn, uint8_t type, uint32_t peer, uint64_t counter,
			const uint8_t *payload, size_t plen, uint8_t *buf, size_t cap)
{
	struct bcn_frame fr;
	int len;

	memset(&fr, 0, sizeof(fr));
	fr.type = type;
	fr.node = tn->id;
	fr.counter = counter;
	fr.peer = peer;
	fr.plen = plen;
	if (plen) {
		assert_true(BCN_RELAY_OVERHEAD + plen <= cap);
		memcpy(buf + BCN_RELAY_HDR, payload, plen);
	}
	len = bcn_seal(&fr, tn->key, buf, cap);
	assert_true(len > 0);
	return (size_t)len;
}

/* A \p type frame from \p tn with its next counter, the rest zero. */
static void frame_init(struct bcn_frame *fr, struct tnode *tn, uint8_t type)
{
	memset(fr, 0, sizeof(*fr));
	fr->type = type;
	fr->node = tn->id;
	fr->counter = bcn_counter_next(&tn->tx, (uint64_t)time(NULL));
}

static size_t seal(struct tnode *tn, uint8_t type, uint32_t peer, const uint8_t *payload,
		   size_t plen, uint8_t *buf, size_t cap)
{
	return seal_with(tn, type, peer, bcn_counter_next(&tn->tx, (uint64_t)time(NULL)), payload,
			 plen, buf, cap);
}

/* A frame waiting at \p fd within \p ms.  \retval its length, or -1. */
static ssize_t recv_wait(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

/* The next frame at \p fd must be a \p type from the beacon for \p tn:
 * valid under its key, addressed to it, with a fresh counter. */
static void expect_at(struct tnode *tn, int fd, uint8_t type, struct bcn_frame *fr, uint8_t *buf)
{
	ssize_t len = recv_wait(fd, buf, BUFCAP, 500);

	assert_true(len > 0);
	assert_int_equal(bcn_open(buf, (size_t)len, tn->key, fr), 0);
	assert_int_equal(fr->type, type);
	assert_int_equal(fr->node, tn->id);
	assert_true(bcn_replay_check(&tn->rx, fr->counter, (uint64_t)time(NULL)) >= 0);
}

static void expect(struct tnode *tn, uint8_t type, struct bcn_frame *fr, uint8_t *buf)
{
	expect_at(tn, tn->fd, type, fr, buf);
}

static void expect_none_at(int fd)
{
	uint8_t buf[BUFCAP];

	assert_int_equal(recv_wait(fd, buf, sizeof(buf), 20), -1);
}

static void expect_none(const struct tnode *tn)
{
	expect_none_at(tn->fd);
}

static void assert_ep(const struct sockaddr_in6 *got, const struct sockaddr_in6 *want)
{
	assert_int_equal(got->sin6_family, AF_INET6);
	assert_memory_equal(&got->sin6_addr, &want->sin6_addr, 16);
	assert_int_equal(got->sin6_port, want->sin6_port);
}

/* Exactly one drop, for \p why, since \p before. */
static void assert_dropped(struct fixture *f, const struct rdv_bcn_stats *before,
			   enum rdv_bcn_drop why)
{
	const struct rdv_bcn_stats *now = stats(f);

	for (int i = 0; i < RDV_BCN_DROP_COUNT; i++)
		if (now->dropped[i] != before->dropped[i] + (i == (int)why))
			fail_msg("dropped[%s] = %llu, was %llu (expected one %s drop)",
				 rdv_bcn_drop_name((enum rdv_bcn_drop)i),
				 (unsigned long long)now->dropped[i],
				 (unsigned long long)before->dropped[i], rdv_bcn_drop_name(why));
}

static void assert_no_drops(struct fixture *f, const struct rdv_bcn_stats *before)
{
	assert_memory_equal(stats(f)->dropped, before->dropped, sizeof(before->dropped));
}

/* \p tn binds from \p fd (its own socket if -1); the answer must name
 * \p ep and arrive there. */
static void bind_from(struct fixture *f, struct tnode *tn, int fd, const struct sockaddr_in6 *ep)
{
	uint8_t buf[BUFCAP];
	struct bcn_frame fr;
	size_t len;

	if (fd < 0) {
		fd = tn->fd;
		ep = &tn->ep;
	}
	len = seal(tn, BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	send_pump(f, fd, buf, len);
	expect_at(tn, fd, BCN_BIND_OK, &fr, buf);
	assert_ep(&fr.ep, ep);
}

static void do_bind(struct fixture *f, struct tnode *tn)
{
	bind_from(f, tn, -1, NULL);
}

/* \p from asks for \p to; the punch pair must reach both, each naming the
 * other's endpoint, with one nonce. */
static void punch_ok(struct fixture *f, struct tnode *from, struct tnode *to)
{
	uint8_t buf[BUFCAP], nonce[BCN_NONCE];
	struct bcn_frame fr;
	size_t len;

	len = seal(from, BCN_PUNCH_REQ, to->id, NULL, 0, buf, sizeof(buf));
	send_pump(f, from->fd, buf, len);
	expect(from, BCN_PUNCH, &fr, buf);
	assert_int_equal(fr.peer, to->id);
	assert_ep(&fr.ep, &to->ep);
	memcpy(nonce, fr.nonce, sizeof(nonce));
	expect(to, BCN_PUNCH, &fr, buf);
	assert_int_equal(fr.peer, from->id);
	assert_ep(&fr.ep, &from->ep);
	assert_memory_equal(fr.nonce, nonce, sizeof(nonce));
}

/* \p from relays a record to \p to: it must arrive, from \p from, intact. */
static void relay_ok(struct fixture *f, struct tnode *from, struct tnode *to)
{
	uint64_t sent = stats(f)->relayed_packets;
	uint8_t buf[BUFCAP], payload[100];
	struct bcn_frame fr;
	size_t len;

	randombytes_buf(payload, sizeof(payload));
	len = seal(from, BCN_RELAY, to->id, payload, sizeof(payload), buf, sizeof(buf));
	send_pump(f, from->fd, buf, len);
	expect(to, BCN_RELAYED, &fr, buf);
	assert_int_equal(fr.peer, from->id);
	assert_int_equal(fr.plen, sizeof(payload));
	assert_memory_equal(fr.payload, payload, sizeof(payload));
	assert_int_equal(stats(f)->relayed_packets, sent + 1);
	expect_none(from);
}

/* \p from sends a \p type frame (PUNCH_REQ or RELAY) for \p to: dropped
 * for \p why, and neither side hears anything. */
static void refused(struct fixture *f, struct tnode *from, uint8_t type, struct tnode *to,
		    enum rdv_bcn_drop why)
{
	struct rdv_bcn_stats before = *stats(f);
	uint8_t buf[BUFCAP], payload[100];
	size_t len;

	randombytes_buf(payload, sizeof(payload));
	len = seal(from, type, to->id, payload, type == BCN_RELAY ? sizeof(payload) : 0, buf,
		   sizeof(buf));
	send_pump(f, from->fd, buf, len);
	assert_dropped(f, &before, why);
	expect_none(to);
	expect_none(from);
}

/* \p from relays a record to \p to, which is not bound: dropped. */
static void relay_unbound(struct fixture *f, struct tnode *from, struct tnode *to)
{
	refused(f, from, BCN_RELAY, to, RDV_BCN_DROP_UNBOUND);
}

/* ------------------------------------------------------------ bindings file */

struct bline {
	unsigned id;
	char ep[64];
	unsigned long long ms;
};

static void bindings_path(const struct fixture *f, char *out, size_t len)
{
	snprintf(out, len, "%s/beacon.bindings", f->dir);
}

/* The lines of the bindings file, each "ID ENDPOINT WALL_MS".  \retval
 * how many. */
static int bindings_read(const struct fixture *f, struct bline *out, int max)
{
	char path[128], line[256];
	int n = 0;
	FILE *fp;

	bindings_path(f, path, sizeof(path));
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		assert_true(n < max);
		assert_non_null(strchr(line, '\n'));
		assert_int_equal(sscanf(line, "%u %63s %llu", &out[n].id, out[n].ep, &out[n].ms),
				 3);
		n++;
	}
	fclose(fp);
	return n;
}

static void bindings_write(const struct fixture *f, const char *text, size_t len)
{
	char path[128];
	FILE *fp;

	bindings_path(f, path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Stop the beacon: a clean stop saves its bindings. */
static void beacon_stop(struct fixture *f)
{
	rdv_bcn_stop(f->r);
	assert_null(f->r->bcn);
}

/* Start a new beacon on the same state directory and port: it loads the
 * bindings file. */
static void beacon_start(struct fixture *f)
{
	assert_int_equal(rdv_bcn_start(f->r), 0);
	assert_non_null(f->r->bcn);
	assert_int_equal(stats(f)->rx_frames, 0);
	/* A new beacon counts its frames afresh from (unix seconds << 32):
	 * in the second it stopped in, it may repeat a counter a node has
	 * already seen from the old one.  Not what these cases are about. */
	for (int i = 0; i < NNODES; i++)
		memset(&f->n[i].rx, 0, sizeof(f->n[i].rx));
}

/* ------------------------------------------------------------ cases */

static void test_bind(void **state)
{
	struct fixture *f = *state;
	struct rdv_bcn_stats before = *stats(f);
	uint8_t buf[BUFCAP];
	struct bcn_frame fr;
	size_t len;
	ssize_t got;

	len = seal(&f->n[A], BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	send_pump(f, f->n[A].fd, buf, len);
	got = recv_wait(f->n[A].fd, buf, sizeof(buf), 500);
	assert_int_equal(got, BCN_BIND_OK_LEN);
	assert_int_equal(bcn_open(buf, (size_t)got, f->n[A].key, &fr), 0);
	assert_int_equal(fr.type, BCN_BIND_OK);
	assert_int_equal(fr.node, f->n[A].id);
	assert_int_equal(bcn_replay_check(&f->n[A].rx, fr.counter, (uint64_t)time(NULL)), 1);
	assert_ep(&fr.ep, &f->n[A].ep);
	/* Under another node's key it is not valid. */
	assert_int_equal(bcn_open(buf, (size_t)got, f->n[B].key, &fr), -EPERM);
	assert_int_equal(stats(f)->binds, before.binds + 1);
	assert_no_drops(f, &before);
	expect_none(&f->n[B]);
}

/* BIND answers are metered with punch requests (RDV_BCN_CTL_PER_S): a
 * burst of BINDs, say from a spoofed source, gets at most that many. */
static void test_bind_rate(void **state)
{
	struct fixture *f = *state;
	struct rdv_bcn_stats before = *stats(f);
	uint8_t buf[BUFCAP];
	unsigned answers = 0;
	size_t len;

	for (int i = 0; i < RDV_BCN_CTL_PER_S + 10; i++) {
		len = seal(&f->n[A], BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
		send_pump(f, f->n[A].fd, buf, len);
	}
	while (recv_wait(f->n[A].fd, buf, sizeof(buf), 100) == BCN_BIND_OK_LEN)
		answers++;
	assert_true(answers >= RDV_BCN_CTL_PER_S && answers < RDV_BCN_CTL_PER_S + 10);
	assert_int_equal(stats(f)->binds - before.binds, answers);
	assert_int_equal(stats(f)->dropped[RDV_BCN_DROP_RATE] - before.dropped[RDV_BCN_DROP_RATE],
			 RDV_BCN_CTL_PER_S + 10 - answers);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], stranger;
	struct rdv_bcn_stats before;
	uint8_t buf[BUFCAP], copy[BUFCAP];
	struct bcn_frame fr;
	size_t len;

	/* A wrong MAC. */
	before = *stats(f);
	len = seal(a, BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	buf[len - 1] ^= 0x01;
	send_pump(f, a->fd, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_MAC);
	expect_none(a);

	/* A node the registry does not know. */
	before = *stats(f);
	stranger = *a;
	stranger.id = UNKNOWN_ID;
	len = seal(&stranger, BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	send_pump(f, a->fd, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_UNKNOWN);
	expect_none(a);

	/* The same frame twice: the second is a replay. */
	before = *stats(f);
	len = seal(a, BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	memcpy(copy, buf, len);
	send_pump(f, a->fd, buf, len);
	expect(a, BCN_BIND_OK, &fr, buf);
	assert_no_drops(f, &before);
	send_pump(f, a->fd, copy, len);
	assert_dropped(f, &before, RDV_BCN_DROP_REPLAY);
	expect_none(a);

	/* A stale counter (two minutes old), never seen before. */
	before = *stats(f);
	len = seal_with(a, BCN_BIND, 0, ((uint64_t)time(NULL) - 120) << 32, NULL, 0, buf,
			sizeof(buf));
	send_pump(f, a->fd, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_REPLAY);
	expect_none(a);

	/* A beacon -> node frame reflected at the beacon. */
	before = *stats(f);
	{
		struct bcn_frame ok;
		int n;
		frame_init(&ok, a, BCN_BIND_OK);
		ok.ep = a->ep;
		n = bcn_seal(&ok, a->key, buf, sizeof(buf));
		assert_true(n > 0);
		len = (size_t)n;
	}
	send_pump(f, a->fd, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_MALFORMED);
	expect_none(a);
	assert_int_equal(stats(f)->binds, 1);
}

static void test_punch(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B], *c = &f->n[C], *d = &f->n[D];
	struct rdv_bcn_stats before;

	do_bind(f, a);
	do_bind(f, b);
	do_bind(f, c);

	before = *stats(f);
	punch_ok(f, a, b);
	assert_no_drops(f, &before);
	assert_int_equal(stats(f)->punch_reqs, before.punch_reqs + 1);
	assert_int_equal(stats(f)->punches_sent, before.punches_sent + 2);
	expect_none(c);

	/* C, trusted by nobody, may not learn where B is... */
	refused(f, c, BCN_PUNCH_REQ, b, RDV_BCN_DROP_DENIED);
	/* ...nor be handed to A. */
	refused(f, a, BCN_PUNCH_REQ, c, RDV_BCN_DROP_DENIED);
	/* D is registered but has never bound. */
	refused(f, a, BCN_PUNCH_REQ, d, RDV_BCN_DROP_UNBOUND);
	assert_int_equal(stats(f)->punches_sent, 2);
}

static void test_relay(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B], *c = &f->n[C];
	struct rdv_bcn_stats before;
	uint8_t buf[BUFCAP], payload[100];
	struct bcn_frame fr;
	size_t len;

	do_bind(f, a);
	do_bind(f, b);
	do_bind(f, c);
	randombytes_buf(payload, sizeof(payload));

	before = *stats(f);
	len = seal(a, BCN_RELAY, b->id, payload, sizeof(payload), buf, sizeof(buf));
	send_pump(f, a->fd, buf, len);
	expect(b, BCN_RELAYED, &fr, buf);
	assert_int_equal(fr.peer, a->id);
	assert_int_equal(fr.plen, sizeof(payload));
	assert_memory_equal(fr.payload, payload, sizeof(payload));
	assert_no_drops(f, &before);
	assert_int_equal(stats(f)->relayed_packets, before.relayed_packets + 1);
	assert_int_equal(stats(f)->relayed_bytes, before.relayed_bytes + sizeof(payload));
	expect_none(a);
	expect_none(c);

	/* C may not reach B through the beacon. */
	refused(f, c, BCN_RELAY, b, RDV_BCN_DROP_DENIED);
	assert_int_equal(stats(f)->relayed_packets, 1);
}

/* Count the valid RELAYED frames from A waiting at B. */
static unsigned drain_relayed(struct fixture *f, const uint8_t *payload, size_t plen)
{
	uint8_t buf[BUFCAP];
	struct bcn_frame fr;
	unsigned n = 0;
	ssize_t len;

	while ((len = recv(f->n[B].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		assert_int_equal(bcn_open(buf, (size_t)len, f->n[B].key, &fr), 0);
		assert_int_equal(fr.type, BCN_RELAYED);
		assert_int_equal(fr.peer, f->n[A].id);
		assert_int_equal(fr.plen, plen);
		assert_memory_equal(fr.payload, payload, plen);
		assert_true(bcn_replay_check(&f->n[B].rx, fr.counter, (uint64_t)time(NULL)) >= 0);
		n++;
	}
	return n;
}

/* A and B bound, 200 relay frames of \p plen random bytes from A to B, as
 * fast as the beacon takes them: how many B got.  Stats before in \p before. */
static unsigned relay_200(struct fixture *f, uint8_t *payload, size_t plen,
			  struct rdv_bcn_stats *before)
{
	struct tnode *a = &f->n[A], *b = &f->n[B];
	uint8_t buf[BUFCAP];
	unsigned got = 0;
	size_t len;

	do_bind(f, a);
	do_bind(f, b);
	randombytes_buf(payload, plen);
	*before = *stats(f);
	for (int i = 0; i < 200; i++) {
		len = seal(a, BCN_RELAY, b->id, payload, plen, buf, sizeof(buf));
		send_raw(f, a->fd, buf, len);
		event_base_loop(f->r->base, EVLOOP_NONBLOCK);
		got += drain_relayed(f, payload, plen);
	}
	pump(f, before->rx_frames + 200);
	return got + drain_relayed(f, payload, plen);
}

static void test_relay_budget(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A];
	struct rdv_bcn_stats before;
	uint8_t payload[1000];
	unsigned got = relay_200(f, payload, sizeof(payload), &before);

	/* A burst of 65536 bytes (65 records) passes, then the 1 Mbit/s rate. */
	assert_true(got >= 65);
	assert_true(got < 100);
	assert_true(stats(f)->dropped[RDV_BCN_DROP_RATE] > 0);
	assert_int_equal(stats(f)->relayed_packets, before.relayed_packets + got);
	assert_int_equal(stats(f)->dropped[RDV_BCN_DROP_RATE], 200 - got);
	for (int i = 0; i < RDV_BCN_DROP_COUNT; i++)
		if (i != RDV_BCN_DROP_RATE)
			assert_int_equal(stats(f)->dropped[i], before.dropped[i]);
	expect_none(a);
}

/* The whole beacon's budget holds however large a node's own is. */
static void test_relay_total_budget(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B];
	struct rdv_bcn_stats before;
	uint8_t buf[BUFCAP], payload[1000];
	unsigned got = relay_200(f, payload, sizeof(payload), &before);
	size_t len;

	/* A's own 100 Mbit/s bucket holds 3 MB; the beacon's 65536 bytes. */
	assert_true(got >= 65);
	assert_true(got < 100);
	assert_int_equal(stats(f)->dropped[RDV_BCN_DROP_RATE], 200 - got);
	/* A new budget on reload applies at once. */
	rdv_bcn_set_rate(f->r->bcn, 100, 0);
	len = seal(a, BCN_RELAY, b->id, payload, sizeof(payload), buf, sizeof(buf));
	send_raw(f, a->fd, buf, len);
	pump(f, before.rx_frames + 201);
	assert_int_equal(drain_relayed(f, payload, sizeof(payload)), 0);
	assert_int_equal(stats(f)->dropped[RDV_BCN_DROP_RATE], 201 - got);
}

static void test_relay_off(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B];
	struct rdv_bcn_stats before;
	uint8_t buf[BUFCAP], payload[100];
	size_t len;

	do_bind(f, a);
	do_bind(f, b);
	randombytes_buf(payload, sizeof(payload));
	for (int i = 0; i < 5; i++) {
		before = *stats(f);
		len = seal(a, BCN_RELAY, b->id, payload, sizeof(payload), buf, sizeof(buf));
		send_pump(f, a->fd, buf, len);
		assert_dropped(f, &before, RDV_BCN_DROP_RATE);
	}
	expect_none(b);
	expect_none(a);
	assert_int_equal(stats(f)->relayed_packets, 0);
	/* Punching does not depend on the relay budget. */
	punch_ok(f, a, b);
}

/* \p from asks for \p to, which roamed to \p to_fd (\p to_ep): the punch to
 * \p from names \p to_ep, and \p to's half arrives at \p to_fd, not at
 * \p other_fd. */
static void punch_roamed(struct fixture *f, struct tnode *from, struct tnode *to, int to_fd,
			 const struct sockaddr_in6 *to_ep, int other_fd)
{
	uint8_t buf[BUFCAP], nonce[BCN_NONCE];
	struct bcn_frame fr;
	size_t len;

	len = seal(from, BCN_PUNCH_REQ, to->id, NULL, 0, buf, sizeof(buf));
	send_pump(f, from->fd, buf, len);
	expect(from, BCN_PUNCH, &fr, buf);
	assert_int_equal(fr.peer, to->id);
	assert_ep(&fr.ep, to_ep);
	memcpy(nonce, fr.nonce, sizeof(nonce));
	expect_at(to, to_fd, BCN_PUNCH, &fr, buf);
	assert_int_equal(fr.peer, from->id);
	assert_ep(&fr.ep, &from->ep);
	assert_memory_equal(fr.nonce, nonce, sizeof(nonce));
	expect_none_at(other_fd);
}

static void test_roaming(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B];
	struct rdv_bcn_stats before;
	struct sockaddr_in6 ep2;
	uint64_t c1, c2, c3, now_s = (uint64_t)time(NULL);
	uint8_t buf[BUFCAP];
	struct bcn_frame fr;
	size_t len;
	int s1 = a->fd, s2 = udp_socket(&ep2);

	c1 = bcn_counter_next(&a->tx, now_s);
	c2 = bcn_counter_next(&a->tx, now_s);
	c3 = bcn_counter_next(&a->tx, now_s);
	do_bind(f, b);

	/* A binds from s1... */
	before = *stats(f);
	len = seal_with(a, BCN_BIND, 0, c1, NULL, 0, buf, sizeof(buf));
	send_pump(f, s1, buf, len);
	expect_at(a, s1, BCN_BIND_OK, &fr, buf);
	assert_ep(&fr.ep, &a->ep);
	punch_roamed(f, b, a, s1, &a->ep, s2);

	/* ...then from s2 with a newer counter: A has moved. */
	len = seal_with(a, BCN_BIND, 0, c3, NULL, 0, buf, sizeof(buf));
	send_pump(f, s2, buf, len);
	expect_at(a, s2, BCN_BIND_OK, &fr, buf);
	assert_ep(&fr.ep, &ep2);
	expect_none_at(s1);
	punch_roamed(f, b, a, s2, &ep2, s1);
	assert_no_drops(f, &before);

	/* An older counter, in the window and not yet seen, from s1: accepted
	 * (not a replay), but it cannot drag the endpoint back. */
	before = *stats(f);
	len = seal_with(a, BCN_BIND, 0, c2, NULL, 0, buf, sizeof(buf));
	send_pump(f, s1, buf, len);
	assert_no_drops(f, &before);
	assert_int_equal(stats(f)->binds, before.binds + 1);
	/* Its answer (wherever it went) names the source it came from. */
	{
		ssize_t got = recv_wait(s2, buf, sizeof(buf), 200);
		if (got < 0)
			got = recv_wait(s1, buf, sizeof(buf), 200);
		assert_true(got > 0);
		assert_int_equal(bcn_open(buf, (size_t)got, a->key, &fr), 0);
		assert_int_equal(fr.type, BCN_BIND_OK);
		assert_ep(&fr.ep, &a->ep);
	}
	punch_roamed(f, b, a, s2, &ep2, s1);
	assert_no_drops(f, &before);
	close(s2);
}

/* \p tn sends an ECHO padded by \p pad bytes from \p fd.  \retval its
 * length. */
static size_t echo_send(struct fixture *f, struct tnode *tn, int fd, size_t pad, uint8_t *buf)
{
	struct bcn_frame fr;
	int len;

	frame_init(&fr, tn, BCN_ECHO);
	memcpy(fr.nonce, "echo-tag", BCN_NONCE);
	fr.plen = pad;
	memset(buf + BCN_ECHO_HDR, 0, pad);
	len = bcn_seal(&fr, tn->key, buf, BUFCAP);
	assert_true(len > 0);
	send_pump(f, fd, buf, (size_t)len);
	return (size_t)len;
}

/* ECHO (netcheck): answered to the socket it came from, as long as it was,
 * naming that socket's endpoint; the node's binding does not move, and a
 * node that never bound stays unbound. */
static void test_echo(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B], *d = &f->n[D];
	static const size_t pads[] = {0, 200, BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN};
	struct rdv_bcn_stats before;
	struct sockaddr_in6 ep2;
	uint8_t buf[BUFCAP];
	struct bcn_frame fr;
	int s2 = udp_socket(&ep2);
	size_t len;
	ssize_t got;

	do_bind(f, a);
	do_bind(f, b);
	before = *stats(f);
	for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
		len = echo_send(f, a, s2, pads[i], buf);
		got = recv_wait(s2, buf, sizeof(buf), 500);
		assert_int_equal(got, (ssize_t)len);
		assert_int_equal(bcn_open(buf, (size_t)got, a->key, &fr), 0);
		assert_int_equal(fr.type, BCN_ECHO_OK);
		assert_int_equal(fr.node, a->id);
		assert_int_equal(fr.plen, pads[i]);
		assert_memory_equal(fr.nonce, "echo-tag", BCN_NONCE);
		assert_ep(&fr.ep, &ep2);
		assert_true(bcn_replay_check(&a->rx, fr.counter, (uint64_t)time(NULL)) >= 0);
		expect_none(a);
	}
	assert_int_equal(stats(f)->echoes, before.echoes + 3);
	assert_int_equal(stats(f)->binds, before.binds);
	assert_no_drops(f, &before);
	/* A is still bound at its own socket: a punch names that. */
	punch_roamed(f, b, a, a->fd, &a->ep, s2);

	/* D never bound: answered, and still not punchable. */
	len = echo_send(f, d, d->fd, 10, buf);
	expect(d, BCN_ECHO_OK, &fr, buf);
	assert_ep(&fr.ep, &d->ep);
	refused(f, a, BCN_PUNCH_REQ, d, RDV_BCN_DROP_UNBOUND);

	/* An ECHO_OK sent to the beacon is no request. */
	before = *stats(f);
	frame_init(&fr, a, BCN_ECHO_OK);
	len = (size_t)bcn_seal(&fr, a->key, buf, sizeof(buf));
	send_pump(f, s2, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_MALFORMED);
	expect_none_at(s2);
	close(s2);
}

/* The same ECHO twice: the second is a replay; and echoes share the
 * control budget with BIND answers. */
static void test_echo_replay_rate(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A];
	struct rdv_bcn_stats before = *stats(f);
	uint8_t buf[BUFCAP], copy[BUFCAP];
	unsigned answers = 0;
	size_t len;

	struct bcn_frame fr;

	len = echo_send(f, a, a->fd, 64, buf);
	memcpy(copy, buf, len);
	expect(a, BCN_ECHO_OK, &fr, buf);
	send_pump(f, a->fd, copy, len);
	assert_dropped(f, &before, RDV_BCN_DROP_REPLAY);
	expect_none(a);

	before = *stats(f);
	for (int i = 0; i < RDV_BCN_CTL_PER_S + 10; i++)
		echo_send(f, a, a->fd, 0, buf);
	while (recv_wait(a->fd, buf, sizeof(buf), 100) == BCN_ECHO_MIN_LEN)
		answers++;
	assert_true(answers >= RDV_BCN_CTL_PER_S - 1 && answers < RDV_BCN_CTL_PER_S + 10);
	assert_int_equal(stats(f)->echoes - before.echoes, answers);
	assert_int_equal(stats(f)->dropped[RDV_BCN_DROP_RATE] - before.dropped[RDV_BCN_DROP_RATE],
			 RDV_BCN_CTL_PER_S + 10 - answers);
}

static void test_revoked(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B];
	struct rdv_bcn_stats before;
	uint8_t buf[BUFCAP], payload[100];
	struct bcn_frame fr;
	struct rdv_node rn;
	struct store_txn t;
	size_t len;

	do_bind(f, a);
	do_bind(f, b);
	randombytes_buf(payload, sizeof(payload));
	len = seal(a, BCN_RELAY, b->id, payload, sizeof(payload), buf, sizeof(buf));
	send_pump(f, a->fd, buf, len);
	expect(b, BCN_RELAYED, &fr, buf);

	/* The registry revokes B; within RDV_BCN_RECHECK_MS the beacon knows. */
	store_txn_begin(f->r->db.st, &t, 0);
	assert_int_equal(rdv_node_get(&t, &f->r->db, b->id, &rn), 0);
	rn.revoked = 1;
	rdv_node_put(&t, &f->r->db, &rn);
	assert_int_equal(store_txn_commit(&t), 0);
	sleep_ms(RDV_BCN_RECHECK_MS + 200);

	before = *stats(f);
	len = seal(a, BCN_RELAY, b->id, payload, sizeof(payload), buf, sizeof(buf));
	send_pump(f, a->fd, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_UNKNOWN);
	expect_none(b);
	expect_none(a);

	before = *stats(f);
	len = seal(b, BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	send_pump(f, b->fd, buf, len);
	assert_dropped(f, &before, RDV_BCN_DROP_UNKNOWN);
	expect_none(b);
	assert_int_equal(stats(f)->relayed_packets, 1);
}

/* ------------------------------------------------------------ IPv6 cases */

/* Over ::1 the beacon answers a native IPv6 endpoint, not a v4-mapped one. */
static void test_bind6(void **state)
{
	struct fixture *f = *state;
	struct rdv_bcn_stats before;
	struct sockaddr_in6 me;
	socklen_t sl = sizeof(me);
	uint8_t buf[BUFCAP];
	struct bcn_frame fr;
	char eb[64], want[64];
	size_t len;

	if (!f)
		skip();
	before = *stats(f);
	assert_int_equal(getsockname(f->n[A].fd, (struct sockaddr *)&me, &sl), 0);
	assert_int_equal(me.sin6_family, AF_INET6);
	len = seal(&f->n[A], BCN_BIND, 0, NULL, 0, buf, sizeof(buf));
	send_pump(f, f->n[A].fd, buf, len);
	expect(&f->n[A], BCN_BIND_OK, &fr, buf);
	assert_native_v6(&fr.ep);
	assert_memory_equal(&fr.ep.sin6_addr, &in6addr_loopback, 16);
	assert_int_equal(fr.ep.sin6_port, me.sin6_port);
	snprintf(want, sizeof(want), "[::1]:%u", ntohs(me.sin6_port));
	assert_string_equal(bcn_ep_format6(&fr.ep, eb, sizeof(eb)), want);
	assert_int_equal(stats(f)->binds, before.binds + 1);
	assert_no_drops(f, &before);
	expect_none(&f->n[B]);
}

/* Every node's endpoint is [::1]:port (setup6 checks), so the punches name
 * native IPv6 endpoints; the refusals are those of IPv4. */
static void test_punch6(void **state)
{
	if (!*state)
		skip();
	test_punch(state);
}

static void test_relay6(void **state)
{
	if (!*state)
		skip();
	test_relay(state);
}

/* One beacon on "0.0.0.0" serves both underlays: A on 127.0.0.1, B on ::1. */
static void test_dual_stack(void **state)
{
	struct fixture *f = *state;
	struct tnode *a, *b;
	struct rdv_bcn_stats before;

	if (!f)
		skip();
	a = &f->n[A];
	b = &f->n[B];
	before = *stats(f);
	do_bind(f, a); /* answered with 127.0.0.1 as v4-mapped */
	do_bind(f, b); /* answered with [::1] */
	assert_v4_mapped(&a->ep);
	assert_native_v6(&b->ep);
	relay_ok(f, a, b);
	relay_ok(f, b, a);
	relay_ok(f, a, b);
	punch_ok(f, a, b);
	punch_ok(f, b, a);
	assert_no_drops(f, &before);
	assert_int_equal(stats(f)->relayed_packets, before.relayed_packets + 3);
	expect_none(&f->n[C]);
	expect_none(&f->n[D]);
}

/* ------------------------------------------------------------ restarts */

/* A clean stop saves A's and B's bindings; the next beacon reaches B with
 * no new BIND from it. */
static void test_bindings_kept(void **state)
{
	struct fixture *f = *state;
	struct tnode *a, *b;
	struct bline l[NNODES + 1];
	struct rdv_bcn_stats zero;
	struct stat st;
	char path[128], eb[64];
	uint64_t t0 = wall_ms();

	if (!f)
		skip();
	a = &f->n[A];
	b = &f->n[B];
	do_bind(f, a);
	do_bind(f, b);
	beacon_stop(f);

	bindings_path(f, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(bindings_read(f, l, NNODES + 1), 2);
	assert_true(l[0].id != l[1].id);
	for (int i = 0; i < 2; i++) {
		struct tnode *tn = l[i].id == a->id ? a : b;
		assert_true(l[i].id == a->id || l[i].id == b->id);
		assert_string_equal(l[i].ep, bcn_ep_format6(&tn->ep, eb, sizeof(eb)));
		assert_true(l[i].ms + 1000 >= t0);
		assert_true(l[i].ms <= wall_ms());
	}

	beacon_start(f);
	/* A's own frame binds A again; B comes from the file. */
	relay_ok(f, a, b);
	assert_int_equal(stats(f)->binds, 0);
	memset(&zero, 0, sizeof(zero));
	assert_no_drops(f, &zero);
	expect_none(&f->n[C]);
}

/* The same with one endpoint of each family in the file. */
static void test_bindings_kept_dual(void **state)
{
	test_bindings_kept(state);
}

/* Lines older than a binding lives are skipped at start; younger kept. */
static void test_bindings_stale(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B];
	struct bline l[NNODES + 1];
	char text[512];
	size_t len = 0;
	uint64_t ms;
	int n;

	do_bind(f, a);
	do_bind(f, b);
	beacon_stop(f);
	n = bindings_read(f, l, NNODES + 1);
	assert_int_equal(n, 2);
	ms = wall_ms() - RDV_BCN_BIND_TTL_MS - 1000;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%u %s %llu\n", l[i].id,
					l[i].ep, (unsigned long long)ms);
	bindings_write(f, text, len);
	beacon_start(f);
	relay_unbound(f, a, b);
	assert_int_equal(stats(f)->relayed_packets, 0);

	/* The same lines, a little younger than the TTL: B is bound. */
	beacon_stop(f);
	ms = wall_ms() - RDV_BCN_BIND_TTL_MS + 10000;
	len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%u %s %llu\n", l[i].id,
					l[i].ep, (unsigned long long)ms);
	bindings_write(f, text, len);
	beacon_start(f);
	relay_ok(f, a, b);
}

/* A file of garbage binds nobody, and the beacon serves as usual. */
static void test_bindings_garbage(void **state)
{
	struct fixture *f = *state;
	struct tnode *a = &f->n[A], *b = &f->n[B];
	unsigned long long now;
	char text[8192], port[8];
	size_t len;

	do_bind(f, a);
	do_bind(f, b);
	beacon_stop(f);
	now = (unsigned long long)wall_ms();
	snprintf(port, sizeof(port), "%u", ntohs(b->ep.sin6_port));
	/* Well-formed but wrong: node 0, an unknown node, a bad endpoint, port
	 * 0, a timestamp in the future, a missing field, an overlong
	 * endpoint, blank lines. */
	len = (size_t)snprintf(
	    text, sizeof(text),
	    "0 127.0.0.1:%s %llu\n"
	    "%u 127.0.0.1:%s %llu\n"
	    "%u - %llu\n"
	    "%u 127.0.0.1:0 %llu\n"
	    "%u [::1]:%s %llu\n"
	    "%u 127.0.0.1:%s %llu\n"
	    "%u 127.0.0.1:%s\n"
	    "%u 127.0.0.1:%s0000000000000000000000000000000000000000000000000000000"
	    "00000000000000000000 %llu\n"
	    "%u [::1:%s %llu\n"
	    "\n\n   \n",
	    port, now, UNKNOWN_ID, port, now, b->id, now, b->id, now, b->id, port, now + 60000,
	    b->id, port, now + RDV_BCN_BIND_TTL_MS, b->id, port, b->id, port, now, b->id, port,
	    now);
	/* Then random lines (no NUL: they must all be read). */
	for (int i = 0; i < 64 && len + 130 < sizeof(text); i++) {
		size_t ll = 1 + randombytes_uniform(120);
		randombytes_buf(text + len, ll);
		for (size_t j = 0; j < ll; j++)
			if (text[len + j] == '\0')
				text[len + j] = ' ';
		len += ll;
		text[len++] = '\n';
	}
	bindings_write(f, text, len);
	beacon_start(f);
	relay_unbound(f, a, b);

	/* Nothing stuck: once B binds, A reaches it. */
	do_bind(f, b);
	relay_ok(f, a, b);
	relay_ok(f, b, a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_rate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_punch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_budget, setup_rate1, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_total_budget, setup_total1, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_off, setup_rate0, teardown),
	    cmocka_unit_test_setup_teardown(test_roaming, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_echo_replay_rate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind6, setup6, teardown),
	    cmocka_unit_test_setup_teardown(test_punch6, setup6, teardown),
	    cmocka_unit_test_setup_teardown(test_relay6, setup6, teardown),
	    cmocka_unit_test_setup_teardown(test_dual_stack, setup_dual, teardown),
	    cmocka_unit_test_setup_teardown(test_bindings_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bindings_kept_dual, setup_dual, teardown),
	    cmocka_unit_test_setup_teardown(test_bindings_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bindings_garbage, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	ipv6_ok = have_ipv6_loopback();
	if (!ipv6_ok)
		fprintf(stderr, "test_rdv_bcn: [::1] is unusable here, IPv6 cases skipped\n");
	log_init("test_rdv_bcn", LOG_LVL_ERROR, LOG_FMT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
