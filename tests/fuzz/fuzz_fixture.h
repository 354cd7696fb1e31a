/* fuzz_fixture.h - what the harnesses that run a daemon's state (fuzz_rdv.c,
 * fuzz_ipc.c) share: a growing text buffer, the @words their inputs
 * use for what only the running fixture knows, and the removal of the store
 * directory they keep in /dev/shm.  Static: each harness is one program. */
#ifndef PILOT_FUZZ_FIXTURE_H
#define PILOT_FUZZ_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fz_buf {
	char *p; /* NUL-terminated once anything was put */
	size_t len, cap;
};

static void fz_put(struct fz_buf *b, const char *s, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void fz_put_u(struct fz_buf *b, unsigned long long v)
{
	char s[24];

	fz_put(b, s, (size_t)snprintf(s, sizeof(s), "%llu", v));
}

/* An @word: put its replacement into \p b and \retval its length (the
 * bytes after the '@' that it took), or 0 when \p w starts no word. */
typedef size_t (*fz_word_fn)(struct fz_buf *b, const char *w, size_t rest, void *arg);

/* \p s (\p len bytes) into \p b with its @words replaced by \p word. */
static void fz_expand_words(struct fz_buf *b, const char *s, size_t len, fz_word_fn word, void *arg)
{
	size_t i = 0;

	fz_put(b, "", 0);
	while (i < len) {
		const char *at = memchr(s + i, '@', len - i);
		size_t took;

		if (!at) {
			fz_put(b, s + i, len - i);
			return;
		}
		fz_put(b, s + i, (size_t)(at - (s + i)));
		i = (size_t)(at - s) + 1;
		took = word(b, s + i, len - i, arg);
		if (!took)
			fz_put(b, "@", 1);
		i += took;
	}
}

/* \retval the length of \p name if \p w (\p rest bytes) starts with it, else 0. */
static size_t fz_is_word(const char *w, size_t rest, const char *name)
{
	size_t n = strlen(name);

	return rest >= n && memcmp(w, name, n) == 0 ? n : 0;
}

/* A store directory holds files only (LMDB's two, sockets). */
static void fz_rmdir(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	char p[4096];

	if (!dh)
		return;
	while ((e = readdir(dh)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(dh);
	rmdir(dir);
}

#endif
