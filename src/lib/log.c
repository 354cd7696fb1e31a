/* log.c - see log.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"

/* The logger is configured once in main() before any event loop runs. */
static struct {
	char ident[32];
	enum log_level level;
	enum log_format fmt;
} logger = {"pilot", LOG_LVL_INFO, LOG_FMT_TEXT};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *ident, enum log_level level, enum log_format fmt)
{
	snprintf(logger.ident, sizeof(logger.ident), "%s", ident);
	logger.level = level;
	logger.fmt = fmt;
}

void log_set_level(enum log_level level)
{
	logger.level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FMT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FMT_JSON;
	else
		return -EINVAL;
	return 0;
}

int log_enabled(enum log_level level)
{
	return level >= logger.level;
}

/* JSON-escape \p s into \p out (always NUL-terminated, truncated if needed). */
static void json_escape(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	for (; *s && o + 7 < outlen; s++)
		o += json_escape_byte(out + o, (unsigned char)*s);
	out[o] = '\0';
}

__attribute__((format(printf, 2, 0))) static void log_emit(enum log_level level, const char *fmt,
							   va_list ap, int with_errno, int err)
{
	char msg[2048], esc[4200], ts[40];
	struct timespec now;
	struct tm tm;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (with_errno && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));

	if (logger.fmt == LOG_FMT_JSON) {
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
		json_escape(esc, sizeof(esc), msg);
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":\"%s\",\"msg\":\"%s\"}\n",
			ts, level_names[level], logger.ident, esc);
	} else {
		fprintf(stderr, "%s: %s: %s\n", logger.ident, level_names[level], msg);
	}
}

#define LOG_BODY(lvl, with_errno)                                                                  \
	do {                                                                                       \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		if (log_enabled(lvl)) {                                                            \
			va_start(ap, fmt);                                                         \
			log_emit(lvl, fmt, ap, with_errno, saved);                                 \
			va_end(ap);                                                                \
		}                                                                                  \
		errno = saved;                                                                     \
	} while (0)

void log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, 1);
}

void log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, 0);
}

void log_errorx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, 0);
}

void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, 0);
}

void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, 0);
}

void fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, 1);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, 0);
	exit(1);
}
