#!/usr/bin/env bash
# Rebuild Debian's own unbound source package with --with-dynlibmodule added,
# so that dotpool (package unbound-dotpool) can be loaded into it; or, with
# UNBOUND_UPSTREAM, backport that packaging to a newer upstream release.
#
#   packaging/unbound-dynlib/build.sh [OUTDIR]
#   UNBOUND_UPSTREAM=1.26.0 packaging/unbound-dynlib/build.sh [OUTDIR]
#
# - fetches the source of the unbound version apt would install (or
#   $UNBOUND_VERSION), with apt-get source;
# - with UNBOUND_UPSTREAM=X.Y.Z: puts that source package's debian/ onto the
#   release tarball of X.Y.Z (the shared ones, checked against their
#   SHA256SUMS; see scripts/unbound-tree.sh), keeping or dropping each of
#   Debian's patches as packaging/unbound-dynlib/backport-patches says, and
#   gives it the version X.Y.Z-0+dotpoolN~debMMu1 (see below);
# - adds --with-dynlibmodule to the daemon's configure in debian/rules;
# - adds the package unbound-module-dev: this build's configured headers,
#   configure line, ABI stamp and unbound-module.pc (module-dev.sh);
# - adds a changelog entry with a local version suffix (dch --local +dynlib),
#   e.g. 1.17.1-2+deb12u4 -> 1.17.1-2+deb12u4+dynlib1;
# - builds the binary packages (dpkg-buildpackage -us -uc -b); lintian must
#   report no errors;
# - leaves, next to the .debs, a configured Unbound tree of exactly that
#   build (OUTDIR/unbound-src: the source plus the daemon build's generated
#   headers) for building unbound-dotpool against it.
#
# The backport's version X.Y.Z-0+dotpool1~deb12u1 sorts above every 1.17.1
# (a newer upstream) and below any Debian revision of X.Y.Z (-0 < -1, and
# below a backports' X.Y.Z-1~bpo12+1 too), so that Debian's own package of
# that release, once there, is an upgrade; ~deb12u1 says which Debian it was
# built for (a Debian 13 build, ~deb13u1, sorts above it).
#
# OUTDIR defaults to .cache/packages in the checkout (for a backport,
# .cache/packages-X.Y.Z). The .debs land in OUTDIR/debs. Reruns with the
# same version do nothing.
# Environment: UNBOUND_VERSION (default: apt's candidate), UNBOUND_UPSTREAM,
# UNBOUND_BACKPORT_REVISION (the N of dotpoolN, default 1),
# DOTPOOL_UNBOUND_TARBALLS (the folder of release tarballs), DEB_BUILD_OPTIONS
# (default: "nocheck parallel=2"; set it to "parallel=2" to run Unbound's own
# tests too), DEBEMAIL/DEBFULLNAME for the changelog entry.
set -euo pipefail
upstream=${UNBOUND_UPSTREAM:-}
# shellcheck source=packaging/common.sh
. "$(dirname "$0")/../common.sh" unbound-dynlib-deb "${1:-}"
# shellcheck source=scripts/unbound-tree.sh
. "$top/scripts/unbound-tree.sh"

for tool in dpkg-buildpackage dch apt-get dpkg-parsechangelog; do
	command -v "$tool" >/dev/null ||
		die "$tool is missing: scripts/deps.sh pkg installs what this needs"
done

# The version to rebuild: $UNBOUND_VERSION, else the installed unbound's (its
# Debian version, without a local suffix of ours), else apt's candidate.
version=${UNBOUND_VERSION:-$(dpkg-query -W -f='${Version}' unbound 2>/dev/null || true)}
version=${version%%+dynlib*}
candidate() { apt-cache policy unbound 2>/dev/null | sed -n 's/^ *Candidate: //p'; }
if [ -z "$version" ]; then
	version=$(candidate)
	if [ -z "$version" ] || [ "$version" = "(none)" ]; then
		# e.g. a container build stage that removed the apt lists
		as_root apt-get update -qq
		version=$(candidate)
	fi
fi
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
	die "apt knows no unbound package version to rebuild"
fi
if [ -n "$upstream" ]; then
	debian_release=$(. /etc/os-release && echo "${VERSION_ID%%.*}")
	[ -n "$debian_release" ] || die "cannot tell the Debian release from /etc/os-release"
	newversion=$upstream-0+dotpool${UNBOUND_BACKPORT_REVISION:-1}~deb${debian_release}u1
	work=$out/build-unbound-$newversion
else
	work=$out/build-unbound-$version
fi
stamp=$work/.done
# The stamp records only the rebuilt version: the paths are made from
# where the cache is now, so a cache reached through another checkout (a
# symlinked .cache, a moved tree) never points at a directory that is gone.
stamp_vars() {
	echo "UNBOUND_DEB_VERSION=$1 UNBOUND_DEB_SRC=$out/unbound-src-$1 UNBOUND_DEBS=$out/debs"
}
stamp_line() { echo "$(stamp_vars "$1") UNBOUND_DEB_RECIPE=$recipe"; }
# The recipe: bumped when what the rebuild makes changes (2: also the
# unbound-module-dev package), so that a cache made by an older recipe, as
# CI's may be, is rebuilt rather than taken.
recipe=2
if [ -f "$stamp" ]; then
	cached=$(sed -n 's/^UNBOUND_DEB_VERSION=\([^ ]*\).*/\1/p' "$stamp")
	cached_recipe=$(sed -n 's/.*UNBOUND_DEB_RECIPE=\([0-9]*\).*/\1/p' "$stamp")
	if [ -n "$cached" ] && [ "$cached_recipe" = "$recipe" ] &&
	   [ -f "$out/unbound-src-$cached/config.h" ] &&
	   ls "$out/debs/unbound-module-dev_${cached#*:}_"*.deb >/dev/null 2>&1; then
		log "cached: $(stamp_vars "$cached")"
		stamp_vars "$cached"
		exit 0
	fi
	log "stale cache stamp $stamp: rebuilding"
fi

rm -rf "$work"
mkdir -p "$work"
log "fetching the source of unbound $version"
(cd "$work" && apt-get source -qq --download-only "unbound=$version" >/dev/null &&
	dpkg-source -x --no-check unbound_*.dsc debian-src >/dev/null) ||
	die "apt-get source unbound=$version failed (a deb-src entry is needed)"
src=$work/src
if [ -z "$upstream" ]; then
	mv "$work/debian-src" "$src"
else
	tarball=$(ubt_release_tarball "$top" "$upstream")
	log "backporting the packaging of $version to $tarball"
	ubt_unpack "$tarball" "$upstream" "$src"
	ln -s "$tarball" "$work/unbound_$upstream.orig.tar.gz"
	cp -a "$work/debian-src/debian" "$src/debian"
	rm -rf "$work/debian-src"
	# Debian's patches: each kept or dropped by decision, none silently.
	table=$top/packaging/unbound-dynlib/backport-patches
	: >"$work/series"
	while read -r p; do
		case $p in ''|'#'*) continue ;; esac
		action=$(awk -v p="$p" '$2 == p { print $1 }' "$table")
		case $action in
		keep)
			(cd "$src" && patch -p1 --dry-run -s <"debian/patches/$p" >/dev/null) ||
				die "debian/patches/$p no longer applies to $upstream: refresh it or drop it in $table"
			echo "$p" >>"$work/series" ;;
		drop) rm -f "$src/debian/patches/$p" ;;
		*) die "Debian's patch $p is not in $table: decide whether $upstream needs it" ;;
		esac
	done <"$src/debian/patches/series"
	mv "$work/series" "$src/debian/patches/series"
	find "$src/debian/patches" -mindepth 1 -type d -empty -delete
	log "patches kept: $(tr '\n' ' ' <"$src/debian/patches/series")"
fi
cd "$src"

log "installing the build dependencies"
as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./ >/dev/null

# The daemon is configured once, in the rule that makes b/unbound/config.h;
# its first option line is "--with-pythonmodule \". Add ours right after it
# and check that it landed in that rule and nowhere else.
grep -q -- '--with-dynlibmodule' debian/rules &&
	die "debian/rules already mentions --with-dynlibmodule; nothing to rebuild"
sed -i 's/^\(\t\t--with-pythonmodule \\\)$/\1\n\t\t--with-dynlibmodule \\/' debian/rules
[ "$(grep -c -- '--with-dynlibmodule' debian/rules)" = 1 ] ||
	die "could not add --with-dynlibmodule to debian/rules (layout changed?)"
awk '/^b\/unbound\/config.h:/{r=1} r&&/--with-dynlibmodule/{ok=1} /^$/{r=0}
	END{exit !ok}' debian/rules ||
	die "--with-dynlibmodule is not in the daemon's configure rule"

# unbound-module-dev: the configured headers of this very build, for
# building modules such as dotpool against it (as nginx-dev is for nginx's
# modules). Filled by module-dev.sh after the daemon is installed into
# debian/tmp; not with the libonly profile, which builds no daemon.
install -m 0755 "$top/packaging/unbound-dynlib/module-dev.sh" debian/module-dev.sh
grep -q '^Package: unbound-module-dev$' debian/control &&
	die "debian/control already has unbound-module-dev"
cat >>debian/control <<'CONTROL'

Package: unbound-module-dev
Section: devel
Architecture: any
Build-Profiles: <!pkg.unbound.libonly>
Depends: libevent-dev, libssl-dev, ${unbound-module:Depends}, ${misc:Depends}
Description: configured internals of the unbound daemon, for building its modules
 The config.h and the internal headers of exactly this build of the unbound
 daemon, its configure line, an ABI stamp and a pkg-config file
 (unbound-module), for compiling modules that the daemon loads through its
 dynlib module, such as dotpool.
 .
 Unbound has no stable module ABI: a module built against these headers
 only fits the unbound package of the same version.
CONTROL
# The configured config.h is what the package is for.
cat >debian/unbound-module-dev.lintian-overrides <<'OVERRIDES'
# The configured config.h of the daemon build is this package's purpose:
# modules are compiled against exactly it.
unbound-module-dev: package-name-defined-in-config-h usr/include/unbound-module/config.h
OVERRIDES
# Debian 12's own unbound (1.17.1-2+deb12u4) already carries this one: its
# control Depends on lsb-base for the init script's /lib/lsb/init-functions.
# The rebuild keeps Debian's dependencies as Debian ships them.
if grep -q '^ lsb-base' debian/control; then
	cat >>debian/unbound.lintian-overrides <<'OVERRIDES'
# Debian 12's own package depends on lsb-base (init script); the dynlib
# rebuild keeps Debian's dependencies unchanged.
unbound: depends-on-obsolete-package Depends: lsb-base *
OVERRIDES
fi
grep -q '^execute_after_dh_auto_install:' debian/rules &&
	die "debian/rules already has an execute_after_dh_auto_install target"
cat >>debian/rules <<'RULES'

# unbound-module-dev (added by dotpool's packaging/unbound-dynlib/build.sh)
execute_after_dh_auto_install:
	$(if ${libonly},, sh debian/module-dev.sh b/unbound debian/unbound-module-dev \
		${DEB_HOST_MULTIARCH} $(shell dpkg-parsechangelog -SVersion))
RULES

dist=$(dpkg-parsechangelog -S Distribution)
export DEBEMAIL=${DEBEMAIL:-maintainers@users.noreply.r-seed-0a8fc41d.example}
export DEBFULLNAME=${DEBFULLNAME:-dotpool maintainers}
if [ -n "$upstream" ]; then
	dch --newversion "$newversion" --distribution "$dist" --force-distribution \
		"New upstream release $upstream: the packaging of Debian's $version, backported." 2>/dev/null
	dch --append "Debian's patches that $upstream has upstream, or has its own form of, are dropped (packaging/unbound-dynlib/backport-patches in dotpool says which and why)." 2>/dev/null
	dch --append "Rebuild with --with-dynlibmodule, so that dynlib modules such as dotpool can be loaded." 2>/dev/null
else
	dch --local +dynlib --distribution "$dist" --force-distribution \
		"Rebuild with --with-dynlibmodule, so that dynlib modules such as dotpool can be loaded." 2>/dev/null
fi
dch --append "New package unbound-module-dev: this build's configured headers, configure line, ABI stamp and unbound-module.pc." 2>/dev/null
built=$(dpkg-parsechangelog -S Version)
case $built in
"$version"+dynlib*) [ -z "$upstream" ] || die "unexpected new version $built" ;;
"${newversion:-}") ;;
*) die "unexpected new version $built" ;;
esac
newversion=$built
log "building unbound $newversion (several minutes)"
started=$(date +%s)
DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2} \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 ||
	die "dpkg-buildpackage failed, see $work/build.log"
log "built in $(( $(date +%s) - started ))s"
grep -q '^#define WITH_DYNLIBMODULE 1' b/unbound/config.h ||
	die "the package build did not enable the dynlib module"

if command -v lintian >/dev/null; then
	log "lintian (on the rebuild; errors fail it):"
	lintian --fail-on error "$work"/unbound_"${newversion#*:}"_*.changes >"$work/lintian.log" 2>&1 ||
		{ cat "$work/lintian.log" >&2; die "lintian reports errors"; }
	log "lintian: $(grep -c '^E:' "$work/lintian.log") errors, $(grep -c '^W:' "$work/lintian.log") warnings (see $work/lintian.log)"
fi

# The .debs.
mkdir -p "$out/debs"
find "$work" -maxdepth 1 -name "*_${newversion#*:}_*.deb" -exec mv {} "$out/debs/" \;
ls "$out/debs/unbound_${newversion#*:}_"*.deb >/dev/null 2>&1 ||
	die "no unbound .deb was produced"
devdeb=$(find "$out/debs" -maxdepth 1 -name "unbound-module-dev_${newversion#*:}_*.deb" | head -n 1)
[ -n "$devdeb" ] || die "no unbound-module-dev .deb was produced"
# (the listing whole first: grep -q stopping early would fail the pipe)
devlist=$(dpkg-deb -c "$devdeb")
grep -q '/usr/include/unbound-module/util/module\.h$' <<<"$devlist" ||
	die "$devdeb has no util/module.h"

# The configured tree the module is compiled against: sources plus the
# headers configure generated in the out-of-tree daemon build.
tree=$out/unbound-src-$newversion
rm -rf "$tree"
mkdir -p "$tree"
tar -C "$src" --exclude=./b --exclude=./debian/tmp --exclude='./debian/unbound*' \
	--exclude='./debian/libunbound*' --exclude='./debian/python3-unbound' \
	-cf - . | tar -C "$tree" -xf -
(cd b/unbound && find . -name '*.h' -print0 | tar --null -T - -cf -) |
	tar -C "$tree" -xf -
grep -q '^#define WITH_DYNLIBMODULE 1' "$tree/config.h" ||
	die "the configured tree $tree has no dynlib config.h"
printf '%s\n' "$newversion" >"$tree/.dotpool-unbound-version"
ln -sfn "$(basename "$tree")" "$out/unbound-src"
rm -rf "$src/b"

stamp_line "$newversion" >"$stamp"
stamp_vars "$newversion"
