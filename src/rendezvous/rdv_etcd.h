/* rdv_etcd.h - a small, blocking etcd v3 client over etcd's JSON gateway
 * (POST /v3/kv/..., /v3/lease/...), the building block of the registry on
 * etcd (issue 18).  One libcurl handle, one request at a time, several
 * endpoints with failover.  Keys and values are bytes (any, NUL
 * included); revisions, versions, lease ids and TTLs are int64 as etcd
 * has them.  Not thread-safe: one client per thread. */
#ifndef PILOT_RDV_ETCD_H
#define PILOT_RDV_ETCD_H

#include <stddef.h>
#include <stdint.h>

struct rdv_etcd;

/* One key-value as etcd returns it.  The pointers are valid only during
 * the callback that receives it. */
struct rdv_etcd_kv {
	const uint8_t *key;
	size_t klen;
	const uint8_t *val;
	size_t vlen;
	int64_t create_rev, mod_rev, version, lease;
};

/** Called for every key of a range, in key order.  \retval 0 to go on;
 *  anything else stops the walk and is returned by the call. */
typedef int (*rdv_etcd_kv_cb)(void *arg, const struct rdv_etcd_kv *kv);

/* What a compare looks at (etcd's Compare.target), and how. */
enum rdv_etcd_target { RDV_ETCD_VERSION, RDV_ETCD_CREATE, RDV_ETCD_MOD, RDV_ETCD_VALUE };
enum rdv_etcd_result { RDV_ETCD_EQUAL, RDV_ETCD_GREATER, RDV_ETCD_LESS, RDV_ETCD_NOT_EQUAL };

/* One compare of a transaction: key (or [key, end) when elen > 0)
 * TARGET RESULT operand; the operand is num for VERSION, CREATE and MOD
 * (a key that does not exist has all three 0), val for VALUE. */
struct rdv_etcd_cmp {
	const void *key;
	size_t klen;
	const void *end;
	size_t elen;
	enum rdv_etcd_target target;
	enum rdv_etcd_result result;
	int64_t num;
	const void *val;
	size_t vlen;
};

enum rdv_etcd_op_kind { RDV_ETCD_OP_PUT, RDV_ETCD_OP_DELETE, RDV_ETCD_OP_RANGE };

/* One operation of a transaction's branch: put key = val (under lease,
 * 0 for none), delete key (or [key, end)), or range key (or [key, end)). */
struct rdv_etcd_op {
	enum rdv_etcd_op_kind kind;
	const void *key;
	size_t klen;
	const void *end;
	size_t elen;
	const void *val;
	size_t vlen;
	int64_t lease;
};

/* A transaction: if every compare holds, the success ops, else the
 * failure ops, all at one revision.  The kvs of the branch's range ops go
 * to cb (in op order, then key order) when it is not NULL. */
struct rdv_etcd_txn {
	const struct rdv_etcd_cmp *cmp;
	size_t ncmp;
	const struct rdv_etcd_op *success;
	size_t nsuccess;
	const struct rdv_etcd_op *failure;
	size_t nfailure;
	rdv_etcd_kv_cb cb;
	void *arg;
};

/** \brief A client of the cluster at \p endpoints (n URLs such as
 *  "http://127.0.0.1:2379" or "https://etcd1:2379"; copied).  Every
 *  attempt on one endpoint may take \p timeout_ms.  \p ca (a CA bundle
 *  file), \p cert and \p key (a client certificate and its key, PEM
 *  files) are for https endpoints and may be NULL.  Nothing is sent yet.
 *  \retval client (free with rdv_etcd_close) or NULL (errno: EINVAL for
 *  no endpoint or a URL that is not http(s)://, ENOMEM). */
struct rdv_etcd *rdv_etcd_open(const char *const *endpoints, size_t n, int timeout_ms,
			       const char *ca, const char *cert, const char *key);
void rdv_etcd_close(struct rdv_etcd *e); /* NULL is fine */
/** Is \p url an endpoint rdv_etcd_open takes (http:// or https://, not
 *  too long)?  For configuration checks before any client is made. */
int rdv_etcd_url_ok(const char *url);

/** What the last failed call went wrong with: etcd's own message
 *  ("etcdserver: mvcc: required revision has been compacted") or the
 *  transport's (with the endpoint); "" after a success. */
const char *rdv_etcd_last_error(const struct rdv_etcd *e);
/** The endpoint requests go to first (the last one that answered). */
const char *rdv_etcd_endpoint(const struct rdv_etcd *e);

/* Every request below returns 0 or -errno:
 *  -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ECONNRESET, -EACCES: no
 *   endpoint answered (each was tried once, the last one's error is kept);
 *  -ESTALE: the revision asked for has been compacted;
 *  -ERANGE: a revision in the future, or another out-of-range argument;
 *  -ENOENT: no such lease;  -EINVAL: etcd refused the arguments (an empty
 *   key, say), or ours were bad;  -EACCES: etcd's authentication refused;
 *  -EAGAIN: etcd is unavailable (no leader);  -ENOSPC: its quota is spent;
 *  -EPROTO: an answer we could not read;  -ENOMEM.
 * A call that failed leaves its outputs unset.  \p hdr_rev (may be NULL)
 * is the store's revision when etcd answered. */

/** Keys in [key, end) (just key when elen is 0; end "\0" (elen 1) for every
 *  key from key on) at revision \p rev (0: the latest), to \p cb in key
 *  order.  \retval 0, -errno, or what cb stopped with. */
int rdv_etcd_range(struct rdv_etcd *e, const void *key, size_t klen, const void *end, size_t elen,
		   int64_t rev, rdv_etcd_kv_cb cb, void *arg, int64_t *hdr_rev);
/** As rdv_etcd_range, at most \p limit keys (0: no limit); \p more (may
 *  be NULL) says whether keys were left out: go on from the last key
 *  plus "\0" at the same revision. */
int rdv_etcd_range_page(struct rdv_etcd *e, const void *key, size_t klen, const void *end,
			size_t elen, int64_t rev, int64_t limit, rdv_etcd_kv_cb cb, void *arg,
			int *more, int64_t *hdr_rev);
/** Every key that starts with \p prefix (every key for plen 0). */
int rdv_etcd_range_prefix(struct rdv_etcd *e, const void *prefix, size_t plen, int64_t rev,
			  rdv_etcd_kv_cb cb, void *arg, int64_t *hdr_rev);
/** The range end that covers exactly the keys starting with \p prefix:
 *  the prefix without its trailing 0xff bytes, its last byte plus one; "\0"
 *  when nothing is left (every key from the prefix on).  \p out holds at
 *  least max(plen, 1) bytes.  \retval its length. */
size_t rdv_etcd_prefix_end(const void *prefix, size_t plen, uint8_t *out);

/** Put \p key = \p val, attached to \p lease (0: none). */
int rdv_etcd_put(struct rdv_etcd *e, const void *key, size_t klen, const void *val, size_t vlen,
		 int64_t lease, int64_t *hdr_rev);
/** Delete \p key (or [key, end) when elen > 0); \p deleted (may be NULL)
 *  is how many keys went. */
int rdv_etcd_delete(struct rdv_etcd *e, const void *key, size_t klen, const void *end, size_t elen,
		    int64_t *deleted, int64_t *hdr_rev);
/** Run \p t; \p succeeded says which branch ran (1: the compares held). */
int rdv_etcd_txn(struct rdv_etcd *e, const struct rdv_etcd_txn *t, int *succeeded,
		 int64_t *hdr_rev);
/** Forget the history before \p rev (later reads at older revisions
 *  fail with -ESTALE). */
int rdv_etcd_compact(struct rdv_etcd *e, int64_t rev);

/** A lease of \p ttl seconds (etcd may grant a longer one); \p id is its
 *  id and \p granted (may be NULL) its TTL. */
int rdv_etcd_lease_grant(struct rdv_etcd *e, int64_t ttl, int64_t *id, int64_t *granted);
/** Renew lease \p id once; \p ttl (may be NULL) is its TTL again.
 *  \retval 0, -ENOENT (expired or revoked), -errno. */
int rdv_etcd_lease_keepalive(struct rdv_etcd *e, int64_t id, int64_t *ttl);
/** End lease \p id now, deleting the keys attached to it.
 *  \retval 0, -ENOENT (no such lease), -errno. */
int rdv_etcd_lease_revoke(struct rdv_etcd *e, int64_t id);

/* One change a watch reports: kv (its key, and for a put the new value)
 * at revision kv.mod_rev. */
struct rdv_etcd_event {
	int del;
	struct rdv_etcd_kv kv;
};

/** Called for each event in revision order, and with \p ev NULL at the
 *  end of each answer (never inside one revision's events: a place to
 *  commit).  \retval 0 to go on; anything else stops the watch and is
 *  returned by it. */
typedef int (*rdv_etcd_ev_cb)(void *arg, const struct rdv_etcd_event *ev);

/** Watch [key, end) from revision \p start_rev on, blocking, until \p cb
 *  stops it or \p timeout_ms pass.  \retval what cb stopped with (>0),
 *  -ETIMEDOUT, -ESTALE when start_rev is compacted (\p compact_rev, may
 *  be NULL, is then the oldest revision kept), or -errno as above. */
int rdv_etcd_watch(struct rdv_etcd *e, const void *key, size_t klen, const void *end, size_t elen,
		   int64_t start_rev, int timeout_ms, rdv_etcd_ev_cb cb, void *arg,
		   int64_t *compact_rev);

#endif
