/*
 * server.c - the HTTP front: libmicrohttpd, one daemon per HTTP thread,
 * each run by an event loop (loop.c), suspend/resume. Per request: a
 * svc_req made at the headers (route, request id, auth, early
 * 404/405/413/415), the body appended under RISKD_MAX_BODY, JSON
 * parsed, then the route's handler answers, suspends it while its Redis
 * reads are out on the loop's pipe, or queues it on the pool with the
 * connection suspended; the completion callback records metrics and
 * frees it. Neighbours: server.h, routes.c,
 * observe.c (metrics, logs, ids, deadlines, keys), pool.c, handlers_*.c.
 */
#include "server_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "../common/arena.h"
#include "../common/jw.h"
#include "../common/cpu.h"
#include "../common/rk.h"
#include "auth.h"
#include "declog.h"
#include "listener.h"
#include "log.h"
#include "loop.h"

/* ---- replies ---- */

static void set_reply(svc_req *r, int status, const char *ctype, char *text,
		      size_t len)
{
	rk_free(r->resp);
	r->status = status;
	r->ctype = ctype;
	r->resp = text;
	r->resp_len = len;
	r->state = SVC_REQ_REPLIED;
}

void svc_reply_text(svc_req *r, int status, const char *ctype, char *text,
		    size_t len)
{
	if (!text) {
		static const char oom[] = "{\"error\": {\"code\": \"internal\", "
					  "\"message\": \"out of memory\"}}";
		r->resp = NULL;
		text = rk_strdup(oom);
		len = text ? strlen(text) : 0;
		status = 500;
		ctype = "application/json";
		r->err_code = "internal";
	}
	set_reply(r, status, ctype, text, len);
}

void svc_reply_json(svc_req *r, int status, cJSON *body)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	svc_reply_text(r, status, "application/json", text,
		       text ? strlen(text) : 0);
}

void svc_reply_jw(svc_req *r, int status, jw *body)
{
	size_t len;
	char *text = jw_finish(body, &len);
	svc_reply_text(r, status, "application/json", text, len);
}

void svc_reply_error(svc_req *r, int status, const char *code,
		     const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->err_code = code;
	jw o;
	jw_init(&o, 128 + strlen(msg));
	jw_obj_begin(&o);
	jw_key(&o, "error");
	jw_obj_begin(&o);
	jw_kstr(&o, "code", code);
	jw_kstr(&o, "message", msg);
	jw_obj_end(&o);
	jw_obj_end(&o);
	svc_reply_jw(r, status, &o);
}

static void reply_overloaded(svc_req *r, const char *why)
{
	svc_reply_error(r, 503, "overloaded", "%s; retry later", why);
	r->retry_after = 1;
}

static enum MHD_Result send_reply(svc_req *r)
{
	char *body = r->resp;
	r->resp = NULL;
	if (!body) {
		body = rk_strdup("");
		r->resp_len = 0;
		if (!body)
			return MHD_NO;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer_with_free_callback(
			r->resp_len, body, rk_free);
	if (!resp) {
		rk_free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->ctype ? r->ctype : "application/json");
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	if (r->retry_after) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (atomic_load(&r->srv->draining))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
	enum MHD_Result ret = MHD_queue_response(r->conn,
						 (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- suspension and the pool ---- */

static void run_job(svc_job *job, void *wctx, int64_t queued_us)
{
	svc_req *r = (svc_req *)job;   /* job is the first member */
	r->work(r, wctx, queued_us);
	if (r->state != SVC_REQ_REPLIED)
		svc_reply_error(r, 500, "internal", "no reply produced");
	svc_req_resume(r);
}

/* A batch of queued requests (pool.h run_many): consecutive ones with
 * the same work_many run together. */
static void run_jobs(svc_job **jobs, int n, void *wctx,
		     const int64_t *queued_us)
{
	svc_req *rs[SVC_POOL_BATCH];
	for (int i = 0; i < n; i++)
		rs[i] = (svc_req *)jobs[i];
	for (int i = 0, k; i < n; i = k) {
		for (k = i + 1; k < n && rs[k]->work_many == rs[i]->work_many;)
			k++;
		rs[i]->work_many(rs + i, k - i, wctx, queued_us + i);
	}
	for (int i = 0; i < n; i++) {
		if (rs[i]->state != SVC_REQ_REPLIED)
			svc_reply_error(rs[i], 500, "internal",
					"no reply produced");
		svc_req_resume(rs[i]);
	}
}

void svc_req_suspend(svc_req *r)
{
	r->state = SVC_REQ_QUEUED;
	r->suspended = true;
	MHD_suspend_connection(r->conn);
}

void svc_req_resume(svc_req *r)
{
	struct svc_loop *l = r->loop;   /* r may be gone once resumed */
	MHD_resume_connection(r->conn);
	svc_loop_resumed(l);
}

void svc_req_submit(svc_req *r, svc_work work)
{
	r->work = work;
	r->job.run = run_job;
	r->job.run_many = r->work_many ? run_jobs : NULL;
	svc_req_suspend(r);
	int rc = svc_pool_submit(r->srv->pool, &r->job);
	if (!rc)
		return;
	if (rc == RK_ELIMIT)
		reply_overloaded(r, "admission queue full");
	else if (rc == RK_ETIMEOUT)
		reply_overloaded(r, "queueing delay above target");
	else
		reply_overloaded(r, "server is shutting down");
	svc_note_shed(r, rc == RK_ELIMIT ? "queue_full" :
		       rc == RK_ETIMEOUT ? "queue_delay" : "draining");
	svc_req_resume(r);
}

void svc_req_run(svc_req *r, svc_work work, svc_work_many many)
{
	if (svc_inline_run(r, work))
		return;
	r->deferred = false;
	r->work_many = many;
	svc_req_submit(r, work);
}

bool svc_req_defer(svc_req *r)
{
	if (!r->on_http_thread)
		return false;
	r->deferred = true;
	return true;
}

/* ---- the request's first call: headers ---- */

static const char *header(svc_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static bool is_loopback(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn,
					MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr)
		return false;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		static const unsigned char v4mapped[12] =
			{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return !memcmp(in6->sin6_addr.s6_addr, v4mapped, 12) &&
		       in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static bool json_media_type(const char *ct)
{
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (n == 16 && !strncasecmp(ct, "application/json", 16))
		return true;
	/* structured syntax suffix: application/vnd.x+json */
	return n > 17 && !strncasecmp(ct, "application/", 12) &&
	       !strncasecmp(ct + n - 5, "+json", 5);
}


/* Checks made before any body is read. Replies on refusal. */
static void on_headers(svc_req *r, const char *url, const char *method)
{
	svc_server *s = r->srv;
	const struct svc_route *rt = svc_route_find(url, method, r);
	if (!rt)
		return;
	r->handler = rt->handler;
	r->route_body = rt->body;
	const char *ex = MHD_lookup_connection_value(
		r->conn, MHD_GET_ARGUMENT_KIND, "explain");
	r->explain = ex && (!strcmp(ex, "true") || !strcmp(ex, "1"));
	bool probe = !strncmp(url, "/livez", 6) || !strncmp(url, "/readyz", 7)
		     || !strncmp(url, "/healthz", 8) ||
		     !strncmp(url, "/metrics", 8);
	if (atomic_load(&s->draining) && !probe) {
		reply_overloaded(r, "server is draining");
		svc_note_shed(r, "draining");
		return;
	}
	const char *dl = header(r, "X-Deadline-Ms");
	if (dl) {
		char *end;
		errno = 0;
		long long v = strtoll(dl, &end, 10);
		if (errno || end == dl || *end || v < 1) {
			svc_reply_error(r, 400, "bad_request",
					"X-Deadline-Ms: a positive integer");
			return;
		}
		r->header_deadline_ms = v > 1000000000 ? 1000000000 : v;
	}
	if (!strncmp(url, "/v1/", 4) &&
	    svc_req_auth(r, header(r, "Authorization")))
		return;
	if (!rt->body)
		return;
	const char *ct = header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct && !json_media_type(ct)) {
		svc_reply_error(r, 415, "unsupported_media_type",
				"Content-Type %.100s is not application/json",
				ct);
		return;
	}
	const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (!errno && end != cl && v > (unsigned long long)
						   s->cfg->max_body) {
			svc_reply_error(r, 413, "too_large",
					"body of %llu bytes exceeds the limit "
					"of %lld", v,
					(long long)s->cfg->max_body);
			return;
		}
	}
}

static bool has_body(svc_req *r)
{
	const char *cl = header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	return te || (cl && strcmp(cl, "0"));
}

static svc_req *req_new(svc_server *s, struct MHD_Connection *conn,
			const char *method)
{
	svc_req *r = rk_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->srv = s;
	r->conn = conn;
	r->loop = svc_loop_self();
	r->start_us = rk_now_us();
	arena_init(&r->mem, 8192);
	r->state = SVC_REQ_READING;
	r->route = "other";
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->loopback = is_loopback(conn);
	svc_req_init_id(r, header(r, "X-Request-Id"));
	r->deadline_us = r->start_us + s->cfg->deadline_ms * 1000;
	atomic_fetch_add(&s->inflight, 1);
	return r;
}

static void req_free(svc_req *r)
{
	arena_cleanup(&r->mem);   /* holds r->json */
	rk_free(r->body);
	rk_free(r->resp);
	rk_free(r);
}

/* ---- body ---- */

static void append_body(svc_req *r, const char *data, size_t n)
{
	size_t max = (size_t)r->srv->cfg->max_body;
	if (r->too_large || r->len + n > max) {
		r->too_large = true;
		r->len += n;   /* counted for the message, not kept */
		return;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		char *b = rk_realloc(r->body, cap);
		if (!b) {
			r->too_large = true;   /* answered as 503 below */
			r->oom = true;
			return;
		}
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
}

/* Parses the body as a JSON object; replies bad_json on failure. */
static int parse_body(svc_req *r)
{
	if (!r->len) {
		svc_reply_error(r, 400, "bad_json",
				"empty body at byte offset 0");
		return RK_EINVAL;
	}
	const char *end = NULL;
	rk_cjson_arena(&r->mem);
	r->json = cJSON_ParseWithLengthOpts(r->body, r->len, &end, false);
	rk_cjson_arena(NULL);
	if (!r->json) {
		size_t off = end && end >= r->body ?
				     (size_t)(end - r->body) : 0;
		if (off > r->len)
			off = r->len;
		svc_reply_error(r, 400, "bad_json",
				"invalid JSON at byte offset %zu", off);
		return RK_EINVAL;
	}
	size_t off = (size_t)(end - r->body);
	while (off < r->len && isspace((unsigned char)r->body[off]))
		off++;
	if (off < r->len) {
		svc_reply_error(r, 400, "bad_json",
				"trailing data at byte offset %zu", off);
		return RK_EINVAL;
	}
	if (!cJSON_IsObject(r->json)) {
		svc_reply_error(r, 400, "bad_request",
				"the body must be a JSON object");
		return RK_EINVAL;
	}
	return 0;
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	svc_server *s = cls;
	svc_req *r = *con_cls;
	if (!r) {
		r = req_new(s, conn, method);
		if (!r)
			return MHD_NO;
		*con_cls = r;
		on_headers(r, url, method);
		/* Refuse an announced body without reading it; otherwise
		 * answer at the final call so the connection stays open. */
		if (r->state == SVC_REQ_REPLIED && has_body(r))
			return send_reply(r);
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->state == SVC_REQ_READING)
			append_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->state == SVC_REQ_REPLIED)
		return send_reply(r);   /* resumed, or refused above */
	if (r->state != SVC_REQ_READING)
		return MHD_YES;         /* spurious call while queued */
	if (r->oom)
		reply_overloaded(r, "out of memory reading the body");
	else if (r->too_large)
		svc_reply_error(r, 413, "too_large",
				"body exceeds the limit of %lld bytes",
				(long long)s->cfg->max_body);
	else if (!r->route_body || !parse_body(r))
		r->handler(r);
	if (r->suspended)
		return MHD_YES;   /* a worker or the reload thread has it */
	if (r->state != SVC_REQ_REPLIED)
		svc_reply_error(r, 500, "internal", "no reply produced");
	return send_reply(r);
}

/* Counts started and open connections: a drain compares them with what
 * the accept thread handed over (listener.h). */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	svc_server *s = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add(&s->conns_started, 1);
		atomic_fetch_add(&s->conns_open, 1);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		atomic_fetch_sub(&s->conns_open, 1);
	}
}

static void on_refused(void *ud)
{
	svc_server *s = ud;
	atomic_fetch_add(&s->conns_refused, 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	svc_server *s = cls;
	svc_req *r = *con_cls;
	if (!r)
		return;
	*con_cls = NULL;
	svc_req_done(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	req_free(r);
	atomic_fetch_sub(&s->inflight, 1);
}

static void log_http(const char *msg)
{
	log_warn("http", "detail", msg, NULL);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_http(msg);
}

/* ---- life cycle ---- */

svc_server *svc_server_new(const svc_config *c, svc_engine *engine,
			   char *err, size_t errlen)
{
	svc_server *s = rk_calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cfg = c;
	s->engine = engine;
	s->started_at = (int64_t)time(NULL);
	atomic_init(&s->draining, false);
	atomic_init(&s->inflight, 0);
	atomic_init(&s->conns_started, 0);
	atomic_init(&s->conns_refused, 0);
	atomic_init(&s->conns_open, 0);
	atomic_init(&s->inline_wait_us, 0);
	svc_pool_opts po = {
		.threads = c->threads,
		.capacity = c->queue,
		.target_us = c->queue_target_ms * 1000,
		.interval_us = 100000,
		.worker_init = svc_worker_new,
		.worker_fini = svc_worker_free,
		.arg = s,
	};
	log_set_level_name(c->log_level);
	if (svc_obs_init(s, err, errlen))
		goto out_free;
	s->auth = svc_auth_new(c->rate_limit, c->rate_burst, err, errlen);
	if (!s->auth)
		goto out_free;
	declog_opts dopts = { .path = c->decision_log, .redact = c->redact };
	s->declog = declog_open(&dopts, err, errlen);
	if (!s->declog)
		goto out_free;
	svc_obs_gauges(s);
	s->pool = svc_pool_new(&po, err, errlen);
	if (!s->pool)
		goto out_free;
	if (svc_inline_init(s)) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	return s;

out_free:
	svc_pool_free(s->pool);
	declog_close(s->declog);
	svc_auth_free(s->auth);
	svc_obs_free(s);
	rk_free(s);
	return NULL;
}

/* One HTTP thread's daemon: external epoll, run by its loop. */
static struct MHD_Daemon *daemon_new(svc_server *s, unsigned limit)
{
	const svc_config *c = s->cfg;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO |
			 MHD_USE_NO_LISTEN_SOCKET;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s },
		{ MHD_OPTION_CONNECTION_LIMIT, limit, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, c->conn_timeout_s, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, c->conn_memory, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s },
		{ MHD_OPTION_END, 0, NULL },
	};
	return MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

/*
 * With RISKD_PIN_LOOPS, loop i keeps to the i-th CPU riskd may use when
 * every loop can have one and no cgroup CPU quota limits riskd within
 * its CPU set (a container run with --cpus). Left to itself the kernel
 * stacks both loops of a 2-CPU machine on one CPU behind each other for
 * milliseconds while the other CPU idles in gaps too brief for it to
 * pull work (docs/PERFORMANCE.md: P99.9 3-5 ms unpinned, ~1 ms pinned).
 */
static void loops_pin(svc_server *s)
{
	int cpus[64];
	int ncpu = rk_cpus(cpus, (int)RK_ARRAY_LEN(cpus));
	if (!s->cfg->pin_loops || s->nloops > ncpu || s->nloops > 64)
		return;
	int quota = rk_cpu_quota("/sys/fs/cgroup", "/proc/self/cgroup");
	if (quota > 0 && quota <= ncpu) {
		/* a quota (even --cpus=1.5 on two CPUs, rounded up to 2)
		 * shares out time on every CPU of the set: which CPUs are
		 * free is the kernel's to know */
		char q[16];
		snprintf(q, sizeof(q), "%d", quota);
		log_info("HTTP loops not pinned: a cgroup CPU quota",
			 "quota_cpus", q, NULL);
		return;
	}
	char list[64 * 5] = "";
	size_t off = 0;
	for (int i = 0; i < s->nloops; i++) {
		if (svc_loop_pin(s->loops[i], cpus[i])) {
			while (i-- > 0)
				svc_loop_pin(s->loops[i], -1);
			log_warn("cannot pin the HTTP loops to CPUs; the kernel "
				 "places them", NULL);
			return;
		}
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%d",
					i ? "," : "", cpus[i]);
	}
	log_info("HTTP loops pinned", "cpus", list, NULL);
}

/* The HTTP threads: a daemon and a loop each, started. */
static int loops_start(svc_server *s, char *err, size_t errlen)
{
	const svc_config *c = s->cfg;
	int n = c->http_threads < 1 ? 1 : c->http_threads;
	s->loops = rk_calloc((size_t)n, sizeof(*s->loops));
	if (!s->loops) {
		snprintf(err, errlen, "out of memory");
		return RK_ENOMEM;
	}
	/* the connection limit is shared out, as a thread pool would */
	unsigned limit = (unsigned)(c->max_conns / n);
	svc_loop_hooks hooks = { .refused = on_refused, .ud = s };
	for (int i = 0; i < n; i++) {
		struct MHD_Daemon *d = daemon_new(s, limit ? limit : 1);
		if (!d) {
			snprintf(err, errlen,
				 "cannot start the HTTP daemon on %s",
				 c->listen);
			return RK_EIO;
		}
		s->loops[i] = svc_loop_new(d, s->data,
					   c->redis_timeout_ms * 1000, &hooks,
					   err, errlen);
		if (!s->loops[i])
			return RK_EIO;
		s->nloops = i + 1;
		if (svc_loop_start(s->loops[i], i, err, errlen))
			return RK_EIO;
	}
	loops_pin(s);
	return 0;
}

static void loops_free(svc_server *s)
{
	for (int i = 0; i < s->nloops; i++)
		svc_loop_stop(s->loops[i]);
	for (int i = 0; i < s->nloops; i++)
		svc_loop_free(s->loops[i]);
	rk_free(s->loops);
	s->loops = NULL;
	s->nloops = 0;
}

int svc_server_start(svc_server *s, char *err, size_t errlen)
{
	const svc_config *c = s->cfg;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, c->listen_host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)c->listen_port);
	} else if (inet_pton(AF_INET6, c->listen_host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)c->listen_port);
	} else {
		snprintf(err, errlen, "RISKD_LISTEN: bad address %s",
			 c->listen_host);
		return RK_EINVAL;
	}
	char lerr[256];
	s->listener = svc_listener_open((struct sockaddr *)&ss,
					ss.ss_family == AF_INET6 ?
						sizeof(*in6) : sizeof(*in4),
					1024, lerr, sizeof(lerr));
	if (!s->listener) {
		snprintf(err, errlen, "cannot listen on %s: %s", c->listen,
			 lerr);
		return RK_EIO;
	}
	if (loops_start(s, err, errlen))
		goto out;
	s->port = svc_listener_port(s->listener);
	if (svc_listener_run(s->listener, s->loops, s->nloops, err, errlen))
		goto out;
	return 0;
out:
	svc_listener_free(s->listener);
	s->listener = NULL;
	loops_free(s);
	return RK_EIO;
}

static long open_connections(svc_server *s)
{
	return atomic_load(&s->conns_open);
}

static void nap_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000};
	nanosleep(&ts, NULL);
}

/*
 * Drain: /readyz says 503 and every answer carries Connection: close, so
 * clients leave; requests in flight finish. Then the listening socket is
 * closed (new connections are refused rather than accepted and cut), the
 * connections already handed to the daemon are waited for until it has
 * started them all, and the connections still open get their answers
 * until they close or the drain time runs out. Only then does
 * svc_server_free stop the daemon.
 */
int svc_server_drain(svc_server *s)
{
	atomic_store(&s->draining, true);
	int64_t until = rk_now_us() + s->cfg->drain_ms * 1000;
	int n;
	while ((n = atomic_load(&s->inflight)) > 0 && rk_now_us() < until)
		nap_ms(2);
	if (s->nloops) {
		/* refuse new connections; those handed over are started by
		 * the loops a moment later: wait for them, or the count
		 * below misses them and their requests are cut */
		unsigned long handed = svc_listener_free(s->listener);
		s->listener = NULL;
		while (atomic_load(&s->conns_started) +
			       atomic_load(&s->conns_refused) < handed &&
		       rk_now_us() < until)
			nap_ms(1);
		while ((open_connections(s) > 0 || atomic_load(&s->inflight) > 0) &&
		       rk_now_us() < until)
			nap_ms(5);
		n = atomic_load(&s->inflight);
	}
	return n;
}

void svc_server_free(svc_server *s)
{
	if (!s)
		return;
	atomic_store(&s->draining, true);
	/* Queued jobs run and resume their connections while the loops
	 * still run; then reload waiters are answered; then the loops end
	 * (failing their Redis rounds in flight: answered, degraded) and
	 * their daemons close what is left. */
	svc_pool_stop(s->pool);
	svc_engine_stop(s->engine);
	svc_listener_free(s->listener);
	loops_free(s);
	svc_pool_free(s->pool);
	svc_inline_fini(s);
	/* every worker is done: write what the decision log holds */
	if (declog_close(s->declog))
		log_error("decision log lines lost at exit", NULL);
	svc_auth_free(s->auth);
	svc_obs_free(s);
	rk_free(s);
}
