/* audit_rec.c - the audit log's stored bytes: the one parser of records
 * (fuzzed), the details and name sanitising that goes into a record, the
 * checkpoint's canonical form, and the hash and signatures that chain and
 * vouch for them.  No LMDB here. */
#include "config.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "audit_int.h"
#include "json.h"
#include "util.h"

#define REC_MAX (AUDIT_DETAILS_MAX * 6 + 4 * AUDIT_NAME_MAX * 6 + 512)

/* ------------------------------------------------------------ helpers */

void audit_sha256(uint8_t out[HASH_LEN], const void *buf, size_t len)
{
	crypto_hash_sha256(out, buf, len);
}

/* Exactly 64 lower-case hex digits: the only form we write, so any other
 * spelling of the same hash is an edit. */
static int hex_hash_parse(const char *s, uint8_t out[HASH_LEN])
{
	if (strlen(s) != HEX_LEN)
		return -EBADMSG;
	for (size_t i = 0; i < HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -EBADMSG;
	return hex_decode(out, HASH_LEN, s) == HASH_LEN ? 0 : -EBADMSG;
}

int audit_type_ok(const char *type)
{
	size_t n;
	int dot = 0;

	if (!type)
		return 0;
	n = strlen(type);
	if (n == 0 || n >= AUDIT_TYPE_MAX || type[0] == '.' || type[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = type[i];
		if (c == '.') {
			if (type[i + 1] == '.')
				return 0;
			dot = 1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
			     c == '-')) {
			return 0;
		}
	}
	return dot;
}

/* Copy at most \p max bytes of \p in, replacing every byte that is not
 * part of a well-formed UTF-8 sequence (overlong forms, surrogates and
 * code points above U+10FFFF included) by '?': actor and subject may carry
 * names a peer chose, and a record must never fail for that. */
void audit_utf8_sanitize(char *out, const char *in, size_t max)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t n = strnlen((const char *)s, max), i = 0, o = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len = c < 0x80		  ? 1
			     : (c & 0xe0) == 0xc0 ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		uint32_t cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		int ok = len != 0 && i + len <= n;

		for (size_t k = 1; ok && k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				ok = 0;
			else
				cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (ok && len > 1) {
			static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
			if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				ok = 0;
		}
		if (!ok) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, s + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
}

int audit_gen_details(struct json_gen *j, const char *details)
{
	char err[128];
	yajl_val v;
	size_t len;

	if (!details) {
		jg_map_open(j);
		jg_map_close(j);
		return j->err ? -EINVAL : 0;
	}
	len = strnlen(details, AUDIT_DETAILS_MAX + 1);
	if (len > AUDIT_DETAILS_MAX) {
		/* Oversized details (a peer's long text, say) must not cost
		 * the event its record: keep the record, say what was cut. */
		jg_map_open(j);
		jg_ku64(j, "details_truncated", strlen(details));
		jg_map_close(j);
		return j->err ? -EINVAL : 0;
	}
	v = json_parse(details, len, 0, err, sizeof(err));
	if (!v)
		return -EINVAL;
	if (!YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return -EINVAL;
	}
	/* Re-emitting (rather than copying the text) guarantees one compact
	 * line whatever the caller's formatting, so JSON Lines stay lines. */
	json_gen_value(j, v);
	yajl_tree_free(v);
	return j->err ? -EINVAL : 0;
}

/* ------------------------------------------------------------ parsers */

int audit_rec_parse(const char *buf, size_t len, struct audit_rec *r)
{
	static const char *const keys[] = {"event_id", "ts",	  "type", "actor",
					   "subject",  "details", "prev", NULL};
	const char *prev;
	yajl_val v;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > REC_MAX)
		return -EBADMSG;
	v = json_parse(buf, len, 0, NULL, 0);
	if (!v)
		return -EBADMSG;
	if (!YAJL_IS_OBJECT(v) || v->u.object.len != 7 || json_only_keys(v, keys, NULL) < 0 ||
	    json_get_u64(v, "event_id", &r->event_id) < 0 || json_get_u64(v, "ts", &r->ts) < 0 ||
	    json_get_str(v, "type", &r->type) < 0 || json_get_str(v, "actor", &r->actor) < 0 ||
	    json_get_str(v, "subject", &r->subject) < 0 ||
	    !YAJL_IS_OBJECT(json_get(v, "details")) || json_get_str(v, "prev", &prev) < 0 ||
	    hex_hash_parse(prev, r->prev) < 0) {
		yajl_tree_free(v);
		memset(r, 0, sizeof(*r));
		return -EBADMSG;
	}
	r->tree = v;
	return 0;
}

void audit_rec_free(struct audit_rec *r)
{
	if (r && r->tree)
		yajl_tree_free(r->tree);
	if (r)
		memset(r, 0, sizeof(*r));
}

int audit_ckpt_parse(const char *buf, size_t len, struct ckpt *c)
{
	static const char *const keys[] = {"first_id_kept", "prev_hash", "pruned_through", "ts",
					   NULL};
	const char *prev;
	int ret = -EBADMSG;
	yajl_val v;

	memset(c, 0, sizeof(*c));
	if (len == 0 || len > 1024 || !(v = json_parse(buf, len, 0, NULL, 0)))
		return -EBADMSG;
	if (YAJL_IS_OBJECT(v) && v->u.object.len == 4 && json_only_keys(v, keys, NULL) == 0 &&
	    json_get_u64(v, "first_id_kept", &c->first_id_kept) == 0 &&
	    json_get_u64(v, "pruned_through", &c->pruned_through) == 0 &&
	    json_get_u64(v, "ts", &c->ts) == 0 && json_get_str(v, "prev_hash", &prev) == 0 &&
	    hex_hash_parse(prev, c->prev) == 0 && c->first_id_kept >= 2 &&
	    c->pruned_through == c->first_id_kept - 1)
		ret = 0;
	yajl_tree_free(v);
	return ret;
}

/* The bytes of a checkpoint (canonical: we only ever compare and sign
 * these exact bytes). \retval 0 or -EINVAL. */
int audit_ckpt_gen(const struct ckpt *c, struct json_gen *j, const char **out, size_t *len)
{
	char hex[HEX_LEN + 1];

	hex_encode(hex, sizeof(hex), c->prev, HASH_LEN);
	jg_map_open(j);
	jg_ku64(j, "first_id_kept", c->first_id_kept);
	jg_kstr(j, "prev_hash", hex);
	jg_ku64(j, "pruned_through", c->pruned_through);
	jg_ku64(j, "ts", c->ts);
	jg_map_close(j);
	return json_gen_finish(j, out, len);
}

/* Signed message: a domain prefix, so that no other signature made with
 * the node key (registry requests, handshakes) can pass for a checkpoint. */
static int ckpt_msg(const char *body, size_t len, uint8_t **msg, size_t *mlen)
{
	size_t dl = strlen(CKPT_DOMAIN);

	*msg = malloc(dl + len);
	if (!*msg)
		return -ENOMEM;
	memcpy(*msg, CKPT_DOMAIN, dl);
	memcpy(*msg + dl, body, len);
	*mlen = dl + len;
	return 0;
}

int audit_ckpt_sig_ok(const char *body, size_t len, const uint8_t *sig, const uint8_t pk[32])
{
	uint8_t *msg;
	size_t mlen;
	int ok;

	if (ckpt_msg(body, len, &msg, &mlen) < 0)
		return -ENOMEM;
	ok = crypto_sign_verify_detached(sig, msg, mlen, pk) == 0;
	free(msg);
	return ok ? 0 : -EBADMSG;
}

int audit_ckpt_sign(const char *body, size_t len, uint8_t sig[64], const uint8_t sk[64])
{
	uint8_t *msg;
	size_t mlen;

	if (ckpt_msg(body, len, &msg, &mlen) < 0)
		return -ENOMEM;
	crypto_sign_detached(sig, NULL, msg, mlen, sk);
	free(msg);
	return 0;
}
