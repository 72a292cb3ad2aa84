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

/* Device capabilities reported in hmmnic_alloc_ucontext_resp.caps. */
enum hmmnic_caps {
	/* The driver implements the mmap'ed queue interface below. */
	HMMNIC_CAP_MMAP_QUEUES = 1 << 0,
};

struct hmmnic_alloc_ucontext_cmd {
	__aligned_u64 comp_mask;	/* must be zero for ABI 1 */
};

struct hmmnic_alloc_ucontext_resp {
	__aligned_u64 comp_mask;
	__aligned_u64 caps;		/* enum hmmnic_caps */
	__u32 page_size;		/* granule of every mmap'ed object */
	__u32 reserved;
};

#endif /* HMMNIC_ABI_USER_H */
