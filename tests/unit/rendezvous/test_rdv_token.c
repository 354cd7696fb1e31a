/* test_rdv_token.c - the registry's own admin token (rdv_token.c): made
 * once, 0600, atomically, never replacing one that exists; read back the
 * same; refused when too open, empty or not one it made. */
#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rdv.h"
#include "util.h"

static char dir[64], path[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pilot-test-token.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return rdv_token_state_path(dir, path, sizeof(path));
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	(void)state;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	return rmdir(dir);
}

static void put(const char *text, mode_t mode)
{
	unlink(path);
	assert_int_equal(file_write_atomic(path, text, strlen(text), mode), 0);
}

/* Entries of the state dir: the token file and nothing else (no temp). */
static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_made_then_read_back(void **state)
{
	char *a = NULL, *b = NULL, *c = NULL, err[512];
	struct stat st;
	uint8_t bin[64];
	size_t binlen = 0;

	(void)state;
	assert_int_equal(rdv_token_load_state(&a, dir, err, sizeof(err)), -ENOENT);
	assert_null(a);
	assert_int_equal(rdv_token_create_state(&a, dir, err, sizeof(err)), 0);
	assert_non_null(a);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(entries(), 1);
	/* 32 random bytes, base64url */
	assert_int_equal(strlen(a), 43);
	assert_int_equal(sodium_base642bin(bin, sizeof(bin), a, strlen(a), NULL, &binlen, NULL,
					   sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			 0);
	assert_int_equal(binlen, RDV_STATE_TOKEN_BYTES);
	/* a later start reads the same */
	assert_int_equal(rdv_token_load_state(&b, dir, err, sizeof(err)), 0);
	assert_string_equal(a, b);
	/* a second maker (another process at once) never replaces it: it
	 * gets the one there is */
	assert_int_equal(rdv_token_create_state(&c, dir, err, sizeof(err)), 0);
	assert_string_equal(a, c);
	assert_int_equal(entries(), 1);
	sodium_free(a);
	sodium_free(b);
	sodium_free(c);
}

static void test_refused(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
		const char *msg;
	} bad[] = {
	    {"o-xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4\n", 0640, "readable by group or others"},
	    {"o-xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4\n", 0604, "readable by group or others"},
	    {"", 0600, "empty"},
	    {"\n", 0600, "empty"},
	    {"junk\n", 0600, "not a token this registry made"},
	    {"o+xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4\n", 0600, "not a token"},
	    {"o-xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4=\n", 0600, "not a token"},
	    {"o-xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4x\n", 0600, "not a token"},
	};
	char *t = NULL, err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(bad[i].text, bad[i].mode);
		err[0] = '\0';
		assert_true(rdv_token_load_state(&t, dir, err, sizeof(err)) < 0);
		assert_null(t);
		if (!strstr(err, bad[i].msg) || !strstr(err, path))
			fail_msg("'%s' %o: got '%s'", bad[i].text, (unsigned)bad[i].mode, err);
		/* the maker does not paper over a bad one either */
		assert_true(rdv_token_create_state(&t, dir, err, sizeof(err)) < 0);
		assert_null(t);
	}
	/* what it made itself, without the line end, is fine */
	put("o-xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4", 0600);
	assert_int_equal(rdv_token_load_state(&t, dir, err, sizeof(err)), 0);
	assert_string_equal(t, "o-xuI1LdIoBCusQB6A66nHNuUpbXwpKM5rVeQYIVGn4");
	sodium_free(t);
}

static void test_unreadable(void **state)
{
	char *t = NULL, err[512];

	(void)state;
	/* a directory where the file should be: not readable as a token */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(rdv_token_load_state(&t, dir, err, sizeof(err)) < 0);
	assert_null(t);
	assert_non_null(strstr(err, path));
	assert_int_equal(rmdir(path), 0);
}

static void test_configured_file(void **state)
{
	char *t = NULL, err[512];

	(void)state;
	put("an operator's own token  \r\n", 0600);
	assert_int_equal(rdv_token_load_file(&t, path, err, sizeof(err)), 0);
	assert_string_equal(t, "an operator's own token");
	sodium_free(t);
	t = NULL;
	unlink(path);
	assert_int_equal(rdv_token_load_file(&t, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "admin_token_file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_made_then_read_back),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_unreadable),
	    cmocka_unit_test(test_configured_file),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
