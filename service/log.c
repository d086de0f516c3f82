/*
 * log.c - JSON-lines process log on stderr (log.h). A line is built in a
 * fixed buffer on the caller's stack, escaped as it goes, and written
 * with one write(2) so concurrent lines never interleave. The level and
 * the fd are process-wide atomics. Neighbours: log.h, declog.c (shares
 * log_format_time), server.c and engine.c (callers).
 */
#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../common/rk.h"

/* Room kept for ,"truncated":true}\n so a cut line stays valid JSON. */
#define TAIL_RESERVE 24

static atomic_int min_level = LOG_LEVEL_INFO;
static atomic_int out_fd = 2;

static const char *const level_names[] = { "debug", "info", "warn",
					   "error" };

int log_parse_level(const char *name, enum log_level *out)
{
	if (!name)
		return RK_EINVAL;
	for (size_t i = 0; i < RK_ARRAY_LEN(level_names); i++) {
		if (!strcasecmp(name, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (!strcasecmp(name, "warning")) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	return RK_EINVAL;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= RK_ARRAY_LEN(level_names))
		return "?";
	return level_names[level];
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&min_level, (int)level, memory_order_relaxed);
}

int log_set_level_name(const char *name)
{
	enum log_level l;
	int rc = log_parse_level(name, &l);
	if (rc)
		return rc;
	log_set_level(l);
	return 0;
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&min_level,
						    memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&min_level,
						  memory_order_relaxed);
}

int log_set_fd(int fd)
{
	return atomic_exchange(&out_fd, fd);
}

int64_t log_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

size_t log_format_time(int64_t unix_us, char *out, size_t outlen)
{
	time_t secs = (time_t)(unix_us / 1000000);
	int ms = (int)(unix_us % 1000000 / 1000);
	if (unix_us < 0 && unix_us % 1000000) {
		secs--;
		ms = (int)((unix_us % 1000000 + 1000000) / 1000);
	}
	struct tm tm;
	gmtime_r(&secs, &tm);
	int n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	if (n < 0)
		return 0;
	return (size_t)n < outlen ? (size_t)n : outlen ? outlen - 1 : 0;
}

/* ---- the line builder ---- */

static size_t room(const log_rec *l)
{
	return sizeof(l->buf) - TAIL_RESERVE - l->len;
}

static void put_raw(log_rec *l, const char *s, size_t n)
{
	if (n > room(l)) {
		n = room(l);
		l->truncated = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/*
 * Appends s (n bytes) as the inside of a JSON string: quote, backslash
 * and control characters escaped. Stops before an escape that would not
 * fit, so the string can always be closed.
 */
static void put_escaped(log_rec *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t k;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			k = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			k = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			k = 6;
		} else {
			esc[0] = (char)c;
			k = 1;
		}
		/* one byte kept for the closing quote */
		if (k + 1 > room(l)) {
			l->truncated = true;
			return;
		}
		memcpy(l->buf + l->len, esc, k);
		l->len += k;
	}
}

static void put_quoted(log_rec *l, const char *s, size_t n)
{
	put_raw(l, "\"", 1);
	put_escaped(l, s, n);
	/* the closing quote always fits: put_escaped kept a byte */
	l->buf[l->len++] = '"';
}

/* ,"key": - false when not even the key fits (the field is skipped). */
static bool put_key(log_rec *l, const char *key)
{
	size_t kl = strlen(key);
	if (kl + 8 > room(l)) {
		l->truncated = true;
		return false;
	}
	put_raw(l, ",", 1);
	put_quoted(l, key, kl);
	put_raw(l, ":", 1);
	return true;
}

bool log_begin(log_rec *l, enum log_level level, const char *msg)
{
	l->on = log_enabled(level);
	if (!l->on)
		return false;
	l->level = level;
	l->truncated = false;
	l->len = 0;
	char ts[32];
	size_t tl = log_format_time(log_wall_us(), ts, sizeof(ts));
	put_raw(l, "{\"ts\":\"", 7);
	put_raw(l, ts, tl);
	put_raw(l, "\",\"level\":\"", 11);
	const char *ln = log_level_name(level);
	put_raw(l, ln, strlen(ln));
	put_raw(l, "\",\"msg\":", 8);
	msg = msg ? msg : "";
	put_quoted(l, msg, strlen(msg));
	return true;
}

void log_strn(log_rec *l, const char *key, const char *value, size_t n)
{
	if (!l->on || !put_key(l, key))
		return;
	if (value)
		put_quoted(l, value, n);
	else
		put_raw(l, "null", 4);
}

void log_str(log_rec *l, const char *key, const char *value)
{
	log_strn(l, key, value, value ? strlen(value) : 0);
}

void log_int(log_rec *l, const char *key, int64_t value)
{
	if (!l->on || !put_key(l, key))
		return;
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", (long long)value);
	put_raw(l, num, (size_t)n);
}

void log_num(log_rec *l, const char *key, double value)
{
	if (!l->on || !put_key(l, key))
		return;
	if (!isfinite(value)) {
		put_raw(l, "null", 4);
		return;
	}
	char num[32];
	int n = snprintf(num, sizeof(num), "%.17g", value);
	/* shortest text that reads back as the same double */
	for (int p = 6; p < 17; p++) {
		char t[32];
		int k = snprintf(t, sizeof(t), "%.*g", p, value);
		if (strtod(t, NULL) == value) {
			memcpy(num, t, (size_t)k + 1);
			n = k;
			break;
		}
	}
	put_raw(l, num, (size_t)n);
}

void log_bool(log_rec *l, const char *key, bool value)
{
	if (!l->on || !put_key(l, key))
		return;
	put_raw(l, value ? "true" : "false", value ? 4 : 5);
}

void log_fmt(log_rec *l, const char *key, const char *fmt, ...)
{
	if (!l->on)
		return;
	char tmp[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(tmp)) {
		n = sizeof(tmp) - 1;
		l->truncated = true;
	}
	log_strn(l, key, tmp, (size_t)n);
}

void log_end(log_rec *l)
{
	if (!l->on)
		return;
	static const char trunc[] = ",\"truncated\":true";
	/* TAIL_RESERVE holds this, the brace and the newline */
	if (l->truncated) {
		memcpy(l->buf + l->len, trunc, sizeof(trunc) - 1);
		l->len += sizeof(trunc) - 1;
	}
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	int fd = atomic_load_explicit(&out_fd, memory_order_relaxed);
	const char *p = l->buf;
	size_t left = l->len;
	/* One write for the line; a short write (pipe full, signal) goes
	 * on from where it stopped rather than losing the tail. */
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		left -= (size_t)w;
	}
	l->on = false;
}

void log_msgv(enum log_level level, const char *msg, va_list ap)
{
	log_rec l;
	if (!log_begin(&l, level, msg))
		return;
	for (;;) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		log_str(&l, key, value);
	}
	log_end(&l);
}

void log_msg(enum log_level level, const char *msg, ...)
{
	va_list ap;
	va_start(ap, msg);
	log_msgv(level, msg, ap);
	va_end(ap);
}
