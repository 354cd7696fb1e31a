/* ctl_ipc.c - pilotctl's side of the pilotd control socket (doc/IPC.md):
 * one JSON request line, one JSON response line, on a Unix stream socket
 * that stays open for the requests of one pilotctl run. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "policy.h"
#include "util.h"

/* doc/IPC.md: a request line is at most a policy in its envelope */
#define IPC_MAX_REQUEST (POLICY_MAX_BYTES + POLICY_ENVELOPE_MAX)
#define IPC_MAX_RESPONSE (16 * 1024 * 1024) /* a big peer list, but not unbounded */
#define IPC_TIMEOUT_MS 30000		    /* the daemon may wait on the registry (handshake) */

static int unreachable(struct ctl *c, int err, const char *why)
{
	char hint[400];

	snprintf(hint, sizeof(hint),
		 "is pilotd running? start it with 'systemctl start pilotd', or point --socket "
		 "(or PILOT_SOCKET) at its control socket (tried %s)",
		 c->socket_path);
	return ctl_fail(c, err, "daemon_unreachable", hint, "cannot reach pilotd at %s: %s",
			c->socket_path, why);
}

static int ipc_connect(struct ctl *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = strlen(c->socket_path);
	int fd, ret;

	if (c->fd >= 0)
		return 0;
	if (len >= sizeof(sun.sun_path))
		return unreachable(c, -ENAMETOOLONG, "socket path too long");
	memcpy(sun.sun_path, c->socket_path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return unreachable(c, -errno, strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		close(fd);
		if (ret == -EACCES || ret == -EPERM)
			return ctl_fail(c, ret, "daemon_unreachable",
					"add your user to group 'pilot' (and log in again), or run "
					"as root",
					"cannot reach pilotd at %s: permission denied",
					c->socket_path);
		if (ret == -ENOENT || ret == -ECONNREFUSED)
			return unreachable(c, ret, "pilotd is not running");
		return unreachable(c, ret, strerror(-ret));
	}
	c->fd = fd;
	return 0;
}

void ctl_close(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int ctl_wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		uint64_t now = now_mono_ms();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)MIN(deadline - now, (uint64_t)INT32_MAX));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
	}
}

int ctl_send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			int ret;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			ret = ctl_wait_fd(fd, POLLOUT, deadline);
			if (ret)
				return ret;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to and excluding '\n' into a malloc'd, NUL-terminated buffer. */
static int recv_line(int fd, uint64_t deadline, char **out, size_t *outlen)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nl;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;
		if (len + 1 >= cap) {
			char *nb;
			if (cap >= IPC_MAX_RESPONSE) {
				ret = -EMSGSIZE;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		ret = ctl_wait_fd(fd, POLLIN, deadline);
		if (ret)
			goto out;
		n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0) {
			ret = -ECONNRESET;
			goto out;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			/* One request in flight, so nothing can follow the newline. */
			*nl = '\0';
			*outlen = (size_t)(nl - buf);
			*out = buf;
			return 0;
		}
	}
out:
	free(buf);
	return ret;
}

int ctl_req_begin(struct ctl *c, struct json_gen *g, const char *cmd)
{
	int ret = json_gen_init(g);

	if (ret)
		return ret;
	c->req_cmd = cmd;
	jg_map_open(g);
	jg_kstr(g, "cmd", cmd);
	jg_key(g, "args");
	jg_map_open(g);
	return 0;
}

/* Turn an error envelope into the run's error. */
static int daemon_error(struct ctl *c, yajl_val tree)
{
	const char *code = "internal", *msg = "pilotd reported an error", *hint = "";

	json_get_str(tree, "code", &code);
	json_get_str(tree, "message", &msg);
	json_get_str(tree, "hint", &hint);
	if (strcmp(code, "unknown_command") == 0)
		return ctl_fail(c, -EREMOTEIO, "unsupported",
				"this pilotd is older than pilotctl, or the feature is not "
				"implemented yet",
				"'%s' is not supported by this pilotd yet (it does not answer "
				"IPC command '%s')",
				c->label[0] ? c->label : c->req_cmd, c->req_cmd);
	if (!*code)
		code = "internal";
	return ctl_fail(c, -EREMOTEIO, code, hint, "%s", msg);
}

int ctl_call(struct ctl *c, struct json_gen *g, yajl_val *tree, yajl_val *data)
{
	unsigned timeout_ms = c->ipc_timeout_ms ? c->ipc_timeout_ms : IPC_TIMEOUT_MS;
	uint64_t deadline = now_mono_ms() + timeout_ms;
	const char *req, *status = NULL;
	char *resp = NULL, err[128];
	size_t reqlen, resplen = 0;
	yajl_val t = NULL;
	int ret;

	*tree = *data = NULL;
	jg_map_close(g);
	jg_map_close(g);
	ret = json_gen_finish(g, &req, &reqlen);
	if (ret) {
		ret = ctl_fail(c, ret, "bad_request", "arguments must be valid UTF-8",
			       "cannot encode the request for pilotd");
		goto out;
	}
	if (reqlen + 1 > IPC_MAX_REQUEST) {
		ret =
		    ctl_fail(c, -EMSGSIZE, "too_large", "", "request too large (%zu bytes, max %d)",
			     reqlen, IPC_MAX_REQUEST - 1);
		goto out;
	}
	ret = ipc_connect(c);
	if (ret)
		goto out;
	ret = ctl_send_all(c->fd, req, reqlen, deadline);
	if (ret == 0)
		ret = ctl_send_all(c->fd, "\n", 1, deadline);
	if (ret == 0)
		ret = recv_line(c->fd, deadline, &resp, &resplen);
	if (ret)
		ctl_close(c); /* the stream is out of step now; never reuse it */
	if (ret == -ETIMEDOUT) {
		ret = ctl_fail(c, ret, "timeout", "check 'journalctl -u pilotd'",
			       "pilotd did not answer '%s' within %g s", c->req_cmd,
			       timeout_ms / 1000.0);
		goto out;
	}
	if (ret == -EMSGSIZE) {
		ret = ctl_fail(c, ret, "internal", "", "response from pilotd larger than %d bytes",
			       IPC_MAX_RESPONSE);
		goto out;
	}
	if (ret) {
		ret = unreachable(c, ret,
				  ret == -ECONNRESET || ret == -EPIPE
				      ? "pilotd closed the connection before answering"
				      : strerror(-ret));
		goto out;
	}
	t = json_parse(resp, resplen, 0, err, sizeof(err));
	if (!t || json_get_str(t, "status", &status) != 0) {
		ret = ctl_fail(c, -EPROTO, "internal", "pilotd and pilotctl versions may differ",
			       "malformed response from pilotd: %s", t ? "no status" : err);
		goto out;
	}
	if (strcmp(status, "ok") != 0) {
		ret = daemon_error(c, t);
		goto out;
	}
	*data = json_get(t, "data");
	*tree = t;
	t = NULL;
out:
	if (t)
		yajl_tree_free(t);
	free(resp);
	json_gen_free(g);
	return ret;
}

int ctl_call1(struct ctl *c, const char *cmd, const char *key, const char *val, yajl_val *tree,
	      yajl_val *data)
{
	struct json_gen g;
	int ret = ctl_req_begin(c, &g, cmd);

	if (ret)
		return ret;
	if (key)
		jg_kstr(&g, key, val);
	return ctl_call(c, &g, tree, data);
}
