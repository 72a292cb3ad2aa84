// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic on-demand paging: the HMM mirror behind ODP memory regions.
 *
 * An ODP region pins nothing. Each span of it (the whole region for an
 * explicit ODP MR, one HMMNIC_IMPLICIT_SPAN for each child of an implicit
 * one) keeps a table of HMM pfns and an mmu_interval_notifier over its
 * virtual range:
 *
 * - The data path looks a page up under odp->lock and copies while it
 *   still holds the lock. A missing page (or a read-only one for a write)
 *   is faulted in with hmm_range_fault() in process context, outside the
 *   lock, under the mmu_interval_read_begin()/read_retry() protocol; the
 *   new pfns are stored only if no invalidation ran in between. A page
 *   the NIC writes is marked dirty before the lock is dropped.
 * - The invalidate callback takes odp->lock, bumps the notifier sequence
 *   and clears the pfns of the range. Since every access holds the lock
 *   while it touches the page, the kernel never frees or moves a page
 *   that the data path is still copying.
 *
 * Faults are driven here rather than through ib_umem_odp so that
 * hmm_range_fault() runs with our dev_private_owner: pages staged in the
 * device's pool stay there, and the mirror holds their device-private
 * pfns (pool.c). The data path feeds the pool's staging policy.
 */
#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
/* last: before 6.2 it needs the types the others bring */
#include <linux/fault-inject.h>

#include "hmmnic.h"
#include "odp.h"
#include "pool.h"
#include "trace.h"

/* Pages one hmm_range_fault() call covers at most. */
#define HMMNIC_FAULT_BATCH	512
/* Attempts at an access that keeps losing its pages to invalidations. */
#define HMMNIC_ODP_RETRIES	100
/*
 * How long the data path tries to fault a page that invalidations keep
 * taking away before it answers "not now" (-EBUSY), and an RNR NAK or a
 * later try does the waiting. Not shorter than prefetch's: a fault's own
 * COW breaks invalidate its range, so a batch of fresh pages on a slow
 * machine takes many walks that all make progress (50 ms failed first
 * WRITEs into untouched memory under TCG). The QP worker sends nothing
 * meanwhile: the rnr fault mode is for requesters whose ACK timeout is
 * shorter than that.
 */
#define HMMNIC_FAULT_BUSY_MS	HMM_RANGE_DEFAULT_TIMEOUT

static const char * const hmmnic_fault_mode_names[] = {
	[HMMNIC_FAULT_SYNC] = "sync",
	[HMMNIC_FAULT_RNR] = "rnr",
};

int hmmnic_fault_mode = HMMNIC_FAULT_SYNC;

static int hmmnic_fault_mode_set(const char *val, const struct kernel_param *kp)
{
	int mode = sysfs_match_string(hmmnic_fault_mode_names, val);

	if (mode < 0)
		return -EINVAL;
	WRITE_ONCE(hmmnic_fault_mode, mode);
	return 0;
}

static int hmmnic_fault_mode_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  hmmnic_fault_mode_names[READ_ONCE(hmmnic_fault_mode)]);
}

static const struct kernel_param_ops hmmnic_fault_mode_ops = {
	.set = hmmnic_fault_mode_set,
	.get = hmmnic_fault_mode_get,
};

module_param_cb(fault_mode, &hmmnic_fault_mode_ops, NULL, 0644);
MODULE_PARM_DESC(fault_mode,
		 "ODP responder faults: sync (fault in the QP worker) or rnr (answer RNR NAK, fault asynchronously)");

/*
 * Fault injection for tests, with the kernel's own knobs (probability,
 * times, interval, task-filter: Documentation/fault-injection) in
 * debugfs hmmnic/fail_odp_fault: an ODP fault that fires fails with
 * -EBUSY at once, as one does whose range invalidations kept taking away
 * for its whole time budget. Callers must treat that as "not now".
 */
#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
static DECLARE_FAULT_ATTR(hmmnic_fail_odp_fault);

void hmmnic_odp_debugfs(struct dentry *root)
{
	fault_create_debugfs_attr("fail_odp_fault", root,
				  &hmmnic_fail_odp_fault);
}

static bool hmmnic_odp_should_fail(unsigned long npages)
{
	return should_fail(&hmmnic_fail_odp_fault, npages << PAGE_SHIFT);
}
#else
void hmmnic_odp_debugfs(struct dentry *root)
{
}

static bool hmmnic_odp_should_fail(unsigned long npages)
{
	return false;
}
#endif

/* The pgmap owner of @hdev's device-private pages. */
static void *hmmnic_odp_owner(struct hmmnic_dev *hdev)
{
	return hdev;
}

static void hmmnic_odp_stat(struct hmmnic_mr *mr, enum hmmnic_odp_counter c,
			    u64 n)
{
	static const enum hmmnic_counter port[] = {
		[HMMNIC_ODP_FAULTS] = HMMNIC_CNT_PAGE_FAULTS,
		[HMMNIC_ODP_FAULTS_HANDLED] = HMMNIC_CNT_PAGE_FAULTS_HANDLED,
		[HMMNIC_ODP_INVALIDATIONS] = HMMNIC_CNT_PAGE_INVALIDATIONS,
		[HMMNIC_ODP_INVALIDATIONS_HANDLED] =
			HMMNIC_CNT_PAGE_INVALIDATIONS_HANDLED,
		[HMMNIC_ODP_PREFETCH] = HMMNIC_CNT_PAGE_PREFETCH,
		[HMMNIC_ODP_FAULT_ERRORS] = HMMNIC_CNT_PAGE_FAULT_ERRORS,
		[HMMNIC_ODP_RNR_NAKS] = HMMNIC_CNT_PAGE_FAULT_RNR_NAKS,
	};

	atomic64_add(n, &mr->odp_stats[c]);
	hmmnic_stat_add(&mr->hdev->stats, port[c], n);
}

/* ---- spans and their notifiers ---- */

static bool hmmnic_odp_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct hmmnic_odp *odp = container_of(mni, struct hmmnic_odp, notifier);
	unsigned long end = odp->start + (odp->npages << PAGE_SHIFT);
	unsigned long first, last, i, n = 0;

	first = (max(range->start, odp->start) - odp->start) >> PAGE_SHIFT;
	last = (min(range->end, end) - odp->start + PAGE_SIZE - 1) >>
	       PAGE_SHIFT;

	/* A spinlock, so that non-blockable invalidations need no trylock */
	spin_lock(&odp->lock);
	mmu_interval_set_seq(mni, cur_seq);
	/*
	 * Staging pages of this span into the pool: the pool's worker moves
	 * the mirror to each device page itself, under this lock (pool.c).
	 * The sequence still moves, so that a racing fault stores nothing.
	 */
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == odp) {
		spin_unlock(&odp->lock);
		return true;
	}
	for (i = first; i < last; i++) {
		if (odp->pfns[i] & HMM_PFN_VALID)
			n++;
		odp->pfns[i] = 0;
		odp->heat[i] &= HMMNIC_HEAT_QUEUED;
	}
	odp->npresent -= n;
	spin_unlock(&odp->lock);

	trace_hmmnic_odp_invalidate(odp->mr, odp->start + (first << PAGE_SHIFT),
				    last - first, n, range->event);
	hmmnic_odp_stat(odp->mr, HMMNIC_ODP_INVALIDATIONS, n);
	hmmnic_odp_stat(odp->mr, HMMNIC_ODP_INVALIDATIONS_HANDLED, 1);
	/* An implicit child that lost its last page goes away. */
	if (n && odp != odp->mr->odp && !READ_ONCE(odp->npresent))
		queue_work(hmmnic_workqueue, &odp->mr->odp_reap);
	return true;
}

static const struct mmu_interval_notifier_ops hmmnic_odp_ops = {
	.invalidate = hmmnic_odp_invalidate,
};

static struct hmmnic_odp *hmmnic_odp_alloc(struct hmmnic_mr *mr,
					   unsigned long start,
					   unsigned long npages)
{
	struct hmmnic_odp *odp;
	int err;

	odp = kzalloc(sizeof(*odp), GFP_KERNEL);
	if (!odp)
		return ERR_PTR(-ENOMEM);
	/* charged to the registering process's memory cgroup */
	odp->pfns = kvcalloc(npages, sizeof(*odp->pfns), GFP_KERNEL_ACCOUNT);
	odp->heat = kvcalloc(npages, sizeof(*odp->heat), GFP_KERNEL_ACCOUNT);
	if (!odp->pfns || !odp->heat) {
		err = -ENOMEM;
		goto err_pfns;
	}
	spin_lock_init(&odp->lock);
	odp->mr = mr;
	odp->start = start;
	odp->npages = npages;

	/* The owner may be exiting; its mm is only held, not used. */
	if (!mmget_not_zero(mr->mm)) {
		err = -EFAULT;
		goto err_pfns;
	}
	err = mmu_interval_notifier_insert(&odp->notifier, mr->mm, start,
					   npages << PAGE_SHIFT,
					   &hmmnic_odp_ops);
	mmput(mr->mm);
	if (err)
		goto err_pfns;
	return odp;

err_pfns:
	kvfree(odp->pfns);
	kvfree(odp->heat);
	kfree(odp);
	return ERR_PTR(err);
}

static void hmmnic_odp_free(struct hmmnic_odp *odp)
{
	mmu_interval_notifier_remove(&odp->notifier);
	kvfree(odp->pfns);
	kvfree(odp->heat);
	kfree(odp);
}

/* The implicit child that covers @va, created if needed; with a user. */
static struct hmmnic_odp *hmmnic_odp_child_get(struct hmmnic_mr *mr,
					       unsigned long va)
{
	unsigned long index = va >> HMMNIC_IMPLICIT_SHIFT;
	struct hmmnic_odp *odp;
	int err;

	mutex_lock(&mr->odp_lock);
	odp = xa_load(&mr->odp_children, index);
	if (!odp) {
		odp = hmmnic_odp_alloc(mr, index << HMMNIC_IMPLICIT_SHIFT,
				       HMMNIC_IMPLICIT_SPAN >> PAGE_SHIFT);
		if (IS_ERR(odp))
			goto out;
		err = xa_err(xa_store(&mr->odp_children, index, odp,
				      GFP_KERNEL));
		if (err) {
			hmmnic_odp_free(odp);
			odp = ERR_PTR(err);
			goto out;
		}
		atomic_inc(&mr->odp_nchildren);
	}
	atomic_inc(&odp->users);
out:
	mutex_unlock(&mr->odp_lock);
	return odp;
}

/* Drop a user of a span; a child with no user and no page is reaped. */
static void hmmnic_odp_span_put(struct hmmnic_mr *mr, struct hmmnic_odp *odp)
{
	bool empty;

	if (odp == mr->odp)
		return;
	/* Before the put: once it is done, the reaper may free the child. */
	empty = !READ_ONCE(odp->npresent);
	if (atomic_dec_and_test(&odp->users) && empty)
		queue_work(hmmnic_workqueue, &mr->odp_reap);
}

/*
 * A stage request (pool.c) holds the region and, for an implicit child,
 * a user of the span, so that neither goes away while the request waits
 * in the pool's queue or its worker migrates the page.
 */
static void hmmnic_odp_stage_hold(struct hmmnic_odp *odp)
{
	lockdep_assert_held(&odp->lock);
	refcount_inc(&odp->mr->ref);
	if (odp != odp->mr->odp)
		atomic_inc(&odp->users);
}

static void hmmnic_odp_stage_put(struct hmmnic_odp *odp)
{
	struct hmmnic_mr *mr = odp->mr;

	hmmnic_odp_span_put(mr, odp);
	hmmnic_mr_put(mr);
}

const struct hmmnic_stage_ops hmmnic_odp_stage_ops = {
	.hold = hmmnic_odp_stage_hold,
	.put = hmmnic_odp_stage_put,
};

/* The span of @mr that holds @va, with a user if it is a child. */
static struct hmmnic_odp *hmmnic_odp_span_get(struct hmmnic_mr *mr,
					      unsigned long va)
{
	if (mr->odp)
		return mr->odp;
	return hmmnic_odp_child_get(mr, va);
}

/* Free the implicit children that hold no page and have no user. */
static void hmmnic_odp_reap(struct work_struct *work)
{
	struct hmmnic_mr *mr = container_of(work, struct hmmnic_mr, odp_reap);
	struct hmmnic_odp *odp;
	unsigned long index;

	mutex_lock(&mr->odp_lock);
	xa_for_each(&mr->odp_children, index, odp) {
		if (atomic_read(&odp->users) || READ_ONCE(odp->npresent))
			continue;
		xa_erase(&mr->odp_children, index);
		atomic_dec(&mr->odp_nchildren);
		hmmnic_odp_free(odp);
	}
	mutex_unlock(&mr->odp_lock);
}

/* ---- faults ---- */

/* A page of our pool (the only device pages we get back), read-only. */
static bool hmmnic_odp_ro_staged(unsigned long pfn)
{
	return (pfn & HMM_PFN_VALID) && !(pfn & HMM_PFN_WRITE) &&
	       is_device_private_page(hmm_pfn_to_page(pfn));
}

/*
 * A write was asked for, and @range came back with pages of our pool that
 * are mapped read-only (after fork(), or staged from a read-only PTE):
 * hmm_range_fault() reports those without faulting. Fault each of them,
 * one page at a time, as a foreign device would (no dev_private_owner),
 * which brings it back to system memory through migrate_to_ram() for every
 * process that maps it; the caller's next pass then write-faults the
 * system page, which breaks COW. One page at a time, because
 * hmm_range_fault() faults from the first page that needs it to the end
 * of the walk, and the writable staged pages behind it should stay.
 * Nothing is stored: the -EBUSY that the migration's invalidation causes
 * is expected. Any other error ends the fault: -EPERM above all, for a
 * page whose mapping is no longer writable (mprotect() makes a staged
 * page's entry read-only too), which no number of tries would change.
 *
 * Return: 1 when there were any, 0 when there were none, or an error.
 */
static int hmmnic_odp_unstage_ro(struct hmmnic_odp *odp,
				 struct hmm_range *range,
				 unsigned long npages)
{
	struct mm_struct *mm = odp->mr->mm;
	unsigned long i, pfn;
	int any = 0, err;

	for (i = 0; i < npages; i++) {
		struct hmm_range one = {
			.notifier = range->notifier,
			.start = range->start + (i << PAGE_SHIFT),
			.end = range->start + ((i + 1) << PAGE_SHIFT),
			.hmm_pfns = &pfn,
			.default_flags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
		};

		if (!hmmnic_odp_ro_staged(range->hmm_pfns[i]))
			continue;
		any = 1;
		pfn = 0;
		one.notifier_seq = mmu_interval_read_begin(one.notifier);
		mmap_read_lock(mm);
		err = hmm_range_fault(&one);
		mmap_read_unlock(mm);
		if (err && err != -EBUSY)
			return err;
	}
	return any;
}

#if HMMNIC_WITH_DEVICE_THP
/*
 * hmm_range_fault() of 7.3 (Debian's 7.3.4, at least) fills the entries of
 * a device-private THP mapped by a PMD with pfns counted from the folio's
 * head at the first address of the range, not at the PMD's: a range that
 * starts inside the THP gets pages from the wrong offset (seen: a READ
 * at page 64 of a staged THP returned page 0's bytes). The pool's THPs
 * are naturally aligned in pfn space (a whole chunk each), so the right
 * pfn is the aligned base plus the page's index in the PMD; where the
 * kernel is right this changes nothing.
 */
static void hmmnic_odp_fix_pmd_pfns(struct hmm_range *range,
				    unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		unsigned long ent = range->hmm_pfns[i], pfn, nr;

		if (!(ent & HMM_PFN_VALID) || !hmm_pfn_to_map_order(ent) ||
		    !is_device_private_page(hmm_pfn_to_page(ent)))
			continue;
		nr = 1UL << hmm_pfn_to_map_order(ent);
		pfn = ALIGN_DOWN(ent & ~HMM_PFN_FLAGS, nr) +
		      (((range->start >> PAGE_SHIFT) + i) & (nr - 1));
		range->hmm_pfns[i] = (ent & HMM_PFN_FLAGS) | pfn;
	}
}
#else
static void hmmnic_odp_fix_pmd_pfns(struct hmm_range *range,
				    unsigned long npages)
{
}
#endif

/*
 * hmmnic_odp_fault - mirror pages [@idx, @idx + @npages) of @odp
 * @flags: HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, or 0 to take only what
 *         is present (PREFETCH_NO_FAULT)
 * @timeout: jiffies after which a fault that invalidations keep beating
 *           gives up
 *
 * Return: 0, -EFAULT for an address the process has not mapped (or an
 * owner that exited), -EPERM for a write to a read-only mapping, -EBUSY
 * when invalidations kept winning, -ENOMEM.
 */
static int hmmnic_odp_fault(struct hmmnic_odp *odp, unsigned long idx,
			    unsigned long npages, unsigned long flags,
			    unsigned long timeout)
{
	struct hmmnic_mr *mr = odp->mr;
	struct mm_struct *mm = mr->mm;
	struct hmm_range range = {
		.notifier = &odp->notifier,
		.start = odp->start + (idx << PAGE_SHIFT),
		.end = odp->start + ((idx + npages) << PAGE_SHIFT),
		.default_flags = flags,
		.dev_private_owner = hmmnic_odp_owner(mr->hdev),
	};
	unsigned long i, added = 0;
	u64 begin = ktime_get_ns();
	int unstaged = 0, late = 0, err;

	/*
	 * Zeroed: hmm_range_fault() keeps some input bits in its output
	 * (HMM_PFN_INOUT_FLAGS, 6.15), so they must start clear.
	 */
	range.hmm_pfns = kcalloc(npages, sizeof(*range.hmm_pfns), GFP_KERNEL);
	if (!range.hmm_pfns)
		return -ENOMEM;
	if (!mmget_not_zero(mm)) {
		err = -EFAULT;
		goto out_free;
	}
	trace_hmmnic_odp_fault_begin(mr, range.start, npages,
				     flags & HMM_PFN_REQ_WRITE);
	for (;;) {
		/* one more walk after the budget: the last may have been slow */
		if ((time_after(jiffies, timeout) && late++) ||
		    hmmnic_odp_should_fail(npages)) {
			err = -EBUSY;
			break;
		}
		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		mmap_read_lock(mm);
		err = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (err == -EBUSY)
			continue;
		if (err)
			break;
		hmmnic_odp_fix_pmd_pfns(&range, npages);
		/* bounded: a page staged read-only again is a new fork */
		if ((flags & HMM_PFN_REQ_WRITE) && unstaged < 2) {
			err = hmmnic_odp_unstage_ro(odp, &range, npages);
			if (err < 0)
				break;
			if (err) {
				unstaged++;
				continue;
			}
		}

		spin_lock(&odp->lock);
		if (mmu_interval_read_retry(range.notifier,
					    range.notifier_seq)) {
			spin_unlock(&odp->lock);
			continue;
		}
		for (i = 0; i < npages; i++) {
			unsigned long pfn = range.hmm_pfns[i];

			if (!(pfn & HMM_PFN_VALID))
				continue;
			if (!(odp->pfns[idx + i] & HMM_PFN_VALID))
				added++;
			odp->pfns[idx + i] = pfn;
		}
		odp->npresent += added;
		spin_unlock(&odp->lock);
		break;
	}
	mmput(mm);
	trace_hmmnic_odp_fault_end(mr, range.start, npages, added,
				   ktime_get_ns() - begin, err);
	if (err) {
		hmmnic_odp_stat(mr, HMMNIC_ODP_FAULT_ERRORS, 1);
	} else if (flags & HMM_PFN_REQ_FAULT) {
		hmmnic_odp_stat(mr, HMMNIC_ODP_FAULTS, added);
		hmmnic_odp_stat(mr, HMMNIC_ODP_FAULTS_HANDLED, 1);
	}
out_free:
	kfree(range.hmm_pfns);
	return err;
}

static bool hmmnic_odp_pfn_ok(unsigned long pfn, bool write)
{
	return (pfn & HMM_PFN_VALID) && (!write || (pfn & HMM_PFN_WRITE));
}

/*
 * The page that holds the bytes of page @idx of @odp, a valid entry: the
 * system page itself, or for a page staged in the device's pool, its
 * backing page. NULL for a device-private page that is not ours, which
 * hmm_range_fault() never returns with our owner. odp->lock held.
 */
static struct page *hmmnic_odp_data_page(struct hmmnic_odp *odp,
					 unsigned long idx, struct page *page)
{
	lockdep_assert_held(&odp->lock);
	if (is_device_private_page(page))
		return hmmnic_pool_backing(odp, page);
	hmmnic_pool_heat(odp, idx);
	return page;
}

/*
 * The NIC wrote to @page: mark it dirty, as a CPU store through the PTE
 * would. A present writable PTE is not faulted by hmm_range_fault(), so
 * nothing else tells reclaim (MADV_FREE pages, clean swap cache pages)
 * or writeback (shared file pages) that the page holds new data. For a
 * page staged in the pool this marks the device page, and migration back
 * to system memory carries the mark over.
 *
 * odp->lock is held with the entry valid, so the page is still mapped:
 * truncation and writeback must invalidate the mirror first, which waits
 * for the lock, and a folio that is dirty already needs nothing: whoever
 * cleans it invalidates the mirror before, and the next write faults.
 * An anonymous folio or a device page is marked here (swap_dirty_folio()
 * and noop_dirty_folio() only set the flag), without the folio lock, as
 * ib_umem_odp does: a mapped folio may leave the swap cache meanwhile
 * (folio_free_swap()), which marks it dirty itself. A file folio's ->dirty_folio may
 * sleep (iomap allocates its per-folio state) and wants the folio lock:
 * return it referenced, for hmmnic_odp_dirty_file() once the lock is
 * dropped. The bytes are in it by then, so a writeback that started
 * meanwhile writes them, and the late mark costs one more writeback at
 * most.
 */
static struct folio *hmmnic_odp_dirty(struct hmmnic_odp *odp,
				      struct page *page)
{
	struct folio *folio = page_folio(page);

	lockdep_assert_held(&odp->lock);
	if (folio_test_dirty(folio))
		return NULL;
	/*
	 * Only page cache folios wait: a device page of the pool (mapped or
	 * still being staged, with no mapping yet) is marked now, or a
	 * staging fixup that finds it clean would leave the bytes in a clean
	 * system page.
	 */
	if (folio_test_anon(folio) || !folio->mapping ||
	    is_zone_device_page(page)) {
		folio_mark_dirty(folio);
		return NULL;
	}
	folio_get(folio);
	return folio;
}

static void hmmnic_odp_dirty_file(struct folio *folio)
{
	might_sleep();
	folio_lock(folio);
	/* truncated meanwhile: the mark is harmless, the folio goes */
	folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
}

/*
 * Call @fn on bytes [@pg_off, @pg_off + @n) of page @idx of @odp, mapped,
 * with odp->lock held so that no invalidation can take the page away
 * meanwhile; fault the page in first if needed. @nfault: pages from @idx
 * the whole access will use, so that one fault covers them all.
 */
static int hmmnic_odp_page_do(struct hmmnic_odp *odp, unsigned long idx,
			      unsigned long nfault, bool write, u32 pg_off,
			      u32 n, void (*fn)(void *va, u32 n, void *arg),
			      void *arg)
{
	unsigned long flags = HMM_PFN_REQ_FAULT |
			      (write ? HMM_PFN_REQ_WRITE : 0);
	unsigned long timeout = jiffies +
				msecs_to_jiffies(HMMNIC_FAULT_BUSY_MS);
	struct folio *file = NULL;
	int tries, err;
	void *kva;

	for (tries = 0; tries < HMMNIC_ODP_RETRIES; tries++) {
		spin_lock(&odp->lock);
		if (hmmnic_odp_pfn_ok(odp->pfns[idx], write)) {
			struct page *page = hmm_pfn_to_page(odp->pfns[idx]);
			struct page *data = hmmnic_odp_data_page(odp, idx, page);

			if (WARN_ON_ONCE(!data)) {
				spin_unlock(&odp->lock);
				return -EFAULT;
			}
			kva = kmap_local_page(data);
			fn(kva + pg_off, n, arg);
			kunmap_local(kva);
			if (write)
				file = hmmnic_odp_dirty(odp, page);
			spin_unlock(&odp->lock);
			if (file)
				hmmnic_odp_dirty_file(file);
			return 0;
		}
		spin_unlock(&odp->lock);
		if (tries && time_after(jiffies, timeout))
			break;
		err = hmmnic_odp_fault(odp, idx,
				       min3(nfault, odp->npages - idx,
					    (unsigned long)HMMNIC_FAULT_BATCH),
				       flags, timeout);
		if (err)
			return err;
	}
	/* faulted in, and taken away again before the access each time */
	hmmnic_odp_stat(odp->mr, HMMNIC_ODP_FAULT_ERRORS, 1);
	return -EBUSY;
}

/* ---- the MR access layer's ODP half ---- */

/* User virtual address of @iova in @mr. */
static unsigned long hmmnic_odp_va(struct hmmnic_mr *mr, u64 iova)
{
	return mr->odp_va + (iova - mr->ibmr.iova);
}

/*
 * Call @fn on each page piece of [@iova, @iova + @len) with the page
 * mapped and locked against invalidation.
 */
static int hmmnic_odp_walk(struct hmmnic_mr *mr, u64 iova, u64 len,
			   bool write,
			   void (*fn)(void *va, u32 n, void *arg), void *arg)
{
	unsigned long va = hmmnic_odp_va(mr, iova);

	while (len) {
		u32 pg_off = offset_in_page(va);
		u32 n = min_t(u64, len, PAGE_SIZE - pg_off);
		struct hmmnic_odp *odp;
		unsigned long idx;
		int err;

		odp = hmmnic_odp_span_get(mr, va);
		if (IS_ERR(odp))
			return PTR_ERR(odp);
		idx = (va - odp->start) >> PAGE_SHIFT;
		err = hmmnic_odp_page_do(odp, idx,
					 DIV_ROUND_UP(pg_off + len, PAGE_SIZE),
					 write, pg_off, n, fn, arg);
		hmmnic_odp_span_put(mr, odp);
		if (err)
			return err;
		va += n;
		len -= n;
	}
	return 0;
}

struct hmmnic_odp_copy_arg {
	void *buf;
	bool to_mr;
};

static void hmmnic_odp_copy_fn(void *va, u32 n, void *arg)
{
	struct hmmnic_odp_copy_arg *c = arg;

	if (c->to_mr)
		memcpy(va, c->buf, n);
	else
		memcpy(c->buf, va, n);
	c->buf += n;
}

int hmmnic_odp_copy(struct hmmnic_mr *mr, u64 iova, void *buf, u64 len,
		    bool to_mr)
{
	struct hmmnic_odp_copy_arg c = { .buf = buf, .to_mr = to_mr };

	return hmmnic_odp_walk(mr, iova, len, to_mr, hmmnic_odp_copy_fn, &c);
}

struct hmmnic_odp_atomic_arg {
	u8 op;
	u64 cmp_add;
	u64 swap;
	u64 orig;
};

static void hmmnic_odp_atomic_fn(void *va, u32 n, void *arg)
{
	struct hmmnic_odp_atomic_arg *a = arg;

	a->orig = hmmnic_atomic_apply(va, a->op, a->cmp_add, a->swap);
}

int hmmnic_odp_atomic(struct hmmnic_mr *mr, u64 iova, u8 op, u64 cmp_add,
		      u64 swap, u64 *orig)
{
	struct hmmnic_odp_atomic_arg a = {
		.op = op, .cmp_add = cmp_add, .swap = swap,
	};
	int err;

	/* The address, not just the iova: the word stays in one page */
	if (!IS_ALIGNED(hmmnic_odp_va(mr, iova), 8))
		return -EINVAL;
	err = hmmnic_odp_walk(mr, iova, 8, true, hmmnic_odp_atomic_fn, &a);
	*orig = a.orig;
	return err;
}

/*
 * hmmnic_odp_resident - are all pages of [@iova, @iova + @len) mirrored?
 *
 * For the rnr fault mode: when they are not, start faulting them in the
 * background and return false, so that the responder can answer RNR NAK
 * and let the requester come back after its RNR timer.
 */
bool hmmnic_odp_resident(struct hmmnic_mr *mr, u64 iova, u64 len,
			 bool write)
{
	unsigned long va = hmmnic_odp_va(mr, iova);
	unsigned long end = va + len;

	/* A background fault failed: let the access fault and report it. */
	if (atomic_xchg(&mr->odp_rnr_error, 0))
		return true;
	while (va < end) {
		struct hmmnic_odp *odp;
		unsigned long idx, last;
		bool ok = true;

		odp = hmmnic_odp_span_get(mr, va);
		if (IS_ERR(odp))
			return true;	/* let the access report the error */
		idx = (va - odp->start) >> PAGE_SHIFT;
		last = min((end - 1 - odp->start) >> PAGE_SHIFT,
			   odp->npages - 1);
		spin_lock(&odp->lock);
		for (; idx <= last && ok; idx++)
			ok = hmmnic_odp_pfn_ok(odp->pfns[idx], write);
		spin_unlock(&odp->lock);
		va = odp->start + ((last + 1) << PAGE_SHIFT);
		hmmnic_odp_span_put(mr, odp);
		if (!ok) {
			hmmnic_odp_stat(mr, HMMNIC_ODP_RNR_NAKS, 1);
			hmmnic_odp_advise_async(mr, iova, len,
						HMMNIC_ADVISE_RNR |
						(write ? HMMNIC_ADVISE_WRITE : 0));
			return false;
		}
	}
	return true;
}

/* ---- prefetch ---- */

/*
 * The first readable mapping of the owner in [@va, @end): its start (or
 * @va) in *@next and its end in *@vend; *@next = @end if there is none.
 * An implicit region's NO_FAULT prefetch skips holes, PROT_NONE
 * reservations and PFN/IO mappings this way, rather than making a child
 * for each 2 MiB of them (an SGE may span 4 GiB of nothing). The walk is
 * bounded by the number of mappings. Return: 0, or -EFAULT when the owner
 * has exited.
 */
static int hmmnic_odp_next_mapped(struct hmmnic_mr *mr, unsigned long va,
				  unsigned long end, unsigned long *next,
				  unsigned long *vend)
{
	struct vm_area_struct *vma;

	if (!mmget_not_zero(mr->mm))
		return -EFAULT;
	*next = end;
	mmap_read_lock(mr->mm);
	for (vma = find_vma(mr->mm, va); vma && vma->vm_start < end;
	     vma = find_vma(mr->mm, vma->vm_end)) {
		if (!(vma->vm_flags & VM_READ) ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP)))
			continue;
		*next = max(va, vma->vm_start);
		*vend = min(end, vma->vm_end);
		break;
	}
	mmap_read_unlock(mr->mm);
	mmput(mr->mm);
	return 0;
}

/*
 * hmmnic_odp_prefetch - mirror [@iova, @iova + @len) of @mr ahead of use
 * @how: HMMNIC_ADVISE_WRITE to fault writable, HMMNIC_ADVISE_NO_FAULT to
 *       take only the pages that are present already, HMMNIC_ADVISE_RNR
 *       for the background fault after an RNR NAK (not a prefetch)
 */
int hmmnic_odp_prefetch(struct hmmnic_mr *mr, u64 iova, u64 len, int how)
{
	unsigned long flags = how & HMMNIC_ADVISE_NO_FAULT ? 0 :
			      HMM_PFN_REQ_FAULT |
			      (how & HMMNIC_ADVISE_WRITE ? HMM_PFN_REQ_WRITE : 0);
	unsigned long va = hmmnic_odp_va(mr, iova);
	unsigned long end = va + len, vend;
	bool skip = !mr->odp && (how & HMMNIC_ADVISE_NO_FAULT);
	int err = 0;

	va &= PAGE_MASK;
	vend = skip ? va : end;
	while (va < end && !err) {
		struct hmmnic_odp *odp;
		unsigned long idx, n;

		if (fatal_signal_pending(current))
			return -EINTR;
		if (skip && va >= vend) {
			err = hmmnic_odp_next_mapped(mr, va, end, &va, &vend);
			if (err || va >= end)
				break;
		}
		odp = hmmnic_odp_span_get(mr, va);
		if (IS_ERR(odp))
			return PTR_ERR(odp);
		idx = (va - odp->start) >> PAGE_SHIFT;
		n = min3(DIV_ROUND_UP(vend - va, PAGE_SIZE), odp->npages - idx,
			 (unsigned long)HMMNIC_FAULT_BATCH);
		if (!(how & HMMNIC_ADVISE_RNR))
			trace_hmmnic_odp_prefetch(mr, va, n, how);
		err = hmmnic_odp_fault(odp, idx, n, flags, jiffies +
				       msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT));
		if (!err && !(how & HMMNIC_ADVISE_RNR))
			hmmnic_odp_stat(mr, HMMNIC_ODP_PREFETCH, n);
		hmmnic_odp_span_put(mr, odp);
		va += n << PAGE_SHIFT;
	}
	return err;
}

struct hmmnic_advise_work {
	struct work_struct work;
	struct hmmnic_mr *mr;		/* holds a reference */
	u64 iova;
	u64 len;
	int how;
};

static void hmmnic_odp_advise_fn(struct work_struct *work)
{
	struct hmmnic_advise_work *w =
		container_of(work, struct hmmnic_advise_work, work);

	if (hmmnic_odp_prefetch(w->mr, w->iova, w->len, w->how) &&
	    (w->how & HMMNIC_ADVISE_RNR))
		atomic_set(&w->mr->odp_rnr_error, 1);
	hmmnic_mr_put(w->mr);
	kfree(w);
}

/*
 * Prefetch in the background. The work holds a reference on @mr, which
 * deregistration waits for, so it never outlives the MR; the module's
 * workqueue is drained before the module goes.
 */
void hmmnic_odp_advise_async(struct hmmnic_mr *mr, u64 iova, u64 len,
			     int how)
{
	struct hmmnic_advise_work *w;

	if (!refcount_inc_not_zero(&mr->ref))
		return;
	w = kmalloc(sizeof(*w), GFP_KERNEL);
	if (!w) {
		hmmnic_mr_put(mr);
		return;		/* only advice: the access faults anyway */
	}
	INIT_WORK(&w->work, hmmnic_odp_advise_fn);
	w->mr = mr;
	w->iova = iova;
	w->len = len;
	w->how = how;
	queue_work(hmmnic_workqueue, &w->work);
}

/* ---- registration ---- */

/*
 * hmmnic_odp_init - make @mr an ODP region of the calling process
 * @start, @length: its virtual range; 0 and U64_MAX for implicit ODP
 */
int hmmnic_odp_init(struct hmmnic_mr *mr, u64 start, u64 length)
{
	unsigned long first, last;

	mr->mm = current->mm;
	mmgrab(mr->mm);
	INIT_WORK(&mr->odp_reap, hmmnic_odp_reap);
	if (!start && length == U64_MAX) {
		mr->odp_implicit = true;
		mutex_init(&mr->odp_lock);
		xa_init(&mr->odp_children);
		return 0;
	}
	if (start + length < start || start + length > TASK_SIZE) {
		mmdrop(mr->mm);
		return -EINVAL;
	}
	first = start & PAGE_MASK;
	last = PAGE_ALIGN(start + length);
	mr->odp_va = start;
	mr->odp = hmmnic_odp_alloc(mr, first, (last - first) >> PAGE_SHIFT);
	if (IS_ERR(mr->odp)) {
		int err = PTR_ERR(mr->odp);

		mr->odp = NULL;
		mmdrop(mr->mm);
		return err;
	}
	return 0;
}

/* Undo hmmnic_odp_init(); no data-path access is left (hmmnic_mr_remove). */
void hmmnic_odp_release(struct hmmnic_mr *mr)
{
	struct hmmnic_odp *odp;
	unsigned long index;

	if (mr->odp) {
		hmmnic_odp_free(mr->odp);
	} else {
		/* Under the lock, so that the reaper frees nothing twice */
		mutex_lock(&mr->odp_lock);
		xa_for_each(&mr->odp_children, index, odp) {
			xa_erase(&mr->odp_children, index);
			hmmnic_odp_free(odp);
		}
		mutex_unlock(&mr->odp_lock);
		/* Nothing queues it now: no notifier and no access is left. */
		cancel_work_sync(&mr->odp_reap);
		xa_destroy(&mr->odp_children);
		mutex_destroy(&mr->odp_lock);
	}
	mmdrop(mr->mm);
}
