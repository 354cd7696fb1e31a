/* test_ipc_peer.c - the control socket's peer check (src/pilotd/ipc_peer.c):
 * the rule (root, pilotd's own user, the group as primary or supplementary
 * group; an unknown group list refuses), and the credentials read from a
 * real connection, including a peer with more groups than one read holds. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc_peer.h"

#define GROUP 990
#define SELF 991

static struct ipc_peer peer(uid_t uid, gid_t gid, int in_group)
{
	return (struct ipc_peer){.pid = 1234, .uid = uid, .gid = gid, .in_group = in_group};
}

static void test_rule(void **state)
{
	struct ipc_peer p;

	(void)state;
	p = peer(0, 0, 0);
	assert_true(ipc_peer_may_control(&p, SELF, GROUP)); /* root */
	p = peer(SELF, 100, 0);
	assert_true(ipc_peer_may_control(&p, SELF, GROUP)); /* pilotd's own user */
	p = peer(1000, GROUP, 0);
	assert_true(ipc_peer_may_control(&p, SELF, GROUP)); /* primary group */
	p = peer(1000, 1000, 1);
	assert_true(ipc_peer_may_control(&p, SELF, GROUP)); /* supplementary group */
	p = peer(1000, 1000, 0);
	assert_false(ipc_peer_may_control(&p, SELF, GROUP));
	p = peer(65534, 65534, 0);
	assert_false(ipc_peer_may_control(&p, SELF, GROUP));
	/* No group list from the kernel: refused, unless uid or gid decide. */
	p = peer(1000, 1000, -1);
	assert_false(ipc_peer_may_control(&p, SELF, GROUP));
	p = peer(1000, GROUP, -1);
	assert_true(ipc_peer_may_control(&p, SELF, GROUP));
}

static void test_socketpair(void **state)
{
	gid_t groups[256];
	int sv[2], n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	struct ipc_peer p;

	(void)state;
	assert_true(n >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ipc_peer_get(sv[0], (gid_t)4000000, &p), 0);
	assert_int_equal(p.pid, getpid());
	assert_int_equal(p.uid, geteuid());
	assert_int_equal(p.gid, getegid());
	assert_int_equal(p.in_group, 0); /* nobody is in group 4000000 here */
	if (n > 0) {
		assert_int_equal(ipc_peer_get(sv[0], groups[n - 1], &p), 0);
		assert_int_equal(p.in_group, 1);
	}
	/* (gid_t)-1: the list is not asked for. */
	assert_int_equal(ipc_peer_get(sv[0], (gid_t)-1, &p), 0);
	assert_int_equal(p.in_group, 0);
	close(sv[0]);
	close(sv[1]);
	assert_true(ipc_peer_get(-1, GROUP, &p) < 0);
}

/* A child with 100 supplementary groups (more than the first read takes)
 * connects: the group is found at the end of the list, and the
 * credentials are those it had at connect(), not the listener's. */
static void test_many_groups(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ipc_peer p;
	int lfd, fd, status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		skip(); /* setgroups needs root */
		return;
	}
	/* Abstract name: nothing on disk to clean up. */
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "pilot-test-ipc-peer-%ld",
		 (long)getpid());
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gid_t g[100];
		int c;
		for (int i = 0; i < 100; i++)
			g[i] = (gid_t)(70000 + i);
		c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (setgroups(100, g) < 0 || setresgid(70500, 70500, 70500) < 0 ||
		    setresuid(70600, 70600, 70600) < 0 ||
		    connect(c, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			_exit(1);
		pause(); /* until the parent has looked */
		_exit(0);
	}
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(ipc_peer_get(fd, 70099, &p), 0);
	assert_int_equal(p.uid, 70600);
	assert_int_equal(p.gid, 70500);
	assert_int_equal(p.pid, pid);
	assert_int_equal(p.in_group, 1);
	assert_int_equal(ipc_peer_get(fd, 70100, &p), 0);
	assert_int_equal(p.in_group, 0);
	assert_false(ipc_peer_may_control(&p, 0, 70100));
	assert_int_equal(ipc_peer_get(fd, 70000, &p), 0);
	assert_true(ipc_peer_may_control(&p, 0, 70000));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule),
	    cmocka_unit_test(test_socketpair),
	    cmocka_unit_test(test_many_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
