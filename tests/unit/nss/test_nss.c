/* test_nss.c - the NSS hosts module (src/nss/nss_pilot.c) against a fake
 * resolve socket: a thread listening on a temporary Unix socket
 * ($PILOT_RESOLVE_SOCKET) answers each connection with a canned reply, the
 * way it is told (whole, byte by byte, not at all, ...), and counts the
 * connections, so the tests can tell that a name was never asked. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "nss_pilot.h"

#define OK_ALICE                                                                                   \
	"{\"status\":\"ok\",\"data\":{\"node_id\":42,\"address\":\"1:0001.0000.002A\","            \
	"\"ipv6\":\"fd4e:1c3a:9b20:1::2a\",\"hostname\":\"alice\",\"networks\":[1],"               \
	"\"trusted\":true}}\n"
#define ALICE6 "fd4e:1c3a:9b20:1::2a"
#define NOT_FOUND "{\"status\":\"error\",\"code\":\"not_found\",\"message\":\"no such node\"}\n"

enum fake_mode {
	F_WHOLE,  /* the reply in one write */
	F_BYTES,  /* one byte per write, with small pauses */
	F_CLOSE,  /* read the request, close without a word */
	F_SILENT, /* read the request, then say nothing until the test ends */
	F_NOREAD, /* accept, then say nothing and read nothing */
	F_REFUSE, /* the reply at once, closed without reading (pilotd over a cap) */
};

struct fake {
	char dir[64], path[96];
	int lfd;
	pthread_t thr;
	atomic_int stop, conns;
	enum fake_mode mode;
	const char *reply;
	size_t reply_len;
	pthread_mutex_t lock;
	char req[512]; /* the last request line */
};

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait (bounded) until FD is readable or the test ends. */
static int wait_in(struct fake *f, int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	for (int i = 0; i < ms / 10; i++) {
		if (atomic_load(&f->stop))
			return 0;
		if (poll(&pfd, 1, 10) > 0)
			return 1;
	}
	return 0;
}

static void serve(struct fake *f, int c)
{
	char req[512];
	size_t n = 0;

	if (f->mode == F_REFUSE) {
		(void)!send(c, f->reply, f->reply_len, MSG_NOSIGNAL);
		return;
	}
	if (f->mode == F_NOREAD) {
		while (!atomic_load(&f->stop))
			msleep(10);
		return;
	}
	while (n < sizeof(req) - 1 && wait_in(f, c, 3000)) {
		ssize_t r = recv(c, req + n, sizeof(req) - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(req, '\n', n))
			break;
	}
	req[n] = '\0';
	pthread_mutex_lock(&f->lock);
	memcpy(f->req, req, n + 1);
	pthread_mutex_unlock(&f->lock);
	switch (f->mode) {
	case F_WHOLE:
		(void)!send(c, f->reply, f->reply_len, MSG_NOSIGNAL);
		break;
	case F_BYTES:
		for (size_t i = 0; i < f->reply_len; i++) {
			if (send(c, f->reply + i, 1, MSG_NOSIGNAL) != 1)
				break;
			if (i % 8 == 0)
				msleep(1);
		}
		break;
	case F_SILENT:
		while (!atomic_load(&f->stop))
			msleep(10);
		break;
	default:
		break;
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
		int c;
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		atomic_fetch_add(&f->conns, 1);
		serve(f, c);
		close(c);
	}
	return NULL;
}

static struct fake *fake_start(enum fake_mode mode, const char *reply, size_t len)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	assert_non_null(f);
	strcpy(f->dir, "/tmp/pilot-test-nss.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/resolve.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 64), 0);
	f->mode = mode;
	f->reply = reply;
	f->reply_len = reply ? (len ? len : strlen(reply)) : 0;
	pthread_mutex_init(&f->lock, NULL);
	assert_int_equal(setenv("PILOT_RESOLVE_SOCKET", f->path, 1), 0);
	assert_int_equal(pthread_create(&f->thr, NULL, fake_main, f), 0);
	return f;
}

/* Stop the server; returns how many connections it saw, counting any still
 * waiting in the backlog. */
static int fake_stop(struct fake *f)
{
	int n, c;

	atomic_store(&f->stop, 1);
	pthread_join(f->thr, NULL);
	n = atomic_load(&f->conns);
	fcntl(f->lfd, F_SETFL, fcntl(f->lfd, F_GETFL) | O_NONBLOCK);
	while ((c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		n++;
		close(c);
	}
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return n;
}

/* gethostbyname4_r with a roomy buffer */
struct res4 {
	enum nss_status st;
	int err, herr;
	int32_t ttl;
	struct gaih_addrtuple *at;
	char buf[1024];
};

static void lookup4(const char *name, struct res4 *r)
{
	memset(r, 0, sizeof(*r));
	r->ttl = -1;
	r->st = _nss_pilot_gethostbyname4_r(name, &r->at, r->buf, sizeof(r->buf), &r->err, &r->herr,
					    &r->ttl);
}

static void assert_addr(const void *addr16, const char *want)
{
	struct in6_addr w;
	assert_int_equal(inet_pton(AF_INET6, want, &w), 1);
	assert_memory_equal(addr16, &w, 16);
}

/* ------------------------------------------------------------ names */

static void test_name_rules(void **state)
{
	static const struct {
		const char *in, *canon;
	} cases[] = {
	    {"alice.pilot", "alice.pilot"},
	    {"Alice.PILOT", "alice.pilot"},
	    {"alice.pilot.", "alice.pilot"},
	    {"a.pilot", "a.pilot"},
	    {"a-1.Pilot", "a-1.pilot"},
	    {"x1.pilot", "x1.pilot"},
	    {"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzA.pilot",
	     "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyza.pilot"},
	    {"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzA.pilot.",
	     "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyza.pilot"},
	    /* not ours */
	    {"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyzAB.pilot", NULL},
	    {"localhost", NULL},
	    {"example.com", NULL},
	    {"pilot", NULL},
	    {".pilot", NULL},
	    {"..pilot", NULL},
	    {"alice.pilot..", NULL},
	    {"alice.pilot.com", NULL},
	    {"alicepilot", NULL},
	    {"foo.alice.pilot", NULL},
	    {"al_ice.pilot", NULL},
	    {"al ice.pilot", NULL},
	    {"al\"ice.pilot", NULL},
	    {"al\\ice.pilot", NULL},
	    {"-alice.pilot", NULL},
	    {"alice-.pilot", NULL},
	    {"42.pilot", NULL},
	    {"al\xc3\xa9.pilot", NULL},
	    {"", NULL},
	    {".", NULL},
	};
	char canon[NSS_PILOT_NAME_MAX + 1];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = nss_pilot_name(cases[i].in, canon);
		if (cases[i].canon == NULL) {
			if (n != -1)
				fail_msg("%s: accepted as %s", cases[i].in, canon);
			continue;
		}
		if (n < 0)
			fail_msg("%s: refused", cases[i].in);
		assert_int_equal(n, (int)strlen(cases[i].canon));
		assert_string_equal(canon, cases[i].canon);
	}
}

/* ------------------------------------------------------------ the parser */

static void test_parser(void **state)
{
	static const struct {
		const char *in;
		enum nss_pilot_reply want;
	} cases[] = {
	    {OK_ALICE, NSS_PILOT_REPLY_OK},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}}\n", NSS_PILOT_REPLY_OK},
	    {" { \"data\" : { \"x\" : [ 1, -2.5e+3, true, false, null, {\"ipv6\":\"::1\"}, [] ], "
	     "\"ipv6\" : \"fd00::1\" } , \"status\" : \"ok\" } \r\n",
	     NSS_PILOT_REPLY_OK},
	    {"{\"st\\u0061tus\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}}\n", NSS_PILOT_REPLY_OK},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}}", NSS_PILOT_REPLY_OK}, /* EOF */
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}}\ntrailing junk",
	     NSS_PILOT_REPLY_OK},
	    {NOT_FOUND, NSS_PILOT_REPLY_NOTFOUND},
	    {"{\"status\":\"error\",\"code\":\"bad_request\"}\n", NSS_PILOT_REPLY_NOTFOUND},
	    {"{\"status\":\"error\",\"code\":\"timeout\"}\n", NSS_PILOT_REPLY_AGAIN},
	    {"{\"status\":\"error\",\"code\":\"registry_unavailable\"}\n", NSS_PILOT_REPLY_AGAIN},
	    {"{\"status\":\"error\",\"code\":\"rate_limited\"}\n", NSS_PILOT_REPLY_AGAIN},
	    {"{\"status\":\"error\",\"code\":\"forbidden\"}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"error\"}\n", NSS_PILOT_REPLY_BAD},
	    /* not an answer */
	    {"", NSS_PILOT_REPLY_BAD},
	    {"\n", NSS_PILOT_REPLY_BAD},
	    {"hello\n", NSS_PILOT_REPLY_BAD},
	    {"[]\n", NSS_PILOT_REPLY_BAD},
	    {"\"ok\"\n", NSS_PILOT_REPLY_BAD},
	    {"{}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\"}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":null}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"ipv6\":\"fd00::1\"}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"x\":{\"ipv6\":\"fd00::1\"}}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":[{\"ipv6\":\"fd00::1\"}]}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::zz\"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"2001:db8::1\"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"::ffff:198.18.0.1\"}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1 \"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00:0000:0000:0000:0000:0000:0000:0000:1\"}}"
	     "\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::\\u0031\"}}\n", NSS_PILOT_REPLY_OK},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\\u0000\"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":1}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":1,\"data\":{\"ipv6\":\"fd00::1\"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"okay\",\"data\":{\"ipv6\":\"fd00::1\"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"ipv6\":\"fd00::2\"}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"},\"data\":{}}\n",
	     NSS_PILOT_REPLY_BAD},
	    /* truncated or malformed JSON */
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"},}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":[1,]}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":01}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":1.}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":tru}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":\"a\\x\"}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":\"a\tb\"}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"}} x\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\n\"data\":{\"ipv6\":\"fd00::1\"}}\n", NSS_PILOT_REPLY_BAD},
	    {"{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"n\":\"\\u12\"}}\n",
	     NSS_PILOT_REPLY_BAD},
	    {"{\"status\" \"ok\"}\n", NSS_PILOT_REPLY_BAD},
	    {"{status:\"ok\"}\n", NSS_PILOT_REPLY_BAD},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		size_t len = strlen(in);
		struct nss_pilot_parser p;
		enum nss_pilot_reply r = nss_pilot_parse_reply(in, len, NULL), rb;

		if (r != cases[i].want)
			fail_msg("case %zu (%s): %d, want %d", i, in, (int)r, (int)cases[i].want);
		/* the same, one byte at a time */
		nss_pilot_parser_init(&p);
		rb = NSS_PILOT_REPLY_MORE;
		for (size_t j = 0; j < len && rb == NSS_PILOT_REPLY_MORE; j++)
			rb = nss_pilot_parser_feed(&p, in + j, 1);
		if (rb == NSS_PILOT_REPLY_MORE)
			rb = nss_pilot_parser_end(&p);
		if (rb != r)
			fail_msg("case %zu bytewise: %d, whole: %d", i, (int)rb, (int)r);
	}
}

static void test_parser_limits(void **state)
{
	size_t n = NSS_PILOT_REPLY_MAX + 100, o = 0;
	char *big = malloc(n + 1);
	struct in6_addr a;
	(void)state;

	/* nesting beyond the limit */
	assert_non_null(big);
	o = (size_t)sprintf(big, "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"x\":");
	for (int i = 0; i < NSS_PILOT_DEPTH_MAX; i++)
		big[o++] = '[';
	for (int i = 0; i < NSS_PILOT_DEPTH_MAX; i++)
		big[o++] = ']';
	memcpy(big + o, "}}\n", 4);
	assert_int_equal(nss_pilot_parse_reply(big, strlen(big), NULL), NSS_PILOT_REPLY_BAD);
	/* within it */
	o = (size_t)sprintf(big, "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"x\":");
	for (int i = 0; i < NSS_PILOT_DEPTH_MAX - 2; i++)
		big[o++] = '[';
	for (int i = 0; i < NSS_PILOT_DEPTH_MAX - 2; i++)
		big[o++] = ']';
	memcpy(big + o, "}}\n", 4);
	assert_int_equal(nss_pilot_parse_reply(big, strlen(big), &a), NSS_PILOT_REPLY_OK);
	assert_addr(&a, "fd00::1");

	/* a long but valid line (many networks) passes; one past the limit not */
	o = (size_t)sprintf(big,
			    "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"networks\":[");
	while (o < NSS_PILOT_REPLY_MAX - 100)
		o += (size_t)sprintf(big + o, "65535,");
	o += (size_t)sprintf(big + o, "1]}}\n");
	assert_int_equal(nss_pilot_parse_reply(big, o, NULL), NSS_PILOT_REPLY_OK);
	o = (size_t)sprintf(big, "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\",\"pad\":\"");
	memset(big + o, 'a', n - o);
	big[n] = '\0';
	assert_int_equal(nss_pilot_parse_reply(big, n, NULL), NSS_PILOT_REPLY_BAD);
	free(big);
}

/* ------------------------------------------------------------ lookups */

static void test_ok(void **state)
{
	struct fake *f = fake_start(F_WHOLE, OK_ALICE, 0);
	struct res4 r;
	(void)state;

	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_SUCCESS);
	assert_non_null(r.at);
	assert_ptr_equal(r.at->next, NULL);
	assert_int_equal(r.at->family, AF_INET6);
	assert_string_equal(r.at->name, "alice.pilot");
	assert_addr(r.at->addr, ALICE6);
	assert_int_equal(r.at->scopeid, 0);
	assert_int_equal(r.ttl, NSS_PILOT_TTL);
	/* everything we hand back lives in the caller's buffer */
	assert_true((char *)r.at >= r.buf && (char *)(r.at + 1) <= r.buf + sizeof(r.buf));
	assert_true(r.at->name > r.buf && r.at->name < r.buf + sizeof(r.buf));
	assert_string_equal(f->req, "{\"cmd\":\"find\",\"args\":{\"hostname\":\"alice.pilot\"}}\n");

	/* any case, a final dot: asked and named in lower case */
	lookup4("ALICE.Pilot.", &r);
	assert_int_equal(r.st, NSS_STATUS_SUCCESS);
	assert_string_equal(r.at->name, "alice.pilot");
	assert_string_equal(f->req, "{\"cmd\":\"find\",\"args\":{\"hostname\":\"alice.pilot\"}}\n");
	assert_int_equal(fake_stop(f), 2);
}

static void test_ok_bytewise(void **state)
{
	static const char reply[] =
	    "{ \"data\" : {\"networks\":[1,2,{\"ipv6\":\"2001:db8::1\"}],\"hostname\":\"a\\\"b\","
	    "\"ipv6\" : \"fd4e:1c3a:9b20:1::2a\"}, \"status\" : \"ok\" }\n";
	struct fake *f = fake_start(F_BYTES, reply, 0);
	struct res4 r;
	(void)state;

	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_SUCCESS);
	assert_addr(r.at->addr, ALICE6);
	assert_int_equal(fake_stop(f), 1);
}

static void test_ok_hostent(void **state)
{
	struct fake *f = fake_start(F_WHOLE, OK_ALICE, 0);
	struct hostent h;
	char buf[512], *canon = NULL;
	int err = 0, herr = 0;
	int32_t ttl = -1;
	(void)state;

	assert_int_equal(_nss_pilot_gethostbyname3_r("Alice.pilot", AF_INET6, &h, buf, sizeof(buf),
						     &err, &herr, &ttl, &canon),
			 NSS_STATUS_SUCCESS);
	assert_string_equal(h.h_name, "alice.pilot");
	assert_ptr_equal(canon, h.h_name);
	assert_int_equal(ttl, NSS_PILOT_TTL);
	assert_int_equal(h.h_addrtype, AF_INET6);
	assert_int_equal(h.h_length, 16);
	assert_non_null(h.h_aliases);
	assert_ptr_equal(h.h_aliases[0], NULL);
	assert_non_null(h.h_addr_list[0]);
	assert_ptr_equal(h.h_addr_list[1], NULL);
	assert_addr(h.h_addr_list[0], ALICE6);
	assert_true(h.h_name > buf && h.h_name < buf + sizeof(buf));

	memset(&h, 0, sizeof(h));
	assert_int_equal(_nss_pilot_gethostbyname2_r("alice.pilot", AF_INET6, &h, buf + 3,
						     sizeof(buf) - 3, &err, &herr),
			 NSS_STATUS_SUCCESS);
	assert_addr(h.h_addr_list[0], ALICE6);
	assert_int_equal((uintptr_t)h.h_addr_list % sizeof(char *), 0);
	assert_int_equal(fake_stop(f), 2);
}

/* nscd hands in a tuple of its own and reads the answer there. */
static void test_nscd_tuple(void **state)
{
	struct fake *f = fake_start(F_WHOLE, OK_ALICE, 0);
	struct gaih_addrtuple mine, *at = &mine;
	char buf[512];
	int err = 0, herr = 0;
	(void)state;

	memset(&mine, 0xa5, sizeof(mine));
	assert_int_equal(
	    _nss_pilot_gethostbyname4_r("alice.pilot", &at, buf, sizeof(buf), &err, &herr, NULL),
	    NSS_STATUS_SUCCESS);
	assert_ptr_equal(at, &mine);
	assert_ptr_equal(mine.next, NULL);
	assert_int_equal(mine.family, AF_INET6);
	assert_string_equal(mine.name, "alice.pilot");
	assert_addr(mine.addr, ALICE6);
	assert_int_equal(fake_stop(f), 1);
}

static void test_not_found(void **state)
{
	struct fake *f = fake_start(F_WHOLE, NOT_FOUND, 0);
	struct res4 r;
	struct hostent h;
	char buf[512];
	int err = 0, herr = 0;
	(void)state;

	lookup4("nobody.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_NOTFOUND);
	assert_int_equal(r.herr, HOST_NOT_FOUND);
	assert_null(r.at);
	assert_string_equal(f->req,
			    "{\"cmd\":\"find\",\"args\":{\"hostname\":\"nobody.pilot\"}}\n");
	assert_int_equal(_nss_pilot_gethostbyname3_r("nobody.pilot", AF_INET6, &h, buf, sizeof(buf),
						     &err, &herr, NULL, NULL),
			 NSS_STATUS_NOTFOUND);
	assert_int_equal(herr, HOST_NOT_FOUND);
	assert_int_equal(fake_stop(f), 2);
}

static void test_try_again(void **state)
{
	struct fake *f = fake_start(F_WHOLE, "{\"status\":\"error\",\"code\":\"timeout\"}\n", 0);
	struct res4 r;
	(void)state;

	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_TRYAGAIN);
	assert_int_equal(r.herr, TRY_AGAIN);
	assert_int_not_equal(r.err, ERANGE); /* else glibc would retry with a bigger buffer */
	assert_int_equal(fake_stop(f), 1);
}

/* pilotd over its connection caps answers rate_limited and closes before
 * reading the question: whether our send comes before the close or after
 * it (EPIPE), the lookup is "try again" at once, never UNAVAIL. */
static void test_refused(void **state)
{
	static const char line[] = "{\"status\":\"error\",\"code\":\"rate_limited\","
				   "\"message\":\"too many connections\",\"hint\":\"\"}\n";
	struct fake *f = fake_start(F_REFUSE, line, 0);
	struct res4 r;
	double t0 = now_s();
	(void)state;

	for (int i = 0; i < 20; i++) {
		lookup4("alice.pilot", &r);
		assert_int_equal(r.st, NSS_STATUS_TRYAGAIN);
		assert_int_equal(r.herr, TRY_AGAIN);
		if (i % 2)
			msleep(2); /* let the close come first now and then */
	}
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(fake_stop(f), 20);
}

/* Garbage, truncated and oversized replies: never a crash, never an address. */
static void test_garbage(void **state)
{
	static const char *const replies[] = {
	    "garbage\n",
	    "\n",
	    "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd4e:1c3a:9b20:1::2a\"}",
	    "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd4e:1c3a:9",
	    "{\"status\":\"ok\",\"data\":{\"ipv6\":\"2001:db8::1\"}}\n",
	    "{\"status\":\"ok\",\"data\":{\"ipv6\":\"fd00::1\"},\"status\":\"error\"}\n",
	    "{\"status\":\"error\",\"code\":\"internal\"}\n",
	    "\x00\x01\x02\xff\n",
	};
	struct res4 r;
	(void)state;

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		size_t len = i == 7 ? 5 : strlen(replies[i]);
		struct fake *f = fake_start(i % 2 ? F_BYTES : F_WHOLE, replies[i], len);
		lookup4("alice.pilot", &r);
		if (r.st != NSS_STATUS_UNAVAIL && r.st != NSS_STATUS_NOTFOUND)
			fail_msg("reply %zu: status %d", i, (int)r.st);
		assert_null(r.at);
		assert_int_equal(fake_stop(f), 1);
	}
	/* closed without a word */
	struct fake *f = fake_start(F_CLOSE, NULL, 0);
	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_UNAVAIL);
	assert_int_equal(fake_stop(f), 1);

	/* an endless line: the module stops reading at the limit */
	size_t n = 4 * NSS_PILOT_REPLY_MAX;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	f = fake_start(F_WHOLE, big, n);
	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_UNAVAIL);
	assert_int_equal(fake_stop(f), 1);
	free(big);
}

/* A daemon that accepts but never answers costs at most the timeout. */
static void test_silent(void **state)
{
	static const enum fake_mode modes[] = {F_SILENT, F_NOREAD};
	struct res4 r;
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		struct fake *f = fake_start(modes[i], NULL, 0);
		double t0 = now_s(), dt;
		lookup4("alice.pilot", &r);
		dt = now_s() - t0;
		assert_int_equal(r.st, NSS_STATUS_TRYAGAIN);
		assert_int_equal(r.herr, TRY_AGAIN);
		assert_int_not_equal(r.err, ERANGE);
		if (dt < NSS_PILOT_TIMEOUT_MS / 1000.0 - 0.2 ||
		    dt > NSS_PILOT_TIMEOUT_MS / 1000.0 + 1.5)
			fail_msg("mode %zu: gave up after %.2f s", i, dt);
		assert_int_equal(fake_stop(f), 1);
	}
}

/* Names that are not Pilot hostnames, and IPv4, never reach the socket. */
static void test_not_ours(void **state)
{
	static const char *const names[] = {
	    "localhost", "example.com", "alice.pilot.com", "foo.alice.pilot", "-x.pilot",
	    "a_b.pilot", "pilot",	".pilot",	   "12345.pilot",     "",
	};
	struct fake *f = fake_start(F_WHOLE, OK_ALICE, 0);
	struct res4 r;
	struct hostent h;
	char buf[512];
	int err = 0, herr = 0;
	(void)state;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		lookup4(names[i], &r);
		assert_int_equal(r.st, NSS_STATUS_NOTFOUND);
		assert_int_equal(r.herr, HOST_NOT_FOUND);
		assert_int_equal(_nss_pilot_gethostbyname3_r(names[i], AF_INET6, &h, buf,
							     sizeof(buf), &err, &herr, NULL, NULL),
				 NSS_STATUS_NOTFOUND);
	}
	assert_int_equal(
	    _nss_pilot_gethostbyname2_r("alice.pilot", AF_INET, &h, buf, sizeof(buf), &err, &herr),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(herr, HOST_NOT_FOUND);
	assert_int_equal(
	    _nss_pilot_gethostbyname_r("alice.pilot", &h, buf, sizeof(buf), &err, &herr),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(
	    _nss_pilot_gethostbyname2_r("alice.pilot", AF_UNIX, &h, buf, sizeof(buf), &err, &herr),
	    NSS_STATUS_UNAVAIL);
	assert_int_equal(err, EAFNOSUPPORT);
	assert_int_equal(fake_stop(f), 0);
}

static void test_small_buffer(void **state)
{
	struct fake *f = fake_start(F_WHOLE, OK_ALICE, 0);
	alignas(16) char buf[512];
	struct gaih_addrtuple *at;
	struct hostent h;
	int err, herr, conns;
	size_t n;
	(void)state;

	/* Too small: ERANGE, TRYAGAIN, NETDB_INTERNAL (glibc's cue to grow the
	 * buffer), checked before the socket is asked. */
	for (n = 0;; n++) {
		enum nss_status st;
		at = NULL;
		err = herr = 0;
		st = _nss_pilot_gethostbyname4_r("alice.pilot", &at, buf + 1, n, &err, &herr, NULL);
		if (st == NSS_STATUS_SUCCESS)
			break;
		assert_int_equal(st, NSS_STATUS_TRYAGAIN);
		assert_int_equal(err, ERANGE);
		assert_int_equal(herr, NETDB_INTERNAL);
		assert_null(at);
		assert_true(n < sizeof(buf) - 1);
	}
	assert_true(n >= sizeof(struct gaih_addrtuple) + sizeof("alice.pilot"));
	assert_int_equal((uintptr_t)at % alignof(struct gaih_addrtuple), 0);
	assert_true((char *)at >= buf + 1 && at->name + strlen(at->name) < buf + 1 + n);
	assert_addr(at->addr, ALICE6);
	conns = atomic_load(&f->conns);

	for (n = 0;; n++) {
		enum nss_status st;
		err = herr = 0;
		st = _nss_pilot_gethostbyname3_r("alice.pilot", AF_INET6, &h, buf + 5, n, &err,
						 &herr, NULL, NULL);
		if (st == NSS_STATUS_SUCCESS)
			break;
		assert_int_equal(st, NSS_STATUS_TRYAGAIN);
		assert_int_equal(err, ERANGE);
		assert_int_equal(herr, NETDB_INTERNAL);
		assert_true(n < sizeof(buf) - 5);
	}
	assert_true(h.h_name + strlen(h.h_name) < buf + 5 + n);
	assert_addr(h.h_addr_list[0], ALICE6);
	/* one connection per successful lookup, none for the refusals */
	assert_int_equal(conns, 1);
	assert_int_equal(fake_stop(f), 2);
}

static void test_absent(void **state)
{
	char dir[] = "/tmp/pilot-test-nss.XXXXXX", path[64], longpath[200];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct res4 r;
	int fd;
	FILE *fp;
	(void)state;

	assert_non_null(mkdtemp(dir));
	/* no socket there */
	snprintf(path, sizeof(path), "%s/resolve.sock", dir);
	setenv("PILOT_RESOLVE_SOCKET", path, 1);
	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_UNAVAIL);
	assert_int_equal(r.err, ENOENT);
	assert_null(r.at);

	/* a socket nobody listens on any more (pilotd died) */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_UNAVAIL);
	assert_int_equal(r.err, ECONNREFUSED);
	unlink(path);

	/* a plain file */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_UNAVAIL);
	unlink(path);

	/* a path that does not fit sockaddr_un */
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("PILOT_RESOLVE_SOCKET", longpath, 1);
	lookup4("alice.pilot", &r);
	assert_int_equal(r.st, NSS_STATUS_UNAVAIL);
	rmdir(dir);
}

struct worker {
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20; i++) {
		struct res4 r;
		lookup4(i % 2 ? "alice.pilot" : "Alice.Pilot.", &r);
		if (r.st == NSS_STATUS_SUCCESS && strcmp(r.at->name, "alice.pilot") == 0)
			w->ok++;
	}
	return NULL;
}

/* No shared state: lookups from many threads at once all succeed. */
static void test_threads(void **state)
{
	struct fake *f = fake_start(F_WHOLE, OK_ALICE, 0);
	pthread_t t[8];
	struct worker w[8];
	(void)state;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 20);
	}
	assert_int_equal(fake_stop(f), 160);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_rules),	  cmocka_unit_test(test_parser),
	    cmocka_unit_test(test_parser_limits), cmocka_unit_test(test_ok),
	    cmocka_unit_test(test_ok_bytewise),	  cmocka_unit_test(test_ok_hostent),
	    cmocka_unit_test(test_nscd_tuple),	  cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_try_again),	  cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_silent),	  cmocka_unit_test(test_not_ours),
	    cmocka_unit_test(test_small_buffer),  cmocka_unit_test(test_absent),
	    cmocka_unit_test(test_threads),	  cmocka_unit_test(test_refused),
	};
	/* Sockets and threads: should anything ever hang, fail instead. */
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
