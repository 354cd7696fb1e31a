/* addr.c - see addr.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

static int parse_hex4(const char *s, uint16_t *out)
{
	uint16_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint16_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint16_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint16_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Parses the address part and returns a pointer past it, or NULL. */
static const char *addr_parse_prefix(const char *s, struct pilot_addr *out)
{
	uint32_t dec = 0;
	uint16_t n, hi, lo;
	int digits = 0;

	while (*s >= '0' && *s <= '9') {
		dec = dec * 10 + (uint32_t)(*s - '0');
		if (++digits > 5 || dec > 65535)
			return NULL;
		s++;
	}
	if (digits == 0 || *s != ':')
		return NULL;
	s++;
	if (parse_hex4(s, &n) < 0 || s[4] != '.')
		return NULL;
	s += 5;
	if (parse_hex4(s, &hi) < 0 || s[4] != '.')
		return NULL;
	s += 5;
	if (parse_hex4(s, &lo) < 0)
		return NULL;
	s += 4;
	if (n != dec)
		return NULL;
	out->net = n;
	out->node = (uint32_t)hi << 16 | lo;
	return s;
}

int addr_parse(const char *s, struct pilot_addr *out)
{
	struct pilot_addr a;
	const char *end = addr_parse_prefix(s, &a);

	if (!end || *end != '\0')
		return -EINVAL;
	*out = a;
	return 0;
}

int addr_parse_socket(const char *s, struct pilot_addr *out, uint16_t *port)
{
	struct pilot_addr a;
	const char *end = addr_parse_prefix(s, &a);
	uint32_t p = 0;
	int digits = 0;

	if (!end || *end != ':')
		return -EINVAL;
	for (end++; *end >= '0' && *end <= '9'; end++) {
		p = p * 10 + (uint32_t)(*end - '0');
		if (++digits > 5 || p > 65535)
			return -EINVAL;
	}
	if (digits == 0 || *end != '\0')
		return -EINVAL;
	*out = a;
	*port = (uint16_t)p;
	return 0;
}

char *addr_format(const struct pilot_addr *a, char *buf)
{
	snprintf(buf, PILOT_ADDR_STRLEN, "%u:%04X.%04X.%04X", a->net, a->net,
		 (unsigned)(a->node >> 16), (unsigned)(a->node & 0xffff));
	return buf;
}

uint64_t addr_to_u48(const struct pilot_addr *a)
{
	return (uint64_t)a->net << 32 | a->node;
}

void addr_from_u48(uint64_t v, struct pilot_addr *out)
{
	out->net = (uint16_t)(v >> 32);
	out->node = (uint32_t)v;
}

void addr_to_ipv6(const struct pilot_prefix *p, const struct pilot_addr *a, struct in6_addr *out)
{
	uint8_t *b = out->s6_addr;

	memcpy(b, p->b, 6);
	b[6] = (uint8_t)(a->net >> 8);
	b[7] = (uint8_t)a->net;
	memset(b + 8, 0, 4);
	b[12] = (uint8_t)(a->node >> 24);
	b[13] = (uint8_t)(a->node >> 16);
	b[14] = (uint8_t)(a->node >> 8);
	b[15] = (uint8_t)a->node;
}

int addr_from_ipv6(const struct pilot_prefix *p, const struct in6_addr *in, struct pilot_addr *out)
{
	const uint8_t *b = in->s6_addr;

	if (memcmp(b, p->b, 6) != 0)
		return -EINVAL;
	if (b[8] | b[9] | b[10] | b[11])
		return -EINVAL;
	out->net = (uint16_t)(b[6] << 8 | b[7]);
	out->node = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
	return 0;
}

int prefix_parse(const char *s, struct pilot_prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct in6_addr a;
	size_t len = strlen(s);
	char *slash;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len + 1);
	slash = strchr(buf, '/');
	if (slash) {
		if (strcmp(slash, "/48") != 0)
			return -EINVAL;
		*slash = '\0';
	}
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return -EINVAL;
	if ((a.s6_addr[0] & 0xfe) != 0xfc)
		return -EINVAL;
	for (int i = 6; i < 16; i++)
		if (a.s6_addr[i])
			return -EINVAL;
	memcpy(out->b, a.s6_addr, 6);
	return 0;
}

char *prefix_format(const struct pilot_prefix *p, char *buf, size_t len)
{
	struct in6_addr a;
	char tmp[INET6_ADDRSTRLEN];

	memset(&a, 0, sizeof(a));
	memcpy(a.s6_addr, p->b, 6);
	inet_ntop(AF_INET6, &a, tmp, sizeof(tmp));
	snprintf(buf, len, "%s/48", tmp);
	return buf;
}

void prefix_generate(struct pilot_prefix *out)
{
	out->b[0] = 0xfd;
	randombytes_buf(out->b + 1, 5);
}

const char *addr_hostname_norm(const char *in, char out[PILOT_HOSTNAME_MAX + 1])
{
	size_t n = strlen(in), digits = 0;

	if (n == 0 || n > PILOT_HOSTNAME_MAX)
		return "must be 1 to 63 characters";
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return "may hold only letters, digits and '-'";
		digits += ch >= '0' && ch <= '9';
		out[i] = ch;
	}
	out[n] = '\0';
	if (in[0] == '-' || in[n - 1] == '-')
		return "must not start or end with '-'";
	if (digits == n)
		return "must not be all digits (it would read as a node ID)";
	return NULL;
}
