/*
 * riskload.c - the load generator of SPEC §9. One epoll event loop per
 * thread, keep-alive HTTP/1.1 connections, one request in flight per
 * connection. Open loop (-r RATE): request k of a thread is due at
 * start + k / rate and its latency is measured from that intended time,
 * so a server stall shows in the percentiles instead of silently slowing
 * the sender (coordinated omission). Closed loop (-r 0): each connection
 * sends again as soon as it has an answer. Latencies go to a log-linear
 * histogram (common/hist.h, < 1 % error). Events come from an NDJSON
 * file or the payment generator (gen/gen.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../common/hist.h"
#include "../common/rk.h"
#include "../gen/gen.h"
#include "seed.h"

#define MAX_SLO 8
#define INBUF (256 * 1024)
#define TIMEOUT_NS (10LL * 1000000000)

typedef struct opts {
	char host[256], port[16], path[512];
	double rate;            /* requests/s in all; 0 = closed loop */
	double duration;        /* seconds */
	int conns, threads;
	const char *file, *gen, *scenario, *json, *csv;
	int nslo;
	double slo_q[MAX_SLO];
	uint64_t slo_us[MAX_SLO];
	char slo_name[MAX_SLO][16];
} opts;

static opts o = {.rate = 1000, .duration = 10, .conns = 16, .threads = 2};
static char **reqs;           /* ready-to-send HTTP requests */
static size_t *reqlen;
static int nreqs;
static struct addrinfo *addr;

enum { C_IDLE, C_BUSY, C_DEAD };

typedef struct conn {
	int fd, state;
	int64_t intended, sent;
	size_t outoff, outlen;
	const char *out;
	char *in;
	size_t inlen;
} conn;

typedef struct worker {
	pthread_t tid;
	int id, ep;
	conn *c;
	int nc;
	double rate;
	int64_t start, end;
	uint64_t k, done, errors, timeouts;
	uint64_t status[600], decisions[4];
	hist h;
	hist *per_sec;          /* one per second of the run */
	int nsec;
	uint64_t *sec_err;
} worker;

static int64_t now_ns(void)
{
	return rk_now_ns();
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: riskload -u URL [-r RATE] [-d SECONDS] [-c CONNECTIONS] [-t THREADS]\n"
		"                [-f events.ndjson | --gen payments] [--scenario S]\n"
		"                [--slo p99=2ms,p999=5ms] [--json FILE] [--csv FILE]\n\n"
		"  -u URL        http://host:port/path (e.g. http://127.0.0.1:8080/v1/score)\n"
		"  -r RATE       requests/s, open loop (latency from each request's intended\n"
		"                send time); 0 = closed loop, maximum throughput (1000)\n"
		"  -d SECONDS    measured duration (10)\n"
		"  -c CONNS      keep-alive connections in all (16)\n"
		"  -t THREADS    event-loop threads (2)\n"
		"  -f FILE       NDJSON: envelopes, or bare events wrapped with --scenario\n"
		"  --gen payments  generated payment events (the default)\n"
		"  --scenario S  scenario for bare or generated events (payments)\n"
		"  --slo LIST    pNN=limit pairs (us, ms, s); exit 1 when one is missed\n"
		"  --json FILE   the report as JSON; --csv FILE latency per second\n"
		"  --print-rules N  print a generated N-rule payments rule set and exit\n"
		"  --print-events N print N generated envelopes (the --gen workload,\n"
		"                   NDJSON, for other tools such as wrk) and exit\n"
		"  --print-features N  print, as Redis protocol for redis-cli --pipe,\n"
		"                   the features of the first N cards and N users of\n"
		"                   the generator (riskd's riskd:f:{group}:{key}\n"
		"                   hashes, JSON values) and exit\n"
		"  --print-velocity N  print, as Redis protocol, a full window of\n"
		"                   history (60 buckets) for every count and sum\n"
		"                   velocity of the generated rule set on card.id\n"
		"                   or user.id, for the first N cards and users -\n"
		"                   the hashes a long-running deployment holds\n"
		"                   for its busy entities - and exit\n"
		"Exit status: 0 all requests answered 2xx and SLOs met, 1 otherwise,\n"
		"2 usage error.\n");
}

static bool parse_url(const char *u)
{
	if (strncmp(u, "http://", 7))
		return false;
	u += 7;
	const char *slash = strchr(u, '/');
	const char *hostend = slash ? slash : u + strlen(u);
	const char *colon = memchr(u, ':', (size_t)(hostend - u));
	size_t hl = (size_t)((colon ? colon : hostend) - u);
	if (!hl || hl >= sizeof(o.host))
		return false;
	memcpy(o.host, u, hl);
	o.host[hl] = '\0';
	snprintf(o.port, sizeof(o.port), "%.*s", colon ? (int)(hostend - colon - 1) : 2,
		 colon ? colon + 1 : "80");
	snprintf(o.path, sizeof(o.path), "%s", slash ? slash : "/");
	return true;
}

static bool parse_slo(const char *s)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (!eq || t[0] != 'p' || o.nslo == MAX_SLO)
			return false;
		*eq = '\0';
		/* p99 -> 0.99, p999 -> 0.999, p9999 -> 0.9999, p50 -> 0.5 */
		const char *d = t + 1;
		size_t n = strlen(d);
		if (!n || strspn(d, "0123456789") != n)
			return false;
		double q = atof(d) / pow(10, (double)n);
		if (n == 1)
			q = atof(d) / 10;
		char *end;
		double v = strtod(eq + 1, &end);
		double mul = !strcmp(end, "us") ? 1 : !strcmp(end, "ms") ? 1e3 :
			     !strcmp(end, "s") ? 1e6 : -1;
		if (mul < 0 || v <= 0 || q <= 0 || q >= 1)
			return false;
		o.slo_q[o.nslo] = q;
		o.slo_us[o.nslo] = (uint64_t)(v * mul);
		snprintf(o.slo_name[o.nslo], sizeof(o.slo_name[0]), "%s", t);
		o.nslo++;
	}
	return o.nslo > 0;
}

static bool add_request(const char *body, size_t n)
{
	char head[1024];
	int hl = snprintf(head, sizeof(head),
			  "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: "
			  "application/json\r\nContent-Length: %zu\r\n\r\n",
			  o.path, o.host, o.port, n);
	char *r = rk_malloc((size_t)hl + n);
	if (!r)
		return false;
	memcpy(r, head, (size_t)hl);
	memcpy(r + hl, body, n);
	char **nr = rk_realloc(reqs, (size_t)(nreqs + 1) * sizeof(char *));
	size_t *nl = rk_realloc(reqlen, (size_t)(nreqs + 1) * sizeof(size_t));
	if (nr)
		reqs = nr;
	if (nl)
		reqlen = nl;
	if (!nr || !nl) {
		rk_free(r);
		return false;
	}
	reqs[nreqs] = r;
	reqlen[nreqs++] = (size_t)hl + n;
	return true;
}

static bool load_events(void)
{
	const char *scn = o.scenario ? o.scenario : "payments";
	char *body = rk_malloc(1 << 20);
	if (!body)
		return false;
	if (!o.file) {
		gen_rng r;
		gen_params p;
		gen_rng_seed(&r, 42);
		gen_params_default(&p);
		if (gen_params_prepare(&p)) {
			rk_free(body);
			return false;
		}
		for (int i = 0; i < 10000; i++) {
			int n = gen_envelope_json(&r, &p, scn, 0, body, 1 << 20);
			if (n < 0 || !add_request(body, (size_t)n)) {
				rk_free(body);
				return false;
			}
		}
		rk_free(body);
		return true;
	}
	FILE *f = strcmp(o.file, "-") ? fopen(o.file, "r") : stdin;
	if (!f) {
		fprintf(stderr, "riskload: %s: %s\n", o.file, strerror(errno));
		rk_free(body);
		return false;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		int n = strstr(line, "\"event\"") ? snprintf(body, 1 << 20, "%s", line)
			: snprintf(body, 1 << 20, "{\"scenario\": \"%s\", \"event\": %s}",
				   scn, line);
		if (n >= 1 << 20 || !add_request(body, (size_t)n))
			break;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	rk_free(body);
	if (!nreqs)
		fprintf(stderr, "riskload: %s: no events\n", o.file);
	return nreqs > 0;
}

static void conn_close(worker *w, conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_DEAD;
	c->inlen = 0;
}

static bool conn_open(worker *w, conn *c)
{
	c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return false;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return false;
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
				 .data.ptr = c};
	epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
	c->state = C_IDLE;
	c->inlen = 0;
	return true;
}

static void record(worker *w, conn *c, int status, const char *body, size_t blen)
{
	int64_t t = now_ns();
	uint64_t us = (uint64_t)((t - c->intended) / 1000);
	hist_record(&w->h, us);
	int sec = (int)((c->intended - w->start) / 1000000000);
	if (sec >= 0 && sec < w->nsec)
		hist_record(&w->per_sec[sec], us);
	w->done++;
	w->status[status > 0 && status < 600 ? status : 0]++;
	if (status < 200 || status > 299) {
		w->errors++;
		if (sec >= 0 && sec < w->nsec)
			w->sec_err[sec]++;
	}
	const char *d = memmem(body, blen, "\"decision\":\"", 12);
	if (d) {
		d += 12;
		w->decisions[*d == 'a' ? 1 : *d == 'r' ? 2 : *d == 'd' ? 3 : 0]++;
	}
}

static void fail_request(worker *w, conn *c)
{
	int sec = (int)((c->intended - w->start) / 1000000000);
	w->done++;
	w->errors++;
	w->status[0]++;
	if (sec >= 0 && sec < w->nsec)
		w->sec_err[sec]++;
	conn_close(w, c);
}

/* Parses a complete response in c->in; 1 done, 0 need more, -1 error. */
static int parse_response(worker *w, conn *c)
{
	char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
	if (!end)
		return c->inlen >= INBUF ? -1 : 0;
	size_t hl = (size_t)(end - c->in) + 4;
	int status = 0;
	if (c->inlen < 12 || sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	long clen = -1;
	bool close_after = false;
	for (char *p = c->in; p < end; ) {
		char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
		if (!eol)
			break;
		if (!strncasecmp(p, "content-length:", 15))
			clen = atol(p + 15);
		else if (!strncasecmp(p, "connection:", 11) &&
			 strcasestr(p, "close") && strcasestr(p, "close") < eol)
			close_after = true;
		p = eol + 2;
	}
	if (clen < 0 || hl + (size_t)clen > INBUF)
		return -1;
	if (c->inlen < hl + (size_t)clen)
		return 0;
	record(w, c, status, c->in + hl, (size_t)clen);
	size_t used = hl + (size_t)clen;
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	c->state = C_IDLE;
	if (close_after)
		conn_close(w, c);
	return 1;
}

static void try_write(worker *w, conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL);
		if (n < 0) {
			/* A connect still in progress answers EAGAIN or
			 * ENOTCONN: EPOLLOUT brings us back. */
			if (errno != EAGAIN && errno != ENOTCONN)
				fail_request(w, c);
			return;
		}
		c->outoff += (size_t)n;
	}
}

static void try_read(worker *w, conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
		if (n > 0) {
			c->inlen += (size_t)n;
			int r = parse_response(w, c);
			if (r < 0)
				fail_request(w, c);
			if (r != 0 || c->state != C_BUSY)
				return;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF or error: a request in flight has failed. */
		if (c->state == C_BUSY)
			fail_request(w, c);
		else
			conn_close(w, c);
		return;
	}
}

static bool send_one(worker *w, conn *c, int64_t intended)
{
	if (c->state == C_DEAD && !conn_open(w, c))
		return false;
	int i = (int)((w->k * (uint64_t)o.threads + (uint64_t)w->id) % (uint64_t)nreqs);
	c->out = reqs[i];
	c->outlen = reqlen[i];
	c->outoff = 0;
	c->intended = intended;
	c->sent = now_ns();
	c->state = C_BUSY;
	w->k++;
	try_write(w, c);
	return true;
}

static _Atomic bool pwait2_ok = true;

static void *run(void *arg)
{
	worker *w = arg;
	struct epoll_event evs[256];
	int64_t interval = w->rate > 0 ? (int64_t)(1e9 / w->rate) : 0;
	bool closed = w->rate <= 0;
	/* The default 50 us of timer slack would send requests late (and
	 * count it, from the intended time): ask for exact wake-ups. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	for (int i = 0; i < w->nc; i++)
		conn_open(w, &w->c[i]);
	for (;;) {
		int64_t t = now_ns();
		/* Send every due request that has a free connection. */
		bool issuing = true;
		while (issuing) {
			int64_t due = closed ? t : w->start + (int64_t)w->k * interval;
			if (due >= w->end || due > t)
				break;
			issuing = false;
			for (int i = 0; i < w->nc; i++)
				if (w->c[i].state != C_BUSY) {
					if (!send_one(w, &w->c[i], due)) {
						/* Cannot connect: this request failed. */
						w->k++;
						w->done++;
						w->errors++;
						w->status[0]++;
					}
					issuing = true;
					break;
				}
		}
		/* Time-outs. */
		int busy = 0;
		for (int i = 0; i < w->nc; i++) {
			if (w->c[i].state != C_BUSY)
				continue;
			if (t - w->c[i].sent > TIMEOUT_NS) {
				w->timeouts++;
				fail_request(w, &w->c[i]);
			} else {
				busy++;
			}
		}
		int64_t next = closed ? 0 : w->start + (int64_t)w->k * interval;
		if (!busy && (closed ? t >= w->end : next >= w->end))
			break;
		/* Sleep until the next request is due (epoll_pwait2: nanosecond
		 * time-outs, no timer fd to re-arm and read on every turn),
		 * timed from now, after this turn's sends; one already due
		 * waits for a connection to come free (unless a time-out just
		 * freed one). */
		int64_t now = now_ns(), wait;
		if (closed || next >= w->end)
			wait = 50000000;
		else if (next > now)
			wait = next - now;
		else
			wait = busy < w->nc ? 0 : 50000000;
		struct timespec ts = {.tv_sec = wait / 1000000000,
				      .tv_nsec = wait % 1000000000};
		int n = pwait2_ok ? epoll_pwait2(w->ep, evs, 256, &ts, NULL) : -1;
		if (n < 0 && errno == ENOSYS)
			pwait2_ok = false;
		if (!pwait2_ok)   /* before Linux 5.11: whole milliseconds */
			n = epoll_wait(w->ep, evs, 256,
				       (int)((wait + 999999) / 1000000));
		for (int i = 0; i < n; i++) {
			conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
				if (c->state == C_BUSY)
					fail_request(w, c);
				else
					conn_close(w, c);
				continue;
			}
			if ((evs[i].events & EPOLLOUT) && c->state == C_BUSY)
				try_write(w, c);
			if ((evs[i].events & EPOLLIN) && c->fd >= 0)
				try_read(w, c);
		}
	}
	for (int i = 0; i < w->nc; i++)
		conn_close(w, &w->c[i]);
	return NULL;
}

static void print_report(const hist *h, const worker *ws, double secs, uint64_t *status,
			 uint64_t *dec, uint64_t done, uint64_t errors, uint64_t timeouts)
{
	printf("riskload: %s://%s:%s%s, %s, %d connections, %d threads\n", "http",
	       o.host, o.port, o.path, o.rate > 0 ? "open loop" : "closed loop",
	       o.conns, o.threads);
	printf("  requests   %llu in %.2f s: %.0f req/s\n",
	       (unsigned long long)done, secs, (double)done / secs);
	if (o.rate > 0)
		printf("  target     %.0f req/s\n", o.rate);
	printf("  errors     %llu (timeouts %llu)\n", (unsigned long long)errors,
	       (unsigned long long)timeouts);
	printf("  status    ");
	for (int i = 0; i < 600; i++)
		if (status[i])
			printf(" %s%d: %llu", i ? "" : "conn-error", i ? i : 0,
			       (unsigned long long)status[i]);
	printf("\n  decisions  approve %llu, review %llu, decline %llu\n",
	       (unsigned long long)dec[1], (unsigned long long)dec[2],
	       (unsigned long long)dec[3]);
	printf("  latency    (us, from intended send time)\n");
	printf("    p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  p99.99 %llu  max %llu  mean %.0f\n",
	       (unsigned long long)hist_quantile(h, 0.5),
	       (unsigned long long)hist_quantile(h, 0.9),
	       (unsigned long long)hist_quantile(h, 0.99),
	       (unsigned long long)hist_quantile(h, 0.999),
	       (unsigned long long)hist_quantile(h, 0.9999),
	       (unsigned long long)h->max, hist_mean(h));
	(void)ws;
}

static int write_json(const char *path, const hist *h, double secs, uint64_t *status,
		      uint64_t *dec, uint64_t done, uint64_t errors)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "riskload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"requests\": %llu, \"duration_s\": %.3f, \"rate\": %.1f, "
		"\"target_rate\": %.1f, \"errors\": %llu, \"connections\": %d, "
		"\"threads\": %d, \"status\": {", (unsigned long long)done, secs,
		(double)done / secs, o.rate, (unsigned long long)errors, o.conns,
		o.threads);
	bool first = true;
	for (int i = 0; i < 600; i++)
		if (status[i]) {
			fprintf(f, "%s\"%s%d\": %llu", first ? "" : ", ",
				i ? "" : "conn_error_", i, (unsigned long long)status[i]);
			first = false;
		}
	fprintf(f, "}, \"decisions\": {\"approve\": %llu, \"review\": %llu, "
		"\"decline\": %llu}, \"latency_us\": {\"p50\": %llu, \"p90\": %llu, "
		"\"p99\": %llu, \"p999\": %llu, \"p9999\": %llu, \"max\": %llu, "
		"\"mean\": %.1f}}\n",
		(unsigned long long)dec[1], (unsigned long long)dec[2],
		(unsigned long long)dec[3], (unsigned long long)hist_quantile(h, 0.5),
		(unsigned long long)hist_quantile(h, 0.9),
		(unsigned long long)hist_quantile(h, 0.99),
		(unsigned long long)hist_quantile(h, 0.999),
		(unsigned long long)hist_quantile(h, 0.9999),
		(unsigned long long)h->max, hist_mean(h));
	return fclose(f);
}

static int write_csv(const char *path, worker *ws, int nsec)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "riskload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "second,requests,errors,p50_us,p99_us,p999_us,max_us\n");
	static hist m;
	for (int s = 0; s < nsec; s++) {
		hist_init(&m);
		uint64_t err = 0;
		for (int t = 0; t < o.threads; t++) {
			hist_merge(&m, &ws[t].per_sec[s]);
			err += ws[t].sec_err[s];
		}
		fprintf(f, "%d,%llu,%llu,%llu,%llu,%llu,%llu\n", s,
			(unsigned long long)(m.count + err), (unsigned long long)err,
			(unsigned long long)hist_quantile(&m, 0.5),
			(unsigned long long)hist_quantile(&m, 0.99),
			(unsigned long long)hist_quantile(&m, 0.999),
			(unsigned long long)m.max);
	}
	return fclose(f);
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--print-rules") && v) {
			/* The generated rule set `make loadtest` imports. */
			char *txt = gen_ruleset_json(atoi(v), 0x5eed);
			if (!txt)
				return 1;
			puts(txt);
			rk_free(txt);
			return 0;
		}
		if (!strcmp(a, "--print-events") && v)
			return seed_print_events(atoi(v));
		if (!strcmp(a, "--print-features") && v)
			return seed_print_features(atoi(v));
		if (!strcmp(a, "--print-velocity") && v)
			return seed_print_velocity(atoi(v));
		if (!v)
			goto usage_err;
		if (!strcmp(a, "-u"))
			url = v;
		else if (!strcmp(a, "-r"))
			o.rate = atof(v);
		else if (!strcmp(a, "-d"))
			o.duration = atof(v);
		else if (!strcmp(a, "-c"))
			o.conns = atoi(v);
		else if (!strcmp(a, "-t"))
			o.threads = atoi(v);
		else if (!strcmp(a, "-f"))
			o.file = v;
		else if (!strcmp(a, "--gen")) {
			if (strcmp(v, "payments"))
				goto usage_err;
			o.gen = v;
		} else if (!strcmp(a, "--scenario"))
			o.scenario = v;
		else if (!strcmp(a, "--slo")) {
			if (!parse_slo(v)) {
				fprintf(stderr, "riskload: bad --slo '%s'\n", v);
				goto usage_err;
			}
		} else if (!strcmp(a, "--json"))
			o.json = v;
		else if (!strcmp(a, "--csv"))
			o.csv = v;
		else
			goto usage_err;
		i++;
	}
	if (!url || !parse_url(url) || o.rate < 0 || o.duration <= 0 ||
	    o.duration > 86400 || o.threads < 1 || o.threads > 64 ||
	    o.conns < o.threads || o.conns > 100000 || (o.file && o.gen))
		goto usage_err;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	int gai = getaddrinfo(o.host, o.port, &hints, &addr);
	if (gai) {
		fprintf(stderr, "riskload: %s: %s\n", o.host, gai_strerror(gai));
		return 1;
	}
	if (!load_events())
		return 1;
	worker *ws = rk_calloc((size_t)o.threads, sizeof(worker));
	int nsec = (int)ceil(o.duration) + 1;
	int64_t start = now_ns() + 50000000, end = start + (int64_t)(o.duration * 1e9);
	for (int t = 0; t < o.threads; t++) {
		worker *w = &ws[t];
		w->id = t;
		w->nc = o.conns / o.threads + (t < o.conns % o.threads);
		w->c = rk_calloc((size_t)w->nc, sizeof(conn));
		for (int i = 0; i < w->nc; i++) {
			w->c[i].fd = -1;
			w->c[i].state = C_DEAD;
			w->c[i].in = rk_malloc(INBUF);
		}
		w->rate = o.rate / o.threads;
		w->start = start + (o.rate > 0 ? (int64_t)(1e9 / o.rate * t) : 0);
		w->end = end;
		w->nsec = nsec;
		w->per_sec = rk_malloc((size_t)nsec * sizeof(hist));
		w->sec_err = rk_calloc((size_t)nsec, sizeof(uint64_t));
		for (int s = 0; s < nsec; s++)
			hist_init(&w->per_sec[s]);
		hist_init(&w->h);
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		pthread_create(&w->tid, NULL, run, w);
	}
	static hist all;
	hist_init(&all);
	uint64_t status[600] = {0}, dec[4] = {0}, done = 0, errors = 0, timeouts = 0;
	for (int t = 0; t < o.threads; t++) {
		worker *w = &ws[t];
		pthread_join(w->tid, NULL);
		hist_merge(&all, &w->h);
		for (int i = 0; i < 600; i++)
			status[i] += w->status[i];
		for (int i = 0; i < 4; i++)
			dec[i] += w->decisions[i];
		done += w->done;
		errors += w->errors;
		timeouts += w->timeouts;
	}
	double secs = (double)(now_ns() - start) / 1e9;
	if (secs < o.duration)
		secs = o.duration;
	print_report(&all, ws, o.duration, status, dec, done, errors, timeouts);
	int rc = errors ? 1 : 0;
	if (!done) {
		fprintf(stderr, "riskload: no request completed\n");
		rc = 1;
	}
	for (int i = 0; i < o.nslo; i++) {
		uint64_t got = hist_quantile(&all, o.slo_q[i]);
		bool ok = got <= o.slo_us[i];
		printf("  slo        %s <= %llu us: %llu us %s\n", o.slo_name[i],
		       (unsigned long long)o.slo_us[i], (unsigned long long)got,
		       ok ? "met" : "MISSED");
		if (!ok)
			rc = 1;
	}
	if (o.json && write_json(o.json, &all, o.duration, status, dec, done, errors))
		rc = 1;
	if (o.csv && write_csv(o.csv, ws, nsec))
		rc = 1;
	for (int t = 0; t < o.threads; t++) {
		for (int i = 0; i < ws[t].nc; i++)
			rk_free(ws[t].c[i].in);
		rk_free(ws[t].c);
		rk_free(ws[t].per_sec);
		rk_free(ws[t].sec_err);
		close(ws[t].ep);
	}
	rk_free(ws);
	for (int i = 0; i < nreqs; i++)
		rk_free(reqs[i]);
	rk_free(reqs);
	rk_free(reqlen);
	freeaddrinfo(addr);
	(void)secs;
	return rc;
usage_err:
	usage(stderr);
	return 2;
}
