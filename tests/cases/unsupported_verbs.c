// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Verbs and variants hmmnic does not implement fail cleanly with
 * EOPNOTSUPP, both through libibverbs and the provider, and when a raw
 * command reaches the kernel directly: memory windows, device memory, UC
 * and XRC QPs, CQ timestamps. (ODP is supported: see odp.)
 * The device stays usable afterwards.
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
		.qp_type = IBV_QPT_UC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_cq_init_attr_ex cq_attr = {
		.cqe = 16,
		.wc_flags = IBV_WC_EX_WITH_COMPLETION_TIMESTAMP,
	};
	struct ibv_alloc_dm_attr dm_attr = { .length = 4096 };
	struct ib_uverbs_alloc_mw_resp mw_resp;
	struct ib_uverbs_alloc_mw mw_cmd = {
		.response = (uintptr_t)&mw_resp,
		.mw_type = IBV_MW_TYPE_1,
	};
	struct ibv_context *ctx;
	struct ibv_cq *cq;
	struct ibv_pd *pd;
	int ret;

	ctx = ht_open(ht_dev_name());
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd: %s", strerror(errno));
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq, "create_cq: %s", strerror(errno));

	EXPECT_NULL_EOPNOTSUPP(ibv_create_cq_ex(ctx, &cq_attr));
	qp_attr.send_cq = cq;
	qp_attr.recv_cq = cq;
	EXPECT_NULL_EOPNOTSUPP(ibv_create_qp(pd, &qp_attr));
	EXPECT_NULL_EOPNOTSUPP(ibv_alloc_mw(pd, IBV_MW_TYPE_1));
	EXPECT_NULL_EOPNOTSUPP(ibv_alloc_dm(ctx, &dm_attr));

	/* The kernel itself refuses what the driver does not implement. */
	mw_cmd.pd_handle = pd->handle;
	ret = raw_cmd(ctx->cmd_fd, IB_USER_VERBS_CMD_ALLOC_MW, &mw_cmd,
		      sizeof(mw_cmd), sizeof(mw_resp));
	CHECK(ret == EOPNOTSUPP, "raw ALLOC_MW: %d (%s)", ret, strerror(ret));
	ht_log("raw ALLOC_MW: EOPNOTSUPP");

	/* Still healthy. */
	CHECK(!ibv_destroy_cq(cq), "destroy_cq");
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd after refusals: %s", strerror(errno));
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	CHECK(!ibv_close_device(ctx), "close_device");
	return 0;
}
