/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The NIC-private memory pool (pool.c): device-private pages, staging,
 * migrate_to_ram, eviction. The bottom of the MR access layer: it calls
 * nothing above it, and holds the spans it stages through the ops the ODP
 * layer gives it (struct hmmnic_stage_ops). On a kernel without
 * CONFIG_DEVICE_PRIVATE, pool_absent.c implements the same functions: there
 * is no pool, and nothing above needs to know.
 */
#ifndef HMMNIC_POOL_H
#define HMMNIC_POOL_H

#include "hmmnic.h"

/**
 * struct hmmnic_stage_ops - what the pool asks of the layer that owns a span
 * @hold: a stage request for a page of @odp was queued; called under the
 *        span's lock, from the data path, which holds the span already:
 *        keep the span and its region alive until @put
 * @put: the request is done (staged, refused or dropped)
 */
struct hmmnic_stage_ops {
	void (*hold)(struct hmmnic_odp *odp);
	void (*put)(struct hmmnic_odp *odp);
};

int hmmnic_pool_init(struct hmmnic_dev *hdev,
		     const struct hmmnic_stage_ops *ops);
void hmmnic_pool_debugfs_add(struct hmmnic_dev *hdev);
void hmmnic_pool_destroy(struct hmmnic_dev *hdev);
struct page *hmmnic_pool_backing(struct hmmnic_odp *odp, struct page *page);
void hmmnic_pool_heat(struct hmmnic_odp *odp, unsigned long idx);
void hmmnic_pool_forget(struct hmmnic_mr *mr);
void hmmnic_pool_stats(struct hmmnic_dev *hdev, u64 *used, u64 *free);
void hmmnic_pool_folio_free(struct folio *folio);
vm_fault_t hmmnic_pool_migrate_to_ram(struct vm_fault *vmf);
void hmmnic_pool_folio_split(struct folio *head, struct folio *tail);

#endif /* HMMNIC_POOL_H */
