/*
 * cmd_store.c - riskctl init, import, activate, rollback, versions and
 * export: the version life cycle of a scenario in the store.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/rk.h"

#define HELP(argc, argv, text)                                                 \
	do {                                                                   \
		if (cli_wants_help(argc, argv)) {                              \
			fputs(text, stdout);                                   \
			return CLI_OK;                                         \
		}                                                              \
	} while (0)
#define USAGE(text)                                                            \
	do {                                                                   \
		fputs(text, stderr);                                           \
		return CLI_EUSAGE;                                             \
	} while (0)

static const char init_help[] =
    "usage: riskctl [--db PATH] init\n"
    "Creates the store, or migrates it to this version's schema\n"
    "(PRAGMA user_version). Prints the schema version.\n";

int cmd_init(cli_ctx *c, int argc, char **argv)
{
	HELP(argc, argv, init_help);
	if (argc != 1)
		USAGE(init_help);
	store *st = cli_open_store(c, true);
	if (!st)
		return CLI_EUSER;
	printf("%s: schema version %d\n", c->db, store_schema_version(st));
	store_close(st);
	return CLI_OK;
}

static const char import_help[] =
    "usage: riskctl [--db PATH] import FILE [--activate]\n"
    "Compiles the rule-set FILE (- for standard input) against the\n"
    "store's lists overlaid with the lists the file carries, and stores it\n"
    "as the scenario's next version; prints the version number. Nothing\n"
    "is stored on any error. The file's lists are created or replaced.\n"
    "--activate makes the new version active.\n";

int cmd_import(cli_ctx *c, int argc, char **argv)
{
	HELP(argc, argv, import_help);
	const char *file = NULL;
	bool activate = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--activate"))
			activate = true;
		else if (!file && (argv[i][0] != '-' || !argv[i][1]))
			file = argv[i];
		else
			USAGE(import_help);
	}
	if (!file)
		USAGE(import_help);
	int rc = CLI_EUSER;
	rules_lists *lists = NULL;
	rules_set *s = NULL;
	store *st = NULL;
	rules_def *def = cli_load_file(file);
	if (!def)
		return CLI_EUSER;
	if (!(st = cli_open_store(c, false)))
		goto out;
	if (store_load_lists(st, &lists) || rules_lists_put_def(lists, def)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		goto out;
	}
	if (!(s = cli_compile(def, lists,
			      strcmp(file, "-") ? file : "<stdin>")))
		goto out;
	int64_t v;
	if (store_import(st, def, activate, &v)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		goto out;
	}
	printf("%lld\n", (long long)v);
	rc = CLI_OK;
out:
	rules_set_free(s);
	rules_lists_free(lists);
	rules_def_free(def);
	store_close(st);
	return rc;
}

static const char activate_help[] =
    "usage: riskctl [--db PATH] activate SCENARIO VERSION\n"
    "Makes a stored version the active one (it must still compile\n"
    "against the store's current lists).\n";

int cmd_activate(cli_ctx *c, int argc, char **argv)
{
	HELP(argc, argv, activate_help);
	int64_t v;
	if (argc != 3 || !cli_parse_int(argv[2], &v) || v == 0)
		USAGE(activate_help);
	store *st = cli_open_store(c, false);
	if (!st)
		return CLI_EUSER;
	int rc = CLI_EUSER;
	rules_set *s = cli_compile_stored(st, argv[1], v);
	if (s && store_activate(st, argv[1], v) == 0) {
		printf("%s: version %lld active\n", argv[1], (long long)v);
		rc = CLI_OK;
	} else if (s) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
	}
	rules_set_free(s);
	store_close(st);
	return rc;
}

static const char rollback_help[] =
    "usage: riskctl [--db PATH] rollback SCENARIO\n"
    "Activates the version that was active before the current one and\n"
    "prints its number.\n";

int cmd_rollback(cli_ctx *c, int argc, char **argv)
{
	HELP(argc, argv, rollback_help);
	if (argc != 2)
		USAGE(rollback_help);
	store *st = cli_open_store(c, false);
	if (!st)
		return CLI_EUSER;
	int64_t v;
	int rc = store_rollback(st, argv[1], &v);
	if (rc)
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
	else
		printf("%lld\n", (long long)v);
	store_close(st);
	return rc ? CLI_EUSER : CLI_OK;
}

static const char versions_help[] =
    "usage: riskctl [--db PATH] versions SCENARIO\n"
    "Lists the stored versions, oldest first; '*' marks the active one.\n";

int cmd_versions(cli_ctx *c, int argc, char **argv)
{
	HELP(argc, argv, versions_help);
	if (argc != 2)
		USAGE(versions_help);
	store *st = cli_open_store(c, false);
	if (!st)
		return CLI_EUSER;
	store_version *v;
	int n;
	if (store_versions(st, argv[1], &v, &n)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		store_close(st);
		return CLI_EUSER;
	}
	printf("  %-8s %-20s %-6s %-12s %s\n", "VERSION", "CREATED (UTC)",
	       "RULES", "CHECKSUM", "DESCRIPTION");
	for (int i = 0; i < n; i++) {
		char when[32];
		time_t t = (time_t)v[i].created_at;
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			 gmtime_r(&t, &tm));
		printf("%c %-8lld %-20s %-6d %-12.12s %s\n",
		       v[i].active ? '*' : ' ', (long long)v[i].version, when,
		       v[i].nrules, v[i].checksum,
		       v[i].description ? v[i].description : "");
	}
	store_versions_free(v, n);
	store_close(st);
	return CLI_OK;
}

static const char export_help[] =
    "usage: riskctl [--db PATH] export SCENARIO [--version N]\n"
    "Prints a version (default: the active one) as a rule-set file,\n"
    "with the current items of every list its rules use, so that\n"
    "importing it gives an identical version.\n";

/* Whether expression text refers to @name (not @name_longer). */
static bool refers_to(const char *when, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = when; (p = strchr(p, '@')); p++) {
		if (strncmp(p + 1, name, n))
			continue;
		char next = p[1 + n];
		if (!(next == '_' || (next >= 'a' && next <= 'z') ||
		      (next >= 'A' && next <= 'Z') ||
		      (next >= '0' && next <= '9')))
			return true;
	}
	return false;
}

/*
 * Adds to def (which has no lists: versions are stored without them) the
 * current items of the store's lists its rules reference. A reference
 * inside a string literal adds a list needlessly, which is harmless:
 * importing it replaces the list by the same items.
 */
static int add_used_lists(store *st, rules_def *def)
{
	rules_lists *all = NULL;
	int rc = store_load_lists(st, &all);
	if (rc)
		return rc;
	int n = rules_lists_count(all);
	rules_list_def *v = rk_calloc((size_t)n + 1, sizeof(*v));
	if (!v) {
		rules_lists_free(all);
		return RK_ENOMEM;
	}
	def->lists = v;
	def->nlists = 0;
	for (int i = 0; i < n && !rc; i++) {
		const char *name = rules_lists_name(all, i);
		bool used = false;
		for (int r = 0; r < def->nrules && !used; r++)
			used = refers_to(def->rules[r].when, name);
		if (!used)
			continue;
		rules_list_def *l = &def->lists[def->nlists];
		if ((rc = store_list_items(st, name, &l->items, &l->nitems)))
			break;
		def->nlists++;
		if (!(l->name = rk_strdup(name)))
			rc = RK_ENOMEM;
	}
	rules_lists_free(all);
	return rc;
}

int cmd_export(cli_ctx *c, int argc, char **argv)
{
	HELP(argc, argv, export_help);
	const char *scenario = NULL;
	int64_t version = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version") && i + 1 < argc) {
			if (!cli_parse_int(argv[++i], &version) || !version)
				USAGE(export_help);
		} else if (!scenario && argv[i][0] != '-') {
			scenario = argv[i];
		} else {
			USAGE(export_help);
		}
	}
	if (!scenario)
		USAGE(export_help);
	store *st = cli_open_store(c, false);
	if (!st)
		return CLI_EUSER;
	rules_def *def = NULL;
	int rc = CLI_EUSER, err;
	if (store_load_def(st, scenario, version, &def, NULL)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		goto out;
	}
	if ((err = add_used_lists(st, def))) {
		fprintf(stderr, "riskctl: %s\n",
			err == RK_ENOMEM ? "out of memory" : store_errmsg(st));
		goto out;
	}
	char *txt = rules_def_to_text(def, true);
	if (!txt) {
		fprintf(stderr, "riskctl: out of memory\n");
		goto out;
	}
	printf("%s\n", txt);
	rk_free(txt);
	rc = fflush(stdout) ? CLI_EUSER : CLI_OK;
	if (rc)
		perror("riskctl: writing the export");
out:
	rules_def_free(def);
	store_close(st);
	return rc;
}
