# Shared harness of the shell selftests: each test is a function run in its
# own subshell with `set -e`; its result is printed as a TAP line.
#   run_test "what it checks" function
# Inside a test: fail MSG, skip REASON, note TEXT, expect_eq ACTUAL EXPECTED WHAT,
# wait_for SECONDS CMD..., and spawn CMD... (killed when the test ends).
# Every test gets a private $T directory, removed when it ends, and the
# network namespaces it makes with make_netns are deleted then too.

# Debian's python3 and tools first, as install-deps.sh installs them: a
# pyenv or venv python3 earlier on PATH lacks scapy and starts ten times
# slower (0.38 s against 0.04 s), enough for an e2e call to end before
# its media is sent.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
BUILD=${BUILD:-$(dirname "${BASH_SOURCE[0]}")/../build}
BUILD=$(realpath "$BUILD")
. "$(dirname "${BASH_SOURCE[0]}")/sanitizer.sh"
# Where the relay pins the fast path's maps and links (include/mp_fwd.h).
PIN_DIR=$(python3 "$(dirname "${BASH_SOURCE[0]}")/helpers/mp_abi.py" MP_PIN_DIR) || exit 1
TEST_NUMBER=0

fail() { echo "$*"; exit 1; }
skip() { echo "$*"; exit 77; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

# note TEXT...: lines kept in the suite's log under the test's result, even
# when it passes (what a reader wants to see of a run: a request and its answer)
note() { printf '%s\n' "$@" | sed 's/^/@note /'; }

expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# wait_for SECONDS CMD...: polls CMD every 0.05 s until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

# wait_until SECONDS 'CODE': wait_for shell code whose $(...) must run again
# at every try (single-quote it; wait_for's arguments expand only once).
wait_until() { wait_for "$1" eval "$2"; }

# spawn CMD...: starts CMD in the background; its pid is in $SPAWNED.
spawn() {
	"$@" &
	SPAWNED=$!
	echo "$SPAWNED" >>"$T/.pids"
}

# kernel_has FEATURE: the kernel under test has FEATURE (a name of
# vmtest/kernels), as MP_KERNEL_FEATURES lists them; unset, all are assumed.
kernel_has() { [ -z "${MP_KERNEL_FEATURES+set}" ] || [[ ,$MP_KERNEL_FEATURES, == *,$1,* ]]; }

# veth_xdp_tier: the tier an XDP-capable relay takes on a veth here
veth_xdp_tier() { if kernel_has native_xdp_veth; then echo "native XDP"; else echo "generic XDP"; fi; }

# make_netns NAME: a new network namespace $NETNS_PREFIX-NAME (by default
# mp-<test>-NAME) with lo up; its full name is printed.
make_netns() {
	local ns=${NETNS_PREFIX:-mp-${T##*.}}-$1
	ip netns add "$ns" || fail "cannot create namespace $ns"
	echo "$ns" >>"$T/.netns"
	ip -n "$ns" link set lo up
	echo "$ns"
}

# relay_netns ADDRESS [TYPE]: a namespace for a relay whose default route
# goes out of interface m0 holding ADDRESS/24.  TYPE veth (the default) pairs
# m0 with m0-peer; TYPE bridge makes m0 a device without native XDP.
# Prints the namespace's name.
relay_netns() {
	local ns
	ns=$(make_netns relay)
	case ${2:-veth} in
	veth) ip -n "$ns" link add m0 type veth peer name m0-peer ;;
	bridge) ip -n "$ns" link add m0 type bridge ;;
	esac
	ip -n "$ns" addr add "$1/24" dev m0
	ip -n "$ns" link set m0 up
	ip -n "$ns" route add default via "${1%.*}.1" dev m0 onlink
	echo "$ns"
}

# three_hosts: caller (198.18.1.7) and callee (198.18.2.9), each on a veth to
# the relay namespace (198.18.1.1 and 198.18.2.1), whose relay address
# RELAY_IP (198.18.0.50) sits on its loopback; the relay forwards IPv4.
# Sets CALLER_NS, RELAY_NS, CALLEE_NS.
RELAY_IP=198.18.0.50
three_hosts() {
	CALLER_NS=$(make_netns caller)
	RELAY_NS=$(make_netns relay)
	CALLEE_NS=$(make_netns callee)
	_link_host "$CALLER_NS" c0 198.18.1.7 rc 198.18.1.1
	_link_host "$CALLEE_NS" e0 198.18.2.9 re 198.18.2.1
	ip -n "$RELAY_NS" addr add $RELAY_IP/32 dev lo
	ip netns exec "$RELAY_NS" sysctl -qw net.ipv4.ip_forward=1
}

# _link_host NS DEV IP RELAY_DEV RELAY_DEV_IP
_link_host() {
	ip -n "$RELAY_NS" link add "$4" type veth peer name "$2" netns "$1"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$RELAY_NS" addr add "$5/24" dev "$4"
	ip -n "$1" link set "$2" up
	ip -n "$RELAY_NS" link set "$4" up
	ip -n "$1" route add default via "$5"
}

# virtio_hosts [same|short|refused]: three_hosts over the vmtest guest's
# virtio-net NICs (vmtest/run.sh, with MP_VIRTIO_NICS set) instead of veths:
# the relay's rc (MAC ending in :01) shares a segment with the caller's c0
# (:02), its re (:04) one with the callee's e0 (:05).  With `same` the
# callee (198.18.1.9) is on the caller's segment (NIC :03) and the relay
# reaches both through rc; `refused` is `same` with the NIC :06 as rc, whose
# guest offloads cannot be turned off (virtio_net refuses native XDP then);
# with `short` the relay's NICs use all their queues, leaving none to XDP.
# Every NIC starts with one queue pair per CPU in use, so a sender that
# moves between CPUs sends by different queues, which the relay's host
# receives on different CPUs: a real reordering the test would not
# control.  MEDIA_PIN keeps the media's sender on one CPU.
VIRTIO_MAC=52:54:00:4d:50:0
virtio_hosts() {
	local nic
	CALLER_NS=$(make_netns caller)
	RELAY_NS=$(make_netns relay)
	CALLEE_NS=$(make_netns callee)
	_take_nic "$([ "${1:-}" = refused ] && echo 6 || echo 1)" "$RELAY_NS" rc 198.18.1.1
	_take_nic 2 "$CALLER_NS" c0 198.18.1.7 198.18.1.1
	case ${1:-} in
	same|refused) _take_nic 3 "$CALLEE_NS" e0 198.18.1.9 198.18.1.1 ;;
	*)
		_take_nic 4 "$RELAY_NS" re 198.18.2.1
		_take_nic 5 "$CALLEE_NS" e0 198.18.2.9 198.18.2.1
		;;
	esac
	if [ "${1:-}" = short ]; then
		for nic in rc re; do
			ip netns exec "$RELAY_NS" ethtool -L "$nic" combined \
				"$(ip netns exec "$RELAY_NS" ethtool -l "$nic" | awk '/^Combined:/ { print $2; exit }')"
		done
	fi
	ip -n "$RELAY_NS" addr add $RELAY_IP/32 dev lo
	ip netns exec "$RELAY_NS" sysctl -qw net.ipv4.ip_forward=1
	MEDIA_PIN="taskset -c 0"
}

# _take_nic N NS NAME IP [GATEWAY]: the virtio-net NIC whose MAC ends in :0N
# moves into NS as NAME, with one queue pair per CPU, holding IP/24.  A
# namespace deleted by an earlier test hands its NICs back in the
# background: it is waited for.
_take_nic() {
	local dev deadline=$((SECONDS + 20))
	until dev=$(ip -br link | awk -v mac="$VIRTIO_MAC$1" '$3 == mac { print $1 }') && [ -n "$dev" ]; do
		[ $SECONDS -lt $deadline ] || fail "no virtio-net NIC with the MAC $VIRTIO_MAC$1"
		sleep 0.05
	done
	ethtool -L "$dev" combined "$(nproc)" 2>/dev/null || : # unchanged is an error to ethtool
	ip link set "$dev" netns "$2"
	ip -n "$2" link set "$dev" name "$3"
	ip -n "$2" addr add "$4/24" dev "$3"
	ip -n "$2" link set "$3" up
	[ -z "${5:-}" ] || ip -n "$2" route add default via "$5"
}

# in_relay CMD...: runs CMD on the relay host, in the mount namespace of
# $RELAY_HOST: a process that lives as long as the test, so that the relay
# host's BPF file system (and the relay's pinned maps) outlives a relay
# restart and stays apart from other tests' relays.
in_relay() { nsenter -t "$RELAY_HOST" -m -n "$@"; }

# The fast path's outcome counter NAME, summed over CPUs.
fast_path_stat() {
	in_relay bpftool -j map dump pinned "$PIN_DIR/mp_stats" |
		PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")/helpers" python3 -c "
import json, sys
from mp_abi import stat_names
names = stat_names()
for e in json.load(sys.stdin):
    if names[e['formatted']['key']] == '$1':
        print(sum(v['value'] for v in e['formatted']['values']))"
}

# udp NS ARGS...: selftests/helpers/udp_peer.py in namespace NS
udp() {
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$(dirname "${BASH_SOURCE[0]}")/helpers/udp_peer.py" "$@"
}

# udp_bound NS PORT: a UDP socket in namespace NS is bound to PORT
udp_bound() { ip netns exec "$1" ss -Hua "sport = :$2" | grep -q .; }

# udp_receiver NS FILE PORT COUNT TIMEOUT: `udp NS recv PORT COUNT TIMEOUT`
# in the background, its lines in FILE and its pid in $RECEIVER; returns once
# its socket is bound, so that nothing sent after that is missed.
udp_receiver() {
	udp "$1" recv "${@:3}" >"$2" &
	RECEIVER=$!
	wait_for 20 udp_bound "$1" "$3" || fail "the receiver on port $3 did not bind"
}

# stop_hosts: kills what spawn started and deletes what make_netns made
stop_hosts() {
	local pid ns
	set +e # a process that already ended is not a failure
	if [ -f "$T/.pids" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null
		done <"$T/.pids"
	fi
	if [ -f "$T/.netns" ]; then
		while read -r ns; do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL
			ip netns del "$ns"
			rm -rf "/etc/netns/$ns" # files a test gave the namespace (resolv.conf)
		done <"$T/.netns"
	fi
	rm -f "$T/.pids" "$T/.netns"
}

# MP_TEST_KEEP=DIR: a failed test's directory (every daemon's log, the
# peers' traces) is moved to DIR/NAME.XXXXXX before it is deleted
_end_test() {
	local rc=$? kept
	stop_hosts
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${MP_TEST_KEEP:-}" ]; then
		kept=$MP_TEST_KEEP/$(basename "$0" .sh)-$TEST_NUMBER.${T##*.}
		mkdir -p "$MP_TEST_KEEP" && mv "$T" "$kept" && echo "kept in $kept"
	fi
	rm -rf "$T"
}

# MP_TEST_FILTER (an extended regular expression): only the tests whose
# name matches run (vmtest keeps its list short); the others are left out.
run_test() {
	local name=$1 fn=$2 out rc
	[ -z "${MP_TEST_FILTER:-}" ] || [[ $name =~ $MP_TEST_FILTER ]] || return 0
	TEST_NUMBER=$((TEST_NUMBER + 1))
	out=$(
		T=$(mktemp -d /tmp/mp-test.XXXXXX)
		exec 2>&1
		trap _end_test EXIT
		set -e
		"$fn"
	)
	rc=$?
	if [ "$rc" -ne 77 ] && out+=$(sanitizer_reports); then
		rc=1
	fi
	case $rc in
	0)
		echo "ok $TEST_NUMBER - $name"
		sed -n 's/^@note /# /p' <<<"$out"
		;;
	77) echo "ok $TEST_NUMBER - $name # SKIP ${out##*$'\n'}" ;;
	*)
		echo "not ok $TEST_NUMBER - $name"
		sed 's/^/# /' <<<"$out"
		;;
	esac
}
