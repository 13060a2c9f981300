#!/bin/bash
# Installs the Debian packages MediaProxy needs to build and test, when they
# are missing.  A machine that has them all does nothing (no apt-get at all).
# With the argument `vmtest`, also what `make vmtest` needs; with `bench`,
# what `make bench` needs.
set -euo pipefail

packages=(
	# build
	make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
	libnetfilter-conntrack-dev libssl-dev libevent-dev libjansson-dev
	libsqlite3-dev libinih-dev libnftables-dev libradcli-dev libpq-dev libmariadb-dev
	# tests
	libcmocka-dev iproute2 procps ethtool python3 python3-scapy nftables iptables conntrack dnsmasq-base
	openssl # tools/make-certs.sh, selftests/test_tls.sh
	kamailio sip-tester # selftests/test_e2e.sh: the real SIP proxy and call generator
	postgresql mariadb-server mariadb-client # selftests/test_accounting_sql.sh starts its own servers
	freeradius # selftests/test_accounting_radius.sh (its own instance, never the service)
	# make deb, selftests/test_deb.sh, test_install.sh: packaging, lintian,
	# man pages, systemd-analyze, capsh
	debhelper dpkg-dev lintian mandoc systemd libcap2-bin
)
# `install-deps.sh vmtest`: what vmtest/run.sh needs besides (the kernels
# themselves it fetches into its cache)
if [ "${1:-}" = vmtest ]; then
	packages+=(qemu-system-x86 busybox-static kmod cpio xz-utils zstd apt
		mmdebstrap) # vmtest/packages.sh: a clean Debian root with systemd
fi
# `install-deps.sh bench`: the peer it measures against (its daemon only: the
# kernel module package cannot build here) and the plot
if [ "${1:-}" = bench ]; then
	packages+=(rtpengine-daemon python3-matplotlib)
fi

missing=()
for pkg in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages and not root; run: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
