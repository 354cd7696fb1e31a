/* pilot-bcnsend.c - test tool: speak to the beacon (doc/NAT.md) as a
 * registered node, with that node's real identity, to show what the beacon
 * and the receiving pilotd do with frames a real node could send.
 *
 *   pilot-bcnsend --gen-key FILE
 *       write a new Ed25519 identity (base64 of the 64-byte secret key,
 *       mode 0600: what pilotd --identity imports); print its public key
 *   pilot-bcnsend --identity FILE --node-id N --beacon HOST:PORT
 *                 --beacon-keyfile PATH --target-id T --target-pk B64
 *                 --what relay-init|punch-req [--count K]
 *       as node N: one BIND (waits up to 1 s for BIND_OK, printing
 *       "bound ENDPOINT"), then K frames from the same socket:
 *         relay-init  RELAY to T carrying a genuine Noise IK handshake
 *                     initiation (a fresh one per frame) built for T's key
 *         punch-req   PUNCH_REQ naming T
 *       then waits up to 1 s for anything back and prints
 *       {"bound":BOOL,"sent":K,"received":R} (R excludes the BIND_OK).
 *
 * PATH is the rendezvous state dir's beacon.key (base64 of the 64-byte
 * secret key, whose last 32 bytes are the public key); a file holding the
 * base64 of the 32-byte public key alone is taken too.  Exit 0 unless the
 * arguments or I/O fail. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "bcn.h"
#include "tnl.h"
#include "util.h"

#define MAX_COUNT 1000

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s --gen-key FILE\n"
		"       %s --identity FILE --node-id N --beacon HOST:PORT --beacon-keyfile PATH\n"
		"          --target-id T --target-pk B64 --what relay-init|punch-req [--count K]\n",
		argv0, argv0);
	return 2;
}

/* Read a base64 key file: \retval decoded length, or -errno. */
static int read_b64_file(const char *path, uint8_t *out, size_t cap)
{
	char *text = NULL;
	int rc, n;

	if ((rc = file_read_all(path, 4096, &text, NULL)) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		return rc;
	}
	text[strcspn(text, " \r\n")] = '\0';
	n = b64_decode(out, cap, text);
	sodium_memzero(text, strlen(text));
	free(text);
	if (n < 0)
		fprintf(stderr, "%s: not base64\n", path);
	return n;
}

static int gen_key(const char *path)
{
	uint8_t sk[64], pk[32];
	char b64[128], pkb[64];
	int n, rc;

	crypto_sign_keypair(pk, sk);
	n = b64_encode(b64, sizeof(b64) - 1, sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	if (n < 0 || b64_encode(pkb, sizeof(pkb), pk, sizeof(pk)) < 0)
		return 1;
	b64[n++] = '\n';
	rc = file_write_atomic(path, b64, (size_t)n, 0600);
	sodium_memzero(b64, sizeof(b64));
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		return 1;
	}
	printf("%s\n", pkb);
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Wait up to \p ms for datagrams; count the ones that are not a BIND_OK
 * for us (when \p want_bind, stop at the first valid BIND_OK and report its
 * endpoint in \p ep).  \retval datagrams counted, -1 on error. */
static int collect(int fd, const uint8_t key[BCN_KEY_LEN], uint32_t node, int want_bind,
		   struct sockaddr_in6 *ep, int *bound, unsigned ms)
{
	uint64_t end = now_mono_ms() + ms;
	uint8_t buf[2048];
	int count = 0;

	for (;;) {
		uint64_t now = now_mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct bcn_frame f;
		ssize_t n;
		int r;

		if (now >= end)
			return count;
		r = poll(&p, 1, (int)(end - now));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return count;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED)
				continue; /* ECONNREFUSED: an ICMP error for what we sent */
			return -1;
		}
		if (bcn_open(buf, (size_t)n, key, &f) == 0 && f.type == BCN_BIND_OK &&
		    f.node == node) {
			*bound = 1;
			*ep = f.ep;
			if (want_bind)
				return count;
			continue;
		}
		count++;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"gen-key", required_argument, NULL, 'g'},
	    {"identity", required_argument, NULL, 'i'},
	    {"node-id", required_argument, NULL, 'n'},
	    {"beacon", required_argument, NULL, 'b'},
	    {"beacon-keyfile", required_argument, NULL, 'k'},
	    {"target-id", required_argument, NULL, 't'},
	    {"target-pk", required_argument, NULL, 'p'},
	    {"what", required_argument, NULL, 'w'},
	    {"count", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *gen = NULL, *idfile = NULL, *beacon = NULL, *bkfile = NULL, *tpk = NULL,
		   *what = NULL;
	uint32_t node = 0, target = 0, count = 1;
	uint8_t sk[64], bk[64], bpk[32], bx_pk[32], tk[32], key[BCN_KEY_LEN];
	uint8_t buf[BCN_RELAY_HDR + TNL_INIT_LEN + BCN_MAC];
	struct tnl_identity id;
	struct tnl_peer_static ps;
	struct bcn_counter ctr;
	struct bcn_frame f;
	struct sockaddr_storage bss;
	struct sockaddr_in6 ep;
	socklen_t blen;
	char eb[64];
	int c, n, fd, off = 0, bound = 0, received, relay;
	uint32_t sent = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			gen = optarg;
			break;
		case 'i':
			idfile = optarg;
			break;
		case 'n':
			if (parse_u32(optarg, &node) < 0 || !node)
				return usage(argv[0]);
			break;
		case 'b':
			beacon = optarg;
			break;
		case 'k':
			bkfile = optarg;
			break;
		case 't':
			if (parse_u32(optarg, &target) < 0 || !target)
				return usage(argv[0]);
			break;
		case 'p':
			tpk = optarg;
			break;
		case 'w':
			what = optarg;
			break;
		case 'c':
			if (parse_u32(optarg, &count) < 0 || !count || count > MAX_COUNT)
				return usage(argv[0]);
			break;
		default:
			return usage(argv[0]);
		}
	}
	if (optind != argc || tnl_global_init() < 0)
		return usage(argv[0]);
	if (gen)
		return gen_key(gen);
	if (!idfile || !node || !beacon || !bkfile || !target || !tpk || !what)
		return usage(argv[0]);
	if (strcmp(what, "relay-init") == 0)
		relay = 1;
	else if (strcmp(what, "punch-req") == 0)
		relay = 0;
	else
		return usage(argv[0]);
	if (bcn_ep_parse(beacon, &bss, &blen) < 0) {
		fprintf(stderr, "--beacon %s: expected IP:PORT\n", beacon);
		return 2;
	}
	if (b64_decode(tk, sizeof(tk), tpk) != 32) {
		fprintf(stderr, "--target-pk: expected the base64 of a 32-byte key\n");
		return 2;
	}

	/* Our identity (a 64-byte secret key, or a 32-byte seed, as pilotd
	 * imports), and the beacon's public key. */
	n = read_b64_file(idfile, sk, sizeof(sk));
	if (n == 32) {
		uint8_t pk[32], seed[32];
		memcpy(seed, sk, 32);
		crypto_sign_seed_keypair(pk, sk, seed);
		sodium_memzero(seed, sizeof(seed));
	} else if (n != 64) {
		fprintf(stderr, "%s: expected a 32-byte seed or a 64-byte secret key\n", idfile);
		return 1;
	}
	n = read_b64_file(bkfile, bk, sizeof(bk));
	if (n == 64) {
		memcpy(bpk, bk + 32, 32);
	} else if (n == 32) {
		memcpy(bpk, bk, 32);
	} else {
		fprintf(stderr, "%s: expected a 64-byte secret or 32-byte public key\n", bkfile);
		return 1;
	}
	sodium_memzero(bk, sizeof(bk));
	if (tnl_identity_init(&id, sk) < 0 || tnl_peer_static_init(&ps, &id, tk) < 0 ||
	    crypto_sign_ed25519_pk_to_curve25519(bx_pk, bpk) != 0 ||
	    bcn_key(key, id.x_sk, bx_pk, node, id.ed_pk, bpk) < 0) {
		fprintf(stderr, "unusable keys\n");
		return 1;
	}
	sodium_memzero(sk, sizeof(sk));

	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    connect(fd, (struct sockaddr *)&bss, blen) < 0) {
		perror("socket");
		return 1;
	}
	/* The identity is also a running pilotd's, which may have sent frames
	 * stamped with the next second already (bcn_counter_start): start two
	 * seconds ahead, so this BIND is the newest and moves the binding here
	 * (the beacon accepts up to BCN_MAX_SKEW_S ahead). */
	bcn_counter_start(&ctr, now_real_ms() / 1000 + 2);

	/* BIND first: the beacon learns where node N is (this socket). */
	memset(&f, 0, sizeof(f));
	f.type = BCN_BIND;
	f.node = node;
	f.counter = bcn_counter_next(&ctr, now_real_ms() / 1000);
	n = bcn_seal(&f, key, buf, sizeof(buf));
	if (n < 0 || send(fd, buf, (size_t)n, 0) != n) {
		perror("send BIND");
		return 1;
	}
	if (collect(fd, key, node, 1, &ep, &bound, 1000) < 0) {
		perror("recv");
		return 1;
	}
	if (bound) {
		printf("bound %s\n", bcn_ep_format6(&ep, eb, sizeof(eb)));
		fflush(stdout);
	}

	for (uint32_t i = 0; i < count; i++) {
		memset(&f, 0, sizeof(f));
		f.node = node;
		f.peer = target;
		if (relay) {
			struct tnl_handshake *hs = tnl_hs_new();
			if (!hs || tnl_hs_create_init(hs, &id, &ps, randombytes_random() | 1,
						      now_real_ms() * 1000000ull, NULL,
						      now_mono_ms(), buf + BCN_RELAY_HDR) < 0) {
				fprintf(stderr, "handshake initiation failed\n");
				return 1;
			}
			tnl_hs_free(hs);
			f.type = BCN_RELAY;
			f.plen = TNL_INIT_LEN;
		} else {
			f.type = BCN_PUNCH_REQ;
		}
		f.counter = bcn_counter_next(&ctr, now_real_ms() / 1000);
		n = bcn_seal(&f, key, buf, sizeof(buf));
		if (n < 0 || send(fd, buf, (size_t)n, 0) != n) {
			perror("send");
			return 1;
		}
		sent++;
	}
	received = collect(fd, key, node, 0, &ep, &bound, 1000);
	if (received < 0) {
		perror("recv");
		return 1;
	}
	printf("{\"bound\":%s,\"sent\":%u,\"received\":%d}\n", bound ? "true" : "false", sent,
	       received);
	close(fd);
	tnl_identity_wipe(&id);
	return 0;
}
