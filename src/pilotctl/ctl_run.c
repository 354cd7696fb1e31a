/* ctl_run.c - run a program and keep what it prints (pilotctl bugreport:
 * uname, journalctl, nft, ip, the daemons' --version and --check-config).
 * No shell: argv goes to posix_spawn as it is.  Each run is bounded in
 * time and in output; a program that outlives its time is killed (it is
 * our own child, by its PID). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl_run.h"
#include "util.h"

extern char **environ;

/* Where a system tool lives when PATH (a user's, without sbin) misses it. */
static const char *const sbin_dirs[] = {"/usr/sbin", "/sbin"};

static int spawn(const char *const *argv, int with_stderr, int outfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	char path[256];
	int rc;

	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	if (!rc)
		rc = with_stderr
			 ? posix_spawn_file_actions_adddup2(&fa, outfd, 2)
			 : posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (!rc)
		rc = posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	for (size_t i = 0; rc == ENOENT && !strchr(argv[0], '/') && i < nitems(sbin_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", sbin_dirs[i], argv[0]);
		rc = posix_spawn(pid, path, &fa, NULL, (char *const *)argv, environ);
	}
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

/* Append what \p fd has to \p o (beyond \p max: read and dropped).
 * \retval 1 at end of file, 0 for more later, -errno. */
static int take(int fd, struct ctl_run_out *o, size_t max)
{
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return 1;
	if (o->len < max) {
		size_t keep = MIN((size_t)n, max - o->len);
		char *nb = realloc(o->buf, o->len + keep + 1);
		if (!nb)
			return -ENOMEM;
		o->buf = nb;
		memcpy(o->buf + o->len, buf, keep);
		o->len += keep;
		o->buf[o->len] = '\0';
		o->truncated |= keep < (size_t)n;
	} else {
		o->truncated = 1;
	}
	return 0;
}

/* Wait for \p pid until \p deadline, then kill it. */
static void reap(pid_t pid, uint64_t deadline, struct ctl_run_out *o)
{
	for (;;) {
		pid_t r = waitpid(pid, &o->status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (now_mono_ms() >= deadline)
			break;
		usleep(10000);
	}
	o->timed_out = 1;
	kill(pid, SIGKILL);
	while (waitpid(pid, &o->status, 0) < 0 && errno == EINTR)
		;
}

int ctl_run(const char *const *argv, int with_stderr, unsigned timeout_ms, size_t max,
	    struct ctl_run_out *o)
{
	uint64_t deadline = now_mono_ms() + timeout_ms;
	int p[2], ret, done = 0;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	ret = spawn(argv, with_stderr, p[1], &pid);
	close(p[1]);
	if (ret) {
		close(p[0]);
		return ret;
	}
	while (!done) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		uint64_t now = now_mono_ms();
		int r;
		if (now >= deadline)
			break;
		r = poll(&pf, 1, (int)MIN(deadline - now, 1000));
		if (r < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (r > 0) {
			int t = take(p[0], o, max);
			if (t < 0) {
				ret = t;
				break;
			}
			done = t;
		}
	}
	close(p[0]);
	reap(pid, done ? deadline : now_mono_ms(), o);
	if (ret) {
		free(o->buf);
		o->buf = NULL;
		o->len = 0;
	}
	return ret;
}

void ctl_run_free(struct ctl_run_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = 0;
}

const char *ctl_run_status(const struct ctl_run_out *o, unsigned timeout_ms, char *buf, size_t len)
{
	if (o->timed_out)
		snprintf(buf, len, "killed after %u s", timeout_ms / 1000);
	else if (WIFEXITED(o->status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(o->status));
	else if (WIFSIGNALED(o->status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(o->status));
	else
		snprintf(buf, len, "ended");
	return buf;
}
