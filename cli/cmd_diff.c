/*
 * cmd_diff.c - riskctl diff: backtest two versions over the same events.
 * Prints the decision transition matrix (from version A's decision to
 * version B's) and the rules whose hit counts changed.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"


static const char diff_help[] =
	"usage: riskctl diff --scenario S --from A --to B < envelopes.ndjson\n"
	"       riskctl diff --rules-from FILE --rules-to FILE < envelopes.ndjson\n"
	"Scores every envelope with both versions and prints the decision\n"
	"transition matrix and the rules whose hit counts changed (rules only\n"
	"in one version included). Bad lines are counted and skipped.\n";

/* Hit counts by rule id, across both versions. */
typedef struct hit {
	const char *id;
	long a, b;
} hit;

static hit *find_hit(hit *h, int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(h[i].id, id))
			return &h[i];
	return NULL;
}

static void count(const rules_set *s, const rules_result *r, hit *h, int n,
		  bool first)
{
	const rules_def *def = rules_set_def(s);
	for (int k = 0; k < 2; k++) {
		const int *v = k ? r->shadow : r->hits;
		int m = k ? r->nshadow : r->nhits;
		for (int i = 0; i < m; i++) {
			hit *e = find_hit(h, n, def->rules[v[i]].id);
			if (first)
				e->a++;
			else
				e->b++;
		}
	}
}

int cmd_diff(cli_ctx *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(diff_help, stdout);
		return CLI_OK;
	}
	const char *scenario = NULL, *fa = NULL, *fb = NULL;
	int64_t va = 0, vb = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--scenario"))
			scenario = argv[++i];
		else if (!strcmp(argv[i], "--from") && cli_parse_int(argv[i + 1], &va))
			i++;
		else if (!strcmp(argv[i], "--to") && cli_parse_int(argv[i + 1], &vb))
			i++;
		else if (!strcmp(argv[i], "--rules-from"))
			fa = argv[++i];
		else if (!strcmp(argv[i], "--rules-to"))
			fb = argv[++i];
		else
			goto usage;
	}
	if (!((scenario && va && vb && !fa && !fb) || (!scenario && fa && fb)))
		goto usage;
	rules_set *a = cli_source(c, fa, scenario, va);
	rules_set *b = a ? cli_source(c, fb, scenario, vb) : NULL;
	rules_frame *f1 = b ? rules_frame_new(a) : NULL;
	rules_frame *f2 = f1 ? rules_frame_new(b) : NULL;
	const rules_def *da = a ? rules_set_def(a) : NULL;
	const rules_def *db = b ? rules_set_def(b) : NULL;
	hit *h = f2 ? rk_calloc((size_t)(da->nrules + db->nrules + 1), sizeof(hit)) : NULL;
	int nh = 0, rc = CLI_EUSER;
	if (!h)
		goto out;
	for (int k = 0; k < 2; k++) {
		const rules_def *d = k ? db : da;
		for (int i = 0; i < d->nrules; i++)
			if (!find_hit(h, nh, d->rules[i].id))
				h[nh++].id = d->rules[i].id;
	}
	long m[4][4] = {{0}}, events = 0, changed = 0, bad = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		rules_input in;
		const char *code;
		char msg[160];
		cJSON *env = cli_envelope(line, (size_t)len, &in, &code, msg, sizeof(msg));
		rules_result r1, r2;
		if (!env || rules_eval(a, f1, &in, &r1) || rules_eval(b, f2, &in, &r2)) {
			bad++;
			cJSON_Delete(env);
			continue;
		}
		events++;
		m[r1.decision][r2.decision]++;
		changed += r1.decision != r2.decision;
		count(a, &r1, h, nh, true);
		count(b, &r2, h, nh, false);
		cJSON_Delete(env);
	}
	free(line);
	printf("%ld events (%ld bad lines skipped), %ld decisions changed\n\n",
	       events, bad, changed);
	printf("%-10s %10s %10s %10s   (rows: from, columns: to)\n", "", "approve",
	       "review", "decline");
	for (int i = 1; i <= 3; i++)
		printf("%-10s %10ld %10ld %10ld\n", rules_action_name(i), m[i][1],
		       m[i][2], m[i][3]);
	printf("\n%-32s %10s %10s %10s\n", "rule", "hits from", "hits to", "delta");
	int shown = 0;
	for (int i = 0; i < nh; i++) {
		bool in_a = false, in_b = false;
		for (int k = 0; k < da->nrules; k++)
			in_a |= !strcmp(da->rules[k].id, h[i].id);
		for (int k = 0; k < db->nrules; k++)
			in_b |= !strcmp(db->rules[k].id, h[i].id);
		if (h[i].a == h[i].b && in_a == in_b)
			continue;
		char ha[24] = "-", hb[24] = "-";
		if (in_a)
			snprintf(ha, sizeof(ha), "%ld", h[i].a);
		if (in_b)
			snprintf(hb, sizeof(hb), "%ld", h[i].b);
		printf("%-32s %10s %10s %+10ld\n", h[i].id, ha, hb, h[i].b - h[i].a);
		shown++;
	}
	if (!shown)
		printf("(no rule's hits changed)\n");
	rc = bad ? CLI_EUSER : CLI_OK;
out:
	rk_free(h);
	rules_frame_free(f1);
	rules_frame_free(f2);
	rules_set_free(a);
	rules_set_free(b);
	return rc;
usage:
	fputs(diff_help, stderr);
	return CLI_EUSAGE;
}
