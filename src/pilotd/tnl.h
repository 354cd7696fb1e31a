/* tnl.h - the tunnel's cryptography and wire records (no I/O, no clocks:
 * callers pass the time in).  See doc/PROTOCOL.md for the wire format.
 *
 * Handshake: Noise IK (Noise_IK_25519_ChaChaPoly_SHA256, prologue
 * "pilot tunnel v1"), in the shape WireGuard uses, with one change: the
 * initiator's encrypted static is its *Ed25519* identity public key; every
 * DH with a static uses that key's X25519 (Montgomery) form, so a responder
 * learns the initiator's node identity directly.  mac1 (keyed BLAKE2b-128
 * under HASH("mac1----" || responder Ed25519 pk)) lets a responder reject
 * junk before any DH; mac2 + cookie replies rate-limit floods from a source
 * that does not own its address.
 *
 * Data: AES-256-GCM (ChaCha20-Poly1305 where the CPU lacks AES-NI, chosen
 * in the handshake), 64-bit counters, a 2048-bit sliding replay window, one
 * key per direction.
 */
#ifndef PILOT_TNL_H
#define PILOT_TNL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <sodium.h>

enum tnl_msg_type {
	TNL_MSG_INIT = 1,
	TNL_MSG_RESP = 2,
	TNL_MSG_COOKIE = 3,
	TNL_MSG_DATA = 4,
	/* 0x10..0x1f reserved for beacon / relay frames (NAT issue). */
};

#define TNL_INIT_LEN 148
#define TNL_RESP_LEN 92
#define TNL_COOKIE_LEN 64
#define TNL_DATA_HDR 16 /* type(1) reserved(3) receiver(4) counter(8) */
#define TNL_TAG_LEN 16
#define TNL_DATA_OVERHEAD (TNL_DATA_HDR + TNL_TAG_LEN)
#define TNL_TIMESTAMP_LEN 12 /* TAI64N */

enum tnl_cipher { TNL_CIPHER_AES256GCM = 1, TNL_CIPHER_CHACHA20POLY1305 = 2 };
#define TNL_CAP_AES256GCM 0x01
#define TNL_CAP_CHACHA 0x02

/* Limits, as WireGuard's (times in ms). */
#define TNL_REKEY_AFTER_MESSAGES (1ull << 60)
#define TNL_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ull << 13))
#define TNL_REPLAY_WINDOW 2048

/** Our own identity, derived once from the Ed25519 secret key. */
struct tnl_identity {
	uint8_t ed_pk[32];
	uint8_t *x_sk; /* 32 bytes in sodium_malloc'd memory */
	uint8_t x_pk[32];
	uint8_t mac1_key[32];	/* HASH("mac1----" || ed_pk) */
	uint8_t cookie_key[32]; /* HASH("cookie--" || ed_pk) */
};

/** What we know of a remote identity (derived from its Ed25519 pk). */
struct tnl_peer_static {
	uint8_t ed_pk[32];
	uint8_t x_pk[32];
	uint8_t mac1_key[32];
	uint8_t cookie_key[32];
	uint8_t precomputed_ss[32]; /* DH(our static, their static) */
	uint8_t probe_key[32];	    /* punch probes' MAC (bcn.h): both peers' own */
};

/** Cookie we hold for a peer (initiator side) after a cookie reply. */
struct tnl_cookie_state {
	uint8_t cookie[16];
	uint64_t received_ms;  /* 0 = none; valid for 120 s */
	uint8_t last_mac1[16]; /* mac1 of our last handshake message, AD for a reply */
	int have_last_mac1;
};

/** Responder-side cookie secret (rotated every 120 s). */
struct tnl_cookie_checker {
	uint8_t secret[32];
	uint64_t secret_born_ms;
};

enum tnl_hs_state { TNL_HS_NONE = 0, TNL_HS_INIT_SENT, TNL_HS_INIT_CONSUMED, TNL_HS_RESP_SENT };

/** In-progress handshake; lives in sodium_malloc'd memory (see tnl_hs_new). */
struct tnl_handshake {
	enum tnl_hs_state state;
	uint32_t local_index;
	uint32_t remote_index;
	uint8_t e_sk[32], e_pk[32];
	uint8_t re_pk[32]; /* remote ephemeral */
	uint8_t h[32], ck[32];
	uint8_t caps;	/* initiator's cipher capabilities (responder side) */
	uint8_t cipher; /* chosen cipher */
};

struct evp_cipher_ctx_st;

/** One direction pair of session keys.  The records' AEAD runs through
 *  OpenSSL's EVP (AES-256-GCM with VAES/AVX-512, ChaCha20-Poly1305 with
 *  AVX-512: about 1.5x and 2x libsodium 1.0.18's here, doc/PROTOCOL.md
 *  "Offloads"): one context per direction, its key schedule made once per
 *  session, owned by the keypair and wiped by tnl_keypair_free. */
struct tnl_keypair {
	struct evp_cipher_ctx_st *send_ctx, *recv_ctx;
	uint8_t send_key[32], recv_key[32];
	uint32_t local_index, remote_index;
	uint64_t send_counter;
	uint64_t created_ms;
	uint8_t cipher;
	int is_initiator;
	struct {
		uint64_t top; /* highest counter accepted + 1; 0 = none yet */
		uint64_t bits[TNL_REPLAY_WINDOW / 64];
	} replay;
};

/** Call once per process (sodium_init; selects AES-GCM if the CPU has it).
 *  \retval 0 or -1. */
int tnl_global_init(void);
/** Our cipher capabilities (TNL_CAP_*). */
uint8_t tnl_local_caps(void);

int tnl_identity_init(struct tnl_identity *id, const uint8_t ed_sk[64]);
void tnl_identity_wipe(struct tnl_identity *id);
/** \retval 0, -EINVAL if \p ed_pk is not a valid point. */
int tnl_peer_static_init(struct tnl_peer_static *ps, const struct tnl_identity *self,
			 const uint8_t ed_pk[32]);

struct tnl_handshake *tnl_hs_new(void);
void tnl_hs_free(struct tnl_handshake *hs); /* wipes; NULL is fine */
struct tnl_keypair *tnl_keypair_new(void);
void tnl_keypair_free(struct tnl_keypair *kp); /* wipes; NULL is fine */
/** Set \p kp's keys and cipher (TNL_CIPHER_*) and make its AEAD contexts
 *  (tnl_hs_derive does this; tests and fuzzers call it for fixed keys).
 *  \retval 0, -EINVAL for an unknown cipher, -ENOMEM. */
int tnl_keypair_set_keys(struct tnl_keypair *kp, uint8_t cipher, const uint8_t send_key[32],
			 const uint8_t recv_key[32]);

/** Initiator: build message 1 into \p out (TNL_INIT_LEN).  \p now_real_ns is
 *  wall-clock time for the TAI64N timestamp.  \p cs may be NULL; when it
 *  holds a fresh cookie mac2 is set.  \retval 0 or -errno. */
int tnl_hs_create_init(struct tnl_handshake *hs, const struct tnl_identity *self,
		       const struct tnl_peer_static *peer, uint32_t local_index,
		       uint64_t now_real_ns, struct tnl_cookie_state *cs, uint64_t now_ms,
		       uint8_t *out);

/** Responder: cheap check of mac1 (no DH). \retval 0 or -EBADMSG. */
int tnl_check_mac1(const struct tnl_identity *self, const uint8_t *msg, size_t len);
/** Responder under load: check mac2 against the cookie for \p src.
 *  \retval 0 or -EBADMSG. */
int tnl_check_mac2(struct tnl_cookie_checker *cc, const uint8_t *msg, size_t len,
		   const struct sockaddr *src, socklen_t srclen, uint64_t now_ms);
/** Responder: build a cookie reply for \p msg (an init or resp) from \p src.
 *  \retval 0 or -errno. */
int tnl_cookie_reply_create(struct tnl_cookie_checker *cc, const struct tnl_identity *self,
			    const uint8_t *msg, size_t len, const struct sockaddr *src,
			    socklen_t srclen, uint64_t now_ms, uint8_t *out);
/** Initiator: take a cookie reply. \retval 0 or -EBADMSG. */
int tnl_cookie_reply_consume(struct tnl_cookie_state *cs, const struct tnl_peer_static *peer,
			     const uint8_t *msg, size_t len, uint64_t now_ms);
/** Receiver index in a resp / cookie / data message. \retval 0 or -EBADMSG. */
int tnl_msg_receiver_index(const uint8_t *msg, size_t len, uint32_t *out);

/** Responder: decrypt message 1 (mac1 already checked).  Reveals the
 *  initiator's Ed25519 pk and timestamp; the caller must check the pk is a
 *  peer it accepts and that the timestamp is newer than the last one seen
 *  from it (replay), then call tnl_hs_create_resp.
 *  \retval 0 or -EBADMSG. */
int tnl_hs_consume_init(struct tnl_handshake *hs, const struct tnl_identity *self,
			const uint8_t *msg, size_t len, uint8_t peer_ed_pk[32],
			uint8_t timestamp[TNL_TIMESTAMP_LEN]);
/** As tnl_hs_consume_init, but when \p only_pk is not NULL the message
 *  must come from that Ed25519 key: a relayed init, whose sender the beacon
 *  named, is refused after one DH instead of two when it is someone else.
 *  \retval 0 or -EBADMSG. */
int tnl_hs_consume_init_from(struct tnl_handshake *hs, const struct tnl_identity *self,
			     const uint8_t *msg, size_t len, const uint8_t *only_pk,
			     uint8_t peer_ed_pk[32], uint8_t timestamp[TNL_TIMESTAMP_LEN]);
/** Responder: message 2.  \p peer is the initiator's static (from the pk
 *  returned above).  Chooses the cipher from both sides' caps.
 *  \retval 0 or -errno. */
int tnl_hs_create_resp(struct tnl_handshake *hs, const struct tnl_identity *self,
		       const struct tnl_peer_static *peer, uint32_t local_index,
		       struct tnl_cookie_state *cs, uint64_t now_ms, uint8_t *out);
/** Initiator: consume message 2 (mac1 checked inside). \retval 0 or -EBADMSG. */
int tnl_hs_consume_resp(struct tnl_handshake *hs, const struct tnl_identity *self,
			const struct tnl_peer_static *peer, const uint8_t *msg, size_t len);
/** Either side, after create_resp / consume_resp: derive the session keys
 *  into \p kp and wipe the handshake.  \retval 0 or -errno. */
int tnl_hs_derive(struct tnl_handshake *hs, struct tnl_keypair *kp, int is_initiator,
		  uint64_t now_ms);

/** Seal in place.  The plaintext is at buf + TNL_DATA_HDR, \p plen bytes;
 *  \p buf must have TNL_DATA_OVERHEAD + plen bytes.  Writes header and tag.
 *  \retval total record length, or -ESTALE when the counter is exhausted. */
int tnl_data_seal(struct tnl_keypair *kp, uint8_t *buf, size_t plen);
/** Open in place: checks header, replay window (before and after the AEAD),
 *  tag.  On success the plaintext is at buf + TNL_DATA_HDR.
 *  \retval plaintext length (0 = keepalive) or -EBADMSG / -EALREADY (replay). */
int tnl_data_open(struct tnl_keypair *kp, uint8_t *buf, size_t len);

/** Replay window, exposed for tests. */
int tnl_replay_would_accept(const struct tnl_keypair *kp, uint64_t ctr);
void tnl_replay_mark(struct tnl_keypair *kp, uint64_t ctr);

/** TAI64N comparison helper: >0 if a is newer than b. */
int tnl_timestamp_cmp(const uint8_t a[TNL_TIMESTAMP_LEN], const uint8_t b[TNL_TIMESTAMP_LEN]);

#endif
