#!/bin/bash
# The dispatcher's HTTP interface as a client meets it (doc/management.md §8):
# each path's answer, the same JSON as the management port, HTTPS with
# client certificates and their refusals, and clients that misbehave (idle
# connections, a huge header, a flood) while the proxy socket goes on
# answering in time.  Run under SANITIZE=1, a use after free here is a
# sanitizer report and fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

HTTP=http://127.0.0.1:25080

# get [OPTIONS] URL [OUT]: helpers/http_get.py inside the dispatcher's host
get() { ip netns exec "$DISP_NS" python3 "$HERE/helpers/http_get.py" "$@"; }

plain_management() {
	ip netns exec "$DISP_NS" python3 "$HERE/helpers/management_client.py" 198.18.10.1 25061 - "$@"
}

# same_json A B IGNORED...: the two JSON files hold the same, but for the
# keys named (values that move between two reads: uptime, duration)
same_json() {
	python3 - "$@" <<-'PY'
		import json, sys
		a, b, ignored = sys.argv[1], sys.argv[2], set(sys.argv[3:])
		def clean(x):
		    if isinstance(x, dict):
		        return {k: clean(v) for k, v in x.items() if k not in ignored}
		    if isinstance(x, list):
		        return [clean(v) for v in x]
		    return x
		sys.exit(0 if clean(json.load(open(a))) == clean(json.load(open(b))) else 1)
	PY
}

# raw BYTES: sends BYTES to the HTTP port in one write; prints the status line
raw() { send_raw 127.0.0.1 25080 "$1" | head -1 | tr -d '\r'; }

t_paths() {
	hosts 1
	start_dispatcher "management_use_tls = no"
	start_relay 1
	{ offer c1; answer c1; offer 'c2/x@y'; } | proxy >/dev/null
	expect_eq "$(get $HTTP/ "$T/page")" "200 text/html; charset=utf-8" "/"
	grep -q "<title>MediaProxy sessions</title>" "$T/page" || fail "not the session view: $(head -c 300 "$T/page")"
	! grep -Eq "(src|href)=\"(https?:)?//" "$T/page" || fail "the page loads something from elsewhere"
	expect_eq "$(get $HTTP/metrics "$T/metrics")" "200 text/plain; version=0.0.4; charset=utf-8" "/metrics"
	promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 || fail "promtool: $(cat "$T/promtool")"
	# the management interface's JSON, as the management port answers it
	expect_eq "$(get $HTTP/api/summary "$T/http_summary")" "200 application/json" "/api/summary"
	plain_management summary >"$T/summary"
	same_json "$T/http_summary" "$T/summary" uptime || fail "summary: $(cat "$T/http_summary" "$T/summary")"
	expect_eq "$(get $HTTP/api/sessions "$T/http_sessions")" "200 application/json" "/api/sessions"
	plain_management sessions >"$T/sessions"
	same_json "$T/http_sessions" "$T/sessions" duration end_time || fail "sessions: $(cat "$T/http_sessions" "$T/sessions")"
	expect_eq "$(get $HTTP/api/sessions/c1 "$T/c1")" "200 application/json" "/api/sessions/c1"
	python3 -c "import json,sys; print(json.dumps([s for s in json.load(open(sys.argv[1])) if s['call_id'] == 'c1']))" \
		"$T/sessions" >"$T/sessions_c1"
	python3 -c "import json,sys; print(json.dumps([json.load(open(sys.argv[1]))]))" "$T/c1" >"$T/http_c1"
	same_json "$T/http_c1" "$T/sessions_c1" duration end_time || fail "the session of c1: $(cat "$T/c1")"
	expect_eq "$(get "$HTTP/api/sessions/c2%2Fx%40y" "$T/c2")" "200 application/json" "a percent-encoded Call-ID"
	expect_eq "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['call_id'])" "$T/c2")" "c2/x@y" "its Call-ID"
	# what is not there, and what is malformed
	expect_eq "$(get $HTTP/api/sessions/none)" "404 text/plain; charset=utf-8" "an unknown Call-ID"
	expect_eq "$(get $HTTP/nope)" "404 text/plain; charset=utf-8" "an unknown path"
	expect_eq "$(get $HTTP/metrics/)" "404 text/plain; charset=utf-8" "a path under /metrics"
	expect_eq "$(get "$HTTP/api/sessions/a%00b")" "400 text/plain; charset=utf-8" "a Call-ID with a NUL"
	expect_eq "$(get "$HTTP/api/sessions/a%zz")" "400 text/plain; charset=utf-8" "a broken escape"
	expect_eq "$(get "$HTTP/api/summary?x=1" "$T/q")" "200 application/json" "a query string is ignored"
	expect_eq "$(get --method POST $HTTP/api/sessions | cut -d' ' -f1)" 501 "POST"
	send_raw 127.0.0.1 25080 $'HEAD / HTTP/1.1\r\n\r\n' >"$T/head"
	expect_eq "$(head -1 "$T/head" | tr -d '\r')" "HTTP/1.1 200 OK" "HEAD"
	grep -q "^Content-Length: $(wc -c <"$T/page")"$'\r'"$" "$T/head" || fail "HEAD: $(cat "$T/head")"
	[ "$(tail -c 4 "$T/head" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] || fail "HEAD got a body: $(cat "$T/head")"
	expect_eq "$(raw $'GARBAGE\r\n\r\n')" "HTTP/1.1 400 Bad Request" "a malformed request line"
	expect_eq "$(raw $'GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello')" "HTTP/1.1 413 Request Entity Too Large" \
		"a request with a body"
	# nothing here changed the sessions
	plain_management sessions >"$T/after"
	same_json "$T/after" "$T/sessions" duration end_time || fail "sessions changed: $(cat "$T/after")"
	kill -0 "$DISPATCHER" || fail "the dispatcher died: $(cat "$T/disp.log")"
}
run_test "H1: every path answers as documented: the page, /metrics, the management JSON; 404, 400, 413, 501" t_paths

# tls_get CERT PATH: an HTTPS request showing CERT (none: no certificate)
tls_get() { get --certs "$T/tls" --cert "$1" "https://198.18.10.1:25080$2" "${3:-/dev/null}"; }

t_https() {
	hosts 1
	start_dispatcher "listen_http = 198.18.10.1:25080" "http_passport = CN:management*"
	grep -q "the HTTP port on 198.18.10.1:25080 (HTTPS" "$T/disp.log" || fail "not HTTPS: $(cat "$T/disp.log")"
	expect_eq "$(tls_get management /api/summary)" "200 application/json" "our CA's management certificate"
	[[ $(tls_get none /api/summary) == refused:* ]] || fail "served without a certificate"
	[[ $(tls_get revoked /api/summary) == refused:* ]] || fail "served a revoked certificate"
	[[ $(tls_get expired /api/summary) == refused:* ]] || fail "served an expired certificate"
	[[ $(tls_get stranger /api/summary) == refused:* ]] || fail "served another CA's certificate"
	expect_eq "$(tls_get relay /api/summary)" "403 text/plain; charset=utf-8" "a certificate that does not match http_passport"
	[[ $(get http://198.18.10.1:25080/api/summary) == refused:* ]] || fail "served plain HTTP on the HTTPS port"
	tls_get management /metrics "$T/metrics" >/dev/null
	promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 || fail "promtool: $(cat "$T/promtool")"
	expect_eq "$(python3 "$HERE/helpers/prom_query.py" "$T/metrics" \
		'mediaproxy_dispatcher_tls_refused_total{port="http",reason="no_certificate"}' \
		'mediaproxy_dispatcher_tls_refused_total{port="http",reason="revoked"}' \
		'mediaproxy_dispatcher_tls_refused_total{port="http",reason="expired"}' \
		'mediaproxy_dispatcher_tls_refused_total{port="http",reason="untrusted"}' \
		'mediaproxy_dispatcher_tls_refused_total{port="http",reason="passport"}' \
		'mediaproxy_dispatcher_tls_refused_total{port="http",reason="protocol"}' | tr '\n' ' ')" "1 1 1 1 1 1 " \
		"refusals: no certificate, revoked, expired, untrusted, passport, protocol"
}
run_test "H2: HTTPS off loopback: our CA's client certificate is served; none, revoked, expired, foreign, a wrong passport are refused and counted" \
	t_https

# probe SECONDS: an update every 100 ms on the proxy socket for SECONDS,
# in the background; each answer's milliseconds in $T/probe.ms
probe() {
	offer probe | python3 "$HERE/helpers/proxy_client.py" "$T/disp/run/dispatcher.sock" "$1" 100 >/dev/null \
		2>"$T/probe.ms" &
	PROBE=$!
}

# probe_done: the probe answered every update within the module's 500 ms
probe_done() {
	wait "$PROBE" || fail "an update answered late: $(sort -n "$T/probe.ms" | tail -3 | tr '\n' ' ')"
	local n max
	n=$(wc -l <"$T/probe.ms")
	max=$(sort -n "$T/probe.ms" | tail -1)
	[ "$n" -ge 50 ] || fail "only $n updates probed"
	python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 500)" "$max" || fail "slowest update $max ms"
	echo "$n updates during the abuse, the slowest answered in $max ms" >>"$MEASURED"
}

# what the abuse measured, kept with the test logs
MEASURED=$BUILD/test-logs/http-abuse.txt
mkdir -p "$BUILD/test-logs"

http_connections() { ip netns exec "$DISP_NS" ss -Htn state established '( sport = :25080 )' | wc -l; }

t_abuse() {
	local out
	hosts 1
	DISPATCHER_WRAPPER="prlimit --nofile=1024:1024" start_dispatcher
	start_relay 1
	offer probe | proxy >/dev/null
	probe 17
	# 200 connections that never send a request: at most 32 stay open
	spawn ip netns exec "$DISP_NS" python3 "$HERE/helpers/http_abuse.py" idle 127.0.0.1 25080 200 >"$T/idle"
	wait_for 10 grep -qx ready "$T/idle" || fail "the idle connections did not start"
	wait_until 5 '[ "$(http_connections)" -le 32 ]' || fail "$(http_connections) connections open"
	expect_eq "$(get $HTTP/api/summary | cut -d' ' -f1)" 200 "a request while 200 idle connections wait"
	# a header line of 1 MiB
	out=$(ip netns exec "$DISP_NS" python3 "$HERE/helpers/http_abuse.py" big-header 127.0.0.1 25080 1)
	[[ $out =~ ^(HTTP/1.1\ (400|413)|closed) ]] || fail "a 1 MiB header line: $out"
	# a request every millisecond for 10 s
	out=$(ip netns exec "$DISP_NS" python3 "$HERE/helpers/http_abuse.py" flood 127.0.0.1 25080 /metrics 10 1)
	echo "flood of /metrics: $out" >"$MEASURED"
	[[ $out =~ ^sent\ ([0-9]+)\ answered\ ([0-9]+) ]] || fail "flood: $out"
	[ "${BASH_REMATCH[1]}" -ge 5000 ] && [ "${BASH_REMATCH[2]}" -ge 1000 ] || fail "flood: $out"
	probe_done
	expect_eq "$(get $HTTP/metrics "$T/metrics" | cut -d' ' -f1)" 200 "/metrics after the abuse"
	promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 || fail "promtool: $(cat "$T/promtool")"
	[ "$(wc -l <"$T/disp.log")" -lt 60 ] || fail "$(wc -l <"$T/disp.log") log lines: $(sort "$T/disp.log" | uniq -c | sort -rn | head)"
	kill -0 "$DISPATCHER" || fail "the dispatcher died: $(cat "$T/disp.log")"
}
run_test "H3: 200 idle connections, a 1 MiB header line, a request every millisecond for 10 s: every update answered within 500 ms throughout" \
	t_abuse

t_client_leaves() {
	hosts 1
	start_dispatcher "relay_timeout = 2"
	start_relay 1
	kill -STOP "$RELAY_PID1"
	# three clients that give up while the dispatcher waits for the relay
	for path in /api/sessions /api/sessions/x /metrics; do
		ip netns exec "$DISP_NS" curl -s --max-time 0.5 "$HTTP$path" >/dev/null && fail "$path answered at once"
	done
	# the relay's time is up: the answers go to nobody
	wait_for 5 grep -q "relay $RELAY1: no answer to command" "$T/disp.log" || fail "no timeout: $(cat "$T/disp.log")"
	kill -CONT "$RELAY_PID1"
	expect_eq "$(get $HTTP/api/summary | cut -d' ' -f1)" 200 "a request afterwards"
	kill -0 "$DISPATCHER" || fail "the dispatcher died: $(cat "$T/disp.log")"
}
run_test "H4: clients that leave before the relays answer: their answers go nowhere, the next client is served" t_client_leaves
