/*
 * resp.c - RESP encoding of one command into a hiredis context; see
 * resp.h.
 */
#include "resp.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "../common/rk.h"

/* Decimal digits of v at p; returns the end. */
static char *put_u(char *p, size_t v)
{
	char t[24];
	int n = 0;
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = t[--n];
	return p;
}

static char *put_head(char *p, char c, size_t v)
{
	*p++ = c;
	p = put_u(p, v);
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

int resp_append(struct redisContext *c, int argc, const char *const *argv,
		const size_t *len)
{
	char stack[1024];
	size_t need = 24 + 3;
	for (int i = 0; i < argc; i++)
		need += 24 + 3 + len[i] + 2;
	char *buf = need <= sizeof(stack) ? stack : rk_malloc(need);
	if (!buf)
		return REDIS_ERR;
	char *p = put_head(buf, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		p = put_head(p, '$', len[i]);
		memcpy(p, argv[i], len[i]);
		p += len[i];
		*p++ = '\r';
		*p++ = '\n';
	}
	int rc = redisAppendFormattedCommand(c, buf, (size_t)(p - buf));
	if (buf != stack)
		rk_free(buf);
	return rc;
}
