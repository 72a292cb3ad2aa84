/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The network stage (net.c): the RoCEv2 UDP sockets, encapsulation, the
 * local short cut, and the receive path that hands packets to QP workers.
 */
#ifndef HMMNIC_NET_H
#define HMMNIC_NET_H

#include "hmmnic.h"

int hmmnic_net_register(void);
void hmmnic_net_unregister(void);
int hmmnic_net_get(struct net *net);
void hmmnic_net_put(struct net *net);
unsigned int hmmnic_headroom(struct hmmnic_dev *hdev);
bool hmmnic_addr_is_local(const struct hmmnic_av *av);
bool hmmnic_tx_busy(const struct hmmnic_av *av);
int hmmnic_xmit(struct hmmnic_dev *hdev, const struct hmmnic_av *av,
		__be16 sport, struct sk_buff *skb, bool may_inline);
void hmmnic_rcv(struct hmmnic_dev *hdev, struct sk_buff *skb,
		bool may_inline);

#endif /* HMMNIC_NET_H */
