/*
 * store_int.h - private parts of the store shared by its files: store.c
 * (open, migrate, the helpers below), store_versions.c, store_lists.c,
 * store_keys.c and schema.c (the embedded DDL). Nothing outside store/
 * includes it; the contract is store.h.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include <sqlite3.h>

#include "../common/rk.h"
#include "store.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_BUSY_TIMEOUT_MS 5000

struct store {
	sqlite3 *db;
	char err[512];
};

/* schemas/store.sql, NUL-terminated (schema.c). */
extern const char store_schema_sql[];

/* Records the SQLite error for store_errmsg and returns RK_EIO. */
int store_fail(store *st, const char *what);
/* Sets a message and returns code. */
int store_set_err(store *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int store_exec(store *st, const char *sql);
/* Prepares sql; RK_EIO with the message on failure (*q = NULL). */
int store_prepare(store *st, const char *sql, sqlite3_stmt **q);
/* Steps q once expecting SQLITE_DONE, then finalizes it. */
int store_step_done(store *st, sqlite3_stmt *q, const char *what);
/*
 * Runs sql with ?1 = arg and reads the first column of the first row:
 * *found is false when there is no row or it is NULL. RK_EIO on error.
 */
int store_scalar(store *st, const char *sql, const char *arg, int64_t *v,
		 bool *found);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (a no-op outside a transaction). */
int store_begin(store *st);
int store_commit(store *st);
void store_rollback_tx(store *st);
int64_t store_now(void);
void store_sha256_hex(const void *data, size_t n, char out[65]);
/* Inside a transaction: list l becomes exactly l->items (store_lists.c). */
int store_list_replace_tx(store *st, const rules_list_def *l);
/* Whether name can be a list name, as `@name` in a rule reads it. */
bool store_list_name_ok(const char *name);

#endif
