// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic port counters: per-CPU counts anyone may bump (stats.h), their
 * names for the core's rdma_hw_stats interface, and their sums. The
 * values "rdma statistic" shows are gathered in verbs.c, which adds the
 * pool's gauges.
 */
#include "hmmnic.h"
#include "verbs.h"

static const struct rdma_stat_desc hmmnic_counter_descs[] = {
	[HMMNIC_CNT_TX_PACKETS].name = "tx_packets",
	[HMMNIC_CNT_TX_BYTES].name = "tx_bytes",
	[HMMNIC_CNT_RX_PACKETS].name = "rx_packets",
	[HMMNIC_CNT_RX_BYTES].name = "rx_bytes",
	[HMMNIC_CNT_LOCAL_PACKETS].name = "local_packets",
	[HMMNIC_CNT_RETRANSMITS].name = "retransmits",
	[HMMNIC_CNT_TIMEOUTS].name = "timeouts",
	[HMMNIC_CNT_SEQ_NAKS_SENT].name = "seq_naks_sent",
	[HMMNIC_CNT_SEQ_NAKS_RCVD].name = "seq_naks_rcvd",
	[HMMNIC_CNT_RNR_NAKS_SENT].name = "rnr_naks_sent",
	[HMMNIC_CNT_RNR_NAKS_RCVD].name = "rnr_naks_rcvd",
	[HMMNIC_CNT_ERR_NAKS_SENT].name = "err_naks_sent",
	[HMMNIC_CNT_ERR_NAKS_RCVD].name = "err_naks_rcvd",
	[HMMNIC_CNT_DUP_REQUESTS].name = "duplicate_requests",
	[HMMNIC_CNT_CQ_OVERFLOWS].name = "cq_overflows",
	[HMMNIC_CNT_TX_ERRORS].name = "tx_errors",
	[HMMNIC_CNT_DROP_MALFORMED].name = "drop_malformed",
	[HMMNIC_CNT_DROP_ICRC].name = "drop_icrc",
	[HMMNIC_CNT_DROP_OPCODE].name = "drop_opcode",
	[HMMNIC_CNT_DROP_NO_QP].name = "drop_no_qp",
	[HMMNIC_CNT_DROP_QP_STATE].name = "drop_qp_state",
	[HMMNIC_CNT_DROP_SOURCE].name = "drop_source",
	[HMMNIC_CNT_DROP_PKEY].name = "drop_pkey",
	[HMMNIC_CNT_DROP_QKEY].name = "drop_qkey",
	[HMMNIC_CNT_DROP_OUT_OF_SEQ].name = "drop_out_of_sequence",
	[HMMNIC_CNT_DROP_DUPLICATE].name = "drop_duplicate",
	[HMMNIC_CNT_DROP_NO_RECV_WQE].name = "drop_no_recv_wqe",
	[HMMNIC_CNT_DROP_TOO_LONG].name = "drop_too_long",
	[HMMNIC_CNT_DROP_QUEUE_FULL].name = "drop_queue_full",
	[HMMNIC_CNT_DROP_PAGE_FAULT].name = "drop_page_fault",
	[HMMNIC_CNT_FAST_REG].name = "fast_reg",
	[HMMNIC_CNT_LOCAL_INV].name = "local_invalidate",
	[HMMNIC_CNT_REMOTE_INV].name = "remote_invalidate",
	[HMMNIC_CNT_PAGE_FAULTS].name = "page_faults",
	[HMMNIC_CNT_PAGE_FAULTS_HANDLED].name = "page_faults_handled",
	[HMMNIC_CNT_PAGE_INVALIDATIONS].name = "page_invalidations",
	[HMMNIC_CNT_PAGE_INVALIDATIONS_HANDLED].name =
		"page_invalidations_handled",
	[HMMNIC_CNT_PAGE_PREFETCH].name = "page_prefetch",
	[HMMNIC_CNT_PAGE_FAULT_ERRORS].name = "page_fault_errors",
	[HMMNIC_CNT_PAGE_FAULT_RNR_NAKS].name = "page_fault_rnr_naks",
	[HMMNIC_CNT_POOL_STAGED].name = "pool_staged",
	[HMMNIC_CNT_POOL_STAGE_FAILURES].name = "pool_stage_failures",
	[HMMNIC_CNT_POOL_EVICTED].name = "pool_evicted",
	[HMMNIC_CNT_POOL_MIGRATE_TO_RAM].name = "pool_migrate_to_ram",
	[HMMNIC_CNT_POOL_HITS].name = "pool_hits",
	[HMMNIC_CNT_POOL_PAGES_USED].name = "pool_pages_used",
	[HMMNIC_CNT_POOL_PAGES_FREE].name = "pool_pages_free",
};

static_assert(ARRAY_SIZE(hmmnic_counter_descs) == HMMNIC_NUM_COUNTERS);

int hmmnic_stats_init(struct hmmnic_stats *s)
{
	s->pcpu = alloc_percpu(struct hmmnic_pcpu_stats);
	return s->pcpu ? 0 : -ENOMEM;
}

void hmmnic_stats_free(struct hmmnic_stats *s)
{
	free_percpu(s->pcpu);
	s->pcpu = NULL;
}

/* The sum over the CPUs; a read races only with increments. */
u64 hmmnic_stat_read(struct hmmnic_stats *s, enum hmmnic_counter c)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(s->pcpu, cpu)->cnt[c]);
	return sum;
}

struct rdma_hw_stats *hmmnic_alloc_hw_port_stats(struct ib_device *ibdev,
						 u32 port)
{
	return rdma_alloc_hw_stats_struct(hmmnic_counter_descs,
					  HMMNIC_NUM_COUNTERS,
					  RDMA_HW_STATS_DEFAULT_LIFESPAN);
}
