/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the userspace benchmarks (define _GNU_SOURCE first). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock: guest instructions under -icount. */
static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * @s, the value of option @opt (NULL if it has none), as a decimal number
 * in [@min, @max]; anything else ends the program with status 2.
 */
static inline long number_arg(const char *opt, const char *s, long min,
			      long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "%s: %s%s'%s' is not a number in [%ld, %ld]\n",
			program_invocation_short_name, opt ? opt : "",
			opt ? " " : "", s, min, max);
		exit(2);
	}
	return v;
}

#endif /* BENCH_UTIL_H */
