/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * On-demand paging (odp.c), the ODP half of the MR access layer: the HMM
 * mirror of ODP regions, faults, invalidation, implicit children, prefetch.
 * Below it is only the pool (pool.c), which reaches back through
 * hmmnic_odp_stage_ops alone.
 */
#ifndef HMMNIC_ODP_H
#define HMMNIC_ODP_H

#include "hmmnic.h"

enum hmmnic_fault_mode {
	HMMNIC_FAULT_SYNC,
	HMMNIC_FAULT_RNR,
};

extern int hmmnic_fault_mode;

/* How to prefetch (hmmnic_odp_prefetch()) */
#define HMMNIC_ADVISE_WRITE	BIT(0)
#define HMMNIC_ADVISE_NO_FAULT	BIT(1)
#define HMMNIC_ADVISE_RNR	BIT(2)

extern const struct hmmnic_stage_ops hmmnic_odp_stage_ops;

/*
 * HMMNIC_OP_CMP_SWAP or HMMNIC_OP_FETCH_ADD on @target; the old value.
 * The one definition of an atomic, for every kind of region (mr.c too).
 */
static inline u64 hmmnic_atomic_apply(atomic64_t *target, u8 op, u64 cmp_add,
				      u64 swap)
{
	if (op == HMMNIC_OP_CMP_SWAP)
		return atomic64_cmpxchg(target, cmp_add, swap);
	return atomic64_fetch_add(cmp_add, target);
}

int hmmnic_odp_init(struct hmmnic_mr *mr, u64 start, u64 length);
void hmmnic_odp_release(struct hmmnic_mr *mr);
int hmmnic_odp_copy(struct hmmnic_mr *mr, u64 iova, void *buf, u64 len,
		    bool to_mr);
int hmmnic_odp_atomic(struct hmmnic_mr *mr, u64 iova, u8 op, u64 cmp_add,
		      u64 swap, u64 *orig);
bool hmmnic_odp_resident(struct hmmnic_mr *mr, u64 iova, u64 len,
			 bool write);
int hmmnic_odp_prefetch(struct hmmnic_mr *mr, u64 iova, u64 len, int how);
void hmmnic_odp_advise_async(struct hmmnic_mr *mr, u64 iova, u64 len,
			     int how);
void hmmnic_odp_debugfs(struct dentry *root);

#endif /* HMMNIC_ODP_H */
