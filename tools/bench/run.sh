#!/bin/bash
# make bench: builds the bench's programs and the peers' root (peers.sh),
# runs the media benchmarks (forwarding.py) and the control-plane one
# (control.py) and writes the table and plot into tools/bench/results/
# (report.py).  README.md here says how and what.  QUICK=1: short runs that
# write into BUILD/bench/work/ only.
#   run.sh [BUILD]
set -euo pipefail
build=$(realpath "${1:-build}")
here=$(dirname "$(realpath "$0")")
work=$build/bench/work
results=$here/results
quick=()
if [ -n "${QUICK:-}" ]; then
	quick=(--quick)
	results=$work/results
fi
py=/usr/bin/python3 # Debian's, with matplotlib
export PYTHONDONTWRITEBYTECODE=1

make -s -C "$here" BUILD="$build"
"$here/peers.sh" "$build" || echo "bench: no Debian 13 root; rtpengine 12.5 goes unmeasured" >&2
rm -rf "$work"
mkdir -p "$work" "$results"

# heavy: never at the same time as a test suite on this machine
exec 9>/tmp/mp-heavy.lock
flock 9
bpf_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	sysctl -qw kernel.bpf_stats_enabled="$bpf_stats"
	(cd "$here" && $py -c 'import lab; lab.cleanup()')
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1 # the run time of each BPF program

start=$SECONDS
$py "$here/forwarding.py" "$build" "$work" "$work/forwarding.json" "${quick[@]}"
BUILD=$build $py "$here/prog_cost.py" "$work/prog_cost.json" ||
	echo "bench: the programs' cost by path was not measured; the report goes without it" >&2
$py "$here/control.py" "$build" "$work/control" "$work/control.json" "${quick[@]}" ||
	echo "bench: the control-plane benchmark failed; the report goes without it" >&2
$py "$here/report.py" "$work/forwarding.json" "$work/control.json" "$work/prog_cost.json" "$results" $((SECONDS - start))
echo "bench: $results/latest.md, $results/latest.png ($((SECONDS - start)) s)"
