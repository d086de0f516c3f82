/*
 * declog.c - the decision log writer. Appenders copy finished lines into
 * one contiguous queue buffer under a mutex (bounded in bytes and
 * lines); the writer thread swaps that buffer with its spare and writes
 * the batch with write(2) when 64 KiB are queued or the oldest line is
 * 50 ms old. Failed writes are retried (never dropped) until close gives
 * up after close_timeout_ms. Redaction works on a copy of the event.
 * Neighbours: declog.h (contract), observe.c (svc_record_decision).
 */
#include "declog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "log.h"

struct rpath {
	char **seg;
	int n;
};

struct declog {
	bool enabled;
	char *path;                  /* NULL for stdout */
	int fd;
	struct rpath *paths;
	int npaths;
	size_t max_bytes, max_lines, batch_bytes;
	int64_t flush_us, close_timeout_us;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t tid;
	bool started;
	char *buf;                   /* queued lines */
	size_t len, cap, lines;
	char *spare;                 /* the writer's other buffer */
	size_t spare_cap;
	int64_t oldest_us;           /* monotonic time of the first line */
	size_t busy_bytes, busy_lines;  /* being written */
	bool closing, paused, reopen;
	declog_stats st;
};

/* ---- redact paths ---- */

static void paths_free(struct rpath *p, int n)
{
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < p[i].n; j++)
			rk_free(p[i].seg[j]);
		rk_free(p[i].seg);
	}
	rk_free(p);
}

static int add_segment(struct rpath *p, const char *s, size_t n)
{
	char **v = rk_realloc(p->seg, (size_t)(p->n + 1) * sizeof(*v));
	if (!v)
		return RK_ENOMEM;
	p->seg = v;
	if (!(v[p->n] = rk_strndup(s, n)))
		return RK_ENOMEM;
	p->n++;
	return 0;
}

/* Parses "a.b, c" into paths. RK_EINVAL (with err) on empty segments. */
static int parse_redact(const char *list, struct rpath **out, int *nout,
			char *err, size_t errlen)
{
	*out = NULL;
	*nout = 0;
	if (!list)
		return 0;
	const char *p = list;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 0;
	struct rpath *v = NULL;
	int n = 0, rc = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *b = p, *e = p + len;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		struct rpath *nv = rk_realloc(v, (size_t)(n + 1) *
					      sizeof(*nv));
		if (!nv) {
			rc = RK_ENOMEM;
			goto out_fail;
		}
		v = nv;
		memset(&v[n], 0, sizeof(v[n]));
		n++;
		const char *s = b;
		for (;;) {
			const char *dot = memchr(s, '.', (size_t)(e - s));
			const char *se = dot ? dot : e;
			if (se == s) {
				snprintf(err, errlen, "RISKD_REDACT: empty "
					 "path segment in '%.*s'",
					 (int)len, p);
				rc = RK_EINVAL;
				goto out_fail;
			}
			if ((rc = add_segment(&v[n - 1], s, (size_t)(se - s))))
				goto out_fail;
			if (!dot)
				break;
			s = dot + 1;
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	*out = v;
	*nout = n;
	return 0;
out_fail:
	if (rc == RK_ENOMEM)
		snprintf(err, errlen, "out of memory");
	paths_free(v, n);
	return rc;
}

static int redact_at(cJSON *node, char **seg, int n)
{
	if (cJSON_IsArray(node)) {
		cJSON *it;
		cJSON_ArrayForEach(it, node)
			if (redact_at(it, seg, n))
				return RK_ENOMEM;
		return 0;
	}
	if (!cJSON_IsObject(node))
		return 0;
	for (cJSON *it = node->child, *next; it; it = next) {
		next = it->next;
		if (!it->string || strcmp(it->string, seg[0]))
			continue;
		if (n > 1) {
			if (redact_at(it, seg + 1, n - 1))
				return RK_ENOMEM;
			continue;
		}
		cJSON *r = cJSON_CreateString("[redacted]");
		if (!r)
			return RK_ENOMEM;
		/* the replacement takes over the key */
		r->string = it->string;
		r->type |= it->type & cJSON_StringIsConst;
		it->string = NULL;
		cJSON_ReplaceItemViaPointer(node, it, r);
	}
	return 0;
}

/* ---- lines ---- */

static void format_time(int64_t us, char out[80])
{
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(us % 1000000 / 1000));
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *declog_build_line(const declog *dl, const declog_entry *e, size_t *len)
{
	char ts[80];
	format_time(e->time_us ? e->time_us : wall_us(), ts);
	cJSON *o = cJSON_CreateObject();
	cJSON *ev = NULL;
	char *line = NULL;
	if (!o || !cJSON_AddStringToObject(o, "time", ts) ||
	    !(e->request_id ?
	      cJSON_AddStringToObject(o, "request_id", e->request_id) :
	      cJSON_AddNullToObject(o, "request_id")) ||
	    !cJSON_AddStringToObject(o, "scenario",
				     e->scenario ? e->scenario : "") ||
	    !cJSON_AddNumberToObject(o, "version", (double)e->version) ||
	    !cJSON_AddStringToObject(o, "decision",
				     e->decision ? e->decision : "") ||
	    !cJSON_AddNumberToObject(o, "score", e->score))
		goto out_free;
	if (e->decided_by &&
	    !cJSON_AddStringToObject(o, "decided_by", e->decided_by))
		goto out_free;
	/* references, not copies: the caller's arrays outlive the line */
	cJSON *reasons = cJSON_IsArray(e->reasons) ?
			 cJSON_CreateArrayReference(e->reasons->child) :
			 cJSON_CreateArray();
	if (!cJSON_AddItemToObject(o, "reasons", reasons)) {
		cJSON_Delete(reasons);
		goto out_free;
	}
	if (!cJSON_AddBoolToObject(o, "degraded", e->degraded))
		goto out_free;
	if (e->degraded_reasons) {
		cJSON *dr = cJSON_IsArray(e->degraded_reasons) ?
			    cJSON_CreateArrayReference(
				    e->degraded_reasons->child) :
			    cJSON_Duplicate(e->degraded_reasons, true);
		if (!cJSON_AddItemToObject(o, "degraded_reasons", dr)) {
			cJSON_Delete(dr);
			goto out_free;
		}
	}
	bool redact = dl && dl->enabled && dl->npaths && e->event;
	if (!e->event)
		ev = cJSON_CreateNull();
	else if (redact)
		ev = cJSON_Duplicate(e->event, true);
	else
		ev = cJSON_CreateObjectReference(e->event->child);
	if (ev && e->event && !redact && !cJSON_IsObject(e->event)) {
		/* a reference only fits objects; copy anything else */
		cJSON_Delete(ev);
		ev = cJSON_Duplicate(e->event, true);
	}
	if (!ev)
		goto out_free;
	for (int i = 0; redact && i < dl->npaths; i++)
		if (redact_at(ev, dl->paths[i].seg, dl->paths[i].n))
			goto out_free;
	if (!cJSON_AddItemToObject(o, "event", ev))
		goto out_free;
	ev = NULL;
	line = cJSON_PrintUnformatted(o);
	if (line)
		*len = strlen(line);
out_free:
	cJSON_Delete(ev);
	cJSON_Delete(o);
	return line;
}

/* ---- the queue ---- */

int declog_append(declog *dl, const char *line, size_t len)
{
	if (!dl || !dl->enabled)
		return 0;
	bool nl = len && line[len - 1] == '\n';
	size_t need = len + !nl;
	int rc = 0;
	pthread_mutex_lock(&dl->mu);
	if (dl->closing) {
		rc = RK_ESTATE;
		goto out_unlock;
	}
	if (dl->len + dl->busy_bytes + need > dl->max_bytes ||
	    dl->lines + dl->busy_lines + 1 > dl->max_lines) {
		dl->st.rejected++;
		rc = RK_ELIMIT;
		goto out_unlock;
	}
	if (dl->len + need > dl->cap) {
		size_t cap = dl->cap ? dl->cap : 4096;
		while (cap < dl->len + need)
			cap *= 2;
		char *b = rk_realloc(dl->buf, cap);
		if (!b) {
			rc = RK_ENOMEM;
			goto out_unlock;
		}
		dl->buf = b;
		dl->cap = cap;
	}
	memcpy(dl->buf + dl->len, line, len);
	if (!nl)
		dl->buf[dl->len + len] = '\n';
	dl->len += need;
	if (!dl->lines++) {
		dl->oldest_us = rk_now_us();
		pthread_cond_signal(&dl->cv);
	} else if (dl->len >= dl->batch_bytes) {
		pthread_cond_signal(&dl->cv);
	}
out_unlock:
	pthread_mutex_unlock(&dl->mu);
	return rc;
}

int declog_record(declog *dl, const declog_entry *e)
{
	if (!dl || !dl->enabled)
		return 0;
	size_t len;
	char *line = declog_build_line(dl, e, &len);
	if (!line)
		return RK_ENOMEM;
	int rc = declog_append(dl, line, len);
	rk_free(line);
	return rc;
}

/* ---- the writer ---- */

static void reopen_file(declog *dl)
{
	int fd = open(dl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0640);
	pthread_mutex_lock(&dl->mu);
	if (fd < 0) {
		dl->st.write_errors++;
	} else {
		close(dl->fd);
		dl->fd = fd;
	}
	pthread_mutex_unlock(&dl->mu);
}

static size_t count_lines(const char *b, size_t n)
{
	size_t k = 0;
	for (const char *p = b; (p = memchr(p, '\n', n - (size_t)(p - b)));
	     p++)
		k++;
	return k;
}

/* One error line per failure streak (the counter has the rest). */
static void log_write_error(const declog *dl, int err)
{
	log_rec l;
	if (!log_begin(&l, LOG_LEVEL_ERROR,
		       "decision log: write failed, retrying"))
		return;
	log_str(&l, "path", dl->path ? dl->path : "-");
	log_str(&l, "error", strerrordesc_np(err));
	log_end(&l);
}

/* Writes b[0..n) (nlines lines), retrying failures; while closing,
 * gives up at the deadline and counts the rest as lost. */
static void write_batch(declog *dl, const char *b, size_t n, size_t nlines)
{
	size_t off = 0;
	int64_t give_up = 0;
	int failures = 0;
	while (off < n) {
		ssize_t w = write(dl->fd, b + off, n - off);
		if (w > 0) {
			off += (size_t)w;
			pthread_mutex_lock(&dl->mu);
			dl->st.writes++;
			dl->st.written_bytes += (uint64_t)w;
			pthread_mutex_unlock(&dl->mu);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (!failures++)
			log_write_error(dl, w < 0 ? errno : EIO);
		pthread_mutex_lock(&dl->mu);
		dl->st.write_errors++;
		bool closing = dl->closing;
		pthread_mutex_unlock(&dl->mu);
		if (closing) {
			if (!give_up)
				give_up = rk_now_us() + dl->close_timeout_us;
			if (rk_now_us() >= give_up) {
				size_t lost = count_lines(b + off, n - off);
				pthread_mutex_lock(&dl->mu);
				dl->st.lost_lines += lost;
				dl->st.written_lines += nlines - lost;
				pthread_mutex_unlock(&dl->mu);
				log_rec l;
				if (log_begin(&l, LOG_LEVEL_ERROR,
					      "decision log: lines lost at "
					      "close")) {
					log_int(&l, "lines", (int64_t)lost);
					log_end(&l);
				}
				return;
			}
		}
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	pthread_mutex_lock(&dl->mu);
	dl->st.written_lines += nlines;
	pthread_mutex_unlock(&dl->mu);
	if (failures)
		log_msg(LOG_LEVEL_INFO, "decision log: writes resumed", NULL);
}

static void *writer_main(void *arg)
{
	declog *dl = arg;
	pthread_mutex_lock(&dl->mu);
	for (;;) {
		if (dl->closing && !dl->lines)
			break;
		if (!dl->closing && (dl->paused || !dl->lines)) {
			pthread_cond_wait(&dl->cv, &dl->mu);
			continue;
		}
		int64_t due = dl->oldest_us + dl->flush_us;
		int64_t now = rk_now_us();
		if (!dl->closing && dl->len < dl->batch_bytes && now < due) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t ns = (int64_t)ts.tv_nsec +
				     (due - now) * 1000;
			ts.tv_sec += (time_t)(ns / 1000000000);
			ts.tv_nsec = (long)(ns % 1000000000);
			pthread_cond_timedwait(&dl->cv, &dl->mu, &ts);
			continue;
		}
		/* take the whole queue; the spare becomes the queue */
		char *b = dl->buf;
		size_t n = dl->len, nl = dl->lines, bcap = dl->cap;
		dl->buf = dl->spare;
		dl->cap = dl->spare_cap;
		dl->spare = NULL;
		dl->spare_cap = 0;
		dl->len = dl->lines = 0;
		dl->busy_bytes = n;
		dl->busy_lines = nl;
		bool reopen = dl->reopen;
		dl->reopen = false;
		pthread_mutex_unlock(&dl->mu);

		if (reopen && dl->path)
			reopen_file(dl);
		write_batch(dl, b, n, nl);

		pthread_mutex_lock(&dl->mu);
		dl->busy_bytes = dl->busy_lines = 0;
		dl->spare = b;
		dl->spare_cap = bcap;
	}
	pthread_mutex_unlock(&dl->mu);
	return NULL;
}

/* ---- life cycle ---- */

declog *declog_open(const declog_opts *o, char *err, size_t errlen)
{
	declog *dl = rk_calloc(1, sizeof(*dl));
	if (!dl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dl->fd = -1;
	pthread_mutex_init(&dl->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&dl->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!o->path || !o->path[0])
		return dl;   /* disabled */
	dl->max_bytes = o->max_bytes ? o->max_bytes : 8u << 20;
	dl->max_lines = o->max_lines ? o->max_lines : 65536;
	dl->batch_bytes = o->batch_bytes ? o->batch_bytes : 64u << 10;
	dl->flush_us = (int64_t)(o->flush_ms > 0 ? o->flush_ms : 50) * 1000;
	dl->close_timeout_us = (int64_t)(o->close_timeout_ms > 0 ?
					 o->close_timeout_ms : 5000) * 1000;
	if (parse_redact(o->redact, &dl->paths, &dl->npaths, err, errlen))
		goto out_free;
	if (!strcmp(o->path, "-")) {
		dl->fd = STDOUT_FILENO;
	} else {
		if (!(dl->path = rk_strdup(o->path))) {
			snprintf(err, errlen, "out of memory");
			goto out_free;
		}
		dl->fd = open(o->path, O_WRONLY | O_APPEND | O_CREAT |
			      O_CLOEXEC, 0640);
		if (dl->fd < 0) {
			snprintf(err, errlen, "RISKD_DECISION_LOG: cannot "
				 "open %s: %s", o->path, strerror(errno));
			goto out_free;
		}
	}
	dl->enabled = true;
	if (pthread_create(&dl->tid, NULL, writer_main, dl)) {
		snprintf(err, errlen, "decision log: cannot start a thread");
		goto out_free;
	}
	pthread_setname_np(dl->tid, "riskd-declog");
	dl->started = true;
	return dl;
out_free:
	if (dl->path && dl->fd >= 0)
		close(dl->fd);
	dl->fd = -1;
	dl->enabled = false;
	declog_close(dl);
	return NULL;
}

bool declog_is_enabled(const declog *dl)
{
	return dl && dl->enabled;
}

void declog_reopen(declog *dl)
{
	if (!dl || !dl->enabled || !dl->path)
		return;
	pthread_mutex_lock(&dl->mu);
	dl->reopen = true;
	pthread_mutex_unlock(&dl->mu);
}

void declog_pause(declog *dl, bool paused)
{
	if (!dl)
		return;
	pthread_mutex_lock(&dl->mu);
	dl->paused = paused;
	pthread_cond_signal(&dl->cv);
	pthread_mutex_unlock(&dl->mu);
}

void declog_get_stats(declog *dl, declog_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!dl)
		return;
	pthread_mutex_lock(&dl->mu);
	*st = dl->st;
	st->queued_bytes = dl->len + dl->busy_bytes;
	st->queued_lines = dl->lines + dl->busy_lines;
	pthread_mutex_unlock(&dl->mu);
}

int declog_close(declog *dl)
{
	if (!dl)
		return 0;
	pthread_mutex_lock(&dl->mu);
	dl->closing = true;
	pthread_cond_signal(&dl->cv);
	pthread_mutex_unlock(&dl->mu);
	if (dl->started)
		pthread_join(dl->tid, NULL);
	int rc = dl->st.lost_lines ? RK_EIO : 0;
	if (dl->path && dl->fd >= 0)
		close(dl->fd);
	pthread_cond_destroy(&dl->cv);
	pthread_mutex_destroy(&dl->mu);
	paths_free(dl->paths, dl->npaths);
	rk_free(dl->path);
	rk_free(dl->buf);
	rk_free(dl->spare);
	rk_free(dl);
	return rc;
}
