/*
 * cmd_diff.c - riskctl diff: backtest two versions over the same events.
 * Scores every envelope with both compiled sets (stored versions, or two
 * files) and prints how many decisions changed, the decision transition
 * matrix (rows: from, columns: to) and the rules whose hit counts changed,
 * rules present in only one version included. Envelope parsing and
 * compiling come from cmd_score.c (cli_envelope, cli_source).
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"

static const char diff_help[] =
	"usage: riskctl diff --scenario S --from A --to B < envelopes.ndjson\n"
	"       riskctl diff --rules-from FILE --rules-to FILE "
	"< envelopes.ndjson\n"
	"Scores every envelope with both versions and prints the number of\n"
	"changed decisions, the decision transition matrix (rows: from,\n"
	"columns: to) and the rules whose hit counts (active and shadow\n"
	"matches) changed, rules in only one version included ('-').\n"
	"Bad lines are counted and skipped; exit 1 if there were any.\n";

/* One rule id across both versions. */
typedef struct row {
	const char *id;
	int ia, ib;     /* index in version A / B, -1 if absent */
	long a, b;      /* hits */
} row;

/* Rules matched by id: rows in A's order, then B's rules A lacks. */
typedef struct hits {
	row *rows;
	int n;
	int *amap, *bmap;   /* rule index -> row */
} hits;

static const rules_def *sort_def;

static int by_id(const void *x, const void *y)
{
	return strcmp(sort_def->rules[*(const int *)x].id,
		      sort_def->rules[*(const int *)y].id);
}

static void hits_free(hits *h)
{
	rk_free(h->rows);
	rk_free(h->amap);
	rk_free(h->bmap);
}

/* Fills h (zeroed by the caller, who frees it with hits_free even when
 * this fails). */
static int hits_init(hits *h, const rules_def *da, const rules_def *db)
{
	int na = da->nrules, nb = db->nrules;
	int *order = rk_malloc(sizeof(int) * ((size_t)nb + 1));
	h->rows = rk_calloc((size_t)na + (size_t)nb + 1, sizeof(row));
	h->amap = rk_malloc(sizeof(int) * ((size_t)na + 1));
	h->bmap = rk_malloc(sizeof(int) * ((size_t)nb + 1));
	h->n = 0;
	if (!order || !h->rows || !h->amap || !h->bmap) {
		rk_free(order);
		return RK_ENOMEM;   /* the caller frees h */
	}
	for (int j = 0; j < nb; j++) {
		order[j] = j;
		h->bmap[j] = -1;
	}
	sort_def = db;
	qsort(order, (size_t)nb, sizeof(int), by_id);
	for (int i = 0; i < na; i++) {
		int lo = 0, hi = nb, ib = -1;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			int c = strcmp(da->rules[i].id,
				       db->rules[order[mid]].id);
			if (!c) {
				ib = order[mid];
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		h->rows[h->n] = (row){da->rules[i].id, i, ib, 0, 0};
		h->amap[i] = h->n;
		if (ib >= 0)
			h->bmap[ib] = h->n;
		h->n++;
	}
	for (int j = 0; j < nb; j++) {
		if (h->bmap[j] >= 0)
			continue;
		h->rows[h->n] = (row){db->rules[j].id, -1, j, 0, 0};
		h->bmap[j] = h->n++;
	}
	rk_free(order);
	return 0;
}

static void count(hits *h, const rules_result *r, bool to)
{
	const int *map = to ? h->bmap : h->amap;
	for (int i = 0; i < r->nhits; i++) {
		row *w = &h->rows[map[r->hits[i]]];
		*(to ? &w->b : &w->a) += 1;
	}
	for (int i = 0; i < r->nshadow; i++) {
		row *w = &h->rows[map[r->shadow[i]]];
		*(to ? &w->b : &w->a) += 1;
	}
}

static void report(const hits *h, long m[4][4], long events, long bad)
{
	long changed = 0;
	for (int i = 1; i <= 3; i++)
		for (int j = 1; j <= 3; j++)
			changed += i != j ? m[i][j] : 0;
	printf("%ld events (%ld bad lines skipped), %ld decisions changed\n\n",
	       events, bad, changed);
	printf("%-10s %10s %10s %10s   (rows: from, columns: to)\n", "",
	       "approve", "review", "decline");
	for (int i = 1; i <= 3; i++)
		printf("%-10s %10ld %10ld %10ld\n", rules_action_name(i),
		       m[i][1], m[i][2], m[i][3]);
	printf("\n%-32s %10s %10s %10s\n", "rule", "hits from", "hits to",
	       "delta");
	int shown = 0;
	for (int i = 0; i < h->n; i++) {
		const row *w = &h->rows[i];
		if (w->a == w->b && w->ia >= 0 && w->ib >= 0)
			continue;
		char ha[24] = "-", hb[24] = "-";
		if (w->ia >= 0)
			snprintf(ha, sizeof(ha), "%ld", w->a);
		if (w->ib >= 0)
			snprintf(hb, sizeof(hb), "%ld", w->b);
		printf("%-32s %10s %10s %+10ld\n", w->id, ha, hb, w->b - w->a);
		shown++;
	}
	if (!shown)
		printf("(no rule's hits changed)\n");
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
		else if (!strcmp(argv[i], "--from") &&
			 cli_parse_int(argv[i + 1], &va) && va)
			i++;
		else if (!strcmp(argv[i], "--to") &&
			 cli_parse_int(argv[i + 1], &vb) && vb)
			i++;
		else if (!strcmp(argv[i], "--rules-from"))
			fa = argv[++i];
		else if (!strcmp(argv[i], "--rules-to"))
			fb = argv[++i];
		else
			goto usage;
	}
	if (!((scenario && va && vb && !fa && !fb) ||
	      (!scenario && !va && !vb && fa && fb)))
		goto usage;

	int rc = CLI_EUSER;
	hits h = {0};
	rules_frame *f1 = NULL, *f2 = NULL;
	rules_set *a = cli_source(c, fa, scenario, va);
	rules_set *b = a ? cli_source(c, fb, scenario, vb) : NULL;
	if (!b)
		goto out_free;
	f1 = rules_frame_new(a);
	f2 = rules_frame_new(b);
	if (!f1 || !f2 || hits_init(&h, rules_set_def(a), rules_set_def(b))) {
		fprintf(stderr, "riskctl: out of memory\n");
		goto out_free;
	}
	long m[4][4] = {{0}}, events = 0, bad = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' ||
				   line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || !line[strspn(line, " \t")])
			continue;
		rules_input in;
		const char *code;
		char msg[160];
		cJSON *env = cli_envelope(line, (size_t)len, &in, &code, msg,
					  sizeof(msg));
		rules_result r1, r2;
		if (!env || rules_eval(a, f1, &in, &r1) ||
		    rules_eval(b, f2, &in, &r2)) {
			bad++;
			cJSON_Delete(env);
			continue;
		}
		events++;
		m[r1.decision][r2.decision]++;
		count(&h, &r1, false);
		count(&h, &r2, true);
		cJSON_Delete(env);
	}
	free(line); /* getline's buffer comes from malloc */
	report(&h, m, events, bad);
	rc = bad ? CLI_EUSER : CLI_OK;
out_free:
	hits_free(&h);
	rules_frame_free(f1);
	rules_frame_free(f2);
	rules_set_free(a);
	rules_set_free(b);
	return rc;
usage:
	fputs(diff_help, stderr);
	return CLI_EUSAGE;
}
