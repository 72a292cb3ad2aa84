/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The completer (comp.c): ACKs, NAKs, READ responses and atomic ACKs for
 * an RC requester; retransmission.
 */
#ifndef HMMNIC_COMP_H
#define HMMNIC_COMP_H

#include "hmmnic.h"

void hmmnic_comp_rcv(struct hmmnic_qp *qp, struct sk_buff *skb);
void hmmnic_comp_timeout(struct hmmnic_qp *qp);

#endif /* HMMNIC_COMP_H */
