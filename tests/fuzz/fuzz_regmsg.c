/* fuzz_regmsg.c - libFuzzer harness for the registry request envelope:
 * the input is a request body, parsed for several operations; whatever
 * parses has a (wrong) signature checked over it, as the registry would.
 * Built by replay_main.c into tests/fuzz/replay_regmsg for make check. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "regmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const char *const k_register[] = {"public_key", "listen_port", "public", "hostname", NULL};
static const char *const k_heartbeat[] = {"listen_port", NULL};
static const char *const k_lookup[] = {"target", "public_key", NULL};
static const char *const k_handshake[] = {"target", "justification", NULL};
static const char *const k_events[] = {"after", NULL};
static const char *const k_none[] = {NULL};

static const struct {
	const char *op, *path;
	const char *const *keys;
} ops[] = {
    {"register", "/v1/node/register", k_register}, {"heartbeat", "/v1/node/heartbeat", k_heartbeat},
    {"lookup", "/v1/node/lookup", k_lookup},	   {"handshake", "/v1/node/handshake", k_handshake},
    {"events", "/v1/node/events", k_events},	   {"inbox", "/v1/node/inbox", k_none},
};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	/* A fixed key and a signature that is well-formed but not valid for
	 * any of these bodies: the point is to run the verify path. */
	static const uint8_t pk[32] = {0x3d, 0x40, 0x17, 0xc3, 0xe8, 0x43, 0x89, 0x5a,
				       0x92, 0xb7, 0x0a, 0xa7, 0x4d, 0x1b, 0x7e, 0xbc,
				       0x9c, 0x98, 0x2c, 0xcf, 0x2e, 0xc4, 0x96, 0x8c,
				       0xc0, 0xcd, 0x55, 0xf1, 0x2a, 0xf4, 0x66, 0x0c};
	static const char sig[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
				  "LS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
	const char *body = (const char *)d;
	char err[160];

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct regmsg_req r;
		if (regmsg_parse(ops[i].op, body, n, ops[i].keys, &r, err, sizeof(err)) < 0) {
			if (r.root || !memchr(err, '\0', sizeof(err)))
				__builtin_trap(); /* a failed parse owns nothing */
			continue;
		}
		if (strcmp(r.op, ops[i].op) != 0 || (!r.has_node_id && strcmp(r.op, "register")))
			__builtin_trap();
		(void)regmsg_check_fresh(r.ts, 1700000000000ull);
		if (regmsg_verify(pk, ops[i].path, body, n, sig) == 0)
			__builtin_trap(); /* a forged signature must never verify */
		regmsg_req_free(&r);
	}
	return 0;
}
