// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Device, port, GID and P_Key attributes of hmmnic0 (on eth0) as user space
 * sees them through libibverbs and the provider.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmmtest.h"

static uint64_t guid_from_mac(const char *netdev)
{
	unsigned int m[6];
	char path[256], buf[64];
	uint8_t g[8];
	uint64_t guid;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", netdev);
	CHECK(!ht_read_file(path, buf, sizeof(buf)), "read %s", path);
	CHECK(sscanf(buf, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3],
		     &m[4], &m[5]) == 6, "bad MAC '%s'", buf);
	g[0] = m[0] ^ 2;
	g[1] = m[1];
	g[2] = m[2];
	g[3] = 0xff;
	g[4] = 0xfe;
	g[5] = m[3];
	g[6] = m[4];
	g[7] = m[5];
	memcpy(&guid, g, sizeof(guid));
	return guid;	/* big endian, like ibv_get_device_guid() */
}

/* The IB MTU the port must report for the netdev's MTU. */
static enum ibv_mtu expected_mtu(const char *netdev)
{
	/* GRH + UDP + BTH + XRC ETH + AtomicETH + ICRC, as RoCE counts it */
	const int overhead = 40 + 8 + 12 + 4 + 28 + 4;
	char path[256], buf[32];
	int mtu;

	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", netdev);
	CHECK(!ht_read_file(path, buf, sizeof(buf)), "read %s", path);
	mtu = atoi(buf) - overhead;
	if (mtu >= 4096)
		return IBV_MTU_4096;
	if (mtu >= 2048)
		return IBV_MTU_2048;
	if (mtu >= 1024)
		return IBV_MTU_1024;
	if (mtu >= 512)
		return IBV_MTU_512;
	return IBV_MTU_256;
}

static int find_gid(struct ibv_context *ctx, int tbl_len,
		    const union ibv_gid *want, int *nr_valid)
{
	struct ibv_gid_entry entry;
	int i, found = -1;

	*nr_valid = 0;
	for (i = 0; i < tbl_len; i++) {
		if (ibv_query_gid_ex(ctx, 1, i, &entry, 0))
			continue;
		(*nr_valid)++;
		CHECK(entry.gid_type == IBV_GID_TYPE_ROCE_V2,
		      "GID %d has type %u, want RoCE v2 only", i,
		      entry.gid_type);
		CHECK(entry.port_num == 1, "GID %d on port %u", i,
		      entry.port_num);
		if (!memcmp(&entry.gid, want, sizeof(*want)))
			found = i;
	}
	return found;
}

static void check_gids(struct ibv_context *ctx, const char *netdev,
		       int tbl_len)
{
	struct ifaddrs *ifa, *it;
	int n_v4 = 0, n_v6 = 0, nr_valid = 0;

	CHECK(!getifaddrs(&ifa), "getifaddrs: %s", strerror(errno));
	for (it = ifa; it; it = it->ifa_next) {
		union ibv_gid gid = {};
		char str[INET6_ADDRSTRLEN];

		if (!it->ifa_addr || strcmp(it->ifa_name, netdev))
			continue;
		if (it->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in *sin = (void *)it->ifa_addr;

			/* IPv4 GIDs are IPv4-mapped IPv6 addresses. */
			gid.raw[10] = 0xff;
			gid.raw[11] = 0xff;
			memcpy(&gid.raw[12], &sin->sin_addr, 4);
			inet_ntop(AF_INET, &sin->sin_addr, str, sizeof(str));
			n_v4++;
		} else if (it->ifa_addr->sa_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (void *)it->ifa_addr;

			memcpy(gid.raw, &sin6->sin6_addr, 16);
			inet_ntop(AF_INET6, &sin6->sin6_addr, str, sizeof(str));
			n_v6++;
		} else {
			continue;
		}
		CHECK(find_gid(ctx, tbl_len, &gid, &nr_valid) >= 0,
		      "no RoCE v2 GID for %s address %s", netdev, str);
		ht_log("GID for %s present", str);
	}
	freeifaddrs(ifa);
	CHECK(n_v4 >= 1, "%s has no IPv4 address to check", netdev);
	CHECK(n_v6 >= 1, "%s has no IPv6 address to check", netdev);
	CHECK(nr_valid == n_v4 + n_v6, "%d GIDs for %d addresses", nr_valid,
	      n_v4 + n_v6);
}

int main(void)
{
	const char *netdev = ht_netdev_name();
	struct ibv_device_attr_ex dev = {};
	struct ibv_context *ctx;
	struct ibv_port_attr port;
	__be16 pkey;

	ctx = ht_open(ht_dev_name());

	CHECK(!ibv_query_device_ex(ctx, NULL, &dev), "query_device_ex");
	CHECK(dev.orig_attr.vendor_id == 0xffffff, "vendor_id %#x",
	      dev.orig_attr.vendor_id);
	CHECK(dev.orig_attr.vendor_part_id == 0x484d, "vendor_part_id %#x",
	      dev.orig_attr.vendor_part_id);
	CHECK(dev.orig_attr.phys_port_cnt == 1, "phys_port_cnt %u",
	      dev.orig_attr.phys_port_cnt);
	CHECK(dev.orig_attr.node_guid == guid_from_mac(netdev),
	      "node_guid %016llx is not the EUI-64 of %s's MAC",
	      (unsigned long long)be64toh(dev.orig_attr.node_guid), netdev);
	CHECK(dev.orig_attr.sys_image_guid == dev.orig_attr.node_guid,
	      "sys_image_guid differs from node_guid");
	CHECK(ibv_get_device_guid(ctx->device) == dev.orig_attr.node_guid,
	      "sysfs node_guid differs from query_device");
	CHECK(dev.orig_attr.max_pd > 0 && dev.orig_attr.max_qp > 0 &&
	      dev.orig_attr.max_cqe > 0 && dev.orig_attr.max_mr > 0 &&
	      dev.orig_attr.max_sge > 0, "a zero limit");
	CHECK(dev.orig_attr.max_pkeys == 1, "max_pkeys %u",
	      dev.orig_attr.max_pkeys);
	/* Atomics work (datapath tests them); so does ODP (odp tests it). */
	CHECK(dev.orig_attr.atomic_cap == IBV_ATOMIC_HCA, "atomic_cap %d",
	      dev.orig_attr.atomic_cap);
	CHECK(dev.odp_caps.general_caps & IBV_ODP_SUPPORT,
	      "ODP not advertised: %#llx",
	      (unsigned long long)dev.odp_caps.general_caps);
	CHECK(strlen(dev.orig_attr.fw_ver) > 0, "empty fw_ver");

	CHECK(!ibv_query_port(ctx, 1, &port), "query_port(1)");
	CHECK(port.state == IBV_PORT_ACTIVE, "port state %s",
	      ibv_port_state_str(port.state));
	CHECK(port.phys_state == 5, "phys_state %u, want 5 (LinkUp)",
	      port.phys_state);
	CHECK(port.link_layer == IBV_LINK_LAYER_ETHERNET, "link_layer %u",
	      port.link_layer);
	CHECK(port.max_mtu == IBV_MTU_4096, "max_mtu %d", port.max_mtu);
	CHECK(port.active_mtu == expected_mtu(netdev),
	      "active_mtu %d, want %d", port.active_mtu, expected_mtu(netdev));
	CHECK(port.gid_tbl_len == 32, "gid_tbl_len %d", port.gid_tbl_len);
	CHECK(port.pkey_tbl_len == 1, "pkey_tbl_len %u", port.pkey_tbl_len);
	CHECK(port.port_cap_flags & IBV_PORT_CM_SUP, "no CM_SUP");
	CHECK(port.max_msg_sz >= (1u << 30), "max_msg_sz %u", port.max_msg_sz);
	CHECK(ibv_query_port(ctx, 2, &port) != 0, "query_port(2) succeeded");

	CHECK(!ibv_query_pkey(ctx, 1, 0, &pkey), "query_pkey(0)");
	CHECK(pkey == 0xffff, "pkey[0] %#x", pkey);
	CHECK(ibv_query_pkey(ctx, 1, 1, &pkey) != 0, "query_pkey(1) succeeded");

	CHECK(!ibv_query_port(ctx, 1, &port), "query_port(1)");
	check_gids(ctx, netdev, port.gid_tbl_len);

	CHECK(ctx->device->node_type == IBV_NODE_CA, "node_type %d",
	      ctx->device->node_type);
	CHECK(ctx->device->transport_type == IBV_TRANSPORT_IB,
	      "transport %d", ctx->device->transport_type);
	CHECK(!ibv_close_device(ctx), "close_device");
	return 0;
}
