/* test_cert.c - Pilot certificates (src/lib/cert.c, doc/CERT.md): making
 * and signing CA and node certificates, the binary layout and the signed
 * input as documented, binary and text round trips, verification (kind,
 * CA, signature, every byte of an encoding flipped, the validity windows),
 * strict decoding of hand-made encodings, tag canonicalisation, and the CA
 * key file, plain and sealed (Argon2id: at most four seal/open calls that
 * run it, about a second each). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cert.h"
#include "util.h"

#define T_NOW 1700000000ull
#define T_CA_NB (T_NOW - 86400)
#define T_CA_NA (T_NOW + 10 * 86400)
#define T_NB (T_NOW - 3600)
#define T_NA (T_NOW + 86400)
#define T_NODE_ID 0x0a0b0c0du
#define T_PASS "correct horse battery staple"

/* The context strings as doc/CERT.md gives them (NUL included). */
static const char SIGN_CTX[] = "pilot-cert-v1 sign";
static const char FP_CTX[] = "pilot-cert-v1 fingerprint";
static const char KEYID_CTX[] = "pilot-cert-v1 ca-key-id";

/* ---------------------------------------------------------------- helpers */

struct ca {
	uint8_t pk[32], sk[64];
	struct cert c;
};

static void make_ca(struct ca *ca, const char *name, uint64_t nb, uint64_t na)
{
	assert_int_equal(crypto_sign_keypair(ca->pk, ca->sk), 0);
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

/* A node certificate for a fresh key, signed by \p ca; tags NULL-ended
 * (already canonical). */
static void make_node(struct cert *c, const struct ca *ca, uint64_t nb, uint64_t na,
		      uint32_t node_id, const char *const *tags)
{
	uint8_t pk[32], sk[64];

	assert_int_equal(crypto_sign_keypair(pk, sk), 0);
	memset(c, 0, sizeof(*c));
	c->kind = CERT_KIND_NODE;
	randombytes_buf(c->serial, sizeof(c->serial));
	c->not_before = nb;
	c->not_after = na;
	memcpy(c->public_key, pk, 32);
	cert_key_id(ca->pk, c->issuer);
	c->has_node_id = node_id != 0;
	c->node_id = node_id;
	for (; tags && *tags; tags++)
		snprintf(c->tags[c->ntags++], sizeof(c->tags[0]), "%s", *tags);
	assert_int_equal(cert_sign(c, ca->sk), 0);
}

static const char *const web_db[] = {"db", "web", NULL};

static int encode(const struct cert *c, uint8_t *buf)
{
	int n = cert_encode(c, buf, CERT_MAX + 64);

	assert_true(n > 0 && n <= CERT_MAX);
	return n;
}

static void assert_cert_equal(const struct cert *a, const struct cert *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_memory_equal(a->serial, b->serial, CERT_SERIAL_LEN);
	assert_true(a->not_before == b->not_before);
	assert_true(a->not_after == b->not_after);
	assert_memory_equal(a->public_key, b->public_key, 32);
	assert_memory_equal(a->issuer, b->issuer, CERT_KEYID_LEN);
	assert_int_equal(!!a->has_node_id, !!b->has_node_id);
	assert_int_equal(a->node_id, b->node_id);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->ntags, b->ntags);
	for (size_t i = 0; i < a->ntags; i++)
		assert_string_equal(a->tags[i], b->tags[i]);
	assert_memory_equal(a->sig, b->sig, 64);
	assert_memory_equal(a->fingerprint, b->fingerprint, CERT_FP_LEN);
}

static uint64_t be64_at(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* A hand-made encoding: the fixed part (issuer and key filled with a
 * pattern), then [node ID], the name and the raw tag bytes (length
 * prefixes included), then a dummy signature.  cert_decode does not check
 * the signature, so a well-formed one decodes. */
static size_t raw(uint8_t *b, uint8_t version, uint8_t kind, uint8_t flags, uint8_t ntags,
		  uint32_t node_id, const char *name, size_t nl, const char *tags, size_t tl)
{
	size_t o = 0;

	memcpy(b, "PCRT", 4);
	b[4] = version;
	b[5] = kind;
	b[6] = flags;
	b[7] = ntags;
	memset(b + 8, 0x11, 16);
	put64(b + 24, T_NB);
	put64(b + 32, T_NA);
	memset(b + 40, 0x22, 32);
	memset(b + 72, 0x33, 32);
	o = 104;
	if (flags & 1) {
		b[o++] = (uint8_t)(node_id >> 24);
		b[o++] = (uint8_t)(node_id >> 16);
		b[o++] = (uint8_t)(node_id >> 8);
		b[o++] = (uint8_t)node_id;
	}
	b[o++] = (uint8_t)nl;
	memcpy(b + o, name, nl);
	o += nl;
	memcpy(b + o, tags, tl);
	o += tl;
	memset(b + o, 0x5a, 64);
	return o + 64;
}

/* String literal and its length (NULs inside counted). */
#define S(s) s, sizeof(s) - 1

static int decode_raw(const uint8_t *b, size_t n)
{
	struct cert c;

	return cert_decode(b, n, &c);
}

/* ------------------------------------------------------------------ tests */

static void test_codes(void **state)
{
	(void)state;
	assert_string_equal(cert_code(CERT_OK), "ok");
	assert_string_equal(cert_code(CERT_E_INVALID), "cert_invalid");
	assert_string_equal(cert_code(CERT_E_KIND), "cert_invalid");
	assert_string_equal(cert_code(CERT_E_WRONG_CA), "cert_wrong_ca");
	assert_string_equal(cert_code(CERT_E_SIGNATURE), "cert_bad_signature");
	assert_string_equal(cert_code(CERT_E_OUTLIVES_CA), "cert_invalid");
	assert_string_equal(cert_code(CERT_E_NOT_YET_VALID), "cert_not_yet_valid");
	assert_string_equal(cert_code(CERT_E_EXPIRED), "cert_expired");
	assert_string_equal(cert_code(CERT_E_CA_EXPIRED), "cert_ca_expired");
	assert_string_equal(cert_code(CERT_E_MAX), "cert_invalid");
	for (int e = 0; e <= CERT_E_MAX; e++)
		assert_non_null(cert_strerror((enum cert_err)e));
}

/* A self-signed CA; its key ID, signature and fingerprint are the
 * documented hashes over the documented inputs. */
static void test_ca_make(void **state)
{
	struct ca ca, other;
	uint8_t bin[CERT_MAX + 64], in[sizeof(SIGN_CTX) + CERT_MAX], id[32], fp[32];
	crypto_hash_sha256_state st;
	int n;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_ca(&other, "Example Org CA", T_CA_NB, T_CA_NA);

	/* Key ID: SHA-256(KEYID_CTX incl. NUL || pk). */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)KEYID_CTX, sizeof(KEYID_CTX));
	crypto_hash_sha256_update(&st, ca.pk, 32);
	crypto_hash_sha256_final(&st, id);
	cert_key_id(ca.pk, ca.c.issuer);
	assert_memory_equal(id, ca.c.issuer, 32);
	cert_key_id(other.pk, id);
	assert_memory_not_equal(id, ca.c.issuer, 32);

	n = encode(&ca.c, bin);
	/* The signature is Ed25519 over SIGN_CTX (with its NUL) || body. */
	memcpy(in, SIGN_CTX, sizeof(SIGN_CTX));
	memcpy(in + sizeof(SIGN_CTX), bin, (size_t)n - 64);
	assert_memory_equal(bin + n - 64, ca.c.sig, 64);
	assert_int_equal(
	    crypto_sign_verify_detached(ca.c.sig, in, sizeof(SIGN_CTX) + (size_t)n - 64, ca.pk), 0);
	/* Without the NUL it is another input. */
	memmove(in + sizeof(SIGN_CTX) - 1, in + sizeof(SIGN_CTX), (size_t)n - 64);
	assert_int_not_equal(
	    crypto_sign_verify_detached(ca.c.sig, in, sizeof(SIGN_CTX) - 1 + (size_t)n - 64, ca.pk),
	    0);
	/* Fingerprint: SHA-256(FP_CTX incl. NUL || body). */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)FP_CTX, sizeof(FP_CTX));
	crypto_hash_sha256_update(&st, bin, (size_t)n - 64);
	crypto_hash_sha256_final(&st, fp);
	assert_memory_equal(fp, ca.c.fingerprint, 32);

	assert_int_equal(cert_verify_ca(&ca.c, T_NOW), CERT_OK);
	assert_int_equal(cert_verify_ca(&ca.c, 0), CERT_OK);
	assert_int_equal(cert_verify_ca(&other.c, T_NOW), CERT_OK);
}

/* The encoding of a node certificate, byte by byte as in the table. */
static void test_node_layout(void **state)
{
	static const char *const tags[] = {"db", "eu-west.1", "web", NULL};
	struct ca ca;
	struct cert c;
	uint8_t bin[CERT_MAX + 64];
	int n;

	(void)state;
	make_ca(&ca, "ca", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_NA, T_NODE_ID, tags);
	n = encode(&c, bin);
	assert_int_equal(n, 104 + 4 + 1 + (1 + 2) + (1 + 9) + (1 + 3) + 64);
	assert_memory_equal(bin, "PCRT", 4);
	assert_int_equal(bin[4], CERT_VERSION);
	assert_int_equal(bin[5], CERT_KIND_NODE);
	assert_int_equal(bin[6], 1);
	assert_int_equal(bin[7], 3);
	assert_memory_equal(bin + 8, c.serial, 16);
	assert_true(be64_at(bin + 24) == T_NB);
	assert_true(be64_at(bin + 32) == T_NA);
	assert_memory_equal(bin + 40, c.public_key, 32);
	assert_memory_equal(bin + 72, ca.c.issuer, 32);
	assert_memory_equal(bin + 104, "\x0a\x0b\x0c\x0d", 4);
	assert_int_equal(bin[108], 0); /* no name */
	assert_memory_equal(bin + 109,
			    "\x02"
			    "db"
			    "\x09"
			    "eu-west.1"
			    "\x03"
			    "web",
			    3 + 10 + 4);
	assert_memory_equal(bin + n - 64, c.sig, 64);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_OK);

	/* A CA: no node ID, the name, no tags. */
	n = encode(&ca.c, bin);
	assert_int_equal(n, 104 + 1 + 2 + 64);
	assert_int_equal(bin[5], CERT_KIND_CA);
	assert_int_equal(bin[6], 0);
	assert_int_equal(bin[7], 0);
	assert_int_equal(bin[104], 2);
	assert_memory_equal(bin + 105, "ca", 2);

	/* Too little room. */
	assert_int_equal(cert_encode(&ca.c, bin, (size_t)n - 1), -ENOSPC);
	assert_int_equal(cert_encode(&ca.c, bin, (size_t)n), n);
}

static void test_roundtrip(void **state)
{
	struct ca ca;
	struct cert c, d;
	uint8_t bin[CERT_MAX + 64], bin2[CERT_MAX + 64];
	int n;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	n = encode(&ca.c, bin);
	assert_int_equal(cert_decode(bin, (size_t)n, &d), 0);
	assert_cert_equal(&ca.c, &d);

	for (int v = 0; v < 4; v++) {
		make_node(&c, &ca, T_NB, T_NA, v & 1 ? T_NODE_ID : 0, v & 2 ? web_db : NULL);
		n = encode(&c, bin);
		assert_int_equal(cert_decode(bin, (size_t)n, &d), 0);
		assert_cert_equal(&c, &d);
		assert_int_equal(encode(&d, bin2), n);
		assert_memory_equal(bin, bin2, (size_t)n);
		assert_int_equal(cert_verify_node(&d, &ca.c, T_NOW), CERT_OK);
	}
	/* Another certificate for the same fields but another serial has
	 * another fingerprint. */
	d = c;
	d.serial[0] ^= 1;
	assert_int_equal(cert_sign(&d, ca.sk), 0);
	assert_memory_not_equal(d.fingerprint, c.fingerprint, CERT_FP_LEN);
}

static void test_text(void **state)
{
	struct ca ca;
	struct cert c, d;
	char pem[CERT_PEM_MAX], b64[CERT_PEM_MAX], messy[2 * CERT_PEM_MAX];
	size_t o = 0, plen;
	int n;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_NA, T_NODE_ID, web_db);

	n = cert_to_pem(&c, pem, sizeof(pem));
	assert_true(n > 0);
	plen = (size_t)n;
	assert_int_equal(strlen(pem), plen);
	assert_true(strncmp(pem, "-----BEGIN PILOT CERTIFICATE-----\n", 34) == 0);
	assert_non_null(strstr(pem, "\n-----END PILOT CERTIFICATE-----\n"));
	assert_int_equal(cert_from_text(pem, plen, &d), 0);
	assert_cert_equal(&c, &d);

	assert_int_equal(cert_to_b64(&c, b64, sizeof(b64)), 0);
	assert_null(strchr(b64, '\n'));
	assert_int_equal(cert_from_text(b64, strlen(b64), &d), 0);
	assert_cert_equal(&c, &d);

	/* Armor with CRLF, leading text, blank lines and stray spaces. */
	o += (size_t)snprintf(messy + o, sizeof(messy) - o, "a comment\r\n\r\n");
	for (size_t i = 0; i < plen; i++) {
		if (pem[i] == '\n') {
			messy[o++] = ' ';
			messy[o++] = '\r';
			messy[o++] = '\n';
			messy[o++] = '\t';
		} else {
			messy[o++] = pem[i];
		}
	}
	messy[o] = '\0';
	assert_int_equal(cert_from_text(messy, o, &d), 0);
	assert_cert_equal(&c, &d);
	/* Bare base64 with whitespace. */
	snprintf(messy, sizeof(messy), "  %.20s\r\n%s\n\n", b64, b64 + 20);
	assert_int_equal(cert_from_text(messy, strlen(messy), &d), 0);
	assert_cert_equal(&c, &d);

	/* The CA certificate too. */
	assert_true(cert_to_pem(&ca.c, pem, sizeof(pem)) > 0);
	assert_int_equal(cert_from_text(pem, strlen(pem), &d), 0);
	assert_cert_equal(&ca.c, &d);

	/* Refused: another label, an END missing, a base64 error, a NUL. */
	snprintf(pem, sizeof(pem), "-----BEGIN PILOT CA KEY-----\n%s\n-----END PILOT CA KEY-----\n",
		 b64);
	assert_int_equal(cert_from_text(pem, strlen(pem), &d), -EBADMSG);
	n = cert_to_pem(&c, pem, sizeof(pem));
	*strstr(pem, "-----END") = '\0';
	assert_int_equal(cert_from_text(pem, strlen(pem), &d), -EBADMSG);
	n = cert_to_pem(&c, pem, sizeof(pem));
	pem[40] = '*';
	assert_int_equal(cert_from_text(pem, (size_t)n, &d), -EBADMSG);
	n = cert_to_pem(&c, pem, sizeof(pem));
	pem[40] = '\0';
	assert_int_equal(cert_from_text(pem, (size_t)n, &d), -EBADMSG);
	assert_int_equal(cert_from_text("", 0, &d), -EBADMSG);

	/* Too little room. */
	assert_int_equal(cert_to_pem(&c, pem, 40), -ENOSPC);
	assert_int_equal(cert_to_b64(&c, b64, 40), -ENOSPC);
}

static void test_verify_ca(void **state)
{
	struct ca ca, other;
	struct cert c, d;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_ca(&other, "Other CA", T_CA_NB, T_CA_NA);
	assert_int_equal(cert_verify_ca(&ca.c, T_NOW), CERT_OK);

	/* The self-signature broken. */
	d = ca.c;
	d.sig[10] ^= 0x01;
	assert_int_equal(cert_verify_ca(&d, T_NOW), CERT_E_SIGNATURE);
	/* A field changed after signing. */
	d = ca.c;
	d.name[0] ^= 0x01;
	assert_int_equal(cert_verify_ca(&d, T_NOW), CERT_E_SIGNATURE);
	/* Signed by another CA's key (still naming itself as issuer). */
	d = ca.c;
	assert_int_equal(cert_sign(&d, other.sk), 0);
	assert_int_equal(cert_verify_ca(&d, T_NOW), CERT_E_SIGNATURE);
	/* Not self-issued. */
	d = ca.c;
	memcpy(d.issuer, other.c.issuer, CERT_KEYID_LEN);
	assert_int_equal(cert_sign(&d, ca.sk), 0);
	assert_int_equal(cert_verify_ca(&d, T_NOW), CERT_E_INVALID);
	/* A node certificate is not a CA. */
	make_node(&c, &ca, T_NB, T_NA, 0, NULL);
	assert_int_equal(cert_verify_ca(&c, T_NOW), CERT_E_KIND);
	/* The window (not-before with the skew, not-after excluded). */
	assert_int_equal(cert_verify_ca(&ca.c, T_CA_NB - CERT_SKEW_S - 1), CERT_E_CA_EXPIRED);
	assert_int_equal(cert_verify_ca(&ca.c, T_CA_NB - CERT_SKEW_S), CERT_OK);
	assert_int_equal(cert_verify_ca(&ca.c, T_CA_NA - 1), CERT_OK);
	assert_int_equal(cert_verify_ca(&ca.c, T_CA_NA), CERT_E_CA_EXPIRED);
}

static void test_verify_node(void **state)
{
	struct ca ca, other;
	struct cert c, d, x;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_ca(&other, "Other CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_NA, T_NODE_ID, web_db);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_OK);

	/* Another CA. */
	assert_int_equal(cert_verify_node(&c, &other.c, T_NOW), CERT_E_WRONG_CA);
	/* Claims the other CA as issuer but signed by ours. */
	d = c;
	memcpy(d.issuer, other.c.issuer, CERT_KEYID_LEN);
	assert_int_equal(cert_sign(&d, ca.sk), 0);
	assert_int_equal(cert_verify_node(&d, &other.c, T_NOW), CERT_E_SIGNATURE);
	assert_int_equal(cert_verify_node(&d, &ca.c, T_NOW), CERT_E_WRONG_CA);
	/* A CA certificate that is not self-signed is no CA at all. */
	x = ca.c;
	x.sig[0] ^= 1;
	assert_int_equal(cert_verify_node(&c, &x, T_NOW), CERT_E_WRONG_CA);
	/* A field changed after signing. */
	d = c;
	d.node_id++;
	assert_int_equal(cert_verify_node(&d, &ca.c, T_NOW), CERT_E_SIGNATURE);
	d = c;
	d.tags[1][0] = 'x';
	assert_int_equal(cert_verify_node(&d, &ca.c, T_NOW), CERT_E_SIGNATURE);
	/* A CA certificate given as a node certificate, and a node's as the CA. */
	assert_int_equal(cert_verify_node(&ca.c, &ca.c, T_NOW), CERT_E_KIND);
	assert_int_equal(cert_verify_node(&c, &c, T_NOW), CERT_E_KIND);
}

/* Every byte of an encoded node certificate flipped: never valid. */
static void test_tamper(void **state)
{
	struct ca ca;
	struct cert c, d;
	uint8_t bin[CERT_MAX + 64];
	int n, refused = 0, badsig = 0, wrongca = 0;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_NA, T_NODE_ID, web_db);
	n = encode(&c, bin);
	assert_int_equal(n, 104 + 4 + 1 + 3 + 4 + 64); /* the offsets below */
	assert_int_equal(cert_decode(bin, (size_t)n, &d), 0);
	assert_int_equal(cert_verify_node(&d, &ca.c, T_NOW), CERT_OK);

	for (int i = 0; i < n; i++) {
		enum cert_err e;
		int rc;

		bin[i] ^= 0x01;
		rc = cert_decode(bin, (size_t)n, &d);
		if (rc != 0) {
			assert_int_equal(rc, -EBADMSG);
			refused++;
		} else {
			e = cert_verify_node(&d, &ca.c, T_NOW);
			if (e == CERT_OK)
				print_error("byte %d flipped: still valid\n", i);
			assert_int_not_equal(e, CERT_OK);
			if (i >= 72 && i < 104) {
				assert_int_equal(e, CERT_E_WRONG_CA);
				wrongca++;
			} else {
				assert_int_equal(e, CERT_E_SIGNATURE);
				badsig++;
			}
		}
		bin[i] ^= 0x01;
	}
	/* Positions whose outcome is certain. */
	assert_int_equal(wrongca, 32);
	assert_true(badsig >= 16 + 32 + 64); /* serial, key, signature at least */
	assert_true(refused >= 8);	     /* magic, version, kind, flags, ntags */

	/* Each field by name. */
	{
		static const struct {
			int off;
			enum cert_err want; /* CERT_E_INVALID: decoding refuses */
		} f[] = {
		    {0, CERT_E_INVALID},     /* magic */
		    {4, CERT_E_INVALID},     /* version */
		    {5, CERT_E_INVALID},     /* kind */
		    {6, CERT_E_INVALID},     /* flags */
		    {7, CERT_E_INVALID},     /* ntags */
		    {8, CERT_E_SIGNATURE},   /* serial */
		    {23, CERT_E_SIGNATURE},  /* serial */
		    {24, CERT_E_INVALID},    /* not_before: past not_after */
		    {31, CERT_E_SIGNATURE},  /* not_before */
		    {32, CERT_E_SIGNATURE},  /* not_after */
		    {39, CERT_E_SIGNATURE},  /* not_after */
		    {40, CERT_E_SIGNATURE},  /* public_key */
		    {71, CERT_E_SIGNATURE},  /* public_key */
		    {72, CERT_E_WRONG_CA},   /* issuer */
		    {103, CERT_E_WRONG_CA},  /* issuer */
		    {104, CERT_E_SIGNATURE}, /* node_id */
		    {107, CERT_E_SIGNATURE}, /* node_id */
		    {108, CERT_E_INVALID},   /* name length: a node has none */
		    {109, CERT_E_INVALID},   /* tag length */
		    {110, CERT_E_SIGNATURE}, /* "db" -> "eb" */
		    {111, CERT_E_SIGNATURE}, /* "db" -> "dc" */
		    {112, CERT_E_INVALID},   /* tag length */
		    {113, CERT_E_SIGNATURE}, /* "web" -> "veb" */
		    {115, CERT_E_SIGNATURE}, /* "web" -> "wec" */
		    {116, CERT_E_SIGNATURE}, /* signature */
		    {179, CERT_E_SIGNATURE}, /* signature, last byte */
		};
		uint8_t tmp[CERT_MAX + 64];

		for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			int rc, off = f[k].off;

			memcpy(tmp, bin, (size_t)n);
			tmp[off] ^= 0x01;
			rc = cert_decode(tmp, (size_t)n, &d);
			if (f[k].want == CERT_E_INVALID) {
				if (rc != -EBADMSG)
					print_error("offset %d: decoded\n", off);
				assert_int_equal(rc, -EBADMSG);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(cert_verify_node(&d, &ca.c, T_NOW), f[k].want);
			}
		}
	}
}

/* The window: not-before with CERT_SKEW_S of leeway, not-after excluded. */
static void test_window(void **state)
{
	struct ca ca;
	struct cert c;
	uint64_t nb = T_NOW + 1000, na = T_NOW + 2000;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, nb, na, 0, NULL);
	assert_int_equal(cert_verify_node(&c, &ca.c, nb - CERT_SKEW_S - 1), CERT_E_NOT_YET_VALID);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_E_NOT_YET_VALID);
	assert_int_equal(cert_verify_node(&c, &ca.c, nb - CERT_SKEW_S), CERT_OK);
	assert_int_equal(cert_verify_node(&c, &ca.c, nb - 1), CERT_OK);
	assert_int_equal(cert_verify_node(&c, &ca.c, nb), CERT_OK);
	assert_int_equal(cert_verify_node(&c, &ca.c, na - 1), CERT_OK);
	assert_int_equal(cert_verify_node(&c, &ca.c, na), CERT_E_EXPIRED);
	assert_int_equal(cert_verify_node(&c, &ca.c, na + 1), CERT_E_EXPIRED);
}

/* A leaf may not outlive its CA nor start before it (less the skew). */
static void test_outlives_ca(void **state)
{
	struct ca ca;
	struct cert c;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_CA_NA + 1, 0, NULL);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_E_OUTLIVES_CA);
	make_node(&c, &ca, T_NB, T_CA_NA, 0, NULL);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_OK);
	make_node(&c, &ca, T_CA_NB - CERT_SKEW_S - 1, T_NA, 0, NULL);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_E_OUTLIVES_CA);
	make_node(&c, &ca, T_CA_NB - CERT_SKEW_S, T_NA, 0, NULL);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_OK);
}

static void test_ca_expired(void **state)
{
	struct ca ca;
	struct cert c;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_CA_NA, 0, NULL);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_CA_NA - 1), CERT_OK);
	/* The CA's window is checked before the leaf's. */
	assert_int_equal(cert_verify_node(&c, &ca.c, T_CA_NA), CERT_E_CA_EXPIRED);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_CA_NA + 86400), CERT_E_CA_EXPIRED);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_CA_NB - CERT_SKEW_S - 1), CERT_E_CA_EXPIRED);
	assert_int_equal(cert_verify_ca(&ca.c, T_CA_NA), CERT_E_CA_EXPIRED);
}

static void test_decode_truncated(void **state)
{
	struct ca ca;
	struct cert c, d;
	uint8_t bin[CERT_MAX + 64 + 1];
	int n;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	for (int v = 0; v < 2; v++) {
		if (v)
			make_node(&c, &ca, T_NB, T_NA, T_NODE_ID, web_db);
		else
			c = ca.c;
		n = encode(&c, bin);
		for (int len = 0; len < n; len++)
			assert_int_equal(cert_decode(bin, (size_t)len, &d), -EBADMSG);
		bin[n] = 0;
		assert_int_equal(cert_decode(bin, (size_t)n + 1, &d), -EBADMSG);
		assert_int_equal(cert_decode(bin, (size_t)n, &d), 0);
	}
}

static void test_decode_strict(void **state)
{
	uint8_t b[2 * CERT_MAX];
	char many[12 * 2 + 1];
	struct cert c;
	uint8_t again[CERT_MAX + 64];
	size_t n;

	(void)state;
	/* The baselines decode, and encode back to themselves. */
	n = raw(b, 1, CERT_KIND_NODE, 1, 2, 7, S(""),
		S("\x02"
		  "db"
		  "\x03"
		  "web"));
	assert_int_equal(cert_decode(b, n, &c), 0);
	assert_int_equal(c.node_id, 7);
	assert_int_equal(cert_encode(&c, again, sizeof(again)), (int)n);
	assert_memory_equal(again, b, n);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0, S("CA ~ name"), S(""));
	assert_int_equal(decode_raw(b, n), 0);
	n = raw(b, 1, CERT_KIND_NODE, 0, 0, 0, S(""), S(""));
	assert_int_equal(decode_raw(b, n), 0);

	/* Magic, version, kind, flags. */
	n = raw(b, 1, CERT_KIND_NODE, 0, 0, 0, S(""), S(""));
	b[0] = 'X';
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	for (int v = 0; v < 256; v += 1) {
		n = raw(b, (uint8_t)v, CERT_KIND_NODE, 0, 0, 0, S(""), S(""));
		assert_int_equal(decode_raw(b, n), v == 1 ? 0 : -EBADMSG);
		n = raw(b, 1, (uint8_t)v, 0, 0, 0, S(""), S(""));
		assert_int_equal(decode_raw(b, n), v == CERT_KIND_NODE ? 0 : -EBADMSG);
		n = raw(b, 1, CERT_KIND_NODE, (uint8_t)v, 0, 7, S(""), S(""));
		assert_int_equal(decode_raw(b, n), v <= 1 ? 0 : -EBADMSG);
	}

	/* ntags: 10 is the most; 11 refused even with 11 good tags. */
	for (int k = 0; k < 12; k++) {
		many[2 * k] = 1;
		many[2 * k + 1] = (char)('a' + k);
	}
	n = raw(b, 1, CERT_KIND_NODE, 0, 10, 0, S(""), many, 20);
	assert_int_equal(decode_raw(b, n), 0);
	n = raw(b, 1, CERT_KIND_NODE, 0, 11, 0, S(""), many, 22);
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 12, 0, S(""), many, 24);
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	/* ntags more or fewer than there are. */
	n = raw(b, 1, CERT_KIND_NODE, 0, 3, 0, S(""), many, 4);
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""), many, 4);
	assert_int_equal(decode_raw(b, n), -EBADMSG);

	/* Tags: upper case, unsorted, duplicate, a NUL, empty, too long,
	 * a bad character, a bad first character. */
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""), S("\x03Web"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 2, 0, S(""),
		S("\x03"
		  "web"
		  "\x02"
		  "db"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 2, 0, S(""),
		S("\x02"
		  "db"
		  "\x02"
		  "db"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x03"
		  "d\0b"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x03"
		  "db\0"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""), S("\x00"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x20"
		  "abcdefghijklmnopqrstuvwxyz012345"));
	assert_int_equal(decode_raw(b, n), 0);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x21"
		  "abcdefghijklmnopqrstuvwxyz0123456"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x03"
		  "a b"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x03"
		  "-ab"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_NODE, 0, 1, 0, S(""),
		S("\x03"
		  "a-b"));
	assert_int_equal(decode_raw(b, n), 0);

	/* Names: a node has none; a CA's is 1-63 printable characters. */
	n = raw(b, 1, CERT_KIND_NODE, 0, 0, 0, S("x"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0, S(""), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0, S("Ex\0mple"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0, S("Example\0"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0, S("Ex\nmple"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0, S("Ex\x7fmple"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0,
		S("123456789012345678901234567890123456789012345678901234567890123"), S(""));
	assert_int_equal(decode_raw(b, n), 0);
	n = raw(b, 1, CERT_KIND_CA, 0, 0, 0,
		S("1234567890123456789012345678901234567890123456789012345678901234"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	/* A CA has no node ID and no tags. */
	n = raw(b, 1, CERT_KIND_CA, 1, 0, 7, S("CA"), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	n = raw(b, 1, CERT_KIND_CA, 0, 1, 0, S("CA"), S("\x01x"));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	/* A node ID is never 0. */
	n = raw(b, 1, CERT_KIND_NODE, 1, 0, 0, S(""), S(""));
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	/* not_after after not_before. */
	n = raw(b, 1, CERT_KIND_NODE, 0, 0, 0, S(""), S(""));
	put64(b + 32, T_NB);
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	put64(b + 32, T_NB - 1);
	assert_int_equal(decode_raw(b, n), -EBADMSG);
	put64(b + 32, T_NB + 1);
	assert_int_equal(decode_raw(b, n), 0);
	/* Longer than CERT_MAX. */
	memset(b, 0, sizeof(b));
	memcpy(b, "PCRT\x01\x02", 6);
	assert_int_equal(decode_raw(b, CERT_MAX + 1), -EBADMSG);
}

static void test_sign_rules(void **state)
{
	struct ca ca;
	struct cert c, d;

	(void)state;
	make_ca(&ca, "Example Org CA", T_CA_NB, T_CA_NA);
	make_node(&c, &ca, T_NB, T_NA, T_NODE_ID, web_db);

	/* Tags not canonical: upper case, unsorted, duplicate, bad. */
	d = c;
	strcpy(d.tags[1], "Web");
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	strcpy(d.tags[0], "web");
	strcpy(d.tags[1], "db");
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	strcpy(d.tags[1], "db");
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	strcpy(d.tags[1], "w b");
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	d.ntags = CERT_TAGS_MAX + 1;
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	/* Other rules. */
	d = c;
	strcpy(d.name, "node");
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	d.node_id = 0;
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	d.not_after = d.not_before;
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = c;
	d.kind = 3;
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = ca.c;
	d.ntags = 1;
	strcpy(d.tags[0], "web");
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = ca.c;
	d.name[0] = '\0';
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	d = ca.c;
	d.has_node_id = 1;
	d.node_id = 5;
	assert_int_equal(cert_sign(&d, ca.sk), -EINVAL);
	/* ... and cert_encode refuses the same. */
	d = c;
	strcpy(d.tags[1], "Web");
	{
		uint8_t bin[CERT_MAX + 64];

		assert_int_equal(cert_encode(&d, bin, sizeof(bin)), -EINVAL);
	}

	/* cert_tags_canon fixes case, order and duplicates. */
	memset(&d, 0, sizeof(d));
	d.ntags = 5;
	strcpy(d.tags[0], "Web");
	strcpy(d.tags[1], "db");
	strcpy(d.tags[2], "WEB");
	strcpy(d.tags[3], "API.v2");
	strcpy(d.tags[4], "db");
	assert_null(cert_tags_canon(&d));
	assert_int_equal(d.ntags, 3);
	assert_string_equal(d.tags[0], "api.v2");
	assert_string_equal(d.tags[1], "db");
	assert_string_equal(d.tags[2], "web");
	assert_null(cert_tags_canon(&d)); /* idempotent */
	assert_int_equal(d.ntags, 3);
	c.ntags = d.ntags;
	memcpy(c.tags, d.tags, sizeof(c.tags));
	assert_int_equal(cert_sign(&c, ca.sk), 0);
	assert_int_equal(cert_verify_node(&c, &ca.c, T_NOW), CERT_OK);

	/* ... and rejects bad tags. */
	{
		static const char *const bad[] = {
		    "",	   "-web", ".web",	"_web",
		    "w b", "w/b",  "w\xc3\xa9", "abcdefghijklmnopqrstuvwxyz0123456"};
		char out[CERT_TAG_MAX + 1];

		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			memset(&d, 0, sizeof(d));
			d.ntags = 2;
			strcpy(d.tags[0], "ok");
			strcpy(d.tags[1], bad[k]);
			assert_non_null(cert_tags_canon(&d));
			assert_non_null(cert_tag_norm(bad[k], out));
		}
		assert_null(cert_tag_norm("Eu-West_1.B", out));
		assert_string_equal(out, "eu-west_1.b");
		assert_null(cert_tag_norm("abcdefghijklmnopqrstuvwxyz012345", out));
	}
	memset(&d, 0, sizeof(d));
	d.ntags = CERT_TAGS_MAX + 1;
	for (size_t k = 0; k < CERT_TAGS_MAX; k++)
		snprintf(d.tags[k], sizeof(d.tags[k]), "t%zu", k);
	assert_non_null(cert_tags_canon(&d));
}

/* ------------------------------------------------------------ CA key file */

/* The binary inside a key file's armor. */
static int key_dearmor(const char *text, uint8_t *bin, size_t cap)
{
	char b64[1024];
	const char *p = strchr(text, '\n');
	size_t o = 0;

	assert_non_null(p);
	for (p++; *p && *p != '-'; p++)
		if (*p != '\n')
			b64[o++] = *p;
	b64[o] = '\0';
	return b64_decode(bin, cap, b64);
}

static void key_armor(const uint8_t *bin, size_t len, char *out, size_t cap)
{
	char b64[1024];
	size_t o;

	assert_true(b64_encode(b64, sizeof(b64), bin, len) > 0);
	o = (size_t)snprintf(out, cap, "-----BEGIN PILOT CA KEY-----\n");
	for (size_t i = 0; i < strlen(b64); i += 64)
		o += (size_t)snprintf(out + o, cap - o, "%.64s\n", b64 + i);
	snprintf(out + o, cap - o, "-----END PILOT CA KEY-----\n");
}

static void test_key_plain(void **state)
{
	uint8_t pk[32], sk[64], back[64], bin[256];
	char text[CERT_KEYFILE_MAX], other[CERT_KEYFILE_MAX];
	int n;

	(void)state;
	assert_int_equal(crypto_sign_keypair(pk, sk), 0);
	n = cert_key_seal(sk, NULL, text, sizeof(text));
	assert_true(n > 0 && n < CERT_KEYFILE_MAX);
	assert_int_equal(strlen(text), (size_t)n);
	assert_true(strncmp(text, "-----BEGIN PILOT CA KEY-----\n", 29) == 0);
	memset(back, 0, sizeof(back));
	assert_int_equal(cert_key_open(text, (size_t)n, NULL, back), 0);
	assert_memory_equal(back, sk, 64);
	/* A passphrase given for a plain file does not matter. */
	assert_int_equal(cert_key_open(text, (size_t)n, "x", back), 0);
	assert_memory_equal(back, sk, 64);

	/* The layout: "PCAK", version 1, mode 0, the key. */
	assert_int_equal(key_dearmor(text, bin, sizeof(bin)), 6 + 64);
	assert_memory_equal(bin, "PCAK\x01\x00", 6);
	assert_memory_equal(bin + 6, sk, 64);

	/* Refused: wrong length, mode, version, magic, a certificate. */
	key_armor(bin, 6 + 63, other, sizeof(other));
	assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -EBADMSG);
	bin[5] = 2;
	key_armor(bin, 6 + 64, other, sizeof(other));
	assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -EBADMSG);
	bin[5] = 0;
	bin[4] = 2;
	key_armor(bin, 6 + 64, other, sizeof(other));
	assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -EBADMSG);
	bin[4] = 1;
	bin[0] = 'X';
	key_armor(bin, 6 + 64, other, sizeof(other));
	assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -EBADMSG);
	assert_int_equal(cert_key_open("", 0, NULL, back), -EBADMSG);
	{
		struct ca ca;
		char pem[CERT_PEM_MAX];

		make_ca(&ca, "CA", T_CA_NB, T_CA_NA);
		assert_true(cert_to_pem(&ca.c, pem, sizeof(pem)) > 0);
		assert_int_equal(cert_key_open(pem, strlen(pem), NULL, back), -EBADMSG);
	}
	assert_int_equal(cert_key_seal(sk, NULL, text, 40), -ENOSPC);
}

/* Argon2id runs in four calls here: seal, open, wrong passphrase, and the
 * altered file; everything else is refused before it. */
static void test_key_sealed(void **state)
{
	uint8_t pk[32], sk[64], back[64], bin[256];
	char text[CERT_KEYFILE_MAX], other[CERT_KEYFILE_MAX], *body;
	uint64_t ops, mem;
	int n, rc;

	(void)state;
	memset(bin, 0, sizeof(bin));
	assert_int_equal(crypto_sign_keypair(pk, sk), 0);
	n = cert_key_seal(sk, T_PASS, text, sizeof(text)); /* Argon2 1 */
	assert_true(n > 0 && n < CERT_KEYFILE_MAX);
	assert_null(strstr(text, "\n\n"));

	/* The layout: header, salt, the cost parameters stored, nonce, box. */
	assert_int_equal(key_dearmor(text, bin, sizeof(bin)), 6 + 16 + 16 + 24 + 64 + 16);
	assert_memory_equal(bin, "PCAK\x01\x01", 6);
	ops = be64_at(bin + 22);
	mem = be64_at(bin + 30);
	assert_true(ops == crypto_pwhash_OPSLIMIT_MODERATE);
	assert_true(mem == crypto_pwhash_MEMLIMIT_MODERATE);
	assert_null(memmem(bin, 142, sk, 16)); /* not in the clear */

	memset(back, 0, sizeof(back));
	assert_int_equal(cert_key_open(text, (size_t)n, T_PASS, back), 0); /* Argon2 2 */
	assert_memory_equal(back, sk, 64);
	assert_int_equal(cert_key_open(text, (size_t)n, "wrong", back), -EACCES); /* Argon2 3 */
	assert_int_equal(cert_key_open(text, (size_t)n, NULL, back), -ENOKEY);

	/* One base64 character of the body changed (in the box). */
	memcpy(other, text, (size_t)n + 1);
	body = strchr(other, '\n') + 1;
	assert_true(body[100] != '\n');
	body[100] = body[100] == 'A' ? 'B' : 'A';
	rc = cert_key_open(other, (size_t)n, T_PASS, back); /* Argon2 4 */
	assert_true(rc == -EACCES || rc == -EBADMSG);

	/* Cost parameters out of bounds: refused before any work. */
	{
		static const struct {
			uint64_t ops, mem;
		} bad[] = {
		    {1000, crypto_pwhash_MEMLIMIT_MODERATE},
		    {17, crypto_pwhash_MEMLIMIT_MODERATE},
		    {0, crypto_pwhash_MEMLIMIT_MODERATE},
		    {crypto_pwhash_OPSLIMIT_MODERATE, ((uint64_t)1 << 30) + 1},
		    {crypto_pwhash_OPSLIMIT_MODERATE, UINT64_MAX},
		    {crypto_pwhash_OPSLIMIT_MODERATE, 0},
		};
		uint8_t tb[256];

		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			memcpy(tb, bin, sizeof(tb));
			put64(tb + 22, bad[k].ops);
			put64(tb + 30, bad[k].mem);
			key_armor(tb, 142, other, sizeof(other));
			assert_int_equal(cert_key_open(other, strlen(other), T_PASS, back),
					 -EBADMSG);
		}
		/* Re-armored unchanged it still is a sealed file (no Argon2:
		 * no passphrase). */
		key_armor(bin, 142, other, sizeof(other));
		assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -ENOKEY);
		/* Another mode with a sealed file's length. */
		memcpy(tb, bin, 142);
		tb[5] = 2;
		key_armor(tb, 142, other, sizeof(other));
		assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -EBADMSG);
		tb[5] = 0;
		key_armor(tb, 142, other, sizeof(other));
		assert_int_equal(cert_key_open(other, strlen(other), NULL, back), -EBADMSG);
		/* A sealed file one byte short or long. */
		key_armor(bin, 141, other, sizeof(other));
		assert_int_equal(cert_key_open(other, strlen(other), T_PASS, back), -EBADMSG);
		memcpy(tb, bin, 142);
		tb[142] = 0;
		key_armor(tb, 143, other, sizeof(other));
		assert_int_equal(cert_key_open(other, strlen(other), T_PASS, back), -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codes),	  cmocka_unit_test(test_ca_make),
	    cmocka_unit_test(test_node_layout),	  cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_text),	  cmocka_unit_test(test_verify_ca),
	    cmocka_unit_test(test_verify_node),	  cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_window),	  cmocka_unit_test(test_outlives_ca),
	    cmocka_unit_test(test_ca_expired),	  cmocka_unit_test(test_decode_truncated),
	    cmocka_unit_test(test_decode_strict), cmocka_unit_test(test_sign_rules),
	    cmocka_unit_test(test_key_plain),	  cmocka_unit_test(test_key_sealed),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
