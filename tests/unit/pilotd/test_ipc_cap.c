/* test_ipc_cap.c - the local sockets' connection caps (src/pilotd/ipc_cap.c):
 * the total cap, the per-user cap, and the table giving places back. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "ipc_cap.h"

static void test_caps(void **state)
{
	struct ipc_cap c;

	(void)state;
	assert_int_equal(ipc_cap_init(&c, 8, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_cap_take(&c, 1000), IPC_CAP_OK);
	assert_int_equal(ipc_cap_take(&c, 1000), IPC_CAP_UID_FULL);
	assert_int_equal(ipc_cap_count(&c, 1000), 3);
	/* Another user still gets in, up to the total. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ipc_cap_take(&c, 0), IPC_CAP_OK);
	assert_int_equal(ipc_cap_take(&c, 1), IPC_CAP_OK);
	assert_int_equal(ipc_cap_take(&c, 2), IPC_CAP_OK);
	assert_int_equal(c.n, 8);
	assert_int_equal(ipc_cap_take(&c, 3), IPC_CAP_FULL);
	/* A full socket says FULL before the user's own cap. */
	assert_int_equal(ipc_cap_take(&c, 1000), IPC_CAP_FULL);
	ipc_cap_put(&c, 1000);
	assert_int_equal(ipc_cap_count(&c, 1000), 2);
	assert_int_equal(ipc_cap_take(&c, 3), IPC_CAP_OK);
	assert_int_equal(ipc_cap_take(&c, 1000), IPC_CAP_FULL);
	ipc_cap_free(&c);
}

static void test_table(void **state)
{
	struct ipc_cap c;

	(void)state;
	assert_int_equal(ipc_cap_init(&c, 4, 4), 0);
	for (uid_t u = 10; u < 14; u++)
		assert_int_equal(ipc_cap_take(&c, u), IPC_CAP_OK);
	assert_int_equal(c.nuids, 4);
	/* Users leaving from the middle: the others keep their counts. */
	ipc_cap_put(&c, 11);
	ipc_cap_put(&c, 10);
	assert_int_equal(c.nuids, 2);
	assert_int_equal(ipc_cap_count(&c, 12), 1);
	assert_int_equal(ipc_cap_count(&c, 13), 1);
	assert_int_equal(ipc_cap_count(&c, 10), 0);
	/* A close never counted (or counted twice) changes nothing. */
	ipc_cap_put(&c, 99);
	ipc_cap_put(&c, 10);
	assert_int_equal(c.n, 2);
	for (uid_t u = 20; u < 22; u++)
		assert_int_equal(ipc_cap_take(&c, u), IPC_CAP_OK);
	assert_int_equal(ipc_cap_take(&c, 30), IPC_CAP_FULL);
	for (uid_t u = 20; u < 22; u++)
		ipc_cap_put(&c, u);
	ipc_cap_put(&c, 12);
	ipc_cap_put(&c, 13);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.nuids, 0);
	ipc_cap_free(&c);
	assert_int_equal(ipc_cap_init(&c, 0, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
