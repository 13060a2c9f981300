#!/bin/bash
# Runs the fuzz targets built in FUZZDIR (make fuzz, make fuzz-smoke;
# selftests/fuzz/README.md).  For each target: every seed of
# selftests/fuzz/corpus/TARGET/ is replayed once and must run clean, then
# the target is fuzzed for FUZZ_TIME seconds from its seeds and the inputs
# earlier runs found (FUZZDIR/corpus/TARGET/, kept).  A crash, a sanitizer
# report, a leak, a failed check or an input slower than FUZZ_INPUT_TIMEOUT
# is saved in FUZZDIR/findings/TARGET/ and fails the target.
#
#   FUZZ_TIME=180           seconds of fuzzing per target
#   FUZZ_JOBS=<cores>       targets fuzzed at once
#   FUZZ_TARGETS='regex'    only the targets whose name matches
#
# Prints a line per target (executions, coverage, findings) and ends with
# "N passed, N failed, N skipped": a replay and a fuzzing run are one
# result each.
set -u
fuzzdir=$(realpath "${1:-build/fuzz}")
here=$(dirname "$(realpath "$0")")
time=${FUZZ_TIME:-180}
jobs=${FUZZ_JOBS:-$(nproc)}
only=${FUZZ_TARGETS:-.}
input_timeout=${FUZZ_INPUT_TIMEOUT:-25}
logs=$fuzzdir/logs
mkdir -p "$logs" "$fuzzdir/tmp"
export TMPDIR=$fuzzdir/tmp # the targets' scratch files
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets=()
for src in "$here"/fuzz_*.c; do
	t=${src##*/fuzz_}
	t=${t%.c}
	[[ $t =~ $only ]] && targets+=("$t")
done

# Replays every seed of one target, each on its own; prints one result line.
replay() {
	local t=$1 seeds=$here/corpus/$1 log=$logs/$1.replay.log seed n=0 bad=()
	: >"$log"
	for seed in "$seeds"/*; do
		[ -f "$seed" ] || continue
		n=$((n + 1))
		"$fuzzdir/$t" -close_fd_mask=3 -timeout="$input_timeout" "$seed" >>"$log" 2>&1 || bad+=("${seed##*/}")
	done
	if [ "$n" -eq 0 ]; then
		echo "FAIL fuzz $t: no seed in $seeds"
	elif [ ${#bad[@]} -eq 0 ]; then
		echo "PASS fuzz $t: $n seeds replayed"
	else
		echo "FAIL fuzz $t: ${#bad[@]} of $n seeds fail: ${bad[*]} (log: $log)"
	fi
}

# Fuzzes one target for $time seconds; prints one result line.
fuzz() {
	local t=$1 log=$logs/$1.fuzz.log corpus=$fuzzdir/corpus/$1 found=$fuzzdir/findings/$1 rc
	local execs cov ft units findings
	mkdir -p "$corpus" "$found"
	"$fuzzdir/$t" -max_total_time="$time" -timeout="$input_timeout" -close_fd_mask=3 -print_final_stats=1 \
		-artifact_prefix="$found/" "$corpus" "$here/corpus/$t" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	read -r cov ft < <(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$log" | tail -1)
	units=$(find "$corpus" -type f | wc -l)
	findings=$(find "$found" -type f | wc -l)
	summary="${execs:-0} executions, coverage ${cov:-?} edges ${ft:-?} features, corpus $units, findings $findings"
	if [ "$rc" -eq 0 ] && [ "$findings" -eq 0 ]; then
		echo "PASS fuzz $t: ${time}s, $summary"
	else
		echo "FAIL fuzz $t: ${time}s, $summary (log: $log; findings in $found/)"
		grep -m1 -E 'runtime error|ERROR: [A-Za-z]+Sanitizer|fuzz check failed|ERROR: libFuzzer' "$log" | sed 's/^/    /'
	fi
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for t in "${targets[@]}"; do
	replay "$t"
done >>"$results"
cat "$results"
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz "$t" >"$logs/$t.result" &
	running=$((running + 1))
done
wait
for t in "${targets[@]}"; do
	cat "$logs/$t.result"
	cat "$logs/$t.result" >>"$results"
done
passed=$(grep -c '^PASS' "$results")
failed=$(grep -c '^FAIL' "$results")
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
