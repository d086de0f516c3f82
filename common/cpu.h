/*
 * cpu.h - the CPUs riskd may use: its affinity set (a container's cpuset,
 * a taskset) and a cgroup CPU quota (docker --cpus), which size its
 * thread counts and decide whether its HTTP loops are pinned.
 * Neighbours: service/config.c, service/server.c.
 */
#ifndef RK_CPU_H
#define RK_CPU_H

/*
 * The CPUs this process may run on - its affinity set, so a container's
 * cpuset or a taskset counts, not the machine's: returns their number
 * (at least 1) and writes the first cap of their ids to list (NULL with
 * cap 0 only counts). Falls back to the online CPUs numbered from 0.
 */
int rk_cpus(int *list, int cap);

/*
 * The CPUs a cgroup CPU quota lets the process use, rounded up: the
 * smallest quota / period of its cgroup and the cgroup's ancestors
 * (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), or 0 when
 * none is set or none can be read. A container limited with --cpus=2 on
 * a 64-CPU host has 64 CPUs in its affinity set and a quota of 2. sysfs
 * is the cgroup mount ("/sys/fs/cgroup") and self the file naming the
 * process's cgroups ("/proc/self/cgroup"); tests pass others. A v1
 * hierarchy is looked for at sysfs/<controller list> ("cpu,cpuacct", as
 * Debian and Docker mount it); one mounted elsewhere reads as no quota.
 */
int rk_cpu_quota(const char *sysfs, const char *self);
/* What riskd sizes its threads by: rk_cpus, or the process's cgroup
 * quota (rk_cpu_quota of /sys/fs/cgroup) when that is smaller. */
int rk_cpu_budget(void);

#endif
