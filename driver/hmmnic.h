/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic: a soft RoCEv2 RDMA NIC whose memory registration is on-demand
 * paging built on HMM. Shared definitions of the driver.
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

#include "pkt.h"
#include "stats.h"

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

/*
 * Where the READ request that covers response @idx of a READ WQE of
 * @npkts responses ends: requests split the WQE at multiples of
 * HMMNIC_READ_REQ_PKTS from its first response, and one sent again from
 * the middle (after a loss) ends where the first one did.
 */
static_assert(!(HMMNIC_READ_REQ_PKTS & (HMMNIC_READ_REQ_PKTS - 1)) &&
	      HMMNIC_READ_REQ_PKTS <= HMMNIC_READ_MAX_PKTS);

static inline u32 hmmnic_read_req_end(u32 npkts, u32 idx)
{
	return min_t(u32, npkts, round_down(idx, HMMNIC_READ_REQ_PKTS) +
			 HMMNIC_READ_REQ_PKTS);
}

/* A page the staging policy wants in the pool: page @idx of span @odp. */
struct hmmnic_stage_req {
	struct hmmnic_odp *odp;		/* holds an MR reference and a user */
	unsigned long idx;
};

/* Stage requests a device queues at most; more are dropped. */
#define HMMNIC_STAGE_QUEUE	4096
/* Pages one staging or eviction batch moves at most. */
#define HMMNIC_STAGE_MAX_BATCH	512

/**
 * struct hmmnic_pool - the device's NIC-private memory (pool.c)
 * @lock: guards the page lists, the counts and the chunk list; taken
 *        with interrupts off, since page_free may run in any context
 * @free: struct hmmnic_pool_page entries of free device pages
 * @clock: entries of used device pages, in CLOCK order
 * @chunks: struct hmmnic_pool_chunk, in creation order
 * @nr_pages: device pages in @chunks
 * @nr_used: device pages in use (staged)
 * @limit: pool size in pages; the pool grows in chunks up to it
 * @grow_lock: serializes adding chunks
 * @qlock: guards the stage queue; taken inside odp->lock
 * @queue, @q_head, @q_len: the stage requests, a ring
 * @stage_work: the worker that stages queued pages and evicts; it runs
 *              a jiffy after the first request, or at once when a batch
 *              is queued, so that requests gather into long runs
 * @src, @dst: the worker's migrate_vma arrays
 * @reqs: the worker's private copy of a batch of requests
 * @dying: teardown has begun; nothing is queued any more
 * @staging, @threshold, @window_ms, @batch: the staging policy knobs
 * @hold: requests wait in the queue until it is cleared (for measuring
 *        the worker alone, with no traffic running)
 * @delay_ms: fault injection for tests: the worker waits this long
 *            between copying a run of pages and migrating it
 * @pin: fault injection for tests: the worker holds a reference on each
 *       source page of a run meanwhile, so the kernel refuses to migrate
 *       it
 * @debugfs: the device's debugfs directory
 */
struct hmmnic_pool {
	struct hmmnic_dev *hdev;
	spinlock_t lock;		/* see above */
	struct list_head free;
	struct list_head clock;
	struct list_head chunks;
	unsigned long nr_pages;
	unsigned long nr_used;
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
	struct dentry *debugfs;
};

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

static inline struct hmmnic_queue_hdr *hmmnic_queue_hdr(struct hmmnic_queue *q)
{
	return q->buf;
}

static inline void *hmmnic_queue_slot(struct hmmnic_queue *q, u32 index)
{
	return q->buf + HMMNIC_QUEUE_SLOTS_OFFSET +
	       (size_t)(index & (q->num_slots - 1)) * q->slot_size;
}

/**
 * struct hmmnic_cq - a completion queue
 * @lock: serializes producers, kernel pollers, arming and resize
 * @queue: the ring of struct hmmnic_cqe
 * @notify: armed notification (IB_CQ_SOLICITED or IB_CQ_NEXT_COMP), or 0
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

/* Implicit ODP regions grow children of this size, naturally aligned. */
#define HMMNIC_IMPLICIT_SHIFT	21
#define HMMNIC_IMPLICIT_SPAN	BIT(HMMNIC_IMPLICIT_SHIFT)

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
 * @umem: the pinned user memory; NULL for ODP and for a DMA MR of a
 *        kernel user, whose iova is a kernel virtual address
 * @pages: the page behind each PAGE_SIZE step of the region, from @umem
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

static inline u32 hmmnic_trace_lkey(const struct hmmnic_mr *mr)
{
	return READ_ONCE(mr->key);
}

/*
 * IB_WR_REG_MR in a kernel QP's send queue (user space cannot post it):
 * rkey holds the new key (reg_wr.key) and compare_add the access flags.
 * The key's index names the MR, which must belong to the QP's PD.
 */
#define HMMNIC_WR_REG_MR	IB_WR_REG_MR

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

/**
 * struct hmmnic_qp - a queue pair
 *
 * All transport state is owned by the QP's work item (@work), which runs
 * in process context and never concurrently with itself; @mutex
 * serializes it with modify_qp and destroy_qp. The receive path only
 * queues packets on @rxq and schedules @work.
 */
/* Transient failures in a row of one stage of a QP (hmmnic_busy_retry()) */
struct hmmnic_busy {
	u32 tries;
	unsigned long until;	/* jiffies: no new try before */
	unsigned long deadline;	/* jiffies: give up after */
};

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

/* Count one more object against an advertised per-device limit. */
static inline int hmmnic_count_obj(atomic_t *count, int max)
{
	if (atomic_inc_return(count) > max) {
		atomic_dec(count);
		return -ENOMEM;
	}
	return 0;
}

/* main.c */
struct hmmnic_dev *hmmnic_get_by_netdev(struct net_device *ndev);
void hmmnic_dealloc_driver(struct ib_device *ibdev);
void hmmnic_port_event(struct hmmnic_dev *hdev);

/* verbs.c */
int hmmnic_register(struct hmmnic_dev *hdev, const char *name);

/* cq.c */
int hmmnic_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		     struct uverbs_attr_bundle *attrs);
int hmmnic_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int hmmnic_cq_post(struct hmmnic_cq *cq, struct hmmnic_cqe *cqe,
		   struct hmmnic_qp *qp, bool solicited);
int hmmnic_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
int hmmnic_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
int hmmnic_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);

/* mr.c: the MR access layer */

/* HMMNIC_OP_CMP_SWAP or HMMNIC_OP_FETCH_ADD on @target; the old value */
static inline u64 hmmnic_atomic_apply(atomic64_t *target, u8 op, u64 cmp_add,
				      u64 swap)
{
	if (op == HMMNIC_OP_CMP_SWAP)
		return atomic64_cmpxchg(target, cmp_add, swap);
	return atomic64_fetch_add(cmp_add, target);
}

struct hmmnic_mr *hmmnic_mr_get(struct hmmnic_dev *hdev, u32 key);
void hmmnic_mr_put(struct hmmnic_mr *mr);
bool hmmnic_mr_check(struct hmmnic_mr *mr, struct ib_pd *pd, u64 iova,
		     u64 len, int access);
int hmmnic_mr_copy(struct hmmnic_mr *mr, u64 iova, void *buf, u64 len,
		   bool to_mr);
int hmmnic_mr_atomic(struct hmmnic_mr *mr, u64 iova, u8 op, u64 cmp_add,
		     u64 swap, u64 *orig);
int hmmnic_sge_copy(struct hmmnic_qp *qp, const struct hmmnic_sge *sge,
		    u32 num_sge, u64 offset, void *buf, u64 len, bool to_sge);

/* The completion status of a failed hmmnic_sge_copy(). */
static inline enum ib_wc_status hmmnic_sge_status(int err)
{
	return err == -EMSGSIZE ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
}

/*
 * An access to registered memory that may succeed if tried again: an ODP
 * fault that invalidations kept beating (-EBUSY) or that had no memory.
 */
static inline bool hmmnic_err_transient(int err)
{
	return err == -EBUSY || err == -ENOMEM;
}

struct ib_mr *hmmnic_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				 u64 iova, int access, struct ib_udata *udata);
struct ib_mr *hmmnic_get_dma_mr(struct ib_pd *ibpd, int access);
struct ib_mr *hmmnic_alloc_mr(struct ib_pd *ibpd, enum ib_mr_type type,
			      u32 max_num_sg);
int hmmnic_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		     unsigned int *sg_offset);
enum ib_wc_status hmmnic_mr_fast_reg(struct hmmnic_qp *qp, u32 key,
				     int access);
int hmmnic_mr_invalidate(struct hmmnic_qp *qp, u32 key);
int hmmnic_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);

bool hmmnic_mr_resident(struct hmmnic_mr *mr, u64 iova, u64 len, bool write);
bool hmmnic_sge_resident(struct hmmnic_qp *qp, const struct hmmnic_sge *sge,
			 u32 num_sge, u64 offset, u64 len);
int hmmnic_advise_mr(struct ib_pd *ibpd,
		     enum ib_uverbs_advise_mr_advice advice, u32 flags,
		     struct ib_sge *sg_list, u32 num_sge,
		     struct uverbs_attr_bundle *attrs);
int hmmnic_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);
int hmmnic_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);

/* odp.c: on-demand paging (the ODP half of the MR access layer) */
enum hmmnic_fault_mode {
	HMMNIC_FAULT_SYNC,
	HMMNIC_FAULT_RNR,
};

extern int hmmnic_fault_mode;

/* How to prefetch (hmmnic_odp_prefetch()) */
#define HMMNIC_ADVISE_WRITE	BIT(0)
#define HMMNIC_ADVISE_NO_FAULT	BIT(1)
#define HMMNIC_ADVISE_RNR	BIT(2)

int hmmnic_odp_init(struct hmmnic_mr *mr, u64 start, u64 length);
void hmmnic_odp_release(struct hmmnic_mr *mr);
int hmmnic_odp_copy(struct hmmnic_mr *mr, u64 iova, void *buf, u64 len,
		    bool to_mr);
int hmmnic_odp_atomic(struct hmmnic_mr *mr, u64 iova, u8 op, u64 cmp_add,
		      u64 swap, u64 *orig);
bool hmmnic_odp_resident(struct hmmnic_mr *mr, u64 iova, u64 len,
			 bool write);
int hmmnic_odp_prefetch(struct hmmnic_mr *mr, u64 iova, u64 len, int how);
void hmmnic_odp_advise_async(struct hmmnic_mr *mr, u64 iova, u64 len,
			     int how);

void hmmnic_odp_debugfs(struct dentry *root);
void hmmnic_odp_span_hold(struct hmmnic_odp *odp);
void hmmnic_odp_span_put(struct hmmnic_mr *mr, struct hmmnic_odp *odp);

/* pool.c: the NIC-private memory pool */
int hmmnic_pool_init(struct hmmnic_dev *hdev);
void hmmnic_pool_debugfs_add(struct hmmnic_dev *hdev);
void hmmnic_pool_destroy(struct hmmnic_dev *hdev);
struct page *hmmnic_pool_backing(struct hmmnic_dev *hdev, struct page *page);
void hmmnic_pool_heat(struct hmmnic_odp *odp, unsigned long idx);
void hmmnic_pool_forget(struct hmmnic_mr *mr);
void hmmnic_pool_stats(struct hmmnic_dev *hdev, u64 *used, u64 *free);
int hmmnic_debugfs_init(void);
void hmmnic_debugfs_exit(void);

/* qp.c */
extern struct workqueue_struct *hmmnic_wq;
void hmmnic_qp_sched(struct hmmnic_qp *qp);
struct hmmnic_qp *hmmnic_qp_get(struct hmmnic_dev *hdev, u32 qpn);
void hmmnic_qp_put(struct hmmnic_qp *qp);
void hmmnic_qp_event(struct hmmnic_qp *qp, enum ib_event_type type);
void hmmnic_qp_error(struct hmmnic_qp *qp, bool fatal);
void hmmnic_qp_drain(struct hmmnic_qp *qp);
int hmmnic_rq_get(struct hmmnic_rq *rq, struct hmmnic_recv_wqe *wqe);
void hmmnic_srq_check_limit(struct hmmnic_srq *srq);
int hmmnic_av_init(struct hmmnic_dev *hdev, struct hmmnic_av *av,
		   const struct rdma_ah_attr *attr);
int hmmnic_ah_lookup(struct hmmnic_dev *hdev, u32 ah_num, struct ib_pd *pd,
		     struct hmmnic_av *av);
int hmmnic_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		     struct ib_udata *udata);
int hmmnic_destroy_ah(struct ib_ah *ibah, u32 flags);
int hmmnic_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		     struct ib_udata *udata);
int hmmnic_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int hmmnic_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_udata *udata);
int hmmnic_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		    struct ib_qp_init_attr *init);
int hmmnic_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		     const struct ib_send_wr **bad_wr);
int hmmnic_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		     const struct ib_recv_wr **bad_wr);
int hmmnic_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		      struct ib_udata *udata);
int hmmnic_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		      enum ib_srq_attr_mask mask, struct ib_udata *udata);
int hmmnic_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int hmmnic_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int hmmnic_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			 const struct ib_recv_wr **bad_wr);

/* net.c */
int hmmnic_net_register(void);
void hmmnic_net_unregister(void);
int hmmnic_net_get(struct net *net);
void hmmnic_net_put(struct net *net);
unsigned int hmmnic_headroom(struct hmmnic_dev *hdev);
bool hmmnic_addr_is_local(const struct hmmnic_av *av);
bool hmmnic_tx_busy(const struct hmmnic_av *av);
void hmmnic_qp_tx_wait(struct hmmnic_qp *qp);
bool hmmnic_busy_retry(struct hmmnic_qp *qp, struct hmmnic_busy *busy);
bool hmmnic_busy_waiting(struct hmmnic_qp *qp, struct hmmnic_busy *busy);

int hmmnic_xmit(struct hmmnic_dev *hdev, const struct hmmnic_av *av,
		__be16 sport, struct sk_buff *skb, bool may_inline);
void hmmnic_rcv(struct hmmnic_dev *hdev, struct sk_buff *skb,
		bool may_inline);

/* req.c: the requester and the QP worker */
struct sk_buff *hmmnic_pkt_new(struct hmmnic_qp *qp, u8 opcode, u32 paylen,
			       u32 psn, bool ackreq, u32 dest_qpn);
bool hmmnic_req_complete(struct hmmnic_qp *qp, enum ib_wc_status status);
bool hmmnic_req_step(struct hmmnic_qp *qp);
void hmmnic_req_rewind(struct hmmnic_qp *qp, u32 psn);
unsigned long hmmnic_req_ack_timeout(struct hmmnic_qp *qp);
void hmmnic_req_arm_timer(struct hmmnic_qp *qp);
void hmmnic_qp_work(struct work_struct *work);
void hmmnic_qp_doorbell(struct hmmnic_qp *qp);
void hmmnic_qp_run_inline(struct hmmnic_qp *qp);

/* comp.c */
void hmmnic_comp_rcv(struct hmmnic_qp *qp, struct sk_buff *skb);
void hmmnic_comp_timeout(struct hmmnic_qp *qp);

/* resp.c */
void hmmnic_resp_rcv(struct hmmnic_qp *qp, struct sk_buff *skb);
bool hmmnic_resp_take_dup(struct hmmnic_qp *qp);
bool hmmnic_resp_read_step(struct hmmnic_qp *qp);
void hmmnic_resp_send_ack(struct hmmnic_qp *qp);

/* stats.c */
struct rdma_hw_stats *hmmnic_alloc_hw_port_stats(struct ib_device *ibdev,
						 u32 port);
int hmmnic_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
			u32 port, int index);

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
