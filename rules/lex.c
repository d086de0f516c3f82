/*
 * lex.c - the rule language's lexer: turns a `when` text into tokens with
 * 1-based line and byte column. Strings are unescaped into the compile
 * arena (\" \' \\ \n \t \uXXXX, surrogate pairs joined); `#` comments run
 * to the end of the line. Keywords: and or not in true false null.
 * Next pass: parse.c.
 */
#include "rules_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void lex_init(lexer *lx, const char *src, size_t len, arena *a)
{
	lx->src = lx->p = lx->line_start = src;
	lx->end = src + len;
	lx->line = 1;
	lx->a = a;
}

const char *tok_name(int type)
{
	static const char *const names[] = {
		[T_EOF] = "end of expression", [T_ERR] = "error",
		[T_NUM] = "number", [T_STR] = "string",
		[T_IDENT] = "identifier", [T_AND] = "and", [T_OR] = "or",
		[T_NOT] = "not", [T_IN] = "in", [T_TRUE] = "true",
		[T_FALSE] = "false", [T_NULL] = "null", [T_EQ] = "==",
		[T_NE] = "!=", [T_LT] = "<", [T_LE] = "<=", [T_GT] = ">",
		[T_GE] = ">=", [T_PLUS] = "+", [T_MINUS] = "-", [T_STAR] = "*",
		[T_SLASH] = "/", [T_PERCENT] = "%", [T_LPAREN] = "(",
		[T_RPAREN] = ")", [T_LBRACK] = "[", [T_RBRACK] = "]",
		[T_COMMA] = ",", [T_DOT] = ".", [T_AT] = "@",
	};
	if (type < 0 || type >= (int)RK_ARRAY_LEN(names) || !names[type])
		return "?";
	return names[type];
}

static void error(lexer *lx, token *t, const char *msg)
{
	t->type = T_ERR;
	t->str = msg;
	t->len = (uint32_t)(lx->p - t->start);
}

static void skip_space(lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\n') {
			lx->p++;
			lx->line++;
			lx->line_start = lx->p;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			lx->p++;
		} else if (c == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else {
			break;
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool read_hex4(lexer *lx, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		if (lx->p >= lx->end || hexval(*lx->p) < 0)
			return false;
		v = v * 16 + (unsigned)hexval(*lx->p++);
	}
	*out = v;
	return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* string := '"' chars '"' | "'" chars "'" */
static void lex_string(lexer *lx, token *t)
{
	char q = *lx->p++;
	const char *body = lx->p;
	/* The unescaped text is never longer than the source text. */
	size_t cap = 0;
	while (body + cap < lx->end && body[cap] != q) {
		if (body[cap] == '\\' && body + cap + 1 < lx->end)
			cap++;
		cap++;
	}
	char *out = arena_alloc(lx->a, cap + 1);
	if (!out) {
		error(lx, t, "out of memory");
		return;
	}
	size_t o = 0;
	for (;;) {
		if (lx->p >= lx->end || *lx->p == '\n') {
			error(lx, t, "unterminated string");
			return;
		}
		char c = *lx->p++;
		if (c == q)
			break;
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		if (lx->p >= lx->end) {
			error(lx, t, "unterminated string");
			return;
		}
		c = *lx->p++;
		switch (c) {
		case '"': case '\'': case '\\': case '/':
			out[o++] = c;
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 'u': {
			unsigned cp, lo;
			if (!read_hex4(lx, &cp)) {
				error(lx, t, "invalid \\u escape in string");
				return;
			}
			if (cp >= 0xD800 && cp <= 0xDBFF && lx->end - lx->p >= 6 &&
			    lx->p[0] == '\\' && lx->p[1] == 'u') {
				lx->p += 2;
				if (!read_hex4(lx, &lo) || lo < 0xDC00 ||
				    lo > 0xDFFF) {
					error(lx, t, "invalid surrogate pair in string");
					return;
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xD800 && cp <= 0xDFFF) {
				error(lx, t, "invalid surrogate in string");
				return;
			}
			/* 6 source bytes always cover 4 output bytes. */
			o += put_utf8(out + o, cp);
			break;
		}
		default:
			error(lx, t, "invalid escape in string");
			return;
		}
	}
	out[o] = '\0';
	t->type = T_STR;
	t->str = out;
	t->slen = (uint32_t)o;
}

static void lex_number(lexer *lx, token *t)
{
	const char *s = lx->p;
	while (lx->p < lx->end && isdigit((unsigned char)*lx->p))
		lx->p++;
	if (lx->p < lx->end && *lx->p == '.') {
		lx->p++;
		if (lx->p >= lx->end || !isdigit((unsigned char)*lx->p)) {
			error(lx, t, "invalid number");
			return;
		}
		while (lx->p < lx->end && isdigit((unsigned char)*lx->p))
			lx->p++;
	}
	if (lx->p < lx->end && (*lx->p == 'e' || *lx->p == 'E')) {
		lx->p++;
		if (lx->p < lx->end && (*lx->p == '+' || *lx->p == '-'))
			lx->p++;
		if (lx->p >= lx->end || !isdigit((unsigned char)*lx->p)) {
			error(lx, t, "invalid number");
			return;
		}
		while (lx->p < lx->end && isdigit((unsigned char)*lx->p))
			lx->p++;
	}
	if (lx->p < lx->end &&
	    (isalpha((unsigned char)*lx->p) || *lx->p == '_')) {
		error(lx, t, "invalid number");
		return;
	}
	char buf[64];
	size_t n = (size_t)(lx->p - s);
	if (n >= sizeof(buf)) {
		error(lx, t, "invalid number");
		return;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	t->type = T_NUM;
	t->num = strtod(buf, NULL);
}

static int keyword(const char *s, size_t n)
{
	static const struct { const char *w; int t; } kw[] = {
		{"and", T_AND}, {"or", T_OR}, {"not", T_NOT}, {"in", T_IN},
		{"true", T_TRUE}, {"false", T_FALSE}, {"null", T_NULL},
	};
	for (size_t i = 0; i < RK_ARRAY_LEN(kw); i++)
		if (strlen(kw[i].w) == n && memcmp(kw[i].w, s, n) == 0)
			return kw[i].t;
	return T_IDENT;
}

void lex_next(lexer *lx, token *t)
{
	skip_space(lx);
	memset(t, 0, sizeof(*t));
	t->start = lx->p;
	t->line = lx->line;
	t->col = (int)(lx->p - lx->line_start) + 1;
	if (lx->p >= lx->end) {
		t->type = T_EOF;
		return;
	}
	char c = *lx->p;
	char n = lx->p + 1 < lx->end ? lx->p[1] : '\0';
	if (isalpha((unsigned char)c) || c == '_') {
		while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) ||
					   *lx->p == '_'))
			lx->p++;
		t->type = keyword(t->start, (size_t)(lx->p - t->start));
	} else if (isdigit((unsigned char)c) ||
		   (c == '.' && isdigit((unsigned char)n))) {
		lex_number(lx, t);
	} else if (c == '"' || c == '\'') {
		lex_string(lx, t);
	} else {
		int type = T_ERR, len = 1;
		switch (c) {
		case '|': if (n == '|') { type = T_OR; len = 2; } break;
		case '&': if (n == '&') { type = T_AND; len = 2; } break;
		case '!': type = n == '=' ? T_NE : T_NOT; len = n == '=' ? 2 : 1; break;
		case '=': if (n == '=') { type = T_EQ; len = 2; } break;
		case '<': type = n == '=' ? T_LE : T_LT; len = n == '=' ? 2 : 1; break;
		case '>': type = n == '=' ? T_GE : T_GT; len = n == '=' ? 2 : 1; break;
		case '+': type = T_PLUS; break;
		case '-': type = T_MINUS; break;
		case '*': type = T_STAR; break;
		case '/': type = T_SLASH; break;
		case '%': type = T_PERCENT; break;
		case '(': type = T_LPAREN; break;
		case ')': type = T_RPAREN; break;
		case '[': type = T_LBRACK; break;
		case ']': type = T_RBRACK; break;
		case ',': type = T_COMMA; break;
		case '.': type = T_DOT; break;
		case '@': type = T_AT; break;
		}
		lx->p += len;
		if (type == T_ERR) {
			error(lx, t, c == '=' ? "unexpected character '=' (use '==')"
					      : "unexpected character");
			return;
		}
		t->type = type;
	}
	t->len = (uint32_t)(lx->p - t->start);
}
