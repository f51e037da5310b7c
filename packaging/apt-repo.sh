#!/usr/bin/env bash
# Make a local apt repository of a directory of .debs (by default the one the
# packaging/*/build.sh scripts fill), so that an operator can
#   apt install unbound unbound-dotpool
# with apt preferring the dynlib rebuild over Debian's unbound.
#
#   packaging/apt-repo.sh [DEBDIR] [--install-source [--root DIR] [--repo-path PATH]]
#
# Writes DEBDIR/Packages(.gz) and DEBDIR/Release (flat repository), prints
# the apt sources line. With --install-source (root), also writes
# /etc/apt/sources.list.d/dotpool-local.list and a pin in
# /etc/apt/preferences.d/dotpool-local that ranks this repository above
# Debian's, then runs apt-get update. --root DIR writes them under DIR
# instead (a chroot or image being prepared; no apt-get update), where the
# repository is seen at --repo-path (default: DEBDIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/.cache/packages/debs
install_source=
root=
repo_path=
while [ $# -gt 0 ]; do
	case $1 in
	--install-source) install_source=1 ;;
	--root) root=${2:?--root needs a directory}; shift ;;
	--repo-path) repo_path=${2:?--repo-path needs a path}; shift ;;
	-*) echo "apt-repo.sh: unknown option $1" >&2; exit 2 ;;
	*) dir=$1 ;;
	esac
	shift
done
[ -d "$dir" ] || { echo "apt-repo.sh: no directory $dir" >&2; exit 1; }
dir=$(cd "$dir" && pwd)
ls "$dir"/*.deb >/dev/null 2>&1 || { echo "apt-repo.sh: no .deb in $dir" >&2; exit 1; }
command -v dpkg-scanpackages >/dev/null ||
	{ echo "apt-repo.sh: dpkg-scanpackages missing (apt install dpkg-dev)" >&2; exit 1; }

(cd "$dir" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null &&
	gzip -9nc Packages >Packages.gz)
# Release lists the index files' checksums: written outside the directory,
# so that it does not list itself.
rm -f "$dir/Release"
release=$(mktemp)
{
	echo "Origin: dotpool-local"
	echo "Label: dotpool-local"
	echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
	if command -v apt-ftparchive >/dev/null; then
		apt-ftparchive release "$dir" | grep -v '^Date:'
	fi
} >"$release"
mv "$release" "$dir/Release"
chmod 644 "$dir/Release"
line="deb [trusted=yes] file:${repo_path:-$dir} ./"
echo "$line"

if [ -n "$install_source" ]; then
	mkdir -p "$root/etc/apt/sources.list.d" "$root/etc/apt/preferences.d"
	echo "$line" >"$root/etc/apt/sources.list.d/dotpool-local.list"
	cat >"$root/etc/apt/preferences.d/dotpool-local" <<PIN
# The dynlib rebuild of unbound (version suffix +dynlibN) and unbound-dotpool
# come from here, even where Debian has the same upstream version.
Package: *
Pin: release o=dotpool-local
Pin-Priority: 990
PIN
	[ -n "$root" ] && exit 0
	apt-get update -qq -o Dir::Etc::sourcelist=sources.list.d/dotpool-local.list \
		-o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
fi
