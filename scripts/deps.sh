#!/usr/bin/env bash
# Install the Debian packages dotpool's build and tests need (idempotent).
# Usage: scripts/deps.sh [build|test|run|bench|pkg]...   (default: build test)
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

build_pkgs="build-essential autoconf automake libtool pkg-config libssl-dev
	libevent-dev dpkg-dev"
test_pkgs="libcunit1-dev unbound unbound-anchor openssl knot-dnsutils
	bind9-dnsutils bind9-utils python3 tshark valgrind iproute2 prometheus
	procps psmisc curl shellcheck yamllint python3-yaml
	clang-14 libclang-rt-14-dev"
run_pkgs="unbound ca-certificates dns-root-data openssl bind9-dnsutils
	knot-dnsutils python3"
# packaging (issue 6): .debs, lintian, the install test's chroot, lint
pkg_pkgs="debhelper devscripts fakeroot lintian debootstrap apt-utils
	shellcheck yamllint python3-yaml knot-dnsutils openssl iproute2"
bench_pkgs="dnsperf dnsdist knot-resolver gnuplot-nox stubby iproute2 python3
	openssl util-linux"

want=
for what in "${@:-build test}"; do
	for w in $what; do
		case $w in
		build) want="$want $build_pkgs" ;;
		test) want="$want $test_pkgs" ;;
		run) want="$want $run_pkgs" ;;
		bench) want="$want $bench_pkgs" ;;
		pkg) want="$want $pkg_pkgs" ;;
		*) echo "deps.sh: unknown set '$w'" >&2; exit 2 ;;
		esac
	done
done
missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing:$missing" >&2
as_root apt-get update -qq
# tshark asks whether non-root may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	as_root debconf-set-selections
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends $missing >/dev/null
