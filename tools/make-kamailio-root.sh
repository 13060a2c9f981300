#!/bin/bash
# Makes a root with the Kamailio of Debian SUITE (e.g. trixie: 6.0) from
# Debian's packages with mmdebstrap, for the end-to-end suite to run chrooted
# in the proxy's namespace (selftests/e2e_lib.sh, E2E_KAMAILIO=SUITE).  Made
# once into DIR (default build/e2e/kamailio-SUITE-root of the checkout), kept
# there; a root half made is never used.  Prints the root's path.
#   make-kamailio-root.sh SUITE [DIR]
set -euo pipefail
suite=${1:?usage: make-kamailio-root.sh SUITE [DIR]}
root=${2:-$(dirname "$(realpath "$0")")/../build/e2e/kamailio-$suite-root}
root=$(realpath -m "$root")
if [ ! -x "$root/usr/sbin/kamailio" ]; then
	command -v mmdebstrap >/dev/null || { echo "make-kamailio-root: needs mmdebstrap (tools/install-deps.sh)" >&2; exit 1; }
	echo "make-kamailio-root: making a Debian $suite root with Kamailio in $root (once)" >&2
	start=$SECONDS
	mkdir -p "$(dirname "$root")"
	rm -rf "$root.tmp"
	trap 'rm -rf "$root.tmp"' EXIT # what a failed making leaves
	sources=("deb http://deb.debian.org/debian $suite main")
	case $suite in
	sid | unstable) ;; # no updates nor security suites
	*) sources+=("deb http://deb.debian.org/debian $suite-updates main"
		"deb http://deb.debian.org/debian-security $suite-security main") ;;
	esac
	# essential: no apt in the root, Kamailio installed from outside; its
	# core package holds every module the suite's kamailio.cfg loads
	mmdebstrap --quiet --variant=essential --include=kamailio "$suite" "$root.tmp" "${sources[@]}" >&2
	mv "$root.tmp" "$root"
	echo "make-kamailio-root: $(chroot "$root" kamailio -v | sed -n "s/^version: \(kamailio [^ ]*\).*/\1/p") made in $((SECONDS - start))s" >&2
fi
echo "$root"
