/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic rings and memory shared with user space (queue.c).
 *
 * A ring is a struct hmmnic_queue_hdr and a power-of-two number of slots
 * (layout in hmmnic-abi.h). Its two counters run free; each side writes its
 * own with release ordering after the slots it covers and reads the other's
 * with acquire ordering. Those barriers are all in the functions below,
 * and so is the rule that the kernel never uses a counter user space can
 * write without checking it (hmmnic_queue_peer_ok() in queue.c).
 */
#ifndef HMMNIC_QUEUE_H
#define HMMNIC_QUEUE_H

#include <linux/types.h>
#include <rdma/ib_verbs.h>
#include <rdma/hmmnic-abi.h>

/**
 * struct hmmnic_mmap_entry - a buffer user space maps through the uverbs fd
 * @rdma: the core's entry; its offset is what user space passes to mmap()
 * @buf: the vmalloc_user() buffer, freed with the entry (hmmnic_mmap_free())
 */
struct hmmnic_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	void *buf;
};

/**
 * struct hmmnic_queue - a ring of fixed-size slots (see hmmnic-abi.h)
 * @mmap: the mmap entry that owns @buf when the ring is shared with user
 *        space; NULL for a kernel-only ring, whose @buf is ours to free
 * @buf: struct hmmnic_queue_hdr, then the slots
 * @size: bytes of @buf, a multiple of PAGE_SIZE
 * @num_slots: slots in the ring, a power of two
 * @slot_size: bytes per slot
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

/* The slot a producer fills next (the kernel's rings only). */
static inline void *hmmnic_queue_prod_slot(struct hmmnic_queue *q)
{
	return hmmnic_queue_slot(q, hmmnic_queue_hdr(q)->producer);
}

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

/* The consumer's side: the kernel takes what the other side produced. */
int hmmnic_queue_produced(struct hmmnic_queue *q, u32 oldest, u32 *prod);
void hmmnic_queue_consume(struct hmmnic_queue *q, u32 cons);
u32 hmmnic_queue_skip(struct hmmnic_queue *q);

/* The producer's side: the kernel fills slots the other side consumes. */
int hmmnic_queue_used(struct hmmnic_queue *q);
bool hmmnic_queue_full(struct hmmnic_queue *q, u32 cons);
void hmmnic_queue_produce(struct hmmnic_queue *q);

void hmmnic_queue_set_state(struct hmmnic_queue *q, u32 state);

#endif /* HMMNIC_QUEUE_H */
