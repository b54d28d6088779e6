/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq_file: the user-space face of a mappable queue (bufq_file.c), for
 * its two users: bufq_file_attach() and /dev/bufq (bufq_chardev.c).
 */
#ifndef _BUFQ_FILE_H
#define _BUFQ_FILE_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>

struct bufq;
struct bufq_holder;
struct module;

/**
 * struct bufq_file - one open file of a queue
 * @lock: serializes CONFIGURE
 * @q: the queue; NULL until bound, then fixed (see bufq_file_q())
 * @configure: /dev/bufq's CONFIGURE, which makes and binds the queue;
 *	NULL for a driver's file, bound at open
 * @owner: the driver's module, held while the file is open, or NULL
 * @ops: &enum bufq_ops the file allows
 * @buffer_size: bytes of each data area that are the user's buffer
 * @context_size: bytes of the user's context area
 * @ctx_offset: offset of the user's context area in a data area
 * @nr_slots: buffer indices: the queue's cap
 * @stride: bytes from one buffer to the next in the mapping
 * @mem_size: bytes of the mapping, @nr_slots * @stride
 * @holder_lock: guards @holders and each holder's files pointer
 * @holders: &struct bufq_holder of the processes that took buffers
 * @last: the holder found last, a hint for the next call
 * @reclaimed: buffers given back for processes that closed the file
 *
 * Every field from @ops to @mem_size is written before @q is published
 * and read only after it has been seen non-NULL.
 */
struct bufq_file {
	struct mutex lock;		/* CONFIGURE */
	struct bufq *q;
	int (*configure)(struct bufq_file *bf, const void *cmd);
	struct module *owner;
	u32 ops;
	u32 buffer_size;
	u32 context_size;
	u32 ctx_offset;
	u32 nr_slots;
	u32 stride;
	size_t mem_size;
	spinlock_t holder_lock;		/* @holders */
	struct list_head holders;
	struct bufq_holder *last;
	atomic_long_t reclaimed;
};

struct bufq_file *bufq_file_open(struct file *file,
				 int (*configure)(struct bufq_file *bf,
						  const void *cmd),
				 struct module *owner);
void bufq_file_bind(struct bufq_file *bf, struct bufq *q, u32 ops,
		    u32 buffer_size, u32 context_size, u32 ctx_offset);

#endif /* _BUFQ_FILE_H */
