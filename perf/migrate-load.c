// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Migration under network load: sustained RDMA traffic on an ODP region
 * while the CPU side migrates the same memory, every byte verified.
 *
 *   migrate-load [-d DEV] [-m MIB] [-t SECONDS] [-o CSV] [-P POOL_MIB]
 *
 * The region (MIB, default 16) is one explicit ODP registration, cut into
 * 256 KiB chunks, each with a lock and the seed of the pattern it holds.
 * Four threads run on it at once for SECONDS (default 60):
 *
 * - traffic (RC loopback, one QP): takes a chunk, RDMA WRITEs a new
 *   pattern into it from a pinned buffer, RDMA READs it back into another
 *   and compares every byte;
 * - mover: move_pages() of 64 random pages at a time between NUMA nodes 0
 *   and 1, without any lock (the data must not change);
 * - cpu: takes a chunk, checks every byte with the CPU (pages staged in
 *   the NIC-private pool come back through migrate_to_ram), then writes a
 *   new pattern, which the next RDMA READ checks;
 * - churn: takes a chunk, munmaps it and maps fresh anonymous memory at
 *   the same address (MAP_FIXED), then fills it: the ODP region keeps
 *   covering the range and must pick up the new pages.
 *
 * The pool stages hot pages meanwhile (staging on, threshold 2, a pool of
 * POOL_MIB, default 4, so that eviction runs too). Every second a row goes
 * to CSV (default stdout): seconds, verified RDMA MB/s, and how many
 * pages were moved, staged, evicted, migrated back to RAM, faulted and
 * invalidated, and how many chunks were churned, in that second. At the
 * end every chunk is checked once more through RDMA and the CPU; the
 * program fails if any byte was wrong or if any of the activities never
 * happened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define PAGE		4096
#define CHUNK		(256 << 10)
#define CHUNK_PAGES	(CHUNK / PAGE)
#define MOVE_BATCH	64
#define MPOL_MF_MOVE_	(1 << 1)	/* <numaif.h>, without libnuma */

struct chunk {
	pthread_mutex_t lock;
	uint64_t seed;
};

static struct pair P;
static uint8_t *region;
static size_t region_len, nchunks;
static struct chunk *chunks;
static struct ibv_mr *mr;
static atomic_bool stop;
static atomic_uint_fast64_t next_seed = 1, bad, verified, moved, churned,
	cpu_rounds;

static uint64_t word(uint64_t seed, size_t page, size_t w)
{
	uint64_t v = seed * 0x9e3779b97f4a7c15ull ^ (page << 20) ^ w;

	return v ^ v >> 29;
}

static void fill(uint8_t *dst, size_t c, uint64_t seed)
{
	uint64_t *q = (uint64_t *)dst;
	size_t p, w;

	for (p = 0; p < CHUNK_PAGES; p++)
		for (w = 0; w < PAGE / 8; w++)
			q[p * PAGE / 8 + w] = word(seed, c * CHUNK_PAGES + p, w);
}

/* Bytes of @got (chunk @c) that differ from the pattern of @seed. */
static size_t check(const uint8_t *got, size_t c, uint64_t seed,
		    const char *who)
{
	const uint64_t *q = (const uint64_t *)got;
	size_t p, w, wrong = 0;

	for (p = 0; p < CHUNK_PAGES; p++)
		for (w = 0; w < PAGE / 8; w++)
			if (q[p * PAGE / 8 + w] !=
			    word(seed, c * CHUNK_PAGES + p, w))
				wrong++;
	if (wrong && atomic_fetch_add(&bad, wrong) < 64)
		ht_log("%s: chunk %zu has %zu wrong words (seed %" PRIu64 ")",
		       who, c, wrong, seed);
	return wrong;
}

static uint64_t rnd_r(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *mover(void *arg)
{
	uint64_t s = 0x1234567;
	void *pages[MOVE_BATCH];
	int nodes[MOVE_BATCH], status[MOVE_BATCH], i, to = 1;

	(void)arg;
	while (!atomic_load(&stop)) {
		for (i = 0; i < MOVE_BATCH; i++) {
			pages[i] = region + rnd_r(&s) % (region_len / PAGE) *
				   PAGE;
			nodes[i] = to;
		}
		if (!syscall(SYS_move_pages, 0, MOVE_BATCH, pages, nodes,
			     status, MPOL_MF_MOVE_))
			for (i = 0; i < MOVE_BATCH; i++)
				if (status[i] == to)
					atomic_fetch_add(&moved, 1);
		to ^= 1;
	}
	return NULL;
}

static void *cpu(void *arg)
{
	uint64_t s = 0x7654321;

	(void)arg;
	while (!atomic_load(&stop)) {
		size_t c = rnd_r(&s) % nchunks;
		uint64_t seed;

		pthread_mutex_lock(&chunks[c].lock);
		check(region + c * CHUNK, c, chunks[c].seed, "cpu");
		seed = atomic_fetch_add(&next_seed, 1);
		fill(region + c * CHUNK, c, seed);
		chunks[c].seed = seed;
		pthread_mutex_unlock(&chunks[c].lock);
		atomic_fetch_add(&cpu_rounds, 1);
		usleep(2000);
	}
	return NULL;
}

static void *churn(void *arg)
{
	uint64_t s = 0xabcdef;

	(void)arg;
	while (!atomic_load(&stop)) {
		size_t c = rnd_r(&s) % nchunks;
		uint8_t *at = region + c * CHUNK;
		uint64_t seed;
		void *p;

		pthread_mutex_lock(&chunks[c].lock);
		CHECK(!munmap(at, CHUNK), "munmap: %s", strerror(errno));
		p = mmap(at, CHUNK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		CHECK(p == at, "mmap MAP_FIXED: %s", strerror(errno));
		madvise(at, CHUNK, MADV_NOHUGEPAGE);
		seed = atomic_fetch_add(&next_seed, 1);
		fill(at, c, seed);
		chunks[c].seed = seed;
		pthread_mutex_unlock(&chunks[c].lock);
		atomic_fetch_add(&churned, 1);
		usleep(20000);
	}
	return NULL;
}

static void rdma(enum ibv_wr_opcode op, void *local, uint32_t lkey,
		 size_t c)
{
	struct ibv_wc wc;

	post1(P.a.qp, c, op, local, CHUNK, lkey,
	      (uintptr_t)(region + c * CHUNK), mr->rkey);
	expect_ok(P.a.scq, &wc, c, op == IBV_WR_RDMA_READ ?
		  IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE, P.a.qp, "traffic");
}

static const char * const counter_names[] = {
	"pool_staged", "pool_evicted", "pool_migrate_to_ram", "page_faults",
	"page_invalidations",
};

#define NCOUNTERS ARRAY_SIZE(counter_names)

int main(int argc, char **argv)
{
	size_t mib = 16, pool_mib = 4, c;
	int seconds = 60, opt, t, i;
	uint64_t totals[NCOUNTERS] = {}, prev[NCOUNTERS], now[NCOUNTERS];
	uint64_t last_verified = 0, last_moved = 0, last_churned = 0, end;
	uint64_t next_tick, start;
	pthread_t th[3];
	struct ibv_mr *smr, *dmr;
	uint8_t *src, *dst;
	char pool_mb[24], old[4][16];
	bool pool;
	static const char * const knobs[] = {
		"staging", "stage_threshold", "stage_window_ms", "pool_size_mb",
	};
	FILE *out = stdout;

	while ((opt = getopt(argc, argv, "d:m:t:o:P:")) != -1) {
		switch (opt) {
		case 'd':
			setenv("HMMNIC_DEV", optarg, 1);
			break;
		case 'm':
			mib = strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = atoi(optarg);
			break;
		case 'o':
			out = fopen(optarg, "w");
			CHECK(out, "open %s: %s", optarg, strerror(errno));
			break;
		case 'P':
			pool_mib = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: migrate-load [-d DEV] [-m MIB] [-t SECONDS] [-o CSV] [-P POOL_MIB]\n");
			return 2;
		}
	}
	CHECK(mib > 0 && seconds > 0 && pool_mib > 0, "bad arguments");

	rc_setup();
	pair_create(&P, &default_opts);
	region_len = mib << 20;
	nchunks = region_len / CHUNK;
	region = ht_map_pages(region_len);
	chunks = calloc(nchunks, sizeof(*chunks));
	CHECK(chunks, "calloc");
	for (c = 0; c < nchunks; c++) {
		pthread_mutex_init(&chunks[c].lock, NULL);
		chunks[c].seed = atomic_fetch_add(&next_seed, 1);
		fill(region + c * CHUNK, c, chunks[c].seed);
	}
	mr = reg(pd, region, region_len, ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	src = ht_map_pages(CHUNK);
	dst = ht_map_pages(CHUNK);
	smr = reg(pd, src, CHUNK, ACCESS_ALL);
	dmr = reg(pd, dst, CHUNK, ACCESS_ALL);

	/* without a pool (no CONFIG_DEVICE_PRIVATE), migration alone */
	pool = ht_pool_present();
	if (!pool)
		printf("no staging: the pool is %s\n", ht_pool_absent_why());
	snprintf(pool_mb, sizeof(pool_mb), "%zu", pool_mib);
	for (i = 0; pool && i < 4; i++)
		ht_knob_read(knobs[i], old[i], sizeof(old[i]));
	if (pool) {
		ht_knob("staging", "1");
		ht_knob("stage_threshold", "2");
		ht_knob("stage_window_ms", "100");
		ht_knob("pool_size_mb", pool_mb);
	}

	for (i = 0; i < (int)NCOUNTERS; i++)
		prev[i] = counter(counter_names[i]);
	CHECK(!pthread_create(&th[0], NULL, mover, NULL) &&
	      !pthread_create(&th[1], NULL, cpu, NULL) &&
	      !pthread_create(&th[2], NULL, churn, NULL), "pthread_create");
	fprintf(out, "second,rdma_mb_s,moved,staged,evicted,migrate_to_ram,"
		"page_faults,invalidations,churned\n");
	start = now_ms();
	end = start + seconds * 1000ull;
	next_tick = start + 1000;
	for (c = 0, t = 1; now_ms() < end; c = (c + 1) % nchunks) {
		uint64_t seed = atomic_fetch_add(&next_seed, 1);

		pthread_mutex_lock(&chunks[c].lock);
		fill(src, c, seed);
		rdma(IBV_WR_RDMA_WRITE, src, smr->lkey, c);
		chunks[c].seed = seed;
		rdma(IBV_WR_RDMA_READ, dst, dmr->lkey, c);
		check(dst, c, seed, "rdma");
		pthread_mutex_unlock(&chunks[c].lock);
		atomic_fetch_add(&verified, 2 * CHUNK);

		if (now_ms() < next_tick)
			continue;
		fprintf(out, "%d,%.2f,%" PRIu64, t,
			(double)(atomic_load(&verified) - last_verified) /
			1e6 * 1000 / (now_ms() - next_tick + 1000),
			atomic_load(&moved) - last_moved);
		last_verified = atomic_load(&verified);
		last_moved = atomic_load(&moved);
		for (i = 0; i < (int)NCOUNTERS; i++) {
			now[i] = counter(counter_names[i]);
			fprintf(out, ",%" PRIu64, now[i] - prev[i]);
			totals[i] += now[i] - prev[i];
			prev[i] = now[i];
		}
		fprintf(out, ",%" PRIu64 "\n", atomic_load(&churned) -
			last_churned);
		fflush(out);
		last_churned = atomic_load(&churned);
		next_tick = now_ms() + 1000;
		t++;
	}
	atomic_store(&stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);

	/* every chunk once more, through RDMA and through the CPU */
	for (c = 0; c < nchunks; c++) {
		rdma(IBV_WR_RDMA_READ, dst, dmr->lkey, c);
		check(dst, c, chunks[c].seed, "final rdma");
		check(region + c * CHUNK, c, chunks[c].seed, "final cpu");
	}
	for (i = 0; i < (int)NCOUNTERS; i++) {
		now[i] = counter(counter_names[i]);
		totals[i] += now[i] - prev[i];
	}
	printf("migrate-load seconds=%d region_mib=%zu pool_mib=%zu "
	       "verified_mib=%" PRIu64 " moved=%" PRIu64 " cpu_rounds=%"
	       PRIu64 " churned=%" PRIu64, seconds, mib, pool_mib,
	       atomic_load(&verified) >> 20, atomic_load(&moved),
	       atomic_load(&cpu_rounds), atomic_load(&churned));
	for (i = 0; i < (int)NCOUNTERS; i++)
		printf(" %s=%" PRIu64, counter_names[i], totals[i]);
	printf(" mismatches=%" PRIu64 "\n", atomic_load(&bad));
	fflush(stdout);

	for (i = 0; pool && i < 4; i++)
		ht_knob(knobs[i], old[i]);
	CHECK(!atomic_load(&bad), "%" PRIu64 " wrong words",
	      atomic_load(&bad));
	CHECK(atomic_load(&moved) && atomic_load(&churned) &&
	      atomic_load(&cpu_rounds), "a CPU-side activity never ran");
	for (i = 0; i < (int)NCOUNTERS; i++)
		CHECK(totals[i], "%s never moved", counter_names[i]);
	CHECK(!ibv_dereg_mr(mr) && !ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr),
	      "dereg_mr");
	pair_destroy(&P);
	rc_teardown();
	if (out != stdout)
		fclose(out);
	return 0;
}
