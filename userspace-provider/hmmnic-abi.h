/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Command and response wrappers of the hmmnic provider. The layouts come
 * from include/uapi/rdma/hmmnic-abi.h, the header the kernel module uses;
 * kernel-abi/hmmnic-abi.h is generated from it by the build.
 */
#ifndef HMMNIC_PROV_ABI_H
#define HMMNIC_PROV_ABI_H

#include <infiniband/kern-abi.h>
#include <rdma/hmmnic-abi.h>
#include <kernel-abi/hmmnic-abi.h>

DECLARE_DRV_CMD(hmmnic_cmd_alloc_context, IB_USER_VERBS_CMD_GET_CONTEXT,
		hmmnic_alloc_ucontext_cmd, hmmnic_alloc_ucontext_resp);
DECLARE_DRV_CMD(hmmnic_cmd_create_cq, IB_USER_VERBS_CMD_CREATE_CQ,
		empty, hmmnic_create_cq_resp);
DECLARE_DRV_CMD(hmmnic_cmd_create_cq_ex, IB_USER_VERBS_EX_CMD_CREATE_CQ,
		empty, hmmnic_create_cq_resp);
DECLARE_DRV_CMD(hmmnic_cmd_resize_cq, IB_USER_VERBS_CMD_RESIZE_CQ,
		empty, hmmnic_resize_cq_resp);
DECLARE_DRV_CMD(hmmnic_cmd_create_qp, IB_USER_VERBS_CMD_CREATE_QP,
		empty, hmmnic_create_qp_resp);
DECLARE_DRV_CMD(hmmnic_cmd_create_qp_ex, IB_USER_VERBS_EX_CMD_CREATE_QP,
		empty, hmmnic_create_qp_resp);
DECLARE_DRV_CMD(hmmnic_cmd_create_srq, IB_USER_VERBS_CMD_CREATE_SRQ,
		empty, hmmnic_create_srq_resp);
DECLARE_DRV_CMD(hmmnic_cmd_create_ah, IB_USER_VERBS_CMD_CREATE_AH,
		empty, hmmnic_create_ah_resp);
DECLARE_DRV_CMD(hmmnic_cmd_reg_mr, IB_USER_VERBS_CMD_REG_MR,
		hmmnic_reg_mr_cmd, empty);

#endif /* HMMNIC_PROV_ABI_H */
