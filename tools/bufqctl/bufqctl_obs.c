// SPDX-License-Identifier: GPL-2.0
/*
 * bufqctl top, bufqctl trace: watch every queue on the system
 *
 *   bufqctl top [--once] [--interval S]
 *   bufqctl trace NAME [--interval S] [--duration S] [--count N]
 *
 * top reads /sys/kernel/debug/bufq/<queue>/{config,stats} (kernel clients'
 * queues and /dev/bufq files' alike). trace follows one queue's trace
 * events in a tracefs instance of its own, so that it disturbs no other
 * tracing, and prints per-second rates and latency percentiles.
 * $BUFQ_DEBUGFS and $BUFQ_TRACEFS override where debugfs and tracefs are.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bufqctl.h"

#define OBS_NAME_MAX	256

/* ------------------------------------------------------------------ */
/* top */

/* One queue as debugfs shows it. */
struct obs_queue {
	char name[OBS_NAME_MAX];
	unsigned long long total, free, queued, held, high_water, grown;
	unsigned long long fetch_failed, timers_armed, footprint;
	unsigned long long buffer_size, max_buffers;
};

static const char *obs_debugfs(void)
{
	const char *env = getenv("BUFQ_DEBUGFS");

	return env && *env ? env : "/sys/kernel/debug";
}

/* Read "key: value" lines of @path; set the fields @q has names for. */
static int obs_read_keys(const char *path, struct obs_queue *q)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
#define K(f) { #f, offsetof(struct obs_queue, f) }
		K(total), K(free), K(queued), K(held), K(high_water),
		K(grown), K(fetch_failed), K(timers_armed), K(footprint),
		K(buffer_size), K(max_buffers),
#undef K
	};
	char line[512], key[64];
	unsigned long long v;
	size_t i;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63[^:]: %llu", key, &v) != 2)
			continue;
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strcmp(key, keys[i].key))
				*(unsigned long long *)((char *)q + keys[i].off) = v;
	}
	fclose(f);
	return 0;
}

static int obs_cmp_depth(const void *a, const void *b)
{
	const struct obs_queue *x = a, *y = b;

	if (x->queued != y->queued)
		return x->queued < y->queued ? 1 : -1;
	if (x->held != y->held)
		return x->held < y->held ? 1 : -1;
	return strcmp(x->name, y->name);
}

/*
 * Every queue in debugfs, deepest first. A queue destroyed while we read
 * it is skipped. Return: how many, in *@out (malloc'd), or -errno.
 */
static int obs_scan(struct obs_queue **out)
{
	struct obs_queue *qs = NULL, *q;
	char dir[PATH_MAX], path[PATH_MAX + OBS_NAME_MAX + 16];
	struct dirent *de;
	int n = 0, cap = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/bufq", obs_debugfs());
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			qs = realloc(qs, cap * sizeof(*qs));
			if (!qs)
				die("out of memory");
		}
		q = &qs[n];
		memset(q, 0, sizeof(*q));
		snprintf(q->name, sizeof(q->name), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s/config", dir, de->d_name);
		if (obs_read_keys(path, q))
			continue;
		snprintf(path, sizeof(path), "%s/%s/stats", dir, de->d_name);
		if (obs_read_keys(path, q))
			continue;
		n++;
	}
	closedir(d);
	qsort(qs, n, sizeof(*qs), obs_cmp_depth);
	*out = qs;
	return n;
}

/* 1536 -> "1.5K": four columns at most. */
static const char *obs_bytes(unsigned long long v, char *buf, size_t size)
{
	static const char units[] = "KMGT";
	double x = v;
	int u = -1;

	while (x >= 1024 && u < 3) {
		x /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%llu", v);
	else
		snprintf(buf, size, x < 10 ? "%.1f%c" : "%.0f%c", x, units[u]);
	return buf;
}

static void obs_top_print(const struct obs_queue *qs, int n)
{
	char fp[16];
	int i;

	printf("%-32s %6s %6s %6s %6s %6s %6s %7s %6s %7s\n", "QUEUE", "TOTAL",
	       "FREE", "QUEUED", "HELD", "HIGH", "GROWN", "FAILED", "TIMERS",
	       "MEMORY");
	for (i = 0; i < n; i++)
		printf("%-32s %6llu %6llu %6llu %6llu %6llu %6llu %7llu %6llu %7s\n",
		       qs[i].name, qs[i].total, qs[i].free, qs[i].queued,
		       qs[i].held, qs[i].high_water, qs[i].grown,
		       qs[i].fetch_failed, qs[i].timers_armed,
		       obs_bytes(qs[i].footprint, fp, sizeof(fp)));
}

/* Set by SIGINT, SIGTERM or SIGHUP: finish and clean up. */
static atomic_bool obs_stop;

static void obs_on_signal(int sig)
{
	atomic_store(&obs_stop, true);
}

static void obs_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = obs_on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static double obs_parse_secs(const char *opt, const char *arg)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || v <= 0 || v > 86400)
		usage_error("%s: invalid number of seconds '%s'", opt, arg);
	return v;
}

static void obs_sleep(double secs)
{
	struct timespec ts = {
		.tv_sec = (time_t)secs,
		.tv_nsec = (long)((secs - (time_t)secs) * 1e9),
	};

	nanosleep(&ts, NULL);	/* a signal ends it early, as it should */
}

enum { OBS_ONCE = 0x200, OBS_INTERVAL, OBS_DURATION, OBS_COUNT, OBS_HELP };

static const struct option obs_opts[] = {
	{ "once", no_argument, NULL, OBS_ONCE },
	{ "interval", required_argument, NULL, OBS_INTERVAL },
	{ "duration", required_argument, NULL, OBS_DURATION },
	{ "count", required_argument, NULL, OBS_COUNT },
	{ "help", no_argument, NULL, OBS_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Options of top and trace; each refuses the other's. */
struct obs_args {
	bool once;
	double interval;
	double duration;
	unsigned long long count;
	const char *name;
};

static void obs_parse(int argc, char **argv, bool trace, struct obs_args *a)
{
	int opt;

	a->interval = 1;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", obs_opts, NULL)) != -1) {
		if (opt == ':')
			usage_error("option '%s' needs a value", argv[optind - 1]);
		if (opt == '?' || (trace && opt == OBS_ONCE) ||
		    (!trace && (opt == OBS_DURATION || opt == OBS_COUNT)))
			usage_error("unknown option '%s'", argv[optind - 1]);
		switch (opt) {
		case 'h':
		case OBS_HELP:
			bufqctl_cmd_help();
			exit(0);
		case OBS_ONCE:
			a->once = true;
			break;
		case OBS_INTERVAL:
			a->interval = obs_parse_secs("--interval", optarg);
			break;
		case OBS_DURATION:
			a->duration = obs_parse_secs("--duration", optarg);
			break;
		case OBS_COUNT:
			a->count = parse_num("--count", optarg, 1ULL << 40);
			break;
		}
	}
	if (trace && optind == argc - 1)
		a->name = argv[optind++];
	else if (trace && optind >= argc)
		usage_error("which queue? bufqctl top lists them");
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

/**
 * bufqctl_top() - list every queue, deepest first, until interrupted
 * @argc: arguments after "top"
 * @argv: them, argv[0] being "top"
 *
 * Return: exit status.
 */
int bufqctl_top(int argc, char **argv)
{
	struct obs_queue *qs;
	struct obs_args a = { 0 };
	int n;

	obs_parse(argc, argv, false, &a);
	obs_catch_signals();
	setvbuf(stdout, NULL, _IOLBF, 0);
	do {
		n = obs_scan(&qs);
		if (n < 0)
			die_err(-n, "%s/bufq (is debugfs mounted and bufq loaded?)",
				obs_debugfs());
		if (!a.once)
			printf("\033[H\033[2J%d queues, every %gs (Ctrl-C to quit)\n",
			       n, a.interval);
		obs_top_print(qs, n);
		free(qs);
		if (!a.once)
			obs_sleep(a.interval);
	} while (!a.once && !atomic_load(&obs_stop));
	return 0;
}

/* ------------------------------------------------------------------ */
/* trace */

enum obs_ev {
	EV_FETCH, EV_FAILED, EV_GROWN, EV_ENQUEUE, EV_DEQUEUE, EV_EXPIRE,
	EV_REUSE, EV_FREED, EV_FLUSH, EV_NR
};

static const char * const obs_ev_names[EV_NR] = {
	"fetch", "failed", "grown", "enqueue", "dequeue", "expired",
	"reuse", "freed", "flush",
};

/* Timestamps (us) by buffer id, for the two latencies. */
struct obs_pending {
	char buf[24];
	double fetched, enqueued;
};

/* Latency samples, in microseconds. */
struct obs_samples {
	double *v;
	size_t n, cap;
};

struct obs_trace {
	char inst[PATH_MAX];
	unsigned long long total[EV_NR], interval[EV_NR];
	unsigned long long queued, free;
	struct obs_pending *pend;
	size_t npend, cappend;
	struct obs_samples hold, wait;	/* fetch->reuse, enqueue->dequeue */
};

static void obs_sample(struct obs_samples *s, double us)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = us;
}

/* The pending entry of buffer @id; made if @make, else NULL if none. */
static struct obs_pending *obs_pend(struct obs_trace *t, const char *id,
				    bool make)
{
	size_t i;

	for (i = 0; i < t->npend; i++)
		if (!strcmp(t->pend[i].buf, id))
			return &t->pend[i];
	if (!make)
		return NULL;
	if (t->npend == t->cappend) {
		t->cappend = t->cappend ? 2 * t->cappend : 64;
		t->pend = realloc(t->pend, t->cappend * sizeof(*t->pend));
		if (!t->pend)
			die("out of memory");
	}
	memset(&t->pend[t->npend], 0, sizeof(*t->pend));
	snprintf(t->pend[t->npend].buf, sizeof(t->pend->buf), "%s", id);
	return &t->pend[t->npend++];
}

static void obs_unpend(struct obs_trace *t, struct obs_pending *p)
{
	*p = t->pend[--t->npend];
}

/* The value of " key=" in @s, into @out; false if absent. */
static bool obs_field(const char *s, const char *key, char *out, size_t size)
{
	char pat[32];
	const char *p;
	size_t len;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(s, pat);
	if (!p)
		return false;
	p += strlen(pat);
	len = strcspn(p, "\n ");
	if (len >= size)
		len = size - 1;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

static void obs_count(struct obs_trace *t, enum obs_ev ev)
{
	t->total[ev]++;
	t->interval[ev]++;
}

/* One line of trace_pipe: "<task>-<pid> [cpu] flags <sec.usec>: <event>: ..." */
static void obs_line(struct obs_trace *t, const char *line)
{
	char id[24], v[24], ev[32];
	const char *p = strstr(line, ": bufq_");
	struct obs_pending *pe;
	double us;

	if (!p || p == line)
		return;
	while (p > line && p[-1] != ' ')
		p--;
	if (sscanf(p, "%lf: bufq_%31[a-z_]:", &us, ev) != 2)
		return;
	us *= 1e6;
	p = strchr(p, ':') + 1;
	if (obs_field(p, "queued", v, sizeof(v)))
		t->queued = strtoull(v, NULL, 10);
	if (obs_field(p, "free", v, sizeof(v)))
		t->free = strtoull(v, NULL, 10);
	if (!obs_field(p, "buf", id, sizeof(id)))
		id[0] = '\0';

	if (!strcmp(ev, "fetch")) {
		obs_field(p, "err", v, sizeof(v));
		if (strcmp(v, "0")) {
			obs_count(t, EV_FAILED);
			return;
		}
		obs_count(t, EV_FETCH);
		obs_field(p, "grown", v, sizeof(v));
		if (!strcmp(v, "1"))
			obs_count(t, EV_GROWN);
		obs_pend(t, id, true)->fetched = us;
	} else if (!strcmp(ev, "enqueue")) {
		obs_count(t, EV_ENQUEUE);
		obs_pend(t, id, true)->enqueued = us;
	} else if (!strcmp(ev, "dequeue") || !strcmp(ev, "timer_expire")) {
		obs_count(t, ev[0] == 'd' ? EV_DEQUEUE : EV_EXPIRE);
		pe = obs_pend(t, id, false);
		if (pe && pe->enqueued && ev[0] == 'd')
			obs_sample(&t->wait, us - pe->enqueued);
		if (pe)
			pe->enqueued = 0;
	} else if (!strcmp(ev, "reuse")) {
		obs_field(p, "kept", v, sizeof(v));
		obs_count(t, strcmp(v, "0") ? EV_REUSE : EV_FREED);
		pe = obs_pend(t, id, false);
		if (pe && pe->fetched)
			obs_sample(&t->hold, us - pe->fetched);
		if (pe)
			obs_unpend(t, pe);
	} else if (!strcmp(ev, "flush")) {
		obs_count(t, EV_FLUSH);
	}
}

/* Write @val to @dir/@file; 0 or -errno, with a message. */
static int obs_write(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX + 64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0) {
		ret = -errno;
		fprintf(stderr, "bufqctl: %s: writing '%s': %s\n", path, val,
			strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/* tracefs, mounted if it is not yet. */
static const char *obs_tracefs(void)
{
	static const char *const dirs[] = {
		"/sys/kernel/tracing", "/sys/kernel/debug/tracing",
	};
	const char *env = getenv("BUFQ_TRACEFS");
	static char path[PATH_MAX];
	size_t i;

	if (env && *env)
		return env;
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s/instances", dirs[i]);
		if (!access(path, F_OK))
			return dirs[i];
	}
	if (mount("tracefs", dirs[0], "tracefs", 0, NULL))
		die("mount tracefs on %s", dirs[0]);
	return dirs[0];
}

/* Set up a private tracefs instance following queue @name. */
static void obs_trace_start(struct obs_trace *t, const char *name)
{
	const char *tfs = obs_tracefs();
	char path[PATH_MAX], filter[OBS_NAME_MAX + 16];

	snprintf(path, sizeof(path), "%s/events/bufq", tfs);
	if (access(path, F_OK))
		die("%s (is bufq loaded?)", path);
	snprintf(t->inst, sizeof(t->inst), "%s/instances/bufqctl-%d", tfs,
		 (int)getpid());
	if (mkdir(t->inst, 0700))
		die("mkdir %s", t->inst);
	snprintf(filter, sizeof(filter), "name == \"%s\"", name);
	if (obs_write(t->inst, "events/bufq/filter", filter) ||
	    obs_write(t->inst, "events/bufq/enable", "1")) {
		rmdir(t->inst);
		exit(1);
	}
}

/* Remove the instance; its trace_pipe must be closed (else EBUSY). */
static void obs_trace_remove(struct obs_trace *t)
{
	if (rmdir(t->inst))
		fprintf(stderr, "bufqctl: rmdir %s: %s\n", t->inst,
			strerror(errno));
}

static double obs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void obs_rates(struct obs_trace *t, double secs, double elapsed)
{
	int i;

	printf("%8.1f", elapsed);
	for (i = 0; i < EV_NR; i++)
		printf(" %9.0f", t->interval[i] / secs);
	printf(" %7llu %7llu\n", t->queued, t->free);
	memset(t->interval, 0, sizeof(t->interval));
}

static int obs_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void obs_percentiles(const char *what, struct obs_samples *s)
{
	size_t p50, p99;

	if (!s->n) {
		printf("%s: no samples\n", what);
		return;
	}
	qsort(s->v, s->n, sizeof(*s->v), obs_cmp_double);
	p50 = (s->n - 1) / 2;
	p99 = (s->n - 1) * 99 / 100;
	printf("%s: n=%zu p50=%.0fus p99=%.0fus max=%.0fus\n", what, s->n,
	       s->v[p50], s->v[p99], s->v[s->n - 1]);
}

static void obs_summary(struct obs_trace *t, double elapsed)
{
	int i;

	printf("total over %.1fs:", elapsed);
	for (i = 0; i < EV_NR; i++)
		printf(" %s=%llu", obs_ev_names[i], t->total[i]);
	printf("\n");
	obs_percentiles("fetch-to-reuse", &t->hold);
	obs_percentiles("enqueue-to-dequeue", &t->wait);
}

/* Read what trace_pipe has; false at end of file. */
static bool obs_drain(struct obs_trace *t, FILE *f)
{
	char line[1024];

	while (fgets(line, sizeof(line), f))
		obs_line(t, line);
	if (feof(f))
		return false;
	clearerr(f);
	return true;
}

/**
 * bufqctl_trace() - follow one queue's events until interrupted
 * @argc: arguments after "trace"
 * @argv: them, argv[0] being "trace"
 *
 * Return: exit status.
 */
int bufqctl_trace(int argc, char **argv)
{
	struct obs_trace t = { 0 };
	struct obs_args a = { 0 };
	double start, last, now;
	struct pollfd pfd;
	char path[PATH_MAX + 16];
	FILE *f;
	int i;

	obs_parse(argc, argv, true, &a);
	obs_catch_signals();
	setvbuf(stdout, NULL, _IOLBF, 0);
	obs_trace_start(&t, a.name);
	snprintf(path, sizeof(path), "%s/trace_pipe", t.inst);
	pfd.fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (pfd.fd < 0)
		die("%s", path);
	pfd.events = POLLIN;
	f = fdopen(pfd.fd, "r");
	printf("tracing %s: events per second\n%8s", a.name, "time");
	for (i = 0; i < EV_NR; i++)
		printf(" %9s", obs_ev_names[i]);
	printf(" %7s %7s\n", "queued", "free");
	start = obs_now();
	last = start;
	while (!atomic_load(&obs_stop)) {
		poll(&pfd, 1, 100);
		obs_drain(&t, f);
		now = obs_now();
		if (now - last >= a.interval) {
			obs_rates(&t, now - last, now - start);
			last = now;
		}
		if ((a.duration && now - start >= a.duration) ||
		    (a.count && t.total[EV_REUSE] + t.total[EV_FREED] >= a.count))
			break;
	}
	obs_write(t.inst, "events/bufq/enable", "0");
	obs_drain(&t, f);
	fclose(f);
	obs_trace_remove(&t);
	obs_summary(&t, obs_now() - start);
	free(t.pend);
	free(t.hold.v);
	free(t.wait.v);
	return 0;
}
