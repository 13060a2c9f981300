#!/bin/bash
# as_user.sh [--pin-dir DIR] UID CAPS CMD...: runs CMD as user and group UID
# (no supplementary groups, no new privileges) holding exactly the
# capabilities CAPS, e.g. "bpf,net_admin", or "none", and no limit on locked
# memory: what a systemd unit with User=, AmbientCapabilities=,
# CapabilityBoundingSet= and LimitMEMLOCK=infinity gives.
# With --pin-dir (the relay's pin directory under /sys/fs/bpf), CMD sees
# the BPF file system as media-relay.service shows it to the relay: the
# pin directory made UID's own (the package's tmpfiles.d line) on the BPF file
# system of this mount namespace (mounted 0700 when missing, as systemd
# does), and /sys/fs/bpf an empty tmpfs holding only that directory (the
# unit's TemporaryFileSystem= and BindPaths=).  CMD replaces this script,
# so its pid is the script's.
set -eu
pin_dir=
if [ "$1" = --pin-dir ]; then
	pin_dir=$2
	shift 2
fi
uid=$1 caps=${2#none}
shift 2
# setpriv wants "-all,+bpf,+net_admin"
set_caps=-all${caps:+,+${caps//,/,+}}
# as LimitMEMLOCK=infinity, where root may raise it (a root without
# CAP_SYS_RESOURCE may not; from 5.11 maps are charged to the memory
# cgroup and the limit does not matter)
ulimit -l unlimited 2>/dev/null || :
run=(setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --inh-caps="$set_caps"
	--ambient-caps="$set_caps" --bounding-set="$set_caps" "$@")
[ -n "$pin_dir" ] || exec "${run[@]}"

bpffs=$(dirname "$pin_dir")
[ "$(stat -f -c %T "$bpffs")" = bpf_fs ] || mount -t bpf -o mode=0700 bpf "$bpffs"
install -d -o "$uid" -g "$uid" -m 0700 "$pin_dir"
exec unshare -m --propagation private bash -c '
	pin_dir=$1 bpffs=$2
	shift 2
	keep=$(mktemp -d)
	mount --bind "$pin_dir" "$keep"
	mount -t tmpfs -o mode=0755 tmpfs "$bpffs"
	mkdir "$pin_dir"
	mount --move "$keep" "$pin_dir"
	rmdir "$keep"
	exec "$@"' as_user "$pin_dir" "$bpffs" "${run[@]}"
