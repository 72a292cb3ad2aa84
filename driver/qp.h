/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * QP, SRQ and AH services for the data path (qp.c): lookups, events, the
 * error state, receive WQEs, address vectors.
 */
#ifndef HMMNIC_QP_H
#define HMMNIC_QP_H

#include "hmmnic.h"

struct hmmnic_qp *hmmnic_qp_get(struct hmmnic_dev *hdev, u32 qpn);
void hmmnic_qp_put(struct hmmnic_qp *qp);
void hmmnic_qp_event(struct hmmnic_qp *qp, enum ib_event_type type);
void hmmnic_qp_error(struct hmmnic_qp *qp, bool fatal);
void hmmnic_qp_drain(struct hmmnic_qp *qp);
int hmmnic_rq_get(struct hmmnic_rq *rq, struct hmmnic_recv_wqe *wqe);
void hmmnic_srq_check_limit(struct hmmnic_srq *srq);
int hmmnic_av_init(struct hmmnic_dev *hdev, struct hmmnic_av *av,
		   const struct rdma_ah_attr *attr);
int hmmnic_ah_lookup(struct hmmnic_dev *hdev, u32 ah_num, struct ib_pd *pd,
		     struct hmmnic_av *av);

#endif /* HMMNIC_QP_H */
