/*
 * diag.c - the diagnostics list; see diag.h.
 */
#include "diag.h"
#include "rk.h"

#include <stdarg.h>
#include <string.h>

void rk_diags_init(rk_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void rk_diags_cleanup(rk_diags *d)
{
	for (int i = 0; i < d->n; i++) {
		rk_free(d->v[i].where);
		rk_free(d->v[i].msg);
	}
	rk_free(d->v);
	memset(d, 0, sizeof(*d));
}

static void add(rk_diags *d, bool field, const char *where, int line, int col,
		const char *fmt, va_list ap)
{
	int max = d->max ? d->max : 100;
	if (d->n >= max)
		return;
	if (d->n == d->cap) {
		int cap = d->cap ? d->cap * 2 : 8;
		rk_diag *v = rk_realloc(d->v, (size_t)cap * sizeof(*v));
		if (!v) {
			d->oom = 1;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	rk_diag *g = &d->v[d->n];
	g->where = where ? rk_strdup(where) : NULL;
	g->field = field;
	g->msg = rk_strdup(buf);
	g->line = line;
	g->col = col;
	if ((where && !g->where) || !g->msg) {
		rk_free(g->where);
		rk_free(g->msg);
		d->oom = 1;
		return;
	}
	d->n++;
}

void rk_diags_add(rk_diags *d, const char *where, int line, int col,
		  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add(d, false, where, line, col, fmt, ap);
	va_end(ap);
}

void rk_diags_add_field(rk_diags *d, const char *path, int line, int col,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add(d, true, path, line, col, fmt, ap);
	va_end(ap);
}

void rk_diag_format(const rk_diag *g, const char *file, char *buf, size_t n)
{
	char loc[320] = "";
	int o = 0;
	if (g->where) {
		o = snprintf(loc, sizeof(loc), g->field ? "%s" : "rule '%s'",
			     g->where);
	}
	if (g->line && o >= 0 && (size_t)o < sizeof(loc))
		snprintf(loc + o, sizeof(loc) - (size_t)o, "%sline %d col %d",
			 o ? " " : "", g->line, g->col);
	snprintf(buf, n, "%s%s%s%s%s", file ? file : "", file ? ": " : "",
		 loc, loc[0] ? ": " : "", g->msg);
}

void rk_diags_print(const rk_diags *d, const char *file, FILE *out)
{
	char buf[1024];
	for (int i = 0; i < d->n; i++) {
		rk_diag_format(&d->v[i], file, buf, sizeof(buf));
		fprintf(out, "%s\n", buf);
	}
	if (d->oom)
		fprintf(out, "%s%sout of memory while collecting errors\n",
			file ? file : "", file ? ": " : "");
}
