#!/bin/bash
# The Debian packages on a clean system: a Debian 12 root made by
# mmdebstrap with systemd as init, booted under qemu on a stock kernel of
# vmtest/kernels, runs vmtest/packages-test.sh as a systemd service (install
# build/deb/*.deb, both units, a call through both daemons, the restart that
# keeps calls, stop, purge) and powers off.  Prints that script's TAP lines
# and report, and ends with "N passed, N failed, N skipped".
#
#   vmtest/packages.sh [-k NAME] [--prepare]
#
# NAME is a kernel of vmtest/kernels (default 6.1, Debian 12's); --prepare
# only makes the root, the kernel and the initramfs ready, and boots nothing.
#
# The root has only what Debian's packages bring: systemd, the packages'
# dependencies (read from the .debs) and the test's tools.  It is made once
# and cached in build/vmtest-cache/pkgroot-KEY/ (KEY: the package list); the
# guest writes to a tmpfs over it, so every boot starts from the same clean
# system.  The kernel and the initramfs are vmtest/run.sh's, as is the qemu
# command: the root comes over virtio-9p (VM_ROOT), and the guest's first
# process is systemd (VM_INIT).  Needs build/deb/ (make deb): `make
# vmtest-packages` builds both.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
. "$here/run.sh"
kernel=6.1 prepare=
while [ $# -gt 0 ]; do
	case $1 in
	-k) kernel=$2; shift 2 ;;
	--prepare) prepare=1; shift ;;
	*) die "usage: vmtest/packages.sh [-k NAME] [--prepare]" ;;
	esac
done
debs=$repo/build/deb

# What the test itself runs in the guest, besides the packages' dependencies.
TEST_TOOLS=(systemd systemd-sysv kmod iproute2 ethtool bpftool conntrack nftables procps libcap2-bin python3 mandoc manpages)

# deb_dependencies: the packages our .debs depend on (names only)
deb_dependencies() {
	for deb in "$debs"/mediaproxy-{common,dispatcher,relay}_*.deb; do
		dpkg-deb -f "$deb" Depends
	done | tr ',' '\n' | sed 's/[(|].*//; s/ //g' | grep -v '^mediaproxy' | sort -u
}

# The guest's command runner, started once the system is up: runs
# /.vmtest/cmd, leaves its output and status in /.vmtest, powers off.
RUNNER='#!/bin/bash
bash /.vmtest/cmd </dev/null 2>&1 | tee /.vmtest/output >/dev/console
echo "${PIPESTATUS[0]}" >/.vmtest/status
sync
systemctl --no-block poweroff'
RUNNER_UNIT='[Unit]
Description=vmtest: the command of the run
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vmtest-run
TimeoutStartSec=0
[Install]
WantedBy=multi-user.target'

# make_root: sets ROOT, the cached root file system
make_root() {
	local packages key files
	packages=$( (printf '%s\n' "${TEST_TOOLS[@]}"; deb_dependencies) | sort -u | paste -sd,)
	key=$( (echo "$packages"; echo "$RUNNER$RUNNER_UNIT") | md5sum | cut -c1-8)
	ROOT=$cache/pkgroot-$key
	[ -e "$ROOT/.made" ] && return 0
	command -v mmdebstrap >/dev/null || { log "mmdebstrap is not installed"; return 1; }
	log "making a Debian 12 root with systemd (mmdebstrap): $packages"
	rm -rf "$cache"/pkgroot-* # roots of other package lists
	files=$(mktemp -d)
	echo "$RUNNER" >"$files/vmtest-run"
	chmod +x "$files/vmtest-run"
	echo "$RUNNER_UNIT" >"$files/vmtest-run.service"
	mmdebstrap --quiet --variant=apt --include="$packages" \
		--customize-hook='echo 5d1b3c0e9a7f4e21b0c3d2a1e4f5a6b7 >"$1/etc/machine-id"' \
		--customize-hook='echo vmtest >"$1/etc/hostname"' \
		--customize-hook="copy-in $files/vmtest-run /usr/local/sbin" \
		--customize-hook="copy-in $files/vmtest-run.service /etc/systemd/system" \
		--customize-hook='systemctl --root="$1" enable vmtest-run.service' \
		--customize-hook='systemctl --root="$1" mask getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer systemd-timesyncd.service' \
		bookworm "$ROOT.tmp" \
		"deb http://deb.debian.org/debian bookworm main" \
		"deb http://deb.debian.org/debian bookworm-updates main" \
		"deb http://deb.debian.org/debian-security bookworm-security main" >&2
	local rc=$?
	rm -rf "$files"
	[ $rc -eq 0 ] && mv "$ROOT.tmp" "$ROOT" && touch "$ROOT/.made"
}

ls "$debs"/mediaproxy-relay_*.deb >/dev/null 2>&1 || die "no packages in $debs: make deb"
line=$(kernel_line "$kernel")
[ -n "$line" ] || die "no kernel $kernel in $list"
read -r _ source features <<<"$line"
[ "$source" != host ] || die "the packages test needs a kernel to boot, not $kernel"
start=$SECONDS
mkdir -p "$cache"
make_root || die "cannot make the root file system"
log "root ready in $((SECONDS - start))s"
fetch_kernel "$source" || die "cannot fetch the kernel $source"
build_initramfs || die "cannot build the initramfs"
[ -z "$prepare" ] || exit 0
out=$(VM_INIT=/lib/systemd/systemd new_outdir bash vmtest/packages-test.sh)
# the repository comes as its own share: the clean root lacks it
sed -i "1i mkdir -p $repo && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 repo $repo" "$out/cmd"
log "booting $KVER with systemd under qemu (tcg, $smp CPUs, $mem)"
VM_ROOT=$ROOT qemu_run tcg "$out" "$vm_timeout" | stdbuf -oL tr -d '\r' >"$out/console"
rc=$(cat "$out/status" 2>/dev/null)
cat "$out/output" 2>/dev/null
passed=$(grep -c '^ok ' "$out/output" 2>/dev/null) failed=$(grep -c '^not ok ' "$out/output" 2>/dev/null)
if [ -z "$rc" ]; then
	log "the VM ended without the test's status (timeout ${vm_timeout}s, or a crash); its console:"
	tail -40 "$out/console" >&2
	failed=$((failed + 1))
elif [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then
	log "the test exited with status $rc"
	failed=1
fi
log "packages test on $KVER done in $((SECONDS - start))s"
rm -rf "$out"
echo "${passed:-0} passed, ${failed:-0} failed, 0 skipped"
[ "${failed:-0}" -eq 0 ]
