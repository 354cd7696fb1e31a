/* pilotd_probe.c - `pilotd --probe`: after the configuration checks, can
 * this node reach its registry at all?  For each configured registry
 * address: a TLS 1.3 connection authenticated as pilotd's own would be
 * (registry_pin or registry_ca), and a request the registry must answer
 * in its own envelope (an unsigned registration, which it refuses as
 * unsigned: that proves the far end is a Pilot registry, and changes
 * nothing).  One verdict line per address and a last line; blocking, a
 * few seconds at most each, before the daemon would start. */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "httpc.h"
#include "json.h"
#include "pilotd.h"

#define PROBE_TIMEOUT_MS 5000
#define PROBE_BODY_MAX 4096

struct probe_buf {
	char data[PROBE_BODY_MAX];
	size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct probe_buf *b = arg;
	size_t take = sz * n;

	if (take > sizeof(b->data) - 1 - b->len)
		take = sizeof(b->data) - 1 - b->len;
	memcpy(b->data + b->len, p, take);
	b->len += take;
	b->data[b->len] = '\0';
	return sz * n;
}

/* The registry's own error envelope: {"error":{"code":...}}. */
static int is_registry_answer(const struct probe_buf *b, char *code, size_t codelen)
{
	char err[64];
	yajl_val root = json_parse(b->data, b->len, 0, err, sizeof(err));
	const char *c = NULL;
	int ok = root && json_get_str(json_get(root, "error"), "code", &c) == 0 && c;

	if (ok)
		snprintf(code, codelen, "%s", c);
	if (root)
		yajl_tree_free(root);
	return ok;
}

/* One address.  \retval 0 when it is a reachable, authenticated registry. */
static int probe_one(const struct pilotd_cfg *cfg, const char *addr, FILE *out)
{
	struct httpc_opts o = {
	    .pin = cfg->registry_pin && cfg->registry_pin[0] ? cfg->registry_pin : NULL,
	    .cafile = cfg->registry_ca && cfg->registry_ca[0] ? cfg->registry_ca : NULL,
	    .timeout_ms = PROBE_TIMEOUT_MS,
	    .connect_timeout_ms = PROBE_TIMEOUT_MS,
	    .tls13_only = 1};
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	struct probe_buf b = {.len = 0};
	char url[400], errbuf[CURL_ERROR_SIZE] = "", code[64] = "";
	CURL *c = curl_easy_init();
	CURLcode rc;
	long status = 0;
	int ret = -1;

	snprintf(url, sizeof(url), "https://%s/v1/node/register", addr);
	if (!c || !hdr || httpc_easy_tls(c, url, &o) < 0) {
		fprintf(out,
			"registry %s: FAILED: cannot set up TLS (registry_pin / registry_ca)\n",
			addr);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
		fprintf(out,
			"registry %s: FAILED: its TLS key does not match registry_pin (on the "
			"registry, pilot-rendezvous --print-pin prints the right one)\n",
			addr);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		fprintf(out,
			"registry %s: FAILED: its certificate does not verify against "
			"registry_ca: %s\n",
			addr, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (rc != CURLE_OK)
		fprintf(out, "registry %s: FAILED: %s\n", addr,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (!is_registry_answer(&b, code, sizeof(code)))
		fprintf(out,
			"registry %s: FAILED: TLS and %s hold, but what answered (HTTP %ld) is not "
			"a Pilot registry\n",
			addr, o.pin ? "the pin" : "the CA", status);
	else {
		fprintf(out,
			"registry %s: ok: TLS 1.3, %s, a Pilot registry answered (an unsigned "
			"request refused: %s)\n",
			addr, o.pin ? "the pin matched" : "the certificate verified", code);
		ret = 0;
	}
out:
	curl_slist_free_all(hdr);
	if (c)
		curl_easy_cleanup(c);
	return ret;
}

int pilotd_probe(const struct pilotd_cfg *cfg, FILE *out)
{
	int failed = 0, n = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (char **a = cfg->registry; a && *a; a++, n++)
		failed += probe_one(cfg, *a, out) < 0;
	curl_global_cleanup();
	if (!n) {
		fprintf(out, "probe: FAILED: no registry configured\n");
		return -1;
	}
	fprintf(out,
		"probe: %s (%d of %d registry addresses answer; the beacon is checked once "
		"pilotd runs: pilotctl netcheck)\n",
		failed ? "FAILED" : "ok", n - failed, n);
	return failed ? -1 : 0;
}
