// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for /dev/bufq: the ioctl ABI, read/write, mmap, poll, blocking,
 * sharing across processes and the module's limits.
 *
 * Needs the bufq module loaded and devtmpfs on /dev; runs as root (the node
 * is 0600, and one test tries to unload the module).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bufq.h>

/* The harness compares int literals with the ABI's __u32 fields. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#define DEV		"/dev/bufq"
#define PARAMS		"/sys/module/bufq/parameters/"
#define NBUF		4
#define BSIZE		256
#define CSIZE		32
#define SENT32		0xAAAAAAAAu
#define SENT64		0xAAAAAAAAAAAAAAAAull
#define CHILD_ALARM	60	/* seconds: only to end a hung child */

/* Minimum sizes: the end of the last field the ABI requires. */
#define CONFIGURE_MIN	offsetof(struct bufq_configure, max_buffers)
#define INFO_MIN	offsetof(struct bufq_info, out_grown)
#define FETCH_MIN	offsetof(struct bufq_fetch, __reserved)
#define BATCH_OP_MIN	offsetof(struct bufq_batch_op, __reserved)

/* ---- helpers: each returns 0 or -errno --------------------------------- */

static int sys_ret(int ret)
{
	return ret < 0 ? -errno : ret;
}

static int bq_ioctl(int fd, unsigned long cmd, void *arg)
{
	return sys_ret(ioctl(fd, cmd, arg));
}

static int bq_configure(int fd, __u32 count, __u32 size, __u32 ctx,
			__u32 max, __u32 flags)
{
	struct bufq_configure c = {
		.size = sizeof(c), .flags = flags, .buffer_count = count,
		.buffer_size = size, .context_size = ctx, .max_buffers = max,
	};

	return bq_ioctl(fd, BUFQ_IOCTL_CONFIGURE, &c);
}

static int bq_open(int oflags)
{
	return open(DEV, O_RDWR | O_CLOEXEC | oflags);
}

static int bq_fetch(int fd, __u32 *index)
{
	struct bufq_fetch f = { .size = sizeof(f) };
	int ret = bq_ioctl(fd, BUFQ_IOCTL_FETCH, &f);

	if (!ret)
		*index = f.out_index;
	return ret;
}

static int bq_enqueue(int fd, __u32 index, __u32 len, __u32 flags)
{
	struct bufq_enqueue e = {
		.size = sizeof(e), .flags = flags, .index = index, .len = len,
	};

	return bq_ioctl(fd, BUFQ_IOCTL_ENQUEUE, &e);
}

static int bq_dequeue(int fd, __u32 *index, __u32 *len)
{
	struct bufq_dequeue d = { .size = sizeof(d) };
	int ret = bq_ioctl(fd, BUFQ_IOCTL_DEQUEUE, &d);

	if (!ret) {
		*index = d.out_index;
		if (len)
			*len = d.out_len;
	}
	return ret;
}

static int bq_reuse(int fd, __u32 index)
{
	struct bufq_reuse r = { .size = sizeof(r), .index = index };

	return bq_ioctl(fd, BUFQ_IOCTL_REUSE, &r);
}

static int bq_flush(int fd)
{
	struct bufq_flush f = { .size = sizeof(f) };

	return bq_ioctl(fd, BUFQ_IOCTL_FLUSH, &f);
}

static int bq_info(int fd, struct bufq_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return bq_ioctl(fd, BUFQ_IOCTL_INFO, info);
}

static int bq_batch(int fd, struct bufq_batch_op *ops, __u32 count,
		    __u32 *done)
{
	struct bufq_batch b = {
		.size = sizeof(b), .ops = (uintptr_t)ops,
		.entry_len = sizeof(*ops), .count = count,
	};
	int ret = bq_ioctl(fd, BUFQ_IOCTL_BATCH, &b);

	if (!ret && done)
		*done = b.out_done;
	return ret;
}

static long read_param(const char *name)
{
	char path[128], buf[32] = "";
	long val = -1;
	int fd;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) > 0)
		val = strtol(buf, NULL, 0);
	close(fd);
	return val;
}

static int write_param(const char *name, long val)
{
	char path[128], buf[32];
	int fd, len, ret;

	snprintf(path, sizeof(path), PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%ld", val);
	ret = write(fd, buf, len) == len ? 0 : -errno;
	close(fd);
	return ret;
}

static short poll_events(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	if (poll(&p, 1, 0) < 0)
		return -1;
	return p.revents;
}

/* Wait for a child and return its exit status, or -1 if it did not exit. */
static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void noop_handler(int sig)
{
}

/* Deliver SIGALRM every 50 ms, without SA_RESTART, until stopped. */
static void start_signals(void)
{
	struct sigaction sa = { .sa_handler = noop_handler };
	struct itimerval it = {
		.it_interval = { .tv_usec = 50000 },
		.it_value = { .tv_usec = 50000 },
	};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void stop_signals(void)
{
	struct itimerval it = {};

	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
}

/* ---- fixture: a configured queue --------------------------------------- */

FIXTURE(bufq) {
	int fd;
	struct bufq_info info;
};

FIXTURE_SETUP(bufq)
{
	self->fd = bq_open(0);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, DEV " missing (bufq module not loaded?)");
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, bq_configure(self->fd, NBUF, BSIZE, CSIZE, 0, 0));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
}

FIXTURE_TEARDOWN(bufq)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* ---- fixture: an open, unconfigured file ------------------------------- */

FIXTURE(raw) {
	int fd;
};

FIXTURE_SETUP(raw)
{
	self->fd = bq_open(0);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, DEV " missing (bufq module not loaded?)");
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(raw)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(raw, unconfigured_is_ebadfd)
{
	struct bufq_batch_op op = { .op = BUFQ_OP_FETCH };
	struct bufq_info info;
	char c = 0;
	__u32 idx, len;

	EXPECT_EQ(-EBADFD, bq_info(self->fd, &info));
	EXPECT_EQ(-EBADFD, bq_fetch(self->fd, &idx));
	EXPECT_EQ(-EBADFD, bq_enqueue(self->fd, 0, 0, 0));
	EXPECT_EQ(-EBADFD, bq_dequeue(self->fd, &idx, &len));
	EXPECT_EQ(-EBADFD, bq_reuse(self->fd, 0));
	EXPECT_EQ(-EBADFD, bq_flush(self->fd));
	EXPECT_EQ(-EBADFD, bq_batch(self->fd, &op, 1, NULL));
	EXPECT_EQ(-EBADFD, sys_ret(read(self->fd, &c, 1)));
	EXPECT_EQ(-EBADFD, sys_ret(write(self->fd, &c, 1)));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				   MAP_SHARED, self->fd, 0));
	EXPECT_EQ(EBADFD, errno);
	EXPECT_EQ(POLLERR, poll_events(self->fd) & (POLLERR | POLLIN | POLLOUT));
}

TEST_F(raw, configure_twice_ebusy)
{
	ASSERT_EQ(0, bq_configure(self->fd, 2, 64, 0, 0, 0));
	EXPECT_EQ(-EBUSY, bq_configure(self->fd, 2, 64, 0, 0, 0));
	/* Even an invalid second configuration is refused as busy. */
	EXPECT_EQ(-EBUSY, bq_configure(self->fd, 0, 0, 0, 0, 0));
}

TEST_F(raw, configure_errors)
{
	long max_size = read_param("max_buffer_size");
	long max_bufs = read_param("max_buffers");
	long max_bytes = read_param("max_queue_bytes");
	struct bufq_info info;

	ASSERT_LT(0, max_size);
	ASSERT_LT(0, max_bufs);
	ASSERT_LT(0, max_bytes);

	EXPECT_EQ(-EOPNOTSUPP, bq_configure(self->fd, 1, 64, 0, 0, 1u << 31));
	EXPECT_EQ(-EOPNOTSUPP, bq_configure(self->fd, 1, 64, 0, 0, 2));
	EXPECT_EQ(-EINVAL, bq_configure(self->fd, 1, 0, 0, 0, 0));
	EXPECT_EQ(-EINVAL, bq_configure(self->fd, 0, 64, 0, 0, 0));
	EXPECT_EQ(-EINVAL, bq_configure(self->fd, 2, 64, 0, 2, 0));
	EXPECT_EQ(-EINVAL, bq_configure(self->fd, 3, 64, 0, 2,
					BUFQ_CONFIGURE_LOOKASIDE));
	EXPECT_EQ(-EOVERFLOW, bq_configure(self->fd, 1, 64, 0xffffffffu, 0, 0));
	EXPECT_EQ(-EOVERFLOW, bq_configure(self->fd, 1, 0xffffffffu, 0, 0, 0));
	EXPECT_EQ(-E2BIG, bq_configure(self->fd, 1, max_size + 1, 0, 0, 0));
	EXPECT_EQ(-E2BIG, bq_configure(self->fd, max_bufs + 1, 64, 0, 0, 0));
	EXPECT_EQ(-E2BIG, bq_configure(self->fd, 1, 64, 0, max_bufs + 1,
				       BUFQ_CONFIGURE_LOOKASIDE));
	EXPECT_EQ(-E2BIG, bq_configure(self->fd, 1, 64, max_bytes, 0, 0));

	/* Failures leave the file unconfigured; it still takes a good one. */
	EXPECT_EQ(-EBADFD, bq_info(self->fd, &info));
	ASSERT_EQ(0, bq_configure(self->fd, 1, 64, 0, 0, 0));
}

TEST_F(raw, configure_size_extension)
{
	struct {
		struct bufq_configure c;
		__u64 tail;
	} big = {};
	int fd2;

	/* Shorter than min_size. */
	big.c.size = CONFIGURE_MIN - 1;
	big.c.buffer_count = 2;
	big.c.buffer_size = 64;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &big));
	big.c.size = 0;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &big));

	/* Longer with a non-zero tail. */
	big.c.size = sizeof(big);
	big.tail = 1ull << 40;
	EXPECT_EQ(-E2BIG, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &big));

	/* Longer with a zero tail. */
	big.tail = 0;
	EXPECT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &big));

	/* min_size: max_buffers reads as 0, so lookaside uses the param. */
	fd2 = bq_open(0);
	ASSERT_LE(0, fd2);
	memset(&big, 0, sizeof(big));
	big.c.size = CONFIGURE_MIN;
	big.c.flags = BUFQ_CONFIGURE_LOOKASIDE;
	big.c.buffer_count = 1;
	big.c.buffer_size = 64;
	big.c.max_buffers = 2;	/* beyond size: not read */
	EXPECT_EQ(0, bq_ioctl(fd2, BUFQ_IOCTL_CONFIGURE, &big));
	{
		struct bufq_info info;

		EXPECT_EQ(0, bq_info(fd2, &info));
		EXPECT_EQ(read_param("max_buffers"), info.out_max_buffers);
	}
	close(fd2);
}

TEST_F(raw, unknown_ioctl_enotty)
{
	struct bufq_flush f = { .size = sizeof(f) };

	ASSERT_EQ(0, bq_configure(self->fd, 1, 64, 0, 0, 0));
	EXPECT_EQ(-ENOTTY, bq_ioctl(self->fd, _IO(BUFQ_TYPE, BUFQ_CMD_BASE - 1), &f));
	EXPECT_EQ(-ENOTTY, bq_ioctl(self->fd, _IO(BUFQ_TYPE, BUFQ_CMD_BATCH + 1), &f));
	EXPECT_EQ(-ENOTTY, bq_ioctl(self->fd, _IO('x', BUFQ_CMD_FLUSH), &f));
	EXPECT_EQ(-ENOTTY, bq_ioctl(self->fd, _IOW(BUFQ_TYPE, BUFQ_CMD_FLUSH,
						   struct bufq_flush), &f));
	EXPECT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_FLUSH, &f));
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_FLUSH, NULL));
}

TEST_F(bufq, info_sentinel)
{
	struct bufq_info info;
	long page = sysconf(_SC_PAGESIZE);

	memset(&info, 0xAA, sizeof(info));
	info.size = sizeof(info);
	info.flags = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, &info));
	EXPECT_EQ(0, info.out_config_flags);
	EXPECT_EQ(NBUF, info.out_buffer_count);
	EXPECT_EQ(BSIZE, info.out_buffer_size);
	EXPECT_EQ(CSIZE, info.out_context_size);
	EXPECT_EQ(NBUF, info.out_max_buffers);
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(0, info.out_queued);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(NBUF, info.out_total);
	EXPECT_EQ(0, info.out_high_water);
	EXPECT_EQ(page, info.out_stride);
	EXPECT_EQ(BSIZE, info.out_context_offset);
	EXPECT_EQ((__u64)NBUF * page, info.out_mmap_size);
	EXPECT_EQ(0, info.out_grown);
	EXPECT_EQ(0, info.out_fetch_failed);
	EXPECT_EQ(BUFQ_OPS_ALL, info.out_ops);
	EXPECT_EQ(1, info.out_holders);
	EXPECT_EQ(0, info.out_reclaimed);

	info.flags = 1;
	EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, &info));
}

TEST_F(bufq, info_size_extension)
{
	unsigned char raw[sizeof(struct bufq_info) + 16];
	struct bufq_info *info = (struct bufq_info *)raw;
	size_t min = INFO_MIN;
	size_t i;

	/* At min_size: the fields past it are not written. */
	memset(raw, 0xAA, sizeof(raw));
	info->size = min;
	info->flags = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, info));
	EXPECT_EQ(self->info.out_mmap_size, info->out_mmap_size);
	for (i = min; i < sizeof(raw); i++)
		ASSERT_EQ(0xAA, raw[i]);

	info->size = min - 1;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, info));

	/* Longer: zero tail accepted and left alone, non-zero tail refused. */
	memset(raw, 0, sizeof(raw));
	info->size = sizeof(raw);
	EXPECT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, info));
	EXPECT_EQ(NBUF, info->out_total);
	raw[sizeof(raw) - 1] = 1;
	EXPECT_EQ(-E2BIG, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, info));
}

TEST_F(bufq, fetch_dequeue_sentinel)
{
	struct bufq_fetch f;
	struct bufq_dequeue d;

	memset(&f, 0xAA, sizeof(f));
	f.size = sizeof(f);
	f.flags = 0;
	f.__reserved = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, &f));
	EXPECT_GT(NBUF, f.out_index);
	EXPECT_EQ(0, f.__reserved);
	ASSERT_EQ(0, bq_enqueue(self->fd, f.out_index, 7, 0));

	memset(&d, 0xAA, sizeof(d));
	d.size = sizeof(d);
	d.flags = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_DEQUEUE, &d));
	EXPECT_EQ(f.out_index, d.out_index);
	EXPECT_EQ(7, d.out_len);
	EXPECT_EQ(0, bq_reuse(self->fd, d.out_index));

	/* A short FETCH (min size) writes only out_index. */
	memset(&f, 0xAA, sizeof(f));
	f.size = FETCH_MIN;
	f.flags = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, &f));
	EXPECT_GT(NBUF, f.out_index);
	EXPECT_EQ(SENT32, f.__reserved);
	EXPECT_EQ(0, bq_reuse(self->fd, f.out_index));
}

TEST_F(bufq, fifo_and_at_head)
{
	__u32 idx[NBUF], got, len;
	struct bufq_info info;
	int i;

	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	for (i = 0; i < NBUF; i++)
		for (int j = 0; j < i; j++)
			ASSERT_NE(idx[i], idx[j]);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_free);
	EXPECT_EQ(NBUF, info.out_held);
	EXPECT_EQ(NBUF, info.out_high_water);

	ASSERT_EQ(0, bq_enqueue(self->fd, idx[0], 10, 0));
	ASSERT_EQ(0, bq_enqueue(self->fd, idx[1], 11, 0));
	ASSERT_EQ(0, bq_enqueue(self->fd, idx[2], 12, BUFQ_ENQUEUE_AT_HEAD));
	ASSERT_EQ(0, bq_enqueue(self->fd, idx[3], 13, BUFQ_ENQUEUE_AT_HEAD));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_queued);
	EXPECT_EQ(0, info.out_held);

	/* Head insertions come out LIFO, then the tail ones FIFO. */
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, &len));
	EXPECT_EQ(idx[3], got);
	EXPECT_EQ(13, len);
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, &len));
	EXPECT_EQ(idx[2], got);
	EXPECT_EQ(12, len);
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, &len));
	EXPECT_EQ(idx[0], got);
	EXPECT_EQ(10, len);

	/* A dequeued buffer may be enqueued again, with a new length. */
	ASSERT_EQ(0, bq_enqueue(self->fd, got, BSIZE, 0));
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, &len));
	EXPECT_EQ(idx[1], got);
	EXPECT_EQ(0, bq_reuse(self->fd, got));
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, &len));
	EXPECT_EQ(idx[0], got);
	EXPECT_EQ(BSIZE, len);
	EXPECT_EQ(0, bq_reuse(self->fd, got));
	EXPECT_EQ(0, bq_reuse(self->fd, idx[2]));
	EXPECT_EQ(0, bq_reuse(self->fd, idx[3]));

	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(NBUF, info.out_total);
}

TEST_F(bufq, flush)
{
	__u32 a, b, got;
	struct bufq_info info;
	int nb = bq_open(O_NONBLOCK);

	ASSERT_EQ(0, bq_fetch(self->fd, &a));
	ASSERT_EQ(0, bq_fetch(self->fd, &b));
	ASSERT_EQ(0, bq_enqueue(self->fd, a, 1, 0));
	ASSERT_EQ(0, bq_flush(self->fd));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_queued);
	EXPECT_EQ(1, info.out_held);
	EXPECT_EQ(NBUF - 1, info.out_free);
	/* Held buffers stay held; flushed ones are free. */
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, a));
	EXPECT_EQ(0, bq_enqueue(self->fd, b, 2, 0));
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, NULL));
	EXPECT_EQ(b, got);
	EXPECT_EQ(0, bq_reuse(self->fd, got));
	{
		struct bufq_flush f = { .size = sizeof(f), .flags = 1 };

		EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_FLUSH, &f));
	}
	close(nb);
}

TEST_F(bufq, ownership_errors)
{
	struct bufq_info info;
	__u32 a, b, got;

	ASSERT_EQ(0, bq_fetch(self->fd, &a));
	ASSERT_EQ(0, bq_fetch(self->fd, &b));

	/* Out of range. */
	EXPECT_EQ(-EINVAL, bq_enqueue(self->fd, NBUF, 0, 0));
	EXPECT_EQ(-EINVAL, bq_enqueue(self->fd, 0xffffffffu, 0, 0));
	EXPECT_EQ(-EINVAL, bq_reuse(self->fd, NBUF));
	EXPECT_EQ(-EINVAL, bq_reuse(self->fd, 0x80000000u));
	/* Too long. */
	EXPECT_EQ(-EINVAL, bq_enqueue(self->fd, a, BSIZE + 1, 0));
	/* Unknown flag, non-zero reserved. */
	EXPECT_EQ(-EOPNOTSUPP, bq_enqueue(self->fd, a, 1, 1u << 7));
	{
		struct bufq_reuse r = { .size = sizeof(r), .index = a,
					.__reserved = 1 };
		struct bufq_fetch f = { .size = sizeof(f), .__reserved = 1 };
		struct bufq_dequeue d = { .size = sizeof(d), .flags = 1 };

		EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_REUSE, &r));
		r.__reserved = 0;
		r.flags = 1;
		EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_REUSE, &r));
		EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, &f));
		f.__reserved = 0;
		f.flags = 1;
		EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, &f));
		EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_DEQUEUE, &d));
	}

	/* Find a free index: one of the NBUF that is neither a nor b. */
	for (got = 0; got == a || got == b; got++)
		;
	EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, got, 1, 0));
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, got));

	/* Queued: neither enqueue nor reuse. */
	ASSERT_EQ(0, bq_enqueue(self->fd, a, 1, 0));
	EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, a, 1, 0));
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, a));

	/* Second reuse. */
	ASSERT_EQ(0, bq_reuse(self->fd, b));
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, b));
	EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, b, 1, 0));

	/* Nothing was lost. */
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, NULL));
	EXPECT_EQ(a, got);
	ASSERT_EQ(0, bq_reuse(self->fd, got));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(NBUF, info.out_total);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(0, info.out_queued);
}

TEST_F(bufq, nonblock_eagain)
{
	__u32 idx[NBUF], got;
	char buf[BSIZE] = "x";
	int i, fl;

	fl = fcntl(self->fd, F_GETFL);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, fl | O_NONBLOCK));

	EXPECT_EQ(-EAGAIN, bq_dequeue(self->fd, &got, NULL));
	EXPECT_EQ(-EAGAIN, sys_ret(read(self->fd, buf, sizeof(buf))));
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	EXPECT_EQ(-EAGAIN, bq_fetch(self->fd, &got));
	EXPECT_EQ(-EAGAIN, sys_ret(write(self->fd, buf, 1)));
	{
		struct bufq_info info;

		ASSERT_EQ(0, bq_info(self->fd, &info));
		EXPECT_LE(2, info.out_fetch_failed);
	}
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, bq_reuse(self->fd, idx[i]));
	EXPECT_EQ(1, write(self->fd, buf, 1));
}

TEST_F(bufq, read_write_messages)
{
	char in[BSIZE + 1], out[BSIZE + 1];
	size_t lens[] = { 1, 17, BSIZE, 100 };
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7 + 3);

	/* Too long, and empty. */
	EXPECT_EQ(-EMSGSIZE, sys_ret(write(self->fd, in, BSIZE + 1)));
	EXPECT_EQ(0, write(self->fd, in, 0));
	EXPECT_EQ(0, poll_events(self->fd) & POLLIN);

	for (i = 0; i < 4; i++)
		ASSERT_EQ((ssize_t)lens[i], write(self->fd, in + i, lens[i]));

	for (i = 0; i < 4; i++) {
		/* One byte short: refused, message stays at the head. */
		EXPECT_EQ(-EMSGSIZE, sys_ret(read(self->fd, out, lens[i] - 1)));
		memset(out, 0, sizeof(out));
		ASSERT_EQ((ssize_t)lens[i], read(self->fd, out, sizeof(out)));
		EXPECT_EQ(0, memcmp(out, in + i, lens[i]));
	}
	EXPECT_EQ(0, poll_events(self->fd) & POLLIN);

	/* A zero-length message from ENQUEUE reads as 0 bytes. */
	{
		__u32 idx;

		ASSERT_EQ(0, bq_fetch(self->fd, &idx));
		ASSERT_EQ(0, bq_enqueue(self->fd, idx, 0, 0));
		EXPECT_EQ(0, read(self->fd, out, 0));
	}
}

TEST_F(bufq, read_write_efault)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bufq_info info;
	char out[BSIZE];
	void *bad_ptr;

	bad_ptr = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, bad_ptr);

	EXPECT_EQ(-EFAULT, sys_ret(write(self->fd, bad_ptr, 10)));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(0, info.out_queued);

	ASSERT_EQ(5, write(self->fd, "hello", 5));
	EXPECT_EQ(-EFAULT, sys_ret(read(self->fd, bad_ptr, sizeof(out))));
	ASSERT_EQ(5, read(self->fd, out, sizeof(out)));
	EXPECT_EQ(0, memcmp(out, "hello", 5));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	munmap(bad_ptr, page);
}

TEST_F(bufq, mmap_data_path)
{
	size_t size = self->info.out_mmap_size;
	__u32 stride = self->info.out_stride, idx, got, len;
	char out[BSIZE];
	char *map;

	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);

	/* Write through the mapping, read with read(). */
	ASSERT_EQ(0, bq_fetch(self->fd, &idx));
	memcpy(map + (size_t)idx * stride, "through the map", 15);
	memcpy(map + (size_t)idx * stride + self->info.out_context_offset,
	       "ctx", 4);
	ASSERT_EQ(0, bq_enqueue(self->fd, idx, 15, 0));
	ASSERT_EQ(15, read(self->fd, out, sizeof(out)));
	EXPECT_EQ(0, memcmp(out, "through the map", 15));

	/* Write with write(), read through the mapping after DEQUEUE. */
	ASSERT_EQ(6, write(self->fd, "writ3n", 6));
	ASSERT_EQ(0, bq_dequeue(self->fd, &got, &len));
	EXPECT_EQ(6, len);
	EXPECT_EQ(0, memcmp(map + (size_t)got * stride, "writ3n", 6));
	ASSERT_EQ(0, bq_reuse(self->fd, got));

	/* The kernel never touches the context area. */
	EXPECT_EQ(0, memcmp(map + (size_t)idx * stride +
			    self->info.out_context_offset, "ctx", 4));

	/* A second mapping of one buffer sees the same memory. */
	{
		char *one = mmap(NULL, stride, PROT_READ, MAP_SHARED, self->fd,
				 (off_t)got * stride);

		ASSERT_NE(MAP_FAILED, one);
		EXPECT_EQ(0, memcmp(one, "writ3n", 6));
		munmap(one, stride);
	}
	munmap(map, size);
}

TEST_F(bufq, mmap_bounds)
{
	size_t size = self->info.out_mmap_size;
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap(NULL, size + page, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, self->fd, size - page);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	/* Offset whose page number overflows with the length. */
	p = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, self->fd,
		 (off_t)(~0ull & ~(page - 1ull) & INT64_MAX));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_TRUE(errno == EOVERFLOW || errno == EINVAL);
	/* Private mappings would not share data with the queue. */
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	/* The last page is fine, and cannot be grown with mremap. */
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, size - page);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(MAP_FAILED, mremap(p, page, 2 * page, MREMAP_MAYMOVE));
	munmap(p, page);
}

/* A read-only shared mapping of a read-only file is a shared mapping too. */
TEST(readonly_shared_mapping)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p;
	int fd;

	fd = open(DEV, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_configure(fd, 2, 64, 0, 0, 0));
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, p[0]);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0));
	EXPECT_EQ(EACCES, errno);
	munmap(p, page);
	close(fd);
}

TEST_F(bufq, mapping_outlives_fd)
{
	size_t size = self->info.out_mmap_size;
	char *map;

	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(4, write(self->fd, "keep", 4));
	close(self->fd);
	self->fd = -1;
	/* The file, and so the memory, lives as long as the mapping. */
	memset(map, 0x5a, size);
	EXPECT_EQ(0x5a, map[size - 1]);
	munmap(map, size);
}

TEST_F(bufq, poll_readiness)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	__u32 idx[NBUF];
	int ep, i;

	EXPECT_EQ(POLLOUT, poll_events(self->fd) & (POLLIN | POLLOUT));
	ASSERT_EQ(3, write(self->fd, "abc", 3));
	EXPECT_EQ(POLLIN | POLLOUT, poll_events(self->fd) & (POLLIN | POLLOUT));
	for (i = 0; i < NBUF - 1; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	EXPECT_EQ(POLLIN, poll_events(self->fd) & (POLLIN | POLLOUT));

	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ev.events = EPOLLIN;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->fd, &ev));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_TRUE(ev.events & EPOLLIN);
	{
		char c[4];

		ASSERT_EQ(3, read(self->fd, c, sizeof(c)));
	}
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	ASSERT_EQ(0, bq_fetch(self->fd, &idx[NBUF - 1]));

	/* A buffer queued by another process wakes the epoll waiter. */
	{
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid) {
			alarm(CHILD_ALARM);
			usleep(100000);
			_exit(bq_enqueue(self->fd, idx[0], 1, 0) ? 1 : 0);
		}
		ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 30000));
		EXPECT_TRUE(ev.events & EPOLLIN);
		EXPECT_EQ(0, wait_child(pid));
	}

	/* EPOLLOUT returns when a buffer is given back. */
	ev.events = EPOLLOUT;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_MOD, self->fd, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	ASSERT_EQ(0, bq_reuse(self->fd, idx[1]));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_TRUE(ev.events & EPOLLOUT);
	close(ep);
}

/* A blocked DEQUEUE and a blocked read() wake up for another process. */
TEST_F_TIMEOUT(bufq, blocking_dequeue_fork, 120)
{
	pid_t pid = fork();
	__u32 idx, len;
	char buf[BSIZE];

	ASSERT_LE(0, pid);
	if (!pid) {
		alarm(CHILD_ALARM);
		/* Blocks until the parent writes. */
		if (read(self->fd, buf, sizeof(buf)) != 5 ||
		    memcmp(buf, "first", 5))
			_exit(1);
		if (bq_dequeue(self->fd, &idx, &len) || len != 6)
			_exit(2);
		if (bq_reuse(self->fd, idx))
			_exit(3);
		_exit(0);
	}
	usleep(200000);
	ASSERT_EQ(5, write(self->fd, "first", 5));
	usleep(200000);
	ASSERT_EQ(6, write(self->fd, "second", 6));
	EXPECT_EQ(0, wait_child(pid));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
}

/* A FETCH blocked on an exhausted queue wakes when a buffer comes back. */
TEST_F_TIMEOUT(bufq, blocking_fetch_fork, 120)
{
	__u32 idx[NBUF];
	pid_t pid;
	int i;

	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		__u32 got;

		alarm(CHILD_ALARM);
		if (bq_fetch(self->fd, &got))
			_exit(1);
		/* Also a blocking write(): the parent frees another. */
		if (write(self->fd, "w", 1) != 1)
			_exit(2);
		/* Normally idx[2], but a slow child may miss the first. */
		_exit(got == idx[2] || got == idx[0] ? 0 : 3);
	}
	usleep(200000);
	ASSERT_EQ(0, bq_reuse(self->fd, idx[2]));
	usleep(200000);
	ASSERT_EQ(0, bq_reuse(self->fd, idx[0]));
	EXPECT_EQ(0, wait_child(pid));
}

/* Lookaside: growth to the cap, blocking at the cap, shrinking back. */
TEST_F_TIMEOUT(raw, lookaside, 120)
{
	struct bufq_info info;
	__u32 idx[3], got;
	pid_t pid;
	int i;

	ASSERT_EQ(0, bq_configure(self->fd, 1, 100, 8, 3,
				  BUFQ_CONFIGURE_LOOKASIDE));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(BUFQ_CONFIGURE_LOOKASIDE, info.out_config_flags);
	EXPECT_EQ(3, info.out_max_buffers);
	EXPECT_EQ(1, info.out_total);
	EXPECT_EQ(104, info.out_context_offset);
	EXPECT_EQ(3ull * info.out_stride, info.out_mmap_size);

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(3, info.out_total);
	EXPECT_EQ(2, info.out_grown);
	EXPECT_EQ(3, info.out_high_water);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, bq_fetch(self->fd, &got));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, 0));

	/* Blocking at the cap: a reuse frees (shrinks) one, the fetch grows. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		alarm(CHILD_ALARM);
		_exit(bq_fetch(self->fd, &got) ? 1 : 0);
	}
	usleep(200000);
	ASSERT_EQ(0, bq_reuse(self->fd, idx[0]));
	EXPECT_EQ(0, wait_child(pid));

	/* The child's buffer came back when it exited: give ours back. */
	ASSERT_EQ(0, bq_reuse(self->fd, idx[1]));
	ASSERT_EQ(0, bq_reuse(self->fd, idx[2]));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(1, info.out_reclaimed);
	EXPECT_LE(info.out_total, 3);
}

TEST_F(raw, lookaside_no_initial_buffers)
{
	struct bufq_info info;
	__u32 idx;

	ASSERT_EQ(0, bq_configure(self->fd, 0, 64, 0, 2,
				  BUFQ_CONFIGURE_LOOKASIDE));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_total);
	EXPECT_EQ(POLLOUT, poll_events(self->fd) & (POLLIN | POLLOUT));
	ASSERT_EQ(3, write(self->fd, "abc", 3));
	ASSERT_EQ(0, bq_dequeue(self->fd, &idx, NULL));
	ASSERT_EQ(0, bq_reuse(self->fd, idx));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_total);
	EXPECT_EQ(1, info.out_grown);
}

/* Minor page faults of this process so far. */
static long bq_minflt(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return ru.ru_minflt;
}

/*
 * MAP_POPULATE maps every page for reading and writing: touching each
 * buffer afterwards takes no fault (the loop's own code and stack may
 * take one or two), and reads what the queue holds.
 */
TEST_F(raw, mapping_populated)
{
	const unsigned int nbuf = 256;
	struct bufq_info info;
	unsigned char *map;
	long before, after;
	unsigned int i;
	__u32 idx;

	ASSERT_EQ(0, bq_configure(self->fd, nbuf, 64, 0, 0, 0));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	map = mmap(NULL, info.out_mmap_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_POPULATE, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	before = bq_minflt();
	ASSERT_LE(0, before);
	for (i = 0; i < nbuf; i++) {
		map[(size_t)i * info.out_stride] = i + 1;
		map[(size_t)i * info.out_stride + 63] = i + 1;
	}
	after = bq_minflt();
	EXPECT_GE(2, after - before);
	/* The writes are the buffers' data. */
	ASSERT_EQ(0, bq_fetch(self->fd, &idx));
	ASSERT_GT(nbuf, idx);
	EXPECT_EQ((unsigned char)(idx + 1), map[(size_t)idx * info.out_stride]);
	EXPECT_EQ(0, munmap(map, info.out_mmap_size));
}

/*
 * A lookaside queue configured without a cap gets max_buffers indices
 * (or what max_queue_bytes holds), whose pages are made when first used:
 * the mapping of an index no buffer has used yet reads zero and takes
 * what is written, which stays across munmap and mmap and is the content
 * of the buffer growth later binds to that index.
 */
TEST_F(raw, mapping_made_on_use)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bufq_info info;
	unsigned char *map;
	size_t last;
	__u32 idx[2];

	ASSERT_EQ(0, bq_configure(self->fd, 1, 64, 0, 0,
				  BUFQ_CONFIGURE_LOOKASIDE));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(1, info.out_total);
	EXPECT_EQ(page, info.out_stride);
	ASSERT_GE(info.out_max_buffers, 3);
	EXPECT_EQ((__u64)info.out_max_buffers * page, info.out_mmap_size);
	last = info.out_mmap_size - page;

	map = mmap(NULL, info.out_mmap_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0, map[last]);
	EXPECT_EQ(0, map[last + page - 1]);
	memset(map + last, 0x5a, page);
	/* Index 1: the next growth binds it (lowest free index first). */
	EXPECT_EQ(0, map[page]);
	memset(map + page, 0xa5, 64);
	ASSERT_EQ(0, munmap(map, info.out_mmap_size));

	map = mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, last);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0x5a, map[0]);
	EXPECT_EQ(0x5a, map[page - 1]);
	ASSERT_EQ(0, munmap(map, page));

	/* Growth onto index 1 finds what was written there. */
	ASSERT_EQ(0, bq_fetch(self->fd, &idx[0]));
	ASSERT_EQ(0, bq_fetch(self->fd, &idx[1]));
	EXPECT_EQ(0, idx[0]);
	EXPECT_EQ(1, idx[1]);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(2, info.out_total);
	EXPECT_EQ(1, info.out_grown);
	map = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(0xa5, map[page]);
	EXPECT_EQ(0xa5, map[page + 63]);
	EXPECT_EQ(0, map[page + 64]);
	ASSERT_EQ(0, munmap(map, 2 * page));
}

/* Signals interrupt blocking FETCH, DEQUEUE, read() and write(). */
TEST_F_TIMEOUT(bufq, signal_eintr, 120)
{
	__u32 idx[NBUF], got;
	char buf[BSIZE];
	int i;

	start_signals();
	EXPECT_EQ(-EINTR, bq_dequeue(self->fd, &got, NULL));
	EXPECT_EQ(-EINTR, sys_ret(read(self->fd, buf, sizeof(buf))));
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	EXPECT_EQ(-EINTR, bq_fetch(self->fd, &got));
	EXPECT_EQ(-EINTR, sys_ret(write(self->fd, "x", 1)));
	stop_signals();

	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_held);
	EXPECT_EQ(0, self->info.out_queued);
}

/* With SA_RESTART the wait restarts and completes. */
TEST_F_TIMEOUT(bufq, signal_restart, 120)
{
	struct sigaction sa = { .sa_handler = noop_handler,
				.sa_flags = SA_RESTART };
	struct itimerval it = {
		.it_interval = { .tv_usec = 50000 },
		.it_value = { .tv_usec = 50000 },
	};
	pid_t pid = fork();
	__u32 got;

	ASSERT_LE(0, pid);
	if (!pid) {
		alarm(CHILD_ALARM);
		usleep(500000);
		_exit(write(self->fd, "late", 4) == 4 ? 0 : 1);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	EXPECT_EQ(0, bq_dequeue(self->fd, &got, NULL));
	stop_signals();
	EXPECT_EQ(0, wait_child(pid));
}

TEST_F(bufq, fork_shares_queue)
{
	pid_t pid = fork();
	char buf[BSIZE];
	__u32 idx;

	ASSERT_LE(0, pid);
	if (!pid) {
		__u32 i;

		alarm(CHILD_ALARM);
		if (write(self->fd, "from child", 10) != 10)
			_exit(1);
		/* Fetched here, enqueued by the parent. */
		if (bq_fetch(self->fd, &i))
			_exit(2);
		_exit(100 + i);
	}
	ASSERT_LE(100, wait_child(pid));
	ASSERT_EQ(10, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "from child", 10));
	/* The child held a buffer when it exited: it came back. */
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(0, self->info.out_held);
	EXPECT_EQ(1, self->info.out_reclaimed);
	EXPECT_EQ(NBUF, self->info.out_free);
	for (idx = 0; idx < NBUF; idx++)
		EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, idx));
}

/*
 * A child that shares the file dequeues a message and is killed with
 * SIGKILL while it holds it: the buffer comes back to the free list (the
 * message is gone), counted in out_reclaimed, and the queue is whole.
 */
TEST_F(bufq, holder_killed)
{
	char c, msg[BSIZE];
	int ready[2];
	pid_t pid;

	ASSERT_EQ(3, write(self->fd, "one", 3));
	ASSERT_EQ(3, write(self->fd, "two", 3));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		__u32 i, len;

		alarm(CHILD_ALARM);
		if (bq_dequeue(self->fd, &i, &len) || len != 3)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		pause();	/* holding "one" until killed */
		_exit(3);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(1, self->info.out_held);
	EXPECT_EQ(2, self->info.out_holders);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));

	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(0, self->info.out_held);
	EXPECT_EQ(1, self->info.out_reclaimed);
	EXPECT_EQ(1, self->info.out_holders);
	EXPECT_EQ(1, self->info.out_queued);
	EXPECT_EQ(NBUF - 1, self->info.out_free);
	EXPECT_EQ(self->info.out_total, self->info.out_free +
		  self->info.out_queued + self->info.out_held);
	memset(msg, 0xAA, sizeof(msg));
	ASSERT_EQ(3, read(self->fd, msg, sizeof(msg)));
	EXPECT_EQ(0, memcmp(msg, "two", 3));
	close(ready[0]);
	close(ready[1]);
}

/*
 * Closing one of two descriptors a process has for the file gives back
 * nothing; closing the last one does, though the file lives on in a
 * child, which may still hand in what it holds itself.
 */
TEST_F(bufq, holder_last_close)
{
	__u32 mine, theirs;
	int dupfd, status;
	pid_t pid;

	ASSERT_EQ(0, bq_fetch(self->fd, &mine));
	dupfd = dup(self->fd);
	ASSERT_LE(0, dupfd);
	ASSERT_EQ(0, close(dupfd));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(1, self->info.out_held);
	EXPECT_EQ(0, self->info.out_reclaimed);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd = dup(self->fd);
		struct bufq_info info;

		alarm(CHILD_ALARM);
		/* A process may hand in what another holder of the file took. */
		if (bq_enqueue(fd, mine, 0, 0))
			_exit(1);
		if (bq_fetch(fd, &theirs))
			_exit(2);
		close(self->fd);	/* the child's other descriptor stays */
		if (bq_info(fd, &info) || info.out_reclaimed || info.out_held != 1)
			_exit(3);
		if (bq_reuse(fd, theirs))
			_exit(4);
		if (bq_fetch(fd, &theirs))
			_exit(5);
		_exit(0);	/* holding one: given back at exit */
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(0, self->info.out_held);
	EXPECT_EQ(1, self->info.out_queued);
	EXPECT_EQ(1, self->info.out_reclaimed);
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, mine));
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* A child that never inherited the queue receives it over a socket. */
TEST_F_TIMEOUT(raw, scm_rights, 120)
{
	int sv[2];
	char buf[64];
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd;

		alarm(CHILD_ALARM);
		close(self->fd);	/* inherited; use only the passed one */
		fd = recv_fd(sv[1]);
		if (fd < 0)
			_exit(1);
		if (write(fd, "passed", 6) != 6)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(0, bq_configure(self->fd, 2, 64, 0, 0, 0));
	ASSERT_EQ(0, send_fd(sv[0], self->fd));
	EXPECT_EQ(0, wait_child(pid));
	ASSERT_EQ(6, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "passed", 6));
	close(sv[0]);
	close(sv[1]);
}

TEST_F(bufq, batch)
{
	struct bufq_batch_op ops[6];
	__u32 done, idx;

	/* fetch, fetch, enqueue, dequeue, reuse, reuse */
	memset(ops, 0xAA, sizeof(ops));
	for (int i = 0; i < 6; i++) {
		ops[i].flags = 0;
		ops[i].__reserved = 0;
	}
	ops[0].op = BUFQ_OP_FETCH;
	ops[1].op = BUFQ_OP_FETCH;
	ASSERT_EQ(0, bq_batch(self->fd, ops, 2, &done));
	EXPECT_EQ(2, done);
	EXPECT_EQ(0, ops[0].result);
	EXPECT_EQ(0, ops[1].result);
	EXPECT_GT(NBUF, ops[0].index);
	EXPECT_GT(NBUF, ops[1].index);
	EXPECT_NE(ops[0].index, ops[1].index);

	memset(&ops[2], 0xAA, sizeof(ops) - 2 * sizeof(ops[0]));
	ops[2] = (struct bufq_batch_op){ .op = BUFQ_OP_ENQUEUE,
					 .index = ops[1].index, .len = 9 };
	ops[3] = (struct bufq_batch_op){ .op = BUFQ_OP_ENQUEUE,
					 .index = ops[0].index, .len = 5,
					 .flags = BUFQ_ENQUEUE_AT_HEAD };
	ops[4] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE,
					 .index = SENT32, .len = SENT32,
					 .result = SENT32 };
	ops[5] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .result = SENT32 };
	/* Only 3 records: enqueue, enqueue, dequeue. */
	ASSERT_EQ(0, bq_batch(self->fd, &ops[2], 3, &done));
	EXPECT_EQ(3, done);
	EXPECT_EQ(0, ops[4].result);
	EXPECT_EQ(ops[0].index, ops[4].index);
	EXPECT_EQ(5, ops[4].len);
	EXPECT_EQ(SENT32, ops[5].result);	/* not part of the batch */

	/* Reuse it, then a second reuse fails and stops the batch. */
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .index = ops[4].index };
	ops[1] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .index = ops[4].index };
	memset(&ops[2], 0xAA, sizeof(ops[2]));
	ops[2].op = BUFQ_OP_DEQUEUE;
	ops[2].flags = 0;
	ops[2].__reserved = 0;
	ASSERT_EQ(0, bq_batch(self->fd, ops, 3, &done));
	EXPECT_EQ(1, done);
	EXPECT_EQ(0, ops[0].result);
	EXPECT_EQ(EBADSLT, ops[1].result);
	EXPECT_EQ(SENT32, ops[2].result);
	EXPECT_EQ(SENT32, ops[2].index);

	/* Batch ops never block: an empty queue gives EAGAIN. */
	ASSERT_EQ(0, bq_dequeue(self->fd, &idx, NULL));	/* the len 9 one */
	ASSERT_EQ(0, bq_reuse(self->fd, idx));
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 1, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(EAGAIN, ops[0].result);

	/* Unknown op, bad flags, reserved, out of range. */
	ops[0] = (struct bufq_batch_op){ .op = 99 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 1, &done));
	EXPECT_EQ(EOPNOTSUPP, ops[0].result);
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH, .flags = 1 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 1, &done));
	EXPECT_EQ(EOPNOTSUPP, ops[0].result);
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH, .__reserved = 1 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 1, &done));
	EXPECT_EQ(EINVAL, ops[0].result);
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .index = NBUF };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 1, &done));
	EXPECT_EQ(EINVAL, ops[0].result);
	EXPECT_EQ(0, done);

	/* Zero records is a valid, empty batch. */
	ASSERT_EQ(0, bq_batch(self->fd, ops, 0, &done));
	EXPECT_EQ(0, done);

	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
}

/* One BATCH with BUFQ_BATCH_WAIT: gives @n records, then takes @want. */
static int bq_batch_wait(int fd, struct bufq_batch_op *ops, __u32 count,
			 __u32 wait_min, __u32 timeout_ms, __u32 *done)
{
	struct bufq_batch b = {
		.size = sizeof(b), .flags = BUFQ_BATCH_WAIT,
		.ops = (uintptr_t)ops, .entry_len = sizeof(*ops),
		.count = count, .wait_min = wait_min,
		.wait_timeout_ms = timeout_ms,
	};
	int ret = bq_ioctl(fd, BUFQ_IOCTL_BATCH, &b);

	if (!ret && done)
		*done = b.out_done;
	return ret;
}

static void takes(struct bufq_batch_op *ops, __u32 n, __u32 op)
{
	__u32 i;

	for (i = 0; i < n; i++)
		ops[i] = (struct bufq_batch_op){
			.op = op, .index = SENT32, .result = SENT32,
		};
}

/* The wait fields and the flag: EOPNOTSUPP and EINVAL. */
TEST_F(bufq, batch_wait_errors)
{
	struct bufq_batch_op op = { .op = BUFQ_OP_DEQUEUE };
	struct bufq_batch b = {
		.size = sizeof(b), .ops = (uintptr_t)&op,
		.entry_len = sizeof(op), .count = 1,
	};

	b.flags = BUFQ_BATCH_FLAGS_VALID << 1;
	EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	b.flags = 0;
	b.wait_min = 1;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	b.wait_min = 0;
	b.wait_timeout_ms = 1;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	/* The struct without the wait fields: they read as 0. */
	b.wait_timeout_ms = 0;
	b.size = offsetof(struct bufq_batch, wait_min);
	EXPECT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(0, b.out_done);
	EXPECT_EQ(EAGAIN, op.result);
}

/* Nothing comes: the wait ends at its timeout and the takes fail. */
TEST_F(bufq, batch_wait_timeout)
{
	struct bufq_batch_op ops[2];
	__u32 done = SENT32;

	takes(ops, 2, BUFQ_OP_DEQUEUE);
	ASSERT_EQ(0, bq_batch_wait(self->fd, ops, 2, 2, 50, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(EAGAIN, ops[0].result);
	EXPECT_EQ(SENT32, ops[1].result);	/* not run */
}

/*
 * A consumer waiting for three messages gets all three in one call,
 * though they come one at a time, and hands back first what it had.
 */
TEST_F(bufq, batch_wait_for_several)
{
	struct bufq_batch_op ops[1 + NBUF];
	__u32 done = SENT32, held, len, i;
	pid_t pid;

	ASSERT_EQ(1, write(self->fd, "0", 1));
	ASSERT_EQ(0, bq_dequeue(self->fd, &held, &len));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		alarm(CHILD_ALARM);
		for (i = 1; i <= 3; i++) {
			usleep(50000);
			if (write(self->fd, i == 1 ? "1" : i == 2 ? "2" : "3",
				  1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .index = held };
	takes(ops + 1, 3, BUFQ_OP_DEQUEUE);
	ASSERT_EQ(0, bq_batch_wait(self->fd, ops, 4, 3, 0, &done));
	EXPECT_EQ(4, done);
	for (i = 1; i <= 3; i++) {
		EXPECT_EQ(0, ops[i].result);
		EXPECT_EQ(1, ops[i].len);
		EXPECT_EQ(0, bq_reuse(self->fd, ops[i].index));
	}
	EXPECT_EQ(0, wait_child(pid));
}

/* FETCH waits for free buffers: a reuse in the same batch makes one. */
TEST_F(bufq, batch_wait_fetch)
{
	struct bufq_batch_op ops[1 + NBUF];
	__u32 idx[NBUF], done = SENT32, i;

	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .index = idx[0] };
	takes(ops + 1, 1, BUFQ_OP_FETCH);
	ASSERT_EQ(0, bq_batch_wait(self->fd, ops, 2, 1, 0, &done));
	EXPECT_EQ(2, done);
	EXPECT_EQ(idx[0], ops[1].index);
	idx[0] = ops[1].index;
	for (i = 0; i < NBUF; i++)
		EXPECT_EQ(0, bq_reuse(self->fd, idx[i]));
}

/* A signal ends the wait: the batch returns what it could take, 0. */
TEST_F(bufq, batch_wait_signal)
{
	struct bufq_batch_op op;
	__u32 done = SENT32;

	takes(&op, 1, BUFQ_OP_DEQUEUE);
	start_signals();
	EXPECT_EQ(0, bq_batch_wait(self->fd, &op, 1, 1, 0, &done));
	stop_signals();
	EXPECT_EQ(0, done);
	EXPECT_EQ(EAGAIN, op.result);
}

TEST_F(bufq, batch_layout_errors)
{
	struct {
		struct bufq_batch_op op;
		__u32 tail[2];
	} rec[2] = {};
	struct bufq_batch b = { .size = sizeof(b), .count = 1 };
	__u32 idx;

	b.ops = (uintptr_t)rec;
	b.entry_len = BATCH_OP_MIN - 1;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	b.entry_len = sizeof(rec[0]);
	b.__reserved = 1;
	EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	b.__reserved = 0;
	b.flags = BUFQ_BATCH_FLAGS_VALID << 1;
	EXPECT_EQ(-EOPNOTSUPP, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	b.flags = 0;

	/* Larger records: zero tail works, non-zero tail is E2BIG. */
	rec[0].op.op = BUFQ_OP_FETCH;
	rec[1].op.op = BUFQ_OP_REUSE;
	rec[1].tail[1] = 1;
	b.count = 2;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(1, b.out_done);
	EXPECT_EQ(0, rec[0].op.result);
	EXPECT_EQ(E2BIG, rec[1].op.result);
	EXPECT_EQ(BUFQ_OP_REUSE, rec[1].op.op);	/* only result written */
	EXPECT_EQ(0, rec[1].op.index);
	EXPECT_EQ(1, rec[1].tail[1]);
	idx = rec[0].op.index;
	rec[1].tail[1] = 0;
	rec[1].op.index = idx;
	b.ops = (uintptr_t)&rec[1];
	b.count = 1;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(1, b.out_done);

	/* Records at the minimum length (no __reserved). */
	{
		__u32 small[2][5] = { { BUFQ_OP_FETCH }, { BUFQ_OP_REUSE } };

		b.ops = (uintptr_t)small;
		b.entry_len = sizeof(small[0]);
		b.count = 1;
		ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
		EXPECT_EQ(1, b.out_done);
		small[1][2] = small[0][2];
		b.ops = (uintptr_t)small[1];
		ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
		EXPECT_EQ(1, b.out_done);
	}

	/* Overflow and faults. */
	b.entry_len = sizeof(struct bufq_batch_op);
	b.ops = ~0ull - 16;
	b.count = 2;
	EXPECT_EQ(-EOVERFLOW, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	b.ops = 8;
	b.out_done = SENT32;
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(0, b.out_done);

	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
}

/* Batches of many records: chunks, bulk runs, stops exactly where they fail. */
TEST_F(raw, batch_bulk)
{
	enum { N = 200, OPS = 2 * N + 10 };
	struct bufq_batch_op *ops = calloc(OPS, sizeof(*ops));
	struct bufq_info info;
	__u32 done, held[N], order[N];
	int i, k;

	ASSERT_NE(NULL, ops);
	ASSERT_EQ(0, bq_configure(self->fd, N, 64, 0, 0, 0));

	/* N + 10 fetches: N succeed, the next fails, the rest untouched. */
	memset(ops, 0xAA, OPS * sizeof(*ops));
	for (i = 0; i < N + 10; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH,
						 .index = SENT32,
						 .result = SENT32 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, N + 10, &done));
	EXPECT_EQ(N, done);
	EXPECT_EQ(EAGAIN, ops[N].result);
	EXPECT_EQ(SENT32, ops[N].index);
	for (i = N + 1; i < N + 10; i++)
		EXPECT_EQ(SENT32, ops[i].result);
	for (i = 0; i < N; i++) {
		ASSERT_EQ(0, ops[i].result);
		ASSERT_GT(N, ops[i].index);
		held[i] = ops[i].index;
		for (k = 0; k < i; k++)
			ASSERT_NE(held[k], held[i]);
	}

	/* N enqueues (two at the head), then N + 5 dequeues. */
	for (i = 0; i < N; i++)
		ops[i] = (struct bufq_batch_op){
			.op = BUFQ_OP_ENQUEUE, .index = held[i], .len = i % 64,
			.flags = (i == 100 || i == 101) ? BUFQ_ENQUEUE_AT_HEAD : 0,
		};
	for (i = N; i < 2 * N + 5; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE,
						 .index = SENT32,
						 .result = SENT32 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 2 * N + 5, &done));
	EXPECT_EQ(2 * N, done);
	EXPECT_EQ(EAGAIN, ops[2 * N].result);
	for (i = 2 * N + 1; i < 2 * N + 5; i++)
		EXPECT_EQ(SENT32, ops[i].result);
	order[0] = 101;
	order[1] = 100;
	for (i = 2, k = 0; i < N; i++, k++)
		order[i] = k == 100 ? (k += 2) : k;
	for (i = 0; i < N; i++) {
		EXPECT_EQ(0, ops[N + i].result);
		EXPECT_EQ(held[order[i]], ops[N + i].index);
		EXPECT_EQ(order[i] % 64, ops[N + i].len);
	}

	/* Reuse them all, then one twice: EBADSLT stops the batch. */
	for (i = 0; i < N; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE,
						 .index = held[i] };
	ops[N] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE,
					 .index = held[7] };
	ops[N + 1] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH,
					     .result = SENT32 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, N + 2, &done));
	EXPECT_EQ(N, done);
	EXPECT_EQ(EBADSLT, ops[N].result);
	EXPECT_EQ(SENT32, ops[N + 1].result);

	/* A bad record in the middle of a run stops it there. */
	for (i = 0; i < 70; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH };
	ops[66].flags = 1;
	ops[67].result = SENT32;
	ASSERT_EQ(0, bq_batch(self->fd, ops, 70, &done));
	EXPECT_EQ(66, done);
	EXPECT_EQ(EOPNOTSUPP, ops[66].result);
	EXPECT_EQ(SENT32, ops[67].result);
	for (i = 0; i < 66; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE,
						 .index = ops[i].index };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 66, &done));
	EXPECT_EQ(66, done);

	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(N, info.out_free);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(0, info.out_queued);
	free(ops);
}

/* Lookaside: a batch of fetches grows the queue up to its cap. */
TEST_F(raw, batch_lookaside)
{
	struct bufq_batch_op ops[120];
	struct bufq_info info;
	__u32 done;
	int i;

	ASSERT_EQ(0, bq_configure(self->fd, 4, 64, 0, 100,
				  BUFQ_CONFIGURE_LOOKASIDE));
	for (i = 0; i < 120; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH,
						 .result = SENT32 };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 120, &done));
	EXPECT_EQ(100, done);
	EXPECT_EQ(EAGAIN, ops[100].result);
	EXPECT_EQ(SENT32, ops[101].result);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(100, info.out_total);
	EXPECT_EQ(100, info.out_held);
	for (i = 0; i < 100; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE,
						 .index = ops[i].index };
	ASSERT_EQ(0, bq_batch(self->fd, ops, 100, &done));
	EXPECT_EQ(100, done);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(4, info.out_total);
	EXPECT_EQ(4, info.out_free);
}

/*
 * Records laid out so that the first @rw of them end the first page of
 * @map and the rest start the second, which batch_edge() protects.
 */
static struct bufq_batch_op *batch_at_edge(char *map, long page, int rw)
{
	return (struct bufq_batch_op *)(map + page) - rw;
}

static int batch_edge(int fd, struct bufq_batch_op *ops, __u32 count,
		      char *map, long page, int prot, __u32 *done)
{
	struct bufq_batch b = {
		.size = sizeof(b), .ops = (uintptr_t)ops,
		.entry_len = sizeof(*ops), .count = count, .out_done = SENT32,
	};
	int ret;

	if (mprotect(map + page, page, prot))
		return -errno;
	ret = bq_ioctl(fd, BUFQ_IOCTL_BATCH, &b);
	*done = b.out_done;
	if (mprotect(map + page, page, PROT_READ | PROT_WRITE))
		return -errno;
	return ret;
}

/*
 * A record whose result cannot be written ends the batch as it would one
 * record at a time: records before it are done and written, it and the
 * records after it do not run.
 */
TEST_F(raw, batch_write_fault)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bufq_batch_op *ops;
	struct bufq_info info;
	__u32 done, held[20], idx, len;
	char *map;
	int i;

	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, bq_configure(self->fd, 100, 64, 0, 0, 0));

	/* Fetches: 10 writable, the 11th faults and is undone. */
	ops = batch_at_edge(map, page, 10);
	for (i = 0; i < 40; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH };
	EXPECT_EQ(-EFAULT, batch_edge(self->fd, ops, 40, map, page,
				      PROT_READ, &done));
	EXPECT_EQ(10, done);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(10, info.out_held);
	for (i = 0; i < 10; i++) {
		EXPECT_EQ(0, ops[i].result);
		held[i] = ops[i].index;
	}

	/* Reuses: 4 writable; the 5th cannot be written, so it does not run. */
	ops = batch_at_edge(map, page, 4);
	for (i = 0; i < 10; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE,
						 .index = held[i] };
	EXPECT_EQ(-EFAULT, batch_edge(self->fd, ops, 10, map, page,
				      PROT_READ, &done));
	EXPECT_EQ(4, done);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(6, info.out_held);
	EXPECT_EQ(0, bq_reuse(self->fd, held[4]));
	for (i = 5; i < 10; i++)
		EXPECT_EQ(0, bq_enqueue(self->fd, held[i], i, 0));

	/* Dequeues: undone ones go back in their order. */
	ops = batch_at_edge(map, page, 2);
	for (i = 0; i < 5; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	EXPECT_EQ(-EFAULT, batch_edge(self->fd, ops, 5, map, page,
				      PROT_READ, &done));
	EXPECT_EQ(2, done);
	EXPECT_EQ(5, ops[0].len);
	EXPECT_EQ(6, ops[1].len);
	held[0] = ops[0].index;
	held[1] = ops[1].index;
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(3, info.out_queued);

	/*
	 * A dequeue faults before enqueues and a reuse of the same batch:
	 * they do not run, their buffers stay held.
	 */
	ops = batch_at_edge(map, page, 1);
	ops[0] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	ops[1] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	ops[2] = (struct bufq_batch_op){ .op = BUFQ_OP_ENQUEUE,
					 .index = held[0], .len = 1 };
	ops[3] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE,
					 .index = held[1] };
	EXPECT_EQ(-EFAULT, batch_edge(self->fd, ops, 4, map, page,
				      PROT_READ, &done));
	EXPECT_EQ(1, done);
	EXPECT_EQ(7, ops[0].len);
	held[2] = ops[0].index;
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(2, info.out_queued);
	EXPECT_EQ(3, info.out_held);
	for (i = 8; i < 10; i++) {
		ASSERT_EQ(0, bq_dequeue(self->fd, &idx, &len));
		EXPECT_EQ(i, len);
		EXPECT_EQ(0, bq_reuse(self->fd, idx));
	}
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, bq_reuse(self->fd, held[i]));

	/* A record that cannot be read: those before it run. */
	ops = batch_at_edge(map, page, 3);
	for (i = 0; i < 12; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH };
	EXPECT_EQ(-EFAULT, batch_edge(self->fd, ops, 12, map, page,
				      PROT_NONE, &done));
	EXPECT_EQ(3, done);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(3, info.out_held);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, bq_reuse(self->fd, ops[i].index));

	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(100, info.out_free);
	EXPECT_EQ(0, info.out_queued);
	EXPECT_EQ(0, info.out_held);
	munmap(map, 2 * page);
}

/* FETCH records at @p, which need not be aligned. */
static void batch_fetches_at(char *p, int count)
{
	struct bufq_batch_op op = { .op = BUFQ_OP_FETCH };
	int i;

	for (i = 0; i < count; i++)
		memcpy(p + i * sizeof(op), &op, sizeof(op));
}

/*
 * Reuse what records [0, @done) at @p fetched. Return: how many of them
 * did not succeed or could not be reused.
 */
static int batch_reuse_at(int fd, const char *p, __u32 done)
{
	struct bufq_batch_op op;
	int bad = 0;
	__u32 i;

	for (i = 0; i < done; i++) {
		memcpy(&op, p + i * sizeof(op), sizeof(op));
		bad += op.result || bq_reuse(fd, op.index);
	}
	return bad;
}

/*
 * Where the records lie against the page that cannot be written: a record
 * with any byte on it does not run, whatever the records' alignment, and
 * one that ends where it starts runs; a fault in a later chunk stops
 * there.
 */
TEST_F(raw, batch_write_fault_layouts)
{
	static const struct {
		long before;	/* bytes of records before the page */
		int count;
		int ret;
		__u32 done;
	} layouts[] = {
		{ 3 * 24 + 8, 6, -EFAULT, 3 },	/* the 4th straddles */
		{ 3 * 24 + 12, 6, -EFAULT, 3 },	/* from a 4 mod 8 start */
		{ 3 * 24 + 4, 6, -EFAULT, 3 },	/* a word straddles too */
		{ 3 * 24 + 1, 6, -EFAULT, 3 },	/* from an odd start */
		{ 4 * 24, 4, 0, 4 },		/* ends at the page */
		{ 70 * 24, 100, -EFAULT, 70 },	/* in the second chunk */
		{ 0, 5, -EFAULT, 0 },		/* all on it */
	};
	long page = sysconf(_SC_PAGESIZE);
	struct bufq_info info;
	unsigned int k;
	__u32 done;
	char *map, *p;

	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, bq_configure(self->fd, 100, 64, 0, 0, 0));
	for (k = 0; k < ARRAY_SIZE(layouts); k++) {
		p = map + page - layouts[k].before;
		batch_fetches_at(p, layouts[k].count);
		done = SENT32;
		EXPECT_EQ(layouts[k].ret,
			  batch_edge(self->fd, (struct bufq_batch_op *)p,
				     layouts[k].count, map, page, PROT_READ,
				     &done)) TH_LOG("layout %u", k);
		EXPECT_EQ(layouts[k].done, done) TH_LOG("layout %u", k);
		ASSERT_EQ(0, bq_info(self->fd, &info));
		EXPECT_EQ(layouts[k].done, info.out_held) TH_LOG("layout %u", k);
		EXPECT_EQ(0, batch_reuse_at(self->fd, p, layouts[k].done));
	}
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(100, info.out_free);
	EXPECT_EQ(0, info.out_held);
	munmap(map, 2 * page);
}

/*
 * Two processes run batches of random records on one queue, racing for the
 * same buffers: every record succeeds or fails with a documented errno,
 * a batch stops at its first failure, and no buffer goes missing.
 */
TEST_F_TIMEOUT(bufq, racing_batch, 300)
{
	struct bufq_info info;
	pid_t pid[2];
	__u32 idx;
	int p;

	for (p = 0; p < 2; p++) {
		pid[p] = fork();
		ASSERT_LE(0, pid[p]);
		if (pid[p])
			continue;
		alarm(CHILD_ALARM * 4);
		srand(getpid());
		for (int i = 0; i < 1000; i++) {
			struct bufq_batch_op ops[80];
			int n = 1 + rand() % 80, k;
			__u32 done;

			for (k = 0; k < n; k++) {
				int run = rand() % 3 ? 1 : 0;

				ops[k] = (struct bufq_batch_op){
					.op = run && k ? ops[k - 1].op :
					      1 + rand() % 4,
					.index = rand() % (NBUF + 1),
					.len = rand() % BSIZE,
					.flags = rand() % 8 ? 0 :
						 BUFQ_ENQUEUE_AT_HEAD,
					.result = SENT32,
				};
				if (ops[k].op != BUFQ_OP_ENQUEUE)
					ops[k].flags = 0;
			}
			if (bq_batch(self->fd, ops, n, &done) || done > n)
				_exit(1);
			for (k = 0; k < (int)done; k++)
				if (ops[k].result)
					_exit(2);
			if (done < n && ops[done].result != EAGAIN &&
			    ops[done].result != EBADSLT &&
			    ops[done].result != EINVAL)
				_exit(3);
			for (k = done + 1; k < n; k++)
				if (ops[k].result != SENT32)
					_exit(4);
		}
		_exit(0);
	}
	EXPECT_EQ(0, wait_child(pid[0]));
	EXPECT_EQ(0, wait_child(pid[1]));

	ASSERT_EQ(0, bq_flush(self->fd));
	for (idx = 0; idx < NBUF; idx++) {
		int ret = bq_reuse(self->fd, idx);

		EXPECT_TRUE(ret == 0 || ret == -EBADSLT);
	}
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(NBUF, info.out_total);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(0, info.out_queued);
}

/* A fault writing back a FETCH result gives the buffer back. */
TEST_F(bufq, fetch_efault_undo)
{
	struct bufq_fetch *f;
	long page = sysconf(_SC_PAGESIZE);
	char *map;

	map = mmap(NULL, page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	f = (struct bufq_fetch *)map;
	f->size = sizeof(*f);
	ASSERT_EQ(0, mprotect(map, page, PROT_READ));
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, f));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
	EXPECT_EQ(0, self->info.out_held);

	ASSERT_EQ(2, write(self->fd, "ok", 2));
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_DEQUEUE, f));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(1, self->info.out_queued);
	EXPECT_EQ(0, self->info.out_held);
	munmap(map, page);
}

/* Closing with buffers held and queued frees everything (kmemleak). */
TEST_F(bufq, close_with_buffers_out)
{
	__u32 a, b;

	ASSERT_EQ(0, bq_fetch(self->fd, &a));
	ASSERT_EQ(0, bq_fetch(self->fd, &b));
	ASSERT_EQ(0, bq_enqueue(self->fd, b, 3, 0));
	ASSERT_EQ(4, write(self->fd, "more", 4));
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
}

/* Two processes pass numbered messages through one queue, in order. */
TEST_F_TIMEOUT(bufq, producer_consumer, 300)
{
	const unsigned int n = 2000;
	unsigned int i, v;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (!pid) {
		alarm(CHILD_ALARM * 4);
		for (i = 0; i < n; i++)
			if (write(self->fd, &i, sizeof(i)) != sizeof(i))
				_exit(1);
		_exit(0);
	}
	for (i = 0; i < n; i++) {
		ASSERT_EQ(sizeof(v), read(self->fd, &v, sizeof(v)));
		ASSERT_EQ(i, v);
	}
	EXPECT_EQ(0, wait_child(pid));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
	EXPECT_GE(NBUF, self->info.out_high_water);
}

TEST_F(raw, limits_follow_params)
{
	long old = read_param("max_buffer_size");
	long page = sysconf(_SC_PAGESIZE);
	int fd2;

	ASSERT_LT(0, old);
	if (write_param("max_buffer_size", 1000))
		SKIP(return, "cannot write module parameters");
	EXPECT_EQ(1000, read_param("max_buffer_size"));
	EXPECT_EQ(-E2BIG, bq_configure(self->fd, 1, 1001, 0, 0, 0));
	EXPECT_EQ(0, bq_configure(self->fd, 1, 1000, 0, 0, 0));
	/* 0 is not a valid limit. */
	EXPECT_NE(0, write_param("max_buffer_size", 0));
	EXPECT_EQ(0, write_param("max_buffer_size", old));

	/* max_queue_bytes bounds the mapping. */
	old = read_param("max_queue_bytes");
	ASSERT_EQ(0, write_param("max_queue_bytes", 4 * page));
	fd2 = bq_open(0);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-E2BIG, bq_configure(fd2, 5, 64, 0, 0, 0));
	EXPECT_EQ(-E2BIG, bq_configure(fd2, 1, 64, 0, 5,
				       BUFQ_CONFIGURE_LOOKASIDE));
	/* Without a cap, lookaside gets what fits, if buffer_count does. */
	EXPECT_EQ(-E2BIG, bq_configure(fd2, 5, 64, 0, 0,
				       BUFQ_CONFIGURE_LOOKASIDE));
	EXPECT_EQ(-E2BIG, bq_configure(fd2, 0, 4 * page + 1, 0, 0,
				       BUFQ_CONFIGURE_LOOKASIDE));
	EXPECT_EQ(0, bq_configure(fd2, 4, 64, 0, 0, 0));
	close(fd2);
	fd2 = bq_open(0);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(0, bq_configure(fd2, 1, 2 * page - 8, 0, 0,
				  BUFQ_CONFIGURE_LOOKASIDE));
	{
		struct bufq_info info;

		EXPECT_EQ(0, bq_info(fd2, &info));
		EXPECT_EQ(2, info.out_max_buffers);
		EXPECT_EQ(4 * page, info.out_mmap_size);
	}
	close(fd2);
	EXPECT_EQ(0, write_param("max_queue_bytes", old));

	/* max_buffers is the default cap of lookaside queues. */
	old = read_param("max_buffers");
	ASSERT_EQ(0, write_param("max_buffers", 3));
	fd2 = bq_open(0);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-E2BIG, bq_configure(fd2, 4, 64, 0, 0, 0));
	EXPECT_EQ(0, bq_configure(fd2, 1, 64, 0, 0, BUFQ_CONFIGURE_LOOKASIDE));
	{
		struct bufq_info info;

		EXPECT_EQ(0, bq_info(fd2, &info));
		EXPECT_EQ(3, info.out_max_buffers);
	}
	close(fd2);
	EXPECT_EQ(0, write_param("max_buffers", old));
}

TEST_F(raw, device_node)
{
	struct stat st;

	ASSERT_EQ(0, stat(DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	/* Messages have no file position. */
	EXPECT_EQ(-ESPIPE, sys_ret(lseek(self->fd, 0, SEEK_SET)));
}

/* The module cannot go while a file or a mapping of it exists. */
TEST_F(bufq, unload_refused_while_open)
{
	size_t size = self->info.out_mmap_size;
	void *map;
	int ret;

	ret = sys_ret(syscall(SYS_delete_module, "bufq", O_NONBLOCK));
	EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EBUSY);

	map = mmap(NULL, size, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	close(self->fd);
	self->fd = -1;
	ret = sys_ret(syscall(SYS_delete_module, "bufq", O_NONBLOCK));
	EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EBUSY);
	munmap(map, size);
}

/* Every command: below min size EINVAL, non-zero tail E2BIG, no effect. */
TEST_F(bufq, size_contract_all_commands)
{
	static const struct {
		unsigned long cmd;
		size_t size, min;
	} cmds[] = {
		{ BUFQ_IOCTL_CONFIGURE, sizeof(struct bufq_configure), CONFIGURE_MIN },
		{ BUFQ_IOCTL_INFO, sizeof(struct bufq_info), INFO_MIN },
		{ BUFQ_IOCTL_FETCH, sizeof(struct bufq_fetch), FETCH_MIN },
		{ BUFQ_IOCTL_ENQUEUE, sizeof(struct bufq_enqueue),
		  sizeof(struct bufq_enqueue) },
		{ BUFQ_IOCTL_DEQUEUE, sizeof(struct bufq_dequeue),
		  sizeof(struct bufq_dequeue) },
		{ BUFQ_IOCTL_REUSE, sizeof(struct bufq_reuse),
		  offsetof(struct bufq_reuse, __reserved) },
		{ BUFQ_IOCTL_FLUSH, sizeof(struct bufq_flush),
		  sizeof(struct bufq_flush) },
		{ BUFQ_IOCTL_BATCH, sizeof(struct bufq_batch),
		  sizeof(struct bufq_batch) },
	};
	__u32 buf[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = cmds[i].min - 1;
		EXPECT_EQ(-EINVAL, bq_ioctl(self->fd, cmds[i].cmd, buf));
		buf[0] = cmds[i].size + 8;
		((unsigned char *)buf)[cmds[i].size + 3] = 1;
		EXPECT_EQ(-E2BIG, bq_ioctl(self->fd, cmds[i].cmd, buf));
		TH_LOG("command %#lx: size %zu min %zu", cmds[i].cmd,
		       cmds[i].size, cmds[i].min);
	}
	/* None of it had any effect. */
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
	EXPECT_EQ(0, self->info.out_fetch_failed);
}

static void kernel_log(const char *msg)
{
	int fd = open("/dev/kmsg", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, msg, strlen(msg)) < 0)
			perror("kmsg");
		close(fd);
	}
}

/* Make the @nth fault-injection site of this thread fail; 0 turns it off. */
static int fail_nth(int fd, int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", nth);

	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

/* Whether the fault set up by fail_nth() has been injected. */
static bool fail_nth_hit(int fd)
{
	char buf[16] = "";

	return pread(fd, buf, sizeof(buf) - 1, 0) > 0 && atoi(buf) == 0;
}

/*
 * Each allocation of CONFIGURE fails in turn: ENOMEM, nothing half set up
 * (kmemleak and KASAN watch the unwinding), and the file stays usable.
 */
TEST_F_TIMEOUT(raw, configure_enomem, 300)
{
	struct bufq_info info;
	int nth, n, fd, ret;
	bool hit;

	nth = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth < 0)
		SKIP(return, "no fault injection (fail-nth)");
	/* Allocation failures below the slab layer may print a stack. */
	kernel_log("bufq-test: expect WARNING begin\n");
	for (n = 1; n < 500; n++) {
		fd = bq_open(0);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, fail_nth(nth, n));
		ret = bq_configure(fd, 4, 5000, 16, 8, BUFQ_CONFIGURE_LOOKASIDE);
		hit = fail_nth_hit(nth);
		fail_nth(nth, 0);
		if (ret) {
			EXPECT_TRUE(hit);
			EXPECT_EQ(-ENOMEM, ret);
			/* Still unconfigured, and configurable. */
			EXPECT_EQ(-EBADFD, bq_info(fd, &info));
			EXPECT_EQ(0, bq_configure(fd, 1, 64, 0, 0, 0));
		} else {
			EXPECT_EQ(5, write(fd, "alive", 5));
		}
		close(fd);
		if (!hit)
			break;
	}
	kernel_log("bufq-test: expect WARNING end\n");
	EXPECT_LT(1, n);
	TH_LOG("%d allocation sites", n - 1);
	close(nth);
}

/* Lookaside growth failing: FETCH and write() get ENOMEM, nothing leaks. */
TEST_F(raw, lookaside_enomem)
{
	struct bufq_info info;
	int nth, ret;
	__u32 idx;
	bool hit;

	nth = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth < 0)
		SKIP(return, "no fault injection (fail-nth)");
	ASSERT_EQ(0, bq_configure(self->fd, 0, 64, 0, 2,
				  BUFQ_CONFIGURE_LOOKASIDE));

	ASSERT_EQ(0, fail_nth(nth, 1));
	ret = bq_fetch(self->fd, &idx);
	hit = fail_nth_hit(nth);
	fail_nth(nth, 0);
	ASSERT_TRUE(hit);
	EXPECT_EQ(-ENOMEM, ret);

	ASSERT_EQ(0, fail_nth(nth, 1));
	ret = sys_ret(write(self->fd, "x", 1));
	hit = fail_nth_hit(nth);
	fail_nth(nth, 0);
	ASSERT_TRUE(hit);
	EXPECT_EQ(-ENOMEM, ret);

	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_total);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(2, info.out_fetch_failed);

	/* Without the fault it grows. */
	ASSERT_EQ(0, bq_fetch(self->fd, &idx));
	ASSERT_EQ(0, bq_reuse(self->fd, idx));
	close(nth);
}

/*
 * Two processes share a queue and hand in good and bad indices at random,
 * racing for the same buffers. Every call must succeed or fail with a
 * documented errno, and at the end no buffer may be missing.
 */
TEST_F_TIMEOUT(bufq, racing_misuse, 300)
{
	struct bufq_info info;
	pid_t pid[2];
	__u32 idx;
	int p;

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	for (p = 0; p < 2; p++) {
		pid[p] = fork();
		ASSERT_LE(0, pid[p]);
		if (pid[p])
			continue;
		alarm(CHILD_ALARM * 4);
		srand(getpid());
		for (int i = 0; i < 3000; i++) {
			__u32 x = rand() % (NBUF + 1), len;
			int ret;

			switch (rand() % 6) {
			case 0:
				ret = bq_fetch(self->fd, &x);
				break;
			case 1:
				ret = bq_enqueue(self->fd, x, rand() % BSIZE,
						 rand() % 2);
				break;
			case 2:
				ret = bq_dequeue(self->fd, &x, &len);
				break;
			case 3:
				ret = bq_reuse(self->fd, x);
				break;
			case 4:
				ret = bq_flush(self->fd);
				break;
			default:
				ret = sys_ret(write(self->fd, "r", 1));
				ret = ret == 1 ? 0 : ret;
				break;
			}
			if (ret && ret != -EAGAIN && ret != -EBADSLT &&
			    ret != -EINVAL)
				_exit(1);
		}
		_exit(0);
	}
	EXPECT_EQ(0, wait_child(pid[0]));
	EXPECT_EQ(0, wait_child(pid[1]));

	/* Take everything back: flush the queue, reuse every held index. */
	ASSERT_EQ(0, bq_flush(self->fd));
	for (idx = 0; idx < NBUF; idx++) {
		int ret = bq_reuse(self->fd, idx);

		EXPECT_TRUE(ret == 0 || ret == -EBADSLT);
	}
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(NBUF, info.out_total);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(0, info.out_queued);
}

TEST_HARNESS_MAIN
