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
 * Rings shared through mmap (the CQ ring today). A ring is one mapping:
 * this header, then num_slots slots (a power of two) of a fixed size, at
 * offset HMMNIC_QUEUE_SLOTS_OFFSET. producer and consumer are free-running
 * counters; slot i lives at index (i & (num_slots - 1)). Each side writes
 * only its own counter, with release semantics after the slot it covers,
 * and reads the other's with acquire semantics. The kernel never trusts
 * the counter user space writes: a consumer that is ahead of the producer,
 * or more than num_slots behind it, puts the queue into error.
 */
struct hmmnic_queue_hdr {
	__u32 producer;
	__u32 reserved0[15];	/* producer and consumer on separate lines */
	__u32 consumer;
	__u32 reserved1[15];
};

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
	__u32 wc_flags;		/* IB_WC_* flags as user space knows them */
	__u16 pkey_index;
	__u16 slid;
	__u8 sl;
	__u8 dlid_path_bits;
	__u8 network_hdr_type;
	__u8 reserved0;
	__aligned_u64 reserved1[2];
};

struct hmmnic_create_cq_resp {
	__aligned_u64 ring_offset;	/* mmap offset of the CQ ring */
	__u32 ring_size;		/* bytes to map at ring_offset */
	__u32 num_cqe;			/* slots in the ring */
};

#endif /* HMMNIC_ABI_USER_H */
