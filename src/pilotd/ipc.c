/* ipc.c - see ipc.h. */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bucket.h"
#include "ipc.h"
#include "ipc_cap.h"
#include "ipc_peer.h"
#include "log.h"
#include "policy.h"
#include "util.h"

/* A request line: a policy set (POLICY_MAX_BYTES) in its envelope on the
 * control socket; a name on the name service socket, which anyone may
 * use.  A longer line is answered too_large and skipped. */
#define IPC_MAX_LINE (POLICY_MAX_BYTES + POLICY_ENVELOPE_MAX)
#define IPC_MAX_LINE_PUBLIC (64 * 1024)

/* Connections at once, and from one user (SO_PEERCRED uid).  The name
 * service socket is anyone's: one user can hold a quarter of it, so a
 * flood from one account leaves room for the others' lookups.  The
 * control socket serves pilotctl runs of root and group pilot. */
#define IPC_PUBLIC_CONNS 256
#define IPC_PUBLIC_CONNS_UID 64
#define IPC_CONTROL_CONNS 128
#define IPC_CONTROL_CONNS_UID 64
/* A name service client sends its one question at once (the NSS module
 * gives up after 2 s): one idle or not reading this long is dropped, and
 * so is a refused control client that holds its connection open. */
#define IPC_IDLE_S 10
/* Requests are not read while this much of the answers is unsent: a
 * client that writes without reading holds a bounded buffer. */
#define IPC_OUT_MAX (64 * 1024)
#define IPC_BACKLOG 128
/* Refused control connections are logged at most this often. */
#define IPC_LOG_RATE 1
#define IPC_LOG_BURST 5

struct ipc_conn;

struct ipc_req {
	struct ipc_conn *conn; /* NULL once the client went away */
	uid_t uid;	       /* the client's (SO_PEERCRED) */
	struct json_gen gen;
};

struct ipc_conn {
	struct ipc_server *srv;
	struct bufferevent *bev;
	struct ipc_req *pending; /* one request at a time per connection */
	size_t scanned;		 /* bytes of input known to hold no newline */
	uid_t uid;
	int skipping; /* dropping the rest of a too long line */
	int closing;
	int refused;	 /* control socket, a peer it may not serve: every request is forbidden */
	int out_blocked; /* reading paused until the answers drain (IPC_OUT_MAX) */
	struct ipc_conn *next, **pprev; /* the server's open connections */
};

struct ipc_server {
	struct event_base *base;
	struct pilotd *d; /* opaque here: handed to the handlers */
	struct evconnlistener *lis;
	const struct ipc_cmd *cmds;
	size_t max_line;
	int public_;
	gid_t group; /* control socket: who may use it besides root and us */
	char group_name[32];
	uid_t self;
	struct ipc_cap cap;
	struct ipc_stats stats;
	struct token_bucket log_tb;
	uint64_t log_suppressed;
	struct ipc_conn *conns;
	char path[108];
};

static void conn_free(struct ipc_conn *c)
{
	if (c->pending)
		c->pending->conn = NULL; /* the handler still owns and finishes it */
	ipc_cap_put(&c->srv->cap, c->uid);
	if (c->next)
		c->next->pprev = c->pprev;
	*c->pprev = c->next;
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
	req->uid = c->uid;
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
	if (c->refused) {
		snprintf(err, sizeof(err), "uid %u is not root and not in group '%s'",
			 (unsigned)c->uid, s->group_name);
		ipc_reply_error(req, "forbidden", err,
				"add the user to the group (usermod -aG GROUP NAME, then log in "
				"again), or run as root");
		return;
	}

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

/* Whether the answers not yet sent are over IPC_OUT_MAX; if so, reading
 * waits for conn_write to see them drain. */
static int out_full(struct ipc_conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) <= IPC_OUT_MAX)
		return 0;
	c->out_blocked = 1;
	bufferevent_disable(c->bev, EV_READ);
	return 1;
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ipc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->pending && !c->closing && !out_full(c) && read_line(c, in))
		;
	if (c->closing)
		conn_free(c);
}

/* Everything written: requests may be read again. */
static void conn_write(struct bufferevent *bev, void *arg)
{
	struct ipc_conn *c = arg;

	if (!c->out_blocked || c->pending)
		return;
	c->out_blocked = 0;
	bufferevent_enable(bev, EV_READ);
	bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	/* A timeout: idle (IPC_IDLE_S) or not reading its answers. */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(arg);
}

/* A connection over a cap: one error line, then closed at once (nothing
 * is allocated for it).  The socket is fresh and non-blocking: the line
 * fits its buffer.  A client that already sent its question still reads
 * the line; one that sends after the close sees EPIPE. */
static void refuse_now(struct ipc_server *s, int fd, enum ipc_cap_verdict why)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line),
		     "{\"status\":\"error\",\"code\":\"rate_limited\",\"message\":\"too many "
		     "connections to the %s socket%s\",\"hint\":\"try again shortly\"}\n",
		     s->public_ ? "name service" : "control",
		     why == IPC_CAP_UID_FULL ? " from this user" : "");
	if (why == IPC_CAP_UID_FULL)
		s->stats.refused_uid++;
	else
		s->stats.refused_full++;
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

/* A control client that is neither root, nor us, nor in the group: said
 * in the log (at most IPC_LOG_RATE lines a second, with a count of those
 * left out), and answered forbidden for as long as it stays. */
static void log_refused(struct ipc_server *s, const struct ipc_peer *p)
{
	if (!token_bucket_take(&s->log_tb, IPC_LOG_RATE, IPC_LOG_BURST, now_mono_ms())) {
		s->log_suppressed++;
		return;
	}
	log_warnx("control socket %s: refused uid %u gid %u (pid %ld): not root and not in "
		  "group '%s'%s",
		  s->path, (unsigned)p->uid, (unsigned)p->gid, (long)p->pid, s->group_name,
		  p->in_group < 0 ? " (the kernel gave no group list: SO_PEERGROUPS)" : "");
	if (s->log_suppressed) {
		log_warnx("control socket %s: %llu more refused connections not logged", s->path,
			  (unsigned long long)s->log_suppressed);
		s->log_suppressed = 0;
	}
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int len,
		      void *arg)
{
	struct ipc_server *s = arg;
	struct ipc_peer peer;
	enum ipc_cap_verdict v;
	struct ipc_conn *c;

	(void)lis;
	(void)sa;
	(void)len;
	if (ipc_peer_get(fd, s->group, &peer) < 0) {
		log_warn("%s: peer credentials", s->path);
		close(fd);
		return;
	}
	if ((v = ipc_cap_take(&s->cap, peer.uid)) != IPC_CAP_OK) {
		refuse_now(s, fd, v);
		return;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		ipc_cap_put(&s->cap, peer.uid);
		close(fd);
		return;
	}
	c->srv = s;
	c->uid = peer.uid;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		ipc_cap_put(&s->cap, peer.uid);
		free(c);
		close(fd);
		return;
	}
	if (!s->public_ && !ipc_peer_may_control(&peer, s->self, s->group)) {
		c->refused = 1;
		s->stats.refused_peer++;
		log_refused(s, &peer);
	}
	if (s->public_ || c->refused) {
		const struct timeval idle = {IPC_IDLE_S, 0};
		bufferevent_set_timeouts(c->bev, &idle, &idle);
	}
	c->next = s->conns;
	if (c->next)
		c->next->pprev = &c->next;
	c->pprev = &s->conns;
	s->conns = c;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

const struct ipc_stats *ipc_stats(const struct ipc_server *s)
{
	return &s->stats;
}

unsigned ipc_open_conns(const struct ipc_server *s)
{
	return s ? s->cap.n : 0;
}

uid_t ipc_req_uid(const struct ipc_req *req)
{
	return req->uid;
}

/* The socket at \p sun, with \p mode from the moment bind() creates it:
 * the umask is set around bind() (pilotd has one thread), so no chmod
 * afterwards and no moment when it is wider.  \retval fd or -errno. */
static int bind_mode(const struct sockaddr_un *sun, mode_t mode)
{
	mode_t old;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask((mode_t)(~mode & 0777));
	rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	umask(old);
	if (rc < 0 || listen(fd, IPC_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static struct ipc_server *server_new(struct event_base *base, struct pilotd *d, const char *path,
				     const struct ipc_cmd *cmds, int public_)
{
	struct ipc_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base = base;
	s->d = d;
	s->cmds = cmds;
	s->public_ = public_;
	s->self = geteuid();
	s->max_line = public_ ? IPC_MAX_LINE_PUBLIC : IPC_MAX_LINE;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (ipc_cap_init(&s->cap, public_ ? IPC_PUBLIC_CONNS : IPC_CONTROL_CONNS,
			 public_ ? IPC_PUBLIC_CONNS_UID : IPC_CONTROL_CONNS_UID) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void server_free(struct ipc_server *s)
{
	ipc_cap_free(&s->cap);
	free(s);
}

/* Make the socket's directory (0755) when it is missing. */
static void make_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			log_warn("mkdir %s", dir);
	}
}

static struct ipc_server *listen_on(struct ipc_server *s, const char *what)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	memcpy(sun.sun_path, s->path, strlen(s->path));
	make_dir(s->path);
	/* A socket left by a crashed daemon would make bind fail. */
	unlink(s->path);
	fd = bind_mode(&sun, s->public_ ? 0666 : 0660);
	if (fd < 0) {
		log_warnx("%s %s: %s", what, s->path, strerror(-fd));
		goto fail;
	}
	/* Group root until then, 0660: narrower than the final mode. */
	if (!s->public_ && chown(s->path, (uid_t)-1, s->group) < 0) {
		log_warn("%s %s: chgrp %s", what, s->path, s->group_name);
		close(fd);
		unlink(s->path);
		goto fail;
	}
	s->lis = evconnlistener_new(s->base, on_accept, s,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!s->lis) {
		log_warnx("%s %s: cannot listen", what, s->path);
		close(fd);
		unlink(s->path);
		goto fail;
	}
	return s;
fail:
	server_free(s);
	return NULL;
}

/* \p group (and its name): the control socket's; (gid_t)-1 for the
 * public one, which asks nobody's groups. */
static struct ipc_server *listen_new(struct event_base *base, struct pilotd *d, const char *path,
				     const struct ipc_cmd *cmds, gid_t group,
				     const char *group_name)
{
	int public_ = group == (gid_t)-1;
	const char *what = public_ ? "name service socket" : "control socket";
	struct ipc_server *s;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_warnx("%s path too long: %s", what, path);
		return NULL;
	}
	if (!(s = server_new(base, d, path, cmds, public_)))
		return NULL;
	s->group = group;
	snprintf(s->group_name, sizeof(s->group_name), "%s", group_name);
	return listen_on(s, what);
}

struct ipc_server *ipc_listen(struct event_base *base, struct pilotd *d, const char *path,
			      const struct ipc_cmd *cmds, gid_t group, const char *group_name)
{
	return listen_new(base, d, path, cmds, group, group_name);
}

struct ipc_server *ipc_listen_public(struct event_base *base, struct pilotd *d, const char *path,
				     const struct ipc_cmd *cmds)
{
	return listen_new(base, d, path, cmds, (gid_t)-1, "");
}

void ipc_close(struct ipc_server *s)
{
	if (!s)
		return;
	evconnlistener_free(s->lis);
	unlink(s->path);
	while (s->conns)
		conn_free(s->conns);
	server_free(s);
}
