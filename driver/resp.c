// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic responder: executes incoming requests (SEND, RDMA WRITE, RDMA
 * READ, atomics) in PSN order, answers with ACKs, NAKs, READ responses and
 * atomic ACKs, and handles duplicates after a requester went back.
 *
 * Each stage that looks at a request reports what became of it as a class
 * (enum hmmnic_resp_class), and hmmnic_resp_rcv() acts on it in one place:
 * the PSN moves on, or a NAK, an RNR NAK or a sequence NAK goes out, the
 * QP goes into error and the NAK is counted (hmmnic_resp_answer()). The
 * only other NAKs are those of a READ whose responses cannot go on
 * (hmmnic_resp_read_step()), through the same hmmnic_resp_nak().
 *
 * ACKs are coalesced: a request that asks for one marks the ACK pending,
 * and the worker sends a single ACK for the newest PSN when it has run out
 * of packets (never while a READ's responses are still going out, since
 * the ACK would claim the READ finished).
 */
#include <rdma/ib_mad.h>

#include "hmmnic.h"
#include "cq.h"
#include "mr.h"
#include "net.h"
#include "qp.h"
#include "resp.h"
#include "worker.h"

/**
 * enum hmmnic_resp_class - what became of an RC request packet
 * @HMMNIC_RESP_OK: executed: the expected PSN moves on, an ACK is due if
 *                  the request asks for one
 * @HMMNIC_RESP_DROP: nothing more to do, and no answer: a duplicate was
 *                    answered already, or the QP's receive queue is broken
 *                    and the QP is in error
 * @HMMNIC_RESP_GAP: beyond the expected PSN: packets were lost; one
 *                   sequence NAK per gap
 * @HMMNIC_RESP_DUP: before the expected PSN: a duplicate
 *                   (hmmnic_resp_duplicate())
 * @HMMNIC_RESP_RNR: not ready (no receive WQE, or its pages are not
 *                   there yet): an RNR NAK, the requester tries again
 * @HMMNIC_RESP_INV_REQ: invalid request: NAK, the QP goes into error
 * @HMMNIC_RESP_REM_ACCESS: remote access error: NAK, the QP goes into error
 * @HMMNIC_RESP_REM_OP: remote operational error: NAK, the QP goes into
 *                      error
 */
enum hmmnic_resp_class {
	HMMNIC_RESP_OK,
	HMMNIC_RESP_DROP,
	HMMNIC_RESP_GAP,
	HMMNIC_RESP_DUP,
	HMMNIC_RESP_RNR,
	HMMNIC_RESP_INV_REQ,
	HMMNIC_RESP_REM_ACCESS,
	HMMNIC_RESP_REM_OP,
};

static void hmmnic_resp_xmit(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	hmmnic_xmit(qp->hdev, &qp->av, qp->sport, skb, qp->in_doorbell);
}

static void hmmnic_resp_set_aeth(struct sk_buff *skb, u8 syndrome, u32 msn)
{
	struct hmmnic_aeth *aeth = hmmnic_pkt_eth(skb, HMMNIC_F_AETH);

	aeth->smsn = cpu_to_be32((u32)syndrome << 24 | (msn & 0xffffff));
}

static void hmmnic_resp_ack(struct hmmnic_qp *qp, u8 syndrome, u32 psn)
{
	struct sk_buff *skb;

	skb = hmmnic_pkt_new(qp, HMMNIC_OP_ACK, 0, psn, false,
			     qp->attr.dest_qp_num);
	if (!skb)
		return;		/* the requester will time out and retry */
	hmmnic_resp_set_aeth(skb, syndrome, qp->resp.msn);
	hmmnic_resp_xmit(qp, skb);
}

/* Send the coalesced ACK, if one is due. */
void hmmnic_resp_send_ack(struct hmmnic_qp *qp)
{
	if (!qp->resp.ack_pending || qp->resp.reading ||
	    qp->ibqp.qp_type != IB_QPT_RC)
		return;
	qp->resp.ack_pending = false;
	hmmnic_resp_ack(qp, HMMNIC_AETH_ACK_UNLIMITED,
			hmmnic_psn_add(qp->resp.psn, -1));
}

/**
 * hmmnic_resp_nak - answer the request at @psn with a NAK of class @cls
 * @qp: the QP
 * @cls: HMMNIC_RESP_RNR or one of the error classes
 * @psn: the PSN the NAK is about
 *
 * An RNR NAK (not ready: no receive WQE, or in rnr fault mode the target
 * pages are being faulted in) makes the requester come back after its RNR
 * timer. Any other NAK ends the connection: the QP goes into error after
 * it.
 */
static void hmmnic_resp_nak(struct hmmnic_qp *qp, enum hmmnic_resp_class cls,
			    u32 psn)
{
	static const u8 syndrome[] = {
		[HMMNIC_RESP_INV_REQ] = HMMNIC_NAK_INV_REQ,
		[HMMNIC_RESP_REM_ACCESS] = HMMNIC_NAK_REM_ACCESS,
		[HMMNIC_RESP_REM_OP] = HMMNIC_NAK_REM_OP,
	};

	if (cls == HMMNIC_RESP_RNR) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_RNR_NAKS_SENT);
		hmmnic_resp_ack(qp, HMMNIC_AETH_RNR_NAK |
				qp->attr.min_rnr_timer, psn);
		return;
	}
	if (WARN_ON_ONCE(cls < HMMNIC_RESP_INV_REQ))
		cls = HMMNIC_RESP_REM_OP;
	hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_ERR_NAKS_SENT);
	hmmnic_resp_ack(qp, syndrome[cls], psn);
	hmmnic_qp_error(qp, false);
}

static void hmmnic_resp_recv_done(struct hmmnic_qp *qp, enum ib_wc_status st,
				  u32 opcode, u32 byte_len, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	struct hmmnic_cqe cqe = {
		.wr_id = qp->resp.wqe->wr_id,
		.status = st,
		.opcode = opcode,
		.byte_len = byte_len,
		.qp_num = qp->ibqp.qp_num,
	};

	if (st == IB_WC_SUCCESS && (pkt->flags & HMMNIC_F_IMM)) {
		struct hmmnic_immdt *imm = hmmnic_pkt_eth(skb, HMMNIC_F_IMM);

		cqe.wc_flags |= HMMNIC_WC_WITH_IMM;
		cqe.ex_data = (__force u32)imm->data;
	}
	if (st == IB_WC_SUCCESS && (pkt->flags & HMMNIC_F_IETH)) {
		__be32 *ieth = hmmnic_pkt_eth(skb, HMMNIC_F_IETH);

		cqe.wc_flags |= HMMNIC_WC_WITH_INV;
		cqe.ex_data = be32_to_cpu(*ieth);
	}
	if (qp->ibqp.qp_type != IB_QPT_RC && st == IB_WC_SUCCESS) {
		struct hmmnic_deth *deth = hmmnic_pkt_eth(skb, HMMNIC_F_DETH);

		cqe.src_qp = be32_to_cpu(deth->sqp) & HMMNIC_QPN_MASK;
		cqe.wc_flags |= HMMNIC_WC_GRH;
		cqe.network_hdr_type = ip_hdr(skb)->version == 4 ?
				       RDMA_NETWORK_IPV4 : RDMA_NETWORK_IPV6;
	}
	qp->resp.have_wqe = false;
	if (hmmnic_cq_post(qp->rcq, &cqe, qp,
			   pkt->bth_flags & HMMNIC_BTH_SE))
		hmmnic_qp_error(qp, true);
}

/*
 * Take a receive WQE for a new message. Return: 0, -ENOENT (none posted:
 * RNR), or -EIO (the queue is broken; the QP is in error).
 */
static int hmmnic_resp_get_wqe(struct hmmnic_qp *qp)
{
	int err;

	if (qp->resp.have_wqe)
		return 0;
	err = hmmnic_rq_get(qp->rq, qp->resp.wqe);
	if (err == -EINVAL) {
		/* a broken WQE: the flush completes it */
		qp->resp.have_wqe = true;
		err = -EIO;
	}
	if (err == -EIO) {
		hmmnic_qp_error(qp, true);
		return err;
	}
	if (err)
		return err;
	qp->resp.have_wqe = true;
	qp->resp.offset = 0;
	if (qp->srq)
		hmmnic_srq_check_limit(qp->srq);
	return 0;
}

/* A receive WQE for an RC message that consumes one, or why not. */
static enum hmmnic_resp_class
hmmnic_resp_need_wqe(struct hmmnic_qp *qp)
{
	int err = hmmnic_resp_get_wqe(qp);

	if (err == -ENOENT)
		return HMMNIC_RESP_RNR;
	return err ? HMMNIC_RESP_DROP : HMMNIC_RESP_OK;
}

/* ---- UD ---- */

/* Return: true if @skb was put back to be tried again later. */
static bool hmmnic_resp_ud(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	struct hmmnic_deth *deth = hmmnic_pkt_eth(skb, HMMNIC_F_DETH);
	struct hmmnic_recv_wqe *wqe = qp->resp.wqe;
	u8 grh[HMMNIC_GRH_SIZE] = {};
	u32 qkey;
	int err;

	if (qp->state != IB_QPS_RTR && qp->state != IB_QPS_RTS &&
	    qp->state != IB_QPS_SQD) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_QP_STATE);
		return false;
	}
	qkey = qp->ibqp.qp_type == IB_QPT_GSI ? IB_QP1_QKEY : qp->attr.qkey;
	if (be32_to_cpu(deth->qkey) != qkey) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_QKEY);
		return false;
	}
	if (hmmnic_resp_get_wqe(qp)) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_NO_RECV_WQE);
		return false;
	}

	/* The first 40 bytes receive the GRH, or 20 zeros + the IPv4 header. */
	if (ip_hdr(skb)->version == 4)
		memcpy(grh + 20, ip_hdr(skb), sizeof(struct iphdr));
	else
		memcpy(grh, ipv6_hdr(skb), sizeof(struct ipv6hdr));
	err = hmmnic_sge_copy(qp, wqe->sge, wqe->num_sge, 0, grh, sizeof(grh),
			      true);
	if (!err)
		err = hmmnic_sge_copy(qp, wqe->sge, wqe->num_sge, sizeof(grh),
				      hmmnic_pkt_payload(skb), pkt->paylen,
				      true);
	if (hmmnic_err_transient(err)) {
		/*
		 * Nothing sends a datagram again: it goes back to the head of
		 * the queue and waits (resp.busy), the later ones behind it,
		 * and takes the same WQE on the next try. After
		 * HMMNIC_BUSY_GIVE_UP_MS it is lost, as on a NIC without
		 * room, and the WQE waits for the next datagram.
		 */
		if (hmmnic_busy_retry(qp, &qp->resp.busy)) {
			skb_queue_head(&qp->rxq, skb);
			return true;
		}
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_PAGE_FAULT);
		return false;
	}
	qp->resp.busy.tries = 0;
	if (err == -EMSGSIZE)
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_TOO_LONG);
	hmmnic_resp_recv_done(qp, err ? hmmnic_sge_status(err) :
			      IB_WC_SUCCESS, IB_WC_RECV,
			      sizeof(grh) + pkt->paylen, skb);
	return false;
}

/* ---- RC: checks ---- */

/*
 * The packets of a message come in the order FIRST, MIDDLE..., LAST (or
 * ONLY), and a FIRST or ONLY never interrupts an unfinished message.
 */
static bool hmmnic_resp_seq_ok(struct hmmnic_qp *qp, u32 flags)
{
	if (qp->resp.in_send)
		return (flags & HMMNIC_F_SEND) && !(flags & HMMNIC_F_FIRST);
	if (qp->resp.in_write)
		return (flags & HMMNIC_F_WRITE) && !(flags & HMMNIC_F_FIRST);
	return !!(flags & HMMNIC_F_FIRST);
}

/* Payload sizes: FIRST and MIDDLE carry a full MTU, the rest at most. */
static bool hmmnic_resp_len_ok(struct hmmnic_qp *qp, struct hmmnic_pkt *pkt)
{
	if (!(pkt->flags & HMMNIC_F_PAYLOAD))
		return true;
	if (!(pkt->flags & HMMNIC_F_LAST))
		return pkt->paylen == qp->mtu;
	if (!(pkt->flags & HMMNIC_F_FIRST))
		return pkt->paylen && pkt->paylen <= qp->mtu;
	return pkt->paylen <= qp->mtu;
}

/*
 * Look up @rkey for a remote access. Return: the MR with a reference, or
 * NULL if the key, PD, access rights or range do not allow it.
 */
static struct hmmnic_mr *hmmnic_resp_mr(struct hmmnic_qp *qp, u32 rkey,
					u64 va, u64 len, int access)
{
	struct hmmnic_mr *mr;

	if (!(qp->attr.qp_access_flags & access))
		return NULL;
	mr = hmmnic_mr_get(qp->hdev, rkey);
	if (mr && !hmmnic_mr_check(mr, qp->ibqp.pd, va, len, access)) {
		hmmnic_mr_put(mr);
		mr = NULL;
	}
	return mr;
}

/* ---- RC: SEND ---- */

static enum hmmnic_resp_class
hmmnic_resp_send(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	struct hmmnic_recv_wqe *wqe = qp->resp.wqe;
	enum hmmnic_resp_class cls;
	int err;

	cls = hmmnic_resp_need_wqe(qp);
	if (cls != HMMNIC_RESP_OK)
		return cls;
	/* The WQE stays taken for the retry. */
	if (!hmmnic_sge_resident(qp, wqe->sge, wqe->num_sge, qp->resp.offset,
				 pkt->paylen))
		return HMMNIC_RESP_RNR;

	err = hmmnic_sge_copy(qp, wqe->sge, wqe->num_sge, qp->resp.offset,
			      hmmnic_pkt_payload(skb), pkt->paylen, true);
	/* the buffer's pages, not now: as if no WQE was ready */
	if (hmmnic_err_transient(err))
		return HMMNIC_RESP_RNR;
	if (err) {
		hmmnic_resp_recv_done(qp, hmmnic_sge_status(err), IB_WC_RECV,
				      0, skb);
		return err == -EMSGSIZE ? HMMNIC_RESP_INV_REQ :
					  HMMNIC_RESP_REM_OP;
	}
	qp->resp.offset += pkt->paylen;
	qp->resp.in_send = !(pkt->flags & HMMNIC_F_LAST);
	/*
	 * SEND with Invalidate: once the data is placed, the fast
	 * registration the requester names stops being usable. Only one of
	 * this QP's PD can be invalidated (there are no memory windows).
	 */
	if (pkt->flags & HMMNIC_F_IETH) {
		__be32 *ieth = hmmnic_pkt_eth(skb, HMMNIC_F_IETH);

		if (hmmnic_mr_invalidate(qp, be32_to_cpu(*ieth))) {
			hmmnic_resp_recv_done(qp, IB_WC_REM_INV_REQ_ERR,
					      IB_WC_RECV, 0, skb);
			return HMMNIC_RESP_INV_REQ;
		}
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_REMOTE_INV);
	}
	if (pkt->flags & HMMNIC_F_LAST)
		hmmnic_resp_recv_done(qp, IB_WC_SUCCESS, IB_WC_RECV,
				      qp->resp.offset, skb);
	return HMMNIC_RESP_OK;
}

/* ---- RC: RDMA WRITE ---- */

static enum hmmnic_resp_class
hmmnic_resp_write(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	bool imm = pkt->flags & HMMNIC_F_IMM;
	enum hmmnic_resp_class cls;
	struct hmmnic_mr *mr;
	int err;

	if (pkt->flags & HMMNIC_F_RETH) {
		struct hmmnic_reth *reth = hmmnic_pkt_eth(skb, HMMNIC_F_RETH);

		qp->resp.write_va = be64_to_cpu(reth->va);
		qp->resp.write_rkey = be32_to_cpu(reth->rkey);
		qp->resp.write_left = be32_to_cpu(reth->len);
		qp->resp.write_len = qp->resp.write_left;
		if (!(qp->attr.qp_access_flags & IB_ACCESS_REMOTE_WRITE))
			return HMMNIC_RESP_REM_ACCESS;
		if ((pkt->flags & HMMNIC_F_LAST) ?
		    pkt->paylen != qp->resp.write_left :
		    qp->resp.write_left <= qp->mtu)
			return HMMNIC_RESP_INV_REQ;
	}
	if (pkt->paylen > qp->resp.write_left ||
	    ((pkt->flags & HMMNIC_F_LAST) &&
	     pkt->paylen != qp->resp.write_left))
		return HMMNIC_RESP_INV_REQ;
	/* WRITE with immediate consumes a receive WQE: check before writing */
	if (imm) {
		cls = hmmnic_resp_need_wqe(qp);
		if (cls != HMMNIC_RESP_OK)
			return cls;
	}

	if (pkt->paylen) {
		mr = hmmnic_resp_mr(qp, qp->resp.write_rkey, qp->resp.write_va,
				    pkt->paylen, IB_ACCESS_REMOTE_WRITE);
		if (!mr)
			return HMMNIC_RESP_REM_ACCESS;
		if (!hmmnic_mr_resident(mr, qp->resp.write_va, pkt->paylen,
					true)) {
			hmmnic_mr_put(mr);
			return HMMNIC_RESP_RNR;
		}
		err = hmmnic_mr_copy(mr, qp->resp.write_va,
				     hmmnic_pkt_payload(skb), pkt->paylen,
				     true);
		hmmnic_mr_put(mr);
		/* the packet again after the RNR timer rewrites it */
		if (hmmnic_err_transient(err))
			return HMMNIC_RESP_RNR;
		if (err)
			return HMMNIC_RESP_REM_ACCESS;
	}
	qp->resp.write_va += pkt->paylen;
	qp->resp.write_left -= pkt->paylen;
	qp->resp.in_write = !(pkt->flags & HMMNIC_F_LAST);
	if (imm)
		hmmnic_resp_recv_done(qp, IB_WC_SUCCESS,
				      IB_WC_RECV_RDMA_WITH_IMM,
				      qp->resp.write_len, skb);
	return HMMNIC_RESP_OK;
}

/* ---- RC: READ and ATOMIC resources ---- */

static u32 hmmnic_resp_nres(struct hmmnic_qp *qp)
{
	return max_t(u32, qp->attr.max_dest_rd_atomic, 1);
}

static struct hmmnic_res *hmmnic_resp_new_res(struct hmmnic_qp *qp)
{
	struct hmmnic_res *res;

	res = &qp->resp.res[qp->resp.res_head++ % hmmnic_resp_nres(qp)];
	memset(res, 0, sizeof(*res));
	return res;
}

/* The resource a duplicate READ/ATOMIC request with @psn refers to. */
static struct hmmnic_res *hmmnic_resp_find_res(struct hmmnic_qp *qp, u8 op,
					       u32 psn)
{
	u32 i;

	for (i = 0; i < hmmnic_resp_nres(qp); i++) {
		struct hmmnic_res *res = &qp->resp.res[i];

		if (res->valid && res->opcode == op &&
		    hmmnic_psn_diff(psn, res->first_psn) >= 0 &&
		    hmmnic_psn_diff(psn, res->last_psn) <= 0)
			return res;
	}
	return NULL;
}

/*
 * Check a READ request and point @res at what it asks for.
 * @dup: for a duplicate (only recorded in @res; see hmmnic_resp_duplicate()
 * for what a duplicate that does not check out becomes).
 *
 * Return: HMMNIC_RESP_OK, or the class of the request's error.
 */
static enum hmmnic_resp_class
hmmnic_resp_read_setup(struct hmmnic_qp *qp, struct sk_buff *skb,
		       struct hmmnic_res *res, bool dup)
{
	struct hmmnic_reth *reth = hmmnic_pkt_eth(skb, HMMNIC_F_RETH);
	u32 psn = hmmnic_skb_pkt(skb)->psn;
	struct hmmnic_mr *mr = NULL;
	u32 len = be32_to_cpu(reth->len);
	u64 va = be64_to_cpu(reth->va);
	u32 npkts = max_t(u32, DIV_ROUND_UP(len, qp->mtu), 1);

	if (len > HMMNIC_MAX_MSG_SZ)
		return HMMNIC_RESP_INV_REQ;
	if (!(qp->attr.qp_access_flags & IB_ACCESS_REMOTE_READ))
		return HMMNIC_RESP_REM_ACCESS;
	/* more responses than PSN comparisons can tell apart */
	if (npkts > HMMNIC_READ_MAX_PKTS)
		return HMMNIC_RESP_INV_REQ;
	if (len) {
		mr = hmmnic_resp_mr(qp, be32_to_cpu(reth->rkey), va, len,
				    IB_ACCESS_REMOTE_READ);
		if (!mr)
			return HMMNIC_RESP_REM_ACCESS;
		hmmnic_mr_put(mr);
	}
	res->opcode = HMMNIC_OP_READ_REQ;
	res->valid = true;
	res->dup = dup;
	res->va = va;
	res->rkey = be32_to_cpu(reth->rkey);
	res->length = len;
	res->next_psn = psn;
	res->last_psn = hmmnic_psn_add(psn, npkts - 1);
	return HMMNIC_RESP_OK;
}

static enum hmmnic_resp_class
hmmnic_resp_read(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_res *res = hmmnic_resp_new_res(qp);
	enum hmmnic_resp_class cls;

	res->first_psn = hmmnic_skb_pkt(skb)->psn;
	cls = hmmnic_resp_read_setup(qp, skb, res, false);
	if (cls != HMMNIC_RESP_OK) {
		res->valid = false;
		return cls;
	}
	qp->resp.reading = res;
	/* a READ's faults get their own time, not one given up before */
	qp->resp.busy.tries = 0;
	/* the READ's PSNs are the responses' */
	qp->resp.psn = res->last_psn;
	return HMMNIC_RESP_OK;
}

/*
 * hmmnic_resp_read_step - send the next response packet of the READ
 * being answered
 */
bool hmmnic_resp_read_step(struct hmmnic_qp *qp)
{
	struct hmmnic_res *res = qp->resp.reading;
	u32 idx = hmmnic_psn_diff(res->next_psn, res->first_psn);
	u32 npkts = hmmnic_psn_diff(res->last_psn, res->first_psn) + 1;
	u32 paylen = min_t(u32, res->length, qp->mtu);
	struct hmmnic_mr *mr = NULL;
	struct sk_buff *skb;
	u8 opcode;
	int err = 0;

	if (hmmnic_busy_waiting(qp, &qp->resp.busy))
		return false;
	if (hmmnic_tx_busy(&qp->av)) {
		hmmnic_qp_tx_wait(qp);
		return false;
	}
	if (npkts == 1)
		opcode = HMMNIC_OP_READ_RESP_ONLY;
	else if (idx == 0)
		opcode = HMMNIC_OP_READ_RESP_FIRST;
	else if (idx == npkts - 1)
		opcode = HMMNIC_OP_READ_RESP_LAST;
	else
		opcode = HMMNIC_OP_READ_RESP_MIDDLE;

	skb = hmmnic_pkt_new(qp, opcode, paylen, res->next_psn, false,
			     qp->attr.dest_qp_num);
	if (!skb) {
		err = -ENOMEM;
		goto busy;
	}
	if (paylen) {
		/* The MR may be gone since the request: check again. */
		mr = hmmnic_resp_mr(qp, res->rkey, res->va, paylen,
				    IB_ACCESS_REMOTE_READ);
		if (mr) {
			err = hmmnic_mr_copy(mr, res->va,
					     hmmnic_pkt_payload(skb), paylen,
					     false);
			hmmnic_mr_put(mr);
		}
		if (mr && hmmnic_err_transient(err)) {
			kfree_skb(skb);
			goto busy;
		}
		if (!mr || err) {
			kfree_skb(skb);
			qp->resp.reading = NULL;
			qp->resp.busy.tries = 0;
			/* see hmmnic_resp_duplicate(): a duplicate just stops */
			if (res->dup)
				res->valid = false;
			else
				hmmnic_resp_nak(qp, HMMNIC_RESP_REM_ACCESS,
						res->next_psn);
			return false;
		}
	}
	if (hmmnic_skb_pkt(skb)->flags & HMMNIC_F_AETH)
		hmmnic_resp_set_aeth(skb, HMMNIC_AETH_ACK_UNLIMITED,
				     qp->resp.msn);
	hmmnic_resp_xmit(qp, skb);
	qp->resp.busy.tries = 0;

	res->va += paylen;
	res->length -= paylen;
	if (res->next_psn == res->last_psn)
		qp->resp.reading = NULL;
	else
		res->next_psn = hmmnic_psn_add(res->next_psn, 1);
	return true;

busy:
	/*
	 * No RNR NAK answers a READ: the same response later, the rest of
	 * the QP's receive work waiting behind it, as the READ's order asks.
	 */
	if (hmmnic_busy_retry(qp, &qp->resp.busy))
		return false;
	qp->resp.reading = NULL;
	hmmnic_resp_nak(qp, HMMNIC_RESP_REM_OP, res->next_psn);
	return false;
}

static void hmmnic_resp_send_atomic_ack(struct hmmnic_qp *qp,
					struct hmmnic_res *res)
{
	struct hmmnic_atmack *ack;
	struct sk_buff *skb;

	skb = hmmnic_pkt_new(qp, HMMNIC_OP_ATOMIC_ACK, 0, res->first_psn,
			     false, qp->attr.dest_qp_num);
	if (!skb)
		return;
	hmmnic_resp_set_aeth(skb, HMMNIC_AETH_ACK_UNLIMITED, qp->resp.msn);
	ack = hmmnic_pkt_eth(skb, HMMNIC_F_ATMACK);
	ack->orig = cpu_to_be64(res->atomic_orig);
	hmmnic_resp_xmit(qp, skb);
}

static enum hmmnic_resp_class
hmmnic_resp_atomic(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_atmeth *a = hmmnic_pkt_eth(skb, HMMNIC_F_ATMETH);
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	u64 va = be64_to_cpu(a->va);
	struct hmmnic_res *res;
	struct hmmnic_mr *mr;
	u64 orig;
	int err;

	if (!IS_ALIGNED(va, 8))
		return HMMNIC_RESP_INV_REQ;
	mr = hmmnic_resp_mr(qp, be32_to_cpu(a->rkey), va, 8,
			    IB_ACCESS_REMOTE_ATOMIC);
	if (!mr)
		return HMMNIC_RESP_REM_ACCESS;
	if (!hmmnic_mr_resident(mr, va, 8, true)) {
		hmmnic_mr_put(mr);
		return HMMNIC_RESP_RNR;
	}
	err = hmmnic_mr_atomic(mr, va, pkt->opcode,
			       pkt->opcode == HMMNIC_OP_CMP_SWAP ?
			       be64_to_cpu(a->compare) :
			       be64_to_cpu(a->swap_add),
			       be64_to_cpu(a->swap_add), &orig);
	hmmnic_mr_put(mr);
	/* not executed: the word was never reached */
	if (hmmnic_err_transient(err))
		return HMMNIC_RESP_RNR;
	/* -EINVAL: the address behind an aligned iova is not aligned */
	if (err)
		return err == -EINVAL ? HMMNIC_RESP_INV_REQ :
					HMMNIC_RESP_REM_ACCESS;
	res = hmmnic_resp_new_res(qp);
	res->opcode = HMMNIC_OP_CMP_SWAP;	/* any atomic */
	res->valid = true;
	res->first_psn = pkt->psn;
	res->last_psn = pkt->psn;
	res->atomic_orig = orig;
	qp->resp.msn++;
	hmmnic_resp_send_atomic_ack(qp, res);
	return HMMNIC_RESP_OK;
}

/* ---- RC: duplicates ---- */

/*
 * A request before the expected PSN, executed already: answered again, not
 * executed again.
 *
 * A duplicate READ may repeat one that is done (the network made the copy,
 * or it crossed the responses). A copy that does not check out (its
 * length, the QP's access, a key or range that no longer does) is not
 * worth a fatal NAK: it is dropped, the READ it names (perhaps being
 * answered now) stays as it was, and a requester that really lacks the
 * data asks again until its retries run out.
 *
 * Return: HMMNIC_RESP_DROP, or HMMNIC_RESP_INV_REQ for a READ asked again
 * with an end other than its own.
 */
static enum hmmnic_resp_class
hmmnic_resp_duplicate(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	struct hmmnic_res *res;

	hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DUP_REQUESTS);
	if (pkt->flags & HMMNIC_F_READ) {
		struct hmmnic_res again = {};

		/* Answer again from the PSN asked for, with the new RETH. */
		res = hmmnic_resp_find_res(qp, HMMNIC_OP_READ_REQ, pkt->psn);
		if (!res)
			return HMMNIC_RESP_DROP;
		/* Being answered, and from there on anyway: nothing to do. */
		if (qp->resp.reading == res &&
		    hmmnic_psn_diff(pkt->psn, res->next_psn) >= 0)
			return HMMNIC_RESP_DROP;
		again.first_psn = pkt->psn;
		if (hmmnic_resp_read_setup(qp, skb, &again, true) !=
		    HMMNIC_RESP_OK)
			return HMMNIC_RESP_DROP;
		/*
		 * A READ asked again from a later PSN ends where it did: the
		 * PSNs beyond belong to the requests that followed.
		 */
		if (again.last_psn != res->last_psn) {
			if (qp->resp.reading == res)
				qp->resp.reading = NULL;
			res->valid = false;
			return HMMNIC_RESP_INV_REQ;
		}
		*res = again;
		qp->resp.reading = res;
		return HMMNIC_RESP_DROP;
	}
	if (pkt->flags & HMMNIC_F_ATOMIC) {
		res = hmmnic_resp_find_res(qp, HMMNIC_OP_CMP_SWAP, pkt->psn);
		if (res)
			hmmnic_resp_send_atomic_ack(qp, res);
		return HMMNIC_RESP_DROP;
	}
	/* SEND or WRITE already executed: acknowledge it again. */
	qp->resp.ack_pending = true;
	return HMMNIC_RESP_DROP;
}

/**
 * hmmnic_resp_take_dup - take a copy of the READ being answered from the
 * head of the receive queue
 * @qp: the QP, an RC QP whose responder is answering a READ
 *
 * A requester that lost a response asks for the READ again from there,
 * and every response sent until the copy is seen is one it drops. So such
 * a copy does not wait behind the READ's responses, as new requests must:
 * it changes nothing but where the responses start again. Only a READ
 * request for a PSN this stream has already answered is taken (one for a
 * later PSN, or for another READ or atomic, waits for the stream to end,
 * so that copies are answered in the order they came), and only from the
 * head of the queue, to keep the order of new requests.
 *
 * Return: true if a packet was taken.
 */
bool hmmnic_resp_take_dup(struct hmmnic_qp *qp)
{
	struct hmmnic_res *res = qp->resp.reading;
	struct hmmnic_pkt *pkt;
	struct sk_buff *skb;
	unsigned long flags;
	bool dup = false;

	lockdep_assert_held(&qp->mutex);
	/* the common case, once per response: nothing came meanwhile */
	if (skb_queue_empty_lockless(&qp->rxq))
		return false;
	spin_lock_irqsave(&qp->rxq.lock, flags);
	skb = skb_peek(&qp->rxq);
	if (skb) {
		pkt = hmmnic_skb_pkt(skb);
		dup = (pkt->flags & HMMNIC_F_READ) &&
		      hmmnic_psn_diff(pkt->psn, res->first_psn) >= 0 &&
		      hmmnic_psn_diff(pkt->psn, res->next_psn) < 0;
	}
	if (dup)
		__skb_unlink(skb, &qp->rxq);
	spin_unlock_irqrestore(&qp->rxq.lock, flags);
	if (dup)
		hmmnic_resp_rcv(qp, skb);
	return dup;
}

/* ---- flushing ---- */

static void hmmnic_resp_flush_wqe(struct hmmnic_qp *qp, u64 wr_id)
{
	struct hmmnic_cqe cqe = {
		.wr_id = wr_id,
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = IB_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
	};

	hmmnic_cq_post(qp->rcq, &cqe, qp, false);
}

/**
 * hmmnic_resp_flush - complete the posted receive WQEs of a QP in error
 * @qp: the QP
 *
 * With IB_WC_WR_FLUSH_ERR. An SRQ keeps its WQEs, except the one this QP
 * had taken. User space can keep posting while we flush, so a run takes
 * at most a ring's worth.
 *
 * Return: true once the receive queue is empty (or broken), false if the
 * worker must come back for more.
 */
bool hmmnic_resp_flush(struct hmmnic_qp *qp)
{
	struct hmmnic_recv_wqe *wqe = qp->resp.wqe;
	u32 n;

	lockdep_assert_held(&qp->mutex);
	qp->resp.reading = NULL;
	if (qp->resp.have_wqe) {
		hmmnic_resp_flush_wqe(qp, wqe->wr_id);
		qp->resp.have_wqe = false;
	}
	if (qp->srq)
		return true;
	for (n = 0; n < qp->rq->queue.num_slots; n++) {
		int err = hmmnic_rq_get(qp->rq, wqe);

		/* a broken WQE is taken and flushed like the others */
		if (err && err != -EINVAL)
			return true;
		hmmnic_resp_flush_wqe(qp, wqe->wr_id);
	}
	return false;
}

/* ---- entry ---- */

/* Where @pkt stands in the PSN sequence, and whether it may come now. */
static enum hmmnic_resp_class
hmmnic_resp_check(struct hmmnic_qp *qp, struct hmmnic_pkt *pkt)
{
	s32 diff = hmmnic_psn_diff(pkt->psn, qp->resp.psn);

	if (diff > 0)
		return HMMNIC_RESP_GAP;
	if (diff < 0)
		return HMMNIC_RESP_DUP;
	qp->resp.nak_sent = false;
	if (!hmmnic_resp_seq_ok(qp, pkt->flags) ||
	    !hmmnic_resp_len_ok(qp, pkt))
		return HMMNIC_RESP_INV_REQ;
	return HMMNIC_RESP_OK;
}

/* Execute the request at the expected PSN. */
static enum hmmnic_resp_class
hmmnic_resp_execute(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	u32 flags = hmmnic_skb_pkt(skb)->flags;

	if (flags & HMMNIC_F_SEND)
		return hmmnic_resp_send(qp, skb);
	if (flags & HMMNIC_F_WRITE)
		return hmmnic_resp_write(qp, skb);
	if (flags & HMMNIC_F_READ)
		return hmmnic_resp_read(qp, skb);
	return hmmnic_resp_atomic(qp, skb);
}

/* Act on what became of @pkt: the one place an RC request is answered. */
static void hmmnic_resp_answer(struct hmmnic_qp *qp, struct hmmnic_pkt *pkt,
			       enum hmmnic_resp_class cls)
{
	switch (cls) {
	case HMMNIC_RESP_OK:
		if ((pkt->flags & HMMNIC_F_LAST) &&
		    !(pkt->flags & HMMNIC_F_ATOMIC))
			qp->resp.msn++;
		qp->resp.psn = hmmnic_psn_add(qp->resp.psn, 1);
		if (pkt->ackreq &&
		    !(pkt->flags & (HMMNIC_F_READ | HMMNIC_F_ATOMIC)))
			qp->resp.ack_pending = true;
		return;
	case HMMNIC_RESP_DROP:
		return;
	case HMMNIC_RESP_GAP:
		/* Packets were lost: say once which PSN we expect. */
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_OUT_OF_SEQ);
		if (!qp->resp.nak_sent) {
			qp->resp.nak_sent = true;
			hmmnic_stat_inc(&qp->hdev->stats,
					HMMNIC_CNT_SEQ_NAKS_SENT);
			hmmnic_resp_ack(qp, HMMNIC_NAK_PSN_SEQ, qp->resp.psn);
		}
		return;
	default:
		hmmnic_resp_nak(qp, cls, pkt->psn);
		return;
	}
}

/**
 * hmmnic_resp_rcv - a request packet for this QP's responder
 * @qp: the QP; its worker runs
 * @skb: the packet, consumed (or put back at the head of @qp's receive
 *       queue, for a UD datagram that waits for memory)
 */
void hmmnic_resp_rcv(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	enum hmmnic_resp_class cls;

	lockdep_assert_held(&qp->mutex);
	if (qp->ibqp.qp_type != IB_QPT_RC) {
		if (hmmnic_resp_ud(qp, skb))
			return;		/* kept for a later try */
		goto out;
	}
	if (qp->state != IB_QPS_RTR && qp->state != IB_QPS_RTS &&
	    qp->state != IB_QPS_SQD) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_QP_STATE);
		goto out;
	}
	cls = hmmnic_resp_check(qp, pkt);
	if (cls == HMMNIC_RESP_DUP)
		cls = hmmnic_resp_duplicate(qp, skb);
	else if (cls == HMMNIC_RESP_OK)
		cls = hmmnic_resp_execute(qp, skb);
	hmmnic_resp_answer(qp, pkt, cls);
out:
	kfree_skb(skb);
}
