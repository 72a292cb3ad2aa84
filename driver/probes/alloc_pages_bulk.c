// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* alloc_pages_bulk_array() was renamed alloc_pages_bulk() (6.14). */
#include <linux/gfp.h>

unsigned long probe_bulk(struct page **pages)
{
	return alloc_pages_bulk(GFP_KERNEL, 1, pages);
}
