// SPDX-License-Identifier: GPL-2.0
/*
 * ubench - message passing between two processes: /dev/bufq against a pipe
 * and an AF_UNIX SOCK_SEQPACKET socketpair.
 *
 *   ubench TRANSPORT SIZE COUNT
 *   TRANSPORT: pipe | seqpacket | bufq-rw | bufq-mmap | bufq-batch
 *
 * Prints: ubench TRANSPORT SIZE MSGS_PER_S MB_PER_S SYSCALLS_PER_MSG
 *
 * Every transport does the same work per message: the producer writes a
 * sequence number and fills the payload, the consumer checks the number and
 * reads one word of every cache line. Syscalls are counted by both
 * processes, around every system call of the transfer loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/bufq.h>

#define BATCH		128
#define WAIT_MIN	32	/* a batch waits for this many, */
#define WAIT_MS		10	/* or this long */
#define NBUF_MIN	512
#define QUEUE_BYTES	(1024 * 1024)	/* at least, in a queue or the pipe */

static uint64_t *nsys;		/* shared: syscalls of both processes */
static uint64_t *ready;		/* shared: processes set up */

#define SYS(call) (__atomic_fetch_add(nsys, 1, __ATOMIC_RELAXED), (call))

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void fill(unsigned char *p, size_t size, uint64_t seq)
{
	memset(p, (int)(seq & 0xff), size);
	memcpy(p, &seq, sizeof(seq) < size ? sizeof(seq) : size);
}

static uint64_t check(const unsigned char *p, size_t size, uint64_t seq)
{
	uint64_t got = 0, sum = 0;
	size_t i;

	memcpy(&got, p, sizeof(got) < size ? sizeof(got) : size);
	if (size >= sizeof(got) && got != seq) {
		fprintf(stderr, "ubench: message %llu arrived as %llu\n",
			(unsigned long long)seq, (unsigned long long)got);
		exit(1);
	}
	for (i = 0; i < size; i += 64)
		sum += p[i];
	return sum;
}

/* Read or write exactly @size bytes of a stream. */
static void full_io(int fd, void *buf, size_t size, int out)
{
	size_t done = 0;
	ssize_t n;

	while (done < size) {
		n = out ? SYS(write(fd, (char *)buf + done, size - done)) :
			  SYS(read(fd, (char *)buf + done, size - done));
		if (n <= 0)
			die(out ? "write" : "read");
		done += n;
	}
}

static void stream_producer(int fd, size_t size, uint64_t count, int seqpkt)
{
	unsigned char *buf = malloc(size);
	uint64_t i;

	for (i = 0; i < count; i++) {
		fill(buf, size, i);
		if (seqpkt) {
			if (SYS(send(fd, buf, size, 0)) != (ssize_t)size)
				die("send");
		} else {
			full_io(fd, buf, size, 1);
		}
	}
	free(buf);
}

static void stream_consumer(int fd, size_t size, uint64_t count, int seqpkt)
{
	unsigned char *buf = malloc(size);
	uint64_t i;

	for (i = 0; i < count; i++) {
		if (seqpkt) {
			if (SYS(recv(fd, buf, size, 0)) != (ssize_t)size)
				die("recv");
		} else {
			full_io(fd, buf, size, 0);
		}
		check(buf, size, i);
	}
	free(buf);
}

struct bq {
	int fd;
	unsigned char *mem;
	struct bufq_info info;
};

/*
 * Buffers of a /dev/bufq queue: 1 MiB of messages, at least 512
 * (UBENCH_NBUF overrides); the pipe gets as many bytes. A shallow queue
 * makes both sides sleep once per queueful when the host deschedules the
 * vCPUs, and sleeps cost the side with fewer bytes in flight more.
 */
static unsigned int bq_nbuf(size_t size)
{
	const char *env = getenv("UBENCH_NBUF");

	if (env)
		return strtoul(env, NULL, 0);
	return QUEUE_BYTES / size > NBUF_MIN ? QUEUE_BYTES / size : NBUF_MIN;
}

static void bq_open(struct bq *bq, size_t size)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .buffer_count = bq_nbuf(size),
		.buffer_size = size,
	};

	bq->fd = open("/dev/bufq", O_RDWR);
	if (bq->fd < 0)
		die("/dev/bufq");
	if (ioctl(bq->fd, BUFQ_IOCTL_CONFIGURE, &cfg))
		die("CONFIGURE");
	bq->info.size = sizeof(bq->info);
	if (ioctl(bq->fd, BUFQ_IOCTL_INFO, &bq->info))
		die("INFO");
}

/*
 * Map the queue, every page present. Each process maps it itself, after
 * fork(): fork() does not copy the page tables of a shared mapping, so a
 * child would fault on its first touch of each page (16,384 of them for
 * 64 B messages) inside the timed loop.
 */
static void bq_map(struct bq *bq)
{
	bq->mem = mmap(NULL, bq->info.out_mmap_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, bq->fd, 0);
	if (bq->mem == MAP_FAILED)
		die("mmap");
}

/*
 * Both processes set up: map what they use, then meet here. @child is the
 * child's pid in the parent, 0 in the child: if the other process died
 * before it came, give up rather than wait for it forever.
 */
static void ready_wait(const char *t, struct bq *bq, pid_t child,
		       pid_t parent)
{
	if (!strcmp(t, "bufq-mmap") || !strcmp(t, "bufq-batch"))
		bq_map(bq);
	__atomic_fetch_add(ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(ready, __ATOMIC_SEQ_CST) < 2) {
		if (child ? waitpid(child, NULL, WNOHANG) == child :
			    getppid() != parent) {
			fputs("ubench: the other process died\n", stderr);
			exit(1);
		}
		sched_yield();
	}
}

static unsigned char *bq_slot(struct bq *bq, uint32_t index)
{
	return bq->mem + (size_t)index * bq->info.out_stride;
}

static void bq_mmap_producer(struct bq *bq, size_t size, uint64_t count)
{
	struct bufq_fetch f = { .size = sizeof(f) };
	struct bufq_enqueue e = { .size = sizeof(e), .len = size };
	uint64_t i;

	for (i = 0; i < count; i++) {
		if (SYS(ioctl(bq->fd, BUFQ_IOCTL_FETCH, &f)))
			die("FETCH");
		fill(bq_slot(bq, f.out_index), size, i);
		e.index = f.out_index;
		if (SYS(ioctl(bq->fd, BUFQ_IOCTL_ENQUEUE, &e)))
			die("ENQUEUE");
	}
}

static void bq_mmap_consumer(struct bq *bq, size_t size, uint64_t count)
{
	struct bufq_dequeue d = { .size = sizeof(d) };
	struct bufq_reuse r = { .size = sizeof(r) };
	uint64_t i;

	for (i = 0; i < count; i++) {
		if (SYS(ioctl(bq->fd, BUFQ_IOCTL_DEQUEUE, &d)))
			die("DEQUEUE");
		if (d.out_len != size)
			die("DEQUEUE length");
		check(bq_slot(bq, d.out_index), size, i);
		r.index = d.out_index;
		if (SYS(ioctl(bq->fd, BUFQ_IOCTL_REUSE, &r)))
			die("REUSE");
	}
}

/*
 * One BATCH: hand back @n buffers with @give (ENQUEUE or REUSE), then take
 * up to @want with @take (FETCH or DEQUEUE), waiting in the same call
 * (BUFQ_BATCH_WAIT) until WAIT_MIN of them can be taken or WAIT_MS pass.
 * Returns how many were taken, their records at ops[n..].
 */
static unsigned int bq_batch(struct bq *bq, struct bufq_batch_op *ops,
			     unsigned int n, uint32_t give, unsigned int want,
			     uint32_t take)
{
	struct bufq_batch b = {
		.size = sizeof(b), .ops = (uintptr_t)ops,
		.entry_len = sizeof(*ops), .count = n + want,
		.flags = want ? BUFQ_BATCH_WAIT : 0,
		.wait_min = want < WAIT_MIN ? want : WAIT_MIN,
		.wait_timeout_ms = want ? WAIT_MS : 0,
	};
	unsigned int i;

	for (i = 0; i < n; i++)
		ops[i].op = give;
	for (i = n; i < n + want; i++)
		ops[i] = (struct bufq_batch_op){ .op = take };
	if (SYS(ioctl(bq->fd, BUFQ_IOCTL_BATCH, &b)))
		die("BATCH");
	if (b.out_done < n) {
		errno = ops[b.out_done].result;
		die("BATCH give");
	}
	return b.out_done - n;
}

static void bq_batch_producer(struct bq *bq, size_t size, uint64_t count)
{
	struct bufq_batch_op ops[2 * BATCH];
	unsigned int n = 0, got, i;
	uint64_t made = 0;

	while (made < count || n) {
		got = bq_batch(bq, ops, n, BUFQ_OP_ENQUEUE,
			       count - made < BATCH ? count - made : BATCH,
			       BUFQ_OP_FETCH);
		for (i = 0; i < got; i++) {
			ops[i] = (struct bufq_batch_op){
				.op = BUFQ_OP_ENQUEUE, .len = size,
				.index = ops[n + i].index,
			};
			fill(bq_slot(bq, ops[i].index), size, made++);
		}
		n = got;
	}
}

static void bq_batch_consumer(struct bq *bq, size_t size, uint64_t count)
{
	struct bufq_batch_op ops[2 * BATCH];
	unsigned int n = 0, got, i;
	uint64_t seen = 0;

	while (seen < count || n) {
		got = bq_batch(bq, ops, n, BUFQ_OP_REUSE,
			       count - seen < BATCH ? count - seen : BATCH,
			       BUFQ_OP_DEQUEUE);
		for (i = 0; i < got; i++) {
			if (ops[n + i].len != size)
				die("DEQUEUE length");
			check(bq_slot(bq, ops[n + i].index), size, seen++);
			ops[i] = (struct bufq_batch_op){
				.op = BUFQ_OP_REUSE, .index = ops[n + i].index,
			};
		}
		n = got;
	}
}

static void bq_rw(struct bq *bq, size_t size, uint64_t count, int producer)
{
	unsigned char *buf = malloc(size);
	uint64_t i;

	for (i = 0; i < count; i++) {
		if (producer) {
			fill(buf, size, i);
			if (SYS(write(bq->fd, buf, size)) != (ssize_t)size)
				die("write");
		} else {
			if (SYS(read(bq->fd, buf, size)) != (ssize_t)size)
				die("read");
			check(buf, size, i);
		}
	}
	free(buf);
}

static void run(const char *t, int side, int fd, struct bq *bq, size_t size,
		uint64_t count)
{
	if (!strcmp(t, "pipe") || !strcmp(t, "seqpacket"))
		(side ? stream_producer : stream_consumer)(fd, size, count,
							   t[0] == 's');
	else if (!strcmp(t, "bufq-rw"))
		bq_rw(bq, size, count, side);
	else if (!strcmp(t, "bufq-mmap"))
		(side ? bq_mmap_producer : bq_mmap_consumer)(bq, size, count);
	else
		(side ? bq_batch_producer : bq_batch_consumer)(bq, size, count);
}

/*
 * "ubench open bufq|pipe N": N rounds of open, CONFIGURE (16 x 4 KiB) and
 * close of /dev/bufq, or of pipe() and two closes: what a queue costs to
 * make and throw away.
 */
static int open_bench(const char *what, uint64_t n)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .buffer_count = 16, .buffer_size = 4096,
	};
	struct timespec t0, t1;
	int fd, fds[2];
	uint64_t i;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		if (!strcmp(what, "pipe")) {
			if (pipe(fds))
				die("pipe");
			close(fds[0]);
			close(fds[1]);
			continue;
		}
		fd = open("/dev/bufq", O_RDWR);
		if (fd < 0 || ioctl(fd, BUFQ_IOCTL_CONFIGURE, &cfg))
			die("/dev/bufq");
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("uopen %s %.0f opens/s\n", what, n / s);
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	int fds[2] = { -1, -1 }, status;
	struct bq bq = { .fd = -1 };
	uint64_t count;
	size_t size;
	double s;
	pid_t pid, parent;

	if (argc != 4) {
		fputs("usage: ubench TRANSPORT SIZE COUNT | ubench open bufq|pipe N\n"
		      "TRANSPORT: pipe seqpacket bufq-rw bufq-mmap bufq-batch\n",
		      stderr);
		return 2;
	}
	if (!strcmp(argv[1], "open"))
		return open_bench(argv[2], strtoull(argv[3], NULL, 0));
	size = strtoul(argv[2], NULL, 0);
	count = strtoull(argv[3], NULL, 0);
	nsys = mmap(NULL, 2 * sizeof(*nsys), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (nsys == MAP_FAILED)
		die("mmap");
	ready = nsys + 1;

	if (!strcmp(argv[1], "pipe")) {
		if (pipe(fds))
			die("pipe");
		/*
		 * As many bytes as the queue holds; beyond pipe-max-size
		 * (1 MiB) that needs CAP_SYS_RESOURCE: the bench runs as root.
		 */
		if (fcntl(fds[1], F_SETPIPE_SZ, bq_nbuf(size) * size) < 0)
			die("F_SETPIPE_SZ");
	} else if (!strcmp(argv[1], "seqpacket")) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds))
			die("socketpair");
		/*
		 * As many messages in flight as the queue holds. AF_UNIX
		 * charges what a sender has in flight, each message's
		 * truesize (up to twice its size, and a header), to its
		 * SO_SNDBUF, which the kernel doubles; SO_SNDBUF itself stops
		 * at wmem_max (208 KiB here), FORCE needs CAP_NET_ADMIN.
		 */
		if (setsockopt(fds[1], SOL_SOCKET, SO_SNDBUFFORCE,
			       &(int){ bq_nbuf(size) * (size + 512) },
			       sizeof(int)))
			die("SO_SNDBUFFORCE");
	} else if (!strncmp(argv[1], "bufq-", 5)) {
		bq_open(&bq, size);
	} else {
		fprintf(stderr, "ubench: unknown transport %s\n", argv[1]);
		return 2;
	}

	parent = getpid();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		ready_wait(argv[1], &bq, 0, parent);
		run(argv[1], 1, fds[1], &bq, size, count);
		_exit(0);
	}
	ready_wait(argv[1], &bq, pid, parent);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(argv[1], 0, fds[0], &bq, size, count);
	/*
	 * The clock stops when the consumer has checked the last message:
	 * the producer's exit after it (unmapping 16,384 pages for 64 B
	 * messages on /dev/bufq) moves no message.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return 1;
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("ubench %s %zu %.0f %.1f %.3f\n", argv[1], size, count / s,
	       count * size / s / 1e6, (double)*nsys / count);
	return 0;
}
