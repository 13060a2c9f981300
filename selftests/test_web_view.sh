#!/bin/bash
# The dispatcher's session view and both daemons' /metrics during a real
# call through Kamailio (the e2e topology of e2e_lib.sh, XDP relay): a
# headless Chromium (Debian's) shows the page; the test reads its DOM over
# the DevTools protocol and checks what it shows against the management
# interface, sees the counters rise, and keeps screenshots (desktop and
# phone) and the two scrapes in the test logs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e_lib.sh"

HELPERS=$(dirname "$(realpath "$0")")/helpers
LOGS=$BUILD/test-logs
COUNT=1000 INTERVAL_MS=10 # 10 s of media each way

# browser_start URL: Chromium on the proxy's host showing URL, driven
# through helpers/cdp_page.py
browser_start() {
	command -v chromium >/dev/null || skip "needs chromium"
	coproc BROWSER { ip netns exec "$PROXY_NS" python3 "$HELPERS/cdp_page.py" "$1" "$T/chromium" 2>"$T/browser.log"; }
	echo "$BROWSER_PID" >>"$T/.pids"
}

# browser COMMAND...: one command of cdp_page.py; its answer in $ANSWER
browser() {
	echo "$*" >&"${BROWSER[1]}"
	read -r -t 30 ANSWER <&"${BROWSER[0]}" || fail "the browser did not answer '$*': $(tail "$T/browser.log")"
}

# page_stream FILE EXPRESSION: EXPRESSION of the page's first session's first stream (s), as read into FILE
page_stream() { python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['sessions'][0]['streams'][0]; print(eval(sys.argv[2]))" "$@"; }

# scrape_both: both daemons' /metrics now, checked by promtool
scrape_both() {
	in_relay curl -sf http://127.0.0.1:25081/metrics >"$T/relay.prom" || fail "relay /metrics: $(tail "$T/relay.log")"
	ip netns exec "$PROXY_NS" curl -sf http://127.0.0.1:25080/metrics >"$T/dispatcher.prom" ||
		fail "dispatcher /metrics: $(tail "$T/dispatcher.log")"
	for f in relay dispatcher; do
		promtool check metrics <"$T/$f.prom" >"$T/promtool" 2>&1 || fail "promtool, $f: $(cat "$T/promtool")"
	done
}

# the page's stream shows what the management interface says: status,
# packets, path, and each side's quality figures as the page formats them
# (1 decimal for percentages and milliseconds, 2 for MOS, "—" when unmeasured)
page_matches_management() {
	browser read
	echo "$ANSWER" >"$T/page.json"
	management sessions >"$T/sessions.json"
	python3 - "$T/page.json" "$T/sessions.json" <<-'PY'
		import json, sys
		from decimal import Decimal, ROUND_HALF_UP
		page = json.load(open(sys.argv[1]))["sessions"]
		management = json.load(open(sys.argv[2]))
		def fixed(v, digits, unit=""):  # as JavaScript's toFixed: the exact binary value, halves up
		    return "—" if v is None else str(Decimal(v).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)) + unit
		def lost(n, packets):
		    return "—" if n is None else f"{n} ({fixed(100 * n / (packets + n), 1)}%)" if packets + n > 0 else str(n)
		def quality(t, side):
		    q = lambda k: t.get(f"{side}_{k}")
		    count = lambda k: "—" if q(k) is None else q(k)
		    return (lost(q("lost"), t[f"{side}_packets"]), fixed(q("jitter_ms"), 1, " ms"), fixed(q("rtt_ms"), 1, " ms"),
		            fixed(q("mos"), 2), f"out of order {count('out_of_order')}; duplicates {count('duplicates')}")
		def shown_quality(t, side):
		    return (*(t[f"{side}_{k}"] for k in ("lost", "jitter", "rtt", "mos")),
		            "; ".join(t[f"{side}_quality_title"].split("; ")[:2]))
		shown = [(s["call_id"], t["status"], int(t["caller_packets"]), int(t["callee_packets"]), t["path"],
		          shown_quality(t, "caller"), shown_quality(t, "callee")) for s in page for t in s["streams"]]
		real = [(s["call_id"], t["status"], t["caller_packets"], t["callee_packets"],
		         "kernel" if t["in_kernel"] else "agent", quality(t, "caller"), quality(t, "callee"))
		        for s in management for t in s["streams"]]
		sys.exit(shown != real)
	PY
}

# call_on_page [RELAY CONFIG LINES...]: a call through Kamailio and a relay
# with those lines, shown on the session view in Chromium; its Call-ID in
# the caller's $c
call_on_page() {
	e2e_hosts
	start_proxy
	start_relay "$@"
	call call 1 25000
	sdp 1
	c=$(py "list(sdp)[0]")
	browser_start http://127.0.0.1:25080/
	browser wait "$c"
	expect_eq "$ANSWER" ok "the session on the page"
}

t_web_view() {
	local c first
	call_on_page
	call_media $COUNT $INTERVAL_MS &
	local media=$!
	# while the media flows, the page's counters rise from one refresh to the next
	wait_until 10 'browser read; echo "$ANSWER" >"$T/first.json"; [ "$(page_stream "$T/first.json" "int(s[\"caller_packets\"])")" -gt 0 ]' ||
		fail "no packets on the page: $(cat "$T/first.json")"
	first=$(page_stream "$T/first.json" "int(s['caller_packets'])")
	wait_until 10 'browser read; echo "$ANSWER" >"$T/second.json"; [ "$(page_stream "$T/second.json" "int(s[\"caller_packets\"])")" -gt "$first" ]' ||
		fail "the page's counters did not rise from $first: $(cat "$T/second.json")"
	expect_eq "$(page_stream "$T/second.json" "s['status'], s['path'], s['media'], s['codec']")" \
		"('active', 'kernel', 'audio', 'G711u')" "the stream on the page"
	mkdir -p "$LOGS"
	browser shot "$LOGS/web-view.png"
	# a phone's screen: nothing wider than it
	browser width 390 844
	[ "$ANSWER" -le 390 ] || fail "the page is $ANSWER px wide on a 390 px screen"
	browser shot "$LOGS/web-view-phone.png"
	browser width 0 0
	wait "$media" || fail "the media failed"
	media_checks
	# the call is still up: the page, once refreshed, shows what the management interface says
	wait_until 10 page_matches_management || fail "page and management differ: $(cat "$T/page.json" "$T/sessions.json")"
	expect_eq "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['sessions'][0]['call_id'])" "$T/page.json")" \
		"$c" "the Call-ID on the page"
	# every packet arrived (media_checks): nothing lost, on the relay's count and on the page
	expect_eq "$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[0]['streams'][0]; print(t['caller_lost'], t['callee_lost'])" "$T/sessions.json")" \
		"0 0" "packets lost, as the management interface says"
	expect_eq "$(page_stream "$T/page.json" "s['caller_lost'], s['callee_lost']")" "('0 (0.0%)', '0 (0.0%)')" "packets lost on the page"
	relay_counters
	browser quit
	call_done
}

# media_checks [COUNT]: both ends got every packet of the other
media_checks() {
	local count=${1:-$COUNT}
	expect_eq "$(py "caller['$c']['received'] >= $count, callee['$c']['received'] >= $count, caller['$c']['corrupt'] + callee['$c']['corrupt']")" \
		"(True, True, 0)" "packets received intact at both ends"
}

# relay_counters: the relay's /metrics and the dispatcher's (from the
# relay's summary) say the same: the XDP programs forwarded every packet
# sent after the priming ones, per interface; the agent relayed the
# callee's priming packet
relay_counters() {
	local F=mediaproxy_relay_forwarded_packets_total rc re user
	scrape_both
	cp "$T/relay.prom" "$LOGS/metrics-relay-during-call.prom"
	cp "$T/dispatcher.prom" "$LOGS/metrics-dispatcher-during-call.prom"
	rc="$F{interface=\"rc\"}" re="$F{interface=\"re\"}" user="$F{tier=\"userspace\"}"
	expect_eq "$(python3 "$HELPERS/prom_query.py" "$T/relay.prom" "$rc" "$re" "$user" | tr '\n' ' ')" \
		"$COUNT $COUNT 1 " "forwarded per interface and by the agent, on the relay's /metrics"
	expect_eq "$(python3 "$HELPERS/prom_query.py" "$T/dispatcher.prom" "$F{relay=\"$RELAY_IP\",interface=\"rc\"}" \
		"$F{relay=\"$RELAY_IP\",interface=\"re\"}" "$F{relay=\"$RELAY_IP\",tier=\"userspace\"}" | tr '\n' ' ')" \
		"$COUNT $COUNT 1 " "the same on the dispatcher's /metrics"
	expect_eq "$(python3 "$HELPERS/prom_query.py" "$T/dispatcher.prom" 'mediaproxy_dispatcher_sessions{state="live"}' \
		"mediaproxy_relay_streams{relay=\"$RELAY_IP\",status=\"active\"}" \
		'mediaproxy_dispatcher_requests_total{command="update",result="ok"}' | tr '\n' ' ')" "1 1 2 " \
		"a live session, its active stream, the INVITE's and the 200's updates"
}
run_test "the session view in Chromium during a call through Kamailio: the session, its stream, rising counters, its quality figures, as the management interface says; both /metrics" \
	t_web_view

# With [Relay] rtp_stats = no the relay keeps no quality figures: the
# management interface has none, and the page shows "—" for each, never 0
t_web_view_unmeasured() {
	local c
	call_on_page "rtp_stats = no"
	call_media 200 $INTERVAL_MS
	media_checks 200
	management sessions >"$T/sessions.json"
	expect_eq "$(python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[0]['streams'][0]; print([t.get(s + k) for s in ('caller_', 'callee_') for k in ('lost', 'jitter_ms', 'rtt_ms', 'mos')])" "$T/sessions.json")" \
		"[None, None, None, None, None, None, None, None]" "no quality figures from the management interface"
	wait_until 10 page_matches_management || fail "page and management differ: $(cat "$T/page.json" "$T/sessions.json")"
	expect_eq "$(page_stream "$T/page.json" "[s[side + k] for side in ('caller_', 'callee_') for k in ('lost', 'jitter', 'rtt', 'mos')]")" \
		"['—', '—', '—', '—', '—', '—', '—', '—']" "the page's quality figures"
	expect_eq "$(page_stream "$T/page.json" "s['caller_packets'] != '0', s['path']")" "(True, 'kernel')" \
		"the stream's packets, in the kernel"
	browser quit
	call_done
}
run_test "the session view with rtp_stats = no: every quality figure is shown as unmeasured (—), as the management interface has none" \
	t_web_view_unmeasured

