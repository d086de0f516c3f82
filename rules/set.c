/*
 * set.c - the compiled rule set as an object: rules_compile drives the
 * passes (copy the definition, bind lists, resolve.c + compile.c), and
 * the set is immutable and reference-counted afterwards so a server can
 * swap the active set atomically while requests finish on the old one.
 * Accessors for what the feature-fetch stage and explain need.
 */
#include "rules_int.h"

#include <string.h>

static char *dup(arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

#define DUP(field) do { if (src->field && !(dst->field = dup(a, src->field))) \
		return -1; } while (0)

static int copy_rule(arena *a, rules_rule_def *dst, const rules_rule_def *src)
{
	*dst = *src;
	DUP(id); DUP(name); DUP(reason); DUP(when);
	if (src->ntags) {
		dst->tags = arena_alloc(a, (size_t)src->ntags * sizeof(char *));
		if (!dst->tags)
			return -1;
		for (int i = 0; i < src->ntags; i++)
			if (!(dst->tags[i] = dup(a, src->tags[i])))
				return -1;
	}
	return 0;
}

/* Deep copy of def into a (lists are not copied: they live apart). */
static rules_def *def_copy(arena *a, const rules_def *src)
{
	rules_def *dst = arena_calloc(a, sizeof(*dst));
	if (!dst)
		return NULL;
	*dst = *src;
	dst->lists = NULL;
	dst->nlists = 0;
	if ((src->scenario && !(dst->scenario = dup(a, src->scenario))) ||
	    (src->description && !(dst->description = dup(a, src->description))))
		return NULL;
	dst->features = arena_calloc(a, (size_t)(src->nfeatures + 1) *
					       sizeof(*dst->features));
	dst->velocity = arena_calloc(a, (size_t)(src->nvelocity + 1) *
					       sizeof(*dst->velocity));
	dst->rules = arena_calloc(a, (size_t)(src->nrules + 1) *
					    sizeof(*dst->rules));
	if (!dst->features || !dst->velocity || !dst->rules)
		return NULL;
	for (int i = 0; i < src->nfeatures; i++) {
		rules_feature_def *f = &dst->features[i];
		*f = src->features[i];
		if (!(f->name = dup(a, f->name)) || !(f->key = dup(a, f->key)))
			return NULL;
	}
	for (int i = 0; i < src->nvelocity; i++) {
		rules_velocity_def *v = &dst->velocity[i];
		*v = src->velocity[i];
		if (!(v->name = dup(a, v->name)) ||
		    !(v->entity = dup(a, v->entity)) ||
		    !(v->window = dup(a, v->window)) ||
		    (v->field && !(v->field = dup(a, v->field))))
			return NULL;
	}
	for (int i = 0; i < src->nrules; i++)
		if (copy_rule(a, &dst->rules[i], &src->rules[i]))
			return NULL;
	return dst;
}

rules_set *rules_compile(const rules_def *def, const rules_lists *lists,
			 rk_diags *d)
{
	rules_set *s = rk_calloc(1, sizeof(*s));
	if (!s) {
		rk_diags_add(d, NULL, 0, 0, "out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	arena_init(&s->a, 64 * 1024);
	if (def->nrules > RULES_MAX_RULES) {
		rk_diags_add_field(d, "rules", 0, 0, "%d rules (limit %d)",
			     def->nrules, RULES_MAX_RULES);
		goto out_free;
	}
	if (!(s->def = def_copy(&s->a, def))) {
		rk_diags_add(d, NULL, 0, 0, "out of memory");
		goto out_free;
	}
	/* The caller's lists, or else the lists the file carries. */
	if (lists) {
		s->lists = rules_lists_ref((rules_lists *)lists);
	} else {
		s->lists = rules_lists_new();
		if (!s->lists || rules_lists_put_def(s->lists, def)) {
			rk_diags_add(d, NULL, 0, 0, "out of memory");
			goto out_free;
		}
	}
	if (compile_program(s, s->lists, d))
		goto out_free;
	return s;
out_free:
	rules_set_free(s);
	return NULL;
}

rules_set *rules_set_ref(rules_set *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void rules_set_free(rules_set *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < s->nregexes; i++)
		fn_regex_free(s->regexes[i]);
	for (int i = 0; i < s->ncidrs; i++)
		fn_cidr_set_free(s->cidrs[i]);
	for (int i = 0; i < s->nsets; i++)
		strset_free(s->sets[i]);
	for (int r = 0; r < 3; r++)
		rk_free(s->trie[r]);
	index_free(s);
	rk_free(s->regexes);
	rk_free(s->cidrs);
	rk_free(s->cidr_keys);
	rk_free(s->sets);
	rk_free(s->nodes);
	rk_free(s->args);
	rk_free(s->rules);
	rk_free(s->fneeds);
	rk_free(s->vneeds);
	rk_free(s->vslot);
	rules_lists_free(s->lists);
	arena_cleanup(&s->a);
	rk_free(s);
}

const rules_def *rules_set_def(const rules_set *s)
{
	return s->def;
}

int rules_set_nrules(const rules_set *s)
{
	return s->nrules;
}

size_t rules_set_footprint(const rules_set *s)
{
	size_t t = sizeof(*s) + arena_footprint(&s->a);
	t += s->nnodes * sizeof(node) + s->nargs * sizeof(uint32_t);
	t += (size_t)s->nrules * sizeof(rule_prog);
	for (int r = 0; r < 3; r++)
		t += (size_t)s->ntrie[r] * sizeof(ptrie);
	for (int i = 0; i < s->nsets; i++)
		t += strset_footprint(s->sets[i]);
	t += s->ngroups * sizeof(ggroup);
	for (uint32_t g = 0; g < s->ngroups; g++)
		t += s->groups[g].n * sizeof(uint32_t);
	for (uint32_t i = 0; i < s->nfams; i++) {
		const family *fm = &s->fams[i];
		t += sizeof(*fm) + fm->ngroups * sizeof(uint32_t) +
		     fm->eq_cap * sizeof(uint32_t) +
		     (fm->eq_key ? fm->ngroups * (sizeof(rv) + 8) : 0);
		for (int k = 0; k < 4; k++)
			t += fm->nth[k] * sizeof(fkey);
	}
	return t;
}

void rules_set_set_version(rules_set *s, int64_t version)
{
	s->version = version;
}

int64_t rules_set_version(const rules_set *s)
{
	return s->version;
}

int rules_set_nfeature_slots(const rules_set *s)
{
	return s->nfneeds;
}

const rules_need *rules_set_feature_slot(const rules_set *s, int i)
{
	return i >= 0 && i < s->nfneeds ? &s->fneeds[i] : NULL;
}

int rules_set_nvelocity_slots(const rules_set *s)
{
	return s->nvneeds;
}

int rules_set_velocity_slot_def(const rules_set *s, int i)
{
	return i >= 0 && i < s->nvneeds ? s->vneeds[i] : -1;
}

int rules_rule_features(const rules_set *s, int rule, const int **slots)
{
	*slots = s->rules[rule].fslots;
	return s->rules[rule].nfslots;
}

int rules_rule_velocity(const rules_set *s, int rule, const int **slots)
{
	*slots = s->rules[rule].vslots;
	return s->rules[rule].nvslots;
}
