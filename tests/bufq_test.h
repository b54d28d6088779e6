/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the /dev/bufq kselftests that came after
 * bufq_dev_test.c: calls that return 0 or -errno, the queue's counters,
 * fault injection and kernel log markers. Include after
 * kselftest_harness.h.
 */
#ifndef _BUFQ_TEST_H
#define _BUFQ_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bufq.h>

#define DEV		"/dev/bufq"
#define SENT32		0xAAAAAAAAu

static inline int sys_ret(long ret)
{
	return ret < 0 ? -errno : (int)ret;
}

static inline int bq_ioctl(int fd, unsigned long cmd, void *arg)
{
	return sys_ret(ioctl(fd, cmd, arg));
}

static inline int bq_configure(int fd, __u32 count, __u32 size, __u32 ctx,
			       __u32 max, __u32 flags)
{
	struct bufq_configure c = {
		.size = sizeof(c), .flags = flags, .buffer_count = count,
		.buffer_size = size, .context_size = ctx, .max_buffers = max,
	};

	return bq_ioctl(fd, BUFQ_IOCTL_CONFIGURE, &c);
}

static inline int bq_fetch(int fd, __u32 *index)
{
	struct bufq_fetch f = { .size = sizeof(f) };
	int ret = bq_ioctl(fd, BUFQ_IOCTL_FETCH, &f);

	if (!ret)
		*index = f.out_index;
	return ret;
}

static inline int bq_enqueue(int fd, __u32 index, __u32 len, __u32 flags)
{
	struct bufq_enqueue e = {
		.size = sizeof(e), .flags = flags, .index = index, .len = len,
	};

	return bq_ioctl(fd, BUFQ_IOCTL_ENQUEUE, &e);
}

static inline int bq_dequeue(int fd, __u32 *index, __u32 *len)
{
	struct bufq_dequeue d = { .size = sizeof(d) };
	int ret = bq_ioctl(fd, BUFQ_IOCTL_DEQUEUE, &d);

	if (!ret) {
		*index = d.out_index;
		if (len)
			*len = d.out_len;
	}
	return ret;
}

static inline int bq_reuse(int fd, __u32 index)
{
	struct bufq_reuse r = { .size = sizeof(r), .index = index };

	return bq_ioctl(fd, BUFQ_IOCTL_REUSE, &r);
}

static inline int bq_flush(int fd)
{
	struct bufq_flush f = { .size = sizeof(f) };

	return bq_ioctl(fd, BUFQ_IOCTL_FLUSH, &f);
}

static inline int bq_info(int fd, struct bufq_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return bq_ioctl(fd, BUFQ_IOCTL_INFO, info);
}

static inline int bq_batch(int fd, struct bufq_batch_op *ops, __u32 count,
			   __u32 *done)
{
	struct bufq_batch b = {
		.size = sizeof(b), .ops = (uintptr_t)ops,
		.entry_len = sizeof(*ops), .count = count, .out_done = SENT32,
	};
	int ret = bq_ioctl(fd, BUFQ_IOCTL_BATCH, &b);

	if (done)
		*done = b.out_done;
	return ret;
}

/* Conservation: every buffer is free, queued or held. */
static inline bool bq_conserved(const struct bufq_info *info)
{
	return info->out_free + info->out_queued + info->out_held ==
	       info->out_total;
}

/* Wait for a child: its exit status, 128 + signal, or -1. */
static inline int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A line in the kernel log (scan-log.py's expect-WARNING/OOM markers). */
static inline void kernel_log(const char *msg)
{
	int fd = open("/dev/kmsg", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, msg, strlen(msg)) < 0)
			perror("kmsg");
		close(fd);
	}
}

/* Make the @nth fault-injection site of this thread fail; 0 turns it off. */
static inline int fail_nth(int fd, int nth)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", nth);

	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

/* Whether the fault set up by fail_nth() has been injected. */
static inline bool fail_nth_hit(int fd)
{
	char buf[16] = "";

	return pread(fd, buf, sizeof(buf) - 1, 0) > 0 && atoi(buf) == 0;
}

#endif /* _BUFQ_TEST_H */
