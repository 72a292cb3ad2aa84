/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Small helpers for the hmmnic C tests. A test is a program that exits 0
 * when it passes, 77 when it cannot run here (skip), and anything else when
 * it fails, after printing why.
 */
#ifndef HMMTEST_H
#define HMMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#define HT_SKIP 77

void ht_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void ht_skip(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
void ht_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			ht_fail(__FILE__, __LINE__, __VA_ARGS__);              \
	} while (0)

/* Device under test: $HMMNIC_DEV, default hmmnic0. */
const char *ht_dev_name(void);
/* Its netdev: $HMMNIC_NETDEV, default eth0. */
const char *ht_netdev_name(void);
/* Open the named RDMA device; fails the test if it is not there. */
struct ibv_context *ht_open(const char *name);
/* Read a small sysfs or proc file into buf, without the newline. */
int ht_read_file(const char *path, char *buf, size_t len);

/*
 * The module's optional parts (debugfs hmmnic/features): whether it has
 * feature @name ("pool", "fault_injection"), and if not, why: "absent: "
 * and the kernel option this kernel lacks.
 */
bool ht_feature(const char *name);
const char *ht_feature_why(const char *name);
/* The NIC-private pool: not on a kernel without CONFIG_DEVICE_PRIVATE. */
bool ht_pool_present(void);
const char *ht_pool_absent_why(void);

/* Write @val to a sysfs, debugfs or tracefs file; fails the test if not. */
void ht_write_file(const char *path, const char *val);
/* A debugfs knob of a device: /sys/kernel/debug/hmmnic/DEV/NAME. */
void ht_knob(const char *name, const char *val);
void ht_knob_dev(const char *dev, const char *name, const char *val);
void ht_knob_read(const char *name, char *buf, size_t len);
/* The number on a "KEY VALUE" line of the device's debugfs pool file. */
uint64_t ht_pool_state(const char *key);
/* CLOCK_MONOTONIC in ns. */
uint64_t ht_now_ns(void);

/*
 * tracefs: ht_trace_start("hmmnic/hmmnic_odp_fault_end") enables an event
 * and clears the buffer, ht_trace_clear() only clears it (enabling and
 * disabling patches kernel text, which multi-threaded TCG does not always
 * get right: enable once, clear often); ht_trace_each() calls @fn with
 * the fields of every recorded event @name ("key=value ...") and returns
 * how many there were; ht_trace_field() reads one numeric field.
 */
void ht_trace_start(const char *event);
void ht_trace_clear(void);
void ht_trace_stop(const char *event);
size_t ht_trace_each(const char *name,
		     void (*fn)(const char *fields, void *arg), void *arg);
uint64_t ht_trace_field(const char *fields, const char *key);

/* Fresh anonymous read/write pages, never huge pages. */
void *ht_map_pages(size_t len);
/*
 * Anonymous read/write memory aligned to 2 MiB, MADV_HUGEPAGE (@len a
 * multiple of 2 MiB; munmap(p, len) frees it); once written,
 * ht_make_thp() checks that THPs back each 2 MiB (MADV_COLLAPSE where
 * not) and fails otherwise. ht_is_thp(): a THP maps @p (pagemap and
 * kpageflags; root).
 */
void *ht_map_thp(size_t len);
void ht_make_thp(void *buf, size_t len);
bool ht_is_thp(const void *p);
/*
 * Pages of [buf, buf + len) that are staged in an hmmnic pool: not
 * present, with a swap-type entry in /proc/self/pagemap whose pfn lies in
 * a "hmmnic pool" range of /proc/iomem (a device-private entry of the
 * pool, not a migration entry of a page on its way). Needs root.
 */
size_t ht_device_pages(const void *buf, size_t len);
/* hmmnicdv_reg_mr() (hmmnicdv.h, in libhmmnic.so.1); fails on an error. */
struct ibv_mr *ht_hmmnicdv_reg_mr(struct ibv_pd *pd, void *addr,
				  size_t length, int access, uint32_t flags);

#endif /* HMMTEST_H */
