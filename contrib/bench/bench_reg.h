/* contrib/bench/bench_reg.h - pieces the registry benchmarks share
 * (revoke_fanout.c, registry_bench.c): messages, percentiles, per-source
 * pacing against the registry's rate limit, the TLS pin, and signed node
 * requests over libcurl.  Not part of libpilot; built with each bench. */
#ifndef PILOT_BENCH_REG_H
#define PILOT_BENCH_REG_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "bucket.h"
#include "regmsg.h"

#define BENCH_REGISTRY_HOST "127.0.0.1"
#define BENCH_PACE_PER_SEC 45u /* below the registry's 50/s ... */
#define BENCH_PACE_BURST 90u   /* ... and its burst of 100 */
#define BENCH_PIN_MAX 160
#define BENCH_SIG_HDR_MAX (32 + REGMSG_SIG_B64_LEN)

/* The program's name, the prefix of bench_die's messages. */
extern const char *bench_prog;

__attribute__((format(printf, 1, 2), noreturn)) void bench_die(const char *fmt, ...);

double bench_ms(uint64_t ns);
int bench_cmp_u64(const void *a, const void *b);
/* Nearest-rank percentile of a sorted array. */
uint64_t bench_pct(const uint64_t *v, size_t n, double p);
/* A number option's value, from lo to hi; dies otherwise. */
long bench_num_arg(const char *s, long lo, long hi, char opt);

/* One loopback source address, paced by a token bucket a little below the
 * registry's per-source limit. */
struct bench_src {
	char iface[48]; /* "host!127.0.0.K" for CURLOPT_INTERFACE */
	struct token_bucket tb;
};
void bench_pace_init(struct bench_src *s, const char *addr);
/* \retval 1 when a request may go now (a token taken), else 0. */
int bench_pace_take(struct bench_src *s, uint64_t now_ms);

/* "sha256//..." for CURLOPT_PINNEDPUBLICKEY from --print-pin's base64 (or
 * hex); dies on a bad pin. */
void bench_set_pin(char out[BENCH_PIN_MAX], const char *pin);
/* The registry address: only 127.0.0.1:PORT; dies otherwise. */
uint16_t bench_registry_port(const char *reg);

/* The options of one request to the registry at 127.0.0.1:port (POST body,
 * TLS 1.3 with the pin, HTTP/1.1, no proxy, from iface); timeout_s 0 for
 * none (streams). */
void bench_easy_setup(CURL *e, uint16_t port, const char *path, struct curl_slist *hdrs,
		      const char *body, size_t len, const char *iface, const char *pin,
		      long timeout_s);

/* A signed node request (doc/REGISTRY.md "Node requests"): its path
 * "/v1/node/OP", its body (free) and its "Pilot-Signature: ..." header;
 * node_id 0 for register.  Dies on failure. */
void bench_node_msg(const uint8_t sk[64], const char *op, uint32_t node_id, regmsg_add_fn add,
		    void *arg, char path[64], char **body, size_t *len,
		    char hdr[BENCH_SIG_HDR_MAX]);

#endif
