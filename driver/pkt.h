/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic: RoCEv2 packets. The InfiniBand transport headers as they travel
 * in UDP port 4791, the opcode table, and the per-packet metadata kept in
 * skb->cb while a packet moves between the network and a QP worker.
 */
#ifndef HMMNIC_PKT_H
#define HMMNIC_PKT_H

#include <linux/skbuff.h>
#include <linux/types.h>

#define HMMNIC_UDP_PORT		4791
#define HMMNIC_ICRC_SIZE	4
#define HMMNIC_PSN_MASK		0xffffff
#define HMMNIC_QPN_MASK		0xffffff
#define HMMNIC_GRH_SIZE		40	/* GRH space ahead of UD payloads */

/* Base Transport Header */
struct hmmnic_bth {
	u8 opcode;
	u8 flags;		/* SE, M, pad count, transport version */
	__be16 pkey;
	__be32 qpn;		/* top byte: FECN, BECN, reserved */
	__be32 apsn;		/* top bit: AckReq */
} __packed;

#define HMMNIC_BTH_SE		0x80
#define HMMNIC_BTH_MIG		0x40
#define HMMNIC_BTH_PAD_SHIFT	4
#define HMMNIC_BTH_PAD_MASK	0x30
#define HMMNIC_BTH_TVER_MASK	0x0f
#define HMMNIC_BTH_ACKREQ	0x80000000u

/* RDMA Extended Transport Header */
struct hmmnic_reth {
	__be64 va;
	__be32 rkey;
	__be32 len;
} __packed;

/* ACK Extended Transport Header */
struct hmmnic_aeth {
	__be32 smsn;		/* syndrome (8 bits), MSN (24 bits) */
} __packed;

/* Atomic Extended Transport Header */
struct hmmnic_atmeth {
	__be64 va;
	__be32 rkey;
	__be64 swap_add;
	__be64 compare;
} __packed;

/* Atomic ACK Extended Transport Header */
struct hmmnic_atmack {
	__be64 orig;
} __packed;

/* Datagram Extended Transport Header */
struct hmmnic_deth {
	__be32 qkey;
	__be32 sqp;		/* low 24 bits: source QP */
} __packed;

/* Immediate data / Invalidate Extended Transport Header */
struct hmmnic_immdt {
	__be32 data;
} __packed;

/* AETH syndromes */
#define HMMNIC_AETH_TYPE_MASK	0xe0
#define HMMNIC_AETH_ACK		0x00
#define HMMNIC_AETH_RNR_NAK	0x20
#define HMMNIC_AETH_NAK		0x60
#define HMMNIC_AETH_ACK_UNLIMITED 0x1f	/* ACK without credit count */
#define HMMNIC_NAK_PSN_SEQ	0x60
#define HMMNIC_NAK_INV_REQ	0x61
#define HMMNIC_NAK_REM_ACCESS	0x62
#define HMMNIC_NAK_REM_OP	0x63

/* Opcodes: transport class in the top three bits, operation below. */
enum hmmnic_opcode {
	HMMNIC_OP_SEND_FIRST		= 0x00,
	HMMNIC_OP_SEND_MIDDLE		= 0x01,
	HMMNIC_OP_SEND_LAST		= 0x02,
	HMMNIC_OP_SEND_LAST_IMM		= 0x03,
	HMMNIC_OP_SEND_ONLY		= 0x04,
	HMMNIC_OP_SEND_ONLY_IMM		= 0x05,
	HMMNIC_OP_WRITE_FIRST		= 0x06,
	HMMNIC_OP_WRITE_MIDDLE		= 0x07,
	HMMNIC_OP_WRITE_LAST		= 0x08,
	HMMNIC_OP_WRITE_LAST_IMM	= 0x09,
	HMMNIC_OP_WRITE_ONLY		= 0x0a,
	HMMNIC_OP_WRITE_ONLY_IMM	= 0x0b,
	HMMNIC_OP_READ_REQ		= 0x0c,
	HMMNIC_OP_READ_RESP_FIRST	= 0x0d,
	HMMNIC_OP_READ_RESP_MIDDLE	= 0x0e,
	HMMNIC_OP_READ_RESP_LAST	= 0x0f,
	HMMNIC_OP_READ_RESP_ONLY	= 0x10,
	HMMNIC_OP_ACK			= 0x11,
	HMMNIC_OP_ATOMIC_ACK		= 0x12,
	HMMNIC_OP_CMP_SWAP		= 0x13,
	HMMNIC_OP_FETCH_ADD		= 0x14,
	HMMNIC_OP_SEND_LAST_INV		= 0x16,
	HMMNIC_OP_SEND_ONLY_INV		= 0x17,
	HMMNIC_OP_UD_SEND_ONLY		= 0x64,
	HMMNIC_OP_UD_SEND_ONLY_IMM	= 0x65,
};

#define HMMNIC_OP_CLASS_RC	0x00
#define HMMNIC_OP_CLASS_UD	0x60
#define HMMNIC_OP_CLASS_MASK	0xe0

/* What an opcode carries; see hmmnic_op_info(). */
enum {
	HMMNIC_F_RETH	= BIT(0),
	HMMNIC_F_AETH	= BIT(1),
	HMMNIC_F_ATMETH	= BIT(2),
	HMMNIC_F_ATMACK	= BIT(3),
	HMMNIC_F_DETH	= BIT(4),
	HMMNIC_F_IMM	= BIT(5),
	HMMNIC_F_IETH	= BIT(6),
	HMMNIC_F_PAYLOAD = BIT(7),
	HMMNIC_F_REQ	= BIT(8),	/* requester -> responder */
	HMMNIC_F_FIRST	= BIT(9),
	HMMNIC_F_MIDDLE	= BIT(10),
	HMMNIC_F_LAST	= BIT(11),
	HMMNIC_F_SEND	= BIT(12),
	HMMNIC_F_WRITE	= BIT(13),
	HMMNIC_F_READ	= BIT(14),
	HMMNIC_F_ATOMIC	= BIT(15),
	HMMNIC_F_VALID	= BIT(16),
};

struct hmmnic_op_info {
	u32 flags;
	u8 hdr_len;		/* BTH and extension headers */
};

const struct hmmnic_op_info *hmmnic_op_info(u8 opcode);

/* Offsets of the extension headers after the BTH, in wire order. */
static inline unsigned int hmmnic_eth_offset(u32 flags, u32 which)
{
	unsigned int off = sizeof(struct hmmnic_bth);

	if (which == HMMNIC_F_DETH)
		return off;
	if (flags & HMMNIC_F_DETH)
		off += sizeof(struct hmmnic_deth);
	if (which == HMMNIC_F_RETH || which == HMMNIC_F_ATMETH ||
	    which == HMMNIC_F_AETH)
		return off;
	if (flags & HMMNIC_F_RETH)
		off += sizeof(struct hmmnic_reth);
	if (flags & HMMNIC_F_AETH)
		off += sizeof(struct hmmnic_aeth);
	if (flags & HMMNIC_F_ATMETH)
		off += sizeof(struct hmmnic_atmeth);
	/* ATMACK, IMM and IETH come last, never together */
	return off;
}

/**
 * struct hmmnic_pkt - metadata of a received packet, in skb->cb
 * @opcode: BTH opcode
 * @flags: hmmnic_op_info(opcode)->flags
 * @bth_flags: the BTH's SE/M/pad/version byte
 * @psn: the packet's PSN
 * @qpn: the destination QP number from the BTH
 * @ackreq: the requester asks for an ACK
 * @paylen: payload bytes, without pad and ICRC
 * @local: delivered by the local short cut; there is no ICRC to check
 * @hdr: offset of the BTH from skb->data
 */
struct hmmnic_pkt {
	u8 opcode;
	u8 bth_flags;
	bool ackreq;
	bool local;
	u32 flags;
	u32 psn;
	u32 qpn;
	u32 paylen;
	u16 hdr;
};

static inline struct hmmnic_pkt *hmmnic_skb_pkt(struct sk_buff *skb)
{
	BUILD_BUG_ON(sizeof(struct hmmnic_pkt) > sizeof(skb->cb));
	return (struct hmmnic_pkt *)skb->cb;
}

static inline void *hmmnic_pkt_eth(struct sk_buff *skb, u32 which)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);

	return skb->data + pkt->hdr + hmmnic_eth_offset(pkt->flags, which);
}

static inline void *hmmnic_pkt_payload(struct sk_buff *skb)
{
	struct hmmnic_pkt *pkt = hmmnic_skb_pkt(skb);

	return skb->data + pkt->hdr + hmmnic_op_info(pkt->opcode)->hdr_len;
}

/* PSN arithmetic modulo 2^24: a - b as a signed distance. */
static inline s32 hmmnic_psn_diff(u32 a, u32 b)
{
	return (s32)((a - b) << 8) >> 8;
}

static inline u32 hmmnic_psn_add(u32 psn, u32 n)
{
	return (psn + n) & HMMNIC_PSN_MASK;
}

u32 hmmnic_icrc(struct sk_buff *skb, unsigned int len);

struct hmmnic_qp;
struct sk_buff *hmmnic_pkt_new(struct hmmnic_qp *qp, u8 opcode, u32 paylen,
			       u32 psn, bool ackreq, u32 dest_qpn);

#endif /* HMMNIC_PKT_H */
