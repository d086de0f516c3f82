/*
 * declog.h - the decision log (SPEC §7): one JSON line per decision,
 * appended off the request path to RISKD_DECISION_LOG (a file, "-" for
 * stdout, "" disabled). Requests hand a finished line to a bounded
 * in-memory queue; a writer thread batches lines (64 KiB or 50 ms) into
 * write(2) calls. A full queue refuses the line (RK_ELIMIT) so the server
 * sheds the request with 503: a line once accepted is never dropped.
 * Neighbours: observe.c (svc_record_decision), log.h (time format).
 */
#ifndef SVC_DECLOG_H
#define SVC_DECLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

typedef struct declog declog;

typedef struct declog_opts {
	const char *path;        /* file (appended, created 0640), "-" for
				  * stdout, "" or NULL for disabled */
	const char *redact;      /* comma-separated dotted event paths, e.g.
				  * "card.number,user.email"; NULL = none */
	size_t max_bytes;        /* queue bound in bytes; 0 = 8 MiB */
	size_t max_lines;        /* queue bound in lines; 0 = 65536 */
	size_t batch_bytes;      /* write when this much is queued; 0 = 64 KiB */
	int flush_ms;            /* or when the oldest line is this old;
				  * 0 = 50 */
	int close_timeout_ms;    /* declog_close keeps retrying failed writes
				  * this long, then gives up; 0 = 5000 */
} declog_opts;

/*
 * Opens the log and starts its writer thread. An empty path gives a
 * disabled log (no thread, no file): declog_append and declog_record
 * accept and discard. A redact path with an empty segment ("a..b",
 * "a,", ".a") is an error. Returns NULL with a message in err (file
 * that cannot be opened, bad redact list, out of memory).
 */
declog *declog_open(const declog_opts *o, char *err, size_t errlen);

/* False for a disabled log or NULL (the caller may skip building). */
bool declog_is_enabled(const declog *dl);

/*
 * Queues one line (len bytes, need not be NUL-terminated; a trailing
 * '\n' is added when missing). The line is copied. Returns 0; RK_ELIMIT
 * when the queue is over max_bytes or max_lines (nothing queued: shed
 * the request); RK_ESTATE once declog_close has begun; RK_ENOMEM. A
 * disabled or NULL log returns 0. Thread-safe; never blocks on I/O.
 */
int declog_append(declog *dl, const char *line, size_t len);

/* What one decision line holds. */
typedef struct declog_entry {
	int64_t time_us;             /* unix microseconds; 0 = now */
	const char *request_id;
	const char *scenario;
	int64_t version;
	const char *decision;        /* "approve" | "review" | "decline" */
	int score;
	const char *decided_by;      /* NULL = omitted */
	const struct cJSON *reasons; /* array as in the response; NULL = [] */
	bool degraded;
	const struct cJSON *degraded_reasons; /* NULL = omitted */
	const struct cJSON *event;   /* NULL = null */
} declog_entry;

/*
 * Builds the line {"time":"2026-...Z","request_id":..,"scenario":..,
 * "version":..,"decision":..,"score":..,["decided_by":..,]"reasons":[..],
 * "degraded":..,["degraded_reasons":[..],]"event":{..}} with every
 * configured redact path of the event replaced by "[redacted]" (paths
 * go through objects; an array on the way applies the rest of the path
 * to each element; a missing path is ignored). The caller's event is
 * not modified. Returns an rk_malloc'd NUL-terminated line without the
 * newline and its length in *len, or NULL (out of memory). dl may be
 * NULL or disabled (then nothing is redacted).
 */
char *declog_build_line(const declog *dl, const declog_entry *e, size_t *len);

/* declog_build_line + declog_append; same results as declog_append. A
 * disabled or NULL log returns 0 without building. */
int declog_record(declog *dl, const declog_entry *e);

/* Asks the writer to reopen the file before its next write (log
 * rotation on SIGHUP). No-op for stdout or a disabled log. */
void declog_reopen(declog *dl);

typedef struct declog_stats {
	uint64_t queued_bytes;   /* accepted, not yet written */
	uint64_t queued_lines;
	uint64_t written_lines;
	uint64_t written_bytes;
	uint64_t writes;         /* write(2) calls that wrote something */
	uint64_t write_errors;   /* failed write(2)/open calls (retried) */
	uint64_t rejected;       /* RK_ELIMIT answers */
	uint64_t lost_lines;     /* given up at close (writes kept failing) */
} declog_stats;

/* A consistent snapshot of the counters; zeros for NULL. */
void declog_get_stats(declog *dl, declog_stats *st);

/*
 * Stops accepting lines, writes everything queued (retrying failed
 * writes up to close_timeout_ms, then counting the rest as lost and
 * logging an error), joins the writer, closes the file (never stdout)
 * and frees. Returns 0, or RK_EIO if lines were lost. NULL is a no-op
 * returning 0.
 */
int declog_close(declog *dl);

/* Test hook: while paused the writer takes no lines off the queue. */
void declog_pause(declog *dl, bool paused);

#endif
