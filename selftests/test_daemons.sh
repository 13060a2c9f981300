#!/bin/bash
# Both daemons as an operator meets them: command line, config errors,
# pid file, daemon mode, signals, log output.
. "$(dirname "$0")/lib.sh"

# The dispatcher's TLS credentials, made once for every test.
CERTS=$(mktemp -d /tmp/mp-certs.XXXXXX)
trap 'rm -rf "$CERTS"' EXIT
"$(dirname "$0")/../tools/make-certs.sh" "$CERTS" >/dev/null 2>&1

# in_place DAEMON: sets RUN, the command prefix that runs DAEMON where it
# may run, in a namespace of its own: the relay attaches to its relay
# address's interface (a veth with a default route); the dispatcher listens
# on its ports there, with its credentials in $T/tls.
in_place() {
	need_root
	if [ "$1" = media-relay ]; then
		RUN=(ip netns exec "$(relay_netns 198.18.0.50)")
	else
		cp -r "$CERTS" "$T/tls"
		RUN=(ip netns exec "$(make_netns disp)")
	fi
}

# start_fg NAME [ARGS...]: runs NAME in the foreground on $T/run, log in $T/NAME.log
start_fg() {
	local name=$1
	shift
	[ -v RUN ] || in_place "$name"
	spawn "${RUN[@]}" "$BUILD/$name" --no-fork --config-dir "$T" --runtime-dir "$T/run" "$@" 2>"$T/$name.log"
	wait_for 20 grep -q "started" "$T/$name.log" || fail "$name did not start: $(cat "$T/$name.log")"
}

# stop_with SIGNAL PID: sends SIGNAL and returns PID's exit status
stop_with() {
	kill -"$1" "$2"
	local rc=0
	wait "$2" || rc=$?
	return $rc
}

for daemon in media-dispatcher media-relay; do
	case $daemon in
	media-dispatcher) section=Dispatcher ;;
	media-relay) section=Relay ;;
	esac

	t_help() {
		local out
		out=$("$BUILD/$daemon" --help)
		for opt in --no-fork --systemd --config-dir --runtime-dir --debug --version --help; do
			grep -q -- "$opt" <<<"$out" || fail "--help does not describe $opt"
		done
	}
	run_test "$daemon --help describes every option" t_help

	t_version() {
		local out
		out=$("$BUILD/$daemon" --version)
		[[ $out =~ ^$daemon\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$out'"
	}
	run_test "$daemon --version prints name and version" t_version

	t_bad_arg() {
		local rc=0
		"$BUILD/$daemon" --no-such-option 2>"$T/err" || rc=$?
		expect_eq "$rc" 2 "exit status"
		grep -q "Usage:" "$T/err" || fail "no usage on stderr"
	}
	run_test "$daemon refuses an unknown argument" t_bad_arg

	t_bad_value() {
		local rc=0
		in_place "$daemon"
		printf '# comment\n[%s]\nlog_level = INFO\nlog_level_typo = 1\nlog_level = LOUD\n' "$section" >"$T/config.ini"
		"${RUN[@]}" "$BUILD/$daemon" --no-fork --config-dir "$T" --runtime-dir "$T/run" 2>"$T/err" || rc=$?
		[ "$rc" -ne 0 ] || fail "started with a bad value"
		grep -q "$T/config.ini:3: option appears twice" "$T/err" ||
			grep -q "$T/config.ini:5: option appears twice in one file (first at line 3)" "$T/err" ||
			fail "error does not name file and line: $(cat "$T/err")"
		printf '[%s]\nlog_level = LOUD\n' "$section" >"$T/config.ini"
		rc=0
		"${RUN[@]}" "$BUILD/$daemon" --no-fork --config-dir "$T" --runtime-dir "$T/run" 2>"$T/err" || rc=$?
		[ "$rc" -ne 0 ] || fail "started with log_level = LOUD"
		grep -q "$T/config.ini:2: \[$section\] log_level = LOUD: not a log level" "$T/err" ||
			fail "error does not name file, line, option and reason: $(cat "$T/err")"
		[ ! -e "$T/run" ] || fail "runtime directory created although start-up failed"
	}
	run_test "$daemon exits non-zero on a bad value, naming file, line and option" t_bad_value

	t_local_dir() {
		local rc=0
		in_place "$daemon"
		mkdir "$T/bin" "$T/other"
		cp "$BUILD/$daemon" "$T/bin/"
		printf '[TLS]\nverify_interval = 0\n' >"$T/bin/config.ini"
		"${RUN[@]}" "$T/bin/$daemon" --no-fork --runtime-dir "$T/run" 2>"$T/err" || rc=$?
		[ "$rc" -ne 0 ] || fail "config.ini beside the program was not read"
		grep -q "$T/bin/config.ini:2: \[TLS\] verify_interval = 0: must be a positive integer" "$T/err" ||
			fail "unexpected error: $(cat "$T/err")"
		# --config-dir replaces the program's directory
		spawn "${RUN[@]}" "$T/bin/$daemon" --no-fork --config-dir "$T/other" --runtime-dir "$T/run" 2>"$T/log"
		wait_for 20 grep -q started "$T/log" || fail "did not start with --config-dir: $(cat "$T/log")"
	}
	run_test "$daemon reads config.ini beside the program unless --config-dir is given" t_local_dir

	t_foreground() {
		local pid
		start_fg "$daemon"
		pid=$SPAWNED
		expect_eq "$(cat "$T/run/$daemon.pid")" "$pid" "pid file"
		stop_with TERM "$pid" || fail "exit status $? after SIGTERM"
		[ ! -e "$T/run/$daemon.pid" ] || fail "pid file left behind"
		grep -q "received Terminated, stopping" "$T/$daemon.log" || fail "stop not logged"
	}
	run_test "$daemon --no-fork writes its pid file and stops cleanly on SIGTERM" t_foreground

	t_other_stop_signals() {
		for sig in INT HUP; do
			start_fg "$daemon"
			stop_with "$sig" "$SPAWNED" || fail "exit status $? after SIG$sig"
		done
	}
	run_test "$daemon stops cleanly on SIGINT and SIGHUP" t_other_stop_signals

	t_second_instance() {
		local rc=0 pid
		start_fg "$daemon"
		pid=$SPAWNED
		"${RUN[@]}" "$BUILD/$daemon" --no-fork --config-dir "$T" --runtime-dir "$T/run" 2>"$T/err" || rc=$?
		[ "$rc" -ne 0 ] || fail "a second instance started on the same runtime directory"
		grep -q "another $daemon is running" "$T/err" || fail "unexpected error: $(cat "$T/err")"
		kill -0 "$pid" || fail "the first instance died"
		expect_eq "$(cat "$T/run/$daemon.pid")" "$pid" "pid file after the refused start"
	}
	run_test "$daemon refuses a second instance on the same runtime directory" t_second_instance

	t_daemon_mode() {
		local pid
		in_place "$daemon"
		"${RUN[@]}" "$BUILD/$daemon" --config-dir "$T" --runtime-dir "$T/run/nested"
		wait_for 20 test -s "$T/run/nested/$daemon.pid" || fail "no pid file"
		pid=$(cat "$T/run/nested/$daemon.pid")
		echo "$pid" >>"$T/.pids"
		kill -0 "$pid" || fail "daemon $pid is not running"
		expect_eq "$(ps -o sid= -p "$pid" | tr -d ' ')" "$pid" "session of the daemon"
		kill -TERM "$pid"
		wait_for 20 eval "! kill -0 $pid 2>/dev/null" || fail "daemon did not stop on SIGTERM"
		[ ! -e "$T/run/nested/$daemon.pid" ] || fail "pid file left behind"
	}
	run_test "$daemon daemonises, creates the runtime directory and stops on SIGTERM" t_daemon_mode

	t_sigusr1() {
		start_fg "$daemon"
		kill -USR1 "$SPAWNED"
		wait_for 20 grep -q "log level is now DEBUG" "$T/$daemon.log" || fail "SIGUSR1 did not enable DEBUG"
		kill -USR1 "$SPAWNED"
		wait_for 20 grep -q "log level is now INFO" "$T/$daemon.log" || fail "second SIGUSR1 did not restore INFO"
	}
	run_test "$daemon toggles DEBUG logging on SIGUSR1" t_sigusr1

	t_debug_and_journal() {
		printf '[%s]\nlog_level = ERROR\n' "$section" >"$T/config.ini"
		in_place "$daemon"
		spawn "${RUN[@]}" "$BUILD/$daemon" --systemd --debug --config-dir "$T" --runtime-dir "$T/run" 2>"$T/log"
		wait_for 20 grep -q "^<7>read $T/config.ini" "$T/log" ||
			fail "no DEBUG line with a journal priority: $(cat "$T/log")"
		grep -q "^<6>$daemon .* started" "$T/log" || fail "no INFO start line: $(cat "$T/log")"
	}
	run_test "$daemon --debug overrides log_level; --systemd logs with journal priorities" t_debug_and_journal

	# sd_notify(3)'s datagrams, as systemd takes them for Type=notify: one
	# line each, READY=1 with whether the daemon's socket was there then.
	# The relay is told through a socket path, the dispatcher through one in
	# the abstract namespace ("@") of its network namespace.
	t_notify() {
		local sock=$T/run/relay.sock address=$T/notify pid
		[ "$daemon" = media-dispatcher ] && sock=$T/run/dispatcher.sock address=@mp-notify-$$-$TEST_NUMBER
		in_place "$daemon"
		spawn "${RUN[@]}" python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:] if sys.argv[1][0] == "@" else sys.argv[1])
print("bound", flush=True)
while True:
    msg = s.recv(4096).decode()
    if msg == "READY=1":
        msg += " serving" if os.path.exists(sys.argv[2]) else " not serving"
    print(msg, flush=True)' "$address" "$sock" >"$T/notify.log"
		wait_for 5 grep -q bound "$T/notify.log" || fail "no notify socket"
		spawn env NOTIFY_SOCKET="$address" "${RUN[@]}" "$BUILD/$daemon" --systemd --config-dir "$T" --runtime-dir "$T/run" \
			2>"$T/log"
		pid=$SPAWNED
		wait_for 5 grep -q READY=1 "$T/notify.log" || fail "no READY=1: $(cat "$T/log")"
		stop_with TERM "$pid" || fail "exit status $? after SIGTERM"
		expect_eq "$(sed 1d "$T/notify.log" | paste -sd,)" "READY=1 serving,STOPPING=1" "what systemd was told"
	}
	run_test "$daemon --systemd tells systemd READY=1 once it serves and STOPPING=1 when it stops (Type=notify)" t_notify

	t_warnings() {
		printf '[%s]\nno_such_option = 1\n[NoSuchSection]\n' "$section" >"$T/config.ini"
		start_fg "$daemon"
		grep -q "config.ini:2: unknown option 'no_such_option' in \[$section\], ignored" "$T/$daemon.log" ||
			fail "no warning for the unknown option: $(cat "$T/$daemon.log")"
		grep -q "config.ini:3: unknown section \[NoSuchSection\], ignored" "$T/$daemon.log" ||
			fail "no warning for the unknown section"
	}
	run_test "$daemon warns about unknown options and sections and still starts" t_warnings
done
