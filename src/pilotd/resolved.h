/* resolved.h - telling systemd-resolved that the pilot domain is answered
 * by pilotd's DNS stub on the TUN device, with resolvectl(1) run as a
 * child process (no libsystemd, no D-Bus code of our own):
 *
 *     resolvectl dns IFNAME SERVER
 *     resolvectl domain IFNAME ~pilot
 *     resolvectl default-route IFNAME false
 *
 * one after the other, without blocking the event loop (each bounded in
 * time), and `resolvectl revert IFNAME` at the end.  Where resolved does
 * not run (no /run/systemd/resolve/) nothing is run at all.  Every step
 * is logged: what ran, and what resolvectl said when it failed. */
#ifndef PILOT_RESOLVED_H
#define PILOT_RESOLVED_H

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct event;

#define RESOLVED_STEPS 3

struct resolved {
	struct event_base *base;
	struct event *timer; /* polls the running child */
	pid_t pid;	     /* the child running, or 0 */
	int out_fd;	     /* its stdout and stderr */
	char out[256];	     /* ... as much as fits */
	size_t outlen;
	uint64_t started_ms;
	unsigned step; /* the next of the RESOLVED_STEPS */
	int told;      /* resolved holds our settings: revert them at the end */
	char ifname[IF_NAMESIZE];
	char server[64];      /* ADDRESS or [ADDRESS]:PORT, as resolvectl takes it */
	const char *state;    /* for status: off, absent, running, done, failed */
	char last_error[300]; /* of a failed step */
};

/** Where systemd-resolved runs, start telling it (asynchronously) to send
 *  ~pilot to \p server on \p ifname; else log at debug and do nothing.
 *  \retval 0, or -errno (logged) when nothing could be started. */
int resolved_register(struct resolved *r, struct event_base *base, const char *ifname,
		      const char *server);
/** Take back what was told (`resolvectl revert`, waited for, bounded),
 *  stop a step still running, free what \p r holds. */
void resolved_stop(struct resolved *r);

#endif
