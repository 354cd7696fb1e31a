/* ipc_cap.h - the connection caps of a local socket: at most \p max
 * connections at once, and at most \p max_uid of them from one user
 * (SO_PEERCRED), so one user flooding the name service socket cannot
 * take the others' turns. */
#ifndef PILOT_IPC_CAP_H
#define PILOT_IPC_CAP_H

#include <sys/types.h>

struct ipc_cap_uid {
	uid_t uid;
	unsigned n; /* its open connections, > 0 */
};

struct ipc_cap {
	unsigned max, max_uid;
	unsigned n;		  /* open connections */
	unsigned nuids;		  /* users with one open, in uids[0..nuids) */
	struct ipc_cap_uid *uids; /* room for max: each holds a connection */
};

enum ipc_cap_verdict {
	IPC_CAP_OK,
	IPC_CAP_FULL,	  /* max connections open */
	IPC_CAP_UID_FULL, /* max_uid open from this user */
};

/** \retval 0 or -ENOMEM (-EINVAL for a zero cap). */
int ipc_cap_init(struct ipc_cap *c, unsigned max, unsigned max_uid);
void ipc_cap_free(struct ipc_cap *c);
/** Count a new connection from \p uid, unless a cap says no. */
enum ipc_cap_verdict ipc_cap_take(struct ipc_cap *c, uid_t uid);
/** A connection counted by ipc_cap_take has closed. */
void ipc_cap_put(struct ipc_cap *c, uid_t uid);
/** Open connections from \p uid. */
unsigned ipc_cap_count(const struct ipc_cap *c, uid_t uid);

#endif
