/* join.h - the join string: what a new node needs to reach a registry,
 * as one line an operator copies from the registry host to the node
 * (pilot-rendezvous --print-join, pilotctl up; doc/JOIN.md).
 *
 *   pilot-join1:BASE64URL(JSON || CHECK)     (RFC 4648 section 5, no padding)
 *
 * JSON is a compact object {"r":"HOST:PORT","p":"PIN","n":NET,"t":"TOKEN"}
 * ("n" and "t" optional, "t" only with "n"); CHECK is the first
 * JOIN_CHECK_LEN bytes of BLAKE2b-128 (crypto_generichash) of JSON, so a
 * string damaged in copying is refused instead of naming a wrong registry.
 * The digit after "pilot-join" is the format's version.  Decoding is
 * strict: one parser, fuzzed (tests/fuzz/fuzz_join.c).
 *
 * The pin is public (it only names the registry's key); the token is a
 * secret, so a join string that carries one is a secret too. */
#ifndef PILOT_JOIN_H
#define PILOT_JOIN_H

#include <stddef.h>
#include <stdint.h>

#define JOIN_PREFIX "pilot-join"
#define JOIN_VERSION 1
#define JOIN_MAX_LEN 4096 /* characters of a whole join string */
#define JOIN_CHECK_LEN 4
#define JOIN_HASH_LEN 16      /* crypto_generichash_BYTES_MIN: CHECK is its head */
#define JOIN_REGISTRY_MAX 300 /* "HOST:PORT", "[V6]:PORT" */
#define JOIN_PIN_MAX 80	      /* base64 (44), hex (64), optionally "sha256//" first */
#define JOIN_TOKEN_MAX 1024   /* the registry's limit for a network token */

/* What a join string holds.  Strings are NUL-terminated; "" and 0 mean
 * absent.  \p token is a secret: join_info_wipe() it when done. */
struct join_info {
	char registry[JOIN_REGISTRY_MAX + 1]; /* the registry's address */
	char pin[JOIN_PIN_MAX + 1];	      /* its TLS key's pin, as pilotd.json's registry_pin */
	uint16_t network;		      /* a network to join, 1..65535; 0 none */
	char token[JOIN_TOKEN_MAX + 1];	      /* that network's join token; "" none */
};

/** \brief Encode \p ji into \p out (at least JOIN_MAX_LEN + 1 bytes).
 *  The same checks as decoding apply, so what is encoded decodes.
 *  \retval length written, or -EINVAL / -E2BIG / -ENOSPC with \p err set
 *  (never quoting the token). */
int join_encode(const struct join_info *ji, char *out, size_t outlen, char *err, size_t errlen);

/** \brief Decode the \p len bytes at \p s (need not be NUL-terminated;
 *  white space around the string is ignored) into \p ji.
 *  \retval 0, or with \p err set to a one-line reason:
 *  -E2BIG (longer than JOIN_MAX_LEN), -EPROTONOSUPPORT (another version),
 *  -EBADMSG (checksum mismatch), -EINVAL (anything else malformed).
 *  On error \p ji is wiped. */
int join_decode(const char *s, size_t len, struct join_info *ji, char *err, size_t errlen);

/** Is \p registry an address a join string may name (HOST:PORT with a
 *  DNS name's characters or an address literal, port 1-65535)?
 *  \retval 0 or -EINVAL with \p err set. */
int join_check_registry(const char *registry, char *err, size_t errlen);

/** Zero \p ji, the token included. */
void join_info_wipe(struct join_info *ji);

#endif
