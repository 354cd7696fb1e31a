/* contrib/bench/registry_bench.c - the registry's request throughput:
 * registrations/s and resolves/s (a benchmark: it prints figures and
 * asserts nothing; make check does not run it).
 * contrib/bench/registry_bench.sh starts a throwaway pilot-rendezvous (or,
 * in etcd mode, an etcd and two replicas) on 127.0.0.1, builds this and
 * runs it.
 *
 *   1. make N Ed25519 identities;
 *   2. register phase: every node `register`s (signed; `public`: true, so
 *      that any node may resolve any other), at most C requests in flight;
 *   3. resolve phase: M `resolve`s, each by a random registered node of a
 *      random other registered node's ID (`target`), C in flight; each
 *      answer must carry the target's node_id.
 * A resolve is not a pure read: like every signed node request it records
 * its nonce, in a durable LMDB commit (src/lib/store.c: no MDB_NOSYNC), so
 * both phases also measure the disk's sync latency; with the etcd store a
 * registration is a serialised etcd transaction and a resolve's nonce a
 * create-only one (doc/REGISTRY.md "The registry on etcd").
 * Printed per phase: requests, wall time, requests/s, latency p50 / p99 /
 * max (from the request's start on the client to its answer), TLS
 * connections opened, retries (429 rate_limited; 503 unavailable, which
 * a replica on etcd answers when it lost the write race 8 times), and, with -P, the registry
 * process's CPU seconds (utime+stime from /proc/PID/stat, before and after the phase) per 1000
 * requests, and the client's own CPU time (getrusage) beside it: on a small machine both share the
 * cores.
 *
 * Rate limit: the registry allows each source address 50 requests/s with
 * bursts of 100, so requests are spread round robin over S loopback source
 * addresses 127.0.X.Y (bound with CURLOPT_INTERFACE; all of 127/8 is on
 * lo) and each source is paced a little below the registry (45/s, burst
 * 90; bench_reg.c).  S * 45/s is a ceiling on the measured rate: it is
 * printed, and the default S = 512 (23040/s) is meant to sit well above
 * what the registry does.  A `rate_limited` (429) answer is retried after
 * a back-off and counted, and so is a 503.
 *
 * With -r given twice (two replicas of one registry on etcd), requests go
 * alternately to each; -P may be given once per registry process.
 *
 * Every wait is bounded (-w per phase, curl timeouts per request); the
 * program exits non-zero with a message when a request fails or a phase
 * times out.
 *
 *   registry_bench -r 127.0.0.1:PORT [-r 127.0.0.1:PORT2] -p PIN [-n N]
 *        [-m M] [-c C] [-s SOURCES] [-w PHASE_TIMEOUT_S] [-P PID]... [-E ETCD_PID]
 *
 * -P: a registry process whose CPU time is reported (per 1000 of the
 * requests it served, when one -P is given per -r, in the same order);
 * -E: the etcd process, whose CPU time is reported too.
 */
#include "config.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_reg.h"
#include "json.h"
#include "regmsg.h"
#include "util.h"

#define MAX_SOURCES 2000 /* 127.0.X.2 .. 127.0.X.251, X = 0..7 */
#define MAX_REGISTRIES 2
#define MAX_N 2000000
#define MAX_RETRIES 20 /* per request, on 429 */
#define RESP_MAX (1u << 20)
#define REQ_TIMEOUT_S 60L

enum kind { K_REGISTER, K_RESOLVE };
static const char *const kind_op[] = {"register", "resolve"};

struct xfer {
	CURL *e;
	struct curl_slist *hdrs;
	int idx; /* the request's index in its phase */
	char *buf;
	size_t len, cap;
	int overflow;
	uint64_t t_start_ns;
};

struct node {
	uint8_t sk[64], pk[32];
	uint32_t id;
};

static struct {
	int n, m, conc, nsrc, nreg, npid;
	unsigned phase_s;
	uint16_t port[MAX_REGISTRIES];
	long pid[MAX_REGISTRIES], etcd_pid;
	char pin[BENCH_PIN_MAX];
	struct node *nodes;
	struct bench_src *src;
	int src_cursor;
	CURLM *multi;
	/* the current phase */
	enum kind kind;
	uint32_t *req_node, *tgt_node; /* resolve: requester and target, by node index */
	uint64_t *lat;
	uint8_t *retries;
	int *retry_q, nretry; /* requests to start again after a 429 */
	uint64_t *retry_at;
	int done, inflight;
	uint64_t retries_429, retries_503, connects;
} B;

/* ------------------------------------------------------------ requests */

static void add_register(struct json_gen *j, void *arg)
{
	struct node *n = arg;

	jg_kb64(j, "public_key", n->pk, sizeof(n->pk));
	jg_ku64(j, "listen_port", 40000 + (uint64_t)(n - B.nodes) % 20000);
	jg_kbool(j, "public", 1);
}

static void add_resolve(struct json_gen *j, void *arg)
{
	const uint32_t *target = arg;

	jg_ku64(j, "target", *target);
}

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm;

	if (x->len + n + 1 > RESP_MAX) {
		x->overflow = 1;
		return n;
	}
	if (x->len + n + 1 > x->cap) {
		size_t ncap = x->cap ? x->cap * 2 : 1024;
		while (ncap < x->len + n + 1)
			ncap *= 2;
		if (!(x->buf = realloc(x->buf, ncap)))
			bench_die("out of memory");
		x->cap = ncap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

/* The next source with a token, round robin; NULL when all are paced out. */
static struct bench_src *take_source(uint64_t now)
{
	for (int k = 0; k < B.nsrc; k++) {
		struct bench_src *s = &B.src[B.src_cursor];
		B.src_cursor = (B.src_cursor + 1) % B.nsrc;
		if (bench_pace_take(s, now))
			return s;
	}
	return NULL;
}

static void start(int idx, struct bench_src *s)
{
	struct xfer *x = calloc(1, sizeof(*x));
	char path[64], hdr[BENCH_SIG_HDR_MAX];
	struct node *n;
	char *body = NULL;
	size_t len;
	uint32_t target = 0;

	if (!x || !(x->e = curl_easy_init()))
		bench_die("out of memory");
	x->idx = idx;
	if (B.kind == K_REGISTER) {
		n = &B.nodes[idx];
		bench_node_msg(n->sk, "register", 0, add_register, n, path, &body, &len, hdr);
	} else {
		n = &B.nodes[B.req_node[idx]];
		target = B.nodes[B.tgt_node[idx]].id;
		bench_node_msg(n->sk, "resolve", n->id, add_resolve, &target, path, &body, &len,
			       hdr);
	}
	x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	x->hdrs = curl_slist_append(x->hdrs, hdr);
	if (!x->hdrs)
		bench_die("out of memory");
	bench_easy_setup(x->e, B.port[idx % B.nreg], path, x->hdrs, body, len, s->iface, B.pin,
			 REQ_TIMEOUT_S);
	free(body);
	curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->e, CURLOPT_PRIVATE, x);
	x->t_start_ns = now_mono_ns();
	if (curl_multi_add_handle(B.multi, x->e) != CURLM_OK)
		bench_die("curl_multi_add_handle failed");
	B.inflight++;
}

static void finish(struct xfer *x, CURLcode res)
{
	long status = 0, nconn = 0;
	char err[128];
	yajl_val v;
	uint32_t id;

	curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->e, CURLINFO_NUM_CONNECTS, &nconn);
	B.connects += (uint64_t)nconn;
	B.inflight--;
	/* 429: rate limited; 503: (etcd) the replica lost the write race 8
	 * times ("registry busy ... try again"): both are retried. */
	if (res == CURLE_OK && (status == 429 || status == 503)) {
		if (++B.retries[x->idx] > MAX_RETRIES)
			bench_die("%s %d: still HTTP %ld after %d retries: %s", kind_op[B.kind],
				  x->idx, status, MAX_RETRIES, x->buf ? x->buf : "");
		if (status == 429)
			B.retries_429++;
		else
			B.retries_503++;
		B.retry_q[B.nretry] = x->idx;
		B.retry_at[B.nretry++] = now_mono_ms() + 100u * B.retries[x->idx];
		goto out;
	}
	if (res != CURLE_OK || status != 200 || x->overflow)
		bench_die("%s %d: %s (HTTP %ld) %s", kind_op[B.kind], x->idx,
			  curl_easy_strerror(res), status, x->buf ? x->buf : "");
	if (!(v = json_parse(x->buf, x->len, 0, err, sizeof(err))))
		bench_die("%s %d: bad answer: %s", kind_op[B.kind], x->idx, err);
	if (json_get_u32(v, "node_id", &id) < 0 || id == 0)
		bench_die("%s %d: no node_id in the answer", kind_op[B.kind], x->idx);
	if (B.kind == K_REGISTER)
		B.nodes[x->idx].id = id;
	else if (id != B.nodes[B.tgt_node[x->idx]].id)
		bench_die("resolve %d: answer for node %" PRIu32 ", asked for %" PRIu32, x->idx, id,
			  B.nodes[B.tgt_node[x->idx]].id);
	yajl_tree_free(v);
	B.lat[x->idx] = now_mono_ns() - x->t_start_ns;
	B.done++;
out:
	curl_multi_remove_handle(B.multi, x->e);
	curl_easy_cleanup(x->e);
	curl_slist_free_all(x->hdrs);
	free(x->buf);
	free(x);
}

/* ------------------------------------------------------------ phases */

struct cpu {
	double rdv_s[MAX_REGISTRIES];
	double etcd_s, self_s;
};

/* utime + stime of PID in seconds; dies when it cannot be read. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[4096], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		bench_die("cannot read %s (is the registry still running?)", path);
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* after "pid (comm) ": state is field 3, utime 14, stime 15 */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		bench_die("cannot parse %s", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_read(struct cpu *c)
{
	struct rusage ru;

	for (int i = 0; i < B.npid; i++)
		c->rdv_s[i] = proc_cpu_s(B.pid[i]);
	if (B.etcd_pid)
		c->etcd_s = proc_cpu_s(B.etcd_pid);
	getrusage(RUSAGE_SELF, &ru);
	c->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Run \p total requests of kind \p k, at most B.conc in flight, paced per
 * source. \retval elapsed ns; dies on a failure or the phase timeout. */
static uint64_t run_phase(enum kind k, int total)
{
	uint64_t t0 = now_mono_ns(), deadline = now_mono_ms() + B.phase_s * 1000ull;
	int next = 0, running;
	CURLMsg *msg;
	int left;

	B.kind = k;
	B.done = B.inflight = B.nretry = 0;
	B.retries_429 = B.retries_503 = B.connects = 0;
	memset(B.retries, 0, (size_t)total);
	while (B.done < total) {
		uint64_t now = now_mono_ms();

		if (now > deadline)
			bench_die("%s: only %d of %d done after %u s", kind_op[k], B.done, total,
				  B.phase_s);
		while (B.inflight < B.conc) {
			int idx = -1;
			struct bench_src *s;
			for (int r = 0; r < B.nretry; r++)
				if (B.retry_at[r] <= now) {
					idx = B.retry_q[r];
					B.retry_q[r] = B.retry_q[--B.nretry];
					B.retry_at[r] = B.retry_at[B.nretry];
					break;
				}
			if (idx < 0 && next < total)
				idx = next++;
			if (idx < 0)
				break;
			if (!(s = take_source(now))) {
				/* paced out: put it back */
				B.retry_q[B.nretry] = idx;
				B.retry_at[B.nretry++] = now;
				break;
			}
			start(idx, s);
		}
		if (curl_multi_poll(B.multi, NULL, 0, 5, NULL) != CURLM_OK ||
		    curl_multi_perform(B.multi, &running) != CURLM_OK)
			bench_die("libcurl multi failed");
		while ((msg = curl_multi_info_read(B.multi, &left))) {
			struct xfer *x = NULL;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			finish(x, msg->data.result);
		}
	}
	return now_mono_ns() - t0;
}

static void report(const char *what, int total, uint64_t elapsed, const struct cpu *a,
		   const struct cpu *b)
{
	double secs = (double)elapsed / 1e9, rdv = 0;

	qsort(B.lat, (size_t)total, sizeof(*B.lat), bench_cmp_u64);
	printf("%-8s %7d in %8.3f s = %8.1f/s (%d in flight); latency p50 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms; %" PRIu64 " TLS connections opened, %" PRIu64 " 429 and %" PRIu64
	       " 503 retries\n",
	       what, total, secs, (double)total / secs, B.conc,
	       bench_ms(bench_pct(B.lat, (size_t)total, 50)),
	       bench_ms(bench_pct(B.lat, (size_t)total, 99)), bench_ms(B.lat[total - 1]),
	       B.connects, B.retries_429, B.retries_503);
	for (int i = 0; i < B.npid; i++) {
		double d = b->rdv_s[i] - a->rdv_s[i];
		/* requests go to registry idx % nreg */
		int served = B.npid == B.nreg ? (total + B.nreg - 1 - i) / B.nreg : total;
		rdv += d;
		printf("         registry pid %ld: %.2f CPU s = %.3f CPU s per 1000 requests "
		       "(%d served; %.0f%% of one core)\n",
		       B.pid[i], d, d * 1000.0 / served, served, 100.0 * d / secs);
	}
	if (B.npid > 1)
		printf("         registries together: %.3f CPU s per 1000 requests\n",
		       rdv * 1000.0 / total);
	if (B.etcd_pid)
		printf(
		    "         etcd pid %ld: %.2f CPU s = %.3f CPU s per 1000 requests (%.0f%% of "
		    "one core)\n",
		    B.etcd_pid, b->etcd_s - a->etcd_s, (b->etcd_s - a->etcd_s) * 1000.0 / total,
		    100.0 * (b->etcd_s - a->etcd_s) / secs);
	printf("         client (this process): %.2f CPU s = %.3f CPU s per 1000 requests\n",
	       b->self_s - a->self_s, (b->self_s - a->self_s) * 1000.0 / total);
	fflush(stdout);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -r 127.0.0.1:PORT [-r 127.0.0.1:PORT2] -p PIN [-n N] [-m M] [-c C]\n"
		"       [-s SOURCES] [-w PHASE_TIMEOUT_S] [-P PID]... [-E ETCD_PID]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *pin = NULL;
	char addr[32];
	struct cpu c0, c1, c2;
	uint64_t t_keys, t_reg, t_res;
	int opt, maxreq;

	bench_prog = "registry_bench";
	B.n = 100000;
	B.m = 100000;
	B.conc = 64;
	B.nsrc = 512;
	B.phase_s = 900;
	while ((opt = getopt(argc, argv, "r:p:n:m:c:s:w:P:E:h")) != -1) {
		switch (opt) {
		case 'r':
			if (B.nreg == MAX_REGISTRIES)
				usage(argv[0]);
			B.port[B.nreg++] = bench_registry_port(optarg);
			break;
		case 'p':
			pin = optarg;
			break;
		case 'n':
			B.n = (int)bench_num_arg(optarg, 2, MAX_N, 'n');
			break;
		case 'm':
			B.m = (int)bench_num_arg(optarg, 1, MAX_N, 'm');
			break;
		case 'c':
			B.conc = (int)bench_num_arg(optarg, 1, 2000, 'c');
			break;
		case 's':
			B.nsrc = (int)bench_num_arg(optarg, 1, MAX_SOURCES, 's');
			break;
		case 'w':
			B.phase_s = (unsigned)bench_num_arg(optarg, 1, 86400, 'w');
			break;
		case 'P':
			if (B.npid == MAX_REGISTRIES)
				usage(argv[0]);
			B.pid[B.npid++] = bench_num_arg(optarg, 1, 1L << 30, 'P');
			break;
		case 'E':
			B.etcd_pid = bench_num_arg(optarg, 1, 1L << 30, 'E');
			break;
		default:
			usage(argv[0]);
		}
	}
	if (!B.nreg || !pin || optind != argc)
		usage(argv[0]);
	bench_set_pin(B.pin, pin);
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		bench_die("cannot initialise libsodium / libcurl");
	maxreq = B.n > B.m ? B.n : B.m;
	B.nodes = calloc((size_t)B.n, sizeof(*B.nodes));
	B.src = calloc((size_t)B.nsrc, sizeof(*B.src));
	B.req_node = calloc((size_t)B.m, sizeof(*B.req_node));
	B.tgt_node = calloc((size_t)B.m, sizeof(*B.tgt_node));
	B.lat = calloc((size_t)maxreq, sizeof(*B.lat));
	B.retries = calloc((size_t)maxreq, 1);
	B.retry_q = calloc((size_t)maxreq + 1, sizeof(*B.retry_q));
	B.retry_at = calloc((size_t)maxreq + 1, sizeof(*B.retry_at));
	if (!B.nodes || !B.src || !B.req_node || !B.tgt_node || !B.lat || !B.retries ||
	    !B.retry_q || !B.retry_at)
		bench_die("out of memory");
	for (int i = 0; i < B.nsrc; i++) {
		snprintf(addr, sizeof(addr), "127.0.%d.%d", i / 250, 2 + i % 250);
		bench_pace_init(&B.src[i], addr);
	}
	if (!(B.multi = curl_multi_init()))
		bench_die("cannot set up libcurl multi");
	/* An idle kept-alive connection for every source and registry. */
	curl_multi_setopt(B.multi, CURLMOPT_MAXCONNECTS, (long)B.nsrc * B.nreg + (long)B.conc + 16);

	printf("registry_bench: %d registrations then %d resolves, %d in flight, %d "
	       "registr%s (127.0.0.1:%u%s), %s; %d source addresses (127.0.0.2-127.0.%d.%d), "
	       "paced to %.0f/s each: a ceiling of %.0f requests/s\n",
	       B.n, B.m, B.conc, B.nreg, B.nreg == 1 ? "y" : "ies", B.port[0],
	       B.nreg > 1 ? " and one more, alternately" : "",
	       curl_version_info(CURLVERSION_NOW)->version, B.nsrc, (B.nsrc - 1) / 250,
	       2 + (B.nsrc - 1) % 250, (double)BENCH_PACE_PER_SEC,
	       (double)BENCH_PACE_PER_SEC * B.nsrc);
	fflush(stdout);

	t_keys = now_mono_ns();
	for (int i = 0; i < B.n; i++)
		crypto_sign_keypair(B.nodes[i].pk, B.nodes[i].sk);
	for (int j = 0; j < B.m; j++) {
		B.req_node[j] = randombytes_uniform((uint32_t)B.n);
		B.tgt_node[j] = randombytes_uniform((uint32_t)B.n - 1);
		B.tgt_node[j] += B.tgt_node[j] >= B.req_node[j]; /* not itself */
	}
	t_keys = now_mono_ns() - t_keys;
	printf("keys     %d Ed25519 key pairs and %d random (requester, target) pairs in "
	       "%.1f ms\n",
	       B.n, B.m, bench_ms(t_keys));
	fflush(stdout);

	cpu_read(&c0);
	t_reg = run_phase(K_REGISTER, B.n);
	cpu_read(&c1);
	report("register", B.n, t_reg, &c0, &c1);

	t_res = run_phase(K_RESOLVE, B.m);
	cpu_read(&c2);
	report("resolve", B.m, t_res, &c1, &c2);

	curl_multi_cleanup(B.multi);
	sodium_memzero(B.nodes, (size_t)B.n * sizeof(*B.nodes));
	free(B.nodes);
	free(B.src);
	free(B.req_node);
	free(B.tgt_node);
	free(B.lat);
	free(B.retries);
	free(B.retry_q);
	free(B.retry_at);
	curl_global_cleanup();
	return 0;
}
