/*
 * listener.h - riskd's listening socket and its accept thread, which
 * hands every connection to the HTTP daemon (MHD_add_connection). With
 * several HTTP threads libmicrohttpd's own accepting lets whichever
 * worker wakes first take a connection, and a burst of connections (a
 * client's pool opening) lands almost all on one thread (measured: 32
 * of 32), leaving the other cores idle; added connections are spread
 * over the workers instead. Used by server.c.
 */
#ifndef SVC_LISTENER_H
#define SVC_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>

struct MHD_Daemon;
typedef struct svc_listener svc_listener;

/*
 * Binds and listens on sa (SO_REUSEADDR, the given backlog). NULL with
 * a message in err when the address is busy or not permitted.
 */
svc_listener *svc_listener_open(const struct sockaddr *sa, socklen_t len,
				int backlog, char *err, size_t errlen);
/* The bound port (for port 0). */
int svc_listener_port(const svc_listener *l);
/* Starts the accept thread feeding d. RK_ENOMEM/RK_EIO with err. */
int svc_listener_run(svc_listener *l, struct MHD_Daemon *d, char *err,
		     size_t errlen);
/* Stops accepting (new connections are refused), joins the thread and
 * closes the socket. Connections already handed over stay. Returns how
 * many connections the daemon took (MHD_add_connection succeeded): the
 * daemon starts them asynchronously, and a drain must wait until it has
 * started that many before it can trust the daemon's connection count.
 * NULL is a no-op (0). */
unsigned long svc_listener_free(svc_listener *l);

#endif
