/* ctl_node.c - "pilotctl node expire NODE TIME|never" (admin; SPEC
 * sections 6 and 8): when one node's identity ends.  TIME is RFC 3339
 * (2027-01-31T00:00:00Z, or with an offset such as +01:00) or +DURATION
 * from now; it is turned into Unix seconds here, so the daemon and the
 * registry see one form. */
#include "config.h"

#define _GNU_SOURCE 1 /* timegm */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "util.h"

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).
 * \retval 0 with *out (Unix s), or -EINVAL. */
static int rfc3339(const char *s, uint64_t *out)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	long off = 0;
	time_t t;

	if (!p)
		p = strptime(s, "%Y-%m-%dt%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = atoi(p + 1), mm = atoi(p + 4);
		if (hh > 23 || mm > 59)
			return -EINVAL;
		off = (hh * 60L + mm) * 60L * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1 || t - off <= 0)
		return -EINVAL;
	*out = (uint64_t)(t - off);
	return 0;
}

static int node_expire(struct ctl *c, int argc, char **argv)
{
	yajl_val tree = NULL, data = NULL;
	struct json_gen g;
	const char *when;
	uint64_t at = 0, d;
	int n, rc;

	c->synopsis = "node expire NODE TIME|never";
	snprintf(c->label, sizeof(c->label), "node expire");
	if ((rc = ctl_positionals(c, argc - 1, argv + 1, 2, 2, &n)) != 0)
		return rc;
	when = argv[3];
	if (strcmp(when, "never") == 0)
		at = 0;
	else if (when[0] == '+' && duration_parse(when + 1, &d) == 0)
		at = now_real_ms() / 1000 + d;
	else if (rfc3339(when, &at) < 0)
		return ctl_usage(c,
				 "TIME '%s': RFC 3339 (2027-01-31T00:00:00Z), +DURATION (+12h) "
				 "or never",
				 when);
	if ((rc = ctl_req_begin(c, &g, "node.expire")) < 0)
		return rc;
	jg_kstr(&g, "target", argv[2]);
	jg_ku64(&g, "expires_at", at);
	if (c->admin_token)
		jg_kstr(&g, "admin_token", c->admin_token);
	if ((rc = ctl_call(c, &g, &tree, &data)) != 0)
		return rc;
	if (c->json)
		rc = ctl_emit_ok_val(c, data);
	else
		ctl_print_val(data);
	yajl_tree_free(tree);
	return rc;
}

int ctl_cmd_node(struct ctl *c, int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "expire") == 0)
		return node_expire(c, argc, argv);
	c->synopsis = "node expire NODE TIME|never";
	return ctl_usage(c, argc > 1 ? "unknown subcommand '%s'" : "which subcommand?%s",
			 argc > 1 ? argv[1] : "");
}
