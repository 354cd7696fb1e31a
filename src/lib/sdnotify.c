/* sdnotify.c - see sdnotify.h. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

int sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t plen, slen = strlen(state);
	ssize_t n;
	int fd, ret = 0;

	if (!path || !path[0])
		return 0;
	plen = strlen(path);
	/* Only Unix sockets: systemd's vsock form is for VMs, not for us. */
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT;
	if (plen >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	/* Abstract names are not NUL-terminated: the length is the name. */
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != slen)
		ret = -EMSGSIZE;
	close(fd);
	return ret;
}

uint64_t sd_watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	if (!us || !us[0])
		return 0;
	if (pid && pid[0]) {
		long p;
		errno = 0;
		p = strtol(pid, &end, 10);
		if (errno || *end || p != (long)getpid())
			return 0;
	}
	errno = 0;
	v = strtoull(us, &end, 10);
	if (errno || *end || us[0] == '-')
		return 0;
	return (uint64_t)v;
}
