// SPDX-License-Identifier: GPL-2.0
/*
 * bufqctl - drive /dev/bufq queues from the shell
 *
 *   bufqctl pipe [--count N] [--size S] [--messages M] [--mode rw|mmap|batch]
 *   bufqctl config --fd N --count N --size S [--context C] [--lookaside]
 *   bufqctl info [--fd N | --count N --size S ...]
 *   bufqctl send [--fd N] MESSAGE...
 *   bufqctl recv [--fd N] [--count K]
 *   bufqctl flush [--fd N]
 *   bufqctl top [--once] [--interval S]
 *   bufqctl trace NAME [--interval S] [--duration S] [--count N]
 *
 * A queue lives as long as its open file: a shell keeps one with
 * `exec 3<>/dev/bufq` and hands it to each bufqctl with --fd 3.
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

#include "bufqctl.h"

/* From the VERSION file, like the module's and the packages' versions. */
#ifndef BUFQ_VERSION
#error "build bufqctl with -DBUFQ_VERSION=... (make bufqctl does)"
#endif

#define BUFQCTL_DEV	"/dev/bufq"
#define BUFQCTL_MAX_BATCH	256

static const char *cmd_name = "bufqctl";

struct bufqctl_opts {
	const char *dev;
	int fd;			/* -1: open dev and configure a new queue */
	bool have_count;	/* --count given */
	unsigned int count;
	unsigned int size;
	unsigned int context;
	unsigned int max;
	bool lookaside;
	unsigned long long messages;
	const char *mode;
	unsigned int batch;
	int timeout;		/* ms, -1: wait forever */
	bool raw;
	bool quiet;
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
	printf(" grown %llu, fetch failed %llu\n",
	       (unsigned long long)i->out_grown,
	       (unsigned long long)i->out_fetch_failed);
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
	print_counters(i);
}

/*
 * The queue to work on: --fd (or $BUFQ_FD), which must be configured
 * already, or a new one from --dev configured with --count/--size.
 */
static int queue_from_opts(struct bufqctl_opts *o, bool may_create)
{
	struct bufq_info info;
	int fd;

	if (o->fd >= 0) {
		get_info(o->fd, &info);
		return o->fd;
	}
	if (!may_create)
		usage_error("no queue: open one with 'exec 3<>%s' and pass --fd 3",
			    o->dev);
	fd = open_queue(o);
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
 * the rest may stop at EAGAIN. Return how many of the rest succeeded.
 */
static unsigned int run_batch(int fd, struct bufq_batch_op *ops,
			      unsigned int n, unsigned int must,
			      const char *who)
{
	struct bufq_batch b = {
		.size = sizeof(b),
		.ops = (uintptr_t)ops,
		.entry_len = sizeof(*ops),
		.count = n,
	};

	if (ioctl(fd, BUFQ_IOCTL_BATCH, &b))
		die("%s: batch", who);
	if (b.out_done < n && (b.out_done < must || ops[b.out_done].result != EAGAIN))
		die_err(ops[b.out_done].result, "%s: batch op %u (opcode %u)",
			who, b.out_done, ops[b.out_done].op);
	return b.out_done - must;
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
	  "info [--fd N | --count N --size S [--context C] [--lookaside [--max N]]]",
	  "Print the configuration, memory layout and counters of the queue on\n"
	  "fd N, or of a queue made for the purpose.\n" },
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
	OPT_QUIET, OPT_HELP,
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
		.mode = "rw",
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
	if (!o.lookaside && o.have_count && !o.count && strcmp(c->name, "recv"))
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
	default:
		return cmd_flush(&o);
	}
}
