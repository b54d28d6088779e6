/* SPDX-License-Identifier: GPL-2.0 */
/* /dev/bufq: registered by the module, a client of the core like any other. */
#ifndef _BUFQ_CHARDEV_H
#define _BUFQ_CHARDEV_H

int bufq_chardev_init(void);
void bufq_chardev_exit(void);

#endif /* _BUFQ_CHARDEV_H */
