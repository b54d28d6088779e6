// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for a driver's queue in user space (bufq_file_attach()),
 * through the sample's two devices: /dev/bufq-capture (the kernel makes
 * frames in an hrtimer, user space may DEQUEUE, REUSE and FLUSH) and
 * /dev/bufq-playback (user space may FETCH, ENQUEUE and REUSE, a kernel
 * thread consumes). Permissions per operation, zero-copy both ways,
 * holders that die, close while the kernel keeps producing, and module
 * unload refused while a file or a mapping exists.
 *
 * Needs bufq and bufq_sample loaded (any parameters: the tests read them
 * and set frame_rate, which they restore) and devtmpfs on /dev; runs as
 * root. The last test unloads bufq_sample and loads it again, with the
 * parameters it had, from $BUFQ_SAMPLE_KO, /modules/bufq_sample.ko (make
 * check) or /lib/modules/bufq_sample.ko (make demo); with none of them it
 * is skipped.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bufq.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "bufq_test.h"
#include "../samples/bufq_sample.h"

#define CAPTURE		"/dev/bufq-capture"
#define PLAYBACK	"/dev/bufq-playback"
#define PARAMS		"/sys/module/bufq_sample/parameters/"
#define CAPTURE_SYS	"/sys/class/misc/bufq-capture/"
#define PLAYBACK_SYS	"/sys/class/misc/bufq-playback/"
#define TEST_RATE	200	/* frames/s while a capture test runs */
#define WAIT_MS		30000	/* for anything the kernel does on its own */
#define CAPTURE_OPS	(BUFQ_OPS_DEQUEUE | BUFQ_OPS_REUSE | BUFQ_OPS_FLUSH)
#define PLAYBACK_OPS	(BUFQ_OPS_FETCH | BUFQ_OPS_ENQUEUE | BUFQ_OPS_REUSE)
#define HDR		sizeof(struct bufq_sample_frame)

/* ---- helpers ----------------------------------------------------------- */

static int read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

/* A decimal (or, with @base 16, hex) counter; ~0 if it cannot be read. */
static unsigned long long read_num(const char *path, int base)
{
	char buf[64];

	if (read_text(path, buf, sizeof(buf)))
		return ~0ull;
	return strtoull(buf, NULL, base);
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -errno;
	close(fd);
	return ret;
}

static int set_rate(unsigned long rate)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lu", rate);
	return write_text(PARAMS "frame_rate", buf);
}

static void sleep_ms(int ms)
{
	usleep(ms * 1000);
}

/* Wait (at most WAIT_MS) for the counter at @path to reach @want. */
static unsigned long long wait_num(const char *path, unsigned long long want)
{
	unsigned long long v = 0;
	int i;

	for (i = 0; i < WAIT_MS / 10; i++) {
		v = read_num(path, 10);
		if (v != ~0ull && v >= want)
			break;
		sleep_ms(10);
	}
	return v;
}

/* Wait (at most WAIT_MS) until @fd's queue has @n held buffers. */
static int wait_held(int fd, unsigned int n, struct bufq_info *info)
{
	int i, ret;

	for (i = 0; i < WAIT_MS / 10; i++) {
		ret = bq_info(fd, info);
		if (ret || info->out_held == n)
			return ret;
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

/* Wait (at most WAIT_MS) until @fd's queue has at least @n queued. */
static int wait_queued(int fd, unsigned int n)
{
	struct bufq_info info;
	int i, ret;

	for (i = 0; i < WAIT_MS / 10; i++) {
		ret = bq_info(fd, &info);
		if (ret || info.out_queued >= n)
			return ret;
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

/* Dequeue a frame, waiting (at most WAIT_MS) in poll() for one. */
static int dequeue_frame(int fd, __u32 *index, __u32 *len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int i, ret;

	for (i = 0; i < 100; i++) {
		if (poll(&p, 1, WAIT_MS / 100) < 0 && errno != EINTR)
			return -errno;
		ret = bq_dequeue(fd, index, len);
		if (ret != -EAGAIN)
			return ret;
	}
	return -ETIMEDOUT;
}

/* CRC-32 of zlib and gzip, continued from @crc (0 for a new one). */
static __u32 crc32_update(__u32 crc, const unsigned char *p, size_t len)
{
	static __u32 table[256];
	size_t i;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			__u32 c = i;
			int k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	crc = ~crc;
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* A frame of @len (>= HDR) bytes with sequence number @seq, as the driver's. */
static void frame_fill(unsigned char *p, size_t len, __u64 seq)
{
	struct bufq_sample_frame f = {
		.magic = BUFQ_SAMPLE_MAGIC, .len = len, .seq = seq,
	};
	size_t i, words = (len - HDR) / 8;

	memcpy(p, &f, HDR);
	for (i = 0; i < words; i++) {
		__u64 w = bufq_sample_word(seq, i);

		memcpy(p + HDR + i * 8, &w, 8);
	}
	for (i = HDR + words * 8; i < len; i++)
		p[i] = bufq_sample_byte(seq, i);
}

/* Whether @p holds a whole frame of @len bytes: header and pattern. */
static bool frame_ok(const unsigned char *p, size_t len,
		     struct bufq_sample_frame *f)
{
	size_t i, words;

	if (len < HDR)
		return false;
	memcpy(f, p, HDR);
	if (f->magic != BUFQ_SAMPLE_MAGIC || f->len != len)
		return false;
	words = (len - HDR) / 8;
	for (i = 0; i < words; i++) {
		__u64 w;

		memcpy(&w, p + HDR + i * 8, 8);
		if (w != bufq_sample_word(f->seq, i))
			return false;
	}
	for (i = HDR + words * 8; i < len; i++)
		if (p[i] != bufq_sample_byte(f->seq, i))
			return false;
	return true;
}

static short poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	return poll(&p, 1, 0) < 0 ? -1 : p.revents;
}

/* One BATCH record of @op on index @index; its result, -1 if not run. */
static int batch_one(int fd, __u32 op, __u32 index, struct bufq_batch_op *rec,
		     __u32 *done)
{
	memset(rec, 0, sizeof(*rec));
	rec->op = op;
	rec->index = op == BUFQ_OP_FETCH || op == BUFQ_OP_DEQUEUE ? SENT32 : index;
	rec->len = op == BUFQ_OP_DEQUEUE ? SENT32 : 0;
	rec->result = SENT32;
	if (bq_batch(fd, rec, 1, done))
		return -1;
	return rec->result;
}

struct playback_counters {
	unsigned long long messages, bytes, seq_errors;
	__u32 crc;
	char last_seq[32];
};

static void playback_counters(struct playback_counters *c)
{
	c->messages = read_num(PLAYBACK_SYS "messages", 10);
	c->bytes = read_num(PLAYBACK_SYS "bytes", 10);
	c->seq_errors = read_num(PLAYBACK_SYS "seq_errors", 10);
	c->crc = read_num(PLAYBACK_SYS "crc", 16);
	if (read_text(PLAYBACK_SYS "last_seq", c->last_seq, sizeof(c->last_seq)))
		c->last_seq[0] = '\0';
}

/* bufqctl, as `make check` stages it (or $BUFQCTL); NULL if missing. */
static const char *bufqctl_path(void)
{
	const char *env = getenv("BUFQCTL");
	const char *path = env && *env ? env : "/tests/bufqctl";

	return access(path, X_OK) ? NULL : path;
}

/* Run bufqctl with @args; its output in @out. Return: its exit status. */
static int run_bufqctl(char *out, size_t size, char *const args[])
{
	size_t len = 0;
	int p[2];
	ssize_t n;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		alarm(WAIT_MS / 1000 * 2);
		execv(bufqctl_path(), args);
		_exit(127);
	}
	close(p[1]);
	while (len < size - 1 && (n = read(p[0], out + len, size - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(p[0]);
	return wait_child(pid);
}

/* ---- fixtures ---------------------------------------------------------- */

FIXTURE(capture) {
	int fd;
	struct bufq_info info;
	unsigned long long rate;	/* frame_rate to restore */
};

FIXTURE_SETUP(capture)
{
	self->fd = -1;
	self->rate = read_num(PARAMS "frame_rate", 10);
	ASSERT_NE(~0ull, self->rate) TH_LOG("bufq_sample is not loaded");
	ASSERT_EQ(0, set_rate(TEST_RATE));
	self->fd = open(CAPTURE, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
}

/*
 * In the parent, so that it runs even after a failed ASSERT; the file
 * closes with the test's process.
 */
FIXTURE_TEARDOWN_PARENT(capture)
{
	char buf[32];

	if (self->rate != ~0ull) {
		snprintf(buf, sizeof(buf), "%llu", self->rate);
		write_text(PARAMS "frame_rate", buf);
	}
}

FIXTURE(playback) {
	int fd;
	struct bufq_info info;
};

FIXTURE_SETUP(playback)
{
	self->fd = open(PLAYBACK, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, self->fd) TH_LOG("bufq_sample is not loaded");
	ASSERT_EQ(0, bq_info(self->fd, &self->info));
}

FIXTURE_TEARDOWN(playback)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* ---- what each file allows -------------------------------------------- */

/* /dev/bufq allows everything and says so. */
TEST(dev_bufq_allows_all)
{
	struct bufq_info info;
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bq_configure(fd, 2, 64, 0, 0, 0));
	memset(&info, 0xAA, sizeof(info));
	info.size = sizeof(info);
	info.flags = 0;
	ASSERT_EQ(0, bq_ioctl(fd, BUFQ_IOCTL_INFO, &info));
	EXPECT_EQ(BUFQ_OPS_ALL, info.out_ops);
	EXPECT_EQ(1, info.out_holders);	/* the opener's, nobody else's */
	EXPECT_EQ(0, info.out_reclaimed);
	close(fd);
}

TEST_F(capture, info)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bufq_info info;

	memset(&info, 0xAA, sizeof(info));
	info.size = sizeof(info);
	info.flags = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, &info));
	EXPECT_EQ(CAPTURE_OPS, info.out_ops);
	EXPECT_EQ(1, info.out_holders);	/* the opener's, nobody else's */
	EXPECT_EQ(0, info.out_config_flags);
	EXPECT_EQ(read_num(PARAMS "capture_count", 10), info.out_buffer_count);
	EXPECT_EQ(read_num(PARAMS "frame_size", 10), info.out_buffer_size);
	EXPECT_EQ(info.out_buffer_count, info.out_max_buffers);
	EXPECT_EQ(info.out_buffer_count, info.out_total);
	EXPECT_EQ(0, info.out_context_size);
	EXPECT_EQ(0, info.out_stride % page);
	EXPECT_LE(info.out_buffer_size, info.out_stride);
	EXPECT_GT(info.out_buffer_size + page, info.out_stride);
	EXPECT_EQ((__u64)info.out_max_buffers * info.out_stride,
		  info.out_mmap_size);
	EXPECT_EQ(0, info.out_grown);
}

/* Each operation the capture file does not allow: EPERM, nothing written. */
TEST_F_TIMEOUT(capture, permissions, 120)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .buffer_count = 1, .buffer_size = 64,
	};
	struct bufq_fetch f;
	struct bufq_batch_op rec;
	char buf[16] = "x";
	__u32 index, len, done;
	short ev;

	EXPECT_EQ(-EBUSY, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &cfg));

	memset(&f, 0xAA, sizeof(f));
	f.size = sizeof(f);
	f.flags = 0;
	f.__reserved = 0;
	EXPECT_EQ(-EPERM, bq_ioctl(self->fd, BUFQ_IOCTL_FETCH, &f));
	EXPECT_EQ(SENT32, f.out_index);
	EXPECT_EQ(-EPERM, bq_enqueue(self->fd, 0, 0, 0));
	EXPECT_EQ(-EPERM, bq_enqueue(self->fd, 0, 0, BUFQ_ENQUEUE_AT_HEAD));
	EXPECT_EQ(-EPERM, sys_ret(write(self->fd, buf, sizeof(buf))));

	done = SENT32;
	EXPECT_EQ(EPERM, batch_one(self->fd, BUFQ_OP_FETCH, 0, &rec, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(SENT32, rec.index);
	done = SENT32;
	EXPECT_EQ(EPERM, batch_one(self->fd, BUFQ_OP_ENQUEUE, 0, &rec, &done));
	EXPECT_EQ(0, done);

	/* Never writable: user space cannot fetch. */
	ev = poll_now(self->fd);
	ASSERT_LE(0, ev);
	EXPECT_EQ(0, ev & POLLOUT);

	/* What it allows. */
	EXPECT_EQ(0, bq_flush(self->fd));
	ASSERT_EQ(0, dequeue_frame(self->fd, &index, &len));
	EXPECT_GT(self->info.out_max_buffers, index);
	EXPECT_EQ(self->info.out_buffer_size, len);
	EXPECT_EQ(0, bq_reuse(self->fd, index));
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, index));
	ASSERT_EQ(0, wait_queued(self->fd, 1));
	done = SENT32;
	EXPECT_EQ(0, batch_one(self->fd, BUFQ_OP_DEQUEUE, 0, &rec, &done));
	EXPECT_EQ(1, done);
	EXPECT_EQ(self->info.out_buffer_size, rec.len);
	EXPECT_EQ(0, batch_one(self->fd, BUFQ_OP_REUSE, rec.index, &rec, &done));
	EXPECT_EQ(1, done);
}

/* read() is DEQUEUE, copy, REUSE: allowed, and it is the kernel's frame. */
TEST_F_TIMEOUT(capture, read_copies_a_frame, 120)
{
	size_t size = self->info.out_buffer_size;
	struct bufq_sample_frame f;
	unsigned char *buf = malloc(size);
	struct pollfd p = { .fd = self->fd, .events = POLLIN };
	ssize_t n = -1;
	int i;

	ASSERT_NE(NULL, buf);
	for (i = 0; i < 100 && n < 0; i++) {
		poll(&p, 1, WAIT_MS / 100);
		n = read(self->fd, buf, size);
		if (n < 0)
			ASSERT_EQ(EAGAIN, errno);
	}
	ASSERT_EQ(size, n);
	EXPECT_TRUE(frame_ok(buf, n, &f));
	free(buf);
}

TEST_F(playback, info)
{
	struct bufq_info info;

	memset(&info, 0xAA, sizeof(info));
	info.size = sizeof(info);
	info.flags = 0;
	ASSERT_EQ(0, bq_ioctl(self->fd, BUFQ_IOCTL_INFO, &info));
	EXPECT_EQ(PLAYBACK_OPS, info.out_ops);
	EXPECT_EQ(1, info.out_holders);	/* the opener's, nobody else's */
	EXPECT_EQ(read_num(PARAMS "playback_count", 10), info.out_buffer_count);
	EXPECT_EQ(read_num(PARAMS "playback_size", 10), info.out_buffer_size);
	EXPECT_EQ(info.out_buffer_count, info.out_total);
	EXPECT_EQ(0, info.out_context_size);
	EXPECT_EQ((__u64)info.out_max_buffers * info.out_stride,
		  info.out_mmap_size);
}

TEST_F_TIMEOUT(playback, permissions, 120)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .buffer_count = 1, .buffer_size = 64,
	};
	struct playback_counters before, after;
	struct bufq_dequeue d;
	struct bufq_batch_op rec;
	char buf[100];
	__u32 index, done;
	short ev;

	EXPECT_EQ(-EBUSY, bq_ioctl(self->fd, BUFQ_IOCTL_CONFIGURE, &cfg));

	memset(&d, 0xAA, sizeof(d));
	d.size = sizeof(d);
	d.flags = 0;
	EXPECT_EQ(-EPERM, bq_ioctl(self->fd, BUFQ_IOCTL_DEQUEUE, &d));
	EXPECT_EQ(SENT32, d.out_index);
	EXPECT_EQ(SENT32, d.out_len);
	EXPECT_EQ(-EPERM, bq_flush(self->fd));
	EXPECT_EQ(-EPERM, sys_ret(read(self->fd, buf, sizeof(buf))));
	done = SENT32;
	EXPECT_EQ(EPERM, batch_one(self->fd, BUFQ_OP_DEQUEUE, 0, &rec, &done));
	EXPECT_EQ(0, done);
	EXPECT_EQ(SENT32, rec.index);
	EXPECT_EQ(SENT32, rec.len);

	/* Never readable: user space cannot dequeue. */
	ev = poll_now(self->fd);
	ASSERT_LE(0, ev);
	EXPECT_EQ(0, ev & POLLIN);

	/* What it allows: FETCH, REUSE, ENQUEUE, and write() = both. */
	ASSERT_EQ(0, bq_fetch(self->fd, &index));
	EXPECT_EQ(0, bq_reuse(self->fd, index));
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, index));
	EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, index, 0, 0));
	done = SENT32;
	EXPECT_EQ(0, batch_one(self->fd, BUFQ_OP_FETCH, 0, &rec, &done));
	EXPECT_EQ(1, done);
	EXPECT_EQ(0, batch_one(self->fd, BUFQ_OP_REUSE, rec.index, &rec, &done));

	playback_counters(&before);
	memset(buf, 'w', sizeof(buf));
	EXPECT_EQ(sizeof(buf), write(self->fd, buf, sizeof(buf)));
	wait_num(PLAYBACK_SYS "messages", before.messages + 1);
	playback_counters(&after);
	EXPECT_EQ(before.messages + 1, after.messages);
	EXPECT_EQ(before.bytes + sizeof(buf), after.bytes);
	EXPECT_EQ(crc32_update(before.crc, (unsigned char *)buf, sizeof(buf)),
		  after.crc);
}

/* ---- zero-copy --------------------------------------------------------- */

/* Frames read in place from the mapping are the kernel's, in sequence. */
TEST_F_TIMEOUT(capture, zero_copy, 120)
{
	size_t size = self->info.out_mmap_size;
	struct bufq_sample_frame f, last;
	unsigned char *map;
	__u32 index, len;
	int i;

	map = mmap(NULL, size, PROT_READ, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, bq_flush(self->fd));
	for (i = 0; i < 3 * (int)self->info.out_buffer_count; i++) {
		ASSERT_EQ(0, dequeue_frame(self->fd, &index, &len));
		ASSERT_GT(self->info.out_max_buffers, index);
		ASSERT_EQ(self->info.out_buffer_size, len);
		ASSERT_TRUE(frame_ok(map + (size_t)index * self->info.out_stride,
				     len, &f))
			TH_LOG("frame %d (buffer %u) is not the kernel's", i, index);
		if (i) {
			ASSERT_LT(last.seq, f.seq);
			/* A gap is exactly the frames the device dropped. */
			EXPECT_EQ(f.seq - last.seq - 1, f.drops - last.drops);
		}
		last = f;
		ASSERT_EQ(0, bq_reuse(self->fd, index));
	}
	EXPECT_LE(last.drops, read_num(CAPTURE_SYS "drops", 10));
	EXPECT_LT(last.seq, read_num(CAPTURE_SYS "frames", 10));
	munmap(map, size);
}

/* What user space writes in place is what the kernel thread consumed. */
TEST_F_TIMEOUT(playback, zero_copy, 120)
{
	size_t size = self->info.out_mmap_size, bsize = self->info.out_buffer_size;
	int n = 3 * self->info.out_buffer_count + 1;
	struct playback_counters before, after;
	unsigned long long bytes = 0;
	unsigned char *map, *p;
	__u32 crc;
	__u32 index;
	size_t len;
	int i;

	ASSERT_LE(HDR, bsize);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	playback_counters(&before);
	crc = before.crc;
	for (i = 0; i < n; i++) {
		struct pollfd pfd = { .fd = self->fd, .events = POLLOUT };

		ASSERT_LE(0, poll(&pfd, 1, WAIT_MS));
		ASSERT_EQ(0, bq_fetch(self->fd, &index));
		ASSERT_GT(self->info.out_max_buffers, index);
		p = map + (size_t)index * self->info.out_stride;
		len = HDR + (i * 977u) % (bsize - HDR + 1);
		frame_fill(p, len, i);
		crc = crc32_update(crc, p, len);
		bytes += len;
		ASSERT_EQ(0, bq_enqueue(self->fd, index, len, 0));
	}
	wait_num(PLAYBACK_SYS "messages", before.messages + n);
	playback_counters(&after);
	EXPECT_EQ(before.messages + n, after.messages);
	EXPECT_EQ(before.bytes + bytes, after.bytes);
	EXPECT_EQ(crc, after.crc);
	EXPECT_EQ(before.seq_errors, after.seq_errors);
	EXPECT_EQ(n - 1, atoi(after.last_seq));

	/* The thread checks the sequence: a frame out of turn is an error. */
	ASSERT_EQ(0, bq_fetch(self->fd, &index));
	frame_fill(map + (size_t)index * self->info.out_stride, HDR, n + 5);
	ASSERT_EQ(0, bq_enqueue(self->fd, index, HDR, 0));
	wait_num(PLAYBACK_SYS "messages", after.messages + 1);
	EXPECT_EQ(after.seq_errors + 1, read_num(PLAYBACK_SYS "seq_errors", 10));
	munmap(map, size);
}

/* ---- holders ----------------------------------------------------------- */

/*
 * A child sharing the file takes @n buffers (capture: dequeues, the device
 * stopped; playback: fetches) and holds them until SIGKILL: they come back.
 */
static void holder_killed(struct __test_metadata *_metadata, int fd,
			  bool capture, unsigned int n)
{
	struct bufq_info info;
	unsigned long long reclaimed;
	__u32 idx[8], index, holders;
	int sync[2];
	pid_t pid;
	unsigned int i;

	ASSERT_GE(8, n);
	ASSERT_EQ(0, bq_info(fd, &info));
	holders = info.out_holders;
	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		for (i = 0; i < n; i++) {
			int ret = capture ? dequeue_frame(fd, &idx[i], NULL) :
					    bq_fetch(fd, &idx[i]);

			if (ret)
				_exit(1);
		}
		if (write(sync[1], idx, n * sizeof(idx[0])) < 0)
			_exit(2);
		for (;;)
			pause();
	}
	close(sync[1]);
	ASSERT_EQ(n * sizeof(idx[0]), read(sync[0], idx, sizeof(idx)));
	close(sync[0]);
	ASSERT_EQ(0, bq_info(fd, &info));
	EXPECT_EQ(n, info.out_held);
	EXPECT_EQ(holders + 1, info.out_holders);
	reclaimed = info.out_reclaimed;

	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, wait_child(pid));
	ASSERT_EQ(0, wait_held(fd, 0, &info));
	EXPECT_EQ(reclaimed + n, info.out_reclaimed);
	EXPECT_EQ(holders, info.out_holders);
	EXPECT_TRUE(bq_conserved(&info));
	for (i = 0; i < n; i++)
		EXPECT_EQ(-EBADSLT, bq_reuse(fd, idx[i]));

	/* The file goes on working. */
	if (capture) {
		ASSERT_EQ(0, set_rate(TEST_RATE));
		ASSERT_EQ(0, dequeue_frame(fd, &index, NULL));
	} else {
		ASSERT_EQ(0, bq_fetch(fd, &index));
	}
	EXPECT_EQ(0, bq_reuse(fd, index));
}

TEST_F_TIMEOUT(capture, holder_sigkill, 180)
{
	/* Queued frames for the child, then no kernel holder at all. */
	ASSERT_EQ(0, wait_queued(self->fd, 2));
	ASSERT_EQ(0, set_rate(0));
	holder_killed(_metadata, self->fd, true, 2);
}

TEST_F_TIMEOUT(playback, holder_sigkill, 180)
{
	unsigned int n = self->info.out_buffer_count;

	/* All of them, up to 8: nothing is left to fetch until they return. */
	holder_killed(_metadata, self->fd, false, n < 8 ? n : 8);
}

/* A holder's close gives its buffers back; other holders keep theirs. */
TEST_F(playback, close_gives_back)
{
	struct bufq_info info;
	__u32 mine, its;
	int fd2;

	fd2 = open(PLAYBACK, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, bq_fetch(self->fd, &mine));
	ASSERT_EQ(0, bq_fetch(fd2, &its));
	/* Held through another file: refused on this one. */
	EXPECT_EQ(-EBADSLT, bq_reuse(self->fd, its));
	EXPECT_EQ(-EBADSLT, bq_enqueue(self->fd, its, 0, 0));
	close(fd2);
	ASSERT_EQ(0, wait_held(self->fd, 1, &info));
	EXPECT_EQ(0, bq_reuse(self->fd, mine));
}

/* ---- the kernel side goes on without user space ------------------------ */

TEST_F_TIMEOUT(capture, close_while_producing, 180)
{
	struct bufq_sample_frame f;
	struct bufq_info info;
	unsigned long long frames;
	__u32 index, len;
	unsigned char *buf;
	int fd2;

	/* A second file takes a frame and closes holding it. */
	fd2 = open(CAPTURE, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, dequeue_frame(fd2, &index, &len));
	close(fd2);

	/* The device goes on making frames (queued or dropped). */
	frames = read_num(CAPTURE_SYS "frames", 10);
	ASSERT_NE(~0ull, frames);
	EXPECT_LE(frames + 20, wait_num(CAPTURE_SYS "frames", frames + 20));
	/* The held frame came back (kernel holders are brief: wait for 0). */
	ASSERT_EQ(0, wait_held(self->fd, 0, &info));
	EXPECT_TRUE(bq_conserved(&info));

	/* Reopened, the device delivers live frames again. */
	fd2 = open(CAPTURE, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, fd2);
	buf = mmap(NULL, info.out_mmap_size, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, bq_flush(fd2));
	ASSERT_EQ(0, dequeue_frame(fd2, &index, &len));
	EXPECT_TRUE(frame_ok(buf + (size_t)index * info.out_stride, len, &f));
	EXPECT_LE(frames, f.seq);
	EXPECT_EQ(0, bq_reuse(fd2, index));
	munmap(buf, info.out_mmap_size);
	close(fd2);
}

/* ---- bufqctl attached to the devices ---------------------------------- */

TEST_F_TIMEOUT(capture, bufqctl_consume, 120)
{
	char out[4096], *const info[] = {
		"bufqctl", "info", "--dev", CAPTURE, NULL,
	};
	char *const mmap_args[] = {
		"bufqctl", "consume", "--dev", CAPTURE, "--count", "20",
		"--seconds", "60", NULL,
	};
	char *const batch_args[] = {
		"bufqctl", "consume", "--dev", CAPTURE, "--count", "20",
		"--seconds", "60", "--mode", "batch", NULL,
	};

	if (!bufqctl_path())
		SKIP(return, "no bufqctl (set BUFQCTL)");
	ASSERT_EQ(0, run_bufqctl(out, sizeof(out), info)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "ops:      dequeue reuse flush\n"))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "reclaimed 0\n")) TH_LOG("%s", out);
	ASSERT_EQ(0, run_bufqctl(out, sizeof(out), mmap_args)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, ": 20 frames of ")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "mismatched 0, duplicate or out of order 0, bad 0"))
		TH_LOG("%s", out);
	ASSERT_EQ(0, run_bufqctl(out, sizeof(out), batch_args)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, ": 20 frames of ")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "mismatched 0, duplicate or out of order 0, bad 0"))
		TH_LOG("%s", out);
}

/* bufqctl produce's CRC of what it wrote in place is the kernel's. */
TEST_F_TIMEOUT(playback, bufqctl_produce, 120)
{
	struct playback_counters before, after;
	char out[4096], crc[16], want[32], *p;
	char *const mmap_args[] = {
		"bufqctl", "produce", "--dev", PLAYBACK, "--messages", "50",
		"--crc-init", crc, "--mode", "mmap", NULL,
	};
	char *const batch_args[] = {
		"bufqctl", "produce", "--dev", PLAYBACK, "--messages", "50",
		"--crc-init", crc, "--mode", "batch", NULL,
	};
	int mode;

	if (!bufqctl_path())
		SKIP(return, "no bufqctl (set BUFQCTL)");
	for (mode = 0; mode < 2; mode++) {
		char *const *args = mode ? batch_args : mmap_args;

		playback_counters(&before);
		snprintf(crc, sizeof(crc), "%08x", before.crc);
		ASSERT_EQ(0, run_bufqctl(out, sizeof(out), args)) TH_LOG("%s", out);
		p = strstr(out, "crc32 ");
		ASSERT_NE(NULL, p) TH_LOG("%s", out);
		wait_num(PLAYBACK_SYS "messages", before.messages + 50);
		playback_counters(&after);
		snprintf(want, sizeof(want), "crc32 %08x\n", after.crc);
		EXPECT_EQ(0, strncmp(p, want, strlen(want))) TH_LOG("%s", out);
		EXPECT_EQ(before.messages + 50, after.messages);
		EXPECT_EQ(before.seq_errors, after.seq_errors);
		EXPECT_STREQ("49", after.last_seq);
	}
}

/* ---- module unload: last, it reloads the module ----------------------- */

static const char *sample_ko(void)
{
	static const char *const paths[] = {
		"/modules/bufq_sample.ko", "/lib/modules/bufq_sample.ko",
	};
	const char *env = getenv("BUFQ_SAMPLE_KO");
	size_t i;

	if (env && *env)
		return access(env, R_OK) ? NULL : env;
	for (i = 0; i < ARRAY_SIZE(paths); i++)
		if (!access(paths[i], R_OK))
			return paths[i];
	return NULL;
}

/* "name=value ..." of every parameter bufq_sample has now. */
static int sample_params(char *buf, size_t size)
{
	DIR *d = opendir(PARAMS);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return -errno;
	buf[0] = '\0';
	while ((e = readdir(d))) {
		char path[320], val[64];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PARAMS "%s", e->d_name);
		if (read_text(path, val, sizeof(val)))
			continue;
		n += snprintf(buf + n, size - n, "%s%s=%s", n ? " " : "",
			      e->d_name, val);
		if (n >= size) {
			closedir(d);
			return -E2BIG;
		}
	}
	closedir(d);
	return 0;
}

static int unload(void)
{
	return sys_ret(syscall(SYS_delete_module, "bufq_sample", O_NONBLOCK));
}

static bool refused(int ret)
{
	return ret == -EWOULDBLOCK || ret == -EBUSY;
}

FIXTURE(module) {
	int unused;
};

FIXTURE_SETUP(module)
{
}

FIXTURE_TEARDOWN(module)
{
}

TEST_F_TIMEOUT(module, unload_refused_while_open_or_mapped, 180)
{
	const char *ko = sample_ko();
	size_t csize, psize;
	struct bufq_info info;
	char params[1024];
	void *cmap, *pmap;
	int cfd, pfd, kfd, ret, i;

	if (!ko)
		SKIP(return, "no bufq_sample.ko to load again (set BUFQ_SAMPLE_KO)");
	ASSERT_EQ(0, sample_params(params, sizeof(params)));
	TH_LOG("bufq_sample %s", params);
	kfd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, kfd);

	cfd = open(CAPTURE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, cfd);
	pfd = open(PLAYBACK, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, pfd);
	ret = unload();
	EXPECT_TRUE(refused(ret)) TH_LOG("delete_module with files open: %d", ret);

	/* Only mappings left. */
	ASSERT_EQ(0, bq_info(cfd, &info));
	csize = info.out_mmap_size;
	cmap = mmap(NULL, csize, PROT_READ, MAP_SHARED, cfd, 0);
	ASSERT_NE(MAP_FAILED, cmap);
	ASSERT_EQ(0, bq_info(pfd, &info));
	psize = info.out_mmap_size;
	pmap = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
	ASSERT_NE(MAP_FAILED, pmap);
	close(cfd);
	close(pfd);
	ret = unload();
	EXPECT_TRUE(refused(ret)) TH_LOG("delete_module with mappings: %d", ret);
	/* The mappings still reach the driver's memory. */
	*(unsigned char *)pmap = 1;
	EXPECT_GE(255, ((unsigned char *)cmap)[0]);
	munmap(pmap, psize);
	ret = unload();
	EXPECT_TRUE(refused(ret)) TH_LOG("delete_module with a mapping: %d", ret);
	munmap(cmap, csize);

	/* Nothing left: it goes (the last fput may still be on its way). */
	for (i = 0; i < WAIT_MS / 10; i++) {
		ret = unload();
		if (!refused(ret))
			break;
		sleep_ms(10);
	}
	ASSERT_EQ(0, ret);
	EXPECT_NE(0, access(PARAMS, F_OK));

	/* Back as it was, for whatever runs next. */
	ret = sys_ret(syscall(SYS_finit_module, kfd, params, 0));
	close(kfd);
	ASSERT_EQ(0, ret) TH_LOG("finit_module(%s, \"%s\")", ko, params);
	for (i = 0; i < WAIT_MS / 10 && access(CAPTURE, F_OK); i++)
		sleep_ms(10);
	cfd = open(CAPTURE, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, cfd);
	EXPECT_EQ(0, bq_info(cfd, &info));
	close(cfd);
}

TEST_HARNESS_MAIN
