#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fastpath_stats.h"
#include "log.h"
#include "mp_fwd.skel.h"

/* A per-CPU value of `size` bytes per CPU, summed as `words` u64 counters. */
static int read_percpu(int fd, const void *key, size_t size, unsigned words, uint64_t *sum)
{
	int cpus = libbpf_num_possible_cpus();
	size_t stride = (size + 7) / 8 * 8;
	unsigned char *values = cpus > 0 ? calloc((size_t)cpus, stride) : NULL;
	int err = !values || bpf_map_lookup_elem(fd, key, values);

	memset(sum, 0, words * sizeof(*sum));
	for (int cpu = 0; !err && cpu < cpus; cpu++)
		for (unsigned w = 0; w < words; w++)
			sum[w] += ((uint64_t *)(values + (size_t)cpu * stride))[w];
	free(values);
	return err ? -1 : 0;
}

static uint32_t count_keys(int fd, uint32_t key_size)
{
	unsigned char key[64], next[64];
	void *prev = NULL;
	uint32_t n = 0;

	if (key_size > sizeof(key))
		return 0;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

static void read_fill(const struct fastpath *fp, struct fastpath_stats *out)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, fp->skel->obj) {
		enum bpf_map_type type = bpf_map__type(map);
		unsigned i = out->map_count;

		if (bpf_map__is_internal(map) || i == FASTPATH_MAPS)
			continue;
		out->maps[i].name = bpf_map__name(map);
		out->maps[i].max_entries = bpf_map__max_entries(map);
		out->maps[i].entries = type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY
					       ? out->maps[i].max_entries
					       : count_keys(bpf_map__fd(map), bpf_map__key_size(map));
		out->map_count++;
	}
}

void fastpath_stats_read(const struct fastpath *fp, bool fill, struct fastpath_stats *out)
{
	int stats = bpf_map__fd(fp->skel->maps.mp_stats), ifstats = bpf_map__fd(fp->skel->maps.mp_ifstats);

	memset(out, 0, sizeof(*out));
	for (__u32 key = 0; key < MP_STAT_MAX; key++)
		if (read_percpu(stats, &key, sizeof(__u64), 1, &out->outcomes[key]))
			log_debug("fast path: cannot read %s %u: %s", MP_STATS_MAP, key, strerror(errno));
	for (unsigned i = 0; i < fp->count; i++) {
		__u32 ifindex = (__u32)fp->iface[i].ifindex;
		uint64_t sum[2];

		out->iface[i].name = fp->iface[i].name;
		out->iface[i].tier = fp->iface[i].tier;
		if (read_percpu(ifstats, &ifindex, sizeof(struct mp_ifstats), 2, sum))
			log_debug("fast path: cannot read %s of %s: %s", MP_IFSTATS_MAP, fp->iface[i].name, strerror(errno));
		out->iface[i].packets = sum[0];
		out->iface[i].bytes = sum[1];
	}
	out->interface_count = fp->count;
	if (fill)
		read_fill(fp, out);
}
