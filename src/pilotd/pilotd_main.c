/* pilotd_main.c - pilotd's thin main(): parse the configuration, build the
 * daemon, run the loop. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "httpc.h"
#include "log.h"
#include "pilotd.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* The pin's form, and not the example config's placeholder (a SHA-256 of
 * all zero bytes, which no key has): refused before anything starts. */
static int check_pin(const char *pin, char *err, size_t errlen)
{
	/* httpc_pin_to_curl's canonical form of 32 zero bytes */
	static const char zero[] = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	char curl[64];

	if (httpc_pin_to_curl(pin, curl, sizeof(curl)) < 0) {
		snprintf(err, errlen,
			 "registry_pin '%s': expected the SHA-256 of the registry's public key, "
			 "base64 (44 characters) or hex (64), as pilot-rendezvous --print-pin "
			 "prints it",
			 pin);
		return -EINVAL;
	}
	if (strcmp(curl, zero) == 0) {
		snprintf(err, errlen,
			 "registry_pin: still the example's placeholder; set the pin "
			 "pilot-rendezvous --print-pin prints on the registry");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct pilotd d; /* the daemon's one context; static only for its size */
	struct event_base *base;
	enum log_level lvl;
	enum log_format fmt;
	char err[512];
	int rc;

	log_init("pilotd", LOG_LVL_INFO, LOG_FMT_TEXT);
	if (conf_load(pilotd_schema, &d.cfg, SYSCONFDIR "/pilot/pilotd.json", argc, argv, err,
		      sizeof(err)) < 0) {
		fprintf(stderr, "pilotd: %s\n", err);
		return 2;
	}
	if (d.cfg.help) {
		conf_usage(pilotd_schema, "pilotd", "[options]");
		return 0;
	}
	if (d.cfg.version) {
		printf("pilotd %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (log_level_parse(d.cfg.log_level, &lvl) < 0) {
		fprintf(stderr, "pilotd: log_level '%s': expected debug, info, warn or error\n",
			d.cfg.log_level);
		return 2;
	}
	if (log_format_parse(d.cfg.log_format, &fmt) < 0) {
		fprintf(stderr, "pilotd: log_format '%s': expected text or json\n",
			d.cfg.log_format);
		return 2;
	}
	for (char **reg = d.cfg.registry; reg && *reg; reg++) {
		char host[256];
		uint16_t port;
		if (conf_split_hostport(*reg, host, sizeof(host), &port) < 0) {
			fprintf(stderr, "pilotd: registry '%s': expected HOST:PORT or [V6]:PORT\n",
				*reg);
			return 2;
		}
	}
	if (!d.cfg.registry || !d.cfg.registry[0] || (!d.cfg.registry_pin && !d.cfg.registry_ca)) {
		fprintf(stderr, "pilotd: %s\n",
			!d.cfg.registry || !d.cfg.registry[0]
			    ? "no registry configured: set \"registry\" or --registry HOST:PORT"
			    : "the registry must be authenticated: set --registry-pin or "
			      "--registry-ca");
		return 2;
	}
	if (d.cfg.registry_pin && check_pin(d.cfg.registry_pin, err, sizeof(err)) < 0) {
		fprintf(stderr, "pilotd: %s\n", err);
		return 2;
	}
	if (pilotd_check_networks_cfg(d.cfg.networks, err, sizeof(err)) < 0 ||
	    pilotd_certs_read(d.cfg.certificates, &d.certs, err, sizeof(err)) < 0 ||
	    pilotd_spiffe_check_cfg(&d.cfg, err, sizeof(err)) < 0 ||
	    pilotd_dns_check_cfg(&d.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "pilotd: %s\n", err);
		return 2;
	}
	pilotd_tokens_load(&d);
	conf_warn_exposed(pilotd_schema, &d.cfg);
	if (d.cfg.probe) {
		rc = pilotd_probe(&d.cfg, stdout);
		conf_free(pilotd_schema, &d.cfg);
		return rc < 0 ? 1 : 0;
	}
	if (d.cfg.check_config) {
		char *dump = conf_dump(pilotd_schema, &d.cfg);
		printf("%s\n", dump ? dump : "");
		free(dump);
		conf_free(pilotd_schema, &d.cfg);
		return 0;
	}
	log_init("pilotd", lvl, fmt);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = event_base_new();
	if (!base)
		fatalx("event_base_new failed");
	d.argc = argc;
	d.argv = argv;
	rc = pilotd_init(&d, base);
	if (rc < 0) {
		log_errorx("start-up failed: %s", strerror(-rc));
		pilotd_free(&d);
		event_base_free(base);
		return 1;
	}
	log_info("pilotd %s running; control socket %s", PACKAGE_VERSION, d.cfg.socket);
	event_base_dispatch(base);
	pilotd_free(&d);
	event_base_free(base);
	curl_global_cleanup();
	return 0;
}
