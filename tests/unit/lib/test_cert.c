/* test_cert.c - the certificate codec (src/lib/cert.c): encoding and
 * strict decoding, text forms, verification of CA and node certificates
 * (every byte tampered, windows, wrong CA, a leaf outliving its CA), tag
 * canonicalisation and the CA key file (plain, sealed, wrong passphrase,
 * altered, cost parameters out of bounds). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "cert.h"
#include "util.h"

#define NOW 1800000000ull

struct ca {
	uint8_t pk[32], sk[64];
	struct cert c;
};

static void make_ca(struct ca *ca, const char *name, uint64_t nb, uint64_t na)
{
	crypto_sign_keypair(ca->pk, ca->sk);
	memset(&ca->c, 0, sizeof(ca->c));
	ca->c.kind = CERT_KIND_CA;
	randombytes_buf(ca->c.serial, sizeof(ca->c.serial));
	ca->c.not_before = nb;
	ca->c.not_after = na;
	memcpy(ca->c.public_key, ca->pk, 32);
	cert_key_id(ca->pk, ca->c.issuer);
	snprintf(ca->c.name, sizeof(ca->c.name), "%s", name);
	assert_int_equal(cert_sign(&ca->c, ca->sk), 0);
}

static void make_node(struct cert *c, const struct ca *ca, const uint8_t pk[32], uint64_t nb,
		      uint64_t na)
{
	memset(c, 0, sizeof(*c));
	c->kind = CERT_KIND_NODE;
	randombytes_buf(c->serial, sizeof(c->serial));
	c->not_before = nb;
	c->not_after = na;
	memcpy(c->public_key, pk, 32);
	cert_key_id(ca->pk, c->issuer);
	c->has_node_id = 1;
	c->node_id = 42;
	c->ntags = 2;
	strcpy(c->tags[0], "api");
	strcpy(c->tags[1], "web");
	assert_int_equal(cert_sign(c, ca->sk), 0);
}

static uint8_t node_pk[32];

static void test_roundtrip(void **state)
{
	struct ca ca;
	struct cert n, d;
	uint8_t bin[CERT_MAX], bin2[CERT_MAX];
	int len;

	(void)state;
	make_ca(&ca, "test-ca", NOW - 10, NOW + 1000);
	make_node(&n, &ca, node_pk, NOW - 5, NOW + 500);
	len = cert_encode(&n, bin, sizeof(bin));
	assert_true(len > 104 + 64);
	assert_int_equal(cert_decode(bin, (size_t)len, &d), 0);
	assert_memory_equal(d.serial, n.serial, CERT_SERIAL_LEN);
	assert_memory_equal(d.fingerprint, n.fingerprint, CERT_FP_LEN);
	assert_int_equal(d.node_id, 42);
	assert_string_equal(d.tags[1], "web");
	assert_int_equal(cert_encode(&d, bin2, sizeof(bin2)), len);
	assert_memory_equal(bin, bin2, (size_t)len);
}

static void test_text_forms(void **state)
{
	struct ca ca;
	struct cert n, d;
	char pem[CERT_PEM_MAX], b64[CERT_PEM_MAX], crlf[2 * CERT_PEM_MAX];
	size_t o = 0;

	(void)state;
	make_ca(&ca, "test-ca", NOW - 10, NOW + 1000);
	make_node(&n, &ca, node_pk, NOW - 5, NOW + 500);
	assert_true(cert_to_pem(&n, pem, sizeof(pem)) > 0);
	assert_int_equal(cert_to_b64(&n, b64, sizeof(b64)), 0);
	assert_int_equal(cert_from_text(pem, strlen(pem), &d), 0);
	assert_memory_equal(d.fingerprint, n.fingerprint, CERT_FP_LEN);
	assert_int_equal(cert_from_text(b64, strlen(b64), &d), 0);
	assert_memory_equal(d.fingerprint, n.fingerprint, CERT_FP_LEN);
	/* CRLF line ends and stray blanks are whitespace. */
	for (const char *p = pem; *p; p++) {
		if (*p == '\n')
			crlf[o++] = '\r';
		crlf[o++] = *p;
	}
	crlf[o] = '\0';
	assert_int_equal(cert_from_text(crlf, o, &d), 0);
	/* Armor of something else is not a certificate. */
	assert_int_equal(
	    cert_from_text("-----BEGIN PILOT CA KEY-----\nAAAA\n-----END PILOT CA KEY-----", 58,
			   &d),
	    -EBADMSG);
}

static void test_verify(void **state)
{
	struct ca ca, other;
	struct cert n;

	(void)state;
	make_ca(&ca, "test-ca", NOW - 10, NOW + 1000);
	make_ca(&other, "other", NOW - 10, NOW + 1000);
	make_node(&n, &ca, node_pk, NOW - 5, NOW + 500);
	assert_int_equal(cert_verify_ca(&ca.c, NOW), CERT_OK);
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW), CERT_OK);
	assert_int_equal(cert_verify_node(&n, &other.c, NOW), CERT_E_WRONG_CA);
	assert_int_equal(cert_verify_node(&ca.c, &ca.c, NOW), CERT_E_KIND);
	/* The window: not-after excluded, not-before with the skew. */
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW + 500), CERT_E_EXPIRED);
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW + 499), CERT_OK);
	make_node(&n, &ca, node_pk, NOW + 100, NOW + 500);
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW), CERT_E_NOT_YET_VALID);
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW + 100 - CERT_SKEW_S), CERT_OK);
	/* A leaf cannot outlive its CA. */
	make_node(&n, &ca, node_pk, NOW - 5, NOW + 2000);
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW), CERT_E_OUTLIVES_CA);
	/* An expired CA certificate. */
	make_ca(&ca, "old", NOW - 100, NOW - 1);
	make_node(&n, &ca, node_pk, NOW - 50, NOW - 2);
	assert_int_equal(cert_verify_ca(&ca.c, NOW), CERT_E_CA_EXPIRED);
	assert_int_equal(cert_verify_node(&n, &ca.c, NOW), CERT_E_CA_EXPIRED);
	/* A CA certificate whose self-signature is broken. */
	make_ca(&ca, "test-ca", NOW - 10, NOW + 1000);
	ca.c.sig[3] ^= 1;
	assert_int_equal(cert_verify_ca(&ca.c, NOW), CERT_E_SIGNATURE);
}

/* Every byte of a node certificate flipped: never valid. */
static void test_tamper_every_byte(void **state)
{
	struct ca ca;
	struct cert n, d;
	uint8_t bin[CERT_MAX];
	int len;

	(void)state;
	make_ca(&ca, "test-ca", NOW - 10, NOW + 1000);
	make_node(&n, &ca, node_pk, NOW - 5, NOW + 500);
	len = cert_encode(&n, bin, sizeof(bin));
	for (int i = 0; i < len; i++) {
		bin[i] ^= 0x01;
		if (cert_decode(bin, (size_t)len, &d) == 0) {
			enum cert_err e = cert_verify_node(&d, &ca.c, NOW);
			if (e == CERT_OK)
				fail_msg("byte %d flipped still verifies", i);
			if (i >= 8 && i < 72)
				assert_int_equal(e, CERT_E_SIGNATURE);
			if (i >= 72 && i < 104)
				assert_int_equal(e, CERT_E_WRONG_CA);
		}
		bin[i] ^= 0x01;
	}
	assert_int_equal(cert_decode(bin, (size_t)len, &d), 0);
	assert_int_equal(cert_verify_node(&d, &ca.c, NOW), CERT_OK);
}

static void test_decode_strict(void **state)
{
	struct ca ca;
	struct cert n, d;
	uint8_t bin[CERT_MAX + 8];
	int len;

	(void)state;
	make_ca(&ca, "test-ca", NOW - 10, NOW + 1000);
	make_node(&n, &ca, node_pk, NOW - 5, NOW + 500);
	len = cert_encode(&n, bin, sizeof(bin));
	for (int l = 0; l < len; l++)
		assert_int_equal(cert_decode(bin, (size_t)l, &d), -EBADMSG);
	bin[len] = 0;
	assert_int_equal(cert_decode(bin, (size_t)len + 1, &d), -EBADMSG);
	bin[4] = 2; /* version */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[4] = 1;
	bin[5] = 3; /* kind */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[5] = 2;
	bin[6] |= 2; /* unknown flag */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[6] &= 1;
	bin[7] = 11; /* ntags */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[7] = 2;
	/* Tags: 104 + 4 (node ID) + 1 (empty name) = 109: len "api" */
	assert_int_equal(bin[109], 3);
	bin[110] = 'A'; /* upper case */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[110] = 0; /* NUL inside */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[110] = 'x'; /* "xpi" > "web"? no: sorted order broken only if > */
	bin[110] = 'z'; /* "zpi" after "web": not ascending */
	assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
	bin[110] = 'a';
	assert_int_equal(cert_decode(bin, (size_t)len, &d), 0);
	/* A node certificate carrying a name. */
	n.name[0] = 'x';
	assert_int_equal(cert_encode(&n, bin, sizeof(bin)), -EINVAL);
}

static void test_tags(void **state)
{
	struct cert c = {0};
	char t[CERT_TAG_MAX + 1];
	uint8_t sk[64], pk[32];

	(void)state;
	c.ntags = 4;
	strcpy(c.tags[0], "Web");
	strcpy(c.tags[1], "api");
	strcpy(c.tags[2], "web");
	strcpy(c.tags[3], "db.1");
	assert_null(cert_tags_canon(&c));
	assert_int_equal(c.ntags, 3);
	assert_string_equal(c.tags[0], "api");
	assert_string_equal(c.tags[1], "db.1");
	assert_string_equal(c.tags[2], "web");
	assert_non_null(cert_tag_norm("-x", t));
	assert_non_null(cert_tag_norm("a b", t));
	assert_non_null(cert_tag_norm("", t));
	/* cert_sign refuses tags that are not canonical. */
	crypto_sign_keypair(pk, sk);
	c.kind = CERT_KIND_NODE;
	c.not_before = 1;
	c.not_after = 2;
	strcpy(c.tags[0], "API");
	assert_int_equal(cert_sign(&c, sk), -EINVAL);
}

static void test_key_file(void **state)
{
	uint8_t pk[32], sk[64], out[64];
	char plain[CERT_KEYFILE_MAX], sealed[CERT_KEYFILE_MAX], bad[CERT_KEYFILE_MAX];
	int pl, sl;
	char *p;

	(void)state;
	crypto_sign_keypair(pk, sk);
	pl = cert_key_seal(sk, NULL, plain, sizeof(plain));
	assert_true(pl > 0);
	assert_int_equal(cert_key_open(plain, (size_t)pl, NULL, out), 0);
	assert_memory_equal(out, sk, 64);
	sl = cert_key_seal(sk, "pass phrase", sealed, sizeof(sealed));
	assert_true(sl > 0);
	assert_null(memmem(sealed, (size_t)sl, plain + 30, 20)); /* no plain bytes */
	assert_int_equal(cert_key_open(sealed, (size_t)sl, NULL, out), -ENOKEY);
	memset(out, 0, sizeof(out));
	assert_int_equal(cert_key_open(sealed, (size_t)sl, "pass phrase", out), 0);
	assert_memory_equal(out, sk, 64);
	assert_int_equal(cert_key_open(sealed, (size_t)sl, "wrong", out), -EACCES);
	/* One character of the sealed text changed (in the ciphertext). */
	memcpy(bad, sealed, (size_t)sl + 1);
	p = strstr(bad, "\n-----END");
	assert_non_null(p);
	p[-5] = p[-5] == 'A' ? 'B' : 'A';
	{
		int rc = cert_key_open(bad, (size_t)sl, "pass phrase", out);
		assert_true(rc == -EACCES || rc == -EBADMSG);
	}
	/* Not a key file at all. */
	assert_int_equal(cert_key_open("hello", 5, NULL, out), -EBADMSG);
}

static void test_key_file_cost_bounds(void **state)
{
	/* A sealed file claiming an opslimit of 1000: refused before any
	 * key derivation runs (a crafted file must not cost minutes). */
	uint8_t bin[6 + 16 + 16 + 24 + 80] = {'P', 'C', 'A', 'K', 1, 1};
	char b64[256], text[512];

	(void)state;
	for (int i = 0; i < 8; i++)
		bin[6 + 16 + i] = 0;
	bin[6 + 16 + 6] = 0x03;
	bin[6 + 16 + 7] = 0xe8;	    /* 1000 */
	bin[6 + 16 + 8 + 5] = 0x10; /* 1 MiB memlimit */
	assert_true(b64_encode(b64, sizeof(b64), bin, sizeof(bin)) > 0);
	snprintf(text, sizeof(text),
		 "-----BEGIN PILOT CA KEY-----\n%s\n-----END PILOT CA KEY-----\n", b64);
	{
		uint8_t out[64];
		assert_int_equal(cert_key_open(text, strlen(text), "x", out), -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),	  cmocka_unit_test(test_text_forms),
	    cmocka_unit_test(test_verify),	  cmocka_unit_test(test_tamper_every_byte),
	    cmocka_unit_test(test_decode_strict), cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_key_file),	  cmocka_unit_test(test_key_file_cost_bounds),
	};
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(node_pk, sizeof(node_pk));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
