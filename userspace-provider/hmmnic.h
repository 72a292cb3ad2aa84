/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic user-space provider: the rdma-core side of the hmmnic soft RoCEv2
 * NIC.
 */
#ifndef HMMNIC_PROV_H
#define HMMNIC_PROV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <infiniband/driver.h>
#include <rdma/hmmnic-abi.h>

struct hmmnic_device {
	struct verbs_device ibv_dev;
	int abi_version;
};

/* HMMNIC_ODP_MODE: what an ODP registration does (see hmmnic_reg_mr) */
enum hmmnic_odp_mode {
	HMMNIC_ODP_FAULT,	/* pages fault in on first access (default) */
	HMMNIC_ODP_PREFETCH,	/* ibv_advise_mr prefetch, asynchronous */
	HMMNIC_ODP_WARM,	/* ibv_advise_mr prefetch, waited for */
	HMMNIC_ODP_IMPLICIT,	/* backed by the PD's implicit ODP region */
};

struct hmmnic_context {
	struct verbs_context ibv_ctx;
	uint64_t caps;
	uint32_t page_size;
	enum hmmnic_odp_mode odp_mode;
};

/* A PD, with the implicit ODP region that HMMNIC_ODP_MODE=implicit shares. */
struct hmmnic_pd {
	struct ibv_pd ibv_pd;
	pthread_mutex_t lock;
	struct verbs_mr *implicit;
	unsigned int implicit_users;
};

struct hmmnic_mr {
	struct verbs_mr vmr;
	struct hmmnic_pd *implicit_pd;	/* set: a view of the implicit MR */
};

/*
 * A ring mapped from the kernel (see struct hmmnic_queue_hdr). The counters
 * are not cached: the one this side owns is read back from the header, so
 * whatever the kernel does to the header (e.g. on a QP reset) is seen.
 */
struct hmmnic_ring {
	void *map;
	size_t map_size;
	struct hmmnic_queue_hdr *hdr;
	void *slots;
	uint32_t mask;		/* num_slots - 1 */
	uint32_t slot_size;
};

static inline void *hmmnic_ring_slot(const struct hmmnic_ring *ring,
				     uint32_t idx)
{
	return (uint8_t *)ring->slots + (size_t)(idx & ring->mask) *
	       ring->slot_size;
}

struct hmmnic_cq {
	struct verbs_cq vcq;
	struct hmmnic_ring ring;
	pthread_spinlock_t lock;
	/* Extended polling: valid from start_poll to end_poll. */
	const struct hmmnic_cqe *cur;
	uint32_t poll_cons;	/* consumer once the current CQE is done */
	uint32_t poll_prod;	/* producer as last read */
};

/* A work queue: the send or receive queue of a QP, or an SRQ. */
struct hmmnic_wq {
	struct hmmnic_ring ring;
	pthread_spinlock_t lock;
	uint32_t max_sge;	/* bounded by the slot size */
	uint32_t max_inline;	/* send queues only; bounded by the slot size */
};

struct hmmnic_qp {
	struct verbs_qp vqp;
	struct hmmnic_wq sq;
	struct hmmnic_wq rq;
	bool has_rq;		/* false with an SRQ */
	int state;		/* enum ibv_qp_state, accessed atomically */
	/* Extended send API: valid from wr_start to wr_complete/wr_abort. */
	struct hmmnic_send_wqe *wr_cur;	/* WQE of the last builder */
	uint32_t wr_begin;	/* producer at wr_start */
	uint32_t wr_prod;	/* producer after the WQEs built so far */
	int wr_err;		/* first error since wr_start */
	bool wr_need_ud_addr;	/* UD WQE still lacks wr_set_ud_addr */
};

struct hmmnic_srq {
	struct verbs_srq vsrq;
	struct hmmnic_wq rq;
};

struct hmmnic_ah {
	struct ibv_ah ibv_ah;
	uint32_t ah_num;	/* goes into hmmnic_send_wqe.ah */
};

static inline struct hmmnic_cq *to_hcq(struct ibv_cq *ibcq)
{
	return container_of(ibcq, struct hmmnic_cq, vcq.cq);
}

static inline struct hmmnic_cq *cqx_to_hcq(struct ibv_cq_ex *cqx)
{
	return container_of(cqx, struct hmmnic_cq, vcq.cq_ex);
}

static inline struct hmmnic_qp *to_hqp(struct ibv_qp *ibqp)
{
	return container_of(ibqp, struct hmmnic_qp, vqp.qp);
}

static inline struct hmmnic_qp *qpx_to_hqp(struct ibv_qp_ex *qpx)
{
	return container_of(qpx, struct hmmnic_qp, vqp.qp_ex);
}

static inline struct hmmnic_srq *to_hsrq(struct ibv_srq *ibsrq)
{
	return container_of(ibsrq, struct hmmnic_srq, vsrq.srq);
}

static inline struct hmmnic_ah *to_hah(struct ibv_ah *ibah)
{
	return container_of(ibah, struct hmmnic_ah, ibv_ah);
}

static inline struct hmmnic_pd *to_hpd(struct ibv_pd *ibpd)
{
	return container_of(ibpd, struct hmmnic_pd, ibv_pd);
}

static inline struct hmmnic_mr *to_hmr(struct verbs_mr *vmr)
{
	return container_of(vmr, struct hmmnic_mr, vmr);
}

static inline struct hmmnic_context *to_hctx(struct ibv_context *ibctx)
{
	return container_of(ibctx, struct hmmnic_context, ibv_ctx.context);
}

static inline struct hmmnic_device *to_hdev(struct ibv_device *ibdev)
{
	return container_of(ibdev, struct hmmnic_device, ibv_dev.device);
}

#endif /* HMMNIC_PROV_H */
