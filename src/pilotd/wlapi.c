/* wlapi.c - see wlapi.h.
 *
 * Protobuf's wire format, as much as two messages need: a field is a
 * varint key (field number << 3 | wire type) and a value; a string or a
 * sub-message is wire type 2, a varint length and that many bytes.  The
 * decoder reads every field of a message, so that an unknown one of any
 * wire type (a newer agent's "hint", say) is skipped rather than taken
 * for the end; groups (types 3 and 4) are long deprecated and refused. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "wlapi.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- the endpoint ---- */

static int ep_fail(char *err, size_t errlen, const char *uri, const char *why)
{
	snprintf(err, errlen, "'%s': %s", uri, why);
	return -EINVAL;
}

int wlapi_endpoint_parse(const char *uri, struct wlapi_endpoint *ep, char *err, size_t errlen)
{
	const char *p;

	memset(ep, 0, sizeof(*ep));
	if (!uri || !*uri)
		return ep_fail(err, errlen, "", "no Workload API address");
	if (strpbrk(uri, "?#%") || strpbrk(uri, " \t\r\n"))
		return ep_fail(err, errlen, uri,
			       "a query, fragment, escape or space is not allowed");
	if (strncmp(uri, "unix:", 5) == 0) {
		p = uri + 5;
		if (strncmp(p, "//", 2) == 0) {
			p += 2;
			if (*p != '/')
				return ep_fail(err, errlen, uri,
					       "a unix: address has no host (unix:///PATH)");
		}
		if (*p != '/')
			return ep_fail(err, errlen, uri,
				       "a unix: address needs an absolute path (unix:///PATH)");
		if (strlen(p) >= sizeof(ep->unix_path))
			return ep_fail(err, errlen, uri, "the socket path is too long");
		snprintf(ep->unix_path, sizeof(ep->unix_path), "%s", p);
		/* The host is not looked at over a unix socket; gRPC servers
		 * want some :authority. */
		snprintf(ep->url, sizeof(ep->url), "http://localhost%s", WLAPI_PATH);
		return 0;
	}
	if (strncmp(uri, "tcp://", 6) == 0) {
		char host[64];
		const char *colon;
		char *end;
		unsigned long port;
		struct in_addr a4;
		p = uri + 6;
		colon = strrchr(p, ':');
		if (!colon || (size_t)(colon - p) >= sizeof(host))
			return ep_fail(err, errlen, uri, "expected tcp://IP:PORT");
		memcpy(host, p, (size_t)(colon - p));
		host[colon - p] = '\0';
		port = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port == 0 || port > 65535)
			return ep_fail(err, errlen, uri, "expected tcp://IP:PORT (port 1-65535)");
		if (inet_pton(AF_INET, host, &a4) != 1)
			return ep_fail(err, errlen, uri,
				       "a tcp: address names an IPv4 address, not a host name");
		snprintf(ep->url, sizeof(ep->url), "http://%s:%lu%s", host, port, WLAPI_PATH);
		return 0;
	}
	return ep_fail(err, errlen, uri, "expected unix:///PATH or tcp://IP:PORT");
}

/* ---- the request ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return n;
}

/* Field \p field as a string; \p o is the offset so far.  \retval the new
 * offset, or 0 when it does not fit. */
static size_t put_str(uint8_t *out, size_t cap, size_t o, unsigned field, const char *s)
{
	size_t len = strlen(s), vl = 1;

	for (size_t x = len; x > 0x7f; x >>= 7)
		vl++;
	if (o + 1 + vl + len > cap)
		return 0;
	out[o++] = (uint8_t)(field << 3 | WT_LEN);
	o += put_varint(out + o, len);
	memcpy(out + o, s, len);
	return o + len;
}

int wlapi_request(uint8_t *out, size_t cap, const char *audience, const char *spiffe_id)
{
	size_t o = WLAPI_GRPC_HDR;

	if (!audience || !*audience || strlen(audience) > WLAPI_AUD_MAX ||
	    (spiffe_id && strlen(spiffe_id) > WLAPI_ID_MAX))
		return -EINVAL;
	if (cap < WLAPI_GRPC_HDR || !(o = put_str(out, cap, o, 1, audience)))
		return -ENOSPC;
	if (spiffe_id && *spiffe_id && !(o = put_str(out, cap, o, 2, spiffe_id)))
		return -ENOSPC;
	out[0] = 0; /* not compressed */
	put_be32(out + 1, (uint32_t)(o - WLAPI_GRPC_HDR));
	return (int)o;
}

/* ---- the response ---- */

int wlapi_unframe(const uint8_t *body, size_t len, const uint8_t **msg, size_t *mlen)
{
	uint32_t n;

	if (len < WLAPI_GRPC_HDR)
		return -EBADMSG;
	n = get_be32(body + 1);
	if (n > WLAPI_MSG_MAX)
		return -EMSGSIZE;
	/* We asked for no compression (no grpc-accept-encoding). */
	if (body[0] != 0 || len - WLAPI_GRPC_HDR != n)
		return -EBADMSG;
	*msg = body + WLAPI_GRPC_HDR;
	*mlen = n;
	return 0;
}

struct rd {
	const uint8_t *p, *end;
};

static int get_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10; i++) {
		uint8_t b;
		if (r->p == r->end)
			return -EBADMSG;
		b = *r->p++;
		if (i == 9 && b > 1)
			return -EBADMSG; /* past 64 bits */
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EBADMSG;
}

/* The next field: its number, wire type and, for type 2, its bytes. */
static int get_field(struct rd *r, uint32_t *field, unsigned *wt, const uint8_t **val, size_t *vlen)
{
	uint64_t key, n;
	int rc;

	if ((rc = get_varint(r, &key)) < 0)
		return rc;
	*field = (uint32_t)(key >> 3);
	*wt = (unsigned)(key & 7);
	if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
		return -EBADMSG; /* field numbers are 1 .. 2^29-1 */
	switch (*wt) {
	case WT_VARINT:
		return get_varint(r, &n);
	case WT_I64:
	case WT_I32:
		n = *wt == WT_I64 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return -EBADMSG;
		r->p += n;
		return 0;
	case WT_LEN:
		if ((rc = get_varint(r, &n)) < 0)
			return rc;
		if (n > (uint64_t)(r->end - r->p))
			return -EBADMSG;
		*val = r->p;
		*vlen = (size_t)n;
		r->p += n;
		return 0;
	default:
		return -EBADMSG;
	}
}

static int id_ok(const uint8_t *s, size_t n)
{
	if (n < 10 || memcmp(s, "spiffe://", 9) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

/* A compact JWS: three base64url parts, none empty but the signature's
 * (which the registry refuses anyway: it is not ours to judge). */
static int svid_ok(const uint8_t *s, size_t n)
{
	unsigned dots = 0;
	size_t last = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '.') {
			if (i == last)
				return 0;
			dots++;
			last = i + 1;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			return 0;
		}
	}
	return dots == 2;
}

static int decode_svid(const uint8_t *p, size_t len, struct wlapi_svid *out)
{
	struct rd r = {p, p + len};
	const uint8_t *v = NULL;
	size_t vl = 0;
	uint32_t f;
	unsigned wt;
	int rc;

	memset(out, 0, sizeof(*out));
	while (r.p < r.end) {
		if ((rc = get_field(&r, &f, &wt, &v, &vl)) < 0)
			return rc;
		if (f == 1 || f == 2 || f == 3) {
			if (wt != WT_LEN)
				return -EBADMSG;
		}
		if (f == 1) {
			if (out->spiffe_id)
				return -EBADMSG; /* a singular field twice */
			if (vl > WLAPI_ID_MAX)
				return -E2BIG;
			if (!id_ok(v, vl))
				return -EBADMSG;
			out->spiffe_id = (const char *)v;
			out->id_len = vl;
		} else if (f == 2) {
			if (out->svid)
				return -EBADMSG;
			if (vl > WLAPI_SVID_MAX)
				return -E2BIG;
			if (!svid_ok(v, vl))
				return -EBADMSG;
			out->svid = (const char *)v;
			out->svid_len = vl;
		}
		/* 3 (hint) and unknown fields: skipped. */
	}
	return out->spiffe_id && out->svid ? 0 : -EBADMSG;
}

int wlapi_response(const uint8_t *msg, size_t len, struct wlapi_svid *first)
{
	struct rd r = {msg, msg + len};
	struct wlapi_svid one;
	const uint8_t *v = NULL;
	size_t vl = 0;
	uint32_t f;
	unsigned wt;
	int rc, n = 0;

	memset(first, 0, sizeof(*first));
	if (len > WLAPI_MSG_MAX)
		return -E2BIG;
	while (r.p < r.end) {
		if ((rc = get_field(&r, &f, &wt, &v, &vl)) < 0)
			goto out;
		if (f != 1)
			continue;
		rc = -EBADMSG;
		if (wt != WT_LEN)
			goto out;
		rc = -E2BIG;
		if (n == WLAPI_SVIDS_MAX)
			goto out;
		if ((rc = decode_svid(v, vl, &one)) < 0)
			goto out;
		if (n++ == 0)
			*first = one;
	}
	rc = n ? n : -ENOENT;
out:
	/* One bad JWTSVID spoils the answer: nothing of it is used. */
	if (rc < 0)
		memset(first, 0, sizeof(*first));
	return rc;
}

int wlapi_response_body(const uint8_t *body, size_t len, struct wlapi_svid *first)
{
	const uint8_t *msg;
	size_t mlen;
	int rc = wlapi_unframe(body, len, &msg, &mlen);

	if (rc < 0) {
		memset(first, 0, sizeof(*first));
		return rc;
	}
	return wlapi_response(msg, mlen, first);
}
