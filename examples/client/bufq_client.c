// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_client - a minimal out-of-tree client of bufq (README, "Building
 * your own module against bufq")
 *
 * At load it makes a queue of four buffers, fetches all four (a fifth
 * fetch must fail), fills each and stamps its context, queues them,
 * dequeues them in order checking data and context, gives them back and
 * destroys the queue. The module loads only if every step did what the
 * API promises; the kernel log says which step failed otherwise.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bufq.h>
#include <linux/err.h>
#include <linux/module.h>
#include <linux/string.h>

#define BUFQ_CLIENT_COUNT	4
#define BUFQ_CLIENT_SIZE	128

struct bufq_client_ctx {
	u32 seq;
	u32 len;
};

/* Fill buffer number @seq with a pattern of its own. */
static void bufq_client_fill(u8 *data, u32 seq)
{
	u32 i;

	for (i = 0; i < BUFQ_CLIENT_SIZE; i++)
		data[i] = (u8)(seq * 31 + i);
}

static bool bufq_client_intact(const u8 *data, u32 seq)
{
	u32 i;

	for (i = 0; i < BUFQ_CLIENT_SIZE; i++)
		if (data[i] != (u8)(seq * 31 + i))
			return false;
	return true;
}

static int bufq_client_run(struct bufq *q)
{
	struct bufq_client_ctx *ctx;
	void *buf;
	u32 seq;
	int ret;

	/* Producer: take every free buffer, fill it, queue it. */
	for (seq = 0; seq < BUFQ_CLIENT_COUNT; seq++) {
		ret = bufq_fetch(q, &buf, (void **)&ctx);
		if (ret) {
			pr_err("fetch %u: %d\n", seq, ret);
			return ret;
		}
		bufq_client_fill(buf, seq);
		ctx->seq = seq;
		ctx->len = BUFQ_CLIENT_SIZE;
		ret = bufq_enqueue(q, buf);
		if (ret) {
			pr_err("enqueue %u: %d\n", seq, ret);
			return ret;
		}
	}
	ret = bufq_fetch(q, &buf, (void **)&ctx);
	if (ret != -ENOBUFS) {
		pr_err("fetch from an empty producer list: %d, not -ENOBUFS\n", ret);
		return -EIO;
	}
	if (bufq_count(q) != BUFQ_CLIENT_COUNT) {
		pr_err("%u buffers queued, not %u\n", bufq_count(q), BUFQ_CLIENT_COUNT);
		return -EIO;
	}

	/* Consumer: FIFO order, data and context as the producer left them. */
	for (seq = 0; seq < BUFQ_CLIENT_COUNT; seq++) {
		ret = bufq_dequeue(q, &buf, (void **)&ctx);
		if (ret) {
			pr_err("dequeue %u: %d\n", seq, ret);
			return ret;
		}
		if (ctx->seq != seq || ctx->len != BUFQ_CLIENT_SIZE ||
		    !bufq_client_intact(buf, seq)) {
			pr_err("buffer %u: got seq %u len %u, data %s\n", seq,
			       ctx->seq, ctx->len,
			       bufq_client_intact(buf, ctx->seq) ? "intact" : "corrupt");
			bufq_reuse(q, buf);
			return -EIO;
		}
		ret = bufq_reuse(q, buf);
		if (ret) {
			pr_err("reuse %u: %d\n", seq, ret);
			return ret;
		}
	}
	ret = bufq_dequeue(q, &buf, (void **)&ctx);
	if (ret != -ENODATA) {
		pr_err("dequeue from an empty queue: %d, not -ENODATA\n", ret);
		return -EIO;
	}
	return 0;
}

static int __init bufq_client_init(void)
{
	struct bufq_config cfg = {
		.name = "bufq_client",
		.buffer_count = BUFQ_CLIENT_COUNT,
		.buffer_size = BUFQ_CLIENT_SIZE,
		.context_size = sizeof(struct bufq_client_ctx),
		.gfp = GFP_KERNEL,
	};
	struct bufq *q;
	int ret;

	q = bufq_create(&cfg);
	if (IS_ERR(q)) {
		pr_err("bufq_create: %ld\n", PTR_ERR(q));
		return PTR_ERR(q);
	}
	ret = bufq_client_run(q);
	bufq_destroy(q);
	if (ret)
		return ret;
	pr_info("moved %u buffers of %u bytes through a bufq queue: ok\n",
		BUFQ_CLIENT_COUNT, BUFQ_CLIENT_SIZE);
	return 0;
}
module_init(bufq_client_init);

static void __exit bufq_client_exit(void)
{
}
module_exit(bufq_client_exit);

MODULE_DESCRIPTION("bufq example: an out-of-tree module calling bufq");
MODULE_LICENSE("GPL");
