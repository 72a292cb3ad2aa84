// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What an ODP page fault costs on the data path, next to what a CPU minor
 * fault costs in the same guest:
 *
 *   fault-cost [-d DEV] [-p PAGES] [-r ROUNDS]
 *
 * Each round maps PAGES fresh anonymous pages three times and measures:
 *
 * - cpu: the process writes one byte to each page (a minor fault that
 *   allocates and zeroes a page);
 * - responder: an RDMA WRITE of all pages (loopback RC, path MTU 1024)
 *   into an untouched ODP region, minus the same WRITE into the now
 *   faulted-in region;
 * - requester: the same with the ODP region as the untouched source of
 *   the WRITE (the requester faults the pages in).
 *
 * and prints per-page costs (median over the rounds) and the ratios
 * rdma/cpu. It also compares the warm ODP WRITE (the second one, into the
 * faulted-in region) with the same WRITE between two pinned regions, as
 * a bandwidth ratio: the steady-state cost of ODP, with no first touch in
 * it (perftest --odp includes the first touch of its buffers). The page_faults counter is read around every cold run: the
 * run must have faulted PAGES pages (a few more are allowed: background
 * compaction may move a page in the middle).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define PAGE	4096

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

/* One RDMA WRITE of @len bytes; nanoseconds from post to completion. */
static uint64_t write_ns(struct pair *p, void *src, uint32_t lkey,
			 void *dst, uint32_t rkey, uint32_t len)
{
	struct ibv_wc wc;
	uint64_t t0 = now_ns();

	post1(p->a.qp, 1, IBV_WR_RDMA_WRITE, src, len, lkey,
	      (uintptr_t)dst, rkey);
	expect_ok(p->a.scq, &wc, 1, IBV_WC_RDMA_WRITE, p->a.qp, "WRITE");
	return now_ns() - t0;
}

/* The page_faults counter, once the core's cache has caught up. */
static uint64_t faults_after(uint64_t old, uint64_t want)
{
	return counter_grown("page_faults", old, want);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Cold minus warm WRITE time per page, with the ODP side @odp_dst. */
static uint64_t rdma_fault_ns(struct pair *p, size_t pages, bool odp_dst,
			     void *pinned, struct ibv_mr *pmr,
			     uint64_t *warm_ns)
{
	size_t len = pages * PAGE;
	uint8_t *odp = fresh(len);
	struct ibv_mr *omr = reg(pd, odp, len, ACCESS_ALL |
				 IBV_ACCESS_ON_DEMAND);
	uint64_t f0 = counter("page_faults"), f1, cold, warm;

	if (odp_dst) {
		cold = write_ns(p, pinned, pmr->lkey, odp, omr->rkey, len);
		warm = write_ns(p, pinned, pmr->lkey, odp, omr->rkey, len);
	} else {
		cold = write_ns(p, odp, omr->lkey, pinned, pmr->rkey, len);
		warm = write_ns(p, odp, omr->lkey, pinned, pmr->rkey, len);
	}
	f1 = faults_after(f0, pages);
	/* more only if background compaction moved a page meanwhile */
	CHECK(f1 - f0 >= pages && f1 - f0 <= pages + pages / 8,
	      "%s run faulted %" PRIu64 " pages, want %zu",
	      odp_dst ? "responder" : "requester", f1 - f0, pages);
	CHECK(!ibv_dereg_mr(omr), "dereg_mr");
	munmap(odp, len);
	*warm_ns = warm;
	return cold > warm ? (cold - warm) / pages : 0;
}

int main(int argc, char **argv)
{
	size_t pages = 256, i;
	int rounds = 9, r, opt;
	uint64_t *cpu, *resp, *req, *warm, *pin, dummy;
	struct ibv_mr *pmr, *pmr2;
	uint8_t *pinned, *pinned2;
	struct pair p;

	while ((opt = getopt(argc, argv, "d:p:r:")) != -1) {
		switch (opt) {
		case 'd':
			setenv("HMMNIC_DEV", optarg, 1);
			break;
		case 'p':
			pages = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: fault-cost [-d DEV] [-p PAGES] [-r ROUNDS]\n");
			return 2;
		}
	}
	CHECK(pages > 0 && rounds > 0, "bad arguments");
	cpu = calloc(rounds, sizeof(*cpu));
	resp = calloc(rounds, sizeof(*resp));
	req = calloc(rounds, sizeof(*req));
	warm = calloc(rounds, sizeof(*warm));
	pin = calloc(rounds, sizeof(*pin));
	CHECK(cpu && resp && req && warm && pin, "calloc");

	rc_setup();
	pair_create(&p, &default_opts);
	pinned = fresh(pages * PAGE);
	memset(pinned, 0x5a, pages * PAGE);
	pmr = reg(pd, pinned, pages * PAGE, ACCESS_ALL);
	pinned2 = fresh(pages * PAGE);
	memset(pinned2, 0, pages * PAGE);
	pmr2 = reg(pd, pinned2, pages * PAGE, ACCESS_ALL);

	for (r = 0; r < rounds; r++) {
		volatile uint8_t *c = fresh(pages * PAGE);
		uint64_t t0 = now_ns();

		for (i = 0; i < pages; i++)
			c[i * PAGE] = 1;
		cpu[r] = (now_ns() - t0) / pages;
		munmap((void *)c, pages * PAGE);
		resp[r] = rdma_fault_ns(&p, pages, true, pinned, pmr,
					&warm[r]);
		pin[r] = write_ns(&p, pinned, pmr->lkey, pinned2, pmr2->rkey,
				  pages * PAGE);
		req[r] = rdma_fault_ns(&p, pages, false, pinned, pmr, &dummy);
	}

	printf("pages %zu rounds %d\n", pages, rounds);
	printf("cpu_minor_fault_ns %" PRIu64 "\n", median(cpu, rounds));
	printf("odp_responder_fault_ns %" PRIu64 "\n", median(resp, rounds));
	printf("odp_requester_fault_ns %" PRIu64 "\n", median(req, rounds));
	printf("ratio_responder_cpu %.2f\n",
	       (double)median(resp, rounds) / median(cpu, rounds));
	printf("ratio_requester_cpu %.2f\n",
	       (double)median(req, rounds) / median(cpu, rounds));
	printf("pinned_write_ns %" PRIu64 "\n", median(pin, rounds));
	printf("warm_odp_write_ns %" PRIu64 "\n", median(warm, rounds));
	printf("ratio_warm_odp_pinned_bw %.2f\n",
	       (double)median(pin, rounds) / median(warm, rounds));

	CHECK(!ibv_dereg_mr(pmr) && !ibv_dereg_mr(pmr2), "dereg_mr");
	pair_destroy(&p);
	rc_teardown();
	return 0;
}
