/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic tracepoints (events/hmmnic/ in tracefs): ODP faults, their
 * latency, invalidations and prefetches; pool staging, eviction and
 * migrate_to_ram.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM hmmnic

#if !defined(HMMNIC_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define HMMNIC_TRACE_H

#include <linux/mmu_notifier.h>
#include <linux/tracepoint.h>

#include "compat.h"

struct hmmnic_mr;
struct hmmnic_dev;

TRACE_EVENT(hmmnic_odp_fault_begin,
	    TP_PROTO(struct hmmnic_mr *mr, unsigned long va,
		     unsigned long npages, bool write),
	    TP_ARGS(mr, va, npages, write),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(unsigned long, va)
			     __field(unsigned long, npages)
			     __field(bool, write)),
	    TP_fast_assign(__entry->lkey = hmmnic_trace_lkey(mr);
			   __entry->va = va;
			   __entry->npages = npages;
			   __entry->write = write;),
	    TP_printk("lkey=0x%x va=0x%lx npages=%lu write=%d",
		      __entry->lkey, __entry->va, __entry->npages,
		      __entry->write)
);

TRACE_EVENT(hmmnic_odp_fault_end,
	    TP_PROTO(struct hmmnic_mr *mr, unsigned long va,
		     unsigned long npages, unsigned long faulted, u64 ns,
		     int err),
	    TP_ARGS(mr, va, npages, faulted, ns, err),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(unsigned long, va)
			     __field(unsigned long, npages)
			     __field(unsigned long, faulted)
			     __field(u64, ns)
			     __field(int, err)),
	    TP_fast_assign(__entry->lkey = hmmnic_trace_lkey(mr);
			   __entry->va = va;
			   __entry->npages = npages;
			   __entry->faulted = faulted;
			   __entry->ns = ns;
			   __entry->err = err;),
	    TP_printk("lkey=0x%x va=0x%lx npages=%lu faulted=%lu ns=%llu err=%d",
		      __entry->lkey, __entry->va, __entry->npages,
		      __entry->faulted, __entry->ns, __entry->err)
);

TRACE_EVENT(hmmnic_odp_invalidate,
	    TP_PROTO(struct hmmnic_mr *mr, unsigned long va,
		     unsigned long npages, unsigned long dropped, int event),
	    TP_ARGS(mr, va, npages, dropped, event),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(unsigned long, va)
			     __field(unsigned long, npages)
			     __field(unsigned long, dropped)
			     __field(int, event)),
	    TP_fast_assign(__entry->lkey = hmmnic_trace_lkey(mr);
			   __entry->va = va;
			   __entry->npages = npages;
			   __entry->dropped = dropped;
			   __entry->event = event;),
	    TP_printk("lkey=0x%x va=0x%lx npages=%lu dropped=%lu event=%d",
		      __entry->lkey, __entry->va, __entry->npages,
		      __entry->dropped, __entry->event)
);

TRACE_EVENT(hmmnic_odp_prefetch,
	    TP_PROTO(struct hmmnic_mr *mr, unsigned long va,
		     unsigned long npages, int how),
	    TP_ARGS(mr, va, npages, how),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(unsigned long, va)
			     __field(unsigned long, npages)
			     __field(int, how)),
	    TP_fast_assign(__entry->lkey = hmmnic_trace_lkey(mr);
			   __entry->va = va;
			   __entry->npages = npages;
			   __entry->how = how;),
	    TP_printk("lkey=0x%x va=0x%lx npages=%lu how=%s",
		      __entry->lkey, __entry->va, __entry->npages,
		      __print_flags(__entry->how, "|", { 1, "write" },
				    { 2, "no_fault" }))
);

TRACE_EVENT(hmmnic_pool_stage,
	    TP_PROTO(struct hmmnic_mr *mr, unsigned long va,
		     unsigned long npages, unsigned long staged, u64 ns),
	    TP_ARGS(mr, va, npages, staged, ns),
	    TP_STRUCT__entry(__field(u32, lkey)
			     __field(unsigned long, va)
			     __field(unsigned long, npages)
			     __field(unsigned long, staged)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->lkey = hmmnic_trace_lkey(mr);
			   __entry->va = va;
			   __entry->npages = npages;
			   __entry->staged = staged;
			   __entry->ns = ns;),
	    TP_printk("lkey=0x%x va=0x%lx npages=%lu staged=%lu ns=%llu",
		      __entry->lkey, __entry->va, __entry->npages,
		      __entry->staged, __entry->ns)
);

TRACE_EVENT(hmmnic_pool_evict,
	    TP_PROTO(struct hmmnic_dev *hdev, unsigned long scanned,
		     unsigned long evicted, u64 ns),
	    TP_ARGS(hdev, scanned, evicted, ns),
	    TP_STRUCT__entry(__string(dev, dev_name(&hdev->ibdev.dev))
			     __field(unsigned long, scanned)
			     __field(unsigned long, evicted)
			     __field(u64, ns)),
	    TP_fast_assign(hmmnic_assign_str(dev, dev_name(&hdev->ibdev.dev));
			   __entry->scanned = scanned;
			   __entry->evicted = evicted;
			   __entry->ns = ns;),
	    TP_printk("dev=%s scanned=%lu evicted=%lu ns=%llu",
		      __get_str(dev), __entry->scanned, __entry->evicted,
		      __entry->ns)
);

TRACE_EVENT(hmmnic_pool_migrate_to_ram,
	    TP_PROTO(struct hmmnic_dev *hdev, unsigned long va,
		     unsigned long moved, u64 ns),
	    TP_ARGS(hdev, va, moved, ns),
	    TP_STRUCT__entry(__string(dev, dev_name(&hdev->ibdev.dev))
			     __field(unsigned long, va)
			     __field(unsigned long, moved)
			     __field(u64, ns)),
	    TP_fast_assign(hmmnic_assign_str(dev, dev_name(&hdev->ibdev.dev));
			   __entry->va = va;
			   __entry->moved = moved;
			   __entry->ns = ns;),
	    TP_printk("dev=%s va=0x%lx moved=%lu ns=%llu", __get_str(dev),
		      __entry->va, __entry->moved, __entry->ns)
);

#endif /* HMMNIC_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
