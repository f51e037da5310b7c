#!/usr/bin/env bash
# Upgrading the pair (slow: `make check-packages-all`, not in CI's tier):
#  1. in a fresh Debian 12 overlay, install the 1.17.1 pair (unbound
#     +dynlib1, unbound-dotpool) from the local repository; start it and
#     resolve a name over DoT through dotpool;
#  2. make the 1.26.0 backport pair available too (a second local
#     repository, pinned the same);
#  3. apt refuses to install the 1.26.0 unbound with the 1.17.1
#     unbound-dotpool;
#  4. `apt-get upgrade` takes both to 1.26.0; Unbound with dotpool comes
#     back and answers;
#  5. a manual mismatch (the 1.17.1 module copied in and loaded by the
#     1.26.0 daemon) is refused by the module's ABI guard: Unbound does not
#     start with it;
#  6. dpkg alone does not check the Depends of installed packages on what it
#     replaces: `dpkg -i` of the 1.17.1 unbound under the 1.26.0
#     unbound-dotpool goes through, but leaves the dependency broken (apt-get
#     check says so), the ABI guard keeps that pair from running, and
#     `apt-get -f install` restores a matching pair.
# Needs root and the Debian mirror of apt's sources; skips (77) otherwise.
# Environment: DOTPOOL_PKG_OUT (the 1.17.1 pair, default .cache/packages),
# DOTPOOL_PKG_OUT_NEW (the backport's, default .cache/packages-$UNBOUND_NEW),
# UNBOUND_NEW (default 1.26.0), DOTPOOL_CHROOT_BASE (as test_packages.sh).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=${top:-$(cd "$(dirname "$0")/../.." && pwd)}
name=test_upgrade
needs="debootstrap dpkg-buildpackage dch kdig openssl"
# shellcheck source=tests/packaging/chroot.sh
. "$top/tests/packaging/chroot.sh"
new=${UNBOUND_NEW:-1.26.0}
old_out=${DOTPOOL_PKG_OUT:-$top/.cache/packages}
new_out=${DOTPOOL_PKG_OUT_NEW:-$top/.cache/packages-$new}

# ---- the two pairs (built, or taken from their caches) --------------------
stamp "the 1.17.1 pair and the $new pair (cached after the first build)"
pair_build "$old_out" || fail "building the 1.17.1 pair failed"
old_debs=$UNBOUND_DEBS old_v=$UNBOUND_DEB_VERSION old_dotpool=$DOTPOOL_DEB
old_dv=$(dpkg-deb -f "$DOTPOOL_DEB" Version)
UNBOUND_UPSTREAM=$new pair_build "$new_out" ||
	fail "building the $new pair failed"
new_debs=$UNBOUND_DEBS new_v=$UNBOUND_DEB_VERSION
new_dv=$(dpkg-deb -f "$DOTPOOL_DEB" Version)
dpkg --compare-versions "$new_dv" gt "$old_dv" ||
	fail "unbound-dotpool $new_dv (for $new_v) does not sort above $old_dv (for $old_v): apt would not upgrade it"
dpkg --compare-versions "$new_v" gt "$old_v" || fail "$new_v does not sort above $old_v"
for d in "$old_debs" "$new_debs"; do
	"$top/packaging/apt-repo.sh" "$d" >/dev/null || fail "apt-repo.sh $d failed"
done
stamp "old: unbound $old_v; new: unbound $new_v"

# ---- 1. the 1.17.1 pair, installed and answering ---------------------------
chroot_base
chroot_prepare "$tmp/up"
root=$tmp/up/root
chroot_local_repo "$root" "$old_debs"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends unbound unbound-dotpool >>"$tmp/apt.log" 2>&1 ||
	{ tail -n 30 "$tmp/apt.log"; fail "apt-get install unbound unbound-dotpool failed"; }
# versions: "unbound unbound-dotpool", as installed now
installed() {
	# shellcheck disable=SC2016 # a dpkg-query format, not an expansion
	chroot "$root" dpkg-query -W -f='${Version} ${Status}\n' unbound unbound-dotpool 2>/dev/null |
		awk '$4 == "installed" { printf "%s ", $1 } $4 != "installed" { printf "(%s:%s) ", $1, $4 }' |
		sed 's/ $//'
}
[ "$(installed)" = "$old_v $old_dv" ] || fail "installed: $(installed), not unbound $old_v + unbound-dotpool $old_dv"
module=$(chroot "$root" dpkg -L unbound-dotpool | grep '/dotpool\.so$' | head -n 1)
[ -n "$module" ] || fail "unbound-dotpool ships no dotpool.so"
dot_upstream
res_port=$(pick_port)
while [ "$res_port" = "$up_port" ]; do res_port=$(pick_port); done
resolver_conf "$root" "$res_port" "$module"
# start_resolver: the installed unbound with dotpool, in the chroot; its pid in $res_pid
start_resolver() {
	: >"$root/etc/dotpool-test/unbound.log"
	chroot "$root" env DOTPOOL_CONF=/etc/dotpool-test/dotpool.conf \
		/usr/sbin/unbound -d -c /etc/dotpool-test/unbound.conf &
	res_pid=$!
	pids+=("$res_pid")
}
stop_resolver() { kill "$res_pid" 2>/dev/null || true; wait "$res_pid" 2>/dev/null || true; }
# answers_through_dotpool WHAT: the installed pair, started, answers over
# DoT through dotpool; stopped again
answers_through_dotpool() {
	start_resolver
	resolve "$res_port" www.dotpool.test 192.0.2.53 ||
		{ tail -n 20 "$root/etc/dotpool-test/unbound.log"; fail "$1 did not answer (got '$answer')"; }
	grep -q "dotpool: loaded, 1 TLS forward zone" "$root/etc/dotpool-test/unbound.log" ||
		fail "$1 answered, but dotpool did not take the zone"
	stamp "$1: www.dotpool.test -> $answer through dotpool"
	stop_resolver
}
answers_through_dotpool "the 1.17.1 pair"

# ---- 2. the new pair becomes available -------------------------------------
mkdir -p "$root/srv/debs-new"
mount --bind "$new_debs" "$root/srv/debs-new"; mounts+=("$root/srv/debs-new")
echo "deb [trusted=yes] file:/srv/debs-new ./" >>"$root/etc/apt/sources.list.d/dotpool-local.list"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$tmp/apt.log" 2>&1 ||
	{ tail -n 20 "$tmp/apt.log"; fail "apt-get update with the new repository failed"; }
# shellcheck disable=SC2016
cand=$(chroot "$root" apt-cache policy unbound | sed -n 's/^ *Candidate: //p')
[ "$cand" = "$new_v" ] || fail "apt's candidate for unbound is $cand, not $new_v"

# ---- 3. apt will not pair them ------------------------------------------------
if out=$(chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	"unbound=$new_v" "unbound-dotpool=$old_dv" 2>&1); then
	fail "apt installed unbound $new_v with unbound-dotpool $old_dv"
fi
[ "$(installed)" = "$old_v $old_dv" ] ||
	fail "apt-get install unbound=$new_v with the old unbound-dotpool left: $(installed)"
stamp "apt refuses unbound $new_v with unbound-dotpool $old_dv: $(grep -m1 -i 'depends\|unable\|broken' <<<"$out" | sed 's/^ *//')"

# ---- 4. apt-get upgrade: both, and it answers --------------------------------
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >>"$tmp/apt.log" 2>&1 ||
	{ tail -n 30 "$tmp/apt.log"; fail "apt-get upgrade failed"; }
[ "$(installed)" = "$new_v $new_dv" ] || fail "after apt-get upgrade: $(installed), not unbound $new_v + unbound-dotpool $new_dv"
# shellcheck disable=SC2016
dep=$(chroot "$root" dpkg-query -W -f='${Depends}' unbound-dotpool)
grep -qF "unbound (= $new_v)" <<<"$dep" || fail "the upgraded unbound-dotpool depends on '$dep'"
chroot "$root" /usr/sbin/unbound -V | grep -q "^Version $new\$" ||
	fail "the upgraded unbound is not $new: $(chroot "$root" /usr/sbin/unbound -V | head -n 1)"
answers_through_dotpool "after apt-get upgrade, unbound $new_v + unbound-dotpool"

# guard_refuses WHAT: the installed unbound, with the dynlib-file of the
# test configuration, refuses to start because of dotpool's ABI guard
guard_refuses() {
	: >"$root/etc/dotpool-test/unbound.log"
	if timeout 20 chroot "$root" env DOTPOOL_CONF=/etc/dotpool-test/dotpool.conf \
		/usr/sbin/unbound -d -c /etc/dotpool-test/unbound.conf >"$tmp/guard.out" 2>&1; then
		fail "$1: unbound ran"
	fi
	refusal=$(cat "$tmp/guard.out" "$root/etc/dotpool-test/unbound.log" | grep -m1 'dotpool: .*built for Unbound' || true)
	[ -n "$refusal" ] ||
		{ tail -n 10 "$tmp/guard.out" "$root/etc/dotpool-test/unbound.log"; fail "$1: unbound did not start, but not because of the ABI guard"; }
	if resolve "$res_port" www.dotpool.test 192.0.2.53; then fail "$1: something answers"; fi
	stamp "ABI guard, $1: dotpool: ${refusal#*dotpool: }"
}

# ---- 5. a manual mismatch: the ABI guard ---------------------------------------
mkdir -p "$tmp/oldmod"
dpkg-deb -x "$old_dotpool" "$tmp/oldmod"
old_so=$(find "$tmp/oldmod" -name dotpool.so | head -n 1)
[ -n "$old_so" ] || fail "no dotpool.so in $old_dotpool"
cp "$old_so" "$root/etc/dotpool-test/dotpool-1.17.1.so"
sed -i "s|dynlib-file: .*|dynlib-file: \"/etc/dotpool-test/dotpool-1.17.1.so\"|" \
	"$root/etc/dotpool-test/unbound.conf"
guard_refuses "unbound $new_v with the 1.17.1 module copied in"
sed -i "s|dynlib-file: .*|dynlib-file: \"$module\"|" "$root/etc/dotpool-test/unbound.conf"

# ---- 6. dpkg alone: the pair broken, not run, repaired by apt --------------------
deb_old_unbound=$(cd "$old_debs" && find . -maxdepth 1 -name "unbound_${old_v#*:}_*.deb" -printf '%f\n' | head -n 1)
out=$(chroot "$root" dpkg -i "/srv/debs/$deb_old_unbound" 2>&1) ||
	{ echo "$out" | tail -n 8; fail "dpkg -i of unbound $old_v failed"; }
if check=$(chroot "$root" apt-get check 2>&1); then
	fail "apt-get check sees nothing wrong with unbound $old_v under unbound-dotpool $new_dv"
fi
grep -q "unbound-dotpool : Depends: unbound (= $new_v)" <<<"$check" ||
	{ echo "$check"; fail "apt-get check fails, but not for unbound-dotpool's exact Depends"; }
stamp "dpkg -i unbound $old_v under unbound-dotpool $new_dv: installed, and apt-get check reports: $(grep -m1 'unbound-dotpool :' <<<"$check" | sed 's/^ *//')"
guard_refuses "unbound $old_v (by dpkg -i) with unbound-dotpool $new_dv"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >>"$tmp/apt.log" 2>&1 ||
	{ tail -n 30 "$tmp/apt.log"; fail "apt-get -f install failed"; }
[ "$(installed)" = "$new_v $new_dv" ] || fail "after apt-get -f install: $(installed)"
answers_through_dotpool "after apt-get -f install, unbound $new_v + unbound-dotpool"
stamp "PASS"
