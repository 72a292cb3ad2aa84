/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic: a soft RoCEv2 RDMA NIC whose memory registration is on-demand
 * paging built on HMM. The driver's objects: the device, its pool, and
 * the verbs objects, with their container_of helpers. Limits are in
 * limits.h, the wire format in pkt.h, rings in queue.h, counters in
 * stats.h; each stage's functions are declared in the header named after
 * its file (docs/design.md, "Where things are").
 */
#ifndef HMMNIC_H
#define HMMNIC_H

#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_verbs.h>
#include <rdma/hmmnic-abi.h>

#include "limits.h"
#include "pkt.h"
#include "queue.h"
#include "stats.h"
#include "compat.h"

#define HMMNIC_DRV_NAME		"hmmnic"
#define HMMNIC_PORT		1

/* The module's workqueue (main.c): QP workers, staging, ODP reapers. */
extern struct workqueue_struct *hmmnic_workqueue;
/* The module's debugfs directory (main.c), "hmmnic". */
extern struct dentry *hmmnic_debugfs_root;

/*
 * Optional kernel features and whether this build has them, as modinfo
 * and debugfs hmmnic/features report them (main.c).
 */
#if HMMNIC_WITH_POOL
#define HMMNIC_FEATURE_POOL	"yes"
#elif IS_ENABLED(CONFIG_DEVICE_PRIVATE)
#define HMMNIC_FEATURE_POOL \
	"absent: this kernel was built without CONFIG_DEVICE_MIGRATION"
#else
#define HMMNIC_FEATURE_POOL \
	"absent: this kernel was built without CONFIG_DEVICE_PRIVATE"
#endif
#if HMMNIC_WITH_DEVICE_THP
#define HMMNIC_FEATURE_POOL_THP	"yes"
#elif !HMMNIC_WITH_POOL
#define HMMNIC_FEATURE_POOL_THP	"absent: there is no pool"
#else
#define HMMNIC_FEATURE_POOL_THP \
	"absent: this kernel has no device-private THPs (6.19) or no THPs"
#endif
#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
#define HMMNIC_FEATURE_FAULT_INJECTION	"yes"
#else
#define HMMNIC_FEATURE_FAULT_INJECTION \
	"absent: this kernel was built without CONFIG_FAULT_INJECTION_DEBUG_FS"
#endif

/* A page the staging policy wants in the pool: page @idx of span @odp. */
struct hmmnic_stage_req {
	struct hmmnic_odp *odp;		/* holds an MR reference and a user */
	unsigned long idx;
};

/**
 * struct hmmnic_pool - the device's NIC-private memory (pool.c)
 * @hdev: the device, or NULL while no pool was set up
 * @ops: how to hold and release the span of a stage request (odp.c)
 * @lock: guards the page lists, the counts and the chunk list; taken
 *        with interrupts off, since the free callback may run in any
 *        context
 * @free: struct hmmnic_pool_page entries of free device pages
 * @clock: entries of used device pages, in CLOCK order
 * @chunks: struct hmmnic_pool_chunk, in creation order
 * @nr_pages: device pages in @chunks
 * @nr_used: device pages in use (staged)
 * @nr_thp: device folios of more than a page in use (THPs staged whole)
 * @limit: pool size in pages; the pool grows in chunks up to it
 * @grow_lock: serializes adding chunks
 * @qlock: guards the stage queue; taken inside odp->lock
 * @queue: the stage requests, a ring of HMMNIC_STAGE_QUEUE entries
 * @q_head: the oldest request in @queue
 * @q_len: requests in @queue
 * @stage_work: the worker that stages queued pages and evicts; it runs
 *              a jiffy after the first request, or at once when a batch
 *              is queued, so that requests gather into long runs
 * @src: the worker's migrate_vma source array
 * @dst: the worker's migrate_vma destination array
 * @reqs: the worker's private copy of a batch of requests
 * @dying: teardown has begun; nothing is queued any more
 * @staging: the staging policy is on (debugfs "staging")
 * @threshold: accesses within one window that make a page hot
 * @window_ms: the length of that window
 * @batch: queued requests that start the worker at once
 * @hold: requests wait in the queue until it is cleared (for measuring
 *        the worker alone, with no traffic running)
 * @delay_ms: fault injection for tests: the worker waits this long
 *            between copying a run of pages and migrating it
 * @pin: fault injection for tests: the worker holds a reference on each
 *       source page of a run meanwhile, so the kernel refuses to migrate
 *       it
 * @thp: a THP is staged whole, as one device folio (debugfs "stage_thp",
 *       only where the kernel has device-private THPs)
 * @debugfs: the device's debugfs directory
 */
struct hmmnic_pool {
	struct hmmnic_dev *hdev;
	const struct hmmnic_stage_ops *ops;
	spinlock_t lock;		/* see above */
	struct list_head free;
	struct list_head clock;
	struct list_head chunks;
	unsigned long nr_pages;
	unsigned long nr_used;
	unsigned long nr_thp;
	unsigned long limit;
	struct mutex grow_lock;		/* see above */
	spinlock_t qlock;		/* see above */
	struct hmmnic_stage_req *queue;
	unsigned int q_head;
	unsigned int q_len;
	struct delayed_work stage_work;
	unsigned long *src;
	unsigned long *dst;
	struct hmmnic_stage_req *reqs;
	bool dying;
	bool staging;
	u32 threshold;
	u32 window_ms;
	u32 batch;
	bool hold;
	u32 delay_ms;
	bool pin;
	bool thp;
	struct dentry *debugfs;
};

/**
 * struct hmmnic_dev - one RDMA device bound to one netdev
 * @ibdev: the core device; first member, allocated by ib_alloc_device()
 * @list: entry in the driver's device list (see main.c)
 * @ndev: the netdev that carries the RoCEv2 traffic; the core holds the
 *        reference taken by ib_device_set_netdev()
 * @num_pd: PDs allocated, bounded by HMMNIC_MAX_PD (hmmnic_obj_get())
 * @num_cq: CQs allocated, bounded by HMMNIC_MAX_CQ
 * @num_qp: QPs allocated, bounded by HMMNIC_MAX_QP
 * @num_srq: SRQs allocated, bounded by HMMNIC_MAX_SRQ
 * @num_mr: MRs allocated, bounded by HMMNIC_MAX_MR
 * @num_ah: AHs allocated, bounded by HMMNIC_MAX_AH
 * @port_active: last port state reported to the core, so that every
 *               transition raises exactly one port event
 * @qps: QP number -> struct hmmnic_qp, for the receive path
 * @mrs: key index (key >> 8) -> struct hmmnic_mr
 * @ahs: AH number -> struct hmmnic_ah_entry, for UD sends
 * @next_qpn: where the cyclic QP number allocation resumes
 * @stats: the port's hw counters (stats.h)
 * @pool: the NIC-private memory pool (pool.c)
 */
struct hmmnic_dev {
	struct ib_device ibdev;
	struct list_head list;
	struct net_device *ndev;
	atomic_t num_pd;
	atomic_t num_cq;
	atomic_t num_qp;
	atomic_t num_srq;
	atomic_t num_mr;
	atomic_t num_ah;
	bool port_active;
	struct xarray qps;
	struct xarray mrs;
	struct xarray ahs;
	u32 next_qpn;
	struct hmmnic_stats stats;
	struct hmmnic_pool pool;
};

struct hmmnic_ucontext {
	struct ib_ucontext ibuc;
};

struct hmmnic_pd {
	struct ib_pd ibpd;
};

/**
 * struct hmmnic_cq - a completion queue
 * @lock: serializes producers, kernel pollers, arming and resize
 * @queue: the ring of struct hmmnic_cqe
 * @notify: armed notification (IB_CQ_SOLICITED or IB_CQ_NEXT_COMP), or 0
 * @ibcq: the core's CQ
 * @error: the CQ overflowed; nothing is added any more
 * @user: the ring is shared with user space, whose consumer counter is
 *        untrusted
 */
struct hmmnic_cq {
	struct ib_cq ibcq;
	spinlock_t lock;		/* see above */
	struct hmmnic_queue queue;
	u32 notify;
	bool error;
	bool user;
};

/* ODP counters of one MR ("rdma statistic show mr") */
enum hmmnic_odp_counter {
	HMMNIC_ODP_FAULTS,		/* pages faulted in */
	HMMNIC_ODP_FAULTS_HANDLED,	/* hmm_range_fault() calls that did */
	HMMNIC_ODP_INVALIDATIONS,	/* mirrored pages dropped */
	HMMNIC_ODP_INVALIDATIONS_HANDLED, /* invalidate callbacks */
	HMMNIC_ODP_PREFETCH,		/* pages prefetched (ibv_advise_mr) */
	HMMNIC_ODP_FAULT_ERRORS,	/* faults that failed */
	HMMNIC_ODP_RNR_NAKS,		/* rnr mode: RNR NAKs for a fault */
	HMMNIC_NUM_ODP_COUNTERS
};

/**
 * struct hmmnic_odp - the HMM mirror of one span of an ODP region
 * @notifier: follows CPU page-table changes over the span
 * @lock: guards @pfns and @npresent against the invalidate callback; the
 *        data path holds it while it copies from or to a page
 * @start: first virtual address, page aligned
 * @npages: pages in the span
 * @npresent: entries of @pfns that are HMM_PFN_VALID
 * @pfns: HMM pfns of the span's pages, 0 when not mirrored; a page staged
 *        in the device's pool is its device-private pfn
 * @heat: staging policy: per page, data-path accesses in the current
 *        window (HMMNIC_HEAT_COUNT), the window (HMMNIC_HEAT_EPOCH),
 *        HMMNIC_HEAT_QUEUED and HMMNIC_HEAT_NOSTAGE; guarded by @lock
 * @mr: the region
 * @users: implicit children only: accesses in progress, which keep the
 *         reaper away
 */
struct hmmnic_odp {
	struct mmu_interval_notifier notifier;
	spinlock_t lock;		/* see above */
	unsigned long start;
	unsigned long npages;
	unsigned long npresent;
	unsigned long *pfns;
	u16 *heat;
	struct hmmnic_mr *mr;
	atomic_t users;
};

/* The page could not be staged; not again until its mapping changes. */
#define HMMNIC_HEAT_NOSTAGE	BIT(15)
/* A stage request for the page is queued or in the worker's hands. */
#define HMMNIC_HEAT_QUEUED	BIT(14)
/* The window the count belongs to (its low 6 bits), and the count. */
#define HMMNIC_HEAT_EPOCH	GENMASK(13, 8)
#define HMMNIC_HEAT_COUNT	GENMASK(7, 0)

/**
 * struct hmmnic_frwr_map - the blocks of a fast registration
 * @iova: the region's first byte (ibmr.iova when IB_WR_REG_MR ran)
 * @length: its length
 * @offset: where @iova lies in @pages[0]
 * @shift: log2 of the block size (ibmr.page_size at ib_map_mr_sg() time)
 * @npages: blocks ib_map_mr_sg() filled
 * @pages: kernel virtual address of each block
 */
struct hmmnic_frwr_map {
	u64 iova;
	u64 length;
	u32 offset;
	u32 shift;
	u32 npages;
	u64 pages[];
};

/**
 * struct hmmnic_mr - a memory region
 * @ibmr: the core's MR
 * @umem: the pinned user memory; NULL for ODP and for a DMA MR of a
 *        kernel user, whose iova is a kernel virtual address
 * @pages: the page behind each PAGE_SIZE step of the region, from @umem
 * @npages: entries in @pages
 * @page_offset: offset of the region's first byte in @pages[0]
 * @access: IB_ACCESS_* flags
 * @ref: held by registration and by each data-path access in progress
 * @done: completed when @ref drops to zero, so deregistration can wait
 * @hdev: ODP: the device (the invalidate callback may run before the core
 *        has set ibmr.device)
 * @mm: ODP: the registering process's mm (grabbed, not held alive)
 * @odp: explicit ODP: the mirror of the whole region
 * @odp_va: explicit ODP: the user address of the region's first byte
 * @odp_implicit: implicit ODP: the region is the whole address space,
 *                mirrored by lazily created children
 * @odp_lock: implicit ODP: serializes creating and freeing children
 * @odp_children: implicit ODP: va >> HMMNIC_IMPLICIT_SHIFT -> child
 * @odp_nchildren: implicit ODP: entries in @odp_children
 * @odp_reap: implicit ODP: frees children that hold no page
 * @odp_stats: ODP counters (enum hmmnic_odp_counter)
 * @odp_rnr_error: rnr fault mode: a background fault failed; the next
 *                 access faults synchronously, to report the error
 * @no_staging: ODP: the registration opted out of pool staging
 * @stage_closed: ODP: deregistration began, no more stage requests;
 *                guarded by the pool's qlock
 * @frwr: fast registration (kernel users, ib_alloc_mr): the mapping the
 *        last IB_WR_REG_MR installed; NULL for every other kind of region
 * @frwr_next: what ib_map_mr_sg() fills in for the next IB_WR_REG_MR,
 *             which copies it to @frwr (a consumer may map a region that
 *             is still valid and invalidate it in the same chain of WRs,
 *             or register the same mapping again)
 * @frwr_max: blocks each of the two holds
 * @frwr_valid: an IB_WR_REG_MR made the region usable; an invalidation
 *              (local or remote) makes it unusable again
 * @frwr_lock: guards @frwr and @frwr_valid, so that once an invalidation
 *             returns no data-path access reaches the blocks any more
 * @key: the key that finds the region (ibmr.lkey == ibmr.rkey); for fast
 *       registration the one the last IB_WR_REG_MR installed, since the
 *       consumer changes ibmr's keys before it posts the WR
 * @rcu: the MR is freed after a grace period: a key lookup under RCU may
 *       still look at it after deregistration
 */
struct hmmnic_mr {
	struct ib_mr ibmr;
	u32 key;
	struct ib_umem *umem;
	struct page **pages;
	unsigned long npages;
	u32 page_offset;
	int access;
	refcount_t ref;
	struct completion done;
	struct hmmnic_dev *hdev;
	struct mm_struct *mm;
	struct hmmnic_odp *odp;
	unsigned long odp_va;
	bool odp_implicit;
	struct mutex odp_lock;		/* see above */
	struct xarray odp_children;
	atomic_t odp_nchildren;
	struct work_struct odp_reap;
	atomic64_t odp_stats[HMMNIC_NUM_ODP_COUNTERS];
	atomic_t odp_rnr_error;
	bool no_staging;
	bool stage_closed;
	struct hmmnic_frwr_map *frwr;
	struct hmmnic_frwr_map *frwr_next;
	u32 frwr_max;
	bool frwr_valid;
	spinlock_t frwr_lock;		/* see above */
	struct rcu_head rcu;
};

static inline bool hmmnic_mr_is_odp(const struct hmmnic_mr *mr)
{
	return mr->access & IB_ACCESS_ON_DEMAND;
}

static inline bool hmmnic_mr_is_frwr(const struct hmmnic_mr *mr)
{
	return mr->frwr;
}

/* Drop a reference hmmnic_mr_get() (mr.c) took. */
static inline void hmmnic_mr_put(struct hmmnic_mr *mr)
{
	if (refcount_dec_and_test(&mr->ref))
		complete(&mr->done);
}

static inline u32 hmmnic_trace_lkey(const struct hmmnic_mr *mr)
{
	return READ_ONCE(mr->key);
}

/* An address handle: where a UD packet goes. */
struct hmmnic_av {
	int family;			/* AF_INET or AF_INET6 */
	union {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} saddr, daddr;
	u8 tos;
	u8 ttl;
	u32 flow_label;
	union ib_gid dgid;
	struct net *net;
	struct net_device *ndev;
	bool local;			/* the destination is on this host */
};

/*
 * What a sender needs of an AH. It lives apart from the AH and is freed
 * after an RCU grace period, because the core frees a kernel AH right
 * after a destroy that must not sleep, while a UD sender may be copying
 * the AV under rcu_read_lock().
 */
struct hmmnic_ah_entry {
	struct hmmnic_av av;
	struct ib_pd *pd;		/* only compared, never dereferenced */
	struct rcu_head rcu;
};

struct hmmnic_ah {
	struct ib_ah ibah;
	struct hmmnic_ah_entry *entry;
	u32 ah_num;			/* index in hdev->ahs */
};

/*
 * A receive queue: a ring of struct hmmnic_recv_wqe, a QP's own or an
 * SRQ's. The kernel copies a WQE out of the ring before it uses it. Its
 * consumer position is @cons, which only the kernel can write; the ring's
 * consumer counter is a copy for user space, never read back.
 */
struct hmmnic_rq {
	spinlock_t lock;		/* kernel producers and consumers */
	struct hmmnic_queue queue;
	u32 cons;			/* next WQE to take; under @lock */
	u32 max_sge;
	bool user;			/* user space writes the producer */
};

struct hmmnic_srq {
	struct ib_srq ibsrq;
	struct hmmnic_rq rq;
	u32 limit;			/* armed limit, 0 when disarmed */
};

/* Per send WQE state the requester and completer keep (kernel only). */
struct hmmnic_swqe_state {
	u32 first_psn;
	u32 npkts;		/* PSNs the WQE consumes */
	u64 length;		/* bytes of the message */
	bool started;
	u8 status;		/* enum ib_wc_status it failed with, or 0 */
};

/* Transient failures in a row of one stage of a QP (hmmnic_busy_retry()) */
struct hmmnic_busy {
	u32 tries;
	unsigned long until;	/* jiffies: no new try before */
	unsigned long deadline;	/* jiffies: give up after */
};

/*
 * A queue pair. All transport state is owned by a run of the QP's worker
 * (worker.c: the work item, the doorbell or an inline run), which holds
 * @mutex, as modify_qp does. The receive path queues packets on @rxq and
 * @ackq and schedules the worker (or runs it inline, worker.c);
 * destroy_qp takes the QP out of the lookup, waits for its references,
 * stops its timers and cancels the work item before it frees anything.
 */
struct hmmnic_qp {
	struct ib_qp ibqp;
	struct hmmnic_dev *hdev;
	refcount_t ref;
	struct completion done;
	struct mutex mutex;		/* the worker vs. modify/query */
	/* this run is the doorbell's, in the poster's context (mutex) */
	bool in_doorbell;
	/*
	 * The task in hmmnic_qp_run() (written under mutex), and whether a
	 * packet reached this QP from inside that run (hmmnic_rcv()).
	 */
	struct task_struct *runner;
	bool rerun;
	struct work_struct work;
	struct sk_buff_head rxq;	/* requests, for the responder */
	struct sk_buff_head ackq;	/* responses, for the completer */
	struct timer_list retry_timer;
	struct timer_list rnr_timer;
	struct timer_list tx_timer;	/* the netdev queue was full */
	bool dying;
	bool user;

	/* attributes (modify_qp) */
	enum ib_qp_state state;
	struct ib_qp_attr attr;
	struct hmmnic_av av;
	u32 mtu;			/* path MTU in bytes */
	__be16 sport;			/* UDP source port of the flow */
	u32 max_inline;
	u32 max_send_sge;

	/* send queue */
	spinlock_t sq_lock;		/* kernel post_send */
	struct hmmnic_queue sq;
	void *sq_shadow;		/* private copies of fetched WQEs */
	struct hmmnic_swqe_state *sq_state;
	struct hmmnic_cq *scq;
	struct hmmnic_rq *rq;		/* &own_rq or the SRQ's */
	struct hmmnic_rq own_rq;
	struct hmmnic_srq *srq;
	struct hmmnic_cq *rcq;
	bool sq_sig_all;

	struct {
		u32 fetched;		/* next WQE to copy from the ring */
		u32 cur;		/* WQE being transmitted */
		u32 cur_pkt;		/* next packet of WQE cur */
		u32 tail;		/* oldest WQE not completed */
		u32 psn;		/* next PSN to send */
		u32 una;		/* oldest PSN not acknowledged */
		u32 max_psn;		/* beyond the highest PSN ever sent */
		u32 rd_atomic;		/* READ/ATOMIC outstanding */
		u32 retry_left;
		u32 rnr_left;
		struct hmmnic_busy busy;	/* a packet that must wait */
		struct hmmnic_busy place;	/* a response not placed */
		bool rnr_wait;		/* waiting for the RNR timer */
		bool need_retry;	/* timer fired: go back N */
		bool gap_valid;		/* went back to gap_psn already */
		u32 gap_psn;
		unsigned long gap_time;	/* jiffies, when it did */
		bool drained;		/* SQD event raised */
	} req;

	struct {
		u32 psn;		/* expected PSN */
		u32 msn;
		bool nak_sent;		/* sequence NAK sent for this gap */
		bool ack_pending;
		u8 ack_syndrome;
		/* a SEND or WRITE in progress */
		bool in_send;
		bool in_write;
		bool have_wqe;
		struct hmmnic_recv_wqe *wqe;	/* private copy */
		u64 offset;
		u64 write_va;
		u32 write_rkey;
		u32 write_left;
		u32 write_len;
		/* READ/ATOMIC responder resources */
		struct hmmnic_res *res;
		u32 res_head;
		/* a READ being answered */
		struct hmmnic_res *reading;
		struct hmmnic_busy busy;	/* a response that must wait */
	} resp;
};

/* One READ or ATOMIC a responder executed, kept for duplicates. */
struct hmmnic_res {
	u8 opcode;
	bool valid;
	bool dup;		/* READ answered again for a duplicate */
	u32 first_psn;
	u32 last_psn;
	/* READ: what is left to send */
	u64 va;
	u32 rkey;
	u32 length;
	u32 next_psn;
	/* ATOMIC: the original value */
	u64 atomic_orig;
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

static inline struct hmmnic_qp *to_hqp(struct ib_qp *ibqp)
{
	return container_of(ibqp, struct hmmnic_qp, ibqp);
}

static inline struct hmmnic_mr *to_hmr(struct ib_mr *ibmr)
{
	return container_of(ibmr, struct hmmnic_mr, ibmr);
}

static inline struct hmmnic_ah *to_hah(struct ib_ah *ibah)
{
	return container_of(ibah, struct hmmnic_ah, ibah);
}

static inline struct hmmnic_srq *to_hsrq(struct ib_srq *ibsrq)
{
	return container_of(ibsrq, struct hmmnic_srq, ibsrq);
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

static inline u32 hmmnic_ud_mtu(struct hmmnic_qp *qp)
{
	enum ib_mtu mtu = iboe_get_mtu(READ_ONCE(qp->hdev->ndev->mtu));

	return mtu ? ib_mtu_enum_to_int(mtu) : 256;
}

/*
 * Take one object of a kind whose per-device number is advertised
 * (@count is one of hdev->num_*, @max its HMMNIC_MAX_*): -ENOMEM beyond
 * it. Every object so taken is given back with hmmnic_obj_put().
 */
static inline int hmmnic_obj_get(atomic_t *count, int max)
{
	if (atomic_inc_return(count) > max) {
		atomic_dec(count);
		return -ENOMEM;
	}
	return 0;
}

static inline void hmmnic_obj_put(atomic_t *count)
{
	atomic_dec(count);
}

#endif /* HMMNIC_H */
