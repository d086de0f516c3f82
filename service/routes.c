/*
 * routes.c - the endpoints of SPEC §6 and the lookup of a request's
 * route: exact paths, and prefix paths with one or two {segments}. A
 * known path with the wrong method is a 405 with Allow, an unknown one a
 * 404. Neighbours: server.c (calls svc_route_find at the headers),
 * server_int.h (struct svc_route), handlers_*.c (the handlers named here).
 */
#include "server_int.h"

#include <stdio.h>
#include <string.h>

#include "../common/rk.h"

static const struct svc_route routes[] = {
	{ "/v1/score", "POST", svc_h_score, true, NULL, 0 },
	{ "/v1/score/batch", "POST", svc_h_batch, true, NULL, 0 },
	{ "/v1/simulate", "POST", svc_h_simulate, true, NULL, 0 },
	{ "/v1/scenarios", "GET", svc_h_scenarios, false, NULL, 0 },
	{ "/v1/scenarios/", "GET", svc_h_scenario, false,
	  "/v1/scenarios/{name}", 1 },
	{ "/v1/features/", "GET", svc_h_features_get, false,
	  "/v1/features/{group}/{key}", 2 },
	{ "/v1/features/", "PUT", svc_h_features_put, true,
	  "/v1/features/{group}/{key}", 2 },
	{ "/v1/regions", "GET", svc_h_regions, false, NULL, 0 },
	{ "/v1/admin/reload", "POST", svc_h_reload, false, NULL, 0 },
	{ "/livez", "GET", svc_h_livez, false, NULL, 0 },
	{ "/readyz", "GET", svc_h_readyz, false, NULL, 0 },
	{ "/healthz", "GET", svc_h_readyz, false, NULL, 0 },
	{ "/metrics", "GET", svc_h_metrics, false, NULL, 0 },
};

const struct svc_route *svc_route_find(const char *url, const char *method,
				       svc_req *r)
{
	bool path_known = false;
	const char *allow = NULL;
	for (size_t i = 0; i < RK_ARRAY_LEN(routes); i++) {
		const struct svc_route *rt = &routes[i];
		size_t n = strlen(rt->path);
		bool match;
		if (rt->path[n - 1] == '/') {
			const char *rest = url + n;
			const char *slash = strchr(rest, '/');
			match = !strncmp(url, rt->path, n) && *rest &&
				strlen(rest) < sizeof(r->arg) &&
				(rt->segs == 1 ? !slash :
				 slash && slash > rest && slash[1] &&
				 !strchr(slash + 1, '/'));
			if (match)
				snprintf(r->arg, sizeof(r->arg), "%s", rest);
		} else {
			match = !strcmp(url, rt->path);
		}
		if (!match)
			continue;
		path_known = true;
		r->route = rt->label ? rt->label : rt->path;
		if (!strcmp(method, rt->method) ||
		    (!strcmp(method, "HEAD") && !strcmp(rt->method, "GET")))
			return rt;
		allow = !strcmp(rt->path, "/v1/features/") ? "GET, HEAD, PUT"
			: !strcmp(rt->method, "GET") ? "GET, HEAD" : "POST";
	}
	if (path_known) {
		r->allow = allow;
		svc_reply_error(r, 405, "method_not_allowed",
				"%s is not allowed here (allowed: %s)", method,
				allow);
	} else {
		r->route = "other";
		svc_reply_error(r, 404, "not_found", "no such endpoint: %s",
				url);
	}
	return NULL;
}
