// SPDX-License-Identifier: GPL-2.0
/*
 * Multi-process stress of /dev/bufq: several processes share one lookaside
 * queue and do random FETCH, ENQUEUE, DEQUEUE, REUSE, BATCH, read(),
 * write() and FLUSH. Every message carries its producer and a sequence
 * number, and its payload is checked on delivery. At the end the queue is
 * drained and every message must have been delivered exactly once, or
 * dropped by a FLUSH (which only counts them: they cannot be named), and
 * every buffer must be back.
 *
 * Size: BUFQ_STRESS_OPS operations in all (default 40000; a BATCH counts
 * as one), over
 * BUFQ_STRESS_PROCS processes (default 4). `make check` runs the default,
 * `make stress` a long run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "bufq_test.h"

#define ST_COUNT	8	/* standing buffers */
#define ST_MAX		16	/* lookaside cap: below what 4 processes may hold */
#define ST_SIZE		128	/* bytes per buffer */
#define ST_HDR		12	/* magic, producer, seq */
#define ST_HOLD		6	/* most buffers a process holds per list */
#define ST_BATCH	24	/* most records per BATCH */
#define ST_MAGIC	0x5eb0f00du
#define MAX_PROCS	16

enum st_op { OP_FETCH, OP_ENQUEUE, OP_DEQUEUE, OP_REUSE, OP_BATCH, OP_READ,
	     OP_WRITE, OP_FLUSH, OP_NR };

static const char *const st_names[OP_NR] = {
	"fetch", "enqueue", "dequeue", "reuse", "batch", "read", "write",
	"flush",
};

/* Shared by all processes (MAP_SHARED anonymous). */
struct st_shared {
	pthread_rwlock_t flush_lock;	/* FLUSH alone, the rest shared */
	__u64 produced[MAX_PROCS];
	__u64 flushed;
	__u64 calls[MAX_PROCS][OP_NR];
	__u64 ok[MAX_PROCS][OP_NR];
	__u64 delivered;
	__u64 bad;			/* payload or errno failures */
	char why[128];
	__u8 seen[];			/* [procs][per_proc] delivery counts */
};

struct st_proc {
	struct st_shared *sh;
	int fd, id, procs;
	__u64 per_proc;
	char *mem;
	__u32 stride;
	__u32 fetched[ST_HOLD], nf;	/* held, to be sent */
	__u32 consumed[ST_HOLD], nc;	/* held, delivered */
	unsigned int seed;
};

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

static void st_fail(struct st_proc *p, const char *what, long val)
{
	if (!__atomic_fetch_add(&p->sh->bad, 1, __ATOMIC_RELAXED))
		snprintf(p->sh->why, sizeof(p->sh->why), "proc %d: %s (%ld)",
			 p->id, what, val);
}

static __u32 st_len(__u64 seq)
{
	return ST_HDR + seq % (ST_SIZE - ST_HDR + 1);
}

/* Fill a message: header, then bytes that depend on seq. */
static void st_fill(struct st_proc *p, char *dst, __u64 seq)
{
	__u32 hdr[3] = { ST_MAGIC, p->id, (__u32)seq };
	__u32 i, len = st_len(seq);

	memcpy(dst, hdr, sizeof(hdr));
	for (i = ST_HDR; i < len; i++)
		dst[i] = (char)(seq + i);
}

/* Check a delivered message and count its delivery. */
static void st_deliver(struct st_proc *p, const char *src, __u32 len)
{
	__u32 hdr[3], i;
	__u64 seq;

	if (len < ST_HDR)
		return st_fail(p, "short message", len);
	memcpy(hdr, src, sizeof(hdr));
	seq = hdr[2];
	if (hdr[0] != ST_MAGIC || hdr[1] >= p->procs ||
	    seq >= p->per_proc || len != st_len(seq))
		return st_fail(p, "bad header", hdr[1]);
	for (i = ST_HDR; i < len; i++)
		if (src[i] != (char)(seq + i))
			return st_fail(p, "bad payload", seq);
	__atomic_fetch_add(&p->sh->seen[hdr[1] * p->per_proc + seq], 1,
			   __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->sh->delivered, 1, __ATOMIC_RELAXED);
}

static char *st_slot(struct st_proc *p, __u32 index)
{
	return p->mem + (size_t)index * p->stride;
}

/* Only EAGAIN may fail an operation: the stress hands in no bad index. */
static bool st_ret(struct st_proc *p, enum st_op op, int ret)
{
	p->sh->calls[p->id][op]++;
	if (!ret) {
		p->sh->ok[p->id][op]++;
		return true;
	}
	if (ret != -EAGAIN)
		st_fail(p, st_names[op], ret);
	return false;
}

static void st_fetch(struct st_proc *p)
{
	__u32 idx = 0;

	if (p->nf < ST_HOLD && st_ret(p, OP_FETCH, bq_fetch(p->fd, &idx)))
		p->fetched[p->nf++] = idx;
}

static void st_enqueue(struct st_proc *p)
{
	__u64 seq = p->sh->produced[p->id];
	__u32 idx, flags;

	if (!p->nf || seq >= p->per_proc)
		return;
	idx = p->fetched[p->nf - 1];
	flags = rand_r(&p->seed) % 8 ? 0 : BUFQ_ENQUEUE_AT_HEAD;
	st_fill(p, st_slot(p, idx), seq);
	if (st_ret(p, OP_ENQUEUE,
		   bq_enqueue(p->fd, idx, st_len(seq), flags))) {
		p->nf--;
		p->sh->produced[p->id]++;
	}
}

static void st_dequeue(struct st_proc *p)
{
	__u32 idx = 0, len = 0;

	if (p->nc < ST_HOLD &&
	    st_ret(p, OP_DEQUEUE, bq_dequeue(p->fd, &idx, &len))) {
		st_deliver(p, st_slot(p, idx), len);
		p->consumed[p->nc++] = idx;
	}
}

static void st_reuse(struct st_proc *p)
{
	bool fetched = p->nf && (!p->nc || rand_r(&p->seed) % 2);
	__u32 idx;

	if (!p->nf && !p->nc)
		return;
	idx = fetched ? p->fetched[--p->nf] : p->consumed[--p->nc];
	st_ret(p, OP_REUSE, bq_reuse(p->fd, idx));
}

static void st_read(struct st_proc *p)
{
	char buf[ST_SIZE];
	int ret = sys_ret(read(p->fd, buf, sizeof(buf)));

	if (st_ret(p, OP_READ, ret < 0 ? ret : 0))
		st_deliver(p, buf, ret);
}

static void st_write(struct st_proc *p)
{
	__u64 seq = p->sh->produced[p->id];
	char buf[ST_SIZE];
	int ret;

	if (seq >= p->per_proc)
		return;
	st_fill(p, buf, seq);
	ret = sys_ret(write(p->fd, buf, st_len(seq)));
	if (ret > 0 && ret != st_len(seq))
		st_fail(p, "short write", ret);
	if (st_ret(p, OP_WRITE, ret < 0 ? ret : 0))
		p->sh->produced[p->id]++;
}

/* Alone on the queue: what it drops is what was queued. */
static void st_flush(struct st_proc *p)
{
	struct bufq_info info;

	pthread_rwlock_unlock(&p->sh->flush_lock);
	pthread_rwlock_wrlock(&p->sh->flush_lock);
	if (bq_info(p->fd, &info))
		st_fail(p, "info", errno);
	if (st_ret(p, OP_FLUSH, bq_flush(p->fd)))
		p->sh->flushed += info.out_queued;
}

/* Build a batch: sends of fetched buffers, then random other records. */
static int st_batch_build(struct st_proc *p, struct bufq_batch_op *ops,
			  __u64 *seq)
{
	int n = 0, k, want = 1 + rand_r(&p->seed) % ST_BATCH;
	__u32 nf = p->nf, nc = p->nc;

	while (n < want) {
		struct bufq_batch_op *op = &ops[n];

		*op = (struct bufq_batch_op){ .result = SENT32 };
		k = rand_r(&p->seed) % 4;
		if (k == 0 && nf && *seq < p->per_proc) {
			op->op = BUFQ_OP_ENQUEUE;
			op->index = p->fetched[--nf];
			op->len = st_len(*seq);
			st_fill(p, st_slot(p, op->index), (*seq)++);
		} else if (k == 1 && nc) {
			op->op = BUFQ_OP_REUSE;
			op->index = p->consumed[--nc];
		} else if (k == 2) {
			op->op = BUFQ_OP_FETCH;
		} else {
			op->op = BUFQ_OP_DEQUEUE;
		}
		n++;
	}
	return n;
}

/* Run a batch and account for it as if its records ran one by one. */
static void st_batch(struct st_proc *p)
{
	struct bufq_batch_op ops[ST_BATCH];
	__u64 seq = p->sh->produced[p->id];
	__u32 done, i;
	int n, ret;

	n = st_batch_build(p, ops, &seq);
	ret = bq_batch(p->fd, ops, n, &done);
	if (!st_ret(p, OP_BATCH, ret) || done > n)
		return st_fail(p, "batch", ret ? ret : done);
	for (i = 0; i < done; i++) {
		switch (ops[i].op) {
		case BUFQ_OP_ENQUEUE:
			p->nf--;
			p->sh->produced[p->id]++;
			break;
		case BUFQ_OP_REUSE:
			p->nc--;
			break;
		case BUFQ_OP_FETCH:
		case BUFQ_OP_DEQUEUE:
			if (ops[i].op == BUFQ_OP_DEQUEUE)
				st_deliver(p, st_slot(p, ops[i].index),
					   ops[i].len);
			/* Anything taken is given back at once. */
			if (bq_reuse(p->fd, ops[i].index))
				st_fail(p, "batch reuse", errno);
			break;
		}
	}
	if (done < n && ops[done].result != EAGAIN)
		st_fail(p, "batch record", ops[done].result);
	for (i = done + 1; i < n; i++)
		if (ops[i].result != SENT32)
			st_fail(p, "record past the failure written", i);
}

static void st_run(struct st_proc *p, __u64 ops)
{
	static void (*const fn[OP_NR])(struct st_proc *) = {
		st_fetch, st_enqueue, st_dequeue, st_reuse, st_batch, st_read,
		st_write, st_flush,
	};
	/* Weights, out of 1000: FLUSH is rare, or little would arrive. */
	static const int weight[OP_NR] = { 180, 170, 180, 150, 80, 120, 118, 2 };
	__u64 i;
	int r, op;

	for (i = 0; i < ops && !p->sh->bad; i++) {
		r = rand_r(&p->seed) % 1000;
		for (op = 0; r >= weight[op]; op++)
			r -= weight[op];
		pthread_rwlock_rdlock(&p->sh->flush_lock);
		fn[op](p);
		pthread_rwlock_unlock(&p->sh->flush_lock);
	}
	/* Hand everything back. */
	while (p->nf || p->nc)
		st_reuse(p);
}

FIXTURE(stress) {
	int fd;
	struct st_shared *sh;
	size_t sh_size;
	int procs;
	__u64 per_proc;
};

FIXTURE_SETUP(stress)
{
	pthread_rwlockattr_t attr;

	self->procs = env_ul("BUFQ_STRESS_PROCS", 4);
	ASSERT_LT(0, self->procs);
	ASSERT_GE(MAX_PROCS, self->procs);
	self->per_proc = env_ul("BUFQ_STRESS_OPS", 40000) / self->procs;
	self->fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, DEV " missing (bufq module not loaded?)");
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, bq_configure(self->fd, ST_COUNT, ST_SIZE, 0, ST_MAX,
				  BUFQ_CONFIGURE_LOOKASIDE));
	self->sh_size = sizeof(*self->sh) + self->procs * self->per_proc;
	self->sh = mmap(NULL, self->sh_size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->sh);
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	/* A FLUSH must not starve behind the others. */
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ASSERT_EQ(0, pthread_rwlock_init(&self->sh->flush_lock, &attr));
}

FIXTURE_TEARDOWN(stress)
{
	if (self->sh && self->sh != MAP_FAILED)
		munmap(self->sh, self->sh_size);
	if (self->fd >= 0)
		close(self->fd);
}

/* After the run: drain what is queued, as deliveries. */
static void st_drain(struct st_proc *p)
{
	__u32 idx = 0, len = 0;

	while (!bq_dequeue(p->fd, &idx, &len)) {
		st_deliver(p, st_slot(p, idx), len);
		if (bq_reuse(p->fd, idx))
			st_fail(p, "drain reuse", errno);
	}
}

static void st_report(struct __test_metadata *_metadata,
		      struct st_shared *sh, int procs, double secs)
{
	__u64 calls, ok, all = 0;
	int op, i;

	for (op = 0; op < OP_NR; op++) {
		for (calls = ok = 0, i = 0; i < procs; i++) {
			calls += sh->calls[i][op];
			ok += sh->ok[i][op];
		}
		all += calls;
		TH_LOG("%-8s %9llu calls %9llu ok %9.0f/s", st_names[op],
		       (unsigned long long)calls, (unsigned long long)ok,
		       calls / secs);
	}
	TH_LOG("all      %9llu calls in %.1f s: %.0f/s", (unsigned long long)all,
	       secs, all / secs);
}

TEST_F_TIMEOUT(stress, exactly_once, 7200)
{
	struct st_proc p = { .sh = self->sh, .fd = self->fd,
			     .procs = self->procs, .per_proc = self->per_proc };
	struct timespec t0, t1;
	struct bufq_info info;
	__u64 produced = 0, i, once = 0;
	pid_t pid[MAX_PROCS];
	int k;

	ASSERT_EQ(0, bq_info(self->fd, &info));
	p.stride = info.out_stride;
	p.mem = mmap(NULL, info.out_mmap_size, PROT_READ | PROT_WRITE,
		     MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p.mem);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 0; k < self->procs; k++) {
		pid[k] = fork();
		ASSERT_LE(0, pid[k]);
		if (pid[k])
			continue;
		p.id = k;
		p.seed = getpid();
		st_run(&p, self->per_proc);
		_exit(0);
	}
	for (k = 0; k < self->procs; k++)
		EXPECT_EQ(0, wait_child(pid[k]));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st_drain(&p);
	EXPECT_EQ(0, self->sh->bad);
	if (self->sh->bad)
		TH_LOG("first failure: %s", self->sh->why);
	st_report(_metadata, self->sh, self->procs,
		  t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);

	/* Exactly once, unless flushed; nothing delivered twice. */
	for (k = 0; k < self->procs; k++) {
		produced += self->sh->produced[k];
		for (i = 0; i < self->per_proc; i++) {
			__u8 n = self->sh->seen[k * self->per_proc + i];

			if (i >= self->sh->produced[k])
				ASSERT_EQ(0, n);
			ASSERT_GE(1, n);
			once += n;
		}
	}
	TH_LOG("%llu messages: %llu delivered once, %llu flushed",
	       (unsigned long long)produced, (unsigned long long)once,
	       (unsigned long long)self->sh->flushed);
	EXPECT_EQ(self->sh->delivered, once);
	EXPECT_EQ(produced, once + self->sh->flushed);
	EXPECT_LT(0, once);

	/* Every buffer is back; lookaside shrank to its standing count. */
	ASSERT_EQ(0, bq_info(self->fd, &info));
	EXPECT_TRUE(bq_conserved(&info));
	EXPECT_EQ(0, info.out_held);
	EXPECT_EQ(0, info.out_queued);
	EXPECT_EQ(ST_COUNT, info.out_total);
	EXPECT_EQ(ST_COUNT, info.out_free);
	EXPECT_GE(ST_MAX, info.out_high_water);
	munmap(p.mem, info.out_mmap_size);
}

TEST_HARNESS_MAIN
