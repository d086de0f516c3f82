/*
 * store_keys.c - API keys: a key is "rk_" + 43 base64url characters of 32
 * random bytes, shown once at creation; the store keeps only its SHA-256
 * (hex), a short prefix for humans, the role and the revocation time.
 * riskd's auth (service/auth.c) loads the list and compares hashes.
 */
#include "store_int.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void store_key_hash(const char *key, char out[65])
{
	store_sha256_hex(key, strlen(key), out);
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 6) {
			out[o++] = tab[(acc >> (bits - 6)) & 63];
			bits -= 6;
		}
	}
	if (bits)
		out[o++] = tab[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

/* Printable ASCII without spaces, at most 64, not a number (an id). */
static bool name_ok(const char *name)
{
	size_t n = strlen(name), digits = 0;
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (name[i] <= ' ' || name[i] > '~')
			return false;
		digits += name[i] >= '0' && name[i] <= '9';
	}
	return digits < n;
}

int store_key_create(store *st, const char *role, const char *name, char **key,
		     int64_t *id)
{
	*key = NULL;
	if (!role || (strcmp(role, "score") && strcmp(role, "admin")))
		return store_set_err(st, RK_EINVAL,
				     "role must be score or admin");
	if (name && !name_ok(name))
		return store_set_err(st, RK_EINVAL,
				     "key name '%s': 1 to 64 "
				     "printable characters, not all digits "
				     "(a number names a key id)",
				     name);
	unsigned char raw[32];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return store_set_err(st, RK_EIO, "no randomness for a key");
	char *k = rk_malloc(3 + 44);
	if (!k)
		return store_set_err(st, RK_ENOMEM, "out of memory");
	memcpy(k, "rk_", 3);
	base64url(raw, sizeof(raw), k + 3);
	OPENSSL_cleanse(raw, sizeof(raw));
	char hash[65], prefix[12];
	store_key_hash(k, hash);
	snprintf(prefix, sizeof(prefix), "%.10s", k);
	sqlite3_stmt *q;
	if (store_prepare(st,
			  "INSERT INTO api_keys (name, role, prefix, hash, "
			  "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
			  &q)) {
		rk_free(k);
		return RK_EIO;
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, store_now());
	int s = sqlite3_step(q), rc = 0;
	if (s == SQLITE_CONSTRAINT && name)
		rc = store_set_err(st, RK_EEXIST,
				   "a key named '%s' exists "
				   "already",
				   name);
	else if (s != SQLITE_DONE)
		rc = store_fail(st, "storing the key");
	sqlite3_finalize(q);
	if (rc) {
		OPENSSL_cleanse(k, strlen(k));
		rk_free(k);
		return rc;
	}
	*id = sqlite3_last_insert_rowid(st->db);
	*key = k;
	return 0;
}

int store_key_list(store *st, store_key **out, int *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *q;
	int rc = store_prepare(st,
			       "SELECT id, name, role, prefix, hash, "
			       "created_at, revoked_at FROM api_keys ORDER BY "
			       "id",
			       &q);
	if (rc)
		return rc;
	int cap = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			store_key *nk =
			    rk_realloc(*out, (size_t)cap * sizeof(**out));
			if (!nk) {
				rc = RK_ENOMEM;
				break;
			}
			*out = nk;
		}
		store_key *k = &(*out)[*n];
		memset(k, 0, sizeof(*k));
		(*n)++;
		k->id = sqlite3_column_int64(q, 0);
		const unsigned char *nm = sqlite3_column_text(q, 1);
		if (nm && !(k->name = rk_strdup((const char *)nm))) {
			rc = RK_ENOMEM;
			break;
		}
		snprintf(k->role, sizeof(k->role), "%s",
			 sqlite3_column_text(q, 2));
		snprintf(k->prefix, sizeof(k->prefix), "%s",
			 sqlite3_column_text(q, 3));
		snprintf(k->hash, sizeof(k->hash), "%s",
			 sqlite3_column_text(q, 4));
		k->created_at = sqlite3_column_int64(q, 5);
		k->revoked = sqlite3_column_type(q, 6) != SQLITE_NULL;
	}
	if (rc)
		store_set_err(st, rc, "out of memory");
	else if (s != SQLITE_DONE)
		rc = store_fail(st, "reading the keys");
	sqlite3_finalize(q);
	if (rc) {
		store_key_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_key_list_free(store_key *k, int n)
{
	if (!k)
		return;
	for (int i = 0; i < n; i++)
		rk_free(k[i].name);
	rk_free(k);
}

/* Revokes the unrevoked key matching sql's ?1; *hit = one was. */
static int revoke_where(store *st, const char *sql, const char *arg, bool by_id,
			bool *hit)
{
	sqlite3_stmt *q;
	int rc = store_prepare(st, sql, &q);
	*hit = false;
	if (rc)
		return rc;
	if (by_id)
		sqlite3_bind_int64(q, 1, strtoll(arg, NULL, 10));
	else
		sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	if (!(rc = store_step_done(st, q, "revoking the key")))
		*hit = sqlite3_changes(st->db) > 0;
	return rc;
}

/*
 * A decimal argument is an id; names cannot be all digits (name_ok), so
 * there is no ambiguity. Revoking keeps the row for audit.
 */
int store_key_revoke(store *st, const char *id_or_name)
{
	const char *p = id_or_name;
	while (*p >= '0' && *p <= '9')
		p++;
	bool by_id = *id_or_name && !*p && p - id_or_name <= 18;
	bool hit;
	int rc =
	    revoke_where(st,
			 by_id ? "UPDATE api_keys SET revoked_at = ?2 WHERE "
				 "id = ?1 AND revoked_at IS NULL"
			       : "UPDATE api_keys SET revoked_at = ?2 WHERE "
				 "name = ?1 AND revoked_at IS NULL",
			 id_or_name, by_id, &hit);
	if (!rc && !hit)
		rc = store_set_err(st, RK_ENOENT, "no active key '%s'",
				   id_or_name);
	return rc;
}
