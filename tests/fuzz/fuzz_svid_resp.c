/* fuzz_svid_resp.c - the SPIFFE Workload API's FetchJWTSVID answer
 * (src/pilotd/wlapi.c), the one untrusted input of pilotd's Workload API
 * client.  The input is read:
 *   - as a whole gRPC response body (wlapi_response_body);
 *   - as a bare JWTSVIDResponse message, and framed here: both readings
 *     must agree;
 *   - as text: an endpoint URI (wlapi_endpoint_parse) and an audience
 *     (wlapi_request).
 * Oracles:
 *   - every answer is a count >= 1 or one of the documented errors, and
 *     nothing is handed out on an error;
 *   - an accepted JWTSVID lies inside the input, within its bounds, is a
 *     "spiffe://" ID and a three-part base64url token, and survives a
 *     round trip (encoded again here, decoded to the same bytes);
 *   - an accepted endpoint names an absolute socket path or an http URL.
 * A violation aborts, so libFuzzer reports it like a crash. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wlapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static int known_rc(int rc)
{
	return rc >= 1 || rc == -ENOENT || rc == -EBADMSG || rc == -E2BIG || rc == -EMSGSIZE;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t k = 0;

	do {
		p[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return k;
}

/* The accepted JWTSVID, encoded again as a one-SVID response. */
static void round_trip(const struct wlapi_svid *sv)
{
	size_t cap = 64 + sv->id_len + sv->svid_len, o = 0, inner;
	uint8_t *b = malloc(cap);
	struct wlapi_svid again;

	CHECK(b);
	inner = 1 + put_varint(b, sv->id_len) + sv->id_len + 1 + put_varint(b, sv->svid_len) +
		sv->svid_len;
	b[o++] = 0x0a;
	o += put_varint(b + o, inner);
	b[o++] = 0x0a;
	o += put_varint(b + o, sv->id_len);
	memcpy(b + o, sv->spiffe_id, sv->id_len);
	o += sv->id_len;
	b[o++] = 0x12;
	o += put_varint(b + o, sv->svid_len);
	memcpy(b + o, sv->svid, sv->svid_len);
	o += sv->svid_len;
	CHECK(wlapi_response(b, o, &again) == 1);
	CHECK(again.id_len == sv->id_len &&
	      memcmp(again.spiffe_id, sv->spiffe_id, sv->id_len) == 0);
	CHECK(again.svid_len == sv->svid_len && memcmp(again.svid, sv->svid, sv->svid_len) == 0);
	free(b);
}

static void check_svid(const uint8_t *d, size_t n, int rc, const struct wlapi_svid *sv)
{
	unsigned dots = 0;

	CHECK(known_rc(rc));
	if (rc < 0) {
		CHECK(!sv->spiffe_id && !sv->svid && !sv->id_len && !sv->svid_len);
		return;
	}
	CHECK(rc <= WLAPI_SVIDS_MAX);
	CHECK((const uint8_t *)sv->spiffe_id >= d &&
	      (const uint8_t *)sv->spiffe_id + sv->id_len <= d + n);
	CHECK((const uint8_t *)sv->svid >= d && (const uint8_t *)sv->svid + sv->svid_len <= d + n);
	CHECK(sv->id_len >= 10 && sv->id_len <= WLAPI_ID_MAX);
	CHECK(memcmp(sv->spiffe_id, "spiffe://", 9) == 0);
	CHECK(sv->svid_len <= WLAPI_SVID_MAX);
	for (size_t i = 0; i < sv->id_len; i++)
		CHECK(sv->spiffe_id[i] > 0x20 && sv->spiffe_id[i] < 0x7f);
	for (size_t i = 0; i < sv->svid_len; i++) {
		char c = sv->svid[i];
		dots += c == '.';
		CHECK(c == '.' || c == '-' || c == '_' || (c >= 'A' && c <= 'Z') ||
		      (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
	}
	CHECK(dots == 2);
	round_trip(sv);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct wlapi_svid sv, sv2;
	struct wlapi_endpoint ep;
	uint8_t *framed, req[WLAPI_GRPC_HDR + 16 + WLAPI_AUD_MAX];
	char text[512], err[400];
	int rc, rc2;

	/* a response body */
	rc = wlapi_response_body(d, n, &sv);
	check_svid(d, n, rc, &sv);

	/* a bare message, and the same framed */
	rc = wlapi_response(d, n, &sv);
	check_svid(d, n, rc, &sv);
	framed = malloc(n + WLAPI_GRPC_HDR);
	CHECK(framed);
	framed[0] = 0;
	framed[1] = (uint8_t)(n >> 24);
	framed[2] = (uint8_t)(n >> 16);
	framed[3] = (uint8_t)(n >> 8);
	framed[4] = (uint8_t)n;
	memcpy(framed + WLAPI_GRPC_HDR, d, n);
	rc2 = wlapi_response_body(framed, n + WLAPI_GRPC_HDR, &sv2);
	if (n > WLAPI_MSG_MAX) {
		CHECK(rc2 == -EMSGSIZE);
	} else {
		CHECK(rc2 == rc);
		if (rc > 0)
			CHECK(sv2.svid_len == sv.svid_len &&
			      memcmp(sv2.svid, sv.svid, sv.svid_len) == 0 &&
			      sv2.id_len == sv.id_len &&
			      memcmp(sv2.spiffe_id, sv.spiffe_id, sv.id_len) == 0);
	}
	free(framed);

	/* text: an endpoint URI, an audience */
	memcpy(text, d, n < sizeof(text) - 1 ? n : sizeof(text) - 1);
	text[n < sizeof(text) - 1 ? n : sizeof(text) - 1] = '\0';
	if (wlapi_endpoint_parse(text, &ep, err, sizeof(err)) == 0) {
		CHECK(ep.unix_path[0] == '/' ||
		      (ep.unix_path[0] == '\0' && strncmp(ep.url, "http://", 7) == 0));
		CHECK(strlen(ep.unix_path) < sizeof(ep.unix_path));
	}
	rc = wlapi_request(req, sizeof(req), text, NULL);
	if (!*text || strlen(text) > WLAPI_AUD_MAX) {
		CHECK(rc == -EINVAL);
	} else {
		CHECK(rc > WLAPI_GRPC_HDR && (size_t)rc <= sizeof(req));
		CHECK(req[0] == 0 && req[WLAPI_GRPC_HDR] == 0x0a);
	}
	return 0;
}
