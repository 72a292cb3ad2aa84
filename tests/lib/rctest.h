/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Verbs helpers shared by the C tests that run traffic: random data and
 * byte checks, port counters, completions and async events, and RC pairs
 * connected to each other in loopback through GID 1 (the IPv4-mapped GID
 * of the guest's eth0 address). Every helper fails the test on error.
 * rc_setup() opens the device and fills in the globals.
 */
#ifndef RCTEST_H
#define RCTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#define PORT		1
#define GID_INDEX	1
#define CQ_SIZE		256
#define QP_WR		128
#define QP_SGE		4
#define QP_INLINE	128
#define POLL_MS		10000
#define ACCESS_ALL	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* PSNs: a's starts just below the 24-bit wrap. */
#define A_PSN	0xffff80
#define B_PSN	0x000123

extern struct ibv_context *ctx;
extern struct ibv_pd *pd;
extern union ibv_gid gid;
extern enum ibv_mtu port_mtu;
/* Path MTU of the RC pairs: HMMNIC_TEST_MTU bytes, default 1024. */
extern enum ibv_mtu test_mtu;
extern uint64_t rnd_state;

/* One end of a connection: the QP and its own send and receive CQs. */
struct end {
	struct ibv_qp *qp;
	struct ibv_cq *scq, *rcq;
};

struct pair {
	struct end a, b;
};

/* Transport attributes of the requester (a) side. */
struct rc_opts {
	uint8_t timeout, retry_cnt, rnr_retry;
	int a_scq_size;		/* 0: CQ_SIZE */
	enum ibv_mtu mtu;	/* path MTU of both ends; 0: test_mtu */
};

extern const struct rc_opts default_opts;


/* Open the device, check port 1 and GID 1, allocate pd; seed rnd(). */
void rc_setup(void);
/* Is case @name selected by the glob patterns argv[1..] (none: all)? */
bool case_selected(const char *name, int argc, char **argv);
/* A named test case, for run_cases(). */
struct test_case {
	const char *name;
	void (*fn)(void);
};

/*
 * Run the cases selected by argv[1..] (all without arguments), in order,
 * logging each; fails the test if none matches. Returns how many ran.
 */
int run_cases(const struct test_case *cases, size_t n, int argc,
	      char **argv);
/* Deallocate pd and close the device. */
void rc_teardown(void);

uint64_t rnd(void);
void fill_random(void *p, size_t len);
void fill_pattern(void *p, size_t len, uint8_t v);
void check_bytes(const void *got, const void *want, size_t len,
	const char *what);
void check_pattern(const void *p, size_t len, uint8_t v,
	const char *what);
uint64_t now_ms(void);
void sleep_us(long us);
uint64_t counter(const char *name);
uint64_t counter_grown(const char *name, uint64_t old, uint64_t min);
void counters_now(const char *const *names, uint64_t *v, size_t n);
/* 6 on a -debug kernel (KASAN, lockdep, kmemleak), 1 otherwise */
int slow_kernel_factor(void);
void poll_one_ms(struct ibv_cq *cq, struct ibv_wc *wc, int ms,
	const char *what);
void poll_one(struct ibv_cq *cq, struct ibv_wc *wc, const char *what);
void poll_none(struct ibv_cq *cq, int ms, const char *what);
void expect_ok(struct ibv_cq *cq, struct ibv_wc *wc, uint64_t wr_id,
	enum ibv_wc_opcode opcode, struct ibv_qp *qp,
	const char *what);
/*
 * One completion with @status; with HMMNIC_TEST_LOSSY set, RETRY_EXC_ERR
 * also stands for a remote error (a lost fatal NAK).
 */
void expect_err(struct ibv_cq *cq, uint64_t wr_id,
	enum ibv_wc_status status, struct ibv_qp *qp, int ms,
	const char *what);
int async_event(int ms, void **element);
void drain_async(int quiet_ms);
struct ibv_mr *reg(struct ibv_pd *p, void *buf, size_t len, int access);
struct ibv_cq *cq_create(int size);
void end_create(struct end *e, enum ibv_qp_type type, int scq_size);
void end_destroy_qp(struct end *e);
void end_destroy(struct end *e);
void modify(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask,
	const char *what);
void rc_init(struct ibv_qp *qp);
/* A UD QP through INIT and RTR to RTS, with Q_Key @qkey. */
void ud_up(struct ibv_qp *qp, uint32_t qkey);
void rc_connect(struct ibv_qp *qp, uint32_t dest_qpn, uint32_t rq_psn,
	uint32_t sq_psn, const struct rc_opts *o);
void pair_connect(struct pair *p, const struct rc_opts *o);
void pair_create(struct pair *p, const struct rc_opts *o);
void pair_destroy(struct pair *p);
void post_recv(struct ibv_qp *qp, uint64_t wr_id, struct ibv_sge *sge,
	int num_sge);
void post_recv1(struct ibv_qp *qp, uint64_t wr_id, void *buf,
	uint32_t len, uint32_t lkey);
void post(struct ibv_qp *qp, struct ibv_send_wr *wr);
void wr_init(struct ibv_send_wr *wr, struct ibv_sge *sge,
	uint64_t wr_id, enum ibv_wr_opcode opcode, void *buf,
	uint32_t len, uint32_t lkey);
void post1(struct ibv_qp *qp, uint64_t wr_id, enum ibv_wr_opcode op,
	void *buf, uint32_t len, uint32_t lkey, uint64_t raddr,
	uint32_t rkey);

#endif /* RCTEST_H */
