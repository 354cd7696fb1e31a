/* cert.h - Pilot certificates (doc/CERT.md): Ed25519, compact binary,
 * versioned, every length checked, signed over a domain-separated input.
 *
 * A CA certificate is self-signed and names the CA; a node certificate
 * binds a node's public key (and optionally its node ID) to tags for a
 * validity window, signed by a CA.  The CA's secret key lives in a key
 * file (cert_key_seal/cert_key_open) that only `pilotctl ca` reads: it
 * never reaches the registry or pilotd, which verify with the CA
 * certificate alone.
 *
 * Everything here is pure (no I/O, no clock): callers pass the time.
 */
#ifndef PILOT_CERT_H
#define PILOT_CERT_H

#include <stddef.h>
#include <stdint.h>

#define CERT_VERSION 1
#define CERT_NAME_MAX 63
#define CERT_TAG_MAX 32
#define CERT_TAGS_MAX 10
#define CERT_SERIAL_LEN 16
#define CERT_KEYID_LEN 32
#define CERT_FP_LEN 32
/* Fixed part, node ID, name, tags, signature. */
#define CERT_MAX (104 + 4 + 1 + CERT_NAME_MAX + CERT_TAGS_MAX * (1 + CERT_TAG_MAX) + 64)
/* Armored text ("-----BEGIN PILOT CERTIFICATE-----"): base64 in lines. */
#define CERT_PEM_MAX 1024
/* The leeway for a not-before in the future (clocks that differ). */
#define CERT_SKEW_S 60

enum cert_kind { CERT_KIND_CA = 1, CERT_KIND_NODE = 2 };

struct cert {
	uint8_t kind;
	uint8_t serial[CERT_SERIAL_LEN];
	uint64_t not_before, not_after; /* Unix seconds; not_after excluded */
	uint8_t public_key[32];		/* the subject's Ed25519 key */
	uint8_t issuer[CERT_KEYID_LEN]; /* the signing CA's key ID (a CA: its own) */
	int has_node_id;
	uint32_t node_id;
	char name[CERT_NAME_MAX + 1]; /* a CA's name; "" for a node */
	size_t ntags;		      /* canonical: lower case, sorted, unique */
	char tags[CERT_TAGS_MAX][CERT_TAG_MAX + 1];
	uint8_t sig[64];
	/* Filled by cert_decode and cert_sign: SHA-256 of the signed part. */
	uint8_t fingerprint[CERT_FP_LEN];
};

/* Why a certificate is not good; each has its own error code for users
 * (cert_strerror gives the phrase, cert_code the code). */
enum cert_err {
	CERT_OK = 0,
	CERT_E_INVALID,	      /* does not decode, or breaks a rule of the format */
	CERT_E_KIND,	      /* a CA certificate where a node's is wanted, or back */
	CERT_E_WRONG_CA,      /* signed by another CA (issuer key ID) */
	CERT_E_SIGNATURE,     /* the signature does not verify: tampered */
	CERT_E_OUTLIVES_CA,   /* valid past its CA's not-after */
	CERT_E_NOT_YET_VALID, /* before not-before */
	CERT_E_EXPIRED,	      /* at or past not-after */
	CERT_E_CA_EXPIRED,    /* the CA certificate is outside its window */
	CERT_E_MAX
};

const char *cert_strerror(enum cert_err e);
/* "cert_invalid", "cert_wrong_ca", ... as in the registry's replies. */
const char *cert_code(enum cert_err e);

/** A CA's key ID: SHA-256 over a domain tag and its public key. */
void cert_key_id(const uint8_t pk[32], uint8_t id[CERT_KEYID_LEN]);

/** Canonical tag: 1-32 of [a-z0-9-_.] after lower-casing, starting with a
 *  letter or digit (the registry's set-tags rule).  \retval NULL, or the
 *  rule \p in breaks. */
const char *cert_tag_norm(const char *in, char out[CERT_TAG_MAX + 1]);
/** Lower-case, sort and de-duplicate c->tags in place.  \retval NULL or
 *  the rule a tag breaks. */
const char *cert_tags_canon(struct cert *c);

/** Sign \p c with \p sk (the issuer's 64-byte Ed25519 secret key); sets
 *  c->sig and c->fingerprint.  \retval 0 or -EINVAL (\p c breaks a rule
 *  of the format, e.g. tags not canonical). */
int cert_sign(struct cert *c, const uint8_t sk[64]);
/** The binary form (signed part, then signature).  \retval its length,
 *  or -EINVAL / -ENOSPC. */
int cert_encode(const struct cert *c, uint8_t *out, size_t cap);
/** Strict decoding: magic, version, kind, flags, lengths and canonical
 *  tags are checked, and nothing may follow.  The signature is not
 *  verified (cert_verify_*).  \retval 0 or -EBADMSG. */
int cert_decode(const uint8_t *in, size_t len, struct cert *c);

/** Text forms: the armored file format, and bare base64 (the registry's
 *  wire form).  Decoding accepts either.  \retval 0 or -EBADMSG /
 *  -ENOSPC. */
int cert_to_pem(const struct cert *c, char *out, size_t cap);
int cert_to_b64(const struct cert *c, char *out, size_t cap);
int cert_from_text(const char *s, size_t len, struct cert *c);

/** A CA certificate on its own: kind CA, self-issued, self-signed, and
 *  (with \p now_s != 0) inside its window. */
enum cert_err cert_verify_ca(const struct cert *ca, uint64_t now_s);
/** A node certificate against CA certificate \p ca (itself checked):
 *  issuer, signature, not outliving the CA, the window at \p now_s.  The
 *  caller compares the subject (key, node ID) and the revocation list. */
enum cert_err cert_verify_node(const struct cert *c, const struct cert *ca, uint64_t now_s);

/* The CA key file: the 64-byte secret key, plain or sealed with a
 * passphrase (Argon2id, then XChaCha20-Poly1305 with the header as
 * associated data).  Armored text, at most CERT_KEYFILE_MAX bytes. */
#define CERT_KEYFILE_MAX 512
/** \p pass NULL: plain.  \retval length written or -errno. */
int cert_key_seal(const uint8_t sk[64], const char *pass, char *out, size_t cap);
/** \retval 0 with \p sk, -EACCES (wrong passphrase or altered file),
 *  -ENOKEY (sealed and \p pass NULL), -EBADMSG (not a key file, or cost
 *  parameters out of bounds), -ENOMEM. */
int cert_key_open(const char *text, size_t len, const char *pass, uint8_t sk[64]);

#endif
