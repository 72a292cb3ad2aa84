// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* zone_device_page_init() takes the page's pgmap and a folio order (7.x). */
#include <linux/memremap.h>

void probe_init(struct page *page, struct dev_pagemap *pgmap)
{
	zone_device_page_init(page, pgmap, 0);
}
