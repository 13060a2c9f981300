#!/bin/bash
# Runs every test suite and prints one summary line:
#   N passed, N failed, N skipped
# Each suite is a program that speaks TAP ("ok N - name", "not ok N - name",
# "ok N - name # SKIP reason"): the cmocka unit tests in BUILD/unit and the
# scripts selftests/test_*.sh and selftests/test_*.py (which drive the
# programs of selftests/helpers/, built into BUILD/helpers/).
# A suite's full output is printed when it fails; all of it is kept in
# BUILD/test-logs/.  MP_SUITE_SKIP (an extended regular expression) leaves
# out the suites whose name matches, e.g. MP_SUITE_SKIP=e2e; MP_SUITE_ONLY
# runs only those whose name matches, e.g. MP_SUITE_ONLY='test_e2e$'.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH # Debian's python3 first: see lib.sh
build=$(realpath "${1:-build}")
here=$(dirname "$(realpath "$0")")
logs=$build/test-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0

# In a SANITIZE=1 build, AddressSanitizer, LeakSanitizer and UBSan write
# each report to a file of its own here; a test that leaves one fails
# (lib.sh checks after each test, run_suite after each suite for the rest).
# A small quarantine keeps the memory tests meaningful under ASan.
export MP_SANITIZER_DIR=$logs/sanitizer
rm -rf "$MP_SANITIZER_DIR"
mkdir -p "$MP_SANITIZER_DIR/seen"
export ASAN_OPTIONS=log_path=$MP_SANITIZER_DIR/asan:detect_leaks=1:halt_on_error=1:quarantine_size_mb=16
export UBSAN_OPTIONS=log_path=$MP_SANITIZER_DIR/ubsan:print_stacktrace=1:halt_on_error=1

. "$here/sanitizer.sh"

run_suite() {
	local name=$1 log=$logs/${1//\//-}.log rc suite_failed=0 results=0 line start=$SECONDS
	shift
	[ -z "${MP_SUITE_SKIP:-}" ] || ! [[ $name =~ $MP_SUITE_SKIP ]] || return 0
	[ -z "${MP_SUITE_ONLY:-}" ] || [[ $name =~ $MP_SUITE_ONLY ]] || return 0
	BUILD=$build CMOCKA_MESSAGE_OUTPUT=TAP timeout 900 "$@" >"$log" 2>&1 </dev/null
	rc=$?
	while IFS= read -r line; do
		case $line in
		"not ok "*)
			echo "FAIL $name: ${line#not ok }"
			failed=$((failed + 1)) suite_failed=1 results=$((results + 1)) ;;
		"ok "*"# SKIP"*|"ok "*"# skip"*)
			echo "SKIP $name: ${line#ok }"
			skipped=$((skipped + 1)) results=$((results + 1)) ;;
		"ok "*)
			echo "PASS $name: ${line#ok }"
			passed=$((passed + 1)) results=$((results + 1)) ;;
		esac
	done <"$log"
	if sanitizer_reports >"$log.sanitizer"; then
		echo "FAIL $name: sanitizer report (in $log.sanitizer)"
		failed=$((failed + 1)) suite_failed=1
		cat "$log.sanitizer" >>"$log"
	fi
	if [ "$results" -eq 0 ] || { [ "$rc" -ne 0 ] && [ "$suite_failed" -eq 0 ]; }; then
		echo "FAIL $name: exited with status $rc after $results results"
		failed=$((failed + 1)) suite_failed=1
	fi
	if [ "$suite_failed" -ne 0 ]; then
		echo "---- output of $name ($log) ----"
		tail -n 60 "$log"
		echo "----"
	fi
	echo "# $name: $((SECONDS - start))s"
}

for t in "$build"/unit/*; do
	[ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
done
for t in "$here"/test_*.sh; do
	run_suite "selftests/$(basename "$t" .sh)" bash "$t"
done
for t in "$here"/test_*.py; do
	[ -e "$t" ] && run_suite "selftests/$(basename "$t" .py)" python3 "$t"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
