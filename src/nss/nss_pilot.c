/* nss_pilot.c - glibc NSS "hosts" module: NAME.pilot -> the peer's overlay
 * IPv6 address, asked of pilotd's name service socket (doc/IPC.md, "Name
 * service socket"; SPEC section 3).
 *
 * Enabling it: `make install` puts libnss_pilot.so.2 in $(libdir) and, as
 * root without DESTDIR, runs ldconfig (packagers: ship it in the multiarch
 * libdir, e.g. --libdir=/usr/lib/x86_64-linux-gnu); then add "pilot" to the
 * hosts line of /etc/nsswitch.conf, after files and before dns:
 *
 *     hosts: files pilot dns
 *
 * (or before "resolve [!UNAVAIL=return]" / "mdns4_minimal" where those
 * are used).  Names that do not end in ".pilot" are NOTFOUND at once, so the
 * next source answers them; when pilotd is not running the module is UNAVAIL
 * and the lookup goes on to dns as well.  Pilot names are IPv6 only: an
 * IPv4 question (gethostbyname, AF_INET) is NOTFOUND here.
 *
 * This code runs inside every process that resolves a name: it links
 * nothing but libc, keeps no static state (thread-safe, fork-safe), never
 * allocates, bounds every wait (NSS_PILOT_TIMEOUT_MS in all) and every byte
 * count, and keeps junk off the socket by asking only for names that can be
 * Pilot hostnames.  The reply is one JSON line; the only parser for it is
 * the small streaming one below (fuzzed: tests/fuzz/fuzz_nss.c).  A name
 * pilotd may not show us is "not_found", exactly like a name nobody has. */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <poll.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "nss_pilot.h"

/* ------------------------------------------------------------ the reply */

/* p->st: what the next byte may be */
enum {
	ST_VALUE, /* a value (or ']' when may_close) */
	ST_KEY,	  /* an object key (or '}' when may_close) */
	ST_COLON,
	ST_NEXT, /* ',' or the close of the container */
	ST_END,	 /* top-level object complete: blanks, then '\n' */
	ST_STRING,
	ST_ESCAPE,
	ST_UNICODE,
	ST_NUMBER,
	ST_LITERAL,
};

enum { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP }; /* p->sub */

enum { K_OTHER, K_STATUS, K_CODE, K_DATA, K_IPV6 }; /* the key of the pending value */

enum { SLOT_NONE, SLOT_KEY, SLOT_STATUS, SLOT_CODE, SLOT_IPV6 }; /* where string bytes go */

#define SEEN(k) (1u << (k))
#define MARK_NONASCII 0x7f /* stands for an escaped character no key or value we want has */

static const char *const literals[] = {"true", "false", "null"};

static enum nss_pilot_reply bad(struct nss_pilot_parser *p)
{
	p->result = NSS_PILOT_REPLY_BAD;
	return p->result;
}

void nss_pilot_parser_init(struct nss_pilot_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->st = ST_VALUE;
	p->result = NSS_PILOT_REPLY_MORE;
}

static void put(struct nss_pilot_parser *p, unsigned char c)
{
	char *buf;
	uint8_t *len, cap;

	switch (p->slot) {
	case SLOT_KEY:
		buf = p->kbuf, len = &p->klen, cap = sizeof(p->kbuf) - 1;
		break;
	case SLOT_STATUS:
		buf = p->status, len = &p->slen, cap = sizeof(p->status) - 1;
		break;
	case SLOT_CODE:
		buf = p->code, len = &p->clen, cap = sizeof(p->code) - 1;
		break;
	case SLOT_IPV6:
		buf = p->ipv6, len = &p->ilen, cap = sizeof(p->ipv6) - 1;
		break;
	default:
		return;
	}
	if (*len < cap)
		buf[(*len)++] = (char)c;
	else
		*len = cap + 1; /* overflow: matches nothing */
}

/* Whether a capture holds exactly the text S. */
static int cap_is(const char *buf, uint8_t len, size_t cap, const char *s)
{
	size_t n = strlen(s);
	return len <= cap && len == n && memcmp(buf, s, n) == 0;
}

/* A value (scalar or container) has ended: what may follow it. */
static void value_done(struct nss_pilot_parser *p)
{
	p->key = K_OTHER;
	p->slot = SLOT_NONE;
	p->st = p->depth == 0 ? ST_END : ST_NEXT;
}

/* A value starts here, of JSON type STRING (1) or not (0): the captured keys
 * must be strings, and none may come twice (a reply with two "status"es is
 * not one we should pick from). */
static int value_start(struct nss_pilot_parser *p, int string)
{
	if (p->key == K_OTHER || p->key == K_DATA) {
		p->slot = SLOT_NONE;
		return 0;
	}
	if (!string)
		return -1;
	p->slot = p->key == K_STATUS ? SLOT_STATUS : p->key == K_CODE ? SLOT_CODE : SLOT_IPV6;
	return 0;
}

static int open_container(struct nss_pilot_parser *p, int array)
{
	int data = p->key == K_DATA && !array;

	if (p->depth == 0 && array)
		return -1; /* the envelope is an object */
	if (p->depth >= NSS_PILOT_DEPTH_MAX || value_start(p, 0) < 0)
		return -1;
	p->depth++;
	if (array)
		p->arrays |= 1u << (p->depth - 1);
	else
		p->arrays &= ~(1u << (p->depth - 1));
	if (data)
		p->in_data = 1; /* the object at depth 2 is "data" */
	p->key = K_OTHER;
	p->may_close = 1;
	p->st = array ? ST_VALUE : ST_KEY;
	return 0;
}

static int close_container(struct nss_pilot_parser *p, int array)
{
	int is_array = (p->arrays >> (p->depth - 1)) & 1;

	if (p->depth == 0 || is_array != array)
		return -1;
	if (p->depth == 2)
		p->in_data = 0;
	p->depth--;
	value_done(p);
	return 0;
}

static void key_done(struct nss_pilot_parser *p)
{
	uint8_t k = K_OTHER;

	if (p->depth == 1) {
		if (cap_is(p->kbuf, p->klen, sizeof(p->kbuf) - 1, "status"))
			k = K_STATUS;
		else if (cap_is(p->kbuf, p->klen, sizeof(p->kbuf) - 1, "code"))
			k = K_CODE;
		else if (cap_is(p->kbuf, p->klen, sizeof(p->kbuf) - 1, "data"))
			k = K_DATA;
	} else if (p->depth == 2 && p->in_data &&
		   cap_is(p->kbuf, p->klen, sizeof(p->kbuf) - 1, "ipv6")) {
		k = K_IPV6;
	}
	p->klen = 0;
	p->slot = SLOT_NONE;
	p->key = k;
	p->st = ST_COLON;
}

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The verdict on a complete line. */
static enum nss_pilot_reply verdict(struct nss_pilot_parser *p)
{
	if (!(p->seen & SEEN(K_STATUS)))
		return bad(p);
	if (cap_is(p->status, p->slen, sizeof(p->status) - 1, "ok")) {
		if (!(p->seen & SEEN(K_IPV6)) || p->ilen >= sizeof(p->ipv6))
			return bad(p);
		p->ipv6[p->ilen] = '\0';
		/* Pilot addresses are RFC 4193 (fd00::/8): anything else is not
		 * an answer from pilotd, and must not send a program elsewhere. */
		if (inet_pton(AF_INET6, p->ipv6, &p->addr) != 1 || p->addr.s6_addr[0] != 0xfd)
			return bad(p);
		p->result = NSS_PILOT_REPLY_OK;
		return p->result;
	}
	if (!cap_is(p->status, p->slen, sizeof(p->status) - 1, "error"))
		return bad(p);
	if (cap_is(p->code, p->clen, sizeof(p->code) - 1, "not_found") ||
	    cap_is(p->code, p->clen, sizeof(p->code) - 1, "bad_request"))
		p->result = NSS_PILOT_REPLY_NOTFOUND;
	else if (cap_is(p->code, p->clen, sizeof(p->code) - 1, "timeout") ||
		 cap_is(p->code, p->clen, sizeof(p->code) - 1, "registry_unavailable") ||
		 cap_is(p->code, p->clen, sizeof(p->code) - 1, "rate_limited"))
		p->result = NSS_PILOT_REPLY_AGAIN;
	else
		p->result = NSS_PILOT_REPLY_BAD;
	return p->result;
}

/* One byte.  Returns 1 when C was consumed, 0 when it ended a number and
 * must be looked at again, -1 when the line is not what we accept. */
static int step(struct nss_pilot_parser *p, unsigned char c)
{
	int v;

	switch (p->st) {
	case ST_VALUE:
		if (is_blank(c))
			return 1;
		if (c == ']' && p->may_close)
			return close_container(p, 1) < 0 ? -1 : 1;
		p->may_close = 0;
		if (c == '{' || c == '[')
			return open_container(p, c == '[') < 0 ? -1 : 1;
		if (p->depth == 0)
			return -1; /* the envelope is an object */
		if (c == '"') {
			if (value_start(p, 1) < 0)
				return -1;
			if (p->slot != SLOT_NONE)
				p->seen |= SEEN(p->key);
			p->st = ST_STRING;
			return 1;
		}
		if (value_start(p, 0) < 0)
			return -1;
		if (c == '-' || (c >= '0' && c <= '9')) {
			p->sub = c == '-' ? N_SIGN : c == '0' ? N_ZERO : N_INT;
			p->st = ST_NUMBER;
			return 1;
		}
		for (uint8_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
			if (c == (unsigned char)literals[i][0]) {
				p->lit = i;
				p->nlit = 1;
				p->st = ST_LITERAL;
				return 1;
			}
		}
		return -1;
	case ST_KEY:
		if (is_blank(c))
			return 1;
		if (c == '}' && p->may_close)
			return close_container(p, 0) < 0 ? -1 : 1;
		if (c != '"')
			return -1;
		p->may_close = 0;
		p->klen = 0;
		p->slot = SLOT_KEY;
		p->st = ST_STRING;
		return 1;
	case ST_COLON:
		if (is_blank(c))
			return 1;
		if (c != ':')
			return -1;
		/* A captured key may come only once. */
		if (p->key != K_OTHER && (p->seen & SEEN(p->key)))
			return -1;
		if (p->key == K_DATA)
			p->seen |= SEEN(K_DATA);
		p->may_close = 0;
		p->st = ST_VALUE;
		return 1;
	case ST_NEXT:
		if (is_blank(c))
			return 1;
		if (c == ',') {
			p->may_close = 0;
			p->st = (p->arrays >> (p->depth - 1)) & 1 ? ST_VALUE : ST_KEY;
			return 1;
		}
		if (c == '}' || c == ']')
			return close_container(p, c == ']') < 0 ? -1 : 1;
		return -1;
	case ST_END:
		return is_blank(c) ? 1 : -1; /* '\n' is handled by the caller */
	case ST_STRING:
		if (c == '"') {
			if (p->slot == SLOT_KEY)
				key_done(p);
			else
				value_done(p);
			return 1;
		}
		if (c == '\\') {
			p->st = ST_ESCAPE;
			return 1;
		}
		if (c < 0x20)
			return -1; /* JSON strings have no raw control characters */
		put(p, c);
		return 1;
	case ST_ESCAPE:
		p->st = ST_STRING;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			put(p, c);
			return 1;
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			put(p, MARK_NONASCII); /* control characters match nothing we want */
			return 1;
		case 'u':
			p->uni = 0;
			p->nuni = 0;
			p->st = ST_UNICODE;
			return 1;
		default:
			return -1;
		}
	case ST_UNICODE:
		if ((v = hexval(c)) < 0)
			return -1;
		p->uni = (uint16_t)(p->uni << 4 | (unsigned)v);
		if (++p->nuni == 4) {
			/* Printable ASCII stands for itself ("st\u0061tus" is
			 * "status"); everything else matches nothing we want. */
			put(p, p->uni >= 0x20 && p->uni < 0x7f ? (unsigned char)p->uni
							       : MARK_NONASCII);
			p->st = ST_STRING;
		}
		return 1;
	case ST_NUMBER: {
		int digit = c >= '0' && c <= '9';
		switch (p->sub) {
		case N_SIGN:
			if (!digit)
				return -1;
			p->sub = c == '0' ? N_ZERO : N_INT;
			return 1;
		case N_ZERO:
		case N_INT:
			if (digit && p->sub == N_INT)
				return 1;
			if (digit)
				return -1; /* no leading zeros */
			if (c == '.') {
				p->sub = N_DOT;
				return 1;
			}
			if (c == 'e' || c == 'E') {
				p->sub = N_E;
				return 1;
			}
			break;
		case N_DOT:
			if (!digit)
				return -1;
			p->sub = N_FRAC;
			return 1;
		case N_FRAC:
			if (digit)
				return 1;
			if (c == 'e' || c == 'E') {
				p->sub = N_E;
				return 1;
			}
			break;
		case N_E:
			if (c == '+' || c == '-') {
				p->sub = N_ESIGN;
				return 1;
			}
			if (!digit)
				return -1;
			p->sub = N_EXP;
			return 1;
		case N_ESIGN:
			if (!digit)
				return -1;
			p->sub = N_EXP;
			return 1;
		case N_EXP:
			if (digit)
				return 1;
			break;
		default:
			return -1;
		}
		value_done(p); /* the number ended; C belongs to what follows */
		return 0;
	}
	case ST_LITERAL:
		if (c != (unsigned char)literals[p->lit][p->nlit])
			return -1;
		if (literals[p->lit][++p->nlit] == '\0')
			value_done(p);
		return 1;
	default:
		return -1;
	}
}

enum nss_pilot_reply nss_pilot_parser_feed(struct nss_pilot_parser *p, const void *buf, size_t len)
{
	const unsigned char *b = buf;
	size_t i = 0;

	while (p->result == NSS_PILOT_REPLY_MORE && i < len) {
		int rc;

		if (p->total >= NSS_PILOT_REPLY_MAX)
			return bad(p);
		if (b[i] == '\n') {
			/* The line ends: only after a whole object.  (A newline
			 * is never inside a JSON string, and JSON's other
			 * whitespace newlines would end this one-line reply.) */
			if (p->st != ST_END)
				return bad(p);
			return verdict(p);
		}
		rc = step(p, b[i]);
		if (rc < 0)
			return bad(p);
		if (rc > 0) {
			i++;
			p->total++;
		}
	}
	return p->result;
}

enum nss_pilot_reply nss_pilot_parser_end(struct nss_pilot_parser *p)
{
	if (p->result != NSS_PILOT_REPLY_MORE)
		return p->result;
	if (p->st != ST_END)
		return bad(p);
	return verdict(p);
}

enum nss_pilot_reply nss_pilot_parse_reply(const void *buf, size_t len, struct in6_addr *addr)
{
	struct nss_pilot_parser p;
	enum nss_pilot_reply r;

	nss_pilot_parser_init(&p);
	r = nss_pilot_parser_feed(&p, buf, len);
	if (r == NSS_PILOT_REPLY_MORE)
		r = nss_pilot_parser_end(&p);
	if (r == NSS_PILOT_REPLY_OK && addr)
		*addr = p.addr;
	return r;
}

/* ------------------------------------------------------------ names */

int nss_pilot_name(const char *name, char canon[NSS_PILOT_NAME_MAX + 1])
{
	static const char suffix[] = ".pilot";
	size_t n = strnlen(name, NSS_PILOT_NAME_MAX + 2), label, digits = 0;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n > NSS_PILOT_NAME_MAX || n < sizeof(suffix))
		return -1; /* too long, or no room for a label */
	label = n - (sizeof(suffix) - 1);
	for (size_t i = 0; i < sizeof(suffix) - 1; i++) {
		unsigned char c = (unsigned char)name[label + i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)suffix[i])
			return -1;
	}
	if (name[0] == '-' || name[label - 1] == '-')
		return -1;
	for (size_t i = 0; i < label; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return -1;
		digits += c >= '0' && c <= '9';
		canon[i] = (char)c;
	}
	if (digits == label)
		return -1; /* all digits reads as a node ID: never a hostname */
	memcpy(canon + label, suffix, sizeof(suffix)); /* with its '\0' */
	return (int)n;
}

/* ------------------------------------------------------------ the socket */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum nss_status fail(int *errnop, int *herrnop, enum nss_status st, int err, int herr)
{
	*errnop = err;
	*herrnop = herr;
	return st;
}

/* Read the reply to the end of its line, within DEADLINE (mono_ms). */
static int read_reply(int fd, struct nss_pilot_parser *p, int64_t deadline)
{
	char chunk[512];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		ssize_t n;
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			nss_pilot_parser_end(p);
			return 0;
		}
		if (nss_pilot_parser_feed(p, chunk, (size_t)n) != NSS_PILOT_REPLY_MORE)
			return 0;
	}
}

/* Ask pilotd for CANON ("label.pilot", already checked: nothing to escape). */
static enum nss_status pilot_find(const char *canon, struct in6_addr *addr, int *errnop,
				  int *herrnop)
{
	const struct timeval tv = {NSS_PILOT_TIMEOUT_MS / 1000,
				   (NSS_PILOT_TIMEOUT_MS % 1000) * 1000};
	int64_t deadline = mono_ms() + NSS_PILOT_TIMEOUT_MS;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct nss_pilot_parser p;
	const char *path = secure_getenv("PILOT_RESOLVE_SOCKET");
	char req[128];
	size_t reqlen, off = 0;
	int fd, rc, err = 0;
	enum nss_status st;

	nss_pilot_parser_init(&p);
	if (path == NULL || path[0] == '\0')
		path = NSS_PILOT_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(errnop, herrnop, NSS_STATUS_UNAVAIL, ENAMETOOLONG, NO_RECOVERY);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = snprintf(req, sizeof(req), "{\"cmd\":\"find\",\"args\":{\"hostname\":\"%s\"}}\n",
		      canon);
	if (rc < 0 || (size_t)rc >= sizeof(req))
		return fail(errnop, herrnop, NSS_STATUS_UNAVAIL, EINVAL, NO_RECOVERY);
	reqlen = (size_t)rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(errnop, herrnop, NSS_STATUS_UNAVAIL, errno, NO_RECOVERY);
	/* connect() on a Unix stream socket waits (for a full backlog) up to
	 * SO_SNDTIMEO; send() and recv() are bounded by the deadline too. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno; /* ENOENT, ECONNREFUSED: pilotd is not running */
		goto out;
	}
	while (off < reqlen) {
		ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR && mono_ms() < deadline)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break; /* pilotd refused us at once: its one line may be waiting */
		if (n < 0) {
			err = errno;
			goto out;
		}
		off += (size_t)n;
	}
	rc = read_reply(fd, &p, deadline);
	if (rc < 0)
		err = -rc;
out:
	close(fd);
	if (err == ETIMEDOUT || err == EAGAIN || err == EWOULDBLOCK)
		return fail(errnop, herrnop, NSS_STATUS_TRYAGAIN, EAGAIN, TRY_AGAIN);
	if (err)
		return fail(errnop, herrnop, NSS_STATUS_UNAVAIL, err, NO_RECOVERY);
	switch (p.result) {
	case NSS_PILOT_REPLY_OK:
		*addr = p.addr;
		st = NSS_STATUS_SUCCESS;
		break;
	case NSS_PILOT_REPLY_NOTFOUND:
		st = fail(errnop, herrnop, NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND);
		break;
	case NSS_PILOT_REPLY_AGAIN:
		st = fail(errnop, herrnop, NSS_STATUS_TRYAGAIN, EAGAIN, TRY_AGAIN);
		break;
	default: /* a reply that is not pilotd's: as if pilotd were not there */
		st = fail(errnop, herrnop, NSS_STATUS_UNAVAIL, EBADMSG, NO_RECOVERY);
		break;
	}
	return st;
}

/* ------------------------------------------------------------ glibc's interface */

/* Where in BUFFER an object of alignment ALIGN may start. */
static size_t align_off(const char *buffer, size_t align)
{
	return (size_t)(-(uintptr_t)buffer & (uintptr_t)(align - 1));
}

/* Whether the answer (NEED bytes) does not fit the caller's buffer; if so,
 * says so the way glibc expects.  Checked before the socket is asked. */
static int too_small(size_t need, size_t buflen, int *errnop, int *herrnop)
{
	if (need <= buflen)
		return 0;
	/* glibc retries with a larger buffer on exactly this triple. */
	fail(errnop, herrnop, NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL);
	return 1;
}

enum nss_status _nss_pilot_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat,
					    char *buffer, size_t buflen, int *errnop, int *herrnop,
					    int32_t *ttlp)
{
	char canon[NSS_PILOT_NAME_MAX + 1];
	struct gaih_addrtuple *t;
	struct in6_addr addr;
	size_t off, need;
	int len, saved = errno;
	enum nss_status st;

	if ((len = nss_pilot_name(name, canon)) < 0)
		return fail(errnop, herrnop, NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND);
	/* buffer: [pad][struct gaih_addrtuple][canonical name] */
	off = align_off(buffer, alignof(struct gaih_addrtuple));
	need = off + sizeof(*t) + (size_t)len + 1;
	if (too_small(need, buflen, errnop, herrnop))
		return NSS_STATUS_TRYAGAIN;
	st = pilot_find(canon, &addr, errnop, herrnop);
	if (st != NSS_STATUS_SUCCESS)
		return st;

	t = (struct gaih_addrtuple *)(void *)(buffer + off);
	memset(t, 0, sizeof(*t));
	t->name = buffer + off + sizeof(*t);
	memcpy(t->name, canon, (size_t)len + 1);
	t->family = AF_INET6;
	memcpy(t->addr, &addr, sizeof(addr));
	/* nscd hands in a tuple of its own in *pat and reads the answer there;
	 * getaddrinfo hands in NULL and takes ours. */
	if (*pat)
		**pat = *t;
	else
		*pat = t;
	if (ttlp)
		*ttlp = NSS_PILOT_TTL;
	errno = saved;
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_pilot_gethostbyname3_r(const char *name, int af, struct hostent *host,
					    char *buffer, size_t buflen, int *errnop, int *herrnop,
					    int32_t *ttlp, char **canonp)
{
	char canon[NSS_PILOT_NAME_MAX + 1], **ptrs;
	struct in6_addr addr;
	size_t off, need;
	int len, saved = errno;
	enum nss_status st;

	if ((len = nss_pilot_name(name, canon)) < 0)
		return fail(errnop, herrnop, NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND);
	if (af == AF_INET) /* Pilot names have IPv6 addresses only */
		return fail(errnop, herrnop, NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND);
	if (af != AF_INET6)
		return fail(errnop, herrnop, NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_RECOVERY);
	/* buffer: [pad][h_aliases: NULL][h_addr_list: addr, NULL][addr][name] */
	off = align_off(buffer, alignof(char *));
	need = off + 3 * sizeof(char *) + sizeof(addr) + (size_t)len + 1;
	if (too_small(need, buflen, errnop, herrnop))
		return NSS_STATUS_TRYAGAIN;
	st = pilot_find(canon, &addr, errnop, herrnop);
	if (st != NSS_STATUS_SUCCESS)
		return st;

	ptrs = (char **)(void *)(buffer + off);
	ptrs[0] = NULL;
	ptrs[1] = buffer + off + 3 * sizeof(char *);
	ptrs[2] = NULL;
	memcpy(ptrs[1], &addr, sizeof(addr));
	host->h_name = ptrs[1] + sizeof(addr);
	memcpy(host->h_name, canon, (size_t)len + 1);
	host->h_aliases = &ptrs[0];
	host->h_addrtype = AF_INET6;
	host->h_length = (int)sizeof(addr);
	host->h_addr_list = &ptrs[1];
	if (ttlp)
		*ttlp = NSS_PILOT_TTL;
	if (canonp)
		*canonp = host->h_name;
	errno = saved;
	return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_pilot_gethostbyname2_r(const char *name, int af, struct hostent *host,
					    char *buffer, size_t buflen, int *errnop, int *herrnop)
{
	return _nss_pilot_gethostbyname3_r(name, af, host, buffer, buflen, errnop, herrnop, NULL,
					   NULL);
}

enum nss_status _nss_pilot_gethostbyname_r(const char *name, struct hostent *host, char *buffer,
					   size_t buflen, int *errnop, int *herrnop)
{
	/* gethostbyname() asks for IPv4, which Pilot names do not have. */
	return _nss_pilot_gethostbyname3_r(name, AF_INET, host, buffer, buflen, errnop, herrnop,
					   NULL, NULL);
}
