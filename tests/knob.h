/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Numbers in one-value files of /proc, /sys and debugfs, for the tests that
 * read or set a kernel knob.  Each call opens the file afresh: debugfs
 * attributes cannot seek.
 */
#ifndef KNOB_H
#define KNOB_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The number in @path, or -1 if it cannot be read. */
static inline long read_long(const char *path)
{
	char buf[64];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/* Write @val to @path: 0, or -1 if the write failed. */
static inline int write_long(const char *path, long val)
{
	char buf[64];
	int fd, len, ret;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%ld\n", val);
	ret = write(fd, buf, len) == len ? 0 : -1;
	close(fd);
	return ret;
}

#endif /* KNOB_H */
