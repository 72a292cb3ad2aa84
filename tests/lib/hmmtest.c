// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <unistd.h>

#include "hmmtest.h"
#include "../../userspace-provider/hmmnicdv.h"

void ht_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void ht_skip(const char *fmt, ...)
{
	va_list ap;

	fputs("SKIP: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(HT_SKIP);
}

void ht_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

const char *ht_dev_name(void)
{
	const char *name = getenv("HMMNIC_DEV");

	return name && *name ? name : "hmmnic0";
}

const char *ht_netdev_name(void)
{
	const char *name = getenv("HMMNIC_NETDEV");

	return name && *name ? name : "eth0";
}

struct ibv_context *ht_open(const char *name)
{
	struct ibv_device **list, *dev = NULL;
	struct ibv_context *ctx;
	int i, n;

	list = ibv_get_device_list(&n);
	CHECK(list, "ibv_get_device_list: %s", strerror(errno));
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			dev = list[i];
	CHECK(dev, "device %s not found among %d devices", name, n);
	ctx = ibv_open_device(dev);
	CHECK(ctx, "ibv_open_device(%s): %s", name, strerror(errno));
	ibv_free_device_list(list);
	return ctx;
}

int ht_read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/*
 * The value of @name in debugfs hmmnic/features ("yes", or "absent: "
 * and why), in @buf.
 */
static const char *feature(const char *name, char *buf, size_t len)
{
	const char *path = "/sys/kernel/debug/hmmnic/features";
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen(path, "r");

	CHECK(f, "open %s: %s", path, strerror(errno));
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) || line[n] != ':')
			continue;
		snprintf(buf, len, "%s", line + n + 2);
		buf[strcspn(buf, "\n")] = '\0';
	}
	fclose(f);
	CHECK(buf[0], "%s does not list %s", path, name);
	return buf;
}

bool ht_feature(const char *name)
{
	char buf[160];

	return !strcmp(feature(name, buf, sizeof(buf)), "yes");
}

const char *ht_feature_why(const char *name)
{
	static char buf[160];

	return feature(name, buf, sizeof(buf));
}

uint64_t ht_pool_state(const char *key)
{
	char buf[2048], *line;
	size_t klen = strlen(key);

	ht_knob_read("pool", buf, sizeof(buf));
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, key, klen) && line[klen] == ' ')
			return strtoull(line + klen + 1, NULL, 0);
	ht_fail(__FILE__, __LINE__, "no %s in the pool state", key);
	return 0;
}

bool ht_pool_present(void)
{
	return ht_feature("pool");
}

const char *ht_pool_absent_why(void)
{
	return ht_feature_why("pool");
}

void ht_write_file(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");

	CHECK(f, "open %s: %s", path, strerror(errno));
	CHECK(fputs(val, f) >= 0 && !fclose(f), "write %s to %s: %s", val,
	      path, strerror(errno));
}

void ht_knob_dev(const char *dev, const char *name, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/kernel/debug/hmmnic/%s/%s", dev,
		 name);
	ht_write_file(path, val);
}

void ht_knob(const char *name, const char *val)
{
	ht_knob_dev(ht_dev_name(), name, val);
}

void ht_knob_read(const char *name, char *buf, size_t len)
{
	char path[256];
	int err;

	snprintf(path, sizeof(path), "/sys/kernel/debug/hmmnic/%s/%s",
		 ht_dev_name(), name);
	err = ht_read_file(path, buf, len);
	CHECK(!err, "read %s: %s (not an hmmnic device, or no debugfs?)",
	      path, strerror(-err));
}

uint64_t ht_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define HT_TRACEFS "/sys/kernel/tracing"

void ht_trace_start(const char *event)
{
	char path[256];

	snprintf(path, sizeof(path), HT_TRACEFS "/events/%s/enable", event);
	ht_write_file(path, "1");
	ht_write_file(HT_TRACEFS "/trace", "");
}

void ht_trace_clear(void)
{
	ht_write_file(HT_TRACEFS "/trace", "");
}

void ht_trace_stop(const char *event)
{
	char path[256];

	snprintf(path, sizeof(path), HT_TRACEFS "/events/%s/enable", event);
	ht_write_file(path, "0");
}

size_t ht_trace_each(const char *name,
		     void (*fn)(const char *fields, void *arg), void *arg)
{
	char line[512], tag[96];
	FILE *f = fopen(HT_TRACEFS "/trace", "r");
	size_t n = 0;

	CHECK(f, "open trace: %s", strerror(errno));
	snprintf(tag, sizeof(tag), " %s: ", name);
	while (fgets(line, sizeof(line), f)) {
		char *s = strstr(line, tag);

		if (!s)
			continue;
		fn(s + strlen(tag), arg);
		n++;
	}
	fclose(f);
	return n;
}

uint64_t ht_trace_field(const char *fields, const char *key)
{
	size_t len = strlen(key);
	const char *s = fields;

	while ((s = strstr(s, key))) {
		if ((s == fields || s[-1] == ' ') && s[len] == '=')
			return strtoull(s + len + 1, NULL, 0);
		s += len;
	}
	ht_fail(__FILE__, __LINE__, "no %s= in trace event: %s", key, fields);
}

void *ht_map_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

void *ht_map_thp(size_t len)
{
	const size_t thp = 2UL << 20;
	uint8_t *raw, *p;
	size_t head;

	raw = mmap(NULL, len + thp, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(raw != MAP_FAILED, "mmap: %s", strerror(errno));
	p = (uint8_t *)(((uintptr_t)raw + thp - 1) & ~(thp - 1));
	head = p - raw;
	if (head)
		munmap(raw, head);
	munmap(p + len, thp - head);
	CHECK(!madvise(p, len, MADV_HUGEPAGE), "MADV_HUGEPAGE: %s",
	      strerror(errno));
	return p;
}

void ht_make_thp(void *buf, size_t len)
{
	const size_t thp = 2UL << 20;
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i += thp) {
		if (!ht_is_thp(p + i))
			madvise(p + i, thp, 25 /* MADV_COLLAPSE */);
		CHECK(ht_is_thp(p + i), "no THP at +%zu MiB", i >> 20);
	}
}

bool ht_is_thp(const void *p)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t ent = 0, flags = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	CHECK(fd >= 0, "open pagemap: %s", strerror(errno));
	CHECK(pread(fd, &ent, 8, (off_t)((uintptr_t)p / page) * 8) == 8,
	      "read pagemap");
	close(fd);
	if (!(ent >> 63 & 1))
		return false;
	fd = open("/proc/kpageflags", O_RDONLY);
	CHECK(fd >= 0, "open kpageflags: %s", strerror(errno));
	CHECK(pread(fd, &flags, 8, (off_t)(ent & ((1ULL << 55) - 1)) * 8) == 8,
	      "read kpageflags");
	close(fd);
	return flags >> 22 & 1;		/* KPF_THP */
}

/*
 * The physical ranges of hmmnic's pools, from /proc/iomem (each chunk is
 * a "hmmnic pool" region there); at most @max, returned count.
 */
static int pool_ranges(uint64_t (*r)[2], int max)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	int n = 0;

	CHECK(f, "open /proc/iomem: %s", strerror(errno));
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;

		if (strstr(line, ": hmmnic pool") &&
		    sscanf(line, " %llx-%llx", &lo, &hi) == 2) {
			/* (not root: every address reads 0) */
			CHECK(hi, "/proc/iomem hides addresses: run as root");
			r[n][0] = lo;
			r[n++][1] = hi;
		}
	}
	fclose(f);
	return n;
}

size_t ht_device_pages(const void *buf, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t first = (uintptr_t)buf / page;
	/* every chunk of a 4 GiB pool, and a few devices' worth */
	static uint64_t ranges[8192][2];
	int fd = open("/proc/self/pagemap", O_RDONLY);
	int nr = pool_ranges(ranges, 8192), r;
	uint64_t ent, phys;
	size_t n = 0, i;

	CHECK(fd >= 0, "open pagemap: %s", strerror(errno));
	for (i = 0; i < len / page; i++) {
		CHECK(pread(fd, &ent, sizeof(ent),
			    (off_t)(first + i) * sizeof(ent)) == sizeof(ent),
		      "read pagemap");
		/*
		 * Bit 63: present, bit 62: a swap entry, which a migration
		 * entry is too (a page being staged or migrated back); for
		 * root, bits 5-54 of a swap entry that names a page hold its
		 * pfn: a device-private page of hmmnic's pool has a pfn in
		 * one of the pool's ranges (so does the migration entry of a
		 * pool page on its way back, for the moment it takes).
		 */
		if ((ent >> 63 & 1) || !(ent >> 62 & 1))
			continue;
		phys = ((ent & ((1ULL << 55) - 1)) >> 5) * (uint64_t)page;
		for (r = 0; r < nr; r++)
			if (phys >= ranges[r][0] && phys <= ranges[r][1]) {
				n++;
				break;
			}
	}
	close(fd);
	return n;
}

struct ibv_mr *ht_hmmnicdv_reg_mr(struct ibv_pd *pd, void *addr,
				  size_t length, int access, uint32_t flags)
{
	struct ibv_mr *mr = hmmnicdv_reg_mr(pd, addr, length, access, flags);

	CHECK(mr, "hmmnicdv_reg_mr: %s", strerror(errno));
	return mr;
}
