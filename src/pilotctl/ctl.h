/* ctl.h - pilotctl internals: the command table, the run context, the
 * control-socket client (doc/IPC.md) and the output helpers that keep the
 * --json envelope of SPEC section 8 in one place.
 *
 * Error convention: functions return 0 or -errno.  The function that sees a
 * failure first records what to tell the user with ctl_fail()/ctl_usage()
 * (code, message, hint, exit status); main() prints it once, as the --json
 * envelope or as text on stderr. */
#ifndef PILOT_CTL_H
#define PILOT_CTL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define CTL_DEFAULT_SOCKET "/run/pilot/pilotd.sock"

/* Exit statuses of SPEC section 8. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

struct ctl;

/** A command: argv[0] is the command word itself. \retval 0 or -errno (with
 *  the context's error recorded). */
typedef int (*ctl_run_fn)(struct ctl *c, int argc, char **argv);

/* --- generic pass-through (ctl_pass.c) ---------------------------------
 * A command the daemon may or may not answer yet is described by data: its
 * IPC name, how positional arguments and --options become members of
 * "args", and whether it is an admin command (then --admin-token and
 * --registry are forwarded as "admin_token" and "registry").  A daemon that
 * answers unknown_command turns into the error code "unsupported". */
enum {
	CTL_ARG_STR = 0,       /* string */
	CTL_ARG_NUM = 1 << 0,  /* unsigned decimal, sent as a JSON number */
	CTL_ARG_AUTO = 1 << 1, /* number when decimal, else string (IDs or names) */
	CTL_ARG_REST = 1 << 2, /* this and every later positional: array of strings */
	CTL_ARG_OPTIONAL = 1 << 3,
	CTL_ARG_JSONFILE = 1 << 4, /* a file path; its JSON content is sent */
	CTL_ARG_FILE = 1 << 5,	   /* a file path; its text (trimmed) is sent */
	CTL_ARG_BOOL = 1 << 6,	   /* option without a value: sent as true */
	CTL_ARG_MULTI = 1 << 7,	   /* may be given again: an array of strings */
};

struct ctl_arg {
	const char *name; /* flag name for options ("secret-file"), label for positionals */
	const char *key;  /* member of "args" */
	unsigned kind;
};

#define CTL_MAX_ARGS 6
#define CTL_MAX_OPTS 20

struct ctl_pass {
	const char *sub;   /* subcommand word, or NULL for the group's bare form */
	const char *ipc;   /* IPC command name */
	const char *usage; /* synopsis after "pilotctl " */
	const char *summary;
	unsigned admin : 1;
	unsigned any_opts : 1; /* accept --NAME VALUE beyond opts (rule options) */
	struct ctl_arg pos[CTL_MAX_ARGS];
	struct ctl_arg opts[CTL_MAX_OPTS];
};

struct ctl_cmd {
	const char *name;
	const char *usage; /* synopsis after "pilotctl " (groups: the sub-table's) */
	const char *summary;
	ctl_run_fn run;
	const struct ctl_pass *pass; /* NULL-sub/NULL-ipc terminated table, or NULL */
};

struct ctl_err {
	char code[32];
	char message[512];
	char hint[512];
	int exit_status;
};

struct ctl {
	const char *socket_path;
	const char *registry;
	const char *admin_token;
	int json;
	int fd; /* control-socket connection, -1 until the first request */
	const struct ctl_cmd *cmd;
	const char *synopsis; /* for usage hints: the running (sub)command's */
	const char *req_cmd;  /* IPC command in flight, for error messages */
	char label[64];	      /* the command words ("network join"), for messages */
	struct ctl_err err;
	int exit_code;		 /* a command's own exit status (status --check), 0: the usual */
	unsigned ipc_timeout_ms; /* how long a request may take; 0: 30 s */
};

/* --- ctl.c ----------------------------------------------------------- */
/** Look a command up in the table. \retval entry or NULL. */
const struct ctl_cmd *ctl_cmd_find(const char *name);

/** Positional arguments only: refuses options (usage error), drops one
 *  "--", compacts the positionals into argv[1..] and checks their count.
 *  \retval 0 with *npos set, or -EINVAL. */
int ctl_positionals(struct ctl *c, int argc, char **argv, int min, int max, int *npos);

/* --- errors and output (ctl_out.c) ------------------------------------ */
/** Record a failure (exit 1). \retval \p err, for "return ctl_fail(...)". */
int ctl_fail(struct ctl *c, int err, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/** Record a usage error (code "usage", exit 2, hint: the command's synopsis). */
int ctl_usage(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Print the recorded error (or a generic one for \p err) and return the
 *  exit status. */
int ctl_report_error(struct ctl *c, int err);

/** The envelope into \p g: the error \p e when it has a code, else
 *  {"status":"ok","data":DATA} (an empty object when \p data is none). */
void ctl_gen_envelope(struct json_gen *g, const struct ctl_err *e, yajl_val data);
/** Print {"status":"ok","data":DATA} where DATA is a parsed value. */
int ctl_emit_ok_val(struct ctl *c, yajl_val data);
/** Build-your-own ok envelope: ctl_emit_begin opens the envelope and the
 *  data map; the caller adds members; ctl_emit_end closes and prints. */
int ctl_emit_begin(struct json_gen *g);
int ctl_emit_end(struct ctl *c, struct json_gen *g);
/** Text form of a scalar for human output: strings sanitised (a peer's
 *  hostname or justification must not drive the terminal), numbers as
 *  written, true/false, "-" for null/absent/containers. */
const char *ctl_text(yajl_val v, char *buf, size_t len);
/** Member as text (see ctl_text). */
const char *ctl_mtext(yajl_val obj, const char *key, char *buf, size_t len);
/** \p s seconds as "42s", "3m 5s", "2h 10m" or "4d 1h", then \p suffix.
 *  Returns \p buf. */
const char *ctl_duration(uint64_t s, const char *suffix, char *buf, size_t len);
/** Unix seconds member rendered as "12s ago"/"3h ago"/"never". */
const char *ctl_mage(yajl_val obj, const char *key, char *buf, size_t len);

/* Human tables: columns sized to their widest cell, two spaces apart. */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
/** Append a row of \p ncols cells (copied). \retval 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(struct ctl_table *t);
void ctl_table_free(struct ctl_table *t);

/** Print "key: value" lines with the values aligned. */
void ctl_kv(const char *const *pairs, size_t npairs);
/** Generic human rendering of an object (pass-through commands). */
void ctl_print_val(yajl_val data);

/* --- tunnel paths as words (ctl_path.c) --------------------------------- */
/** A peer's \p path ("direct", "punched", "relayed", "none") and
 *  \p endpoint as ping shows them after "via": "direct 198.18.0.3:4242",
 *  "punched ADDR:PORT", "relay BEACON" or "none".  Returns \p buf. */
const char *ctl_path_text(const char *path, const char *endpoint, char *buf, size_t len);
/** "path to TARGET: FROM -> TO" (both ctl_path_text).  Returns \p buf. */
const char *ctl_path_change(const char *target, const char *from, const char *to, char *buf,
			    size_t len);

/* --- what a configuration dump redacted (ctl_redact.c) ----------------- */
typedef void (*ctl_redact_fn)(void *arg, const char *what);
/** Call \p fn for each value that a configuration dump (the object of
 *  pilotd's IPC `config`, or `pilotd --check-config`) shows redacted
 *  (conf.h CONF_REDACTED), naming it: "admin_token", "join token for
 *  network 3", "webhook (all after https://hooks.example.com/)".
 *  \retval how many. */
unsigned ctl_redactions(yajl_val dump, ctl_redact_fn fn, void *arg);

/* --- control socket (ctl_ipc.c) --------------------------------------- */
/** Start a request: {"cmd":CMD,"args":{ -- add members, then ctl_call. */
int ctl_req_begin(struct ctl *c, struct json_gen *g, const char *cmd);
/** Finish the request in \p g, send it, read one response line.  On
 *  "status":"ok" \retval 0 with *tree (free with yajl_tree_free) and *data
 *  (the "data" member, inside *tree).  A daemon error is recorded as the
 *  context's error (unknown_command becomes "unsupported") and -EREMOTEIO
 *  returned; transport problems are recorded as daemon_unreachable or
 *  timeout. */
int ctl_call(struct ctl *c, struct json_gen *g, yajl_val *tree, yajl_val *data);
/** Shorthand for a request with at most one string argument (\p key NULL:
 *  none). */
int ctl_call1(struct ctl *c, const char *cmd, const char *key, const char *val, yajl_val *tree,
	      yajl_val *data);
void ctl_close(struct ctl *c);
/** Wait for \p events on \p fd until \p deadline (now_mono_ms).
 *  \retval 0, -ETIMEDOUT or -errno. */
int ctl_wait_fd(int fd, short events, uint64_t deadline);
/** Send all of \p buf on stream socket \p fd by \p deadline.  \retval 0 or -errno. */
int ctl_send_all(int fd, const char *buf, size_t len, uint64_t deadline);

/* --- commands -------------------------------------------------------- */
int ctl_cmd_info(struct ctl *c, int argc, char **argv);
int ctl_cmd_peers(struct ctl *c, int argc, char **argv);
int ctl_cmd_status(struct ctl *c, int argc, char **argv);
int ctl_cmd_netcheck(struct ctl *c, int argc, char **argv);
int ctl_cmd_handshake(struct ctl *c, int argc, char **argv);
int ctl_cmd_pending(struct ctl *c, int argc, char **argv);
int ctl_cmd_approve(struct ctl *c, int argc, char **argv);
int ctl_cmd_reject(struct ctl *c, int argc, char **argv);
int ctl_cmd_trust(struct ctl *c, int argc, char **argv);
int ctl_cmd_untrust(struct ctl *c, int argc, char **argv);
int ctl_cmd_addr(struct ctl *c, int argc, char **argv);
int ctl_cmd_ping(struct ctl *c, int argc, char **argv);
int ctl_cmd_audit(struct ctl *c, int argc, char **argv);
int ctl_cmd_ca(struct ctl *c, int argc, char **argv);
int ctl_cmd_node(struct ctl *c, int argc, char **argv);
int ctl_cmd_score(struct ctl *c, int argc, char **argv);
int ctl_cmd_report(struct ctl *c, int argc, char **argv);
/** up JOIN-STRING|- (ctl_up.c): pilotd.json from a join string, then start. */
int ctl_cmd_up(struct ctl *c, int argc, char **argv);
int ctl_cmd_bugreport(struct ctl *c, int argc, char **argv);
/** Runs a command described by its ctl_pass table. */
int ctl_cmd_pass(struct ctl *c, int argc, char **argv);

/* Pass-through tables (ctl_pass.c), one per command or group. */
extern const struct ctl_pass ctl_pass_find[];
extern const struct ctl_pass ctl_pass_set_hostname[];
extern const struct ctl_pass ctl_pass_clear_hostname[];
extern const struct ctl_pass ctl_pass_set_public[];
extern const struct ctl_pass ctl_pass_set_private[];
extern const struct ctl_pass ctl_pass_set_tags[];
extern const struct ctl_pass ctl_pass_rotate_key[];
extern const struct ctl_pass ctl_pass_block[];
extern const struct ctl_pass ctl_pass_unblock[];
extern const struct ctl_pass ctl_pass_blocklist[];
extern const struct ctl_pass ctl_pass_broadcast[];
extern const struct ctl_pass ctl_pass_network[];
extern const struct ctl_pass ctl_pass_policy[];
extern const struct ctl_pass ctl_pass_org[];
extern const struct ctl_pass ctl_pass_registration[];
extern const struct ctl_pass ctl_pass_ca[];
extern const struct ctl_pass ctl_pass_audit[];
extern const struct ctl_pass ctl_pass_webhook[];

#endif
