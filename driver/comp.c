// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic completer: acknowledgements, READ responses and atomic ACKs for
 * an RC requester; retransmission on timeout and NAK.
 *
 * req.una is the oldest PSN not yet acknowledged; the WQE at req.tail
 * holds it. An ACK for PSN p retires every WQE that ends at or before p.
 * A READ or ATOMIC retires only with its response; an ACK beyond one
 * whose response is missing means the response was lost, and the
 * requester goes back to it.
 */
#include "hmmnic.h"
#include "comp.h"
#include "mr.h"
#include "qp.h"
#include "req.h"
#include "worker.h"

/* RNR NAK timer field -> microseconds (IBTA table 45) */
static const u32 hmmnic_rnr_usecs[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

/* The oldest send WQE, whose completion the completer waits for */
static struct hmmnic_send_wqe *hmmnic_tail_wqe(struct hmmnic_qp *qp)
{
	return hmmnic_swqe(qp, qp->req.tail);
}

static struct hmmnic_swqe_state *hmmnic_tail_st(struct hmmnic_qp *qp)
{
	return hmmnic_sst(qp, qp->req.tail);
}

/* Is there an oldest WQE that has started (sent a packet or run)? */
static bool hmmnic_tail_busy(struct hmmnic_qp *qp)
{
	return qp->req.tail != qp->req.fetched && hmmnic_tail_st(qp)->started;
}

/*
 * Go back to the oldest unacknowledged PSN because packets were lost; but
 * only once per gap for an eighth of the ACK timeout (at least two
 * jiffies): every later packet of the same window tells the same story,
 * and answering each with a retransmission floods the link. Once that
 * hold is over, a packet that still shows the same gap means the first
 * packet sent again was lost too (or overtaken), and going back once more
 * beats waiting for the whole timeout.
 */
static void hmmnic_comp_go_back(struct hmmnic_qp *qp, u32 psn)
{
	unsigned long hold = max(hmmnic_req_ack_timeout(qp) / 8, 2UL);

	if (qp->req.gap_valid && qp->req.gap_psn == psn &&
	    time_before(jiffies, qp->req.gap_time + hold))
		return;
	qp->req.gap_valid = true;
	qp->req.gap_psn = psn;
	qp->req.gap_time = jiffies;
	hmmnic_req_rewind(qp, psn);
}

/* Something was acknowledged: the retry budgets start over. */
static void hmmnic_comp_progress(struct hmmnic_qp *qp)
{
	qp->req.gap_valid = false;
	qp->req.place.tries = 0;
	qp->req.retry_left = qp->attr.retry_cnt;
	qp->req.rnr_left = qp->attr.rnr_retry;
	if (hmmnic_psn_diff(qp->req.max_psn, qp->req.una) > 0)
		hmmnic_req_arm_timer(qp);
	else
		timer_delete(&qp->retry_timer);
}

/*
 * hmmnic_comp_ack - everything before @end is acknowledged
 *
 * Return: false if @end acknowledges PSNs never sent (the packet is bogus)
 * or the requester had to go back to a lost READ/ATOMIC response.
 */
static bool hmmnic_comp_ack(struct hmmnic_qp *qp, u32 end)
{
	if (hmmnic_psn_diff(end, qp->req.max_psn) > 0)
		return false;
	u32 una = qp->req.una, tail = qp->req.tail;

	if (hmmnic_psn_diff(end, qp->req.una) <= 0)
		return true;

	while (hmmnic_tail_busy(qp)) {
		struct hmmnic_swqe_state *st = hmmnic_tail_st(qp);
		u32 wqe_end = hmmnic_psn_add(st->first_psn, st->npkts);

		if (hmmnic_psn_diff(wqe_end, end) > 0)
			break;
		if (hmmnic_wqe_is_rd_atomic(hmmnic_tail_wqe(qp))) {
			/* acknowledged beyond a response we never got */
			hmmnic_comp_go_back(qp, qp->req.una);
			return false;
		}
		qp->req.una = wqe_end;
		if (!hmmnic_req_complete(qp, IB_WC_SUCCESS))
			return false;
	}
	if (hmmnic_tail_busy(qp) &&
	    !hmmnic_wqe_is_rd_atomic(hmmnic_tail_wqe(qp)) &&
	    hmmnic_psn_diff(end, qp->req.una) > 0)
		qp->req.una = end;
	if (qp->req.una != una || qp->req.tail != tail)
		hmmnic_comp_progress(qp);
	return true;
}

/* Fail the oldest WQE with @status and put the QP into error. */
static void hmmnic_comp_fail(struct hmmnic_qp *qp, enum ib_wc_status status)
{
	if (hmmnic_tail_busy(qp))
		hmmnic_req_complete(qp, status);
	hmmnic_qp_error(qp, false);
}

/*
 * The response could not be placed: hmmnic_sge_copy() failed with @err.
 * A transient failure is as if the response was lost, but without the
 * wait for the timer: ask again from it once req.place's delay is over.
 * The responder answers a duplicate READ from its memory and a duplicate
 * atomic from the result it kept, so nothing executes twice. Only
 * progress (hmmnic_comp_progress()) starts the count over. The
 * retransmission timer starts again too (without its count starting
 * over): a peer that answers is not lost, and a failure to place its
 * answers ends in the local error, not in RETRY_EXC_ERR.
 */
static void hmmnic_comp_place_failed(struct hmmnic_qp *qp, int err)
{
	if (hmmnic_err_transient(err) &&
	    hmmnic_busy_retry(qp, &qp->req.place)) {
		qp->req.gap_valid = false;
		hmmnic_comp_go_back(qp, qp->req.una);
		/*
		 * The responder answered: not a transport timeout. The
		 * timer waits again, and req.place bounds the tries.
		 */
		hmmnic_req_arm_timer(qp);
		return;
	}
	hmmnic_comp_fail(qp, hmmnic_sge_status(err));
}

static void hmmnic_comp_nak(struct hmmnic_qp *qp, u8 syndrome, u32 psn)
{
	struct hmmnic_stats *stats = &qp->hdev->stats;

	/*
	 * A NAK for a PSN already acknowledged answers a duplicate the
	 * network made or a retransmission that crossed the ACK: the work
	 * request it was about is done, and the one now waiting is not it.
	 */
	if (hmmnic_psn_diff(psn, qp->req.una) < 0) {
		hmmnic_stat_inc(stats, HMMNIC_CNT_DROP_DUPLICATE);
		return;
	}
	if (!hmmnic_comp_ack(qp, psn) || !hmmnic_tail_busy(qp))
		return;

	switch (syndrome & HMMNIC_AETH_TYPE_MASK) {
	case HMMNIC_AETH_RNR_NAK:
		hmmnic_stat_inc(stats, HMMNIC_CNT_RNR_NAKS_RCVD);
		if (!qp->req.rnr_left) {
			hmmnic_comp_fail(qp, IB_WC_RNR_RETRY_EXC_ERR);
			return;
		}
		if (qp->attr.rnr_retry != 7)	/* 7 means forever */
			qp->req.rnr_left--;
		hmmnic_req_rewind(qp, psn);
		qp->req.rnr_wait = true;
		mod_timer(&qp->rnr_timer, jiffies +
			  usecs_to_jiffies(hmmnic_rnr_usecs[syndrome & 0x1f]));
		return;
	case HMMNIC_AETH_NAK:
		break;
	default:
		return;
	}

	switch (syndrome) {
	case HMMNIC_NAK_PSN_SEQ:
		hmmnic_stat_inc(stats, HMMNIC_CNT_SEQ_NAKS_RCVD);
		hmmnic_comp_go_back(qp, psn);
		return;
	case HMMNIC_NAK_INV_REQ:
		hmmnic_stat_inc(stats, HMMNIC_CNT_ERR_NAKS_RCVD);
		hmmnic_comp_fail(qp, IB_WC_REM_INV_REQ_ERR);
		return;
	case HMMNIC_NAK_REM_ACCESS:
		hmmnic_stat_inc(stats, HMMNIC_CNT_ERR_NAKS_RCVD);
		hmmnic_comp_fail(qp, IB_WC_REM_ACCESS_ERR);
		return;
	default:
		hmmnic_stat_inc(stats, HMMNIC_CNT_ERR_NAKS_RCVD);
		hmmnic_comp_fail(qp, IB_WC_REM_OP_ERR);
		return;
	}
}

/*
 * A READ response or atomic ACK for @psn: it must be the next PSN the
 * oldest WQE, a READ or ATOMIC, is waiting for.
 */
static bool hmmnic_comp_response_ok(struct hmmnic_qp *qp, u32 psn,
				    bool atomic)
{
	struct hmmnic_send_wqe *wqe;

	if (!hmmnic_comp_ack(qp, psn) || !hmmnic_tail_busy(qp))
		return false;
	wqe = hmmnic_tail_wqe(qp);
	/* an atomic ACK answers an atomic, a READ response a READ */
	if (wqe->opcode == IB_WR_RDMA_READ ? atomic :
	    !atomic || !hmmnic_wqe_is_rd_atomic(wqe))
		return false;
	if (psn != qp->req.una) {
		/* A gap: responses were lost. Ask again from the first. */
		if (hmmnic_psn_diff(psn, qp->req.una) > 0)
			hmmnic_comp_go_back(qp, qp->req.una);
		return false;
	}
	return true;
}

/*
 * A READ response or an atomic ACK for the oldest WQE: check it, place
 * what it carries into the WQE's buffer, and complete the WQE with its
 * last response.
 */
static void hmmnic_comp_response(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	bool atomic = pkt->opcode == HMMNIC_OP_ATOMIC_ACK;
	struct hmmnic_send_wqe *wqe;
	struct hmmnic_swqe_state *st;
	u64 offset = 0, orig;
	void *buf;
	u32 len, idx = 0;
	int err;

	if (!hmmnic_comp_response_ok(qp, pkt->psn, atomic)) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_DUPLICATE);
		return;
	}
	wqe = hmmnic_tail_wqe(qp);
	st = hmmnic_tail_st(qp);
	if (atomic) {
		struct hmmnic_atmack *ack = hmmnic_pkt_eth(skb, HMMNIC_F_ATMACK);

		orig = be64_to_cpu(ack->orig);
		buf = &orig;
		len = sizeof(orig);
	} else {
		idx = hmmnic_psn_diff(pkt->psn, st->first_psn);
		offset = (u64)idx * qp->mtu;
		/*
		 * The response must carry exactly the bytes this PSN stands
		 * for. (A READ asked again from the middle is answered
		 * starting with FIRST; each request of a split READ ends with
		 * its own LAST.)
		 */
		if (!!(pkt->flags & HMMNIC_F_LAST) !=
		    (idx == hmmnic_read_req_end(st->npkts, idx) - 1) ||
		    pkt->paylen != min_t(u64, st->length - offset, qp->mtu)) {
			hmmnic_stat_inc(&qp->hdev->stats,
					HMMNIC_CNT_DROP_MALFORMED);
			return;
		}
		buf = hmmnic_pkt_payload(skb);
		len = pkt->paylen;
	}
	err = hmmnic_sge_copy(qp, wqe->sge, wqe->num_sge, offset, buf, len,
			      true);
	if (err) {
		hmmnic_comp_place_failed(qp, err);
		return;
	}
	qp->req.una = hmmnic_psn_add(pkt->psn, 1);
	if (atomic || idx == st->npkts - 1)
		hmmnic_req_complete(qp, IB_WC_SUCCESS);
	hmmnic_comp_progress(qp);
}

/* A response packet for this QP's requester. Consumes @skb. */
void hmmnic_comp_rcv(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	u8 syndrome = 0;

	if (qp->state != IB_QPS_RTS && qp->state != IB_QPS_SQD) {
		hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_DROP_QP_STATE);
		goto out;
	}
	/*
	 * Only progress re-arms the retransmission timer
	 * (hmmnic_comp_progress()): packets that acknowledge nothing new,
	 * however many, must not keep a dead connection from timing out.
	 */
	if (pkt->flags & HMMNIC_F_AETH) {
		struct hmmnic_aeth *aeth = hmmnic_pkt_eth(skb, HMMNIC_F_AETH);

		syndrome = be32_to_cpu(aeth->smsn) >> 24;
	}

	switch (pkt->opcode) {
	case HMMNIC_OP_ACK:
		if ((syndrome & HMMNIC_AETH_TYPE_MASK) == HMMNIC_AETH_ACK) {
			if (!hmmnic_comp_ack(qp, hmmnic_psn_add(pkt->psn, 1)))
				hmmnic_stat_inc(&qp->hdev->stats,
						HMMNIC_CNT_DROP_DUPLICATE);
		} else {
			hmmnic_comp_nak(qp, syndrome, pkt->psn);
		}
		break;
	default:
		hmmnic_comp_response(qp, skb);
		break;
	}
out:
	kfree_skb(skb);
}

/* The retransmission timer expired: go back to the oldest unacked PSN. */
void hmmnic_comp_timeout(struct hmmnic_qp *qp)
{
	if (qp->state != IB_QPS_RTS && qp->state != IB_QPS_SQD)
		return;
	if (hmmnic_psn_diff(qp->req.max_psn, qp->req.una) <= 0 ||
	    !hmmnic_tail_busy(qp))
		return;
	if (qp->req.rnr_wait) {
		hmmnic_req_arm_timer(qp);
		return;
	}
	hmmnic_stat_inc(&qp->hdev->stats, HMMNIC_CNT_TIMEOUTS);
	if (!qp->req.retry_left) {
		hmmnic_comp_fail(qp, IB_WC_RETRY_EXC_ERR);
		return;
	}
	qp->req.retry_left--;
	qp->req.gap_valid = false;
	hmmnic_comp_go_back(qp, qp->req.una);
	hmmnic_req_arm_timer(qp);
}
