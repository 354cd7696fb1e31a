/* test_tgz.c - the .tar.gz writer of pilotctl bugreport (ctl_tgz.c): the
 * gzip frame (header, stored blocks, CRC-32 and size), the ustar headers
 * (checksum, folder prefix, mode 0600, size, padding, the end), more than
 * one block, refused names; and, where tar(1) is installed, that tar
 * reads it back byte for byte. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_tgz.h"

/* The archive written to a temporary file, read back whole. */
struct blob {
	uint8_t *b;
	size_t len;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void slurp(FILE *f, struct blob *out)
{
	long n;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	out->b = malloc((size_t)n);
	assert_non_null(out->b);
	assert_int_equal(fread(out->b, 1, (size_t)n, f), (size_t)n);
	out->len = (size_t)n;
}

/* Undo the gzip frame as RFC 1952 and 1951 say, checking every field:
 * stored blocks only, then CRC-32 and size.  \retval the tar bytes. */
static struct blob gunzip_stored(const struct blob *gz, unsigned *nblocks)
{
	struct blob tar = {malloc(gz->len), 0};
	size_t o = 10;
	int final = 0;

	assert_non_null(tar.b);
	assert_true(gz->len > 18);
	assert_int_equal(gz->b[0], 0x1f);
	assert_int_equal(gz->b[1], 0x8b);
	assert_int_equal(gz->b[2], 8);
	assert_int_equal(gz->b[3], 0);
	assert_int_equal(gz->b[9], 3);
	*nblocks = 0;
	while (!final) {
		unsigned len, nlen;
		assert_true(o + 5 <= gz->len - 8);
		assert_int_equal(gz->b[o] & 0x06, 0); /* BTYPE 00: stored */
		final = gz->b[o] & 1;
		len = gz->b[o + 1] | gz->b[o + 2] << 8;
		nlen = gz->b[o + 3] | gz->b[o + 4] << 8;
		assert_int_equal(len, ~nlen & 0xffff);
		o += 5;
		assert_true(o + len <= gz->len - 8);
		memcpy(tar.b + tar.len, gz->b + o, len);
		tar.len += len;
		o += len;
		(*nblocks)++;
	}
	assert_int_equal(o, gz->len - 8);
	assert_int_equal(le32(gz->b + o), ctl_crc32(0, tar.b, tar.len));
	assert_int_equal(le32(gz->b + o + 4), (uint32_t)tar.len);
	return tar;
}

static unsigned long octal_field(const uint8_t *p, size_t len)
{
	char buf[16];
	memcpy(buf, p, len);
	buf[len] = '\0';
	return strtoul(buf, NULL, 8);
}

/* A ustar header at \p h: its checksum holds, and its fields are these. */
static void check_header(const uint8_t *h, const char *prefix, const char *name, char type,
			 unsigned mode, size_t size)
{
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += i >= 148 && i < 156 ? ' ' : h[i];
	assert_int_equal(octal_field(h + 148, 7), sum);
	assert_string_equal((const char *)h, name);
	assert_string_equal((const char *)h + 345, prefix);
	assert_int_equal(h[156], type);
	assert_int_equal(octal_field(h + 100, 7), mode);
	assert_int_equal(octal_field(h + 124, 11), size);
	assert_int_equal(octal_field(h + 136, 11), 1700000000);
	assert_memory_equal(h + 257,
			    "ustar\0"
			    "00",
			    8);
}

static void test_crc32(void **state)
{
	(void)state;
	/* the check value of CRC-32/ISO-HDLC, gzip's */
	assert_int_equal(ctl_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(ctl_crc32(ctl_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
	assert_int_equal(ctl_crc32(0, "", 0), 0);
}

static void test_archive(void **state)
{
	FILE *f = tmpfile();
	struct ctl_tgz *t;
	struct blob gz, tar;
	unsigned nblocks;
	size_t big = 200000, o;
	char *data = malloc(big);
	static const uint8_t zero[1024];

	(void)state;
	assert_non_null(f);
	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)('a' + i % 26);
	t = ctl_tgz_new(fileno(f), "pilot-bugreport-h-20260101T000000Z", 1700000000);
	assert_non_null(t);
	assert_int_equal(ctl_tgz_add(t, "a.txt", "hello\n", 6), 0);
	assert_int_equal(ctl_tgz_add(t, "empty.txt", "", 0), 0);
	assert_int_equal(ctl_tgz_add(t, "big.txt", data, big), 0);
	assert_int_equal(ctl_tgz_finish(t), 0);
	ctl_tgz_free(t);
	slurp(f, &gz);
	fclose(f);
	tar = gunzip_stored(&gz, &nblocks);
	assert_true(nblocks >= 5); /* 200 kB in blocks of at most 65535 bytes, and the final one */
	check_header(tar.b, "", "pilot-bugreport-h-20260101T000000Z/", '5', 0700, 0);
	o = 512;
	check_header(tar.b + o, "pilot-bugreport-h-20260101T000000Z", "a.txt", '0', 0600, 6);
	assert_memory_equal(tar.b + o + 512, "hello\n", 6);
	assert_memory_equal(tar.b + o + 518, zero, 506); /* padded to 512 */
	o += 1024;
	check_header(tar.b + o, "pilot-bugreport-h-20260101T000000Z", "empty.txt", '0', 0600, 0);
	o += 512;
	check_header(tar.b + o, "pilot-bugreport-h-20260101T000000Z", "big.txt", '0', 0600, big);
	assert_memory_equal(tar.b + o + 512, data, big);
	o += 512 + (big + 511) / 512 * 512;
	assert_int_equal(tar.len, o + 1024); /* two zero blocks end it */
	assert_memory_equal(tar.b + o, zero, 1024);
	free(tar.b);
	free(gz.b);
	free(data);
}

/* Names are one level inside the folder: no '/', no "..", not too long. */
static void test_bad_names(void **state)
{
	FILE *f = tmpfile();
	struct ctl_tgz *t;
	char longname[102];

	(void)state;
	assert_non_null(f);
	assert_null(ctl_tgz_new(fileno(f), "a/b", 0));
	assert_int_equal(errno, EINVAL);
	assert_null(ctl_tgz_new(fileno(f), "", 0));
	t = ctl_tgz_new(fileno(f), "d", 0);
	assert_non_null(t);
	memset(longname, 'x', 101);
	longname[101] = '\0';
	assert_int_equal(ctl_tgz_add(t, "../x", "", 0), -EINVAL);
	assert_int_equal(ctl_tgz_add(t, "..", "", 0), -EINVAL);
	assert_int_equal(ctl_tgz_add(t, longname, "", 0), -EINVAL);
	longname[100] = '\0';
	assert_int_equal(ctl_tgz_add(t, longname, "", 0), 0);
	assert_int_equal(ctl_tgz_finish(t), 0);
	ctl_tgz_free(t);
	fclose(f);
}

/* A write error sticks: later calls report it.  The reader of a pipe goes
 * away after the start (SIGPIPE ignored: EPIPE). */
static void test_write_error(void **state)
{
	static char big[70000]; /* more than one block: written at once */
	struct ctl_tgz *t;
	int p[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	t = ctl_tgz_new(p[1], "d", 0);
	assert_non_null(t);
	close(p[0]);
	assert_int_equal(ctl_tgz_add(t, "x", big, sizeof(big)), -EPIPE);
	assert_int_equal(ctl_tgz_add(t, "y", "", 0), -EPIPE);
	assert_int_equal(ctl_tgz_finish(t), -EPIPE);
	ctl_tgz_free(t);
	close(p[1]);
	/* and one at the very start fails the start */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	assert_null(ctl_tgz_new(p[1], "d", 0));
	assert_int_equal(errno, EPIPE);
	close(p[1]);
}

/* tar(1) reads it back: the names, the mode, the bytes. */
static void test_tar_reads_it(void **state)
{
	char dir[] = "/tmp/test_tgz.XXXXXX", cmd[600], path[300], *back = NULL;
	FILE *f, *in;
	struct ctl_tgz *t;
	size_t n;

	(void)state;
	if (system("command -v tar >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.tar.gz", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	t = ctl_tgz_new(fileno(f), "rep", 0);
	assert_non_null(t);
	assert_int_equal(ctl_tgz_add(t, "status.json", "{\"status\":\"ok\"}\n", 16), 0);
	assert_int_equal(ctl_tgz_finish(t), 0);
	ctl_tgz_free(t);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && tar tzvf r.tar.gz | grep -q '^-rw------- .* rep/status.json$' && "
		 "tar xzf r.tar.gz",
		 dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/rep/status.json", dir);
	in = fopen(path, "r");
	assert_non_null(in);
	back = calloc(1, 64);
	n = fread(back, 1, 63, in);
	fclose(in);
	assert_int_equal(n, 16);
	assert_string_equal(back, "{\"status\":\"ok\"}\n");
	free(back);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32),	 cmocka_unit_test(test_archive),
	    cmocka_unit_test(test_bad_names),	 cmocka_unit_test(test_write_error),
	    cmocka_unit_test(test_tar_reads_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
