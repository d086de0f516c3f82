/*
 * strset.h - an immutable-after-build hash set of byte strings (XXH3,
 * open addressing, linear probing). Used for @lists and constant list
 * literals, so `x in @blocked_ips` is one hash and usually one compare.
 * Neighbours: rk.h.
 */
#ifndef RK_STRSET_H
#define RK_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strset strset;

strset *strset_new(void);
void strset_free(strset *s);
/* Adds a copy of the bytes; 0, or RK_ENOMEM. Duplicates are ignored. */
int strset_add(strset *s, const char *str, size_t len);
bool strset_has(const strset *s, const char *str, size_t len);
size_t strset_count(const strset *s);
/* Bytes the set holds, for memory accounting. */
size_t strset_footprint(const strset *s);
/* Iterates members in unspecified order: *pos starts at 0. */
bool strset_next(const strset *s, size_t *pos, const char **str, size_t *len);

uint64_t rk_hash(const void *p, size_t n);

#endif
