// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* ib_umem_get() of a user address became ib_umem_get_va() (7.x). */
#include <rdma/ib_umem.h>

struct ib_umem *probe_umem(struct ib_device *dev, unsigned long addr, size_t len)
{
	return ib_umem_get_va(dev, addr, len, 0);
}
