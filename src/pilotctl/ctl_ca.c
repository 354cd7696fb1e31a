/* ctl_ca.c - "pilotctl ca": the offline CA (SPEC sections 6 and 8,
 * doc/CERT.md).  generate makes a CA key and its self-signed
 * certificate; sign issues a node certificate; show decodes and verifies
 * one.  None of them talks to the registry: the CA key stays on the
 * machine that holds DIR (revoke and crl are pass-through commands).
 *
 * The key file is 0600; with --passphrase-file (or PILOT_CA_PASSPHRASE)
 * it is sealed (Argon2id + XChaCha20-Poly1305).  Every certificate signed
 * is appended to DIR/issued.log (JSON Lines): the CA's own record of what
 * it issued, as the registry never sees issuance.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "cert.h"
#include "ctl.h"
#include "util.h"

#define CA_KEY "ca.key"
#define CA_CRT "ca.crt"
#define CA_LOG "issued.log"
#define CA_LIFE_DEFAULT (3650ull * 86400) /* ten years */
#define NODE_LIFE_DEFAULT (90ull * 86400)
#define PASS_MAX 1024

struct ca_opts {
	const char *out, *name, *lifetime, *ca, *node, *public_key, *node_id, *tags, *pass_file;
	const char *ca_cert;
};

static const struct {
	const char *flag;
	size_t off;
} ca_flags[] = {
    {"out", offsetof(struct ca_opts, out)},
    {"name", offsetof(struct ca_opts, name)},
    {"lifetime", offsetof(struct ca_opts, lifetime)},
    {"ca", offsetof(struct ca_opts, ca)},
    {"node", offsetof(struct ca_opts, node)},
    {"public-key", offsetof(struct ca_opts, public_key)},
    {"node-id", offsetof(struct ca_opts, node_id)},
    {"tags", offsetof(struct ca_opts, tags)},
    {"passphrase-file", offsetof(struct ca_opts, pass_file)},
    {"ca-cert", offsetof(struct ca_opts, ca_cert)},
};

/* --FLAG VALUE (or --FLAG=VALUE) from \p allowed (space-separated names);
 * positionals compacted into argv[1..].  \retval 0 with *npos, or usage. */
static int parse(struct ctl *c, int argc, char **argv, const char *allowed, struct ca_opts *o,
		 int *npos)
{
	int n = 0;

	memset(o, 0, sizeof(*o));
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];
		size_t k, nl;
		if (a[0] != '-' || a[1] != '-') {
			argv[1 + n++] = argv[i];
			continue;
		}
		eq = strchr(a + 2, '=');
		nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl == 0 || nl >= sizeof(name))
			return ctl_usage(c, "unknown option '%s'", a);
		memcpy(name, a + 2, nl);
		name[nl] = '\0';
		for (k = 0; k < nitems(ca_flags); k++)
			if (strcmp(ca_flags[k].flag, name) == 0)
				break;
		{
			const char *p = strstr(allowed, name);
			if (k == nitems(ca_flags) || !p || (p > allowed && p[-1] != ' ') ||
			    (p[nl] != ' ' && p[nl] != '\0'))
				return ctl_usage(c, "unknown option '--%s'", name);
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return ctl_usage(c, "option '--%s' needs a value", name);
		*(const char **)((char *)o + ca_flags[k].off) = val;
	}
	*npos = n;
	return 0;
}

static int emit(struct ctl *c, struct json_gen *g)
{
	yajl_val tree, data;
	const char *s;
	size_t len;
	char err[128];

	if (c->json)
		return ctl_emit_end(c, g);
	jg_map_close(g);
	jg_map_close(g);
	if (json_gen_finish(g, &s, &len) < 0) {
		json_gen_free(g);
		return -ENOMEM;
	}
	tree = json_parse(s, len, 0, err, sizeof(err));
	json_gen_free(g);
	if (!tree)
		return -ENOMEM;
	data = json_get(tree, "data");
	ctl_print_val(data);
	yajl_tree_free(tree);
	return 0;
}

static int lifetime(struct ctl *c, const char *s, uint64_t def, uint64_t *out)
{
	if (!s) {
		*out = def;
		return 0;
	}
	if (duration_parse(s, out) < 0 || *out == 0)
		return ctl_usage(
		    c, "--lifetime '%s': expected a duration such as 30s, 15m, 12h or 90d", s);
	return 0;
}

/* The passphrase: --passphrase-file (first line), else
 * PILOT_CA_PASSPHRASE, else none.  \retval 0 with *out (free with
 * free_pass; NULL: none), or a failure recorded. */
static int get_pass(struct ctl *c, const char *file, char **out)
{
	const char *env = getenv("PILOT_CA_PASSPHRASE");
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (file) {
		rc = file_read_all(file, PASS_MAX, &text, &len);
		if (rc < 0)
			return ctl_fail(c, rc, "bad_request", NULL, "--passphrase-file %s: %s",
					file, strerror(-rc));
		text[strcspn(text, "\r\n")] = '\0';
	} else if (env && *env) {
		text = strdup(env);
		if (!text)
			return -ENOMEM;
	} else {
		return 0;
	}
	if (!text[0]) {
		free(text);
		return ctl_fail(c, -EINVAL, "bad_request", NULL, "the passphrase is empty");
	}
	*out = text;
	return 0;
}

static void free_pass(char *p)
{
	if (p) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

static int write_file(struct ctl *c, const char *path, const char *data, size_t len, unsigned mode)
{
	int rc = file_write_atomic(path, data, len, mode);

	if (rc < 0)
		return ctl_fail(c, rc, "internal", NULL, "writing %s: %s", path, strerror(-rc));
	return 0;
}

static int read_cert(struct ctl *c, const char *path, struct cert *out)
{
	char *text = NULL;
	size_t len = 0;
	int rc = file_read_all(path, CERT_PEM_MAX * 2, &text, &len);

	if (rc < 0)
		return ctl_fail(c, rc, rc == -ENOENT ? "not_found" : "bad_request", NULL, "%s: %s",
				path, strerror(-rc));
	rc = cert_from_text(text, len, out);
	free(text);
	if (rc < 0)
		return ctl_fail(c, -EINVAL, "cert_invalid", "see doc/CERT.md for the format",
				"%s: not a Pilot certificate", path);
	return 0;
}

/* ---------------------------------------------------------------- generate */

static int ca_generate(struct ctl *c, int argc, char **argv)
{
	struct ca_opts o;
	struct cert ca = {0};
	struct json_gen g;
	struct stat st;
	char path[4096], kpath[4096], *pass = NULL, pem[CERT_PEM_MAX], keytext[CERT_KEYFILE_MAX];
	uint8_t pk[32], *sk = NULL;
	uint64_t life, now = now_real_ms() / 1000;
	int n, rc;

	c->synopsis = "ca generate --out DIR [--name NAME] [--lifetime DUR] [--passphrase-file F]";
	if ((rc = parse(c, argc, argv, "out name lifetime passphrase-file", &o, &n)) != 0)
		return rc;
	if (n)
		return ctl_usage(c, "unexpected argument '%s'", argv[1]);
	if (!o.out)
		return ctl_usage(c, "--out DIR is required");
	if ((rc = lifetime(c, o.lifetime, CA_LIFE_DEFAULT, &life)) != 0)
		return rc;
	snprintf(ca.name, sizeof(ca.name), "%s", o.name ? o.name : "pilot-ca");
	if (o.name && (strlen(o.name) > CERT_NAME_MAX || !o.name[0]))
		return ctl_usage(c, "--name: 1 to %d printable characters", CERT_NAME_MAX);
	snprintf(kpath, sizeof(kpath), "%s/" CA_KEY, o.out);
	snprintf(path, sizeof(path), "%s/" CA_CRT, o.out);
	/* Never over an existing CA: its certificates would be orphaned. */
	if (stat(kpath, &st) == 0 || stat(path, &st) == 0)
		return ctl_fail(c, -EEXIST, "conflict", "choose another --out directory",
				"%s already holds a CA", o.out);
	if ((rc = get_pass(c, o.pass_file, &pass)) != 0)
		return rc;
	if ((rc = mkdir_p(o.out, 0700)) < 0) {
		rc = ctl_fail(c, rc, "internal", NULL, "creating %s: %s", o.out, strerror(-rc));
		goto out;
	}
	sk = sodium_malloc(64);
	if (!sk) {
		rc = -ENOMEM;
		goto out;
	}
	crypto_sign_keypair(pk, sk);
	ca.kind = CERT_KIND_CA;
	randombytes_buf(ca.serial, sizeof(ca.serial));
	ca.not_before = now;
	ca.not_after = now + life;
	memcpy(ca.public_key, pk, 32);
	cert_key_id(pk, ca.issuer);
	if (cert_sign(&ca, sk) < 0 || cert_to_pem(&ca, pem, sizeof(pem)) < 0) {
		rc = ctl_fail(c, -EINVAL, "bad_request", NULL, "the CA name is not acceptable");
		goto out;
	}
	rc = cert_key_seal(sk, pass, keytext, sizeof(keytext));
	if (rc < 0) {
		rc = ctl_fail(c, rc, "internal", NULL, "sealing the key: %s", strerror(-rc));
		goto out;
	}
	/* The key first: a certificate without its key would be useless. */
	if ((rc = write_file(c, kpath, keytext, (size_t)rc, 0600)) != 0 ||
	    (rc = write_file(c, path, pem, strlen(pem), 0644)) != 0)
		goto out;
	if ((rc = ctl_emit_begin(&g)) < 0)
		goto out;
	jg_kstr(&g, "name", ca.name);
	jg_khex(&g, "fingerprint", ca.fingerprint, CERT_FP_LEN);
	jg_khex(&g, "key_id", ca.issuer, CERT_KEYID_LEN);
	jg_ku64(&g, "not_before", ca.not_before);
	jg_ku64(&g, "not_after", ca.not_after);
	jg_kstr(&g, "key", kpath);
	jg_kstr(&g, "certificate", path);
	jg_kbool(&g, "encrypted", pass != NULL);
	rc = emit(c, &g);
out:
	sodium_memzero(keytext, sizeof(keytext));
	sodium_free(sk);
	free_pass(pass);
	return rc;
}

/* ---------------------------------------------------------------- sign */

/* The subject of `ca sign --node NODE`: this node ("self" or its ID), or
 * a peer pilotd knows (its key from `peers`). */
static int node_subject(struct ctl *c, const char *node, uint8_t pk[32], uint32_t *id)
{
	yajl_val tree = NULL, data, arr;
	struct pilot_addr a;
	uint32_t want = 0, self = 0;
	char *end;
	int rc;

	if (strcmp(node, "self") != 0) {
		unsigned long v = strtoul(node, &end, 10);
		if (*node && !*end && v && v <= UINT32_MAX)
			want = (uint32_t)v;
		else if (addr_parse(node, &a) == 0)
			want = a.node;
		else
			return ctl_usage(c, "--node '%s': a node ID, an address or 'self'", node);
	}
	if ((rc = ctl_call1(c, "info", NULL, NULL, &tree, &data)) != 0)
		return rc;
	json_get_u32(data, "node_id", &self);
	if (!want || want == self) {
		*id = self;
		rc = json_get_b64(data, "public_key", pk, 32) < 0 || !self
			 ? ctl_fail(c, -EPROTO, "not_registered", NULL,
				    "this node has no node ID yet")
			 : 0;
		yajl_tree_free(tree);
		return rc;
	}
	yajl_tree_free(tree);
	if ((rc = ctl_call1(c, "peers", NULL, NULL, &tree, &data)) != 0)
		return rc;
	arr = json_get(data, "peers");
	rc = ctl_fail(c, -ENOENT, "not_found", "give --public-key KEY --node-id ID",
		      "node %u is not known to this pilotd", want);
	for (size_t i = 0; arr && YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		yajl_val p = arr->u.array.values[i];
		uint32_t v = 0;
		if (json_get_u32(p, "node_id", &v) == 0 && v == want &&
		    json_get_b64(p, "public_key", pk, 32) == 0) {
			*id = want;
			memset(&c->err, 0, sizeof(c->err));
			rc = 0;
			break;
		}
	}
	yajl_tree_free(tree);
	return rc;
}

static int parse_tags(struct ctl *c, const char *s, struct cert *cert)
{
	char buf[CERT_TAGS_MAX * (CERT_TAG_MAX + 1) + 64], *save = NULL, *t;
	const char *why;

	if (!s)
		return 0;
	if (strlen(s) >= sizeof(buf))
		return ctl_usage(c, "--tags: at most %d tags", CERT_TAGS_MAX);
	snprintf(buf, sizeof(buf), "%s", s);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (cert->ntags == CERT_TAGS_MAX)
			return ctl_usage(c, "--tags: at most %d tags", CERT_TAGS_MAX);
		if (strlen(t) > CERT_TAG_MAX)
			return ctl_usage(c, "--tags: '%s' is longer than %d", t, CERT_TAG_MAX);
		snprintf(cert->tags[cert->ntags++], CERT_TAG_MAX + 1, "%s", t);
	}
	if ((why = cert_tags_canon(cert)))
		return ctl_usage(c, "--tags: a tag %s", why);
	return 0;
}

/* Append one line for \p cert to DIR/issued.log. */
static void log_issue(const char *dir, const struct cert *cert, const char *out)
{
	char path[4096], serial[33], fp[65], pk[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/" CA_LOG, dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "a"))) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "pilotctl: warning: %s: %s\n", path, strerror(errno));
		return;
	}
	hex_encode(serial, sizeof(serial), cert->serial, CERT_SERIAL_LEN);
	hex_encode(fp, sizeof(fp), cert->fingerprint, CERT_FP_LEN);
	b64_encode(pk, sizeof(pk), cert->public_key, 32);
	fprintf(
	    f,
	    "{\"issued_at\":%llu,\"serial\":\"%s\",\"fingerprint\":\"%s\",\"public_key\":\"%s\","
	    "\"node_id\":%u,\"not_before\":%llu,\"not_after\":%llu,\"out\":",
	    (unsigned long long)(now_real_ms() / 1000), serial, fp, pk,
	    cert->has_node_id ? cert->node_id : 0, (unsigned long long)cert->not_before,
	    (unsigned long long)cert->not_after);
	{
		char q[8192];
		if (json_quote(q, sizeof(q), out) < 0)
			snprintf(q, sizeof(q), "\"\"");
		fprintf(f, "%s}\n", q);
	}
	fflush(f);
	fsync(fileno(f));
	fclose(f);
}

static int load_ca(struct ctl *c, const char *dir, const char *pass_file, struct cert *ca,
		   uint8_t *sk)
{
	char path[4096], *text = NULL, *pass = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/" CA_CRT, dir);
	if ((rc = read_cert(c, path, ca)) != 0)
		return rc;
	if (cert_verify_ca(ca, 0) != CERT_OK)
		return ctl_fail(c, -EINVAL, "cert_invalid", NULL, "%s: not a valid CA certificate",
				path);
	snprintf(path, sizeof(path), "%s/" CA_KEY, dir);
	if ((rc = file_check_secret(path)) < 0)
		return ctl_fail(c, rc, "forbidden", "chmod 600 it", "%s: %s", path,
				rc == -EPERM ? "readable by group or others" : strerror(-rc));
	if ((rc = file_read_all(path, CERT_KEYFILE_MAX * 2, &text, &len)) < 0)
		return ctl_fail(c, rc, "bad_request", NULL, "%s: %s", path, strerror(-rc));
	if ((rc = get_pass(c, pass_file, &pass)) != 0)
		goto out;
	rc = cert_key_open(text, len, pass, sk);
	if (rc == -ENOKEY)
		rc = ctl_fail(c, rc, "passphrase_required",
			      "--passphrase-file F or PILOT_CA_PASSPHRASE",
			      "%s is sealed with a passphrase", path);
	else if (rc == -EACCES)
		rc = ctl_fail(c, rc, "forbidden", NULL,
			      "%s: wrong passphrase, or the file was altered", path);
	else if (rc < 0)
		rc = ctl_fail(c, rc, "bad_request", NULL, "%s: not a Pilot CA key", path);
	if (rc == 0) {
		uint8_t pk[32];
		crypto_sign_ed25519_sk_to_pk(pk, sk);
		if (sodium_memcmp(pk, ca->public_key, 32) != 0)
			rc = ctl_fail(c, -EINVAL, "bad_request", NULL,
				      "%s does not belong to %s/" CA_CRT, path, dir);
	}
out:
	if (text) {
		sodium_memzero(text, len);
		free(text);
	}
	free_pass(pass);
	return rc;
}

static int ca_sign(struct ctl *c, int argc, char **argv)
{
	struct ca_opts o;
	struct cert ca, cert = {0};
	struct json_gen g;
	char pem[CERT_PEM_MAX];
	uint8_t *sk = NULL;
	uint64_t life, now = now_real_ms() / 1000;
	uint32_t node = 0;
	int n, rc;

	c->synopsis = "ca sign --ca DIR (--node NODE | --public-key KEY [--node-id ID]) "
		      "[--tags T,...] [--lifetime DUR] --out FILE [--passphrase-file F]";
	if ((rc = parse(c, argc, argv,
			"ca node public-key node-id tags lifetime out passphrase-file", &o, &n)) !=
	    0)
		return rc;
	if (n)
		return ctl_usage(c, "unexpected argument '%s'", argv[1]);
	if (!o.ca || !o.out)
		return ctl_usage(c, "--ca DIR and --out FILE are required");
	if (!o.node == !o.public_key)
		return ctl_usage(c, "give --node NODE or --public-key KEY, one of them");
	if (o.node && o.node_id)
		return ctl_usage(c, "--node-id goes with --public-key");
	if ((rc = lifetime(c, o.lifetime, NODE_LIFE_DEFAULT, &life)) != 0 ||
	    (rc = parse_tags(c, o.tags, &cert)) != 0)
		return rc;
	if (o.public_key &&
	    (strlen(o.public_key) > 64 ||
	     b64_decode(cert.public_key, sizeof(cert.public_key), o.public_key) != 32))
		return ctl_usage(c, "--public-key: a base64 Ed25519 public key (pilotctl info)");
	if (o.node_id) {
		char *end;
		unsigned long v = strtoul(o.node_id, &end, 10);
		if (!*o.node_id || *end || v == 0 || v > UINT32_MAX)
			return ctl_usage(c, "--node-id: a node ID (1 to 4294967295)");
		node = (uint32_t)v;
	}
	if (o.node && (rc = node_subject(c, o.node, cert.public_key, &node)) != 0)
		return rc;
	sk = sodium_malloc(64);
	if (!sk)
		return -ENOMEM;
	if ((rc = load_ca(c, o.ca, o.pass_file, &ca, sk)) != 0)
		goto out;
	if (now >= ca.not_after) {
		rc = ctl_fail(c, -EINVAL, "cert_ca_expired", "make a new CA (ca generate)",
			      "the CA certificate expired");
		goto out;
	}
	/* A leaf cannot outlive its CA: the default lifetime stops at the
	 * CA's end; a --lifetime past it is refused, not shortened. */
	if (!o.lifetime && now + life > ca.not_after)
		life = ca.not_after - now;
	if (now + life > ca.not_after) {
		char left[32];
		rc = ctl_fail(c, -EINVAL, "bad_request", "a shorter --lifetime",
			      "the certificate would outlive its CA (which ends in %s)",
			      ctl_duration(ca.not_after - now, "", left, sizeof(left)));
		goto out;
	}
	cert.kind = CERT_KIND_NODE;
	randombytes_buf(cert.serial, sizeof(cert.serial));
	cert.not_before = now;
	cert.not_after = now + life;
	cert_key_id(ca.public_key, cert.issuer);
	cert.has_node_id = node != 0;
	cert.node_id = node;
	if (cert_sign(&cert, sk) < 0 || cert_to_pem(&cert, pem, sizeof(pem)) < 0) {
		rc = ctl_fail(c, -EINVAL, "internal", NULL, "cannot encode the certificate");
		goto out;
	}
	if ((rc = write_file(c, o.out, pem, strlen(pem), 0644)) != 0)
		goto out;
	log_issue(o.ca, &cert, o.out);
	if ((rc = ctl_emit_begin(&g)) < 0)
		goto out;
	jg_khex(&g, "serial", cert.serial, CERT_SERIAL_LEN);
	jg_khex(&g, "fingerprint", cert.fingerprint, CERT_FP_LEN);
	jg_ku64(&g, "not_before", cert.not_before);
	jg_ku64(&g, "not_after", cert.not_after);
	if (node)
		jg_ku64(&g, "node_id", node);
	jg_key(&g, "tags");
	jg_array_open(&g);
	for (size_t i = 0; i < cert.ntags; i++)
		jg_str(&g, cert.tags[i]);
	jg_array_close(&g);
	jg_kstr(&g, "out", o.out);
	rc = emit(c, &g);
out:
	sodium_free(sk);
	return rc;
}

/* ---------------------------------------------------------------- show */

static int ca_show(struct ctl *c, int argc, char **argv)
{
	struct ca_opts o;
	struct cert cert, ca;
	struct json_gen g;
	char pk[64];
	enum cert_err e;
	uint64_t now = now_real_ms() / 1000;
	int n, rc, have_ca = 0;

	c->synopsis = "ca show FILE [--ca DIR | --ca-cert FILE]";
	if ((rc = parse(c, argc, argv, "ca ca-cert", &o, &n)) != 0)
		return rc;
	if (n != 1)
		return ctl_usage(c, n ? "one FILE only" : "which certificate? ca show FILE");
	if ((rc = read_cert(c, argv[1], &cert)) != 0)
		return rc;
	if (o.ca || o.ca_cert) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/" CA_CRT, o.ca ? o.ca : "");
		if ((rc = read_cert(c, o.ca ? path : o.ca_cert, &ca)) != 0)
			return rc;
		have_ca = 1;
	}
	if (cert.kind == CERT_KIND_CA)
		e = cert_verify_ca(&cert, now);
	else if (have_ca)
		e = cert_verify_node(&cert, &ca, now);
	else
		e = CERT_E_MAX; /* not checked: no CA given */
	if (e != CERT_OK && e != CERT_E_MAX)
		return ctl_fail(c, -EINVAL, cert_code(e), NULL, "%s: %s", argv[1],
				cert_strerror(e));
	if ((rc = ctl_emit_begin(&g)) < 0)
		return rc;
	jg_kstr(&g, "kind", cert.kind == CERT_KIND_CA ? "ca" : "node");
	if (cert.kind == CERT_KIND_CA)
		jg_kstr(&g, "name", cert.name);
	jg_khex(&g, "serial", cert.serial, CERT_SERIAL_LEN);
	jg_khex(&g, "fingerprint", cert.fingerprint, CERT_FP_LEN);
	jg_khex(&g, "issuer", cert.issuer, CERT_KEYID_LEN);
	b64_encode(pk, sizeof(pk), cert.public_key, 32);
	jg_kstr(&g, "public_key", pk);
	if (cert.has_node_id)
		jg_ku64(&g, "node_id", cert.node_id);
	jg_key(&g, "tags");
	jg_array_open(&g);
	for (size_t i = 0; i < cert.ntags; i++)
		jg_str(&g, cert.tags[i]);
	jg_array_close(&g);
	jg_ku64(&g, "not_before", cert.not_before);
	jg_ku64(&g, "not_after", cert.not_after);
	/* A node certificate is verified only against a CA given. */
	jg_kbool(&g, "verified", e == CERT_OK);
	if (e == CERT_E_MAX)
		jg_kstr(&g, "note", "signature not checked: give --ca DIR or --ca-cert FILE");
	return emit(c, &g);
}

int ctl_cmd_ca(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (sodium_init() < 0)
		return ctl_fail(c, -EIO, "internal", NULL, "libsodium cannot start");
	if (strcmp(sub, "generate") == 0)
		return ca_generate(c, argc, argv);
	if (strcmp(sub, "sign") == 0)
		return ca_sign(c, argc, argv);
	if (strcmp(sub, "show") == 0)
		return ca_show(c, argc, argv);
	return ctl_cmd_pass(c, argc, argv);
}
