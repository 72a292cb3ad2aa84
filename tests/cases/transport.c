// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Transport limits that a peer or a large request can reach: RC QPs in
 * loopback (rctest.h), every byte and every completion checked.
 *
 * - babble: a requester whose peer is gone keeps receiving packets that
 *   are no use to it (READ responses another QP's responder sends it):
 *   its retransmission timer still runs out, and the WQE fails with
 *   RETRY_EXC_ERR in about what the retry count allows, not after the
 *   babble stops.
 * - big_read: a 2 GiB RDMA READ (the largest message) at path MTU 256:
 *   8 Mi response packets, half the PSN space, completes with every byte
 *   (the source is an ODP region that reads as zeros but for its last
 *   64 MiB; the destination is 32 views of one 64 MiB memfd, so that the
 *   last 64 MiB are what the views hold). Not run on a -debug kernel
 *   unless BIG_READ_WAIT_S is set.
 * - rx_flood: while a responder answers a long READ, 64 other QPs send
 *   it requests at once: its receive queue is bounded (drop_queue_full
 *   counts the excess), and the READ still delivers every byte.
 * - drain: QPs destroyed or reset with responses queued for them leak
 *   nothing (the socket buffer slab is back where it was).
 *
 *   transport [CASE...]
 *
 * suite-timeout: 900
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define ODP	(ACCESS_ALL | IBV_ACCESS_ON_DEMAND)
#define MiB	(1UL << 20)

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
	return p;
}

/* ---- babble ---- */

struct babbler {
	uint32_t target_qpn;
	uint8_t *buf;
	struct ibv_mr *mr;
	volatile int stop;
	unsigned long rounds;
};

/*
 * X asks B2 for READs; B2 is connected to the target, so its responses
 * go there. X never hears back and is replaced every round.
 */
static void *babble_fn(void *arg)
{
	static const struct rc_opts quiet = {
		.timeout = 31, .retry_cnt = 7, .rnr_retry = 7,
	};
	struct babbler *b = arg;
	struct end x, b2;
	int i;

	while (!b->stop) {
		end_create(&x, IBV_QPT_RC, 0);
		end_create(&b2, IBV_QPT_RC, 0);
		rc_init(x.qp);
		rc_init(b2.qp);
		rc_connect(x.qp, b2.qp->qp_num, 0x500, 0x100, &quiet);
		rc_connect(b2.qp, b->target_qpn, 0x100, 0x500, &quiet);
		for (i = 0; i < 16; i++)
			post1(x.qp, i, IBV_WR_RDMA_READ, b->buf, 4096,
			      b->mr->lkey, (uintptr_t)b->buf + 4096,
			      b->mr->rkey);
		sleep_us(20000);
		end_destroy(&x);
		end_destroy(&b2);
		b->rounds++;
	}
	return NULL;
}

static void case_babble(void)
{
	static const struct rc_opts o = {
		.timeout = 14, .retry_cnt = 2, .rnr_retry = 7,
	};
	struct babbler b = { 0 };
	uint8_t *buf = map_anon(65536);
	struct ibv_mr *mr = reg(pd, buf, 65536, ACCESS_ALL);
	uint64_t t0, dt, rx0;
	unsigned long rounds;
	struct pair p;
	pthread_t t;

	pair_create(&p, &o);
	end_destroy_qp(&p.b);
	b.target_qpn = p.a.qp->qp_num;
	b.buf = buf;
	b.mr = mr;
	CHECK(!pthread_create(&t, NULL, babble_fn, &b), "pthread_create");
	while (b.rounds < 3)
		sleep_us(10000);
	rx0 = counter("drop_duplicate");
	t0 = now_ms();
	post1(p.a.qp, 1, IBV_WR_SEND, buf, 64, mr->lkey, 0, 0);
	expect_err(p.a.scq, 1, IBV_WC_RETRY_EXC_ERR, p.a.qp, 20000,
		   "SEND to a gone peer while another QP babbles at us");
	dt = now_ms() - t0;
	rounds = b.rounds;
	b.stop = 1;
	pthread_join(t, NULL);
	ht_log("  RETRY_EXC_ERR after %" PRIu64 " ms, %lu babble rounds, "
	       "%" PRIu64 " useless packets", dt, rounds,
	       counter("drop_duplicate") - rx0);
	CHECK(counter("drop_duplicate") > rx0, "nothing babbled at the QP");
	/* 3 tries of 67 ms; TCG and a loaded host get ten times that */
	CHECK(dt < 2500, "the babble kept the retransmission timer from "
	      "running out (%" PRIu64 " ms)", dt);
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	munmap(buf, 65536);
}

/* ---- 2 GiB READ at MTU 256 ---- */

/*
 * How long the 2 GiB READ may take: 10 minutes (it takes about 100 s);
 * BIG_READ_WAIT_S overrides, and poll_one_ms() scales either for the
 * debug kernel.
 */
static int big_read_wait_ms(void)
{
	if (getenv("BIG_READ_WAIT_S"))
		return atoi(getenv("BIG_READ_WAIT_S")) * 1000;
	return 600 * 1000;
}

static void case_big_read(void)
{
	static const struct rc_opts o = {
		.timeout = 18, .retry_cnt = 7, .rnr_retry = 7,
		.mtu = IBV_MTU_256,
	};
	const size_t total = 2048 * MiB, view = 64 * MiB;
	uint8_t *src = map_anon(total), *dst, *tail = src + total - view;
	struct ibv_mr *smr, *dmr;
	uint64_t t0;
	struct ibv_wc wc;
	struct pair p;
	size_t i;
	int fd;

	/*
	 * On the debug kernel (KASAN, lockdep, kmemleak under TCG) the 8 Mi
	 * responses had not all gone out after an hour: there it runs only
	 * when BIG_READ_WAIT_S asks for it. The split into requests and the
	 * PSN wrap it needs run there in mtu_matrix and fuzz dup_read.
	 */
	if (slow_kernel_factor() > 1 && !getenv("BIG_READ_WAIT_S")) {
		ht_log("  big_read: not run on a -debug kernel (over an hour there; BIG_READ_WAIT_S=SECONDS runs it)");
		return;
	}
	fill_random(tail, view);
	fd = memfd_create("hmmnic-big-read", 0);
	CHECK(fd >= 0 && !ftruncate(fd, view), "memfd: %s", strerror(errno));
	dst = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_NORESERVE, -1, 0);
	CHECK(dst != MAP_FAILED, "mmap: %s", strerror(errno));
	for (i = 0; i < total / view; i++)
		CHECK(mmap(dst + i * view, view, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_FIXED, fd, 0) == dst + i * view,
		      "map view %zu: %s", i, strerror(errno));
	smr = reg(pd, src, total, ODP);
	dmr = reg(pd, dst, total, ODP);
	pair_create(&p, &o);
	t0 = now_ms();
	post1(p.a.qp, 7, IBV_WR_RDMA_READ, dst, (uint32_t)total, dmr->lkey,
	      (uintptr_t)src, smr->rkey);
	poll_one_ms(p.a.scq, &wc, big_read_wait_ms(), "2 GiB READ at MTU 256");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 7 &&
	      wc.byte_len == total, "2 GiB READ at MTU 256: %s, %u bytes",
	      ibv_wc_status_str(wc.status), wc.byte_len);
	ht_log("  2 GiB READ at MTU 256 in %" PRIu64 " ms", now_ms() - t0);
	check_bytes(dst, tail, view, "the last 64 MiB of a 2 GiB READ");
	/* the views are one memory: the zeros went through it before */
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr), "dereg_mr");
	munmap(dst, total);
	munmap(src, total);
	close(fd);
}

/* ---- a flood of requests at a busy responder ---- */

#define FLOODERS	64

static const struct rc_opts flood_opts = {
	.timeout = 18, .retry_cnt = 7, .rnr_retry = 7,
};

static void case_rx_flood(void)
{
	const size_t len = 64 * MiB;
	uint8_t *src = map_anon(len), *dst = map_anon(len);
	uint8_t *wbuf = map_anon(65536);
	struct ibv_mr *smr = reg(pd, src, len, ACCESS_ALL);
	struct ibv_mr *dmr = reg(pd, dst, len, ACCESS_ALL);
	struct ibv_mr *wmr = reg(pd, wbuf, 65536, ACCESS_ALL);
	struct end c[FLOODERS];
	struct rc_opts o;
	uint64_t d0;
	struct ibv_wc wc;
	struct pair p;
	int i, j;

	fill_random(src, len);
	/*
	 * a's READ requests queue behind the flood at b (it is split into
	 * requests of 2048 responses): a waits 1 s per try, while the
	 * flooders give up after 8 tries of 67 ms. The debug kernel drains
	 * the flood many times slower (its eight tries of 1 s ran out there):
	 * a waits 4 s per try on it.
	 */
	o = flood_opts;
	if (slow_kernel_factor() > 1)
		o.timeout = 20;
	pair_create(&p, &o);
	for (i = 0; i < FLOODERS; i++) {
		end_create(&c[i], IBV_QPT_RC, 0);
		rc_init(c[i].qp);
		/* PSNs b does not expect: b drops them once queued */
		rc_connect(c[i].qp, p.b.qp->qp_num, 0, 0x700000, &default_opts);
	}
	d0 = counter("drop_queue_full");
	post1(p.a.qp, 1, IBV_WR_RDMA_READ, dst, len, dmr->lkey,
	      (uintptr_t)src, smr->rkey);
	for (i = 0; i < FLOODERS; i++)
		for (j = 0; j < QP_WR; j++)
			post1(c[i].qp, j, IBV_WR_RDMA_WRITE, wbuf, 0,
			      wmr->lkey, (uintptr_t)wbuf, wmr->rkey);
	/* a debug kernel takes minutes for this READ */
	poll_one_ms(p.a.scq, &wc, 300000, "READ while b is flooded");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 1,
	      "READ while b is flooded: %s", ibv_wc_status_str(wc.status));
	check_bytes(dst, src, len, "READ while the responder was flooded");
	CHECK(counter_grown("drop_queue_full", d0, 1) > d0,
	      "%d requests at a busy responder: nothing was dropped",
	      FLOODERS * QP_WR);
	ht_log("  %" PRIu64 " flood packets dropped at the bound (%d sent, "
	       "and their retransmissions)", counter("drop_queue_full") - d0,
	       FLOODERS * QP_WR);
	for (i = 0; i < FLOODERS; i++)
		end_destroy(&c[i]);
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr) && !ibv_dereg_mr(wmr),
	      "dereg_mr");
	munmap(src, len);
	munmap(dst, len);
	munmap(wbuf, 65536);
}

/* ---- nothing left behind ---- */

/*
 * Active objects of slab cache @name, from /proc/slabinfo. SLUB counts the
 * free objects of per-CPU slabs as active; shrinking the cache first
 * flushes those, so that the count does not depend on what each CPU has
 * cached (which differs between kernels' configurations).
 */
static long slab_active(const char *name)
{
	char line[512], n[64], path[128];
	long active = -1, v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", name);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	f = fopen("/proc/slabinfo", "r");
	CHECK(f, "open /proc/slabinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", n, &v) == 2 && !strcmp(n, name))
			active = v;
	fclose(f);
	CHECK(active >= 0, "no slab cache %s", name);
	return active;
}

#define INLINE_PEER	"/sys/module/hmmnic/parameters/inline_peer"

static void case_drain(void)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	uint8_t *buf = map_anon(1 << 20);
	struct ibv_mr *mr = reg(pd, buf, 1 << 20, ACCESS_ALL);
	uint64_t d0 = counter("drop_qp_state");
	long s0, s1;
	struct pair p;
	int i, j;

	/* the peer runs in its own worker, so responses are in flight */
	ht_write_file(INLINE_PEER, "0");
	s0 = slab_active("skbuff_head_cache");
	for (i = 0; i < 300; i++) {
		pair_create(&p, &default_opts);
		for (j = 0; j < 16; j++)
			post1(p.a.qp, j, j & 1 ? IBV_WR_RDMA_READ :
			      IBV_WR_RDMA_WRITE, buf, 32768, mr->lkey,
			      (uintptr_t)buf + 65536 * (j + 1), mr->rkey);
		sleep_us(rnd() % 2000);
		/* responses are on their way to a: reset or destroy it now */
		if (i & 1)
			modify(p.a.qp, &attr, IBV_QP_STATE, "RESET");
		end_destroy(&p.a);
		end_destroy(&p.b);
	}
	ht_write_file(INLINE_PEER, "1");
	sleep_us(200000);
	s1 = slab_active("skbuff_head_cache");
	ht_log("  skbuff_head_cache: %ld -> %ld active; %" PRIu64
	       " queued packets dropped with their QP", s0, s1,
	       counter("drop_qp_state") - d0);
	CHECK(s1 - s0 < 150, "%ld socket buffers more after 300 QPs were "
	      "destroyed or reset with responses queued", s1 - s0);
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	munmap(buf, 1 << 20);
}

static const struct test_case cases[] = {
	{ "babble", case_babble },
	{ "rx_flood", case_rx_flood },
	{ "drain", case_drain },
	{ "big_read", case_big_read },
};

int main(int argc, char **argv)
{
	int n;

	rc_setup();
	n = run_cases(cases, ARRAY_SIZE(cases), argc, argv);
	rc_teardown();
	ht_log("%d cases passed", n);
	return 0;
}
