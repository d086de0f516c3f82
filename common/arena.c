/*
 * arena.c - bump allocator; see arena.h. Blocks are a singly linked list,
 * newest first; a request larger than the block size gets its own block.
 */
#include "arena.h"
#include "rk.h"

#include <string.h>

struct arena_block {
	arena_block *next;
	size_t size;  /* usable bytes in data[] */
	size_t off;   /* bytes used */
	_Alignas(16) unsigned char data[];
};

void arena_init(arena *a, size_t block_size)
{
	a->head = NULL;
	a->block_size = block_size ? block_size : 4096;
	a->used = 0;
}

void arena_cleanup(arena *a)
{
	arena_block *b = a->head;
	while (b) {
		arena_block *n = b->next;
		rk_free(b);
		b = n;
	}
	a->head = NULL;
	a->used = 0;
}

void arena_reset(arena *a)
{
	arena_block *keep = NULL, *b = a->head;
	while (b) {
		arena_block *n = b->next;
		if (!keep || b->size > keep->size) {
			if (keep)
				rk_free(keep);
			keep = b;
		} else {
			rk_free(b);
		}
		b = n;
	}
	if (keep) {
		keep->next = NULL;
		keep->off = 0;
	}
	a->head = keep;
	a->used = 0;
}

void *arena_alloc(arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	arena_block *b = a->head;
	if (!b || b->size - b->off < n) {
		size_t sz = n > a->block_size ? n : a->block_size;
		arena_block *nb = rk_malloc(sizeof(*nb) + sz);
		if (!nb)
			return NULL;
		nb->size = sz;
		nb->off = 0;
		if (b && n > a->block_size && b->size - b->off >= a->block_size / 4) {
			/* Oversized request: keep filling the current block. */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
		}
		b = nb;
	}
	void *p = b->data + b->off;
	b->off += n;
	a->used += n;
	return p;
}

void *arena_calloc(arena *a, size_t n)
{
	void *p = arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *d = arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

size_t arena_footprint(const arena *a)
{
	size_t t = 0;
	for (const arena_block *b = a->head; b; b = b->next)
		t += sizeof(*b) + b->size;
	return t;
}
