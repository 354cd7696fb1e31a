/* util.c - see util.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_ms(void)
{
	return now_mono_ns() / 1000000ull;
}

uint64_t now_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

int b64_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	size_t need = sodium_base64_ENCODED_LEN(inlen, sodium_base64_VARIANT_ORIGINAL);
	if (outlen < need)
		return -ENOSPC;
	sodium_bin2base64(out, outlen, in, inlen, sodium_base64_VARIANT_ORIGINAL);
	return (int)strlen(out);
}

int b64_decode(uint8_t *out, size_t outlen, const char *in)
{
	size_t len = strlen(in), bin_len = 0;
	const char *end = NULL;
	int variant = sodium_base64_VARIANT_ORIGINAL;

	if (len % 4 != 0)
		variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	if ((len * 3) / 4 > outlen + 2)
		return -ENOSPC;
	if (sodium_base642bin(out, outlen, in, len, NULL, &bin_len, &end, variant) != 0)
		return -EINVAL;
	if (end != in + len)
		return -EINVAL;
	return (int)bin_len;
}

int hex_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	if (outlen < inlen * 2 + 1)
		return -ENOSPC;
	sodium_bin2hex(out, outlen, in, inlen);
	return 0;
}

int hex_decode(uint8_t *out, size_t outlen, const char *in)
{
	size_t len = strlen(in), bin_len = 0;
	const char *end = NULL;

	if (len % 2 != 0)
		return -EINVAL;
	if (len / 2 > outlen)
		return -ENOSPC;
	if (sodium_hex2bin(out, outlen, in, len, NULL, &bin_len, &end) != 0 || end != in + len)
		return -EINVAL;
	return (int)bin_len;
}

int file_read_all(const char *path, size_t max, char **out, size_t *outlen)
{
	int fd, ret = 0;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;
			if (cap > max + 1) {
				ret = -EFBIG;
				goto out;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			ret = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (outlen)
		*outlen = len;
out:
	free(buf);
	close(fd);
	return ret;
}

/* Write \p data to a new temporary file beside \p path (its name in
 * \p tmp): O_EXCL with a random suffix, so nothing that sits there (a
 * link planted in the directory, a crashed writer's leftover) is
 * followed or reused; the group \p gid ((gid_t)-1: unchanged) and the
 * \p mode are set before anything is written, and the data is on disk
 * before the caller puts the file in place. */
static int write_temp(const char *path, const void *data, size_t len, unsigned mode, gid_t gid,
		      char *tmp, size_t tmplen)
{
	const char *p = data;
	int fd, ret = 0;

	if (snprintf(tmp, tmplen, "%s.tmp.%ld.%08x", path, (long)getpid(),
		     (unsigned)randombytes_random()) >= (int)tmplen)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0700);
	if (fd < 0)
		return -errno;
	if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0) || fchmod(fd, mode) < 0) {
		ret = -errno;
		goto fail;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}

/* The rename or link into place is durable once the directory is. */
static void sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int dfd;

	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

int file_write_atomic_gid(const char *path, const void *data, size_t len, unsigned mode, gid_t gid)
{
	char tmp[PATH_MAX];
	int ret = write_temp(path, data, len, mode, gid, tmp, sizeof(tmp));

	if (ret < 0)
		return ret;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
		return ret;
	}
	sync_dir_of(path);
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	return file_write_atomic_gid(path, data, len, mode, (gid_t)-1);
}

int file_create_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	int ret = write_temp(path, data, len, mode, (gid_t)-1, tmp, sizeof(tmp));

	if (ret < 0)
		return ret;
	/* link(2), unlike rename(2), never replaces: of two processes making
	 * the file at once, one wins and the other learns it (-EEXIST). */
	if (link(tmp, path) < 0)
		ret = -errno;
	unlink(tmp);
	if (ret == 0)
		sync_dir_of(path);
	return ret;
}

int mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	if (chmod(buf, mode) < 0)
		return -errno;
	return 0;
}

int file_check_secret(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return -EPERM;
	return 0;
}

int duration_parse(const char *s, uint64_t *secs)
{
	static const struct {
		char unit;
		uint64_t mul;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	uint64_t v = 0;
	size_t i = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0 || s[i] == '\0' || s[i + 1] != '\0')
		return -EINVAL;
	for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
		if (s[i] == units[k].unit) {
			if (v > UINT64_MAX / units[k].mul / 1000)
				return -ERANGE;
			*secs = v * units[k].mul;
			return 0;
		}
	return -EINVAL;
}
