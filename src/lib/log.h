/* log.h - small, disciplined logging for the Pilot daemons and CLI.
 *
 * One process-wide logger (the only global state outside the daemon
 * contexts: configured once at start-up, read-only afterwards).  Writes
 * text or JSON lines to stderr; journald keeps them under systemd.
 * Every function saves and restores errno.
 */
#ifndef PILOT_LOG_H
#define PILOT_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

/** \brief Configure the logger.  \p ident prefixes every line. */
void log_init(const char *ident, enum log_level level, enum log_format fmt);
void log_set_level(enum log_level level);
/** \retval 0 on success, -EINVAL for an unknown name. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
int log_enabled(enum log_level level);

/* log_warn appends ": strerror(errno)"; the x variants do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
