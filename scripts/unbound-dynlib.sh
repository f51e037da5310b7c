#!/usr/bin/env bash
# Prepare an Unbound that dotpool can load into, on Debian or Ubuntu:
#   - Debian's source of the *installed* unbound package, configured with the
#     installed binary's own configure line plus --with-dynlibmodule, and built;
#   - that build installed into a project-local prefix.
# Both are cached under $DOTPOOL_CACHE (default: .cache/ in the checkout);
# a second run with the same installed version does nothing.
#
# Prints, on its last line, the shell assignments callers need:
#   UNBOUND_SRC=<configured source tree>  UNBOUND_PREFIX=<install prefix>
#
# Needs root (apt-get) unless everything is already installed and cached.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${DOTPOOL_CACHE:-$here/.cache}
log() { printf 'unbound-dynlib: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_update_once() {
	[ -n "$apt_updated" ] && return 0
	as_root apt-get update -qq
	apt_updated=1
}

# The stock unbound gives us the version and the configure line to match.
if ! command -v unbound >/dev/null 2>&1 && [ ! -x /usr/sbin/unbound ]; then
	log "installing Debian's unbound (the build we match)"
	apt_update_once
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		unbound >/dev/null
fi
stock=/usr/sbin/unbound
version=$(dpkg-query -W -f='${Version}' unbound 2>/dev/null) ||
	die "the unbound package is not installed"
upstream_version=${version%%-*}
conf_line=$("$stock" -V | sed -n 's/^Configure line: //p')
[ -n "$conf_line" ] || die "'$stock -V' printed no configure line"

work=$cache/unbound-$version
src=$work/src
prefix=$work/prefix
stamp=$work/.built
if [ -f "$stamp" ] && [ -x "$prefix/sbin/unbound" ] &&
   [ -f "$src/config.h" ]; then
	log "cached: $work"
	echo "UNBOUND_SRC=$src UNBOUND_PREFIX=$prefix"
	exit 0
fi

# deb-src entries for the same mirrors and suites as the deb ones.
have_deb_src() {
	grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list \
		/etc/apt/sources.list.d/ 2>/dev/null
}
if ! have_deb_src; then
	log "adding deb-src entries mirroring the deb entries"
	tmp=$(mktemp)
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: copy each stanza that is a Debian/Ubuntu deb stanza.
		awk 'BEGIN{RS=""; ORS="\n\n"}
		     /(^|\n)Types:[^\n]*deb/ && /(debian|ubuntu)/ {
			gsub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, "");
			print }' "$f" >>"$tmp"
	done
	dst_one=
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		grep -E '^deb[[:space:]]' "$f" | grep -E 'debian|ubuntu' |
			sed 's/^deb[[:space:]]/deb-src /' >>"$tmp.list" || true
		dst_one=1
	done
	if [ -s "$tmp" ]; then
		as_root install -m 644 "$tmp" /etc/apt/sources.list.d/dotpool-deb-src.sources
	fi
	if [ -n "$dst_one" ] && [ -s "$tmp.list" ]; then
		as_root install -m 644 "$tmp.list" /etc/apt/sources.list.d/dotpool-deb-src.list
	fi
	rm -f "$tmp" "$tmp.list"
	have_deb_src || die "could not derive deb-src entries from the apt sources"
	apt_updated=
fi

mkdir -p "$work"
if [ ! -f "$src/configure" ]; then
	apt_update_once
	log "fetching the source of unbound $version"
	command -v dpkg-source >/dev/null || as_root env \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev >/dev/null
	rm -rf "$work/fetch"
	mkdir -p "$work/fetch"
	(cd "$work/fetch" && apt-get source -qq "unbound=$version" >/dev/null)
	d=$(find "$work/fetch" -maxdepth 1 -type d -name "unbound-$upstream_version*" | head -n 1)
	[ -n "$d" ] || die "apt-get source produced no unbound-$upstream_version tree"
	rm -rf "$src"
	mv "$d" "$src"
	rm -rf "$work/fetch"
fi

log "installing the build dependencies of unbound"
apt_update_once
as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq \
	"unbound=$version" >/dev/null

# The installed binary's configure line, then our prefix and paths, then the
# one flag that matters. Later options win in autoconf.
log "configuring with the stock configure line + --with-dynlibmodule"
cd "$src"
# Keep ${prefix} and friends literal: configure expands them itself.
eval "set -- ${conf_line//\$/\\\$}"
# Debian's rules name the interpreter for --with-pythonmodule: a minimal
# Debian has python3 but no `python`, and on a developer's machine `python`
# may be some other install. The Python files go into our prefix.
PYTHON=/usr/bin/python3 PYTHON_SITE_PKG="$prefix/lib/python3/dist-packages" \
./configure "$@" \
	--prefix="$prefix" --sysconfdir="$prefix/etc" \
	--localstatedir="$prefix/var" --with-pidfile="$prefix/var/unbound.pid" \
	--with-rootkey-file="$prefix/etc/root.key" \
	--with-chroot-dir="" --with-run-dir="$prefix/var" \
	--with-dynlibmodule >"$work/configure.log" 2>&1 ||
	die "configure failed, see $work/configure.log"
grep -q '^#define WITH_DYNLIBMODULE 1' config.h ||
	die "configure did not enable the dynlib module"

log "building (a few minutes)"
make -j"$(nproc)" >"$work/build.log" 2>&1 || die "build failed, see $work/build.log"
make install >"$work/install.log" 2>&1 || die "install failed, see $work/install.log"
"$prefix/sbin/unbound" -V | grep -q dynlib ||
	die "the built unbound does not list the dynlib module"
touch "$stamp"
log "ready: $prefix/sbin/unbound"
echo "UNBOUND_SRC=$src UNBOUND_PREFIX=$prefix"
