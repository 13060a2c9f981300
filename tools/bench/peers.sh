#!/bin/bash
# The rtpengine peers make bench measures against.  Debian 12's (10.5) is a
# package of this machine (install-deps.sh bench); Debian 13's (12.5) runs
# from a root made here with mmdebstrap from Debian's packages, kept in
# BUILD/bench/trixie-root and made only when missing.
#   peers.sh BUILD
set -euo pipefail
root=$1/bench/trixie-root
[ -x "$root/usr/bin/rtpengine" ] && exit 0
echo "bench: making a Debian 13 root with rtpengine in $root (once)" >&2
rm -rf "$root.tmp"
mmdebstrap --quiet --variant=apt --include=rtpengine-daemon trixie "$root.tmp" \
	"deb http://deb.debian.org/debian trixie main"
mv "$root.tmp" "$root"
