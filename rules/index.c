/*
 * index.c - the guard index that makes evaluation cost follow the rules
 * that can match rather than the size of the rule set. Every enabled
 * rule's first conjunct is its guard; rules with the same guard node form
 * a group, evaluated only when the guard is true. Guards of the form
 * `x op constant` on one operand x form a family: x is evaluated once,
 * then a hash table (==) or sorted thresholds (<, <=, >, >=) mark the
 * true guards directly. Evaluation stays left to right and
 * short-circuiting, so results and error counts equal a plain
 * rule-by-rule evaluation. Neighbours: compile.c builds the nodes,
 * eval.c evaluates candidates.
 */
#include "rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* Threshold op slots in family->th[]. */
enum { TH_LT = 0, TH_LE, TH_GT, TH_GE };

typedef struct gkey {
	uint32_t group;
	uint32_t x;
	uint8_t x_slot, kind, th;
	bool indexable;
	rv k;
} gkey;


static int th_of(int op)
{
	switch (op) {
	case OP_LT: case OP_LT_SK: return TH_LT;
	case OP_LE: case OP_LE_SK: return TH_LE;
	case OP_GT: case OP_GT_SK: return TH_GT;
	default: return TH_GE;
	}
}

/* `k op x` is `x op' k`. */
static int th_flip(int th)
{
	static const int flip[] = {[TH_LT] = TH_GT, [TH_LE] = TH_GE,
				   [TH_GT] = TH_LT, [TH_GE] = TH_LE};
	return flip[th];
}

/* Classifies a guard node as `x op constant`, if it is one. */
static void classify(const rules_set *s, gkey *g)
{
	const node *n = &s->nodes[s->groups[g->group].guard];
	*g = (gkey){.group = g->group};
	switch (n->op) {
	case OP_LT_SK: case OP_LE_SK: case OP_GT_SK: case OP_GE_SK:
		*g = (gkey){g->group, n->a, 1, FAM_THRESH, (uint8_t)th_of(n->op),
			    true, n->k};
		return;
	case OP_EQ_SK:
		*g = (gkey){g->group, n->a, 1, FAM_EQ, 0, true, n->k};
		return;
	case OP_LT: case OP_LE: case OP_GT: case OP_GE:
	case OP_EQ: {
		const node *a = &s->nodes[n->a], *b = &s->nodes[n->b];
		bool bk = b->op == OP_CONST, ak = a->op == OP_CONST;
		if (bk == ak)
			return;
		const rv *k = bk ? &b->k : &a->k;
		uint32_t x = bk ? n->a : n->b;
		if (n->op == OP_EQ) {
			if (k->t > RV_STR)
				return;
			*g = (gkey){g->group, x, 0, FAM_EQ, 0, true, *k};
			return;
		}
		if (k->t != RV_NUM || isnan(k->n))
			return;
		int th = th_of(n->op);
		*g = (gkey){g->group, x, 0, FAM_THRESH,
			    (uint8_t)(bk ? th : th_flip(th)), true, *k};
		return;
	}
	default:
		return;
	}
}

static int cmp_gkey(const void *pa, const void *pb)
{
	const gkey *a = pa, *b = pb;
	if (a->indexable != b->indexable)
		return a->indexable ? -1 : 1;
	if (a->x_slot != b->x_slot)
		return a->x_slot - b->x_slot;
	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind - b->kind;
	return a->group < b->group ? -1 : a->group > b->group;
}

static int cmp_fkey(const void *pa, const void *pb)
{
	const fkey *a = pa, *b = pb;
	return (a->k > b->k) - (a->k < b->k);
}

static uint64_t key_hash(const rv *k)
{
	switch (k->t) {
	case RV_BOOL: return 0x51 + k->b;
	case RV_NUM: {
		double d = k->n == 0 ? 0 : k->n;
		uint64_t bits;
		memcpy(&bits, &d, sizeof(bits));
		return rk_hash(&bits, sizeof(bits));
	}
	case RV_STR: return rk_hash(k->s, k->len) ^ 0x5757;
	default: return 0x77;
	}
}

static bool key_eq(const rv *a, const rv *b)
{
	if (a->t != b->t)
		return false;
	switch (a->t) {
	case RV_BOOL: return a->b == b->b;
	case RV_NUM: return a->n == b->n;
	case RV_STR: return a->len == b->len && !memcmp(a->s, b->s, a->len);
	default: return true;
	}
}

static int build_eq(family *fm, const gkey *g, uint32_t n)
{
	fm->eq_cap = 16;
	while (fm->eq_cap < 2 * n)
		fm->eq_cap *= 2;
	fm->eq_tab = rk_calloc(fm->eq_cap, sizeof(uint32_t));
	fm->eq_group = rk_malloc(n * sizeof(uint32_t));
	fm->eq_next = rk_malloc(n * sizeof(uint32_t));
	fm->eq_key = rk_malloc(n * sizeof(rv));
	if (!fm->eq_tab || !fm->eq_group || !fm->eq_next || !fm->eq_key)
		return RK_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		fm->eq_group[i] = g[i].group;
		fm->eq_key[i] = g[i].k;
		fm->eq_next[i] = NONE;
		uint32_t j = (uint32_t)key_hash(&g[i].k) & (fm->eq_cap - 1);
		for (;; j = (j + 1) & (fm->eq_cap - 1)) {
			uint32_t e = fm->eq_tab[j];
			if (!e) {
				fm->eq_tab[j] = i + 1;
				break;
			}
			if (key_eq(&fm->eq_key[e - 1], &g[i].k)) {
				fm->eq_next[i] = fm->eq_next[e - 1];
				fm->eq_next[e - 1] = i;
				break;
			}
		}
	}
	return 0;
}

static int build_thresh(family *fm, const gkey *g, uint32_t n)
{
	for (int t = 0; t < 4; t++) {
		uint32_t c = 0;
		for (uint32_t i = 0; i < n; i++)
			c += g[i].th == t;
		if (!c)
			continue;
		fm->th[t] = rk_malloc(c * sizeof(fkey));
		if (!fm->th[t])
			return RK_ENOMEM;
		for (uint32_t i = 0; i < n; i++)
			if (g[i].th == t)
				fm->th[t][fm->nth[t]++] = (fkey){g[i].k.n, g[i].group};
		qsort(fm->th[t], c, sizeof(fkey), cmp_fkey);
	}
	return 0;
}

static int add_family(rules_set *s, const gkey *g, uint32_t n)
{
	family *fm = &s->fams[s->nfams++];
	memset(fm, 0, sizeof(*fm));
	fm->x = g[0].x;
	fm->x_slot = g[0].x_slot;
	fm->kind = g[0].kind;
	fm->ngroups = n;
	fm->groups = rk_malloc(n * sizeof(uint32_t));
	if (!fm->groups)
		return RK_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		fm->groups[i] = g[i].group;
	return fm->kind == FAM_EQ ? build_eq(fm, g, n) : build_thresh(fm, g, n);
}

#define MAX_GUARDS 16

/*
 * The entry guards of an expression: for `a and b` those of a; for
 * `a or b` those of a and of b; else the expression itself. If every
 * entry guard is false or null without an error, the expression is
 * false or null without an error (left-to-right short-circuit), so a
 * rule needs evaluating only when one of its guards is true, not a
 * boolean, or raised an error. Returns the count, or 0 when there are
 * more than MAX_GUARDS (the caller then uses the root).
 */
static int entry_guards(const rules_set *s, uint32_t id, uint32_t *out, int n)
{
	const node *e = &s->nodes[id];
	if (e->op == OP_AND)
		return entry_guards(s, e->a, out, n);
	if (e->op == OP_OR) {
		int k = entry_guards(s, e->a, out, n);
		return k ? entry_guards(s, e->b, out, k) : 0;
	}
	for (int i = 0; i < n; i++)
		if (out[i] == id)
			return n;
	if (n == MAX_GUARDS)
		return 0;
	out[n] = id;
	return n + 1;
}

static int guards_of(const rules_set *s, uint32_t root, uint32_t *out)
{
	int n = entry_guards(s, root, out, 0);
	if (!n) {
		out[0] = root;
		n = 1;
	}
	return n;
}

/* Groups rules by entry guard (a map from guard node to group via a
 * scratch array indexed by node id); a rule joins one group per guard.
 * Then families over the groups. */
int index_build(rules_set *s)
{
	int rc = RK_ENOMEM;
	uint32_t *gid = rk_malloc((size_t)(s->nnodes + 1) * sizeof(uint32_t));
	uint32_t *count = NULL, gv[MAX_GUARDS];
	gkey *keys = NULL;
	if (!gid)
		return RK_ENOMEM;
	for (uint32_t i = 0; i < s->nnodes; i++)
		gid[i] = NONE;
	s->groups = rk_calloc((size_t)s->nnodes + 1, sizeof(ggroup));
	count = rk_calloc((size_t)s->nnodes + 1, sizeof(uint32_t));
	if (!s->groups || !count)
		goto out;
	size_t members = 0;
	for (int r = 0; r < s->nrules; r++) {
		if (s->rules[r].root == NONE)
			continue;
		int n = guards_of(s, s->rules[r].root, gv);
		for (int i = 0; i < n; i++) {
			uint32_t g = gv[i];
			if (gid[g] == NONE) {
				gid[g] = s->ngroups;
				s->groups[s->ngroups++].guard = g;
			}
			count[gid[g]]++;
			members++;
		}
	}
	s->grules = rk_malloc((members + 1) * sizeof(uint32_t));
	if (!s->grules)
		goto out;
	uint32_t at = 0;
	for (uint32_t g = 0; g < s->ngroups; g++) {
		s->groups[g].first = at;
		at += count[g];
	}
	for (int r = 0; r < s->nrules; r++) {
		if (s->rules[r].root == NONE)
			continue;
		int n = guards_of(s, s->rules[r].root, gv);
		for (int i = 0; i < n; i++) {
			ggroup *gr = &s->groups[gid[gv[i]]];
			s->grules[gr->first + gr->n++] = (uint32_t)r;
		}
	}
	keys = rk_malloc(((size_t)s->ngroups + 1) * sizeof(gkey));
	s->fams = rk_calloc((size_t)s->ngroups / 2 + 1, sizeof(family));
	s->plain = rk_malloc(((size_t)s->ngroups + 1) * sizeof(uint32_t));
	if (!keys || !s->fams || !s->plain)
		goto out;
	for (uint32_t g = 0; g < s->ngroups; g++) {
		keys[g].group = g;
		classify(s, &keys[g]);
	}
	qsort(keys, s->ngroups, sizeof(gkey), cmp_gkey);
	for (uint32_t i = 0; i < s->ngroups;) {
		uint32_t j = i + 1;
		while (keys[i].indexable && j < s->ngroups && keys[j].indexable &&
		       keys[j].x == keys[i].x && keys[j].x_slot == keys[i].x_slot &&
		       keys[j].kind == keys[i].kind)
			j++;
		if (j - i >= 2) {
			if (add_family(s, keys + i, j - i))
				goto out;
		} else {
			s->plain[s->nplain++] = keys[i].group;
		}
		i = j;
	}
	rc = 0;
out:
	rk_free(gid);
	rk_free(count);
	rk_free(keys);
	return rc;
}

void index_free(rules_set *s)
{
	for (uint32_t i = 0; i < s->nfams; i++) {
		family *fm = &s->fams[i];
		rk_free(fm->groups);
		rk_free(fm->eq_tab);
		rk_free(fm->eq_group);
		rk_free(fm->eq_next);
		rk_free(fm->eq_key);
		for (int t = 0; t < 4; t++)
			rk_free(fm->th[t]);
	}
	rk_free(s->fams);
	rk_free(s->groups);
	rk_free(s->grules);
	rk_free(s->plain);
}

static inline void setbit(uint64_t *b, uint32_t i)
{
	b[i >> 6] |= 1ULL << (i & 63);
}

/* First index in a (sorted by k) with k > x (strict) or k >= x. */
static uint32_t upper(const fkey *a, uint32_t n, double x, bool strict)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (strict ? a[mid].k <= x : a[mid].k < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void family_eval(rules_frame *f, const family *fm)
{
	rv x;
	if (fm->x_slot) {
		x = f->slots[fm->x];
	} else {
		f->err = false;
		x = eval_node(f, fm->x);
		if (f->err) {
			/* Every guard would raise the same error. */
			for (uint32_t i = 0; i < fm->ngroups; i++)
				setbit(f->gerr, fm->groups[i]);
			return;
		}
	}
	if (fm->kind == FAM_EQ) {
		if (x.t > RV_STR)
			return;
		uint32_t j = (uint32_t)key_hash(&x) & (fm->eq_cap - 1);
		for (uint32_t e; (e = fm->eq_tab[j]); j = (j + 1) & (fm->eq_cap - 1)) {
			if (!key_eq(&fm->eq_key[e - 1], &x))
				continue;
			for (uint32_t i = e - 1; i != NONE; i = fm->eq_next[i])
				setbit(f->gtrue, fm->eq_group[i]);
			return;
		}
		return;
	}
	if (x.t == RV_NULL || (x.t == RV_NUM && isnan(x.n)))
		return;
	if (x.t != RV_NUM) {
		/* Ordering across types: every guard is a type problem. */
		for (uint32_t i = 0; i < fm->ngroups; i++)
			setbit(f->gerr, fm->groups[i]);
		return;
	}
	/* x < k and x <= k: the guards with the largest k are true. */
	for (int t = TH_LT; t <= TH_LE; t++)
		for (uint32_t i = upper(fm->th[t], fm->nth[t], x.n, t == TH_LT);
		     i < fm->nth[t]; i++)
			setbit(f->gtrue, fm->th[t][i].group);
	/* x > k and x >= k: the guards with the smallest k are true. */
	for (int t = TH_GT; t <= TH_GE; t++) {
		uint32_t end = upper(fm->th[t], fm->nth[t], x.n, t == TH_GE);
		for (uint32_t i = 0; i < end; i++)
			setbit(f->gtrue, fm->th[t][i].group);
	}
}

void index_eval(rules_frame *f)
{
	const rules_set *s = f->s;
	size_t w = BITWORDS(s->ngroups);
	memset(f->gtrue, 0, w * sizeof(uint64_t));
	memset(f->gerr, 0, w * sizeof(uint64_t));
	for (uint32_t i = 0; i < s->nfams; i++)
		family_eval(f, &s->fams[i]);
	for (uint32_t i = 0; i < s->nplain; i++) {
		uint32_t g = s->plain[i];
		f->err = false;
		rv v = eval_node(f, s->groups[g].guard);
		/* A non-boolean guard is a type error for `guard and ...`
		 * but not for a rule that is just that value: let the
		 * rules' own evaluation tell the two apart. */
		if (f->err)
			setbit(f->gerr, g);
		else if (v.t == RV_BOOL ? v.b : v.t != RV_NULL)
			setbit(f->gtrue, g);
	}
}
