/* pilotd_netcheck.c - `pilotctl netcheck` (doc/NAT.md "netcheck"): echoes
 * to the beacon from the tunnel socket and from a second socket opened for
 * the run (the NAT's mapping of two local ports), padded echoes from the
 * second socket with DF set (the largest datagram that passes), and a
 * registry round trip (resolve of this node).  Bounded: every echo is sent
 * at most NC_ROUNDS times, the echoes are given up NC_ECHO_MS after the
 * start and the registry NC_TOTAL_MS after it.  What the answers mean is
 * netcheck.c's. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bcn.h"
#include "json.h"
#include "log.h"
#include "netcheck.h"
#include "pilotd.h"
#include "util.h"

#define TICK_MS 250

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A dual-stack socket on an ephemeral port whose datagrams leave with DF
 * and are never fragmented here (PMTUDISC_PROBE: too big for the
 * interface is EMSGSIZE, whatever the kernel learned of the path). */
static int second_socket(uint16_t *port)
{
	struct sockaddr_in6 sa;
	socklen_t sl = sizeof(sa);
	int fd, zero = 0, v4 = IP_PMTUDISC_PROBE, v6 = IPV6_PMTUDISC_PROBE;

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4, sizeof(v4));
	setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6, sizeof(v6));
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_any;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*port = ntohs(sa.sin6_port);
	return fd;
}

/* Send echo \p i (its round: how often it was sent). */
static void echo_send(struct pilotd *d, unsigned i)
{
	struct pilotd_netcheck *nc = &d->netcheck;
	struct nc_echo *e = &nc->echo[i];
	uint8_t buf[BCN_ECHO_MAX_LEN];
	struct bcn_frame f;
	int n, fd = i == NC_ECHO_TUNNEL ? d->udp_fd : nc->fd;

	memset(buf, 0, sizeof(buf));
	memset(&f, 0, sizeof(f));
	f.type = BCN_ECHO;
	f.node = d->node_id;
	f.counter = bcn_counter_next(&d->bcn.tx, now_real_ms() / 1000);
	f.plen = e->len - BCN_ECHO_MIN_LEN;
	nc_tag_make(f.nonce, nc->run, i, e->sent);
	n = bcn_seal(&f, d->bcn.key, buf, sizeof(buf));
	if (n < 0)
		return;
	e->sent_us[e->sent] = mono_us();
	if (sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)&d->bcn.addr,
		   sizeof(d->bcn.addr)) < 0 &&
	    errno == EMSGSIZE) {
		e->refused = 1; /* larger than the interface's MTU */
		return;
	}
	e->sent++;
}

static void send_round(struct pilotd *d)
{
	struct pilotd_netcheck *nc = &d->netcheck;

	for (unsigned i = 0; i < NC_PROBES; i++)
		if (!nc->echo[i].answered && !nc->echo[i].refused && nc->echo[i].sent < NC_ROUNDS)
			echo_send(d, i);
	nc->rounds++;
}

static void cleanup(struct pilotd_netcheck *nc)
{
	if (nc->ev_rx)
		event_free(nc->ev_rx);
	if (nc->ev_timer)
		event_free(nc->ev_timer);
	if (nc->fd >= 0)
		close(nc->fd);
	nc->ev_rx = nc->ev_timer = NULL;
	nc->fd = -1;
	nc->running = 0;
}

static void finish(struct pilotd *d)
{
	struct pilotd_netcheck *nc = &d->netcheck;
	const struct nc_echo *t = &nc->echo[NC_ECHO_TUNNEL], *s = &nc->echo[NC_ECHO_SECOND];
	enum nc_mapping m;

	nc->duration_us = mono_us() - nc->start_us;
	if (!nc->reg_done)
		snprintf(nc->reg_error, sizeof(nc->reg_error), "no answer within %u ms",
			 NC_TOTAL_MS);
	m = nc_mapping_decide(
	    t->answered ? &t->ep : NULL, (uint16_t)d->cfg.listen_port, s->answered ? &s->ep : NULL,
	    nc->port2, t->answered && pilotd_bcn_ep_is_ours(&t->ep, (uint16_t)d->cfg.listen_port));
	nc->mapping = m;
	cleanup(nc);
	d->bcn.on_echo = NULL;
	log_info("netcheck: NAT mapping %s, beacon %s, %llu ms", nc_mapping_name(m),
		 t->answered || s->answered ? "answered" : "silent",
		 (unsigned long long)(nc->duration_us / 1000));
	nc->cb(d, nc->cb_arg, nc);
}

static int all_heard(const struct pilotd *d)
{
	const struct pilotd_netcheck *nc = &d->netcheck;

	return nc->reg_done && (!d->bcn.have_key || nc_echoes_done(nc->echo));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pilotd *d = arg;
	struct pilotd_netcheck *nc = &d->netcheck;
	uint64_t ms = (mono_us() - nc->start_us) / 1000;

	(void)fd;
	(void)what;
	if (ms >= NC_TOTAL_MS || (ms >= NC_ECHO_MS && nc->reg_done)) {
		finish(d);
		return;
	}
	if (d->bcn.have_key && nc->rounds < NC_ROUNDS && ms >= nc->rounds * NC_ROUND_MS)
		send_round(d);
}

/* An authenticated ECHO_OK, from the tunnel socket (pilotd_bcn.c hands
 * it here while a run is under way) or the second one. */
static void on_answer(struct pilotd *d, const struct bcn_frame *f, size_t len, int second)
{
	struct pilotd_netcheck *nc = &d->netcheck;
	unsigned i, round;

	if (!nc->running || nc_tag_parse(f->nonce, nc->run, &i, &round) < 0 ||
	    !nc_echo_answer(&nc->echo[i], i, round, second, len, &f->ep, mono_us()))
		return;
	if (all_heard(d))
		finish(d);
}

static void on_rx(evutil_socket_t fd, short what, void *arg)
{
	struct pilotd *d = arg;

	(void)what;
	for (int k = 0; k < NC_PROBES * NC_ROUNDS && d->netcheck.running; k++) {
		uint8_t buf[2048];
		struct sockaddr_in6 src;
		socklen_t sl = sizeof(src);
		struct bcn_frame f;
		ssize_t n =
		    recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&src, &sl);

		if (n < 0)
			break;
		if (sl != sizeof(src) || pilotd_bcn_accept(d, buf, (size_t)n, &src, &f) < 0 ||
		    f.type != BCN_ECHO_OK)
			continue;
		on_answer(d, &f, (size_t)n, 1);
	}
}

/* The registry's answer to this run's resolve (\p arg: the run). */
static void on_registry(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			yajl_val resp)
{
	struct pilotd_netcheck *nc = &d->netcheck;

	(void)resp;
	if (!nc->running || (uint32_t)(uintptr_t)arg != nc->run)
		return; /* a run that already ended */
	nc->reg_done = 1;
	nc->reg_rtt_us = mono_us() - nc->start_us;
	if (err < 0)
		snprintf(nc->reg_error, sizeof(nc->reg_error), "%s: %s", code, msg);
	if (all_heard(d))
		finish(d);
}

static void add_self(struct json_gen *j, void *arg)
{
	struct pilotd *d = arg;
	jg_ku64(j, "target", d->node_id);
}

int pilotd_netcheck_start(struct pilotd *d, pilotd_netcheck_cb cb, void *arg)
{
	struct pilotd_netcheck *nc = &d->netcheck;
	struct timeval tick = {0, TICK_MS * 1000};
	uint16_t sizes[NC_MTUS];
	int fd;

	if (nc->running)
		return -EBUSY;
	fd = second_socket(&nc->port2);
	if (fd < 0)
		return fd;
	memset(nc->echo, 0, sizeof(nc->echo));
	nc->fd = fd;
	nc->run = randombytes_random();
	nc->rounds = 0;
	nc->reg_done = 0;
	nc->reg_rtt_us = 0;
	nc->reg_error[0] = '\0';
	nc->cb = cb;
	nc->cb_arg = arg;
	nc->ev_rx = event_new(d->base, fd, EV_READ | EV_PERSIST, on_rx, d);
	nc->ev_timer = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	if (!nc->ev_rx || !nc->ev_timer || event_add(nc->ev_rx, NULL) < 0 ||
	    event_add(nc->ev_timer, &tick) < 0) {
		cleanup(nc);
		return -ENOMEM;
	}
	nc->running = 1;
	d->bcn.on_echo = on_answer;
	nc->echo[NC_ECHO_TUNNEL].len = nc->echo[NC_ECHO_SECOND].len = BCN_ECHO_MIN_LEN;
	nc_mtu_sizes(!IN6_IS_ADDR_V4MAPPED(&d->bcn.addr.sin6_addr), sizes);
	for (unsigned i = 0; i < NC_MTUS; i++)
		nc->echo[2 + i].len = sizes[i];
	nc->start_us = mono_us();
	/* The registry call's answer may come after the run: it names it. */
	if (regc_call(&d->regc, "resolve", add_self, d, on_registry, (void *)(uintptr_t)nc->run) <
	    0) {
		nc->reg_done = 1;
		snprintf(nc->reg_error, sizeof(nc->reg_error), "could not send the request");
	}
	if (d->bcn.have_key)
		send_round(d);
	return 0;
}

void pilotd_netcheck_stop(struct pilotd *d)
{
	if (d->netcheck.running)
		finish(d);
}
