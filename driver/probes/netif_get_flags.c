// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* dev_get_flags() became netif_get_flags() (6.18). */
#include <linux/netdevice.h>

unsigned int probe_flags(const struct net_device *dev)
{
	return netif_get_flags(dev);
}
