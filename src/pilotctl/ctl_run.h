/* ctl_run.h - run a program, bounded in time and output, and keep what it
 * printed (ctl_run.c). */
#ifndef PILOT_CTL_RUN_H
#define PILOT_CTL_RUN_H

#include <stddef.h>

struct ctl_run_out {
	char *buf; /* what it printed, NUL-terminated; NULL when nothing */
	size_t len;
	int truncated; /* it printed more than the limit */
	int status;    /* wait status */
	int timed_out; /* killed at the time limit */
};

/** Run \p argv (NULL-terminated; argv[0] looked up in PATH, then /usr/sbin
 *  and /sbin) with stdin /dev/null, keeping at most \p max bytes of its
 *  stdout (and stderr when \p with_stderr; else /dev/null), for at most
 *  \p timeout_ms: then it is killed.  \retval 0 with \p o filled (free
 *  with ctl_run_free), -ENOENT when there is no such program, -errno. */
int ctl_run(const char *const *argv, int with_stderr, unsigned timeout_ms, size_t max,
	    struct ctl_run_out *o);
void ctl_run_free(struct ctl_run_out *o);
/** How it ended: "exit status 0", "killed by signal 9", "killed after 10 s". */
const char *ctl_run_status(const struct ctl_run_out *o, unsigned timeout_ms, char *buf, size_t len);

#endif
