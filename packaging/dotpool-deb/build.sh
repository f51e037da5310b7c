#!/usr/bin/env bash
# Build the unbound-dotpool .deb against the dynlib rebuild of Debian's
# unbound (made first, or taken from the cache, by
# packaging/unbound-dynlib/build.sh), then run lintian on it. It builds
# against the configured tree that script leaves (build profile
# pkg.dotpool.unbound-tree), so that the host needs no unbound-module-dev
# installed; tests/packaging/test_packages.sh builds the packager's way, from
# a clean clone with the -dev package, in a chroot.
#
#   packaging/dotpool-deb/build.sh [OUTDIR]
#
# The build runs in a copy of the sources under OUTDIR (default
# .cache/packages), never in the checkout: dpkg-buildpackage cleans its tree.
# DOTPOOL_DEB_SOURCE=head builds the last commit (git archive HEAD);
# the default, "worktree", copies the tracked and untracked-but-not-ignored
# files of the work tree; "dir" copies the directory as it is (no git).
# UNBOUND_UPSTREAM=X.Y.Z builds it for the backport to that upstream release
# (see packaging/unbound-dynlib/build.sh; OUTDIR default .cache/packages-X.Y.Z).
# Last line of output: UNBOUND_DEBS=<dir with all the .debs> DOTPOOL_DEB=<file>
# UNBOUND_DEB_VERSION=<the unbound it is for>
set -euo pipefail
# shellcheck source=packaging/common.sh
. "$(dirname "$0")/../common.sh" dotpool-deb "${1:-}"

vars=$("$top/packaging/unbound-dynlib/build.sh" "$out" | tail -n 1)
eval "$vars"
: "${UNBOUND_DEB_SRC:?}" "${UNBOUND_DEBS:?}" "${UNBOUND_DEB_VERSION:?}"

version=$(dpkg-parsechangelog -l"$top/debian/changelog" -SVersion)
upstream=${version%-*}
work=$out/build-dotpool
rm -rf "$work"
mkdir -p "$work/dotpool-$upstream"
case ${DOTPOOL_DEB_SOURCE:-worktree} in
head)
	git -C "$top" archive --format=tar HEAD | tar -C "$work/dotpool-$upstream" -xf - ;;
worktree)
	(cd "$top" && git ls-files -z -co --exclude-standard |
		tar --null -T - -cf - 2>/dev/null) | tar -C "$work/dotpool-$upstream" -xf - ;;
dir)
	# a plain directory, e.g. a container build context (no .git)
	tar -C "$top" --exclude=./.cache --exclude=./.git -cf - . |
		tar -C "$work/dotpool-$upstream" -xf - ;;
*) die "DOTPOOL_DEB_SOURCE must be head, worktree or dir" ;;
esac
[ -x "$work/dotpool-$upstream/debian/rules" ] || die "no debian/rules in the copied sources"
# debian/control Build-Depends on the exact unbound-module-dev of the
# default rebuild (what a clean clone's `apt-get build-dep .` installs); the
# copy names the unbound this build is for, so that its .dsc and control
# tell the truth for another one (e.g. the 1.26.0 backport) too.
control=$work/dotpool-$upstream/debian/control
grep -q '^ *unbound-module-dev (= [^)]*)' "$control" ||
	die "debian/control has no exact unbound-module-dev Build-Depends"
named=$(sed -n 's/^ *unbound-module-dev (= \([^)]*\)).*/\1/p' "$control")
if [ "$named" != "$UNBOUND_DEB_VERSION" ]; then
	log "note: debian/control names unbound-module-dev $named; building for $UNBOUND_DEB_VERSION"
	sed -i "s/^\( *unbound-module-dev (= \)[^)]*)/\1$UNBOUND_DEB_VERSION)/" "$control"
fi

log "building unbound-dotpool $version against unbound $UNBOUND_DEB_VERSION"
started=$(date +%s)
(cd "$work/dotpool-$upstream" &&
	DOTPOOL_UNBOUND_SRC=$UNBOUND_DEB_SRC \
	DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2} \
	dpkg-buildpackage -us -uc -b -Ppkg.dotpool.unbound-tree) >"$work/build.log" 2>&1 ||
	die "dpkg-buildpackage failed, see $work/build.log"
log "built in $(( $(date +%s) - started ))s"
arch=$(dpkg --print-architecture)
# its binary version is $version+unbound<that unbound's version> (debian/rules)
deb=$(find "$work" -maxdepth 1 -name "unbound-dotpool_${version}+unbound*_${arch}.deb" | head -n 1)
[ -n "$deb" ] || die "no unbound-dotpool_${version}+unbound*_${arch}.deb in $work"
dpkg-deb -f "$deb" Depends | grep -qF "unbound (= $UNBOUND_DEB_VERSION)" ||
	die "$deb does not depend on unbound (= $UNBOUND_DEB_VERSION)"

if command -v lintian >/dev/null; then
	log "lintian:"
	lintian -I --fail-on error,warning "$work/dotpool_${version}_${arch}.changes" >&2 ||
		die "lintian reports errors or warnings"
	log "lintian: no errors or warnings"
else
	log "lintian is not installed: skipped (scripts/deps.sh pkg)"
fi
cp "$deb" "$UNBOUND_DEBS/"
echo "UNBOUND_DEBS=$UNBOUND_DEBS DOTPOOL_DEB=$UNBOUND_DEBS/$(basename "$deb") UNBOUND_DEB_VERSION=$UNBOUND_DEB_VERSION"
