/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The CQE producer of the data path (cq.c).
 */
#ifndef HMMNIC_CQ_H
#define HMMNIC_CQ_H

#include "hmmnic.h"

int hmmnic_cq_post(struct hmmnic_cq *cq, struct hmmnic_cqe *cqe,
		   struct hmmnic_qp *qp, bool solicited);

#endif /* HMMNIC_CQ_H */
