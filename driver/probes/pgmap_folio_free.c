// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* dev_pagemap_ops.page_free became folio_free (6.19). */
#include <linux/memremap.h>

static void probe_free(struct folio *folio)
{
}

const struct dev_pagemap_ops probe_ops = { .folio_free = probe_free };
