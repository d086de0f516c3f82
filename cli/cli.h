/*
 * cli.h - riskctl's subcommands. riskctl.c parses the global options and
 * dispatches; each cmd_* file owns a group of commands. Every command
 * returns the process exit code: 0 success, 1 user error (message on
 * stderr naming file, rule, line and column), 2 usage error. Each prints
 * its own usage for --help (exit 0).
 */
#ifndef CLI_H
#define CLI_H

#define CLI_OK 0
#define CLI_EUSER 1
#define CLI_EUSAGE 2

/* The store path: --db, else $RISKD_DB, else ./riskd.db. */
typedef struct cli_ctx {
	const char *db;
} cli_ctx;

/* argv[0] is the command name ("init", "import", ...). */
int cmd_init(cli_ctx *c, int argc, char **argv);      /* cmd_store.c */
int cmd_import(cli_ctx *c, int argc, char **argv);    /* cmd_store.c */
int cmd_activate(cli_ctx *c, int argc, char **argv);  /* cmd_store.c */
int cmd_rollback(cli_ctx *c, int argc, char **argv);  /* cmd_store.c */
int cmd_versions(cli_ctx *c, int argc, char **argv);  /* cmd_store.c */
int cmd_export(cli_ctx *c, int argc, char **argv);    /* cmd_store.c */
int cmd_list(cli_ctx *c, int argc, char **argv);      /* cmd_list.c */
int cmd_key(cli_ctx *c, int argc, char **argv);       /* cmd_key.c */
int cmd_check(cli_ctx *c, int argc, char **argv);     /* cmd_score.c */
int cmd_score(cli_ctx *c, int argc, char **argv);     /* cmd_score.c */
int cmd_diff(cli_ctx *c, int argc, char **argv);      /* cmd_diff.c */
int cmd_disasm(cli_ctx *c, int argc, char **argv);    /* cmd_score.c */

/* Reads a whole file ("-" = stdin). NULL with a message on stderr. */
char *cli_read_file(const char *path, size_t *len);

#endif
