/* ctl_bugreport.c - "pilotctl bugreport [--output FILE]": what a
 * maintainer needs to look at a problem, in one .tar.gz (mode 0600), as
 * `tailscale bugreport` gathers it: versions, the host (uname,
 * os-release, nftables, addresses, routes, rules), pilotd's view (status,
 * peers, trust, networks, info, its configuration, a metrics snapshot)
 * and the last journal lines of both daemons.
 *
 * Secrets never enter the archive: pilotd's configuration comes from
 * pilotd itself (IPC `config`, or `pilotd --check-config` when it does not
 * answer), which replaces every secret by where it came from; no file
 * that may hold one (pilotd.json, the state directory) is read here.
 * What was left out is listed, for the operator to know.  A piece that
 * cannot be had (pilotd down, no journalctl) is a file saying why: the
 * report is written all the same.
 *
 * The archive is written to a fresh temporary file beside its
 * destination (mkostemp: O_EXCL, mode 0600, so no symlink planted in
 * /tmp is followed), then renamed over it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_http.h"
#include "ctl_run.h"
#include "ctl_tgz.h"
#include "util.h"

#define BR_RUN_MS 10000	      /* one program's time */
#define BR_RUN_MAX (8u << 20) /* what is kept of its output */
#define BR_IPC_MS 10000	      /* one question to pilotd (some wait on the registry) */
#define BR_METRICS_MS 5000
#define BR_HOST_MAX 40 /* of the host name in file names */
#define BR_JOURNAL_LINES "500"

struct br {
	struct ctl *c;
	struct ctl_tgz *tgz;
	char dir[100]; /* the archive's folder: pilot-bugreport-HOST-STAMP */
	char **red;    /* what was redacted, named for the operator */
	size_t nred;
	char **files; /* members written */
	size_t nfiles;
	char *metrics_listen; /* from the configuration; NULL: none */
	int have_config;      /* the configuration was had (from pilotd or --check-config) */
	char daemon_err[600]; /* why pilotd did not answer; "" when it did */
	int err;	      /* the first failure to write the archive */
};

static int strv_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void add(struct br *b, const char *name, const char *data, size_t len)
{
	int ret;

	if (b->err)
		return;
	ret = ctl_tgz_add(b->tgz, name, data, len);
	if (ret == 0)
		ret = strv_add(&b->files, &b->nfiles, name);
	b->err = ret;
}

/* A member built with stdio: open_memstream's buffer, added on close. */
struct member {
	FILE *f;
	char *buf;
	size_t len;
};

static FILE *member_open(struct member *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	return m->f;
}

static void member_add(struct br *b, struct member *m, const char *name)
{
	if (!m->f) {
		b->err = b->err ? b->err : -ENOMEM;
		return;
	}
	if (fclose(m->f) != 0 && !b->err)
		b->err = -ENOMEM;
	add(b, name, m->buf ? m->buf : "", m->buf ? m->len : 0);
	free(m->buf);
}

/* "$ ARGV..." and what it printed, or why it could not run. */
static void run_into(FILE *f, const char *const *argv)
{
	struct ctl_run_out o;
	char st[64];
	int ret;

	fprintf(f, "$");
	for (const char *const *a = argv; *a; a++)
		fprintf(f, " %s", *a);
	fprintf(f, "\n");
	ret = ctl_run(argv, 1, BR_RUN_MS, BR_RUN_MAX, &o);
	if (ret == -ENOENT) {
		fprintf(f, "%s not available\n", argv[0]);
		return;
	}
	if (ret) {
		fprintf(f, "%s could not be run: %s\n", argv[0], strerror(-ret));
		return;
	}
	if (o.len)
		fwrite(o.buf, 1, o.len, f);
	if (o.len && o.buf[o.len - 1] != '\n')
		fputc('\n', f);
	if (o.truncated)
		fprintf(f, "[output cut at %u bytes]\n", BR_RUN_MAX);
	if (o.timed_out || !WIFEXITED(o.status) || WEXITSTATUS(o.status))
		fprintf(f, "[%s]\n", ctl_run_status(&o, BR_RUN_MS, st, sizeof(st)));
	ctl_run_free(&o);
}

/* Member \p name: each NULL-terminated argv of \p cmds (NULL-ended) in turn. */
static void add_runs(struct br *b, const char *name, const char *const *const *cmds)
{
	struct member m;
	FILE *f = member_open(&m);

	for (size_t i = 0; f && cmds[i]; i++) {
		if (i)
			fputc('\n', f);
		run_into(f, cmds[i]);
	}
	member_add(b, &m, name);
}

static void add_versions(struct br *b)
{
	static const char *const pilotd[] = {"pilotd", "--version", NULL};
	static const char *const rdv[] = {"pilot-rendezvous", "--version", NULL};
	static const char *const uname_a[] = {"uname", "-a", NULL};
	static const char *const *const host[] = {uname_a, NULL};
	struct member m;
	FILE *f = member_open(&m);

	if (f) {
		fprintf(f, "$ pilotctl --version\npilotctl %s\n\n", PACKAGE_VERSION);
		run_into(f, pilotd);
		fputc('\n', f);
		run_into(f, rdv);
	}
	member_add(b, &m, "versions.txt");
	add_runs(b, "uname.txt", host);
}

static void add_os_release(struct br *b)
{
	static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};
	char *buf = NULL, msg[300];
	size_t len = 0;
	int ret = -ENOENT;

	for (size_t i = 0; i < nitems(paths) && ret; i++)
		ret = file_read_all(paths[i], 65536, &buf, &len);
	if (ret == 0) {
		add(b, "os-release.txt", buf, len);
		free(buf);
		return;
	}
	snprintf(msg, sizeof(msg), "no os-release: %s\n", strerror(-ret));
	add(b, "os-release.txt", msg, strlen(msg));
}

/* Indented JSON as a text file (yajl's beautified output may lack the
 * final newline). */
static void put_json(FILE *f, const char *out, size_t len)
{
	fwrite(out, 1, len, f);
	if (!len || out[len - 1] != '\n')
		fputc('\n', f);
}

/* \p data, or the run's error (then cleared: it is this file's, not the
 * command's), as the --json envelope, indented. */
static void add_envelope(struct br *b, const char *name, yajl_val data)
{
	struct ctl_err *e = &b->c->err;
	struct json_gen g;
	struct member m;
	const char *out;
	size_t len;
	FILE *f;

	if (json_gen_init(&g)) {
		b->err = -ENOMEM;
		return;
	}
	yajl_gen_config(g.g, yajl_gen_beautify, 1);
	ctl_gen_envelope(&g, e, data);
	f = member_open(&m);
	if (f && json_gen_finish(&g, &out, &len) == 0)
		put_json(f, out, len);
	json_gen_free(&g);
	member_add(b, &m, name);
	memset(e, 0, sizeof(*e));
}

/* One question to pilotd; remembers why it went unanswered the first
 * time the daemon could not be reached. */
static int ask(struct br *b, const char *cmd, yajl_val *tree, yajl_val *data)
{
	int ret = ctl_call1(b->c, cmd, NULL, NULL, tree, data);

	if (ret && !b->daemon_err[0] &&
	    (strcmp(b->c->err.code, "daemon_unreachable") == 0 ||
	     strcmp(b->c->err.code, "timeout") == 0))
		snprintf(b->daemon_err, sizeof(b->daemon_err), "%s", b->c->err.message);
	return ret;
}

static void add_daemon_views(struct br *b)
{
	static const struct {
		const char *file, *cmd;
	} views[] = {{"status.json", "status"},
		     {"peers.json", "peers"},
		     {"trust.json", "trust"},
		     {"network-list.json", "network.list"},
		     {"info.json", "info"}};

	for (size_t i = 0; i < nitems(views); i++) {
		yajl_val tree = NULL, data = NULL;
		ask(b, views[i].cmd, &tree, &data);
		add_envelope(b, views[i].file, data);
		if (tree)
			yajl_tree_free(tree);
	}
}

static void note_redacted(void *arg, const char *what)
{
	struct br *b = arg;

	if (!b->err)
		b->err = strv_add(&b->red, &b->nred, what);
}

/* Keep what the bug report needs of a dump: its redactions named, the
 * metrics listener's address. */
static void take_config(struct br *b, yajl_val cfg)
{
	const char *ml = NULL;

	b->have_config = 1;
	ctl_redactions(cfg, note_redacted, b);
	if (json_get_str(cfg, "metrics_listen", &ml) == 0 && *ml)
		b->metrics_listen = strdup(ml);
}

/* With pilotd down: the configuration pilotd would start with, from
 * `pilotd --check-config` (the same redaction).  \retval its dump (free
 * with yajl_tree_free) or NULL with \p why filled. */
static yajl_val check_config(char *why, size_t whylen)
{
	static const char *const argv[] = {"pilotd", "--check-config", NULL};
	struct ctl_run_out o;
	char err[128], st[64];
	yajl_val v = NULL;
	int ret = ctl_run(argv, 0, BR_RUN_MS, BR_RUN_MAX, &o);

	if (ret) {
		snprintf(why, whylen, "pilotd --check-config: %s",
			 ret == -ENOENT ? "no pilotd on PATH" : strerror(-ret));
		return NULL;
	}
	if (!o.timed_out && WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0)
		v = json_parse(o.buf ? o.buf : "", o.len, 0, err, sizeof(err));
	if (!v)
		snprintf(why, whylen, "pilotd --check-config: %s",
			 o.timed_out || !WIFEXITED(o.status) || WEXITSTATUS(o.status)
			     ? ctl_run_status(&o, BR_RUN_MS, st, sizeof(st))
			     : err);
	ctl_run_free(&o);
	if (!v) {
		/* Its reason is on stderr (config errors name keys, never
		 * secret values). */
		ret = ctl_run(argv, 1, BR_RUN_MS, 4096, &o);
		if (ret == 0 && o.len) {
			size_t n = strlen(why);
			snprintf(why + n, whylen - n, ": %.*s", (int)strcspn(o.buf, "\n"), o.buf);
		}
		if (ret == 0)
			ctl_run_free(&o);
	}
	return v;
}

static void add_config(struct br *b)
{
	yajl_val tree = NULL, data = NULL, dump = NULL;
	struct json_gen g;
	struct member m;
	const char *out, *path = "";
	size_t len;
	char why[1200] = "", cc[600] = "";
	FILE *f;

	if (ask(b, "config", &tree, &data) == 0) {
		dump = json_get(data, "config");
		json_get_str(data, "path", &path);
	} else {
		dump = tree = check_config(cc, sizeof(cc));
		snprintf(why, sizeof(why), "pilotd did not give its configuration (%s); %s",
			 b->c->err.message, dump ? "what pilotd --check-config reads instead" : cc);
		memset(&b->c->err, 0, sizeof(b->c->err));
	}
	if (json_gen_init(&g)) {
		b->err = -ENOMEM;
		goto out;
	}
	yajl_gen_config(g.g, yajl_gen_beautify, 1);
	jg_map_open(&g);
	jg_kstr(&g, "source",
		data   ? "pilotd, running (control socket)"
		: dump ? "pilotd --check-config"
		       : "none");
	if (why[0])
		jg_kstr(&g, dump ? "note" : "error", why);
	if (data)
		jg_kstr(&g, "path", path);
	if (YAJL_IS_OBJECT(dump)) {
		jg_key(&g, "config");
		json_gen_value(&g, dump);
		take_config(b, dump);
	}
	jg_map_close(&g);
	f = member_open(&m);
	if (f && json_gen_finish(&g, &out, &len) == 0)
		put_json(f, out, len);
	json_gen_free(&g);
	member_add(b, &m, "config.json");
out:
	if (tree)
		yajl_tree_free(tree);
}

static void add_metrics(struct br *b)
{
	char *body = NULL, err[400], msg[500];
	size_t len = 0;

	if (!b->metrics_listen) {
		snprintf(msg, sizeof(msg), "%s\n",
			 b->have_config
			     ? "no metrics listener: metrics_listen is not set (pilotd.json(5))"
			     : "no metrics: pilotd's configuration could not be had (see "
			       "config.json)");
		add(b, "metrics.txt", msg, strlen(msg));
		return;
	}
	if (ctl_http_get(b->metrics_listen, "/metrics", BR_METRICS_MS, BR_RUN_MAX, &body, &len, err,
			 sizeof(err)) == 0) {
		add(b, "metrics.txt", body, len);
		free(body);
		return;
	}
	snprintf(msg, sizeof(msg), "%s\n", err);
	add(b, "metrics.txt", msg, strlen(msg));
}

static void add_host(struct br *b)
{
	static const char *const j1[] = {
	    "journalctl", "-u", "pilotd.service", "-n", BR_JOURNAL_LINES, "--no-pager", NULL};
	static const char *const j2[] = {
	    "journalctl", "-u", "pilot-rendezvous.service", "-n", BR_JOURNAL_LINES,
	    "--no-pager", NULL};
	static const char *const nft[] = {"nft", "list", "ruleset", NULL};
	static const char *const addr[] = {"ip", "-d", "addr", NULL};
	static const char *const route6[] = {"ip", "-6", "route", NULL};
	static const char *const rule[] = {"ip", "rule", NULL};
	static const char *const rule6[] = {"ip", "-6", "rule", NULL};
	static const char *const *const jd[] = {j1, NULL}, *const *const jr[] = {j2, NULL},
					*const *const n[] = {nft, NULL},
					*const *const a[] = {addr, NULL},
					*const *const r6[] = {route6, NULL},
					*const *const ru[] = {rule, rule6, NULL};

	add_runs(b, "journal-pilotd.txt", jd);
	add_runs(b, "journal-pilot-rendezvous.txt", jr);
	add_runs(b, "nft-ruleset.txt", n);
	add_runs(b, "ip-addr.txt", a);
	add_runs(b, "ip-6-route.txt", r6);
	add_runs(b, "ip-rule.txt", ru);
}

/* What the report holds and left out, first thing to read. */
static void add_summary(struct br *b, const char *stamp, const char *host)
{
	struct member m;
	FILE *f = member_open(&m);

	if (f) {
		fprintf(f, "Pilot bug report %s\ncreated: %s\nhost: %s\npilotctl: %s\n", b->dir,
			stamp, host, PACKAGE_VERSION);
		if (b->daemon_err[0])
			fprintf(f, "pilotd: did not answer (%s); its files say so\n",
				b->daemon_err);
		else
			fprintf(f, "pilotd: answered on %s\n", b->c->socket_path);
		fprintf(f, "redacted:%s", b->nred ? "" : " nothing");
		for (size_t i = 0; i < b->nred; i++)
			fprintf(f, "%s %s", i ? "," : "", b->red[i]);
		fprintf(f, "\nfiles:");
		for (size_t i = 0; i < b->nfiles; i++)
			fprintf(f, " %s", b->files[i]);
		fprintf(f, " summary.txt\n");
	}
	member_add(b, &m, "summary.txt");
}

static int parse_args(struct ctl *c, int argc, char **argv, const char **output)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--output=", 9) == 0) {
			*output = a + 9;
		} else if (strcmp(a, "--output") == 0) {
			if (i + 1 >= argc)
				return ctl_usage(c, "bugreport: --output needs a FILE");
			*output = argv[++i];
		} else {
			return ctl_usage(c, "bugreport: unexpected argument '%s'", a);
		}
		if (!**output)
			return ctl_usage(c, "bugreport: --output needs a FILE");
	}
	return 0;
}

/* This host's name as it may stand in a file name. */
static void host_name(char *out, size_t len)
{
	char h[256] = "";

	if (gethostname(h, sizeof(h) - 1) < 0 || !h[0])
		snprintf(h, sizeof(h), "unknown");
	for (char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
			*p = '_';
	snprintf(out, len, "%.*s", BR_HOST_MAX, h);
}

static int print_result(struct br *b, const char *path)
{
	struct json_gen g;
	int ret;

	if (!b->c->json) {
		printf("wrote %s (%zu files)\nredacted:%s", path, b->nfiles,
		       b->nred ? "" : " nothing");
		for (size_t i = 0; i < b->nred; i++)
			printf("%s %s", i ? "," : "", b->red[i]);
		printf("\n");
		if (b->daemon_err[0])
			printf("pilotd did not answer (%s): the report says so in its files\n",
			       b->daemon_err);
		return 0;
	}
	ret = ctl_emit_begin(&g);
	if (ret)
		return ret;
	jg_kstr(&g, "path", path);
	jg_key(&g, "redacted");
	jg_array_open(&g);
	for (size_t i = 0; i < b->nred; i++)
		jg_str(&g, b->red[i]);
	jg_array_close(&g);
	jg_key(&g, "files");
	jg_array_open(&g);
	for (size_t i = 0; i < b->nfiles; i++)
		jg_str(&g, b->files[i]);
	jg_array_close(&g);
	jg_kbool(&g, "pilotd_reachable", !b->daemon_err[0]);
	if (b->daemon_err[0])
		jg_kstr(&g, "pilotd_error", b->daemon_err);
	return ctl_emit_end(b->c, &g);
}

/* Gather everything into the open archive. */
static void collect(struct br *b, const char *stamp, const char *host)
{
	add_versions(b);
	add_os_release(b);
	add_daemon_views(b);
	add_config(b);
	add_metrics(b);
	add_host(b);
	add_summary(b, stamp, host);
}

int ctl_cmd_bugreport(struct ctl *c, int argc, char **argv)
{
	struct br b = {.c = c};
	const char *output = NULL;
	char host[BR_HOST_MAX + 1], stamp[32], defpath[200], tmp[4200];
	time_t now = time(NULL);
	struct tm tm;
	int fd, ret;

	ret = parse_args(c, argc, argv, &output);
	if (ret)
		return ret;
	host_name(host, sizeof(host));
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(b.dir, sizeof(b.dir), "pilot-bugreport-%s-%s", host, stamp);
	snprintf(defpath, sizeof(defpath), "/tmp/%s.tar.gz", b.dir);
	if (!output)
		output = defpath;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", output) >= (int)sizeof(tmp))
		return ctl_fail(c, -ENAMETOOLONG, "bad_request", "", "output path too long");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0600) < 0) {
		ret = -errno;
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return ctl_fail(c, ret, "internal", "choose another place with --output FILE",
				"cannot create %s: %s", tmp, strerror(-ret));
	}
	c->ipc_timeout_ms = BR_IPC_MS;
	b.tgz = ctl_tgz_new(fd, b.dir, now);
	if (!b.tgz)
		b.err = -errno;
	if (!b.err)
		collect(&b, stamp, host);
	if (!b.err)
		b.err = ctl_tgz_finish(b.tgz);
	if (!b.err && fsync(fd) < 0)
		b.err = -errno;
	if (close(fd) < 0 && !b.err)
		b.err = -errno;
	if (!b.err && rename(tmp, output) < 0)
		b.err = -errno;
	if (b.err) {
		unlink(tmp);
		ret = ctl_fail(c, b.err, "internal", "", "cannot write %s: %s", output,
			       strerror(-b.err));
	} else {
		ret = print_result(&b, output);
	}
	ctl_tgz_free(b.tgz);
	strv_free(b.red, b.nred);
	strv_free(b.files, b.nfiles);
	free(b.metrics_listen);
	return ret;
}
