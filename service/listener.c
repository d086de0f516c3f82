/*
 * listener.c - the listening socket and the accept thread (listener.h).
 * The thread sleeps in poll() on the socket and a stop pipe, accepts
 * until the backlog is empty, and gives the connections to the HTTP
 * loops in turn (loop.h). Out of descriptors or memory, it backs off
 * for 10 ms rather than spin on a full backlog.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/rk.h"
#include "log.h"
#include "loop.h"

struct svc_listener {
	int fd;
	int stop[2];          /* pipe: a byte asks the thread to end */
	int port;
	svc_loop *const *loops;
	int nloops, next;
	pthread_t tid;
	bool running;
	unsigned long handed;  /* the accept thread's; read after join */
};

svc_listener *svc_listener_open(const struct sockaddr *sa, socklen_t len,
				int backlog, char *err, size_t errlen)
{
	svc_listener *l = rk_calloc(1, sizeof(*l));
	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->stop[0] = l->stop[1] = -1;
	l->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
					      SOCK_CLOEXEC, 0);
	int on = 1;
	if (l->fd < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ||
	    (sa->sa_family == AF_INET6 &&
	     setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on))) ||
	    bind(l->fd, sa, len) || listen(l->fd, backlog) ||
	    pipe2(l->stop, O_CLOEXEC | O_NONBLOCK)) {
		snprintf(err, errlen, "%s", strerror(errno));
		svc_listener_free(l);
		return NULL;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (!getsockname(l->fd, (struct sockaddr *)&ss, &sl))
		l->port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&ss)->sin6_port :
				((struct sockaddr_in *)&ss)->sin_port);
	return l;
}

int svc_listener_port(const svc_listener *l)
{
	return l->port;
}

static void nap_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000};
	nanosleep(&ts, NULL);
}

/* Accepts until the backlog is empty, handing each connection over. */
static void accept_all(svc_listener *l, bool *warned)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			svc_loop_add(l->loops[l->next], fd,
				     (struct sockaddr *)&ss, sl);
			l->next = (l->next + 1) % l->nloops;
			l->handed++;
			*warned = false;
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			if (!*warned)
				log_warn("accept: out of descriptors or memory; "
					 "backing off", "error",
					 strerror(errno), NULL);
			*warned = true;
			nap_ms(10);
		}
		return;   /* EAGAIN, or a connection that went away */
	}
}

static void *accept_main(void *arg)
{
	svc_listener *l = arg;
	bool warned = false;
	for (;;) {
		struct pollfd p[2] = { { l->fd, POLLIN, 0 },
				       { l->stop[0], POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		accept_all(l, &warned);
	}
	/* Connections the kernel completed but nobody accepted would be
	 * reset by the close (a client sees its request cut, not refused):
	 * take them (they are answered, draining), then close at once, so
	 * only a connection completing between the two is cut. */
	accept_all(l, &warned);
	close(l->fd);
	l->fd = -1;
	return NULL;
}

int svc_listener_run(svc_listener *l, svc_loop *const *loops, int n,
		     char *err, size_t errlen)
{
	l->loops = loops;
	l->nloops = n;
	int rc = pthread_create(&l->tid, NULL, accept_main, l);
	if (rc) {
		snprintf(err, errlen, "accept thread: %s", strerror(rc));
		return RK_EIO;
	}
	pthread_setname_np(l->tid, "riskd-accept");
	l->running = true;
	return 0;
}

unsigned long svc_listener_free(svc_listener *l)
{
	if (!l)
		return 0;
	if (l->running) {
		ssize_t n;
		do
			n = write(l->stop[1], "x", 1);
		while (n < 0 && errno == EINTR);
		pthread_join(l->tid, NULL);
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->stop[0] >= 0)
		close(l->stop[0]);
	if (l->stop[1] >= 0)
		close(l->stop[1]);
	unsigned long handed = l->handed;
	rk_free(l);
	return handed;
}
