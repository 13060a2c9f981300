#!/bin/bash
# tools/mediaproxyctl against a running dispatcher (doc/management.md §10):
# every command in both formats, over TLS and plain TCP as config.ini says,
# and a client certificate the dispatcher refuses.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

# ctl ARGS...: mediaproxyctl on the dispatcher's host, reading its config.ini
ctl() { ip netns exec "$DISP_NS" python3 "$TOP/tools/mediaproxyctl" --config-dir "$T/disp" "$@"; }

# management COMMAND: the management port's own answer (TLS unless $PLAIN)
management() {
	ip netns exec "$DISP_NS" python3 "$HERE/helpers/management_client.py" 198.18.10.1 25061 \
		"$([ -n "${PLAIN:-}" ] && echo - || echo "$T/tls")" "$1"
}

# py FILE EXPRESSION: EXPRESSION of the JSON in FILE (d)
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# every_command: a call on relay 1, then each command as a table and as JSON
every_command() {
	start_relay 1
	{ offer c1; answer c1; offer c2; } | proxy >/dev/null
	ctl --json relays >"$T/relays.json" || fail "relays --json failed"
	management summary >"$T/summary.json"
	expect_eq "$(py "$T/relays.json" "[(r['ip'], r['session_count'], r['stream_count']) for r in d]")" \
		"$(py "$T/summary.json" "[(r['ip'], r['session_count'], r['stream_count']) for r in d]")" \
		"relays --json, as the management port has them"
	ctl relays >"$T/relays" || fail "relays failed"
	# c2 is offered, not answered: its stream is live, its session has none yet
	grep -Eq "^$RELAY1 +active +0\.1\.0 +0:00:[0-9]{2} +2 +audio 2 +0 bit/s +userspace$" "$T/relays" ||
		fail "relays: $(cat "$T/relays")"
	ctl summary --json >"$T/totals.json" || fail "summary --json failed"
	expect_eq "$(py "$T/totals.json" "d['relays'], d['active'], d['failed'], d['sessions'], d['streams']")" \
		"(1, 1, 0, 2, {'audio': 2})" "summary --json"
	ctl summary >"$T/summary" || fail "summary failed"
	grep -q "^sessions  2$" "$T/summary" && grep -q "^relays    1 (1 active, 0 not answering)$" "$T/summary" ||
		fail "summary: $(cat "$T/summary")"
	ctl sessions --json >"$T/sessions.json" || fail "sessions --json failed"
	expect_eq "$(py "$T/sessions.json" "sorted(s['call_id'] for s in d)")" "['c1', 'c2']" "sessions --json"
	ctl --json sessions --call-id c1 >"$T/c1.json" || fail "sessions --call-id c1 --json failed"
	expect_eq "$(py "$T/c1.json" "d['call_id'], d['streams'][0]['status'], d['streams'][0]['in_kernel']")" \
		"('c1', 'active', False)" "the session of c1"
	ctl sessions >"$T/sessions" || fail "sessions failed"
	grep -Eq "^c1 +alice@example.org +bob@example.net +0:00:[0-9]{2} +audio +active +Unknown +Unknown +0 +0 +agent$" \
		"$T/sessions" || fail "sessions: $(cat "$T/sessions")"
	ctl sessions --call-id c2 >"$T/c2" || fail "sessions --call-id c2 failed"
	expect_eq "$(tail -n +2 "$T/c2" | awk '{print $1, $2, $5}')" "c2 alice@example.org -" \
		"the session of c2 (not answered: no stream)"
	! ctl sessions --call-id nope 2>"$T/err" || fail "a Call-ID nobody has succeeded"
	grep -q "mediaproxyctl: no session with Call-ID nope" "$T/err" || fail "unclear: $(cat "$T/err")"
}

t_tls() {
	hosts 1
	start_dispatcher
	every_command
	grep -q "management interface on 0.0.0.0:25061 (TLS)" "$T/disp.log" || fail "not TLS: $(cat "$T/disp.log")"
}
run_test "every command, tables and JSON, over TLS with the client certificate in certs_path" t_tls

t_plain() {
	hosts 1
	start_dispatcher "management_use_tls = no"
	PLAIN=1 every_command
}
run_test "every command, tables and JSON, over plain TCP as management_use_tls = no says" t_plain

t_refused() {
	hosts 1
	start_dispatcher "management_passport = CN:management"
	! ctl --cert "$T/tls/revoked.crt" --key "$T/tls/revoked.key" summary 2>"$T/err" || fail "a revoked certificate got in"
	grep -q "^mediaproxyctl: TLS with 127.0.0.1:25061 failed" "$T/err" || fail "unclear: $(cat "$T/err")"
	! ctl --cert "$T/tls/relay.crt" --key "$T/tls/relay.key" relays 2>"$T/err" || fail "a wrong passport got in"
	grep -q "^mediaproxyctl: 127.0.0.1:25061 closed the connection without an answer" "$T/err" || fail "unclear: $(cat "$T/err")"
	wait_for 5 grep -q "management client refused due to wrong passport" "$T/disp.log" || fail "$(cat "$T/disp.log")"
	! ctl --plain summary 2>"$T/err" || fail "plain TCP on the TLS port got an answer"
	! ctl --port 25069 summary 2>"$T/err" || fail "a closed port answered"
	grep -q "^mediaproxyctl: cannot connect to 127.0.0.1:25069: Connection refused" "$T/err" || fail "unclear: $(cat "$T/err")"
	ctl summary >/dev/null || fail "the management certificate was refused"
}
run_test "certificates the dispatcher refuses, plain TCP to its TLS port, no dispatcher: exit 1 and why" t_refused
