// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Test helper: open a device, allocate a PD, and report its async events.
 *
 *   hold_context DEVICE [SECONDS]
 *
 * Prints "ready" once the context is open, then one "event NAME" line per
 * async event. On IBV_EVENT_DEVICE_FATAL (the device went away) it frees
 * the PD, closes the device, prints "closed" and exits 0. After SECONDS
 * (default 60) without that it prints "timeout" and exits 2.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hmmtest.h"

int main(int argc, char **argv)
{
	struct ibv_async_event ev;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct pollfd pfd;
	time_t deadline;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DEVICE [SECONDS]\n", argv[0]);
		return 2;
	}
	deadline = time(NULL) + (argc > 2 ? atoi(argv[2]) : 60);

	ctx = ht_open(argv[1]);
	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "alloc_pd: %s", strerror(errno));
	ht_log("ready");

	pfd.fd = ctx->async_fd;
	pfd.events = POLLIN;
	while (time(NULL) < deadline) {
		ret = poll(&pfd, 1, 200);
		CHECK(ret >= 0, "poll: %s", strerror(errno));
		if (!ret)
			continue;
		CHECK(!ibv_get_async_event(ctx, &ev), "get_async_event: %s",
		      strerror(errno));
		ht_log("event %s", ibv_event_type_str(ev.event_type));
		ibv_ack_async_event(&ev);
		if (ev.event_type == IBV_EVENT_DEVICE_FATAL) {
			/* The kernel objects are gone; this frees ours. */
			ibv_dealloc_pd(pd);
			CHECK(!ibv_close_device(ctx), "close_device");
			ht_log("closed");
			return 0;
		}
	}
	ht_log("timeout");
	return 2;
}
