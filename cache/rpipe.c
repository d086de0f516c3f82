/*
 * rpipe.c - pipelined Redis connections for an event loop (rpipe.h).
 * A connection is a hiredis context switched to non-blocking mode and a
 * FIFO of rounds; replies are matched to rounds in order (Redis answers
 * a connection's commands in the order they came). Closing is two-step
 * so a callback can never free the connection it is called from: a
 * failed connection is marked dead and leaves the epoll set at once,
 * and is freed at the next rp_flush, the loop's safe point.
 */
#include "rpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>

#include "../common/rk.h"

#define INLINE_REPLIES 8

struct round {
	int n, got;
	int64_t deadline_us;
	int64_t sent_us;          /* committed */
	rp_done cb;               /* NULL: replies dropped */
	void *ud;
	redisReply **rep;         /* inl, or rk_calloc'd when n is larger */
	redisReply *inl[INLINE_REPLIES];
};

struct pconn {
	rp_ev ev;                 /* first: epoll data.ptr */
	rp_pipe *p;
	rg_conn *c;
	redisContext *ctx;
	struct round *q;          /* ring of cap rounds */
	int head, len, cap;
	bool out;                 /* EPOLLOUT wanted */
	bool dirty;               /* appended, not yet written */
	bool dead;                /* failed: freed at the next rp_flush */
	bool failed;              /* counts against the region on close */
	struct pconn *next;       /* in p->old */
};

struct rp_pipe {
	rg_t *rg;
	int epfd;
	int64_t stall_us;         /* no reply this long: the connection failed */
	struct pconn *cur;        /* gets new rounds */
	struct pconn *old;        /* retired (finishing) or dead */
	bool closing;             /* rp_free: no new connections */
};

static void conn_event(rp_ev *ev, uint32_t events);

rp_pipe *rp_new(rg_t *rg, int epfd, int64_t stall_us)
{
	rp_pipe *p = rk_calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->rg = rg;
	p->epfd = epfd;
	p->stall_us = stall_us > 0 ? stall_us : 1;
	return p;
}

static void round_free(struct round *rd)
{
	for (int i = 0; i < rd->got; i++)
		freeReplyObject(rd->rep[i]);
	if (rd->rep != rd->inl)
		rk_free(rd->rep);
	rd->rep = NULL;
	rd->got = 0;
}

static int set_blocking(int fd, bool block)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	fl = block ? fl & ~O_NONBLOCK : fl | O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

static void watch(struct pconn *pc, int op)
{
	struct epoll_event e = { .events = EPOLLIN | (pc->out ? EPOLLOUT : 0),
				 .data.ptr = &pc->ev };
	epoll_ctl(pc->p->epfd, op, pc->ctx->fd, &e);
}

/*
 * Fails every round of pc (callbacks with err) and marks it dead: out of
 * the epoll set now, freed by rp_flush. failed counts a request-path
 * failure against the region. Callbacks may start rounds (on another
 * connection: pc is no longer current).
 */
static void conn_fail(struct pconn *pc, int err, bool failed)
{
	if (pc->dead)
		return;
	pc->dead = true;
	pc->failed = failed;
	rp_pipe *p = pc->p;
	if (p->cur == pc) {
		p->cur = NULL;
		pc->next = p->old;
		p->old = pc;
	}
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, pc->ctx->fd, NULL);
	while (pc->len) {
		struct round rd = pc->q[pc->head];
		if (rd.rep == pc->q[pc->head].inl)
			rd.rep = rd.inl;
		pc->head = (pc->head + 1) % pc->cap;
		pc->len--;
		round_free(&rd);
		if (rd.cb)
			rd.cb(rd.ud, NULL, 0, err);
	}
}

/* Closes a finished connection: back to the pool when it is healthy,
 * counted as a failure when it failed, else just closed. */
static void conn_close(rp_pipe *p, struct pconn *pc)
{
	if (!pc->dead)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, pc->ctx->fd, NULL);
	if (pc->failed)
		rg_release(p->rg, pc->c, true);
	else if (pc->dead || pc->ctx->err || set_blocking(pc->ctx->fd, true))
		rg_discard(p->rg, pc->c);
	else {
		pc->ctx->flags |= REDIS_BLOCK;
		rg_release(p->rg, pc->c, false);
	}
	rk_free(pc->q);
	rk_free(pc);
}

static struct pconn *conn_open(rp_pipe *p, int64_t deadline_us)
{
	rg_conn *c = rg_acquire(p->rg, deadline_us);
	if (!c)
		return NULL;
	struct pconn *pc = rk_calloc(1, sizeof(*pc));
	redisContext *ctx = rg_conn_ctx(c);
	if (!pc || set_blocking(ctx->fd, false)) {
		rk_free(pc);
		rg_discard(p->rg, c);
		return NULL;
	}
	ctx->flags &= ~REDIS_BLOCK;
	pc->ev.fn = conn_event;
	pc->p = p;
	pc->c = c;
	pc->ctx = ctx;
	watch(pc, EPOLL_CTL_ADD);
	return pc;
}

void rp_free(rp_pipe *p)
{
	if (!p)
		return;
	/* callbacks run now may start rounds: they find no connection
	 * (closing), but one may still move p->cur onto p->old, so fail
	 * until nothing with rounds is left */
	p->closing = true;
	for (bool again = true; again;) {
		again = false;
		if (p->cur) {
			conn_fail(p->cur, RK_EUNAVAIL, false);
			again = true;
		}
		for (struct pconn *pc = p->old; pc; pc = pc->next) {
			if (!pc->dead) {
				conn_fail(pc, RK_EUNAVAIL, false);
				again = true;
			}
		}
	}
	while (p->old) {
		struct pconn *pc = p->old;
		p->old = pc->next;
		conn_close(p, pc);
	}
	rk_free(p);
}

redisContext *rp_begin(rp_pipe *p, int64_t deadline_us, const char **region,
		       int *err)
{
	if (p->cur && !rg_conn_current(p->rg, p->cur->c)) {
		/* failover, failback or a restart: new rounds go to the
		 * active region; the old connection finishes its rounds */
		p->cur->next = p->old;
		p->old = p->cur;
		p->cur = NULL;
	}
	if (!p->cur && !p->closing) {
		p->cur = conn_open(p, deadline_us);
	}
	if (!p->cur) {
		*err = !p->closing && rk_now_us() >= deadline_us ?
			       RK_ETIMEOUT : RK_EUNAVAIL;
		return NULL;
	}
	*region = rg_conn_region(p->cur->c);
	return p->cur->ctx;
}

int rp_commit(rp_pipe *p, int n, int64_t deadline_us, rp_done cb, void *ud)
{
	struct pconn *pc = p->cur;
	if (!pc || n < 1)
		return RK_EINVAL;
	if (pc->len == pc->cap) {
		int cap = pc->cap ? pc->cap * 2 : 16;
		struct round *q = rk_calloc((size_t)cap, sizeof(*q));
		if (!q) {
			conn_fail(pc, RK_EUNAVAIL, false);
			return RK_ENOMEM;
		}
		for (int i = 0; i < pc->len; i++) {
			q[i] = pc->q[(pc->head + i) % pc->cap];
			if (q[i].rep == pc->q[(pc->head + i) % pc->cap].inl)
				q[i].rep = q[i].inl;
		}
		rk_free(pc->q);
		pc->q = q;
		pc->head = 0;
		pc->cap = cap;
	}
	struct round *rd = &pc->q[(pc->head + pc->len) % pc->cap];
	memset(rd, 0, sizeof(*rd));
	rd->rep = n <= INLINE_REPLIES ? rd->inl :
					rk_calloc((size_t)n, sizeof(*rd->rep));
	if (!rd->rep) {
		conn_fail(pc, RK_EUNAVAIL, false);
		return RK_ENOMEM;
	}
	rd->n = n;
	rd->deadline_us = deadline_us;
	rd->sent_us = rk_now_us();
	rd->cb = cb;
	rd->ud = ud;
	pc->len++;
	pc->dirty = true;
	return 0;
}

/* Writes pc's output buffer (one write); EPOLLOUT while some is left. */
static void conn_write(struct pconn *pc)
{
	int done = 0;
	if (redisBufferWrite(pc->ctx, &done) != REDIS_OK) {
		conn_fail(pc, RK_EUNAVAIL, true);
		return;
	}
	pc->dirty = false;
	if (pc->out != !done) {
		pc->out = !done;
		watch(pc, EPOLL_CTL_MOD);
	}
}

/* Reads what arrived and hands complete rounds to their callbacks. */
static void conn_read(struct pconn *pc)
{
	if (redisBufferRead(pc->ctx) != REDIS_OK) {
		/* closed with nothing asked (Redis's idle `timeout`, CLIENT
		 * KILL, a proxy) says nothing of the region */
		conn_fail(pc, RK_EUNAVAIL, pc->len > 0);
		return;
	}
	for (;;) {
		void *x = NULL;
		if (redisReaderGetReply(pc->ctx->reader, &x) != REDIS_OK) {
			conn_fail(pc, RK_EUNAVAIL, true);
			return;
		}
		if (!x)
			return;
		if (!pc->len) {   /* a reply nobody asked for */
			freeReplyObject(x);
			conn_fail(pc, RK_EUNAVAIL, true);
			return;
		}
		struct round *rd = &pc->q[pc->head];
		rd->rep[rd->got++] = x;
		if (rd->got < rd->n)
			continue;
		struct round done = *rd;
		if (done.rep == rd->inl)
			done.rep = done.inl;
		pc->head = (pc->head + 1) % pc->cap;
		pc->len--;
		if (done.cb) {
			rg_conn_ok(pc->p->rg, pc->c);
			done.cb(done.ud, done.rep, done.n, 0);
		}
		round_free(&done);
		if (pc->dead)
			return;
	}
}

static void conn_event(rp_ev *ev, uint32_t events)
{
	struct pconn *pc = (struct pconn *)ev;
	if (pc->dead)
		return;
	if (events & EPOLLOUT)
		conn_write(pc);
	if (!pc->dead && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_read(pc);
}

void rp_flush(rp_pipe *p)
{
	if (p->cur && p->cur->dirty && !p->cur->out)
		conn_write(p->cur);
	/* a failed write runs callbacks, which may put connections at the
	 * head of p->old: write in one pass (nothing unlinked), close in
	 * another (no callbacks) */
	for (struct pconn *pc = p->old; pc; pc = pc->next)
		if (!pc->dead && pc->dirty && !pc->out)
			conn_write(pc);
	for (struct pconn **pp = &p->old; *pp;) {
		struct pconn *pc = *pp;
		if (pc->dead || !pc->len) {
			*pp = pc->next;
			conn_close(p, pc);
		} else {
			pp = &pc->next;
		}
	}
}

/* When pc next needs attention: the earliest deadline of a round still
 * waited for, or the time its oldest round turns into a stall. */
static int64_t conn_deadline(const rp_pipe *p, const struct pconn *pc)
{
	if (!pc || pc->dead || !pc->len)
		return INT64_MAX;
	int64_t d = pc->q[pc->head].sent_us + p->stall_us;
	for (int i = 0; i < pc->len; i++) {
		const struct round *rd = &pc->q[(pc->head + i) % pc->cap];
		if (rd->cb && rd->deadline_us < d)
			d = rd->deadline_us;
	}
	return d;
}

int64_t rp_next_deadline(const rp_pipe *p)
{
	int64_t d = conn_deadline(p, p->cur);
	for (const struct pconn *pc = p->old; pc; pc = pc->next) {
		int64_t e = conn_deadline(p, pc);
		if (e < d)
			d = e;
	}
	return d;
}

/*
 * A round past its deadline is answered alone (RK_ETIMEOUT) and its
 * replies, when they come, are dropped: a caller with a short deadline
 * says nothing of the connection. A connection whose oldest round has
 * had no reply for stall_us has failed: every round on it fails and
 * the region counts one failure.
 */
static void conn_expire(rp_pipe *p, struct pconn *pc, int64_t now_us)
{
	if (pc->dead || !pc->len)
		return;
	/* by index: a callback may commit rounds (and grow the ring) */
	for (int i = 0; i < pc->len && !pc->dead; i++) {
		struct round *rd = &pc->q[(pc->head + i) % pc->cap];
		if (!rd->cb || rd->deadline_us > now_us)
			continue;
		rp_done cb = rd->cb;
		rd->cb = NULL;
		cb(rd->ud, NULL, 0, RK_ETIMEOUT);
	}
	if (!pc->dead && pc->len &&
	    pc->q[pc->head].sent_us + p->stall_us <= now_us)
		conn_fail(pc, RK_ETIMEOUT, true);
}

void rp_expire(rp_pipe *p, int64_t now_us)
{
	if (p->cur)
		conn_expire(p, p->cur, now_us);
	for (struct pconn *pc = p->old; pc; pc = pc->next)
		conn_expire(p, pc, now_us);
}

int rp_inflight(const rp_pipe *p)
{
	int n = p->cur ? p->cur->len : 0;
	for (const struct pconn *pc = p->old; pc; pc = pc->next)
		n += pc->len;
	return n;
}
