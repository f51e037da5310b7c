#!/usr/bin/env bash
# container/entrypoint.sh: the configuration it writes from DOTPOOL_*
# variables passes the dynlib Unbound's unbound-checkconf and says what was
# asked; bad input is refused with a message naming the variable; a mounted
# unbound.conf is used as is. container/dotpool-ready: ready/not ready from
# a metrics page. shellcheck on the container scripts.
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
find_dynlib_unbound || skip_all "no dynlib unbound-checkconf (scripts/unbound-dynlib.sh builds it)"
ep=$top/container/entrypoint.sh
dp_checkconf=${DOTPOOL_CHECKCONF:-$top/dotpool-checkconf}
[ -x "$dp_checkconf" ] || { echo "$name: dotpool-checkconf is not built at $dp_checkconf" >&2; exit 1; }
ready=$top/container/dotpool-ready
tmp=$(mktemp -d)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
: >"$tmp/dotpool.so"     # the entrypoint only checks that the module exists
printf '. IN DS 20326 8 2 e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d\n' \
	>"$tmp/root.key"

# run_ep NAME [VAR=value...] [-- ARGS]: the entrypoint in a clean environment;
# sets out (stdout+stderr) and rc.
run_ep() {
	local run=$tmp/run.$1; shift
	rm -rf "$run"; mkdir -p "$run"
	local vars=() args=()
	while [ $# -gt 0 ]; do
		if [ "$1" = -- ]; then shift; args=("$@"); break; fi
		vars+=("$1"); shift
	done
	[ ${#args[@]} -gt 0 ] || args=(--check)
	out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DOTPOOL_RUN_DIR="$run" \
		DOTPOOL_UNBOUND_CONF="$tmp/none/unbound.conf" DOTPOOL_MODULE="$tmp/dotpool.so" \
		DOTPOOL_ROOT_KEY="$tmp/root.key" UNBOUND_CHECKCONF="$CHECKCONF" \
		DOTPOOL_CHECKCONF="$dp_checkconf" \
		UNBOUND="$UNBOUND_PREFIX/sbin/unbound" "${vars[@]}" sh "$ep" "${args[@]}" 2>&1)
	rc=$?
	conf=$run/unbound.conf
}
expect_ok() {  # DESC
	if [ "$rc" = 0 ]; then pass "$1"; else flunk "$1 (rc $rc: $out)"; fi
}
expect_in_conf() {  # DESC REGEX
	if grep -Eq -- "$2" "$conf" 2>/dev/null; then pass "$1"
	else flunk "$1: no /$2/ in $conf"; fi
}
expect_refused() {  # DESC MESSAGE-PART
	if [ "$rc" = 64 ] && grep -qF -- "$2" <<<"$out"; then pass "$1: refused ($2)"
	else flunk "$1: expected exit 64 with '$2', got rc $rc: $out"; fi
}

# ---- the common case ------------------------------------------------------
run_ep common "DOTPOOL_UPSTREAMS=1.1.1.1@853#cloudflare-dns.com 9.9.9.9@853#dns.quad9.net"
expect_ok "two upstreams, defaults: unbound-checkconf accepts the config"
if grep -q "no errors" <<<"$out"; then pass "unbound-checkconf said: no errors"
else flunk "unbound-checkconf output: $out"; fi
expect_in_conf "zone defaults to ." '^	name: "\."$'
expect_in_conf "first upstream" '^	forward-addr: 1\.1\.1\.1@853#cloudflare-dns\.com$'
expect_in_conf "second upstream" '^	forward-addr: 9\.9\.9\.9@853#dns\.quad9\.net$'
expect_in_conf "over TLS" '^	forward-tls-upstream: yes$'
expect_in_conf "dotpool loaded between validator and iterator" \
	'^	module-config: "validator dynlib iterator"$'
expect_in_conf "dynlib-file is the module" "^	dynlib-file: \"$tmp/dotpool.so\"\$"
expect_in_conf "listens on 0.0.0.0 port 53 by default" '^	interface: 0\.0\.0\.0@53$'
expect_in_conf "system CAs by default" '^	tls-system-cert: yes$'
expect_in_conf "all state in the run dir (pidfile)" "^	pidfile: \"$tmp/run.common/unbound.pid\"\$"
expect_in_conf "trust anchor copied to the run dir" "^	auto-trust-anchor-file: \"$tmp/run.common/root.key\"\$"
expect_in_conf "control socket in the run dir" "^	control-interface: \"$tmp/run.common/control.sock\"\$"
if grep -q '^	metrics-listen: 0\.0\.0\.0@9153$' "$tmp/run.common/dotpool.conf"; then
	pass "dotpool.conf written with the metrics endpoint on 9153"
else flunk "dotpool.conf: $(cat "$tmp/run.common/dotpool.conf" 2>&1)"; fi
if [ -z "$(find "$tmp/run.common" -newer "$tmp/dotpool.so" ! -path "$tmp/run.common" \
	! -name unbound.conf ! -name dotpool.conf ! -name root.key)" ]; then
	pass "nothing but unbound.conf, dotpool.conf and root.key written"
else flunk "unexpected files in the run dir: $(ls "$tmp/run.common")"; fi

# ---- every variable ---------------------------------------------------------
printf 'dummy\n' >"$tmp/ca.pem"
run_ep all "DOTPOOL_UPSTREAMS=2606:4700:4700::1111#cloudflare-dns.com 192.0.2.1@8853#dot.example.net" \
	DOTPOOL_ZONE=corp.example DOTPOOL_LISTEN_ADDR="127.0.0.1 ::1" DOTPOOL_LISTEN_PORT=5353 \
	DOTPOOL_ALLOW="10.1.0.0/16 2001:db8::/32" DOTPOOL_METRICS_PORT=0 \
	DOTPOOL_TLS_CA="$tmp/ca.pem" DOTPOOL_DNSSEC=no DOTPOOL_THREADS=2 DOTPOOL_VERBOSITY=3
expect_ok "every variable set: unbound-checkconf accepts the config"
expect_in_conf "zone gets its trailing dot" '^	name: "corp\.example\."$'
expect_in_conf "IPv6 upstream, default port 853" '^	forward-addr: 2606:4700:4700::1111@853#cloudflare-dns\.com$'
expect_in_conf "upstream on another port" '^	forward-addr: 192\.0\.2\.1@8853#dot\.example\.net$'
expect_in_conf "listen address 1" '^	interface: 127\.0\.0\.1@5353$'
expect_in_conf "listen address 2" '^	interface: ::1@5353$'
expect_in_conf "access-control" '^	access-control: 2001:db8::/32 allow$'
expect_in_conf "CA bundle" "^	tls-cert-bundle: \"$tmp/ca.pem\"\$"
expect_in_conf "threads" '^	num-threads: 2$'
expect_in_conf "verbosity" '^	verbosity: 3$'
if grep -q auto-trust-anchor "$conf" || grep -q 'access-control: 10.0.0.0/8' "$conf"; then
	flunk "DOTPOOL_DNSSEC=no / DOTPOOL_ALLOW not honoured"
else pass "no trust anchor with DNSSEC=no; only the allowed prefixes"; fi
if grep -q metrics-listen "$tmp/run.all/dotpool.conf"; then
	flunk "DOTPOOL_METRICS_PORT=0 still writes metrics-listen"
else pass "DOTPOOL_METRICS_PORT=0: no metrics endpoint"; fi
run_ep k8s "DOTPOOL_UPSTREAMS=1.1.1.1#one.one.one.one" DOTPOOL_CLUSTER_DNS=10.96.0.10
expect_ok "with the cluster DNS: unbound-checkconf accepts the config"
expect_in_conf "cluster domain forwarded in plain DNS" '^	name: "cluster\.local\."$'
expect_in_conf "to kube-dns" '^	forward-addr: 10\.96\.0\.10$'
expect_in_conf "and not validated" '^	domain-insecure: "cluster\.local\."$'
if [ "$(grep -c '^forward-zone:' "$conf")" = 2 ] && [ "$(grep -c 'forward-tls-upstream' "$conf")" = 1 ]; then
	pass "two forward zones, only the public one over TLS"
else flunk "cluster DNS zones: $(cat "$conf")"; fi
run_ep print "DOTPOOL_UPSTREAMS=1.1.1.1#one.one.one.one" -- --print
if [ "$rc" = 0 ] && grep -q '^forward-zone:' <<<"$out"; then pass "--print shows the config"
else flunk "--print: rc $rc $out"; fi

# ---- bad input ----------------------------------------------------------------
U="DOTPOOL_UPSTREAMS=1.1.1.1@853#cloudflare-dns.com"
run_ep none;                                         expect_refused "nothing configured" "no configuration: set DOTPOOL_UPSTREAMS"
run_ep blank "DOTPOOL_UPSTREAMS=   ";                expect_refused "only spaces" "DOTPOOL_UPSTREAMS has no upstream"
run_ep noname "DOTPOOL_UPSTREAMS=1.1.1.1@853";        expect_refused "upstream without TLS name" "upstream '1.1.1.1@853': no TLS name"
run_ep badip "DOTPOOL_UPSTREAMS=1.1.1.300@853#a.example"; expect_refused "octet > 255" "'1.1.1.300' is not an IP address"
run_ep hostip "DOTPOOL_UPSTREAMS=dns.google@853#dns.google"; expect_refused "host name as address" "'dns.google' is not an IP address"
run_ep lead0 "DOTPOOL_UPSTREAMS=01.1.1.1#a.example";  expect_refused "leading zero octet" "is not an IP address"
run_ep v6 "DOTPOOL_UPSTREAMS=2001:db8::1::2#a.example"; expect_refused "two :: in IPv6" "is not an IP address"
run_ep uport "DOTPOOL_UPSTREAMS=1.1.1.1@99999#a.example"; expect_refused "upstream port" "'99999' is not a port number"
run_ep uname "DOTPOOL_UPSTREAMS=1.1.1.1@853#bad_name!"; expect_refused "TLS name" "'bad_name!' is not a valid TLS name"
run_ep uname2 "DOTPOOL_UPSTREAMS=1.1.1.1@853#-x.example"; expect_refused "label starting with -" "is not a valid TLS name"
run_ep lport "$U" DOTPOOL_LISTEN_PORT=abc;            expect_refused "listen port" "DOTPOOL_LISTEN_PORT 'abc' is not a port number"
run_ep lport0 "$U" DOTPOOL_LISTEN_PORT=0;             expect_refused "listen port 0" "DOTPOOL_LISTEN_PORT '0'"
run_ep laddr "$U" DOTPOOL_LISTEN_ADDR="127.0.0.1 localhost"; expect_refused "listen address" "DOTPOOL_LISTEN_ADDR: 'localhost' is not an IP address"
run_ep zone "$U" "DOTPOOL_ZONE=bad zone";             expect_refused "zone with a space" "DOTPOOL_ZONE 'bad zone' is not a domain name"
run_ep zone2 "$U" "DOTPOOL_ZONE=a..b";                expect_refused "empty label" "DOTPOOL_ZONE 'a..b'"
run_ep allow "$U" DOTPOOL_ALLOW=10.0.0.0/33;          expect_refused "prefix length" "DOTPOOL_ALLOW: '10.0.0.0/33'"
run_ep mport "$U" DOTPOOL_METRICS_PORT=70000;         expect_refused "metrics port" "DOTPOOL_METRICS_PORT '70000'"
run_ep same "$U" DOTPOOL_LISTEN_PORT=9153;            expect_refused "metrics = listen port" "both 9153"
run_ep ca "$U" DOTPOOL_TLS_CA=/nonexistent/ca.pem;    expect_refused "CA bundle missing" "DOTPOOL_TLS_CA '/nonexistent/ca.pem' is not a readable file"
run_ep dnssec "$U" DOTPOOL_DNSSEC=maybe;              expect_refused "DNSSEC switch" "DOTPOOL_DNSSEC 'maybe' must be yes or no"
run_ep anchor "$U" DOTPOOL_ROOT_KEY=/nonexistent;     expect_refused "no trust anchor" "no root trust anchor at /nonexistent"
run_ep kdns "$U" DOTPOOL_CLUSTER_DNS=kube-dns;       expect_refused "cluster DNS by name" "DOTPOOL_CLUSTER_DNS: 'kube-dns' is not an IP address"
run_ep kdom "$U" DOTPOOL_CLUSTER_DNS=10.96.0.10 DOTPOOL_ZONE=cluster.local; expect_refused "cluster domain = zone" "both cluster.local."
run_ep thr "$U" DOTPOOL_THREADS=0;                    expect_refused "threads" "DOTPOOL_THREADS '0'"
run_ep verb "$U" DOTPOOL_VERBOSITY=9;                 expect_refused "verbosity" "DOTPOOL_VERBOSITY '9'"
run_ep mod "$U" DOTPOOL_MODULE=/nonexistent/dotpool.so; expect_refused "module missing" "dotpool.so not found at /nonexistent/dotpool.so"
run_ep dpc "$U" DOTPOOL_CONF=/nonexistent/dotpool.conf; expect_refused "DOTPOOL_CONF missing" "DOTPOOL_CONF names /nonexistent/dotpool.conf"
for v in "$tmp"/run.*; do
	case $v in *run.common|*run.all|*run.print|*run.k8s) continue ;; esac
	if [ -f "$v/unbound.conf" ]; then flunk "a refused input still wrote $v/unbound.conf"; fi
done
pass "refused inputs write no unbound.conf"

# ---- a mounted unbound.conf ---------------------------------------------------
mkdir -p "$tmp/mnt"
cat >"$tmp/mnt/unbound.conf" <<CONF
server:
	interface: 127.0.0.1@5300
	directory: "$tmp"
	pidfile: "$tmp/unbound.pid"
	module-config: "validator dynlib iterator"
	chroot: ""
	username: ""
dynlib:
	dynlib-file: "$tmp/dotpool.so"
CONF
run_ep mounted DOTPOOL_UNBOUND_CONF="$tmp/mnt/unbound.conf"
expect_ok "a mounted unbound.conf is checked as is"
run_ep mounted2 DOTPOOL_UNBOUND_CONF="$tmp/mnt/unbound.conf" -- --print
if [ "$out" = "$(cat "$tmp/mnt/unbound.conf")" ]; then pass "a mounted unbound.conf is used unchanged"
else flunk "mounted config not used as is: $out"; fi
run_ep both DOTPOOL_UNBOUND_CONF="$tmp/mnt/unbound.conf" "$U"
expect_refused "mounted config and DOTPOOL_UPSTREAMS" "use one or the other"
printf 'dotpool:\n' >"$tmp/mnt/dotpool.conf"
rm "$tmp/mnt/unbound.conf"
run_ep mdp DOTPOOL_UNBOUND_CONF="$tmp/mnt/unbound.conf" "$U" -- --check
if [ "$rc" = 0 ] && [ ! -f "$tmp/run.mdp/dotpool.conf" ]; then
	pass "a mounted dotpool.conf next to the config dir is used, none written"
else flunk "mounted dotpool.conf: rc $rc, $(ls "$tmp/run.mdp")"; fi
# ---- dotpool-checkconf before Unbound ---------------------------------------------
printf 'dotpool:\n\tatempt-timeout: 500\n' >"$tmp/bad-dp.conf"
run_ep dpbad "$U" DOTPOOL_CONF="$tmp/bad-dp.conf"
expect_refused "--check: a bad dotpool.conf" "$tmp/bad-dp.conf:2: atempt-timeout: unknown key"
run_ep dprun "$U" DOTPOOL_CONF="$tmp/bad-dp.conf" UNBOUND=echo -- ""
expect_refused "start: a bad dotpool.conf stops the container" "Unbound not started"
if grep -q -- "-d -p -c" <<<"$out"; then flunk "Unbound was started despite the bad dotpool.conf"
else pass "Unbound not run after the failed check"; fi
run_ep dpgood "$U" UNBOUND=echo -- ""
if [ "$rc" = 0 ] && [ "$out" = "-d -p -c $tmp/run.dpgood/unbound.conf" ]; then
	pass "start: the check passes silently, then Unbound runs"
else flunk "start with good settings: rc $rc: $out"; fi
printf 'zone:\n\tname: "exmaple.com."\n' >"$tmp/zone-dp.conf"
run_ep dpzone "$U" DOTPOOL_CONF="$tmp/zone-dp.conf"
expect_refused "--check: a zone: that matches no forward zone" \
	"$tmp/zone-dp.conf:1: zone: \"exmaple.com.\" names no forward-zone"
cat >"$tmp/mnt/unbound.conf" <<CONF
server:
	module-config: "dynlib validator iterator"
dynlib:
	dynlib-file: "$tmp/dotpool.so"
CONF
run_ep morder DOTPOOL_UNBOUND_CONF="$tmp/mnt/unbound.conf" UNBOUND=echo -- ""
expect_refused "start: a mounted unbound.conf with a wrong module-config" \
	"$tmp/mnt/unbound.conf:2: module-config \"dynlib validator iterator\""
rm "$tmp/mnt/unbound.conf"
run_ep cmd -- echo hello
if [ "$out" = hello ]; then pass "other arguments run as a command"; else flunk "command: $out"; fi

# ---- dotpool-ready --------------------------------------------------------------
mkdir -p "$tmp/www"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server -b 127.0.0.1 -d "$tmp/www" "$port" >/dev/null 2>&1 &
srv_pid=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
metrics() { printf '%s\n' "$@" >"$tmp/www/metrics"; }
probe() { ready_out=$("$ready" --metrics "127.0.0.1:$port" "$@" 2>&1); ready_rc=$?; }
metrics '# HELP dotpool_upstream_up 1 if the upstream is usable' '# TYPE dotpool_upstream_up gauge' \
	'dotpool_upstream_up{zone=".",upstream="1.1.1.1@853#cloudflare-dns.com"} 1' \
	'dotpool_upstream_up{zone=".",upstream="9.9.9.9@853#dns.quad9.net"} 0' 'dotpool_queries_total 5'
probe
if [ "$ready_rc" = 0 ] && [ "$ready_out" = "ready: 1 of 2 upstreams up" ]; then pass "ready: one upstream up"
else flunk "probe one up: rc $ready_rc $ready_out"; fi
probe --min-up 2
if [ "$ready_rc" = 1 ] && [ "$ready_out" = "not ready: 1 of 2 upstreams up (need 2)" ]; then pass "not ready: --min-up 2"
else flunk "probe --min-up 2: rc $ready_rc $ready_out"; fi
metrics 'dotpool_upstream_up{upstream="a"} 0' 'dotpool_upstream_up{upstream="b"} 0'
probe
if [ "$ready_rc" = 1 ]; then pass "not ready: all upstreams down ($ready_out)"
else flunk "probe all down: rc $ready_rc $ready_out"; fi
metrics 'dotpool_queries_total 0'
probe
if [ "$ready_rc" = 1 ] && grep -q "no dotpool_upstream_up" <<<"$ready_out"; then pass "not ready: no upstream series"
else flunk "probe no series: rc $ready_rc $ready_out"; fi
rm -f "$tmp/www/metrics"
probe
if [ "$ready_rc" = 1 ] && grep -q "answered 'HTTP/1.0 404" <<<"$ready_out"; then pass "not ready: 404"
else flunk "probe 404: rc $ready_rc $ready_out"; fi
kill "$srv_pid"; wait "$srv_pid" 2>/dev/null; srv_pid=
probe
if [ "$ready_rc" = 1 ] && grep -q "no answer" <<<"$ready_out"; then pass "not ready: endpoint down"
else flunk "probe endpoint down: rc $ready_rc $ready_out"; fi
"$ready" --min-up x >/dev/null 2>&1
if [ $? = 2 ]; then pass "usage error exits 2"; else flunk "usage error exit"; fi

# ---- lint ------------------------------------------------------------------------
if command -v shellcheck >/dev/null; then
	if lint=$(cd "$top" && shellcheck -s sh container/entrypoint.sh &&
		shellcheck -x container/dotpool-ready tests/packaging/*.sh \
		packaging/*.sh packaging/*/build.sh 2>&1); then
		pass "shellcheck: container and packaging scripts clean"
	else flunk "shellcheck: $lint"; fi
else
	printf '# shellcheck not installed: lint skipped\n'
fi
finish
