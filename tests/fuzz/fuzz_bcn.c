/* fuzz_bcn.c - the beacon frame codec (src/lib/bcn.c), fed the same bytes as a
 * frame (peek, open under a fixed key, and again with the MAC made right so
 * the decoder sees hostile bodies), as the fields of a frame to seal, open
 * and corrupt, as a PROBE, as a series of counters for the replay window
 * (checked against a model) and for the sender's counter, and as an
 * endpoint string.
 *
 * The key is constant, so a corpus of real frames (tests/fuzz/corpus/bcn,
 * sealed under it) gets past the MAC. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "bcn.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define FZ_MAX 4096
#define FZ_KEY_FILL 0x6b /* the corpus is sealed under memset(key, 0x6b) */
#define FZ_NOW 1700000000ull
#define FZ_COUNTERS 256 /* at most this many counters per input */
#define FZ_USABLE (BCN_WINDOW - 64)

static uint8_t fz_key[BCN_KEY_LEN];
static uint8_t fz_buf[FZ_MAX + BCN_RELAY_OVERHEAD + 64];
static uint8_t fz_buf2[FZ_MAX + BCN_RELAY_OVERHEAD + 64];

static const uint8_t fz_types[] = {BCN_BIND,  BCN_BIND_OK, BCN_PUNCH_REQ, BCN_PUNCH,
				   BCN_RELAY, BCN_RELAYED, BCN_ECHO,	  BCN_ECHO_OK};

static void fz_setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	if (sodium_init() < 0)
		abort();
	memset(fz_key, FZ_KEY_FILL, sizeof(fz_key));
}

static int fz_is_relay(uint8_t type)
{
	return type == BCN_RELAY || type == BCN_RELAYED;
}

static int fz_is_echo(uint8_t type)
{
	return type == BCN_ECHO || type == BCN_ECHO_OK;
}

/* An opened frame: its fields are consistent with the bytes, and sealing
 * it again (the payload in place) gives the same bytes. */
static void fz_check_opened(const uint8_t *d, size_t n, const struct bcn_frame *f)
{
	uint8_t type;
	uint32_t node;
	int m;

	if (!bcn_is_frame(f->type) || bcn_frame_len(f->type, f->plen) != n)
		abort();
	if (bcn_peek(d, n, &type, &node) != 0 || type != f->type || node != f->node)
		abort();
	if (fz_is_relay(f->type)) {
		if (f->plen == 0 || f->payload != d + BCN_RELAY_HDR)
			abort();
	} else if (fz_is_echo(f->type)) {
		if (f->payload != d + BCN_ECHO_HDR || n > BCN_ECHO_MAX_LEN)
			abort();
	} else if (f->payload || f->plen) {
		abort();
	}
	if (n > sizeof(fz_buf2))
		abort();
	memset(fz_buf2, 0xa5, n);
	if (f->plen)
		memcpy(fz_buf2 + bcn_var_at(f->type), f->payload, f->plen);
	m = bcn_seal(f, fz_key, fz_buf2, n);
	if (m < 0 || (size_t)m != n || memcmp(fz_buf2, d, n) != 0)
		abort();
	/* One byte less room is refused. */
	if (bcn_seal(f, fz_key, fz_buf2, n - 1) != -EMSGSIZE)
		abort();
}

/* The input as a frame. */
static void fz_open(const uint8_t *d, size_t n)
{
	struct bcn_frame f;
	uint8_t type;
	uint32_t node;
	int rc;

	rc = bcn_peek(d, n, &type, &node);
	if (rc == 0) {
		if (n < BCN_HDR + BCN_MAC || !bcn_is_frame(d[0]) || d[1] || d[2] || d[3] ||
		    type != d[0])
			abort();
	} else if (rc != -EBADMSG) {
		abort();
	}
	rc = bcn_open(d, n, fz_key, &f);
	if (rc == 0)
		fz_check_opened(d, n, &f);
	else if (rc != -EBADMSG && rc != -EPERM)
		abort();
	else if (rc == -EPERM && bcn_peek(d, n, &type, &node) != 0)
		abort(); /* a MAC is checked only on a well-formed header */

	/* Again with the MAC made right: now only the layout decides. */
	if (n < BCN_MAC || n > FZ_MAX)
		return;
	memcpy(fz_buf, d, n);
	crypto_generichash(fz_buf + n - BCN_MAC, BCN_MAC, fz_buf, n - BCN_MAC, fz_key, BCN_KEY_LEN);
	rc = bcn_open(fz_buf, n, fz_key, &f);
	if (rc == 0) {
		fz_check_opened(fz_buf, n, &f);
	} else {
		int expect_ok = 0;

		if (rc != -EBADMSG)
			abort();
		/* Refused only if the layout is wrong. */
		if (n >= BCN_HDR + BCN_MAC && !fz_buf[1] && !fz_buf[2] && !fz_buf[3]) {
			if (fz_is_relay(fz_buf[0]))
				expect_ok = n > BCN_RELAY_OVERHEAD;
			else if (fz_is_echo(fz_buf[0]))
				expect_ok = n >= BCN_ECHO_MIN_LEN && n <= BCN_ECHO_MAX_LEN;
			else
				expect_ok = bcn_frame_len(fz_buf[0], 0) == n;
		}
		if (expect_ok)
			abort();
	}
}

/* A reader over the input that yields zeros past its end. */
struct fz_rd {
	const uint8_t *d;
	size_t n, at;
};

static uint8_t fz_u8(struct fz_rd *r)
{
	return r->at < r->n ? r->d[r->at++] : 0;
}

static void fz_bytes(struct fz_rd *r, uint8_t *out, size_t len)
{
	for (size_t k = 0; k < len; k++)
		out[k] = fz_u8(r);
}

static uint64_t fz_be(struct fz_rd *r, int len)
{
	uint64_t v = 0;

	for (int k = 0; k < len; k++)
		v = v << 8 | fz_u8(r);
	return v;
}

/* The input as the fields of a frame, laid out as a frame would be (so a
 * real frame reads back as itself): type(1) skip(3) node(4) counter(8)
 * peer(4) endpoint(18) nonce(8) flip position(2) flip mask(1), and for
 * RELAY/RELAYED the rest is the payload, for ECHO/ECHO_OK the pad.  Seal it, open it, compare; then
 * flip the chosen bits, which must be refused. */
static void fz_seal(const uint8_t *d, size_t n)
{
	struct fz_rd rd = {d, n, 0};
	struct bcn_frame f, g;
	uint8_t ep[BCN_EP_LEN], mask;
	size_t pos, len;
	int rc;

	memset(&f, 0, sizeof(f));
	f.type = fz_types[(fz_u8(&rd) & 0x0f) % sizeof(fz_types)];
	rd.at += 3;
	f.node = (uint32_t)fz_be(&rd, 4);
	f.counter = fz_be(&rd, 8);
	f.peer = (uint32_t)fz_be(&rd, 4);
	fz_bytes(&rd, ep, sizeof(ep));
	bcn_ep_get(&f.ep, ep);
	fz_bytes(&rd, f.nonce, sizeof(f.nonce));
	pos = (size_t)fz_be(&rd, 2);
	mask = fz_u8(&rd);
	if (bcn_var_at(f.type)) {
		f.plen = rd.at < n ? n - rd.at : 0;
		if (f.plen > FZ_MAX)
			return;
		if (f.plen)
			memcpy(fz_buf + bcn_var_at(f.type), d + rd.at, f.plen);
		f.payload = fz_buf + bcn_var_at(f.type);
	}

	len = bcn_frame_len(f.type, f.plen);
	rc = bcn_seal(&f, fz_key, fz_buf, sizeof(fz_buf));
	if (fz_is_relay(f.type) && f.plen == 0) {
		/* a RELAY carries a record: neither end makes or takes an empty one */
		if (rc != -EINVAL || len != 0)
			abort();
		return;
	}
	if (fz_is_echo(f.type) && f.plen > BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN) {
		/* an echo is never longer than the MTU probe's largest */
		if (rc != -EINVAL || len != 0)
			abort();
		return;
	}
	if (rc < 0 || (size_t)rc != len)
		abort();
	rc = bcn_open(fz_buf, len, fz_key, &g);
	if (rc != 0)
		abort();
	fz_check_opened(fz_buf, len, &g);
	if (g.type != f.type || g.node != f.node || g.counter != f.counter)
		abort();
	switch (f.type) {
	case BCN_BIND:
		if (g.peer)
			abort();
		break;
	case BCN_BIND_OK:
		if (g.peer || memcmp(&g.ep, &f.ep, sizeof(g.ep)) != 0)
			abort();
		break;
	case BCN_PUNCH:
		if (g.peer != f.peer || memcmp(&g.ep, &f.ep, sizeof(g.ep)) != 0 ||
		    memcmp(g.nonce, f.nonce, BCN_NONCE) != 0)
			abort();
		break;
	case BCN_ECHO:
	case BCN_ECHO_OK:
		if (g.peer || memcmp(&g.ep, &f.ep, sizeof(g.ep)) != 0 ||
		    memcmp(g.nonce, f.nonce, BCN_NONCE) != 0 || g.plen != f.plen ||
		    (g.plen && memcmp(g.payload, d + n - g.plen, g.plen) != 0))
			abort();
		break;
	default:
		if (g.peer != f.peer || g.plen != f.plen ||
		    (g.plen && memcmp(g.payload, d + n - g.plen, g.plen) != 0))
			abort();
		break;
	}

	/* Corrupted: refused; anywhere past the type and reserved bytes, by
	 * the MAC. */
	if (!mask)
		mask = 1;
	pos %= len;
	fz_buf[pos] ^= mask;
	rc = bcn_open(fz_buf, len, fz_key, &g);
	if (rc == 0 || (pos >= 4 && rc != -EPERM) || (pos >= 1 && pos < 4 && rc != -EBADMSG))
		abort();
	fz_buf[pos] ^= mask;
	/* The other key never opens it. */
	{
		uint8_t k2[BCN_KEY_LEN];

		memcpy(k2, fz_key, sizeof(k2));
		k2[mask % BCN_KEY_LEN] ^= mask;
		if (bcn_open(fz_buf, len, k2, &g) != -EPERM)
			abort();
	}
}

static const uint8_t fz_probe_key[BCN_KEY_LEN] = {7};

static void fz_probe(const uint8_t *d, size_t n)
{
	uint8_t nonce[BCN_NONCE], out[BCN_PROBE_LEN];
	uint32_t node;

	if (bcn_probe_parse(d, n, &node, nonce) != 0)
		return;
	if (n != BCN_PROBE_LEN)
		abort();
	/* Rebuilt under a fixed key, it matches the input up to its MAC, and
	 * verifies exactly when the input's MAC was that one. */
	bcn_probe_make(out, node, 1, nonce, fz_probe_key);
	if (memcmp(out, d, 16) != 0)
		abort();
	if ((bcn_probe_verify(d, n, 1, fz_probe_key) == 0) != (memcmp(out, d, n) == 0))
		abort();
}

/* The input as counters, 4 bytes each: a second within about +-64 of now
 * (so some are stale or future), and a low half that either follows the
 * last one closely or lands anywhere.  Checked against a model of the
 * window (the counters accepted so far and the newest). */
static void fz_replay(const uint8_t *d, size_t n)
{
	static uint64_t acc[FZ_COUNTERS];
	struct bcn_replay r;
	struct bcn_counter tx = {0};
	uint64_t now = FZ_NOW, hi = 0, low = 0, last_tx = 0;
	size_t nacc = 0;
	int any = 0;

	memset(&r, 0, sizeof(r));
	for (size_t k = 0; k + 4 <= n && k / 4 < FZ_COUNTERS; k += 4) {
		const uint8_t *c = d + k;
		uint64_t sec, counter, tc;
		int want, got, seen = 0;

		if (c[3] & 0x40)
			now += c[3] & 0x03;
		sec = (uint64_t)((int64_t)now + (int8_t)c[0] / 2);
		if (c[3] & 0x80)
			low = (uint32_t)(low + (uint64_t)(int8_t)c[1]); /* near the last */
		else
			low = (uint64_t)c[1] << 8 | c[2] | (uint64_t)(c[3] & 0x0f) << 16;
		counter = sec << 32 | low;

		for (size_t j = 0; j < nacc; j++)
			seen |= acc[j] == counter;
		if (sec + BCN_MAX_SKEW_S < now || sec > now + BCN_MAX_SKEW_S)
			want = -ESTALE;
		else if (seen || (any && counter + FZ_USABLE < hi))
			want = -EALREADY;
		else
			want = !any || counter > hi;
		got = bcn_replay_check(&r, counter, now);
		if (got != want)
			abort();
		if (want >= 0) {
			acc[nacc++] = counter;
			if (!any || counter > hi)
				hi = counter;
			any = 1;
		}

		/* The sender's side: strictly increasing, never behind now. */
		tc = bcn_counter_next(&tx, sec);
		if (tc <= last_tx || tc >> 32 < sec)
			abort();
		last_tx = tc;
	}
}

static void fz_ep(const uint8_t *d, size_t n)
{
	char s[256], out[INET6_ADDRSTRLEN + 16];
	struct sockaddr_storage ss, ss2;
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss,
				  *b = (const struct sockaddr_in6 *)&ss2;
	uint8_t wire[BCN_EP_LEN];
	struct sockaddr_in6 back;
	socklen_t len = 0, len2 = 0;

	if (n >= sizeof(s))
		n = sizeof(s) - 1;
	memcpy(s, d, n);
	s[n] = '\0';
	if (bcn_ep_parse(s, &ss, &len) != 0)
		return;
	if (len != sizeof(struct sockaddr_in6) || a->sin6_family != AF_INET6 || a->sin6_port == 0)
		abort();
	/* Formatted and parsed again: the same endpoint. */
	if (bcn_ep_format(&ss, out, sizeof(out)) != out)
		abort();
	if (bcn_ep_parse(out, &ss2, &len2) != 0 || len2 != len ||
	    memcmp(&a->sin6_addr, &b->sin6_addr, 16) != 0 || a->sin6_port != b->sin6_port)
		abort();
	/* And on the wire. */
	bcn_ep_put(wire, a);
	bcn_ep_get(&back, wire);
	if (memcmp(&back.sin6_addr, &a->sin6_addr, 16) != 0 || back.sin6_port != a->sin6_port)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	fz_setup();
	if (n > FZ_MAX)
		return 0;
	fz_open(d, n);
	fz_seal(d, n);
	fz_probe(d, n);
	fz_replay(d, n);
	fz_ep(d, n);
	return 0;
}
