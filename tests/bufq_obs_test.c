// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest for bufq's observability from user space: the trace events in
 * tracefs, the debugfs directories, the fdinfo of /dev/bufq files, and
 * `bufqctl top` and `bufqctl trace` on scripted scenarios.
 *
 * Needs bufq (and bufq_sample, whose kernel queue it looks for) loaded,
 * debugfs on /sys/kernel/debug, tracefs on /sys/kernel/tracing, and
 * bufqctl at $BUFQCTL (default /tests/bufqctl, as `make check` puts it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/bufq.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#define DEV		"/dev/bufq"
#define DEBUGFS		"/sys/kernel/debug/bufq/"
#define TRACEFS		"/sys/kernel/tracing/"
#define TEXT_MAX	65536
#define CHILD_ALARM	120	/* seconds: only to end a hung child */

/* ---- helpers ----------------------------------------------------------- */

static int bq_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* Open /dev/bufq and configure it; -errno on failure. */
static int bq_queue(__u32 count, __u32 size, __u32 max, bool lookaside)
{
	struct bufq_configure c = {
		.size = sizeof(c), .buffer_count = count, .buffer_size = size,
		.max_buffers = max,
		.flags = lookaside ? BUFQ_CONFIGURE_LOOKASIDE : 0,
	};
	int fd = open(DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = bq_ioctl(fd, BUFQ_IOCTL_CONFIGURE, &c);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static int bq_fetch(int fd, __u32 *index)
{
	struct bufq_fetch f = { .size = sizeof(f) };
	int ret = bq_ioctl(fd, BUFQ_IOCTL_FETCH, &f);

	*index = f.out_index;
	return ret;
}

static int bq_enqueue(int fd, __u32 index, __u32 flags)
{
	struct bufq_enqueue e = {
		.size = sizeof(e), .index = index, .flags = flags,
	};

	return bq_ioctl(fd, BUFQ_IOCTL_ENQUEUE, &e);
}

static int bq_dequeue(int fd, __u32 *index)
{
	struct bufq_dequeue d = { .size = sizeof(d) };
	int ret = bq_ioctl(fd, BUFQ_IOCTL_DEQUEUE, &d);

	*index = d.out_index;
	return ret;
}

static int bq_reuse(int fd, __u32 index)
{
	struct bufq_reuse r = { .size = sizeof(r), .index = index };

	return bq_ioctl(fd, BUFQ_IOCTL_REUSE, &r);
}

static int bq_flush(int fd)
{
	struct bufq_flush f = { .size = sizeof(f) };

	return bq_ioctl(fd, BUFQ_IOCTL_FLUSH, &f);
}

static int bq_info(int fd, struct bufq_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return bq_ioctl(fd, BUFQ_IOCTL_INFO, info);
}

/* Read a whole file into a static buffer; NULL on error. */
static char *slurp(const char *fmt, ...)
{
	static char text[TEXT_MAX];
	char path[512];
	size_t len = 0;
	va_list ap;
	ssize_t n;
	int fd;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	while ((n = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
		len += n;
	close(fd);
	if (n < 0)
		return NULL;
	text[len] = '\0';
	return text;
}

static int put(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/* The number after "key:" on a line of @text (debugfs, fdinfo), or -1. */
static long long value(const char *text, const char *key)
{
	size_t len = strlen(key);
	const char *p;

	for (p = text; (p = strstr(p, key)); p += len)
		if ((p == text || p[-1] == '\n') && p[len] == ':')
			return strtoll(p + len + 1, NULL, 10);
	return -1;
}

/* The queue name (debugfs directory) of a /dev/bufq file, from fdinfo. */
static int queue_name(int fd, char *name, size_t size)
{
	char *text = slurp("/proc/self/fdinfo/%d", fd);
	char *p = text ? strstr(text, "bufq-name:\t") : NULL;

	if (!p)
		return -1;
	p += strlen("bufq-name:\t");
	snprintf(name, size, "%.*s", (int)strcspn(p, "\n"), p);
	return 0;
}

static bool exists(const char *fmt, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), fmt, name);
	return access(path, F_OK) == 0;
}

static const char *bufqctl_path(void)
{
	const char *env = getenv("BUFQCTL");

	return env && *env ? env : "/tests/bufqctl";
}

static int wait_child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
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
		close(p[0]);
		alarm(CHILD_ALARM);
		execv(bufqctl_path(), args);
		_exit(127);
	}
	close(p[1]);
	while (len < size - 1 && (n = read(p[0], out + len, size - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(p[0]);
	return wait_child_status(pid);
}

/* ---- trace events ------------------------------------------------------ */

/* A tracefs instance of our own, with the bufq events of @filter on. */
static int trace_begin(char *inst, size_t size, const char *filter)
{
	char path[512];
	int ret;

	snprintf(inst, size, TRACEFS "instances/bufq_obs_test-%d", getpid());
	if (mkdir(inst, 0700))
		return -errno;
	snprintf(path, sizeof(path), "%s/events/bufq/filter", inst);
	ret = put(path, filter);
	snprintf(path, sizeof(path), "%s/events/bufq/enable", inst);
	return ret ?: put(path, "1");
}

static void trace_end(const char *inst)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/events/bufq/enable", inst);
	put(path, "0");
	rmdir(inst);
}

/* The buffer a trace record names, as a letter bound at first sight. */
struct buf_ids {
	char id[8][64];
	char letter[8];
	int n;
};

/*
 * Does record @line ("... <ts>: bufq_<event>: k=v ...") match @want
 * ("<event> k=v ...")? A want value "=X" for buf binds the letter X to the
 * record's id the first time and must match it after; two letters never
 * share an id.
 */
static bool record_matches(const char *line, const char *want,
			   struct buf_ids *ids, char *why, size_t why_size)
{
	char wev[32], key[32], val[64], got[64], pat[40];
	const char *p = strstr(line, ": bufq_"), *w, *g;
	int i, len;

	if (!p || sscanf(want, "%31s%n", wev, &len) != 1)
		return false;
	p += 7;
	if (strncmp(p, wev, strlen(wev)) || p[strlen(wev)] != ':') {
		snprintf(why, why_size, "event is not %s", wev);
		return false;
	}
	for (w = want + len; sscanf(w, " %31[^=]=%63s%n", key, val, &len) == 2;
	     w += len) {
		snprintf(pat, sizeof(pat), " %s=", key);
		g = strstr(p, pat);
		if (!g) {
			snprintf(why, why_size, "no field %s", key);
			return false;
		}
		g += strlen(pat);
		snprintf(got, sizeof(got), "%.*s", (int)strcspn(g, "\n "), g);
		if (strcmp(key, "buf") || !strcmp(val, "0000000000000000")) {
			if (strcmp(got, val)) {
				snprintf(why, why_size, "%s=%s, want %s", key,
					 got, val);
				return false;
			}
			continue;
		}
		for (i = 0; i < ids->n; i++)
			if (ids->letter[i] == val[0] || !strcmp(ids->id[i], got))
				break;
		if (i == ids->n && ids->n < 8) {
			ids->letter[ids->n] = val[0];
			snprintf(ids->id[ids->n++], sizeof(ids->id[0]), "%s", got);
		} else if (i == ids->n || ids->letter[i] != val[0] ||
			   strcmp(ids->id[i], got)) {
			snprintf(why, why_size, "buf=%s is not %s", got, val);
			return false;
		}
	}
	return true;
}

/*
 * A known sequence on a /dev/bufq file yields exactly the expected trace
 * records, with the queue's name, the buffer followed by its hashed
 * address from fetch to reuse, errors and depths.
 */
TEST(trace_records)
{
	static const char *const want[] = {
		"create q=%s count=2 size=64 context=0 max=3 lookaside=1 timer=0",
		"fetch q=%s buf=A err=0 grown=0 free=1 total=2",
		"fetch q=%s buf=B err=0 grown=0 free=0 total=2",
		"fetch q=%s buf=C err=0 grown=1 free=0 total=3",
		"fetch q=%s buf=0000000000000000 err=-105 grown=0 free=0 total=3",
		"enqueue q=%s buf=A where=tail msecs=0 queued=1",
		"enqueue q=%s buf=B where=head msecs=0 queued=2",
		"dequeue q=%s buf=B queued=1",
		"reuse q=%s buf=B kept=0 free=0 total=3",
		"reuse q=%s buf=C kept=1 free=1 total=2",
		"flush q=%s queued=1",
		"reuse q=%s buf=A kept=1 free=2 total=2",
		"destroy q=%s total=2 free=2 queued=0",
		"flush q=%s queued=0",
	};
	char inst[256], filter[128], name[128], w[256], why[512] = "";
	struct buf_ids ids = { 0 };
	__u32 a, b, c, x;
	char *text, *line, *save;
	unsigned int n = 0;
	int fd;

	snprintf(filter, sizeof(filter), "name ~ \"dev-%d-*\"", getpid());
	ASSERT_EQ(0, trace_begin(inst, sizeof(inst), filter));

	fd = bq_queue(2, 64, 3, true);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, queue_name(fd, name, sizeof(name)));
	ASSERT_EQ(0, bq_fetch(fd, &a));
	ASSERT_EQ(0, bq_fetch(fd, &b));
	ASSERT_EQ(0, bq_fetch(fd, &c));
	ASSERT_EQ(-EAGAIN, bq_fetch(fd, &x));
	ASSERT_EQ(0, bq_enqueue(fd, a, 0));
	ASSERT_EQ(0, bq_enqueue(fd, b, BUFQ_ENQUEUE_AT_HEAD));
	ASSERT_EQ(0, bq_dequeue(fd, &x));
	ASSERT_EQ(b, x);
	ASSERT_EQ(0, bq_reuse(fd, b));
	ASSERT_EQ(0, bq_reuse(fd, c));
	ASSERT_EQ(0, bq_flush(fd));
	close(fd);

	text = slurp("%s/trace", inst);
	trace_end(inst);
	ASSERT_NE(NULL, text);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		ASSERT_LT(n, ARRAY_SIZE(want)) TH_LOG("extra record: %s", line);
		snprintf(w, sizeof(w), want[n], name);
		EXPECT_TRUE(record_matches(line, w, &ids, why, sizeof(why)))
			TH_LOG("record %u: %s\n want: %s\n %s", n, line, w, why);
		n++;
	}
	EXPECT_EQ(ARRAY_SIZE(want), n);
	EXPECT_EQ(3, ids.n);	/* A, B and C, three distinct buffers */
}

/* Every event the README's one-liners use has the fields they read. */
TEST(event_formats)
{
	static const char *const events[][2] = {
		{ "bufq_create", "__data_loc char[] name;" },
		{ "bufq_destroy", "unsigned int queued;" },
		{ "bufq_fetch", "u64 buf;" },
		{ "bufq_fetch", "int err;" },
		{ "bufq_fetch", "bool grown;" },
		{ "bufq_enqueue", "u8 where;" },
		{ "bufq_enqueue", "unsigned int queued;" },
		{ "bufq_dequeue", "u64 buf;" },
		{ "bufq_timer_expire", "u64 buf;" },
		{ "bufq_reuse", "bool kept;" },
		{ "bufq_flush", "unsigned int queued;" },
		{ "bufq_enumerate", "int action;" },
	};
	unsigned int i;
	char *text;

	for (i = 0; i < ARRAY_SIZE(events); i++) {
		text = slurp(TRACEFS "events/bufq/%s/format", events[i][0]);
		ASSERT_NE(NULL, text) TH_LOG("%s", events[i][0]);
		EXPECT_NE(NULL, strstr(text, events[i][1]))
			TH_LOG("%s: no '%s'", events[i][0], events[i][1]);
	}
}

/* ---- debugfs and fdinfo ------------------------------------------------ */

/*
 * At quiescence, a /dev/bufq queue's debugfs counters are those INFO
 * reports (both come from bufq_get_stats()), and fdinfo agrees.
 */
TEST(debugfs_matches_info)
{
	static const char *const keys[] = {
		"total", "free", "queued", "held", "high_water", "grown",
		"fetch_failed",
	};
	__u32 idx[6], x;
	struct bufq_info info;
	char name[128], *text;
	long long want[7];
	unsigned int i;
	int fd;

	fd = bq_queue(4, 128, 6, true);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, queue_name(fd, name, sizeof(name)));
	for (i = 0; i < 6; i++)
		ASSERT_EQ(0, bq_fetch(fd, &idx[i]));
	ASSERT_EQ(-EAGAIN, bq_fetch(fd, &x));
	ASSERT_EQ(0, bq_enqueue(fd, idx[0], 0));
	ASSERT_EQ(0, bq_enqueue(fd, idx[1], 0));
	ASSERT_EQ(0, bq_reuse(fd, idx[2]));

	ASSERT_EQ(0, bq_info(fd, &info));
	want[0] = info.out_total;
	want[1] = info.out_free;
	want[2] = info.out_queued;
	want[3] = info.out_held;
	want[4] = info.out_high_water;
	want[5] = info.out_grown;
	want[6] = info.out_fetch_failed;
	EXPECT_EQ(5, info.out_total);
	EXPECT_EQ(2, info.out_queued);
	EXPECT_EQ(3, info.out_held);
	EXPECT_EQ(1, info.out_fetch_failed);
	text = slurp(DEBUGFS "%s/stats", name);
	ASSERT_NE(NULL, text);
	for (i = 0; i < ARRAY_SIZE(keys); i++)
		EXPECT_EQ(want[i], value(text, keys[i])) TH_LOG("%s", keys[i]);
	EXPECT_EQ(0, value(text, "timers_armed"));
	EXPECT_LT(0, value(text, "footprint"));

	text = slurp(DEBUGFS "%s/config", name);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(4, value(text, "buffer_count"));
	EXPECT_EQ(6, value(text, "max_buffers"));
	EXPECT_NE(NULL, strstr(text, "lookaside: yes\n"));
	EXPECT_EQ(getpid(), value(text, "creator"));

	text = slurp("/proc/self/fdinfo/%d", fd);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "bufq-buffers:\t4 6 128\n")) TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, "bufq-counts:\t0 2 3 6\n")) TH_LOG("%s", text);
	close(fd);
}

/* The name says whose queue it is: dev-<pid>-<comm>-<id>. */
TEST(debugfs_names_owner)
{
	char name[128], prefix[64];
	int fd;

	ASSERT_EQ(0, prctl(PR_SET_NAME, "obs/test me"));
	fd = bq_queue(1, 16, 0, false);
	prctl(PR_SET_NAME, "bufq_obs_test");
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, queue_name(fd, name, sizeof(name)));
	snprintf(prefix, sizeof(prefix), "dev-%d-obs_test_me-", getpid());
	EXPECT_EQ(0, strncmp(name, prefix, strlen(prefix))) TH_LOG("%s", name);
	EXPECT_TRUE(exists(DEBUGFS "%s", name));
	close(fd);
}

/* The directory lives as long as the queue: the last close removes it. */
TEST(debugfs_dir_goes_with_queue)
{
	char name[128];
	int fd, fd2;

	fd = bq_queue(2, 32, 0, false);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, queue_name(fd, name, sizeof(name)));
	EXPECT_TRUE(exists(DEBUGFS "%s/stats", name));
	fd2 = dup(fd);
	close(fd);
	EXPECT_TRUE(exists(DEBUGFS "%s/stats", name));
	close(fd2);
	EXPECT_FALSE(exists(DEBUGFS "%s", name));
}

/*
 * A kernel client's queue (bufq_sample's) is there too, with its owner,
 * and its counters are those of bufq_get_stats(), which the sample shows
 * in its own file (idle: nobody writes to it meanwhile).
 */
TEST(debugfs_kernel_queue)
{
	unsigned int total, size, free, queued, held, high;
	struct dirent *de;
	char *text;
	int found = 0, n;
	DIR *d;

	if (access("/sys/module/bufq_sample", F_OK))
		SKIP(return, "bufq_sample not loaded");
	text = slurp("/dev/bufq-sample");
	ASSERT_NE(NULL, text);
	text = strstr(text, "queue: ");
	ASSERT_NE(NULL, text);
	n = sscanf(text, "queue: %u buffers of %u bytes, %*s %u, %*s %u, %*s %u, %*s %*s %u",
		   &total, &size, &free, &queued, &held, &high);
	ASSERT_EQ(6, n);

	d = opendir(DEBUGFS);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "bufq_sample-", 12))
			continue;
		found++;
		text = slurp(DEBUGFS "%s/config", de->d_name);
		ASSERT_NE(NULL, text);
		EXPECT_EQ(16, value(text, "buffer_count"));
		EXPECT_EQ(size, value(text, "buffer_size"));
		EXPECT_NE(NULL, strstr(text, "creator: ")) TH_LOG("%s", text);
		text = slurp(DEBUGFS "%s/stats", de->d_name);
		ASSERT_NE(NULL, text);
		EXPECT_EQ(total, value(text, "total"));
		EXPECT_EQ(free, value(text, "free"));
		EXPECT_EQ(queued, value(text, "queued"));
		EXPECT_EQ(held, value(text, "held"));
		EXPECT_EQ(high, value(text, "high_water"));
	}
	closedir(d);
	EXPECT_EQ(1, found);
}

/* ---- bufqctl top and trace --------------------------------------------- */

/* The line of queue @name in a `bufqctl top` listing, or NULL. */
static const char *top_row(const char *out, const char *name)
{
	size_t len = strlen(name);
	const char *p;

	for (p = out; (p = strstr(p, name)); p += len)
		if ((p == out || p[-1] == '\n') && p[len] == ' ')
			return p;
	return NULL;
}

/*
 * `bufqctl top --once` lists every queue of a scenario: three /dev/bufq
 * queues in two processes and the sample's kernel queue, deepest first,
 * with their counters.
 */
TEST(top_once)
{
	char n1[128], n2[128], n3[128], out[TEXT_MAX];
	unsigned long long t, f, q, h;
	const char *r1, *r2, *r3;
	int p[2], go[2], fd1, fd3;
	__u32 idx;
	pid_t pid;
	int i;

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {		/* q2: 10 buffers, 5 queued, 5 held */
		char name[128] = "";
		int fd;

		alarm(CHILD_ALARM);
		prctl(PR_SET_NAME, "obs-child");
		fd = bq_queue(8, 32, 10, true);
		for (i = 0; fd >= 0 && i < 10; i++)
			if (bq_fetch(fd, &idx) || (i < 5 && bq_enqueue(fd, idx, 0)))
				_exit(1);
		if (fd < 0 || queue_name(fd, name, sizeof(name)))
			_exit(1);
		if (write(p[1], name, sizeof(name)) != sizeof(name))
			_exit(1);
		close(go[1]);
		read(go[0], &i, 1);	/* until the parent is done */
		_exit(0);
	}
	close(go[0]);
	ASSERT_EQ(sizeof(n2), read(p[0], n2, sizeof(n2)));

	fd1 = bq_queue(4, 64, 0, false);	/* q1: 3 queued, 1 free */
	ASSERT_LE(0, fd1);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, bq_fetch(fd1, &idx));
		ASSERT_EQ(0, bq_enqueue(fd1, idx, 0));
	}
	fd3 = bq_queue(2, 16, 0, false);	/* q3: idle */
	ASSERT_LE(0, fd3);
	ASSERT_EQ(0, queue_name(fd1, n1, sizeof(n1)));
	ASSERT_EQ(0, queue_name(fd3, n3, sizeof(n3)));

	ASSERT_EQ(0, run_bufqctl(out, sizeof(out),
				 (char *const[]){ "bufqctl", "top", "--once",
						  NULL }));
	close(go[1]);
	EXPECT_EQ(0, wait_child_status(pid));
	close(fd1);
	close(fd3);
	TH_LOG("%s", out);

	EXPECT_EQ(0, strncmp(out, "QUEUE ", 6));
	r1 = top_row(out, n1);
	r2 = top_row(out, n2);
	r3 = top_row(out, n3);
	ASSERT_NE(NULL, r1);
	ASSERT_NE(NULL, r2);
	ASSERT_NE(NULL, r3);
	EXPECT_TRUE(r2 < r1 && r1 < r3);	/* by depth: 5, 3, 0 */
	i = sscanf(r1 + strlen(n1), "%llu %llu %llu %llu", &t, &f, &q, &h);
	ASSERT_EQ(4, i);
	EXPECT_TRUE(t == 4 && f == 1 && q == 3 && h == 0);
	i = sscanf(r2 + strlen(n2), "%llu %llu %llu %llu", &t, &f, &q, &h);
	ASSERT_EQ(4, i);
	EXPECT_TRUE(t == 10 && f == 0 && q == 5 && h == 5);
	i = sscanf(r3 + strlen(n3), "%llu %llu %llu %llu", &t, &f, &q, &h);
	ASSERT_EQ(4, i);
	EXPECT_TRUE(t == 2 && f == 2 && q == 0 && h == 0);
	if (!access("/sys/module/bufq_sample", F_OK))
		EXPECT_NE(NULL, strstr(out, "\nbufq_sample-"));
}

/*
 * `bufqctl trace` follows one queue: it counts each event of a scripted
 * run exactly and measures one latency per buffer handed back.
 */
TEST(trace_tool)
{
	char name[128], out[TEXT_MAX], want[256];
	double p50, p99, max;
	size_t len = 0;
	__u32 idx[4], x;
	const char *s;
	int fd, p[2], i;
	ssize_t n;
	pid_t pid;

	fd = bq_queue(4, 64, 0, false);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, queue_name(fd, name, sizeof(name)));
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		alarm(CHILD_ALARM);
		execl(bufqctl_path(), "bufqctl", "trace", name, "--count", "50", NULL);
		_exit(127);
	}
	close(p[1]);
	/* Its first line says the events are on. */
	while (!memchr(out, '\n', len) &&
	       (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	ASSERT_NE(NULL, memchr(out, '\n', len));

	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, bq_fetch(fd, &idx[i]));
	ASSERT_EQ(-EAGAIN, bq_fetch(fd, &x));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, bq_reuse(fd, idx[i]));
	for (i = 0; i < 46; i++) {
		ASSERT_EQ(0, bq_fetch(fd, &x));
		ASSERT_EQ(0, bq_enqueue(fd, x, 0));
		ASSERT_EQ(0, bq_dequeue(fd, &x));
		ASSERT_EQ(0, bq_reuse(fd, x));
	}

	while ((n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(p[0]);
	EXPECT_EQ(0, wait_child_status(pid));
	close(fd);
	TH_LOG("%s", out);

	snprintf(want, sizeof(want), "tracing %s:", name);
	EXPECT_EQ(0, strncmp(out, want, strlen(want)));
	EXPECT_NE(NULL, strstr(out, " fetch=50 failed=1 grown=0 enqueue=46 "));
	EXPECT_NE(NULL, strstr(out, " dequeue=46 expired=0 reuse=50 freed=0 flush=0\n"));
	s = strstr(out, "fetch-to-reuse: n=50 ");
	ASSERT_NE(NULL, s);
	i = sscanf(s, "fetch-to-reuse: n=50 p50=%lfus p99=%lfus max=%lfus",
		   &p50, &p99, &max);
	ASSERT_EQ(3, i);
	EXPECT_TRUE(p50 >= 0 && p50 <= p99 && p99 <= max);
	EXPECT_NE(NULL, strstr(out, "enqueue-to-dequeue: n=46 "));
	/* Its tracefs instance is gone. */
	snprintf(want, sizeof(want), TRACEFS "instances/bufqctl-%d", pid);
	EXPECT_NE(0, access(want, F_OK));
}

TEST_HARNESS_MAIN
