/*
 * redis_util.h - real redis-server processes for C tests: start one on a
 * free loopback port (no persistence, output to /dev/null, killed with
 * the test process through PR_SET_PDEATHSIG), kill, restart on the same
 * port, freeze (SIGSTOP) and thaw. Header-only; used by
 * tests/cache/test_region.c and other cache tests.
 */
#ifndef TESTS_REDIS_UTIL_H
#define TESTS_REDIS_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

typedef struct ru_redis {
	pid_t pid;  /* 0 when not running */
	int port;
	bool stopped;
} ru_redis;

static inline void ru_sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* A loopback TCP port that was free a moment ago (0 on failure). */
static inline int ru_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A plain client (1 s timeouts) or NULL. */
static inline redisContext *ru_connect(const ru_redis *r)
{
	struct timeval tv = {1, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	if (c)
		redisSetTimeout(c, tv);
	return c;
}

static inline bool ru_ping(const ru_redis *r)
{
	redisContext *c = ru_connect(r);
	if (!c)
		return false;
	redisReply *rep = redisCommand(c, "PING");
	bool ok = rep && rep->type == REDIS_REPLY_STATUS;
	if (rep)
		freeReplyObject(rep);
	redisFree(c);
	return ok;
}

/* Starts redis-server on r->port and waits (<= 5 s) until it answers.
 * 0, or -1 if it exited (port taken) or never answered. */
static inline int ru_spawn(ru_redis *r)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", r->port);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execlp("redis-server", "redis-server", "--port", port,
		       "--bind", "127.0.0.1", "--save", "", "--appendonly",
		       "no", "--daemonize", "no", "--dir", "/tmp",
		       (char *)NULL);
		_exit(127);
	}
	r->pid = pid;
	r->stopped = false;
	for (int i = 0; i < 500; i++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			r->pid = 0;
			return -1;
		}
		if (ru_ping(r))
			return 0;
		ru_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	r->pid = 0;
	return -1;
}

/* Starts one on a free port (a few tries if the port is taken). */
static inline int ru_start(ru_redis *r)
{
	for (int i = 0; i < 5; i++) {
		r->port = ru_free_port();
		if (r->port && ru_spawn(r) == 0)
			return 0;
	}
	return -1;
}

/* SIGKILL and reap; the port is free again at once. */
static inline void ru_kill(ru_redis *r)
{
	if (!r->pid)
		return;
	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	r->pid = 0;
	r->stopped = false;
}

/* Kills it if running and starts a fresh one on the same port. */
static inline int ru_restart(ru_redis *r)
{
	ru_kill(r);
	for (int i = 0; i < 20; i++) {
		if (ru_spawn(r) == 0)
			return 0;
		ru_sleep_ms(50);
	}
	return -1;
}

/* Freezes the process: connections are accepted by the kernel, nothing
 * is answered (a hung Redis). */
static inline void ru_freeze(ru_redis *r)
{
	if (r->pid && !r->stopped && kill(r->pid, SIGSTOP) == 0) {
		waitpid(r->pid, NULL, WUNTRACED); /* until it is stopped */
		r->stopped = true;
	}
}

static inline void ru_thaw(ru_redis *r)
{
	if (r->pid && r->stopped && kill(r->pid, SIGCONT) == 0)
		r->stopped = false;
}

#endif
