# Shared harness of the shell selftests: each test is a function run in its
# own subshell with `set -e`; its result is printed as a TAP line.
#   run_test "what it checks" function
# Inside a test: fail MSG, skip REASON, expect_eq ACTUAL EXPECTED WHAT,
# wait_for SECONDS CMD..., and spawn CMD... (killed when the test ends).
# Every test gets a private $T directory, removed when it ends.

BUILD=${BUILD:-$(dirname "${BASH_SOURCE[0]}")/../build}
BUILD=$(realpath "$BUILD")
TEST_NUMBER=0

fail() { echo "$*"; exit 1; }
skip() { echo "$*"; exit 77; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

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

# spawn CMD...: starts CMD in the background; its pid is in $SPAWNED.
spawn() {
	"$@" &
	SPAWNED=$!
	echo "$SPAWNED" >>"$T/.pids"
}

_end_test() {
	local pid
	set +e # a process that already ended is not a failure
	if [ -f "$T/.pids" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null
		done <"$T/.pids"
	fi
	rm -rf "$T"
}

run_test() {
	local name=$1 fn=$2 out rc
	TEST_NUMBER=$((TEST_NUMBER + 1))
	out=$(
		T=$(mktemp -d /tmp/mp-test.XXXXXX)
		trap _end_test EXIT
		set -e
		"$fn"
	) 2>&1
	rc=$?
	case $rc in
	0) echo "ok $TEST_NUMBER - $name" ;;
	77) echo "ok $TEST_NUMBER - $name # SKIP ${out##*$'\n'}" ;;
	*)
		echo "not ok $TEST_NUMBER - $name"
		sed 's/^/# /' <<<"$out"
		;;
	esac
}
