#!/bin/bash
# make soak: builds the bench's cpload and ceiling, takes the heavy lock
# and runs the soak for MINUTES (default 30); the report is printed and
# written to BUILD/soak/report.md.  README.md here says what it does.
#   run.sh [BUILD [MINUTES]]
set -euo pipefail
build=$(realpath "${1:-build}")
minutes=${2:-30}
here=$(dirname "$(realpath "$0")")
work=$build/soak
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH # Debian's python3 and tools first (selftests/lib.sh)
export PYTHONDONTWRITEBYTECODE=1

make -s -C "$here/../bench" BUILD="$build" "$build/bench/cpload" "$build/bench/ceiling"

# heavy: never at the same time as a test suite or the bench on this machine
exec 9>/tmp/mp-heavy.lock
flock 9
rm -rf "$work"
mkdir -p "$work/sanitizer"
# a SANITIZE=1 build: each report of a daemon in a file of its own, as
# selftests/run-all.sh has them
export ASAN_OPTIONS=log_path=$work/sanitizer/asan:detect_leaks=1:halt_on_error=1:quarantine_size_mb=16
export UBSAN_OPTIONS=log_path=$work/sanitizer/ubsan:print_stacktrace=1:halt_on_error=1
exec python3 "$here/soak.py" "$build" "$work" "$minutes"
