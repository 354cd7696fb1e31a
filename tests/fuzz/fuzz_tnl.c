/* fuzz_tnl.c - every parser of tunnel wire input (src/pilotd/tnl.c), fed the same
 * bytes: mac1/mac2 checks, message 1 and 2 consumption, receiver-index
 * demux, data record opening (both ciphers) and cookie replies.
 *
 * The fixture is fixed: identities from constant seeds, a constant cookie
 * secret, and a deterministic randombytes, so that the initiator's pending
 * handshake (its ephemeral key) is the same in every run and a corpus holding
 * real messages (tests/fuzz/corpus/tnl) reaches past the MACs and AEADs. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FZ_IDX_I 0x01020304u	  /* initiator's index for its pending init */
#define FZ_IDX_CHACHA 0xc4c4c4c4u /* local index of the ChaCha keypair */
#define FZ_IDX_AES 0xaeaeaeaeu	  /* local index of the AES-GCM keypair */
#define FZ_NOW_NS 1700000000123456789ull
#define FZ_NOW_MS 1000000ull
#define FZ_MAX 4096

struct fz {
	struct tnl_identity r, i;      /* responder, initiator */
	struct tnl_peer_static r_at_i; /* what i knows of r */
	struct tnl_handshake *pending; /* i's handshake after sending fz.init */
	struct tnl_handshake *hs;      /* scratch */
	struct tnl_keypair *kp_chacha, *kp_aes, *kp_scratch;
	struct tnl_cookie_state cs;   /* i's, after sending fz.init */
	struct tnl_cookie_checker cc; /* r's */
	struct sockaddr_in src;
	uint8_t init[TNL_INIT_LEN];
	uint8_t buf[FZ_MAX];
};

static struct fz fz;

/* Deterministic "randombytes": splitmix64.  Not random at all, which is the
 * point here: the harness must behave the same on every run. */
static uint64_t fz_rng_state;

static uint64_t fz_rng_next(void)
{
	uint64_t z = (fz_rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static const char *fz_rng_name(void)
{
	return "fuzz-deterministic";
}

static uint32_t fz_rng_random(void)
{
	return (uint32_t)fz_rng_next();
}

static void fz_rng_buf(void *const out, const size_t size)
{
	uint8_t *p = out;
	for (size_t k = 0; k < size; k++)
		p[k] = (uint8_t)fz_rng_next();
}

static randombytes_implementation fz_rng = {
    .implementation_name = fz_rng_name,
    .random = fz_rng_random,
    .stir = NULL,
    .uniform = NULL,
    .buf = fz_rng_buf,
    .close = NULL,
};

static void fz_identity(struct tnl_identity *id, uint8_t fill)
{
	uint8_t seed[32], pk[32], sk[64];

	memset(seed, fill, sizeof(seed));
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0 || tnl_identity_init(id, sk) != 0)
		abort();
	sodium_memzero(sk, sizeof(sk));
}

/* A keypair as tnl_hs_derive would leave it, with a constant key. */
static void fz_keypair(struct tnl_keypair *kp, uint8_t cipher, uint32_t local_index,
		       uint8_t key_fill)
{
	uint8_t key[32];

	memset(key, key_fill, sizeof(key));
	if (tnl_keypair_set_keys(kp, cipher, key, key) != 0)
		abort();
	kp->local_index = local_index;
	kp->remote_index = local_index;
}

/* The fixture's keypairs hold OpenSSL contexts, and live in sodium_malloc
 * pages, which LeakSanitizer does not scan: freed at exit, or it reports
 * the contexts as leaked. */
static void fz_teardown(void)
{
	tnl_keypair_free(fz.kp_chacha);
	tnl_keypair_free(fz.kp_aes);
	tnl_keypair_free(fz.kp_scratch);
	tnl_hs_free(fz.pending);
	tnl_hs_free(fz.hs);
}

static void fz_setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	/* Must precede sodium_init (inside tnl_global_init). */
	randombytes_set_implementation(&fz_rng);
	if (tnl_global_init() != 0)
		abort();
	fz_identity(&fz.r, 0x52);
	fz_identity(&fz.i, 0x49);
	if (tnl_peer_static_init(&fz.r_at_i, &fz.i, fz.r.ed_pk) != 0)
		abort();
	fz.pending = tnl_hs_new();
	fz.hs = tnl_hs_new();
	fz.kp_chacha = tnl_keypair_new();
	fz.kp_aes = tnl_keypair_new();
	fz.kp_scratch = tnl_keypair_new();
	if (!fz.pending || !fz.hs || !fz.kp_chacha || !fz.kp_aes || !fz.kp_scratch)
		abort();
	atexit(fz_teardown);
	fz_keypair(fz.kp_chacha, TNL_CIPHER_CHACHA20POLY1305, FZ_IDX_CHACHA, 0xcc);
	if (crypto_aead_aes256gcm_is_available())
		fz_keypair(fz.kp_aes, TNL_CIPHER_AES256GCM, FZ_IDX_AES, 0xae);

	memset(fz.cc.secret, 0x5e, sizeof(fz.cc.secret));
	fz.cc.secret_born_ms = FZ_NOW_MS;
	memset(&fz.src, 0, sizeof(fz.src));
	fz.src.sin_family = AF_INET;
	fz.src.sin_addr.s_addr = htonl(0xc0000201);
	fz.src.sin_port = htons(51820);

	/* The ephemeral comes from the RNG: reseed right before it so it does
	 * not depend on how much sodium_init and the rest consumed. */
	fz_rng_state = 0x7431;
	if (tnl_hs_create_init(fz.pending, &fz.i, &fz.r_at_i, FZ_IDX_I, FZ_NOW_NS, &fz.cs,
			       FZ_NOW_MS, fz.init) != 0)
		abort();
}

static void fz_handshake(const uint8_t *d, size_t n)
{
	static uint8_t last_ts[TNL_TIMESTAMP_LEN];
	struct tnl_peer_static ps;
	uint8_t pk[32], ts[TNL_TIMESTAMP_LEN], resp[TNL_RESP_LEN];

	/* Responder side: mac1, mac2, message 1, and a reply to it. */
	(void)tnl_check_mac1(&fz.r, d, n);
	(void)tnl_check_mac2(&fz.cc, d, n, (const struct sockaddr *)&fz.src, sizeof(fz.src),
			     FZ_NOW_MS);
	sodium_memzero(fz.hs, sizeof(*fz.hs));
	if (tnl_hs_consume_init(fz.hs, &fz.r, d, n, pk, ts) == 0) {
		if (tnl_timestamp_cmp(ts, last_ts) != -tnl_timestamp_cmp(last_ts, ts))
			abort();
		memcpy(last_ts, ts, sizeof(ts));
		if (tnl_peer_static_init(&ps, &fz.r, pk) == 0 &&
		    tnl_hs_create_resp(fz.hs, &fz.r, &ps, 9, NULL, FZ_NOW_MS, resp) == 0)
			(void)tnl_hs_derive(fz.hs, fz.kp_scratch, 0, FZ_NOW_MS);
	}

	/* Initiator side: message 2 against the pending handshake. */
	memcpy(fz.hs, fz.pending, sizeof(*fz.hs));
	if (tnl_hs_consume_resp(fz.hs, &fz.i, &fz.r_at_i, d, n) == 0)
		(void)tnl_hs_derive(fz.hs, fz.kp_scratch, 1, FZ_NOW_MS);
}

/* mac1 keeps junk away from the DH, but it is no secret (anyone who knows
 * the receiver's public key can compute it): run the handshake parsers once
 * more with a correct mac1, so the fuzzer reaches the DH and AEAD paths with
 * hostile ephemerals and ciphertexts. */
static void fz_handshake_mac1_fixed(const uint8_t *d, size_t n)
{
	const uint8_t *key;

	if (n == TNL_INIT_LEN && d[0] == TNL_MSG_INIT)
		key = fz.r.mac1_key;
	else if (n == TNL_RESP_LEN && d[0] == TNL_MSG_RESP)
		key = fz.i.mac1_key;
	else
		return;
	memcpy(fz.buf, d, n);
	if (d[0] == TNL_MSG_RESP) {
		/* addressed to the pending handshake (receiver index, LE32) */
		for (int k = 0; k < 4; k++)
			fz.buf[8 + k] = (uint8_t)(FZ_IDX_I >> (8 * k));
	}
	crypto_generichash(fz.buf + n - 32, 16, fz.buf, n - 32, key, 32);
	fz_handshake(fz.buf, n);
}

static void fz_data(struct tnl_keypair *kp, const uint8_t *d, size_t n)
{
	if (!kp->cipher || n == 0)
		return;
	/* Fresh window per input: each run must not depend on the last. */
	memset(&kp->replay, 0, sizeof(kp->replay));
	memcpy(fz.buf, d, n);
	if (tnl_data_open(kp, fz.buf, n) >= 0) {
		/* The same record again is a replay. */
		memcpy(fz.buf, d, n);
		if (tnl_data_open(kp, fz.buf, n) != -EALREADY)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct tnl_cookie_state cs;
	uint32_t idx;

	fz_setup();
	if (n > FZ_MAX)
		return 0;

	fz_handshake(d, n);
	fz_handshake_mac1_fixed(d, n);
	(void)tnl_msg_receiver_index(d, n, &idx);
	fz_data(fz.kp_chacha, d, n);
	fz_data(fz.kp_aes, d, n);
	cs = fz.cs;
	(void)tnl_cookie_reply_consume(&cs, &fz.r_at_i, d, n, FZ_NOW_MS);
	return 0;
}
