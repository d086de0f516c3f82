/*
 * ruleset.c - the rule-set file of SPEC §4: parse with cJSON, validate
 * every field with a located diagnostic (a field path such as
 * "rules[3].score" plus the line of the element in the file, or the byte
 * offset of a JSON syntax error), reject unknown and duplicate keys.
 * The canonical form is written back by export.c (`riskctl export`).
 * Expressions are not compiled here: set.c does that. Neighbours:
 * export.c, lists.c, set.c, store/.
 * The format is documented in docs/internals/ruleset-format.md.
 */
#include "rules_int.h"

#include <cjson/cJSON.h>
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

/* Parse context: every error goes through err(), which counts it. */
typedef struct pctx {
	rk_diags *d;
	rules_def *def;
	const char *text;
	size_t len;
	int errors;
	int line, col;   /* position of the element being validated */
} pctx;

static void err(pctx *p, const char *path, const char *key,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Reports an error at path.key (key may be NULL: at path), located at the
 * element being validated. The path is only formatted here: validating a
 * large file formats nothing.
 */
static void err(pctx *p, const char *path, const char *key,
		const char *fmt, ...)
{
	char msg[400], where[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		snprintf(where, sizeof(where), "%s%s%.80s", path,
			 *path ? "." : "", key);
	rk_diags_add_field(p->d, key ? where : path, p->line,
			   p->line ? p->col : 0, "%s", msg);
	p->errors++;
}

static bool oom(pctx *p)
{
	err(p, NULL, NULL, "out of memory");
	return false;
}

/* ---- lexical checks ---- */

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* IDENT of at most 64 bytes: [A-Za-z_][A-Za-z0-9_]* */
static bool is_ident(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > RULES_MAX_ID || !is_alpha(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]))
			return false;
	return true;
}

/* Rule id or scenario name: [a-z0-9_.-]{1,64} */
static bool is_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > RULES_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(c >= 'a' && c <= 'z') && !is_digit(c) && c != '_' &&
		    c != '.' && c != '-')
			return false;
	}
	return true;
}

/*
 * An event path of n bytes, as in SPEC §3:
 *   path := IDENT ("." IDENT | "[" (DIGITS | STRING) "]")*
 * where STRING is '"'- or '\''-quoted without escapes.
 */
static bool is_path_n(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0 || n > 256)
		return false;
	for (bool first = true; i < n; first = false) {
		if (first || s[i] == '.') {
			i += !first;
			if (i >= n || !is_alpha(s[i]))
				return false;
			while (i < n && (is_alpha(s[i]) || is_digit(s[i])))
				i++;
		} else if (s[i] == '[') {
			size_t st = ++i;
			if (i < n && (s[i] == '"' || s[i] == '\'')) {
				char q = s[i++];
				while (i < n && s[i] != q)
					i++;
				if (i++ >= n)
					return false;
			} else {
				while (i < n && is_digit(s[i]))
					i++;
				if (i == st)
					return false;
			}
			if (i >= n || s[i++] != ']')
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static bool is_path(const char *s)
{
	return is_path_n(s, strlen(s));
}

/*
 * A feature key template: literal text and at least one {path}
 * placeholder; braces do not nest and a '}' outside a placeholder is an
 * error. Returns NULL if valid, else what is wrong.
 */
static const char *template_error(const char *t)
{
	int holes = 0;
	for (const char *c = t; *c; c++) {
		if (*c == '}')
			return "has a '}' without '{'";
		if (*c != '{')
			continue;
		const char *end = strchr(c + 1, '}');
		if (!end)
			return "has a '{' without '}'";
		if (!is_path_n(c + 1, (size_t)(end - c - 1)))
			return "has a placeholder that is not an event path";
		holes++;
		c = end;
	}
	return holes ? NULL : "needs at least one {path} placeholder";
}

/* "90s", "1m", "1h", "7d": a positive integer and a unit, 1m to 30d. */
static bool parse_window(const char *s, int64_t *ms)
{
	int64_t v = 0;
	size_t i = 0;
	while (is_digit(s[i]) && v <= 100000000)
		v = v * 10 + (s[i++] - '0');
	if (i == 0 || !s[i] || s[i + 1])
		return false;
	int64_t unit = s[i] == 's' ? 1000 : s[i] == 'm' ? 60000 :
		       s[i] == 'h' ? 3600000 : s[i] == 'd' ? 86400000 : 0;
	if (!unit || v > 100000000)
		return false;
	*ms = v * unit;
	return *ms >= 60000 && *ms <= 30LL * 86400000;
}

/* Line and column (1-based, in bytes) of byte offset off. */
static void line_col(const char *t, size_t off, int *line, int *col)
{
	size_t bol = 0;
	*line = 1;
	for (size_t i = 0; i < off; i++)
		if (t[i] == '\n') {
			(*line)++;
			bol = i + 1;
		}
	*col = (int)(off - bol) + 1;
}

/* ---- positions: cJSON keeps none, so scan the text ---- */

static size_t skip_ws(const char *t, size_t i, size_t n)
{
	/* cJSON skips every byte <= 32 between tokens; so do we. */
	while (i < n && (unsigned char)t[i] <= 32)
		i++;
	return i;
}

/* Index just past the JSON value (or string, or punctuation) at i. */
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
			while (i < n && !strchr(",:{}[]\"", t[i]) &&
			       (unsigned char)t[i] > 32)
				i++;
		}
	} while (depth > 0 && i < n);
	return i;
}

/*
 * Line and column of the first n elements of the top-level array `key`,
 * as pairs in a new array of 2n ints (zeros where not found). Lines are
 * counted incrementally: a file may hold 100,000 rules. NULL on OOM.
 */
static int *locate(pctx *p, const char *key, int n)
{
	const char *t = p->text;
	size_t len = t ? p->len : 0, klen = strlen(key), i = 0;
	int *pos = rk_calloc((size_t)n * 2 + 2, sizeof(int));
	if (!pos) {
		oom(p);
		return NULL;
	}
	if (len >= 3 && !memcmp(t, "\xEF\xBB\xBF", 3))
		i = 3;
	i = skip_ws(t, i, len);
	if (i >= len || t[i++] != '{')
		return pos;
	while (i < len) {
		i = skip_ws(t, i, len);
		if (i >= len || t[i] != '"')
			return pos;
		size_t ks = i + 1;
		i = skip_value(t, i, len);
		bool hit = i - ks - 1 == klen && !memcmp(t + ks, key, klen);
		i = skip_ws(t, i, len);
		if (i >= len || t[i] != ':')
			return pos;
		i = skip_ws(t, i + 1, len);
		if (hit)
			break;
		i = skip_ws(t, skip_value(t, i, len), len);
		if (i < len && t[i] == ',')
			i++;
	}
	if (i >= len || t[i++] != '[')
		return pos;
	int line = 1;
	size_t counted = 0, bol = 0;
	for (int k = 0; k < n && i < len; k++) {
		i = skip_ws(t, i, len);
		for (; counted < i; counted++)
			if (t[counted] == '\n') {
				line++;
				bol = counted + 1;
			}
		pos[2 * k] = line;
		pos[2 * k + 1] = (int)(i - bol) + 1;
		i = skip_ws(t, skip_value(t, i, len), len);
		if (i < len && t[i] == ',')
			i++;
	}
	return pos;
}

static void at(pctx *p, const int *pos, int i)
{
	p->line = pos ? pos[2 * i] : 0;
	p->col = pos ? pos[2 * i + 1] : 0;
}

/* ---- fields ---- */

/* Member of obj; a JSON null is the same as an absent member. */
static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNull(v) ? NULL : v;
}

/* Edit distance of a and b if both are short, else a large number. */
static int distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	int row[33];
	if (na > 32 || nb > 32)
		return 99;
	for (size_t j = 0; j <= nb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= na; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= nb; j++) {
			int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[nb];
}

/* The known key closest to an unknown one, or -1 if none is close. */
static int suggest(const char *const *keys, const char *unknown)
{
	size_t len = strlen(unknown);
	int best = -1, bd = 3;
	for (int k = 0; keys[k]; k++) {
		/* A typo, or a known key cut short ("ttl"). */
		int dist = len >= 3 && !strncmp(keys[k], unknown, len) ?
				   1 : distance(keys[k], unknown);
		if (dist < bd) {
			bd = dist;
			best = k;
		}
	}
	return best;
}

/* Reports members of obj not in keys (with a suggestion) or repeated. */
static void check_keys(pctx *p, const cJSON *obj, const char *path,
		       const char *const *keys)
{
	unsigned seen = 0;
	for (const cJSON *m = obj->child; m; m = m->next) {
		int k = 0, best;
		while (keys[k] && strcmp(keys[k], m->string))
			k++;
		if (keys[k]) {
			if (seen & (1u << k))
				err(p, path, m->string, "duplicate field");
			seen |= (1u << k);
		} else if ((best = suggest(keys, m->string)) >= 0) {
			err(p, path, m->string,
			    "unknown field (did you mean '%s'?)", keys[best]);
		} else {
			err(p, path, m->string, "unknown field");
		}
	}
}

/* A string member, copied into *out (NULL when absent). */
static bool get_str(pctx *p, const cJSON *obj, const char *key,
		    const char *path, bool required, char **out)
{
	const cJSON *v = member(obj, key);
	*out = NULL;
	if (!v) {
		if (required)
			err(p, path, key, "is required");
		return !required;
	}
	if (!cJSON_IsString(v)) {
		err(p, path, key, "must be a string");
		return false;
	}
	if (!(*out = rk_strdup(v->valuestring)))
		return oom(p);
	return true;
}

/* An integer member within [lo, hi]; absent leaves *out unchanged. */
static bool get_int(pctx *p, const cJSON *obj, const char *key,
		    const char *path, double lo, double hi, int64_t *out)
{
	const cJSON *v = member(obj, key);
	if (!v)
		return true;
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
		err(p, path, key, "must be an integer");
		return false;
	}
	if (v->valuedouble < lo || v->valuedouble > hi) {
		err(p, path, key, "must be between %.0f and %.0f", lo, hi);
		return false;
	}
	*out = (int64_t)v->valuedouble;
	return true;
}

static int enum_of(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return i;
	return -1;
}

/* Adds name to seen; reports it at where if it was there already. */
static void unique(pctx *p, strset *seen, const char *name,
		   const char *path, const char *key, const char *what)
{
	size_t before = strset_count(seen);
	if (strset_add(seen, name, strlen(name)))
		oom(p);
	else if (strset_count(seen) == before)
		err(p, path, key, "duplicate %s '%.80s'", what, name);
}

/* A string array member as a new NULL-terminated vector; false if bad. */
static bool get_strv(pctx *p, const cJSON *arr, const char *path,
		     const char *key, char ***out, int *n)
{
	char item[100];
	int j = 0;
	*out = rk_calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(char *));
	if (!*out)
		return oom(p);
	for (const cJSON *it = arr->child; it; it = it->next, j++) {
		if (!cJSON_IsString(it)) {
			snprintf(item, sizeof(item), "%.80s[%d]", key, j);
			err(p, path, item, "must be a string");
			continue;
		}
		if (!((*out)[*n] = rk_strdup(it->valuestring)))
			return oom(p);
		(*n)++;
	}
	return true;
}

/* ---- sections ---- */

#define MAX_TTL_MS (365 * 86400000.0)
#define MAX_INT 1e9

/* "features": [{name, key, ttl_ms}] */
static void parse_features(pctx *p, const cJSON *arr, strset *seen)
{
	static const char *const keys[] = {"name", "key", "ttl_ms", NULL};
	rules_def *def = p->def;
	if (!cJSON_IsArray(arr)) {
		err(p, "features", NULL, "must be an array");
		return;
	}
	int n = cJSON_GetArraySize(arr), i = 0;
	int *pos = locate(p, "features", n);
	def->features = rk_calloc((size_t)n + 1, sizeof(*def->features));
	if (!pos || !def->features)
		goto out_oom;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char path[32];
		const char *e;
		snprintf(path, sizeof(path), "features[%d]", i);
		at(p, pos, i);
		if (!cJSON_IsObject(o)) {
			err(p, path, NULL, "must be an object");
			continue;
		}
		rules_feature_def *f = &def->features[def->nfeatures++];
		check_keys(p, o, path, keys);
		get_str(p, o, "name", path, true, &f->name);
		get_str(p, o, "key", path, true, &f->key);
		get_int(p, o, "ttl_ms", path, 0, MAX_TTL_MS, &f->ttl_ms);
		if (f->name && !is_ident(f->name))
			err(p, path, "name", "'%.80s' is not a name "
			    "([A-Za-z_][A-Za-z0-9_]*, at most 64)", f->name);
		else if (f->name)
			unique(p, seen, f->name, path, "name", "feature group");
		if (f->key && (e = template_error(f->key)))
			err(p, path, "key", "key template '%.80s' %s",
			    f->key, e);
	}
	p->line = 0;
	rk_free(pos);
	return;
out_oom:
	rk_free(pos);
	oom(p);
}

/* "velocity": [{name, entity, window, agg, field}] */
static void parse_velocity(pctx *p, const cJSON *arr, strset *seen)
{
	static const char *const keys[] = {"name", "entity", "window", "agg",
					   "field", NULL};
	rules_def *def = p->def;
	if (!cJSON_IsArray(arr)) {
		err(p, "velocity", NULL, "must be an array");
		return;
	}
	int n = cJSON_GetArraySize(arr), i = 0;
	int *pos = locate(p, "velocity", n);
	def->velocity = rk_calloc((size_t)n + 1, sizeof(*def->velocity));
	if (!pos || !def->velocity)
		goto out_oom;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char path[32], *agg = NULL;
		snprintf(path, sizeof(path), "velocity[%d]", i);
		at(p, pos, i);
		if (!cJSON_IsObject(o)) {
			err(p, path, NULL, "must be an object");
			continue;
		}
		rules_velocity_def *v = &def->velocity[def->nvelocity++];
		check_keys(p, o, path, keys);
		get_str(p, o, "name", path, true, &v->name);
		get_str(p, o, "entity", path, true, &v->entity);
		get_str(p, o, "window", path, true, &v->window);
		get_str(p, o, "agg", path, true, &agg);
		bool field_ok = get_str(p, o, "field", path, false, &v->field);
		if (v->name && !is_ident(v->name))
			err(p, path, "name", "'%.80s' is not a name "
			    "([A-Za-z_][A-Za-z0-9_]*, at most 64)", v->name);
		else if (v->name)
			unique(p, seen, v->name, path, "name", "velocity");
		if (v->entity && !is_path(v->entity))
			err(p, path, "entity", "'%.80s' is not an event path",
			    v->entity);
		if (v->window && !parse_window(v->window, &v->window_ms))
			err(p, path, "window", "'%.80s' is not a window from "
			    "1m to 30d (an integer and s, m, h or d)",
			    v->window);
		int a = agg ? enum_of(agg, agg_names, 3) : -1;
		if (agg && a < 0)
			err(p, path, "agg", "must be count, sum or distinct");
		v->agg = a < 0 ? RULES_AGG_COUNT : a;
		if (v->field && !is_path(v->field))
			err(p, path, "field", "'%.80s' is not an event path",
			    v->field);
		else if (a == RULES_AGG_COUNT && v->field)
			err(p, path, "field", "must not be set for agg count");
		else if (a > RULES_AGG_COUNT && field_ok && !v->field)
			err(p, path, "field", "is required for agg %s", agg);
		rk_free(agg);
	}
	p->line = 0;
	rk_free(pos);
	return;
out_oom:
	rk_free(pos);
	oom(p);
}

/* "lists": {"name": ["item", ...]} */
static void parse_lists(pctx *p, const cJSON *obj)
{
	rules_def *def = p->def;
	if (!cJSON_IsObject(obj)) {
		err(p, "lists", NULL, "must be an object of name: [strings]");
		return;
	}
	strset *seen = strset_new();
	def->lists = rk_calloc((size_t)cJSON_GetArraySize(obj) + 1,
			       sizeof(*def->lists));
	if (!seen || !def->lists)
		goto out_oom;
	for (const cJSON *m = obj->child; m; m = m->next) {
		if (!is_ident(m->string)) {
			err(p, "lists", m->string, "'%.80s' is not a list name "
			    "([A-Za-z_][A-Za-z0-9_]*, at most 64)", m->string);
			continue;
		}
		unique(p, seen, m->string, "lists", m->string, "list");
		if (!cJSON_IsArray(m)) {
			err(p, "lists", m->string,
			    "must be an array of strings");
			continue;
		}
		rules_list_def *l = &def->lists[def->nlists];
		if (!(l->name = rk_strdup(m->string)))
			goto out_oom;
		def->nlists++;
		if (!get_strv(p, m, "lists", m->string, &l->items,
			      &l->nitems))
			break;
	}
	strset_free(seen);
	return;
out_oom:
	strset_free(seen);
	oom(p);
}

/* One element of "rules". */
static void parse_rule(pctx *p, const cJSON *o, int i, strset *ids)
{
	static const char *const keys[] = {"id", "name", "reason", "when",
					   "score", "action", "mode", "tags",
					   NULL};
	char path[32], *action = NULL, *mode = NULL;
	snprintf(path, sizeof(path), "rules[%d]", i);
	if (!cJSON_IsObject(o)) {
		err(p, path, NULL, "must be an object");
		return;
	}
	rules_rule_def *r = &p->def->rules[p->def->nrules++];
	int64_t score = 0;
	r->line = p->line;
	check_keys(p, o, path, keys);
	get_str(p, o, "id", path, true, &r->id);
	get_str(p, o, "name", path, false, &r->name);
	get_str(p, o, "reason", path, false, &r->reason);
	get_str(p, o, "when", path, true, &r->when);
	get_int(p, o, "score", path, -MAX_INT, MAX_INT, &score);
	r->score = (int)score;
	get_str(p, o, "action", path, false, &action);
	get_str(p, o, "mode", path, false, &mode);
	if (r->id && !is_id(r->id))
		err(p, path, "id", "'%.80s' is not a rule id "
		    "([a-z0-9_.-]{1,64})", r->id);
	else if (r->id)
		unique(p, ids, r->id, path, "id", "rule id");
	/* RULES_MAX_EXPR is the compiler's check (parse.c): like every
	 * expression error it names the rule id, line 1 col 1. */
	if (r->when && !r->when[strspn(r->when, " \t\r\n")])
		err(p, path, "when", "must not be empty");
	if (action && (r->action = enum_of(action, action_names, 4)) < 0) {
		err(p, path, "action", "must be approve, review or decline");
		r->action = RULES_ACT_NONE;
	}
	if (mode && (r->mode = enum_of(mode, mode_names, 3)) < 0) {
		err(p, path, "mode", "must be active, shadow or disabled");
		r->mode = RULES_MODE_ACTIVE;
	}
	rk_free(action);
	rk_free(mode);
	const cJSON *tags = member(o, "tags");
	if (tags && !cJSON_IsArray(tags))
		err(p, path, "tags", "must be an array of strings");
	else if (tags)
		get_strv(p, tags, path, "tags", &r->tags, &r->ntags);
}

/* "rules": a non-empty array of at most RULES_MAX_RULES rules. */
static void parse_rules(pctx *p, const cJSON *arr)
{
	rules_def *def = p->def;
	if (!arr) {
		err(p, "rules", NULL, "is required");
		return;
	}
	int n = cJSON_GetArraySize(arr), i = 0;
	if (!cJSON_IsArray(arr) || !n) {
		err(p, "rules", NULL, "must be a non-empty array");
		return;
	}
	if (n > RULES_MAX_RULES) {
		err(p, "rules", NULL, "%d rules (limit %d)", n,
		    RULES_MAX_RULES);
		return;
	}
	strset *ids = strset_new();
	int *pos = locate(p, "rules", n);
	def->rules = rk_calloc((size_t)n, sizeof(*def->rules));
	if (!ids || !pos || !def->rules)
		goto out_oom;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		at(p, pos, i);
		parse_rule(p, o, i, ids);
	}
	p->line = 0;
	strset_free(ids);
	rk_free(pos);
	return;
out_oom:
	strset_free(ids);
	rk_free(pos);
	oom(p);
}

/* "max_score" and "thresholds": 0 <= review <= decline <= max_score. */
static void parse_scale(pctx *p, const cJSON *root)
{
	static const char *const tk[] = {"review", "decline", NULL};
	rules_def *def = p->def;
	int64_t max = 100, review = 50, decline = 80;
	bool max_ok = get_int(p, root, "max_score", "", 1, MAX_INT, &max);
	bool review_ok = true, decline_ok = true;
	const cJSON *th = member(root, "thresholds");
	if (th && !cJSON_IsObject(th)) {
		err(p, "thresholds", NULL,
		    "must be an object {review, decline}");
		review_ok = decline_ok = false;
	} else if (th) {
		check_keys(p, th, "thresholds", tk);
		review_ok = get_int(p, th, "review", "thresholds", 0, MAX_INT,
				    &review);
		decline_ok = get_int(p, th, "decline", "thresholds", 0,
				     MAX_INT, &decline);
	}
	def->max_score = (int)max;
	def->th_review = (int)review;
	def->th_decline = (int)decline;
	if (review_ok && decline_ok && review > decline)
		err(p, "thresholds.review", NULL, "%d must not be above "
		    "thresholds.decline (%d)", def->th_review, def->th_decline);
	if (decline_ok && max_ok && decline > max)
		err(p, "thresholds.decline", NULL, "%d must not be above "
		    "max_score (%d)", def->th_decline, def->max_score);
}

/* The JSON syntax error of text: byte offset, line and column. */
static void json_error(rk_diags *d, const char *json, size_t len,
		       const char *end, const char *what)
{
	int line, col;
	size_t off = end && json && end >= json && end <= json + len ?
			     (size_t)(end - json) : 0;
	line_col(json, off, &line, &col);
	rk_diags_add(d, NULL, line, col, "invalid JSON at byte %zu%s", off,
		     what);
}

rules_def *rules_def_parse(const char *json, size_t len, rk_diags *d)
{
	static const char *const keys[] = {"scenario", "description",
					   "max_score", "thresholds",
					   "features", "velocity", "lists",
					   "rules", NULL};
	pctx p = {.d = d, .text = json, .len = len};
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root) {
		/* return_parse_end belongs to this call; cJSON_GetErrorPtr()
		 * is process-global, so it is only the fallback. */
		json_error(d, json, len, end ? end : cJSON_GetErrorPtr(), "");
		return NULL;
	}
	size_t tail = skip_ws(json, (size_t)(end - json), len);
	if (tail < len) {
		json_error(d, json, len, json + tail,
			   ": text after the rule set");
		cJSON_Delete(root);
		return NULL;
	}
	strset *features = strset_new(), *velocity = strset_new();
	rules_def *def = p.def = rk_calloc(1, sizeof(*def));
	if (!def || !features || !velocity) {
		oom(&p);
		goto out_free;
	}
	def->max_score = 100;
	def->th_review = 50;
	def->th_decline = 80;
	if (!cJSON_IsObject(root)) {
		err(&p, NULL, NULL, "a rule set must be a JSON object");
		goto out_free;
	}
	check_keys(&p, root, "", keys);
	if (get_str(&p, root, "scenario", "", true, &def->scenario) &&
	    !is_id(def->scenario))
		err(&p, "scenario", NULL, "'%.80s' is not a scenario name "
		    "([a-z0-9_.-]{1,64})", def->scenario);
	get_str(&p, root, "description", "", false, &def->description);
	parse_scale(&p, root);
	const cJSON *x;
	if ((x = member(root, "features")))
		parse_features(&p, x, features);
	if ((x = member(root, "velocity")))
		parse_velocity(&p, x, velocity);
	if ((x = member(root, "lists")))
		parse_lists(&p, x);
	parse_rules(&p, member(root, "rules"));
out_free:
	strset_free(features);
	strset_free(velocity);
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
