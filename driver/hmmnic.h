/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic: a soft RoCEv2 RDMA NIC whose memory registration is on-demand
 * paging built on HMM. Shared definitions of the driver.
 */
#ifndef HMMNIC_H
#define HMMNIC_H

#include <linux/list.h>
#include <linux/netdevice.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_verbs.h>
#include <rdma/hmmnic-abi.h>

#define HMMNIC_DRV_NAME		"hmmnic"
#define HMMNIC_PORT		1

/* Advertised limits; the data path enforces the same numbers. */
#define HMMNIC_VENDOR_ID	0xffffff
#define HMMNIC_VENDOR_PART_ID	0x484d	/* "HM" */
#define HMMNIC_HW_VER		1
#define HMMNIC_MAX_PD		(64 * 1024)
#define HMMNIC_MAX_QP		(16 * 1024)
#define HMMNIC_MAX_QP_WR	(16 * 1024)
#define HMMNIC_MAX_CQ		(16 * 1024)
#define HMMNIC_MAX_CQE		(64 * 1024)
#define HMMNIC_MAX_SRQ		(4 * 1024)
#define HMMNIC_MAX_SRQ_WR	(16 * 1024)
#define HMMNIC_MAX_MR		(256 * 1024)
#define HMMNIC_MAX_AH		(64 * 1024)
#define HMMNIC_MAX_SGE		32
#define HMMNIC_MAX_INLINE	256
#define HMMNIC_MAX_RD_ATOM	128
#define HMMNIC_MAX_MSG_SZ	BIT(31)
#define HMMNIC_GID_TBL_LEN	32
#define HMMNIC_PKEY_TBL_LEN	1
#define HMMNIC_DEFAULT_PKEY	0xffff

/**
 * struct hmmnic_dev - one RDMA device bound to one netdev
 * @ibdev: the core device; first member, allocated by ib_alloc_device()
 * @list: entry in the driver's device list (see main.c)
 * @ndev: the netdev that carries the RoCEv2 traffic; the core holds the
 *        reference taken by ib_device_set_netdev()
 * @num_pd: PDs currently allocated, bounded by HMMNIC_MAX_PD
 * @num_cq: CQs currently allocated, bounded by HMMNIC_MAX_CQ
 * @port_active: last port state reported to the core, so that every
 *               transition raises exactly one port event
 */
struct hmmnic_dev {
	struct ib_device ibdev;
	struct list_head list;
	struct net_device *ndev;
	atomic_t num_pd;
	atomic_t num_cq;
	bool port_active;
};

struct hmmnic_ucontext {
	struct ib_ucontext ibuc;
};

struct hmmnic_pd {
	struct ib_pd ibpd;
};

/**
 * struct hmmnic_queue - a ring of fixed-size slots (see hmmnic-abi.h)
 * @mmap: the mmap entry that owns @buf when the ring is shared with user
 *        space; NULL for a kernel-only ring, whose @buf is ours to free
 * @buf: struct hmmnic_queue_hdr, then the slots
 * @size: bytes of @buf, a multiple of PAGE_SIZE
 */
struct hmmnic_queue {
	struct hmmnic_mmap_entry *mmap;
	void *buf;
	size_t size;
	u32 num_slots;
	u32 slot_size;
};

struct hmmnic_cq {
	struct ib_cq ibcq;
	struct hmmnic_queue queue;
};

static inline struct hmmnic_dev *to_hdev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct hmmnic_dev, ibdev);
}

static inline struct hmmnic_ucontext *to_huc(struct ib_ucontext *ibuc)
{
	return container_of(ibuc, struct hmmnic_ucontext, ibuc);
}

static inline struct hmmnic_pd *to_hpd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct hmmnic_pd, ibpd);
}

static inline struct hmmnic_cq *to_hcq(struct ib_cq *ibcq)
{
	return container_of(ibcq, struct hmmnic_cq, ibcq);
}

/*
 * The port is ACTIVE while its netdev is up with carrier and its MTU fits
 * at least a 256-byte RoCE payload.
 */
static inline bool hmmnic_port_usable(struct net_device *ndev)
{
	return netif_running(ndev) && netif_oper_up(ndev) &&
	       iboe_get_mtu(READ_ONCE(ndev->mtu));
}

/* main.c */
struct hmmnic_dev *hmmnic_get_by_netdev(struct net_device *ndev);
void hmmnic_dealloc_driver(struct ib_device *ibdev);
void hmmnic_port_event(struct hmmnic_dev *hdev);

/* verbs.c */
int hmmnic_register(struct hmmnic_dev *hdev, const char *name);

/* queue.c: memory shared with user space through mmap */
struct hmmnic_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	void *buf;
};

struct hmmnic_mmap_entry *hmmnic_mmap_buf_create(struct ib_ucontext *ibuc,
						 size_t size);
void hmmnic_mmap_buf_remove(struct hmmnic_mmap_entry *entry);

/* What user space passes to mmap() to map @entry's buffer. */
static inline u64 hmmnic_mmap_offset(struct hmmnic_mmap_entry *entry)
{
	return rdma_user_mmap_get_offset(&entry->rdma);
}

int hmmnic_queue_init(struct hmmnic_queue *q, struct ib_ucontext *ibuc,
		      u32 num_slots, u32 slot_size);
void hmmnic_queue_destroy(struct hmmnic_queue *q);
int hmmnic_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma);
void hmmnic_mmap_free(struct rdma_user_mmap_entry *entry);

#endif /* HMMNIC_H */
