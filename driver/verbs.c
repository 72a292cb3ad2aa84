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

static int hmmnic_query_device(struct ib_device *ibdev,
			       struct ib_device_attr *attr,
			       struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibdev);

	/* No driver-specific query data is defined. */
	if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
		return -EINVAL;

	memset(attr, 0, sizeof(*attr));
	attr->sys_image_guid = hdev->ibdev.node_guid;
	attr->max_mr_size = U64_MAX;
	attr->page_size_cap = PAGE_SIZE;
	attr->vendor_id = HMMNIC_VENDOR_ID;
	attr->vendor_part_id = HMMNIC_VENDOR_PART_ID;
	attr->hw_ver = HMMNIC_HW_VER;
	attr->max_qp = HMMNIC_MAX_QP;
	attr->max_qp_wr = HMMNIC_MAX_QP_WR;
	attr->device_cap_flags = IB_DEVICE_SYS_IMAGE_GUID |
				 IB_DEVICE_PORT_ACTIVE_EVENT;
	/* Created by "rdma link add", so "rdma link delete" may remove it. */
	attr->kernel_cap_flags = IBK_ALLOW_USER_UNREG;
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
	attr->atomic_cap = IB_ATOMIC_NONE;
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
	} else if (dev_get_flags(ndev) & IFF_UP) {
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

/* Count one more object against an advertised per-device limit. */
static int hmmnic_count_obj(atomic_t *count, int max)
{
	if (atomic_inc_return(count) > max) {
		atomic_dec(count);
		return -ENOMEM;
	}
	return 0;
}

static int hmmnic_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	return hmmnic_count_obj(&to_hdev(ibpd->device)->num_pd, HMMNIC_MAX_PD);
}

static int hmmnic_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	atomic_dec(&to_hdev(ibpd->device)->num_pd);
	return 0;
}

/*
 * CQs: the ring is created here and shared with the provider, which polls
 * it without a syscall. Completions arrive with the data path; until then
 * a CQ stays empty.
 */
static int hmmnic_create_cq(struct ib_cq *ibcq,
			    const struct ib_cq_init_attr *attr,
			    struct uverbs_attr_bundle *attrs)
{
	struct ib_udata *udata = attrs ? &attrs->driver_udata : NULL;
	struct hmmnic_ucontext *uc = rdma_udata_to_drv_context(udata,
					struct hmmnic_ucontext, ibuc);
	struct hmmnic_dev *hdev = to_hdev(ibcq->device);
	struct hmmnic_cq *cq = to_hcq(ibcq);
	struct hmmnic_create_cq_resp resp = {};
	u32 slots;
	int err;

	if (attr->flags)
		return -EOPNOTSUPP;
	if (attr->cqe < 1 || attr->cqe > HMMNIC_MAX_CQE)
		return -EINVAL;
	if (udata) {
		/* No request data is defined; the ring offset must fit. */
		if (udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
			return -EOPNOTSUPP;
		if (udata->outlen < sizeof(resp))
			return -EINVAL;
	}

	err = hmmnic_count_obj(&hdev->num_cq, HMMNIC_MAX_CQ);
	if (err)
		return err;
	slots = roundup_pow_of_two(attr->cqe);
	err = hmmnic_queue_init(&cq->queue, uc ? &uc->ibuc : NULL, slots,
				sizeof(struct hmmnic_cqe));
	if (err)
		goto err_uncount;
	ibcq->cqe = slots;

	if (udata) {
		resp.ring_offset = hmmnic_mmap_offset(cq->queue.mmap);
		resp.ring_size = cq->queue.size;
		resp.num_cqe = slots;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_queue;
	}
	return 0;

err_queue:
	hmmnic_queue_destroy(&cq->queue);
err_uncount:
	atomic_dec(&hdev->num_cq);
	return err;
}

static int hmmnic_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	hmmnic_queue_destroy(&to_hcq(ibcq)->queue);
	atomic_dec(&to_hdev(ibcq->device)->num_cq);
	return 0;
}

static const struct ib_device_ops hmmnic_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = HMMNIC_UVERBS_ABI_VERSION,

	.alloc_pd = hmmnic_alloc_pd,
	.alloc_ucontext = hmmnic_alloc_ucontext,
	.create_cq = hmmnic_create_cq,
	.dealloc_driver = hmmnic_dealloc_driver,
	.dealloc_pd = hmmnic_dealloc_pd,
	.dealloc_ucontext = hmmnic_dealloc_ucontext,
	.destroy_cq = hmmnic_destroy_cq,
	.disassociate_ucontext = hmmnic_disassociate_ucontext,
	.get_link_layer = hmmnic_get_link_layer,
	.get_port_immutable = hmmnic_get_port_immutable,
	.mmap = hmmnic_mmap,
	.mmap_free = hmmnic_mmap_free,
	.query_device = hmmnic_query_device,
	.query_pkey = hmmnic_query_pkey,
	.query_port = hmmnic_query_port,

	INIT_RDMA_OBJ_SIZE(ib_cq, hmmnic_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_pd, hmmnic_pd, ibpd),
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
	addrconf_addr_eui48((u8 *)&ibdev->node_guid, ndev->dev_addr);
	ib_set_device_ops(ibdev, &hmmnic_dev_ops);

	err = ib_device_set_netdev(ibdev, ndev, HMMNIC_PORT);
	if (err)
		return err;

	hdev->port_active = hmmnic_port_usable(ndev);
	err = ib_register_device(ibdev, name, NULL);
	if (err)
		return err;

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
