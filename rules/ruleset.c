/*
 * ruleset.c - the rule-set file of SPEC §4: parse with cJSON, validate
 * every field with a located diagnostic (field path such as
 * "rules[3].score", or the byte offset of a JSON syntax error), reject
 * unknown keys, and write the canonical form back (`riskctl export`).
 * Expressions are not compiled here: set.c does that. Neighbours:
 * lists.c, set.c, store/.
 */
#include "rules_int.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[] = {NULL, "approve", "review",
					   "decline"};
static const char *const mode_names[] = {"active", "shadow", "disabled"};
static const char *const agg_names[] = {"count", "sum", "distinct"};

const char *rules_action_name(int a)
{
	return a > 0 && a < 4 ? action_names[a] : NULL;
}

const char *rules_mode_name(int m)
{
	return m >= 0 && m < 3 ? mode_names[m] : NULL;
}

const char *rules_agg_name(int a)
{
	return a >= 0 && a < 3 ? agg_names[a] : NULL;
}

typedef struct pctx {
	rk_diags *d;
	rules_def *def;
	const char *text;
	size_t len;
	int errors;
	strset *ids;     /* rule ids seen, for duplicates */
} pctx;

static void err(pctx *p, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void err(pctx *p, const char *where, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rk_diags_add(p->d, where, 0, 0, "%s", msg);
	p->errors++;
}

static bool oom(pctx *p)
{
	err(p, NULL, "out of memory");
	return false;
}

/* Line and column of byte offset off in the text. */
static void line_col(const char *t, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (t[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static bool is_name(const char *s, bool ident)
{
	size_t n = strlen(s);
	if (n < 1 || n > RULES_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = ident ? (isalpha((unsigned char)c) || c == '_' ||
				   (i && isdigit((unsigned char)c)))
				: ((c >= 'a' && c <= 'z') || isdigit((unsigned char)c) ||
				   c == '_' || c == '.' || c == '-');
		if (!ok)
			return false;
	}
	return true;
}

/* Keys allowed in an object; any other key is reported. */
static void check_keys(pctx *p, const cJSON *obj, const char *path,
		       const char *const *keys)
{
	for (const cJSON *m = obj->child; m; m = m->next) {
		bool ok = false;
		for (int i = 0; keys[i]; i++)
			ok |= !strcmp(keys[i], m->string);
		if (!ok) {
			char w[160];
			snprintf(w, sizeof(w), "%s%s%s", path, *path ? "." : "",
				 m->string);
			err(p, w, "unknown field");
		}
	}
}

/* A string field: required or optional; copies into *out. */
static bool get_str(pctx *p, const cJSON *obj, const char *key,
		    const char *path, bool required, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char w[160];
	snprintf(w, sizeof(w), "%s%s%s", path, *path ? "." : "", key);
	*out = NULL;
	if (!v || cJSON_IsNull(v)) {
		if (required)
			err(p, w, "is required");
		return !required;
	}
	if (!cJSON_IsString(v)) {
		err(p, w, "must be a string");
		return false;
	}
	if (!(*out = rk_strdup(v->valuestring)))
		return oom(p);
	return true;
}

/* An integer field within [lo, hi]; absent leaves *out unchanged. */
static bool get_int(pctx *p, const cJSON *obj, const char *key,
		    const char *path, double lo, double hi, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char w[160];
	snprintf(w, sizeof(w), "%s%s%s", path, *path ? "." : "", key);
	if (!v)
		return true;
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
		err(p, w, "must be an integer");
		return false;
	}
	if (v->valuedouble < lo || v->valuedouble > hi) {
		err(p, w, "must be between %.0f and %.0f", lo, hi);
		return false;
	}
	*out = (int64_t)v->valuedouble;
	return true;
}

static int enum_of(const char *s, const char *const *names, int n, int first)
{
	for (int i = first; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return i;
	return -1;
}

/* "90s", "1m", "1h", "7d": 1 minute to 30 days. */
static bool parse_window(const char *s, int64_t *ms)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || v <= 0 || !end[0] || end[1] || !isdigit((unsigned char)s[0]))
		return false;
	int64_t unit = end[0] == 's' ? 1000 : end[0] == 'm' ? 60000 :
		       end[0] == 'h' ? 3600000 : end[0] == 'd' ? 86400000 : 0;
	if (!unit || v > 1000000)
		return false;
	*ms = v * unit;
	return *ms >= 60000 && *ms <= 30LL * 86400000;
}

static void parse_features(pctx *p, const cJSON *arr)
{
	rules_def *def = p->def;
	if (!cJSON_IsArray(arr)) {
		err(p, "features", "must be an array");
		return;
	}
	int n = cJSON_GetArraySize(arr);
	def->features = rk_calloc((size_t)n + 1, sizeof(*def->features));
	if (!def->features) {
		oom(p);
		return;
	}
	static const char *const keys[] = {"name", "key", "ttl_ms", NULL};
	int i = 0;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char path[48];
		snprintf(path, sizeof(path), "features[%d]", i);
		rules_feature_def *f = &def->features[def->nfeatures];
		if (!cJSON_IsObject(o)) {
			err(p, path, "must be an object");
			continue;
		}
		check_keys(p, o, path, keys);
		bool ok = get_str(p, o, "name", path, true, &f->name);
		ok &= get_str(p, o, "key", path, true, &f->key);
		ok &= get_int(p, o, "ttl_ms", path, 0, 86400000.0 * 365, &f->ttl_ms);
		def->nfeatures++;
		if (!ok)
			continue;
		char w[64];
		snprintf(w, sizeof(w), "%s.name", path);
		if (!is_name(f->name, true))
			err(p, w, "'%s' is not a name ([A-Za-z_][A-Za-z0-9_]*)", f->name);
		for (int k = 0; k < def->nfeatures - 1; k++)
			if (def->features[k].name && !strcmp(def->features[k].name, f->name))
				err(p, w, "duplicate feature group '%s'", f->name);
		snprintf(w, sizeof(w), "%s.key", path);
		const char *open = strchr(f->key, '{');
		if (!open || !strchr(open, '}') || strchr(open, '}') == open + 1)
			err(p, w, "key template needs a {path} placeholder");
	}
}

static void parse_velocity(pctx *p, const cJSON *arr)
{
	rules_def *def = p->def;
	if (!cJSON_IsArray(arr)) {
		err(p, "velocity", "must be an array");
		return;
	}
	int n = cJSON_GetArraySize(arr);
	def->velocity = rk_calloc((size_t)n + 1, sizeof(*def->velocity));
	if (!def->velocity) {
		oom(p);
		return;
	}
	static const char *const keys[] = {"name", "entity", "window", "agg",
					   "field", NULL};
	int i = 0;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char path[48], w[64];
		snprintf(path, sizeof(path), "velocity[%d]", i);
		rules_velocity_def *v = &def->velocity[def->nvelocity];
		if (!cJSON_IsObject(o)) {
			err(p, path, "must be an object");
			continue;
		}
		check_keys(p, o, path, keys);
		char *agg = NULL;
		bool ok = get_str(p, o, "name", path, true, &v->name);
		ok &= get_str(p, o, "entity", path, true, &v->entity);
		ok &= get_str(p, o, "window", path, true, &v->window);
		ok &= get_str(p, o, "field", path, false, &v->field);
		ok &= get_str(p, o, "agg", path, true, &agg);
		def->nvelocity++;
		if (ok) {
			snprintf(w, sizeof(w), "%s.agg", path);
			v->agg = enum_of(agg, agg_names, 3, 0);
			if (v->agg < 0)
				err(p, w, "must be count, sum or distinct");
			else if (v->agg == RULES_AGG_COUNT && v->field)
				err(p, w, "count takes no field");
			else if (v->agg != RULES_AGG_COUNT && !v->field)
				err(p, w, "%s needs a field", agg);
			snprintf(w, sizeof(w), "%s.name", path);
			if (!is_name(v->name, true))
				err(p, w, "'%s' is not a name ([A-Za-z_][A-Za-z0-9_]*)",
				    v->name);
			for (int k = 0; k < def->nvelocity - 1; k++)
				if (def->velocity[k].name &&
				    !strcmp(def->velocity[k].name, v->name))
					err(p, w, "duplicate velocity '%s'", v->name);
			snprintf(w, sizeof(w), "%s.window", path);
			if (!parse_window(v->window, &v->window_ms))
				err(p, w, "'%s' is not a window from 1m to 30d "
				    "(a number and s, m, h or d)", v->window);
		}
		rk_free(agg);
	}
}

static void parse_lists(pctx *p, const cJSON *obj)
{
	rules_def *def = p->def;
	if (!cJSON_IsObject(obj)) {
		err(p, "lists", "must be an object of name: [strings]");
		return;
	}
	int n = cJSON_GetArraySize(obj);
	def->lists = rk_calloc((size_t)n + 1, sizeof(*def->lists));
	if (!def->lists) {
		oom(p);
		return;
	}
	for (const cJSON *m = obj->child; m; m = m->next) {
		char w[128];
		snprintf(w, sizeof(w), "lists.%.64s", m->string);
		rules_list_def *l = &def->lists[def->nlists];
		if (!is_name(m->string, true)) {
			err(p, w, "'%s' is not a name ([A-Za-z_][A-Za-z0-9_]*)",
			    m->string);
			continue;
		}
		if (!cJSON_IsArray(m)) {
			err(p, w, "must be an array of strings");
			continue;
		}
		if (!(l->name = rk_strdup(m->string))) {
			oom(p);
			return;
		}
		def->nlists++;
		int k = cJSON_GetArraySize(m);
		l->items = rk_calloc((size_t)k + 1, sizeof(char *));
		if (!l->items) {
			oom(p);
			return;
		}
		int j = 0;
		for (const cJSON *it = m->child; it; it = it->next, j++) {
			if (!cJSON_IsString(it)) {
				char wi[160];
				snprintf(wi, sizeof(wi), "%s[%d]", w, j);
				err(p, wi, "must be a string");
				continue;
			}
			if (!(l->items[l->nitems] = rk_strdup(it->valuestring))) {
				oom(p);
				return;
			}
			l->nitems++;
		}
	}
}

/*
 * Byte offsets of the elements of the top-level "rules" array, found by a
 * small scanner (cJSON keeps no positions), so a rule's diagnostics can
 * name its line in the file.
 */
static size_t skip_ws(const char *t, size_t i, size_t n)
{
	while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

static size_t skip_value(const char *t, size_t i, size_t n)
{
	int depth = 0;
	do {
		i = skip_ws(t, i, n);
		if (i >= n)
			return n;
		char c = t[i];
		if (c == '"') {
			for (i++; i < n && t[i] != '"'; i++)
				if (t[i] == '\\')
					i++;
			i++;
		} else if (c == '{' || c == '[') {
			depth++;
			i++;
		} else if (c == '}' || c == ']') {
			depth--;
			i++;
		} else if (c == ',' || c == ':') {
			i++;
		} else {
			while (i < n && !strchr(",:{}[] \t\r\n\"", t[i]))
				i++;
		}
	} while (depth > 0 && i < n);
	return i;
}

static void rule_lines(pctx *p)
{
	const char *t = p->text;
	size_t n = p->len, i = skip_ws(t, 0, n);
	if (i >= n || t[i] != '{')
		return;
	i++;
	while (i < n) {
		i = skip_ws(t, i, n);
		if (i >= n || t[i] != '"')
			return;
		size_t ks = i + 1;
		i = skip_value(t, i, n);
		bool is_rules = i - ks - 1 == 5 && !memcmp(t + ks, "rules", 5);
		i = skip_ws(t, i, n);
		if (i >= n || t[i] != ':')
			return;
		i = skip_ws(t, i + 1, n);
		if (is_rules && i < n && t[i] == '[') {
			i++;
			/* Count newlines incrementally: files hold 100k rules. */
			int line = 1;
			size_t counted = 0;
			for (int k = 0; k < p->def->nrules && i < n; k++) {
				i = skip_ws(t, i, n);
				for (; counted < i; counted++)
					line += t[counted] == '\n';
				p->def->rules[k].line = line;
				i = skip_ws(t, skip_value(t, i, n), n);
				if (i < n && t[i] == ',')
					i++;
			}
			return;
		}
		i = skip_ws(t, skip_value(t, i, n), n);
		if (i < n && t[i] == ',')
			i++;
	}
}

static void parse_rule(pctx *p, const cJSON *o, int i)
{
	rules_def *def = p->def;
	rules_rule_def *r = &def->rules[def->nrules++];
	char path[48], w[64];
	snprintf(path, sizeof(path), "rules[%d]", i);
	if (!cJSON_IsObject(o)) {
		err(p, path, "must be an object");
		return;
	}
	static const char *const keys[] = {"id", "name", "reason", "when",
					   "score", "action", "mode", "tags",
					   NULL};
	check_keys(p, o, path, keys);
	char *action = NULL, *mode = NULL;
	int64_t score = 0;
	bool ok = get_str(p, o, "id", path, true, &r->id);
	get_str(p, o, "name", path, false, &r->name);
	get_str(p, o, "reason", path, false, &r->reason);
	ok &= get_str(p, o, "when", path, true, &r->when);
	get_int(p, o, "score", path, -1e9, 1e9, &score);
	r->score = (int)score;
	if (get_str(p, o, "action", path, false, &action) && action) {
		snprintf(w, sizeof(w), "%s.action", path);
		if ((r->action = enum_of(action, action_names, 4, 1)) < 0) {
			err(p, w, "must be approve, review or decline");
			r->action = 0;
		}
	}
	if (get_str(p, o, "mode", path, false, &mode) && mode) {
		snprintf(w, sizeof(w), "%s.mode", path);
		if ((r->mode = enum_of(mode, mode_names, 3, 0)) < 0) {
			err(p, w, "must be active, shadow or disabled");
			r->mode = 0;
		}
	}
	rk_free(action);
	rk_free(mode);
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
	if (tags) {
		snprintf(w, sizeof(w), "%s.tags", path);
		if (!cJSON_IsArray(tags)) {
			err(p, w, "must be an array of strings");
		} else {
			int n = cJSON_GetArraySize(tags);
			r->tags = rk_calloc((size_t)n + 1, sizeof(char *));
			if (!r->tags) {
				oom(p);
				return;
			}
			for (const cJSON *t = tags->child; t; t = t->next) {
				if (!cJSON_IsString(t)) {
					err(p, w, "must be an array of strings");
					break;
				}
				if (!(r->tags[r->ntags] = rk_strdup(t->valuestring))) {
					oom(p);
					return;
				}
				r->ntags++;
			}
		}
	}
	if (r->id) {
		snprintf(w, sizeof(w), "%s.id", path);
		if (!is_name(r->id, false))
			err(p, w, "'%.80s' is not a rule id ([a-z0-9_.-]{1,64})", r->id);
		size_t before = strset_count(p->ids);
		if (strset_add(p->ids, r->id, strlen(r->id)))
			oom(p);
		else if (strset_count(p->ids) == before)
			err(p, w, "duplicate rule id '%s'", r->id);
	}
	if (ok && r->when) {
		snprintf(w, sizeof(w), "%s.when", path);
		size_t wl = strlen(r->when);
		if (wl > RULES_MAX_EXPR)
			err(p, w, "expression too long (%zu bytes, limit %d)", wl,
			    RULES_MAX_EXPR);
	}
}

rules_def *rules_def_parse(const char *json, size_t len, rk_diags *d)
{
	pctx p = {.d = d, .text = json, .len = len};
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		size_t off = end && end >= json ? (size_t)(end - json) : 0;
		const char *e = cJSON_GetErrorPtr();
		if (e && e >= json && e <= json + len)
			off = (size_t)(e - json);
		int line, col;
		line_col(json, off, &line, &col);
		rk_diags_add(d, NULL, line, col, "invalid JSON at byte %zu", off);
		return NULL;
	}
	/* Anything but whitespace after the value is an error too. */
	size_t tail = skip_ws(json, (size_t)(end - json), len);
	if (tail < len && json[tail]) {
		int line, col;
		line_col(json, tail, &line, &col);
		rk_diags_add(d, NULL, line, col, "invalid JSON at byte %zu: "
			     "text after the rule set", tail);
		cJSON_Delete(root);
		return NULL;
	}
	rules_def *def = p.def = rk_calloc(1, sizeof(*def));
	if (!def) {
		cJSON_Delete(root);
		oom(&p);
		return NULL;
	}
	def->max_score = 100;
	def->th_review = 50;
	def->th_decline = 80;
	if (!cJSON_IsObject(root)) {
		err(&p, NULL, "a rule set must be a JSON object");
		goto out;
	}
	static const char *const keys[] = {"scenario", "description", "max_score",
					   "thresholds", "features", "velocity",
					   "lists", "rules", NULL};
	check_keys(&p, root, "", keys);
	if (get_str(&p, root, "scenario", "", true, &def->scenario) &&
	    def->scenario && !is_name(def->scenario, false))
		err(&p, "scenario", "'%.80s' is not a scenario name ([a-z0-9_.-]{1,64})",
		    def->scenario);
	get_str(&p, root, "description", "", false, &def->description);
	int64_t v = def->max_score;
	get_int(&p, root, "max_score", "", 1, 1e9, &v);
	def->max_score = (int)v;
	const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "thresholds");
	if (th && !cJSON_IsObject(th)) {
		err(&p, "thresholds", "must be an object {review, decline}");
	} else if (th) {
		static const char *const tk[] = {"review", "decline", NULL};
		check_keys(&p, th, "thresholds", tk);
		v = def->th_review;
		get_int(&p, th, "review", "thresholds", 0, 1e9, &v);
		def->th_review = (int)v;
		v = def->th_decline;
		get_int(&p, th, "decline", "thresholds", 0, 1e9, &v);
		def->th_decline = (int)v;
	}
	if (def->th_review > def->th_decline)
		err(&p, "thresholds.review", "must not be above thresholds.decline");
	if (def->th_decline > def->max_score)
		err(&p, "thresholds.decline", "must not be above max_score (%d)",
		    def->max_score);
	const cJSON *x;
	if ((x = cJSON_GetObjectItemCaseSensitive(root, "features")))
		parse_features(&p, x);
	if ((x = cJSON_GetObjectItemCaseSensitive(root, "velocity")))
		parse_velocity(&p, x);
	if ((x = cJSON_GetObjectItemCaseSensitive(root, "lists")))
		parse_lists(&p, x);
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
	if (!rules) {
		err(&p, "rules", "is required");
	} else if (!cJSON_IsArray(rules) || !cJSON_GetArraySize(rules)) {
		err(&p, "rules", "must be a non-empty array");
	} else if (cJSON_GetArraySize(rules) > RULES_MAX_RULES) {
		err(&p, "rules", "%d rules (limit %d)", cJSON_GetArraySize(rules),
		    RULES_MAX_RULES);
	} else {
		int n = cJSON_GetArraySize(rules);
		def->rules = rk_calloc((size_t)n, sizeof(*def->rules));
		p.ids = strset_new();
		if (!def->rules || !p.ids) {
			oom(&p);
			goto out;
		}
		int i = 0;
		for (const cJSON *o = rules->child; o; o = o->next, i++)
			parse_rule(&p, o, i);
		rule_lines(&p);
	}
out:
	strset_free(p.ids);
	cJSON_Delete(root);
	if (p.errors || d->oom) {
		rules_def_free(def);
		return NULL;
	}
	return def;
}

void rules_def_free(rules_def *def)
{
	if (!def)
		return;
	rk_free(def->scenario);
	rk_free(def->description);
	for (int i = 0; i < def->nfeatures; i++) {
		rk_free(def->features[i].name);
		rk_free(def->features[i].key);
	}
	rk_free(def->features);
	for (int i = 0; i < def->nvelocity; i++) {
		rules_velocity_def *v = &def->velocity[i];
		rk_free(v->name);
		rk_free(v->entity);
		rk_free(v->window);
		rk_free(v->field);
	}
	rk_free(def->velocity);
	for (int i = 0; i < def->nlists; i++) {
		for (int k = 0; k < def->lists[i].nitems; k++)
			rk_free(def->lists[i].items[k]);
		rk_free(def->lists[i].items);
		rk_free(def->lists[i].name);
	}
	rk_free(def->lists);
	for (int i = 0; i < def->nrules; i++) {
		rules_rule_def *r = &def->rules[i];
		rk_free(r->id);
		rk_free(r->name);
		rk_free(r->reason);
		rk_free(r->when);
		for (int k = 0; k < r->ntags; k++)
			rk_free(r->tags[k]);
		rk_free(r->tags);
	}
	rk_free(def->rules);
	rk_free(def);
}

/* ---- canonical output ---- */

#define ADD(ok, expr) ((ok) = (ok) && (expr) != NULL)

/* cJSON_CreateStringArray leaks the array when an item fails to allocate
 * (cJSON 1.7.15), so build it item by item. */
static cJSON *str_array(char *const *v, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

cJSON *rules_def_to_json(const rules_def *def)
{
	cJSON *o = cJSON_CreateObject(), *x, *a;
	bool ok = o != NULL;
	ADD(ok, cJSON_AddStringToObject(o, "scenario", def->scenario));
	if (def->description)
		ADD(ok, cJSON_AddStringToObject(o, "description", def->description));
	ADD(ok, cJSON_AddNumberToObject(o, "max_score", def->max_score));
	ADD(ok, x = cJSON_AddObjectToObject(o, "thresholds"));
	if (ok) {
		ADD(ok, cJSON_AddNumberToObject(x, "review", def->th_review));
		ADD(ok, cJSON_AddNumberToObject(x, "decline", def->th_decline));
	}
	if (ok && def->nfeatures) {
		ADD(ok, a = cJSON_AddArrayToObject(o, "features"));
		for (int i = 0; ok && i < def->nfeatures; i++) {
			const rules_feature_def *f = &def->features[i];
			ADD(ok, x = cJSON_CreateObject());
			if (!ok || !cJSON_AddItemToArray(a, x))
				break;
			ADD(ok, cJSON_AddStringToObject(x, "name", f->name));
			ADD(ok, cJSON_AddStringToObject(x, "key", f->key));
			if (f->ttl_ms)
				ADD(ok, cJSON_AddNumberToObject(x, "ttl_ms", (double)f->ttl_ms));
		}
	}
	if (ok && def->nvelocity) {
		ADD(ok, a = cJSON_AddArrayToObject(o, "velocity"));
		for (int i = 0; ok && i < def->nvelocity; i++) {
			const rules_velocity_def *v = &def->velocity[i];
			ADD(ok, x = cJSON_CreateObject());
			if (!ok || !cJSON_AddItemToArray(a, x))
				break;
			ADD(ok, cJSON_AddStringToObject(x, "name", v->name));
			ADD(ok, cJSON_AddStringToObject(x, "entity", v->entity));
			ADD(ok, cJSON_AddStringToObject(x, "window", v->window));
			ADD(ok, cJSON_AddStringToObject(x, "agg", rules_agg_name(v->agg)));
			if (v->field)
				ADD(ok, cJSON_AddStringToObject(x, "field", v->field));
		}
	}
	if (ok && def->nlists) {
		ADD(ok, x = cJSON_AddObjectToObject(o, "lists"));
		for (int i = 0; ok && i < def->nlists; i++) {
			const rules_list_def *l = &def->lists[i];
			ADD(ok, a = str_array(l->items, l->nitems));
			if (ok && !cJSON_AddItemToObject(x, l->name, a)) {
				cJSON_Delete(a);
				ok = false;
			}
		}
	}
	ADD(ok, a = cJSON_AddArrayToObject(o, "rules"));
	for (int i = 0; ok && i < def->nrules; i++) {
		const rules_rule_def *r = &def->rules[i];
		ADD(ok, x = cJSON_CreateObject());
		if (!ok || !cJSON_AddItemToArray(a, x))
			break;
		ADD(ok, cJSON_AddStringToObject(x, "id", r->id));
		if (r->name)
			ADD(ok, cJSON_AddStringToObject(x, "name", r->name));
		if (r->reason)
			ADD(ok, cJSON_AddStringToObject(x, "reason", r->reason));
		ADD(ok, cJSON_AddStringToObject(x, "when", r->when));
		if (r->score)
			ADD(ok, cJSON_AddNumberToObject(x, "score", r->score));
		if (r->action)
			ADD(ok, cJSON_AddStringToObject(x, "action",
							rules_action_name(r->action)));
		if (r->mode)
			ADD(ok, cJSON_AddStringToObject(x, "mode",
							rules_mode_name(r->mode)));
		if (r->ntags) {
			cJSON *t;
			ADD(ok, t = str_array(r->tags, r->ntags));
			if (ok && !cJSON_AddItemToObject(x, "tags", t)) {
				cJSON_Delete(t);
				ok = false;
			}
		}
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *rules_def_to_text(const rules_def *def, bool pretty)
{
	cJSON *o = rules_def_to_json(def);
	if (!o)
		return NULL;
	char *txt = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!txt)
		return NULL;
	/* cJSON allocated through the hooks when installed; copy so the
	 * caller can always rk_free. */
	char *out = rk_strdup(txt);
	cJSON_free(txt);
	return out;
}
