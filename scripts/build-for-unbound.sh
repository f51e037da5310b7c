#!/usr/bin/env bash
# Build dotpool for the Unbound you run: the module is only loadable by an
# Unbound of the same version and configure line as the tree it was compiled
# against, so this reads both from the daemon, configures that release's
# source with exactly that line (config.h only: no Unbound build), builds
# dotpool against it, runs the unit suites and, with --install, puts the
# module where that daemon's configuration can load it.
#
# Usage: scripts/build-for-unbound.sh [UNBOUND] [options] [-- DOTPOOL-CONFIGURE-ARGS]
#   UNBOUND           the daemon (default: `unbound` in PATH, else
#                     /usr/sbin/unbound, else /usr/local/sbin/unbound)
#   --source TARBALL  the release tarball unbound-X.Y.Z.tar.gz (default:
#                     download it and its .sha256 from NLnet Labs); checked
#                     against --sha256 HEX, else TARBALL.sha256, else a
#                     SHA256SUMS next to it: no checksum, no build
#   --workdir DIR     where the trees and the build go (default
#                     .build-for-unbound/unbound-X.Y.Z-<hash of the line>)
#   --conf FILE       the daemon's unbound.conf (default: the one it reads
#                     without -c, from `unbound -h`); its chroot decides
#                     where the module goes
#   --moduledir DIR   install the module there (default: LIBDIR/unbound of
#                     the daemon's configure line, or the chroot when the
#                     configuration has one that does not contain it)
#   --install         install dotpool.so (as root) and print the
#                     unbound.conf lines that load it
#   --destdir DIR     prefix every installed path with DIR (staging)
#   --no-check        leave the unit suites out (a package's %check runs them)
#   --jobs N          make -jN (default 2)
# Words after -- go to dotpool's ./configure (e.g. --prefix=/usr).
# Last line: DOTPOOL_MODULE=<built dotpool.so> DOTPOOL_BUILD=<build dir>
#            UNBOUND_SRC=<configured tree> MODULEDIR=<install directory>
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'build-for-unbound: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/unbound-tree.sh
. "$top/scripts/unbound-tree.sh"
usage="usage: $0 [UNBOUND] [--source TARBALL] [--sha256 HEX] [--workdir DIR]
	[--conf FILE] [--moduledir DIR] [--install] [--destdir DIR] [--no-check]
	[--jobs N] [-- DOTPOOL-CONFIGURE-ARGS]"
downloads=https://nlnetlabs.nl/downloads/unbound

unbound='' source='' sha='' work='' conf='' moduledir='' install='' destdir=''
check=1 jobs=2
while [ $# -gt 0 ]; do
	case $1 in
	--source) source=${2:?$usage}; shift ;;
	--sha256) sha=${2:?$usage}; shift ;;
	--workdir) work=${2:?$usage}; shift ;;
	--conf) conf=${2:?$usage}; shift ;;
	--moduledir) moduledir=${2:?$usage}; shift ;;
	--destdir) destdir=${2:?$usage}; shift ;;
	--jobs) jobs=${2:?$usage}; shift ;;
	--install) install=1 ;;
	--no-check) check= ;;
	--) shift; break ;;
	-h|--help) echo "$usage"; exit 0 ;;
	-*) die "unknown option $1; $usage" ;;
	*) [ -z "$unbound" ] || die "$usage"; unbound=$1 ;;
	esac
	shift
done
if [ -z "$unbound" ]; then
	unbound=$(type -P unbound || true)
	for u in /usr/sbin/unbound /usr/local/sbin/unbound; do
		[ -n "$unbound" ] || { [ -x "$u" ] && unbound=$u; } || true
	done
	[ -n "$unbound" ] || die "no unbound found: give its path; $usage"
fi
[ -x "$unbound" ] || die "$unbound is not an executable"

# ---- what the daemon is -----------------------------------------------------
info=$("$unbound" -V 2>&1) || true
version=$(sed -n 's/^Version \([0-9][0-9.]*\)$/\1/p' <<<"$info")
line=$(sed -n 's/^Configure line: //p' <<<"$info")
modules=$(sed -n 's/^Linked modules: //p' <<<"$info")
[ -n "$version" ] || die "$unbound -V printed no 'Version X.Y.Z': not an Unbound"
log "$unbound: Unbound $version"
log "configure line: ${line:-(none)}"
case " $modules " in
*" dynlib "*) ;;
*) die "$unbound has no dynlib module (linked modules: ${modules:-none};" \
	"its configure line lacks --with-dynlibmodule), so it cannot load" \
	"dotpool: use an Unbound built with --with-dynlibmodule (Fedora," \
	"FreeBSD's port and OPNsense have one; Debian: docs/deploying.md)" ;;
esac

if [ -z "$work" ]; then
	work=$top/.build-for-unbound/unbound-$version-$(printf '%s' "$line" |
		ubt_sha256 | cut -c1-12)
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)

# ---- the release's source, checked ---------------------------------------------
tarname=unbound-$version.tar.gz
if [ -z "$source" ]; then
	source=$work/$tarname
	if [ ! -f "$source" ]; then
		log "downloading $downloads/$tarname"
		# operators' machines only (the tests give --source): whichever
		# client the system has
		for dl in "curl -fsSLo" "wget -qO" "fetch -qo"; do
			type -P "${dl%% *}" >/dev/null || continue
			if ! $dl "$source.part" "$downloads/$tarname" ||
			   ! $dl "$source.sha256" "$downloads/$tarname.sha256"; then
				die "downloading $downloads/$tarname failed"
			fi
			mv "$source.part" "$source"
			break
		done
		[ -f "$source" ] || die "no curl, wget or fetch to download with"
	fi
fi
[ -f "$source" ] || die "$source does not exist"
if [ -z "$sha" ] && [ -f "$source.sha256" ]; then
	sha=$(grep -oE '[0-9a-f]{64}' "$source.sha256" | head -n 1)
fi
if [ -z "$sha" ] && [ -f "$(dirname "$source")/SHA256SUMS" ]; then
	sha=$(awk -v f="$(basename "$source")" '$2 == f { print $1 }' \
		"$(dirname "$source")/SHA256SUMS")
fi
[ -n "$sha" ] || die "no checksum for $source: give --sha256 HEX" \
	"(published as $downloads/$tarname.sha256)"
ubt_verify "$source" "$sha"
log "$source: SHA-256 $sha matches"

# ---- that source configured with the daemon's line ---------------------------
src=$work/unbound-$version
if [ -f "$src/config.h" ] && [ -f "$work/.configured" ] &&
   [ "$(cat "$work/.configured")" = "$sha $line" ]; then
	log "configured tree (cached): $src"
else
	rm -f "$work/.configured"
	ubt_unpack "$source" "$version" "$src"
	log "configuring Unbound $version with the daemon's line (headers only)"
	# Split as Unbound joined it (`echo $@`): on whitespace, no quoting.
	read -r -a args <<<"$line"
	ubt_configure "$src" "$work/unbound-configure.log" ${args[@]+"${args[@]}"}
	printf '%s\n' "$sha $line" >"$work/.configured"
fi
[ "$(ubt_config_h "$src" PACKAGE_VERSION)" = "$version" ] ||
	die "$source is not Unbound $version"

# ---- where the module goes --------------------------------------------------
# The daemon's own paths, from its configure line (autoconf's defaults).
optval() {
	local a v=
	for a in ${args[@]+"${args[@]}"}; do
		case $a in "--$1="*) v=${a#*=} ;; esac
	done
	printf '%s' "$v"
}
read -r -a args <<<"$line"
prefix=$(optval prefix); prefix=${prefix:-/usr/local}
eprefix=$(optval exec-prefix); eprefix=${eprefix:-$prefix}
libdir=$(optval libdir); libdir=${libdir:-$eprefix/lib}
libdir=${libdir//\$\{exec_prefix\}/$eprefix}
libdir=${libdir//\$\{prefix\}/$prefix}
if [ -z "$conf" ]; then
	# `unbound -h`: "-c file  config file to read instead of FILE"
	conf=$({ "$unbound" -h 2>&1 || true; } |
		sed -n 's/.*config file to read instead of \(.*\)$/\1/p' | head -n 1)
fi
checkconf=$(dirname "$unbound")/unbound-checkconf
chroot=
if [ -n "$conf" ] && [ -r "$conf" ] && [ -x "$checkconf" ]; then
	chroot=$("$checkconf" -o chroot "$conf" 2>/dev/null || true)
fi
# Unbound dlopen()s dynlib-file as written, after it chrooted and changed
# to `directory`: inside a chroot the path is the one seen from within.
if [ -z "$moduledir" ]; then
	moduledir=$libdir/unbound
	case $moduledir/ in
	"$chroot"/*) ;;
	*) [ -z "$chroot" ] || moduledir=${chroot%/} ;;
	esac
fi
dynlib_file=$moduledir/dotpool.so
[ -z "$chroot" ] || dynlib_file=${dynlib_file#"${chroot%/}"}
log "module directory: $moduledir (dynlib-file: \"$dynlib_file\"${chroot:+, chroot $chroot})"

# ---- dotpool against that tree -------------------------------------------------
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh >/dev/null) ||
	die "no ./configure and autogen.sh failed (autoconf, automake, libtool)"
[ ! -f "$top/config.status" ] ||
	die "$top is configured in place (config.status): an out-of-tree build" \
		"needs a clean source tree (make distclean there, or a release tarball)"
build=$work/build
mkdir -p "$build"
log "building dotpool against $src"
(cd "$build" && "$top/configure" --with-unbound-src="$src" \
	--with-moduledir="$moduledir" "$@" >configure.out 2>&1) ||
	die "dotpool's configure failed: see $build/configure.out and config.log"
(cd "$build" && nice -n 10 "${MAKE:-make}" -j"$jobs" >make.out 2>&1) ||
	die "the dotpool build failed: see $build/make.out"
module=$build/.libs/dotpool.so
[ -f "$module" ] || die "the build made no $module"
if [ -n "$check" ]; then
	(cd "$build" && "${MAKE:-make}" check-unit >check.out 2>&1) ||
		die "unit tests failed: see $build/check.out and $build/test-suite.log"
	log "unit tests: $(sed -n 's/^# PASS: *//p' "$build/test-suite.log") passed"
fi

if [ -n "$install" ]; then
	dst=$destdir$moduledir/dotpool.so
	mkdir -p "$destdir$moduledir"
	# install(1) unlinks first: a running Unbound keeps its mapped copy
	install -m 0755 "$module" "$dst"
	# Fedora: a file copied into /usr/lib64 keeps the label of the build
	# directory; restorecon gives it lib_t, which Unbound may map
	if [ -z "$destdir" ] && type -P restorecon >/dev/null; then
		restorecon "$dst" || log "warning: restorecon $dst failed"
	fi
	log "installed $dst"
	current=
	if [ -n "$conf" ] && [ -r "$conf" ] && [ -x "$checkconf" ]; then
		current=$("$checkconf" -o module-config "$conf" 2>/dev/null || true)
	fi
	current=${current:-validator iterator}
	case " $current " in
	*" dynlib "*) want=$current ;;
	*" iterator "*) want=${current/iterator/dynlib iterator} ;;
	*) want="$current dynlib" ;;
	esac
	cat >&2 <<EOF
build-for-unbound: add to ${conf:-unbound.conf} (dotpool before the iterator), then
build-for-unbound: unbound-checkconf and restart Unbound:
server:
	module-config: "$want"
dynlib:
	dynlib-file: "$dynlib_file"
EOF
fi
echo "DOTPOOL_MODULE=$module DOTPOOL_BUILD=$build UNBOUND_SRC=$src MODULEDIR=$moduledir"
