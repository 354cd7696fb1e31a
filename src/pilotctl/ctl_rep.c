/* ctl_rep.c - reputation: `score NODE` (the score and one line per
 * factor) and `report NODE --good|--bad [REASON]` (doc/IPC.md). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "util.h"

/* The factors in the order the registry's formula adds them. */
static const char *const factor_keys[] = {
    "age_days",	  "age",	 "online_hours", "uptime",  "approvals",    "approvals_weight",
    "handshakes", "trust_pairs", "trust_weight", "trust",   "good_reports", "bad_reports",
    "blocks",	  "good_weight", "bad_weight",	 "reports", "revocations",  "penalty",
};

static int print_score(yajl_val d)
{
	yajl_val f = json_get(d, "factors");
	const char *pairs[2 * (2 + nitems(factor_keys))];
	char bufs[2 + nitems(factor_keys)][64];
	size_t n = 0;

	pairs[2 * n] = "node_id";
	pairs[2 * n + 1] = ctl_mtext(d, "node_id", bufs[n], sizeof(bufs[n]));
	n++;
	pairs[2 * n] = "score";
	pairs[2 * n + 1] = ctl_mtext(d, "score", bufs[n], sizeof(bufs[n]));
	n++;
	for (size_t i = 0; i < nitems(factor_keys); i++, n++) {
		pairs[2 * n] = factor_keys[i];
		pairs[2 * n + 1] = ctl_mtext(f, factor_keys[i], bufs[n], sizeof(bufs[n]));
	}
	ctl_kv(pairs, n);
	return 0;
}

static int finish(struct ctl *c, struct json_gen *g, int (*print)(yajl_val))
{
	yajl_val tree = NULL, data = NULL;
	int ret = ctl_call(c, g, &tree, &data);

	if (ret)
		return ret;
	ret = c->json ? ctl_emit_ok_val(c, data) : print(data);
	yajl_tree_free(tree);
	return ret;
}

int ctl_cmd_score(struct ctl *c, int argc, char **argv)
{
	struct json_gen g;
	int ret, n;

	if ((ret = ctl_positionals(c, argc, argv, 1, 1, &n)) != 0)
		return ret;
	if ((ret = ctl_req_begin(c, &g, "score")) != 0)
		return ret;
	jg_kstr(&g, "node", argv[1]);
	return finish(c, &g, print_score);
}

static int print_report(yajl_val d)
{
	char n[32], v[16];
	int replaced = 0;

	json_get_bool(d, "replaced", &replaced);
	printf("reported node %s %s%s\n", ctl_mtext(d, "node_id", n, sizeof(n)),
	       ctl_mtext(d, "verdict", v, sizeof(v)),
	       replaced ? " (replaces your earlier report)" : "");
	return 0;
}

int ctl_cmd_report(struct ctl *c, int argc, char **argv)
{
	const char *verdict = NULL, *pos[2] = {NULL, NULL};
	struct json_gen g;
	int npos = 0, literal = 0, ret;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!literal && strcmp(a, "--") == 0) {
			literal = 1;
		} else if (!literal && (strcmp(a, "--good") == 0 || strcmp(a, "--bad") == 0)) {
			if (verdict)
				return ctl_usage(c, "report: give exactly one of --good and --bad");
			verdict = a + 2;
		} else if (!literal && a[0] == '-' && a[1] != '\0') {
			return ctl_usage(c, "report: unknown option '%s'", a);
		} else if (npos == 2) {
			return ctl_usage(c, "report: too many arguments (from '%s' on)", a);
		} else {
			pos[npos++] = a;
		}
	}
	if (!verdict)
		return ctl_usage(c, "report: give exactly one of --good and --bad");
	if (npos == 0)
		return ctl_usage(c, "report: missing argument");
	if ((ret = ctl_req_begin(c, &g, "report")) != 0)
		return ret;
	jg_kstr(&g, "node", pos[0]);
	jg_kstr(&g, "verdict", verdict);
	if (pos[1])
		jg_kstr(&g, "reason", pos[1]);
	return finish(c, &g, print_report);
}
