/*
 * listener.h - riskd's listening socket and its accept thread, which
 * hands the connections to the HTTP loops (loop.h) in turn. Accepting
 * on every thread lets whichever wakes first take a connection, and a
 * burst of connections (a client's pool opening) lands almost all on
 * one thread (measured with libmicrohttpd's own accepting: 32 of 32),
 * leaving the other cores idle. Used by server.c.
 */
#ifndef SVC_LISTENER_H
#define SVC_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

struct svc_loop;
typedef struct svc_listener svc_listener;

/*
 * Binds and listens on sa (SO_REUSEADDR, the given backlog). NULL with
 * a message in err when the address is busy or not permitted.
 */
svc_listener *svc_listener_open(const struct sockaddr *sa, socklen_t len,
				int backlog, char *err, size_t errlen);
/* The bound port (for port 0). */
int svc_listener_port(const svc_listener *l);
/* Starts the accept thread feeding the n loops (which must outlive
 * it). RK_EIO with err. */
int svc_listener_run(svc_listener *l, struct svc_loop *const *loops, int n,
		     char *err, size_t errlen);
/* Stops accepting (new connections are refused), joins the thread and
 * closes the socket. Connections already handed over stay. Returns how
 * many connections were handed to loops: the loops add them to their
 * daemons a moment later, and a drain must wait until every one was
 * started or refused before it can trust the connection count. NULL is
 * a no-op (0). */
unsigned long svc_listener_free(svc_listener *l);

#endif
