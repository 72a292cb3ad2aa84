// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Verbs hmmnic does not implement yet fail cleanly with EOPNOTSUPP, both
 * through libibverbs and the provider, and when a raw command reaches the
 * kernel directly. The device stays usable afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <rdma/ib_user_verbs.h>

#include "hmmtest.h"

#define EXPECT_NULL_EOPNOTSUPP(expr)                                           \
	do {                                                                   \
		void *_r;                                                      \
		errno = 0;                                                     \
		_r = (void *)(expr);                                           \
		CHECK(!_r, "%s succeeded", #expr);                             \
		CHECK(errno == EOPNOTSUPP, "%s: errno %d (%s), want EOPNOTSUPP", \
		      #expr, errno, strerror(errno));                          \
		ht_log("%s: EOPNOTSUPP", #expr);                               \
	} while (0)

/* Send one legacy write() command straight to the kernel. */
static int raw_cmd(int fd, __u32 command, void *cmd, size_t cmd_len,
		   size_t resp_len)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		char payload[256];
	} buf = {};

	buf.hdr.command = command;
	buf.hdr.in_words = (sizeof(buf.hdr) + cmd_len) / 4;
	buf.hdr.out_words = resp_len / 4;
	memcpy(buf.payload, cmd, cmd_len);
	if (write(fd, &buf, sizeof(buf.hdr) + cmd_len) < 0)
		return errno;
	return 0;
}

int main(void)
{
	struct ibv_qp_init_attr qp_attr = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_srq_init_attr srq_attr = {
		.attr = { .max_wr = 1, .max_sge = 1 },
	};
	struct ibv_cq_init_attr_ex cq_attr = { .cqe = 16 };
	struct ibv_ah_attr ah_attr = { .port_num = 1, .is_global = 1 };
	struct ibv_alloc_dm_attr dm_attr = { .length = 4096 };
	struct ib_uverbs_resize_cq_resp cq_resp;
	struct ib_uverbs_resize_cq cq_cmd = {
		.response = (uintptr_t)&cq_resp,
		.cqe = 32,
	};
	struct ib_uverbs_reg_mr_resp mr_resp;
	struct ib_uverbs_reg_mr mr_cmd = {
		.response = (uintptr_t)&mr_resp,
		.length = 4096,
		.access_flags = IBV_ACCESS_LOCAL_WRITE,
	};
	static char buf[4096];
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = 64 };
	struct ibv_context *ctx;
	struct ibv_cq *cq;
	struct ibv_pd *pd;
	int ret;

	ctx = ht_open(ht_dev_name());
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd: %s", strerror(errno));

	EXPECT_NULL_EOPNOTSUPP(ibv_create_cq_ex(ctx, &cq_attr));
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq, "create_cq: %s", strerror(errno));
	ret = ibv_req_notify_cq(cq, 0);
	CHECK(ret == EOPNOTSUPP, "ibv_req_notify_cq returned %d", ret);
	ret = ibv_resize_cq(cq, 32);
	CHECK(ret == EOPNOTSUPP, "ibv_resize_cq returned %d", ret);
	ht_log("ibv_req_notify_cq, ibv_resize_cq: EOPNOTSUPP");
	EXPECT_NULL_EOPNOTSUPP(ibv_reg_mr(pd, buf, sizeof(buf),
					  IBV_ACCESS_LOCAL_WRITE));
	EXPECT_NULL_EOPNOTSUPP(ibv_reg_mr(pd, NULL, SIZE_MAX,
					  IBV_ACCESS_ON_DEMAND));
	EXPECT_NULL_EOPNOTSUPP(ibv_create_qp(pd, &qp_attr));
	EXPECT_NULL_EOPNOTSUPP(ibv_create_srq(pd, &srq_attr));
	EXPECT_NULL_EOPNOTSUPP(ibv_create_ah(pd, &ah_attr));
	EXPECT_NULL_EOPNOTSUPP(ibv_alloc_mw(pd, IBV_MW_TYPE_1));
	EXPECT_NULL_EOPNOTSUPP(ibv_alloc_dm(ctx, &dm_attr));

	ret = ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	CHECK(ret == EOPNOTSUPP, "ibv_advise_mr returned %d", ret);
	ht_log("ibv_advise_mr: EOPNOTSUPP");

	/* The kernel itself refuses what the driver does not implement. */
	cq_cmd.cq_handle = cq->handle;
	ret = raw_cmd(ctx->cmd_fd, IB_USER_VERBS_CMD_RESIZE_CQ, &cq_cmd,
		      sizeof(cq_cmd), sizeof(cq_resp));
	CHECK(ret == EOPNOTSUPP, "raw RESIZE_CQ: %d (%s)", ret, strerror(ret));
	ht_log("raw RESIZE_CQ: EOPNOTSUPP");
	mr_cmd.start = (uintptr_t)buf;
	mr_cmd.hca_va = (uintptr_t)buf;
	mr_cmd.pd_handle = pd->handle;
	ret = raw_cmd(ctx->cmd_fd, IB_USER_VERBS_CMD_REG_MR, &mr_cmd,
		      sizeof(mr_cmd), sizeof(mr_resp));
	CHECK(ret == EOPNOTSUPP, "raw REG_MR: %d (%s)", ret, strerror(ret));
	ht_log("raw REG_MR: EOPNOTSUPP");

	/* Still healthy. */
	CHECK(!ibv_destroy_cq(cq), "destroy_cq");
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd after refusals: %s", strerror(errno));
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	CHECK(!ibv_close_device(ctx), "close_device");
	return 0;
}
