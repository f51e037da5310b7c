#!/usr/bin/env bash
# Packaging end to end (slow: `make check-packages`, not in `make check`):
#  1. build Debian's unbound with --with-dynlibmodule (+dynlib1) and the
#     unbound-dotpool package against it; lintian must be clean;
#  2. put both in a local apt repository;
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
# Environment: DOTPOOL_PKG_OUT (default .cache/packages under the checkout),
# DOTPOOL_CHROOT_BASE (default $DOTPOOL_PKG_OUT/chroot-bookworm).
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=${top:-$(cd "$(dirname "$0")/../.." && pwd)}
name=test_packages
say() { printf '%s: %s\n' "$name" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { say "SKIP: needs root (debootstrap, mount, chroot)"; exit 77; }
for t in debootstrap dpkg-buildpackage lintian dch kdig openssl; do
	command -v "$t" >/dev/null || { say "SKIP: $t missing (scripts/deps.sh pkg test)"; exit 77; }
done
t0=$(date +%s)
stamp() { say "[$(( $(date +%s) - t0 ))s] $*"; }

out=${DOTPOOL_PKG_OUT:-$top/.cache/packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
base=${DOTPOOL_CHROOT_BASE:-$out/chroot-bookworm}
stock_sum=$(sha256sum /usr/sbin/unbound | cut -d' ' -f1)

tmp=$(mktemp -d /var/tmp/dotpool-pkgtest.XXXXXX)
root=$tmp/merged
pids=()
mounts=()
cleanup() {
	local p m i
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# unmount in reverse order
	for (( i=${#mounts[@]}-1; i>=0; i-- )); do
		m=${mounts[$i]}
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- 1. packages ---------------------------------------------------------
stamp "building the packages (unbound rebuild is cached after the first run)"
vars=$("$top/packaging/dotpool-deb/build.sh" "$out" | tail -n 1) ||
	fail "building the packages failed"
eval "$vars"
: "${UNBOUND_DEBS:?}" "${DOTPOOL_DEB:?}"
stamp "packages: $(cd "$UNBOUND_DEBS" && echo ./*.deb)"

# ---- 2. local apt repository ---------------------------------------------
"$top/packaging/apt-repo.sh" "$UNBOUND_DEBS" >/dev/null || fail "apt-repo.sh failed"
[ -s "$UNBOUND_DEBS/Packages" ] || fail "no Packages index in $UNBOUND_DEBS"
grep -q '^Package: unbound-dotpool$' "$UNBOUND_DEBS/Packages" ||
	fail "unbound-dotpool is not in the repository index"

# ---- 3. a fresh Debian 12 to install into ---------------------------------
if [ ! -x "$base/usr/bin/apt-get" ]; then
	mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
		grep -v security | head -n 1)
	mirror=${mirror:-http://deb.debian.org/debian}
	stamp "debootstrap bookworm from $mirror (cached for later runs)"
	rm -rf "$base.new"
	debootstrap --variant=minbase bookworm "$base.new" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$tmp/debootstrap.log"; fail "debootstrap failed"; }
	mv "$base.new" "$base"
fi
mkdir -p "$tmp/upper" "$tmp/work" "$root"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$tmp/upper,workdir=$tmp/work" "$root"
mounts+=("$root")
mount -t proc proc "$root/proc"; mounts+=("$root/proc")
mount --bind /dev "$root/dev"; mounts+=("$root/dev")
mkdir -p "$root/srv/debs"
mount --bind "$UNBOUND_DEBS" "$root/srv/debs"; mounts+=("$root/srv/debs")
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# Same Debian suites as the host (the packages were built against them).
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
	rm -f "$root/etc/apt/sources.list"
fi
# the operator's step: apt source + pin, as apt-repo.sh --install-source writes them
"$top/packaging/apt-repo.sh" "$UNBOUND_DEBS" --install-source --root "$root" \
	--repo-path /srv/debs >/dev/null || fail "apt-repo.sh --install-source failed"
# Install only: no service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
stamp "apt-get install unbound unbound-dotpool (in the chroot)"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$tmp/apt.log" 2>&1 ||
	{ tail -n 20 "$tmp/apt.log"; fail "apt-get update failed in the chroot"; }
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends unbound unbound-dotpool >>"$tmp/apt.log" 2>&1 ||
	{ tail -n 30 "$tmp/apt.log"; fail "apt-get install unbound unbound-dotpool failed"; }
# shellcheck disable=SC2016 # a dpkg-query format, not an expansion
v_unbound=$(chroot "$root" dpkg-query -W -f='${Version}' unbound)
# shellcheck disable=SC2016
v_dotpool=$(chroot "$root" dpkg-query -W -f='${Version}' unbound-dotpool)
stamp "installed unbound $v_unbound, unbound-dotpool $v_dotpool"
case $v_unbound in *+dynlib*) ;; *) fail "apt chose unbound $v_unbound, not the dynlib rebuild" ;; esac
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
say "module: $module"

# ---- 4. a DoT upstream on the host: stock Debian unbound, test CA ---------
pick_port() {
	local p
	while :; do
		p=$(( 20000 + RANDOM % 30000 ))
		ss -Hltun "( sport = :$p )" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}
up=$tmp/upstream
mkdir -p "$up"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=dotpool test CA" -keyout "$up/ca.key" -out "$up/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=upstream.dotpool.test" -keyout "$up/server.key" -out "$up/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:upstream.dotpool.test\n' >"$up/ext"
openssl x509 -req -in "$up/server.csr" -CA "$up/ca.pem" -CAkey "$up/ca.key" \
	-CAcreateserial -days 1 -extfile "$up/ext" -out "$up/server.pem" 2>/dev/null
chmod 644 "$up"/*.pem "$up"/*.key
up_port=$(pick_port)
cat >"$up/unbound.conf" <<CONF
server:
	interface: 127.0.0.1@$up_port
	tls-port: $up_port
	tls-service-key: "$up/server.key"
	tls-service-pem: "$up/server.pem"
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "$up"
	pidfile: "$up/unbound.pid"
	use-syslog: no
	logfile: "$up/unbound.log"
	auto-trust-anchor-file: ""
	local-zone: "dotpool.test." static
	local-data: "www.dotpool.test. 300 IN A 192.0.2.53"
	local-zone: "dotpool.example." static
	local-data: "www.dotpool.example. 300 IN A 192.0.2.54"
remote-control:
	control-enable: no
CONF
/usr/sbin/unbound-checkconf "$up/unbound.conf" >/dev/null || fail "upstream config rejected"
/usr/sbin/unbound -d -c "$up/unbound.conf" &
pids+=($!)

# ---- 5. the installed Unbound with dotpool, inside the chroot ------------
res_port=$(pick_port)
while [ "$res_port" = "$up_port" ]; do res_port=$(pick_port); done
mkdir -p "$root/etc/dotpool-test"
cp "$up/ca.pem" "$root/etc/dotpool-test/ca.pem"
: >"$root/etc/dotpool-test/dotpool.conf"
cat >"$root/etc/dotpool-test/unbound.conf" <<CONF
server:
	interface: 127.0.0.1@$res_port
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "/etc/dotpool-test"
	pidfile: "/etc/dotpool-test/unbound.pid"
	use-syslog: no
	logfile: "/etc/dotpool-test/unbound.log"
	verbosity: 4
	module-config: "validator dynlib iterator"
	tls-cert-bundle: "/etc/dotpool-test/ca.pem"
	do-not-query-localhost: no
	domain-insecure: "dotpool.test."
	# test. is one of Unbound's default (RFC 6761) local zones
	local-zone: "test." nodefault
dynlib:
	dynlib-file: "$module"
remote-control:
	control-enable: no
forward-zone:
	name: "dotpool.test."
	forward-tls-upstream: yes
	forward-addr: 127.0.0.1@$up_port#upstream.dotpool.test
CONF
chroot "$root" /usr/sbin/unbound-checkconf /etc/dotpool-test/unbound.conf >/dev/null ||
	fail "the installed unbound-checkconf rejects the test configuration"
chroot "$root" /usr/sbin/dotpool-checkconf -c /etc/dotpool-test/unbound.conf \
	/etc/dotpool-test/dotpool.conf >/dev/null ||
	fail "the installed dotpool-checkconf rejects the test configuration"
chroot "$root" env DOTPOOL_CONF=/etc/dotpool-test/dotpool.conf \
	/usr/sbin/unbound -d -c /etc/dotpool-test/unbound.conf &
pids+=($!)

# ---- 6. resolve ------------------------------------------------------------
answer=
for _ in $(seq 1 50); do
	answer=$(kdig -p "$res_port" @127.0.0.1 +short +timeout=1 +retry=0 \
		www.dotpool.test A 2>/dev/null || true)
	[ "$answer" = 192.0.2.53 ] && break
	sleep 0.2
done
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
