// SPDX-License-Identifier: GPL-2.0
/*
 * bufqctl - drive /dev/bufq queues from the shell
 *
 *   bufqctl pipe [--count N] [--size S] [--messages M] [--mode rw|mmap|batch]
 *   bufqctl config --fd N --count N --size S [--context C] [--lookaside]
 *   bufqctl info [--fd N | --dev DRIVER_DEV | --count N --size S ...]
 *   bufqctl send [--fd N] MESSAGE...
 *   bufqctl recv [--fd N] [--count K]
 *   bufqctl flush [--fd N]
 *   bufqctl consume [--dev DEV] [--count N] [--seconds S] [--mode mmap|batch]
 *   bufqctl produce [--dev DEV] [--messages M] [--size S] [--mode mmap|batch]
 *   bufqctl top [--once] [--interval S]
 *   bufqctl trace NAME [--interval S] [--duration S] [--count N]
 *
 * A queue lives as long as its open file: a shell keeps one with
 * `exec 3<>/dev/bufq` and hands it to each bufqctl with --fd 3. A driver's
 * device (bufq_file_attach(), e.g. the sample's /dev/bufq-capture) is a
 * queue from the start: --dev DEV alone attaches to it.
 * See bufqctl(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <linux/bufq.h>

#include "bufq_sample.h"
#include "bufqctl.h"

/* From the VERSION file, like the module's and the packages' versions. */
#ifndef BUFQ_VERSION
#error "build bufqctl with -DBUFQ_VERSION=... (make bufqctl does)"
#endif

#define BUFQCTL_DEV	"/dev/bufq"
#define BUFQCTL_CAPTURE	"/dev/bufq-capture"
#define BUFQCTL_PLAYBACK	"/dev/bufq-playback"
#define BUFQCTL_MAX_BATCH	256

static const char *cmd_name = "bufqctl";

struct bufqctl_opts {
	const char *dev;
	bool have_dev;		/* --dev given */
	int fd;			/* -1: open dev and configure a new queue */
	bool have_count;	/* --count given */
	unsigned int count;
	bool have_size;		/* --size given */
	unsigned int size;
	unsigned int context;
	unsigned int max;
	bool lookaside;
	unsigned long long messages;
	const char *mode;
	unsigned int batch;
	int timeout;		/* ms, -1: wait forever */
	double seconds;		/* consume: 0 for no limit */
	unsigned int crc_init;	/* produce: CRC-32 to continue */
	bool raw;
	bool quiet;
	bool no_flush;		/* consume: keep the frames queued already */
};

/* Print "bufqctl: <what>: <strerror(err)>" and exit 1. */
noreturn void die_err(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bufqctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	if (err == EBADFD)
		fputs("bufqctl: configure it first: bufqctl config --fd N --count N --size S\n",
		      stderr);
	exit(1);
}

/* Print "bufqctl: <what>" and a pointer to --help, exit 2. */
noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bufqctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'bufqctl %s --help'.\n", cmd_name);
	exit(2);
}

/* A number, with an optional k/K (1024) or m/M (1048576) suffix. */
unsigned long long parse_num(const char *opt, const char *arg,
			     unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || arg[0] == '-')
		usage_error("%s: not a number: '%s'", opt, arg);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	}
	if (*end || v > max)
		usage_error("%s: invalid value '%s'", opt, arg);
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --------------------------------------------------------------------- */
/* Queue operations */

static int open_queue(const struct bufqctl_opts *o)
{
	int fd = open(o->dev, O_RDWR | O_CLOEXEC);
	int err = errno;

	if (fd >= 0)
		return fd;
	fprintf(stderr, "bufqctl: open %s: %s\n", o->dev, strerror(err));
	/* The two failures a new user meets: no module, no permission. */
	if ((err == ENOENT || err == ENODEV || err == ENXIO) &&
	    access("/sys/module/bufq", F_OK))
		fputs("bufqctl: bufq is not loaded: load it (as root) with 'modprobe bufq'\n"
		      "bufqctl: or, from a build tree, 'insmod bufq.ko'\n",
		      stderr);
	else if (err == ENOENT)
		fputs("bufqctl: the bufq module is loaded: check --dev\n", stderr);
	else if (err == EACCES || err == EPERM)
		fprintf(stderr, "bufqctl: %s is for root and group bufq: %s\n",
			o->dev, "'usermod -aG bufq USER', then log in again");
	exit(1);
}

static void configure_queue(int fd, const struct bufqctl_opts *o)
{
	struct bufq_configure c = {
		.size = sizeof(c),
		.flags = o->lookaside ? BUFQ_CONFIGURE_LOOKASIDE : 0,
		.buffer_count = o->count,
		.buffer_size = o->size,
		.context_size = o->context,
		.max_buffers = o->lookaside ? o->max : 0,
	};

	if (ioctl(fd, BUFQ_IOCTL_CONFIGURE, &c)) {
		if (errno == E2BIG)
			fputs("bufqctl: over a limit of /sys/module/bufq/parameters/\n",
			      stderr);
		die("configure (count %u, size %u)", o->count, o->size);
	}
}

static void get_info(int fd, struct bufq_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (ioctl(fd, BUFQ_IOCTL_INFO, info))
		die("info of fd %d", fd);
}

static void print_counters(const struct bufq_info *i)
{
	printf("counters: free %u, queued %u, held %u, total %u, high water %u,",
	       i->out_free, i->out_queued, i->out_held, i->out_total,
	       i->out_high_water);
	printf(" grown %llu, fetch failed %llu, holders %u, reclaimed %llu\n",
	       (unsigned long long)i->out_grown,
	       (unsigned long long)i->out_fetch_failed, i->out_holders,
	       (unsigned long long)i->out_reclaimed);
}

/* "fetch enqueue ..." for an &enum bufq_ops mask, in a static buffer. */
static const char *ops_str(unsigned int ops)
{
	static const char *const names[] = {
		"fetch", "enqueue", "dequeue", "reuse", "flush",
	};
	static char buf[64];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (ops & (1u << i))
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s",
				      n ? " " : "", names[i]);
	if ((ops & BUFQ_OPS_ALL) == BUFQ_OPS_ALL)
		snprintf(buf + n, sizeof(buf) - n, " (all)");
	else if (!n)
		snprintf(buf, sizeof(buf), "none");
	return buf;
}

static void print_info(const struct bufq_info *i)
{
	printf("config:   count %u, size %u, context %u, max %u%s\n",
	       i->out_buffer_count, i->out_buffer_size, i->out_context_size,
	       i->out_max_buffers,
	       i->out_config_flags & BUFQ_CONFIGURE_LOOKASIDE ? ", lookaside" : "");
	printf("layout:   stride %u, context at %u, mmap size %llu\n",
	       i->out_stride, i->out_context_offset,
	       (unsigned long long)i->out_mmap_size);
	printf("ops:      %s\n", ops_str(i->out_ops));
	print_counters(i);
}

/*
 * The queue to work on: --fd (or $BUFQ_FD), which must be configured
 * already; or --dev: a driver's device is a queue as soon as it is open,
 * /dev/bufq becomes a new one configured with --count/--size.
 */
static int queue_from_opts(struct bufqctl_opts *o, bool may_create)
{
	struct bufq_info info = { .size = sizeof(info) };
	int fd;

	if (o->fd >= 0) {
		get_info(o->fd, &info);
		return o->fd;
	}
	if (!may_create && !o->have_dev)
		usage_error("no queue: open one with 'exec 3<>%s' and pass --fd 3",
			    o->dev);
	fd = open_queue(o);
	if (!ioctl(fd, BUFQ_IOCTL_INFO, &info))
		return fd;
	if (errno != EBADFD)
		die("info of %s", o->dev);
	if (!may_create)
		usage_error("%s is not configured: open it with 'exec 3<>%s' and pass --fd 3",
			    o->dev, o->dev);
	configure_queue(fd, o);
	return fd;
}

/* Wait until fd is ready for events; false on timeout. */
static bool wait_ready(int fd, short events, int timeout, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, timeout);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		die("%s: poll", what);
	if (n && (p.revents & (POLLERR | POLLNVAL)))
		die_err(EBADFD, "%s: poll", what);
	return n > 0;
}

/* --------------------------------------------------------------------- */
/* pipe: a producer and a consumer process on one queue */

/*
 * Message seq: 64-bit words, the first the sequence number, word i
 * seq * golden + i; a tail shorter than a word repeats (seq + byte) & 0xff.
 */
static inline uint64_t pattern_word(unsigned long long seq, size_t i)
{
	return i ? seq * 0x9e3779b97f4a7c15ull + i : seq;
}

static void fill(unsigned char *p, size_t len, unsigned long long seq)
{
	size_t i, words = len / 8;

	for (i = 0; i < words; i++) {
		uint64_t w = pattern_word(seq, i);

		memcpy(p + i * 8, &w, 8);
	}
	for (i = words * 8; i < len; i++)
		p[i] = (seq + i) & 0xff;
}

static void check(const unsigned char *p, size_t len, size_t want,
		  unsigned long long seq)
{
	size_t i, words = len / 8;

	if (len != want) {
		fprintf(stderr, "bufqctl: consumer: message %llu: length %zu, expected %zu\n",
			seq, len, want);
		exit(1);
	}
	for (i = 0; i < words; i++) {
		uint64_t w;

		memcpy(&w, p + i * 8, 8);
		if (w != pattern_word(seq, i))
			goto bad;
	}
	for (i = words * 8; i < len; i++)
		if (p[i] != ((seq + i) & 0xff))
			goto bad;
	return;
bad:
	if (len >= 8) {
		uint64_t got;

		memcpy(&got, p, 8);
		fprintf(stderr, "bufqctl: consumer: message %llu: bad content (carries seq %llu)\n",
			seq, (unsigned long long)got);
	} else {
		fprintf(stderr, "bufqctl: consumer: message %llu: content mismatch\n",
			seq);
	}
	exit(1);
}

struct pipe_ctx {
	int fd;
	unsigned char *map;
	struct bufq_info info;
	unsigned long long messages;
	unsigned int batch;
};

static unsigned char *slot(const struct pipe_ctx *c, unsigned int index)
{
	if (index >= c->info.out_max_buffers) {
		fprintf(stderr, "bufqctl: kernel returned buffer index %u, max %u\n",
			index, c->info.out_max_buffers);
		exit(1);
	}
	return c->map + (size_t)index * c->info.out_stride;
}

static void produce_rw(const struct pipe_ctx *c)
{
	size_t size = c->info.out_buffer_size;
	unsigned char *buf = malloc(size);
	unsigned long long seq;
	ssize_t n;

	if (!buf)
		die("producer: malloc");
	for (seq = 0; seq < c->messages; seq++) {
		fill(buf, size, seq);
		n = write(c->fd, buf, size);
		if (n < 0)
			die("producer: write message %llu", seq);
		if ((size_t)n != size)
			die_err(EIO, "producer: short write of message %llu", seq);
	}
	free(buf);
}

static void consume_rw(const struct pipe_ctx *c)
{
	size_t size = c->info.out_buffer_size;
	unsigned char *buf = malloc(size);
	unsigned long long seq;
	ssize_t n;

	if (!buf)
		die("consumer: malloc");
	for (seq = 0; seq < c->messages; seq++) {
		n = read(c->fd, buf, size);
		if (n < 0)
			die("consumer: read message %llu", seq);
		check(buf, n, size, seq);
	}
	free(buf);
}

static void produce_mmap(const struct pipe_ctx *c)
{
	unsigned long long seq;

	for (seq = 0; seq < c->messages; seq++) {
		struct bufq_fetch f = { .size = sizeof(f) };
		struct bufq_enqueue e = { .size = sizeof(e) };

		if (ioctl(c->fd, BUFQ_IOCTL_FETCH, &f))
			die("producer: fetch for message %llu", seq);
		fill(slot(c, f.out_index), c->info.out_buffer_size, seq);
		e.index = f.out_index;
		e.len = c->info.out_buffer_size;
		if (ioctl(c->fd, BUFQ_IOCTL_ENQUEUE, &e))
			die("producer: enqueue message %llu", seq);
	}
}

static void consume_mmap(const struct pipe_ctx *c)
{
	unsigned long long seq;

	for (seq = 0; seq < c->messages; seq++) {
		struct bufq_dequeue d = { .size = sizeof(d) };
		struct bufq_reuse r = { .size = sizeof(r) };

		if (ioctl(c->fd, BUFQ_IOCTL_DEQUEUE, &d))
			die("consumer: dequeue message %llu", seq);
		check(slot(c, d.out_index), d.out_len, c->info.out_buffer_size,
		      seq);
		r.index = d.out_index;
		if (ioctl(c->fd, BUFQ_IOCTL_REUSE, &r))
			die("consumer: reuse message %llu", seq);
	}
}

/*
 * Run ops[0..n) as one BATCH. The first @must operations have to succeed;
 * the rest may stop at EAGAIN. With @wait_ms >= 0, the batch waits (at
 * most @wait_ms, 0: no limit) for a buffer before its first FETCH or
 * DEQUEUE (BUFQ_BATCH_WAIT). Return how many of the rest succeeded.
 */
static unsigned int run_batch_wait(int fd, struct bufq_batch_op *ops,
				   unsigned int n, unsigned int must,
				   int wait_ms, const char *who)
{
	struct bufq_batch b = {
		.size = sizeof(b),
		.flags = wait_ms >= 0 ? BUFQ_BATCH_WAIT : 0,
		.ops = (uintptr_t)ops,
		.entry_len = sizeof(*ops),
		.count = n,
		.wait_timeout_ms = wait_ms > 0 ? wait_ms : 0,
	};

	if (ioctl(fd, BUFQ_IOCTL_BATCH, &b))
		die("%s: batch", who);
	if (b.out_done < n && (b.out_done < must || ops[b.out_done].result != EAGAIN))
		die_err(ops[b.out_done].result, "%s: batch op %u (opcode %u)",
			who, b.out_done, ops[b.out_done].op);
	return b.out_done - must;
}

static unsigned int run_batch(int fd, struct bufq_batch_op *ops,
			      unsigned int n, unsigned int must,
			      const char *who)
{
	return run_batch_wait(fd, ops, n, must, -1, who);
}

/*
 * Each round is one ioctl: enqueue the buffers filled last round and fetch
 * the next ones. With none free, wait in poll() for POLLOUT.
 */
static void produce_batch(const struct pipe_ctx *c)
{
	struct bufq_batch_op ops[2 * BUFQCTL_MAX_BATCH];
	unsigned int i, n, filled = 0, want, got;
	unsigned int held[BUFQCTL_MAX_BATCH];
	unsigned long long queued = 0;

	while (queued < c->messages) {
		memset(ops, 0, sizeof(ops));
		n = 0;
		for (i = 0; i < filled; i++, n++) {
			ops[n].op = BUFQ_OP_ENQUEUE;
			ops[n].index = held[i];
			ops[n].len = c->info.out_buffer_size;
		}
		want = c->batch;
		if (c->messages - queued - filled < want)
			want = c->messages - queued - filled;
		for (i = 0; i < want; i++, n++)
			ops[n].op = BUFQ_OP_FETCH;
		got = run_batch(c->fd, ops, n, filled, "producer");
		queued += filled;
		for (i = 0; i < got; i++) {
			held[i] = ops[filled + i].index;
			fill(slot(c, held[i]), c->info.out_buffer_size,
			     queued + i);
		}
		filled = got;
		if (!got && want)
			wait_ready(c->fd, POLLOUT, -1, "producer");
	}
}

/* Each round: reuse last round's buffers and dequeue the next ones. */
static void consume_batch(const struct pipe_ctx *c)
{
	struct bufq_batch_op ops[2 * BUFQCTL_MAX_BATCH];
	unsigned int i, n, held = 0, want, got;
	unsigned int idx[BUFQCTL_MAX_BATCH];
	unsigned long long received = 0;

	while (received < c->messages || held) {
		memset(ops, 0, sizeof(ops));
		n = 0;
		for (i = 0; i < held; i++, n++) {
			ops[n].op = BUFQ_OP_REUSE;
			ops[n].index = idx[i];
		}
		want = c->batch;
		if (c->messages - received < want)
			want = c->messages - received;
		for (i = 0; i < want; i++, n++)
			ops[n].op = BUFQ_OP_DEQUEUE;
		got = run_batch(c->fd, ops, n, held, "consumer");
		for (i = 0; i < got; i++) {
			const struct bufq_batch_op *op = &ops[held + i];

			idx[i] = op->index;
			check(slot(c, op->index), op->len,
			      c->info.out_buffer_size, received + i);
		}
		received += got;
		held = got;
		if (!got && want)
			wait_ready(c->fd, POLLIN, -1, "consumer");
	}
}

static pid_t spawn(const struct pipe_ctx *c, void (*fn)(const struct pipe_ctx *))
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		fn(c);
		_exit(0);
	}
	return pid;
}

/* Reap both children; if one fails, stop the other. */
static bool reap(pid_t prod, pid_t cons)
{
	bool ok = true;
	int left = 2;

	while (left) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0) {
			if (errno == EINTR)
				continue;
			die("waitpid");
		}
		if (pid != prod && pid != cons)
			continue;
		left--;
		if (WIFEXITED(status) && !WEXITSTATUS(status))
			continue;
		if (ok)
			fprintf(stderr, "bufqctl: %s %s\n",
				pid == prod ? "producer" : "consumer",
				WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "failed");
		ok = false;
		kill(pid == prod ? cons : prod, SIGTERM);
	}
	return ok;
}

static int cmd_pipe(struct bufqctl_opts *o)
{
	void (*produce)(const struct pipe_ctx *c);
	void (*consume)(const struct pipe_ctx *c);
	struct pipe_ctx c = { .messages = o->messages };
	double t, mb;
	pid_t prod, cons;
	bool ok;

	if (!o->mode)
		o->mode = "rw";
	if (!strcmp(o->mode, "rw")) {
		produce = produce_rw;
		consume = consume_rw;
	} else if (!strcmp(o->mode, "mmap")) {
		produce = produce_mmap;
		consume = consume_mmap;
	} else if (!strcmp(o->mode, "batch")) {
		produce = produce_batch;
		consume = consume_batch;
	} else {
		usage_error("--mode: '%s' is not rw, mmap or batch", o->mode);
	}
	if (o->fd >= 0)
		usage_error("pipe makes its own queue: no --fd");

	c.fd = queue_from_opts(o, true);
	get_info(c.fd, &c.info);
	c.batch = o->batch ? o->batch : (c.info.out_buffer_count + 1) / 2;
	if (c.batch > BUFQCTL_MAX_BATCH)
		c.batch = BUFQCTL_MAX_BATCH;
	if (!c.batch)
		c.batch = 1;
	if (strcmp(o->mode, "rw")) {
		c.map = mmap(NULL, c.info.out_mmap_size, PROT_READ | PROT_WRITE,
			     MAP_SHARED, c.fd, 0);
		if (c.map == MAP_FAILED)
			die("mmap %llu bytes",
			    (unsigned long long)c.info.out_mmap_size);
	}

	t = now();
	cons = spawn(&c, consume);
	prod = spawn(&c, produce);
	ok = reap(prod, cons);
	t = now() - t;

	mb = (double)o->messages * c.info.out_buffer_size / 1e6;
	printf("pipe %-5s %3u x %6u B: %llu messages in %.3f s: %.0f msg/s, %.2f MB/s%s\n",
	       o->mode, c.info.out_buffer_count, c.info.out_buffer_size,
	       o->messages, t, t > 0 ? o->messages / t : 0.0, t > 0 ? mb / t : 0.0,
	       ok ? "" : " (FAILED)");
	get_info(c.fd, &c.info);
	if (!o->quiet) {
		printf("  ");
		print_counters(&c.info);
	}
	if (ok && (c.info.out_queued || c.info.out_held ||
		   c.info.out_free != c.info.out_total)) {
		fprintf(stderr, "bufqctl: queue not idle after the run\n");
		ok = false;
	}
	return ok ? 0 : 1;
}

/* --------------------------------------------------------------------- */
/* consume and produce: a driver's queue, frames of samples/bufq_sample.h */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* CRC-32 of zlib and gzip, continued from @crc (0 for a new one). */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t len)
{
	static uint32_t table[256];
	size_t i;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			uint32_t c = i;
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

/* A frame of @len bytes: header (if it fits), then the pattern of @seq. */
static void frame_fill(unsigned char *p, size_t len, uint64_t seq)
{
	size_t hdr = sizeof(struct bufq_sample_frame), i, words;
	struct bufq_sample_frame f = {
		.magic = BUFQ_SAMPLE_MAGIC, .len = len, .seq = seq,
		.timestamp_ns = now_ns(),
	};

	if (len < hdr) {
		for (i = 0; i < len; i++)
			p[i] = bufq_sample_byte(seq, i);
		return;
	}
	memcpy(p, &f, hdr);
	words = (len - hdr) / 8;
	for (i = 0; i < words; i++) {
		uint64_t w = bufq_sample_word(seq, i);

		memcpy(p + hdr + i * 8, &w, 8);
	}
	for (i = hdr + words * 8; i < len; i++)
		p[i] = bufq_sample_byte(seq, i);
}

/* Whether the @len bytes after the header of frame @seq hold its pattern. */
static bool frame_pattern_ok(const unsigned char *p, size_t len, uint64_t seq)
{
	size_t hdr = sizeof(struct bufq_sample_frame), i, words;

	words = (len - hdr) / 8;
	for (i = 0; i < words; i++) {
		uint64_t w;

		memcpy(&w, p + hdr + i * 8, 8);
		if (w != bufq_sample_word(seq, i))
			return false;
	}
	for (i = hdr + words * 8; i < len; i++)
		if (p[i] != bufq_sample_byte(seq, i))
			return false;
	return true;
}

struct consume_ctx {
	int fd;
	unsigned char *map;
	struct bufq_info info;
	bool first_seen;
	struct bufq_sample_frame first, last;
	uint64_t first_ns, last_ns;	/* when they were seen */
	unsigned long long frames;	/* taken */
	unsigned long long gaps;	/* sequence numbers skipped */
	unsigned long long mismatch;	/* gaps not matching the drop count */
	unsigned long long disorder;	/* duplicates and out of order */
	unsigned long long bad;		/* bad header, length or pattern */
	uint64_t *lat;			/* latency of each frame, ns */
	size_t nlat, cap;
};

static const unsigned char *consume_slot(const struct consume_ctx *c,
					 unsigned int index)
{
	if (index >= c->info.out_max_buffers) {
		fprintf(stderr, "bufqctl: kernel returned buffer index %u, max %u\n",
			index, c->info.out_max_buffers);
		exit(1);
	}
	return c->map + (size_t)index * c->info.out_stride;
}

/* Check a frame read in place, seen by user space at @seen (ns). */
static void consume_frame(struct consume_ctx *c, unsigned int index,
			  unsigned int len, uint64_t seen)
{
	const unsigned char *p = consume_slot(c, index);
	struct bufq_sample_frame f;

	c->frames++;
	if (len < sizeof(f) || len > c->info.out_buffer_size) {
		c->bad++;
		return;
	}
	memcpy(&f, p, sizeof(f));
	if (f.magic != BUFQ_SAMPLE_MAGIC || f.len != len ||
	    !frame_pattern_ok(p, len, f.seq)) {
		if (c->bad++ < 5)
			fprintf(stderr, "bufqctl: consume: bad frame in buffer %u %s\n",
				index, "(header, length or pattern)");
		return;
	}
	if (c->nlat == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 4096;
		c->lat = realloc(c->lat, c->cap * sizeof(*c->lat));
		if (!c->lat)
			die("malloc");
	}
	c->lat[c->nlat++] = seen > f.timestamp_ns ? seen - f.timestamp_ns : 0;
	c->last_ns = seen;
	if (!c->first_seen) {
		c->first_seen = true;
		c->first_ns = seen;
		c->first = f;
		c->last = f;
		return;
	}
	if (f.seq <= c->last.seq) {
		if (c->disorder++ < 5)
			fprintf(stderr, "bufqctl: consume: frame %llu after frame %llu\n",
				(unsigned long long)f.seq,
				(unsigned long long)c->last.seq);
		return;
	}
	c->gaps += f.seq - c->last.seq - 1;
	if (f.seq - c->last.seq - 1 != f.drops - c->last.drops &&
	    c->mismatch++ < 5)
		fprintf(stderr, "bufqctl: consume: frame %llu: %llu %s %llu\n",
			(unsigned long long)f.seq,
			(unsigned long long)(f.seq - c->last.seq - 1),
			"frames missing before it, the device dropped",
			(unsigned long long)(f.drops - c->last.drops));
	c->last = f;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nanoseconds as "12.3 us" or "4.56 ms", in a static buffer of @slot. */
static const char *fmt_ns(uint64_t ns, int slot)
{
	static char buf[3][32];

	if (ns < 1000000)
		snprintf(buf[slot], sizeof(buf[slot]), "%.1f us", ns / 1e3);
	else
		snprintf(buf[slot], sizeof(buf[slot]), "%.2f ms", ns / 1e6);
	return buf[slot];
}

/* Milliseconds left until @deadline (ns, 0: none), -1 for no limit. */
static int ms_left(uint64_t deadline)
{
	uint64_t t;

	if (!deadline)
		return -1;
	t = now_ns();
	return t >= deadline ? 0 : (int)((deadline - t + 999999) / 1000000);
}

static void consume_mmap_loop(struct consume_ctx *c, unsigned long long want,
			      uint64_t deadline)
{
	while (!want || c->frames < want) {
		struct bufq_dequeue d = { .size = sizeof(d) };
		struct bufq_reuse r = { .size = sizeof(r) };
		int left = ms_left(deadline);

		if (!left || !wait_ready(c->fd, POLLIN, left, "consume"))
			break;
		if (ioctl(c->fd, BUFQ_IOCTL_DEQUEUE, &d)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			die("consume: dequeue");
		}
		consume_frame(c, d.out_index, d.out_len, now_ns());
		r.index = d.out_index;
		if (ioctl(c->fd, BUFQ_IOCTL_REUSE, &r))
			die("consume: reuse of buffer %u", r.index);
	}
}

/* Each round one BATCH: give back last round's frames, take the next. */
static void consume_batch_loop(struct consume_ctx *c, unsigned int batch,
			       unsigned long long want, uint64_t deadline)
{
	struct bufq_batch_op ops[2 * BUFQCTL_MAX_BATCH];
	unsigned int idx[BUFQCTL_MAX_BATCH];
	unsigned int i, n, held = 0, got, take;
	uint64_t seen;

	for (;;) {
		take = batch;
		if (want && want - c->frames < take)
			take = want - c->frames;
		if (!ms_left(deadline))
			take = 0;
		if (!take && !held)
			break;
		memset(ops, 0, sizeof(ops));
		n = 0;
		for (i = 0; i < held; i++, n++) {
			ops[n].op = BUFQ_OP_REUSE;
			ops[n].index = idx[i];
		}
		for (i = 0; i < take; i++, n++)
			ops[n].op = BUFQ_OP_DEQUEUE;
		/* Waits in the call for a frame, at most until the deadline. */
		got = run_batch_wait(c->fd, ops, n, held,
				     take ? (deadline ? ms_left(deadline) : 0) : -1,
				     "consume");
		seen = now_ns();
		for (i = 0; i < got; i++) {
			idx[i] = ops[held + i].index;
			consume_frame(c, idx[i], ops[held + i].len, seen);
		}
		held = got;
	}
}

/*
 * Take frames from a capture device (samples/bufq_sample.h), read them in
 * place from the mapping, check each and its sequence, measure latency.
 */
static int cmd_consume(struct bufqctl_opts *o)
{
	struct consume_ctx c = { 0 };
	struct bufq_flush fl = { .size = sizeof(fl) };
	unsigned long long want = o->have_count ? o->count : 0;
	uint64_t start, deadline = 0, p50 = 0, p99 = 0, max = 0;
	unsigned int batch;
	double t, span;
	bool ok;

	if (!o->have_dev) {
		o->dev = BUFQCTL_CAPTURE;
		o->have_dev = true;
	}
	if (!o->mode)
		o->mode = "mmap";
	if (strcmp(o->mode, "mmap") && strcmp(o->mode, "batch"))
		usage_error("--mode: '%s' is not mmap or batch", o->mode);
	if (!want && !o->seconds)
		usage_error("consume needs --count N or --seconds S");
	c.fd = queue_from_opts(o, false);
	get_info(c.fd, &c.info);
	c.map = mmap(NULL, c.info.out_mmap_size, PROT_READ, MAP_SHARED, c.fd, 0);
	if (c.map == MAP_FAILED)
		die("mmap %llu bytes of %s",
		    (unsigned long long)c.info.out_mmap_size, o->dev);
	batch = o->batch ? o->batch : (c.info.out_buffer_count + 1) / 2;
	if (!batch)
		batch = 1;
	/* Frames queued while nobody read are stale: start from live ones. */
	if (!o->no_flush && (c.info.out_ops & BUFQ_OPS_FLUSH) &&
	    ioctl(c.fd, BUFQ_IOCTL_FLUSH, &fl))
		die("consume: flush");

	start = now_ns();
	if (o->seconds)
		deadline = start + (uint64_t)(o->seconds * 1e9);
	if (!strcmp(o->mode, "mmap"))
		consume_mmap_loop(&c, want, deadline);
	else
		consume_batch_loop(&c, batch, want, deadline);
	t = (now_ns() - start) / 1e9;
	munmap(c.map, c.info.out_mmap_size);

	if (c.nlat) {
		qsort(c.lat, c.nlat, sizeof(*c.lat), cmp_u64);
		p50 = c.lat[(c.nlat - 1) / 2];
		p99 = c.lat[(c.nlat - 1) * 99 / 100];
		max = c.lat[c.nlat - 1];
	}
	/* The rate between the first frame and the last, idle time apart. */
	span = (c.last_ns - c.first_ns) / 1e9;
	printf("consume %s (%s): %llu frames of %u B in %.3f s: %.1f frames/s\n",
	       o->dev, o->mode, c.frames, c.info.out_buffer_size, t,
	       c.frames > 1 && span > 0 ? (c.frames - 1) / span : 0.0);
	printf("  sequence %llu..%llu: gaps %llu, device drops %llu, mismatched %llu,",
	       (unsigned long long)c.first.seq, (unsigned long long)c.last.seq,
	       c.gaps, (unsigned long long)(c.last.drops - c.first.drops),
	       c.mismatch);
	printf(" duplicate or out of order %llu, bad %llu\n", c.disorder, c.bad);
	printf("  latency (device timestamp to user space): p50 %s, p99 %s, max %s\n",
	       fmt_ns(p50, 0), fmt_ns(p99, 1), fmt_ns(max, 2));
	free(c.lat);
	if (!o->quiet) {
		get_info(c.fd, &c.info);
		printf("  ");
		print_counters(&c.info);
	}
	ok = c.frames && !c.mismatch && !c.disorder && !c.bad &&
	     (!want || c.frames == want);
	if (want && c.frames < want)
		fprintf(stderr, "bufqctl: consume: %llu of %llu frames before the time limit\n",
			c.frames, want);
	else if (!c.frames)
		fprintf(stderr, "bufqctl: consume: no frame (is the device's frame_rate 0?)\n");
	return ok ? 0 : 1;
}

struct produce_ctx {
	int fd;
	unsigned char *map;
	struct bufq_info info;
	unsigned int len;
	uint32_t crc;
};

static void produce_fill(struct produce_ctx *c, unsigned int index,
			 unsigned long long seq)
{
	unsigned char *p;

	if (index >= c->info.out_max_buffers) {
		fprintf(stderr, "bufqctl: kernel returned buffer index %u, max %u\n",
			index, c->info.out_max_buffers);
		exit(1);
	}
	p = c->map + (size_t)index * c->info.out_stride;
	frame_fill(p, c->len, seq);
	/* What the kernel will read: the mapping, as filled. */
	c->crc = crc32_update(c->crc, p, c->len);
}

static void produce_mmap_loop(struct produce_ctx *c, unsigned long long n)
{
	unsigned long long seq;

	for (seq = 0; seq < n; seq++) {
		struct bufq_fetch f = { .size = sizeof(f) };
		struct bufq_enqueue e = { .size = sizeof(e) };

		if (ioctl(c->fd, BUFQ_IOCTL_FETCH, &f))
			die("produce: fetch for message %llu", seq);
		produce_fill(c, f.out_index, seq);
		e.index = f.out_index;
		e.len = c->len;
		if (ioctl(c->fd, BUFQ_IOCTL_ENQUEUE, &e))
			die("produce: enqueue message %llu", seq);
	}
}

/* Each round one BATCH: queue last round's buffers, fetch the next. */
static void produce_batch_loop(struct produce_ctx *c, unsigned int batch,
			       unsigned long long n)
{
	struct bufq_batch_op ops[2 * BUFQCTL_MAX_BATCH];
	unsigned int held[BUFQCTL_MAX_BATCH];
	unsigned int i, k, filled = 0, want, got;
	unsigned long long queued = 0;

	while (queued < n) {
		memset(ops, 0, sizeof(ops));
		k = 0;
		for (i = 0; i < filled; i++, k++) {
			ops[k].op = BUFQ_OP_ENQUEUE;
			ops[k].index = held[i];
			ops[k].len = c->len;
		}
		want = batch;
		if (n - queued - filled < want)
			want = n - queued - filled;
		for (i = 0; i < want; i++, k++)
			ops[k].op = BUFQ_OP_FETCH;
		got = run_batch(c->fd, ops, k, filled, "produce");
		queued += filled;
		for (i = 0; i < got; i++) {
			held[i] = ops[filled + i].index;
			produce_fill(c, held[i], queued + i);
		}
		filled = got;
		if (!got && want)
			wait_ready(c->fd, POLLOUT, -1, "produce");
	}
}

/*
 * Fill buffers of a playback device in place (frames of
 * samples/bufq_sample.h) and queue them; print the CRC-32 of all the bytes
 * queued, which the driver's own must match.
 */
static int cmd_produce(struct bufqctl_opts *o)
{
	struct produce_ctx c = { .crc = o->crc_init };
	unsigned int batch;
	uint64_t start;
	double t;

	if (!o->have_dev) {
		o->dev = BUFQCTL_PLAYBACK;
		o->have_dev = true;
	}
	if (!o->mode)
		o->mode = "mmap";
	if (strcmp(o->mode, "mmap") && strcmp(o->mode, "batch"))
		usage_error("--mode: '%s' is not mmap or batch", o->mode);
	c.fd = queue_from_opts(o, false);
	get_info(c.fd, &c.info);
	c.len = o->have_size ? o->size : c.info.out_buffer_size;
	if (!c.len || c.len > c.info.out_buffer_size)
		usage_error("--size: %u is not 1 to the buffer size, %u", c.len,
			    c.info.out_buffer_size);
	c.map = mmap(NULL, c.info.out_mmap_size, PROT_READ | PROT_WRITE,
		     MAP_SHARED, c.fd, 0);
	if (c.map == MAP_FAILED)
		die("mmap %llu bytes of %s",
		    (unsigned long long)c.info.out_mmap_size, o->dev);
	batch = o->batch ? o->batch : (c.info.out_buffer_count + 1) / 2;
	if (!batch)
		batch = 1;

	start = now_ns();
	if (!strcmp(o->mode, "mmap"))
		produce_mmap_loop(&c, o->messages);
	else
		produce_batch_loop(&c, batch, o->messages);
	t = (now_ns() - start) / 1e9;
	munmap(c.map, c.info.out_mmap_size);

	printf("produce %s (%s): %llu messages of %u B in %.3f s: %.0f msg/s, %.2f MB/s\n",
	       o->dev, o->mode, o->messages, c.len, t,
	       t > 0 ? o->messages / t : 0.0,
	       t > 0 ? (double)o->messages * c.len / 1e6 / t : 0.0);
	printf("  crc32 %08x\n", c.crc);
	if (!o->quiet) {
		get_info(c.fd, &c.info);
		printf("  ");
		print_counters(&c.info);
	}
	return 0;
}

/* --------------------------------------------------------------------- */
/* the other commands */

static int cmd_config(struct bufqctl_opts *o)
{
	struct bufq_info info;

	if (o->fd < 0)
		usage_error("config needs --fd N (a shell's 'exec 3<>%s')", o->dev);
	if (!o->have_count && !o->lookaside)
		usage_error("config needs --count N");
	configure_queue(o->fd, o);
	if (!o->quiet) {
		get_info(o->fd, &info);
		print_info(&info);
	}
	return 0;
}

static int cmd_info(struct bufqctl_opts *o)
{
	struct bufq_info info;
	int fd = queue_from_opts(o, true);

	get_info(fd, &info);
	print_info(&info);
	return 0;
}

static int cmd_flush(struct bufqctl_opts *o)
{
	struct bufq_flush f = { .size = sizeof(f) };
	int fd = queue_from_opts(o, false);

	if (ioctl(fd, BUFQ_IOCTL_FLUSH, &f))
		die("flush");
	return 0;
}

static void send_one(int fd, const char *msg, size_t len, int timeout)
{
	ssize_t n;

	if (timeout >= 0 && !wait_ready(fd, POLLOUT, timeout, "send"))
		die_err(ETIMEDOUT, "send: no free buffer");
	n = write(fd, msg, len);
	if (n < 0)
		die("send: write of %zu bytes", len);
}

static int cmd_send(struct bufqctl_opts *o, int argc, char **argv)
{
	int fd = queue_from_opts(o, false);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int i;

	for (i = 0; i < argc; i++)
		send_one(fd, argv[i], strlen(argv[i]), o->timeout);
	if (argc)
		return 0;
	/* No arguments: one message per line of standard input. */
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		send_one(fd, line, len, o->timeout);
	}
	free(line);
	return 0;
}

static void print_message(const unsigned char *p, size_t len, bool raw)
{
	size_t i;

	if (raw) {
		fwrite(p, 1, len, stdout);
		return;
	}
	for (i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('\n');
}

/*
 * Without --count, take what is queued now and return; with it, wait for
 * that many messages (each at most --timeout ms).
 */
static int cmd_recv(struct bufqctl_opts *o)
{
	int fd = queue_from_opts(o, false);
	unsigned long long got = 0;
	struct bufq_info info;
	unsigned char *buf;
	ssize_t n;

	get_info(fd, &info);
	buf = malloc(info.out_buffer_size ? info.out_buffer_size : 1);
	if (!buf)
		die("malloc");
	while (!o->have_count || got < o->count) {
		int timeout = o->have_count ? o->timeout : 0;

		if (timeout >= 0 && !wait_ready(fd, POLLIN, timeout, "recv")) {
			if (!o->have_count)
				break;
			die_err(ETIMEDOUT, "recv: message %llu of %u", got + 1,
				o->count);
		}
		n = read(fd, buf, info.out_buffer_size);
		if (n < 0)
			die("recv: read");
		print_message(buf, n, o->raw);
		got++;
	}
	free(buf);
	return 0;
}

/* --------------------------------------------------------------------- */
/* command line */

struct bufqctl_cmd {
	const char *name;
	const char *usage;
	const char *help;
	int (*run)(int argc, char **argv);	/* parses its own options */
};

static const struct bufqctl_cmd cmds[] = {
	{ "pipe",
	  "pipe [--count N] [--size S] [--messages M] [--mode rw|mmap|batch]\n"
	  "            [--batch B] [--context C] [--lookaside [--max N]] [--quiet]",
	  "Create a queue, fork a producer and a consumer sharing it, move M\n"
	  "messages of S bytes (each carries its sequence number and a pattern the\n"
	  "consumer checks), print messages/s and MB/s and the final counters.\n"
	  "  rw     write() and read() of whole messages\n"
	  "  mmap   FETCH/ENQUEUE and DEQUEUE/REUSE ioctls, data in the mapping\n"
	  "  batch  one BATCH ioctl per round (up to B buffers), data in the mapping\n"
	  "Defaults: --count 16 --size 4096 --messages 10000 --mode rw, B = count/2.\n" },
	{ "config",
	  "config --fd N --count N --size S [--context C] [--lookaside [--max N]]",
	  "Configure the queue open on fd N (e.g. after 'exec 3<>/dev/bufq') and\n"
	  "print its layout (not with --quiet).\n" },
	{ "info",
	  "info [--fd N | --dev DEV | --count N --size S [--context C] [--lookaside [--max N]]]",
	  "Print the configuration, memory layout, allowed operations and\n"
	  "counters of the queue on fd N, of a driver's device DEV (such as\n"
	  "/dev/bufq-capture), or of a /dev/bufq queue made for the purpose.\n" },
	{ "send",
	  "send [--fd N] [--timeout MS] [MESSAGE...]",
	  "Queue each MESSAGE as one message (a write()); with none, each line of\n"
	  "standard input. Waits for a free buffer (at most MS ms with --timeout).\n" },
	{ "recv",
	  "recv [--fd N] [--count K] [--timeout MS] [--raw]",
	  "Take messages (a read() each) and print them one a line, non-printable\n"
	  "bytes as \\xNN (as they are with --raw). Without --count, take those\n"
	  "queued now; with it, wait for K (each at most MS ms with --timeout).\n" },
	{ "flush",
	  "flush [--fd N]",
	  "Give every queued message back to the free list, unread.\n" },
	{ "consume",
	  "consume [--dev DEV] [--fd N] [--count N] [--seconds S] [--mode mmap|batch]\n"
	  "            [--batch B] [--no-flush] [--quiet]",
	  "Attach to a capture device (default " BUFQCTL_CAPTURE ") and take its\n"
	  "frames, N of them or for S seconds (at least one of the two), reading\n"
	  "each in place from the mapping. Queued frames are flushed first (if\n"
	  "the device allows FLUSH; not with --no-flush): only live ones count.\n"
	  "Checks each frame's header and pattern and the sequence: a gap must be\n"
	  "exactly the frames the device says it dropped, and no frame may come\n"
	  "twice or out of order. Prints frames/s (first frame to last), gaps,\n"
	  "drops and the latency from the frame's timestamp to user space seeing\n"
	  "it (p50, p99, max).\n"
	  "  mmap   DEQUEUE and REUSE ioctls, poll() when the queue is empty\n"
	  "  batch  one BATCH ioctl per round: reuse the last B, wait in the call\n"
	  "         for a frame (BUFQ_BATCH_WAIT), dequeue up to B\n"
	  "Exits 1 on a bad, duplicate or out-of-order frame or a gap the drops\n"
	  "do not explain, or if no frame (or fewer than N) came.\n" },
	{ "produce",
	  "produce [--dev DEV] [--fd N] [--messages M] [--size S] [--mode mmap|batch]\n"
	  "            [--batch B] [--crc-init CRC] [--quiet]",
	  "Attach to a playback device (default " BUFQCTL_PLAYBACK "), FETCH M\n"
	  "buffers (default 10000), write a frame of S bytes (default the buffer\n"
	  "size) with sequence numbers 0 to M-1 into each in place, and ENQUEUE it;\n"
	  "--mode batch does both in BATCH ioctls of up to B. Prints messages/s and\n"
	  "the CRC-32 (as gzip's) of every byte queued, continued from CRC (hex)\n"
	  "with --crc-init, e.g. a driver's running CRC before the run.\n" },
	{ "top",
	  "top [--once] [--interval S]",
	  "List every queue on the system, kernel clients' and /dev/bufq files',\n"
	  "deepest first (most queued, then most held), from debugfs\n"
	  "(/sys/kernel/debug/bufq). Refreshes every S seconds (default 1) until\n"
	  "interrupted; --once prints the list once, for scripts.\n",
	  bufqctl_top },
	{ "trace",
	  "trace NAME [--interval S] [--duration S] [--count N]",
	  "Follow the trace events of queue NAME (as bufqctl top names it) in a\n"
	  "tracefs instance of its own; every S seconds (default 1) print the\n"
	  "rate of each event and the depth. At the end (Ctrl-C, after\n"
	  "--duration S, or once N buffers were handed back with --count N) print\n"
	  "the totals and the fetch-to-reuse and enqueue-to-dequeue latencies\n"
	  "(p50, p99, max).\n",
	  bufqctl_trace },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: bufqctl COMMAND [OPTIONS]\n\nCommands:\n");
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  bufqctl %s\n", cmds[i].usage);
	fprintf(f, "\nCommon options: --dev PATH (default %s); --fd N (default $BUFQ_FD),\n"
		"a /dev/bufq file the shell keeps open: exec 3<>/dev/bufq.\n"
		"'bufqctl COMMAND --help' for details; 'bufqctl --version'; see bufqctl(1).\n",
		BUFQCTL_DEV);
}

static void cmd_usage(const struct bufqctl_cmd *c)
{
	printf("Usage: bufqctl %s\n\n%s\n", c->usage, c->help);
	if (!c->run)
		printf("Options common to all: --dev PATH (default %s), --help\n",
		       BUFQCTL_DEV);
}

/* --help of a command that parses its own options. */
void bufqctl_cmd_help(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].name, cmd_name))
			cmd_usage(&cmds[i]);
}

enum {
	OPT_DEV = 0x100, OPT_FD, OPT_COUNT, OPT_SIZE, OPT_CONTEXT, OPT_MAX,
	OPT_LOOKASIDE, OPT_MESSAGES, OPT_MODE, OPT_BATCH, OPT_TIMEOUT, OPT_RAW,
	OPT_QUIET, OPT_SECONDS, OPT_CRC_INIT, OPT_NO_FLUSH, OPT_HELP,
};

static const struct option long_opts[] = {
	{ "dev", required_argument, NULL, OPT_DEV },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "context", required_argument, NULL, OPT_CONTEXT },
	{ "max", required_argument, NULL, OPT_MAX },
	{ "lookaside", no_argument, NULL, OPT_LOOKASIDE },
	{ "messages", required_argument, NULL, OPT_MESSAGES },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "crc-init", required_argument, NULL, OPT_CRC_INIT },
	{ "no-flush", no_argument, NULL, OPT_NO_FLUSH },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Options each command accepts, by OPT_* bit. */
#define O(x) (1u << ((x) - OPT_DEV))
static const unsigned int cmd_opts[] = {
	/* pipe */
	O(OPT_DEV) | O(OPT_COUNT) | O(OPT_SIZE) | O(OPT_CONTEXT) | O(OPT_MAX) |
	O(OPT_LOOKASIDE) | O(OPT_MESSAGES) | O(OPT_MODE) | O(OPT_BATCH) |
	O(OPT_QUIET),
	/* config */
	O(OPT_DEV) | O(OPT_FD) | O(OPT_COUNT) | O(OPT_SIZE) | O(OPT_CONTEXT) |
	O(OPT_MAX) | O(OPT_LOOKASIDE) | O(OPT_QUIET),
	/* info */
	O(OPT_DEV) | O(OPT_FD) | O(OPT_COUNT) | O(OPT_SIZE) | O(OPT_CONTEXT) |
	O(OPT_MAX) | O(OPT_LOOKASIDE),
	/* send */
	O(OPT_DEV) | O(OPT_FD) | O(OPT_TIMEOUT),
	/* recv */
	O(OPT_DEV) | O(OPT_FD) | O(OPT_COUNT) | O(OPT_TIMEOUT) | O(OPT_RAW),
	/* flush */
	O(OPT_DEV) | O(OPT_FD),
	/* consume */
	O(OPT_DEV) | O(OPT_FD) | O(OPT_COUNT) | O(OPT_SECONDS) | O(OPT_MODE) |
	O(OPT_BATCH) | O(OPT_NO_FLUSH) | O(OPT_QUIET),
	/* produce */
	O(OPT_DEV) | O(OPT_FD) | O(OPT_MESSAGES) | O(OPT_SIZE) | O(OPT_MODE) |
	O(OPT_BATCH) | O(OPT_CRC_INIT) | O(OPT_QUIET),
};

static int fd_arg(const char *opt, const char *arg)
{
	int fd = parse_num(opt, arg, 1 << 20);
	struct stat st;

	if (fstat(fd, &st))
		die("fd %d", fd);
	return fd;
}

int main(int argc, char **argv)
{
	struct bufqctl_opts o = {
		.dev = BUFQCTL_DEV,
		.fd = -1,
		.count = 16,
		.size = 4096,
		.messages = 10000,
		.timeout = -1,
	};
	const struct bufqctl_cmd *c = NULL;
	const char *env = getenv("BUFQ_FD");
	size_t i;
	int opt;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("bufqctl %s\n", BUFQ_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		if (argc <= 2) {
			usage(stdout);
			return 0;
		}
		argv[1] = argv[2];
		argv[2] = "--help";
	}
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			c = &cmds[i];
	if (!c) {
		fprintf(stderr, "bufqctl: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	cmd_name = c->name;
	if (c->run)
		return c->run(argc - 1, argv + 1);
	if (env && *env)
		o.fd = fd_arg("$BUFQ_FD", env);

	argc--;
	argv++;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", long_opts, NULL)) != -1) {
		if (opt == 'h')
			opt = OPT_HELP;
		if (opt == ':')
			usage_error("option '%s' needs a value", argv[optind - 1]);
		if (opt == '?')
			usage_error("unknown option '%s'", argv[optind - 1]);
		if (opt != OPT_HELP && !(cmd_opts[c - cmds] & O(opt)))
			usage_error("%s takes no --%s", c->name,
				    long_opts[opt - OPT_DEV].name);
		switch (opt) {
		case OPT_DEV:
			o.dev = optarg;
			o.have_dev = true;
			break;
		case OPT_FD:
			o.fd = fd_arg("--fd", optarg);
			break;
		case OPT_COUNT:
			o.count = parse_num("--count", optarg, UINT32_MAX);
			o.have_count = true;
			break;
		case OPT_SIZE:
			o.size = parse_num("--size", optarg, UINT32_MAX);
			o.have_size = true;
			break;
		case OPT_CONTEXT:
			o.context = parse_num("--context", optarg, UINT32_MAX);
			break;
		case OPT_MAX:
			o.max = parse_num("--max", optarg, UINT32_MAX);
			break;
		case OPT_LOOKASIDE:
			o.lookaside = true;
			break;
		case OPT_MESSAGES:
			o.messages = parse_num("--messages", optarg, ULLONG_MAX >> 20);
			break;
		case OPT_MODE:
			o.mode = optarg;
			break;
		case OPT_BATCH:
			o.batch = parse_num("--batch", optarg, BUFQCTL_MAX_BATCH);
			break;
		case OPT_TIMEOUT:
			o.timeout = parse_num("--timeout", optarg, INT32_MAX);
			break;
		case OPT_RAW:
			o.raw = true;
			break;
		case OPT_QUIET:
			o.quiet = true;
			break;
		case OPT_NO_FLUSH:
			o.no_flush = true;
			break;
		case OPT_SECONDS:
			o.seconds = parse_num("--seconds", optarg, 1 << 20);
			break;
		case OPT_CRC_INIT: {
			char *end;

			errno = 0;
			o.crc_init = strtoul(optarg, &end, 16);
			if (errno || end == optarg || *end ||
			    strtoull(optarg, NULL, 16) > UINT32_MAX)
				usage_error("--crc-init: not a CRC-32 in hex: '%s'",
					    optarg);
			break;
		}
		case OPT_HELP:
			cmd_usage(c);
			return 0;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc && strcmp(c->name, "send"))
		usage_error("unexpected argument '%s'", argv[0]);
	if (o.max && !o.lookaside)
		usage_error("--max needs --lookaside");
	if (!o.lookaside && o.have_count && !o.count && strcmp(c->name, "recv") &&
	    strcmp(c->name, "consume"))
		usage_error("--count must be at least 1 without --lookaside");

	/* A dead consumer must not kill a producer blocked in write(). */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	switch (c - cmds) {
	case 0:
		return cmd_pipe(&o);
	case 1:
		return cmd_config(&o);
	case 2:
		return cmd_info(&o);
	case 3:
		return cmd_send(&o, argc, argv);
	case 4:
		return cmd_recv(&o);
	case 5:
		return cmd_flush(&o);
	case 6:
		return cmd_consume(&o);
	default:
		return cmd_produce(&o);
	}
}
