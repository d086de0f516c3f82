/*
 * arena.h - bump allocator for memory that dies all at once: a compiled
 * rule set's AST, a request's scratch space. arena_reset keeps the first
 * block so a reused arena stops allocating once warm. Neighbours: rk.h.
 */
#ifndef RK_ARENA_H
#define RK_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
	arena_block *head;   /* current block; older blocks follow ->next */
	size_t block_size;   /* size of the next ordinary block */
	size_t used;         /* bytes handed out since init/reset */
} arena;

/* block_size 0 picks 4 KiB. Allocates nothing until the first alloc. */
void arena_init(arena *a, size_t block_size);
/* Frees every block. The arena may be reused after arena_init. */
void arena_cleanup(arena *a);
/* Drops all allocations but keeps the largest block for reuse. */
void arena_reset(arena *a);
/* 16-byte aligned memory, or NULL on allocation failure. */
void *arena_alloc(arena *a, size_t n);
void *arena_calloc(arena *a, size_t n);
char *arena_strndup(arena *a, const char *s, size_t n);
/* Total bytes of blocks the arena holds (for memory accounting). */
size_t arena_footprint(const arena *a);

#endif
