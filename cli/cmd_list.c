/*
 * cmd_list.c - riskctl list add|remove|show NAME [ITEM...]: named lists
 * in the store. Items come from the command line, or one per line from
 * standard input when none is given.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"

static const char list_help[] =
    "usage: riskctl [--db PATH] list add|remove|show NAME [ITEM...]\n"
    "add/remove take items as arguments or, with none, one per line on\n"
    "standard input (surrounding white space trimmed, blank lines\n"
    "ignored). show prints one item a line, sorted. add creates the list\n"
    "(with no items from an empty stdin: an empty list). Names are\n"
    "[A-Za-z_][A-Za-z0-9_]* as rules write @NAME.\n"
    "Running riskd instances pick list changes up on their next reload.\n";

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Reads the lines of stdin into a vector, without surrounding white
 * space (a pasted "10.0.0.1 " is meant as "10.0.0.1"); blank lines are
 * skipped. NULL with *n = -1 when out of memory.
 */
static char **read_items(int *n)
{
	char **v = NULL, *line = NULL;
	size_t cap = 0;
	int vcap = 0;
	ssize_t len;
	*n = 0;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		char *p = line;
		while (len > 0 && is_space(line[len - 1]))
			line[--len] = '\0';
		while (is_space(*p))
			p++;
		if (!*p)
			continue;
		if (*n == vcap) {
			vcap = vcap ? vcap * 2 : 64;
			char **nv =
			    rk_realloc(v, (size_t)vcap * sizeof(char *));
			if (!nv)
				goto out_oom;
			v = nv;
		}
		if (!(v[*n] = rk_strdup(p)))
			goto out_oom;
		(*n)++;
	}
	free(line);
	return v ? v : rk_calloc(1, sizeof(char *));
out_oom:
	free(line);
	store_strv_free(v, *n);
	*n = -1;
	return NULL;
}

int cmd_list(cli_ctx *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(list_help, stdout);
		return CLI_OK;
	}
	if (argc < 3) {
		fputs(list_help, stderr);
		return CLI_EUSAGE;
	}
	const char *op = argv[1], *name = argv[2];
	bool add = !strcmp(op, "add"), rm = !strcmp(op, "remove");
	if (!add && !rm && strcmp(op, "show")) {
		fputs(list_help, stderr);
		return CLI_EUSAGE;
	}
	if (!add && !rm && argc != 3) {
		fputs(list_help, stderr);
		return CLI_EUSAGE;
	}
	store *st = cli_open_store(c, false);
	if (!st)
		return CLI_EUSER;
	int rc = 0, n;
	char **items;
	if (!add && !rm) {
		if (!(rc = store_list_items(st, name, &items, &n))) {
			for (int i = 0; i < n; i++)
				printf("%s\n", items[i]);
			store_strv_free(items, n);
		}
	} else if (argc > 3) {
		rc = add ? store_list_add(st, name,
					  (const char *const *)argv + 3,
					  argc - 3)
			 : store_list_remove(st, name,
					     (const char *const *)argv + 3,
					     argc - 3);
		if (!rc)
			printf("%s: %d item%s %s\n", name, argc - 3,
			       argc == 4 ? "" : "s", add ? "added" : "removed");
	} else {
		items = read_items(&n);
		if (!items) {
			fprintf(stderr, "riskctl: out of memory\n");
			store_close(st);
			return CLI_EUSER;
		}
		rc = add ? store_list_add(st, name, (const char *const *)items,
					  n)
			 : store_list_remove(st, name,
					     (const char *const *)items, n);
		if (!rc)
			printf("%s: %d item%s %s\n", name, n, n == 1 ? "" : "s",
			       add ? "added" : "removed");
		store_strv_free(items, n);
	}
	if (rc)
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
	store_close(st);
	return rc ? CLI_EUSER : CLI_OK;
}
