/* ctl_http.c - one plain HTTP/1.0 GET, for the snapshot of pilotd's
 * metrics listener in a bug report (metrics_listen: plain HTTP, loopback
 * unless metrics_allow_remote).  libcurl would do, but pilotctl needs no
 * TLS, redirects or keep-alive for this: a bounded read of one answer. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "ctl_http.h"
#include "util.h"

/* A listener on every address answers on loopback too. */
static const char *connect_host(const char *host)
{
	if (strcmp(host, "0.0.0.0") == 0)
		return "127.0.0.1";
	if (strcmp(host, "::") == 0)
		return "::1";
	return host;
}

static int dial(const char *hostport, uint64_t deadline, char *host, size_t hostlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port_s[8];
	uint16_t port;
	int fd = -1, ret, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (conf_split_hostport(hostport, host, hostlen, &port) < 0)
		return -EINVAL;
	snprintf(port_s, sizeof(port_s), "%u", port);
	ret = getaddrinfo(connect_host(host), port_s, &hints, &ai);
	if (ret)
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		goto out;
	}
	ret = ctl_wait_fd(fd, POLLOUT, deadline);
	if (ret == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
		ret = -soerr;
out:
	freeaddrinfo(ai);
	if (ret && fd >= 0)
		close(fd);
	return ret ? ret : fd;
}

/* The whole answer, up to \p max bytes, into a malloc'd buffer. */
static int recv_all(int fd, size_t max, uint64_t deadline, char **out, size_t *outlen)
{
	size_t len = 0;
	char *buf = malloc(max + 1);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;
		if (len == max) {
			ret = -EFBIG;
			break;
		}
		n = recv(fd, buf + len, max - len, 0);
		if (n == 0)
			break;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((ret = ctl_wait_fd(fd, POLLIN, deadline)) != 0)
				break;
			continue;
		}
		if (n < 0) {
			ret = -errno;
			break;
		}
		len += (size_t)n;
	}
	if (ret) {
		free(buf);
		return ret;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int ctl_http_get(const char *hostport, const char *path, unsigned timeout_ms, size_t max,
		 char **body, size_t *bodylen, char *err, size_t errlen)
{
	uint64_t deadline = now_mono_ms() + timeout_ms;
	char host[256], req[600], *resp = NULL, *sep;
	size_t len = 0;
	int fd, ret, code = 0;

	fd = dial(hostport, deadline, host, sizeof(host));
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", hostport, strerror(-fd));
		return fd;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
		 hostport);
	ret = ctl_send_all(fd, req, strlen(req), deadline);
	if (ret == 0)
		ret = recv_all(fd, max, deadline, &resp, &len);
	close(fd);
	if (ret) {
		snprintf(err, errlen, "GET http://%s%s: %s", hostport, path,
			 ret == -EFBIG ? "answer too large" : strerror(-ret));
		return ret;
	}
	sep = strstr(resp, "\r\n\r\n");
	if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1 || !sep || code != 200) {
		snprintf(err, errlen, "GET http://%s%s: HTTP status %d", hostport, path, code);
		free(resp);
		return -EPROTO;
	}
	sep += 4;
	*bodylen = len - (size_t)(sep - resp);
	memmove(resp, sep, *bodylen + 1);
	*body = resp;
	return 0;
}
