/*
 * test_cpu.c - rk_cpus follows the affinity set; rk_cpu_quota reads
 * cgroup v1 and v2 quotas from fake trees (nested cgroups, ancestors up
 * to the mount, controller lists, paths with ':'); rk_cpu_budget stays
 * within the CPU set.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cpu.h"

/* rk_cpus follows the affinity set (what a container or taskset allows),
 * lists CPUs in ascending order and honours cap. */
static void test_cpus(void **st)
{
	cpu_set_t saved, one;
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	int list[CPU_SETSIZE];
	int n = rk_cpus(list, CPU_SETSIZE);
	assert_int_equal(n, CPU_COUNT(&saved));
	for (int i = 0; i < n; i++) {
		assert_true(CPU_ISSET(list[i], &saved));
		if (i)
			assert_true(list[i] > list[i - 1]);
	}
	assert_int_equal(rk_cpus(NULL, 0), n);
	int first = -1;
	assert_int_equal(rk_cpus(&first, 1), n);  /* counts past cap */
	assert_int_equal(first, list[0]);
	CPU_ZERO(&one);
	CPU_SET(list[n - 1], &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	int got = -1;
	assert_int_equal(rk_cpus(&got, 1), 1);
	assert_int_equal(got, list[n - 1]);
	assert_int_equal(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

/* A fake cgroup tree under a temporary directory. */
static char qroot[64];

static void put(const char *rel, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", qroot, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void dir(const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", qroot, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int quota(void)
{
	char sysfs[128], self[128];
	snprintf(sysfs, sizeof(sysfs), "%s/fs", qroot);
	snprintf(self, sizeof(self), "%s/self", qroot);
	return rk_cpu_quota(sysfs, self);
}

/* rk_cpu_quota reads v2 cpu.max and v1 cfs files of the process's cgroup
 * and its ancestors, keeps the smallest, rounds up, and is 0 without a
 * quota or files. */
static void test_cpu_quota(void **st)
{
	snprintf(qroot, sizeof(qroot), "/tmp/rkq.XXXXXX");
	assert_non_null(mkdtemp(qroot));
	assert_int_equal(quota(), 0);              /* no self file */
	dir("fs");
	/* v2: the leaf unlimited, its parent 1.5 CPUs -> 2 */
	dir("fs/pod");
	dir("fs/pod/c1");
	put("self", "0::/pod/c1\n");
	assert_int_equal(quota(), 0);              /* no cpu.max anywhere */
	put("fs/pod/c1/cpu.max", "max 100000\n");
	assert_int_equal(quota(), 0);
	put("fs/pod/cpu.max", "150000 100000\n");
	assert_int_equal(quota(), 2);
	put("fs/pod/c1/cpu.max", "50000 100000\n");  /* tighter leaf */
	assert_int_equal(quota(), 1);
	put("fs/cpu.max", "garbage\n");
	assert_int_equal(quota(), 1);
	/* a namespaced container: "/" is the mount's own cgroup */
	put("self", "0::/\n");
	put("fs/cpu.max", "400000 100000\n");
	assert_int_equal(quota(), 4);
	/* v1 (hybrid hierarchy): the cpu controller's line only */
	dir("fs/cpu,cpuacct");
	dir("fs/cpu,cpuacct/docker");
	put("self", "4:memory:/docker\n2:cpu,cpuacct:/docker\n0::/\n");
	put("fs/cpu.max", "max 100000\n");
	put("fs/cpu,cpuacct/docker/cpu.cfs_quota_us", "-1\n");
	put("fs/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
	assert_int_equal(quota(), 0);
	put("fs/cpu,cpuacct/docker/cpu.cfs_quota_us", "250000\n");
	assert_int_equal(quota(), 3);
	/* a path that is not under the mount: its ancestors up to the
	 * mount's root are read (a container without a cgroup namespace) */
	put("self", "2:cpu,cpuacct:/docker/abc\n");
	put("fs/cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
	put("fs/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
	assert_int_equal(quota(), 2);
	/* a cgroup path with ':' in it (the line splits at the first two) */
	dir("fs/cpu,cpuacct/a:b");
	put("fs/cpu,cpuacct/a:b/cpu.cfs_quota_us", "100000\n");
	put("fs/cpu,cpuacct/a:b/cpu.cfs_period_us", "100000\n");
	put("self", "2:cpu,cpuacct:/a:b\n");
	assert_int_equal(quota(), 1);
	/* a controller list without cpu is not read */
	put("self", "3:cpuset:/docker\n");
	assert_int_equal(quota(), 0);
	/* rk_cpu_budget is never above rk_cpus */
	assert_true(rk_cpu_budget() >= 1);
	assert_true(rk_cpu_budget() <= rk_cpus(NULL, 0));
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", qroot);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_cpu_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
