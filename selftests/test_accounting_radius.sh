#!/bin/bash
# RADIUS accounting (doc/accounting.md §4): the dispatcher and a relay in
# namespaces (dispatcher_lib.sh) and a FreeRADIUS of our own in the
# dispatcher's namespace, on its 127.0.0.1:1813 (the namespace's own
# loopback: never the system's service or port).  FreeRADIUS's detail module
# writes every Accounting-Request it gets to $T/detail; its dictionary
# includes config/radius/dictionary, so it names MediaProxy's attributes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

SECRET=mp-radius-test

# start_radius: FreeRADIUS in the foreground (-X: one thread, every packet in
# $T/radius.out), accounting only
start_radius() {
	command -v freeradius >/dev/null || skip "freeradius is not installed (tools/install-deps.sh)"
	mkdir -p "$T/raddb" "$T/radrun"
	printf '$INCLUDE %s\n' "$TOP/config/radius/dictionary" >"$T/raddb/dictionary"
	cat >"$T/raddb/radiusd.conf" <<EOF
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = $T/radrun
raddbdir = $T/raddb
radacctdir = $T/radrun
name = freeradius
confdir = $T/raddb
modconfdir = $T/raddb/mods-config
run_dir = $T/radrun
db_dir = $T/raddb
libdir = /usr/lib/freeradius
pidfile = $T/radrun/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {
	destination = files
	file = $T/radrun/radius.log
}
security {
	allow_core_dumps = no
}
client local {
	ipaddr = 127.0.0.1
	secret = $SECRET
}
modules {
	detail {
		filename = $T/detail
		permissions = 0600
		header = "%t"
	}
}
server default {
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = 1813
	}
	accounting {
		detail
	}
}
EOF
	spawn ip netns exec "$DISP_NS" freeradius -X -d "$T/raddb" >>"$T/radius.out" 2>&1
	RADIUS=$SPAWNED
	wait_for 20 grep -q "Ready to process requests" "$T/radius.out" || fail "FreeRADIUS did not start: $(cat "$T/radius.out")"
}

# radius_client: a radiusclient file with the keys doc/accounting.md §4.1 lists
# (no authserver, which radcli's own reader would insist on), in the
# dispatcher's local directory with its secrets file; the acctserver without
# a port, so the default 1813
radius_client() {
	mkdir -p "$T/disp/radius"
	cat >"$T/disp/radius/client.conf" <<EOF
# what OpenSIPS shares with MediaProxy
acctserver 127.0.0.1
servers $T/disp/radius/servers
dictionary /etc/radcli/dictionary
radius_timeout 1
radius_retries 1
bindaddr *
EOF
	printf '# host secret\n127.0.0.1 %s\n' "$SECRET" >"$T/disp/radius/servers"
}

# A dispatcher sending to RADIUS; relative paths, found in its --config-dir.
start_radius_dispatcher() {
	radius_client
	[ -n "${NO_DICTIONARY:-}" ] || cp "$TOP/config/radius/dictionary" "$T/disp/radius/dictionary"
	start_dispatcher "accounting = radius" "[Radius]" "config_file = radius/client.conf" "$@"
}

# records: the detail file's records as JSON, one a line: {"Attribute": "value"}
records() {
	[ -f "$T/detail" ] || return 0
	python3 -c '
import json, re, sys
for block in open(sys.argv[1]).read().split("\n\n"):
    pairs = re.findall(r"^\t(\S+) = (.*)$", block, re.M)
    if pairs:
        print(json.dumps({k: v[1:-1] if v.startswith("\"") else v for k, v in pairs}))
' "$T/detail"
}
count_records() { records | wc -l; }
# has_records N: FreeRADIUS has N records (for wait_for: counted at each try)
has_records() { [ "$(count_records)" -eq "$1" ]; }
spooled() { [ "$(wc -l 2>/dev/null <"$T/disp/run/accounting-radius.spool")" = "$1" ]; }

# session_json CALL_ID: the statistics the dispatcher logged for the call
session_json() { sed -n "s/.* session $1 ended: //p" "$T/disp.log" | tail -n 1; }

# check_record CALL_ID ATTRIBUTE=VALUE...: the call's one record holds these
# attributes with these values; VALUE "-" = the attribute is absent
check_record() {
	local call=$1
	shift
	records | python3 -c '
import json, sys
call, expected = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])
mine = [r for r in map(json.loads, sys.stdin) if r.get("Acct-Session-Id") == call]
if len(mine) != 1:
    sys.exit(f"{len(mine)} records of {call}")
got = {k: mine[0].get(k, "-") for k in expected}
bad = ["%s: got %r, expected %r" % (k, got[k], v) for k, v in expected.items() if got[k] != v]
sys.exit("; ".join(bad) or None)
' "$call" "$@" || fail "record of $call: $(cat "$T/detail" 2>/dev/null)"
}

# media CALLEE_SIDE_PORT CALLER_SIDE_PORT: 50 RTP packets each way through
# the relay, the two parties played from the dispatcher's host
media() {
	python3 "$HERE/helpers/rtp_peer.py" "$T/relay1/run/relay.sock" "$DISP_NS:49170:$RELAY1:$2" \
		"$DISP_NS:30000:$RELAY1:$1" 50 172 >"$T/media.json" 2>"$T/media.log" || fail "media: $(cat "$T/media.log")"
}

# call_duration: the whole seconds the relay's one session lasted so far
call_duration() {
	"$TOP/tools/relay-ctl" -s "$T/relay1/run/relay.sock" sessions | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["duration"])'
}

t_record() {
	hosts 1
	start_radius
	start_radius_dispatcher
	start_relay 1
	local to_callee to_caller json
	to_callee=$(offer r1 | proxy | cut -d' ' -f2 | tr -d '\r\n')
	to_caller=$(answer r1 | proxy | cut -d' ' -f2 | tr -d '\r\n')
	media "$to_callee" "$to_caller"
	# a call that lasted: Sip-Applications lists the streams that lasted a whole second
	wait_until 20 '[ "$(call_duration)" -ge 1 ]' || fail "the call never lasted a second: $(call_duration)"
	expect_eq "$(remove r1 | proxy | tr -d '\r\n')" removed "the remove's answer"
	wait_for 20 has_records 1 || fail "no record at FreeRADIUS: $(cat "$T/disp.log")"
	json=$(session_json r1)
	[ -n "$json" ] || fail "no statistics logged: $(cat "$T/disp.log")"
	local -a from_json
	mapfile -t from_json < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print(sum(x["caller_bytes"] for x in s["streams"]))
print(sum(x["callee_bytes"] for x in s["streams"]))
print(s["duration"])
print(int(s["streams"][0]["post_dial_delay"]))' "$json")
	[ "${from_json[0]}" -gt 0 ] && [ "${from_json[1]}" -gt 0 ] || fail "no media went through: $json"
	check_record r1 Acct-Status-Type=Update User-Name=mediaproxy@default Acct-Session-Time="${from_json[2]}" \
		Acct-Input-Octets="${from_json[0]}" Acct-Output-Octets="${from_json[1]}" Sip-From-Tag=ft Sip-To-Tag=tt \
		NAS-IP-Address=$RELAY1 Sip-User-Agents=test+t Sip-Applications=audio Media-Codecs=G711u \
		Acct-Delay-Time="${from_json[3]}" Acct-Input-Gigawords=- NAS-Port=-
	# an empty Media-Info goes as a zero-length attribute (doc/accounting.md's empty
	# string), which FreeRADIUS reads as absent
	check_record r1 Media-Info=-
	expect_eq "$(count_records)" 1 "records at FreeRADIUS"
	grep -q "Received Accounting-Request .* from 127.0.0.1:.* to 127.0.0.1:1813" "$T/radius.out" ||
		fail "not on the default port: $(cat "$T/radius.out")"
	grep -q "accounting: sessions go to RADIUS server 127.0.0.1:1813 " "$T/disp.log" || fail "$(cat "$T/disp.log")"
	! grep -E "WARNING|ERROR" "$T/disp.log" | grep -v "dialog" || fail "complaints in the log: $(cat "$T/disp.log")"
}
run_test "one call: one Accounting-Request with the attributes of doc/accounting.md §4.2, octets as the relay counted" \
	t_record

t_server_down() {
	hosts 1
	start_radius_dispatcher
	start_relay 1
	for call in d1 d2 d3; do { offer $call; answer $call; remove $call; } | proxy >/dev/null; done
	wait_for 20 spooled 3 ||
		fail "spooled records: $(cat "$T/disp/run/accounting-radius.spool" "$T/disp.log")"
	# what is tested: in 6 s, more than the 5 s between replays, the replay
	# that times out as well is not logged again
	sleep 6
	expect_eq "$(grep -c "spooling them to" "$T/disp.log")" 1 "outage warnings"
	expect_eq "$(grep -c "no RADIUS server of .* answered" "$T/disp.log")" 1 "no-answer errors"
	start_radius
	wait_for 20 grep -q "3 spooled records written to the radius" "$T/disp.log" || fail "no replay: $(cat "$T/disp.log")"
	grep -q "the radius takes records again" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	expect_eq "$(records | python3 -c 'import json, sys; print(*(json.loads(l)["Acct-Session-Id"] for l in sys.stdin))')" \
		"d1 d2 d3" "records at FreeRADIUS, in order, once each"
	[ ! -e "$T/disp/run/accounting-radius.spool" ] || fail "the spool is left"
	{ offer d4; answer d4; remove d4; } | proxy >/dev/null
	wait_for 20 has_records 4 || fail "a new record after the outage: $(records)"
}
run_test "FreeRADIUS down: records spooled, logged once; FreeRADIUS up: they arrive in order, once each" t_server_down

t_configuration() {
	hosts 1
	start_radius
	radius_client
	mkdir -p "$T/disp"
	printf '[Dispatcher]\naccounting = radius\n[Radius]\nconfig_file = radius/none.conf\n' >"$T/disp/config.ini"
	cp -r "$T/tls" "$T/disp/tls"
	if timeout 10 ip netns exec "$DISP_NS" "$BUILD/media-dispatcher" --no-fork --config-dir "$T/disp" \
		--runtime-dir "$T/disp/run" 2>"$T/refused.log"; then
		fail "the dispatcher started without its RADIUS configuration"
	fi
	grep -q "config_file radius/none.conf does not exist (looked for $T/disp/radius/none.conf and /etc/mediaproxy/radius/none.conf)" \
		"$T/refused.log" || fail "the missing file is not named: $(cat "$T/refused.log")"
	# no additional dictionary: logged, and the records go with what radcli's
	# dictionary defines
	NO_DICTIONARY=1 start_radius_dispatcher "additional_dictionary = radius/none"
	start_relay 1
	grep -q "additional_dictionary radius/none does not exist (looked for $T/disp/radius/none and /etc/mediaproxy/radius/none); going on without it" \
		"$T/disp.log" || fail "$(cat "$T/disp.log")"
	grep -q "no RADIUS dictionary defines Sip-From-Tag (105), Sip-To-Tag (104), Sip-User-Agents (235), Sip-Applications (236), Media-Codecs (233), Media-Info (234)" \
		"$T/disp.log" || fail "$(cat "$T/disp.log")"
	{ offer n1; answer n1; remove n1; } | proxy >/dev/null
	wait_for 20 has_records 1 || fail "no record: $(cat "$T/disp.log")"
	check_record n1 Acct-Status-Type=Update User-Name=mediaproxy@default NAS-IP-Address=$RELAY1 \
		Sip-From-Tag=- Media-Codecs=-
}
run_test "a missing config_file stops the start naming it; a missing additional_dictionary is logged and records still go" \
	t_configuration

t_expired() {
	hosts 1
	start_radius
	start_radius_dispatcher
	RELAY_EXTRA="stream_timeout = 2" start_relay 1
	{ offer x1; answer x1; } | proxy >/dev/null
	wait_for 20 has_records 1 || fail "no record of the expired call: $(cat "$T/disp.log")"
	[[ $(session_json x1) == *'"timed_out": true, '* ]] || fail "not an expiry: $(cat "$T/disp.log")"
	check_record x1 Media-Info=timeout Media-Codecs=Unknown Acct-Input-Octets=0 Sip-To-Tag=tt Sip-Applications=audio
}
run_test "a session the relay ended for lack of media: Media-Info timeout" t_expired
