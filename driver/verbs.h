/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The verbs entry points: the ib_device_ops that verbs.c registers, by the
 * file that implements them, and the two functions main.c and verbs.c
 * share for a device's registration and end.
 */
#ifndef HMMNIC_VERBS_H
#define HMMNIC_VERBS_H

#include "hmmnic.h"

/* verbs.c */
int hmmnic_register(struct hmmnic_dev *hdev, const char *name);

/* main.c */
void hmmnic_dealloc_driver(struct ib_device *ibdev);

/* queue.c */
int hmmnic_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma);
void hmmnic_mmap_free(struct rdma_user_mmap_entry *entry);

/* cq.c */
int hmmnic_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		     struct ib_udata *udata);
int hmmnic_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int hmmnic_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
int hmmnic_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
int hmmnic_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);

/* qp.c */
int hmmnic_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		     struct ib_udata *udata);
int hmmnic_destroy_ah(struct ib_ah *ibah, u32 flags);
int hmmnic_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		     struct ib_udata *udata);
int hmmnic_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int hmmnic_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_udata *udata);
int hmmnic_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		    struct ib_qp_init_attr *init);
int hmmnic_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		     const struct ib_send_wr **bad_wr);
int hmmnic_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		     const struct ib_recv_wr **bad_wr);
int hmmnic_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		      struct ib_udata *udata);
int hmmnic_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		      enum ib_srq_attr_mask mask, struct ib_udata *udata);
int hmmnic_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int hmmnic_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int hmmnic_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			 const struct ib_recv_wr **bad_wr);

/* mr.c */
struct ib_mr *hmmnic_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				 u64 iova, int access, struct ib_udata *udata);
struct ib_mr *hmmnic_get_dma_mr(struct ib_pd *ibpd, int access);
struct ib_mr *hmmnic_alloc_mr(struct ib_pd *ibpd, enum ib_mr_type type,
			      u32 max_num_sg);
int hmmnic_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		     unsigned int *sg_offset);
int hmmnic_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);
int hmmnic_advise_mr(struct ib_pd *ibpd,
		     enum ib_uverbs_advise_mr_advice advice, u32 flags,
		     struct ib_sge *sg_list, u32 num_sge,
		     struct uverbs_attr_bundle *attrs);
int hmmnic_fill_res_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);
int hmmnic_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);

/* stats.c */
struct rdma_hw_stats *hmmnic_alloc_hw_port_stats(struct ib_device *ibdev,
						 u32 port);

#endif /* HMMNIC_VERBS_H */
