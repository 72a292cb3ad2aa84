// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Hostile RoCEv2 packets with valid ICRCs, sent through a raw IPv4 socket
 * to hmmnic0's own address (so they take the network path: the UDP
 * socket, the ICRC check, the header checks), aimed at live QPs:
 *
 * - rc_responder: every RC request opcode (and the reserved and unknown
 *   ones) at the responder of a connected RC QP, with the PSN at, around
 *   and far from the one it expects now (read back with ibv_query_qp as
 *   the packets move it on), rkeys of a writable pinned region, a
 *   writable ODP region, a read-only region, another PD's region and
 *   random ones, addresses at and across the regions' bounds and at the
 *   2^64 wrap, DMA lengths from 0 to 2^32 - 1, payloads up to and beyond
 *   the path MTU, every pad count, and packets cut short (the ICRC valid
 *   for what is left). A fresh pair every HMMNIC_FUZZ_BATCH packets, or as
 *   soon as a fatal NAK ended the connection (the QP's state says so).
 * - rc_completer: responses (READ responses, ACKs, NAKs of every
 *   syndrome, atomic ACKs) at a requester with a READ and an atomic
 *   outstanding to a responder that is gone, so that responses with the
 *   right PSN are placed: only into the work request's own buffer, never
 *   beyond it.
 * - ud: UD SENDs (and every other opcode) at a UD QP and at QP 1 (GSI,
 *   the kernel's MAD layer), with the right and wrong Q_Keys and sizes up
 *   to and beyond the port MTU.
 * - rings: in a child process with its own context, a thread rewrites
 *   random words of every ring the driver maps into the process (send,
 *   receive and completion queues, headers and slots, found through
 *   /proc/self/maps) while the main thread runs WRITE and SEND traffic and
 *   polls, tolerating any error; the child must end on its own with its
 *   memory outside its registrations intact.
 * - dup_read: copies of answered READ requests (whole, from a later
 *   response, with another PD's key, beyond the region, longer than any
 *   message, ending beyond the READ) across the 2^24 PSN wrap: answered again, dropped or fatally
 *   NAKed by the IBTA's rules, with exact counter deltas; a copy that was
 *   dropped does not stop the READ being answered again.
 * - dup_read_stream: a copy of a READ of 2048 responses sent while they go
 *   out is answered at once, not after the whole stream.
 *
 * Memory outside every registration (guard areas between the regions),
 * the read-only region and the other PD's region must not change; the
 * writable regions may. Afterwards a new pair still moves verified data
 * through the regions. The packets sent and the drop counters are
 * reported.
 *
 *   fuzz [CASE...]   (HMMNIC_FUZZ_PACKETS per case, default 6000)
 *
 * suite-timeout: 900
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hmmtest.h"
#include "rctest.h"

#define AREA		(64 * 1024)
#define HMMNIC_FUZZ_BATCH 48
#define ROCE_PORT	4791
#define QKEY		0x11111111
#define GSI_QKEY	0x80010000

/* The IBTA opcodes and their extension headers. */
enum {
	X_RETH = 1 << 0, X_AETH = 1 << 1, X_ATOM = 1 << 2, X_ATACK = 1 << 3,
	X_IMM = 1 << 4, X_IETH = 1 << 5, X_DETH = 1 << 6, X_PAY = 1 << 7,
};

struct op {
	uint8_t code;
	uint8_t ext;
	const char *name;
};

static const struct op rc_ops[] = {
	{ 0x00, X_PAY, "SEND_FIRST" }, { 0x01, X_PAY, "SEND_MIDDLE" },
	{ 0x02, X_PAY, "SEND_LAST" }, { 0x03, X_PAY | X_IMM, "SEND_LAST_IMM" },
	{ 0x04, X_PAY, "SEND_ONLY" }, { 0x05, X_PAY | X_IMM, "SEND_ONLY_IMM" },
	{ 0x06, X_RETH | X_PAY, "WRITE_FIRST" },
	{ 0x07, X_PAY, "WRITE_MIDDLE" }, { 0x08, X_PAY, "WRITE_LAST" },
	{ 0x09, X_PAY | X_IMM, "WRITE_LAST_IMM" },
	{ 0x0a, X_RETH | X_PAY, "WRITE_ONLY" },
	{ 0x0b, X_RETH | X_IMM | X_PAY, "WRITE_ONLY_IMM" },
	{ 0x0c, X_RETH, "READ_REQUEST" },
	{ 0x0d, X_AETH | X_PAY, "READ_RESP_FIRST" },
	{ 0x0e, X_PAY, "READ_RESP_MIDDLE" },
	{ 0x0f, X_AETH | X_PAY, "READ_RESP_LAST" },
	{ 0x10, X_AETH | X_PAY, "READ_RESP_ONLY" },
	{ 0x11, X_AETH, "ACK" }, { 0x12, X_AETH | X_ATACK, "ATOMIC_ACK" },
	{ 0x13, X_ATOM, "CMP_SWAP" }, { 0x14, X_ATOM, "FETCH_ADD" },
	{ 0x15, X_PAY, "reserved 0x15" },
	{ 0x16, X_IETH | X_PAY, "SEND_LAST_INV" },
	{ 0x17, X_IETH | X_PAY, "SEND_ONLY_INV" },
	{ 0x18, X_RETH, "FLUSH" }, { 0x19, X_RETH | X_PAY, "ATOMIC_WRITE" },
	{ 0x1f, X_PAY, "reserved 0x1f" },
	{ 0x64, X_DETH | X_PAY, "UD_SEND_ONLY" },
	{ 0x65, X_DETH | X_IMM | X_PAY, "UD_SEND_ONLY_IMM" },
	{ 0x24, X_PAY, "UC_SEND_ONLY" }, { 0xff, X_PAY, "0xff" },
};

static const size_t resp_ops[] = { 13, 14, 15, 16, 17, 18 };

/* What the fuzzer aims at and checks afterwards. */
static struct {
	uint8_t *map;			/* g0 rwp g1 rwo g2 ro g3 */
	uint8_t *rwp, *rwo, *ro;
	uint8_t *other;			/* a region of another PD */
	uint8_t *snap;			/* the bytes that must stay */
	struct ibv_mr *rwp_mr, *rwo_mr, *ro_mr, *other_mr;
	struct ibv_pd *pd2;
	int sock;
	uint32_t addr;			/* hmmnic0's IPv4 address */
	uint64_t sent, cut, by_op[256];
	uint64_t pairs, broken;		/* RC responder pairs, ended early */
} f;

/* ---- the ICRC: CRC-32 (IEEE, reflected) as RoCEv2 computes it ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_le(uint32_t crc, const uint8_t *p, size_t n)
{
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/*
 * The ICRC of an IPv4 RoCEv2 packet @pkt of @len bytes (IP header, UDP,
 * BTH, the rest; no ICRC yet): the fields that routers change count as
 * all ones, behind 8 bytes of ones for the absent LRH.
 */
static uint32_t icrc(const uint8_t *pkt, size_t len)
{
	static const uint8_t lrh[8] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t ph[20 + 8 + 12];
	uint32_t crc;

	memcpy(ph, pkt, sizeof(ph));
	ph[1] = 0xff;			/* TOS */
	ph[8] = 0xff;			/* TTL */
	ph[10] = ph[11] = 0xff;		/* IP checksum */
	ph[26] = ph[27] = 0xff;		/* UDP checksum */
	ph[28 + 4] = 0xff;		/* BTH reserved byte before the QPN */
	crc = crc32_le(~0u, lrh, sizeof(lrh));
	crc = crc32_le(crc, ph, sizeof(ph));
	crc = crc32_le(crc, pkt + sizeof(ph), len - sizeof(ph));
	return ~crc;
}

/* ---- building and sending ---- */

struct pkt {
	uint8_t b[9100];
	size_t len;			/* from the IP header, no ICRC */
};

static void put8(struct pkt *p, uint8_t v)
{
	p->b[p->len++] = v;
}

static void put16(struct pkt *p, uint16_t v)
{
	put8(p, v >> 8);
	put8(p, v);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v);
}

static void put64(struct pkt *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p, v);
}

/* IP and UDP headers; their lengths are set by pkt_send(). */
static void pkt_start(struct pkt *p)
{
	p->len = 0;
	put8(p, 0x45);
	put8(p, 0);
	put16(p, 0);			/* total length */
	put16(p, 1 + rnd() % 65535);	/* never 0: the kernel would pick one */
	put16(p, 0x4000);		/* DF */
	put8(p, 64);
	put8(p, IPPROTO_UDP);
	put16(p, 0);
	memcpy(p->b + p->len, &f.addr, 4);
	p->len += 4;
	memcpy(p->b + p->len, &f.addr, 4);
	p->len += 4;
	put16(p, 49152 + rnd() % 16384);
	put16(p, ROCE_PORT);
	put16(p, 0);			/* UDP length */
	put16(p, 0);			/* no UDP checksum (IPv4) */
}

static void bth(struct pkt *p, uint8_t opcode, uint8_t pad, uint32_t qpn,
		uint32_t psn, int ackreq)
{
	put8(p, opcode);
	put8(p, (rnd() % 4 ? 0 : 0x80) | (pad & 3) << 4);	/* SE, pad */
	put16(p, rnd() % 32 ? 0xffff : rnd());			/* P_Key */
	put32(p, qpn & 0xffffff);
	put32(p, (ackreq ? 0x80000000u : 0) | (psn & 0xffffff));
}

/* Finish @p (lengths, ICRC; @cut bytes cut off before it) and send it. */
static void pkt_send(struct pkt *p, size_t cut)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = f.addr,
	};
	uint32_t crc;
	ssize_t n;

	/* the IP and UDP headers and the BTH stay: the ICRC covers them */
	if (cut > p->len - 40)
		cut = p->len - 40;
	p->len -= cut;
	p->b[2] = (p->len + 4) >> 8;
	p->b[3] = p->len + 4;
	p->b[24] = (p->len + 4 - 20) >> 8;
	p->b[25] = p->len + 4 - 20;
	crc = icrc(p->b, p->len);
	memcpy(p->b + p->len, &crc, 4);	/* little endian, as on the wire */
	n = sendto(f.sock, p->b, p->len + 4, 0, (struct sockaddr *)&to,
		   sizeof(to));
	CHECK(n == (ssize_t)(p->len + 4), "sendto %zu bytes: %s",
	      p->len + 4, strerror(errno));
	f.sent++;
	f.cut += !!cut;
	f.by_op[p->b[28]]++;
}

/* ---- edge values ---- */

static uint32_t pick_rkey(void)
{
	switch (rnd() % 7) {
	case 0: return f.rwp_mr->rkey;
	case 1: return f.rwo_mr->rkey;
	case 2: return f.ro_mr->rkey;
	case 3: return f.other_mr->rkey;
	case 4: return f.rwp_mr->rkey ^ 0x100;	/* a neighbouring key */
	case 5: return 0;
	default: return rnd();
	}
}

static uint64_t pick_va(uint32_t len)
{
	uint8_t *base = rnd() % 2 ? f.rwp : rnd() % 2 ? f.rwo : f.ro;

	switch (rnd() % 9) {
	case 0: return (uintptr_t)base;
	case 1: return (uintptr_t)base + AREA - len;
	case 2: return (uintptr_t)base + AREA - len + 1 + rnd() % 64;
	case 3: return (uintptr_t)base - 1 - rnd() % 64;
	case 4: return UINT64_MAX - rnd() % 64;
	case 5: return -(uint64_t)(len / 2 ? len / 2 : 1);
	case 6: return (uintptr_t)f.other;
	case 7: return (uintptr_t)base + rnd() % AREA;
	default: return rnd();
	}
}

static uint32_t pick_len(void)
{
	static const uint32_t v[] = {
		0, 1, 8, 255, 256, 1023, 1024, 1025, 4096, AREA - 1, AREA,
		AREA + 1, 1u << 31, UINT32_MAX,
	};

	return rnd() % 4 ? v[rnd() % ARRAY_SIZE(v)] : rnd() % (2 * AREA);
}

static uint32_t pick_paylen(void)
{
	uint32_t mtu = 128u << test_mtu;
	static const uint32_t v[] = { 0, 1, 2, 3, 4, 7, 8, 64 };

	switch (rnd() % 6) {
	case 0: return mtu;
	case 1: return mtu + 1 + rnd() % 64;	/* beyond the MTU */
	case 2: return mtu - 1 - rnd() % 4;
	case 3: return 4096 + rnd() % 4000;	/* beyond any path MTU */
	default: return v[rnd() % ARRAY_SIZE(v)];
	}
}

static uint32_t pick_psn(uint32_t expected)
{
	switch (rnd() % 8) {
	case 0: case 1: case 2: return expected;
	case 3: return expected + 1;
	case 4: return expected - 1 - rnd() % 4;
	case 5: return expected + (1u << 23);
	case 6: return expected + 128 + rnd() % 256;
	default: return rnd();
	}
}

/* Extension headers and payload of an @o packet, fields at edge values. */
static void body(struct pkt *p, const struct op *o, uint32_t paylen)
{
	if (o->ext & X_RETH) {
		uint32_t len = pick_len();

		put64(p, pick_va(len));
		put32(p, pick_rkey());
		put32(p, len);
	}
	if (o->ext & X_AETH)
		put32(p, (uint32_t)(rnd() % 4 ? 0 : rnd() & 0xff) << 24 |
		      (rnd() & 0xffffff));
	if (o->ext & X_ATACK)
		put64(p, rnd());
	if (o->ext & X_ATOM) {
		put64(p, pick_va(8) & (rnd() % 4 ? ~7ull : ~0ull));
		put32(p, pick_rkey());
		put64(p, rnd());
		put64(p, rnd());
	}
	if (o->ext & X_DETH) {
		put32(p, rnd() % 3 ? QKEY : rnd() % 2 ? GSI_QKEY : rnd());
		put32(p, rnd() & 0xffffff);
	}
	if (o->ext & X_IMM)
		put32(p, rnd());
	if (o->ext & X_IETH)
		put32(p, pick_rkey());
	if (o->ext & X_PAY) {
		for (uint32_t i = 0; i < paylen; i++)
			put8(p, rnd());
	}
}

static const struct op *pick_op(void)
{
	static struct op any;

	if (rnd() % 16)
		return &rc_ops[rnd() % ARRAY_SIZE(rc_ops)];
	any.code = rnd();		/* anything at all */
	any.ext = rnd() & 0xff;
	any.name = "random";
	return &any;
}

/* One packet of opcode @o at QP @qpn, PSN near @expected. */
static void fuzz_one(const struct op *o, uint32_t qpn, uint32_t expected)
{
	uint32_t paylen = o->ext & X_PAY ? pick_paylen() : 0;
	size_t cut = rnd() % 10 ? 0 : rnd() % 48;
	struct pkt p;

	pkt_start(&p);
	bth(&p, o->code, rnd() % 5 ? (4 - paylen % 4) % 4 : rnd(), qpn,
	    pick_psn(expected), rnd() % 2);
	body(&p, o, paylen);
	pkt_send(&p, cut);
}

/* ---- what must not change ---- */

static size_t snap_layout(uint8_t **src, size_t *len)
{
	/* g0 g1 g2 g3 (unregistered), ro, another PD's region */
	src[0] = f.map;
	src[1] = f.map + 2 * AREA;
	src[2] = f.map + 4 * AREA;
	src[3] = f.map + 6 * AREA;
	src[4] = f.ro;
	src[5] = f.other;
	for (int i = 0; i < 6; i++)
		len[i] = AREA;
	return 6;
}

static void snap_take(void)
{
	uint8_t *src[6];
	size_t len[6], n = snap_layout(src, len), off = 0;

	for (size_t i = 0; i < n; off += len[i], i++)
		memcpy(f.snap + off, src[i], len[i]);
}

static void snap_check(const char *what)
{
	static const char *const names[] = {
		"the guard before the pinned region",
		"the guard between the pinned and the ODP region",
		"the guard between the ODP and the read-only region",
		"the guard after the read-only region",
		"the read-only region", "the other PD's region",
	};
	uint8_t *src[6];
	size_t len[6], n = snap_layout(src, len), off = 0;
	char msg[160];

	for (size_t i = 0; i < n; off += len[i], i++) {
		snprintf(msg, sizeof(msg), "%s: %s", what, names[i]);
		check_bytes(src[i], f.snap + off, len[i], msg);
	}
}

/* ---- setup ---- */

static void setup(void)
{
	int one = 1;

	crc_init();
	memcpy(&f.addr, gid.raw + 12, 4);
	f.sock = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	CHECK(f.sock >= 0, "raw socket: %s", strerror(errno));
	CHECK(!setsockopt(f.sock, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)),
	      "IP_HDRINCL: %s", strerror(errno));

	f.map = mmap(NULL, 7 * AREA, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f.other = mmap(NULL, AREA, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f.snap = malloc(6 * AREA);
	CHECK(f.map != MAP_FAILED && f.other != MAP_FAILED && f.snap,
	      "mmap");
	fill_random(f.map, 7 * AREA);
	fill_random(f.other, AREA);
	f.rwp = f.map + AREA;
	f.rwo = f.map + 3 * AREA;
	f.ro = f.map + 5 * AREA;
	f.rwp_mr = reg(pd, f.rwp, AREA, ACCESS_ALL);
	f.rwo_mr = reg(pd, f.rwo, AREA, ACCESS_ALL | IBV_ACCESS_ON_DEMAND);
	f.ro_mr = reg(pd, f.ro, AREA, IBV_ACCESS_REMOTE_READ);
	f.pd2 = ibv_alloc_pd(ctx);
	CHECK(f.pd2, "alloc_pd: %s", strerror(errno));
	f.other_mr = reg(f.pd2, f.other, AREA, ACCESS_ALL);
	snap_take();
}

static uint64_t packets(void)
{
	const char *s = getenv("HMMNIC_FUZZ_PACKETS");

	return s ? strtoull(s, NULL, 0) : 6000;
}

/* ---- the cases ---- */

/* The QP's state now, and in @rq_psn the PSN its responder expects. */
static enum ibv_qp_state qp_now(struct ibv_qp *qp, uint32_t *rq_psn)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;

	CHECK(!ibv_query_qp(qp, &attr, IBV_QP_STATE | IBV_QP_RQ_PSN, &init),
	      "query_qp: %s", strerror(errno));
	*rq_psn = attr.rq_psn;
	return attr.qp_state;
}

static void case_rc_responder(void)
{
	uint64_t n = packets(), i = 0;
	struct pair q;

	while (i < n) {
		pair_create(&q, &default_opts);
		/* receive WQEs into the writable regions, for the SENDs */
		for (int k = 0; k < 8; k++)
			post_recv1(q.b.qp, k, k % 2 ? f.rwo : f.rwp, AREA,
				   k % 2 ? f.rwo_mr->lkey : f.rwp_mr->lkey);
		for (int k = 0; k < HMMNIC_FUZZ_BATCH && i < n; k++, i++) {
			uint32_t epsn = A_PSN;

			/*
			 * Aim at the PSN the responder expects now (packets
			 * it took moved it on), and take a fresh pair as soon
			 * as a fatal NAK ended this one: packets at a QP in
			 * the error state only test one line.
			 */
			if (k && !(k % 4)) {
				enum ibv_qp_state st = qp_now(q.b.qp, &epsn);

				if (st == IBV_QPS_ERR) {
					f.broken++;
					break;
				}
			}
			fuzz_one(pick_op(), rnd() % 16 ? q.b.qp->qp_num :
				 q.a.qp->qp_num, epsn);
		}
		sleep_us(2000);
		f.pairs++;
		pair_destroy(&q);
	}
	snap_check("after the RC responder fuzz");
}

/* A READ request at QP @qpn with PSN @psn, as a requester would send it. */
static void send_read(uint32_t qpn, uint32_t psn, uint64_t va, uint32_t rkey,
		      uint32_t len)
{
	struct pkt p;
	size_t at;

	pkt_start(&p);
	at = p.len;
	bth(&p, rc_ops[12].code, 0, qpn, psn, 1);
	/* no fuzz here: no SE, and the default P_Key */
	p.b[at + 1] = 0;
	p.b[at + 2] = 0xff;
	p.b[at + 3] = 0xff;
	put64(&p, va);
	put32(&p, rkey);
	put32(&p, len);
	pkt_send(&p, 0);
}

/* The counters the duplicate READ cases read. */
struct dup_counts {
	uint64_t dup, naks, stale;
};

static void dup_counts(struct dup_counts *c)
{
	static const char *const names[] = {
		"duplicate_requests", "err_naks_sent", "drop_duplicate",
	};
	uint64_t v[3];

	counters_now(names, v, 3);
	c->dup = v[0];
	c->naks = v[1];
	c->stale = v[2];
}

/*
 * Send a copy of a READ request to @q's responder and see what it did:
 * answered it again (@stale answers, which the requester drops), dropped
 * it, or, @fatal, NAKed it (the requester drops the NAK too: it is for a
 * PSN it has seen acknowledged).
 */
static void dup_read_check(struct pair *q, uint32_t psn, uint64_t va,
			   uint32_t rkey, uint32_t len, int fatal,
			   uint64_t stale, const char *what)
{
	struct dup_counts c0, c1;
	uint32_t epsn, epsn0;
	enum ibv_qp_state st;

	qp_now(q->b.qp, &epsn0);
	dup_counts(&c0);
	send_read(q->b.qp->qp_num, psn & 0xffffff, va, rkey, len);
	counter_grown("duplicate_requests", c0.dup, 1);
	counter_grown("drop_duplicate", c0.stale, stale);
	dup_counts(&c1);
	st = qp_now(q->b.qp, &epsn);
	CHECK(c1.dup - c0.dup == 1, "%s: duplicate_requests +%" PRIu64
	      ", want +1", what, c1.dup - c0.dup);
	CHECK(c1.naks - c0.naks == (uint64_t)fatal, "%s: err_naks_sent +%"
	      PRIu64 ", want +%d", what, c1.naks - c0.naks, fatal);
	CHECK(st == (fatal ? IBV_QPS_ERR : IBV_QPS_RTS),
	      "%s: the responder's QP is in state %d", what, st);
	CHECK(fatal || epsn == epsn0,
	      "%s: the expected PSN moved from %#x to %#x", what, epsn0, epsn);
	CHECK(c1.stale - c0.stale == stale, "%s: drop_duplicate +%" PRIu64
	      ", want +%" PRIu64, what, c1.stale - c0.stale, stale);
	ht_log("  %s: ok", what);
}

/* READ number @n (0..3) of dup_read: three responses from PSN A_PSN + 3n */
static void dup_read_one(struct pair *q, int n, uint8_t *buf,
			 struct ibv_mr *bmr, uint32_t len)
{
	struct ibv_wc wc;
	uint32_t epsn;

	post1(q->a.qp, n, IBV_WR_RDMA_READ, buf + n * len, len, bmr->lkey,
	      (uintptr_t)f.rwp + n * len, f.rwp_mr->rkey);
	expect_ok(q->a.scq, &wc, n, IBV_WC_RDMA_READ, q->a.qp, "a READ");
	check_bytes(buf + n * len, f.rwp + n * len, len, "a READ");
	CHECK(qp_now(q->b.qp, &epsn) == IBV_QPS_RTS &&
	      epsn == ((A_PSN + 3 * (n + 1)) & 0xffffff),
	      "after READ %d the responder expects %#x", n, epsn);
}

/*
 * dup_read: the responder's rules for a copy of a READ request it has
 * answered (a requester that went back sends one; so may the network).
 * From the PSN of any of its responses, with the rest of the same range,
 * it is answered again, and the requester, which has every byte, drops
 * the answers; a copy whose length, key or range does not check out is
 * dropped, not fatally NAKed (the READ may be long done); a copy from a
 * later PSN that would end beyond the READ's own last PSN is an invalid
 * request (fatal NAK, the responder's QP in error). What the requester placed
 * never changes, nor does memory outside the regions. Four READs of
 * three responses each (PSNs A_PSN .. A_PSN + 11, across the 2^24 wrap).
 */
static void case_dup_read(void)
{
	uint32_t mtu = 128u << test_mtu, len = 3 * mtu - 100;
	uint8_t *buf = malloc(AREA), *want = malloc(AREA);
	uint64_t va = (uintptr_t)f.rwp;
	uint32_t rkey = f.rwp_mr->rkey;
	struct ibv_mr *bmr;
	struct pair q;

	CHECK(buf && want && 4 * len <= AREA, "malloc");
	memset(buf, 0, AREA);
	bmr = reg(pd, buf, AREA, ACCESS_ALL);
	pair_create(&q, &default_opts);

	dup_read_one(&q, 0, buf, bmr, len);
	dup_read_check(&q, A_PSN, va, rkey, len, 0, 3,
		       "the whole READ again");
	dup_read_check(&q, A_PSN + 1, va + mtu, rkey, len - mtu, 0, 2,
		       "the READ again from its second response");
	dup_read_check(&q, A_PSN + 2, va + 2 * mtu, rkey, len - 2 * mtu, 0, 1,
		       "the READ again from its last response");
	dup_read_one(&q, 1, buf, bmr, len);
	dup_read_check(&q, A_PSN + 4, va + len + mtu, f.other_mr->rkey,
		       len - mtu, 0, 0, "a copy with another PD's rkey");
	dup_read_check(&q, A_PSN + 4, va + len + mtu, rkey, len - mtu, 0, 2,
		       "the same copy with the READ's own rkey after it");
	dup_read_one(&q, 2, buf, bmr, len);
	dup_read_check(&q, A_PSN + 7, va + AREA, rkey, len - mtu, 0, 0,
		       "a copy beyond the region");
	dup_read_check(&q, A_PSN + 7, va + len + mtu, rkey, 0x80000001u, 0, 0,
		       "a copy longer than any message");
	dup_read_one(&q, 3, buf, bmr, len);
	memcpy(want, buf, AREA);
	dup_read_check(&q, A_PSN + 10, va + 3 * len + mtu, rkey, len, 1, 1,
		       "a copy from a later PSN that ends beyond the READ");
	check_bytes(buf, want, AREA, "the READs' buffer after the copies");
	pair_destroy(&q);
	CHECK(!ibv_dereg_mr(bmr), "dereg_mr");
	free(buf);
	free(want);
	snap_check("after the duplicate READs");
}

/* Read drop_duplicate until it stops growing (a stream has ended). */
static uint64_t stale_settled(void)
{
	struct dup_counts c;
	uint64_t last = ~0ull;
	int i;

	for (i = 0; i < 100; i++) {
		dup_counts(&c);
		if (c.stale == last)
			break;
		last = c.stale;
		sleep_us(300000);
	}
	return last;
}

/*
 * dup_read_stream: a copy of a READ request that comes while the READ's
 * responses are still going out is taken at once, ahead of the responses
 * it makes useless: the responder starts again from the copy's PSN, so the
 * requester drops fewer stale responses than the READ has (waiting for
 * the stream to end first would make it drop all of them again), and the
 * READ completes with its bytes. This is what a requester's go-back after
 * one lost response of a long READ looks like to the responder.
 */
static void case_dup_read_stream(void)
{
	uint32_t mtu = 128u << test_mtu, n = 2048, len = n * mtu;
	uint8_t *src = malloc(len), *dst = malloc(len);
	struct dup_counts c0, c1;
	struct ibv_mr *smr, *dmr;
	uint64_t stale = 0;
	struct ibv_wc wc;
	struct pair q;
	int attempt;

	CHECK(src && dst, "malloc");
	fill_random(src, len);
	smr = reg(pd, src, len, ACCESS_ALL);
	dmr = reg(pd, dst, len, ACCESS_ALL);
	/* a raw packet can be lost on the way (a full backlog): try again */
	for (attempt = 0; attempt < 3; attempt++) {
		uint64_t stale0;

		memset(dst, 0, len);
		pair_create(&q, &default_opts);
		stale0 = stale_settled();
		dup_counts(&c0);
		post1(q.a.qp, 1, IBV_WR_RDMA_READ, dst, len, dmr->lkey,
		      (uintptr_t)src, smr->rkey);
		send_read(q.b.qp->qp_num, A_PSN, (uintptr_t)src, smr->rkey,
			  len);
		expect_ok(q.a.scq, &wc, 1, IBV_WC_RDMA_READ, q.a.qp,
			  "a READ of 2048 responses");
		check_bytes(dst, src, len, "a READ of 2048 responses");
		stale = stale_settled() - stale0;
		dup_counts(&c1);
		pair_destroy(&q);
		if (c1.dup > c0.dup)
			break;
		ht_log("  no copy reached the responder: again");
	}
	CHECK(c1.dup > c0.dup, "duplicate_requests +0 in 3 tries");
	CHECK(c1.naks == c0.naks, "err_naks_sent +%" PRIu64,
	      c1.naks - c0.naks);
	CHECK(stale < n, "the requester dropped %" PRIu64 " stale responses "
	      "of %u: the copy waited for the whole stream", stale, n);
	ht_log("  the copy came after %" PRIu64 " of %u responses: ok", stale,
	       n);
	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr), "dereg_mr");
	free(src);
	free(dst);
	snap_check("after the streamed READ's copy");
}

static void case_rc_completer(void)
{
	uint64_t n = packets(), i = 0;
	struct pair q;

	while (i < n) {
		struct ibv_send_wr wr;
		struct ibv_sge sge;

		pair_create(&q, &default_opts);
		/* the responder goes: nothing answers but the fuzzer */
		end_destroy_qp(&q.b);
		post1(q.a.qp, 1, IBV_WR_RDMA_READ, f.rwp + 4096, 3000,
		      f.rwp_mr->lkey, (uintptr_t)f.rwp, f.rwp_mr->rkey);
		wr_init(&wr, &sge, 2, IBV_WR_ATOMIC_FETCH_AND_ADD, f.rwo + 64,
			8, f.rwo_mr->lkey);
		wr.wr.atomic.remote_addr = (uintptr_t)f.rwp;
		wr.wr.atomic.rkey = f.rwp_mr->rkey;
		wr.wr.atomic.compare_add = 1;
		post(q.a.qp, &wr);
		for (int k = 0; k < HMMNIC_FUZZ_BATCH && i < n; k++, i++) {
			const struct op *o = rnd() % 4 ? &rc_ops[resp_ops[rnd() %
					     ARRAY_SIZE(resp_ops)]] : pick_op();

			/* a's requester started at A_PSN */
			fuzz_one(o, q.a.qp->qp_num, A_PSN);
		}
		sleep_us(2000);
		end_destroy(&q.a);
		ibv_destroy_cq(q.b.scq);
		ibv_destroy_cq(q.b.rcq);
	}
	snap_check("after the RC completer fuzz");
}

static void case_ud(void)
{
	uint64_t n = packets(), i = 0;
	struct end u;

	end_create(&u, IBV_QPT_UD, 0);
	ud_up(u.qp, QKEY);
	while (i < n) {
		struct ibv_wc wc[16];

		for (int k = 0; k < 16; k++)
			post_recv1(u.qp, k, f.rwp + (k % 8) * 8192, 8192,
				   f.rwp_mr->lkey);
		for (int k = 0; k < HMMNIC_FUZZ_BATCH && i < n; k++, i++) {
			const struct op *o = rnd() % 3 ? &rc_ops[27 + rnd() % 2]
						      : pick_op();

			fuzz_one(o, rnd() % 3 ? u.qp->qp_num : 1, 0);
		}
		sleep_us(2000);
		while (ibv_poll_cq(u.rcq, 16, wc) > 0)
			;
		/* back to a known state: the posted WQEs flushed */
		end_destroy(&u);
		end_create(&u, IBV_QPT_UD, 0);
		ud_up(u.qp, QKEY);
	}
	end_destroy(&u);
	snap_check("after the UD and GSI fuzz");
}

/* ---- a hostile thread on the rings ---- */

struct tamper {
	volatile int stop;
	unsigned long start[64], len[64];
	int n;
	uint64_t writes;
};

/* The mappings of the uverbs device: the rings the driver shares. */
static void rings_find(struct tamper *t)
{
	unsigned long start, end;
	char line[512];
	FILE *m = fopen("/proc/self/maps", "r");

	CHECK(m, "open /proc/self/maps: %s", strerror(errno));
	t->n = 0;
	while (fgets(line, sizeof(line), m) && t->n < 64) {
		if (!strstr(line, "/dev/infiniband/uverbs") ||
		    !strstr(line, " rw") ||
		    sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		t->start[t->n] = start;
		t->len[t->n++] = end - start;
	}
	fclose(m);
}

static void *tamper_run(void *arg)
{
	struct tamper *t = arg;
	uint64_t r = 0x9e3779b97f4a7c15ull;

	while (!t->stop) {
		int i = r % t->n;
		/* the header's counters half the time, anywhere otherwise */
		unsigned long off = (r >> 8) % (r & 1 ? 64 : t->len[i]);

		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		off &= ~3ul;
		*(volatile uint32_t *)(t->start[i] + off) = r >> 32;
		t->writes++;
		if (!(t->writes % 64))
			usleep(100);
	}
	return NULL;
}

/* Traffic that expects nothing: post, poll, never wait long. */
static void rings_traffic(struct pair *q, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	struct ibv_send_wr wr, *bad;
	struct ibv_recv_wr rwr, *rbad;
	struct ibv_sge sge, rsge;
	struct ibv_wc wc[16];

	while (now_ms() < end) {
		rsge = (struct ibv_sge){ (uintptr_t)f.rwo, 4096,
					 f.rwo_mr->lkey };
		rwr = (struct ibv_recv_wr){ .wr_id = 1, .sg_list = &rsge,
					    .num_sge = 1 };
		(void)ibv_post_recv(q->b.qp, &rwr, &rbad);
		wr_init(&wr, &sge, 2, rnd() % 2 ? IBV_WR_SEND :
			IBV_WR_RDMA_WRITE, f.rwp, 4096, f.rwp_mr->lkey);
		wr.wr.rdma.remote_addr = (uintptr_t)f.rwo + 4096;
		wr.wr.rdma.rkey = f.rwo_mr->rkey;
		(void)ibv_post_send(q->a.qp, &wr, &bad);
		(void)ibv_poll_cq(q->a.scq, 16, wc);
		(void)ibv_poll_cq(q->b.rcq, 16, wc);
		(void)ibv_poll_cq(q->a.rcq, 16, wc);
		(void)ibv_poll_cq(q->b.scq, 16, wc);
	}
}

static void rings_child(void)
{
	struct tamper t = { 0 };
	struct pair q;
	pthread_t th;

	rc_setup();		/* a context of the child's own */
	setup();
	pair_create(&q, &default_opts);
	rings_find(&t);
	CHECK(t.n >= 6, "found %d ring mappings, want the SQ, RQ and CQs",
	      t.n);
	CHECK(!pthread_create(&th, NULL, tamper_run, &t), "pthread_create");
	rings_traffic(&q, 3000);
	t.stop = 1;
	pthread_join(th, NULL);
	ht_log("  rings: %" PRIu64 " words rewritten in %d mappings", t.writes,
	       t.n);
	snap_check("after the ring tamperer");
	/* teardown may fail on broken queues; it must not hang */
	(void)ibv_destroy_qp(q.a.qp);
	(void)ibv_destroy_qp(q.b.qp);
	exit(0);
}

static void case_rings(void)
{
	int status = 0;
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid)
		rings_child();
	for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; i++)
		sleep_us(100000);
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(0, "the ring tamperer's process hung for 60 s");
	}
	CHECK(WIFEXITED(status) && !WEXITSTATUS(status),
	      "the ring tamperer's process ended with status 0x%x", status);
}

/* The device still moves verified data through the same regions. */
static void still_works(void)
{
	uint8_t *src = malloc(AREA), *back = malloc(AREA);
	struct ibv_mr *smr, *bmr;
	struct ibv_wc wc;
	struct pair q;

	CHECK(src && back, "malloc");
	smr = reg(pd, src, AREA, ACCESS_ALL);
	bmr = reg(pd, back, AREA, ACCESS_ALL);
	pair_create(&q, &default_opts);
	for (int k = 0; k < 2; k++) {
		uint8_t *dst = k ? f.rwo : f.rwp;
		struct ibv_mr *mr = k ? f.rwo_mr : f.rwp_mr;

		fill_random(src, AREA);
		post1(q.a.qp, 10, IBV_WR_RDMA_WRITE, src, AREA, smr->lkey,
		      (uintptr_t)dst, mr->rkey);
		expect_ok(q.a.scq, &wc, 10, IBV_WC_RDMA_WRITE, q.a.qp,
			  "WRITE after the fuzz");
		check_bytes(dst, src, AREA, "WRITE after the fuzz");
		post1(q.a.qp, 11, IBV_WR_RDMA_READ, back, AREA, bmr->lkey,
		      (uintptr_t)dst, mr->rkey);
		expect_ok(q.a.scq, &wc, 11, IBV_WC_RDMA_READ, q.a.qp,
			  "READ after the fuzz");
		check_bytes(back, src, AREA, "READ after the fuzz");
	}
	pair_destroy(&q);
	CHECK(!ibv_dereg_mr(smr) && !ibv_dereg_mr(bmr), "dereg_mr");
	free(src);
	free(back);
	snap_check("after the verified traffic");
}

static void report(void)
{
	static const char *const drops[] = {
		"drop_malformed", "drop_icrc", "drop_opcode", "drop_no_qp",
		"drop_qp_state", "drop_source", "drop_pkey", "drop_qkey",
		"drop_out_of_sequence", "drop_duplicate", "drop_no_recv_wqe",
		"drop_too_long", "err_naks_sent", "rnr_naks_sent",
		"seq_naks_sent", "duplicate_requests",
	};
	char line[1024];
	size_t off = 0, ops = 0;

	for (size_t i = 0; i < 256; i++)
		ops += !!f.by_op[i];
	ht_log("fuzz: %" PRIu64 " packets, %zu opcodes, %" PRIu64
	       " cut short", f.sent, ops, f.cut);
	if (f.pairs)
		ht_log("fuzz: %" PRIu64 " RC responder pairs, %" PRIu64
		       " ended early by a fatal NAK", f.pairs, f.broken);
	for (size_t i = 0; i < ARRAY_SIZE(drops); i++)
		off += snprintf(line + off, sizeof(line) - off, " %s %" PRIu64,
				drops[i], counter(drops[i]));
	ht_log("fuzz: counters now:%s", line);
}

int main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		{ "rc_responder", case_rc_responder },
		{ "rc_completer", case_rc_completer },
		{ "ud", case_ud },
		{ "rings", case_rings },
		{ "dup_read", case_dup_read },
		{ "dup_read_stream", case_dup_read_stream },
	};

	rc_setup();
	setup();
	run_cases(cases, ARRAY_SIZE(cases), argc, argv);
	still_works();
	report();
	CHECK(!ibv_dereg_mr(f.rwp_mr) && !ibv_dereg_mr(f.rwo_mr) &&
	      !ibv_dereg_mr(f.ro_mr) && !ibv_dereg_mr(f.other_mr), "dereg_mr");
	CHECK(!ibv_dealloc_pd(f.pd2), "dealloc_pd");
	close(f.sock);
	rc_teardown();
	return 0;
}
