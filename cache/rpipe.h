/*
 * rpipe.h - pipelined Redis connections for an event loop: the request
 * path's Redis I/O without a thread that waits. A loop (one per HTTP
 * thread, service/loop.c) owns one rp_pipe; work running on the loop
 * appends a round of commands (all the Redis reads of one request) and
 * says whose callback gets the replies; at the end of each loop turn the
 * pipe writes what every request of the turn appended in one write, and
 * the replies, read as the socket becomes readable, go to each round's
 * callback in order. Nothing blocks but the connect of a new connection
 * (rg_acquire, bounded by the round's budget), which happens once per
 * region switch or failure.
 *
 * Connections come from cache/region.h and go to the ACTIVE region: when
 * it changes, the connection in use retires (its rounds in flight still
 * get their replies) and the next round opens one to the new region. A
 * round whose deadline passes is answered alone (RK_ETIMEOUT; its
 * replies are dropped when they come). A connection whose oldest round
 * has had no reply for the stall time, an I/O error or an unexpected
 * reply closes the connection, fails every round on it (RK_ETIMEOUT or
 * RK_EUNAVAIL) and counts one request-path failure against the region;
 * a complete round counts a success.
 *
 * Every function is for the loop's thread only.
 */
#ifndef RP_PIPE_H
#define RP_PIPE_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "region.h"

/*
 * An epoll registration. The pipe's connections are added to the loop's
 * epoll set with data.ptr pointing at one; the loop calls
 * ev->fn(ev, events) for it (and uses the same shape for its own fds).
 */
typedef struct rp_ev {
	void (*fn)(struct rp_ev *ev, uint32_t events);
} rp_ev;

typedef struct rp_pipe rp_pipe;

/*
 * A round's end. On success err is 0 and rep[0..n) are its replies
 * (owned by the pipe: valid during the call; Redis error replies are
 * replies). On failure rep is NULL and err is RK_ETIMEOUT (the deadline
 * of a round on the connection passed) or RK_EUNAVAIL (I/O error,
 * closed, no memory). The callback may append and commit new rounds.
 */
typedef void (*rp_done)(void *ud, redisReply **rep, int n, int err);

/* A pipe over rg whose connections join the epoll set epfd; a
 * connection that answers nothing for stall_us has failed. NULL when
 * out of memory. */
rp_pipe *rp_new(rg_t *rg, int epfd, int64_t stall_us);
/* Fails every round in flight (callbacks run, with RK_EUNAVAIL; a round
 * they try to start meanwhile is refused: rp_begin gives RK_EUNAVAIL),
 * closes and frees. NULL is a no-op. */
void rp_free(rp_pipe *p);

/*
 * The connection to append a round's commands to (redisAppendCommand
 * and friends), to the active region, connecting if needed within
 * deadline_us. *region gets the region's name (lives as long as rg).
 * NULL when no region is up or the connect failed: *err is RK_ETIMEOUT
 * if the deadline passed, else RK_EUNAVAIL.
 */
redisContext *rp_begin(rp_pipe *p, int64_t deadline_us, const char **region,
		       int *err);
/*
 * The n (>= 1) commands appended since rp_begin form a round: cb(ud, ...)
 * gets their replies, or their failure once deadline_us passes. cb NULL:
 * the replies are read and dropped (writes whose outcome nobody waits
 * for). RK_ENOMEM: the connection was closed (other rounds on it failed)
 * and cb will not be called.
 */
int rp_commit(rp_pipe *p, int n, int64_t deadline_us, rp_done cb, void *ud);

/* End of a loop turn: writes what was appended (one write per
 * connection), closes retired connections that are done. */
void rp_flush(rp_pipe *p);
/* When rp_expire has work next (a round's deadline, a connection's
 * stall); INT64_MAX if nothing is in flight. */
int64_t rp_next_deadline(const rp_pipe *p);
/* Answers the rounds due by now_us (RK_ETIMEOUT) and fails the
 * connections stalled by then. */
void rp_expire(rp_pipe *p, int64_t now_us);
/* Rounds in flight (tests, drain). */
int rp_inflight(const rp_pipe *p);

#endif
