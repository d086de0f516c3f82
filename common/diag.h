/*
 * diag.h - located diagnostics collected on a context, never global.
 * A diagnostic names where (a rule id, or a JSON path such as
 * "rules[3].score"), a 1-based line and column inside that text (0 when
 * not applicable) and a message. Compilers append; callers print.
 * Neighbours: rk.h.
 */
#ifndef RK_DIAG_H
#define RK_DIAG_H

#include <stdbool.h>
#include <stdio.h>

typedef struct rk_diag {
	char *where;  /* rule id or field path; may be NULL */
	bool field;   /* where is a field path, not a rule id */
	int line;     /* 1-based, 0 = none */
	int col;      /* 1-based, 0 = none */
	char *msg;
} rk_diag;

typedef struct rk_diags {
	rk_diag *v;
	int n, cap;
	int max;      /* stop collecting after this many (0 = 100) */
	int oom;      /* set when a diagnostic could not be stored */
} rk_diags;

void rk_diags_init(rk_diags *d);
void rk_diags_cleanup(rk_diags *d);
/* Appends one diagnostic. Never fails visibly: on OOM sets d->oom. */
void rk_diags_add(rk_diags *d, const char *where, int line, int col,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Like rk_diags_add, for a location that is a field path of a file
 * ("scenario", "rules[3].score"), printed as is rather than as a rule. */
void rk_diags_add_field(rk_diags *d, const char *path, int line, int col,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Prints one diagnostic per line:
 *   FILE: rule 'ID' line L col C: MESSAGE
 * (FILE omitted when NULL; "rule" is written only for rule ids, other
 * locations print as-is, e.g. "FILE: thresholds.review: ...").
 */
void rk_diags_print(const rk_diags *d, const char *file, FILE *out);
/* Formats diagnostic i into buf like rk_diags_print, without newline. */
void rk_diag_format(const rk_diag *g, const char *file, char *buf, size_t n);

#endif
