/* fuzz_join.c - the join string codec (src/lib/join.c), fed the input
 * twice: as a join string, and as the JSON payload of one with a valid
 * checksum (framed here from the documented format, doc/JOIN.md), so the
 * field checks behind the checksum are reached.  Oracles:
 *   - what decodes encodes, and the encoding decodes to the same fields;
 *   - a refused input leaves nothing in the result (wiped);
 *   - every refusal says why.
 * A violation aborts, so libFuzzer reports it like a crash. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "join.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void fz_check(const char *s, size_t len)
{
	static const struct join_info zero;
	struct join_info ji, back;
	char enc[JOIN_MAX_LEN + 1], err[256];
	int ret;

	err[0] = '\0';
	ret = join_decode(s, len, &ji, err, sizeof(err));
	if (ret < 0) {
		if (!err[0] || memcmp(&ji, &zero, sizeof(ji)) != 0)
			abort();
		return;
	}
	ret = join_encode(&ji, enc, sizeof(enc), err, sizeof(err));
	if (ret <= 0 || (size_t)ret != strlen(enc))
		abort();
	if (join_decode(enc, (size_t)ret, &back, err, sizeof(err)) != 0 ||
	    strcmp(back.registry, ji.registry) != 0 || strcmp(back.pin, ji.pin) != 0 ||
	    back.network != ji.network || strcmp(back.token, ji.token) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static char framed[2 * JOIN_MAX_LEN];
	uint8_t raw[JOIN_MAX_LEN], h[JOIN_HASH_LEN];
	const size_t pl = strlen(JOIN_PREFIX) + 2;

	if (sodium_init() < 0)
		abort();
	fz_check((const char *)d, n);
	if (n + JOIN_CHECK_LEN > sizeof(raw))
		return 0;
	memcpy(raw, d, n);
	crypto_generichash(h, sizeof(h), raw, n, NULL, 0);
	memcpy(raw + n, h, JOIN_CHECK_LEN);
	memcpy(framed, "pilot-join1:", pl);
	sodium_bin2base64(framed + pl, sizeof(framed) - pl, raw, n + JOIN_CHECK_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	fz_check(framed, strlen(framed));
	return 0;
}
