// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for /dev/bufq: the corners of the uapi contract (issue 13).
 * Calls refused for bad user memory take no buffer, BATCH write probes,
 * the order of the checks, sizes that cut a field, open modes, mmap flags,
 * mremap, msync, readv/writev, and a fatal signal ending a long BATCH.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/uio.h>

/* The harness compares int literals with the ABI's __u32 fields. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "bufq_test.h"

#define NBUF		4
#define BSIZE		256
#define PARAMS		"/sys/module/bufq/parameters/"

static long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

/* A page of anonymous memory holding @len bytes of @src, then @prot. */
static void *page_with(const void *src, size_t len, int prot)
{
	void *p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, src, len);
	if (mprotect(p, page_size(), prot)) {
		munmap(p, page_size());
		return NULL;
	}
	return p;
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

FIXTURE(bufq) {
	int fd;
};

FIXTURE_SETUP(bufq)
{
	self->fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, DEV " missing (bufq module not loaded?)");
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, bq_configure(self->fd, NBUF, BSIZE, 0, 0, 0));
}

FIXTURE_TEARDOWN(bufq)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* INFO: nothing held or queued, and no buffer was ever in use. */
static void expect_untouched(struct __test_metadata *_metadata, int fd,
			     __u32 queued)
{
	struct bufq_info info;

	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(NBUF - queued, info.out_free);
	EXPECT_EQ(queued, info.out_queued);
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(queued, info.out_high_water);
}

static void fill_ops(struct bufq_batch_op *ops, int n, __u32 op)
{
	for (int i = 0; i < n; i++)
		ops[i] = (struct bufq_batch_op){ .op = op, .index = SENT32,
						 .len = SENT32,
						 .result = SENT32 };
}

/*
 * A batch whose first record cannot be written takes nothing: the issue's
 * 4 buffers and 4 FETCH records in read-only memory, and the same for
 * DEQUEUE (the queue keeps its order).
 */
TEST_F(bufq, batch_first_record_readonly)
{
	struct bufq_batch_op src[NBUF], *ops;
	__u32 done, i;

	fill_ops(src, NBUF, BUFQ_OP_FETCH);
	ops = page_with(src, sizeof(src), PROT_READ);
	ASSERT_NE(NULL, ops);
	EXPECT_EQ(-EFAULT, bq_batch(self->fd, ops, NBUF, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(SENT32, ops[0].result);
	expect_untouched(_metadata, self->fd, 0);
	munmap(ops, page_size());

	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(1, write(self->fd, &"abcd"[i], 1));
	fill_ops(src, NBUF, BUFQ_OP_DEQUEUE);
	ops = page_with(src, sizeof(src), PROT_READ);
	ASSERT_NE(NULL, ops);
	EXPECT_EQ(-EFAULT, bq_batch(self->fd, ops, NBUF, &done));
	EXPECT_EQ(0, done);
	munmap(ops, page_size());
	{
		struct bufq_info info;

		ASSERT_EQ(0, bq_info(self->fd, &info));
		EXPECT_EQ(NBUF, info.out_queued);
		EXPECT_EQ(0, info.out_held);
	}
	/* Still in order. */
	for (i = 0; i < NBUF; i++) {
		char c;

		ASSERT_EQ(1, read(self->fd, &c, 1));
		EXPECT_EQ("abcd"[i], c);
	}
}

/* The same through the record-by-record path (a larger entry_len). */
TEST_F(bufq, batch_first_record_readonly_each)
{
	struct {
		struct bufq_batch_op op;
		__u64 tail;
	} src[2] = {}, *recs;
	struct bufq_batch b = { .size = sizeof(b), .entry_len = sizeof(src[0]),
				.count = 2, .out_done = SENT32 };

	src[0].op.op = BUFQ_OP_FETCH;
	src[1].op.op = BUFQ_OP_FETCH;
	recs = page_with(src, sizeof(src), PROT_READ);
	ASSERT_NE(NULL, recs);
	b.ops = (uintptr_t)recs;
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, &b));
	EXPECT_EQ(0, b.out_done);
	expect_untouched(_metadata, self->fd, 0);
	munmap(recs, page_size());
}

/*
 * While one process runs read-only FETCH batches, another that fetches and
 * reuses one buffer at a time with O_NONBLOCK never finds the queue empty.
 */
TEST_F_TIMEOUT(bufq, batch_readonly_no_eagain_for_others, 300)
{
	struct bufq_batch_op src[NBUF], *ops;
	struct bufq_info info;
	int pipefd[2], i, eagain = -1;
	__u32 done;
	pid_t pid;

	fill_ops(src, NBUF, BUFQ_OP_FETCH);
	ops = page_with(src, sizeof(src), PROT_READ);
	ASSERT_NE(NULL, ops);
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char c;
		int n = 0;
		__u32 idx;

		close(pipefd[1]);
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		alarm(240);
		/* Until the parent closes the pipe. */
		while (read(pipefd[0], &c, 1) < 0 && errno == EAGAIN) {
			int ret = bq_fetch(self->fd, &idx);

			if (ret == -EAGAIN)
				n++;
			else if (ret || bq_reuse(self->fd, idx))
				_exit(255);
		}
		_exit(n > 254 ? 254 : n);
	}
	close(pipefd[0]);
	for (i = 0; i < 3000; i++) {
		ASSERT_EQ(-EFAULT, bq_batch(self->fd, ops, NBUF, &done));
		ASSERT_EQ(0, done);
	}
	close(pipefd[1]);
	eagain = wait_child(pid);
	EXPECT_EQ(0, eagain);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(1, info.out_high_water);
	munmap(ops, page_size());
}

/*
 * ENQUEUE and REUSE records whose result cannot be written do not run:
 * out_done says so, and the buffers stay held.
 */
TEST_F(bufq, batch_give_readonly_does_not_run)
{
	struct bufq_batch_op src[2], *ops;
	struct bufq_info info;
	__u32 a, b, done;

	ASSERT_EQ(0, bq_fetch(self->fd, &a));
	ASSERT_EQ(0, bq_fetch(self->fd, &b));
	src[0] = (struct bufq_batch_op){ .op = BUFQ_OP_ENQUEUE, .index = a,
					 .len = 3 };
	src[1] = (struct bufq_batch_op){ .op = BUFQ_OP_REUSE, .index = b };
	ops = page_with(src, sizeof(src), PROT_READ);
	ASSERT_NE(NULL, ops);
	EXPECT_EQ(-EFAULT, bq_batch(self->fd, ops, 2, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(-EFAULT, bq_batch(self->fd, ops + 1, 1, &done));
	EXPECT_EQ(0, done);
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(2, info.out_held);
	EXPECT_EQ(0, info.out_queued);
	EXPECT_EQ(0, bq_enqueue(self->fd, a, 3, 0));
	EXPECT_EQ(0, bq_reuse(self->fd, b));
	munmap(ops, page_size());
}

/* A BATCH whose own struct cannot be written runs no record. */
TEST_F(bufq, batch_struct_readonly)
{
	struct bufq_batch_op ops[2];
	struct bufq_batch b = { .size = sizeof(b), .entry_len = sizeof(ops[0]),
				.count = 2, .out_done = SENT32 }, *rb;

	fill_ops(ops, 2, BUFQ_OP_FETCH);
	b.ops = (uintptr_t)ops;
	rb = page_with(&b, sizeof(b), PROT_READ);
	ASSERT_NE(NULL, rb);
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_BATCH, rb));
	EXPECT_EQ(SENT32, rb->out_done);
	EXPECT_EQ(SENT32, ops[0].result);
	EXPECT_EQ(SENT32, ops[1].result);
	expect_untouched(_metadata, self->fd, 0);
	munmap(rb, page_size());
}

/* FETCH and DEQUEUE whose reply cannot be written take nothing. */
TEST_F(bufq, reply_readonly_takes_nothing)
{
	struct bufq_fetch f = { .size = sizeof(f) }, *rf;
	struct bufq_dequeue d = { .size = sizeof(d) }, *rd;

	rf = page_with(&f, sizeof(f), PROT_READ);
	ASSERT_NE(NULL, rf);
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, rf));
	expect_untouched(_metadata, self->fd, 0);

	ASSERT_EQ(2, write(self->fd, "hi", 2));
	rd = page_with(&d, sizeof(d), PROT_READ);
	ASSERT_NE(NULL, rd);
	EXPECT_EQ(-EFAULT, bq_ioctl(self->fd, BUFQ_IOCTL_DEQUEUE, rd));
	expect_untouched(_metadata, self->fd, 1);
	munmap(rf, page_size());
	munmap(rd, page_size());
}

/* write() and writev() from memory that cannot be read take nothing. */
TEST_F(bufq, write_unreadable_takes_nothing)
{
	char *bad = page_with("", 0, PROT_NONE);
	char good[8] = "good";
	struct iovec iov[2] = {
		{ .iov_base = good, .iov_len = 4 },
		{ .iov_base = NULL, .iov_len = 4 },
	};

	ASSERT_NE(NULL, bad);
	iov[1].iov_base = bad;
	EXPECT_EQ(-EFAULT, sys_ret(write(self->fd, bad, 10)));
	EXPECT_EQ(-EFAULT, sys_ret(writev(self->fd, iov, 2)));
	expect_untouched(_metadata, self->fd, 0);
	munmap(bad, page_size());
}

/* writev() is one message of all its iovecs, readv() one message too. */
TEST_F(bufq, readv_writev_one_message)
{
	char a[3] = "abc", b[5] = "defgh", c[1] = "i", out[16];
	char o1[4], o2[4], o3[8];
	struct iovec in[3] = {
		{ a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) },
	};
	struct iovec outv[3] = {
		{ o1, sizeof(o1) }, { o2, sizeof(o2) }, { o3, sizeof(o3) },
	};
	struct iovec big[2] = {
		{ out, BSIZE }, { out, 1 },
	};
	struct bufq_info info;

	ASSERT_EQ(9, writev(self->fd, in, 3));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(1, info.out_queued);
	/* Too little room over all iovecs: EMSGSIZE, the message stays. */
	EXPECT_EQ(-EMSGSIZE, sys_ret(readv(self->fd, outv, 2)));
	memset(o3, 0, sizeof(o3));
	ASSERT_EQ(9, readv(self->fd, outv, 3));
	EXPECT_EQ(0, memcmp(o1, "abcd", 4));
	EXPECT_EQ(0, memcmp(o2, "efgh", 4));
	EXPECT_EQ('i', o3[0]);
	EXPECT_EQ(0, o3[1]);
	/* A message longer than buffer_size over all iovecs: EMSGSIZE. */
	EXPECT_EQ(-EMSGSIZE, sys_ret(writev(self->fd, big, 2)));
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_EQ(0, info.out_queued);
	EXPECT_EQ(NBUF, info.out_free);
}

/* The struct checks come before EBADFD on a file not yet configured. */
TEST(check_order_before_configure)
{
	__u32 buf[16] = {};
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	EXPECT_EQ(-EFAULT, bq_ioctl(fd, BUFQ_IOCTL_INFO, NULL));
	buf[0] = 4;		/* below the minimum */
	EXPECT_EQ(-EINVAL, bq_ioctl(fd, BUFQ_IOCTL_INFO, buf));
	buf[0] = sizeof(struct bufq_fetch) + 8;
	buf[5] = 1;		/* non-zero past the known struct */
	EXPECT_EQ(-E2BIG, bq_ioctl(fd, BUFQ_IOCTL_FETCH, buf));
	buf[5] = 0;
	buf[0] = sizeof(struct bufq_fetch) - 3;
	EXPECT_EQ(-EINVAL, bq_ioctl(fd, BUFQ_IOCTL_FETCH, buf));
	buf[0] = sizeof(struct bufq_fetch);
	EXPECT_EQ(-EBADFD, bq_ioctl(fd, BUFQ_IOCTL_FETCH, buf));
	close(fd);

	/* EBADFD also comes before the open mode (EBADF). */
	fd = open(DEV, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBADFD, bq_ioctl(fd, BUFQ_IOCTL_FETCH, buf));
	close(fd);
}

/* A size that ends inside a field is refused, for every command. */
TEST(size_cuts_no_field)
{
	struct bufq_configure c = { .flags = BUFQ_CONFIGURE_LOOKASIDE,
				    .buffer_count = 1, .buffer_size = 64,
				    .max_buffers = 2 };
	struct bufq_info info;
	struct bufq_fetch f;
	__u32 size;
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	for (size = offsetof(struct bufq_configure, max_buffers) + 1;
	     size < sizeof(c); size++) {
		c.size = size;
		EXPECT_EQ(-EINVAL, bq_ioctl(fd, BUFQ_IOCTL_CONFIGURE, &c));
	}
	/* At the end of context_size, max_buffers reads as 0: the param. */
	c.size = offsetof(struct bufq_configure, max_buffers);
	ASSERT_EQ(0, bq_ioctl(fd, BUFQ_IOCTL_CONFIGURE, &c));
	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(read_param("max_buffers"), info.out_max_buffers);

	memset(&f, 0, sizeof(f));
	for (size = offsetof(struct bufq_fetch, __reserved) + 1;
	     size < sizeof(f); size++) {
		f.size = size;
		EXPECT_EQ(-EINVAL, bq_ioctl(fd, BUFQ_IOCTL_FETCH, &f));
	}
	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(0, info.out_held);
	close(fd);
}

/* mremap(): growing fails with EFAULT, shrinking and moving work. */
TEST_F(bufq, mremap_rules)
{
	long page = page_size();
	char *p, *q;

	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED,
		 self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memcpy(p + page, "slot one", 9);
	EXPECT_EQ(MAP_FAILED, mremap(p, 2 * page, 3 * page, MREMAP_MAYMOVE));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(MAP_FAILED, mremap(p, 2 * page, 3 * page, 0));
	EXPECT_EQ(EFAULT, errno);
	/* Move it whole elsewhere: same memory. */
	q = mmap(NULL, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, q);
	p = mremap(p, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	ASSERT_EQ(q, p);
	EXPECT_STREQ("slot one", p + page);
	/* Shrink it. */
	ASSERT_EQ(p, mremap(p, 2 * page, page, 0));
	p[0] = 'x';
	munmap(p, page);
}

/* No executable mapping; msync() and fsync() succeed. */
TEST_F(bufq, mmap_exec_msync)
{
	long page = page_size();
	void *p;

	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ | PROT_EXEC,
				   MAP_SHARED, self->fd, 0));
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EACCES, sys_ret(mprotect(p, page, PROT_READ | PROT_EXEC)));
	memset(p, 1, 16);
	EXPECT_EQ(0, msync(p, page, MS_SYNC));
	EXPECT_EQ(0, msync(p, page, MS_ASYNC));
	EXPECT_EQ(0, fsync(self->fd));
	EXPECT_EQ(0, fdatasync(self->fd));
	munmap(p, page);
}

/* O_RDONLY consumes only: no FETCH, ENQUEUE or write(). */
TEST(open_rdonly_consumes_only)
{
	struct bufq_batch_op op = { .op = BUFQ_OP_FETCH, .result = SENT32 };
	struct bufq_info info;
	int fd = open(DEV, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	__u32 idx = SENT32, done;
	char c = 'x';
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_configure(fd, NBUF, BSIZE, 0, 0, 0));
	EXPECT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(-EBADF, bq_fetch(fd, &idx));
	EXPECT_EQ(-EBADF, bq_enqueue(fd, 0, 1, 0));
	EXPECT_EQ(-EBADF, sys_ret(write(fd, &c, 1)));
	EXPECT_EQ(0, bq_batch(fd, &op, 1, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(EBADF, op.result);
	/* Consuming is allowed (here: nothing to consume). */
	EXPECT_EQ(-EAGAIN, bq_dequeue(fd, &idx, NULL));
	EXPECT_EQ(-EAGAIN, sys_ret(read(fd, &c, 1)));
	EXPECT_EQ(0, bq_flush(fd));
	EXPECT_EQ(-EBADSLT, bq_reuse(fd, 0));
	op = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
	EXPECT_EQ(0, bq_batch(fd, &op, 1, &done));
	EXPECT_EQ(EAGAIN, op.result);
	p = mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_NE(MAP_FAILED, p);
	munmap(p, page_size());
	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(NBUF, info.out_free);
	EXPECT_EQ(0, info.out_high_water);
	close(fd);
}

/* O_WRONLY produces only: no DEQUEUE, read() or FLUSH; no mapping. */
TEST(open_wronly_produces_only)
{
	struct bufq_batch_op op = { .op = BUFQ_OP_DEQUEUE, .result = SENT32 };
	struct bufq_info info;
	int fd = open(DEV, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	__u32 idx, idx2, done;
	char c = 'x';

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_configure(fd, NBUF, BSIZE, 0, 0, 0));
	ASSERT_EQ(0, bq_fetch(fd, &idx));
	ASSERT_EQ(0, bq_enqueue(fd, idx, 1, 0));
	ASSERT_EQ(1, write(fd, &c, 1));
	ASSERT_EQ(0, bq_fetch(fd, &idx2));
	EXPECT_EQ(0, bq_reuse(fd, idx2));
	EXPECT_EQ(-EBADF, bq_dequeue(fd, &idx, NULL));
	EXPECT_EQ(-EBADF, sys_ret(read(fd, &c, 1)));
	EXPECT_EQ(-EBADF, bq_flush(fd));
	EXPECT_EQ(0, bq_batch(fd, &op, 1, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(EBADF, op.result);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page_size(), PROT_READ, MAP_SHARED,
				   fd, 0));
	EXPECT_EQ(EACCES, errno);
	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(2, info.out_queued);
	EXPECT_EQ(0, info.out_held);
	close(fd);
}

/*
 * SIGKILL ends a long BATCH early. The batch fetches and reuses from a
 * lookaside queue with no standing buffers, so out_grown counts the
 * FETCH records that ran.
 */
TEST_F_TIMEOUT(bufq, fatal_signal_stops_batch, 600)
{
	enum { PAIRS = 500000 };
	struct bufq_batch_op *ops;
	struct bufq_info info;
	int fd, i, status;
	pid_t pid;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_configure(fd, 0, 64, 0, 1, BUFQ_CONFIGURE_LOOKASIDE));
	ops = calloc(2 * PAIRS, sizeof(*ops));
	ASSERT_NE(NULL, ops);
	for (i = 0; i < PAIRS; i++) {
		ops[2 * i].op = BUFQ_OP_FETCH;
		ops[2 * i + 1].op = BUFQ_OP_REUSE;
		ops[2 * i + 1].index = 0;	/* the one slot of the queue */
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		bq_batch(fd, ops, 2 * PAIRS, NULL);
		_exit(0);
	}
	/* Once the batch is running, kill it. */
	do {
		ASSERT_EQ(0, bq_info(fd, &info));
	} while (!info.out_grown);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(0, bq_info(fd, &info));
	TH_LOG("%llu of %d FETCH records ran before SIGKILL took effect",
	       (unsigned long long)info.out_grown, PAIRS);
	EXPECT_GT(PAIRS, info.out_grown);
	EXPECT_TRUE(bq_conserved(&info));
	EXPECT_GE(1, info.out_total);
	free(ops);
	close(fd);
}

TEST_HARNESS_MAIN
