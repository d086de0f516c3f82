/*
 * parse.c - recursive-descent parser for the rule expression language
 * (SPEC §3). Each function carries its grammar production. Produces an
 * AST in the compile arena; the first error stops the expression and is
 * reported with the rule id, line and column of the offending token.
 * Previous pass: lex.c. Next: resolve.c.
 */
#include "rules_int.h"

#include <string.h>

static ast *p_expr(parse_ctx *p);

static void advance(parse_ctx *p)
{
	lex_next(&p->lx, &p->tok);
	if (p->tok.type == T_ERR && !p->failed) {
		rk_diags_add(p->d, p->where, p->tok.line, p->tok.col, "%s",
			     p->tok.str);
		p->failed = true;
	}
}

static void fail_at(parse_ctx *p, const token *t, const char *fmt,
		    const char *arg)
{
	if (p->failed)
		return;
	p->failed = true;
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, arg);
	rk_diags_add(p->d, p->where, t->line, t->col, "%s", msg);
}

static void unexpected(parse_ctx *p)
{
	char what[48];
	if (p->tok.type == T_EOF)
		snprintf(what, sizeof(what), "end of expression");
	else
		snprintf(what, sizeof(what), "'%.*s'",
			 (int)(p->tok.len > 32 ? 32 : p->tok.len),
			 p->tok.start);
	fail_at(p, &p->tok, "unexpected %s", what);
}

static ast *mk(parse_ctx *p, int kind, const token *at)
{
	ast *n = arena_calloc(p->a, sizeof(*n));
	if (!n) {
		fail_at(p, at, "%s", "out of memory");
		return NULL;
	}
	n->kind = (uint8_t)kind;
	n->line = at->line;
	n->col = at->col;
	n->slot = -1;
	return n;
}

static ast *mk2(parse_ctx *p, int kind, int op, const token *at, ast *l,
		ast *r)
{
	ast *n = mk(p, kind, at);
	if (!n)
		return NULL;
	n->kids = arena_alloc(p->a, 2 * sizeof(ast *));
	if (!n->kids) {
		fail_at(p, at, "%s", "out of memory");
		return NULL;
	}
	n->op = (uint8_t)op;
	n->kids[0] = l;
	n->kids[1] = r;
	n->nkids = r ? 2 : 1;
	return n;
}

static bool enter(parse_ctx *p)
{
	if (++p->depth > RULES_MAX_DEPTH) {
		fail_at(p, &p->tok, "expression nested too deeply (limit %s)",
			"64");
		return false;
	}
	return true;
}

/* Collects "expr ("," expr)*" up to the closing token into n->kids. */
static bool expr_list(parse_ctx *p, ast *n, int close)
{
	ast *buf[16];
	ast **v = buf;
	int cnt = 0, cap = 16;
	if (p->tok.type != close) {
		for (;;) {
			ast *e = p_expr(p);
			if (!e)
				return false;
			if (cnt == cap) {
				ast **nv = arena_alloc(p->a, 2 * (size_t)cap *
							  sizeof(ast *));
				if (!nv)
					return false;
				memcpy(nv, v, (size_t)cnt * sizeof(ast *));
				v = nv;
				cap *= 2;
			}
			v[cnt++] = e;
			if (p->tok.type != T_COMMA)
				break;
			advance(p);
		}
	}
	if (p->tok.type != close) {
		if (close == T_RPAREN && !p->failed)
			fail_at(p, &p->tok, "%s", "expected ')'");
		else if (!p->failed)
			fail_at(p, &p->tok, "%s", "expected ']'");
		return false;
	}
	advance(p);
	n->kids = arena_alloc(p->a, (size_t)(cnt ? cnt : 1) * sizeof(ast *));
	if (!n->kids)
		return false;
	memcpy(n->kids, v, (size_t)cnt * sizeof(ast *));
	n->nkids = cnt;
	return !p->failed;
}

/* path := IDENT ("." IDENT | "[" (NUMBER | STRING) "]")* */
static ast *p_path(parse_ctx *p, token first)
{
	ast *n = mk(p, A_PATH, &first);
	if (!n)
		return NULL;
	path_seg segs[RULES_MAX_DEPTH + 1];
	int ns = 0;
	segs[ns++] = (path_seg){first.start, first.len, -1};
	while (p->tok.type == T_DOT || p->tok.type == T_LBRACK) {
		if (ns == (int)RK_ARRAY_LEN(segs)) {
			fail_at(p, &p->tok, "%s", "path too long");
			return NULL;
		}
		if (p->tok.type == T_DOT) {
			advance(p);
			/* Keywords are fine as member names: a.in, a.null. */
			if (p->tok.type < T_IDENT || p->tok.type > T_NULL) {
				if (p->tok.type != T_ERR)
					fail_at(p, &p->tok, "%s",
						"expected a field name after '.'");
				return NULL;
			}
			segs[ns++] = (path_seg){p->tok.start, p->tok.len, -1};
			advance(p);
			continue;
		}
		advance(p);
		token t = p->tok;
		if (t.type == T_NUM) {
			if (t.num < 0 || t.num > 1e9 || t.num != (int)t.num) {
				fail_at(p, &t, "%s",
					"array index must be a non-negative integer");
				return NULL;
			}
			segs[ns++] = (path_seg){NULL, 0, (int)t.num};
		} else if (t.type == T_STR) {
			segs[ns++] = (path_seg){t.str, t.slen, -1};
		} else {
			unexpected(p);
			return NULL;
		}
		advance(p);
		if (p->tok.type != T_RBRACK) {
			fail_at(p, &p->tok, "%s", "expected ']'");
			return NULL;
		}
		advance(p);
	}
	n->segs = arena_alloc(p->a, (size_t)ns * sizeof(path_seg));
	if (!n->segs)
		return NULL;
	memcpy(n->segs, segs, (size_t)ns * sizeof(path_seg));
	n->nsegs = ns;
	return n;
}

/*
 * primary := NUMBER | STRING | "true" | "false" | "null" | path
 *          | "@" IDENT | "[" (expr ("," expr)*)? "]"
 *          | IDENT "(" (expr ("," expr)*)? ")" | "(" expr ")"
 */
static ast *p_primary(parse_ctx *p)
{
	token t = p->tok;
	ast *n;
	switch (t.type) {
	case T_NUM:
		advance(p);
		if (!(n = mk(p, A_NUM, &t)))
			return NULL;
		n->num = t.num;
		return n;
	case T_STR:
		advance(p);
		if (!(n = mk(p, A_STR, &t)))
			return NULL;
		n->str = t.str;
		n->len = t.slen;
		return n;
	case T_TRUE:
	case T_FALSE:
		advance(p);
		if (!(n = mk(p, A_BOOL, &t)))
			return NULL;
		n->b = t.type == T_TRUE;
		return n;
	case T_NULL:
		advance(p);
		return mk(p, A_NULL, &t);
	case T_AT:
		advance(p);
		if (p->tok.type != T_IDENT) {
			fail_at(p, &p->tok, "%s", "expected a list name after '@'");
			return NULL;
		}
		if (!(n = mk(p, A_LISTREF, &t)))
			return NULL;
		n->str = p->tok.start;
		n->len = p->tok.len;
		advance(p);
		return n;
	case T_LBRACK:
		advance(p);
		if (!(n = mk(p, A_ARRAY, &t)))
			return NULL;
		return expr_list(p, n, T_RBRACK) ? n : NULL;
	case T_LPAREN:
		/* Report the parenthesis that goes one level too deep. */
		if (p->depth >= RULES_MAX_DEPTH) {
			fail_at(p, &t, "expression nested too deeply (limit %s)",
				"64");
			return NULL;
		}
		advance(p);
		n = p_expr(p);
		if (!n)
			return NULL;
		if (p->tok.type != T_RPAREN) {
			fail_at(p, &p->tok, "%s", "expected ')'");
			return NULL;
		}
		advance(p);
		return n;
	case T_IDENT:
		advance(p);
		if (p->tok.type == T_LPAREN) {
			advance(p);
			if (!(n = mk(p, A_CALL, &t)))
				return NULL;
			n->str = t.start;
			n->len = t.len;
			return expr_list(p, n, T_RPAREN) ? n : NULL;
		}
		return p_path(p, t);
	case T_ERR:
		return NULL;
	default:
		unexpected(p);
		return NULL;
	}
}

/* unary := "-" unary | primary */
static ast *p_unary(parse_ctx *p)
{
	if (p->tok.type != T_MINUS)
		return p_primary(p);
	token t = p->tok;
	if (!enter(p))
		return NULL;
	advance(p);
	ast *e = p_unary(p);
	p->depth--;
	return e ? mk2(p, A_UNARY, T_MINUS, &t, e, NULL) : NULL;
}

/* prod := unary (("*" | "/" | "%") unary)* */
static ast *p_prod(parse_ctx *p)
{
	ast *l = p_unary(p);
	while (l && (p->tok.type == T_STAR || p->tok.type == T_SLASH ||
		     p->tok.type == T_PERCENT)) {
		token t = p->tok;
		advance(p);
		ast *r = p_unary(p);
		l = r ? mk2(p, A_BINARY, t.type, &t, l, r) : NULL;
	}
	return l;
}

/* sum := prod (("+" | "-") prod)* */
static ast *p_sum(parse_ctx *p)
{
	ast *l = p_prod(p);
	while (l && (p->tok.type == T_PLUS || p->tok.type == T_MINUS)) {
		token t = p->tok;
		advance(p);
		ast *r = p_prod(p);
		l = r ? mk2(p, A_BINARY, t.type, &t, l, r) : NULL;
	}
	return l;
}

/* cmp := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in"
 *             | "not" "in") sum)? */
static ast *p_cmp(parse_ctx *p)
{
	ast *l = p_sum(p);
	if (!l)
		return NULL;
	token t = p->tok;
	int kind = A_BINARY;
	switch (t.type) {
	case T_EQ: case T_NE: case T_LT: case T_LE: case T_GT: case T_GE:
		break;
	case T_IN:
		kind = A_IN;
		break;
	case T_NOT: {
		/* "not" here can only start "not in". */
		advance(p);
		if (p->tok.type != T_IN) {
			fail_at(p, &p->tok, "%s", "expected 'in' after 'not'");
			return NULL;
		}
		kind = A_NOTIN;
		break;
	}
	default:
		return l;
	}
	advance(p);
	ast *r = p_sum(p);
	return r ? mk2(p, kind, t.type, &t, l, r) : NULL;
}

/* not := ("not" | "!") not | cmp */
static ast *p_not(parse_ctx *p)
{
	if (p->tok.type != T_NOT)
		return p_cmp(p);
	token t = p->tok;
	if (!enter(p))
		return NULL;
	advance(p);
	ast *e = p_not(p);
	p->depth--;
	return e ? mk2(p, A_NOT, T_NOT, &t, e, NULL) : NULL;
}

/* and := not (("and" | "&&") not)* */
static ast *p_and(parse_ctx *p)
{
	ast *l = p_not(p);
	while (l && p->tok.type == T_AND) {
		token t = p->tok;
		advance(p);
		ast *r = p_not(p);
		l = r ? mk2(p, A_AND, T_AND, &t, l, r) : NULL;
	}
	return l;
}

/* expr := or ; or := and (("or" | "||") and)* */
static ast *p_expr(parse_ctx *p)
{
	if (!enter(p))
		return NULL;
	ast *l = p_and(p);
	while (l && p->tok.type == T_OR) {
		token t = p->tok;
		advance(p);
		ast *r = p_and(p);
		l = r ? mk2(p, A_OR, T_OR, &t, l, r) : NULL;
	}
	p->depth--;
	return l;
}

ast *parse_expr(const char *src, size_t len, arena *a, rk_diags *d,
		const char *where)
{
	/* The whole expression is level 0: 64 nested parentheses fit. */
	parse_ctx p = {.a = a, .d = d, .where = where, .depth = -1};
	if (len > RULES_MAX_EXPR) {
		rk_diags_add(d, where, 1, 1,
			     "expression too long (%zu bytes, limit %d)", len,
			     RULES_MAX_EXPR);
		return NULL;
	}
	lex_init(&p.lx, src, len, a);
	advance(&p);
	if (p.failed)
		return NULL;
	if (p.tok.type == T_EOF) {
		rk_diags_add(d, where, 1, 1, "empty expression");
		return NULL;
	}
	ast *e = p_expr(&p);
	if (e && p.tok.type != T_EOF)
		unexpected(&p);
	if (!e && !p.failed)
		rk_diags_add(d, where, p.tok.line, p.tok.col, "out of memory");
	return p.failed ? NULL : e;
}
