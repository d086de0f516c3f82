/*
 * loop.h - riskd's HTTP threads: one event loop each, h2o style. A loop
 * owns a libmicrohttpd daemon in external-epoll mode, the connections
 * the accept thread (listener.h) hands it, and a pipe of Redis
 * connections (cache/rpipe.h), all in one epoll set. A score runs to
 * completion on its loop; one that needs Redis sends its reads down the
 * loop's pipe, suspends its connection and is finished by the reply's
 * callback on the same thread - no worker, no thread wake-up beyond the
 * sockets' own. Work that must block (batches, simulate, the features
 * API, a key another request is fetching) still goes to the pool.
 * Neighbours: server.c (makes, feeds and stops loops), handlers_score.c
 * (uses the pipe), inline.c (the per-thread worker state).
 */
#ifndef SVC_LOOP_H
#define SVC_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct MHD_Daemon;
struct rp_pipe;
struct svc_data;
typedef struct svc_loop svc_loop;

/* The callbacks of the daemons: server.c's. */
typedef struct svc_loop_hooks {
	void (*refused)(void *ud);   /* a handed connection was refused */
	void *ud;
} svc_loop_hooks;

/*
 * A loop around daemon d (external epoll, suspend/resume, no listening
 * socket; the loop takes ownership and stops it in svc_loop_free), with
 * a Redis pipe when data has Redis, whose connections fail when they
 * answer nothing for stall_us (RISKD_REDIS_TIMEOUT_MS). NULL with err on
 * failure (d is stopped then too).
 */
svc_loop *svc_loop_new(struct MHD_Daemon *d, struct svc_data *data,
		       int64_t stall_us, const svc_loop_hooks *hooks,
		       char *err, size_t errlen);
/* Starts the loop's thread, named "riskd-loop<id>" (top -H, perf).
 * RK_EIO with err. */
int svc_loop_start(svc_loop *l, int id, char *err, size_t errlen);
/* Keeps the started loop's thread on CPU cpu (cpu < 0: back on every CPU
 * the process may use): 0, or RK_EIO when the kernel refuses. */
int svc_loop_pin(svc_loop *l, int cpu);
/* Gives the loop an accepted connection (any thread): the loop adds it
 * to its daemon. The daemon closes fd when it cannot take it. */
void svc_loop_add(svc_loop *l, int fd, const struct sockaddr *sa,
		  socklen_t len);
/* Ends the loop's thread: Redis rounds in flight fail (their requests
 * are answered, degraded), then the thread exits. Idempotent. */
void svc_loop_stop(svc_loop *l);
/* Stops (svc_loop_stop), stops the daemon (closing what connections are
 * left) and frees. NULL is a no-op. */
void svc_loop_free(svc_loop *l);

/* The Redis pipe of the loop running this thread; NULL on other threads
 * or without Redis. */
struct rp_pipe *svc_loop_pipe(void);
/* The loop running this thread, NULL on other threads. */
svc_loop *svc_loop_self(void);
/*
 * A connection of l's daemon was resumed (MHD_resume_connection). In
 * external-epoll mode the daemon sees a resume only at its next MHD_run,
 * and nothing else may come to wake the loop: from another thread (a
 * worker, the reload thread) this wakes l; on l's own thread, unless
 * the turn's MHD_run is still ahead, it makes the next turn run the
 * daemon without waiting. Any thread; NULL is a no-op.
 */
void svc_loop_resumed(svc_loop *l);

#endif
