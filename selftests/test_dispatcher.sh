#!/bin/bash
# media-dispatcher with real media-relays over mutual TLS: the proxy socket
# answered byte for byte as the mediaproxy module expects, relay selection,
# failover inside the module's 500 ms, the management interface.  The
# dispatcher's host (198.18.10.1, 198.18.11.1) has a veth to each relay host
# (relay1 198.18.10.2, relay2 198.18.11.2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

management() {
	ip netns exec "$DISP_NS" python3 "$HERE/helpers/management_client.py" 198.18.10.1 25061 "$T/tls" "$@"
}

t_capture_replay() {
	hosts 1
	start_dispatcher
	start_relay 1
	proxy <"$TOP/selftests/data/kamailio-5.6-engage-1call.requests.bin" >"$T/replies"
	expect_eq "$(od -An -c "$T/replies" | tr -s ' ')" \
		"$(printf '%s 40002\r\n%s 40000\r\nremoved\r\n' $RELAY1 $RELAY1 | od -An -c | tr -s ' ')" \
		"the replies to Kamailio's captured requests, byte for byte"
	grep -q 'session 1-15539@127.0.0.1 ended: {"call_id": "1-15539@127.0.0.1"' "$T/disp.log" ||
		fail "no final statistics: $(cat "$T/disp.log")"
	grep -q '}\], "dialog_id": "2580:3757", "timed_out": false}$' "$T/disp.log" ||
		fail "dialog_id and timed_out not added as the original adds them: $(cat "$T/disp.log")"
}
run_test "the capture of Kamailio's mediaproxy module gets its replies, byte for byte" t_capture_replay

t_bad_requests() {
	hosts 1
	start_dispatcher
	start_relay 1
	{
		offer good
		printf 'update\r\ncall_id: x\r\nbroken header\r\n\r\n'           # no ": "
		printf 'update\r\nto_tag:\r\ncall_id: y\r\n\r\n'                  # "to_tag:" without space
		printf 'update\r\nfrom_tag: a\r\n\r\n'                             # no call_id
		printf 'frobnicate\r\ncall_id: good\r\n\r\n'                       # unknown command
		printf 'remove\r\ncall_id: nobody\r\nfrom_tag: a\r\n\r\n'          # unknown session
		printf 'update\r\ncall_id: z\r\nfrom_tag: a\r\n\r\n'               # the relay refuses it
		printf 'remove\r\ncall_id: good\r\nfrom_tag: ft\r\nto_tag: \r\n\r\n'
	} | proxy >"$T/replies"
	expect_eq "$(tr -d '\r' <"$T/replies" | tr '\n' '|')" \
		"$RELAY1 40002|error|error|error|error|error|error|removed|" "replies"
}
run_test "malformed requests get error and leave the other sessions alone" t_bad_requests

t_media_relay_preference() {
	local first second
	hosts 2
	start_dispatcher
	start_relay 1
	start_relay 2
	for n in $(seq 10); do offer pref$n $RELAY2; done | proxy >"$T/replies"
	expect_eq "$(cut -d' ' -f1 "$T/replies" | sort -u | tr -d '\r')" "$RELAY2" "every session on the preferred relay"
	for n in $(seq 30); do offer rand$n; done | proxy >"$T/replies"
	first=$(grep -c "^$RELAY1 " "$T/replies" || true)
	second=$(grep -c "^$RELAY2 " "$T/replies" || true)
	[ "$first" -gt 0 ] && [ "$second" -gt 0 ] && [ $((first + second)) -eq 30 ] ||
		fail "30 sessions spread as $first/$second"
}
run_test "media_relay picks the relay; without it sessions spread over both" t_media_relay_preference

t_failover() {
	hosts 2
	start_dispatcher
	start_relay 1
	start_relay 2
	# relay 2 stops answering without closing: the dispatcher must not wait for it
	kill -STOP "$RELAY_PID2"
	for n in $(seq 8); do offer fail$n; done | proxy >"$T/replies" || fail "a reply came later than 500 ms: $(cat "$T/timing")"
	expect_eq "$(cut -d' ' -f1 "$T/replies" | sort -u | tr -d '\r')" "$RELAY1" "every session on the live relay"
	kill -CONT "$RELAY_PID2"
}
run_test "a relay that stops answering mid-setup: every reply still comes within 500 ms from the other" t_failover

t_existing_session_follows_relay() {
	hosts 2
	start_dispatcher
	start_relay 1
	start_relay 2
	offer keep $RELAY1 | proxy >/dev/null
	kill -KILL "$RELAY_PID1" # gone without reporting its sessions
	wait "$RELAY_PID1" || true
	{
		printf 'update\r\ntype: reply\r\ncall_id: keep\r\ncseq: 1\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: ft\r\nto_tag: tt\r\nuser_agent: t\r\nsignaling_ip: 198.18.2.9\r\nmedia: audio:198.18.2.9:30000:sendrecv:ice=no\r\n\r\n'
	} | proxy >"$T/replies"
	expect_eq "$(tr -d '\r\n' <"$T/replies")" "error" "an update for a session whose relay is gone"
}
run_test "a session stays with its relay: when that relay is gone its updates get error, not another relay" \
	t_existing_session_follows_relay

t_bad_certificates_refused() {
	hosts 1
	start_dispatcher
	for cert in revoked expired stranger; do
		start_relay 1 $cert
		wait_for 20 grep -q "relay $RELAY1 refused" "$T/disp.log" || fail "$cert: no refusal logged: $(cat "$T/disp.log")"
		! grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "the $cert certificate was accepted"
		expect_eq "$(offer x | proxy | tr -d '\r\n')" "error" "a request with no relay"
		kill -KILL "$RELAY_PID1"
		wait "$RELAY_PID1" || true
		grep "relay $RELAY1 refused" "$T/disp.log" | tail -1 >>"$T/reasons"
		: >"$T/disp.log"
	done
	grep -q "revoked" "$T/reasons" && grep -q "expired" "$T/reasons" || fail "reasons: $(cat "$T/reasons")"
}
run_test "relays with a revoked, an expired or another CA's certificate are refused and logged" \
	t_bad_certificates_refused

t_management() {
	local summary
	hosts 2
	start_dispatcher
	start_relay 1
	start_relay 2
	offer m1 $RELAY1 | proxy >/dev/null
	management version summary sessions bogus quit >"$T/mgmt"
	expect_eq "$(sed -n 1p "$T/mgmt")" "0.1.0" "version"
	summary=$(sed -n 2p "$T/mgmt" | python3 -c "
import json, sys
print(sorted((r['ip'], r['status'], r['session_count'], r['stream_count']) for r in json.load(sys.stdin)))")
	expect_eq "$summary" "[('$RELAY1', 'active', 1, {'audio': 1}), ('$RELAY2', 'active', 0, {})]" "summary"
	expect_eq "$(sed -n 3p "$T/mgmt" | python3 -c "
import json, sys
print([(s['call_id'], s['from_tag'], s['from_uri'], s['to_uri'], s['start_time'], s['streams']) for s in json.load(sys.stdin)])")" \
		"[('m1', 'ft', 'alice@example.org', 'bob@example.net', None, [])]" "sessions"
	expect_eq "$(sed -n 4p "$T/mgmt")" "error" "an unknown command"
	! ip netns exec "$DISP_NS" python3 "$HERE/helpers/management_client.py" 198.18.10.1 25061 - summary 2>/dev/null ||
		fail "plain TCP was served on a TLS management port"
}
run_test "management over TLS: version, summary and sessions field by field, errors" t_management

example_a() {
	printf 'update\r\ntype: request\r\ndialog_id: 3021:17\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\nto_tag: \r\nuser_agent: ExamplePhone/2.1\r\nsignaling_ip: 198.18.1.7\r\nmedia_relay: \r\nmedia: audio:10.0.0.23:49170:sendrecv:ice=no,video:10.0.0.23:51372:sendrecv:ice=no\r\n\r\n'
}
example_b() {
	printf 'update\r\ntype: reply\r\ndialog_id: 3021:17\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\nto_tag: 8321234356\r\nuser_agent: OtherPhone 5.0\r\nsignaling_ip: 198.18.2.9\r\nmedia_relay: \r\nmedia: audio:192.168.5.9:30000:sendrecv:ice=no,video:192.168.5.9:30002:sendrecv:ice=no\r\n\r\n'
}
t_spec_examples() {
	hosts 1
	spawn python3 "$HERE/helpers/fake_proxy_rpc.py" "$T/kamailio.sock" ok >"$T/rpc"
	start_dispatcher "[Kamailio]" "socket_path = $T/kamailio.sock"
	ip netns exec "$RELAY_NS1" python3 "$HERE/helpers/fake_relay.py" 198.18.10.1 "$T/tls" >"$T/fake" 2>&1 &
	local fake=$!
	wait_for 20 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "the stand-in relay did not connect"
	{ example_a; example_b; } | proxy >"$T/replies"
	expect_eq "$(od -An -c "$T/replies" | tr -s ' ')" \
		"$(printf '198.18.0.50 40002 40006\r\n198.18.0.50 40000 40004\r\n' | od -An -c | tr -s ' ')" "replies to A and B"
	wait_for 20 grep -q '}\], "timed_out": true, "dialog_id": "3021:17", "all_streams_ice": false}$' "$T/disp.log" ||
		fail "the expiry was not accounted as the original does: $(cat "$T/disp.log")"
	expect_eq "$(example_c | proxy | od -An -c | tr -s ' ')" "$(printf 'removed\r\n' | od -An -c | tr -s ' ')" \
		"C after the expiry, answered by the dispatcher"
	wait "$fake" || fail "$(cat "$T/fake")"
	grep -Eqx '\{"jsonrpc": "2.0", "id": "[0-9a-f]{1,8}", "method": "dlg.end_dlg", "params": \[3021, 17\]\}' "$T/rpc" ||
		fail "Kamailio got no dlg.end_dlg: $(cat "$T/rpc")"
	grep -q "the dialog of 7f3c9a21e5b04d2c@10.0.0.23 was ended" "$T/disp.log" || fail "$(cat "$T/disp.log")"
}
run_test "doc/proxy-protocol.md §11.1, §11.2, §11.5, §11.3 (examples A, B, E, C): the bytes the relay gets and the replies the proxy gets" t_spec_examples

t_dispatcher_restart() {
	hosts 2
	start_dispatcher
	start_relay 1
	start_relay 2
	offer r1 $RELAY1 | proxy >/dev/null
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || fail "dispatcher exit status $?"
	: >"$T/disp.log"
	start_dispatcher
	wait_for 20 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "relay 1 did not come back: $(cat "$T/relay1.log")"
	wait_for 20 grep -q "relay $RELAY1: 1 sessions taken over" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	wait_for 20 grep -q "relay $RELAY2 connected" "$T/disp.log" || fail "relay 2 did not come back"
	expect_eq "$(answer r1 | proxy | tr -d '\r\n')" "$RELAY1 40000" "the 200 OK after the restart, on the call's relay"
}
run_test "a dispatcher restart: relays reconnect, report their calls, and the calls stay on their relays" \
	t_dispatcher_restart

t_relay_restart() {
	hosts 1
	start_dispatcher
	start_relay 1
	offer r1 | proxy >/dev/null
	kill -QUIT "$RELAY_PID1"
	wait "$RELAY_PID1" || true
	start_relay 1
	connected_twice() { [ "$(grep -c "relay $RELAY1 connected" "$T/disp.log")" -eq 2 ]; }
	wait_for 20 connected_twice || fail "no reconnection: $(cat "$T/disp.log")"
	# the dispatcher asked the relay for its sessions when it connected; a
	# summary goes over the same link after that question, so once it is
	# answered the relay's sessions were handled
	management summary >/dev/null
	! grep -q "sessions it no longer has were forgotten" "$T/disp.log" || fail "the call was purged: $(cat "$T/disp.log")"
	expect_eq "$(answer r1 | proxy | tr -d '\r\n')" "$RELAY1 40000" "the 200 OK after the relay restart"
}
run_test "a relay restarting for an upgrade keeps its calls, and the dispatcher keeps routing to it" t_relay_restart

# Between saving its state and exiting, a relay stopping for a restart lets
# its last lines go out for up to 300 ms; a request it answered then would be
# missing from the state (an offer: the call lost) or still in it (a remove:
# accounted twice).  A worker already connected sends its offer the moment
# the relay logs the save: the dispatcher must answer error, not the relay.
t_relay_quit_takes_no_request() {
	hosts 1
	start_dispatcher
	start_relay 1
	offer kept | proxy >/dev/null
	offer late >"$T/late.request"
	spawn python3 -c "
import socket, sys, time
log, path, request = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
print('ready', flush=True)
while 'stopping for a restart' not in open(log).read():
    time.sleep(0.002)
s.sendall(open(request, 'rb').read())
s.settimeout(10)
print(s.recv(1000).decode().strip() or 'closed', flush=True)
" "$T/relay1.log" "$T/disp/run/dispatcher.sock" "$T/late.request" >"$T/late"
	wait_for 20 grep -q ready "$T/late" || fail "the worker did not connect"
	kill -QUIT "$RELAY_PID1"
	wait "$RELAY_PID1" || fail "SIGQUIT: exit status $?"
	wait_until 20 '[ "$(wc -l <"$T/late")" -eq 2 ]' || fail "no answer to the late offer: $(cat "$T/relay1.log")"
	expect_eq "$(sed -n 2p "$T/late")" "error" "the offer sent once the relay had saved its state"
}
run_test "a relay stopping for a restart answers no request after saving its state" t_relay_quit_takes_no_request

t_passport_refused() {
	hosts 1
	start_dispatcher "passport = O:Example Carrier, CN:relay*"
	start_relay 1 relay
	wait_for 20 grep -q "relay $RELAY1 refused due to wrong passport" "$T/disp.log" ||
		fail "no passport refusal: $(cat "$T/disp.log")"
}
run_test "a relay whose certificate fails the dispatcher's passport is refused" t_passport_refused

t_slow_client() {
	hosts 1
	start_dispatcher
	start_relay 1
	# a worker that sends half a request and never the rest
	spawn python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect('$T/disp/run/dispatcher.sock')
s.sendall(b'update\r\ncall_id: stuck\r\n'); print('sent', flush=True); time.sleep(600)" >"$T/stuck"
	wait_for 20 grep -q sent "$T/stuck" || fail "the silent worker did not connect"
	expect_eq "$(offer other | proxy | cut -d' ' -f1 | tr -d '\r\n')" "$RELAY1" "another worker's request"
}
run_test "a silent proxy worker stalls no other worker" t_slow_client

t_socket_access() {
	hosts 1
	start_dispatcher "socket_group = nogroup" "socket_mode = 0660"
	expect_eq "$(stat -c '%a %G' "$T/disp/run/dispatcher.sock")" "660 nogroup" "mode and group of the socket"
	chmod 755 "$T" "$T/disp" "$T/disp/run"
	as_nobody() {
		setpriv --reuid nobody --regid nogroup --clear-groups /usr/bin/python3 -c "
import socket; s = socket.socket(socket.AF_UNIX); s.connect('$T/disp/run/dispatcher.sock')"
	}
	as_nobody || fail "a proxy in the socket's group cannot connect"
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	: >"$T/disp.log"
	start_dispatcher "socket_mode = 0600"
	! as_nobody 2>/dev/null || fail "another user connected to a 0600 socket"
}
run_test "the proxy socket's group and mode come from the configuration" t_socket_access

t_halting_relay() {
	hosts 2
	start_dispatcher
	start_relay 1
	start_relay 2
	offer h0 $RELAY1 | proxy >/dev/null
	kill -HUP "$RELAY_PID1" # graceful: keeps h0, refuses new sessions
	wait_for 20 grep -q "halting: no new sessions" "$T/relay1.log" || fail "$(cat "$T/relay1.log")"
	for n in $(seq 6); do offer h$n $RELAY1; done | proxy >"$T/replies"
	expect_eq "$(cut -d' ' -f1 "$T/replies" | sort -u | tr -d '\r')" "$RELAY2" "new sessions while relay 1 halts"
	grep -q "relay $RELAY1: halting" "$T/disp.log" || fail "halting not noted: $(cat "$T/disp.log")"
	expect_eq "$(answer h0 | proxy | tr -d '\r\n')" "$RELAY1 40000" "the existing session on the halting relay"
}
run_test "a halting relay keeps its sessions and gets no new ones" t_halting_relay

t_expired_queued() {
	hosts 1
	start_dispatcher
	RELAY_EXTRA="stream_timeout = 2" start_relay 1
	offer q1 | proxy >/dev/null
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	wait_for 20 grep -q 'expired {"call_id": "q1"' "$T/relay1.log" || fail "no expiry: $(cat "$T/relay1.log")"
	: >"$T/disp.log"
	start_dispatcher
	wait_for 20 grep -q "relay $RELAY1: expired session q1" "$T/disp.log" ||
		fail "the expiry did not reach the restarted dispatcher: $(cat "$T/disp.log")"
}
run_test "an expiry while the dispatcher is away is queued and sent when it is back" t_expired_queued

# A relay serving two dispatchers: each session's expiry goes to the one that created it.
t_two_dispatchers() {
	hosts 1
	start_dispatcher
	mkdir -p "$T/disp2"
	cp -r "$T/tls" "$T/disp2/tls"
	printf '[Dispatcher]\nlisten = 0.0.0.0:25070\nlisten_management = 0.0.0.0:25071\nlisten_http = 127.0.0.1:25072\n' \
		>"$T/disp2/config.ini"
	spawn ip netns exec "$DISP_NS" "$BUILD/media-dispatcher" --no-fork --config-dir "$T/disp2" \
		--runtime-dir "$T/disp2/run" 2>>"$T/disp2.log"
	wait_for 20 test -S "$T/disp2/run/dispatcher.sock" || fail "second dispatcher: $(cat "$T/disp2.log")"
	RELAY_EXTRA="stream_timeout = 2" start_relay 1
	sed -i 's/^dispatchers = .*/dispatchers = 198.18.10.1:25060, 198.18.10.1:25070/' "$T/relay1/config.ini"
	kill -QUIT "$RELAY_PID1"
	wait "$RELAY_PID1" || true
	relay_again() {
		spawn ip netns exec "$RELAY_NS1" "$BUILD/media-relay" --no-fork --config-dir "$T/relay1" \
			--runtime-dir "$T/relay1/run" 2>>"$T/relay1.log"
	}
	relay_again
	back_at_first() { [ "$(grep -c "relay $RELAY1 connected" "$T/disp.log")" -eq 2 ]; }
	wait_for 20 grep -q "relay $RELAY1 connected" "$T/disp2.log" && wait_for 20 back_at_first ||
		fail "not connected to both: $(cat "$T/relay1.log")"
	expect_eq "$(offer one | proxy | cut -d' ' -f1 | tr -d '\r\n')" "$RELAY1" "the first dispatcher's session"
	expect_eq "$(offer two | python3 "$HERE/helpers/proxy_client.py" "$T/disp2/run/dispatcher.sock" 2>/dev/null |
		cut -d' ' -f1 | tr -d '\r\n')" "$RELAY1" "the second dispatcher's session"
	# a restart in between: the sessions still know their dispatchers
	kill -QUIT "$SPAWNED"
	wait "$SPAWNED" || true
	relay_again
	wait_for 20 grep -q "expired session two" "$T/disp2.log" || grep -q "session two ended" "$T/disp2.log" ||
		fail "the second dispatcher got no report: $(cat "$T/disp2.log")"
	wait_for 20 grep -q "session one ended" "$T/disp.log" || fail "the first got no report: $(cat "$T/disp.log")"
	! grep -q "session one\|expired session one" "$T/disp2.log" || fail "the second dispatcher got the first's session"
	! grep -q "session two\|expired session two" "$T/disp.log" || fail "the first dispatcher got the second's session"
}
run_test "a relay serving two dispatchers reports each expiry to the one that created the session, restart or not" \
	t_two_dispatchers

# dns NS RECORDS...: a DNS server for NS alone (dnsmasq on its loopback,
# and NS's resolv.conf pointing there; `ip netns exec` mounts it)
dns() {
	local ns=$1
	shift
	mkdir -p "/etc/netns/$ns"
	echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
	spawn ip netns exec "$ns" dnsmasq -k --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
		--pid-file= --log-facility=- "$@" 2>>"$T/dns.log"
	wait_for 20 udp_bound "$ns" 53 || fail "dnsmasq did not start: $(cat "$T/dns.log")"
}

t_dispatcher_by_name() {
	hosts 1
	dns "$RELAY_NS1" --srv-host=_sip._udp.proxy.example,disp.example,5060 --host-record=disp.example,198.18.10.1 \
		--host-record=other.example,198.18.10.1
	start_dispatcher
	for name in proxy.example other.example; do
		RELAY_DISPATCHERS=$name start_relay 1
		sed -n '/dispatcher .* is 198/p' "$T/relay1.log" | tail -1 >>"$T/found"
		kill -TERM "$RELAY_PID1"
		wait "$RELAY_PID1" || true
		: >"$T/disp.log"
	done
	expect_eq "$(sed 's/.*INFO: //' "$T/found")" \
		"$(printf 'dispatcher proxy.example:25060 is 198.18.10.1 by SRV record, target disp.example\ndispatcher other.example:25060 is 198.18.10.1')" \
		"how the relay found its dispatcher"
}
run_test "a dispatcher named by the SIP domain's SRV record, or by its A record" t_dispatcher_by_name

# rows DB: call_id, from_tag, to_tag and the info keys a user checks, one row a line
rows() {
	python3 -c "
import json, sqlite3, sys
for call_id, from_tag, to_tag, info in sqlite3.connect(sys.argv[1]).execute(
        'SELECT call_id, from_tag, to_tag, info FROM media_sessions ORDER BY id'):
    i = json.loads(info)
    print(call_id, from_tag, to_tag, i['call_id'], i['dialog_id'], i['timed_out'], [s['status'] for s in i['streams']])
" "$1"
}

# times DB: per row: call_id, and its start_time column: NULL, "= info" when
# it is the statistics' start_time in UTC without the fraction, else both values
times() {
	python3 -c "
import datetime, json, sqlite3, sys
for call_id, column, info in sqlite3.connect(sys.argv[1]).execute(
        'SELECT call_id, start_time, info FROM media_sessions ORDER BY id'):
    want = datetime.datetime.fromtimestamp(int(json.loads(info)['start_time']), datetime.timezone.utc)
    want = want.strftime('%Y-%m-%d %H:%M:%S')
    print(call_id, 'NULL' if column is None else '= info' if column == want else f'{column!r} != {want}')
" "$1"
}

# schema DB: the start_time column's declared type, then the indexes and their columns
schema() {
	python3 -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print([row[2] for row in db.execute('PRAGMA table_info(media_sessions)') if row[1] == 'start_time'])
for (name,) in db.execute('SELECT name FROM sqlite_master WHERE type = ? AND tbl_name = ? ORDER BY name',
                         ('index', 'media_sessions')):
    print(name, [row[2] for row in db.execute(f'PRAGMA index_info({name})')])
" "$1"
}

t_accounting_sqlite() {
	hosts 1
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	start_relay 1
	# records are written in the order sessions end: a row for the unanswered
	# session would come before a1's
	{ offer never; remove never; offer a1; answer a1; remove a1; } | proxy >/dev/null
	wait_until 20 'test -n "$(rows "$T/acct.db" | grep "^a1 ")"' || fail "no row: $(cat "$T/disp.log")"
	expect_eq "$(rows "$T/acct.db")" "a1 ft tt a1 2580:3757 False ['closed']" "the accounting rows"
	expect_eq "$(times "$T/acct.db")" "a1 = info" "the start_time column against the JSON's"
	expect_eq "$(schema "$T/acct.db")" "$(printf '%s\n' "['TEXT']" \
		"media_sessions_callid_idx ['call_id', 'from_tag', 'to_tag']" "media_sessions_starttime_idx ['start_time']")" \
		"the start_time column's type and the indexes"
	# the database is locked by someone else: records wait in the spool, across a restart
	spawn python3 -c "
import sqlite3, time
c = sqlite3.connect('$T/acct.db', isolation_level=None); c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True); time.sleep(600)" >"$T/locker"
	local locker=$SPAWNED
	wait_for 20 grep -q locked "$T/locker" || fail "the database was not locked"
	for call in b1 b2 b3; do { offer $call; answer $call; remove $call; } | proxy >/dev/null; done
	wait_for 20 grep -q "spooling them to" "$T/disp.log" || fail "no spooling: $(cat "$T/disp.log")"
	wait_until 20 'test "$(wc -l <"$T/disp/run/accounting-database.spool")" = 3' ||
		fail "spooled records: $(wc -l <"$T/disp/run/accounting-database.spool")"
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	kill "$locker"
	wait "$locker" 2>/dev/null || true
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	wait_for 20 grep -q "3 spooled records written" "$T/disp.log" || fail "no replay: $(cat "$T/disp.log")"
	expect_eq "$(rows "$T/acct.db" | cut -d' ' -f1 | tr '\n' ' ')" "a1 b1 b2 b3 " "rows after the replay, in order, once each"
	[ ! -e "$T/disp/run/accounting-database.spool" ] || fail "the spool is left"
}
run_test "accounting in SQLite: the row holds the session's JSON; a locked database spools, replayed after a restart" \
	t_accounting_sqlite

# A call with RTP and RTCP through the relay (userspace tier; both parties on
# the relay's host, impairments and a 15-25 ms answer delay made by the
# sender: helpers/rtp_netem_peer.py without a device for netem): the
# accounting row carries the stream's quality keys as the relay reported them.
t_accounting_quality() {
	hosts 1
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	start_relay 1
	{ offer q1; answer q1; } | proxy >/dev/null
	local ports
	ports=$(python3 -c "
import json, sys
sys.path.insert(0, '$HERE/helpers')
from rtp_peer import relay_request
s = json.loads(relay_request('$T/relay1/run/relay.sock', 'sessions'))[0]['streams'][0]
print(s['caller_local'], s['callee_local'])")
	read -r caller_local callee_local <<<"$ports"
	spawn python3 "$HERE/helpers/rtp_netem_peer.py" "$T/relay1/run/relay.sock" "$RELAY_NS1:49170:$caller_local" \
		"$RELAY_NS1:30000:$callee_local" none 200 delay 20ms >"$T/receiver.json" 2>"$T/peer.log"
	wait "$SPAWNED" || fail "peer: $(cat "$T/peer.log")"
	remove q1 | proxy >/dev/null
	wait_until 20 'test -n "$(rows "$T/acct.db" | grep "^q1 ")"' || fail "no row: $(cat "$T/disp.log")"
	python3 - "$T/acct.db" "$T/receiver.json" <<-'PY' || fail "the row's quality keys: $(cat "$T/receiver.json")"
		import json, sqlite3, sys
		info, = sqlite3.connect(sys.argv[1]).execute("SELECT info FROM media_sessions WHERE call_id = 'q1'").fetchone()
		s, r = json.loads(info)["streams"][0], json.load(open(sys.argv[2]))
		print("@note row: " + json.dumps({k: v for k, v in s.items() if k.startswith(("caller_", "callee_"))}))
		checks = [
		    ("callee_lost, out of order, duplicates = the receiver's",
		     (s["callee_lost"], s["callee_out_of_order"], s["callee_duplicates"]) ==
		     (r["lost"], r["out_of_order"], r["duplicates"])),
		    ("callee_rtcp_lost = the caller's report", s["callee_rtcp_lost"] == r["rtcp_sent"]["lost"]),
		    ("callee_rtcp_fraction_lost", abs(s["callee_rtcp_fraction_lost"] - r["rtcp_sent"]["fraction"] / 256) <= 0.00005),
		    ("caller_rtcp_* = the callee's block", (s["caller_rtcp_lost"], s["caller_rtcp_fraction_lost"],
		     s["caller_rtcp_jitter_ms"]) == (7, 0.0508, 10.0)),
		    ("callee_rtt_ms between the delay the callee made and the caller's own round trip, 1 ms either way",
		     r["injected_ms"] - 1 <= s["callee_rtt_ms"] <= r["rtt_ms"] + 1),
		    ("caller_rtt_ms below 10 ms (no delay made; the relay's own time)", 0 <= s["caller_rtt_ms"] <= 10),
		    ("callee_mos a G.711 estimate", 4 <= s["callee_mos"] <= 4.41),
		    ("caller_mos null", s["caller_mos"] is None),
		]
		bad = [name for name, ok in checks if not ok]
		print("; ".join(bad), file=sys.stderr)
		sys.exit(1 if bad else 0)
	PY
}
run_test "accounting in SQLite: the row carries a call's RTP and RTCP figures, round trips and MOS" t_accounting_quality

# The dispatcher as media-dispatcher.service runs it: a user of its own
# without any capability; its runtime directory and the state directory of
# its SQLite accounting are that user's.
t_unprivileged() {
	local uid=64211 pid
	hosts 1
	chmod 0755 "$T"
	chmod -R go+rX "$T/tls"
	install -d -o $uid -g $uid "$T/disp" "$T/disp/run" "$T/state"
	DISPATCHER_WRAPPER="$HERE/helpers/as_user.sh $uid none" \
		start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/state/acct.db"
	pid=$DISPATCHER
	expect_eq "$(stat -c %u "/proc/$pid") $(cat "/proc/$pid/comm")" "$uid media-dispatche" "the dispatcher's user"
	expect_eq "$(sed -n 's/^CapEff:\t//p; s/^CapBnd:\t//p' "/proc/$pid/status" | paste -sd' ')" \
		"0000000000000000 0000000000000000" "its effective and bounding capability sets"
	start_relay 1
	{ offer u1; answer u1; remove u1; } | proxy >"$T/replies"
	[[ $(sed -n 1p "$T/replies") =~ ^$RELAY1\ 4[0-9]{4} ]] || fail "the offer's reply: $(cat "$T/replies")"
	[[ $(sed -n 2p "$T/replies") =~ ^$RELAY1\ 4[0-9]{4} ]] || fail "the answer's reply: $(cat "$T/replies")"
	wait_until 20 'test -n "$(rows "$T/state/acct.db")"'  || fail "no row: $(cat "$T/disp.log")"
	expect_eq "$(rows "$T/state/acct.db")" "u1 ft tt u1 2580:3757 False ['closed']" "the accounting row"
}
run_test "the dispatcher as its unit runs it (an unprivileged user without capabilities) serves a call and accounts for it" \
	t_unprivileged

t_accounting_sqlite_old_layout() {
	local old
	hosts 1
	# the table as the original made it, and this project before the start time (doc/accounting.md §3.1)
	python3 - "$T/acct.db" <<'EOF'
import sqlite3, sys
sqlite3.connect(sys.argv[1]).executescript(r"""
CREATE TABLE media_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id VARCHAR(255) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    to_tag VARCHAR(64),
    info CHAR(16777215)
);
CREATE UNIQUE INDEX media_sessions_callid_idx ON media_sessions (call_id, from_tag, to_tag);
INSERT INTO media_sessions (call_id, from_tag, to_tag, info) VALUES
    ('o1', 'ft', 'tt', '{"call_id": "o1", "dialog_id": null, "timed_out": false, "start_time": 1767225612.5, "streams": []}'),
    ('o2', 'ft', NULL, '{"call_id": "o2", "dialog_id": null, "timed_out": true, "start_time": 1767225700, "streams": []}');
""")
EOF
	old=$(rows "$T/acct.db")
	expect_eq "$old" "$(printf '%s\n' "o1 ft tt o1 None False []" "o2 ft None o2 None True []")" "the old rows"
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	wait_for 20 grep -q "INFO: accounting: added the column start_time to the table media_sessions" "$T/disp.log" ||
		fail "no column added: $(cat "$T/disp.log")"
	start_relay 1
	{ offer n1; answer n1; remove n1; } | proxy >/dev/null
	wait_until 20 'test "$(rows "$T/acct.db" | wc -l)" = 3' || fail "rows: $(rows "$T/acct.db") $(cat "$T/disp.log")"
	expect_eq "$(rows "$T/acct.db" | head -n 2)" "$old" "the old rows after the migration"
	expect_eq "$(times "$T/acct.db")" "$(printf 'o1 NULL\no2 NULL\nn1 = info')" "the start_time column"
	expect_eq "$(schema "$T/acct.db")" "$(printf '%s\n' "['TEXT']" \
		"media_sessions_callid_idx ['call_id', 'from_tag', 'to_tag']" "media_sessions_starttime_idx ['start_time']")" \
		"the added column's type and the indexes"
	[ "$(grep -c 'ERROR: accounting' "$T/disp.log")" = 0 ] || fail "accounting errors: $(cat "$T/disp.log")"
}
run_test "accounting in SQLite: a table of the old layout with rows gets the start_time column and its index; old \
rows unchanged with NULL, new rows carry the call's start time" t_accounting_sqlite_old_layout

# purge_opensips_call ANSWER: a call with OpenSIPS's dialog id 12975096201233
# (h_entry 3021, h_id 17) that its relay lost in a restart; the reconnect
# purge asks the stand-in OpenSIPS (fake_proxy_rpc.py ANSWER, answering from
# an unbound socket as OpenSIPS does) to end its dialog.  Its requests are in
# $T/rpc.
purge_opensips_call() {
	hosts 1
	spawn python3 "$HERE/helpers/fake_proxy_rpc.py" "$T/mi.sock" "$1" --unbound >"$T/rpc"
	start_dispatcher "[OpenSIPS]" "socket_path = $T/mi.sock"
	start_relay 1
	offer lost | sed 's/dialog_id: 2580:3757/dialog_id: 12975096201233/' | proxy >/dev/null
	kill -KILL "$RELAY_PID1" # gone, and its calls with it
	wait "$RELAY_PID1" || true
	rm -f "$T/relay1/run/relay-state.json"
	start_relay 1
	wait_for 20 grep -q "1 sessions it no longer has were forgotten" "$T/disp.log" || fail "$(cat "$T/disp.log")"
}

# end_dlg_request N PARAM: the Nth request OpenSIPS got is dlg_end_dlg [PARAM]
end_dlg_request() {
	wait_until 20 '[ "$(wc -l <"$T/rpc")" -ge '"$1"' ]' || fail "OpenSIPS got fewer than $1 requests: $(cat "$T/rpc")"
	sed -n "$1p" "$T/rpc" | grep -Eqx '\{"jsonrpc": "2.0", "id": "[0-9a-f]{1,8}", "method": "dlg_end_dlg", "params": \["'"$2"'"\]\}' ||
		fail "request $1 is not dlg_end_dlg [\"$2\"]: $(cat "$T/rpc")"
}

t_purge_ends_opensips_dialog() {
	purge_opensips_call callid
	end_dlg_request 1 "dcb.11"
	end_dlg_request 2 "lost"
	wait_for 20 grep -q "the dialog of lost was ended, found by its Call-ID lost" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	grep -q "no dialog with did dcb.11, asking again by the Call-ID lost" "$T/disp.log" || fail "$(cat "$T/disp.log")"
}
run_test "the reconnect purge ends a lost call's dialog on OpenSIPS: by its did, by its Call-ID after a 404" \
	t_purge_ends_opensips_dialog

t_purge_opensips_dialog_unknown() {
	purge_opensips_call notfound
	end_dlg_request 1 "dcb.11"
	end_dlg_request 2 "lost"
	wait_for 20 grep -q "could not end the dialog of lost (by its Call-ID lost): 404 Dialog not found" "$T/disp.log" ||
		fail "$(cat "$T/disp.log")"
	# a third request would have been sent instead of that line
	expect_eq "$(wc -l <"$T/rpc")" 2 "requests for a dialog OpenSIPS knows by neither name"
}
run_test "a dialog OpenSIPS knows neither by its did nor by its Call-ID: two requests, the 404 logged" \
	t_purge_opensips_dialog_unknown

# A line over 16 KiB closes that connection and nothing else.
t_long_lines() {
	hosts 1
	start_dispatcher
	start_relay 1
	python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('$T/disp/run/dispatcher.sock'); s.settimeout(3)
s.sendall(b'update\r\ncall_id: ' + b'x' * 20000)
sys.exit(0 if s.recv(100) == b'' else 'the proxy socket answered a line over 16 KiB')" ||
		fail "the proxy socket kept a connection with a line over 16 KiB"
	grep -q "a line longer than 16384 bytes" "$T/disp.log" || fail "not logged: $(cat "$T/disp.log")"
	expect_eq "$(offer after | proxy | cut -d' ' -f1 | tr -d '\r\n')" "$RELAY1" "another worker afterwards"
	ip netns exec "$DISP_NS" python3 -c "
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
ctx.load_verify_locations('$T/tls/ca.pem'); ctx.load_cert_chain('$T/tls/management.crt', '$T/tls/management.key')
s = ctx.wrap_socket(socket.create_connection(('198.18.10.1', 25061), timeout=3))
s.sendall(b's' * 20000)
try:
    assert s.recv(100) == b''
except ConnectionResetError:
    pass" || fail "the management port kept a connection with a line over 16 KiB"
	grep -q "management: a line too long; closing" "$T/disp.log" || fail "not logged: $(cat "$T/disp.log")"
	expect_eq "$(management version)" "0.1.0" "another management client afterwards"
}
run_test "a line over 16 KiB closes that proxy or management connection, and only that one" t_long_lines
