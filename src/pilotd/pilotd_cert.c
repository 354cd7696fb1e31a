/* pilotd_cert.c - this node's certificates for ca networks (SPEC section
 * 6, doc/CERT.md): loaded from the `certificates` files, or handed over
 * by `network join --cert`; offered at every join, renewed when the files
 * change (pilotd_renew.c renews them and keeps the ends of memberships).
 */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dp.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#define CERT_FILE_MAX 4096

/* The file's modification time, nanoseconds (0 if it cannot be read). */
static uint64_t file_mtime(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
}

uint64_t pilotd_certs_mtime_sum(char **files)
{
	uint64_t sum = 0;

	for (size_t i = 0; files && files[i]; i++)
		sum += file_mtime(files[i]);
	return sum;
}

int pilotd_certs_read(char **files, struct pilotd_certs *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; files && files[i]; i++) {
		char *text = NULL;
		size_t len = 0;
		int rc;
		if (out->n == PILOTD_CERTS_MAX) {
			snprintf(err, errlen, "certificates: at most %d files", PILOTD_CERTS_MAX);
			return -E2BIG;
		}
		rc = file_read_all(files[i], CERT_FILE_MAX, &text, &len);
		if (rc < 0) {
			snprintf(err, errlen, "certificates: %s: %s", files[i], strerror(-rc));
			return rc;
		}
		rc = cert_from_text(text, len, &out->c[out->n]);
		free(text);
		if (rc < 0 || out->c[out->n].kind != CERT_KIND_NODE) {
			snprintf(err, errlen, "certificates: %s: %s", files[i],
				 rc < 0 ? "not a Pilot certificate"
					: "a CA certificate, not a node's");
			return -EINVAL;
		}
		out->n++;
	}
	out->mtime_sum = pilotd_certs_mtime_sum(files);
	return 0;
}

int pilotd_cert_add(struct pilotd *d, const struct cert *c)
{
	struct pilotd_certs *cs = &d->certs;

	if (c->kind != CERT_KIND_NODE || sodium_memcmp(c->public_key, d->ed_pk, 32) != 0)
		return -EINVAL;
	for (size_t i = 0; i < cs->n; i++)
		if (memcmp(cs->c[i].fingerprint, c->fingerprint, CERT_FP_LEN) == 0)
			return 0;
	/* Full: the one that ends first makes room. */
	if (cs->n == PILOTD_CERTS_MAX) {
		size_t k = 0;
		for (size_t i = 1; i < cs->n; i++)
			if (cs->c[i].not_after < cs->c[k].not_after)
				k = i;
		cs->c[k] = cs->c[--cs->n];
	}
	cs->c[cs->n++] = *c;
	return 0;
}

/* Could \p c admit us now: our key, not expired? */
static int cert_usable(const struct pilotd *d, const struct cert *c, uint64_t now_s)
{
	return sodium_memcmp(c->public_key, d->ed_pk, 32) == 0 && c->not_after > now_s;
}

void pilotd_cert_put_one(struct json_gen *j, const struct cert *c)
{
	char b64[CERT_PEM_MAX];

	if (cert_to_b64(c, b64, sizeof(b64)) < 0)
		return;
	jg_key(j, "certificates");
	jg_array_open(j);
	jg_str(j, b64);
	jg_array_close(j);
}

void pilotd_certs_put(struct pilotd *d, struct json_gen *j)
{
	uint64_t now_s = now_real_ms() / 1000;
	char b64[CERT_PEM_MAX];
	size_t n = 0;

	for (size_t i = 0; i < d->certs.n; i++) {
		const struct cert *c = &d->certs.c[i];
		if (!cert_usable(d, c, now_s) || cert_to_b64(c, b64, sizeof(b64)) < 0)
			continue;
		if (n++ == 0) {
			jg_key(j, "certificates");
			jg_array_open(j);
		}
		jg_str(j, b64);
	}
	if (n)
		jg_array_close(j);
}

int pilotd_certs_have(struct pilotd *d)
{
	uint64_t now_s = now_real_ms() / 1000;

	for (size_t i = 0; i < d->certs.n; i++)
		if (cert_usable(d, &d->certs.c[i], now_s))
			return 1;
	return 0;
}

void pilotd_net_cert(struct pilotd *d, uint16_t net, yajl_val nw)
{
	struct member_net *n = member_net_find(&d->members, net);
	yajl_val id = json_get(nw, "identity");
	char qid[2 * sizeof(n->external_id)], qiss[2 * sizeof(n->external_issuer)];
	const char *sub = NULL, *iss = NULL;
	uint64_t na = 0;

	if (!n)
		return;
	if (json_get_u64(json_get(nw, "certificate"), "not_after", &na) == 0 ||
	    json_get_u64(id, "not_after", &na) == 0)
		n->cert_not_after = na;
	if (json_get_str(id, "external_id", &sub) < 0 ||
	    json_get_str(id, "external_issuer", &iss) < 0)
		return;
	snprintf(n->external_id, sizeof(n->external_id), "%s", sub);
	snprintf(n->external_issuer, sizeof(n->external_issuer), "%s", iss);
	/* Who the registry admitted us as, in our audit log (and webhooks). */
	if (json_quote(qid, sizeof(qid), n->external_id) >= 0 &&
	    json_quote(qiss, sizeof(qiss), n->external_issuer) >= 0)
		pilotd_audit_event(d, "network.identity", 0,
				   "{\"network_id\":%u,\"external_id\":%s,\"external_issuer\":%s,"
				   "\"not_after\":%llu}",
				   net, qid, qiss, (unsigned long long)na);
}
