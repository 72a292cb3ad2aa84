// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic memory regions and the MR access layer.
 *
 * Every byte the data path reads from or writes to registered memory goes
 * through hmmnic_mr_copy() and hmmnic_mr_atomic(). They are the only code
 * that knows how a region is backed: pinned user pages (ib_umem), pages
 * mirrored on demand through HMM (odp.c), or, for kernel users, kernel
 * virtual addresses: all of them (the DMA MR), or the blocks a fast
 * registration (FRWR) mapped. Transport code never touches a struct page.
 * Keys are looked up in an xarray; a lookup takes a reference that
 * deregistration waits for. An access to an ODP region may sleep to fault
 * pages in, so the data path calls this layer only from process context.
 */
#include <linux/highmem.h>
#include <linux/random.h>
#include <rdma/ib_umem.h>

#include "hmmnic.h"
#include "mr.h"
#include "odp.h"
#include "pool.h"
#include "verbs.h"

#define HMMNIC_KEY_INDEX(key)	((key) >> 8)

static int hmmnic_mr_insert(struct hmmnic_dev *hdev, struct hmmnic_mr *mr)
{
	static const struct xa_limit limit = XA_LIMIT(1, (1 << 24) - 1);
	u32 index;
	u8 variant;
	int err;

	err = hmmnic_obj_get(&hdev->num_mr, HMMNIC_MAX_MR);
	if (err)
		return err;
	refcount_set(&mr->ref, 1);
	init_completion(&mr->done);
	err = xa_alloc(&hdev->mrs, &index, mr, limit, GFP_KERNEL);
	if (err) {
		hmmnic_obj_put(&hdev->num_mr);
		return err;
	}
	/* The low byte varies so that a stale key rarely hits a new MR. */
	variant = get_random_u8();
	mr->key = index << 8 | variant;
	mr->ibmr.lkey = mr->key;
	mr->ibmr.rkey = mr->key;
	return 0;
}

/* Unpublish @mr and wait until no data-path access uses it any more. */
static void hmmnic_mr_remove(struct hmmnic_dev *hdev, struct hmmnic_mr *mr)
{
	xa_erase(&hdev->mrs, HMMNIC_KEY_INDEX(mr->key));
	if (hmmnic_mr_is_odp(mr))
		hmmnic_pool_forget(mr);
	hmmnic_mr_put(mr);
	wait_for_completion(&mr->done);
	hmmnic_obj_put(&hdev->num_mr);
}

/* The MR that @key names, referenced; @any_variant ignores the low byte. */
static struct hmmnic_mr *hmmnic_mr_lookup(struct hmmnic_dev *hdev, u32 key,
					  bool any_variant)
{
	struct hmmnic_mr *mr;

	rcu_read_lock();
	mr = xa_load(&hdev->mrs, HMMNIC_KEY_INDEX(key));
	if (mr && ((!any_variant && READ_ONCE(mr->key) != key) ||
		   !refcount_inc_not_zero(&mr->ref)))
		mr = NULL;
	rcu_read_unlock();
	return mr;
}

struct hmmnic_mr *hmmnic_mr_get(struct hmmnic_dev *hdev, u32 key)
{
	return hmmnic_mr_lookup(hdev, key, false);
}

/*
 * hmmnic_mr_check - may @pd access [@iova, @iova + @len) of @mr this way?
 * @access: the IB_ACCESS_* flags the access needs; 0 for a local read
 */
bool hmmnic_mr_check(struct hmmnic_mr *mr, struct ib_pd *pd, u64 iova,
		     u64 len, int access)
{
	if (mr->ibmr.pd != pd || (READ_ONCE(mr->access) & access) != access)
		return false;
	/* a fast registration is checked again under its lock when used */
	if (hmmnic_mr_is_frwr(mr))
		return READ_ONCE(mr->frwr_valid);
	if (!mr->umem && !hmmnic_mr_is_odp(mr))
		return true;	/* kernel DMA MR: all of kernel memory */
	return iova >= mr->ibmr.iova && len <= mr->ibmr.length &&
	       iova - mr->ibmr.iova <= mr->ibmr.length - len;
}

/*
 * hmmnic_frwr_addr - the kernel address of byte @iova of a fast
 * registration, and in *@room how many bytes follow it in the same block.
 * Called with frwr_lock held; NULL if the region is not valid or the
 * range [@iova, @iova + @len) is not inside it.
 */
static void *hmmnic_frwr_addr(struct hmmnic_mr *mr, u64 iova, u64 len,
			      u64 *room)
{
	const struct hmmnic_frwr_map *map = mr->frwr;
	u64 off, block = BIT_ULL(map->shift);
	unsigned long idx;

	lockdep_assert_held(&mr->frwr_lock);
	if (!mr->frwr_valid || iova < map->iova || len > map->length ||
	    iova - map->iova > map->length - len)
		return NULL;
	off = iova - map->iova + map->offset;
	idx = off >> map->shift;
	if (idx >= map->npages)
		return NULL;
	*room = block - (off & (block - 1));
	return (void *)(uintptr_t)(map->pages[idx] + (off & (block - 1)));
}

static int hmmnic_frwr_copy(struct hmmnic_mr *mr, u64 iova, void *buf,
			    u64 len, bool to_mr)
{
	int err = 0;

	spin_lock(&mr->frwr_lock);
	while (len) {
		u64 room, n;
		void *va = hmmnic_frwr_addr(mr, iova, len, &room);

		if (!va) {
			err = -EFAULT;
			break;
		}
		n = min(len, room);
		if (to_mr)
			memcpy(va, buf, n);
		else
			memcpy(buf, va, n);
		buf += n;
		iova += n;
		len -= n;
	}
	spin_unlock(&mr->frwr_lock);
	return err;
}

/**
 * hmmnic_mr_copy - copy between registered memory and a kernel buffer
 * @mr: the region; hmmnic_mr_check() has approved the range
 * @iova: first byte in the region
 * @buf: the kernel buffer
 * @len: bytes to copy
 * @to_mr: copy @buf into the region, rather than the region into @buf
 *
 * Return: 0, or what the ODP or fast-registration layer failed with
 * (-EFAULT, -EPERM, -EBUSY, -ENOMEM).
 */
int hmmnic_mr_copy(struct hmmnic_mr *mr, u64 iova, void *buf, u64 len,
		   bool to_mr)
{
	u64 off;

	if (hmmnic_mr_is_odp(mr))
		return hmmnic_odp_copy(mr, iova, buf, len, to_mr);
	if (hmmnic_mr_is_frwr(mr))
		return hmmnic_frwr_copy(mr, iova, buf, len, to_mr);
	if (!mr->umem) {
		if (to_mr)
			memcpy((void *)(uintptr_t)iova, buf, len);
		else
			memcpy(buf, (void *)(uintptr_t)iova, len);
		return 0;
	}

	off = iova - mr->ibmr.iova + mr->page_offset;
	while (len) {
		unsigned long idx = off >> PAGE_SHIFT;
		u32 pg_off = offset_in_page(off);
		u32 n = min_t(u64, len, PAGE_SIZE - pg_off);
		void *va;

		if (WARN_ON_ONCE(idx >= mr->npages))
			return -EFAULT;
		va = kmap_local_page(mr->pages[idx]);
		if (to_mr)
			memcpy(va + pg_off, buf, n);
		else
			memcpy(buf, va + pg_off, n);
		kunmap_local(va);
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int hmmnic_frwr_atomic(struct hmmnic_mr *mr, u64 iova, u8 op,
			      u64 cmp_add, u64 swap, u64 *orig)
{
	atomic64_t *target;
	int err = 0;
	u64 room;

	spin_lock(&mr->frwr_lock);
	target = hmmnic_frwr_addr(mr, iova, 8, &room);
	if (!target)
		err = -EFAULT;
	else if (!IS_ALIGNED((uintptr_t)target, 8))
		err = -EINVAL;
	else
		*orig = hmmnic_atomic_apply(target, op, cmp_add, swap);
	spin_unlock(&mr->frwr_lock);
	return err;
}

/*
 * hmmnic_mr_atomic - an 8-byte atomic operation on registered memory
 * @op: HMMNIC_OP_CMP_SWAP or HMMNIC_OP_FETCH_ADD
 * @orig: the value before the operation
 *
 * The operation is a CPU atomic on the target word, so it is atomic with
 * respect to other hmmnic atomics and to the CPU.
 */
int hmmnic_mr_atomic(struct hmmnic_mr *mr, u64 iova, u8 op, u64 cmp_add,
		     u64 swap, u64 *orig)
{
	atomic64_t *target;
	void *va = NULL;
	u64 off;

	if (!IS_ALIGNED(iova, 8))
		return -EINVAL;
	if (hmmnic_mr_is_odp(mr))
		return hmmnic_odp_atomic(mr, iova, op, cmp_add, swap, orig);
	if (hmmnic_mr_is_frwr(mr))
		return hmmnic_frwr_atomic(mr, iova, op, cmp_add, swap, orig);
	if (mr->umem) {
		off = iova - mr->ibmr.iova + mr->page_offset;
		/* iova and address may differ in their low bits */
		if (!IS_ALIGNED(off, 8))
			return -EINVAL;
		if (WARN_ON_ONCE((off >> PAGE_SHIFT) >= mr->npages))
			return -EFAULT;
		va = kmap_local_page(mr->pages[off >> PAGE_SHIFT]);
		target = va + offset_in_page(off);
	} else {
		target = (atomic64_t *)(uintptr_t)iova;
	}

	*orig = hmmnic_atomic_apply(target, op, cmp_add, swap);
	if (va)
		kunmap_local(va);
	return 0;
}

static int hmmnic_mr_pin(struct hmmnic_mr *mr, struct ib_device *ibdev,
			 u64 start, u64 length, int access)
{
	struct sg_page_iter iter;
	unsigned long i = 0;

	mr->umem = ib_umem_get_va(ibdev, start, length, access);
	if (IS_ERR(mr->umem))
		return PTR_ERR(mr->umem);
	mr->npages = ib_umem_num_pages(mr->umem);
	mr->page_offset = ib_umem_offset(mr->umem);
	mr->pages = kvmalloc_array(mr->npages, sizeof(*mr->pages), GFP_KERNEL);
	if (!mr->pages) {
		ib_umem_release(mr->umem);
		return -ENOMEM;
	}
	for_each_sgtable_page(&mr->umem->sgt_append.sgt, &iter, 0) {
		if (WARN_ON_ONCE(i >= mr->npages))
			break;
		mr->pages[i++] = sg_page_iter_page(&iter);
	}
	return 0;
}

static void hmmnic_mr_unpin(struct hmmnic_mr *mr)
{
	kvfree(mr->pages);
	ib_umem_release(mr->umem);
}

struct ib_mr *hmmnic_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				 u64 iova, int access, struct ib_udata *udata)
{
	struct hmmnic_dev *hdev = to_hdev(ibpd->device);
	struct hmmnic_reg_mr_cmd cmd = {};
	struct hmmnic_mr *mr;
	int err;

	bool implicit = !start && length == U64_MAX;

	/* HUGETLB is a hint; HMM reports each 4 KiB piece of a huge page. */
	if (access & ~(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
		       IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC |
		       IB_ACCESS_RELAXED_ORDERING | IB_ACCESS_ON_DEMAND |
		       IB_ACCESS_HUGETLB))
		return ERR_PTR(-EOPNOTSUPP);
	/* Implicit ODP: the whole address space, at its own addresses */
	if (implicit && (!(access & IB_ACCESS_ON_DEMAND) || iova))
		return ERR_PTR(-EINVAL);
	if (!implicit && (!length || length > HMMNIC_MAX_MR_SIZE))
		return ERR_PTR(-EINVAL);
	if (udata && udata->inlen) {
		/* hmmnic_reg_mr_cmd, and zeros beyond what this driver knows */
		if (udata->inlen > sizeof(cmd) &&
		    !ib_is_udata_cleared(udata, sizeof(cmd),
					 udata->inlen - sizeof(cmd)))
			return ERR_PTR(-EOPNOTSUPP);
		if (ib_copy_from_udata(&cmd, udata,
				       min(udata->inlen, sizeof(cmd))))
			return ERR_PTR(-EFAULT);
		if ((cmd.flags & ~HMMNIC_REG_MR_NO_STAGING) || cmd.reserved)
			return ERR_PTR(-EOPNOTSUPP);
	}

	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->hdev = hdev;
	mr->access = access;
	mr->no_staging = cmd.flags & HMMNIC_REG_MR_NO_STAGING;
	if (access & IB_ACCESS_ON_DEMAND)
		err = hmmnic_odp_init(mr, start, length);
	else
		err = hmmnic_mr_pin(mr, ibpd->device, start, length, access);
	if (err)
		goto err_free;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;
	mr->ibmr.page_size = PAGE_SIZE;
	err = hmmnic_mr_insert(hdev, mr);
	if (err)
		goto err_unpin;
	return &mr->ibmr;

err_unpin:
	if (hmmnic_mr_is_odp(mr))
		hmmnic_odp_release(mr);
	else
		hmmnic_mr_unpin(mr);
err_free:
	kfree(mr);
	return ERR_PTR(err);
}

/* A region over all of kernel memory, for kernel users of the device. */
struct ib_mr *hmmnic_get_dma_mr(struct ib_pd *ibpd, int access)
{
	struct hmmnic_mr *mr;
	int err;

	/* Kernel memory is never paged: ODP means nothing here */
	if (access & IB_ACCESS_ON_DEMAND)
		return ERR_PTR(-EINVAL);

	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->access = access;
	mr->ibmr.length = U64_MAX;
	err = hmmnic_mr_insert(to_hdev(ibpd->device), mr);
	if (err) {
		kfree(mr);
		return ERR_PTR(err);
	}
	return &mr->ibmr;
}

/*
 * Fast registration (FRWR), for kernel users. ib_alloc_mr() makes an
 * invalid region with room for @max_num_sg blocks; ib_map_mr_sg() fills
 * in the blocks of the next registration; an IB_WR_REG_MR in a send queue
 * (hmmnic_mr_fast_reg()) gives it its key and access rights and makes it
 * valid, in send-queue order; IB_WR_LOCAL_INV or a remote SEND with
 * Invalidate (hmmnic_mr_invalidate()) makes it invalid again.
 */
struct ib_mr *hmmnic_alloc_mr(struct ib_pd *ibpd, enum ib_mr_type type,
			      u32 max_num_sg)
{
	struct hmmnic_mr *mr;
	int err;

	if (type != IB_MR_TYPE_MEM_REG)
		return ERR_PTR(-EOPNOTSUPP);
	if (!max_num_sg || max_num_sg > HMMNIC_MAX_FAST_REG_PAGES)
		return ERR_PTR(-EINVAL);
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->frwr = kzalloc(struct_size(mr->frwr, pages, max_num_sg),
			   GFP_KERNEL);
	mr->frwr_next = kzalloc(struct_size(mr->frwr_next, pages, max_num_sg),
				GFP_KERNEL);
	if (!mr->frwr || !mr->frwr_next) {
		err = -ENOMEM;
		goto err_free;
	}
	mr->hdev = to_hdev(ibpd->device);
	mr->frwr_max = max_num_sg;
	spin_lock_init(&mr->frwr_lock);
	err = hmmnic_mr_insert(mr->hdev, mr);
	if (err)
		goto err_free;
	return &mr->ibmr;

err_free:
	kfree(mr->frwr);
	kfree(mr->frwr_next);
	kfree(mr);
	return ERR_PTR(err);
}

static int hmmnic_frwr_set_page(struct ib_mr *ibmr, u64 addr)
{
	struct hmmnic_mr *mr = to_hmr(ibmr);
	struct hmmnic_frwr_map *map = mr->frwr_next;

	if (map->npages >= mr->frwr_max)
		return -ENOMEM;
	map->pages[map->npages++] = addr;
	return 0;
}

/*
 * Fill in the mapping the next IB_WR_REG_MR installs; the one in use is
 * not touched. The addresses are kernel virtual addresses: hmmnic has no
 * DMA device, so ib_dma_map_sg() gave each element its virtual address.
 */
int hmmnic_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		     unsigned int *sg_offset)
{
	struct hmmnic_mr *mr = to_hmr(ibmr);
	struct hmmnic_frwr_map *map = mr->frwr_next;
	int n;

	if (!is_power_of_2(ibmr->page_size) || ibmr->page_size < SZ_4K)
		return -EINVAL;
	map->npages = 0;
	map->shift = ilog2(ibmr->page_size);
	n = ib_sg_to_pages(ibmr, sg, sg_nents, sg_offset, hmmnic_frwr_set_page);
	map->offset = ibmr->iova & (ibmr->page_size - 1);
	return n;
}

/*
 * hmmnic_mr_fast_reg - execute an IB_WR_REG_MR of @qp's send queue
 * @key: the key the region gets; its index names the region
 * @access: IB_ACCESS_* rights it grants
 *
 * Return: IB_WC_SUCCESS, or IB_WC_MW_BIND_ERR (a memory management
 * operation error) if @key names no fast-registration region of @qp's PD,
 * the region is valid already or nothing is mapped for it, or @access is
 * bad.
 */
enum ib_wc_status hmmnic_mr_fast_reg(struct hmmnic_qp *qp, u32 key,
				     int access)
{
	enum ib_wc_status status = IB_WC_MW_BIND_ERR;
	struct hmmnic_mr *mr;

	if (access & ~(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
		       IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC |
		       IB_ACCESS_RELAXED_ORDERING))
		return status;
	/* IBTA: remote write or atomic rights need local write */
	if ((access & (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & IB_ACCESS_LOCAL_WRITE))
		return status;
	mr = hmmnic_mr_lookup(qp->hdev, key, true);
	if (!mr)
		return status;
	if (hmmnic_mr_is_frwr(mr) && mr->ibmr.pd == qp->ibqp.pd) {
		struct hmmnic_frwr_map *map = mr->frwr_next;

		spin_lock(&mr->frwr_lock);
		if (!mr->frwr_valid && map->npages) {
			/*
			 * A copy, so that the same mapping may be registered
			 * again; the consumer may have changed the iova after
			 * mapping (zero based).
			 */
			memcpy(mr->frwr, map, struct_size(map, pages,
							  map->npages));
			mr->frwr->iova = READ_ONCE(mr->ibmr.iova);
			mr->frwr->length = READ_ONCE(mr->ibmr.length);
			WRITE_ONCE(mr->access, access);
			WRITE_ONCE(mr->key, key);
			WRITE_ONCE(mr->frwr_valid, true);
			status = IB_WC_SUCCESS;
		}
		spin_unlock(&mr->frwr_lock);
	}
	hmmnic_mr_put(mr);
	return status;
}

/*
 * hmmnic_mr_invalidate - make the fast registration @key names invalid
 *
 * For IB_WR_LOCAL_INV and for a SEND with Invalidate that @qp received.
 * Once it returns, no access through the region touches its blocks.
 * Invalidating an invalid region is allowed.
 *
 * Return: 0, or -EINVAL if @key does not name a fast-registration region
 * of @qp's PD.
 */
int hmmnic_mr_invalidate(struct hmmnic_qp *qp, u32 key)
{
	struct hmmnic_mr *mr = hmmnic_mr_get(qp->hdev, key);
	int err = -EINVAL;

	if (!mr)
		return err;
	if (hmmnic_mr_is_frwr(mr) && mr->ibmr.pd == qp->ibqp.pd) {
		spin_lock(&mr->frwr_lock);
		WRITE_ONCE(mr->frwr_valid, false);
		spin_unlock(&mr->frwr_lock);
		err = 0;
	}
	hmmnic_mr_put(mr);
	return err;
}

int hmmnic_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct hmmnic_mr *mr = to_hmr(ibmr);

	hmmnic_mr_remove(to_hdev(ibmr->device), mr);
	if (hmmnic_mr_is_odp(mr))
		hmmnic_odp_release(mr);
	else if (mr->umem)
		hmmnic_mr_unpin(mr);
	kfree(mr->frwr);
	kfree(mr->frwr_next);
	kfree_rcu(mr, rcu);
	return 0;
}

/**
 * hmmnic_sge_copy - copy between a WQE's SGE list and a kernel buffer
 * @qp: the QP whose PD the local keys must belong to
 * @sge: the list (a private copy, already checked for length overflow)
 * @num_sge: its length
 * @offset: where in the concatenated list to start
 * @buf: the kernel buffer
 * @len: bytes to copy
 * @to_sge: write into the SGEs (needs IB_ACCESS_LOCAL_WRITE)
 *
 * Return: 0; -EACCES for a bad key, PD, access or range, or memory that
 * cannot be reached; -EMSGSIZE when the list is shorter than @offset +
 * @len; or a transient error (hmmnic_err_transient()) from an ODP fault
 * that may succeed later. hmmnic_sge_status() turns an error into a
 * completion status. Bytes copied before a failure stay copied.
 */
int hmmnic_sge_copy(struct hmmnic_qp *qp, const struct hmmnic_sge *sge,
		    u32 num_sge, u64 offset, void *buf, u64 len, bool to_sge)
{
	int access = to_sge ? IB_ACCESS_LOCAL_WRITE : 0;
	u32 i;

	for (i = 0; i < num_sge && len; i++) {
		struct hmmnic_mr *mr;
		u64 n;
		int err;

		if (offset >= sge[i].length) {
			offset -= sge[i].length;
			continue;
		}
		n = min_t(u64, len, sge[i].length - offset);

		/* The reserved lkey: kernel virtual addresses, kernel QPs only */
		if (sge[i].lkey == qp->hdev->ibdev.local_dma_lkey && !qp->user) {
			void *va = (void *)(uintptr_t)(sge[i].addr + offset);

			if (to_sge)
				memcpy(va, buf, n);
			else
				memcpy(buf, va, n);
		} else {
			mr = hmmnic_mr_get(qp->hdev, sge[i].lkey);
			if (!mr)
				return -EACCES;
			if (!hmmnic_mr_check(mr, qp->ibqp.pd,
					     sge[i].addr + offset, n, access)) {
				hmmnic_mr_put(mr);
				return -EACCES;
			}
			err = hmmnic_mr_copy(mr, sge[i].addr + offset, buf, n,
					     to_sge);
			hmmnic_mr_put(mr);
			if (err)
				return hmmnic_err_transient(err) ? err : -EACCES;
		}
		buf += n;
		len -= n;
		offset = 0;
	}
	return len ? -EMSGSIZE : 0;
}

/*
 * hmmnic_mr_resident - may the responder access [@iova, @iova + @len) of
 * @mr without a page fault?
 *
 * Always true except in the rnr fault mode, where a missing page of an
 * ODP region starts a background fault and the responder answers RNR NAK.
 */
bool hmmnic_mr_resident(struct hmmnic_mr *mr, u64 iova, u64 len, bool write)
{
	if (!hmmnic_mr_is_odp(mr) ||
	    READ_ONCE(hmmnic_fault_mode) != HMMNIC_FAULT_RNR)
		return true;
	return hmmnic_odp_resident(mr, iova, len, write);
}

/* hmmnic_mr_resident() for the part of an SGE list a SEND will fill. */
bool hmmnic_sge_resident(struct hmmnic_qp *qp, const struct hmmnic_sge *sge,
			 u32 num_sge, u64 offset, u64 len)
{
	bool ok = true;
	u32 i;

	if (READ_ONCE(hmmnic_fault_mode) != HMMNIC_FAULT_RNR)
		return true;
	for (i = 0; i < num_sge && len && ok; i++) {
		struct hmmnic_mr *mr;
		u64 n;

		if (offset >= sge[i].length) {
			offset -= sge[i].length;
			continue;
		}
		n = min_t(u64, len, sge[i].length - offset);
		mr = hmmnic_mr_get(qp->hdev, sge[i].lkey);
		/* A bad key or range: the copy reports it. */
		if (mr && hmmnic_mr_check(mr, qp->ibqp.pd, sge[i].addr + offset,
					  n, IB_ACCESS_LOCAL_WRITE))
			ok = hmmnic_mr_resident(mr, sge[i].addr + offset, n,
						true);
		if (mr)
			hmmnic_mr_put(mr);
		len -= n;
		offset = 0;
	}
	return ok;
}

/* The ODP region of @pd that covers @sge with @access, referenced. */
static struct hmmnic_mr *hmmnic_advise_get(struct hmmnic_dev *hdev,
					   struct ib_pd *pd,
					   const struct ib_sge *sge, int access)
{
	struct hmmnic_mr *mr = hmmnic_mr_get(hdev, sge->lkey);

	if (!mr)
		return ERR_PTR(-ENOENT);
	if (!hmmnic_mr_is_odp(mr) ||
	    !hmmnic_mr_check(mr, pd, sge->addr, sge->length, access)) {
		hmmnic_mr_put(mr);
		return ERR_PTR(-EINVAL);
	}
	return mr;
}

/*
 * hmmnic_advise_mr - ibv_advise_mr(): prefetch ranges of ODP regions
 *
 * Every SGE is checked before anything is done: its lkey must name an ODP
 * region of @ibpd that covers it, writable for PREFETCH_WRITE. With
 * IB_UVERBS_ADVISE_MR_FLAG_FLUSH the pages are mirrored when this
 * returns; otherwise the work runs in the background.
 */
int hmmnic_advise_mr(struct ib_pd *ibpd,
		     enum ib_uverbs_advise_mr_advice advice, u32 flags,
		     struct ib_sge *sg_list, u32 num_sge,
		     struct uverbs_attr_bundle *attrs)
{
	struct hmmnic_dev *hdev = to_hdev(ibpd->device);
	int how, access = 0, err = 0;
	u32 i;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
		how = 0;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		how = HMMNIC_ADVISE_WRITE;
		access = IB_ACCESS_LOCAL_WRITE;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		how = HMMNIC_ADVISE_NO_FAULT;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EOPNOTSUPP;

	/* Nothing is done unless every SGE is valid... */
	for (i = 0; i < num_sge; i++) {
		struct hmmnic_mr *mr = hmmnic_advise_get(hdev, ibpd,
							 &sg_list[i], access);

		if (IS_ERR(mr))
			return PTR_ERR(mr);
		hmmnic_mr_put(mr);
	}
	/* ...and each is checked again: its key may name a new MR by now. */
	for (i = 0; i < num_sge && !err; i++) {
		struct hmmnic_mr *mr = hmmnic_advise_get(hdev, ibpd,
							 &sg_list[i], access);

		if (IS_ERR(mr))
			return PTR_ERR(mr);
		if (flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
			err = hmmnic_odp_prefetch(mr, sg_list[i].addr,
						  sg_list[i].length, how);
		else
			hmmnic_odp_advise_async(mr, sg_list[i].addr,
						sg_list[i].length, how);
		hmmnic_mr_put(mr);
	}
	return err;
}

static const char * const hmmnic_odp_counter_names[] = {
	[HMMNIC_ODP_FAULTS] = "page_faults",
	[HMMNIC_ODP_FAULTS_HANDLED] = "page_faults_handled",
	[HMMNIC_ODP_INVALIDATIONS] = "page_invalidations",
	[HMMNIC_ODP_INVALIDATIONS_HANDLED] = "page_invalidations_handled",
	[HMMNIC_ODP_PREFETCH] = "page_prefetch",
	[HMMNIC_ODP_FAULT_ERRORS] = "page_fault_errors",
	[HMMNIC_ODP_RNR_NAKS] = "page_fault_rnr_naks",
};

static_assert(ARRAY_SIZE(hmmnic_odp_counter_names) ==
	      HMMNIC_NUM_ODP_COUNTERS);

/* "rdma -dd resource show mr": the ODP kind and counters of a region */
int hmmnic_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct hmmnic_mr *mr = to_hmr(ibmr);
	struct nlattr *table;
	int i;

	if (!hmmnic_mr_is_odp(mr))
		return 0;
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_DRIVER);
	if (!table)
		return -EMSGSIZE;
	if (rdma_nl_put_driver_string(msg, "odp", mr->odp_implicit ?
				      "implicit" : "explicit") ||
	    rdma_nl_put_driver_string(msg, "staging", mr->no_staging ?
				      "off" : "on"))
		goto err;
	if (mr->odp_implicit &&
	    rdma_nl_put_driver_u32(msg, "odp_children",
				   atomic_read(&mr->odp_nchildren)))
		goto err;
	for (i = 0; i < HMMNIC_NUM_ODP_COUNTERS; i++)
		if (rdma_nl_put_driver_u64(msg, hmmnic_odp_counter_names[i],
					   atomic64_read(&mr->odp_stats[i])))
			goto err;
	nla_nest_end(msg, table);
	return 0;

err:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}

/* "rdma statistic show mr": the same counters, as hw counters */
int hmmnic_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct hmmnic_mr *mr = to_hmr(ibmr);
	struct nlattr *table;
	int i;

	if (!hmmnic_mr_is_odp(mr))
		return 0;
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	for (i = 0; i < HMMNIC_NUM_ODP_COUNTERS; i++)
		if (rdma_nl_stat_hwcounter_entry(msg,
						 hmmnic_odp_counter_names[i],
						 atomic64_read(&mr->odp_stats[i])))
			goto err;
	nla_nest_end(msg, table);
	return 0;

err:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}
