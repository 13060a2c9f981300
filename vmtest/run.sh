#!/bin/bash
# Runs a command, by default the VM selftests (vmtest/selftests.sh), on a
# stock Debian kernel under qemu, and returns its output and exit status.
#
#   vmtest/run.sh [-k NAME] [-- COMMAND...]
#
# NAME is a kernel of vmtest/kernels; without -k every kernel of the list
# runs the selftests in turn and a report ends the output: the kernel, the
# forwarding tier the relay took on a veth and on a virtio-net NIC, the
# features it probed, the results, the time, then one line "N passed,
# N failed, N skipped" over all.  -k takes several names too ("5.10 7.2").
# COMMAND (one kernel only) runs as root in the repository's directory; its
# exit status is run.sh's.
#
# The guest: the kernel package (fetched with apt from deb.debian.org into
# build/vmtest-cache/, unpacked, depmod'ed), a busybox initramfs that loads
# the package's virtio, 9p and overlay modules, mounts the host's root file
# system read-only over virtio-9p under a tmpfs overlay and switches to it;
# vmtest/guest.sh then mounts the usual file systems, shares the package's
# /lib/modules (a second 9p mount) and runs the command.  The guest also
# has virtio-net NICs joined to each other only (VIRTIO_NICS below) for the
# tests on a real NIC driver.  KVM when /dev/kvm
# boots the kernel, TCG (-cpu max) otherwise.  The source `host` runs the
# command on the running kernel instead, without a VM.
#
# Environment: VMTEST_CACHE (default build/vmtest-cache), VMTEST_ACCEL
# (kvm or tcg; default: probed once per kernel and cached), VMTEST_TIMEOUT
# (seconds per kernel, default 2700), VMTEST_MEM (default 1536M),
# VMTEST_SMP (default: the host's CPU count, at most 4).
set -uo pipefail
here=$(dirname "$(realpath "$0")")
repo=$(dirname "$here")
cache=$(realpath -m "${VMTEST_CACHE:-$repo/build/vmtest-cache}")
list=$here/kernels
vm_timeout=${VMTEST_TIMEOUT:-2700}
mem=${VMTEST_MEM:-1536M}
smp=${VMTEST_SMP:-$(nproc)}
[ "$smp" -gt 4 ] && smp=4

die() { echo "vmtest: $*" >&2; exit 2; }
log() { echo "vmtest: $*" >&2; }

# kernel_line NAME: "NAME SOURCE FEATURES" from the list
kernel_line() { awk -v n="$1" '!/^#/ && $1 == n { print; exit }' "$list"; }

# --- fetching and unpacking a kernel package --------------------------------

apt_opts() {
	printf '%s\n' -o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o "Dir::State=$cache/apt/state" -o "Dir::State::status=$cache/apt/status" \
		-o "Dir::Cache=$cache/apt/cache" -o APT::Sandbox::User=root -o Debug::NoLocking=1 \
		-o Acquire::Languages=none
}

# apt's own state for the Debian releases of vmtest/kernels, apart from the
# host's: 11 (bullseye), 12 (bookworm), 13 (trixie) and
# unstable (sid).
apt_update() {
	local stamp=$cache/apt/updated sources
	mkdir -p "$cache/apt/state/lists/partial" "$cache/apt/cache/archives/partial"
	: >>"$cache/apt/status"
	sources=$(
		cat <<-'EOF'
			deb http://deb.debian.org/debian bullseye main
			deb http://deb.debian.org/debian bookworm main
			deb http://deb.debian.org/debian bookworm-updates main
			deb http://deb.debian.org/debian-security bookworm-security main
			deb http://deb.debian.org/debian trixie main
			deb http://deb.debian.org/debian sid main
		EOF
	)
	# a changed list needs its indexes now
	[ "$sources" = "$(cat "$cache/apt/sources.list" 2>/dev/null)" ] || rm -f "$stamp"
	echo "$sources" >"$cache/apt/sources.list"
	# the package indexes are refreshed once a day
	if [ "${1:-}" = force ] || [ -z "$(find "$stamp" -mmin -1440 2>/dev/null)" ]; then
		log "updating the package indexes (apt-get update)"
		mapfile -t opts < <(apt_opts)
		apt-get "${opts[@]}" -qq update >&2 || return 1
		touch "$stamp"
	fi
}

# fetch_kernel SUITE:PACKAGE: sets KROOT (the unpacked package), KVER, KIMAGE
fetch_kernel() {
	local suite=${1%%:*} pkg=${1#*:} image parts part deb opts
	mapfile -t opts < <(apt_opts)
	apt_update || return 1
	image=$(apt-cache "${opts[@]}" -t "$suite" depends "$pkg" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
	if [ -z "$image" ] && apt-cache "${opts[@]}" -t "$suite" show "$pkg" 2>/dev/null | grep -q '^Filename:.*/linux-image-[0-9]'; then
		image=$pkg # a versioned image package already
	fi
	if [ -z "$image" ]; then
		apt_update force || return 1
		image=$(apt-cache "${opts[@]}" -t "$suite" depends "$pkg" 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)
	fi
	[ -n "$image" ] || { log "no kernel image package behind $pkg in $suite"; return 1; }
	KVER=${image#linux-image-}
	KROOT=$cache/kernels/$KVER
	if [ ! -e "$KROOT/.unpacked" ]; then
		# Debian 14 splits the image package into the kernel
		# (linux-binary-*, /usr/lib/modules/VERSION/vmlinuz), its modules
		# (linux-modules-*) and their lists (linux-base-*)
		parts=$(apt-cache "${opts[@]}" -t "$suite" depends "$image" 2>/dev/null |
			sed -n "s/^ *Depends: \(linux-\(binary\|modules\|base\)-$KVER\)\$/\1/p")
		rm -rf "$KROOT" && mkdir -p "$KROOT" "$cache/debs"
		for part in $image $parts; do
			deb=$(ls "$cache/debs/${part}_"*.deb 2>/dev/null | tail -1)
			if [ -z "$deb" ]; then
				log "downloading $part ($suite)"
				(cd "$cache/debs" && apt-get "${opts[@]}" -qq -t "$suite" download "$part" >&2) || return 1
				deb=$(ls "$cache/debs/${part}_"*.deb | tail -1)
			fi
			log "unpacking $(basename "$deb")"
			dpkg-deb -x "$deb" "$KROOT" || return 1
		done
		# Debian 13 on ship the modules in /usr/lib/modules; depmod and the
		# modules share take them from /lib/modules
		if [ -d "$KROOT/usr/lib/modules" ] && [ ! -e "$KROOT/lib/modules" ]; then
			mkdir -p "$KROOT/lib" && mv "$KROOT/usr/lib/modules" "$KROOT/lib/modules" || return 1
		fi
		depmod -b "$KROOT" "$KVER" || return 1
		touch "$KROOT/.unpacked"
	fi
	KIMAGE=$KROOT/boot/vmlinuz-$KVER
	[ -r "$KIMAGE" ] || KIMAGE=$KROOT/lib/modules/$KVER/vmlinuz
	[ -r "$KIMAGE" ] || { log "$image has no /boot/vmlinuz-$KVER nor /lib/modules/$KVER/vmlinuz"; return 1; }
}

# --- the initramfs ------------------------------------------------------------

# Modules the initramfs loads to reach the host's root file system; the
# rest load later from the modules share.
INITRD_MODULES="virtio_pci virtio_console 9pnet_virtio 9p overlay"

# build_initramfs: sets INITRD (cached per kernel version and init script)
build_initramfs() {
	local stage mod path name sum
	sum=$(cat "$here/run.sh" | md5sum | cut -c1-8)
	INITRD=$cache/initramfs-$KVER-$sum.cpio.gz
	[ -e "$INITRD" ] && return 0
	command -v busybox >/dev/null || { log "busybox is not installed (apt-get install busybox-static)"; return 1; }
	stage=$(mktemp -d "$cache/initramfs.XXXXXX")
	mkdir -p "$stage"/{bin,dev,proc,sys,host,mods,out,upper,newroot,lib/modules}
	cp "$(command -v busybox)" "$stage/bin/busybox"
	ldd "$stage/bin/busybox" >/dev/null 2>&1 && { log "busybox must be the static one (busybox-static)"; rm -rf "$stage"; return 1; }
	mknod "$stage/dev/console" c 5 1
	: >"$stage/modules.load"
	for mod in $INITRD_MODULES; do
		# modprobe prints the load order, dependencies first
		while read -r how path _; do
			[ "$how" = insmod ] || continue
			name=$(basename "$path")
			name=${name%.xz}
			name=${name%.zst}
			grep -qx "$name" "$stage/modules.load" && continue
			case $path in
			*.xz) xz -dc "$path" >"$stage/lib/modules/$name" ;;
			*.zst) zstd -qdc "$path" >"$stage/lib/modules/$name" ;;
			*) cp "$path" "$stage/lib/modules/$name" ;;
			esac
			echo "$name" >>"$stage/modules.load"
		done < <(modprobe -d "$KROOT" -S "$KVER" --show-depends "$mod" 2>/dev/null)
	done
	cat >"$stage/init" <<-'EOF'
		#!/bin/busybox sh
		/bin/busybox --install -s /bin
		export PATH=/bin
		fail() { echo "vmtest-init: $*"; echo o >/proc/sysrq-trigger; sleep 10; }
		mount -t proc proc /proc
		mount -t devtmpfs devtmpfs /dev
		for m in $(cat /modules.load); do
			insmod /lib/modules/$m || echo "vmtest-init: cannot load $m"
		done
		o=trans=virtio,version=9p2000.L,msize=512000
		mount -t 9p -o $o,ro,cache=loose hostroot /host || fail "cannot mount the host's root"
		mount -t 9p -o $o,ro,cache=loose modules /mods || fail "cannot mount the modules share"
		mount -t 9p -o $o,cache=none vmtest /out || fail "cannot mount the output share"
		mount -t tmpfs -o mode=0755 tmpfs /upper
		mkdir -p /upper/u /upper/w
		mount -t overlay -o lowerdir=/host,upperdir=/upper/u,workdir=/upper/w overlay /newroot ||
			fail "cannot mount the overlay"
		mkdir -p /newroot/lib/modules /newroot/.vmtest
		mount --move /mods /newroot/lib/modules
		mount --move /out /newroot/.vmtest
		mount --move /dev /newroot/dev
		umount /proc
		exec switch_root /newroot $(cat /newroot/.vmtest/guest)
	EOF
	chmod +x "$stage/init"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD"
	rm -rf "$stage"
}

# --- running ------------------------------------------------------------------

# The virtio-net NICs of the guest (selftests/test_relay_media.sh, tests
# "virtio-net: ..."), as MAC/SEGMENT[,PROPERTY...]: the NICs of a segment are
# joined by a bridge of their multiqueue taps in qemu's own, otherwise
# empty, network namespace, so that a frame goes from one NIC of the guest
# to the others of its segment and nowhere else.  Segment 1: the relay's NIC
# to the caller, the caller's, a second callee's (one NIC both ways:
# XDP_TX) and a relay NIC whose guest offloads the guest cannot turn off
# (ctrl_guest_offloads=off: virtio_net refuses native XDP on it); segment 2:
# the relay's NIC to the callee and the callee's (a redirect between two).
VIRTIO_NICS="52:54:00:4d:50:01/1 52:54:00:4d:50:02/1 52:54:00:4d:50:03/1 52:54:00:4d:50:04/2 52:54:00:4d:50:05/2
	52:54:00:4d:50:06/1,ctrl_guest_offloads=off"

NIC_ARGS=() NIC_SETUP=
# virtio_nics: sets NIC_ARGS (qemu's) and NIC_SETUP (the commands that make
# the taps and bridges); none without root or /dev/net/tun.  Each NIC has
# twice as many queue pairs as the guest has CPUs: virtio_net's native XDP
# wants a TX queue per CPU of its own beside those the stack uses (the
# tests use one per CPU).
virtio_nics() {
	local spec mac seg props tap queues=$((2 * smp)) n=0
	NIC_ARGS=() NIC_SETUP=
	[ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && command -v unshare >/dev/null || {
		log "no virtio-net NICs in the guest (they need root and /dev/net/tun)"
		return
	}
	for spec in $VIRTIO_NICS; do
		mac=${spec%%/*} seg=${spec#*/} tap=vt$n n=$((n + 1))
		props=${seg#"${seg%%,*}"} seg=${seg%%,*}
		NIC_SETUP+="ip link show vbr$seg >/dev/null 2>&1 || { ip link add vbr$seg type bridge && ip link set vbr$seg up; } && "
		NIC_SETUP+="ip tuntap add dev $tap mode tap multi_queue && ip link set $tap master vbr$seg up && "
		NIC_ARGS+=(-netdev "tap,id=$tap,ifname=$tap,script=no,downscript=no,vhost=off,queues=$queues"
			-device "virtio-net-pci,netdev=$tap,mac=$mac,mq=on,vectors=$((2 * queues + 2))$props")
	done
}

# qemu_run ACCEL OUTDIR TIMEOUT: boots KIMAGE/INITRD; the guest runs OUTDIR/cmd.
# Its root is VM_ROOT (default the host's /); the repository is shared
# read-only with the tag "repo" as well, for a root that lacks it.
qemu_run() {
	local accel=$1 out=$2 limit=$3 cpu netns=()
	[ "$accel" = kvm ] && cpu=host || cpu=max
	# with NICs, qemu runs in a network namespace of its own, where their taps are
	[ -z "$NIC_SETUP" ] || netns=(unshare --net sh -ec "${NIC_SETUP}exec \"\$@\"" sh)
	timeout --foreground -k 5 "$limit" "${netns[@]}" qemu-system-x86_64 -nodefaults -no-reboot -display none \
		-accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" \
		-kernel "$KIMAGE" -initrd "$INITRD" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init net.ifnames=0 mitigations=off" \
		-serial stdio -monitor none \
		-device virtio-rng-pci \
		-fsdev "local,id=hostroot,path=${VM_ROOT:-/},security_model=none,readonly=on,multidevs=remap" \
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
		-fsdev "local,id=modules,path=$KROOT/lib/modules,security_model=none,readonly=on" \
		-device virtio-9p-pci,fsdev=modules,mount_tag=modules \
		-fsdev "local,id=vmtest,path=$out,security_model=none" \
		-device virtio-9p-pci,fsdev=vmtest,mount_tag=vmtest \
		-fsdev "local,id=repo,path=$repo,security_model=none,readonly=on,multidevs=remap" \
		-device virtio-9p-pci,fsdev=repo,mount_tag=repo \
		"${NIC_ARGS[@]}" </dev/null
}

# new_outdir COMMAND...: a directory the guest reads the command from and
# writes its output and status to; its first process after the initramfs
# is $VM_INIT (default vmtest/guest.sh, which runs the command)
new_outdir() {
	local out
	mkdir -p "$cache/runs"
	out=$(mktemp -d "$cache/runs/run.XXXXXX")
	echo "${VM_INIT:-/bin/bash $here/guest.sh}" >"$out/guest"
	echo "$repo" >"$out/checkout"
	{
		printf 'cd %q\n' "$repo"
		printf 'export MP_KERNEL_FEATURES=%q\n' "${MP_KERNEL_FEATURES:-}"
		[ -z "${MP_TEST_FILTER:-}" ] || printf 'export MP_TEST_FILTER=%q\n' "$MP_TEST_FILTER"
		[ -z "${MP_VMTEST_QUICK:-}" ] || printf 'export MP_VMTEST_QUICK=%q\n' "$MP_VMTEST_QUICK"
		[ -z "$NIC_SETUP" ] || echo 'export MP_VIRTIO_NICS=yes'
		printf '%q ' "$@"
		echo
	} >"$out/cmd"
	echo "$out"
}

# pick_accel NAME: kvm if /dev/kvm boots this kernel to a command, else tcg
pick_accel() {
	local file=$cache/accel-$KVER out
	if [ -n "${VMTEST_ACCEL:-}" ]; then
		echo "$VMTEST_ACCEL"
		return
	fi
	if [ ! -e "$file" ]; then
		echo tcg >"$file"
		if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			out=$(new_outdir true)
			qemu_run kvm "$out" 60 >"$out/console" 2>&1
			[ "$(cat "$out/status" 2>/dev/null)" = 0 ] && echo kvm >"$file"
			log "KVM $( [ "$(cat "$file")" = kvm ] && echo boots || echo cannot boot) $KVER here; using $(cat "$file")"
			rm -rf "$out"
		fi
	fi
	cat "$file"
}

# run_kernel NAME COMMAND...: output on stdout, exit status the command's
run_kernel() {
	local name=$1 line source features out accel rc
	shift
	line=$(kernel_line "$name")
	[ -n "$line" ] || die "no kernel $name in $list"
	read -r _ source features <<<"$line"
	[ "$features" = - ] && features=
	export MP_KERNEL_FEATURES=$features
	if [ "$source" = host ]; then
		(cd "$repo" && "$@")
		return
	fi
	mkdir -p "$cache"
	fetch_kernel "$source" || die "cannot fetch the kernel $source"
	build_initramfs || die "cannot build the initramfs"
	virtio_nics
	accel=$(pick_accel)
	log "booting $KVER under qemu ($accel, $smp CPUs, $mem)"
	out=$(new_outdir "$@")
	qemu_run "$accel" "$out" "$vm_timeout" | stdbuf -oL tr -d '\r'
	rc=$(cat "$out/status" 2>/dev/null)
	if [ -z "$rc" ]; then
		log "$name: the VM ended without the command's status (timeout ${vm_timeout}s, or a crash)"
		rc=124
	fi
	rm -rf "$out"
	return "$rc"
}

# selftests NAME: the VM selftests on one kernel, logged; one report line
# "name|version|tier|virtio tier|features|summary|seconds" is added to $report
selftests() {
	local name=$1 start log summary kernel tier virtio probed secs
	start=$SECONDS
	log=$cache/logs/$name.log
	mkdir -p "$cache/logs"
	echo "==== vmtest: kernel $name ===="
	run_kernel "$name" vmtest/selftests.sh 2>&1 | tee "$log"
	secs=$((SECONDS - start))
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
	[ -n "$summary" ] || summary="0 passed, 1 failed, 0 skipped (no result: see $log)"
	kernel=$(sed -n 's/^vmtest-report: kernel=//p' "$log" | tail -1)
	tier=$(sed -n 's/^vmtest-report: tier=//p' "$log" | tail -1)
	virtio=$(sed -n 's/^vmtest-report: virtio_tier=//p' "$log" | tail -1)
	probed=$(sed -n 's/^vmtest-report: features=//p' "$log" | tail -1)
	echo "vmtest: kernel $name done in ${secs}s: $summary"
	printf '%s|%s|%s|%s|%s|%s|%s\n' "$name" "${kernel:-?}" "${tier:-?}" "${virtio:--}" "${probed:-?}" "$summary" \
		"$secs" >>"$report"
}

# Sourced (vmtest/packages.sh), only the functions above.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

kernel=
while [ $# -gt 0 ]; do
	case $1 in
	-k) kernel=$2; shift 2 ;;
	--) shift; break ;;
	-h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done

if [ $# -gt 0 ]; then
	[ -n "$kernel" ] && [ "$kernel" = "${kernel%% *}" ] || die "a command needs one kernel (-k NAME)"
	run_kernel "$kernel" "$@"
	exit
fi

if [ -n "$kernel" ]; then
	kernels=$kernel
else
	kernels=$(awk '!/^#/ && NF { print $1 }' "$list")
fi
report=$(mktemp)
for k in $kernels; do
	selftests "$k"
done
echo
echo "vmtest report: the tier the relay took on a veth (forwarding = auto) and on a virtio-net NIC"
echo "(forwarding = xdp, a redirect between two NICs); the time is the whole run of the kernel"
printf '  %-6s %-24s %-12s %-12s %6s  %s\n' kernel release veth virtio-net time results
passed=0 failed=0 skipped=0
while IFS='|' read -r name version tier virtio probed summary secs; do
	printf '  %-6s %-24s %-12s %-12s %5ss  %s\n' "$name" "$version" "$tier" "$virtio" "$secs" "$summary"
	read -r p _ f _ s _ <<<"${summary//,/}"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done <"$report"
echo "features the relay probed:"
while IFS='|' read -r name _ _ _ probed _; do
	printf '  %-6s %s\n' "$name" "$probed"
done <"$report"
rm -f "$report"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
