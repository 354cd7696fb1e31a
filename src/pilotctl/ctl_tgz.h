/* ctl_tgz.h - a writer of .tar.gz files (ustar members in a gzip stream)
 * for `pilotctl bugreport`: regular files in one folder, written in
 * order to a file descriptor.
 *
 * Why no compression: libarchive is not a dependency, and zlib reaches
 * this build only through libcurl, undeclared; running tar(1) would put
 * every piece of the report in files of their own first.  The gzip
 * format allows "stored" deflate blocks, which any gunzip and tar read,
 * so the archive is written here in full, in one pass, with no child
 * process and no temporary files; the price is its size (a report is a
 * few hundred KiB of text). */
#ifndef PILOT_CTL_TGZ_H
#define PILOT_CTL_TGZ_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct ctl_tgz;

/** Free \p t (NULL is fine) without finishing it. */
void ctl_tgz_free(struct ctl_tgz *t);
/** Start an archive on \p fd whose members all go in folder \p dir (at
 *  most 99 bytes, no '/'), with modification time \p mtime: writes the
 *  gzip header and the folder's entry.  \retval the writer (free with
 *  ctl_tgz_free), or NULL (errno: EINVAL for a bad \p dir, ENOMEM). */
struct ctl_tgz *ctl_tgz_new(int fd, const char *dir, time_t mtime)
    __attribute__((malloc(ctl_tgz_free, 1)));
/** Add regular file \p name (at most 100 bytes, no '/'; mode 0600) holding
 *  \p len bytes of \p data.  \retval 0 or -errno (the first write error
 *  sticks: later calls return it too). */
int ctl_tgz_add(struct ctl_tgz *t, const char *name, const void *data, size_t len);
/** Write the end of the archive and the gzip trailer.  \retval 0 or -errno
 *  (any earlier error). \p t is still to be freed. */
int ctl_tgz_finish(struct ctl_tgz *t);

/** CRC-32 (ISO 3309, as gzip) of \p len bytes, continuing from \p crc (0 to
 *  start).  Exposed for the tests. */
uint32_t ctl_crc32(uint32_t crc, const void *data, size_t len);

#endif
