/*
 * resp.h - a Redis command encoded (RESP: "*<argc>\r\n" then "$<len>\r\n
 * <bytes>\r\n" per argument) straight into a hiredis context's output
 * buffer. hiredis's own redisAppendCommandArgv builds the same bytes
 * through sds formatting at ~155 ns a command; this is ~20 ns, and a
 * score with Redis appends about fifteen commands (docs/PERFORMANCE.md).
 * Neighbours: velocity_redis.c and service/fetch.c, the request path's
 * users; the rest keep hiredis's functions.
 */
#ifndef RK_RESP_H
#define RK_RESP_H

#include <stddef.h>

struct redisContext;

/* Appends the command argv[0..argc) (len[i] bytes each, binary-safe) to
 * c's output buffer; nothing is sent. REDIS_OK, or REDIS_ERR when out of
 * memory (the buffer is then as before; c->err is set only when hiredis
 * itself failed to grow it). */
int resp_append(struct redisContext *c, int argc, const char *const *argv,
		const size_t *len);

#endif
