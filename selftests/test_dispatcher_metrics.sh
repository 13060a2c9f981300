#!/bin/bash
# The dispatcher's /metrics (doc/management.md §9.1): each counter moves by
# exactly what the test did, promtool accepts the page, and the relays'
# own figures come through their summaries.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dispatcher_lib.sh"

D=mediaproxy_dispatcher

# scrape: the dispatcher's /metrics in $T/metrics, which promtool accepts
scrape() {
	ip netns exec "$DISP_NS" curl -sf http://127.0.0.1:25080/metrics >"$T/metrics" || fail "no /metrics: $(tail "$T/disp.log")"
	promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1 || fail "promtool: $(cat "$T/promtool")"
}

# metrics SELECTOR...: their values in $T/metrics, space separated
metrics() { python3 "$HERE/helpers/prom_query.py" "$T/metrics" "$@" | tr '\n' ' ' | sed 's/ $//'; }

# scraped SELECTOR... = VALUES: scrapes until the values are these (5 s)
scraped() {
	local want=${*: -1} selectors=("${@:1:$(($# - 2))}")
	wait_until 5 'scrape && [ "$(metrics "${selectors[@]}")" = "$want" ]' ||
		fail "${selectors[*]}: $(metrics "${selectors[@]}"), expected $want"
}

t_requests() {
	hosts 1
	start_dispatcher
	start_relay 1
	scrape
	expect_eq "$(metrics "${D}_requests_total" "${D}_update_duration_seconds_count")" "0 0" "requests before any"
	{ offer c1; answer c1; } | proxy >/dev/null
	scraped "${D}_sessions{state=\"live\"}" "mediaproxy_relay_sessions{relay=\"$RELAY1\"}" = "1 1"
	remove c1 | proxy >/dev/null
	remove c1 | proxy >/dev/null # no such session any more
	printf 'update\r\ncall_id: m\r\na line without a colon\r\n\r\n' | proxy >/dev/null
	printf 'frobnicate\r\ncall_id: m\r\n\r\n' | proxy >/dev/null
	scrape
	expect_eq "$(metrics "${D}_requests_total{command=\"update\",result=\"ok\"}" \
		"${D}_requests_total{command=\"remove\",result=\"ok\"}" "${D}_requests_total{command=\"remove\",result=\"error\"}" \
		"${D}_requests_total{command=\"update\",result=\"refused\"}" "${D}_requests_total{command=\"other\",result=\"refused\"}" \
		"${D}_requests_total")" "2 1 1 1 1 6" "requests by command and result"
	expect_eq "$(metrics "${D}_update_duration_seconds_count" "${D}_update_duration_seconds_bucket{le=\"0.45\"}" \
		"${D}_sessions{state=\"live\"}" "${D}_relays{state=\"active\"}" "${D}_relay_connected{relay=\"$RELAY1\",state=\"active\"}")" \
		"3 3 0 1 1" "updates timed, none above 450 ms; live sessions; the relay"
	expect_eq "$(metrics "mediaproxy_relay_up{relay=\"$RELAY1\"}" "mediaproxy_relay_info{relay=\"$RELAY1\",status=\"active\"}" \
		"mediaproxy_relay_forwarded_packets_total{relay=\"$RELAY1\",tier=\"userspace\"}" \
		"mediaproxy_relay_streams{relay=\"$RELAY1\",status=\"closed\"}")" "1 1 0 0" "the relay's own figures"
}
run_test "M1: requests by command and result, the update histogram, sessions and the relay's figures" t_requests

t_failover() {
	hosts 2
	start_dispatcher "relay_timeout = 1"
	start_relay 1
	start_relay 2
	kill -STOP "$RELAY_PID1"
	expect_eq "$(offer f1 "$RELAY1" | proxy)" "$RELAY2 40002"$'\r' "the update, once relay 1 did not answer"
	scrape
	kill -CONT "$RELAY_PID1"
	expect_eq "$(metrics "${D}_failovers_total" "${D}_relays_unresponsive_total" "${D}_relays{state=\"unresponsive\"}" \
		"${D}_relay_connected{relay=\"$RELAY1\",state=\"unresponsive\"}" "mediaproxy_relay_up{relay=\"$RELAY1\"}" \
		"mediaproxy_relay_up{relay=\"$RELAY2\"}")" "1 1 1 1 0 1" \
		"failovers, relays marked unresponsive, its state, and its missing summary"
}
run_test "M2: a relay that does not answer: the failover and the relay marked unresponsive are counted" t_failover

# a call's three requests: offer, answer, remove
call() { { offer "$1"; answer "$1"; remove "$1"; } | proxy >/dev/null; }

t_accounting() {
	local R='mediaproxy_dispatcher_accounting_records_total{backend="database",result='
	hosts 1
	start_dispatcher "accounting = database" "[Database]" "dburi = sqlite://$T/acct.db"
	start_relay 1
	call a1
	scraped "$R\"written\"}" "$R\"spooled\"}" "$R\"failed\"}" "${D}_accounting_spool_records" = "1 0 0 0"
	# another writer holds the database: the next record waits in the spool
	spawn python3 -c "
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(600)" "$T/acct.db" >"$T/lock"
	local lock=$SPAWNED
	wait_for 5 grep -q locked "$T/lock" || fail "the database was not locked"
	call b1
	wait_until 10 'scrape && [ "$(metrics "$R\"spooled\"}" "${D}_accounting_spool_records")" = "1 1" ]' ||
		fail "spooled, spool: $(metrics "$R\"spooled\"}" "${D}_accounting_spool_records") $(tail -3 "$T/disp.log")"
	kill "$lock"
	wait_until 15 'scrape && [ "$(metrics "$R\"written\"}" "${D}_accounting_spool_records")" = "2 0" ]' ||
		fail "written, spool: $(metrics "$R\"written\"}" "${D}_accounting_spool_records") $(tail -3 "$T/disp.log")"
	expect_eq "$(metrics "$R\"failed\"}")" 0 "records lost"
}
run_test "M3: accounting records written, spooled while the database is locked, written from the spool" t_accounting

# expire CALL_ID: a call whose media never comes: the relay ends it after
# stream_timeout and the dispatcher asks the proxy to end its dialog
expire() {
	{ offer "$1"; answer "$1"; } | proxy >/dev/null
	wait_for 20 grep -q "asked .* to end the dialog of $1 by its h_entry:h_id\|cannot reach .* to end the dialog of $1" "$T/disp.log" ||
		fail "no dialog end for $1: $(tail "$T/disp.log")"
}

# answering MODE: the stand-in for Kamailio's JSON-RPC socket answers as
# MODE (helpers/fake_proxy_rpc.py), in place of the previous one
answering() {
	[ -z "${RPC:-}" ] || kill "$RPC"
	rm -f "$T/kamailio.sock"
	spawn python3 "$HERE/helpers/fake_proxy_rpc.py" "$T/kamailio.sock" "$1" >"$T/rpc"
	RPC=$SPAWNED
	wait_for 5 test -S "$T/kamailio.sock" || fail "the stand-in did not start"
}

t_dialog_ends() {
	local E="${D}_dialog_end"
	hosts 1
	start_dispatcher "[Kamailio]" "socket_path = $T/kamailio.sock"
	RELAY_EXTRA="stream_timeout = 1" start_relay 1
	answering ok
	expire e1
	scraped "${E}_requests_total" "${E}_answered_total" "${E}_failed_total" = "1 1 0"
	answering notfound
	expire e2
	scraped "${E}_requests_total" "${E}_answered_total" "${E}_failed_total{reason=\"refused\"}" = "2 1 1"
	answering silent
	expire e3
	wait_until 10 'scrape && [ "$(metrics "${E}_failed_total{reason=\"no_answer\"}")" = 1 ]' ||
		fail "no answer: $(metrics "${E}_failed_total{reason=\"no_answer\"}")"
	kill "$RPC"
	rm -f "$T/kamailio.sock"
	expire e4
	scraped "${E}_requests_total" "${E}_failed_total{reason=\"unsent\"}" = "3 1"
}
run_test "M4: dialog-end requests sent, answered, refused, unanswered and unsent" t_dialog_ends

# tls_try PORT CERT: one TLS connection to PORT of the dispatcher showing
# CERT (none: no certificate), until the dispatcher closes it
tls_try() {
	ip netns exec "$DISP_NS" python3 - "$T/tls" "$@" <<-'PY'
		import socket, ssl, sys
		certs, port, cert = sys.argv[1:]
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		ctx.check_hostname = False
		ctx.load_verify_locations(f"{certs}/ca.pem")
		if cert != "none":
		    ctx.load_cert_chain(f"{certs}/{cert}.crt", f"{certs}/{cert}.key")
		try:
		    s = ctx.wrap_socket(socket.create_connection(("198.18.10.1", int(port)), timeout=5))
		    s.sendall(b"summary\r\n")
		    while s.recv(4096):
		        pass
		except OSError:
		    pass
	PY
}

t_tls_refusals() {
	local R="${D}_tls_refused_total"
	hosts 1
	start_dispatcher "passport = CN:relay" "management_passport = CN:management"
	tls_try 25060 revoked
	tls_try 25060 expired
	tls_try 25060 stranger
	tls_try 25060 management
	tls_try 25061 none
	tls_try 25061 relay
	scraped "$R{port=\"relay\",reason=\"revoked\"}" "$R{port=\"relay\",reason=\"expired\"}" \
		"$R{port=\"relay\",reason=\"untrusted\"}" "$R{port=\"relay\",reason=\"passport\"}" \
		"$R{port=\"management\",reason=\"no_certificate\"}" "$R{port=\"management\",reason=\"passport\"}" "$R" \
		= "1 1 1 1 1 1 6"
}
run_test "M5: TLS clients refused on the relay and management ports, by reason" t_tls_refusals
