/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The requester (req.c) and what the completer (comp.c) shares with it:
 * the send queue's private WQE copies and their state, indexed by the
 * free-running positions in qp->req.
 */
#ifndef HMMNIC_REQ_H
#define HMMNIC_REQ_H

#include "hmmnic.h"

static inline struct hmmnic_send_wqe *hmmnic_swqe(struct hmmnic_qp *qp,
						  u32 index)
{
	return qp->sq_shadow +
	       (size_t)(index & (qp->sq.num_slots - 1)) * qp->sq.slot_size;
}

static inline struct hmmnic_swqe_state *hmmnic_sst(struct hmmnic_qp *qp,
						   u32 index)
{
	return &qp->sq_state[index & (qp->sq.num_slots - 1)];
}

static inline bool hmmnic_wqe_is_rd_atomic(const struct hmmnic_send_wqe *wqe)
{
	return wqe->opcode == IB_WR_RDMA_READ ||
	       wqe->opcode == IB_WR_ATOMIC_CMP_AND_SWP ||
	       wqe->opcode == IB_WR_ATOMIC_FETCH_AND_ADD;
}

/* Local operations: executed by the requester, no packet, no PSN. */
static inline bool hmmnic_wqe_is_local(const struct hmmnic_send_wqe *wqe)
{
	return wqe->opcode == IB_WR_LOCAL_INV ||
	       wqe->opcode == IB_WR_REG_MR;
}

/*
 * Where the READ request that covers response @idx of a READ WQE of
 * @npkts responses ends: requests split the WQE at multiples of
 * HMMNIC_READ_REQ_PKTS from its first response, and one sent again from
 * the middle (after a loss) ends where the first one did.
 */
static_assert(!(HMMNIC_READ_REQ_PKTS & (HMMNIC_READ_REQ_PKTS - 1)) &&
	      HMMNIC_READ_REQ_PKTS <= HMMNIC_READ_MAX_PKTS);

static inline u32 hmmnic_read_req_end(u32 npkts, u32 idx)
{
	return min_t(u32, npkts, round_down(idx, HMMNIC_READ_REQ_PKTS) +
			 HMMNIC_READ_REQ_PKTS);
}

bool hmmnic_req_step(struct hmmnic_qp *qp);
bool hmmnic_req_complete(struct hmmnic_qp *qp, enum ib_wc_status status);
void hmmnic_req_rewind(struct hmmnic_qp *qp, u32 psn);
unsigned long hmmnic_req_ack_timeout(struct hmmnic_qp *qp);
void hmmnic_req_arm_timer(struct hmmnic_qp *qp);
void hmmnic_req_flush(struct hmmnic_qp *qp);

#endif /* HMMNIC_REQ_H */
