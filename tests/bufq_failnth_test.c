// SPDX-License-Identifier: GPL-2.0
/*
 * fail-nth over every allocating call user space can make on /dev/bufq:
 * open, CONFIGURE (several shapes), FETCH, write() and BATCH that grow a
 * lookaside queue, mmap and close. For n = 1, 2, ... the n-th fault
 * injection site of the call fails (/proc/thread-self/fail-nth), until the
 * call succeeds with no fault injected. After each step: a clean errno
 * (ENOMEM), every buffer accounted for (free + queued + held == total),
 * the file still usable; kmemleak (scanned by the harness after the run)
 * finds nothing left behind.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "bufq_test.h"

#define MAX_STEPS	2000
#define GROW_MAX	8	/* lookaside cap of the growth walks */
#define BATCH_N		70	/* more than the BATCH stack chunk */

struct walk {
	const char *name;
	int nth;			/* /proc/thread-self/fail-nth */
	int fd;				/* the file under test */
	struct bufq_configure cfg;	/* for CONFIGURE walks */
	struct bufq_batch_op ops[BATCH_N];
	void *map;
	/* Set up before a step, run the call, judge it, clean up after. */
	void (*prepare)(struct __test_metadata *_metadata, struct walk *w);
	int (*call)(struct walk *w);
	void (*check)(struct __test_metadata *_metadata, struct walk *w,
		      int ret, bool hit);
	void (*cleanup)(struct walk *w);
};

/* INFO of a configured file: conserved, nothing queued, @held held. */
static void expect_held(struct __test_metadata *_metadata, int fd,
			__u32 held)
{
	struct bufq_info info;

	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_TRUE(bq_conserved(&info));
	EXPECT_EQ(held, info.out_held);
	EXPECT_EQ(0, info.out_queued);
}

/* Walk @w; return the number of steps (the last one ran clean). */
static int walk(struct __test_metadata *_metadata, struct walk *w)
{
	int n, ret;
	bool hit;

	for (n = 1; n <= MAX_STEPS; n++) {
		if (w->prepare)
			w->prepare(_metadata, w);
		ASSERT_EQ(0, fail_nth(w->nth, n));
		ret = w->call(w);
		hit = fail_nth_hit(w->nth);
		fail_nth(w->nth, 0);
		/* Clean: success. Injected: ENOMEM, or absorbed. */
		EXPECT_EQ(hit && ret ? -ENOMEM : 0, ret);
		if (w->check)
			w->check(_metadata, w, ret, hit);
		if (w->cleanup)
			w->cleanup(w);
		if (!hit)
			break;
	}
	EXPECT_GE(MAX_STEPS, n);
	TH_LOG("fail-nth %s: %d steps (%d injected failures)", w->name, n,
	       n - 1);
	return n;
}

static int open_wall(struct __test_metadata *_metadata, struct walk *w)
{
	w->nth = open("/proc/thread-self/fail-nth", O_RDWR);
	if (w->nth < 0)
		return -1;
	/* Failures below the slab layer may print a bare stack dump. */
	kernel_log("bufq-test: expect WARNING begin\n");
	return 0;
}

static void close_wall(struct walk *w)
{
	kernel_log("bufq-test: expect WARNING end\n");
	close(w->nth);
	if (w->fd >= 0)
		close(w->fd);
}

/* ---- open ---------------------------------------------------------- */

static int call_open(struct walk *w)
{
	w->fd = open(DEV, O_RDWR | O_CLOEXEC);
	return w->fd < 0 ? -errno : 0;
}

static void check_open(struct __test_metadata *_metadata, struct walk *w,
		       int ret, bool hit)
{
	struct bufq_info info;

	if (ret)
		return;
	/* A file that opened works. */
	EXPECT_EQ(-EBADFD, bq_info(w->fd, &info));
	EXPECT_EQ(0, bq_configure(w->fd, 1, 64, 0, 0, 0));
	EXPECT_EQ(3, write(w->fd, "abc", 3));
}

static void cleanup_fd(struct walk *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

TEST(walk_open)
{
	struct walk w = { .name = "open", .fd = -1, .call = call_open,
			  .check = check_open, .cleanup = cleanup_fd };

	if (open_wall(_metadata, &w))
		SKIP(return, "no fault injection (fail-nth)");
	walk(_metadata, &w);
	close_wall(&w);
}

/* ---- CONFIGURE ----------------------------------------------------- */

static void prepare_fresh(struct __test_metadata *_metadata, struct walk *w)
{
	w->fd = open(DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, w->fd);
}

static int call_configure(struct walk *w)
{
	return bq_ioctl(w->fd, BUFQ_IOCTL_CONFIGURE, &w->cfg);
}

static void check_configure(struct __test_metadata *_metadata,
			    struct walk *w, int ret, bool hit)
{
	struct bufq_info info;
	__u32 idx;

	if (ret) {
		/* Not configured, and configurable. */
		EXPECT_EQ(-EBADFD, bq_info(w->fd, &info));
		ASSERT_EQ(0, call_configure(w));
	}
	ASSERT_EQ(0, bq_info(w->fd, &info));
	EXPECT_TRUE(bq_conserved(&info));
	EXPECT_EQ(w->cfg.buffer_count, info.out_total);
	/* It works: a message goes through. */
	ASSERT_EQ(0, bq_fetch(w->fd, &idx));
	EXPECT_EQ(0, bq_enqueue(w->fd, idx, 1, 0));
	ASSERT_EQ(0, bq_dequeue(w->fd, &idx, NULL));
	EXPECT_EQ(0, bq_reuse(w->fd, idx));
	expect_held(_metadata, w->fd, 0);
}

static void configure_walk(struct __test_metadata *_metadata,
			   const char *name, __u32 count, __u32 size,
			   __u32 ctx, __u32 max, __u32 flags)
{
	struct walk w = {
		.name = name, .fd = -1,
		.cfg = { .size = sizeof(w.cfg), .flags = flags,
			 .buffer_count = count, .buffer_size = size,
			 .context_size = ctx, .max_buffers = max },
		.prepare = prepare_fresh, .call = call_configure,
		.check = check_configure, .cleanup = cleanup_fd,
	};

	if (open_wall(_metadata, &w))
		SKIP(return, "no fault injection (fail-nth)");
	walk(_metadata, &w);
	close_wall(&w);
}

TEST(walk_configure)
{
	configure_walk(_metadata, "configure 4x256", 4, 256, 0, 0, 0);
}

TEST(walk_configure_context)
{
	configure_walk(_metadata, "configure 4x5000+ctx", 4, 5000, 16, 0, 0);
}

TEST(walk_configure_lookaside_empty)
{
	configure_walk(_metadata, "configure lookaside 0..8", 0, 64, 0, 8,
		       BUFQ_CONFIGURE_LOOKASIDE);
}

TEST(walk_configure_lookaside)
{
	configure_walk(_metadata, "configure lookaside 4..16", 4, 64, 8, 16,
		       BUFQ_CONFIGURE_LOOKASIDE);
}

/*
 * Slot arrays past a page (600 slots), kvmalloc's vmalloc fallback; one
 * standing buffer keeps the walk short.
 */
/*
 * Every slot is an allocation of its own (pages in the direct map): about
 * 600 steps of 600 allocations each, slow in the debug kernel.
 */
FIXTURE(large) {
};

FIXTURE_SETUP(large)
{
}

FIXTURE_TEARDOWN(large)
{
}

TEST_F_TIMEOUT(large, walk_configure_large, 500)
{
	configure_walk(_metadata, "configure lookaside 1..600", 1, 64, 0, 600,
		       BUFQ_CONFIGURE_LOOKASIDE);
}

/* ---- growth: FETCH, write(), BATCH ------------------------------------ */

/* A lookaside queue with no standing buffer: every take grows it. */
static int open_growing(struct __test_metadata *_metadata, struct walk *w)
{
	if (open_wall(_metadata, w))
		return -1;
	w->fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (w->fd < 0)
		return -1;
	return bq_configure(w->fd, 0, 64, 0, GROW_MAX,
			    BUFQ_CONFIGURE_LOOKASIDE);
}

static int call_fetch(struct walk *w)
{
	__u32 idx;
	int ret = bq_fetch(w->fd, &idx);

	if (!ret)
		w->ops[0].index = idx;
	return ret;
}

static void check_fetch(struct __test_metadata *_metadata, struct walk *w,
			int ret, bool hit)
{
	expect_held(_metadata, w->fd, !ret);
	if (!ret)
		EXPECT_EQ(0, bq_reuse(w->fd, w->ops[0].index));
	expect_held(_metadata, w->fd, 0);
}

TEST(walk_fetch_grow)
{
	struct walk w = { .name = "FETCH with growth", .fd = -1,
			  .call = call_fetch, .check = check_fetch };

	if (open_growing(_metadata, &w))
		SKIP(return, "no fault injection or no " DEV);
	walk(_metadata, &w);
	close_wall(&w);
}

static int call_write(struct walk *w)
{
	int ret = sys_ret(write(w->fd, "grow", 4));

	return ret == 4 ? 0 : ret;
}

static void check_write(struct __test_metadata *_metadata, struct walk *w,
			int ret, bool hit)
{
	struct bufq_info info;
	char buf[8];

	ASSERT_EQ(0, bq_info(w->fd, &info));
	EXPECT_TRUE(bq_conserved(&info));
	EXPECT_EQ(!ret, info.out_queued);
	EXPECT_EQ(0, info.out_held);
	if (!ret)
		EXPECT_EQ(4, read(w->fd, buf, sizeof(buf)));
	expect_held(_metadata, w->fd, 0);
}

TEST(walk_write_grow)
{
	struct walk w = { .name = "write() with growth", .fd = -1,
			  .call = call_write, .check = check_write };

	if (open_growing(_metadata, &w))
		SKIP(return, "no fault injection or no " DEV);
	walk(_metadata, &w);
	close_wall(&w);
}

/* BATCH_N FETCH records, each growing the queue up to its cap. */
static int call_batch(struct walk *w)
{
	__u32 done;
	int i, ret;

	for (i = 0; i < BATCH_N; i++)
		w->ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_FETCH,
						    .result = SENT32 };
	ret = bq_batch(w->fd, w->ops, BATCH_N, &done);
	/* The cap stops the batch; only an injected failure stops it early. */
	if (!ret && done < GROW_MAX)
		return -(int)w->ops[done].result;
	return ret;
}

static void check_batch(struct __test_metadata *_metadata, struct walk *w,
			int ret, bool hit)
{
	struct bufq_info info;
	__u32 i, held = 0;

	for (i = 0; i < BATCH_N && w->ops[i].result != SENT32; i++) {
		if (w->ops[i].result) {
			/* Stopped here: ENOMEM, or EAGAIN at the cap. */
			EXPECT_EQ(i < GROW_MAX ? ENOMEM : EAGAIN,
				  w->ops[i].result);
			break;
		}
		held++;
	}
	for (i++; i < BATCH_N; i++)
		EXPECT_EQ(SENT32, w->ops[i].result);
	ASSERT_EQ(0, bq_info(w->fd, &info));
	EXPECT_TRUE(bq_conserved(&info));
	EXPECT_EQ(held, info.out_held);
	for (i = 0; i < held; i++)
		EXPECT_EQ(0, bq_reuse(w->fd, w->ops[i].index));
	expect_held(_metadata, w->fd, 0);
}

TEST(walk_batch_grow)
{
	struct walk w = { .name = "BATCH with growth", .fd = -1,
			  .call = call_batch, .check = check_batch };

	if (open_growing(_metadata, &w))
		SKIP(return, "no fault injection or no " DEV);
	walk(_metadata, &w);
	close_wall(&w);
}

/* ---- mmap, close ----------------------------------------------------- */

static int call_mmap(struct walk *w)
{
	w->map = mmap(NULL, 4 * sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
		      MAP_SHARED, w->fd, 0);
	return w->map == MAP_FAILED ? -errno : 0;
}

static void check_mmap(struct __test_metadata *_metadata, struct walk *w,
		       int ret, bool hit)
{
	if (ret)
		return;
	/* Touched only now: fail-nth is off again. */
	((char *)w->map)[0] = 'm';
	munmap(w->map, 4 * sysconf(_SC_PAGESIZE));
}

TEST(walk_mmap)
{
	struct walk w = { .name = "mmap", .fd = -1, .call = call_mmap,
			  .check = check_mmap };

	if (open_wall(_metadata, &w))
		SKIP(return, "no fault injection (fail-nth)");
	w.fd = open(DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, w.fd);
	ASSERT_EQ(0, bq_configure(w.fd, 4, 64, 0, 0, 0));
	walk(_metadata, &w);
	expect_held(_metadata, w.fd, 0);
	close_wall(&w);
}

/* A configured file with buffers held and queued, to be closed. */
static void prepare_busy(struct __test_metadata *_metadata, struct walk *w)
{
	__u32 idx;

	prepare_fresh(_metadata, w);
	ASSERT_EQ(0, bq_configure(w->fd, 2, 64, 0, 6,
				  BUFQ_CONFIGURE_LOOKASIDE));
	ASSERT_EQ(0, bq_fetch(w->fd, &idx));
	ASSERT_EQ(0, bq_fetch(w->fd, &idx));
	ASSERT_EQ(0, bq_fetch(w->fd, &idx));
	ASSERT_EQ(0, bq_enqueue(w->fd, idx, 1, 0));
}

static int call_close(struct walk *w)
{
	int ret = sys_ret(close(w->fd));

	w->fd = -1;
	return ret;
}

TEST(walk_close)
{
	struct walk w = { .name = "close", .fd = -1, .prepare = prepare_busy,
			  .call = call_close };

	if (open_wall(_metadata, &w))
		SKIP(return, "no fault injection (fail-nth)");
	walk(_metadata, &w);
	close_wall(&w);
}

TEST_HARNESS_MAIN
