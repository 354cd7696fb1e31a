/* ipc.h - pilotd's control socket (doc/IPC.md): one JSON request per line,
 * one envelope per line back.  Handlers may answer later (registry calls):
 * they get a request handle and answer through ipc_reply_*(). */
#ifndef PILOT_IPC_H
#define PILOT_IPC_H

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

/** Listen on \p path (replacing a stale socket; mode 0660, group "pilot"
 *  when it exists). \retval server or NULL (logged). */
struct ipc_server *ipc_listen(struct event_base *base, struct pilotd *d, const char *path,
			      const struct ipc_cmd *cmds);
/** A public socket (mode 0666) that answers only \p cmds; anything else
 *  is "forbidden" rather than "unknown_command". */
struct ipc_server *ipc_listen_public(struct event_base *base, struct pilotd *d, const char *path,
				     const struct ipc_cmd *cmds);
void ipc_close(struct ipc_server *s);

/** Begin the ok envelope: returns a generator positioned inside "data":{
 *  for the handler to fill, then ipc_reply_ok_end().  */
struct json_gen *ipc_reply_ok_begin(struct ipc_req *req);
void ipc_reply_ok_end(struct ipc_req *req);
void ipc_reply_error(struct ipc_req *req, const char *code, const char *msg, const char *hint);

#endif
