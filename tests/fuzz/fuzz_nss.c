/* fuzz_nss.c - libFuzzer harness for the NSS module's reply parser, the
 * one piece of src/nss/nss_pilot.c that reads bytes from elsewhere (a line
 * from the resolve socket), and for its hostname check.
 *
 * Beyond "does not crash": the verdict must not depend on how the line was
 * split into reads, an address is only ever a ULA (fd00::/8), and a name
 * the module accepts comes back canonical and accepted again. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nss_pilot.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static enum nss_pilot_reply chunked(const uint8_t *d, size_t n, size_t step, struct in6_addr *addr)
{
	struct nss_pilot_parser p;
	enum nss_pilot_reply r = NSS_PILOT_REPLY_MORE;

	nss_pilot_parser_init(&p);
	for (size_t o = 0; o < n && r == NSS_PILOT_REPLY_MORE; o += step)
		r = nss_pilot_parser_feed(&p, d + o, n - o < step ? n - o : step);
	if (r == NSS_PILOT_REPLY_MORE)
		r = nss_pilot_parser_end(&p);
	CHECK(r == p.result);
	CHECK(nss_pilot_parser_feed(&p, "x", 1) == r); /* the verdict sticks */
	if (r == NSS_PILOT_REPLY_OK)
		*addr = p.addr;
	return r;
}

static void check_name(const uint8_t *d, size_t n)
{
	char name[128], canon[NSS_PILOT_NAME_MAX + 1], again[NSS_PILOT_NAME_MAX + 1];
	int len;

	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, d, n);
	name[n] = '\0';
	len = nss_pilot_name(name, canon);
	if (len < 0)
		return;
	CHECK(len > 6 && len <= NSS_PILOT_NAME_MAX && (size_t)len == strlen(canon));
	CHECK(strcmp(canon + len - 6, ".pilot") == 0);
	for (int i = 0; i < len - 6; i++)
		CHECK((canon[i] >= 'a' && canon[i] <= 'z') ||
		      (canon[i] >= '0' && canon[i] <= '9') || canon[i] == '-');
	CHECK(nss_pilot_name(canon, again) == len && strcmp(canon, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct in6_addr a, b;
	enum nss_pilot_reply r = nss_pilot_parse_reply(d, n, &a);

	CHECK(r >= NSS_PILOT_REPLY_OK && r <= NSS_PILOT_REPLY_BAD);
	if (r == NSS_PILOT_REPLY_OK)
		CHECK(a.s6_addr[0] == 0xfd);
	CHECK(chunked(d, n, n / 3 + 1, &b) == r);
	if (r == NSS_PILOT_REPLY_OK)
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	if (n <= 4096) {
		CHECK(chunked(d, n, 1, &b) == r);
		if (r == NSS_PILOT_REPLY_OK)
			CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	check_name(d, n);
	return 0;
}
