// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit cases for the kernel side of a queue user space can map:
 * &bufq_config.mappable, bufq_set_payload()/bufq_payload() and the
 * checks of bufq_file_attach(). What user space does with such a queue is
 * the kselftests' (tests/bufq_testdev_test.c, tests/bufq_dev_test.c).
 */
#define pr_fmt(fmt) "bufq-test: " fmt	/* scan-log.py's WARNING windows */

#include <kunit/test.h>
#include <linux/bufq.h>
#include <linux/kmsg_dump.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#define BUFQ_MAP_COUNT	2
#define BUFQ_MAP_MAX	6

KUNIT_DEFINE_ACTION_WRAPPER(bufq_map_destroy_action, bufq_destroy,
			    struct bufq *);

static void bufq_map_config(struct bufq_config *cfg, unsigned int size)
{
	*cfg = (struct bufq_config) {
		.name = "bufq_map_test",
		.buffer_count = BUFQ_MAP_COUNT,
		.buffer_size = size,
		.context_size = 16,
		.max_buffers = BUFQ_MAP_MAX,
		.lookaside = true,
		.mappable = true,
	};
}

static struct bufq *bufq_map_create(struct kunit *test,
				    const struct bufq_config *cfg)
{
	struct bufq *q = bufq_create(cfg);
	int ret;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, q);
	ret = kunit_add_action_or_reset(test, bufq_map_destroy_action, q);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return q;
}

struct bufq_map_config_case {
	const char *name;
	unsigned int count, size, max;
	bool lookaside;
	int err;
};

static const struct bufq_map_config_case bufq_map_config_cases[] = {
	{ "fixed", 4, 100, 0, false, 0 },
	{ "lookaside-capped", 1, 4096, 8, true, 0 },
	{ "lookaside-zero-count", 0, 1, 3, true, 0 },
	{ "lookaside-uncapped", 1, 64, 0, true, -EINVAL },
	{ "no-data", 4, 0, 0, false, -EINVAL },
};

static void bufq_map_config_desc(const struct bufq_map_config_case *c,
				 char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(bufq_map_config, bufq_map_config_cases,
		  bufq_map_config_desc);

/*
 * A mappable queue needs a cap and a data area; with an atomic gfp it
 * makes every index's data area at once, whole pages, and counts them in
 * mem_bytes.
 */
static void bufq_map_test_config(struct kunit *test)
{
	const struct bufq_map_config_case *c = test->param_value;
	unsigned int cap = c->lookaside ? c->max : c->count;
	struct bufq_config cfg = {
		.name = "bufq_map_config",
		.buffer_count = c->count,
		.buffer_size = c->size,
		.max_buffers = c->max,
		.lookaside = c->lookaside,
		.mappable = true,
	};
	struct bufq_stats st;
	struct bufq *q;

	q = bufq_create(&cfg);
	if (c->err) {
		KUNIT_EXPECT_EQ(test, PTR_ERR(q), c->err);
		return;
	}
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, q);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.total, c->count);
	/* An atomic gfp (the default): every index's data area at once. */
	KUNIT_EXPECT_GE(test, st.mem_bytes,
			(unsigned long)cap * PAGE_ALIGN(c->size));
	bufq_destroy(q);
}

/*
 * With a gfp that may sleep, an index's data area is made on its first
 * use and kept: growth to the cap adds one data area per new index to
 * mem_bytes, shrink frees headers only, and growing to the cap again
 * makes no data area.
 */
static void bufq_map_test_lazy(struct kunit *test)
{
	unsigned long created, grown, shrunk, regrown;
	const unsigned long area = PAGE_ALIGN(200 + 16);
	const unsigned long grow = BUFQ_MAP_MAX - BUFQ_MAP_COUNT;
	void *bufs[BUFQ_MAP_MAX];
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;
	unsigned int i, round;

	bufq_map_config(&cfg, 200);
	cfg.gfp = GFP_KERNEL;
	q = bufq_map_create(test, &cfg);
	bufq_get_stats(q, &st);
	created = st.mem_bytes;
	KUNIT_EXPECT_LT(test, created, BUFQ_MAP_MAX * area);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < BUFQ_MAP_MAX; i++)
			KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], NULL), 0);
		bufq_get_stats(q, &st);
		if (!round)
			grown = st.mem_bytes;
		else
			regrown = st.mem_bytes;
		for (i = 0; i < BUFQ_MAP_MAX; i++)
			KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
		bufq_get_stats(q, &st);
		KUNIT_EXPECT_EQ(test, st.total, BUFQ_MAP_COUNT);
		shrunk = st.mem_bytes;
		/* The data areas of the grown indices stay. */
		KUNIT_EXPECT_GE(test, shrunk, created + grow * area);
	}
	KUNIT_EXPECT_GE(test, grown - created, grow * area);
	KUNIT_EXPECT_EQ(test, regrown, grown);
}

/*
 * Each buffer's data area is page-aligned pages of its own, of
 * PAGE_ALIGN(buffer_size) bytes, in the direct map: bufq_desc() says so,
 * and no two buffers share a page.
 */
static void bufq_map_test_layout(struct kunit *test)
{
	void *bufs[BUFQ_MAP_MAX];
	struct bufq_config cfg;
	struct bufq_desc desc;
	struct bufq *q;
	unsigned int i, j;

	bufq_map_config(&cfg, PAGE_SIZE + 1);
	q = bufq_map_create(test, &cfg);
	for (i = 0; i < BUFQ_MAP_MAX; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], NULL), 0);
		KUNIT_EXPECT_TRUE(test, PAGE_ALIGNED(bufs[i]));
		bufq_desc(q, bufs[i], &desc);
		KUNIT_EXPECT_PTR_EQ(test, desc.addr, bufs[i]);
		KUNIT_EXPECT_EQ(test, desc.len, (size_t)PAGE_SIZE + 1);
		KUNIT_EXPECT_EQ(test, desc.offset, 0);
		KUNIT_EXPECT_PTR_EQ(test, desc.page, virt_to_page(bufs[i]));
		/* The whole of it is ours to write. */
		memset(bufs[i], i, 2 * PAGE_SIZE);
		for (j = 0; j < i; j++)
			KUNIT_EXPECT_GE(test, abs(bufs[i] - bufs[j]),
					2 * PAGE_SIZE);
	}
	KUNIT_EXPECT_EQ(test, bufq_fetch(q, &bufs[0], NULL), -ENOBUFS);
	for (i = 0; i < BUFQ_MAP_MAX; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
}

/*
 * Lookaside shrink frees headers, not data areas: after growing to the
 * cap, shrinking back to buffer_count and growing again, the buffers are
 * the same data areas as before, with what was written in them.
 */
static void bufq_map_test_data_kept(struct kunit *test)
{
	void *first[BUFQ_MAP_MAX], *again[BUFQ_MAP_MAX];
	unsigned int i, j, found;
	struct bufq_config cfg;
	struct bufq_stats st;
	struct bufq *q;

	bufq_map_config(&cfg, 200);
	q = bufq_map_create(test, &cfg);
	for (i = 0; i < BUFQ_MAP_MAX; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &first[i], NULL), 0);
		memset(first[i], 0xa0 + i, 200);
	}
	for (i = 0; i < BUFQ_MAP_MAX; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, first[i]), 0);
	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.total, BUFQ_MAP_COUNT);	/* shrunk */

	for (i = 0; i < BUFQ_MAP_MAX; i++)
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &again[i], NULL), 0);
	for (i = 0; i < BUFQ_MAP_MAX; i++) {
		for (found = 0, j = 0; j < BUFQ_MAP_MAX; j++)
			found += again[i] == first[j];
		KUNIT_EXPECT_EQ(test, found, 1);
		for (j = 0; j < BUFQ_MAP_MAX; j++)
			if (again[i] == first[j])
				KUNIT_EXPECT_EQ(test,
						((u8 *)again[i])[199], 0xa0 + j);
	}
	for (i = 0; i < BUFQ_MAP_MAX; i++)
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, again[i]), 0);
}

/*
 * The payload: 0 for a new buffer, what bufq_set_payload() set through
 * enqueue and dequeue, kept by reuse; refused beyond buffer_size and on a
 * queue that is not mappable.
 */
static void bufq_map_test_payload(struct kunit *test)
{
	struct bufq_config cfg;
	struct bufq *q, *plain;
	void *buf, *out;

	bufq_map_config(&cfg, 300);
	cfg.lookaside = false;
	cfg.max_buffers = 0;
	cfg.buffer_count = 1;
	q = bufq_map_create(test, &cfg);
	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_payload(q, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_set_payload(q, buf, 301), -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_payload(q, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_set_payload(q, buf, 300), 0);
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf), 0);
	KUNIT_ASSERT_EQ(test, bufq_dequeue(q, &out, NULL), 0);
	KUNIT_EXPECT_PTR_EQ(test, out, buf);
	KUNIT_EXPECT_EQ(test, bufq_payload(q, out), 300);
	KUNIT_EXPECT_EQ(test, bufq_set_payload(q, out, 0), 0);
	KUNIT_EXPECT_EQ(test, bufq_payload(q, out), 0);
	KUNIT_EXPECT_EQ(test, bufq_set_payload(q, out, 7), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, out), 0);
	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_payload(q, buf), 7);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);

	cfg.mappable = false;
	plain = bufq_map_create(test, &cfg);
	KUNIT_ASSERT_EQ(test, bufq_fetch(plain, &buf, NULL), 0);
	KUNIT_EXPECT_EQ(test, bufq_set_payload(plain, buf, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_payload(plain, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(plain, buf), 0);
}

/* The context area of a mappable buffer is its own, and stays its own. */
static void bufq_map_test_context(struct kunit *test)
{
	void *bufs[BUFQ_MAP_MAX], *ctx[BUFQ_MAP_MAX], *c;
	struct bufq_config cfg;
	struct bufq *q;
	unsigned int i;

	bufq_map_config(&cfg, PAGE_SIZE);
	q = bufq_map_create(test, &cfg);
	for (i = 0; i < BUFQ_MAP_MAX; i++) {
		KUNIT_ASSERT_EQ(test, bufq_fetch(q, &bufs[i], &ctx[i]), 0);
		KUNIT_EXPECT_TRUE(test, IS_ALIGNED((unsigned long)ctx[i], 8));
		KUNIT_EXPECT_PTR_EQ(test, bufq_context(q, bufs[i]), ctx[i]);
		memset(ctx[i], i, 16);
	}
	for (i = 0; i < BUFQ_MAP_MAX; i++) {
		c = bufq_context(q, bufs[i]);
		KUNIT_EXPECT_EQ(test, ((u8 *)c)[15], i);
		KUNIT_EXPECT_EQ(test, bufq_reuse(q, bufs[i]), 0);
	}
}

/*
 * A pointer into a mappable buffer that is not its start, or a buffer
 * handed back twice, is refused with -EINVAL and one warning each, and
 * nothing changes.
 */
static void bufq_map_test_refused(struct kunit *test)
{
	struct kmsg_dump_iter iter;
	struct bufq_config cfg;
	struct bufq_stats st;
	unsigned int warns = 0;
	char line[256];
	struct bufq *q;
	size_t len;
	void *buf;

	bufq_map_config(&cfg, 2 * PAGE_SIZE);
	q = bufq_map_create(test, &cfg);
	KUNIT_ASSERT_EQ(test, bufq_fetch(q, &buf, NULL), 0);

	pr_info("expect WARNING begin\n");
	kmsg_dump_rewind(&iter);
	iter.cur_seq = iter.next_seq;
	KUNIT_EXPECT_EQ(test, bufq_enqueue(q, buf + PAGE_SIZE), -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf + 8), -EINVAL);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), 0);
	KUNIT_EXPECT_EQ(test, bufq_reuse(q, buf), -EINVAL);
	while (kmsg_dump_get_line(&iter, false, line, sizeof(line) - 1, &len)) {
		line[len] = '\0';
		warns += !!strstr(line, "WARNING:");
	}
	pr_info("expect WARNING end\n");
	KUNIT_EXPECT_EQ(test, warns, 3);

	bufq_get_stats(q, &st);
	KUNIT_EXPECT_EQ(test, st.held, 0);
	KUNIT_EXPECT_EQ(test, st.free, BUFQ_MAP_COUNT);
}

/*
 * bufq_file_attach() takes only a mappable queue and known operations; it
 * refuses before it touches the file.
 */
static void bufq_map_test_attach_refused(struct kunit *test)
{
	struct bufq_file_config fc = { .ops = BUFQ_OPS_DEQUEUE };
	struct bufq_config cfg;
	struct bufq *q;

	bufq_map_config(&cfg, 64);
	cfg.mappable = false;
	q = bufq_map_create(test, &cfg);
	KUNIT_EXPECT_EQ(test, bufq_file_attach(NULL, q, &fc), -EINVAL);

	cfg.mappable = true;
	q = bufq_map_create(test, &cfg);
	fc.ops = BUFQ_OPS_ALL + 1;
	KUNIT_EXPECT_EQ(test, bufq_file_attach(NULL, q, &fc), -EINVAL);
}

static struct kunit_case bufq_map_test_cases[] = {
	KUNIT_CASE_PARAM(bufq_map_test_config, bufq_map_config_gen_params),
	KUNIT_CASE(bufq_map_test_layout),
	KUNIT_CASE(bufq_map_test_data_kept),
	KUNIT_CASE(bufq_map_test_lazy),
	KUNIT_CASE(bufq_map_test_payload),
	KUNIT_CASE(bufq_map_test_context),
	KUNIT_CASE(bufq_map_test_refused),
	KUNIT_CASE(bufq_map_test_attach_refused),
	{}
};

static struct kunit_suite bufq_map_test_suite = {
	.name = "bufq_map",
	.test_cases = bufq_map_test_cases,
};

kunit_test_suite(bufq_map_test_suite);

MODULE_DESCRIPTION("KUnit cases for bufq's mappable queues");
MODULE_LICENSE("GPL");
