/* nss_pilot.h - the NSS hosts module's internals (src/nss/nss_pilot.c), shared
 * with its unit test and fuzz harness.  Not installed: the module exports
 * only the _nss_pilot_* entry points (libtool -export-symbols-regex). */
#ifndef PILOT_NSS_PILOT_H
#define PILOT_NSS_PILOT_H

#include <netdb.h>
#include <netinet/in.h>
#include <nss.h>
#include <stddef.h>
#include <stdint.h>

#ifndef NSS_PILOT_SOCKET
#define NSS_PILOT_SOCKET "/run/pilot/resolve.sock" /* doc/IPC.md, "Name service socket" */
#endif
#define NSS_PILOT_LABEL_MAX 63			     /* a DNS label, like the registry's */
#define NSS_PILOT_NAME_MAX (NSS_PILOT_LABEL_MAX + 6) /* "label.pilot" */
#define NSS_PILOT_REPLY_MAX 65536		     /* the IPC line limit */
#define NSS_PILOT_TIMEOUT_MS 2000		     /* connect, send, and the whole reply */
#define NSS_PILOT_TTL 10			     /* pilotd caches answers for 10 s */
#define NSS_PILOT_DEPTH_MAX 16			     /* JSON nesting the parser follows */

/** \brief What one reply line says. */
enum nss_pilot_reply {
	NSS_PILOT_REPLY_MORE = 0, /**< incomplete: feed more bytes */
	NSS_PILOT_REPLY_OK,	  /**< status "ok" with a ULA data.ipv6 (in parser.addr) */
	NSS_PILOT_REPLY_NOTFOUND, /**< error "not_found" or "bad_request" */
	NSS_PILOT_REPLY_AGAIN,	  /**< error "timeout", "registry_unavailable" or "rate_limited" */
	NSS_PILOT_REPLY_BAD,	  /**< anything else: not JSON, truncated, unexpected */
};

/** \brief Streaming parser for the one-line reply of `find`.
 *
 * Checks the whole line against the JSON grammar with bounded state (no
 * allocation, fixed-size captures, nesting at most NSS_PILOT_DEPTH_MAX, at
 * most NSS_PILOT_REPLY_MAX bytes) and keeps only "status", "code" and
 * "data.ipv6".  Fields are private to nss_pilot.c except addr and result. */
struct nss_pilot_parser {
	struct in6_addr addr;	     /**< data.ipv6 once result is NSS_PILOT_REPLY_OK */
	enum nss_pilot_reply result; /**< MORE until the line is complete or bad */
	uint32_t total;		     /* bytes consumed */
	uint32_t arrays;	     /* bit d-1: the container at depth d is an array */
	uint16_t uni;		     /* \uXXXX being read */
	uint8_t st, sub, depth, may_close, key, slot, lit, nlit, nuni, in_data, seen;
	uint8_t klen, slen, clen, ilen; /* capture lengths; cap + 1 means overflow */
	char kbuf[8], status[8], code[24], ipv6[48];
};

void nss_pilot_parser_init(struct nss_pilot_parser *p);

/** \brief Feed bytes of the reply; stops at the line's '\n'.
 * \retval NSS_PILOT_REPLY_MORE the line goes on: feed more, or call
 *	   nss_pilot_parser_end() at EOF
 * \retval other the verdict (also kept in p->result; later calls return it) */
enum nss_pilot_reply nss_pilot_parser_feed(struct nss_pilot_parser *p, const void *buf, size_t len);

/** \brief The peer closed the connection: a complete JSON object without
 * its '\n' still counts; anything less is NSS_PILOT_REPLY_BAD. */
enum nss_pilot_reply nss_pilot_parser_end(struct nss_pilot_parser *p);

/** \brief One-shot parse of a whole reply (tests, fuzzing). */
enum nss_pilot_reply nss_pilot_parse_reply(const void *buf, size_t len, struct in6_addr *addr);

/** \brief The name this module answers for, lower-cased, as "label.pilot".
 *
 * NAME must be LABEL ".pilot" with an optional final '.', in any case, where
 * LABEL is 1-63 of [a-z0-9-], neither starting nor ending with '-' and not all
 * digits (the registry's hostname rule).
 * \retval >0 the length of the canonical name written to canon
 * \retval -1 not a Pilot hostname: the module does not handle it */
int nss_pilot_name(const char *name, char canon[NSS_PILOT_NAME_MAX + 1]);

/* glibc's NSS hosts interface (see glibc nss/nss_files/files-hosts.c). */
enum nss_status _nss_pilot_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat,
					    char *buffer, size_t buflen, int *errnop, int *herrnop,
					    int32_t *ttlp);
enum nss_status _nss_pilot_gethostbyname3_r(const char *name, int af, struct hostent *host,
					    char *buffer, size_t buflen, int *errnop, int *herrnop,
					    int32_t *ttlp, char **canonp);
enum nss_status _nss_pilot_gethostbyname2_r(const char *name, int af, struct hostent *host,
					    char *buffer, size_t buflen, int *errnop, int *herrnop);
enum nss_status _nss_pilot_gethostbyname_r(const char *name, struct hostent *host, char *buffer,
					   size_t buflen, int *errnop, int *herrnop);

#endif
