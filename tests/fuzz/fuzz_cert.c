/* fuzz_cert.c - the certificate codec (src/lib/cert.c), fed the same bytes
 * as a binary certificate, as text (armored or bare base64) and as a CA key
 * file.  Oracles:
 *   - a decoded certificate encodes back to exactly the input, has the
 *     fingerprint of its signed part, and its text forms decode to it;
 *   - its tags are canonical already (cert_tags_canon changes nothing);
 *   - verification answers with a known code, and CERT_OK only for what
 *     the rules allow (kind, issuer, windows);
 *   - a decoded node certificate re-signed by the fixed CA (its window cut
 *     to the CA's) verifies, and expires exactly at its not-after;
 *   - a key file that opens seals back to one that opens to the same key.
 * A violation aborts, so libFuzzer reports it like a crash.
 *
 * The fixed CA comes from a constant seed, so a corpus of node
 * certificates it signed (tests/fuzz/corpus/cert) reaches the signature
 * and window checks.  Key files are opened without a passphrase only:
 * Argon2id (MODERATE) would cost a second per input. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FZ_MAX 4096
#define FZ_SEED_FILL 0x43 /* the fixed CA's seed: memset(seed, 0x43, 32) */
#define FZ_CA_NB 1600000000ull
#define FZ_CA_NA 2000000000ull
#define FZ_NOW 1700000000ull

static uint8_t fz_ca_pk[32], fz_ca_sk[64];
static struct cert fz_ca;

static void fz_setup(void)
{
	static int done;
	uint8_t seed[32];

	if (done)
		return;
	done = 1;
	if (sodium_init() < 0)
		abort();
	memset(seed, FZ_SEED_FILL, sizeof(seed));
	if (crypto_sign_seed_keypair(fz_ca_pk, fz_ca_sk, seed) != 0)
		abort();
	memset(&fz_ca, 0, sizeof(fz_ca));
	fz_ca.kind = CERT_KIND_CA;
	memset(fz_ca.serial, 0xca, sizeof(fz_ca.serial));
	fz_ca.not_before = FZ_CA_NB;
	fz_ca.not_after = FZ_CA_NA;
	memcpy(fz_ca.public_key, fz_ca_pk, 32);
	cert_key_id(fz_ca_pk, fz_ca.issuer);
	memcpy(fz_ca.name, "fuzz CA", 8);
	if (cert_sign(&fz_ca, fz_ca_sk) != 0 || cert_verify_ca(&fz_ca, FZ_NOW) != CERT_OK)
		abort();
}

static int fz_same(const struct cert *a, const struct cert *b)
{
	uint8_t x[CERT_MAX + 64], y[CERT_MAX + 64];
	int m = cert_encode(a, x, sizeof(x)), k = cert_encode(b, y, sizeof(y));

	return m > 0 && m == k && memcmp(x, y, (size_t)m) == 0 &&
	       memcmp(a->fingerprint, b->fingerprint, CERT_FP_LEN) == 0;
}

static void fz_check_err(enum cert_err e)
{
	if ((unsigned)e >= CERT_E_MAX || !cert_strerror(e) || !cert_code(e))
		abort();
}

/* Does \p now fall in \p c's window as the rules have it? */
static int fz_in_window(const struct cert *c, uint64_t now)
{
	return now + CERT_SKEW_S >= c->not_before && now < c->not_after;
}

static void fz_verify(const struct cert *c)
{
	uint8_t id[CERT_KEYID_LEN];
	enum cert_err e;

	e = cert_verify_ca(c, 0);
	fz_check_err(e);
	if ((c->kind != CERT_KIND_CA) != (e == CERT_E_KIND))
		abort();
	cert_key_id(c->public_key, id);
	if (e == CERT_OK && memcmp(id, c->issuer, sizeof(id)) != 0)
		abort();
	if (e == CERT_OK && (cert_verify_ca(c, FZ_NOW) == CERT_OK) != fz_in_window(c, FZ_NOW))
		abort();

	e = cert_verify_node(c, &fz_ca, FZ_NOW);
	fz_check_err(e);
	if (c->kind != CERT_KIND_NODE && e != CERT_E_KIND)
		abort();
	if (e == CERT_OK &&
	    (memcmp(c->issuer, fz_ca.issuer, CERT_KEYID_LEN) != 0 ||
	     c->not_after > fz_ca.not_after || c->not_before + CERT_SKEW_S < fz_ca.not_before ||
	     !fz_in_window(c, FZ_NOW)))
		abort();
	/* As its own CA: only a CA passes, and a CA is never a node. */
	e = cert_verify_node(c, c, FZ_NOW);
	fz_check_err(e);
	if (e == CERT_OK)
		abort();
}

/* Re-signed by the fixed CA, within its window: valid from not-before
 * (less the skew) up to, not including, not-after. */
static void fz_resign(const struct cert *in)
{
	struct cert c = *in;
	enum cert_err e;

	if (c.kind != CERT_KIND_NODE)
		return;
	memcpy(c.issuer, fz_ca.issuer, CERT_KEYID_LEN);
	if (c.not_before < fz_ca.not_before)
		c.not_before = fz_ca.not_before;
	if (c.not_after > fz_ca.not_after)
		c.not_after = fz_ca.not_after;
	if (c.not_before >= c.not_after)
		return;
	if (cert_sign(&c, fz_ca_sk) != 0)
		abort(); /* a decoded certificate keeps every rule */
	if (cert_verify_node(&c, &fz_ca, c.not_before) != CERT_OK ||
	    cert_verify_node(&c, &fz_ca, c.not_after - 1) != CERT_OK)
		abort();
	e = cert_verify_node(&c, &fz_ca, c.not_after);
	if (e != (c.not_after == fz_ca.not_after ? CERT_E_CA_EXPIRED : CERT_E_EXPIRED))
		abort();
	if (c.not_before - fz_ca.not_before > CERT_SKEW_S &&
	    cert_verify_node(&c, &fz_ca, c.not_before - CERT_SKEW_S - 1) != CERT_E_NOT_YET_VALID)
		abort();
	/* One bit of the signature: refused. */
	c.sig[c.serial[0] % 64] ^= (uint8_t)(1u << (c.serial[1] % 8));
	if (cert_verify_node(&c, &fz_ca, c.not_before) != CERT_E_SIGNATURE)
		abort();
}

static void fz_text_forms(const struct cert *c)
{
	char pem[CERT_PEM_MAX];
	struct cert t;

	if (cert_to_pem(c, pem, sizeof(pem)) <= 0)
		abort();
	if (cert_from_text(pem, strlen(pem), &t) != 0 || !fz_same(c, &t))
		abort();
	if (cert_to_b64(c, pem, sizeof(pem)) != 0)
		abort();
	if (cert_from_text(pem, strlen(pem), &t) != 0 || !fz_same(c, &t))
		abort();
}

static void fz_binary(const uint8_t *d, size_t n)
{
	uint8_t out[CERT_MAX + 64];
	struct cert c, t;
	int rc, m;

	rc = cert_decode(d, n, &c);
	if (rc == -EBADMSG)
		return;
	if (rc != 0 || n > CERT_MAX)
		abort();
	/* Exactly the input back: the encoding is unique. */
	m = cert_encode(&c, out, sizeof(out));
	if (m < 0 || (size_t)m != n || memcmp(out, d, n) != 0)
		abort();
	if (cert_decode(out, (size_t)m, &t) != 0 || !fz_same(&c, &t))
		abort();
	/* Decoded tags are canonical already. */
	t = c;
	if (cert_tags_canon(&t) != NULL || t.ntags != c.ntags)
		abort();
	for (size_t i = 0; i < c.ntags; i++)
		if (strcmp(t.tags[i], c.tags[i]) != 0)
			abort();
	fz_text_forms(&c);
	fz_verify(&c);
	fz_resign(&c);
}

static void fz_text(const char *s, size_t n)
{
	struct cert c;
	int rc = cert_from_text(s, n, &c);

	if (rc == -EBADMSG)
		return;
	if (rc != 0)
		abort();
	fz_text_forms(&c);
	fz_verify(&c);
}

static void fz_key(const char *s, size_t n)
{
	uint8_t sk[64], sk2[64];
	char text[CERT_KEYFILE_MAX];
	int rc = cert_key_open(s, n, NULL, sk), m;

	if (rc == -EBADMSG || rc == -ENOKEY)
		return;
	if (rc != 0)
		abort();
	m = cert_key_seal(sk, NULL, text, sizeof(text));
	if (m <= 0 || (size_t)m >= sizeof(text))
		abort();
	if (cert_key_open(text, (size_t)m, NULL, sk2) != 0 || memcmp(sk, sk2, 64) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s;

	fz_setup();
	if (n > FZ_MAX)
		return 0;
	fz_binary(d, n);
	/* As text: the parsers take a string and its length; give them a
	 * copy ending in NUL right after the input (exactly sized, so an
	 * over-read still shows under ASan). */
	s = malloc(n + 1);
	if (!s)
		return 0;
	memcpy(s, d, n);
	s[n] = '\0';
	fz_text(s, n);
	fz_key(s, n);
	free(s);
	return 0;
}
