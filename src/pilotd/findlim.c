/* findlim.c - see findlim.h. */
#include "config.h"

#include "findlim.h"

/* \p uid's bucket, or the place of the least recently seen user. */
static struct findlim_uid *uid_bucket(struct findlim *f, uid_t uid)
{
	struct findlim_uid *lru = &f->uid[0];

	for (unsigned i = 0; i < FINDLIM_UIDS; i++) {
		struct findlim_uid *u = &f->uid[i];
		if (u->used && u->uid == uid)
			return u;
		if (!u->used || (lru->used && u->seen_ms < lru->seen_ms))
			lru = u;
	}
	*lru = (struct findlim_uid){.used = 1, .uid = uid};
	return lru;
}

enum findlim_verdict findlim_take(struct findlim *f, uid_t uid, uint64_t now_ms)
{
	struct findlim_uid *u;

	if (f->inflight >= FINDLIM_INFLIGHT)
		return FINDLIM_BUSY;
	u = uid_bucket(f, uid);
	u->seen_ms = now_ms;
	if (!token_bucket_take(&u->tb, FINDLIM_UID_RATE, FINDLIM_UID_BURST, now_ms))
		return FINDLIM_UID;
	if (!token_bucket_take(&f->all, FINDLIM_RATE, FINDLIM_BURST, now_ms)) {
		u->tb.tokens += 1; /* not spent: the shared limit said no */
		return FINDLIM_ALL;
	}
	f->inflight++;
	return FINDLIM_OK;
}

void findlim_done(struct findlim *f)
{
	if (f->inflight)
		f->inflight--;
}
