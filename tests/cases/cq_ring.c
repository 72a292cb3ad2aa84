// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * CQ creation and the mmap plumbing behind it: each CQ's ring is mapped
 * from the uverbs device, the kernel accepts only live offsets with the
 * exact length, revokes the offset when the CQ is destroyed, and keeps the
 * memory valid for as long as a process still maps it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <rdma/hmmnic-abi.h>

#include "hmmtest.h"

struct uverbs_map {
	unsigned long start, end, offset;
};

/* The mappings of /dev/infiniband/uverbs* in this process. */
static int uverbs_maps(struct uverbs_map *maps, int max)
{
	char line[512], path[256];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	CHECK(f, "open /proc/self/maps");
	while (fgets(line, sizeof(line), f)) {
		struct uverbs_map m;

		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %255s", &m.start,
			   &m.end, &m.offset, path) < 3)
			continue;
		if (strncmp(path, "/dev/infiniband/uverbs", 22))
			continue;
		CHECK(n < max, "too many uverbs mappings");
		maps[n++] = m;
	}
	fclose(f);
	return n;
}

/* The one mapping that is not among the @n in @old. */
static struct uverbs_map new_map(const struct uverbs_map *old, int n)
{
	struct uverbs_map now[64];
	int i, j, found = -1, nnow = uverbs_maps(now, 64);

	CHECK(nnow == n + 1, "%d uverbs mappings, want %d", nnow, n + 1);
	for (i = 0; i < nnow; i++) {
		for (j = 0; j < n; j++)
			if (now[i].start == old[j].start)
				break;
		if (j == n)
			found = i;
	}
	CHECK(found >= 0, "no new mapping");
	return now[found];
}

static void check_empty(struct ibv_cq *cq)
{
	struct ibv_wc wc[4];

	CHECK(ibv_poll_cq(cq, 4, wc) == 0, "new CQ is not empty");
}

int main(void)
{
	struct ibv_device_attr attr;
	struct uverbs_map maps[64], m;
	struct ibv_cq *cq, *cqs[100];
	struct ibv_context *ctx;
	long page = sysconf(_SC_PAGESIZE);
	size_t len;
	void *p, *q;
	int i, n, sizes[] = { 1, 2, 16, 100, 1000, 4096 };

	ctx = ht_open(ht_dev_name());
	CHECK(!ibv_query_device(ctx, &attr), "query_device");
	n = uverbs_maps(maps, 64);

	/* Sizes: rounded up to a power of two, never below the request. */
	for (i = 0; i < (int)(sizeof(sizes) / sizeof(sizes[0])); i++) {
		cq = ibv_create_cq(ctx, sizes[i], NULL, NULL, 0);
		CHECK(cq, "create_cq(%d): %s", sizes[i], strerror(errno));
		CHECK(cq->cqe >= sizes[i] && !(cq->cqe & (cq->cqe - 1)),
		      "create_cq(%d) gave cqe %d", sizes[i], cq->cqe);
		check_empty(cq);
		CHECK(uverbs_maps(maps, 64) == n + 1, "no ring mapping for CQ");
		CHECK(!ibv_destroy_cq(cq), "destroy_cq");
		CHECK(uverbs_maps(maps, 64) == n, "ring still mapped after destroy");
	}
	cq = ibv_create_cq(ctx, attr.max_cqe, NULL, NULL, 0);
	CHECK(cq && cq->cqe == attr.max_cqe, "create_cq(max_cqe %d)", attr.max_cqe);
	CHECK(!ibv_destroy_cq(cq), "destroy_cq");
	errno = 0;
	CHECK(!ibv_create_cq(ctx, attr.max_cqe + 1, NULL, NULL, 0) && errno == EINVAL,
	      "create_cq(max_cqe + 1): errno %d", errno);
	errno = 0;
	CHECK(!ibv_create_cq(ctx, 0, NULL, NULL, 0) && errno == EINVAL,
	      "create_cq(0): errno %d", errno);
	errno = 0;
	CHECK(!ibv_create_cq(ctx, -1, NULL, NULL, 0), "create_cq(-1) worked");
	ht_log("CQ sizes 1..%d", attr.max_cqe);

	/* The ring mapping, seen from the kernel's side. */
	cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	CHECK(cq, "create_cq(64): %s", strerror(errno));
	m = new_map(maps, n);
	len = m.end - m.start;
	CHECK(len % page == 0 &&
	      len >= HMMNIC_QUEUE_SLOTS_OFFSET + 64 * sizeof(struct hmmnic_cqe),
	      "ring mapping of %zu bytes", len);

	/* A second mapping of the same ring shares its memory. */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ctx->cmd_fd, m.offset);
	CHECK(p != MAP_FAILED, "second mmap of the ring: %s", strerror(errno));
	CHECK(!memcmp(p, (void *)m.start, len), "second mapping differs");
	((struct hmmnic_queue_hdr *)p)->reserved0[0] = 0x5a5a;
	CHECK(((struct hmmnic_queue_hdr *)m.start)->reserved0[0] == 0x5a5a,
	      "mappings do not share memory");
	((struct hmmnic_queue_hdr *)p)->reserved0[0] = 0;

	/* Wrong length, unknown offset: refused. */
	q = mmap(NULL, len + page, PROT_READ, MAP_SHARED, ctx->cmd_fd, m.offset);
	CHECK(q == MAP_FAILED && errno == EINVAL, "mmap with a wrong length");
	q = mmap(NULL, page, PROT_READ, MAP_SHARED, ctx->cmd_fd, m.offset);
	CHECK(q == MAP_FAILED && errno == EINVAL, "mmap of part of the ring");
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, ctx->cmd_fd,
		 m.offset + 4096 * page);
	CHECK(q == MAP_FAILED && errno == EINVAL, "mmap of an unknown offset");

	/* Destroy: the offset is revoked, our extra mapping stays valid. */
	CHECK(!ibv_destroy_cq(cq), "destroy_cq");
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, ctx->cmd_fd, m.offset);
	CHECK(q == MAP_FAILED && errno == EINVAL, "mmap after destroy worked");
	CHECK(((volatile struct hmmnic_queue_hdr *)p)->producer == 0,
	      "ring memory changed after destroy");
	CHECK(!munmap(p, len), "munmap");
	ht_log("ring mmap: shared, exact length only, revoked on destroy");

	/* Many CQs, tracked by the kernel, freed with the context. */
	for (i = 0; i < 100; i++) {
		cqs[i] = ibv_create_cq(ctx, 32, NULL, NULL, 0);
		CHECK(cqs[i], "create_cq #%d: %s", i, strerror(errno));
	}
	for (i = 0; i < 100; i += 2)
		CHECK(!ibv_destroy_cq(cqs[i]), "destroy_cq #%d", i);
	CHECK(!ibv_close_device(ctx), "close_device with 50 CQs");
	ht_log("100 CQs created, 50 left to close_device");
	return 0;
}
