// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* A ZONE_DEVICE page's pgmap is read with page_pgmap() (6.14). */
#include <linux/mm.h>
#include <linux/memremap.h>

struct dev_pagemap *probe_pgmap(struct page *page)
{
	return page_pgmap(page);
}
