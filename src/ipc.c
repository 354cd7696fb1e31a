/* ipc.c - see ipc.h. */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "pilotd.h"

#define IPC_MAX_LINE (64 * 1024)

struct ipc_conn;

struct ipc_req {
	struct ipc_conn *conn; /* NULL once the client went away */
	struct json_gen gen;
};

struct ipc_conn {
	struct ipc_server *srv;
	struct bufferevent *bev;
	struct ipc_req *pending; /* one request at a time per connection */
	int closing;
};

struct ipc_server {
	struct pilotd *d;
	struct evconnlistener *lis;
	const struct ipc_cmd *cmds;
	int public_;
	char path[108];
};

static void conn_free(struct ipc_conn *c)
{
	if (c->pending)
		c->pending->conn = NULL; /* the handler still owns and finishes it */
	bufferevent_free(c->bev);
	free(c);
}

static void req_finish(struct ipc_req *req, const char *line, size_t len)
{
	struct ipc_conn *c = req->conn;

	if (c) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evbuffer_add(out, line, len);
		evbuffer_add(out, "\n", 1);
		c->pending = NULL;
		bufferevent_enable(c->bev, EV_READ);
		/* More requests may already be buffered. */
		bufferevent_trigger(c->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
	json_gen_free(&req->gen);
	free(req);
}

struct json_gen *ipc_reply_ok_begin(struct ipc_req *req)
{
	jg_map_open(&req->gen);
	jg_kstr(&req->gen, "status", "ok");
	jg_key(&req->gen, "data");
	jg_map_open(&req->gen);
	return &req->gen;
}

void ipc_reply_ok_end(struct ipc_req *req)
{
	const char *out;
	size_t len;

	jg_map_close(&req->gen);
	jg_map_close(&req->gen);
	if (json_gen_finish(&req->gen, &out, &len) < 0) {
		static const char err[] =
		    "{\"status\":\"error\",\"code\":\"internal\","
		    "\"message\":\"could not encode the reply\",\"hint\":\"\"}";
		req_finish(req, err, sizeof(err) - 1);
		return;
	}
	req_finish(req, out, len);
}

void ipc_reply_error(struct ipc_req *req, const char *code, const char *msg, const char *hint)
{
	struct json_gen j;
	const char *out;
	size_t len;

	if (json_gen_init(&j) < 0)
		return;
	jg_map_open(&j);
	jg_kstr(&j, "status", "error");
	jg_kstr(&j, "code", code);
	jg_kstr(&j, "message", msg);
	jg_kstr(&j, "hint", hint ? hint : "");
	jg_map_close(&j);
	if (json_gen_finish(&j, &out, &len) == 0)
		req_finish(req, out, len);
	else
		req_finish(
		    req,
		    "{\"status\":\"error\",\"code\":\"internal\",\"message\":\"\",\"hint\":\"\"}",
		    59);
	json_gen_free(&j);
}

static void dispatch(struct ipc_conn *c, const char *line, size_t len)
{
	struct ipc_server *s = c->srv;
	struct ipc_req *req;
	char err[128];
	const char *cmd = NULL;
	yajl_val root, args;

	req = calloc(1, sizeof(*req));
	if (!req || json_gen_init(&req->gen) < 0) {
		free(req);
		c->closing = 1;
		return;
	}
	req->conn = c;
	c->pending = req;
	bufferevent_disable(c->bev, EV_READ);

	root = json_parse(line, len, 0, err, sizeof(err));
	if (!root || !YAJL_IS_OBJECT(root) || json_get_str(root, "cmd", &cmd) < 0) {
		ipc_reply_error(req, "bad_request", root ? "expected {\"cmd\":...}" : err,
				"see doc/IPC.md");
		goto out;
	}
	args = json_get(root, "args");
	if (args && !YAJL_IS_OBJECT(args)) {
		ipc_reply_error(req, "bad_request", "args must be an object", NULL);
		goto out;
	}
	for (const struct ipc_cmd *k = s->cmds; k->name; k++) {
		if (strcmp(k->name, cmd) == 0) {
			k->fn(s->d, req, args);
			goto out;
		}
	}
	if (s->public_) {
		ipc_reply_error(req, "forbidden", "this socket answers name lookups only",
				"use the control socket");
		goto out;
	}
	snprintf(err, sizeof(err), "unknown command '%.64s'", cmd);
	ipc_reply_error(req, "unknown_command", err, "pilotctl help lists the commands");
out:
	if (root)
		yajl_tree_free(root);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ipc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->pending && !c->closing) {
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (!line) {
			if (evbuffer_get_length(in) > IPC_MAX_LINE)
				c->closing = 1;
			break;
		}
		if (n > IPC_MAX_LINE)
			c->closing = 1;
		else if (n > 0)
			dispatch(c, line, n);
		free(line);
	}
	if (c->closing)
		conn_free(c);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct ipc_server *s = arg;
	struct ipc_conn *c = calloc(1, sizeof(*c));

	(void)lis;
	(void)sa;
	(void)len;
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s;
	c->bev = bufferevent_socket_new(s->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		close(fd);
		return;
	}
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static struct ipc_server *listen_mode(struct pilotd *d, const char *path,
				      const struct ipc_cmd *cmds, int public_);

struct ipc_server *ipc_listen(struct pilotd *d, const char *path, const struct ipc_cmd *cmds)
{
	return listen_mode(d, path, cmds, 0);
}

struct ipc_server *ipc_listen_public(struct pilotd *d, const char *path, const struct ipc_cmd *cmds)
{
	return listen_mode(d, path, cmds, 1);
}

static struct ipc_server *listen_mode(struct pilotd *d, const char *path,
				      const struct ipc_cmd *cmds, int public_)
{
	struct ipc_server *s;
	struct sockaddr_un sun;
	struct group *gr;
	char dir[sizeof(sun.sun_path)];
	char *slash;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket path too long: %s", path);
		return NULL;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warn("mkdir %s", dir);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->d = d;
	s->cmds = cmds;
	s->public_ = public_;
	snprintf(s->path, sizeof(s->path), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	/* A socket left by a crashed daemon would make bind fail. */
	unlink(path);
	s->lis = evconnlistener_new_bind(d->base, on_accept, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					 (struct sockaddr *)&sun, sizeof(sun));
	if (!s->lis) {
		log_warn("control socket %s", path);
		free(s);
		return NULL;
	}
	gr = public_ ? NULL : getgrnam("pilot");
	if (gr && chown(path, (uid_t)-1, gr->gr_gid) < 0)
		log_warn("chgrp pilot %s", path);
	if (chmod(path, public_ ? 0666 : 0660) < 0)
		log_warn("chmod %s", path);
	return s;
}

void ipc_close(struct ipc_server *s)
{
	if (!s)
		return;
	evconnlistener_free(s->lis);
	unlink(s->path);
	free(s);
}
