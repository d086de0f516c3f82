/*
 * compile.c - turns resolved ASTs into one program for the whole rule
 * set: a DAG of nodes in a flat array where identical sub-expressions of
 * different rules are one node (hash-consing), constant sub-expressions
 * are folded, `slot <op> constant` comparisons are fused into one node,
 * and nodes read by several parents are marked for per-event memoising
 * so they are evaluated once per event. Also owns the rules_set life
 * cycle. Previous pass: resolve.c. Next: eval.c.
 */
#include "rules_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

typedef struct cc {
	rules_set *s;
	uint32_t *tab;        /* hash-consing table of node ids + 1 */
	uint32_t tabcap;
	uint32_t nodecap, argcap;
	rules_frame fold;     /* frame for constant folding */
	bool failed;
} cc;

#define NONE UINT32_MAX

/* ---- hash-consing ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

static uint64_t hash_rv(const rv *k)
{
	uint64_t h = k->t;
	switch (k->t) {
	case RV_BOOL:
		return mix(h, k->b);
	case RV_NUM: {
		uint64_t bits;
		double d = k->n == 0 ? 0 : k->n;  /* -0 == 0 */
		memcpy(&bits, &d, sizeof(bits));
		return mix(h, bits);
	}
	case RV_STR:
		return mix(h, rk_hash(k->s, k->len));
	case RV_LIST:
		h = mix(h, k->len);
		for (uint32_t i = 0; i < k->len; i++)
			h = mix(h, hash_rv(&k->items[i]));
		return h;
	default:
		return mix(h, (uint64_t)(uintptr_t)k->j);
	}
}

static bool rv_same(const rv *a, const rv *b)
{
	if (a->t != b->t)
		return false;
	switch (a->t) {
	case RV_NULL:
		return true;
	case RV_BOOL:
		return a->b == b->b;
	case RV_NUM:
		return a->n == b->n;
	case RV_STR:
		return a->len == b->len && !memcmp(a->s, b->s, a->len);
	case RV_LIST:
		if (a->len != b->len)
			return false;
		for (uint32_t i = 0; i < a->len; i++)
			if (!rv_same(&a->items[i], &b->items[i]))
				return false;
		return true;
	default:
		return a->j == b->j;
	}
}

static uint64_t hash_node(const rules_set *s, const node *n)
{
	uint64_t h = mix(n->op, n->a);
	h = mix(h, n->b);
	h = mix(h, n->n);
	for (uint32_t i = 0; i < n->n; i++)
		h = mix(h, s->args[n->args + i]);
	h = mix(h, hash_rv(&n->k));
	return mix(h, (uint64_t)(uintptr_t)n->x.set);
}

static bool node_same(const rules_set *s, const node *x, const node *y)
{
	if (x->op != y->op || x->a != y->a || x->b != y->b || x->n != y->n ||
	    x->x.set != y->x.set || !rv_same(&x->k, &y->k))
		return false;
	for (uint32_t i = 0; i < x->n; i++)
		if (s->args[x->args + i] != s->args[y->args + i])
			return false;
	return true;
}

static int tab_grow(cc *c)
{
	uint32_t ncap = c->tabcap ? c->tabcap * 2 : 1024;
	uint32_t *nt = rk_calloc(ncap, sizeof(uint32_t));
	if (!nt)
		return RK_ENOMEM;
	for (uint32_t i = 0; i < c->tabcap; i++) {
		uint32_t id = c->tab[i];
		if (!id)
			continue;
		uint64_t h = hash_node(c->s, &c->s->nodes[id - 1]);
		uint32_t j = (uint32_t)h & (ncap - 1);
		while (nt[j])
			j = (j + 1) & (ncap - 1);
		nt[j] = id;
	}
	rk_free(c->tab);
	c->tab = nt;
	c->tabcap = ncap;
	return 0;
}

/* Adds args (n ids) to the argument pool; returns the first index. */
static uint32_t push_args(cc *c, const uint32_t *ids, uint32_t n)
{
	rules_set *s = c->s;
	if (s->nargs + n > c->argcap) {
		uint32_t ncap = c->argcap ? c->argcap : 256;
		while (ncap < s->nargs + n)
			ncap *= 2;
		uint32_t *na = rk_realloc(s->args, ncap * sizeof(uint32_t));
		if (!na) {
			c->failed = true;
			return NONE;
		}
		s->args = na;
		c->argcap = ncap;
	}
	uint32_t at = s->nargs;
	memcpy(s->args + at, ids, n * sizeof(uint32_t));
	s->nargs += n;
	return at;
}

static uint32_t fold(cc *c, uint32_t id);

/* Interns node proto: returns the id of an identical node or a new one. */
static uint32_t emit(cc *c, const node *proto)
{
	rules_set *s = c->s;
	if (c->failed)
		return NONE;
	if ((s->nnodes + 1) * 2 > c->tabcap && tab_grow(c)) {
		c->failed = true;
		return NONE;
	}
	uint64_t h = hash_node(s, proto);
	uint32_t j = (uint32_t)h & (c->tabcap - 1);
	for (; c->tab[j]; j = (j + 1) & (c->tabcap - 1))
		if (node_same(s, &s->nodes[c->tab[j] - 1], proto)) {
			/* An identical node: drop the args we pushed. */
			if (proto->n && proto->args + proto->n == s->nargs &&
			    proto->args != s->nodes[c->tab[j] - 1].args)
				s->nargs = proto->args;
			/* The first copy may have folded: fold this use too. */
			return fold(c, c->tab[j] - 1);
		}
	if (s->nnodes == c->nodecap) {
		uint32_t ncap = c->nodecap ? c->nodecap * 2 : 256;
		node *nn = rk_realloc(s->nodes, ncap * sizeof(node));
		if (!nn) {
			c->failed = true;
			return NONE;
		}
		s->nodes = nn;
		c->nodecap = ncap;
	}
	uint32_t id = s->nnodes++;
	s->nodes[id] = *proto;
	c->tab[j] = id + 1;
	return fold(c, id);
}

static bool is_const(const rules_set *s, uint32_t id)
{
	return s->nodes[id].op == OP_CONST;
}

static uint32_t emit_const(cc *c, rv k)
{
	node n = {.op = OP_CONST, .a = NONE, .b = NONE, .k = k};
	return emit(c, &n);
}

/* Copies a string or list value into the set's arena. */
static bool persist(rules_set *s, rv *v)
{
	if (v->t == RV_STR) {
		char *p = arena_strndup(&s->a, v->s, v->len);
		if (!p)
			return false;
		v->s = p;
	}
	return true;
}

/*
 * Constant folding: a pure node whose operands are all constants is
 * evaluated now and replaced by its value (when that is a scalar and
 * evaluating it raised no type error, which must stay a runtime event).
 */
static uint32_t fold(cc *c, uint32_t id)
{
	rules_set *s = c->s;
	node *n = &s->nodes[id];
	switch (n->op) {
	case OP_CONST: case OP_SLOT: case OP_LIST_REF: case OP_LT_SK:
	case OP_LE_SK: case OP_GT_SK: case OP_GE_SK: case OP_EQ_SK:
	case OP_NE_SK: case OP_ARRAY:
		return id;
	default:
		break;
	}
	if (n->a != NONE && !is_const(s, n->a))
		return id;
	if (n->b != NONE && !is_const(s, n->b))
		return id;
	for (uint32_t i = 0; i < n->n; i++)
		if (!is_const(s, s->args[n->args + i]))
			return id;
	c->fold.err = false;
	c->fold.gen++;
	arena_reset(&c->fold.scratch);
	c->fold.listused = 0;
	rv v = eval_node(&c->fold, id);
	if (c->fold.err || v.t > RV_STR)
		return id;
	if (!persist(s, &v)) {
		c->failed = true;
		return NONE;
	}
	/* The folded node stays in the array unreferenced; harmless. */
	return emit_const(c, v);
}

/* ---- AST to nodes ---- */

static uint32_t gen(cc *c, const ast *e);

static int cmp_op(int tok)
{
	switch (tok) {
	case T_EQ: return OP_EQ;
	case T_NE: return OP_NE;
	case T_LT: return OP_LT;
	case T_LE: return OP_LE;
	case T_GT: return OP_GT;
	case T_GE: return OP_GE;
	case T_PLUS: return OP_ADD;
	case T_MINUS: return OP_SUB;
	case T_STAR: return OP_MUL;
	case T_SLASH: return OP_DIV;
	case T_PERCENT: return OP_MOD;
	}
	return -1;
}

/* `slot OP k` and `k OP slot` become one fused node. */
static uint32_t gen_compare(cc *c, int op, uint32_t l, uint32_t r)
{
	rules_set *s = c->s;
	node n = {.op = (uint8_t)op, .a = l, .b = r};
	bool ls = s->nodes[l].op == OP_SLOT, rs = s->nodes[r].op == OP_SLOT;
	bool lk = is_const(s, l), rk = is_const(s, r);
	if ((ls && rk) || (lk && rs)) {
		uint32_t slot = ls ? s->nodes[l].a : s->nodes[r].a;
		rv k = ls ? s->nodes[r].k : s->nodes[l].k;
		int fop = -1;
		if (op == OP_EQ || op == OP_NE) {
			if (k.t <= RV_STR)
				fop = op == OP_EQ ? OP_EQ_SK : OP_NE_SK;
		} else if (k.t == RV_NUM) {
			/* Swap the sense when the constant is on the left. */
			static const int fwd[] = {[OP_LT] = OP_LT_SK,
				[OP_LE] = OP_LE_SK, [OP_GT] = OP_GT_SK,
				[OP_GE] = OP_GE_SK};
			static const int rev[] = {[OP_LT] = OP_GT_SK,
				[OP_LE] = OP_GE_SK, [OP_GT] = OP_LT_SK,
				[OP_GE] = OP_LE_SK};
			fop = ls ? fwd[op] : rev[op];
		}
		if (fop >= 0) {
			node f = {.op = (uint8_t)fop, .a = slot, .b = NONE,
				  .k = k};
			return emit(c, &f);
		}
	}
	return emit(c, &n);
}

static uint32_t gen_list(cc *c, const ast *e, uint32_t *ids)
{
	for (int i = 0; i < e->nkids; i++)
		if ((ids[i] = gen(c, e->kids[i])) == NONE)
			return NONE;
	return 0;
}

/* A list literal of constants becomes a constant list value. */
static uint32_t gen_array(cc *c, const ast *e)
{
	rules_set *s = c->s;
	uint32_t ids[e->nkids ? e->nkids : 1];
	if (gen_list(c, e, ids) == NONE)
		return NONE;
	bool all_const = true;
	for (int i = 0; i < e->nkids; i++)
		all_const &= is_const(s, ids[i]);
	if ((size_t)e->nkids > s->max_list_items)
		s->max_list_items = (size_t)e->nkids;
	if (all_const) {
		rv *items = arena_alloc(&s->a, (size_t)(e->nkids ? e->nkids : 1) *
						       sizeof(rv));
		if (!items) {
			c->failed = true;
			return NONE;
		}
		for (int i = 0; i < e->nkids; i++)
			items[i] = s->nodes[ids[i]].k;
		return emit_const(c, (rv){.t = RV_LIST, .len = (uint32_t)e->nkids,
					  .items = items});
	}
	node n = {.op = OP_ARRAY, .a = NONE, .b = NONE, .n = (uint16_t)e->nkids};
	n.args = push_args(c, ids, (uint32_t)e->nkids);
	return n.args == NONE ? NONE : emit(c, &n);
}

/* x in [..] / @list / value; `not in` wraps the result in INV. */
static uint32_t gen_in(cc *c, const ast *e)
{
	rules_set *s = c->s;
	const ast *rhs = e->kids[1];
	uint32_t x = gen(c, e->kids[0]);
	if (x == NONE)
		return NONE;
	uint32_t r;
	if (rhs->kind == A_LISTREF) {
		node n = {.op = OP_IN_SET, .a = x, .b = NONE};
		n.x.set = rhs->set;
		r = emit(c, &n);
	} else if (rhs->kind == A_ARRAY) {
		uint32_t ids[rhs->nkids + 1];
		ids[0] = x;
		if (gen_list(c, rhs, ids + 1) == NONE)
			return NONE;
		bool strs = rhs->nkids > 0;
		for (int i = 1; i <= rhs->nkids; i++)
			strs &= is_const(s, ids[i]) &&
				s->nodes[ids[i]].k.t == RV_STR;
		if (strs && rhs->nkids >= 4) {
			/* Many string constants: one hash probe. */
			strset *set = strset_new();
			if (!set) {
				c->failed = true;
				return NONE;
			}
			strset **ns = rk_realloc(s->sets, (size_t)(s->nsets + 1) *
							     sizeof(*ns));
			if (!ns) {
				strset_free(set);
				c->failed = true;
				return NONE;
			}
			s->sets = ns;
			ns[s->nsets++] = set;
			for (int i = 1; i <= rhs->nkids; i++) {
				const rv *k = &s->nodes[ids[i]].k;
				if (strset_add(set, k->s, k->len)) {
					c->failed = true;
					return NONE;
				}
			}
			node n = {.op = OP_IN_SET, .a = x, .b = NONE};
			n.x.set = set;
			r = emit(c, &n);
		} else {
			node n = {.op = OP_IN_ARGS, .a = NONE, .b = NONE,
				  .n = (uint16_t)(rhs->nkids + 1)};
			n.args = push_args(c, ids, (uint32_t)rhs->nkids + 1);
			r = n.args == NONE ? NONE : emit(c, &n);
		}
	} else {
		uint32_t l = gen(c, rhs);
		if (l == NONE)
			return NONE;
		node n = {.op = OP_IN_VAL, .a = x, .b = l};
		r = emit(c, &n);
	}
	if (r == NONE || e->kind == A_IN)
		return r;
	node inv = {.op = OP_INV, .a = r, .b = NONE};
	return emit(c, &inv);
}

static uint32_t gen_call(cc *c, const ast *e)
{
	int op = e->slot;
	uint32_t ids[e->nkids ? e->nkids : 1];
	node n = {.op = (uint8_t)op, .a = NONE, .b = NONE};
	if (op == OP_MATCHES || op == OP_IN_CIDR) {
		if ((n.a = gen(c, e->kids[0])) == NONE)
			return NONE;
		n.x.re = e->obj;
		return emit(c, &n);
	}
	if (gen_list(c, e, ids) == NONE)
		return NONE;
	switch (op) {
	case OP_MIN: case OP_MAX: case OP_COALESCE: case OP_DISTANCE_KM:
		n.n = (uint16_t)e->nkids;
		if ((n.args = push_args(c, ids, (uint32_t)e->nkids)) == NONE)
			return NONE;
		if (e->nkids > c->s->max_args)
			c->s->max_args = e->nkids;
		break;
	default:
		n.a = ids[0];
		n.b = e->nkids > 1 ? ids[1] : NONE;
		break;
	}
	return emit(c, &n);
}

/* Generates the node for e (post-order: operands get smaller ids). */
static uint32_t gen(cc *c, const ast *e)
{
	rules_set *s = c->s;
	uint32_t l, r;
	switch (e->kind) {
	case A_NUM:
		return emit_const(c, (rv){.t = RV_NUM, .n = e->num});
	case A_STR: {
		const char *p = arena_strndup(&s->a, e->str, e->len);
		if (!p) {
			c->failed = true;
			return NONE;
		}
		return emit_const(c, (rv){.t = RV_STR, .s = p, .len = e->len});
	}
	case A_BOOL:
		return emit_const(c, (rv){.t = RV_BOOL, .b = e->b});
	case A_NULL:
		return emit_const(c, RV_MK_NULL);
	case A_PATH: {
		node n = {.op = OP_SLOT, .a = (uint32_t)e->slot, .b = NONE};
		return emit(c, &n);
	}
	case A_LISTREF: {
		node n = {.op = OP_LIST_REF, .a = NONE, .b = NONE};
		n.x.set = e->set;
		return emit(c, &n);
	}
	case A_ARRAY:
		return gen_array(c, e);
	case A_CALL:
		return gen_call(c, e);
	case A_IN:
	case A_NOTIN:
		return gen_in(c, e);
	case A_UNARY:
	case A_NOT: {
		if ((l = gen(c, e->kids[0])) == NONE)
			return NONE;
		node n = {.op = e->kind == A_NOT ? OP_NOT : OP_NEG, .a = l,
			  .b = NONE};
		return emit(c, &n);
	}
	case A_AND:
	case A_OR:
	case A_BINARY: {
		if ((l = gen(c, e->kids[0])) == NONE ||
		    (r = gen(c, e->kids[1])) == NONE)
			return NONE;
		int op = e->kind == A_AND ? OP_AND :
			 e->kind == A_OR ? OP_OR : cmp_op(e->op);
		if (op >= OP_EQ && op <= OP_GE)
			return gen_compare(c, op, l, r);
		node n = {.op = (uint8_t)op, .a = l, .b = r};
		return emit(c, &n);
	}
	}
	return NONE;
}

/* ---- whole program ---- */

static bool has_operand(int op)
{
	switch (op) {
	case OP_CONST: case OP_SLOT: case OP_LIST_REF: case OP_LT_SK:
	case OP_LE_SK: case OP_GT_SK: case OP_GE_SK: case OP_EQ_SK:
	case OP_NE_SK:
		return false;
	}
	return true;
}

/* Counts parents and marks shared nodes for memoising. */
static void mark_shared(rules_set *s)
{
	for (uint32_t i = 0; i < s->nnodes; i++)
		s->nodes[i].refs = 0;
	for (int r = 0; r < s->nrules; r++)
		if (s->rules[r].root != NONE)
			s->nodes[s->rules[r].root].refs++;
	/* A guard evaluated alone by the index is read again by its rules. */
	for (uint32_t g = 0; g < s->nplain; g++)
		s->nodes[s->groups[s->plain[g]].guard].refs++;
	/* Walk from the top so only reachable nodes count their operands. */
	for (uint32_t i = s->nnodes; i-- > 0;) {
		node *n = &s->nodes[i];
		if (!n->refs || !has_operand(n->op))
			continue;
		if (n->a != NONE)
			s->nodes[n->a].refs++;
		if (n->b != NONE)
			s->nodes[n->b].refs++;
		for (uint32_t k = 0; k < n->n; k++)
			s->nodes[s->args[n->args + k]].refs++;
	}
	s->nmemo = 0;
	for (uint32_t i = 0; i < s->nnodes; i++) {
		node *n = &s->nodes[i];
		n->memo = n->refs > 1 && has_operand(n->op);
		if (n->memo)
			n->memo_idx = s->nmemo++;
	}
}

/* Collects the feature/velocity slots read under node id into the rule. */
static void rule_inputs(rules_set *s, uint32_t id, int *fs, int *nf,
			int *vs, int *nv, uint8_t *seen)
{
	if (id == NONE || seen[id])
		return;
	seen[id] = 1;
	node *n = &s->nodes[id];
	if (n->op == OP_SLOT || (n->op >= OP_LT_SK && n->op <= OP_NE_SK)) {
		for (int i = 0; i < s->nfneeds; i++)
			if ((uint32_t)s->fneeds[i].slot == n->a)
				fs[(*nf)++] = i;
		for (int i = 0; i < s->nvneeds; i++)
			if ((uint32_t)s->vslot[i] == n->a)
				vs[(*nv)++] = i;
		return;
	}
	if (!has_operand(n->op))
		return;
	rule_inputs(s, n->a, fs, nf, vs, nv, seen);
	rule_inputs(s, n->b, fs, nf, vs, nv, seen);
	for (uint32_t k = 0; k < n->n; k++)
		rule_inputs(s, s->args[n->args + k], fs, nf, vs, nv, seen);
}

static int index_rule_inputs(rules_set *s)
{
	if (!s->nfneeds && !s->nvneeds)
		return 0;
	uint8_t *seen = rk_calloc(s->nnodes, 1);
	int *fs = rk_malloc((size_t)(s->nfneeds + 1) * sizeof(int));
	int *vs = rk_malloc((size_t)(s->nvneeds + 1) * sizeof(int));
	int rc = RK_ENOMEM;
	if (!seen || !fs || !vs)
		goto out;
	for (int r = 0; r < s->nrules; r++) {
		rule_prog *rp = &s->rules[r];
		if (rp->root == NONE)
			continue;
		int nf = 0, nv = 0;
		memset(seen, 0, s->nnodes);
		rule_inputs(s, rp->root, fs, &nf, vs, &nv, seen);
		if (nf && !(rp->fslots = arena_alloc(&s->a, (size_t)nf * sizeof(int))))
			goto out;
		if (nv && !(rp->vslots = arena_alloc(&s->a, (size_t)nv * sizeof(int))))
			goto out;
		if (nf)
			memcpy(rp->fslots, fs, (size_t)nf * sizeof(int));
		if (nv)
			memcpy(rp->vslots, vs, (size_t)nv * sizeof(int));
		rp->nfslots = nf;
		rp->nvslots = nv;
	}
	rc = 0;
out:
	rk_free(seen);
	rk_free(fs);
	rk_free(vs);
	return rc;
}

int compile_program(rules_set *s, const rules_lists *lists, rk_diags *d)
{
	const rules_def *def = s->def;
	cc c = {.s = s};
	arena tmp;
	int errors = 0;
	arena_init(&tmp, 64 * 1024);
	if (frame_init_const(&c.fold, s))
		goto out_oom;
	s->rules = rk_calloc((size_t)(def->nrules ? def->nrules : 1),
			     sizeof(rule_prog));
	if (!s->rules)
		goto out_oom;
	s->nrules = def->nrules;
	for (int i = 0; i < def->nrules; i++) {
		const rules_rule_def *rd = &def->rules[i];
		s->rules[i].root = NONE;
		/* Disabled rules are still compiled: a broken disabled rule
		 * must not hide until someone enables it. */
		ast *e = parse_expr(rd->when, strlen(rd->when), &tmp, d, rd->id);
		if (!e || resolve_rule(s, lists, e, rd->id, d)) {
			errors++;
			continue;
		}
		if (errors)
			continue;
		uint32_t root = gen(&c, e);
		if (root == NONE || c.failed)
			goto out_oom;
		if (rd->mode != RULES_MODE_DISABLED)
			s->rules[i].root = root;
		arena_reset(&tmp);
	}
	if (errors)
		goto out;
	if (index_build(s))
		goto out_oom;
	mark_shared(s);
	if (index_rule_inputs(s))
		goto out_oom;
	goto out;
out_oom:
	rk_diags_add(d, NULL, 0, 0, "out of memory while compiling");
	errors++;
out:
	frame_cleanup_const(&c.fold);
	rk_free(c.tab);
	arena_cleanup(&tmp);
	return errors ? RK_ESYNTAX : 0;
}
