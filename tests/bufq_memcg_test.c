// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for /dev/bufq and memory cgroups (v2, mounted on
 * /sys/fs/cgroup by the VM's init, or here):
 *
 *  - a lookaside queue configured in cgroup A and grown by FETCHes from a
 *    process in cgroup B is charged to A, not B (the uapi DOC: a queue's
 *    memory is charged to the cgroup of the task that configured it);
 *  - a queue too large for its cgroup's memory.max fails with ENOMEM or
 *    meets that cgroup's own OOM killer: nothing outside it is charged or
 *    killed, and once the file is gone the cgroup's charge is gone too.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "bufq_test.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_MAGIC	0x63677270	/* CGROUP2_SUPER_MAGIC */
#define GROW_N		1000		/* buffers grown from cgroup B */
/* memory.stat is flushed from per-CPU counters every 2 s at least. */
#define STATS_SETTLE	3

static int write_file(const char *dir, const char *name, const char *val)
{
	char path[256];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = write(fd, val, strlen(val)) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* The value of a "key value" line of @name in @dir, or of its only line. */
static long long read_val(const char *dir, const char *name, const char *key)
{
	char path[256], line[256];
	long long val = -1;
	size_t klen = key ? strlen(key) : 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			val = strtoll(line, NULL, 10);
			break;
		}
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			val = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* Put the calling process into cgroup @dir. */
static int cg_enter(const char *dir)
{
	return write_file(dir, "cgroup.procs", "0");
}

/* A fresh child cgroup of the root with the memory controller. */
static int cg_make(const char *dir)
{
	rmdir(dir);
	if (mkdir(dir, 0755))
		return -errno;
	return 0;
}

/* Mount cgroup2 if needed and enable the memory controller below root. */
static int cg_setup(void)
{
	struct statfs sfs;

	if (statfs(CG_ROOT, &sfs) || sfs.f_type != CG_MAGIC) {
		if (mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
			return -errno;
	}
	return write_file(CG_ROOT, "cgroup.subtree_control", "+memory");
}

/* Move everything back to the root and remove @dir. */
static void cg_remove(const char *dir)
{
	rmdir(dir);
}

/* Tell the other end of @fd one byte, or wait for one. */
static void say(int fd)
{
	if (write(fd, "x", 1) != 1)
		_exit(100);
}

static void hear(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(101);
}

FIXTURE(memcg) {
	char a[64], b[64];
};

FIXTURE_SETUP(memcg)
{
	int ret = cg_setup();

	if (ret == -ENOENT || ret == -ENODEV)
		SKIP(return, "no cgroup2 memory controller");
	ASSERT_EQ(0, ret);
	snprintf(self->a, sizeof(self->a), CG_ROOT "/bufq_a");
	snprintf(self->b, sizeof(self->b), CG_ROOT "/bufq_b");
	ASSERT_EQ(0, cg_make(self->a));
	ASSERT_EQ(0, cg_make(self->b));
}

FIXTURE_TEARDOWN(memcg)
{
	cg_remove(self->a);
	cg_remove(self->b);
}

/*
 * Configured in A, grown to GROW_N buffers by FETCHes from B: A's charge
 * rises by at least the buffers' size, B's by far less.
 */
TEST_F_TIMEOUT(memcg, growth_charged_to_configurer, 300)
{
	long long a0, a1, b0, b1, sa0, sa1, sb0, sb1;
	int to_b[2], from_b[2], fd, i;
	struct bufq_info info;
	pid_t pid;

	fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe(to_b));
	ASSERT_EQ(0, pipe(from_b));

	/* A configures: its slot memory is charged to A now. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (cg_enter(self->a) ||
		    bq_configure(fd, 0, 64, 0, GROW_N, BUFQ_CONFIGURE_LOOKASIDE))
			_exit(1);
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid));

	/* B grows it, between two readings of both cgroups. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		__u32 idx;

		if (cg_enter(self->b))
			_exit(1);
		say(from_b[1]);		/* settled in B */
		hear(to_b[0]);
		for (i = 0; i < GROW_N; i++)
			if (bq_fetch(fd, &idx))
				_exit(2);
		say(from_b[1]);
		hear(to_b[0]);		/* hold them until measured */
		_exit(0);
	}
	hear(from_b[0]);
	sleep(STATS_SETTLE);
	a0 = read_val(self->a, "memory.current", NULL);
	b0 = read_val(self->b, "memory.current", NULL);
	sa0 = read_val(self->a, "memory.stat", "kernel");
	sb0 = read_val(self->b, "memory.stat", "kernel");
	say(to_b[1]);
	hear(from_b[0]);
	sleep(STATS_SETTLE);
	a1 = read_val(self->a, "memory.current", NULL);
	b1 = read_val(self->b, "memory.current", NULL);
	sa1 = read_val(self->a, "memory.stat", "kernel");
	sb1 = read_val(self->b, "memory.stat", "kernel");
	say(to_b[1]);
	EXPECT_EQ(0, wait_child(pid));

	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(GROW_N, info.out_grown);
	TH_LOG("growth of %d buffers: A memory.current %+lld kernel %+lld",
	       GROW_N, a1 - a0, sa1 - sa0);
	TH_LOG("growth of %d buffers: B memory.current %+lld kernel %+lld",
	       GROW_N, b1 - b0, sb1 - sb0);
	ASSERT_LE(0, sa0);
	ASSERT_LE(0, sb0);
	/*
	 * memory.stat's kernel counts bytes of kernel memory, the pages a
	 * queue carves its buffers from included; memory.current moves by
	 * charge batches of many pages and so cannot tell. Each buffer takes
	 * at least its 32-byte header; B may see a page or two of noise.
	 */
	EXPECT_LE(GROW_N * 32LL, sa1 - sa0);
	EXPECT_GT(GROW_N * 16LL, sb1 - sb0);
	close(fd);
}

/*
 * A queue larger than its cgroup's memory.max: CONFIGURE fails with ENOMEM,
 * or the cgroup's OOM killer ends the configurer. A process in a sibling
 * cgroup lives on, and the cgroup's charge goes once the file is gone.
 */
TEST_F_TIMEOUT(memcg, limit_contained, 300)
{
	long long oom_kills, cur;
	int sync[2], status;
	pid_t pid, bystander;

	ASSERT_EQ(0, write_file(self->a, "memory.max", "4M"));
	ASSERT_EQ(0, pipe(sync));

	bystander = fork();
	ASSERT_LE(0, bystander);
	if (!bystander) {
		if (cg_enter(self->b))
			_exit(1);
		say(sync[1]);
		for (;;)
			pause();
	}
	hear(sync[0]);

	kernel_log("bufq-test: expect OOM begin\n");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd = open(DEV, O_RDWR | O_CLOEXEC);

		if (fd < 0 || cg_enter(self->a))
			_exit(1);
		/* 1024 buffers of a page each: more than 4 MiB of slots. */
		_exit(-bq_configure(fd, 1024, 64, 0, 0, 0));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	kernel_log("bufq-test: expect OOM end\n");

	oom_kills = read_val(self->a, "memory.events", "oom_kill");
	if (WIFSIGNALED(status)) {
		TH_LOG("configurer killed by signal %d, oom_kill %lld",
		       WTERMSIG(status), oom_kills);
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
		EXPECT_LE(1, oom_kills);
	} else {
		ASSERT_TRUE(WIFEXITED(status));
		TH_LOG("configurer got errno %d", WEXITSTATUS(status));
		EXPECT_EQ(ENOMEM, WEXITSTATUS(status));
	}

	/* The bystander in B was not touched; B saw no OOM. */
	EXPECT_EQ(0, kill(bystander, 0));
	EXPECT_EQ(0, read_val(self->b, "memory.events", "oom_kill"));
	EXPECT_EQ(0, read_val(self->b, "memory.events", "oom"));
	kill(bystander, SIGTERM);
	EXPECT_EQ(128 + SIGTERM, wait_child(bystander));

	/*
	 * Nothing of the queue is left charged to A: at most what each CPU
	 * keeps precharged for a cgroup (64 pages), and a page or so.
	 */
	cur = read_val(self->a, "memory.current", NULL);
	TH_LOG("A memory.current after: %lld", cur);
	EXPECT_GT((sysconf(_SC_NPROCESSORS_ONLN) * 64 + 16) *
		  sysconf(_SC_PAGESIZE), cur);
}

TEST_HARNESS_MAIN
