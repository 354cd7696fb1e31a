/* ctl_pass.c - commands that are nothing but a daemon request, described
 * by data rather than code: positional arguments and --options become the
 * members of "args" (doc/IPC.md), the data comes back as it is.  A later
 * command then needs only its daemon side: pilotctl already sends
 *
 *     {"cmd":"network.create","args":{"name":"lab","join_rule":"open",...}}
 *
 * (IPC name: the command words joined by '.'; option names with '-'
 * turned into '_').  Until the daemon answers it, unknown_command becomes
 * the error code "unsupported". */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "policy.h"
#include "util.h"

#define FILE_MAX (60 * 1024) /* a secret; the whole request stays under 64 KiB */
/* A JSON file (a policy) may be indented and commented: twice what its
 * compact form may be (POLICY_MAX_BYTES), which is checked after parsing. */
#define JSONFILE_MAX (2 * POLICY_MAX_BYTES)

/* clang-format off */
const struct ctl_pass ctl_pass_find[] = {
	{.ipc = "find", .usage = "find HOSTNAME", .summary = "look a node up by hostname",
	 .pos = {{"HOSTNAME", "hostname", CTL_ARG_STR}}},
	{0}};
const struct ctl_pass ctl_pass_set_hostname[] = {
	{.ipc = "set-hostname", .usage = "set-hostname NAME",
	 .summary = "set this node's hostname (NAME.pilot)",
	 .pos = {{"NAME", "hostname", CTL_ARG_STR}}},
	{0}};
const struct ctl_pass ctl_pass_clear_hostname[] = {
	{.ipc = "clear-hostname", .usage = "clear-hostname", .summary = "remove this node's hostname"},
	{0}};
const struct ctl_pass ctl_pass_set_public[] = {
	{.ipc = "set-public", .usage = "set-public", .summary = "let every node resolve this one and learn its endpoint"},
	{0}};
const struct ctl_pass ctl_pass_set_private[] = {
	{.ipc = "set-private", .usage = "set-private",
	 .summary = "only trusted nodes and shared networks resolve this one"},
	{0}};
const struct ctl_pass ctl_pass_set_tags[] = {
	{.ipc = "set-tags", .usage = "set-tags TAG...",
	 .summary = "replace this node's policy tags (none: clear them)",
	 .pos = {{"TAG", "tags", CTL_ARG_REST | CTL_ARG_OPTIONAL}}},
	{0}};
const struct ctl_pass ctl_pass_rotate_key[] = {
	{.ipc = "rotate-key", .usage = "rotate-key [--admin-token T]",
	 .summary = "new identity key; node ID and address stay; renews the identity (an "
		    "expired one only with --admin-token or a fresh OIDC token/JWT-SVID)",
	 .admin = 1},
	{0}};
const struct ctl_pass ctl_pass_block[] = {
	{.ipc = "block", .usage = "block NODE", .summary = "refuse every flow from and to a node",
	 .pos = {{"NODE", "target", CTL_ARG_STR}}},
	{0}};
const struct ctl_pass ctl_pass_unblock[] = {
	{.ipc = "unblock", .usage = "unblock NODE", .summary = "take a node off the block list",
	 .pos = {{"NODE", "target", CTL_ARG_STR}}},
	{0}};
const struct ctl_pass ctl_pass_blocklist[] = {
	{.ipc = "blocklist", .usage = "blocklist", .summary = "the blocked nodes"},
	{0}};

const struct ctl_pass ctl_pass_broadcast[] = {
	{.ipc = "broadcast", .usage = "broadcast NET PORT MESSAGE",
	 .summary = "one UDP datagram to every member of a network that admits it (the same as "
		    "one to its broadcast address)",
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}, {"PORT", "port", CTL_ARG_NUM},
		 {"MESSAGE", "message", CTL_ARG_STR}}},
	{0}};

const struct ctl_pass ctl_pass_network[] = {
	{.sub = "create", .ipc = "network.create",
	 .usage = "network create NAME [--id N] --join-rule open|token|invite|ca|oidc|spiffe "
		  "[--token T] [rule options]",
	 .summary = "create a network (admin)", .admin = 1, .any_opts = 1,
	 .pos = {{"NAME", "name", CTL_ARG_STR}},
	 .opts = {{"id", "network_id", CTL_ARG_NUM}, {"join-rule", "join_rule", CTL_ARG_STR},
		  {"token", "token", CTL_ARG_STR}, {"org", "org_id", CTL_ARG_AUTO},
		  {"ca-cert", "ca_cert", CTL_ARG_FILE},
		  {"oidc-issuer", "oidc_issuer", CTL_ARG_STR},
		  {"oidc-audience", "oidc_audience", CTL_ARG_STR},
		  {"oidc-claim", "oidc_claim", CTL_ARG_MULTI},
		  {"oidc-ca", "oidc_ca", CTL_ARG_FILE},
		  {"spiffe-trust-domain", "spiffe_trust_domain", CTL_ARG_STR},
		  {"spiffe-id", "spiffe_id", CTL_ARG_STR},
		  {"spiffe-audience", "spiffe_audience", CTL_ARG_STR},
		  {"spiffe-bundle", "spiffe_bundle", CTL_ARG_FILE},
		  {"spiffe-bundle-endpoint", "spiffe_bundle_endpoint", CTL_ARG_STR},
		  {"spiffe-bundle-ca", "spiffe_bundle_ca", CTL_ARG_FILE},
		  {"shared-subject", "shared_subject", CTL_ARG_BOOL}}},
	{.sub = "join", .ipc = "network.join",
	 .usage = "network join NET [--token T | --invite CODE | --cert FILE | --oidc-token FILE | "
		  "--svid FILE]",
	 .summary = "join a network (with --admin-token: added by the admin, whatever the rule)",
	 .admin = 1,
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}},
	 .opts = {{"token", "token", CTL_ARG_STR}, {"invite", "invite", CTL_ARG_STR},
		  {"cert", "certificate", CTL_ARG_FILE},
		  {"oidc-token", "oidc_token", CTL_ARG_FILE},
		  {"svid", "svid", CTL_ARG_FILE}}},
	{.sub = "invite", .ipc = "network.invite", .usage = "network invite NET [--ttl SECONDS]",
	 .summary = "make a single-use invite code (a member signs it; with --admin-token "
		    "the registry does)",
	 .admin = 1, .pos = {{"NET", "network_id", CTL_ARG_NUM}},
	 .opts = {{"ttl", "ttl", CTL_ARG_NUM}}},
	{.sub = "leave", .ipc = "network.leave", .usage = "network leave NET",
	 .summary = "leave a network (drops the trust it gave)",
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}}},
	{.sub = "list", .ipc = "network.list", .usage = "network list", .summary = "known networks"},
	{.sub = "nodes", .ipc = "network.nodes", .usage = "network nodes NET",
	 .summary = "members of a network", .pos = {{"NET", "network_id", CTL_ARG_NUM}}},
	{.sub = "delete", .ipc = "network.delete", .usage = "network delete NET",
	 .summary = "delete a network (admin)", .admin = 1,
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}}},
	{0}};

const struct ctl_pass ctl_pass_policy[] = {
	{.sub = "set", .ipc = "policy.set", .usage = "policy set NET FILE",
	 .summary = "attach a pilot-policy(5) JSON file to a network (admin)", .admin = 1,
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}, {"FILE", "policy", CTL_ARG_JSONFILE}}},
	{.sub = "show", .ipc = "policy.show", .usage = "policy show NET",
	 .summary = "a network's policy", .pos = {{"NET", "network_id", CTL_ARG_NUM}}},
	{.sub = "test", .ipc = "policy.test", .usage = "policy test NET FROM TO PROTO/PORT",
	 .summary = "would this flow pass, and by which rule",
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}, {"FROM", "from", CTL_ARG_STR},
		 {"TO", "to", CTL_ARG_STR}, {"PROTO/PORT", "port", CTL_ARG_STR}}},
	{0}};

const struct ctl_pass ctl_pass_org[] = {
	{.sub = "create", .ipc = "org.create", .usage = "org create NAME",
	 .summary = "create an org (admin)", .admin = 1, .pos = {{"NAME", "name", CTL_ARG_STR}}},
	{.sub = "enroll", .ipc = "org.enroll", .usage = "org enroll ORG [--token T]",
	 .summary = "join an org and all of its networks",
	 .pos = {{"ORG", "org_id", CTL_ARG_AUTO}}, .opts = {{"token", "token", CTL_ARG_STR}}},
	{.sub = "members", .ipc = "org.members", .usage = "org members ORG",
	 .summary = "members of an org (admin: deployment or org token)", .admin = 1,
	 .pos = {{"ORG", "org_id", CTL_ARG_AUTO}}},
	{.sub = "revoke", .ipc = "org.revoke", .usage = "org revoke NODE [--org ORG]",
	 .summary = "deployment token: revoke a node everywhere; org token: remove it from that org",
	 .admin = 1, .pos = {{"NODE", "target", CTL_ARG_STR}},
	 .opts = {{"org", "org_id", CTL_ARG_AUTO}}},
	{0}};

const struct ctl_pass ctl_pass_registration[] = {
	{.sub = "token", .ipc = "registration.token",
	 .usage = "registration token [--uses N] [--ttl DURATION]",
	 .summary = "make a registration token for new keys (admin; default: 1 use, 1 day; "
		    "shown once)",
	 .admin = 1,
	 .opts = {{"uses", "uses", CTL_ARG_NUM}, {"ttl", "ttl", CTL_ARG_AUTO}}},
	{.sub = "tokens", .ipc = "registration.tokens", .usage = "registration tokens",
	 .summary = "the registration tokens: ID, state, uses, expiry (admin)", .admin = 1},
	{.sub = "revoke-token", .ipc = "registration.revoke-token",
	 .usage = "registration revoke-token TOKEN_ID",
	 .summary = "delete a registration token (admin)", .admin = 1,
	 .pos = {{"TOKEN_ID", "token_id", CTL_ARG_STR}}},
	{.sub = "pending", .ipc = "registration.pending", .usage = "registration pending",
	 .summary = "new keys' registrations held for approval, and the decided ones (admin)",
	 .admin = 1},
	{.sub = "approve", .ipc = "registration.approve", .usage = "registration approve KEY",
	 .summary = "let a held key register (its base64, or enough of its start; admin)",
	 .admin = 1, .pos = {{"KEY", "public_key", CTL_ARG_STR}}},
	{.sub = "reject", .ipc = "registration.reject", .usage = "registration reject KEY",
	 .summary = "refuse a held key's registration (admin)", .admin = 1,
	 .pos = {{"KEY", "public_key", CTL_ARG_STR}}},
	{0}};

const struct ctl_pass ctl_pass_ca[] = {
	/* generate, sign and show run here, offline (ctl_ca.c); the rows
	 * give their synopses. */
	{.sub = "generate", .ipc = "ca.generate",
	 .usage = "ca generate --out DIR [--name NAME] [--lifetime DUR] [--passphrase-file F]",
	 .summary = "make a CA: DIR/ca.key (0600) and DIR/ca.crt (offline)"},
	{.sub = "sign", .ipc = "ca.sign",
	 .usage = "ca sign --ca DIR (--node NODE | --public-key KEY [--node-id ID]) [--tags T,...] "
		  "[--lifetime DUR] --out FILE [--passphrase-file F]",
	 .summary = "issue a node certificate (offline)"},
	{.sub = "show", .ipc = "ca.show", .usage = "ca show FILE [--ca DIR | --ca-cert FILE]",
	 .summary = "decode a certificate and verify it"},
	{.sub = "revoke", .ipc = "ca.revoke", .usage = "ca revoke NET SERIAL|FINGERPRINT|KEY|NODE",
	 .summary = "revoke certificates in a ca network (admin); its holders are cut at once",
	 .admin = 1,
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}, {"ENTRY", "entry", CTL_ARG_STR}}},
	{.sub = "crl", .ipc = "ca.crl", .usage = "ca crl NET",
	 .summary = "a ca network's revocation list (members; or the admin)", .admin = 1,
	 .pos = {{"NET", "network_id", CTL_ARG_NUM}}},
	{0}};

const struct ctl_pass ctl_pass_audit[] = {
	{.ipc = "audit",
	 .usage = "audit [--registry] [--since T] [--type T] [--node N] [--limit N] [--follow] "
		  "[--jsonl]",
	 .summary = "the audit log (this node's, or the registry's)",
	 .opts = {{"registry", "registry", CTL_ARG_BOOL}, {"since", "since", CTL_ARG_STR},
		  {"type", "type", CTL_ARG_STR}, {"node", "node", CTL_ARG_STR},
		  {"follow", "follow", CTL_ARG_BOOL}, {"limit", "limit", CTL_ARG_NUM}}},
	{.sub = "verify", .ipc = "audit.verify", .usage = "audit verify [--registry]",
	 .summary = "check the audit log's hash chain", .admin = 1,
	 .opts = {{"registry", "registry", CTL_ARG_BOOL}}},
	{0}};

const struct ctl_pass ctl_pass_webhook[] = {
	{.sub = "set", .ipc = "webhook.set", .usage = "webhook set URL [--secret S | --secret-file F]",
	 .summary = "send events to URL (HMAC-signed with a secret)",
	 .pos = {{"URL", "url", CTL_ARG_STR}},
	 .opts = {{"secret", "secret", CTL_ARG_STR}, {"secret-file", "secret", CTL_ARG_FILE}}},
	{.sub = "clear", .ipc = "webhook.clear", .usage = "webhook clear",
	 .summary = "stop sending events"},
	{.sub = "status", .ipc = "webhook.status", .usage = "webhook status",
	 .summary = "webhook endpoint and delivery state"},
	{0}};
/* clang-format on */

/* One member of "args" as parsed from the command line. */
struct pass_val {
	const char *key;
	const char *val; /* NULL for booleans */
	unsigned kind;
	char *owned_key; /* for rule options: "issuer-url" -> "issuer_url" */
};

struct pass_run {
	struct ctl *c;
	const struct ctl_pass *p;
	struct pass_val *vals;
	size_t nvals;
	char **rest; /* CTL_ARG_REST values */
	size_t nrest;
	const char *rest_key;
	int have_rest;
};

static const struct ctl_pass *find_sub(const struct ctl_pass *tab, const char *word)
{
	for (const struct ctl_pass *p = tab; p->ipc; p++)
		if ((!word && !p->sub) || (word && p->sub && strcmp(p->sub, word) == 0))
			return p;
	return NULL;
}

static int sub_missing(struct ctl *c, const char *word)
{
	char subs[256] = "", hint[128];
	size_t o = 0;

	for (const struct ctl_pass *p = c->cmd->pass; p->ipc && o < sizeof(subs); p++)
		if (p->sub)
			o += (size_t)snprintf(subs + o, sizeof(subs) - o, "%s%s", o ? ", " : "",
					      p->sub);
	snprintf(hint, sizeof(hint), "run 'pilotctl help %s' for its synopsis", c->cmd->name);
	if (word)
		return ctl_fail(c, -EINVAL, "usage", hint,
				"%s: unknown subcommand '%s' (one of %s)", c->cmd->name, word,
				subs);
	return ctl_fail(c, -EINVAL, "usage", hint, "%s: missing subcommand (one of %s)",
			c->cmd->name, subs);
}

static int add_val(struct pass_run *r, const char *key, const char *val, unsigned kind, char *owned)
{
	for (size_t i = 0; i < r->nvals; i++) {
		if (strcmp(r->vals[i].key, key) == 0 && !(kind & CTL_ARG_MULTI)) {
			free(owned);
			return ctl_usage(r->c, "%s given twice", key);
		}
	}
	r->vals[r->nvals++] = (struct pass_val){key, val, kind, owned};
	return 0;
}

/* "--name[=value]": a declared option, or a rule option when any_opts. */
static int parse_opt(struct pass_run *r, int argc, char **argv, int *i)
{
	const char *a = argv[*i] + 2, *eq = strchr(a, '='), *val = NULL;
	size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
	const struct ctl_arg *o = NULL;
	char *key = NULL;

	for (size_t k = 0; k < CTL_MAX_OPTS && r->p->opts[k].name; k++)
		if (strlen(r->p->opts[k].name) == nlen && strncmp(r->p->opts[k].name, a, nlen) == 0)
			o = &r->p->opts[k];
	/* Usage lines write "--admin-token T" after the command word: an admin
	 * command takes the global option there too. */
	if (!o && r->p->admin && nlen == 11 && strncmp(a, "admin-token", nlen) == 0) {
		val = eq ? eq + 1 : *i + 1 < argc ? argv[++*i] : NULL;
		if (!val || !*val)
			return ctl_usage(r->c, "option --admin-token needs a value");
		r->c->admin_token = val;
		return 0;
	}
	if (!o && (!r->p->any_opts || nlen == 0))
		return ctl_usage(r->c, "unknown option '%s'", argv[*i]);
	if (o && (o->kind & CTL_ARG_BOOL)) {
		if (eq)
			return ctl_usage(r->c, "option --%s takes no value", o->name);
		return add_val(r, o->key, NULL, o->kind, NULL);
	}
	if (eq)
		val = eq + 1;
	else if (*i + 1 < argc)
		val = argv[++*i];
	if (!val || !*val)
		return ctl_usage(r->c, "option --%.*s needs a value", (int)nlen, a);
	if (o)
		return add_val(r, o->key, val, o->kind, NULL);
	key = strndup(a, nlen);
	if (!key)
		return -ENOMEM;
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
	return add_val(r, key, val, CTL_ARG_STR, key);
}

static int parse_args(struct pass_run *r, int argc, char **argv)
{
	size_t npos = 0, need = 0, maxpos = 0;
	int literal = 0, ret;

	while (maxpos < CTL_MAX_ARGS && r->p->pos[maxpos].key) {
		if (!(r->p->pos[maxpos].kind & CTL_ARG_OPTIONAL))
			need = maxpos + 1;
		maxpos++;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct ctl_arg *pa;

		if (!literal && strcmp(a, "--") == 0) {
			literal = 1;
			continue;
		}
		if (!literal && a[0] == '-' && a[1] == '-' && a[2]) {
			ret = parse_opt(r, argc, argv, &i);
			if (ret)
				return ret;
			continue;
		}
		if (!literal && a[0] == '-' && a[1])
			return ctl_usage(r->c, "unknown option '%s'", a);
		if (npos >= maxpos)
			return ctl_usage(r->c, "too many arguments (from '%s' on)", a);
		pa = &r->p->pos[npos];
		if (pa->kind & CTL_ARG_REST) {
			r->rest[r->nrest++] = argv[i];
			r->rest_key = pa->key;
			continue; /* stays on this positional */
		}
		ret = add_val(r, pa->key, a, pa->kind, NULL);
		if (ret)
			return ret;
		npos++;
	}
	if (maxpos && (r->p->pos[maxpos - 1].kind & CTL_ARG_REST)) {
		r->have_rest = 1;
		r->rest_key = r->p->pos[maxpos - 1].key;
		if (r->nrest)
			npos++;
	}
	if (npos < need)
		return ctl_usage(r->c, "missing %s", r->p->pos[npos].name);
	return 0;
}

static int is_decimal(const char *s)
{
	if (!*s || strlen(s) > 19)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* A policy as the daemon gets it: compact, and at most POLICY_MAX_BYTES. */
static int gen_json(struct pass_run *r, struct json_gen *g, const char *path, yajl_val tree)
{
	struct json_gen t;
	const char *text;
	size_t len;
	int ret = json_gen_init(&t);

	if (ret)
		return ctl_fail(r->c, ret, "internal", "", "out of memory");
	json_gen_value(&t, tree);
	ret = json_gen_finish(&t, &text, &len);
	if (ret)
		ret = ctl_fail(r->c, ret, "bad_request", "strings must be valid UTF-8",
			       "%s: cannot encode it as JSON", path);
	else if (len > POLICY_MAX_BYTES)
		ret = ctl_fail(r->c, -E2BIG, "too_large",
			       "split the rules, or shorten names and selector lists",
			       "%s: %zu bytes of JSON (without spaces and comments), more than "
			       "the %d (%d MiB) a policy may have",
			       path, len, POLICY_MAX_BYTES, POLICY_MAX_BYTES >> 20);
	else
		jg_raw(g, text, len);
	json_gen_free(&t);
	return ret;
}

static int gen_file(struct pass_run *r, struct json_gen *g, const struct pass_val *v)
{
	int json = !(v->kind & CTL_ARG_FILE);
	size_t max = json ? JSONFILE_MAX : FILE_MAX, len = 0;
	char *buf = NULL, err[128];
	yajl_val tree;
	int ret = file_read_all(v->val, max, &buf, &len);

	if (ret == -EFBIG)
		return ctl_fail(
		    r->c, ret, "too_large",
		    json ? "a policy is at most 4 MiB of JSON; see pilot-policy(5)" : "",
		    "cannot read %s: larger than %zu bytes (%zu KiB)", v->val, max, max >> 10);
	if (ret)
		return ctl_fail(r->c, ret, "bad_request", "", "cannot read %s: %s", v->val,
				strerror(-ret));
	jg_key(g, v->key);
	if (v->kind & CTL_ARG_FILE) {
		/* A secret file usually ends in a newline that is not part of it. */
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
			buf[--len] = '\0';
		jg_strn(g, buf, len);
		free(buf);
		return 0;
	}
	/* Re-serialised, so the daemon gets plain JSON (comments dropped). */
	tree = json_parse(buf, len, 1, err, sizeof(err));
	free(buf);
	if (!tree)
		return ctl_fail(r->c, -EINVAL, "bad_request", "see pilot-policy(5)", "%s: %s",
				v->val, err);
	ret = gen_json(r, g, v->val, tree);
	yajl_tree_free(tree);
	return ret;
}

static int build(struct pass_run *r, struct json_gen *g)
{
	int ret = 0;

	for (size_t i = 0; i < r->nvals && !ret; i++) {
		const struct pass_val *v = &r->vals[i];
		if (v->kind & CTL_ARG_MULTI) {
			/* Every value of the key, at its first: one array. */
			int first = 1;
			for (size_t k = 0; k < i && first; k++)
				first = strcmp(r->vals[k].key, v->key) != 0;
			if (!first)
				continue;
			jg_key(g, v->key);
			jg_array_open(g);
			for (size_t k = i; k < r->nvals; k++)
				if (strcmp(r->vals[k].key, v->key) == 0)
					jg_str(g, r->vals[k].val);
			jg_array_close(g);
		} else if (v->kind & CTL_ARG_BOOL) {
			jg_kbool(g, v->key, 1);
		} else if (v->kind & (CTL_ARG_FILE | CTL_ARG_JSONFILE)) {
			ret = gen_file(r, g, v);
		} else if (v->kind & (CTL_ARG_NUM | CTL_ARG_AUTO) && is_decimal(v->val)) {
			jg_key(g, v->key);
			jg_raw(g, v->val, strlen(v->val));
		} else if (v->kind & CTL_ARG_NUM) {
			ret = ctl_usage(r->c, "%s must be a number, not '%s'", v->key, v->val);
		} else {
			jg_kstr(g, v->key, v->val);
		}
	}
	if (r->have_rest) {
		jg_key(g, r->rest_key);
		jg_array_open(g);
		for (size_t i = 0; i < r->nrest; i++)
			jg_str(g, r->rest[i]);
		jg_array_close(g);
	}
	if (r->p->admin) {
		/* Admin requests go to the registry through the daemon. */
		if (r->c->admin_token)
			jg_kstr(g, "admin_token", r->c->admin_token);
		if (r->c->registry)
			jg_kstr(g, "registry", r->c->registry);
	}
	return ret;
}

int ctl_cmd_pass(struct ctl *c, int argc, char **argv)
{
	struct pass_run r = {.c = c};
	yajl_val tree = NULL, data = NULL;
	struct json_gen g;
	const char *word = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
	int ret, first = 2;

	r.p = word ? find_sub(c->cmd->pass, word) : NULL;
	if (!r.p) {
		first = 1;
		r.p = find_sub(c->cmd->pass, NULL);
		/* A group without a bare form needs a known subcommand; a bare
		 * command's extra word is its positional argument. */
		if (!r.p)
			return sub_missing(c, word);
	}
	c->synopsis = r.p->usage;
	if (r.p->sub)
		snprintf(c->label, sizeof(c->label), "%s %s", c->cmd->name, r.p->sub);
	r.vals = calloc((size_t)argc + 1, sizeof(*r.vals));
	r.rest = calloc((size_t)argc + 1, sizeof(*r.rest));
	if (!r.vals || !r.rest) {
		ret = -ENOMEM;
		goto out;
	}
	ret = parse_args(&r, argc - first, argv + first);
	if (ret)
		goto out;
	ret = ctl_req_begin(c, &g, r.p->ipc);
	if (ret)
		goto out;
	ret = build(&r, &g);
	if (ret) {
		json_gen_free(&g);
		goto out;
	}
	ret = ctl_call(c, &g, &tree, &data);
	if (ret)
		goto out;
	if (c->json)
		ret = ctl_emit_ok_val(c, data);
	else
		ctl_print_val(data);
out:
	yajl_tree_free(tree);
	for (size_t i = 0; r.vals && i < r.nvals; i++)
		free(r.vals[i].owned_key);
	free(r.vals);
	free(r.rest);
	return ret;
}
