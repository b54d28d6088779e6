/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bufqctl: what its source files share.
 */
#ifndef BUFQCTL_H
#define BUFQCTL_H

#include <stdnoreturn.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

noreturn void die_err(int err, const char *fmt, ...);
#define die(...) die_err(errno, __VA_ARGS__)
noreturn void usage_error(const char *fmt, ...);
unsigned long long parse_num(const char *opt, const char *arg,
			     unsigned long long max);
void bufqctl_cmd_help(void);

/* bufqctl_obs.c: debugfs and tracefs */
int bufqctl_top(int argc, char **argv);
int bufqctl_trace(int argc, char **argv);

#endif /* BUFQCTL_H */
