// SPDX-License-Identifier: GPL-2.0
/*
 * kubench - a user consumer of a kernel producer (tools/bench/bufq_kprod.c)
 *
 *   kubench kmap|kcopy SIZE COUNT
 *
 * kmap: /dev/bufq-kmap, a driver's queue through bufq_file_attach():
 * messages are read in place in the mapping; each BATCH hands back what
 * was read and takes up to BATCH more, waiting (BUFQ_BATCH_WAIT) for
 * WAIT_MIN of them. kcopy: /dev/bufq-kcopy, a read() handler that copies
 * each message out. Both check every sequence number and read a word of
 * every cache line, as ubench's consumers do.
 *
 * Prints: ubench kmap|kcopy SIZE MSGS_PER_S MB_PER_S SYSCALLS_PER_MSG
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/bufq.h>

#define BATCH		64
#define WAIT_MIN	32
#define WAIT_MS		10

static uint64_t nsys;
/* Not static: the sum of what the consumers read stays, so they read it. */
uint64_t kubench_sink;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The first message seen sets the sequence; every later one follows it. */
static uint64_t check(const unsigned char *p, size_t size, uint64_t *next,
		      int first)
{
	uint64_t seq = 0, sum = 0;
	size_t i;

	memcpy(&seq, p, sizeof(seq) < size ? sizeof(seq) : size);
	if (!first && size >= sizeof(seq) && seq != *next) {
		fprintf(stderr, "kubench: message %llu arrived as %llu\n",
			(unsigned long long)*next, (unsigned long long)seq);
		exit(1);
	}
	*next = seq + 1;
	for (i = 64; i + sizeof(uint64_t) <= size; i += 64)
		sum += *(const uint64_t *)(p + i);
	return sum;
}

static struct bufq_info info = { .size = sizeof(info) };
static unsigned char *mem;

/* Map the queue, every page present, before the clock starts. */
static void map_queue(int fd)
{
	if (ioctl(fd, BUFQ_IOCTL_INFO, &info))
		die("INFO");
	mem = mmap(NULL, info.out_mmap_size, PROT_READ,
		   MAP_SHARED | MAP_POPULATE, fd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
}

static void map_consumer(int fd, size_t size, uint64_t count)
{
	struct bufq_batch_op ops[2 * BATCH];
	uint64_t seen = 0, next = 0;
	unsigned int n = 0, i, got;
	unsigned char *p;

	while (seen < count || n) {
		unsigned int want = count - seen < BATCH ? count - seen : BATCH;
		struct bufq_batch b = {
			.size = sizeof(b), .ops = (uintptr_t)ops,
			.entry_len = sizeof(*ops), .count = n + want,
			.flags = want ? BUFQ_BATCH_WAIT : 0,
			.wait_min = want ? (want < WAIT_MIN ? want : WAIT_MIN) : 0,
			.wait_timeout_ms = want ? WAIT_MS : 0,
		};

		for (i = n; i < n + want; i++)
			ops[i] = (struct bufq_batch_op){ .op = BUFQ_OP_DEQUEUE };
		nsys++;
		if (ioctl(fd, BUFQ_IOCTL_BATCH, &b))
			die("BATCH");
		if (b.out_done < n) {
			errno = ops[b.out_done].result;
			die("BATCH REUSE");
		}
		got = b.out_done - n;
		for (i = 0; i < got; i++) {
			const struct bufq_batch_op *d = &ops[n + i];

			if (d->len != size)
				die("DEQUEUE length");
			p = mem + (size_t)d->index * info.out_stride;
			kubench_sink += check(p, size, &next, !seen);
			seen++;
			ops[i] = (struct bufq_batch_op){
				.op = BUFQ_OP_REUSE, .index = d->index,
			};
		}
		n = got;
	}
}

static void copy_consumer(int fd, size_t size, uint64_t count)
{
	unsigned char *buf = malloc(size);
	uint64_t i, next = 0;

	if (!buf)
		die("malloc");
	for (i = 0; i < count; i++) {
		nsys++;
		if (read(fd, buf, size) != (ssize_t)size)
			die("read");
		kubench_sink += check(buf, size, &next, !i);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	uint64_t count;
	size_t size;
	int fd, map;
	double s;

	if (argc != 4 || (strcmp(argv[1], "kmap") && strcmp(argv[1], "kcopy"))) {
		fputs("usage: kubench kmap|kcopy SIZE COUNT\n", stderr);
		return 2;
	}
	map = !strcmp(argv[1], "kmap");
	size = strtoul(argv[2], NULL, 0);
	count = strtoull(argv[3], NULL, 0);
	fd = open(map ? "/dev/bufq-kmap" : "/dev/bufq-kcopy", O_RDONLY);
	if (fd < 0)
		die(argv[1]);
	if (map)
		map_queue(fd);
	/*
	 * Half as many first, untimed: the producer filled the queue while
	 * nobody read it, and the timed run must not start on that store.
	 */
	(map ? map_consumer : copy_consumer)(fd, size, count / 2);
	nsys = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	(map ? map_consumer : copy_consumer)(fd, size, count);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (map)
		munmap(mem, info.out_mmap_size);
	close(fd);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("ubench %s %zu %.0f %.1f %.3f\n", argv[1], size, count / s,
	       count * size / s / 1e6, (double)nsys / count);
	return 0;
}
