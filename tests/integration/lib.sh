# shellcheck shell=bash
# lib.sh -- the harness every dotpool integration test sources.
#
#   . "$(dirname "$0")/lib.sh"
#
# Everything runs on loopback with ports picked at random and bind-tested, so
# two runs never collide; nothing here can reach the internet (the Unbound
# under test forwards "." to a dead loopback port unless told otherwise).
#
# Environment (make check sets the first three; defaults suit a built tree):
#   DOTPOOL_MODULE     the module to load      (default $top/.libs/dotpool.so)
#   UNBOUND_SRC        configured Unbound tree; its ../prefix holds the
#                      dynlib build under test (or set UNBOUND_PREFIX)
#   top_srcdir         the checkout
#   DOTPOOL_KEEP=1     keep the temp dir (its path is printed) for a post-mortem
#   DOTPOOL_VALGRIND=1 run every Unbound under test under valgrind
#   DOTPOOL_VERBOSITY  default verbosity of the Unbound under test (2)
#   DOTPOOL_LSAN=1     preload libasan into the Unbound under test, for a module
#                      built with ./configure --enable-sanitizers (done anyway
#                      when the module links libasan); leak and ASan reports
#                      go to <instance>/asan.* and fail dp_unbound_stop
#                      (a module built with gcc -fsanitize=thread: libtsan
#                      is preloaded, reports in <instance>/tsan.*)
#
# API (all names start with dp_ or assert_; nothing else is defined):
#   setup      dp_require TOOL...          skip (77) unless every tool exists
#              dp_free_port                print an unused loopback port
#              dp_pki                      CA + server certificates in $DP_PKI
#              dp_zone_write FILE          the standard dotpool.test. zone
#              dp_zone_sign FILE ORIGIN    sign it; FILE.signed, FILE.ds
#   upstream   dp_upstream_start NAME [-k CERT] [-z ORIGIN=FILE]...
#              dp_upstream_queries NAME    its total.num.queries counter
#              dp_forward_tls ZONE NAME [AUTHNAME]   forward-zone clause text
#              dp_forward_plain ZONE NAME            (plain DNS) clause text
#              dp_blackhole_start NAME     DoT server that never answers
#              dp_relay_start NAME PORT MS TCP relay to PORT, MS each way;
#                                          its own port is dp_get NAME port
#   under test dp_unbound_start NAME [options] <<EOF  server options, clauses
#              dp_unbound_stop NAME        clean stop; fails the test if not
#              dp_unbound_reload NAME, dp_control NAME ARGS..., dp_alive NAME
#   accessors  dp_get NAME KEY  (port, tls_port, pid, conf, log, dir, ...)
#   queries    dp_query PORT QNAME QTYPE [dig options]  -> DP_RCODE DP_FLAGS
#                                              DP_ANSWER DP_AUTHORITY
#   capture    dp_capture_start NAME [BPF], dp_capture_stop NAME; the file
#              is dp_get NAME pcap
#              dp_pcap_has_name PCAP QNAME, dp_pcap_count PCAP FILTER [PORT]
#   checks     assert_eq, assert_ne, assert_le, assert_ge, assert_match,
#              assert_grep, assert_no_grep, assert_alive, dp_fail
#   dotpool    assert_dotpool_loaded NAME, assert_dotpool_carried NAME UP,
#              dp_dotpool_connects NAME UP [AUTHNAME]   (from NAME's log)
#   jobs       dp_spawn NAME CMD..., dp_spawn_wait NAME, dp_get NAME status
#   the end    dp_pass                     stops what is left, checks that no
#                                          process is left, exits 0
# Instances (upstreams and Unbounds under test) live in $DP_TMP/<NAME>/.

set -u -o pipefail

DP_TEST=$(basename "$0" .sh)
DP_TOP=${top_srcdir:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)}
DOTPOOL_MODULE=${DOTPOOL_MODULE:-$DP_TOP/.libs/dotpool.so}
if [ -z "${UNBOUND_PREFIX:-}" ]; then
	if [ -n "${UNBOUND_SRC:-}" ]; then
		UNBOUND_PREFIX=$(dirname "$UNBOUND_SRC")/prefix
	else
		UNBOUND_PREFIX=$(ls -d "$DP_TOP"/.cache/unbound-*/prefix 2>/dev/null |
			tail -n 1)
	fi
fi
# The dynlib build (the daemon under test) and Debian's stock one (upstream).
DP_UNBOUND=${DP_UNBOUND:-$UNBOUND_PREFIX/sbin/unbound}
DP_UNBOUND_CONTROL=${DP_UNBOUND_CONTROL:-$UNBOUND_PREFIX/sbin/unbound-control}
DP_STOCK_UNBOUND=${DP_STOCK_UNBOUND:-/usr/sbin/unbound}
DP_STOCK_CONTROL=${DP_STOCK_CONTROL:-/usr/sbin/unbound-control}
# The name on the good server certificate, and the test zone.
DP_DOT_NAME=dot.dotpool.test
DP_ZONE=dotpool.test
# Seconds to wait for a daemon to come up or go away (valgrind is slow).
DP_WAIT=${DP_WAIT:-20}
# Seconds dp_query waits for an answer; raised to 15 once an instance runs
# under valgrind.
DP_QUERY_TIME=${DP_QUERY_TIME:-3}

# ---- messages ----------------------------------------------------------------

# dp_log MSG...: progress line on stdout (make check keeps it in the .log).
dp_log() { printf '[%s] %s\n' "$DP_TEST" "$*"; }

# dp_fail MSG...: report a failed expectation, show the logs, exit 1. Also
# from inside $(...): the test's main shell is told to exit too.
dp_fail() {
	printf '[%s] FAIL: %s\n' "$DP_TEST" "$*" >&2
	dp__dump_logs >&2
	[ "$BASHPID" != "$$" ] && kill -USR1 "$$" 2>/dev/null
	exit 1
}

# dp_skip MSG...: this test cannot run here (a tool is missing). Exit 77.
dp_skip() {
	printf '[%s] SKIP: %s\n' "$DP_TEST" "$*" >&2
	exit 77
}

dp__dump_logs() {
	local f d
	[ -d "${DP_TMP:-}" ] || return 0
	for d in "$DP_TMP"/*/; do
		[ -f "$d/pid" ] && [ ! -f "$d/status" ] || continue
		kill -0 "$(cat "$d/pid")" 2>/dev/null && continue
		printf '%s\n' "NOTE: $(basename "$d") (pid $(cat "$d/pid")) died without being stopped"
	done
	for f in "$DP_TMP"/*/unbound.log "$DP_TMP"/*/stderr \
		"$DP_TMP"/*/valgrind.log "$DP_TMP"/*/asan.* "$DP_TMP"/*/tsan.*; do
		[ -s "$f" ] || continue
		printf '%s\n' "----- ${f#"$DP_TMP"/} (last 40 lines)"
		tail -n 40 "$f"
	done
}

# ---- assertions: print what was expected and what came, then fail -------------

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	[ "$1" = "$2" ] && return 0
	dp_fail "$3: expected [$1], got [$2]"
}
# assert_ne UNEXPECTED ACTUAL WHAT
assert_ne() {
	[ "$1" != "$2" ] && return 0
	dp_fail "$3: expected anything but [$1]"
}
# assert_le ACTUAL MAX WHAT   (integers)
assert_le() {
	[ "$1" -le "$2" ] 2>/dev/null && return 0
	dp_fail "$3: expected at most $2, got [$1]"
}
# assert_ge ACTUAL MIN WHAT   (integers)
assert_ge() {
	[ "$1" -ge "$2" ] 2>/dev/null && return 0
	dp_fail "$3: expected at least $2, got [$1]"
}
# assert_match ERE TEXT WHAT
assert_match() {
	grep -Eq -- "$1" <<<"$2" && return 0
	dp_fail "$3: expected text matching /$1/, got [$2]"
}
# assert_grep FILE ERE WHAT: some line of FILE matches
assert_grep() {
	grep -Eq -- "$2" "$1" 2>/dev/null && return 0
	dp_fail "$3: expected a line matching /$2/ in ${1#"$DP_TMP"/}"
}
# assert_no_grep FILE ERE WHAT: no line of FILE matches
assert_no_grep() {
	local hit
	hit=$(grep -E -m 3 -- "$2" "$1" 2>/dev/null) || return 0
	dp_fail "$3: expected no line matching /$2/ in ${1#"$DP_TMP"/}, found:
$hit"
}
# assert_alive NAME WHAT: the instance's process is still running
assert_alive() {
	dp_alive "$1" && return 0
	dp_fail "$2: expected $1 (pid $(dp_get "$1" pid)) to be running; it is gone"
}

# dp_require TOOL...: skip the test unless every tool is installed. Only
# for optional tools: the two Unbounds and the module are checked where they
# are started, and their absence fails the test.
dp_require() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] ||
			dp_skip "required tool '$t' is not installed"
	done
}

# ---- the temp dir and clean-up ----------------------------------------------

DP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dotpool-$DP_TEST.XXXXXX") ||
	{ echo "cannot make a temp dir" >&2; exit 99; }
DP_PKI=$DP_TMP/pki
DP_CA=$DP_PKI/ca.pem
# Every process we start is written here, "pid name", so nothing outlives us.
: >"$DP_TMP/.pids"
: >"$DP_TMP/.ports"

# dp__ours PID: PID is running and is still our child (not a reused pid).
dp__ours() {
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]
}

dp__cleanup() {
	local rc=$? pid name left=
	while read -r pid name; do
		if dp__ours "$pid"; then
			left="$left $name($pid)"
			kill -TERM "$pid" 2>/dev/null
		fi
	done <"$DP_TMP/.pids"
	if [ -n "$left" ]; then
		sleep 1
		while read -r pid name; do
			dp__ours "$pid" && kill -KILL "$pid" 2>/dev/null
		done <"$DP_TMP/.pids"
		if [ "$rc" = 0 ]; then
			printf '[%s] FAIL: processes left running at exit:%s\n' \
				"$DP_TEST" "$left" >&2
			rc=1
		fi
	fi
	if [ "${DOTPOOL_KEEP:-0}" = 1 ]; then
		printf '[%s] kept %s\n' "$DP_TEST" "$DP_TMP" >&2
	else
		rm -rf "$DP_TMP"
		if [ -e "$DP_TMP" ]; then
			printf '[%s] FAIL: temp dir %s not removed\n' \
				"$DP_TEST" "$DP_TMP" >&2
			rc=1
		fi
	fi
	exit "$rc"
}
trap dp__cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 1' USR1

dp__register() { printf '%s %s\n' "$1" "$2" >>"$DP_TMP/.pids"; }

# dp_pass: the test's last line. Stops every instance still running (each
# stop is checked), checks no process of ours is left, exits 0.
dp_pass() {
	local d name pid
	for d in "$DP_TMP"/*/; do
		name=$(basename "$d")
		dp_alive "$name" || continue
		case $(cat "$d/kind") in
		capture) dp_capture_stop "$name" ;;
		blackhole|relay) dp__kill "$name" ;;
		job) dp_fail "background job $name still running at the end" ;;
		*) dp_unbound_stop "$name" ;;
		esac
	done
	while read -r pid name; do
		kill -0 "$pid" 2>/dev/null &&
			dp_fail "process $name (pid $pid) still running at the end"
	done <"$DP_TMP/.pids"
	dp_log "PASS"
	exit 0
}

# ---- ports -------------------------------------------------------------------

# dp_free_port: print a port free for both TCP and UDP on 127.0.0.1 and ::1,
# never one handed out before in this test. Ports come from below the
# kernel's ephemeral range (and the Unbound under test keeps its outgoing
# ports above it), so a client socket cannot take one before its server.
dp_free_port() {
	local port i low
	low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range \
		2>/dev/null) || low=32768
	[ "${low:-0}" -gt 12000 ] 2>/dev/null || low=32768
	for i in $(seq 1 50); do
		port=$((10000 + RANDOM % (low - 10000)))
		grep -qx "$port" "$DP_TMP/.ports" && continue
		if python3 - "$port" <<'EOF' 2>/dev/null
import socket, sys
port = int(sys.argv[1])
held = []
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        try:
            s = socket.socket(fam, typ)
        except OSError:
            continue  # no IPv6 here
        s.bind((addr, port))
        held.append(s)
EOF
		then
			echo "$port" >>"$DP_TMP/.ports"
			echo "$port"
			return 0
		fi
	done
	dp_fail "no free loopback port found in 50 tries"
}

# ---- certificates --------------------------------------------------------------

# dp_pki: make, in $DP_PKI, a test CA (ca.pem) and server certificates, each
# as NAME.pem + NAME.key (EC P-256):
#   good        signed by the CA, for dot.dotpool.test ($DP_DOT_NAME)
#   wrongname   signed by the CA, for other.dotpool.test
#   expired     signed by the CA, for dot.dotpool.test, expired in 2020
#   selfsigned  self-signed, for dot.dotpool.test
#   client      signed by the CA, clientAuth, CN client.dotpool.test (mTLS)
# Idempotent.
dp_pki() {
	local d=$DP_PKI
	[ -f "$d/client.pem" ] && return 0
	mkdir -p "$d/db" && : >"$d/db/index" && echo 1000 >"$d/db/serial"
	cat >"$d/ca.cnf" <<EOF
[ca]
default_ca = dp
[dp]
database = $d/db/index
new_certs_dir = $d/db
serial = $d/db/serial
default_md = sha256
policy = dp_policy
unique_subject = no
[dp_policy]
commonName = supplied
[server]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:\${ENV::DP_SAN}
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
EOF
	dp__openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 7 \
		-subj "/CN=dotpool test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
	dp__leaf good "$DP_DOT_NAME" server
	dp__leaf wrongname other.dotpool.test server
	dp__leaf expired "$DP_DOT_NAME" server \
		-startdate 20200101000000Z -enddate 20200201000000Z
	dp__leaf client client.dotpool.test client
	dp__openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$d/selfsigned.key" -out "$d/selfsigned.pem" \
		-days 7 -subj "/CN=$DP_DOT_NAME" \
		-addext "subjectAltName=DNS:$DP_DOT_NAME"
}

dp__openssl() {
	openssl "$@" >>"$DP_PKI/openssl.log" 2>&1 ||
		dp_fail "openssl $1 failed making test certificates:
$(tail -n 5 "$DP_PKI/openssl.log")"
}

# dp__leaf FILE CN EXTENSIONS [openssl ca options]
dp__leaf() {
	local d=$DP_PKI f=$1 cn=$2 ext=$3
	shift 3
	dp__openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$d/$f.key" -out "$d/$f.csr" -subj "/CN=$cn"
	[ $# -gt 0 ] || set -- -days 7
	DP_SAN=$cn dp__openssl ca -batch -config "$d/ca.cnf" \
		-cert "$d/ca.pem" -keyfile "$d/ca.key" -in "$d/$f.csr" \
		-out "$d/$f.pem" -extensions "$ext" -notext "$@"
}

# ---- zone data -----------------------------------------------------------------

# dp_zone_write FILE: the standard test zone for dotpool.test.:
#   www A 192.0.2.1, AAAA 2001:db8::1; c1 -> c2 -> c3 -> www (CNAME chain);
#   nodata has only a TXT; *.wild A 192.0.2.7 (unique names on demand);
#   ns A 127.0.0.1. Anything else is NXDOMAIN.
dp_zone_write() {
	cat >"$1" <<'EOF'
$ORIGIN dotpool.test.
$TTL 300
@	SOA	ns.dotpool.test. hostmaster.dotpool.test. 1 3600 600 86400 60
@	NS	ns
ns	A	127.0.0.1
www	A	192.0.2.1
www	AAAA	2001:db8::1
c1	CNAME	c2
c2	CNAME	c3
c3	CNAME	www
nodata	TXT	"only a TXT here"
*.wild	A	192.0.2.7
EOF
}

# dp_zone_sign FILE ORIGIN: sign FILE (KSK + ZSK, ECDSA P-256, NSEC) into
# FILE.signed and write the KSK's DS record to FILE.ds, usable as a
# trust-anchor. Needs bind9-utils.
dp_zone_sign() {
	local f=$1 origin=${2%.} kd ksk zsk
	kd=$(dirname "$f")/keys-$origin
	mkdir -p "$kd"
	ksk=$(dnssec-keygen -q -K "$kd" -a ECDSAP256SHA256 -f KSK "$origin") ||
		dp_fail "dnssec-keygen (KSK) failed for $origin"
	zsk=$(dnssec-keygen -q -K "$kd" -a ECDSAP256SHA256 "$origin") ||
		dp_fail "dnssec-keygen (ZSK) failed for $origin"
	cat "$kd/$ksk.key" "$kd/$zsk.key" >>"$f"
	dnssec-signzone -q -K "$kd" -d "$kd" -o "$origin" -f "$f.signed" -e +86400 \
		"$f" "$kd/$ksk.private" "$kd/$zsk.private" \
		>"$kd/signzone.log" 2>&1 ||
		dp_fail "dnssec-signzone failed: $(cat "$kd/signzone.log")"
	dnssec-dsfromkey -2 "$kd/$ksk.key" >"$f.ds" ||
		dp_fail "dnssec-dsfromkey failed for $origin"
}

# ---- instances -------------------------------------------------------------------

# dp_get NAME KEY: a fact about instance NAME: dir, pid, kind (upstream,
# unbound, blackhole, capture, job), status (exit status, once ended);
# port, tls_port, conf, log (daemons); pcap (captures).
dp_get() {
	case $2 in
	dir) echo "$DP_TMP/$1" ;;
	conf) echo "$DP_TMP/$1/unbound.conf" ;;
	log) echo "$DP_TMP/$1/unbound.log" ;;
	pcap) echo "$DP_TMP/$1/cap.pcap" ;;
	*) cat "$DP_TMP/$1/$2" 2>/dev/null ||
		dp_fail "instance $1 has no '$2' (not started?)" ;;
	esac
}

# dp_alive NAME: true while the instance's process runs.
dp_alive() {
	local pid
	pid=$(cat "$DP_TMP/$1/pid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null
}

# dp_control NAME ARGS...: unbound-control against instance NAME.
dp_control() {
	local n=$1 ctl=$DP_UNBOUND_CONTROL
	shift
	[ "$(cat "$DP_TMP/$n/kind")" = upstream ] && ctl=$DP_STOCK_CONTROL
	"$ctl" -c "$DP_TMP/$n/unbound.conf" "$@"
}

# dp__launch NAME CMD...: start CMD in the background, record its pid.
dp__launch() {
	local n=$1 d=$DP_TMP/$1
	shift
	"$@" >"$d/stdout" 2>"$d/stderr" &
	local pid=$!
	echo "$pid" >"$d/pid"
	dp__register "$pid" "$n"
}

# dp__wait_up NAME: wait until the daemon's control socket answers.
dp__wait_up() {
	local n=$1 i
	for i in $(seq 1 $((DP_WAIT * 10))); do
		dp_alive "$n" || dp_fail "$n exited during start-up (expected it to run)"
		dp_control "$n" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	dp_fail "$n did not come up within ${DP_WAIT}s"
}

# dp__server_basics DIR: the server options every Unbound we start shares:
# no user switch or chroot, state and log in DIR.
dp__server_basics() {
	printf '\tusername: ""\n\tchroot: ""\n\tdirectory: "%s"\n' "$1"
	printf '\tpidfile: "%s/unbound.pid"\n\tlogfile: "%s/unbound.log"\n' "$1" "$1"
	printf '\tuse-syslog: no\n\tlog-time-ascii: yes\n'
}

# dp_upstream_start NAME [-k CERT] [-z ORIGIN=ZONEFILE]... [-o OPTION]...
# Debian's stock unbound as an authoritative DoT (and plain DNS) server:
# TLS on 127.0.0.1@<tls_port>, plain DNS on 127.0.0.1@<port>. CERT is one of
# dp_pki's names (default good). Each -z serves a zone from a file through an
# auth-zone (so CNAME chains and DNSSEC work); default: the standard zone.
# Every other name is refused. -o adds a server: option line.
# Sets dp_get NAME: port, tls_port, kind=upstream.
dp_upstream_start() {
	local n=$1 cert=good zones= opts= d=$DP_TMP/$1 o z origin file
	shift
	OPTIND=1
	while getopts k:z:o: o; do
		case $o in
		k) cert=$OPTARG ;;
		z) zones="$zones $OPTARG" ;;
		o) opts="$opts$OPTARG
" ;;
		*) dp_fail "dp_upstream_start: bad option" ;;
		esac
	done
	# Missing daemons are a broken set-up, not a reason to skip.
	[ -x "$DP_STOCK_UNBOUND" ] && [ -x "$DP_STOCK_CONTROL" ] ||
		dp_fail "Debian's unbound is not at $DP_STOCK_UNBOUND (scripts/deps.sh installs it)"
	dp_pki
	mkdir -p "$d"
	echo upstream >"$d/kind"
	if [ -z "$zones" ]; then
		dp_zone_write "$d/zone"
		zones="$DP_ZONE=$d/zone"
	fi
	local port tls_port
	port=$(dp_free_port)
	tls_port=$(dp_free_port)
	echo "$port" >"$d/port"
	echo "$tls_port" >"$d/tls_port"
	{
		cat <<EOF
server:
	verbosity: 1
	num-threads: 1
$(dp__server_basics "$d")
	interface: 127.0.0.1@$port
	interface: 127.0.0.1@$tls_port
	tls-port: $tls_port
	tls-service-key: "$DP_PKI/$cert.key"
	tls-service-pem: "$DP_PKI/$cert.pem"
	incoming-num-tcp: 64
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	statistics-cumulative: no
	local-zone: "test." nodefault
	local-zone: "." refuse
EOF
		for z in $zones; do
			printf '\tlocal-zone: "%s." transparent\n' "${z%%=*}"
		done
		printf '%s' "$opts"
		cat <<EOF
remote-control:
	control-enable: yes
	control-interface: "$d/control.sock"
	control-use-cert: no
EOF
		for z in $zones; do
			origin=${z%%=*}
			file=${z#*=}
			printf 'auth-zone:\n\tname: "%s."\n\tzonefile: "%s"\n' \
				"$origin" "$file"
			printf '\tfor-downstream: yes\n\tfor-upstream: no\n'
			printf '\tfallback-enabled: no\n'
		done
	} >"$d/unbound.conf"
	"$DP_STOCK_UNBOUND-checkconf" "$d/unbound.conf" >"$d/checkconf" 2>&1 ||
		dp_fail "upstream $n config rejected: $(cat "$d/checkconf")"
	dp__launch "$n" "$DP_STOCK_UNBOUND" -d -c "$d/unbound.conf"
	dp__wait_up "$n"
}

# dp_blackhole_start NAME [CERT]: a DoT server on 127.0.0.1@<tls_port> that
# completes TLS handshakes (certificate CERT, default good), reads queries
# and never answers, so they stay in flight. dp_forward_tls works with it;
# its event lines ("accept N", "handshake N", "closed N BYTES") are in
# $DP_TMP/NAME/stdout.
dp_blackhole_start() {
	local n=$1 cert=${2:-good} d=$DP_TMP/$1 i
	dp_pki
	mkdir -p "$d"
	echo blackhole >"$d/kind"
	dp_free_port >"$d/tls_port"
	dp__launch "$n" python3 "$DP_TOP/tests/integration/tls_blackhole.py" \
		"$(cat "$d/tls_port")" "$DP_PKI/$cert.pem" "$DP_PKI/$cert.key"
	for i in $(seq 1 $((DP_WAIT * 10))); do
		grep -qx ready "$d/stdout" 2>/dev/null && return 0
		dp_alive "$n" || dp_fail "blackhole $n failed: $(cat "$d/stderr")"
		sleep 0.1
	done
	dp_fail "blackhole $n not ready within ${DP_WAIT}s"
}

# dp_relay_start NAME PORT MS: a TCP relay (delayproxy.py) on a free loopback
# port that passes bytes to and from 127.0.0.1:PORT, each way MS ms late:
# a server on this host that looks MS ms away. dp_pass stops it.
dp_relay_start() {
	local n=$1 d=$DP_TMP/$1 i
	mkdir -p "$d"
	echo relay >"$d/kind"
	dp__launch "$n" python3 "$DP_TOP/tests/integration/delayproxy.py" \
		--target "$2" --delay-ms "$3" --port-file "$d/port"
	for i in $(seq 1 $((DP_WAIT * 10))); do
		[ -s "$d/port" ] && return 0
		dp_alive "$n" || dp_fail "relay $n failed: $(cat "$d/stderr")"
		sleep 0.1
	done
	dp_fail "relay $n not ready within ${DP_WAIT}s"
}

# dp_upstream_queries NAME: print how many queries the upstream has received
# (total.num.queries, over UDP, TCP and TLS).
dp_upstream_queries() {
	local v
	v=$(dp_control "$1" stats_noreset 2>/dev/null |
		sed -n 's/^total\.num\.queries=//p')
	[ -n "$v" ] || dp_fail "cannot read the query counter of upstream $1"
	echo "$v"
}

# dp_forward_tls ZONE UPSTREAM [AUTHNAME]: print a forward-zone clause that
# sends ZONE to UPSTREAM's TLS port, authenticated as AUTHNAME (default
# dot.dotpool.test; "-" for none).
dp_forward_tls() {
	local auth=${3:-$DP_DOT_NAME} a
	a=127.0.0.1@$(dp_get "$2" tls_port)
	[ "$auth" = - ] || a="$a#$auth"
	printf 'forward-zone:\n\tname: "%s."\n\tforward-addr: %s\n' "${1%.}" "$a"
	printf '\tforward-tls-upstream: yes\n'
}

# dp_forward_plain ZONE UPSTREAM: a forward-zone clause to UPSTREAM's plain
# DNS port.
dp_forward_plain() {
	printf 'forward-zone:\n\tname: "%s."\n\tforward-addr: 127.0.0.1@%s\n' \
		"${1%.}" "$(dp_get "$2" port)"
}

# dp_unbound_start NAME [options] <<EOF ... EOF
# Start the Unbound under test (the dynlib build), listening on
# 127.0.0.1@<port>. Standard input continues its server: clause: server
# options first, then any clauses (forward-zone:, ...).
# Options:
#   -m MODULES   module-config (default "validator dynlib iterator"); a
#                dynlib: clause loading $DOTPOOL_MODULE is added when
#                MODULES names dynlib
#   -t N         num-threads (default 1)
#   -v N         verbosity (default $DOTPOOL_VERBOSITY, else 2: dotpool
#                logs each new connection)
#   -c FILE      dotpool settings file, passed as DOTPOOL_CONF (default:
#                the defaults, so the system's file is never read; under
#                valgrind with connect/attempt/query timeouts of 10/4/12 s)
#   -N           no tls-cert-bundle (default: the test CA)
#   -R           no guard forward zone for "." (the guard sends every name
#                no other zone covers to a dead loopback port)
#   -V           run under valgrind (as DOTPOOL_VALGRIND=1 does)
#   -f           expect start-up to fail: wait for the process to end and
#                record its exit status in dp_get NAME status (the test
#                fails at once if the daemon comes up instead)
# Sets dp_get NAME: port, pid, kind=unbound.
dp_unbound_start() {
	local n=$1 mods="validator dynlib iterator" threads=1 dpconf=
	local verb=${DOTPOOL_VERBOSITY:-2}
	local cabundle=1 guard=1 vg=${DOTPOOL_VALGRIND:-0} fail=0 o
	local d=$DP_TMP/$1
	shift
	OPTIND=1
	while getopts m:t:v:c:NRVf o; do
		case $o in
		m) mods=$OPTARG ;;
		t) threads=$OPTARG ;;
		v) verb=$OPTARG ;;
		c) dpconf=$OPTARG ;;
		N) cabundle=0 ;;
		R) guard=0 ;;
		V) vg=1 ;;
		f) fail=1 ;;
		*) dp_fail "dp_unbound_start: bad option" ;;
		esac
	done
	[ -x "$DP_UNBOUND" ] && [ -x "$DP_UNBOUND_CONTROL" ] ||
		dp_fail "the Unbound under test is not at \
'$DP_UNBOUND': set UNBOUND_SRC (its ../prefix) or UNBOUND_PREFIX"
	case " $mods " in
	*" dynlib "*)
		grep -q '^Linked modules:.*dynlib' <<<"$("$DP_UNBOUND" -V 2>&1)" ||
			dp_fail "$DP_UNBOUND was built without the dynlib module"
		[ -f "$DOTPOOL_MODULE" ] ||
			dp_fail "the module is not at '$DOTPOOL_MODULE' (build it first)"
		;;
	esac
	# (grep reads a here-string: `ldd | grep -q` fails under pipefail
	# when grep exits before ldd is done writing)
	if [ "$vg" = 1 ] && grep -q libasan <<<"$(ldd "$DOTPOOL_MODULE" 2>&1)"
	then
		dp_log "$n: the module is built with ASan; using it instead of valgrind"
		vg=0
	fi
	dp_pki
	mkdir -p "$d"
	echo unbound >"$d/kind"
	local port
	port=$(dp_free_port)
	echo "$port" >"$d/port"
	{
		cat <<EOF
server:
	verbosity: $verb
	num-threads: $threads
	interface: 127.0.0.1@$port
$(dp__server_basics "$d")
	do-not-query-localhost: no
	outgoing-port-avoid: 0-32767
	local-zone: "test." nodefault
	module-config: "$mods"
EOF
		[ "$cabundle" = 1 ] && printf '\ttls-cert-bundle: "%s"\n' "$DP_CA"
		# Debian's 1.17.1 drops replies that took over 1.9 s; under
		# valgrind the first TLS handshake alone can take that long.
		[ "$vg" = 1 ] && printf '\tdiscard-timeout: 15000\n'
		cat
		cat <<EOF
remote-control:
	control-enable: yes
	control-interface: "$d/control.sock"
	control-use-cert: no
EOF
		case " $mods " in
		*" dynlib "*) printf 'dynlib:\n\tdynlib-file: "%s"\n' \
			"$DOTPOOL_MODULE" ;;
		esac
		if [ "$guard" = 1 ]; then
			printf 'forward-zone:\n\tname: "."\n'
			printf '\tforward-addr: 127.0.0.1@%s\n' "$(dp_free_port)"
		fi
	} >"$d/unbound.conf"

	local -a cmd=("$DP_UNBOUND" -d -c "$d/unbound.conf")
	if [ "$vg" = 1 ]; then
		dp_require valgrind
		echo 1 >"$d/valgrind"
		[ "$DP_QUERY_TIME" -ge 15 ] || DP_QUERY_TIME=15
		cmd=(valgrind --error-exitcode=97 --leak-check=full
			--show-leak-kinds=definite --errors-for-leak-kinds=definite
			--keep-debuginfo=yes --num-callers=40 --fullpath-after=
			--log-file="$d/valgrind.log" "${cmd[@]}")
	fi
	# Never the system's settings file: defaults unless -c was given, with
	# room for valgrind's slowness (a first TLS handshake can take seconds).
	if [ -z "$dpconf" ]; then
		dpconf=$d/dotpool.conf
		echo "# written by the test harness" >"$dpconf"
		[ "$vg" = 1 ] && printf '%s\n' "dotpool:" \
			"	connect-timeout: 10000" "	attempt-timeout: 4000" \
			"	query-timeout: 12000" >>"$dpconf"
	fi
	local -a envs=("DOTPOOL_CONF=$dpconf")
	# A module built with --enable-sanitizers cannot load unless the ASan
	# runtime comes first: preload it then, even without DOTPOOL_LSAN=1.
	if [ "${DOTPOOL_LSAN:-0}" = 1 ] || { [ "$vg" != 1 ] &&
		grep -q libasan <<<"$(ldd "$DOTPOOL_MODULE" 2>&1)"; }; then
		# UBSan (built in with ASan by --enable-sanitizers) reports
		# to its own files, asan.ubsan.*, which fail the stop too
		envs+=("LD_PRELOAD=$(gcc -print-file-name=libasan.so)"
			"ASAN_OPTIONS=detect_leaks=1:log_path=$d/asan:exitcode=96"
			"UBSAN_OPTIONS=print_stacktrace=1:log_path=$d/asan.ubsan")
	# A module built with -fsanitize=thread by gcc links libtsan: its
	# runtime comes first too (Unbound itself is not instrumented; the
	# interceptors still see its locks and pipes). Reports go to
	# <instance>/tsan.* and fail dp_unbound_stop.
	elif [ "$vg" != 1 ] && grep -q libtsan <<<"$(ldd "$DOTPOOL_MODULE" 2>&1)"
	then
		envs+=("LD_PRELOAD=$(gcc -print-file-name=libtsan.so)"
			"TSAN_OPTIONS=log_path=$d/tsan:exitcode=95 ${TSAN_OPTIONS:-}")
	fi
	dp__launch "$n" env "${envs[@]}" "${cmd[@]}"
	if [ "$fail" = 1 ]; then
		dp__wait_refused "$n"
		return 0
	fi
	dp__wait_up "$n"
	# The control socket is up; make sure DNS is answered too (an ACL may
	# refuse us, which is an answer). The .invalid zone is local data.
	local i
	for i in $(seq 1 "$DP_WAIT"); do
		dp_query "$port" dp-ready.invalid A >/dev/null && return 0
	done
	dp_fail "$n answers unbound-control but no DNS on port $port"
}

# dp__wait_refused NAME: for a start expected to fail: wait for the process
# to end (status in dp_get NAME status); fail the test as soon as the daemon
# answers its control socket instead.
dp__wait_refused() {
	local n=$1 i limit=$DP_WAIT
	[ -f "$DP_TMP/$n/valgrind" ] && limit=$((DP_WAIT * 3))
	for i in $(seq 1 $((limit * 10))); do
		if ! dp_alive "$n"; then
			dp__wait_exit "$n"
			return 0
		fi
		dp_control "$n" status >/dev/null 2>&1 &&
			dp_fail "$n: expected Unbound to refuse to start, but it is running"
		sleep 0.1
	done
	dp_fail "$n: expected Unbound to refuse to start; still running after ${limit}s"
}

# dp__wait_exit NAME: wait (DP_WAIT, x3 under valgrind) for the process to
# end; its exit status goes to dp_get NAME status.
dp__wait_exit() {
	local n=$1 pid rc limit=$DP_WAIT i
	pid=$(dp_get "$n" pid)
	[ -f "$DP_TMP/$n/valgrind" ] && limit=$((DP_WAIT * 3))
	for i in $(seq 1 $((limit * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null &&
		dp_fail "$n (pid $pid) still running ${limit}s after stop"
	wait "$pid"
	rc=$?
	echo "$rc" >"$DP_TMP/$n/status"
}

# dp_unbound_stop NAME: `unbound-control stop`, wait for the process to go,
# fail unless it exited 0 (under valgrind: with no error; the valgrind log
# stays in dp_get NAME dir). Works for upstreams too.
dp_unbound_stop() {
	local n=$1 rc
	dp_control "$n" stop >/dev/null 2>&1 ||
		dp_fail "unbound-control stop failed for $n"
	dp__wait_exit "$n"
	rc=$(dp_get "$n" status)
	if [ "$rc" = 97 ]; then
		dp_fail "$n: valgrind reported errors (expected none):
$(grep -E -A 25 '(Invalid|uninitialised|definitely lost|Mismatched)' \
			"$DP_TMP/$n/valgrind.log" | head -n 80)"
	fi
	if compgen -G "$DP_TMP/$n/asan.*" >/dev/null ||
		compgen -G "$DP_TMP/$n/tsan.*" >/dev/null; then
		dp_fail "$n: sanitizer reports (expected none):
$(head -n 60 "$DP_TMP/$n"/asan.* "$DP_TMP/$n"/tsan.* 2>/dev/null)"
	fi
	[ "$rc" = 0 ] || dp_fail "$n: expected exit status 0 after stop, got $rc"
}

# dp_unbound_reload NAME: `unbound-control reload`, then wait until the
# daemon answers again; fails the test if the command fails or it dies.
dp_unbound_reload() {
	dp_control "$1" reload >/dev/null 2>&1 ||
		dp_fail "unbound-control reload failed for $1 (expected ok)"
	dp__wait_up "$1"
}

# dp_valgrind_errors NAME [ERE]: print the valgrind error records (and
# definite leaks) of NAME with a stack frame matching ERE; nothing when
# clean. The default ERE, $DP_MODULE_FRAMES, matches frames in the module:
# its file name, or (with debug info; valgrind runs with --fullpath-after=)
# a source path under module/.
DP_MODULE_FRAMES='dotpool\.so|/module/[A-Za-z0-9_]+\.[ch]:[0-9]'
dp_valgrind_errors() {
	DP_ERE=${2:-$DP_MODULE_FRAMES} awk '
		function flush() {
			if (rec ~ ENVIRON["DP_ERE"] && rec ~ kinds) printf "%s", rec
			rec = ""
		}
		BEGIN { kinds = "Invalid|uninitialised|Conditional jump|definitely lost|Mismatched|overlap|Syscall param|Source and destination" }
		/^==[0-9]+== *$/ { flush(); next }
		/^==[0-9]+== / { rec = rec $0 "\n" }
		END { flush() }
	' "$DP_TMP/$1/valgrind.log"
}

# ---- was it dotpool? -----------------------------------------------------------
# The module logs "dotpool: loaded" at start-up (verbosity 1) and, at
# verbosity 2, one line per new upstream connection naming it as
# ADDR@PORT#NAME: "dotpool: connected to ADDR@PORT#NAME" or
# "dotpool: ADDR@PORT#NAME: connected (...)". Unbound's own TLS forwarding
# logs neither.

# assert_dotpool_loaded NAME: the module announced itself in NAME's log.
assert_dotpool_loaded() {
	assert_grep "$(dp_get "$1" log)" 'dotpool: loaded' \
		"$1 should have loaded the dotpool module"
}

# dp_dotpool_connects NAME UPSTREAM [AUTHNAME]: how many connections the
# module of NAME opened to UPSTREAM's TLS port (as logged) for AUTHNAME
# (default dot.dotpool.test; "-" for a forward-addr without #name).
dp_dotpool_connects() {
	local a auth=${3:-$DP_DOT_NAME}
	a="127.0.0.1@$(dp_get "$2" tls_port)"
	[ "$auth" = - ] || a="$a#$auth"
	a=${a//./\\.}
	grep -cE -- "dotpool: (connected to $a( |\$)|$a: connected)" \
		"$(dp_get "$1" log)" 2>/dev/null
}

# assert_dotpool_carried NAME UPSTREAM [AUTHNAME]: NAME's queries to
# UPSTREAM went through dotpool (module loaded, >= 1 connection logged).
assert_dotpool_carried() {
	local a auth=${3:-$DP_DOT_NAME}
	a="127.0.0.1@$(dp_get "$2" tls_port)"
	[ "$auth" = - ] || a="$a#$auth"
	assert_dotpool_loaded "$1"
	assert_ge "$(dp_dotpool_connects "$@")" 1 \
		"dotpool connections from $1 to $2 logged as 'dotpool: connected to $a' (or 'dotpool: $a: connected')"
}

# ---- background jobs ----------------------------------------------------------------

# dp_spawn NAME CMD...: run CMD (a command or shell function) in the
# background, recorded so it cannot outlive the test. Output goes to
# $DP_TMP/NAME/stdout and stderr.
dp_spawn() {
	mkdir -p "$DP_TMP/$1"
	echo job >"$DP_TMP/$1/kind"
	dp__launch "$@"
}

# dp_spawn_wait NAME: wait for a dp_spawn job to end (not in a subshell);
# its exit status is then dp_get NAME status.
dp_spawn_wait() {
	dp__wait_exit "$1"
}

# ---- queries ---------------------------------------------------------------------

# dp_query PORT QNAME QTYPE [dig options...]: one query to 127.0.0.1@PORT
# (RD set, one try, DP_QUERY_TIME seconds). Sets
#   DP_RCODE      NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... or TIMEOUT
#   DP_FLAGS      header flags, sorted, e.g. "ad qr ra rd"
#   DP_ANSWER     the answer section, one "owner type rdata" per line (TTL
#                 and class dropped, owner lower-cased), sorted: comparable
#                 across servers
#   DP_AUTHORITY  the authority section, the same way
# Returns 0 when an answer came, 1 on timeout.
dp_query() {
	local port=$1 qname=$2 qtype=$3 out
	shift 3
	out=$(dig @127.0.0.1 -p "$port" +tries=1 +time="$DP_QUERY_TIME" +noall +comments \
		+answer +authority "$@" "$qname" "$qtype" 2>&1)
	DP_RCODE=$(printf '%s\n' "$out" |
		sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1)
	DP_FLAGS=$(printf '%s\n' "$out" |
		sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' | head -n 1 |
		tr ' ' '\n' | grep . | sort | tr '\n' ' ')
	DP_FLAGS=${DP_FLAGS% }
	DP_ANSWER=$(dp__section ANSWER "$out")
	DP_AUTHORITY=$(dp__section AUTHORITY "$out")
	if [ -z "$DP_RCODE" ]; then
		DP_RCODE=TIMEOUT
		return 1
	fi
	return 0
}

# dp__section NAME DIG_OUTPUT: the records of one section, normalised.
dp__section() {
	printf '%s\n' "$2" | awk -v want=";; $1 SECTION:" '
		/^;; [A-Z]+ SECTION:/ { in_sec = ($0 == want); next }
		/^;/ || NF == 0 { next }
		in_sec { $1 = tolower($1); $2 = ""; $3 = ""; print }' |
		sed 's/   */ /' | sort
}

# ---- packet capture ----------------------------------------------------------------

# dp_capture_start NAME [BPF]: capture loopback traffic (all of it, or what
# the BPF filter selects, e.g. "tcp port 853") into $DP_TMP/NAME.pcap.
# Returns when the capture is running.
dp_capture_start() {
	local n=$1 filter=${2:-} d=$DP_TMP/$1 i
	dp_require dumpcap tshark
	mkdir -p "$d"
	echo capture >"$d/kind"
	local -a f=()
	[ -n "$filter" ] && f=(-f "$filter")
	dp__launch "$n" dumpcap -q -P -i lo ${f[@]+"${f[@]}"} -w "$d/cap.pcap"
	for i in $(seq 1 $((DP_WAIT * 10))); do
		grep -q '^Capturing on' "$d/stderr" 2>/dev/null && return 0
		dp_alive "$n" || dp_fail "dumpcap failed: $(cat "$d/stderr")"
		sleep 0.1
	done
	dp_fail "dumpcap did not start capturing within ${DP_WAIT}s"
}

# dp__kill NAME: end a helper process (SIGTERM) and reap it.
dp__kill() {
	kill -TERM "$(dp_get "$1" pid)" 2>/dev/null
	dp__wait_exit "$1"
}

# dp_capture_stop NAME: end the capture; the file is dp_get NAME pcap.
dp_capture_stop() {
	local n=$1 pid
	pid=$(dp_get "$n" pid)
	sleep 0.3 # let the last packets reach the capture buffer
	kill -INT "$pid" 2>/dev/null
	dp__wait_exit "$n"
	[ "$(dp_get "$n" status)" = 0 ] ||
		dp_fail "dumpcap $n exited $(dp_get "$n" status): $(cat "$DP_TMP/$n/stderr")"
}

# dp_wire_name QNAME: the name in DNS wire format, as lower-case hex.
dp_wire_name() {
	python3 -c '
import sys
out = b""
for label in sys.argv[1].strip(".").split("."):
    out += bytes([len(label)]) + label.lower().encode()
print((out + b"\0").hex())' "$1"
}

# dp_pcap_has_name PCAP QNAME: true when the raw bytes of PCAP contain QNAME
# in wire format (any letter case), i.e. the name went over the wire in
# plaintext somewhere.
dp_pcap_has_name() {
	python3 - "$1" "$(dp_wire_name "$2")" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read().lower()
sys.exit(0 if bytes.fromhex(sys.argv[2]) in data else 1)
EOF
}

# dp_pcap_count PCAP DISPLAY_FILTER [TLS_PORT]: print how many packets of
# PCAP match the tshark display filter; with TLS_PORT, TCP on that port is
# decoded as TLS (for filters like tls.record.content_type == 23).
dp_pcap_count() {
	local -a da=()
	[ -n "${3:-}" ] && da=(-d "tcp.port==$3,tls")
	tshark -n -r "$1" ${da[@]+"${da[@]}"} -Y "$2" 2>/dev/null | wc -l
}
