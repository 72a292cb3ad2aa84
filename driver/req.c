// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic requester: the send queue of a QP, run by its worker (worker.c).
 *
 * The requester copies each WQE out of the shared send queue before it
 * looks at it, checks the copy, and sends its packets. An RC WQE keeps its
 * ring slot until it completes, so the private copy can be sent again
 * after a loss (go-back-N from the first unacknowledged PSN); the
 * completer (comp.c) retires it when it is acknowledged.
 */
#include <linux/vmalloc.h>

#include "hmmnic.h"
#include "cq.h"
#include "mr.h"
#include "net.h"
#include "qp.h"
#include "req.h"
#include "worker.h"

/* ---- completions of send WQEs ---- */

static u32 hmmnic_send_wc_opcode(u32 wr_opcode)
{
	switch (wr_opcode) {
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		return IB_WC_RDMA_WRITE;
	case IB_WR_RDMA_READ:
		return IB_WC_RDMA_READ;
	case IB_WR_ATOMIC_CMP_AND_SWP:
		return IB_WC_COMP_SWAP;
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		return IB_WC_FETCH_ADD;
	case IB_WR_LOCAL_INV:
		return IB_WC_LOCAL_INV;
	case IB_WR_REG_MR:
		return IB_WC_REG_MR;
	default:
		return IB_WC_SEND;
	}
}

/* Retire the oldest send WQE; see hmmnic_req_complete(). */
static bool hmmnic_req_retire(struct hmmnic_qp *qp, enum ib_wc_status status)
{
	struct hmmnic_send_wqe *wqe = hmmnic_swqe(qp, qp->req.tail);
	struct hmmnic_swqe_state *st = hmmnic_sst(qp, qp->req.tail);
	u32 end;

	struct hmmnic_cqe cqe = {
		.wr_id = wqe->wr_id,
		.status = status,
		.opcode = hmmnic_send_wc_opcode(wqe->opcode),
		.qp_num = qp->ibqp.qp_num,
		.byte_len = st->length,
	};
	bool signaled = status != IB_WC_SUCCESS || qp->sq_sig_all ||
			(wqe->send_flags & HMMNIC_SEND_SIGNALED);

	if (st->started && hmmnic_wqe_is_rd_atomic(wqe) && qp->req.rd_atomic)
		qp->req.rd_atomic--;
	end = hmmnic_psn_add(st->first_psn, st->npkts);
	memset(st, 0, sizeof(*st));
	qp->req.tail++;
	if ((s32)(qp->req.cur - qp->req.tail) < 0) {
		/* retired a WQE the requester had gone back to */
		st = hmmnic_sst(qp, qp->req.tail);
		qp->req.cur = qp->req.tail;
		qp->req.cur_pkt = 0;
		qp->req.psn = qp->req.tail != qp->req.fetched && st->started ?
			      st->first_psn : end;
	}
	/* the slot is free before the completion says so */
	hmmnic_queue_consume(&qp->sq, qp->req.tail);
	if (signaled && hmmnic_cq_post(qp->scq, &cqe, qp, false)) {
		hmmnic_qp_error(qp, true);
		return false;
	}
	return true;
}

/*
 * hmmnic_req_complete - retire the oldest send WQE
 * @status: IB_WC_SUCCESS or the error it ends with
 *
 * A successful unsignaled WQE only frees its slot. Local operations the
 * requester already ran behind it were waiting only for it (completions
 * come in send-queue order) and retire with it. Returns false if a
 * completion could not be delivered (CQ overflow); the QP is then in error.
 */
bool hmmnic_req_complete(struct hmmnic_qp *qp, enum ib_wc_status status)
{
	if (!hmmnic_req_retire(qp, status))
		return false;
	while (status == IB_WC_SUCCESS && qp->req.tail != qp->req.fetched &&
	       hmmnic_wqe_is_local(hmmnic_swqe(qp, qp->req.tail)) &&
	       hmmnic_sst(qp, qp->req.tail)->started)
		if (!hmmnic_req_retire(qp, IB_WC_SUCCESS))
			return false;
	return true;
}

/* ---- fetching and checking WQEs ---- */

static u64 hmmnic_wqe_length(struct hmmnic_qp *qp, struct hmmnic_send_wqe *wqe)
{
	u64 len = 0;
	u32 i;

	if (wqe->send_flags & HMMNIC_SEND_INLINE)
		return wqe->inline_len;
	for (i = 0; i < wqe->num_sge; i++)
		len += wqe->sge[i].length;
	return len;
}

/* The status a WQE fails with before it is sent, or IB_WC_SUCCESS. */
static enum ib_wc_status hmmnic_wqe_check(struct hmmnic_qp *qp,
					  struct hmmnic_send_wqe *wqe,
					  u64 *length)
{
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	u64 len;

	switch (wqe->opcode) {
	case IB_WR_SEND:
	case IB_WR_SEND_WITH_IMM:
		break;
	case IB_WR_REG_MR:
		if (qp->user)
			return IB_WC_LOC_QP_OP_ERR;
		fallthrough;
	case IB_WR_LOCAL_INV:
		*length = 0;
		if (wqe->send_flags & ~(HMMNIC_SEND_FENCE |
					HMMNIC_SEND_SIGNALED))
			return IB_WC_LOC_QP_OP_ERR;
		return IB_WC_SUCCESS;
	case IB_WR_SEND_WITH_INV:
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
	case IB_WR_RDMA_READ:
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		if (!rc)
			return IB_WC_LOC_QP_OP_ERR;
		break;
	default:
		return IB_WC_LOC_QP_OP_ERR;
	}
	if (wqe->send_flags & ~(HMMNIC_SEND_FENCE | HMMNIC_SEND_SIGNALED |
				HMMNIC_SEND_SOLICITED | HMMNIC_SEND_INLINE))
		return IB_WC_LOC_QP_OP_ERR;
	if (wqe->send_flags & HMMNIC_SEND_INLINE) {
		if (wqe->inline_len > qp->max_inline ||
		    hmmnic_wqe_is_rd_atomic(wqe))
			return IB_WC_LOC_QP_OP_ERR;
	} else if (wqe->num_sge > qp->max_send_sge) {
		return IB_WC_LOC_QP_OP_ERR;
	}

	len = hmmnic_wqe_length(qp, wqe);
	*length = len;
	if (len > HMMNIC_MAX_MSG_SZ)
		return IB_WC_LOC_LEN_ERR;
	if ((wqe->opcode == IB_WR_ATOMIC_CMP_AND_SWP ||
	     wqe->opcode == IB_WR_ATOMIC_FETCH_AND_ADD) && len != 8)
		return IB_WC_LOC_LEN_ERR;
	if (!rc && len > hmmnic_ud_mtu(qp))
		return IB_WC_LOC_LEN_ERR;
	return IB_WC_SUCCESS;
}

/*
 * Copy newly posted WQEs out of the ring. A producer that is impossible
 * (more than the ring ahead of the oldest WQE) breaks the QP.
 */
static void hmmnic_req_fetch(struct hmmnic_qp *qp)
{
	u32 prod;

	if (hmmnic_queue_produced(&qp->sq, qp->req.tail, &prod)) {
		hmmnic_qp_error(qp, true);
		return;
	}
	while (qp->req.fetched != prod) {
		struct hmmnic_send_wqe *wqe = hmmnic_swqe(qp, qp->req.fetched);
		struct hmmnic_swqe_state *st = hmmnic_sst(qp, qp->req.fetched);

		memcpy(wqe, hmmnic_queue_slot(&qp->sq, qp->req.fetched),
		       qp->sq.slot_size);
		memset(st, 0, sizeof(*st));
		st->status = hmmnic_wqe_check(qp, wqe, &st->length);
		qp->req.fetched++;
	}
}

/* ---- building request packets ---- */

static u8 hmmnic_req_opcode(struct hmmnic_send_wqe *wqe, u32 pkt, u32 npkts)
{
	bool first = pkt == 0, last = pkt == npkts - 1;
	bool imm = wqe->opcode == IB_WR_SEND_WITH_IMM ||
		   wqe->opcode == IB_WR_RDMA_WRITE_WITH_IMM;

	switch (wqe->opcode) {
	case IB_WR_SEND_WITH_INV:
		if (first && last)
			return HMMNIC_OP_SEND_ONLY_INV;
		if (last)
			return HMMNIC_OP_SEND_LAST_INV;
		return first ? HMMNIC_OP_SEND_FIRST : HMMNIC_OP_SEND_MIDDLE;
	case IB_WR_SEND:
	case IB_WR_SEND_WITH_IMM:
		if (first && last)
			return imm ? HMMNIC_OP_SEND_ONLY_IMM : HMMNIC_OP_SEND_ONLY;
		if (first)
			return HMMNIC_OP_SEND_FIRST;
		if (last)
			return imm ? HMMNIC_OP_SEND_LAST_IMM : HMMNIC_OP_SEND_LAST;
		return HMMNIC_OP_SEND_MIDDLE;
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		if (first && last)
			return imm ? HMMNIC_OP_WRITE_ONLY_IMM :
				     HMMNIC_OP_WRITE_ONLY;
		if (first)
			return HMMNIC_OP_WRITE_FIRST;
		if (last)
			return imm ? HMMNIC_OP_WRITE_LAST_IMM :
				     HMMNIC_OP_WRITE_LAST;
		return HMMNIC_OP_WRITE_MIDDLE;
	case IB_WR_RDMA_READ:
		return HMMNIC_OP_READ_REQ;
	case IB_WR_ATOMIC_CMP_AND_SWP:
		return HMMNIC_OP_CMP_SWAP;
	default:
		return HMMNIC_OP_FETCH_ADD;
	}
}

/* Return: 0 or what hmmnic_sge_copy() failed with. */
static int hmmnic_req_payload(struct hmmnic_qp *qp,
			      struct hmmnic_send_wqe *wqe, u64 offset,
			      void *buf, u32 len)
{
	if (!len)
		return 0;
	if (wqe->send_flags & HMMNIC_SEND_INLINE) {
		memcpy(buf, (u8 *)wqe->sge + offset, len);
		return 0;
	}
	return hmmnic_sge_copy(qp, wqe->sge, wqe->num_sge, offset, buf, len,
			       false);
}

static void hmmnic_req_fill_eth(struct hmmnic_qp *qp, struct sk_buff *skb,
				struct hmmnic_send_wqe *wqe,
				struct hmmnic_swqe_state *st, u32 pkt_idx)
{
	u32 flags = hmmnic_skb_pkt(skb)->flags;
	u64 offset = (u64)pkt_idx * qp->mtu;

	if (flags & HMMNIC_F_RETH) {
		struct hmmnic_reth *reth = hmmnic_pkt_eth(skb, HMMNIC_F_RETH);
		u64 end = st->length, req_end;

		/* one request of a READ split into several */
		if (wqe->opcode == IB_WR_RDMA_READ) {
			req_end = hmmnic_read_req_end(st->npkts, pkt_idx);
			end = min_t(u64, end, req_end * qp->mtu);
		}
		reth->va = cpu_to_be64(wqe->remote_addr + offset);
		reth->rkey = cpu_to_be32(wqe->rkey);
		reth->len = cpu_to_be32(end - offset);
	}
	if (flags & HMMNIC_F_ATMETH) {
		struct hmmnic_atmeth *a = hmmnic_pkt_eth(skb, HMMNIC_F_ATMETH);

		a->va = cpu_to_be64(wqe->remote_addr);
		a->rkey = cpu_to_be32(wqe->rkey);
		a->swap_add = cpu_to_be64(wqe->opcode ==
					  IB_WR_ATOMIC_CMP_AND_SWP ?
					  wqe->swap : wqe->compare_add);
		a->compare = cpu_to_be64(wqe->compare_add);
	}
	if (flags & HMMNIC_F_DETH) {
		struct hmmnic_deth *deth = hmmnic_pkt_eth(skb, HMMNIC_F_DETH);
		u32 qkey = wqe->remote_qkey;

		/* A Q_Key with the high bit set means "use the QP's". */
		if (qkey & 0x80000000)
			qkey = qp->attr.qkey;
		deth->qkey = cpu_to_be32(qkey);
		deth->sqp = cpu_to_be32(qp->ibqp.qp_num);
	}
	if (flags & HMMNIC_F_IMM) {
		struct hmmnic_immdt *imm = hmmnic_pkt_eth(skb, HMMNIC_F_IMM);

		imm->data = (__force __be32)wqe->ex_data;
	}
	if (flags & HMMNIC_F_IETH) {
		__be32 *ieth = hmmnic_pkt_eth(skb, HMMNIC_F_IETH);

		*ieth = cpu_to_be32(wqe->ex_data);
	}
}

/*
 * Send packet req.cur_pkt of the WQE at req.cur.
 *
 * Return: 0 once sent; -EAGAIN when nothing went out for a transient
 * reason (no skb, an ODP fault that may succeed later): try the same
 * packet again; -EIO for a local error. On failure *@status is what the
 * WQE completes with if it is not tried again.
 */
static int hmmnic_req_send_pkt(struct hmmnic_qp *qp,
			       struct hmmnic_send_wqe *wqe,
			       struct hmmnic_swqe_state *st,
			       enum ib_wc_status *status)
{
	u32 pkt_idx = qp->req.cur_pkt;
	u32 psn = hmmnic_psn_add(st->first_psn, pkt_idx);
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	u8 opcode = hmmnic_req_opcode(wqe, pkt_idx, st->npkts);
	u32 flags = hmmnic_op_info(opcode)->flags;
	u64 offset = (u64)pkt_idx * qp->mtu;
	u32 paylen = 0, dest_qpn;
	struct hmmnic_av av, *avp = &qp->av;
	struct sk_buff *skb;
	bool last, ackreq;
	int err;

	if (!rc) {
		opcode = opcode == HMMNIC_OP_SEND_ONLY_IMM ?
			 HMMNIC_OP_UD_SEND_ONLY_IMM : HMMNIC_OP_UD_SEND_ONLY;
		flags = hmmnic_op_info(opcode)->flags;
		if (hmmnic_ah_lookup(qp->hdev, wqe->ah, qp->ibqp.pd, &av)) {
			*status = IB_WC_LOC_QP_OP_ERR;
			return -EIO;
		}
		avp = &av;
		dest_qpn = wqe->remote_qpn;
	} else {
		dest_qpn = qp->attr.dest_qp_num;
	}
	/* A UD message is one packet, checked against the port MTU. */
	if (flags & HMMNIC_F_PAYLOAD)
		paylen = rc ? min_t(u64, st->length - offset, qp->mtu) :
			      st->length;

	last = flags & HMMNIC_F_LAST;
	ackreq = rc && (last || hmmnic_psn_diff(psn, qp->req.una) >=
			HMMNIC_TX_WINDOW / 2);
	skb = hmmnic_pkt_new(qp, opcode, paylen, psn, ackreq, dest_qpn);
	if (!skb) {
		*status = IB_WC_GENERAL_ERR;
		return -EAGAIN;
	}
	if (last && (wqe->send_flags & HMMNIC_SEND_SOLICITED))
		((struct hmmnic_bth *)skb->data)->flags |= HMMNIC_BTH_SE;
	hmmnic_req_fill_eth(qp, skb, wqe, st, pkt_idx);
	err = hmmnic_req_payload(qp, wqe, offset, hmmnic_pkt_payload(skb),
				 paylen);
	if (err) {
		kfree_skb(skb);
		*status = hmmnic_sge_status(err);
		return hmmnic_err_transient(err) ? -EAGAIN : -EIO;
	}
	if (rc) {
		/* a READ request stands for all its response PSNs */
		u32 end = hmmnic_psn_add(psn, wqe->opcode == IB_WR_RDMA_READ ?
					 hmmnic_read_req_end(st->npkts,
							     pkt_idx) -
					 pkt_idx : 1);

		if (hmmnic_psn_diff(psn, qp->req.max_psn) < 0)
			hmmnic_stat_inc(&qp->hdev->stats,
					HMMNIC_CNT_RETRANSMITS);
		if (hmmnic_psn_diff(end, qp->req.max_psn) > 0)
			qp->req.max_psn = end;
	}

	hmmnic_xmit(qp->hdev, avp, rc ? qp->sport :
		    cpu_to_be16(rdma_get_udp_sport(avp->flow_label,
						   qp->ibqp.qp_num, dest_qpn)),
		    skb, qp->in_doorbell);
	return 0;
}

static u32 hmmnic_req_npkts(struct hmmnic_qp *qp, struct hmmnic_send_wqe *wqe,
			    u64 length)
{
	if (hmmnic_wqe_is_local(wqe))
		return 0;
	if (qp->ibqp.qp_type != IB_QPT_RC ||
	    wqe->opcode == IB_WR_ATOMIC_CMP_AND_SWP ||
	    wqe->opcode == IB_WR_ATOMIC_FETCH_AND_ADD)
		return 1;
	return max_t(u32, DIV_ROUND_UP_ULL(length, qp->mtu), 1);
}

static unsigned int hmmnic_min_ack_timeout_ms;
module_param_named(min_ack_timeout_ms, hmmnic_min_ack_timeout_ms, uint, 0644);
MODULE_PARM_DESC(min_ack_timeout_ms,
		 "Lower bound of the local ACK timeout in ms (default 0: the QP's own); raise it when peers run in slow emulated guests");

/**
 * hmmnic_req_ack_timeout - how long @qp waits for an ACK
 * @qp: the QP
 *
 * Return: 4.096 us * 2^timeout in jiffies, at least two jiffies and at
 * least the module parameter min_ack_timeout_ms.
 */
unsigned long hmmnic_req_ack_timeout(struct hmmnic_qp *qp)
{
	/* 4096 ns << 31 is about 2.4 hours: no overflow in 64 bits */
	unsigned long t = nsecs_to_jiffies(4096ULL << qp->attr.timeout);

	return max3(t, 2UL,
		    msecs_to_jiffies(READ_ONCE(hmmnic_min_ack_timeout_ms)));
}

void hmmnic_req_arm_timer(struct hmmnic_qp *qp)
{
	if (!qp->attr.timeout || READ_ONCE(qp->dying))
		return;
	mod_timer(&qp->retry_timer, jiffies + hmmnic_req_ack_timeout(qp));
}

/* Start the next WQE if the rules allow it; false if it has to wait. */
static bool hmmnic_req_start(struct hmmnic_qp *qp, struct hmmnic_send_wqe *wqe,
			     struct hmmnic_swqe_state *st)
{
	if (qp->state == IB_QPS_SQD)
		return false;
	if (st->status != IB_WC_SUCCESS) {
		/* Bad WQE: everything before it finishes first. */
		if (qp->req.tail == qp->req.cur) {
			hmmnic_req_complete(qp, st->status);
			hmmnic_qp_error(qp, false);
		}
		return false;
	}
	if (hmmnic_wqe_is_rd_atomic(wqe)) {
		if (qp->req.rd_atomic >= max_t(u32, qp->attr.max_rd_atomic, 1))
			return false;
	} else if (hmmnic_wqe_is_local(wqe)) {
		/* a fenced local operation waits for everything before it */
		if ((wqe->send_flags & HMMNIC_SEND_FENCE) &&
		    qp->req.tail != qp->req.cur)
			return false;
	} else if ((wqe->send_flags & HMMNIC_SEND_FENCE) &&
		   qp->req.rd_atomic) {
		return false;
	}
	if (hmmnic_wqe_is_rd_atomic(wqe))
		qp->req.rd_atomic++;
	st->first_psn = qp->req.psn;
	st->npkts = hmmnic_req_npkts(qp, wqe, st->length);
	st->started = true;
	qp->req.cur_pkt = 0;
	return true;
}

/*
 * Run the local operation at req.cur. It takes effect now, before any
 * later WQE sends a packet, and completes once everything before it has.
 * After a go-back the requester passes it again without running it twice.
 */
static bool hmmnic_req_local(struct hmmnic_qp *qp, struct hmmnic_send_wqe *wqe,
			     struct hmmnic_swqe_state *st)
{
	enum ib_wc_status status;

	if (!st->started) {
		if (!hmmnic_req_start(qp, wqe, st))
			return false;
		if (wqe->opcode == IB_WR_REG_MR)
			status = hmmnic_mr_fast_reg(qp, wqe->rkey,
						    wqe->compare_add);
		else
			status = hmmnic_mr_invalidate(qp, wqe->ex_data) ?
				 IB_WC_MW_BIND_ERR : IB_WC_SUCCESS;
		if (status != IB_WC_SUCCESS) {
			/* hmmnic_req_start() completes it in order */
			st->started = false;
			st->status = status;
			return true;
		}
		hmmnic_stat_inc(&qp->hdev->stats,
				wqe->opcode == IB_WR_REG_MR ?
			     HMMNIC_CNT_FAST_REG : HMMNIC_CNT_LOCAL_INV);
	}
	qp->req.cur++;
	qp->req.cur_pkt = 0;
	if (qp->req.tail + 1 == qp->req.cur)
		hmmnic_req_complete(qp, IB_WC_SUCCESS);
	return true;
}

/*
 * May the next packet of the WQE at req.cur go out? The window counts
 * PSNs from the oldest unacknowledged one, for the oldest WQE too: a long
 * message must not run ahead of its acknowledgements, or a slow or
 * hostile responder would have the whole message queued at once. A READ
 * request commits all the PSNs of its responses (a lost response costs
 * them all again), so one that exceeds the window alone may still go when
 * it is the oldest WQE; a READ split into several requests sends each
 * only once the responses to the one before are in.
 */
static bool hmmnic_req_window_ok(struct hmmnic_qp *qp,
				 struct hmmnic_send_wqe *wqe,
				 struct hmmnic_swqe_state *st)
{
	u32 next = hmmnic_psn_add(st->first_psn, qp->req.cur_pkt);
	u32 end;

	if (wqe->opcode != IB_WR_RDMA_READ)
		return hmmnic_psn_diff(hmmnic_psn_add(next, 1), qp->req.una) <=
		       HMMNIC_TX_WINDOW;
	if (qp->req.cur_pkt && hmmnic_psn_diff(next, qp->req.una) > 0)
		return false;
	end = hmmnic_psn_add(st->first_psn,
			     hmmnic_read_req_end(st->npkts, qp->req.cur_pkt));
	return hmmnic_psn_diff(end, qp->req.una) <= HMMNIC_TX_WINDOW ||
	       qp->req.cur == qp->req.tail;
}

/*
 * hmmnic_req_step - send one request packet
 *
 * Return: true if a packet went out (or a WQE was retired), false if the
 * requester has nothing it may send now.
 */
bool hmmnic_req_step(struct hmmnic_qp *qp)
{
	struct hmmnic_send_wqe *wqe;
	struct hmmnic_swqe_state *st;
	enum ib_wc_status status;
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	int err;

	if (qp->state != IB_QPS_RTS && qp->state != IB_QPS_SQD)
		return false;
	if (qp->req.rnr_wait || hmmnic_busy_waiting(qp, &qp->req.busy) ||
	    hmmnic_busy_waiting(qp, &qp->req.place))
		return false;
	if (qp->req.cur == qp->req.fetched)
		hmmnic_req_fetch(qp);
	if (qp->req.cur == qp->req.fetched || qp->state == IB_QPS_ERR)
		return false;

	wqe = hmmnic_swqe(qp, qp->req.cur);
	st = hmmnic_sst(qp, qp->req.cur);
	if (hmmnic_wqe_is_local(wqe))
		return hmmnic_req_local(qp, wqe, st);
	if (st->started && st->status != IB_WC_SUCCESS) {
		/* failed while sending: it completes when its turn comes */
		if (qp->req.tail == qp->req.cur) {
			hmmnic_req_complete(qp, st->status);
			hmmnic_qp_error(qp, false);
		}
		return false;
	}
	if (!st->started && !hmmnic_req_start(qp, wqe, st))
		return false;
	if (rc && !hmmnic_req_window_ok(qp, wqe, st))
		return false;

	if (rc && hmmnic_tx_busy(&qp->av)) {
		hmmnic_qp_tx_wait(qp);
		return false;
	}
	err = hmmnic_req_send_pkt(qp, wqe, st, &status);
	/* the same packet later: nothing has changed but time */
	if (err == -EAGAIN && hmmnic_busy_retry(qp, &qp->req.busy))
		return false;
	if (err) {
		/* Local error: complete in order, then flush the rest. */
		st->status = status;
		if (qp->req.tail == qp->req.cur) {
			hmmnic_req_complete(qp, status);
			hmmnic_qp_error(qp, false);
		}
		return false;
	}

	qp->req.busy.tries = 0;
	/* one request stands for up to HMMNIC_READ_REQ_PKTS responses */
	if (wqe->opcode == IB_WR_RDMA_READ)
		qp->req.cur_pkt = hmmnic_read_req_end(st->npkts,
						      qp->req.cur_pkt);
	else
		qp->req.cur_pkt++;
	if (rc && !timer_pending(&qp->retry_timer))
		hmmnic_req_arm_timer(qp);
	if (qp->req.cur_pkt < st->npkts)
		return true;

	qp->req.psn = hmmnic_psn_add(st->first_psn, st->npkts);
	qp->req.cur++;
	/* a WQE started before a go-back resumes from its first packet */
	qp->req.cur_pkt = 0;
	if (!rc) {
		/* UD has no acknowledgements: done once sent. */
		qp->req.una = qp->req.psn;
		hmmnic_req_complete(qp, IB_WC_SUCCESS);
	}
	return true;
}

/*
 * hmmnic_req_rewind - go back to @psn and send everything from there again
 *
 * @psn lies in a WQE between req.tail and req.cur that has started.
 */
void hmmnic_req_rewind(struct hmmnic_qp *qp, u32 psn)
{
	struct hmmnic_swqe_state *cur = hmmnic_sst(qp, qp->req.cur);
	u32 next, i;

	/* Never forward: what comes after the next packet is sent anyway. */
	next = qp->req.cur != qp->req.fetched && cur->started ?
	       hmmnic_psn_add(cur->first_psn, qp->req.cur_pkt) : qp->req.psn;
	if (hmmnic_psn_diff(psn, next) >= 0)
		return;

	for (i = qp->req.tail; i != qp->req.fetched; i++) {
		struct hmmnic_swqe_state *st = hmmnic_sst(qp, i);
		s32 off;

		if (!st->started)
			break;
		off = hmmnic_psn_diff(psn, st->first_psn);
		if (off >= 0 && off < st->npkts) {
			qp->req.cur = i;
			qp->req.cur_pkt = off;
			qp->req.psn = psn;
			return;
		}
	}
}

/**
 * hmmnic_req_flush - complete every posted send WQE of a QP in error
 * @qp: the QP
 *
 * With IB_WC_WR_FLUSH_ERR, or the error a WQE failed its checks with.
 * Nothing is sent any more; what user space posts meanwhile is fetched by
 * the next run's flush.
 */
void hmmnic_req_flush(struct hmmnic_qp *qp)
{
	lockdep_assert_held(&qp->mutex);
	hmmnic_req_fetch(qp);
	while (qp->req.tail != qp->req.fetched) {
		struct hmmnic_swqe_state *st = hmmnic_sst(qp, qp->req.tail);

		hmmnic_req_complete(qp, st->status != IB_WC_SUCCESS ?
				    st->status : IB_WC_WR_FLUSH_ERR);
	}
	qp->req.cur = qp->req.tail;
	qp->req.rd_atomic = 0;
}
