/* test_tnl.c - the tunnel handshake, cookies and data records (src/pilotd/tnl.c). */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tnl.h"

/* A node: its Ed25519 key pair and the tunnel identity made from it. */
struct node {
	uint8_t ed_pk[32];
	uint8_t ed_sk[64];
	struct tnl_identity id;
};

/* Both ends of an established session. */
struct session {
	struct tnl_keypair *ki, *kr; /* initiator's, responder's */
};

#define T_NOW_NS 1700000000000000000ull /* some wall-clock time */
#define T_NOW_MS 5000000ull		/* some monotonic time */
#define IDX_I 0x11223344u
#define IDX_R 0xa5a5a5a5u

static void node_make(struct node *n)
{
	assert_int_equal(crypto_sign_keypair(n->ed_pk, n->ed_sk), 0);
	assert_int_equal(tnl_identity_init(&n->id, n->ed_sk), 0);
	assert_memory_equal(n->id.ed_pk, n->ed_pk, 32);
}

static void node_drop(struct node *n)
{
	tnl_identity_wipe(&n->id);
	sodium_memzero(n->ed_sk, sizeof(n->ed_sk));
}

static void make_sin(struct sockaddr_in *sin, uint32_t addr, uint16_t port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	sin->sin_port = htons(port);
}

/* Full IK handshake from i to r; the initiator offers caps (0 = all it
 * has).  Checks every step as the peer state machine would. */
static void handshake(struct node *i, struct node *r, uint8_t caps, struct session *s)
{
	struct tnl_peer_static r_at_i, i_at_r;
	struct tnl_handshake *hi = tnl_hs_new(), *hr = tnl_hs_new();
	uint8_t init[TNL_INIT_LEN], resp[TNL_RESP_LEN], pk[32], ts[TNL_TIMESTAMP_LEN];
	uint32_t idx;

	assert_non_null(hi);
	assert_non_null(hr);
	assert_int_equal(tnl_peer_static_init(&r_at_i, &i->id, r->ed_pk), 0);
	hi->caps = caps;
	assert_int_equal(
	    tnl_hs_create_init(hi, &i->id, &r_at_i, IDX_I, T_NOW_NS, NULL, T_NOW_MS, init), 0);
	assert_int_equal(hi->state, TNL_HS_INIT_SENT);

	assert_int_equal(tnl_check_mac1(&r->id, init, sizeof(init)), 0);
	assert_int_equal(tnl_hs_consume_init(hr, &r->id, init, sizeof(init), pk, ts), 0);
	assert_memory_equal(pk, i->ed_pk, 32);
	assert_int_equal(tnl_peer_static_init(&i_at_r, &r->id, pk), 0);
	assert_memory_equal(i_at_r.precomputed_ss, r_at_i.precomputed_ss, 32);
	assert_int_equal(tnl_hs_create_resp(hr, &r->id, &i_at_r, IDX_R, NULL, T_NOW_MS, resp), 0);

	assert_int_equal(tnl_msg_receiver_index(resp, sizeof(resp), &idx), 0);
	assert_int_equal(idx, IDX_I);
	assert_int_equal(tnl_hs_consume_resp(hi, &i->id, &r_at_i, resp, sizeof(resp)), 0);

	s->ki = tnl_keypair_new();
	s->kr = tnl_keypair_new();
	assert_non_null(s->ki);
	assert_non_null(s->kr);
	assert_int_equal(tnl_hs_derive(hi, s->ki, 1, T_NOW_MS), 0);
	assert_int_equal(tnl_hs_derive(hr, s->kr, 0, T_NOW_MS), 0);
	/* derive wipes the handshake */
	assert_int_equal(hi->state, TNL_HS_NONE);
	assert_int_equal(hr->state, TNL_HS_NONE);
	tnl_hs_free(hi);
	tnl_hs_free(hr);

	assert_int_equal(s->ki->local_index, IDX_I);
	assert_int_equal(s->ki->remote_index, IDX_R);
	assert_int_equal(s->kr->local_index, IDX_R);
	assert_int_equal(s->kr->remote_index, IDX_I);
	assert_int_equal(s->ki->cipher, s->kr->cipher);
	assert_memory_equal(s->ki->send_key, s->kr->recv_key, 32);
	assert_memory_equal(s->ki->recv_key, s->kr->send_key, 32);
	assert_memory_not_equal(s->ki->send_key, s->ki->recv_key, 32);
}

static void session_drop(struct session *s)
{
	tnl_keypair_free(s->ki);
	tnl_keypair_free(s->kr);
}

/* Seal msg with kp into buf; returns the record length. */
static size_t seal(struct tnl_keypair *kp, uint8_t *buf, const char *msg)
{
	size_t n = strlen(msg);
	int len;

	memcpy(buf + TNL_DATA_HDR, msg, n);
	len = tnl_data_seal(kp, buf, n);
	assert_int_equal(len, (int)(n + TNL_DATA_OVERHEAD));
	return (size_t)len;
}

static void roundtrip(struct tnl_keypair *from, struct tnl_keypair *to, const char *msg)
{
	uint8_t buf[256];
	size_t len = seal(from, buf, msg);
	uint32_t idx;

	assert_int_equal(buf[0], TNL_MSG_DATA);
	assert_int_equal(tnl_msg_receiver_index(buf, len, &idx), 0);
	assert_int_equal(idx, to->local_index);
	/* the plaintext is not on the wire */
	if (strlen(msg) >= 4)
		assert_memory_not_equal(buf + TNL_DATA_HDR, msg, strlen(msg));
	assert_int_equal(tnl_data_open(to, buf, len), (int)strlen(msg));
	assert_memory_equal(buf + TNL_DATA_HDR, msg, strlen(msg));
}

static int group_setup(void **state)
{
	(void)state;
	return tnl_global_init();
}

/* ------------------------------------------------------------------ tests */

static void test_handshake_and_data(void **state)
{
	struct node a, b;
	struct session s;

	(void)state;
	node_make(&a);
	node_make(&b);
	handshake(&a, &b, 0, &s);
	assert_int_equal(s.ki->cipher, crypto_aead_aes256gcm_is_available()
					   ? TNL_CIPHER_AES256GCM
					   : TNL_CIPHER_CHACHA20POLY1305);
	for (int k = 0; k < 5; k++) {
		roundtrip(s.ki, s.kr, "hello from the initiator");
		roundtrip(s.kr, s.ki, "and back from the responder");
	}
	roundtrip(s.ki, s.kr, ""); /* keepalive */
	assert_int_equal(s.ki->send_counter, 6);
	assert_int_equal(s.kr->send_counter, 5);
	session_drop(&s);
	node_drop(&a);
	node_drop(&b);
}

static void test_cipher_choices(void **state)
{
	struct node a, b;
	struct session s;

	(void)state;
	node_make(&a);
	node_make(&b);

	handshake(&a, &b, TNL_CAP_CHACHA, &s);
	assert_int_equal(s.ki->cipher, TNL_CIPHER_CHACHA20POLY1305);
	roundtrip(s.ki, s.kr, "chacha one way");
	roundtrip(s.kr, s.ki, "chacha the other");
	session_drop(&s);

	if (crypto_aead_aes256gcm_is_available()) {
		handshake(&a, &b, TNL_CAP_AES256GCM, &s);
		assert_int_equal(s.ki->cipher, TNL_CIPHER_AES256GCM);
		roundtrip(s.ki, s.kr, "aes one way");
		roundtrip(s.kr, s.ki, "aes the other");
		session_drop(&s);
	} else {
		/* Offering only AES where it is missing leaves nothing to offer. */
		struct tnl_peer_static pb;
		struct tnl_handshake *hs = tnl_hs_new();
		uint8_t init[TNL_INIT_LEN];
		assert_int_equal(tnl_peer_static_init(&pb, &a.id, b.ed_pk), 0);
		hs->caps = TNL_CAP_AES256GCM;
		assert_int_equal(tnl_hs_create_init(hs, &a.id, &pb, 1, T_NOW_NS, NULL, 0, init),
				 -EINVAL);
		tnl_hs_free(hs);
	}
	node_drop(&a);
	node_drop(&b);
}

/* The caps and the chosen cipher are bound by h: an active attacker who
 * rewrites them (mac1 is no secret: it can recompute it) breaks the
 * handshake rather than downgrading it. */
static void test_cipher_downgrade(void **state)
{
	struct node a, b;
	struct tnl_peer_static b_at_a, a_at_b;
	struct tnl_handshake *hi = tnl_hs_new(), *hr = tnl_hs_new();
	uint8_t init[TNL_INIT_LEN], resp[TNL_RESP_LEN], pk[32], ts[TNL_TIMESTAMP_LEN];

	(void)state;
	node_make(&a);
	node_make(&b);
	assert_int_equal(tnl_peer_static_init(&b_at_a, &a.id, b.ed_pk), 0);
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 7, T_NOW_NS, NULL, 0, init), 0);
	assert_int_equal(init[1] & TNL_CAP_CHACHA, TNL_CAP_CHACHA);

	init[1] ^= TNL_CAP_AES256GCM;
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init)), -EBADMSG);
	crypto_generichash(init + 116, 16, init, 116, b_at_a.mac1_key, 32);
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init)), 0);
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init, sizeof(init), pk, ts), -EBADMSG);
	assert_int_equal(hr->state, TNL_HS_NONE);
	init[1] ^= TNL_CAP_AES256GCM;
	crypto_generichash(init + 116, 16, init, 116, b_at_a.mac1_key, 32);
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init, sizeof(init), pk, ts), 0);

	assert_int_equal(tnl_peer_static_init(&a_at_b, &b.id, pk), 0);
	assert_int_equal(tnl_hs_create_resp(hr, &b.id, &a_at_b, 9, NULL, 0, resp), 0);
	/* swap the chosen cipher for the other one, fix mac1 */
	resp[1] =
	    resp[1] == TNL_CIPHER_AES256GCM ? TNL_CIPHER_CHACHA20POLY1305 : TNL_CIPHER_AES256GCM;
	crypto_generichash(resp + 60, 16, resp, 60, a_at_b.mac1_key, 32);
	assert_int_equal(tnl_check_mac1(&a.id, resp, sizeof(resp)), 0);
	assert_int_equal(tnl_hs_consume_resp(hi, &a.id, &b_at_a, resp, sizeof(resp)), -EBADMSG);
	/* a cipher we never offered / does not exist */
	resp[1] = 0x7f;
	crypto_generichash(resp + 60, 16, resp, 60, a_at_b.mac1_key, 32);
	assert_int_equal(tnl_hs_consume_resp(hi, &a.id, &b_at_a, resp, sizeof(resp)), -EBADMSG);
	/* the failed attempts left the initiator waiting */
	assert_int_equal(hi->state, TNL_HS_INIT_SENT);

	tnl_hs_free(hi);
	tnl_hs_free(hr);
	node_drop(&a);
	node_drop(&b);
}

static void test_tamper_every_byte(void **state)
{
	struct node a, b;
	struct session s;
	uint8_t rec[128], copy[128];
	size_t len;

	(void)state;
	node_make(&a);
	node_make(&b);
	for (int c = 0; c < 2; c++) {
		uint8_t caps = c ? TNL_CAP_CHACHA : 0;
		handshake(&a, &b, caps, &s);
		len = seal(s.ki, rec, "the payload under test");
		for (size_t pos = 0; pos < len; pos++) {
			for (int bit = 0; bit < 8; bit += 3) {
				memcpy(copy, rec, len);
				copy[pos] ^= (uint8_t)(1u << bit);
				assert_true(tnl_data_open(s.kr, copy, len) < 0);
			}
		}
		/* Forgeries did not move the window: the real one still opens. */
		memcpy(copy, rec, len);
		assert_int_equal(tnl_data_open(s.kr, copy, len), (int)(len - TNL_DATA_OVERHEAD));
		session_drop(&s);
	}
	node_drop(&a);
	node_drop(&b);
}

static void test_truncated(void **state)
{
	struct node a, b;
	struct session s;
	uint8_t rec[128], copy[128];
	size_t len;

	(void)state;
	node_make(&a);
	node_make(&b);
	handshake(&a, &b, 0, &s);
	len = seal(s.ki, rec, "truncate me");
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, rec, len);
		assert_int_equal(tnl_data_open(s.kr, copy, n), -EBADMSG);
	}
	/* a longer record (trailing junk) fails too */
	memcpy(copy, rec, len);
	copy[len] = 0;
	assert_int_equal(tnl_data_open(s.kr, copy, len + 1), -EBADMSG);
	memcpy(copy, rec, len);
	assert_int_equal(tnl_data_open(s.kr, copy, len), (int)(len - TNL_DATA_OVERHEAD));
	session_drop(&s);
	node_drop(&a);
	node_drop(&b);
}

static void test_replay(void **state)
{
	struct node a, b;
	struct session s;
	uint8_t rec[128], copy[128];
	size_t len;

	(void)state;
	node_make(&a);
	node_make(&b);
	handshake(&a, &b, 0, &s);
	len = seal(s.ki, rec, "once only");
	memcpy(copy, rec, len);
	assert_int_equal(tnl_data_open(s.kr, copy, len), 9);
	memcpy(copy, rec, len);
	assert_int_equal(tnl_data_open(s.kr, copy, len), -EALREADY);
	session_drop(&s);
	node_drop(&a);
	node_drop(&b);
}

static void test_reorder_and_old(void **state)
{
	struct node a, b;
	struct session s;
	uint8_t r5[64], r8[64], r9[64], r10[64], rold[64], rnew[64], copy[64];
	size_t l5, l8, l9, l10, lold, lnew;

	(void)state;
	node_make(&a);
	node_make(&b);
	handshake(&a, &b, 0, &s);
	s.ki->send_counter = 5;
	l5 = seal(s.ki, r5, "five");
	s.ki->send_counter = 8;
	l8 = seal(s.ki, r8, "eight");
	l9 = seal(s.ki, r9, "nine");
	l10 = seal(s.ki, r10, "ten");

	/* 10 first, then 8 and 9 out of order: each accepted once */
	assert_int_equal(tnl_data_open(s.kr, r10, l10), 3);
	assert_int_equal(tnl_data_open(s.kr, r8, l8), 5);
	memcpy(copy, r9, l9);
	assert_int_equal(tnl_data_open(s.kr, copy, l9), 4);
	memcpy(copy, r9, l9);
	assert_int_equal(tnl_data_open(s.kr, copy, l9), -EALREADY);
	assert_int_equal(tnl_data_open(s.kr, r5, l5), 4);

	/* jump far ahead: counters more than the window behind are refused */
	s.ki->send_counter = 100000;
	lnew = seal(s.ki, rnew, "new");
	assert_int_equal(tnl_data_open(s.kr, rnew, lnew), 3);
	s.ki->send_counter = 100000 - TNL_REPLAY_WINDOW;
	lold = seal(s.ki, rold, "old");
	assert_int_equal(tnl_data_open(s.kr, rold, lold), -EALREADY);
	/* just inside the usable window (2048 - 64) is fine */
	s.ki->send_counter = 100000 - (TNL_REPLAY_WINDOW - 64);
	lold = seal(s.ki, rold, "old");
	assert_int_equal(tnl_data_open(s.kr, rold, lold), 3);
	s.ki->send_counter = 100000 - (TNL_REPLAY_WINDOW - 64) - 1;
	lold = seal(s.ki, rold, "old");
	assert_int_equal(tnl_data_open(s.kr, rold, lold), -EALREADY);

	session_drop(&s);
	node_drop(&a);
	node_drop(&b);
}

static void test_replay_window(void **state)
{
	struct tnl_keypair *kp = tnl_keypair_new();

	(void)state;
	assert_non_null(kp);
	assert_true(tnl_replay_would_accept(kp, 0));
	tnl_replay_mark(kp, 0);
	assert_false(tnl_replay_would_accept(kp, 0));
	assert_true(tnl_replay_would_accept(kp, 1));

	/* every counter in a long in-order run, then every one refused */
	for (uint64_t c = 1; c < 5000; c++) {
		assert_true(tnl_replay_would_accept(kp, c));
		tnl_replay_mark(kp, c);
	}
	for (uint64_t c = 0; c < 5000; c++)
		assert_false(tnl_replay_would_accept(kp, c));

	/* a hole left behind a big jump stays open while in the window */
	tnl_replay_mark(kp, 6000);
	for (uint64_t c = 5000; c < 6000; c++)
		assert_true(tnl_replay_would_accept(kp, c));
	tnl_replay_mark(kp, 5500);
	assert_false(tnl_replay_would_accept(kp, 5500));
	assert_true(tnl_replay_would_accept(kp, 5501));
	/* jump more than the whole window: everything behind is gone */
	tnl_replay_mark(kp, 1000000);
	assert_false(tnl_replay_would_accept(kp, 6000));
	assert_false(tnl_replay_would_accept(kp, 1000000 - TNL_REPLAY_WINDOW));
	assert_true(tnl_replay_would_accept(kp, 1000000 - (TNL_REPLAY_WINDOW - 64)));
	assert_true(tnl_replay_would_accept(kp, 999999));

	/* the end of the counter space */
	assert_false(tnl_replay_would_accept(kp, TNL_REJECT_AFTER_MESSAGES));
	assert_false(tnl_replay_would_accept(kp, UINT64_MAX));
	assert_true(tnl_replay_would_accept(kp, TNL_REJECT_AFTER_MESSAGES - 1));
	tnl_keypair_free(kp);
}

static void test_counter_exhausted(void **state)
{
	struct node a, b;
	struct session s;
	uint8_t rec[64];
	size_t len;

	(void)state;
	node_make(&a);
	node_make(&b);
	handshake(&a, &b, 0, &s);
	s.ki->send_counter = TNL_REJECT_AFTER_MESSAGES - 1;
	len = seal(s.ki, rec, "last");
	assert_int_equal(tnl_data_open(s.kr, rec, len), 4);
	memcpy(rec + TNL_DATA_HDR, "more", 4);
	assert_int_equal(tnl_data_seal(s.ki, rec, 4), -ESTALE);
	assert_int_equal(s.ki->send_counter, TNL_REJECT_AFTER_MESSAGES);
	/* a record claiming a counter past the limit is refused unopened */
	s.ki->send_counter = 0;
	len = seal(s.ki, rec, "x");
	for (int i = 0; i < 8; i++)
		rec[8 + i] = 0xff;
	assert_int_equal(tnl_data_open(s.kr, rec, len), -EBADMSG);
	session_drop(&s);
	node_drop(&a);
	node_drop(&b);
}

static void test_wrong_key(void **state)
{
	struct node a, b, c;
	struct session ab, ac;
	uint8_t rec[64];
	size_t len;

	(void)state;
	node_make(&a);
	node_make(&b);
	node_make(&c);
	handshake(&a, &b, 0, &ab);
	handshake(&a, &c, 0, &ac);
	/* c's keypair has the same indices (the helper uses fixed ones), so
	 * the record reaches the AEAD, which refuses it */
	assert_int_equal(ac.kr->local_index, ab.kr->local_index);
	len = seal(ab.ki, rec, "for b only");
	assert_int_equal(tnl_data_open(ac.kr, rec, len), -EBADMSG);
	len = seal(ac.ki, rec, "for c only");
	assert_int_equal(tnl_data_open(ab.kr, rec, len), -EBADMSG);
	/* a record for another receiver index is refused before the AEAD */
	len = seal(ab.ki, rec, "misrouted");
	ab.kr->local_index ^= 1;
	assert_int_equal(tnl_data_open(ab.kr, rec, len), -EBADMSG);
	session_drop(&ab);
	session_drop(&ac);
	node_drop(&a);
	node_drop(&b);
	node_drop(&c);
}

static void test_init_unknown_and_mac1(void **state)
{
	struct node a, b, c;
	struct tnl_peer_static b_at_a;
	struct tnl_handshake *hi = tnl_hs_new(), *hr = tnl_hs_new();
	uint8_t init[TNL_INIT_LEN], pk[32], ts[TNL_TIMESTAMP_LEN];

	(void)state;
	node_make(&a);
	node_make(&b);
	node_make(&c);
	assert_int_equal(tnl_peer_static_init(&b_at_a, &a.id, b.ed_pk), 0);
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 42, T_NOW_NS, NULL, 0, init), 0);

	/* b knows nothing of a and still learns a's Ed25519 key */
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init)), 0);
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init, sizeof(init), pk, ts), 0);
	assert_memory_equal(pk, a.ed_pk, 32);
	assert_int_equal(hr->state, TNL_HS_INIT_CONSUMED);
	assert_int_equal(hr->remote_index, 42);

	/* from a named sender (a relayed init): only that key is taken */
	sodium_memzero(hr, sizeof(*hr));
	assert_int_equal(tnl_hs_consume_init_from(hr, &b.id, init, sizeof(init), c.ed_pk, pk, ts),
			 -EBADMSG);
	assert_int_equal(hr->state, TNL_HS_NONE);
	assert_int_equal(tnl_hs_consume_init_from(hr, &b.id, init, sizeof(init), a.ed_pk, pk, ts),
			 0);
	assert_memory_equal(pk, a.ed_pk, 32);
	assert_int_equal(hr->state, TNL_HS_INIT_CONSUMED);

	/* c is not the responder it was made for: mac1 and the DH both fail */
	sodium_memzero(hr, sizeof(*hr));
	assert_int_equal(tnl_check_mac1(&c.id, init, sizeof(init)), -EBADMSG);
	assert_int_equal(tnl_hs_consume_init(hr, &c.id, init, sizeof(init), pk, ts), -EBADMSG);
	assert_int_equal(hr->state, TNL_HS_NONE);

	/* mac1 over junk, wrong lengths and types */
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init) - 1), -EBADMSG);
	assert_int_equal(tnl_check_mac1(&b.id, init, 0), -EBADMSG);
	init[0] = TNL_MSG_RESP;
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init)), -EBADMSG);
	init[0] = TNL_MSG_INIT;
	init[20] ^= 1;
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init)), -EBADMSG);

	tnl_hs_free(hi);
	tnl_hs_free(hr);
	node_drop(&a);
	node_drop(&b);
	node_drop(&c);
}

static void test_init_replay_timestamp(void **state)
{
	struct node a, b;
	struct tnl_peer_static b_at_a;
	struct tnl_handshake *hi = tnl_hs_new(), *hr = tnl_hs_new();
	uint8_t init1[TNL_INIT_LEN], init2[TNL_INIT_LEN], pk[32];
	uint8_t ts1[TNL_TIMESTAMP_LEN], ts1b[TNL_TIMESTAMP_LEN], ts2[TNL_TIMESTAMP_LEN];

	(void)state;
	node_make(&a);
	node_make(&b);
	assert_int_equal(tnl_peer_static_init(&b_at_a, &a.id, b.ed_pk), 0);
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 1, T_NOW_NS, NULL, 0, init1), 0);
	assert_int_equal(
	    tnl_hs_create_init(hi, &a.id, &b_at_a, 2, T_NOW_NS + 20000000, NULL, 0, init2), 0);

	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init1, sizeof(init1), pk, ts1), 0);
	/* the same message again: valid crypto, same timestamp -> not newer */
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init1, sizeof(init1), pk, ts1b), 0);
	assert_int_equal(tnl_timestamp_cmp(ts1b, ts1), 0);
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init2, sizeof(init2), pk, ts2), 0);
	assert_int_equal(tnl_timestamp_cmp(ts2, ts1), 1);
	assert_int_equal(tnl_timestamp_cmp(ts1, ts2), -1);
	/* TAI64N: 2^62 + 10 + seconds, big endian */
	assert_int_equal(ts1[0], 0x40);
	tnl_hs_free(hi);
	tnl_hs_free(hr);
	node_drop(&a);
	node_drop(&b);
}

static void test_cookie(void **state)
{
	struct node a, b;
	struct tnl_peer_static b_at_a;
	struct tnl_handshake *hi = tnl_hs_new();
	struct tnl_cookie_state cs;
	struct tnl_cookie_checker cc;
	struct sockaddr_in src, other;
	struct sockaddr_in6 src6;
	uint8_t init[TNL_INIT_LEN], reply[TNL_COOKIE_LEN], bad[TNL_COOKIE_LEN];
	const uint8_t zero[16] = {0};
	uint64_t now = T_NOW_MS;
	uint32_t idx;

	(void)state;
	node_make(&a);
	node_make(&b);
	memset(&cs, 0, sizeof(cs));
	memset(&cc, 0, sizeof(cc));
	make_sin(&src, 0xc0000201, 51820);
	make_sin(&other, 0xc0000202, 51820);
	assert_int_equal(tnl_peer_static_init(&b_at_a, &a.id, b.ed_pk), 0);

	/* a reply with nothing sent is refused */
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 77, T_NOW_NS, &cs, now, init), 0);
	assert_true(cs.have_last_mac1);
	assert_memory_equal(init + 132, zero, 16); /* no cookie: mac2 zero */
	assert_int_equal(
	    tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&src, sizeof(src), now),
	    -EBADMSG);

	/* b is under load: it answers with a cookie reply */
	assert_int_equal(tnl_cookie_reply_create(&cc, &b.id, init, sizeof(init),
						 (struct sockaddr *)&src, sizeof(src), now, reply),
			 0);
	assert_int_equal(tnl_msg_receiver_index(reply, sizeof(reply), &idx), 0);
	assert_int_equal(idx, 77);
	memcpy(bad, reply, sizeof(bad));
	bad[40] ^= 1;
	assert_int_equal(tnl_cookie_reply_consume(&cs, &b_at_a, bad, sizeof(bad), now), -EBADMSG);
	assert_int_equal(tnl_cookie_reply_consume(&cs, &b_at_a, reply, sizeof(reply) - 1, now),
			 -EBADMSG);
	assert_int_equal(tnl_cookie_reply_consume(&cs, &b_at_a, reply, sizeof(reply), now), 0);
	assert_int_not_equal(cs.received_ms, 0);
	/* only one reply per message */
	assert_int_equal(tnl_cookie_reply_consume(&cs, &b_at_a, reply, sizeof(reply), now),
			 -EBADMSG);

	/* a's retry carries mac2, good from its address only */
	now += 1000;
	assert_int_equal(
	    tnl_hs_create_init(hi, &a.id, &b_at_a, 78, T_NOW_NS + 1000000000ull, &cs, now, init),
	    0);
	assert_memory_not_equal(init + 132, zero, 16);
	assert_int_equal(tnl_check_mac1(&b.id, init, sizeof(init)), 0);
	assert_int_equal(
	    tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&src, sizeof(src), now), 0);
	assert_int_equal(
	    tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&other, sizeof(other), now),
	    -EBADMSG);
	assert_int_equal(
	    tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&src, sizeof(src) - 1, now),
	    -EBADMSG);
	init[10] ^= 1; /* mac2 covers the message (and mac1) */
	assert_int_equal(
	    tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&src, sizeof(src), now),
	    -EBADMSG);
	init[10] ^= 1;

	/* the responder's secret rotates after 120 s: the old cookie dies */
	assert_int_equal(tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&src,
					sizeof(src), now + 120000),
			 -EBADMSG);
	/* and the initiator stops using a cookie after 120 s */
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 79, T_NOW_NS + 2000000000ull, &cs,
					    now + 120000, init),
			 0);
	assert_memory_equal(init + 132, zero, 16);

	/* IPv6 sources work as well */
	memset(&src6, 0, sizeof(src6));
	src6.sin6_family = AF_INET6;
	src6.sin6_port = htons(9);
	src6.sin6_addr.s6_addr[15] = 1;
	assert_int_equal(tnl_cookie_reply_create(&cc, &b.id, init, sizeof(init),
						 (struct sockaddr *)&src6, sizeof(src6), now,
						 reply),
			 0);
	assert_int_equal(tnl_cookie_reply_consume(&cs, &b_at_a, reply, sizeof(reply), now), 0);
	assert_int_equal(
	    tnl_hs_create_init(hi, &a.id, &b_at_a, 80, T_NOW_NS + 3000000000ull, &cs, now, init),
	    0);
	assert_int_equal(
	    tnl_check_mac2(&cc, init, sizeof(init), (struct sockaddr *)&src6, sizeof(src6), now),
	    0);
	/* junk is no handshake message */
	assert_int_equal(tnl_cookie_reply_create(&cc, &b.id, init, 10, (struct sockaddr *)&src,
						 sizeof(src), now, reply),
			 -EBADMSG);

	tnl_hs_free(hi);
	node_drop(&a);
	node_drop(&b);
}

/* The initiator under load answers the responder's message 2 with a
 * cookie; the responder's retry... is a new init from it, but the reply
 * itself must round-trip in that direction too. */
static void test_cookie_for_resp(void **state)
{
	struct node a, b;
	struct tnl_peer_static b_at_a, a_at_b;
	struct tnl_handshake *hi = tnl_hs_new(), *hr = tnl_hs_new();
	struct tnl_cookie_state cs_b;
	struct tnl_cookie_checker cc_a;
	struct sockaddr_in src;
	uint8_t init[TNL_INIT_LEN], resp[TNL_RESP_LEN], reply[TNL_COOKIE_LEN], pk[32], ts[12];
	uint32_t idx;

	(void)state;
	node_make(&a);
	node_make(&b);
	memset(&cs_b, 0, sizeof(cs_b));
	memset(&cc_a, 0, sizeof(cc_a));
	make_sin(&src, 0x0a000001, 4000);
	assert_int_equal(tnl_peer_static_init(&b_at_a, &a.id, b.ed_pk), 0);
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 5, T_NOW_NS, NULL, 0, init), 0);
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init, sizeof(init), pk, ts), 0);
	assert_int_equal(tnl_peer_static_init(&a_at_b, &b.id, pk), 0);
	assert_int_equal(tnl_hs_create_resp(hr, &b.id, &a_at_b, 6, &cs_b, T_NOW_MS, resp), 0);
	assert_int_equal(tnl_check_mac1(&a.id, resp, sizeof(resp)), 0);
	assert_int_equal(tnl_cookie_reply_create(&cc_a, &a.id, resp, sizeof(resp),
						 (struct sockaddr *)&src, sizeof(src), T_NOW_MS,
						 reply),
			 0);
	assert_int_equal(tnl_msg_receiver_index(reply, sizeof(reply), &idx), 0);
	assert_int_equal(idx, 6);
	assert_int_equal(tnl_cookie_reply_consume(&cs_b, &a_at_b, reply, sizeof(reply), T_NOW_MS),
			 0);
	tnl_hs_free(hi);
	tnl_hs_free(hr);
	node_drop(&a);
	node_drop(&b);
}

static void test_resp_checks(void **state)
{
	struct node a, b;
	struct tnl_peer_static b_at_a, a_at_b;
	struct tnl_handshake *hi = tnl_hs_new(), *hr = tnl_hs_new();
	uint8_t init[TNL_INIT_LEN], resp[TNL_RESP_LEN], pk[32], ts[12];
	struct tnl_keypair *kp = tnl_keypair_new();

	(void)state;
	node_make(&a);
	node_make(&b);
	assert_int_equal(tnl_peer_static_init(&b_at_a, &a.id, b.ed_pk), 0);
	/* nothing consumed: no response can be made, no keys derived */
	assert_int_equal(tnl_hs_create_resp(hr, &b.id, &b_at_a, 1, NULL, 0, resp), -EINVAL);
	assert_int_equal(tnl_hs_create_init(hi, &a.id, &b_at_a, 5, T_NOW_NS, NULL, 0, init), 0);
	assert_int_equal(tnl_hs_derive(hi, kp, 1, 0), -EINVAL);
	assert_int_equal(hi->state, TNL_HS_INIT_SENT);
	assert_int_equal(tnl_hs_consume_init(hr, &b.id, init, sizeof(init), pk, ts), 0);
	assert_int_equal(tnl_peer_static_init(&a_at_b, &b.id, pk), 0);
	assert_int_equal(tnl_hs_create_resp(hr, &b.id, &a_at_b, 6, NULL, 0, resp), 0);

	/* every single-bit change is refused, and leaves hi usable (mac2 is
	 * only the responder's DoS cookie, not part of the handshake) */
	for (size_t pos = 0; pos < TNL_RESP_LEN - 16; pos++) {
		resp[pos] ^= 0x10;
		assert_int_equal(tnl_hs_consume_resp(hi, &a.id, &b_at_a, resp, sizeof(resp)),
				 -EBADMSG);
		resp[pos] ^= 0x10;
	}
	assert_int_equal(tnl_hs_consume_resp(hi, &a.id, &b_at_a, resp, sizeof(resp) - 1), -EBADMSG);
	assert_int_equal(tnl_hs_consume_resp(hi, &a.id, &b_at_a, resp, sizeof(resp)), 0);
	/* a second copy of the response is not accepted again */
	assert_int_equal(tnl_hs_consume_resp(hi, &a.id, &b_at_a, resp, sizeof(resp)), -EBADMSG);
	assert_int_equal(tnl_hs_derive(hi, kp, 1, 0), 0);
	tnl_keypair_free(kp);
	tnl_hs_free(hi);
	tnl_hs_free(hr);
	node_drop(&a);
	node_drop(&b);
}

static void test_bad_keys_and_indices(void **state)
{
	struct node a;
	struct tnl_peer_static ps;
	struct tnl_identity id;
	uint8_t pk[32] = {0}, sk[64], msg[TNL_COOKIE_LEN] = {0};
	uint32_t idx;

	(void)state;
	node_make(&a);
	/* identity point / small order / not on the curve */
	assert_int_equal(tnl_peer_static_init(&ps, &a.id, pk), -EINVAL);
	pk[0] = 1;
	assert_int_equal(tnl_peer_static_init(&ps, &a.id, pk), -EINVAL);
	memset(pk, 0xff, sizeof(pk));
	assert_int_equal(tnl_peer_static_init(&ps, &a.id, pk), -EINVAL);
	/* a secret key whose public half is someone else's */
	memcpy(sk, a.ed_sk, 64);
	sk[40] ^= 1;
	assert_true(tnl_identity_init(&id, sk) < 0);
	assert_null(id.x_sk);
	sodium_memzero(sk, sizeof(sk));

	msg[0] = TNL_MSG_COOKIE;
	assert_int_equal(tnl_msg_receiver_index(msg, sizeof(msg), &idx), 0);
	msg[1] = 1;
	assert_int_equal(tnl_msg_receiver_index(msg, sizeof(msg), &idx), -EBADMSG);
	msg[1] = 0;
	assert_int_equal(tnl_msg_receiver_index(msg, sizeof(msg) - 1, &idx), -EBADMSG);
	msg[0] = TNL_MSG_DATA;
	assert_int_equal(tnl_msg_receiver_index(msg, TNL_DATA_OVERHEAD, &idx), 0);
	assert_int_equal(tnl_msg_receiver_index(msg, TNL_DATA_OVERHEAD - 1, &idx), -EBADMSG);
	msg[0] = TNL_MSG_INIT; /* carries no receiver */
	assert_int_equal(tnl_msg_receiver_index(msg, TNL_INIT_LEN, &idx), -EBADMSG);
	msg[0] = 0x10;
	assert_int_equal(tnl_msg_receiver_index(msg, sizeof(msg), &idx), -EBADMSG);
	assert_int_equal(tnl_msg_receiver_index(msg, 0, &idx), -EBADMSG);
	node_drop(&a);
}

/* A record's body sealed by libsodium, as a node of the earlier build
 * sealed it: the header is the additional data. */
static void sodium_seal(int aes, uint8_t *buf, size_t plen, const uint8_t nonce[12],
			const uint8_t key[32])
{
	if (aes)
		crypto_aead_aes256gcm_encrypt_detached(
		    buf + TNL_DATA_HDR, buf + TNL_DATA_HDR + plen, NULL, buf + TNL_DATA_HDR, plen,
		    buf, TNL_DATA_HDR, NULL, nonce, key);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		    buf + TNL_DATA_HDR, buf + TNL_DATA_HDR + plen, NULL, buf + TNL_DATA_HDR, plen,
		    buf, TNL_DATA_HDR, NULL, nonce, key);
}

/* The records' AEAD (OpenSSL EVP) is the standard construction: a record
 * sealed here opens with libsodium's AES-256-GCM / ChaCha20-Poly1305 IETF,
 * and one sealed by libsodium (as before the switch) opens here, so nodes
 * of either build talk. */
static void test_aead_interop(void **state)
{
	static const uint8_t ciphers[] = {TNL_CIPHER_AES256GCM, TNL_CIPHER_CHACHA20POLY1305};
	(void)state;
	for (size_t c = 0; c < sizeof(ciphers); c++) {
		struct tnl_keypair *kp = tnl_keypair_new();
		uint8_t ks[32], kr[32], buf[TNL_DATA_HDR + 300 + 16], nonce[12] = {0};
		const size_t plen = 300;
		int aes = ciphers[c] == TNL_CIPHER_AES256GCM, rc;

		if (aes && !crypto_aead_aes256gcm_is_available()) {
			tnl_keypair_free(kp);
			continue;
		}
		assert_non_null(kp);
		for (int i = 0; i < 32; i++)
			ks[i] = (uint8_t)(i * 7 + 1), kr[i] = (uint8_t)(i * 13 + 5);
		assert_int_equal(tnl_keypair_set_keys(kp, ciphers[c], ks, kr), 0);
		kp->remote_index = 0x01020304;
		kp->local_index = 0x0a0b0c0d;
		kp->send_counter = 41;
		for (size_t i = 0; i < plen; i++)
			buf[TNL_DATA_HDR + i] = (uint8_t)i;
		assert_int_equal(tnl_data_seal(kp, buf, plen), (int)(plen + TNL_DATA_OVERHEAD));
		nonce[4] = 41; /* 32 zero bits, then the counter little-endian */
		rc = aes ? crypto_aead_aes256gcm_decrypt_detached(
			       buf + TNL_DATA_HDR, NULL, buf + TNL_DATA_HDR, plen,
			       buf + TNL_DATA_HDR + plen, buf, TNL_DATA_HDR, nonce, ks)
			 : crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			       buf + TNL_DATA_HDR, NULL, buf + TNL_DATA_HDR, plen,
			       buf + TNL_DATA_HDR + plen, buf, TNL_DATA_HDR, nonce, ks);
		assert_int_equal(rc, 0);
		for (size_t i = 0; i < plen; i++)
			assert_int_equal(buf[TNL_DATA_HDR + i], (uint8_t)i);
		/* libsodium seals with the peer's key (our receive key) */
		buf[4] = 0x0d, buf[5] = 0x0c, buf[6] = 0x0b, buf[7] = 0x0a;
		buf[8] = 7;
		nonce[4] = 7;
		sodium_seal(aes, buf, plen, nonce, kr);
		assert_int_equal(tnl_data_open(kp, buf, sizeof(buf)), (int)plen);
		for (size_t i = 0; i < plen; i++)
			assert_int_equal(buf[TNL_DATA_HDR + i], (uint8_t)i);
		/* a flipped tag bit fails, and the counter stays unused */
		buf[8] = 8;
		nonce[4] = 8;
		sodium_seal(aes, buf, plen, nonce, kr);
		{
			uint8_t copy[sizeof(buf)];
			memcpy(copy, buf, sizeof(buf));
			buf[sizeof(buf) - 1] ^= 1;
			/* (decrypting in place leaves garbage in a refused record) */
			assert_int_equal(tnl_data_open(kp, buf, sizeof(buf)), -EBADMSG);
			assert_int_equal(tnl_data_open(kp, copy, sizeof(copy)), (int)plen);
		}
		assert_int_equal(tnl_keypair_set_keys(kp, 99, ks, kr), -EINVAL);
		tnl_keypair_free(kp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_data),
	    cmocka_unit_test(test_cipher_choices),
	    cmocka_unit_test(test_cipher_downgrade),
	    cmocka_unit_test(test_tamper_every_byte),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_reorder_and_old),
	    cmocka_unit_test(test_replay_window),
	    cmocka_unit_test(test_counter_exhausted),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_init_unknown_and_mac1),
	    cmocka_unit_test(test_init_replay_timestamp),
	    cmocka_unit_test(test_cookie),
	    cmocka_unit_test(test_cookie_for_resp),
	    cmocka_unit_test(test_resp_checks),
	    cmocka_unit_test(test_bad_keys_and_indices),
	    cmocka_unit_test(test_aead_interop),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
