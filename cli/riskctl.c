/*
 * riskctl.c - the rule store and offline tool: global options and the
 * command table. Each command lives in a cmd_*.c file (see cli.h) and
 * returns the exit code: 0 success, 1 user error, 2 usage error.
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
		     "The store is --db PATH, else $RISKD_DB, else ./riskd.db.\n\n"
		     "commands:\n");
	for (size_t i = 0; i < RK_ARRAY_LEN(cmds); i++)
		fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(out, "\n`riskctl COMMAND --help` describes a command.\n"
		     "Exit status: 0 success, 1 user error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	cli_ctx c = {getenv("RISKD_DB")};
	int i = 1;
	rk_cjson_hooks();
	if (!c.db || !*c.db)
		c.db = "./riskd.db";
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CLI_OK;
		} else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
			c.db = argv[++i];
		} else if (!strncmp(argv[i], "--db=", 5)) {
			c.db = argv[i] + 5;
		} else {
			fprintf(stderr, "riskctl: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return CLI_EUSAGE;
		}
	}
	if (i == argc) {
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
