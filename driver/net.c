// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic network glue: the RoCEv2 UDP sockets that receive packets, the
 * IP/UDP encapsulation of outgoing packets, and the local short cut that
 * hands a packet for an address of this host straight to the receiving
 * device without the network stack (and without an ICRC). With the module
 * parameter local_shortcut off, local packets take the network path too:
 * ICRC, ip_local_out(), the loopback device and its qdisc (where netem can
 * lose, reorder, duplicate and corrupt them), the UDP socket.
 */
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/addrconf.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/route.h>
#include <net/sch_generic.h>
#include <net/udp_tunnel.h>

#include "hmmnic.h"
#include "main.h"
#include "net.h"
#include "qp.h"
#include "worker.h"

/* One pair of sockets per network namespace that has hmmnic devices. */
struct hmmnic_net {
	struct mutex lock;		/* users and the sockets */
	unsigned int users;
	struct socket *sock4;
	struct socket *sock6;
};

static unsigned int hmmnic_net_id;

static bool hmmnic_local_shortcut = true;
module_param_named(local_shortcut, hmmnic_local_shortcut, bool, 0644);
MODULE_PARM_DESC(local_shortcut,
		 "Hand packets for local addresses straight to the receiving device (default Y); N sends them through the UDP stack, as for a remote peer");

/* Does a packet on @av take the local short cut? */
static bool hmmnic_av_shortcut(const struct hmmnic_av *av)
{
	return av->local && READ_ONCE(hmmnic_local_shortcut);
}

static int hmmnic_udp_rcv(struct sock *sk, struct sk_buff *skb);

static struct socket *hmmnic_sock_open(struct net *net, bool ipv6)
{
	struct udp_tunnel_sock_cfg tcfg = {
		.encap_type = 1,
		.encap_rcv = hmmnic_udp_rcv,
	};
	struct udp_port_cfg cfg = {
		.family = ipv6 ? AF_INET6 : AF_INET,
		.local_udp_port = htons(HMMNIC_UDP_PORT),
		.ipv6_v6only = 1,
	};
	struct socket *sock;
	int err;

	err = udp_sock_create(net, &cfg, &sock);
	if (err)
		return ERR_PTR(err);
	hmmnic_setup_udp_tunnel_sock(net, sock, &tcfg);
	return sock;
}

static void hmmnic_sock_close(struct socket **sock)
{
	if (*sock)
		hmmnic_udp_tunnel_sock_release(*sock);
	*sock = NULL;
}

/*
 * hmmnic_net_get - make sure @net receives RoCEv2 packets
 *
 * The first device in a namespace opens the sockets on UDP port 4791; a
 * port already taken (by rxe, say) fails the device creation with
 * -EADDRINUSE.
 */
int hmmnic_net_get(struct net *net)
{
	struct hmmnic_net *hn = net_generic(net, hmmnic_net_id);
	struct socket *sock;
	int err = 0;

	mutex_lock(&hn->lock);
	if (hn->users++)
		goto out;
	sock = hmmnic_sock_open(net, false);
	if (IS_ERR(sock)) {
		err = PTR_ERR(sock);
		goto err;
	}
	hn->sock4 = sock;
	if (IS_ENABLED(CONFIG_IPV6)) {
		sock = hmmnic_sock_open(net, true);
		/* IPv6 may be disabled at boot; IPv4 still works then. */
		if (IS_ERR(sock) && PTR_ERR(sock) != -EAFNOSUPPORT) {
			err = PTR_ERR(sock);
			hmmnic_sock_close(&hn->sock4);
			goto err;
		}
		hn->sock6 = IS_ERR(sock) ? NULL : sock;
	}
	goto out;
err:
	hn->users--;
out:
	mutex_unlock(&hn->lock);
	return err;
}

void hmmnic_net_put(struct net *net)
{
	struct hmmnic_net *hn = net_generic(net, hmmnic_net_id);

	mutex_lock(&hn->lock);
	if (!--hn->users) {
		hmmnic_sock_close(&hn->sock4);
		hmmnic_sock_close(&hn->sock6);
	}
	mutex_unlock(&hn->lock);
}

static int __net_init hmmnic_net_init(struct net *net)
{
	struct hmmnic_net *hn = net_generic(net, hmmnic_net_id);

	mutex_init(&hn->lock);
	return 0;
}

static void __net_exit hmmnic_net_exit(struct net *net)
{
	struct hmmnic_net *hn = net_generic(net, hmmnic_net_id);

	/*
	 * Devices live in init_net only, and module unload unregisters all
	 * of them first, so no user is left here.
	 */
	mutex_lock(&hn->lock);
	WARN_ON(hn->users);
	hmmnic_sock_close(&hn->sock4);
	hmmnic_sock_close(&hn->sock6);
	mutex_unlock(&hn->lock);
}

static struct pernet_operations hmmnic_net_ops = {
	.init = hmmnic_net_init,
	.exit = hmmnic_net_exit,
	.id = &hmmnic_net_id,
	.size = sizeof(struct hmmnic_net),
};

int hmmnic_net_register(void)
{
	return register_pernet_subsys(&hmmnic_net_ops);
}

void hmmnic_net_unregister(void)
{
	unregister_pernet_subsys(&hmmnic_net_ops);
}

/* ---- transmit ---- */

/* Room a packet builder leaves in front of the BTH. */
unsigned int hmmnic_headroom(struct hmmnic_dev *hdev)
{
	return LL_RESERVED_SPACE(hdev->ndev) + sizeof(struct ipv6hdr) +
	       sizeof(struct udphdr);
}

static void hmmnic_push_udp(struct sk_buff *skb, __be16 sport)
{
	struct udphdr *uh;

	__skb_push(skb, sizeof(*uh));
	skb_reset_transport_header(skb);
	uh = udp_hdr(skb);
	uh->source = sport;
	uh->dest = htons(HMMNIC_UDP_PORT);
	uh->len = htons(skb->len);
	uh->check = 0;		/* the ICRC protects the payload */
}

static void hmmnic_push_ip4(struct sk_buff *skb, const struct hmmnic_av *av,
			    struct net *net)
{
	struct iphdr *ih;

	__skb_push(skb, sizeof(*ih));
	skb_reset_network_header(skb);
	ih = ip_hdr(skb);
	ih->version = 4;
	ih->ihl = sizeof(*ih) >> 2;
	ih->tos = av->tos;
	ih->tot_len = htons(skb->len);
	ih->frag_off = htons(IP_DF);
	ih->ttl = av->ttl;
	ih->protocol = IPPROTO_UDP;
	ih->saddr = av->saddr.v4.sin_addr.s_addr;
	ih->daddr = av->daddr.v4.sin_addr.s_addr;
	__ip_select_ident(net, ih, 1);
	ip_send_check(ih);
	skb->protocol = htons(ETH_P_IP);
}

static void hmmnic_push_ip6(struct sk_buff *skb, const struct hmmnic_av *av)
{
	struct ipv6hdr *ih;

	__skb_push(skb, sizeof(*ih));
	skb_reset_network_header(skb);
	ih = ipv6_hdr(skb);
	ip6_flow_hdr(ih, av->tos, htonl(av->flow_label));
	ih->payload_len = htons(skb->len - sizeof(*ih));
	ih->nexthdr = IPPROTO_UDP;
	ih->hop_limit = av->ttl;
	ih->saddr = av->saddr.v6.sin6_addr;
	ih->daddr = av->daddr.v6.sin6_addr;
	skb->protocol = htons(ETH_P_IPV6);
}

static struct dst_entry *hmmnic_route(const struct hmmnic_av *av)
{
	if (av->family == AF_INET) {
		struct flowi4 fl = {
			.flowi4_oif = av->ndev->ifindex,
			.flowi4_proto = IPPROTO_UDP,
			.daddr = av->daddr.v4.sin_addr.s_addr,
			.saddr = av->saddr.v4.sin_addr.s_addr,
		};
		struct rtable *rt = ip_route_output_key(av->net, &fl);

		return IS_ERR(rt) ? NULL : &rt->dst;
	}
#if IS_ENABLED(CONFIG_IPV6)
	{
		struct flowi6 fl = {
			.flowi6_oif = av->ndev->ifindex,
			.flowi6_proto = IPPROTO_UDP,
			.daddr = av->daddr.v6.sin6_addr,
			.saddr = av->saddr.v6.sin6_addr,
		};
		struct dst_entry *dst;

		dst = hmmnic_ip6_dst_lookup_flow(av->net, NULL, &fl);
		return IS_ERR(dst) ? NULL : dst;
	}
#else
	return NULL;
#endif
}

/*
 * The hmmnic device that owns the AV's destination address, if that
 * address belongs to this host; with a registration reference.
 */
static struct hmmnic_dev *hmmnic_local_peer(const struct hmmnic_av *av)
{
	struct net_device *ndev = NULL;
	struct hmmnic_dev *peer = NULL;

	rcu_read_lock();
	if (av->family == AF_INET)
		ndev = __ip_dev_find(av->net, av->daddr.v4.sin_addr.s_addr,
				     false);
#if IS_ENABLED(CONFIG_IPV6)
	else
		ndev = ipv6_dev_find(av->net, &av->daddr.v6.sin6_addr, NULL);
#endif
	if (ndev)
		peer = hmmnic_get_by_netdev(ndev);
	rcu_read_unlock();
	return peer;
}

/* Does the AV's destination address belong to this host? */
bool hmmnic_addr_is_local(const struct hmmnic_av *av)
{
	bool local;

	rcu_read_lock();
	if (av->family == AF_INET)
		local = !!__ip_dev_find(av->net, av->daddr.v4.sin_addr.s_addr,
					false);
	else
		local = IS_ENABLED(CONFIG_IPV6) &&
			ipv6_chk_addr(av->net, &av->daddr.v6.sin6_addr, NULL,
				      0);
	rcu_read_unlock();
	return local;
}

/*
 * Is the netdev's queue so full that more packets would be dropped? The
 * data path waits (hmmnic_qp_tx_wait()) rather than losing packets it
 * then has to send again: a READ answered in a burst would otherwise
 * overflow the qdisc of a slow link by itself.
 */
bool hmmnic_tx_busy(const struct hmmnic_av *av)
{
	struct netdev_queue *txq;
	bool busy;

	if (hmmnic_av_shortcut(av))
		return false;
	rcu_read_lock_bh();
	txq = netdev_get_tx_queue(av->ndev, 0);
	busy = netif_xmit_stopped(txq) ||
	       qdisc_qlen(rcu_dereference_bh(txq->qdisc)) >=
	       HMMNIC_TX_QUEUE_MAX;
	rcu_read_unlock_bh();
	return busy;
}

/**
 * hmmnic_xmit - send one packet
 * @hdev: the sending device
 * @av: where to
 * @sport: UDP source port
 * @skb: BTH, extension headers, payload, pad and room for the ICRC at
 *       the tail; hmmnic_headroom() in front. Consumed.
 * @may_inline: the caller is a doorbell run (hmmnic_rcv())
 *
 * Return: 0 when the packet left (a later loss is the transport's
 * business), or a negative errno.
 */
int hmmnic_xmit(struct hmmnic_dev *hdev, const struct hmmnic_av *av,
		__be16 sport, struct sk_buff *skb, bool may_inline)
{
	unsigned int len = skb->len;
	struct hmmnic_dev *peer;
	struct dst_entry *dst;
	int err;

	__skb_put(skb, HMMNIC_ICRC_SIZE);
	hmmnic_push_udp(skb, sport);
	if (av->family == AF_INET)
		hmmnic_push_ip4(skb, av, av->net);
	else
		hmmnic_push_ip6(skb, av);

	hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_TX_PACKETS);
	hmmnic_stat_add(&hdev->stats, HMMNIC_CNT_TX_BYTES, len);

	peer = hmmnic_av_shortcut(av) ? hmmnic_local_peer(av) : NULL;
	if (peer) {
		hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_LOCAL_PACKETS);
		memset(skb->cb, 0, sizeof(skb->cb));
		hmmnic_skb_pkt(skb)->local = true;
		skb->dev = peer->ndev;
		__skb_pull(skb, skb_transport_offset(skb) +
			   sizeof(struct udphdr));
		hmmnic_rcv(peer, skb, may_inline);
		ib_device_put(&peer->ibdev);
		return 0;
	}

	put_unaligned_le32(hmmnic_icrc(skb, len),
			   skb_transport_header(skb) + sizeof(struct udphdr) +
			   len);
	dst = hmmnic_route(av);
	if (!dst) {
		hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_TX_ERRORS);
		kfree_skb(skb);
		return -EHOSTUNREACH;
	}
	skb_dst_set(skb, dst);
	skb->dev = dst->dev;
	skb->ip_summed = CHECKSUM_NONE;
	if (av->family == AF_INET) {
		memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
		err = ip_local_out(av->net, NULL, skb);
	} else {
		memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
		err = ip6_local_out(av->net, NULL, skb);
	}
	if (unlikely(net_xmit_eval(err))) {
		hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_TX_ERRORS);
		return -ENOBUFS;
	}
	return 0;
}

/* ---- receive ---- */

/* The device a packet from the network is for: by netdev, else by address. */
static struct hmmnic_dev *hmmnic_rx_dev(struct sk_buff *skb)
{
	struct hmmnic_dev *hdev = hmmnic_get_by_netdev(skb->dev);
	struct net_device *ndev = NULL;

	if (hdev)
		return hdev;
	rcu_read_lock();
	if (ip_hdr(skb)->version == 4)
		ndev = __ip_dev_find(dev_net(skb->dev), ip_hdr(skb)->daddr,
				     false);
#if IS_ENABLED(CONFIG_IPV6)
	else
		ndev = ipv6_dev_find(dev_net(skb->dev), &ipv6_hdr(skb)->daddr,
				     NULL);
#endif
	if (ndev)
		hdev = hmmnic_get_by_netdev(ndev);
	rcu_read_unlock();
	return hdev;
}

static int hmmnic_udp_rcv(struct sock *sk, struct sk_buff *skb)
{
	struct hmmnic_dev *hdev;

	hdev = hmmnic_rx_dev(skb);
	if (!hdev) {
		kfree_skb(skb);
		return 0;
	}
	if (skb_linearize(skb)) {
		hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_DROP_MALFORMED);
		kfree_skb(skb);
	} else {
		memset(skb->cb, 0, sizeof(skb->cb));
		__skb_pull(skb, sizeof(struct udphdr));
		hmmnic_rcv(hdev, skb, false);
	}
	ib_device_put(&hdev->ibdev);
	return 0;
}

static bool hmmnic_rcv_check_source(struct hmmnic_qp *qp, struct sk_buff *skb)
{
	const struct hmmnic_av *av = &qp->av;

	if (ip_hdr(skb)->version == 4)
		return av->family == AF_INET &&
		       ip_hdr(skb)->saddr == av->daddr.v4.sin_addr.s_addr;
	return av->family == AF_INET6 &&
	       ipv6_addr_equal(&ipv6_hdr(skb)->saddr, &av->daddr.v6.sin6_addr);
}

/*
 * hmmnic_rcv - take a RoCEv2 packet for @hdev
 * @skb: linear; skb->data at the BTH, network header set, skb->cb zeroed
 *       except for hmmnic_pkt.local. Consumed.
 * @may_inline: the sender is a doorbell run in process context (local
 *              short cut only): run the receiving QP right away
 *
 * Runs in softirq context for packets from the network, in the sender's
 * QP worker or doorbell for the local short cut. Checks the headers and
 * the ICRC, finds the QP and queues the packet for its worker.
 */
void hmmnic_rcv(struct hmmnic_dev *hdev, struct sk_buff *skb,
		bool may_inline)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);
	const struct hmmnic_op_info *info;
	struct sk_buff_head *q;
	struct hmmnic_bth *bth;
	enum hmmnic_counter drop;
	unsigned long flags;
	struct hmmnic_qp *qp;
	u32 pad, min;

	hmmnic_stat_inc(&hdev->stats, HMMNIC_CNT_RX_PACKETS);
	hmmnic_stat_add(&hdev->stats, HMMNIC_CNT_RX_BYTES, skb->len);

	drop = HMMNIC_CNT_DROP_MALFORMED;
	if (skb->len < sizeof(*bth) + HMMNIC_ICRC_SIZE)
		goto drop;
	bth = (struct hmmnic_bth *)skb->data;
	info = hmmnic_op_info(bth->opcode);
	pad = (bth->flags & HMMNIC_BTH_PAD_MASK) >> HMMNIC_BTH_PAD_SHIFT;
	min = info->hdr_len + pad + HMMNIC_ICRC_SIZE;
	if ((bth->flags & HMMNIC_BTH_TVER_MASK) || skb->len < min)
		goto drop;
	drop = HMMNIC_CNT_DROP_OPCODE;
	if (!(info->flags & HMMNIC_F_VALID))
		goto drop;
	pkt->opcode = bth->opcode;
	pkt->flags = info->flags;
	pkt->bth_flags = bth->flags;
	pkt->psn = be32_to_cpu(bth->apsn) & HMMNIC_PSN_MASK;
	pkt->ackreq = !!(be32_to_cpu(bth->apsn) & HMMNIC_BTH_ACKREQ);
	pkt->qpn = be32_to_cpu(bth->qpn) & HMMNIC_QPN_MASK;
	pkt->paylen = skb->len - min;
	pkt->hdr = 0;
	if (!(info->flags & HMMNIC_F_PAYLOAD) && (pkt->paylen || pad))
		goto drop;

	drop = HMMNIC_CNT_DROP_ICRC;
	if (!pkt->local &&
	    get_unaligned_le32(skb->data + skb->len - HMMNIC_ICRC_SIZE) !=
	    hmmnic_icrc(skb, skb->len - HMMNIC_ICRC_SIZE))
		goto drop;
	drop = HMMNIC_CNT_DROP_PKEY;
	if ((be16_to_cpu(bth->pkey) & 0x7fff) != 0x7fff)
		goto drop;

	drop = HMMNIC_CNT_DROP_NO_QP;
	qp = hmmnic_qp_get(hdev, pkt->qpn);
	if (!qp)
		goto drop;
	drop = HMMNIC_CNT_DROP_OPCODE;
	if ((pkt->opcode & HMMNIC_OP_CLASS_MASK) !=
	    (qp->ibqp.qp_type == IB_QPT_RC ? HMMNIC_OP_CLASS_RC :
	     HMMNIC_OP_CLASS_UD))
		goto drop_qp;
	drop = HMMNIC_CNT_DROP_QP_STATE;
	if (READ_ONCE(qp->state) < IB_QPS_RTR)
		goto drop_qp;
	drop = HMMNIC_CNT_DROP_SOURCE;
	if (qp->ibqp.qp_type == IB_QPT_RC && !hmmnic_rcv_check_source(qp, skb))
		goto drop_qp;

	/*
	 * The state again, under the queue's lock: a move to RESET publishes
	 * the state before it drains the queues under the same lock, so a
	 * packet is either dropped here or drained there, never left for a
	 * later connection.
	 */
	q = pkt->flags & HMMNIC_F_REQ ? &qp->rxq : &qp->ackq;
	spin_lock_irqsave(&q->lock, flags);
	if (READ_ONCE(qp->state) < IB_QPS_RTR)
		drop = HMMNIC_CNT_DROP_QP_STATE;
	else if (skb_queue_len(q) >= HMMNIC_RX_QUEUE_MAX)
		drop = HMMNIC_CNT_DROP_QUEUE_FULL;
	else
		drop = HMMNIC_NUM_COUNTERS;
	if (drop == HMMNIC_NUM_COUNTERS)
		__skb_queue_tail(q, skb);
	spin_unlock_irqrestore(&q->lock, flags);
	/* a full queue: the worker is already due to run */
	if (drop != HMMNIC_NUM_COUNTERS)
		goto drop_qp;
	/*
	 * A local packet for a QP whose run this very call is nested in (the
	 * ACK of a responder that ran inline, say): that run loops again
	 * and takes it, so waking the QP's worker would only have it contend
	 * for the mutex and find nothing to do.
	 */
	if (in_task() && READ_ONCE(qp->runner) == current)
		qp->rerun = true;
	else if (may_inline)
		hmmnic_qp_run_inline(qp);
	else
		hmmnic_qp_sched(qp);
	hmmnic_qp_put(qp);
	return;

drop_qp:
	hmmnic_qp_put(qp);
drop:
	hmmnic_stat_inc(&hdev->stats, drop);
	kfree_skb(skb);
}
