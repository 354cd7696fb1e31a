/* ctl_cmds.c - node and trust commands: one daemon request each
 * (doc/IPC.md), shown as the daemon's data with --json and as a table or
 * key: value lines otherwise. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

/* A command that is one IPC request: positional arguments become the
 * members named in keys[] (missing optional ones are sent as ""), and
 * print() renders the data for humans. */
struct node_cmd {
	const char *ipc;
	const char *keys[2];
	int min, max;
	int (*print)(yajl_val data);
};

static int run_node_cmd(struct ctl *c, int argc, char **argv, const struct node_cmd *nc)
{
	yajl_val tree = NULL, data = NULL;
	struct json_gen g;
	int ret, n;

	ret = ctl_positionals(c, argc, argv, nc->min, nc->max, &n);
	if (ret)
		return ret;
	ret = ctl_req_begin(c, &g, nc->ipc);
	if (ret)
		return ret;
	for (int i = 0; i < nc->max; i++)
		jg_kstr(&g, nc->keys[i], i < n ? argv[1 + i] : "");
	ret = ctl_call(c, &g, &tree, &data);
	if (ret)
		return ret;
	if (c->json)
		ret = ctl_emit_ok_val(c, data);
	else
		ret = nc->print(data);
	yajl_tree_free(tree);
	return ret;
}

/* Build a table from an array member: one column per key in keys[], with
 * "@key" meaning "Unix seconds shown as an age". */
static int print_list(yajl_val data, const char *member, size_t ncols, const char *const *headers,
		      const char *const *keys, const char *empty)
{
	yajl_val arr = json_get(data, member);
	const char *row[12];
	char bufs[12][256];
	struct ctl_table *t;
	int ret = 0;

	if (!YAJL_IS_ARRAY(arr) || arr->u.array.len == 0) {
		printf("%s\n", empty);
		return 0;
	}
	if (ncols > nitems(row))
		return -EINVAL;
	t = ctl_table_new(ncols, headers);
	if (!t)
		return -ENOMEM;
	for (size_t r = 0; r < arr->u.array.len && !ret; r++) {
		yajl_val o = arr->u.array.values[r];
		for (size_t i = 0; i < ncols; i++) {
			if (keys[i][0] == '@')
				row[i] = ctl_mage(o, keys[i] + 1, bufs[i], sizeof(bufs[i]));
			else
				row[i] = ctl_mtext(o, keys[i], bufs[i], sizeof(bufs[i]));
		}
		ret = ctl_table_add(t, row);
	}
	if (!ret)
		ctl_table_print(t);
	ctl_table_free(t);
	return ret;
}

/* ---------------------------------------------------------------- info */

static int print_info(yajl_val d)
{
	static const char *const keys[] = {"node_id",  "address",    "ipv6",
					   "hostname", "visibility", "peers",
					   "prefix",   "public_key", "score"};
	static const char *const net_hdr[] = {"NETWORK", "ADDRESS", "IPV6"};
	static const char *const net_keys[] = {"network_id", "address", "ipv6"};
	const char *pairs[2 * nitems(keys)];
	char bufs[nitems(keys)][256];
	int registered = 1;

	/* A report, not a failure: say why the node has no ID yet. */
	if (json_get_bool(d, "registered", &registered) == 0 && !registered) {
		char r[64], m[300];
		printf("registered: no (%s: %s)\n", ctl_mtext(d, "reason", r, sizeof(r)),
		       ctl_mtext(d, "message", m, sizeof(m)));
	}
	for (size_t i = 0; i < nitems(keys); i++) {
		pairs[2 * i] = keys[i];
		pairs[2 * i + 1] = ctl_mtext(d, keys[i], bufs[i], sizeof(bufs[i]));
	}
	ctl_kv(pairs, nitems(keys));
	printf("\nnetworks:\n");
	return print_list(d, "networks", nitems(net_hdr), net_hdr, net_keys, "(none)");
}

static const struct node_cmd info_cmd = {"info", {NULL}, 0, 0, print_info};

int ctl_cmd_info(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &info_cmd);
}

/* --------------------------------------------------------------- peers */

static const char *const peer_hdr[] = {"NODE",	 "ADDRESS",  "HOSTNAME",      "PATH",
				       "REASON", "ENDPOINT", "LAST HANDSHAKE"};
static const char *const peer_keys[] = {"node_id",     "address",  "hostname",	     "path",
					"path_reason", "endpoint", "@last_handshake"};

static int print_peers(yajl_val d)
{
	return print_list(d, "peers", nitems(peer_hdr), peer_hdr, peer_keys, "no peers");
}

static const struct node_cmd peers_cmd = {"peers", {NULL}, 0, 0, print_peers};

int ctl_cmd_peers(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &peers_cmd);
}

/* ------------------------------------------------------------ netcheck */

/* "yes, round trip 0.4 ms" / "no answer" for a reachability and its time. */
static const char *reach_text(yajl_val d, const char *ok_key, const char *rtt_key, char *out,
			      size_t len)
{
	yajl_val rtt = json_get(d, rtt_key);
	char b[64];
	int ok = 0;

	if (ok_key && json_get_bool(d, ok_key, &ok) < 0) {
		snprintf(out, len, "not checked (no beacon)");
		return out;
	}
	if (!rtt || YAJL_IS_NULL(rtt))
		snprintf(out, len, "no answer");
	else
		snprintf(out, len, "yes, round trip %s ms", ctl_text(rtt, b, sizeof(b)));
	return out;
}

static int print_netcheck(yajl_val d)
{
	yajl_val bcn = json_get(d, "beacon"), mtu = json_get(d, "mtu");
	char b[10][128], bline[300], udp[128], refl[2][200], reg[400], mtul[200];
	const char *pairs[14], *map;
	uint64_t pm = 0, up = 0, lp = 0;

	snprintf(bline, sizeof(bline), "%s (%s)", ctl_mtext(bcn, "address", b[0], sizeof(b[0])),
		 ctl_mtext(bcn, "state", b[1], sizeof(b[1])));
	reach_text(d, "udp", "beacon_rtt_ms", udp, sizeof(udp));
	snprintf(refl[0], sizeof(refl[0]), "%s (local port %s)",
		 ctl_mtext(d, "reflexive", b[2], sizeof(b[2])),
		 ctl_mtext(d, "local_port", b[3], sizeof(b[3])));
	snprintf(refl[1], sizeof(refl[1]), "%s (local port %s)",
		 ctl_mtext(d, "reflexive_second", b[4], sizeof(b[4])),
		 ctl_mtext(d, "local_port_second", b[5], sizeof(b[5])));
	map = ctl_mtext(d, "mapping", b[6], sizeof(b[6]));
	if (strcmp(map, "endpoint-dependent") == 0)
		map = "endpoint-dependent (symmetric): peers behind NATs are reached through the "
		      "relay";
	else if (strcmp(map, "none") == 0)
		map = "none (a public address)";
	reach_text(d, NULL, "registry_rtt_ms", reg, sizeof(reg));
	{
		const char *re = ctl_mtext(d, "registry_error", b[7], sizeof(b[7]));
		if (strcmp(re, "-") != 0)
			snprintf(reg, sizeof(reg), "no answer (%s)", re);
	}
	if (json_get_u64(mtu, "path_mtu", &pm) == 0 &&
	    json_get_u64(mtu, "largest_payload", &lp) == 0) {
		json_get_u64(mtu, "probed_up_to", &up);
		snprintf(mtul, sizeof(mtul), "%s%llu (largest UDP payload %llu)",
			 pm >= up ? "at least " : "", (unsigned long long)pm,
			 (unsigned long long)lp);
	} else {
		snprintf(mtul, sizeof(mtul), "unknown (no probe came back)");
	}
	pairs[0] = "beacon";
	pairs[1] = bline;
	pairs[2] = "udp to beacon";
	pairs[3] = udp;
	pairs[4] = "reflexive";
	pairs[5] = refl[0];
	pairs[6] = "second port";
	pairs[7] = refl[1];
	pairs[8] = "nat mapping";
	pairs[9] = map;
	pairs[10] = "registry";
	pairs[11] = reg;
	pairs[12] = "path mtu";
	pairs[13] = mtul;
	ctl_kv(pairs, 7);
	return 0;
}

static const struct node_cmd netcheck_cmd = {"netcheck", {NULL}, 0, 0, print_netcheck};

int ctl_cmd_netcheck(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &netcheck_cmd);
}

/* -------------------------------------------------------------- status */

/* The problems of a health object as "code: message; ..." into \p out. */
static const char *health_text(yajl_val h, char *out, size_t outlen)
{
	yajl_val probs = json_get(h, "problems");
	size_t n = 0;
	char code[64], msg[512];

	out[0] = '\0';
	for (size_t i = 0; YAJL_IS_ARRAY(probs) && i < probs->u.array.len && n < outlen; i++) {
		yajl_val p = probs->u.array.values[i];
		n += (size_t)snprintf(out + n, outlen - n, "%s%s: %s", i ? "; " : "",
				      ctl_mtext(p, "code", code, sizeof(code)),
				      ctl_mtext(p, "message", msg, sizeof(msg)));
	}
	return out;
}

static int print_status(yajl_val d)
{
	static const char *const st_hdr[] = {"NODE",   "HOSTNAME", "PATH",
					     "REASON", "ENDPOINT", "LAST HANDSHAKE",
					     "RX",     "TX",	   "FLOWS"};
	static const char *const st_keys[] = {"node_id",     "hostname", "path",
					      "path_reason", "endpoint", "@last_handshake",
					      "rx_bytes",    "tx_bytes", "flows"};
	yajl_val reg = json_get(d, "registry"), tun = json_get(d, "tun"),
		 counters = json_get(d, "counters"), bcn = json_get(d, "beacon");
	char b[6][256], regline[1000], tunline[300], bcnline[400], up[64], spline[800];
	char hline[1700], hst[32], hb[1600];
	const char *pairs[20];
	char scb[32];
	yajl_val sp = json_get(d, "spiffe");
	size_t np = 8;
	uint64_t uptime, ago;
	int connected = 0;

	json_get_bool(reg, "connected", &connected);
	/* pilotd reports the age of the last answer (0 also when none came). */
	if (json_get_u64(reg, "last_ok_seconds_ago", &ago) == 0 && (connected || ago)) {
		ctl_duration(ago, "", up, sizeof(up));
		snprintf(b[1], sizeof(b[1]), "%s ago", up);
	} else {
		snprintf(b[1], sizeof(b[1]), "never");
	}
	snprintf(regline, sizeof(regline), "%s (%s, last ok %s)",
		 ctl_mtext(reg, "address", b[0], sizeof(b[0])),
		 connected ? "connected" : "disconnected", b[1]);
	{
		int registered = 1;
		char r[64], m[300];
		size_t n = strlen(regline);
		if (json_get_bool(reg, "registered", &registered) == 0 && !registered)
			snprintf(regline + n, sizeof(regline) - n, "; not registered: %s: %s",
				 ctl_mtext(reg, "reason", r, sizeof(r)),
				 ctl_mtext(reg, "message", m, sizeof(m)));
		/* Why the last call failed (until now only in --json), unless the
		 * registration failure above already says it. */
		n = strlen(regline);
		if (!connected && *ctl_mtext(reg, "last_error", m, sizeof(m)) &&
		    strcmp(m, "-") != 0 && !strstr(regline, m))
			snprintf(regline + n, sizeof(regline) - n, "; last error: %s", m);
	}
	{
		yajl_val off = json_get(tun, "offload");
		int tso = 0, gso = 0, gro = 0;
		json_get_bool(off, "tso", &tso);
		json_get_bool(off, "udp_gso", &gso);
		json_get_bool(off, "udp_gro", &gro);
		snprintf(tunline, sizeof(tunline),
			 "%s (mtu %s; offload: tso %s, udp gso %s, udp gro %s)",
			 ctl_mtext(tun, "name", b[2], sizeof(b[2])),
			 ctl_mtext(tun, "mtu", b[3], sizeof(b[3])), tso ? "on" : "off",
			 gso ? "on" : "off", gro ? "on" : "off");
	}
	pairs[0] = "version";
	pairs[1] = ctl_mtext(d, "version", b[4], sizeof(b[4]));
	pairs[2] = "uptime";
	pairs[3] = json_get_u64(d, "uptime", &uptime) == 0
		       ? ctl_duration(uptime, "", up, sizeof(up))
		       : "-";
	pairs[4] = "registry";
	pairs[5] = regline;
	pairs[6] = "tun";
	pairs[7] = tunline;
	pairs[8] = "listen_port";
	pairs[9] = ctl_mtext(d, "listen_port", b[5], sizeof(b[5]));
	pairs[10] = "flows";
	pairs[11] = ctl_mtext(d, "flows", b[0], sizeof(b[0]));
	{
		char ba[128], bs[32], br[128];
		const char *st = ctl_mtext(bcn, "state", bs, sizeof(bs));
		if (strcmp(st, "off") == 0 || strcmp(st, "-") == 0)
			snprintf(bcnline, sizeof(bcnline), "off");
		else
			snprintf(bcnline, sizeof(bcnline), "%s (%s, seen as %s)",
				 ctl_mtext(bcn, "address", ba, sizeof(ba)), st,
				 ctl_mtext(bcn, "reflexive", br, sizeof(br)));
	}
	pairs[12] = "beacon";
	pairs[13] = bcnline;
	{
		/* The verdict first among the problems: what --check says. */
		yajl_val h = json_get(d, "health");
		size_t n;
		snprintf(hline, sizeof(hline), "%s", ctl_mtext(h, "state", hst, sizeof(hst)));
		n = strlen(hline);
		if (*health_text(h, hb, sizeof(hb)))
			snprintf(hline + n, sizeof(hline) - n, " (%s)", hb);
		pairs[14] = "health";
		pairs[15] = hline;
	}
	if (YAJL_IS_OBJECT(sp)) {
		/* spiffe_auto: the SVID held and the Workload API's last word. */
		char id[300], sock[300], svid[64], dur[48], last[64], leb[320];
		const char *le;
		uint64_t exp = 0, next = 0, now = (uint64_t)time(NULL);
		size_t n;
		json_get_u64(sp, "svid_exp", &exp);
		json_get_u64(sp, "next_fetch_in", &next);
		if (!exp)
			snprintf(svid, sizeof(svid), "no SVID");
		else if (exp > now)
			snprintf(svid, sizeof(svid), "SVID expires in %s",
				 ctl_duration(exp - now, "", dur, sizeof(dur)));
		else
			snprintf(svid, sizeof(svid), "SVID expired");
		snprintf(spline, sizeof(spline), "%s from %s (%s, last fetch %s, next in %llus)",
			 ctl_mtext(sp, "spiffe_id", id, sizeof(id)),
			 ctl_mtext(sp, "socket", sock, sizeof(sock)), svid,
			 ctl_mage(sp, "last_fetch", last, sizeof(last)), (unsigned long long)next);
		le = ctl_mtext(sp, "last_error", leb, sizeof(leb));
		n = strlen(spline);
		if (*le && strcmp(le, "-") != 0)
			snprintf(spline + n, sizeof(spline) - n, "; last error: %s", le);
		pairs[16] = "spiffe";
		pairs[17] = spline;
		np = 9;
	}
	pairs[2 * np] = "score";
	pairs[2 * np + 1] = ctl_mtext(d, "score", scb, sizeof(scb));
	np++;
	ctl_kv(pairs, np);

	if (YAJL_IS_OBJECT(counters) && counters->u.object.len) {
		size_t n = counters->u.object.len;
		const char **cp = calloc(2 * n, sizeof(*cp));
		char(*cb)[64] = calloc(n, sizeof(*cb));
		if (cp && cb) {
			for (size_t i = 0; i < n; i++) {
				cp[2 * i] = counters->u.object.keys[i];
				cp[2 * i + 1] =
				    ctl_text(counters->u.object.values[i], cb[i], sizeof(cb[i]));
			}
			printf("\ncounters:\n");
			ctl_kv(cp, n);
		}
		free(cp);
		free(cb);
	}
	printf("\npeers:\n");
	return print_list(d, "peers", nitems(st_hdr), st_hdr, st_keys, "(none)");
}

static const struct node_cmd status_cmd = {"status", {NULL}, 0, 0, print_status};

/* `status --check`: one line and a Nagios-style exit status, for
 * monitoring: 0 OK, 1 WARNING (degraded), 2 CRITICAL, 3 UNKNOWN (pilotd
 * did not answer, or gave no verdict). */
static int status_check(struct ctl *c)
{
	static const char *const label[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
	yajl_val tree = NULL, data = NULL, h, peers;
	char st[32], why[2048];
	int ret, code = 3;

	c->exit_code = 3;
	ret = ctl_call1(c, "status", NULL, NULL, &tree, &data);
	if (ret) {
		if (c->json)
			return ret; /* the error envelope, exit 3 */
		printf("PILOT UNKNOWN - %s\n", c->err.message);
		return 0;
	}
	h = json_get(data, "health");
	ctl_mtext(h, "state", st, sizeof(st));
	code = strcmp(st, "ok") == 0	     ? 0
	       : strcmp(st, "degraded") == 0 ? 1
	       : strcmp(st, "critical") == 0 ? 2
					     : 3;
	c->exit_code = code;
	if (c->json) {
		ret = ctl_emit_ok_val(c, h);
	} else if (code == 3) {
		printf("PILOT UNKNOWN - pilotd gave no health verdict (an older pilotd?)\n");
	} else if (code == 0) {
		peers = json_get(data, "peers");
		printf("PILOT OK - node %s, registry %s, %zu peers\n",
		       ctl_mtext(data, "node_id", st, sizeof(st)),
		       ctl_mtext(json_get(data, "registry"), "address", why, sizeof(why)),
		       YAJL_IS_ARRAY(peers) ? peers->u.array.len : 0);
	} else {
		printf("PILOT %s - %s\n", label[code], health_text(h, why, sizeof(why)));
	}
	yajl_tree_free(tree);
	return ret;
}

int ctl_cmd_status(struct ctl *c, int argc, char **argv)
{
	int n;

	if (argc == 2 && strcmp(argv[1], "--check") == 0)
		return status_check(c);
	if (ctl_positionals(c, argc, argv, 0, 0, &n))
		return -EINVAL;
	return run_node_cmd(c, argc, argv, &status_cmd);
}

/* --------------------------------------------------------------- trust */

static int print_handshake(yajl_val d)
{
	char n[64], s[64];
	const char *st = ctl_mtext(d, "status", s, sizeof(s));

	if (strcmp(st, "approved") == 0)
		printf("node %s is trusted now (both sides agreed)\n",
		       ctl_mtext(d, "node_id", n, sizeof(n)));
	else
		printf("trust request sent to node %s: %s\n", ctl_mtext(d, "node_id", n, sizeof(n)),
		       st);
	return 0;
}

static const struct node_cmd handshake_cmd = {
    "handshake", {"target", "justification"}, 1, 2, print_handshake};

int ctl_cmd_handshake(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &handshake_cmd);
}

static int print_pending(yajl_val d)
{
	static const char *const hdr[] = {"NODE", "ADDRESS", "HOSTNAME", "RECEIVED",
					  "JUSTIFICATION"};
	static const char *const keys[] = {"node_id", "address", "hostname", "@received",
					   "justification"};
	return print_list(d, "pending", nitems(hdr), hdr, keys, "no pending trust requests");
}

static const struct node_cmd pending_cmd = {"pending", {NULL}, 0, 0, print_pending};

int ctl_cmd_pending(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &pending_cmd);
}

static int print_approve(yajl_val d)
{
	char n[64], a[64];
	printf("approved node %s (%s)\n", ctl_mtext(d, "node_id", n, sizeof(n)),
	       ctl_mtext(d, "address", a, sizeof(a)));
	return 0;
}

static const struct node_cmd approve_cmd = {"approve", {"target"}, 1, 1, print_approve};

int ctl_cmd_approve(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &approve_cmd);
}

static int print_reject(yajl_val d)
{
	char n[64];
	printf("rejected node %s\n", ctl_mtext(d, "node_id", n, sizeof(n)));
	return 0;
}

static const struct node_cmd reject_cmd = {"reject", {"target"}, 1, 1, print_reject};

int ctl_cmd_reject(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &reject_cmd);
}

static int print_trust(yajl_val d)
{
	static const char *const hdr[] = {"NODE", "ADDRESS", "HOSTNAME", "SINCE", "PUBLIC KEY"};
	static const char *const keys[] = {"node_id", "address", "hostname", "@since",
					   "public_key"};
	return print_list(d, "trusted", nitems(hdr), hdr, keys, "no trusted nodes");
}

static const struct node_cmd trust_cmd = {"trust", {NULL}, 0, 0, print_trust};

int ctl_cmd_trust(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &trust_cmd);
}

static int print_untrust(yajl_val d)
{
	char n[64], f[64];
	printf("untrusted node %s; %s flows cut\n", ctl_mtext(d, "node_id", n, sizeof(n)),
	       ctl_mtext(d, "flows_cut", f, sizeof(f)));
	return 0;
}

static const struct node_cmd untrust_cmd = {"untrust", {"target"}, 1, 1, print_untrust};

int ctl_cmd_untrust(struct ctl *c, int argc, char **argv)
{
	return run_node_cmd(c, argc, argv, &untrust_cmd);
}
