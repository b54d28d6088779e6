// SPDX-License-Identifier: GPL-2.0
/*
 * bufq_trace - the bufq trace events (include/trace/events/bufq.h)
 *
 * Defines them, exports them for probes in other modules (the KUnit suite
 * registers some), names buffers in them, and emits them for a bulk
 * enqueue, which moves a whole list at once.
 */
#include <linux/module.h>
#include <linux/once.h>
#include <linux/random.h>
#include <linux/siphash.h>

#include "bufq_core.h"

#define CREATE_TRACE_POINTS
#include <trace/events/bufq.h>

EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_create);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_destroy);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_fetch);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_enqueue);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_dequeue);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_timer_expire);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_reuse);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_flush);
EXPORT_TRACEPOINT_SYMBOL_GPL(bufq_enumerate);

static siphash_key_t bufq_trace_key __read_mostly;

/*
 * A buffer's id in trace records: its address hashed with a key drawn at
 * module load, so that it is stable but shows no kernel address. 0 for no
 * buffer.
 */
u64 bufq_trace_id(const void *buf)
{
	if (!buf)
		return 0;
	return siphash_1u64((unsigned long)buf, &bufq_trace_key);
}

/**
 * bufq_trace_init() - draw the key of bufq_trace_id()
 *
 * At module load: events fire under the queue's raw spinlocks, where
 * get_random_once()'s spinlock_t may not be taken (PREEMPT_RT).
 *
 * Context: module init.
 */
void bufq_trace_init(void)
{
	get_random_bytes(&bufq_trace_key, sizeof(bufq_trace_key));
}
