/*
 * cmd_score.c - riskctl check, score and disasm: compile a rule-set file
 * (or a stored version) and use it offline. `score` reads envelopes
 * ({"event", "features", "velocity", "request_id"}) one per line and
 * prints one result per line, deterministic (no timings) so backtests can
 * be diffed. cmd_diff.c shares cli_source and cli_envelope; util.c loads,
 * compiles and prints diagnostics.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"

static const char check_help[] =
	"usage: riskctl check FILE\n"
	"Compiles the rule-set FILE (its own lists only; no store needed) and\n"
	"prints every error with rule, line and column. Exit 1 on any error.\n";

int cmd_check(cli_ctx *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(check_help, stdout);
		return CLI_OK;
	}
	if (argc != 2) {
		fputs(check_help, stderr);
		return CLI_EUSAGE;
	}
	rules_def *def = cli_load_file(argv[1]);
	if (!def)
		return CLI_EUSER;
	rules_set *s = cli_compile(def, NULL, argv[1]);
	if (s) {
		int m[3] = {0};
		for (int i = 0; i < def->nrules; i++)
			m[def->rules[i].mode]++;
		printf("%s: ok: scenario %s, %d rules (%d active, %d shadow, "
		       "%d disabled)\n", argv[1], def->scenario, def->nrules,
		       m[RULES_MODE_ACTIVE], m[RULES_MODE_SHADOW],
		       m[RULES_MODE_DISABLED]);
	}
	rules_set_free(s);
	rules_def_free(def);
	return s ? CLI_OK : CLI_EUSER;
}

static const char disasm_help[] =
	"usage: riskctl disasm FILE\n"
	"Compiles FILE and prints the program: input slots, the shared node\n"
	"graph and each rule's root.\n";

int cmd_disasm(cli_ctx *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(disasm_help, stdout);
		return CLI_OK;
	}
	if (argc != 2) {
		fputs(disasm_help, stderr);
		return CLI_EUSAGE;
	}
	rules_def *def = cli_load_file(argv[1]);
	if (!def)
		return CLI_EUSER;
	rules_set *s = cli_compile(def, NULL, argv[1]);
	if (s)
		rules_disasm(s, stdout);
	rules_set_free(s);
	rules_def_free(def);
	return s ? CLI_OK : CLI_EUSER;
}

/* Compiles what --rules FILE or --scenario S [--version N] name. A file
 * brings its own lists only; a stored version gets the store's lists. */
rules_set *cli_source(cli_ctx *c, const char *file, const char *scenario,
		      int64_t version)
{
	if (file) {
		rules_def *def = cli_load_file(file);
		rules_set *s = def ? cli_compile(def, NULL, file) : NULL;
		rules_def_free(def);
		return s;
	}
	store *st = cli_open_store(c, false);
	if (!st)
		return NULL;
	rules_set *s = cli_compile_stored(st, scenario, version);
	store_close(st);
	return s;
}

/* Parses one envelope line; NULL with code/msg set on a bad line. */
cJSON *cli_envelope(const char *line, size_t len, rules_input *in,
		    const char **code, char *msg, size_t msglen)
{
	const char *end = NULL;
	cJSON *env = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!env) {
		*code = "bad_json";
		snprintf(msg, msglen, "invalid JSON at byte %zu",
			 end ? (size_t)(end - line) : (size_t)0);
		return NULL;
	}
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(env, "event");
	const cJSON *fe = cJSON_GetObjectItemCaseSensitive(env, "features");
	const cJSON *ve = cJSON_GetObjectItemCaseSensitive(env, "velocity");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(env, "request_id");
	*code = "bad_request";
	if (!cJSON_IsObject(env))
		snprintf(msg, msglen, "an envelope must be a JSON object");
	else if (!ev)
		snprintf(msg, msglen, "\"event\" is missing");
	else if (!cJSON_IsObject(ev))
		snprintf(msg, msglen, "\"event\" must be a JSON object");
	else if (fe && !cJSON_IsObject(fe) && !cJSON_IsNull(fe))
		snprintf(msg, msglen, "\"features\" must be an object");
	else if (ve && !cJSON_IsObject(ve) && !cJSON_IsNull(ve))
		snprintf(msg, msglen, "\"velocity\" must be an object");
	else if (id && !cJSON_IsString(id))
		snprintf(msg, msglen, "\"request_id\" must be a string");
	else {
		*in = (rules_input){ev, cJSON_IsObject(fe) ? fe : NULL,
				    cJSON_IsObject(ve) ? ve : NULL, false};
		return env;
	}
	cJSON_Delete(env);
	return NULL;
}

static const char score_help[] =
	"usage: riskctl score (--rules FILE | --scenario S [--version N])\n"
	"                     < envelopes.ndjson\n"
	"Scores each input line, an envelope\n"
	"  {\"event\": {...}, \"features\": {\"group\": {...}},\n"
	"   \"velocity\": {\"name\": n}, \"request_id\": \"...\"}\n"
	"and prints one result per line: the score response body without\n"
	"timings; request_id is the envelope's or \"line-N\". No Redis:\n"
	"features and velocity come only from the envelope. A bad line\n"
	"prints an error object and scoring goes on. --scenario reads the\n"
	"store (version N, default the active one). A summary goes to\n"
	"stderr. Exit 1 if any line was bad.\n";

/* What a scoring run counts, for the summary. */
typedef struct tally {
	long lines, scored, bad;
	long dec[4];       /* by enum rules_action */
	long *rule_errors; /* runtime type errors per rule index */
} tally;

/* Scores one non-empty line and prints its result or error object.
 * Returns false only when the output could not be built (no memory). */
static bool score_line(const rules_set *s, rules_frame *f, char *line,
		       size_t len, long lineno, tally *t)
{
	rules_input in;
	const char *code = "bad_request";
	char msg[160], rid[32];
	cJSON *env = cli_envelope(line, len, &in, &code, msg, sizeof(msg));
	cJSON *out = cJSON_CreateObject();
	if (!out) {
		cJSON_Delete(env);
		return false;
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(env, "request_id");
	snprintf(rid, sizeof(rid), "line-%ld", lineno);
	cJSON_AddStringToObject(out, "request_id",
				cJSON_IsString(id) ? id->valuestring : rid);
	rules_result r;
	int rc = env ? rules_eval(s, f, &in, &r) : RK_EINVAL;
	if (rc == 0) {
		cJSON_AddStringToObject(out, "scenario",
					rules_set_def(s)->scenario);
		cJSON_AddNumberToObject(out, "version",
					(double)rules_set_version(s));
		if (rules_result_to_json(s, &r, out) ||
		    !cJSON_AddBoolToObject(out, "degraded", false)) {
			cJSON_Delete(out);
			cJSON_Delete(env);
			return false;
		}
	} else if (env) {
		snprintf(msg, sizeof(msg), "cannot evaluate: %s",
			 rk_strerror(rc));
	}
	if (rc == 0) {
		t->scored++;
		t->dec[r.decision]++;
		for (int i = 0; i < r.nerrors; i++)
			t->rule_errors[r.errors[i]]++;
	} else {
		cJSON *e = cJSON_AddObjectToObject(out, "error");
		cJSON_AddStringToObject(e, "code", code);
		cJSON_AddStringToObject(e, "message", msg);
		t->bad++;
	}
	char *txt = cJSON_PrintUnformatted(out);
	if (txt) {
		fputs(txt, stdout);
		putchar('\n');
	}
	cJSON_free(txt);
	cJSON_Delete(out);
	cJSON_Delete(env);
	return txt != NULL;
}

/* The stderr summary: counts, decisions, speed, rules with errors. */
static void summary(const rules_set *s, const tally *t, int64_t us)
{
	double secs = (double)us / 1e6;
	fprintf(stderr, "scored %ld of %ld lines (%ld bad): approve %ld, "
		"review %ld, decline %ld; %.3f s, %.0f events/s\n",
		t->scored, t->lines, t->bad, t->dec[RULES_ACT_APPROVE],
		t->dec[RULES_ACT_REVIEW], t->dec[RULES_ACT_DECLINE], secs,
		secs > 0 ? (double)t->scored / secs : 0.0);
	const rules_def *def = rules_set_def(s);
	long total = 0;
	for (int i = 0; i < def->nrules; i++)
		total += t->rule_errors[i];
	if (!total)
		return;
	fprintf(stderr, "rule errors (runtime type problems): %ld;", total);
	for (int i = 0; i < def->nrules; i++)
		if (t->rule_errors[i])
			fprintf(stderr, " %s %ld", def->rules[i].id,
				t->rule_errors[i]);
	fputc('\n', stderr);
}

int cmd_score(cli_ctx *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(score_help, stdout);
		return CLI_OK;
	}
	const char *file = NULL, *scenario = NULL;
	int64_t version = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rules") && i + 1 < argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--scenario") && i + 1 < argc)
			scenario = argv[++i];
		else if (!strcmp(argv[i], "--version") && i + 1 < argc &&
			 cli_parse_int(argv[i + 1], &version) && version)
			i++;
		else
			goto usage;
	}
	if (!file == !scenario || (file && version))
		goto usage;
	rules_set *s = cli_source(c, file, scenario, version);
	if (!s)
		return CLI_EUSER;
	int rc = CLI_EUSER;
	tally t = {0};
	rules_frame *f = rules_frame_new(s);
	t.rule_errors = rk_calloc((size_t)rules_set_def(s)->nrules + 1,
				  sizeof(long));
	if (!f || !t.rule_errors) {
		fprintf(stderr, "riskctl: out of memory\n");
		goto out_free;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	bool ok = true;
	int64_t t0 = rk_now_us();
	while (ok && (len = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
				   line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || !line[strspn(line, " \t")])
			continue;
		t.lines++;
		ok = score_line(s, f, line, (size_t)len, lineno, &t);
	}
	free(line); /* getline's buffer comes from malloc */
	if (!ok)
		fprintf(stderr, "riskctl: out of memory at line %ld\n", lineno);
	summary(s, &t, rk_now_us() - t0);
	rc = ok && !t.bad ? CLI_OK : CLI_EUSER;
out_free:
	rk_free(t.rule_errors);
	rules_frame_free(f);
	rules_set_free(s);
	return rc;
usage:
	fputs(score_help, stderr);
	return CLI_EUSAGE;
}
