/* pilot-regreq.c - test tool: sign one registry request with a node's own
 * identity (read from its pilotd state dir) and send the very same bytes
 * twice, printing each HTTP status and body.  The e2e tests use it to show
 * that a captured signed request cannot be replayed.
 *
 *   pilot-regreq STATE_DIR REGISTRY_HOST:PORT PIN OP [JSON_MEMBERS]
 *
 * JSON_MEMBERS is an object whose members are added to the request body
 * (e.g. '{"listen_port":4242}').  Exit 0 when both requests got an answer. */
#include "config.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "json.h"
#include "regmsg.h"
#include "store.h"
#include "util.h"

#include <sodium.h>

struct buf {
	char data[65536];
	size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t take = MIN(sz * n, sizeof(b->data) - 1 - b->len);
	memcpy(b->data + b->len, p, take);
	b->len += take;
	b->data[b->len] = '\0';
	return sz * n;
}

static yajl_val extra;

static void add_extra(struct json_gen *j, void *arg)
{
	(void)arg;
	for (size_t i = 0; extra && YAJL_IS_OBJECT(extra) && i < extra->u.object.len; i++) {
		yajl_val v = extra->u.object.values[i];
		jg_key(j, extra->u.object.keys[i]);
		if (YAJL_IS_STRING(v))
			jg_str(j, v->u.string);
		else if (YAJL_IS_INTEGER(v))
			jg_i64(j, YAJL_GET_INTEGER(v));
		else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
			jg_bool(j, YAJL_IS_TRUE(v));
		else
			jg_null(j);
	}
}

int main(int argc, char **argv)
{
	static const char *const dbs[] = {"meta", "trust", "asked", "networks", NULL};
	char url[512], path[64], sig[REGMSG_SIG_B64_LEN], hdr[160], pin[128], err[128];
	uint8_t sk[64], idb[4];
	struct store *st;
	struct store_txn t;
	char *body = NULL;
	size_t len;
	uint32_t node_id;
	int meta;

	if (argc < 5) {
		fprintf(stderr, "usage: %s STATE_DIR HOST:PORT PIN OP [JSON_MEMBERS]\n", argv[0]);
		return 2;
	}
	if (argc > 5 && !(extra = json_parse(argv[5], strlen(argv[5]), 0, err, sizeof(err)))) {
		fprintf(stderr, "JSON_MEMBERS: %s\n", err);
		return 2;
	}
	st = store_open(argv[1], dbs, 64ull << 20);
	if (!st)
		return 1;
	meta = store_dbi(st, "meta");
	store_txn_begin(st, &t, 1);
	if (store_get_fixed(&t, meta, "ed_sk", 5, sk, 64) < 0 ||
	    store_get_fixed(&t, meta, "node_id", 7, idb, 4) < 0) {
		fprintf(stderr, "%s: no registered identity\n", argv[1]);
		return 1;
	}
	store_txn_abort(&t);
	store_close(st);
	node_id = store_rd_be32(idb);
	snprintf(path, sizeof(path), "/v1/node/%s", argv[4]);
	if (regmsg_build(argv[4], node_id, now_real_ms(), add_extra, NULL, &body, &len) < 0 ||
	    regmsg_sign(sk, path, body, len, sig) < 0 ||
	    httpc_pin_to_curl(argv[3], pin, sizeof(pin)) < 0)
		return 1;
	snprintf(hdr, sizeof(hdr), "Pilot-Signature: %s", sig);
	snprintf(url, sizeof(url), "https://%s%s", argv[2], path);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 1; i <= 2; i++) {
		CURL *c = curl_easy_init();
		struct curl_slist *h = NULL;
		struct buf b = {.len = 0};
		long status = 0;
		h = curl_slist_append(h, hdr);
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pin);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		if (curl_easy_perform(c) != CURLE_OK)
			return 1;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		printf("%d %ld %s\n", i, status, b.data);
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
	}
	sodium_memzero(sk, sizeof(sk));
	free(body);
	return 0;
}
