// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Adapters between the driver's functions and kernel interfaces whose
 * prototypes changed (see compat.h). Each is chosen by a probe's answer.
 */
#include <rdma/uverbs_ioctl.h>

#include "hmmnic.h"
#include "pool.h"
#include "verbs.h"

#ifdef HMMNIC_HAVE_CREATE_CQ_ATTRS
static int hmmnic_compat_create_cq(struct ib_cq *ibcq,
				   const struct ib_cq_init_attr *attr,
				   struct uverbs_attr_bundle *attrs)
{
	return hmmnic_create_cq(ibcq, attr, attrs ? &attrs->driver_udata : NULL);
}
#else
#define hmmnic_compat_create_cq hmmnic_create_cq
#endif

#ifdef HMMNIC_HAVE_REG_USER_MR_DMAH
static struct ib_mr *hmmnic_compat_reg_user_mr(struct ib_pd *ibpd, u64 start,
					       u64 length, u64 iova, int access,
					       struct ib_dmah *dmah,
					       struct ib_udata *udata)
{
	/* No DMA handles: there is no DMA, and no TPH or placement hints. */
	if (dmah)
		return ERR_PTR(-EOPNOTSUPP);
	return hmmnic_reg_user_mr(ibpd, start, length, iova, access, udata);
}
#else
#define hmmnic_compat_reg_user_mr hmmnic_reg_user_mr
#endif

#ifdef HMMNIC_HAVE_RESIZE_USER_CQ
static int hmmnic_compat_resize_cq(struct ib_cq *ibcq, unsigned int cqe,
				   struct ib_udata *udata)
{
	if (cqe > HMMNIC_MAX_CQE)
		return -EINVAL;
	return hmmnic_resize_cq(ibcq, cqe, udata);
}
#endif

const struct ib_device_ops hmmnic_compat_ops = {
	.create_cq = hmmnic_compat_create_cq,
	.reg_user_mr = hmmnic_compat_reg_user_mr,
#ifdef HMMNIC_HAVE_RESIZE_USER_CQ
	.resize_user_cq = hmmnic_compat_resize_cq,
#else
	.resize_cq = hmmnic_resize_cq,
#endif
};

#if HMMNIC_WITH_POOL
#ifndef HMMNIC_HAVE_PGMAP_FOLIO_FREE
static void hmmnic_compat_page_free(struct page *page)
{
	hmmnic_pool_folio_free(page_folio(page));
}
#endif

const struct dev_pagemap_ops hmmnic_pool_pgmap_ops = {
#ifdef HMMNIC_HAVE_PGMAP_FOLIO_FREE
	.folio_free = hmmnic_pool_folio_free,
#else
	.page_free = hmmnic_compat_page_free,
#endif
	.migrate_to_ram = hmmnic_pool_migrate_to_ram,
#if HMMNIC_WITH_DEVICE_THP
	.folio_split = hmmnic_pool_folio_split,
#endif
};
#endif
