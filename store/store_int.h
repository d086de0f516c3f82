/*
 * store_int.h - private parts of the store shared by its files:
 * store.c (open, migrate, versions), store_lists.c, store_keys.c.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <sqlite3.h>

#include "../common/rk.h"
#include "store.h"

#define STORE_SCHEMA_VERSION 1

struct store {
	sqlite3 *db;
	char err[512];
};

extern const char store_schema_sql[];

/* Records the SQLite error for store_errmsg and returns RK_EIO. */
int store_fail(store *st, const char *what);
/* Sets a message and returns code. */
int store_set_err(store *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int store_exec(store *st, const char *sql);
int store_begin(store *st);
int store_commit(store *st);
void store_rollback_tx(store *st);
int64_t store_now(void);
/* Inside a transaction: list l's items become exactly l->items
 * (store_lists.c). */
int store_list_replace_tx(store *st, const rules_list_def *l);
void store_sha256_hex(const void *data, size_t n, char out[65]);

#endif
