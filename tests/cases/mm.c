// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ODP memory against the real memory manager: what reclaim, swap, files,
 * fork and page migration do to memory that RDMA wrote through an ODP
 * region. RC pairs in loopback (rctest.h). The rule under test: a byte
 * that an RDMA WRITE acknowledged is never lost, whatever the kernel does
 * to the page afterwards. Every case compares every byte, and checks that
 * the kernel really did what the case is about (pages swapped out,
 * discarded, staged), so that a case cannot pass by doing nothing.
 * Cases that take a region run twice: on an explicit ODP region over the
 * buffer and through an implicit ODP region (NULL, SIZE_MAX).
 *
 * - madv_free: 64 pages written by the CPU, MADV_FREE (what malloc
 *   implementations do with freed memory), an RDMA WRITE of all 64
 *   pages, MADV_PAGEOUT: the CPU reads the written bytes (a page that
 *   RDMA did not write is discarded, as MADV_FREE allows).
 * - swap: pages swapped out, swapped in again by a CPU read, an RDMA
 *   WRITE, MADV_PAGEOUT again: the CPU reads the RDMA bytes, not the old
 *   swap copy. Once with zram and once with a loop device, whose swap-in
 *   leaves a clean page in the swap cache behind a writable PTE.
 * - tmpfs: a MAP_SHARED file on tmpfs, read by the CPU first (writable,
 *   clean PTEs), written by RDMA, paged out to swap and unmapped: read()
 *   returns the RDMA bytes.
 * - ext4: the same on an ext4 file system (a loop device): RDMA WRITE,
 *   msync, munmap, drop_caches, read() returns the RDMA bytes; then a
 *   second RDMA WRITE after writeback cleaned the pages, read back the
 *   same way.
 * - private_file: a MAP_PRIVATE file mapping: RDMA READ sees the file,
 *   RDMA WRITE breaks COW (the CPU sees it, the file does not change).
 * - fork_staged: pages staged in the NIC pool, then fork() of a child
 *   that only waits (as system() and popen() do): an RDMA WRITE into the
 *   staged pages succeeds, the parent's CPU reads the new bytes, the
 *   child still reads the old ones.
 * - stage_after_fork: the parent's pages are read-only after a fork
 *   whose child exited; RDMA READ stages them anyway (read-only device
 *   entries), and an RDMA WRITE into them succeeds.
 * - mprotect_staged: pages staged in the NIC pool, then
 *   mprotect(PROT_READ) (which makes their device entries read-only): an
 *   RDMA WRITE into them fails at once with REM_ACCESS_ERR and no RNR
 *   NAK, a READ into them with LOC_PROT_ERR, the bytes stay as they were;
 *   writable again, a WRITE succeeds.
 * - stage_fixup: staging that the kernel refuses after the copy (the
 *   pool's stage_pin knob holds a reference on each source page) while
 *   an RDMA WRITE went into the device copy and MADV_FREE invalidated the
 *   mirror (stage_delay_ms opens the window): the written bytes are in
 *   the system page that stays.
 *
 * - ksm_staged: pages that KSM merged are read with staging eager, ksmd
 *   scans again (it would read a staged page through the direct map,
 *   which does not cover device pages), then written (COW): nothing is
 *   staged, every byte is right.
 * - hugetlb: a hugetlbfs page (MAP_HUGETLB) read and written by RDMA.
 * - implicit_vmas: one WQE through the implicit region across an
 *   anonymous, a shared tmpfs and another anonymous VMA; then with the
 *   middle one unmapped, the WRITE fails with REM_ACCESS_ERR, the mapping
 *   after the hole is untouched and a new mapping in the hole reads zeros.
 * - munmap_hole: the same on an explicit region whose middle was unmapped
 *   after it was mirrored, for a WRITE and a READ.
 * - race: RDMA WRITE, READ, SEND into ODP receive buffers (RC, UD and
 *   through an SRQ) and fetch-and-add, each checked as it completes, while another thread
 *   forks, mprotects (changing protections that keep writes allowed),
 *   moves the pages between NUMA nodes, compacts memory, splits and
 *   collapses the region's THP, lets ksmd merge its identical pages, or
 *   pages it out; afterwards RDMA and the CPU agree with what the traffic
 *   wrote, byte for byte. MM_RACE_MS per event (default 2500);
 *   MM_RACE_EVENTS="pageout fork" runs only the events it names; MM_SWAP=loop
 *   swaps to a loop device instead of zram.
 *
 *   mm [CASE...]
 *   mm --traffic FILE   RDMA on staged ODP pages until the device goes
 *                       (tests/cases/removal.sh)
 *
 * The debug kernel needs several minutes for all cases:
 * suite-timeout: 1500
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define PAGE		4096
#define NPAGES		64
#define LEN		(NPAGES * PAGE)
#define ODP		(ACCESS_ALL | IBV_ACCESS_ON_DEMAND)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

static struct pair P;
static struct ibv_mr *implicit_mr;

/*
 * The pairs wait 4 s per try for an ACK (timeout 20): a THP collapse or
 * a fork holds the mmap lock that the responder's faults need, and under
 * TCG on a loaded host that takes longer than the default 67 ms, many
 * times over.
 */
static const struct rc_opts mm_opts = {
	.timeout = 20, .retry_cnt = 7, .rnr_retry = 7,
};

/* ---- helpers ---- */

/* What /proc/self/pagemap says of [buf, buf + len): present, swapped. */
static void pagemap(const void *buf, size_t len, size_t *present,
		    size_t *swapped)
{
	uintptr_t first = (uintptr_t)buf / PAGE;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t ent;
	size_t i;

	CHECK(fd >= 0, "open pagemap: %s", strerror(errno));
	*present = *swapped = 0;
	for (i = 0; i < len / PAGE; i++) {
		CHECK(pread(fd, &ent, sizeof(ent),
			    (off_t)(first + i) * sizeof(ent)) == sizeof(ent),
		      "read pagemap");
		if (ent >> 63 & 1)
			(*present)++;
		else if (ent >> 62 & 1)
			(*swapped)++;
	}
	close(fd);
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK(!madvise(p, len, MADV_NOHUGEPAGE), "MADV_NOHUGEPAGE: %s",
	      strerror(errno));
	return p;
}

static void run(const char *cmd)
{
	int rc = system(cmd);

	CHECK(rc == 0, "'%s' exited with %d", cmd, rc);
}

/*
 * Swap: zram (what distributions set up; a synchronous device, whose
 * swap-in skips the swap cache) or a loop device over a tmpfs file (a
 * block device like a disk: a page swapped in by a read stays clean in the
 * swap cache, with its copy on the device).
 */
#define SWAP_IMG	"/dev/shm/hmmnic-mm-swap.img"

static const char *swap_dev = "";

static void swap_use(const char *dev)
{
	char cmd[512];

	if (!strcmp(swap_dev, dev))
		return;
	run("swapoff -a");
	if (!strcmp(dev, "zram")) {
		/* a module in distribution kernels; no udev loads it here */
		if (access("/sys/block/zram0/disksize", W_OK) &&
		    system("modprobe zram num_devices=1") != 0)
			ht_log("  modprobe zram failed");
		CHECK(!access("/sys/block/zram0/disksize", W_OK),
		      "no zram0: the test kernel must have CONFIG_ZRAM");
		if (access("/tmp/hmmnic-mm-zram", F_OK)) {
			ht_write_file("/sys/block/zram0/disksize", "256M");
			run("mkswap /dev/zram0 >/dev/null && "
			    "touch /tmp/hmmnic-mm-zram");
		}
		run("swapon /dev/zram0");
	} else {
		snprintf(cmd, sizeof(cmd), "rm -f " SWAP_IMG " && "
			 "truncate -s 64M " SWAP_IMG " && "
			 "dev=$(losetup -f --show " SWAP_IMG ") && "
			 "mkswap $dev >/dev/null && swapon $dev && "
			 "echo $dev > /tmp/hmmnic-mm-loop");
		run(cmd);
	}
	swap_dev = dev;
}

static void swap_off(void)
{
	run("swapoff -a");
	if (!access("/tmp/hmmnic-mm-loop", F_OK))
		run("losetup -d $(cat /tmp/hmmnic-mm-loop) && "
		    "rm -f /tmp/hmmnic-mm-loop " SWAP_IMG);
	swap_dev = "";
}

/* zram, or MM_SWAP=loop for the block device */
static void swap_on(void)
{
	const char *dev = getenv("MM_SWAP");

	swap_use(dev && !strcmp(dev, "loop") ? "loop" : "zram");
}

/* Page out [buf, buf + len) (retried: reclaim may skip a busy page). */
static void pageout(void *buf, size_t len, size_t want_gone)
{
	size_t present, swapped;
	int i;

	for (i = 0; i < 20; i++) {
		CHECK(!madvise(buf, len, MADV_PAGEOUT), "MADV_PAGEOUT: %s",
		      strerror(errno));
		pagemap(buf, len, &present, &swapped);
		if (len / PAGE - present >= want_gone)
			return;
		/*
		 * A page still in another CPU's LRU batch cannot be
		 * reclaimed; compaction drains every CPU's batches first.
		 */
		ht_write_file("/proc/sys/vm/compact_memory", "1");
		sleep_us(20000);
	}
	ht_fail(__FILE__, __LINE__, "MADV_PAGEOUT left %zu of %zu pages "
		"present (%zu swapped)", present, len / PAGE, swapped);
}

/* The rkey to reach @buf with: its own ODP region, or the implicit one. */
static struct ibv_mr *region(void *buf, size_t len, bool implicit)
{
	if (implicit) {
		if (!implicit_mr) {
			implicit_mr = ibv_reg_mr(pd, NULL, SIZE_MAX, ODP);
			CHECK(implicit_mr, "implicit ODP reg_mr: %s",
			      strerror(errno));
		}
		return implicit_mr;
	}
	return reg(pd, buf, len, ODP);
}

static void region_done(struct ibv_mr *mr)
{
	if (mr != implicit_mr)
		CHECK(!ibv_dereg_mr(mr), "dereg_mr");
}

static void rdma(enum ibv_wr_opcode op, void *local, uint32_t lkey,
		 void *remote, uint32_t rkey, uint32_t len, const char *what)
{
	static uint64_t wr_id;
	struct ibv_wc wc;

	post1(P.a.qp, ++wr_id, op, local, len, lkey, (uintptr_t)remote, rkey);
	expect_ok(P.a.scq, &wc, wr_id, op == IBV_WR_RDMA_READ ?
		  IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE, P.a.qp, what);
}

/* A pinned source of @len random bytes. */
struct src {
	uint8_t *buf;
	struct ibv_mr *mr;
};

static void src_init(struct src *s, size_t len)
{
	s->buf = map_anon(len);
	fill_random(s->buf, len);
	s->mr = reg(pd, s->buf, len, ACCESS_ALL);
}

static void src_fini(struct src *s, size_t len)
{
	CHECK(!ibv_dereg_mr(s->mr), "dereg_mr");
	munmap(s->buf, len);
}

static const char *kind(bool implicit)
{
	return implicit ? "implicit" : "explicit";
}

/* ---- reclaim and swap ---- */

static void madv_free_one(bool implicit)
{
	uint8_t *buf = map_anon(2 * LEN), *ctl = buf + LEN;
	static const uint8_t zpage[PAGE];
	struct ibv_mr *mr = region(buf, LEN, implicit);
	size_t present, swapped, i, zero;
	struct src s;
	char what[96];

	src_init(&s, LEN);
	memset(buf, 0x11, 2 * LEN);
	/* mirror the pages first: RDMA then finds them present and writable */
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE before MADV_FREE");
	CHECK(!madvise(buf, 2 * LEN, MADV_FREE), "MADV_FREE: %s",
	      strerror(errno));
	/* the pages become lazily freed through a per-CPU batch: drain it */
	ht_write_file("/proc/sys/vm/compact_memory", "1");
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE after MADV_FREE");
	/*
	 * The control half, which nobody wrote again, is discarded: so
	 * reclaim really ran on MADV_FREE pages. (A page that madvise found
	 * locked stays dirty and is kept; the kernel may do that.)
	 */
	pageout(buf, 2 * LEN, NPAGES / 2);
	pagemap(ctl, LEN, &present, &swapped);
	for (i = 0, zero = 0; i < LEN; i += PAGE) {
		CHECK(!memcmp(ctl + i, zpage, PAGE) || ctl[i] == 0x11,
		      "MADV_FREE control page %zu is neither discarded nor "
		      "kept", i / PAGE);
		zero += !memcmp(ctl + i, zpage, PAGE);
	}
	CHECK(zero >= NPAGES / 2, "MADV_FREE: only %zu of %d clean pages "
	      "were discarded", zero, NPAGES);
	snprintf(what, sizeof(what), "%s: RDMA WRITE after MADV_FREE, "
		 "then reclaim", kind(implicit));
	check_bytes(buf, s.buf, LEN, what);
	region_done(mr);
	src_fini(&s, LEN);
	munmap(buf, 2 * LEN);
}

static void case_madv_free(void)
{
	swap_on();
	madv_free_one(false);
	madv_free_one(true);
}

static void swap_one(bool implicit)
{
	uint8_t *buf = map_anon(LEN), sum = 0;
	struct ibv_mr *mr = region(buf, LEN, implicit);
	size_t present, swapped, i;
	struct src s;
	char what[96];

	src_init(&s, LEN);
	fill_random(buf, LEN);
	pageout(buf, LEN, NPAGES);
	pagemap(buf, LEN, &present, &swapped);
	CHECK(swapped == NPAGES, "%zu of %d pages swapped out", swapped,
	      NPAGES);
	/* swapped in by reads: clean pages in the swap cache */
	for (i = 0; i < LEN; i += PAGE)
		sum += ((volatile uint8_t *)buf)[i];
	(void)sum;
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE into swapped-in pages");
	pageout(buf, LEN, NPAGES);
	snprintf(what, sizeof(what), "%s: RDMA WRITE into pages swapped in "
		 "from %s, swapped out again", kind(implicit), swap_dev);
	check_bytes(buf, s.buf, LEN, what);
	region_done(mr);
	src_fini(&s, LEN);
	munmap(buf, LEN);
}

static void case_swap(void)
{
	swap_use("zram");
	swap_one(false);
	swap_one(true);
	swap_use("loop");
	swap_one(false);
	swap_one(true);
	swap_use("zram");
}

/* ---- files ---- */

static void read_file(int fd, void *buf, size_t len, const char *what)
{
	CHECK(pread(fd, buf, len, 0) == (ssize_t)len, "%s: pread: %s", what,
	      strerror(errno));
}

static void *map_file(int fd, size_t len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);

	CHECK(p != MAP_FAILED, "mmap file: %s", strerror(errno));
	return p;
}

static void touch_read(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;
	size_t i;

	for (i = 0; i < len; i += PAGE)
		sum += ((const volatile uint8_t *)p)[i];
	(void)sum;
}

static void tmpfs_one(bool implicit)
{
	char path[] = "/dev/shm/hmmnic-mm-XXXXXX", what[96];
	uint8_t *got = malloc(LEN), *map;
	int fd = mkstemp(path);
	struct ibv_mr *mr;
	struct src s;

	CHECK(fd >= 0 && got, "mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	CHECK(!ftruncate(fd, LEN), "ftruncate: %s", strerror(errno));
	map = map_file(fd, LEN, MAP_SHARED);
	mr = region(map, LEN, implicit);
	src_init(&s, LEN);
	touch_read(map, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, map, mr->rkey, LEN,
	     "WRITE into a tmpfs file");
	pageout(map, LEN, NPAGES);
	region_done(mr);
	munmap(map, LEN);
	read_file(fd, got, LEN, "tmpfs");
	snprintf(what, sizeof(what), "%s: tmpfs file written by RDMA, paged "
		 "out, read()", kind(implicit));
	check_bytes(got, s.buf, LEN, what);
	src_fini(&s, LEN);
	close(fd);
	free(got);
}

static void case_tmpfs(void)
{
	swap_on();
	tmpfs_one(false);
	tmpfs_one(true);
}

#define EXT4_DIR	"/tmp/hmmnic-mm-ext4"
#define EXT4_IMG	"/tmp/hmmnic-mm-ext4.img"

static void ext4_mount(void)
{
	run("mkdir -p " EXT4_DIR " && rm -f " EXT4_IMG " && "
	    "truncate -s 64M " EXT4_IMG " && "
	    "mkfs.ext4 -q -F " EXT4_IMG " && "
	    "mount -o loop " EXT4_IMG " " EXT4_DIR);
}

static void ext4_umount(void)
{
	run("umount " EXT4_DIR " && rm -f " EXT4_IMG);
}

static void drop_caches(void)
{
	sync();
	ht_write_file("/proc/sys/vm/drop_caches", "3");
}

static void ext4_one(bool implicit)
{
	uint8_t *got = malloc(LEN), *map;
	char what[96];
	struct ibv_mr *mr;
	struct src s;
	int fd;

	CHECK(got, "malloc");
	fd = open(EXT4_DIR "/f", O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0, "create a file on ext4: %s", strerror(errno));
	CHECK(!ftruncate(fd, LEN), "ftruncate: %s", strerror(errno));
	map = map_file(fd, LEN, MAP_SHARED);
	mr = region(map, LEN, implicit);
	src_init(&s, LEN);
	touch_read(map, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, map, mr->rkey, LEN,
	     "WRITE into an ext4 file");
	CHECK(!msync(map, LEN, MS_SYNC), "msync: %s", strerror(errno));
	/* writeback cleaned the pages; write them again */
	fill_random(s.buf, LEN / 2);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, map, mr->rkey, LEN / 2,
	     "WRITE into written-back ext4 pages");
	CHECK(!msync(map, LEN, MS_SYNC), "msync: %s", strerror(errno));
	region_done(mr);
	munmap(map, LEN);
	close(fd);
	drop_caches();
	fd = open(EXT4_DIR "/f", O_RDONLY);
	CHECK(fd >= 0, "open: %s", strerror(errno));
	read_file(fd, got, LEN, "ext4");
	snprintf(what, sizeof(what), "%s: ext4 file written by RDMA, msync, "
		 "drop_caches, read()", kind(implicit));
	check_bytes(got, s.buf, LEN, what);
	src_fini(&s, LEN);
	close(fd);
	free(got);
}

static void case_ext4(void)
{
	ext4_mount();
	ext4_one(false);
	ext4_one(true);
	ext4_umount();
}

static void private_file_one(bool implicit)
{
	char path[] = "/dev/shm/hmmnic-mm-XXXXXX", what[96];
	uint8_t *orig = malloc(LEN), *got = malloc(LEN), *map;
	int fd = mkstemp(path);
	struct ibv_mr *mr;
	struct src s;

	CHECK(fd >= 0 && orig && got, "mkstemp: %s", strerror(errno));
	unlink(path);
	fill_random(orig, LEN);
	CHECK(pwrite(fd, orig, LEN, 0) == LEN, "pwrite: %s", strerror(errno));
	map = map_file(fd, LEN, MAP_PRIVATE);
	mr = region(map, LEN, implicit);
	src_init(&s, LEN);
	memset(s.buf, 0, LEN);
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, map, mr->rkey, LEN,
	     "READ of a MAP_PRIVATE file");
	check_bytes(s.buf, orig, LEN, "RDMA READ of a MAP_PRIVATE file");
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, map, mr->rkey, LEN,
	     "WRITE into a MAP_PRIVATE file");
	snprintf(what, sizeof(what), "%s: RDMA WRITE into MAP_PRIVATE",
		 kind(implicit));
	check_bytes(map, s.buf, LEN, what);
	read_file(fd, got, LEN, "MAP_PRIVATE");
	check_bytes(got, orig, LEN, "the file behind a MAP_PRIVATE mapping");
	region_done(mr);
	munmap(map, LEN);
	src_fini(&s, LEN);
	close(fd);
	free(orig);
	free(got);
}

static void case_private_file(void)
{
	private_file_one(false);
	private_file_one(true);
}

/* ---- the NIC pool ---- */

/* A case about staged pages: skipped, and said so, where there is no pool. */
static bool pool_case(void)
{
	if (ht_pool_present())
		return true;
	ht_log("  skipped: the pool is %s", ht_pool_absent_why());
	return false;
}

/* Stage hot pages at once (without a pool there is nothing to stage). */
static void knobs_eager(void)
{
	if (!ht_pool_present())
		return;
	ht_knob("staging", "1");
	ht_knob("stage_threshold", "1");
	ht_knob("stage_window_ms", "10000");
	ht_knob("stage_batch", "64");
	ht_knob("pool_size_mb", "64");
}

static void knobs_default(void)
{
	if (!ht_pool_present())
		return;
	ht_knob("stage_threshold", "32");
	ht_knob("stage_window_ms", "100");
}

/* Pages of [buf, buf + len) that are not present but have an entry. */
static size_t entries(const void *buf, size_t len)
{
	size_t present, swapped;

	pagemap(buf, len, &present, &swapped);
	return swapped;
}

/* RDMA READ @buf (an ODP region) until all its pages are staged. */
static void stage(void *buf, struct ibv_mr *mr, struct src *s)
{
	uint64_t deadline = now_ms() + 10000;

	rdma(IBV_WR_RDMA_READ, s->buf, s->mr->lkey, buf, mr->rkey, LEN,
	     "READ that stages");
	while (entries(buf, LEN) < NPAGES && now_ms() < deadline)
		sleep_us(10000);
	CHECK(entries(buf, LEN) == NPAGES, "%zu of %d pages staged",
	      entries(buf, LEN), NPAGES);
}

/*
 * A region of @orig's random bytes, registered for ODP in @mr, with every
 * page staged in the pool (staging made eager), and a pinned source @s.
 */
static uint8_t *staged_region(uint8_t *orig, struct ibv_mr **mr,
			      struct src *s)
{
	uint8_t *buf = map_anon(LEN);

	knobs_eager();
	fill_random(orig, LEN);
	memcpy(buf, orig, LEN);
	*mr = reg(pd, buf, LEN, ODP);
	src_init(s, LEN);
	stage(buf, *mr, s);
	return buf;
}

static void case_fork_staged(void)
{
	uint8_t *buf, *orig = malloc(LEN);
	int to_child[2], from_child[2], status;
	struct ibv_mr *mr;
	struct src s;
	char c = 0;
	pid_t pid;

	if (!pool_case())
		return;
	CHECK(orig && !pipe(to_child) && !pipe(from_child), "setup");
	buf = staged_region(orig, &mr, &s);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		/* wait for the parent's WRITE, then check our copy */
		alarm(60);
		close(to_child[1]);
		close(from_child[0]);
		if (read(to_child[0], &c, 1) != 1)
			_exit(2);
		c = memcmp(buf, orig, LEN) ? 'x' : 'k';
		if (write(from_child[1], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(to_child[0]);
	close(from_child[1]);
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE into staged pages after fork");
	CHECK(write(to_child[1], "w", 1) == 1, "pipe");
	CHECK(read(from_child[0], &c, 1) == 1, "pipe");
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "child failed");
	close(to_child[1]);
	close(from_child[0]);
	CHECK(c == 'k', "the parent's RDMA WRITE reached the child's pages");
	check_bytes(buf, s.buf, LEN, "RDMA WRITE into staged pages after "
		    "fork, read by the parent");
	memset(s.buf, 0, LEN);
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "READ back");
	check_bytes(s.buf, buf, LEN, "RDMA READ after the COW break");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	free(orig);
	knobs_default();
}

static void case_mprotect_staged(void)
{
	/* one RNR retry: a write that is only "not now" fails with RNR_RETRY_EXC */
	static const struct rc_opts o = {
		.timeout = 20, .retry_cnt = 7, .rnr_retry = 1,
	};
	uint8_t *buf, *orig = malloc(LEN);
	uint64_t rnr;
	struct ibv_mr *mr;
	struct pair q;
	struct src s;

	if (!pool_case())
		return;
	CHECK(orig, "malloc");
	buf = staged_region(orig, &mr, &s);
	CHECK(!mprotect(buf, LEN, PROT_READ), "mprotect: %s", strerror(errno));
	CHECK(entries(buf, LEN) == NPAGES, "%zu of %d pages staged after "
	      "mprotect", entries(buf, LEN), NPAGES);

	rnr = counter("rnr_naks_sent");
	pair_create(&q, &o);
	post1(q.a.qp, 1, IBV_WR_RDMA_WRITE, s.buf, LEN, s.mr->lkey,
	      (uintptr_t)buf, mr->rkey);
	expect_err(q.a.scq, 1, IBV_WC_REM_ACCESS_ERR, q.a.qp, 30000,
		   "WRITE into staged pages made read-only");
	pair_destroy(&q);
	CHECK(counter("rnr_naks_sent") == rnr, "WRITE into read-only staged "
	      "pages: %" PRIu64 " RNR NAKs, want none",
	      counter("rnr_naks_sent") - rnr);

	pair_create(&q, &o);
	post1(q.a.qp, 2, IBV_WR_RDMA_READ, buf, LEN, mr->lkey,
	      (uintptr_t)s.buf, s.mr->rkey);
	expect_err(q.a.scq, 2, IBV_WC_LOC_PROT_ERR, q.a.qp, 30000,
		   "READ into staged pages made read-only");
	pair_destroy(&q);
	check_bytes(buf, orig, LEN, "staged pages made read-only, after a "
		    "WRITE and a READ into them failed");

	CHECK(!mprotect(buf, LEN, PROT_READ | PROT_WRITE), "mprotect: %s",
	      strerror(errno));
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE once the pages are writable again");
	check_bytes(buf, s.buf, LEN, "WRITE once the pages are writable "
		    "again");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	free(orig);
	knobs_default();
}

static void case_stage_after_fork(void)
{
	uint8_t *buf = map_anon(LEN);
	struct ibv_mr *mr;
	struct src s;
	int status;
	pid_t pid;

	if (!pool_case())
		return;
	knobs_eager();
	fill_random(buf, LEN);
	mr = reg(pd, buf, LEN, ODP);
	src_init(&s, LEN);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid)
		_exit(0);
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	/* the PTEs are read-only now: staging gives read-only entries */
	stage(buf, mr, &s);
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE into pages staged read-only");
	check_bytes(buf, s.buf, LEN, "RDMA WRITE into pages staged read-only");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	knobs_default();
}

/* Stage requests waiting in the device's queue. */
static uint64_t pool_queue(void)
{
	char buf[2048], *line;

	ht_knob_read("pool", buf, sizeof(buf));
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "stage_queue ", 12))
			return strtoull(line + 12, NULL, 0);
	ht_fail(__FILE__, __LINE__, "no stage_queue in the pool state");
	return 0;
}

static void case_stage_fixup(void)
{
	uint8_t *buf = map_anon(LEN);
	uint64_t deadline, f0;
	struct ibv_mr *mr;
	struct src s;

	if (!pool_case())
		return;
	knobs_eager();
	ht_knob("stage_pin", "1");
	ht_knob("stage_delay_ms", "1500");
	fill_random(buf, LEN);
	mr = reg(pd, buf, LEN, ODP);
	src_init(&s, LEN);
	f0 = counter("pool_stage_failures");
	/* all 64 requests in one batch: they wait for the worker together */
	ht_knob("stage_hold", "1");
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "READ that stages");
	deadline = now_ms() + 10000;
	while (pool_queue() < NPAGES && now_ms() < deadline)
		sleep_us(5000);
	CHECK(pool_queue() == NPAGES, "%" PRIu64 " of %d pages queued",
	      pool_queue(), NPAGES);
	ht_knob("stage_hold", "0");
	/* the worker copied the pages and waits: migration entries */
	deadline = now_ms() + 10000;
	while (entries(buf, LEN) < NPAGES && now_ms() < deadline)
		sleep_us(5000);
	CHECK(entries(buf, LEN) == NPAGES, "%zu of %d pages being staged",
	      entries(buf, LEN), NPAGES);
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE while staging");
	CHECK(!madvise(buf, LEN, MADV_FREE), "MADV_FREE: %s",
	      strerror(errno));
	/* the kernel refuses the migration; the pages stay in memory */
	deadline = now_ms() + 10000;
	while (counter("pool_stage_failures") < f0 + NPAGES &&
	       now_ms() < deadline)
		sleep_us(10000);
	CHECK(counter("pool_stage_failures") - f0 == NPAGES,
	      "%" PRIu64 " of %d pinned pages failed to stage",
	      counter("pool_stage_failures") - f0, NPAGES);
	CHECK(entries(buf, LEN) == 0, "%zu pages left staged",
	      entries(buf, LEN));
	ht_knob("stage_delay_ms", "0");
	ht_knob("stage_pin", "0");
	check_bytes(buf, s.buf, LEN, "RDMA WRITE during a refused staging");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	knobs_default();
}




/*
 * Pages KSM merged are never staged: ksmd reads the pages of its stable
 * tree through the kernel's direct map, and a device page has none. Merge
 * identical pages, READ them with staging eager, let ksmd scan again,
 * then WRITE into them (COW) and read back.
 */
static void case_ksm_staged(void)
{
	uint8_t *buf = map_anon(LEN), *want = malloc(LEN);
	uint64_t deadline, full0;
	struct ibv_mr *mr;
	struct src s;
	char v[32];
	size_t i;

	if (!pool_case())
		return;
	CHECK(want, "malloc");
	fill_random(want, PAGE);
	for (i = PAGE; i < LEN; i += PAGE)
		memcpy(want + i, want, PAGE);
	memcpy(buf, want, LEN);
	CHECK(!madvise(buf, LEN, MADV_MERGEABLE), "MADV_MERGEABLE: %s",
	      strerror(errno));
	ht_write_file("/sys/kernel/mm/ksm/sleep_millisecs", "0");
	ht_write_file("/sys/kernel/mm/ksm/pages_to_scan", "1000");
	ht_write_file("/sys/kernel/mm/ksm/run", "1");
	deadline = now_ms() + 20000;
	do {
		sleep_us(50000);
		ht_read_file("/sys/kernel/mm/ksm/pages_sharing", v, sizeof(v));
	} while (strtoull(v, NULL, 0) < NPAGES / 2 && now_ms() < deadline);
	CHECK(strtoull(v, NULL, 0) >= NPAGES / 2, "ksmd merged only %s pages",
	      v);
	knobs_eager();
	mr = reg(pd, buf, LEN, ODP);
	src_init(&s, LEN);
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "READ of merged pages");
	check_bytes(s.buf, want, LEN, "RDMA READ of KSM pages");
	/* two more full scans of ksmd over whatever the pool did */
	ht_read_file("/sys/kernel/mm/ksm/full_scans", v, sizeof(v));
	full0 = strtoull(v, NULL, 0);
	deadline = now_ms() + 20000;
	do {
		sleep_us(50000);
		ht_read_file("/sys/kernel/mm/ksm/full_scans", v, sizeof(v));
	} while (strtoull(v, NULL, 0) < full0 + 2 && now_ms() < deadline);
	CHECK(entries(buf, LEN) == 0, "%zu KSM pages were staged",
	      entries(buf, LEN));
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE into merged pages");
	check_bytes(buf, s.buf, LEN, "RDMA WRITE into KSM pages (COW)");
	ht_write_file("/sys/kernel/mm/ksm/run", "2");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	free(want);
	knobs_default();
}

/* ---- more memory types, and holes ---- */

static void hugetlb_one(bool implicit)
{
	const size_t len = 2 << 20;
	uint8_t *buf, *want = malloc(len);
	struct ibv_mr *mr;
	struct src s;
	char what[96];

	CHECK(want, "malloc");
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	CHECK(buf != MAP_FAILED, "MAP_HUGETLB: %s", strerror(errno));
	fill_random(want, len);
	memcpy(buf, want, len);
	mr = region(buf, len, implicit);
	src_init(&s, len);
	memset(s.buf, 0, len);
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, buf, mr->rkey, len,
	     "READ of a huge page");
	snprintf(what, sizeof(what), "%s: RDMA READ of a hugetlbfs page",
		 kind(implicit));
	check_bytes(s.buf, want, len, what);
	fill_random(s.buf, len);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf + 4096, mr->rkey,
	     len - 8192, "WRITE into a huge page");
	memcpy(want + 4096, s.buf, len - 8192);
	snprintf(what, sizeof(what), "%s: RDMA WRITE into a hugetlbfs page",
		 kind(implicit));
	check_bytes(buf, want, len, what);
	region_done(mr);
	src_fini(&s, len);
	munmap(buf, len);
	free(want);
}

static void case_hugetlb(void)
{
	char buf[32];

	ht_read_file("/proc/sys/vm/nr_hugepages", buf, sizeof(buf));
	if (atoi(buf) < 4)
		ht_write_file("/proc/sys/vm/nr_hugepages", "8");
	hugetlb_one(false);
	hugetlb_one(true);
}

/*
 * One WQE across VMAs: an anonymous mapping followed by a shared tmpfs
 * mapping, both reached through the implicit region, and then the same
 * with a hole between them: the WRITE fails with an access error and
 * nothing after the hole is written.
 */
static void case_implicit_vmas(void)
{
	const size_t part = 16 * PAGE;
	char path[] = "/dev/shm/hmmnic-mm-XXXXXX";
	uint8_t *area, *old = malloc(3 * part);
	int fd = mkstemp(path);
	struct ibv_mr *mr;
	struct ibv_wc wc;
	struct pair q;
	struct src s;

	CHECK(fd >= 0 && old, "mkstemp: %s", strerror(errno));
	unlink(path);
	CHECK(!ftruncate(fd, part), "ftruncate");
	area = mmap(NULL, 3 * part, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(area != MAP_FAILED, "mmap");
	/* [anon][tmpfs file][anon], three VMAs */
	CHECK(mmap(area + part, part, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, 0) == area + part, "map file");
	fill_random(area, 3 * part);
	memcpy(old, area, 3 * part);
	mr = region(area, 3 * part, true);
	src_init(&s, 3 * part);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, area, mr->rkey, 3 * part,
	     "WRITE across three VMAs");
	check_bytes(area, s.buf, 3 * part, "implicit: WRITE across anonymous, "
		    "file and anonymous VMAs");
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, area, mr->rkey, 3 * part,
	     "READ across three VMAs");
	check_bytes(s.buf, area, 3 * part, "implicit: READ across VMAs");

	/* a hole in the middle: the WRITE fails, the far side is untouched */
	/* the pair first: its rings must not be mapped into the hole */
	pair_create(&q, &default_opts);
	memcpy(old, area, 3 * part);
	CHECK(!munmap(area + part, part), "munmap");
	fill_random(s.buf, 3 * part);
	post1(q.a.qp, 5, IBV_WR_RDMA_WRITE, s.buf, 3 * part, s.mr->lkey,
	      (uintptr_t)area, mr->rkey);
	poll_one(q.a.scq, &wc, "WRITE across a hole");
	CHECK(wc.status == IBV_WC_REM_ACCESS_ERR && wc.wr_id == 5,
	      "WRITE across a hole: wr_id %" PRIu64 " status %s (%d)",
	      wc.wr_id, ibv_wc_status_str(wc.status), wc.status);
	check_bytes(area + 2 * part, old + 2 * part, part,
		    "the mapping after the hole");
	/* nothing shows up in the hole either */
	CHECK(mmap(area + part, part, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      area + part, "map the hole");
	check_pattern(area + part, part, 0, "a new mapping in the hole");
	pair_destroy(&q);
	region_done(mr);
	src_fini(&s, 3 * part);
	munmap(area, 3 * part);
	close(fd);
	free(old);
}

/*
 * An explicit region whose middle was unmapped: a WRITE and a READ across
 * the hole fail with an access error; the WRITE leaves the pages after the
 * hole as they were and puts nothing into a mapping made there later.
 */
static void case_munmap_hole(void)
{
	uint8_t *buf = map_anon(LEN), *old = malloc(LEN);
	struct ibv_mr *mr = reg(pd, buf, LEN, ODP);
	struct ibv_wc wc;
	struct pair q;
	struct src s;

	CHECK(old, "malloc");
	fill_random(buf, LEN);
	src_init(&s, LEN);
	/* mirrored before the hole: the invalidation must drop it */
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "READ before the hole");
	/* the pair first: its rings must not be mapped into the hole */
	pair_create(&q, &default_opts);
	CHECK(!munmap(buf + 30 * PAGE, 4 * PAGE), "munmap");
	memcpy(old, buf, 30 * PAGE);
	memcpy(old + 34 * PAGE, buf + 34 * PAGE, LEN - 34 * PAGE);
	fill_random(s.buf, LEN);
	post1(q.a.qp, 6, IBV_WR_RDMA_WRITE, s.buf, LEN, s.mr->lkey,
	      (uintptr_t)buf, mr->rkey);
	poll_one(q.a.scq, &wc, "WRITE across the hole");
	CHECK(wc.status == IBV_WC_REM_ACCESS_ERR, "WRITE across a hole: %s",
	      ibv_wc_status_str(wc.status));
	check_bytes(buf + 34 * PAGE, old + 34 * PAGE, LEN - 34 * PAGE,
		    "the pages after the hole");
	CHECK(mmap(buf + 30 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      buf + 30 * PAGE, "map the hole");
	check_pattern(buf + 30 * PAGE, 4 * PAGE, 0, "the new pages in the hole");
	pair_destroy(&q);
	/* and a READ across a hole, on a fresh pair */
	pair_create(&q, &default_opts);
	CHECK(!munmap(buf + 30 * PAGE, 4 * PAGE), "munmap");
	post1(q.a.qp, 7, IBV_WR_RDMA_READ, s.buf, LEN, s.mr->lkey,
	      (uintptr_t)buf, mr->rkey);
	poll_one(q.a.scq, &wc, "READ across the hole");
	CHECK(wc.status == IBV_WC_REM_ACCESS_ERR, "READ across a hole: %s",
	      ibv_wc_status_str(wc.status));
	pair_destroy(&q);
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	free(old);
}

/* ---- the memory manager against traffic in flight ---- */

#define RACE_LEN	(2 << 20)	/* one THP's worth, 2 MiB aligned */
#define RACE_MS		2500
#define MPOL_MF_MOVE	(1 << 1)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

/* A 2 MiB aligned anonymous mapping of @len bytes. */
static void *map_aligned(size_t len)
{
	uint8_t *p = mmap(NULL, len + RACE_LEN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	a = (uint8_t *)(((uintptr_t)p + RACE_LEN - 1) &
			~(uintptr_t)(RACE_LEN - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + len + RACE_LEN - (a + len));
	return a;
}

struct race {
	const char *name;
	uint8_t *r;
	volatile int stop;
	unsigned long rounds;
};

static void move_all(uint8_t *r, size_t len, int node)
{
	size_t i, n = len / PAGE;
	void *pages[RACE_LEN / PAGE];
	int nodes[RACE_LEN / PAGE], status[RACE_LEN / PAGE];

	for (i = 0; i < n; i++) {
		pages[i] = r + i * PAGE;
		nodes[i] = node;
	}
	CHECK(syscall(SYS_move_pages, 0, n, pages, nodes, status,
		      MPOL_MF_MOVE) >= 0, "move_pages: %s", strerror(errno));
}

static void split_thp(uint8_t *r)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%d,0x%lx,0x%lx", getpid(),
		 (unsigned long)r, (unsigned long)r + RACE_LEN);
	ht_write_file("/sys/kernel/debug/split_huge_pages", buf);
}

/* One step of the memory manager's side; none may change the bytes. */
static void race_step(struct race *x)
{
	const char *n = x->name;
	int status;
	pid_t pid;

	if (!strcmp(n, "fork")) {
		pid = fork();
		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (!pid)
			_exit(0);
		waitpid(pid, &status, 0);
	} else if (!strcmp(n, "mprotect")) {
		CHECK(!mprotect(x->r, RACE_LEN, x->rounds & 1 ?
				PROT_READ | PROT_WRITE :
				PROT_READ | PROT_WRITE | PROT_EXEC),
		      "mprotect: %s", strerror(errno));
	} else if (!strcmp(n, "migrate")) {
		move_all(x->r, RACE_LEN, x->rounds & 1);
	} else if (!strcmp(n, "compact")) {
		ht_write_file("/proc/sys/vm/compact_memory", "1");
	} else if (!strcmp(n, "thp")) {
		if (x->rounds & 1)
			split_thp(x->r);
		else
			madvise(x->r, RACE_LEN, MADV_COLLAPSE);
	} else if (!strcmp(n, "ksm")) {
		/* ksmd merges the identical pages of the second half */
		sleep_us(20000);
	} else if (!strcmp(n, "pageout")) {
		madvise(x->r, RACE_LEN, MADV_PAGEOUT);
	}
	x->rounds++;
}

static void *race_fn(void *arg)
{
	struct race *x = arg;

	while (!x->stop)
		race_step(x);
	return NULL;
}


/* UD and SRQ receivers for the race: SENDs into ODP receive buffers. */
#define QKEY		0x11111111
#define GRH_SIZE	40

struct receivers {
	struct end us, ur;		/* UD sender and receiver */
	struct ibv_ah *ah;
	struct ibv_srq *srq;
	struct end ss, sr;		/* RC pair whose receiver uses the SRQ */
};

static void receivers_init(struct receivers *rv)
{
	struct ibv_ah_attr ah_attr = {
		.is_global = 1,
		.grh = { .dgid = gid, .sgid_index = GID_INDEX, .hop_limit = 64 },
		.port_num = PORT,
	};
	struct ibv_srq_init_attr sattr = {
		.attr = { .max_wr = 16, .max_sge = 1 },
	};
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_send_sge = 1 },
	};

	end_create(&rv->us, IBV_QPT_UD, 0);
	end_create(&rv->ur, IBV_QPT_UD, 0);
	ud_up(rv->us.qp, QKEY);
	ud_up(rv->ur.qp, QKEY);
	rv->ah = ibv_create_ah(pd, &ah_attr);
	CHECK(rv->ah, "create_ah: %s", strerror(errno));
	rv->srq = ibv_create_srq(pd, &sattr);
	CHECK(rv->srq, "create_srq: %s", strerror(errno));
	end_create(&rv->ss, IBV_QPT_RC, 0);
	rv->sr.scq = cq_create(CQ_SIZE);
	rv->sr.rcq = cq_create(CQ_SIZE);
	init.send_cq = rv->sr.scq;
	init.recv_cq = rv->sr.rcq;
	init.srq = rv->srq;
	rv->sr.qp = ibv_create_qp(pd, &init);
	CHECK(rv->sr.qp, "create_qp on an SRQ: %s", strerror(errno));
	rc_init(rv->ss.qp);
	rc_init(rv->sr.qp);
	rc_connect(rv->ss.qp, rv->sr.qp->qp_num, 0x300, 0x200, &mm_opts);
	rc_connect(rv->sr.qp, rv->ss.qp->qp_num, 0x200, 0x300, &mm_opts);
}

static void receivers_fini(struct receivers *rv)
{
	end_destroy(&rv->us);
	end_destroy(&rv->ur);
	end_destroy(&rv->ss);
	end_destroy(&rv->sr);
	CHECK(!ibv_destroy_srq(rv->srq), "destroy_srq");
	CHECK(!ibv_destroy_ah(rv->ah), "destroy_ah");
}

/*
 * The @len bytes of @sent must be at @off in the region @r (@want is what
 * it held before). If they are not, say what is there instead: how many
 * bytes differ, whether they are the old bytes (the data was lost) and
 * whether the sent bytes landed somewhere else (misplaced).
 */
static void check_landed(const uint8_t *r, const uint8_t *want, uint32_t off,
			 const uint8_t *sent, uint32_t len, const char *what)
{
	size_t i, bad = 0, old = 0, first = len, last = 0, key;
	const uint8_t *elsewhere = NULL;

	if (!memcmp(r + off, sent, len))
		return;
	for (i = 0; i < len; i++) {
		if (r[off + i] == sent[i])
			continue;
		bad++;
		old += r[off + i] == want[off + i];
		if (first == len)
			first = i;
		last = i;
	}
	key = len - first < 16 ? len - first : 16;
	if (key >= 8)
		elsewhere = memmem(r, RACE_LEN, sent + first, key);
	CHECK(0, "%s: %zu of %u bytes differ (first %zu, last %zu; %zu of "
	      "them hold the old bytes), byte %zu is 0x%02x, want 0x%02x; "
	      "the sent bytes from %zu are %s%zd", what, bad, len, first, last,
	      old, first, r[off + first], sent[first], first,
	      elsewhere ? "at region offset " : "nowhere in the region",
	      elsewhere ? elsewhere - r - (ssize_t)first : 0);
}

/*
 * A SEND of @len bytes from @src into [@dst, ...) of the ODP region @mr:
 * over UD (the 40-byte GRH space first) or through the SRQ.
 */
static void race_send(struct receivers *rv, bool ud, uint8_t *dst,
		      struct ibv_mr *mr, struct src *src, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)dst, .length = len + (ud ? GRH_SIZE : 0),
		.lkey = mr->lkey,
	};
	struct ibv_recv_wr rwr = { .wr_id = 90, .sg_list = &sge, .num_sge = 1 };
	struct ibv_sge ssge = {
		.addr = (uintptr_t)src->buf, .length = len,
		.lkey = src->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 91, .sg_list = &ssge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_recv_wr *rbad;
	struct end *s = ud ? &rv->us : &rv->ss, *r = ud ? &rv->ur : &rv->sr;
	struct ibv_wc wc;

	if (ud) {
		CHECK(!ibv_post_recv(r->qp, &rwr, &rbad), "post_recv (UD)");
		wr.wr.ud.ah = rv->ah;
		wr.wr.ud.remote_qpn = r->qp->qp_num;
		wr.wr.ud.remote_qkey = QKEY;
	} else {
		CHECK(!ibv_post_srq_recv(rv->srq, &rwr, &rbad),
		      "post_srq_recv");
	}
	CHECK(!ibv_post_send(s->qp, &wr, &bad), "post_send");
	expect_ok(s->scq, &wc, 91, IBV_WC_SEND, s->qp, ud ?
		  "UD SEND during the race" : "SEND to the SRQ during the race");
	expect_ok(r->rcq, &wc, 90, IBV_WC_RECV, r->qp, ud ?
		  "UD RECV into ODP during the race" :
		  "SRQ RECV into ODP during the race");
	CHECK(wc.byte_len == len + (ud ? GRH_SIZE : 0),
	      "RECV of %u bytes: %u", len, wc.byte_len);
}

/*
 * Fetch-and-add (@swap unused) or compare-and-swap on @target; the old
 * value lands in @res.
 */
static void race_atomic(enum ibv_wr_opcode op, uint8_t *target, uint32_t rkey,
			uint64_t cmp_add, uint64_t swap, void *res,
			uint32_t lkey)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)res, .length = 8, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 80, .sg_list = &sge, .num_sge = 1,
		.opcode = op, .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_wc wc;

	wr.wr.atomic.remote_addr = (uintptr_t)target;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = cmp_add;
	wr.wr.atomic.swap = swap;
	post(P.a.qp, &wr);
	expect_ok(P.a.scq, &wc, 80, op == IBV_WR_ATOMIC_CMP_AND_SWP ?
		  IBV_WC_COMP_SWAP : IBV_WC_FETCH_ADD, P.a.qp,
		  "atomic during the race");
}

/*
 * Compare-and-swap at @target, which holds @want: a compare that misses
 * (every fourth) leaves it; one that hits swaps. Returns the new value.
 */
static uint64_t race_cas(uint8_t *target, uint32_t rkey, uint64_t want,
			 struct src *got)
{
	bool miss = !(rnd() & 3);
	uint64_t swap = rnd(), old;

	race_atomic(IBV_WR_ATOMIC_CMP_AND_SWP, target, rkey,
		    miss ? ~want : want, swap, got->buf, got->mr->lkey);
	memcpy(&old, got->buf, 8);
	CHECK(old == want, "compare-and-swap during the race: old 0x%" PRIx64
	      ", want 0x%" PRIx64, old, want);
	return miss ? want : swap;
}

/* After a race: RDMA reads what the CPU saw; the sources go. */
static void race_end(uint8_t *r, struct ibv_mr *mr, const uint8_t *want,
		     struct src *s, struct src *got)
{
	rdma(IBV_WR_RDMA_READ, got->buf, got->mr->lkey, r, mr->rkey, RACE_LEN,
	     "READ after the race");
	check_bytes(got->buf, want, RACE_LEN, "the region after the race");
	src_fini(s, RACE_LEN);
	src_fini(got, RACE_LEN);
}

/* Which op last wrote each page of the race region, for the diagnosis. */
static uint64_t race_page_op[RACE_LEN / PAGE];
static uint8_t race_page_kind[RACE_LEN / PAGE];

static void race_mark(uint32_t off, uint32_t len, uint64_t op, int kind)
{
	uint32_t i;

	for (i = off / PAGE; i <= (off + len - 1) / PAGE; i++) {
		race_page_op[i] = op;
		race_page_kind[i] = kind;
	}
}

/*
 * The region differs from @want after the race: say which pages, how,
 * what wrote them last and what /proc/self/pagemap said before the CPU
 * read them (@pm), then fail.
 */
static void race_explain(const uint8_t *r, const uint8_t *want,
			 const uint64_t *pm, uint64_t ops, const char *what)
{
	static const char *const kinds[] = {
		"WRITE", "READ", "SEND", "fetch-add", "UD SEND", "SRQ SEND",
		"compare-swap",
	};
	size_t i, j, bad, zero, npages = 0;

	for (i = 0; i < RACE_LEN / PAGE; i++) {
		const uint8_t *g = r + i * PAGE, *w = want + i * PAGE;

		if (!memcmp(g, w, PAGE))
			continue;
		for (j = bad = zero = 0; j < PAGE; j++) {
			bad += g[j] != w[j];
			zero += !g[j];
		}
		if (npages++ < 8)
			ht_log("  page %zu: %zu bytes differ, %zu zero bytes; "
			       "last written by op %" PRIu64 " (%s) of %" PRIu64
			       "; pagemap before 0x%016" PRIx64, i, bad, zero,
			       race_page_op[i], race_page_op[i] ?
			       kinds[race_page_kind[i]] : "none", ops, pm[i]);
	}
	CHECK(0, "%s: %zu pages differ", what, npages);
}

static void race_pagemap(const uint8_t *r, uint64_t *pm)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t at = (off_t)((uintptr_t)r / PAGE) * 8;

	CHECK(fd >= 0, "open pagemap: %s", strerror(errno));
	CHECK(pread(fd, pm, RACE_LEN / PAGE * 8, at) == RACE_LEN / PAGE * 8,
	      "read pagemap");
	close(fd);
}

/*
 * Traffic on @r for RACE_MS while the memory manager works on it: RDMA
 * WRITE, READ, SEND into ODP receive buffers and both atomics, each
 * checked against what the region must hold (want), by RDMA and by the
 * CPU; at the end the whole region, both ways.
 */
static void race_traffic(uint8_t *r, struct ibv_mr *mr, uint8_t *want,
			 struct race *x)
{
	struct receivers rv;
	struct src s, got;
	struct ibv_wc wc;
	uint64_t start = now_ms(), ops = 0, add, old, ms = RACE_MS;
	static uint64_t pm[RACE_LEN / PAGE];
	uint64_t staged, to_ram;
	uint32_t off, len;
	int op;

	if (getenv("MM_RACE_MS"))
		ms = strtoull(getenv("MM_RACE_MS"), NULL, 0);
	src_init(&s, RACE_LEN);
	src_init(&got, RACE_LEN);
	receivers_init(&rv);
	memset(race_page_op, 0, sizeof(race_page_op));
	staged = counter("pool_staged");
	to_ram = counter("pool_migrate_to_ram");
	while (now_ms() - start < ms || ops < 20) {
		op = rnd() % 7;
		len = 1 + rnd() % (op == 4 ? 1024 : 256 << 10);
		off = rnd() % (RACE_LEN - len - GRH_SIZE);
		switch (op) {
		case 4:
		case 5:
			fill_random(s.buf, len);
			race_send(&rv, op == 4, r + off, mr, &s, len);
			if (op == 4) {
				/* the GRH space holds what the packet had */
				memcpy(want + off, r + off, GRH_SIZE);
				off += GRH_SIZE;
			}
			check_landed(r, want, off, s.buf, len, op == 4 ?
				     "CPU after a UD RECV during the race" :
				     "CPU after an SRQ RECV during the race");
			memcpy(want + off, s.buf, len);
			break;
		case 0:
			fill_random(s.buf, len);
			rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, r + off,
			     mr->rkey, len, "WRITE during the race");
			check_landed(r, want, off, s.buf, len,
				     "CPU after a WRITE during the race");
			memcpy(want + off, s.buf, len);
			break;
		case 1:
			rdma(IBV_WR_RDMA_READ, got.buf, got.mr->lkey, r + off,
			     mr->rkey, len, "READ during the race");
			check_bytes(got.buf, want + off, len,
				    "READ during the race");
			break;
		case 2:
			fill_random(s.buf, len);
			post_recv1(P.b.qp, 77, r + off, len, mr->lkey);
			post1(P.a.qp, 78, IBV_WR_SEND, s.buf, len, s.mr->lkey,
			      0, 0);
			expect_ok(P.a.scq, &wc, 78, IBV_WC_SEND, P.a.qp,
				  "SEND during the race");
			expect_ok(P.b.rcq, &wc, 77, IBV_WC_RECV, P.b.qp,
				  "RECV into ODP during the race");
			CHECK(wc.byte_len == len, "RECV of %u bytes: %u", len,
			      wc.byte_len);
			check_landed(r, want, off, s.buf, len,
				     "CPU after a RECV during the race");
			memcpy(want + off, s.buf, len);
			break;
		case 6:
			off &= ~7u;
			memcpy(&old, want + off, 8);
			old = race_cas(r + off, mr->rkey, old, &got);
			memcpy(want + off, &old, 8);
			break;
		default:
			off &= ~7u;
			add = rnd();
			race_atomic(IBV_WR_ATOMIC_FETCH_AND_ADD, r + off, mr->rkey,
				    add, 0, got.buf, got.mr->lkey);
			memcpy(&old, want + off, 8);
			check_bytes(got.buf, &old, 8,
				    "fetch-and-add result during the race");
			old += add;
			memcpy(want + off, &old, 8);
			break;
		}
		ops++;
		if (op != 1)
			race_mark(off, op == 3 || op == 6 ? 8 : len, ops, op);
	}
	x->stop = 1;
	receivers_fini(&rv);
	ht_log("  %s: %" PRIu64 " RDMA ops against %lu steps; %" PRIu64
	       " pages staged, %" PRIu64 " back by migrate_to_ram", x->name,
	       ops, x->rounds, counter("pool_staged") - staged,
	       counter("pool_migrate_to_ram") - to_ram);
	race_pagemap(r, pm);
	if (memcmp(r, want, RACE_LEN))
		race_explain(r, want, pm, ops, "the region after the race, "
			     "by CPU");
	race_end(r, mr, want, &s, &got);
}

static void race_one(const char *event, bool implicit)
{
	uint8_t *r = map_aligned(RACE_LEN), *want = malloc(RACE_LEN);
	struct race x = { .name = event, .r = r };
	struct ibv_mr *mr;
	pthread_t t;

	CHECK(want, "malloc");
	if (!strcmp(event, "thp") || !strcmp(event, "compact"))
		madvise(r, RACE_LEN, MADV_HUGEPAGE);
	else
		madvise(r, RACE_LEN, MADV_NOHUGEPAGE);
	fill_random(want, RACE_LEN);
	if (!strcmp(event, "ksm")) {
		/* identical pages for ksmd to merge */
		size_t i;

		for (i = RACE_LEN / 2; i < RACE_LEN; i += PAGE)
			memcpy(want + i, want + RACE_LEN / 2, PAGE);
		CHECK(!madvise(r, RACE_LEN, MADV_MERGEABLE),
		      "MADV_MERGEABLE: %s", strerror(errno));
	}
	memcpy(r, want, RACE_LEN);
	mr = region(r, RACE_LEN, implicit);
	CHECK(!pthread_create(&t, NULL, race_fn, &x), "pthread_create");
	race_traffic(r, mr, want, &x);
	pthread_join(t, NULL);
	CHECK(x.rounds >= 2, "%s: the memory manager side did not run",
	      event);
	region_done(mr);
	munmap(r, RACE_LEN);
	free(want);
}

/* Each event (those MM_RACE_EVENTS names, if set) on both region kinds. */
static void race_events(const char *const *events, size_t n,
			void (*one)(const char *event, bool implicit))
{
	const char *only = getenv("MM_RACE_EVENTS");
	size_t i, ran = 0;

	for (i = 0; i < n; i++) {
		if (only && !strstr(only, events[i]))
			continue;
		one(events[i], false);
		one(events[i], true);
		ran++;
	}
	if (!ran)
		ht_log("  MM_RACE_EVENTS=%s names none of this case's events",
		       only);
}

static void case_race(void)
{
	static const char *const events[] = {
		"fork", "mprotect", "migrate", "compact", "thp", "ksm",
		"pageout",
	};

	swap_on();
	ht_write_file("/sys/kernel/mm/ksm/sleep_millisecs", "0");
	ht_write_file("/sys/kernel/mm/ksm/pages_to_scan", "1000");
	ht_write_file("/sys/kernel/mm/ksm/run", "1");
	race_events(events, ARRAY_SIZE(events), race_one);
	ht_write_file("/sys/kernel/mm/ksm/run", "2");
}


/*
 * Events that change what the region holds: MADV_DONTNEED (the pages read
 * as zeros afterwards) and mremap (MREMAP_DONTUNMAP moves the pages out and
 * leaves zero pages behind; the CPU copies the bytes back into those, and
 * the moved pages are unmapped).
 * The traffic thread arms one event on pages that overlap its next
 * transfer, posts the transfer and waits for both; a byte that either may
 * have changed must hold the transfer's value or the event's (zeros after
 * MADV_DONTNEED, the old bytes after mremap, and for mremap the transfer may
 * also be lost between the move and the copy, as a CPU store there
 * would be). A transfer with no event armed must be exact: nothing the
 * event did may leave the NIC writing into or reading from a page the
 * process no longer has at that address.
 */
struct zap {
	const char *name;
	uint8_t *r, *scratch;
	volatile int go, stop;
	uint32_t first, npages;		/* pages of the armed event */
	unsigned long rounds;
};

/* A CPU copy in aligned 8-byte stores, as an 8-byte atomic sees them. */
static void copy_words(void *dst, const void *src, size_t len)
{
	uint64_t *d = dst;
	const uint64_t *s = src;
	size_t i;

	for (i = 0; i < len / 8; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static void zap_do(struct zap *z)
{
	uint8_t *p = z->r + (size_t)z->first * PAGE;
	uint8_t *q = z->scratch + (size_t)z->first * PAGE;
	size_t len = (size_t)z->npages * PAGE;

	sleep_us(rnd() % 3000);
	if (!strcmp(z->name, "dontneed")) {
		CHECK(!madvise(p, len, MADV_DONTNEED), "MADV_DONTNEED: %s",
		      strerror(errno));
	} else {
		CHECK(mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED |
			     MREMAP_DONTUNMAP, q) == q,
		      "mremap out: %s", strerror(errno));
		/*
		 * The CPU copies the bytes back into the new pages, and the
		 * moved ones go: a NIC still writing to those would lose
		 * the bytes.
		 */
		sleep_us(rnd() % 1000);
		copy_words(p, q, len);
		/* keep the parking place reserved */
		CHECK(mmap(q, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_FIXED | MAP_NORESERVE, -1, 0) == q,
		      "mmap: %s", strerror(errno));
	}
	z->rounds++;
}

static void *zap_fn(void *arg)
{
	struct zap *z = arg;

	while (!z->stop) {
		if (!__atomic_load_n(&z->go, __ATOMIC_ACQUIRE)) {
			sleep_us(50);
			continue;
		}
		zap_do(z);
		__atomic_store_n(&z->go, 0, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* What a page the event hit holds if the event came last. */
static uint8_t zap_value(const struct zap *z, const uint8_t *want, size_t i)
{
	return strcmp(z->name, "dontneed") ? want[i] : 0;
}

static bool zap_hit(const struct zap *z, bool armed, size_t i)
{
	return armed && i / PAGE >= z->first && i / PAGE < z->first + z->npages;
}

/*
 * After a transfer that wrote @sent (NULL for none) into [@off, @off +
 * @len): check every byte of the region against @want and the event, then
 * take what the region holds as the new @want.
 */
static void zap_check(const struct zap *z, bool armed, const uint8_t *r,
		      uint8_t *want, uint32_t off, uint32_t len,
		      const uint8_t *sent, const char *what)
{
	size_t i, lo = armed ? (size_t)z->first * PAGE : off;
	size_t hi = armed ? (size_t)(z->first + z->npages) * PAGE : off;

	lo = lo < off ? lo : off;
	hi = hi > off + len ? hi : off + len;
	for (i = lo; i < hi; i++) {
		bool in = sent && i >= off && i < off + len;
		bool hit = zap_hit(z, armed, i);
		uint8_t ev = zap_value(z, want, i);
		bool ok;

		if (in && hit)
			ok = r[i] == sent[i - off] || r[i] == ev;
		else if (in)
			ok = r[i] == sent[i - off];
		else if (hit)
			ok = r[i] == ev;
		else
			ok = r[i] == want[i];
		if (!ok)
			CHECK(0, "%s %s (%s): byte %zu (op at %u, %u bytes; "
			      "event on pages %u+%u) is 0x%02x, want 0x%02x "
			      "(event 0x%02x)", what, z->name, armed ?
			      "event armed" : "no event", i, off, len,
			      z->first, z->npages, r[i], in ? sent[i - off] :
			      want[i], ev);
	}
	memcpy(want + lo, r + lo, hi - lo);
}

/* The READ's bytes: what the region held, or what the event left. */
static void zap_check_read(const struct zap *z, bool armed,
			   const uint8_t *got, const uint8_t *want,
			   uint32_t off, uint32_t len)
{
	size_t i;

	for (i = off; i < off + len; i++) {
		bool ok = got[i - off] == want[i];

		if (!ok && zap_hit(z, armed, i))
			ok = !got[i - off] || got[i - off] == zap_value(z, want,
									 i);
		CHECK(ok, "READ during %s (%s): byte %zu is 0x%02x, want 0x%02x",
		      z->name, armed ? "event armed" : "no event", i,
		      got[i - off], want[i]);
	}
}

/* One 8-byte atomic at @off with or without the event: check it. */
static void zap_atomic(const struct zap *z, bool armed, uint8_t *r,
		       struct ibv_mr *mr, uint8_t *want, uint32_t off,
		       struct src *got)
{
	bool cas = rnd() & 1;
	uint64_t w, ev = 0, v = rnd(), old, now;

	memcpy(&w, want + off, 8);
	if (strcmp(z->name, "dontneed"))
		ev = w;
	race_atomic(cas ? IBV_WR_ATOMIC_CMP_AND_SWP :
		    IBV_WR_ATOMIC_FETCH_AND_ADD, r + off, mr->rkey,
		    cas ? w : v, v, got->buf, got->mr->lkey);
	while (__atomic_load_n(&z->go, __ATOMIC_ACQUIRE))
		sleep_us(100);
	memcpy(&old, got->buf, 8);
	memcpy(&now, r + off, 8);
	if (!armed || !zap_hit(z, armed, off)) {
		CHECK(old == w && now == (cas ? v : w + v), "%s during %s (no "
		      "event on it): old 0x%" PRIx64 " now 0x%" PRIx64 ", want "
		      "0x%" PRIx64 " then 0x%" PRIx64, cas ? "compare-and-swap"
		      : "fetch-and-add", z->name, old, now, w, cas ? v : w + v);
	} else {
		/* before the event, after it, or lost in mremap's window */
		CHECK((old == w || old == 0) &&
		      (now == ev || now == (cas ? (old == w ? v : old) :
					    old + v)),
		      "%s during %s: old 0x%" PRIx64 " now 0x%" PRIx64
		      " (was 0x%" PRIx64 ")", cas ? "compare-and-swap" :
		      "fetch-and-add", z->name, old, now, w);
	}
	zap_check(z, armed, r, want, off, 8, (uint8_t *)&now,
		  "the region after an atomic");
}

/*
 * Right after an event, with none armed: a WRITE over the pages it hit,
 * then a READ of them, must be exact, by RDMA and by the CPU. A NIC that
 * kept using the pages the event took away fails here.
 */
static void zap_probe(const struct zap *z, uint8_t *r, struct ibv_mr *mr,
		      uint8_t *want, struct src *s, struct src *got)
{
	size_t off = (size_t)z->first * PAGE, len = (size_t)z->npages * PAGE;

	fill_random(s->buf, len);
	rdma(IBV_WR_RDMA_WRITE, s->buf, s->mr->lkey, r + off, mr->rkey, len,
	     "WRITE right after the event");
	rdma(IBV_WR_RDMA_READ, got->buf, got->mr->lkey, r + off, mr->rkey, len,
	     "READ right after the event");
	check_bytes(got->buf, s->buf, len, "READ right after the event");
	check_bytes(r + off, s->buf, len, "CPU after a WRITE right after the "
		    "event");
	memcpy(want + off, s->buf, len);
}

static void zap_traffic(struct zap *z, uint8_t *r, struct ibv_mr *mr,
			uint8_t *want)
{
	uint64_t start = now_ms(), ops = 0, armed_ops = 0, ms = RACE_MS;
	struct src s, got;
	struct ibv_wc wc;
	uint32_t off, len;
	bool armed;
	int op;

	if (getenv("MM_RACE_MS"))
		ms = strtoull(getenv("MM_RACE_MS"), NULL, 0);
	src_init(&s, RACE_LEN);
	src_init(&got, RACE_LEN);
	while (now_ms() - start < ms || armed_ops < 10) {
		op = rnd() % 4;
		len = op == 3 ? 8 : 1 + rnd() % (128 << 10);
		off = rnd() % (RACE_LEN - len);
		if (op == 3)
			off &= ~7u;
		armed = rnd() & 1;
		if (armed) {
			/* 1 to 32 pages that overlap the transfer */
			z->npages = 1 + rnd() % 32;
			z->first = off / PAGE - rnd() % z->npages;
			if (z->first > off / PAGE)
				z->first = 0;
			if (z->first + z->npages > RACE_LEN / PAGE)
				z->npages = RACE_LEN / PAGE - z->first;
			armed_ops++;
			__atomic_store_n(&z->go, 1, __ATOMIC_RELEASE);
		}
		switch (op) {
		case 0:
			fill_random(s.buf, len);
			rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, r + off,
			     mr->rkey, len, "WRITE during the race");
			break;
		case 1:
			rdma(IBV_WR_RDMA_READ, got.buf, got.mr->lkey, r + off,
			     mr->rkey, len, "READ during the race");
			break;
		case 2:
			fill_random(s.buf, len);
			post_recv1(P.b.qp, 77, r + off, len, mr->lkey);
			post1(P.a.qp, 78, IBV_WR_SEND, s.buf, len, s.mr->lkey,
			      0, 0);
			expect_ok(P.a.scq, &wc, 78, IBV_WC_SEND, P.a.qp,
				  "SEND during the race");
			expect_ok(P.b.rcq, &wc, 77, IBV_WC_RECV, P.b.qp,
				  "RECV into ODP during the race");
			break;
		default:
			zap_atomic(z, armed, r, mr, want, off, &got);
			break;
		}
		if (op != 3) {
			while (__atomic_load_n(&z->go, __ATOMIC_ACQUIRE))
				sleep_us(100);
			if (op == 1)
				zap_check_read(z, armed, got.buf, want, off,
					       len);
			zap_check(z, armed, r, want, off, len,
				  op == 1 ? NULL : s.buf, op == 1 ?
				  "the region after a READ" :
				  "the region after a WRITE or SEND");
		}
		if (armed)
			zap_probe(z, r, mr, want, &s, &got);
		ops++;
	}
	z->stop = 1;
	ht_log("  %s: %" PRIu64 " RDMA ops, %" PRIu64 " with an event armed, "
	       "%lu events", z->name, ops, armed_ops, z->rounds);
	check_bytes(r, want, RACE_LEN, "the region after the race, by CPU");
	race_end(r, mr, want, &s, &got);
}

static void zap_one(const char *event, bool implicit)
{
	uint8_t *r = map_anon(RACE_LEN), *want = malloc(RACE_LEN);
	struct zap z = { .name = event, .r = r };
	struct ibv_mr *mr;
	pthread_t t;

	CHECK(want, "malloc");
	/* where mremap parks the pages, reserved */
	z.scratch = mmap(NULL, RACE_LEN, PROT_NONE, MAP_PRIVATE |
			 MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(z.scratch != MAP_FAILED, "mmap: %s", strerror(errno));
	fill_random(want, RACE_LEN);
	memcpy(r, want, RACE_LEN);
	mr = region(r, RACE_LEN, implicit);
	CHECK(!pthread_create(&t, NULL, zap_fn, &z), "pthread_create");
	zap_traffic(&z, r, mr, want);
	pthread_join(t, NULL);
	region_done(mr);
	munmap(r, RACE_LEN);
	munmap(z.scratch, RACE_LEN);
	free(want);
}

static void case_race_zap(void)
{
	static const char *const events[] = { "dontneed", "mremap" };

	race_events(events, ARRAY_SIZE(events), zap_one);
}

/* ---- device removal under traffic (tests/cases/removal.sh) ---- */

/*
 * Wait for the completion of @wr_id on @cq; false if it failed or did not
 * come (the device went away).
 */
static bool wait_ok(struct ibv_cq *cq, uint64_t wr_id)
{
	uint64_t deadline = now_ms() + 20000;
	struct ibv_wc wc;
	int n;

	while (now_ms() < deadline) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			return false;
		if (n == 1)
			return wc.status == IBV_WC_SUCCESS && wc.wr_id == wr_id;
		sleep_us(100);
	}
	return false;
}

/* Post one RDMA op on P.a; false once the device refuses (it is gone). */
static bool post_ok(enum ibv_wr_opcode op, uint64_t wr_id, void *local,
		    uint32_t len, uint32_t lkey, void *remote, uint32_t rkey)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)local, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	wr.wr.rdma.remote_addr = (uintptr_t)remote;
	wr.wr.rdma.rkey = rkey;
	return !ibv_post_send(P.a.qp, &wr, &bad);
}

/*
 * mm --traffic FILE: RDMA WRITE and READ on an ODP region with staged
 * pages until the device goes away (FILE is created once traffic runs);
 * then every byte that a completed WRITE put there must be in place, read
 * by the CPU (staged pages came back), and the bytes of the one WRITE in
 * flight are either old or new.
 */
static int traffic_until_gone(const char *ready)
{
	const size_t len = 1 << 20;
	uint8_t *r = map_anon(len), *want = malloc(len), *sent = malloc(len);
	struct ibv_async_event ev;
	uint64_t ops = 0;
	uint32_t off = 0, n = 0;
	struct ibv_mr *mr;
	struct src s;
	size_t i;
	FILE *f;

	CHECK(want && sent, "malloc");
	rc_setup();
	pair_create(&P, &mm_opts);
	knobs_eager();
	fill_random(want, len);
	memcpy(r, want, len);
	mr = reg(pd, r, len, ODP);
	src_init(&s, len);
	for (;;) {
		bool write = ops & 1;

		n = 4096 + rnd() % (128 << 10);
		off = rnd() % (len - n);
		if (write) {
			fill_random(s.buf, n);
			memcpy(sent + off, s.buf, n);
		}
		if (!post_ok(write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
			     ops, s.buf, n, s.mr->lkey, r + off, mr->rkey) ||
		    !wait_ok(P.a.scq, ops))
			break;
		if (write)
			memcpy(want + off, s.buf, n);
		else
			check_bytes(s.buf, want + off, n, "READ under traffic");
		if (++ops == 40) {
			f = fopen(ready, "w");
			CHECK(f, "create %s", ready);
			fclose(f);
		}
	}
	CHECK(ops >= 40, "the traffic failed before the device went: op %"
	      PRIu64, ops);
	/* the last op did not complete: a WRITE may have landed in part */
	for (i = 0; i < len; i++) {
		bool inflight = (ops & 1) && i >= off && i < off + n;

		if (r[i] != want[i] && !(inflight && r[i] == sent[i]))
			ht_fail(__FILE__, __LINE__, "byte %zu is 0x%02x after "
				"the device went, want 0x%02x", i, r[i],
				want[i]);
	}
	CHECK(!ibv_get_async_event(ctx, &ev), "no async event");
	CHECK(ev.event_type == IBV_EVENT_DEVICE_FATAL, "async event %s, want "
	      "DEVICE_FATAL", ibv_event_type_str(ev.event_type));
	ibv_ack_async_event(&ev);
	ht_log("traffic: %" PRIu64 " ops, then the device went; %zu bytes "
	       "as the CPU reads them, DEVICE_FATAL", ops, len);
	return 0;
}

/* ---- main ---- */

static const struct test_case cases[] = {
	{ "madv_free", case_madv_free },
	{ "swap", case_swap },
	{ "tmpfs", case_tmpfs },
	{ "ext4", case_ext4 },
	{ "private_file", case_private_file },
	{ "fork_staged", case_fork_staged },
	{ "stage_after_fork", case_stage_after_fork },
	{ "mprotect_staged", case_mprotect_staged },
	{ "stage_fixup", case_stage_fixup },
	{ "ksm_staged", case_ksm_staged },
	{ "hugetlb", case_hugetlb },
	{ "implicit_vmas", case_implicit_vmas },
	{ "munmap_hole", case_munmap_hole },
	{ "race", case_race },
	{ "race_zap", case_race_zap },
};

int main(int argc, char **argv)
{
	int n;

	if (argc == 3 && !strcmp(argv[1], "--traffic"))
		return traffic_until_gone(argv[2]);
	rc_setup();
	pair_create(&P, &mm_opts);
	n = run_cases(cases, ARRAY_SIZE(cases), argc, argv);
	swap_off();
	if (implicit_mr)
		CHECK(!ibv_dereg_mr(implicit_mr), "dereg implicit");
	pair_destroy(&P);
	rc_teardown();
	ht_log("%d cases passed", n);
	return 0;
}
