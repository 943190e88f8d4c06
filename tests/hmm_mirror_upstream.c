// SPDX-License-Identifier: GPL-2.0
/*
 * The upstream HMM selftest, built unmodified from the unpacked tree so it
 * runs against both lib/test_hmm.ko and hmm-mirror/hmm_mirror.ko.
 */
#include "../build/linux/tools/testing/selftests/mm/hmm-tests.c"
