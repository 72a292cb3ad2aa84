// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What page faults cost on hmmnic's data path, next to what a CPU page
 * fault costs in the same guest, as distributions over single pages:
 *
 *   fault-cost [-d DEV] [-g] [-p PAGES] [-H HUGE] [-r ROUNDS] [-s SECTIONS]
 *
 * Sections (-s, comma-separated, default all):
 *
 * cpu      the reference: a process writes one byte to each of PAGES
 *          fresh 4 KiB pages (a minor fault that allocates and zeroes a
 *          page), and to each of HUGE fresh 2 MiB pages of a MADV_HUGEPAGE
 *          region (a THP fault), each write timed on its own.
 * touch    first touch through RDMA, one 64-byte operation per page of a
 *          fresh ODP region, timed from post to completion, minus the
 *          median of the same operations again once the pages are there:
 *          - responder: RDMA WRITE into the region, in the sync fault
 *            mode (the responder faults before it executes) and in the
 *            rnr mode (it answers RNR NAK and faults in the background,
 *            the requester retries after the RNR timer);
 *          - requester: RDMA READ into the region (the requester faults
 *            the page it writes the response to; requesters always fault
 *            synchronously);
 *          for 4 KiB pages and for 2 MiB (THP) pages. Every run reads the
 *          page_faults counter and the hmmnic_odp_fault_end tracepoint:
 *          both must show exactly one faulted page per operation, and the
 *          THP runs must really have got huge pages (smaps).
 * touch4k  the 4 KiB half of touch alone; touch4k_sync only its
 *          responder_sync_4k figure (perf/profile --fault uses it).
 * inval    invalidation: munmap of PAGES pages mirrored by an ODP region
 *          against munmap of the same pages unregistered (both touched by
 *          the CPU first), per page; page_invalidations must grow by
 *          PAGES.
 * m2r      migrate_to_ram: PAGES pages staged in the NIC-private pool,
 *          then each read by the CPU, timed on its own; pool_migrate_to_ram
 *          and the hmmnic_pool_migrate_to_ram tracepoint must count every
 *          page.
 * warm     a 1 MiB RDMA WRITE into a warm ODP region against the same
 *          WRITE between pinned regions: the steady-state cost of ODP as
 *          a bandwidth ratio, with no first touch in it.
 *
 * -g (generic): for another device with ODP, e.g. the kernel's rxe (7.x):
 * only cpu, touch and warm, the responder in its own fault mode (the
 * *_sync_* names) and no rnr runs, with no hmmnic counter, tracepoint or
 * knob; the bytes are still checked. perf/odp-compare puts the two side
 * by side.
 *
 * Output: "dist name=... p50=... p99=... samples=..." lines (ns per page,
 * with the counted and traced faults and the kernel's own fault time
 * from the tracepoint where there is one) and "ratio name=... value=..."
 * lines. Needs root for the fault_mode parameter, debugfs and tracefs.
 * The pool's staging is off while the sections other than m2r run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define PAGE		4096
#define HUGE		(2UL << 20)
#define OP_LEN		64
#define ODP		(ACCESS_ALL | IBV_ACCESS_ON_DEMAND)
#define FAULT_MODE	"/sys/module/hmmnic/parameters/fault_mode"
#define EV_FAULT	"hmmnic/hmmnic_odp_fault_end"
#define EV_M2R		"hmmnic/hmmnic_pool_migrate_to_ram"

static struct pair P;
static size_t pages = 256, huge = 16;
static int rounds = 5;
/* -g: a device that is not hmmnic (no hmmnic counters, knobs or events) */
static bool generic;

/* A growing set of samples (ns). */
struct dist {
	uint64_t *v;
	size_t n, cap;
};

static void dist_add(struct dist *d, uint64_t x)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 256;
		d->v = realloc(d->v, d->cap * sizeof(*d->v));
		CHECK(d->v, "realloc");
	}
	d->v[d->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The @q quantile (0 < q <= 1): the smallest sample with q of them <= it. */
static uint64_t quantile(struct dist *d, double q)
{
	size_t i;

	CHECK(d->n, "no samples");
	qsort(d->v, d->n, sizeof(*d->v), cmp_u64);
	i = (size_t)(q * d->n + 0.999999);
	return d->v[i ? i - 1 : 0];
}

static void dist_free(struct dist *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static void *map_region(size_t len, bool thp)
{
	size_t align = thp ? HUGE : PAGE;
	uint8_t *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(align - 1));
	if (a > p)
		munmap(p, a - p);
	if (a + len < p + len + align)
		munmap(a + len, p + len + align - (a + len));
	CHECK(!madvise(a, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE),
	      "madvise: %s", strerror(errno));
	return a;
}

/* Bytes of [@addr, +@len) backed by huge pages, from /proc/self/smaps. */
static size_t thp_bytes(const void *addr, size_t len)
{
	uintptr_t lo, hi, a = (uintptr_t)addr;
	char line[256];
	bool in = false;
	size_t kb, total = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	CHECK(f, "open smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = lo < a + len && hi > a;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
			total += kb << 10;
	}
	fclose(f);
	return total;
}

/*
 * One RDMA WRITE or READ of @len bytes; ns from post to completion.
 * @post: if not NULL, gets the part spent inside ibv_post_send() (an idle
 * QP's doorbell runs the send, and in loopback the receiving QP, in the
 * caller's system call).
 */
static uint64_t op_ns(enum ibv_wr_opcode op, void *local, uint32_t lkey,
		      void *remote, uint32_t rkey, size_t len, uint64_t *post)
{
	struct ibv_wc wc;
	uint64_t t0 = ht_now_ns();

	post1(P.a.qp, 1, op, local, len, lkey, (uintptr_t)remote, rkey);
	if (post)
		*post = ht_now_ns() - t0;
	expect_ok(P.a.scq, &wc, 1, op == IBV_WR_RDMA_READ ?
		  IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE, P.a.qp, "operation");
	return ht_now_ns() - t0;
}

static void set_fault_mode(const char *mode)
{
	ht_write_file(FAULT_MODE, mode);
}

struct trace_sum {
	uint64_t pages;
	struct dist *ns;
};

static void fault_event(const char *fields, void *arg)
{
	struct trace_sum *t = arg;

	CHECK(!ht_trace_field(fields, "err"), "a fault failed: %s", fields);
	t->pages += ht_trace_field(fields, "faulted");
	if (t->ns)
		dist_add(t->ns, ht_trace_field(fields, "ns"));
}

/*
 * @faults: -1 where nothing faults; @kernel: the tracepoint's fault times;
 * @post: first touch inside ibv_post_send(); both may be NULL.
 */
static void print_dist(const char *name, struct dist *d, long faults,
		       long traced, struct dist *kernel, struct dist *post)
{
	printf("dist name=%s p50=%" PRIu64 " p99=%" PRIu64 " samples=%zu",
	       name, quantile(d, 0.5), quantile(d, 0.99), d->n);
	if (faults >= 0)
		printf(" faults=%ld traced=%ld", faults, traced);
	if (kernel && kernel->n)
		printf(" kernel_p50=%" PRIu64 " kernel_p99=%" PRIu64,
		       quantile(kernel, 0.5), quantile(kernel, 0.99));
	if (post && post->n)
		printf(" in_post_p50=%" PRIu64, quantile(post, 0.5));
	printf("\n");
	fflush(stdout);
}

static void print_ratio(const char *name, double v)
{
	printf("ratio name=%s value=%.3f\n", name, v);
	fflush(stdout);
}

/* ---- cpu ---- */

static uint64_t cpu4k_p50, cpu2m_p50;

static void section_cpu(void)
{
	struct dist d4 = {}, d2 = {};
	int r;
	size_t i;

	for (r = 0; r < rounds; r++) {
		volatile uint8_t *c = map_region(pages * PAGE, false);
		volatile uint8_t *h = map_region(huge * HUGE, true);

		for (i = 0; i < pages; i++) {
			uint64_t t0 = ht_now_ns();

			c[i * PAGE] = 1;
			dist_add(&d4, ht_now_ns() - t0);
		}
		for (i = 0; i < huge; i++) {
			uint64_t t0 = ht_now_ns();

			h[i * HUGE] = 1;
			dist_add(&d2, ht_now_ns() - t0);
		}
		CHECK(thp_bytes((void *)h, huge * HUGE) == huge * HUGE,
		      "only %zu of %zu bytes got huge pages",
		      thp_bytes((void *)h, huge * HUGE), huge * HUGE);
		munmap((void *)c, pages * PAGE);
		munmap((void *)h, huge * HUGE);
	}
	cpu4k_p50 = quantile(&d4, 0.5);
	cpu2m_p50 = quantile(&d2, 0.5);
	print_dist("cpu_4k", &d4, -1, 0, NULL, NULL);
	print_dist("cpu_2m", &d2, -1, 0, NULL, NULL);
	dist_free(&d4);
	dist_free(&d2);
}

/* -s: the sections to run, comma-separated; NULL for all */
static const char *sections;

static bool wanted(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *s = list;

	if (!list)
		return true;
	while ((s = strstr(s, name))) {
		if ((s == list || s[-1] == ',') && (!s[n] || s[n] == ','))
			return true;
		s += n;
	}
	return false;
}

/* ---- touch ---- */

/*
 * First touch of @count units (4 KiB or 2 MiB pages) of a fresh ODP
 * region, on the responder side (@responder: WRITE into it) or on the
 * requester side (READ into it); adds cold minus warm ns to @d, the
 * kernel's fault times to @kd, and returns the pages faulted.
 */
static void touch_round(bool responder, bool thp, struct dist *d,
			struct dist *postd, struct dist *kd, long *faults,
			long *traced)
{
	size_t unit = thp ? HUGE : PAGE, count = thp ? huge : pages, i;
	size_t len = count * unit;
	uint8_t *region = map_region(len, thp), *pin = ht_map_pages(PAGE);
	struct ibv_mr *mr = reg(pd, region, len, ODP);
	struct ibv_mr *pmr = reg(pd, pin, PAGE, ACCESS_ALL);
	struct trace_sum t = { .ns = kd };
	uint64_t *cold = calloc(count, sizeof(*cold)), f0 = 0, f1 = 0, w, wp;
	uint64_t *cpost = calloc(count, sizeof(*cpost));
	struct dist warm = {}, wpost = {};

	CHECK(cold && cpost, "calloc");
	memset(pin, 0x6b, PAGE);
	if (!generic) {
		f0 = counter("page_faults");
		ht_trace_clear();
	}
	for (i = 0; i < count; i++)
		cold[i] = responder ?
			op_ns(IBV_WR_RDMA_WRITE, pin, pmr->lkey,
			      region + i * unit, mr->rkey, OP_LEN, &cpost[i]) :
			op_ns(IBV_WR_RDMA_READ, region + i * unit, mr->lkey,
			      pin, pmr->rkey, OP_LEN, &cpost[i]);
	for (i = 0; i < count; i++) {
		uint64_t p;

		dist_add(&warm, responder ?
			 op_ns(IBV_WR_RDMA_WRITE, pin, pmr->lkey,
			       region + i * unit, mr->rkey, OP_LEN, &p) :
			 op_ns(IBV_WR_RDMA_READ, region + i * unit, mr->lkey,
			       pin, pmr->rkey, OP_LEN, &p));
		dist_add(&wpost, p);
	}
	if (!generic) {
		f1 = counter_grown("page_faults", f0, count);
		/* the rnr mode's background faults may still be tracing */
		sleep_us(20000);
		ht_trace_each("hmmnic_odp_fault_end", fault_event, &t);
		CHECK(f1 - f0 == count, "%zu operations faulted %" PRIu64
		      " pages", count, f1 - f0);
		CHECK(t.pages == count, "the tracepoint saw %" PRIu64
		      " pages faulted, the counter %zu", t.pages, count);
	}
	w = quantile(&warm, 0.5);
	wp = quantile(&wpost, 0.5);
	for (i = 0; i < count; i++) {
		dist_add(d, cold[i] > w ? cold[i] - w : 0);
		dist_add(postd, cpost[i] > wp ? cpost[i] - wp : 0);
		CHECK(region[i * unit] == 0x6b,
		      "wrong byte at page %zu", i);
	}
	if (thp)
		CHECK(thp_bytes(region, len) == len,
		      "only %zu of %zu bytes got huge pages",
		      thp_bytes(region, len), len);
	*faults += f1 - f0;
	*traced += t.pages;
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(pmr), "dereg_mr");
	munmap(region, len);
	munmap(pin, PAGE);
	free(cold);
	free(cpost);
	dist_free(&warm);
	dist_free(&wpost);
}

static void touch(const char *name, bool responder, bool thp,
		  const char *mode)
{
	struct dist d = {}, postd = {}, kd = {};
	long faults = 0, traced = 0;
	uint64_t rnr0 = generic ? 0 : counter("page_fault_rnr_naks");
	int r;

	if (!generic)
		set_fault_mode(mode);
	for (r = 0; r < rounds; r++)
		touch_round(responder, thp, &d, &postd, &kd, &faults,
			    &traced);
	if (generic)
		faults = -1;
	else
		set_fault_mode("sync");
	if (!strcmp(mode, "rnr"))
		CHECK(counter_grown("page_fault_rnr_naks", rnr0, 1) - rnr0 >=
		      (uint64_t)faults, "fewer RNR NAKs than faults");
	print_dist(name, &d, faults, traced, &kd, &postd);
	if (!strcmp(name, "responder_sync_4k"))
		print_ratio("p4_responder_vs_cpu",
			    (double)quantile(&d, 0.5) / cpu4k_p50);
	if (!strcmp(name, "requester_4k"))
		print_ratio("p4_requester_vs_cpu",
			    (double)quantile(&d, 0.5) / cpu4k_p50);
	if (!strcmp(name, "responder_sync_2m"))
		print_ratio("thp_responder_vs_cpu",
			    (double)quantile(&d, 0.5) / cpu2m_p50);
	dist_free(&d);
	dist_free(&postd);
	dist_free(&kd);
}

static void section_touch(bool small, bool thp)
{
	/* -s touch4k_sync alone: only the first figure */
	bool sync_only = sections && wanted(sections, "touch4k_sync") &&
			 !wanted(sections, "touch4k") &&
			 !wanted(sections, "touch");

	CHECK(cpu4k_p50 && cpu2m_p50, "the touch section needs the cpu one");
	if (small) {
		touch("responder_sync_4k", true, false, "sync");
		if (!sync_only) {
			if (!generic)
				touch("responder_rnr_4k", true, false, "rnr");
			touch("requester_4k", false, false, "sync");
		}
	}
	if (thp) {
		touch("responder_sync_2m", true, true, "sync");
		if (!generic)
			touch("responder_rnr_2m", true, true, "rnr");
		touch("requester_2m", false, true, "sync");
	}
}

/* ---- inval ---- */

static void section_inval(void)
{
	struct dist od = {}, plain_d = {};
	size_t len = pages * PAGE;
	uint64_t i0, i1;
	long dropped = 0;
	int r;

	for (r = 0; r < rounds; r++) {
		uint8_t *odp = ht_map_pages(len), *plain = ht_map_pages(len);
		uint8_t *src = ht_map_pages(len);
		struct ibv_mr *mr, *smr;
		struct ibv_wc wc;
		uint64_t t0;

		memset(odp, 1, len);
		memset(plain, 1, len);
		memset(src, 2, len);
		mr = reg(pd, odp, len, ODP);
		smr = reg(pd, src, len, ACCESS_ALL);
		post1(P.a.qp, 1, IBV_WR_RDMA_WRITE, src, len, smr->lkey,
		      (uintptr_t)odp, mr->rkey);
		expect_ok(P.a.scq, &wc, 1, IBV_WC_RDMA_WRITE, P.a.qp,
			  "WRITE");
		CHECK(odp[len - 1] == 2, "the WRITE did not land");
		i0 = counter("page_invalidations");
		t0 = ht_now_ns();
		munmap(odp, len);
		dist_add(&od, (ht_now_ns() - t0) / pages);
		i1 = counter_grown("page_invalidations", i0, pages);
		CHECK(i1 - i0 == pages, "munmap of %zu mirrored pages dropped %"
		      PRIu64, pages, i1 - i0);
		dropped += i1 - i0;
		t0 = ht_now_ns();
		munmap(plain, len);
		dist_add(&plain_d, (ht_now_ns() - t0) / pages);
		CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr), "dereg_mr");
		munmap(src, len);
	}
	print_dist("munmap_odp", &od, dropped, dropped, NULL, NULL);
	print_dist("munmap_plain", &plain_d, -1, 0, NULL, NULL);
	print_ratio("munmap_odp_vs_plain",
		    (double)quantile(&od, 0.5) / quantile(&plain_d, 0.5));
	dist_free(&od);
	dist_free(&plain_d);
}

/* ---- m2r ---- */

static void m2r_event(const char *fields, void *arg)
{
	struct trace_sum *t = arg;

	t->pages += ht_trace_field(fields, "moved");
	dist_add(t->ns, ht_trace_field(fields, "ns"));
}

static void section_m2r(void)
{
	struct dist d = {}, kd = {};
	size_t len = pages * PAGE, i;
	struct trace_sum t = { .ns = &kd };
	long moved = 0;
	int r;

	CHECK(cpu4k_p50, "the m2r section needs the cpu one");
	ht_knob("stage_threshold", "1");
	ht_knob("stage_window_ms", "10000");
	ht_knob("staging", "1");
	ht_trace_clear();
	for (r = 0; r < rounds; r++) {
		volatile uint8_t *region = ht_map_pages(len);
		uint8_t *local = ht_map_pages(len);
		struct ibv_mr *mr, *lmr;
		uint64_t m0, m1, deadline = now_ms() + 30000;
		struct ibv_wc wc;

		for (i = 0; i < pages; i++)
			region[i * PAGE] = (uint8_t)(i + r);
		mr = reg(pd, (void *)region, len, ODP);
		lmr = reg(pd, local, len, ACCESS_ALL);
		post1(P.a.qp, 1, IBV_WR_RDMA_READ, local, len, lmr->lkey,
		      (uintptr_t)region, mr->rkey);
		expect_ok(P.a.scq, &wc, 1, IBV_WC_RDMA_READ, P.a.qp, "READ");
		while (ht_device_pages((void *)region, len) < pages &&
		       now_ms() < deadline)
			sleep_us(20000);
		CHECK(ht_device_pages((void *)region, len) == pages,
		      "%zu of %zu pages staged",
		      ht_device_pages((void *)region, len), pages);
		m0 = counter("pool_migrate_to_ram");
		for (i = 0; i < pages; i++) {
			uint64_t t0 = ht_now_ns();
			uint8_t v = region[i * PAGE];

			dist_add(&d, ht_now_ns() - t0);
			CHECK(v == (uint8_t)(i + r), "page %zu came back wrong",
			      i);
		}
		m1 = counter_grown("pool_migrate_to_ram", m0, pages);
		CHECK(m1 - m0 == pages, "%zu reads, %" PRIu64
		      " migrate_to_ram", pages, m1 - m0);
		moved += m1 - m0;
		CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(lmr), "dereg_mr");
		munmap((void *)region, len);
		munmap(local, len);
	}
	ht_trace_each("hmmnic_pool_migrate_to_ram", m2r_event, &t);
	ht_knob("staging", "0");
	CHECK(t.pages == (uint64_t)moved, "the tracepoint saw %" PRIu64
	      " pages moved, the counter %ld", t.pages, moved);
	print_dist("migrate_to_ram", &d, moved, t.pages, &kd, NULL);
	print_ratio("migrate_to_ram_vs_cpu",
		    (double)quantile(&d, 0.5) / cpu4k_p50);
	dist_free(&d);
	dist_free(&kd);
}

/* ---- warm ---- */

static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	return i;
}

static size_t count_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += a[i] != b[i];
	return n;
}

static void section_warm(void)
{
	size_t len = 1 << 20;
	struct dist odp = {}, pin = {};
	int r;

	for (r = 0; r < rounds; r++) {
		uint8_t *src = ht_map_pages(len), *dst = ht_map_pages(len);
		uint8_t *odst = ht_map_pages(len);
		struct ibv_mr *smr = reg(pd, src, len, ACCESS_ALL);
		struct ibv_mr *dmr = reg(pd, dst, len, ACCESS_ALL);
		struct ibv_mr *omr = reg(pd, odst, len, ODP);
		int k;

		memset(src, 0x33, len);
		for (k = 0; k < 3; k++) {
			/* the first faults odst in: not counted */
			uint64_t o = op_ns(IBV_WR_RDMA_WRITE, src, smr->lkey,
					   odst, omr->rkey, len, NULL);
			uint64_t n = op_ns(IBV_WR_RDMA_WRITE, src, smr->lkey,
					   dst, dmr->rkey, len, NULL);

			if (k) {
				dist_add(&odp, o);
				dist_add(&pin, n);
			}
		}
		CHECK(!memcmp(src, dst, len), "the pinned WRITE did not land: "
		      "first wrong byte at %zu", first_diff(src, dst, len));
		CHECK(!memcmp(src, odst, len), "the WRITE into the warm ODP "
		      "region did not land: first wrong byte at %zu of %zu, "
		      "%zu bytes wrong", first_diff(src, odst, len), len,
		      count_diff(src, odst, len));
		CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr) &&
		      !ibv_dereg_mr(omr), "dereg_mr");
		munmap(src, len);
		munmap(dst, len);
		munmap(odst, len);
	}
	print_dist("write_1m_warm_odp", &odp, -1, 0, NULL, NULL);
	print_dist("write_1m_pinned", &pin, -1, 0, NULL, NULL);
	print_ratio("p1_warm_odp_vs_pinned_bw",
		    (double)quantile(&pin, 0.5) / quantile(&odp, 0.5));
	dist_free(&odp);
	dist_free(&pin);
}


int main(int argc, char **argv)
{
	char staging[16];
	bool pool;
	int opt;

	while ((opt = getopt(argc, argv, "d:gp:H:r:s:")) != -1) {
		switch (opt) {
		case 'g':
			generic = true;
			break;
		case 'd':
			setenv("HMMNIC_DEV", optarg, 1);
			break;
		case 'p':
			pages = strtoul(optarg, NULL, 0);
			break;
		case 'H':
			huge = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 's':
			sections = optarg;
			break;
		default:
			fprintf(stderr, "usage: fault-cost [-d DEV] [-g] [-p PAGES] [-H HUGE] [-r ROUNDS] [-s cpu,touch,touch4k,touch4k_sync,inval,m2r,warm]\n");
			return 2;
		}
	}
	CHECK(pages > 0 && huge > 0 && rounds > 0, "bad arguments");

	rc_setup();
	pair_create(&P, &default_opts);
	pool = !generic && ht_pool_present();
	if (pool) {
		ht_knob_read("staging", staging, sizeof(staging));
		ht_knob("staging", "0");
	} else if (!generic && wanted(sections, "m2r")) {
		printf("m2r skipped: the pool is %s\n", ht_pool_absent_why());
	}
	if (!generic) {
		set_fault_mode("sync");
		/* both events stay on for the whole run: see ht_trace_clear() */
		ht_trace_start(EV_FAULT);
	}
	if (pool)
		ht_trace_start(EV_M2R);
	printf("setup pages=%zu huge=%zu rounds=%d\n", pages, huge, rounds);
	if (wanted(sections, "cpu") || wanted(sections, "touch") ||
	    wanted(sections, "touch4k") || wanted(sections, "touch4k_sync") ||
	    wanted(sections, "m2r"))
		section_cpu();
	if (wanted(sections, "touch") || wanted(sections, "touch4k") ||
	    wanted(sections, "touch4k_sync"))
		section_touch(true, wanted(sections, "touch"));
	if (!generic && wanted(sections, "inval"))
		section_inval();
	if (pool && wanted(sections, "m2r"))
		section_m2r();
	if (wanted(sections, "warm"))
		section_warm();
	if (!generic)
		ht_trace_stop(EV_FAULT);
	if (pool) {
		ht_trace_stop(EV_M2R);
		ht_knob("staging", staging);
	}
	pair_destroy(&P);
	rc_teardown();
	return 0;
}
