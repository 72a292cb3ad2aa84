// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic queue pairs, shared receive queues and address handles: object
 * lifetime, the modify_qp state machine, and the kernel's post verbs. The
 * data path itself lives in req.c, resp.c and comp.c and runs in the QP's
 * worker (worker.c).
 */
#include <linux/vmalloc.h>
#include <net/addrconf.h>
#include <rdma/ib_cache.h>
#include <rdma/uverbs_ioctl.h>

#include "hmmnic.h"
#include "net.h"
#include "qp.h"
#include "verbs.h"
#include "worker.h"

struct hmmnic_qp *hmmnic_qp_get(struct hmmnic_dev *hdev, u32 qpn)
{
	struct hmmnic_qp *qp;

	rcu_read_lock();
	qp = xa_load(&hdev->qps, qpn);
	if (qp && !refcount_inc_not_zero(&qp->ref))
		qp = NULL;
	rcu_read_unlock();
	return qp;
}

void hmmnic_qp_put(struct hmmnic_qp *qp)
{
	if (refcount_dec_and_test(&qp->ref))
		complete(&qp->done);
}

void hmmnic_qp_event(struct hmmnic_qp *qp, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
		.event = type,
	};

	if (qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

static void hmmnic_srq_event(struct hmmnic_srq *srq, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = srq->ibsrq.device,
		.element.srq = &srq->ibsrq,
		.event = type,
	};

	if (srq->ibsrq.event_handler)
		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
}

/* Publish the state for the data path and the provider. */
static void hmmnic_qp_set_state(struct hmmnic_qp *qp, enum ib_qp_state state)
{
	qp->state = state;
	hmmnic_queue_set_state(&qp->sq, state);
}

/*
 * hmmnic_qp_error - move a QP into the error state from the data path
 * @fatal: raise IB_EVENT_QP_FATAL (a broken queue), rather than just
 *         flushing after an error completion
 *
 * Called by the QP worker with qp->mutex held.
 */
void hmmnic_qp_error(struct hmmnic_qp *qp, bool fatal)
{
	lockdep_assert_held(&qp->mutex);
	if (qp->state == IB_QPS_ERR || qp->state == IB_QPS_RESET)
		return;
	hmmnic_qp_set_state(qp, IB_QPS_ERR);
	if (fatal)
		hmmnic_qp_event(qp, IB_EVENT_QP_FATAL);
	hmmnic_qp_sched(qp);
}

/* ---- receive queues ---- */

static u32 hmmnic_recv_slot_size(u32 max_sge)
{
	return sizeof(struct hmmnic_recv_wqe) +
	       max_sge * sizeof(struct hmmnic_sge);
}

static int hmmnic_rq_init(struct hmmnic_rq *rq, struct ib_udata *udata,
			  u32 *max_wr, u32 *max_sge)
{
	struct hmmnic_ucontext *uc = rdma_udata_to_drv_context(udata,
					struct hmmnic_ucontext, ibuc);
	u32 slots;
	int err;

	if (*max_sge > HMMNIC_MAX_SGE || *max_wr > HMMNIC_MAX_QP_WR)
		return -EINVAL;
	*max_sge = max(*max_sge, 1U);
	slots = roundup_pow_of_two(max(*max_wr, 1U));
	err = hmmnic_queue_init(&rq->queue, uc ? &uc->ibuc : NULL, slots,
				hmmnic_recv_slot_size(*max_sge));
	if (err)
		return err;
	spin_lock_init(&rq->lock);
	rq->max_sge = *max_sge;
	rq->user = !!udata;
	*max_wr = slots;
	return 0;
}

/*
 * Posted receive WQEs, or -EIO when a user-space producer is impossible.
 * The consumer position is the kernel's own (rq->cons): what user space
 * writes into the ring's consumer counter is never read.
 */
static int hmmnic_rq_count(struct hmmnic_rq *rq)
{
	u32 prod;

	lockdep_assert_held(&rq->lock);
	if (hmmnic_queue_produced(&rq->queue, rq->cons, &prod))
		return -EIO;
	return prod - rq->cons;
}

/* Move the consumer to @cons and tell user space the slots are free. */
static void hmmnic_rq_set_cons(struct hmmnic_rq *rq, u32 cons)
{
	lockdep_assert_held(&rq->lock);
	rq->cons = cons;
	hmmnic_queue_consume(&rq->queue, cons);
}

/*
 * hmmnic_rq_get - take the next receive WQE
 * @wqe: where to copy it; room for the queue's max_sge SGEs
 *
 * Return: 0, -ENOENT when the queue is empty, -EIO when user space broke
 * the ring (nothing taken), -EINVAL when it broke the WQE (taken: its
 * wr_id is in @wqe, to complete it with).
 */
int hmmnic_rq_get(struct hmmnic_rq *rq, struct hmmnic_recv_wqe *wqe)
{
	unsigned long flags;
	int n, err = 0;

	/* kernel users may post receives from any context */
	spin_lock_irqsave(&rq->lock, flags);
	n = hmmnic_rq_count(rq);
	if (n <= 0) {
		err = n < 0 ? n : -ENOENT;
		goto out;
	}
	memcpy(wqe, hmmnic_queue_slot(&rq->queue, rq->cons),
	       rq->queue.slot_size);
	hmmnic_rq_set_cons(rq, rq->cons + 1);
	if (wqe->num_sge > rq->max_sge)
		err = -EINVAL;
out:
	spin_unlock_irqrestore(&rq->lock, flags);
	return err;
}

/* SRQ limit: raised once when the posted count drops below it. */
void hmmnic_srq_check_limit(struct hmmnic_srq *srq)
{
	unsigned long flags;
	bool fire = false;

	spin_lock_irqsave(&srq->rq.lock, flags);
	if (srq->limit && hmmnic_rq_count(&srq->rq) < (int)srq->limit) {
		srq->limit = 0;
		fire = true;
	}
	spin_unlock_irqrestore(&srq->rq.lock, flags);
	if (fire)
		hmmnic_srq_event(srq, IB_EVENT_SRQ_LIMIT_REACHED);
}

static int hmmnic_rq_post(struct hmmnic_rq *rq, const struct ib_recv_wr *wr,
			  const struct ib_recv_wr **bad_wr)
{
	unsigned long flags;
	int err = 0;
	u32 i;

	spin_lock_irqsave(&rq->lock, flags);
	for (; wr; wr = wr->next) {
		struct hmmnic_recv_wqe *wqe;

		if (wr->num_sge > rq->max_sge) {
			err = -EINVAL;
			break;
		}
		if (hmmnic_queue_full(&rq->queue, rq->cons)) {
			err = -ENOMEM;
			break;
		}
		wqe = hmmnic_queue_prod_slot(&rq->queue);
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = wr->num_sge;
		for (i = 0; i < wr->num_sge; i++) {
			wqe->sge[i].addr = wr->sg_list[i].addr;
			wqe->sge[i].length = wr->sg_list[i].length;
			wqe->sge[i].lkey = wr->sg_list[i].lkey;
		}
		hmmnic_queue_produce(&rq->queue);
	}
	spin_unlock_irqrestore(&rq->lock, flags);
	if (err)
		*bad_wr = wr;
	return err;
}

/* ---- address vectors ---- */

/*
 * hmmnic_av_init - turn an address handle attribute into an hmmnic_av
 *
 * RoCEv2 only: the source GID must be a RoCE v2 GID of this device, and
 * its network type decides between IPv4 and IPv6.
 */
int hmmnic_av_init(struct hmmnic_dev *hdev, struct hmmnic_av *av,
		   const struct rdma_ah_attr *attr)
{
	const struct ib_global_route *grh;
	const struct ib_gid_attr *sgid_attr;
	enum rdma_network_type type;

	if (!(rdma_ah_get_ah_flags(attr) & IB_AH_GRH))
		return -EINVAL;
	grh = rdma_ah_read_grh(attr);
	sgid_attr = grh->sgid_attr;
	if (!sgid_attr || sgid_attr->gid_type != IB_GID_TYPE_ROCE_UDP_ENCAP)
		return -EINVAL;
	type = rdma_gid_attr_network_type(sgid_attr);

	memset(av, 0, sizeof(*av));
	rdma_gid2ip((struct sockaddr *)&av->saddr, &sgid_attr->gid);
	rdma_gid2ip((struct sockaddr *)&av->daddr, &grh->dgid);
	av->family = type == RDMA_NETWORK_IPV4 ? AF_INET : AF_INET6;
	if (av->saddr.v4.sin_family != av->family ||
	    av->daddr.v4.sin_family != av->family)
		return -EINVAL;
	av->tos = grh->traffic_class;
	av->ttl = grh->hop_limit ? grh->hop_limit : 64;
	av->flow_label = grh->flow_label;
	av->dgid = grh->dgid;
	av->ndev = hdev->ndev;
	av->net = dev_net(hdev->ndev);
	av->local = hmmnic_addr_is_local(av);
	return 0;
}

int hmmnic_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		     struct ib_udata *udata)
{
	static const struct xa_limit limit = XA_LIMIT(1, U32_MAX);
	/* Kernel users may create and destroy AHs in atomic context. */
	gfp_t gfp = init->flags & RDMA_CREATE_AH_SLEEPABLE ?
		    GFP_KERNEL : GFP_ATOMIC;
	struct hmmnic_dev *hdev = to_hdev(ibah->device);
	struct hmmnic_ah *ah = to_hah(ibah);
	struct hmmnic_create_ah_resp resp = {};
	struct hmmnic_ah_entry *entry;
	int err;

	if (udata) {
		if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EOPNOTSUPP;
		if (udata->outlen < sizeof(resp))
			return -EINVAL;
	}
	entry = kzalloc(sizeof(*entry), gfp);
	if (!entry)
		return -ENOMEM;
	err = hmmnic_av_init(hdev, &entry->av, init->ah_attr);
	if (err)
		goto err_free;
	entry->pd = ibah->pd;
	err = hmmnic_obj_get(&hdev->num_ah, HMMNIC_MAX_AH);
	if (err)
		goto err_free;
	err = xa_alloc(&hdev->ahs, &ah->ah_num, entry, limit, gfp);
	if (err)
		goto err_count;
	ah->entry = entry;
	if (udata) {
		resp.ah = ah->ah_num;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_erase;
	}
	return 0;

err_erase:
	xa_erase(&hdev->ahs, ah->ah_num);
err_count:
	hmmnic_obj_put(&hdev->num_ah);
err_free:
	/* Published only if xa_alloc() succeeded; a reader may have it. */
	kfree_rcu(entry, rcu);
	return err;
}

int hmmnic_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct hmmnic_dev *hdev = to_hdev(ibah->device);
	struct hmmnic_ah *ah = to_hah(ibah);

	xa_erase(&hdev->ahs, ah->ah_num);
	/* A sender may be copying the AV; it goes after a grace period. */
	kfree_rcu(ah->entry, rcu);
	hmmnic_obj_put(&hdev->num_ah);
	return 0;
}

/*
 * hmmnic_ah_lookup - copy the AV of the AH numbered @ah_num
 * @pd: the AH must belong to this PD
 */
int hmmnic_ah_lookup(struct hmmnic_dev *hdev, u32 ah_num, struct ib_pd *pd,
		     struct hmmnic_av *av)
{
	struct hmmnic_ah_entry *entry;
	int err = -EINVAL;

	rcu_read_lock();
	entry = xa_load(&hdev->ahs, ah_num);
	if (entry && entry->pd == pd) {
		*av = entry->av;
		err = 0;
	}
	rcu_read_unlock();
	return err;
}

/* ---- QPs ---- */

static u32 hmmnic_send_slot_size(u32 max_sge, u32 max_inline)
{
	u32 data = max(max_sge * (u32)sizeof(struct hmmnic_sge), max_inline);

	return ALIGN(sizeof(struct hmmnic_send_wqe) + data, 64);
}

static int hmmnic_qp_check_init(struct ib_qp_init_attr *init,
				struct ib_udata *udata)
{
	struct ib_qp_cap *cap = &init->cap;

	switch (init->qp_type) {
	case IB_QPT_RC:
	case IB_QPT_UD:
		break;
	case IB_QPT_GSI:
		if (udata || init->port_num != HMMNIC_PORT)
			return -EINVAL;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (init->create_flags || init->rwq_ind_tbl)
		return -EOPNOTSUPP;
	if (cap->max_send_wr > HMMNIC_MAX_QP_WR ||
	    cap->max_send_sge > HMMNIC_MAX_SGE ||
	    cap->max_inline_data > HMMNIC_MAX_INLINE)
		return -EINVAL;
	if (!init->srq && (cap->max_recv_wr > HMMNIC_MAX_QP_WR ||
			   cap->max_recv_sge > HMMNIC_MAX_SGE))
		return -EINVAL;
	if (udata && udata->inlen &&
	    !ib_is_udata_cleared(udata, 0, udata->inlen))
		return -EOPNOTSUPP;
	if (udata && udata->outlen < sizeof(struct hmmnic_create_qp_resp))
		return -EINVAL;
	return 0;
}

static int hmmnic_qp_alloc_qpn(struct hmmnic_dev *hdev, struct hmmnic_qp *qp,
			       enum ib_qp_type type)
{
	static const struct xa_limit limit = XA_LIMIT(2, HMMNIC_QPN_MASK);
	u32 qpn;
	int err;

	if (type == IB_QPT_GSI) {
		err = xa_insert(&hdev->qps, 1, NULL, GFP_KERNEL);
		qpn = 1;
	} else {
		/* Reserve the number; the QP is published when it is ready. */
		err = xa_alloc_cyclic(&hdev->qps, &qpn, NULL, limit,
				      &hdev->next_qpn, GFP_KERNEL);
		if (err > 0)
			err = 0;
	}
	if (err)
		return err == -EBUSY ? -ENOMEM : err;
	qp->ibqp.qp_num = qpn;
	return 0;
}

static int hmmnic_qp_init_sq(struct hmmnic_qp *qp, struct ib_qp_cap *cap,
			     struct ib_udata *udata)
{
	struct hmmnic_ucontext *uc = rdma_udata_to_drv_context(udata,
					struct hmmnic_ucontext, ibuc);
	u32 slots = roundup_pow_of_two(max(cap->max_send_wr, 1U));
	u32 slot_size;
	int err;

	cap->max_send_sge = max(cap->max_send_sge, 1U);
	slot_size = hmmnic_send_slot_size(cap->max_send_sge,
					  cap->max_inline_data);
	err = hmmnic_queue_init(&qp->sq, uc ? &uc->ibuc : NULL, slots,
				slot_size);
	if (err)
		return err;
	qp->sq_shadow = vzalloc(array_size(slots, slot_size));
	qp->sq_state = kvcalloc(slots, sizeof(*qp->sq_state), GFP_KERNEL);
	if (!qp->sq_shadow || !qp->sq_state) {
		vfree(qp->sq_shadow);
		kvfree(qp->sq_state);
		hmmnic_queue_destroy(&qp->sq);
		return -ENOMEM;
	}
	spin_lock_init(&qp->sq_lock);
	qp->max_send_sge = cap->max_send_sge;
	/* Whatever fits in the slot may be inline. */
	qp->max_inline = min_t(u32, slot_size - sizeof(struct hmmnic_send_wqe),
			       HMMNIC_MAX_INLINE);
	cap->max_send_wr = slots;
	cap->max_inline_data = qp->max_inline;
	return 0;
}

static void hmmnic_qp_free_sq(struct hmmnic_qp *qp)
{
	vfree(qp->sq_shadow);
	kvfree(qp->sq_state);
	hmmnic_queue_destroy(&qp->sq);
}

static int hmmnic_qp_resp_create(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);
	struct hmmnic_create_qp_resp resp = {};

	resp.sq_offset = hmmnic_mmap_offset(qp->sq.mmap);
	resp.sq_size = qp->sq.size;
	resp.sq_slots = qp->sq.num_slots;
	resp.sq_slot_size = qp->sq.slot_size;
	resp.max_inline = qp->max_inline;
	if (!qp->srq) {
		resp.rq_offset = hmmnic_mmap_offset(qp->own_rq.queue.mmap);
		resp.rq_size = qp->own_rq.queue.size;
		resp.rq_slots = qp->own_rq.queue.num_slots;
		resp.rq_slot_size = qp->own_rq.queue.slot_size;
	}
	return ib_copy_to_udata(udata, &resp, sizeof(resp));
}

int hmmnic_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		     struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibqp->device);
	struct hmmnic_qp *qp = to_hqp(ibqp);
	int err;

	err = hmmnic_qp_check_init(init, udata);
	if (err)
		return err;
	err = hmmnic_obj_get(&hdev->num_qp, HMMNIC_MAX_QP);
	if (err)
		return err;
	err = hmmnic_qp_alloc_qpn(hdev, qp, init->qp_type);
	if (err)
		goto err_count;

	qp->hdev = hdev;
	qp->user = !!udata;
	refcount_set(&qp->ref, 1);
	init_completion(&qp->done);
	mutex_init(&qp->mutex);
	skb_queue_head_init(&qp->rxq);
	skb_queue_head_init(&qp->ackq);
	hmmnic_qp_worker_init(qp);
	qp->scq = to_hcq(init->send_cq);
	qp->rcq = to_hcq(init->recv_cq);
	qp->sq_sig_all = init->sq_sig_type == IB_SIGNAL_ALL_WR;
	qp->mtu = 256;

	err = hmmnic_qp_init_sq(qp, &init->cap, udata);
	if (err)
		goto err_qpn;
	if (init->srq) {
		qp->srq = to_hsrq(init->srq);
		qp->rq = &qp->srq->rq;
		init->cap.max_recv_wr = 0;
		init->cap.max_recv_sge = 0;
	} else {
		err = hmmnic_rq_init(&qp->own_rq, udata, &init->cap.max_recv_wr,
				     &init->cap.max_recv_sge);
		if (err)
			goto err_sq;
		qp->rq = &qp->own_rq;
	}
	qp->resp.wqe = kzalloc(hmmnic_recv_slot_size(HMMNIC_MAX_SGE),
			       GFP_KERNEL);
	if (!qp->resp.wqe) {
		err = -ENOMEM;
		goto err_rq;
	}
	hmmnic_qp_set_state(qp, IB_QPS_RESET);

	if (udata) {
		err = hmmnic_qp_resp_create(ibqp, udata);
		if (err)
			goto err_wqe;
	}
	xa_store(&hdev->qps, ibqp->qp_num, qp, GFP_KERNEL);
	return 0;

err_wqe:
	kfree(qp->resp.wqe);
err_rq:
	if (!qp->srq)
		hmmnic_queue_destroy(&qp->own_rq.queue);
err_sq:
	hmmnic_qp_free_sq(qp);
err_qpn:
	xa_erase(&hdev->qps, ibqp->qp_num);
err_count:
	hmmnic_obj_put(&hdev->num_qp);
	return err;
}

int hmmnic_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibqp->device);
	struct hmmnic_qp *qp = to_hqp(ibqp);

	/* No new packets can find the QP; wait for those that did. */
	xa_erase(&hdev->qps, ibqp->qp_num);
	hmmnic_qp_put(qp);
	wait_for_completion(&qp->done);
	/*
	 * A lookup that found the QP before the erase may still be about to
	 * try for a reference; the core frees the QP when we return.
	 */
	synchronize_rcu();

	WRITE_ONCE(qp->dying, true);
	timer_shutdown_sync(&qp->retry_timer);
	timer_shutdown_sync(&qp->rnr_timer);
	timer_shutdown_sync(&qp->tx_timer);
	cancel_work_sync(&qp->work);
	hmmnic_qp_drain(qp);

	kfree(qp->resp.res);
	kfree(qp->resp.wqe);
	if (!qp->srq)
		hmmnic_queue_destroy(&qp->own_rq.queue);
	hmmnic_qp_free_sq(qp);
	mutex_destroy(&qp->mutex);
	hmmnic_obj_put(&hdev->num_qp);
	return 0;
}

static int hmmnic_qp_check_attr(struct hmmnic_qp *qp, struct ib_qp_attr *attr,
				int mask)
{
	if ((mask & IB_QP_PKEY_INDEX) &&
	    attr->pkey_index >= HMMNIC_PKEY_TBL_LEN)
		return -EINVAL;
	if ((mask & IB_QP_PORT) && attr->port_num != HMMNIC_PORT)
		return -EINVAL;
	if ((mask & IB_QP_PATH_MTU) &&
	    (attr->path_mtu < IB_MTU_256 || attr->path_mtu > IB_MTU_4096))
		return -EINVAL;
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > HMMNIC_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > HMMNIC_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_TIMEOUT) && attr->timeout > 31)
		return -EINVAL;
	if ((mask & IB_QP_RETRY_CNT) && attr->retry_cnt > 7)
		return -EINVAL;
	if ((mask & IB_QP_RNR_RETRY) && attr->rnr_retry > 7)
		return -EINVAL;
	if ((mask & IB_QP_MIN_RNR_TIMER) && attr->min_rnr_timer > 31)
		return -EINVAL;
	/* LOCAL_WRITE and ON_DEMAND mean nothing for a QP; they are allowed */
	if ((mask & IB_QP_ACCESS_FLAGS) &&
	    (attr->qp_access_flags & ~(IB_ACCESS_REMOTE_WRITE |
				       IB_ACCESS_REMOTE_READ |
				       IB_ACCESS_REMOTE_ATOMIC |
				       IB_ACCESS_LOCAL_WRITE |
				       IB_ACCESS_ON_DEMAND)))
		return -EINVAL;
	if ((mask & (IB_QP_ALT_PATH | IB_QP_PATH_MIG_STATE)))
		return -EOPNOTSUPP;
	return 0;
}

/* Drop every packet on @q; how many there were. */
static unsigned int hmmnic_queue_purge(struct sk_buff_head *q)
{
	unsigned int n = 0;
	struct sk_buff *skb;

	while ((skb = skb_dequeue(q))) {
		kfree_skb(skb);
		n++;
	}
	return n;
}

/**
 * hmmnic_qp_drain - drop the packets queued for @qp's worker
 * @qp: the QP, moving to RESET or ERR, or being destroyed
 *
 * Requests for the responder and responses for the completer alike,
 * counted in drop_qp_state.
 */
void hmmnic_qp_drain(struct hmmnic_qp *qp)
{
	unsigned int n = hmmnic_queue_purge(&qp->rxq);

	n += hmmnic_queue_purge(&qp->ackq);
	hmmnic_stat_add(&qp->hdev->stats, HMMNIC_CNT_DROP_QP_STATE, n);
}

/* Forget all transport state and posted work (-> RESET). */
static void hmmnic_qp_reset(struct hmmnic_qp *qp)
{
	u32 prod;

	lockdep_assert_held(&qp->mutex);
	timer_delete_sync(&qp->retry_timer);
	timer_delete_sync(&qp->rnr_timer);
	hmmnic_qp_drain(qp);
	/* Posted WRs are discarded without completions. */
	prod = hmmnic_queue_skip(&qp->sq);
	qp->req.fetched = prod;
	qp->req.cur = prod;
	qp->req.tail = prod;
	qp->req.cur_pkt = 0;
	qp->req.rd_atomic = 0;
	qp->req.rnr_wait = false;
	qp->req.need_retry = false;
	qp->req.busy.tries = 0;
	qp->req.place.tries = 0;
	qp->resp.busy.tries = 0;
	if (!qp->srq) {
		spin_lock_irq(&qp->own_rq.lock);
		qp->own_rq.cons = hmmnic_queue_skip(&qp->own_rq.queue);
		spin_unlock_irq(&qp->own_rq.lock);
	}
	qp->resp.msn = 0;
	qp->resp.nak_sent = false;
	qp->resp.ack_pending = false;
	qp->resp.in_send = false;
	qp->resp.in_write = false;
	qp->resp.have_wqe = false;
	qp->resp.res_head = 0;
	qp->resp.reading = NULL;
	if (qp->resp.res)
		memset(qp->resp.res, 0, sizeof(*qp->resp.res) *
		       max_t(u32, qp->attr.max_dest_rd_atomic, 1));
}

static int hmmnic_qp_apply(struct hmmnic_qp *qp, struct ib_qp_attr *attr,
			   int mask)
{
	int err;

	if (mask & IB_QP_AV) {
		err = hmmnic_av_init(qp->hdev, &qp->av, &attr->ah_attr);
		if (err)
			return err;
	}
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC) {
		struct hmmnic_res *res;

		res = kcalloc(max_t(u32, attr->max_dest_rd_atomic, 1),
			      sizeof(*res), GFP_KERNEL);
		if (!res)
			return -ENOMEM;
		kfree(qp->resp.res);
		qp->resp.res = res;
		qp->resp.res_head = 0;
		qp->resp.reading = NULL;
		qp->attr.max_dest_rd_atomic = attr->max_dest_rd_atomic;
	}
	if (mask & IB_QP_PKEY_INDEX)
		qp->attr.pkey_index = attr->pkey_index;
	if (mask & IB_QP_PORT)
		qp->attr.port_num = attr->port_num;
	if (mask & IB_QP_QKEY)
		qp->attr.qkey = attr->qkey;
	if (mask & IB_QP_ACCESS_FLAGS)
		qp->attr.qp_access_flags = attr->qp_access_flags;
	if (mask & IB_QP_PATH_MTU) {
		qp->attr.path_mtu = attr->path_mtu;
		qp->mtu = ib_mtu_enum_to_int(attr->path_mtu);
	}
	if (mask & IB_QP_DEST_QPN)
		qp->attr.dest_qp_num = attr->dest_qp_num & HMMNIC_QPN_MASK;
	if (mask & IB_QP_RQ_PSN) {
		qp->attr.rq_psn = attr->rq_psn & HMMNIC_PSN_MASK;
		qp->resp.psn = qp->attr.rq_psn;
	}
	if (mask & IB_QP_SQ_PSN) {
		qp->attr.sq_psn = attr->sq_psn & HMMNIC_PSN_MASK;
		qp->req.psn = qp->attr.sq_psn;
		qp->req.una = qp->attr.sq_psn;
		qp->req.max_psn = qp->attr.sq_psn;
	}
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		qp->attr.max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MIN_RNR_TIMER)
		qp->attr.min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_TIMEOUT)
		qp->attr.timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT) {
		qp->attr.retry_cnt = attr->retry_cnt;
		qp->req.retry_left = attr->retry_cnt;
	}
	if (mask & IB_QP_RNR_RETRY) {
		qp->attr.rnr_retry = attr->rnr_retry;
		qp->req.rnr_left = attr->rnr_retry;
	}
	if (mask & IB_QP_EN_SQD_ASYNC_NOTIFY)
		qp->attr.en_sqd_async_notify = attr->en_sqd_async_notify;
	if (mask & (IB_QP_AV | IB_QP_DEST_QPN))
		qp->sport = cpu_to_be16(rdma_get_udp_sport(qp->av.flow_label,
							   qp->ibqp.qp_num,
							   qp->attr.dest_qp_num));
	return 0;
}

int hmmnic_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_udata *udata)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);
	enum ib_qp_state cur, new;
	int err;

	if (mask & ~IB_QP_ATTR_STANDARD_BITS)
		return -EOPNOTSUPP;
	if (udata && udata->inlen &&
	    !ib_is_udata_cleared(udata, 0, udata->inlen))
		return -EOPNOTSUPP;

	mutex_lock(&qp->mutex);
	cur = mask & IB_QP_CUR_STATE ? attr->cur_qp_state : qp->state;
	new = mask & IB_QP_STATE ? attr->qp_state : cur;
	err = -EINVAL;
	if (cur != qp->state)
		goto out;
	if (!ib_modify_qp_is_ok(cur, new, ibqp->qp_type, mask))
		goto out;
	err = hmmnic_qp_check_attr(qp, attr, mask);
	if (err)
		goto out;
	err = hmmnic_qp_apply(qp, attr, mask);
	if (err)
		goto out;

	if (mask & IB_QP_STATE && new != qp->state) {
		if (new == IB_QPS_RESET) {
			/* the state first: see hmmnic_rcv() */
			hmmnic_qp_set_state(qp, IB_QPS_RESET);
			hmmnic_qp_reset(qp);
		}
		if (new == IB_QPS_SQD)
			qp->req.drained = false;
		hmmnic_qp_set_state(qp, new);
		/* RTS starts sending, ERR flushes: the worker does both. */
		hmmnic_qp_sched(qp);
	}
out:
	mutex_unlock(&qp->mutex);
	return err;
}

int hmmnic_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		    struct ib_qp_init_attr *init)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);

	mutex_lock(&qp->mutex);
	*attr = qp->attr;
	attr->qp_state = qp->state;
	attr->cur_qp_state = qp->state;
	attr->sq_draining = qp->state == IB_QPS_SQD && !qp->req.drained;
	attr->sq_psn = qp->req.psn;
	attr->rq_psn = qp->resp.psn;
	attr->path_mig_state = IB_MIG_MIGRATED;
	attr->port_num = HMMNIC_PORT;
	if (qp->ibqp.qp_type == IB_QPT_RC) {
		const struct ib_gid_attr *sgid_attr = NULL;

		rdma_ah_set_dgid_raw(&attr->ah_attr, &qp->av.dgid);
		attr->ah_attr.type = RDMA_AH_ATTR_TYPE_ROCE;
		attr->ah_attr.ah_flags = IB_AH_GRH;
		attr->ah_attr.grh.traffic_class = qp->av.tos;
		attr->ah_attr.grh.hop_limit = qp->av.ttl;
		attr->ah_attr.grh.flow_label = qp->av.flow_label;
		attr->ah_attr.grh.sgid_attr = sgid_attr;
		attr->ah_attr.port_num = HMMNIC_PORT;
	}
	attr->cap.max_send_wr = qp->sq.num_slots;
	attr->cap.max_send_sge = qp->max_send_sge;
	attr->cap.max_inline_data = qp->max_inline;
	if (!qp->srq) {
		attr->cap.max_recv_wr = qp->own_rq.queue.num_slots;
		attr->cap.max_recv_sge = qp->own_rq.max_sge;
	}
	mutex_unlock(&qp->mutex);

	memset(init, 0, sizeof(*init));
	init->send_cq = qp->ibqp.send_cq;
	init->recv_cq = qp->ibqp.recv_cq;
	init->srq = qp->ibqp.srq;
	init->qp_type = qp->ibqp.qp_type;
	init->cap = attr->cap;
	init->sq_sig_type = qp->sq_sig_all ? IB_SIGNAL_ALL_WR : IB_SIGNAL_REQ_WR;
	return 0;
}

/* ---- posting from kernel users; user space writes its rings ---- */

static int hmmnic_wqe_from_wr(struct hmmnic_qp *qp, struct hmmnic_send_wqe *wqe,
			      const struct ib_send_wr *wr)
{
	u32 i, len = 0;

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->send_flags = wr->send_flags;
	if (wr->num_sge > qp->max_send_sge)
		return -EINVAL;

	switch (wr->opcode) {
	case IB_WR_REG_MR:
		/* the key's index must stay the region's own (mr.c) */
		if ((reg_wr(wr)->key ^ reg_wr(wr)->mr->lkey) >> 8)
			return -EINVAL;
		wqe->opcode = IB_WR_REG_MR;
		wqe->rkey = reg_wr(wr)->key;
		wqe->compare_add = reg_wr(wr)->access;
		return 0;
	case IB_WR_LOCAL_INV:
		wqe->ex_data = wr->ex.invalidate_rkey;
		return 0;
	case IB_WR_SEND_WITH_INV:
		if (qp->ibqp.qp_type != IB_QPT_RC)
			return -EINVAL;
		wqe->ex_data = wr->ex.invalidate_rkey;
		break;
	case IB_WR_SEND_WITH_IMM:
		wqe->ex_data = (__force u32)wr->ex.imm_data;
		fallthrough;
	case IB_WR_SEND:
		if (qp->ibqp.qp_type != IB_QPT_RC) {
			const struct ib_ud_wr *ud = ud_wr(wr);

			wqe->ah = to_hah(ud->ah)->ah_num;
			wqe->remote_qpn = ud->remote_qpn;
			wqe->remote_qkey = ud->remote_qkey;
		}
		break;
	case IB_WR_RDMA_WRITE_WITH_IMM:
		wqe->ex_data = (__force u32)wr->ex.imm_data;
		fallthrough;
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_READ:
		if (qp->ibqp.qp_type != IB_QPT_RC)
			return -EINVAL;
		wqe->remote_addr = rdma_wr(wr)->remote_addr;
		wqe->rkey = rdma_wr(wr)->rkey;
		break;
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		if (qp->ibqp.qp_type != IB_QPT_RC)
			return -EINVAL;
		wqe->remote_addr = atomic_wr(wr)->remote_addr;
		wqe->rkey = atomic_wr(wr)->rkey;
		wqe->compare_add = atomic_wr(wr)->compare_add;
		wqe->swap = atomic_wr(wr)->swap;
		break;
	default:
		return -EINVAL;
	}

	if (wr->send_flags & IB_SEND_INLINE) {
		for (i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].length > qp->max_inline - len)
				return -EINVAL;
			memcpy((u8 *)wqe->sge + len,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			len += wr->sg_list[i].length;
		}
		wqe->inline_len = len;
		return 0;
	}
	wqe->num_sge = wr->num_sge;
	for (i = 0; i < wr->num_sge; i++) {
		wqe->sge[i].addr = wr->sg_list[i].addr;
		wqe->sge[i].length = wr->sg_list[i].length;
		wqe->sge[i].lkey = wr->sg_list[i].lkey;
	}
	return 0;
}

int hmmnic_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		     const struct ib_send_wr **bad_wr)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);
	enum ib_qp_state state = READ_ONCE(qp->state);
	unsigned long flags;
	int used, err = 0;

	/* User space produces into its ring; this is its doorbell. */
	if (qp->user) {
		if (wr) {
			*bad_wr = wr;
			return -EINVAL;
		}
		hmmnic_qp_doorbell(qp);
		return 0;
	}
	if (state == IB_QPS_RESET || state == IB_QPS_INIT ||
	    state == IB_QPS_RTR) {
		*bad_wr = wr;
		return -EINVAL;
	}

	spin_lock_irqsave(&qp->sq_lock, flags);
	for (; wr; wr = wr->next) {
		/* a kernel ring: its consumer is the requester's */
		used = hmmnic_queue_used(&qp->sq);
		if (used < 0 || used >= qp->sq.num_slots) {
			err = -ENOMEM;
			break;
		}
		err = hmmnic_wqe_from_wr(qp, hmmnic_queue_prod_slot(&qp->sq),
					 wr);
		if (err)
			break;
		hmmnic_queue_produce(&qp->sq);
	}
	spin_unlock_irqrestore(&qp->sq_lock, flags);
	if (err)
		*bad_wr = wr;
	hmmnic_qp_sched(qp);
	return err;
}

int hmmnic_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		     const struct ib_recv_wr **bad_wr)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);
	int err;

	if (qp->user) {
		/* The doorbell of a QP in error: flush the new WQEs. */
		if (wr) {
			*bad_wr = wr;
			return -EINVAL;
		}
		hmmnic_qp_sched(qp);
		return 0;
	}
	if (qp->srq || READ_ONCE(qp->state) == IB_QPS_RESET) {
		*bad_wr = wr;
		return -EINVAL;
	}
	err = hmmnic_rq_post(&qp->own_rq, wr, bad_wr);
	if (READ_ONCE(qp->state) == IB_QPS_ERR)
		hmmnic_qp_sched(qp);
	return err;
}

/* ---- SRQs ---- */

int hmmnic_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		      struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibsrq->device);
	struct hmmnic_srq *srq = to_hsrq(ibsrq);
	struct hmmnic_create_srq_resp resp = {};
	int err;

	if (init->srq_type != IB_SRQT_BASIC)
		return -EOPNOTSUPP;
	if (init->attr.max_wr > HMMNIC_MAX_SRQ_WR ||
	    init->attr.max_sge > HMMNIC_MAX_SGE ||
	    init->attr.srq_limit > init->attr.max_wr)
		return -EINVAL;
	if (udata) {
		if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EOPNOTSUPP;
		if (udata->outlen < sizeof(resp))
			return -EINVAL;
	}
	err = hmmnic_obj_get(&hdev->num_srq, HMMNIC_MAX_SRQ);
	if (err)
		return err;
	err = hmmnic_rq_init(&srq->rq, udata, &init->attr.max_wr,
			     &init->attr.max_sge);
	if (err)
		goto err_count;
	srq->limit = init->attr.srq_limit;
	if (udata) {
		resp.ring_offset = hmmnic_mmap_offset(srq->rq.queue.mmap);
		resp.ring_size = srq->rq.queue.size;
		resp.num_slots = srq->rq.queue.num_slots;
		resp.slot_size = srq->rq.queue.slot_size;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_queue;
	}
	return 0;

err_queue:
	hmmnic_queue_destroy(&srq->rq.queue);
err_count:
	hmmnic_obj_put(&hdev->num_srq);
	return err;
}

int hmmnic_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		      enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct hmmnic_srq *srq = to_hsrq(ibsrq);

	if (mask & IB_SRQ_MAX_WR)
		return -EOPNOTSUPP;	/* resizing an SRQ is not supported */
	if (mask & IB_SRQ_LIMIT) {
		if (attr->srq_limit > srq->rq.queue.num_slots)
			return -EINVAL;
		spin_lock_irq(&srq->rq.lock);
		srq->limit = attr->srq_limit;
		spin_unlock_irq(&srq->rq.lock);
	}
	return 0;
}

int hmmnic_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct hmmnic_srq *srq = to_hsrq(ibsrq);

	attr->max_wr = srq->rq.queue.num_slots;
	attr->max_sge = srq->rq.max_sge;
	attr->srq_limit = srq->limit;
	return 0;
}

int hmmnic_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct hmmnic_srq *srq = to_hsrq(ibsrq);

	hmmnic_queue_destroy(&srq->rq.queue);
	hmmnic_obj_put(&to_hdev(ibsrq->device)->num_srq);
	return 0;
}

int hmmnic_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			 const struct ib_recv_wr **bad_wr)
{
	struct hmmnic_srq *srq = to_hsrq(ibsrq);

	if (srq->rq.user) {
		*bad_wr = wr;
		return -EINVAL;
	}
	return hmmnic_rq_post(&srq->rq, wr, bad_wr);
}
