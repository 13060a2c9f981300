#!/bin/bash
# The selftests that matter on a stock kernel, short enough for TCG: the BPF
# packet fixtures (the verifier takes the programs, the helpers behave), the
# attach tests (the tier each interface gets, the feature probes and their
# fallbacks), the per-tier calls through the relay (with the fallbacks of a
# kernel lacking a feature), their cached next hops following a route or
# a MAC that changed, a call's RTP and RTCP through netem (sch_netem, which
# the host may lack), and the calls over the guest's virtio-net NICs.
# MP_TEST_FILTER, when set (make vmtest MP_TEST_FILTER=...), picks the
# tests of the attach and media suites instead; MP_VMTEST_QUICK=yes keeps
# of the media suite a call per BPF tier (XDP, tc) and the virtio-net
# redirect (CI, on the kernels besides the one it runs everything on).  Runs in the vmtest
# guest (vmtest/run.sh) or on the host kernel; MP_KERNEL_FEATURES comes from
# vmtest/kernels.  Prints each result as selftests/run-all.sh does, what
# the tests noted (NOTE lines), the lines "vmtest-report: ..." (kernel,
# tier of a veth and of a virtio-net NIC, probed features), and ends with
# "N passed, N failed, N skipped".
set -u
repo=$(dirname "$(dirname "$(realpath "$0")")")
build=$repo/build
logs=$(mktemp -d /tmp/vmtest-logs.XXXXXX)
export MP_VMTEST_REPORT=$logs/report
# Under TCG every command the tests poll with runs many times slower: the
# next-hop tests' one-tick bound (test_relay_media.sh) is measured with them.
export MP_FOLLOW_BOUND_MS=3000
passed=0 failed=0 skipped=0
filter=${MP_TEST_FILTER:-}

suite() {
	local name=$1 log=$logs/$1.log rc results=0 suite_failed=0 line start=$SECONDS
	shift
	BUILD=$build timeout 1500 "$@" >"$log" 2>&1 </dev/null
	rc=$?
	while IFS= read -r line; do
		case $line in
		"not ok "*) echo "FAIL $name: ${line#not ok }"; failed=$((failed + 1)) suite_failed=1 results=$((results + 1)) ;;
		"ok "*"# SKIP"*|"ok "*"# skip"*) echo "SKIP $name: ${line#ok }"; skipped=$((skipped + 1)) results=$((results + 1)) ;;
		"ok "*) echo "PASS $name: ${line#ok }"; passed=$((passed + 1)) results=$((results + 1)) ;;
		"# @note "*|"# seed "*) ;;
		"# "*) echo "NOTE $name: ${line#\# }" ;; # what a passing test noted: netem or not, figures
		esac
	done <"$log"
	# a filter may leave a suite nothing to run
	if { [ "$results" -eq 0 ] && [ -z "$filter" ]; } || { [ "$rc" -ne 0 ] && [ "$suite_failed" -eq 0 ]; }; then
		echo "FAIL $name: exited with status $rc after $results results"
		failed=$((failed + 1)) suite_failed=1
	fi
	[ "$suite_failed" -eq 0 ] || { echo "---- output of $name ----"; tail -n 80 "$log"; echo "----"; }
	echo "# $name: $((SECONDS - start))s"
}

cd "$repo" || exit 1
suite test_bpf_fixtures python3 selftests/test_bpf_fixtures.py
MP_TEST_FILTER=$filter suite test_relay_attach bash selftests/test_relay_attach.sh
media="^[a-z]+: (a call's RTP|the same call|without |a route flipped|a neighbour's MAC|RTP( and RTCP)? through netem)|^virtio-net: "
[ "${MP_VMTEST_QUICK:-}" != yes ] ||
	media="^xdp: a call's RTP|^tc: the same call through|^virtio-net: a call redirected"
MP_TEST_FILTER=${filter:-$media} \
	suite test_relay_media bash selftests/test_relay_media.sh
cat "$MP_VMTEST_REPORT" 2>/dev/null
rm -rf "$logs"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
