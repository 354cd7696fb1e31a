/* rdv_join.c - pilot-rendezvous --print-join: the join string
 * (src/lib/join.h, doc/JOIN.md) that `pilotctl up` turns into a node's
 * pilotd.json.  It holds where nodes reach this registry (--join-host,
 * else the listen address when it names a host), the pin of the
 * registry's TLS key, and optionally a network to join with its token. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "join.h"
#include "metrics.h"
#include "rdv.h"
#include "rdv_tls.h"

static int is_wildcard(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, host, &a4) == 1)
		return a4.s_addr == htonl(INADDR_ANY);
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}

/* --join-host as HOST:PORT: a bare HOST, [V6] or V6 takes the port of
 * \p listen_port. */
static int join_host_addr(const char *jh, uint16_t listen_port, char *out, size_t len, char *err,
			  size_t errlen)
{
	char host[256];
	struct in6_addr a6;
	uint16_t port;
	size_t n = strlen(jh);
	int w;

	if (conf_split_hostport(jh, host, sizeof(host), &port) == 0)
		w = snprintf(out, len, "%s", jh);
	else if (n > 2 && jh[0] == '[' && jh[n - 1] == ']')
		w = snprintf(out, len, "%s:%u", jh, listen_port);
	else if (inet_pton(AF_INET6, jh, &a6) == 1)
		w = snprintf(out, len, "[%s]:%u", jh, listen_port);
	else if (n > 0 && !strchr(jh, ':') && !strchr(jh, '['))
		w = snprintf(out, len, "%s:%u", jh, listen_port);
	else
		w = -1;
	if (w < 0 || (size_t)w >= len) {
		snprintf(err, errlen,
			 "--join-host '%.64s': expected HOST, HOST:PORT, [IPV6] or [IPV6]:PORT",
			 jh);
		return -EINVAL;
	}
	return 0;
}

/* The address nodes dial: --join-host, else a listen address that names
 * a host (0.0.0.0 and :: name none). */
static int join_registry(const struct rdv_config *c, char *out, size_t len, int *loopback,
			 char *err, size_t errlen)
{
	char host[256];
	uint16_t port;

	if (conf_split_hostport(c->listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "listen '%s': expected HOST:PORT", c->listen);
		return -EINVAL;
	}
	if (c->join_host)
		return join_host_addr(c->join_host, port, out, len, err, errlen);
	if (is_wildcard(host)) {
		snprintf(err, errlen,
			 "listen %s is every address, which no node can dial: pass --join-host "
			 "HOST[:PORT], the address nodes reach this registry at",
			 c->listen);
		return -EINVAL;
	}
	*loopback = metrics_host_is_loopback(host);
	snprintf(out, len, "%s", c->listen);
	return 0;
}

static int join_network(const char *s, uint16_t *net, char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9' || (v = strtoul(s, &end, 10), *end) || v == 0 || v > 65535) {
		snprintf(err, errlen, "--network '%.32s': expected a network ID (1-65535)", s);
		return -EINVAL;
	}
	*net = (uint16_t)v;
	return 0;
}

int rdv_join_print(const struct rdv_config *c, char *err, size_t errlen)
{
	struct join_info ji;
	struct rdv_tls tls;
	char s[JOIN_MAX_LEN + 1];
	int ret, loopback = 0;

	memset(&ji, 0, sizeof(ji));
	if (c->token && !c->network) {
		snprintf(err, errlen, "--token: give the network it joins with --network NET");
		return -EINVAL;
	}
	ret = join_registry(c, ji.registry, sizeof(ji.registry), &loopback, err, errlen);
	if (ret == 0)
		ret = join_check_registry(ji.registry, err, errlen);
	if (ret < 0)
		return ret;
	if (c->network && (ret = join_network(c->network, &ji.network, err, errlen)) < 0)
		return ret;
	if (c->token &&
	    snprintf(ji.token, sizeof(ji.token), "%s", c->token) >= (int)sizeof(ji.token)) {
		snprintf(err, errlen, "--token: longer than %d characters", JOIN_TOKEN_MAX);
		ret = -EINVAL;
		goto out;
	}
	/* Never a new certificate here: one made by this (root) process
	 * would not be the service's to read, and nodes would pin a key the
	 * running registry does not have. */
	ret = rdv_tls_init(&tls, c->state_dir, c->tls_cert, c->tls_key, RDV_TLS_NO_CREATE);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read the registry's TLS certificate (see above)");
		goto out;
	}
	snprintf(ji.pin, sizeof(ji.pin), "%s", tls.pin);
	rdv_tls_free(&tls);
	ret = join_encode(&ji, s, sizeof(s), err, errlen);
	if (ret < 0)
		goto out;
	if (printf("%s\n", s) < 0 || fflush(stdout) == EOF) {
		snprintf(err, errlen, "writing the join string: %s", strerror(errno));
		ret = -EIO;
		goto out;
	}
	if (loopback)
		fprintf(stderr,
			"pilot-rendezvous: listen %s is a loopback address: only nodes on this "
			"host can use this join string (pass --join-host HOST[:PORT])\n",
			c->listen);
	if (ji.token[0])
		fprintf(stderr,
			"pilot-rendezvous: this join string carries network %u's join token: it "
			"is a secret, hand it over as you would the token\n",
			ji.network);
	ret = 0;
out:
	join_info_wipe(&ji);
	sodium_memzero(s, sizeof(s));
	return ret;
}
