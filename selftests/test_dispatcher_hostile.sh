#!/bin/bash
# media-dispatcher under hostile or careless clients: requests with no relay
# to take them, management commands in one write, half-closed connections,
# malformed relay reports.  Each answer is an error or the right reply, and
# the dispatcher goes on serving.  Run under SANITIZE=1 (make check
# SANITIZE=1), a use after free here is a sanitizer report and fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

CAPTURE=$TOP/selftests/data/kamailio-5.6-engage-1call.requests.bin

# first_request: the capture's first request, the INVITE's update
first_request() { python3 -c "import sys; d=open(sys.argv[1],'rb').read(); sys.stdout.buffer.write(d[:d.index(b'\r\n\r\n')+4])" "$CAPTURE"; }

t_no_relay() {
	hosts 0
	start_dispatcher
	{ first_request; first_request; } | proxy >"$T/replies" || fail "late: $(cat "$T/timing")"
	expect_eq "$(tr -d '\r' <"$T/replies" | tr '\n' '|')" "error|error|" "two updates on one connection, no relay"
	expect_eq "$(offer next | proxy | tr -d '\r\n')" "error" "a new connection afterwards"
	grep -q 'no suitable relay' "$T/disp.log" || fail "not logged: $(cat "$T/disp.log")"
}
run_test "D1: an update with no relay connected gets error, and so does the next on the connection" t_no_relay

# plain_management BYTES: sends BYTES in one write to the plain management
# port and prints all it gets until the dispatcher closes.
plain_management() { send_raw 198.18.10.1 25061 "$1"; }

t_management_pipelined() {
	hosts 1
	start_dispatcher "management_use_tls = no"
	expect_eq "$(plain_management $'summary\r\nquit\r\n' | tr -d '\r' | tr '\n' '|')" "[]|" "summary then quit in one write"
	expect_eq "$(plain_management $'sessions\r\nsummary\r\nversion\r\nquit\r\n' | tr -d '\r' | tr '\n' '|')" \
		"[]|[]|0.1.0|" "four commands in one write"
	kill -0 "$DISPATCHER" || fail "the dispatcher died: $(cat "$T/disp.log")"
}
run_test "D2: management commands in one write with no relay: each answered in order, then closed" t_management_pipelined

t_half_close() {
	hosts 0
	start_dispatcher
	expect_eq "$(first_request | python3 "$HERE/helpers/proxy_abuse.py" half-close "$T/disp/run/dispatcher.sock" 200)" \
		200 "half-closed connections answered"
}
run_test "D7: 200 clients that half-close after their request each get the answer, then the close" t_half_close

t_expired_without_streams() {
	hosts 1
	spawn python3 "$HERE/helpers/fake_proxy_rpc.py" "$T/kamailio.sock" ok >"$T/rpc"
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db" \
		"[Kamailio]" "socket_path = $T/kamailio.sock"
	ip netns exec "$RELAY_NS1" python3 "$HERE/helpers/fake_relay.py" 198.18.10.1 "$T/tls" no-streams >"$T/fake" 2>&1 &
	local fake=$!
	wait_for 20 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "the stand-in relay did not connect"
	{ example_a; example_b; } | proxy >/dev/null
	wait "$fake" || fail "$(cat "$T/fake")"
	wait_for 20 grep -q "malformed expired report for session 7f3c9a21e5b04d2c@10.0.0.23" "$T/disp.log" ||
		fail "not logged as malformed: $(cat "$T/disp.log")"
	wait_for 20 grep -q '"method": "dlg.end_dlg", "params": \[3021, 17\]' "$T/rpc" || fail "no dlg.end_dlg: $(cat "$T/rpc")"
	wait_until 20 '[ -n "$(account_info)" ]' || fail "no accounting row: $(cat "$T/disp.log")"
	expect_eq "$(account_info | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["timed_out"], d["all_streams_ice"])')" \
		"True False" "timed_out, all_streams_ice"
}
account_info() { python3 -c "import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('select info from media_sessions')]" "$T/acct.db" 2>/dev/null; }
run_test "D6: an expiry report without streams is logged as malformed, accounted as timed out, its dialog ended" \
	t_expired_without_streams

# A relay's statistics without a key (found by the relay_replies fuzz target).
# examples_with_fake_relay VARIANT REPLY_TO_C: the dispatcher (SQLite
# accounting) and fake_relay.py VARIANT; the proxy's A, B and C through them
examples_with_fake_relay() {
	hosts 1
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	ip netns exec "$RELAY_NS1" python3 "$HERE/helpers/fake_relay.py" 198.18.10.1 "$T/tls" "$1" >"$T/fake" 2>&1 &
	local fake=$!
	wait_for 5 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "the stand-in relay did not connect"
	expect_eq "$({ example_a; example_b; example_c; } | proxy | tr -d '\r' | tr '\n' '|')" \
		"198.18.0.50 40002 40006|198.18.0.50 40000 40004|$2|" "the replies to A, B and C"
	wait "$fake" || fail "$(cat "$T/fake")"
}

t_empty_statistics() {
	examples_with_fake_relay empty-stats removed
	grep -qF 'session 7f3c9a21e5b04d2c@10.0.0.23 ended: {"dialog_id": "3021:17", "timed_out": false}' "$T/disp.log" ||
		fail "the logged statistics are not JSON: $(grep ended "$T/disp.log")"
	# a stopped dispatcher has written or spooled every record it had
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	[ -z "$(account_info)" ] && [ ! -e "$T/disp/run/accounting-database.spool" ] ||
		fail "accounted without a start_time: $(account_info; cat "$T/disp/run/accounting-database.spool" 2>/dev/null)"
}
run_test "statistics {} from a relay: logged as JSON, not accounted (no start_time), the proxy gets removed" t_empty_statistics

# A relay too slow for the proxy's deadline: the remove fails, and its
# statistics, arriving later, are accounted all the same.
t_late_remove() {
	examples_with_fake_relay late-remove error
	wait_until 20 '[ -n "$(account_info)" ]' || fail "the late statistics were not accounted: $(cat "$T/disp.log")"
	expect_eq "$(account_info | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["duration"], d["streams"][0]["status"], d["timed_out"])')" \
		"305 conntrack timeout False" "the row holds the late statistics"
	grep -q "relay $RELAY1: the answer to remove 3 came after its time" "$T/disp.log" || fail "$(cat "$T/disp.log")"
}
run_test "a remove answered after its time: the proxy gets error, the statistics are accounted when they come" t_late_remove

# answers_in_time N: N updates, each on a new connection, each answered
# within the module's 500 ms.
answers_in_time() {
	local i reply
	for i in $(seq "$1"); do
		reply=$(offer "in-time-$i" | proxy) || fail "update $i answered late: $(cat "$T/timing") ms"
		[ -n "$reply" ] || fail "update $i: no answer"
	done
}

# flood MODE ARGS...: proxy_abuse.py MODE holding its connections; waits
# until every connect was started.
flood() {
	spawn ip netns exec "$DISP_NS" python3 "$HERE/helpers/proxy_abuse.py" "$@" >"$T/flood"
	wait_for 20 grep -qx ready "$T/flood" || fail "the flood did not start"
}

t_idle_tcp_flood() {
	local lines relays_port_limit
	hosts 1
	DISPATCHER_WRAPPER="prlimit --nofile=1024:1024" start_dispatcher "management_use_tls = yes"
	flood idle-tcp 198.18.10.1 25060 1100
	flood idle-tcp 198.18.10.1 25061 1100
	# both ports at their cap of connections still authenticating
	wait_for 30 grep -q "the relay port: 64 connections authenticating; the oldest closed" "$T/disp.log" ||
		fail "the cap not logged: $(cat "$T/disp.log")"
	wait_for 30 grep -q "the management port: 64 connections authenticating; the oldest closed" "$T/disp.log" ||
		fail "the cap not logged: $(cat "$T/disp.log")"
	answers_in_time 20
	# the handshakes in progress are capped: no descriptor shortage at all
	relays_port_limit=$(ip netns exec "$DISP_NS" ss -Htn state established '( sport = :25060 )' | wc -l)
	[ "$relays_port_limit" -lt 1100 ] || fail "all $relays_port_limit idle connections were taken"
	# idle connections make room for new ones: a real relay gets in
	start_relay 1 relay
	wait_for 30 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "no relay got in: $(tail "$T/disp.log")"
	answers_in_time 5
	lines=$(wc -l <"$T/disp.log")
	[ "$lines" -lt 60 ] || fail "$lines log lines: $(sort "$T/disp.log" | uniq -c | sort -rn | head)"
}
run_test "D3: 1,100 idle connections on each TCP port, 1,024 descriptors: the proxy socket answers in time throughout, a relay still gets in, the log stays short" \
	t_idle_tcp_flood

# closed_after PORT: seconds until the dispatcher closes a connection to
# PORT that never sends a byte
closed_after() {
	ip netns exec "$DISP_NS" python3 -c "
import socket, sys, time
s = socket.create_connection(('198.18.10.1', int(sys.argv[1])), timeout=30)
start = time.monotonic()
s.recv(1)
print(round(time.monotonic() - start))" "$1"
}

t_handshake_deadline() {
	hosts 1
	start_dispatcher
	closed_after 25060 >"$T/relay_port" &
	expect_eq "$(closed_after 25061)" 10 "seconds until an idle management connection is closed"
	wait $!
	expect_eq "$(cat "$T/relay_port")" 10 "seconds until an idle relay-port connection is closed"
	grep -q "the relay port: a connection did not authenticate within 10000 ms; closed" "$T/disp.log" ||
		fail "not logged: $(cat "$T/disp.log")"
}
run_test "D3: a connection that never completes its TLS handshake is closed after 10 s" t_handshake_deadline

t_idle_proxy_flood() {
	local lines
	hosts 0
	DISPATCHER_WRAPPER="prlimit --nofile=1024:1024" start_dispatcher
	flood idle-unix "$T/disp/run/dispatcher.sock" 1100
	# the dispatcher is out of descriptors: the proxy socket must serve anyway
	wait_for 30 grep -q "the proxy socket: out of descriptors; closed an idle connection" "$T/disp.log" ||
		fail "descriptor shortage not logged: $(cat "$T/disp.log")"
	answers_in_time 20
	lines=$(wc -l <"$T/disp.log")
	[ "$lines" -lt 60 ] || fail "$lines log lines: $(sort "$T/disp.log" | uniq -c | sort -rn | head)"
}
run_test "D3: 1,100 idle connections on the proxy socket, 1,024 descriptors: idle ones make room, requests answered in time" \
	t_idle_proxy_flood

# big_update CALL_ID KIB: an update whose header lines total about KIB KiB
big_update() {
	python3 -c "
import sys
lines = [b'update', b'call_id: ' + sys.argv[1].encode(), b'from_tag: ft', b'type: request', b'cseq: 1']
lines += [b'x_padding_%d: ' % i + b'p' * 1000 for i in range(int(sys.argv[2]))]
sys.stdout.buffer.write(b'\r\n'.join(lines) + b'\r\n\r\n')" "$1" "$2"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$DISPATCHER/status"; }

t_request_limit() {
	local before after
	hosts 1
	start_dispatcher
	start_relay 1
	{ big_update big 320; offer small; } | proxy >"$T/replies" || fail "late: $(cat "$T/timing")"
	expect_eq "$(tr -d '\r' <"$T/replies" | tr '\n' '|')" "error|$RELAY1 40002|" \
		"a 320 KiB update, then an ordinary one, on one connection"
	grep -q "proxy request refused: its header lines are over 65,472 bytes" "$T/disp.log" ||
		fail "not logged: $(cat "$T/disp.log")"
	! grep -q "relay $RELAY1: connection closed" "$T/disp.log" || fail "the relay link dropped: $(cat "$T/disp.log")"
	# 100 MiB of header lines cost the dispatcher no memory (under
	# AddressSanitizer, up to its 16 MiB quarantine of freed lines and their
	# shadow more)
	before=$(rss_kib)
	expect_eq "$(big_update huge 102400 | proxy | tr -d '\r\n')" error "a 100 MiB update"
	after=$(rss_kib)
	[ $((after - before)) -lt "$(if ldd "$BUILD/media-dispatcher" | grep -q libasan; then echo 49152; else echo 20480; fi)" ] ||
		fail "RSS grew from $before to $after KiB"
}
run_test "D4: a request over 64 KiB gets error, the relay link stays, 100 MiB of headers cost no memory" t_request_limit

t_relay_block_limit() {
	hosts 1
	start_dispatcher
	start_relay 1
	# the relay's own limit, on its control socket: one connection, an
	# oversized block then a summary
	python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(5)
big = b'update 1\r\ncall_id: big\r\n' + b''.join(b'x%d: %s\r\n' % (i, b'p' * 1000) for i in range(100)) + b'\r\n'
s.sendall(big + b'summary 2\r\n\r\n')
data = b''
while data.count(b'\r\n') < 2:
    data += s.recv(65536)
print(data.decode().replace('\r\n', '|')[:40])" "$T/relay1/run/relay.sock" >"$T/out"
	[[ $(cat "$T/out") == "1 error|2 {"* ]] || fail "replies: $(cat "$T/out")"
	grep -q "request 1: over 65536 bytes; answering error" "$T/relay1.log" || fail "not logged: $(cat "$T/relay1.log")"
}
run_test "D4: a block over 64 KiB at the relay gets <seq> error and the connection goes on" t_relay_block_limit
