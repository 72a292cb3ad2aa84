/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * hmmnic direct verbs: what the hmmnic provider offers beyond libibverbs.
 * They live in libhmmnic.so.1, the provider itself (libibverbs loads it
 * through libhmmnic-rdmav34.so, a symlink), with versioned symbols.
 * Include <infiniband/hmmnicdv.h> and link with
 * `pkg-config --cflags --libs hmmnic`.
 */
#ifndef HMMNICDV_H
#define HMMNICDV_H

#include <stdint.h>

#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An ODP region whose pages never move into the device's pool. */
#define HMMNICDV_REG_MR_NO_STAGING	0x1

/*
 * ibv_reg_mr() on an hmmnic device, with flags (HMMNICDV_REG_MR_*).
 * EOPNOTSUPP for another device or an unknown flag.
 */
struct ibv_mr *hmmnicdv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			       int access, uint32_t flags);

#ifdef __cplusplus
}
#endif

#endif /* HMMNICDV_H */
