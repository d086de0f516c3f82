/*
 * test_golden.c - the golden suite, the judge of the rule engine: every
 * tests/golden/cases/NAME.json holds a rule-set file, envelopes and the
 * expected decision, score, decided_by, reasons, shadow and error rules
 * (worked out by hand from SPEC §2-§3); every tests/golden/errors/NAME.json
 * a broken rule set and the located diagnostics it must produce. One
 * cmocka test per file, through the public API of rules/rules.h only.
 * Format: tests/golden/README.md. Run from the repository root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rk.h"
#include "rules/rules.h"

#define CASES_DIR "tests/golden/cases"
#define ERRORS_DIR "tests/golden/errors"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot open", path);
	size_t cap = 4096, n = 0, r;
	char *b = rk_malloc(cap);
	assert_non_null(b);
	while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 == cap) {
			cap *= 2;
			b = rk_realloc(b, cap);
			assert_non_null(b);
		}
	}
	fclose(f);
	b[n] = '\0';
	return b;
}

static cJSON *load(const char *path)
{
	char *txt = slurp(path);
	cJSON *root = cJSON_Parse(txt);
	if (!root)
		fail_msg("%s: invalid JSON near byte %ld", path,
			 (long)(cJSON_GetErrorPtr() - txt));
	rk_free(txt);
	return root;
}

/* A member that must be there with the right type (a typo in a golden
 * file must fail loudly, not compare against nothing). */
static const cJSON *need(const cJSON *o, const char *key, int type,
			 const char *path, const char *ctx)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v || !(v->type & type))
		fail_msg("%s: %s: \"%s\" missing or of the wrong type", path,
			 ctx, key);
	return v;
}

/* Rejects members the format does not know. */
static void only_keys(const cJSON *o, const char *const *keys,
		      const char *path, const char *ctx)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, o) {
		bool ok = false;
		for (int i = 0; keys[i] && !ok; i++)
			ok = !strcmp(m->string, keys[i]);
		if (!ok)
			fail_msg("%s: %s: unknown member \"%s\"", path, ctx,
				 m->string);
	}
}

/* Compiles the "rules" member with its own lists; NULL with d filled. */
static rules_set *compile(const cJSON *rules, rk_diags *d)
{
	char *txt = cJSON_PrintUnformatted(rules);
	assert_non_null(txt);
	rules_def *def = rules_def_parse(txt, strlen(txt), d);
	rules_set *s = def ? rules_compile(def, NULL, d) : NULL;
	rules_def_free(def);
	cJSON_free(txt);
	return s;
}

static const char *rule_id(const rules_set *s, int i)
{
	return rules_set_def(s)->rules[i].id;
}

/* Formats rule ids as [a,b,c] for comparison and messages. */
static void fmt_got(const rules_set *s, const int *idx, int n, char *b,
		    size_t cap)
{
	size_t o = (size_t)snprintf(b, cap, "[");
	for (int i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s%s", i ? "," : "",
				      rule_id(s, idx[i]));
	if (o < cap)
		snprintf(b + o, cap - o, "]");
}

static void fmt_want(const cJSON *arr, const char *path, const char *name,
		     char *b, size_t cap)
{
	size_t o = (size_t)snprintf(b, cap, "[");
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e))
			fail_msg("%s: %s: rule ids must be strings", path,
				 name);
		if (o < cap)
			o += (size_t)snprintf(b + o, cap - o, "%s%s",
					      i++ ? "," : "", e->valuestring);
	}
	if (o < cap)
		snprintf(b + o, cap - o, "]");
}

/* The ids of the "rule" members of a reasons/shadow JSON array. */
static void fmt_json_rules(const cJSON *arr, char *b, size_t cap)
{
	size_t o = (size_t)snprintf(b, cap, "[");
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "rule");
		if (o < cap)
			o += (size_t)snprintf(b + o, cap - o, "%s%s",
					      i++ ? "," : "",
					      cJSON_IsString(r) ? r->valuestring
								: "?");
	}
	if (o < cap)
		snprintf(b + o, cap - o, "]");
}

static bool has(const int *v, int n, int x)
{
	for (int i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

/* Same decision, score, decided_by and lists (the explain run must not
 * change the result). */
static bool same_result(const rules_result *a, const rules_result *b)
{
	return a->decision == b->decision && a->score == b->score &&
	       a->decided_by == b->decided_by && a->nhits == b->nhits &&
	       a->nshadow == b->nshadow && a->nerrors == b->nerrors &&
	       !memcmp(a->hits, b->hits, sizeof(int) * (size_t)a->nhits) &&
	       !memcmp(a->shadow, b->shadow,
		       sizeof(int) * (size_t)a->nshadow) &&
	       !memcmp(a->errors, b->errors, sizeof(int) * (size_t)a->nerrors);
}

#define REPORT(...)                                                     \
	do {                                                            \
		fprintf(stderr, "%s: case \"%s\": ", path, name);       \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		failures++;                                             \
	} while (0)

/* Checks one case; returns the number of mismatches (each printed). */
static int run_case(const char *path, const rules_set *s, rules_frame *f,
		    const cJSON *c)
{
	static const char *const case_keys[] = {"name", "envelope", "expect",
						NULL};
	static const char *const env_keys[] = {"event", "features",
					       "velocity", "request_id", NULL};
	static const char *const exp_keys[] = {"decision", "score",
					       "decided_by", "reasons",
					       "shadow", "errors", NULL};
	int failures = 0;
	const char *name = need(c, "name", cJSON_String, path, "case")
				   ->valuestring;
	only_keys(c, case_keys, path, name);
	const cJSON *env = need(c, "envelope", cJSON_Object, path, name);
	const cJSON *exp = need(c, "expect", cJSON_Object, path, name);
	only_keys(env, env_keys, path, name);
	only_keys(exp, exp_keys, path, name);
	const char *wdec = need(exp, "decision", cJSON_String, path, name)
				   ->valuestring;
	int wscore = need(exp, "score", cJSON_Number, path, name)->valueint;
	const char *wby = need(exp, "decided_by", cJSON_String, path, name)
				  ->valuestring;
	const cJSON *wl[3];
	static const char *const lnames[3] = {"reasons", "shadow", "errors"};
	for (int k = 0; k < 3; k++)
		wl[k] = need(exp, lnames[k], cJSON_Array, path, name);

	const cJSON *fe = cJSON_GetObjectItemCaseSensitive(env, "features");
	const cJSON *ve = cJSON_GetObjectItemCaseSensitive(env, "velocity");
	rules_input in = {need(env, "event", cJSON_Object, path, name),
			  cJSON_IsObject(fe) ? fe : NULL,
			  cJSON_IsObject(ve) ? ve : NULL, false};
	rules_result r;
	if (rules_eval(s, f, &in, &r) != 0) {
		REPORT("rules_eval failed");
		return failures;
	}

	char by[128], got[8192], want[8192];
	if (r.decided_by >= 0)
		snprintf(by, sizeof(by), "rule:%s", rule_id(s, r.decided_by));
	else
		snprintf(by, sizeof(by), "score");
	const char *dec = rules_action_name(r.decision);
	if (!dec || strcmp(dec, wdec))
		REPORT("decision: got %s, want %s", dec ? dec : "(none)", wdec);
	if (r.score != wscore)
		REPORT("score: got %d, want %d", r.score, wscore);
	if (strcmp(by, wby))
		REPORT("decided_by: got %s, want %s", by, wby);
	const struct {
		const int *v;
		int n;
	} gl[3] = {{r.hits, r.nhits}, {r.shadow, r.nshadow},
		   {r.errors, r.nerrors}};
	for (int k = 0; k < 3; k++) {
		fmt_got(s, gl[k].v, gl[k].n, got, sizeof(got));
		fmt_want(wl[k], path, name, want, sizeof(want));
		if (strcmp(got, want))
			REPORT("%s:\n    got  %s\n    want %s", lnames[k], got,
			       want);
	}

	/* The response body (what riskctl score and riskd print). */
	cJSON *body = cJSON_CreateObject();
	assert_non_null(body);
	assert_int_equal(rules_result_to_json(s, &r, body), 0);
	const cJSON *jd = cJSON_GetObjectItemCaseSensitive(body, "decision");
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(body, "score");
	const cJSON *jb = cJSON_GetObjectItemCaseSensitive(body, "decided_by");
	if (!cJSON_IsString(jd) || strcmp(jd->valuestring, wdec) ||
	    !cJSON_IsNumber(js) || js->valuedouble != wscore ||
	    !cJSON_IsString(jb) || strcmp(jb->valuestring, wby))
		REPORT("rules_result_to_json: decision, score or "
		       "decided_by differ");
	for (int k = 0; k < 2; k++) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(body,
								  lnames[k]);
		fmt_json_rules(a, got, sizeof(got));
		fmt_want(wl[k], path, name, want, sizeof(want));
		if (!cJSON_IsArray(a) || strcmp(got, want))
			REPORT("rules_result_to_json %s:\n    got  %s\n    "
			       "want %s", lnames[k], got, want);
	}
	cJSON_Delete(body);

	/* Explain must give the same result, and a trace that agrees
	 * with it; disabled rules are never evaluated. Copy r first: its
	 * arrays live in f and the next rules_eval overwrites them. */
	int h[4096], sh[4096], er[4096];
	rules_result plain = r;
	if (r.nhits > 4096 || r.nshadow > 4096 || r.nerrors > 4096)
		return failures;
	memcpy(h, r.hits, sizeof(int) * (size_t)r.nhits);
	memcpy(sh, r.shadow, sizeof(int) * (size_t)r.nshadow);
	memcpy(er, r.errors, sizeof(int) * (size_t)r.nerrors);
	plain.hits = h;
	plain.shadow = sh;
	plain.errors = er;
	in.explain = true;
	rules_result x;
	if (rules_eval(s, f, &in, &x) != 0 || !same_result(&plain, &x)) {
		REPORT("explain=true changes the result");
		return failures;
	}
	const rules_def *def = rules_set_def(s);
	for (int i = 0; i < x.ntrace; i++) {
		const rules_rule_trace *t = &x.trace[i];
		if (t->rule < 0 || t->rule >= def->nrules) {
			REPORT("trace names rule index %d", t->rule);
			continue;
		}
		const char *id = def->rules[t->rule].id;
		if (def->rules[t->rule].mode == RULES_MODE_DISABLED)
			REPORT("disabled rule %s was evaluated", id);
		bool matched = has(x.hits, x.nhits, t->rule) ||
			       has(x.shadow, x.nshadow, t->rule);
		if (t->matched != matched)
			REPORT("trace of %s: matched=%d, lists say %d", id,
			       t->matched, matched);
		if (t->error != has(x.errors, x.nerrors, t->rule))
			REPORT("trace of %s: error=%d disagrees with errors",
			       id, t->error);
	}
	return failures;
}

static void run_case_file(void **state)
{
	const char *path = *state;
	static const char *const top_keys[] = {"note", "rules", "cases", NULL};
	cJSON *root = load(path);
	only_keys(root, top_keys, path, "top level");
	rk_diags d;
	rk_diags_init(&d);
	rules_set *s = compile(need(root, "rules", cJSON_Object, path,
				    "top level"), &d);
	if (!s) {
		rk_diags_print(&d, path, stderr);
		rk_diags_cleanup(&d);
		cJSON_Delete(root);
		fail_msg("%s: the rule set does not compile", path);
	}
	rules_frame *f = rules_frame_new(s);
	assert_non_null(f);
	int failures = 0, n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, need(root, "cases", cJSON_Array, path,
				   "top level")) {
		failures += run_case(path, s, f, c);
		n++;
	}
	printf("%s: %d cases, %d mismatches\n", path, n, failures);
	rules_frame_free(f);
	rules_set_free(s);
	rk_diags_cleanup(&d);
	cJSON_Delete(root);
	assert_true(n > 0);
	assert_int_equal(failures, 0);
}

static void run_error_file(void **state)
{
	const char *path = *state;
	static const char *const top_keys[] = {"note", "rules", "errors",
					       NULL};
	static const char *const err_keys[] = {"where", "line", "col",
					       "contains", NULL};
	cJSON *root = load(path);
	only_keys(root, top_keys, path, "top level");
	rk_diags d;
	rk_diags_init(&d);
	rules_set *s = compile(need(root, "rules", cJSON_Object, path,
				    "top level"), &d);
	int failures = 0, n = 0;
	if (s) {
		fprintf(stderr, "%s: compiled, but errors were expected\n",
			path);
		failures++;
		rules_set_free(s);
	}
	const cJSON *errs = need(root, "errors", cJSON_Array, path,
				 "top level");
	const cJSON *e;
	cJSON_ArrayForEach(e, errs) {
		only_keys(e, err_keys, path, "error");
		const char *where = need(e, "where", cJSON_String, path,
					 "error")->valuestring;
		int line = need(e, "line", cJSON_Number, path, where)->valueint;
		int col = need(e, "col", cJSON_Number, path, where)->valueint;
		const char *msg = need(e, "contains", cJSON_String, path,
				       where)->valuestring;
		bool found = false;
		for (int i = 0; i < d.n && !found; i++)
			found = d.v[i].where && !strcmp(d.v[i].where, where) &&
				d.v[i].line == line && d.v[i].col == col &&
				strstr(d.v[i].msg, msg);
		if (!found) {
			fprintf(stderr, "%s: missing: rule '%s' line %d "
				"col %d: ...%s...\n", path, where, line, col,
				msg);
			for (int i = 0; i < d.n; i++) {
				const rk_diag *g = &d.v[i];
				if (g->where && !strcmp(g->where, where))
					fprintf(stderr, "    got: line %d col "
						"%d: %s\n", g->line, g->col,
						g->msg);
			}
			failures++;
		}
		n++;
	}
	/* No diagnostic for a rule that is not expected to be broken. */
	for (int i = 0; i < d.n; i++) {
		bool listed = false;
		cJSON_ArrayForEach(e, errs) {
			const char *w = cJSON_GetObjectItem(e, "where")
						->valuestring;
			listed |= d.v[i].where && !strcmp(d.v[i].where, w);
		}
		if (!listed) {
			char m[512];
			rk_diag_format(&d.v[i], path, m, sizeof(m));
			fprintf(stderr, "%s: unexpected diagnostic: %s\n", path,
				m);
			failures++;
		}
	}
	printf("%s: %d expected errors, %d diagnostics, %d mismatches\n",
	       path, n, d.n, failures);
	rk_diags_cleanup(&d);
	cJSON_Delete(root);
	assert_true(n > 0);
	assert_int_equal(failures, 0);
}

static int json_file(const struct dirent *de)
{
	size_t l = strlen(de->d_name);
	return l > 5 && !strcmp(de->d_name + l - 5, ".json");
}

/* Sorted *.json paths of dir (caller frees each and the array). */
static int list_dir(const char *dir, char ***out)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, json_file, alphasort);
	if (n < 0) {
		fprintf(stderr, "no directory %s (run from the repository "
			"root)\n", dir);
		*out = NULL;
		return 0;
	}
	char **paths = rk_calloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		size_t len = strlen(dir) + strlen(ents[i]->d_name) + 2;
		paths[i] = rk_malloc(len);
		snprintf(paths[i], len, "%s/%s", dir, ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	*out = paths;
	return n;
}

int main(void)
{
	rk_cjson_hooks();
	char **cases, **errors;
	int nc = list_dir(CASES_DIR, &cases);
	int ne = list_dir(ERRORS_DIR, &errors);
	if (nc == 0 || ne == 0) {
		fprintf(stderr, "test_golden: no golden files found\n");
		return 1;
	}
	struct CMUnitTest tests[nc + ne];
	for (int i = 0; i < nc; i++)
		tests[i] = (struct CMUnitTest){cases[i], run_case_file, NULL,
					       NULL, cases[i]};
	for (int i = 0; i < ne; i++)
		tests[nc + i] = (struct CMUnitTest){errors[i], run_error_file,
						    NULL, NULL, errors[i]};
	int rc = _cmocka_run_group_tests("golden", tests, (size_t)(nc + ne),
					 NULL, NULL);
	for (int i = 0; i < nc; i++)
		rk_free(cases[i]);
	for (int i = 0; i < ne; i++)
		rk_free(errors[i]);
	rk_free(cases);
	rk_free(errors);
	return rc;
}
