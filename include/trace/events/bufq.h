/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq trace events: /sys/kernel/tracing/events/bufq/.
 *
 * Every event names its queue (@name, as its debugfs directory:
 * "<cfg.name>-<id>") and, where there is one, the buffer (@buf, a 64-bit
 * id: a keyed hash of its data area's address, the same while the module
 * is loaded, so one buffer can be followed from fetch to reuse without
 * showing kernel addresses; 0 for none). Depths are read when the event
 * fires; for a bulk enqueue, after the whole call.
 *
 * TP_fast_assign reads the queue through bufq_label() and the
 * bufq_trace_*() helpers of bufq_core.h, which the one file defining the
 * events (bufq_trace.c) includes first.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM bufq

#if !defined(_TRACE_BUFQ_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_BUFQ_H

#include <linux/bufq.h>
#include <linux/tracepoint.h>

TRACE_DEFINE_ENUM(BUFQ_ENUM_CONTINUE);
TRACE_DEFINE_ENUM(BUFQ_ENUM_STOP);
TRACE_DEFINE_ENUM(BUFQ_ENUM_REMOVE_AND_STOP);
TRACE_DEFINE_ENUM(BUFQ_ENUM_STOP_TIMER_AND_STOP);
TRACE_DEFINE_ENUM(BUFQ_ENUM_STOP_TIMER_AND_CONTINUE);
TRACE_DEFINE_ENUM(BUFQ_ENUM_RESET_TIMER_AND_STOP);
TRACE_DEFINE_ENUM(BUFQ_ENUM_RESET_TIMER_AND_CONTINUE);

TRACE_EVENT(bufq_create,
	    TP_PROTO(struct bufq *q),
	    TP_ARGS(q),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(unsigned int, buffer_count)
			     __field(unsigned int, buffer_size)
			     __field(unsigned int, context_size)
			     __field(unsigned int, max_buffers)
			     __field(bool, lookaside)
			     __field(bool, with_timer)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->buffer_count = q->buffer_count;
			   __entry->buffer_size = q->buffer_size;
			   __entry->context_size = q->context_size;
			   __entry->max_buffers = q->max_buffers;
			   __entry->lookaside = q->lookaside;
			   __entry->with_timer = q->with_timer;),
	    TP_printk("q=%s count=%u size=%u context=%u max=%u lookaside=%d timer=%d",
		      __get_str(name), __entry->buffer_count,
		      __entry->buffer_size, __entry->context_size,
		      __entry->max_buffers, __entry->lookaside,
		      __entry->with_timer)
);

TRACE_EVENT(bufq_destroy,
	    TP_PROTO(struct bufq *q),
	    TP_ARGS(q),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(unsigned int, total)
			     __field(unsigned int, free)
			     __field(unsigned int, queued)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->total = bufq_trace_total(q);
			   __entry->free = bufq_trace_free(q);
			   __entry->queued = bufq_trace_queued(q);),
	    TP_printk("q=%s total=%u free=%u queued=%u", __get_str(name),
		      __entry->total, __entry->free, __entry->queued)
);

/* @buf NULL and @err < 0 for a failed fetch; @grown: lookaside made it. */
TRACE_EVENT(bufq_fetch,
	    TP_PROTO(struct bufq *q, void *buf, int err, bool grown),
	    TP_ARGS(q, buf, err, grown),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(u64, buf)
			     __field(int, err)
			     __field(bool, grown)
			     __field(unsigned int, free)
			     __field(unsigned int, total)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->buf = bufq_trace_id(buf);
			   __entry->err = err;
			   __entry->grown = grown;
			   __entry->free = bufq_trace_free(q);
			   __entry->total = bufq_trace_total(q);),
	    TP_printk("q=%s buf=%016llx err=%d grown=%d free=%u total=%u",
		      __get_str(name), __entry->buf, __entry->err,
		      __entry->grown, __entry->free, __entry->total)
);

/* @timer: bufq_enqueue_with_timer(), for @msecs. */
TRACE_EVENT(bufq_enqueue,
	    TP_PROTO(struct bufq *q, void *buf, bool at_head, bool timer,
		     unsigned int msecs),
	    TP_ARGS(q, buf, at_head, timer, msecs),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(u64, buf)
			     __field(u8, where)
			     __field(unsigned int, msecs)
			     __field(unsigned int, queued)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->buf = bufq_trace_id(buf);
			   __entry->where = timer ? 2 : at_head;
			   __entry->msecs = msecs;
			   __entry->queued = bufq_trace_queued(q);),
	    TP_printk("q=%s buf=%016llx where=%s msecs=%u queued=%u",
		      __get_str(name), __entry->buf,
		      __print_symbolic(__entry->where, { 0, "tail" },
				       { 1, "head" }, { 2, "timer" }),
		      __entry->msecs, __entry->queued)
);

/* Buffers leaving the consumer list to a client: dequeue, timer expiry. */
DECLARE_EVENT_CLASS(bufq_unqueue,
		    TP_PROTO(struct bufq *q, void *buf),
		    TP_ARGS(q, buf),
		    TP_STRUCT__entry(__string(name, bufq_label(q))
				     __field(u64, buf)
				     __field(unsigned int, queued)),
		    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
				   __entry->buf = bufq_trace_id(buf);
				   __entry->queued = bufq_trace_queued(q);),
		    TP_printk("q=%s buf=%016llx queued=%u", __get_str(name),
			      __entry->buf, __entry->queued)
);

DEFINE_EVENT(bufq_unqueue, bufq_dequeue,
	     TP_PROTO(struct bufq *q, void *buf),
	     TP_ARGS(q, buf)
);

DEFINE_EVENT(bufq_unqueue, bufq_timer_expire,
	     TP_PROTO(struct bufq *q, void *buf),
	     TP_ARGS(q, buf)
);

/*
 * A buffer handed back (reuse, flush, enqueue on a dying queue): @kept on
 * the producer list, or freed (lookaside shrink, or the queue is dying).
 */
TRACE_EVENT(bufq_reuse,
	    TP_PROTO(struct bufq *q, void *buf, bool kept),
	    TP_ARGS(q, buf, kept),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(u64, buf)
			     __field(bool, kept)
			     __field(unsigned int, free)
			     __field(unsigned int, total)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->buf = bufq_trace_id(buf);
			   __entry->kept = kept;
			   __entry->free = bufq_trace_free(q);
			   __entry->total = bufq_trace_total(q);),
	    TP_printk("q=%s buf=%016llx kept=%d free=%u total=%u",
		      __get_str(name), __entry->buf, __entry->kept,
		      __entry->free, __entry->total)
);

/* Fired before the flush: @queued buffers are about to be reused. */
TRACE_EVENT(bufq_flush,
	    TP_PROTO(struct bufq *q),
	    TP_ARGS(q),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(unsigned int, queued)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->queued = bufq_trace_queued(q);),
	    TP_printk("q=%s queued=%u", __get_str(name), __entry->queued)
);

/* What a bufq_enumerate() callback answered for @buf. */
TRACE_EVENT(bufq_enumerate,
	    TP_PROTO(struct bufq *q, void *buf, int action),
	    TP_ARGS(q, buf, action),
	    TP_STRUCT__entry(__string(name, bufq_label(q))
			     __field(u64, buf)
			     __field(int, action)),
	    TP_fast_assign(bufq_assign_str(name, bufq_label(q));
			   __entry->buf = bufq_trace_id(buf);
			   __entry->action = action;),
	    TP_printk("q=%s buf=%016llx action=%s", __get_str(name),
		      __entry->buf,
		      __print_symbolic(__entry->action,
				       { BUFQ_ENUM_CONTINUE, "continue" },
				       { BUFQ_ENUM_STOP, "stop" },
				       { BUFQ_ENUM_REMOVE_AND_STOP, "remove_and_stop" },
				       { BUFQ_ENUM_STOP_TIMER_AND_STOP,
					 "stop_timer_and_stop" },
				       { BUFQ_ENUM_STOP_TIMER_AND_CONTINUE,
					 "stop_timer_and_continue" },
				       { BUFQ_ENUM_RESET_TIMER_AND_STOP,
					 "reset_timer_and_stop" },
				       { BUFQ_ENUM_RESET_TIMER_AND_CONTINUE,
					 "reset_timer_and_continue" }))
);

#endif /* _TRACE_BUFQ_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
