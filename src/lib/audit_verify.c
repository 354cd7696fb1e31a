/* audit_verify.c - the readers that take the whole audit log: the JSON
 * Lines export for SIEMs and the verifier (chain, gaps, checkpoint
 * signature, head). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"

struct export_ctx {
	FILE *out;
	uint64_t n;
};

static int export_cb(void *arg, uint64_t id, const char *rec, size_t len)
{
	struct export_ctx *x = arg;

	if (memchr(rec, '\n', len)) {
		log_warnx("audit: record %" PRIu64 " holds a newline (tampered); not exported", id);
		return 0;
	}
	if (fwrite(rec, 1, len, x->out) != len || fputc('\n', x->out) == EOF)
		return -EIO;
	x->n++;
	return 0;
}

int audit_export_jsonl(struct audit *a, uint64_t since_id, FILE *out, uint64_t *written)
{
	struct export_ctx x = {out, 0};
	struct store_txn t;
	uint64_t lo, hi;
	uint8_t key[8];
	MDB_val v;
	int ret;

	/* Not through audit_query: that skips records that do not parse,
	 * and an export must hand over even those (the SIEM sees the break). */
	store_txn_begin(a->st, &t, 1);
	ret = audit_id_range(a, &t, &lo, &hi);
	if (ret == -ENOENT) {
		ret = 0;
		goto out;
	}
	for (uint64_t id = MAX(lo, since_id); ret == 0 && id <= hi && id > 0; id++) {
		store_be64(key, id);
		if (store_get(&t, a->db, key, 8, &v) == 0)
			ret = export_cb(&x, id, v.mv_data, v.mv_size);
		if (id == UINT64_MAX)
			break;
	}
	if (ret == 0)
		ret = t.ret;
out:
	store_txn_abort(&t);
	if (ret == 0 && fflush(out) != 0)
		ret = -EIO;
	if (written)
		*written = x.n;
	return ret;
}

/* ------------------------------------------------------------ verify */

struct vstate {
	struct audit_verify_result *res;
	uint64_t expect_id;
	uint8_t expect_prev[HASH_LEN];
	int have_pred; /* a predecessor was seen in this scan */
	uint64_t pred_id;
	int anchored; /* expect_* come from the genesis or a checkpoint */
	int ckpt;
};

static void problem(struct audit_verify_result *res, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct audit_verify_result *res, uint64_t id, const char *fmt, ...)
{
	va_list ap;

	if (res->errors++ > 0)
		return;
	res->bad_id = id;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

static int verify_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct vstate *s = arg;
	struct audit_verify_result *res = s->res;
	uint8_t hash[HASH_LEN];
	struct audit_rec r;
	int link = 1;
	uint64_t id;

	if (k->mv_size != 8) {
		problem(res, 0, "a key of %zu bytes is not an event_id", k->mv_size);
		return 0;
	}
	id = store_rd_be64(k->mv_data);
	res->records++;
	if (!res->first_id)
		res->first_id = id;
	res->last_id = id;
	if (!s->anchored) {
		/* No usable anchor (malformed checkpoint): start from here. */
		s->anchored = 1;
		s->expect_id = id;
		link = 0;
	}
	if (id < s->expect_id) {
		problem(res, id,
			"record %" PRIu64 " precedes the checkpoint (pruned through %" PRIu64 ")",
			id, s->expect_id - 1);
		return 0;
	}
	if (id > s->expect_id) {
		if (id - 1 == s->expect_id)
			problem(res, s->expect_id, "record %" PRIu64 " is missing", s->expect_id);
		else
			problem(res, s->expect_id,
				"records %" PRIu64 "..%" PRIu64 " are missing (%" PRIu64
				" records)",
				s->expect_id, id - 1, id - s->expect_id);
		link = 0;
	}
	audit_sha256(hash, v->mv_data, v->mv_size);
	if (audit_rec_parse(v->mv_data, v->mv_size, &r) < 0) {
		problem(res, id, "record %" PRIu64 " is not a valid record", id);
	} else {
		if (r.event_id != id)
			problem(res, id, "record %" PRIu64 " says it is event %" PRIu64, id,
				r.event_id);
		if (link && sodium_memcmp(r.prev, s->expect_prev, HASH_LEN) != 0) {
			if (s->have_pred)
				problem(res, s->pred_id,
					"record %" PRIu64 " was modified: its hash is not the one "
					"record %" PRIu64 " was chained to",
					s->pred_id, id);
			else if (s->ckpt)
				problem(res, id,
					"record %" PRIu64 " does not follow the checkpoint", id);
			else
				problem(res, id, "record %" PRIu64 " does not follow the genesis",
					id);
		}
		audit_rec_free(&r);
	}
	memcpy(s->expect_prev, hash, HASH_LEN);
	s->expect_id = id + 1;
	s->have_pred = 1;
	s->pred_id = id;
	return 0;
}

int audit_verify(struct audit *a, const uint8_t pk[32], struct audit_verify_result *res)
{
	struct vstate s = {.res = res, .expect_id = 1, .anchored = 1};
	uint8_t head_hash[HASH_LEN];
	struct store_txn t;
	MDB_val cv, sv;
	int ret, have_ckpt, have_sig, have_head;
	uint64_t head_id = 0;
	struct ckpt c;

	memset(res, 0, sizeof(*res));
	store_txn_begin(a->st, &t, 1);
	if (t.ret < 0) {
		ret = t.ret;
		goto out;
	}
	have_ckpt = store_get(&t, a->meta, CKPT_KEY, strlen(CKPT_KEY), &cv) == 0;
	have_sig = store_get(&t, a->meta, CKPT_SIG_KEY, strlen(CKPT_SIG_KEY), &sv) == 0;
	if (have_ckpt) {
		s.ckpt = res->checkpoint = 1;
		if (audit_ckpt_parse(cv.mv_data, cv.mv_size, &c) < 0) {
			problem(res, 0, "the checkpoint is malformed");
			s.anchored = 0;
		} else {
			s.expect_id = c.first_id_kept;
			memcpy(s.expect_prev, c.prev, HASH_LEN);
			if (!have_sig || sv.mv_size != crypto_sign_BYTES)
				problem(res, c.first_id_kept, "the checkpoint has no signature");
			else if (!pk)
				problem(res, c.first_id_kept,
					"the checkpoint cannot be checked without the public key");
			else if (audit_ckpt_sig_ok(cv.mv_data, cv.mv_size, sv.mv_data, pk) < 0)
				problem(res, c.first_id_kept,
					"the checkpoint signature is invalid (forged or edited)");
			else
				res->pruned_through = c.pruned_through;
		}
	} else if (have_sig) {
		problem(res, 1, "a checkpoint signature without its checkpoint (deleted?)");
	}
	ret = audit_head_get(a, &t, &head_id, head_hash);
	have_head = ret == 0;
	if (ret == -EBADMSG)
		problem(res, 0, "the chain head in meta is malformed");
	else if (ret < 0 && ret != -ENOENT)
		goto out;
	ret = store_iter_prefix(&t, a->db, NULL, 0, verify_cb, &s);
	if (ret < 0)
		goto out;
	res->head_id = head_id;
	if (!have_head) {
		if (res->records || have_ckpt)
			problem(res, res->last_id, "the chain head is missing from meta");
	} else if (!s.anchored) {
		/* Nothing to compare against. */
	} else if (head_id + 1 > s.expect_id) {
		if (head_id == s.expect_id)
			problem(res, head_id, "record %" PRIu64 " (the last one) is missing",
				head_id);
		else
			problem(res, s.expect_id,
				"records %" PRIu64 "..%" PRIu64 " at the end are missing",
				s.expect_id, head_id);
	} else if (head_id + 1 < s.expect_id) {
		problem(res, head_id + 1, "records after the head (%" PRIu64 ") are present",
			head_id);
	} else if (sodium_memcmp(head_hash, s.expect_prev, HASH_LEN) != 0) {
		problem(res, head_id,
			"record %" PRIu64 " was modified: it is not the head recorded in meta",
			head_id);
	}
	res->ok = res->errors == 0;
	ret = 0;
out:
	store_txn_abort(&t);
	return ret;
}

void audit_verify_json(const struct audit_verify_result *res, struct json_gen *j)
{
	jg_map_open(j);
	jg_kbool(j, "ok", res->ok);
	jg_ku64(j, "records", res->records);
	jg_ku64(j, "first_id", res->first_id);
	jg_ku64(j, "last_id", res->last_id);
	jg_ku64(j, "head_id", res->head_id);
	jg_kbool(j, "checkpoint", res->checkpoint);
	jg_ku64(j, "pruned_through", res->pruned_through);
	jg_ku64(j, "errors", res->errors);
	if (!res->ok) {
		jg_ku64(j, "bad_id", res->bad_id);
		jg_kstr(j, "reason", res->reason);
	}
	jg_map_close(j);
}
