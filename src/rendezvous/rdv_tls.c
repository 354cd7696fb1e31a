/* rdv_tls.c - see rdv_tls.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "rdv_tls.h"
#include "util.h"

#define TLS_VALID_DAYS 3652 /* ten years, leap days included */
#define TLS_CN "pilot-rendezvous"

/* Log \p what with OpenSSL's first queued reason, and clear its queue. */
static void ssl_warn(const char *what, const char *path)
{
	char buf[256] = "unknown error";
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	log_warnx("%s%s%s: %s", what, path ? " " : "", path ? path : "", buf);
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -ENOMEM;
}

/* Write the PEM that \p bio holds to \p path atomically with \p mode. */
static int bio_to_file(BIO *bio, const char *path, unsigned mode)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);

	if (len <= 0)
		return -EIO;
	return file_write_atomic(path, data, (size_t)len, mode);
}

/* Make the self-signed pair.  The key is written first, so a crash between
 * the two writes leaves "key without certificate", which load refuses
 * loudly rather than silently minting a new pin. */
static int create_self_signed(const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	BIO *kb = NULL, *cb = NULL;
	X509_NAME *name;
	uint8_t serial[16];
	int ret = -EIO;

	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	x = X509_new();
	if (!key || !x)
		goto ssl_fail;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto ssl_fail;
	serial[0] &= 0x7f; /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto ssl_fail;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), TLS_VALID_DAYS, 0, NULL))
		goto ssl_fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)TLS_CN, -1,
					-1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
		goto ssl_fail;
	if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") < 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") < 0)
		goto ssl_fail;
	if (!X509_sign(x, key, EVP_sha256()))
		goto ssl_fail;

	/* The private key only ever sits in OpenSSL's secure heap. */
	kb = BIO_new(BIO_s_secmem());
	cb = BIO_new(BIO_s_mem());
	if (!kb || !cb || !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(cb, x))
		goto ssl_fail;
	ret = bio_to_file(kb, key_path, 0600);
	if (ret < 0) {
		errno = -ret;
		log_warn("writing %s", key_path);
		goto out;
	}
	ret = bio_to_file(cb, cert_path, 0644);
	if (ret < 0) {
		errno = -ret;
		log_warn("writing %s", cert_path);
		goto out;
	}
	log_info("created a self-signed TLS certificate in %s", cert_path);
	ret = 0;
	goto out;
ssl_fail:
	ssl_warn("creating the TLS certificate", NULL);
	ret = -EIO;
out:
	BIO_free(kb);
	BIO_free(cb);
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

static int load_pair(const char *cert_path, const char *key_path, X509 **cert, EVP_PKEY **key)
{
	BIO *b = NULL;
	int ret;

	ret = file_check_secret(key_path);
	if (ret == -EPERM) {
		log_warnx("%s: private key is readable by group or others (chmod 600 it)",
			  key_path);
		goto out;
	} else if (ret < 0) {
		errno = -ret;
		log_warn("%s", key_path);
		goto out;
	}
	ret = -EINVAL;
	b = BIO_new_file(cert_path, "r");
	if (!b || !(*cert = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		ssl_warn("reading certificate", cert_path);
		goto out;
	}
	BIO_free(b);
	b = BIO_new_file(key_path, "r");
	if (!b || !(*key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL))) {
		ssl_warn("reading private key", key_path);
		goto out;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		ssl_warn("private key does not match the certificate", cert_path);
		goto out;
	}
	ret = 0;
out:
	BIO_free(b);
	return ret;
}

int rdv_tls_pin(X509 *cert, char out[RDV_PIN_B64_LEN])
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int len, ret = -EINVAL;

	if (!pk)
		return -EINVAL;
	/* i2d_PUBKEY gives the DER SubjectPublicKeyInfo: what curl and HPKP pin. */
	len = i2d_PUBKEY(pk, &der);
	if (len <= 0)
		goto out;
	if (!EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		goto out;
	if (b64_encode(out, RDV_PIN_B64_LEN, md, mdlen) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_free(der);
	return ret;
}

static SSL_CTX *make_ctx(X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		goto fail;
	/* TLS 1.3 only (doc/REGISTRY.md): forward secrecy and AEAD suites
	 * without per-suite configuration. */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* Idle keep-alive connections give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	return ctx;
fail:
	ssl_warn("setting up TLS", NULL);
	SSL_CTX_free(ctx);
	return NULL;
}

int rdv_tls_init(struct rdv_tls *tls, const char *state_dir, const char *cert_path,
		 const char *key_path, unsigned flags)
{
	char cbuf[PATH_MAX], kbuf[PATH_MAX];
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int ret, have_c, have_k;

	memset(tls, 0, sizeof(*tls));
	if (!cert_path != !key_path) {
		log_warnx("--tls-cert and --tls-key go together");
		return -EINVAL;
	}
	if (!cert_path) {
		if (snprintf(cbuf, sizeof(cbuf), "%s/%s", state_dir, RDV_TLS_CERT_FILE) >=
			(int)sizeof(cbuf) ||
		    snprintf(kbuf, sizeof(kbuf), "%s/%s", state_dir, RDV_TLS_KEY_FILE) >=
			(int)sizeof(kbuf)) {
			log_warnx("state directory path too long: %s", state_dir);
			return -ENAMETOOLONG;
		}
		cert_path = cbuf;
		key_path = kbuf;
		have_c = access(cert_path, F_OK) == 0;
		have_k = access(key_path, F_OK) == 0;
		if (have_c != have_k) {
			/* Never mint a new identity over half of an old one:
			 * every node pinned the old key. */
			log_warnx("%s exists without %s; restore both or remove both",
				  have_c ? cert_path : key_path, have_c ? key_path : cert_path);
			return -ENOENT;
		}
		if (!have_c && (flags & RDV_TLS_NO_CREATE)) {
			log_warnx("no TLS certificate in %s yet: start pilot-rendezvous once "
				  "(it makes one), or give --tls-cert and --tls-key",
				  state_dir);
			return -ENOENT;
		}
		if (!have_c) {
			ret = mkdir_p(state_dir, 0700);
			if (ret < 0) {
				errno = -ret;
				log_warn("state directory %s", state_dir);
				return ret;
			}
			ret = create_self_signed(cert_path, key_path);
			if (ret < 0)
				return ret;
		}
	}
	ret = load_pair(cert_path, key_path, &cert, &key);
	if (ret < 0)
		goto out;
	ret = rdv_tls_pin(cert, tls->pin);
	if (ret < 0) {
		log_warnx("%s: cannot compute the public key pin", cert_path);
		goto out;
	}
	if (flags & RDV_TLS_CTX) {
		tls->ctx = make_ctx(cert, key);
		if (!tls->ctx)
			ret = -EINVAL;
	}
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}

void rdv_tls_free(struct rdv_tls *tls)
{
	SSL_CTX_free(tls->ctx);
	tls->ctx = NULL;
}
