/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic port counters, shown by "rdma statistic show link DEV/1".
 */
#ifndef HMMNIC_STATS_H
#define HMMNIC_STATS_H

#include <linux/percpu.h>
#include <linux/types.h>

enum hmmnic_counter {
	HMMNIC_CNT_TX_PACKETS,
	HMMNIC_CNT_TX_BYTES,
	HMMNIC_CNT_RX_PACKETS,
	HMMNIC_CNT_RX_BYTES,
	HMMNIC_CNT_LOCAL_PACKETS,	/* took the local short cut */
	HMMNIC_CNT_RETRANSMITS,		/* packets sent again */
	HMMNIC_CNT_TIMEOUTS,		/* retransmission timer expiries */
	HMMNIC_CNT_SEQ_NAKS_SENT,
	HMMNIC_CNT_SEQ_NAKS_RCVD,
	HMMNIC_CNT_RNR_NAKS_SENT,
	HMMNIC_CNT_RNR_NAKS_RCVD,
	HMMNIC_CNT_ERR_NAKS_SENT,	/* access, invalid request, operational */
	HMMNIC_CNT_ERR_NAKS_RCVD,
	HMMNIC_CNT_DUP_REQUESTS,
	HMMNIC_CNT_CQ_OVERFLOWS,
	HMMNIC_CNT_TX_ERRORS,		/* no route, no memory, qdisc drop */
	/* received packets dropped, by reason */
	HMMNIC_CNT_DROP_MALFORMED,	/* short, bad version, bad pad/length */
	HMMNIC_CNT_DROP_ICRC,
	HMMNIC_CNT_DROP_OPCODE,		/* unknown or wrong for the QP type */
	HMMNIC_CNT_DROP_NO_QP,
	HMMNIC_CNT_DROP_QP_STATE,
	HMMNIC_CNT_DROP_SOURCE,		/* not from the connected peer */
	HMMNIC_CNT_DROP_PKEY,
	HMMNIC_CNT_DROP_QKEY,
	HMMNIC_CNT_DROP_OUT_OF_SEQ,
	HMMNIC_CNT_DROP_DUPLICATE,	/* stale response or ACK */
	HMMNIC_CNT_DROP_NO_RECV_WQE,	/* UD */
	HMMNIC_CNT_DROP_TOO_LONG,	/* UD message longer than the buffer */
	HMMNIC_CNT_DROP_QUEUE_FULL,	/* the QP's receive queue was full */
	HMMNIC_CNT_DROP_PAGE_FAULT,	/* UD: the buffer could not be faulted */
	/* fast registration (kernel users) */
	HMMNIC_CNT_FAST_REG,		/* IB_WR_REG_MR executed */
	HMMNIC_CNT_LOCAL_INV,		/* IB_WR_LOCAL_INV executed */
	HMMNIC_CNT_REMOTE_INV,		/* SEND with Invalidate received */
	/* ODP (odp.c), the sums of the per-MR counters */
	HMMNIC_CNT_PAGE_FAULTS,
	HMMNIC_CNT_PAGE_FAULTS_HANDLED,
	HMMNIC_CNT_PAGE_INVALIDATIONS,
	HMMNIC_CNT_PAGE_INVALIDATIONS_HANDLED,
	HMMNIC_CNT_PAGE_PREFETCH,
	HMMNIC_CNT_PAGE_FAULT_ERRORS,
	HMMNIC_CNT_PAGE_FAULT_RNR_NAKS,
	/* the NIC-private pool (pool.c) */
	HMMNIC_CNT_POOL_STAGED,		/* pages migrated into the pool */
	HMMNIC_CNT_POOL_STAGE_FAILURES,	/* queued pages that did not move */
	HMMNIC_CNT_POOL_EVICTED,	/* pages moved out to make room */
	HMMNIC_CNT_POOL_MIGRATE_TO_RAM,	/* pages the CPU took back */
	HMMNIC_CNT_POOL_HITS,		/* data-path accesses to staged pages */
	HMMNIC_CNT_POOL_PAGES_USED,	/* gauges, read from the pool */
	HMMNIC_CNT_POOL_PAGES_FREE,
	HMMNIC_NUM_COUNTERS
};

/* One CPU's share of every counter. */
struct hmmnic_pcpu_stats {
	u64 cnt[HMMNIC_NUM_COUNTERS];
};

/*
 * Per-CPU counters: the data path of both sides of a connection, on
 * different CPUs, counts every packet without sharing a cache line.
 * Readers sum the CPUs.
 */
struct hmmnic_stats {
	struct hmmnic_pcpu_stats __percpu *pcpu;
};

static inline void hmmnic_stat_inc(struct hmmnic_stats *s,
				   enum hmmnic_counter c)
{
	this_cpu_inc(s->pcpu->cnt[c]);
}

static inline void hmmnic_stat_add(struct hmmnic_stats *s,
				   enum hmmnic_counter c, u64 n)
{
	this_cpu_add(s->pcpu->cnt[c], n);
}

int hmmnic_stats_init(struct hmmnic_stats *s);
void hmmnic_stats_free(struct hmmnic_stats *s);
u64 hmmnic_stat_read(struct hmmnic_stats *s, enum hmmnic_counter c);

#endif /* HMMNIC_STATS_H */
