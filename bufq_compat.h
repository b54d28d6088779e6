/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel version difference bufq builds across
 *
 * bufq is written against the newest kernel API. Each shim below gives an
 * older kernel the newer name, keyed on the version that introduced it, so
 * that dropping support for a kernel means deleting its block here and
 * nothing else. Supported: Linux 6.1 and later (Debian 12's 6.1 and 6.12).
 */
#ifndef _BUFQ_COMPAT_H
#define _BUFQ_COMPAT_H

#include <linux/version.h>

/* 6.12: <asm/unaligned.h> moved to <linux/unaligned.h>. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/* 6.2: timer_shutdown_sync(). Before it, for a timer nobody re-arms. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define timer_shutdown_sync(timer)	del_timer_sync(timer)
#endif

/* 6.3: vma->vm_flags became read-only; writers use vm_flags_set/mod(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
#include <linux/mm_types.h>

static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_mod(struct vm_area_struct *vma, vm_flags_t set,
				vm_flags_t clear)
{
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
}
#endif

/*
 * 6.16: from_timer() was renamed timer_container_of(). Some stable trees
 * backport the new name, hence the #ifndef as well.
 */
#include <linux/timer.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0) && !defined(timer_container_of)
#define timer_container_of(var, callback_timer, timer_fieldname) \
	from_timer(var, callback_timer, timer_fieldname)
#endif

/*
 * 6.13: hrtimer_setup() initializes a timer and sets its callback; 6.15
 * removed hrtimer_init().
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#include <linux/hrtimer.h>

/* A macro over our own name: a backported hrtimer_setup() cannot clash. */
static inline void
bufq_hrtimer_setup(struct hrtimer *timer,
		   enum hrtimer_restart (*function)(struct hrtimer *),
		   clockid_t clock_id, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock_id, mode);
	timer->function = function;
}

#define hrtimer_setup bufq_hrtimer_setup
#endif

/* 6.10: __assign_str() takes the field alone (its source is __string()'s). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
#define bufq_assign_str(field, src)	__assign_str(field, src)
#else
#define bufq_assign_str(field, src)		\
	do {					\
		(void)(src);			\
		__assign_str(field);		\
	} while (0)
#endif

#endif /* _BUFQ_COMPAT_H */
