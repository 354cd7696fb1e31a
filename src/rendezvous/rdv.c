/* rdv.c - pilot-rendezvous: configuration (and its reload on SIGHUP),
 * start-up, the audit key and retention, the metrics page and the event
 * loop. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "audit.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "rdv.h"
#include "rdv_jwks.h"
#include "rdv_bcn.h"
#include "rdv_etcd.h"
#include "rdv_repl.h"
#include "sdnotify.h"
#include "util.h"

#define PROG "pilot-rendezvous"
#define OFF(m) offsetof(struct rdv_config, m)

const struct conf_key rdv_schema[] = {
    {"listen", CONF_HOSTPORT, OFF(listen), 0, 0, "0.0.0.0:9000",
     "registry address (HTTPS, TLS 1.3 only)", 0},
    {"beacon_listen", CONF_HOSTPORT, OFF(beacon_listen), 0, 0, "0.0.0.0:9001",
     "beacon address (UDP): endpoint discovery, hole punching, relay", 0},
    {"serve", CONF_STR, OFF(serve), 0, 0, "registry,beacon",
     "what this process serves: registry, beacon, or both (one state dir may serve a "
     "registry-only and a beacon-only process)",
     0},
    {"relay_rate_mbit", CONF_U32, OFF(relay_rate_mbit), 0, 100000, "100",
     "relay budget per node, Mbit/s (0 = no relaying)", 0},
    {"relay_total_mbit", CONF_U32, OFF(relay_total_mbit), 0, 1000000, "1000",
     "relay budget of the whole beacon, Mbit/s (0 = no relaying)", 0},
    {"state_dir", CONF_STR, OFF(state_dir), 0, 0, RDV_DEFAULT_STATE_DIR,
     "state directory (LMDB, TLS certificate and key)", 0},
    {"store", CONF_STR, OFF(store), 0, 0, "lmdb",
     "where the registry's state lives: lmdb (state_dir alone) or etcd (shared by "
     "replicas; state_dir keeps a local copy)",
     0},
    {"etcd_endpoints", CONF_STRLIST, OFF(etcd_endpoints), 0, 0, NULL,
     "etcd members' client URLs (http://HOST:2379 or https://...), store etcd", 0},
    {"etcd_prefix", CONF_STR, OFF(etcd_prefix), 0, 0, "/pilot/",
     "the key prefix of this deployment in etcd", 0},
    {"etcd_ca", CONF_STR, OFF(etcd_ca), 0, 0, NULL, "CA bundle (PEM) for https endpoints", 0},
    {"etcd_cert", CONF_STR, OFF(etcd_cert), 0, 0, NULL,
     "client certificate (PEM) for etcd's client-cert-auth", 0},
    {"etcd_key", CONF_STR, OFF(etcd_key), 0, 0, NULL, "its private key (PEM, mode 0600)", 0},
    {"etcd_timeout_ms", CONF_U32, OFF(etcd_timeout_ms), 100, 60000, "2000",
     "time one etcd request may take on one endpoint before the next is tried", 0},
    {"etcd_max_txn_ops", CONF_U32, OFF(etcd_max_txn_ops), 16, 1000000, "128",
     "etcd's --max-txn-ops (changes in one transaction); raise both together", 0},
    {"etcd_poll_ms", CONF_U32, OFF(etcd_poll_ms), 20, 10000, "200",
     "how often a replica looks for other replicas' writes", 0},
    {"log_level", CONF_STR, OFF(log_level), 0, 0, "info", "debug, info, warn or error", 0},
    {"log_format", CONF_STR, OFF(log_format), 0, 0, "text", "text or json", 0},
    {"tls_cert", CONF_STR, OFF(tls_cert), 0, 0, NULL,
     "TLS certificate, PEM (default: a self-signed one kept in the state dir)", 0},
    {"tls_key", CONF_STR, OFF(tls_key), 0, 0, NULL, "TLS private key, PEM, mode 0600", 0},
    {"admin_token", CONF_STR, OFF(admin_token), 0, 0, NULL, "token for admin requests",
     CONF_SECRET_ALL},
    {"admin_token_file", CONF_STR, OFF(admin_token_file), 0, 0, NULL,
     "file holding the admin token (mode 0600)", 0},
    {"metrics_listen", CONF_HOSTPORT, OFF(metrics_listen), 0, 0, NULL,
     "Prometheus /metrics address, plain HTTP (default: off)", 0},
    {"metrics_allow_remote", CONF_BOOL, OFF(metrics_allow_remote), 0, 0, "false",
     "let metrics_listen be a non-loopback address", 0},
    {"audit_max_records", CONF_U32, OFF(audit_max_records), 0, UINT32_MAX, "1000000",
     "audit records kept, the oldest pruned hourly (0 = no limit)", 0},
    {"audit_max_age_days", CONF_U32, OFF(audit_max_age_days), 0, 36500, "365",
     "days audit records are kept (0 = for ever)", 0},
    {"identity_lifetime", CONF_STR, OFF(identity_lifetime), 0, 0, NULL,
     "how long an identity lasts after registration or key rotation (30s, 15m, 12h, 90d; "
     "default: for ever)",
     0},
    {"registration", CONF_STR, OFF(registration), 0, 0, "open",
     "who may register a new key: open (anyone), token (with a registration token the admin "
     "made) or approval (once the admin approved it, or with a token); known keys always",
     0},
    {"registrations_per_prefix_hour", CONF_U32, OFF(registrations_per_prefix_hour), 0, 1000000, "0",
     "new identities one IPv4 /24 or IPv6 /64 may register an hour, counted in memory by each "
     "replica (0 = no cap)",
     0},
    {"print_pin", CONF_ACTION, OFF(print_pin), 0, 0, NULL,
     "print the registry's SPKI pin (base64) and exit", 0},
    {"print_join", CONF_ACTION, OFF(print_join), 0, 0, NULL,
     "print a join string for `pilotctl up` (registry address, pin; with --token a "
     "secret) and exit",
     0},
    {"join_host", CONF_FLAGSTR, OFF(join_host), 0, 0, NULL,
     "with --print-join: HOST[:PORT] nodes reach the registry at (default: listen, unless "
     "0.0.0.0 or ::; the port defaults to listen's)",
     0},
    {"network", CONF_FLAGSTR, OFF(network), 0, 0, NULL,
     "with --print-join: a network ID the node joins at start", 0},
    {"token", CONF_FLAGSTR, OFF(token), 0, 0, NULL,
     "with --print-join --network: that network's join token (the join string is then a "
     "secret)",
     CONF_SECRET_ALL},
    {"import_lmdb", CONF_FLAGSTR, OFF(import_lmdb), 0, 0, NULL,
     "copy the LMDB registry in this state directory into etcd (store etcd, an empty "
     "etcd_prefix; stop that registry first) and exit",
     0},
    {"check_config", CONF_ACTION, OFF(check_config), 0, 0, NULL,
     "check the configuration, print it and exit", 0},
    {"help", CONF_ACTION, OFF(help), 0, 0, NULL, "show this help and exit", 0},
    {"version", CONF_ACTION, OFF(version), 0, 0, NULL, "show the version and exit", 0},
    CONF_END,
};

/* What a configuration check hands over to be applied. */
struct rdv_checked {
	enum log_level lvl;
	enum log_format fmt;
	int registry, beacon; /* what to serve */
	char *admin_token;    /* sodium_malloc'd, or NULL */
	int token_kept; /* none configured: STATE_DIR/admin.token (NULL above: not made yet) */
	uint64_t identity_lifetime_ms;
	int reg_rule; /* enum rdv_reg_rule */
};

static const struct {
	const char *name;
	int rule;
} reg_rules[] = {{"open", RDV_REG_OPEN}, {"token", RDV_REG_TOKEN}, {"approval", RDV_REG_APPROVAL}};

/* "registration": \retval 0 with *rule, or -EINVAL. */
static int reg_rule_parse(const char *s, int *rule)
{
	for (size_t i = 0; i < nitems(reg_rules); i++)
		if (strcmp(s, reg_rules[i].name) == 0) {
			*rule = reg_rules[i].rule;
			return 0;
		}
	return -EINVAL;
}

/* Everything a bad configuration can be refused for, before any state is
 * touched (SPEC §2).  On success \p out holds what is to be applied (the
 * caller owns out->admin_token). */
static int config_check(struct rdv_config *c, struct rdv_checked *out, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;
	int both;

	memset(out, 0, sizeof(*out));
	if (log_level_parse(c->log_level, &out->lvl) < 0) {
		snprintf(err, errlen, "log_level '%s': expected debug, info, warn or error",
			 c->log_level);
		return -EINVAL;
	}
	if (log_format_parse(c->log_format, &out->fmt) < 0) {
		snprintf(err, errlen, "log_format '%s': expected text or json", c->log_format);
		return -EINVAL;
	}
	both = !strcmp(c->serve, "registry,beacon") || !strcmp(c->serve, "beacon,registry");
	out->registry = both || !strcmp(c->serve, "registry");
	out->beacon = both || !strcmp(c->serve, "beacon");
	if (!out->registry && !out->beacon) {
		snprintf(err, errlen, "serve '%s': expected registry, beacon or registry,beacon",
			 c->serve);
		return -EINVAL;
	}
	if (!c->state_dir || !c->state_dir[0]) {
		snprintf(err, errlen, "state_dir: must not be empty");
		return -EINVAL;
	}
	if (strcmp(c->store, "lmdb") != 0 && strcmp(c->store, "etcd") != 0) {
		snprintf(err, errlen, "store '%s': expected lmdb or etcd", c->store);
		return -EINVAL;
	}
	if (!strcmp(c->store, "etcd")) {
		if (!c->etcd_endpoints || !c->etcd_endpoints[0]) {
			snprintf(err, errlen, "etcd_endpoints: store etcd needs at least one");
			return -EINVAL;
		}
		for (char **ep = c->etcd_endpoints; *ep; ep++)
			if (!rdv_etcd_url_ok(*ep)) {
				snprintf(err, errlen,
					 "etcd_endpoints '%s': expected http://HOST:PORT or "
					 "https://HOST:PORT (a short URL)",
					 *ep);
				return -EINVAL;
			}
		if (!c->etcd_prefix || !c->etcd_prefix[0]) {
			snprintf(err, errlen, "etcd_prefix: must not be empty");
			return -EINVAL;
		}
		if (!c->etcd_cert != !c->etcd_key) {
			snprintf(err, errlen, "etcd_cert and etcd_key: give both or neither");
			return -EINVAL;
		}
	} else if (c->etcd_endpoints && c->etcd_endpoints[0]) {
		snprintf(err, errlen, "etcd_endpoints: set, but store is '%s' (set store etcd)",
			 c->store);
		return -EINVAL;
	}
	if (!c->tls_cert != !c->tls_key) {
		snprintf(err, errlen, "tls_cert and tls_key: give both or neither");
		return -EINVAL;
	}
	if (c->metrics_listen && !c->metrics_allow_remote &&
	    (conf_split_hostport(c->metrics_listen, host, sizeof(host), &port) < 0 ||
	     !metrics_host_is_loopback(host))) {
		snprintf(err, errlen,
			 "metrics_listen '%s': not a loopback address (set metrics_allow_remote "
			 "to serve other hosts)",
			 c->metrics_listen);
		return -EINVAL;
	}
	if (c->identity_lifetime) {
		uint64_t s = 0;
		if (duration_parse(c->identity_lifetime, &s) < 0 || s == 0) {
			snprintf(err, errlen,
				 "identity_lifetime '%s': expected a duration such as 12h or 90d",
				 c->identity_lifetime);
			return -EINVAL;
		}
		out->identity_lifetime_ms = s * 1000;
	}
	if (reg_rule_parse(c->registration, &out->reg_rule) < 0) {
		snprintf(err, errlen, "registration '%s': expected open, token or approval",
			 c->registration);
		return -EINVAL;
	}
	if (c->admin_token && c->admin_token_file) {
		snprintf(err, errlen, "admin_token and admin_token_file: give one of them");
		return -EINVAL;
	}
	if (c->admin_token_file)
		return rdv_token_load_file(&out->admin_token, c->admin_token_file, err, errlen);
	if (c->admin_token) {
		size_t n = strlen(c->admin_token);
		int ret = rdv_token_set(&out->admin_token, c->admin_token, n);
		sodium_memzero(c->admin_token, n);
		if (ret == -EINVAL)
			snprintf(err, errlen, "admin_token: must not be empty");
		else if (ret < 0)
			snprintf(err, errlen, "admin_token: %s", strerror(-ret));
		return ret;
	}
	/* None configured: the registry's own, made on its first start
	 * (admin_token_init) and read back from then on. */
	if (out->registry) {
		int ret = rdv_token_load_state(&out->admin_token, c->state_dir, err, errlen);
		out->token_kept = 1;
		return ret == -ENOENT ? 0 : ret;
	}
	return 0;
}

/* Where the admin token comes from, for the log (never the token). */
static void admin_token_where(const struct rdv_config *c, int kept, char *buf, size_t len)
{
	char path[PATH_MAX];

	if (kept && rdv_token_state_path(c->state_dir, path, sizeof(path)) == 0)
		snprintf(buf, len, "kept in %s", path);
	else if (c->admin_token_file)
		snprintf(buf, len, "from admin_token_file %s", c->admin_token_file);
	else if (c->admin_token)
		snprintf(buf, len, "from %s",
			 conf_key_from_flag(rdv_schema, c, "admin_token") ? "--admin-token"
									  : conf_loaded_path(c));
	else
		snprintf(buf, len, "none (no registry here)");
}

/* A registry without a configured token makes its own on first start. */
static int admin_token_make(const struct rdv_config *c, struct rdv_checked *ck, char *err,
			    size_t errlen)
{
	if (!ck->token_kept || ck->admin_token)
		return 0;
	return rdv_token_create_state(&ck->admin_token, c->state_dir, err, errlen);
}

int rdv_reload(struct rdv *r)
{
	struct rdv_config nc, *oc = &r->cfg;
	struct rdv_checked ck = {0};
	const char *fixed = NULL;
	char err[512];
	int rc, retention;

	memset(&nc, 0, sizeof(nc));
	rc = conf_load(rdv_schema, &nc, RDV_DEFAULT_CONFIG, r->argc, r->argv, err, sizeof(err));
	if (rc == 0)
		rc = config_check(&nc, &ck, err, sizeof(err));
	if (rc == 0)
		rc = admin_token_make(&nc, &ck, err, sizeof(err));
	/* What the running server is built around needs a restart. */
	if (rc == 0) {
		if (!str_eq_null(nc.listen, oc->listen))
			fixed = "listen";
		else if (!str_eq_null(nc.beacon_listen, oc->beacon_listen))
			fixed = "beacon_listen";
		else if (!str_eq_null(nc.serve, oc->serve))
			fixed = "serve";
		else if (!str_eq_null(nc.state_dir, oc->state_dir))
			fixed = "state_dir";
		else if (!str_eq_null(nc.store, oc->store))
			fixed = "store";
		else if (!strlist_eq(nc.etcd_endpoints, oc->etcd_endpoints))
			fixed = "etcd_endpoints";
		else if (!str_eq_null(nc.etcd_prefix, oc->etcd_prefix))
			fixed = "etcd_prefix";
		else if (!str_eq_null(nc.tls_cert, oc->tls_cert))
			fixed = "tls_cert";
		else if (!str_eq_null(nc.tls_key, oc->tls_key))
			fixed = "tls_key";
		else if (!str_eq_null(nc.metrics_listen, oc->metrics_listen))
			fixed = "metrics_listen";
		else if (nc.metrics_allow_remote != oc->metrics_allow_remote)
			fixed = "metrics_allow_remote";
		if (fixed) {
			snprintf(err, sizeof(err), "'%s' changed, which needs a restart", fixed);
			rc = -EINVAL;
		}
	}
	if (rc < 0) {
		r->stats.reload_failures++;
		log_errorx("SIGHUP: reload refused, the running configuration stays in force: %s",
			   err);
		sodium_free(ck.admin_token);
		conf_free(rdv_schema, &nc);
		return rc;
	}
	/* Apply, whole: nothing below can fail. */
	retention = nc.audit_max_records != oc->audit_max_records ||
		    nc.audit_max_age_days != oc->audit_max_age_days;
	if (!str_eq_null(r->admin_token, ck.admin_token) || r->admin_token_kept != ck.token_kept) {
		char where[PATH_MAX + 64];
		admin_token_where(&nc, ck.token_kept, where, sizeof(where));
		log_info("admin token changed: now %s", where);
	}
	r->admin_token_kept = ck.token_kept;
	sodium_free(r->admin_token);
	r->admin_token = ck.admin_token;
	r->db.admin_token = r->admin_token;
	r->db.identity_lifetime_ms = r->identity_lifetime_ms = ck.identity_lifetime_ms;
	if (r->db.reg_rule != ck.reg_rule)
		log_info("registration of new keys: %s", nc.registration);
	r->db.reg_rule = r->reg_rule = ck.reg_rule;
	r->db.reg_per_prefix_hour = nc.registrations_per_prefix_hour;
	conf_free(rdv_schema, oc);
	*oc = nc;
	log_init(PROG, ck.lvl, ck.fmt);
	if (r->bcn)
		rdv_bcn_set_rate(r->bcn, oc->relay_rate_mbit, oc->relay_total_mbit);
	r->stats.reloads++;
	log_info("configuration reloaded%s%s", conf_loaded_path(oc)[0] ? " from " : "",
		 conf_loaded_path(oc));
	/* New limits apply now, not at the next hourly run. */
	if (retention)
		rdv_audit_prune(r, now_real_ms());
	return 0;
}

/* ------------------------------------------------------------ audit key */

int rdv_audit_prune(struct rdv *r, uint64_t now_ms)
{
	uint64_t pruned = 0;
	int ret;

	ret = audit_prune(r->db.audit, r->cfg.audit_max_records,
			  (uint64_t)r->cfg.audit_max_age_days * 86400000ull, now_ms, r->audit_sk,
			  &pruned);
	r->stats.audit_pruned += pruned;
	if (ret < 0 && ret != -EBADMSG) /* audit_prune logged that one */
		log_warnx("audit retention: %s", strerror(-ret));
	return ret < 0 ? ret : (int)MIN(pruned, (uint64_t)INT_MAX);
}

static int audit_key_init(struct rdv *r)
{
	char b64[64];
	int ret;

	r->audit_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!r->audit_sk)
		return -ENOMEM;
	ret = rdv_audit_key_load(r->cfg.state_dir, r->audit_sk, r->db.audit_pk);
	if (ret < 0)
		return ret;
	r->db.have_audit_pk = 1;
	b64_encode(b64, sizeof(b64), r->db.audit_pk, sizeof(r->db.audit_pk));
	log_info("audit log at event %llu; audit key (Ed25519, public) %s",
		 (unsigned long long)audit_last_id(r->db.audit, NULL), b64);
	/* A key of its own for invites: a checkpoint signature and an invite
	 * are different statements, and neither key can be made to sign the
	 * other's (the invite's domain line aside). */
	r->invite_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!r->invite_sk)
		return -ENOMEM;
	ret = rdv_key_load(r->cfg.state_dir, RDV_INVITE_KEY_FILE, "invite", r->invite_sk,
			   r->db.invite_pk);
	if (ret < 0)
		return ret;
	r->db.invite_sk = r->invite_sk;
	return 0;
}

static void on_audit_prune(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rdv_audit_prune(arg, now_real_ms());
}

/* A certificate ends its membership at its not-after without anyone
 * asking: looked for every second (peers also cut it at that second on
 * their own; this is what tells the registry's views and the audit). */
static void on_cert_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct rdv *r = arg;

	(void)fd;
	(void)what;
	rdv_reg_sweep(&r->db, now_real_ms());
}

/* ------------------------------------------------------------ metrics */

struct node_count {
	struct store_txn *t;
	struct rdv_db *db;
	uint64_t pub, priv, gone;
};

static int node_count_cb(void *arg, uint32_t id)
{
	struct node_count *nc = arg;
	struct rdv_node n;

	if (rdv_node_get(nc->t, nc->db, id, &n) < 0)
		return 0; /* a corrupt record is logged, not counted */
	if (!n.active)
		nc->gone++;
	else if (n.public)
		nc->pub++;
	else
		nc->priv++;
	return 0;
}

static int net_count_cb(void *arg, const struct rdv_network *n)
{
	(void)n;
	(*(uint64_t *)arg)++;
	return 0;
}

static void beacon_metrics(const struct rdv_bcn_stats *b, struct evbuffer *out)
{
	char lab[64];

	metrics_gauge(out, "pilot_beacon_nodes", "Nodes with a bound endpoint (at the last sweep).",
		      b->nodes);
	metrics_counter(out, "pilot_beacon_frames_total", "Frames received by the beacon.",
			b->rx_frames);
	metrics_counter(out, "pilot_beacon_binds_total", "Endpoint bindings answered.", b->binds);
	metrics_counter(out, "pilot_beacon_echoes_total", "Echoes answered (netcheck).", b->echoes);
	metrics_counter(out, "pilot_beacon_punch_requests_total", "Punch requests coordinated.",
			b->punch_reqs);
	metrics_counter(out, "pilot_beacon_relayed_packets_total", "Tunnel records relayed.",
			b->relayed_packets);
	metrics_counter(out, "pilot_beacon_relayed_bytes_total", "Tunnel record bytes relayed.",
			b->relayed_bytes);
	metrics_family(out, "pilot_beacon_dropped_total", "counter",
		       "Frames the beacon dropped, by reason.");
	for (int i = 0; i < RDV_BCN_DROP_COUNT; i++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"", rdv_bcn_drop_name(i));
		metrics_sample(out, "pilot_beacon_dropped_total", lab, b->dropped[i]);
	}
}

static void repl_metrics(struct rdv *r, struct evbuffer *out)
{
	struct rdv_repl_stats st;

	rdv_repl_get_stats(r->db.repl, &st);
	metrics_counter(out, "pilot_registry_etcd_commits_total",
			"Registry transactions etcd accepted from this replica.", st.commits);
	metrics_counter(out, "pilot_registry_etcd_conflicts_total",
			"Transactions run again after another replica wrote first.", st.conflicts);
	metrics_counter(out, "pilot_registry_etcd_applied_total",
			"Revisions of other replicas applied to the local copy.", st.applied);
	metrics_counter(out, "pilot_registry_etcd_resyncs_total",
			"Whole copies of the state taken from etcd.", st.resyncs);
	metrics_counter(out, "pilot_registry_etcd_errors_total",
			"etcd requests that failed (unreachable or refused).", st.errors);
	metrics_gauge(out, "pilot_registry_etcd_revision",
		      "The etcd revision the local copy reflects.", (uint64_t)st.revision);
	metrics_gauge(out, "pilot_registry_etcd_up", "1 if etcd answered the last request.",
		      r->repl_down ? 0 : 1);
}

/* Registration of new keys (rdv_reg_signup.c) and the inbox cap. */
static void reg_metrics(struct rdv *r, struct evbuffer *out)
{
	const struct rdv_reg_stats *st = &r->db.reg_stats;
	const char *name;
	char lab[64];

	metrics_counter(out, "pilot_registry_registrations_total", "New keys registered.",
			st->new_keys);
	metrics_family(out, "pilot_registry_registrations_refused_total", "counter",
		       "Registrations of new keys refused (or held), by reason.");
	for (int i = 0; (name = rdv_reg_refusal_name(i)); i++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"", name);
		metrics_sample(out, "pilot_registry_registrations_refused_total", lab,
			       st->refused[i]);
	}
	metrics_family(out, "pilot_registry_registration_decisions_total", "counter",
		       "Registrations held for approval, and the admin's decisions.");
	metrics_sample(out, "pilot_registry_registration_decisions_total", "decision=\"held\"",
		       st->pending);
	metrics_sample(out, "pilot_registry_registration_decisions_total", "decision=\"approved\"",
		       st->approved);
	metrics_sample(out, "pilot_registry_registration_decisions_total", "decision=\"rejected\"",
		       st->rejected);
	metrics_gauge(out, "pilot_registry_registrations_pending",
		      "Registrations waiting for the admin's approval.",
		      rdv_reg_pending_count(&r->db));
	metrics_counter(out, "pilot_registry_handshakes_limited_total",
			"Handshake requests refused: the requester has too many pending.",
			st->inbox_limited);
}

void rdv_metrics_fill(void *arg, struct evbuffer *out)
{
	struct rdv *r = arg;
	struct store_txn t;
	struct node_count nc = {&t, &r->db, 0, 0, 0};
	const char *api, *name;
	uint64_t nets = 0, cum = 0;
	char lab[160];

	/* Counted at scrape time from one snapshot: exact, and nothing to
	 * keep in step with every operation. */
	store_txn_begin(r->db.st, &t, 1);
	rdv_node_iter(&t, &r->db, node_count_cb, &nc);
	rdv_net_iter(&t, &r->db, net_count_cb, &nets);
	store_txn_abort(&t);
	metrics_family(out, "pilot_registry_nodes", "gauge",
		       "Registered nodes by visibility (their sum: all registered nodes).");
	metrics_sample(out, "pilot_registry_nodes", "visibility=\"public\"", nc.pub);
	metrics_sample(out, "pilot_registry_nodes", "visibility=\"private\"", nc.priv);
	metrics_gauge(out, "pilot_registry_nodes_deregistered",
		      "Nodes that deregistered (their ID and key are kept).", nc.gone);
	metrics_gauge(out, "pilot_registry_networks", "Networks (the backbone not counted).", nets);
	metrics_family(out, "pilot_registry_requests_total", "counter",
		       "Requests handled, by API, operation and outcome (ok or the error code).");
	for (int i = 0; rdv_op_label(i, &api, &name) == 0; i++)
		for (int o = 0; o < RDV_OUTCOMES; o++) {
			if (!r->stats.requests[i][o])
				continue;
			snprintf(lab, sizeof(lab), "api=\"%s\",op=\"%s\",outcome=\"%s\"", api, name,
				 rdv_outcome_name(o));
			metrics_sample(out, "pilot_registry_requests_total", lab,
				       r->stats.requests[i][o]);
		}
	metrics_family(out, "pilot_registry_request_seconds", "histogram",
		       "Time to handle a request (parse, checks, LMDB commit).");
	for (int b = 0; b <= RDV_LAT_BUCKETS; b++) {
		cum += r->stats.lat_buckets[b];
		if (b < RDV_LAT_BUCKETS)
			snprintf(lab, sizeof(lab), "le=\"%g\"", rdv_lat_bound(b));
		else
			snprintf(lab, sizeof(lab), "le=\"+Inf\"");
		metrics_sample(out, "pilot_registry_request_seconds_bucket", lab, cum);
	}
	metrics_sample_f(out, "pilot_registry_request_seconds_sum", NULL, r->stats.lat_sum);
	metrics_sample(out, "pilot_registry_request_seconds_count", NULL, r->stats.lat_count);
	metrics_gauge(out, "pilot_registry_event_streams", "Open events streams.", r->nstreams);
	metrics_gauge(out, "pilot_registry_connections", "Open TLS connections.", r->nconns);
	metrics_gauge(out, "pilot_registry_audit_last_id", "event_id of the newest audit record.",
		      audit_last_id(r->db.audit, NULL));
	metrics_counter(out, "pilot_registry_audit_pruned_total",
			"Audit records removed by retention.", r->stats.audit_pruned);
	metrics_counter(
	    out, "pilot_registry_audit_security_suppressed_total",
	    "Security audit records left out by their rate limit (counted in the next one).",
	    r->db.sec.suppressed_total);
	metrics_family(out, "pilot_registry_reports_total", "counter",
		       "Reputation reports recorded, by verdict.");
	metrics_sample(out, "pilot_registry_reports_total", "verdict=\"good\"",
		       r->db.rep_reports[0]);
	metrics_sample(out, "pilot_registry_reports_total", "verdict=\"bad\"",
		       r->db.rep_reports[1]);
	metrics_counter(out, "pilot_registry_blocks_total",
			"Blocks recorded (pilotd's block lists, told to the registry).",
			r->db.rep_blocks);
	metrics_counter(out, "pilot_registry_score_crossings_total",
			"Scores that moved across a network rule's min_score.",
			r->db.rep_crossings);
	metrics_counter(out, "pilot_registry_rate_limited_total",
			"Requests refused by the per-source rate limit.", r->stats.rate_limited);
	metrics_gauge(out, "pilot_registry_rate_sources",
		      "Source addresses the rate limit tracks (two generations).",
		      rdv_rate_count(&r->rate));
	metrics_counter(out, "pilot_registry_rate_generations_total",
			"Rate limit generations dropped because the table filled (every source "
			"stays metered; the longest idle are forgotten).",
			r->rate.rotations);
	reg_metrics(r, out);
	{
		uint64_t ok, failed;
		rdv_jwks_counts(r, &ok, &failed);
		metrics_counter(out, "pilot_registry_keyset_fetches_total",
				"Key sets of oidc and spiffe networks fetched and stored.", ok);
		metrics_counter(out, "pilot_registry_keyset_fetch_failures_total",
				"Key set fetches that failed (the last good set stays).", failed);
	}
	metrics_counter(out, "pilot_registry_config_reloads_total",
			"Configuration reloads applied.", r->stats.reloads);
	metrics_counter(out, "pilot_registry_config_reload_failures_total",
			"Configuration reloads refused.", r->stats.reload_failures);
	if (r->db.repl)
		repl_metrics(r, out);
	if (r->bcn)
		beacon_metrics(rdv_bcn_stats(r->bcn), out);
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
	rdv_reload(arg);
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

/* A replica looks for other replicas' writes.  etcd going away is said
 * once, and its return once; the copy keeps serving reads meanwhile. */
static void on_repl_poll(evutil_socket_t fd, short what, void *arg)
{
	struct rdv *r = arg;
	struct rdv_repl_stats st;
	int rc;

	(void)fd;
	(void)what;
	/* While etcd does not answer, each try blocks for the timeouts of
	 * every endpoint: try every 2 s, not every poll, so that reads from
	 * the copy go on meanwhile. */
	if (r->repl_down && now_mono_ms() < r->repl_retry_ms)
		return;
	rc = rdv_db_sync(&r->db);
	if (rc == 0 && r->presence[0])
		rdv_repl_presence(r->db.repl, r->cfg.listen, r->presence, now_mono_ms());
	if (rc < 0)
		r->repl_retry_ms = now_mono_ms() + 2000;
	rdv_repl_get_stats(r->db.repl, &st);
	if (rc < 0 && !r->repl_down) {
		r->repl_down = 1;
		log_warnx("etcd: %s; serving reads from the local copy (revision %lld)",
			  st.last_error[0] ? st.last_error : strerror(-rc), (long long)st.revision);
	} else if (rc == 0 && r->repl_down) {
		r->repl_down = 0;
		log_info("etcd: reachable again at %s (revision %lld)", st.endpoint,
			 (long long)st.revision);
	}
}

/* At start, once the state dir exists: the token is made if it is the
 * registry's own and there is none yet, and where it is kept is logged. */
static int admin_token_init(struct rdv *r)
{
	struct rdv_checked ck = {.admin_token = r->admin_token, .token_kept = r->admin_token_kept};
	char err[512], where[PATH_MAX + 64];
	int made = !r->admin_token, ret;

	if (!r->serve_registry)
		return 0;
	ret = admin_token_make(&r->cfg, &ck, err, sizeof(err));
	if (ret < 0) {
		log_errorx("%s", err);
		return ret;
	}
	r->admin_token = ck.admin_token;
	admin_token_where(&r->cfg, r->admin_token_kept, where, sizeof(where));
	log_info("admin token: %s%s", r->admin_token_kept && made ? "made and " : "", where);
	return 0;
}

/* The etcd settings of \p c (store "etcd", checked by config_check). */
static void etcd_conf(const struct rdv_config *c, struct rdv_db_etcd *ec)
{
	*ec = (struct rdv_db_etcd){
	    .endpoints = (const char *const *)c->etcd_endpoints,
	    .prefix = c->etcd_prefix,
	    .timeout_ms = (int)c->etcd_timeout_ms,
	    .max_txn_ops = c->etcd_max_txn_ops,
	    .ca = c->etcd_ca,
	    .cert = c->etcd_cert,
	    .key = c->etcd_key,
	};
	while (ec->endpoints && ec->endpoints[ec->n])
		ec->n++;
}

/* --import-lmdb DIR: an LMDB registry's state into the configured etcd. */
static int import_lmdb(struct rdv *r)
{
	struct rdv_db_etcd ec;
	char err[1024];
	uint64_t n = 0;
	int rc;

	if (strcmp(r->cfg.store, "etcd") != 0) {
		log_errorx("--import-lmdb: the configuration's store is '%s'; give the etcd one "
			   "the replicas will run with (store etcd, etcd_endpoints, etcd_prefix)",
			   r->cfg.store);
		return -EINVAL;
	}
	etcd_conf(&r->cfg, &ec);
	rc = rdv_db_import(r->cfg.import_lmdb, &ec, &n, err, sizeof(err));
	if (rc < 0) {
		log_errorx("--import-lmdb %s: %s", r->cfg.import_lmdb, err);
		return rc;
	}
	log_info("imported %llu keys from %s into etcd under '%s': start the replicas on empty "
		 "state directories (with this one's *.key and tls.* files)",
		 (unsigned long long)n, r->cfg.import_lmdb, r->cfg.etcd_prefix);
	return 0;
}

static int run(struct rdv *r)
{
	struct timeval prune = {RDV_AUDIT_PRUNE_INTERVAL_S, 0};
	struct timeval sweep = {1, 0};
	char pbuf[INET6_ADDRSTRLEN + 4];
	uint64_t wd;
	int ret;

	if (!strcmp(r->cfg.store, "etcd")) {
		struct rdv_db_etcd ec;
		etcd_conf(&r->cfg, &ec);
		ret = rdv_db_open_etcd(&r->db, r->cfg.state_dir, &ec);
	} else {
		ret = rdv_db_open(&r->db, r->cfg.state_dir);
	}
	if (ret < 0)
		goto out;
	if ((ret = admin_token_init(r)) < 0)
		goto out;
	r->db.notify = rdv_http_notify;
	r->db.notify_arg = r;
	r->db.admin_token = r->admin_token;
	r->db.identity_lifetime_ms = r->identity_lifetime_ms;
	r->db.reg_rule = r->reg_rule;
	r->db.reg_per_prefix_hour = r->cfg.registrations_per_prefix_hour;
	/* The nonce cache covers what is signed from now on (rdv_store.h). */
	r->db.started_ms = now_real_ms();
	if (r->serve_registry) {
		if ((ret = audit_key_init(r)) < 0)
			goto out;
		/* Retention once now (a log that outgrew a lowered limit while
		 * we were down), then hourly.  A failure is logged, not fatal. */
		rdv_audit_prune(r, now_real_ms());
		ret = rdv_tls_init(&r->tls, r->cfg.state_dir, r->cfg.tls_cert, r->cfg.tls_key,
				   RDV_TLS_CTX);
		if (ret < 0)
			goto out;
	}
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
	/* The beacon first: the register answer announces its key.  A
	 * registry whose beacon runs in another process (serve: beacon, on
	 * the same state dir) announces the key from the state dir. */
	ret = r->serve_beacon ? rdv_bcn_start(r) : rdv_bcn_announce(r);
	if (ret < 0)
		goto out;
	if (r->serve_registry) {
		ret = rdv_http_start(r);
		if (ret < 0)
			goto out;
		if ((ret = rdv_jwks_start(r)) < 0) {
			log_warnx("cannot start the key set fetcher");
			goto out;
		}
		r->ev_audit_prune = event_new(r->base, -1, EV_PERSIST, on_audit_prune, r);
		if (!r->ev_audit_prune || event_add(r->ev_audit_prune, &prune) < 0) {
			ret = -ENOMEM;
			goto out;
		}
		r->ev_cert_sweep = event_new(r->base, -1, EV_PERSIST, on_cert_sweep, r);
		if (!r->ev_cert_sweep || event_add(r->ev_cert_sweep, &sweep) < 0) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (r->db.repl) {
		/* The list of live replicas (admin "replicas"): P r/LISTEN. */
		snprintf(
		    r->presence, sizeof(r->presence),
		    "{\"listen\":\"%s\",\"beacon\":\"%s\",\"version\":\"%s\",\"started\":%llu}",
		    r->cfg.listen, r->serve_beacon ? r->cfg.beacon_listen : "", PACKAGE_VERSION,
		    (unsigned long long)(now_real_ms() / 1000));
		if (rdv_repl_presence(r->db.repl, r->cfg.listen, r->presence, now_mono_ms()) < 0)
			log_warnx("etcd: could not announce this replica (it is retried)");
	}
	if (r->db.repl) {
		struct timeval poll = {(time_t)(r->cfg.etcd_poll_ms / 1000),
				       (suseconds_t)(r->cfg.etcd_poll_ms % 1000 * 1000)};
		r->ev_repl = event_new(r->base, -1, EV_PERSIST, on_repl_poll, r);
		if (!r->ev_repl || event_add(r->ev_repl, &poll) < 0) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (r->cfg.metrics_listen) {
		r->metrics = metrics_listen(r->base, r->cfg.metrics_listen,
					    r->cfg.metrics_allow_remote, rdv_metrics_fill, r);
		if (!r->metrics) {
			ret = -EADDRNOTAVAIL; /* logged */
			goto out;
		}
	}
	wd = sd_watchdog_usec();
	if (wd) {
		struct timeval tv = {(time_t)(wd / 2000000), (suseconds_t)(wd / 2 % 1000000)};
		r->ev_watchdog = event_new(r->base, -1, EV_PERSIST, on_watchdog, r);
		if (!r->ev_watchdog || event_add(r->ev_watchdog, &tv) < 0) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (r->serve_registry)
		log_info("registry on %s (TLS 1.3), state in %s, deployment prefix %s, pin "
			 "sha256//%s",
			 r->cfg.listen, r->cfg.state_dir,
			 prefix_format(&r->db.prefix, pbuf, sizeof(pbuf)), r->tls.pin);
	else
		log_info("beacon only, serving the nodes of the registry state in %s",
			 r->cfg.state_dir);
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
	metrics_close(r->metrics);
	rdv_jwks_stop(r); /* before the parked requests it would wake go */
	rdv_http_stop(r);
	rdv_bcn_stop(r);
	if (r->ev_sigterm)
		event_free(r->ev_sigterm);
	if (r->ev_sigint)
		event_free(r->ev_sigint);
	if (r->ev_sighup)
		event_free(r->ev_sighup);
	if (r->ev_watchdog)
		event_free(r->ev_watchdog);
	if (r->ev_audit_prune)
		event_free(r->ev_audit_prune);
	if (r->ev_cert_sweep)
		event_free(r->ev_cert_sweep);
	if (r->ev_repl)
		event_free(r->ev_repl);
	/* Last: connections freed above may finish freeing in here, and their
	 * hooks still count on r. */
	if (r->base)
		event_base_free(r->base);
	rdv_tls_free(&r->tls);
	if (r->db.st)
		rdv_db_close(&r->db);
	sodium_free(r->admin_token);
	sodium_free(r->audit_sk);
	sodium_free(r->invite_sk);
	conf_free(rdv_schema, &r->cfg);
	free(r);
}

int rdv_main(int argc, char **argv)
{
	struct rdv *r;
	struct rdv_checked ck;
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
		printf("\n  %s --print-join [--join-host HOST[:PORT]] [--network NET --token T]\n"
		       "  prints one line for `pilotctl up` on a new node; with --token it holds\n"
		       "  the network's join token and is a secret.\n",
		       PROG);
		status = 0;
		goto out;
	}
	if (r->cfg.version) {
		printf("%s %s\n", PROG, PACKAGE_VERSION);
		status = 0;
		goto out;
	}
	if (!r->cfg.print_join && (r->cfg.join_host || r->cfg.network || r->cfg.token)) {
		log_errorx("--join-host, --network and --token go with --print-join");
		status = 2;
		goto out;
	}
	r->argc = argc;
	r->argv = argv;
	if (config_check(&r->cfg, &ck, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		status = 2;
		goto out;
	}
	r->admin_token = ck.admin_token;
	r->admin_token_kept = ck.token_kept;
	r->identity_lifetime_ms = ck.identity_lifetime_ms;
	r->reg_rule = ck.reg_rule;
	r->serve_registry = ck.registry;
	r->serve_beacon = ck.beacon;
	log_init(PROG, ck.lvl, ck.fmt);
	conf_warn_exposed(rdv_schema, &r->cfg);
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
	if (r->cfg.print_join) {
		if (!r->serve_registry) {
			log_errorx("serve '%s': this configuration serves no registry; run "
				   "--print-join with the registry's",
				   r->cfg.serve);
			goto out;
		}
		if (rdv_join_print(&r->cfg, err, sizeof(err)) < 0) {
			log_errorx("--print-join: %s", err);
			goto out;
		}
		status = 0;
		goto out;
	}
	if (r->cfg.import_lmdb) {
		status = import_lmdb(r) < 0 ? 1 : 0;
		goto out;
	}
	status = run(r) < 0 ? 1 : 0;
out:
	rdv_free(r);
	return status;
}
