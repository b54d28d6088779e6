// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for a driver's queue in user space, through tests/bufq_testdev.c:
 * what the driver allows and how refusals are ordered, who holds a buffer
 * (the kernel's are refused to user space, user space's to the kernel) and
 * the device going away while files and mappings are open.
 *
 * Needs bufq and bufq_testdev loaded (make check loads every module).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "bufq_test.h"

#define TESTDEV		"/dev/bufq-testdev"
#define PARAM		"/sys/module/bufq_testdev/parameters/"
#define NBUF		4
#define BSIZE		256
#define SENT32		0xAAAAAAAAu

static int param_write(const char *name, unsigned int val)
{
	char path[128], buf[16];
	int fd, len, ret;

	snprintf(path, sizeof(path), PARAM "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%u", val);
	ret = write(fd, buf, len) == len ? 0 : -errno;
	close(fd);
	return ret;
}

static long param_read(const char *name)
{
	char path[128], buf[32] = "";
	long val = LONG_MIN;
	int fd;

	snprintf(path, sizeof(path), PARAM "%s", name);
	fd = open(path, O_RDONLY);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		val = strtol(buf, NULL, 0);
	if (fd >= 0)
		close(fd);
	return val;
}

FIXTURE(testdev) {
	int fd;
	struct bufq_info info;
	char *mem;
};

FIXTURE_SETUP(testdev)
{
	self->mem = MAP_FAILED;
	self->fd = open(TESTDEV, O_RDWR);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, TESTDEV " missing (bufq_testdev not loaded?)");
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	self->mem = mmap(NULL, self->info.out_mmap_size,
			 PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
}

FIXTURE_TEARDOWN(testdev)
{
	if (self->mem != MAP_FAILED)
		munmap(self->mem, self->info.out_mmap_size);
	if (self->fd >= 0)
		close(self->fd);
	param_write("ops", BUFQ_OPS_ALL);
	param_write("kput", 1);
}

/* The driver configured the file: its layout, and CONFIGURE is EBUSY. */
TEST_F(testdev, configured)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .buffer_count = 1, .buffer_size = 64,
	};
	long page = sysconf(_SC_PAGESIZE);

	EXPECT_EQ(BUFQ_OPS_ALL, self->info.out_ops);
	EXPECT_EQ(NBUF, self->info.out_max_buffers);
	EXPECT_EQ(NBUF, self->info.out_free);
	EXPECT_EQ(BSIZE, self->info.out_buffer_size);
	EXPECT_EQ(0, self->info.out_context_size);
	EXPECT_EQ(page, self->info.out_stride);
	EXPECT_EQ((__u64)NBUF * page, self->info.out_mmap_size);
	EXPECT_EQ(-EBUSY, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &cfg));
}

/*
 * A file of a driver that allows only DEQUEUE and REUSE: the others fail
 * with EPERM, before their own checks (a bad index, a bad flag) and the
 * open mode; poll() never reports EPOLLOUT though buffers are free.
 */
TEST_F(testdev, ops_refused)
{
	struct bufq_batch_op op = { .op = BUFQ_OP_FETCH, .result = SENT32 };
	struct bufq_enqueue e = { .size = sizeof(e), .index = 99, .flags = 8 };
	struct bufq_flush f = { .size = sizeof(f) };
	struct pollfd pfd;
	struct bufq_info info;
	__u32 idx, done = SENT32;
	char c = 'x';
	int fd;

	ASSERT_EQ(0, param_write("ops", BUFQ_OPS_DEQUEUE | BUFQ_OPS_REUSE));
	fd = open(TESTDEV, O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(BUFQ_OPS_DEQUEUE | BUFQ_OPS_REUSE, info.out_ops);
	EXPECT_EQ(-EPERM, bq_fetch(fd, &idx));		/* O_RDONLY: not EBADF */
	EXPECT_EQ(-EPERM, bq_ioctl(fd, BUFQ_IOCTL_ENQUEUE, &e));
	EXPECT_EQ(-EPERM, bq_ioctl(fd, BUFQ_IOCTL_FLUSH, &f));
	EXPECT_EQ(-EBADF, sys_ret(write(fd, &c, 1)));	/* the VFS's, first */
	EXPECT_EQ(0, bq_batch(fd, &op, 1, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(EPERM, op.result);
	EXPECT_EQ(-EAGAIN, bq_dequeue(fd, &idx, NULL));	/* allowed */
	EXPECT_EQ(-EBADSLT, bq_reuse(fd, 0));		/* allowed */
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	close(fd);
	fd = open(TESTDEV, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EPERM, sys_ret(write(fd, &c, 1)));
	close(fd);

	/* Nothing at all: even REUSE and read(). */
	ASSERT_EQ(0, param_write("ops", 0));
	fd = open(TESTDEV, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EPERM, bq_reuse(fd, 0));
	EXPECT_EQ(-EPERM, bq_dequeue(fd, &idx, NULL));
	EXPECT_EQ(-EPERM, sys_ret(read(fd, &c, 1)));
	EXPECT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(0, info.out_ops);
	close(fd);
}

/*
 * Buffers the driver holds are not user space's: no index it holds can be
 * handed in, and FETCH finds nothing until the driver gives them back.
 */
TEST_F(testdev, kernel_held_refused)
{
	__u32 i, idx;

	ASSERT_EQ(0, param_write("kfetch", 1));
	ASSERT_EQ(NBUF, param_read("kheld"));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, bq_fetch(self->fd, &idx));
	for (i = 0; i < NBUF; i++) {
		EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, i));
		EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, i, 1, 0));
	}
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_held);
	EXPECT_EQ(0, self->info.out_queued);

	ASSERT_EQ(0, param_write("kput", 1));
	EXPECT_EQ(0, bq_fetch(self->fd, &idx));
	EXPECT_EQ(0, bq_reuse(self->fd, idx));
}

/*
 * Buffers user space holds are refused to the kernel: a driver that hands
 * one in (a driver bug) gets -EINVAL with its one warning, and the buffer
 * stays user space's.
 */
TEST_F(testdev, user_held_refused_to_kernel)
{
	__u32 idx[NBUF], i;

	for (i = 0; i < NBUF; i++) {
		ASSERT_EQ(0, bq_fetch(self->fd, &idx[i]));
		self->mem[idx[i] * self->info.out_stride] = 'a' + i;
	}
	kernel_log("bufq-test: expect WARNING begin\n");
	for (i = 0; i < NBUF; i++) {
		EXPECT_EQ(0, param_write("kreuse", i));
		EXPECT_EQ(-EINVAL, param_read("kresult"));
	}
	kernel_log("bufq-test: expect WARNING end\n");
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_held);
	EXPECT_EQ(0, self->info.out_free);
	for (i = 0; i < NBUF; i++) {
		EXPECT_EQ('a' + i, self->mem[idx[i] * self->info.out_stride]);
		EXPECT_EQ(0, bq_enqueue(self->fd, idx[i], 1, 0));
	}
	ASSERT_EQ(0, bq_flush(self->fd));
}

/*
 * The device goes away with a file open, a buffer held and a message
 * queued: takes fail with ENODEV, a held buffer stays held (ENQUEUE gives
 * ENODEV), poll() reports EPOLLHUP, the mapping keeps its memory, and a
 * file opened after gets the driver's new queue.
 */
TEST_F(testdev, unplug)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN | POLLOUT };
	__u32 held, idx, len;
	char c = 'x';
	int fd;

	ASSERT_EQ(1, write(self->fd, "q", 1));
	ASSERT_EQ(0, bq_fetch(self->fd, &held));
	memcpy(self->mem + held * self->info.out_stride, "still", 5);
	ASSERT_EQ(0, param_write("unplug", 1));

	EXPECT_EQ(-ENODEV, bq_fetch(self->fd, &idx));
	EXPECT_EQ(-ENODEV, bq_dequeue(self->fd, &idx, &len));
	EXPECT_EQ(-ENODEV, sys_ret(read(self->fd, &c, 1)));
	EXPECT_EQ(-ENODEV, sys_ret(write(self->fd, &c, 1)));
	EXPECT_EQ(-ENODEV, bq_enqueue(self->fd, held, 5, 0));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLHUP);
	EXPECT_EQ(0, memcmp(self->mem + held * self->info.out_stride,
			    "still", 5));
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(1, self->info.out_held);
	EXPECT_EQ(0, bq_reuse(self->fd, held));

	fd = open(TESTDEV, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EAGAIN, bq_dequeue(fd, &idx, &len));	/* a new queue */
	EXPECT_EQ(0, bq_fetch(fd, &idx));
	EXPECT_EQ(0, bq_reuse(fd, idx));
	close(fd);
}

/* BATCH records after the device went away, on both of BATCH's paths. */
TEST_F(testdev, batch_after_unplug)
{
	struct bufq_batch_op ops[2][2];
	struct { struct bufq_batch_op op; __u64 pad; } wide[2];
	struct bufq_batch b;
	__u32 held[2], i;

	ASSERT_EQ(0, bq_fetch(self->fd, &held[0]));
	ASSERT_EQ(0, bq_fetch(self->fd, &held[1]));
	ASSERT_EQ(0, param_write("unplug", 1));

	/* The fast path (records of the kernel's size). */
	ops[0][0] = (struct bufq_batch_op){ .op = BUFQ_OP_ENQUEUE, .index = held[0] };
	ops[1][0] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	ops[1][1] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH };
	for (i = 0; i < 2; i++) {
		b = (struct bufq_batch){
			.size = sizeof(b), .ops = (uintptr_t)ops[i],
			.entry_len = sizeof(ops[i][0]), .count = 1,
		};
		ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
		EXPECT_EQ(0, b.out_done);
		EXPECT_EQ(ENODEV, ops[i][0].result);
	}
	/* BATCH_WAIT does not wait on it. */
	ops[1][1].result = SENT32;
	b = (struct bufq_batch){
		.size = sizeof(b), .flags = BUFQ_BATCH_WAIT,
		.ops = (uintptr_t)&ops[1][1], .entry_len = sizeof(ops[1][1]),
		.count = 1,
	};
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(ENODEV, ops[1][1].result);

	/* The record-by-record path (records larger than the kernel's). */
	memset(wide, 0, sizeof(wide));
	wide[0].op = (struct bufq_batch_op){ .op = BUFQ_OP_ENQUEUE, .index = held[1] };
	b = (struct bufq_batch){
		.size = sizeof(b), .ops = (uintptr_t)wide,
		.entry_len = sizeof(wide[0]), .count = 1,
	};
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(0, b.out_done);
	EXPECT_EQ(ENODEV, wide[0].op.result);

	/* Both buffers are still held, and REUSE still takes them. */
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(2, self->info.out_held);
	EXPECT_EQ(0, bq_reuse(self->fd, held[0]));
	EXPECT_EQ(0, bq_reuse(self->fd, held[1]));
}

/* A wait for more buffers than the queue has is a wait for all of them. */
TEST_F(testdev, batch_wait_capped)
{
	struct bufq_batch_op ops[2 * NBUF];
	struct bufq_batch b = {
		.size = sizeof(b), .flags = BUFQ_BATCH_WAIT,
		.ops = (uintptr_t)ops, .entry_len = sizeof(ops[0]),
		.count = 2 * NBUF, .wait_min = 2 * NBUF,
	};
	__u32 i;

	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(1, write(self->fd, "m", 1));
	for (i = 0; i < 2 * NBUF; i++)
		ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(NBUF, b.out_done);
	EXPECT_EQ(EAGAIN, ops[NBUF].result);
	for (i = 0; i < NBUF; i++)
		EXPECT_EQ(0, bq_reuse(self->fd, ops[i].index));
}

/* Two files of one queue: each hands in only what was taken through it. */
TEST_F(testdev, other_file_refused)
{
	__u32 mine, theirs;
	int fd = open(TESTDEV, O_RDWR);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_fetch(self->fd, &mine));
	ASSERT_EQ(0, bq_fetch(fd, &theirs));
	EXPECT_EQ(-EBADSLT, bq_reuse(fd, mine));
	EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, theirs, 1, 0));
	EXPECT_EQ(0, bq_enqueue(fd, theirs, 1, 0));
	EXPECT_EQ(0, bq_reuse(self->fd, mine));
	/* The other file's queued message is the queue's, for anyone. */
	EXPECT_EQ(0, bq_dequeue(self->fd, &theirs, NULL));
	EXPECT_EQ(0, bq_reuse(self->fd, theirs));
	close(fd);
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
	EXPECT_EQ(NBUF, self->info.out_free);
	EXPECT_EQ(0, self->info.out_reclaimed);
}

struct taker {
	int fd;
	int ret;
	__u32 index;
};

static void *blocking_dequeue(void *arg)
{
	struct taker *t = arg;

	t->ret = bq_dequeue(t->fd, &t->index, NULL);
	return NULL;
}

/*
 * One thread waits in DEQUEUE while another closes the process's only
 * descriptor: the message that then comes is not stranded with a process
 * that no longer has the file; the DEQUEUE gives it back and fails with
 * EBADF.
 */
TEST_F(testdev, take_after_last_close)
{
	struct taker t = { .fd = self->fd, .ret = 1 };
	struct bufq_info info;
	pthread_t thread;
	int keep[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(keep));
	pid = fork();		/* keeps the file open, and feeds it later */
	ASSERT_LE(0, pid);
	if (!pid) {
		char c;

		alarm(60);
		if (read(keep[0], &c, 1) != 1 || write(self->fd, "m", 1) != 1)
			_exit(1);
		usleep(200000);
		if (bq_info(self->fd, &info) || info.out_reclaimed != 1 ||
		    info.out_held || info.out_queued)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(0, pthread_create(&thread, NULL, blocking_dequeue, &t));
	usleep(200000);		/* in the wait, holder found */
	munmap(self->mem, self->info.out_mmap_size);
	self->mem = MAP_FAILED;
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(1, write(keep[1], "g", 1));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_EQ(-EBADF, t.ret);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(keep[0]);
	close(keep[1]);
}

TEST_HARNESS_MAIN
