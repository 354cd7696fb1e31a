/* ctl.c - pilotctl: global options, the command table and dispatch.
 *
 * Every command is one row of cmds[]; what a command does lives in its own
 * file (ctl_cmds.c for node and trust commands, ctl_addr.c, ctl_ping.c,
 * ctl_up.c, ctl_pass.c for commands that are only a daemon request).  Output goes
 * through ctl_out.c so that --json always prints exactly one envelope. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "util.h"

static int ctl_cmd_help(struct ctl *c, int argc, char **argv);

static const struct ctl_cmd cmds[] = {
    {"up", "up JOIN-STRING|- [--config FILE] [--no-start] [--force]",
     "configure this node from a join string (pilot-rendezvous --print-join) and start "
     "pilotd",
     ctl_cmd_up, NULL},
    {"info", "info", "this node's identity, addresses, networks and visibility", ctl_cmd_info,
     NULL},
    {"peers", "peers", "peers with their path, why it is that, endpoint and last handshake",
     ctl_cmd_peers, NULL},
    {"status", "status [--check]",
     "daemon health, registry link, tunnel paths per peer (--check: one line, exit 0 OK, 1 "
     "WARNING, 2 CRITICAL, 3 UNKNOWN)",
     ctl_cmd_status, NULL},
    {"netcheck", "netcheck",
     "measure this node's NAT (mapping, reflexive address), UDP to the beacon, round trips "
     "and the path MTU (at most 5 s)",
     ctl_cmd_netcheck, NULL},
    {"ping", "ping TARGET [-c COUNT] [-i INTERVAL] [-W TIMEOUT]",
     "ICMPv6 echo to a peer over the overlay, naming the path each reply took", ctl_cmd_ping, NULL},
    {"addr", "addr ADDRESS|IPV6", "convert a Pilot address to its IPv6 address and back",
     ctl_cmd_addr, NULL},
    {"find", NULL, NULL, ctl_cmd_pass, ctl_pass_find},
    {"set-hostname", NULL, NULL, ctl_cmd_pass, ctl_pass_set_hostname},
    {"clear-hostname", NULL, NULL, ctl_cmd_pass, ctl_pass_clear_hostname},
    {"set-public", NULL, NULL, ctl_cmd_pass, ctl_pass_set_public},
    {"set-private", NULL, NULL, ctl_cmd_pass, ctl_pass_set_private},
    {"set-tags", NULL, NULL, ctl_cmd_pass, ctl_pass_set_tags},
    {"rotate-key", NULL, NULL, ctl_cmd_pass, ctl_pass_rotate_key},
    {"handshake", "handshake TARGET [JUSTIFICATION]", "ask a node for mutual trust",
     ctl_cmd_handshake, NULL},
    {"pending", "pending", "trust requests waiting for approve/reject", ctl_cmd_pending, NULL},
    {"approve", "approve TARGET", "approve a pending trust request", ctl_cmd_approve, NULL},
    {"reject", "reject TARGET", "reject a pending trust request", ctl_cmd_reject, NULL},
    {"trust", "trust", "nodes this node trusts", ctl_cmd_trust, NULL},
    {"untrust", "untrust TARGET", "remove trust on both sides and cut every flow", ctl_cmd_untrust,
     NULL},
    {"block", NULL, NULL, ctl_cmd_pass, ctl_pass_block},
    {"unblock", NULL, NULL, ctl_cmd_pass, ctl_pass_unblock},
    {"blocklist", NULL, NULL, ctl_cmd_pass, ctl_pass_blocklist},
    {"network", NULL, NULL, ctl_cmd_pass, ctl_pass_network},
    {"broadcast", NULL, NULL, ctl_cmd_pass, ctl_pass_broadcast},
    {"policy", NULL, NULL, ctl_cmd_pass, ctl_pass_policy},
    {"org", NULL, NULL, ctl_cmd_pass, ctl_pass_org},
    {"registration", NULL, NULL, ctl_cmd_pass, ctl_pass_registration},
    {"ca", NULL, NULL, ctl_cmd_ca, ctl_pass_ca},
    {"node", "node expire NODE TIME|never",
     "when a node's identity ends (admin; TIME: RFC 3339 or +DURATION)", ctl_cmd_node, NULL},
    {"score", "score NODE", "a node's reputation score (0-100) and its factors", ctl_cmd_score,
     NULL},
    {"report", "report NODE --good|--bad [REASON]",
     "report a node you share trust or a network with (one standing report; a later one "
     "replaces it)",
     ctl_cmd_report, NULL},
    {"audit", NULL, NULL, ctl_cmd_audit, ctl_pass_audit},
    {"webhook", NULL, NULL, ctl_cmd_pass, ctl_pass_webhook},
    {"bugreport", "bugreport [--output FILE]",
     "write a .tar.gz (mode 0600) of versions, status, peers, the configuration with its "
     "secrets left out, metrics, journal lines and the host's network setup",
     ctl_cmd_bugreport, NULL},
    {"help", "help [COMMAND [SUBCOMMAND]]", "list the commands, or show one command's synopsis",
     ctl_cmd_help, NULL},
};

static const char global_usage[] =
    "[--socket PATH] [--json] [--registry HOST:PORT] [--admin-token T] COMMAND [ARGS]";

/* The global options as `help` lists them, and as `help --json` hands them
 * to programs (contrib/gen-completion.sh builds the shell completions from
 * data.commands and data.options).  parse_globals() is what accepts them. */
struct ctl_gopt {
	const char *option, *arg, *summary;
};
static const struct ctl_gopt gopts[] = {
    {"--socket", "PATH",
     "pilotd control socket (env PILOT_SOCKET, default " CTL_DEFAULT_SOCKET ")"},
    {"--json", NULL,
     "print one JSON object: {\"status\":\"ok\",\"data\":{...}} or "
     "{\"status\":\"error\",\"code\",\"message\",\"hint\"}"},
    {"--registry", "HOST:PORT", "registry for admin commands"},
    {"--admin-token", "T", "admin token (env PILOT_ADMIN_TOKEN)"},
    {"--help", NULL, "this list; with a command, its synopsis"},
    {"--version", NULL, "print the version"},
};

const struct ctl_cmd *ctl_cmd_find(const char *name)
{
	for (size_t i = 0; i < nitems(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

int ctl_positionals(struct ctl *c, int argc, char **argv, int min, int max, int *npos)
{
	int n = 0, literal = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!literal && strcmp(a, "--") == 0) {
			literal = 1;
			continue;
		}
		if (!literal && a[0] == '-' && a[1] != '\0')
			return ctl_usage(c, "%s: unknown option '%s'", argv[0], a);
		argv[1 + n++] = argv[i];
	}
	if (n < min)
		return ctl_usage(c, "%s: missing argument", argv[0]);
	if (n > max)
		return ctl_usage(c, "%s: too many arguments (from '%s' on)", argv[0],
				 argv[1 + max]);
	*npos = n;
	return 0;
}

/* Calls fn once per synopsis line of \p cmd (groups have one per subcommand). */
typedef void (*usage_fn)(void *arg, const char *name, const char *sub, const char *usage,
			 const char *summary);

static int pass_has_sub(const struct ctl_cmd *cmd, const char *sub)
{
	for (const struct ctl_pass *p = cmd->pass; sub && p && p->ipc; p++)
		if (p->sub && strcmp(p->sub, sub) == 0)
			return 1;
	return 0;
}

/* \p sub, when it names a subcommand, narrows a group to that one. */
static void cmd_each_usage(const struct ctl_cmd *cmd, const char *sub, usage_fn fn, void *arg)
{
	int narrow = pass_has_sub(cmd, sub);

	if (!cmd->pass) {
		fn(arg, cmd->name, NULL, cmd->usage, cmd->summary);
		return;
	}
	for (const struct ctl_pass *p = cmd->pass; p->ipc; p++)
		if (!narrow || (p->sub && strcmp(p->sub, sub) == 0))
			fn(arg, cmd->name, p->sub, p->usage, p->summary);
}

static void help_line(void *arg, const char *name, const char *sub, const char *usage,
		      const char *summary)
{
	FILE *f = arg;
	if (strlen(usage) > 40)
		fprintf(f, "  %s\n  %-40s  %s\n", usage, "", summary);
	else
		fprintf(f, "  %-40s  %s\n", usage, summary);
}

static void help_json_line(void *arg, const char *name, const char *sub, const char *usage,
			   const char *summary)
{
	struct json_gen *g = arg;
	char full[64];

	snprintf(full, sizeof(full), "%s%s%s", name, sub ? " " : "", sub ? sub : "");
	jg_map_open(g);
	jg_kstr(g, "command", full);
	jg_kstr(g, "usage", usage);
	jg_kstr(g, "summary", summary);
	jg_map_close(g);
}

/* "  --socket PATH         summary" */
static void help_gopt(FILE *f, const struct ctl_gopt *o)
{
	char head[32];

	snprintf(head, sizeof(head), "%s%s%s", o->option, o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(f, "  %-20s  %s\n", head, o->summary);
}

static void print_help(FILE *f)
{
	fprintf(f, "usage: pilotctl %s\n\nCommands:\n", global_usage);
	for (size_t i = 0; i < nitems(cmds); i++)
		cmd_each_usage(&cmds[i], NULL, help_line, f);
	fprintf(f, "\nGlobal options (before the command; --json also after it):\n");
	for (size_t i = 0; i < nitems(gopts); i++)
		help_gopt(f, &gopts[i]);
	fprintf(f, "\nTARGET and NODE: a node ID, a Pilot address (N:NNNN.HHHH.LLLL), an overlay\n"
		   "IPv6 address or a hostname; NET: a network ID.\n"
		   "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

/* data.options: [{"option","arg" (null: takes none),"summary"}] */
static void help_json_gopts(struct json_gen *g)
{
	jg_key(g, "options");
	jg_array_open(g);
	for (size_t i = 0; i < nitems(gopts); i++) {
		jg_map_open(g);
		jg_kstr(g, "option", gopts[i].option);
		jg_key(g, "arg");
		if (gopts[i].arg)
			jg_str(g, gopts[i].arg);
		else
			jg_null(g);
		jg_kstr(g, "summary", gopts[i].summary);
		jg_map_close(g);
	}
	jg_array_close(g);
}

/* help [COMMAND [SUBCOMMAND]]: with --json the same content as
 * data.commands, and the global options as data.options when listing
 * every command. */
static int ctl_cmd_help(struct ctl *c, int argc, char **argv)
{
	const struct ctl_cmd *only = NULL;
	const char *sub = argc > 2 ? argv[2] : NULL;
	struct json_gen g;
	int ret;

	if (argc > 3)
		return ctl_usage(c, "help takes a command name and maybe a subcommand");
	if (argc >= 2) {
		only = ctl_cmd_find(argv[1]);
		if (!only)
			return ctl_fail(c, -ENOENT, "usage", "run 'pilotctl help' for the list",
					"unknown command '%s'", argv[1]);
	}
	if (!c->json) {
		if (only)
			cmd_each_usage(only, sub, help_line, stdout);
		else
			print_help(stdout);
		return 0;
	}
	ret = ctl_emit_begin(&g);
	if (ret)
		return ret;
	jg_key(&g, "commands");
	jg_array_open(&g);
	for (size_t i = 0; i < nitems(cmds); i++)
		if (!only || only == &cmds[i])
			cmd_each_usage(&cmds[i], sub, help_json_line, &g);
	jg_array_close(&g);
	if (!only)
		help_json_gopts(&g);
	return ctl_emit_end(c, &g);
}

static int print_version(struct ctl *c)
{
	struct json_gen g;
	int ret;

	if (!c->json) {
		printf("pilotctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	ret = ctl_emit_begin(&g);
	if (ret)
		return ret;
	jg_kstr(&g, "version", PACKAGE_VERSION);
	return ctl_emit_end(c, &g);
}

/* "--name VALUE" or "--name=VALUE".  \retval 1 matched (value in *val),
 * 0 not this option, -EINVAL matched without a value. */
static int opt_value(const char *name, int argc, char **argv, int *i, const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
	} else if (a[n] == '\0') {
		if (*i + 1 >= argc)
			return -EINVAL;
		*val = argv[++*i];
	} else {
		return 0;
	}
	return **val ? 1 : -EINVAL;
}

enum { WANT_RUN, WANT_HELP, WANT_VERSION };

/* Global options up to the command word.  \retval 0 with *cmd_idx set (argc
 * when there is no command) or -EINVAL with a usage error recorded. */
static int parse_globals(struct ctl *c, int argc, char **argv, int *cmd_idx, int *want)
{
	static const char *const valued[] = {"--socket", "--registry", "--admin-token"};
	const char **dest[] = {&c->socket_path, &c->registry, &c->admin_token};
	int i;

	*want = WANT_RUN;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		size_t k;
		int r = 0;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--json") == 0)
			continue; /* already seen by the pre-scan */
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			*want = WANT_HELP;
			continue;
		}
		if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			if (*want != WANT_HELP)
				*want = WANT_VERSION;
			continue;
		}
		for (k = 0; k < nitems(valued); k++) {
			r = opt_value(valued[k], argc, argv, &i, &val);
			if (r)
				break;
		}
		if (r < 0)
			return ctl_usage(c, "option %s needs a non-empty value", valued[k]);
		if (r == 0)
			return ctl_usage(c, "unknown option '%s'", a);
		*dest[k] = val;
	}
	*cmd_idx = i;
	return 0;
}

/* Copy of the command's arguments without "--json", which SPEC section 7
 * shows after the command too ("pilotctl audit ... --json").  Arguments
 * after "--" are left alone. */
static char **strip_json(int argc, char **argv, int *out_argc)
{
	char **v = calloc((size_t)argc + 1, sizeof(*v));
	int n = 0, literal = 0;

	if (!v)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (!literal && strcmp(argv[i], "--") == 0)
			literal = 1;
		if (!literal && i > 0 && strcmp(argv[i], "--json") == 0)
			continue;
		v[n++] = argv[i];
	}
	v[n] = NULL;
	*out_argc = n;
	return v;
}

static int wants_cmd_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl c = {.fd = -1, .synopsis = global_usage};
	char **cargv = NULL, *help_argv[4];
	int ret, cmd_idx = argc, cargc = 0, want = WANT_RUN;

	log_init("pilotctl", LOG_LVL_WARN, LOG_FMT_TEXT);
	/* A daemon that goes away mid-request must be an error, not a kill. */
	signal(SIGPIPE, SIG_IGN);

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
	c.socket_path = getenv("PILOT_SOCKET");
	if (!c.socket_path || !*c.socket_path)
		c.socket_path = CTL_DEFAULT_SOCKET;
	c.admin_token = getenv("PILOT_ADMIN_TOKEN");
	if (c.admin_token && !*c.admin_token)
		c.admin_token = NULL;

	ret = parse_globals(&c, argc, argv, &cmd_idx, &want);
	if (ret)
		goto out;
	if (want == WANT_VERSION) {
		ret = print_version(&c);
		goto out;
	}
	if (want == WANT_HELP || cmd_idx >= argc) {
		if (want != WANT_HELP) {
			ret = ctl_usage(&c, "no command given");
			goto out;
		}
		/* "pilotctl --help CMD [SUB]" */
		help_argv[0] = "help";
		help_argv[1] = cmd_idx < argc ? argv[cmd_idx] : NULL;
		help_argv[2] = help_argv[1] && cmd_idx + 1 < argc ? argv[cmd_idx + 1] : NULL;
		help_argv[3] = NULL;
		ret = ctl_cmd_help(&c, help_argv[2] ? 3 : help_argv[1] ? 2 : 1, help_argv);
		goto out;
	}
	c.cmd = ctl_cmd_find(argv[cmd_idx]);
	if (!c.cmd) {
		ret = ctl_fail(&c, -EINVAL, "usage", "run 'pilotctl help' for the list of commands",
			       "unknown command '%s'", argv[cmd_idx]);
		goto out;
	}
	c.synopsis = c.cmd->usage ? c.cmd->usage : c.cmd->pass->usage;
	snprintf(c.label, sizeof(c.label), "%s", c.cmd->name);
	cargv = strip_json(argc - cmd_idx, argv + cmd_idx, &cargc);
	if (!cargv) {
		ret = -ENOMEM;
		goto out;
	}
	if (wants_cmd_help(cargc, cargv)) {
		/* "pilotctl CMD [SUB] ... --help" */
		help_argv[0] = "help";
		help_argv[1] = cargv[0];
		help_argv[2] = cargc > 1 ? cargv[1] : NULL;
		help_argv[3] = NULL;
		ret = ctl_cmd_help(&c, help_argv[2] ? 3 : 2, help_argv);
		goto out;
	}
	ret = c.cmd->run(&c, cargc, cargv);
out:
	ctl_close(&c);
	free(cargv);
	if (ret == 0)
		return c.exit_code ? c.exit_code : CTL_EXIT_OK;
	ret = ctl_report_error(&c, ret);
	return c.exit_code ? c.exit_code : ret;
}
