/*
 * main.c - riskd's entry point: configuration (config.c), the engine
 * with its reload thread (engine.c), the HTTP server and worker pool
 * (server.c, pool.c); then the main thread waits for signals: SIGHUP
 * reloads, SIGTERM/SIGINT drain (readiness off, in-flight requests
 * finish, new ones get 503) and exit 0. Exit 2 on bad configuration,
 * 1 when the store cannot be opened or the address bound.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "config.h"
#include "engine.h"
#include "data.h"
#include "declog.h"
#include "log.h"
#include "server.h"

int main(int argc, char **argv)
{
	static svc_config cfg;
	char err[1024];
	rk_cjson_hooks();
	int rc = svc_config_load(&cfg, argc, argv, stdout, err, sizeof(err));
	if (rc == 1)
		return 0;
	if (rc) {
		fprintf(stderr, "riskd: %s\n", err);
		return 2;
	}

	/* Every thread inherits this mask; only the main thread takes
	 * the signals, with sigwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	svc_engine *engine = svc_engine_new(&cfg, err, sizeof(err));
	if (!engine) {
		fprintf(stderr, "riskd: %s\n", err);
		return 1;
	}
	svc_data *data = svc_data_new(&cfg, err, sizeof(err));
	if (!data) {
		fprintf(stderr, "riskd: %s\n", err);
		svc_engine_free(engine);
		return 1;
	}
	svc_engine_set_data(engine, data);
	svc_server *srv = svc_server_new(&cfg, engine, err, sizeof(err));
	if (srv) {
		srv->data = data;
		svc_data_metrics(data, srv->metrics);
	}
	if (!srv || svc_server_start(srv, err, sizeof(err)) ||
	    svc_engine_start(engine)) {
		fprintf(stderr, "riskd: %s\n", err);
		svc_server_free(srv);
		svc_data_free(data);
		svc_engine_free(engine);
		return 1;
	}
	char where[320];
	snprintf(where, sizeof(where), "%s port %d", cfg.listen_host,
		 srv->port);
	log_info("listening", "detail", where, NULL);

	for (;;) {
		int sig = 0;
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: reloading, reopening the decision log",
				 NULL);
			declog_reopen(srv->declog);
			svc_engine_reload(engine, NULL, NULL);
			continue;
		}
		break;
	}
	log_info("draining", NULL);
	int left = svc_server_drain(srv);
	if (left) {
		snprintf(where, sizeof(where), "%d requests still in flight",
			 left);
		log_warn("drain timed out", "detail", where, NULL);
	}
	svc_server_free(srv);
	svc_data_free(data);
	svc_engine_free(engine);
	log_info("stopped", NULL);
	return 0;
}
