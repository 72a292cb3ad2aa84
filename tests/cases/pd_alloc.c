// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * PD allocation: many PDs on two contexts, freed in a scrambled order,
 * with the kernel's resource tracking (rdma resource) read back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmmtest.h"

#define NR_PD 1000

/* Number of PDs the rdma tool reports for the device. */
static int rdma_pd_count(const char *dev)
{
	char cmd[128], line[512];
	int count = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "rdma resource show %s", dev);
	p = popen(cmd, "r");
	CHECK(p, "popen(%s)", cmd);
	while (fgets(line, sizeof(line), p)) {
		char *s = strstr(line, " pd ");

		if (s)
			count = atoi(s + 4);
	}
	CHECK(pclose(p) == 0, "%s failed", cmd);
	CHECK(count >= 0, "no pd count in '%s'", cmd);
	return count;
}

static void limit_check(struct ibv_context *ctx, int base)
{
	struct ibv_device_attr attr;
	struct ibv_pd **all, *pd;
	int i, n;

	CHECK(!ibv_query_device(ctx, &attr), "query_device");
	n = attr.max_pd - base;
	all = calloc(n, sizeof(*all));
	CHECK(all, "calloc");
	for (i = 0; i < n; i++) {
		all[i] = ibv_alloc_pd(ctx);
		CHECK(all[i], "PD %d of max_pd %d: %s", base + i + 1,
		      attr.max_pd, strerror(errno));
	}
	errno = 0;
	pd = ibv_alloc_pd(ctx);
	CHECK(!pd && errno == ENOMEM, "PD beyond max_pd %d: errno %d",
	      attr.max_pd, errno);
	CHECK(!ibv_dealloc_pd(all[0]), "dealloc_pd");
	all[0] = ibv_alloc_pd(ctx);
	CHECK(all[0], "alloc_pd after freeing one at the limit");
	for (i = 0; i < n; i++)
		CHECK(!ibv_dealloc_pd(all[i]), "dealloc_pd");
	free(all);
	ht_log("max_pd %d enforced", attr.max_pd);
}

int main(void)
{
	static struct ibv_pd *pds[NR_PD];
	struct ibv_context *ctx[2];
	int base, i, j;

	ctx[0] = ht_open(ht_dev_name());
	ctx[1] = ht_open(ht_dev_name());
	base = rdma_pd_count(ht_dev_name());

	for (i = 0; i < NR_PD; i++) {
		pds[i] = ibv_alloc_pd(ctx[i & 1]);
		CHECK(pds[i], "ibv_alloc_pd #%d: %s", i, strerror(errno));
		CHECK(pds[i]->context == ctx[i & 1], "PD on the wrong context");
	}
	CHECK(rdma_pd_count(ht_dev_name()) == base + NR_PD,
	      "rdma resource shows %d PDs, want %d",
	      rdma_pd_count(ht_dev_name()), base + NR_PD);

	/* Free in a scrambled order: every 7th, then the rest. */
	for (i = 0; i < NR_PD; i += 7) {
		CHECK(!ibv_dealloc_pd(pds[i]), "dealloc_pd #%d", i);
		pds[i] = NULL;
	}
	for (j = 0; j < 100; j++) {
		i = j * 7;
		pds[i] = ibv_alloc_pd(ctx[0]);
		CHECK(pds[i], "realloc pd #%d: %s", i, strerror(errno));
	}
	for (i = NR_PD - 1; i >= 0; i--)
		if (pds[i])
			CHECK(!ibv_dealloc_pd(pds[i]), "dealloc_pd #%d", i);
	CHECK(rdma_pd_count(ht_dev_name()) == base,
	      "rdma resource shows %d PDs after freeing all, want %d",
	      rdma_pd_count(ht_dev_name()), base);

	/* PDs left behind are freed when the context closes. */
	for (i = 0; i < 10; i++)
		CHECK(ibv_alloc_pd(ctx[1]), "alloc_pd: %s", strerror(errno));
	CHECK(!ibv_close_device(ctx[1]), "close_device with PDs");
	CHECK(rdma_pd_count(ht_dev_name()) == base,
	      "PDs of a closed context still tracked");
	ht_log("%d PDs allocated and freed", NR_PD + 110);

	/* The advertised max_pd is enforced: one more fails with ENOMEM. */
	limit_check(ctx[0], base);
	CHECK(!ibv_close_device(ctx[0]), "close_device");
	return 0;
}
