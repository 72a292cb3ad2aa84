/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The QP worker (worker.c): when a QP's transport runs, its timers, and
 * the waits of a stage that met a transient failure.
 */
#ifndef HMMNIC_WORKER_H
#define HMMNIC_WORKER_H

#include "hmmnic.h"

void hmmnic_qp_worker_init(struct hmmnic_qp *qp);
void hmmnic_qp_sched(struct hmmnic_qp *qp);
void hmmnic_qp_doorbell(struct hmmnic_qp *qp);
void hmmnic_qp_run_inline(struct hmmnic_qp *qp);
void hmmnic_qp_tx_wait(struct hmmnic_qp *qp);
bool hmmnic_busy_retry(struct hmmnic_qp *qp, struct hmmnic_busy *busy);
bool hmmnic_busy_waiting(struct hmmnic_qp *qp, struct hmmnic_busy *busy);

#endif /* HMMNIC_WORKER_H */
