/* rdv.c - pilot-rendezvous: configuration, start-up and the event loop. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "rdv.h"
#include "sdnotify.h"
#include "util.h"

#define PROG "pilot-rendezvous"
#define ADMIN_TOKEN_MAX 4096
#define OFF(m) offsetof(struct rdv_config, m)

static const struct conf_key rdv_schema[] = {
    {"listen", CONF_HOSTPORT, OFF(listen), 0, 0, "0.0.0.0:9000",
     "registry address (HTTPS, TLS 1.3 only)", 0},
    {"beacon_listen", CONF_HOSTPORT, OFF(beacon_listen), 0, 0, "0.0.0.0:9001",
     "beacon address (UDP; reserved, the beacon is not served yet)", 0},
    {"state_dir", CONF_STR, OFF(state_dir), 0, 0, RDV_DEFAULT_STATE_DIR,
     "state directory (LMDB, TLS certificate and key)", 0},
    {"log_level", CONF_STR, OFF(log_level), 0, 0, "info", "debug, info, warn or error", 0},
    {"log_format", CONF_STR, OFF(log_format), 0, 0, "text", "text or json", 0},
    {"tls_cert", CONF_STR, OFF(tls_cert), 0, 0, NULL,
     "TLS certificate, PEM (default: a self-signed one kept in the state dir)", 0},
    {"tls_key", CONF_STR, OFF(tls_key), 0, 0, NULL, "TLS private key, PEM, mode 0600", 0},
    {"admin_token", CONF_STR, OFF(admin_token), 0, 0, NULL, "token for admin requests", 1},
    {"admin_token_file", CONF_STR, OFF(admin_token_file), 0, 0, NULL,
     "file holding the admin token (mode 0600)", 0},
    {"print_pin", CONF_ACTION, OFF(print_pin), 0, 0, NULL,
     "print the registry's SPKI pin (base64) and exit", 0},
    {"check_config", CONF_ACTION, OFF(check_config), 0, 0, NULL,
     "check the configuration, print it and exit", 0},
    {"help", CONF_ACTION, OFF(help), 0, 0, NULL, "show this help and exit", 0},
    {"version", CONF_ACTION, OFF(version), 0, 0, NULL, "show the version and exit", 0},
    CONF_END,
};

/* Keep the admin token only in guarded memory, and wipe other copies. */
static int admin_token_set(struct rdv *r, const char *tok, size_t len)
{
	if (len == 0)
		return -EINVAL;
	r->admin_token = sodium_malloc(len + 1);
	if (!r->admin_token)
		return -ENOMEM;
	memcpy(r->admin_token, tok, len);
	r->admin_token[len] = '\0';
	return 0;
}

static int admin_token_load(struct rdv *r, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = file_check_secret(path);
	if (ret == -EPERM) {
		snprintf(err, errlen,
			 "admin_token_file %s: readable by group or others (chmod 600)", path);
		goto out;
	}
	if (ret == 0)
		ret = file_read_all(path, ADMIN_TOKEN_MAX, &buf, &len);
	if (ret < 0) {
		snprintf(err, errlen, "admin_token_file %s: %s", path, strerror(-ret));
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	ret = admin_token_set(r, buf, len);
	if (ret == -EINVAL)
		snprintf(err, errlen, "admin_token_file %s: empty", path);
	else if (ret < 0)
		snprintf(err, errlen, "admin_token_file %s: %s", path, strerror(-ret));
out:
	if (buf) {
		sodium_memzero(buf, len);
		free(buf);
	}
	return ret;
}

/* Everything a bad configuration can be refused for, before any state is
 * touched (SPEC §2). */
static int config_check(struct rdv *r, enum log_level *lvl, enum log_format *fmt, char *err,
			size_t errlen)
{
	struct rdv_config *c = &r->cfg;

	if (log_level_parse(c->log_level, lvl) < 0) {
		snprintf(err, errlen, "log_level '%s': expected debug, info, warn or error",
			 c->log_level);
		return -EINVAL;
	}
	if (log_format_parse(c->log_format, fmt) < 0) {
		snprintf(err, errlen, "log_format '%s': expected text or json", c->log_format);
		return -EINVAL;
	}
	if (!c->state_dir || !c->state_dir[0]) {
		snprintf(err, errlen, "state_dir: must not be empty");
		return -EINVAL;
	}
	if (!c->tls_cert != !c->tls_key) {
		snprintf(err, errlen, "tls_cert and tls_key: give both or neither");
		return -EINVAL;
	}
	if (c->admin_token && c->admin_token_file) {
		snprintf(err, errlen, "admin_token and admin_token_file: give one of them");
		return -EINVAL;
	}
	if (c->admin_token_file)
		return admin_token_load(r, c->admin_token_file, err, errlen);
	if (c->admin_token) {
		size_t n = strlen(c->admin_token);
		int ret = admin_token_set(r, c->admin_token, n);
		sodium_memzero(c->admin_token, n);
		if (ret == -EINVAL)
			snprintf(err, errlen, "admin_token: must not be empty");
		else if (ret < 0)
			snprintf(err, errlen, "admin_token: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct rdv *r = arg;

	(void)what;
	log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(r->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	log_info("SIGHUP: configuration reload is not supported yet; restart to apply changes");
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify_send("WATCHDOG=1");
}

static int add_signal(struct rdv *r, struct event **ev, int sig, event_callback_fn cb)
{
	*ev = evsignal_new(r->base, sig, cb, r);
	if (!*ev || event_add(*ev, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int run(struct rdv *r)
{
	char pbuf[INET6_ADDRSTRLEN + 4];
	uint64_t wd;
	int ret;

	ret = rdv_db_open(&r->db, r->cfg.state_dir);
	if (ret < 0)
		goto out;
	r->db.notify = rdv_http_notify;
	r->db.notify_arg = r;
	ret = rdv_tls_init(&r->tls, r->cfg.state_dir, r->cfg.tls_cert, r->cfg.tls_key, 1);
	if (ret < 0)
		goto out;
	/* Writes to a peer that went away must fail with EPIPE, not kill us
	 * (OpenSSL's socket BIO does not pass MSG_NOSIGNAL). */
	signal(SIGPIPE, SIG_IGN);
	r->base = event_base_new();
	if (!r->base) {
		ret = -ENOMEM;
		log_warnx("cannot create the event loop");
		goto out;
	}
	if ((ret = add_signal(r, &r->ev_sigterm, SIGTERM, on_stop)) < 0 ||
	    (ret = add_signal(r, &r->ev_sigint, SIGINT, on_stop)) < 0 ||
	    (ret = add_signal(r, &r->ev_sighup, SIGHUP, on_hup)) < 0) {
		log_warnx("cannot set up signal handling");
		goto out;
	}
	ret = rdv_http_start(r);
	if (ret < 0)
		goto out;
	wd = sd_watchdog_usec();
	if (wd) {
		struct timeval tv = {(time_t)(wd / 2000000), (suseconds_t)(wd / 2 % 1000000)};
		r->ev_watchdog = event_new(r->base, -1, EV_PERSIST, on_watchdog, r);
		if (!r->ev_watchdog || event_add(r->ev_watchdog, &tv) < 0) {
			ret = -ENOMEM;
			goto out;
		}
	}
	log_info("registry on %s (TLS 1.3), state in %s, deployment prefix %s, pin sha256//%s",
		 r->cfg.listen, r->cfg.state_dir, prefix_format(&r->db.prefix, pbuf, sizeof(pbuf)),
		 r->tls.pin);
	log_debug("beacon_listen %s is reserved: the beacon is not served yet",
		  r->cfg.beacon_listen);
	ret = sd_notify_send("READY=1");
	if (ret < 0)
		log_warnx("telling systemd we are ready: %s", strerror(-ret));
	event_base_dispatch(r->base);
	sd_notify_send("STOPPING=1");
	ret = 0;
out:
	return ret;
}

static void rdv_free(struct rdv *r)
{
	rdv_http_stop(r);
	if (r->ev_sigterm)
		event_free(r->ev_sigterm);
	if (r->ev_sigint)
		event_free(r->ev_sigint);
	if (r->ev_sighup)
		event_free(r->ev_sighup);
	if (r->ev_watchdog)
		event_free(r->ev_watchdog);
	/* Last: connections freed above may finish freeing in here, and their
	 * hooks still count on r. */
	if (r->base)
		event_base_free(r->base);
	rdv_tls_free(&r->tls);
	if (r->db.st)
		rdv_db_close(&r->db);
	sodium_free(r->admin_token);
	conf_free(rdv_schema, &r->cfg);
	free(r);
}

int rdv_main(int argc, char **argv)
{
	struct rdv *r;
	enum log_level lvl;
	enum log_format fmt;
	char err[512];
	int status = 1;

	log_init(PROG, LOG_LVL_INFO, LOG_FMT_TEXT);
	if (sodium_init() < 0) {
		log_errorx("libsodium failed to initialise");
		return 1;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		log_errorx("out of memory");
		return 1;
	}
	if (conf_load(rdv_schema, &r->cfg, RDV_DEFAULT_CONFIG, argc, argv, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		status = 2;
		goto out;
	}
	if (r->cfg.help) {
		conf_usage(rdv_schema, PROG, "[--config FILE] [OPTION...]");
		status = 0;
		goto out;
	}
	if (r->cfg.version) {
		printf("%s %s\n", PROG, PACKAGE_VERSION);
		status = 0;
		goto out;
	}
	if (config_check(r, &lvl, &fmt, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		status = 2;
		goto out;
	}
	log_init(PROG, lvl, fmt);
	if (r->cfg.check_config) {
		char *dump = conf_dump(rdv_schema, &r->cfg);
		if (!dump)
			goto out;
		printf("%s\n", dump);
		free(dump);
		status = 0;
		goto out;
	}
	if (r->cfg.print_pin) {
		if (rdv_tls_init(&r->tls, r->cfg.state_dir, r->cfg.tls_cert, r->cfg.tls_key, 0) < 0)
			goto out;
		printf("%s\n", r->tls.pin);
		status = 0;
		goto out;
	}
	status = run(r) < 0 ? 1 : 0;
out:
	rdv_free(r);
	return status;
}
