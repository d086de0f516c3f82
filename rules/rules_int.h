/*
 * rules_int.h - private structures of the rule engine, shared by the
 * compiler passes: values (rv), tokens (lex.c), the AST (parse.c),
 * resolved references (resolve.c), the compiled program (compile.c), the
 * evaluation frame (eval.c). Nothing outside rules/ includes this.
 */
#ifndef RULES_INT_H
#define RULES_INT_H

#include <stdatomic.h>

#include "../common/arena.h"
#include "../common/rk.h"
#include "fn.h"
#include "opcodes.h"
#include "rules.h"

/* ---- values ---- */

enum rv_type {
	RV_NULL = 0,
	RV_BOOL,
	RV_NUM,
	RV_STR,
	RV_ARR,   /* a JSON array of the input (j) */
	RV_OBJ,   /* a JSON object of the input (j) */
	RV_LIST,  /* an evaluated list literal (items, len) */
	RV_SET,   /* an @list (set) */
};

typedef struct rv {
	uint8_t t;       /* enum rv_type */
	uint32_t len;    /* string bytes or list items */
	union {
		double n;
		bool b;
		const char *s;
		const struct cJSON *j;
		const struct rv *items;
		const strset *set;
	};
} rv;

#define RV_MK_NULL ((rv){.t = RV_NULL})

const char *rv_type_name(int t);
/* Converts a JSON node to a value (strings are not copied). */
rv rv_from_json(const struct cJSON *j);

/* ---- tokens (lex.c) ---- */

enum tok_type {
	T_EOF = 0, T_ERR, T_NUM, T_STR, T_IDENT,
	T_AND, T_OR, T_NOT, T_IN, T_TRUE, T_FALSE, T_NULL,
	T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
	T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT,
	T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_DOT, T_AT,
};

typedef struct token {
	int type;
	int line, col;          /* 1-based position of the first byte */
	const char *start;      /* in the source */
	uint32_t len;           /* source bytes */
	double num;             /* T_NUM */
	const char *str;        /* T_STR: unescaped, arena-owned; T_ERR: message */
	uint32_t slen;
} token;

typedef struct lexer {
	const char *src, *p, *end;
	int line;
	const char *line_start;
	arena *a;
} lexer;

void lex_init(lexer *lx, const char *src, size_t len, arena *a);
/* Scans the next token; errors come back as T_ERR with a message. */
void lex_next(lexer *lx, token *t);
const char *tok_name(int type);

/* ---- AST (parse.c) ---- */

enum ast_kind {
	A_NUM, A_STR, A_BOOL, A_NULL, A_PATH, A_LISTREF, A_ARRAY, A_CALL,
	A_UNARY, A_BINARY, A_AND, A_OR, A_NOT, A_IN, A_NOTIN,
};

typedef struct path_seg {
	const char *key;     /* NULL for an index */
	uint32_t len;
	int index;
} path_seg;

typedef struct ast {
	uint8_t kind;
	uint8_t op;            /* A_UNARY/A_BINARY: enum tok_type */
	int line, col;
	double num;
	bool b;
	const char *str;       /* A_STR value, A_LISTREF/A_CALL name */
	uint32_t len;
	struct ast **kids;
	int nkids;
	path_seg *segs;        /* A_PATH */
	int nsegs;
	/* filled by resolve.c */
	int slot;              /* A_PATH: input slot; A_CALL: enum rules_op */
	const strset *set;     /* A_LISTREF */
	void *obj;             /* A_CALL: fn_regex or fn_cidr_set (set-owned) */
} ast;

typedef struct parse_ctx {
	lexer lx;
	token tok;
	arena *a;
	rk_diags *d;
	const char *where;     /* rule id for diagnostics */
	int depth;
	bool failed;
} parse_ctx;

/* Parses one expression; NULL after adding a diagnostic to d. */
ast *parse_expr(const char *src, size_t len, arena *a, rk_diags *d,
		const char *where);

/* ---- slots (resolve.c) ---- */

enum slot_root { ROOT_EVENT = 0, ROOT_FEATURES, ROOT_VELOCITY };

/* A trie of the input paths the program reads, one per root. */
typedef struct ptrie {
	const char *key;       /* member name, or NULL for an array index */
	uint32_t len;
	int index;
	int slot;              /* -1 when no rule reads this exact path */
	int first_child, next; /* indices into the trie array, -1 = none */
	uint64_t hash;
} ptrie;

/* Binds paths, lists, functions and literal patterns of one rule's AST
 * (resolve.c); adds located diagnostics; returns the number of errors. */
int resolve_rule(rules_set *s, const rules_lists *lists, ast *e,
		 const char *where, rk_diags *d);
/* Slot of a feature or velocity reference (resolve.c). */
int resolve_slot(rules_set *s, int root, const path_seg *segs, int n);

/* ---- compiled program (compile.c) ---- */

typedef struct node {
	uint8_t op;            /* enum rules_op */
	uint8_t memo;          /* shared by several parents: cache per event */
	uint16_t n;            /* args count for n-ary ops */
	uint32_t a, b;         /* operand nodes (or slot for SLOT/_SK ops) */
	uint32_t args;         /* first index in prog->args */
	uint32_t memo_idx;
	uint32_t refs;
	rv k;                  /* CONST value, _SK constant */
	union {
		const strset *set;      /* IN_SET, LIST_REF */
		fn_regex *re;           /* MATCHES */
		fn_cidr_set *cidr;      /* IN_CIDR */
	} x;
} node;

/* Rules that share an entry guard (first conjunct; each disjunct's for
 * `or`) form a group: the guard is evaluated once and, when it is false,
 * the group's rules need not be (a rule may be in several groups). */
typedef struct ggroup {
	uint32_t guard;        /* node id of the first conjunct */
	uint32_t first, n;     /* rule indices in s->grules[first..first+n) */
} ggroup;

/* Guards `x op constant` over one operand x form a family: x is
 * evaluated once and a hash (==) or sorted thresholds (<, <=, >, >=)
 * say which guards are true without evaluating each (index.c). */
enum { FAM_EQ = 0, FAM_THRESH };
typedef struct fkey {
	double k;
	uint32_t group;
} fkey;

typedef struct family {
	uint32_t x;            /* slot, or node id */
	bool x_slot;
	uint8_t kind;          /* FAM_EQ or FAM_THRESH */
	uint32_t *groups;      /* every group of the family */
	uint32_t ngroups;
	/* FAM_EQ: open addressing over (constant -> first entry); entries
	 * with the same constant are chained through eq_next. */
	uint32_t *eq_tab;      /* entry index + 1, 0 = empty */
	uint32_t eq_cap;
	uint32_t *eq_group, *eq_next;
	rv *eq_key;
	/* FAM_THRESH: guards per op (LT, LE, GT, GE), sorted by k. */
	fkey *th[4];
	uint32_t nth[4];
} family;

typedef struct rule_prog {
	uint32_t root;         /* node id */
	int *fslots;           /* feature needs this rule reads */
	int nfslots;
	int *vslots;           /* velocity slots this rule reads */
	int nvslots;
} rule_prog;

struct rules_set {
	atomic_int refs;
	rules_def *def;        /* owned copy */
	int64_t version;
	arena a;               /* strings, sets of literals */
	node *nodes;
	uint32_t nnodes;
	uint32_t *args;
	uint32_t nargs;
	uint32_t nmemo;
	rule_prog *rules;      /* one per def rule; root UINT32_MAX if disabled */
	int nrules;
	ggroup *groups;        /* guard groups (index.c) */
	uint32_t ngroups;
	uint32_t *grules;
	family *fams;
	uint32_t nfams;
	uint32_t *plain;       /* groups in no family: guard evaluated alone */
	uint32_t nplain;
	ptrie *trie[3];        /* per enum slot_root; element 0 is the root */
	int ntrie[3];
	int nslots;
	rules_need *fneeds;    /* feature slots */
	int nfneeds;
	int *vneeds;           /* velocity slot i -> def velocity index */
	int *vslot;            /* velocity slot i -> input slot */
	int nvneeds;
	/* owned compile-time objects */
	fn_regex **regexes;
	int nregexes;
	fn_cidr_set **cidrs;
	char **cidr_keys;      /* what each prefix set was built from */
	int ncidrs;
	strset **sets;
	int nsets;
	rules_lists *lists;    /* the lists the program was bound to (ref) */
	size_t max_list_items; /* largest list literal, for frame scratch */
	int max_args;
};

struct rules_frame {
	const rules_set *s;
	uint32_t gen;          /* evaluation generation for memo and trie */
	rv *slots;
	rv *memo;
	uint32_t *memo_gen;
	uint8_t *memo_err;
	uint32_t *seen[3];     /* per trie node: gen when bound */
	bool err;              /* current rule hit a runtime type problem */
	arena scratch;         /* strings made during one evaluation */
	fn_regex_scratch *rx;
	rv *listbuf;           /* values of evaluated list literals */
	size_t listcap, listused;
	int *hits, *shadow, *errors;
	rules_rule_trace *trace;
	uint64_t *gtrue, *gerr;   /* per group: guard true / raised an error */
	const char *ip_text;      /* the last address in_cidr parsed ... */
	uint32_t ip_len, ip_gen;
	bool ip_ok;
	fn_ip ip;                 /* ... and what it parsed to */
	uint64_t *rmatch, *rerr;  /* per rule: matched / raised an error */
	uint64_t *rcand;          /* per rule: evaluated this event */
};

#define BITWORDS(n) (((size_t)(n) + 63) / 64)

/* Builds groups and families after compile (index.c). */
int index_build(rules_set *s);
void index_free(rules_set *s);
/* Marks gtrue/gerr for every group from the families and plain guards. */
void index_eval(rules_frame *f);

/* ---- passes ---- */

/* Builds the program for def into s (resolve + compile + fold). */
int compile_program(rules_set *s, const rules_lists *lists, rk_diags *d);
/* Evaluates node id in f (eval.c); used by compile.c for folding. */
rv eval_node(rules_frame *f, uint32_t id);
/* Binds the input into f->slots (eval.c). */
void eval_bind(rules_frame *f, const rules_input *in);
/* Decision of SPEC §2 from f->hits etc. (decide.c). */
void decide(const rules_set *s, rules_frame *f, rules_result *out);
/* Names of ops for disasm and diagnostics (disasm.c). */
const char *op_name(int op);

/* A frame for constant folding: no slots, no memo. */
int frame_init_const(rules_frame *f, rules_set *s);
void frame_cleanup_const(rules_frame *f);

#endif
