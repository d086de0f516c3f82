/*
 * rt.h - test helpers for the rule engine's unit tests: build a small
 * definition in code (no file parser involved), compile it, and evaluate
 * one expression to its value through the private API.
 */
#ifndef TESTS_RULES_RT_H
#define TESTS_RULES_RT_H

#include <cjson/cJSON.h>
#include <string.h>

#include "rules/rules_int.h"

/* One rule per `when`; features card/user, velocity v1h; lists given. */
static inline rules_def *rt_def(const char *const *whens, int n)
{
	static rules_feature_def feats[] = {
		{"card", "{card.id}", 0}, {"user", "{user.id}", 0}};
	static rules_velocity_def vel[] = {
		{"v1h", "card.id", "1h", 3600000, RULES_AGG_COUNT, NULL}};
	rules_def *d = rk_calloc(1, sizeof(*d));
	d->scenario = "t";
	d->max_score = 100;
	d->th_review = 50;
	d->th_decline = 80;
	d->features = feats;
	d->nfeatures = 2;
	d->velocity = vel;
	d->nvelocity = 1;
	d->rules = rk_calloc((size_t)n, sizeof(rules_rule_def));
	d->nrules = n;
	for (int i = 0; i < n; i++) {
		char *id = rk_malloc(16);
		snprintf(id, 16, "r%d", i);
		d->rules[i].id = id;
		d->rules[i].when = (char *)whens[i];
	}
	return d;
}

static inline void rt_def_free(rules_def *d)
{
	for (int i = 0; i < d->nrules; i++)
		rk_free(d->rules[i].id);
	rk_free(d->rules);
	rk_free(d);
}

static inline rules_lists *rt_lists(void)
{
	rules_lists *l = rules_lists_new();
	strset *a = strset_new();
	strset_add(a, "203.0.113.7", 11);
	strset_add(a, "KP", 2);
	rules_lists_put(l, "blocked", a);
	strset *c = strset_new();
	strset_add(c, "10.0.0.0/8", 10);
	strset_add(c, "2001:db8::/32", 13);
	strset_add(c, "garbage", 7);
	rules_lists_put(l, "ranges", c);
	return l;
}

/* The value of expr against event (JSON text), with the error flag. */
typedef struct rt_val {
	int t;
	bool b;
	double n;
	char s[256];
	bool err;
	bool compiled;
	char diag[512];
} rt_val;

static inline rt_val rt_eval_in(const char *expr, const char *event,
			 const char *features, const char *velocity)
{
	rt_val r;
	memset(&r, 0, sizeof(r));
	const char *w[] = {expr};
	rules_def *d = rt_def(w, 1);
	rules_lists *l = rt_lists();
	rk_diags dg;
	rk_diags_init(&dg);
	rules_set *s = rules_compile(d, l, &dg);
	if (!s) {
		if (dg.n)
			rk_diag_format(&dg.v[0], NULL, r.diag, sizeof(r.diag));
		goto out;
	}
	r.compiled = true;
	cJSON *ev = cJSON_Parse(event ? event : "{}");
	cJSON *fe = features ? cJSON_Parse(features) : NULL;
	cJSON *ve = velocity ? cJSON_Parse(velocity) : NULL;
	rules_frame *f = rules_frame_new(s);
	rules_input in = {ev, fe, ve, false};
	rules_result res;
	rules_eval(s, f, &in, &res);  /* binds and warms up */
	f->gen++;
	f->err = false;
	eval_bind(f, &in);
	rv v = eval_node(f, s->rules[0].root);
	r.t = v.t;
	r.err = f->err;
	if (v.t == RV_BOOL)
		r.b = v.b;
	if (v.t == RV_NUM)
		r.n = v.n;
	if (v.t == RV_STR)
		snprintf(r.s, sizeof(r.s), "%.*s", (int)v.len, v.s);
	rules_frame_free(f);
	cJSON_Delete(ev);
	cJSON_Delete(fe);
	cJSON_Delete(ve);
	rules_set_free(s);
out:
	rk_diags_cleanup(&dg);
	rules_lists_free(l);
	rt_def_free(d);
	return r;
}

static inline rt_val rt_eval(const char *expr, const char *event)
{
	return rt_eval_in(expr, event, NULL, NULL);
}

#endif
