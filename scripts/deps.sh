#!/usr/bin/env bash
# Install the Debian packages dotpool's build and tests need (idempotent).
# Usage: scripts/deps.sh [--list|--check] [build|test|run|bench|pkg|upstream]...
#   (default sets: build test)
#   --list   print the packages of the sets, one a line, and install nothing
#   --check  install nothing; exit 1 naming every package that is missing
# These lists are the only place the project names the packages it uses:
# tests/setup/test_deps.py fails when a test calls a tool or reads a file
# that no package of the test command's sets provides.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

build_pkgs="build-essential autoconf automake libtool pkg-config libssl-dev
	libevent-dev dpkg-dev"
test_pkgs="libcunit1-dev unbound unbound-anchor dns-root-data openssl
	knot-dnsutils bind9-dnsutils bind9-utils python3 tshark valgrind iproute2
	prometheus procps psmisc curl shellcheck yamllint python3-yaml man-db
	groff-base clang libclang-rt-14-dev gnuplot-nox"
run_pkgs="unbound ca-certificates dns-root-data openssl bind9-dnsutils
	knot-dnsutils python3"
# packaging: .debs, lintian, the install test's chroot, lint;
# the RPM spec built and linted with Debian's rpm tools (test_rpm.sh);
# the image built and run with podman (test_container.sh), the Kubernetes
# manifests checked against the OpenAPI schema (test_manifests.sh)
pkg_pkgs="debhelper devscripts fakeroot lintian debootstrap apt-utils
	shellcheck yamllint python3-yaml knot-dnsutils openssl iproute2
	rpm rpm2cpio rpmlint cpio git
	podman runc slirp4netns python3-jsonschema"
# upstream Unbound releases from git archives (scripts/unbound-upstream.sh):
# the parser generators, and what the fedora flavour's options link
upstream_pkgs="build-essential autoconf automake libtool pkg-config bison flex
	libssl-dev libevent-dev libexpat1-dev libnghttp2-dev libsystemd-dev
	python3-dev swig libprotobuf-c-dev protobuf-c-compiler libfstrm-dev
	libhiredis-dev"
bench_pkgs="dnsperf dnsdist knot-resolver gnuplot-nox stubby iproute2 python3
	openssl util-linux"

mode=install
case ${1:-} in
--list) mode=list; shift ;;
--check) mode=check; shift ;;
esac
want=
for what in "${@:-build test}"; do
	for w in $what; do
		case $w in
		build) want="$want $build_pkgs" ;;
		test) want="$want $test_pkgs" ;;
		run) want="$want $run_pkgs" ;;
		bench) want="$want $bench_pkgs" ;;
		pkg) want="$want $pkg_pkgs" ;;
		upstream) want="$want $upstream_pkgs" ;;
		*) echo "deps.sh: unknown set '$w'" >&2; exit 2 ;;
		esac
	done
done
if [ "$mode" = list ]; then
	printf '%s\n' $want | sort -u
	exit 0
fi
missing=
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$mode" = check ]; then
	echo "deps.sh: not installed:$missing" >&2
	exit 1
fi
echo "deps.sh: installing:$missing" >&2
as_root apt-get update -qq
# tshark asks whether non-root may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	as_root debconf-set-selections
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends $missing >/dev/null
