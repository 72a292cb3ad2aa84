/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What differs between the kernels hmmnic builds for, from 6.1 to 7.x.
 *
 * The driver is written against the newest kernel API. This header and
 * compat.c map that API onto older kernels, from what driver/probes/run
 * found by compiling against the kernel being built for (its answers are
 * in compat-config.h, one HMMNIC_HAVE_<probe> per feature). Nothing here
 * tests a version number. Optional kernel features (the NIC-private pool
 * needs CONFIG_DEVICE_PRIVATE) are Kconfig options, tested with
 * IS_ENABLED() where they are used.
 */
#ifndef HMMNIC_COMPAT_H
#define HMMNIC_COMPAT_H

#include <linux/gfp.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/netdevice.h>
#include <linux/timer.h>
#include <net/ipv6.h>
#include <net/udp_tunnel.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>

#include "compat-config.h"

#ifdef HMMNIC_HAVE_IPV6_STUBS
#include <net/ipv6_stubs.h>
#endif

/*
 * The NIC-private pool needs device-private pages and their migration;
 * Kbuild builds pool.c or pool_absent.c by the same two options.
 */
#define HMMNIC_WITH_POOL	(IS_ENABLED(CONFIG_DEVICE_PRIVATE) && \
				 IS_ENABLED(CONFIG_DEVICE_MIGRATION))

/*
 * Staging a 2 MiB THP as one device-private folio, and moving it back
 * whole: device-private large folios (6.19) and THPs (the pool also asks
 * thp_migration_supported() at run time).
 */
#if HMMNIC_WITH_POOL && defined(HMMNIC_HAVE_DEVICE_THP) && \
	IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)
#define HMMNIC_WITH_DEVICE_THP	1
#else
#define HMMNIC_WITH_DEVICE_THP	0
#endif

/* from_timer() became timer_container_of() in 6.16. */
#ifndef HMMNIC_HAVE_TIMER_CONTAINER_OF
#define timer_container_of(var, timer, field) from_timer(var, timer, field)
#endif

/* alloc_pages_bulk_array() became alloc_pages_bulk() in 6.14. */
#ifndef HMMNIC_HAVE_ALLOC_PAGES_BULK
#define alloc_pages_bulk(gfp, nr, pages) alloc_pages_bulk_array(gfp, nr, pages)
#endif

/* A ZONE_DEVICE page's pgmap: page_pgmap() from 6.14. */
#ifndef HMMNIC_HAVE_PAGE_PGMAP
static inline struct dev_pagemap *page_pgmap(const struct page *page)
{
	return page->pgmap;
}
#endif

/* Pinning user memory: ib_umem_get() became ib_umem_get_va() in 7.x. */
#ifndef HMMNIC_HAVE_IB_UMEM_GET_VA
#define ib_umem_get_va(dev, addr, size, access) \
	ib_umem_get(dev, addr, size, access)
#endif

/* dev_get_flags() became netif_get_flags() in 6.18. */
#ifndef HMMNIC_HAVE_NETIF_GET_FLAGS
#define netif_get_flags(dev) dev_get_flags(dev)
#endif

/*
 * An IPv6 route: through ipv6_stub where the kernel has it (IPv6 may be a
 * module there), directly where it does not (7.x).
 */
static inline struct dst_entry *
hmmnic_ip6_dst_lookup_flow(struct net *net, const struct sock *sk,
			   struct flowi6 *fl6)
{
#ifdef HMMNIC_HAVE_IPV6_STUBS
	return ipv6_stub->ipv6_dst_lookup_flow(net, sk, fl6, NULL);
#else
	return ip6_dst_lookup_flow(net, sk, fl6, NULL);
#endif
}

/* The UDP tunnel helpers took the socket until 7.x, then its sock. */
static inline void hmmnic_setup_udp_tunnel_sock(struct net *net,
						struct socket *sock,
						struct udp_tunnel_sock_cfg *cfg)
{
#ifdef HMMNIC_HAVE_UDP_TUNNEL_SK
	setup_udp_tunnel_sock(net, sock->sk, cfg);
#else
	setup_udp_tunnel_sock(net, sock, cfg);
#endif
}

static inline void hmmnic_udp_tunnel_sock_release(struct socket *sock)
{
#ifdef HMMNIC_HAVE_UDP_TUNNEL_SK
	udp_tunnel_sock_release(sock->sk);
#else
	udp_tunnel_sock_release(sock);
#endif
}

/*
 * __assign_str() lost its source argument in 6.10 (the source is the one
 * __string() names); trace.h gives both.
 */
#ifdef HMMNIC_HAVE_ASSIGN_STR_ONE_ARG
#define hmmnic_assign_str(field, src) \
	do { (void)(src); __assign_str(field); } while (0)
#else
#define hmmnic_assign_str(field, src) __assign_str(field, src)
#endif

/*
 * ib_device_ops entries whose prototypes changed: create_cq (6.10),
 * reg_user_mr (6.17), resize_cq (7.x: resize_user_cq). The driver's
 * functions keep one prototype; compat.c adapts them in a table of its
 * own, which fills slots the driver's table leaves empty
 * (ib_set_device_ops() sets only empty slots).
 */
extern const struct ib_device_ops hmmnic_compat_ops;

#if HMMNIC_WITH_POOL
/*
 * The pool's dev_pagemap_ops, in compat.c: the free callback took the page
 * until 6.19 (page_free) and the folio since (folio_free, which pool.c
 * implements).
 */
extern const struct dev_pagemap_ops hmmnic_pool_pgmap_ops;

/**
 * hmmnic_zone_device_page_init - take a free device page into use
 * @page: the page, reference count zero
 * @pgmap: its dev_pagemap
 *
 * An order-0 folio. zone_device_page_init() took only the page until
 * 6.19, then a folio order, then the pgmap as well.
 */
static inline void hmmnic_zone_device_page_init(struct page *page,
						struct dev_pagemap *pgmap)
{
#if defined(HMMNIC_HAVE_ZONE_DEVICE_PAGE_INIT_PGMAP)
	zone_device_page_init(page, pgmap, 0);
#elif defined(HMMNIC_HAVE_ZONE_DEVICE_PAGE_INIT_ORDER)
	zone_device_page_init(page, 0);
#else
	zone_device_page_init(page);
#endif
}

#if HMMNIC_WITH_DEVICE_THP
/*
 * zone_device_folio_init() came with device-private THPs (6.19), taking
 * the folio and its order; 7.x added the pgmap, as for pages.
 */
static inline void hmmnic_zone_device_folio_init(struct folio *folio,
						 struct dev_pagemap *pgmap,
						 unsigned int order)
{
#ifdef HMMNIC_HAVE_ZONE_DEVICE_PAGE_INIT_PGMAP
	zone_device_folio_init(folio, pgmap, order);
#else
	zone_device_folio_init(folio, order);
#endif
}
#endif
#endif /* HMMNIC_WITH_POOL */

#endif /* HMMNIC_COMPAT_H */
