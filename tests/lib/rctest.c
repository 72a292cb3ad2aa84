// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Verbs helpers shared by the C tests that run traffic (see rctest.h). */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "hmmtest.h"
#include "rctest.h"

struct ibv_context *ctx;
struct ibv_pd *pd;
union ibv_gid gid;
enum ibv_mtu port_mtu;
enum ibv_mtu test_mtu = IBV_MTU_1024;
uint64_t rnd_state;

const struct rc_opts default_opts = {
	.timeout = 14, .retry_cnt = 7, .rnr_retry = 7,
};

void rc_setup(void)
{
	struct ibv_port_attr port;
	uint64_t seed;
	int ret;

	seed = getenv("HMMNIC_SEED") ? strtoull(getenv("HMMNIC_SEED"), NULL, 0)
				     : (uint64_t)time(NULL) ^ getpid();
	rnd_state = seed | 1;
	ht_log("seed %" PRIu64 " (HMMNIC_SEED)", seed);

	ctx = ht_open(ht_dev_name());
	ret = ibv_query_port(ctx, PORT, &port);
	CHECK(!ret, "query_port: %s", strerror(ret));
	CHECK(port.state == IBV_PORT_ACTIVE, "port %d is not active", PORT);
	port_mtu = port.active_mtu;
	if (getenv("HMMNIC_TEST_MTU")) {
		unsigned long m = strtoul(getenv("HMMNIC_TEST_MTU"), NULL, 0);

		for (test_mtu = IBV_MTU_256; test_mtu < IBV_MTU_4096 &&
		     128ul << test_mtu != m; test_mtu++)
			;
		CHECK(128ul << test_mtu == m, "HMMNIC_TEST_MTU=%lu is not a "
		      "path MTU (256, 512, 1024, 2048 or 4096)", m);
	}
	CHECK(test_mtu <= port_mtu, "path MTU %u needs a larger netdev MTU: "
	      "the port's active MTU is %u", 128u << test_mtu,
	      128u << port_mtu);
	ret = ibv_query_gid(ctx, PORT, GID_INDEX, &gid);
	CHECK(!ret, "query_gid(%d): %s", GID_INDEX, strerror(ret));
	CHECK(!memcmp(gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12),
	      "GID %d is not an IPv4-mapped GID", GID_INDEX);
	ht_log("GID %d is ::ffff:%u.%u.%u.%u, active MTU %u, path MTU %u "
	       "(HMMNIC_TEST_MTU)", GID_INDEX, gid.raw[12], gid.raw[13],
	       gid.raw[14], gid.raw[15], 128u << port_mtu, 128u << test_mtu);

	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd: %s", strerror(errno));
}

bool case_selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc < 2)
		return true;
	for (i = 1; i < argc; i++)
		if (!fnmatch(argv[i], name, 0))
			return true;
	return false;
}

int run_cases(const struct test_case *cases, size_t n, int argc,
	      char **argv)
{
	size_t i;
	int ran = 0;

	for (i = 0; i < n; i++) {
		if (!case_selected(cases[i].name, argc, argv))
			continue;
		ran++;
		ht_log("case %s", cases[i].name);
		cases[i].fn();
	}
	CHECK(ran, "no case matches");
	return ran;
}

void rc_teardown(void)
{
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	CHECK(!ibv_close_device(ctx), "close_device");
}

uint64_t rnd(void)
{
	/* xorshift64* */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

void fill_random(void *p, size_t len)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = rnd();
}

void fill_pattern(void *p, size_t len, uint8_t v)
{
	memset(p, v, len);
}

/* Fails the test at the first byte where @got differs from @want. */
void check_bytes(const void *got, const void *want, size_t len,
			const char *what)
{
	const uint8_t *g = got, *w = want;
	size_t i;

	if (!memcmp(got, want, len))
		return;
	for (i = 0; i < len && g[i] == w[i]; i++)
		;
	CHECK(0, "%s: byte %zu of %zu is 0x%02x, want 0x%02x", what, i, len,
	      g[i], w[i]);
}

/* Every byte of [p, p + len) is @v. */
void check_pattern(const void *p, size_t len, uint8_t v,
			  const char *what)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		CHECK(b[i] == v, "%s: byte %zu is 0x%02x, want 0x%02x "
		      "(untouched)", what, i, b[i], v);
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- counters ---- */

uint64_t counter(const char *name)
{
	char path[256], buf[64];
	int err;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/%d/hw_counters/%s",
		 ht_dev_name(), PORT, name);
	err = ht_read_file(path, buf, sizeof(buf));
	CHECK(!err, "read %s: %s", path, strerror(-err));
	return strtoull(buf, NULL, 0);
}

/*
 * The core caches the counters for their lifespan (10 ms by default), so
 * a read soon after another may show the old value: wait up to a second
 * for @name to grow past @old by at least @min.
 */
uint64_t counter_grown(const char *name, uint64_t old, uint64_t min)
{
	uint64_t deadline = now_ms() + 1000, v;

	while ((v = counter(name)) < old + min && now_ms() < deadline)
		sleep_us(5000);
	return v;
}

/* Exact values of @n counters: read past the core's cache (10 ms). */
void counters_now(const char *const *names, uint64_t *v, size_t n)
{
	sleep_us(20000);
	for (size_t i = 0; i < n; i++)
		v[i] = counter(names[i]);
}

/* ---- completions ---- */

/*
 * The debug kernel (KASAN, lockdep, kmemleak) makes each packet and each
 * fault many times dearer under TCG: a 4 MiB READ at path MTU 256 (16,384
 * responses, 1024 faults) takes about 9.5 s there against 0.2 s on the
 * default kernel, so a wait for a completion is 6 times as long on a
 * "-debug" kernel. The waits catch completions that never come; they
 * measure nothing.
 */
int slow_kernel_factor(void)
{
	static int factor;
	struct utsname u;

	if (!factor)
		factor = !uname(&u) && strstr(u.release, "-debug") ? 6 : 1;
	return factor;
}

/* Wait up to @ms for one completion on @cq; fail on timeout. */
void poll_one_ms(struct ibv_cq *cq, struct ibv_wc *wc, int ms,
			const char *what)
{
	uint64_t deadline;
	int n;

	/* on a lossy path a lost last packet costs a whole ACK timeout */
	if (getenv("HMMNIC_TEST_LOSSY"))
		ms *= 6;
	ms *= slow_kernel_factor();
	deadline = now_ms() + ms;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		CHECK(n >= 0, "%s: poll_cq returned %d", what, n);
		if (n)
			return;
		CHECK(now_ms() < deadline, "%s: no completion within %d ms",
		      what, ms);
		sleep_us(50);
	}
}

void poll_one(struct ibv_cq *cq, struct ibv_wc *wc, const char *what)
{
	poll_one_ms(cq, wc, POLL_MS, what);
}

/* Nothing may complete on @cq for @ms. */
void poll_none(struct ibv_cq *cq, int ms, const char *what)
{
	uint64_t deadline = now_ms() + ms;
	struct ibv_wc wc;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, &wc);
		CHECK(n == 0, "%s: unexpected completion wr_id %" PRIu64
		      " status %s", what, wc.wr_id,
		      n > 0 ? ibv_wc_status_str(wc.status) : "?");
		sleep_us(1000);
	} while (now_ms() < deadline);
}

/* One successful completion of @wr_id with @opcode on @qp. */
void expect_ok(struct ibv_cq *cq, struct ibv_wc *wc, uint64_t wr_id,
		      enum ibv_wc_opcode opcode, struct ibv_qp *qp,
		      const char *what)
{
	poll_one(cq, wc, what);
	CHECK(wc->status == IBV_WC_SUCCESS, "%s: status %s (%d), vendor_err %u",
	      what, ibv_wc_status_str(wc->status), wc->status, wc->vendor_err);
	CHECK(wc->wr_id == wr_id, "%s: wr_id %" PRIu64 ", want %" PRIu64,
	      what, wc->wr_id, wr_id);
	CHECK(wc->opcode == opcode, "%s: opcode %d, want %d", what,
	      wc->opcode, opcode);
	CHECK(wc->qp_num == qp->qp_num, "%s: qp_num %u, want %u", what,
	      wc->qp_num, qp->qp_num);
}

/* One completion of @wr_id that failed with @status. */
void expect_err(struct ibv_cq *cq, uint64_t wr_id,
		       enum ibv_wc_status status, struct ibv_qp *qp, int ms,
		       const char *what)
{
	struct ibv_wc wc;

	poll_one_ms(cq, &wc, ms, what);
	/*
	 * On a lossy path (HMMNIC_TEST_LOSSY, netem) the responder's fatal
	 * NAK may be lost: its QP is in error and answers nothing more, so
	 * the requester times out, as the IBTA says it must.
	 */
	if (getenv("HMMNIC_TEST_LOSSY") && wc.status == IBV_WC_RETRY_EXC_ERR &&
	    (status == IBV_WC_REM_ACCESS_ERR ||
	     status == IBV_WC_REM_INV_REQ_ERR || status == IBV_WC_REM_OP_ERR)) {
		ht_log("  %s: RETRY_EXC_ERR for %s: the NAK was lost", what,
		       ibv_wc_status_str(status));
		status = wc.status;
	}
	CHECK(wc.status == status, "%s: status %s (%d), want %s (%d)", what,
	      ibv_wc_status_str(wc.status), wc.status,
	      ibv_wc_status_str(status), status);
	CHECK(wc.wr_id == wr_id, "%s: wr_id %" PRIu64 ", want %" PRIu64,
	      what, wc.wr_id, wr_id);
	CHECK(wc.qp_num == qp->qp_num, "%s: qp_num %u, want %u", what,
	      wc.qp_num, qp->qp_num);
}

/* ---- async events ---- */

/*
 * Wait up to @ms for an async event; ack it and return its type, or -1 on
 * timeout. An event must be acked before its object can be destroyed.
 */
int async_event(int ms, void **element)
{
	struct ibv_async_event ev;
	struct pollfd pfd = { .fd = ctx->async_fd, .events = POLLIN };
	int ret;

	ret = poll(&pfd, 1, ms);
	CHECK(ret >= 0, "poll(async_fd): %s", strerror(errno));
	if (!ret)
		return -1;
	CHECK(!ibv_get_async_event(ctx, &ev), "get_async_event: %s",
	      strerror(errno));
	if (element)
		*element = ev.element.cq;	/* a union of pointers */
	ibv_ack_async_event(&ev);
	return ev.event_type;
}

/* Ack whatever events are pending, so that no destroy waits for them. */
void drain_async(int quiet_ms)
{
	int type;

	while ((type = async_event(quiet_ms, NULL)) >= 0)
		ht_log("  async event %s", ibv_event_type_str(type));
}

/* ---- objects ---- */

struct ibv_mr *reg(struct ibv_pd *p, void *buf, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(p, buf, len, access);

	CHECK(mr, "reg_mr(%zu bytes, access 0x%x): %s", len, access,
	      strerror(errno));
	return mr;
}

struct ibv_cq *cq_create(int size)
{
	struct ibv_cq *cq = ibv_create_cq(ctx, size, NULL, NULL, 0);

	CHECK(cq, "create_cq(%d): %s", size, strerror(errno));
	return cq;
}

void end_create(struct end *e, enum ibv_qp_type type, int scq_size)
{
	struct ibv_qp_init_attr init = {
		.qp_type = type,
		.cap = {
			.max_send_wr = QP_WR,
			.max_recv_wr = QP_WR,
			.max_send_sge = QP_SGE,
			.max_recv_sge = QP_SGE,
			.max_inline_data = QP_INLINE,
		},
	};

	e->scq = cq_create(scq_size ? scq_size : CQ_SIZE);
	e->rcq = cq_create(CQ_SIZE);
	init.send_cq = e->scq;
	init.recv_cq = e->rcq;
	e->qp = ibv_create_qp(pd, &init);
	CHECK(e->qp, "create_qp(type %d): %s", type, strerror(errno));
}

void end_destroy_qp(struct end *e)
{
	if (!e->qp)
		return;
	CHECK(!ibv_destroy_qp(e->qp), "destroy_qp %u", e->qp->qp_num);
	e->qp = NULL;
}

void end_destroy(struct end *e)
{
	end_destroy_qp(e);
	CHECK(!ibv_destroy_cq(e->scq), "destroy_cq");
	CHECK(!ibv_destroy_cq(e->rcq), "destroy_cq");
}

void modify(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
		   const char *what)
{
	int ret = ibv_modify_qp(qp, attr, mask);

	CHECK(!ret, "modify_qp %u to %s: %s", qp->qp_num, what, strerror(ret));
}

void rc_init(struct ibv_qp *qp)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = PORT,
		.qp_access_flags = ACCESS_ALL,
	};

	modify(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
	       IBV_QP_ACCESS_FLAGS, "INIT");
}

void ud_up(struct ibv_qp *qp, uint32_t qkey)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = PORT,
		.qkey = qkey,
	};

	modify(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
	       IBV_QP_QKEY, "INIT (UD)");
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTR;
	modify(qp, &attr, IBV_QP_STATE, "RTR (UD)");
	attr.qp_state = IBV_QPS_RTS;
	attr.sq_psn = 0x42;
	modify(qp, &attr, IBV_QP_STATE | IBV_QP_SQ_PSN, "RTS (UD)");
}

/* INIT -> RTR -> RTS, talking to @dest_qpn, whose send PSN is @rq_psn. */
void rc_connect(struct ibv_qp *qp, uint32_t dest_qpn, uint32_t rq_psn,
		       uint32_t sq_psn, const struct rc_opts *o)
{
	struct ibv_qp_attr attr = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = o->mtu ? o->mtu : test_mtu,
		.dest_qp_num = dest_qpn,
		.rq_psn = rq_psn,
		.max_dest_rd_atomic = 16,
		.min_rnr_timer = 12,
		.ah_attr = {
			.is_global = 1,
			.grh = {
				.dgid = gid,
				.sgid_index = GID_INDEX,
				.hop_limit = 64,
			},
			.port_num = PORT,
		},
	};

	modify(qp, &attr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
	       IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
	       IBV_QP_MIN_RNR_TIMER, "RTR");

	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IBV_QPS_RTS;
	attr.timeout = o->timeout;
	attr.retry_cnt = o->retry_cnt;
	attr.rnr_retry = o->rnr_retry;
	attr.sq_psn = sq_psn;
	attr.max_rd_atomic = 16;
	modify(qp, &attr, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
	       IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC,
	       "RTS");
}


void pair_connect(struct pair *p, const struct rc_opts *o)
{
	struct rc_opts b_opts = default_opts;

	b_opts.mtu = o->mtu;
	rc_init(p->a.qp);
	rc_init(p->b.qp);
	rc_connect(p->a.qp, p->b.qp->qp_num, B_PSN, A_PSN, o);
	rc_connect(p->b.qp, p->a.qp->qp_num, A_PSN, B_PSN, &b_opts);
}

void pair_create(struct pair *p, const struct rc_opts *o)
{
	end_create(&p->a, IBV_QPT_RC, o->a_scq_size);
	end_create(&p->b, IBV_QPT_RC, 0);
	pair_connect(p, o);
}

void pair_destroy(struct pair *p)
{
	drain_async(0);
	end_destroy(&p->a);
	end_destroy(&p->b);
}

/* ---- posting ---- */

void post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_sge *sge,
		      int num_sge)
{
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = sge, .num_sge = num_sge,
	}, *bad = NULL;
	int ret = ibv_post_recv(qp, &wr, &bad);

	CHECK(!ret, "post_recv on QP %u: %s", qp->qp_num, strerror(ret));
}

void post_recv1(struct ibv_qp *qp, uint64_t wr_id, void *buf,
		       uint32_t len, uint32_t lkey)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)buf, .length = len, .lkey = lkey,
	};

	post_recv(qp, wr_id, &sge, 1);
}

void post(struct ibv_qp *qp, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad = NULL;
	int ret = ibv_post_send(qp, wr, &bad);

	CHECK(!ret, "post_send opcode %d on QP %u: %s", wr->opcode,
	      qp->qp_num, strerror(ret));
}

/* A signaled WR with one SGE: @len bytes at @buf, with @lkey. */
void wr_init(struct ibv_send_wr *wr, struct ibv_sge *sge,
		    uint64_t wr_id, enum ibv_wr_opcode opcode, void *buf,
		    uint32_t len, uint32_t lkey)
{
	memset(wr, 0, sizeof(*wr));
	sge->addr = (uintptr_t)buf;
	sge->length = len;
	sge->lkey = lkey;
	wr->wr_id = wr_id;
	wr->opcode = opcode;
	wr->sg_list = sge;
	wr->num_sge = 1;
	wr->send_flags = IBV_SEND_SIGNALED;
}

void post1(struct ibv_qp *qp, uint64_t wr_id, enum ibv_wr_opcode op,
		  void *buf, uint32_t len, uint32_t lkey, uint64_t raddr,
		  uint32_t rkey)
{
	struct ibv_send_wr wr;
	struct ibv_sge sge;

	wr_init(&wr, &sge, wr_id, op, buf, len, lkey);
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	post(qp, &wr);
}

