/*
 * store_lists.c - named lists in the store: add and remove items, read a
 * list, and load every list as the compiler's rules_lists. Lists change
 * apart from rule versions (a running riskd sees a change on its next
 * reload); an import replaces the lists its file carries, through
 * store_list_replace_tx inside store_versions.c's transaction.
 */
#include "store_int.h"

#include <string.h>

bool store_list_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > RULES_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_';
		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* Creates list name if needed and stamps its change time. */
static int touch(store *st, const char *name)
{
	sqlite3_stmt *q;
	int rc =
	    store_prepare(st,
			  "INSERT INTO lists (name, updated_at) "
			  "VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET "
			  "updated_at = ?2",
			  &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	return store_step_done(st, q, "storing the list");
}

/* Runs sql (?1 = list, ?2 = item) once per item. */
static int each_item(store *st, const char *sql, const char *name,
		     const char *const *v, int n)
{
	sqlite3_stmt *q;
	int rc = store_prepare(st, sql, &q);
	for (int i = 0; i < n && !rc; i++) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, v[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = store_fail(st, "storing the list items");
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return rc;
}

static const char add_sql[] =
    "INSERT OR IGNORE INTO list_items (list, item) VALUES (?1, ?2)";
static const char remove_sql[] =
    "DELETE FROM list_items WHERE list = ?1 AND item = ?2";

int store_list_replace_tx(store *st, const rules_list_def *l)
{
	if (!store_list_name_ok(l->name))
		return store_set_err(st, RK_EINVAL, "'%s' is not a list name",
				     l->name);
	int rc = touch(st, l->name);
	if (rc)
		return rc;
	sqlite3_stmt *q;
	if ((rc = store_prepare(st, "DELETE FROM list_items WHERE list = ?1",
				&q)))
		return rc;
	sqlite3_bind_text(q, 1, l->name, -1, SQLITE_STATIC);
	if ((rc = store_step_done(st, q, "replacing the list")))
		return rc;
	return each_item(st, add_sql, l->name, (const char *const *)l->items,
			 l->nitems);
}

static int list_exists(store *st, const char *name, bool *exists)
{
	int64_t one;
	return store_scalar(st, "SELECT 1 FROM lists WHERE name = ?1", name,
			    &one, exists);
}

/* add: creates the list if needed; remove: the list must exist. */
static int change(store *st, const char *name, const char *const *v, int n,
		  bool add)
{
	if (!store_list_name_ok(name))
		return store_set_err(st, RK_EINVAL,
				     "'%s' is not a list name "
				     "([A-Za-z_][A-Za-z0-9_]*, at most %d)",
				     name, RULES_MAX_ID);
	int rc = store_begin(st);
	if (rc)
		return rc;
	bool exists = true;
	if (!add && !(rc = list_exists(st, name, &exists)) && !exists)
		rc = store_set_err(st, RK_ENOENT, "no list '%s'", name);
	if (!rc && !(rc = touch(st, name)))
		rc = each_item(st, add ? add_sql : remove_sql, name, v, n);
	if (rc || (rc = store_commit(st)))
		store_rollback_tx(st);
	return rc;
}

int store_list_add(store *st, const char *name, const char *const *v, int n)
{
	return change(st, name, v, n, true);
}

int store_list_remove(store *st, const char *name, const char *const *v, int n)
{
	return change(st, name, v, n, false);
}

void store_strv_free(char **v, int n)
{
	if (!v)
		return;
	for (int i = 0; i < n; i++)
		rk_free(v[i]);
	rk_free(v);
}

int store_list_items(store *st, const char *name, char ***out, int *n)
{
	*out = NULL;
	*n = 0;
	bool exists;
	int rc = list_exists(st, name, &exists);
	if (rc)
		return rc;
	if (!exists)
		return store_set_err(st, RK_ENOENT, "no list '%s'", name);
	sqlite3_stmt *q;
	if ((rc = store_prepare(st,
				"SELECT item FROM list_items WHERE list = "
				"?1 ORDER BY item",
				&q)))
		return rc;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int cap = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv =
			    rk_realloc(*out, (size_t)cap * sizeof(char *));
			if (!nv) {
				rc = RK_ENOMEM;
				break;
			}
			*out = nv;
		}
		const char *item = (const char *)sqlite3_column_text(q, 0);
		if (!((*out)[*n] = rk_strdup(item))) {
			rc = RK_ENOMEM;
			break;
		}
		(*n)++;
	}
	if (rc)
		store_set_err(st, rc, "out of memory");
	else if (s != SQLITE_DONE)
		rc = store_fail(st, "reading the list");
	sqlite3_finalize(q);
	if (rc) {
		store_strv_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* Rows come ordered by list name: one strset per run of equal names. */
int store_load_lists(store *st, rules_lists **out)
{
	*out = NULL;
	rules_lists *l = rules_lists_new();
	if (!l)
		return store_set_err(st, RK_ENOMEM, "out of memory");
	sqlite3_stmt *q;
	int rc = store_prepare(st,
			       "SELECT l.name, i.item FROM lists l LEFT "
			       "JOIN list_items i ON i.list = l.name ORDER BY "
			       "l.name",
			       &q);
	if (rc) {
		rules_lists_free(l);
		return rc;
	}
	char *cur = NULL;
	strset *set = NULL;
	int s = SQLITE_DONE;
	while (!rc && (s = sqlite3_step(q)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		if (!cur || strcmp(cur, name)) {
			if (set) /* takes set, even when it fails */
				rc = rules_lists_put(l, cur, set);
			set = NULL;
			rk_free(cur);
			cur = NULL;
			if (rc)
				break;
			if (!(cur = rk_strdup(name)) || !(set = strset_new())) {
				rc = RK_ENOMEM;
				break;
			}
		}
		if (sqlite3_column_type(q, 1) != SQLITE_NULL)
			rc = strset_add(set,
					(const char *)sqlite3_column_text(q, 1),
					(size_t)sqlite3_column_bytes(q, 1));
	}
	if (!rc && s != SQLITE_DONE)
		rc = store_fail(st, "reading the lists");
	sqlite3_finalize(q);
	if (set) {
		if (rc)
			strset_free(set);
		else
			rc = rules_lists_put(l, cur, set);
	}
	rk_free(cur);
	if (rc) {
		if (rc != RK_EIO)
			store_set_err(st, rc, "loading the lists: %s",
				      rk_strerror(rc));
		rules_lists_free(l);
		return rc;
	}
	*out = l;
	return 0;
}
