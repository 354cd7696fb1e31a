/* regc.h - pilotd's registry client: signed requests (doc/REGISTRY.md)
 * over httpc, registration with retry, heartbeats, and the events stream
 * (reconnected with backoff). */
#ifndef PILOT_REGC_H
#define PILOT_REGC_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "httpc.h"

struct pilotd;
struct event;
struct json_gen;

/** Result of a registry call: \p err 0 and \p resp the parsed JSON object
 *  on success; else \p err < 0 with \p code/\p msg (registry error code or
 *  "registry_unavailable"). \p resp is freed after the callback. */
typedef void (*regc_cb)(struct pilotd *d, void *arg, int err, const char *code, const char *msg,
			yajl_val resp);

struct pilot_prefix;

/** What the registry's answers mean to the daemon, handed in by
 *  regc_init: the client calls no daemon module above it by name. */
struct regc_hooks {
	/* Registered as \p node_id in \p px's deployment (bring the overlay
	 * up). \retval 0, or < 0: register again later. */
	int (*registered)(struct pilotd *d, uint32_t node_id, const struct pilot_prefix *px);
	/* The register answer \p reg (the beacon's key and address). */
	void (*configure_beacon)(struct pilotd *d, yajl_val reg);
	/* After each registration: settings and networks to re-assert. */
	void (*after_register)(struct pilotd *d);
	/* The registry's list of our trust pairs. */
	void (*sync_trust)(struct pilotd *d, yajl_val peers);
	/* One event from the events stream. */
	void (*event)(struct pilotd *d, yajl_val ev);
};

struct regc {
	struct pilotd *d;
	const struct regc_hooks *hooks;
	/* The registry replicas, HOST:PORT each (registry as a list):
	 * requests go to https://addrs[cur]; one that does not answer (or
	 * answers "unavailable") moves cur to the next, and the node
	 * registers there again (its beacon comes with the answer). */
	char (*addrs)[256];
	size_t nurls, cur;
	size_t events_idx;    /* the registry the events stream went to */
	uint64_t failovers;   /* ever (status) */
	uint32_t fail_streak; /* failovers since the last registration */
	char pin[128];	      /* curl form, "" if none */
	struct httpc_opts opts;
	struct event *ev_heartbeat, *ev_retry, *ev_events_retry;
	struct httpc_req *events_req;
	uint64_t events_after;
	uint32_t backoff_ms, events_backoff_ms;
	int registered;
	int ever_registered; /* this process has registered once (see add_register) */
	int connected;	     /* last request reached the registry */
	uint64_t last_ok_ms;
	char last_error[256];
	/* The registry refuses our signed requests as stale: our clock is off
	 * its own by more than its window (health: clock_skew); 0 after a 200. */
	int clock_refused;
	char refused_msg[256];
	int last_errno;	       /* the last transport failure (httpc's -errno), 0 after an answer */
	int score, have_score; /* our reputation, from the last register/heartbeat answer */
	/* Why this node is not registered (pilotctl info/status): a code
	 * ("registering", "pin_mismatch", "tls_failed", "unreachable", or
	 * the registry's own error code such as "forbidden") and a message;
	 * both "" once registered. */
	char reg_reason[32];
	char reg_message[256];
};

/** HOST:PORT of the registry in use. */
const char *regc_addr(const struct regc *r);

/** \p hooks stays the caller's and must outlive \p r. */
int regc_init(struct regc *r, struct pilotd *d, const struct regc_hooks *hooks);
void regc_free(struct regc *r);
/** Start: register (retrying with backoff), then heartbeats, events, trust sync. */
void regc_start(struct regc *r);
/** Register again now (settings changed). */
void regc_reregister(struct regc *r);
/** Send a heartbeat now (what it reports changed), if registered. */
void regc_heartbeat_now(struct regc *r);

/** A signed request.  \p add adds the op's members (may be NULL). */
typedef void (*regc_add_fn)(struct json_gen *j, void *arg);
int regc_call(struct regc *r, const char *op, regc_add_fn add, void *add_arg, regc_cb cb,
	      void *arg);

/** The same with the envelope's timestamp given (rotate-key signs it). */
int regc_call_ts(struct regc *r, const char *op, uint64_t ts, regc_add_fn add, void *add_arg,
		 regc_cb cb, void *arg);
/** An admin request (POST /v1/admin/OP, Authorization: Bearer \p token). */
int regc_admin(struct regc *r, const char *op, const char *token, regc_add_fn add, void *add_arg,
	       regc_cb cb, void *arg);

#endif
