/* ipc_cap.c - see ipc_cap.h.  A flat table: it holds at most max users
 * (each has a connection open) and is searched once per accept and once
 * per close, which a few hundred entries make cheap next to the syscalls. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "ipc_cap.h"

int ipc_cap_init(struct ipc_cap *c, unsigned max, unsigned max_uid)
{
	*c = (struct ipc_cap){.max = max, .max_uid = max_uid};
	if (!max || !max_uid)
		return -EINVAL;
	c->uids = calloc(max, sizeof(*c->uids));
	return c->uids ? 0 : -ENOMEM;
}

void ipc_cap_free(struct ipc_cap *c)
{
	free(c->uids);
	c->uids = NULL;
	c->n = c->nuids = 0;
}

static struct ipc_cap_uid *find(const struct ipc_cap *c, uid_t uid)
{
	for (unsigned i = 0; i < c->nuids; i++)
		if (c->uids[i].uid == uid)
			return &c->uids[i];
	return NULL;
}

enum ipc_cap_verdict ipc_cap_take(struct ipc_cap *c, uid_t uid)
{
	struct ipc_cap_uid *u = find(c, uid);

	if (c->n >= c->max)
		return IPC_CAP_FULL;
	if (u && u->n >= c->max_uid)
		return IPC_CAP_UID_FULL;
	if (!u) {
		/* nuids <= n < max: there is room */
		u = &c->uids[c->nuids++];
		*u = (struct ipc_cap_uid){.uid = uid};
	}
	u->n++;
	c->n++;
	return IPC_CAP_OK;
}

void ipc_cap_put(struct ipc_cap *c, uid_t uid)
{
	struct ipc_cap_uid *u = find(c, uid);

	if (!u || !c->n)
		return; /* not counted: nothing to give back */
	c->n--;
	if (--u->n == 0)
		*u = c->uids[--c->nuids]; /* the last entry fills the hole */
}

unsigned ipc_cap_count(const struct ipc_cap *c, uid_t uid)
{
	const struct ipc_cap_uid *u = find(c, uid);
	return u ? u->n : 0;
}
