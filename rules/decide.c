/*
 * decide.c - the decision of SPEC §2 from the matched rules: score is the
 * sum of matched active rules clamped to [0, max_score]; the band comes
 * from the thresholds; a matched `approve` rule is an allow-list that
 * wins; otherwise the most severe of the band and the matched actions.
 * decided_by names the first rule (rule-set order) whose action gives the
 * decision. Shadow rules never change anything. Also renders a result as
 * the JSON fields of the score response (SPEC §6).
 * Previous pass: eval.c.
 */
#include "rules_int.h"

#include <cjson/cJSON.h>


void decide(const rules_set *s, rules_frame *f, rules_result *out)
{
	const rules_def *def = s->def;
	long sum = 0;
	int worst = RULES_ACT_NONE, worst_rule = -1, approve_rule = -1;
	for (int i = 0; i < out->nhits; i++) {
		const rules_rule_def *r = &def->rules[out->hits[i]];
		sum += r->score;
		if (r->action == RULES_ACT_APPROVE && approve_rule < 0)
			approve_rule = out->hits[i];
		if (r->action > worst) {
			worst = r->action;
			worst_rule = out->hits[i];
		}
	}
	if (sum < 0)
		sum = 0;
	if (sum > def->max_score)
		sum = def->max_score;
	out->score = (int)sum;
	int band = sum >= def->th_decline ? RULES_ACT_DECLINE :
		   sum >= def->th_review ? RULES_ACT_REVIEW : RULES_ACT_APPROVE;
	if (approve_rule >= 0) {
		out->decision = RULES_ACT_APPROVE;
		out->decided_by = approve_rule;
	} else if (worst > band ||
		   (worst == band && worst != RULES_ACT_APPROVE)) {
		/* An action as severe as the band also names the rule. */
		out->decision = worst;
		out->decided_by = worst_rule;
	} else {
		out->decision = band;
		out->decided_by = -1;
	}
	(void)f;
}

static cJSON *hit_list(const rules_def *def, const int *idx, int n)
{
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; arr && i < n; i++) {
		const rules_rule_def *r = &def->rules[idx[i]];
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o) ||
		    !cJSON_AddStringToObject(o, "rule", r->id) ||
		    !cJSON_AddNumberToObject(o, "score", r->score) ||
		    (r->reason && !cJSON_AddStringToObject(o, "reason", r->reason)) ||
		    (r->action && !cJSON_AddStringToObject(o, "action",
					rules_action_name(r->action)))) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

int rules_result_to_json(const rules_set *s, const rules_result *r,
			 cJSON *obj)
{
	const rules_def *def = s->def;
	char by[RULES_MAX_ID + 8];
	if (r->decided_by >= 0)
		snprintf(by, sizeof(by), "rule:%s", def->rules[r->decided_by].id);
	else
		snprintf(by, sizeof(by), "score");
	cJSON *reasons = hit_list(def, r->hits, r->nhits);
	cJSON *shadow = hit_list(def, r->shadow, r->nshadow);
	if (!reasons || !shadow ||
	    !cJSON_AddStringToObject(obj, "decision",
				     rules_action_name(r->decision)) ||
	    !cJSON_AddNumberToObject(obj, "score", r->score) ||
	    !cJSON_AddStringToObject(obj, "decided_by", by)) {
		cJSON_Delete(reasons);
		cJSON_Delete(shadow);
		return RK_ENOMEM;
	}
	cJSON_AddItemToObject(obj, "reasons", reasons);
	cJSON_AddItemToObject(obj, "shadow", shadow);
	return 0;
}
