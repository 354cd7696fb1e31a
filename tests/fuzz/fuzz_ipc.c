/* fuzz_ipc.c - pilotd as a whole, from its two untrusted inputs besides
 * the tunnel: request lines on its control and name service sockets
 * (ipc.c's framing and dispatch, every pilotd_cmd_* handler's argument
 * checks), and the registry's answers to the calls the daemon makes (regc.c
 * and the handlers' callbacks: register, trusts, events, lookups, joins,
 * policy views, the admin passthroughs).
 *
 * The daemon is the real one (pilotd_open: store, identity, tables, data
 * path, audit, registry client, both sockets), in a network namespace of
 * its own when the process may make one, so that pilot0 and its addresses
 * are real too but nobody else's.  Only the transport is the harness's:
 * httpc_post and httpc_cancel are wrapped at link time (FUZZ_LDFLAGS below,
 * and the replay's LDFLAGS in Makefile.am), so that every HTTPS request
 * the daemon makes is held here and answered from the input; webhook
 * posts (any URL but the registry's) are refused as unreachable.
 * FUZZ_LDFLAGS: -Wl,--wrap=httpc_post -Wl,--wrap=httpc_cancel
 *
 * The input is NUL-separated sections:
 *   section 0   request lines for the control socket, written at once (the
 *               daemon reads them one at a time).  A first line starting
 *               with '!' holds directives instead: 'p' the lines go to the
 *               name service socket, 'r' register again, 'h' heartbeat now.
 *   then        the registry's answers, taken in order by the calls as the
 *               daemon makes them:  [STATUS SP] BODY  (STATUS three
 *               digits, default 200; "ERR" the registry does not answer),
 *               or  EVT SP LINES  (lines pushed down the events stream).
 *               Calls left over when the sections run out are failed as
 *               unreachable.
 * In answers, @kN is the public key (base64) of fixture node N (7 this
 * node, 8 to 12 others) and @seq a number above every event seq so far.
 *
 * The baseline (fz_open): registered as node 7 in fd5e:1f2a:3b4c::/48,
 * trusted with node 9, member of network 1 with node 8, events stream
 * open.  State carries over from input to input as in a running daemon
 * and is built again every FZ_REBUILD inputs.
 *
 * Oracles: every request line gets exactly one answer line, a JSON
 * envelope ({"status":"ok","data":{...}} or an error with code, message
 * and hint strings), once the registry calls are answered; every request
 * body the daemon sends is a JSON object naming its op. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "httpc.h"
#include "json.h"
#include "log.h"
#include "pilotd.h"
#include "util.h"

#include "fuzz_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
struct httpc_req *__wrap_httpc_post(struct httpc *h, const char *url, const char *const *headers,
				    const char *body, size_t len, const struct httpc_opts *o,
				    httpc_done_cb done, httpc_line_cb line_cb, void *arg);
void __wrap_httpc_cancel(struct httpc_req *r);
void __real_httpc_cancel(struct httpc_req *r);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

#define FZ_REGISTRY "198.18.0.1:8443"
#define FZ_SELF 7
#define FZ_NODES 6 /* fixture nodes 7 .. 12 */
#define FZ_PREFIX "fd5e:1f2a:3b4c::/48"
#define FZ_REBUILD 4096
#define FZ_AUDIT_MAX 16 /* audit records kept */
#define FZ_PRUNE 8	/* inputs between prunes */
#define FZ_ROUNDS 4000	/* event-loop turns per input at most */
#define FZ_STUCK 200	/* turns with nothing to do before a request counts as lost */

/* A request the daemon made, held until the harness answers it. */
struct fz_call {
	struct fz_call *next;
	httpc_done_cb done;
	httpc_line_cb line;
	void *arg;
	char op[64];
	int registry; /* to the registry (else a webhook) */
};

static struct fz {
	char dir[64], ctl[128], res[128], *argv[40];
	int argc;
	struct event_base *base;
	struct pilotd d;
	int open, netns, verbose;
	int ctl_fd, res_fd;
	struct fz_call *calls, **tail; /* in the order they were made */
	struct fz_call *stream;	       /* the events stream, held open */
	int baseline;		       /* answering the baseline's calls */
	uint8_t pk[FZ_NODES][32];
	char pk_b64[FZ_NODES][48];
	uint64_t seq, inputs;
} fz;

/* ---------------------------------------------------------------- transport */

struct httpc_req *__wrap_httpc_post(struct httpc *h, const char *url, const char *const *headers,
				    const char *body, size_t len, const struct httpc_opts *o,
				    httpc_done_cb done, httpc_line_cb line_cb, void *arg)
{
	static const char reg[] = "https://" FZ_REGISTRY "/v1/";
	struct fz_call *c = calloc(1, sizeof(*c));
	const char *op;

	(void)h;
	(void)headers;
	(void)o;
	CHECK(c);
	c->done = done;
	c->line = line_cb;
	c->arg = arg;
	c->registry = strncmp(url, reg, sizeof(reg) - 1) == 0;
	if (c->registry) {
		char err[128];
		yajl_val v;
		const char *bop = NULL;

		op = strrchr(url, '/') + 1;
		snprintf(c->op, sizeof(c->op), "%s", op);
		/* What the daemon sends is a JSON object; a node request
		 * names its op (regmsg_build). */
		v = json_parse(body, len, 0, err, sizeof(err));
		CHECK(v && YAJL_IS_OBJECT(v));
		if (strstr(url, "/v1/node/"))
			CHECK(json_get_str(v, "op", &bop) == 0 && strcmp(bop, c->op) == 0);
		yajl_tree_free(v);
	}
	if (c->registry && line_cb && strcmp(c->op, "events") == 0) {
		CHECK(!fz.stream); /* regc holds one stream at a time */
		fz.stream = c;
	} else {
		*fz.tail = c;
		fz.tail = &c->next;
	}
	if (fz.verbose)
		fprintf(stderr, "fuzz_ipc: call %s%s\n", c->registry ? c->op : url,
			c == fz.stream ? " (stream)" : "");
	return (struct httpc_req *)c;
}

static int fz_unlink(struct fz_call *c)
{
	if (c == fz.stream) {
		fz.stream = NULL;
		return 1;
	}
	for (struct fz_call **p = &fz.calls; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			if (!*p)
				fz.tail = p;
			return 1;
		}
	}
	return 0;
}

void __wrap_httpc_cancel(struct httpc_req *r)
{
	struct fz_call *c = (struct fz_call *)r;

	if (fz_unlink(c))
		free(c);
	else
		__real_httpc_cancel(r);
}

/* ---------------------------------------------------------------- answers */

/* The @words of an answer (see the header). */
static size_t fz_word(struct fz_buf *b, const char *w, size_t rest, void *arg)
{
	size_t n;
	int k;

	(void)arg;
	if ((n = fz_is_word(w, rest, "seq"))) {
		fz_put_u(b, ++fz.seq);
		return n;
	}
	if (rest < 2 || w[0] != 'k')
		return 0;
	if (w[1] >= '7' && w[1] <= '9') {
		k = w[1] - '7';
		n = 2;
	} else if (rest >= 3 && w[1] == '1' && w[2] >= '0' && w[2] <= '2') {
		k = w[2] - '0' + 3;
		n = 3;
	} else {
		return 0;
	}
	fz_put(b, fz.pk_b64[k], strlen(fz.pk_b64[k]));
	return n;
}

/* The oldest call, answered with section \p s (NULL: unreachable). */
static void fz_answer(const char *s, size_t len)
{
	struct fz_call *c = fz.calls;
	struct fz_buf b = {0};
	long status = 200;

	fz_unlink(c);
	/* Without a namespace of our own, registering would bring pilot0 up
	 * on the host: the registry never answers it then. */
	if (!s || !c->registry || (len >= 3 && memcmp(s, "ERR", 3) == 0) ||
	    (!fz.netns && strcmp(c->op, "register") == 0)) {
		if (fz.verbose)
			fprintf(stderr, "fuzz_ipc: %s: unreachable\n", c->op);
		c->done(c->arg, -ECONNREFUSED, 0, NULL, 0, "Connection refused");
		free(c);
		return;
	}
	if (len >= 4 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
	    s[2] <= '9' && s[3] == ' ') {
		status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
		s += 4;
		len -= 4;
	}
	fz_expand_words(&b, s, len, fz_word, NULL);
	if (fz.verbose)
		fprintf(stderr, "fuzz_ipc: %s: %ld %.*s\n", c->op, status, (int)b.len, b.p);
	c->done(c->arg, 0, status, b.p, b.len, NULL);
	free(c);
	free(b.p);
}

/* Lines down the events stream, as httpc hands them: one at a time,
 * without the newline. */
static void fz_events(const char *s, size_t len)
{
	struct fz_buf b = {0};
	const char *p, *end;

	if (!fz.stream)
		return;
	fz_expand_words(&b, s, len, fz_word, NULL);
	for (p = b.p, end = b.p + b.len; p < end && fz.stream;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (fz.verbose)
			fprintf(stderr, "fuzz_ipc: event %.*s\n", (int)l, p);
		fz.stream->line(fz.stream->arg, p, l);
		p += l + 1;
	}
	free(b.p);
}

/* ---------------------------------------------------------------- sockets */

static int fz_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0 && strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path));
	CHECK(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	return fd;
}

static void fz_write(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t k = write(fd, s, len);

		if (k < 0 && errno == EAGAIN) {
			event_base_loop(fz.base, EVLOOP_NONBLOCK);
			continue;
		}
		CHECK(k > 0);
		s += k;
		len -= (size_t)k;
	}
}

/* One answer line: a JSON envelope of doc/IPC.md. */
static void fz_check_answer(const char *line, size_t len)
{
	const char *status = NULL, *code = NULL, *msg = NULL, *hint = NULL;
	char err[128];
	yajl_val v = json_parse(line, len, 0, err, sizeof(err));

	if (fz.verbose)
		fprintf(stderr, "fuzz_ipc: answer %.*s\n", (int)(len > 400 ? 400 : len), line);
	CHECK(v && YAJL_IS_OBJECT(v));
	CHECK(json_get_str(v, "status", &status) == 0);
	if (strcmp(status, "ok") == 0) {
		yajl_val data = json_get(v, "data");
		CHECK(data && YAJL_IS_OBJECT(data));
	} else {
		CHECK(strcmp(status, "error") == 0);
		CHECK(json_get_str(v, "code", &code) == 0 && code[0]);
		CHECK(json_get_str(v, "message", &msg) == 0);
		CHECK(json_get_str(v, "hint", &hint) == 0);
	}
	yajl_tree_free(v);
}

/* Read what the daemon answered on \p fd; \retval complete lines seen. */
static unsigned fz_read_answers(int fd, struct fz_buf *acc)
{
	unsigned lines = 0;
	char buf[65536];
	ssize_t k;

	while ((k = read(fd, buf, sizeof(buf))) > 0)
		fz_put(acc, buf, (size_t)k);
	CHECK(k < 0 && errno == EAGAIN); /* the daemon never closes on us */
	for (char *nl; acc->len && (nl = memchr(acc->p, '\n', acc->len)) != NULL;) {
		size_t l = (size_t)(nl - acc->p);

		fz_check_answer(acc->p, l);
		memmove(acc->p, nl + 1, acc->len - l - 1);
		acc->len -= l + 1;
		lines++;
	}
	return lines;
}

/* ---------------------------------------------------------------- the daemon */

/* What the registry answers while the baseline is set up. */
static void fz_baseline_answer(void)
{
	static const struct {
		const char *op, *body;
	} canned[] = {
	    {"register", "{\"node_id\":7,\"address\":\"0:0000.0000.0007\",\"ipv6\":"
			 "\"fd5e:1f2a:3b4c::7\",\"prefix\":\"" FZ_PREFIX "\",\"networks\":[0],"
			 "\"beacon_key\":\"@k12\",\"beacon_port\":4243,\"score\":50}"},
	    {"trusts", "{\"peers\":[{\"node_id\":9,\"public_key\":\"@k9\",\"address\":"
		       "\"0:0000.0000.0009\",\"hostname\":\"nine\",\"public\":false}]}"},
	    {"network_join",
	     "{\"network\":{\"network_id\":1,\"name\":\"fz-net\",\"join_rule\":\"open\","
	     "\"members\":2},\"members\":[{\"node_id\":8,\"public_key\":\"@k8\",\"address\":"
	     "\"0:0000.0000.0008\",\"hostname\":\"eight\",\"public\":true}]}"},
	    {"policy_view", "{\"network_id\":1,\"version\":1,\"default_deny\":false,\"allow\":[]}"},
	};
	const char *body = "{}";

	for (size_t i = 0; i < nitems(canned); i++)
		if (strcmp(fz.calls->op, canned[i].op) == 0)
			body = canned[i].body;
	fz_answer(body, strlen(body));
}

static void fz_close(void)
{
	if (!fz.open)
		return;
	close(fz.ctl_fd);
	close(fz.res_fd);
	pilotd_free(&fz.d);
	while (fz.calls) {
		struct fz_call *c = fz.calls;
		fz_unlink(c);
		free(c);
	}
	event_base_free(fz.base);
	fz_rmdir(fz.dir);
	memset(&fz.d, 0, sizeof(fz.d));
	fz.open = 0;
}

static void fz_arg(const char *a)
{
	CHECK((size_t)fz.argc + 1 < nitems(fz.argv));
	fz.argv[fz.argc++] = (char *)a;
	fz.argv[fz.argc] = NULL;
}

static void fz_open(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	static char port[16];
	char err[512];

	snprintf(fz.dir, sizeof(fz.dir), "%s/pilot-fuzz-ipc.XXXXXX", tmp);
	CHECK(mkdtemp(fz.dir));
	snprintf(fz.ctl, sizeof(fz.ctl), "%s/ctl.sock", fz.dir);
	snprintf(fz.res, sizeof(fz.res), "%s/resolve.sock", fz.dir);
	/* Without a namespace of our own, a port nobody else is likely on. */
	snprintf(port, sizeof(port), "%d", fz.netns ? 4242 : 20000 + getpid() % 20000);
	fz.argc = 0;
	fz_arg("pilotd");
	fz_arg("--state-dir"), fz_arg(fz.dir);
	fz_arg("--registry"), fz_arg(FZ_REGISTRY);
	fz_arg("--registry-pin"),
	    fz_arg("0000000000000000000000000000000000000000000000000000000000000000");
	fz_arg("--socket"), fz_arg(fz.ctl);
	fz_arg("--resolve-socket"), fz_arg(fz.res);
	fz_arg("--listen-port"), fz_arg(port);
	fz_arg("--tun"), fz_arg("pfz0");
	fz_arg("--hostname"), fz_arg("fz-self");
	fz_arg("--networks"), fz_arg("1");
	fz_arg("--admin-token"), fz_arg("fuzz-admin-token");
	fz_arg("--max-flows"), fz_arg("64");
	fz_arg("--heartbeat-interval"), fz_arg("3600");
	fz_arg("--offload=false");
	fz_arg("--log-level"), fz_arg("error");
	memset(&fz.d, 0, sizeof(fz.d));
	if (conf_load(pilotd_schema, &fz.d.cfg, NULL, fz.argc, fz.argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_ipc: %s\n", err);
		abort();
	}
	/* Below the schema's floor: `audit` and `audit.verify` read the whole
	 * log, and a log of thousands of records would make them most of the
	 * fuzzer's time (pruned every FZ_PRUNE inputs). */
	fz.d.cfg.audit_max_records = FZ_AUDIT_MAX;
	fz.calls = NULL;
	fz.tail = &fz.calls;
	CHECK((fz.base = event_base_new()) != NULL);
	fz.d.ctl_group = getegid();
	fz.d.argc = fz.argc;
	fz.d.argv = fz.argv;
	CHECK(pilotd_open(&fz.d, fz.base) == 0);
	fz.open = 1;
	/* Register (pilot0 comes up in our namespace), join network 1, hear
	 * the trusts; without a namespace of our own the node stays
	 * unregistered, so that nothing touches the host's interfaces. */
	fz.baseline = 1;
	for (int round = 0; round < 100; round++) {
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
		if (!fz.calls)
			continue;
		fz_baseline_answer();
	}
	fz.baseline = 0;
	CHECK(!fz.netns || fz.d.regc.registered);
	fz.ctl_fd = fz_connect(fz.ctl);
	fz.res_fd = fz_connect(fz.res);
	for (int round = 0; round < 10; round++)
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
}

/* A network namespace of our own (as root, or in a user namespace of our
 * own where that is allowed); \retval 1 if we are in one. */
static int fz_netns(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int fd;

	if (unshare(CLONE_NEWNET) == 0)
		return 1;
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return 0;
	/* Root inside, ourselves outside. */
	if ((fd = open("/proc/self/setgroups", O_WRONLY)) >= 0) {
		(void)!write(fd, "deny", 4);
		close(fd);
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if ((fd = open("/proc/self/uid_map", O_WRONLY)) < 0 ||
	    write(fd, map, strlen(map)) != (ssize_t)strlen(map))
		return 0;
	close(fd);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	if ((fd = open("/proc/self/gid_map", O_WRONLY)) < 0 ||
	    write(fd, map, strlen(map)) != (ssize_t)strlen(map))
		return 0;
	close(fd);
	return 1;
}

static void fz_setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	fz.verbose = getenv("FUZZ_VERBOSE") != NULL;
	CHECK(sodium_init() >= 0);
	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz_ipc", fz.verbose ? LOG_LVL_DEBUG : LOG_LVL_ERROR, LOG_FMT_TEXT);
	fz.netns = fz_netns();
	if (!fz.netns)
		fprintf(stderr, "fuzz_ipc: no network namespace of our own: the daemon stays "
				"unregistered\n");
	for (int i = 0; i < FZ_NODES; i++) {
		uint8_t seed[32], sk[64];

		memset(seed, 0x70 + i, sizeof(seed));
		CHECK(crypto_sign_seed_keypair(fz.pk[i], sk, seed) == 0);
		CHECK(b64_encode(fz.pk_b64[i], sizeof(fz.pk_b64[i]), fz.pk[i], 32) > 0);
	}
	atexit(fz_close);
}

/* ---------------------------------------------------------------- one input */

/* Section 0's directives ('!' line); \retval the socket the lines go to. */
static int fz_directives(const char *s, size_t len)
{
	int fd = fz.ctl_fd;

	for (size_t i = 1; i < len; i++) {
		if (s[i] == 'p')
			fd = fz.res_fd;
		else if (s[i] == 'r')
			regc_reregister(&fz.d.regc);
		else if (s[i] == 'h')
			regc_heartbeat_now(&fz.d.regc);
	}
	return fd;
}

/* The non-empty lines of \p s: the answers the daemon owes. */
static unsigned fz_count_lines(const char *s, size_t len)
{
	unsigned n = 0;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (s + i)) : len - i;

		n += l > 0;
		i += l + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *s = (const char *)data, *end = s + n, *sec;
	size_t len;
	unsigned want, got = 0, idle = 0;
	struct fz_buf acc = {0};
	int fd;

	fz_setup();
	if (fz.inputs++ % FZ_REBUILD == 0) {
		fz_close();
		fz_open();
	}
	/* section 0 */
	sec = memchr(s, '\0', n);
	len = sec ? (size_t)(sec - s) : n;
	fd = fz.ctl_fd;
	if (len && s[0] == '!') {
		const char *nl = memchr(s, '\n', len);
		size_t dl = nl ? (size_t)(nl - s) : len;

		fd = fz_directives(s, dl);
		s += dl + (nl != NULL);
		len -= dl + (nl != NULL);
	}
	want = fz_count_lines(s, len);
	if (len) {
		fz_write(fd, s, len);
		if (s[len - 1] != '\n')
			fz_write(fd, "\n", 1);
	}
	s = sec ? sec + 1 : end;

	for (int round = 0; round < FZ_ROUNDS; round++) {
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
		got += fz_read_answers(fd, &acc);
		CHECK(got <= want);
		if (fz.calls && !fz.calls->registry) {
			fz_answer(NULL, 0); /* a webhook: nobody there */
			continue;
		}
		if (s < end || fz.calls) {
			/* the next section, for the oldest call or the stream */
			const char *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
			size_t l = s < end ? (nul ? (size_t)(nul - s) : (size_t)(end - s)) : 0;

			if (s < end && l >= 4 && memcmp(s, "EVT ", 4) == 0) {
				fz_events(s + 4, l - 4);
			} else if (fz.calls) {
				fz_answer(s < end ? s : NULL, l);
			} else if (got < want) {
				/* an answer with no call yet: the daemon may
				 * still be reading the request */
				if (++idle < FZ_STUCK)
					continue;
			}
			if (s < end)
				s += l + 1;
			idle = 0;
			continue;
		}
		if (got == want)
			break;
		/* Every call is answered and nothing is left to give: a
		 * request still unanswered has been lost. */
		if (++idle >= FZ_STUCK) {
			fprintf(stderr, "fuzz_ipc: %u of %u requests never answered\n", want - got,
				want);
			abort();
		}
	}
	CHECK(got == want && !fz.calls);
	free(acc.p);
	if (fz.inputs % FZ_PRUNE == 0)
		pilotd_audit_prune(&fz.d);
	return 0;
}
