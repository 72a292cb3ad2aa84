// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory shared with user space. A buffer that user space maps (a queue
 * ring) is vmalloc_user() memory owned by an rdma_user_mmap_entry. The
 * object that created it removes the entry when it is destroyed; the core
 * frees the entry, and with it the buffer, once the last mapping is gone,
 * so user space can never touch freed memory.
 */
#include <linux/log2.h>
#include <linux/vmalloc.h>

#include "hmmnic.h"

static struct hmmnic_mmap_entry *to_hentry(struct rdma_user_mmap_entry *e)
{
	return container_of(e, struct hmmnic_mmap_entry, rdma);
}

/**
 * hmmnic_mmap_buf_create - allocate a zeroed buffer user space can mmap
 * @ibuc: the user context that may map it
 * @size: bytes wanted; rounded up to whole pages
 *
 * Returns the entry, whose @buf the kernel uses and whose offset
 * (hmmnic_mmap_offset()) user space maps, or an ERR_PTR.
 */
struct hmmnic_mmap_entry *hmmnic_mmap_buf_create(struct ib_ucontext *ibuc,
						 size_t size)
{
	struct hmmnic_mmap_entry *entry;
	int err;

	if (!size)
		return ERR_PTR(-EINVAL);
	size = PAGE_ALIGN(size);

	entry = kzalloc(sizeof(*entry), GFP_KERNEL);
	if (!entry)
		return ERR_PTR(-ENOMEM);
	entry->buf = vmalloc_user(size);
	if (!entry->buf) {
		kfree(entry);
		return ERR_PTR(-ENOMEM);
	}
	err = rdma_user_mmap_entry_insert(ibuc, &entry->rdma, size);
	if (err) {
		vfree(entry->buf);
		kfree(entry);
		return ERR_PTR(err);
	}
	return entry;
}

/* Revoke @entry's offset; the buffer lives on until it is unmapped. */
void hmmnic_mmap_buf_remove(struct hmmnic_mmap_entry *entry)
{
	rdma_user_mmap_entry_remove(&entry->rdma);
}

/**
 * hmmnic_queue_init - allocate a zeroed ring
 * @q: the queue to set up
 * @ibuc: the user context to share the ring with, or NULL for a ring only
 *        the kernel uses
 * @num_slots: number of slots, a power of two
 * @slot_size: bytes per slot
 */
int hmmnic_queue_init(struct hmmnic_queue *q, struct ib_ucontext *ibuc,
		      u32 num_slots, u32 slot_size)
{
	size_t size;

	if (!is_power_of_2(num_slots) || !slot_size)
		return -EINVAL;
	size = PAGE_ALIGN(HMMNIC_QUEUE_SLOTS_OFFSET +
			  (size_t)num_slots * slot_size);

	if (ibuc) {
		q->mmap = hmmnic_mmap_buf_create(ibuc, size);
		if (IS_ERR(q->mmap))
			return PTR_ERR(q->mmap);
		q->buf = q->mmap->buf;
	} else {
		q->mmap = NULL;
		q->buf = vzalloc(size);
		if (!q->buf)
			return -ENOMEM;
	}
	q->size = size;
	q->num_slots = num_slots;
	q->slot_size = slot_size;
	return 0;
}

/* A shared ring's memory stays until user space unmaps it. */
void hmmnic_queue_destroy(struct hmmnic_queue *q)
{
	if (q->mmap)
		hmmnic_mmap_buf_remove(q->mmap);
	else
		vfree(q->buf);
	q->mmap = NULL;
	q->buf = NULL;
}

int hmmnic_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *rdma_entry;
	int err;

	/* Checks that the offset is live and the length matches exactly. */
	rdma_entry = rdma_user_mmap_entry_get(ibuc, vma);
	if (!rdma_entry)
		return -EINVAL;
	err = remap_vmalloc_range(vma, to_hentry(rdma_entry)->buf, 0);
	rdma_user_mmap_entry_put(rdma_entry);
	return err;
}

void hmmnic_mmap_free(struct rdma_user_mmap_entry *rdma_entry)
{
	struct hmmnic_mmap_entry *entry = to_hentry(rdma_entry);

	vfree(entry->buf);
	kfree(entry);
}
