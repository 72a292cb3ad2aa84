// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * __assign_str() takes only the field; the source is the one given to
 * __string() (6.10). Expanding the macro with the wrong number of
 * arguments is a preprocessor error, which is what this probe tests.
 */
#include <linux/stringify.h>
#include <linux/tracepoint.h>
#include <trace/stages/stage6_event_callback.h>

const char probe_text[] = __stringify(__assign_str(name));
