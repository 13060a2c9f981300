#!/bin/bash
# Installs the Debian packages MediaProxy needs to build and test, when they
# are missing.  A machine that has them all does nothing (no apt-get at all).
# With the argument `vmtest`, also what `make vmtest` needs; with `bench`,
# what `make bench` needs; with `fuzz`, what `make fuzz` needs.
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
	mmdebstrap # tools/make-kamailio-root.sh: another Debian's Kamailio for test_e2e.sh (E2E_KAMAILIO)
	bison flex # tools/build-opensips.sh: OpenSIPS from its source for selftests/test_e2e_opensips.sh
	postgresql mariadb-server mariadb-client # selftests/test_accounting_sql.sh starts its own servers
	freeradius # selftests/test_accounting_radius.sh (its own instance, never the service)
	curl prometheus # the daemons' /metrics, checked with promtool
	chromium # selftests/test_web_view.sh: the session view in a headless browser
	stress-ng # the suites must hold with `stress-ng --cpu 2` beside them (README.md)
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
# `install-deps.sh bench`: the peers it measures against (Debian 12's daemon
# only: the kernel module package cannot build here; mmdebstrap makes a root
# with Debian 13's), the plot, and perf (control.py times the relay's state
# snapshots by its process forks)
if [ "${1:-}" = bench ]; then
	packages+=(rtpengine-daemon python3-matplotlib linux-perf)
fi

# `install-deps.sh fuzz`: libFuzzer (clang's runtime libraries)
if [ "${1:-}" = fuzz ]; then
	packages+=(libclang-rt-14-dev)
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
