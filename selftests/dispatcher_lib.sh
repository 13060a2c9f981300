# The dispatcher and its relays in network namespaces, and the mediaproxy
# module's requests: what the suites that drive media-dispatcher share.  The
# dispatcher's host (198.18.10.1, 198.18.11.1) has a veth to each relay host
# (relay1 198.18.10.2, relay2 198.18.11.2).  Sourced after lib.sh.

HERE=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
TOP=$HERE/..
RELAY1=198.18.10.2 RELAY2=198.18.11.2

# hosts N: the dispatcher's namespace and N relay namespaces; certificates in $T/tls.
hosts() {
	need_root
	"$TOP/tools/make-certs.sh" "$T/tls" --revoked revoked --expired expired --other-ca stranger >/dev/null 2>&1 ||
		fail "make-certs.sh failed"
	DISP_NS=$(make_netns disp)
	for i in $(seq "$1"); do
		local ns
		ns=$(make_netns relay$i)
		ip -n "$DISP_NS" link add d$i type veth peer name r0 netns "$ns"
		ip -n "$DISP_NS" addr add 198.18.1$((i - 1)).1/24 dev d$i
		ip -n "$ns" addr add 198.18.1$((i - 1)).2/24 dev r0
		ip -n "$DISP_NS" link set d$i up
		ip -n "$ns" link set r0 up
		eval "RELAY_NS$i=$ns"
	done
}

# start_dispatcher [CONFIG LINES...]: run through $DISPATCHER_WRAPPER when set
start_dispatcher() {
	mkdir -p "$T/disp"
	cp -r "$T/tls" "$T/disp/tls"
	printf '[Dispatcher]\nlisten = 0.0.0.0:25060\nlisten_management = 0.0.0.0:25061\n' >"$T/disp/config.ini"
	printf '%s\n' "$@" >>"$T/disp/config.ini"
	spawn ip netns exec "$DISP_NS" ${DISPATCHER_WRAPPER:-} "$BUILD/media-dispatcher" --no-fork --config-dir "$T/disp" \
		--runtime-dir "$T/disp/run" 2>>"$T/disp.log"
	DISPATCHER=$SPAWNED
	wait_for 20 test -S "$T/disp/run/dispatcher.sock" || fail "dispatcher did not start: $(cat "$T/disp.log")"
}

# start_relay I [CERT]: relay I with certificate CERT (default relay), its
# dispatchers $RELAY_DISPATCHERS, and the config lines $RELAY_EXTRA; waits until the dispatcher accepted it
# unless CERT is given.
start_relay() {
	local i=$1 dir=$T/relay$1 ns
	ns=$(eval echo "\$RELAY_NS$i")
	mkdir -p "$dir/tls"
	cp "$T/tls/ca.pem" "$T/tls/crl.pem" "$dir/tls/"
	cp "$T/tls/${2:-relay}.crt" "$dir/tls/relay.crt"
	cp "$T/tls/${2:-relay}.key" "$dir/tls/relay.key"
	printf '[Relay]\nrelay_ip = 198.18.1%d.2\ndispatchers = %s\nport_range = 40000:40100\nforwarding = userspace\nreconnect_delay = 1\n' \
		$((i - 1)) "${RELAY_DISPATCHERS:-198.18.1$((i - 1)).1}" >"$dir/config.ini"
	printf '%s\n' "${RELAY_EXTRA:-}" >>"$dir/config.ini"
	spawn ip netns exec "$ns" "$BUILD/media-relay" --no-fork --config-dir "$dir" --runtime-dir "$dir/run" \
		2>>"$T/relay$i.log"
	eval "RELAY_PID$i=$SPAWNED"
	[ -n "${2:-}" ] && return 0
	wait_for 20 grep -q "relay 198.18.1$((i - 1)).2 connected" "$T/disp.log" ||
		fail "relay $i not connected: $(cat "$T/disp.log" "$T/relay$i.log")"
}

proxy() { python3 "$HERE/helpers/proxy_client.py" "$T/disp/run/dispatcher.sock" 2>"$T/timing"; }

# send_raw HOST PORT BYTES: sends BYTES in one write to the dispatcher's
# HOST:PORT (on its host) and prints all it gets until the dispatcher closes
send_raw() {
	ip netns exec "$DISP_NS" python3 -c "
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].encode())
data = b''
while chunk := s.recv(65536):
    data += chunk
sys.stdout.write(data.decode())" "$@"
}

# offer CALL_ID [MEDIA_RELAY]: an INVITE's update as the module writes it
offer() {
	printf 'update\r\ntype: request\r\ndialog_id: 2580:3757\r\ncall_id: %s\r\ncseq: 1\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: ft\r\nto_tag: \r\nuser_agent: test\r\nsignaling_ip: 198.18.1.7\r\nmedia_relay: %s\r\nmedia: audio:198.18.1.7:49170:sendrecv:ice=no\r\n\r\n' \
		"$1" "${2:-}"
}

# answer CALL_ID: the 200 OK's update, callee tag tt
answer() {
	printf 'update\r\ntype: reply\r\ncall_id: %s\r\ncseq: 1\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: ft\r\nto_tag: tt\r\nuser_agent: t\r\nsignaling_ip: 198.18.2.9\r\nmedia: audio:198.18.2.9:30000:sendrecv:ice=no\r\n\r\n' "$1"
}

# remove CALL_ID: the BYE's remove
remove() { printf 'remove\r\ncall_id: %s\r\nfrom_tag: ft\r\nto_tag: tt\r\n\r\n' "$1"; }

# example_a, example_b, example_c: the INVITE, 200 OK and BYE of doc/proxy-protocol.md §11.1-§11.3
example_a() {
	printf 'update\r\ntype: request\r\ndialog_id: 3021:17\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\nto_tag: \r\nuser_agent: ExamplePhone/2.1\r\nsignaling_ip: 198.18.1.7\r\nmedia_relay: \r\nmedia: audio:10.0.0.23:49170:sendrecv:ice=no,video:10.0.0.23:51372:sendrecv:ice=no\r\n\r\n'
}
example_b() {
	printf 'update\r\ntype: reply\r\ndialog_id: 3021:17\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\ncseq: 101\r\nfrom_uri: alice@example.org\r\nto_uri: bob@example.net\r\nfrom_tag: a73kszlfl\r\nto_tag: 8321234356\r\nuser_agent: OtherPhone 5.0\r\nsignaling_ip: 198.18.2.9\r\nmedia_relay: \r\nmedia: audio:192.168.5.9:30000:sendrecv:ice=no,video:192.168.5.9:30002:sendrecv:ice=no\r\n\r\n'
}
example_c() {
	printf 'remove\r\ncall_id: 7f3c9a21e5b04d2c@10.0.0.23\r\nfrom_tag: a73kszlfl\r\nto_tag: 8321234356\r\n\r\n'
}
