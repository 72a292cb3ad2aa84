// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic user-space provider. libibverbs loads it for every RDMA device
 * whose name starts with "hmmnic" and whose uverbs ABI matches. Verbs that
 * are not set in hmmnic_ctx_ops are answered by libibverbs itself with
 * EOPNOTSUPP.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hmmnic.h"
#include "hmmnic-abi.h"

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
	struct ibv_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd) {
		errno = ENOMEM;
		return NULL;
	}

	ret = ibv_cmd_alloc_pd(context, pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return pd;
}

static int hmmnic_dealloc_pd(struct ibv_pd *pd)
{
	int ret;

	ret = ibv_cmd_dealloc_pd(pd);
	if (ret)
		return ret;
	free(pd);
	return 0;
}

static int hmmnic_ring_map(struct hmmnic_ring *ring, int cmd_fd,
			   uint64_t offset, size_t size, uint32_t num_slots,
			   size_t slot_size)
{
	if (!num_slots || (num_slots & (num_slots - 1)) ||
	    HMMNIC_QUEUE_SLOTS_OFFSET + (size_t)num_slots * slot_size > size)
		return EINVAL;
	ring->map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 cmd_fd, offset);
	if (ring->map == MAP_FAILED)
		return errno;
	ring->map_size = size;
	ring->hdr = ring->map;
	ring->slots = (uint8_t *)ring->map + HMMNIC_QUEUE_SLOTS_OFFSET;
	ring->mask = num_slots - 1;
	return 0;
}

static void hmmnic_ring_unmap(struct hmmnic_ring *ring)
{
	munmap(ring->map, ring->map_size);
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

	ret = hmmnic_ring_map(&cq->ring, context->cmd_fd, resp.ring_offset,
			      resp.ring_size, resp.num_cqe,
			      sizeof(struct hmmnic_cqe));
	if (ret)
		goto err_destroy;
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return &cq->vcq.cq;

err_destroy:
	ibv_cmd_destroy_cq(&cq->vcq.cq);
err_free:
	free(cq);
	errno = ret;
	return NULL;
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
	wc->imm_data = cqe->ex_data;	/* already in network order */
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = cqe->wc_flags;
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = cqe->sl;
	wc->dlid_path_bits = cqe->dlid_path_bits;
}

/* Consume CQEs from the ring; no system call. */
static int hmmnic_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct hmmnic_cq *cq = to_hcq(ibcq);
	struct hmmnic_ring *ring = &cq->ring;
	const struct hmmnic_cqe *cqes = ring->slots;
	uint32_t prod, cons;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	prod = __atomic_load_n(&ring->hdr->producer, __ATOMIC_ACQUIRE);
	cons = ring->hdr->consumer;
	while (n < ne && cons != prod) {
		hmmnic_cqe_to_wc(&cqes[cons & ring->mask], &wc[n]);
		cons++;
		n++;
	}
	if (n)
		__atomic_store_n(&ring->hdr->consumer, cons, __ATOMIC_RELEASE);
	pthread_spin_unlock(&cq->lock);
	return n;
}

static void hmmnic_free_context(struct ibv_context *ibctx)
{
	struct hmmnic_context *ctx = to_hctx(ibctx);

	verbs_uninit_context(&ctx->ibv_ctx);
	free(ctx);
}

static const struct verbs_context_ops hmmnic_ctx_ops = {
	.alloc_pd = hmmnic_alloc_pd,
	.create_cq = hmmnic_create_cq,
	.dealloc_pd = hmmnic_dealloc_pd,
	.destroy_cq = hmmnic_destroy_cq,
	.free_context = hmmnic_free_context,
	.poll_cq = hmmnic_poll_cq,
	.query_device_ex = hmmnic_query_device,
	.query_port = hmmnic_query_port,
};

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
