/* dp_tx.c - sending one record on a peer's path: straight to its
 * endpoint, with a hop limit for punches, or inside a RELAY frame through
 * the beacon.  The batched sends of the TUN loop are dp.c's; these are
 * for what goes out one at a time (handshakes, keepalives, queued
 * packets, refusals). */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "dp_int.h"
#include "log.h"
#include "util.h"

/* Send with the hop limit \p ttl (0: the socket's default).  IPv4 peers
 * are v4-mapped on our dual-stack socket and take IP_TTL; IPv6 ones
 * IPV6_HOPLIMIT. */
ssize_t dp_sendto_ttl(int fd, const uint8_t *buf, size_t len, const struct sockaddr_in6 *to,
		      int ttl)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_name = (void *)to,
			    .msg_namelen = sizeof(*to),
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.b,
			    .msg_controllen = sizeof(cm.b)};
	struct cmsghdr *c;

	if (ttl <= 0)
		return sendto(fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to));
	memset(&cm, 0, sizeof(cm));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_len = CMSG_LEN(sizeof(int));
	if (IN6_IS_ADDR_V4MAPPED(&to->sin6_addr)) {
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_TTL;
	} else {
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_HOPLIMIT;
	}
	memcpy(CMSG_DATA(c), &ttl, sizeof(ttl));
	return sendmsg(fd, &mh, 0);
}

void dp_send_to_ttl(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len,
		    const struct sockaddr_in6 *to, int ttl)
{
	if (dp_sendto_ttl(d->udp_fd, buf, len, to, ttl) < 0) {
		if (errno != EAGAIN)
			log_debug("send to node %u: %s", p->node_id, strerror(errno));
		return;
	}
	d->ctr.udp_tx_packets++;
	p->last_tx_ms = now_mono_ms();
	if (to != &d->bcn.addr)
		p->direct_tx_ms = p->last_tx_ms;
}

void dp_send_to(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len,
		const struct sockaddr_in6 *to)
{
	dp_send_to_ttl(d, p, buf, len, to, 0);
}

int dp_relayed(const struct pilotd *d, const struct peer *p)
{
	return p->path == PATH_RELAYED && d->bcn.have_key;
}

/* Through the beacon: the record, as it is, inside a RELAY frame. */
void dp_send_relayed(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len)
{
	uint8_t *f = d->batch->relay;
	int n;

	if (len + BCN_RELAY_OVERHEAD > sizeof(d->batch->relay))
		return;
	memcpy(f + BCN_RELAY_HDR, buf, len);
	n = d->dp_ops->bcn_wrap(d, f, len, sizeof(d->batch->relay), p->node_id);
	if (n < 0)
		return;
	d->ctr.relay_tx_packets++;
	dp_send_to(d, p, f, (size_t)n, &d->bcn.addr);
}

/* Send a record on \p p's path: its endpoint, or the relay. */
void dp_send_one(struct pilotd *d, struct peer *p, const uint8_t *buf, size_t len)
{
	if (dp_relayed(d, p))
		dp_send_relayed(d, p, buf, len);
	else if (p->eplen)
		dp_send_to(d, p, buf, len, (const struct sockaddr_in6 *)&p->ep);
}

/* Seal \p pkt (copied into scratch) and send it straight away. */
int dp_seal_now(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len)
{
	uint8_t *buf = d->batch->scratch;
	int n;

	if (!p->cur || len + TNL_DATA_OVERHEAD > DP_BUFSZ)
		return -EINVAL;
	if (len)
		memmove(buf + TNL_DATA_HDR, pkt, len);
	n = tnl_data_seal(p->cur, buf, len);
	if (n < 0)
		return n;
	p->tx_bytes += len;
	if (len) {
		p->last_data_ms = now_mono_ms();
		if (!p->unanswered_since_ms)
			p->unanswered_since_ms = p->last_data_ms;
	}
	return n;
}

/* Seal \p pkt (copied into scratch; NULL/0: a keepalive) and send it on
 * \p p's path straight away. */
void dp_send_data_now(struct pilotd *d, struct peer *p, const uint8_t *pkt, size_t len)
{
	int n;

	if (!dp_relayed(d, p) && !p->eplen)
		return;
	n = dp_seal_now(d, p, pkt, len);
	if (n > 0)
		dp_send_one(d, p, d->batch->scratch, (size_t)n);
}

size_t dp_relay_mtu(const struct pilotd *d)
{
	size_t ip = IN6_IS_ADDR_V4MAPPED(&d->bcn.addr.sin6_addr) ? 20 : 40;
	return DP_UNDERLAY_MTU - ip - 8 - TNL_DATA_OVERHEAD - BCN_RELAY_OVERHEAD;
}

int dp_session_ready(struct pilotd *d, struct peer *p, uint64_t now)
{
	return p->cur && (p->eplen || dp_relayed(d, p)) &&
	       now - p->cur->created_ms < d->reject_ms &&
	       p->cur->send_counter < TNL_REKEY_AFTER_MESSAGES;
}

void dp_flush_queue(struct pilotd *d, struct peer *p)
{
	uint8_t *pkt;
	size_t len;
	int sent = 0;

	while ((len = peer_queue_pop(p, &pkt)) > 0) {
		dp_send_data_now(d, p, pkt, len);
		free(pkt);
		sent = 1;
	}
	/* An empty record confirms the new session to a responder at once. */
	if (!sent && p->cur && p->cur->is_initiator)
		dp_send_data_now(d, p, NULL, 0);
}
