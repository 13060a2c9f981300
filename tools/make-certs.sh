#!/bin/bash
# Makes the TLS credentials of MediaProxy (doc/relay-protocol.md §3) with the
# openssl command line: a CA, its CRL, and the certificates of the dispatcher,
# the relay and a management client, each with an unencrypted key.
#
#   tools/make-certs.sh DIR [--days N] [--ec] [EXTRAS...]
#
# DIR receives the files the daemons look for under [TLS] certs_path:
#   ca.pem                      the CA certificate
#   crl.pem                     the CA's CRL (empty unless something was revoked)
#   dispatcher.crt, .key        the dispatcher's certificate and key (also the management port's)
#   relay.crt, .key             the relay's
#   management.crt, .key        a management client's
# and the CA's own state in DIR/ca/ (ca.key, index.txt, serial, ...): keep
# that directory private and do not copy it to the relays or the dispatcher.
#
# Run again on the same DIR, the script reuses the CA and the certificates
# that exist and only makes what is missing or asked for, so it can revoke
# or add certificates later.
#
# Options:
#   --days N        validity of the CA, the certificates and the CRL (default 825)
#   --ec            EC P-256 keys (default RSA 2048)
# Extra certificates, mostly for tests (each may be repeated):
#   --subject NAME SUBJECT   NAME.crt/.key with SUBJECT, e.g. "/O=Example/CN=relay-ams-3"
#                            (also how production relays get one certificate each)
#   --expired NAME           NAME.crt/.key whose validity ended in 2021
#   --expires-in NAME SECS   NAME.crt/.key valid from now for SECS seconds only
#   --revoked NAME           NAME.crt/.key, revoked in crl.pem
#   --other-ca NAME          NAME.crt/.key signed by another CA (DIR/other-ca/ca.pem)
#   --eku NAME EKU           NAME.crt/.key whose extended key usage is only EKU
#                            (serverAuth, clientAuth), or none at all with EKU "none"
# Changes to existing files:
#   --revoke NAME            revokes the existing NAME.crt and rewrites crl.pem
#   --expired-crl            rewrites crl.pem with a nextUpdate in the past
#
# Examples:
#   tools/make-certs.sh /etc/mediaproxy/tls --days 3650
#   tools/make-certs.sh /tmp/t --ec --expired old --revoked gone --subject p "/O=Ex/CN=relay-1"
#   tools/make-certs.sh /tmp/t --revoke relay
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h | --help | -*) usage ;; esac
DIR=$1
shift
DAYS=825
KEYTYPE=rsa
EXTRAS=() # "kind name [arg]" triples, done after the standard files
CRL_EXPIRED=0

while [ $# -gt 0 ]; do
	case $1 in
	--days) [ $# -ge 2 ] || usage; DAYS=$2; shift 2 ;;
	--ec) KEYTYPE=ec; shift ;;
	--expired | --revoked | --other-ca | --revoke)
		[ $# -ge 2 ] || usage; EXTRAS+=("${1#--}" "$2" ""); shift 2 ;;
	--subject | --expires-in | --eku)
		[ $# -ge 3 ] || usage; EXTRAS+=("${1#--}" "$2" "$3"); shift 3 ;;
	--expired-crl) CRL_EXPIRED=1; shift ;;
	*) echo "make-certs: unknown option $1" >&2; usage ;;
	esac
done
[[ $DAYS =~ ^[1-9][0-9]*$ ]] || { echo "make-certs: --days needs a positive number" >&2; exit 2; }

mkdir -p "$DIR"
DIR=$(realpath "$DIR")
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

# run CMD...: runs an openssl command quietly; its output is shown if it fails
run() {
	if ! "$@" >"$LOG" 2>&1; then
		echo "make-certs: failed: $*" >&2
		cat "$LOG" >&2
		exit 1
	fi
}

newkey() {
	case $KEYTYPE in
	rsa) run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
	ec) run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
	esac
	chmod 600 "$1"
}

# make_ca CADIR SUBJECT: a CA in CADIR (ca.key, ca.pem, openssl.cnf, database)
make_ca() {
	local cadir=$1 ku
	[ -f "$cadir/ca.pem" ] && return 0
	mkdir -p "$cadir/newcerts"
	chmod 700 "$cadir"
	: >"$cadir/index.txt"
	echo 1000 >"$cadir/serial"
	echo 1000 >"$cadir/crlnumber"
	ku="digitalSignature, keyEncipherment"
	[ $KEYTYPE = ec ] && ku="digitalSignature"
	cat >"$cadir/openssl.cnf" <<EOF
# openssl configuration of the MediaProxy CA made by tools/make-certs.sh
[ ca ]
default_ca = mp_ca

[ mp_ca ]
dir = $cadir
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = $DAYS
default_crl_days = $DAYS
policy = policy_any
preserve = yes
unique_subject = no
copy_extensions = none
crl_extensions = crl_ext

[ policy_any ]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
emailAddress = optional

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $ku
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_ext_serverAuth ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $ku
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_ext_clientAuth ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $ku
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_ext_none ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, $ku
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid
EOF
	newkey "$cadir/ca.key"
	run openssl req -config "$cadir/openssl.cnf" -new -x509 -key "$cadir/ca.key" -sha256 \
		-subj "$2" -days "$DAYS" -extensions ca_ext -out "$cadir/ca.pem"
}

# sign CADIR NAME SUBJECT [openssl ca options...]: NAME.crt and NAME.key in DIR
sign() {
	local cadir=$1 name=$2 subject=$3
	shift 3
	newkey "$DIR/$name.key"
	run openssl req -config "$cadir/openssl.cnf" -new -key "$DIR/$name.key" -subj "$subject" -out "$cadir/$name.csr"
	run openssl ca -config "$cadir/openssl.cnf" -batch -notext -extensions leaf_ext \
		-in "$cadir/$name.csr" -out "$DIR/$name.crt" "$@"
	rm -f "$cadir/$name.csr"
}

gencrl() {
	local dates=(-crldays "$DAYS")
	[ $CRL_EXPIRED = 1 ] && dates=(-crl_lastupdate 20200101000000Z -crl_nextupdate 20200201000000Z)
	run openssl ca -config "$DIR/ca/openssl.cnf" -gencrl "${dates[@]}" -out "$DIR/crl.pem.new"
	mv "$DIR/crl.pem.new" "$DIR/crl.pem" # atomically: a daemon reloading it sees old or new
}

revoke() {
	[ -f "$DIR/$1.crt" ] || { echo "make-certs: $DIR/$1.crt does not exist" >&2; exit 1; }
	run openssl ca -config "$DIR/ca/openssl.cnf" -revoke "$DIR/$1.crt" -crl_reason keyCompromise
}

valid_name() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || { echo "make-certs: bad certificate name '$1'" >&2; exit 2; }
}

make_ca "$DIR/ca" "/O=MediaProxy/OU=Certificate Authority/CN=MediaProxy CA"
cp "$DIR/ca/ca.pem" "$DIR/ca.pem"
for role in dispatcher relay management; do
	[ -f "$DIR/$role.crt" ] || sign "$DIR/ca" $role "/O=MediaProxy/OU=${role^}/CN=$role"
done

crl_needed=$CRL_EXPIRED
[ -f "$DIR/crl.pem" ] || crl_needed=1
for ((i = 0; i < ${#EXTRAS[@]}; i += 3)); do
	kind=${EXTRAS[i]} name=${EXTRAS[i + 1]} arg=${EXTRAS[i + 2]}
	valid_name "$name"
	case $kind in
	subject) sign "$DIR/ca" "$name" "$arg" ;;
	expired)
		sign "$DIR/ca" "$name" "/O=MediaProxy/OU=Expired/CN=$name" \
			-startdate 20200101000000Z -enddate 20210101000000Z ;;
	expires-in)
		[[ $arg =~ ^[0-9]+$ ]] || { echo "make-certs: --expires-in needs seconds" >&2; exit 2; }
		sign "$DIR/ca" "$name" "/O=MediaProxy/OU=Short-lived/CN=$name" \
			-startdate "$(date -u -d '-1 minute' +%Y%m%d%H%M%SZ)" \
			-enddate "$(date -u -d "@$(($(date +%s) + arg))" +%Y%m%d%H%M%SZ)" ;;
	revoked)
		sign "$DIR/ca" "$name" "/O=MediaProxy/OU=Revoked/CN=$name"
		revoke "$name"
		crl_needed=1 ;;
	revoke) revoke "$name"; crl_needed=1 ;;
	other-ca)
		make_ca "$DIR/other-ca" "/O=MediaProxy/OU=Certificate Authority/CN=MediaProxy CA"
		sign "$DIR/other-ca" "$name" "/O=MediaProxy/OU=Relay/CN=$name" ;;
	eku)
		case $arg in serverAuth | clientAuth | none) ;; *)
			echo "make-certs: --eku takes serverAuth, clientAuth or none" >&2; exit 2 ;;
		esac
		sign "$DIR/ca" "$name" "/O=MediaProxy/OU=EKU $arg/CN=$name" -extensions "leaf_ext_$arg" ;;
	esac
done
[ $crl_needed = 1 ] && gencrl

chmod 600 "$DIR"/*.key
echo "make-certs: credentials in $DIR"
