#!/usr/bin/env bash
# packaging/rpm/unbound-dotpool.spec with Debian's rpm tools: rpmbuild -bb
# from `make dist`'s tarball and the shared Unbound 1.24.2 source (the
# release Fedora ships), built for the Fedora-configured 1.24.2 daemon
# (scripts/unbound-upstream.sh 1.24.2 fedora) standing in for Fedora's
# /usr/sbin/unbound. Checks: the files the package lists, its one unbound
# requirement, exactly the build it was made for (epoch:version-release of
# the installed unbound, read from an rpm database holding stand-in unbound
# packages with and without an epoch), the packaged module answering in that
# daemon (tests/integration/test_answers.sh), rpmlint without errors.
# Not checkable here: Fedora's own macros and BuildRequires (rpmbuild
# --nodeps: Debian's rpm database knows no Fedora package), mock, SELinux.
# Time: about a minute.
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
for t in rpmbuild rpmspec rpm2cpio cpio; do
	command -v "$t" >/dev/null || skip_all "no $t (scripts/deps.sh pkg installs rpm)"
done
find_unbound_tarballs 1.24.2
spec=$top/packaging/rpm/unbound-dotpool.spec
tmp=$(mktemp -d)
if [ "${DOTPOOL_KEEP:-0}" = 1 ]; then
	echo "$name: keeping $tmp"
else
	trap 'rm -rf "$tmp"' EXIT
fi
uv=$(sed -n 's/^%global unbound_version //p' "$spec")
check_that "the spec names Fedora's unbound release ($uv)" test "$uv" = 1.24.2

vars=$("$top/scripts/unbound-upstream.sh" "$uv" fedora 2>"$tmp/ub.log" | tail -n 1) ||
	{ cat "$tmp/ub.log"; flunk "Unbound $uv (fedora) builds"; finish; exit; }
prefix=$(sed -n 's/.*UNBOUND_PREFIX=\([^ ]*\).*/\1/p' <<<"$vars")

# ---- rpmbuild -bb -------------------------------------------------------------
mkdir -p "$tmp/rpm/SOURCES"
dist=$(dist_tarball "$tmp") || { flunk "make dist"; finish; exit; }
cp "$dist" "$tarballs/unbound-$uv.tar.gz" "$tmp/rpm/SOURCES/"
# what NLnet Labs publishes next to a release: its SHA-256
awk -v f="unbound-$uv.tar.gz" '$2 == f { print $1 }' "$tarballs/SHA256SUMS" \
	>"$tmp/rpm/SOURCES/unbound-$uv.tar.gz.sha256"
if rpmbuild -bb --nodeps --define "_topdir $tmp/rpm" \
	--define "unbound_bin $prefix/sbin/unbound" "$spec" >"$tmp/rpmbuild.log" 2>&1; then
	pass "rpmbuild -bb"
else
	flunk "rpmbuild -bb"; tail -n 30 "$tmp/rpmbuild.log"; finish; exit
fi
rpm=$(find "$tmp/rpm/RPMS" -name 'unbound-dotpool-*.rpm' | head -n 1)
check_that "rpmbuild wrote unbound-dotpool-*.rpm" test -f "$rpm"
check_that "%check ran the unit suites" \
	grep -q '^# PASS: *[1-9]' "$tmp/rpmbuild.log"

# ---- what it holds and needs -----------------------------------------------------
files=$(rpm -qpl "$rpm")
lib=$(rpm --eval '%{_libdir}')
for f in "$lib/unbound/dotpool.so" /usr/sbin/dotpool-checkconf \
	/usr/lib/systemd/system/unbound.service.d/dotpool.conf \
	/usr/share/doc/unbound-dotpool/dotpool.conf.sample \
	/usr/share/doc/unbound-dotpool/unbound.conf.sample \
	/usr/share/doc/unbound-dotpool/examples/unbound.conf.d/dotpool.conf; do
	check_that "the package lists $f" grep -qx "$f" <<<"$files"
done
check_that "the package lists both man pages" test "$(grep -c \
	-e '^/usr/share/man/man5/dotpool\.conf\.5' \
	-e '^/usr/share/man/man8/dotpool-checkconf\.8' <<<"$files")" = 2
check_that "no libtool archive in the package" test -z "$(grep '\.la$' <<<"$files")"
requires=$(rpm -qp --requires "$rpm" | grep '^unbound')
check_that "its one unbound requirement is exact: '$requires'" \
	test "$requires" = "unbound(x86-64) = $uv"

# The requirement is the installed unbound's [epoch:]version-release:
# stand-in unbound packages in an rpm database of their own.
fake_unbound() {
	local epoch=$1 version=$2 release=$3 dir=$tmp/fake-$1-$2
	mkdir -p "$dir"
	cat >"$dir/unbound.spec" <<EOF
Name: unbound
${epoch:+Epoch: $epoch}
Version: $version
Release: $release
Summary: stand-in for Fedora's unbound in an rpm database
License: BSD-3-Clause
%description
stand-in
%files
EOF
	if ! { rpmbuild -bb --define "_topdir $dir" "$dir/unbound.spec" &&
		rpm --dbpath "$dir/db" --initdb &&
		rpm --dbpath "$dir/db" -i --justdb --nodeps --noscripts \
			"$(find "$dir/RPMS" -name '*.rpm')"; } >"$dir/build.log" 2>&1; then
		tail -n 10 "$dir/build.log"
		return 1
	fi
	rpmspec -q --requires --define "_dbpath $dir/db" "$spec" 2>/dev/null | grep '^unbound'
}
check_that "installed unbound 1:$uv-7.fc43: requires exactly that" test \
	"$(fake_unbound 1 "$uv" 7.fc43)" = "unbound(x86-64) = 1:$uv-7.fc43"
check_that "installed unbound $uv-2.fc43 (no epoch): requires exactly that" test \
	"$(fake_unbound '' "$uv" 2.fc43)" = "unbound(x86-64) = $uv-2.fc43"

# ---- the packaged module in its daemon -----------------------------------------
mkdir -p "$tmp/root"
(cd "$tmp/root" && rpm2cpio "$rpm" | cpio -idm --quiet)
check_that "the example's dynlib-file is the packaged module" \
	grep -qF "dynlib-file: \"$lib/unbound/dotpool.so\"" \
	"$tmp/root/usr/share/doc/unbound-dotpool/examples/unbound.conf.d/dotpool.conf"
tree=$tmp/$(basename "$dist" .tar.gz)
tar -xzf "$dist" -C "$tmp"
if (cd "$tree" && env top_srcdir="$tree" DOTPOOL_MODULE="$tmp/root$lib/unbound/dotpool.so" \
	UNBOUND_PREFIX="$prefix" bash tests/integration/test_answers.sh) \
	>"$tmp/answers.log" 2>&1; then
	pass "the packaged module answers in Unbound $uv (fedora): test_answers.sh"
else
	flunk "the packaged module answers in Unbound $uv (fedora)"
	tail -n 30 "$tmp/answers.log"
fi

# ---- rpmlint ----------------------------------------------------------------------
if command -v rpmlint >/dev/null; then
	lint=$(rpmlint -r "$top/packaging/rpm/unbound-dotpool.rpmlintrc" "$rpm" "$spec" 2>&1)
	summary=$(grep -E '[0-9]+ errors, [0-9]+ warnings' <<<"$lint")
	check_that "rpmlint: no errors ($summary)" grep -q ' 0 errors' <<<"$summary"
	grep -E '^[^ ]+: E: ' <<<"$lint" || true
else
	echo "$name: rpmlint not installed: not run"
fi
finish
