#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include "caps.h"
#include "fastpath.h"
#include "log.h"
#include "mp_fwd.skel.h"
#include "mp_stats.h"
#include "netif.h"

/* Our tc filter's identity on the clsact ingress hook. */
#define TC_HANDLE 0x4d50
#define TC_PRIORITY 1

/* Each tier as the log says it, and as the metrics label it. */
static const struct {
	const char *name, *label;
} tiers[] = {
	[FASTPATH_XDP_NATIVE] = { "native XDP", "xdp_native" },
	[FASTPATH_XDP_GENERIC] = { "generic XDP", "xdp_generic" },
	[FASTPATH_TC] = { "tc", "tc" },
};

const char *fastpath_tier_name(enum fastpath_tier tier)
{
	return tiers[tier].name;
}

const char *fastpath_tier_label(enum fastpath_tier tier)
{
	return tiers[tier].label;
}

/* The relay needs CAP_BPF (before Linux 5.8, CAP_SYS_ADMIN) to load the
 * programs and make maps, and CAP_NET_ADMIN to load programs of the
 * networking types and attach them.
 */
static int have_capabilities(void)
{
	const char *lacking = !caps_have(CAP_BPF) && !caps_have(CAP_SYS_ADMIN) ? "CAP_BPF" :
			      !caps_have(CAP_NET_ADMIN)			 ? "CAP_NET_ADMIN" :
										   NULL;

	if (lacking)
		log_err("fast path: the relay lacks %s (the BPF tiers need CAP_BPF and CAP_NET_ADMIN)", lacking);
	return lacking ? -1 : 0;
}

static bool on_bpffs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

/* The pin directory, on a BPF file system and the relay's own.  Run as
 * root, the relay mounts the file system when it is missing and makes the
 * directory; run as another user, it needs both made for it, as
 * the package's tmpfiles.d line does (README "Capabilities").
 */
static int pin_dir_ready(void)
{
	if (access(MP_PIN_DIR, F_OK) < 0) {
		if (!on_bpffs(FASTPATH_BPF_FS) && mount("bpf", FASTPATH_BPF_FS, "bpf", 0, "mode=0700") < 0) {
			log_err("fast path: no BPF file system on %s, and mounting one failed: %s%s", FASTPATH_BPF_FS,
				strerror(errno), errno == EPERM ? " (it needs CAP_SYS_ADMIN: mount it at boot, as systemd does)" : "");
			return -1;
		}
		if (mkdir(MP_PIN_DIR, 0700) < 0 && errno != EEXIST) {
			log_err("fast path: cannot create %s: %s (make it, owned by the relay's user uid %u: "
				"systemd-tmpfiles does)", MP_PIN_DIR, strerror(errno), getuid());
			return -1;
		}
	}
	if (!on_bpffs(MP_PIN_DIR)) {
		log_err("fast path: %s is not on a BPF file system", MP_PIN_DIR);
		return -1;
	}
	if (access(MP_PIN_DIR, W_OK | X_OK) < 0) {
		log_err("fast path: %s is not writable by the relay's user uid %u: %s (make it that user's: "
			"systemd-tmpfiles does)", MP_PIN_DIR, getuid(), strerror(errno));
		return -1;
	}
	return 0;
}

/* Removes what an earlier run left pinned: maps and XDP links (unpinning a
 * link detaches its program once nothing else holds it); with `and_dir`
 * the directory too, when the relay may (not when it was made for it).
 */
static void remove_pins(bool and_dir)
{
	DIR *dir = opendir(MP_PIN_DIR);
	struct dirent *entry;
	char path[PATH_MAX];

	if (!dir)
		return;
	while ((entry = readdir(dir)))
		if (entry->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", MP_PIN_DIR, entry->d_name);
			unlink(path);
		}
	closedir(dir);
	if (and_dir)
		rmdir(MP_PIN_DIR);
}

/* The maps a restart takes over: not the programs' own data, nor mp_rtcp,
 * whose perf events belong to the agent that opened them (each run opens
 * its own, and a run of a build without it finds nothing missing).
 */
static bool kept_over_restart(const struct bpf_map *map)
{
	return !bpf_map__is_internal(map) && bpf_map__type(map) != BPF_MAP_TYPE_PERF_EVENT_ARRAY;
}

static int pin_maps(struct mp_fwd *skel)
{
	struct bpf_map *map;
	char path[PATH_MAX];

	bpf_object__for_each_map(map, skel->obj) {
		if (!kept_over_restart(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", MP_PIN_DIR, bpf_map__name(map));
		if (bpf_map__pin(map, path)) {
			log_err("fast path: cannot pin map %s at %s: %s", bpf_map__name(map), path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* A restart: the programs about to load use the maps an earlier run pinned,
 * with the forwarding entries of its calls.  False when any is missing or
 * no longer fits (the port range changed, or an older entry layout).
 */
static bool reuse_pinned_maps(struct mp_fwd *skel)
{
	struct bpf_map *map;
	char path[PATH_MAX];

	bpf_object__for_each_map(map, skel->obj) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		int fd, err;

		if (!kept_over_restart(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", MP_PIN_DIR, bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0)
			return false;
		err = bpf_obj_get_info_by_fd(fd, &info, &len) || info.max_entries != bpf_map__max_entries(map) ||
		      info.value_size != bpf_map__value_size(map) || bpf_map__reuse_fd(map, fd);
		close(fd);
		if (err)
			return false;
	}
	return true;
}

/* MEDIAPROXY_KERNEL_LACKS names FEATURE (see fastpath.h) */
static bool masked(const char *feature)
{
	const char *list = getenv("MEDIAPROXY_KERNEL_LACKS");
	size_t len = strlen(feature);

	for (const char *p = list; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strncmp(p, feature, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* An error other than "no such key" means no lookup-and-delete: EINVAL,
 * or the kernel-internal ENOTSUPP (524) that 5.10-5.13 return for hash maps.
 */
static int probe_lookup_and_delete(void)
{
	__u32 key = 0, value;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, sizeof(key), sizeof(value), 1, NULL);
	bool ok;

	if (fd < 0)
		return -1;
	ok = bpf_map_lookup_and_delete_elem(fd, &key, &value) < 0 && errno == ENOENT;
	close(fd);
	return ok;
}

static void probe_features(struct fastpath_features *f)
{
	struct utsname uts = { 0 };
	int lookup_and_delete = probe_lookup_and_delete();

	if (lookup_and_delete < 0) {
		/* no BPF here at all: loading fails next, and says so */
		log_debug("fast path: cannot probe the kernel's BPF features: %s", strerror(errno));
		return;
	}
	f->lookup_and_delete = lookup_and_delete;
	f->redirect_neigh = !masked("redirect_neigh") &&
			    libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_neigh, NULL) == 1;
	f->devmap_hash = !masked("devmap_hash") && libbpf_probe_bpf_map_type(BPF_MAP_TYPE_DEVMAP_HASH, NULL) == 1;
	f->native_xdp = !masked("native_xdp_veth");
	uname(&uts);
	log_info("fast path: kernel %s: lookup-and-delete on hash maps %s, bpf_redirect_neigh %s, devmap hash %s%s",
		 uts.release, f->lookup_and_delete ? "yes" : "no", f->redirect_neigh ? "yes" : "no",
		 f->devmap_hash ? "yes" : "no", f->native_xdp ? "" : ", native XDP off");
	if (!f->lookup_and_delete)
		log_info("fast path: without lookup-and-delete an entry's last counts are read, then it is deleted");
	if (!f->redirect_neigh)
		log_info("fast path: without bpf_redirect_neigh the tc program leaves packets whose next hop is "
			 "unresolved to the stack");
}

/* The programs' fixed configuration: the relay port range (their
 * pre-filter), TTL decrement on: a forwarded packet went through a
 * router (doc/fast-path.md §10.9), and the RTP statistics as configured.
 */
static struct mp_fwd *open_object(const struct mp_config *cfg, const struct fastpath_features *f)
{
	const struct mp_port_range *range = &cfg->relay.port_range;
	struct mp_fwd *skel = mp_fwd__open();
	struct timespec boot;

	if (!skel) {
		log_err("fast path: cannot open the BPF object: %s", strerror(errno));
		return NULL;
	}
	/* a relay port carries at most one forwarding entry */
	bpf_map__set_max_entries(skel->maps.mp_fwd, range->end - range->start);
	/* set here, not left to libbpf: a restart compares it with the pinned map's */
	bpf_map__set_max_entries(skel->maps.mp_rtcp, (__u32)libbpf_num_possible_cpus());
	skel->rodata->mp_cfg.port_min = range->start;
	skel->rodata->mp_cfg.port_max = range->end;
	skel->rodata->mp_cfg.flags = MP_CFG_DECREMENT_TTL | (cfg->relay.rtp_stats ? MP_CFG_RTP_STATS : 0);
	skel->rodata->mp_no_redirect_neigh = !f->redirect_neigh;
	/* Above every generation an earlier run can have left in the entries
	 * it handed over, since it bumped far less often than once a nanosecond.
	 */
	clock_gettime(CLOCK_BOOTTIME, &boot);
	skel->bss->mp_nh_gen = (__u64)boot.tv_sec * 1000000000 + (__u64)boot.tv_nsec;
	return skel;
}

int fastpath_open(struct fastpath *fp, const struct mp_config *cfg, bool adopt)
{
	memset(fp, 0, sizeof(*fp));
	if (have_capabilities() || pin_dir_ready())
		return -1;
	probe_features(&fp->features);
	if (!fp->features.devmap_hash) {
		/* Linux 5.4; XDP links (5.9) need a newer kernel anyway */
		log_err("fast path: this kernel lacks devmap hash, which the programs redirect through");
		return -1;
	}
	fp->skel = adopt ? open_object(cfg, &fp->features) : NULL;
	fp->adopted = fp->skel && reuse_pinned_maps(fp->skel);
	if (adopt && !fp->adopted) {
		log_warn("fast path: the maps of the previous run cannot be taken over; starting afresh");
		mp_fwd__destroy(fp->skel);
		fp->skel = NULL;
	}
	if (!fp->adopted) {
		remove_pins(false);
		fp->skel = open_object(cfg, &fp->features);
		if (!fp->skel)
			return -1;
	}
	if (mp_fwd__load(fp->skel)) {
		/* the verifier of Linux before 6.10 wants CAP_PERFMON besides CAP_BPF */
		log_err("fast path: the kernel refused the BPF programs: %s%s", strerror(errno),
			errno == EACCES && !caps_have(CAP_PERFMON) && !caps_have(CAP_SYS_ADMIN) ?
				" (the relay lacks CAP_PERFMON, which kernels before 6.10 need to verify them)" : "");
		goto fail;
	}
	if (!fp->adopted && pin_maps(fp->skel))
		goto fail;
	log_info("fast path: BPF programs loaded, maps %s in %s", fp->adopted ? "taken over" : "pinned", MP_PIN_DIR);
	return 0;
fail:
	fastpath_close(fp, false);
	return -1;
}

/* A restart: the link pinned by the previous run gets the new program, so
 * the interface never goes without one.
 */
static int update_xdp(struct fastpath *fp, struct fastpath_interface *iface)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);
	char path[PATH_MAX];
	int link;

	snprintf(path, sizeof(path), "%s/xdp_link_%s", MP_PIN_DIR, iface->name);
	link = bpf_obj_get(path);
	if (link < 0)
		return -1;
	if (bpf_link_update(link, bpf_program__fd(fp->skel->progs.mp_xdp), NULL) ||
	    bpf_xdp_query(iface->ifindex, 0, &query)) {
		close(link);
		return -1;
	}
	iface->xdp_link = link;
	iface->tier = query.attach_mode == XDP_ATTACHED_DRV ? FASTPATH_XDP_NATIVE : FASTPATH_XDP_GENERIC;
	return 0;
}

static int attach_xdp(struct fastpath *fp, struct fastpath_interface *iface, __u32 mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = mode);
	char path[PATH_MAX];
	int link = bpf_link_create(bpf_program__fd(fp->skel->progs.mp_xdp), iface->ifindex, BPF_XDP, &opts);

	if (link < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/xdp_link_%s", MP_PIN_DIR, iface->name);
	if (bpf_obj_pin(link, path)) {
		log_warn("fast path: cannot pin the XDP link of %s: %s", iface->name, strerror(errno));
		close(link);
		return -1;
	}
	iface->xdp_link = link;
	iface->tier = mode == XDP_FLAGS_DRV_MODE ? FASTPATH_XDP_NATIVE : FASTPATH_XDP_GENERIC;
	return 0;
}

static int attach_tc(struct fastpath *fp, struct fastpath_interface *iface)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = iface->ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY, .flags = BPF_TC_F_REPLACE,
		    .prog_fd = bpf_program__fd(fp->skel->progs.mp_tc));
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return -1;
	if (bpf_tc_attach(&hook, &opts))
		return -1;
	iface->tier = FASTPATH_TC;
	return 0;
}

/* The interface's forwarding counters start at zero; a restart keeps them. */
static void count_interface(struct fastpath *fp, __u32 ifindex)
{
	int cpus = libbpf_num_possible_cpus();
	struct mp_ifstats *zero = cpus > 0 ? calloc((size_t)cpus, sizeof(*zero)) : NULL;

	if (!zero || (bpf_map_update_elem(bpf_map__fd(fp->skel->maps.mp_ifstats), &ifindex, zero, BPF_NOEXIST) &&
		      errno != EEXIST))
		log_warn("fast path: interface %u: no forwarding counters (%s)", ifindex,
			 zero ? strerror(errno) : "out of memory");
	free(zero);
}

/* virtio_net sends XDP_TX and redirected frames on TX queues of their own,
 * one per possible CPU, beside the queues the stack uses.  Short of them,
 * Linux before 5.13 refuses native XDP; later ones (and 5.10 stable) share
 * the stack's queues under a lock, and with more queues in use than CPUs
 * pick a queue past the last one (a NULL dereference in virtnet_xdp_xmit,
 * seen on Debian's 5.10 and 6.1): such an interface gets generic XDP.
 * Read before attaching, since native XDP takes its queues.  Logs why, in
 * one line; true when short.
 */
static bool short_of_xdp_queues(const char *ifname, const char *driver)
{
	int cpus = libbpf_num_possible_cpus();
	unsigned in_use, max;
	char hint[64] = "the device needs more queues";

	if (strcmp(driver, "virtio_net") || cpus <= 0 || netif_channels(ifname, &in_use, &max) ||
	    in_use + (unsigned)cpus <= max)
		return false;
	if (max > (unsigned)cpus)
		snprintf(hint, sizeof(hint), "ethtool -L %s combined %u", ifname, max - (unsigned)cpus);
	log_info("fast path: %s is short of TX queues for native XDP (%u in use + %d for XDP > %u; %s): generic XDP instead",
		 ifname, in_use, cpus, max, hint);
	return true;
}

int fastpath_attach(struct fastpath *fp, const char *ifname, int ifindex, enum mp_forwarding mode)
{
	struct fastpath_interface *iface = &fp->iface[fp->count];
	__u32 tx = (__u32)ifindex;
	char driver[32];
	bool attached;

	if (fp->count == FASTPATH_MAX_INTERFACES) {
		log_err("fast path: more than %d interfaces", FASTPATH_MAX_INTERFACES);
		return -1;
	}
	snprintf(iface->name, sizeof(iface->name), "%s", ifname);
	iface->ifindex = ifindex;
	iface->xdp_link = -1;
	netif_driver(ifname, driver, sizeof(driver));
	attached = mode != MP_FORWARDING_TC && fp->adopted && !update_xdp(fp, iface);
	if (!attached && mode != MP_FORWARDING_TC && fp->features.native_xdp && !short_of_xdp_queues(ifname, driver)) {
		attached = !attach_xdp(fp, iface, XDP_FLAGS_DRV_MODE);
		if (!attached)
			log_info("fast path: %s refused native XDP (%s); trying generic XDP", ifname, strerror(errno));
	}
	if (!attached && mode != MP_FORWARDING_TC) {
		attached = !attach_xdp(fp, iface, XDP_FLAGS_SKB_MODE);
		if (!attached && mode != MP_FORWARDING_XDP)
			log_info("fast path: %s refused generic XDP (%s); trying tc", ifname, strerror(errno));
	}
	if (!attached && mode != MP_FORWARDING_XDP)
		attached = !attach_tc(fp, iface);
	if (!attached) {
		log_err("fast path: cannot attach to %s: %s", ifname, strerror(errno));
		return -1;
	}
	fp->count++;
	count_interface(fp, (__u32)ifindex);
	log_info("fast path: %s forwards in the %s tier, driver %s", ifname, fastpath_tier_name(iface->tier), driver);
	/* a device that cannot take XDP frames stays out: the stack forwards to it */
	if (bpf_map__update_elem(fp->skel->maps.mp_tx, &tx, sizeof(tx), &tx, sizeof(tx), BPF_ANY))
		log_warn("fast path: %s cannot be a redirect target (%s); packets to it go through the stack", ifname,
			 strerror(errno));
	return 0;
}

int fastpath_fwd_map(const struct fastpath *fp)
{
	return bpf_map__fd(fp->skel->maps.mp_fwd);
}

int fastpath_rtcp_map(const struct fastpath *fp)
{
	return bpf_map__fd(fp->skel->maps.mp_rtcp);
}

void fastpath_next_hops_changed(struct fastpath *fp)
{
	/* the programs read it with plain loads: one store, seen at once */
	__atomic_add_fetch(&fp->skel->bss->mp_nh_gen, 1, __ATOMIC_RELEASE);
}

static void detach(struct fastpath_interface *iface)
{
	if (iface->tier == FASTPATH_TC) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = iface->ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);

		if (bpf_tc_detach(&hook, &opts))
			log_warn("fast path: cannot detach the tc program from %s", iface->name);
	} else {
		close(iface->xdp_link); /* the last reference once the pin is gone */
	}
}

void fastpath_close(struct fastpath *fp, bool keep_forwarding)
{
	for (unsigned i = 0; i < fp->count; i++) {
		if (!keep_forwarding)
			detach(&fp->iface[i]);
		else if (fp->iface[i].xdp_link >= 0)
			close(fp->iface[i].xdp_link); /* the pin keeps it attached */
	}
	if (!keep_forwarding)
		remove_pins(true);
	mp_fwd__destroy(fp->skel);
	memset(fp, 0, sizeof(*fp));
}
