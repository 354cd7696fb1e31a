/* ctl_up.c - "pilotctl up JOIN-STRING|-": a node from a join string
 * (doc/JOIN.md, pilot-rendezvous --print-join).  Decodes the string, writes
 * pilotd.json from it atomically (mode 0640, group pilot; 0600 where that
 * group does not exist), never replacing a file that says something else
 * unless --force, and then starts pilotd through systemd unless --no-start.
 * A network in the string goes into "networks", so pilotd joins it at
 * every start.  Talks to no daemon: it runs before there is one. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_example.h"
#include "join.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define UP_DEFAULT_CONFIG SYSCONFDIR "/pilot/pilotd.json"
#define UP_GROUP "pilot"	 /* pilotd's service group (systemd/pilot.sysusers) */
#define UP_STDIN_MAX (64 * 1024) /* more is no join string (join_decode says so) */
#define UP_CONFIG_MAX (1 << 20)

extern char **environ;

struct up_opts {
	const char *join; /* the string, or "-" */
	const char *config;
	int no_start, force;
};

/* What was done, for the report. */
struct up_result {
	int written;	/* 0: the file already said exactly this */
	int replaced;	/* --force replaced a file that said something else */
	unsigned mode;	/* of the file */
	char owner[64]; /* its owner and group, by name */
	char group[64];
	int started;	     /* systemctl was run and succeeded */
	char service[64];    /* the systemctl command run, "" none */
	char note[PATH_MAX]; /* what the operator should know or do, "" none */
};

/* Add a sentence to the report's note. */
static void __attribute__((format(printf, 2, 3)))
note_add(struct up_result *res, const char *fmt, ...)
{
	size_t n = strlen(res->note);
	va_list ap;

	if (n && n + 2 < sizeof(res->note)) {
		memcpy(res->note + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(res->note + n, sizeof(res->note) - n, fmt, ap);
	va_end(ap);
}

static int up_parse(struct ctl *c, int argc, char **argv, struct up_opts *o)
{
	int literal = 0;

	memset(o, 0, sizeof(*o));
	o->config = UP_DEFAULT_CONFIG;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!literal && strcmp(a, "--") == 0) {
			literal = 1;
		} else if (!literal && strcmp(a, "--no-start") == 0) {
			o->no_start = 1;
		} else if (!literal && strcmp(a, "--force") == 0) {
			o->force = 1;
		} else if (!literal && strncmp(a, "--config=", 9) == 0) {
			o->config = a + 9;
		} else if (!literal && strcmp(a, "--config") == 0) {
			if (i + 1 >= argc)
				return ctl_usage(c, "up: --config needs a FILE");
			o->config = argv[++i];
		} else if (!literal && a[0] == '-' && a[1] != '\0') {
			return ctl_usage(c, "up: unknown option '%s'", a);
		} else if (o->join) {
			return ctl_usage(c, "up: one join string only (from '%.40s' on)", a);
		} else {
			o->join = a;
		}
	}
	if (!o->join)
		return ctl_usage(c, "up: missing the join string (or - to read it from stdin)");
	if (!o->config[0])
		return ctl_usage(c, "up: --config needs a FILE");
	return 0;
}

/* The join string: the argument, or standard input for "-" (which keeps a
 * string holding a token out of the process list). */
static int up_read_join(struct ctl *c, const char *arg, char **out, size_t *len)
{
	size_t n = 0, cap = UP_STDIN_MAX + 1;
	char *buf;

	if (strcmp(arg, "-") != 0) {
		*len = strlen(arg);
		*out = strdup(arg);
		return *out ? 0 : -ENOMEM;
	}
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			return ctl_fail(c, -e, "bad_request", "", "up: reading stdin: %s",
					strerror(e));
		}
		if (r == 0 || (n += (size_t)r) == cap)
			break;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* pilotd.json for \p ji: the registry, its pin, the network to join.
 * Deterministic, so that the same string gives the same bytes (a second
 * `up` with it changes nothing).  \retval malloc'd text or NULL. */
static char *up_config_text(const struct join_info *ji, const char *path)
{
	struct json_gen j;
	const char *json;
	char head[PATH_MAX + 400], net[JOIN_TOKEN_MAX + 8];
	size_t len, hl;
	char *text = NULL;

	if (json_gen_init(&j) < 0)
		return NULL;
	yajl_gen_config(j.g, yajl_gen_beautify, 1);
	yajl_gen_config(j.g, yajl_gen_indent_string, "\t");
	jg_map_open(&j);
	jg_kstr(&j, "registry", ji->registry);
	jg_kstr(&j, "registry_pin", ji->pin);
	if (ji->network) {
		snprintf(net, sizeof(net), "%u%s%s", ji->network, ji->token[0] ? ":" : "",
			 ji->token);
		jg_key(&j, "networks");
		jg_array_open(&j);
		jg_str(&j, net);
		jg_array_close(&j);
		sodium_memzero(net, sizeof(net));
	}
	jg_map_close(&j);
	hl = (size_t)snprintf(head, sizeof(head),
			      "// %s - written by `pilotctl up` from a join string (doc/JOIN.md).\n"
			      "// Every key: pilotd.json(5).  `pilotctl up` does not replace this "
			      "file\n// once it says anything else, unless --force.\n",
			      path);
	if (json_gen_finish(&j, &json, &len) < 0) {
		json_gen_free(&j);
		return NULL;
	}
	if (hl < sizeof(head) && (text = malloc(hl + len + 2)) != NULL) {
		memcpy(text, head, hl);
		memcpy(text + hl, json, len);
		hl += len;
		if (text[hl - 1] != '\n')
			text[hl++] = '\n';
		text[hl] = '\0';
	}
	sodium_memzero((void *)json, len); /* the token */
	json_gen_free(&j);
	return text;
}

/* Is \p buf the example pilotd.json make install puts in place, unchanged?
 * It names no usable registry (pilotd refuses its placeholder pin), so
 * replacing it loses nothing. */
static int is_example(const char *buf, size_t len)
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];

	crypto_hash_sha256(h, (const uint8_t *)buf, len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return strcmp(hex, CTL_EXAMPLE_CONFIG_SHA256) == 0;
}

/* 1: \p path holds exactly \p text, 2: the installed example, 0: it does
 * not exist, -ENOTEMPTY: it holds something else; or -errno (recorded). */
static int up_compare(struct ctl *c, const char *path, const char *text)
{
	char *old = NULL;
	size_t len = 0;
	int ret = file_read_all(path, UP_CONFIG_MAX, &old, &len);

	if (ret == -ENOENT)
		return 0;
	if (ret == -EFBIG)
		ret = -ENOTEMPTY; /* certainly not ours */
	else if (ret < 0)
		return ctl_fail(c, ret, "internal", "", "up: reading %s: %s", path, strerror(-ret));
	else if (len == strlen(text) && memcmp(old, text, len) == 0)
		ret = 1;
	else
		ret = is_example(old, len) ? 2 : -ENOTEMPTY;
	if (old) {
		sodium_memzero(old, len);
		free(old);
	}
	return ret;
}

static void up_names(const char *path, struct up_result *res)
{
	struct stat st;
	struct passwd *pw;
	struct group *gr;

	if (stat(path, &st) < 0)
		return;
	res->mode = st.st_mode & 07777;
	pw = getpwuid(st.st_uid);
	gr = getgrgid(st.st_gid);
	if (pw)
		snprintf(res->owner, sizeof(res->owner), "%s", pw->pw_name);
	else
		snprintf(res->owner, sizeof(res->owner), "%u", (unsigned)st.st_uid);
	if (gr)
		snprintf(res->group, sizeof(res->group), "%s", gr->gr_name);
	else
		snprintf(res->group, sizeof(res->group), "%u", (unsigned)st.st_gid);
}

/* Write it: 0640 with group pilot, which pilotd's service user is in; where
 * that group is missing (a development machine), or cannot be given (not
 * root, not a member), 0600 and a note saying so. */
static int up_write(struct ctl *c, const char *path, const char *text, struct up_result *res)
{
	char dir[PATH_MAX], *d;
	struct group *gr = getgrnam(UP_GROUP);
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	d = dirname(dir);
	if (access(d, F_OK) < 0 && (ret = mkdir_p(d, 0755)) < 0)
		return ctl_fail(c, ret, "internal", "", "up: creating %s: %s", d, strerror(-ret));
	ret = -EPERM;
	if (gr)
		ret = file_write_atomic_gid(path, text, strlen(text), 0640, gr->gr_gid);
	if (ret == -EPERM) {
		ret = file_write_atomic(path, text, strlen(text), 0600);
		note_add(res,
			 gr ? "%s is mode 0600: group '%s' could not be given to it (run as root); "
			      "pilotd running as user pilot cannot read it"
			    : "%s is mode 0600: there is no group '%s' here; the pilotd unit "
			      "(user pilot) needs it: systemd-sysusers, or make install",
			 path, UP_GROUP);
	}
	if (ret < 0)
		return ctl_fail(c, ret, "internal",
				ret == -EACCES || ret == -EPERM ? "run it as root" : "",
				"up: writing %s: %s", path, strerror(-ret));
	res->written = 1;
	return 0;
}

/* Is \p prog an executable in $PATH? */
static int in_path(const char *prog)
{
	const char *p = getenv("PATH");
	char buf[PATH_MAX];

	while (p && *p) {
		size_t n = strcspn(p, ":");
		if (n > 0 &&
		    snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return 1;
		p += n + (p[n] == ':');
	}
	return 0;
}

/* Run systemctl ARGS with its output on our stderr (stdout carries only
 * our report).  \retval its exit status, or -errno. */
static int systemctl(char *const args[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, ret;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	fflush(stdout);
	ret = posix_spawnp(&pid, "systemctl", &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (ret != 0)
		return -ret;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Start pilotd with the new configuration: enable --now when it is not
 * running; when it is, restart it (registry and registry_pin are
 * [restart] keys: pilotd refuses a reload that changes them). */
static int up_start(struct ctl *c, const struct up_opts *o, struct up_result *res)
{
	static char *const is_active[] = {"systemctl", "is-active", "--quiet", "pilotd", NULL};
	static char *const enable_now[] = {"systemctl", "enable", "--now", "pilotd", NULL};
	static char *const enable[] = {"systemctl", "enable", "pilotd", NULL};
	static char *const restart[] = {"systemctl", "restart", "pilotd", NULL};
	char *const *run;
	struct stat st;
	int ret;

	if (o->no_start)
		return 0;
	if (!in_path("systemctl") || stat("/run/systemd/system", &st) < 0) {
		note_add(res, "%s: pilotd not started; start it yourself: pilotd --config %s",
			 in_path("systemctl") ? "systemd is not running here" : "no systemctl here",
			 o->config);
		return 0;
	}
	if (strcmp(o->config, UP_DEFAULT_CONFIG) != 0) {
		note_add(res,
			 "the pilotd unit reads %s: pilotd not started; start it yourself: "
			 "pilotd --config %s",
			 UP_DEFAULT_CONFIG, o->config);
		return 0;
	}
	if (systemctl(is_active) == 0) {
		if (!res->written) {
			snprintf(res->service, sizeof(res->service), "(running already)");
			res->started = 1;
			return 0;
		}
		ret = systemctl(enable);
		run = restart;
		if (ret == 0)
			ret = systemctl(run);
	} else {
		run = enable_now;
		ret = systemctl(run);
	}
	snprintf(res->service, sizeof(res->service), "systemctl %s %s%s", run[1], run[2],
		 run[3] ? " pilotd" : "");
	if (ret != 0)
		return ctl_fail(c, ret < 0 ? ret : -EIO, "start_failed",
				"journalctl -u pilotd; systemctl status pilotd",
				"up: wrote %s, but '%s' failed (%s %d)", o->config, res->service,
				ret < 0 ? "error" : "exit", ret < 0 ? -ret : ret);
	res->started = 1;
	return 0;
}

static int up_report(struct ctl *c, const struct up_opts *o, const struct join_info *ji,
		     const struct up_result *res)
{
	struct json_gen g;
	char mode[8];
	int ret;

	snprintf(mode, sizeof(mode), "%04o", res->mode);
	if (!c->json) {
		printf("%s %s (mode %s, %s:%s): registry %s",
		       res->replaced  ? "replaced"
		       : res->written ? "wrote"
				      : "kept",
		       o->config, mode, res->owner, res->group, ji->registry);
		if (ji->network)
			printf(", network %u%s", ji->network,
			       ji->token[0] ? " (with its token)" : "");
		printf("%s\n", res->written ? "" : "; it said exactly this already");
		if (res->service[0])
			printf("pilotd: %s\n", res->service);
		if (res->note[0])
			printf("note: %s\n", res->note);
		return 0;
	}
	if ((ret = ctl_emit_begin(&g)) != 0)
		return ret;
	jg_kstr(&g, "config", o->config);
	jg_kbool(&g, "written", res->written);
	jg_kbool(&g, "replaced", res->replaced);
	jg_kstr(&g, "mode", mode);
	jg_kstr(&g, "owner", res->owner);
	jg_kstr(&g, "group", res->group);
	jg_kstr(&g, "registry", ji->registry);
	jg_kstr(&g, "registry_pin", ji->pin);
	if (ji->network)
		jg_ku64(&g, "network_id", ji->network);
	jg_kbool(&g, "with_token", ji->token[0] != '\0');
	jg_kbool(&g, "started", res->started);
	jg_key(&g, "service");
	if (res->service[0])
		jg_str(&g, res->service);
	else
		jg_null(&g);
	jg_key(&g, "note");
	if (res->note[0])
		jg_str(&g, res->note);
	else
		jg_null(&g);
	return ctl_emit_end(c, &g);
}

int ctl_cmd_up(struct ctl *c, int argc, char **argv)
{
	struct up_opts o;
	struct up_result res;
	struct join_info ji;
	char *s = NULL, *text = NULL, err[256];
	size_t len = 0;
	int ret;

	memset(&res, 0, sizeof(res));
	memset(&ji, 0, sizeof(ji));
	if ((ret = up_parse(c, argc, argv, &o)) != 0)
		return ret;
	if ((ret = up_read_join(c, o.join, &s, &len)) != 0)
		goto out;
	if ((ret = join_decode(s, len, &ji, err, sizeof(err))) < 0) {
		ret = ctl_fail(c, ret, "bad_request",
			       "copy the whole line pilot-rendezvous --print-join printed",
			       "up: %s (nothing written)", err);
		goto out;
	}
	text = up_config_text(&ji, o.config);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	ret = up_compare(c, o.config, text);
	if (ret == -ENOTEMPTY && !o.force) {
		ret = ctl_fail(c, -EEXIST, "conflict",
			       "compare it with what the join string gives, then pass --force "
			       "(nothing of the old file is kept)",
			       "up: %s exists and says something else; not replaced", o.config);
		goto out;
	}
	if (ret < 0 && ret != -ENOTEMPTY)
		goto out;
	res.replaced = ret == -ENOTEMPTY || ret == 2;
	if (ret == 2)
		note_add(&res, "it replaced the example configuration make install put there "
			       "(unchanged, with the placeholder pin)");
	if (ret != 1 && (ret = up_write(c, o.config, text, &res)) != 0)
		goto out;
	up_names(o.config, &res);
	if ((ret = up_start(c, &o, &res)) != 0)
		goto out;
	ret = up_report(c, &o, &ji, &res);
out:
	if (s) {
		sodium_memzero(s, len);
		free(s);
	}
	if (text) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	join_info_wipe(&ji);
	return ret;
}
