/* resolved.c - see resolved.h.  resolvectl talks to resolved over D-Bus,
 * which may wait on a busy or absent bus: each step is a child process
 * polled from a timer, killed after STEP_TIMEOUT_MS, so the daemon's loop
 * never waits on it.  Only the revert at the end is waited for (bounded):
 * the daemon is stopping then, and it should leave resolved as it was. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "resolved.h"
#include "util.h"

#define RESOLVED_DIR "/run/systemd/resolve"
#define STEP_TIMEOUT_MS 10000
#define REVERT_TIMEOUT_MS 3000
#define POLL_MS 50

/* Only the program's own settings reach it: no inherited PATH or locale
 * (its messages are logged as they are). */
static char *const child_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};

/* resolvectl: $PILOT_RESOLVECTL (tests, pilotd(8) ENVIRONMENT), else the
 * usual places.  NULL: none. */
static const char *resolvectl_path(void)
{
	static const char *const paths[] = {"/usr/bin/resolvectl", "/bin/resolvectl",
					    "/usr/sbin/resolvectl"};
	const char *env = secure_getenv("PILOT_RESOLVECTL");

	if (env && *env)
		return env;
	for (size_t i = 0; i < nitems(paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* The argument vector of step \p step (RESOLVED_STEPS: the revert). */
static void step_argv(struct resolved *r, unsigned step, const char *prog, char *argv[6])
{
	static char dns[] = "dns", domain[] = "domain", route[] = "default-route",
		    revert[] = "revert", pilot[] = "~pilot", no[] = "false";

	argv[0] = (char *)prog;
	argv[2] = r->ifname;
	argv[3] = argv[4] = argv[5] = NULL;
	switch (step) {
	case 0:
		argv[1] = dns, argv[3] = r->server;
		break;
	case 1:
		argv[1] = domain, argv[3] = pilot;
		break;
	case 2:
		argv[1] = route, argv[3] = no;
		break;
	default:
		argv[1] = revert;
		break;
	}
}

/* Start step \p step.  \retval 0 or -errno (logged). */
static int spawn_step(struct resolved *r, unsigned step)
{
	const char *prog = resolvectl_path();
	posix_spawn_file_actions_t fa;
	char *argv[6];
	int p[2], rc;

	if (!prog) {
		snprintf(r->last_error, sizeof(r->last_error), "no resolvectl program found");
		log_warnx("systemd-resolved: %s", r->last_error);
		return -ENOENT;
	}
	step_argv(r, step, prog, argv);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	rc = posix_spawn(&r->pid, prog, &fa, NULL, argv, child_env);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		r->pid = 0;
		snprintf(r->last_error, sizeof(r->last_error), "%s: %s", prog, strerror(rc));
		log_warnx("systemd-resolved: %s", r->last_error);
		return -rc;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	r->out_fd = p[0];
	r->outlen = 0;
	r->started_ms = now_mono_ms();
	log_info("systemd-resolved: running %s %s %s%s%s", prog, argv[1], argv[2],
		 argv[3] ? " " : "", argv[3] ? argv[3] : "");
	return 0;
}

/* Keep what the child printed (the first bytes: its error). */
static void drain(struct resolved *r)
{
	char junk[256];
	ssize_t n;

	for (int i = 0; i < 64; i++) {
		size_t room = sizeof(r->out) - 1 - r->outlen;
		n = read(r->out_fd, room ? r->out + r->outlen : junk, room ? room : sizeof(junk));
		if (n <= 0)
			break;
		if (room)
			r->outlen += (size_t)n;
	}
	r->out[r->outlen] = '\0';
	/* One line for the log. */
	for (size_t i = 0; i < r->outlen; i++)
		if (r->out[i] == '\n' || r->out[i] == '\r')
			r->out[i] = ' ';
}

/* The child's end: \retval its exit status (0: it worked), or -1 when
 * it was killed (\p kill_it: it ran too long) or is not done yet
 * (*\p done 0). */
static int reap(struct resolved *r, int kill_it, int *done)
{
	int st = 0;
	pid_t w;

	drain(r);
	if (kill_it)
		kill(r->pid, SIGKILL);
	w = waitpid(r->pid, &st, kill_it ? 0 : WNOHANG);
	*done = w != 0;
	if (!*done)
		return -1;
	drain(r);
	close(r->out_fd);
	r->out_fd = -1;
	r->pid = 0;
	return w > 0 && !kill_it && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void schedule(struct resolved *r)
{
	struct timeval tv = {0, POLL_MS * 1000};
	evtimer_add(r->timer, &tv);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct resolved *r = arg;
	int late = now_mono_ms() - r->started_ms >= STEP_TIMEOUT_MS, done, st;

	(void)fd;
	(void)what;
	st = reap(r, late, &done);
	if (!done) {
		schedule(r);
		return;
	}
	if (st != 0) {
		snprintf(r->last_error, sizeof(r->last_error), "step %u %s: %s", r->step + 1,
			 late ? "timed out" : "failed", r->outlen ? r->out : "no message");
		/* The default route step is for resolved >= 246; without it
		 * the link still gets ~pilot. */
		if (r->step + 1 == RESOLVED_STEPS) {
			log_info("systemd-resolved: resolvectl default-route unsupported (%s); "
				 "~pilot is routed to the stub all the same",
				 r->outlen ? r->out : "no message");
		} else {
			log_warnx("systemd-resolved: %s (the stub still answers; see "
				  "pilotd(8) DNS STUB for the permission it needs)",
				  r->last_error);
			r->state = "failed";
			return;
		}
	}
	r->told = 1;
	if (++r->step < RESOLVED_STEPS && spawn_step(r, r->step) == 0) {
		schedule(r);
		return;
	}
	if (r->step < RESOLVED_STEPS) {
		r->state = "failed";
		return;
	}
	r->state = "done";
	log_info("systemd-resolved: NAME.pilot goes to %s on %s", r->server, r->ifname);
}

int resolved_register(struct resolved *r, struct event_base *base, const char *ifname,
		      const char *server)
{
	struct stat sb;
	int rc;

	memset(r, 0, sizeof(*r));
	r->out_fd = -1;
	r->state = "absent";
	if (stat(RESOLVED_DIR, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		log_debug("systemd-resolved is not running (no %s): not telling it of the DNS "
			  "stub",
			  RESOLVED_DIR);
		return 0;
	}
	r->base = base;
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	snprintf(r->server, sizeof(r->server), "%s", server);
	if (!(r->timer = evtimer_new(base, on_poll, r)))
		return -ENOMEM;
	if ((rc = spawn_step(r, 0)) < 0) {
		r->state = "failed";
		return rc;
	}
	r->state = "running";
	schedule(r);
	return 0;
}

void resolved_stop(struct resolved *r)
{
	int done = 0, st;

	if (r->timer)
		event_free(r->timer);
	r->timer = NULL;
	if (r->pid) {
		/* A step still running: its change would land after the revert. */
		reap(r, 1, &done);
		r->told = 1;
	}
	if (!r->told)
		return;
	r->told = 0;
	if (spawn_step(r, RESOLVED_STEPS) < 0)
		return;
	for (uint64_t t0 = now_mono_ms(); !done;) {
		int late = now_mono_ms() - t0 >= REVERT_TIMEOUT_MS;
		struct timespec ts = {0, 10 * 1000000};
		st = reap(r, late, &done);
		if (done) {
			if (st == 0)
				log_info("systemd-resolved: reverted %s", r->ifname);
			else
				log_warnx("systemd-resolved: resolvectl revert %s %s: %s",
					  r->ifname, late ? "timed out" : "failed",
					  r->outlen ? r->out : "no message");
			break;
		}
		nanosleep(&ts, NULL);
	}
}
