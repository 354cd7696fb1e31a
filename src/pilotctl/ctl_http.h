/* ctl_http.h - one plain HTTP GET (ctl_http.c). */
#ifndef PILOT_CTL_HTTP_H
#define PILOT_CTL_HTTP_H

#include <stddef.h>

/** GET http://HOSTPORT/PATH (a wildcard host asked on loopback) within
 *  \p timeout_ms; the answer at most \p max bytes.  \retval 0 with the body
 *  of a 200 answer in *body (malloc'd, NUL-terminated), or -errno with
 *  \p err saying what failed. */
int ctl_http_get(const char *hostport, const char *path, unsigned timeout_ms, size_t max,
		 char **body, size_t *bodylen, char *err, size_t errlen);

#endif
