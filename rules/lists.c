/*
 * lists.c - named lists (@blocked_ips): a reference-counted map from name
 * to string set, kept sorted by name. A rules_lists is built by one
 * thread (put, put_def), then shared read-only by the compiled sets bound
 * to it: once it holds a second reference it is immutable (put refuses),
 * so a change of any list builds a new one and recompiles and readers
 * never see a list change under them. Neighbours: strset.c (the sets),
 * resolve.c (binds @name), set.c, store/store_lists.c.
 */
#include "rules_int.h"

#include <stdlib.h>
#include <string.h>

struct rules_lists {
	atomic_int refs;
	char **names;    /* sorted by name */
	strset **sets;
	int n, cap;
};

rules_lists *rules_lists_new(void)
{
	rules_lists *l = rk_calloc(1, sizeof(*l));
	if (l)
		atomic_init(&l->refs, 1);
	return l;
}

rules_lists *rules_lists_ref(rules_lists *l)
{
	if (l)
		atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
	return l;
}

void rules_lists_free(rules_lists *l)
{
	if (!l || atomic_fetch_sub_explicit(&l->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < l->n; i++) {
		rk_free(l->names[i]);
		strset_free(l->sets[i]);
	}
	rk_free(l->names);
	rk_free(l->sets);
	rk_free(l);
}

/* Index of name, or -(insertion point) - 1. */
static int find(const rules_lists *l, const char *name)
{
	int lo = 0, hi = l->n;
	while (lo < hi) {
		int mid = (lo + hi) / 2, c = strcmp(l->names[mid], name);
		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -lo - 1;
}

/*
 * Takes ownership of set in every case: on error it is freed. Refuses
 * (RK_ESTATE) once l is shared, since readers hold no lock.
 */
int rules_lists_put(rules_lists *l, const char *name, strset *set)
{
	if (!l || !name || !set) {
		strset_free(set);
		return RK_EINVAL;
	}
	if (atomic_load_explicit(&l->refs, memory_order_acquire) > 1) {
		strset_free(set);
		return RK_ESTATE;
	}
	int i = find(l, name);
	if (i >= 0) {
		strset_free(l->sets[i]);
		l->sets[i] = set;
		return 0;
	}
	i = -i - 1;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 8;
		char **nn = rk_realloc(l->names, (size_t)cap * sizeof(char *));
		if (!nn)
			goto out_oom;
		l->names = nn;
		strset **ns = rk_realloc(l->sets,
					 (size_t)cap * sizeof(strset *));
		if (!ns)
			goto out_oom;
		l->sets = ns;
		l->cap = cap;
	}
	char *copy = rk_strdup(name);
	if (!copy)
		goto out_oom;
	size_t tail = (size_t)(l->n - i);
	memmove(l->names + i + 1, l->names + i, tail * sizeof(char *));
	memmove(l->sets + i + 1, l->sets + i, tail * sizeof(strset *));
	l->names[i] = copy;
	l->sets[i] = set;
	l->n++;
	return 0;
out_oom:
	strset_free(set);
	return RK_ENOMEM;
}

const strset *rules_lists_get(const rules_lists *l, const char *name)
{
	if (!l || !name)
		return NULL;
	int i = find(l, name);
	return i >= 0 ? l->sets[i] : NULL;
}

/*
 * One put per list of def, in file order. On error l may already hold
 * some of them: callers drop l (it was not shared yet).
 */
int rules_lists_put_def(rules_lists *l, const rules_def *def)
{
	if (!l || !def)
		return RK_EINVAL;
	for (int i = 0; i < def->nlists; i++) {
		const rules_list_def *ld = &def->lists[i];
		strset *s = strset_new();
		if (!s)
			return RK_ENOMEM;
		for (int k = 0; k < ld->nitems; k++)
			if (strset_add(s, ld->items[k], strlen(ld->items[k]))) {
				strset_free(s);
				return RK_ENOMEM;
			}
		int rc = rules_lists_put(l, ld->name, s);
		if (rc)
			return rc;
	}
	return 0;
}

int rules_lists_count(const rules_lists *l)
{
	return l ? l->n : 0;
}

/* The i-th name in byte order (strcmp), for 0 <= i < count. */
const char *rules_lists_name(const rules_lists *l, int i)
{
	return l && i >= 0 && i < l->n ? l->names[i] : NULL;
}
