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
		wait_for 5 grep -q "relay $RELAY1 refused" "$T/disp.log" || fail "$cert: no refusal logged: $(cat "$T/disp.log")"
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
example_c() {
	printf 'remove\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\nfrom_tag: a73kszlfl\r\nto_tag: 8321234356\r\n\r\n'
}

t_spec_examples() {
	hosts 1
	spawn python3 "$HERE/helpers/fake_proxy_rpc.py" "$T/kamailio.sock" ok >"$T/rpc"
	start_dispatcher "[Kamailio]" "socket_path = $T/kamailio.sock"
	ip netns exec "$RELAY_NS1" python3 "$HERE/helpers/fake_relay.py" 198.18.10.1 "$T/tls" >"$T/fake" 2>&1 &
	local fake=$!
	wait_for 5 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "the stand-in relay did not connect"
	{ example_a; example_b; } | proxy >"$T/replies"
	expect_eq "$(od -An -c "$T/replies" | tr -s ' ')" \
		"$(printf '198.18.0.50 40002 40006\r\n198.18.0.50 40000 40004\r\n' | od -An -c | tr -s ' ')" "replies to A and B"
	wait_for 2 grep -q '}\], "timed_out": true, "dialog_id": "3021:17", "all_streams_ice": false}$' "$T/disp.log" ||
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
	wait_for 10 grep -q "relay $RELAY1 connected" "$T/disp.log" || fail "relay 1 did not come back: $(cat "$T/relay1.log")"
	wait_for 5 grep -q "relay $RELAY1: 1 sessions taken over" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	wait_for 10 grep -q "relay $RELAY2 connected" "$T/disp.log" || fail "relay 2 did not come back"
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
	wait_for 5 connected_twice || fail "no reconnection: $(cat "$T/disp.log")"
	sleep 0.3 # the sessions query
	! grep -q "sessions it no longer has were forgotten" "$T/disp.log" || fail "the call was purged: $(cat "$T/disp.log")"
	expect_eq "$(answer r1 | proxy | tr -d '\r\n')" "$RELAY1 40000" "the 200 OK after the relay restart"
}
run_test "a relay restarting for an upgrade keeps its calls, and the dispatcher keeps routing to it" t_relay_restart

t_passport_refused() {
	hosts 1
	start_dispatcher "passport = O:Example Carrier, CN:relay*"
	start_relay 1 relay
	wait_for 5 grep -q "relay $RELAY1 refused due to wrong passport" "$T/disp.log" ||
		fail "no passport refusal: $(cat "$T/disp.log")"
}
run_test "a relay whose certificate fails the dispatcher's passport is refused" t_passport_refused

t_slow_client() {
	hosts 1
	start_dispatcher
	start_relay 1
	# a worker that sends half a request and never the rest
	python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect('$T/disp/run/dispatcher.sock')
s.sendall(b'update\r\ncall_id: stuck\r\n'); time.sleep(5)" &
	sleep 0.3
	expect_eq "$(offer other | proxy | cut -d' ' -f1 | tr -d '\r\n')" "$RELAY1" "another worker's request"
	kill $! 2>/dev/null || true
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
	wait_for 3 grep -q "halting: no new sessions" "$T/relay1.log" || fail "$(cat "$T/relay1.log")"
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
	wait_for 5 grep -q 'expired {"call_id": "q1"' "$T/relay1.log" || fail "no expiry: $(cat "$T/relay1.log")"
	: >"$T/disp.log"
	start_dispatcher
	wait_for 10 grep -q "relay $RELAY1: expired session q1" "$T/disp.log" ||
		fail "the expiry did not reach the restarted dispatcher: $(cat "$T/disp.log")"
}
run_test "an expiry while the dispatcher is away is queued and sent when it is back" t_expired_queued

# A relay serving two dispatchers: each session's expiry goes to the one that created it.
t_two_dispatchers() {
	hosts 1
	start_dispatcher
	mkdir -p "$T/disp2"
	cp -r "$T/tls" "$T/disp2/tls"
	printf '[Dispatcher]\nlisten = 0.0.0.0:25070\nlisten_management = 0.0.0.0:25071\n' >"$T/disp2/config.ini"
	spawn ip netns exec "$DISP_NS" "$BUILD/media-dispatcher" --no-fork --config-dir "$T/disp2" \
		--runtime-dir "$T/disp2/run" 2>>"$T/disp2.log"
	wait_for 5 test -S "$T/disp2/run/dispatcher.sock" || fail "second dispatcher: $(cat "$T/disp2.log")"
	RELAY_EXTRA="stream_timeout = 2" start_relay 1
	sed -i 's/^dispatchers = .*/dispatchers = 198.18.10.1:25060, 198.18.10.1:25070/' "$T/relay1/config.ini"
	kill -QUIT "$RELAY_PID1"
	wait "$RELAY_PID1" || true
	relay_again() {
		spawn ip netns exec "$RELAY_NS1" "$BUILD/media-relay" --no-fork --config-dir "$T/relay1" \
			--runtime-dir "$T/relay1/run" 2>>"$T/relay1.log"
	}
	relay_again
	wait_for 5 grep -q "relay $RELAY1 connected" "$T/disp2.log" || fail "not connected to both: $(cat "$T/relay1.log")"
	offer one | proxy >/dev/null
	offer two | python3 "$HERE/helpers/proxy_client.py" "$T/disp2/run/dispatcher.sock" >/dev/null 2>&1
	# a restart in between: the sessions still know their dispatchers
	kill -QUIT "$SPAWNED"
	wait "$SPAWNED" || true
	relay_again
	wait_for 6 grep -q "expired session two" "$T/disp2.log" || grep -q "session two ended" "$T/disp2.log" ||
		fail "the second dispatcher got no report: $(cat "$T/disp2.log")"
	wait_for 3 grep -q "session one ended" "$T/disp.log" || fail "the first got no report: $(cat "$T/disp.log")"
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
	sleep 0.3
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

t_accounting_sqlite() {
	hosts 1
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	start_relay 1
	{ offer a1; answer a1; remove a1; offer never; remove never; } | proxy >/dev/null
	wait_until 5 'test -n "$(rows "$T/acct.db")"'
	expect_eq "$(rows "$T/acct.db")" "a1 ft tt a1 2580:3757 False ['closed']" "the accounting rows"
	# the database is locked by someone else: records wait in the spool, across a restart
	python3 -c "
import sqlite3, time
c = sqlite3.connect('$T/acct.db', isolation_level=None); c.execute('BEGIN EXCLUSIVE'); time.sleep(30)" &
	local locker=$!
	sleep 0.3
	for call in b1 b2 b3; do { offer $call; answer $call; remove $call; } | proxy >/dev/null; done
	wait_for 10 grep -q "spooling them to" "$T/disp.log" || fail "no spooling: $(cat "$T/disp.log")"
	wait_until 5 'test "$(wc -l <"$T/disp/run/accounting-database.spool")" = 3' ||
		fail "spooled records: $(wc -l <"$T/disp/run/accounting-database.spool")"
	kill -TERM "$DISPATCHER"
	wait "$DISPATCHER" || true
	kill "$locker"
	wait "$locker" 2>/dev/null || true
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	wait_for 5 grep -q "3 spooled records written" "$T/disp.log" || fail "no replay: $(cat "$T/disp.log")"
	expect_eq "$(rows "$T/acct.db" | cut -d' ' -f1 | tr '\n' ' ')" "a1 b1 b2 b3 " "rows after the replay, in order, once each"
	[ ! -e "$T/disp/run/accounting-database.spool" ] || fail "the spool is left"
}
run_test "accounting in SQLite: the row holds the session's JSON; a locked database spools, replayed after a restart" \
	t_accounting_sqlite

# The reconnect purge ends the dialogs of sessions the relay no longer has,
# through OpenSIPS's MI for an OpenSIPS dialog id.
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
	wait_until 5 'test -n "$(rows "$T/state/acct.db")"'
	expect_eq "$(rows "$T/state/acct.db")" "u1 ft tt u1 2580:3757 False ['closed']" "the accounting row"
}
run_test "the dispatcher as its unit runs it (an unprivileged user without capabilities) serves a call and accounts for it" \
	t_unprivileged

t_purge_ends_opensips_dialog() {
	hosts 1
	spawn python3 "$HERE/helpers/fake_proxy_rpc.py" "$T/mi.sock" notfound >"$T/rpc"
	start_dispatcher "[OpenSIPS]" "socket_path = $T/mi.sock"
	start_relay 1
	offer lost | sed 's/dialog_id: 2580:3757/dialog_id: 12975096201233/' | proxy >/dev/null
	kill -KILL "$RELAY_PID1" # gone, and its calls with it
	wait "$RELAY_PID1" || true
	rm -f "$T/relay1/run/relay-state.json"
	start_relay 1
	wait_for 5 grep -q "1 sessions it no longer has were forgotten" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	wait_for 3 grep -Eqx '\{"jsonrpc": "2.0", "id": "[0-9a-f]{1,8}", "method": "dlg_end_dlg", "params": \["12975096201233"\]\}' \
		"$T/rpc" || fail "OpenSIPS got no dlg_end_dlg: $(cat "$T/rpc")"
	wait_for 3 grep -q "could not end the dialog of lost: 404 Dialog not found" "$T/disp.log" || fail "$(cat "$T/disp.log")"
}
run_test "the reconnect purge asks OpenSIPS to end the dialog of a call the relay lost" t_purge_ends_opensips_dialog

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
