# shellcheck shell=bash
# Shared by the tests that install the .debs into a throw-away Debian 12
# (test_packages.sh, test_upgrade.sh); sourced once the test set name (its
# log prefix) and needs (the commands it needs). Skips (77) unless root and
# every one of needs is there; gives say, fail and stamp (say with the
# seconds since the start). Sets tmp (removed at exit), pids and mounts (killed and
# unmounted at exit), base (the cached debootstrap, only ever the lower
# layer of an overlay: never written after it is made) and gives:
#
#   chroot_base                   debootstrap the base once (cached)
#   chroot_prepare DIR            a fresh overlay of the base at DIR/root,
#                                 with /proc, /dev and Debian's apt sources
#   chroot_local_repo ROOT DEBDIR the local repository of DEBDIR at
#                                 ROOT/srv/debs, as the apt source pinned at
#                                 990 (apt-repo.sh --install-source), apt-get
#                                 update; no service starts in ROOT
#   pair_build OUT                the unbound + unbound-dotpool pair in OUT
#                                 (packaging/dotpool-deb/build.sh: built, or
#                                 taken from its cache; UNBOUND_UPSTREAM as
#                                 there), its variables set (UNBOUND_DEBS,
#                                 DOTPOOL_DEB, UNBOUND_DEB_VERSION, ...)
#   pick_port                     a free loopback port
#   dot_upstream                  a DoT server on the host (the stock Debian
#                                 unbound, a CA made here) at 127.0.0.1@$up_port
#                                 serving www.dotpool.test and
#                                 www.dotpool.example; its CA is $up/ca.pem
#   resolver_conf ROOT PORT MODULE  ROOT/etc/dotpool-test/unbound.conf: an
#                                 Unbound with dotpool (MODULE) at PORT,
#                                 forwarding dotpool.test over DoT to it
#   resolve PORT NAME WANT        true once NAME's A record at PORT is WANT
#                                 (50 tries of about 1 s: a minute when nothing
#                                 answers); the last answer in $answer
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
: "${name:?}" "${needs:?}"
say() { printf '%s: %s\n' "$name" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { say "SKIP: needs root (debootstrap, mount, chroot)"; exit 77; }
for t in $needs; do
	command -v "$t" >/dev/null || { say "SKIP: $t missing (scripts/deps.sh pkg test)"; exit 77; }
done
t0=$(date +%s)
stamp() { say "[$(( $(date +%s) - t0 ))s] $*"; }
tmp=$(mktemp -d /var/tmp/dotpool-pkgtest.XXXXXX)
pids=()
mounts=()
# one chroot base for every version and test
base=${DOTPOOL_CHROOT_BASE:-$top/.cache/packages/chroot-bookworm}
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

chroot_base() {
	local mirror
	[ -x "$base/usr/bin/apt-get" ] && return 0
	mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
		grep -v security | head -n 1)
	mirror=${mirror:-http://deb.debian.org/debian}
	stamp "debootstrap bookworm from $mirror (cached for later runs)"
	rm -rf "$base.new"
	debootstrap --variant=minbase bookworm "$base.new" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$tmp/debootstrap.log"; fail "debootstrap failed"; }
	mv "$base.new" "$base"
}

# As a container engine would start from debian:bookworm (deb822 sources):
# the same Debian suites as the host, which the packages were built against.
chroot_prepare() {
	mkdir -p "$1/upper" "$1/work" "$1/root"
	mount -t overlay overlay -o "lowerdir=$base,upperdir=$1/upper,workdir=$1/work" "$1/root"
	mounts+=("$1/root")
	mount -t proc proc "$1/root/proc"; mounts+=("$1/root/proc")
	mount --bind /dev "$1/root/dev"; mounts+=("$1/root/dev")
	cp /etc/resolv.conf "$1/root/etc/resolv.conf" 2>/dev/null || true
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		cp /etc/apt/sources.list.d/debian.sources "$1/root/etc/apt/sources.list.d/"
		rm -f "$1/root/etc/apt/sources.list"
	fi
}

chroot_local_repo() {
	local root=$1 debs=$2
	mkdir -p "$root/srv/debs"
	mount --bind "$debs" "$root/srv/debs"; mounts+=("$root/srv/debs")
	# the operator's step: apt source + pin, as apt-repo.sh --install-source writes them
	"$top/packaging/apt-repo.sh" "$debs" --install-source --root "$root" \
		--repo-path /srv/debs >/dev/null || fail "apt-repo.sh --install-source failed"
	# Install only: no service may start inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod +x "$root/usr/sbin/policy-rc.d"
	chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$tmp/apt.log" 2>&1 ||
		{ tail -n 20 "$tmp/apt.log"; fail "apt-get update failed in the chroot"; }
}

pair_build() {
	local vars
	vars=$("$top/packaging/dotpool-deb/build.sh" "$1" | tail -n 1) || return 1
	eval "$vars"
}

pick_port() {
	local p
	while :; do
		p=$(( 20000 + RANDOM % 30000 ))
		ss -Hltun "( sport = :$p )" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

dot_upstream() {
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
}

resolver_conf() {
	local root=$1 port=$2 module=$3
	mkdir -p "$root/etc/dotpool-test"
	cp "$up/ca.pem" "$root/etc/dotpool-test/ca.pem"
	: >"$root/etc/dotpool-test/dotpool.conf"
	cat >"$root/etc/dotpool-test/unbound.conf" <<CONF
server:
	interface: 127.0.0.1@$port
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
}

resolve() {
	local _
	answer=
	for _ in $(seq 1 50); do
		answer=$(kdig -p "$1" @127.0.0.1 +short +timeout=1 +retry=0 \
			"$2" A 2>/dev/null || true)
		[ "$answer" = "$3" ] && return 0
		sleep 0.2
	done
	return 1
}
