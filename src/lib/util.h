/* util.h - small helpers shared by every Pilot program. */
#ifndef PILOT_UTIL_H
#define PILOT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

/** Monotonic clock in milliseconds / nanoseconds. */
uint64_t now_mono_ms(void);
uint64_t now_mono_ns(void);
/** Wall clock in milliseconds since the Unix epoch. */
uint64_t now_real_ms(void);

/** Both NULL, or both strings and equal. */
static inline int str_eq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}
/** Two NULL-terminated string lists (NULL: empty) with the same strings
 *  in the same order. */
static inline int strlist_eq(char *const *a, char *const *b)
{
	while (a && *a && b && *b && strcmp(*a, *b) == 0) {
		a++;
		b++;
	}
	return (!a || !*a) && (!b || !*b);
}
/** Standard base64 (with padding).  \retval length written, or -ENOSPC. */
int b64_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen);
/** Accepts standard base64, with or without padding.
 *  \retval decoded length, -EINVAL on bad input, -ENOSPC if it does not fit. */
int b64_decode(uint8_t *out, size_t outlen, const char *in);
/** Lower-case hex. \retval 0 or -ENOSPC. */
int hex_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen);
/** \retval decoded length, -EINVAL, -ENOSPC. */
int hex_decode(uint8_t *out, size_t outlen, const char *in);

/** Read a whole file (at most \p max bytes) into a NUL-terminated malloc'd buffer.
 *  \retval 0, -errno, or -EFBIG. */
int file_read_all(const char *path, size_t max, char **out, size_t *outlen);
/** Write atomically: temp file in the same directory (O_EXCL), fsync,
 *  rename, fsync dir.  \retval 0 or -errno. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/** The same, the file getting group \p gid ((gid_t)-1: the creator's)
 *  before it appears under \p path.  \retval 0 or -errno. */
int file_write_atomic_gid(const char *path, const void *data, size_t len, unsigned mode, gid_t gid);
/** Create \p path atomically: a temp file as above, then link(2)ed into
 *  place, so the file appears whole or not at all and never replaces one
 *  that exists.  \retval 0, -EEXIST (it exists), or -errno. */
int file_create_atomic(const char *path, const void *data, size_t len, unsigned mode);
/** mkdir -p with \p mode for every created directory; chmods the last one to \p mode.
 *  \retval 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);
/** A duration "30s", "15m", "12h" or "90d" (digits and one unit) in
 *  seconds.  \retval 0, -EINVAL or -ERANGE. */
int duration_parse(const char *s, uint64_t *secs);
/** Refuse a secret file that group or others can read/write.
 *  \retval 0, -EPERM (too open), or -errno. */
int file_check_secret(const char *path);

#endif
