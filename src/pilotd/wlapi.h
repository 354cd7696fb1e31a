/* wlapi.h - the SPIFFE Workload API on the wire, for FetchJWTSVID only:
 * the endpoint address (SPIFFE_ENDPOINT_SOCKET), the JWTSVIDRequest
 * message in its gRPC frame, and the one parser of the JWTSVIDResponse
 * that comes back (untrusted input: every length is bounded, it is
 * fuzzed by tests/fuzz/fuzz_svid_resp.c).  Protobuf by hand: the two
 * messages are strings and repeated sub-messages only.
 *
 *   message JWTSVIDRequest  { repeated string audience = 1; string spiffe_id = 2; }
 *   message JWTSVIDResponse { repeated JWTSVID svids = 1; }
 *   message JWTSVID         { string spiffe_id = 1; string svid = 2; string hint = 3; }
 *
 * No allocation: the decoded strings point into the caller's buffer. */
#ifndef PILOT_WLAPI_H
#define PILOT_WLAPI_H

#include <stddef.h>
#include <stdint.h>

#define WLAPI_GRPC_HDR 5	  /* compressed flag + be32 length */
#define WLAPI_MSG_MAX (64 * 1024) /* a response message's bytes at most */
#define WLAPI_SVIDS_MAX 32	  /* JWTSVIDs in one response at most */
#define WLAPI_SVID_MAX 8192	  /* a JWT-SVID's bytes (JWT_MAX) */
#define WLAPI_ID_MAX 2048	  /* a SPIFFE ID's bytes (the SPIFFE ID spec) */
#define WLAPI_AUD_MAX 255	  /* an audience's bytes (JWT_STR_MAX) */
#define WLAPI_PATH "/SpiffeWorkloadAPI/FetchJWTSVID"

/* Where the Workload API listens, from its URI. */
struct wlapi_endpoint {
	char unix_path[108]; /* sun_path; "" for tcp:// */
	char url[300];	     /* what to POST FetchJWTSVID to */
};

/** Parse a SPIFFE Workload Endpoint URI: "unix:///abs/path",
 *  "unix:/abs/path" or "tcp://IPv4:PORT" (the SPIFFE Workload Endpoint
 *  spec: no authority, query or fragment for unix; an IP address and a
 *  port for tcp).  \retval 0, or -EINVAL with \p err saying why. */
int wlapi_endpoint_parse(const char *uri, struct wlapi_endpoint *ep, char *err, size_t errlen);

/** A FetchJWTSVID request body: the 5-byte gRPC frame header and a
 *  JWTSVIDRequest for \p audience (one, non-empty) and \p spiffe_id (NULL
 *  or "": any of the workload's).  \retval bytes written, or -EINVAL
 *  (empty or oversized strings), -ENOSPC (\p cap too small). */
int wlapi_request(uint8_t *out, size_t cap, const char *audience, const char *spiffe_id);

/** Take the one message out of a unary gRPC response body: exactly one
 *  uncompressed frame, nothing after it, at most WLAPI_MSG_MAX bytes.
 *  \retval 0, -EBADMSG (truncated, trailing bytes, compressed) or
 *  -EMSGSIZE. */
int wlapi_unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *mlen);

/* One JWTSVID of a response (pointers into the message; not terminated). */
struct wlapi_svid {
	const char *spiffe_id, *svid;
	size_t id_len, svid_len;
};

/** Decode a JWTSVIDResponse message.  Fields are checked as the spec
 *  types them (wire type 2 for every known field, a singular field at
 *  most once); unknown fields are skipped; each JWTSVID needs a
 *  spiffe_id ("spiffe://", printable ASCII, at most WLAPI_ID_MAX) and an
 *  svid (three base64url parts, at most WLAPI_SVID_MAX).  The first
 *  JWTSVID goes to \p first.  \retval the number of JWTSVIDs (>= 1),
 *  -ENOENT (none), -EBADMSG (malformed) or -E2BIG (more than
 *  WLAPI_SVIDS_MAX, or a string over its bound). */
int wlapi_response(const uint8_t *msg, size_t len, struct wlapi_svid *first);

/** wlapi_unframe then wlapi_response: a whole response body. */
int wlapi_response_body(const uint8_t *body, size_t len, struct wlapi_svid *first);

#endif
