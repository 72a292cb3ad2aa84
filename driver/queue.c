// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory shared with user space. A buffer that user space maps (a queue
 * ring) is vmalloc_user() memory owned by an rdma_user_mmap_entry. The
 * object that created it removes the entry when it is destroyed; the core
 * frees the entry, and with it the buffer, once the last mapping is gone,
 * so user space can never touch freed memory.
 */
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
 * @offset: returns the mmap offset to hand to user space
 *
 * Returns the entry, whose @buf the kernel uses, or an ERR_PTR.
 */
struct hmmnic_mmap_entry *hmmnic_mmap_buf_create(struct ib_ucontext *ibuc,
						 size_t size, u64 *offset)
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
	*offset = rdma_user_mmap_get_offset(&entry->rdma);
	return entry;
}

/* Revoke @entry's offset; the buffer lives on until it is unmapped. */
void hmmnic_mmap_buf_remove(struct hmmnic_mmap_entry *entry)
{
	rdma_user_mmap_entry_remove(&entry->rdma);
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
