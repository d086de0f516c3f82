/*
 * config.h - riskd's configuration (SPEC §8): every RISKD_* environment
 * variable, each also a --flag (flags win over the environment). Values
 * are validated at start; an invalid one is a clear message and exit 2,
 * never an error at the first request. main.c fills a svc_config once;
 * server.c, pool.c and engine.c read it. `riskd --help` prints the table.
 */
#ifndef SVC_CONFIG_H
#define SVC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;

#define SVC_MAX_REGIONS 8

typedef struct svc_region {
	char name[32];
	char host[256];
	int port;
} svc_region;

typedef struct svc_config {
	char listen[300];        /* RISKD_LISTEN as written */
	char listen_host[256];   /* parsed: numeric address or "localhost" */
	int listen_port;
	char db[1024];           /* RISKD_DB */
	int threads;             /* RISKD_THREADS: evaluation workers */
	int http_threads;        /* RISKD_HTTP_THREADS: MHD polling threads */
	int inline_run;          /* RISKD_INLINE: score on the HTTP thread */
	int pin_loops;           /* RISKD_PIN_LOOPS: a CPU per HTTP loop */
	char regions_spec[1024]; /* RISKD_REGIONS as written */
	svc_region regions[SVC_MAX_REGIONS];
	int nregions;
	char region[32];         /* RISKD_REGION (home); "" = first */
	int64_t deadline_ms;     /* RISKD_DEADLINE_MS */
	int64_t max_deadline_ms; /* RISKD_MAX_DEADLINE_MS */
	int64_t max_body;        /* RISKD_MAX_BODY, bytes */
	int queue;               /* RISKD_QUEUE: admission queue capacity */
	int64_t queue_target_ms; /* RISKD_QUEUE_TARGET_MS: queueing delay */
	int64_t redis_timeout_ms; /* RISKD_REDIS_TIMEOUT_MS */
	int64_t l1_entries;      /* RISKD_L1_ENTRIES */
	int64_t l1_bytes;        /* RISKD_L1_BYTES */
	int64_t l1_ttl_ms;       /* RISKD_L1_TTL_MS */
	int64_t reload_ms;       /* RISKD_RELOAD_MS */
	char decision_log[1024]; /* RISKD_DECISION_LOG: path, "-", "" */
	char redact[1024];       /* RISKD_REDACT: event fields to redact */
	char log_level[16];      /* RISKD_LOG_LEVEL */
	int64_t rate_limit;      /* RISKD_RATE_LIMIT: per key req/s, 0 off */
	int64_t rate_burst;      /* RISKD_RATE_BURST */
	int max_conns;           /* RISKD_MAX_CONNS */
	int64_t conn_timeout_s;  /* RISKD_CONN_TIMEOUT_S: idle keep-alive */
	int64_t conn_memory;     /* RISKD_CONN_MEMORY: MHD per connection */
	int64_t drain_ms;        /* RISKD_DRAIN_MS: bound on SIGTERM drain */
	int64_t health_interval_ms;  /* RISKD_HEALTH_INTERVAL_MS */
	int64_t health_timeout_ms;   /* RISKD_HEALTH_TIMEOUT_MS */
	int fail_threshold;          /* RISKD_FAIL_THRESHOLD */
	int recover_threshold;       /* RISKD_RECOVER_THRESHOLD */
	int64_t failback_min_ms;     /* RISKD_FAILBACK_MIN_MS */
} svc_config;

/* Defaults for every field (the values `riskd --help` shows). */
void svc_config_defaults(svc_config *c);

/*
 * Fills c from the environment, then from argv (--name VALUE or
 * --name=VALUE). Returns 0; 1 when --help or --version was handled
 * (text already on out); or RK_EINVAL with a one-line message in err
 * naming the variable or flag and the accepted values.
 */
int svc_config_load(svc_config *c, int argc, char **argv, FILE *out,
		    char *err, size_t errlen);

/* Prints the option table (flag, variable, default, meaning). */
void svc_config_usage(FILE *out);

/* Every setting as {"RISKD_X": value} (the start-up log line). */
struct cJSON *svc_config_to_json(const svc_config *c);

#endif
