// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic completion queues. A CQ is a ring of struct hmmnic_cqe. The data
 * path produces into it under cq->lock; user space consumes from its
 * mapping without a syscall, kernel users through hmmnic_poll_cq().
 */
#include <rdma/uverbs_ioctl.h>

#include "hmmnic.h"
#include "cq.h"
#include "verbs.h"

static int hmmnic_cq_ring_init(struct hmmnic_queue *q, struct ib_udata *udata,
			       int cqe)
{
	struct hmmnic_ucontext *uc = rdma_udata_to_drv_context(udata,
					struct hmmnic_ucontext, ibuc);

	if (cqe < 1 || cqe > HMMNIC_MAX_CQE)
		return -EINVAL;
	return hmmnic_queue_init(q, uc ? &uc->ibuc : NULL,
				 roundup_pow_of_two(cqe),
				 sizeof(struct hmmnic_cqe));
}

static int hmmnic_cq_ring_resp(struct hmmnic_queue *q, struct ib_udata *udata)
{
	struct hmmnic_create_cq_resp resp = {};

	BUILD_BUG_ON(sizeof(resp) != sizeof(struct hmmnic_resize_cq_resp));
	resp.ring_offset = hmmnic_mmap_offset(q->mmap);
	resp.ring_size = q->size;
	resp.num_cqe = q->num_slots;
	return ib_copy_to_udata(udata, &resp, sizeof(resp));
}

int hmmnic_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		     struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibcq->device);
	struct hmmnic_cq *cq = to_hcq(ibcq);
	int err;

	if (attr->flags)
		return -EOPNOTSUPP;
	if (udata) {
		/* No request data is defined; the ring offset must fit. */
		if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EOPNOTSUPP;
		if (udata->outlen < sizeof(struct hmmnic_create_cq_resp))
			return -EINVAL;
	}

	err = hmmnic_obj_get(&hdev->num_cq, HMMNIC_MAX_CQ);
	if (err)
		return err;
	err = hmmnic_cq_ring_init(&cq->queue, udata, attr->cqe);
	if (err)
		goto err_uncount;
	spin_lock_init(&cq->lock);
	cq->user = !!udata;
	ibcq->cqe = cq->queue.num_slots;

	if (udata) {
		err = hmmnic_cq_ring_resp(&cq->queue, udata);
		if (err)
			goto err_queue;
	}
	return 0;

err_queue:
	hmmnic_queue_destroy(&cq->queue);
err_uncount:
	hmmnic_obj_put(&hdev->num_cq);
	return err;
}

int hmmnic_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	hmmnic_queue_destroy(&to_hcq(ibcq)->queue);
	hmmnic_obj_put(&to_hdev(ibcq->device)->num_cq);
	return 0;
}

static void hmmnic_cq_event(struct hmmnic_cq *cq, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = cq->ibcq.device,
		.element.cq = &cq->ibcq,
		.event = type,
	};

	if (cq->ibcq.event_handler)
		cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
}

/*
 * hmmnic_cq_post - add a completion
 * @cqe: the completion; modified
 * @qp: the QP it belongs to
 * @solicited: the completion may wake a CQ armed for solicited events
 *
 * A kernel-only ring keeps the QP pointer for ib_wc.qp in the CQE's
 * reserved space; a shared ring never carries kernel pointers.
 *
 * Return: 0, or -EOVERFLOW when the CQ is (or just went) into error; the
 * caller then puts its QP into error.
 */
int hmmnic_cq_post(struct hmmnic_cq *cq, struct hmmnic_cqe *cqe,
		   struct hmmnic_qp *qp, bool solicited)
{
	bool overflow = false, notify = false;
	unsigned long flags;
	int used;

	cqe->reserved1[0] = cq->user ? 0 : (uintptr_t)&qp->ibqp;
	spin_lock_irqsave(&cq->lock, flags);
	if (cq->error) {
		spin_unlock_irqrestore(&cq->lock, flags);
		return -EOVERFLOW;
	}
	used = hmmnic_queue_used(&cq->queue);
	if (used < 0 || used >= cq->queue.num_slots) {
		cq->error = true;
		hmmnic_queue_set_state(&cq->queue, HMMNIC_CQ_STATE_ERROR);
		overflow = true;
	} else {
		memcpy(hmmnic_queue_prod_slot(&cq->queue), cqe, sizeof(*cqe));
		hmmnic_queue_produce(&cq->queue);
		if (cq->notify == IB_CQ_NEXT_COMP ||
		    (cq->notify == IB_CQ_SOLICITED && solicited)) {
			cq->notify = 0;
			notify = true;
		}
	}
	spin_unlock_irqrestore(&cq->lock, flags);

	if (overflow) {
		hmmnic_stat_inc(&to_hdev(cq->ibcq.device)->stats,
				HMMNIC_CNT_CQ_OVERFLOWS);
		hmmnic_cq_event(cq, IB_EVENT_CQ_ERR);
		return -EOVERFLOW;
	}
	if (notify && cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
	return 0;
}

int hmmnic_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct hmmnic_cq *cq = to_hcq(ibcq);
	unsigned long irqflags;
	int ret = 0;

	spin_lock_irqsave(&cq->lock, irqflags);
	if (cq->notify != IB_CQ_NEXT_COMP)
		cq->notify = flags & IB_CQ_SOLICITED_MASK;
	if ((flags & IB_CQ_REPORT_MISSED_EVENTS) && hmmnic_queue_used(&cq->queue) != 0)
		ret = 1;
	spin_unlock_irqrestore(&cq->lock, irqflags);
	return ret;
}

static void hmmnic_cqe_to_wc(const struct hmmnic_cqe *cqe, struct ib_wc *wc,
			     struct hmmnic_dev *hdev)
{
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->src_qp = cqe->src_qp;
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = cqe->sl;
	wc->port_num = HMMNIC_PORT;
	wc->qp = (struct ib_qp *)(uintptr_t)cqe->reserved1[0];
	if (cqe->wc_flags & HMMNIC_WC_GRH)
		wc->wc_flags |= IB_WC_GRH;
	if (cqe->wc_flags & HMMNIC_WC_WITH_IMM) {
		wc->wc_flags |= IB_WC_WITH_IMM;
		wc->ex.imm_data = (__force __be32)cqe->ex_data;
	}
	if (cqe->wc_flags & HMMNIC_WC_WITH_INV) {
		wc->wc_flags |= IB_WC_WITH_INVALIDATE;
		wc->ex.invalidate_rkey = cqe->ex_data;
	}
	if (cqe->network_hdr_type) {
		wc->wc_flags |= IB_WC_WITH_NETWORK_HDR_TYPE;
		wc->network_hdr_type = cqe->network_hdr_type;
	}
}

/* Kernel users only: user space polls its mapping of the ring. */
int hmmnic_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	struct hmmnic_cq *cq = to_hcq(ibcq);
	struct hmmnic_queue_hdr *hdr = hmmnic_queue_hdr(&cq->queue);
	unsigned long flags;
	int n = 0;

	spin_lock_irqsave(&cq->lock, flags);
	while (n < num_entries && hdr->consumer != hdr->producer) {
		hmmnic_cqe_to_wc(hmmnic_queue_slot(&cq->queue, hdr->consumer),
				 &wc[n], to_hdev(ibcq->device));
		hdr->consumer++;
		n++;
	}
	spin_unlock_irqrestore(&cq->lock, flags);
	return n;
}

int hmmnic_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata)
{
	struct hmmnic_cq *cq = to_hcq(ibcq);
	struct hmmnic_queue new, old;
	struct hmmnic_queue_hdr *ohdr, *nhdr;
	unsigned long flags;
	int used, err;
	u32 i;

	if (udata) {
		if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EOPNOTSUPP;
		if (udata->outlen < sizeof(struct hmmnic_resize_cq_resp))
			return -EINVAL;
	}
	err = hmmnic_cq_ring_init(&new, udata, cqe);
	if (err)
		return err;
	nhdr = hmmnic_queue_hdr(&new);

	spin_lock_irqsave(&cq->lock, flags);
	ohdr = hmmnic_queue_hdr(&cq->queue);
	used = hmmnic_queue_used(&cq->queue);
	if (cq->error || used < 0 || used > new.num_slots) {
		spin_unlock_irqrestore(&cq->lock, flags);
		hmmnic_queue_destroy(&new);
		return cq->error || used < 0 ? -EIO : -EINVAL;
	}
	for (i = 0; i < used; i++)
		memcpy(hmmnic_queue_slot(&new, i),
		       hmmnic_queue_slot(&cq->queue, ohdr->consumer + i),
		       sizeof(struct hmmnic_cqe));
	nhdr->producer = used;
	old = cq->queue;
	cq->queue = new;
	ibcq->cqe = new.num_slots;
	spin_unlock_irqrestore(&cq->lock, flags);

	if (udata) {
		err = hmmnic_cq_ring_resp(&cq->queue, udata);
		/*
		 * The old ring is gone either way; a provider that did not
		 * get the new offset cannot use the CQ any more.
		 */
	}
	hmmnic_queue_destroy(&old);
	return err;
}
