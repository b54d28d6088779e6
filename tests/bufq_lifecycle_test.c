// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: the life of a /dev/bufq queue. Many rounds of open, CONFIGURE
 * and close must each work and leave nothing behind: a queue needs no slab
 * cache of its own and its close waits for no RCU grace period (the round
 * count makes such a wait show as a hang). kmemleak, scanned by the
 * harness after the run, checks that nothing leaked.
 *
 * Runs as root in the `make check` VM, with bufq loaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/bufq.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#ifndef ROUNDS
#define ROUNDS	10000
#endif

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Seconds spent opening, configuring and closing, over all rounds. */
static double t_open, t_conf, t_close;

/* One queue's whole life; returns 0 or the errno of the step that failed. */
static int one_round(unsigned int i)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg),
		.flags = i % 2 ? BUFQ_CONFIGURE_LOOKASIDE : 0,
		.buffer_count = 1 + i % 4,
		.buffer_size = i % 3 ? 64 : 4096,
		/* Lookaside rounds cap their growth: slots are made up front. */
		.max_buffers = i % 2 ? 8 : 0,
	};
	struct bufq_fetch f = { .size = sizeof(f) };
	int fd, ret = 0;

	double t0 = now(), t1, t2;

	fd = open("/dev/bufq", O_RDWR | O_NONBLOCK);
	if (fd < 0)
		return errno;
	t1 = now();
	if (ioctl(fd, BUFQ_IOCTL_CONFIGURE, &cfg) ||
	    (i % 4 == 0 && ioctl(fd, BUFQ_IOCTL_FETCH, &f)))
		ret = errno;
	t2 = now();
	/* Every fourth round closes with a buffer still held. */
	if (close(fd) && !ret)
		ret = errno;
	t_open += t1 - t0;
	t_conf += t2 - t1;
	t_close += now() - t2;
	return ret;
}

FIXTURE(lifecycle) {
};

FIXTURE_SETUP(lifecycle)
{
}

FIXTURE_TEARDOWN(lifecycle)
{
}

/*
 * ROUNDS rounds in all, split over two processes (the VM has two CPUs):
 * the debug kernel (KASAN, lockdep, kmemleak) makes each round slow.
 */
TEST_F_TIMEOUT(lifecycle, open_configure_close_rounds, 580)
{
	unsigned int i, w, workers = 2, fails = 0;
	double t0 = now(), s;
	int status, ret;
	pid_t pid;

	for (w = 0; w < workers; w++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid)
			continue;
		for (i = w; i < ROUNDS; i += workers) {
			ret = one_round(i);
			if (ret) {
				fprintf(stderr, "round %u: %s\n", i,
					strerror(ret));
				_exit(1);
			}
		}
		fprintf(stderr, "# worker %u: open %.2f s, configure %.2f s, close %.2f s\n",
			w, t_open, t_conf, t_close);
		_exit(0);
	}
	for (w = 0; w < workers; w++) {
		ASSERT_LT(0, wait(&status));
		fails += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	ASSERT_EQ(0, fails);
	s = now() - t0;
	TH_LOG("%u rounds in %.2f s: %.0f rounds/s", ROUNDS, s, ROUNDS / s);
}

/* A queue held open by a mapping alone is freed when the mapping goes. */
TEST_F(lifecycle, close_mapped_then_unmap)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .buffer_count = 4, .buffer_size = 4096,
	};
	struct bufq_info info = { .size = sizeof(info) };
	unsigned int i;
	void *mem;
	int fd;

	for (i = 0; i < 100; i++) {
		fd = open("/dev/bufq", O_RDWR);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, ioctl(fd, BUFQ_IOCTL_CONFIGURE, &cfg));
		ASSERT_EQ(0, ioctl(fd, BUFQ_IOCTL_INFO, &info));
		mem = mmap(NULL, info.out_mmap_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, mem);
		ASSERT_EQ(0, close(fd));
		memset(mem, 0xa5, info.out_mmap_size);
		ASSERT_EQ(0, munmap(mem, info.out_mmap_size));
	}
}

TEST_HARNESS_MAIN
