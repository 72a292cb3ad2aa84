// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The data path, byte for byte, and its error paths, on RC and UD QPs
 * connected to each other in loopback through GID 1 (the IPv4-mapped GID
 * of 192.0.2.1):
 *
 * - SEND/RECV of 0 bytes to 1 MiB (one MTU, either side of it, many
 *   packets), and a SEND gathered from 3 SGEs scattered into 2; SEND with
 *   immediate; inline SEND whose source changes right after post_send;
 *   RDMA WRITE (with and without immediate) and READ of up to 1 MiB at odd
 *   offsets, with the bytes around the target left alone; atomic
 *   compare-and-swap (hit and miss) and fetch-and-add; 64 WRITEs and a
 *   SEND outstanding at once. Every received byte is compared with what
 *   was sent, and every completion's status, opcode, byte_len and QP
 *   number with what it must be. The first QP's send PSN starts just
 *   below 2^24, so long messages wrap the PSN.
 * - SRQ: a limit armed at 4 raises one SRQ_LIMIT_REACHED when the SRQ
 *   drops below it, and is disarmed (0) afterwards.
 * - UD: three SENDs through an address handle arrive with the GRH space
 *   holding the IPv4 header, and a SEND larger than the port MTU fails.
 * - Errors, each on a fresh pair of QPs: wrong rkey, READ past the end of
 *   an MR, WRITE to an MR without remote write, bad lkey, lkey of another
 *   PD, SEND longer than the receive buffer, posting before RTS, too many
 *   SGEs, RNR retries exhausted, transport retries exhausted (peer gone),
 *   flushing of WRs posted in error and on a move to ERR, and overflow of
 *   a CQ (IBV_EVENT_CQ_ERR).
 * - Rings that user space broke, found through /proc/self/maps and written
 *   behind the provider's back: a send queue producer far ahead or behind
 *   (QP_FATAL), a send slot full of 0xff bytes (error completion), a
 *   receive queue producer far ahead (receiver QP_FATAL, the SEND fails),
 *   a CQ consumer ahead of the producer (CQ_ERR), and a receive queue
 *   consumer moved back or rewritten in a loop during a flush (ignored:
 *   the kernel keeps its own position, no WQE is taken twice).
 * - The port counters tx_packets, rx_packets, err_naks_sent and
 *   err_naks_rcvd move with the traffic.
 *
 *   datapath [CASE...]
 *
 * runs the cases whose names match one of the glob patterns (default: all,
 * in order); HMMNIC_SEED repeats the random data of an earlier run.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rdma/hmmnic-abi.h>

#include "hmmtest.h"
#include "rctest.h"

#define BUF_SIZE	(2 << 20)
#define MIB		(1 << 20)
#define QKEY		0x11111111

/* Two registered buffers: the "local" side a, the "remote" side b. */
static uint8_t *abuf, *bbuf;
static struct ibv_mr *amr, *bmr;

/* ---- 1: SEND/RECV ---- */

static void send_recv_one(struct pair *p, uint32_t len)
{
	/* Odd offsets, and 64 guard bytes after the receive buffer's end. */
	uint8_t *src = abuf + 3, *dst = bbuf + 5;
	uint32_t room = len + 64;
	struct ibv_wc wc;
	char what[64];

	snprintf(what, sizeof(what), "SEND %u bytes", len);
	fill_random(src, len);
	fill_pattern(dst, room + 64, 0xa5);
	post_recv1(p->b.qp, 1000 + len, dst, room, bmr->lkey);
	post1(p->a.qp, len, IBV_WR_SEND, src, len, amr->lkey, 0, 0);

	expect_ok(p->a.scq, &wc, len, IBV_WC_SEND, p->a.qp, what);
	expect_ok(p->b.rcq, &wc, 1000 + len, IBV_WC_RECV, p->b.qp, what);
	CHECK(wc.byte_len == len, "%s: byte_len %u", what, wc.byte_len);
	CHECK(!(wc.wc_flags & IBV_WC_WITH_IMM), "%s: WITH_IMM set", what);
	check_bytes(dst, src, len, what);
	check_pattern(dst + len, room + 64 - len, 0xa5, what);
}

static void send_recv_sge(struct pair *p)
{
	/* 3 pieces of a's buffer into 2 pieces of b's. */
	static const uint32_t slen[3] = { 100, 2000, 3001 };
	static const uint32_t rlen[2] = { 3000, 4000 };
	uint8_t *spart[3] = { abuf + 10, abuf + 70000, abuf + 9000 };
	uint8_t *rpart[2] = { bbuf + 50001, bbuf + 7 };
	uint8_t want[5101], got[5101];
	struct ibv_sge ssge[3], rsge[2], unused;
	struct ibv_send_wr wr;
	struct ibv_wc wc;
	uint32_t total = 0, i;

	for (i = 0; i < 3; i++) {
		fill_random(spart[i], slen[i]);
		memcpy(want + total, spart[i], slen[i]);
		ssge[i] = (struct ibv_sge){ (uintptr_t)spart[i], slen[i],
					    amr->lkey };
		total += slen[i];
	}
	for (i = 0; i < 2; i++) {
		fill_pattern(rpart[i], rlen[i] + 16, 0x5a);
		rsge[i] = (struct ibv_sge){ (uintptr_t)rpart[i], rlen[i],
					    bmr->lkey };
	}
	post_recv(p->b.qp, 77, rsge, 2);
	wr_init(&wr, &unused, 78, IBV_WR_SEND, NULL, 0, 0);
	wr.sg_list = ssge;
	wr.num_sge = 3;
	post(p->a.qp, &wr);

	expect_ok(p->a.scq, &wc, 78, IBV_WC_SEND, p->a.qp, "SEND 3 SGEs");
	expect_ok(p->b.rcq, &wc, 77, IBV_WC_RECV, p->b.qp, "RECV 2 SGEs");
	CHECK(wc.byte_len == total, "3 -> 2 SGEs: byte_len %u, want %u",
	      wc.byte_len, total);
	memcpy(got, rpart[0], rlen[0]);
	memcpy(got + rlen[0], rpart[1], total - rlen[0]);
	check_bytes(got, want, total, "3 -> 2 SGEs");
	check_pattern(rpart[0] + rlen[0], 16, 0x5a, "after RECV SGE 0");
	check_pattern(rpart[1] + total - rlen[0],
		      rlen[1] - (total - rlen[0]) + 16, 0x5a,
		      "after the data in RECV SGE 1");
}

static void case_send_recv(struct pair *p)
{
	const uint32_t mtu = 128u << test_mtu, npkts = MIB / mtu;
	const uint32_t sizes[] = {
		0, 1, mtu - 1, mtu, mtu + 1, 65536 + 7, MIB,
	};
	uint64_t tx = counter("tx_packets"), rx = counter("rx_packets");
	uint64_t tx2, rx2;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		send_recv_one(p, sizes[i]);
	send_recv_sge(p);
	/* 1 MiB alone is MIB / mtu packets each way. */
	tx2 = counter_grown("tx_packets", tx, npkts);
	rx2 = counter_grown("rx_packets", rx, npkts);
	CHECK(tx2 >= tx + npkts && rx2 >= rx + npkts,
	      "counters: tx_packets %" PRIu64 " -> %" PRIu64
	      ", rx_packets %" PRIu64 " -> %" PRIu64, tx, tx2, rx, rx2);
	ht_log("SEND/RECV: 0 B to 1 MiB, 3 SGEs into 2; tx_packets +%" PRIu64
	       ", rx_packets +%" PRIu64, tx2 - tx, rx2 - rx);
}

/* ---- 2: SEND with immediate ---- */

static void case_send_imm(struct pair *p)
{
	static const uint32_t sizes[] = { 0, 17, 3000 };
	uint8_t *src = abuf, *dst = bbuf;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	struct ibv_wc wc;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint32_t imm = 0x12345600 + i, len = sizes[i];

		fill_random(src, len);
		post_recv1(p->b.qp, 200 + i, dst, 4096, bmr->lkey);
		wr_init(&wr, &sge, 100 + i, IBV_WR_SEND_WITH_IMM, src, len,
			amr->lkey);
		wr.imm_data = htobe32(imm);
		post(p->a.qp, &wr);

		expect_ok(p->a.scq, &wc, 100 + i, IBV_WC_SEND, p->a.qp,
			  "SEND_WITH_IMM");
		expect_ok(p->b.rcq, &wc, 200 + i, IBV_WC_RECV, p->b.qp,
			  "RECV of SEND_WITH_IMM");
		CHECK(wc.wc_flags & IBV_WC_WITH_IMM,
		      "SEND_WITH_IMM %u bytes: no IBV_WC_WITH_IMM (flags 0x%x)",
		      len, wc.wc_flags);
		CHECK(be32toh(wc.imm_data) == imm,
		      "SEND_WITH_IMM: imm_data 0x%08x, want 0x%08x",
		      be32toh(wc.imm_data), imm);
		CHECK(wc.byte_len == len, "SEND_WITH_IMM: byte_len %u, want %u",
		      wc.byte_len, len);
		check_bytes(dst, src, len, "SEND_WITH_IMM");
	}
	ht_log("SEND_WITH_IMM: 0, 17, 3000 bytes; imm_data and WITH_IMM");
}

/* ---- 3: inline SEND ---- */

static void inline_one(struct pair *p, uint32_t len, int pieces)
{
	uint8_t *src = malloc(len + 1), *orig = malloc(len + 1);
	uint8_t *dst = bbuf + 1;
	struct ibv_sge sge[2];
	struct ibv_send_wr wr;
	struct ibv_wc wc;
	char what[64];

	CHECK(src && orig, "malloc");
	snprintf(what, sizeof(what), "inline SEND %u bytes in %d SGEs", len,
		 pieces);
	fill_random(src, len);
	memcpy(orig, src, len);
	fill_pattern(dst, len + 64, 0x3c);
	post_recv1(p->b.qp, 300, dst, len + 32, bmr->lkey);

	/* Not registered: inline data needs no lkey. */
	wr_init(&wr, &sge[0], 301, IBV_WR_SEND, src, len, 0);
	wr.send_flags |= IBV_SEND_INLINE;
	if (pieces == 2) {
		sge[0].length = len / 3;
		sge[1] = (struct ibv_sge){ (uintptr_t)src + len / 3,
					   len - len / 3, 0 };
		wr.num_sge = 2;
	}
	post(p->a.qp, &wr);
	/* The WR owns a copy now: change and free the source at once. */
	memset(src, 0xee, len);
	free(src);

	expect_ok(p->a.scq, &wc, 301, IBV_WC_SEND, p->a.qp, what);
	expect_ok(p->b.rcq, &wc, 300, IBV_WC_RECV, p->b.qp, what);
	CHECK(wc.byte_len == len, "%s: byte_len %u", what, wc.byte_len);
	check_bytes(dst, orig, len, what);
	check_pattern(dst + len, 64, 0x3c, what);
	free(orig);
}

static void case_inline(struct pair *p)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;
	uint32_t max;
	int ret;

	ret = ibv_query_qp(p->a.qp, &attr, IBV_QP_CAP, &init);
	CHECK(!ret, "query_qp: %s", strerror(ret));
	max = attr.cap.max_inline_data;
	CHECK(max >= QP_INLINE, "max_inline_data %u, asked for %u", max,
	      QP_INLINE);
	inline_one(p, 1, 1);
	inline_one(p, max / 2 + 1, 1);
	inline_one(p, max, 1);
	inline_one(p, max, 2);

	/* One byte more than max_inline_data: refused. */
	wr_init(&wr, &sge, 302, IBV_WR_SEND, abuf, max + 1, 0);
	wr.send_flags |= IBV_SEND_INLINE;
	bad = NULL;
	ret = ibv_post_send(p->a.qp, &wr, &bad);
	CHECK(ret && bad == &wr, "inline SEND of %u bytes (max %u): %d",
	      max + 1, max, ret);
	poll_none(p->a.scq, 20, "after a refused inline SEND");
	ht_log("inline SEND: 1 to %u bytes (max_inline_data), source changed "
	       "after post_send; %u bytes refused", max, max + 1);
}

/* ---- 4: RDMA WRITE ---- */

/* With @imm, a receive WR numbered 400 + @len must be posted. */
static void write_one(struct pair *p, uint32_t len, bool imm)
{
	uint32_t off = 4093;	/* odd, across a page boundary */
	uint8_t *src = abuf + 11, *dst = bbuf + off;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	struct ibv_wc wc;
	char what[64];

	snprintf(what, sizeof(what), "RDMA WRITE%s %u bytes",
		 imm ? "_WITH_IMM" : "", len);
	fill_random(src, len);
	fill_pattern(bbuf, off + len + 64, 0x77);
	wr_init(&wr, &sge, 500 + len,
		imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE, src, len,
		amr->lkey);
	wr.wr.rdma.remote_addr = (uintptr_t)dst;
	wr.wr.rdma.rkey = bmr->rkey;
	wr.imm_data = htobe32(0xabc00000 + len);
	post(p->a.qp, &wr);

	expect_ok(p->a.scq, &wc, 500 + len, IBV_WC_RDMA_WRITE, p->a.qp, what);
	if (imm) {
		expect_ok(p->b.rcq, &wc, 400 + len, IBV_WC_RECV_RDMA_WITH_IMM,
			  p->b.qp, what);
		CHECK(wc.wc_flags & IBV_WC_WITH_IMM, "%s: no WITH_IMM", what);
		CHECK(be32toh(wc.imm_data) == 0xabc00000 + len,
		      "%s: imm_data 0x%08x", what, be32toh(wc.imm_data));
		CHECK(wc.byte_len == len, "%s: byte_len %u", what,
		      wc.byte_len);
	}
	check_bytes(dst, src, len, what);
	check_pattern(bbuf, off, 0x77, "before the WRITE target");
	check_pattern(dst + len, 64, 0x77, "after the WRITE target");
}

static void case_write(struct pair *p)
{
	static const uint32_t sizes[] = { 0, 1, 4096 * 3 + 5, MIB };
	static const uint32_t imm_sizes[] = { 0, 4096 * 3 + 5, MIB };
	size_t i;

	/* Plain WRITEs leave a posted receive alone; WITH_IMM takes it. */
	post_recv(p->b.qp, 400 + imm_sizes[0], NULL, 0);
	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		write_one(p, sizes[i], false);
	poll_none(p->b.rcq, 10, "receiver after plain WRITEs");
	for (i = 0; i < ARRAY_SIZE(imm_sizes); i++) {
		if (i)
			post_recv(p->b.qp, 400 + imm_sizes[i], NULL, 0);
		write_one(p, imm_sizes[i], true);
	}
	ht_log("RDMA WRITE: 0 B to 1 MiB; WRITE_WITH_IMM consumes a receive "
	       "with byte_len and imm");
}

/* ---- 5: RDMA READ ---- */

static void case_read(struct pair *p)
{
	static const uint32_t sizes[] = { 1, 5000, MIB };
	uint8_t *src = bbuf + 4095, *dst = abuf + 1;
	struct ibv_wc wc;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint32_t len = sizes[i];
		char what[64];

		snprintf(what, sizeof(what), "RDMA READ %u bytes", len);
		fill_random(src, len);
		fill_pattern(dst, len + 64, 0x11);
		post1(p->a.qp, 600 + i, IBV_WR_RDMA_READ, dst, len, amr->lkey,
		      (uintptr_t)src, bmr->rkey);
		expect_ok(p->a.scq, &wc, 600 + i, IBV_WC_RDMA_READ, p->a.qp,
			  what);
		CHECK(wc.byte_len == len, "%s: byte_len %u", what,
		      wc.byte_len);
		check_bytes(dst, src, len, what);
		check_pattern(dst + len, 64, 0x11, what);
	}
	ht_log("RDMA READ: 1, 5000, 1 MiB");
}

/* ---- 6: atomics ---- */

static void atomic_one(struct pair *p, uint64_t wr_id,
		       enum ibv_wr_opcode op, uint64_t cmp_add, uint64_t swap,
		       uint64_t want_orig, uint64_t want_remote)
{
	volatile uint64_t *local = (uint64_t *)(abuf + 64);
	volatile uint64_t *remote = (uint64_t *)(bbuf + 4088);
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	struct ibv_wc wc;
	const char *what = op == IBV_WR_ATOMIC_CMP_AND_SWP ? "CMP_AND_SWP" :
			   "FETCH_AND_ADD";

	*local = 0xdeaddeaddeaddeadULL;
	wr_init(&wr, &sge, wr_id, op, (void *)local, 8, amr->lkey);
	wr.wr.atomic.remote_addr = (uintptr_t)remote;
	wr.wr.atomic.rkey = bmr->rkey;
	wr.wr.atomic.compare_add = cmp_add;
	wr.wr.atomic.swap = swap;
	post(p->a.qp, &wr);
	expect_ok(p->a.scq, &wc, wr_id, op == IBV_WR_ATOMIC_CMP_AND_SWP ?
		  IBV_WC_COMP_SWAP : IBV_WC_FETCH_ADD, p->a.qp, what);
	CHECK(wc.byte_len == 8, "%s: byte_len %u", what, wc.byte_len);
	CHECK(*local == want_orig, "%s #%" PRIu64 ": returned 0x%" PRIx64
	      ", want the original 0x%" PRIx64, what, wr_id, *local,
	      want_orig);
	CHECK(*remote == want_remote, "%s #%" PRIu64 ": remote is 0x%" PRIx64
	      ", want 0x%" PRIx64, what, wr_id, *remote, want_remote);
}

static void case_atomic(struct pair *p)
{
	volatile uint64_t *remote = (uint64_t *)(bbuf + 4088);
	const uint64_t a = 0x0123456789abcdefULL, b = 0xfedcba9876543210ULL;
	struct ibv_device_attr attr;

	CHECK(!ibv_query_device(ctx, &attr), "query_device");
	CHECK(attr.atomic_cap != IBV_ATOMIC_NONE, "atomic_cap is NONE");

	*remote = a;
	/* compare matches: swapped */
	atomic_one(p, 700, IBV_WR_ATOMIC_CMP_AND_SWP, a, b, a, b);
	/* compare does not match: unchanged, original returned */
	atomic_one(p, 701, IBV_WR_ATOMIC_CMP_AND_SWP, a, 42, b, b);
	atomic_one(p, 702, IBV_WR_ATOMIC_FETCH_AND_ADD, 0x10, 0, b, b + 0x10);
	/* wraps around 2^64 */
	atomic_one(p, 703, IBV_WR_ATOMIC_FETCH_AND_ADD, ~0ULL - b, 0,
		   b + 0x10, 0xf);
	ht_log("atomics: CMP_AND_SWP hit and miss, FETCH_AND_ADD; "
	       "atomic_cap %d", attr.atomic_cap);
}

/* ---- 7: many WRs outstanding ---- */

#define NR_WRITES	64
#define WRITE_SIZE	8192

static void case_many(struct pair *p)
{
	struct ibv_send_wr wr[NR_WRITES + 1], *bad = NULL;
	struct ibv_sge sge[NR_WRITES + 1];
	uint8_t *send_dst = bbuf + NR_WRITES * WRITE_SIZE + 4096;
	uint8_t *send_src = abuf + NR_WRITES * WRITE_SIZE + 4096;
	struct ibv_wc wc;
	int i, ret;

	fill_random(abuf, NR_WRITES * WRITE_SIZE);
	fill_random(send_src, 4000);
	fill_pattern(bbuf, NR_WRITES * WRITE_SIZE + 8192, 0x99);
	post_recv1(p->b.qp, 999, send_dst, 4096, bmr->lkey);
	for (i = 0; i <= NR_WRITES; i++) {
		if (i < NR_WRITES) {
			/* WRITEs land in reverse order of their sources */
			wr_init(&wr[i], &sge[i], i, IBV_WR_RDMA_WRITE,
				abuf + i * WRITE_SIZE, WRITE_SIZE, amr->lkey);
			wr[i].wr.rdma.remote_addr = (uintptr_t)bbuf +
				(NR_WRITES - 1 - i) * WRITE_SIZE;
			wr[i].wr.rdma.rkey = bmr->rkey;
		} else {
			wr_init(&wr[i], &sge[i], i, IBV_WR_SEND, send_src,
				4000, amr->lkey);
		}
		wr[i].next = i < NR_WRITES ? &wr[i + 1] : NULL;
	}
	ret = ibv_post_send(p->a.qp, wr, &bad);
	CHECK(!ret, "post_send of %d WRs: %s (bad_wr #%td)", NR_WRITES + 1,
	      strerror(ret), bad ? bad - wr : -1);

	for (i = 0; i <= NR_WRITES; i++)
		expect_ok(p->a.scq, &wc, i, i < NR_WRITES ? IBV_WC_RDMA_WRITE :
			  IBV_WC_SEND, p->a.qp, "one of 65 outstanding WRs");
	expect_ok(p->b.rcq, &wc, 999, IBV_WC_RECV, p->b.qp,
		  "RECV after 64 WRITEs");
	CHECK(wc.byte_len == 4000, "byte_len %u", wc.byte_len);
	check_bytes(send_dst, send_src, 4000, "SEND after 64 WRITEs");
	for (i = 0; i < NR_WRITES; i++) {
		char what[64];

		snprintf(what, sizeof(what), "WRITE #%d of %d", i, NR_WRITES);
		check_bytes(bbuf + (NR_WRITES - 1 - i) * WRITE_SIZE,
			    abuf + i * WRITE_SIZE, WRITE_SIZE, what);
	}
	ht_log("%d WRITEs of %d bytes and a SEND outstanding, completed in "
	       "order", NR_WRITES, WRITE_SIZE);
}

/* ---- 8: UD ---- */

#define GRH_SIZE	40

static void ud_post(struct end *s, struct ibv_ah *ah, uint32_t dqpn,
		    uint64_t wr_id, void *buf, uint32_t len)
{
	struct ibv_send_wr wr;
	struct ibv_sge sge;

	wr_init(&wr, &sge, wr_id, IBV_WR_SEND, buf, len, amr->lkey);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = dqpn;
	wr.wr.ud.remote_qkey = QKEY;
	post(s->qp, &wr);
}

static void case_ud(void)
{
	static const uint32_t sizes[] = { 1, 600, 1024 };
	struct ibv_ah_attr ah_attr = {
		.is_global = 1,
		.grh = {
			.dgid = gid,
			.sgid_index = GID_INDEX,
			.hop_limit = 64,
		},
		.port_num = PORT,
	};
	const uint8_t *ip4 = gid.raw + 12;
	uint32_t mtu = 128u << port_mtu, slot = GRH_SIZE + 2048;
	struct ibv_send_wr wr, *bad = NULL;
	struct ibv_sge sge;
	struct end s, r;
	struct ibv_ah *ah;
	struct ibv_wc wc;
	size_t i;
	int ret;

	end_create(&s, IBV_QPT_UD, 0);
	end_create(&r, IBV_QPT_UD, 0);
	ud_up(s.qp, QKEY);
	ud_up(r.qp, QKEY);
	ah = ibv_create_ah(pd, &ah_attr);
	CHECK(ah, "create_ah: %s", strerror(errno));

	fill_pattern(bbuf, slot * 4, 0xcc);
	for (i = 0; i < ARRAY_SIZE(sizes) + 1; i++)
		post_recv1(r.qp, 800 + i, bbuf + i * slot, slot, bmr->lkey);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint8_t *src = abuf + i * 4096;

		fill_random(src, sizes[i]);
		ud_post(&s, ah, r.qp->qp_num, 810 + i, src, sizes[i]);
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint8_t *dst = bbuf + i * slot, *grh = dst;
		char what[64];

		snprintf(what, sizeof(what), "UD SEND %u bytes", sizes[i]);
		expect_ok(s.scq, &wc, 810 + i, IBV_WC_SEND, s.qp, what);
		expect_ok(r.rcq, &wc, 800 + i, IBV_WC_RECV, r.qp, what);
		CHECK(wc.wc_flags & IBV_WC_GRH, "%s: no IBV_WC_GRH (0x%x)",
		      what, wc.wc_flags);
		CHECK(wc.src_qp == s.qp->qp_num, "%s: src_qp %u, want %u",
		      what, wc.src_qp, s.qp->qp_num);
		CHECK(wc.byte_len == sizes[i] + GRH_SIZE,
		      "%s: byte_len %u, want %u", what, wc.byte_len,
		      sizes[i] + GRH_SIZE);
		/* IPv4: the header is in the last 20 bytes of the GRH space */
		CHECK(grh[20] >> 4 == 4, "%s: IP version %d in GRH byte 20",
		      what, grh[20] >> 4);
		CHECK(grh[20 + 9] == 17, "%s: IP protocol %d, want 17 (UDP)",
		      what, grh[20 + 9]);
		CHECK(!memcmp(grh + 20 + 12, ip4, 4),
		      "%s: IPv4 saddr %u.%u.%u.%u", what, grh[32], grh[33],
		      grh[34], grh[35]);
		CHECK(!memcmp(grh + 20 + 16, ip4, 4),
		      "%s: IPv4 daddr %u.%u.%u.%u", what, grh[36], grh[37],
		      grh[38], grh[39]);
		check_bytes(dst + GRH_SIZE, abuf + i * 4096, sizes[i], what);
		check_pattern(dst + GRH_SIZE + sizes[i], 16, 0xcc, what);
	}

	/* Larger than the port MTU: refused, or completes in error. */
	wr_init(&wr, &sge, 820, IBV_WR_SEND, abuf, mtu + 1, amr->lkey);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = r.qp->qp_num;
	wr.wr.ud.remote_qkey = QKEY;
	ret = ibv_post_send(s.qp, &wr, &bad);
	if (ret) {
		CHECK(bad == &wr, "UD SEND > MTU refused without bad_wr");
		ht_log("  UD SEND of %u bytes (MTU %u) refused by post_send",
		       mtu + 1, mtu);
	} else {
		poll_one(s.scq, &wc, "UD SEND > MTU");
		CHECK(wc.wr_id == 820 && wc.status != IBV_WC_SUCCESS,
		      "UD SEND of %u bytes, MTU %u: wr_id %" PRIu64
		      " status %s", mtu + 1, mtu, wc.wr_id,
		      ibv_wc_status_str(wc.status));
		ht_log("  UD SEND of %u bytes (MTU %u): %s", mtu + 1, mtu,
		       ibv_wc_status_str(wc.status));
	}
	poll_none(r.rcq, 100, "UD receiver of a SEND > MTU");

	CHECK(!ibv_destroy_ah(ah), "destroy_ah");
	drain_async(0);
	end_destroy(&s);
	end_destroy(&r);
	ht_log("UD: 3 SENDs with GRH/IPv4 header, src_qp, byte_len; "
	       "SEND > MTU fails");
}

/* ---- 9: errors ---- */

static const struct rc_opts rnr0_opts = {
	.timeout = 14, .retry_cnt = 7, .rnr_retry = 0,
};

/* a: RDMA WRITE with a wrong rkey */
static void err_rkey(void)
{
	uint64_t naks_sent = counter("err_naks_sent");
	uint64_t naks_rcvd = counter("err_naks_rcvd");
	uint64_t naks_sent2, naks_rcvd2;
	struct pair p;

	pair_create(&p, &default_opts);
	post1(p.a.qp, 1, IBV_WR_RDMA_WRITE, abuf, 64, amr->lkey,
	      (uintptr_t)bbuf, bmr->rkey ^ 0x5500);
	expect_err(p.a.scq, 1, IBV_WC_REM_ACCESS_ERR, p.a.qp, POLL_MS,
		   "WRITE with a wrong rkey");
	naks_sent2 = counter_grown("err_naks_sent", naks_sent, 1);
	naks_rcvd2 = counter_grown("err_naks_rcvd", naks_rcvd, 1);
	CHECK(naks_sent2 > naks_sent && naks_rcvd2 > naks_rcvd,
	      "err_naks_sent %" PRIu64 " -> %" PRIu64 ", err_naks_rcvd %"
	      PRIu64 " -> %" PRIu64, naks_sent, naks_sent2, naks_rcvd,
	      naks_rcvd2);

	/* k: the QP is in error; new WRs are flushed */
	post1(p.a.qp, 2, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	expect_err(p.a.scq, 2, IBV_WC_WR_FLUSH_ERR, p.a.qp, POLL_MS,
		   "SEND posted after the error");
	post1(p.a.qp, 3, IBV_WR_RDMA_WRITE, abuf, 64, amr->lkey,
	      (uintptr_t)bbuf, bmr->rkey);
	expect_err(p.a.scq, 3, IBV_WC_WR_FLUSH_ERR, p.a.qp, POLL_MS,
		   "WRITE posted after the error");
	post_recv1(p.a.qp, 4, abuf, 64, amr->lkey);
	expect_err(p.a.rcq, 4, IBV_WC_WR_FLUSH_ERR, p.a.qp, POLL_MS,
		   "RECV posted after the error");
	pair_destroy(&p);
	ht_log("error: WRITE with a wrong rkey -> REM_ACCESS_ERR, err_naks "
	       "counted; later SEND, WRITE, RECV flushed");
}

/* b: RDMA READ past the end of the remote MR */
static void err_read_past_end(void)
{
	struct ibv_mr *small;
	struct pair p;

	small = reg(pd, bbuf + 8192, 4096, ACCESS_ALL);
	pair_create(&p, &default_opts);
	post1(p.a.qp, 1, IBV_WR_RDMA_READ, abuf, 64, amr->lkey,
	      (uintptr_t)bbuf + 8192 + 4096 - 32, small->rkey);
	expect_err(p.a.scq, 1, IBV_WC_REM_ACCESS_ERR, p.a.qp, POLL_MS,
		   "READ past the end of the MR");
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(small), "dereg_mr");
	ht_log("error: READ past the end of the MR -> REM_ACCESS_ERR");
}

/* c: RDMA WRITE into an MR without remote write */
static void err_write_no_access(void)
{
	struct ibv_mr *ro;
	struct pair p;

	ro = reg(pd, bbuf, 4096, IBV_ACCESS_LOCAL_WRITE |
		 IBV_ACCESS_REMOTE_READ);
	fill_pattern(bbuf, 4096, 0x44);
	pair_create(&p, &default_opts);
	post1(p.a.qp, 1, IBV_WR_RDMA_WRITE, abuf, 64, amr->lkey,
	      (uintptr_t)bbuf, ro->rkey);
	expect_err(p.a.scq, 1, IBV_WC_REM_ACCESS_ERR, p.a.qp, POLL_MS,
		   "WRITE to an MR without REMOTE_WRITE");
	check_pattern(bbuf, 4096, 0x44, "MR without REMOTE_WRITE");
	pair_destroy(&p);
	CHECK(!ibv_dereg_mr(ro), "dereg_mr");
	ht_log("error: WRITE to an MR without REMOTE_WRITE -> REM_ACCESS_ERR, "
	       "memory unchanged");
}

/* d, e: SEND with an lkey that is not ours */
static void err_lkey(uint32_t lkey, const char *what)
{
	struct pair p;

	pair_create(&p, &default_opts);
	post_recv1(p.b.qp, 5, bbuf, 4096, bmr->lkey);
	post1(p.a.qp, 1, IBV_WR_SEND, abuf, 64, lkey, 0, 0);
	expect_err(p.a.scq, 1, IBV_WC_LOC_PROT_ERR, p.a.qp, POLL_MS, what);
	/* Nothing went out. */
	poll_none(p.b.rcq, 50, what);
	pair_destroy(&p);
	ht_log("error: %s -> LOC_PROT_ERR", what);
}

static void err_other_pd(void)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(ctx);
	struct ibv_mr *mr2;

	CHECK(pd2, "alloc_pd: %s", strerror(errno));
	mr2 = reg(pd2, abuf, 4096, ACCESS_ALL);
	err_lkey(mr2->lkey, "SEND from an MR of another PD");
	CHECK(!ibv_dereg_mr(mr2), "dereg_mr");
	CHECK(!ibv_dealloc_pd(pd2), "dealloc_pd");
}

/*
 * SEND with Invalidate: only a fast registration of a kernel user can be
 * invalidated, so one naming a user MR fails at the responder (the
 * receive completes with REM_INV_REQ_ERR, the sender gets the NAK) and
 * the MR keeps working. User space has nothing to LOCAL_INV, and UD has
 * no SEND with Invalidate: the provider refuses both at post time.
 */
static void err_send_inv(void)
{
	struct ibv_ah_attr ah_attr = {
		.is_global = 1,
		.grh = { .dgid = gid, .sgid_index = GID_INDEX, .hop_limit = 64 },
		.port_num = PORT,
	};
	struct ibv_send_wr wr, *bad;
	struct ibv_ah *ah;
	struct ibv_wc wc;
	struct ibv_sge sge;
	struct end ud;
	struct pair p;

	pair_create(&p, &default_opts);
	post_recv1(p.b.qp, 5, bbuf, 4096, bmr->lkey);
	wr_init(&wr, &sge, 1, IBV_WR_SEND_WITH_INV, abuf, 64, amr->lkey);
	wr.invalidate_rkey = bmr->rkey;
	post(p.a.qp, &wr);
	expect_err(p.a.scq, 1, IBV_WC_REM_INV_REQ_ERR, p.a.qp, POLL_MS,
		   "SEND_WITH_INV naming a user MR");
	expect_err(p.b.rcq, 5, IBV_WC_REM_INV_REQ_ERR, p.b.qp, POLL_MS,
		   "its receive");
	pair_destroy(&p);

	/* the MR still takes a WRITE */
	pair_create(&p, &default_opts);
	fill_random(abuf, 4096);
	post1(p.a.qp, 2, IBV_WR_RDMA_WRITE, abuf, 4096, amr->lkey,
	      (uintptr_t)bbuf, bmr->rkey);
	expect_ok(p.a.scq, &wc, 2, IBV_WC_RDMA_WRITE, p.a.qp, "WRITE after");
	check_bytes(bbuf, abuf, 4096, "WRITE after the failed invalidation");

	wr_init(&wr, &sge, 3, IBV_WR_LOCAL_INV, abuf, 0, amr->lkey);
	wr.invalidate_rkey = bmr->rkey;
	CHECK(ibv_post_send(p.a.qp, &wr, &bad) == EINVAL && bad == &wr,
	      "LOCAL_INV from user space was accepted");
	pair_destroy(&p);

	/* the same WR is fine as a SEND: only the opcode is wrong */
	end_create(&ud, IBV_QPT_UD, 0);
	ud_up(ud.qp, QKEY);
	ah = ibv_create_ah(pd, &ah_attr);
	CHECK(ah, "create_ah: %s", strerror(errno));
	wr_init(&wr, &sge, 4, IBV_WR_SEND_WITH_INV, abuf, 64, amr->lkey);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = ud.qp->qp_num;
	wr.wr.ud.remote_qkey = QKEY;
	CHECK(ibv_post_send(ud.qp, &wr, &bad) == EINVAL,
	      "SEND_WITH_INV on a UD QP was accepted");
	wr.opcode = IBV_WR_SEND;
	post(ud.qp, &wr);
	expect_ok(ud.scq, &wc, 4, IBV_WC_SEND, ud.qp, "UD SEND");
	CHECK(!ibv_destroy_ah(ah), "destroy_ah");
	end_destroy(&ud);
	ht_log("error: SEND_WITH_INV naming a user MR -> REM_INV_REQ_ERR on "
	       "both sides, the MR unchanged; LOCAL_INV and UD SEND_WITH_INV "
	       "refused with EINVAL");
}

/* f: SEND longer than the receive buffer */
static void err_recv_too_short(void)
{
	struct pair p;

	pair_create(&p, &default_opts);
	post_recv1(p.b.qp, 5, bbuf, 1000, bmr->lkey);
	post1(p.a.qp, 1, IBV_WR_SEND, abuf, 3000, amr->lkey, 0, 0);
	expect_err(p.b.rcq, 5, IBV_WC_LOC_LEN_ERR, p.b.qp, POLL_MS,
		   "receiver of a SEND longer than its buffer");
	expect_err(p.a.scq, 1, IBV_WC_REM_INV_REQ_ERR, p.a.qp, POLL_MS,
		   "sender of a SEND longer than the receive buffer");
	pair_destroy(&p);
	ht_log("error: SEND longer than the receive buffer -> LOC_LEN_ERR "
	       "and REM_INV_REQ_ERR");
}

/* g: post_send before RTS */
static void err_post_not_ready(void)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;
	struct pair p;
	int ret;

	end_create(&p.a, IBV_QPT_RC, 0);
	end_create(&p.b, IBV_QPT_RC, 0);
	wr_init(&wr, &sge, 1, IBV_WR_SEND, abuf, 64, amr->lkey);
	bad = NULL;
	ret = ibv_post_send(p.a.qp, &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr,
	      "post_send in RESET: %d (%s), bad_wr %s", ret, strerror(ret),
	      bad == &wr ? "set" : "not set");
	rc_init(p.a.qp);
	rc_init(p.b.qp);
	wr.wr_id = 2;
	bad = NULL;
	ret = ibv_post_send(p.a.qp, &wr, &bad);
	CHECK(ret == EINVAL && bad == &wr,
	      "post_send in INIT: %d (%s), bad_wr %s", ret, strerror(ret),
	      bad == &wr ? "set" : "not set");
	poll_none(p.a.scq, 50, "after post_send in RESET and INIT");

	/* Once connected, only what is posted from now on is sent. */
	rc_connect(p.a.qp, p.b.qp->qp_num, B_PSN, A_PSN, &default_opts);
	rc_connect(p.b.qp, p.a.qp->qp_num, A_PSN, B_PSN, &default_opts);
	post_recv1(p.b.qp, 5, bbuf, 4096, bmr->lkey);
	post1(p.a.qp, 3, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	expect_ok(p.a.scq, &wc, 3, IBV_WC_SEND, p.a.qp, "first SEND in RTS");
	expect_ok(p.b.rcq, &wc, 5, IBV_WC_RECV, p.b.qp, "first RECV");
	poll_none(p.a.scq, 50, "after the first SEND in RTS");
	pair_destroy(&p);
	ht_log("error: post_send in RESET and INIT -> EINVAL, nothing sent");
}

/* h: more SGEs than max_send_sge */
static void err_too_many_sge(void)
{
	struct ibv_sge sge[QP_SGE * 2 + 1], unused;
	struct ibv_send_wr wr[2], *bad;
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;
	struct ibv_wc wc;
	struct pair p;
	uint32_t max, i;
	int ret;

	pair_create(&p, &default_opts);
	ret = ibv_query_qp(p.a.qp, &attr, IBV_QP_CAP, &init);
	CHECK(!ret, "query_qp: %s", strerror(ret));
	max = attr.cap.max_send_sge;
	CHECK(max >= QP_SGE && max < ARRAY_SIZE(sge),
	      "max_send_sge %u (asked for %d)", max, QP_SGE);
	for (i = 0; i <= max; i++)
		sge[i] = (struct ibv_sge){ (uintptr_t)abuf + i * 8, 8,
					   amr->lkey };

	/* A good WR, then one with max_send_sge + 1 SGEs. */
	post_recv1(p.b.qp, 5, bbuf, 4096, bmr->lkey);
	wr_init(&wr[0], &unused, 1, IBV_WR_SEND, NULL, 0, 0);
	wr[0].sg_list = sge;
	wr[0].num_sge = max;
	wr[0].next = &wr[1];
	wr_init(&wr[1], &unused, 2, IBV_WR_SEND, NULL, 0, 0);
	wr[1].sg_list = sge;
	wr[1].num_sge = max + 1;
	bad = NULL;
	ret = ibv_post_send(p.a.qp, wr, &bad);
	CHECK(ret && bad == &wr[1],
	      "post_send with %u SGEs (max %u): %d, bad_wr %s", max + 1, max,
	      ret, bad == &wr[1] ? "the WR" : bad == wr ? "the first WR" :
	      "not set");
	/* The WR before the bad one was posted. */
	expect_ok(p.a.scq, &wc, 1, IBV_WC_SEND, p.a.qp,
		  "SEND before the refused WR");
	expect_ok(p.b.rcq, &wc, 5, IBV_WC_RECV, p.b.qp, "RECV of it");
	CHECK(wc.byte_len == max * 8, "byte_len %u", wc.byte_len);
	poll_none(p.a.scq, 50, "after the refused WR");
	pair_destroy(&p);
	ht_log("error: %u SGEs (max_send_sge %u) -> post_send %d, bad_wr set",
	       max + 1, max, ret);
}

/* An SRQ below its armed limit raises SRQ_LIMIT_REACHED once. */
static void case_srq_limit(void)
{
	struct ibv_srq_init_attr sinit = {
		.attr = { .max_wr = 16, .max_sge = 1 },
	};
	struct ibv_srq_attr sattr = { .srq_limit = 4 };
	struct ibv_wc wc;
	struct pair p;
	void *element;
	int i, type;
	struct ibv_srq *srq = ibv_create_srq(pd, &sinit);

	CHECK(srq, "create_srq: %s", strerror(errno));
	end_create(&p.a, IBV_QPT_RC, 0);
	{
		struct ibv_qp_init_attr init = {
			.qp_type = IBV_QPT_RC,
			.srq = srq,
			.cap = { .max_send_wr = QP_WR, .max_send_sge = 1 },
		};

		p.b.scq = cq_create(CQ_SIZE);
		p.b.rcq = cq_create(CQ_SIZE);
		init.send_cq = p.b.scq;
		init.recv_cq = p.b.rcq;
		p.b.qp = ibv_create_qp(pd, &init);
		CHECK(p.b.qp, "create_qp on an SRQ: %s", strerror(errno));
	}
	pair_connect(&p, &default_opts);
	for (i = 0; i < 8; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)bbuf + i * 64, .length = 64,
			.lkey = bmr->lkey,
		};
		struct ibv_recv_wr wr = {
			.wr_id = 100 + i, .sg_list = &sge, .num_sge = 1,
		}, *bad;

		CHECK(!ibv_post_srq_recv(srq, &wr, &bad), "post_srq_recv");
	}
	CHECK(!ibv_modify_srq(srq, &sattr, IBV_SRQ_LIMIT), "arm srq_limit");
	/* 8 -> 5 WQEs: still at or above the limit, no event */
	for (i = 0; i < 3; i++) {
		post1(p.a.qp, i, IBV_WR_SEND, abuf, 16, amr->lkey, 0, 0);
		expect_ok(p.a.scq, &wc, i, IBV_WC_SEND, p.a.qp, "SEND to SRQ");
		expect_ok(p.b.rcq, &wc, 100 + i, IBV_WC_RECV, p.b.qp,
			  "RECV from SRQ");
	}
	CHECK(async_event(200, NULL) < 0, "an event before the limit");
	/* 5 -> 3: below 4, one event; the limit disarms itself */
	for (i = 3; i < 5; i++) {
		post1(p.a.qp, i, IBV_WR_SEND, abuf, 16, amr->lkey, 0, 0);
		expect_ok(p.a.scq, &wc, i, IBV_WC_SEND, p.a.qp, "SEND to SRQ");
		expect_ok(p.b.rcq, &wc, 100 + i, IBV_WC_RECV, p.b.qp,
			  "RECV from SRQ");
	}
	type = async_event(POLL_MS, &element);
	CHECK(type == IBV_EVENT_SRQ_LIMIT_REACHED, "event %d, want "
	      "SRQ_LIMIT_REACHED", type);
	CHECK(element == srq, "the event names another SRQ");
	CHECK(!ibv_query_srq(srq, &sattr) && sattr.srq_limit == 0,
	      "srq_limit %u after the event, want 0 (disarmed)",
	      sattr.srq_limit);
	post1(p.a.qp, 9, IBV_WR_SEND, abuf, 16, amr->lkey, 0, 0);
	expect_ok(p.a.scq, &wc, 9, IBV_WC_SEND, p.a.qp, "SEND to SRQ");
	expect_ok(p.b.rcq, &wc, 105, IBV_WC_RECV, p.b.qp, "RECV from SRQ");
	CHECK(async_event(200, NULL) < 0, "a second event while disarmed");
	pair_destroy(&p);
	CHECK(!ibv_destroy_srq(srq), "destroy_srq");
	ht_log("SRQ limit 4: one SRQ_LIMIT_REACHED at 3 WQEs, then disarmed");
}

/* i: RNR retries exhausted */
static void err_rnr(void)
{
	uint64_t t0;
	struct pair p;

	pair_create(&p, &rnr0_opts);
	t0 = now_ms();
	post1(p.a.qp, 1, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	expect_err(p.a.scq, 1, IBV_WC_RNR_RETRY_EXC_ERR, p.a.qp, POLL_MS,
		   "SEND without a receive, rnr_retry 0");
	pair_destroy(&p);
	ht_log("error: no receive posted, rnr_retry 0 -> RNR_RETRY_EXC_ERR "
	       "(%" PRIu64 " ms)", now_ms() - t0);
}

/* j: transport retries exhausted: the peer is gone */
static void err_retry(void)
{
	static const struct rc_opts o = {
		.timeout = 10, .retry_cnt = 1, .rnr_retry = 7,
	};
	uint64_t t0;
	struct pair p;

	pair_create(&p, &o);
	end_destroy_qp(&p.b);
	t0 = now_ms();
	post1(p.a.qp, 1, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	expect_err(p.a.scq, 1, IBV_WC_RETRY_EXC_ERR, p.a.qp, 20000,
		   "SEND to a destroyed QP, timeout 10, retry_cnt 1");
	pair_destroy(&p);
	ht_log("error: peer destroyed -> RETRY_EXC_ERR (%" PRIu64 " ms)",
	       now_ms() - t0);
}

/* k: moving a QP to ERR flushes its receives */
static void err_flush_on_modify(void)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct pair p;
	int i;

	pair_create(&p, &default_opts);
	for (i = 0; i < 3; i++)
		post_recv1(p.b.qp, 10 + i, bbuf + i * 4096, 4096, bmr->lkey);
	modify(p.b.qp, &attr, IBV_QP_STATE, "ERR");
	for (i = 0; i < 3; i++)
		expect_err(p.b.rcq, 10 + i, IBV_WC_WR_FLUSH_ERR, p.b.qp,
			   POLL_MS, "receive flushed by the move to ERR");
	/* and one posted in ERR */
	post_recv1(p.b.qp, 13, bbuf, 4096, bmr->lkey);
	expect_err(p.b.rcq, 13, IBV_WC_WR_FLUSH_ERR, p.b.qp, POLL_MS,
		   "receive posted in ERR");
	poll_none(p.b.rcq, 20, "after the flush");
	pair_destroy(&p);
	ht_log("error: modify to ERR flushes 3 posted receives in order");
}

/* l: CQ overflow */
static void err_cq_overflow(void)
{
	struct rc_opts o = default_opts;
	bool cq_err = false;
	struct ibv_wc wc;
	struct pair p;
	uint64_t deadline;
	void *elem;
	int i, n, cqe, type;

	o.a_scq_size = 1;
	pair_create(&p, &o);
	cqe = p.a.scq->cqe;
	CHECK(cqe >= 1 && cqe <= 16, "create_cq(1) gave %d entries", cqe);
	for (i = 0; i < cqe + 2; i++) {
		post_recv1(p.b.qp, 100 + i, bbuf + i * 64, 64, bmr->lkey);
		post1(p.a.qp, i, IBV_WR_SEND, abuf + i * 64, 64, amr->lkey, 0,
		      0);
	}
	deadline = now_ms() + POLL_MS;
	while (!cq_err && now_ms() < deadline) {
		type = async_event(200, &elem);
		if (type < 0)
			continue;
		ht_log("  async event %s", ibv_event_type_str(type));
		if (type == IBV_EVENT_CQ_ERR) {
			CHECK(elem == p.a.scq, "CQ_ERR for another CQ");
			cq_err = true;
		}
	}
	CHECK(cq_err, "%d completions on a CQ of %d: no IBV_EVENT_CQ_ERR",
	      cqe + 2, cqe);
	/* Events that come with it (QP_FATAL) must be acked before destroy. */
	drain_async(500);
	n = 0;
	while (ibv_poll_cq(p.a.scq, 1, &wc) > 0)
		n++;
	pair_destroy(&p);
	ht_log("error: %d completions on a CQ of %d -> IBV_EVENT_CQ_ERR "
	       "(%d polled afterwards)", cqe + 2, cqe, n);
}

static void err_bogus_lkey(void)
{
	err_lkey(amr->lkey ^ 0x5a, "SEND with a bogus lkey");
}

/* ---- rings tampered with by user space ---- */

/*
 * The provider's doorbell, a post_send command with no work requests: the
 * kernel then reads the producer from the ring. libibverbs exports it to
 * providers only, so it has no public prototype.
 */
int ibv_cmd_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr);

/* One ring (CQ, SQ or RQ) mapped from the uverbs device. */
struct ring_map {
	struct hmmnic_queue_hdr *hdr;
	size_t len;
};

/*
 * The rings of this process whose header shows @state, @prod and @cons.
 * A ring is found through /proc/self/maps (mappings of the uverbs device),
 * so that the test sees exactly what the driver shares, without the
 * provider's help. Returns how many matched; the first is in @out.
 */
static int ring_find(uint32_t state, uint32_t prod, uint32_t cons,
		     struct ring_map *out)
{
	unsigned long start, end;
	char line[512];
	int found = 0;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	CHECK(f, "open /proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		struct hmmnic_queue_hdr *hdr;

		if (!strstr(line, "/dev/infiniband/uverbs") ||
		    sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		hdr = (struct hmmnic_queue_hdr *)start;
		if (end - start < HMMNIC_QUEUE_SLOTS_OFFSET ||
		    !strstr(line, " rw"))
			continue;
		if (hdr->state != state || hdr->producer != prod ||
		    hdr->consumer != cons)
			continue;
		if (!found++)
			*out = (struct ring_map){ hdr, end - start };
	}
	fclose(f);
	return found;
}

static void send_doorbell(struct ibv_qp *qp)
{
	struct ibv_send_wr *bad = NULL;
	int ret = ibv_cmd_post_send(qp, NULL, &bad);

	CHECK(!ret, "doorbell: %s", strerror(ret));
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;
	int ret = ibv_query_qp(qp, &attr, IBV_QP_STATE, &init);

	CHECK(!ret, "query_qp: %s", strerror(ret));
	return attr.qp_state;
}

/* Wait up to @ms for @type on @elem, acking every event on the way. */
static bool wait_event(enum ibv_event_type type, void *elem, int ms)
{
	uint64_t deadline = now_ms() + ms;
	bool seen = false;
	void *e;
	int t;

	while (!seen && now_ms() < deadline) {
		t = async_event(100, &e);
		if (t < 0)
			continue;
		ht_log("  async event %s", ibv_event_type_str(t));
		seen = t == (int)type && e == elem;
	}
	return seen;
}

/*
 * A pair whose rings can be told apart by their counters: a SENDs one
 * message and WRITEs once, both signaled, and b posted three receives.
 * Then a's SQ is (RTS, 2, 2), a's send CQ (0, 2, 2), b's RQ (0, 3, 1) and
 * b's receive CQ (0, 1, 1); every other ring is (x, 0, 0).
 */
static void ring_pair(struct pair *p, struct ring_map *asq,
		      struct ring_map *ascq, struct ring_map *brq,
		      struct ring_map *brcq)
{
	struct ibv_wc wc;
	int i;

	pair_create(p, &default_opts);
	for (i = 0; i < 3; i++)
		post_recv1(p->b.qp, 10 + i, bbuf + i * 4096, 4096, bmr->lkey);
	post1(p->a.qp, 1, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	expect_ok(p->a.scq, &wc, 1, IBV_WC_SEND, p->a.qp, "ring pair SEND");
	expect_ok(p->b.rcq, &wc, 10, IBV_WC_RECV, p->b.qp, "ring pair RECV");
	post1(p->a.qp, 2, IBV_WR_RDMA_WRITE, abuf, 64, amr->lkey,
	      (uintptr_t)bbuf + 8192, bmr->rkey);
	expect_ok(p->a.scq, &wc, 2, IBV_WC_RDMA_WRITE, p->a.qp,
		  "ring pair WRITE");
	CHECK(ring_find(IBV_QPS_RTS, 2, 2, asq) == 1, "a's send queue ring "
	      "not found (or not unique) in /proc/self/maps");
	CHECK(ring_find(0, 2, 2, ascq) == 1, "a's send CQ ring not found");
	CHECK(ring_find(0, 3, 1, brq) == 1, "b's receive queue ring not found");
	CHECK(ring_find(0, 1, 1, brcq) == 1, "b's receive CQ ring not found");
}

/* m: a send queue producer far ahead of the consumer breaks the QP */
static void err_ring_sq_producer(void)
{
	struct ring_map sq, scq, rq, rcq;
	struct pair p;

	ring_pair(&p, &sq, &scq, &rq, &rcq);
	sq.hdr->producer = sq.hdr->consumer + 0x10000;
	send_doorbell(p.a.qp);
	CHECK(wait_event(IBV_EVENT_QP_FATAL, p.a.qp, POLL_MS),
	      "send queue producer +0x10000: no IBV_EVENT_QP_FATAL");
	CHECK(qp_state(p.a.qp) == IBV_QPS_ERR, "QP state %d, want ERR",
	      qp_state(p.a.qp));
	CHECK(sq.hdr->state == HMMNIC_QPS_ERR, "ring state %u, want %u",
	      sq.hdr->state, HMMNIC_QPS_ERR);
	/* and a producer that went backwards */
	pair_destroy(&p);
	ring_pair(&p, &sq, &scq, &rq, &rcq);
	sq.hdr->producer = sq.hdr->consumer - 1;
	send_doorbell(p.a.qp);
	CHECK(wait_event(IBV_EVENT_QP_FATAL, p.a.qp, POLL_MS),
	      "send queue producer -1: no IBV_EVENT_QP_FATAL");
	CHECK(qp_state(p.a.qp) == IBV_QPS_ERR, "QP state %d, want ERR",
	      qp_state(p.a.qp));
	pair_destroy(&p);
	ht_log("error: send queue producer +0x10000 or -1 -> QP_FATAL, ERR");
}

/* n: a send queue slot full of garbage completes in error */
static void err_ring_sq_garbage(void)
{
	struct ring_map sq, scq, rq, rcq;
	struct ibv_wc wc;
	struct pair p;

	ring_pair(&p, &sq, &scq, &rq, &rcq);
	/* Every slot: opcode, flags, SGE count and lengths all ones. */
	memset((uint8_t *)sq.hdr + HMMNIC_QUEUE_SLOTS_OFFSET, 0xff,
	       sq.len - HMMNIC_QUEUE_SLOTS_OFFSET);
	__atomic_store_n(&sq.hdr->producer, sq.hdr->producer + 1,
			 __ATOMIC_RELEASE);
	send_doorbell(p.a.qp);
	poll_one(p.a.scq, &wc, "garbage WQE");
	CHECK(wc.status != IBV_WC_SUCCESS, "a garbage WQE completed "
	      "successfully");
	CHECK(wc.wr_id == UINT64_MAX, "garbage WQE: wr_id %" PRIx64, wc.wr_id);
	ht_log("  garbage WQE -> %s", ibv_wc_status_str(wc.status));
	CHECK(qp_state(p.a.qp) == IBV_QPS_ERR, "QP state %d, want ERR",
	      qp_state(p.a.qp));
	poll_none(p.b.rcq, 20, "receiver of a garbage WQE");
	pair_destroy(&p);
	ht_log("error: a slot of 0xff bytes -> %s, QP in ERR",
	       ibv_wc_status_str(wc.status));
}

/* o: a receive queue producer far ahead breaks the receiving QP */
static void err_ring_rq_producer(void)
{
	struct ring_map sq, scq, rq, rcq;
	struct ibv_wc wc;
	struct pair p;

	ring_pair(&p, &sq, &scq, &rq, &rcq);
	rq.hdr->producer = rq.hdr->consumer + 0x10000;
	post1(p.a.qp, 3, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	CHECK(wait_event(IBV_EVENT_QP_FATAL, p.b.qp, POLL_MS),
	      "receive queue producer +0x10000: no IBV_EVENT_QP_FATAL");
	CHECK(qp_state(p.b.qp) == IBV_QPS_ERR, "receiver state %d, want ERR",
	      qp_state(p.b.qp));
	/* The sender learns nothing good: its SEND fails one way or another. */
	poll_one_ms(p.a.scq, &wc, 4 * POLL_MS, "SEND to a broken receiver");
	CHECK(wc.status != IBV_WC_SUCCESS && wc.wr_id == 3,
	      "SEND to a broken receiver: wr_id %" PRIu64 " status %s",
	      wc.wr_id, ibv_wc_status_str(wc.status));
	pair_destroy(&p);
	ht_log("error: receive queue producer +0x10000 -> receiver QP_FATAL, "
	       "sender %s", ibv_wc_status_str(wc.status));
}

/* p: a CQ consumer ahead of the producer puts the CQ into error */
static void err_ring_cq_consumer(void)
{
	struct ring_map sq, scq, rq, rcq;
	struct pair p;

	ring_pair(&p, &sq, &scq, &rq, &rcq);
	scq.hdr->consumer = scq.hdr->producer + 5;
	post1(p.a.qp, 4, IBV_WR_RDMA_WRITE, abuf, 64, amr->lkey,
	      (uintptr_t)bbuf + 8192, bmr->rkey);
	CHECK(wait_event(IBV_EVENT_CQ_ERR, p.a.scq, POLL_MS),
	      "CQ consumer ahead of the producer: no IBV_EVENT_CQ_ERR");
	CHECK(scq.hdr->state == HMMNIC_CQ_STATE_ERROR, "CQ ring state %u",
	      scq.hdr->state);
	pair_destroy(&p);
	ht_log("error: CQ consumer = producer + 5 -> IBV_EVENT_CQ_ERR");
}

/*
 * q: the receive queue's consumer counter in the ring is the kernel's
 * word to user space, never what the kernel goes by: moved back, it must
 * not make the kernel take a receive WQE again, and rewritten over and
 * over while the QP flushes, it must not make the flush take more (or
 * never end).
 */
struct rq_hammer {
	struct hmmnic_queue_hdr *hdr;
	volatile int stop;
	unsigned long writes;
};

static void *rq_hammer_fn(void *arg)
{
	struct rq_hammer *h = arg;

	while (!h->stop) {
		__atomic_store_n(&h->hdr->consumer, 0, __ATOMIC_RELAXED);
		h->writes++;
	}
	return NULL;
}

static void err_ring_rq_consumer(void)
{
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct ring_map sq, scq, rq, rcq;
	struct rq_hammer h = { 0 };
	struct ibv_wc wc;
	struct pair p;
	pthread_t t;
	int i;

	/* b's RQ is (0, 3, 1): WQE 10 used, 11 and 12 posted */
	ring_pair(&p, &sq, &scq, &rq, &rcq);
	rq.hdr->consumer = 0;
	post1(p.a.qp, 3, IBV_WR_SEND, abuf, 64, amr->lkey, 0, 0);
	expect_ok(p.a.scq, &wc, 3, IBV_WC_SEND, p.a.qp, "SEND after rewind");
	poll_one(p.b.rcq, &wc, "receive after the consumer was moved back");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 11,
	      "consumer moved back: the SEND landed in WQE %" PRIu64
	      " (%s), want 11", wc.wr_id, ibv_wc_status_str(wc.status));
	/* the flush takes WQE 12 alone, however the counter moves */
	h.hdr = rq.hdr;
	CHECK(!pthread_create(&t, NULL, rq_hammer_fn, &h), "pthread_create");
	sleep_us(1000);
	modify(p.b.qp, &attr, IBV_QP_STATE, "ERR");
	expect_err(p.b.rcq, 12, IBV_WC_WR_FLUSH_ERR, p.b.qp, POLL_MS,
		   "receive flushed while user space rewrites the consumer");
	for (i = 0; i < 20; i++) {
		post_recv1(p.b.qp, 20 + i, bbuf, 4096, bmr->lkey);
		expect_err(p.b.rcq, 20 + i, IBV_WC_WR_FLUSH_ERR, p.b.qp,
			   POLL_MS, "receive posted in ERR under the hammer");
	}
	poll_none(p.b.rcq, 50, "after the flushes");
	h.stop = 1;
	pthread_join(t, NULL);
	CHECK(h.writes > 1000, "the hammer did not run (%lu writes)",
	      h.writes);
	pair_destroy(&p);
	ht_log("error: RQ consumer moved back or rewritten -> ignored "
	       "(%lu writes during the flush)", h.writes);
}

/*
 * The cases in order; the first ones share one connected pair. UD runs
 * last, so that a failure there does not hide the error cases.
 */
static const struct {
	const char *name;
	void (*on_pair)(struct pair *p);
	void (*alone)(void);
} cases[] = {
	{ "send", case_send_recv, NULL },
	{ "send_imm", case_send_imm, NULL },
	{ "inline", case_inline, NULL },
	{ "write", case_write, NULL },
	{ "read", case_read, NULL },
	{ "atomic", case_atomic, NULL },
	{ "many", case_many, NULL },
	{ "err_rkey", NULL, err_rkey },
	{ "err_read_past_end", NULL, err_read_past_end },
	{ "err_write_no_access", NULL, err_write_no_access },
	{ "err_bogus_lkey", NULL, err_bogus_lkey },
	{ "err_other_pd", NULL, err_other_pd },
	{ "err_recv_too_short", NULL, err_recv_too_short },
	{ "err_send_inv", NULL, err_send_inv },
	{ "err_post_not_ready", NULL, err_post_not_ready },
	{ "err_too_many_sge", NULL, err_too_many_sge },
	{ "err_rnr", NULL, err_rnr },
	{ "err_retry", NULL, err_retry },
	{ "err_flush_on_modify", NULL, err_flush_on_modify },
	{ "err_cq_overflow", NULL, err_cq_overflow },
	{ "err_ring_sq_producer", NULL, err_ring_sq_producer },
	{ "err_ring_sq_garbage", NULL, err_ring_sq_garbage },
	{ "err_ring_rq_producer", NULL, err_ring_rq_producer },
	{ "err_ring_cq_consumer", NULL, err_ring_cq_consumer },
	{ "err_ring_rq_consumer", NULL, err_ring_rq_consumer },
	{ "ud", NULL, case_ud },
	{ "srq_limit", NULL, case_srq_limit },
};

int main(int argc, char **argv)
{
	struct pair p;
	bool have_pair = false;
	size_t i;
	int n = 0;

	rc_setup();
	CHECK(!posix_memalign((void **)&abuf, 4096, BUF_SIZE) &&
	      !posix_memalign((void **)&bbuf, 4096, BUF_SIZE), "memalign");
	memset(abuf, 0, BUF_SIZE);
	memset(bbuf, 0, BUF_SIZE);
	amr = reg(pd, abuf, BUF_SIZE, ACCESS_ALL);
	bmr = reg(pd, bbuf, BUF_SIZE, ACCESS_ALL);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!case_selected(cases[i].name, argc, argv))
			continue;
		n++;
		if (cases[i].on_pair) {
			if (!have_pair)
				pair_create(&p, &default_opts);
			have_pair = true;
			cases[i].on_pair(&p);
			continue;
		}
		if (have_pair)
			pair_destroy(&p);
		have_pair = false;
		cases[i].alone();
	}
	if (have_pair)
		pair_destroy(&p);
	CHECK(n, "no case matches the arguments");

	CHECK(!ibv_dereg_mr(amr) && !ibv_dereg_mr(bmr), "dereg_mr");
	rc_teardown();
	free(abuf);
	free(bbuf);
	ht_log("%d cases passed", n);
	return 0;
}
