/* pilotd_bcn.c - pilotd's side of the beacon (doc/NAT.md): binding our
 * reflexive endpoint, asking for punches, wrapping records for the relay,
 * and the checks on everything the beacon sends.  Beacon frames travel on
 * the tunnel's own UDP socket, so the NAT mapping the beacon sees is the
 * one peers reach.  Path choices per peer are dp.c's. */
#include "config.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "bcn.h"
#include "dp.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define BIND_EVERY_MS 25000   /* under every common NAT's UDP timeout */
#define BIND_RELAYED_MS 10000 /* with relayed peers: a restarted beacon learns us soon */
#define BIND_RETRY_MS 2000
#define BIND_STALE_MS 60000

/* Is \p ep one of this host's own addresses at \p port?  If not (for
 * our listen port), a NAT sits between us and the beacon. */
int pilotd_bcn_ep_is_ours(const struct sockaddr_in6 *ep, uint16_t port)
{
	struct ifaddrs *ifa, *i;
	int ours = 0;

	if (ntohs(ep->sin6_port) != port || getifaddrs(&ifa) < 0)
		return 0;
	for (i = ifa; i && !ours; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET && IN6_IS_ADDR_V4MAPPED(&ep->sin6_addr))
			ours = memcmp(&((const struct sockaddr_in *)i->ifa_addr)->sin_addr,
				      &ep->sin6_addr.s6_addr[12], 4) == 0;
		else if (i->ifa_addr->sa_family == AF_INET6)
			ours = memcmp(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
				      &ep->sin6_addr, 16) == 0;
	}
	freeifaddrs(ifa);
	return ours;
}

/* --beacon, else the registry's host at the port the registry announced.
 * A name is resolved once per registration; IPv4 is v4-mapped for our
 * dual-stack socket. */
static int beacon_addr(struct pilotd *d, uint16_t port, struct sockaddr_in6 *out)
{
	struct addrinfo hints, *res = NULL;
	char host[256], svc[8];
	uint16_t p;

	/* The registry in use: after a failover, the beacon beside it. */
	if (conf_split_hostport(d->cfg.beacon ? d->cfg.beacon : regc_addr(&d->regc), host,
				sizeof(host), &p) < 0)
		return -EINVAL;
	if (!d->cfg.beacon) {
		if (!port)
			return -ENOENT;
		p = port;
	}
	snprintf(svc, sizeof(svc), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET6;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_V4MAPPED | AI_NUMERICSERV;
	if (getaddrinfo(host, svc, &hints, &res) != 0 || !res)
		return -EHOSTUNREACH;
	memcpy(out, res->ai_addr, sizeof(*out));
	freeaddrinfo(res);
	return 0;
}

void pilotd_bcn_configure(struct pilotd *d, yajl_val reg)
{
	struct pilotd_bcn *b = &d->bcn;
	uint8_t pk[32], x_pk[32];
	uint32_t port = 0;
	char eb[64];
	int rc;

	if (json_get_b64(reg, "beacon_key", pk, 32) < 0) {
		if (b->have_key)
			log_info("the registry announces no beacon any more");
		b->have_key = 0;
		return;
	}
	json_get_u32(reg, "beacon_port", &port);
	rc = beacon_addr(d, (uint16_t)port, &b->addr);
	if (rc < 0) {
		log_warnx("beacon: no usable address (%s); NAT traversal is off", strerror(-rc));
		b->have_key = 0;
		return;
	}
	if (crypto_sign_ed25519_pk_to_curve25519(x_pk, pk) != 0 ||
	    bcn_key(b->key, d->id.x_sk, x_pk, d->node_id, d->id.ed_pk, pk) < 0) {
		log_warnx("beacon: the registry announced an unusable key; NAT traversal is off");
		b->have_key = 0;
		return;
	}
	if (!b->have_key || memcmp(b->pk, pk, 32) != 0)
		memset(&b->rx, 0, sizeof(b->rx));
	memcpy(b->pk, pk, 32);
	b->have_key = 1;
	bcn_counter_start(&b->tx, now_real_ms() / 1000);
	b->bind_sent_ms = 0; /* bind now */
	log_info("beacon %s", bcn_ep_format6(&b->addr, eb, sizeof(eb)));
	pilotd_bcn_tick(d, now_mono_ms());
}

int pilotd_bcn_ready(const struct pilotd *d)
{
	return d->bcn.have_key && d->bcn.bind_ok_ms &&
	       now_mono_ms() - d->bcn.bind_ok_ms < BIND_STALE_MS;
}

static void send_ctl(struct pilotd *d, struct bcn_frame *f)
{
	uint8_t buf[BCN_PUNCH_LEN];
	int n;

	f->node = d->node_id;
	f->counter = bcn_counter_next(&d->bcn.tx, now_real_ms() / 1000);
	n = bcn_seal(f, d->bcn.key, buf, sizeof(buf));
	if (n > 0)
		sendto(d->udp_fd, buf, (size_t)n, 0, (struct sockaddr *)&d->bcn.addr,
		       sizeof(d->bcn.addr));
}

void pilotd_bcn_tick(struct pilotd *d, uint64_t now)
{
	struct pilotd_bcn *b = &d->bcn;
	struct bcn_frame f;
	uint64_t every;

	if (!b->have_key || !d->node_id)
		return;
	/* A relayed peer reaches us only while the beacon knows where we
	 * are: after a beacon crash, our next BIND is what restores that. */
	every = !pilotd_bcn_ready(d) ? BIND_RETRY_MS
		: b->relayed_peers   ? BIND_RELAYED_MS
				     : BIND_EVERY_MS;
	if (b->bind_sent_ms && now - b->bind_sent_ms < every)
		return;
	memset(&f, 0, sizeof(f));
	f.type = BCN_BIND;
	send_ctl(d, &f);
	b->bind_sent_ms = now;
}

void pilotd_bcn_punch_req(struct pilotd *d, uint32_t node)
{
	struct bcn_frame f;

	if (!d->bcn.have_key)
		return;
	memset(&f, 0, sizeof(f));
	f.type = BCN_PUNCH_REQ;
	f.peer = node;
	send_ctl(d, &f);
	d->ctr.punch_requests_sent++;
}

int pilotd_bcn_wrap(struct pilotd *d, uint8_t *frame, size_t reclen, size_t cap, uint32_t to)
{
	struct bcn_frame f;

	memset(&f, 0, sizeof(f));
	f.type = BCN_RELAY;
	f.node = d->node_id;
	f.peer = to;
	f.plen = reclen;
	f.counter = bcn_counter_next(&d->bcn.tx, now_real_ms() / 1000);
	return bcn_seal(&f, d->bcn.key, frame, cap);
}

int pilotd_bcn_accept(struct pilotd *d, const uint8_t *buf, size_t len,
		      const struct sockaddr_in6 *src, struct bcn_frame *f)
{
	struct pilotd_bcn *b = &d->bcn;

	/* Only the configured beacon, only with our key, only fresh. */
	if (!b->have_key || memcmp(&src->sin6_addr, &b->addr.sin6_addr, 16) != 0 ||
	    src->sin6_port != b->addr.sin6_port || bcn_open(buf, len, b->key, f) < 0 ||
	    f->node != d->node_id ||
	    (f->type != BCN_BIND_OK && f->type != BCN_PUNCH && f->type != BCN_RELAYED &&
	     f->type != BCN_ECHO_OK) ||
	    bcn_replay_check(&b->rx, f->counter, now_real_ms() / 1000) < 0) {
		d->ctr.rx_dropped_beacon++;
		return -1;
	}
	return 0;
}

void pilotd_bcn_input(struct pilotd *d, uint8_t *buf, size_t len, const struct sockaddr_in6 *src,
		      uint64_t now)
{
	struct pilotd_bcn *b = &d->bcn;
	struct bcn_frame f;

	if (buf[0] == BCN_PROBE) {
		uint32_t node;
		uint8_t nonce[BCN_NONCE];
		/* A peer opening its NAT towards us: it shows where its
		 * mapping really is (a port-shifting NAT's differs from what
		 * the beacon saw). */
		d->ctr.probes_rx++;
		if (bcn_probe_parse(buf, len, &node, nonce) == 0)
			dp_probe(d, buf, len, node, nonce, src, now);
		return;
	}
	if (pilotd_bcn_accept(d, buf, len, src, &f) < 0)
		return;
	switch (f.type) {
	case BCN_BIND_OK:
		if (!b->have_reflexive || memcmp(&b->reflexive, &f.ep, sizeof(f.ep)) != 0) {
			char eb[64];
			int nat = !pilotd_bcn_ep_is_ours(&f.ep, (uint16_t)d->cfg.listen_port),
			    changed = !b->have_reflexive || nat != b->behind_nat;
			log_info("beacon: this node is seen at %s%s",
				 bcn_ep_format6(&f.ep, eb, sizeof(eb)),
				 nat ? " (behind a NAT)" : "");
			b->reflexive = f.ep;
			b->have_reflexive = 1;
			b->behind_nat = nat;
			if (changed)
				regc_heartbeat_now(&d->regc);
		}
		b->bind_ok_ms = now;
		break;
	case BCN_PUNCH:
		d->ctr.punches_received++;
		dp_punch(d, f.peer, &f.ep, f.nonce, now);
		break;
	case BCN_RELAYED:
		d->ctr.relay_rx_packets++;
		dp_relayed_in(d, buf + BCN_RELAY_HDR, f.plen, f.peer, now);
		break;
	case BCN_ECHO_OK:
		/* Only a netcheck asks (pilotd_netcheck.c, above us). */
		if (b->on_echo)
			b->on_echo(d, &f, len, 0);
		break;
	}
}

void pilotd_bcn_status(struct pilotd *d, struct json_gen *j)
{
	struct pilotd_bcn *b = &d->bcn;
	char eb[64];

	jg_key(j, "beacon");
	jg_map_open(j);
	jg_kstr(j, "address", b->have_key ? bcn_ep_format6(&b->addr, eb, sizeof(eb)) : "");
	jg_kstr(j, "state", !b->have_key ? "off" : pilotd_bcn_ready(d) ? "ok" : "unbound");
	jg_kstr(j, "reflexive",
		b->have_reflexive ? bcn_ep_format6(&b->reflexive, eb, sizeof(eb)) : "");
	jg_map_close(j);
}
