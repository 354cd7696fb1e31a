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
#include "policy.h"

/* A request line: a policy set (POLICY_MAX_BYTES) in its envelope on the
 * control socket; a name on the name service socket, which anyone may
 * use.  A longer line is answered too_large and skipped. */
#define IPC_MAX_LINE (POLICY_MAX_BYTES + POLICY_ENVELOPE_MAX)
#define IPC_MAX_LINE_PUBLIC (64 * 1024)

struct ipc_conn;

struct ipc_req {
	struct ipc_conn *conn; /* NULL once the client went away */
	struct json_gen gen;
};

struct ipc_conn {
	struct ipc_server *srv;
	struct bufferevent *bev;
	struct ipc_req *pending; /* one request at a time per connection */
	size_t scanned;		 /* bytes of input known to hold no newline */
	int skipping;		 /* dropping the rest of a too long line */
	int closing;
};

struct ipc_server {
	struct event_base *base;
	struct pilotd *d; /* opaque here: handed to the handlers */
	struct evconnlistener *lis;
	const struct ipc_cmd *cmds;
	size_t max_line;
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

/* The connection's one request in flight; NULL (and closing) without memory. */
static struct ipc_req *req_new(struct ipc_conn *c)
{
	struct ipc_req *req = calloc(1, sizeof(*req));

	if (!req || json_gen_init(&req->gen) < 0) {
		free(req);
		c->closing = 1;
		return NULL;
	}
	req->conn = c;
	c->pending = req;
	bufferevent_disable(c->bev, EV_READ);
	return req;
}

static void dispatch(struct ipc_conn *c, const char *line, size_t len)
{
	struct ipc_server *s = c->srv;
	struct ipc_req *req;
	char err[128];
	const char *cmd = NULL;
	yajl_val root, args;

	if (!(req = req_new(c)))
		return;

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

/* A line over the limit: say so at once (the client may still be
 * sending), then drop its bytes up to the newline. */
static void too_large(struct ipc_conn *c)
{
	struct ipc_req *req = req_new(c);
	char msg[96];

	if (!req)
		return;
	snprintf(msg, sizeof(msg), "request line larger than %zu bytes (%zu KiB)", c->srv->max_line,
		 c->srv->max_line >> 10);
	c->skipping = 1;
	ipc_reply_error(req, "too_large", msg,
			c->srv->public_ ? "this socket answers name lookups only"
					: "a policy is at most 4 MiB of JSON; see pilot-policy(5)");
}

/* Where the next newline is, searching only bytes not searched before
 * (a long line arrives in many reads).  \retval its offset or -1. */
static ssize_t find_eol(struct ipc_conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr from, eol;

	if (evbuffer_ptr_set(in, &from, c->scanned, EVBUFFER_PTR_SET) < 0)
		return -1;
	eol = evbuffer_search_eol(in, &from, NULL, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		c->scanned = evbuffer_get_length(in);
		return -1;
	}
	c->scanned = 0;
	return eol.pos;
}

/* One line out of \p in; \retval 1 (handled), 0 (wait for more). */
static int read_line(struct ipc_conn *c, struct evbuffer *in)
{
	ssize_t eol = find_eol(c, in);
	char *line;

	if (eol < 0) {
		if (c->skipping) {
			evbuffer_drain(in, evbuffer_get_length(in));
			c->scanned = 0;
		} else if (evbuffer_get_length(in) > c->srv->max_line) {
			too_large(c);
		}
		return 0;
	}
	if (c->skipping || (size_t)eol > c->srv->max_line) {
		evbuffer_drain(in, (size_t)eol + 1);
		if (!c->skipping)
			too_large(c);
		c->skipping = 0;
		return 1;
	}
	line = malloc((size_t)eol + 1);
	if (!line) {
		c->closing = 1;
		return 0;
	}
	evbuffer_remove(in, line, (size_t)eol);
	evbuffer_drain(in, 1);
	line[eol] = '\0';
	if (eol > 0)
		dispatch(c, line, (size_t)eol);
	free(line);
	return 1;
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ipc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->pending && !c->closing && read_line(c, in))
		;
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
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		close(fd);
		return;
	}
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static struct ipc_server *listen_mode(struct event_base *base, struct pilotd *d, const char *path,
				      const struct ipc_cmd *cmds, int public_);

struct ipc_server *ipc_listen(struct event_base *base, struct pilotd *d, const char *path,
			      const struct ipc_cmd *cmds)
{
	return listen_mode(base, d, path, cmds, 0);
}

struct ipc_server *ipc_listen_public(struct event_base *base, struct pilotd *d, const char *path,
				     const struct ipc_cmd *cmds)
{
	return listen_mode(base, d, path, cmds, 1);
}

static struct ipc_server *listen_mode(struct event_base *base, struct pilotd *d, const char *path,
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
	s->base = base;
	s->d = d;
	s->cmds = cmds;
	s->public_ = public_;
	s->max_line = public_ ? IPC_MAX_LINE_PUBLIC : IPC_MAX_LINE;
	snprintf(s->path, sizeof(s->path), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	/* A socket left by a crashed daemon would make bind fail. */
	unlink(path);
	s->lis = evconnlistener_new_bind(base, on_accept, s,
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
