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
 * - stage_fixup: staging that the kernel refuses after the copy (the
 *   pool's stage_pin knob holds a reference on each source page) while
 *   an RDMA WRITE went into the device copy and MADV_FREE invalidated the
 *   mirror (stage_delay_ms opens the window): the written bytes are in
 *   the system page that stays.
 *
 *   mm [CASE...]
 *
 * suite-timeout: 600
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

static void swap_on(void)
{
	swap_use("zram");
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
	struct ibv_mr *mr = region(buf, LEN, implicit);
	size_t present, swapped;
	struct src s;
	char what[96];

	src_init(&s, LEN);
	memset(buf, 0x11, 2 * LEN);
	/* mirror the pages first: RDMA then finds them present and writable */
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE before MADV_FREE");
	CHECK(!madvise(buf, 2 * LEN, MADV_FREE), "MADV_FREE: %s",
	      strerror(errno));
	fill_random(s.buf, LEN);
	rdma(IBV_WR_RDMA_WRITE, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "WRITE after MADV_FREE");
	/* the control half, which nobody wrote again, must be discarded */
	pageout(buf, 2 * LEN, NPAGES);
	pagemap(ctl, LEN, &present, &swapped);
	CHECK(present + swapped == 0, "MADV_FREE: %zu clean pages were not "
	      "discarded (%zu swapped)", present, swapped);
	check_pattern(ctl, LEN, 0, "discarded MADV_FREE pages");
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

static void knobs_eager(void)
{
	ht_knob("staging", "1");
	ht_knob("stage_threshold", "1");
	ht_knob("stage_window_ms", "10000");
	ht_knob("stage_batch", "64");
	ht_knob("pool_size_mb", "64");
}

static void knobs_default(void)
{
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

static void case_fork_staged(void)
{
	uint8_t *buf = map_anon(LEN), *orig = malloc(LEN);
	int to_child[2], from_child[2], status;
	struct ibv_mr *mr;
	struct src s;
	char c = 0;
	pid_t pid;

	CHECK(orig && !pipe(to_child) && !pipe(from_child), "setup");
	knobs_eager();
	fill_random(orig, LEN);
	memcpy(buf, orig, LEN);
	mr = reg(pd, buf, LEN, ODP);
	src_init(&s, LEN);
	stage(buf, mr, &s);
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

static void case_stage_after_fork(void)
{
	uint8_t *buf = map_anon(LEN);
	struct ibv_mr *mr;
	struct src s;
	int status;
	pid_t pid;

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

static void case_stage_fixup(void)
{
	uint8_t *buf = map_anon(LEN);
	uint64_t deadline, f0;
	struct ibv_mr *mr;
	struct src s;

	knobs_eager();
	ht_knob("stage_pin", "1");
	ht_knob("stage_delay_ms", "1500");
	fill_random(buf, LEN);
	mr = reg(pd, buf, LEN, ODP);
	src_init(&s, LEN);
	f0 = counter("pool_stage_failures");
	rdma(IBV_WR_RDMA_READ, s.buf, s.mr->lkey, buf, mr->rkey, LEN,
	     "READ that stages");
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
	CHECK(counter_grown("pool_stage_failures", f0, NPAGES) - f0 == NPAGES,
	      "the pinned pages did not all fail to stage");
	ht_knob("stage_delay_ms", "0");
	ht_knob("stage_pin", "0");
	check_bytes(buf, s.buf, LEN, "RDMA WRITE during a refused staging");
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	src_fini(&s, LEN);
	munmap(buf, LEN);
	knobs_default();
}

/* ---- main ---- */

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	{ "madv_free", case_madv_free },
	{ "swap", case_swap },
	{ "tmpfs", case_tmpfs },
	{ "ext4", case_ext4 },
	{ "private_file", case_private_file },
	{ "fork_staged", case_fork_staged },
	{ "stage_after_fork", case_stage_after_fork },
	{ "stage_fixup", case_stage_fixup },
};

int main(int argc, char **argv)
{
	size_t i;
	int n = 0;

	rc_setup();
	pair_create(&P, &default_opts);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!case_selected(cases[i].name, argc, argv))
			continue;
		n++;
		ht_log("case %s", cases[i].name);
		cases[i].fn();
	}
	CHECK(n, "no case matches");
	swap_off();
	if (implicit_mr)
		CHECK(!ibv_dereg_mr(implicit_mr), "dereg implicit");
	pair_destroy(&P);
	rc_teardown();
	ht_log("%d cases passed", n);
	return 0;
}
