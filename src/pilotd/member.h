/* member.h - the non-backbone networks this node belongs to, and their
 * members.  Answers "do we share network N with node X?" in O(1) for the
 * admission pipeline; the joined networks are persisted in LMDB (database
 * "networks"), member lists are refreshed from the registry at start and
 * kept current by its events. */
#ifndef PILOT_MEMBER_H
#define PILOT_MEMBER_H

#include <stdint.h>

struct store;

#define MEMBER_MAX_NETS 256

struct policy_view;

struct member_net {
	uint16_t id;
	char name[64];
	char rule[16];
	int addr_up;		  /* our address in it is on pilot0 */
	unsigned bcast_pending;	  /* ticks left to take its broadcast address's local route out */
	struct policy_view *view; /* this node's compiled policy; NULL = none known */
	uint64_t policy_version;
	int view_pending;	 /* fetched, or being fetched: deny until it arrives */
	uint64_t cert_not_after; /* ca, oidc, spiffe: our credential's end (s), else 0 */
	char external_id[256];	 /* oidc, spiffe: who the registry admitted us as */
	char external_issuer[256];
};

struct member_entry {
	uint64_t key; /* net << 32 | node; 0 = empty */
	uint8_t ed_pk[32];
	char hostname[64];
	uint64_t not_after; /* a ca network: the member's certificate ends it then (s) */
};

struct member_table {
	struct member_net nets[MEMBER_MAX_NETS];
	unsigned nnets;
	struct member_entry *e;
	uint32_t cap, count;
	uint32_t expiring; /* entries with a not_after (0: nothing to sweep) */
	struct store *st;
	int db;
};

int member_init(struct member_table *m, struct store *st);
void member_free(struct member_table *m);

struct member_net *member_net_find(struct member_table *m, uint16_t net);
/** Record that we joined \p net (durably). \retval 0 or -errno. */
int member_net_add(struct member_table *m, uint16_t net, const char *name, const char *rule);
/** Forget \p net and all its members (durably). */
int member_net_remove(struct member_table *m, uint16_t net);

void member_add(struct member_table *m, uint16_t net, uint32_t node, const uint8_t pk[32],
		const char *hostname);
/** \p node's membership of \p net ends at \p not_after (Unix s; 0: never). */
void member_set_expiry(struct member_table *m, uint16_t net, uint32_t node, uint64_t not_after);
typedef void (*member_expired_fn)(void *arg, uint16_t net, uint32_t node);
/** Remove the entries whose not_after is <= \p now_s, calling \p cb for
 *  each after it is gone. */
void member_expire(struct member_table *m, uint64_t now_s, member_expired_fn cb, void *arg);
void member_remove(struct member_table *m, uint16_t net, uint32_t node);
/** Remove every member of \p net (before a refresh). */
void member_clear_net(struct member_table *m, uint16_t net);
struct member_entry *member_find(struct member_table *m, uint16_t net, uint32_t node);
/** Lowest network we share with \p node, 0 if none. */
uint16_t member_shared(struct member_table *m, uint32_t node);
/** Any member entry for \p node (for its key), or NULL. */
struct member_entry *member_any(struct member_table *m, uint32_t node);
/** Find by public key (handshake path only: a scan). \retval node or 0. */
uint32_t member_find_pk(struct member_table *m, const uint8_t pk[32]);
/** Update \p node's key in every network. */
void member_set_pk(struct member_table *m, uint32_t node, const uint8_t pk[32]);

#endif
