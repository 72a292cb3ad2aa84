// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Memory shared with user space, and the rules of its rings.
 *
 * A buffer that user space maps (a queue ring) is vmalloc_user() memory
 * owned by an rdma_user_mmap_entry. The object that created it removes the
 * entry when it is destroyed; the core frees the entry, and with it the
 * buffer, once the last mapping is gone, so user space can never touch
 * freed memory.
 *
 * Every barrier on a ring's counters is here, and so is the check of a
 * counter user space writes: the kernel uses one only after
 * hmmnic_queue_peer_ok(). Where the kernel consumes a ring (a send or
 * receive queue) its own position lives in kernel memory and the ring's
 * consumer counter is only published, never read back. (cq.c's kernel
 * poll and resize touch a kernel CQ's counters under the CQ's lock.)
 */
#include <linux/log2.h>
#include <linux/vmalloc.h>

#include "hmmnic.h"
#include "queue.h"
#include "verbs.h"

static struct hmmnic_mmap_entry *to_hentry(struct rdma_user_mmap_entry *e)
{
	return container_of(e, struct hmmnic_mmap_entry, rdma);
}

/**
 * hmmnic_mmap_buf_create - allocate a zeroed buffer user space can mmap
 * @ibuc: the user context that may map it
 * @size: bytes wanted; rounded up to whole pages
 *
 * Return: the entry, whose @buf the kernel uses and whose offset
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
 *
 * Return: 0, -EINVAL for a bad geometry, or -ENOMEM.
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

/* ---- the counters ---- */

/*
 * The one rule for a counter the other side writes: @ahead (a producer)
 * may be at most the ring's size beyond @behind (a consumer), and never
 * behind it. Free-running u32 arithmetic makes "behind" a huge distance.
 */
static bool hmmnic_queue_peer_ok(struct hmmnic_queue *q, u32 ahead, u32 behind)
{
	return ahead - behind <= q->num_slots;
}

/**
 * hmmnic_queue_produced - read the producer of a ring the kernel consumes
 * @q: the ring (a send queue, a receive queue or an SRQ)
 * @oldest: the oldest slot the kernel has not given back yet
 * @prod: where to store the producer
 *
 * The slots up to *@prod are the producer's to read once this returns
 * (acquire, pairing with the producer's release after it wrote them).
 *
 * Return: 0, or -EIO if the producer is impossible (more than the ring
 * ahead of @oldest, or behind it): user space broke the ring.
 */
int hmmnic_queue_produced(struct hmmnic_queue *q, u32 oldest, u32 *prod)
{
	/* pairs with the producer's release after it wrote the slots */
	*prod = smp_load_acquire(&hmmnic_queue_hdr(q)->producer);
	return hmmnic_queue_peer_ok(q, *prod, oldest) ? 0 : -EIO;
}

/**
 * hmmnic_queue_consume - give the slots before @cons back to the producer
 * @q: a ring the kernel consumes
 * @cons: the kernel's own consumer position
 *
 * Publishes @cons for the producer (release: the slots were copied
 * before it may reuse them). The kernel never reads it back.
 */
void hmmnic_queue_consume(struct hmmnic_queue *q, u32 cons)
{
	/* the slots were copied before the producer may reuse them */
	smp_store_release(&hmmnic_queue_hdr(q)->consumer, cons);
}

/**
 * hmmnic_queue_skip - drop everything posted to a ring the kernel consumes
 * @q: the ring, of a QP or SRQ being reset
 *
 * Return: the new consumer position (the producer as read now, whatever
 * it is: any value is a consistent empty ring), already published.
 */
u32 hmmnic_queue_skip(struct hmmnic_queue *q)
{
	u32 prod = READ_ONCE(hmmnic_queue_hdr(q)->producer);

	hmmnic_queue_consume(q, prod);
	return prod;
}

/**
 * hmmnic_queue_used - slots of a ring the kernel produces not consumed yet
 * @q: the ring (a CQ, or a kernel QP's send queue)
 *
 * Reads the consumer with acquire ordering, pairing with the consumer's
 * release after it read the slots.
 *
 * Return: the number of used slots, or -EIO if the consumer (written by
 * user space for a shared ring) is impossible.
 */
int hmmnic_queue_used(struct hmmnic_queue *q)
{
	struct hmmnic_queue_hdr *hdr = hmmnic_queue_hdr(q);
	/* pairs with the consumer's release after it read the slots */
	u32 cons = smp_load_acquire(&hdr->consumer);
	/* one read: the value checked is the value returned */
	u32 prod = READ_ONCE(hdr->producer);

	return hmmnic_queue_peer_ok(q, prod, cons) ? prod - cons : -EIO;
}

/**
 * hmmnic_queue_full - has a ring the kernel produces no free slot?
 * @q: the ring (a kernel QP's receive queue or a kernel SRQ)
 * @cons: the kernel's own consumer position
 *
 * Return: true if the slot at the producer is still in use.
 */
bool hmmnic_queue_full(struct hmmnic_queue *q, u32 cons)
{
	return hmmnic_queue_hdr(q)->producer - cons >= q->num_slots;
}

/**
 * hmmnic_queue_produce - publish the slot at the producer
 * @q: a ring the kernel produces, whose slot at the producer is written
 *
 * Release: the slot is visible before the producer that covers it.
 */
void hmmnic_queue_produce(struct hmmnic_queue *q)
{
	struct hmmnic_queue_hdr *hdr = hmmnic_queue_hdr(q);

	/* the slot is visible before the producer that covers it */
	smp_store_release(&hdr->producer, hdr->producer + 1);
}

/**
 * hmmnic_queue_set_state - publish a state in the ring's header
 * @q: a send queue (the QP state) or a CQ (its error state)
 * @state: the value for user space
 *
 * A full barrier after the store pairs with the provider's fence between
 * its producer and its read of the state: either the kernel sees the
 * producer, or the provider sees the state.
 */
void hmmnic_queue_set_state(struct hmmnic_queue *q, u32 state)
{
	WRITE_ONCE(hmmnic_queue_hdr(q)->state, state);
	/* pairs with the provider's fence between producer and state */
	smp_mb();
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
