// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic user-space provider. libibverbs loads it for every RDMA device
 * whose name starts with "hmmnic" and whose uverbs ABI matches. Verbs that
 * are not set in hmmnic_ctx_ops are answered by libibverbs itself with
 * EOPNOTSUPP.
 *
 * The data path goes through rings shared with the kernel (layouts and rules
 * in include/uapi/rdma/hmmnic-abi.h): work requests are written into the
 * send and receive queue rings, completions are read from the CQ ring, and
 * the only system calls are the doorbells (post_send and post_recv commands
 * without work requests).
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hmmnic.h"
#include "hmmnic-abi.h"
#include "hmmnicdv.h"

/* The ABI uses libibverbs' values for these; keep the two in step. */
static_assert(HMMNIC_SEND_FENCE == IBV_SEND_FENCE, "send flag");
static_assert(HMMNIC_SEND_SIGNALED == IBV_SEND_SIGNALED, "send flag");
static_assert(HMMNIC_SEND_SOLICITED == IBV_SEND_SOLICITED, "send flag");
static_assert(HMMNIC_SEND_INLINE == IBV_SEND_INLINE, "send flag");
static_assert(HMMNIC_WC_GRH == IBV_WC_GRH, "wc flag");
static_assert(HMMNIC_WC_WITH_IMM == IBV_WC_WITH_IMM, "wc flag");
static_assert(HMMNIC_WC_WITH_INV == IBV_WC_WITH_INV, "wc flag");
static_assert(HMMNIC_QPS_ERR == IBV_QPS_ERR, "qp state");
#define HMMNIC_SAME_OPCODE(op) \
	static_assert((int)IBV_WR_##op == (int)IB_UVERBS_WR_##op, "opcode")
HMMNIC_SAME_OPCODE(SEND);
HMMNIC_SAME_OPCODE(SEND_WITH_IMM);
HMMNIC_SAME_OPCODE(RDMA_WRITE);
HMMNIC_SAME_OPCODE(RDMA_WRITE_WITH_IMM);
HMMNIC_SAME_OPCODE(RDMA_READ);
HMMNIC_SAME_OPCODE(ATOMIC_CMP_AND_SWP);
HMMNIC_SAME_OPCODE(ATOMIC_FETCH_AND_ADD);
HMMNIC_SAME_OPCODE(SEND_WITH_INV);
static_assert(HMMNICDV_REG_MR_NO_STAGING == HMMNIC_REG_MR_NO_STAGING, "mr flag");
static_assert(sizeof(struct hmmnic_send_wqe) % 8 == 0, "send WQE header");
static_assert(sizeof(struct hmmnic_recv_wqe) % 8 == 0, "recv WQE header");
static_assert(sizeof(struct hmmnic_sge) == sizeof(struct ibv_sge), "sge");

enum {
	HMMNIC_SUP_SEND_FLAGS = IBV_SEND_FENCE | IBV_SEND_SIGNALED |
				IBV_SEND_SOLICITED | IBV_SEND_INLINE,
	HMMNIC_SUP_QP_COMP_MASK = IBV_QP_INIT_ATTR_PD |
				  IBV_QP_INIT_ATTR_CREATE_FLAGS |
				  IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
	HMMNIC_SUP_UD_SEND_OPS = IBV_QP_EX_WITH_SEND |
				 IBV_QP_EX_WITH_SEND_WITH_IMM,
	HMMNIC_SUP_RC_SEND_OPS = HMMNIC_SUP_UD_SEND_OPS |
				 IBV_QP_EX_WITH_RDMA_WRITE |
				 IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
				 IBV_QP_EX_WITH_RDMA_READ |
				 IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
				 IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
				 IBV_QP_EX_WITH_SEND_WITH_INV,
	HMMNIC_SUP_WC_FLAGS = IBV_WC_STANDARD_FLAGS,
	HMMNIC_SUP_CQ_FLAGS = IBV_CREATE_CQ_ATTR_SINGLE_THREADED,
};

static const struct verbs_match_ent hca_table[] = {
	VERBS_NAME_MATCH(HMMNIC_DEVICE_NAME_PREFIX, NULL),
	{},
};

static int hmmnic_query_device(struct ibv_context *context,
			       const struct ibv_query_device_ex_input *input,
			       struct ibv_device_attr_ex *attr,
			       size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t raw_fw_ver;
	int ret;

	ret = ibv_cmd_query_device_any(context, input, attr, attr_size,
				       &resp, &resp_size);
	if (ret)
		return ret;

	raw_fw_ver = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%d.%d.%d", (int)(raw_fw_ver >> 32) & 0xffff,
		 (int)(raw_fw_ver >> 16) & 0xffff, (int)raw_fw_ver & 0xffff);
	return 0;
}

static int hmmnic_query_port(struct ibv_context *context, uint8_t port,
			     struct ibv_port_attr *attr)
{
	struct ibv_query_port cmd;

	return ibv_cmd_query_port(context, port, attr, &cmd, sizeof(cmd));
}

static struct ibv_pd *hmmnic_alloc_pd(struct ibv_context *context)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct hmmnic_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&pd->lock, NULL);

	ret = ibv_cmd_alloc_pd(context, &pd->ibv_pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		pthread_mutex_destroy(&pd->lock);
		free(pd);
		errno = ret;
		return NULL;
	}
	return &pd->ibv_pd;
}

static int hmmnic_dealloc_pd(struct ibv_pd *ibpd)
{
	struct hmmnic_pd *pd = to_hpd(ibpd);
	int ret;

	ret = ibv_cmd_dealloc_pd(ibpd);
	if (ret)
		return ret;
	pthread_mutex_destroy(&pd->lock);
	free(pd);
	return 0;
}

/* Access flags go to the kernel unchanged; it decides what it supports. */
static struct ibv_mr *hmmnic_reg_mr_flags(struct ibv_pd *pd, void *addr,
					  size_t length, uint64_t hca_va,
					  int access, uint32_t flags)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct hmmnic_cmd_reg_mr cmd = {};
	struct hmmnic_mr *mr;
	int ret;

	mr = calloc(1, sizeof(*mr));
	if (!mr) {
		errno = ENOMEM;
		return NULL;
	}

	cmd.flags = flags;
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, &mr->vmr,
			     &cmd.ibv_cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(mr);
		errno = ret;
		return NULL;
	}
	return &mr->vmr.ibv_mr;
}

static int hmmnic_dereg_mr(struct verbs_mr *vmr);

/*
 * HMMNIC_ODP_MODE=implicit: an ODP registration becomes a view of the PD's
 * implicit ODP region (created with the first view, destroyed with the
 * last), so a program that registers explicit ranges runs on implicit
 * ODP unchanged. The view's keys are the implicit region's: they reach
 * all of the process's memory, which is why this is opt-in.
 */
static struct ibv_mr *hmmnic_reg_implicit_view(struct ibv_pd *ibpd,
					       void *addr, size_t length,
					       int access)
{
	struct hmmnic_pd *pd = to_hpd(ibpd);
	struct hmmnic_mr *mr;
	struct ibv_mr *imr;

	mr = calloc(1, sizeof(*mr));
	if (!mr) {
		errno = ENOMEM;
		return NULL;
	}

	pthread_mutex_lock(&pd->lock);
	if (!pd->implicit) {
		imr = hmmnic_reg_mr_flags(ibpd, NULL, SIZE_MAX, 0,
					  IBV_ACCESS_LOCAL_WRITE |
					  IBV_ACCESS_REMOTE_WRITE |
					  IBV_ACCESS_REMOTE_READ |
					  IBV_ACCESS_REMOTE_ATOMIC |
					  IBV_ACCESS_ON_DEMAND, 0);
		if (!imr) {
			pthread_mutex_unlock(&pd->lock);
			free(mr);
			return NULL;
		}
		imr->context = ibpd->context;
		imr->pd = ibpd;
		pd->implicit = verbs_get_mr(imr);
	}
	pd->implicit_users++;
	mr->implicit_pd = pd;
	mr->vmr.ibv_mr.handle = pd->implicit->ibv_mr.handle;
	mr->vmr.ibv_mr.lkey = pd->implicit->ibv_mr.lkey;
	mr->vmr.ibv_mr.rkey = pd->implicit->ibv_mr.rkey;
	mr->vmr.mr_type = IBV_MR_TYPE_MR;
	mr->vmr.access = access;
	pthread_mutex_unlock(&pd->lock);

	mr->vmr.ibv_mr.addr = addr;
	mr->vmr.ibv_mr.length = length;
	return &mr->vmr.ibv_mr;
}

/* HMMNIC_ODP_MODE=prefetch or warm: prefetch the new region at once. */
static int hmmnic_reg_prefetch(struct ibv_pd *pd, struct ibv_mr *mr,
			       void *addr, size_t length, int access,
			       bool wait)
{
	enum ibv_advise_mr_advice advice = access & IBV_ACCESS_LOCAL_WRITE ?
		IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE :
		IBV_ADVISE_MR_ADVICE_PREFETCH;
	uint64_t va = (uintptr_t)addr, end = va + length;
	int ret;

	while (va < end) {
		struct ibv_sge sge = {
			.addr = va,
			.length = end - va > (1U << 30) ? 1U << 30 : end - va,
			.lkey = mr->lkey,
		};

		ret = ibv_cmd_advise_mr(pd, advice,
					wait ? IBV_ADVISE_MR_FLAG_FLUSH : 0,
					&sge, 1);
		if (ret)
			return ret;
		va += sge.length;
	}
	return 0;
}

static struct ibv_mr *hmmnic_reg_mr(struct ibv_pd *pd, void *addr,
				    size_t length, uint64_t hca_va, int access)
{
	enum hmmnic_odp_mode mode = to_hctx(pd->context)->odp_mode;
	struct ibv_mr *mr;
	int ret;

	if (!(access & IBV_ACCESS_ON_DEMAND) || !addr || !length ||
	    mode == HMMNIC_ODP_FAULT)
		return hmmnic_reg_mr_flags(pd, addr, length, hca_va, access,
					   0);

	if (mode == HMMNIC_ODP_IMPLICIT) {
		/* the implicit region's iova is the virtual address */
		if (hca_va != (uintptr_t)addr)
			return hmmnic_reg_mr_flags(pd, addr, length, hca_va,
						   access, 0);
		return hmmnic_reg_implicit_view(pd, addr, length, access);
	}

	mr = hmmnic_reg_mr_flags(pd, addr, length, hca_va, access, 0);
	if (!mr || hca_va != (uintptr_t)addr)
		return mr;
	ret = hmmnic_reg_prefetch(pd, mr, addr, length, access,
				  mode == HMMNIC_ODP_WARM);
	if (ret) {
		hmmnic_dereg_mr(verbs_get_mr(mr));
		errno = ret;
		return NULL;
	}
	return mr;
}

/* Direct verb: see hmmnicdv.h. */
struct ibv_mr *hmmnicdv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			       int access, uint32_t flags)
{
	if (strncmp(ibv_get_device_name(pd->context->device),
		    HMMNIC_DEVICE_NAME_PREFIX,
		    strlen(HMMNIC_DEVICE_NAME_PREFIX)) ||
	    (flags & ~HMMNICDV_REG_MR_NO_STAGING)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return hmmnic_reg_mr_flags(pd, addr, length, (uintptr_t)addr, access,
				   flags);
}

/* Prefetch of ODP regions: the kernel checks and does all of it. */
static int hmmnic_advise_mr(struct ibv_pd *pd,
			    enum ibv_advise_mr_advice advice, uint32_t flags,
			    struct ibv_sge *sg_list, uint32_t num_sge)
{
	return ibv_cmd_advise_mr(pd, advice, flags, sg_list, num_sge);
}

static int hmmnic_dereg_mr(struct verbs_mr *vmr)
{
	struct hmmnic_mr *mr = to_hmr(vmr);
	struct hmmnic_pd *pd = mr->implicit_pd;
	int ret;

	if (pd) {
		pthread_mutex_lock(&pd->lock);
		if (pd->implicit_users == 1) {
			ret = hmmnic_dereg_mr(pd->implicit);
			if (ret) {
				pthread_mutex_unlock(&pd->lock);
				return ret;
			}
			pd->implicit = NULL;
		}
		pd->implicit_users--;
		pthread_mutex_unlock(&pd->lock);
		free(mr);
		return 0;
	}

	ret = ibv_cmd_dereg_mr(vmr);
	if (ret)
		return ret;
	free(mr);
	return 0;
}

/* Rings */

static int hmmnic_ring_map(struct hmmnic_ring *ring, int cmd_fd,
			   uint64_t offset, size_t size, uint32_t num_slots,
			   uint32_t slot_size)
{
	if (!num_slots || (num_slots & (num_slots - 1)) ||
	    HMMNIC_QUEUE_SLOTS_OFFSET + (uint64_t)num_slots * slot_size > size)
		return EINVAL;
	ring->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 cmd_fd, offset);
	if (ring->map == MAP_FAILED)
		return errno;
	ring->map_size = size;
	ring->hdr = ring->map;
	ring->slots = (uint8_t *)ring->map + HMMNIC_QUEUE_SLOTS_OFFSET;
	ring->mask = num_slots - 1;
	ring->slot_size = slot_size;
	return 0;
}

static void hmmnic_ring_unmap(struct hmmnic_ring *ring)
{
	munmap(ring->map, ring->map_size);
}

/*
 * Map a work queue ring whose WQEs have a header of @hdr_size bytes followed
 * by SGEs (or, in a send queue, inline data). Slots must hold at least the
 * header and keep every WQE 8-byte aligned.
 */
static int hmmnic_wq_map(struct hmmnic_wq *wq, int cmd_fd, uint64_t offset,
			 size_t size, uint32_t num_slots, uint32_t slot_size,
			 size_t hdr_size)
{
	int ret;

	if (slot_size < hdr_size || slot_size % 8)
		return EINVAL;
	ret = hmmnic_ring_map(&wq->ring, cmd_fd, offset, size, num_slots,
			      slot_size);
	if (ret)
		return ret;
	pthread_spin_init(&wq->lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

static void hmmnic_wq_unmap(struct hmmnic_wq *wq)
{
	hmmnic_ring_unmap(&wq->ring);
	pthread_spin_destroy(&wq->lock);
}

/* SGEs that fit in a slot after a WQE header of @hdr_size bytes. */
static uint32_t hmmnic_wq_max_sge(const struct hmmnic_wq *wq, uint32_t cap,
				  size_t hdr_size)
{
	uint32_t fit = (wq->ring.slot_size - hdr_size) /
		       sizeof(struct hmmnic_sge);

	return cap < fit ? cap : fit;
}

/* Called with the queue's lock held; @prod is the producer to be. */
static bool hmmnic_wq_has_room(const struct hmmnic_wq *wq, uint32_t prod)
{
	uint32_t cons = __atomic_load_n(&wq->ring.hdr->consumer,
					__ATOMIC_ACQUIRE);

	return prod - cons < wq->ring.mask + 1;
}

/*
 * This side owns the producer; it is read back from the ring instead of
 * being cached, so whatever the kernel does to the ring on a reset is seen.
 */
static uint32_t hmmnic_wq_producer(const struct hmmnic_wq *wq)
{
	return __atomic_load_n(&wq->ring.hdr->producer, __ATOMIC_RELAXED);
}

/* Hand the WQEs written so far to the kernel. */
static void hmmnic_wq_publish(struct hmmnic_wq *wq, uint32_t prod)
{
	__atomic_store_n(&wq->ring.hdr->producer, prod, __ATOMIC_RELEASE);
}

static void hmmnic_copy_sges(struct hmmnic_sge *dst,
			     const struct ibv_sge *src, size_t num_sge)
{
	size_t i;

	for (i = 0; i < num_sge; i++) {
		dst[i].addr = src[i].addr;
		dst[i].length = src[i].length;
		dst[i].lkey = src[i].lkey;
	}
}

/* Completion queues */

static int hmmnic_cq_map(struct hmmnic_cq *cq, int cmd_fd,
			 const struct hmmnic_create_cq_resp *resp)
{
	int ret;

	ret = hmmnic_ring_map(&cq->ring, cmd_fd, resp->ring_offset,
			      resp->ring_size, resp->num_cqe,
			      sizeof(struct hmmnic_cqe));
	if (ret)
		return ret;
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

static struct ibv_cq *hmmnic_create_cq(struct ibv_context *context, int cqe,
				       struct ibv_comp_channel *channel,
				       int comp_vector)
{
	struct hmmnic_cmd_create_cq_resp resp = {};
	struct hmmnic_cmd_create_cq cmd = {};
	struct hmmnic_cq *cq;
	int ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_create_cq(context, cqe, channel, comp_vector,
				&cq->vcq.cq, &cmd.ibv_cmd, sizeof(cmd),
				&resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;

	ret = hmmnic_cq_map(cq, context->cmd_fd, &resp.drv_payload);
	if (ret)
		goto err_destroy;
	return &cq->vcq.cq;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

static const struct hmmnic_cqe *hmmnic_cq_slot(struct hmmnic_cq *cq,
					       uint32_t idx)
{
	return hmmnic_ring_slot(&cq->ring, idx);
}

/*
 * Extended polling. start_poll takes the CQ lock and end_poll drops it;
 * the CQEs returned in between are consumed at end_poll.
 */
static void hmmnic_cq_take(struct hmmnic_cq *cq)
{
	cq->cur = hmmnic_cq_slot(cq, cq->poll_cons++);
	cq->vcq.cq_ex.wr_id = cq->cur->wr_id;
	cq->vcq.cq_ex.status = cq->cur->status;
}

static int hmmnic_start_poll(struct ibv_cq_ex *cqx,
			     struct ibv_poll_cq_attr *attr)
{
	struct hmmnic_cq *cq = cqx_to_hcq(cqx);

	if (attr->comp_mask)
		return EINVAL;

	pthread_spin_lock(&cq->lock);
	cq->poll_prod = __atomic_load_n(&cq->ring.hdr->producer,
					__ATOMIC_ACQUIRE);
	cq->poll_cons = cq->ring.hdr->consumer;
	if (cq->poll_cons == cq->poll_prod) {
		pthread_spin_unlock(&cq->lock);
		return ENOENT;
	}
	hmmnic_cq_take(cq);
	return 0;
}

static int hmmnic_next_poll(struct ibv_cq_ex *cqx)
{
	struct hmmnic_cq *cq = cqx_to_hcq(cqx);

	if (cq->poll_cons == cq->poll_prod) {
		cq->poll_prod = __atomic_load_n(&cq->ring.hdr->producer,
						__ATOMIC_ACQUIRE);
		if (cq->poll_cons == cq->poll_prod)
			return ENOENT;
	}
	hmmnic_cq_take(cq);
	return 0;
}

static void hmmnic_end_poll(struct ibv_cq_ex *cqx)
{
	struct hmmnic_cq *cq = cqx_to_hcq(cqx);

	__atomic_store_n(&cq->ring.hdr->consumer, cq->poll_cons,
			 __ATOMIC_RELEASE);
	cq->cur = NULL;
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode hmmnic_read_opcode(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->opcode;
}

static uint32_t hmmnic_read_vendor_err(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->vendor_err;
}

static uint32_t hmmnic_read_byte_len(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->byte_len;
}

/* Also what ibv_wc_read_invalidated_rkey() returns (IBV_WC_WITH_INV). */
static __be32 hmmnic_read_imm_data(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->ex_data;
}

static uint32_t hmmnic_read_qp_num(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->qp_num;
}

static uint32_t hmmnic_read_src_qp(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->src_qp;
}

static unsigned int hmmnic_read_wc_flags(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->wc_flags;
}

static uint32_t hmmnic_read_slid(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->slid;
}

static uint8_t hmmnic_read_sl(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->sl;
}

static uint8_t hmmnic_read_dlid_path_bits(struct ibv_cq_ex *cqx)
{
	return cqx_to_hcq(cqx)->cur->dlid_path_bits;
}

static void hmmnic_set_cq_ex_ops(struct ibv_cq_ex *cqx)
{
	cqx->start_poll = hmmnic_start_poll;
	cqx->next_poll = hmmnic_next_poll;
	cqx->end_poll = hmmnic_end_poll;
	cqx->read_opcode = hmmnic_read_opcode;
	cqx->read_vendor_err = hmmnic_read_vendor_err;
	cqx->read_byte_len = hmmnic_read_byte_len;
	cqx->read_imm_data = hmmnic_read_imm_data;
	cqx->read_qp_num = hmmnic_read_qp_num;
	cqx->read_src_qp = hmmnic_read_src_qp;
	cqx->read_wc_flags = hmmnic_read_wc_flags;
	cqx->read_slid = hmmnic_read_slid;
	cqx->read_sl = hmmnic_read_sl;
	cqx->read_dlid_path_bits = hmmnic_read_dlid_path_bits;
}

static int hmmnic_check_cq_attr(const struct ibv_cq_init_attr_ex *attr)
{
	if (attr->wc_flags & ~(uint64_t)HMMNIC_SUP_WC_FLAGS)
		return EOPNOTSUPP;
	if (attr->comp_mask & ~(uint32_t)IBV_CQ_INIT_ATTR_MASK_FLAGS)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	    (attr->flags & ~(uint32_t)HMMNIC_SUP_CQ_FLAGS))
		return EOPNOTSUPP;
	return 0;
}

static struct ibv_cq_ex *hmmnic_create_cq_ex(struct ibv_context *context,
					     struct ibv_cq_init_attr_ex *attr)
{
	struct hmmnic_cmd_create_cq_ex_resp resp = {};
	struct hmmnic_cmd_create_cq_ex cmd = {};
	struct hmmnic_cq *cq;
	int ret;

	ret = hmmnic_check_cq_attr(attr);
	if (ret) {
		errno = ret;
		return NULL;
	}

	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_create_cq_ex(context, attr, &cq->vcq, &cmd.ibv_cmd,
				   sizeof(cmd), &resp.ibv_resp, sizeof(resp),
				   0);
	if (ret)
		goto err_free;

	ret = hmmnic_cq_map(cq, context->cmd_fd, &resp.drv_payload);
	if (ret)
		goto err_destroy;
	hmmnic_set_cq_ex_ops(&cq->vcq.cq_ex);
	return &cq->vcq.cq_ex;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

/*
 * The kernel moves the unconsumed CQEs into a new ring. If the new ring
 * cannot be mapped, the old mapping stays (so polling never faults) and
 * the error is returned.
 */
static int hmmnic_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct hmmnic_cmd_resize_cq_resp resp = {};
	struct hmmnic_cmd_resize_cq cmd = {};
	struct hmmnic_cq *cq = to_hcq(ibcq);
	struct hmmnic_ring ring;
	int ret;

	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd.ibv_cmd, sizeof(cmd),
				&resp.ibv_resp, sizeof(resp));
	if (ret)
		goto out;
	ret = hmmnic_ring_map(&ring, ibcq->context->cmd_fd, resp.ring_offset,
			      resp.ring_size, resp.num_cqe,
			      sizeof(struct hmmnic_cqe));
	if (ret)
		goto out;
	hmmnic_ring_unmap(&cq->ring);
	cq->ring = ring;
out:
	pthread_spin_unlock(&cq->lock);
	return ret;
}

static int hmmnic_destroy_cq(struct ibv_cq *ibcq)
{
	struct hmmnic_cq *cq = to_hcq(ibcq);
	int ret;

	ret = ibv_cmd_destroy_cq(ibcq);
	if (ret)
		return ret;
	hmmnic_ring_unmap(&cq->ring);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}

static void hmmnic_cqe_to_wc(const struct hmmnic_cqe *cqe, struct ibv_wc *wc)
{
	wc->wr_id = cqe->wr_id;
	wc->status = cqe->status;
	wc->opcode = cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	/* imm_data (network order) or invalidated_rkey: the same union */
	wc->imm_data = cqe->ex_data;
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = cqe->wc_flags;
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = cqe->sl;
	wc->dlid_path_bits = cqe->dlid_path_bits;
}

/*
 * Consume CQEs from the ring; no system call. A CQ in error
 * (HMMNIC_CQ_STATE_ERROR, after an overflow) is still drained: the kernel
 * stops producing, and the CQEs it did produce are returned.
 */
static int hmmnic_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct hmmnic_cq *cq = to_hcq(ibcq);
	struct hmmnic_ring *ring;
	uint32_t prod, cons;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	ring = &cq->ring;
	prod = __atomic_load_n(&ring->hdr->producer, __ATOMIC_ACQUIRE);
	cons = ring->hdr->consumer;
	while (n < ne && cons != prod) {
		hmmnic_cqe_to_wc(hmmnic_cq_slot(cq, cons), &wc[n]);
		cons++;
		n++;
	}
	if (n)
		__atomic_store_n(&ring->hdr->consumer, cons, __ATOMIC_RELEASE);
	pthread_spin_unlock(&cq->lock);
	return n;
}

/* Shared receive queues */

static struct ibv_srq *hmmnic_create_srq(struct ibv_pd *pd,
					 struct ibv_srq_init_attr *attr)
{
	struct hmmnic_cmd_create_srq_resp resp = {};
	struct hmmnic_cmd_create_srq cmd = {};
	struct hmmnic_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_create_srq(pd, &srq->vsrq.srq, attr, &cmd.ibv_cmd,
				 sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;

	ret = hmmnic_wq_map(&srq->rq, pd->context->cmd_fd, resp.ring_offset,
			    resp.ring_size, resp.num_slots, resp.slot_size,
			    sizeof(struct hmmnic_recv_wqe));
	if (ret)
		goto err_destroy;
	srq->rq.max_sge = hmmnic_wq_max_sge(&srq->rq, attr->attr.max_sge,
					    sizeof(struct hmmnic_recv_wqe));
	return &srq->vsrq.srq;

err_destroy:
	ibv_cmd_destroy_srq(&srq->vsrq.srq);
err_free:
	free(srq);
	errno = ret;
	return NULL;
}

/*
 * modify_srq has no response to hand out a new ring, so the kernel cannot
 * replace the ring and the mapping stays valid whatever it accepts.
 */
static int hmmnic_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr,
			     int attr_mask)
{
	struct ibv_modify_srq cmd = {};

	return ibv_cmd_modify_srq(srq, attr, attr_mask, &cmd, sizeof(cmd));
}

static int hmmnic_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd = {};

	return ibv_cmd_query_srq(srq, attr, &cmd, sizeof(cmd));
}

static int hmmnic_destroy_srq(struct ibv_srq *ibsrq)
{
	struct hmmnic_srq *srq = to_hsrq(ibsrq);
	int ret;

	ret = ibv_cmd_destroy_srq(ibsrq);
	if (ret)
		return ret;
	hmmnic_wq_unmap(&srq->rq);
	free(srq);
	return 0;
}

/* Address handles */

static struct ibv_ah *hmmnic_create_ah(struct ibv_pd *pd,
				       struct ibv_ah_attr *attr)
{
	struct hmmnic_cmd_create_ah_resp resp = {};
	struct hmmnic_ah *ah;
	int ret;

	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_create_ah(pd, &ah->ibv_ah, attr, &resp.ibv_resp,
				sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	ah->ah_num = resp.ah;
	return &ah->ibv_ah;
}

static int hmmnic_destroy_ah(struct ibv_ah *ibah)
{
	int ret;

	ret = ibv_cmd_destroy_ah(ibah);
	if (ret)
		return ret;
	free(to_hah(ibah));
	return 0;
}

/* Queue pairs: creation and control */

static void hmmnic_qp_set_state(struct hmmnic_qp *qp, enum ibv_qp_state state)
{
	__atomic_store_n(&qp->state, state, __ATOMIC_RELAXED);
}

static enum ibv_qp_state hmmnic_qp_state(struct hmmnic_qp *qp)
{
	return __atomic_load_n(&qp->state, __ATOMIC_RELAXED);
}

/* Send work requests may be posted from RTS on (also in SQD, SQE, ERR). */
static bool hmmnic_qp_can_send(struct hmmnic_qp *qp)
{
	enum ibv_qp_state state = hmmnic_qp_state(qp);

	return state != IBV_QPS_RESET && state != IBV_QPS_INIT &&
	       state != IBV_QPS_RTR;
}

static int hmmnic_qp_map(struct hmmnic_qp *qp, int cmd_fd,
			 const struct ibv_qp_cap *cap,
			 const struct hmmnic_create_qp_resp *resp)
{
	int ret;

	ret = hmmnic_wq_map(&qp->sq, cmd_fd, resp->sq_offset, resp->sq_size,
			    resp->sq_slots, resp->sq_slot_size,
			    sizeof(struct hmmnic_send_wqe));
	if (ret)
		return ret;
	qp->sq.max_sge = hmmnic_wq_max_sge(&qp->sq, cap->max_send_sge,
					   sizeof(struct hmmnic_send_wqe));
	qp->sq.max_inline = resp->sq_slot_size - sizeof(struct hmmnic_send_wqe);
	if (resp->max_inline < qp->sq.max_inline)
		qp->sq.max_inline = resp->max_inline;

	if (!resp->rq_offset)
		return 0;
	ret = hmmnic_wq_map(&qp->rq, cmd_fd, resp->rq_offset, resp->rq_size,
			    resp->rq_slots, resp->rq_slot_size,
			    sizeof(struct hmmnic_recv_wqe));
	if (ret) {
		hmmnic_wq_unmap(&qp->sq);
		return ret;
	}
	qp->rq.max_sge = hmmnic_wq_max_sge(&qp->rq, cap->max_recv_sge,
					   sizeof(struct hmmnic_recv_wqe));
	qp->has_rq = true;
	return 0;
}

static void hmmnic_qp_unmap(struct hmmnic_qp *qp)
{
	if (qp->has_rq)
		hmmnic_wq_unmap(&qp->rq);
	hmmnic_wq_unmap(&qp->sq);
}

static bool hmmnic_qp_type_ok(enum ibv_qp_type type)
{
	return type == IBV_QPT_RC || type == IBV_QPT_UD;
}

static struct ibv_qp *hmmnic_create_qp(struct ibv_pd *pd,
				       struct ibv_qp_init_attr *attr)
{
	struct hmmnic_cmd_create_qp_resp resp = {};
	struct hmmnic_cmd_create_qp cmd = {};
	struct hmmnic_qp *qp;
	int ret;

	if (!hmmnic_qp_type_ok(attr->qp_type)) {
		errno = EOPNOTSUPP;
		return NULL;
	}

	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_create_qp(pd, &qp->vqp.qp, attr, &cmd.ibv_cmd,
				sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;

	ret = hmmnic_qp_map(qp, pd->context->cmd_fd, &attr->cap,
			    &resp.drv_payload);
	if (ret)
		goto err_destroy;
	hmmnic_qp_set_state(qp, IBV_QPS_RESET);
	return &qp->vqp.qp;

err_destroy:
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	errno = ret;
	return NULL;
}

static void hmmnic_set_qp_ex_ops(struct hmmnic_qp *qp, uint64_t send_ops);

static int hmmnic_check_qp_attr(const struct ibv_qp_init_attr_ex *attr)
{
	uint64_t sup_ops;

	if (!hmmnic_qp_type_ok(attr->qp_type))
		return EOPNOTSUPP;
	if (attr->comp_mask & ~(uint32_t)HMMNIC_SUP_QP_COMP_MASK)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    attr->create_flags)
		return EOPNOTSUPP;
	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) {
		sup_ops = attr->qp_type == IBV_QPT_RC ?
			  HMMNIC_SUP_RC_SEND_OPS : HMMNIC_SUP_UD_SEND_OPS;
		if (attr->send_ops_flags & ~sup_ops)
			return EOPNOTSUPP;
	}
	return 0;
}

static struct ibv_qp *hmmnic_create_qp_ex(struct ibv_context *context,
					  struct ibv_qp_init_attr_ex *attr)
{
	struct hmmnic_cmd_create_qp_ex_resp resp = {};
	struct hmmnic_cmd_create_qp_ex cmd = {};
	struct hmmnic_qp *qp;
	int ret;

	ret = hmmnic_check_qp_attr(attr);
	if (ret) {
		errno = ret;
		return NULL;
	}

	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_create_qp_ex2(context, &qp->vqp, attr, &cmd.ibv_cmd,
				    sizeof(cmd), &resp.ibv_resp, sizeof(resp));
	if (ret)
		goto err_free;

	ret = hmmnic_qp_map(qp, context->cmd_fd, &attr->cap,
			    &resp.drv_payload);
	if (ret)
		goto err_destroy;
	hmmnic_qp_set_state(qp, IBV_QPS_RESET);
	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) {
		hmmnic_set_qp_ex_ops(qp, attr->send_ops_flags);
		qp->vqp.comp_mask |= VERBS_QP_EX;
	}
	return &qp->vqp.qp;

err_destroy:
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err_free:
	free(qp);
	errno = ret;
	return NULL;
}

static int hmmnic_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
			   int attr_mask, struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd = {};
	int ret;

	ret = ibv_cmd_query_qp(ibqp, attr, attr_mask, init_attr, &cmd,
			       sizeof(cmd));
	if (ret)
		return ret;
	if (attr_mask & IBV_QP_STATE)
		hmmnic_qp_set_state(to_hqp(ibqp), attr->qp_state);
	return 0;
}

static int hmmnic_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
			    int attr_mask)
{
	struct ibv_modify_qp cmd = {};
	int ret;

	ret = ibv_cmd_modify_qp(ibqp, attr, attr_mask, &cmd, sizeof(cmd));
	if (ret)
		return ret;
	if (attr_mask & IBV_QP_STATE)
		hmmnic_qp_set_state(to_hqp(ibqp), attr->qp_state);
	return 0;
}

static int hmmnic_destroy_qp(struct ibv_qp *ibqp)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);
	int ret;

	ret = ibv_cmd_destroy_qp(ibqp);
	if (ret)
		return ret;
	hmmnic_qp_unmap(qp);
	free(qp);
	return 0;
}

/* Doorbells: post_send and post_recv commands without work requests. */

static int hmmnic_send_doorbell(struct ibv_qp *ibqp)
{
	struct ibv_send_wr *bad_wr;

	return ibv_cmd_post_send(ibqp, NULL, &bad_wr);
}

static int hmmnic_recv_doorbell(struct ibv_qp *ibqp)
{
	struct ibv_recv_wr *bad_wr;

	return ibv_cmd_post_recv(ibqp, NULL, &bad_wr);
}

/* Send side */

static bool hmmnic_opcode_ok(enum ibv_qp_type type, enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		return true;
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
	case IBV_WR_SEND_WITH_INV:
		return type == IBV_QPT_RC;
	default:
		return false;
	}
}

/* Inline data is only outbound payload. */
static bool hmmnic_opcode_has_inline(uint32_t op)
{
	return op == IBV_WR_SEND || op == IBV_WR_SEND_WITH_IMM ||
	       op == IBV_WR_SEND_WITH_INV || op == IBV_WR_RDMA_WRITE ||
	       op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

static int hmmnic_check_send_wr(struct hmmnic_qp *qp,
				const struct ibv_send_wr *wr)
{
	uint64_t len = 0;
	int i;

	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > qp->sq.max_sge)
		return EINVAL;
	if (wr->send_flags & IBV_SEND_INLINE) {
		for (i = 0; i < wr->num_sge; i++)
			len += wr->sg_list[i].length;
		if (len > qp->sq.max_inline)
			return EINVAL;
	}
	if (!hmmnic_opcode_ok(qp->vqp.qp.qp_type, wr->opcode))
		return EINVAL;
	if (wr->send_flags & ~(unsigned int)HMMNIC_SUP_SEND_FLAGS)
		return EINVAL;
	if ((wr->send_flags & IBV_SEND_INLINE) &&
	    !hmmnic_opcode_has_inline(wr->opcode))
		return EINVAL;
	if (qp->vqp.qp.qp_type == IBV_QPT_UD && !wr->wr.ud.ah)
		return EINVAL;
	return 0;
}

/* A zeroed WQE header with the fields every operation has. */
static void hmmnic_init_send_wqe(struct hmmnic_send_wqe *wqe, uint64_t wr_id,
				 uint32_t opcode, uint32_t send_flags)
{
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr_id;
	wqe->opcode = opcode;
	wqe->send_flags = send_flags;
}

/* Copy inline data behind the header; the length was checked. */
static void hmmnic_wqe_add_inline(struct hmmnic_send_wqe *wqe,
				  const void *addr, size_t length)
{
	if (!length)
		return;
	memcpy((uint8_t *)wqe->sge + wqe->inline_len, addr, length);
	wqe->inline_len += length;
}

static void hmmnic_set_send_data(struct hmmnic_send_wqe *wqe,
				 const struct ibv_send_wr *wr)
{
	int i;

	if (!(wr->send_flags & IBV_SEND_INLINE)) {
		hmmnic_copy_sges(wqe->sge, wr->sg_list, wr->num_sge);
		wqe->num_sge = wr->num_sge;
		return;
	}
	for (i = 0; i < wr->num_sge; i++)
		hmmnic_wqe_add_inline(wqe,
				      (void *)(uintptr_t)wr->sg_list[i].addr,
				      wr->sg_list[i].length);
}

static void hmmnic_build_send_wqe(struct hmmnic_qp *qp,
				  struct hmmnic_send_wqe *wqe,
				  const struct ibv_send_wr *wr)
{
	hmmnic_init_send_wqe(wqe, wr->wr_id, wr->opcode, wr->send_flags);
	if (wr->opcode == IBV_WR_SEND_WITH_IMM ||
	    wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM)
		wqe->ex_data = wr->imm_data;
	else if (wr->opcode == IBV_WR_SEND_WITH_INV)
		wqe->ex_data = wr->invalidate_rkey;

	switch (wr->opcode) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		wqe->remote_addr = wr->wr.rdma.remote_addr;
		wqe->rkey = wr->wr.rdma.rkey;
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		wqe->remote_addr = wr->wr.atomic.remote_addr;
		wqe->rkey = wr->wr.atomic.rkey;
		wqe->compare_add = wr->wr.atomic.compare_add;
		wqe->swap = wr->wr.atomic.swap;
		break;
	default:
		break;
	}

	if (qp->vqp.qp.qp_type == IBV_QPT_UD) {
		wqe->ah = to_hah(wr->wr.ud.ah)->ah_num;
		wqe->remote_qpn = wr->wr.ud.remote_qpn;
		wqe->remote_qkey = wr->wr.ud.remote_qkey;
	}
	hmmnic_set_send_data(wqe, wr);
}

/* Called with the SQ lock held; writes the WQE at *prod and advances it. */
static int hmmnic_post_one_send(struct hmmnic_qp *qp, uint32_t *prod,
				const struct ibv_send_wr *wr)
{
	int ret;

	if (!hmmnic_wq_has_room(&qp->sq, *prod))
		return ENOMEM;
	ret = hmmnic_check_send_wr(qp, wr);
	if (ret)
		return ret;
	hmmnic_build_send_wqe(qp, hmmnic_ring_slot(&qp->sq.ring, *prod), wr);
	(*prod)++;
	return 0;
}

static int hmmnic_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
			    struct ibv_send_wr **bad_wr)
{
	struct ibv_send_wr *first = wr;
	struct hmmnic_qp *qp = to_hqp(ibqp);
	uint32_t begin, prod;
	int ret = 0, db;

	if (!hmmnic_qp_can_send(qp)) {
		*bad_wr = wr;
		return EINVAL;
	}

	pthread_spin_lock(&qp->sq.lock);
	begin = hmmnic_wq_producer(&qp->sq);
	prod = begin;
	for (; wr; wr = wr->next) {
		ret = hmmnic_post_one_send(qp, &prod, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	if (prod != begin)
		hmmnic_wq_publish(&qp->sq, prod);
	pthread_spin_unlock(&qp->sq.lock);

	if (prod == begin)
		return ret;
	db = hmmnic_send_doorbell(ibqp);
	if (db && !ret) {
		*bad_wr = first;
		ret = db;
	}
	return ret;
}

/* Receive side, shared by QPs and SRQs */

static void hmmnic_build_recv_wqe(struct hmmnic_recv_wqe *wqe,
				  const struct ibv_recv_wr *wr)
{
	wqe->wr_id = wr->wr_id;
	wqe->num_sge = wr->num_sge;
	wqe->reserved = 0;
	hmmnic_copy_sges(wqe->sge, wr->sg_list, wr->num_sge);
}

/* Called with the queue's lock held; writes the WQE at *prod, advances it. */
static int hmmnic_post_one_recv(struct hmmnic_wq *rq, uint32_t *prod,
				const struct ibv_recv_wr *wr)
{
	if (!hmmnic_wq_has_room(rq, *prod))
		return ENOMEM;
	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > rq->max_sge)
		return EINVAL;
	hmmnic_build_recv_wqe(hmmnic_ring_slot(&rq->ring, *prod), wr);
	(*prod)++;
	return 0;
}

/* Returns an error and sets *bad_wr, or 0; *posted tells if WQEs went in. */
static int hmmnic_wq_post_recv(struct hmmnic_wq *rq, struct ibv_recv_wr *wr,
			       struct ibv_recv_wr **bad_wr, bool *posted)
{
	uint32_t begin, prod;
	int ret = 0;

	pthread_spin_lock(&rq->lock);
	begin = hmmnic_wq_producer(rq);
	prod = begin;
	for (; wr; wr = wr->next) {
		ret = hmmnic_post_one_recv(rq, &prod, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	*posted = prod != begin;
	if (*posted)
		hmmnic_wq_publish(rq, prod);
	pthread_spin_unlock(&rq->lock);
	return ret;
}

/*
 * The producer store above and this read are ordered against the kernel's
 * state store and producer read (see the ABI header): if the QP went into
 * error before the kernel could see the new WQEs, this read sees the error
 * and the doorbell makes the kernel flush them.
 */
static bool hmmnic_qp_in_error(struct hmmnic_qp *qp)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&qp->sq.ring.hdr->state, __ATOMIC_RELAXED) ==
	       HMMNIC_QPS_ERR;
}

static int hmmnic_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
			    struct ibv_recv_wr **bad_wr)
{
	struct hmmnic_qp *qp = to_hqp(ibqp);
	struct ibv_recv_wr *first = wr;
	bool posted;
	int ret, db;

	if (ibqp->srq || !qp->has_rq ||
	    hmmnic_qp_state(qp) == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}

	ret = hmmnic_wq_post_recv(&qp->rq, wr, bad_wr, &posted);
	if (!posted || !hmmnic_qp_in_error(qp))
		return ret;
	db = hmmnic_recv_doorbell(ibqp);
	if (db && !ret) {
		*bad_wr = first;
		ret = db;
	}
	return ret;
}

static int hmmnic_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
				struct ibv_recv_wr **bad_wr)
{
	bool posted;

	return hmmnic_wq_post_recv(&to_hsrq(ibsrq)->rq, wr, bad_wr, &posted);
}

/*
 * Extended send API (ibv_wr_*). wr_start takes the SQ lock; builders write
 * WQEs beyond the published producer, where the kernel does not look, and
 * setters complete the last one. The first error sticks: later builders
 * and setters do nothing, and wr_complete drops the whole batch and
 * returns it. wr_complete publishes the batch and rings the doorbell;
 * wr_abort drops it.
 */

static void hmmnic_wr_start(struct ibv_qp_ex *qpx)
{
	struct hmmnic_qp *qp = qpx_to_hqp(qpx);

	pthread_spin_lock(&qp->sq.lock);
	qp->wr_begin = hmmnic_wq_producer(&qp->sq);
	qp->wr_prod = qp->wr_begin;
	qp->wr_cur = NULL;
	qp->wr_err = 0;
	qp->wr_need_ud_addr = false;
}

static void hmmnic_wr_set_err(struct hmmnic_qp *qp, int err)
{
	if (!qp->wr_err)
		qp->wr_err = err;
}

/* The WQE the setters apply to, or NULL (and an error) if there is none. */
static struct hmmnic_send_wqe *hmmnic_wr_cur(struct hmmnic_qp *qp)
{
	if (!qp->wr_err && !qp->wr_cur)
		qp->wr_err = EINVAL;
	return qp->wr_err ? NULL : qp->wr_cur;
}

/* Builders: claim the next slot for a new WQE of @opcode. */
static struct hmmnic_send_wqe *hmmnic_wr_new(struct hmmnic_qp *qp,
					     uint32_t opcode)
{
	struct ibv_qp_ex *qpx = &qp->vqp.qp_ex;
	unsigned int flags = qpx->wr_flags & ~IBV_SEND_INLINE;
	struct hmmnic_send_wqe *wqe;

	if (qp->wr_need_ud_addr)
		hmmnic_wr_set_err(qp, EINVAL);
	if (flags & ~(unsigned int)HMMNIC_SUP_SEND_FLAGS)
		hmmnic_wr_set_err(qp, EINVAL);
	if (!qp->wr_err && !hmmnic_wq_has_room(&qp->sq, qp->wr_prod))
		hmmnic_wr_set_err(qp, ENOMEM);
	if (qp->wr_err) {
		qp->wr_cur = NULL;
		return NULL;
	}

	wqe = hmmnic_ring_slot(&qp->sq.ring, qp->wr_prod++);
	hmmnic_init_send_wqe(wqe, qpx->wr_id, opcode, flags);
	qp->wr_cur = wqe;
	qp->wr_need_ud_addr = qp->vqp.qp.qp_type == IBV_QPT_UD;
	return wqe;
}

static void hmmnic_wr_send(struct ibv_qp_ex *qpx)
{
	hmmnic_wr_new(qpx_to_hqp(qpx), IBV_WR_SEND);
}

static void hmmnic_wr_send_imm(struct ibv_qp_ex *qpx, __be32 imm_data)
{
	struct hmmnic_send_wqe *wqe;

	wqe = hmmnic_wr_new(qpx_to_hqp(qpx), IBV_WR_SEND_WITH_IMM);
	if (wqe)
		wqe->ex_data = imm_data;
}

static void hmmnic_wr_send_inv(struct ibv_qp_ex *qpx, uint32_t invalidate_rkey)
{
	struct hmmnic_send_wqe *wqe;

	wqe = hmmnic_wr_new(qpx_to_hqp(qpx), IBV_WR_SEND_WITH_INV);
	if (wqe)
		wqe->ex_data = invalidate_rkey;
}

static void hmmnic_wr_rdma(struct ibv_qp_ex *qpx, uint32_t opcode,
			   uint32_t rkey, uint64_t remote_addr,
			   __be32 imm_data)
{
	struct hmmnic_send_wqe *wqe;

	wqe = hmmnic_wr_new(qpx_to_hqp(qpx), opcode);
	if (!wqe)
		return;
	wqe->rkey = rkey;
	wqe->remote_addr = remote_addr;
	wqe->ex_data = imm_data;
}

static void hmmnic_wr_rdma_write(struct ibv_qp_ex *qpx, uint32_t rkey,
				 uint64_t remote_addr)
{
	hmmnic_wr_rdma(qpx, IBV_WR_RDMA_WRITE, rkey, remote_addr, 0);
}

static void hmmnic_wr_rdma_write_imm(struct ibv_qp_ex *qpx, uint32_t rkey,
				     uint64_t remote_addr, __be32 imm_data)
{
	hmmnic_wr_rdma(qpx, IBV_WR_RDMA_WRITE_WITH_IMM, rkey, remote_addr,
		       imm_data);
}

static void hmmnic_wr_rdma_read(struct ibv_qp_ex *qpx, uint32_t rkey,
				uint64_t remote_addr)
{
	hmmnic_wr_rdma(qpx, IBV_WR_RDMA_READ, rkey, remote_addr, 0);
}

static void hmmnic_wr_atomic(struct ibv_qp_ex *qpx, uint32_t opcode,
			     uint32_t rkey, uint64_t remote_addr,
			     uint64_t compare_add, uint64_t swap)
{
	struct hmmnic_send_wqe *wqe;

	wqe = hmmnic_wr_new(qpx_to_hqp(qpx), opcode);
	if (!wqe)
		return;
	wqe->rkey = rkey;
	wqe->remote_addr = remote_addr;
	wqe->compare_add = compare_add;
	wqe->swap = swap;
}

static void hmmnic_wr_atomic_cmp_swp(struct ibv_qp_ex *qpx, uint32_t rkey,
				     uint64_t remote_addr, uint64_t compare,
				     uint64_t swap)
{
	hmmnic_wr_atomic(qpx, IBV_WR_ATOMIC_CMP_AND_SWP, rkey, remote_addr,
			 compare, swap);
}

static void hmmnic_wr_atomic_fetch_add(struct ibv_qp_ex *qpx, uint32_t rkey,
				       uint64_t remote_addr, uint64_t add)
{
	hmmnic_wr_atomic(qpx, IBV_WR_ATOMIC_FETCH_AND_ADD, rkey, remote_addr,
			 add, 0);
}

static void hmmnic_wr_set_ud_addr(struct ibv_qp_ex *qpx, struct ibv_ah *ah,
				  uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct hmmnic_qp *qp = qpx_to_hqp(qpx);
	struct hmmnic_send_wqe *wqe = hmmnic_wr_cur(qp);

	if (!wqe)
		return;
	if (qp->vqp.qp.qp_type != IBV_QPT_UD || !ah) {
		hmmnic_wr_set_err(qp, EINVAL);
		return;
	}
	wqe->ah = to_hah(ah)->ah_num;
	wqe->remote_qpn = remote_qpn;
	wqe->remote_qkey = remote_qkey;
	qp->wr_need_ud_addr = false;
}

static void hmmnic_wr_set_sge_list(struct ibv_qp_ex *qpx, size_t num_sge,
				   const struct ibv_sge *sg_list)
{
	struct hmmnic_qp *qp = qpx_to_hqp(qpx);
	struct hmmnic_send_wqe *wqe = hmmnic_wr_cur(qp);

	if (!wqe)
		return;
	if (num_sge > qp->sq.max_sge) {
		hmmnic_wr_set_err(qp, EINVAL);
		return;
	}
	wqe->send_flags &= ~HMMNIC_SEND_INLINE;
	wqe->inline_len = 0;
	hmmnic_copy_sges(wqe->sge, sg_list, num_sge);
	wqe->num_sge = num_sge;
}

static void hmmnic_wr_set_sge(struct ibv_qp_ex *qpx, uint32_t lkey,
			      uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	hmmnic_wr_set_sge_list(qpx, 1, &sge);
}

static void hmmnic_wr_set_inline_data_list(struct ibv_qp_ex *qpx,
					   size_t num_buf,
					   const struct ibv_data_buf *buf_list)
{
	struct hmmnic_qp *qp = qpx_to_hqp(qpx);
	struct hmmnic_send_wqe *wqe = hmmnic_wr_cur(qp);
	uint64_t len = 0;
	size_t i;

	if (!wqe)
		return;
	if (!hmmnic_opcode_has_inline(wqe->opcode)) {
		hmmnic_wr_set_err(qp, EINVAL);
		return;
	}
	/* len stays <= max_inline, so the sum cannot wrap */
	for (i = 0; i < num_buf; i++) {
		if (buf_list[i].length > qp->sq.max_inline - len) {
			hmmnic_wr_set_err(qp, EINVAL);
			return;
		}
		len += buf_list[i].length;
	}
	wqe->send_flags |= HMMNIC_SEND_INLINE;
	wqe->num_sge = 0;
	wqe->inline_len = 0;
	for (i = 0; i < num_buf; i++)
		hmmnic_wqe_add_inline(wqe, buf_list[i].addr,
				      buf_list[i].length);
}

static void hmmnic_wr_set_inline_data(struct ibv_qp_ex *qpx, void *addr,
				      size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	hmmnic_wr_set_inline_data_list(qpx, 1, &buf);
}

static int hmmnic_wr_complete(struct ibv_qp_ex *qpx)
{
	struct hmmnic_qp *qp = qpx_to_hqp(qpx);
	bool posted;
	int ret;

	if (qp->wr_need_ud_addr)
		hmmnic_wr_set_err(qp, EINVAL);
	if (!hmmnic_qp_can_send(qp))
		hmmnic_wr_set_err(qp, EINVAL);
	ret = qp->wr_err;
	posted = !ret && qp->wr_prod != qp->wr_begin;
	if (posted)
		hmmnic_wq_publish(&qp->sq, qp->wr_prod);
	qp->wr_cur = NULL;
	pthread_spin_unlock(&qp->sq.lock);

	if (posted)
		ret = hmmnic_send_doorbell(&qp->vqp.qp);
	return ret;
}

static void hmmnic_wr_abort(struct ibv_qp_ex *qpx)
{
	struct hmmnic_qp *qp = qpx_to_hqp(qpx);

	qp->wr_cur = NULL;
	pthread_spin_unlock(&qp->sq.lock);
}

/* Only the builders asked for (and checked) in send_ops_flags are set. */
static void hmmnic_set_qp_ex_ops(struct hmmnic_qp *qp, uint64_t send_ops)
{
	struct ibv_qp_ex *qpx = &qp->vqp.qp_ex;

	if (send_ops & IBV_QP_EX_WITH_SEND)
		qpx->wr_send = hmmnic_wr_send;
	if (send_ops & IBV_QP_EX_WITH_SEND_WITH_IMM)
		qpx->wr_send_imm = hmmnic_wr_send_imm;
	if (send_ops & IBV_QP_EX_WITH_RDMA_WRITE)
		qpx->wr_rdma_write = hmmnic_wr_rdma_write;
	if (send_ops & IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)
		qpx->wr_rdma_write_imm = hmmnic_wr_rdma_write_imm;
	if (send_ops & IBV_QP_EX_WITH_RDMA_READ)
		qpx->wr_rdma_read = hmmnic_wr_rdma_read;
	if (send_ops & IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP)
		qpx->wr_atomic_cmp_swp = hmmnic_wr_atomic_cmp_swp;
	if (send_ops & IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
		qpx->wr_atomic_fetch_add = hmmnic_wr_atomic_fetch_add;
	if (send_ops & IBV_QP_EX_WITH_SEND_WITH_INV)
		qpx->wr_send_inv = hmmnic_wr_send_inv;

	qpx->wr_set_ud_addr = hmmnic_wr_set_ud_addr;
	qpx->wr_set_sge = hmmnic_wr_set_sge;
	qpx->wr_set_sge_list = hmmnic_wr_set_sge_list;
	qpx->wr_set_inline_data = hmmnic_wr_set_inline_data;
	qpx->wr_set_inline_data_list = hmmnic_wr_set_inline_data_list;
	qpx->wr_start = hmmnic_wr_start;
	qpx->wr_complete = hmmnic_wr_complete;
	qpx->wr_abort = hmmnic_wr_abort;
}

/* Context */

static void hmmnic_free_context(struct ibv_context *ibctx)
{
	struct hmmnic_context *ctx = to_hctx(ibctx);

	verbs_uninit_context(&ctx->ibv_ctx);
	free(ctx);
}

static const struct verbs_context_ops hmmnic_ctx_ops = {
	.advise_mr = hmmnic_advise_mr,
	.alloc_pd = hmmnic_alloc_pd,
	.create_ah = hmmnic_create_ah,
	.create_cq = hmmnic_create_cq,
	.create_cq_ex = hmmnic_create_cq_ex,
	.create_qp = hmmnic_create_qp,
	.create_qp_ex = hmmnic_create_qp_ex,
	.create_srq = hmmnic_create_srq,
	.dealloc_pd = hmmnic_dealloc_pd,
	.dereg_mr = hmmnic_dereg_mr,
	.destroy_ah = hmmnic_destroy_ah,
	.destroy_cq = hmmnic_destroy_cq,
	.destroy_qp = hmmnic_destroy_qp,
	.destroy_srq = hmmnic_destroy_srq,
	.free_context = hmmnic_free_context,
	.modify_qp = hmmnic_modify_qp,
	.modify_srq = hmmnic_modify_srq,
	.poll_cq = hmmnic_poll_cq,
	.post_recv = hmmnic_post_recv,
	.post_send = hmmnic_post_send,
	.post_srq_recv = hmmnic_post_srq_recv,
	.query_device_ex = hmmnic_query_device,
	.query_port = hmmnic_query_port,
	.query_qp = hmmnic_query_qp,
	.query_srq = hmmnic_query_srq,
	.reg_mr = hmmnic_reg_mr,
	.req_notify_cq = ibv_cmd_req_notify_cq,
	.resize_cq = hmmnic_resize_cq,
};

/*
 * HMMNIC_ODP_MODE lets programs that only know IBV_ACCESS_ON_DEMAND (such
 * as perftest --odp) run the other ODP flavours: fault (the default),
 * prefetch, warm and implicit; see docs/design.md. A value it does not
 * know goes to libibverbs' log (VERBS_LOG_LEVEL, VERBS_LOG_FILE).
 */
static enum hmmnic_odp_mode hmmnic_odp_mode_env(struct verbs_context *vctx)
{
	static const char * const names[] = {
		[HMMNIC_ODP_FAULT] = "fault",
		[HMMNIC_ODP_PREFETCH] = "prefetch",
		[HMMNIC_ODP_WARM] = "warm",
		[HMMNIC_ODP_IMPLICIT] = "implicit",
	};
	const char *val = getenv("HMMNIC_ODP_MODE");
	unsigned int i;

	if (!val || !*val)
		return HMMNIC_ODP_FAULT;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(val, names[i]))
			return i;
	verbs_warn(vctx,
		   "HMMNIC_ODP_MODE=%s is not fault, prefetch, warm or implicit; using fault\n",
		   val);
	return HMMNIC_ODP_FAULT;
}

static struct verbs_context *hmmnic_alloc_context(struct ibv_device *ibdev,
						  int cmd_fd,
						  void *private_data)
{
	struct hmmnic_cmd_alloc_context_resp resp = {};
	struct hmmnic_cmd_alloc_context cmd = {};
	struct hmmnic_context *ctx;

	ctx = verbs_init_and_alloc_context(ibdev, cmd_fd, ctx, ibv_ctx,
					   RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;

	if (ibv_cmd_get_context(&ctx->ibv_ctx, &cmd.ibv_cmd, sizeof(cmd),
				&resp.ibv_resp, sizeof(resp)))
		goto err;

	ctx->caps = resp.caps;
	ctx->page_size = resp.page_size;
	ctx->odp_mode = hmmnic_odp_mode_env(&ctx->ibv_ctx);
	verbs_set_ops(&ctx->ibv_ctx, &hmmnic_ctx_ops);
	return &ctx->ibv_ctx;

err:
	verbs_uninit_context(&ctx->ibv_ctx);
	free(ctx);
	return NULL;
}

static struct verbs_device *
hmmnic_device_alloc(struct verbs_sysfs_dev *sysfs_dev)
{
	struct hmmnic_device *dev;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->abi_version = sysfs_dev->abi_ver;
	return &dev->ibv_dev;
}

static void hmmnic_uninit_device(struct verbs_device *verbs_device)
{
	free(to_hdev(&verbs_device->device));
}

static const struct verbs_device_ops hmmnic_dev_ops = {
	.name = "hmmnic",
	.match_min_abi_version = HMMNIC_UVERBS_ABI_VERSION,
	.match_max_abi_version = HMMNIC_UVERBS_ABI_VERSION,
	.match_table = hca_table,
	.alloc_device = hmmnic_device_alloc,
	.uninit_device = hmmnic_uninit_device,
	.alloc_context = hmmnic_alloc_context,
};
PROVIDER_DRIVER(hmmnic, hmmnic_dev_ops);
