/* rdv_store_signup.c - see rdv_store.h: registration tokens and the
 * registrations of new keys held for the admin's approval.
 *
 *   reg_tokens   id(16) -> u8(1) hash(32) be64(created ms) be64(expires ms)
 *                be64(last used ms) be32(uses) be32(uses_max)
 *   reg_pending  pk(32) -> u8(1) u8(state) be64(first ms) be64(last ms)
 *                be64(decided ms) u8(n) ip(n) u8(m) hostname(m)
 *
 * Both live in the replicated state like every other table, so with
 * store "etcd" a token's use count is compare-and-swap safe: the write
 * that takes a use holds only if nothing was written since this replica's
 * copy was read (rdv_repl.h), and a conflict runs the request again.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "rdv_store_int.h"

#define TOKEN_VAL_LEN (1 + 32 + 8 * 3 + 4 * 2)
#define SIGNUP_FIXED_LEN (1 + 1 + 8 * 3)

/* ---------------------------------------------------------------- tokens */

static int token_decode(const MDB_val *k, const MDB_val *v, struct rdv_regtoken *tok)
{
	const uint8_t *p = v->mv_data;

	if (k->mv_size != RDV_REGTOK_ID_LEN || v->mv_size != TOKEN_VAL_LEN || p[0] != 1)
		return -EBADMSG;
	memcpy(tok->id, k->mv_data, RDV_REGTOK_ID_LEN);
	memcpy(tok->hash, p + 1, 32);
	tok->created_ms = store_rd_be64(p + 33);
	tok->expires_ms = store_rd_be64(p + 41);
	tok->last_used_ms = store_rd_be64(p + 49);
	tok->uses = store_rd_be32(p + 57);
	tok->uses_max = store_rd_be32(p + 61);
	return 0;
}

int rdv_regtoken_get(struct store_txn *t, struct rdv_db *db, const uint8_t id[RDV_REGTOK_ID_LEN],
		     struct rdv_regtoken *tok)
{
	MDB_val k = {RDV_REGTOK_ID_LEN, (void *)id}, v;
	int ret = store_get(t, db->dbi[RDV_DB_REG_TOKENS], id, RDV_REGTOK_ID_LEN, &v);

	return ret < 0 ? ret : token_decode(&k, &v, tok);
}

void rdv_regtoken_put(struct store_txn *t, struct rdv_db *db, const struct rdv_regtoken *tok)
{
	uint8_t v[TOKEN_VAL_LEN];

	v[0] = 1;
	memcpy(v + 1, tok->hash, 32);
	store_be64(v + 33, tok->created_ms);
	store_be64(v + 41, tok->expires_ms);
	store_be64(v + 49, tok->last_used_ms);
	store_be32(v + 57, tok->uses);
	store_be32(v + 61, tok->uses_max);
	store_put(t, db->dbi[RDV_DB_REG_TOKENS], tok->id, RDV_REGTOK_ID_LEN, v, sizeof(v));
}

void rdv_regtoken_del(struct store_txn *t, struct rdv_db *db, const uint8_t id[RDV_REGTOK_ID_LEN])
{
	store_del(t, db->dbi[RDV_DB_REG_TOKENS], id, RDV_REGTOK_ID_LEN);
}

struct token_visit {
	rdv_regtoken_cb cb;
	void *arg;
};

static int token_visit_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct token_visit *tv = arg;
	struct rdv_regtoken tok;
	int rc = token_decode(k, v, &tok);

	return rc < 0 ? rc : tv->cb(tv->arg, &tok);
}

int rdv_regtoken_iter(struct store_txn *t, struct rdv_db *db, rdv_regtoken_cb cb, void *arg)
{
	struct token_visit tv = {cb, arg};

	return rdv_st_each(t, db->dbi[RDV_DB_REG_TOKENS], NULL, 0, RDV_REGTOK_ID_LEN,
			   token_visit_cb, &tv);
}

static int token_doomed(void *arg, const MDB_val *k, const MDB_val *v)
{
	uint64_t now = *(const uint64_t *)arg;
	struct rdv_regtoken tok;

	/* A corrupt record is no token: it goes too. */
	if (token_decode(k, v, &tok) < 0)
		return 1;
	return tok.expires_ms + RDV_INVITE_KEEP_MS <= now;
}

int rdv_regtoken_prune(struct rdv_db *db, uint64_t now_ms)
{
	return rdv_st_prune_scan(db, RDV_DB_REG_TOKENS, RDV_REGTOK_ID_LEN, token_doomed, &now_ms);
}

/* ---------------------------------------------------------------- held registrations */

static int signup_decode(const MDB_val *k, const MDB_val *v, struct rdv_signup *s)
{
	const uint8_t *p = v->mv_data;
	size_t n, m, len = v->mv_size;

	if (k->mv_size != 32 || len < SIGNUP_FIXED_LEN + 2 || p[0] != 1)
		return -EBADMSG;
	memset(s, 0, sizeof(*s));
	memcpy(s->pk, k->mv_data, 32);
	s->state = p[1];
	s->first_ms = store_rd_be64(p + 2);
	s->last_ms = store_rd_be64(p + 10);
	s->decided_ms = store_rd_be64(p + 18);
	n = p[SIGNUP_FIXED_LEN];
	if (n >= sizeof(s->ip) || SIGNUP_FIXED_LEN + 1 + n + 1 > len)
		return -EBADMSG;
	memcpy(s->ip, p + SIGNUP_FIXED_LEN + 1, n);
	m = p[SIGNUP_FIXED_LEN + 1 + n];
	if (m >= sizeof(s->hostname) || SIGNUP_FIXED_LEN + 2 + n + m != len)
		return -EBADMSG;
	memcpy(s->hostname, p + SIGNUP_FIXED_LEN + 2 + n, m);
	if (s->state < RDV_SIGNUP_PENDING || s->state > RDV_SIGNUP_APPROVED)
		return -EBADMSG;
	return 0;
}

int rdv_signup_get(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32],
		   struct rdv_signup *s)
{
	MDB_val k = {32, (void *)pk}, v;
	int ret = store_get(t, db->dbi[RDV_DB_REG_PENDING], pk, 32, &v);

	return ret < 0 ? ret : signup_decode(&k, &v, s);
}

void rdv_signup_put(struct store_txn *t, struct rdv_db *db, const struct rdv_signup *s)
{
	uint8_t v[SIGNUP_FIXED_LEN + 2 + sizeof(s->ip) + sizeof(s->hostname)];
	size_t n = strnlen(s->ip, sizeof(s->ip) - 1), m = strnlen(s->hostname, RDV_HOSTNAME_MAX),
	       o = SIGNUP_FIXED_LEN;

	v[0] = 1;
	v[1] = s->state;
	store_be64(v + 2, s->first_ms);
	store_be64(v + 10, s->last_ms);
	store_be64(v + 18, s->decided_ms);
	v[o++] = (uint8_t)n;
	memcpy(v + o, s->ip, n);
	o += n;
	v[o++] = (uint8_t)m;
	memcpy(v + o, s->hostname, m);
	o += m;
	store_put(t, db->dbi[RDV_DB_REG_PENDING], s->pk, 32, v, o);
}

void rdv_signup_del(struct store_txn *t, struct rdv_db *db, const uint8_t pk[32])
{
	store_del(t, db->dbi[RDV_DB_REG_PENDING], pk, 32);
}

struct signup_visit {
	rdv_signup_cb cb;
	void *arg;
	size_t pending;
};

static int signup_visit_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct signup_visit *sv = arg;
	struct rdv_signup s;
	int rc = signup_decode(k, v, &s);

	if (rc < 0)
		return rc;
	sv->pending += s.state == RDV_SIGNUP_PENDING;
	return sv->cb ? sv->cb(sv->arg, &s) : 0;
}

int rdv_signup_iter(struct store_txn *t, struct rdv_db *db, rdv_signup_cb cb, void *arg)
{
	struct signup_visit sv = {cb, arg, 0};

	return rdv_st_each(t, db->dbi[RDV_DB_REG_PENDING], NULL, 0, 32, signup_visit_cb, &sv);
}

size_t rdv_signup_pending_count(struct store_txn *t, struct rdv_db *db)
{
	struct signup_visit sv = {NULL, NULL, 0};

	if (rdv_st_each(t, db->dbi[RDV_DB_REG_PENDING], NULL, 0, 32, signup_visit_cb, &sv) < 0)
		return 0;
	return sv.pending;
}

static int signup_doomed(void *arg, const MDB_val *k, const MDB_val *v)
{
	uint64_t now = *(const uint64_t *)arg, last;
	struct rdv_signup s;

	if (signup_decode(k, v, &s) < 0)
		return 1;
	last = s.last_ms > s.decided_ms ? s.last_ms : s.decided_ms;
	return last + RDV_SIGNUP_KEEP_MS <= now;
}

int rdv_signup_prune(struct rdv_db *db, uint64_t now_ms)
{
	return rdv_st_prune_scan(db, RDV_DB_REG_PENDING, 32, signup_doomed, &now_ms);
}
