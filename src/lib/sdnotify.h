/* sdnotify.h - the systemd readiness protocol without libsystemd: one
 * datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). */
#ifndef PILOT_SDNOTIFY_H
#define PILOT_SDNOTIFY_H

#include <stdint.h>

/** Send \p state (e.g. "READY=1", "STOPPING=1", "WATCHDOG=1") to the
 *  service manager.  \retval 0 (also when $NOTIFY_SOCKET is unset: not
 *  under systemd), or -errno. */
int sd_notify_send(const char *state);

/** The watchdog interval asked for by the service manager, in microseconds,
 *  or 0 when there is none or it is meant for another process
 *  ($WATCHDOG_PID).  Send "WATCHDOG=1" at about half this interval. */
uint64_t sd_watchdog_usec(void);

#endif
