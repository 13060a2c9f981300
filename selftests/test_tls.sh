#!/bin/bash
# TLS of the dispatcher <-> relay link (doc/relay-protocol.md §3): credentials
# made by tools/make-certs.sh, mutual verification with the CRL, passports,
# periodic re-verification, through userspace/tls.c driven by
# selftests/helpers/tls_driver on loopback (a server with the dispatcher's
# credentials, a client with a relay's, or the other way round).
. "$(dirname "$0")/lib.sh"

HERE=$(realpath "$(dirname "$0")")
MAKE_CERTS=$HERE/../tools/make-certs.sh
DRIVER=$BUILD/helpers/tls_driver
SUBJECT="/C=NL/ST=Noord-Holland/L=Amsterdam/O=Example Carrier/OU=Media/CN=relay-ams-3/emailAddress=ops@example.net"

# One set of credentials for the whole suite; each test works on a copy ($C).
BASE=$(mktemp -d /tmp/mp-tls-base.XXXXXX)
trap 'rm -rf "$BASE"' EXIT
base_ok=1
"$MAKE_CERTS" "$BASE" --expired old --revoked gone --other-ca alien --subject carrier "$SUBJECT" \
	--eku srvonly serverAuth --eku noeku none >"$BASE.log" 2>&1 || base_ok=0

setup() {
	[ -x "$DRIVER" ] || fail "$DRIVER is not built"
	[ $base_ok = 1 ] || fail "make-certs.sh failed: $(cat "$BASE.log")"
	C=$T/certs
	cp -a "$BASE" "$C"
}

# server ROLE [OPTIONS...]: a tls_driver server on $C; its output in $T/server.out, port in $PORT
server() {
	local role=$1
	shift
	spawn "$DRIVER" server "$C" "$role" 0 "$@" >"$T/server.out" 2>&1
	wait_for 20 grep -q "^listening on" "$T/server.out" || fail "server did not start: $(cat "$T/server.out")"
	PORT=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$T/server.out")
}

# client ROLE [OPTIONS...]: runs a tls_driver client to $PORT; output in $T/client.out, status in $RC
client() {
	local role=$1
	shift
	RC=0
	ACCEPTED_BEFORE=$(grep -c "^accepted:" "$T/server.out" || true)
	timeout 20 "$DRIVER" client "${CLIENT_CERTS:-$C}" "$role" "$PORT" "$@" >"$T/client.out" 2>&1 || RC=$?
}

# server_says PATTERN: waits for PATTERN (grep -E) in the server's output
server_says() {
	wait_for 20 grep -qE "$1" "$T/server.out" || fail "server did not print '$1': $(cat "$T/server.out")"
}

client_says() {
	grep -qE "$1" "$T/client.out" || fail "client did not print '$1': $(cat "$T/client.out")"
}

# expect_refused_by_server REASON: the client did not get through and the server says why
expect_refused_by_server() {
	[ "$RC" -ne 0 ] || fail "client got through: $(cat "$T/client.out")"
	! grep -q "^received:" "$T/client.out" || fail "client received data: $(cat "$T/client.out")"
	server_says "^handshake failed: .*$1"
	expect_eq "$(grep -c "^accepted:" "$T/server.out" || true)" "$ACCEPTED_BEFORE" "connections accepted"
}

t_make_certs() {
	setup
	for f in ca.pem crl.pem dispatcher.crt dispatcher.key relay.crt relay.key management.crt management.key; do
		[ -s "$C/$f" ] || fail "make-certs.sh made no $f"
	done
	openssl verify -CAfile "$C/ca.pem" -CRLfile "$C/crl.pem" -crl_check \
		"$C/dispatcher.crt" "$C/relay.crt" "$C/management.crt" >"$T/out" 2>&1 || fail "$(cat "$T/out")"
	! openssl verify -CAfile "$C/ca.pem" -CRLfile "$C/crl.pem" -crl_check "$C/gone.crt" >/dev/null 2>&1 ||
		fail "the revoked certificate verifies"
	! openssl verify -CAfile "$C/ca.pem" "$C/alien.crt" >/dev/null 2>&1 || fail "the other CA's certificate verifies"
	! openssl verify -CAfile "$C/ca.pem" "$C/old.crt" >/dev/null 2>&1 || fail "the expired certificate verifies"
	openssl x509 -in "$C/relay.crt" -noout -text | grep -q "Public-Key: (2048 bit)" || fail "relay key is not RSA 2048"
	openssl x509 -in "$C/carrier.crt" -noout -subject -nameopt compat >"$T/out"
	expect_eq "$(cat "$T/out")" "subject=$SUBJECT" "subject of --subject"
	"$MAKE_CERTS" "$T/ec" --ec --days 10 >/dev/null
	openssl x509 -in "$T/ec/relay.crt" -noout -text | grep -q "prime256v1" || fail "--ec made no P-256 key"
	openssl x509 -in "$T/ec/relay.crt" -noout -checkend $((11 * 86400)) >/dev/null && fail "--days 10 ignored"
	true
}
run_test "make-certs.sh makes a CA, a CRL and certificates that verify; extras as asked" t_make_certs

t_find_files() {
	setup
	mkdir -p "$T/local/tls" "$T/system/tls" "$T/system/only"
	"$DRIVER" find tls relay "$T/local" "$T/system" >"$T/out"
	grep -qx "cert $T/local/tls/relay.crt" "$T/out" || fail "local directory not first: $(cat "$T/out")"
	grep -qx "crl $T/local/tls/crl.pem" "$T/out" || fail "no crl.pem: $(cat "$T/out")"
	"$DRIVER" find only dispatcher "$T/local" "$T/system" >"$T/out"
	grep -qx "key $T/system/only/dispatcher.key" "$T/out" || fail "system directory not searched: $(cat "$T/out")"
	"$DRIVER" find "$C" management "$T/local" >"$T/out"
	grep -qx "ca $C/ca.pem" "$T/out" || fail "absolute path not taken as is: $(cat "$T/out")"
	RC=0
	"$DRIVER" find nowhere relay "$T/local" "$T/system" >"$T/out" || RC=$?
	[ $RC -ne 0 ] || fail "a missing directory was accepted"
	grep -q "$T/local/nowhere, $T/system/nowhere" "$T/out" || fail "error does not say where it looked: $(cat "$T/out")"
}
run_test "certs_path: the local directory first, then the system one; absolute as is" t_find_files

t_good() {
	setup
	server dispatcher
	client relay
	expect_eq "$RC" 0 "client exit status ($(cat "$T/client.out"))"
	client_says "^connected: O=MediaProxy, OU=Dispatcher, CN=dispatcher$"
	client_says "^received: hello O=MediaProxy, OU=Relay, CN=relay$"
	server_says "^accepted: O=MediaProxy, OU=Relay, CN=relay$"
	server_says "^received: hello O=MediaProxy, OU=Dispatcher, CN=dispatcher$"
	client management
	expect_eq "$RC" 0 "management client exit status ($(cat "$T/client.out"))"
	server_says "^accepted: .*CN=management$"
	! grep -q "WARNING" "$T/server.out" "$T/client.out" || fail "warnings: $(cat "$T/server.out" "$T/client.out")"
}
run_test "mutual handshake: relay and management clients with the dispatcher" t_good

t_tls12() {
	setup
	server dispatcher
	local proto
	proto=$(openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$C/ca.pem" -cert "$C/relay.crt" -key "$C/relay.key" \
		-tls1_2 -brief </dev/null 2>&1 | sed -n 's/^Protocol version: //p')
	expect_eq "$proto" "TLSv1.2" "protocol with a TLS 1.2 client"
	server_says "^accepted: .*CN=relay$"
	openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$C/ca.pem" -cert "$C/relay.crt" -key "$C/relay.key" \
		-tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >"$T/out" 2>&1 || true
	server_says "^handshake failed: .*(unsupported protocol|version)"
	expect_eq "$(grep -c "^accepted:" "$T/server.out")" 1 "connections accepted"
}
run_test "TLS 1.2 is accepted, TLS 1.1 refused" t_tls12

t_no_cert() {
	setup
	server dispatcher
	openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$C/ca.pem" </dev/null >"$T/out" 2>&1 || true
	server_says "^handshake failed: peer did not return a certificate"
	! grep -q "^accepted:" "$T/server.out" || fail "server accepted: $(cat "$T/server.out")"
}
run_test "a relay without a certificate is refused" t_no_cert

t_other_ca() {
	setup
	server dispatcher
	client alien
	expect_refused_by_server "unable to get local issuer certificate \(certificate .*CN=alien\)"
	# and the relay refuses a dispatcher whose certificate another CA signed
	kill "$SPAWNED"
	server alien
	client relay
	[ "$RC" -ne 0 ] || fail "client accepted the other CA's server"
	client_says "^handshake failed: certificate verify failed: unable to get local issuer certificate"
}
run_test "a certificate of another CA is refused, in both directions" t_other_ca

t_revoked() {
	setup
	server dispatcher
	client gone
	expect_refused_by_server "certificate revoked \(certificate .*CN=gone\)"
}
run_test "a revoked certificate is refused" t_revoked

t_expired() {
	setup
	server dispatcher
	client old
	expect_refused_by_server "certificate has expired \(certificate .*CN=old\)"
}
run_test "an expired certificate is refused" t_expired

t_crl_missing() {
	setup
	local role
	rm "$C/crl.pem"
	for role in dispatcher relay; do
		RC=0
		"$DRIVER" server "$C" $role 0 >"$T/out" 2>&1 || RC=$?
		expect_eq "$RC" 2 "exit status of the $role without crl.pem"
		grep -q "ERROR: $C/crl.pem: No such file or directory (crl.pem is mandatory" "$T/out" ||
			fail "error does not name crl.pem: $(cat "$T/out")"
		! grep -q "^listening" "$T/out" || fail "started without crl.pem"
	done
	echo garbage >"$C/crl.pem"
	RC=0
	"$DRIVER" server "$C" dispatcher 0 >"$T/out" 2>&1 || RC=$?
	expect_eq "$RC" 2 "exit status with a bad crl.pem"
	grep -q "ERROR: $C/crl.pem: not a PEM CRL" "$T/out" || fail "error does not name crl.pem: $(cat "$T/out")"
	openssl ca -config "$C/other-ca/openssl.cnf" -gencrl -out "$C/crl.pem" 2>/dev/null
	RC=0
	"$DRIVER" server "$C" dispatcher 0 >"$T/out" 2>&1 || RC=$?
	expect_eq "$RC" 2 "exit status with another CA's crl.pem"
	grep -q "ERROR: $C/crl.pem: not signed by the CA of $C/ca.pem" "$T/out" || fail "wrong error: $(cat "$T/out")"
}
run_test "missing or bad crl.pem: a start error naming it" t_crl_missing

t_start_errors() {
	setup
	local RC=0
	rm "$C/relay.key"
	"$DRIVER" client "$C" relay 1 >"$T/out" 2>&1 || RC=$?
	expect_eq "$RC" 2 "exit status without relay.key"
	grep -q "ERROR: $C/relay.key: No such file or directory" "$T/out" || fail "wrong error: $(cat "$T/out")"
	cp "$C/dispatcher.key" "$C/relay.key"
	RC=0
	"$DRIVER" client "$C" relay 1 >"$T/out" 2>&1 || RC=$?
	expect_eq "$RC" 2 "exit status with the wrong key"
	grep -q "ERROR: $C/relay.key: not the key of $C/relay.crt" "$T/out" || fail "wrong error: $(cat "$T/out")"
	openssl pkey -in "$C/dispatcher.key" -aes256 -passout pass:secret -out "$C/dispatcher.key.enc"
	mv "$C/dispatcher.key.enc" "$C/dispatcher.key"
	RC=0
	"$DRIVER" server "$C" dispatcher 0 >"$T/out" 2>&1 </dev/null || RC=$?
	expect_eq "$RC" 2 "exit status with an encrypted key"
	grep -q "ERROR: $C/dispatcher.key: .*unencrypted PEM private key is needed" "$T/out" || fail "wrong error: $(cat "$T/out")"
	echo garbage >"$C/ca.pem"
	RC=0
	"$DRIVER" server "$C" dispatcher 0 >"$T/out" 2>&1 || RC=$?
	expect_eq "$RC" 2 "exit status with a bad ca.pem"
	grep -q "ERROR: $C/ca.pem: no PEM certificate in the file" "$T/out" || fail "wrong error: $(cat "$T/out")"
}
run_test "missing key, wrong key, encrypted key, bad ca.pem: start errors naming the file" t_start_errors

t_crl_expired() {
	setup
	"$MAKE_CERTS" "$C" --expired-crl >/dev/null
	openssl crl -in "$C/crl.pem" -noout -nextupdate | grep -q "2020" || fail "crl.pem is not expired"
	server dispatcher
	server_says "WARNING: \*\*\* $C/crl.pem is EXPIRED"
	client relay
	expect_eq "$RC" 0 "client exit status ($(cat "$T/client.out"))"
	client_says "WARNING: \*\*\* $C/crl.pem is EXPIRED"
	server_says "^accepted: .*CN=relay$"
	# the expired CRL still revokes
	client gone
	expect_refused_by_server "certificate revoked"
}
run_test "an expired CRL is accepted with a loud warning, and still revokes" t_crl_expired

t_eku() {
	setup
	server dispatcher
	client srvonly
	expect_eq "$RC" 0 "client with a serverAuth-only certificate ($(cat "$T/client.out"))"
	server_says "WARNING: certificate .*CN=srvonly does not allow TLS client use"
	server_says "^accepted: .*CN=srvonly$"
	client noeku
	expect_eq "$RC" 0 "client with no extended key usage ($(cat "$T/client.out"))"
	server_says "^accepted: .*CN=noeku$"
}
run_test "no extended key usage is required: at most a warning" t_eku

t_passport_server() {
	setup
	server dispatcher --passport "O:MediaProxy, OU:Relay, CN:relay"
	client relay
	expect_eq "$RC" 0 "relay matching the passport ($(cat "$T/client.out"))"
	server_says "^accepted: .*CN=relay$"
	client management
	[ "$RC" -ne 0 ] || fail "management client got through the passport"
	! grep -q "^received:" "$T/client.out" || fail "client received data: $(cat "$T/client.out")"
	server_says "^refused due to wrong passport: OU 'Management' does not match 'Relay'$"
	client_says "^connection ended: closed by the peer$" # a clean close_notify
}
run_test "passport of the dispatcher on relays: match and mismatch" t_passport_server

t_passport_client() {
	setup
	server dispatcher
	client relay --passport "CN:dispatcher"
	expect_eq "$RC" 0 "dispatcher matching the relay's passport ($(cat "$T/client.out"))"
	client relay --passport "O:MediaProxy, CN:relay"
	[ "$RC" -ne 0 ] || fail "the relay accepted a dispatcher not matching its passport"
	client_says "^refused due to wrong passport: CN 'dispatcher' does not match 'relay'$"
	server_says "^connection ended: closed by the peer$"
}
run_test "passport of the relay on the dispatcher: match and mismatch" t_passport_client

t_passport_wildcards() {
	setup
	local p
	server carrier
	for p in "CN:relay*" "CN:*ams-3" "CN:relay-ams-3" "CN:*" "O:Example*, EMAIL:*@example.net" \
		"C:NL, ST:*Holland, L:Amster*, O:Example Carrier, OU:Media, CN:relay-*, EMAIL:ops@*"; do
		client relay --passport "$p"
		expect_eq "$RC" 0 "passport '$p' ($(cat "$T/client.out"))"
	done
	for p in "CN:*ams" "CN:ams*" "CN:relay-ams" "CN:Relay*" "O:*carrier" "CN:relay*, L:Rotterdam" "C:N" "EMAIL:*.org"; do
		client relay --passport "$p"
		[ "$RC" -ne 0 ] || fail "passport '$p' matched"
		client_says "^refused due to wrong passport: "
	done
	kill "$SPAWNED"
	server dispatcher
	client relay --passport "EMAIL:*"
	[ "$RC" -ne 0 ] || fail "a subject without EMAIL matched EMAIL:*"
	client_says "^refused due to wrong passport: subject has no EMAIL"
}
run_test "passport: * prefix and suffix, every attribute, missing attribute" t_passport_wildcards

t_reverify_revoked() {
	setup
	server dispatcher --reverify 1
	client relay --hold 30 &
	local cpid=$!
	server_says "^accepted: .*CN=relay$"
	server_says "^reverify ok$"
	! grep -q "crl reloaded" "$T/server.out" || fail "unchanged crl.pem reloaded"
	"$MAKE_CERTS" "$C" --revoke relay >/dev/null
	server_says "^crl reloaded$"
	server_says "^reverify failed: certificate revoked; closing$"
	wait $cpid || true
	client_says "^connection ended: closed by the peer$"
	# a new handshake with it is refused too
	client relay
	expect_refused_by_server "certificate revoked \(certificate .*CN=relay\)"
}
run_test "re-verification: the dispatcher drops a relay revoked after the handshake" t_reverify_revoked

t_reverify_client() {
	setup
	server dispatcher
	RC=0
	timeout 20 "$DRIVER" client "$C" relay "$PORT" --reverify 1 --hold 30 >"$T/client.out" 2>&1 &
	local cpid=$!
	wait_for 20 grep -q "^reverify ok$" "$T/client.out" || fail "no re-verification: $(cat "$T/client.out")"
	"$MAKE_CERTS" "$C" --revoke dispatcher >/dev/null
	wait $cpid || RC=$?
	expect_eq "$RC" 3 "client exit status ($(cat "$T/client.out"))"
	client_says "^reverify failed: certificate revoked; closing$"
	server_says "^connection ended: closed by the peer$"
}
run_test "re-verification: the relay drops a dispatcher revoked after the handshake" t_reverify_client

t_reverify_expiry() {
	setup
	"$MAKE_CERTS" "$C" --expires-in short 3 >/dev/null
	server dispatcher --reverify 1
	client short --hold 30 &
	server_says "^accepted: .*CN=short$"
	server_says "^reverify ok$"
	wait_for 20 grep -q "^reverify failed: certificate has expired; closing$" "$T/server.out" ||
		fail "expiry not caught: $(cat "$T/server.out")"
}
run_test "re-verification: a certificate expiring during the connection ends it" t_reverify_expiry

t_reload_bad_crl() {
	setup
	server dispatcher --reverify 1
	client relay --hold 30 &
	server_says "^reverify ok$"
	CLIENT_CERTS=$T/client-certs
	cp -a "$C" "$CLIENT_CERTS"
	echo garbage >"$C/crl.pem"
	server_says "ERROR: $C/crl.pem: not a PEM CRL.*keeping the CRL loaded before"
	# the pass that found the bad file ends with "reverify ok"; the one after
	# it reads the same file again
	passes_since_error() { sed -n '/keeping the CRL loaded before/,$p' "$T/server.out" | grep -c '^reverify ok$'; }
	wait_until 20 '[ "$(passes_since_error)" -ge 2 ]' || fail "no re-verification after the bad file: $(cat "$T/server.out")"
	expect_eq "$(grep -c "keeping the CRL loaded before" "$T/server.out")" 1 "errors for one bad file"
	! grep -q "^reverify failed" "$T/server.out" || fail "connection dropped: $(cat "$T/server.out")"
	client management
	expect_eq "$RC" 0 "new handshake with the old CRL ($(cat "$T/client.out"))"
}
run_test "a bad crl.pem on reload is reported once and the old CRL kept" t_reload_bad_crl
