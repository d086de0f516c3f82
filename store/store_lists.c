/*
 * store_lists.c - named lists in the store: add and remove items, read a
 * list, and load every list as the compiler's rules_lists. Lists change
 * apart from rule versions; an import replaces the lists its file carries.
 */
#include "store_int.h"

#include <string.h>

static int touch(store *st, const char *name)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "INSERT INTO lists (name, updated_at) VALUES "
			       "(?1, ?2) ON CONFLICT(name) DO UPDATE SET "
			       "updated_at = ?2", -1, &q, NULL))
		return store_fail(st, "list");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "list");
	sqlite3_finalize(q);
	return rc;
}

static int items(store *st, const char *sql, const char *name,
		 const char *const *v, int n)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL))
		return store_fail(st, "list items");
	int rc = 0;
	for (int i = 0; i < n && !rc; i++) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 2, v[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = store_fail(st, "list items");
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return rc;
}

int store_list_replace_tx(store *st, const rules_list_def *l)
{
	int rc = touch(st, l->name);
	if (rc)
		return rc;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM list_items WHERE list = ?1",
			       -1, &q, NULL))
		return store_fail(st, "list");
	sqlite3_bind_text(q, 1, l->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "list");
	sqlite3_finalize(q);
	return rc ? rc : items(st, "INSERT OR IGNORE INTO list_items (list, item) "
			       "VALUES (?1, ?2)", l->name,
			       (const char *const *)l->items, l->nitems);
}

static int change(store *st, const char *name, const char *const *v, int n,
		  bool add)
{
	int rc = store_begin(st);
	if (rc)
		return rc;
	if (!add) {
		sqlite3_stmt *q;
		bool exists = false;
		if (!sqlite3_prepare_v2(st->db, "SELECT 1 FROM lists WHERE name = ?1",
					-1, &q, NULL)) {
			sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
			exists = sqlite3_step(q) == SQLITE_ROW;
			sqlite3_finalize(q);
		}
		if (!exists) {
			store_rollback_tx(st);
			return store_set_err(st, RK_ENOENT, "no list '%s'", name);
		}
	}
	rc = touch(st, name);
	if (!rc)
		rc = items(st, add ? "INSERT OR IGNORE INTO list_items (list, item) "
				     "VALUES (?1, ?2)"
				   : "DELETE FROM list_items WHERE list = ?1 AND item = ?2",
			   name, v, n);
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
	for (int i = 0; i < n; i++)
		rk_free(v[i]);
	rk_free(v);
}

int store_list_items(store *st, const char *name, char ***out, int *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM lists WHERE name = ?1", -1, &q, NULL))
		return store_fail(st, "list");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	bool exists = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	if (!exists)
		return store_set_err(st, RK_ENOENT, "no list '%s'", name);
	if (sqlite3_prepare_v2(st->db, "SELECT item FROM list_items WHERE list = ?1 "
			       "ORDER BY item", -1, &q, NULL))
		return store_fail(st, "list");
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	int cap = 0, rc = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = rk_realloc(*out, (size_t)cap * sizeof(char *));
			if (!nv) {
				rc = RK_ENOMEM;
				break;
			}
			*out = nv;
		}
		if (!((*out)[*n] = rk_strdup((const char *)sqlite3_column_text(q, 0)))) {
			rc = RK_ENOMEM;
			break;
		}
		(*n)++;
	}
	sqlite3_finalize(q);
	if (rc) {
		store_strv_free(*out, *n);
		*out = NULL;
		*n = 0;
		return store_set_err(st, rc, "out of memory");
	}
	return 0;
}

int store_load_lists(store *st, rules_lists **out)
{
	*out = NULL;
	rules_lists *l = rules_lists_new();
	if (!l)
		return store_set_err(st, RK_ENOMEM, "out of memory");
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "SELECT l.name, i.item FROM lists l LEFT JOIN "
			       "list_items i ON i.list = l.name ORDER BY l.name",
			       -1, &q, NULL)) {
		rules_lists_free(l);
		return store_fail(st, "lists");
	}
	int rc = 0;
	char cur[256] = "";
	strset *set = NULL;
	while (!rc && sqlite3_step(q) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(q, 0);
		if (!set || strcmp(cur, name)) {
			if (set) {
				/* Ownership passes even on failure. */
				rc = rules_lists_put(l, cur, set);
				set = NULL;
				if (rc)
					break;
			}
			snprintf(cur, sizeof(cur), "%s", name);
			if (!(set = strset_new())) {
				rc = RK_ENOMEM;
				break;
			}
		}
		if (sqlite3_column_type(q, 1) != SQLITE_NULL)
			rc = strset_add(set, (const char *)sqlite3_column_text(q, 1),
					(size_t)sqlite3_column_bytes(q, 1));
	}
	sqlite3_finalize(q);
	if (set) {
		if (rc)
			strset_free(set);
		else
			rc = rules_lists_put(l, cur, set);
	}
	if (rc) {
		rules_lists_free(l);
		return store_set_err(st, rc, "out of memory");
	}
	*out = l;
	return 0;
}
