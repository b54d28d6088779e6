// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: poll() wakes for every way a buffer becomes available. The
 * lookaside shrink frees a buffer instead of keeping it: that makes room
 * to grow, which is EPOLLOUT too, and a poller asleep at the cap must be
 * woken by it.
 *
 * Runs as root in the `make check` VM, with bufq loaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bufq.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

static int fetch(int fd, __u32 *index)
{
	struct bufq_fetch f = { .size = sizeof(f) };

	if (ioctl(fd, BUFQ_IOCTL_FETCH, &f))
		return -errno;
	*index = f.out_index;
	return 0;
}

static int reuse(int fd, __u32 index)
{
	struct bufq_reuse r = { .size = sizeof(r), .index = index };

	return ioctl(fd, BUFQ_IOCTL_REUSE, &r) ? -errno : 0;
}

/* Wait (5 s at most) until @pid is asleep; then a little longer. */
static bool asleep(pid_t pid)
{
	char path[64], buf[256], *state;
	int i, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 500; i++) {
		fd = open(path, O_RDONLY);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		state = strrchr(buf, ')');
		if (state && state[2] == 'S') {
			usleep(100000);
			return true;
		}
		usleep(10000);
	}
	return false;
}

/* A poller asleep at the cap wakes when the shrink frees a buffer. */
TEST(pollout_after_shrink)
{
	struct bufq_configure cfg = {
		.size = sizeof(cfg), .flags = BUFQ_CONFIGURE_LOOKASIDE,
		.buffer_count = 1, .buffer_size = 64, .max_buffers = 2,
	};
	struct pollfd pfd = { .events = POLLOUT };
	int i, status, sync[2];
	__u32 a = 0, b = 0;
	pid_t pid;
	char c;

	pfd.fd = open("/dev/bufq", O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, pfd.fd);
	ASSERT_EQ(0, ioctl(pfd.fd, BUFQ_IOCTL_CONFIGURE, &cfg));
	ASSERT_EQ(0, fetch(pfd.fd, &a));
	ASSERT_EQ(0, fetch(pfd.fd, &b));	/* grown: at the cap now */
	ASSERT_EQ(0, poll(&pfd, 1, 0));

	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {	/* 1: woken with EPOLLOUT */
		if (write(sync[1], "p", 1) != 1)
			_exit(2);
		/*
		 * No timeout: poll() tests once more when one expires, and
		 * would then see the room without having been woken.
		 */
		_exit(poll(&pfd, 1, -1) == 1 && (pfd.revents & POLLOUT));
	}
	ASSERT_EQ(1, read(sync[0], &c, 1));
	ASSERT_TRUE(asleep(pid));	/* in poll(), as nothing else sleeps */
	/* Two buffers out, buffer_count 1: the first back is freed. */
	ASSERT_EQ(0, reuse(pfd.fd, a));
	/* Never woken: give up after 10 s, and fail. */
	for (i = 0; i < 1000 && !waitpid(pid, &status, WNOHANG); i++)
		usleep(10000);
	if (i == 1000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		status = 0;
	}
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ASSERT_EQ(0, reuse(pfd.fd, b));
	close(pfd.fd);
}

TEST_HARNESS_MAIN
