// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The NIC-private pool, measured in one run:
 *
 *   pool-cost [-d DEV] [-m MIB] [-r ROUNDS] [-s STAGE_PAGES] [-T]
 *
 * - bandwidth: RDMA READ and RDMA WRITE (loopback RC, 1 MiB messages) of
 *   a region of MIB MiB (default 8) whose pages are all staged in the
 *   pool, against the same on a region registered with
 *   HMMNICDV_REG_MR_NO_STAGING, whose pages stay in system memory. Each
 *   round times both, back to back, in alternating order; the bandwidths
 *   are medians over ROUNDS (default 15), the ratio is the median of the
 *   rounds' own ratios (their quartiles are printed as SPREAD). Checked: the staged region stays staged (pagemap), every
 *   access to it counts as a pool hit, nothing migrates back meanwhile,
 *   and both regions hold the right bytes afterwards.
 * - staging throughput: STAGE_PAGES (default 4096, at most 4096) pages
 *   queued by one RDMA READ while the worker is held (stage_hold), then
 *   staged by the worker alone (this process sleeps on the pool_staged
 *   counter meanwhile) in batches of 64, and again in batches of 512,
 *   timed by the hmmnic_pool_stage tracepoint (the worker's time per
 *   batch, summed; the median of ROUNDS runs, and for the ratio the
 *   median of each round's ratio), against test_hmm's dmirror
 *   moving the same number of pages with HMM_DMIRROR_MIGRATE_TO_DEV (which
 *   migrates 64 pages per migrate_vma call), timed around the ioctl, less
 *   the read-back the ioctl does for its own tests (an HMM_DMIRROR_READ of
 *   the same pages, timed and subtracted; the raw figure is printed). Both
 *   run once first so that their device memory exists (hmmnic's chunks,
 *   dmirror's 256 MiB chunk) and the timed run reuses it. Checked: the
 *   tracepoints account for exactly STAGE_PAGES staged pages, the ioctl
 *   reports STAGE_PAGES migrated.
 * - THPs (where the kernel has device-private THPs; -T: only this): four
 *   2 MiB THPs of an ODP region staged whole (one device folio each)
 *   against the same staged as pages (stage_thp 0: the core splits each
 *   THP as it collects it), both by the worker alone in batches of 512,
 *   then read back by the CPU one byte per page (whole: one
 *   migrate_to_ram per THP; pages: one per page). Per page: the worker's
 *   time (hmmnic_pool_stage), migrate_to_ram's own time (its
 *   tracepoint) and the CPU pass's wall time; each round runs both, in
 *   alternating order, and the ratios (pages / whole, so above 1 means
 *   whole is cheaper) are medians of the rounds' own ratios. Checked:
 *   every page moved both ways, one event per THP when whole, pool_thp,
 *   every byte after the round trip.
 *
 * Prints "RATIO staged_read_bw_vs_system ...", "RATIO stage_vs_dmirror
 * ..." (batches of 64, dmirror's granule), "RATIO stage_b512_vs_dmirror",
 * "RATIO thp_stage_pages_vs_whole", "RATIO thp_back_pages_vs_whole",
 * "RATIO thp_cpu_read_pages_vs_whole" and the figures behind them. Needs
 * debugfs, tracefs and (but with -T) the test_hmm module
 * (/dev/hmm_dmirror0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"
#include "../userspace-provider/hmmnicdv.h"

#define PAGE		4096
#define MSG		(1 << 20)
#define ODP		(ACCESS_ALL | IBV_ACCESS_ON_DEMAND)

/* test_hmm's ioctl ABI (lib/test_hmm_uapi.h of the kernel) */
struct dmirror_cmd {
	uint64_t addr;
	uint64_t ptr;
	uint64_t npages;
	uint64_t cpages;
	uint64_t faults;
};

#define DMIRROR_READ		_IOWR('H', 0x00, struct dmirror_cmd)
#define DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct dmirror_cmd)

static struct pair P;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Print "RATIO @name" as the median over the rounds of @a[r] / @b[r], the
 * two figures of one round taken back to back, so that what drifts
 * between rounds cancels; and "SPREAD @name" as the quartiles of those
 * ratios. Call before median() sorts @a or @b.
 */
static void paired_ratio(const char *name, const double *a, const double *b,
			 int n)
{
	double *r = calloc(n, sizeof(*r));
	int i;

	CHECK(r, "calloc");
	for (i = 0; i < n; i++)
		r[i] = a[i] / b[i];
	printf("RATIO %s %.3f\n", name, median(r, n));
	printf("SPREAD %s q1 %.3f q3 %.3f min %.3f max %.3f\n", name,
	       r[n / 4], r[(3 * n) / 4], r[0], r[n - 1]);
	free(r);
}

/* All of [@remote, +@len) by @op in 1 MiB messages, 4 outstanding. */
static void transfer(enum ibv_wr_opcode op, void *local, uint32_t lkey,
		     void *remote, uint32_t rkey, size_t len)
{
	size_t off, posted = 0, done = 0;
	struct ibv_wc wc;

	for (off = 0; off < len || done < posted;) {
		if (off < len && posted - done < 4) {
			post1(P.a.qp, posted, op, (char *)local + off, MSG,
			      lkey, (uintptr_t)remote + off, rkey);
			posted++;
			off += MSG;
			continue;
		}
		expect_ok(P.a.scq, &wc, done, op == IBV_WR_RDMA_READ ?
			  IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE, P.a.qp,
			  "transfer");
		done++;
	}
}

/* One transfer of all of @remote; MiB/s. */
static double timed(enum ibv_wr_opcode op, void *local, struct ibv_mr *lmr,
		    void *remote, struct ibv_mr *mr, size_t len)
{
	uint64_t t = ht_now_ns();

	transfer(op, local, lmr->lkey, remote, mr->rkey, len);
	return len / ((ht_now_ns() - t) / 1e9) / (1 << 20);
}

static void bandwidth(size_t len, int rounds)
{
	uint8_t *staged, *sys, *local, *want;
	struct ibv_mr *smr, *ymr, *lmr;
	double *rd_s, *rd_y, *wr_s, *wr_y;
	uint64_t hits, m2r, deadline;
	int r;

	staged = ht_map_pages(len);
	sys = ht_map_pages(len);
	local = ht_map_pages(len);
	want = malloc(len);
	CHECK(want, "malloc");
	fill_random(want, len);
	memcpy(staged, want, len);
	memcpy(sys, want, len);
	smr = reg(pd, staged, len, ODP);
	ymr = ht_hmmnicdv_reg_mr(pd, sys, len, ODP,
				 HMMNICDV_REG_MR_NO_STAGING);
	lmr = reg(pd, local, len, ACCESS_ALL);

	/* stage one region, fault the other in */
	ht_knob("stage_threshold", "1");
	ht_knob("stage_window_ms", "10000");
	ht_knob("staging", "1");
	transfer(IBV_WR_RDMA_READ, local, lmr->lkey, staged, smr->rkey, len);
	transfer(IBV_WR_RDMA_READ, local, lmr->lkey, sys, ymr->rkey, len);
	deadline = now_ms() + 20000;
	while (ht_device_pages(staged, len) < len / PAGE && now_ms() < deadline)
		sleep_us(10000);
	CHECK(ht_device_pages(staged, len) == len / PAGE, "%zu of %zu pages staged",
	      ht_device_pages(staged, len), len / PAGE);
	CHECK(!ht_device_pages(sys, len), "the opted-out region was staged");

	rd_s = calloc(rounds, sizeof(double));
	rd_y = calloc(rounds, sizeof(double));
	wr_s = calloc(rounds, sizeof(double));
	wr_y = calloc(rounds, sizeof(double));
	CHECK(rd_s && rd_y && wr_s && wr_y, "calloc");
	hits = counter("pool_hits");
	m2r = counter("pool_migrate_to_ram");
	/* WRITEs put the original bytes back, from the pinned buffer */
	memcpy(local, want, len);
	for (r = 0; r < rounds; r++) {
		/* which region goes first alternates, against drift */
		bool sf = !(r & 1);

		rd_s[r] = timed(IBV_WR_RDMA_READ, local, lmr, sf ? staged : sys,
				sf ? smr : ymr, len);
		rd_y[r] = timed(IBV_WR_RDMA_READ, local, lmr, sf ? sys : staged,
				sf ? ymr : smr, len);
		wr_s[r] = timed(IBV_WR_RDMA_WRITE, local, lmr, sf ? staged : sys,
				sf ? smr : ymr, len);
		wr_y[r] = timed(IBV_WR_RDMA_WRITE, local, lmr, sf ? sys : staged,
				sf ? ymr : smr, len);
		if (!sf) {
			double x;

			x = rd_s[r], rd_s[r] = rd_y[r], rd_y[r] = x;
			x = wr_s[r], wr_s[r] = wr_y[r], wr_y[r] = x;
		}
	}
	CHECK(ht_device_pages(staged, len) == len / PAGE,
	      "pages left the pool during the measurement");
	CHECK(counter_grown("pool_hits", hits, 2 * rounds * len / PAGE) >=
	      hits + 2 * rounds * len / PAGE,
	      "pool_hits grew by less than one per page access");
	CHECK(counter("pool_migrate_to_ram") == m2r,
	      "pages migrated back during the measurement");
	check_bytes(staged, want, len, "staged region");
	check_bytes(sys, want, len, "system region");

	paired_ratio("staged_read_bw_vs_system", rd_s, rd_y, rounds);
	paired_ratio("staged_write_bw_vs_system", wr_s, wr_y, rounds);
	printf("BW staged_read_mib_s %.1f system_read_mib_s %.1f "
	       "staged_write_mib_s %.1f system_write_mib_s %.1f\n",
	       median(rd_s, rounds), median(rd_y, rounds),
	       median(wr_s, rounds), median(wr_y, rounds));
	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(ymr) && !ibv_dereg_mr(lmr),
	      "dereg_mr");
	munmap(staged, len);
	munmap(sys, len);
	munmap(local, len);
	free(want);
	free(rd_s);
	free(rd_y);
	free(wr_s);
	free(wr_y);
}

/* Sum of "staged=" and "ns=" of the hmmnic_pool_stage events in trace. */
static uint64_t trace_events;

struct stage_sum {
	uint64_t staged, ns;
};

static void stage_event(const char *fields, void *arg)
{
	struct stage_sum *t = arg;

	t->staged += ht_trace_field(fields, "staged");
	t->ns += ht_trace_field(fields, "ns");
}

static void trace_sum(uint64_t *staged, uint64_t *ns)
{
	struct stage_sum t = {};

	trace_events = ht_trace_each("hmmnic_pool_stage", stage_event, &t);
	*staged = t.staged;
	*ns = t.ns;
}

/*
 * hmmnic: stage @n fresh pages in batches of @batch; return the pages
 * staged per second of the worker's time. The pages are queued while the
 * worker is held, so it runs alone; meanwhile this process only sleeps on
 * the pool_staged and pool_stage_failures counters. The core may refuse
 * to migrate a page that something holds for a moment (the driver counts
 * a stage failure and leaves the page in system memory), so up to 1% of
 * the pages may stay behind, but every page must be either staged or
 * counted as a failure; the rate counts the pages that moved.
 */
static double hmmnic_stage(size_t n, const char *batch)
{
	size_t len = n * PAGE;
	uint8_t *region = ht_map_pages(len), *local = ht_map_pages(len);
	uint64_t staged, ns, deadline, idle, s0, f0, failed, done, last;
	struct ibv_mr *mr, *lmr;

	memset(region, 0x3c, len);
	mr = reg(pd, region, len, ODP);
	lmr = reg(pd, local, len, ACCESS_ALL);
	ht_knob("stage_batch", batch);
	ht_knob("stage_hold", "1");
	transfer(IBV_WR_RDMA_READ, local, lmr->lkey, region, mr->rkey, len);
	ht_trace_clear();
	sleep_us(20000);	/* past the core's counter cache */
	s0 = counter("pool_staged");
	f0 = counter("pool_stage_failures");
	ht_knob("stage_hold", "0");
	/* until every page is accounted for, or nothing moved for 2 s */
	deadline = now_ms() + 60000;
	idle = now_ms() + 2000;
	for (last = 0; now_ms() < deadline && now_ms() < idle;
	     sleep_us(50000)) {
		done = counter("pool_staged") - s0 +
		       counter("pool_stage_failures") - f0;
		if (done >= n)
			break;
		if (done != last)
			idle = now_ms() + 2000;
		last = done;
	}
	failed = counter("pool_stage_failures") - f0;
	done = counter("pool_staged") - s0;
	/* the last batch's mappings and its event come just after */
	deadline = now_ms() + 5000;
	for (;;) {
		trace_sum(&staged, &ns);
		if ((staged >= done && ht_device_pages(region, len) >= done) ||
		    now_ms() >= deadline)
			break;
		sleep_us(20000);
	}
	CHECK(done + failed == n,
	      "%" PRIu64 " pages staged and %" PRIu64 " failed, of %zu queued",
	      done, failed, n);
	CHECK(staged >= n - n / 100,
	      "only %" PRIu64 " of %zu pages staged (%" PRIu64 " failed)",
	      staged, n, failed);
	CHECK(ht_device_pages(region, len) == staged,
	      "%zu pages in device memory, the tracepoint saw %" PRIu64,
	      ht_device_pages(region, len), staged);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(lmr), "dereg_mr");
	/* frees the device pages; the chunks stay for the next run */
	munmap(region, len);
	munmap(local, len);
	return staged / (ns / 1e9);
}

/*
 * dmirror: move @n fresh pages to its device memory; return the ns of
 * the migration. The ioctl also reads every page back through its mirror
 * and copies it to user space (for its own tests), so the time of an
 * HMM_DMIRROR_READ of the same, now device-resident, pages is taken off;
 * *@raw gets the whole ioctl.
 */
static uint64_t dmirror_stage(int fd, size_t n, uint64_t *raw)
{
	size_t len = n * PAGE;
	uint8_t *region = ht_map_pages(len), *bounce = malloc(len);
	struct dmirror_cmd cmd = {
		.addr = (uintptr_t)region,
		.ptr = (uintptr_t)bounce,
		.npages = n,
	};
	uint64_t t, r;

	CHECK(bounce, "malloc");
	memset(region, 0x3c, len);
	t = ht_now_ns();
	CHECK(!ioctl(fd, DMIRROR_MIGRATE_TO_DEV, &cmd),
	      "HMM_DMIRROR_MIGRATE_TO_DEV: %s", strerror(errno));
	t = ht_now_ns() - t;
	CHECK(cmd.cpages == n, "dmirror migrated %" PRIu64 " of %zu pages",
	      (uint64_t)cmd.cpages, n);
	CHECK(bounce[0] == 0x3c && bounce[len - 1] == 0x3c,
	      "dmirror returned other bytes");
	cmd.cpages = 0;
	cmd.faults = 0;
	r = ht_now_ns();
	CHECK(!ioctl(fd, DMIRROR_READ, &cmd), "HMM_DMIRROR_READ: %s",
	      strerror(errno));
	r = ht_now_ns() - r;
	CHECK(!cmd.faults, "the read-back faulted %" PRIu64 " pages",
	      (uint64_t)cmd.faults);
	munmap(region, len);
	free(bounce);
	*raw = t;
	return t > r ? t - r : 1;
}

static void staging(size_t n, int reps)
{
	double *h64 = calloc(reps, sizeof(double));
	double *h512 = calloc(reps, sizeof(double));
	double *dm = calloc(reps, sizeof(double));
	double *draw = calloc(reps, sizeof(double));
	uint64_t b64 = 0, b512 = 0, raw;
	int fd, r;

	CHECK(h64 && h512 && dm && draw, "calloc");
	fd = open("/dev/hmm_dmirror0", O_RDWR);
	CHECK(fd >= 0, "open /dev/hmm_dmirror0 (modprobe test_hmm): %s",
	      strerror(errno));
	ht_knob("stage_threshold", "1");
	ht_knob("stage_window_ms", "10000");
	ht_knob("staging", "1");
	ht_trace_start("hmmnic/hmmnic_pool_stage");

	hmmnic_stage(n, "512");		/* grows the pool's chunks */
	dmirror_stage(fd, n, &raw);	/* allocates dmirror's chunk */
	for (r = 0; r < reps; r++) {
		h64[r] = hmmnic_stage(n, "64");
		b64 = trace_events;
		h512[r] = hmmnic_stage(n, "512");
		b512 = trace_events;
		dm[r] = n / (dmirror_stage(fd, n, &raw) / 1e9);
		draw[r] = n / (raw / 1e9);
	}

	ht_knob("stage_batch", "64");
	ht_trace_stop("hmmnic/hmmnic_pool_stage");
	close(fd);
	/* P6: the same 64-page granule as dmirror */
	paired_ratio("stage_vs_dmirror", h64, dm, reps);
	paired_ratio("stage_b512_vs_dmirror", h512, dm, reps);
	printf("STAGE pages %zu reps %d hmmnic_b64_pages_s %.0f"
	       " hmmnic_b512_pages_s %.0f dmirror_pages_s %.0f"
	       " dmirror_ioctl_pages_s %.0f batches_b64 %" PRIu64
	       " batches_b512 %" PRIu64 "\n", n, reps, median(h64, reps),
	       median(h512, reps), median(dm, reps), median(draw, reps), b64,
	       b512);
	free(h64);
	free(h512);
	free(dm);
	free(draw);
}

/* ---- THPs staged whole against THPs staged as pages ---- */

#define THP		(2UL << 20)
#define THP_N		4

struct ev_sum {
	uint64_t events, pages, ns;
	const char *pages_field;
};

static void ev_add(const char *fields, void *arg)
{
	struct ev_sum *e = arg;

	e->events++;
	e->pages += ht_trace_field(fields, e->pages_field);
	e->ns += ht_trace_field(fields, "ns");
}

struct thp_times {
	double stage, back, cpu;	/* ns per page */
};

/*
 * THP_N THPs of an ODP region staged by the worker alone (queued while
 * it is held, batches of 512), whole (@whole) or as pages (stage_thp 0:
 * the core splits each THP as it collects it), then read back by the CPU
 * one byte per page. Fills @t from the tracepoints (the worker's and
 * migrate_to_ram's own time) and the CPU pass's wall time; checks that
 * every page moved both ways, that whole means one event per THP, and
 * every byte.
 */
static void thp_once(bool whole, struct thp_times *t)
{
	size_t len = THP_N * THP, n = len / PAGE, i;
	uint8_t *region = ht_map_thp(len), *local = ht_map_pages(len);
	uint8_t *want = malloc(len);
	struct ev_sum st = { .pages_field = "staged" };
	struct ev_sum m2r = { .pages_field = "moved" };
	struct ibv_mr *mr, *lmr;
	uint64_t deadline, t0;
	volatile uint8_t sink;

	CHECK(want, "malloc");
	fill_random(want, len);
	memcpy(region, want, len);
	ht_make_thp(region, len);
	mr = reg(pd, region, len, ODP);
	lmr = reg(pd, local, len, ACCESS_ALL);
	ht_knob("stage_thp", whole ? "1" : "0");
	ht_knob("stage_hold", "1");
	transfer(IBV_WR_RDMA_READ, local, lmr->lkey, region, mr->rkey, len);
	ht_trace_clear();
	ht_knob("stage_hold", "0");
	deadline = now_ms() + 60000;
	while (now_ms() < deadline) {
		st = (struct ev_sum){ .pages_field = "staged" };
		ht_trace_each("hmmnic_pool_stage", ev_add, &st);
		if (st.pages >= n && ht_device_pages(region, len) == n)
			break;
		sleep_us(20000);
	}
	CHECK(st.pages == n && ht_device_pages(region, len) == n,
	      "%s: %" PRIu64 " pages staged (tracepoint), %zu in the pool, of %zu",
	      whole ? "whole" : "pages", st.pages,
	      ht_device_pages(region, len), n);
	CHECK(ht_pool_state("pool_thp") == (whole ? THP_N : 0),
	      "%s: pool_thp %" PRIu64, whole ? "whole" : "pages",
	      ht_pool_state("pool_thp"));
	CHECK(!whole || st.events == THP_N, "whole: %" PRIu64 " stage events",
	      st.events);

	ht_trace_clear();
	t0 = ht_now_ns();
	for (i = 0; i < len; i += PAGE)
		sink = region[i];
	(void)sink;
	t->cpu = (double)(ht_now_ns() - t0) / n;
	ht_trace_each("hmmnic_pool_migrate_to_ram", ev_add, &m2r);
	CHECK(m2r.pages == n && m2r.events == (whole ? THP_N : n),
	      "%s: migrate_to_ram moved %" PRIu64 " pages in %" PRIu64
	      " calls", whole ? "whole" : "pages", m2r.pages, m2r.events);
	CHECK(!ht_device_pages(region, len), "pages left in the pool");
	CHECK(!memcmp(region, want, len), "%s: the bytes differ after the round trip",
	      whole ? "whole" : "pages");
	t->stage = (double)st.ns / n;
	t->back = (double)m2r.ns / n;
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(lmr), "dereg_mr");
	munmap(region, len);
	munmap(local, len);
	free(want);
}

static void thp(int rounds)
{
	double *w[3], *p[3];
	struct thp_times tw, tp;
	int r, k;

	if (!ht_feature("pool_thp")) {
		printf("THP skipped: pool_thp %s\n", ht_feature_why("pool_thp"));
		return;
	}
	for (k = 0; k < 3; k++) {
		w[k] = calloc(rounds, sizeof(double));
		p[k] = calloc(rounds, sizeof(double));
		CHECK(w[k] && p[k], "calloc");
	}
	ht_knob("stage_threshold", "1");
	ht_knob("stage_window_ms", "10000");
	ht_knob("staging", "1");
	ht_knob("stage_batch", "512");
	ht_trace_start("hmmnic/hmmnic_pool_stage");
	ht_trace_start("hmmnic/hmmnic_pool_migrate_to_ram");
	thp_once(true, &tw);		/* grows the pool's chunks */
	for (r = 0; r < rounds; r++) {
		/* alternating order, so that neither always goes first */
		if (r & 1) {
			thp_once(false, &tp);
			thp_once(true, &tw);
		} else {
			thp_once(true, &tw);
			thp_once(false, &tp);
		}
		w[0][r] = tw.stage;
		w[1][r] = tw.back;
		w[2][r] = tw.cpu;
		p[0][r] = tp.stage;
		p[1][r] = tp.back;
		p[2][r] = tp.cpu;
	}
	ht_trace_stop("hmmnic/hmmnic_pool_migrate_to_ram");
	ht_trace_stop("hmmnic/hmmnic_pool_stage");
	ht_knob("stage_thp", "1");
	ht_knob("stage_batch", "64");
	/* time as pages / time whole: above 1, whole is cheaper */
	paired_ratio("thp_stage_pages_vs_whole", p[0], w[0], rounds);
	paired_ratio("thp_back_pages_vs_whole", p[1], w[1], rounds);
	paired_ratio("thp_cpu_read_pages_vs_whole", p[2], w[2], rounds);
	printf("STAGE thps %d rounds %d thp_whole_stage_ns_page %.0f"
	       " thp_pages_stage_ns_page %.0f thp_whole_back_ns_page %.0f"
	       " thp_pages_back_ns_page %.0f thp_whole_cpu_ns_page %.0f"
	       " thp_pages_cpu_ns_page %.0f\n", THP_N, rounds,
	       median(w[0], rounds), median(p[0], rounds),
	       median(w[1], rounds), median(p[1], rounds),
	       median(w[2], rounds), median(p[2], rounds));
	for (k = 0; k < 3; k++) {
		free(w[k]);
		free(p[k]);
	}
}

int main(int argc, char **argv)
{
	size_t mib = 8, stage_pages = 4096;
	int rounds = 15, opt;
	bool thp_only = false;

	while ((opt = getopt(argc, argv, "d:m:r:s:T")) != -1) {
		switch (opt) {
		case 'T':
			thp_only = true;
			break;
		case 'd':
			setenv("HMMNIC_DEV", optarg, 1);
			break;
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 's':
			stage_pages = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: pool-cost [-d DEV] [-m MIB] [-r ROUNDS] [-s STAGE_PAGES] [-T]\n");
			return 2;
		}
	}
	/* the stage queue holds 4096 requests */
	CHECK(mib && rounds > 0 && stage_pages && stage_pages <= 4096,
	      "bad arguments");
	if (!ht_pool_present()) {
		printf("pool-cost: nothing to measure: the pool is %s\n",
		       ht_pool_absent_why());
		return 0;
	}
	rc_setup();
	pair_create(&P, &default_opts);
	if (!thp_only) {
		bandwidth(mib << 20, rounds);
		staging(stage_pages, rounds);
	}
	thp(rounds);
	pair_destroy(&P);
	ht_knob("stage_threshold", "32");
	ht_knob("stage_window_ms", "100");
	rc_teardown();
	return 0;
}
