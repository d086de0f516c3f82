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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"
#include "../store/store.h"

/* util.c: */
/* Reads a whole file ("-" = stdin). NULL with a message on stderr. */
char *cli_read_file(const char *path, size_t *len);
bool cli_wants_help(int argc, char **argv);
/* Opens c->db; NULL with a message on stderr. */
store *cli_open_store(cli_ctx *c, bool create);
/* Parses a rule-set file; NULL after printing located errors. */
rules_def *cli_load_file(const char *path);
/* Compiles; NULL after printing every error prefixed by name. */
rules_set *cli_compile(const rules_def *def, const rules_lists *lists,
		       const char *name);
/* Compiles a stored version (0 = active) with the store's lists. */
rules_set *cli_compile_stored(store *st, const char *scenario,
			      int64_t version);
/* cmd_score.c: compiles --rules FILE, or --scenario S [--version N]. */
rules_set *cli_source(cli_ctx *c, const char *file, const char *scenario,
		      int64_t version);
struct cJSON;
/* cmd_score.c: parses one envelope line into in (pointing into the
 * returned tree); NULL with an error code and message on a bad line. */
struct cJSON *cli_envelope(const char *line, size_t len, rules_input *in,
			   const char **code, char *msg, size_t msglen);
/* A non-negative decimal integer. */
bool cli_parse_int(const char *s, int64_t *out);

#endif
