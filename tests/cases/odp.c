// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * On-demand paging: RDMA on ODP memory regions, and what the CPU side may
 * do to the memory behind them. RC pairs in loopback (rctest.h); every
 * buffer is a fresh anonymous mapping that the CPU has not touched unless
 * a case says so, and every byte that moves is compared.
 *
 * - caps: odp_caps of ibv_query_device_ex are what the driver implements.
 * - ops: WRITE, READ, SEND/RECV and both atomics between untouched
 *   explicit ODP regions fault every page in (page_faults counts them, on
 *   the port and per MR in "rdma -dd resource show mr").
 * - implicit: an implicit ODP region (NULL, SIZE_MAX) serves any address,
 *   grows a child per 2 MiB touched, and frees them after munmap.
 * - munmap, dontneed, mremap: after munmap and a new mapping at the same
 *   address, after MADV_DONTNEED, and after mremap moved the pages away,
 *   RDMA sees the new contents (or an access error where nothing is
 *   mapped), never the old pages.
 * - fork: after fork, CPU writes in the parent (a COW break) are what
 *   RDMA reads; the child's writes never reach the parent's region, and
 *   an RDMA WRITE in the parent never reaches the child.
 * - mprotect: after mprotect(PROT_READ), a remote WRITE fails with
 *   IBV_WC_REM_ACCESS_ERR while READ still works.
 * - unmapped: a WRITE from an ODP lkey whose pages are gone fails with
 *   IBV_WC_LOC_PROT_ERR.
 * - fault_errors: a SEND into an unmapped ODP receive buffer completes
 *   with LOC_PROT_ERR on the receiver and REM_OP_ERR on the sender; a
 *   READ into an unmapped ODP buffer with LOC_PROT_ERR.
 * - atomic_misaligned: a region whose iova and address differ within a
 *   page is refused; an atomic at a misaligned address of an ODP region
 *   fails with REM_INV_REQ_ERR and changes nothing.
 * - thp: transparent huge pages (checked in smaps), split by mprotect
 *   and collapsed by MADV_COLLAPSE, stay coherent.
 * - shmem: a memfd mapping and a file on tmpfs, written through RDMA, read
 *   through a second mapping; a punched hole reads back as zeros.
 * - migrate: move_pages() to the other NUMA node and back (the test VM
 *   has two) invalidates every page, and RDMA follows the pages; so does
 *   compaction.
 * - trace: the fault (with its latency), invalidate and prefetch
 *   tracepoints fire for the region.
 * - prefetch: ibv_advise_mr PREFETCH_WRITE with FLUSH mirrors the pages
 *   (no fault afterwards), PREFETCH_NO_FAULT adds none, asynchronous
 *   prefetch completes in the background.
 * - prefetch_holes: NO_FAULT through an implicit region over 3 GiB with one
 *   16-page mapping skips the holes (page_prefetch grows by exactly 16)
 *   and mirrors the mapped pages.
 * - rnr: with fault_mode=rnr, a WRITE, a SEND and an atomic on untouched
 *   memory are answered with RNR NAKs until the pages are in, and still
 *   land intact.
 * - busy: ODP faults that fail for now (-EBUSY, as when invalidations keep
 *   beating hmm_range_fault(); injected through debugfs fail_odp_fault):
 *   the responder answers a WRITE, SEND or atomic with one RNR NAK per
 *   failure and a READ later, the requester retries its source and asks
 *   again for a READ response or atomic result it could not place (the
 *   atomic runs once), a UD datagram is dropped (drop_page_fault) and its
 *   WQE kept; every byte arrives. Failures without end end in
 *   RNR_RETRY_EXC_ERR, REM_OP_ERR and LOC_PROT_ERR.
 * - provider_modes: the provider's HMMNIC_ODP_MODE, read when a context
 *   is opened: "implicit" makes ODP registrations views of one implicit
 *   region per PD (same keys, "rdma resource" shows one implicit MR; the
 *   region lives while a view does, and RDMA through a view works), "warm"
 *   returns with every page prefetched (no fault on the first access),
 *   "prefetch" prefetches in the background, an unknown value is the
 *   default (faults on access, explicit regions).
 * - race_munmap, race_fork: RDMA WRITE/READ traffic on a region while
 *   another thread replaces its mapping or the process forks, in loops;
 *   afterwards RDMA and the CPU agree on every byte.
 *
 *   odp [CASE...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define PAGE		4096
#define REGION		(1 << 20)
#define ODP		(ACCESS_ALL | IBV_ACCESS_ON_DEMAND)
#define FAULT_MODE	"/sys/module/hmmnic/parameters/fault_mode"

#define TMPFS_MAGIC	0x01021994
#define MPOL_MF_MOVE	(1 << 1)
#define TRACEFS		"/sys/kernel/tracing"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
	return p;
}

/* A 2 MiB aligned anonymous mapping of @len bytes. */
static void *map_aligned(size_t len)
{
	uint8_t *p = map_anon(len + (2 << 20));
	uint8_t *a = (uint8_t *)(((uintptr_t)p + (2 << 20) - 1) &
				 ~(uintptr_t)((2 << 20) - 1));

	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + len + (2 << 20) - (a + len));
	return a;
}

/* One RDMA op from @lbuf/@lkey to @raddr/@rkey on p->a; waits for it. */
static void rdma(struct pair *p, enum ibv_wr_opcode op, void *lbuf,
		 uint32_t len, uint32_t lkey, void *raddr, uint32_t rkey,
		 const char *what)
{
	struct ibv_wc wc;

	post1(p->a.qp, op, op, lbuf, len, lkey, (uintptr_t)raddr, rkey);
	expect_ok(p->a.scq, &wc, op, op == IBV_WR_RDMA_READ ?
		  IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE, p->a.qp, what);
}

/* RDMA READ @len bytes at @raddr into a fresh pinned buffer; compare. */
static void read_check(struct pair *p, void *raddr, uint32_t rkey,
		       const void *want, uint32_t len, const char *what)
{
	uint8_t *got = map_anon(len);
	struct ibv_mr *mr = reg(pd, got, len, ACCESS_ALL);

	memset(got, 0x5a, len);
	rdma(p, IBV_WR_RDMA_READ, got, len, mr->lkey, raddr, rkey, what);
	check_bytes(got, want, len, what);
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	munmap(got, len);
}

static void write_file(const char *path, const char *what)
{
	FILE *f = fopen(path, "w");

	CHECK(f, "open %s: %s", path, strerror(errno));
	CHECK(fputs(what, f) >= 0 && !fclose(f), "write %s", path);
}

static uint64_t faults(void)
{
	return counter("page_faults");
}

/* kB of transparent huge pages in the mapping that holds @addr. */
static long thp_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long lo, hi;
	bool in = false;
	char line[256];
	long kb = -1;

	CHECK(f, "open smaps");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = lo <= (uintptr_t)addr && (uintptr_t)addr < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/*
 * A driver attribute of @mr as "rdma -dd resource show mr" prints it
 * (drv_NAME VALUE; "odp" gives 1 for explicit, 2 for implicit); -1 if the
 * line or the name is missing.
 */
static long long mr_attr(struct ibv_mr *mr, const char *name)
{
	char cmd[128], line[2048], key[48], attr[48], *p;
	long long v = -1;
	bool mine = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "rdma -dd resource show mr dev %s",
		 ht_dev_name());
	snprintf(key, sizeof(key), "lkey 0x%x ", mr->lkey);
	f = popen(cmd, "r");
	CHECK(f, "popen %s", cmd);
	/*
	 * One MR per "dev ..." line; newer iproute2 (6.15) continues its
	 * driver attributes on indented lines, which belong to the same MR.
	 */
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "dev ", 4))
			mine = strstr(line, key) != NULL;
		if (!mine)
			continue;
		snprintf(attr, sizeof(attr), " drv_%s ", name);
		p = strstr(line, attr);
		if (p && !strcmp(name, "odp"))
			v = !strncmp(p + strlen(attr), "explicit", 8) ? 1 : 2;
		else if (p)
			v = strtoll(p + strlen(attr), NULL, 0);
	}
	pclose(f);
	return v;
}

static void advise(struct ibv_mr *mr, void *addr, uint32_t len,
		   enum ibv_advise_mr_advice advice, uint32_t flags);

/* ---- caps ---- */

static void case_caps(void)
{
	struct ibv_device_attr_ex attr;
	const uint32_t rc = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			    IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			    IBV_ODP_SUPPORT_ATOMIC | IBV_ODP_SUPPORT_SRQ_RECV;
	const uint32_t ud = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			    IBV_ODP_SUPPORT_SRQ_RECV;
	int ret;

	ret = ibv_query_device_ex(ctx, NULL, &attr);
	CHECK(!ret, "query_device_ex: %s", strerror(ret));
	CHECK(attr.odp_caps.general_caps ==
	      (IBV_ODP_SUPPORT | IBV_ODP_SUPPORT_IMPLICIT),
	      "general_caps 0x%" PRIx64, attr.odp_caps.general_caps);
	CHECK(attr.odp_caps.per_transport_caps.rc_odp_caps == rc,
	      "rc_odp_caps 0x%x", attr.odp_caps.per_transport_caps.rc_odp_caps);
	CHECK(attr.odp_caps.per_transport_caps.ud_odp_caps == ud,
	      "ud_odp_caps 0x%x", attr.odp_caps.per_transport_caps.ud_odp_caps);
	CHECK(!attr.odp_caps.per_transport_caps.uc_odp_caps &&
	      !attr.xrc_odp_caps, "UC or XRC ODP caps advertised");
}

/* ---- traffic on untouched ODP memory ---- */

static void case_ops(struct pair *p)
{
	uint8_t *src = map_anon(REGION), *dst = map_anon(REGION);
	uint8_t *ref = malloc(REGION);
	struct ibv_mr *smr = reg(pd, src, REGION, ODP);
	struct ibv_mr *dmr = reg(pd, dst, REGION, ODP);
	uint64_t f0 = faults(), f1, orig;
	uint32_t len = REGION - 2 * PAGE;
	struct ibv_wc wc;

	CHECK(ref, "malloc");
	/* WRITE from untouched (zero) source into untouched destination */
	rdma(p, IBV_WR_RDMA_WRITE, src + 7, len, smr->lkey, dst + 11,
	     dmr->rkey, "WRITE zeros between untouched regions");
	memset(ref, 0, len);
	check_bytes(dst + 11, ref, len, "WRITE of zero pages");
	f1 = counter_grown("page_faults", f0, 2 * (len / PAGE));
	CHECK(f1 - f0 >= 2 * (len / PAGE), "page_faults grew by %" PRIu64
	      ", want >= %u", f1 - f0, 2 * (len / PAGE));
	CHECK(mr_attr(dmr, "odp") == 1, "rdma resource: odp is not explicit");
	/* (more only if compaction moved a page meanwhile) */
	CHECK(mr_attr(dmr, "page_faults") >= len / PAGE + 1,
	      "per-MR page_faults %lld, want %u", mr_attr(dmr, "page_faults"),
	      len / PAGE + 1);
	CHECK(mr_attr(dmr, "page_faults_handled") >= 1 &&
	      mr_attr(dmr, "page_faults_handled") <= len / PAGE + 1,
	      "per-MR page_faults_handled %lld",
	      mr_attr(dmr, "page_faults_handled"));

	/* WRITE real data; READ it back into untouched ODP memory */
	fill_random(src, REGION);
	rdma(p, IBV_WR_RDMA_WRITE, src + 3, len, smr->lkey, dst + 5,
	     dmr->rkey, "WRITE random data");
	check_bytes(dst + 5, src + 3, len, "WRITE random data");
	munmap(src, REGION);
	src = mmap(src, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(src != MAP_FAILED, "mmap: %s", strerror(errno));
	rdma(p, IBV_WR_RDMA_READ, src + 9, len, smr->lkey, dst + 5,
	     dmr->rkey, "READ into a new mapping");
	check_bytes(src + 9, dst + 5, len, "READ into a new mapping");

	/* SEND/RECV, both sides ODP */
	munmap(dst, REGION);
	CHECK(mmap(dst, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == dst,
	      "mmap: %s", strerror(errno));
	post_recv1(p->b.qp, 77, dst + 1, 300000, dmr->lkey);
	post1(p->a.qp, 78, IBV_WR_SEND, src + 2, 300000, smr->lkey, 0, 0);
	expect_ok(p->a.scq, &wc, 78, IBV_WC_SEND, p->a.qp, "SEND");
	expect_ok(p->b.rcq, &wc, 77, IBV_WC_RECV, p->b.qp, "RECV");
	CHECK(wc.byte_len == 300000, "RECV byte_len %u", wc.byte_len);
	check_bytes(dst + 1, src + 2, 300000, "SEND into ODP");

	/* atomics on an untouched page; the result lands in ODP memory */
	munmap(dst, REGION);
	CHECK(mmap(dst, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == dst,
	      "mmap: %s", strerror(errno));
	{
		struct ibv_send_wr wr;
		struct ibv_sge sge;

		wr_init(&wr, &sge, 90, IBV_WR_ATOMIC_FETCH_AND_ADD,
			src + 4 * PAGE, 8, smr->lkey);
		wr.wr.atomic.remote_addr = (uintptr_t)(dst + 8 * PAGE);
		wr.wr.atomic.rkey = dmr->rkey;
		wr.wr.atomic.compare_add = 5;
		post(p->a.qp, &wr);
		expect_ok(p->a.scq, &wc, 90, IBV_WC_FETCH_ADD, p->a.qp,
			  "FETCH_ADD");
		memcpy(&orig, src + 4 * PAGE, 8);
		CHECK(orig == 0, "FETCH_ADD returned %" PRIu64, orig);

		wr_init(&wr, &sge, 91, IBV_WR_ATOMIC_CMP_AND_SWP,
			src + 5 * PAGE, 8, smr->lkey);
		wr.wr.atomic.remote_addr = (uintptr_t)(dst + 8 * PAGE);
		wr.wr.atomic.rkey = dmr->rkey;
		wr.wr.atomic.compare_add = 5;
		wr.wr.atomic.swap = 0x1122334455667788ULL;
		post(p->a.qp, &wr);
		expect_ok(p->a.scq, &wc, 91, IBV_WC_COMP_SWAP, p->a.qp,
			  "CMP_SWAP");
		memcpy(&orig, src + 5 * PAGE, 8);
		CHECK(orig == 5, "CMP_SWAP returned %" PRIu64, orig);
		memcpy(&orig, dst + 8 * PAGE, 8);
		CHECK(orig == 0x1122334455667788ULL, "target holds 0x%" PRIx64,
		      orig);
	}

	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr), "dereg_mr");
	munmap(src, REGION);
	munmap(dst, REGION);
	free(ref);
}

static void case_implicit(struct pair *p)
{
	struct ibv_mr *imr = ibv_reg_mr(pd, NULL, SIZE_MAX, ODP);
	uint8_t *src = malloc(REGION), *dst = map_aligned(4 * REGION);
	uint64_t f0 = faults();

	CHECK(imr, "implicit reg_mr: %s", strerror(errno));
	CHECK(src, "malloc");
	fill_random(src, REGION);
	/* across the boundary of two 2 MiB children that only dst covers */
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, imr->lkey,
	     dst + 2 * REGION - 4096 - 3, imr->rkey, "implicit WRITE");
	check_bytes(dst + 2 * REGION - 4096 - 3, src, REGION,
		    "implicit WRITE");
	read_check(p, dst + 2 * REGION - 4096 - 3, imr->rkey, src, REGION,
		   "implicit READ");
	CHECK(counter_grown("page_faults", f0, 256) - f0 >= 256,
	      "page_faults did not grow");
	CHECK(mr_attr(imr, "odp") == 2, "rdma resource: odp is not implicit");
	CHECK(mr_attr(imr, "odp_children") >= 2, "odp_children %lld",
	      mr_attr(imr, "odp_children"));
	CHECK(mr_attr(imr, "page_faults") >= 256, "per-MR page_faults %lld",
	      mr_attr(imr, "page_faults"));
	/* the children of the range unmapped are freed when empty */
	{
		long long before = mr_attr(imr, "odp_children"), now;
		uint64_t deadline = now_ms() + 2000;

		munmap(dst, 4 * REGION);

		while ((now = mr_attr(imr, "odp_children")) >= before &&
		       now_ms() < deadline)
			sleep_us(20000);
		CHECK(now <= before - 2, "odp_children %lld -> %lld after munmap",
		      before, now);
	}
	/* An address with nothing mapped: remote access error */
	post1(p->a.qp, 5, IBV_WR_RDMA_WRITE, src, 64, imr->lkey,
	      (uintptr_t)dst, imr->rkey);
	expect_err(p->a.scq, 5, IBV_WC_REM_ACCESS_ERR, p->a.qp, POLL_MS,
		   "implicit WRITE to unmapped memory");
	CHECK(!ibv_dereg_mr(imr), "dereg implicit mr");
	free(src);
}

/* ---- invalidation ---- */

static void case_munmap(struct pair *p)
{
	uint8_t *r = map_anon(REGION), *want = malloc(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	uint64_t i0 = counter("page_invalidations");
	int round;

	CHECK(want, "malloc");
	for (round = 0; round < 3; round++) {
		fill_random(r, REGION);
		memcpy(want, r, REGION);
		read_check(p, r, mr->rkey, want, REGION, "READ before munmap");
		CHECK(!munmap(r, REGION), "munmap: %s", strerror(errno));
		CHECK(mmap(r, REGION, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == r,
		      "mmap: %s", strerror(errno));
		memset(want, 0, REGION);
		read_check(p, r, mr->rkey, want, REGION,
			   "READ of the new (zero) mapping");
	}
	CHECK(counter_grown("page_invalidations", i0, REGION / PAGE) - i0 >=
	      REGION / PAGE, "page_invalidations did not grow");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	munmap(r, REGION);
	free(want);
}

static void case_dontneed(struct pair *p)
{
	uint8_t *r = map_anon(REGION), *want = malloc(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	uint8_t *src = map_anon(REGION);
	struct ibv_mr *smr = reg(pd, src, REGION, ACCESS_ALL);

	CHECK(want, "malloc");
	fill_random(src, REGION);
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE");
	check_bytes(r, src, REGION, "WRITE before MADV_DONTNEED");
	CHECK(!madvise(r, REGION, MADV_DONTNEED), "madvise: %s",
	      strerror(errno));
	memset(want, 0, REGION);
	read_check(p, r, mr->rkey, want, REGION, "READ after MADV_DONTNEED");
	fill_random(r + PAGE, PAGE);
	memcpy(want + PAGE, r + PAGE, PAGE);
	read_check(p, r, mr->rkey, want, REGION, "READ after a CPU write");
	/* and RDMA writes land in the pages the CPU now sees */
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE after MADV_DONTNEED");
	check_bytes(r, src, REGION, "WRITE after MADV_DONTNEED");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, REGION);
	free(want);
}

static void case_mremap(void)
{
	uint8_t *r = map_anon(REGION), *moved, *want = malloc(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct pair p;

	CHECK(want, "malloc");
	pair_create(&p, &default_opts);
	fill_random(r, REGION);
	memcpy(want, r, REGION);
	read_check(&p, r, mr->rkey, want, REGION, "READ before mremap");
	/* move the pages to a place reserved for them */
	moved = mremap(r, REGION, REGION, MREMAP_MAYMOVE | MREMAP_FIXED,
		       map_anon(REGION));
	CHECK(moved != MAP_FAILED, "mremap: %s", strerror(errno));
	check_bytes(moved, want, REGION, "moved pages");
	/* nothing is mapped at the registered addresses any more */
	{
		uint8_t *got = map_anon(PAGE);
		struct ibv_mr *gmr = reg(pd, got, PAGE, ACCESS_ALL);

		post1(p.a.qp, 9, IBV_WR_RDMA_READ, got, PAGE, gmr->lkey,
		      (uintptr_t)r, mr->rkey);
		expect_err(p.a.scq, 9, IBV_WC_REM_ACCESS_ERR, p.a.qp, POLL_MS,
			   "READ of the moved-away range");
		pair_destroy(&p);
		CHECK(!ibv_dereg_mr(gmr), "dereg_mr");
		munmap(got, PAGE);
	}
	/* a new mapping at the old address is what RDMA sees */
	CHECK(mmap(r, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == r,
	      "mmap: %s", strerror(errno));
	fill_random(r, REGION);
	memcpy(want, r, REGION);
	pair_create(&p, &default_opts);
	read_check(&p, r, mr->rkey, want, REGION, "READ of the new mapping");
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	munmap(r, REGION);
	munmap(moved, REGION);
	free(want);
}

/*
 * The fork cases' pairs wait 4 s per try for an ACK (timeout 20): a fork
 * holds the process's mmap lock, which the responder's faults need, and
 * on a KASAN kernel a fork, or the COW breaks of a WRITE after it, takes
 * longer than the default 67 ms many times.
 */
static const struct rc_opts race_opts = {
	.timeout = 20, .retry_cnt = 7, .rnr_retry = 7,
};

static void case_fork(void)
{
	struct pair q, *p = &q;
	uint8_t *r = map_anon(REGION), *want = malloc(REGION);
	uint8_t *src = map_anon(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, REGION, ACCESS_ALL);
	int to_child[2], to_parent[2], status;
	char c;
	pid_t pid;

	CHECK(want && !pipe(to_child) && !pipe(to_parent), "setup");
	pair_create(p, &race_opts);
	fill_pattern(r, REGION, 0x11);
	read_check(p, r, mr->rkey, r, REGION, "READ before fork");

	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		/* the child writes its copy, then checks it after the parent's
		 * RDMA WRITE: only its own bytes may be there */
		memset(r, 0x22, REGION / 2);
		if (write(to_parent[1], "w", 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(2);
		for (size_t i = 0; i < REGION; i++)
			if (r[i] != (i < REGION / 2 ? 0x22 : 0x11))
				_exit(3);
		_exit(0);
	}
	CHECK(read(to_parent[0], &c, 1) == 1, "child did not write");
	/* the child's writes are not the parent's */
	fill_pattern(want, REGION, 0x11);
	read_check(p, r, mr->rkey, want, REGION,
		   "READ in the parent after the child wrote");
	/* a CPU write in the parent breaks COW: RDMA sees the new page */
	memset(r + REGION / 4, 0x33, REGION / 2);
	memset(want + REGION / 4, 0x33, REGION / 2);
	read_check(p, r, mr->rkey, want, REGION,
		   "READ after the parent's COW break");
	/* an RDMA WRITE in the parent lands in the parent only */
	fill_random(src, REGION);
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE after fork");
	check_bytes(r, src, REGION, "parent after RDMA WRITE");
	CHECK(write(to_child[1], "c", 1) == 1, "wake child");
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
	      "child saw the wrong bytes (status 0x%x)", status);
	check_bytes(r, src, REGION, "parent after the child exited");
	pair_destroy(p);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, REGION);
	free(want);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void case_mprotect(void)
{
	uint8_t *r = map_anon(REGION), *src = map_anon(PAGE);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, PAGE, ACCESS_ALL);
	struct pair p;

	pair_create(&p, &default_opts);
	fill_random(src, PAGE);
	rdma(&p, IBV_WR_RDMA_WRITE, src, PAGE, smr->lkey, r, mr->rkey,
	     "WRITE before mprotect");
	check_bytes(r, src, PAGE, "WRITE before mprotect");
	CHECK(!mprotect(r, REGION, PROT_READ), "mprotect: %s",
	      strerror(errno));
	read_check(&p, r, mr->rkey, src, PAGE, "READ of read-only memory");
	post1(p.a.qp, 4, IBV_WR_RDMA_WRITE, src, PAGE, smr->lkey,
	      (uintptr_t)r + PAGE, mr->rkey);
	expect_err(p.a.scq, 4, IBV_WC_REM_ACCESS_ERR, p.a.qp, POLL_MS,
		   "WRITE to read-only memory");
	pair_destroy(&p);
	check_bytes(r, src, PAGE, "read-only page after the failed WRITE");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, PAGE);
}

static void case_unmapped(void)
{
	uint8_t *r = map_anon(REGION), *dst = map_anon(PAGE);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *dmr = reg(pd, dst, PAGE, ACCESS_ALL);
	uint64_t e0 = counter("page_fault_errors");
	struct pair p;

	pair_create(&p, &default_opts);
	CHECK(!munmap(r, REGION), "munmap");
	post1(p.a.qp, 3, IBV_WR_RDMA_WRITE, r, PAGE, mr->lkey,
	      (uintptr_t)dst, dmr->rkey);
	expect_err(p.a.scq, 3, IBV_WC_LOC_PROT_ERR, p.a.qp, POLL_MS,
		   "WRITE from an unmapped ODP source");
	CHECK(counter_grown("page_fault_errors", e0, 1) > e0,
	      "page_fault_errors did not grow");
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(dmr), "dereg_mr");
	munmap(dst, PAGE);
}

/*
 * Atomics need an 8-byte aligned target. The core refuses a region whose
 * iova and address differ within a page, so an aligned iova always means
 * an aligned address; a misaligned iova on an ODP region gets an invalid
 * request NAK, and the bytes around it stay as they were.
 */
static void case_atomic_misaligned(void)
{
	uint8_t *t = map_anon(PAGE), *src = map_anon(PAGE);
	struct ibv_mr *smr = reg(pd, src, PAGE, ACCESS_ALL), *mr;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	struct pair p;

	mr = ibv_reg_mr_iova2(pd, t + 4, PAGE - 4, 0x10000, ODP);
	CHECK(!mr && errno == EINVAL, "iova and address with different "
	      "page offsets: %s", mr ? "registered" : strerror(errno));
	mr = reg(pd, t, PAGE, ODP);
	fill_pattern(t, PAGE, 0x3c);
	pair_create(&p, &default_opts);
	wr_init(&wr, &sge, 21, IBV_WR_ATOMIC_FETCH_AND_ADD, src, 8,
		smr->lkey);
	wr.wr.atomic.remote_addr = (uintptr_t)t + 100;
	wr.wr.atomic.rkey = mr->rkey;
	wr.wr.atomic.compare_add = 1;
	post(p.a.qp, &wr);
	expect_err(p.a.scq, 21, IBV_WC_REM_INV_REQ_ERR, p.a.qp, POLL_MS,
		   "misaligned atomic on ODP memory");
	pair_destroy(&p);
	check_pattern(t, PAGE, 0x3c, "bytes around the misaligned atomic");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(t, PAGE);
	munmap(src, PAGE);
}

/* Faults that cannot be satisfied complete with an error on each side. */
static void case_fault_errors(void)
{
	uint8_t *r = map_anon(REGION), *src = map_anon(PAGE);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, PAGE, ACCESS_ALL);
	struct ibv_wc wc;
	struct pair p;

	CHECK(!munmap(r, REGION), "munmap");
	/* SEND into a receive buffer whose pages are gone */
	pair_create(&p, &default_opts);
	post_recv1(p.b.qp, 11, r, PAGE, mr->lkey);
	post1(p.a.qp, 12, IBV_WR_SEND, src, 64, smr->lkey, 0, 0);
	expect_err(p.a.scq, 12, IBV_WC_REM_OP_ERR, p.a.qp, POLL_MS,
		   "SEND into an unmapped ODP receive buffer (sender)");
	poll_one(p.b.rcq, &wc, "receiver of the failed SEND");
	CHECK(wc.wr_id == 11 && wc.status == IBV_WC_LOC_PROT_ERR,
	      "receiver: wr_id %" PRIu64 " status %s, want 11 LOC_PROT_ERR",
	      wc.wr_id, ibv_wc_status_str(wc.status));
	pair_destroy(&p);
	/* READ whose local target pages are gone */
	pair_create(&p, &default_opts);
	post1(p.a.qp, 13, IBV_WR_RDMA_READ, r, 64, mr->lkey,
	      (uintptr_t)src, smr->rkey);
	expect_err(p.a.scq, 13, IBV_WC_LOC_PROT_ERR, p.a.qp, POLL_MS,
		   "READ into an unmapped ODP buffer");
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(src, PAGE);
}

static void case_thp(struct pair *p)
{
	size_t len = 4 << 20;
	uint8_t *r = map_aligned(len), *want = malloc(len);
	uint8_t *src = map_anon(len);
	struct ibv_mr *mr, *smr = reg(pd, src, len, ACCESS_ALL);

	CHECK(want, "malloc");
	madvise(r, len, MADV_HUGEPAGE);
	fill_random(r, len);
	memcpy(want, r, len);
	mr = reg(pd, r, len, ODP);
	ht_log("  %ld kB in huge pages", thp_kb(r));
	CHECK(thp_kb(r) > 0, "no transparent huge page to test with");
	read_check(p, r, mr->rkey, want, len, "READ of huge pages");
	/* split: a read-only 4 KiB piece in the middle of a huge page */
	CHECK(!mprotect(r + (1 << 20), PAGE, PROT_READ), "mprotect");
	CHECK(!mprotect(r + (1 << 20), PAGE, PROT_READ | PROT_WRITE),
	      "mprotect");
	memset(r + (1 << 20) + 100, 0x44, 50);
	memset(want + (1 << 20) + 100, 0x44, 50);
	read_check(p, r, mr->rkey, want, len, "READ after a split");
	fill_random(src, len);
	rdma(p, IBV_WR_RDMA_WRITE, src, len, smr->lkey, r, mr->rkey,
	     "WRITE after a split");
	check_bytes(r, src, len, "WRITE after a split");
	/* collapse back into huge pages (if the kernel can here) */
	if (madvise(r, len, MADV_COLLAPSE))
		ht_log("  MADV_COLLAPSE: %s", strerror(errno));
	ht_log("  %ld kB in huge pages after MADV_COLLAPSE", thp_kb(r));
	memcpy(want, src, len);
	read_check(p, r, mr->rkey, want, len, "READ after MADV_COLLAPSE");
	fill_random(src, len);
	rdma(p, IBV_WR_RDMA_WRITE, src, len, smr->lkey, r, mr->rkey,
	     "WRITE after MADV_COLLAPSE");
	check_bytes(r, src, len, "WRITE after MADV_COLLAPSE");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, len);
	munmap(src, len);
	free(want);
}

static void shmem_one(struct pair *p, int fd, const char *kind)
{
	uint8_t *m1, *m2, *src = map_anon(REGION), *want = malloc(REGION);
	struct ibv_mr *mr, *smr = reg(pd, src, REGION, ACCESS_ALL);

	CHECK(fd >= 0 && want, "%s: %s", kind, strerror(errno));
	CHECK(!ftruncate(fd, REGION), "ftruncate");
	m1 = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	m2 = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m1 != MAP_FAILED && m2 != MAP_FAILED, "mmap %s", kind);
	mr = reg(pd, m1, REGION, ODP);
	fill_random(src, REGION);
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, m1, mr->rkey,
	     "WRITE into shmem");
	check_bytes(m2, src, REGION, "shmem through a second mapping");
	CHECK(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			 REGION / 2), "punch hole: %s", strerror(errno));
	memcpy(want, src, REGION);
	memset(want, 0, REGION / 2);
	read_check(p, m1, mr->rkey, want, REGION, "READ after a punched hole");
	memset(m2 + 10, 0x77, 1000);
	memset(want + 10, 0x77, 1000);
	read_check(p, m1, mr->rkey, want, REGION,
		   "READ after a write through the other mapping");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(m1, REGION);
	munmap(m2, REGION);
	munmap(src, REGION);
	close(fd);
	free(want);
}

/* A memfd, then a file on tmpfs (/run). */
static void case_shmem(struct pair *p)
{
	char path[] = "/run/hmmnic-odp-XXXXXX";
	struct statfs st;
	int fd;

	shmem_one(p, memfd_create("hmmnic-odp", 0), "memfd");
	fd = mkstemp(path);
	CHECK(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	CHECK(!fstatfs(fd, &st) && st.f_type == TMPFS_MAGIC,
	      "/run is not tmpfs");
	shmem_one(p, fd, "tmpfs file");
}

/* ---- page migration ---- */

/*
 * Move the pages of [@r, @r + @len) to @node (or only count, with @node
 * -1). Return how many were on @node before and are there after.
 */
static int move_to(uint8_t *r, size_t len, int node, int *before)
{
	size_t i, n = len / PAGE;
	void **pages = calloc(n, sizeof(*pages));
	int *nodes = calloc(n, sizeof(*nodes)), *status = calloc(n, 4);
	int after = 0;
	long ret;

	CHECK(pages && nodes && status, "calloc");
	for (i = 0; i < n; i++) {
		pages[i] = r + i * PAGE;
		nodes[i] = node;
	}
	ret = syscall(SYS_move_pages, 0, n, pages, NULL, status, 0);
	CHECK(!ret, "move_pages query: %s", strerror(errno));
	for (*before = 0, i = 0; i < n; i++)
		*before += status[i] == node;
	/*
	 * A page the kernel holds for a moment (a retransmitted READ being
	 * answered from it, under netem) is not migrated (-EBUSY, -EAGAIN):
	 * ask again for those, a few times, as a user of move_pages must.
	 */
	for (int tries = 0; tries < 20; tries++) {
		ret = syscall(SYS_move_pages, 0, n, pages, nodes, status,
			      MPOL_MF_MOVE);
		CHECK(ret >= 0, "move_pages to node %d: %s", node,
		      strerror(errno));
		for (after = 0, i = 0; i < n; i++)
			after += status[i] == node;
		if (after == (int)n)
			break;
		sleep_us(10000);
	}
	free(pages);
	free(nodes);
	free(status);
	return after;
}

static void case_migrate(struct pair *p)
{
	uint8_t *r = map_anon(REGION), *src = map_anon(REGION);
	uint8_t *want = malloc(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, REGION, ACCESS_ALL);
	uint64_t i0, i1, h0, h1;
	int node, moved, already;
	char knob[128], staging[8];

	CHECK(want, "malloc");
	/*
	 * No staging meanwhile: pages read again and again (retransmitted
	 * READs under netem) turn hot, and move_pages cannot move a page
	 * staged in the pool.
	 */
	snprintf(knob, sizeof(knob), "/sys/kernel/debug/hmmnic/%s/staging",
		 ht_dev_name());
	if (ht_pool_present()) {
		CHECK(!ht_read_file(knob, staging, sizeof(staging)), "read %s",
		      knob);
		write_file(knob, "0");
	}
	fill_random(r, REGION);
	memcpy(want, r, REGION);
	read_check(p, r, mr->rkey, want, REGION, "READ before migration");
	/* to node 1, then back to node 0, where all pages are then */
	for (node = 1; node >= 0; node--) {
		i0 = counter("page_invalidations");
		h0 = counter("page_invalidations_handled");
		moved = move_to(r, REGION, node, &already);
		ht_log("  %d pages now on node %d, %d were there", moved, node,
		       already);
		CHECK(moved == REGION / PAGE, "only %d pages reached node %d",
		      moved, node);
		/*
		 * every page that moved went through the notifier (whether it
		 * was still mirrored depends on background compaction)
		 */
		h1 = counter_grown("page_invalidations_handled", h0,
				   REGION / PAGE - already);
		i1 = counter("page_invalidations");
		CHECK(h1 - h0 >= (uint64_t)(REGION / PAGE - already) &&
		      i1 > i0, "migration: %" PRIu64 " callbacks, %" PRIu64
		      " mirrored pages dropped; want %d callbacks",
		      h1 - h0, i1 - i0, REGION / PAGE - already);
		read_check(p, r, mr->rkey, want, REGION,
			   "READ after move_pages");
		fill_random(src, REGION);
		rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r,
		     mr->rkey, "WRITE after move_pages");
		check_bytes(r, src, REGION, "WRITE after move_pages");
		memcpy(want, src, REGION);
	}
	/* compaction may move them too; RDMA and CPU still agree */
	write_file("/proc/sys/vm/compact_memory", "1");
	read_check(p, r, mr->rkey, want, REGION, "READ after compaction");
	if (ht_pool_present())
		write_file(knob, staging[0] == 'Y' ? "1" : "0");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, REGION);
	free(want);
}

/* ---- tracepoints ---- */

static void trace_write(const char *file, const char *what)
{
	char path[128];

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	write_file(path, what);
}

/* Fault, invalidation and prefetch events appear, with a latency. */
static void case_trace(struct pair *p)
{
	uint8_t *r = map_anon(REGION), *src = map_anon(PAGE);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, PAGE, ACCESS_ALL);
	static const char * const events[] = {
		"hmmnic_odp_fault_begin", "hmmnic_odp_fault_end",
		"hmmnic_odp_invalidate", "hmmnic_odp_prefetch",
	};
	bool seen[ARRAY_SIZE(events)] = { false };
	char line[512], key[64];
	unsigned long long ns = 0;
	size_t i;
	FILE *f;

	CHECK(!access(TRACEFS "/events/hmmnic", F_OK), "no %s/events/hmmnic: "
	      "the CI kernel has tracefs and hmmnic's tracepoints", TRACEFS);
	trace_write("trace", "");
	trace_write("events/hmmnic/enable", "1");
	fill_random(src, PAGE);
	rdma(p, IBV_WR_RDMA_WRITE, src, PAGE, smr->lkey, r + 5 * PAGE,
	     mr->rkey, "WRITE with tracing on");
	madvise(r, REGION, MADV_DONTNEED);
	advise(mr, r, 4 * PAGE, IBV_ADVISE_MR_ADVICE_PREFETCH,
	       IBV_ADVISE_MR_FLAG_FLUSH);
	trace_write("events/hmmnic/enable", "0");

	snprintf(key, sizeof(key), "lkey=0x%x ", mr->lkey);
	f = fopen(TRACEFS "/trace", "r");
	CHECK(f, "open trace");
	while (fgets(line, sizeof(line), f)) {
		char *ns_at = strstr(line, " ns=");

		if (!strstr(line, key))
			continue;
		for (i = 0; i < ARRAY_SIZE(events); i++)
			if (strstr(line, events[i]))
				seen[i] = true;
		if (strstr(line, "hmmnic_odp_fault_end") && ns_at)
			ns = strtoull(ns_at + 4, NULL, 10);
	}
	fclose(f);
	for (i = 0; i < ARRAY_SIZE(events); i++)
		CHECK(seen[i], "no %s event for lkey 0x%x", events[i],
		      mr->lkey);
	CHECK(ns > 0, "fault_end reports no latency");
	ht_log("  last fault took %llu ns", ns);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, PAGE);
}

/* ---- prefetch ---- */

static void advise(struct ibv_mr *mr, void *addr, uint32_t len,
		   enum ibv_advise_mr_advice advice, uint32_t flags)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey,
	};
	int ret = ibv_advise_mr(pd, advice, flags, &sge, 1);

	CHECK(!ret, "advise_mr(%d, flags %u): %s", advice, flags,
	      strerror(ret));
}

static void case_prefetch(struct pair *p)
{
	uint8_t *r = map_anon(REGION), *src = map_anon(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, REGION, ACCESS_ALL);
	uint64_t f0, pf0 = counter("page_prefetch");
	struct ibv_sge bad = { .addr = 0, .length = 8, .lkey = 0xdead00 };

	/* synchronous: every page is in when the call returns */
	advise(mr, r, REGION, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
	       IBV_ADVISE_MR_FLAG_FLUSH);
	CHECK(counter_grown("page_prefetch", pf0, REGION / PAGE) - pf0 >=
	      REGION / PAGE, "page_prefetch did not count the pages");
	f0 = counter_grown("page_faults", 0, 0);
	fill_random(src, REGION);
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE into prefetched pages");
	check_bytes(r, src, REGION, "WRITE into prefetched pages");
	sleep_us(20000);
	CHECK(faults() == f0, "page_faults grew by %" PRIu64
	      " after a prefetch", faults() - f0);

	/* NO_FAULT on pages the process never touched adds none */
	munmap(r, REGION);
	CHECK(mmap(r, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == r, "mmap");
	advise(mr, r, REGION, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
	       IBV_ADVISE_MR_FLAG_FLUSH);
	f0 = counter_grown("page_faults", 0, 0);
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE after NO_FAULT");
	CHECK(counter_grown("page_faults", f0, REGION / PAGE) - f0 >=
	      REGION / PAGE, "NO_FAULT prefetch faulted pages in");
	check_bytes(r, src, REGION, "WRITE after NO_FAULT");

	/* asynchronous: the pages arrive in the background */
	munmap(r, REGION);
	CHECK(mmap(r, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == r, "mmap");
	pf0 = counter("page_prefetch");
	advise(mr, r, REGION, IBV_ADVISE_MR_ADVICE_PREFETCH, 0);
	CHECK(counter_grown("page_prefetch", pf0, REGION / PAGE) - pf0 >=
	      REGION / PAGE, "asynchronous prefetch did not finish");

	/* bad input: an unknown lkey, a range outside the MR */
	CHECK(ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, &bad, 1),
	      "advise_mr with a bad lkey succeeded");
	bad.lkey = mr->lkey;
	bad.addr = (uintptr_t)r + REGION;
	CHECK(ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, &bad, 1),
	      "advise_mr past the MR succeeded");
	bad.lkey = smr->lkey;
	bad.addr = (uintptr_t)src;
	CHECK(ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, &bad, 1),
	      "advise_mr on a pinned MR succeeded");
	/* deregistration right after an asynchronous prefetch */
	advise(mr, r, REGION, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, REGION);
}

/* ---- rnr fault mode ---- */

static void set_fault_mode(const char *mode)
{
	write_file(FAULT_MODE, mode);
}

/*
 * PREFETCH_NO_FAULT through an implicit region over 3 GiB of address space
 * that holds one 16-page mapping: the holes are skipped, not walked 2 MiB
 * child by 2 MiB child, and the mapped pages are mirrored.
 */
static void case_prefetch_holes(struct pair *p)
{
	const size_t span = 3ULL << 30, len = 16 * PAGE;
	struct ibv_mr *imr = ibv_reg_mr(pd, NULL, SIZE_MAX, ODP);
	uint8_t *base, *buf, *src = map_anon(len);
	struct ibv_mr *smr = reg(pd, src, len, ACCESS_ALL);
	long long pf0, f0;

	CHECK(imr, "implicit reg_mr: %s", strerror(errno));
	/* reserve the span, keep 16 pages in its middle mapped */
	base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_NORESERVE, -1, 0);
	CHECK(base != MAP_FAILED, "mmap: %s", strerror(errno));
	/* 2 MiB aligned: the 16 pages sit in one child */
	buf = (uint8_t *)(((uintptr_t)base + span / 2) & ~((2UL << 20) - 1));
	CHECK(!munmap(base, buf - base) &&
	      !munmap(buf + len, base + span - buf - len) &&
	      !mprotect(buf, len, PROT_READ | PROT_WRITE), "munmap/mprotect");
	memset(buf, 0x5a, len);
	pf0 = mr_attr(imr, "page_prefetch");
	advise(imr, base, span, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
	       IBV_ADVISE_MR_FLAG_FLUSH);
	CHECK(mr_attr(imr, "page_prefetch") - pf0 == 16, "NO_FAULT over the "
	      "holes walked %lld pages, want the 16 mapped ones",
	      mr_attr(imr, "page_prefetch") - pf0);
	f0 = mr_attr(imr, "page_faults");
	fill_random(src, len);
	rdma(p, IBV_WR_RDMA_WRITE, src, len, smr->lkey, buf, imr->rkey,
	     "WRITE after NO_FAULT over holes");
	check_bytes(buf, src, len, "WRITE after NO_FAULT over holes");
	CHECK(mr_attr(imr, "page_faults") == f0, "the 16 mapped pages were "
	      "not mirrored: %lld faults", mr_attr(imr, "page_faults") - f0);
	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(imr), "dereg_mr");
	munmap(buf, len);
	munmap(src, len);
}

static void case_rnr(struct pair *p)
{
	uint8_t *r = map_anon(REGION), *src = map_anon(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, REGION, ACCESS_ALL);
	uint64_t n0 = counter("page_fault_rnr_naks");
	uint64_t r0 = counter("rnr_naks_rcvd");
	struct ibv_wc wc;

	set_fault_mode("rnr");
	fill_random(src, REGION);
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE in rnr mode");
	check_bytes(r, src, REGION, "WRITE in rnr mode");
	munmap(r, REGION);
	CHECK(mmap(r, REGION, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == r, "mmap");
	post_recv1(p->b.qp, 7, r, REGION, mr->lkey);
	post1(p->a.qp, 8, IBV_WR_SEND, src, REGION, smr->lkey, 0, 0);
	expect_ok(p->a.scq, &wc, 8, IBV_WC_SEND, p->a.qp, "SEND in rnr mode");
	expect_ok(p->b.rcq, &wc, 7, IBV_WC_RECV, p->b.qp, "RECV in rnr mode");
	check_bytes(r, src, REGION, "SEND in rnr mode");
	/* an atomic on a page that is not in */
	CHECK(!madvise(r, REGION, MADV_DONTNEED), "madvise");
	{
		struct ibv_send_wr wr;
		struct ibv_sge sge;
		uint64_t v;

		wr_init(&wr, &sge, 14, IBV_WR_ATOMIC_FETCH_AND_ADD, src, 8,
			smr->lkey);
		wr.wr.atomic.remote_addr = (uintptr_t)(r + 3 * PAGE);
		wr.wr.atomic.rkey = mr->rkey;
		wr.wr.atomic.compare_add = 9;
		post(p->a.qp, &wr);
		expect_ok(p->a.scq, &wc, 14, IBV_WC_FETCH_ADD, p->a.qp,
			  "FETCH_ADD in rnr mode");
		memcpy(&v, src, 8);
		CHECK(v == 0, "FETCH_ADD returned %" PRIu64, v);
		memcpy(&v, r + 3 * PAGE, 8);
		CHECK(v == 9, "target holds %" PRIu64 ", want 9", v);
	}
	set_fault_mode("sync");
	CHECK(counter_grown("page_fault_rnr_naks", n0, 2) - n0 >= 2,
	      "page_fault_rnr_naks did not grow");
	CHECK(counter_grown("rnr_naks_rcvd", r0, 2) - r0 >= 2,
	      "the requester saw no RNR NAK");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, REGION);
	munmap(src, REGION);
}

/* ---- ODP faults that fail for now (fail_odp_fault) ---- */

#define FAIL_ODP	"/sys/kernel/debug/hmmnic/fail_odp_fault/"
#define BUSY_LEN	(64 * PAGE)

/* The next @times ODP faults fail with -EBUSY (-1: all of them). */
static void fail_odp_faults(int times)
{
	char v[16];

	CHECK(!access(FAIL_ODP "times", W_OK), "no %s (the CI kernel has "
	      "CONFIG_FAULT_INJECTION_DEBUG_FS)", FAIL_ODP "times");
	write_file(FAIL_ODP "verbose", "0");
	write_file(FAIL_ODP "interval", "1");
	snprintf(v, sizeof(v), "%d", times);
	write_file(FAIL_ODP "times", v);
	write_file(FAIL_ODP "probability", times ? "100" : "0");
}

/* Injected failures not yet used. */
static long fail_odp_left(void)
{
	char buf[32];

	CHECK(!ht_read_file(FAIL_ODP "times", buf, sizeof(buf)),
	      "read %s", FAIL_ODP "times");
	return strtol(buf, NULL, 10);
}

struct busy_snap {
	uint64_t errors, rnr_sent, drops;
};

static void busy_snap(struct busy_snap *s)
{
	static const char *const names[] = {
		"page_fault_errors", "rnr_naks_sent", "drop_page_fault",
	};
	uint64_t v[3];

	counters_now(names, v, 3);
	s->errors = v[0];
	s->rnr_sent = v[1];
	s->drops = v[2];
}

/*
 * After an operation that met @times injected failures: all were used,
 * each counted once in page_fault_errors, and the responder answered
 * @rnr of them with an RNR NAK and dropped @drops datagrams.
 */
static void busy_check(const struct busy_snap *s, int times, uint64_t rnr,
		       uint64_t drops, const char *what)
{
	struct busy_snap n;

	CHECK(fail_odp_left() == 0, "%s: %ld of %d injected failures unused",
	      what, fail_odp_left(), times);
	fail_odp_faults(0);
	busy_snap(&n);
	CHECK(n.errors - s->errors == (uint64_t)times,
	      "%s: page_fault_errors +%" PRIu64 ", want +%d", what,
	      n.errors - s->errors, times);
	CHECK(n.rnr_sent - s->rnr_sent == rnr,
	      "%s: rnr_naks_sent +%" PRIu64 ", want +%" PRIu64, what,
	      n.rnr_sent - s->rnr_sent, rnr);
	CHECK(n.drops - s->drops == drops,
	      "%s: drop_page_fault +%" PRIu64 ", want +%" PRIu64, what,
	      n.drops - s->drops, drops);
	ht_log("  %s: %d failed faults, %" PRIu64 " RNR NAKs, data intact",
	       what, times, rnr);
}

/* A fresh, untouched ODP region over a new mapping at @r. */
static void busy_remap(uint8_t *r)
{
	CHECK(mmap(r, BUSY_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == r, "mmap");
}

static void fetch_add(struct pair *p, uint64_t wr_id, void *lbuf,
		      uint32_t lkey, void *raddr, uint32_t rkey, uint64_t add)
{
	struct ibv_send_wr wr;
	struct ibv_sge sge;

	wr_init(&wr, &sge, wr_id, IBV_WR_ATOMIC_FETCH_AND_ADD, lbuf, 8, lkey);
	wr.wr.atomic.remote_addr = (uintptr_t)raddr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = add;
	post(p->a.qp, &wr);
}

/*
 * A WRITE or READ of BUSY_LEN bytes between the fresh ODP region @r and
 * the pinned @src, @r on the requester's side if @odp_local, while three
 * of its faults fail: every byte arrives, the responder RNR NAKs each
 * failure of a WRITE into ODP, nothing else does. The first half of @r
 * is mirrored beforehand, so the failures meet the message in its middle
 * (a WRITE resumed, a READ response sent again, a READ asked again from
 * an offset).
 */
static void busy_rdma(struct pair *q, enum ibv_wr_opcode op, bool odp_local,
		      uint8_t *r, struct ibv_mr *mr, uint8_t *src,
		      struct ibv_mr *smr, const char *what)
{
	uint8_t *l = odp_local ? r : src, *rem = odp_local ? src : r;
	uint8_t *from = op == IBV_WR_RDMA_WRITE ? l : rem;
	uint8_t *to = op == IBV_WR_RDMA_WRITE ? rem : l;
	struct busy_snap s;
	long long f0;

	busy_remap(r);
	fill_random(from, BUSY_LEN);
	memset(to, 0, BUSY_LEN);
	advise(mr, r, BUSY_LEN / 2, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
	       IBV_ADVISE_MR_FLAG_FLUSH);
	f0 = mr_attr(mr, "page_faults");
	busy_snap(&s);
	fail_odp_faults(3);
	rdma(q, op, l, BUSY_LEN, odp_local ? mr->lkey : smr->lkey, rem,
	     odp_local ? smr->rkey : mr->rkey, what);
	check_bytes(to, from, BUSY_LEN, what);
	/* the failures were in the second half: its pages alone faulted */
	CHECK(mr_attr(mr, "page_faults") - f0 == BUSY_LEN / 2 / PAGE,
	      "%s: %lld pages faulted, want the %d of the second half", what,
	      mr_attr(mr, "page_faults") - f0, BUSY_LEN / 2 / PAGE);
	busy_check(&s, 3, !odp_local && op == IBV_WR_RDMA_WRITE ? 3 : 0, 0,
		   what);
}

/* One UD datagram of @len bytes of @v from @us to @ur. */
static void ud_send(struct end *us, struct end *ur, struct ibv_ah *ah,
		    uint32_t qkey, uint8_t *src, struct ibv_mr *smr,
		    uint32_t len, uint8_t v)
{
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	struct ibv_wc wc;

	fill_pattern(src, len, v);
	wr_init(&wr, &sge, v, IBV_WR_SEND, src, len, smr->lkey);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = ur->qp->qp_num;
	wr.wr.ud.remote_qkey = qkey;
	post(us->qp, &wr);
	expect_ok(us->scq, &wc, v, IBV_WC_SEND, us->qp, "UD SEND");
}

/*
 * A UD datagram into an ODP receive buffer whose faults fail: nothing
 * sends it again, so the receiver keeps it and tries every 10 ms, and it
 * arrives after a few failures; one whose faults never succeed is
 * dropped (drop_page_fault) after 5 s of tries (hundreds of failed
 * faults, not one) and the next datagram fills its WQE.
 */
static void busy_ud(uint8_t *r, struct ibv_mr *mr, uint8_t *src,
		    struct ibv_mr *smr)
{
	struct ibv_ah_attr ah_attr = {
		.is_global = 1,
		.grh = { .dgid = gid, .sgid_index = GID_INDEX, .hop_limit = 64 },
		.port_num = PORT,
	};
	const uint32_t qkey = 0x22222222, len = 512;
	struct busy_snap s, n;
	struct end us, ur;
	struct ibv_ah *ah;
	struct ibv_wc wc;

	end_create(&us, IBV_QPT_UD, 0);
	end_create(&ur, IBV_QPT_UD, 0);
	ud_up(us.qp, qkey);
	ud_up(ur.qp, qkey);
	ah = ibv_create_ah(pd, &ah_attr);
	CHECK(ah, "create_ah: %s", strerror(errno));

	busy_remap(r);
	post_recv1(ur.qp, 40, r, 40 + len, mr->lkey);
	busy_snap(&s);
	fail_odp_faults(3);
	ud_send(&us, &ur, ah, qkey, src, smr, len, 0xa0);
	expect_ok(ur.rcq, &wc, 40, IBV_WC_RECV, ur.qp, "UD RECV");
	CHECK(wc.byte_len == 40 + len, "UD RECV of %u bytes", wc.byte_len);
	check_pattern(r + 40, len, 0xa0, "UD datagram after 3 failed faults");
	busy_check(&s, 3, 0, 0, "UD RECV into ODP");

	busy_remap(r);
	post_recv1(ur.qp, 41, r, 40 + len, mr->lkey);
	busy_snap(&s);
	fail_odp_faults(-1);
	ud_send(&us, &ur, ah, qkey, src, smr, len, 0xa1);
	/* tried again every 10 ms for 5 s, then dropped */
	poll_none(ur.rcq, 6000, "UD datagram whose faults always fail");
	fail_odp_faults(0);
	busy_snap(&n);
	CHECK(n.drops - s.drops == 1 && n.errors - s.errors > 100,
	      "UD datagram whose faults always fail: drop_page_fault +%"
	      PRIu64 ", page_fault_errors +%" PRIu64, n.drops - s.drops,
	      n.errors - s.errors);
	/* the next datagram takes the WQE the dropped one could not fill */
	ud_send(&us, &ur, ah, qkey, src, smr, len, 0xa2);
	expect_ok(ur.rcq, &wc, 41, IBV_WC_RECV, ur.qp, "UD RECV");
	CHECK(wc.byte_len == 40 + len, "UD RECV of %u bytes", wc.byte_len);
	check_pattern(r + 40, len, 0xa2, "UD datagram after a dropped one");
	ht_log("  UD RECV into ODP: delivered after 3 failed faults; dropped "
	       "(drop_page_fault) when they never succeed, WQE kept");
	CHECK(!ibv_destroy_ah(ah), "destroy_ah");
	end_destroy(&us);
	end_destroy(&ur);
}

/* Injected failures without end: the bounded retries give up. */
static void busy_forever(uint8_t *r, struct ibv_mr *mr, uint8_t *src,
			 struct ibv_mr *smr)
{
	/*
	 * An ACK timeout of 1 s: each try at placing a READ response sees
	 * the rest of the last try's 64 responses first, which on the
	 * debug kernel outlasts 67 ms, so the transport would time out
	 * before the bounded retries end it.
	 */
	static const struct rc_opts opts = {
		.timeout = 18, .retry_cnt = 7, .rnr_retry = 3,
	};
	uint64_t r0, s0, v;
	struct pair q;

	/*
	 * The responder: RNR NAKs until the requester's rnr_retry runs out.
	 * The requester ends after exactly rnr_retry + 1 of them (those that
	 * come after it failed find its QP in error and are not counted).
	 * The responder may send one more: on the network path of a slow
	 * kernel, a sequence NAK of the last round can send the requester
	 * back once more after its RNR wait (seen on the debug kernel).
	 */
	pair_create(&q, &opts);
	busy_remap(r);
	sleep_us(20000);
	r0 = counter("rnr_naks_rcvd");
	s0 = counter("rnr_naks_sent");
	fail_odp_faults(-1);
	post1(q.a.qp, 50, IBV_WR_RDMA_WRITE, src, BUSY_LEN, smr->lkey,
	      (uintptr_t)r, mr->rkey);
	expect_err(q.a.scq, 50, IBV_WC_RNR_RETRY_EXC_ERR, q.a.qp, POLL_MS,
		   "WRITE into ODP whose faults always fail");
	fail_odp_faults(0);
	sleep_us(20000);
	CHECK(counter("rnr_naks_rcvd") - r0 == (uint64_t)opts.rnr_retry + 1,
	      "rnr_naks_rcvd +%" PRIu64 ", want %d (rnr_retry + 1)",
	      counter("rnr_naks_rcvd") - r0, opts.rnr_retry + 1);
	CHECK(counter("rnr_naks_sent") - s0 >= (uint64_t)opts.rnr_retry + 1,
	      "rnr_naks_sent +%" PRIu64 ", want at least %d",
	      counter("rnr_naks_sent") - s0, opts.rnr_retry + 1);
	pair_destroy(&q);

	/* a READ responder: REM_OP_ERR after the bounded retries */
	pair_create(&q, &opts);
	busy_remap(r);
	fill_random(r, BUSY_LEN);
	fail_odp_faults(-1);
	post1(q.a.qp, 51, IBV_WR_RDMA_READ, src, BUSY_LEN, smr->lkey,
	      (uintptr_t)r, mr->rkey);
	expect_err(q.a.scq, 51, IBV_WC_REM_OP_ERR, q.a.qp, POLL_MS,
		   "READ from ODP whose faults always fail");
	fail_odp_faults(0);
	pair_destroy(&q);

	/* placing a READ response or an atomic result: LOC_PROT_ERR */
	pair_create(&q, &opts);
	busy_remap(r);
	fail_odp_faults(-1);
	post1(q.a.qp, 53, IBV_WR_RDMA_READ, r, BUSY_LEN, mr->lkey,
	      (uintptr_t)src, smr->rkey);
	expect_err(q.a.scq, 53, IBV_WC_LOC_PROT_ERR, q.a.qp, POLL_MS,
		   "READ into ODP whose faults always fail");
	fail_odp_faults(0);
	pair_destroy(&q);
	pair_create(&q, &opts);
	busy_remap(r);
	memset(src, 0, 8);
	fail_odp_faults(-1);
	fetch_add(&q, 54, r, mr->lkey, src, smr->rkey, 1);
	expect_err(q.a.scq, 54, IBV_WC_LOC_PROT_ERR, q.a.qp, POLL_MS,
		   "FETCH_ADD into ODP whose faults always fail");
	fail_odp_faults(0);
	memcpy(&v, src, 8);
	CHECK(v == 1, "the FETCH_ADD whose result could not be placed ran "
	      "%" PRIu64 " times, want once", v);
	pair_destroy(&q);

	/* the requester: LOC_PROT_ERR for the WQE after the retries */
	pair_create(&q, &opts);
	busy_remap(r);
	fill_random(r, BUSY_LEN);
	fail_odp_faults(-1);
	post1(q.a.qp, 52, IBV_WR_RDMA_WRITE, r, BUSY_LEN, mr->lkey,
	      (uintptr_t)src, smr->rkey);
	expect_err(q.a.scq, 52, IBV_WC_LOC_PROT_ERR, q.a.qp, POLL_MS,
		   "WRITE from ODP whose faults always fail");
	fail_odp_faults(0);
	pair_destroy(&q);
	ht_log("  faults that always fail: RNR_RETRY_EXC_ERR, REM_OP_ERR, "
	       "LOC_PROT_ERR (READ and atomic destinations, WRITE source)");
}

/*
 * ODP faults that fail for now, as hmm_range_fault() does when
 * invalidations keep beating it (-EBUSY), injected through
 * fail_odp_fault. The responder answers a WRITE, a SEND or an atomic
 * with an RNR NAK per failure and a READ later; the requester sends a
 * packet whose source failed later, and asks again for a READ response
 * or an atomic result it could not place (the atomic executes once); a
 * UD datagram is dropped and its WQE kept. Every byte arrives.
 */
static void busy_all(void)
{
	uint8_t *r = map_anon(BUSY_LEN), *src = map_anon(BUSY_LEN);
	struct ibv_mr *mr = reg(pd, r, BUSY_LEN, ODP);
	struct ibv_mr *smr = reg(pd, src, BUSY_LEN, ACCESS_ALL);
	struct busy_snap s;
	struct ibv_wc wc;
	struct pair q;
	uint64_t v;

	pair_create(&q, &default_opts);

	/* responder WRITE, SEND, atomic: an RNR NAK per failure */
	busy_rdma(&q, IBV_WR_RDMA_WRITE, false, r, mr, src, smr,
		  "responder WRITE");
	busy_remap(r);
	fill_random(src, BUSY_LEN);
	post_recv1(q.b.qp, 7, r, BUSY_LEN, mr->lkey);
	/* the failures meet the message in its middle */
	advise(mr, r, BUSY_LEN / 2, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
	       IBV_ADVISE_MR_FLAG_FLUSH);
	busy_snap(&s);
	fail_odp_faults(3);
	post1(q.a.qp, 8, IBV_WR_SEND, src, BUSY_LEN, smr->lkey, 0, 0);
	expect_ok(q.a.scq, &wc, 8, IBV_WC_SEND, q.a.qp, "SEND, faults failing");
	expect_ok(q.b.rcq, &wc, 7, IBV_WC_RECV, q.b.qp, "RECV, faults failing");
	CHECK(wc.byte_len == BUSY_LEN, "RECV of %u bytes", wc.byte_len);
	check_bytes(r, src, BUSY_LEN, "SEND into ODP, faults failing");
	busy_check(&s, 3, 3, 0, "responder SEND");

	busy_remap(r);
	busy_snap(&s);
	fail_odp_faults(2);
	fetch_add(&q, 9, src, smr->lkey, r + 5 * PAGE, mr->rkey, 7);
	expect_ok(q.a.scq, &wc, 9, IBV_WC_FETCH_ADD, q.a.qp,
		  "FETCH_ADD, faults failing");
	memcpy(&v, src, 8);
	CHECK(v == 0, "FETCH_ADD returned %" PRIu64 ", want 0", v);
	memcpy(&v, r + 5 * PAGE, 8);
	CHECK(v == 7, "FETCH_ADD target %" PRIu64 ", want 7", v);
	busy_check(&s, 2, 2, 0, "responder FETCH_ADD");

	/* a READ responder waits and answers; no RNR NAK for a READ */
	busy_rdma(&q, IBV_WR_RDMA_READ, false, r, mr, src, smr,
		  "responder READ");
	/* the requester: its source, a READ's and an atomic's destination */
	busy_rdma(&q, IBV_WR_RDMA_WRITE, true, r, mr, src, smr,
		  "requester WRITE source");
	busy_rdma(&q, IBV_WR_RDMA_READ, true, r, mr, src, smr,
		  "requester READ destination");

	busy_remap(r);
	v = 1000;
	memcpy(src + PAGE, &v, 8);
	busy_snap(&s);
	fail_odp_faults(2);
	fetch_add(&q, 10, r + 9 * PAGE, mr->lkey, src + PAGE, smr->rkey, 5);
	expect_ok(q.a.scq, &wc, 10, IBV_WC_FETCH_ADD, q.a.qp,
		  "FETCH_ADD into ODP, faults failing");
	memcpy(&v, r + 9 * PAGE, 8);
	CHECK(v == 1000, "FETCH_ADD result %" PRIu64 ", want 1000", v);
	memcpy(&v, src + PAGE, 8);
	CHECK(v == 1005, "target %" PRIu64 ", want 1005: the add ran %s", v,
	      v > 1005 ? "more than once" : "not at all");
	busy_check(&s, 2, 0, 0, "requester FETCH_ADD result");
	pair_destroy(&q);

	busy_ud(r, mr, src, smr);
	busy_forever(r, mr, src, smr);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
	munmap(r, BUSY_LEN);
	munmap(src, BUSY_LEN);
}

static void case_busy(void)
{
	if (!ht_feature("fault_injection")) {
		ht_log("  skipped: fault injection is %s",
		       ht_feature_why("fault_injection"));
		return;
	}
	busy_all();
}

/* ---- races ---- */

struct racer {
	uint8_t *r;
	volatile int stop;
	int fork;
	unsigned long rounds;
};

/* Replace the mapping under the traffic, or fork, until told to stop. */
static void *race_cpu(void *arg)
{
	struct racer *x = arg;
	int status;
	pid_t pid;

	while (!x->stop) {
		if (x->fork) {
			pid = fork();
			if (!pid) {
				x->r[x->rounds % REGION] ^= 1;
				_exit(0);
			}
			CHECK(pid > 0, "fork: %s", strerror(errno));
			waitpid(pid, &status, 0);
			x->r[(x->rounds * 4099) % REGION] ^= 0xff;
		} else {
			CHECK(mmap(x->r, REGION, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0) == x->r, "mmap: %s", strerror(errno));
			memset(x->r, x->rounds & 0xff, REGION / 2);
		}
		x->rounds++;
	}
	return NULL;
}

static void race(int do_fork)
{
	struct pair pr, *p = &pr;
	uint8_t *r = map_anon(REGION), *src = map_anon(REGION);
	uint8_t *got = map_anon(REGION), *want = malloc(REGION);
	struct ibv_mr *mr = reg(pd, r, REGION, ODP);
	struct ibv_mr *smr = reg(pd, src, REGION, ACCESS_ALL);
	struct ibv_mr *gmr = reg(pd, got, REGION, ACCESS_ALL);
	struct racer x = { .r = r, .fork = do_fork };
	struct rc_opts o = race_opts;
	uint64_t start = now_ms();
	unsigned long ops = 0;
	pthread_t t;

	CHECK(want, "malloc");
	/*
	 * On a lossy path (tests/soak --net) a lost last packet costs an ACK
	 * timeout: 4 s would leave too few ops for a race. Remaps do not hold the
	 * mmap lock for long; 268 ms (timeout 16) is plenty for them.
	 */
	if (getenv("HMMNIC_TEST_LOSSY") && !do_fork)
		o.timeout = 16;
	pair_create(p, &o);
	fill_random(src, REGION);
	CHECK(!pthread_create(&t, NULL, race_cpu, &x), "pthread_create");
	/* 10 s, and long enough for both sides to have done some rounds
	 * (a KASAN kernel is slow), but not beyond two minutes */
	while (now_ms() - start < 10000 ||
	       ((ops < 20 || x.rounds < 20) && now_ms() - start < 120000)) {
		uint32_t off = rnd() % (REGION / 2);

		rdma(p, ops & 1 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
		     ops & 1 ? got : src + off, REGION / 2,
		     ops & 1 ? gmr->lkey : smr->lkey, r + off, mr->rkey,
		     "traffic during the race");
		ops++;
	}
	x.stop = 1;
	pthread_join(t, NULL);
	ht_log("  %lu RDMA ops against %lu %s", ops, x.rounds,
	       do_fork ? "forks" : "remaps");
	CHECK(ops >= 20 && x.rounds >= 20, "the race did not happen");
	/* quiet now: RDMA and the CPU must agree on every byte */
	memcpy(want, r, REGION);
	read_check(p, r, mr->rkey, want, REGION, "READ after the race");
	rdma(p, IBV_WR_RDMA_WRITE, src, REGION, smr->lkey, r, mr->rkey,
	     "WRITE after the race");
	check_bytes(r, src, REGION, "WRITE after the race");
	pair_destroy(p);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr) && !ibv_dereg_mr(gmr),
	      "dereg_mr");
	munmap(r, REGION);
	munmap(src, REGION);
	munmap(got, REGION);
	free(want);
}

static void case_race_munmap(void)
{
	race(0);
}

static void case_race_fork(void)
{
	race(1);
}

/* ---- main ---- */

/* The implicit case breaks its pair (an access error at the end). */
static void case_implicit_alone(void)
{
	struct pair p;

	pair_create(&p, &default_opts);
	case_implicit(&p);
	pair_destroy(&p);
}

/* ---- HMMNIC_ODP_MODE ---- */

/* A context opened with HMMNIC_ODP_MODE=@mode, its PD and a pair in it. */
static void mode_open(const char *mode, struct pair *q,
		      struct ibv_context **octx, struct ibv_pd **opd)
{
	*octx = ctx;
	*opd = pd;
	setenv("HMMNIC_ODP_MODE", mode, 1);
	ctx = ht_open(ht_dev_name());
	unsetenv("HMMNIC_ODP_MODE");
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd: %s", strerror(errno));
	pair_create(q, &default_opts);
}

static void mode_close(struct pair *q, struct ibv_context *octx,
		       struct ibv_pd *opd)
{
	pair_destroy(q);
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	CHECK(!ibv_close_device(ctx), "close_device");
	ctx = octx;
	pd = opd;
}

static void case_provider_modes(void)
{
	size_t len = 16 * 4096;
	uint8_t *src = map_anon(len), *a = map_anon(len), *b = map_anon(len);
	struct ibv_mr *smr, *ma, *mb, *mc;
	struct ibv_context *octx;
	struct ibv_pd *opd;
	struct pair q;
	uint64_t f0, p0;

	fill_random(src, len);

	/* implicit: two views share the implicit region's keys */
	mode_open("implicit", &q, &octx, &opd);
	smr = reg(pd, src, len, ACCESS_ALL);
	ma = reg(pd, a, len, ODP);
	mb = reg(pd, b, len, ODP);
	CHECK(ma->lkey == mb->lkey && ma->rkey == mb->rkey,
	      "two implicit views have different keys");
	CHECK(ma->addr == a && ma->length == len, "a view's addr/length");
	CHECK(mr_attr(ma, "odp") == 2, "the views' region is not implicit");
	rdma(&q, IBV_WR_RDMA_WRITE, src, len, smr->lkey, b, mb->rkey,
	     "WRITE through a view");
	check_bytes(b, src, len, "WRITE through a view");
	CHECK(!ibv_dereg_mr(ma), "dereg view");
	/* the other view keeps the region alive */
	memset(b, 0, len);
	rdma(&q, IBV_WR_RDMA_WRITE, src, len, smr->lkey, b, mb->rkey,
	     "WRITE through the last view");
	check_bytes(b, src, len, "WRITE through the last view");
	CHECK(!ibv_dereg_mr(mb), "dereg last view");
	CHECK(mr_attr(mb, "odp") == -1, "the implicit region outlived its views");
	mc = reg(pd, a, len, ODP);
	CHECK(mr_attr(mc, "odp") == 2, "no implicit region for a new view");
	CHECK(!ibv_dereg_mr(mc) && !ibv_dereg_mr(smr), "dereg");
	mode_close(&q, octx, opd);

	/* warm: the registration returns with the pages mirrored */
	munmap(a, len);
	a = map_anon(len);
	mode_open("warm", &q, &octx, &opd);
	smr = reg(pd, src, len, ACCESS_ALL);
	p0 = counter("page_prefetch");
	f0 = faults();
	ma = reg(pd, a, len, ODP);
	CHECK(mr_attr(ma, "odp") == 1, "warm: not an explicit region");
	CHECK(counter_grown("page_prefetch", p0, 16) - p0 == 16,
	      "warm: page_prefetch did not grow by 16");
	f0 = counter_grown("page_faults", f0, 16);
	rdma(&q, IBV_WR_RDMA_WRITE, src, len, smr->lkey, a, ma->rkey,
	     "WRITE into a warm region");
	check_bytes(a, src, len, "WRITE into a warm region");
	sleep_us(20000);
	CHECK(faults() == f0, "warm: the first WRITE faulted");
	CHECK(!ibv_dereg_mr(ma) && !ibv_dereg_mr(smr), "dereg");
	mode_close(&q, octx, opd);

	/* prefetch: the same, in the background */
	munmap(a, len);
	a = map_anon(len);
	mode_open("prefetch", &q, &octx, &opd);
	p0 = counter("page_prefetch");
	ma = reg(pd, a, len, ODP);
	CHECK(counter_grown("page_prefetch", p0, 16) - p0 == 16,
	      "prefetch: page_prefetch did not grow by 16");
	CHECK(!ibv_dereg_mr(ma), "dereg");
	mode_close(&q, octx, opd);

	/* an unknown value: the default, faults on first access */
	munmap(a, len);
	a = map_anon(len);
	mode_open("bogus", &q, &octx, &opd);
	smr = reg(pd, src, len, ACCESS_ALL);
	p0 = counter("page_prefetch");
	f0 = faults();
	ma = reg(pd, a, len, ODP);
	CHECK(mr_attr(ma, "odp") == 1, "bogus: not an explicit region");
	rdma(&q, IBV_WR_RDMA_WRITE, src, len, smr->lkey, a, ma->rkey,
	     "WRITE, default mode");
	check_bytes(a, src, len, "WRITE, default mode");
	CHECK(counter_grown("page_faults", f0, 16) - f0 == 16,
	      "default mode: the WRITE did not fault 16 pages");
	CHECK(counter("page_prefetch") == p0, "default mode prefetched");
	CHECK(!ibv_dereg_mr(ma) && !ibv_dereg_mr(smr), "dereg");
	mode_close(&q, octx, opd);
	munmap(src, len);
	munmap(a, len);
	munmap(b, len);
}

struct odp_case {
	const char *name;
	void (*on_pair)(struct pair *p);
	void (*alone)(void);
};

static const struct odp_case cases[] = {
	{ "caps", NULL, case_caps },
	{ "ops", case_ops, NULL },
	{ "implicit", NULL, case_implicit_alone },
	{ "munmap", case_munmap, NULL },
	{ "dontneed", case_dontneed, NULL },
	{ "mremap", NULL, case_mremap },
	{ "fork", NULL, case_fork },
	{ "mprotect", NULL, case_mprotect },
	{ "unmapped", NULL, case_unmapped },
	{ "fault_errors", NULL, case_fault_errors },
	{ "atomic_misaligned", NULL, case_atomic_misaligned },
	{ "thp", case_thp, NULL },
	{ "shmem", case_shmem, NULL },
	{ "migrate", case_migrate, NULL },
	{ "trace", case_trace, NULL },
	{ "prefetch", case_prefetch, NULL },
	{ "prefetch_holes", case_prefetch_holes, NULL },
	{ "rnr", case_rnr, NULL },
	{ "busy", NULL, case_busy },
	{ "provider_modes", NULL, case_provider_modes },
	{ "race_munmap", NULL, case_race_munmap },
	{ "race_fork", NULL, case_race_fork },
};

int main(int argc, char **argv)
{
	struct pair p;
	size_t i;
	int n = 0;

	rc_setup();
	pair_create(&p, &default_opts);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!case_selected(cases[i].name, argc, argv))
			continue;
		n++;
		ht_log("case %s", cases[i].name);
		if (cases[i].on_pair)
			cases[i].on_pair(&p);
		else
			cases[i].alone();
		ht_log("case %s: ok", cases[i].name);
	}
	pair_destroy(&p);
	CHECK(n, "no case matches the arguments");
	rc_teardown();
	return 0;
}
