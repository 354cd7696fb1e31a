/* pilotd_identity.c - this node's identity and settings as its own LMDB
 * holds them (the "meta" table): the Ed25519 key (created at first start
 * or imported, never leaving the node), a rotation in progress, the
 * registration (node ID, deployment prefix), and the settings the node
 * re-asserts at every registration (hostname, visibility, tags).  It sits
 * below the registry client and the data path: it calls only the store,
 * the tunnel crypto, the peer table (sessions start over after a key
 * change) and the audit log. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pilotd.h"
#include "store.h"
#include "util.h"

int pilotd_meta_put(struct pilotd *d, const char *key, const void *val, size_t len)
{
	struct store_txn t;

	store_txn_begin(d->st, &t, 0);
	store_put(&t, d->db_meta, key, strlen(key), val, len);
	return store_txn_commit(&t);
}

static int meta_get_str(struct pilotd *d, const char *key, char *out, size_t outlen)
{
	struct store_txn t;
	MDB_val v;
	int rc;

	store_txn_begin(d->st, &t, 1);
	rc = store_get(&t, d->db_meta, key, strlen(key), &v);
	if (rc == 0) {
		size_t n = MIN(v.mv_size, outlen - 1);
		memcpy(out, v.mv_data, n);
		out[n] = '\0';
	}
	store_txn_abort(&t);
	return rc;
}

/* The node's settings live in its own LMDB and are sent at every
 * registration.  A config value is applied when it differs from the one
 * applied last time (an operator edited the file); otherwise a change made
 * at run time (pilotctl set-hostname, set-public) stands. */
void pilotd_settings_load(struct pilotd *d)
{
	char last[80], cur[80];
	const char *cfg_host = d->cfg.hostname ? d->cfg.hostname : "";

	meta_get_str(d, "hostname", d->hostname, sizeof(d->hostname));
	if (meta_get_str(d, "cfg_hostname", last, sizeof(last)) < 0 ||
	    strcmp(last, cfg_host) != 0) {
		if (cfg_host[0])
			snprintf(d->hostname, sizeof(d->hostname), "%s", cfg_host);
		pilotd_meta_put(d, "hostname", d->hostname, strlen(d->hostname));
		pilotd_meta_put(d, "cfg_hostname", cfg_host, strlen(cfg_host));
	}
	d->public_ = d->cfg.public_;
	if (meta_get_str(d, "public", cur, sizeof(cur)) == 0)
		d->public_ = cur[0] == '1';
	snprintf(cur, sizeof(cur), "%d", d->cfg.public_);
	if (meta_get_str(d, "cfg_public", last, sizeof(last)) < 0 || strcmp(last, cur) != 0) {
		d->public_ = d->cfg.public_;
		pilotd_meta_put(d, "public", cur, 1);
		pilotd_meta_put(d, "cfg_public", cur, 1);
	}
	meta_get_str(d, "tags", d->tags, sizeof(d->tags));
}

static int identity_import(const char *path, uint8_t *sk, uint8_t *pk)
{
	char *text = NULL;
	uint8_t raw[64];
	int n, rc;

	rc = file_check_secret(path);
	if (rc == -EPERM) {
		log_warnx("%s: identity file is readable by others; chmod 600 it", path);
		return rc;
	}
	if (rc < 0 || (rc = file_read_all(path, 4096, &text, NULL)) < 0) {
		log_warnx("%s: %s", path, strerror(-rc));
		return rc;
	}
	text[strcspn(text, " \r\n")] = '\0';
	n = b64_decode(raw, sizeof(raw), text);
	sodium_memzero(text, strlen(text));
	free(text);
	if (n == 32) {
		crypto_sign_seed_keypair(pk, sk, raw);
	} else if (n == 64) {
		memcpy(sk, raw, 64);
		crypto_sign_ed25519_sk_to_pk(pk, sk);
	} else {
		log_warnx("%s: expected the base64 of a 32-byte Ed25519 seed or 64-byte secret key",
			  path);
		rc = -EINVAL;
	}
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

int pilotd_identity_load(struct pilotd *d)
{
	struct store_txn t;
	uint8_t imported_pk[32];
	uint8_t *imported = NULL;
	MDB_val v;
	int rc;

	d->ed_sk = sodium_malloc(64);
	if (!d->ed_sk)
		return -ENOMEM;
	if (d->cfg.identity && d->cfg.identity[0]) {
		imported = sodium_malloc(64);
		if (!imported)
			return -ENOMEM;
		if ((rc = identity_import(d->cfg.identity, imported, imported_pk)) < 0)
			goto out;
	}
	store_txn_begin(d->st, &t, 0);
	rc = store_get(&t, d->db_meta, "ed_sk", 5, &v);
	if (rc == 0 && v.mv_size == 64) {
		memcpy(d->ed_sk, v.mv_data, 64);
		crypto_sign_ed25519_sk_to_pk(d->ed_pk, d->ed_sk);
		if (imported && memcmp(imported_pk, d->ed_pk, 32) != 0) {
			log_warnx("%s: this node already has a different identity; refusing to "
				  "replace it (use rotate-key)",
				  d->cfg.identity);
			store_txn_abort(&t);
			rc = -EEXIST;
			goto out;
		}
	} else if (rc == -ENOENT) {
		/* First start: the key is made here and never leaves the node. */
		if (imported) {
			memcpy(d->ed_sk, imported, 64);
			memcpy(d->ed_pk, imported_pk, 32);
		} else {
			crypto_sign_keypair(d->ed_pk, d->ed_sk);
		}
		store_put(&t, d->db_meta, "ed_sk", 5, d->ed_sk, 64);
		log_info("new identity created");
	} else if (rc == 0) {
		rc = -EBADMSG;
	}
	rc = rc < 0 && rc != -ENOENT ? rc : store_txn_commit(&t);
	if (rc < 0) {
		store_txn_abort(&t);
		log_warnx("identity: %s", strerror(-rc));
		goto out;
	}
	rc = tnl_identity_init(&d->id, d->ed_sk);
	if (rc == 0) {
		/* A rotation that was under way when we stopped. */
		store_txn_begin(d->st, &t, 1);
		if (store_get(&t, d->db_meta, "ed_sk_next", 10, &v) == 0 && v.mv_size == 64 &&
		    (d->ed_sk_next = sodium_malloc(64)) != NULL)
			memcpy(d->ed_sk_next, v.mv_data, 64);
		store_txn_abort(&t);
	}
out:
	if (imported)
		sodium_free(imported);
	return rc;
}

int pilotd_identity_set_next(struct pilotd *d, const uint8_t *sk)
{
	int rc;

	if (!d->ed_sk_next && !(d->ed_sk_next = sodium_malloc(64)))
		return -ENOMEM;
	memcpy(d->ed_sk_next, sk, 64);
	rc = pilotd_meta_put(d, "ed_sk_next", sk, 64);
	if (rc < 0)
		pilotd_identity_drop_next(d);
	return rc;
}

void pilotd_identity_drop_next(struct pilotd *d)
{
	struct store_txn t;

	store_txn_begin(d->st, &t, 0);
	store_del(&t, d->db_meta, "ed_sk_next", 10);
	store_txn_commit(&t);
	if (d->ed_sk_next)
		sodium_free(d->ed_sk_next);
	d->ed_sk_next = NULL;
}

int pilotd_identity_replace(struct pilotd *d, const uint8_t *new_sk)
{
	struct tnl_identity nid;
	struct store_txn t;
	uint8_t sk[64];
	int rc;

	memcpy(sk, new_sk, 64); /* new_sk may be d->ed_sk_next, freed below */
	memset(&nid, 0, sizeof(nid));
	if ((rc = tnl_identity_init(&nid, sk)) < 0)
		goto out;
	/* One transaction: the new key replaces the old durably or not at all. */
	store_txn_begin(d->st, &t, 0);
	store_put(&t, d->db_meta, "ed_sk", 5, sk, 64);
	store_del(&t, d->db_meta, "ed_sk_next", 10);
	if ((rc = store_txn_commit(&t)) < 0) {
		tnl_identity_wipe(&nid);
		goto out;
	}
	{
		uint8_t old_pk[32];
		memcpy(old_pk, d->ed_pk, 32);
		memcpy(d->ed_sk, sk, 64);
		crypto_sign_ed25519_sk_to_pk(d->ed_pk, d->ed_sk);
		pilotd_audit_rekeyed(d, old_pk);
	}
	tnl_identity_wipe(&d->id);
	d->id = nid;
	if (d->ed_sk_next)
		sodium_free(d->ed_sk_next);
	d->ed_sk_next = NULL;
	/* Every session was keyed with the old static: start them over. */
	peer_reset_all(&d->peers, &d->id);
	log_info("identity key replaced; sessions will re-handshake");
	pilotd_audit_event(d, "node.key_rotated", 0, NULL);
out:
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

void pilotd_meta_load(struct pilotd *d)
{
	struct store_txn t;
	uint8_t buf[4], buf8[8];

	store_txn_begin(d->st, &t, 1);
	if (store_get_fixed(&t, d->db_meta, "node_id", 7, buf, 4) == 0)
		d->node_id = store_rd_be32(buf);
	if (store_get_fixed(&t, d->db_meta, "prefix", 6, d->prefix.b, 6) == 0)
		d->have_prefix = 1;
	if (store_get_fixed(&t, d->db_meta, "hs_ts_floor", 11, buf8, 8) == 0)
		d->hs_ts_floor_ns = d->hs_ts_reserved_ns = store_rd_be64(buf8);
	store_txn_abort(&t);
}

void pilotd_hs_ts_reserve(struct pilotd *d, uint64_t ns)
{
	uint8_t b[8];

	store_be64(b, ns);
	/* Not kept: the next run may send timestamps an earlier one sent,
	 * refused as replays until the clock passes them (as without it). */
	if (pilotd_meta_put(d, "hs_ts_floor", b, sizeof(b)) < 0)
		log_warnx("could not keep the handshake timestamp floor in the state");
}
