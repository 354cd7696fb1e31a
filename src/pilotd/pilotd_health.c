/* pilotd_health.c - one verdict on this node's health for `status` (its
 * "health" member) and `pilotctl status --check`: the problems an operator
 * must know of, each with a severity, so monitoring reads one field
 * instead of knowing what every other one means.
 *
 * critical: this node cannot do its job (no TUN, not registered, its
 * identity ended).  warning: it works, but on less than it should (the
 * registry does not answer, or refuses our clock, and admission runs on
 * cached state; no beacon
 * binding, so no hole punching or relay; the identity ends within a day;
 * no SPIFFE SVID to renew it with; the DNS stub enabled but not
 * listening). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "pilotd.h"
#include "util.h"

#define EXPIRY_WARN_S (24 * 3600)

struct health {
	struct json_gen *j;
	int worst; /* 0 ok, 1 warning, 2 critical */
};

static void problem(struct health *h, int critical, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jg_map_open(h->j);
	jg_kstr(h->j, "severity", critical ? "critical" : "warning");
	jg_kstr(h->j, "code", code);
	jg_kstr(h->j, "message", msg);
	jg_map_close(h->j);
	if (h->worst < 1 + critical)
		h->worst = 1 + critical;
}

static void check_registry(struct pilotd *d, struct health *h)
{
	const struct regc *r = &d->regc;
	uint64_t ago = r->last_ok_ms ? (now_mono_ms() - r->last_ok_ms) / 1000 : 0;

	if (!r->registered) {
		problem(h, 1, "not_registered", "not registered with %s: %s: %s", regc_addr(r),
			r->reg_reason[0] ? r->reg_reason : "pending",
			r->reg_message[0] ? r->reg_message : "no answer yet");
		return;
	}
	if (r->connected && r->clock_refused)
		problem(h, 0, "clock_skew",
			"the registry refuses this node's signed requests (%s): this machine's "
			"clock is off the registry's; fix the time (NTP). Flows are admitted on "
			"cached state, and revocations made meanwhile are not heard",
			r->refused_msg);
	if (!r->connected)
		problem(h, 0, "registry_unreachable",
			"the registry %s has not answered for %llu s (%s): flows are admitted on "
			"cached state, and revocations made meanwhile are not heard",
			regc_addr(r), (unsigned long long)ago,
			r->last_error[0] ? r->last_error : "no error recorded");
}

static void check_identity(struct pilotd *d, struct health *h)
{
	uint64_t now = now_real_ms() / 1000;

	if (!d->expires_at)
		return;
	if (d->expires_at <= now)
		problem(h, 1, "identity_expired", "this node's identity ended %llu s ago",
			(unsigned long long)(now - d->expires_at));
	else if (d->expires_at - now < EXPIRY_WARN_S)
		problem(h, 0, "identity_expiring", "this node's identity ends in %llu s",
			(unsigned long long)(d->expires_at - now));
}

void pilotd_health(struct pilotd *d, struct json_gen *j)
{
	static const char *const state[] = {"ok", "degraded", "critical"};
	struct health h = {j, 0};
	const char *why;

	jg_key(j, "health");
	jg_map_open(j);
	jg_key(j, "problems");
	jg_array_open(j);
	if (!d->tun_up)
		problem(&h, 1, "tun_down", "the TUN device %s is not up", d->cfg.tun);
	check_registry(d, &h);
	check_identity(d, &h);
	if (d->bcn.have_key && !pilotd_bcn_ready(d))
		problem(&h, 0, "beacon_unbound",
			"no binding at the beacon: peers behind NAT cannot be punched to or "
			"relayed");
	if (d->spiffe.on && !(d->tokens.svid && d->tokens.svid_exp > now_real_ms() / 1000))
		problem(&h, 0, "spiffe_no_svid",
			"no valid SVID from the SPIFFE Workload API: the network credential "
			"cannot be renewed");
	if ((why = pilotd_dns_problem(d)))
		problem(&h, 0, "dns_down", "the DNS stub is enabled but not serving: %s", why);
	jg_array_close(j);
	jg_kstr(j, "state", state[h.worst]);
	jg_map_close(j);
}
