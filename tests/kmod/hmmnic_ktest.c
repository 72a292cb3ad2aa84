// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic_ktest: kernel-verbs tests of an hmmnic device, for what only a
 * kernel consumer can do: fast registration (IB_WR_REG_MR), local
 * invalidation and SEND with Invalidate.
 *
 *   insmod hmmnic_ktest.ko [dev=hmmnic0]
 *
 * Every case runs on a fresh pair of RC QPs connected to each other over
 * the device's IPv4 GID, checks its completions and compares the data byte
 * for byte. Loading runs all cases, logs "PASS name" or "FAIL name: why"
 * for each and a summary line, and fails with -EIO if any case failed.
 */
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_verbs.h>

static char *dev = "hmmnic0";
module_param(dev, charp, 0444);
MODULE_PARM_DESC(dev, "RDMA device to test (default hmmnic0)");

static int mtu = 1024;
module_param(mtu, int, 0444);
MODULE_PARM_DESC(mtu, "Path MTU of the test QPs in bytes: 256 to 4096 (default 1024)");

#define KT_BUF_SIZE	SZ_64K
#define KT_MR_PAGES	16
#define KT_ALL_ACCESS	(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE | \
			 IB_ACCESS_REMOTE_READ)

struct kt {
	struct ib_device *ibdev;
	const struct ib_gid_attr *sgid;
	struct ib_pd *pd;
	struct ib_pd *pd2;
	/* a: the requester's data; c and d: what fast registrations map */
	u8 *a, *c, *d;
	const char *why;
};

/* Two RC QPs connected to each other, each with its own CQ. */
struct kt_pair {
	struct ib_cq *cq_a, *cq_b;
	struct ib_qp *a, *b;
};

/* Record why the case failed; returns @err for "return kt_fail(...)". */
static int kt_fail(struct kt *t, int err, const char *why)
{
	t->why = why;
	return err;
}

static int kt_modify(struct ib_qp *qp, struct ib_qp_attr *attr, int mask)
{
	return ib_modify_qp(qp, attr, mask | IB_QP_STATE);
}

static int kt_connect(struct kt *t, struct ib_qp *qp, u32 dest_qpn)
{
	struct ib_qp_attr attr = {};
	struct net_device *ndev;
	union ib_gid dgid;
	int err;

	attr.qp_state = IB_QPS_INIT;
	attr.port_num = 1;
	attr.qp_access_flags = IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_READ |
			       IB_ACCESS_REMOTE_ATOMIC;
	err = kt_modify(qp, &attr, IB_QP_PKEY_INDEX | IB_QP_PORT |
			IB_QP_ACCESS_FLAGS);
	if (err)
		return err;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IB_QPS_RTR;
	attr.path_mtu = ib_mtu_int_to_enum(mtu);
	attr.dest_qp_num = dest_qpn;
	attr.max_dest_rd_atomic = 1;
	attr.min_rnr_timer = 1;
	attr.ah_attr.type = RDMA_AH_ATTR_TYPE_ROCE;
	rdma_ah_set_port_num(&attr.ah_attr, 1);
	dgid = t->sgid->gid;	/* the peer is this port */
	rdma_ah_set_grh(&attr.ah_attr, &dgid, 0, t->sgid->index, 64, 0);
	/* kernel users resolve the MAC themselves */
	rcu_read_lock();
	ndev = rdma_read_gid_attr_ndev_rcu(t->sgid);
	if (!IS_ERR(ndev))
		ether_addr_copy(attr.ah_attr.roce.dmac, ndev->dev_addr);
	rcu_read_unlock();
	err = kt_modify(qp, &attr, IB_QP_AV | IB_QP_PATH_MTU | IB_QP_DEST_QPN |
			IB_QP_RQ_PSN | IB_QP_MAX_DEST_RD_ATOMIC |
			IB_QP_MIN_RNR_TIMER);
	if (err)
		return err;

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IB_QPS_RTS;
	/*
	 * 268 ms, 7 retries: the cases are about FRWR, not about timers, and
	 * a KASAN kernel under TCG took longer than 4 x 16.8 ms to answer
	 * a message at path MTU 256 (retry counter exceeded).
	 */
	attr.timeout = 16;
	attr.retry_cnt = 7;
	attr.rnr_retry = 3;
	attr.max_rd_atomic = 1;
	return kt_modify(qp, &attr, IB_QP_TIMEOUT | IB_QP_RETRY_CNT |
			 IB_QP_RNR_RETRY | IB_QP_SQ_PSN |
			 IB_QP_MAX_QP_RD_ATOMIC);
}

static void kt_pair_destroy(struct kt_pair *p)
{
	if (p->a)
		ib_destroy_qp(p->a);
	if (p->b)
		ib_destroy_qp(p->b);
	if (p->cq_a)
		ib_free_cq(p->cq_a);
	if (p->cq_b)
		ib_free_cq(p->cq_b);
	memset(p, 0, sizeof(*p));
}

static struct ib_qp *kt_qp(struct ib_pd *pd, struct ib_cq *cq)
{
	struct ib_qp_init_attr init = {
		.send_cq = cq,
		.recv_cq = cq,
		.qp_type = IB_QPT_RC,
		.sq_sig_type = IB_SIGNAL_REQ_WR,
		.cap = {
			.max_send_wr = 16,
			.max_recv_wr = 16,
			.max_send_sge = 2,
			.max_recv_sge = 2,
		},
	};

	return ib_create_qp(pd, &init);
}

static int kt_pair_create(struct kt *t, struct kt_pair *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->cq_a = ib_alloc_cq(t->ibdev, NULL, 64, 0, IB_POLL_DIRECT);
	p->cq_b = ib_alloc_cq(t->ibdev, NULL, 64, 0, IB_POLL_DIRECT);
	if (IS_ERR(p->cq_a) || IS_ERR(p->cq_b)) {
		err = IS_ERR(p->cq_a) ? PTR_ERR(p->cq_a) : PTR_ERR(p->cq_b);
		if (IS_ERR(p->cq_a))
			p->cq_a = NULL;
		if (IS_ERR(p->cq_b))
			p->cq_b = NULL;
		goto err;
	}
	p->a = kt_qp(t->pd, p->cq_a);
	if (IS_ERR(p->a)) {
		err = PTR_ERR(p->a);
		p->a = NULL;
		goto err;
	}
	p->b = kt_qp(t->pd, p->cq_b);
	if (IS_ERR(p->b)) {
		err = PTR_ERR(p->b);
		p->b = NULL;
		goto err;
	}
	err = kt_connect(t, p->a, p->b->qp_num);
	if (!err)
		err = kt_connect(t, p->b, p->a->qp_num);
	if (!err)
		return 0;
err:
	kt_pair_destroy(p);
	t->why = "cannot create a connected QP pair";
	return err;
}

/* Wait for the next completion of @cq and check it. */
static int kt_expect(struct kt *t, struct ib_cq *cq, u64 wr_id,
		     enum ib_wc_status status, enum ib_wc_opcode opcode,
		     struct ib_wc *out)
{
	unsigned long end = jiffies + 10 * HZ;
	struct ib_wc wc;
	int n;

	while ((n = ib_poll_cq(cq, 1, &wc)) == 0) {
		if (time_after(jiffies, end)) {
			t->why = "no completion";
			return -ETIMEDOUT;
		}
		usleep_range(100, 200);
	}
	if (n < 0) {
		t->why = "poll_cq failed";
		return n;
	}
	if (out)
		*out = wc;
	if (wc.wr_id != wr_id) {
		pr_info("hmmnic_ktest: wr_id %llu, expected %llu\n",
			wc.wr_id, wr_id);
		t->why = "completion out of order";
		return -EIO;
	}
	if (wc.status != status) {
		pr_info("hmmnic_ktest: wr_id %llu: status %s, expected %s\n",
			wc.wr_id, ib_wc_status_msg(wc.status),
			ib_wc_status_msg(status));
		t->why = "unexpected completion status";
		return -EIO;
	}
	if (status == IB_WC_SUCCESS && wc.opcode != opcode) {
		pr_info("hmmnic_ktest: wr_id %llu: opcode %d, expected %d\n",
			wc.wr_id, wc.opcode, opcode);
		t->why = "unexpected completion opcode";
		return -EIO;
	}
	return 0;
}

/* Map @nents elements of @sg into @mr with 4 KiB blocks. */
static int kt_map(struct kt *t, struct ib_mr *mr, struct scatterlist *sg,
		  int nents)
{
	int n;

	if (ib_dma_map_sg(t->ibdev, sg, nents, DMA_BIDIRECTIONAL) != nents)
		return -EIO;
	n = ib_map_mr_sg(mr, sg, nents, NULL, SZ_4K);
	ib_dma_unmap_sg(t->ibdev, sg, nents, DMA_BIDIRECTIONAL);
	return n == nents ? 0 : -EIO;
}

/* A new key for @mr, then IB_WR_REG_MR on @qp. */
static int kt_post_reg(struct ib_qp *qp, struct ib_mr *mr, int access,
		       u64 wr_id, bool signaled)
{
	struct ib_reg_wr wr = {
		.wr = {
			.opcode = IB_WR_REG_MR,
			.wr_id = wr_id,
			.send_flags = signaled ? IB_SEND_SIGNALED : 0,
		},
		.mr = mr,
		.access = access,
	};

	ib_update_fast_reg_key(mr, ib_inc_rkey(mr->rkey));
	wr.key = mr->rkey;
	return ib_post_send(qp, &wr.wr, NULL);
}

/* Fast-register @mr on @qp and wait for the completion. */
static int kt_reg(struct kt *t, struct ib_qp *qp, struct ib_cq *cq,
		  struct ib_mr *mr, int access)
{
	int err;

	err = kt_post_reg(qp, mr, access, 100, true);
	if (err)
		return kt_fail(t, err, "post REG_MR");
	return kt_expect(t, cq, 100, IB_WC_SUCCESS, IB_WC_REG_MR, NULL);
}

/* Map @len bytes at @buf into @mr and fast-register it on p->b. */
static int kt_map_reg(struct kt *t, struct kt_pair *p, struct ib_mr *mr,
		      void *buf, u32 len, int access)
{
	struct scatterlist sg;
	int err;

	sg_init_one(&sg, buf, len);
	err = kt_map(t, mr, &sg, 1);
	if (err)
		return kt_fail(t, err, "map_mr_sg");
	return kt_reg(t, p->b, p->cq_b, mr, access);
}

static int kt_post_inv(struct ib_qp *qp, u32 rkey, u64 wr_id, int flags)
{
	struct ib_send_wr wr = {
		.opcode = IB_WR_LOCAL_INV,
		.wr_id = wr_id,
		.send_flags = IB_SEND_SIGNALED | flags,
		.ex.invalidate_rkey = rkey,
	};

	return ib_post_send(qp, &wr, NULL);
}

/* RDMA WRITE or READ of @len bytes between t->a + @off and @va/@rkey. */
static int kt_post_rdma(struct kt *t, struct ib_qp *qp, enum ib_wr_opcode op,
			u32 off, u32 len, u64 va, u32 rkey, u64 wr_id)
{
	struct ib_sge sge = {
		.addr = (uintptr_t)t->a + off,
		.length = len,
		.lkey = t->pd->local_dma_lkey,
	};
	struct ib_rdma_wr wr = {
		.wr = {
			.opcode = op,
			.wr_id = wr_id,
			.sg_list = &sge,
			.num_sge = 1,
			.send_flags = IB_SEND_SIGNALED,
		},
		.remote_addr = va,
		.rkey = rkey,
	};

	return ib_post_send(qp, &wr.wr, NULL);
}

static int kt_post_send_inv(struct kt *t, struct ib_qp *qp, u32 rkey,
			    u64 wr_id)
{
	struct ib_sge sge = {
		.addr = (uintptr_t)t->a,
		.length = 16,
		.lkey = t->pd->local_dma_lkey,
	};
	struct ib_send_wr wr = {
		.opcode = IB_WR_SEND_WITH_INV,
		.wr_id = wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.send_flags = IB_SEND_SIGNALED,
		.ex.invalidate_rkey = rkey,
	};

	return ib_post_send(qp, &wr, NULL);
}

/* A receive buffer for SENDs: the last KiB of t->a. */
static int kt_post_recv(struct kt *t, struct ib_qp *qp, u64 wr_id)
{
	struct ib_sge sge = {
		.addr = (uintptr_t)t->a + KT_BUF_SIZE - SZ_1K,
		.length = SZ_1K,
		.lkey = t->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = {
		.wr_id = wr_id,
		.sg_list = &sge,
		.num_sge = 1,
	};

	return ib_post_recv(qp, &wr, NULL);
}

static void kt_fill(u8 *buf, size_t len, u8 seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (u8)(seed + i * 7 + (i >> 8));
}

/* RDMA WRITE @len bytes into @mr at @off; expect @status. */
static int kt_write(struct kt *t, struct kt_pair *p, struct ib_mr *mr,
		    u32 off, u32 len, enum ib_wc_status status)
{
	int err;

	err = kt_post_rdma(t, p->a, IB_WR_RDMA_WRITE, 0, len, mr->iova + off,
			   mr->rkey, 1);
	if (err)
		return kt_fail(t, err, "post WRITE");
	return kt_expect(t, p->cq_a, 1, status, IB_WC_RDMA_WRITE, NULL);
}

/* ---- the cases ---- */

/*
 * A region of two separate buffers (the last 512 bytes of one page, then
 * two pages of another): WRITE and READ through it, then a SEND with
 * Invalidate ends it, and a WRITE after that is refused.
 */
static int kt_case_write_read_inv(struct kt *t, struct kt_pair *p,
				  struct ib_mr *mr)
{
	struct scatterlist sg[2];
	u32 len = 512 + 2 * PAGE_SIZE;
	struct ib_wc wc;
	int err;

	sg_init_table(sg, 2);
	sg_set_buf(&sg[0], t->c + PAGE_SIZE - 512, 512);
	sg_set_buf(&sg[1], t->d, 2 * PAGE_SIZE);
	err = kt_map(t, mr, sg, 2);
	if (err)
		return kt_fail(t, err, "map_mr_sg");
	if (mr->length != len)
		return kt_fail(t, -EIO, "mapped length");
	err = kt_reg(t, p->b, p->cq_b, mr, KT_ALL_ACCESS);
	if (err)
		return err;

	kt_fill(t->a, len, 1);
	err = kt_write(t, p, mr, 0, len, IB_WC_SUCCESS);
	if (err)
		return err;
	if (memcmp(t->c + PAGE_SIZE - 512, t->a, 512) ||
	    memcmp(t->d, t->a + 512, 2 * PAGE_SIZE))
		return kt_fail(t, -EIO, "WRITE data differs");

	/* READ a range that straddles the two buffers */
	memset(t->a + SZ_32K, 0, len);
	err = kt_post_rdma(t, p->a, IB_WR_RDMA_READ, SZ_32K, 1000,
			   mr->iova + 100, mr->rkey, 2);
	if (err)
		return kt_fail(t, err, "post READ");
	err = kt_expect(t, p->cq_a, 2, IB_WC_SUCCESS, IB_WC_RDMA_READ, NULL);
	if (err)
		return err;
	if (memcmp(t->a + SZ_32K, t->a + 100, 1000))
		return kt_fail(t, -EIO, "READ data differs");

	err = kt_post_recv(t, p->b, 3);
	if (err)
		return kt_fail(t, err, "post recv");
	err = kt_post_send_inv(t, p->a, mr->rkey, 4);
	if (err)
		return kt_fail(t, err, "post SEND_INV");
	err = kt_expect(t, p->cq_a, 4, IB_WC_SUCCESS, IB_WC_SEND, NULL);
	if (!err)
		err = kt_expect(t, p->cq_b, 3, IB_WC_SUCCESS, IB_WC_RECV, &wc);
	if (err)
		return err;
	if (!(wc.wc_flags & IB_WC_WITH_INVALIDATE) ||
	    wc.ex.invalidate_rkey != mr->rkey || wc.byte_len != 16)
		return kt_fail(t, -EIO, "receive completion lacks the invalidated rkey");

	kt_fill(t->a, len, 2);
	err = kt_write(t, p, mr, 0, 64, IB_WC_REM_ACCESS_ERR);
	if (err)
		return err;
	kt_fill(t->a, len, 1);
	if (memcmp(t->d, t->a + 512, 64))
		return kt_fail(t, -EIO, "a WRITE after the invalidation changed memory");
	return 0;
}

/* IB_WR_LOCAL_INV: the region stops working for the peer. */
static int kt_case_local_inv(struct kt *t, struct kt_pair *p,
			     struct ib_mr *mr)
{
	int err;

	err = kt_map_reg(t, p, mr, t->c, PAGE_SIZE, KT_ALL_ACCESS);
	if (err)
		return err;
	kt_fill(t->a, PAGE_SIZE, 3);
	err = kt_write(t, p, mr, 0, PAGE_SIZE, IB_WC_SUCCESS);
	if (err)
		return err;
	if (memcmp(t->c, t->a, PAGE_SIZE))
		return kt_fail(t, -EIO, "WRITE data differs");

	err = kt_post_inv(p->b, mr->rkey, 5, 0);
	if (err)
		return kt_fail(t, err, "post LOCAL_INV");
	err = kt_expect(t, p->cq_b, 5, IB_WC_SUCCESS, IB_WC_LOCAL_INV, NULL);
	if (err)
		return err;
	kt_fill(t->a, PAGE_SIZE, 4);
	err = kt_write(t, p, mr, 0, 128, IB_WC_REM_ACCESS_ERR);
	if (err)
		return err;
	kt_fill(t->a, PAGE_SIZE, 3);
	if (memcmp(t->c, t->a, 128))
		return kt_fail(t, -EIO, "a WRITE after LOCAL_INV changed memory");
	return 0;
}

/* Invalidate, map other memory, register with a new key: old key dead. */
static int kt_case_remap(struct kt *t, struct kt_pair *p, struct ib_mr *mr)
{
	struct scatterlist sg;
	u32 old_rkey;
	int err;

	err = kt_map_reg(t, p, mr, t->c, PAGE_SIZE, KT_ALL_ACCESS);
	if (err)
		return err;
	old_rkey = mr->rkey;
	err = kt_post_inv(p->b, mr->rkey, 5, 0);
	if (err)
		return kt_fail(t, err, "post LOCAL_INV");
	err = kt_expect(t, p->cq_b, 5, IB_WC_SUCCESS, IB_WC_LOCAL_INV, NULL);
	if (err)
		return err;
	memset(t->c, 0, PAGE_SIZE);
	sg_init_one(&sg, t->d + PAGE_SIZE, PAGE_SIZE);
	err = kt_map(t, mr, &sg, 1);
	if (err)
		return kt_fail(t, err, "map_mr_sg again");
	err = kt_reg(t, p->b, p->cq_b, mr, KT_ALL_ACCESS);
	if (err)
		return err;
	if (mr->rkey == old_rkey)
		return kt_fail(t, -EIO, "the key did not change");

	kt_fill(t->a, PAGE_SIZE, 5);
	err = kt_write(t, p, mr, 0, PAGE_SIZE, IB_WC_SUCCESS);
	if (err)
		return err;
	if (memcmp(t->d + PAGE_SIZE, t->a, PAGE_SIZE))
		return kt_fail(t, -EIO, "WRITE through the new mapping differs");
	if (memchr_inv(t->c, 0, PAGE_SIZE))
		return kt_fail(t, -EIO, "WRITE reached the old mapping");

	err = kt_post_rdma(t, p->a, IB_WR_RDMA_WRITE, 0, 64, mr->iova,
			   old_rkey, 6);
	if (err)
		return kt_fail(t, err, "post WRITE");
	return kt_expect(t, p->cq_a, 6, IB_WC_REM_ACCESS_ERR, 0, NULL);
}

/* REG_MR on a valid region is a memory management error. */
static int kt_case_reg_twice(struct kt *t, struct kt_pair *p,
			     struct ib_mr *mr)
{
	int err;

	err = kt_map_reg(t, p, mr, t->c, PAGE_SIZE, KT_ALL_ACCESS);
	if (err)
		return err;
	err = kt_post_reg(p->b, mr, KT_ALL_ACCESS, 7, true);
	if (err)
		return kt_fail(t, err, "post REG_MR");
	return kt_expect(t, p->cq_b, 7, IB_WC_MW_BIND_ERR, 0, NULL);
}

/* LOCAL_INV with a stale key fails and leaves the region working. */
static int kt_case_inv_wrong_key(struct kt *t, struct kt_pair *p,
				 struct ib_mr *mr)
{
	int err;

	err = kt_map_reg(t, p, mr, t->c, PAGE_SIZE, KT_ALL_ACCESS);
	if (err)
		return err;
	err = kt_post_inv(p->b, ib_inc_rkey(mr->rkey), 8, 0);
	if (err)
		return kt_fail(t, err, "post LOCAL_INV");
	err = kt_expect(t, p->cq_b, 8, IB_WC_MW_BIND_ERR, 0, NULL);
	if (err)
		return err;
	/* p->b is in error now; the region still serves a new pair */
	kt_pair_destroy(p);
	err = kt_pair_create(t, p);
	if (err)
		return err;
	kt_fill(t->a, 256, 9);
	err = kt_write(t, p, mr, 0, 256, IB_WC_SUCCESS);
	if (err)
		return err;
	if (memcmp(t->c, t->a, 256))
		return kt_fail(t, -EIO, "WRITE data differs");
	return 0;
}

/* REG_MR of a region of another PD, and rights IBTA forbids. */
static int kt_case_reg_bad(struct kt *t, struct kt_pair *p, struct ib_mr *mr)
{
	struct scatterlist sg;
	struct ib_mr *other;
	int err;

	other = ib_alloc_mr(t->pd2, IB_MR_TYPE_MEM_REG, 1);
	if (IS_ERR(other))
		return kt_fail(t, -EIO, "alloc_mr in the second PD");
	sg_init_one(&sg, t->c, PAGE_SIZE);
	err = kt_map(t, other, &sg, 1);
	if (!err)
		err = kt_post_reg(p->b, other, KT_ALL_ACCESS, 10, true);
	if (!err)
		err = kt_expect(t, p->cq_b, 10, IB_WC_MW_BIND_ERR, 0, NULL);
	ib_dereg_mr(other);
	if (err)
		return err;

	kt_pair_destroy(p);
	err = kt_pair_create(t, p);
	if (err)
		return err;
	err = kt_map(t, mr, &sg, 1);
	if (err)
		return kt_fail(t, err, "map_mr_sg");
	/* remote write without local write */
	err = kt_post_reg(p->b, mr, IB_ACCESS_REMOTE_WRITE, 11, true);
	if (err)
		return kt_fail(t, err, "post REG_MR");
	return kt_expect(t, p->cq_b, 11, IB_WC_MW_BIND_ERR, 0, NULL);
}

/* A SEND with Invalidate naming a region of another PD. */
static int kt_case_remote_inv_bad(struct kt *t, struct kt_pair *p,
				  struct ib_mr *mr)
{
	struct ib_mr *other;
	int err;

	other = ib_alloc_mr(t->pd2, IB_MR_TYPE_MEM_REG, 1);
	if (IS_ERR(other))
		return kt_fail(t, -EIO, "alloc_mr in the second PD");
	err = kt_post_recv(t, p->b, 12);
	if (!err)
		err = kt_post_send_inv(t, p->a, other->rkey, 13);
	if (!err)
		err = kt_expect(t, p->cq_a, 13, IB_WC_REM_INV_REQ_ERR, 0, NULL);
	if (!err)
		err = kt_expect(t, p->cq_b, 12, IB_WC_REM_INV_REQ_ERR, 0, NULL);
	ib_dereg_mr(other);
	return err;
}

/* Range and rights of a fast registration are enforced. */
static int kt_case_bounds_access(struct kt *t, struct kt_pair *p,
				 struct ib_mr *mr)
{
	int err;

	err = kt_map_reg(t, p, mr, t->c, PAGE_SIZE, KT_ALL_ACCESS);
	if (err)
		return err;
	err = kt_write(t, p, mr, PAGE_SIZE - 100, 200, IB_WC_REM_ACCESS_ERR);
	if (err)
		return err;

	kt_pair_destroy(p);
	err = kt_pair_create(t, p);
	if (err)
		return err;
	err = kt_post_inv(p->b, mr->rkey, 14, 0);
	if (err)
		return kt_fail(t, err, "post LOCAL_INV");
	err = kt_expect(t, p->cq_b, 14, IB_WC_SUCCESS, IB_WC_LOCAL_INV, NULL);
	if (err)
		return err;
	/* read-only for the peer */
	err = kt_reg(t, p->b, p->cq_b, mr,
		     IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_READ);
	if (err)
		return err;
	kt_fill(t->c, PAGE_SIZE, 15);
	err = kt_post_rdma(t, p->a, IB_WR_RDMA_READ, 0, PAGE_SIZE, mr->iova,
			   mr->rkey, 16);
	if (err)
		return kt_fail(t, err, "post READ");
	err = kt_expect(t, p->cq_a, 16, IB_WC_SUCCESS, IB_WC_RDMA_READ, NULL);
	if (err)
		return err;
	if (memcmp(t->a, t->c, PAGE_SIZE))
		return kt_fail(t, -EIO, "READ data differs");
	return kt_write(t, p, mr, 0, 64, IB_WC_REM_ACCESS_ERR);
}

/*
 * Local operations complete in send-queue order behind the WRITE before
 * them, and a fenced LOCAL_INV takes effect only after that WRITE is done.
 */
static int kt_case_order(struct kt *t, struct kt_pair *p, struct ib_mr *mr)
{
	u32 len = KT_MR_PAGES * PAGE_SIZE;
	struct scatterlist sg;
	struct ib_mr *mr2;
	int err;

	err = kt_map_reg(t, p, mr, t->c, len, KT_ALL_ACCESS);
	if (err)
		return err;
	mr2 = ib_alloc_mr(t->pd, IB_MR_TYPE_MEM_REG, 1);
	if (IS_ERR(mr2))
		return kt_fail(t, -EIO, "alloc_mr");
	sg_init_one(&sg, t->d, PAGE_SIZE);
	err = kt_map(t, mr2, &sg, 1);
	if (err) {
		ib_dereg_mr(mr2);
		return kt_fail(t, err, "map_mr_sg");
	}

	kt_fill(t->a, len, 17);
	err = kt_post_rdma(t, p->a, IB_WR_RDMA_WRITE, 0, len, mr->iova,
			   mr->rkey, 20);
	if (!err)
		err = kt_post_reg(p->a, mr2, KT_ALL_ACCESS, 21, true);
	if (!err)
		err = kt_post_inv(p->a, mr->rkey, 22, IB_SEND_FENCE);
	if (!err)
		err = kt_post_inv(p->a, mr2->rkey, 23, 0);
	if (err)
		t->why = "post";
	if (!err)
		err = kt_expect(t, p->cq_a, 20, IB_WC_SUCCESS,
				IB_WC_RDMA_WRITE, NULL);
	if (!err)
		err = kt_expect(t, p->cq_a, 21, IB_WC_SUCCESS, IB_WC_REG_MR,
				NULL);
	if (!err)
		err = kt_expect(t, p->cq_a, 22, IB_WC_SUCCESS,
				IB_WC_LOCAL_INV, NULL);
	if (!err)
		err = kt_expect(t, p->cq_a, 23, IB_WC_SUCCESS,
				IB_WC_LOCAL_INV, NULL);
	ib_dereg_mr(mr2);
	if (err)
		return err;
	if (memcmp(t->c, t->a, len))
		return kt_fail(t, -EIO, "WRITE data differs");
	return kt_write(t, p, mr, 0, 64, IB_WC_REM_ACCESS_ERR);
}

/* Atomics on a fast registration act on the mapped kernel word. */
static int kt_case_atomic(struct kt *t, struct kt_pair *p, struct ib_mr *mr)
{
	struct ib_sge sge = {
		.addr = (uintptr_t)t->a,
		.length = 8,
		.lkey = t->pd->local_dma_lkey,
	};
	struct ib_atomic_wr wr = {
		.wr = {
			.opcode = IB_WR_ATOMIC_FETCH_AND_ADD,
			.wr_id = 30,
			.sg_list = &sge,
			.num_sge = 1,
			.send_flags = IB_SEND_SIGNALED,
		},
		.compare_add = 5,
	};
	u64 *word = (u64 *)(t->d + 64);
	int err;

	err = kt_map_reg(t, p, mr, t->d, PAGE_SIZE,
			 KT_ALL_ACCESS | IB_ACCESS_REMOTE_ATOMIC);
	if (err)
		return err;
	*word = 0x1234;
	wr.remote_addr = mr->iova + 64;
	wr.rkey = mr->rkey;
	err = ib_post_send(p->a, &wr.wr, NULL);
	if (err)
		return kt_fail(t, err, "post FETCH_ADD");
	err = kt_expect(t, p->cq_a, 30, IB_WC_SUCCESS, IB_WC_FETCH_ADD, NULL);
	if (err)
		return err;
	if (*(u64 *)t->a != 0x1234 || *word != 0x1239)
		return kt_fail(t, -EIO, "FETCH_ADD result or target wrong");

	wr.wr.opcode = IB_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.wr_id = 31;
	wr.compare_add = 0x1239;
	wr.swap = 0xabcdef;
	err = ib_post_send(p->a, &wr.wr, NULL);
	if (err)
		return kt_fail(t, err, "post CMP_AND_SWP");
	err = kt_expect(t, p->cq_a, 31, IB_WC_SUCCESS, IB_WC_COMP_SWAP, NULL);
	if (err)
		return err;
	if (*(u64 *)t->a != 0x1239 || *word != 0xabcdef)
		return kt_fail(t, -EIO, "CMP_AND_SWP result or target wrong");
	return 0;
}

/* ib_map_mr_sg() maps no more blocks than the region has room for. */
static int kt_case_map_overflow(struct kt *t, struct kt_pair *p,
				struct ib_mr *mr)
{
	struct scatterlist sg;
	int n;

	sg_init_one(&sg, t->c, (KT_MR_PAGES + 1) * PAGE_SIZE);
	if (ib_dma_map_sg(t->ibdev, &sg, 1, DMA_BIDIRECTIONAL) != 1)
		return -EIO;
	n = ib_map_mr_sg(mr, &sg, 1, NULL, SZ_4K);
	ib_dma_unmap_sg(t->ibdev, &sg, 1, DMA_BIDIRECTIONAL);
	if (n >= 1 || mr->length >= (KT_MR_PAGES + 1) * PAGE_SIZE)
		return kt_fail(t, -EIO, "mapped more blocks than max_num_sg");
	return 0;
}

struct kt_case {
	const char *name;
	int (*run)(struct kt *t, struct kt_pair *p, struct ib_mr *mr);
};

static const struct kt_case kt_cases[] = {
	{ "frwr_write_read_send_inv", kt_case_write_read_inv },
	{ "frwr_local_inv", kt_case_local_inv },
	{ "frwr_remap_new_key", kt_case_remap },
	{ "frwr_reg_twice", kt_case_reg_twice },
	{ "frwr_inv_wrong_key", kt_case_inv_wrong_key },
	{ "frwr_reg_bad", kt_case_reg_bad },
	{ "frwr_remote_inv_bad", kt_case_remote_inv_bad },
	{ "frwr_bounds_access", kt_case_bounds_access },
	{ "frwr_order_fence", kt_case_order },
	{ "frwr_atomic", kt_case_atomic },
	{ "frwr_map_overflow", kt_case_map_overflow },
};

static int kt_run(struct kt *t, const struct kt_case *c)
{
	struct kt_pair p;
	struct ib_mr *mr;
	int err;

	t->why = NULL;
	mr = ib_alloc_mr(t->pd, IB_MR_TYPE_MEM_REG, KT_MR_PAGES);
	if (IS_ERR(mr)) {
		t->why = "alloc_mr";
		return PTR_ERR(mr);
	}
	err = kt_pair_create(t, &p);
	if (!err) {
		err = c->run(t, &p, mr);
		kt_pair_destroy(&p);
	}
	ib_dereg_mr(mr);
	return err;
}

static const struct ib_gid_attr *kt_find_ipv4_gid(struct ib_device *ibdev)
{
	struct ib_port_attr port;
	int i;

	if (ib_query_port(ibdev, 1, &port))
		return NULL;
	for (i = 0; i < port.gid_tbl_len; i++) {
		const struct ib_gid_attr *attr = rdma_get_gid_attr(ibdev, 1, i);

		if (IS_ERR(attr))
			continue;
		if (attr->gid_type == IB_GID_TYPE_ROCE_UDP_ENCAP &&
		    ipv6_addr_v4mapped((const struct in6_addr *)attr->gid.raw))
			return attr;
		rdma_put_gid_attr(attr);
	}
	return NULL;
}

/*
 * The device named @dev, referenced: an ib_client sees every registered
 * device when it registers (ib_device_get_by_name() is not exported any
 * more in 7.x).
 */
static struct ib_device *kt_found;

static int kt_client_add(struct ib_device *ibdev)
{
	if (!kt_found && !strcmp(dev_name(&ibdev->dev), dev) &&
	    ib_device_try_get(ibdev))
		kt_found = ibdev;
	return 0;
}

static void kt_client_remove(struct ib_device *ibdev, void *client_data)
{
}

static struct ib_client kt_client = {
	.name = "hmmnic_ktest",
	.add = kt_client_add,
	.remove = kt_client_remove,
};

static struct ib_device *kt_get_device(void)
{
	kt_found = NULL;
	if (ib_register_client(&kt_client)) {
		/* .add may have run for our device before the failure */
		if (kt_found)
			ib_device_put(kt_found);
		return NULL;
	}
	ib_unregister_client(&kt_client);
	return kt_found;
}

static int __init hmmnic_ktest_init(void)
{
	struct kt t = {};
	int i, passed = 0, failed = 0, err = -ENOMEM;

	if (ib_mtu_enum_to_int(ib_mtu_int_to_enum(mtu)) != mtu) {
		pr_err("hmmnic_ktest: mtu=%d is not a path MTU\n", mtu);
		return -EINVAL;
	}
	t.ibdev = kt_get_device();
	if (!t.ibdev) {
		pr_err("hmmnic_ktest: no device %s\n", dev);
		return -ENODEV;
	}
	t.sgid = kt_find_ipv4_gid(t.ibdev);
	if (!t.sgid) {
		pr_err("hmmnic_ktest: %s has no RoCEv2 IPv4 GID\n", dev);
		err = -ENODEV;
		goto put_dev;
	}
	t.a = kzalloc(KT_BUF_SIZE, GFP_KERNEL);
	t.c = kzalloc(KT_BUF_SIZE + PAGE_SIZE, GFP_KERNEL);
	t.d = kzalloc(KT_BUF_SIZE, GFP_KERNEL);
	if (!t.a || !t.c || !t.d)
		goto free;
	t.pd = ib_alloc_pd(t.ibdev, 0);
	if (IS_ERR(t.pd)) {
		err = PTR_ERR(t.pd);
		goto free;
	}
	t.pd2 = ib_alloc_pd(t.ibdev, 0);
	if (IS_ERR(t.pd2)) {
		err = PTR_ERR(t.pd2);
		goto free_pd;
	}

	for (i = 0; i < ARRAY_SIZE(kt_cases); i++) {
		err = kt_run(&t, &kt_cases[i]);
		if (err) {
			failed++;
			pr_info("hmmnic_ktest: FAIL %s: %s (%d)\n",
				kt_cases[i].name, t.why ?: "error", err);
		} else {
			passed++;
			pr_info("hmmnic_ktest: PASS %s\n", kt_cases[i].name);
		}
	}
	pr_info("hmmnic_ktest: %d passed, %d failed\n", passed, failed);
	err = failed ? -EIO : 0;

	ib_dealloc_pd(t.pd2);
free_pd:
	ib_dealloc_pd(t.pd);
free:
	kfree(t.a);
	kfree(t.c);
	kfree(t.d);
	rdma_put_gid_attr(t.sgid);
put_dev:
	ib_device_put(t.ibdev);
	return err;
}

static void __exit hmmnic_ktest_exit(void)
{
}

module_init(hmmnic_ktest_init);
module_exit(hmmnic_ktest_exit);
MODULE_DESCRIPTION("Kernel-verbs tests of an hmmnic device");
MODULE_LICENSE("Dual BSD/GPL");
