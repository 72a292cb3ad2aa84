// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * hmmnic module: the "hmmnic" rdma link type, the device list and the
 * netdev notifier that keeps each device in step with its netdev.
 *
 * Device lifetime: "rdma link add" calls hmmnic_newlink(), which allocates
 * and registers an ib_device. It is unregistered by "rdma link delete"
 * (through the core), by the removal of its netdev (queued from the
 * notifier), or by module unload; whichever comes first, the core then
 * calls hmmnic_dealloc_driver(), which takes the device off the list.
 */
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/rtnetlink.h>
#include <linux/if_arp.h>
#include <rdma/rdma_netlink.h>

#include "hmmnic.h"
#include "main.h"
#include "net.h"
#include "odp.h"
#include "pool.h"
#include "verbs.h"

struct workqueue_struct *hmmnic_workqueue;
struct dentry *hmmnic_debugfs_root;

static LIST_HEAD(hmmnic_dev_list);
/* Also taken by the UDP receive path, in softirq context: hence _bh. */
static DEFINE_SPINLOCK(hmmnic_dev_lock);
/* Serialises link creation, so one netdev never gets two devices. */
static DEFINE_MUTEX(hmmnic_link_mutex);

/*
 * Find the registered hmmnic device on @ndev and take a registration
 * reference on it; the caller drops it with ib_device_put().
 */
struct hmmnic_dev *hmmnic_get_by_netdev(struct net_device *ndev)
{
	struct hmmnic_dev *hdev, *found = NULL;

	spin_lock_bh(&hmmnic_dev_lock);
	list_for_each_entry(hdev, &hmmnic_dev_list, list) {
		if (hdev->ndev == ndev && ib_device_try_get(&hdev->ibdev)) {
			found = hdev;
			break;
		}
	}
	spin_unlock_bh(&hmmnic_dev_lock);
	return found;
}

static void hmmnic_list_del(struct hmmnic_dev *hdev)
{
	spin_lock_bh(&hmmnic_dev_lock);
	list_del_init(&hdev->list);
	spin_unlock_bh(&hmmnic_dev_lock);
}

/* Called by the core once the device is unregistered, before it is freed. */
void hmmnic_dealloc_driver(struct ib_device *ibdev)
{
	struct hmmnic_dev *hdev = to_hdev(ibdev);

	/* every MR is gone: move staged pages home, free the pool */
	hmmnic_pool_destroy(hdev);
	hmmnic_stats_free(&hdev->stats);
	hmmnic_net_put(&init_net);
	xa_destroy(&hdev->qps);
	xa_destroy(&hdev->mrs);
	xa_destroy(&hdev->ahs);
	/*
	 * Last: module unload waits for the list to empty, and then
	 * releases the sockets this device used.
	 */
	hmmnic_list_del(hdev);
}

static bool hmmnic_netdev_has_device(struct net_device *ndev)
{
	struct hmmnic_dev *hdev = hmmnic_get_by_netdev(ndev);

	if (!hdev)
		return false;
	ib_device_put(&hdev->ibdev);
	return true;
}

static int hmmnic_newlink(const char *name, struct net_device *ndev)
{
	struct hmmnic_dev *hdev;
	int err;

	if (ndev->type != ARPHRD_ETHER) {
		pr_info("%s: %s is not an Ethernet device, RoCE needs one\n",
			HMMNIC_DRV_NAME, netdev_name(ndev));
		return -EINVAL;
	}

	if (!net_eq(dev_net(ndev), &init_net)) {
		pr_info("%s: %s is not in the initial network namespace\n",
			HMMNIC_DRV_NAME, netdev_name(ndev));
		return -EOPNOTSUPP;
	}

	mutex_lock(&hmmnic_link_mutex);
	if (hmmnic_netdev_has_device(ndev)) {
		err = -EEXIST;
		goto out_unlock;
	}
	/* UDP port 4791; taken if rdma_rxe is loaded, say. */
	err = hmmnic_net_get(&init_net);
	if (err) {
		pr_info("%s: cannot bind RoCEv2 UDP port %d: %d\n",
			HMMNIC_DRV_NAME, HMMNIC_UDP_PORT, err);
		goto out_unlock;
	}

	hdev = ib_alloc_device(hmmnic_dev, ibdev);
	if (!hdev) {
		hmmnic_net_put(&init_net);
		err = -ENOMEM;
		goto out_unlock;
	}
	/* before the device is listed: the receive path counts from then on */
	err = hmmnic_stats_init(&hdev->stats);
	if (err) {
		ib_dealloc_device(&hdev->ibdev);
		hmmnic_net_put(&init_net);
		goto out_unlock;
	}
	hdev->ndev = ndev;
	xa_init_flags(&hdev->qps, XA_FLAGS_ALLOC);
	xa_init_flags(&hdev->mrs, XA_FLAGS_ALLOC);
	xa_init_flags(&hdev->ahs, XA_FLAGS_ALLOC1);

	spin_lock_bh(&hmmnic_dev_lock);
	list_add_tail(&hdev->list, &hmmnic_dev_list);
	spin_unlock_bh(&hmmnic_dev_lock);

	err = hmmnic_register(hdev, name);
	/* A failed registration leaves the device to us; dealloc_driver unlists it. */
	if (err)
		ib_dealloc_device(&hdev->ibdev);
out_unlock:
	mutex_unlock(&hmmnic_link_mutex);
	return err;
}

static struct rdma_link_ops hmmnic_link_ops = {
	.type = HMMNIC_DRV_NAME,
	.newlink = hmmnic_newlink,
};

/*
 * Tell the core when the port goes up or down. Runs under RTNL, from the
 * netdev notifier and at registration, so transitions are serialised.
 */
void hmmnic_port_event(struct hmmnic_dev *hdev)
{
	bool active = hmmnic_port_usable(hdev->ndev);
	struct ib_event ev = {
		.device = &hdev->ibdev,
		.element.port_num = HMMNIC_PORT,
	};

	ASSERT_RTNL();
	if (active == hdev->port_active)
		return;
	hdev->port_active = active;
	ev.event = active ? IB_EVENT_PORT_ACTIVE : IB_EVENT_PORT_ERR;
	ib_dispatch_event(&ev);
}

static int hmmnic_netdev_event(struct notifier_block *nb, unsigned long event,
			       void *arg)
{
	struct net_device *ndev = netdev_notifier_info_to_dev(arg);
	struct hmmnic_dev *hdev;

	hdev = hmmnic_get_by_netdev(ndev);
	if (!hdev)
		return NOTIFY_DONE;

	switch (event) {
	case NETDEV_UNREGISTER:
		ib_unregister_device_queued(&hdev->ibdev);
		break;
	case NETDEV_UP:
	case NETDEV_DOWN:
	case NETDEV_CHANGE:
	case NETDEV_CHANGEMTU:
		hmmnic_port_event(hdev);
		break;
	default:
		break;
	}
	ib_device_put(&hdev->ibdev);
	return NOTIFY_OK;
}

static struct notifier_block hmmnic_netdev_nb = {
	.notifier_call = hmmnic_netdev_event,
};

/*
 * What this build of the module has of its optional parts: "yes", or
 * "absent: " and why. Tests and tools read it to tell a missing feature
 * from a broken one.
 */
static int hmmnic_features_show(struct seq_file *m, void *v)
{
	seq_puts(m, "pool: " HMMNIC_FEATURE_POOL "\n");
	seq_puts(m, "pool_thp: " HMMNIC_FEATURE_POOL_THP "\n");
	seq_puts(m, "fault_injection: " HMMNIC_FEATURE_FAULT_INJECTION "\n");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmmnic_features);

static int __init hmmnic_init(void)
{
	int err;

	/* Unbound: QP workers run in process context on any CPU. */
	hmmnic_workqueue = alloc_workqueue("hmmnic", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!hmmnic_workqueue)
		return -ENOMEM;
	hmmnic_debugfs_root = debugfs_create_dir(HMMNIC_DRV_NAME, NULL);
	debugfs_create_file("features", 0444, hmmnic_debugfs_root, NULL,
			    &hmmnic_features_fops);
	hmmnic_odp_debugfs(hmmnic_debugfs_root);
	err = hmmnic_net_register();
	if (err)
		goto err_wq;
	err = register_netdevice_notifier(&hmmnic_netdev_nb);
	if (err)
		goto err_net;
	rdma_link_register(&hmmnic_link_ops);
	return 0;

err_net:
	hmmnic_net_unregister();
err_wq:
	debugfs_remove_recursive(hmmnic_debugfs_root);
	destroy_workqueue(hmmnic_workqueue);
	return err;
}

static void __exit hmmnic_exit(void)
{
	struct hmmnic_dev *hdev;

	/* No new links after this: newlink runs under the link ops lock. */
	rdma_link_unregister(&hmmnic_link_ops);

	/*
	 * Unregister what is left. A device whose unregistration is already
	 * queued is serialised by the core: ib_unregister_device() returns
	 * only after whichever caller got there first has run dealloc_driver.
	 */
	for (;;) {
		spin_lock_bh(&hmmnic_dev_lock);
		hdev = list_first_entry_or_null(&hmmnic_dev_list,
						struct hmmnic_dev, list);
		if (hdev)
			get_device(&hdev->ibdev.dev);
		spin_unlock_bh(&hmmnic_dev_lock);
		if (!hdev)
			break;
		ib_unregister_device(&hdev->ibdev);
		put_device(&hdev->ibdev.dev);
	}
	/*
	 * Only now: unregistering the notifier replays NETDEV_UNREGISTER
	 * for every netdev, which would have queued unregistrations behind
	 * the loop's back.
	 */
	unregister_netdevice_notifier(&hmmnic_netdev_nb);
	hmmnic_net_unregister();
	debugfs_remove_recursive(hmmnic_debugfs_root);
	destroy_workqueue(hmmnic_workqueue);
}

module_init(hmmnic_init);
module_exit(hmmnic_exit);

MODULE_AUTHOR("The hmmnic developers");
MODULE_DESCRIPTION("Soft RoCEv2 RDMA NIC with HMM-based on-demand paging");
MODULE_LICENSE("Dual BSD/GPL");
MODULE_ALIAS_RDMA_LINK(HMMNIC_DRV_NAME);
MODULE_INFO(pool, HMMNIC_FEATURE_POOL);
MODULE_INFO(pool_thp, HMMNIC_FEATURE_POOL_THP);
MODULE_INFO(fault_injection, HMMNIC_FEATURE_FAULT_INJECTION);
