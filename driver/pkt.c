// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic packets: the opcode table and the invariant CRC.
 */
#include <linux/crc32.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/checksum.h>

#include "hmmnic.h"
#include "net.h"
#include "pkt.h"

#define BTH	sizeof(struct hmmnic_bth)
#define RETH	sizeof(struct hmmnic_reth)
#define AETH	sizeof(struct hmmnic_aeth)
#define ATMETH	sizeof(struct hmmnic_atmeth)
#define ATMACK	sizeof(struct hmmnic_atmack)
#define DETH	sizeof(struct hmmnic_deth)
#define IMM	sizeof(struct hmmnic_immdt)

#define REQ(f)	(HMMNIC_F_VALID | HMMNIC_F_REQ | (f))
#define RSP(f)	(HMMNIC_F_VALID | (f))
#define SENDP	(HMMNIC_F_SEND | HMMNIC_F_PAYLOAD)
#define WRITEP	(HMMNIC_F_WRITE | HMMNIC_F_PAYLOAD)

static const struct hmmnic_op_info hmmnic_ops[256] = {
	[HMMNIC_OP_SEND_FIRST] = { REQ(SENDP | HMMNIC_F_FIRST), BTH },
	[HMMNIC_OP_SEND_MIDDLE] = { REQ(SENDP | HMMNIC_F_MIDDLE), BTH },
	[HMMNIC_OP_SEND_LAST] = { REQ(SENDP | HMMNIC_F_LAST), BTH },
	[HMMNIC_OP_SEND_LAST_IMM] = {
		REQ(SENDP | HMMNIC_F_LAST | HMMNIC_F_IMM), BTH + IMM },
	[HMMNIC_OP_SEND_ONLY] = {
		REQ(SENDP | HMMNIC_F_FIRST | HMMNIC_F_LAST), BTH },
	[HMMNIC_OP_SEND_ONLY_IMM] = {
		REQ(SENDP | HMMNIC_F_FIRST | HMMNIC_F_LAST | HMMNIC_F_IMM),
		BTH + IMM },
	[HMMNIC_OP_SEND_LAST_INV] = {
		REQ(SENDP | HMMNIC_F_LAST | HMMNIC_F_IETH), BTH + IMM },
	[HMMNIC_OP_SEND_ONLY_INV] = {
		REQ(SENDP | HMMNIC_F_FIRST | HMMNIC_F_LAST | HMMNIC_F_IETH),
		BTH + IMM },
	[HMMNIC_OP_WRITE_FIRST] = {
		REQ(WRITEP | HMMNIC_F_FIRST | HMMNIC_F_RETH), BTH + RETH },
	[HMMNIC_OP_WRITE_MIDDLE] = { REQ(WRITEP | HMMNIC_F_MIDDLE), BTH },
	[HMMNIC_OP_WRITE_LAST] = { REQ(WRITEP | HMMNIC_F_LAST), BTH },
	[HMMNIC_OP_WRITE_LAST_IMM] = {
		REQ(WRITEP | HMMNIC_F_LAST | HMMNIC_F_IMM), BTH + IMM },
	[HMMNIC_OP_WRITE_ONLY] = {
		REQ(WRITEP | HMMNIC_F_FIRST | HMMNIC_F_LAST | HMMNIC_F_RETH),
		BTH + RETH },
	[HMMNIC_OP_WRITE_ONLY_IMM] = {
		REQ(WRITEP | HMMNIC_F_FIRST | HMMNIC_F_LAST | HMMNIC_F_RETH |
		    HMMNIC_F_IMM), BTH + RETH + IMM },
	[HMMNIC_OP_READ_REQ] = {
		REQ(HMMNIC_F_READ | HMMNIC_F_FIRST | HMMNIC_F_LAST |
		    HMMNIC_F_RETH), BTH + RETH },
	[HMMNIC_OP_READ_RESP_FIRST] = {
		RSP(HMMNIC_F_READ | HMMNIC_F_PAYLOAD | HMMNIC_F_FIRST |
		    HMMNIC_F_AETH), BTH + AETH },
	[HMMNIC_OP_READ_RESP_MIDDLE] = {
		RSP(HMMNIC_F_READ | HMMNIC_F_PAYLOAD | HMMNIC_F_MIDDLE), BTH },
	[HMMNIC_OP_READ_RESP_LAST] = {
		RSP(HMMNIC_F_READ | HMMNIC_F_PAYLOAD | HMMNIC_F_LAST |
		    HMMNIC_F_AETH), BTH + AETH },
	[HMMNIC_OP_READ_RESP_ONLY] = {
		RSP(HMMNIC_F_READ | HMMNIC_F_PAYLOAD | HMMNIC_F_FIRST |
		    HMMNIC_F_LAST | HMMNIC_F_AETH), BTH + AETH },
	[HMMNIC_OP_ACK] = { RSP(HMMNIC_F_AETH), BTH + AETH },
	[HMMNIC_OP_ATOMIC_ACK] = {
		RSP(HMMNIC_F_ATOMIC | HMMNIC_F_AETH | HMMNIC_F_ATMACK),
		BTH + AETH + ATMACK },
	[HMMNIC_OP_CMP_SWAP] = {
		REQ(HMMNIC_F_ATOMIC | HMMNIC_F_FIRST | HMMNIC_F_LAST |
		    HMMNIC_F_ATMETH), BTH + ATMETH },
	[HMMNIC_OP_FETCH_ADD] = {
		REQ(HMMNIC_F_ATOMIC | HMMNIC_F_FIRST | HMMNIC_F_LAST |
		    HMMNIC_F_ATMETH), BTH + ATMETH },
	[HMMNIC_OP_UD_SEND_ONLY] = {
		REQ(SENDP | HMMNIC_F_FIRST | HMMNIC_F_LAST | HMMNIC_F_DETH),
		BTH + DETH },
	[HMMNIC_OP_UD_SEND_ONLY_IMM] = {
		REQ(SENDP | HMMNIC_F_FIRST | HMMNIC_F_LAST | HMMNIC_F_DETH |
		    HMMNIC_F_IMM), BTH + DETH + IMM },
};

const struct hmmnic_op_info *hmmnic_op_info(u8 opcode)
{
	return &hmmnic_ops[opcode];
}

/**
 * hmmnic_icrc - the invariant CRC of a RoCEv2 packet
 * @skb: a linear packet whose network header is set; the transport
 *       headers follow the UDP header
 * @len: bytes from the BTH up to (not including) the ICRC
 *
 * The CRC covers the IP and UDP headers with the fields that routers may
 * change (TOS/traffic class, TTL/hop limit, IPv4 checksum, flow label, UDP
 * checksum) set to ones, preceded by eight bytes of ones in place of the
 * InfiniBand LRH, then the BTH with its reserved byte set to ones, then the
 * rest of the packet. The result goes on the wire in little-endian order.
 *
 * Return: the ICRC.
 */
u32 hmmnic_icrc(struct sk_buff *skb, unsigned int len)
{
	static const u8 lrh[8] = { 0xff, 0xff, 0xff, 0xff,
				   0xff, 0xff, 0xff, 0xff };
	u8 ph[sizeof(struct ipv6hdr) + sizeof(struct udphdr) + BTH];
	unsigned int nh_len;
	struct udphdr *uh;
	struct hmmnic_bth *bth;
	u32 crc;

	if (ip_hdr(skb)->version == 4) {
		struct iphdr *ih = (struct iphdr *)ph;

		nh_len = sizeof(*ih);
		memcpy(ph, skb_network_header(skb),
		       nh_len + sizeof(*uh) + BTH);
		ih->tos = 0xff;
		ih->ttl = 0xff;
		ih->check = CSUM_MANGLED_0;
	} else {
		struct ipv6hdr *ih = (struct ipv6hdr *)ph;

		nh_len = sizeof(*ih);
		memcpy(ph, skb_network_header(skb),
		       nh_len + sizeof(*uh) + BTH);
		ih->priority = 0xf;
		memset(ih->flow_lbl, 0xff, sizeof(ih->flow_lbl));
		ih->hop_limit = 0xff;
	}
	uh = (struct udphdr *)(ph + nh_len);
	uh->check = CSUM_MANGLED_0;
	bth = (struct hmmnic_bth *)(uh + 1);
	bth->qpn |= cpu_to_be32(~HMMNIC_QPN_MASK);

	crc = crc32_le(~0U, lrh, sizeof(lrh));
	crc = crc32_le(crc, ph, nh_len + sizeof(*uh) + BTH);
	crc = crc32_le(crc, skb_network_header(skb) + nh_len + sizeof(*uh) +
		       BTH, len - BTH);
	return ~crc;
}

/*
 * hmmnic_pkt_new - allocate a packet and fill in its BTH
 * @paylen: payload bytes the caller will copy to hmmnic_pkt_payload()
 *
 * The packet has the opcode's extension headers zeroed, the payload, the
 * pad, and room for the UDP/IP headers and the ICRC. skb->cb describes it
 * the way hmmnic_rcv() would.
 */
struct sk_buff *hmmnic_pkt_new(struct hmmnic_qp *qp, u8 opcode, u32 paylen,
			       u32 psn, bool ackreq, u32 dest_qpn)
{
	const struct hmmnic_op_info *info = hmmnic_op_info(opcode);
	struct hmmnic_dev *hdev = qp->hdev;
	unsigned int pad = -paylen & 3;
	struct hmmnic_pkt *pkt;
	struct hmmnic_bth *bth;
	struct sk_buff *skb;

	skb = alloc_skb(hmmnic_headroom(hdev) + info->hdr_len + paylen + pad +
			HMMNIC_ICRC_SIZE, GFP_KERNEL);
	if (!skb)
		return NULL;
	skb_reserve(skb, hmmnic_headroom(hdev));
	bth = skb_put_zero(skb, info->hdr_len);
	bth->opcode = opcode;
	bth->flags = pad << HMMNIC_BTH_PAD_SHIFT;
	bth->pkey = cpu_to_be16(HMMNIC_DEFAULT_PKEY);
	bth->qpn = cpu_to_be32(dest_qpn & HMMNIC_QPN_MASK);
	bth->apsn = cpu_to_be32((psn & HMMNIC_PSN_MASK) |
				(ackreq ? HMMNIC_BTH_ACKREQ : 0));
	skb_put(skb, paylen);
	if (pad)
		skb_put_zero(skb, pad);

	memset(skb->cb, 0, sizeof(skb->cb));
	pkt = hmmnic_skb_pkt(skb);
	pkt->opcode = opcode;
	pkt->flags = info->flags;
	pkt->psn = psn;
	pkt->paylen = paylen;
	return skb;
}
