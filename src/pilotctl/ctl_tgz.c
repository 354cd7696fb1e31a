/* ctl_tgz.c - ustar members in a gzip stream of stored deflate blocks
 * (RFC 1952, RFC 1951 section 3.2.4; POSIX.1-2001 ustar), written in one
 * pass; ctl_tgz.h says why nothing is compressed. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_tgz.h"
#include "util.h"

#define TAR_BLOCK 512
#define STORED_MAX 65535 /* the most one stored deflate block holds */

struct ctl_tgz {
	int fd;
	int err; /* the first error: every later call is a no-op returning it */
	uint32_t crc;
	uint32_t isize; /* uncompressed bytes, modulo 2^32 as gzip keeps it */
	uint32_t mtime;
	char dir[100];
	size_t blen;
	uint8_t blk[STORED_MAX]; /* uncompressed bytes of the block being filled */
};

uint32_t ctl_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int write_raw(struct ctl_tgz *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (t->err == 0 && len > 0) {
		ssize_t n = write(t->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			t->err = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	return t->err;
}

/* The filled part of blk as one stored block (never the final one: the
 * empty final block is written by ctl_tgz_finish). */
static int flush_block(struct ctl_tgz *t)
{
	uint8_t h[5] = {0x00, (uint8_t)t->blen, (uint8_t)(t->blen >> 8), (uint8_t)~t->blen,
			(uint8_t)(~t->blen >> 8)};

	if (t->blen == 0)
		return t->err;
	write_raw(t, h, sizeof(h));
	write_raw(t, t->blk, t->blen);
	t->blen = 0;
	return t->err;
}

/* Uncompressed archive bytes: counted, checksummed, cut into blocks. */
static int put(struct ctl_tgz *t, const void *data, size_t len)
{
	const uint8_t *p = data;

	t->crc = ctl_crc32(t->crc, data, len);
	t->isize += (uint32_t)len;
	while (t->err == 0 && len > 0) {
		size_t n = MIN(len, STORED_MAX - t->blen);
		memcpy(t->blk + t->blen, p, n);
		t->blen += n;
		p += n;
		len -= n;
		if (t->blen == STORED_MAX)
			flush_block(t);
	}
	return t->err;
}

/* Numeric header field: octal, zero-filled, NUL-terminated in \p len; a
 * value too big for it is 0 (only an ID could be: sizes are checked). */
static void octal(char *field, size_t len, unsigned long long v)
{
	if (v >> (3 * (len - 1)))
		v = 0;
	snprintf(field, len, "%0*llo", (int)len - 1, v);
}

/* One 512-byte ustar header for \p prefix/\p name: \p type '0' (file) or
 * '5' (folder). */
static int header(struct ctl_tgz *t, const char *prefix, const char *name, char type, unsigned mode,
		  size_t size)
{
	char h[TAR_BLOCK];
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	memcpy(h, name, strnlen(name, 100));
	octal(h + 100, 8, mode);
	octal(h + 108, 8, (unsigned long long)getuid());
	octal(h + 116, 8, (unsigned long long)getgid());
	octal(h + 124, 12, size);
	octal(h + 136, 12, t->mtime);
	h[156] = type;
	memcpy(h + 257, "ustar", 6); /* magic with its NUL, then version "00" */
	memcpy(h + 263, "00", 2);
	memcpy(h + 345, prefix, strnlen(prefix, 155));
	/* The checksum is taken with its own field as spaces. */
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return put(t, h, sizeof(h));
}

static int name_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	return n > 0 && n <= max && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

void ctl_tgz_free(struct ctl_tgz *t)
{
	free(t);
}

struct ctl_tgz *ctl_tgz_new(int fd, const char *dir, time_t mtime)
{
	struct ctl_tgz *t;
	uint8_t gz[10] = {
	    0x1f, 0x8b, 8 /* deflate */, 0 /* no flags */, 0, 0, 0, 0, 0 /* no extra flags */,
	    3 /* Unix */};
	char entry[101];

	if (!name_ok(dir, 99)) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->fd = fd;
	t->mtime = mtime > 0 ? (uint32_t)mtime : 0;
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	put_le32(gz + 4, t->mtime);
	write_raw(t, gz, sizeof(gz));
	/* The folder itself, by its whole name. */
	snprintf(entry, sizeof(entry), "%s/", dir);
	header(t, "", entry, '5', 0700, 0);
	if (t->err) {
		errno = -t->err;
		free(t);
		return NULL;
	}
	return t;
}

int ctl_tgz_add(struct ctl_tgz *t, const char *name, const void *data, size_t len)
{
	static const uint8_t zeros[TAR_BLOCK];

	if (t->err)
		return t->err;
	/* 11 octal digits of size: 8 GiB, far above any report */
	if (!name_ok(name, 100) || (unsigned long long)len >> 33)
		return -EINVAL;
	header(t, t->dir, name, '0', 0600, len);
	put(t, data, len);
	if (len % TAR_BLOCK)
		put(t, zeros, TAR_BLOCK - len % TAR_BLOCK);
	return t->err;
}

int ctl_tgz_finish(struct ctl_tgz *t)
{
	static const uint8_t zeros[2 * TAR_BLOCK];
	uint8_t end[5] = {0x01, 0x00, 0x00, 0xff, 0xff}; /* final, empty stored block */
	uint8_t trailer[8];

	put(t, zeros, sizeof(zeros)); /* the end of a tar archive */
	flush_block(t);
	write_raw(t, end, sizeof(end));
	put_le32(trailer, t->crc);
	put_le32(trailer + 4, t->isize);
	return write_raw(t, trailer, sizeof(trailer));
}
