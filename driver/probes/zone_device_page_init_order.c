// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* zone_device_page_init() takes a folio order (6.19). */
#include <linux/memremap.h>

void probe_init(struct page *page)
{
	zone_device_page_init(page, 0);
}
