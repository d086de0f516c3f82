/*
 * config.c - the table of riskd's settings (SPEC §8): one row per
 * RISKD_* variable with its --flag, default, bounds and meaning. Loading
 * applies the defaults, then the environment, then argv, and validates
 * every value (numbers, sizes, addresses, regions) so a bad setting stops
 * riskd at start. Used by main.c; see config.h for the fields.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../common/cpu.h"
#include "../common/rk.h"

enum kind { K_INT, K_SIZE, K_STR, K_LEVEL, K_LISTEN, K_REGIONS };

struct opt {
	const char *env;
	enum kind kind;
	size_t off;        /* offset of the field in svc_config */
	size_t len;        /* char fields: capacity; ints: sizeof */
	const char *def;
	int64_t min, max;  /* K_INT, K_SIZE */
	const char *help;
};

#define FLD(f) offsetof(svc_config, f), sizeof(((svc_config *)0)->f)
#define KIB 1024LL
#define MIB (1024LL * 1024)

static const struct opt opts[] = {
	{ "RISKD_LISTEN", K_LISTEN, FLD(listen), "127.0.0.1:8080", 0, 0,
	  "address:port to listen on ([v6]:port for IPv6, port 0 = any)" },
	{ "RISKD_DB", K_STR, FLD(db), "./riskd.db", 0, 0,
	  "SQLite rule store (created by `riskctl init`)" },
	{ "RISKD_THREADS", K_INT, FLD(threads), "0", 0, 1024,
	  "worker threads (0 = one per CPU; four per CPU with Redis, whose "
	  "waits hold a worker)" },
	{ "RISKD_HTTP_THREADS", K_INT, FLD(http_threads), "0", 0, 64,
	  "HTTP threads, an event loop each (0 = one per CPU with "
	  "RISKD_INLINE, else CPUs/4, 1..4)" },
	{ "RISKD_INLINE", K_INT, FLD(inline_run), "1", 0, 1,
	  "1: a single score runs to completion on its HTTP thread when "
	  "nothing is queued (its Redis reads on the thread's pipe); 0: "
	  "every score goes through the admission queue" },
	{ "RISKD_PIN_LOOPS", K_INT, FLD(pin_loops), "1", 0, 1,
	  "1: each HTTP loop keeps to a CPU of its own (of the CPUs riskd may "
	  "use) when there are no more loops than CPUs and no cgroup CPU "
	  "quota; 0: the kernel moves them" },
	{ "RISKD_REGIONS", K_REGIONS, FLD(regions_spec), "", 0, 0,
	  "Redis regions name=host:port,... (empty = embedded default)" },
	{ "RISKD_REGION", K_STR, FLD(region), "", 0, 0,
	  "home region (a name in RISKD_REGIONS; empty = the first)" },
	{ "RISKD_DEADLINE_MS", K_INT, FLD(deadline_ms), "50", 1, 600000,
	  "default request deadline" },
	{ "RISKD_MAX_DEADLINE_MS", K_INT, FLD(max_deadline_ms), "1000", 1,
	  600000, "cap on deadline_ms and X-Deadline-Ms" },
	{ "RISKD_MAX_BODY", K_SIZE, FLD(max_body), "65536", 256, 64 * MIB,
	  "largest request body, bytes (k/m suffixes); over it: 413" },
	{ "RISKD_QUEUE", K_INT, FLD(queue), "1024", 1, 1000000,
	  "admission queue capacity; full: 503 overloaded" },
	{ "RISKD_QUEUE_TARGET_MS", K_INT, FLD(queue_target_ms), "20", 1,
	  60000, "queueing delay target; exceeded for 100 ms: 503" },
	{ "RISKD_REDIS_TIMEOUT_MS", K_INT, FLD(redis_timeout_ms), "20", 1,
	  60000, "longest wait for Redis on the request path (within the "
	  "request's deadline); then the answer is degraded" },
	{ "RISKD_L1_ENTRIES", K_INT, FLD(l1_entries), "100000", 64,
	  100000000, "in-process feature cache: entries" },
	{ "RISKD_L1_BYTES", K_SIZE, FLD(l1_bytes), "67108864", 65536,
	  64 * 1024 * MIB, "in-process feature cache: bytes (k/m/g)" },
	{ "RISKD_L1_TTL_MS", K_INT, FLD(l1_ttl_ms), "1000", 0, 86400000,
	  "in-process feature cache: time to live" },
	{ "RISKD_RELOAD_MS", K_INT, FLD(reload_ms), "1000", 0, 3600000,
	  "store poll interval (PRAGMA data_version; 0 = SIGHUP only)" },
	{ "RISKD_DECISION_LOG", K_STR, FLD(decision_log), "", 0, 0,
	  "decision log: file path, - for stdout, empty = off" },
	{ "RISKD_REDACT", K_STR, FLD(redact), "", 0, 0,
	  "event fields replaced in the decision log (comma list)" },
	{ "RISKD_LOG_LEVEL", K_LEVEL, FLD(log_level), "info", 0, 0,
	  "debug, info, warn or error (JSON lines on stderr)" },
	{ "RISKD_RATE_LIMIT", K_INT, FLD(rate_limit), "0", 0, 100000000,
	  "per API key requests per second (0 = unlimited)" },
	{ "RISKD_RATE_BURST", K_INT, FLD(rate_burst), "0", 0, 100000000,
	  "per API key burst (0 = the rate limit)" },
	{ "RISKD_MAX_CONNS", K_INT, FLD(max_conns), "4096", 1, 1000000,
	  "concurrent HTTP connections" },
	{ "RISKD_CONN_TIMEOUT_S", K_INT, FLD(conn_timeout_s), "30", 1, 3600,
	  "idle connection timeout, seconds" },
	{ "RISKD_CONN_MEMORY", K_SIZE, FLD(conn_memory), "16384", 8192,
	  16 * MIB, "libmicrohttpd memory per connection (headers, I/O)" },
	{ "RISKD_DRAIN_MS", K_INT, FLD(drain_ms), "10000", 0, 600000,
	  "on SIGTERM, longest wait for in-flight requests" },
	{ "RISKD_HEALTH_INTERVAL_MS", K_INT, FLD(health_interval_ms), "250",
	  10, 600000, "region health-check interval" },
	{ "RISKD_HEALTH_TIMEOUT_MS", K_INT, FLD(health_timeout_ms), "100", 1,
	  600000, "region health-check timeout" },
	{ "RISKD_FAIL_THRESHOLD", K_INT, FLD(fail_threshold), "3", 1, 1000,
	  "consecutive failures before failing over" },
	{ "RISKD_RECOVER_THRESHOLD", K_INT, FLD(recover_threshold), "5", 1,
	  1000, "consecutive successes before failing back" },
	{ "RISKD_FAILBACK_MIN_MS", K_INT, FLD(failback_min_ms), "30000", 0,
	  86400000, "home region up at least this long before failback" },
};

static void flag_name(const char *env, char *buf, size_t n)
{
	const char *s = env + strlen("RISKD_");
	size_t i = 0;
	buf[i++] = '-';
	buf[i++] = '-';
	for (; *s && i + 1 < n; s++)
		buf[i++] = *s == '_' ? '-' : (char)tolower((unsigned char)*s);
	buf[i] = '\0';
}

static int parse_int(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end)
		return RK_EINVAL;
	*out = x;
	return 0;
}

/* Bytes with an optional k, m, g suffix (powers of 1024; "KiB" too). */
static int parse_size(const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || x < 0)
		return RK_EINVAL;
	long long mul = 1;
	switch (tolower((unsigned char)*end)) {
	case '\0': break;
	case 'k': mul = KIB; end++; break;
	case 'm': mul = MIB; end++; break;
	case 'g': mul = 1024 * MIB; end++; break;
	default: return RK_EINVAL;
	}
	if (mul > 1 && (!strcmp(end, "ib") || !strcmp(end, "iB") ||
			!strcmp(end, "b") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end || x > INT64_MAX / mul)
		return RK_EINVAL;
	*out = x * mul;
	return 0;
}

static int parse_listen(svc_config *c, const char *v, char *err,
			size_t errlen)
{
	const char *colon, *host = v;
	size_t hlen;
	if (*v == '[') {
		const char *rb = strchr(v, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		host = v + 1;
		hlen = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - v);
	}
	if (hlen >= sizeof(c->listen_host))
		goto bad;
	memcpy(c->listen_host, host, hlen);
	c->listen_host[hlen] = '\0';
	if (!hlen)
		snprintf(c->listen_host, sizeof(c->listen_host), "0.0.0.0");
	else if (!strcmp(c->listen_host, "localhost"))
		snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	unsigned char addr[16];
	if (inet_pton(AF_INET, c->listen_host, addr) != 1 &&
	    inet_pton(AF_INET6, c->listen_host, addr) != 1)
		goto bad;
	int64_t port;
	if (parse_int(colon + 1, &port) || port < 0 || port > 65535)
		goto bad;
	c->listen_port = (int)port;
	return 0;
bad:
	snprintf(err, errlen,
		 "RISKD_LISTEN/--listen: '%s' is not ADDRESS:PORT (e.g. "
		 "127.0.0.1:8080, [::1]:8080, :8080)", v);
	return RK_EINVAL;
}

static bool is_name(const char *s, size_t n)
{
	if (!n || n >= sizeof(((svc_region *)0)->name))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

/* "a=host:port,b=host:port" */
static int parse_regions(svc_config *c, const char *v, char *err,
			 size_t errlen)
{
	c->nregions = 0;
	const char *p = v;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		const char *colon = NULL;
		for (const char *q = p + n; q > p; q--)
			if (q[-1] == ':') {
				colon = q - 1;
				break;
			}
		if (c->nregions == SVC_MAX_REGIONS) {
			snprintf(err, errlen,
				 "RISKD_REGIONS: at most %d regions",
				 SVC_MAX_REGIONS);
			return RK_EINVAL;
		}
		svc_region *r = &c->regions[c->nregions];
		size_t hlen = colon && eq ? (size_t)(colon - eq - 1) : 0;
		char portbuf[16];
		size_t plen = colon ? (size_t)(p + n - colon - 1) : 0;
		int64_t port = 0;
		if (!eq || !colon || colon < eq || !is_name(p, (size_t)(eq - p)) ||
		    !hlen || hlen >= sizeof(r->host) || !plen ||
		    plen >= sizeof(portbuf)) {
			snprintf(err, errlen,
				 "RISKD_REGIONS/--regions: '%.*s' is not "
				 "NAME=HOST:PORT", (int)n, p);
			return RK_EINVAL;
		}
		memcpy(portbuf, colon + 1, plen);
		portbuf[plen] = '\0';
		if (parse_int(portbuf, &port) || port < 1 || port > 65535) {
			snprintf(err, errlen,
				 "RISKD_REGIONS/--regions: bad port in '%.*s'",
				 (int)n, p);
			return RK_EINVAL;
		}
		memcpy(r->name, p, (size_t)(eq - p));
		r->name[eq - p] = '\0';
		memcpy(r->host, eq + 1, hlen);
		r->host[hlen] = '\0';
		r->port = (int)port;
		for (int i = 0; i < c->nregions; i++)
			if (!strcmp(c->regions[i].name, r->name)) {
				snprintf(err, errlen,
					 "RISKD_REGIONS: region '%s' twice",
					 r->name);
				return RK_EINVAL;
			}
		c->nregions++;
		if (!end)
			break;
		p = end + 1;
		if (!*p) {
			snprintf(err, errlen, "RISKD_REGIONS: trailing comma");
			return RK_EINVAL;
		}
	}
	return 0;
}

static int set_opt(svc_config *c, const struct opt *o, const char *v,
		   const char *src, char *err, size_t errlen)
{
	char *field = (char *)c + o->off;
	int64_t x;
	switch (o->kind) {
	case K_INT:
	case K_SIZE:
		if ((o->kind == K_INT ? parse_int(v, &x) : parse_size(v, &x)) ||
		    x < o->min || x > o->max) {
			snprintf(err, errlen,
				 "%s: '%s' is not %s in [%lld, %lld]", src, v,
				 o->kind == K_INT ? "an integer" : "a size",
				 (long long)o->min, (long long)o->max);
			return RK_EINVAL;
		}
		if (o->len == sizeof(int))
			*(int *)field = (int)x;
		else
			*(int64_t *)field = x;
		return 0;
	case K_LEVEL:
		if (strcmp(v, "debug") && strcmp(v, "info") &&
		    strcmp(v, "warn") && strcmp(v, "error")) {
			snprintf(err, errlen,
				 "%s: '%s' is not debug, info, warn or error",
				 src, v);
			return RK_EINVAL;
		}
		/* fall through */
	case K_STR:
	case K_LISTEN:
	case K_REGIONS:
		if (strlen(v) >= o->len) {
			snprintf(err, errlen, "%s: value longer than %zu bytes",
				 src, o->len - 1);
			return RK_EINVAL;
		}
		memcpy(field, v, strlen(v) + 1);
		return 0;
	}
	return RK_EINVAL;
}

void svc_config_defaults(svc_config *c)
{
	char err[64];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < RK_ARRAY_LEN(opts); i++)
		set_opt(c, &opts[i], opts[i].def, opts[i].env, err,
			sizeof(err));
	parse_listen(c, c->listen, err, sizeof(err));
}

void svc_config_usage(FILE *out)
{
	fprintf(out,
		"usage: riskd [--FLAG VALUE]...\n"
		"The real-time risk-scoring service. Every setting is an "
		"environment\nvariable and a flag; flags win.\n\n");
	for (size_t i = 0; i < RK_ARRAY_LEN(opts); i++) {
		char flag[64];
		flag_name(opts[i].env, flag, sizeof(flag));
		fprintf(out, "  %-26s %-26s default '%s'\n      %s\n", flag,
			opts[i].env, opts[i].def, opts[i].help);
	}
	fprintf(out, "\n  --help                     this text\n"
		     "  --version                  print the version\n");
}

static const struct opt *find_flag(const char *arg, size_t n)
{
	for (size_t i = 0; i < RK_ARRAY_LEN(opts); i++) {
		char flag[64];
		flag_name(opts[i].env, flag, sizeof(flag));
		if (strlen(flag) == n && !memcmp(flag, arg, n))
			return &opts[i];
	}
	return NULL;
}

/* Cross-field checks and derived values, after every source applied. */
static int finish(svc_config *c, char *err, size_t errlen)
{
	if (parse_listen(c, c->listen, err, errlen) ||
	    parse_regions(c, c->regions_spec, err, errlen))
		return RK_EINVAL;
	if (c->region[0]) {
		int i;
		for (i = 0; i < c->nregions; i++)
			if (!strcmp(c->regions[i].name, c->region))
				break;
		if (i == c->nregions) {
			snprintf(err, errlen,
				 "RISKD_REGION: '%s' is not a region of "
				 "RISKD_REGIONS", c->region);
			return RK_EINVAL;
		}
	}
	if (c->deadline_ms > c->max_deadline_ms) {
		snprintf(err, errlen,
			 "RISKD_DEADLINE_MS (%lld) exceeds RISKD_MAX_DEADLINE_MS"
			 " (%lld)", (long long)c->deadline_ms,
			 (long long)c->max_deadline_ms);
		return RK_EINVAL;
	}
	if (!c->db[0]) {
		snprintf(err, errlen, "RISKD_DB: empty path");
		return RK_EINVAL;
	}
	long cpus = rk_cpu_budget();
	if (!c->threads) {
		long t = c->regions_spec[0] ? 4 * cpus : cpus;
		c->threads = (int)(t > 256 ? 256 : t);
	}
	if (!c->http_threads && c->inline_run)
		c->http_threads = (int)(cpus > 64 ? 64 : cpus);
	if (!c->http_threads)
		c->http_threads = (int)(cpus / 4 < 1 ? 1 : cpus / 4 > 4 ?
					4 : cpus / 4);
	if (!c->rate_burst)
		c->rate_burst = c->rate_limit;
	return 0;
}

int svc_config_load(svc_config *c, int argc, char **argv, FILE *out,
		    char *err, size_t errlen)
{
	svc_config_defaults(c);
	for (size_t i = 0; i < RK_ARRAY_LEN(opts); i++) {
		const char *v = getenv(opts[i].env);
		if (v && set_opt(c, &opts[i], v, opts[i].env, err, errlen))
			return RK_EINVAL;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			svc_config_usage(out);
			return 1;
		}
		if (!strcmp(a, "--version")) {
			fprintf(out, "riskd 0.1\n");
			return 1;
		}
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const struct opt *o = strncmp(a, "--", 2) ? NULL :
				      find_flag(a, n);
		if (!o) {
			snprintf(err, errlen,
				 "unknown argument '%s' (see riskd --help)", a);
			return RK_EINVAL;
		}
		const char *v = eq ? eq + 1 : NULL;
		if (!v) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "%.*s: missing value",
					 (int)n, a);
				return RK_EINVAL;
			}
			v = argv[++i];
		}
		char src[80];
		snprintf(src, sizeof(src), "%.*s", (int)n, a);
		if (set_opt(c, o, v, src, err, errlen))
			return RK_EINVAL;
	}
	return finish(c, err, errlen);
}

cJSON *svc_config_to_json(const svc_config *c)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	for (size_t i = 0; i < RK_ARRAY_LEN(opts); i++) {
		const struct opt *p = &opts[i];
		const char *field = (const char *)c + p->off;
		cJSON *v;
		if (p->kind == K_INT || p->kind == K_SIZE)
			v = cJSON_CreateNumber(p->len == sizeof(int) ?
					       (double)*(const int *)field :
					       (double)*(const int64_t *)field);
		else
			v = cJSON_CreateString(field);
		if (!v) {
			cJSON_Delete(o);
			return NULL;
		}
		cJSON_AddItemToObject(o, p->env, v);
	}
	return o;
}
