// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic's NIC-private memory pool: device-private pages for hot ODP pages.
 *
 * The pool is emulated NIC memory. It is made of 2 MiB chunks of
 * MEMORY_DEVICE_PRIVATE pages (memremap_pages() over a free physical
 * range), added as needed up to the pool size and given back when the
 * size goes down. Each device page has a backing page, ordinary RAM
 * allocated with its chunk, that holds its bytes; the kernel knows a
 * device page in use only as a swap-like entry in the process's page
 * table.
 *
 * - Staging: the data path counts accesses per ODP page (hmmnic_pool_heat()
 *   under the span's lock). A page that reaches the threshold within one
 *   window is queued; the worker migrates queued pages into the pool with
 *   migrate_vma_setup()/pages()/finalize() in the owning mm, in batches.
 *   Its MMU_NOTIFY_MIGRATE carries the span as owner, and the span's
 *   notifier leaves the mirror alone for it: the worker itself copies each
 *   page under the span's lock and points the mirror at the device page
 *   in the same critical section, so the data path never stops and no
 *   write is lost. A page the core did not migrate after all is copied
 *   back before the CPU can see it again.
 * - The data path: hmm_range_fault() runs with this device as
 *   dev_private_owner, so it returns the device-private pfn of a staged
 *   page without a fault, and hmmnic_pool_backing() gives the backing page
 *   (only for pages of this device's own pool).
 * - CPU access: the CPU faults on the device entry and migrate_to_ram()
 *   copies the page back into a new system page. Eviction (pool full,
 *   pool shrunk, teardown) does the same with migrate_device_range(). Both
 *   unmap the page first, and the span's notifier drops it from the
 *   mirror under its lock, so the data path never touches a page that is
 *   leaving.
 * - the free callback (hmmnic_pool_folio_free()) returns a device page to
 *   the free list when its last reference goes (after migration back,
 *   munmap, process exit).
 *
 * Locks: pool->lock (page lists, counts) is taken with interrupts off
 * and nests inside nothing of ours; pool->qlock (the queue) nests inside
 * the span's lock.
 */
#include <linux/bitfield.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include "hmmnic.h"
#include "pool.h"
#include "trace.h"

#define HMMNIC_CHUNK_ORDER	9
#define HMMNIC_CHUNK_PAGES	BIT(HMMNIC_CHUNK_ORDER)	/* 2 MiB */
#define HMMNIC_POOL_MAX_MB	4096
#define HMMNIC_POOL_RETRY_MS	100	/* eviction that could not finish */

static unsigned int hmmnic_pool_mb = 64;
module_param_named(pool_mb, hmmnic_pool_mb, uint, 0444);
MODULE_PARM_DESC(pool_mb, "NIC-private memory per device in MiB, 0 for none (default 64)");

static bool hmmnic_staging = true;
module_param_named(staging, hmmnic_staging, bool, 0444);
MODULE_PARM_DESC(staging, "Stage hot ODP pages into the pool (default on)");

static unsigned int hmmnic_stage_threshold = 32;
module_param_named(stage_threshold, hmmnic_stage_threshold, uint, 0444);
MODULE_PARM_DESC(stage_threshold, "Accesses within a window that make a page hot, 1-255 (default 32)");

static unsigned int hmmnic_stage_window_ms = 100;
module_param_named(stage_window_ms, hmmnic_stage_window_ms, uint, 0444);
MODULE_PARM_DESC(stage_window_ms, "Staging window in ms (default 100)");

static unsigned int hmmnic_stage_batch = 64;
module_param_named(stage_batch, hmmnic_stage_batch, uint, 0444);
MODULE_PARM_DESC(stage_batch, "Pages the staging worker migrates at once, 1-512 (default 64)");

static bool hmmnic_stage_whole_thp = true;
module_param_named(stage_thp, hmmnic_stage_whole_thp, bool, 0444);
MODULE_PARM_DESC(stage_thp, "Stage a THP whole, as one 2 MiB device folio: "
		 HMMNIC_FEATURE_POOL_THP " (default on)");

/* One device page of a chunk. */
struct hmmnic_pool_page {
	struct list_head link;		/* pool->free or pool->clock */
	struct hmmnic_pool_chunk *chunk;
	struct page *backing;		/* holds the bytes; the chunk's for life */
	bool used;			/* between alloc and free */
	bool referenced;		/* CLOCK: used since the last scan */
	bool head;			/* heads a folio in use ... */
	u8 order;			/* ... of this order */
};

struct hmmnic_pool_chunk {
	struct dev_pagemap pgmap;
	struct hmmnic_pool *pool;
	struct list_head link;		/* pool->chunks */
	unsigned long first_pfn;
	unsigned long nr_used;
	bool removing;			/* leaving: freed pages stay out */
	struct hmmnic_pool_page pages[HMMNIC_CHUNK_PAGES];
};

static struct hmmnic_pool_chunk *hmmnic_page_chunk(struct page *page)
{
	return container_of(page_pgmap(page), struct hmmnic_pool_chunk, pgmap);
}

static struct hmmnic_pool_page *hmmnic_page_meta(struct page *page)
{
	struct hmmnic_pool_chunk *chunk = hmmnic_page_chunk(page);

	return &chunk->pages[page_to_pfn(page) - chunk->first_pfn];
}

static unsigned long hmmnic_meta_pfn(struct hmmnic_pool_page *pp)
{
	return pp->chunk->first_pfn + (pp - pp->chunk->pages);
}

/* ---- chunks ---- */

/*
 * The backing pages of a chunk: the emulated NIC memory itself, allocated
 * with the chunk and kept until it goes, so that staging a page allocates
 * nothing.
 */
static int hmmnic_chunk_backing(struct hmmnic_pool_chunk *chunk)
{
	const gfp_t gfp = GFP_HIGHUSER | __GFP_NOWARN | __GFP_NORETRY;
	struct page **pages;
	unsigned long i, got;

	pages = kvcalloc(HMMNIC_CHUNK_PAGES, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	got = alloc_pages_bulk(gfp, HMMNIC_CHUNK_PAGES, pages);
	for (i = got; i < HMMNIC_CHUNK_PAGES; i++) {
		pages[i] = alloc_page(gfp);
		if (!pages[i])
			break;
	}
	if (i < HMMNIC_CHUNK_PAGES) {
		while (i--)
			__free_page(pages[i]);
		kvfree(pages);
		return -ENOMEM;
	}
	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++)
		chunk->pages[i].backing = pages[i];
	kvfree(pages);
	return 0;
}

/* Free @chunk, which is out of every list and has no page in use. */
static void hmmnic_chunk_free(struct hmmnic_pool_chunk *chunk)
{
	unsigned long i;

	memunmap_pages(&chunk->pgmap);
	release_mem_region(chunk->pgmap.range.start,
			   range_len(&chunk->pgmap.range));
	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++)
		__free_page(chunk->pages[i].backing);
	kvfree(chunk);
}

/*
 * A chunk with no page in use that takes new ones: a free device THP.
 * pool->lock held.
 */
static struct hmmnic_pool_chunk *hmmnic_pool_free_chunk(struct hmmnic_pool *pool)
{
	struct hmmnic_pool_chunk *chunk;

	lockdep_assert_held(&pool->lock);
	/* (a folio is naturally aligned, and odp.c counts on it) */
	list_for_each_entry(chunk, &pool->chunks, link)
		if (!chunk->nr_used && !chunk->removing &&
		    IS_ALIGNED(chunk->first_pfn, HMMNIC_CHUNK_PAGES))
			return chunk;
	return NULL;
}

/*
 * Add a chunk if the pool has no free page (@whole: no free chunk) and
 * its size allows one more (@whole: in full).
 */
static int hmmnic_pool_grow(struct hmmnic_pool *pool, bool whole)
{
	struct hmmnic_pool_chunk *chunk;
	struct resource *res;
	unsigned long i, flags;
	bool room;
	void *addr;
	int err;

	mutex_lock(&pool->grow_lock);
	/* someone else may have grown it meanwhile */
	spin_lock_irqsave(&pool->lock, flags);
	room = whole ? !!hmmnic_pool_free_chunk(pool) :
		       !list_empty(&pool->free);
	if (room || pool->nr_pages + (whole ? HMMNIC_CHUNK_PAGES : 1) >
		    pool->limit) {
		spin_unlock_irqrestore(&pool->lock, flags);
		mutex_unlock(&pool->grow_lock);
		return 0;
	}
	spin_unlock_irqrestore(&pool->lock, flags);

	err = -ENOMEM;
	chunk = kvzalloc(sizeof(*chunk), GFP_KERNEL);
	if (!chunk)
		goto out;
	err = hmmnic_chunk_backing(chunk);
	if (err)
		goto err_free;
	res = request_free_mem_region(&iomem_resource,
				      HMMNIC_CHUNK_PAGES << PAGE_SHIFT,
				      "hmmnic pool");
	if (IS_ERR(res)) {
		err = PTR_ERR(res);
		goto err_backing;
	}
	chunk->pool = pool;
	chunk->pgmap.type = MEMORY_DEVICE_PRIVATE;
	chunk->pgmap.range.start = res->start;
	chunk->pgmap.range.end = res->end;
	chunk->pgmap.nr_range = 1;
	chunk->pgmap.ops = &hmmnic_pool_pgmap_ops;
	chunk->pgmap.owner = pool->hdev;
	addr = memremap_pages(&chunk->pgmap, numa_node_id());
	if (IS_ERR(addr)) {
		err = PTR_ERR(addr);
		goto err_region;
	}
	chunk->first_pfn = PHYS_PFN(res->start);

	spin_lock_irqsave(&pool->lock, flags);
	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++) {
		chunk->pages[i].chunk = chunk;
		list_add_tail(&chunk->pages[i].link, &pool->free);
	}
	list_add_tail(&chunk->link, &pool->chunks);
	pool->nr_pages += HMMNIC_CHUNK_PAGES;
	spin_unlock_irqrestore(&pool->lock, flags);
	mutex_unlock(&pool->grow_lock);
	return 0;

err_region:
	release_mem_region(res->start, resource_size(res));
err_backing:
	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++)
		__free_page(chunk->pages[i].backing);
err_free:
	kvfree(chunk);
out:
	mutex_unlock(&pool->grow_lock);
	return err;
}

/*
 * A free device page of the pool, initialised (referenced once, locked)
 * as migration wants it; NULL if the pool is at its size or cannot grow.
 */
static struct page *hmmnic_pool_alloc(struct hmmnic_pool *pool)
{
	struct hmmnic_pool_page *pp;
	struct page *page;
	unsigned long flags;

	for (;;) {
		spin_lock_irqsave(&pool->lock, flags);
		if (pool->nr_used >= pool->limit) {
			spin_unlock_irqrestore(&pool->lock, flags);
			return NULL;
		}
		pp = list_first_entry_or_null(&pool->free,
					      struct hmmnic_pool_page, link);
		if (pp)
			break;
		spin_unlock_irqrestore(&pool->lock, flags);
		if (hmmnic_pool_grow(pool, false))
			return NULL;
	}
	list_move_tail(&pp->link, &pool->clock);
	pp->used = true;
	pp->referenced = false;
	pp->head = true;
	pp->order = 0;
	pp->chunk->nr_used++;
	pool->nr_used++;
	spin_unlock_irqrestore(&pool->lock, flags);

	page = pfn_to_page(hmmnic_meta_pfn(pp));
	hmmnic_zone_device_page_init(page, &pp->chunk->pgmap);
	/* dirty means "written while staged" (odp.c); a freed page may be */
	folio_clear_dirty(page_folio(page));
	return page;
}

#if HMMNIC_WITH_DEVICE_THP
/*
 * A whole free chunk as one device folio for a THP, initialised like a
 * page of hmmnic_pool_alloc(); NULL if no chunk is free and the pool
 * cannot grow by one. Only its head page is on the CLOCK list.
 */
static struct page *hmmnic_pool_alloc_thp(struct hmmnic_pool *pool)
{
	struct hmmnic_pool_chunk *chunk;
	unsigned long flags, i;
	struct folio *folio;
	bool grown = false;

	for (;;) {
		spin_lock_irqsave(&pool->lock, flags);
		chunk = NULL;
		if (pool->nr_used + HMMNIC_CHUNK_PAGES <= pool->limit)
			chunk = hmmnic_pool_free_chunk(pool);
		if (chunk)
			break;
		spin_unlock_irqrestore(&pool->lock, flags);
		if (grown || pool->nr_used + HMMNIC_CHUNK_PAGES > pool->limit ||
		    hmmnic_pool_grow(pool, true))
			return NULL;
		grown = true;
	}
	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++) {
		list_del_init(&chunk->pages[i].link);
		chunk->pages[i].used = true;
		chunk->pages[i].referenced = false;
		chunk->pages[i].head = !i;
		chunk->pages[i].order = 0;
	}
	chunk->pages[0].order = HMMNIC_CHUNK_ORDER;
	list_add_tail(&chunk->pages[0].link, &pool->clock);
	chunk->nr_used = HMMNIC_CHUNK_PAGES;
	pool->nr_used += HMMNIC_CHUNK_PAGES;
	pool->nr_thp++;
	spin_unlock_irqrestore(&pool->lock, flags);

	folio = page_folio(pfn_to_page(chunk->first_pfn));
	hmmnic_zone_device_folio_init(folio, &chunk->pgmap, HMMNIC_CHUNK_ORDER);
	folio_clear_dirty(folio);
	return &folio->page;
}

/*
 * dev_pagemap_ops.folio_split: the core splits a staged THP (a partial
 * munmap or mprotect, a fault through a PTE of it). Every page keeps its
 * backing page; each new folio gets the pgmap and goes on the CLOCK list
 * with its order, so that eviction still finds all of it. @tail is NULL
 * once the split is done, @head is then the first of the new folios.
 */
void hmmnic_pool_folio_split(struct folio *head, struct folio *tail)
{
	struct hmmnic_pool_chunk *chunk = hmmnic_page_chunk(&head->page);
	struct hmmnic_pool *pool = chunk->pool;
	struct hmmnic_pool_page *pp;
	unsigned long flags;

	if (tail) {
		tail->pgmap = head->pgmap;
		tail->page.mapping = head->page.mapping;
	}
	pp = &chunk->pages[folio_pfn(tail ?: head) - chunk->first_pfn];
	spin_lock_irqsave(&pool->lock, flags);
	if (tail) {
		pp->head = true;
		pp->order = folio_order(tail);
		pool->nr_thp += !!pp->order;
		list_add_tail(&pp->link, &pool->clock);
	} else {
		pp->order = folio_order(head);
		pool->nr_thp -= !pp->order;
	}
	spin_unlock_irqrestore(&pool->lock, flags);
}
#endif

/*
 * dev_pagemap_ops' free callback: the last reference to a device folio
 * went; its pages go back to the free list.
 */
void hmmnic_pool_folio_free(struct folio *folio)
{
	struct page *page = &folio->page;
	struct hmmnic_pool_chunk *chunk = hmmnic_page_chunk(page);
	struct hmmnic_pool_page *pp = hmmnic_page_meta(page);
	struct hmmnic_pool *pool = chunk->pool;
	unsigned long flags, i, nr = folio_nr_pages(folio);

	spin_lock_irqsave(&pool->lock, flags);
	pool->nr_thp -= nr > 1;
	for (i = 0; i < nr; i++, pp++) {
		pp->used = false;
		pp->head = false;
		pp->order = 0;
		if (chunk->removing)
			list_del_init(&pp->link);
		else
			list_move(&pp->link, &pool->free);
	}
	chunk->nr_used -= nr;
	pool->nr_used -= nr;
	spin_unlock_irqrestore(&pool->lock, flags);
}

/*
 * The backing page of @page, a device-private page in @odp's mirror, if it
 * is a device page of the region's device's pool; NULL for any other
 * device-private page. Called by the data path with the span's lock held,
 * which keeps the page in the pool (a page leaves only after the span's
 * notifier dropped it from the mirror).
 */
struct page *hmmnic_pool_backing(struct hmmnic_odp *odp, struct page *page)
{
	struct hmmnic_dev *hdev = odp->mr->hdev;
	struct hmmnic_pool_page *head;

	lockdep_assert_held(&odp->lock);
	if (page_pgmap(page)->ops != &hmmnic_pool_pgmap_ops ||
	    page_pgmap(page)->owner != hdev)
		return NULL;
	/* CLOCK looks at the head of a THP (a racing split: any page will do) */
	head = hmmnic_page_meta(&page_folio(page)->page);
	if (!READ_ONCE(head->referenced))
		WRITE_ONCE(head->referenced, true);
	hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_POOL_HITS);
	return hmmnic_page_meta(page)->backing;
}

void hmmnic_pool_stats(struct hmmnic_dev *hdev, u64 *used, u64 *free)
{
	struct hmmnic_pool *pool = &hdev->pool;
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	*used = pool->nr_used;
	*free = pool->limit > pool->nr_used ? pool->limit - pool->nr_used : 0;
	spin_unlock_irqrestore(&pool->lock, flags);
}

/* ---- back to system memory: migrate_to_ram and eviction ---- */

#if HMMNIC_WITH_DEVICE_THP
#define HMMNIC_PFN_COMPOUND	MIGRATE_PFN_COMPOUND
#define HMMNIC_SELECT_COMPOUND	MIGRATE_VMA_SELECT_COMPOUND
#else
#define HMMNIC_PFN_COMPOUND	0UL
#define HMMNIC_SELECT_COMPOUND	0
#endif

/*
 * A system folio of @order with the bytes of the device folio at @spage,
 * locked; or NULL. For a CPU fault (@vma) a THP is wanted only if it
 * comes easily: the caller falls back to pages. Eviction cannot (the core
 * splits a device THP only for a mapping it migrates through), so it
 * tries harder, and a THP it still cannot get stays in the pool.
 */
static struct page *hmmnic_pool_copy_out(struct page *spage,
					 unsigned int order,
					 struct vm_area_struct *vma,
					 unsigned long addr)
{
	struct page *dpage = NULL;
	unsigned long i;

	if (!order && vma) {
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr);
	} else if (!order) {
		dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN);
	} else {
#if HMMNIC_WITH_DEVICE_THP
		struct folio *folio;

		/* eviction has no fallback: it may reclaim and compact */
		folio = vma ? vma_alloc_folio(GFP_TRANSHUGE_LIGHT | __GFP_NOWARN,
					      order, vma, addr) :
			      folio_alloc(GFP_TRANSHUGE | __GFP_RETRY_MAYFAIL |
					  __GFP_NOWARN, order);
		dpage = folio ? &folio->page : NULL;
#endif
	}
	if (!dpage)
		return NULL;
	lock_page(dpage);
	for (i = 0; i < 1UL << order; i++)
		copy_highpage(pfn_to_page(page_to_pfn(dpage) + i),
			      hmmnic_page_meta(pfn_to_page(page_to_pfn(spage) +
							   i))->backing);
	return dpage;
}

/*
 * Give destination pages to the collected device pages in @src: a folio
 * of the same order for each, or for a THP, if none comes easily and
 * @vma lets the core split it, one page per page. Returns how many
 * collected pages got none (no memory): those stay where they are.
 */
static unsigned long hmmnic_pool_dst(unsigned long *src, unsigned long *dst,
				     unsigned long n, struct vm_area_struct *vma,
				     unsigned long start)
{
	unsigned long i, j, nr, missing = 0;

	for (i = 0; i < n; i += nr) {
		unsigned long addr = start + (i << PAGE_SHIFT);
		unsigned long write = src[i] & MIGRATE_PFN_WRITE;
		struct page *spage = migrate_pfn_to_page(src[i]);
		unsigned int order = 0;
		struct page *dpage;

		nr = 1;
		dst[i] = 0;
		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (src[i] & HMMNIC_PFN_COMPOUND) {
			order = folio_order(page_folio(spage));
			nr = min(1UL << order, n - i);
		}
		dpage = hmmnic_pool_copy_out(spage, order, vma, addr);
		if (dpage) {
			dst[i] = migrate_pfn(page_to_pfn(dpage)) | write |
				 (order ? HMMNIC_PFN_COMPOUND : 0);
			continue;
		}
		if (!order || !vma) {
			missing += nr;
			continue;
		}
		/* the core splits the device THP for pages */
		for (j = 0; j < nr; j++) {
			dpage = hmmnic_pool_copy_out(pfn_to_page(page_to_pfn(spage) + j),
						     0, vma, addr + (j << PAGE_SHIFT));
			if (!dpage)
				break;
			dst[i + j] = migrate_pfn(page_to_pfn(dpage)) | write;
		}
		if (j == nr)
			continue;
		missing += nr;
		while (j--) {
			dpage = migrate_pfn_to_page(dst[i + j]);
			dst[i + j] = 0;
			unlock_page(dpage);
			put_page(dpage);
		}
	}
	return missing;
}

/* Pages of the collected @src that moved to their destination. */
static unsigned long hmmnic_pool_moved(const unsigned long *src,
				       const unsigned long *dst,
				       unsigned long n)
{
	unsigned long i, moved = 0;

	for (i = 0; i < n; i++)
		if (dst[i] && (src[i] & MIGRATE_PFN_MIGRATE))
			moved += folio_nr_pages(page_folio(migrate_pfn_to_page(dst[i])));
	return moved;
}

/*
 * dev_pagemap_ops.migrate_to_ram: the CPU touched a staged page. Copy it
 * into new system memory: a staged THP mapped by a PMD goes back whole,
 * as a THP if one is free, else as pages. The span notifiers of every
 * mirror drop the pages first (the MIGRATE event's owner is the device,
 * not a span).
 */
vm_fault_t hmmnic_pool_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmmnic_pool *pool = hmmnic_page_chunk(vmf->page)->pool;
	unsigned long one_src = 0, one_dst = 0, moved = 0, n;
	unsigned int order = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.src = &one_src,
		.dst = &one_dst,
		.pgmap_owner = pool->hdev,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	u64 begin = ktime_get_ns();
	vm_fault_t ret = 0;

	/* through a PTE the core splits the folio: one page then */
	if (HMMNIC_WITH_DEVICE_THP && !vmf->pte)
		order = folio_order(page_folio(vmf->page));
	n = 1UL << order;
	args.start = ALIGN_DOWN(vmf->address, PAGE_SIZE << order);
	args.end = args.start + (PAGE_SIZE << order);
	if (order) {
		args.flags |= HMMNIC_SELECT_COMPOUND;
		args.src = kcalloc(n, sizeof(*args.src), GFP_KERNEL);
		args.dst = kcalloc(n, sizeof(*args.dst), GFP_KERNEL);
		if (!args.src || !args.dst) {
			ret = VM_FAULT_OOM;
			goto out;
		}
	}
	if (migrate_vma_setup(&args)) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	n = args.npages;
	if (hmmnic_pool_dst(args.src, args.dst, n, vmf->vma, args.start))
		ret = VM_FAULT_OOM;
	migrate_vma_pages(&args);
	moved = hmmnic_pool_moved(args.src, args.dst, n);
	hmmnic_stat_add(&pool->hdev->stats, HMMNIC_CNT_POOL_MIGRATE_TO_RAM,
			moved);
	trace_hmmnic_pool_migrate_to_ram(pool->hdev, args.start, moved,
					 ktime_get_ns() - begin);
	/* not migrated (no memory, or someone else moved it): restored */
	migrate_vma_finalize(&args);
out:
	if (order) {
		kfree(args.src);
		kfree(args.dst);
	}
	return ret;
}

/*
 * Move the device pages [@pfn, @pfn + @n) that are in use back to system
 * memory, wherever they are mapped. Returns how many moved.
 */
static unsigned long hmmnic_pool_evict_range(struct hmmnic_pool *pool,
					     unsigned long pfn,
					     unsigned long n)
{
	unsigned long *src = kvcalloc(n, sizeof(*src), GFP_KERNEL);
	unsigned long *dst = kvcalloc(n, sizeof(*dst), GFP_KERNEL);
	unsigned long moved = 0;

	if (!src || !dst)
		goto out;
	migrate_device_range(src, pfn, n);
	hmmnic_pool_dst(src, dst, n, NULL, 0);
	migrate_device_pages(src, dst, n);
	moved = hmmnic_pool_moved(src, dst, n);
	migrate_device_finalize(src, dst, n);
out:
	kvfree(src);
	kvfree(dst);
	return moved;
}

/*
 * Move every page of @chunk that is in use back to system memory, folio
 * by folio: a freed THP leaves its compound metadata in its pages until
 * they are taken again, and migrate_device_range() over such a free
 * former head would skip the pages in use behind it. A run of pages in
 * use that are each a folio of their own goes in one call. Worker or
 * teardown context (nothing allocates pool pages meanwhile). Returns the
 * pages that moved.
 */
static unsigned long hmmnic_pool_evict_chunk(struct hmmnic_pool *pool,
					     struct hmmnic_pool_chunk *chunk)
{
	struct hmmnic_pool_page *pp = chunk->pages;
	unsigned long i = 0, first, nr, flags, moved = 0;

	for (;;) {
		spin_lock_irqsave(&pool->lock, flags);
		while (i < HMMNIC_CHUNK_PAGES && !(pp[i].used && pp[i].head))
			i++;
		first = i;
		nr = 0;
		if (i < HMMNIC_CHUNK_PAGES && pp[i].order)
			nr = 1UL << pp[i].order;
		else
			while (first + nr < HMMNIC_CHUNK_PAGES &&
			       pp[first + nr].used && pp[first + nr].head &&
			       !pp[first + nr].order)
				nr++;
		spin_unlock_irqrestore(&pool->lock, flags);
		if (!nr)
			return moved;
		moved += hmmnic_pool_evict_range(pool, chunk->first_pfn + first,
						 nr);
		i = first + nr;
	}
}

/*
 * Evict cold pages until @want more pages fit under the pool size: CLOCK
 * over the pages in use, skipping (and clearing) those the data path used
 * since the last pass. Returns whether they still do not fit (a page that
 * could not move: busy, or no system memory for it). Worker context.
 */
static bool hmmnic_pool_make_room(struct hmmnic_pool *pool, unsigned long want)
{
	unsigned long pfns[16], nrs[16], n, i, moved = 0, scanned = 0;
	unsigned long flags, over, picked;
	u64 begin = ktime_get_ns();

	for (;;) {
		spin_lock_irqsave(&pool->lock, flags);
		over = pool->nr_used + want > pool->limit ?
		       pool->nr_used + want - pool->limit : 0;
		n = 0;
		picked = 0;
		/* a THP counts for its pages */
		while (n < ARRAY_SIZE(pfns) && picked < over &&
		       scanned < 2 * pool->nr_used + 2 &&
		       !list_empty(&pool->clock)) {
			struct hmmnic_pool_page *pp;

			pp = list_first_entry(&pool->clock,
					      struct hmmnic_pool_page, link);
			list_move_tail(&pp->link, &pool->clock);
			scanned++;
			if (READ_ONCE(pp->referenced)) {
				WRITE_ONCE(pp->referenced, false);
				continue;
			}
			nrs[n] = 1UL << pp->order;
			picked += nrs[n];
			pfns[n++] = hmmnic_meta_pfn(pp);
		}
		spin_unlock_irqrestore(&pool->lock, flags);
		if (!n)
			break;
		for (i = 0; i < n; i++)
			moved += hmmnic_pool_evict_range(pool, pfns[i], nrs[i]);
	}
	if (moved) {
		hmmnic_stat_add(&pool->hdev->stats, HMMNIC_CNT_POOL_EVICTED,
				moved);
		trace_hmmnic_pool_evict(pool->hdev, scanned, moved,
					ktime_get_ns() - begin);
	}
	return over;
}

/* A chunk that was leaving takes pages again. pool->lock held. */
static void hmmnic_chunk_revive(struct hmmnic_pool *pool,
				struct hmmnic_pool_chunk *chunk)
{
	unsigned long i;

	lockdep_assert_held(&pool->lock);
	chunk->removing = false;
	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++)
		if (!chunk->pages[i].used)
			list_add_tail(&chunk->pages[i].link, &pool->free);
}

/*
 * A smaller pool size gives memory back: while the pool holds a whole
 * chunk more than its size, the chunk with the fewest pages in use stops
 * taking new ones, its pages go back to system memory, and once none is
 * left the chunk is freed. A page that cannot move now is tried again
 * later; if the size goes up meanwhile, the chunk stays. Returns whether
 * a chunk is left to empty. Worker context.
 */
static bool hmmnic_pool_trim(struct hmmnic_pool *pool)
{
	struct hmmnic_pool_chunk *chunk, *victim;
	unsigned long i, flags, used, moved;
	u64 begin;

	for (;;) {
		victim = NULL;
		spin_lock_irqsave(&pool->lock, flags);
		list_for_each_entry(chunk, &pool->chunks, link) {
			if (pool->nr_pages < pool->limit + HMMNIC_CHUNK_PAGES) {
				/* the size went up again: keep it after all */
				if (chunk->removing)
					hmmnic_chunk_revive(pool, chunk);
			} else if (!victim ||
				   chunk->removing > victim->removing ||
				   (chunk->removing == victim->removing &&
				    chunk->nr_used < victim->nr_used)) {
				victim = chunk;
			}
		}
		if (victim && !victim->removing) {
			victim->removing = true;
			for (i = 0; i < HMMNIC_CHUNK_PAGES; i++)
				if (!victim->pages[i].used)
					list_del_init(&victim->pages[i].link);
		}
		used = victim ? victim->nr_used : 0;
		if (victim && !used) {
			list_del(&victim->link);
			pool->nr_pages -= HMMNIC_CHUNK_PAGES;
		}
		spin_unlock_irqrestore(&pool->lock, flags);
		if (!victim)
			return false;
		if (!used) {
			hmmnic_chunk_free(victim);
			continue;
		}
		begin = ktime_get_ns();
		moved = hmmnic_pool_evict_chunk(pool, victim);
		hmmnic_stat_add(&pool->hdev->stats, HMMNIC_CNT_POOL_EVICTED,
				moved);
		trace_hmmnic_pool_evict(pool->hdev, HMMNIC_CHUNK_PAGES, moved,
					ktime_get_ns() - begin);
		if (!moved)
			return true;
	}
}

/* ---- staging ---- */

/*
 * Data-path hook, under @odp's lock: page @idx was accessed in system
 * memory. Queue it for staging once it is hot: at least the threshold of
 * accesses in the current window. A page is queued once (QUEUED until the
 * worker is done with it); when the queue is full it is tried again at
 * its next access.
 */
void hmmnic_pool_heat(struct hmmnic_odp *odp, unsigned long idx)
{
	struct hmmnic_pool *pool = &odp->mr->hdev->pool;
	unsigned long window;
	u16 heat, epoch;

	lockdep_assert_held(&odp->lock);
	if (!READ_ONCE(pool->staging) || odp->mr->no_staging ||
	    !READ_ONCE(pool->limit))
		return;
	heat = odp->heat[idx];
	if (heat & (HMMNIC_HEAT_NOSTAGE | HMMNIC_HEAT_QUEUED))
		return;
	window = max(msecs_to_jiffies(READ_ONCE(pool->window_ms)), 1UL);
	epoch = (jiffies / window) & FIELD_MAX(HMMNIC_HEAT_EPOCH);
	if (FIELD_GET(HMMNIC_HEAT_EPOCH, heat) != epoch)
		heat = FIELD_PREP(HMMNIC_HEAT_EPOCH, epoch);
	if (FIELD_GET(HMMNIC_HEAT_COUNT, heat) < FIELD_MAX(HMMNIC_HEAT_COUNT))
		heat++;
	odp->heat[idx] = heat;
	if (FIELD_GET(HMMNIC_HEAT_COUNT, heat) < READ_ONCE(pool->threshold))
		return;

	spin_lock(&pool->qlock);
	if (!pool->dying && !odp->mr->stage_closed &&
	    pool->q_len < HMMNIC_STAGE_QUEUE) {
		struct hmmnic_stage_req *req;

		req = &pool->queue[(pool->q_head + pool->q_len++) %
				   HMMNIC_STAGE_QUEUE];
		/* the data path holds the span already */
		pool->ops->hold(odp);
		req->odp = odp;
		req->idx = idx;
		odp->heat[idx] |= HMMNIC_HEAT_QUEUED;
		if (pool->q_len >= READ_ONCE(pool->batch))
			mod_delayed_work(hmmnic_workqueue, &pool->stage_work, 0);
		else
			queue_delayed_work(hmmnic_workqueue, &pool->stage_work, 1);
	}
	spin_unlock(&pool->qlock);
}

/* Undo what queueing @req took. */
static void hmmnic_stage_req_put(struct hmmnic_stage_req *req)
{
	struct hmmnic_odp *odp = req->odp;

	spin_lock(&odp->lock);
	odp->heat[req->idx] &= ~HMMNIC_HEAT_QUEUED;
	spin_unlock(&odp->lock);
	odp->mr->hdev->pool.ops->put(odp);
}

/*
 * Take up to @max queued requests of @mr out of the queue into @out; the
 * others keep their order.
 */
static unsigned int hmmnic_stage_take(struct hmmnic_pool *pool,
				      struct hmmnic_mr *mr,
				      struct hmmnic_stage_req *out,
				      unsigned int max)
{
	unsigned int i, kept = 0, n = 0;

	lockdep_assert_held(&pool->qlock);
	for (i = 0; i < pool->q_len; i++) {
		struct hmmnic_stage_req *req;

		req = &pool->queue[(pool->q_head + i) % HMMNIC_STAGE_QUEUE];
		if (req->odp->mr == mr && n < max)
			out[n++] = *req;
		else
			pool->queue[(pool->q_head + kept++) %
				    HMMNIC_STAGE_QUEUE] = *req;
	}
	pool->q_len = kept;
	return n;
}

/*
 * Deregistration of ODP region @mr, after it left the key table: no more
 * stage requests for it, and the queued ones are dropped, so that it does
 * not wait for the worker (which may be held).
 */
void hmmnic_pool_forget(struct hmmnic_mr *mr)
{
	struct hmmnic_pool *pool = &mr->hdev->pool;
	struct hmmnic_stage_req reqs[16];
	unsigned int i, n;

	spin_lock(&pool->qlock);
	mr->stage_closed = true;
	spin_unlock(&pool->qlock);
	do {
		spin_lock(&pool->qlock);
		n = hmmnic_stage_take(pool, mr, reqs, ARRAY_SIZE(reqs));
		spin_unlock(&pool->qlock);
		for (i = 0; i < n; i++)
			hmmnic_stage_req_put(&reqs[i]);
	} while (n);
}

/*
 * Copy the pages migrate_vma_setup() collected into new device pages, and
 * point @odp's mirror at each device page in the same critical section as
 * its copy. Returns how many device pages it set up.
 */
static unsigned long hmmnic_stage_copy(struct hmmnic_pool *pool,
				       struct hmmnic_odp *odp,
				       unsigned long idx,
				       struct migrate_vma *args)
{
	unsigned long i, n = args->npages, set = 0;

	for (i = 0; i < n; i++) {
		unsigned long *ent = &odp->pfns[idx + i];
		struct page *spage, *dpage;

		args->dst[i] = 0;
		spage = migrate_pfn_to_page(args->src[i]);
		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		/*
		 * Not a KSM page: migration would hand its stable node the
		 * device pfn, and ksmd would read the device page through the
		 * direct map, which does not cover it.
		 */
		if (folio_test_ksm(page_folio(spage)))
			continue;
		dpage = hmmnic_pool_alloc(pool);
		if (!dpage)
			continue;
		spin_lock(&odp->lock);
		copy_highpage(hmmnic_page_meta(dpage)->backing, spage);
		if ((*ent & HMM_PFN_VALID) && hmm_pfn_to_page(*ent) == spage)
			*ent = page_to_pfn(dpage) | HMM_PFN_VALID |
			       (args->src[i] & MIGRATE_PFN_WRITE ?
				HMM_PFN_WRITE : 0);
		spin_unlock(&odp->lock);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage)) |
			       (args->src[i] & MIGRATE_PFN_WRITE);
		set++;
	}
	return set;
}

/*
 * After migrate_vma_pages(): a page the core did not migrate stays in
 * system memory. The data path may have written to its device copy
 * meanwhile, even if an invalidation has dropped the device page from the
 * mirror since: copy it back in every case (the system page is still
 * unmapped and locked, so nothing else wrote it, and the device copy
 * holds its bytes plus the NIC's writes), carry the dirty mark over, and
 * point the mirror at the system page again if it still names the device
 * page. Returns the pages that did move.
 */
static unsigned long hmmnic_stage_fixup(struct hmmnic_odp *odp,
					unsigned long idx,
					struct migrate_vma *args)
{
	unsigned long i, moved = 0;

	for (i = 0; i < args->npages; i++) {
		unsigned long *ent = &odp->pfns[idx + i];
		struct page *spage, *dpage;

		if (!args->dst[i])
			continue;
		if (args->src[i] & MIGRATE_PFN_MIGRATE) {
			moved++;
			continue;
		}
		spage = migrate_pfn_to_page(args->src[i]);
		dpage = migrate_pfn_to_page(args->dst[i]);
		spin_lock(&odp->lock);
		copy_highpage(spage, hmmnic_page_meta(dpage)->backing);
		if (folio_test_dirty(page_folio(dpage)))
			folio_mark_dirty(page_folio(spage));
		if ((*ent & HMM_PFN_VALID) && hmm_pfn_to_page(*ent) == dpage)
			*ent = page_to_pfn(spage) | (*ent & HMM_PFN_FLAGS);
		odp->heat[idx + i] |= HMMNIC_HEAT_NOSTAGE;
		spin_unlock(&odp->lock);
	}
	return moved;
}

/*
 * Fault injection for tests (debugfs stage_delay_ms and stage_pin): before
 * migrate_vma_pages() wait, so that the data path and the CPU can act on
 * pages that are copied but not yet moved, and hold a reference on each
 * source page across it, so that the kernel refuses to move it (as it does
 * when anyone else holds one); after it, drop those references. Returns
 * whether it holds them, to be passed back as @pinned afterwards.
 */
static bool hmmnic_stage_inject(struct hmmnic_pool *pool,
				struct migrate_vma *args, bool before,
				bool pinned)
{
	u32 delay = READ_ONCE(pool->delay_ms);
	bool pin = before ? READ_ONCE(pool->pin) : pinned;
	unsigned long i;

	if (before && delay)
		msleep(min(delay, 10000U));
	if (!pin)
		return false;
	for (i = 0; i < args->npages; i++) {
		struct page *page = migrate_pfn_to_page(args->src[i]);

		if (!page || !args->dst[i])
			continue;
		if (before)
			get_page(page);
		else
			put_page(page);
	}
	return true;
}

/*
 * The mapping at @start of @mm if the worker may stage pages of it; NULL
 * if not. Not in a mapping KSM may merge: ksmd maps a merged page at two
 * addresses before it gives the page its stable node, and a page
 * collected in that window has a migration entry that the restore's rmap
 * walk cannot find (a later pagemap read or fault hit BUG in
 * pfn_swap_entry_to_page). And anonymous: the core migrates no file or
 * shmem page to device memory, and since 7.x collecting one would split
 * its page-cache folio for nothing. mmap_lock held.
 */
static struct vm_area_struct *hmmnic_stage_vma(struct mm_struct *mm,
					       unsigned long start)
{
	struct vm_area_struct *vma = vma_lookup(mm, start);

	mmap_assert_locked(mm);
	if (!vma || !vma_is_anonymous(vma) || (vma->vm_flags & VM_MERGEABLE))
		return NULL;
	return vma;
}

/* Stage pages [@idx, @idx + @n) of @odp one by one, a run in one span. */
static void hmmnic_stage_pages(struct hmmnic_pool *pool,
			       struct hmmnic_odp *odp, unsigned long idx,
			       unsigned long n)
{
	struct hmmnic_mr *mr = odp->mr;
	unsigned long start = odp->start + (idx << PAGE_SHIFT);
	struct migrate_vma args = {
		.src = pool->src,
		.dst = pool->dst,
		.start = start,
		.end = start + (n << PAGE_SHIFT),
		/* the span's own notifier keeps its mirror for this one */
		.pgmap_owner = odp,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	u64 begin = ktime_get_ns();
	unsigned long moved = 0, i;
	struct vm_area_struct *vma;
	bool pinned;

	if (!mmget_not_zero(mr->mm))
		goto out;
	hmmnic_pool_make_room(pool, n);
	mmap_read_lock(mr->mm);
	vma = hmmnic_stage_vma(mr->mm, start);
	if (vma) {
		args.vma = vma;
		args.end = min(args.end, vma->vm_end);
		if (!migrate_vma_setup(&args)) {
			if (args.cpages && hmmnic_stage_copy(pool, odp, idx,
							     &args)) {
				pinned = hmmnic_stage_inject(pool, &args, true,
							     false);
				migrate_vma_pages(&args);
				hmmnic_stage_inject(pool, &args, false, pinned);
				moved = hmmnic_stage_fixup(odp, idx, &args);
			}
			migrate_vma_finalize(&args);
		}
	}
	mmap_read_unlock(mr->mm);
	mmput(mr->mm);
out:
	if (moved < n) {
		/* what did not move is not tried again until it changes */
		spin_lock(&odp->lock);
		for (i = 0; i < n; i++)
			if (!(i < args.npages && (args.src[i] &
						  MIGRATE_PFN_MIGRATE) &&
			      args.dst[i]))
				odp->heat[idx + i] |= HMMNIC_HEAT_NOSTAGE;
		spin_unlock(&odp->lock);
	}
	hmmnic_stat_add(&pool->hdev->stats, HMMNIC_CNT_POOL_STAGED, moved);
	hmmnic_stat_add(&pool->hdev->stats, HMMNIC_CNT_POOL_STAGE_FAILURES,
			n - moved);
	trace_hmmnic_pool_stage(mr, start, n, moved, ktime_get_ns() - begin);
}

/*
 * What the staging worker does with page @idx of @odp, from its mirror
 * entry: HMMNIC_STAGE_DONE when it is staged already (a THP staged whole
 * took it along), the index of the first page of its 2 MiB block when a
 * PMD maps it (a THP) and the whole block lies in the span and THPs are
 * staged whole, else HMMNIC_STAGE_PAGE.
 */
#define HMMNIC_STAGE_PAGE	ULONG_MAX
#define HMMNIC_STAGE_DONE	(ULONG_MAX - 1)

static unsigned long hmmnic_stage_kind(struct hmmnic_pool *pool,
				       struct hmmnic_odp *odp,
				       unsigned long idx)
{
	unsigned long ent, first, va;

	spin_lock(&odp->lock);
	ent = odp->pfns[idx];
	spin_unlock(&odp->lock);
	if (!(ent & HMM_PFN_VALID))
		return HMMNIC_STAGE_PAGE;
	if (is_device_private_page(hmm_pfn_to_page(ent)))
		return HMMNIC_STAGE_DONE;
	if (!HMMNIC_WITH_DEVICE_THP || !READ_ONCE(pool->thp) ||
	    hmm_pfn_to_map_order(ent) != HMMNIC_CHUNK_ORDER)
		return HMMNIC_STAGE_PAGE;
	va = ALIGN_DOWN(odp->start + (idx << PAGE_SHIFT),
			HMMNIC_CHUNK_PAGES << PAGE_SHIFT);
	if (va < odp->start)
		return HMMNIC_STAGE_PAGE;
	first = (va - odp->start) >> PAGE_SHIFT;
	if (first + HMMNIC_CHUNK_PAGES > odp->npages)
		return HMMNIC_STAGE_PAGE;
	return first;
}

#if HMMNIC_WITH_DEVICE_THP
/*
 * Copy the THP at @spage into the device folio @dpage page by page, each
 * page's copy and the switch of its mirror entry in one critical section
 * of the span's lock, as hmmnic_stage_copy() does for a page.
 */
static void hmmnic_stage_copy_thp(struct hmmnic_odp *odp, unsigned long idx,
				  struct page *spage, struct page *dpage,
				  bool write)
{
	unsigned long i;

	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++) {
		unsigned long *ent = &odp->pfns[idx + i];
		struct page *s = pfn_to_page(page_to_pfn(spage) + i);
		struct page *d = pfn_to_page(page_to_pfn(dpage) + i);

		spin_lock(&odp->lock);
		copy_highpage(hmmnic_page_meta(d)->backing, s);
		if ((*ent & HMM_PFN_VALID) && hmm_pfn_to_page(*ent) == s)
			*ent = page_to_pfn(d) | HMM_PFN_VALID |
			       (write ? HMM_PFN_WRITE : 0);
		spin_unlock(&odp->lock);
	}
}

/*
 * The core did not move the THP after all: put its bytes back, with
 * whatever the data path wrote to the device copy meanwhile, as
 * hmmnic_stage_fixup() does for a page.
 */
static void hmmnic_stage_unstage_thp(struct hmmnic_odp *odp,
				     unsigned long idx, struct page *spage,
				     struct page *dpage)
{
	unsigned long i;

	for (i = 0; i < HMMNIC_CHUNK_PAGES; i++) {
		unsigned long *ent = &odp->pfns[idx + i];
		struct page *s = pfn_to_page(page_to_pfn(spage) + i);
		struct page *d = pfn_to_page(page_to_pfn(dpage) + i);

		spin_lock(&odp->lock);
		copy_highpage(s, hmmnic_page_meta(d)->backing);
		if ((*ent & HMM_PFN_VALID) && hmm_pfn_to_page(*ent) == d)
			*ent = page_to_pfn(s) | (*ent & HMM_PFN_FLAGS);
		odp->heat[idx + i] |= HMMNIC_HEAT_NOSTAGE;
		spin_unlock(&odp->lock);
	}
	/* now that no mirror names the device folio, nothing marks it */
	if (folio_test_dirty(page_folio(dpage)))
		folio_mark_dirty(page_folio(spage));
}

/*
 * Stage the THP that maps pages [@idx, @idx + HMMNIC_CHUNK_PAGES) of @odp
 * whole, as one device folio: one migration, no split. Returns the pages
 * staged, or -EAGAIN when it is no THP any more, or no chunk is free or
 * can be added, for the caller to stage the pages one by one.
 */
static long hmmnic_stage_thp(struct hmmnic_pool *pool, struct hmmnic_odp *odp,
			     unsigned long idx)
{
	struct hmmnic_mr *mr = odp->mr;
	unsigned long start = odp->start + (idx << PAGE_SHIFT);
	struct migrate_vma args = {
		.src = pool->src,
		.dst = pool->dst,
		.start = start,
		.end = start + (HMMNIC_CHUNK_PAGES << PAGE_SHIFT),
		.pgmap_owner = odp,
		.flags = MIGRATE_VMA_SELECT_SYSTEM |
			 MIGRATE_VMA_SELECT_COMPOUND,
	};
	struct page *spage, *dpage = NULL;
	u64 begin = ktime_get_ns();
	struct vm_area_struct *vma;
	long moved = -EAGAIN;
	bool pinned, write;

	BUILD_BUG_ON(HMMNIC_STAGE_MAX_BATCH < HMMNIC_CHUNK_PAGES);
	if (!mmget_not_zero(mr->mm))
		return -EAGAIN;
	hmmnic_pool_make_room(pool, HMMNIC_CHUNK_PAGES);
	mmap_read_lock(mr->mm);
	vma = hmmnic_stage_vma(mr->mm, start);
	if (!vma || args.end > vma->vm_end)
		goto unlock;
	args.vma = vma;
	if (migrate_vma_setup(&args))
		goto unlock;
	spage = migrate_pfn_to_page(args.src[0]);
	if (spage && (args.src[0] & MIGRATE_PFN_MIGRATE) &&
	    (args.src[0] & MIGRATE_PFN_COMPOUND) &&
	    folio_order(page_folio(spage)) == HMMNIC_CHUNK_ORDER)
		dpage = hmmnic_pool_alloc_thp(pool);
	memset(args.dst, 0, args.npages * sizeof(*args.dst));
	if (!dpage) {
		/* nothing moves: migrate_vma_finalize() restores it all */
		migrate_vma_finalize(&args);
		goto unlock;
	}
	write = args.src[0] & MIGRATE_PFN_WRITE;
	hmmnic_stage_copy_thp(odp, idx, spage, dpage, write);
	args.dst[0] = migrate_pfn(page_to_pfn(dpage)) | MIGRATE_PFN_COMPOUND |
		      (write ? MIGRATE_PFN_WRITE : 0);
	pinned = hmmnic_stage_inject(pool, &args, true, false);
	migrate_vma_pages(&args);
	hmmnic_stage_inject(pool, &args, false, pinned);
	if (args.src[0] & MIGRATE_PFN_MIGRATE) {
		moved = HMMNIC_CHUNK_PAGES;
	} else {
		hmmnic_stage_unstage_thp(odp, idx, spage, dpage);
		moved = 0;
	}
	migrate_vma_finalize(&args);
unlock:
	mmap_read_unlock(mr->mm);
	mmput(mr->mm);
	if (moved >= 0) {
		hmmnic_stat_add(&pool->hdev->stats, HMMNIC_CNT_POOL_STAGED,
				moved);
		hmmnic_stat_add(&pool->hdev->stats,
				HMMNIC_CNT_POOL_STAGE_FAILURES,
				HMMNIC_CHUNK_PAGES - moved);
		trace_hmmnic_pool_stage(mr, start, HMMNIC_CHUNK_PAGES, moved,
					ktime_get_ns() - begin);
	}
	return moved;
}
#else
static long hmmnic_stage_thp(struct hmmnic_pool *pool, struct hmmnic_odp *odp,
			     unsigned long idx)
{
	return -EAGAIN;
}
#endif

/*
 * Stage pages [@idx, @idx + @n) of @odp, a run inside one span: a THP
 * whole where the kernel can (its 2 MiB may reach outside the run), the
 * rest page by page; pages already staged are left alone.
 */
static void hmmnic_stage_run(struct hmmnic_pool *pool, struct hmmnic_odp *odp,
			     unsigned long idx, unsigned long n)
{
	unsigned long i = idx, j, end = idx + n, kind, failed = ULONG_MAX;

	while (i < end) {
		kind = hmmnic_stage_kind(pool, odp, i);
		if (kind == HMMNIC_STAGE_DONE) {
			i++;
			continue;
		}
		if (kind != HMMNIC_STAGE_PAGE && kind != failed) {
			if (hmmnic_stage_thp(pool, odp, kind) != -EAGAIN) {
				i = kind + HMMNIC_CHUNK_PAGES;
				continue;
			}
			failed = kind;
		}
		for (j = i + 1; j < end; j++) {
			kind = hmmnic_stage_kind(pool, odp, j);
			if (kind == HMMNIC_STAGE_DONE ||
			    (kind != HMMNIC_STAGE_PAGE && kind != failed))
				break;
		}
		hmmnic_stage_pages(pool, odp, i, j - i);
		i = j;
	}
}

static int hmmnic_stage_req_cmp(const void *a, const void *b)
{
	const struct hmmnic_stage_req *x = a, *y = b;

	if (x->odp != y->odp)
		return x->odp < y->odp ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return 0;
}

/* The staging worker: a batch of queued pages, then shrink if needed. */
static void hmmnic_pool_stage_fn(struct work_struct *work)
{
	struct hmmnic_pool *pool = container_of(to_delayed_work(work),
						struct hmmnic_pool,
						stage_work);
	unsigned int batch = clamp_t(u32, READ_ONCE(pool->batch), 1,
				     HMMNIC_STAGE_MAX_BATCH);
	unsigned int i, j, n;
	bool more, over;

	if (READ_ONCE(pool->hold))
		return;		/* clearing stage_hold runs it again */
	spin_lock(&pool->qlock);
	n = min(pool->q_len, batch);
	for (i = 0; i < n; i++)
		pool->reqs[i] = pool->queue[(pool->q_head + i) %
					    HMMNIC_STAGE_QUEUE];
	pool->q_head = (pool->q_head + n) % HMMNIC_STAGE_QUEUE;
	pool->q_len -= n;
	more = pool->q_len;
	spin_unlock(&pool->qlock);

	/* the queue is mostly in order already: sort only when it is not */
	for (i = 1; i < n; i++) {
		if (hmmnic_stage_req_cmp(&pool->reqs[i - 1],
					 &pool->reqs[i]) > 0) {
			sort(pool->reqs, n, sizeof(*pool->reqs),
			     hmmnic_stage_req_cmp, NULL);
			break;
		}
	}
	for (i = 0; i < n; i = j) {
		struct hmmnic_stage_req *first = &pool->reqs[i];
		unsigned long next = first->idx + 1;

		/* a run of consecutive pages of one span; duplicates merge */
		for (j = i + 1; j < n && pool->reqs[j].odp == first->odp &&
		     pool->reqs[j].idx <= next; j++)
			next = pool->reqs[j].idx + 1;
		if (!READ_ONCE(pool->dying))
			hmmnic_stage_run(pool, first->odp, first->idx,
					 next - first->idx);
		while (i < j)
			hmmnic_stage_req_put(&pool->reqs[i++]);
	}
	/*
	 * A smaller pool size takes effect here too; what could not move yet
	 * is tried again a little later.
	 */
	over = hmmnic_pool_make_room(pool, 0);
	over |= hmmnic_pool_trim(pool);
	if (more)
		mod_delayed_work(hmmnic_workqueue, &pool->stage_work, 0);
	else if (over)
		queue_delayed_work(hmmnic_workqueue, &pool->stage_work,
				   msecs_to_jiffies(HMMNIC_POOL_RETRY_MS));
}

/* ---- knobs and state in debugfs ---- */

static int hmmnic_pool_show(struct seq_file *m, void *unused)
{
	struct hmmnic_pool *pool = m->private;
	struct hmmnic_stats *s = &pool->hdev->stats;
	unsigned long flags, nr_pages, nr_used, nr_thp, limit, nchunks = 0;
	struct hmmnic_pool_chunk *chunk;
	unsigned int q_len;

	spin_lock_irqsave(&pool->lock, flags);
	nr_pages = pool->nr_pages;
	nr_used = pool->nr_used;
	nr_thp = pool->nr_thp;
	limit = pool->limit;
	list_for_each_entry(chunk, &pool->chunks, link)
		nchunks++;
	spin_unlock_irqrestore(&pool->lock, flags);
	spin_lock(&pool->qlock);
	q_len = pool->q_len;
	spin_unlock(&pool->qlock);

	seq_printf(m, "size_pages %lu\n", limit);
	seq_printf(m, "chunks %lu\n", nchunks);
	seq_printf(m, "chunk_pages %lu\n", nr_pages);
	seq_printf(m, "pool_pages_used %lu\n", nr_used);
	seq_printf(m, "pool_pages_free %lu\n",
		   limit > nr_used ? limit - nr_used : 0);
	seq_printf(m, "pool_staged %llu\n",
		   hmmnic_stat_read(s, HMMNIC_CNT_POOL_STAGED));
	seq_printf(m, "pool_stage_failures %llu\n",
		   hmmnic_stat_read(s, HMMNIC_CNT_POOL_STAGE_FAILURES));
	seq_printf(m, "pool_evicted %llu\n",
		   hmmnic_stat_read(s, HMMNIC_CNT_POOL_EVICTED));
	seq_printf(m, "pool_migrate_to_ram %llu\n",
		   hmmnic_stat_read(s, HMMNIC_CNT_POOL_MIGRATE_TO_RAM));
	seq_printf(m, "pool_hits %llu\n",
		   hmmnic_stat_read(s, HMMNIC_CNT_POOL_HITS));
	seq_printf(m, "stage_queue %u\n", q_len);
	seq_printf(m, "staging %d\n", READ_ONCE(pool->staging));
	seq_printf(m, "stage_threshold %u\n", READ_ONCE(pool->threshold));
	seq_printf(m, "stage_window_ms %u\n", READ_ONCE(pool->window_ms));
	seq_printf(m, "stage_batch %u\n", READ_ONCE(pool->batch));
	seq_printf(m, "stage_hold %d\n", READ_ONCE(pool->hold));
	seq_printf(m, "stage_delay_ms %u\n", READ_ONCE(pool->delay_ms));
	seq_printf(m, "stage_pin %d\n", READ_ONCE(pool->pin));
	seq_printf(m, "stage_thp %d\n", READ_ONCE(pool->thp));
	seq_printf(m, "pool_thp %lu\n", nr_thp);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmnic_pool);

static int hmmnic_pool_size_get(void *data, u64 *val)
{
	struct hmmnic_pool *pool = data;

	*val = (READ_ONCE(pool->limit) << PAGE_SHIFT) >> 20;
	return 0;
}

/* A new size; pages above it are evicted by the worker. */
static int hmmnic_pool_size_set(void *data, u64 val)
{
	struct hmmnic_pool *pool = data;
	unsigned long flags;

	if (val > HMMNIC_POOL_MAX_MB)
		return -EINVAL;
	spin_lock_irqsave(&pool->lock, flags);
	pool->limit = (val << 20) >> PAGE_SHIFT;
	spin_unlock_irqrestore(&pool->lock, flags);
	mod_delayed_work(hmmnic_workqueue, &pool->stage_work, 0);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(hmmnic_pool_size_fops, hmmnic_pool_size_get,
			 hmmnic_pool_size_set, "%llu\n");

static int hmmnic_threshold_get(void *data, u64 *val)
{
	*val = READ_ONCE(((struct hmmnic_pool *)data)->threshold);
	return 0;
}

static int hmmnic_threshold_set(void *data, u64 val)
{
	if (val < 1 || val > 255)
		return -EINVAL;
	WRITE_ONCE(((struct hmmnic_pool *)data)->threshold, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(hmmnic_threshold_fops, hmmnic_threshold_get,
			 hmmnic_threshold_set, "%llu\n");

static int hmmnic_batch_get(void *data, u64 *val)
{
	*val = READ_ONCE(((struct hmmnic_pool *)data)->batch);
	return 0;
}

static int hmmnic_batch_set(void *data, u64 val)
{
	if (val < 1 || val > HMMNIC_STAGE_MAX_BATCH)
		return -EINVAL;
	WRITE_ONCE(((struct hmmnic_pool *)data)->batch, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(hmmnic_batch_fops, hmmnic_batch_get,
			 hmmnic_batch_set, "%llu\n");

static int hmmnic_hold_get(void *data, u64 *val)
{
	*val = READ_ONCE(((struct hmmnic_pool *)data)->hold);
	return 0;
}

static int hmmnic_hold_set(void *data, u64 val)
{
	struct hmmnic_pool *pool = data;

	WRITE_ONCE(pool->hold, !!val);
	if (!val)
		mod_delayed_work(hmmnic_workqueue, &pool->stage_work, 0);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(hmmnic_hold_fops, hmmnic_hold_get, hmmnic_hold_set,
			 "%llu\n");

static void hmmnic_pool_debugfs(struct hmmnic_pool *pool)
{
	struct dentry *dir;

	dir = debugfs_create_dir(dev_name(&pool->hdev->ibdev.dev),
				 hmmnic_debugfs_root);
	pool->debugfs = dir;
	debugfs_create_file("pool", 0444, dir, pool, &hmmnic_pool_fops);
	debugfs_create_file_unsafe("pool_size_mb", 0644, dir, pool,
				   &hmmnic_pool_size_fops);
	debugfs_create_bool("staging", 0644, dir, &pool->staging);
	debugfs_create_file_unsafe("stage_threshold", 0644, dir, pool,
				   &hmmnic_threshold_fops);
	debugfs_create_u32("stage_window_ms", 0644, dir, &pool->window_ms);
	debugfs_create_file_unsafe("stage_batch", 0644, dir, pool,
				   &hmmnic_batch_fops);
	debugfs_create_file_unsafe("stage_hold", 0644, dir, pool,
				   &hmmnic_hold_fops);
	debugfs_create_u32("stage_delay_ms", 0644, dir, &pool->delay_ms);
	debugfs_create_bool("stage_pin", 0644, dir, &pool->pin);
	/* on a kernel without device THPs it stays off */
	if (HMMNIC_WITH_DEVICE_THP)
		debugfs_create_bool("stage_thp", 0644, dir, &pool->thp);
}

/* ---- lifetime (the pgmap ops are in compat.c) ---- */

/**
 * hmmnic_pool_init - set up @hdev's pool; it grows on first use
 * @hdev: the device
 * @ops: how the layer above holds the span of a stage request
 *
 * Return: 0 or -ENOMEM.
 */
int hmmnic_pool_init(struct hmmnic_dev *hdev,
		     const struct hmmnic_stage_ops *ops)
{
	struct hmmnic_pool *pool = &hdev->pool;
	struct hmmnic_stage_req *queue, *reqs;
	unsigned long *src, *dst;

	queue = kvcalloc(HMMNIC_STAGE_QUEUE, sizeof(*queue), GFP_KERNEL);
	reqs = kvcalloc(HMMNIC_STAGE_MAX_BATCH, sizeof(*reqs), GFP_KERNEL);
	src = kvcalloc(HMMNIC_STAGE_MAX_BATCH, sizeof(*src), GFP_KERNEL);
	dst = kvcalloc(HMMNIC_STAGE_MAX_BATCH, sizeof(*dst), GFP_KERNEL);
	if (!queue || !reqs || !src || !dst) {
		/* pool->hdev stays NULL: hmmnic_pool_destroy() does nothing */
		kvfree(queue);
		kvfree(reqs);
		kvfree(src);
		kvfree(dst);
		return -ENOMEM;
	}
	pool->queue = queue;
	pool->reqs = reqs;
	pool->src = src;
	pool->dst = dst;
	pool->ops = ops;
	spin_lock_init(&pool->lock);
	spin_lock_init(&pool->qlock);
	mutex_init(&pool->grow_lock);
	INIT_LIST_HEAD(&pool->free);
	INIT_LIST_HEAD(&pool->clock);
	INIT_LIST_HEAD(&pool->chunks);
	INIT_DELAYED_WORK(&pool->stage_work, hmmnic_pool_stage_fn);
	pool->limit = (min(hmmnic_pool_mb, HMMNIC_POOL_MAX_MB) << 20) >>
		      PAGE_SHIFT;
	pool->staging = hmmnic_staging;
	pool->threshold = clamp(hmmnic_stage_threshold, 1U, 255U);
	pool->window_ms = hmmnic_stage_window_ms;
	pool->batch = clamp(hmmnic_stage_batch, 1U, HMMNIC_STAGE_MAX_BATCH);
#if HMMNIC_WITH_DEVICE_THP
	pool->thp = hmmnic_stage_whole_thp && thp_migration_supported() &&
		    HPAGE_PMD_ORDER == HMMNIC_CHUNK_ORDER;
#endif
	/* last: it tells hmmnic_pool_destroy() there is a pool to take down */
	pool->hdev = hdev;
	return 0;
}

/* Once the device is registered under its name. */
void hmmnic_pool_debugfs_add(struct hmmnic_dev *hdev)
{
	hmmnic_pool_debugfs(&hdev->pool);
}

/*
 * Device removal, after every MR is gone: stop staging, move every staged
 * page back to system memory (no user data is lost), then give the chunks
 * back. memunmap_pages() waits for the last reference to each page.
 */
void hmmnic_pool_destroy(struct hmmnic_dev *hdev)
{
	struct hmmnic_pool *pool = &hdev->pool;
	struct hmmnic_pool_chunk *chunk, *tmp;
	unsigned long flags, left, tries, moved;

	if (!pool->hdev)
		return;		/* hmmnic_pool_init() did not run, or failed */
	spin_lock(&pool->qlock);
	pool->dying = true;
	spin_unlock(&pool->qlock);
	cancel_delayed_work_sync(&pool->stage_work);
	/* MR deregistration waited for every queued request: none is left */
	WARN_ON(pool->q_len);
	debugfs_remove_recursive(pool->debugfs);

	spin_lock_irqsave(&pool->lock, flags);
	list_for_each_entry(chunk, &pool->chunks, link) {
		unsigned long i;

		chunk->removing = true;
		for (i = 0; i < HMMNIC_CHUNK_PAGES; i++)
			if (!chunk->pages[i].used)
				list_del_init(&chunk->pages[i].link);
	}
	spin_unlock_irqrestore(&pool->lock, flags);

	list_for_each_entry_safe(chunk, tmp, &pool->chunks, link) {
		for (tries = 0;; tries++) {
			spin_lock_irqsave(&pool->lock, flags);
			left = chunk->nr_used;
			spin_unlock_irqrestore(&pool->lock, flags);
			if (!left)
				break;
			if (tries == 100)
				pr_warn("%s: %lu pool pages still staged, retrying\n",
					dev_name(&hdev->ibdev.dev), left);
			moved = hmmnic_pool_evict_chunk(pool, chunk);
			hmmnic_stat_add(&hdev->stats, HMMNIC_CNT_POOL_EVICTED,
					moved);
			if (tries)
				msleep(20);
		}
		list_del(&chunk->link);
		hmmnic_chunk_free(chunk);
	}
	kvfree(pool->queue);
	kvfree(pool->reqs);
	kvfree(pool->src);
	kvfree(pool->dst);
}
