/*
 * test_golden.c - golden cases: every JSON file in tests/golden/cases
 * holds a rule-set file, envelopes and the expected decision, score,
 * decided_by, reasons, shadow and error rules; every JSON file in
 * tests/golden/errors holds a broken rule set and the diagnostics (rule, line, column,
 * message text) it must produce. Format: tests/golden/README.md.
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

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (fread(b, 1, (size_t)n, f) != (size_t)n)
		fail_msg("cannot read %s", path);
	b[n] = '\0';
	fclose(f);
	return b;
}

/* Compiles the "rules" member; NULL with diagnostics in d. */
static rules_set *compile(const cJSON *rules, rk_diags *d)
{
	char *txt = cJSON_PrintUnformatted(rules);
	rules_def *def = rules_def_parse(txt, strlen(txt), d);
	rules_set *s = def ? rules_compile(def, NULL, d) : NULL;
	rules_def_free(def);
	cJSON_free(txt);
	return s;
}

/* The ids of idx[0..n) as a JSON-ish string for messages and compare. */
static void ids(const rules_set *s, const int *idx, int n, char *b, size_t cap)
{
	size_t o = (size_t)snprintf(b, cap, "[");
	for (int i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s%s", i ? "," : "",
				      rules_set_def(s)->rules[idx[i]].id);
	if (o < cap)
		snprintf(b + o, cap - o, "]");
}

static void want_ids(const cJSON *arr, char *b, size_t cap)
{
	size_t o = (size_t)snprintf(b, cap, "[");
	int i = 0;
	for (const cJSON *e = arr ? arr->child : NULL; e && o < cap; e = e->next)
		o += (size_t)snprintf(b + o, cap - o, "%s%s", i++ ? "," : "",
				      e->valuestring);
	if (o < cap)
		snprintf(b + o, cap - o, "]");
}

static int run_case_file(const char *path)
{
	char *txt = slurp(path);
	cJSON *root = cJSON_Parse(txt);
	if (!root)
		fail_msg("%s: invalid JSON", path);
	rk_diags d;
	rk_diags_init(&d);
	rules_set *s = compile(cJSON_GetObjectItem(root, "rules"), &d);
	if (!s) {
		char m[256] = "";
		if (d.n)
			rk_diag_format(&d.v[0], path, m, sizeof(m));
		fail_msg("%s: does not compile: %s", path, m);
	}
	rules_frame *f = rules_frame_new(s);
	int failures = 0, n = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
		const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
		const cJSON *env = cJSON_GetObjectItem(c, "envelope");
		const cJSON *exp = cJSON_GetObjectItem(c, "expect");
		rules_input in = {cJSON_GetObjectItem(env, "event"),
				  cJSON_GetObjectItem(env, "features"),
				  cJSON_GetObjectItem(env, "velocity"), false};
		rules_result r;
		assert_int_equal(rules_eval(s, f, &in, &r), 0);
		char by[96], got[4096], want[4096];
		if (r.decided_by >= 0)
			snprintf(by, sizeof(by), "rule:%s",
				 rules_set_def(s)->rules[r.decided_by].id);
		else
			snprintf(by, sizeof(by), "score");
		const char *dec = cJSON_GetObjectItem(exp, "decision")->valuestring;
		int score = cJSON_GetObjectItem(exp, "score")->valueint;
		const char *wby = cJSON_GetObjectItem(exp, "decided_by")->valuestring;
		bool ok = !strcmp(dec, rules_action_name(r.decision)) &&
			  score == r.score && !strcmp(wby, by);
		if (!ok) {
			fprintf(stderr, "%s: %s: got %s/%d/%s, want %s/%d/%s\n", path,
				name, rules_action_name(r.decision), r.score, by, dec,
				score, wby);
			failures++;
		}
		const struct { const char *key; const int *v; int n; } lists[] = {
			{"reasons", r.hits, r.nhits},
			{"shadow", r.shadow, r.nshadow},
			{"errors", r.errors, r.nerrors},
		};
		for (int k = 0; k < 3; k++) {
			ids(s, lists[k].v, lists[k].n, got, sizeof(got));
			want_ids(cJSON_GetObjectItem(exp, lists[k].key), want, sizeof(want));
			if (strcmp(got, want)) {
				fprintf(stderr, "%s: %s: %s\n  got  %s\n  want %s\n", path,
					name, lists[k].key, got, want);
				failures++;
			}
		}
		n++;
	}
	printf("%s: %d cases\n", path, n);
	rules_frame_free(f);
	rules_set_free(s);
	rk_diags_cleanup(&d);
	cJSON_Delete(root);
	free(txt);
	return failures;
}

static int run_error_file(const char *path)
{
	char *txt = slurp(path);
	cJSON *root = cJSON_Parse(txt);
	rk_diags d;
	rk_diags_init(&d);
	rules_set *s = compile(cJSON_GetObjectItem(root, "rules"), &d);
	int failures = 0;
	if (s) {
		fprintf(stderr, "%s: compiled, errors expected\n", path);
		failures++;
		rules_set_free(s);
	}
	const cJSON *e;
	int n = 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(root, "errors")) {
		const char *where = cJSON_GetObjectItem(e, "where")->valuestring;
		int line = cJSON_GetObjectItem(e, "line")->valueint;
		int col = cJSON_GetObjectItem(e, "col")->valueint;
		const char *msg = cJSON_GetObjectItem(e, "contains")->valuestring;
		bool found = false;
		for (int i = 0; i < d.n && !found; i++)
			found = d.v[i].where && !strcmp(d.v[i].where, where) &&
				d.v[i].line == line && d.v[i].col == col &&
				strstr(d.v[i].msg, msg);
		if (!found) {
			fprintf(stderr, "%s: no error for rule '%s' at %d:%d containing '%s'\n",
				path, where, line, col, msg);
			rk_diags_print(&d, path, stderr);
			failures++;
		}
		n++;
	}
	if (d.n != n) {
		fprintf(stderr, "%s: %d diagnostics, %d expected\n", path, d.n, n);
		rk_diags_print(&d, path, stderr);
		failures++;
	}
	printf("%s: %d errors\n", path, n);
	rk_diags_cleanup(&d);
	cJSON_Delete(root);
	free(txt);
	return failures;
}

static void run_dir(const char *dir, int (*fn)(const char *))
{
	DIR *dh = opendir(dir);
	if (!dh)
		fail_msg("no directory %s (run from the repository root)", dir);
	int failures = 0, files = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		failures += fn(path);
		files++;
	}
	closedir(dh);
	assert_true(files > 0);
	assert_int_equal(failures, 0);
}

static void test_cases(void **st)
{
	run_dir("tests/golden/cases", run_case_file);
}

static void test_errors(void **st)
{
	run_dir("tests/golden/errors", run_error_file);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
