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

static void hmmnic_free_context(struct ibv_context *ibctx)
{
	struct hmmnic_context *ctx = to_hctx(ibctx);

	verbs_uninit_context(&ctx->ibv_ctx);
	free(ctx);
}

static const struct verbs_context_ops hmmnic_ctx_ops = {
	.alloc_pd = hmmnic_alloc_pd,
	.dealloc_pd = hmmnic_dealloc_pd,
	.free_context = hmmnic_free_context,
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
