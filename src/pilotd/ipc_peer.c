/* ipc_peer.c - see ipc_peer.h.
 *
 * The supplementary groups come from SO_PEERGROUPS (Linux 4.13): the
 * kernel's copy of the groups the peer held when it called connect(),
 * taken with its uid and gid (SO_PEERCRED) under the same lock.  The two
 * alternatives are weaker: /proc/PID/status names a pid, which may have
 * exited and been reused by the time we read it (and under systemd's
 * ProtectProc=invisible we may not see it at all); getgrouplist(uid) asks
 * the group database, which says what the user would get at its next
 * login, not what this process holds (setpriv --clear-groups, a session
 * from before usermod -aG), and may block the event loop on a network
 * directory.  Without SO_PEERGROUPS the answer is "unknown" and
 * ipc_peer_may_control refuses unless the uid or primary group decides. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "ipc_peer.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

/* Groups read in one go; a process with more is asked again with room
 * for all of them (the kernel says how many: NGROUPS_MAX is 65536). */
#define PEER_GROUPS_STACK 64

static int groups_has(const gid_t *g, size_t n, gid_t group)
{
	for (size_t i = 0; i < n; i++)
		if (g[i] == group)
			return 1;
	return 0;
}

/* 1, 0, or -1 (the kernel has no SO_PEERGROUPS, or no memory). */
static int peer_in_group(int fd, gid_t group)
{
	gid_t stack[PEER_GROUPS_STACK], *g = stack;
	socklen_t len = sizeof(stack);
	int rc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, stack, &len) == 0)
		return groups_has(stack, len / sizeof(gid_t), group);
	if (errno != ERANGE || len <= sizeof(stack))
		return -1;
	if (!(g = malloc(len)))
		return -1;
	rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0
		 ? groups_has(g, len / sizeof(gid_t), group)
		 : -1;
	free(g);
	return rc;
}

int ipc_peer_get(int fd, gid_t group, struct ipc_peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	p->pid = uc.pid;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->in_group = group == (gid_t)-1 ? 0 : peer_in_group(fd, group);
	return 0;
}

int ipc_peer_may_control(const struct ipc_peer *p, uid_t self, gid_t group)
{
	return p->uid == 0 || p->uid == self || p->gid == group || p->in_group == 1;
}
