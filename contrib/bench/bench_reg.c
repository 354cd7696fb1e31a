/* contrib/bench/bench_reg.c - see bench_reg.h. */
#include "config.h"

#include "bench_reg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CONNECT_TIMEOUT_S 10L

const char *bench_prog = "bench";

void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", bench_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

double bench_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t bench_pct(const uint64_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

long bench_num_arg(const char *s, long lo, long hi, char opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		bench_die("-%c: a number from %ld to %ld", opt, lo, hi);
	return v;
}

void bench_pace_init(struct bench_src *s, const char *addr)
{
	snprintf(s->iface, sizeof(s->iface), "host!%s", addr);
	s->tb = (struct token_bucket){0}; /* full at its first take */
}

int bench_pace_take(struct bench_src *s, uint64_t now)
{
	return token_bucket_take(&s->tb, BENCH_PACE_PER_SEC, BENCH_PACE_BURST, now);
}

void bench_set_pin(char out[BENCH_PIN_MAX], const char *pin)
{
	uint8_t h[32];
	char b64[64];

	/* --print-pin prints base64; hex is accepted as well. */
	if (strlen(pin) == 64 && hex_decode(h, sizeof(h), pin) == 32) {
		if (b64_encode(b64, sizeof(b64), h, sizeof(h)) < 0)
			bench_die("bad pin");
		pin = b64;
	} else if (b64_decode(h, sizeof(h), pin) != 32) {
		bench_die("-p: the registry's SPKI pin (base64 or hex SHA-256)");
	}
	snprintf(out, BENCH_PIN_MAX, "sha256//%s", pin);
}

uint16_t bench_registry_port(const char *reg)
{
	unsigned long port;
	char *end;

	/* Loopback only: the registry must be 127.0.0.1. */
	if (strncmp(reg, BENCH_REGISTRY_HOST ":", strlen(BENCH_REGISTRY_HOST) + 1) != 0)
		bench_die("-r: only %s:PORT is accepted", BENCH_REGISTRY_HOST);
	errno = 0;
	port = strtoul(reg + strlen(BENCH_REGISTRY_HOST) + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		bench_die("-r: bad port");
	return (uint16_t)port;
}

void bench_easy_setup(CURL *e, uint16_t port, const char *path, struct curl_slist *hdrs,
		      const char *body, size_t len, const char *iface, const char *pin,
		      long timeout_s)
{
	char url[128];

	snprintf(url, sizeof(url), "https://%s:%u%s", BENCH_REGISTRY_HOST, port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_INTERFACE, iface);
	curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, pin);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	if (timeout_s)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
}

void bench_node_msg(const uint8_t sk[64], const char *op, uint32_t node_id, regmsg_add_fn add,
		    void *arg, char path[64], char **body, size_t *len, char hdr[BENCH_SIG_HDR_MAX])
{
	char sig[REGMSG_SIG_B64_LEN];

	snprintf(path, 64, "/v1/node/%s", op);
	if (regmsg_build(op, node_id, now_real_ms(), add, arg, body, len) < 0 ||
	    regmsg_sign(sk, path, *body, *len, sig) < 0)
		bench_die("cannot build a %s request", op);
	snprintf(hdr, BENCH_SIG_HDR_MAX, "Pilot-Signature: %s", sig);
}
