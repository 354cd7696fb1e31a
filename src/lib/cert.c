/* cert.c - see cert.h; the format is doc/CERT.md.
 *
 * Binary form, version 1 (big-endian):
 *   0   "PCRT"            magic
 *   4   u8 version        1
 *   5   u8 kind           1 CA, 2 node
 *   6   u8 flags          bit 0: a node ID follows; other bits 0
 *   7   u8 ntags          0..10
 *   8   serial[16]        random
 *   24  be64 not_before   Unix seconds
 *   32  be64 not_after    Unix seconds, > not_before
 *   40  public_key[32]    the subject's Ed25519 key
 *   72  issuer[32]        the signer's key ID (cert_key_id)
 *   104 [be32 node_id]    if flags bit 0; never 0
 *       u8 name_len, name (a CA: 1..63; a node: 0)
 *       ntags x (u8 len 1..32, tag), canonical and ascending
 *       sig[64]           Ed25519 over SIGN_CTX || everything above
 * The fingerprint is SHA-256 over FP_CTX || the signed part: a signature
 * (were one malleable) cannot change it, and revocation never rests on it
 * alone (serial, key and node are revocable too).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "cert.h"
#include "util.h"

#define MAGIC "PCRT"
#define FIXED 104
#define FLAG_NODE_ID 1
/* Domain separation: these strings start every hashed or signed input,
 * so no other Pilot signature (registry requests, invites, audit
 * checkpoints) can be replayed as a certificate, or back. */
static const char SIGN_CTX[] = "pilot-cert-v1 sign";
static const char FP_CTX[] = "pilot-cert-v1 fingerprint";
static const char KEYID_CTX[] = "pilot-cert-v1 ca-key-id";

#define PEM_CERT "PILOT CERTIFICATE"
#define PEM_KEY "PILOT CA KEY"

static const char *const err_phrase[CERT_E_MAX] = {
    [CERT_OK] = "valid",
    [CERT_E_INVALID] = "not a valid Pilot certificate",
    [CERT_E_KIND] = "the wrong kind of certificate (CA or node)",
    [CERT_E_WRONG_CA] = "signed by another CA",
    [CERT_E_SIGNATURE] = "the signature does not verify (the certificate was altered)",
    [CERT_E_OUTLIVES_CA] = "valid longer than its CA certificate",
    [CERT_E_NOT_YET_VALID] = "not valid yet (before its not-before)",
    [CERT_E_EXPIRED] = "expired (past its not-after)",
    [CERT_E_CA_EXPIRED] = "its CA certificate is expired or not yet valid",
};

static const char *const err_code[CERT_E_MAX] = {
    [CERT_OK] = "ok",
    [CERT_E_INVALID] = "cert_invalid",
    [CERT_E_KIND] = "cert_invalid",
    [CERT_E_WRONG_CA] = "cert_wrong_ca",
    [CERT_E_SIGNATURE] = "cert_bad_signature",
    [CERT_E_OUTLIVES_CA] = "cert_invalid",
    [CERT_E_NOT_YET_VALID] = "cert_not_yet_valid",
    [CERT_E_EXPIRED] = "cert_expired",
    [CERT_E_CA_EXPIRED] = "cert_ca_expired",
};

const char *cert_strerror(enum cert_err e)
{
	return (unsigned)e < CERT_E_MAX ? err_phrase[e] : "unknown certificate error";
}

const char *cert_code(enum cert_err e)
{
	return (unsigned)e < CERT_E_MAX ? err_code[e] : "cert_invalid";
}

void cert_key_id(const uint8_t pk[32], uint8_t id[CERT_KEYID_LEN])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)KEYID_CTX, sizeof(KEYID_CTX));
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, id);
}

const char *cert_tag_norm(const char *in, char out[CERT_TAG_MAX + 1])
{
	size_t n = strlen(in);

	if (n == 0 || n > CERT_TAG_MAX)
		return "must be 1 to 32 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (!(isascii(ch) && (isalnum(ch) || ch == '-' || ch == '_' || ch == '.')))
			return "may hold only letters, digits, '-', '_' and '.'";
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	if (!isalnum((unsigned char)in[0]))
		return "must start with a letter or digit";
	return NULL;
}

static int cmp_tag(const void *a, const void *b)
{
	return strcmp(a, b);
}

const char *cert_tags_canon(struct cert *c)
{
	char t[CERT_TAG_MAX + 1];
	const char *why;
	size_t n = 0;

	if (c->ntags > CERT_TAGS_MAX)
		return "at most 10 tags";
	for (size_t i = 0; i < c->ntags; i++) {
		if ((why = cert_tag_norm(c->tags[i], t)))
			return why;
		/* As a string: t's bytes past its NUL are not defined. */
		snprintf(c->tags[i], sizeof(c->tags[i]), "%s", t);
	}
	qsort(c->tags, c->ntags, sizeof(c->tags[0]), cmp_tag);
	for (size_t i = 0; i < c->ntags; i++)
		if (n == 0 || strcmp(c->tags[n - 1], c->tags[i]) != 0)
			memmove(c->tags[n++], c->tags[i], sizeof(c->tags[0]));
	c->ntags = n;
	return NULL;
}

/* Is the name a CA may carry acceptable: 1-63 printable ASCII, no
 * control characters (it is shown to operators). */
static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > CERT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* Do the fields keep the format's rules (what decoding insists on)? */
static int fields_ok(const struct cert *c)
{
	char t[CERT_TAG_MAX + 1];
	size_t nl = strnlen(c->name, sizeof(c->name));

	if (c->kind != CERT_KIND_CA && c->kind != CERT_KIND_NODE)
		return 0;
	if (c->kind == CERT_KIND_CA ? !name_ok(c->name, nl) : nl != 0)
		return 0;
	if (c->kind == CERT_KIND_CA && (c->has_node_id || c->ntags))
		return 0;
	if (c->has_node_id && c->node_id == 0)
		return 0;
	if (c->not_after <= c->not_before || c->ntags > CERT_TAGS_MAX)
		return 0;
	for (size_t i = 0; i < c->ntags; i++) {
		if (cert_tag_norm(c->tags[i], t) || strcmp(t, c->tags[i]) != 0)
			return 0;
		if (i && strcmp(c->tags[i - 1], c->tags[i]) >= 0)
			return 0;
	}
	return 1;
}

/* The signed part into \p out.  \retval its length or -EINVAL/-ENOSPC. */
static int encode_body(const struct cert *c, uint8_t *out, size_t cap)
{
	size_t o = FIXED, nl = strnlen(c->name, sizeof(c->name));

	if (!fields_ok(c))
		return -EINVAL;
	if (cap < CERT_MAX)
		return -ENOSPC;
	memcpy(out, MAGIC, 4);
	out[4] = CERT_VERSION;
	out[5] = c->kind;
	out[6] = c->has_node_id ? FLAG_NODE_ID : 0;
	out[7] = (uint8_t)c->ntags;
	memcpy(out + 8, c->serial, CERT_SERIAL_LEN);
	put_be64(out + 24, c->not_before);
	put_be64(out + 32, c->not_after);
	memcpy(out + 40, c->public_key, 32);
	memcpy(out + 72, c->issuer, CERT_KEYID_LEN);
	if (c->has_node_id) {
		put_be32(out + o, c->node_id);
		o += 4;
	}
	out[o++] = (uint8_t)nl;
	memcpy(out + o, c->name, nl);
	o += nl;
	for (size_t i = 0; i < c->ntags; i++) {
		size_t tl = strlen(c->tags[i]);
		out[o++] = (uint8_t)tl;
		memcpy(out + o, c->tags[i], tl);
		o += tl;
	}
	return (int)o;
}

static void fingerprint(const uint8_t *body, size_t len, uint8_t fp[CERT_FP_LEN])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)FP_CTX, sizeof(FP_CTX));
	crypto_hash_sha256_update(&st, body, len);
	crypto_hash_sha256_final(&st, fp);
}

/* SIGN_CTX || body, for signing and verifying. */
static size_t sign_input(const uint8_t *body, size_t len, uint8_t *out)
{
	memcpy(out, SIGN_CTX, sizeof(SIGN_CTX));
	memcpy(out + sizeof(SIGN_CTX), body, len);
	return sizeof(SIGN_CTX) + len;
}

int cert_sign(struct cert *c, const uint8_t sk[64])
{
	uint8_t body[CERT_MAX], in[sizeof(SIGN_CTX) + CERT_MAX];
	int len = encode_body(c, body, sizeof(body));
	size_t n;

	if (len < 0)
		return len;
	n = sign_input(body, (size_t)len, in);
	crypto_sign_detached(c->sig, NULL, in, n, sk);
	fingerprint(body, (size_t)len, c->fingerprint);
	return 0;
}

int cert_encode(const struct cert *c, uint8_t *out, size_t cap)
{
	uint8_t body[CERT_MAX];
	int len = encode_body(c, body, sizeof(body));

	if (len < 0)
		return len;
	if (cap < (size_t)len + 64)
		return -ENOSPC;
	memcpy(out, body, (size_t)len);
	memcpy(out + len, c->sig, 64);
	return len + 64;
}

int cert_decode(const uint8_t *in, size_t len, struct cert *c)
{
	size_t o = FIXED, nl;

	memset(c, 0, sizeof(*c));
	if (len < FIXED + 1 + 64 || len > CERT_MAX || memcmp(in, MAGIC, 4) != 0 ||
	    in[4] != CERT_VERSION || (in[6] & ~FLAG_NODE_ID) != 0 || in[7] > CERT_TAGS_MAX)
		return -EBADMSG;
	c->kind = in[5];
	c->has_node_id = in[6] & FLAG_NODE_ID;
	c->ntags = in[7];
	memcpy(c->serial, in + 8, CERT_SERIAL_LEN);
	c->not_before = get_be64(in + 24);
	c->not_after = get_be64(in + 32);
	memcpy(c->public_key, in + 40, 32);
	memcpy(c->issuer, in + 72, CERT_KEYID_LEN);
	if (c->has_node_id) {
		if (len < o + 4 + 1 + 64)
			return -EBADMSG;
		c->node_id = get_be32(in + o);
		o += 4;
	}
	nl = in[o++];
	if (nl > CERT_NAME_MAX || len < o + nl + 64)
		return -EBADMSG;
	memcpy(c->name, in + o, nl);
	o += nl;
	for (size_t i = 0; i < c->ntags; i++) {
		size_t tl;
		if (len < o + 1 + 64)
			return -EBADMSG;
		tl = in[o++];
		if (tl == 0 || tl > CERT_TAG_MAX || len < o + tl + 64)
			return -EBADMSG;
		memcpy(c->tags[i], in + o, tl);
		if (strlen(c->tags[i]) != tl)
			return -EBADMSG;
		o += tl;
	}
	/* Exactly a signature after the signed part, and every field within
	 * the rules (a NUL inside a name or tag fails them: strnlen). */
	if (len != o + 64 || strlen(c->name) != nl || !fields_ok(c))
		return -EBADMSG;
	memcpy(c->sig, in + o, 64);
	fingerprint(in, o, c->fingerprint);
	return 0;
}

/* ---------------------------------------------------------------- text */

/* "-----BEGIN LABEL-----", base64 in 64-column lines, "-----END LABEL-----". */
static int armor(const char *label, const uint8_t *bin, size_t len, char *out, size_t cap)
{
	char b64[2048];
	size_t o, bl;
	int n = b64_encode(b64, sizeof(b64), bin, len);

	if (n < 0)
		return -ENOSPC;
	bl = (size_t)n;
	n = snprintf(out, cap, "-----BEGIN %s-----\n", label);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	o = (size_t)n;
	for (size_t i = 0; i < bl; i += 64) {
		size_t k = bl - i < 64 ? bl - i : 64;
		if (o + k + 2 > cap)
			return -ENOSPC;
		memcpy(out + o, b64 + i, k);
		o += k;
		out[o++] = '\n';
	}
	n = snprintf(out + o, cap - o, "-----END %s-----\n", label);
	if (n < 0 || (size_t)n >= cap - o)
		return -ENOSPC;
	return (int)(o + (size_t)n);
}

/* The base64 between the armor lines of \p label, or the whole text if
 * it has none, whitespace removed, decoded.  \retval length or -EBADMSG. */
static int dearmor(const char *label, const char *s, size_t len, uint8_t *bin, size_t cap)
{
	char begin[64], end[64], b64[2048];
	const char *p = s, *e = s + len, *b, *x;
	size_t o = 0;
	int n;

	snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	snprintf(end, sizeof(end), "-----END %s-----", label);
	/* Only the len bytes given are read: the text need not end in NUL. */
	if (memchr(s, '\0', len))
		return -EBADMSG;
	b = memmem(s, len, begin, strlen(begin));
	if (b) {
		p = b + strlen(begin);
		x = memmem(p, (size_t)(e - p), end, strlen(end));
		if (!x)
			return -EBADMSG;
		e = x;
	} else if (memmem(s, len, "-----", 5)) {
		return -EBADMSG; /* armor of something else */
	}
	for (; p < e; p++) {
		if (isspace((unsigned char)*p))
			continue;
		if (o + 1 >= sizeof(b64))
			return -EBADMSG;
		b64[o++] = *p;
	}
	b64[o] = '\0';
	n = b64_decode(bin, cap, b64);
	return n < 0 ? -EBADMSG : n;
}

int cert_to_pem(const struct cert *c, char *out, size_t cap)
{
	uint8_t bin[CERT_MAX + 64];
	int n = cert_encode(c, bin, sizeof(bin));

	return n < 0 ? n : armor(PEM_CERT, bin, (size_t)n, out, cap);
}

int cert_to_b64(const struct cert *c, char *out, size_t cap)
{
	uint8_t bin[CERT_MAX + 64];
	int n = cert_encode(c, bin, sizeof(bin));

	if (n < 0)
		return n;
	return b64_encode(out, cap, bin, (size_t)n) < 0 ? -ENOSPC : 0;
}

int cert_from_text(const char *s, size_t len, struct cert *c)
{
	uint8_t bin[CERT_MAX + 64];
	int n;

	memset(c, 0, sizeof(*c));
	if (len > CERT_PEM_MAX * 2)
		return -EBADMSG;
	n = dearmor(PEM_CERT, s, len, bin, sizeof(bin));
	if (n < 0)
		return -EBADMSG;
	return cert_decode(bin, (size_t)n, c);
}

/* ---------------------------------------------------------- verification */

static enum cert_err check_sig(const struct cert *c, const uint8_t pk[32])
{
	uint8_t body[CERT_MAX], in[sizeof(SIGN_CTX) + CERT_MAX];
	int len = encode_body(c, body, sizeof(body));
	size_t n;

	if (len < 0)
		return CERT_E_INVALID;
	n = sign_input(body, (size_t)len, in);
	return crypto_sign_verify_detached(c->sig, in, n, pk) == 0 ? CERT_OK : CERT_E_SIGNATURE;
}

static enum cert_err check_window(const struct cert *c, uint64_t now_s, enum cert_err early,
				  enum cert_err late)
{
	if (now_s + CERT_SKEW_S < c->not_before)
		return early;
	if (now_s >= c->not_after)
		return late;
	return CERT_OK;
}

enum cert_err cert_verify_ca(const struct cert *ca, uint64_t now_s)
{
	uint8_t id[CERT_KEYID_LEN];
	enum cert_err e;

	if (ca->kind != CERT_KIND_CA)
		return CERT_E_KIND;
	cert_key_id(ca->public_key, id);
	if (sodium_memcmp(id, ca->issuer, sizeof(id)) != 0)
		return CERT_E_INVALID; /* a CA certificate is self-issued */
	if ((e = check_sig(ca, ca->public_key)) != CERT_OK)
		return e;
	if (now_s)
		return check_window(ca, now_s, CERT_E_CA_EXPIRED, CERT_E_CA_EXPIRED);
	return CERT_OK;
}

enum cert_err cert_verify_node(const struct cert *c, const struct cert *ca, uint64_t now_s)
{
	uint8_t id[CERT_KEYID_LEN];
	enum cert_err e;

	if ((e = cert_verify_ca(ca, 0)) != CERT_OK)
		return e == CERT_E_SIGNATURE ? CERT_E_WRONG_CA : e;
	if (c->kind != CERT_KIND_NODE)
		return CERT_E_KIND;
	cert_key_id(ca->public_key, id);
	if (sodium_memcmp(id, c->issuer, sizeof(id)) != 0)
		return CERT_E_WRONG_CA;
	if ((e = check_sig(c, ca->public_key)) != CERT_OK)
		return e;
	if (c->not_after > ca->not_after || c->not_before + CERT_SKEW_S < ca->not_before)
		return CERT_E_OUTLIVES_CA;
	if ((e = check_window(ca, now_s, CERT_E_CA_EXPIRED, CERT_E_CA_EXPIRED)) != CERT_OK)
		return e;
	return check_window(c, now_s, CERT_E_NOT_YET_VALID, CERT_E_EXPIRED);
}

/* ------------------------------------------------------------ CA key file */

/* "PCAK" | u8 version 1 | u8 mode (0 plain, 1 sealed) | then
 *   plain:  sk[64]
 *   sealed: salt[16] | be64 opslimit | be64 memlimit | nonce[24] |
 *           XChaCha20-Poly1305(sk) [64 + 16], AD = all bytes before nonce */
#define KEY_MAGIC "PCAK"
#define KEY_HDR 6
#define KEY_SEALED_AD (KEY_HDR + crypto_pwhash_SALTBYTES + 16)
#define KEY_SEALED_LEN                                                                             \
	(KEY_SEALED_AD + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + 64 +                       \
	 crypto_aead_xchacha20poly1305_ietf_ABYTES)
/* Bounds on a file's cost parameters: a crafted file must not make
 * pilotctl spend minutes or gigabytes before the passphrase is checked. */
#define KEY_OPS_MAX 16
#define KEY_MEM_MAX ((uint64_t)1 << 30)

static int derive(uint8_t k[32], const char *pass, const uint8_t *salt, uint64_t ops, uint64_t mem)
{
	if (crypto_pwhash(k, 32, pass, strlen(pass), salt, ops, (size_t)mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;
	return 0;
}

int cert_key_seal(const uint8_t sk[64], const char *pass, char *out, size_t cap)
{
	uint8_t bin[KEY_SEALED_LEN], k[32];
	uint64_t ops = crypto_pwhash_OPSLIMIT_MODERATE, mem = crypto_pwhash_MEMLIMIT_MODERATE;
	size_t len;
	int rc;

	memcpy(bin, KEY_MAGIC, 4);
	bin[4] = 1;
	bin[5] = pass ? 1 : 0;
	if (!pass) {
		memcpy(bin + KEY_HDR, sk, 64);
		len = KEY_HDR + 64;
	} else {
		uint8_t *salt = bin + KEY_HDR, *nonce = bin + KEY_SEALED_AD;
		randombytes_buf(salt, crypto_pwhash_SALTBYTES);
		put_be64(salt + crypto_pwhash_SALTBYTES, ops);
		put_be64(salt + crypto_pwhash_SALTBYTES + 8, mem);
		randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
		if ((rc = derive(k, pass, salt, ops, mem)) < 0)
			return rc;
		crypto_aead_xchacha20poly1305_ietf_encrypt(
		    nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, sk, 64, bin,
		    KEY_SEALED_AD, NULL, nonce, k);
		sodium_memzero(k, sizeof(k));
		len = KEY_SEALED_LEN;
	}
	rc = armor(PEM_KEY, bin, len, out, cap);
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

int cert_key_open(const char *text, size_t len, const char *pass, uint8_t sk[64])
{
	uint8_t bin[KEY_SEALED_LEN + 16], k[32];
	uint64_t ops, mem;
	int n = dearmor(PEM_KEY, text, len, bin, sizeof(bin)), rc = -EBADMSG;

	/* Every way out goes through out: the decoded bytes are wiped. */
	if (n < KEY_HDR || memcmp(bin, KEY_MAGIC, 4) != 0 || bin[4] != 1)
		goto out;
	if (bin[5] == 0) {
		if (n == KEY_HDR + 64) {
			memcpy(sk, bin + KEY_HDR, 64);
			rc = 0;
		}
		goto out;
	}
	if (bin[5] != 1 || n != KEY_SEALED_LEN)
		goto out;
	if (!pass) {
		rc = -ENOKEY;
		goto out;
	}
	ops = get_be64(bin + KEY_HDR + crypto_pwhash_SALTBYTES);
	mem = get_be64(bin + KEY_HDR + crypto_pwhash_SALTBYTES + 8);
	if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > KEY_OPS_MAX ||
	    mem < crypto_pwhash_MEMLIMIT_MIN || mem > KEY_MEM_MAX)
		goto out;
	if ((rc = derive(k, pass, bin + KEY_HDR, ops, mem)) < 0)
		goto out;
	rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
		 sk, NULL, NULL, bin + KEY_SEALED_AD + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
		 64 + crypto_aead_xchacha20poly1305_ietf_ABYTES, bin, KEY_SEALED_AD,
		 bin + KEY_SEALED_AD, k) == 0
		 ? 0
		 : -EACCES;
	sodium_memzero(k, sizeof(k));
out:
	sodium_memzero(bin, sizeof(bin));
	return rc;
}
