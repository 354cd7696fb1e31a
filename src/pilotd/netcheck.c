/* netcheck.c - see netcheck.h. */
#include "config.h"

#include <string.h>

#include "bytes.h"
#include "netcheck.h"

const char *nc_mapping_name(enum nc_mapping m)
{
	switch (m) {
	case NC_MAP_NONE:
		return "none";
	case NC_MAP_EIM:
		return "endpoint-independent";
	case NC_MAP_EDM:
		return "endpoint-dependent";
	default:
		return "unknown";
	}
}

enum nc_mapping nc_mapping_decide(const struct sockaddr_in6 *refl1, uint16_t local1,
				  const struct sockaddr_in6 *refl2, uint16_t local2, int refl1_ours)
{
	uint16_t shift1, shift2;

	if (!refl1)
		return NC_MAP_UNKNOWN;
	if (refl1_ours)
		return NC_MAP_NONE;
	if (!refl2)
		return NC_MAP_UNKNOWN;
	if (memcmp(&refl1->sin6_addr, &refl2->sin6_addr, sizeof(refl1->sin6_addr)) != 0)
		return NC_MAP_EDM;
	/* Modulo 2^16: a NAT that adds the same offset to every port. */
	shift1 = (uint16_t)(ntohs(refl1->sin6_port) - local1);
	shift2 = (uint16_t)(ntohs(refl2->sin6_port) - local2);
	return shift1 == shift2 ? NC_MAP_EIM : NC_MAP_EDM;
}

void nc_mtu_sizes(int v6, uint16_t out[NC_MTUS])
{
	static const uint16_t mtus[NC_MTUS] = {1500, 1492, 1480, 1472, 1460, 1450,
					       1440, 1420, 1400, 1380, 1280};
	unsigned hdr = v6 ? NC_HDR_V6 : NC_HDR_V4;

	for (unsigned i = 0; i < NC_MTUS; i++)
		out[i] = (uint16_t)(mtus[i] - hdr);
}

void nc_tag_make(uint8_t tag[BCN_NONCE], uint32_t run, unsigned index, unsigned round)
{
	put_be32(tag, run);
	tag[4] = (uint8_t)index;
	tag[5] = (uint8_t)round;
	tag[6] = tag[7] = 0;
}

int nc_tag_parse(const uint8_t tag[BCN_NONCE], uint32_t run, unsigned *index, unsigned *round)
{
	if (get_be32(tag) != run || tag[4] >= NC_PROBES || tag[5] >= NC_ROUNDS || tag[6] || tag[7])
		return -1;
	*index = tag[4];
	*round = tag[5];
	return 0;
}

int nc_echo_answer(struct nc_echo *e, unsigned index, unsigned round, int second, size_t len,
		   const struct sockaddr_in6 *ep, uint64_t now_us)
{
	/* Echo 0 goes out of the tunnel socket, every other out of the
	 * second: an answer elsewhere is not this echo's. */
	if (e->answered || round >= e->sent || len != e->len || second != (index != NC_ECHO_TUNNEL))
		return 0;
	e->answered = 1;
	e->rtt_us = now_us - e->sent_us[round];
	e->ep = *ep;
	return 1;
}

int nc_echoes_done(const struct nc_echo e[NC_PROBES])
{
	if (!e[NC_ECHO_TUNNEL].answered || !e[NC_ECHO_SECOND].answered)
		return 0;
	/* Largest first: the first size that could be sent decides. */
	for (unsigned i = 2; i < NC_PROBES; i++)
		if (!e[i].refused)
			return e[i].answered;
	return 1;
}

void nc_mtu_result(const struct nc_echo e[NC_PROBES], uint16_t *largest, uint16_t *probed)
{
	*largest = *probed = 0;
	for (unsigned i = 2; i < NC_PROBES; i++) {
		if (e[i].sent && !e[i].refused && e[i].len > *probed)
			*probed = e[i].len;
		if (e[i].answered && e[i].len > *largest)
			*largest = e[i].len;
	}
}
