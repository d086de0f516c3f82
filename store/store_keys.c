/*
 * store_keys.c - API keys: a key is "rk_" + 43 base64url characters of 32
 * random bytes, shown once at creation; the store keeps only its SHA-256
 * (hex), a short prefix for humans, the role and the revocation time.
 */
#include "store_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

void store_key_hash(const char *key, char out[65])
{
	store_sha256_hex(key, strlen(key), out);
}

static void base64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
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

int store_key_create(store *st, const char *role, const char *name, char **key,
		     int64_t *id)
{
	*key = NULL;
	if (strcmp(role, "score") && strcmp(role, "admin"))
		return store_set_err(st, RK_EINVAL, "role must be score or admin");
	unsigned char raw[32];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return store_set_err(st, RK_EIO, "no randomness for a key");
	char *k = rk_malloc(3 + 44);
	if (!k)
		return store_set_err(st, RK_ENOMEM, "out of memory");
	memcpy(k, "rk_", 3);
	base64url(raw, sizeof(raw), k + 3);
	char hash[65], prefix[12];
	store_key_hash(k, hash);
	snprintf(prefix, sizeof(prefix), "%.10s", k);
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "INSERT INTO api_keys (name, role, prefix, "
			       "hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
			       -1, &q, NULL)) {
		rk_free(k);
		return store_fail(st, "key");
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, store_now());
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		rk_free(k);
		if (rc == SQLITE_CONSTRAINT)
			return store_set_err(st, RK_EEXIST, "a key named '%s' "
					     "exists already", name ? name : "");
		return store_fail(st, "key");
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
	if (sqlite3_prepare_v2(st->db, "SELECT id, name, role, prefix, hash, "
			       "created_at, revoked_at FROM api_keys ORDER BY id",
			       -1, &q, NULL))
		return store_fail(st, "keys");
	int cap = 0, rc = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			store_key *nk = rk_realloc(*out, (size_t)cap * sizeof(**out));
			if (!nk) {
				rc = RK_ENOMEM;
				break;
			}
			*out = nk;
		}
		store_key *k = &(*out)[*n];
		memset(k, 0, sizeof(*k));
		k->id = sqlite3_column_int64(q, 0);
		const unsigned char *nm = sqlite3_column_text(q, 1);
		if (nm && !(k->name = rk_strdup((const char *)nm))) {
			rc = RK_ENOMEM;
			break;
		}
		snprintf(k->role, sizeof(k->role), "%s", sqlite3_column_text(q, 2));
		snprintf(k->prefix, sizeof(k->prefix), "%s", sqlite3_column_text(q, 3));
		snprintf(k->hash, sizeof(k->hash), "%s", sqlite3_column_text(q, 4));
		k->created_at = sqlite3_column_int64(q, 5);
		k->revoked = sqlite3_column_type(q, 6) != SQLITE_NULL;
		(*n)++;
	}
	sqlite3_finalize(q);
	if (rc) {
		store_key_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return store_set_err(st, rc, "out of memory");
	}
	return 0;
}

void store_key_list_free(store_key *k, int n)
{
	for (int i = 0; i < n; i++)
		rk_free(k[i].name);
	rk_free(k);
}

int store_key_revoke(store *st, const char *id_or_name)
{
	char *end;
	long long id = strtoll(id_or_name, &end, 10);
	bool by_id = *id_or_name && !*end;
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, by_id
			       ? "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 "
				 "AND revoked_at IS NULL"
			       : "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 "
				 "AND revoked_at IS NULL", -1, &q, NULL))
		return store_fail(st, "revoke");
	if (by_id)
		sqlite3_bind_int64(q, 1, id);
	else
		sqlite3_bind_text(q, 1, id_or_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "revoke");
	sqlite3_finalize(q);
	if (!rc && sqlite3_changes(st->db) == 0)
		return store_set_err(st, RK_ENOENT, "no active key '%s'", id_or_name);
	return rc;
}
