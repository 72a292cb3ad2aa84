// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The NIC-private pool: ODP pages staged into hmmnic's device-private
 * memory, served from there by RDMA, and moved back to system memory when
 * the CPU touches them, the pool is full, or the device goes away. RC pairs
 * in loopback (rctest.h); the staging threshold is 1, so that one RDMA
 * access stages a page; /proc/self/pagemap tells whether a page is staged
 * (not present, a swap-type entry: the device-private entry). Every byte
 * that moves is compared.
 *
 * - read: RDMA READ stages the pages; a second READ is served from the
 *   pool (pool_hits) and returns the same bytes; the CPU reads them back
 *   through migrate_to_ram.
 * - write: RDMA WRITE into staged pages stays in the pool; the CPU sees it.
 * - cpu_write: the CPU writes staged pages (migrate_to_ram), RDMA reads
 *   what it wrote.
 * - fork: with staged pages the process forks; the child reads the
 *   parent's data and writes its own copy, the parent's bytes stay as they
 *   were, for the CPU and for RDMA.
 * - munmap: unmapping staged pages frees them in the pool.
 * - exit: a process that exits with staged pages leaves the pool as it
 *   was.
 * - evict: a pool of 2 MiB and 4 MiB of hot pages: cold pages are evicted
 *   (pool_evicted), the pool never exceeds its size, every byte survives.
 * - optout: an ODP region registered with HMMNICDV_REG_MR_NO_STAGING is
 *   never staged.
 * - shrink: 8 MiB staged (four 2 MiB chunks), then the pool size goes
 *   down to 2 MiB: pages go back to system memory until one chunk is
 *   left, every byte intact; the size goes up again and staging uses it.
 * - oom: page allocation fails (fail_page_alloc, limited to hmmnic's
 *   code): a CPU touch of a staged page gets VM_FAULT_OOM from
 *   migrate_to_ram and is retried until it succeeds, with the right
 *   bytes; eviction that cannot allocate leaves the pages staged and
 *   tries again until the pool is empty. Skipped without fault injection.
 * - queue: with the worker held, a page accessed again in a later window
 *   is queued once, not twice, and nothing counts as a stage failure;
 *   a page that found the queue full is queued at its next access.
 * - dereg_held: a region deregistered while its pages wait in a held
 *   queue goes at once; its requests are dropped, nothing leaks.
 * - owner: with a second device (HMMNIC_DEV2), pages staged in hmmnic0's
 *   pool are never used as such by the other device: its access moves them
 *   back to system memory (hmmnic0's pool_migrate_to_ram), and the data
 *   is right.
 * - thp: 2 MiB THPs staged whole as device folios, moved back whole by a
 *   CPU read and by eviction, split by mprotect() (where the kernel has
 *   device-private THPs; logged as skipped elsewhere).
 * - stress: RDMA WRITE/READ traffic on 768 pages, 256 of which a CPU
 *   writer works on at the same time, for POOL_STRESS_SECONDS (default
 *   60) through a 1 MiB (256-page) pool, while staging, migrate_to_ram
 *   and eviction race; zero mismatches.
 *
 *   pool [CASE...]
 *   pool --hold FILE   stage a pattern, touch FILE, wait for SIGUSR1, then
 *                      check the pattern with the CPU (for rmmod tests)
 *   pool --exit        stage pages and exit without cleaning up
 *
 * The debug kernel needs about ten minutes for all cases:
 * suite-timeout: 1200
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"
#include "../../userspace-provider/hmmnicdv.h"

#define PAGE		4096
#define ODP		(ACCESS_ALL | IBV_ACCESS_ON_DEMAND)
#define HMMNIC_QUEUE	4096	/* the driver's HMMNIC_STAGE_QUEUE */

static struct pair P;

/* ---- the pool's knobs and state ---- */

static void knob_set(const char *name, const char *val)
{
	ht_knob(name, val);
}

/* Threshold 1 in a long window: one access stages a page. */
static void knobs_eager(void)
{
	knob_set("staging", "1");
	knob_set("stage_threshold", "1");
	knob_set("stage_window_ms", "10000");
	knob_set("stage_batch", "64");
	knob_set("pool_size_mb", "64");
}

static uint64_t dev_counter(const char *dev, const char *name)
{
	char path[256], buf[64];
	int err;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	err = ht_read_file(path, buf, sizeof(buf));
	CHECK(!err, "read %s: %s", path, strerror(-err));
	return strtoull(buf, NULL, 0);
}

/* A gauge, read after the core's 10 ms counter cache has expired. */
static uint64_t gauge(const char *name)
{
	sleep_us(15000);
	return dev_counter(ht_dev_name(), name);
}

/* Wait until @name of @dev reaches @want; return its value. */
static uint64_t wait_counter(const char *dev, const char *name, uint64_t want,
			     int ms)
{
	uint64_t deadline = now_ms() + ms, v;

	while ((v = dev_counter(dev, name)) < want && now_ms() < deadline)
		sleep_us(10000);
	return v;
}

/* ---- RDMA between a (pinned) and b (the region under test) ---- */

static void rdma(struct ibv_qp *qp, struct ibv_cq *cq, enum ibv_wr_opcode op,
		 void *local, uint32_t lkey, void *remote, uint32_t rkey,
		 uint32_t len)
{
	static uint64_t wr_id;
	struct ibv_wc wc;

	post1(qp, ++wr_id, op, local, len, lkey, (uintptr_t)remote, rkey);
	expect_ok(cq, &wc, wr_id, op == IBV_WR_RDMA_READ ? IBV_WC_RDMA_READ :
		  IBV_WC_RDMA_WRITE, qp, "RDMA on the pool region");
}

/*
 * READ all of @region (an ODP MR) in 64 KiB pieces into @local, and wait
 * until the worker staged @expect more pages.
 */
static void read_all(void *local, struct ibv_mr *lmr, void *region,
		     struct ibv_mr *mr, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += 65536)
		rdma(P.a.qp, P.a.scq, IBV_WR_RDMA_READ, (char *)local + off,
		     lmr->lkey, (char *)region + off, mr->rkey,
		     len - off < 65536 ? len - off : 65536);
}

static void stage(void *local, struct ibv_mr *lmr, void *region,
		  struct ibv_mr *mr, size_t len)
{
	uint64_t s0 = dev_counter(ht_dev_name(), "pool_staged");
	uint64_t deadline = now_ms() + 10000;

	read_all(local, lmr, region, mr, len);
	while (ht_device_pages(region, len) < len / PAGE && now_ms() < deadline)
		sleep_us(10000);
	CHECK(ht_device_pages(region, len) == len / PAGE,
	      "%zu of %zu pages staged (pool_staged %" PRIu64 " -> %" PRIu64
	      ")", ht_device_pages(region, len), len / PAGE, s0,
	      dev_counter(ht_dev_name(), "pool_staged"));
}

struct bufs {
	size_t len;
	uint8_t *region, *local, *want;
	struct ibv_mr *mr, *lmr;
};

static void bufs_init(struct bufs *b, size_t len, int mr_flags)
{
	b->len = len;
	b->region = ht_map_pages(len);
	b->local = ht_map_pages(len);
	b->want = malloc(len);
	CHECK(b->want, "malloc");
	fill_random(b->want, len);
	memcpy(b->region, b->want, len);
	b->lmr = reg(pd, b->local, len, ACCESS_ALL);
	if (mr_flags) {
		b->mr = ht_hmmnicdv_reg_mr(pd, b->region, len, ODP, mr_flags);
	} else {
		b->mr = reg(pd, b->region, len, ODP);
	}
}

static void bufs_fini(struct bufs *b)
{
	CHECK(!ibv_dereg_mr(b->mr) && !ibv_dereg_mr(b->lmr), "dereg_mr");
	munmap(b->region, b->len);
	munmap(b->local, b->len);
	free(b->want);
}

/* ---- page allocation failures: fail_page_alloc ---- */

#define FPA "/sys/kernel/debug/fail_page_alloc"

static void fpa_set(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), FPA "/%s", name);
	ht_write_file(path, val);
}

/*
 * Make the next @times page allocations fail whose stack holds hmmnic's
 * code, in this thread only if @task_only.
 */
static void fpa_arm(int times, bool task_only)
{
	unsigned long lo = ~0UL, hi = 0, a;
	char line[256], type, buf[32];
	FILE *f = fopen("/proc/kallsyms", "r");

	CHECK(f, "open /proc/kallsyms: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[hmmnic]") ||
		    sscanf(line, "%lx %c", &a, &type) != 2 ||
		    (type != 't' && type != 'T'))
			continue;
		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	fclose(f);
	CHECK(lo && hi > lo, "no addresses for hmmnic in /proc/kallsyms");
	snprintf(buf, sizeof(buf), "%lu", lo);
	fpa_set("require-start", buf);
	snprintf(buf, sizeof(buf), "%lu", hi + 65536);
	fpa_set("require-end", buf);
	fpa_set("task-filter", task_only ? "Y" : "N");
	fpa_set("min-order", "0");
	fpa_set("ignore-gfp-wait", "N");
	fpa_set("ignore-gfp-highmem", "N");
	fpa_set("verbose", "0");
	fpa_set("interval", "1");
	snprintf(buf, sizeof(buf), "%d", times);
	fpa_set("times", buf);
	fpa_set("probability", "100");
}

static void fpa_disarm(void)
{
	fpa_set("probability", "0");
	fpa_set("require-start", "0");
}

static void count_moved(const char *fields, void *arg)
{
	uint64_t *n = arg;

	n[ht_trace_field(fields, "moved") ? 1 : 0]++;
}

/* ---- cases ---- */

static void case_read(void)
{
	const char *dev = ht_dev_name();
	uint64_t hits, m2r;
	struct bufs b;

	knobs_eager();
	bufs_init(&b, 64 * PAGE, 0);
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "first READ");

	memset(b.local, 0, b.len);
	hits = dev_counter(dev, "pool_hits");
	m2r = dev_counter(dev, "pool_migrate_to_ram");
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "READ from the pool");
	CHECK(wait_counter(dev, "pool_hits", hits + 64, 1000) >= hits + 64,
	      "pool_hits did not count the staged pages");
	CHECK(ht_device_pages(b.region, b.len) == 64,
	      "a READ moved staged pages");
	CHECK(dev_counter(dev, "pool_migrate_to_ram") == m2r,
	      "migrate_to_ram without a CPU access");

	check_bytes(b.region, b.want, b.len, "CPU read of staged pages");
	CHECK(!ht_device_pages(b.region, b.len), "pages still staged after the CPU read");
	CHECK(wait_counter(dev, "pool_migrate_to_ram", m2r + 64, 1000) >= m2r + 64,
	      "pool_migrate_to_ram did not count 64 pages");
	bufs_fini(&b);
	ht_log("read: 64 pages staged, READ served from the pool, CPU read them back");
}

static void case_write(void)
{
	struct bufs b;

	knobs_eager();
	bufs_init(&b, 32 * PAGE, 0);
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	fill_random(b.want, b.len);
	memcpy(b.local, b.want, b.len);
	rdma(P.a.qp, P.a.scq, IBV_WR_RDMA_WRITE, b.local, b.lmr->lkey,
	     b.region, b.mr->rkey, b.len);
	CHECK(ht_device_pages(b.region, b.len) == 32, "a WRITE moved staged pages");
	check_bytes(b.region, b.want, b.len, "CPU read after RDMA WRITE to the pool");
	bufs_fini(&b);
	ht_log("write: RDMA WRITE into 32 staged pages is what the CPU reads");
}

static void case_cpu_write(void)
{
	struct bufs b;

	knobs_eager();
	knob_set("staging", "0");
	bufs_init(&b, 32 * PAGE, 0);
	knob_set("staging", "1");
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	knob_set("staging", "0");	/* the READ below must not restage */
	fill_random(b.want, b.len);
	memcpy(b.region, b.want, b.len);
	CHECK(!ht_device_pages(b.region, b.len), "CPU writes left pages staged");
	memset(b.local, 0, b.len);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "READ after CPU writes");
	bufs_fini(&b);
	knob_set("staging", "1");
	ht_log("cpu_write: CPU writes to staged pages are what RDMA reads");
}

static void case_fork(void)
{
	struct bufs b;
	uint8_t *orig;
	pid_t pid;
	int status;

	knobs_eager();
	bufs_init(&b, 16 * PAGE, 0);
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	orig = malloc(b.len);
	CHECK(orig, "malloc");
	memcpy(orig, b.want, b.len);

	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		/* the child: sees the parent's data, then writes its own */
		if (memcmp(b.region, orig, b.len))
			_exit(2);
		memset(b.region, 0x5a, b.len);
		_exit(b.region[100] == 0x5a ? 0 : 3);
	}
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
	      "child: status %#x (2: wrong data after fork)", status);
	memset(b.local, 0, b.len);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, orig, b.len, "parent's pages by RDMA after the child wrote");
	check_bytes(b.region, orig, b.len, "parent's pages by the CPU");
	free(orig);
	bufs_fini(&b);
	ht_log("fork: the child saw the staged data and wrote its own copy; the parent's bytes are unchanged");
}

static void case_munmap(void)
{
	uint64_t used;
	struct bufs b;

	knobs_eager();
	bufs_init(&b, 32 * PAGE, 0);
	used = gauge("pool_pages_used");
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	CHECK(gauge("pool_pages_used") == used + 32,
	      "pool_pages_used %" PRIu64 " with 32 pages staged, was %" PRIu64,
	      gauge("pool_pages_used"), used);
	CHECK(!munmap(b.region, b.len), "munmap");
	CHECK(gauge("pool_pages_used") == used,
	      "pool_pages_used %" PRIu64 " after munmap, was %" PRIu64,
	      gauge("pool_pages_used"), used);
	b.region = ht_map_pages(b.len);	/* bufs_fini unmaps it */
	bufs_fini(&b);
	ht_log("munmap: the staged pages went back to the pool");
}

/* --exit: stage pages in this process and leave without cleaning up. */
static int exit_child(void)
{
	struct bufs b;

	rc_setup();
	pair_create(&P, &default_opts);
	knobs_eager();
	bufs_init(&b, 32 * PAGE, 0);
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	_exit(0);
}

static void case_exit(void)
{
	const char *dev = ht_dev_name();
	char cmd[512];
	uint64_t used = gauge("pool_pages_used");
	uint64_t staged = dev_counter(dev, "pool_staged");
	int ret;

	snprintf(cmd, sizeof(cmd), "/proc/%d/exe --exit", getpid());
	ret = system(cmd);
	CHECK(ret == 0, "the --exit child failed (%d)", ret);
	CHECK(dev_counter(dev, "pool_staged") >= staged + 32,
	      "the child staged nothing");
	CHECK(gauge("pool_pages_used") == used,
	      "pool_pages_used %" PRIu64 " after the child exited, was %"
	      PRIu64, gauge("pool_pages_used"), used);
	ht_log("exit: a process that exited with 32 staged pages left the pool as it was");
}

static void case_evict(void)
{
	const char *dev = ht_dev_name();
	size_t len = 1024 * PAGE;	/* 4 MiB, twice the pool */
	uint64_t ev;
	struct bufs b;

	knobs_eager();
	knob_set("pool_size_mb", "2");
	ev = dev_counter(dev, "pool_evicted");
	bufs_init(&b, len, 0);
	read_all(b.local, b.lmr, b.region, b.mr, len);
	check_bytes(b.local, b.want, len, "READ of 4 MiB");
	CHECK(wait_counter(dev, "pool_evicted", ev + 256, 10000) >= ev + 256,
	      "pool_evicted %" PRIu64 " -> %" PRIu64 ": nothing evicted", ev,
	      dev_counter(dev, "pool_evicted"));
	CHECK(gauge("pool_pages_used") <= 512,
	      "pool_pages_used %" PRIu64 " over the 512-page pool",
	      gauge("pool_pages_used"));
	CHECK(ht_device_pages(b.region, len) <= 512, "more pages staged than the pool holds");
	memset(b.local, 0, len);
	read_all(b.local, b.lmr, b.region, b.mr, len);
	check_bytes(b.local, b.want, len, "READ after eviction");
	check_bytes(b.region, b.want, len, "CPU read after eviction");
	bufs_fini(&b);
	knob_set("pool_size_mb", "64");
	ht_log("evict: 4 MiB of hot pages through a 2 MiB pool, %" PRIu64
	       " evicted, every byte intact", dev_counter(dev, "pool_evicted") - ev);
}

static void case_optout(void)
{
	const char *dev = ht_dev_name();
	uint64_t staged = dev_counter(dev, "pool_staged");
	struct bufs b;

	knobs_eager();
	bufs_init(&b, 32 * PAGE, HMMNICDV_REG_MR_NO_STAGING);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "READ of the opted-out region");
	sleep_us(200000);
	CHECK(!ht_device_pages(b.region, b.len), "an opted-out region was staged");
	CHECK(dev_counter(dev, "pool_staged") == staged, "pool_staged moved");
	bufs_fini(&b);
	ht_log("optout: a region registered with NO_STAGING stays in system memory");
}

/*
 * A smaller pool gives its memory back: whole chunks are emptied and
 * freed, not just pages evicted from all of them.
 */
static void case_shrink(void)
{
	const char *dev = ht_dev_name();
	size_t len = 2048 * PAGE;
	uint64_t deadline, chunks, ev;
	struct bufs b;

	knobs_eager();
	bufs_init(&b, len, 0);
	stage(b.local, b.lmr, b.region, b.mr, len);
	CHECK(ht_pool_state("chunks") >= 4, "%" PRIu64 " chunks for 2048 pages",
	      ht_pool_state("chunks"));
	ev = dev_counter(dev, "pool_evicted");
	knob_set("pool_size_mb", "2");
	deadline = now_ms() + 20000;
	while ((chunks = ht_pool_state("chunks")) > 1 && now_ms() < deadline)
		sleep_us(20000);
	CHECK(chunks == 1, "%" PRIu64 " chunks left in a 2 MiB pool", chunks);
	CHECK(ht_pool_state("pool_pages_used") <= 512,
	      "%" PRIu64 " pages in use in a 512-page pool",
	      ht_pool_state("pool_pages_used"));
	CHECK(ht_device_pages(b.region, len) <= 512,
	      "%zu pages still staged", ht_device_pages(b.region, len));
	CHECK(dev_counter(dev, "pool_evicted") >= ev + 2048 - 512,
	      "pool_evicted grew by %" PRIu64,
	      dev_counter(dev, "pool_evicted") - ev);
	memset(b.local, 0, len);
	read_all(b.local, b.lmr, b.region, b.mr, len);
	check_bytes(b.local, b.want, len, "READ after the pool shrank");
	check_bytes(b.region, b.want, len, "CPU read after the pool shrank");
	knob_set("pool_size_mb", "64");
	stage(b.local, b.lmr, b.region, b.mr, len);
	CHECK(ht_pool_state("chunks") >= 4, "the pool did not grow again");
	check_bytes(b.region, b.want, len, "CPU read after staging again");
	bufs_fini(&b);
	ht_log("shrink: 2048 staged pages, the pool went from 8 to 2 MiB and back: chunks freed and grown again, every byte intact");
}

/*
 * No memory for migrate_to_ram or for eviction: the fault is retried, the
 * eviction tried again later, and nothing is lost.
 */
static void case_oom(void)
{
	const char *dev = ht_dev_name();
	size_t len = 64 * PAGE, i;
	uint64_t m2r[2] = { 0, 0 }, deadline;
	volatile uint8_t *p;
	int injected;
	struct bufs b;
	char buf[32];

	if (access(FPA "/probability", W_OK)) {
		ht_log("oom: skipped, no fail_page_alloc in this kernel");
		return;
	}
	knobs_eager();
	bufs_init(&b, len, 0);
	stage(b.local, b.lmr, b.region, b.mr, len);

	/* the CPU touches page 0 while 3 allocations fail in this thread */
	ht_trace_start("hmmnic/hmmnic_pool_migrate_to_ram");
	p = b.region;
	fpa_arm(3, true);
	ht_write_file("/proc/thread-self/make-it-fail", "1");
	CHECK(p[0] == b.want[0], "first byte after migrate_to_ram");
	ht_write_file("/proc/thread-self/make-it-fail", "0");
	fpa_disarm();
	ht_trace_each("hmmnic_pool_migrate_to_ram", count_moved, m2r);
	ht_trace_stop("hmmnic/hmmnic_pool_migrate_to_ram");
	CHECK(m2r[0] >= 1 && m2r[1] == 1,
	      "migrate_to_ram: %" PRIu64 " failed and %" PRIu64
	      " moved, want at least 1 failed then 1 moved", m2r[0], m2r[1]);
	check_bytes(b.region, b.want, PAGE, "page 0 after the failed allocations");
	CHECK(ht_device_pages(b.region, len) == 63,
	      "%zu pages staged, want the 63 not touched",
	      ht_device_pages(b.region, len));

	/* eviction of the other 63 while 8 allocations under hmmnic fail */
	fpa_arm(8, false);
	knob_set("pool_size_mb", "0");
	deadline = now_ms() + 20000;
	while (ht_device_pages(b.region, len) && now_ms() < deadline)
		sleep_us(20000);
	ht_read_file(FPA "/times", buf, sizeof(buf));
	fpa_disarm();
	injected = 8 - atoi(buf);
	CHECK(injected > 0, "no allocation failed during eviction");
	CHECK(!ht_device_pages(b.region, len), "%zu pages still staged",
	      ht_device_pages(b.region, len));
	CHECK(ht_pool_state("chunks") == 0, "%" PRIu64 " chunks in a pool of size 0",
	      ht_pool_state("chunks"));
	for (i = 0; i < len; i += PAGE)
		CHECK(p[i] == b.want[i], "byte %zu after eviction", i);
	check_bytes(b.region, b.want, len, "region after eviction");
	memset(b.local, 0, len);
	read_all(b.local, b.lmr, b.region, b.mr, len);
	check_bytes(b.local, b.want, len, "READ after eviction");
	knob_set("pool_size_mb", "64");
	bufs_fini(&b);
	ht_log("oom: migrate_to_ram failed %" PRIu64 " times and then moved the page; eviction emptied the pool through %d failed allocations; every byte intact (%s)",
	       m2r[0], injected, dev);
}

/*
 * The stage queue. With a window of 1 ms every READ of the region falls
 * in a new window, which restarts each page's count: a page must still be
 * queued only once. Then a region larger than the queue: the pages that
 * found it full are queued at their next access.
 */
static void case_queue(void)
{
	const char *dev = ht_dev_name();
	size_t n = 2048, big = HMMNIC_QUEUE + 64;
	uint64_t s0, f0, q;
	struct bufs b;

	knobs_eager();
	knob_set("stage_window_ms", "1");
	bufs_init(&b, n * PAGE, 0);
	s0 = dev_counter(dev, "pool_staged");
	f0 = dev_counter(dev, "pool_stage_failures");
	knob_set("stage_hold", "1");
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	sleep_us(20000);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	q = ht_pool_state("stage_queue");
	knob_set("stage_hold", "0");
	CHECK(q == n, "%" PRIu64 " stage requests queued for %zu pages read twice",
	      q, n);
	CHECK(wait_counter(dev, "pool_staged", s0 + n, 20000) == s0 + n,
	      "pool_staged grew by %" PRIu64 ", want %zu",
	      dev_counter(dev, "pool_staged") - s0, n);
	CHECK(dev_counter(dev, "pool_stage_failures") == f0,
	      "pool_stage_failures grew by %" PRIu64,
	      dev_counter(dev, "pool_stage_failures") - f0);
	CHECK(ht_device_pages(b.region, b.len) == n, "%zu of %zu pages staged",
	      ht_device_pages(b.region, b.len), n);
	memset(b.local, 0, b.len);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "READ of the staged pages");
	bufs_fini(&b);

	knob_set("stage_window_ms", "10000");
	bufs_init(&b, big * PAGE, 0);
	s0 = dev_counter(dev, "pool_staged");
	knob_set("stage_hold", "1");
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	q = ht_pool_state("stage_queue");
	knob_set("stage_hold", "0");
	CHECK(q == HMMNIC_QUEUE, "stage_queue %" PRIu64 ", want it full (%d)",
	      q, HMMNIC_QUEUE);
	wait_counter(dev, "pool_staged", s0 + HMMNIC_QUEUE, 20000);
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "READ of the larger region");
	CHECK(wait_counter(dev, "pool_staged", s0 + big, 20000) == s0 + big,
	      "pool_staged grew by %" PRIu64 ", want %zu: the pages that found the queue full were not queued again",
	      dev_counter(dev, "pool_staged") - s0, big);
	CHECK(ht_device_pages(b.region, b.len) == big, "%zu of %zu pages staged",
	      ht_device_pages(b.region, b.len), big);
	check_bytes(b.region, b.want, b.len, "CPU read of the larger region");
	bufs_fini(&b);
	ht_log("queue: %zu pages read in two windows were queued once; %d of %zu went in at a second access after the queue was full",
	       n, (int)(big - HMMNIC_QUEUE), big);
}

/* Deregistration does not wait for a held worker. */
static void case_dereg_held(void)
{
	const char *dev = ht_dev_name();
	uint64_t s0, used, t0, q;
	struct bufs b;

	knobs_eager();
	used = gauge("pool_pages_used");
	bufs_init(&b, 256 * PAGE, 0);
	s0 = dev_counter(dev, "pool_staged");
	knob_set("stage_hold", "1");
	read_all(b.local, b.lmr, b.region, b.mr, b.len);
	check_bytes(b.local, b.want, b.len, "READ before deregistration");
	q = ht_pool_state("stage_queue");
	t0 = now_ms();
	bufs_fini(&b);
	t0 = now_ms() - t0;
	CHECK(ht_pool_state("stage_queue") == 0,
	      "%" PRIu64 " requests left in the queue", ht_pool_state("stage_queue"));
	knob_set("stage_hold", "0");
	CHECK(q == 256, "stage_queue %" PRIu64 " before deregistration, want 256",
	      q);
	CHECK(t0 < 5000, "deregistration took %" PRIu64 " ms", t0);
	sleep_us(100000);
	CHECK(dev_counter(dev, "pool_staged") == s0,
	      "pages of a deregistered region were staged");
	CHECK(gauge("pool_pages_used") == used, "pool_pages_used %" PRIu64
	      ", was %" PRIu64, gauge("pool_pages_used"), used);
	ht_log("dereg_held: a region with 256 held requests went in %" PRIu64
	       " ms, nothing staged or leaked", t0);
}

/*
 * A second device on another netdev (HMMNIC_DEV2, set up by the caller):
 * its QPs and region over the same pages. Pages staged in our pool are not
 * the other device's: its access brings them back to system memory.
 */
static void case_owner(void)
{
	const char *dev = ht_dev_name(), *dev2 = getenv("HMMNIC_DEV2");
	struct ibv_context *ctx1 = ctx;
	struct ibv_pd *pd1 = pd;
	union ibv_gid gid1 = gid;
	struct ibv_mr *mr2, *lmr2;
	uint64_t m2r, hits2;
	struct pair p2;
	struct bufs b;

	if (!dev2) {
		ht_log("owner: HMMNIC_DEV2 not set, skipped");
		return;
	}
	knobs_eager();
	ht_knob_dev(dev2, "staging", "0");
	bufs_init(&b, 32 * PAGE, 0);
	stage(b.local, b.lmr, b.region, b.mr, b.len);

	/* the second device, through the same helpers */
	ctx = ht_open(dev2);
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd on %s", dev2);
	CHECK(!ibv_query_gid(ctx, PORT, GID_INDEX, &gid), "query_gid on %s",
	      dev2);
	pair_create(&p2, &default_opts);
	mr2 = reg(pd, b.region, b.len, ODP);
	lmr2 = reg(pd, b.local, b.len, ACCESS_ALL);
	m2r = dev_counter(dev, "pool_migrate_to_ram");
	hits2 = dev_counter(dev2, "pool_hits");
	memset(b.local, 0, b.len);
	post1(p2.a.qp, 1, IBV_WR_RDMA_READ, b.local, b.len, lmr2->lkey,
	      (uintptr_t)b.region, mr2->rkey);
	{
		struct ibv_wc wc;

		expect_ok(p2.a.scq, &wc, 1, IBV_WC_RDMA_READ, p2.a.qp,
			  "READ through the second device");
	}
	check_bytes(b.local, b.want, b.len, "READ through the second device");
	CHECK(!ht_device_pages(b.region, b.len),
	      "the second device left pages in the first one's pool");
	CHECK(wait_counter(dev, "pool_migrate_to_ram", m2r + 32, 1000) >= m2r + 32,
	      "%s: pool_migrate_to_ram did not count the pages %s took", dev,
	      dev2);
	CHECK(dev_counter(dev2, "pool_hits") == hits2,
	      "%s counted pool hits on pages of %s", dev2, dev);
	CHECK(!ibv_dereg_mr(mr2) && !ibv_dereg_mr(lmr2), "dereg_mr");
	pair_destroy(&p2);
	CHECK(!ibv_dealloc_pd(pd) && !ibv_close_device(ctx), "close %s", dev2);
	ctx = ctx1;
	pd = pd1;
	gid = gid1;
	bufs_fini(&b);
	ht_log("owner: %s's access moved 32 pages out of %s's pool (migrate_to_ram), data intact",
	       dev2, dev);
}

/* ---- stress ---- */

#define ST_PAGES	768
#define ST_CPU_PAGES	256	/* the CPU writes these; RDMA all of them */
#define ST_HALF		(PAGE / 2)

static atomic_bool st_stop;
static atomic_ulong st_cpu_bad, st_cpu_rounds;
static uint8_t *st_region;

/*
 * The CPU owns the first half of each of the first ST_CPU_PAGES pages
 * (RDMA alone uses the other 512, which keeps the 256-page pool full, so
 * that eviction runs all the time): each round it checks that
 * every eighth word still holds the last round's number, writes the new
 * one and reads it back, so a write lost in a migration shows as a stale
 * word.
 */
static void *st_cpu(void *arg)
{
	uint64_t round = 0;

	(void)arg;
	while (!atomic_load(&st_stop)) {
		size_t p, w;

		round++;
		for (p = 0; p < ST_CPU_PAGES; p++) {
			uint64_t *words = (uint64_t *)(st_region + p * PAGE);

			/* what the last round wrote is still there */
			for (w = 0; w < ST_HALF / 8 && round > 1; w += 8)
				if (words[w] != ((round - 1) << 16 | p))
					atomic_fetch_add(&st_cpu_bad, 1);
			for (w = 0; w < ST_HALF / 8; w += 8)
				words[w] = round << 16 | p;
			for (w = 0; w < ST_HALF / 8; w += 8)
				if (words[w] != (round << 16 | p))
					atomic_fetch_add(&st_cpu_bad, 1);
		}
		atomic_fetch_add(&st_cpu_rounds, 1);
	}
	return NULL;
}

static void case_stress(void)
{
	const char *dev = ht_dev_name();
	const char *env = getenv("POOL_STRESS_SECONDS");
	int seconds = env ? atoi(env) : 60;
	uint64_t s0 = dev_counter(dev, "pool_staged");
	uint64_t m0 = dev_counter(dev, "pool_migrate_to_ram");
	uint64_t e0 = dev_counter(dev, "pool_evicted");
	uint64_t end, rounds = 0, rdma_bad = 0;
	size_t len = ST_PAGES * PAGE, p;
	uint8_t *src, *back;
	struct ibv_mr *mr, *smr, *bmr;
	pthread_t th;

	knobs_eager();
	/* a third of the pages fit: eviction races the rest */
	knob_set("pool_size_mb", "1");
	st_region = ht_map_pages(len);
	memset(st_region, 0, len);
	src = ht_map_pages(len);
	back = ht_map_pages(len);
	mr = reg(pd, st_region, len, ODP);
	smr = reg(pd, src, len, ACCESS_ALL);
	bmr = reg(pd, back, len, ACCESS_ALL);
	atomic_store(&st_stop, false);
	CHECK(!pthread_create(&th, NULL, st_cpu, NULL), "pthread_create");

	/*
	 * RDMA owns the second half of each page: WRITE a new pattern to it,
	 * READ it back, compare.
	 */
	end = now_ms() + seconds * 1000ull;
	while (now_ms() < end) {
		rounds++;
		for (p = 0; p < ST_PAGES; p++)
			fill_pattern(src + p * PAGE + ST_HALF, ST_HALF,
				     (uint8_t)(rounds * 31 + p));
		for (p = 0; p < ST_PAGES; p++)
			rdma(P.a.qp, P.a.scq, IBV_WR_RDMA_WRITE,
			     src + p * PAGE + ST_HALF, smr->lkey,
			     st_region + p * PAGE + ST_HALF, mr->rkey, ST_HALF);
		memset(back, 0, len);
		for (p = 0; p < ST_PAGES; p++)
			rdma(P.a.qp, P.a.scq, IBV_WR_RDMA_READ,
			     back + p * PAGE + ST_HALF, bmr->lkey,
			     st_region + p * PAGE + ST_HALF, mr->rkey, ST_HALF);
		for (p = 0; p < ST_PAGES; p++)
			if (memcmp(back + p * PAGE + ST_HALF,
				   src + p * PAGE + ST_HALF, ST_HALF))
				rdma_bad++;
	}
	atomic_store(&st_stop, true);
	pthread_join(th, NULL);

	/*
	 * The last RDMA round is what the CPU sees in the second halves; the
	 * first halves of the RDMA-only pages are still zero.
	 */
	for (p = 0; p < ST_PAGES; p++) {
		if (memcmp(st_region + p * PAGE + ST_HALF,
			   src + p * PAGE + ST_HALF, ST_HALF))
			rdma_bad++;
		if (p >= ST_CPU_PAGES)
			for (size_t w = 0; w < ST_HALF; w++)
				if (st_region[p * PAGE + w]) {
					rdma_bad++;
					break;
				}
	}
	ht_log("stress: %d s, %d pages (%d written by the CPU too), 1 MiB pool, "
	       "%" PRIu64 " RDMA rounds, "
	       "%lu CPU rounds, staged %" PRIu64 ", migrate_to_ram %" PRIu64
	       ", evicted %" PRIu64 ", mismatches: RDMA %" PRIu64 ", CPU %lu",
	       seconds, ST_PAGES, ST_CPU_PAGES, rounds,
	       atomic_load(&st_cpu_rounds),
	       dev_counter(dev, "pool_staged") - s0,
	       dev_counter(dev, "pool_migrate_to_ram") - m0,
	       dev_counter(dev, "pool_evicted") - e0, rdma_bad,
	       atomic_load(&st_cpu_bad));
	CHECK(!rdma_bad && !atomic_load(&st_cpu_bad), "mismatches");
	CHECK(dev_counter(dev, "pool_staged") > s0 &&
	      dev_counter(dev, "pool_migrate_to_ram") > m0 &&
	      dev_counter(dev, "pool_evicted") > e0,
	      "the stress run did not stage, migrate back and evict");
	knob_set("pool_size_mb", "64");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr) && !ibv_dereg_mr(bmr),
	      "dereg_mr");
	munmap(st_region, len);
	munmap(src, len);
	munmap(back, len);
}

/* --hold FILE: for rmmod with staged pages (tests/cases/pool_rmmod.sh). */
static volatile sig_atomic_t hold_go;

static void hold_sig(int sig)
{
	(void)sig;
	hold_go = 1;
}

static int hold(const char *ready)
{
	size_t len = 64 * PAGE;
	struct bufs b;
	FILE *f;

	signal(SIGUSR1, hold_sig);
	rc_setup();
	pair_create(&P, &default_opts);
	knobs_eager();
	bufs_init(&b, len, 0);
	stage(b.local, b.lmr, b.region, b.mr, b.len);
	f = fopen(ready, "w");
	CHECK(f && !fclose(f), "create %s", ready);
	while (!hold_go)
		pause();
	/* the device is gone; the pages must be back in system memory */
	CHECK(!ht_device_pages(b.region, len), "pages still staged after removal");
	check_bytes(b.region, b.want, len, "staged data after the device went");
	ht_log("hold: 64 staged pages came back intact after the device went");
	_exit(0);
}

/* ---- THPs staged whole (device-private large folios) ---- */

#define THP	(2UL << 20)

struct stage_events {
	unsigned int whole, pages;
	uint64_t staged;
};

static void count_stage(const char *fields, void *arg)
{
	struct stage_events *e = arg;

	if (ht_trace_field(fields, "npages") == THP / PAGE &&
	    ht_trace_field(fields, "staged") == THP / PAGE)
		e->whole++;
	else
		e->pages++;
	e->staged += ht_trace_field(fields, "staged");
}

static void sum_moved(const char *fields, void *arg)
{
	uint64_t *m = arg;

	m[0]++;
	m[1] += ht_trace_field(fields, "moved");
}

/*
 * thp: two 2 MiB THPs of an ODP region are staged each as one device
 * folio (two stage events of 512 pages, pool_thp 2), RDMA WRITE and READ
 * go to them, a CPU read moves the first back whole (one migrate_to_ram
 * of 512 pages, a THP again), eviction moves the second back whole, and
 * a THP staged again whose PMD mprotect() splits comes back page by page
 * (the core splits the device folio: 512 migrate_to_ram of one page,
 * pool_thp 0); every byte compared, nothing left in the pool.
 */
static void case_thp(void)
{
	const char *dev = ht_dev_name();
	size_t len = 2 * THP, off = THP / 2 - 100 * 1024, wlen = 300 * 1024;
	uint64_t staged0, fail0, hits0, m2r0, ev0, used0, moved[2] = { 0, 0 };
	struct stage_events e = { 0 };
	uint8_t *region, *local, *want, *src;
	struct ibv_mr *mr, *lmr, *smr;
	char thp_mode[64] = "";
	volatile uint8_t sink;
	uint64_t deadline;

	if (!ht_feature("pool_thp")) {
		ht_log("thp: skipped, pool_thp %s", ht_feature_why("pool_thp"));
		return;
	}
	ht_read_file("/sys/kernel/mm/transparent_hugepage/enabled", thp_mode,
		     sizeof(thp_mode));
	if (strstr(thp_mode, "[never]"))
		ht_write_file("/sys/kernel/mm/transparent_hugepage/enabled",
			      "madvise");
	knobs_eager();
	used0 = ht_pool_state("pool_pages_used");

	region = ht_map_thp(len);
	want = malloc(len);
	CHECK(want, "malloc");
	fill_random(want, len);
	memcpy(region, want, len);
	ht_make_thp(region, len);
	local = ht_map_pages(len);
	src = ht_map_pages(wlen);
	lmr = reg(pd, local, len, ACCESS_ALL);
	smr = reg(pd, src, wlen, ACCESS_ALL);
	mr = reg(pd, region, len, ODP);

	/* staged: two stage events of 512 pages each */
	staged0 = dev_counter(dev, "pool_staged");
	fail0 = dev_counter(dev, "pool_stage_failures");
	ht_trace_start("hmmnic/hmmnic_pool_stage");
	ht_trace_start("hmmnic/hmmnic_pool_migrate_to_ram");
	read_all(local, lmr, region, mr, len);
	deadline = now_ms() + 10000;
	while (ht_device_pages(region, len) < len / PAGE && now_ms() < deadline)
		sleep_us(10000);
	CHECK(ht_device_pages(region, len) == len / PAGE,
	      "%zu of %zu pages staged", ht_device_pages(region, len),
	      len / PAGE);
	check_bytes(local, want, len, "first READ of the THPs");
	CHECK(wait_counter(dev, "pool_staged", staged0 + len / PAGE, 1000) ==
	      staged0 + len / PAGE, "pool_staged moved by %" PRIu64,
	      dev_counter(dev, "pool_staged") - staged0);
	CHECK(dev_counter(dev, "pool_stage_failures") == fail0,
	      "stage failures while staging THPs");
	ht_trace_each("hmmnic_pool_stage", count_stage, &e);
	CHECK(e.whole == 2 && !e.pages && e.staged == len / PAGE,
	      "stage events: %u whole THPs, %u others, %" PRIu64 " pages",
	      e.whole, e.pages, e.staged);
	CHECK(ht_pool_state("pool_thp") == 2, "pool_thp %" PRIu64 ", want 2",
	      ht_pool_state("pool_thp"));

	/* RDMA WRITE into the first, then READ both back from the pool */
	fill_random(src, wlen);
	memcpy(want + off, src, wlen);
	rdma(P.a.qp, P.a.scq, IBV_WR_RDMA_WRITE, src, smr->lkey, region + off,
	     mr->rkey, wlen);
	memset(local, 0, len);
	hits0 = dev_counter(dev, "pool_hits");
	read_all(local, lmr, region, mr, len);
	check_bytes(local, want, len, "READ of the staged THPs");
	CHECK(wait_counter(dev, "pool_hits", hits0 + len / PAGE, 1000) >=
	      hits0 + len / PAGE, "pool_hits did not count the THPs' pages");
	CHECK(ht_device_pages(region, len) == len / PAGE,
	      "RDMA moved staged pages");

	/* a CPU read moves the first THP back whole, as a THP */
	m2r0 = dev_counter(dev, "pool_migrate_to_ram");
	ht_trace_clear();
	sink = region[12345];
	(void)sink;
	CHECK(!ht_device_pages(region, THP) &&
	      ht_device_pages(region + THP, THP) == THP / PAGE,
	      "after a CPU read: %zu and %zu pages staged",
	      ht_device_pages(region, THP), ht_device_pages(region + THP, THP));
	ht_trace_each("hmmnic_pool_migrate_to_ram", sum_moved, moved);
	CHECK(moved[0] == 1 && moved[1] == THP / PAGE,
	      "migrate_to_ram: %" PRIu64 " calls moved %" PRIu64 " pages",
	      moved[0], moved[1]);
	CHECK(wait_counter(dev, "pool_migrate_to_ram", m2r0 + THP / PAGE,
			   1000) == m2r0 + THP / PAGE,
	      "pool_migrate_to_ram moved by %" PRIu64,
	      dev_counter(dev, "pool_migrate_to_ram") - m2r0);
	CHECK(ht_is_thp(region), "the first THP came back as pages");
	check_bytes(region, want, THP, "CPU read of the first THP");

	/* eviction moves the second back whole */
	ev0 = dev_counter(dev, "pool_evicted");
	knob_set("pool_size_mb", "0");
	deadline = now_ms() + 10000;
	while (ht_device_pages(region + THP, THP) && now_ms() < deadline)
		sleep_us(10000);
	CHECK(!ht_device_pages(region + THP, THP), "%zu pages not evicted",
	      ht_device_pages(region + THP, THP));
	CHECK(wait_counter(dev, "pool_evicted", ev0 + THP / PAGE, 1000) ==
	      ev0 + THP / PAGE, "pool_evicted moved by %" PRIu64,
	      dev_counter(dev, "pool_evicted") - ev0);
	CHECK(ht_is_thp(region + THP), "the second THP came back as pages");
	check_bytes(region + THP, want + THP, THP, "evicted THP");
	knob_set("pool_size_mb", "64");

	/* staged again, then split: mprotect() of one page of it */
	e = (struct stage_events){ 0 };
	ht_trace_clear();
	read_all(local, lmr, region, mr, THP);
	deadline = now_ms() + 10000;
	while (ht_device_pages(region, THP) < THP / PAGE && now_ms() < deadline)
		sleep_us(10000);
	CHECK(ht_device_pages(region, THP) == THP / PAGE,
	      "restaged %zu pages", ht_device_pages(region, THP));
	ht_trace_each("hmmnic_pool_stage", count_stage, &e);
	CHECK(e.whole == 1, "restaged: %u whole THPs, %u others", e.whole,
	      e.pages);
	CHECK(!mprotect(region + THP / 2, PAGE, PROT_READ), "mprotect: %s",
	      strerror(errno));
	CHECK(ht_device_pages(region, THP) == THP / PAGE,
	      "the PMD split moved pages: %zu staged",
	      ht_device_pages(region, THP));
	/* through PTEs the CPU splits the device folio and takes page by page */
	moved[0] = moved[1] = 0;
	ht_trace_clear();
	check_bytes(region, want, len, "CPU read after the split");
	CHECK(!ht_device_pages(region, len), "pages still staged");
	ht_trace_each("hmmnic_pool_migrate_to_ram", sum_moved, moved);
	CHECK(moved[0] == THP / PAGE && moved[1] == THP / PAGE,
	      "migrate_to_ram after the split: %" PRIu64 " calls moved %"
	      PRIu64 " pages", moved[0], moved[1]);
	CHECK(ht_pool_state("pool_thp") == 0, "pool_thp %" PRIu64
	      " after the split", ht_pool_state("pool_thp"));

	ht_trace_stop("hmmnic/hmmnic_pool_migrate_to_ram");
	ht_trace_stop("hmmnic/hmmnic_pool_stage");
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(lmr) && !ibv_dereg_mr(smr),
	      "dereg_mr");
	munmap(region, len);
	munmap(local, len);
	munmap(src, wlen);
	free(want);
	CHECK(ht_pool_state("pool_pages_used") == used0 &&
	      !ht_pool_state("pool_thp"), "pool: %" PRIu64 " pages used (%"
	      PRIu64 " before), pool_thp %" PRIu64,
	      ht_pool_state("pool_pages_used"), used0, ht_pool_state("pool_thp"));
	if (strstr(thp_mode, "[never]"))
		ht_write_file("/sys/kernel/mm/transparent_hugepage/enabled",
			      "never");
	ht_log("thp: 2 THPs staged whole, written, read, moved back whole by the CPU and by eviction, split, every byte right");
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "read", case_read },
	{ "write", case_write },
	{ "cpu_write", case_cpu_write },
	{ "fork", case_fork },
	{ "munmap", case_munmap },
	{ "exit", case_exit },
	{ "evict", case_evict },
	{ "optout", case_optout },
	{ "shrink", case_shrink },
	{ "oom", case_oom },
	{ "queue", case_queue },
	{ "dereg_held", case_dereg_held },
	{ "owner", case_owner },
	{ "thp", case_thp },
	{ "stress", case_stress },
};

int main(int argc, char **argv)
{
	size_t i;
	int n = 0;

	if (argc == 3 && !strcmp(argv[1], "--hold"))
		return hold(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--exit"))
		return exit_child();
	if (!ht_pool_present())
		ht_skip("%s", ht_pool_absent_why());
	rc_setup();
	pair_create(&P, &default_opts);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!case_selected(cases[i].name, argc, argv))
			continue;
		n++;
		ht_log("case %s", cases[i].name);
		cases[i].fn();
		ht_log("case %s: ok", cases[i].name);
	}
	pair_destroy(&P);
	CHECK(n, "no case matches the arguments");
	knob_set("stage_threshold", "32");
	knob_set("stage_window_ms", "100");
	rc_teardown();
	return 0;
}
