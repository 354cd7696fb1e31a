/* ipc_peer.h - who is at the other end of a local socket (SO_PEERCRED,
 * SO_PEERGROUPS), and whether that process may use the control socket. */
#ifndef PILOT_IPC_PEER_H
#define PILOT_IPC_PEER_H

#include <sys/types.h>

struct ipc_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/* 1: \p group (of ipc_peer_get) is among the supplementary groups,
	 * 0: it is not, -1: the kernel could not tell (no SO_PEERGROUPS). */
	int in_group;
};

/** The credentials the peer of \p fd had when it connected, and whether
 *  \p group is one of its supplementary groups ((gid_t)-1: not asked,
 *  in_group 0).  \retval 0 or -errno. */
int ipc_peer_get(int fd, gid_t group, struct ipc_peer *p);

/** The control socket's rule: root, the daemon's own user (\p self), or a
 *  process whose primary or supplementary groups include \p group.  An
 *  unknown group list (in_group -1) counts as "not in the group": the
 *  check fails closed.  \retval 1 allowed, 0 refused. */
int ipc_peer_may_control(const struct ipc_peer *p, uid_t self, gid_t group);

#endif
