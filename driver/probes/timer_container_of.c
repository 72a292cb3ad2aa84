// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* from_timer() was renamed timer_container_of() (6.16). */
#include <linux/timer.h>

struct probe_obj {
	struct timer_list timer;
};

struct probe_obj *probe_get(struct timer_list *t)
{
	struct probe_obj *obj = timer_container_of(obj, t, timer);

	return obj;
}
