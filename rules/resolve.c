/*
 * resolve.c - binds one rule's AST to the program: every path becomes an
 * input slot in a per-root trie (event, features, velocity), so an
 * event's fields are extracted once per event however many rules read
 * them; @lists are looked up; function names and argument counts are
 * checked; regex and CIDR literals are compiled here, at load time.
 * Previous pass: parse.c. Next: compile.c.
 */
#include "rules_int.h"

#include <string.h>

static const struct fninfo {
	const char *name;
	int op;
	int min, max;     /* argument counts; max -1 = any */
} fntab[] = {
	{"len", OP_LEN, 1, 1},
	{"lower", OP_LOWER, 1, 1},
	{"upper", OP_UPPER, 1, 1},
	{"starts_with", OP_STARTS_WITH, 2, 2},
	{"ends_with", OP_ENDS_WITH, 2, 2},
	{"contains", OP_CONTAINS, 2, 2},
	{"matches", OP_MATCHES, 2, 2},
	{"abs", OP_ABS, 1, 1},
	{"min", OP_MIN, 1, -1},
	{"max", OP_MAX, 1, -1},
	{"round", OP_ROUND, 1, 1},
	{"coalesce", OP_COALESCE, 1, -1},
	{"exists", OP_EXISTS, 1, 1},
	{"email_domain", OP_EMAIL_DOMAIN, 1, 1},
	{"in_cidr", OP_IN_CIDR, 2, 2},
	{"timestamp", OP_TIMESTAMP, 1, 1},
	{"distance_km", OP_DISTANCE_KM, 4, 4},
};

static const struct fninfo *find_fn(const char *s, size_t n)
{
	for (size_t i = 0; i < RK_ARRAY_LEN(fntab); i++)
		if (strlen(fntab[i].name) == n && !memcmp(fntab[i].name, s, n))
			return &fntab[i];
	return NULL;
}

static bool seg_is(const path_seg *g, const char *word)
{
	return g->key && g->len == strlen(word) && !memcmp(g->key, word, g->len);
}

/* Finds or adds the child of trie node parent for seg; -1 on OOM. */
static int trie_child(rules_set *s, int root, int parent, const path_seg *g)
{
	ptrie *t = s->trie[root];
	for (int c = t[parent].first_child; c >= 0; c = t[c].next) {
		if (g->key ? (t[c].key && t[c].len == g->len &&
			      !memcmp(t[c].key, g->key, g->len))
			   : (!t[c].key && t[c].index == g->index))
			return c;
	}
	int n = s->ntrie[root];
	/* Grow by doubling when n hits a power of two. */
	if (n >= 1 && !(n & (n - 1))) {
		ptrie *nt = rk_realloc(t, 2 * (size_t)n * sizeof(*t));
		if (!nt)
			return -1;
		s->trie[root] = t = nt;
	}
	ptrie *e = &t[n];
	memset(e, 0, sizeof(*e));
	e->slot = -1;
	e->first_child = -1;
	e->index = g->index;
	if (g->key) {
		e->key = arena_strndup(&s->a, g->key, g->len);
		if (!e->key)
			return -1;
		e->len = g->len;
		e->hash = rk_hash(g->key, g->len);
	}
	e->next = t[parent].first_child;
	t[parent].first_child = n;
	s->ntrie[root] = n + 1;
	return n;
}

int resolve_slot(rules_set *s, int root, const path_seg *segs, int n)
{
	if (!s->trie[root]) {
		s->trie[root] = rk_calloc(1, sizeof(ptrie));
		if (!s->trie[root])
			return -1;
		s->trie[root][0].slot = -1;
		s->trie[root][0].first_child = -1;
		s->ntrie[root] = 1;
	}
	int at = 0;
	for (int i = 0; i < n; i++) {
		at = trie_child(s, root, at, &segs[i]);
		if (at < 0)
			return -1;
	}
	ptrie *e = &s->trie[root][at];
	if (e->slot < 0)
		e->slot = s->nslots++;
	return e->slot;
}

static int add_feature_need(rules_set *s, const char *group, const char *field,
			    int slot)
{
	for (int i = 0; i < s->nfneeds; i++)
		if (s->fneeds[i].slot == slot)
			return 0;
	rules_need *v = rk_realloc(s->fneeds, (size_t)(s->nfneeds + 1) *
						 sizeof(*v));
	if (!v)
		return RK_ENOMEM;
	s->fneeds = v;
	v[s->nfneeds++] = (rules_need){group, field, slot};
	return 0;
}

static int add_velocity_need(rules_set *s, int def_index, int slot)
{
	for (int i = 0; i < s->nvneeds; i++)
		if (s->vslot[i] == slot)
			return 0;
	int *a = rk_realloc(s->vneeds, (size_t)(s->nvneeds + 1) * sizeof(int));
	if (!a)
		return RK_ENOMEM;
	s->vneeds = a;
	int *b = rk_realloc(s->vslot, (size_t)(s->nvneeds + 1) * sizeof(int));
	if (!b)
		return RK_ENOMEM;
	s->vslot = b;
	a[s->nvneeds] = def_index;
	b[s->nvneeds++] = slot;
	return 0;
}

/* The set owns every regex and prefix set from the moment it exists. */
static int own(void ***v, int *n, void *obj)
{
	void **nv = rk_realloc(*v, (size_t)(*n + 1) * sizeof(void *));
	if (!nv)
		return RK_ENOMEM;
	nv[(*n)++] = obj;
	*v = nv;
	return 0;
}

typedef struct rctx {
	rules_set *s;
	const rules_lists *lists;
	const char *where;
	rk_diags *d;
	int errors;
} rctx;

static void err(rctx *r, const ast *at, const char *fmt, const char *arg)
{
	char msg[400];
	snprintf(msg, sizeof(msg), fmt, arg);
	rk_diags_add(r->d, r->where, at->line, at->col, "%s", msg);
	r->errors++;
}

static void oom(rctx *r, const ast *at)
{
	err(r, at, "%s", "out of memory");
}

/* Copies a path segment's key into a NUL-terminated buffer for messages. */
static const char *segtxt(const path_seg *g, char *buf, size_t n)
{
	snprintf(buf, n, "%.*s", (int)(g->len > 64 ? 64 : g->len), g->key);
	return buf;
}

static void resolve_path(rctx *r, ast *e)
{
	rules_set *s = r->s;
	const rules_def *def = s->def;
	path_seg *g = e->segs;
	char buf[80];
	if (seg_is(&g[0], "features")) {
		if (e->nsegs < 3 || !g[1].key || !g[2].key) {
			err(r, e, "%s", "feature reference needs a group and a "
					"field: features.<group>.<field>");
			return;
		}
		int gi = -1;
		for (int i = 0; i < def->nfeatures; i++)
			if (strlen(def->features[i].name) == g[1].len &&
			    !memcmp(def->features[i].name, g[1].key, g[1].len))
				gi = i;
		if (gi < 0) {
			err(r, e, "unknown feature group '%s'",
			    segtxt(&g[1], buf, sizeof(buf)));
			return;
		}
		if (e->nsegs > 3) {
			err(r, e, "%s", "feature values are flat: "
					"features.<group>.<field>");
			return;
		}
		e->slot = resolve_slot(s, ROOT_FEATURES, g + 1, 2);
		const char *field = e->slot < 0 ? NULL :
			arena_strndup(&s->a, g[2].key, g[2].len);
		if (!field || add_feature_need(s, def->features[gi].name, field,
					       e->slot))
			oom(r, e);
		return;
	}
	if (seg_is(&g[0], "velocity")) {
		if (e->nsegs != 2 || !g[1].key) {
			err(r, e, "%s", "velocity reference is velocity.<name>");
			return;
		}
		int vi = -1;
		for (int i = 0; i < def->nvelocity; i++)
			if (strlen(def->velocity[i].name) == g[1].len &&
			    !memcmp(def->velocity[i].name, g[1].key, g[1].len))
				vi = i;
		if (vi < 0) {
			err(r, e, "unknown velocity '%s'",
			    segtxt(&g[1], buf, sizeof(buf)));
			return;
		}
		e->slot = resolve_slot(s, ROOT_VELOCITY, g + 1, 1);
		if (e->slot < 0 || add_velocity_need(s, vi, e->slot))
			oom(r, e);
		return;
	}
	/* `event.x` always means the event's field x. */
	int skip = seg_is(&g[0], "event") ? 1 : 0;
	e->slot = resolve_slot(s, ROOT_EVENT, g + skip, e->nsegs - skip);
	if (e->slot < 0)
		oom(r, e);
}

static const strset *find_list(rctx *r, const ast *e)
{
	char name[80];
	snprintf(name, sizeof(name), "%.*s", (int)(e->len > 64 ? 64 : e->len),
		 e->str);
	const strset *set = r->lists ? rules_lists_get(r->lists, name) : NULL;
	if (!set) {
		char msg[100];
		snprintf(msg, sizeof(msg), "@%s", name);
		err(r, e, "unknown list '%s'", msg);
	}
	return set;
}

static void resolve_regex(rctx *r, ast *call)
{
	ast *pat = call->kids[1];
	if (pat->kind != A_STR) {
		err(r, pat, "%s", "matches: the pattern must be a string literal");
		return;
	}
	/* One compiled regex per distinct pattern, so identical matches()
	 * in different rules become one shared node. */
	for (int i = 0; i < r->s->nregexes; i++) {
		const char *p = fn_regex_pattern(r->s->regexes[i]);
		if (strlen(p) == pat->len && !memcmp(p, pat->str, pat->len)) {
			call->obj = r->s->regexes[i];
			return;
		}
	}
	char emsg[256];
	size_t off = 0;
	fn_regex *re = fn_regex_compile(pat->str, pat->len, emsg, sizeof(emsg),
					&off);
	if (!re) {
		char msg[320];
		snprintf(msg, sizeof(msg), "%s at offset %zu", emsg, off);
		err(r, pat, "invalid regex: %s", msg);
		return;
	}
	if (own((void ***)&r->s->regexes, &r->s->nregexes, re)) {
		fn_regex_free(re);
		oom(r, call);
		return;
	}
	call->obj = re;
}

static void resolve_cidr(rctx *r, ast *call)
{
	ast *arg = call->kids[1];
	rules_set *s = r->s;
	/* Key of the prefix set: '"' + literal, or '@' + list name. */
	char key[RULES_MAX_EXPR + 2];
	int kn = snprintf(key, sizeof(key), "%c%.*s",
			  arg->kind == A_STR ? '"' : '@', (int)arg->len, arg->str);
	for (int i = 0; i < s->ncidrs; i++)
		if (!strcmp(s->cidr_keys[i], key)) {
			call->obj = s->cidrs[i];
			return;
		}
	char **nk = rk_realloc(s->cidr_keys, (size_t)(s->ncidrs + 1) *
						   sizeof(char *));
	if (!nk) {
		oom(r, call);
		return;
	}
	s->cidr_keys = nk;
	fn_cidr_set *cs = fn_cidr_set_new();
	if (!cs) {
		oom(r, call);
		return;
	}
	if (arg->kind == A_STR) {
		int rc = fn_cidr_set_add(cs, arg->str, arg->len);
		if (rc) {
			char txt[80];
			snprintf(txt, sizeof(txt), "%.*s",
				 (int)(arg->len > 64 ? 64 : arg->len), arg->str);
			if (rc == RK_ENOMEM)
				oom(r, arg);
			else
				err(r, arg, "invalid CIDR '%s'", txt);
			fn_cidr_set_free(cs);
			return;
		}
	} else if (arg->kind == A_LISTREF) {
		const strset *set = find_list(r, arg);
		if (!set) {
			fn_cidr_set_free(cs);
			return;
		}
		/* Lists change apart from versions: entries that are not
		 * prefixes are skipped rather than refusing the rule set. */
		size_t pos = 0, len;
		const char *item;
		while (strset_next(set, &pos, &item, &len))
			if (fn_cidr_set_add(cs, item, len) == RK_ENOMEM) {
				oom(r, arg);
				fn_cidr_set_free(cs);
				return;
			}
	} else {
		err(r, arg, "%s", "in_cidr: the range must be a CIDR string "
				  "literal or an @list");
		fn_cidr_set_free(cs);
		return;
	}
	char *k = arena_strndup(&s->a, key, (size_t)kn);
	if (!k || own((void ***)&s->cidrs, &s->ncidrs, cs)) {
		fn_cidr_set_free(cs);
		oom(r, call);
		return;
	}
	s->cidr_keys[s->ncidrs - 1] = k;
	call->obj = cs;
}

static void resolve_call(rctx *r, ast *e)
{
	char name[80];
	snprintf(name, sizeof(name), "%.*s", (int)(e->len > 64 ? 64 : e->len),
		 e->str);
	const struct fninfo *fi = find_fn(e->str, e->len);
	if (!fi) {
		err(r, e, "unknown function '%s'", name);
		return;
	}
	if (e->nkids < fi->min || (fi->max >= 0 && e->nkids > fi->max)) {
		char msg[160];
		if (fi->min == fi->max)
			snprintf(msg, sizeof(msg),
				 "function '%s' takes %d argument%s, got %d",
				 fi->name, fi->min, fi->min == 1 ? "" : "s",
				 e->nkids);
		else
			snprintf(msg, sizeof(msg),
				 "function '%s' takes at least %d argument%s, "
				 "got %d", fi->name, fi->min,
				 fi->min == 1 ? "" : "s", e->nkids);
		err(r, e, "%s", msg);
		return;
	}
	e->slot = fi->op;
	if (fi->op == OP_MATCHES)
		resolve_regex(r, e);
	else if (fi->op == OP_IN_CIDR)
		resolve_cidr(r, e);
}

static void walk(rctx *r, ast *e)
{
	switch (e->kind) {
	case A_PATH:
		resolve_path(r, e);
		return;
	case A_LISTREF:
		e->set = find_list(r, e);
		return;
	case A_CALL:
		resolve_call(r, e);
		break;
	default:
		break;
	}
	for (int i = 0; i < e->nkids; i++) {
		/* The literal second argument of in_cidr is not a value. */
		if (e->kind == A_CALL && e->slot == OP_IN_CIDR && i == 1)
			continue;
		walk(r, e->kids[i]);
	}
}

int resolve_rule(rules_set *s, const rules_lists *lists, ast *e,
		 const char *where, rk_diags *d)
{
	rctx r = {s, lists, where, d, 0};
	walk(&r, e);
	return r.errors;
}
