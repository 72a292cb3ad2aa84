/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause) */
/*
 * Kernel <-> user-space ABI of hmmnic, the soft RoCEv2 NIC with HMM-based
 * on-demand paging. The kernel module and the rdma-core provider both build
 * against this one header.
 *
 * Rules: every structure is padded to 8 bytes and uses fixed-size types;
 * new fields are only appended, and a field is only meaningful when the
 * matching bit is set in comp_mask (or, for responses, when the response is
 * long enough to hold it). Anything incompatible bumps
 * HMMNIC_UVERBS_ABI_VERSION, which the provider checks against the
 * device's abi_version in sysfs before it binds.
 */
#ifndef HMMNIC_ABI_USER_H
#define HMMNIC_ABI_USER_H

#include <linux/types.h>

#define HMMNIC_UVERBS_ABI_VERSION 1

/* Name prefix of every hmmnic device; the provider matches on it. */
#define HMMNIC_DEVICE_NAME_PREFIX "hmmnic"

struct hmmnic_alloc_ucontext_cmd {
	__aligned_u64 comp_mask;	/* must be zero for ABI 1 */
};

struct hmmnic_alloc_ucontext_resp {
	__aligned_u64 comp_mask;
	__aligned_u64 caps;		/* feature bits; none defined in ABI 1 */
	__u32 page_size;		/* granule of every mmap'ed object */
	__u32 reserved;
};

/*
 * Rings shared through mmap (CQs, send and receive queues, SRQs). A ring is
 * one mapping: this header, then num_slots slots (a power of two) of a fixed
 * size, at offset HMMNIC_QUEUE_SLOTS_OFFSET. producer and consumer are free-
 * running counters; slot i lives at index (i & (num_slots - 1)). Each side
 * writes only its own counter, with release semantics after the slot it
 * covers, and reads the other's with acquire semantics. The kernel never
 * trusts the counter user space writes: a consumer that is ahead of the
 * producer, or more than num_slots behind it, puts the queue into error.
 */
struct hmmnic_queue_hdr {
	__u32 producer;
	__u32 reserved0[15];	/* producer and consumer on separate lines */
	__u32 consumer;
	/*
	 * Written by the kernel only. In a send queue: the QP state as the
	 * data path sees it (the values of enum ibv_qp_state, HMMNIC_QPS_ERR
	 * once the QP is in error). In a CQ: HMMNIC_CQ_STATE_ERROR once the
	 * CQ overflowed.
	 */
	__u32 state;
	__u32 reserved1[14];
};

#define HMMNIC_QPS_ERR		6
#define HMMNIC_CQ_STATE_ERROR	1

#define HMMNIC_QUEUE_SLOTS_OFFSET 128

/* One completion, as the kernel writes it into the CQ ring. */
struct hmmnic_cqe {
	__aligned_u64 wr_id;
	__u32 status;		/* enum ib_wc_status */
	__u32 opcode;		/* enum ib_uverbs_wc_opcode */
	__u32 vendor_err;
	__u32 byte_len;
	/* immediate data (network byte order) or the invalidated rkey */
	__u32 ex_data;
	__u32 qp_num;
	__u32 src_qp;
	__u32 wc_flags;		/* HMMNIC_WC_* */
	__u16 pkey_index;
	__u16 slid;
	__u8 sl;
	__u8 dlid_path_bits;
	__u8 network_hdr_type;
	__u8 reserved0;
	__aligned_u64 reserved1[2];
};

/* hmmnic_cqe.wc_flags: the values of libibverbs' enum ibv_wc_flags */
#define HMMNIC_WC_GRH		0x1
#define HMMNIC_WC_WITH_IMM	0x2
#define HMMNIC_WC_WITH_INV	0x8

struct hmmnic_create_cq_resp {
	__aligned_u64 ring_offset;	/* mmap offset of the CQ ring */
	__u32 ring_size;		/* bytes to map at ring_offset */
	__u32 num_cqe;			/* slots in the ring */
};

/*
 * resize_cq hands out a new ring that holds the completions not yet
 * consumed from the old one; the old offset stops being mappable.
 */
struct hmmnic_resize_cq_resp {
	__aligned_u64 ring_offset;
	__u32 ring_size;
	__u32 num_cqe;
};

/* A scatter/gather element, as in struct ibv_sge. */
struct hmmnic_sge {
	__aligned_u64 addr;
	__u32 length;
	__u32 lkey;
};

/*
 * One send work request in a send queue slot. The kernel copies a WQE
 * before it looks at it, and checks every field of the copy.
 *
 * opcode is enum ib_uverbs_wr_opcode, send_flags are HMMNIC_SEND_*.
 * With HMMNIC_SEND_INLINE, inline_len bytes of data follow the header
 * in place of the SGEs and num_sge is ignored. ex_data is the immediate
 * data (network byte order) or the rkey to invalidate. remote_addr and
 * rkey serve RDMA and atomic operations, compare_add and swap the atomic
 * ones; ah, remote_qpn and remote_qkey serve UD (ah is the number that
 * create_ah returned).
 */
struct hmmnic_send_wqe {
	__aligned_u64 wr_id;
	__u32 opcode;
	__u32 send_flags;
	__u32 num_sge;
	__u32 inline_len;
	__u32 ex_data;
	__u32 rkey;
	__aligned_u64 remote_addr;
	__aligned_u64 compare_add;
	__aligned_u64 swap;
	__u32 ah;
	__u32 remote_qpn;
	__u32 remote_qkey;
	__u32 reserved[3];
	struct hmmnic_sge sge[];
};

/* hmmnic_send_wqe.send_flags: the values of enum ibv_send_flags */
#define HMMNIC_SEND_FENCE	0x1
#define HMMNIC_SEND_SIGNALED	0x2
#define HMMNIC_SEND_SOLICITED	0x4
#define HMMNIC_SEND_INLINE	0x8

/* One receive work request in a receive queue or SRQ slot. */
struct hmmnic_recv_wqe {
	__aligned_u64 wr_id;
	__u32 num_sge;
	__u32 reserved;
	struct hmmnic_sge sge[];
};

/*
 * create_qp: the send queue and (without an SRQ) the receive queue are
 * rings of WQE slots. The provider produces WQEs; the kernel's consumer
 * counter advances when a WQE's slot may be reused. After producing send
 * WQEs the provider rings the doorbell: a post_send command with no work
 * requests. Receive WQEs need no doorbell while the QP works; once the
 * send queue's state reads HMMNIC_QPS_ERR, a post_recv command with no
 * work requests makes the kernel flush the new receive WQEs. (The provider
 * publishes the producer before it reads the state and the kernel
 * publishes the state before it reads the producer, so one of them always
 * sees the other.)
 */
struct hmmnic_create_qp_resp {
	__aligned_u64 sq_offset;
	__aligned_u64 rq_offset;	/* 0 when the QP uses an SRQ */
	__u32 sq_size;			/* bytes to map at sq_offset */
	__u32 rq_size;
	__u32 sq_slots;
	__u32 rq_slots;
	__u32 sq_slot_size;
	__u32 rq_slot_size;
	__u32 max_inline;
	__u32 reserved;
};

struct hmmnic_create_srq_resp {
	__aligned_u64 ring_offset;
	__u32 ring_size;
	__u32 num_slots;
	__u32 slot_size;
	__u32 reserved;
};

struct hmmnic_create_ah_resp {
	__u32 ah;			/* goes into hmmnic_send_wqe.ah */
	__u32 reserved;
};

/*
 * reg_mr: the driver part of the command. All zeros (or absent) is a
 * plain registration; hmmnicdv_reg_mr() in the provider sets flags.
 */
struct hmmnic_reg_mr_cmd {
	__u32 flags;			/* HMMNIC_REG_MR_* */
	__u32 reserved;
};

/* An ODP region whose pages never move into the device's pool. */
#define HMMNIC_REG_MR_NO_STAGING	0x1

#endif /* HMMNIC_ABI_USER_H */
