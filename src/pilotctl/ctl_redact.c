/* ctl_redact.c - what a configuration dump left out.  pilotd replaces
 * every secret of its configuration with CONF_REDACTED and where it came
 * from (conf.h: `pilotd --check-config`, IPC `config`); a bug report names
 * those places for the operator, without ever having seen the values.
 * Pure, so the unit tests cover it. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "ctl.h"

/* "3:*** (from F)" in list \p key: its prefix is the entry's ID.  An entry
 * of `networks` is a network's join token; others are named by key. */
static void name_entry(const char *key, const char *v, const char *mark, ctl_redact_fn fn,
		       void *arg)
{
	int plen = (int)(mark - v);
	char what[200];

	if (plen > 0 && v[plen - 1] == ':')
		plen--;
	if (strcmp(key, "networks") == 0 && plen > 0)
		snprintf(what, sizeof(what), "join token for network %.*s", plen, v);
	else if (plen > 0)
		snprintf(what, sizeof(what), "token of %s entry %.*s", key, plen, v);
	else
		snprintf(what, sizeof(what), "%s entry", key);
	fn(arg, what);
}

static void name_value(const char *key, const char *v, const char *mark, ctl_redact_fn fn,
		       void *arg)
{
	char what[200];

	/* A URL keeps its scheme and host: the rest was hidden. */
	if (mark > v)
		snprintf(what, sizeof(what), "%s (all after %.*s)", key, (int)(mark - v), v);
	else
		snprintf(what, sizeof(what), "%s", key);
	fn(arg, what);
}

unsigned ctl_redactions(yajl_val dump, ctl_redact_fn fn, void *arg)
{
	unsigned n = 0;

	for (size_t i = 0; YAJL_IS_OBJECT(dump) && i < dump->u.object.len; i++) {
		const char *key = dump->u.object.keys[i], *mark;
		yajl_val v = dump->u.object.values[i];

		if (YAJL_IS_STRING(v) && (mark = strstr(v->u.string, CONF_REDACTED))) {
			name_value(key, v->u.string, mark, fn, arg);
			n++;
		}
		for (size_t k = 0; YAJL_IS_ARRAY(v) && k < v->u.array.len; k++) {
			yajl_val e = v->u.array.values[k];
			if (YAJL_IS_STRING(e) && (mark = strstr(e->u.string, CONF_REDACTED))) {
				name_entry(key, e->u.string, mark, fn, arg);
				n++;
			}
		}
	}
	return n;
}
