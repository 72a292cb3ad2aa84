// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The pool on a kernel without CONFIG_DEVICE_PRIVATE (or
 * CONFIG_DEVICE_MIGRATION): there is none. This
 * file replaces pool.c there, so that everything else (verbs, ODP,
 * prefetch, rnr mode, counters, tracepoints) builds and runs unchanged.
 * The pool's module parameters exist and say why they do nothing,
 * debugfs "pool" says the same, and its counters read zero.
 */
#include <linux/debugfs.h>
#include <linux/moduleparam.h>

#include "hmmnic.h"
#include "pool.h"

#define HMMNIC_POOL_ABSENT HMMNIC_FEATURE_POOL

/* Accepted, so that a command line written for a full kernel loads. */
static unsigned int hmmnic_pool_mb;
module_param_named(pool_mb, hmmnic_pool_mb, uint, 0444);
MODULE_PARM_DESC(pool_mb, "NIC-private memory pool: " HMMNIC_POOL_ABSENT);
static bool hmmnic_staging;
module_param_named(staging, hmmnic_staging, bool, 0444);
MODULE_PARM_DESC(staging, "Pool staging: " HMMNIC_POOL_ABSENT);
static unsigned int hmmnic_stage_threshold;
module_param_named(stage_threshold, hmmnic_stage_threshold, uint, 0444);
MODULE_PARM_DESC(stage_threshold, "Pool staging: " HMMNIC_POOL_ABSENT);
static unsigned int hmmnic_stage_window_ms;
module_param_named(stage_window_ms, hmmnic_stage_window_ms, uint, 0444);
MODULE_PARM_DESC(stage_window_ms, "Pool staging: " HMMNIC_POOL_ABSENT);
static unsigned int hmmnic_stage_batch;
module_param_named(stage_batch, hmmnic_stage_batch, uint, 0444);
MODULE_PARM_DESC(stage_batch, "Pool staging: " HMMNIC_POOL_ABSENT);
static bool hmmnic_stage_thp;
module_param_named(stage_thp, hmmnic_stage_thp, bool, 0444);
MODULE_PARM_DESC(stage_thp, "Pool staging: " HMMNIC_POOL_ABSENT);

static int hmmnic_pool_absent_show(struct seq_file *m, void *v)
{
	seq_puts(m, HMMNIC_POOL_ABSENT "\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmnic_pool_absent);

int hmmnic_pool_init(struct hmmnic_dev *hdev,
		     const struct hmmnic_stage_ops *ops)
{
	/* (before registration: the device has no name yet) */
	if (hmmnic_pool_mb || hmmnic_staging)
		pr_notice_once("hmmnic: NIC-private pool %s\n",
			       HMMNIC_POOL_ABSENT);
	return 0;
}

void hmmnic_pool_debugfs_add(struct hmmnic_dev *hdev)
{
	hdev->pool.debugfs = debugfs_create_dir(dev_name(&hdev->ibdev.dev),
						hmmnic_debugfs_root);
	debugfs_create_file("pool", 0444, hdev->pool.debugfs, NULL,
			    &hmmnic_pool_absent_fops);
}

void hmmnic_pool_destroy(struct hmmnic_dev *hdev)
{
	debugfs_remove_recursive(hdev->pool.debugfs);
}

/* No device-private page is the pool's: there are none on this kernel. */
struct page *hmmnic_pool_backing(struct hmmnic_odp *odp, struct page *page)
{
	return NULL;
}

void hmmnic_pool_heat(struct hmmnic_odp *odp, unsigned long idx)
{
}

void hmmnic_pool_forget(struct hmmnic_mr *mr)
{
}

void hmmnic_pool_stats(struct hmmnic_dev *hdev, u64 *used, u64 *free)
{
	*used = 0;
	*free = 0;
}
