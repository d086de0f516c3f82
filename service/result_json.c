/*
 * result_json.c - one scoring result as the JSON fields of SPEC §6,
 * written straight into the response buffer (common/jw.h). This is the
 * hot half of every score response; building a cJSON tree and printing
 * it cost more than evaluating 3,000 rules (docs/PERFORMANCE.md).
 * Neighbours: handlers_score.c (calls it), score.h.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "score.h"

static void hit_list(jw *w, const rules_def *def, const int *idx, int n)
{
	jw_arr_begin(w);
	for (int i = 0; i < n; i++) {
		const rules_rule_def *r = &def->rules[idx[i]];
		jw_obj_begin(w);
		jw_kstr(w, "rule", r->id);
		jw_kint(w, "score", r->score);
		if (r->reason)
			jw_kstr(w, "reason", r->reason);
		if (r->action)
			jw_kstr(w, "action", rules_action_name(r->action));
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void input(jw *w, const char *prefix, const char *group,
		  const char *name, const struct cJSON *v, const char *source,
		  int64_t age_ms)
{
	jw_obj_begin(w);
	jw_key(w, "path");
	char path[256];
	if (group)
		snprintf(path, sizeof(path), "%s.%s.%s", prefix, group, name);
	else
		snprintf(path, sizeof(path), "%s.%s", prefix, name);
	jw_str(w, path);
	jw_key(w, "value");
	jw_cjson(w, v);
	jw_kstr(w, "source", source ? source : "none");
	jw_key(w, "age_ms");
	if (source && age_ms >= 0)
		jw_int(w, age_ms);
	else
		jw_null(w);
	jw_obj_end(w);
}

/* Where a group's values came from: the fetch stage's record, or the
 * envelope (simulate). */
static const char *group_source(const svc_inputs *in, const char *group,
				int64_t *age_ms)
{
	*age_ms = -1;
	for (int i = 0; i < in->ngroups; i++)
		if (!strcmp(in->groups[i].group, group)) {
			*age_ms = in->groups[i].age_ms;
			return in->groups[i].source;
		}
	return in->features ? "envelope" : NULL;
}

/* The feature and velocity values one rule read (explain). */
static void rule_inputs(jw *w, const rules_set *set, int rule,
			const svc_inputs *in)
{
	const rules_def *def = rules_set_def(set);
	const int *fs, *vs;
	int nf = rules_rule_features(set, rule, &fs);
	int nv = rules_rule_velocity(set, rule, &vs);
	if (!nf && !nv)
		return;
	jw_key(w, "inputs");
	jw_arr_begin(w);
	for (int i = 0; i < nf; i++) {
		const rules_need *n = rules_set_feature_slot(set, fs[i]);
		if (!n)
			continue;
		const cJSON *g = in->features ?
			cJSON_GetObjectItemCaseSensitive(in->features,
							 n->group) : NULL;
		const cJSON *v = g ?
			cJSON_GetObjectItemCaseSensitive(g, n->field) : NULL;
		int64_t age;
		const char *src = group_source(in, n->group, &age);
		input(w, "features", n->group, n->field, v,
		      src && strcmp(src, "none") ? src : NULL, age);
	}
	for (int i = 0; i < nv; i++) {
		int d = rules_set_velocity_slot_def(set, vs[i]);
		if (d < 0 || d >= def->nvelocity)
			continue;
		const char *name = def->velocity[d].name;
		const cJSON *v = in->velocity ?
			cJSON_GetObjectItemCaseSensitive(in->velocity, name) :
			NULL;
		input(w, "velocity", NULL, name, v,
		      cJSON_IsNumber(v) ? in->velocity_source : NULL, -1);
	}
	jw_arr_end(w);
}

static void explain(jw *w, const rules_set *set, const rules_result *res,
		    const svc_inputs *in)
{
	const rules_def *def = rules_set_def(set);
	jw_key(w, "explain");
	jw_arr_begin(w);
	for (int i = 0; i < res->ntrace; i++) {
		const rules_rule_trace *t = &res->trace[i];
		const rules_rule_def *rd = &def->rules[t->rule];
		jw_obj_begin(w);
		jw_kstr(w, "rule", rd->id);
		jw_kstr(w, "mode", rules_mode_name(rd->mode));
		jw_kbool(w, "matched", t->matched);
		jw_kstr(w, "error", t->error ? "runtime type error (the rule "
					       "does not match)" : NULL);
		rule_inputs(w, set, t->rule, in);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void svc_write_result(jw *w, const rules_set *set, const rules_result *res,
		      const svc_inputs *in, const char *region, bool expl)
{
	const rules_def *def = rules_set_def(set);
	jw_kstr(w, "decision", rules_action_name(res->decision));
	jw_kint(w, "score", res->score);
	jw_key(w, "decided_by");
	if (res->decided_by >= 0) {
		char by[RULES_MAX_ID + 8];
		snprintf(by, sizeof(by), "rule:%s",
			 def->rules[res->decided_by].id);
		jw_str(w, by);
	} else {
		jw_str(w, "score");
	}
	jw_key(w, "reasons");
	hit_list(w, def, res->hits, res->nhits);
	jw_key(w, "shadow");
	hit_list(w, def, res->shadow, res->nshadow);
	jw_kbool(w, "degraded", in->degraded);
	if (in->degraded) {
		jw_key(w, "degraded_reasons");
		jw_arr_begin(w);
		for (int i = 0; i < in->ndegraded; i++)
			jw_str(w, in->degraded_reasons[i]);
		jw_arr_end(w);
	}
	jw_kstr(w, "region", region);
	if (expl)
		explain(w, set, res, in);
}
