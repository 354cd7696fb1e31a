/* ctl_audit.c - `pilotctl audit`: query the audit log (this node's, or the
 * registry's with --registry), as a table, as one --json envelope, or as
 * JSON Lines (--jsonl, for SIEMs); --follow keeps printing new records.
 * `audit verify` goes through the generic pass-through table. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define FOLLOW_POLL_MS 500

struct audit_opts {
	const char *since, *type, *node, *limit;
	int registry, follow, jsonl;
};

static volatile sig_atomic_t stop_follow;

static void on_sigint(int sig)
{
	(void)sig;
	stop_follow = 1;
}

static int parse_opts(struct ctl *c, int argc, char **argv, struct audit_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		if (strcmp(a, "--registry") == 0)
			o->registry = 1;
		else if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0)
			o->follow = 1;
		else if (strcmp(a, "--jsonl") == 0)
			o->jsonl = 1;
		else if (strcmp(a, "--json") == 0)
			c->json = 1;
		else if (strcmp(a, "--since") == 0)
			dst = &o->since;
		else if (strcmp(a, "--type") == 0)
			dst = &o->type;
		else if (strcmp(a, "--node") == 0)
			dst = &o->node;
		else if (strcmp(a, "--limit") == 0)
			dst = &o->limit;
		else
			return ctl_usage(c, "unknown argument '%s'", a);
		if (dst) {
			if (i + 1 >= argc)
				return ctl_usage(c, "%s needs a value", a);
			*dst = argv[++i];
		}
	}
	return 0;
}

static int query(struct ctl *c, const struct audit_opts *o, const char *since, yajl_val *tree,
		 yajl_val *data)
{
	struct json_gen g;
	int rc = ctl_req_begin(c, &g, "audit");

	if (rc)
		return rc;
	if (since)
		jg_kstr(&g, "since", since);
	if (o->type)
		jg_kstr(&g, "type", o->type);
	if (o->node)
		jg_kstr(&g, "node", o->node);
	if (o->limit)
		jg_ku64(&g, "limit", strtoull(o->limit, NULL, 10));
	if (o->registry) {
		jg_kbool(&g, "registry", 1);
		if (c->admin_token)
			jg_kstr(&g, "admin_token", c->admin_token);
	}
	return ctl_call(c, &g, tree, data);
}

static void print_line(yajl_val rec)
{
	struct json_gen g;
	const char *s;
	size_t n;

	if (json_gen_init(&g) < 0)
		return;
	json_gen_value(&g, rec);
	if (json_gen_finish(&g, &s, &n) == 0)
		printf("%.*s\n", (int)n, s);
	json_gen_free(&g);
}

static void print_human(yajl_val rec)
{
	char id[32], ts[40], type[64], actor[64], subj[64], buf[32];
	yajl_val det = json_get(rec, "details");
	uint64_t ms = 0;
	time_t t;
	struct tm tm;

	ctl_mtext(rec, "event_id", id, sizeof(id));
	json_get_u64(rec, "ts", &ms);
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof(ts), "%s.%03uZ", buf, (unsigned)(ms % 1000));
	ctl_mtext(rec, "type", type, sizeof(type));
	ctl_mtext(rec, "actor", actor, sizeof(actor));
	ctl_mtext(rec, "subject", subj, sizeof(subj));
	printf("%-8s %s %-24s %-12s %-12s ", id, ts, type, actor, subj);
	if (det && YAJL_IS_OBJECT(det)) {
		for (size_t i = 0; i < det->u.object.len; i++) {
			char v[200];
			printf("%s%s=%s", i ? " " : "", det->u.object.keys[i],
			       ctl_text(det->u.object.values[i], v, sizeof(v)));
		}
	}
	printf("\n");
}

static uint64_t print_events(struct ctl *c, const struct audit_opts *o, yajl_val data, int header)
{
	yajl_val ev = json_get(data, "events");
	uint64_t last = 0;

	if (header && !o->jsonl && !c->json)
		printf("%-8s %-24s %-24s %-12s %-12s %s\n", "ID", "TIME", "TYPE", "ACTOR",
		       "SUBJECT", "DETAILS");
	for (size_t i = 0; ev && YAJL_IS_ARRAY(ev) && i < ev->u.array.len; i++) {
		yajl_val rec = ev->u.array.values[i];
		uint64_t id = 0;
		if (json_get_u64(rec, "event_id", &id) == 0 && id > last)
			last = id;
		if (o->jsonl || c->json)
			print_line(rec);
		else
			print_human(rec);
	}
	fflush(stdout);
	return last;
}

/* `audit verify`: a log that does not verify is a failure (exit 1, error
 * code audit_verify_failed), so scripts and monitoring can rely on the exit
 * status; a good log prints the verdict as any command's data. */
static int audit_verify(struct ctl *c, int argc, char **argv)
{
	yajl_val tree = NULL, data = NULL;
	struct json_gen g;
	int reg = 0, ok = 0, rc;

	c->synopsis = "audit verify [--registry]";
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--registry") == 0)
			reg = 1;
		else if (strcmp(argv[i], "--json") == 0)
			c->json = 1;
		else
			return ctl_usage(c, "unknown argument '%s'", argv[i]);
	}
	if ((rc = ctl_req_begin(c, &g, "audit.verify")) != 0)
		return rc;
	if (reg) {
		jg_kbool(&g, "registry", 1);
		if (c->admin_token)
			jg_kstr(&g, "admin_token", c->admin_token);
	}
	if ((rc = ctl_call(c, &g, &tree, &data)) != 0)
		return rc;
	json_get_bool(data, "ok", &ok);
	if (ok) {
		if (c->json)
			rc = ctl_emit_ok_val(c, data);
		else
			ctl_print_val(data);
	} else {
		char reason[200];
		uint64_t bad = 0, errors = 0;
		json_get_u64(data, "bad_id", &bad);
		json_get_u64(data, "errors", &errors);
		ctl_mtext(data, "reason", reason, sizeof(reason));
		rc = ctl_fail(c, -EBADMSG, "audit_verify_failed",
			      "the log was edited or records are missing: keep a copy of the state "
			      "directory and compare with what the webhook receiver or SIEM holds",
			      "the %s audit log does not verify: %s (event %llu; %llu problems)",
			      reg ? "registry's" : "node's", reason, (unsigned long long)bad,
			      (unsigned long long)errors);
	}
	yajl_tree_free(tree);
	return rc;
}

int ctl_cmd_audit(struct ctl *c, int argc, char **argv)
{
	struct audit_opts o;
	yajl_val tree = NULL, data = NULL;
	uint64_t last;
	char since[32];
	int rc;

	if (argc > 1 && strcmp(argv[1], "verify") == 0)
		return audit_verify(c, argc, argv);
	c->synopsis = "audit [--registry] [--since T] [--type T] [--node N] [--limit N] [--follow] "
		      "[--jsonl]";
	memset(&o, 0, sizeof(o));
	if ((rc = parse_opts(c, argc, argv, &o)) != 0)
		return rc;
	rc = query(c, &o, o.since, &tree, &data);
	if (rc)
		return rc;
	if (c->json && !o.follow && !o.jsonl) {
		/* One envelope, as every --json command. */
		rc = ctl_emit_ok_val(c, data);
		yajl_tree_free(tree);
		return rc;
	}
	last = print_events(c, &o, data, 1);
	if (!last)
		json_get_u64(data, "last_id", &last);
	yajl_tree_free(tree);
	if (!o.follow)
		return 0;
	/* --follow: records as they are written, one JSON object per line
	 * with --json/--jsonl, until interrupted. */
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	while (!stop_follow) {
		uint64_t got;
		usleep(FOLLOW_POLL_MS * 1000);
		snprintf(since, sizeof(since), "%llu", (unsigned long long)last + 1);
		rc = query(c, &o, since, &tree, &data);
		if (rc)
			return rc;
		got = print_events(c, &o, data, 0);
		if (got > last)
			last = got;
		yajl_tree_free(tree);
	}
	return 0;
}
