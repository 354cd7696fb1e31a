/* bcn.c - see bcn.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <sodium.h>

#include "bytes.h"
#include "bcn.h"
#include "conf.h"

#define WORDS (BCN_WINDOW / 64)
#define USABLE (BCN_WINDOW - 64)
_Static_assert((WORDS & (WORDS - 1)) == 0, "window words a power of two");

static const char key_label[] = "pilot beacon v1";

int bcn_key(uint8_t key[BCN_KEY_LEN], const uint8_t my_x_sk[32], const uint8_t their_x_pk[32],
	    uint32_t node_id, const uint8_t node_ed_pk[32], const uint8_t beacon_ed_pk[32])
{
	crypto_generichash_state st;
	uint8_t ss[32], id[4];

	if (crypto_scalarmult(ss, my_x_sk, their_x_pk) != 0)
		return -EINVAL;
	put_be32(id, node_id);
	crypto_generichash_init(&st, ss, sizeof(ss), BCN_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)key_label, sizeof(key_label) - 1);
	crypto_generichash_update(&st, id, sizeof(id));
	crypto_generichash_update(&st, node_ed_pk, 32);
	crypto_generichash_update(&st, beacon_ed_pk, 32);
	crypto_generichash_final(&st, key, BCN_KEY_LEN);
	sodium_memzero(ss, sizeof(ss));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

uint64_t bcn_counter_next(struct bcn_counter *c, uint64_t now_s)
{
	uint64_t floor = now_s << 32;

	/* Seconds in the high half keep counters rising across restarts of
	 * the sender (and let receivers refuse stale ones) without storing
	 * anything; the low half counts frames within a second. */
	c->last = c->last + 1 > floor ? c->last + 1 : floor;
	return c->last;
}

void bcn_counter_start(struct bcn_counter *c, uint64_t now_s)
{
	uint64_t floor = (now_s + 1) << 32;

	if (c->last < floor)
		c->last = floor;
}

size_t bcn_frame_len(uint8_t type, size_t plen)
{
	switch (type) {
	case BCN_BIND:
		return BCN_BIND_LEN;
	case BCN_BIND_OK:
		return BCN_BIND_OK_LEN;
	case BCN_PUNCH_REQ:
		return BCN_PUNCH_REQ_LEN;
	case BCN_PUNCH:
		return BCN_PUNCH_LEN;
	case BCN_RELAY:
	case BCN_RELAYED:
		/* A record, never empty, never larger than a datagram. */
		return plen && plen <= BCN_MAX_PAYLOAD ? BCN_RELAY_OVERHEAD + plen : 0;
	case BCN_ECHO:
	case BCN_ECHO_OK:
		return plen <= BCN_ECHO_MAX_LEN - BCN_ECHO_MIN_LEN ? BCN_ECHO_MIN_LEN + plen : 0;
	default:
		return 0;
	}
}

void bcn_ep_put(uint8_t out[BCN_EP_LEN], const struct sockaddr_in6 *sa)
{
	memcpy(out, &sa->sin6_addr, 16);
	memcpy(out + 16, &sa->sin6_port, 2);
}

void bcn_ep_get(struct sockaddr_in6 *sa, const uint8_t in[BCN_EP_LEN])
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	memcpy(&sa->sin6_addr, in, 16);
	memcpy(&sa->sin6_port, in + 16, 2);
}

/* ---- text endpoints ---- */

int bcn_ep_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];
	struct in_addr a4;
	uint16_t port;

	if (conf_split_hostport(s, host, sizeof(host), &port) < 0 || port == 0)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	if (inet_pton(AF_INET, host, &a4) == 1) {
		/* The socket is dual-stack: IPv4 peers are v4-mapped. */
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6->sin6_addr.s6_addr[12], &a4, 4);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
		return -EINVAL;
	}
	*len = sizeof(*sin6);
	return 0;
}

char *bcn_ep_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family != AF_INET6) {
		snprintf(buf, len, "-");
		return buf;
	}
	return bcn_ep_format6((const struct sockaddr_in6 *)ss, buf, len);
}

char *bcn_ep_format6(const struct sockaddr_in6 *s6, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s6->sin6_port));
	} else {
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	}
	return buf;
}

void bcn_mmsg_rx_prepare(struct mmsghdr *m, struct iovec *v, struct sockaddr_in6 *a, uint8_t *bufs,
			 size_t bufsz, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		v[i].iov_base = bufs + (size_t)i * bufsz;
		v[i].iov_len = bufsz;
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_name = &a[i];
		m[i].msg_hdr.msg_namelen = sizeof(a[i]);
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
}

static void mac(uint8_t out[BCN_MAC], const uint8_t *buf, size_t len,
		const uint8_t key[BCN_KEY_LEN])
{
	crypto_generichash(out, BCN_MAC, buf, len, key, BCN_KEY_LEN);
}

int bcn_seal(const struct bcn_frame *f, const uint8_t key[BCN_KEY_LEN], uint8_t *buf, size_t cap)
{
	size_t len = bcn_frame_len(f->type, f->plen);

	if (!len)
		return -EINVAL;
	if (len > cap)
		return -EMSGSIZE;
	buf[0] = f->type;
	buf[1] = buf[2] = buf[3] = 0;
	put_be32(buf + 4, f->node);
	put_be64(buf + 8, f->counter);
	switch (f->type) {
	case BCN_BIND_OK:
		bcn_ep_put(buf + BCN_HDR, &f->ep);
		break;
	case BCN_PUNCH:
		put_be32(buf + BCN_HDR, f->peer);
		bcn_ep_put(buf + BCN_HDR + 4, &f->ep);
		memcpy(buf + BCN_HDR + 4 + BCN_EP_LEN, f->nonce, BCN_NONCE);
		break;
	case BCN_PUNCH_REQ:
	case BCN_RELAY:
	case BCN_RELAYED:
		put_be32(buf + BCN_HDR, f->peer);
		break;
	case BCN_ECHO:
	case BCN_ECHO_OK:
		bcn_ep_put(buf + BCN_HDR, &f->ep);
		memcpy(buf + BCN_HDR + BCN_EP_LEN, f->nonce, BCN_NONCE);
		break;
	default:
		break;
	}
	mac(buf + len - BCN_MAC, buf, len - BCN_MAC, key);
	return (int)len;
}

int bcn_peek(const uint8_t *buf, size_t len, uint8_t *type, uint32_t *node)
{
	/* A PROBE is peer to peer, never a sealed frame (it is as long as
	 * the shortest one). */
	if (len < BCN_HDR + BCN_MAC || !bcn_is_frame(buf[0]) || buf[0] == BCN_PROBE || buf[1] ||
	    buf[2] || buf[3])
		return -EBADMSG;
	*type = buf[0];
	*node = get_be32(buf + 4);
	return 0;
}

int bcn_open(const uint8_t *buf, size_t len, const uint8_t key[BCN_KEY_LEN], struct bcn_frame *f)
{
	uint8_t want[BCN_MAC];
	size_t need;

	memset(f, 0, sizeof(*f));
	if (bcn_peek(buf, len, &f->type, &f->node) < 0)
		return -EBADMSG;
	if (f->type == BCN_RELAY || f->type == BCN_RELAYED) {
		if (len < BCN_RELAY_OVERHEAD + 1)
			return -EBADMSG;
		f->plen = len - BCN_RELAY_OVERHEAD;
	} else if (f->type == BCN_ECHO || f->type == BCN_ECHO_OK) {
		if (len < BCN_ECHO_MIN_LEN)
			return -EBADMSG;
		f->plen = len - BCN_ECHO_MIN_LEN;
	}
	need = bcn_frame_len(f->type, f->plen);
	if (!need || need != len)
		return -EBADMSG;
	mac(want, buf, len - BCN_MAC, key);
	if (sodium_memcmp(want, buf + len - BCN_MAC, BCN_MAC) != 0)
		return -EPERM;
	f->counter = get_be64(buf + 8);
	switch (f->type) {
	case BCN_BIND_OK:
		bcn_ep_get(&f->ep, buf + BCN_HDR);
		break;
	case BCN_PUNCH:
		f->peer = get_be32(buf + BCN_HDR);
		bcn_ep_get(&f->ep, buf + BCN_HDR + 4);
		memcpy(f->nonce, buf + BCN_HDR + 4 + BCN_EP_LEN, BCN_NONCE);
		break;
	case BCN_PUNCH_REQ:
		f->peer = get_be32(buf + BCN_HDR);
		break;
	case BCN_RELAY:
	case BCN_RELAYED:
		f->peer = get_be32(buf + BCN_HDR);
		f->payload = buf + BCN_RELAY_HDR;
		break;
	case BCN_ECHO:
	case BCN_ECHO_OK:
		bcn_ep_get(&f->ep, buf + BCN_HDR);
		memcpy(f->nonce, buf + BCN_HDR + BCN_EP_LEN, BCN_NONCE);
		f->payload = buf + BCN_ECHO_HDR;
		break;
	default:
		break;
	}
	return 0;
}

#define PROBE_BODY 16

static void probe_mac(uint8_t mac[BCN_PROBE_LEN - PROBE_BODY], const uint8_t *body, uint32_t to,
		      const uint8_t key[BCN_KEY_LEN])
{
	crypto_generichash_state st;
	uint8_t t[4];

	put_be32(t, to);
	crypto_generichash_init(&st, key, BCN_KEY_LEN, BCN_PROBE_LEN - PROBE_BODY);
	crypto_generichash_update(&st, body, PROBE_BODY);
	crypto_generichash_update(&st, t, sizeof(t));
	crypto_generichash_final(&st, mac, BCN_PROBE_LEN - PROBE_BODY);
}

void bcn_probe_make(uint8_t out[BCN_PROBE_LEN], uint32_t node, uint32_t to,
		    const uint8_t nonce[BCN_NONCE], const uint8_t key[BCN_KEY_LEN])
{
	out[0] = BCN_PROBE;
	out[1] = out[2] = out[3] = 0;
	put_be32(out + 4, node);
	memcpy(out + 8, nonce, BCN_NONCE);
	probe_mac(out + PROBE_BODY, out, to, key);
}

int bcn_probe_verify(const uint8_t *buf, size_t len, uint32_t to, const uint8_t key[BCN_KEY_LEN])
{
	uint8_t mac[BCN_PROBE_LEN - PROBE_BODY];

	if (len != BCN_PROBE_LEN)
		return -EBADMSG;
	probe_mac(mac, buf, to, key);
	return sodium_memcmp(mac, buf + PROBE_BODY, sizeof(mac)) == 0 ? 0 : -EBADMSG;
}

int bcn_probe_parse(const uint8_t *buf, size_t len, uint32_t *node, uint8_t nonce[BCN_NONCE])
{
	if (len != BCN_PROBE_LEN || buf[0] != BCN_PROBE || buf[1] || buf[2] || buf[3])
		return -EBADMSG;
	*node = get_be32(buf + 4);
	memcpy(nonce, buf + 8, BCN_NONCE);
	return 0;
}

int bcn_replay_check(struct bcn_replay *r, uint64_t counter, uint64_t now_s)
{
	uint64_t s = counter >> 32, c, index, bit;
	int newest = 0;

	if (s + BCN_MAX_SKEW_S < now_s || s > now_s + BCN_MAX_SKEW_S)
		return -ESTALE;
	/* RFC 6479, as the tunnel's window: c = counter + 1 so that top == 0
	 * means "nothing yet"; the top word is kept clear for the slide. */
	c = counter + 1;
	if (c + USABLE < r->top)
		return -EALREADY;
	index = c >> 6;
	if (c > r->top) {
		uint64_t cur = r->top >> 6, n = index - cur;
		if (n > WORDS)
			n = WORDS;
		for (uint64_t i = 1; i <= n; i++)
			r->bits[(cur + i) & (WORDS - 1)] = 0;
		r->top = c;
		newest = 1;
	}
	index &= WORDS - 1;
	bit = 1ull << (c & 63);
	if (r->bits[index] & bit)
		return -EALREADY;
	r->bits[index] |= bit;
	return newest;
}
