/* netcheck.h - what `pilotctl netcheck` measures (doc/NAT.md "netcheck"),
 * decided without I/O: the NAT mapping from the reflexive endpoints of
 * two local sockets, the sizes the MTU probe sends, the tags that name
 * each echo, and when a run has heard all it can.  The sending and the
 * timers are pilotd_netcheck.c's. */
#ifndef PILOT_NETCHECK_H
#define PILOT_NETCHECK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "bcn.h"

/* Echoes: 0 from the tunnel socket, 1 from the second socket, then one
 * per MTU probe size (from the second socket, which sets DF). */
#define NC_ECHO_TUNNEL 0
#define NC_ECHO_SECOND 1
#define NC_MTUS 11
#define NC_PROBES (2 + NC_MTUS)
/* Each echo not yet answered is sent again after NC_ROUND_MS, NC_ROUNDS
 * sends in all; the echoes are given up NC_ECHO_MS after the start and the
 * registry NC_TOTAL_MS after it: a run never takes longer. */
#define NC_ROUNDS 3
#define NC_ROUND_MS 1000
#define NC_ECHO_MS 3000
#define NC_TOTAL_MS 4500
/* UDP and IP header bytes under a payload: IPv4, IPv6. */
#define NC_HDR_V4 28
#define NC_HDR_V6 48

enum nc_mapping {
	NC_MAP_UNKNOWN = 0, /* no answer from the beacon on one of the sockets */
	NC_MAP_NONE,	    /* the reflexive endpoint is our own: no NAT */
	NC_MAP_EIM,	    /* endpoint-independent */
	NC_MAP_EDM,	    /* endpoint-dependent (symmetric) */
};

/** "unknown", "none", "endpoint-independent", "endpoint-dependent". */
const char *nc_mapping_name(enum nc_mapping m);

/** The mapping seen through two local sockets, \p local1 and \p local2
 *  (host order), that the beacon saw at \p refl1 and \p refl2 (NULL: no
 *  answer).  \p refl1_ours: \p refl1 is one of this host's addresses at
 *  \p local1.  With one beacon address the test cannot be RFC 5780's (one
 *  port, two destinations): a NAT that maps both sockets to one public
 *  address and shifts both ports alike (most keep them) is taken as
 *  endpoint-independent, one that picks each mapping's port anew as
 *  endpoint-dependent. */
enum nc_mapping nc_mapping_decide(const struct sockaddr_in6 *refl1, uint16_t local1,
				  const struct sockaddr_in6 *refl2, uint16_t local2,
				  int refl1_ours);

/** The ECHO frame lengths (UDP payloads) of the MTU probe, largest first,
 *  for an IPv4 (\p v6 0) or IPv6 beacon: the payloads of common path MTUs
 *  from Ethernet's 1500 down to IPv6's minimum 1280. */
void nc_mtu_sizes(int v6, uint16_t out[NC_MTUS]);

/** One echo of a run. */
struct nc_echo {
	uint16_t len;		     /* frame length */
	unsigned sent;		     /* sends so far (rounds) */
	uint64_t sent_us[NC_ROUNDS]; /* monotonic, per send */
	int answered, refused;	     /* refused: too big for the interface (EMSGSIZE) */
	uint64_t rtt_us;
	struct sockaddr_in6 ep; /* the endpoint the beacon saw */
};

/** The tag an echo carries (BCN_NONCE bytes): run(4) index(1) round(1) 0(2). */
void nc_tag_make(uint8_t tag[BCN_NONCE], uint32_t run, unsigned index, unsigned round);
/** \retval 0 with *index and *round if \p tag is run \p run's, else -1. */
int nc_tag_parse(const uint8_t tag[BCN_NONCE], uint32_t run, unsigned *index, unsigned *round);

/** An answer of \p len bytes that arrived on the tunnel socket (\p second
 *  0) or the second one, for echo \p index sent in \p round: recorded in
 *  \p e at monotonic \p now_us if it fits what was sent.  \retval 1
 *  recorded, 0 ignored (a duplicate, or not what was sent). */
int nc_echo_answer(struct nc_echo *e, unsigned index, unsigned round, int second, size_t len,
		   const struct sockaddr_in6 *ep, uint64_t now_us);

/** Have the echoes told all they can: both reflexive endpoints known, and
 *  the MTU probe's largest size that could be sent answered? */
int nc_echoes_done(const struct nc_echo e[NC_PROBES]);

/** The MTU probe's result: the largest answered probe's payload (0: none),
 *  the largest size sent (the probe cannot see past it). */
void nc_mtu_result(const struct nc_echo e[NC_PROBES], uint16_t *largest, uint16_t *probed);

#endif
