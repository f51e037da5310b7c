#!/usr/bin/env bash
# Rebuild Debian's own unbound source package with --with-dynlibmodule added,
# so that dotpool (package unbound-dotpool) can be loaded into it.
#
#   packaging/unbound-dynlib/build.sh [OUTDIR]
#
# - fetches the source of the unbound version apt would install (or
#   $UNBOUND_VERSION), with apt-get source;
# - adds --with-dynlibmodule to the daemon's configure in debian/rules;
# - adds a changelog entry with a local version suffix (dch --local +dynlib),
#   e.g. 1.17.1-2+deb12u4 -> 1.17.1-2+deb12u4+dynlib1;
# - builds the binary packages (dpkg-buildpackage -us -uc -b);
# - leaves, next to the .debs, a configured Unbound tree of exactly that
#   build (OUTDIR/unbound-src: the source plus the daemon build's generated
#   headers) for building unbound-dotpool against it.
#
# OUTDIR defaults to .cache/packages in the checkout. The .debs land in
# OUTDIR/debs. Reruns with the same version do nothing.
# Environment: UNBOUND_VERSION (default: apt's candidate), DEB_BUILD_OPTIONS
# (default: "nocheck parallel=2"; set it to "parallel=2" to run Unbound's own
# tests too), DEBEMAIL/DEBFULLNAME for the changelog entry.
set -euo pipefail
# shellcheck source=packaging/common.sh
. "$(dirname "$0")/../common.sh" unbound-dynlib-deb "${1:-}"

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
work=$out/build-unbound-$version
stamp=$work/.done
# The stamp records only the rebuilt version: the paths are made from
# where the cache is now, so a cache reached through another checkout (a
# symlinked .cache, a moved tree) never points at a directory that is gone.
stamp_vars() {
	echo "UNBOUND_DEB_VERSION=$1 UNBOUND_DEB_SRC=$out/unbound-src-$1 UNBOUND_DEBS=$out/debs"
}
if [ -f "$stamp" ]; then
	cached=$(sed -n 's/^UNBOUND_DEB_VERSION=\([^ ]*\).*/\1/p' "$stamp")
	if [ -n "$cached" ] && [ -f "$out/unbound-src-$cached/config.h" ] &&
	   [ -d "$out/debs" ]; then
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
	dpkg-source -x --no-check unbound_*.dsc src >/dev/null) ||
	die "apt-get source unbound=$version failed (a deb-src entry is needed)"
src=$work/src
cd "$src"

log "installing the build dependencies"
as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq \
	"unbound=$version" >/dev/null

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

dist=$(dpkg-parsechangelog -S Distribution)
DEBEMAIL=${DEBEMAIL:-maintainers@users.noreply.r-seed-0a8fc41d.example} DEBFULLNAME=${DEBFULLNAME:-dotpool maintainers} \
	dch --local +dynlib --distribution "$dist" --force-distribution \
	"Rebuild with --with-dynlibmodule, so that dynlib modules such as dotpool can be loaded." 2>/dev/null
newversion=$(dpkg-parsechangelog -S Version)
case $newversion in
"$version"+dynlib*) ;;
*) die "unexpected new version $newversion" ;;
esac
log "building unbound $newversion (several minutes)"
started=$(date +%s)
DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck parallel=2} \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 ||
	die "dpkg-buildpackage failed, see $work/build.log"
log "built in $(( $(date +%s) - started ))s"
grep -q '^#define WITH_DYNLIBMODULE 1' b/unbound/config.h ||
	die "the package build did not enable the dynlib module"

# The .debs.
mkdir -p "$out/debs"
find "$work" -maxdepth 1 -name "*_${newversion#*:}_*.deb" -exec mv {} "$out/debs/" \;
ls "$out/debs/unbound_${newversion#*:}_"*.deb >/dev/null 2>&1 ||
	die "no unbound .deb was produced"

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

stamp_vars "$newversion" >"$stamp"
cat "$stamp"
