/* rdv_tls.h - the registry's TLS identity: its certificate and key (given,
 * or a self-signed ECDSA P-256 pair made once in the state dir and kept),
 * the SPKI pin nodes use, and the TLS 1.3-only server context. */
#ifndef PILOT_RDV_TLS_H
#define PILOT_RDV_TLS_H

#include <openssl/ssl.h>

#define RDV_TLS_CERT_FILE "tls.crt"
#define RDV_TLS_KEY_FILE "tls.key"
#define RDV_PIN_B64_LEN 45 /* base64 of 32 bytes + NUL */

struct rdv_tls {
	SSL_CTX *ctx;		   /* NULL unless asked for */
	char pin[RDV_PIN_B64_LEN]; /* base64(SHA-256(DER SubjectPublicKeyInfo)) */
};

/* rdv_tls_init flags */
#define RDV_TLS_CTX 1	    /* also build the server context */
#define RDV_TLS_NO_CREATE 2 /* no pair in the state dir yet is an error (-ENOENT) */

/** Load the certificate and key from \p cert_path / \p key_path, or, when
 *  both are NULL, from \p state_dir (creating a self-signed pair there on
 *  first use, unless RDV_TLS_NO_CREATE).  Computes the pin; with
 *  RDV_TLS_CTX in \p flags also builds the server context.  Errors are
 *  logged.  \retval 0 or -errno. */
int rdv_tls_init(struct rdv_tls *tls, const char *state_dir, const char *cert_path,
		 const char *key_path, unsigned flags);
void rdv_tls_free(struct rdv_tls *tls);

/** The pin of \p cert (base64 of the SHA-256 of its DER SubjectPublicKeyInfo,
 *  as curl's "sha256//" pins).  \retval 0 or -errno. */
int rdv_tls_pin(X509 *cert, char out[RDV_PIN_B64_LEN]);

#endif
