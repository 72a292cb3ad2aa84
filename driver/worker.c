// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic QP worker: when and where a QP's transport runs.
 *
 * All transport state of a QP is owned by one run of its worker at a time,
 * under qp->mutex: the work item on hmmnic_workqueue (process context, so
 * the MR access layer may sleep), the doorbell of a user QP (the poster's
 * own system call), or an inline run for a packet that a doorbell run on
 * this host sent to a local QP. A run interleaves, one packet at a time:
 * responses for the completer (comp.c), requests for the responder
 * (resp.c), the responses of a READ being answered (resp.c), and new
 * request packets from the send queue (req.c). Timers and the receive
 * path (net.c) only set a flag or queue a packet and schedule the worker
 * (or, for a packet from a local doorbell run, run it inline).
 * A QP in error is flushed here, once per run, until nothing is left.
 */
#include "hmmnic.h"
#include "comp.h"
#include "qp.h"
#include "req.h"
#include "resp.h"
#include "worker.h"

/**
 * hmmnic_qp_sched - run @qp's worker soon, on hmmnic_workqueue
 * @qp: the QP
 */
void hmmnic_qp_sched(struct hmmnic_qp *qp)
{
	queue_work(hmmnic_workqueue, &qp->work);
}

/* ---- timers: each only records why and schedules the worker ---- */

static void hmmnic_retry_timer(struct timer_list *t)
{
	struct hmmnic_qp *qp = timer_container_of(qp, t, retry_timer);

	qp->req.need_retry = true;
	hmmnic_qp_sched(qp);
}

static void hmmnic_rnr_timer(struct timer_list *t)
{
	struct hmmnic_qp *qp = timer_container_of(qp, t, rnr_timer);

	qp->req.rnr_wait = false;
	hmmnic_qp_sched(qp);
}

static void hmmnic_tx_timer(struct timer_list *t)
{
	struct hmmnic_qp *qp = timer_container_of(qp, t, tx_timer);

	hmmnic_qp_sched(qp);
}

/* Run the worker again in a jiffy, when the netdev queue has drained. */
void hmmnic_qp_tx_wait(struct hmmnic_qp *qp)
{
	if (!READ_ONCE(qp->dying) && !timer_pending(&qp->tx_timer))
		mod_timer(&qp->tx_timer, jiffies + 1);
}

/**
 * hmmnic_busy_retry - count a transient failure of one stage of @qp
 * @qp: the QP
 * @busy: the stage's record (the requester's or the READ responder's)
 *
 * A failure that the next try may not meet (no skb, an ODP fault that
 * invalidations kept beating or that had no memory): the stage waits
 * HMMNIC_BUSY_DELAY_MS (hmmnic_busy_waiting()) and the worker runs again
 * then, for up to HMMNIC_BUSY_GIVE_UP_MS from the first failure. Whoever
 * succeeds clears busy->tries.
 *
 * Return: true to try again later, false to give up (the record starts
 * over).
 */
bool hmmnic_busy_retry(struct hmmnic_qp *qp, struct hmmnic_busy *busy)
{
	unsigned long delay = max(msecs_to_jiffies(HMMNIC_BUSY_DELAY_MS), 1UL);

	lockdep_assert_held(&qp->mutex);
	if (!busy->tries++) {
		busy->deadline = jiffies +
				 msecs_to_jiffies(HMMNIC_BUSY_GIVE_UP_MS);
	} else if (time_after(jiffies, busy->deadline)) {
		busy->tries = 0;
		return false;
	}
	busy->until = jiffies + delay;
	hmmnic_busy_waiting(qp, busy);
	return true;
}

/**
 * hmmnic_busy_waiting - must the stage wait before its next try?
 * @qp: the QP
 * @busy: the stage's record
 *
 * While it must, the QP's tx_timer is due no later than the end of the
 * wait, whatever else armed it meanwhile, so the worker comes back.
 *
 * Return: true while the stage waits.
 */
bool hmmnic_busy_waiting(struct hmmnic_qp *qp, struct hmmnic_busy *busy)
{
	if (!busy->tries || !time_before(jiffies, busy->until))
		return false;
	if (!READ_ONCE(qp->dying))
		timer_reduce(&qp->tx_timer, busy->until);
	return true;
}

/* ---- flushing a QP in error ---- */

/*
 * Complete everything posted with IB_WC_WR_FLUSH_ERR: the send queue
 * (hmmnic_req_flush()) and the receive queue (hmmnic_resp_flush()), which
 * asks for another run if user space kept posting meanwhile.
 */
static void hmmnic_qp_flush(struct hmmnic_qp *qp)
{
	lockdep_assert_held(&qp->mutex);
	timer_delete(&qp->retry_timer);
	timer_delete(&qp->rnr_timer);
	hmmnic_qp_drain(qp);
	hmmnic_req_flush(qp);
	if (!hmmnic_resp_flush(qp))
		hmmnic_qp_sched(qp);
}

/* ---- the worker ---- */

/* One run of the worker; qp->mutex held. */
static void hmmnic_qp_run(struct hmmnic_qp *qp)
{
	int budget = HMMNIC_WORK_BUDGET;
	bool progress = true;
	struct sk_buff *skb;

	lockdep_assert_held(&qp->mutex);
	if (qp->state == IB_QPS_RESET || qp->state == IB_QPS_INIT)
		return;
	WRITE_ONCE(qp->runner, current);
	if (qp->req.need_retry) {
		qp->req.need_retry = false;
		hmmnic_comp_timeout(qp);
	}

	while (progress && budget > 0 && qp->state != IB_QPS_ERR) {
		progress = false;
		skb = skb_dequeue(&qp->ackq);
		if (skb) {
			hmmnic_comp_rcv(qp, skb);
			progress = true;
		}
		if (qp->resp.reading && hmmnic_resp_take_dup(qp)) {
			progress = true;
			/* the copy was fatally NAKed: no response after it */
			if (qp->state == IB_QPS_ERR)
				break;
		}
		if (qp->resp.reading) {
			progress |= hmmnic_resp_read_step(qp);
		} else if (!hmmnic_busy_waiting(qp, &qp->resp.busy)) {
			/* (a UD datagram put back waits there) */
			skb = skb_dequeue(&qp->rxq);
			if (skb) {
				hmmnic_resp_rcv(qp, skb);
				progress = true;
			}
		}
		progress |= hmmnic_req_step(qp);
		budget--;
	}
	hmmnic_resp_send_ack(qp);

	if (qp->state == IB_QPS_ERR)
		hmmnic_qp_flush(qp);
	else if (!budget)
		hmmnic_qp_sched(qp);
	if (qp->state == IB_QPS_SQD && !qp->req.drained &&
	    qp->req.tail == qp->req.cur) {
		qp->req.drained = true;
		if (qp->attr.en_sqd_async_notify)
			hmmnic_qp_event(qp, IB_EVENT_SQ_DRAINED);
	}
	WRITE_ONCE(qp->runner, NULL);
	/* a packet that came from inside this run and was not taken yet */
	if (qp->rerun) {
		qp->rerun = false;
		if (!skb_queue_empty(&qp->rxq) || !skb_queue_empty(&qp->ackq))
			hmmnic_qp_sched(qp);
	}
}

static void hmmnic_qp_work(struct work_struct *work)
{
	struct hmmnic_qp *qp = container_of(work, struct hmmnic_qp, work);

	mutex_lock(&qp->mutex);
	hmmnic_qp_run(qp);
	mutex_unlock(&qp->mutex);
}

/**
 * hmmnic_qp_worker_init - set up @qp's work item and timers
 * @qp: a QP being created
 */
void hmmnic_qp_worker_init(struct hmmnic_qp *qp)
{
	INIT_WORK(&qp->work, hmmnic_qp_work);
	timer_setup(&qp->retry_timer, hmmnic_retry_timer, 0);
	timer_setup(&qp->rnr_timer, hmmnic_rnr_timer, 0);
	timer_setup(&qp->tx_timer, hmmnic_tx_timer, 0);
}

/*
 * The doorbell of a user QP. An idle QP (nothing outstanding) runs the
 * worker right here, in the caller's process context: that saves waking a
 * kernel thread, which is most of the latency of a lone small message. A
 * busy QP leaves the work to its worker, so that the application keeps
 * posting and polling on its CPU while the worker sends on another.
 */
void hmmnic_qp_doorbell(struct hmmnic_qp *qp)
{
	if (READ_ONCE(qp->req.tail) != READ_ONCE(qp->req.fetched) ||
	    !mutex_trylock(&qp->mutex)) {
		hmmnic_qp_sched(qp);
		return;
	}
	qp->in_doorbell = true;
	hmmnic_qp_run(qp);
	qp->in_doorbell = false;
	mutex_unlock(&qp->mutex);
}

static bool hmmnic_inline_peer = true;
module_param_named(inline_peer, hmmnic_inline_peer, bool, 0644);
MODULE_PARM_DESC(inline_peer,
		 "Run the receiving QP of a local packet in the sender's doorbell (default on)");

/*
 * A packet from a doorbell run on this host reached @qp through the local
 * short cut. Run @qp right here too, if its worker is not busy: a lone
 * request then travels from the poster's system call to the receive
 * completion without waking any kernel thread. The inline run's own
 * packets (the ACK, say) go back through the worker of their QP, so runs
 * nest at most one deep; the trylock keeps lock order out of it.
 */
void hmmnic_qp_run_inline(struct hmmnic_qp *qp)
{
	if (!READ_ONCE(hmmnic_inline_peer) || !mutex_trylock(&qp->mutex)) {
		hmmnic_qp_sched(qp);
		return;
	}
	hmmnic_qp_run(qp);
	mutex_unlock(&qp->mutex);
}
