/*
 * util.c - what riskctl's commands share: reading files, opening the
 * store with a message, option parsing helpers, compiling a definition
 * with the right lists and printing its diagnostics.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"

/* How diagnostics name a file: "-" is standard input. */
static const char *file_label(const char *path)
{
	return strcmp(path, "-") ? path : "<stdin>";
}

char *cli_read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0;
	char *buf = rk_malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (n < cap - 1) {
			if (ferror(f)) {
				fprintf(stderr, "%s: %s\n", path,
					strerror(errno));
				rk_free(buf);
				buf = NULL;
			}
			break;
		}
		char *nb = rk_realloc(buf, cap * 2);
		if (!nb) {
			rk_free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (f != stdin)
		fclose(f);
	if (!buf) {
		fprintf(stderr, "%s: cannot read\n", path);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

store *cli_open_store(cli_ctx *c, bool create)
{
	char err[600];
	store *st = store_open(c->db, create, err, sizeof(err));
	if (!st)
		fprintf(stderr, "riskctl: %s\n", err);
	return st;
}

rules_def *cli_load_file(const char *path)
{
	size_t len;
	char *txt = cli_read_file(path, &len);
	if (!txt)
		return NULL;
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(txt, len, &d);
	if (!def)
		rk_diags_print(&d, file_label(path), stderr);
	rk_diags_cleanup(&d);
	rk_free(txt);
	return def;
}

rules_set *cli_compile(const rules_def *def, const rules_lists *lists,
		       const char *name)
{
	rk_diags d;
	rk_diags_init(&d);
	rules_set *s = rules_compile(def, lists, &d);
	if (!s) {
		rk_diags_print(&d, name, stderr);
		fprintf(stderr, "%s: %d error%s, rule set refused\n", name, d.n,
			d.n == 1 ? "" : "s");
	}
	rk_diags_cleanup(&d);
	return s;
}

rules_set *cli_compile_stored(store *st, const char *scenario, int64_t version)
{
	rules_def *def = NULL;
	rules_lists *lists = NULL;
	int64_t v = 0;
	rules_set *s = NULL;
	if (store_load_def(st, scenario, version, &def, &v) ||
	    store_load_lists(st, &lists)) {
		fprintf(stderr, "riskctl: %s\n", store_errmsg(st));
		goto out;
	}
	char name[128];
	snprintf(name, sizeof(name), "%s v%lld", scenario, (long long)v);
	if ((s = cli_compile(def, lists, name)))
		rules_set_set_version(s, v);
out:
	rules_def_free(def);
	rules_lists_free(lists);
	return s;
}

bool cli_parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < 0)
		return false;
	*out = v;
	return true;
}
