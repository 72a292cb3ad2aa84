/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The MR access layer (mr.c): how the data path finds a key and reads,
 * writes and runs atomics on registered memory, whatever kind of region it
 * is (pinned, ODP through odp.c, fast registration, a kernel DMA MR).
 */
#ifndef HMMNIC_MR_H
#define HMMNIC_MR_H

#include "hmmnic.h"

struct hmmnic_mr *hmmnic_mr_get(struct hmmnic_dev *hdev, u32 key);
bool hmmnic_mr_check(struct hmmnic_mr *mr, struct ib_pd *pd, u64 iova,
		     u64 len, int access);
int hmmnic_mr_copy(struct hmmnic_mr *mr, u64 iova, void *buf, u64 len,
		   bool to_mr);
int hmmnic_mr_atomic(struct hmmnic_mr *mr, u64 iova, u8 op, u64 cmp_add,
		     u64 swap, u64 *orig);
bool hmmnic_mr_resident(struct hmmnic_mr *mr, u64 iova, u64 len, bool write);
int hmmnic_sge_copy(struct hmmnic_qp *qp, const struct hmmnic_sge *sge,
		    u32 num_sge, u64 offset, void *buf, u64 len, bool to_sge);
bool hmmnic_sge_resident(struct hmmnic_qp *qp, const struct hmmnic_sge *sge,
			 u32 num_sge, u64 offset, u64 len);
enum ib_wc_status hmmnic_mr_fast_reg(struct hmmnic_qp *qp, u32 key,
				     int access);
int hmmnic_mr_invalidate(struct hmmnic_qp *qp, u32 key);

/* The completion status of a failed hmmnic_sge_copy(). */
static inline enum ib_wc_status hmmnic_sge_status(int err)
{
	return err == -EMSGSIZE ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
}

/*
 * An access to registered memory that may succeed if tried again: an ODP
 * fault that invalidations kept beating (-EBUSY) or that had no memory.
 */
static inline bool hmmnic_err_transient(int err)
{
	return err == -EBUSY || err == -ENOMEM;
}

#endif /* HMMNIC_MR_H */
