/* pilotd_cmd_netcheck.c - the control-socket command netcheck (doc/IPC.md):
 * starts a run (pilotd_netcheck.c) and answers with what it measured. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bcn.h"
#include "ipc.h"
#include "netcheck.h"
#include "pilotd.h"
#include "pilotd_cmd.h"

/* A duration in microseconds as milliseconds with three decimals. */
static void gen_ms(struct json_gen *j, uint64_t us)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%llu.%03llu", (unsigned long long)(us / 1000),
			 (unsigned long long)(us % 1000));

	jg_raw(j, b, (size_t)n);
}

static void gen_echo_ep(struct json_gen *j, const char *key, const struct nc_echo *e)
{
	char eb[64];

	jg_kstr(j, key, e->answered ? bcn_ep_format6(&e->ep, eb, sizeof(eb)) : "");
}

static void gen_mtu(struct pilotd *d, struct json_gen *j, const struct pilotd_netcheck *nc)
{
	unsigned hdr = IN6_IS_ADDR_V4MAPPED(&d->bcn.addr.sin6_addr) ? NC_HDR_V4 : NC_HDR_V6;
	uint16_t largest, probed;

	nc_mtu_result(nc->echo, &largest, &probed);
	jg_key(j, "mtu");
	if (!largest) {
		jg_null(j);
		return;
	}
	jg_map_open(j);
	jg_ku64(j, "path_mtu", largest + hdr);
	jg_ku64(j, "largest_payload", largest);
	/* The probe sees no further than its largest size. */
	jg_ku64(j, "probed_up_to", probed + hdr);
	jg_map_close(j);
}

static void on_netcheck(struct pilotd *d, void *arg, const struct pilotd_netcheck *nc)
{
	const struct nc_echo *t = &nc->echo[NC_ECHO_TUNNEL], *s = &nc->echo[NC_ECHO_SECOND];
	struct ipc_req *req = arg;
	struct json_gen *j = ipc_reply_ok_begin(req);
	char eb[64];
	int heard = 0;

	for (unsigned i = 0; i < NC_PROBES; i++)
		heard |= nc->echo[i].answered;
	jg_key(j, "beacon");
	jg_map_open(j);
	jg_kstr(j, "address", d->bcn.have_key ? bcn_ep_format6(&d->bcn.addr, eb, sizeof(eb)) : "");
	jg_kstr(j, "state", !d->bcn.have_key ? "off" : pilotd_bcn_ready(d) ? "ok" : "unbound");
	jg_map_close(j);
	/* null: there was no beacon to ask. */
	jg_key(j, "udp");
	if (d->bcn.have_key)
		jg_bool(j, heard);
	else
		jg_null(j);
	gen_echo_ep(j, "reflexive", t);
	jg_ku64(j, "local_port", d->cfg.listen_port);
	gen_echo_ep(j, "reflexive_second", s);
	jg_ku64(j, "local_port_second", nc->port2);
	jg_kstr(j, "mapping", nc_mapping_name(nc->mapping));
	jg_key(j, "beacon_rtt_ms");
	if (t->answered || s->answered)
		gen_ms(j, t->answered ? t->rtt_us : s->rtt_us);
	else
		jg_null(j);
	jg_key(j, "registry_rtt_ms");
	if (nc->reg_done && !nc->reg_error[0])
		gen_ms(j, nc->reg_rtt_us);
	else
		jg_null(j);
	jg_kstr(j, "registry_error", nc->reg_error);
	gen_mtu(d, j, nc);
	jg_ku64(j, "duration_ms", nc->duration_us / 1000);
	ipc_reply_ok_end(req);
}

void cmd_netcheck(struct pilotd *d, struct ipc_req *req, yajl_val args)
{
	int rc;

	(void)args;
	if (!need_registered(d, req))
		return;
	rc = pilotd_netcheck_start(d, on_netcheck, req);
	if (rc == -EBUSY)
		ipc_reply_error(req, "conflict", "a netcheck is already running",
				"try again in a few seconds");
	else if (rc < 0)
		ipc_reply_error(req, "internal", strerror(-rc), NULL);
}
