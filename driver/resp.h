/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The responder (resp.c): incoming requests executed in PSN order, their
 * ACKs, NAKs, READ responses and atomic ACKs.
 */
#ifndef HMMNIC_RESP_H
#define HMMNIC_RESP_H

#include "hmmnic.h"

void hmmnic_resp_rcv(struct hmmnic_qp *qp, struct sk_buff *skb);
bool hmmnic_resp_take_dup(struct hmmnic_qp *qp);
bool hmmnic_resp_read_step(struct hmmnic_qp *qp);
void hmmnic_resp_send_ack(struct hmmnic_qp *qp);
bool hmmnic_resp_flush(struct hmmnic_qp *qp);

#endif /* HMMNIC_RESP_H */
