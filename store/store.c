/*
 * store.c - the SQLite rule store's core: open (WAL, foreign keys, busy
 * timeout), migrations by PRAGMA user_version, data_version for change
 * detection, and the small helpers the other store files share (errors,
 * transactions, statements, SHA-256). Versions are in store_versions.c,
 * lists in store_lists.c, API keys in store_keys.c; the DDL is
 * schemas/store.sql, embedded by schema.c.
 */
#include "store_int.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- errors ---- */

int store_fail(store *st, const char *what)
{
	snprintf(st->err, sizeof(st->err), "%s: %s", what,
		 sqlite3_errmsg(st->db));
	return RK_EIO;
}

int store_set_err(store *st, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return code;
}

const char *store_errmsg(const store *st)
{
	return st->err;
}

/* ---- statements and transactions ---- */

int store_exec(store *st, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(st->err, sizeof(st->err), "%s",
			 msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return RK_EIO;
	}
	return 0;
}

int store_prepare(store *st, const char *sql, sqlite3_stmt **q)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, q, NULL) != SQLITE_OK) {
		*q = NULL;
		return store_fail(st, "preparing a statement");
	}
	return 0;
}

int store_step_done(store *st, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, what);
	sqlite3_finalize(q);
	return rc;
}

int store_scalar(store *st, const char *sql, const char *arg, int64_t *v,
		 bool *found)
{
	sqlite3_stmt *q;
	int rc = store_prepare(st, sql, &q);
	*found = false;
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	int s = sqlite3_step(q);
	if (s == SQLITE_ROW) {
		*found = sqlite3_column_type(q, 0) != SQLITE_NULL;
		*v = *found ? sqlite3_column_int64(q, 0) : 0;
	} else if (s != SQLITE_DONE) {
		rc = store_fail(st, "reading the store");
	}
	sqlite3_finalize(q);
	return rc;
}

/*
 * BEGIN IMMEDIATE takes the write lock at once, so two writers (two
 * riskctl runs) serialise on the busy timeout instead of one failing at
 * its first write with SQLITE_BUSY half-way through.
 */
int store_begin(store *st)
{
	return store_exec(st, "BEGIN IMMEDIATE");
}

int store_commit(store *st)
{
	return store_exec(st, "COMMIT");
}

/* Keeps the message of the error that caused the rollback. */
void store_rollback_tx(store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

void store_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 ||
	    len != 32) {
		/* Not reachable with a working libcrypto; never a valid hash.
		 */
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- open and migrate ---- */

store *store_open(const char *path, bool create, char *err, size_t errlen)
{
	struct stat sb;
	if (!create && stat(path, &sb) != 0) {
		snprintf(err, errlen,
			 "%s: no store here (run `riskctl init` "
			 "to create one)",
			 path);
		return NULL;
	}
	store *st = rk_calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto out_close;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	if (store_exec(st, "PRAGMA foreign_keys = ON") ||
	    store_exec(st, "PRAGMA journal_mode = WAL") ||
	    store_exec(st, "PRAGMA synchronous = NORMAL")) {
		snprintf(err, errlen, "%s: %s", path, st->err);
		goto out_close;
	}
	if (create && store_migrate(st)) {
		snprintf(err, errlen, "%s: %s", path, st->err);
		goto out_close;
	}
	int v = store_schema_version(st);
	if (v == 0) {
		snprintf(err, errlen,
			 "%s: not a riskd store yet (run `riskctl "
			 "init` to create one)",
			 path);
		goto out_close;
	}
	if (v < STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: schema version %d, this program needs "
			 "%d (run `riskctl init` to migrate)",
			 path, v, STORE_SCHEMA_VERSION);
		goto out_close;
	}
	if (v > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: schema version %d is newer than this "
			 "program's (%d); use a newer build",
			 path, v, STORE_SCHEMA_VERSION);
		goto out_close;
	}
	return st;
out_close:
	store_close(st);
	return NULL;
}

void store_close(store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	rk_free(st);
}

/* -1 when the pragma cannot be read (not a database, locked...). */
int store_schema_version(store *st)
{
	sqlite3_stmt *q;
	int v = -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL))
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

/*
 * Migration steps: migrations[i] brings user_version from i - 1 to i.
 * Schema version 2 is one more entry (its SQL, usually ALTER TABLE or
 * CREATE ..., in schemas/ and embedded like store.sql) plus the bump of
 * STORE_SCHEMA_VERSION. Steps never change what an older step created in
 * a way older programs would misread: they refuse newer stores anyway.
 */
static const char *const migrations[] = {
    NULL,
    store_schema_sql,
};

_Static_assert(RK_ARRAY_LEN(migrations) == STORE_SCHEMA_VERSION + 1,
	       "one migration step per schema version");

int store_migrate(store *st)
{
	int v = store_schema_version(st);
	if (v < 0)
		return store_fail(st, "reading the schema version");
	if (v > STORE_SCHEMA_VERSION)
		return store_set_err(st, RK_ESTATE,
				     "schema version %d is newer "
				     "than this program's (%d)",
				     v, STORE_SCHEMA_VERSION);
	for (int step = v + 1; step <= STORE_SCHEMA_VERSION; step++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
			 step);
		int rc = store_begin(st);
		if (rc)
			return rc;
		/* A concurrent init may have done this step meanwhile. */
		if (store_schema_version(st) >= step) {
			store_rollback_tx(st);
			continue;
		}
		if ((rc = store_exec(st, migrations[step])) ||
		    (rc = store_exec(st, pragma)) || (rc = store_commit(st))) {
			store_rollback_tx(st);
			return rc;
		}
	}
	return 0;
}

int store_data_version(store *st, int64_t *v)
{
	sqlite3_stmt *q;
	int rc = store_prepare(st, "PRAGMA data_version", &q);
	if (rc)
		return rc;
	if (sqlite3_step(q) == SQLITE_ROW)
		*v = sqlite3_column_int64(q, 0);
	else
		rc = store_fail(st, "reading data_version");
	sqlite3_finalize(q);
	return rc;
}
