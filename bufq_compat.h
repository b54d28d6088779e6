/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufq_compat - every kernel-version difference bufq cares about.
 *
 * Forward shims: bufq is written against the newest API; older kernels get
 * it here, keyed on the version that introduced it.
 */
#ifndef _BUFQ_COMPAT_H
#define _BUFQ_COMPAT_H

#include <linux/version.h>
#include <linux/timer.h>

/* 6.12 moved <asm/unaligned.h> to <linux/unaligned.h>. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/* 6.2: timer_shutdown_sync(). Before it, a timer nobody re-arms. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define timer_shutdown_sync(t)	del_timer_sync(t)
#endif

/* 6.16 renamed from_timer() to timer_container_of(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0)
#define timer_container_of(var, timer, field)	from_timer(var, timer, field)
#endif

#endif /* _BUFQ_COMPAT_H */
