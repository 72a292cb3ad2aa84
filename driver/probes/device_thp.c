// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Device-private folios larger than a page (6.19): migrate_vma collects a
 * THP whole, and the pgmap ops are told when the core splits such a
 * folio (zone_device_folio_init() came with them; compat.h calls it).
 */
#include <linux/memremap.h>
#include <linux/migrate.h>

static void probe_split(struct folio *head, struct folio *tail)
{
}

const struct dev_pagemap_ops probe_ops = { .folio_split = probe_split };

unsigned long probe_thp(void)
{
	return MIGRATE_VMA_SELECT_COMPOUND | MIGRATE_PFN_COMPOUND;
}
