/* ctl_path.c - the words pilotctl uses for a tunnel's path (ping's reply
 * lines and path changes), from a peer object's "path" and "endpoint"
 * (doc/IPC.md `peers`): the endpoint is where records go now, which is
 * the beacon while relayed.  Pure text, so the unit tests cover it. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl.h"

const char *ctl_path_text(const char *path, const char *endpoint, char *buf, size_t len)
{
	const char *kind = path && *path ? path : "none";

	if (strcmp(kind, "none") == 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	/* pilotd says "relayed" for the state; a reply went "via relay X". */
	if (strcmp(kind, "relayed") == 0)
		kind = "relay";
	if (endpoint && *endpoint)
		snprintf(buf, len, "%s %s", kind, endpoint);
	else
		snprintf(buf, len, "%s", kind);
	return buf;
}

const char *ctl_path_change(const char *target, const char *from, const char *to, char *buf,
			    size_t len)
{
	snprintf(buf, len, "path to %s: %s -> %s", target, from, to);
	return buf;
}
