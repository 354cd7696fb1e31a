/* contrib/bench/audit_bench.c - how many events per second the audit log
 * sustains (a benchmark: it asserts nothing, and make check does not run
 * it).
 *
 *   Durable:  one record per transaction, i.e. one fsync'd LMDB commit per
 *             event (what an action that is acknowledged at once costs).
 *   Batched:  B records per commit (a burst of events, e.g. flow denials
 *             gathered for a tick).
 *   +outbox:  the record and its webhook outbox entry in one commit (the
 *             daemon's path with a webhook configured; nothing delivered).
 *   Verify / export: records per second read back and checked.
 *
 * Build from a configured build tree (here ./build) and run:
 *
 *   cc -std=c11 -O2 -Ibuild -Isrc/lib contrib/bench/audit_bench.c \
 *      build/src/lib/libpilot.a \
 *      -lsodium -lyajl -llmdb -lcurl -levent -o /tmp/audit_bench
 *   /tmp/audit_bench [DIR] [N_DURABLE] [N_BATCHED]
 *
 * DIR (default: a new directory under /var/tmp) should be on the disk the
 * daemon's state lives on: the durable figures are fsync figures.
 */
#include "config.h"

#include <event2/event.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "httpc.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

static const char *const dbs[] = {"audit", "audit_meta", "webhook", NULL};
static const char details[] = "{\"proto\":\"tcp\",\"port\":22,\"src\":\"1:0001.0000.002A\","
			      "\"reason\":\"no trust\"}";

static double rate(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0;
}

static int bench_batched(struct store *st, struct audit *a, struct webhook *w, uint64_t n,
			 uint64_t batch, const char *label)
{
	uint64_t t0 = now_mono_ns(), done = 0;

	while (done < n) {
		struct store_txn t;
		uint64_t k = MIN(batch, n - done), id;
		int ret = 0;

		store_txn_begin(st, &t, 0);
		for (uint64_t i = 0; i < k && ret == 0; i++) {
			if (w)
				ret = webhook_audit_txn(a, w, &t, "flow.denied", "node:7",
							"node:42", 42, details, &id, NULL);
			else
				ret = audit_append_txn(a, &t, "flow.denied", "node:7", "node:42",
						       details, &id);
		}
		if (ret == 0)
			ret = store_txn_commit(&t);
		else
			store_txn_abort(&t);
		if (ret < 0) {
			audit_txn_aborted(a);
			fprintf(stderr, "append: %s\n", strerror(-ret));
			return ret;
		}
		audit_txn_committed(a);
		done += k;
	}
	printf("%-34s %9" PRIu64 " events  %10.0f events/s\n", label, n,
	       rate(n, now_mono_ns() - t0));
	return 0;
}

int main(int argc, char **argv)
{
	char tmpl[] = "/var/tmp/pilot-audit-bench.XXXXXX", cmd[600];
	const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
	uint64_t n_durable = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
	uint64_t n_batched = argc > 3 ? strtoull(argv[3], NULL, 10) : 200000;
	struct audit_verify_result vr;
	struct event_base *base;
	struct webhook *w = NULL;
	struct httpc *http;
	struct store *st;
	struct audit *a;
	uint64_t t0, written;
	FILE *devnull;
	int ret = 1;

	log_init("audit_bench", LOG_LVL_WARN, LOG_FMT_TEXT);
	if (!dir || sodium_init() < 0)
		return 1;
	st = store_open(dir, dbs, 4ull << 30);
	if (!st || audit_open(st, "audit", "audit_meta", &a) < 0)
		return 1;
	base = event_base_new();
	http = httpc_new(base);
	if (!base || !http ||
	    webhook_new(st, "webhook", base, http,
			&(struct webhook_opts){.capacity = UINT64_MAX / 2,
					       .capacity_bytes = UINT64_MAX / 2},
			&w) < 0 ||
	    webhook_set_endpoint(w, "http://127.0.0.1:9/", (const uint8_t *)"k", 1) < 0)
		goto out;
	printf("state in %s\n", dir);

	if (bench_batched(st, a, NULL, n_durable, 1, "durable, 1 event/commit") < 0 ||
	    bench_batched(st, a, w, n_durable, 1, "durable +outbox, 1 event/commit") < 0 ||
	    bench_batched(st, a, NULL, n_batched, 10, "batched, 10 events/commit") < 0 ||
	    bench_batched(st, a, NULL, n_batched, 100, "batched, 100 events/commit") < 0 ||
	    bench_batched(st, a, NULL, n_batched, 1000, "batched, 1000 events/commit") < 0 ||
	    bench_batched(st, a, w, n_batched, 100, "batched +outbox, 100 events/commit") < 0)
		goto out;

	t0 = now_mono_ns();
	if (audit_verify(a, NULL, &vr) < 0 || !vr.ok) {
		fprintf(stderr, "verify failed: %s\n", vr.reason);
		goto out;
	}
	printf("%-34s %9" PRIu64 " records %10.0f records/s\n", "verify", vr.records,
	       rate(vr.records, now_mono_ns() - t0));
	devnull = fopen("/dev/null", "w");
	t0 = now_mono_ns();
	if (!devnull || audit_export_jsonl(a, 0, devnull, &written) < 0)
		goto out;
	printf("%-34s %9" PRIu64 " records %10.0f records/s\n", "export (JSON Lines)", written,
	       rate(written, now_mono_ns() - t0));
	fclose(devnull);
	ret = 0;
out:
	webhook_free(w);
	httpc_free(http);
	if (base)
		event_base_free(base);
	audit_close(a);
	store_close(st);
	if (argc <= 1) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return ret;
}
