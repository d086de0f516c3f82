/*
 * handlers_admin.c - the endpoints around scoring: GET /v1/scenarios and
 * /v1/scenarios/{name} (what is served, with per-rule hit and error
 * counts), POST /v1/admin/reload (answered from the reload thread when
 * the reload is done), the probes /livez, /readyz (= /healthz) and
 * /metrics. All but reload answer on the HTTP thread: they only read a
 * snapshot. Neighbours: server.c, engine.c, metrics.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
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
	if (o)
		cJSON_AddNumberToObject(o, "generation",
					(double)snap->generation);
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
	bool ready = !cJSON_GetArraySize(reasons);
	cJSON_AddStringToObject(o, "status", ready ? "ready" : "not_ready");
	cJSON_AddItemToObject(o, "reasons", reasons);
	cJSON_AddNumberToObject(o, "scenarios", snap->nscn);
	cJSON_AddNumberToObject(o, "generation", (double)snap->generation);
	cJSON_AddNullToObject(o, "region");
	svc_snapshot_release(snap);
	svc_reply_json(r, ready ? 200 : 503, o);
}

void svc_h_metrics(svc_req *r)
{
	char *text = rk_strdup("# metrics not wired yet\n");
	svc_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
		       text, text ? strlen(text) : 0);
}
