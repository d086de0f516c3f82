/*
 * handlers_admin.c - the endpoints around scoring: GET /v1/scenarios and
 * /v1/scenarios/{name} (what is served, with per-rule hit and error
 * counts), POST /v1/admin/reload (answered from the reload thread when
 * the reload is done), the probes /livez, /readyz (= /healthz) and
 * /metrics. All but reload answer on the HTTP thread: they only read a
 * snapshot. Neighbours: server.c, engine.c, metrics.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "metrics.h"
#include "data.h"
#include "server.h"

/* ---- scenarios ---- */

static void add_counts(cJSON *o, const rules_def *def)
{
	int n[3] = { 0, 0, 0 };
	for (int i = 0; i < def->nrules; i++)
		if (def->rules[i].mode >= 0 && def->rules[i].mode < 3)
			n[def->rules[i].mode]++;
	cJSON *c = cJSON_AddObjectToObject(o, "counts");
	if (!c)
		return;
	cJSON_AddNumberToObject(c, "rules", def->nrules);
	cJSON_AddNumberToObject(c, "active", n[RULES_MODE_ACTIVE]);
	cJSON_AddNumberToObject(c, "shadow", n[RULES_MODE_SHADOW]);
	cJSON_AddNumberToObject(c, "disabled", n[RULES_MODE_DISABLED]);
	cJSON_AddNumberToObject(c, "features", def->nfeatures);
	cJSON_AddNumberToObject(c, "velocity", def->nvelocity);
}

static cJSON *scenario_json(const svc_scn *sc, bool full)
{
	const rules_def *def = rules_set_def(sc->set);
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", sc->name);
	cJSON_AddNumberToObject(o, "version", (double)sc->version);
	if (def->description)
		cJSON_AddStringToObject(o, "description", def->description);
	else
		cJSON_AddNullToObject(o, "description");
	cJSON_AddNumberToObject(o, "loaded_at", (double)sc->loaded_at);
	cJSON_AddNumberToObject(o, "max_score", def->max_score);
	cJSON *th = cJSON_AddObjectToObject(o, "thresholds");
	if (th) {
		cJSON_AddNumberToObject(th, "review", def->th_review);
		cJSON_AddNumberToObject(th, "decline", def->th_decline);
	}
	add_counts(o, def);
	if (!full)
		return o;
	/* The canonical definition's parts, with live counters per rule. */
	cJSON *canon = rules_def_to_json(def);
	if (!canon) {
		cJSON_Delete(o);
		return NULL;
	}
	static const char *const parts[] = { "features", "velocity",
					     "rules" };
	for (size_t i = 0; i < RK_ARRAY_LEN(parts); i++) {
		cJSON *p = cJSON_DetachItemFromObjectCaseSensitive(canon,
								   parts[i]);
		cJSON_AddItemToObject(o, parts[i], p ? p :
					      cJSON_CreateArray());
	}
	cJSON_Delete(canon);
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(o, "rules");
	int i = 0;
	cJSON *rj;
	cJSON_ArrayForEach(rj, rules) {
		if (i >= def->nrules)
			break;
		cJSON_AddNumberToObject(rj, "hits",
					(double)atomic_load(&sc->hits[i]));
		cJSON_AddNumberToObject(rj, "errors",
					(double)atomic_load(&sc->errors[i]));
		i++;
	}
	return o;
}

void svc_h_scenarios(svc_req *r)
{
	svc_snapshot *snap = svc_engine_acquire(r->srv->engine);
	cJSON *o = cJSON_CreateObject();
	cJSON *arr = o ? cJSON_AddArrayToObject(o, "scenarios") : NULL;
	for (int i = 0; arr && i < snap->nscn; i++) {
		cJSON *x = scenario_json(snap->scn[i], false);
		if (!x) {
			cJSON_Delete(o);
			o = NULL;
			break;
		}
		cJSON_AddItemToArray(arr, x);
	}
	if (o) {
		cJSON_AddNumberToObject(o, "generation",
					(double)snap->generation);
		cJSON_AddStringToObject(o, "source",
					svc_engine_source(r->srv->engine));
	}
	svc_snapshot_release(snap);
	svc_reply_json(r, 200, o);
}

void svc_h_scenario(svc_req *r)
{
	svc_snapshot *snap = svc_engine_acquire(r->srv->engine);
	svc_scn *sc = svc_snapshot_find(snap, r->arg);
	if (!sc)
		svc_reply_error(r, 404, "unknown_scenario",
				"no active rule set for scenario '%s'",
				r->arg);
	else
		svc_reply_json(r, 200, scenario_json(sc, true));
	svc_snapshot_release(snap);
}

/* ---- reload ---- */

static void reload_done(void *arg, int rc, const cJSON *report)
{
	svc_req *r = arg;
	if (rc || !report) {
		svc_reply_error(r, rc == RK_ESTATE ? 503 : 500,
				rc == RK_ESTATE ? "overloaded" : "internal",
				"reload failed: %s", rk_strerror(rc));
	} else {
		cJSON *o = cJSON_Duplicate(report, true);
		if (o)
			cJSON_AddBoolToObject(o, "reloaded", true);
		svc_reply_json(r, 200, o);
	}
	svc_req_resume(r);
}

void svc_h_reload(svc_req *r)
{
	if (svc_req_require_admin(r))
		return;
	/* Suspend first: the reload thread may answer before we return. */
	svc_req_suspend(r);
	int rc = svc_engine_reload(r->srv->engine, reload_done, r);
	if (rc) {
		svc_reply_error(r, 503, "overloaded", "cannot reload now: %s",
				rk_strerror(rc));
		svc_req_resume(r);
	}
}

/* ---- probes ---- */

void svc_h_livez(svc_req *r)
{
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "status", "alive");
		cJSON_AddNumberToObject(o, "uptime_s",
					(double)((int64_t)time(NULL) -
						 r->srv->started_at));
	}
	svc_reply_json(r, 200, o);
}

void svc_h_readyz(svc_req *r)
{
	svc_snapshot *snap = svc_engine_acquire(r->srv->engine);
	bool draining = atomic_load(&r->srv->draining);
	cJSON *o = cJSON_CreateObject();
	cJSON *reasons = o ? cJSON_CreateArray() : NULL;
	if (!reasons) {
		cJSON_Delete(o);
		svc_snapshot_release(snap);
		svc_reply_json(r, 500, NULL);
		return;
	}
	if (draining)
		cJSON_AddItemToArray(reasons, cJSON_CreateString("draining"));
	if (!snap->nscn)
		cJSON_AddItemToArray(reasons,
				     cJSON_CreateString("no rule set loaded"));
	if (!svc_data_ready(r->srv->data))
		cJSON_AddItemToArray(reasons, cJSON_CreateString(
					     "no Redis region reachable"));
	bool ready = !cJSON_GetArraySize(reasons);
	cJSON_AddStringToObject(o, "status", ready ? "ready" : "not_ready");
	cJSON_AddItemToObject(o, "reasons", reasons);
	cJSON_AddNumberToObject(o, "scenarios", snap->nscn);
	cJSON_AddNumberToObject(o, "generation", (double)snap->generation);
	cJSON_AddStringToObject(o, "source", svc_engine_source(r->srv->engine));
	const char *region = svc_data_region(r->srv->data);
	if (region)
		cJSON_AddStringToObject(o, "region", region);
	else
		cJSON_AddNullToObject(o, "region");
	svc_snapshot_release(snap);
	svc_reply_json(r, ready ? 200 : 503, o);
}

/* ---- /metrics ---- */

/* A growing text buffer for the exposition format. */
struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	for (int pass = 0; pass < 2 && !t->oom; pass++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->p ? t->p + t->len : NULL,
				  t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if (t->p && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap : 4096;
		while (cap <= t->len + (size_t)n)
			cap *= 2;
		char *q = rk_realloc(t->p, cap);
		if (!q) {
			t->oom = true;
			return;
		}
		t->p = q;
		t->cap = cap;
	}
}

/* Label values: backslash, quote and newline escaped. */
static void put_label(struct text *t, const char *v)
{
	for (; *v && !t->oom; v++) {
		if (*v == '\\' || *v == '"')
			put(t, "\\%c", *v);
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

static void put_rule_counters(struct text *t, const svc_snapshot *snap,
			      bool errors)
{
	const char *name = errors ? "riskd_rule_errors_total" :
				    "riskd_rule_hits_total";
	put(t, "# HELP %s %s\n# TYPE %s counter\n", name,
	    errors ? "Runtime type errors per rule (the rule did not match)." :
		     "Matches per rule (active and shadow).", name);
	for (int i = 0; i < snap->nscn; i++) {
		const svc_scn *sc = snap->scn[i];
		const rules_def *def = rules_set_def(sc->set);
		for (int k = 0; k < def->nrules; k++) {
			uint64_t v = atomic_load_explicit(
				errors ? &sc->errors[k] : &sc->hits[k],
				memory_order_relaxed);
			put(t, "%s{scenario=\"", name);
			put_label(t, sc->name);
			put(t, "\",rule=\"");
			put_label(t, def->rules[k].id);
			put(t, "\"} %llu\n", (unsigned long long)v);
		}
	}
}

/*
 * The service's own state: admission queue, in-flight requests, rule
 * sets, reloads, per-rule hits and errors. Request counts and latency
 * histograms per endpoint come from the metrics registry (metrics.h).
 */
void svc_h_metrics(svc_req *r)
{
	svc_server *s = r->srv;
	struct text t = { 0 };
	svc_pool_stats ps;
	svc_pool_get_stats(s->pool, &ps);
	svc_engine_stats es;
	svc_engine_get_stats(s->engine, &es);
	svc_snapshot *snap = svc_engine_acquire(s->engine);

	put(&t, "# HELP riskd_queue_depth Requests waiting for a worker.\n"
		"# TYPE riskd_queue_depth gauge\nriskd_queue_depth %d\n",
	    ps.depth);
	put(&t, "# HELP riskd_queue_capacity Admission queue bound "
		"(RISKD_QUEUE).\n# TYPE riskd_queue_capacity gauge\n"
		"riskd_queue_capacity %d\n", s->cfg->queue);
	put(&t, "# HELP riskd_workers_busy Workers evaluating now.\n"
		"# TYPE riskd_workers_busy gauge\nriskd_workers_busy %d\n",
	    ps.busy);
	put(&t, "# HELP riskd_workers Evaluation workers (RISKD_THREADS).\n"
		"# TYPE riskd_workers gauge\nriskd_workers %d\n",
	    s->cfg->threads);
	put(&t, "# HELP riskd_queue_delay_seconds Queueing delay of the last "
		"dequeued request.\n# TYPE riskd_queue_delay_seconds gauge\n"
		"riskd_queue_delay_seconds %.6f\n",
	    (double)ps.last_delay_us / 1e6);
	put(&t, "# HELP riskd_admitted_total Requests admitted to the "
		"queue.\n# TYPE riskd_admitted_total counter\n"
		"riskd_admitted_total %llu\n",
	    (unsigned long long)ps.submitted);
	put(&t, "# HELP riskd_shed_total Requests refused by admission "
		"control.\n# TYPE riskd_shed_total counter\n"
		"riskd_shed_total{reason=\"queue_full\"} %llu\n"
		"riskd_shed_total{reason=\"queue_delay\"} %llu\n",
	    (unsigned long long)ps.shed_full,
	    (unsigned long long)ps.shed_delay);
	put(&t, "# HELP riskd_inflight_requests Accepted requests not yet "
		"answered.\n# TYPE riskd_inflight_requests gauge\n"
		"riskd_inflight_requests %d\n", atomic_load(&s->inflight));
	put(&t, "# HELP riskd_draining 1 while draining after SIGTERM.\n"
		"# TYPE riskd_draining gauge\nriskd_draining %d\n",
	    atomic_load(&s->draining) ? 1 : 0);
	put(&t, "# HELP riskd_ruleset_generation Snapshot swaps since "
		"start.\n# TYPE riskd_ruleset_generation gauge\n"
		"riskd_ruleset_generation %llu\n",
	    (unsigned long long)snap->generation);
	put(&t, "# HELP riskd_ruleset_version Active version served per "
		"scenario.\n# TYPE riskd_ruleset_version gauge\n");
	for (int i = 0; i < snap->nscn; i++) {
		put(&t, "riskd_ruleset_version{scenario=\"");
		put_label(&t, snap->scn[i]->name);
		put(&t, "\"} %lld\n", (long long)snap->scn[i]->version);
	}
	put(&t, "# HELP riskd_ruleset_rules Rules of the served version.\n"
		"# TYPE riskd_ruleset_rules gauge\n");
	for (int i = 0; i < snap->nscn; i++) {
		put(&t, "riskd_ruleset_rules{scenario=\"");
		put_label(&t, snap->scn[i]->name);
		put(&t, "\"} %d\n", rules_set_nrules(snap->scn[i]->set));
	}
	put(&t, "# HELP riskd_reloads_total Store reloads by result.\n"
		"# TYPE riskd_reloads_total counter\n"
		"riskd_reloads_total{result=\"ok\"} %llu\n"
		"riskd_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)es.reloads_ok,
	    (unsigned long long)es.reloads_failed);
	put(&t, "# HELP riskd_ruleset_publishes_total Rule-set publications "
		"to Redis by result.\n"
		"# TYPE riskd_ruleset_publishes_total counter\n"
		"riskd_ruleset_publishes_total{result=\"ok\"} %llu\n"
		"riskd_ruleset_publishes_total{result=\"error\"} %llu\n",
	    (unsigned long long)es.publishes_ok,
	    (unsigned long long)es.publishes_failed);
	put(&t, "# HELP riskd_ruleset_refused_total Versions refused "
		"because they did not compile.\n"
		"# TYPE riskd_ruleset_refused_total counter\n"
		"riskd_ruleset_refused_total %llu\n",
	    (unsigned long long)es.compile_refused);
	put(&t, "# HELP riskd_last_reload_timestamp_seconds Last store read."
		"\n# TYPE riskd_last_reload_timestamp_seconds gauge\n"
		"riskd_last_reload_timestamp_seconds %lld\n",
	    (long long)es.last_reload);
	put_rule_counters(&t, snap, false);
	put_rule_counters(&t, snap, true);
	svc_snapshot_release(snap);
	/* requests, latency, decisions, sheds: observe.c's registry */
	metrics_buf mb = { 0 };
	if (metrics_render(s->metrics, &mb))
		t.oom = true;
	else if (mb.len)
		put(&t, "%.*s", (int)mb.len, mb.p);
	rk_free(mb.p);
	if (t.oom) {
		rk_free(t.p);
		svc_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	svc_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
		       t.p, t.len);
}
