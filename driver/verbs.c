// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic verbs: the ib_device_ops table and the device, port, ucontext and
 * PD verbs. Verbs the driver does not implement are left out of the table,
 * so the core answers them with -EOPNOTSUPP.
 */
#include <linux/rtnetlink.h>
#include <net/addrconf.h>
#include <rdma/ib_mad.h>
#include <rdma/uverbs_ioctl.h>

#include "hmmnic.h"
#include "main.h"
#include "odp.h"
#include "pool.h"
#include "verbs.h"

static int hmmnic_query_device(struct ib_device *ibdev,
			       struct ib_device_attr *attr,
			       struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibdev);

	/*
	 * No driver-specific query data is defined. The core's own query at
	 * registration passes no udata (7.x; earlier kernels an empty one).
	 */
	if (udata && udata->inlen &&
	    !ib_is_udata_cleared(udata, 0, udata->inlen))
		return -EINVAL;

	memset(attr, 0, sizeof(*attr));
	attr->sys_image_guid = hdev->ibdev.node_guid;
	attr->max_mr_size = HMMNIC_MAX_MR_SIZE;
	attr->page_size_cap = PAGE_SIZE;
	attr->vendor_id = HMMNIC_VENDOR_ID;
	attr->vendor_part_id = HMMNIC_VENDOR_PART_ID;
	attr->hw_ver = HMMNIC_HW_VER;
	attr->max_qp = HMMNIC_MAX_QP;
	attr->max_qp_wr = HMMNIC_MAX_QP_WR;
	attr->device_cap_flags = IB_DEVICE_SYS_IMAGE_GUID |
				 IB_DEVICE_PORT_ACTIVE_EVENT |
				 IB_DEVICE_RC_RNR_NAK_GEN |
				 IB_DEVICE_SHUTDOWN_PORT |
				 IB_DEVICE_MEM_MGT_EXTENSIONS;
	/* fast registration (FRWR) for kernel users: mr.c */
	attr->max_fast_reg_page_list_len = HMMNIC_MAX_FAST_REG_PAGES;
	/*
	 * Created by "rdma link add", so "rdma link delete" may remove it.
	 * Kernel users get a reserved lkey for kernel virtual addresses.
	 */
	attr->kernel_cap_flags = IBK_ALLOW_USER_UNREG | IBK_LOCAL_DMA_LKEY |
				 IBK_ON_DEMAND_PAGING;
	/*
	 * ODP: every data-path access goes through the MR access layer, so
	 * every operation of RC and UD works on ODP memory (odp.c).
	 */
	attr->odp_caps.general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	attr->odp_caps.per_transport_caps.rc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
		IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV;
	attr->odp_caps.per_transport_caps.ud_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_SRQ_RECV;
	attr->max_send_sge = HMMNIC_MAX_SGE;
	attr->max_recv_sge = HMMNIC_MAX_SGE;
	attr->max_sge_rd = HMMNIC_MAX_SGE;
	attr->max_cq = HMMNIC_MAX_CQ;
	attr->max_cqe = HMMNIC_MAX_CQE;
	attr->max_mr = HMMNIC_MAX_MR;
	attr->max_pd = HMMNIC_MAX_PD;
	attr->max_qp_rd_atom = HMMNIC_MAX_RD_ATOM;
	attr->max_qp_init_rd_atom = HMMNIC_MAX_RD_ATOM;
	attr->max_res_rd_atom = HMMNIC_MAX_RD_ATOM * HMMNIC_MAX_QP;
	attr->atomic_cap = IB_ATOMIC_HCA;
	attr->max_ah = HMMNIC_MAX_AH;
	attr->max_srq = HMMNIC_MAX_SRQ;
	attr->max_srq_wr = HMMNIC_MAX_SRQ_WR;
	attr->max_srq_sge = HMMNIC_MAX_SGE;
	attr->max_pkeys = HMMNIC_PKEY_TBL_LEN;
	attr->local_ca_ack_delay = 15;
	return 0;
}

static int hmmnic_query_port(struct ib_device *ibdev, u32 port,
			     struct ib_port_attr *attr)
{
	struct hmmnic_dev *hdev = to_hdev(ibdev);
	struct net_device *ndev = hdev->ndev;
	enum ib_mtu mtu = iboe_get_mtu(READ_ONCE(ndev->mtu));

	/* The core zeroes *attr and checks @port before calling us. */
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = mtu ? mtu : IB_MTU_256;
	attr->gid_tbl_len = HMMNIC_GID_TBL_LEN;
	attr->pkey_tbl_len = HMMNIC_PKEY_TBL_LEN;
	attr->port_cap_flags = IB_PORT_CM_SUP;
	attr->max_msg_sz = HMMNIC_MAX_MSG_SZ;
	attr->max_vl_num = 1;

	if (hmmnic_port_usable(ndev)) {
		attr->state = IB_PORT_ACTIVE;
		attr->phys_state = IB_PORT_PHYS_STATE_LINK_UP;
	} else if (netif_get_flags(ndev) & IFF_UP) {
		attr->state = IB_PORT_DOWN;
		attr->phys_state = IB_PORT_PHYS_STATE_POLLING;
	} else {
		attr->state = IB_PORT_DOWN;
		attr->phys_state = IB_PORT_PHYS_STATE_DISABLED;
	}

	/* The netdev's speed; keep a valid default if it cannot be read. */
	if (ib_get_eth_speed(ibdev, port, &attr->active_speed,
			     &attr->active_width)) {
		attr->active_speed = IB_SPEED_SDR;
		attr->active_width = IB_WIDTH_1X;
	}
	return 0;
}

static int hmmnic_get_port_immutable(struct ib_device *ibdev, u32 port,
				     struct ib_port_immutable *immutable)
{
	immutable->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	immutable->pkey_tbl_len = HMMNIC_PKEY_TBL_LEN;
	immutable->gid_tbl_len = HMMNIC_GID_TBL_LEN;
	immutable->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

static int hmmnic_query_pkey(struct ib_device *ibdev, u32 port, u16 index,
			     u16 *pkey)
{
	if (index >= HMMNIC_PKEY_TBL_LEN)
		return -EINVAL;
	*pkey = HMMNIC_DEFAULT_PKEY;
	return 0;
}

static enum rdma_link_layer hmmnic_get_link_layer(struct ib_device *ibdev,
						  u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

static int hmmnic_alloc_ucontext(struct ib_ucontext *ibuc,
				 struct ib_udata *udata)
{
	struct hmmnic_alloc_ucontext_resp resp = {};
	struct hmmnic_alloc_ucontext_cmd cmd = {};
	int err;

	if (udata->inlen) {
		err = ib_copy_from_udata(&cmd, udata,
					 min(udata->inlen, sizeof(cmd)));
		if (err)
			return err;
		/* Fields a newer provider knows and we do not: refuse. */
		if (cmd.comp_mask ||
		    (udata->inlen > sizeof(cmd) &&
		     !ib_is_udata_cleared(udata, sizeof(cmd),
					  udata->inlen - sizeof(cmd))))
			return -EOPNOTSUPP;
	}

	resp.page_size = PAGE_SIZE;
	return ib_copy_to_udata(udata, &resp,
				min(udata->outlen, sizeof(resp)));
}

static void hmmnic_dealloc_ucontext(struct ib_ucontext *ibuc)
{
}

/*
 * The core calls this when the device goes away while user space still
 * has it open; it zaps every mmap itself. Everything else a context owns
 * is destroyed through the normal object teardown that follows.
 */
static void hmmnic_disassociate_ucontext(struct ib_ucontext *ibuc)
{
}

static int hmmnic_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	return hmmnic_obj_get(&to_hdev(ibpd->device)->num_pd, HMMNIC_MAX_PD);
}

static int hmmnic_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	hmmnic_obj_put(&to_hdev(ibpd->device)->num_pd);
	return 0;
}

/* "rdma statistic": the port counters, and the pool's gauges with them */
static int hmmnic_get_hw_stats(struct ib_device *ibdev,
			       struct rdma_hw_stats *stats, u32 port,
			       int index)
{
	struct hmmnic_stats *s = &to_hdev(ibdev)->stats;
	int i;

	for (i = 0; i < HMMNIC_NUM_COUNTERS; i++)
		stats->value[i] = hmmnic_stat_read(s, i);
	hmmnic_pool_stats(to_hdev(ibdev),
			  &stats->value[HMMNIC_CNT_POOL_PAGES_USED],
			  &stats->value[HMMNIC_CNT_POOL_PAGES_FREE]);
	return HMMNIC_NUM_COUNTERS;
}

static const struct ib_device_ops hmmnic_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = HMMNIC_UVERBS_ABI_VERSION,

	.advise_mr = hmmnic_advise_mr,
	.alloc_hw_port_stats = hmmnic_alloc_hw_port_stats,
	.alloc_mr = hmmnic_alloc_mr,
	.alloc_pd = hmmnic_alloc_pd,
	.alloc_ucontext = hmmnic_alloc_ucontext,
	.create_ah = hmmnic_create_ah,
	.create_qp = hmmnic_create_qp,
	.create_srq = hmmnic_create_srq,
	.create_user_ah = hmmnic_create_ah,
	.dealloc_driver = hmmnic_dealloc_driver,
	.dealloc_pd = hmmnic_dealloc_pd,
	.dealloc_ucontext = hmmnic_dealloc_ucontext,
	.dereg_mr = hmmnic_dereg_mr,
	.destroy_ah = hmmnic_destroy_ah,
	.destroy_cq = hmmnic_destroy_cq,
	.destroy_qp = hmmnic_destroy_qp,
	.destroy_srq = hmmnic_destroy_srq,
	.disassociate_ucontext = hmmnic_disassociate_ucontext,
	.fill_res_mr_entry = hmmnic_fill_res_mr_entry,
	.fill_stat_mr_entry = hmmnic_fill_stat_mr_entry,
	.get_dma_mr = hmmnic_get_dma_mr,
	.get_hw_stats = hmmnic_get_hw_stats,
	.get_link_layer = hmmnic_get_link_layer,
	.get_port_immutable = hmmnic_get_port_immutable,
	.map_mr_sg = hmmnic_map_mr_sg,
	.mmap = hmmnic_mmap,
	.mmap_free = hmmnic_mmap_free,
	.modify_qp = hmmnic_modify_qp,
	.modify_srq = hmmnic_modify_srq,
	.poll_cq = hmmnic_poll_cq,
	.post_recv = hmmnic_post_recv,
	.post_send = hmmnic_post_send,
	.post_srq_recv = hmmnic_post_srq_recv,
	.query_device = hmmnic_query_device,
	.query_pkey = hmmnic_query_pkey,
	.query_port = hmmnic_query_port,
	.query_qp = hmmnic_query_qp,
	.query_srq = hmmnic_query_srq,
	.req_notify_cq = hmmnic_req_notify_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, hmmnic_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, hmmnic_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_pd, hmmnic_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, hmmnic_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, hmmnic_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, hmmnic_ucontext, ibuc),
};

/*
 * Register @hdev under @name. On failure the caller still owns the device
 * and frees it with ib_dealloc_device(); on success the core owns it, and
 * it may already be gone again when this returns.
 */
int hmmnic_register(struct hmmnic_dev *hdev, const char *name)
{
	struct ib_device *ibdev = &hdev->ibdev;
	struct net_device *ndev = hdev->ndev;
	struct hmmnic_dev *live;
	int err;

	strscpy(ibdev->node_desc, HMMNIC_DRV_NAME, sizeof(ibdev->node_desc));
	ibdev->node_type = RDMA_NODE_IB_CA;
	ibdev->phys_port_cnt = 1;
	ibdev->num_comp_vectors = 1;
	ibdev->local_dma_lkey = 0;
	/*
	 * The commands the core leaves to the driver: the doorbells of the
	 * send and receive rings, and arming a CQ. Completions are polled
	 * from the mapped ring, so POLL_CQ stays off.
	 */
	ibdev->uverbs_cmd_mask |= BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
				  BIT_ULL(IB_USER_VERBS_CMD_POST_RECV) |
				  BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
	addrconf_addr_eui48((u8 *)&ibdev->node_guid, ndev->dev_addr);
	ib_set_device_ops(ibdev, &hmmnic_dev_ops);
	ib_set_device_ops(ibdev, &hmmnic_compat_ops);

	err = ib_device_set_netdev(ibdev, ndev, HMMNIC_PORT);
	if (err)
		return err;

	hdev->port_active = hmmnic_port_usable(ndev);
	err = hmmnic_pool_init(hdev, &hmmnic_odp_stage_ops);
	if (err)
		return err;
	err = ib_register_device(ibdev, name, NULL);
	if (err)
		return err;
	hmmnic_pool_debugfs_add(hdev);

	/*
	 * The notifier ignores a device until it is registered, so catch
	 * what it missed meanwhile: a link change, or the netdev going away
	 * (which would otherwise wait forever for the netdev reference the
	 * device holds). Under RTNL, the notifier cannot run concurrently.
	 * Look the device up again: it may already be unregistered.
	 */
	rtnl_lock();
	live = hmmnic_get_by_netdev(ndev);
	if (live) {
		if (ndev->reg_state != NETREG_REGISTERED)
			ib_unregister_device_queued(&live->ibdev);
		else
			hmmnic_port_event(live);
		ib_device_put(&live->ibdev);
	}
	rtnl_unlock();
	return 0;
}
