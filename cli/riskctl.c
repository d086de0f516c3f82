/*
 * riskctl.c - the rule store and offline tool: the global option --db,
 * --help and the command table. Each command lives in a cmd_*.c file
 * (cmd_store.c, cmd_list.c, cmd_key.c, cmd_score.c, cmd_diff.c; see
 * cli.h) and returns the exit code: 0 success, 1 user error, 2 usage.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"

static const struct cmd {
	const char *name;
	int (*fn)(cli_ctx *c, int argc, char **argv);
	const char *help;
} cmds[] = {
    {"init", cmd_init, "create or migrate the store"},
    {"check", cmd_check, "compile a rule-set file and print every error"},
    {"import", cmd_import, "store a rule-set file as the next version"},
    {"activate", cmd_activate, "make a stored version the active one"},
    {"rollback", cmd_rollback, "activate the previously active version"},
    {"versions", cmd_versions, "list the versions of a scenario"},
    {"export", cmd_export, "print a version as a rule-set file"},
    {"list", cmd_list, "add, remove or show the items of a named list"},
    {"key", cmd_key, "create, list or revoke API keys"},
    {"score", cmd_score, "score envelopes offline (backtests)"},
    {"diff", cmd_diff, "compare two versions over the same events"},
    {"disasm", cmd_disasm, "print the compiled program of a rule-set file"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: riskctl [--db PATH] COMMAND [ARGS...]\n\n"
		     "The store is --db PATH (before or after the command), "
		     "else $RISKD_DB,\nelse ./riskd.db.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < RK_ARRAY_LEN(cmds); i++)
		fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(out, "\n`riskctl COMMAND --help` describes a command.\n"
		     "Exit status: 0 success, 1 user error, 2 usage error.\n");
}

/*
 * Takes the global option --db PATH (or --db=PATH) out of argv wherever
 * it stands, so `riskctl import f.json --db x.db` works too. Returns the
 * new argc, or -1 after a message when --db lacks its PATH.
 */
static int take_db(cli_ctx *c, int argc, char **argv)
{
	int n = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--db")) {
			if (i + 1 == argc || !*argv[i + 1]) {
				fprintf(stderr, "riskctl: --db needs a PATH\n");
				return -1;
			}
			c->db = argv[++i];
		} else if (!strncmp(argv[i], "--db=", 5)) {
			if (!argv[i][5]) {
				fprintf(stderr, "riskctl: --db needs a PATH\n");
				return -1;
			}
			c->db = argv[i] + 5;
		} else {
			argv[n++] = argv[i];
		}
	}
	argv[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	cli_ctx c = {getenv("RISKD_DB")};
	rk_cjson_hooks();
	if (!c.db || !*c.db)
		c.db = "./riskd.db";
	if ((argc = take_db(&c, argc, argv)) < 0) {
		usage(stderr);
		return CLI_EUSAGE;
	}
	int i = 1;
	if (i < argc &&
	    (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
		usage(stdout);
		return CLI_OK;
	}
	if (i < argc && argv[i][0] == '-') {
		fprintf(stderr, "riskctl: unknown option '%s'\n", argv[i]);
		usage(stderr);
		return CLI_EUSAGE;
	}
	if (i == argc) {
		fprintf(stderr, "riskctl: no command given\n");
		usage(stderr);
		return CLI_EUSAGE;
	}
	for (size_t k = 0; k < RK_ARRAY_LEN(cmds); k++)
		if (!strcmp(argv[i], cmds[k].name))
			return cmds[k].fn(&c, argc - i, argv + i);
	fprintf(stderr, "riskctl: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return CLI_EUSAGE;
}
