// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for samples/bufq_sample.c: feed /dev/bufq-sample from several
 * processes and check the summary its kernel thread keeps.
 *
 * Needs bufq_sample loaded with its default parameters (16 buffers of
 * 4096 bytes) and devtmpfs on /dev; runs as root (the node is 0600).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#define DEV		"/dev/bufq-sample"
#define BSIZE		4096
#define WRITERS		4
#define PER_WRITER	500

struct summary {
	unsigned long long messages;
	unsigned long long bytes;
};

static int read_summary(struct summary *s)
{
	char text[1024], *p;
	ssize_t n;
	int fd;

	fd = open(DEV, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	p = strstr(text, "messages: ");
	if (!p || sscanf(p, "messages: %llu", &s->messages) != 1)
		return -EINVAL;
	p = strstr(text, "bytes: ");
	if (!p || sscanf(p, "bytes: %llu", &s->bytes) != 1)
		return -EINVAL;
	return 0;
}

/* Wait (at most 30 s) for the thread to have processed @messages in all. */
static int wait_processed(unsigned long long messages, struct summary *s)
{
	int i, ret;

	for (i = 0; i < 3000; i++) {
		ret = read_summary(s);
		if (ret || s->messages >= messages)
			return ret;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static size_t msg_len(int writer, int i)
{
	return 1 + (writer * 977 + i * 131) % BSIZE;
}

TEST(feed_and_count)
{
	unsigned long long bytes = 0;
	struct summary before, after;
	int w, i, status;

	ASSERT_EQ(0, read_summary(&before));
	for (w = 0; w < WRITERS; w++)
		for (i = 0; i < PER_WRITER; i++)
			bytes += msg_len(w, i);

	for (w = 0; w < WRITERS; w++) {
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (!pid) {
			static char buf[BSIZE];
			int fd = open(DEV, O_WRONLY);

			if (fd < 0)
				_exit(1);
			memset(buf, 'a' + w, sizeof(buf));
			for (i = 0; i < PER_WRITER; i++)
				if (write(fd, buf, msg_len(w, i)) != msg_len(w, i))
					_exit(2);
			_exit(0);
		}
	}
	for (w = 0; w < WRITERS; w++) {
		ASSERT_LT(0, wait(&status));
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
	}

	ASSERT_EQ(0, wait_processed(before.messages + WRITERS * PER_WRITER,
				    &after));
	EXPECT_EQ(before.messages + WRITERS * PER_WRITER, after.messages);
	EXPECT_EQ(before.bytes + bytes, after.bytes);
}

TEST(bad_writes)
{
	static char big[BSIZE + 1];
	struct summary before, after;
	char *none;
	int fd;

	none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	ASSERT_EQ(0, read_summary(&before));
	fd = open(DEV, O_WRONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, write(fd, big, 0));
	EXPECT_EQ(-1, write(fd, big, sizeof(big)));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(-1, write(fd, none, 16));
	EXPECT_EQ(EFAULT, errno);
	/* A good one behind them, so that the count below is settled. */
	EXPECT_EQ(5, write(fd, "last\n", 5));
	close(fd);
	ASSERT_EQ(0, wait_processed(before.messages + 1, &after));
	EXPECT_EQ(before.messages + 1, after.messages);
	EXPECT_EQ(before.bytes + 5, after.bytes);
}

/* Non-blocking writers get EAGAIN, never a lost or doubled message. */
TEST(nonblocking)
{
	static char buf[BSIZE];
	struct summary before, after;
	unsigned long long sent = 0;
	int fd, i, again = 0;

	ASSERT_EQ(0, read_summary(&before));
	fd = open(DEV, O_WRONLY | O_NONBLOCK);
	ASSERT_LE(0, fd);
	for (i = 0; i < 2000; i++) {
		ssize_t n = write(fd, buf, sizeof(buf));

		if (n == sizeof(buf)) {
			sent++;
		} else {
			ASSERT_EQ(-1, n);
			ASSERT_EQ(EAGAIN, errno);
			again++;
		}
	}
	close(fd);
	ASSERT_EQ(0, wait_processed(before.messages + sent, &after));
	EXPECT_EQ(before.messages + sent, after.messages);
	EXPECT_EQ(before.bytes + sent * sizeof(buf), after.bytes);
	TH_LOG("%llu sent, %d EAGAIN", sent, again);
}

TEST_HARNESS_MAIN
