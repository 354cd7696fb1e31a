/* tnl.c - see tnl.h and doc/PROTOCOL.md ("Tunnel").
 *
 * Everything here is pure computation over caller buffers: no I/O, no
 * clocks, no allocation on the data path.  Secrets (static X25519 key,
 * ephemeral keys, chaining keys, session keys) live in sodium_malloc'd
 * structures; the few that pass through the stack are wiped before return.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <string.h>

#include "bytes.h"
#include "tnl.h"

/* Exactly 32 bytes, so per the Noise spec h starts as the name itself (no
 * hashing: that only happens for names longer than HASHLEN). */
static const char noise_name[] = "Noise_IK_25519_ChaChaPoly_SHA256";
static const char noise_prologue[] = "pilot tunnel v1";
static const char label_mac1[] = "mac1----";
static const char label_probe[] = "probe---";
static const char label_cookie[] = "cookie--";

_Static_assert(sizeof(noise_name) - 1 == crypto_hash_sha256_BYTES, "protocol name is HASHLEN");

#define HASHLEN 32
#define MACLEN 16
#define AEAD_TAG 16

/* Message 1 (initiation). */
#define INIT_OFF_SENDER 4
#define INIT_OFF_EPH 8
#define INIT_OFF_STATIC 40
#define INIT_STATIC_LEN (32 + AEAD_TAG)
#define INIT_OFF_TS 88
#define INIT_TS_LEN (TNL_TIMESTAMP_LEN + AEAD_TAG)
#define INIT_OFF_MAC1 116
#define INIT_OFF_MAC2 132
_Static_assert(INIT_OFF_STATIC == INIT_OFF_EPH + 32, "init layout");
_Static_assert(INIT_OFF_TS == INIT_OFF_STATIC + INIT_STATIC_LEN, "init layout");
_Static_assert(INIT_OFF_MAC1 == INIT_OFF_TS + INIT_TS_LEN, "init layout");
_Static_assert(TNL_INIT_LEN == INIT_OFF_MAC2 + MACLEN, "init layout");

/* Message 2 (response). */
#define RESP_OFF_SENDER 4
#define RESP_OFF_RECEIVER 8
#define RESP_OFF_EPH 12
#define RESP_OFF_EMPTY 44
#define RESP_OFF_MAC1 60
#define RESP_OFF_MAC2 76
_Static_assert(RESP_OFF_EMPTY == RESP_OFF_EPH + 32, "resp layout");
_Static_assert(RESP_OFF_MAC1 == RESP_OFF_EMPTY + AEAD_TAG, "resp layout");
_Static_assert(TNL_RESP_LEN == RESP_OFF_MAC2 + MACLEN, "resp layout");

/* Cookie reply. */
#define COOKIE_OFF_RECEIVER 4
#define COOKIE_OFF_NONCE 8
#define COOKIE_OFF_BOX 32
_Static_assert(TNL_COOKIE_LEN ==
		   COOKIE_OFF_BOX + MACLEN + crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "cookie layout");
_Static_assert(COOKIE_OFF_BOX - COOKIE_OFF_NONCE == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "cookie layout");

/* Data record. */
#define DATA_OFF_RECEIVER 4
#define DATA_OFF_COUNTER 8

/* Cookie lifetimes (WireGuard's COOKIE_SECRET_MAX_AGE). */
#define COOKIE_SECRET_MAX_AGE_MS 120000u

/* TAI64N: label 2^62 + 10 (TAI-UTC at 1970, as WireGuard), and the
 * nanoseconds rounded down to 2^24 ns (~16.8 ms, the largest power of two
 * below 1 s / 50 initiations) so the timestamp does not leak fine timing. */
#define TAI64_BASE 0x400000000000000aull
#define TAI64N_NSEC_MASK (~((uint32_t)(1u << 24) - 1))

/* Replay window (RFC 6479): the top 64-bit word is "redundant" so that the
 * slide clears whole words; 2048 - 64 counters behind the top are usable. */
#define REPLAY_WORDS (TNL_REPLAY_WINDOW / 64)
#define REPLAY_WINDOW_USABLE (TNL_REPLAY_WINDOW - 64)
_Static_assert((REPLAY_WORDS & (REPLAY_WORDS - 1)) == 0, "replay words a power of two");

/* Noise's 96-bit nonce for ChaChaPoly: 32 zero bits then LE64(n).  The data
 * records use the same shape for both of their AEADs. */
static void make_nonce(uint8_t nonce[12], uint64_t n)
{
	memset(nonce, 0, 4);
	put_le64(nonce + 4, n);
}

/* ------------------------------------------------------------ primitives */

/* HASH(a || b) into out; out may alias a (the usual h = HASH(h || x)). */
static void hash2(uint8_t out[HASHLEN], const uint8_t *a, size_t alen, const uint8_t *b,
		  size_t blen)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, a, alen);
	crypto_hash_sha256_update(&st, b, blen);
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* Noise MixHash. */
static void mix_hash(uint8_t h[HASHLEN], const uint8_t *data, size_t len)
{
	hash2(h, h, HASHLEN, data, len);
}

static void hmac2(uint8_t out[HASHLEN], const uint8_t *key, size_t keylen, const uint8_t *a,
		  size_t alen, const uint8_t *b, size_t blen)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, a, alen);
	crypto_auth_hmacsha256_update(&st, b, blen);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* Noise HKDF(ck, ikm, 2): temp = HMAC(ck, ikm); o1 = HMAC(temp, 0x01);
 * o2 = HMAC(temp, o1 || 0x02).  o1 may alias ck (it becomes the new ck). */
static void hkdf2(uint8_t o1[HASHLEN], uint8_t o2[HASHLEN], const uint8_t ck[HASHLEN],
		  const uint8_t *ikm, size_t ikmlen)
{
	static const uint8_t one = 0x01, two = 0x02;
	uint8_t temp[HASHLEN], t1[HASHLEN];

	hmac2(temp, ck, HASHLEN, ikm, ikmlen, &one, 0);
	hmac2(t1, temp, HASHLEN, &one, 1, &one, 0);
	hmac2(o2, temp, HASHLEN, t1, HASHLEN, &two, 1);
	memcpy(o1, t1, HASHLEN);
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(t1, sizeof(t1));
}

/* Noise MixKey(DH(sk, pk)): ck, k = HKDF(ck, dh).  crypto_scalarmult refuses
 * an all-zero result (a small-order point from the peer), so does this. */
static int mix_dh(uint8_t ck[HASHLEN], uint8_t k[32], const uint8_t sk[32], const uint8_t pk[32])
{
	uint8_t dh[crypto_scalarmult_BYTES];
	int ret = 0;

	if (crypto_scalarmult(dh, sk, pk) != 0) {
		ret = -EBADMSG;
		goto out;
	}
	hkdf2(ck, k, ck, dh, sizeof(dh));
out:
	sodium_memzero(dh, sizeof(dh));
	return ret;
}

/* Noise EncryptAndHash with n = 0 (every handshake key here encrypts one
 * message only): out = AEAD(k, 0, plain, h) || tag; h = HASH(h || out). */
static void encrypt_and_hash(uint8_t *out, const uint8_t *plain, size_t plen, const uint8_t k[32],
			     uint8_t h[HASHLEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	make_nonce(nonce, 0);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plain, plen, h, HASHLEN, NULL, nonce,
						  k);
	mix_hash(h, out, plen + AEAD_TAG);
}

static int decrypt_and_hash(uint8_t *plain, const uint8_t *in, size_t plen, const uint8_t k[32],
			    uint8_t h[HASHLEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

	make_nonce(nonce, 0);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, NULL, NULL, in, plen + AEAD_TAG, h,
						      HASHLEN, nonce, k) != 0)
		return -EBADMSG;
	mix_hash(h, in, plen + AEAD_TAG);
	return 0;
}

/* Keyed BLAKE2b-128, the MAC of mac1, mac2 and cookies. */
static void mac16(uint8_t out[MACLEN], const uint8_t *key, size_t keylen, const uint8_t *msg,
		  size_t len)
{
	crypto_generichash(out, MACLEN, msg, len, key, keylen);
}

/* Handshake state before any message: h = name, ck = name,
 * h = HASH(h || prologue), h = HASH(h || responder Ed25519 pk)
 * (IK's pre-message "<- s"; the Ed25519 form binds the exact identity). */
static void hs_start(uint8_t h[HASHLEN], uint8_t ck[HASHLEN], const uint8_t resp_ed_pk[32])
{
	memcpy(h, noise_name, HASHLEN);
	memcpy(ck, noise_name, HASHLEN);
	mix_hash(h, (const uint8_t *)noise_prologue, sizeof(noise_prologue) - 1);
	mix_hash(h, resp_ed_pk, 32);
}

/* ----------------------------------------------------------------- setup */

int tnl_global_init(void)
{
	/* sodium_init also probes the CPU, which crypto_aead_aes256gcm_is_available reads. */
	return sodium_init() < 0 ? -1 : 0;
}

uint8_t tnl_local_caps(void)
{
	return TNL_CAP_CHACHA | (crypto_aead_aes256gcm_is_available() ? TNL_CAP_AES256GCM : 0);
}

static void derive_label_key(uint8_t out[32], const char *label, const uint8_t ed_pk[32])
{
	hash2(out, (const uint8_t *)label, 8, ed_pk, 32);
}

int tnl_identity_init(struct tnl_identity *id, const uint8_t ed_sk[64])
{
	uint8_t check[32];
	int ret = 0;

	memset(id, 0, sizeof(*id));
	id->x_sk = sodium_malloc(crypto_scalarmult_SCALARBYTES);
	if (!id->x_sk) {
		ret = -ENOMEM;
		goto out;
	}
	crypto_sign_ed25519_sk_to_pk(id->ed_pk, ed_sk);
	if (crypto_sign_ed25519_sk_to_curve25519(id->x_sk, ed_sk) != 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(id->x_pk, id->ed_pk) != 0) {
		ret = -EINVAL;
		goto out;
	}
	/* A libsodium secret key carries its public half; one that does not
	 * belong to the seed would make us announce a key we cannot use. */
	if (crypto_scalarmult_base(check, id->x_sk) != 0 ||
	    sodium_memcmp(check, id->x_pk, sizeof(check)) != 0) {
		ret = -EINVAL;
		goto out;
	}
	derive_label_key(id->mac1_key, label_mac1, id->ed_pk);
	derive_label_key(id->cookie_key, label_cookie, id->ed_pk);
out:
	if (ret < 0)
		tnl_identity_wipe(id);
	return ret;
}

void tnl_identity_wipe(struct tnl_identity *id)
{
	if (!id)
		return;
	sodium_free(id->x_sk); /* wipes */
	sodium_memzero(id, sizeof(*id));
}

int tnl_peer_static_init(struct tnl_peer_static *ps, const struct tnl_identity *self,
			 const uint8_t ed_pk[32])
{
	int ret = 0;

	memset(ps, 0, sizeof(*ps));
	memcpy(ps->ed_pk, ed_pk, 32);
	/* Refuses small-order points and points outside the main subgroup. */
	if (crypto_sign_ed25519_pk_to_curve25519(ps->x_pk, ed_pk) != 0) {
		ret = -EINVAL;
		goto out;
	}
	if (crypto_scalarmult(ps->precomputed_ss, self->x_sk, ps->x_pk) != 0) {
		ret = -EINVAL;
		goto out;
	}
	derive_label_key(ps->mac1_key, label_mac1, ed_pk);
	derive_label_key(ps->cookie_key, label_cookie, ed_pk);
	/* The same on both sides (the DH is symmetric), and no one else's. */
	derive_label_key(ps->probe_key, label_probe, ps->precomputed_ss);
out:
	if (ret < 0)
		sodium_memzero(ps, sizeof(*ps));
	return ret;
}

struct tnl_handshake *tnl_hs_new(void)
{
	struct tnl_handshake *hs = sodium_malloc(sizeof(*hs));

	if (hs)
		sodium_memzero(hs, sizeof(*hs)); /* sodium_malloc fills with 0xdb */
	return hs;
}

void tnl_hs_free(struct tnl_handshake *hs)
{
	sodium_free(hs); /* wipes; NULL is a no-op */
}

struct tnl_keypair *tnl_keypair_new(void)
{
	struct tnl_keypair *kp = sodium_malloc(sizeof(*kp));

	if (kp)
		sodium_memzero(kp, sizeof(*kp));
	return kp;
}

static void keypair_ctx_free(struct tnl_keypair *kp)
{
	/* EVP_CIPHER_CTX_free cleanses the key schedule. */
	EVP_CIPHER_CTX_free(kp->send_ctx);
	EVP_CIPHER_CTX_free(kp->recv_ctx);
	kp->send_ctx = kp->recv_ctx = NULL;
}

void tnl_keypair_free(struct tnl_keypair *kp)
{
	if (!kp)
		return;
	keypair_ctx_free(kp);
	sodium_free(kp);
}

static const EVP_CIPHER *aead_cipher(uint8_t cipher)
{
	if (cipher == TNL_CIPHER_AES256GCM)
		return EVP_aes_256_gcm();
	if (cipher == TNL_CIPHER_CHACHA20POLY1305)
		return EVP_chacha20_poly1305();
	return NULL;
}

/* A context with \p key's schedule; each record then sets only its nonce. */
static EVP_CIPHER_CTX *aead_ctx_new(const EVP_CIPHER *c, const uint8_t key[32], int enc)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

	if (x && EVP_CipherInit_ex(x, c, NULL, key, NULL, enc) == 1)
		return x;
	EVP_CIPHER_CTX_free(x);
	return NULL;
}

int tnl_keypair_set_keys(struct tnl_keypair *kp, uint8_t cipher, const uint8_t send_key[32],
			 const uint8_t recv_key[32])
{
	const EVP_CIPHER *c = aead_cipher(cipher);

	if (!c)
		return -EINVAL;
	keypair_ctx_free(kp);
	memcpy(kp->send_key, send_key, 32);
	memcpy(kp->recv_key, recv_key, 32);
	kp->cipher = cipher;
	kp->send_ctx = aead_ctx_new(c, send_key, 1);
	kp->recv_ctx = aead_ctx_new(c, recv_key, 0);
	if (!kp->send_ctx || !kp->recv_ctx) {
		keypair_ctx_free(kp);
		kp->cipher = 0;
		return -ENOMEM;
	}
	return 0;
}

/* ---------------------------------------------------------- mac1 / cookies */

/* Length and type of a handshake message; the offset of its mac1 or 0. */
static size_t hs_mac1_off(const uint8_t *msg, size_t len)
{
	if (len == TNL_INIT_LEN && msg[0] == TNL_MSG_INIT)
		return INIT_OFF_MAC1;
	if (len == TNL_RESP_LEN && msg[0] == TNL_MSG_RESP)
		return RESP_OFF_MAC1;
	return 0;
}

static int cookie_fresh(const struct tnl_cookie_state *cs, uint64_t now_ms)
{
	return cs && cs->received_ms != 0 && now_ms >= cs->received_ms &&
	       now_ms - cs->received_ms < COOKIE_SECRET_MAX_AGE_MS;
}

/* Fill mac1 and mac2 of an outgoing handshake message of length len, and
 * remember mac1: a cookie reply to this message is bound to it. */
static void stamp_macs(uint8_t *msg, size_t len, const uint8_t mac1_key[32],
		       struct tnl_cookie_state *cs, uint64_t now_ms)
{
	size_t off1 = len - 2 * MACLEN, off2 = len - MACLEN;

	mac16(msg + off1, mac1_key, 32, msg, off1);
	if (cookie_fresh(cs, now_ms))
		mac16(msg + off2, cs->cookie, sizeof(cs->cookie), msg, off2);
	else
		memset(msg + off2, 0, MACLEN);
	if (cs) {
		memcpy(cs->last_mac1, msg + off1, MACLEN);
		cs->have_last_mac1 = 1;
	}
}

int tnl_check_mac1(const struct tnl_identity *self, const uint8_t *msg, size_t len)
{
	uint8_t mac[MACLEN];
	size_t off;

	if (!msg || !(off = hs_mac1_off(msg, len)))
		return -EBADMSG;
	mac16(mac, self->mac1_key, sizeof(self->mac1_key), msg, off);
	return sodium_memcmp(mac, msg + off, MACLEN) == 0 ? 0 : -EBADMSG;
}

/* The bytes of a source that a cookie binds: address and port (WireGuard's
 * "A"), not the whole sockaddr, whose padding and scope id are not ours to
 * trust.  \retval length written to out (at most 18), or -EAFNOSUPPORT. */
static int src_bytes(uint8_t out[18], const struct sockaddr *src, socklen_t srclen)
{
	if (!src || srclen < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	if (src->sa_family == AF_INET && srclen >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, src, sizeof(sin));
		memcpy(out, &sin.sin_addr, 4);
		memcpy(out + 4, &sin.sin_port, 2);
		return 6;
	}
	if (src->sa_family == AF_INET6 && srclen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, src, sizeof(sin6));
		memcpy(out, &sin6.sin6_addr, 16);
		memcpy(out + 16, &sin6.sin6_port, 2);
		return 18;
	}
	return -EAFNOSUPPORT;
}

/* Rotate the responder's cookie secret when it is unset or 120 s old. */
static void cookie_secret_refresh(struct tnl_cookie_checker *cc, uint64_t now_ms)
{
	if (cc->secret_born_ms == 0 || now_ms < cc->secret_born_ms ||
	    now_ms - cc->secret_born_ms >= COOKIE_SECRET_MAX_AGE_MS) {
		randombytes_buf(cc->secret, sizeof(cc->secret));
		/* 0 means "unset"; a clock that reads 0 would regenerate each time. */
		cc->secret_born_ms = now_ms ? now_ms : 1;
	}
}

/* cookie = MAC(secret, address || port). */
static int make_cookie(uint8_t cookie[MACLEN], struct tnl_cookie_checker *cc,
		       const struct sockaddr *src, socklen_t srclen, uint64_t now_ms)
{
	uint8_t a[18];
	int n = src_bytes(a, src, srclen);

	if (n < 0)
		return n;
	cookie_secret_refresh(cc, now_ms);
	mac16(cookie, cc->secret, sizeof(cc->secret), a, (size_t)n);
	return 0;
}

int tnl_check_mac2(struct tnl_cookie_checker *cc, const uint8_t *msg, size_t len,
		   const struct sockaddr *src, socklen_t srclen, uint64_t now_ms)
{
	uint8_t cookie[MACLEN], mac[MACLEN];
	int ret = -EBADMSG;

	if (!msg || !hs_mac1_off(msg, len))
		goto out;
	if (make_cookie(cookie, cc, src, srclen, now_ms) < 0)
		goto out;
	mac16(mac, cookie, sizeof(cookie), msg, len - MACLEN);
	if (sodium_memcmp(mac, msg + len - MACLEN, MACLEN) == 0)
		ret = 0;
out:
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}

int tnl_cookie_reply_create(struct tnl_cookie_checker *cc, const struct tnl_identity *self,
			    const uint8_t *msg, size_t len, const struct sockaddr *src,
			    socklen_t srclen, uint64_t now_ms, uint8_t *out)
{
	uint8_t cookie[MACLEN];
	size_t off;
	int ret;

	if (!msg || !(off = hs_mac1_off(msg, len))) {
		ret = -EBADMSG;
		goto out;
	}
	if ((ret = make_cookie(cookie, cc, src, srclen, now_ms)) < 0)
		goto out;
	out[0] = TNL_MSG_COOKIE;
	memset(out + 1, 0, 3);
	/* Init and resp both carry their sender index at offset 4. */
	memcpy(out + COOKIE_OFF_RECEIVER, msg + INIT_OFF_SENDER, 4);
	randombytes_buf(out + COOKIE_OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	/* AD = the mac1 being answered: only its sender can use the reply, and
	 * only once (it forgets that mac1 on success). */
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + COOKIE_OFF_BOX, NULL, cookie, MACLEN,
						   msg + off, MACLEN, NULL, out + COOKIE_OFF_NONCE,
						   self->cookie_key);
out:
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}

int tnl_cookie_reply_consume(struct tnl_cookie_state *cs, const struct tnl_peer_static *peer,
			     const uint8_t *msg, size_t len, uint64_t now_ms)
{
	uint8_t cookie[MACLEN];
	int ret = -EBADMSG;

	if (!msg || len != TNL_COOKIE_LEN || msg[0] != TNL_MSG_COOKIE || msg[1] || msg[2] || msg[3])
		goto out;
	if (!cs->have_last_mac1)
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		cookie, NULL, NULL, msg + COOKIE_OFF_BOX, TNL_COOKIE_LEN - COOKIE_OFF_BOX,
		cs->last_mac1, MACLEN, msg + COOKIE_OFF_NONCE, peer->cookie_key) != 0)
		goto out;
	memcpy(cs->cookie, cookie, MACLEN);
	cs->received_ms = now_ms ? now_ms : 1; /* 0 means "none" */
	cs->have_last_mac1 = 0;
	ret = 0;
out:
	sodium_memzero(cookie, sizeof(cookie));
	return ret;
}

int tnl_msg_receiver_index(const uint8_t *msg, size_t len, uint32_t *out)
{
	if (!msg || len < 4)
		return -EBADMSG;
	switch (msg[0]) {
	case TNL_MSG_RESP:
		/* byte 1 is the chosen cipher */
		if (len != TNL_RESP_LEN || msg[2] || msg[3])
			return -EBADMSG;
		*out = get_le32(msg + RESP_OFF_RECEIVER);
		return 0;
	case TNL_MSG_COOKIE:
		if (len != TNL_COOKIE_LEN || msg[1] || msg[2] || msg[3])
			return -EBADMSG;
		*out = get_le32(msg + COOKIE_OFF_RECEIVER);
		return 0;
	case TNL_MSG_DATA:
		if (len < TNL_DATA_OVERHEAD || msg[1] || msg[2] || msg[3])
			return -EBADMSG;
		*out = get_le32(msg + DATA_OFF_RECEIVER);
		return 0;
	default:
		return -EBADMSG;
	}
}

/* ------------------------------------------------------------- handshake */

static void tai64n_now(uint8_t ts[TNL_TIMESTAMP_LEN], uint64_t now_real_ns)
{
	put_be64(ts, TAI64_BASE + now_real_ns / 1000000000u);
	put_be32(ts + 8, (uint32_t)(now_real_ns % 1000000000u) & TAI64N_NSEC_MASK);
}

int tnl_timestamp_cmp(const uint8_t a[TNL_TIMESTAMP_LEN], const uint8_t b[TNL_TIMESTAMP_LEN])
{
	/* Big-endian seconds then nanoseconds: byte order is time order. */
	int c = memcmp(a, b, TNL_TIMESTAMP_LEN);

	return (c > 0) - (c < 0);
}

int tnl_hs_create_init(struct tnl_handshake *hs, const struct tnl_identity *self,
		       const struct tnl_peer_static *peer, uint32_t local_index,
		       uint64_t now_real_ns, struct tnl_cookie_state *cs, uint64_t now_ms,
		       uint8_t *out)
{
	uint8_t k[32], ts[TNL_TIMESTAMP_LEN];
	uint8_t caps = tnl_local_caps();
	int ret = 0;

	/* A caller may narrow the offer by presetting hs->caps (e.g. a
	 * configured cipher, or tests forcing ChaCha20-Poly1305). */
	if (hs->caps)
		caps &= hs->caps;
	if (!caps) {
		ret = -EINVAL;
		goto out;
	}

	randombytes_buf(hs->e_sk, sizeof(hs->e_sk));
	if (crypto_scalarmult_base(hs->e_pk, hs->e_sk) != 0) {
		ret = -EIO;
		goto out;
	}
	hs_start(hs->h, hs->ck, peer->ed_pk);

	/* Header: the caps ride in the first reserved byte and are bound by
	 * mixing the whole 4-byte header into h before the first encryption. */
	out[0] = TNL_MSG_INIT;
	out[1] = caps;
	out[2] = out[3] = 0;
	put_le32(out + INIT_OFF_SENDER, local_index);
	mix_hash(hs->h, out, 4);

	/* -> e */
	memcpy(out + INIT_OFF_EPH, hs->e_pk, 32);
	mix_hash(hs->h, hs->e_pk, 32);
	/* -> es */
	if ((ret = mix_dh(hs->ck, k, hs->e_sk, peer->x_pk)) < 0)
		goto out;
	/* -> s (the Ed25519 identity key; DH uses its X25519 form) */
	encrypt_and_hash(out + INIT_OFF_STATIC, self->ed_pk, 32, k, hs->h);
	/* -> ss, precomputed by tnl_peer_static_init */
	hkdf2(hs->ck, k, hs->ck, peer->precomputed_ss, sizeof(peer->precomputed_ss));
	/* payload: TAI64N */
	tai64n_now(ts, now_real_ns);
	encrypt_and_hash(out + INIT_OFF_TS, ts, sizeof(ts), k, hs->h);

	stamp_macs(out, TNL_INIT_LEN, peer->mac1_key, cs, now_ms);

	hs->state = TNL_HS_INIT_SENT;
	hs->local_index = local_index;
	hs->remote_index = 0;
	memset(hs->re_pk, 0, sizeof(hs->re_pk));
	hs->caps = caps;
	hs->cipher = 0;
out:
	sodium_memzero(k, sizeof(k));
	if (ret < 0)
		sodium_memzero(hs, sizeof(*hs));
	return ret;
}

int tnl_hs_consume_init(struct tnl_handshake *hs, const struct tnl_identity *self,
			const uint8_t *msg, size_t len, uint8_t peer_ed_pk[32],
			uint8_t timestamp[TNL_TIMESTAMP_LEN])
{
	return tnl_hs_consume_init_from(hs, self, msg, len, NULL, peer_ed_pk, timestamp);
}

int tnl_hs_consume_init_from(struct tnl_handshake *hs, const struct tnl_identity *self,
			     const uint8_t *msg, size_t len, const uint8_t *only_pk,
			     uint8_t peer_ed_pk[32], uint8_t timestamp[TNL_TIMESTAMP_LEN])
{
	/* Work on copies: a forged init must not disturb hs. */
	uint8_t h[HASHLEN], ck[HASHLEN], k[32], ed_pk[32], x_pk[32], ts[TNL_TIMESTAMP_LEN];
	int ret = -EBADMSG;

	if (!msg || len != TNL_INIT_LEN || msg[0] != TNL_MSG_INIT || msg[2] || msg[3])
		goto out;

	hs_start(h, ck, self->ed_pk);
	mix_hash(h, msg, 4);
	/* -> e */
	mix_hash(h, msg + INIT_OFF_EPH, 32);
	/* -> es */
	if (mix_dh(ck, k, self->x_sk, msg + INIT_OFF_EPH) < 0)
		goto out;
	/* -> s */
	if (decrypt_and_hash(ed_pk, msg + INIT_OFF_STATIC, 32, k, h) < 0)
		goto out;
	/* Not the sender the caller expects: stop before the second DH. */
	if (only_pk && sodium_memcmp(ed_pk, only_pk, 32) != 0)
		goto out;
	if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0)
		goto out;
	/* -> ss */
	if (mix_dh(ck, k, self->x_sk, x_pk) < 0)
		goto out;
	/* payload */
	if (decrypt_and_hash(ts, msg + INIT_OFF_TS, sizeof(ts), k, h) < 0)
		goto out;

	sodium_memzero(hs, sizeof(*hs));
	hs->state = TNL_HS_INIT_CONSUMED;
	hs->remote_index = get_le32(msg + INIT_OFF_SENDER);
	memcpy(hs->re_pk, msg + INIT_OFF_EPH, 32);
	memcpy(hs->h, h, HASHLEN);
	memcpy(hs->ck, ck, HASHLEN);
	hs->caps = msg[1];
	memcpy(peer_ed_pk, ed_pk, 32);
	memcpy(timestamp, ts, sizeof(ts));
	ret = 0;
out:
	sodium_memzero(h, sizeof(h));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(k, sizeof(k));
	return ret;
}

/* Responder's pick: AES-256-GCM when both have it (it is the faster one
 * with AES-NI), else ChaCha20-Poly1305; 0 when nothing is common. */
static uint8_t choose_cipher(uint8_t theirs)
{
	uint8_t common = theirs & tnl_local_caps();

	if (common & TNL_CAP_AES256GCM)
		return TNL_CIPHER_AES256GCM;
	if (common & TNL_CAP_CHACHA)
		return TNL_CIPHER_CHACHA20POLY1305;
	return 0;
}

static uint8_t cipher_cap(uint8_t cipher)
{
	switch (cipher) {
	case TNL_CIPHER_AES256GCM:
		return TNL_CAP_AES256GCM;
	case TNL_CIPHER_CHACHA20POLY1305:
		return TNL_CAP_CHACHA;
	default:
		return 0;
	}
}

int tnl_hs_create_resp(struct tnl_handshake *hs, const struct tnl_identity *self,
		       const struct tnl_peer_static *peer, uint32_t local_index,
		       struct tnl_cookie_state *cs, uint64_t now_ms, uint8_t *out)
{
	uint8_t k[32], empty[1] = {0};
	int ret = 0;

	(void)self; /* the responder's static entered through ss/se on the other side */
	if (hs->state != TNL_HS_INIT_CONSUMED) {
		ret = -EINVAL;
		goto out;
	}
	if (!(hs->cipher = choose_cipher(hs->caps))) {
		ret = -ENOTSUP;
		goto out;
	}
	randombytes_buf(hs->e_sk, sizeof(hs->e_sk));
	if (crypto_scalarmult_base(hs->e_pk, hs->e_sk) != 0) {
		ret = -EIO;
		goto out;
	}

	out[0] = TNL_MSG_RESP;
	out[1] = hs->cipher; /* bound like the init's caps: via h */
	out[2] = out[3] = 0;
	put_le32(out + RESP_OFF_SENDER, local_index);
	put_le32(out + RESP_OFF_RECEIVER, hs->remote_index);
	mix_hash(hs->h, out, 4);

	/* <- e */
	memcpy(out + RESP_OFF_EPH, hs->e_pk, 32);
	mix_hash(hs->h, hs->e_pk, 32);
	/* <- ee */
	if ((ret = mix_dh(hs->ck, k, hs->e_sk, hs->re_pk)) < 0)
		goto out;
	/* <- se */
	if ((ret = mix_dh(hs->ck, k, hs->e_sk, peer->x_pk)) < 0)
		goto out;
	/* empty payload: its tag is what proves we hold the keys */
	encrypt_and_hash(out + RESP_OFF_EMPTY, empty, 0, k, hs->h);

	stamp_macs(out, TNL_RESP_LEN, peer->mac1_key, cs, now_ms);

	hs->state = TNL_HS_RESP_SENT;
	hs->local_index = local_index;
out:
	sodium_memzero(k, sizeof(k));
	if (ret < 0)
		sodium_memzero(hs, sizeof(*hs));
	return ret;
}

int tnl_hs_consume_resp(struct tnl_handshake *hs, const struct tnl_identity *self,
			const struct tnl_peer_static *peer, const uint8_t *msg, size_t len)
{
	/* Copies again: a bad resp leaves hs waiting for the real one. */
	uint8_t h[HASHLEN], ck[HASHLEN], k[32], empty[1];
	int ret = -EBADMSG;

	(void)peer; /* its static entered through es/ss when the init was made */
	if (hs->state != TNL_HS_INIT_SENT)
		goto out;
	if (!msg || len != TNL_RESP_LEN || msg[0] != TNL_MSG_RESP || msg[2] || msg[3])
		goto out;
	if (tnl_check_mac1(self, msg, len) < 0)
		goto out;
	if (get_le32(msg + RESP_OFF_RECEIVER) != hs->local_index)
		goto out;
	/* Only a cipher we offered (cipher_cap(unknown) is 0). */
	if (!(cipher_cap(msg[1]) & hs->caps))
		goto out;

	memcpy(h, hs->h, HASHLEN);
	memcpy(ck, hs->ck, HASHLEN);
	mix_hash(h, msg, 4);
	/* <- e */
	mix_hash(h, msg + RESP_OFF_EPH, 32);
	/* <- ee */
	if (mix_dh(ck, k, hs->e_sk, msg + RESP_OFF_EPH) < 0)
		goto out;
	/* <- se */
	if (mix_dh(ck, k, self->x_sk, msg + RESP_OFF_EPH) < 0)
		goto out;
	if (decrypt_and_hash(empty, msg + RESP_OFF_EMPTY, 0, k, h) < 0)
		goto out;

	memcpy(hs->h, h, HASHLEN);
	memcpy(hs->ck, ck, HASHLEN);
	memcpy(hs->re_pk, msg + RESP_OFF_EPH, 32);
	hs->remote_index = get_le32(msg + RESP_OFF_SENDER);
	hs->cipher = msg[1];
	/* RESP_SENT doubles as "both messages done": tnl_hs_derive's gate. */
	hs->state = TNL_HS_RESP_SENT;
	ret = 0;
out:
	sodium_memzero(h, sizeof(h));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(k, sizeof(k));
	return ret;
}

int tnl_hs_derive(struct tnl_handshake *hs, struct tnl_keypair *kp, int is_initiator,
		  uint64_t now_ms)
{
	uint8_t t1[32], t2[32];
	int ret = 0;

	/* Misuse leaves a handshake in progress alone (nothing to wipe yet). */
	if (hs->state != TNL_HS_RESP_SENT)
		return -EINVAL;
	if (hs->cipher == TNL_CIPHER_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
		ret = -ENOTSUP;
		goto out;
	}
	if (hs->cipher != TNL_CIPHER_AES256GCM && hs->cipher != TNL_CIPHER_CHACHA20POLY1305) {
		ret = -EINVAL;
		goto out;
	}
	/* Noise Split(): HKDF(ck, empty); the initiator sends with the first key. */
	hkdf2(t1, t2, hs->ck, (const uint8_t *)"", 0);
	keypair_ctx_free(kp);
	sodium_memzero(kp, sizeof(*kp));
	/* Key schedule once per session, not per packet. */
	if ((ret = tnl_keypair_set_keys(kp, hs->cipher, is_initiator ? t1 : t2,
					is_initiator ? t2 : t1)) < 0)
		goto out;
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	kp->send_counter = 0;
	kp->created_ms = now_ms;
	kp->is_initiator = !!is_initiator;
out:
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	/* Forward secrecy: the ephemerals and ck must not outlive the keys. */
	sodium_memzero(hs, sizeof(*hs));
	return ret;
}

/* ------------------------------------------------------------ replay window */

int tnl_replay_would_accept(const struct tnl_keypair *kp, uint64_t ctr)
{
	uint64_t c, word;

	if (ctr >= TNL_REJECT_AFTER_MESSAGES)
		return 0;
	/* The window works on ctr + 1 so that top == 0 can mean "nothing yet". */
	c = ctr + 1;
	if (c > kp->replay.top)
		return 1;
	if (c + REPLAY_WINDOW_USABLE < kp->replay.top)
		return 0; /* too far behind */
	word = kp->replay.bits[(c >> 6) & (REPLAY_WORDS - 1)];
	return !((word >> (c & 63)) & 1);
}

/* Mark ctr seen; \retval 1 if it was new (and is now marked), 0 if it was a
 * replay or out of the window. */
static int replay_check_and_mark(struct tnl_keypair *kp, uint64_t ctr)
{
	uint64_t c, index, cur, n, bit;

	if (ctr >= TNL_REJECT_AFTER_MESSAGES)
		return 0;
	c = ctr + 1;
	if (c + REPLAY_WINDOW_USABLE < kp->replay.top)
		return 0;
	index = c >> 6;
	if (c > kp->replay.top) {
		/* Slide: clear the words between the old top and the new one
		 * (all of them, at most, when the jump is larger than the window). */
		cur = kp->replay.top >> 6;
		n = index - cur;
		if (n > REPLAY_WORDS)
			n = REPLAY_WORDS;
		for (uint64_t i = 1; i <= n; i++)
			kp->replay.bits[(cur + i) & (REPLAY_WORDS - 1)] = 0;
		kp->replay.top = c;
	}
	index &= REPLAY_WORDS - 1;
	bit = 1ull << (c & 63);
	if (kp->replay.bits[index] & bit)
		return 0;
	kp->replay.bits[index] |= bit;
	return 1;
}

void tnl_replay_mark(struct tnl_keypair *kp, uint64_t ctr)
{
	(void)replay_check_and_mark(kp, ctr);
}

/* ------------------------------------------------------------------ data */

/* Encrypt (\p enc) or decrypt \p len bytes at \p data in place, the
 * 16-byte tag after them, authenticating \p ad too.  Decrypting fails
 * unless the tag authenticates both (the data is then garbage, and the
 * caller drops it).  \retval 0 or -1. */
static int aead_crypt(EVP_CIPHER_CTX *x, int enc, const uint8_t nonce[12], const uint8_t *ad,
		      size_t adlen, uint8_t *data, size_t len)
{
	int n;

	if (EVP_CipherInit_ex(x, NULL, NULL, NULL, nonce, enc) != 1 ||
	    EVP_CipherUpdate(x, NULL, &n, ad, (int)adlen) != 1 ||
	    EVP_CipherUpdate(x, data, &n, data, (int)len) != 1)
		return -1;
	if (!enc && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG, data + len) != 1)
		return -1;
	if (EVP_CipherFinal_ex(x, data + n, &n) != 1)
		return -1;
	if (enc && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG, data + len) != 1)
		return -1;
	return 0;
}

int tnl_data_seal(struct tnl_keypair *kp, uint8_t *buf, size_t plen)
{
	uint8_t nonce[12];
	uint64_t ctr = kp->send_counter;

	if (ctr >= TNL_REJECT_AFTER_MESSAGES)
		return -ESTALE;
	if (plen > (size_t)INT_MAX - TNL_DATA_OVERHEAD)
		return -EMSGSIZE;

	buf[0] = TNL_MSG_DATA;
	buf[1] = buf[2] = buf[3] = 0;
	put_le32(buf + DATA_OFF_RECEIVER, kp->remote_index);
	put_le64(buf + DATA_OFF_COUNTER, ctr);
	make_nonce(nonce, ctr);

	if (!kp->send_ctx)
		return -EINVAL; /* not a derived keypair */
	if (aead_crypt(kp->send_ctx, 1, nonce, buf, TNL_DATA_HDR, buf + TNL_DATA_HDR, plen) < 0)
		return -EIO;
	kp->send_counter = ctr + 1;
	return (int)(plen + TNL_DATA_OVERHEAD);
}

int tnl_data_open(struct tnl_keypair *kp, uint8_t *buf, size_t len)
{
	uint8_t nonce[12];
	uint64_t ctr;
	size_t clen;
	int rc;

	if (!buf || len < TNL_DATA_OVERHEAD || len - TNL_DATA_OVERHEAD > (size_t)INT_MAX)
		return -EBADMSG;
	if (buf[0] != TNL_MSG_DATA || buf[1] || buf[2] || buf[3])
		return -EBADMSG;
	if (get_le32(buf + DATA_OFF_RECEIVER) != kp->local_index)
		return -EBADMSG;
	ctr = get_le64(buf + DATA_OFF_COUNTER);
	if (ctr >= TNL_REJECT_AFTER_MESSAGES)
		return -EBADMSG;
	/* Cheap replay test first: a replayed record costs no AEAD. */
	if (!tnl_replay_would_accept(kp, ctr))
		return -EALREADY;

	clen = len - TNL_DATA_OVERHEAD;
	make_nonce(nonce, ctr);
	rc = kp->recv_ctx
		 ? aead_crypt(kp->recv_ctx, 0, nonce, buf, TNL_DATA_HDR, buf + TNL_DATA_HDR, clen)
		 : -1;
	if (rc != 0)
		return -EBADMSG;
	/* Mark only authentic counters (a forger must not move the window);
	 * the re-test catches a duplicate that raced past the first one. */
	if (!replay_check_and_mark(kp, ctr))
		return -EALREADY;
	return (int)clen;
}
