#!/usr/bin/env bash
# Build an upstream Unbound release with the dynlib module, for building and
# testing dotpool against Unbound versions Debian does not ship.
#
# Usage: scripts/unbound-upstream.sh VERSION [plain|fedora] [--headers-only]
#
# The source is the shared release tarball (git archive of the release tag),
# checked against its SHA256SUMS: $DOTPOOL_UNBOUND_TARBALLS (default
# /work/shared/unbound-src, or ../shared/unbound-src next to the checkout).
# Checking, unpacking and configuring are scripts/unbound-tree.sh's, which
# scripts/build-for-unbound.sh shares.
# Result, cached under $DOTPOOL_CACHE (default .cache/ in the checkout):
#   .cache/unbound-VERSION-FLAVOR/src     the configured source tree
#   .cache/unbound-VERSION-FLAVOR/prefix  the installed build
#   .cache/unbound-VERSION-FLAVOR/.built  stamp of a complete build
# A second run does nothing. --headers-only configures the tree (enough to
# compile dotpool against it; stamp .configured) without make; a later full
# run builds in the same tree.
#
# Flavours (both add --with-dynlibmodule; paths always under the prefix):
#   plain   a minimal configure line: libevent, pthreads, OpenSSL, no
#           optional module. It is the no-subnet, no-cachedb ABI, so the test
#           matrix holds both layouts of struct module_qstate (Debian's 1.17.1
#           and the fedora flavour have --enable-subnet).
#   fedora  Fedora's unbound.spec options: subnet, ipsecmod, cachedb (with
#           hiredis), dnstap, systemd, nghttp2, python module and pyunbound.
#
# Prints, on its last line, the shell assignments callers need:
#   UNBOUND_SRC=<configured source tree>  UNBOUND_PREFIX=<install prefix>
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${DOTPOOL_CACHE:-$here/.cache}
log() { printf 'unbound-upstream: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/unbound-tree.sh
. "$here/scripts/unbound-tree.sh"

version=
flavour=plain
headers_only=
for a in "$@"; do
	case $a in
	--headers-only) headers_only=1 ;;
	plain|fedora) flavour=$a ;;
	[0-9]*.[0-9]*.[0-9]*) version=$a ;;
	*) die "usage: $0 VERSION [plain|fedora] [--headers-only]" ;;
	esac
done
[ -n "$version" ] || die "usage: $0 VERSION [plain|fedora] [--headers-only]"

tarball=$(ubt_release_tarball "$here" "$version")

# The physical path: a build records its prefix (unbound -V, config.h), and
# a cache reached through a symlink (a worktree's or a CI clone's .cache)
# must name the same directories whichever checkout asks.
mkdir -p "$cache"
cache=$(cd "$cache" && pwd -P)
work=$cache/unbound-$version-$flavour
src=$work/src
prefix=$work/prefix
done_line="UNBOUND_SRC=$src UNBOUND_PREFIX=$prefix"
if [ -f "$work/.built" ] && [ -x "$prefix/sbin/unbound" ] &&
   [ -f "$src/config.h" ]; then
	if "$prefix/sbin/unbound" -V | grep -q -- "--prefix=$prefix "; then
		log "cached: $work"
		echo "$done_line"
		exit 0
	fi
	log "cached build at $work was made for another path: rebuilding"
	rm -f "$work/.built" "$work/.configured"
fi
if [ -n "$headers_only" ] && [ -f "$work/.configured" ] &&
   [ -f "$src/config.h" ]; then
	log "cached (configured): $work"
	echo "$done_line"
	exit 0
fi

# The Debian packages each flavour needs (scripts/deps.sh, set upstream).
"$here/scripts/deps.sh" upstream

mkdir -p "$work"
if [ ! -f "$work/.configured" ]; then
	ubt_unpack "$tarball" "$version" "$src"

	common=(--prefix="$prefix" --sysconfdir="$prefix/etc"
		--localstatedir="$prefix/var" --with-dynlibmodule
		--with-libevent --with-pthreads --with-ssl --disable-rpath
		--disable-static)
	case $flavour in
	plain)
		opts=("${common[@]}" --with-pidfile="$prefix/var/unbound.pid"
			--with-rootkey-file="$prefix/etc/root.key"
			--with-chroot-dir="" --with-run-dir="$prefix/var")
		;;
	fedora)
		# unbound.spec, with its paths moved under the prefix.
		opts=("${common[@]}" --enable-relro-now --enable-pie
			--enable-subnet --enable-ipsecmod --enable-sha2
			--disable-gost --enable-ecdsa
			--enable-linux-ip-local-port-range
			--enable-cachedb --with-libhiredis
			--enable-dnstap --enable-systemd --with-libnghttp2
			--with-pythonmodule --with-pyunbound
			--with-conf-file="$prefix/etc/unbound/unbound.conf"
			--with-share-dir="$prefix/share/unbound"
			--with-pidfile="$prefix/var/run/unbound/unbound.pid"
			--with-rootkey-file="$prefix/var/lib/unbound/root.key"
			--with-username=unbound)
		;;
	esac
	log "configuring $version ($flavour)"
	# Debian's python3, not one from PATH (pyenv), is compiled into the
	# python module; its files go into the prefix
	PYTHON=/usr/bin/python3 \
		PYTHON_SITE_PKG="$prefix/lib/python3/dist-packages" \
		ubt_configure "$src" "$work/configure.log" "${opts[@]}"
	touch "$work/.configured"
fi
if [ -n "$headers_only" ]; then
	log "configured: $src"
	echo "$done_line"
	exit 0
fi

log "building $version ($flavour; a few minutes)"
jobs=$(nproc); [ "$jobs" -gt 2 ] && jobs=2
(cd "$src" && nice -n 10 make -j"$jobs" >"$work/build.log" 2>&1) ||
	die "build failed, see $work/build.log"
(cd "$src" && make install >"$work/install.log" 2>&1) ||
	die "install failed, see $work/install.log"
"$prefix/sbin/unbound" -V | grep -q dynlib ||
	die "the built unbound does not list the dynlib module"
touch "$work/.built"
log "ready: $prefix/sbin/unbound"
echo "$done_line"
