/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq internals shared by the core and the character device.
 */
#ifndef _BUFQ_CORE_H
#define _BUFQ_CORE_H

#include <linux/bufq.h>

/*
 * A buffer's state doubles as its signature: a stray pointer is unlikely to
 * sit 8 bytes after one of these values.
 */
enum bufq_state {
	BUFQ_STATE_FREE = 0x62516600,	/* on the producer list */
	BUFQ_STATE_QUEUED = 0x62516601,	/* on the consumer list */
	BUFQ_STATE_HELD = 0x62516602,	/* owned by a client */
};

/* Written just past the data area and just past the context area. */
#define BUFQ_SENTINEL	0x5e5e7a11U

/*
 * One slab object: this header, the data area (the client's handle points
 * at it), a sentinel, the context area, a sentinel, and with timers a
 * struct bufq_timed.
 */
struct bufq_buf {
	struct list_head node;		/* producer or consumer list */
	struct bufq *q;
	u32 state;			/* enum bufq_state */
	u8 data[] __aligned(8);
};

/* Per-buffer timer state; the queue has one timer for all of them. */
struct bufq_timed {
	unsigned long deadline;		/* jiffies */
	bufq_timer_fn fn;
	void *arg;
	unsigned int msecs;
	bool armed;
};

int bufq_chardev_init(void);
void bufq_chardev_exit(void);

#endif /* _BUFQ_CORE_H */
