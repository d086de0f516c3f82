/*
 * eval.c - evaluates a compiled program against one input. eval_bind
 * walks the event, features and velocity JSON once along the slot tries
 * and fills the frame's slots; eval_node interprets the node DAG with
 * the null and type rules of SPEC §3, memoising shared nodes per event
 * (a generation counter, so nothing is cleared between events). Runtime
 * type problems set f->err: the rule being evaluated then does not
 * match. Nothing here allocates once the frame is warm.
 * Previous pass: compile.c. Next: decide.c.
 */
#include "rules_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define NONE UINT32_MAX

const char *rv_type_name(int t)
{
	static const char *const n[] = {"null", "bool", "number", "string",
					"array", "object", "list", "list"};
	return t >= 0 && t < (int)RK_ARRAY_LEN(n) ? n[t] : "?";
}

rv rv_from_json(const cJSON *j)
{
	if (!j)
		return RV_MK_NULL;
	switch (j->type & 0xFF) {
	case cJSON_False:
		return (rv){.t = RV_BOOL, .b = false};
	case cJSON_True:
		return (rv){.t = RV_BOOL, .b = true};
	case cJSON_Number:
		return (rv){.t = RV_NUM, .n = j->valuedouble};
	case cJSON_String:
		return (rv){.t = RV_STR, .s = j->valuestring,
			    .len = (uint32_t)strlen(j->valuestring)};
	case cJSON_Array:
		return (rv){.t = RV_ARR, .j = j};
	case cJSON_Object:
		return (rv){.t = RV_OBJ, .j = j};
	default:
		return RV_MK_NULL;
	}
}

/* ---- frames ---- */

static int frame_alloc(rules_frame *f, const rules_set *s)
{
	memset(f, 0, sizeof(*f));
	f->s = s;
	arena_init(&f->scratch, 4096);
	size_t ns = (size_t)s->nslots + 1, nm = (size_t)s->nmemo + 1;
	f->slots = rk_calloc(ns, sizeof(rv));
	f->memo = rk_calloc(nm, sizeof(rv));
	f->memo_gen = rk_calloc(nm, sizeof(uint32_t));
	f->memo_err = rk_calloc(nm, 1);
	/* Each list-literal node runs at most once per event: its items
	 * all fit at once. */
	f->listcap = 1;
	for (uint32_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i].op == OP_ARRAY)
			f->listcap += s->nodes[i].n;
	f->listbuf = rk_calloc(f->listcap, sizeof(rv));
	if (!f->slots || !f->memo || !f->memo_gen || !f->memo_err ||
	    !f->listbuf)
		return RK_ENOMEM;
	for (int r = 0; r < 3; r++) {
		f->seen[r] = rk_calloc((size_t)s->ntrie[r] + 1, sizeof(uint32_t));
		if (!f->seen[r])
			return RK_ENOMEM;
	}
	return 0;
}

static void frame_release(rules_frame *f)
{
	rk_free(f->slots);
	rk_free(f->memo);
	rk_free(f->memo_gen);
	rk_free(f->memo_err);
	rk_free(f->listbuf);
	for (int r = 0; r < 3; r++)
		rk_free(f->seen[r]);
	rk_free(f->hits);
	rk_free(f->shadow);
	rk_free(f->errors);
	rk_free(f->trace);
	rk_free(f->gtrue);
	rk_free(f->gerr);
	rk_free(f->rmatch);
	rk_free(f->rerr);
	rk_free(f->rcand);
	fn_regex_scratch_free(f->rx);
	arena_cleanup(&f->scratch);
	memset(f, 0, sizeof(*f));  /* a second release is harmless */
}

int frame_init_const(rules_frame *f, rules_set *s)
{
	/* Built before any node exists: constants only, no memo. */
	int rc = frame_alloc(f, s);
	f->listcap = 0;  /* list literals are never folded */
	if (!rc && !(f->rx = fn_regex_scratch_new()))
		rc = RK_ENOMEM;
	if (rc)
		frame_release(f);
	return rc;
}

void frame_cleanup_const(rules_frame *f)
{
	frame_release(f);
}

rules_frame *rules_frame_new(const rules_set *s)
{
	rules_frame *f = rk_malloc(sizeof(*f));
	if (!f)
		return NULL;
	size_t nr = (size_t)s->nrules + 1;
	if (frame_alloc(f, s) || !(f->rx = fn_regex_scratch_new()) ||
	    !(f->hits = rk_malloc(nr * sizeof(int))) ||
	    !(f->shadow = rk_malloc(nr * sizeof(int))) ||
	    !(f->errors = rk_malloc(nr * sizeof(int))) ||
	    !(f->trace = rk_malloc(nr * sizeof(rules_rule_trace))) ||
	    !(f->gtrue = rk_calloc(BITWORDS(s->ngroups + 1), 8)) ||
	    !(f->gerr = rk_calloc(BITWORDS(s->ngroups + 1), 8)) ||
	    !(f->rmatch = rk_calloc(BITWORDS(nr), 8)) ||
	    !(f->rerr = rk_calloc(BITWORDS(nr), 8)) ||
	    !(f->rcand = rk_calloc(BITWORDS(nr), 8))) {
		frame_release(f);
		rk_free(f);
		return NULL;
	}
	return f;
}

void rules_frame_free(rules_frame *f)
{
	if (!f)
		return;
	frame_release(f);
	rk_free(f);
}

/* ---- binding the input to slots ---- */

static void bind_node(rules_frame *f, int root, int at, const cJSON *j)
{
	const ptrie *t = f->s->trie[root];
	uint32_t *seen = f->seen[root];
	const ptrie *me = &t[at];
	if (me->slot >= 0)
		f->slots[me->slot] = rv_from_json(j);
	if (me->first_child < 0 || !j)
		return;
	if (cJSON_IsObject(j)) {
		for (const cJSON *m = j->child; m; m = m->next) {
			size_t kl = strlen(m->string);
			uint64_t h = 0;
			bool hashed = false;
			for (int c = me->first_child; c >= 0; c = t[c].next) {
				if (!t[c].key || t[c].len != kl)
					continue;
				if (!hashed) {
					h = rk_hash(m->string, kl);
					hashed = true;
				}
				/* Duplicate member names: the first one wins,
				 * as with cJSON_GetObjectItem. */
				if (t[c].hash == h && seen[c] != f->gen &&
				    !memcmp(t[c].key, m->string, kl)) {
					seen[c] = f->gen;
					bind_node(f, root, c, m);
				}
			}
		}
	} else if (cJSON_IsArray(j)) {
		for (int c = me->first_child; c >= 0; c = t[c].next)
			if (!t[c].key)
				bind_node(f, root, c,
					  cJSON_GetArrayItem(j, t[c].index));
	}
}

void eval_bind(rules_frame *f, const rules_input *in)
{
	const rules_set *s = f->s;
	memset(f->slots, 0, (size_t)s->nslots * sizeof(rv));
	const cJSON *src[3] = {in->event, in->features, in->velocity};
	for (int r = 0; r < 3; r++)
		if (s->trie[r] && src[r])
			bind_node(f, r, 0, src[r]);
}

/* ---- operators ---- */

static rv mkbool(bool b)
{
	return (rv){.t = RV_BOOL, .b = b};
}

static rv mknum(double n)
{
	return (rv){.t = RV_NUM, .n = n};
}

/* A runtime type problem: the value is null and the rule is spoiled. */
static rv type_error(rules_frame *f)
{
	f->err = true;
	return RV_MK_NULL;
}

static bool json_is_list(const rv *v)
{
	return v->t == RV_ARR || v->t == RV_LIST || v->t == RV_SET;
}

static bool rv_equal(const rv *a, const rv *b);

static bool json_equal(const cJSON *a, const rv *b)
{
	rv av = rv_from_json(a);
	return rv_equal(&av, b);
}

/* == of SPEC §3: false across types; lists compare element-wise. */
static bool rv_equal(const rv *a, const rv *b)
{
	if (a->t != b->t) {
		if (a->t == RV_ARR && b->t == RV_LIST) {
			const cJSON *e = a->j->child;
			for (uint32_t i = 0; i < b->len; i++, e = e->next)
				if (!e || !json_equal(e, &b->items[i]))
					return false;
			return !e;
		}
		if (a->t == RV_LIST && b->t == RV_ARR)
			return rv_equal(b, a);
		return false;
	}
	switch (a->t) {
	case RV_NULL:
		return true;
	case RV_BOOL:
		return a->b == b->b;
	case RV_NUM:
		return a->n == b->n;
	case RV_STR:
		return a->len == b->len && !memcmp(a->s, b->s, a->len);
	case RV_ARR:
	case RV_OBJ:
		return cJSON_Compare(a->j, b->j, true);
	case RV_LIST:
		if (a->len != b->len)
			return false;
		for (uint32_t i = 0; i < a->len; i++)
			if (!rv_equal(&a->items[i], &b->items[i]))
				return false;
		return true;
	case RV_SET:
		return a->set == b->set;
	}
	return false;
}

/* <, <=, >, >=: numbers or strings (byte order); null otherwise. */
static rv compare(rules_frame *f, int op, const rv *a, const rv *b)
{
	int c;
	if (a->t == RV_NULL || b->t == RV_NULL)
		return RV_MK_NULL;
	if (a->t == RV_NUM && b->t == RV_NUM) {
		if (isnan(a->n) || isnan(b->n))
			return RV_MK_NULL;
		c = (a->n > b->n) - (a->n < b->n);
	} else if (a->t == RV_STR && b->t == RV_STR) {
		uint32_t n = a->len < b->len ? a->len : b->len;
		c = memcmp(a->s, b->s, n);
		if (!c)
			c = (a->len > b->len) - (a->len < b->len);
	} else {
		return type_error(f);
	}
	switch (op) {
	case OP_LT: case OP_LT_SK: return mkbool(c < 0);
	case OP_LE: case OP_LE_SK: return mkbool(c <= 0);
	case OP_GT: case OP_GT_SK: return mkbool(c > 0);
	default: return mkbool(c >= 0);
	}
}

static rv arith(rules_frame *f, int op, const rv *a, const rv *b)
{
	if (a->t == RV_NULL || b->t == RV_NULL)
		return RV_MK_NULL;
	if (a->t != RV_NUM || b->t != RV_NUM)
		return type_error(f);
	switch (op) {
	case OP_ADD: return mknum(a->n + b->n);
	case OP_SUB: return mknum(a->n - b->n);
	case OP_MUL: return mknum(a->n * b->n);
	case OP_DIV: return b->n == 0 ? RV_MK_NULL : mknum(a->n / b->n);
	default: return b->n == 0 ? RV_MK_NULL : mknum(fmod(a->n, b->n));
	}
}

/* Truth for and/or/not: true, false; null counts as false. */
static int truth(rules_frame *f, const rv *v)
{
	if (v->t == RV_BOOL)
		return v->b;
	if (v->t != RV_NULL)
		type_error(f);
	return 0;
}

/* x in L for a list value L; null when L is not a list. */
static rv member(rules_frame *f, const rv *x, const rv *l)
{
	if (!json_is_list(l))
		return l->t == RV_NULL ? RV_MK_NULL : type_error(f);
	if (x->t == RV_NULL)
		return mkbool(false);
	if (l->t == RV_SET)
		return mkbool(x->t == RV_STR && strset_has(l->set, x->s, x->len));
	if (l->t == RV_LIST) {
		for (uint32_t i = 0; i < l->len; i++)
			if (rv_equal(x, &l->items[i]))
				return mkbool(true);
		return mkbool(false);
	}
	for (const cJSON *e = l->j->child; e; e = e->next)
		if (json_equal(e, x))
			return mkbool(true);
	return mkbool(false);
}

static rv str_result(rules_frame *f, const char *s, size_t n)
{
	if (!s)
		return type_error(f);  /* scratch exhausted: treat as failure */
	return (rv){.t = RV_STR, .s = s, .len = (uint32_t)n};
}

/* Checks a string argument: 1 string, 0 null, -1 type error raised. */
static int want_str(rules_frame *f, const rv *v)
{
	if (v->t == RV_STR)
		return 1;
	if (v->t != RV_NULL)
		type_error(f);
	return v->t == RV_NULL ? 0 : -1;
}

static int want_num(rules_frame *f, const rv *v)
{
	if (v->t == RV_NUM)
		return 1;
	if (v->t != RV_NULL)
		type_error(f);
	return v->t == RV_NULL ? 0 : -1;
}

static inline rv operand(rules_frame *f, uint32_t id)
{
	const node *n = &f->s->nodes[id];
	if (n->op == OP_SLOT)
		return f->slots[n->a];
	if (n->op == OP_CONST)
		return n->k;
	return eval_node(f, id);
}

static rv eval_nary(rules_frame *f, const node *n)
{
	const uint32_t *args = f->s->args + n->args;
	switch (n->op) {
	case OP_COALESCE:
		for (uint32_t i = 0; i < n->n; i++) {
			rv v = operand(f, args[i]);
			if (v.t != RV_NULL)
				return v;
		}
		return RV_MK_NULL;
	case OP_MIN:
	case OP_MAX: {
		double best = 0;
		bool null = false;
		for (uint32_t i = 0; i < n->n; i++) {
			rv v = operand(f, args[i]);
			int w = want_num(f, &v);
			if (w < 0)
				return RV_MK_NULL;
			if (w == 0) {
				null = true;
				continue;
			}
			if (i == 0 || (n->op == OP_MIN ? v.n < best : v.n > best))
				best = v.n;
		}
		return null ? RV_MK_NULL : mknum(best);
	}
	case OP_DISTANCE_KM: {
		double d[4], km;
		bool null = false;
		for (int i = 0; i < 4; i++) {
			rv v = operand(f, args[i]);
			int w = want_num(f, &v);
			if (w < 0)
				return RV_MK_NULL;
			null |= w == 0;
			d[i] = v.n;
		}
		if (null || !fn_distance_km(d[0], d[1], d[2], d[3], &km))
			return RV_MK_NULL;
		return mknum(km);
	}
	case OP_IN_ARGS: {
		rv x = operand(f, args[0]);
		if (x.t == RV_NULL)
			return mkbool(false);
		for (uint32_t i = 1; i < n->n; i++) {
			rv e = operand(f, args[i]);
			if (rv_equal(&x, &e))
				return mkbool(true);
		}
		return mkbool(false);
	}
	case OP_ARRAY: {
		if (f->listused + n->n > f->listcap)
			return type_error(f);  /* cannot happen: sized below */
		rv *items = f->listbuf + f->listused;
		f->listused += n->n;
		for (uint32_t i = 0; i < n->n; i++)
			items[i] = operand(f, args[i]);
		return (rv){.t = RV_LIST, .len = n->n, .items = items};
	}
	}
	return type_error(f);
}

static rv eval_str_fn(rules_frame *f, const node *n, rv a)
{
	int w = want_str(f, &a);
	if (w <= 0)
		return RV_MK_NULL;
	switch (n->op) {
	case OP_LEN:
		return mknum((double)fn_utf8_len(a.s, a.len));
	case OP_LOWER:
		return str_result(f, fn_lower(&f->scratch, a.s, a.len), a.len);
	case OP_UPPER:
		return str_result(f, fn_upper(&f->scratch, a.s, a.len), a.len);
	case OP_EMAIL_DOMAIN: {
		const char *d;
		size_t dn;
		if (!fn_email_domain(&f->scratch, a.s, a.len, &d, &dn))
			return RV_MK_NULL;
		return str_result(f, d, dn);
	}
	case OP_MATCHES: {
		int m = fn_regex_match(n->x.re, f->rx, a.s, a.len);
		return m < 0 ? type_error(f) : mkbool(m == 1);
	}
	case OP_IN_CIDR:
		/* Many ranges, one address per event: parse it once. */
		if (f->ip_gen != f->gen || f->ip_text != a.s || f->ip_len != a.len) {
			f->ip_ok = fn_ip_parse(a.s, a.len, &f->ip);
			f->ip_text = a.s;
			f->ip_len = a.len;
			f->ip_gen = f->gen;
		}
		return mkbool(f->ip_ok &&
			      fn_cidr_set_match_ip(n->x.cidr, &f->ip) == 1);
	case OP_TIMESTAMP: {
		double t;
		return fn_parse_rfc3339(a.s, a.len, &t) ? mknum(t) : RV_MK_NULL;
	}
	}
	return type_error(f);
}

static rv eval_str2(rules_frame *f, const node *n)
{
	rv a = operand(f, n->a), b = operand(f, n->b);
	int wa = want_str(f, &a), wb = want_str(f, &b);
	if (wa <= 0 || wb <= 0)
		return RV_MK_NULL;
	switch (n->op) {
	case OP_STARTS_WITH:
		return mkbool(fn_starts_with(a.s, a.len, b.s, b.len));
	case OP_ENDS_WITH:
		return mkbool(fn_ends_with(a.s, a.len, b.s, b.len));
	default:
		return mkbool(fn_contains(a.s, a.len, b.s, b.len));
	}
}

static rv eval_op(rules_frame *f, const node *n)
{
	rv a, b;
	switch (n->op) {
	case OP_CONST:
		return n->k;
	case OP_SLOT:
		return f->slots[n->a];
	case OP_AND:
		a = operand(f, n->a);
		if (!truth(f, &a))
			return mkbool(false);
		b = operand(f, n->b);
		return mkbool(truth(f, &b));
	case OP_OR:
		a = operand(f, n->a);
		if (truth(f, &a))
			return mkbool(true);
		b = operand(f, n->b);
		return mkbool(truth(f, &b));
	case OP_NOT:
		a = operand(f, n->a);
		return mkbool(!truth(f, &a));
	case OP_INV:
		a = operand(f, n->a);
		return a.t == RV_BOOL ? mkbool(!a.b) : a;
	case OP_EQ:
	case OP_NE:
		a = operand(f, n->a);
		b = operand(f, n->b);
		return mkbool(rv_equal(&a, &b) == (n->op == OP_EQ));
	case OP_EQ_SK:
	case OP_NE_SK:
		return mkbool(rv_equal(&f->slots[n->a], &n->k) ==
			      (n->op == OP_EQ_SK));
	case OP_LT: case OP_LE: case OP_GT: case OP_GE:
		a = operand(f, n->a);
		b = operand(f, n->b);
		return compare(f, n->op, &a, &b);
	case OP_LT_SK: case OP_LE_SK: case OP_GT_SK: case OP_GE_SK: {
		const rv *s = &f->slots[n->a];
		if (s->t == RV_NUM && !isnan(s->n)) {
			double x = s->n, k = n->k.n;
			switch (n->op) {
			case OP_LT_SK: return mkbool(x < k);
			case OP_LE_SK: return mkbool(x <= k);
			case OP_GT_SK: return mkbool(x > k);
			default: return mkbool(x >= k);
			}
		}
		return compare(f, n->op, s, &n->k);
	}
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MOD:
		a = operand(f, n->a);
		b = operand(f, n->b);
		return arith(f, n->op, &a, &b);
	case OP_NEG:
		a = operand(f, n->a);
		return want_num(f, &a) > 0 ? mknum(-a.n) : RV_MK_NULL;
	case OP_IN_SET:
		a = operand(f, n->a);
		return mkbool(a.t == RV_STR && strset_has(n->x.set, a.s, a.len));
	case OP_IN_VAL:
		a = operand(f, n->a);
		b = operand(f, n->b);
		return member(f, &a, &b);
	case OP_LIST_REF:
		return (rv){.t = RV_SET, .set = n->x.set,
			    .len = (uint32_t)strset_count(n->x.set)};
	case OP_LEN:
		a = operand(f, n->a);
		if (a.t == RV_ARR)
			return mknum(cJSON_GetArraySize(a.j));
		if (a.t == RV_LIST || a.t == RV_SET)
			return mknum(a.len);
		return eval_str_fn(f, n, a);
	case OP_LOWER: case OP_UPPER: case OP_EMAIL_DOMAIN: case OP_MATCHES:
	case OP_IN_CIDR:
		return eval_str_fn(f, n, operand(f, n->a));
	case OP_TIMESTAMP:
		a = operand(f, n->a);
		if (a.t == RV_NUM)
			return a;
		return eval_str_fn(f, n, a);
	case OP_STARTS_WITH: case OP_ENDS_WITH: case OP_CONTAINS:
		return eval_str2(f, n);
	case OP_ABS:
		a = operand(f, n->a);
		return want_num(f, &a) > 0 ? mknum(fabs(a.n)) : RV_MK_NULL;
	case OP_ROUND:
		a = operand(f, n->a);
		return want_num(f, &a) > 0 ? mknum(round(a.n)) : RV_MK_NULL;
	case OP_EXISTS:
		a = operand(f, n->a);
		return mkbool(a.t != RV_NULL);
	default:
		return eval_nary(f, n);
	}
}

rv eval_node(rules_frame *f, uint32_t id)
{
	const node *n = &f->s->nodes[id];
	if (!n->memo)
		return eval_op(f, n);
	uint32_t m = n->memo_idx;
	if (f->memo_gen[m] == f->gen) {
		f->err |= f->memo_err[m];
		return f->memo[m];
	}
	bool outer = f->err;
	f->err = false;
	rv v = eval_op(f, n);
	f->memo[m] = v;
	f->memo_err[m] = f->err;
	f->memo_gen[m] = f->gen;
	f->err |= outer;
	return v;
}

static inline void setbit(uint64_t *b, uint32_t i)
{
	b[i >> 6] |= 1ULL << (i & 63);
}

static inline bool testbit(const uint64_t *b, uint32_t i)
{
	return b[i >> 6] >> (i & 63) & 1;
}

int rules_eval(const rules_set *s, rules_frame *f, const rules_input *in,
	       rules_result *out)
{
	if (!in->event || !cJSON_IsObject(in->event))
		return RK_EINVAL;
	/* Generation 0 means "never": skip it on wrap-around. */
	if (++f->gen == 0) {
		memset(f->memo_gen, 0, (size_t)(s->nmemo + 1) * sizeof(uint32_t));
		for (int r = 0; r < 3; r++)
			memset(f->seen[r], 0, (size_t)(s->ntrie[r] + 1) *
						      sizeof(uint32_t));
		f->gen = 1;
		f->ip_gen = 0;
	}
	arena_reset(&f->scratch);
	f->listused = 0;
	eval_bind(f, in);
	index_eval(f);
	size_t rw = BITWORDS(s->nrules);
	memset(f->rmatch, 0, rw * sizeof(uint64_t));
	memset(f->rerr, 0, rw * sizeof(uint64_t));
	/* A rule is evaluated, once, when one of its entry guards is true,
	 * not a boolean, or raised an error (index.c): evaluation itself
	 * then decides the match and the error exactly. */
	memset(f->rcand, 0, rw * sizeof(uint64_t));
	for (uint32_t w = 0; w < BITWORDS(s->ngroups); w++) {
		uint64_t t = f->gtrue[w] | f->gerr[w];
		while (t) {
			const ggroup *g = &s->groups[w * 64 + (uint32_t)__builtin_ctzll(t)];
			t &= t - 1;
			for (uint32_t k = 0; k < g->n; k++) {
				uint32_t r = s->grules[g->first + k];
				if (testbit(f->rcand, r))
					continue;
				setbit(f->rcand, r);
				f->err = false;
				rv v = eval_node(f, s->rules[r].root);
				if (f->err)
					setbit(f->rerr, r);
				else if (v.t == RV_BOOL && v.b)
					setbit(f->rmatch, r);
			}
		}
	}
	/* Results in rule-set order. */
	int nh = 0, nsh = 0, ne = 0, nt = 0;
	const rules_def *def = s->def;
	for (uint32_t w = 0; w < rw; w++) {
		uint64_t m = f->rmatch[w], e = f->rerr[w];
		while (e) {
			f->errors[ne++] = (int)(w * 64 + (uint32_t)__builtin_ctzll(e));
			e &= e - 1;
		}
		while (m) {
			int i = (int)(w * 64 + (uint32_t)__builtin_ctzll(m));
			m &= m - 1;
			if (def->rules[i].mode == RULES_MODE_SHADOW)
				f->shadow[nsh++] = i;
			else
				f->hits[nh++] = i;
		}
	}
	if (in->explain)
		for (int i = 0; i < s->nrules; i++)
			if (s->rules[i].root != NONE)
				f->trace[nt++] = (rules_rule_trace){i,
					testbit(f->rmatch, (uint32_t)i),
					testbit(f->rerr, (uint32_t)i)};
	out->hits = f->hits;
	out->nhits = nh;
	out->shadow = f->shadow;
	out->nshadow = nsh;
	out->errors = f->errors;
	out->nerrors = ne;
	out->trace = in->explain ? f->trace : NULL;
	out->ntrace = nt;
	decide(s, f, out);
	return 0;
}
