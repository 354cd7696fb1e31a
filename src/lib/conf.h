/* conf.h - declarative configuration: one schema table per daemon drives
 * the JSON config file (comments allowed), the long flags (`listen_port`
 * <=> `--listen-port`; flags win), defaults, range checks, the canonical
 * dump, and --help.  Parse completely, then apply in one step: conf_load
 * fills a fresh struct and touches nothing else. */
#ifndef PILOT_CONF_H
#define PILOT_CONF_H

#include <stddef.h>
#include <stdint.h>

struct json_gen;

enum conf_type {
	CONF_STR,      /* char * (malloc'd, freed by conf_free) */
	CONF_U32,      /* uint32_t within [min, max] */
	CONF_BOOL,     /* int; a flag without value sets 1 */
	CONF_STRLIST,  /* char ** NULL-terminated; JSON array or comma list */
	CONF_HOSTPORT, /* char * "HOST:PORT" or "[V6]:PORT", validated */
	CONF_ACTION,   /* flag only (e.g. --print-pin): int set to 1; not a file key */
	CONF_FLAGSTR,  /* flag only with a value (e.g. --join-host H): char * as CONF_STR;
			* not a file key, not in dumps */
};

struct conf_key {
	const char *name; /* file key; flag is "--" + name with '_' -> '-' */
	enum conf_type type;
	size_t offset; /* into the config struct */
	uint32_t min, max;
	const char *def; /* default as text (NULL = none / empty) */
	const char *help;
	int secret; /* enum conf_secret: never printed in dumps or errors */
};

/* What of a key's value is secret.  A dump prints "***" in its place and
 * where the value came from, so the operator knows which file to guard. */
enum conf_secret {
	CONF_SECRET_NONE = 0,
	CONF_SECRET_ALL = 1,  /* the whole value (a token) */
	CONF_SECRET_TAIL = 2, /* in each list entry, what follows the first ':' ("7:TOKEN") */
	/* A URL whose path or query may be the credential (a chat service's
	 * webhook URL is): a dump keeps "scheme://host[:port]/" and hides the
	 * rest.  Not counted by conf_exposed_secrets: most URLs hold none. */
	CONF_SECRET_URL = 3,
};

/* Every config struct must begin with this member. */
struct conf_head {
	char loaded_path[256];
	uint64_t from_flag; /* bit i: schema key i was set by a flag (i < 64) */
};

#define CONF_END                                                                                   \
	{                                                                                          \
		NULL, 0, 0, 0, 0, NULL, NULL, 0                                                    \
	}

/** Load: defaults, then the file (\p path from --config if given on the
 *  command line, else \p default_path if it exists), then the flags.
 *  Unknown keys and flags, wrong types and out-of-range values are errors:
 *  \p err gets "FILE:LINE: key 'k': reason" or "--flag: reason".
 *  --help and --version are returned as CONF_ACTION keys "help"/"version"
 *  when the schema has them.  \retval 0 or -EINVAL / -errno. */
int conf_load(const struct conf_key *schema, void *cfg, const char *default_path, int argc,
	      char **argv, char *err, size_t errlen);
/** Free every CONF_STR / CONF_HOSTPORT / CONF_STRLIST member. */
void conf_free(const struct conf_key *schema, void *cfg);
/** Print --help text for the schema. */
void conf_usage(const struct conf_key *schema, const char *prog, const char *synopsis);
/** Canonical JSON dump; secrets as "*** (from FILE)" or "*** (from --flag)",
 *  list entries under CONF_SECRET_TAIL as "7:*** (from ...)", URLs under
 *  CONF_SECRET_URL as "https://host/" then the marker; malloc'd.  Every
 *  redacted value contains CONF_REDACTED. */
char *conf_dump(const struct conf_key *schema, const void *cfg);
/** The same dump as one JSON object added to \p j (the control socket
 *  hands it out: pilotctl bugreport). */
void conf_dump_gen(const struct conf_key *schema, const void *cfg, struct json_gen *j);
#define CONF_REDACTED "*** (from "
/** How many secrets the loaded file itself holds (a token, or "ID:TOKEN"
 *  list entries; not those given by flags) when that file is readable by
 *  others; their key names, comma-separated, in \p names.  0 when the file
 *  is not readable by others or holds none. */
int conf_exposed_secrets(const struct conf_key *schema, const void *cfg, char *names, size_t len);
/** Log a warning naming them when conf_exposed_secrets() finds any. */
void conf_warn_exposed(const struct conf_key *schema, const void *cfg);
/** Was key \p name set by a flag (not by the file or the defaults)?
 *  \retval 1 or 0. */
int conf_key_from_flag(const struct conf_key *schema, const void *cfg, const char *name);
/** Path of the config file actually loaded ("" if none). */
const char *conf_loaded_path(const void *cfg);

/** Split "HOST:PORT" / "[V6]:PORT". \retval 0 or -EINVAL. */
int conf_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
