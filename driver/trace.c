// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* hmmnic tracepoints: the one place that instantiates trace.h. */
#include "hmmnic.h"

#define CREATE_TRACE_POINTS
#include "trace.h"
