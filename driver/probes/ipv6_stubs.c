// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * IPv6 route lookups go through ipv6_stub, so that a module using them
 * does not need ipv6.ko (until 7.x, where IPv6 cannot be a module and the
 * stubs are gone).
 */
#include <net/ipv6_stubs.h>

void *probe_stub(void)
{
	return ipv6_stub->ipv6_dst_lookup_flow;
}
