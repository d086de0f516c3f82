/*
 * handlers_data.c - the data tier's endpoints (SPEC §6):
 * PUT/GET /v1/features/{group}/{key} and GET /v1/regions. Features
 * calls may touch Redis, so they run on a worker like scoring, with the
 * request's deadline as the Redis budget. Neighbours: data.h (the tier),
 * server.c (routes, replies), handlers_admin.c (the other probes).
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/jw.h"
#include "../common/rk.h"
#include "data.h"
#include "server.h"

/* Splits r->arg "group/key"; replies 400 on a bad group name. */
static int split(svc_req *r, char *group, size_t gcap, const char **key)
{
	const char *slash = strchr(r->arg, '/');
	size_t n = slash ? (size_t)(slash - r->arg) : 0;
	bool ok = n && n < gcap;
	for (size_t i = 0; ok && i < n; i++) {
		char c = r->arg[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		     (c >= '0' && c <= '9') || c == '_' || c == '-';
	}
	if (!ok) {
		svc_reply_error(r, 400, "bad_request",
				"feature group: 1-63 characters of "
				"[A-Za-z0-9_-]");
		return RK_EINVAL;
	}
	memcpy(group, r->arg, n);
	group[n] = '\0';
	*key = slash + 1;
	return 0;
}

static void reply_redis(svc_req *r, int rc)
{
	if (rc == RK_ETIMEOUT)
		svc_reply_error(r, 504, "deadline_exceeded",
				"Redis did not answer within the deadline");
	else
		svc_reply_error(r, 503, "unavailable",
				"no Redis region could take the request (%s)",
				rk_strerror(rc));
}

static void work_get(svc_req *r, svc_worker *w, int64_t queued_us)
{
	RK_UNUSED(w);
	RK_UNUSED(queued_us);
	char group[64];
	const char *key;
	if (split(r, group, sizeof(group), &key))
		return;
	jw o;
	jw_init(&o, 512);
	jw_obj_begin(&o);
	int rc = svc_data_get(r->srv->data, group, key, r->deadline_us, &o);
	if (rc == RK_ENOENT) {
		jw_cleanup(&o);
		svc_reply_error(r, 404, "not_found",
				"no features for %s/%s", group, key);
		return;
	}
	if (rc) {
		jw_cleanup(&o);
		reply_redis(r, rc);
		return;
	}
	jw_obj_end(&o);
	svc_reply_jw(r, 200, &o);
}

void svc_h_features_get(svc_req *r)
{
	char group[64];
	const char *key;
	if (split(r, group, sizeof(group), &key) || svc_req_deadline(r, NULL))
		return;
	svc_req_submit(r, work_get);
}

static void work_put(svc_req *r, svc_worker *w, int64_t queued_us)
{
	RK_UNUSED(w);
	RK_UNUSED(queued_us);
	char group[64];
	const char *key;
	if (split(r, group, sizeof(group), &key))
		return;
	const char *region = NULL;
	int rc = svc_data_put(r->srv->data, group, key, r->json,
			      r->deadline_us, &region);
	if (rc == RK_EINVAL) {
		svc_reply_error(r, 400, "bad_request", "key too long");
		return;
	}
	if (rc == RK_ENOMEM) {
		svc_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	if (rc) {
		reply_redis(r, rc);
		return;
	}
	jw o;
	jw_init(&o, 256);
	jw_obj_begin(&o);
	jw_kstr(&o, "group", group);
	jw_kstr(&o, "key", key);
	jw_kint(&o, "fields", cJSON_GetArraySize(r->json));
	jw_kstr(&o, "tier", region ? "redis" : "l1");
	jw_kstr(&o, "region", region);
	jw_obj_end(&o);
	svc_reply_jw(r, 200, &o);
}

void svc_h_features_put(svc_req *r)
{
	char group[64];
	const char *key;
	if (split(r, group, sizeof(group), &key) ||
	    svc_req_require_admin(r) ||
	    svc_req_deadline(r, NULL))
		return;
	const cJSON *f;
	cJSON_ArrayForEach(f, r->json) {
		if (cJSON_IsObject(f) || cJSON_IsArray(f)) {
			svc_reply_error(r, 400, "bad_request",
					"%s: feature values are strings, "
					"numbers, booleans or null",
					f->string);
			return;
		}
	}
	svc_req_submit(r, work_put);
}

void svc_h_regions(svc_req *r)
{
	jw o;
	jw_init(&o, 512);
	jw_obj_begin(&o);
	jw_kbool(&o, "redis", svc_data_has_redis(r->srv->data));
	svc_data_regions(r->srv->data, &o);
	jw_obj_end(&o);
	svc_reply_jw(r, 200, &o);
}
