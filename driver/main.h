/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic devices (main.c): the device list, the "hmmnic" rdma link type,
 * the netdev notifier.
 */
#ifndef HMMNIC_MAIN_H
#define HMMNIC_MAIN_H

#include "hmmnic.h"

struct hmmnic_dev *hmmnic_get_by_netdev(struct net_device *ndev);
void hmmnic_port_event(struct hmmnic_dev *hdev);

#endif /* HMMNIC_MAIN_H */
