/* pilotd_audit.c - pilotd's audit log and webhook: recording control
 * actions and flow denials (durably, before the action is acknowledged).
 * Its commands are pilotd_cmd_audit.c.
 *
 * Flow denials come at packet rate: they are collected in memory and
 * written in one transaction per tick (100 ms), bounded per tick, with a
 * count of what was left out, so a flood of denied SYNs costs a few
 * microseconds per packet instead of an fsync each. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "pilotd_cmd.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define DENY_BATCH 256

struct deny_rec {
	struct in6_addr src, dst;
	uint32_t node;
	uint16_t sport, dport;
	uint8_t proto, inbound, reason;
};

struct pilotd_audit {
	struct audit *log;
	struct webhook *hook;
	struct deny_rec deny[DENY_BATCH];
	unsigned ndeny;
	uint64_t deny_suppressed;
	uint64_t recorded, failed, dropped;
};

int pilotd_audit_init(struct pilotd *d)
{
	struct pilotd_audit *pa = calloc(1, sizeof(*pa));
	int rc;

	if (!pa)
		return -ENOMEM;
	d->audit = pa;
	if ((rc = audit_open(d->st, "audit", "audit_meta", &pa->log)) < 0) {
		log_warnx("audit log: %s", strerror(-rc));
		return rc;
	}
	if ((rc = webhook_new(d->st, "webhook", d->base, d->http, NULL, &pa->hook)) < 0) {
		log_warnx("webhook outbox: %s", strerror(-rc));
		return rc;
	}
	if (d->cfg.webhook && d->cfg.webhook[0]) {
		uint8_t secret[256];
		size_t slen = 0;
		if (d->cfg.webhook_secret_file &&
		    (rc = webhook_secret_load(d->cfg.webhook_secret_file, secret, sizeof(secret),
					      &slen)) < 0) {
			log_warnx("webhook_secret_file %s: %s", d->cfg.webhook_secret_file,
				  rc == -EPERM ? "readable by others; chmod 600 it"
					       : strerror(-rc));
			return rc;
		}
		rc = webhook_set_endpoint(pa->hook, d->cfg.webhook, slen ? secret : NULL, slen);
		sodium_memzero(secret, sizeof(secret));
		if (rc < 0) {
			log_warnx("webhook %s: %s", d->cfg.webhook, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

void pilotd_audit_free(struct pilotd *d)
{
	struct pilotd_audit *pa = d->audit;

	if (!pa)
		return;
	pilotd_audit_flush(d);
	webhook_free(pa->hook);
	audit_close(pa->log);
	free(pa);
	d->audit = NULL;
}

/* One record (and its webhook event) in one durable transaction. */
static int record(struct pilotd *d, struct store_txn *t, const char *type, const char *actor,
		  const char *subject, uint32_t node, const char *details)
{
	struct pilotd_audit *pa = d->audit;
	uint64_t id = 0;
	int dropped = 0, rc;

	rc = webhook_audit_txn(pa->log, pa->hook, t, type, actor, subject, node, details, &id,
			       &dropped);
	if (dropped)
		pa->dropped++;
	return rc;
}

int pilotd_audit_event(struct pilotd *d, const char *type, uint32_t subject_node,
		       const char *details_fmt, ...)
{
	struct pilotd_audit *pa = d->audit;
	struct store_txn t;
	char actor[32], subject[32], details[1024];
	va_list ap;
	int rc;

	if (!pa)
		return -EINVAL;
	snprintf(actor, sizeof(actor), "node:%u", d->node_id);
	snprintf(subject, sizeof(subject), subject_node ? "node:%u" : "-", subject_node);
	details[0] = '\0';
	if (details_fmt) {
		va_start(ap, details_fmt);
		vsnprintf(details, sizeof(details), details_fmt, ap);
		va_end(ap);
	}
	store_txn_begin(d->st, &t, 0);
	record(d, &t, type, actor, subject, subject_node, details[0] ? details : NULL);
	rc = store_txn_commit(&t);
	if (rc < 0) {
		audit_txn_aborted(pa->log);
		pa->failed++;
		log_warnx("audit: recording %s failed: %s", type, strerror(-rc));
		return rc;
	}
	audit_txn_committed(pa->log);
	webhook_kick(pa->hook);
	pa->recorded++;
	return 0;
}

void pilotd_audit_deny(struct pilotd *d, const struct pkt_info *pi, uint32_t node, int inbound,
		       enum admit_reason why)
{
	struct pilotd_audit *pa = d->audit;
	struct deny_rec *r;

	if (!pa)
		return;
	if (pa->ndeny == DENY_BATCH) {
		pa->deny_suppressed++;
		return;
	}
	r = &pa->deny[pa->ndeny++];
	r->src = pi->src;
	r->dst = pi->dst;
	r->node = node;
	r->sport = pi->sport;
	r->dport = pi->dport;
	r->proto = pi->proto;
	r->inbound = (uint8_t)inbound;
	r->reason = (uint8_t)why;
}

void pilotd_audit_flush(struct pilotd *d)
{
	struct pilotd_audit *pa = d->audit;
	struct store_txn t;
	char actor[32], subject[32], details[400], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int rc;

	if (!pa || (!pa->ndeny && !pa->deny_suppressed))
		return;
	snprintf(actor, sizeof(actor), "node:%u", d->node_id);
	store_txn_begin(d->st, &t, 0);
	for (unsigned i = 0; i < pa->ndeny; i++) {
		const struct deny_rec *r = &pa->deny[i];
		snprintf(subject, sizeof(subject), "node:%u", r->node);
		snprintf(details, sizeof(details),
			 "{\"reason\":\"%s\",\"direction\":\"%s\",\"proto\":%u,\"src\":\"%s\","
			 "\"sport\":%u,\"dst\":\"%s\",\"dport\":%u}",
			 admit_reason_name((enum admit_reason)r->reason),
			 r->inbound ? "inbound" : "outbound", r->proto,
			 inet_ntop(AF_INET6, &r->src, a, sizeof(a)), r->sport,
			 inet_ntop(AF_INET6, &r->dst, b, sizeof(b)), r->dport);
		record(d, &t, "flow.denied", actor, subject, r->node, details);
	}
	if (pa->deny_suppressed) {
		/* Over the per-tick bound: say how many, rather than nothing. */
		snprintf(details, sizeof(details), "{\"suppressed\":%llu}",
			 (unsigned long long)pa->deny_suppressed);
		record(d, &t, "flow.denied_suppressed", actor, "-", 0, details);
	}
	rc = store_txn_commit(&t);
	if (rc < 0) {
		audit_txn_aborted(pa->log);
		pa->failed++;
		log_warnx("audit: recording %u flow denials failed: %s", pa->ndeny, strerror(-rc));
	} else {
		audit_txn_committed(pa->log);
		webhook_kick(pa->hook);
		pa->recorded += pa->ndeny;
	}
	pa->ndeny = 0;
	pa->deny_suppressed = 0;
}

void pilotd_audit_prune(struct pilotd *d)
{
	struct pilotd_audit *pa = d->audit;
	uint64_t pruned = 0;
	int rc;

	if (!pa)
		return;
	pilotd_audit_flush(d);
	rc = audit_prune(pa->log, d->cfg.audit_max_records,
			 (uint64_t)d->cfg.audit_max_age_days * 86400000ull, now_real_ms(), d->ed_sk,
			 &pruned);
	if (rc < 0)
		log_warnx("audit: pruning refused: %s (run `pilotctl audit verify`)",
			  strerror(-rc));
	else if (pruned)
		log_info("audit: pruned %llu old records (signed checkpoint kept)",
			 (unsigned long long)pruned);
}

void pilotd_audit_rekeyed(struct pilotd *d, const uint8_t old_pk[32])
{
	int rc;

	if (!d->audit)
		return;
	rc = audit_checkpoint_resign(d->audit->log, old_pk, d->ed_sk);
	if (rc < 0)
		log_warnx("audit: re-signing the checkpoint with the new key failed: %s",
			  strerror(-rc));
}

void pilotd_audit_stats(struct pilotd *d, uint64_t *last_id, uint64_t *backlog, uint64_t *dropped,
			uint64_t *failed)
{
	struct pilotd_audit *pa = d->audit;
	struct webhook_status ws;

	*last_id = *backlog = *dropped = *failed = 0;
	if (!pa)
		return;
	*last_id = audit_last_id(pa->log, NULL);
	if (webhook_status(pa->hook, &ws) == 0)
		*backlog = ws.backlog;
	*dropped = pa->dropped;
	*failed = pa->failed;
}

struct audit *pilotd_audit_log(struct pilotd *d)
{
	return d->audit->log;
}

struct webhook *pilotd_audit_webhook(struct pilotd *d)
{
	return d->audit->hook;
}
