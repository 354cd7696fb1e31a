/* jwt_int.h - shared by jwk.c and jwt.c only. */
#ifndef PILOT_JWT_INT_H
#define PILOT_JWT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

/* Strict base64url (no padding, canonical).  \retval 0 or -EINVAL. */
int jwt_b64url_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *outlen);
/* "RS256", "ES256", "EdDSA" -> the algorithm, anything else 0. */
enum jwt_alg jwt_alg_from_name(const char *s);
/* Verify \p sig over \p msg with \p k by k->alg.  \retval 0, -EBADMSG, -ENOMEM. */
int jwt_sig_verify(const struct jwk *k, const uint8_t *msg, size_t msglen, const uint8_t *sig,
		   size_t siglen);

#endif
