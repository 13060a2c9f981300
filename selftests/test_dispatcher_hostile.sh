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
plain_management() {
	ip netns exec "$DISP_NS" python3 -c "
import socket, sys
s = socket.create_connection(('198.18.10.1', 25061), timeout=5)
s.sendall(sys.argv[1].encode())
data = b''
while chunk := s.recv(65536):
    data += chunk
sys.stdout.write(data.decode())" "$1"
}

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
	wait_for 5 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "the stand-in relay did not connect"
	{ example_a; example_b; } | proxy >/dev/null
	wait "$fake" || fail "$(cat "$T/fake")"
	wait_for 5 grep -q "malformed expired report for session 7f3c9a21e5b04d2c@10.0.0.23" "$T/disp.log" ||
		fail "not logged as malformed: $(cat "$T/disp.log")"
	wait_for 5 grep -q '"method": "dlg.end_dlg", "params": \[3021, 17\]' "$T/rpc" || fail "no dlg.end_dlg: $(cat "$T/rpc")"
	wait_until 5 '[ -n "$(account_info)" ]' || fail "no accounting row: $(cat "$T/disp.log")"
	expect_eq "$(account_info | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["timed_out"], d["all_streams_ice"])')" \
		"True False" "timed_out, all_streams_ice"
}
account_info() { python3 -c "import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('select info from media_sessions')]" "$T/acct.db" 2>/dev/null; }
run_test "D6: an expiry report without streams is logged as malformed, accounted as timed out, its dialog ended" \
	t_expired_without_streams
