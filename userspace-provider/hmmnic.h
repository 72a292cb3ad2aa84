/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic user-space provider: the rdma-core side of the hmmnic soft RoCEv2
 * NIC.
 */
#ifndef HMMNIC_PROV_H
#define HMMNIC_PROV_H

#include <pthread.h>
#include <stdint.h>
#include <infiniband/driver.h>
#include <rdma/hmmnic-abi.h>

struct hmmnic_device {
	struct verbs_device ibv_dev;
	int abi_version;
};

struct hmmnic_context {
	struct verbs_context ibv_ctx;
	uint64_t caps;
	uint32_t page_size;
};

/* A ring mapped from the kernel (see struct hmmnic_queue_hdr). */
struct hmmnic_ring {
	void *map;
	size_t map_size;
	struct hmmnic_queue_hdr *hdr;
	void *slots;
	uint32_t mask;		/* num_slots - 1 */
};

struct hmmnic_cq {
	struct verbs_cq vcq;
	struct hmmnic_ring ring;
	pthread_spinlock_t lock;
};

static inline struct hmmnic_cq *to_hcq(struct ibv_cq *ibcq)
{
	return container_of(ibcq, struct hmmnic_cq, vcq.cq);
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
