/* pilotd_cmd_bcast.c - the control-socket command broadcast: one UDP
 * datagram to a network's broadcast address, built here and handed to the
 * same fan-out a program's datagram meets on pilot0 (dp_bcast_out), so
 * `pilotctl broadcast` and a plain socket behave the same; the answer says
 * how many members it went to and why the others did not get it. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#include "addr.h"
#include "dp.h"
#include "ipc.h"
#include "json.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "pkt.h"
#include "util.h"

#define IP6_HDR 40
#define UDP_HDR 8

void cmd_broadcast(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	uint8_t pkt[DP_BUFSZ];
	struct pilot_addr self, bc;
	struct in6_addr src, dst;
	struct dp_bcast_result res;
	struct pkt_info pi;
	struct json_gen *j;
	const char *msg;
	char abuf[PILOT_ADDR_STRLEN], ibuf[INET6_ADDRSTRLEN];
	uint32_t net, port;
	size_t mlen, len, max = d->cfg.mtu - IP6_HDR - UDP_HDR;
	int rc;

	if (json_get_u32(args, "network_id", &net) < 0 || net > 65535) {
		ipc_reply_error(req, "bad_request", "expected a network ID (1-65535)", NULL);
		return;
	}
	if (json_get_u32(args, "port", &port) < 0 || port == 0 || port > 65535) {
		ipc_reply_error(req, "bad_request", "expected a UDP port (1-65535)", NULL);
		return;
	}
	if (json_get_str(args, "message", &msg) < 0) {
		ipc_reply_error(req, "bad_request", "expected a message", NULL);
		return;
	}
	if ((mlen = strlen(msg)) > max || mlen > DP_BUFSZ - IP6_HDR - UDP_HDR) {
		ipc_reply_error(req, "too_large", "the message does not fit one datagram",
				"at most the overlay MTU less 48 bytes of headers");
		return;
	}
	if (net == 0) {
		ipc_reply_error(req, "forbidden", "broadcast is never on the backbone (network 0)",
				NULL);
		return;
	}
	if (!need_registered(d, req))
		return;
	self.net = bc.net = (uint16_t)net;
	self.node = d->node_id;
	bc.node = PILOT_NODE_BROADCAST;
	addr_to_ipv6(&d->prefix, &self, &src);
	addr_to_ipv6(&d->prefix, &bc, &dst);
	/* An ephemeral source port, as a socket would have: replies to it
	 * find no program and are refused by this node's kernel. */
	rc = pkt_make_udp(&src, (uint16_t)(49152 + randombytes_uniform(16384)), &dst,
			  (uint16_t)port, (const uint8_t *)msg, mlen, pkt, sizeof(pkt));
	if (rc < 0 || pkt_parse(pkt, (size_t)rc, &pi) < 0) {
		ipc_reply_error(req, "internal", "could not build the datagram", NULL);
		return;
	}
	len = (size_t)rc;
	rc = dp_bcast_out(d, pkt, len, &pi, (uint16_t)net, now_mono_ms(), &res);
	if (rc == -ENOENT) {
		ipc_reply_error(req, "not_found", "this node is not a member of that network",
				NULL);
		return;
	}
	if (rc == -EPERM) {
		ipc_reply_error(req, "forbidden", "broadcast is off on this node",
				"broadcast_rate is 0 in pilotd.json");
		return;
	}
	if (rc == -EBUSY) {
		ipc_reply_error(req, "rate_limited", "over this node's broadcast rate",
				"broadcast_rate and broadcast_burst in pilotd.json");
		return;
	}
	if (rc < 0) {
		ipc_reply_error(req, "internal", strerror(-rc), NULL);
		return;
	}
	j = ipc_reply_ok_begin(req);
	jg_ku64(j, "network_id", net);
	jg_kstr(j, "address", addr_format(&bc, abuf));
	jg_kstr(j, "ipv6", inet_ntop(AF_INET6, &dst, ibuf, sizeof(ibuf)));
	jg_ku64(j, "port", port);
	jg_ku64(j, "bytes", mlen);
	jg_ku64(j, "sent", res.sent);
	jg_ku64(j, "denied", res.denied);
	jg_ku64(j, "blocked", res.blocked);
	jg_ku64(j, "policy", res.policy);
	jg_ku64(j, "unreachable", res.unreachable);
	jg_ku64(j, "too_big", res.too_big);
	ipc_reply_ok_end(req);
}
