/*
 * observe.c - what the HTTP front records and enforces about a request
 * apart from HTTP itself: the server's metric families and the decision
 * log's gauges, the request log line, sheds, deadlines and decisions
 * (metrics.h, log.h, declog.h), request ids and deadlines, and the
 * API-key checks (auth.h). Neighbours: server.c (calls it at the headers
 * and at completion), server_int.h, handlers_*.c (svc_note_*, svc_req_*).
 */
#include "server_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "auth.h"
#include "declog.h"
#include "log.h"
#include "metrics.h"

/* ---- deadlines and request ids ---- */

int svc_req_deadline(svc_req *r, const cJSON *dl)
{
	const svc_config *c = r->srv->cfg;
	int64_t ms = c->deadline_ms;
	bool body_set = false;
	if (dl && !cJSON_IsNull(dl)) {
		double v = cJSON_IsNumber(dl) ? dl->valuedouble : -1;
		if (v < 1 || v > 1e9 || v != (double)(int64_t)v) {
			svc_reply_error(r, 400, "bad_request",
					"deadline_ms: a positive integer of "
					"milliseconds");
			return RK_EINVAL;
		}
		ms = (int64_t)v;
		body_set = true;
	}
	if (r->header_deadline_ms > 0 &&
	    (!body_set || r->header_deadline_ms < ms))
		ms = r->header_deadline_ms;
	if (ms > c->max_deadline_ms)
		ms = c->max_deadline_ms;
	r->deadline_us = r->start_us + ms * 1000;
	return 0;
}

bool svc_req_expired(const svc_req *r)
{
	return rk_now_us() >= r->deadline_us;
}

static bool valid_id(const char *s, size_t n)
{
	if (!n || n > SVC_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' ||
		    s[i] == '\\')
			return false;
	return true;
}

int svc_req_set_id(svc_req *r, const cJSON *id)
{
	if (!id || cJSON_IsNull(id))
		return 0;
	if (!cJSON_IsString(id) || !valid_id(id->valuestring,
					     strlen(id->valuestring))) {
		svc_reply_error(r, 400, "bad_request",
				"request_id: 1 to %d printable characters",
				SVC_REQUEST_ID_MAX);
		return RK_EINVAL;
	}
	snprintf(r->request_id, sizeof(r->request_id), "%s", id->valuestring);
	return 0;
}

static void gen_id(svc_server *s, char *buf, size_t n)
{
	uint64_t seq = atomic_fetch_add_explicit(&s->id_seq, 1,
						 memory_order_relaxed);
	snprintf(buf, n, "%s-%012llx", s->id_prefix,
		 (unsigned long long)seq);
}

/* The per-process part of generated ids: 8 random hex digits. */
static void ids_init(svc_server *s)
{
	atomic_init(&s->id_seq, 1);
	unsigned char rnd[4];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = (uint64_t)rk_now_ns() ^ (uint64_t)getpid();
		memcpy(rnd, &t, sizeof(rnd));
	}
	snprintf(s->id_prefix, sizeof(s->id_prefix), "%02x%02x%02x%02x",
		 rnd[0], rnd[1], rnd[2], rnd[3]);
}

void svc_req_init_id(svc_req *r, const char *header_id)
{
	if (header_id && valid_id(header_id, strlen(header_id)))
		snprintf(r->request_id, sizeof(r->request_id), "%s",
			 header_id);
	else
		gen_id(r->srv, r->request_id, sizeof(r->request_id));
}

/* ---- metric families (metrics.h) ---- */

/*
 * The server's metric families (metrics.h). The registry is
 * svc_server.metrics; /metrics (handlers_admin.c) renders it after the
 * fixed gauges. svc_note_decision has no server argument, so the
 * current one is published in cur_obs (one server per process).
 */
struct svc_obs {
	metrics_family *requests;     /* {endpoint,status} */
	metrics_family *latency;      /* {endpoint,status} seconds */
	metrics_family *decisions;    /* {scenario,decision} */
	metrics_family *shed;         /* {reason} */
	metrics_family *deadline;     /* {where} */
};

static _Atomic(struct svc_obs *) cur_obs;

static double declog_stat(svc_server *s, int which)
{
	declog_stats st;
	declog_get_stats(s->declog, &st);
	switch (which) {
	case 0:
		return (double)st.written_lines;
	case 1:
		return (double)st.queued_lines;
	case 2:
		return (double)st.write_errors;
	default:
		return (double)st.lost_lines;
	}
}

static void dl_written(void *arg, metrics_emitter *e)
{
	metrics_emit(e, NULL, declog_stat(arg, 0));
}

static double dl_queued(void *arg)
{
	return declog_stat(arg, 1);
}

static void dl_errors(void *arg, metrics_emitter *e)
{
	metrics_emit(e, NULL, declog_stat(arg, 2));
}

int svc_obs_init(svc_server *s, char *err, size_t errlen)
{
	ids_init(s);
	metrics_registry *m = metrics_registry_new();
	struct svc_obs *o = rk_calloc(1, sizeof(*o));
	if (!m || !o) {
		metrics_registry_free(m);
		rk_free(o);
		snprintf(err, errlen, "out of memory");
		return RK_ENOMEM;
	}
	o->requests = metrics_counter(m, "riskd_http_requests_total",
		"Requests answered, by endpoint and status.",
		"endpoint,status");
	o->latency = metrics_histogram(m,
		"riskd_http_request_duration_seconds",
		"Time from the request headers to the end of the reply, by "
		"endpoint and status.", "endpoint,status", NULL, 0);
	o->decisions = metrics_counter(m, "riskd_decisions_total",
		"Decisions made, by scenario and decision.",
		"scenario,decision");
	o->shed = metrics_counter(m, "riskd_requests_shed_total",
		"Requests answered 503 overloaded, by reason (queue_full, "
		"queue_delay, draining, decision_log).", "reason");
	o->deadline = metrics_counter(m, "riskd_deadline_exceeded_total",
		"Requests or batch events that ran out of their deadline, "
		"by where.", "where");
	s->metrics = m;
	s->obs = o;
	atomic_store(&cur_obs, o);
	return 0;
}

static double inline_wait(void *arg)
{
	svc_server *s = arg;
	return (double)atomic_load_explicit(&s->inline_wait_us,
					    memory_order_relaxed) / 1e6;
}

static void inline_runs(void *arg, metrics_emitter *e)
{
	svc_server *s = arg;
	static const char *const answered[] = { "answered" };
	static const char *const deferred[] = { "deferred" };
	metrics_emit(e, answered, (double)atomic_load_explicit(
			 &s->inline_answered, memory_order_relaxed));
	metrics_emit(e, deferred, (double)atomic_load_explicit(
			 &s->inline_deferred, memory_order_relaxed));
	static const char *const redis[] = { "redis" };
	metrics_emit(e, redis, (double)atomic_load_explicit(
			 &s->inline_fetching, memory_order_relaxed));
}

void svc_obs_gauges(svc_server *s)
{
	metrics_collector(s->metrics, METRICS_COUNTER,
			  "riskd_inline_requests_total",
			  "Scores started on their HTTP thread (RISKD_INLINE): "
			  "answered there without Redis, answered there after "
			  "a Redis round on the thread's pipe (redis), or "
			  "deferred to a worker (a key another request was "
			  "fetching).", "outcome", inline_runs, s);
	metrics_gauge_fn(s->metrics, "riskd_http_kernel_wait_seconds",
			 "How long the last sampled inline score waited in the "
			 "kernel before its HTTP thread read it (TCP_INFO, "
			 "millisecond resolution; sampled at most once a "
			 "millisecond per thread): the HTTP threads' queueing "
			 "delay, which RISKD_QUEUE_TARGET_MS bounds.",
			 inline_wait, s);
	/* after the decision log exists */
	metrics_collector(s->metrics, METRICS_COUNTER,
			  "riskd_decision_log_lines_total",
			  "Decision log lines written.", NULL, dl_written, s);
	metrics_gauge_fn(s->metrics, "riskd_decision_log_queued_lines",
			 "Decision log lines accepted, not yet written.",
			 dl_queued, s);
	metrics_collector(s->metrics, METRICS_COUNTER,
			  "riskd_decision_log_write_errors_total",
			  "Failed decision log writes (retried, not dropped).",
			  NULL, dl_errors, s);
}

void svc_obs_free(svc_server *s)
{
	struct svc_obs *o = s->obs;
	atomic_compare_exchange_strong(&cur_obs, &o, NULL);
	metrics_registry_free(s->metrics);
	rk_free(s->obs);
}

/* ---- request log, sheds, deadlines, decisions (log.h, declog.h) ---- */

static void log_req(enum log_level level, const char *msg,
		    const svc_req *r, const char *key, const char *val)
{
	log_rec l;
	if (!log_begin(&l, level, msg))
		return;
	if (r)
		log_str(&l, "request_id", r->request_id);
	if (key)
		log_str(&l, key, val);
	log_end(&l);
}

void svc_req_done(svc_req *r, bool ok)
{
	svc_server *s = r->srv;
	int64_t us = rk_now_us() - r->start_us;
	char status[16];
	if (ok && r->status)
		snprintf(status, sizeof(status), "%d", r->status);
	else
		snprintf(status, sizeof(status), "aborted");
	metrics_inc(metrics_get(s->obs->requests, r->route, status));
	metrics_observe_us(metrics_get(s->obs->latency, r->route, status),
			   us);
	enum log_level lv = r->status == 500 ? LOG_LEVEL_WARN :
						 LOG_LEVEL_DEBUG;
	log_rec l;
	if (!log_begin(&l, lv, "request"))
		return;
	log_str(&l, "request_id", r->request_id);
	log_str(&l, "method", r->method);
	log_str(&l, "endpoint", r->route);
	log_int(&l, "status", r->status);
	if (r->err_code)
		log_str(&l, "error", r->err_code);
	if (r->key_name[0])
		log_str(&l, "key", r->key_name);
	log_int(&l, "elapsed_us", us);
	if (!ok)
		log_bool(&l, "aborted", true);
	log_end(&l);
}

void svc_note_shed(svc_req *r, const char *reason)
{
	metrics_inc(metrics_get(r->srv->obs->shed, reason));
	log_req(LOG_LEVEL_DEBUG, "shed", r, "reason", reason);
}

void svc_note_deadline(svc_req *r, const char *where)
{
	metrics_inc(metrics_get(r->srv->obs->deadline, where));
	log_req(LOG_LEVEL_DEBUG, "deadline exceeded", r, "where", where);
}

void svc_note_decision(svc_scn *sc, const rules_result *res)
{
	struct svc_obs *o = atomic_load_explicit(&cur_obs,
						 memory_order_acquire);
	if (o)
		metrics_inc(metrics_get(o->decisions, sc->name,
					rules_action_name(res->decision)));
}

int svc_record_decision(svc_server *s, svc_scn *sc, const rules_result *res,
			const char *request_id, const cJSON *event,
			bool degraded)
{
	if (!declog_is_enabled(s->declog))
		return 0;
	cJSON *o = cJSON_CreateObject();
	if (!o || rules_result_to_json(sc->set, res, o)) {
		cJSON_Delete(o);
		return RK_ENOMEM;
	}
	const cJSON *by = cJSON_GetObjectItemCaseSensitive(o, "decided_by");
	declog_entry e = {
		.request_id = request_id,
		.scenario = sc->name,
		.version = sc->version,
		.decision = rules_action_name(res->decision),
		.score = res->score,
		.decided_by = cJSON_IsString(by) ? by->valuestring : NULL,
		.reasons = cJSON_GetObjectItemCaseSensitive(o, "reasons"),
		.degraded = degraded,
		.event = event,
	};
	int rc = declog_record(s->declog, &e);
	cJSON_Delete(o);
	return rc;
}

/* ---- API keys (auth.h) ---- */

/*
 * With any non-revoked key stored, every /v1/ call needs a valid bearer
 * key (401), then a token from the key's bucket (429). Admin-only
 * endpoints check the role themselves (svc_req_require_admin).
 */
int svc_req_auth(svc_req *r, const char *authorization)
{
	svc_server *s = r->srv;
	svc_snapshot *snap = svc_engine_acquire(s->engine);
	int rc = 0;
	if (!snap->nkeys)
		goto out_release;
	const svc_key *k;
	enum svc_auth_status st =
		svc_keys_check(snap->keys, authorization, &k);
	if (st != SVC_AUTH_OK) {
		svc_reply_error(r, 401, "unauthorized", "%s",
				svc_auth_status_msg(st));
		rc = RK_EINVAL;
		goto out_release;
	}
	r->is_admin = k->admin;
	snprintf(r->key_name, sizeof(r->key_name), "%s",
		 k->name[0] ? k->name : "-");
	int ra;
	if (svc_auth_take(s->auth, k->id, rk_now_us(), &ra) == RK_ELIMIT) {
		svc_reply_error(r, 429, "rate_limited",
				"rate limit of API key %s exceeded",
				r->key_name);
		r->retry_after = ra;
		rc = RK_ELIMIT;
	}
out_release:
	svc_snapshot_release(snap);
	return rc;
}

int svc_req_require_admin(svc_req *r)
{
	if (r->is_admin)
		return 0;
	svc_snapshot *snap = svc_engine_acquire(r->srv->engine);
	int nkeys = snap->nkeys;
	svc_snapshot_release(snap);
	if (!nkeys && r->loopback)
		return 0;
	svc_reply_error(r, 403, "forbidden",
			nkeys ? "this endpoint needs an admin key" :
				"with no API keys stored, admin endpoints "
				"answer only to loopback clients");
	return RK_EINVAL;
}
