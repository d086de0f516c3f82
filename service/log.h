/*
 * log.h - riskd's process log: one JSON object per line on stderr
 * (SPEC §7 "Logs"), {"ts":"2026-11-28T23:24:36.123Z","level":"info",
 * "msg":"reload", ...fields}. Each line goes out in one write(2), so
 * lines from different threads never interleave. The level comes from
 * RISKD_LOG_LEVEL (config.c) through log_set_level_name(). Neighbours:
 * metrics.h (numbers), declog.h (the decision log, a different stream).
 */
#ifndef SVC_LOG_H
#define SVC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Not LOG_DEBUG/LOG_INFO: those are <syslog.h> macros. */
enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3,
};

/* Longest line log_msg() writes; longer values are cut and the line
 * gets "truncated":true (it stays valid JSON). */
#define LOG_LINE_MAX 4096

/*
 * Parses "debug", "info", "warn" (or "warning"), "error" (any case)
 * into *out. RK_EINVAL for anything else (*out untouched).
 */
int log_parse_level(const char *name, enum log_level *out);

/* "debug", "info", "warn", "error"; "?" for an out-of-range value. */
const char *log_level_name(enum log_level level);

/* Sets the minimum level written (default info). Thread-safe. */
void log_set_level(enum log_level level);

/* log_parse_level + log_set_level; RK_EINVAL (level unchanged) for an
 * unknown name. */
int log_set_level_name(const char *name);

enum log_level log_get_level(void);

/* True when a line at level would be written (to skip building
 * expensive fields). One relaxed atomic load. */
bool log_enabled(enum log_level level);

/*
 * Redirects the log to fd (default 2, stderr); returns the previous fd.
 * The log never closes fds. For tests and for start-up before stderr is
 * final.
 */
int log_set_fd(int fd);

/*
 * Writes one line: msg plus string fields given as key, value pairs and
 * ended by NULL, e.g.
 *	log_msg(LOG_LEVEL_INFO, "reload", "scenario", "payments",
 *		"version", "3", NULL);
 * A NULL value writes JSON null. Keys and values are JSON-escaped. Keys
 * "ts", "level" and "msg" are reserved (pass them and you get duplicate
 * keys). Never allocates; never fails visibly (a failed write is lost).
 */
void log_msg(enum log_level level, const char *msg, ...)
	__attribute__((sentinel));
void log_msgv(enum log_level level, const char *msg, va_list ap);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/*
 * A line builder for typed fields, on the caller's stack (no allocation):
 *
 *	log_rec l;
 *	if (log_begin(&l, LOG_LEVEL_INFO, "request")) {
 *		log_str(&l, "path", "/v1/score");
 *		log_int(&l, "status", 200);
 *		log_num(&l, "elapsed_ms", 0.143);
 *		log_bool(&l, "degraded", false);
 *		log_end(&l);
 *	}
 *
 * log_begin returns false (and the other calls do nothing) when the
 * level is disabled; log_end writes the line and must be called after
 * a true log_begin. Field text beyond LOG_LINE_MAX is cut.
 */
typedef struct log_rec {
	enum log_level level;
	bool on;          /* level enabled and log_begin called */
	bool truncated;   /* something did not fit */
	size_t len;
	char buf[LOG_LINE_MAX];
} log_rec;

bool log_begin(log_rec *l, enum log_level level, const char *msg);
void log_str(log_rec *l, const char *key, const char *value);
/* A string value of at most n bytes (need not be NUL-terminated). */
void log_strn(log_rec *l, const char *key, const char *value, size_t n);
void log_int(log_rec *l, const char *key, int64_t value);
/* Non-finite numbers are written as null (JSON has no NaN). */
void log_num(log_rec *l, const char *key, double value);
void log_bool(log_rec *l, const char *key, bool value);
/* A string value formatted printf-style. */
void log_fmt(log_rec *l, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_end(log_rec *l);

/*
 * Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) for unix_us microseconds into
 * out (at least 25 bytes); returns the length (24). Shared with the
 * decision log.
 */
size_t log_format_time(int64_t unix_us, char *out, size_t outlen);

/* Wall-clock time in unix microseconds. */
int64_t log_wall_us(void);

#endif
