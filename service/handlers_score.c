/*
 * handlers_score.c - POST /v1/score, /v1/score/batch and /v1/simulate.
 * The HTTP thread validates the envelope; a single score then runs on
 * that thread (svc_req_run, inline.c), its Redis reads going out on the
 * thread's pipe and the score finished by the reply (score_resumed,
 * loop.h); batches, simulate and a score that would wait for another
 * request's fetch are queued for a worker. The pipeline: deadline check ->
 * scenario lookup in the worker's snapshot -> feature/velocity fetch
 * stage -> deadline check -> evaluation in the worker's frame ->
 * decision log -> response. Each worker (and each HTTP thread that runs
 * scores) owns one rules_frame per active scenario. Neighbours: server.c
 * (requests, replies), engine.c (snapshots), declog.h, metrics.h.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "../store/store.h"
#include "../common/jw.h"
#include "data.h"
#include "loop.h"
#include "score.h"
#include "server.h"

#define BATCH_MAX 1000

struct fcache {
	svc_scn *sc;        /* kept alive by the worker's snapshot */
	rules_frame *f;
};

struct svc_worker {
	svc_server *srv;
	int index;
	svc_snapshot *snap;
	struct fcache *fc;
	int nfc, capfc;
	store *st;          /* opened on the first simulate of a version */
};

/* ---- per-worker state ---- */

void *svc_worker_new(void *srv, int index)
{
	svc_worker *w = rk_calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->srv = srv;
	w->index = index;
	return w;
}

void svc_worker_free(void *p)
{
	svc_worker *w = p;
	if (!w)
		return;
	for (int i = 0; i < w->nfc; i++)
		rules_frame_free(w->fc[i].f);
	rk_free(w->fc);
	svc_snapshot_release(w->snap);
	store_close(w->st);
	rk_free(w);
}

/* The current snapshot; frames of scenarios it no longer serves go. */
static svc_snapshot *worker_snapshot(svc_worker *w)
{
	svc_engine *e = w->srv->engine;
	if (w->snap && w->snap->generation == svc_engine_generation(e))
		return w->snap;
	svc_snapshot *s = svc_engine_acquire(e);
	int k = 0;
	for (int i = 0; i < w->nfc; i++) {
		if (svc_snapshot_find(s, w->fc[i].sc->name) == w->fc[i].sc)
			w->fc[k++] = w->fc[i];
		else
			rules_frame_free(w->fc[i].f);
	}
	w->nfc = k;
	svc_snapshot_release(w->snap);   /* after the frames are gone */
	w->snap = s;
	return s;
}

static rules_frame *worker_frame(svc_worker *w, svc_scn *sc)
{
	for (int i = 0; i < w->nfc; i++)
		if (w->fc[i].sc == sc)
			return w->fc[i].f;
	if (w->nfc == w->capfc) {
		int cap = w->capfc ? w->capfc * 2 : 8;
		struct fcache *fc = rk_realloc(w->fc, (size_t)cap *
							      sizeof(*fc));
		if (!fc)
			return NULL;
		w->fc = fc;
		w->capfc = cap;
	}
	rules_frame *f = rules_frame_new(sc->set);
	if (!f)
		return NULL;
	w->fc[w->nfc++] = (struct fcache){ sc, f };
	return f;
}

/* ---- the envelope (HTTP thread) ---- */

static const cJSON *field(const svc_req *r, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(r->json, name);
}

/* Common checks: request_id, deadline, scenario (if required). */
static int check_envelope(svc_req *r, bool need_scenario)
{
	if (svc_req_set_id(r, field(r, "request_id")) ||
	    svc_req_deadline(r, field(r, "deadline_ms")))
		return RK_EINVAL;
	const cJSON *sc = field(r, "scenario");
	if ((sc || need_scenario) &&
	    (!cJSON_IsString(sc) || !sc->valuestring[0])) {
		svc_reply_error(r, 400, "bad_request",
				"scenario: a non-empty string is required");
		return RK_EINVAL;
	}
	return 0;
}

static int check_object(svc_req *r, const char *name, bool required)
{
	const cJSON *v = field(r, name);
	if (!v && !required)
		return 0;
	if (!v || (!cJSON_IsObject(v) && (required || !cJSON_IsNull(v)))) {
		svc_reply_error(r, 400, "bad_request",
				"%s: %s JSON object", name,
				required ? "a required" : "must be a");
		return RK_EINVAL;
	}
	return 0;
}

/* ---- the pipeline (workers) ---- */

/* The feature-fetch stage (data.h): L1, then Redis in one pipelined
 * round trip; degraded, never failed. Redis gets the remaining budget
 * less a reserve for evaluating and answering (a fifth of it, 0.5 to
 * 5 ms), and at most RISKD_REDIS_TIMEOUT_MS, so a hung region yields a
 * degraded answer, not a 504, and does not hold a worker for long. */
static int64_t fetch_until(const svc_req *r, const svc_worker *w)
{
	int64_t now = rk_now_us();
	int64_t left = r->deadline_us - now;
	int64_t reserve = left / 5;
	reserve = reserve < 500 ? 500 : reserve > 5000 ? 5000 : reserve;
	int64_t until = r->deadline_us - reserve;
	int64_t cap = now + w->srv->cfg->redis_timeout_ms * 1000;
	return until < cap ? until : cap;
}

/* A single score waiting on its loop for Redis (fetch_stage). */
struct pending {
	svc_req *r;
	svc_worker *w;        /* the loop thread's */
	svc_snapshot *snap;   /* a reference: sc stays alive */
	svc_scn *sc;
	svc_inputs in;
};

static void score_resumed(void *ud);

static void fetch_stage(svc_req *r, svc_worker *w, svc_scn *sc,
			const cJSON *event, svc_inputs *in)
{
	svc_data *d = w->srv->data;
	struct rp_pipe *p = r->on_http_thread ? svc_loop_pipe() : NULL;
	if (p) {   /* on a loop with Redis: never wait */
		struct pending *pd = (struct pending *)
			((char *)in - offsetof(struct pending, in));
		pd->r = r;
		pd->w = w;
		pd->sc = sc;
		svc_data_req q = { sc->set, event, fetch_until(r, w), &r->mem,
				   in };
		int rc = svc_data_fetch_start(d, p, &q, score_resumed, pd);
		if (rc == SVC_FETCH_WAIT) {
			svc_req_defer(r);
			return;
		}
		if (rc == SVC_FETCH_SENT) {
			pd->snap = svc_snapshot_ref(w->snap);
			r->fetching = true;
			svc_req_suspend(r);
			return;
		}
	} else {
		/* a worker (may wait), or a loop without Redis (nothing
		 * to wait for) */
		svc_data_fetch(d, sc->set, event, fetch_until(r, w), &r->mem,
			       in);
	}
	if (!in->region)
		in->region = svc_data_region(d);
}

static void reply_expired(svc_req *r, const char *where)
{
	svc_note_deadline(r, where);
	svc_reply_error(r, 504, "deadline_exceeded",
			"deadline passed %s", where);
}

/*
 * Scores one event whose inputs were fetched: check, evaluate, count,
 * log. Returns 0 with res filled, or an error code: RK_ETIMEOUT
 * (deadline), RK_ELIMIT (decision log full), RK_ENOMEM.
 */
static int score_fetched(svc_req *r, svc_worker *w, svc_scn *sc,
			 rules_frame *f, const cJSON *event, const char *rid,
			 bool record, svc_inputs *in, rules_result *res)
{
	if (svc_req_expired(r))
		return RK_ETIMEOUT;
	rules_input ri = { .event = event, .features = in->features,
			   .velocity = in->velocity, .explain = r->explain };
	int rc = rules_eval(sc->set, f, &ri, res);
	if (rc)
		return rc;
	svc_scn_count(sc, res);
	if (!record)
		return 0;
	svc_note_decision(sc, res);
	svc_data_record(w->srv->data, sc->set, event, svc_loop_pipe());
	return svc_record_decision(w->srv, sc, res, rid, event, in->degraded);
}

/* fetch_stage, then score_fetched; RK_ESTATE when the fetch deferred r
 * to a worker (nothing done yet) or waits for Redis on the loop. On the
 * HTTP thread in must be the member of a struct pending. */
static int score_one(svc_req *r, svc_worker *w, svc_scn *sc,
		     rules_frame *f, const cJSON *event, const char *rid,
		     bool record, svc_inputs *in, rules_result *res)
{
	fetch_stage(r, w, sc, event, in);
	if (r->deferred || r->fetching)
		return RK_ESTATE;
	return score_fetched(r, w, sc, f, event, rid, record, in, res);
}

/* The start of score and batch work: the deadline, then the scenario
 * served by snap (the worker's). NULL after answering 504 or 404. */
static svc_scn *scenario_for(svc_req *r, svc_snapshot *snap)
{
	if (svc_req_expired(r)) {
		reply_expired(r, "while queued");
		return NULL;
	}
	const char *name = field(r, "scenario")->valuestring;
	svc_scn *sc = svc_snapshot_find(snap, name);
	if (!sc)
		svc_reply_error(r, 404, "unknown_scenario",
				"no active rule set for scenario '%s'", name);
	return sc;
}

/* The answer to a single score from score_one's result. */
static void reply_score(svc_req *r, svc_scn *sc, int rc,
			const rules_result *res, const svc_inputs *in)
{
	if (rc == RK_ETIMEOUT) {
		reply_expired(r, "before evaluation");
		return;
	}
	if (rc == RK_ELIMIT) {
		svc_note_shed(r, "decision_log");
		svc_reply_error(r, 503, "overloaded",
				"decision log is behind; retry later");
		r->retry_after = 1;
		return;
	}
	if (rc) {
		svc_reply_error(r, 500, "internal", "%s", rk_strerror(rc));
		return;
	}
	jw o;
	jw_init(&o, 512);
	jw_obj_begin(&o);
	jw_kstr(&o, "request_id", r->request_id);
	jw_kstr(&o, "scenario", sc->name);
	jw_kint(&o, "version", sc->version);
	svc_write_result(&o, sc->set, res, in, in->region, r->explain);
	jw_kint(&o, "elapsed_us", rk_now_us() - r->start_us);
	jw_obj_end(&o);
	svc_reply_jw(r, 200, &o);
}

/* scenario_for, then the worker's frame for it; NULL after replying. */
static rules_frame *scenario_frame(svc_req *r, svc_worker *w,
				   svc_snapshot *snap, svc_scn **sc)
{
	*sc = scenario_for(r, snap);
	if (!*sc)
		return NULL;
	rules_frame *f = worker_frame(w, *sc);
	if (!f)
		svc_reply_error(r, 500, "internal", "out of memory");
	return f;
}

static void work_score(svc_req *r, svc_worker *w, int64_t queued_us)
{
	RK_UNUSED(queued_us);
	svc_scn *sc;
	rules_frame *f = scenario_frame(r, w, worker_snapshot(w), &sc);
	if (!f)
		return;
	/* on the loop the inputs may have to outlive this call */
	struct pending one, *pd = &one;
	if (r->on_http_thread && svc_loop_pipe() &&
	    !(pd = arena_alloc(&r->mem, sizeof(*pd)))) {
		svc_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	rules_result res;
	int rc = score_one(r, w, sc, f, field(r, "event"), r->request_id,
			   true, &pd->in, &res);
	if (!r->deferred && !r->fetching)
		reply_score(r, sc, rc, &res, &pd->in);
}

/* The loop's Redis round for r is over (pd->in filled): evaluate and
 * answer on the loop's thread, then resume the connection. The frame
 * is the thread's own unless a reload changed the thread's snapshot
 * meanwhile; then a frame is made for this one evaluation. */
static void score_resumed(void *ud)
{
	struct pending *pd = ud;
	svc_req *r = pd->r;
	svc_worker *w = pd->w;
	if (!pd->in.region)
		pd->in.region = svc_data_region(w->srv->data);
	rules_frame *tmp = NULL;
	rules_frame *f = w->snap == pd->snap ? worker_frame(w, pd->sc) :
		(tmp = rules_frame_new(pd->sc->set));
	if (!f) {
		svc_reply_error(r, 500, "internal", "out of memory");
	} else {
		rules_result res;
		int rc = score_fetched(r, w, pd->sc, f, field(r, "event"),
				       r->request_id, true, &pd->in, &res);
		reply_score(r, pd->sc, rc, &res, &pd->in);
	}
	rules_frame_free(tmp);
	svc_snapshot_release(pd->snap);
	svc_req_resume(r);
}

/* Single scores queued together (pool.h run_many): one fetch stage for
 * all - one Redis round trip - then each is evaluated and answered. One
 * snapshot serves the batch, so no frame goes while it is in use. */
static void work_score_many(svc_req **rs, int n, svc_worker *w,
			    const int64_t *queued_us)
{
	RK_UNUSED(queued_us);
	svc_snapshot *snap = worker_snapshot(w);
	svc_scn *sc[SVC_FETCH_BATCH];
	rules_frame *f[SVC_FETCH_BATCH];
	svc_inputs in[SVC_FETCH_BATCH];
	svc_data_req q[SVC_FETCH_BATCH];
	int idx[SVC_FETCH_BATCH], m = 0;
	_Static_assert(SVC_POOL_BATCH <= SVC_FETCH_BATCH,
		       "a pool batch fits one fetch");
	for (int i = 0; i < n; i++) {
		f[i] = scenario_frame(rs[i], w, snap, &sc[i]);
		if (!f[i])
			continue;
		q[m] = (svc_data_req){ sc[i]->set, field(rs[i], "event"),
				       fetch_until(rs[i], w), &rs[i]->mem,
				       &in[i] };
		idx[m++] = i;
	}
	svc_data_fetch_many(w->srv->data, q, m);
	for (int j = 0; j < m; j++) {
		int i = idx[j];
		svc_req *r = rs[i];
		if (!in[i].region)
			in[i].region = svc_data_region(w->srv->data);
		rules_result res;
		int rc = score_fetched(r, w, sc[i], f[i], field(r, "event"),
				       r->request_id, true, &in[i], &res);
		reply_score(r, sc[i], rc, &res, &in[i]);
	}
}

void svc_h_score(svc_req *r)
{
	if (check_envelope(r, true) || check_object(r, "event", true))
		return;
	svc_req_run(r, work_score, work_score_many);
}

/* ---- batch ---- */

static void error_item(jw *o, const char *code, const char *msg)
{
	jw_obj_begin(o);
	jw_key(o, "error");
	jw_obj_begin(o);
	jw_kstr(o, "code", code);
	jw_kstr(o, "message", msg);
	jw_obj_end(o);
	jw_obj_end(o);
}

static void work_batch(svc_req *r, svc_worker *w, int64_t queued_us)
{
	RK_UNUSED(queued_us);
	svc_scn *sc;
	rules_frame *f = scenario_frame(r, w, worker_snapshot(w), &sc);
	if (!f)
		return;
	jw o;
	jw_init(&o, 4096);
	jw_obj_begin(&o);
	jw_kstr(&o, "request_id", r->request_id);
	jw_kstr(&o, "scenario", sc->name);
	jw_kint(&o, "version", sc->version);
	jw_key(&o, "results");
	jw_arr_begin(&o);
	int i = 0;
	bool expired = false;
	const cJSON *ev;
	cJSON_ArrayForEach(ev, field(r, "events")) {
		char rid[SVC_REQUEST_ID_MAX + 16];
		snprintf(rid, sizeof(rid), "%s.%d", r->request_id, i++);
		svc_inputs in;
		rules_result res;
		int rc = 0;
		if (!expired && svc_req_expired(r)) {
			expired = true;
			svc_note_deadline(r, "during the batch");
		}
		if (expired)
			rc = RK_ETIMEOUT;
		else if (!cJSON_IsObject(ev))
			rc = RK_EINVAL;
		else
			rc = score_one(r, w, sc, f, ev, rid, true, &in, &res);
		if (rc == RK_ETIMEOUT) {
			error_item(&o, "deadline_exceeded",
				   "deadline passed before this event");
		} else if (rc == RK_EINVAL) {
			error_item(&o, "bad_request",
				   "the event is not a JSON object");
		} else if (rc == RK_ELIMIT) {
			svc_note_shed(r, "decision_log");
			error_item(&o, "overloaded",
				   "decision log is behind; retry later");
		} else if (rc) {
			error_item(&o, "internal", rk_strerror(rc));
		} else {
			jw_obj_begin(&o);
			svc_write_result(&o, sc->set, &res, &in, in.region,
					 r->explain);
			jw_obj_end(&o);
		}
	}
	jw_arr_end(&o);
	jw_kint(&o, "elapsed_us", rk_now_us() - r->start_us);
	jw_obj_end(&o);
	svc_reply_jw(r, 200, &o);
}

void svc_h_batch(svc_req *r)
{
	if (check_envelope(r, true))
		return;
	const cJSON *ev = field(r, "events");
	if (!cJSON_IsArray(ev)) {
		svc_reply_error(r, 400, "bad_request",
				"events: a required array of event objects");
		return;
	}
	int n = cJSON_GetArraySize(ev);
	if (n > BATCH_MAX) {
		svc_reply_error(r, 400, "bad_request",
				"events: %d events, at most %d per batch", n,
				BATCH_MAX);
		return;
	}
	svc_req_submit(r, work_batch);
}

/* ---- simulate ---- */

/* Compiles the inline rule set, or the stored version, into *set. */
static int simulate_set(svc_req *r, svc_worker *w, svc_snapshot *snap,
			rules_set **set, char **scenario)
{
	const cJSON *rules = field(r, "rules");
	const cJSON *ver = field(r, "version");
	const cJSON *scn = field(r, "scenario");
	rules_def *def = NULL;
	rk_diags d;
	rk_diags_init(&d);
	int64_t version = 0;
	if (rules) {
		char *text = cJSON_PrintUnformatted(rules);
		if (!text)
			goto out_nomem;
		def = rules_def_parse(text, strlen(text), &d);
		rk_free(text);
	} else if (ver) {
		if (!w->st) {
			char err[256];
			w->st = store_open(w->srv->cfg->db, false, err,
					   sizeof(err));
			if (!w->st) {
				svc_reply_error(r, 503, "store_unavailable",
						"%s", err);
				goto out;
			}
		}
		int rc = store_load_def(w->st, scn->valuestring,
					(int64_t)ver->valuedouble, &def,
					&version);
		if (rc == RK_ENOENT) {
			svc_reply_error(r, 404, "unknown_scenario",
					"scenario '%s' has no version %lld",
					scn->valuestring,
					(long long)ver->valuedouble);
			goto out;
		}
		if (rc) {
			svc_reply_error(r, 503, "store_unavailable", "%s",
					store_errmsg(w->st));
			goto out;
		}
	} else {
		svc_scn *sc = svc_snapshot_find(snap, scn->valuestring);
		if (!sc) {
			svc_reply_error(r, 404, "unknown_scenario",
					"no active rule set for scenario '%s'",
					scn->valuestring);
			goto out;
		}
		*set = rules_set_ref(sc->set);
		*scenario = rk_strdup(sc->name);
		rk_diags_cleanup(&d);
		return *scenario ? 0 : RK_ENOMEM;
	}
	if (def)
		*set = rules_compile(def, snap->lists, &d);
	if (!*set) {
		jw o;
		jw_init(&o, 1024);
		jw_obj_begin(&o);
		jw_key(&o, "error");
		jw_obj_begin(&o);
		jw_kstr(&o, "code", "bad_request");
		jw_kstr(&o, "message", "the rule set does not compile");
		jw_key(&o, "details");
		jw_arr_begin(&o);
		for (int i = 0; i < d.n && i < 50; i++) {
			char buf[512];
			rk_diag_format(&d.v[i], NULL, buf, sizeof(buf));
			jw_str(&o, buf);
		}
		jw_arr_end(&o);
		jw_obj_end(&o);
		jw_obj_end(&o);
		r->err_code = "bad_request";
		svc_reply_jw(r, 400, &o);
		goto out;
	}
	rules_set_set_version(*set, version);
	*scenario = rk_strdup(def->scenario);
	rules_def_free(def);
	rk_diags_cleanup(&d);
	return *scenario ? 0 : RK_ENOMEM;
out_nomem:
	svc_reply_error(r, 500, "internal", "out of memory");
out:
	rules_def_free(def);
	rk_diags_cleanup(&d);
	return RK_EINVAL;
}

static void work_simulate(svc_req *r, svc_worker *w, int64_t queued_us)
{
	RK_UNUSED(queued_us);
	if (svc_req_expired(r)) {
		reply_expired(r, "while queued");
		return;
	}
	svc_snapshot *snap = worker_snapshot(w);
	rules_set *set = NULL;
	char *scenario = NULL;
	int rc = simulate_set(r, w, snap, &set, &scenario);
	if (rc) {
		if (r->state != SVC_REQ_REPLIED)
			svc_reply_error(r, 500, "internal", "%s",
					rk_strerror(rc));
		rules_set_free(set);
		rk_free(scenario);
		return;
	}
	rules_frame *f = rules_frame_new(set);
	svc_inputs in = { .velocity_source = "envelope" };
	in.features = field(r, "features");
	in.velocity = field(r, "velocity");
	if (cJSON_IsNull(in.features))
		in.features = NULL;
	if (cJSON_IsNull(in.velocity))
		in.velocity = NULL;
	rules_result res;
	rules_input ri = { .event = field(r, "event"),
			   .features = in.features, .velocity = in.velocity,
			   .explain = r->explain };
	if (!f) {
		svc_reply_error(r, 500, "internal", "out of memory");
		goto out;
	}
	if (svc_req_expired(r)) {
		reply_expired(r, "before evaluation");
		goto out;
	}
	if ((rc = rules_eval(set, f, &ri, &res))) {
		svc_reply_error(r, 500, "internal", "%s", rk_strerror(rc));
		goto out;
	}
	jw o;
	jw_init(&o, 1024);
	jw_obj_begin(&o);
	jw_kstr(&o, "request_id", r->request_id);
	jw_kstr(&o, "scenario", scenario);
	jw_key(&o, "version");
	if (rules_set_version(set))
		jw_int(&o, rules_set_version(set));
	else
		jw_null(&o);
	svc_write_result(&o, set, &res, &in, NULL, r->explain);
	jw_kbool(&o, "simulated", true);
	jw_kint(&o, "elapsed_us", rk_now_us() - r->start_us);
	jw_obj_end(&o);
	svc_reply_jw(r, 200, &o);
out:
	rules_frame_free(f);
	rules_set_free(set);
	rk_free(scenario);
}

void svc_h_simulate(svc_req *r)
{
	const cJSON *rules = field(r, "rules");
	const cJSON *ver = field(r, "version");
	if (check_envelope(r, !rules) || check_object(r, "event", true) ||
	    check_object(r, "features", false) ||
	    check_object(r, "velocity", false) ||
	    check_object(r, "rules", false))
		return;
	if (rules && ver) {
		svc_reply_error(r, 400, "bad_request",
				"give either version or rules, not both");
		return;
	}
	if (ver && (!cJSON_IsNumber(ver) || ver->valuedouble < 1 ||
		    ver->valuedouble != (double)(int64_t)ver->valuedouble)) {
		svc_reply_error(r, 400, "bad_request",
				"version: a positive integer");
		return;
	}
	if (rules && svc_req_require_admin(r))
		return;
	svc_req_submit(r, work_simulate);
}
