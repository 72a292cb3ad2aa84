// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The UDP tunnel helpers take the struct sock, not the struct socket (7.x). */
#include <net/udp_tunnel.h>

void probe_release(struct sock *sk)
{
	udp_tunnel_sock_release(sk);
}
