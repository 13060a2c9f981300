#!/bin/bash
# PID 1 of the vmtest guest, after the initramfs switched to the overlay of
# the host's root: mounts what a system has, loads the modules the selftests
# use from the kernel package's /lib/modules (the "modules" 9p share), runs
# /.vmtest/cmd and leaves its output in /.vmtest/output and its exit status
# in /.vmtest/status, then powers off.  See vmtest/run.sh.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# The checkout may lie under /tmp or /run (a clone in /tmp), which get a
# tmpfs of their own here: it is bound aside first and put back on top.
checkout=$(cat /.vmtest/checkout)
mkdir -p /.vmtest-checkout
mount --bind "$checkout" /.vmtest-checkout
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p "$checkout"
mount --move /.vmtest-checkout "$checkout"
mkdir -p /run/netns /run/lock
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
hostname vmtest
echo 1 >/proc/sys/kernel/sysrq

# Built-in modules are no error; a missing one shows where a test fails.
for m in veth virtio_net bridge dummy nf_tables nft_ct nft_nat nft_chain_nat nf_conntrack nf_conntrack_netlink nf_nat \
	nfnetlink x_tables ip_tables iptable_raw iptable_filter iptable_nat xt_CT xt_conntrack xt_tcpudp xt_mark \
	sch_ingress sch_netem cls_bpf act_bpf; do
	modprobe -q "$m" 2>/dev/null || [ -d "/sys/module/$m" ] || echo "vmtest-guest: module $m is not available"
done
ip link set lo up

echo "vmtest-guest: kernel $(uname -r), $(nproc) CPUs"
bash /.vmtest/cmd > >(tee /.vmtest/output) 2>&1 </dev/null
rc=$?
wait $! # tee, until it wrote all
echo "$rc" >/.vmtest/status
sync
echo o >/proc/sysrq-trigger
sleep 30 # PID 1 must not exit while the power-off proceeds
