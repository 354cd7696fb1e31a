/* ctl_addr.c - "pilotctl addr": a Pilot address to its overlay IPv6 address
 * and back (SPEC section 3), with the deployment prefix from the daemon. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "ctl.h"

int ctl_cmd_addr(struct ctl *c, int argc, char **argv)
{
	char pbuf[INET6_ADDRSTRLEN + 4], abuf[PILOT_ADDR_STRLEN], ibuf[INET6_ADDRSTRLEN];
	char nbuf[16], idbuf[16];
	yajl_val tree = NULL, data;
	struct pilot_prefix pfx;
	struct pilot_addr a;
	struct in6_addr ip;
	const char *in, *ps = NULL;
	int ret, n, is_ip;

	ret = ctl_positionals(c, argc, argv, 1, 1, &n);
	if (ret)
		return ret;
	in = argv[1];
	/* Refuse malformed input before asking the daemon anything, so the
	 * answer does not depend on whether it runs. */
	if (addr_parse(in, &a) == 0)
		is_ip = 0;
	else if (inet_pton(AF_INET6, in, &ip) == 1)
		is_ip = 1;
	else
		return ctl_fail(c, -EINVAL, "bad_request",
				"a Pilot address is N:NNNN.HHHH.LLLL (network in decimal, then "
				"network, node-high, node-low in hex), e.g. 1:0001.0000.002A",
				"'%s' is neither a Pilot address nor an IPv6 address", in);

	ret = ctl_call1(c, "prefix", NULL, NULL, &tree, &data);
	if (ret)
		return ret;
	if (json_get_str(data, "prefix", &ps) != 0 || prefix_parse(ps, &pfx) != 0) {
		ret = ctl_fail(c, -EPROTO, "internal", "pilotd may not be registered yet",
			       "pilotd sent no valid deployment prefix");
		goto out;
	}
	prefix_format(&pfx, pbuf, sizeof(pbuf));
	if (is_ip) {
		if (addr_from_ipv6(&pfx, &ip, &a) != 0) {
			ret = ctl_fail(
			    c, -EINVAL, "bad_request",
			    "overlay addresses are PREFIX:NET::NODE with the middle 32 "
			    "bits zero",
			    "%s is not a Pilot node address in this deployment's prefix %s", in,
			    pbuf);
			goto out;
		}
	} else {
		addr_to_ipv6(&pfx, &a, &ip);
	}
	addr_format(&a, abuf);
	inet_ntop(AF_INET6, &ip, ibuf, sizeof(ibuf));
	if (c->json) {
		struct json_gen g;
		ret = ctl_emit_begin(&g);
		if (ret)
			goto out;
		jg_kstr(&g, "address", abuf);
		jg_kstr(&g, "ipv6", ibuf);
		jg_ku64(&g, "network_id", a.net);
		jg_ku64(&g, "node_id", a.node);
		ret = ctl_emit_end(c, &g);
	} else {
		const char *pairs[] = {"address",    abuf, "ipv6",    ibuf,
				       "network_id", nbuf, "node_id", idbuf};
		snprintf(nbuf, sizeof(nbuf), "%u", a.net);
		snprintf(idbuf, sizeof(idbuf), "%u", a.node);
		ctl_kv(pairs, 4);
	}
out:
	yajl_tree_free(tree);
	return ret;
}
