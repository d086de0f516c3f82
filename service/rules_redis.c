/*
 * rules_redis.c - rule sets and API key hashes through Redis: the value
 * of riskd:rules:{scenario} ({"version", "file"}, the file being what
 * `riskctl export` prints), the riskd:keys table, one publish (write the
 * keys, fix the index, PUBLISH the names) and the reads a loading
 * instance makes. Every call is bounded by the caller's deadline and
 * goes to the active region (cache/region.h). Neighbours: engine_redis.c (the
 * only caller), rules/export.c (canonical JSON), auth.c (key tables).
 */
#include "rules_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "../cache/region.h"
#include "../common/rk.h"
#include "data.h"

/* ---- encoding ---- */

/* Whether expression text refers to @name (not @name_longer); a
 * reference inside a string literal adds a list needlessly, which is
 * harmless (as in `riskctl export`). */
static bool refers_to(const char *when, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = when; (p = strchr(p, '@')); p++) {
		if (strncmp(p + 1, name, n))
			continue;
		char c = p[1 + n];
		if (!(c == '_' || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* l->items = the sorted items of set (copies). */
static int list_items(const strset *set, rules_list_def *l)
{
	size_t n = set ? strset_count(set) : 0, pos = 0, len;
	const char *s;
	l->items = rk_calloc(n + 1, sizeof(*l->items));
	if (!l->items)
		return RK_ENOMEM;
	while (set && (size_t)l->nitems < n &&
	       strset_next(set, &pos, &s, &len)) {
		char *c = rk_malloc(len + 1);
		if (!c)
			return RK_ENOMEM;
		memcpy(c, s, len);
		c[len] = '\0';
		l->items[l->nitems++] = c;
	}
	qsort(l->items, (size_t)l->nitems, sizeof(*l->items), cmp_str);
	return 0;
}

static bool def_has_list(const rules_def *def, const char *name)
{
	for (int i = 0; i < def->nlists; i++)
		if (!strcmp(def->lists[i].name, name))
			return true;
	return false;
}

char *svc_rr_encode(const rules_def *def, int64_t version,
		    const rules_lists *lists)
{
	int nl = lists ? rules_lists_count(lists) : 0;
	rules_list_def *v = rk_calloc((size_t)(def->nlists + nl) + 1,
				      sizeof(*v));
	char *out = NULL;
	cJSON *w = NULL;
	if (!v)
		return NULL;
	int k = def->nlists;  /* v[0..def->nlists) are def's, not owned */
	if (def->nlists)
		memcpy(v, def->lists, (size_t)def->nlists * sizeof(*v));
	for (int i = 0; i < nl; i++) {
		const char *name = rules_lists_name(lists, i);
		bool used = false;
		for (int r = 0; r < def->nrules && !used; r++)
			used = refers_to(def->rules[r].when, name);
		if (!used || def_has_list(def, name))
			continue;
		rules_list_def *l = &v[k++];
		l->name = (char *)name;
		if (list_items(rules_lists_get(lists, name), l))
			goto out_free;
	}
	rules_def tmp = *def;
	tmp.lists = v;
	tmp.nlists = k;
	cJSON *file = rules_def_to_json(&tmp);
	w = file ? cJSON_CreateObject() : NULL;
	if (!w) {
		cJSON_Delete(file);
		goto out_free;
	}
	if (!cJSON_AddNumberToObject(w, "version", (double)version) ||
	    !cJSON_AddItemToObject(w, "file", file)) {
		cJSON_Delete(file);
		goto out_free;
	}
	char *txt = cJSON_PrintUnformatted(w);
	if (txt) {
		out = rk_strdup(txt);
		cJSON_free(txt);
	}
out_free:
	cJSON_Delete(w);
	for (int i = def->nlists; i < k; i++) {
		for (int j = 0; j < v[i].nitems; j++)
			rk_free(v[i].items[j]);
		rk_free(v[i].items);
	}
	rk_free(v);
	return out;
}

int svc_rr_decode(const char *text, size_t len, const char *scenario,
		  rules_def **def, int64_t *version, rk_diags *d)
{
	*def = NULL;
	cJSON *w = cJSON_ParseWithLength(text, len);
	if (!w) {
		rk_diags_add(d, NULL, 0, 0, "%s%s: not JSON", SVC_RULES_PREFIX,
			     scenario);
		return RK_ESYNTAX;
	}
	int rc = RK_ESYNTAX;
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(w, "version");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(w, "file");
	if (!cJSON_IsNumber(ver) || ver->valuedouble < 1 ||
	    ver->valuedouble > 9007199254740992.0 ||
	    ver->valuedouble != (double)(int64_t)ver->valuedouble ||
	    !cJSON_IsObject(file)) {
		rk_diags_add(d, NULL, 0, 0,
			     "%s%s: not {\"version\": N >= 1, \"file\": {...}}",
			     SVC_RULES_PREFIX, scenario);
		goto out;
	}
	char *ft = cJSON_PrintUnformatted(file);
	if (!ft) {
		rc = RK_ENOMEM;
		goto out;
	}
	*def = rules_def_parse(ft, strlen(ft), d);
	cJSON_free(ft);
	if (!*def)
		goto out;
	if (strcmp((*def)->scenario, scenario)) {
		rk_diags_add(d, NULL, 0, 0, "%s%s holds scenario '%s'",
			     SVC_RULES_PREFIX, scenario, (*def)->scenario);
		rules_def_free(*def);
		*def = NULL;
		goto out;
	}
	*version = (int64_t)ver->valuedouble;
	rc = 0;
out:
	cJSON_Delete(w);
	return rc;
}

char *svc_rr_keys_encode(const store_key *k, int n)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = o ? cJSON_AddArrayToObject(o, "keys") : NULL;
	bool ok = a != NULL;
	for (int i = 0; ok && i < n; i++) {
		cJSON *x = cJSON_CreateObject();
		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			ok = false;
			break;
		}
		ok = cJSON_AddNumberToObject(x, "id", (double)k[i].id) &&
		     (k[i].name ? cJSON_AddStringToObject(x, "name", k[i].name)
				: cJSON_AddNullToObject(x, "name")) &&
		     cJSON_AddStringToObject(x, "role", k[i].role) &&
		     cJSON_AddStringToObject(x, "hash", k[i].hash) &&
		     cJSON_AddBoolToObject(x, "revoked", k[i].revoked);
	}
	char *txt = ok ? cJSON_PrintUnformatted(o) : NULL, *out = NULL;
	if (txt) {
		out = rk_strdup(txt);
		cJSON_free(txt);
	}
	cJSON_Delete(o);
	return out;
}

svc_keys *svc_rr_keys_decode(const char *text, size_t len, char *err,
			     size_t errlen)
{
	cJSON *o = cJSON_ParseWithLength(text, len);
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "keys");
	svc_keys *out = NULL;
	store_key *v = NULL;
	int n = 0;
	if (!cJSON_IsArray(a)) {
		snprintf(err, errlen, SVC_KEYS_KEY ": not {\"keys\": [...]}");
		goto out;
	}
	v = rk_calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	const cJSON *x;
	cJSON_ArrayForEach(x, a) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "id");
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(x, "name");
		const char *role = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(x, "role"));
		const char *hash = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(x, "hash"));
		const cJSON *rev = cJSON_GetObjectItemCaseSensitive(x,
								    "revoked");
		if (!cJSON_IsNumber(id) || !role || !hash ||
		    (strcmp(role, "admin") && strcmp(role, "score")) ||
		    strlen(hash) != 64 || !cJSON_IsBool(rev) ||
		    (nm && !cJSON_IsNull(nm) && !cJSON_IsString(nm))) {
			snprintf(err, errlen, SVC_KEYS_KEY ": key %d malformed",
				 n);
			goto out;
		}
		store_key *k = &v[n++];
		k->id = (int64_t)id->valuedouble;
		k->name = cJSON_IsString(nm) ? nm->valuestring : NULL;
		snprintf(k->role, sizeof(k->role), "%s", role);
		snprintf(k->hash, sizeof(k->hash), "%s", hash);
		k->revoked = cJSON_IsTrue(rev);
	}
	out = svc_keys_new(v, n, err, errlen);
out:
	rk_free(v);
	cJSON_Delete(o);
	return out;
}

/* ---- commands ---- */

/* A growing list of commands for one pipeline. Arguments are borrowed
 * except the key names, which strs owns. */
struct cmds {
	const char **argv[2048];
	int argc[2048];
	const char *args[8192];
	char *strs[2048];
	int n, nargs, nstrs;
	bool full;
};

static void cmd(struct cmds *c, int argc, const char *const *args)
{
	if (c->n == (int)RK_ARRAY_LEN(c->argv) ||
	    c->nargs + argc > (int)RK_ARRAY_LEN(c->args)) {
		c->full = true;
		return;
	}
	c->argv[c->n] = &c->args[c->nargs];
	c->argc[c->n++] = argc;
	for (int i = 0; i < argc; i++)
		c->args[c->nargs++] = args[i];
}

/* "riskd:rules:" + name, owned by c (NULL when out of memory/room). */
static const char *key_of(struct cmds *c, const char *name)
{
	size_t n = sizeof(SVC_RULES_PREFIX) + strlen(name);
	char *k = c->nstrs < (int)RK_ARRAY_LEN(c->strs) ? rk_malloc(n) : NULL;
	if (!k) {
		c->full = true;
		return NULL;
	}
	snprintf(k, n, SVC_RULES_PREFIX "%s", name);
	c->strs[c->nstrs++] = k;
	return k;
}

static void cmds_cleanup(struct cmds *c)
{
	for (int i = 0; i < c->nstrs; i++)
		rk_free(c->strs[i]);
}

/* Runs c (n >= 1); replies freed. RK_EIO when one is an error reply. */
static int run(struct rg_t *rg, struct cmds *c, int64_t deadline_us,
	       char *err, size_t errlen)
{
	if (c->full) {
		snprintf(err, errlen, "too many scenarios or out of memory");
		return RK_ENOMEM;
	}
	redisReply **rep = rk_calloc((size_t)c->n, sizeof(*rep));
	if (!rep) {
		snprintf(err, errlen, "out of memory");
		return RK_ENOMEM;
	}
	int rc = rg_exec(rg, c->n, c->argv, NULL, c->argc, rep, deadline_us,
			 NULL);
	if (rc)
		snprintf(err, errlen, "redis: %s", rk_strerror(rc));
	for (int i = 0; !rc && i < c->n; i++)
		if (rep[i]->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "redis: %s", rep[i]->str);
			rc = RK_EIO;
		}
	for (int i = 0; i < c->n; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	rk_free(rep);
	return rc;
}

/* ---- publishing ---- */

static bool among(const svc_rr_item *items, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(items[i].name, name))
			return true;
	return false;
}

/* An index member that names a scenario no longer served: it leaves the
 * index and its key goes (never the sentinel). */
static bool gone(const redisReply *x, const svc_rr_item *items, int n)
{
	return x->type == REDIS_REPLY_STRING &&
	       strcmp(x->str, SVC_RULES_SENTINEL) && !among(items, n, x->str);
}

int svc_rr_publish(struct rg_t *rg, const svc_rr_item *items, int n,
		   const char *keys, int64_t deadline_us, char *err,
		   size_t errlen)
{
	const char *argv[] = {"SMEMBERS", SVC_RULES_INDEX};
	const char **pargv = argv;
	int argc = 2;
	redisReply *idx = NULL;
	int rc = rg_exec(rg, 1, &pargv, NULL, &argc, &idx, deadline_us, NULL);
	if (rc) {
		snprintf(err, errlen, "redis: %s", rk_strerror(rc));
		return rc;
	}
	if (idx->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errlen, "redis: SMEMBERS " SVC_RULES_INDEX
			 " answered type %d", idx->type);
		freeReplyObject(idx);
		return RK_EIO;
	}
	struct cmds *c = rk_calloc(1, sizeof(*c));
	if (!c) {
		freeReplyObject(idx);
		snprintf(err, errlen, "out of memory");
		return RK_ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		if (!strcmp(items[i].name, "index"))
			continue;  /* would be the index's key */
		const char *a[] = {"SET", key_of(c, items[i].name),
				   items[i].value};
		cmd(c, 3, a);
	}
	/* the sentinel keeps the index in existence with no scenario in it,
	 * so loading instances tell "none served" from "nothing published" */
	const char *sentinel[] = {"SADD", SVC_RULES_INDEX, SVC_RULES_SENTINEL};
	cmd(c, 3, sentinel);
	for (int i = 0; i < n; i++) {
		const char *a[] = {"SADD", SVC_RULES_INDEX, items[i].name};
		if (strcmp(items[i].name, "index"))
			cmd(c, 3, a);
	}
	for (size_t i = 0; i < idx->elements; i++) {
		const char *name = idx->element[i]->str;
		if (!gone(idx->element[i], items, n))
			continue;
		const char *srem[] = {"SREM", SVC_RULES_INDEX, name};
		const char *del[] = {"DEL", key_of(c, name)};
		cmd(c, 3, srem);
		cmd(c, 2, del);
	}
	const char *setk[] = {"SET", SVC_KEYS_KEY, keys};
	const char *delk[] = {"DEL", SVC_KEYS_KEY};
	if (keys)
		cmd(c, 3, setk);
	else
		cmd(c, 2, delk);
	for (int i = 0; i < n; i++) {
		const char *a[] = {"PUBLISH", SVC_RULES_CHANNEL,
				   items[i].name};
		if (strcmp(items[i].name, "index"))
			cmd(c, 3, a);
	}
	for (size_t i = 0; i < idx->elements; i++) {
		const char *a[] = {"PUBLISH", SVC_RULES_CHANNEL,
				   idx->element[i]->str};
		if (gone(idx->element[i], items, n))
			cmd(c, 3, a);
	}
	rc = run(rg, c, deadline_us, err, errlen);
	cmds_cleanup(c);
	rk_free(c);
	freeReplyObject(idx);
	return rc;
}

/* ---- reading ---- */

int svc_rr_index_exists(struct rg_t *rg, int64_t deadline_us)
{
	const char *argv[] = {"EXISTS", SVC_RULES_INDEX};
	const char **pargv = argv;
	int argc = 2;
	redisReply *rep = NULL;
	int rc = rg_exec(rg, 1, &pargv, NULL, &argc, &rep, deadline_us, NULL);
	if (rc)
		return rc;
	rc = rep->type == REDIS_REPLY_INTEGER ? rep->integer > 0 : RK_EIO;
	freeReplyObject(rep);
	return rc;
}

void svc_rr_read_cleanup(svc_rr_read *r)
{
	for (int i = 0; i < r->n; i++) {
		rk_free(r->names[i]);
		rk_free(r->values[i]);
	}
	rk_free(r->names);
	rk_free(r->values);
	rk_free(r->lens);
	rk_free(r->keys);
	memset(r, 0, sizeof(*r));
}

/* A copy of a bulk-string reply into *out (NULL for nil). */
static int take_str(const redisReply *x, char **out, size_t *len)
{
	*out = NULL;
	if (len)
		*len = 0;
	if (x->type == REDIS_REPLY_NIL)
		return 0;
	if (x->type != REDIS_REPLY_STRING)
		return RK_EIO;
	if (!(*out = rk_malloc(x->len + 1)))
		return RK_ENOMEM;
	memcpy(*out, x->str, x->len);
	(*out)[x->len] = '\0';
	if (len)
		*len = x->len;
	return 0;
}

static int alloc_names(svc_rr_read *r, size_t n)
{
	r->names = rk_calloc(n + 1, sizeof(*r->names));
	r->values = rk_calloc(n + 1, sizeof(*r->values));
	r->lens = rk_calloc(n + 1, sizeof(*r->lens));
	return r->names && r->values && r->lens ? 0 : RK_ENOMEM;
}

/* `one`: EXISTS index, SISMEMBER, GET its key, GET the key table. */
static int fetch_one(struct rg_t *rg, const char *one, int64_t deadline_us,
		     svc_rr_read *out)
{
	struct cmds *c = rk_calloc(1, sizeof(*c));
	if (!c)
		return RK_ENOMEM;
	const char *a0[] = {"EXISTS", SVC_RULES_INDEX};
	const char *a1[] = {"SISMEMBER", SVC_RULES_INDEX, one};
	const char *a2[] = {"GET", key_of(c, one)};
	const char *a3[] = {"GET", SVC_KEYS_KEY};
	cmd(c, 2, a0);
	cmd(c, 3, a1);
	cmd(c, 2, a2);
	cmd(c, 2, a3);
	redisReply *rep[4] = {0};
	int rc = c->full ? RK_ENOMEM :
			   rg_exec(rg, 4, c->argv, NULL, c->argc, rep,
				   deadline_us, NULL);
	if (!rc && (rep[0]->type != REDIS_REPLY_INTEGER ||
		    rep[1]->type != REDIS_REPLY_INTEGER))
		rc = RK_EIO;
	if (!rc) {
		out->have_index = rep[0]->integer > 0;
		rc = alloc_names(out, 1);
	}
	if (!rc && rep[1]->integer > 0) {
		if (!(out->names[0] = rk_strdup(one)))
			rc = RK_ENOMEM;
		else
			out->n = 1;
		if (!rc)
			rc = take_str(rep[2], &out->values[0], &out->lens[0]);
	}
	if (!rc)
		rc = take_str(rep[3], &out->keys, &out->keyslen);
	for (int i = 0; i < 4; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	cmds_cleanup(c);
	rk_free(c);
	return rc;
}

/* Everything: SMEMBERS + GET the key table, then GET every scenario. */
static int fetch_all(struct rg_t *rg, int64_t deadline_us, svc_rr_read *out)
{
	const char *a0[] = {"SMEMBERS", SVC_RULES_INDEX};
	const char *a1[] = {"GET", SVC_KEYS_KEY};
	const char **argv[] = {a0, a1};
	int argc[] = {2, 2};
	redisReply *rep[2] = {0};
	int rc = rg_exec(rg, 2, argv, NULL, argc, rep, deadline_us, NULL);
	if (rc)
		return rc;
	struct cmds *c = NULL;
	if (rep[0]->type != REDIS_REPLY_ARRAY)
		rc = RK_EIO;
	if (!rc)
		rc = take_str(rep[1], &out->keys, &out->keyslen);
	if (!rc)
		rc = alloc_names(out, rep[0]->elements);
	for (size_t i = 0; !rc && i < rep[0]->elements; i++) {
		const redisReply *x = rep[0]->element[i];
		if (x->type != REDIS_REPLY_STRING ||
		    !strcmp(x->str, SVC_RULES_SENTINEL))
			continue;
		if (!(out->names[out->n] = rk_strdup(x->str)))
			rc = RK_ENOMEM;
		else
			out->n++;
	}
	/* the set exists (an empty set does not in Redis): with only the
	 * sentinel in it, no scenario is served */
	out->have_index = rep[0]->type == REDIS_REPLY_ARRAY &&
			  rep[0]->elements > 0;
	if (!rc && out->n && !(c = rk_calloc(1, sizeof(*c))))
		rc = RK_ENOMEM;
	for (int i = 0; !rc && i < out->n; i++) {
		const char *a[] = {"GET", key_of(c, out->names[i])};
		cmd(c, 2, a);
	}
	redisReply **vals = NULL;
	if (!rc && out->n) {
		if (c->full || !(vals = rk_calloc((size_t)out->n,
						  sizeof(*vals))))
			rc = RK_ENOMEM;
		else
			rc = rg_exec(rg, c->n, c->argv, NULL, c->argc, vals,
				     deadline_us, NULL);
		for (int i = 0; !rc && i < out->n; i++)
			rc = take_str(vals[i], &out->values[i],
				      &out->lens[i]);
		for (int i = 0; vals && i < out->n; i++)
			if (vals[i])
				freeReplyObject(vals[i]);
		rk_free(vals);
	}
	for (int i = 0; i < 2; i++)
		freeReplyObject(rep[i]);
	if (c)
		cmds_cleanup(c);
	rk_free(c);
	return rc;
}

int svc_rr_fetch(struct rg_t *rg, const char *one, int64_t deadline_us,
		 svc_rr_read *out)
{
	memset(out, 0, sizeof(*out));
	int rc = one ? fetch_one(rg, one, deadline_us, out) :
		       fetch_all(rg, deadline_us, out);
	if (rc)
		svc_rr_read_cleanup(out);
	return rc;
}
