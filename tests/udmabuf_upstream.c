// SPDX-License-Identifier: GPL-2.0
/* The upstream udmabuf selftest of the unpacked tree, built unmodified. */
#include "../build/linux/tools/testing/selftests/drivers/dma-buf/udmabuf.c"
