#!/usr/bin/env bash
# Packaging end to end (slow: `make check-packages`, not in `make check`):
#  1. build Debian's unbound with --with-dynlibmodule (+dynlib1) and the
#     unbound-dotpool package against it; lintian must be clean;
#  2. put both in a local apt repository;
#     (3b. below: the packager's way, in the chroot, from a clean clone)
#  3. in a throw-away Debian 12 chroot (debootstrap, cached, then a fresh
#     overlay per run, so the host's packages are never touched),
#     `apt-get install unbound unbound-dotpool` from that repository;
#  4. start that installed Unbound with dotpool, on a random loopback port,
#     forwarding a test zone over DoT to the host's stock Debian unbound
#     serving TLS with a CA made here; resolve a name through it;
#  5. check the packaged module refuses another Unbound build (ABI guard).
# (The container image built from these .debs: test_container.sh.)
# Needs root (debootstrap, mount, chroot) and the Debian mirror of apt's
# sources. Skips (77) when not root.
# Environment: UNBOUND_UPSTREAM=X.Y.Z runs it all for the backport of
# Debian's packaging to upstream X.Y.Z (packaging/unbound-dynlib/build.sh)
# instead of the rebuild of Debian's own unbound;
# DOTPOOL_PKG_OUT (default .cache/packages under the checkout, for a
# backport .cache/packages-X.Y.Z),
# DOTPOOL_CLONE_BUILD_OPTIONS (DEB_BUILD_OPTIONS of the clean-clone build,
# default "nocheck parallel=2"),
# DOTPOOL_CHROOT_BASE (default $DOTPOOL_PKG_OUT/chroot-bookworm).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=${top:-$(cd "$(dirname "$0")/../.." && pwd)}
name=test_packages
needs="debootstrap dpkg-buildpackage lintian dch kdig openssl git"
# shellcheck source=tests/packaging/chroot.sh
. "$top/tests/packaging/chroot.sh"
out=${DOTPOOL_PKG_OUT:-$top/.cache/packages${UNBOUND_UPSTREAM:+-$UNBOUND_UPSTREAM}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stock_sum=$(sha256sum /usr/sbin/unbound | cut -d' ' -f1)

# ---- 1. packages ---------------------------------------------------------
stamp "building the packages (unbound rebuild is cached after the first run)"
pair_build "$out" || fail "building the packages failed"
: "${UNBOUND_DEBS:?}" "${DOTPOOL_DEB:?}" "${UNBOUND_DEB_VERSION:?}"
stamp "packages: $(cd "$UNBOUND_DEBS" && echo ./*.deb)"

# ---- 2. local apt repository ---------------------------------------------
"$top/packaging/apt-repo.sh" "$UNBOUND_DEBS" >/dev/null || fail "apt-repo.sh failed"
[ -s "$UNBOUND_DEBS/Packages" ] || fail "no Packages index in $UNBOUND_DEBS"
grep -q '^Package: unbound-dotpool$' "$UNBOUND_DEBS/Packages" ||
	fail "unbound-dotpool is not in the repository index"

# ---- 3. a fresh Debian 12 to install into ---------------------------------
chroot_base
chroot_prepare "$tmp/inst"
root=$tmp/inst/root
chroot_local_repo "$root" "$UNBOUND_DEBS"
stamp "apt-get install unbound unbound-dotpool (in the chroot)"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends unbound unbound-dotpool >>"$tmp/apt.log" 2>&1 ||
	{ tail -n 30 "$tmp/apt.log"; fail "apt-get install unbound unbound-dotpool failed"; }
# shellcheck disable=SC2016 # a dpkg-query format, not an expansion
v_unbound=$(chroot "$root" dpkg-query -W -f='${Version}' unbound)
# shellcheck disable=SC2016
v_dotpool=$(chroot "$root" dpkg-query -W -f='${Version}' unbound-dotpool)
stamp "installed unbound $v_unbound, unbound-dotpool $v_dotpool"
[ "$v_unbound" = "$UNBOUND_DEB_VERSION" ] ||
	fail "apt chose unbound $v_unbound, not the dynlib build $UNBOUND_DEB_VERSION"
# The pin holds the rebuild even against a newer Debian unbound.
policy=$(chroot "$root" apt-cache policy unbound)
grep -q '^ *990 file:/srv/debs' <<<"$policy" ||
	{ echo "$policy"; fail "the local repository is not pinned at 990"; }
chroot "$root" /usr/sbin/unbound -V | grep -q -- '--with-dynlibmodule' ||
	fail "the installed unbound was not built with --with-dynlibmodule"
module=$(chroot "$root" dpkg -L unbound-dotpool | grep '/dotpool\.so$' | head -n 1)
[ -n "$module" ] || fail "unbound-dotpool ships no dotpool.so"
for f in /lib/systemd/system/unbound.service.d/dotpool.conf \
	/usr/sbin/dotpool-checkconf \
	/usr/share/man/man5/dotpool.conf.5.gz \
	/usr/share/man/man8/dotpool-checkconf.8.gz \
	/usr/share/doc/unbound-dotpool/unbound.conf.sample; do
	[ -f "$root$f" ] || fail "unbound-dotpool does not ship $f"
done

# ---- 3b. the packager's way: a clean clone, build-dep, dpkg-buildpackage ----
# In the chroot, from a git clone of the checkout (its last commit), with
# only the local repository and Debian's: apt-get build-dep installs the
# exact unbound-module-dev, configure finds it through pkg-config, no source
# tree anywhere. The package built so replaces the installed one, so the
# steps below run the module built this way.
stamp "clean clone: apt-get build-dep ./ && dpkg-buildpackage -us -uc -b (in the chroot)"
rm -rf "$root/build"
mkdir -p "$root/build"
git clone -q "$top" "$root/build/dotpool" || fail "git clone of $top failed"
[ ! -e "$root/build/dotpool/.cache" ] || fail "the clone has a .cache"
# debian/control names the default rebuild's unbound-module-dev; for a
# backport, the packager names that one instead (as dotpool-deb/build.sh does).
if [ -n "${UNBOUND_UPSTREAM:-}" ]; then
	sed -i "s/^\( *unbound-module-dev (= \)[^)]*)/\1$UNBOUND_DEB_VERSION)/" \
		"$root/build/dotpool/debian/control"
fi
grep -qF "unbound-module-dev (= $UNBOUND_DEB_VERSION)" "$root/build/dotpool/debian/control" ||
	fail "debian/control does not Build-Depend on unbound-module-dev (= $UNBOUND_DEB_VERSION): update it to the rebuild's version"
chroot "$root" sh -c 'cd /build/dotpool && DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq ./' \
	>"$tmp/build-dep.log" 2>&1 ||
	{ tail -n 30 "$tmp/build-dep.log"; fail "apt-get build-dep ./ failed in the chroot"; }
# shellcheck disable=SC2016 # a dpkg-query format, not an expansion
v_dev=$(chroot "$root" dpkg-query -W -f='${Version}' unbound-module-dev) ||
	fail "apt-get build-dep did not install unbound-module-dev"
[ "$v_dev" = "$v_unbound" ] || fail "unbound-module-dev $v_dev is not unbound's version $v_unbound"
chroot "$root" sh -c "cd /build/dotpool && DEB_BUILD_OPTIONS='${DOTPOOL_CLONE_BUILD_OPTIONS:-nocheck parallel=2}' dpkg-buildpackage -us -uc -b" \
	>"$tmp/clone-build.log" 2>&1 ||
	{ tail -n 30 "$tmp/clone-build.log"; fail "dpkg-buildpackage failed in the clean clone"; }
grep -q "checking for unbound-module (pkg-config)... /usr/include/unbound-module" "$tmp/clone-build.log" ||
	fail "configure did not find the Unbound headers through pkg-config unbound-module"
clone_deb=$(find "$root/build" -maxdepth 1 -name 'unbound-dotpool_*.deb' | head -n 1)
[ -n "$clone_deb" ] || fail "the clean-clone build made no unbound-dotpool .deb"
dpkg-deb -f "$clone_deb" Depends | grep -qF "unbound (= $v_unbound)" ||
	fail "$(basename "$clone_deb") does not depend on unbound (= $v_unbound)"
lintian --fail-on error "$root"/build/dotpool_*.changes >"$tmp/clone-lintian.log" 2>&1 ||
	{ cat "$tmp/clone-lintian.log"; fail "lintian reports errors on the clean-clone build"; }
chroot "$root" dpkg -i "/build/$(basename "$clone_deb")" >>"$tmp/apt.log" 2>&1 ||
	fail "the clean-clone unbound-dotpool does not install"
stamp "clean clone: built and installed $(basename "$clone_deb") (lintian: $(grep -c '^E:' "$tmp/clone-lintian.log") errors, $(grep -c '^W:' "$tmp/clone-lintian.log") warnings)"
say "module: $module"

# ---- 4. a DoT upstream on the host: stock Debian unbound, test CA ---------
dot_upstream

# ---- 5. the installed Unbound with dotpool, inside the chroot ------------
res_port=$(pick_port)
while [ "$res_port" = "$up_port" ]; do res_port=$(pick_port); done
resolver_conf "$root" "$res_port" "$module"
chroot "$root" /usr/sbin/unbound-checkconf /etc/dotpool-test/unbound.conf >/dev/null ||
	fail "the installed unbound-checkconf rejects the test configuration"
chroot "$root" /usr/sbin/dotpool-checkconf -c /etc/dotpool-test/unbound.conf \
	/etc/dotpool-test/dotpool.conf >/dev/null ||
	fail "the installed dotpool-checkconf rejects the test configuration"
chroot "$root" env DOTPOOL_CONF=/etc/dotpool-test/dotpool.conf \
	/usr/sbin/unbound -d -c /etc/dotpool-test/unbound.conf &
pids+=($!)

# ---- 6. resolve ------------------------------------------------------------
resolve "$res_port" www.dotpool.test 192.0.2.53
log=$root/etc/dotpool-test/unbound.log
[ "$answer" = 192.0.2.53 ] ||
	{ grep -iE "error|fail|dotpool|dynlib|warn" "$log" 2>/dev/null | tail -n 30
	  fail "www.dotpool.test did not resolve through the installed unbound+dotpool (got '$answer')"; }
grep -q "load library.*dotpool\.so\|dynlibmod.*dotpool\.so" "$log" ||
	{ grep -i dynlib "$log" | head; fail "the log does not show dotpool.so being loaded"; }
grep -q "dotpool: loaded, 1 TLS forward zone" "$log" ||
	{ grep -i dotpool "$log" | head; fail "dotpool did not log that it took the TLS forward zone"; }
stamp "resolved www.dotpool.test -> $answer via 127.0.0.1@$res_port (installed unbound $v_unbound + dotpool) -> DoT 127.0.0.1@$up_port (stock unbound)"

# ---- 7. the ABI guard: the packaged module refuses another Unbound build ------
# The project's dev Unbound (scripts/unbound-dynlib.sh) is the same version
# with another configure line: the module must refuse to load into it.
dev_unbound=
for u in "$top"/.cache/unbound-*/prefix/sbin/unbound; do
	[ -x "$u" ] && { dev_unbound=$u; break; }
done
if [ -n "$dev_unbound" ] && "$dev_unbound" -V | grep -q dynlib; then
	guard_port=$(pick_port)
	sed -e "s|127.0.0.1@$res_port|127.0.0.1@$guard_port|" \
		-e "s|\"/etc/dotpool-test|\"$root/etc/dotpool-test|g" \
		-e "s|dynlib-file: \"$module\"|dynlib-file: \"$root$module\"|" \
		-e "s|logfile: .*|logfile: \"\"|" \
		"$root/etc/dotpool-test/unbound.conf" >"$tmp/guard.conf"
	if guard_out=$(timeout 10 "$dev_unbound" -d -c "$tmp/guard.conf" 2>&1); then
		fail "the packaged module loaded into another Unbound build ($dev_unbound)"
	fi
	if grep -q "dotpool: " <<<"$guard_out"; then
		stamp "ABI guard: the packaged module refuses $dev_unbound: $(grep -m1 'dotpool: ' <<<"$guard_out" | sed 's/^.*dotpool: /dotpool: /' | cut -c1-160)"
	else
		fail "another Unbound build did not start, but not because of dotpool: $(tail -n 5 <<<"$guard_out")"
	fi
else
	say "no dev dynlib Unbound under .cache: ABI guard check skipped"
fi

[ "$(sha256sum /usr/sbin/unbound | cut -d' ' -f1)" = "$stock_sum" ] ||
	fail "the host's /usr/sbin/unbound changed"
stamp "PASS (host's /usr/sbin/unbound untouched)"
