/*
 * cpu.c - the process's CPU set and cgroup CPU quota; see cpu.h.
 */
#include "cpu.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int rk_cpus(int *list, int cap)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set)) {
				if (n < cap)
					list[n] = c;
				n++;
			}
	}
	if (n > 0)
		return n;
	long on = sysconf(_SC_NPROCESSORS_ONLN);
	n = on < 1 ? 1 : on > CPU_SETSIZE ? CPU_SETSIZE : (int)on;
	for (int c = 0; c < n && c < cap; c++)
		list[c] = c;
	return n;
}

/* The first line of path into buf (NUL-terminated, newline dropped);
 * false when it cannot be read. */
static bool read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* ceil(quota / period) of one cgroup directory, 0 when unlimited. */
static int dir_quota(const char *dir, bool v2)
{
	char path[4096 + 32], a[128], b[128];
	long long q = 0, p = 0;
	if (v2) {
		snprintf(path, sizeof(path), "%s/cpu.max", dir);
		if (!read_line(path, a, sizeof(a)) ||
		    sscanf(a, "%lld %lld", &q, &p) != 2)
			return 0;   /* "max 100000" or nothing */
	} else {
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
		if (!read_line(path, a, sizeof(a)) || sscanf(a, "%lld", &q) != 1)
			return 0;
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
		if (!read_line(path, b, sizeof(b)) || sscanf(b, "%lld", &p) != 1)
			return 0;
	}
	if (q <= 0 || p <= 0)
		return 0;   /* -1: no quota */
	long long n = (q + p - 1) / p;
	return n > 1 << 20 ? 1 << 20 : (int)n;
}

/* The smallest quota of base + cg and every ancestor up to base. */
static int walk_quota(const char *base, const char *cg, bool v2)
{
	char dir[4096];
	int best = 0;
	int n = snprintf(dir, sizeof(dir), "%s%s", base, cg);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return 0;
	size_t root = strlen(base);
	for (;;) {
		int q = dir_quota(dir, v2);
		if (q > 0 && (!best || q < best))
			best = q;
		char *slash = strrchr(dir + root, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	return best;
}

int rk_cpu_quota(const char *sysfs, const char *self)
{
	FILE *f = fopen(self, "re");
	if (!f)
		return 0;
	char line[4096], base[4096];
	int best = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		/* "id:controllers:path"; v2 has no controllers */
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || c2[1] != '/')
			continue;
		*c2 = '\0';
		const char *ctl = c1 + 1, *cg = c2 + 1;
		bool v2 = !*ctl, cpu = v2;
		for (const char *t = ctl; !v2 && *t;) {
			size_t len = strcspn(t, ",");
			if (len == 3 && !strncmp(t, "cpu", 3))
				cpu = true;
			t += len + (t[len] == ',');
		}
		if (!cpu)
			continue;
		int n = v2 ? snprintf(base, sizeof(base), "%s", sysfs)
			   : snprintf(base, sizeof(base), "%s/%s", sysfs, ctl);
		if (n < 0 || (size_t)n >= sizeof(base))
			continue;
		if (!strcmp(cg, "/"))
			cg = "";
		int q = walk_quota(base, cg, v2);
		if (q > 0 && (!best || q < best))
			best = q;
	}
	fclose(f);
	return best;
}

int rk_cpu_budget(void)
{
	int n = rk_cpus(NULL, 0);
	int q = rk_cpu_quota("/sys/fs/cgroup", "/proc/self/cgroup");
	return q > 0 && q < n ? q : n;
}
