/*
 * export.c - the canonical form of a rule-set definition (`riskctl
 * export`, the store's checksummed text): fixed key order, defaults
 * left out, so parse(export(def)) exports to the same bytes. The reader
 * is ruleset.c; the format is docs/internals/ruleset-format.md.
 */
#include "rules_int.h"

#include <cjson/cJSON.h>
#include <string.h>

/* Each helper returns false when cJSON could not allocate. */
static bool put_str(cJSON *o, const char *key, const char *v)
{
	return cJSON_AddStringToObject(o, key, v) != NULL;
}

static bool put_num(cJSON *o, const char *key, double v)
{
	return cJSON_AddNumberToObject(o, key, v) != NULL;
}

/* A new object appended to array a, or NULL. */
static cJSON *push_obj(cJSON *a)
{
	cJSON *x = cJSON_CreateObject();
	if (x && !cJSON_AddItemToArray(a, x)) {
		cJSON_Delete(x);
		return NULL;
	}
	return x;
}

/* cJSON_CreateStringArray leaks the array when an item fails to allocate
 * (cJSON 1.7.15), so build it item by item. */
static bool put_strv(cJSON *o, const char *key, char *const *v, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return false;
		}
	}
	if (a && !cJSON_AddItemToObject(o, key, a)) {
		cJSON_Delete(a);
		return false;
	}
	return a != NULL;
}

static bool features_json(cJSON *o, const rules_def *def)
{
	cJSON *a = cJSON_AddArrayToObject(o, "features"), *x;
	bool ok = a != NULL;
	for (int i = 0; ok && i < def->nfeatures; i++) {
		const rules_feature_def *f = &def->features[i];
		ok = (x = push_obj(a)) && put_str(x, "name", f->name) &&
		     put_str(x, "key", f->key) &&
		     (!f->ttl_ms || put_num(x, "ttl_ms", (double)f->ttl_ms));
	}
	return ok;
}

static bool velocity_json(cJSON *o, const rules_def *def)
{
	cJSON *a = cJSON_AddArrayToObject(o, "velocity"), *x;
	bool ok = a != NULL;
	for (int i = 0; ok && i < def->nvelocity; i++) {
		const rules_velocity_def *v = &def->velocity[i];
		ok = (x = push_obj(a)) && put_str(x, "name", v->name) &&
		     put_str(x, "entity", v->entity) &&
		     put_str(x, "window", v->window) &&
		     put_str(x, "agg", rules_agg_name(v->agg)) &&
		     (!v->field || put_str(x, "field", v->field));
	}
	return ok;
}

static bool lists_json(cJSON *o, const rules_def *def)
{
	cJSON *x = cJSON_AddObjectToObject(o, "lists");
	bool ok = x != NULL;
	for (int i = 0; ok && i < def->nlists; i++)
		ok = put_strv(x, def->lists[i].name, def->lists[i].items,
			      def->lists[i].nitems);
	return ok;
}

static bool rule_json(cJSON *a, const rules_rule_def *r)
{
	cJSON *x = push_obj(a);
	return x && put_str(x, "id", r->id) &&
	       (!r->name || put_str(x, "name", r->name)) &&
	       (!r->reason || put_str(x, "reason", r->reason)) &&
	       put_str(x, "when", r->when) &&
	       (!r->score || put_num(x, "score", r->score)) &&
	       (!r->action ||
		put_str(x, "action", rules_action_name(r->action))) &&
	       (!r->mode || put_str(x, "mode", rules_mode_name(r->mode))) &&
	       (!r->ntags || put_strv(x, "tags", r->tags, r->ntags));
}

/*
 * Canonical form: keys in a fixed order (scenario, description, max_score,
 * thresholds, features, velocity, lists, rules; in a rule id, name,
 * reason, when, score, action, mode, tags). max_score and thresholds are
 * always written; absent optionals, score 0, mode active, ttl_ms 0 and
 * empty sections are left out. parse(to_text(def)) has the same to_text.
 */
cJSON *rules_def_to_json(const rules_def *def)
{
	if (!def)
		return NULL;
	cJSON *o = cJSON_CreateObject(), *th = NULL, *a = NULL;
	bool ok = o && put_str(o, "scenario", def->scenario) &&
		  (!def->description ||
		   put_str(o, "description", def->description)) &&
		  put_num(o, "max_score", def->max_score) &&
		  (th = cJSON_AddObjectToObject(o, "thresholds")) &&
		  put_num(th, "review", def->th_review) &&
		  put_num(th, "decline", def->th_decline) &&
		  (!def->nfeatures || features_json(o, def)) &&
		  (!def->nvelocity || velocity_json(o, def)) &&
		  (!def->nlists || lists_json(o, def)) &&
		  (a = cJSON_AddArrayToObject(o, "rules"));
	for (int i = 0; ok && i < def->nrules; i++)
		ok = rule_json(a, &def->rules[i]);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* cJSON_Print (tabs) or cJSON_PrintUnformatted, copied for rk_free. */
char *rules_def_to_text(const rules_def *def, bool pretty)
{
	cJSON *o = rules_def_to_json(def);
	if (!o)
		return NULL;
	char *txt = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!txt)
		return NULL;
	/* cJSON allocates through the hooks only when they are installed;
	 * copy so the caller can always rk_free. */
	char *out = rk_strdup(txt);
	cJSON_free(txt);
	return out;
}
