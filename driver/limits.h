/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic limits: what the device advertises (query_device) and enforces,
 * and the bounds of the data path on what user space and the network
 * control. (odp.c and pool.c keep their own tuning constants, such as the
 * fault batch and the pool's chunk size, next to the code they tune.)
 */
#ifndef HMMNIC_LIMITS_H
#define HMMNIC_LIMITS_H

#include <linux/bits.h>

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
#define HMMNIC_MAX_MR_SIZE	BIT_ULL(40)
/* Pages one fast-registration MR maps (ib_alloc_mr's max_num_sg). */
#define HMMNIC_MAX_FAST_REG_PAGES 512
#define HMMNIC_GID_TBL_LEN	32
#define HMMNIC_PKEY_TBL_LEN	1
#define HMMNIC_DEFAULT_PKEY	0xffff
/* Unacknowledged packets a requester keeps in flight per QP. */
#define HMMNIC_TX_WINDOW	256
/* Packets queued on the netdev beyond which senders wait a jiffy. */
#define HMMNIC_TX_QUEUE_MAX	128
/*
 * How long a stage of a QP (hmmnic_busy_retry(): the requester's sending,
 * its placing of responses, the READ responder, the UD receiver) keeps
 * trying after transient memory failures (hmmnic_err_transient()) with no
 * success in between, before it fails the work request or the connection
 * or drops the datagram; and the delay between tries, in ms. Each try at
 * an ODP page spends up to HMMNIC_FAULT_BUSY_MS (odp.c) of its own.
 */
#define HMMNIC_BUSY_GIVE_UP_MS	5000
#define HMMNIC_BUSY_DELAY_MS	10
/* Packets a QP worker handles before it yields the CPU. */
#define HMMNIC_WORK_BUDGET	64
/*
 * Packets queued for one QP's worker, in each direction, beyond which
 * the receive path drops them (drop_queue_full): a connected peer keeps
 * at most a window in flight, and what a hostile one sends beyond that
 * must not grow without bound while the worker is busy.
 */
#define HMMNIC_RX_QUEUE_MAX	(16 * HMMNIC_TX_WINDOW)
/*
 * PSNs one READ request may span, as a responder accepts it: a quarter of
 * the 24-bit PSN space, so that PSN comparisons (signed 24-bit
 * differences) stay unambiguous; a request beyond it is refused.
 */
#define HMMNIC_READ_MAX_PKTS	BIT(22)
/*
 * Responses one READ request of ours asks for at most: a longer READ is
 * split into several requests, each sent once the responses to the one
 * before are in. Half the receive queue bound, so that the responses to
 * the oldest READ and a window of others never overflow it: a responder
 * sends a READ's responses in one burst, and a requester that dropped
 * them would only ask again for a burst it drops again.
 */
#define HMMNIC_READ_REQ_PKTS	(HMMNIC_RX_QUEUE_MAX / 2)

/* ---- ODP and the pool ---- */

/* Implicit ODP regions grow children of this size, naturally aligned. */
#define HMMNIC_IMPLICIT_SHIFT	21
#define HMMNIC_IMPLICIT_SPAN	BIT(HMMNIC_IMPLICIT_SHIFT)

/* Stage requests a device queues at most; more are dropped. */
#define HMMNIC_STAGE_QUEUE	4096
/* Pages one staging or eviction batch moves at most. */
#define HMMNIC_STAGE_MAX_BATCH	512

#endif /* HMMNIC_LIMITS_H */
