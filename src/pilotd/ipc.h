/* ipc.h - pilotd's control socket (doc/IPC.md): one JSON request per line,
 * one envelope per line back.  Handlers may answer later (registry calls):
 * they get a request handle and answer through ipc_reply_*(). */
#ifndef PILOT_IPC_H
#define PILOT_IPC_H

#include <sys/types.h>
#include <yajl/yajl_tree.h>

#include "json.h"

struct event_base;
struct pilotd; /* opaque to the socket server: passed to the handlers */
struct ipc_server;
struct ipc_req;

typedef void (*ipc_handler)(struct pilotd *d, struct ipc_req *req, yajl_val args);

struct ipc_cmd {
	const char *name;
	ipc_handler fn;
};

/** The control socket on \p path (replacing a stale socket): mode 0660
 *  from its creation, group \p group.  A client is checked when it
 *  connects (SO_PEERCRED, SO_PEERGROUPS): root, pilotd's own user, or a
 *  member of \p group; any other is answered "forbidden" (and logged).
 *  \retval server or NULL (logged). */
struct ipc_server *ipc_listen(struct event_base *base, struct pilotd *d, const char *path,
			      const struct ipc_cmd *cmds, gid_t group, const char *group_name);
/** A public socket (mode 0666) that answers only \p cmds; anything else
 *  is "forbidden" rather than "unknown_command". */
struct ipc_server *ipc_listen_public(struct event_base *base, struct pilotd *d, const char *path,
				     const struct ipc_cmd *cmds);
/** Closes the connections too: their handlers' answers go nowhere. */
void ipc_close(struct ipc_server *s);

/* Connections refused, for the metrics.  Over a cap: answered
 * "rate_limited" and closed at once. */
struct ipc_stats {
	uint64_t refused_full; /* every connection the socket allows is open */
	uint64_t refused_uid;  /* as many as one user may hold are open */
	uint64_t refused_peer; /* control socket: not root, us or the group */
};
const struct ipc_stats *ipc_stats(const struct ipc_server *s);
/** Connections open now (0 for a NULL server). */
unsigned ipc_open_conns(const struct ipc_server *s);
/** The client's uid (SO_PEERCRED at connect): per-user limits. */
uid_t ipc_req_uid(const struct ipc_req *req);

/** Begin the ok envelope: returns a generator positioned inside "data":{
 *  for the handler to fill, then ipc_reply_ok_end().  */
struct json_gen *ipc_reply_ok_begin(struct ipc_req *req);
void ipc_reply_ok_end(struct ipc_req *req);
void ipc_reply_error(struct ipc_req *req, const char *code, const char *msg, const char *hint);

#endif
