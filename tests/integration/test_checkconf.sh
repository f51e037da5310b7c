#!/usr/bin/env bash
# dotpool-checkconf: a good pair of files exits 0; each kind of problem
# exits 1 with "file:line: key: reason" naming the line to fix: a parse
# error of dotpool.conf (the module's own parser), a zone: or upstream:
# that matches nothing, a module-config where dotpool does not work, no
# trust, malformed pins, an unreadable CA bundle. forward-zone clauses
# are found through include: globs. The good files also pass the dynlib
# Unbound's unbound-checkconf, so the checker is judged on files Unbound
# itself accepts.
. "$(dirname "$0")/lib.sh"

checker=${DOTPOOL_CHECKCONF:-$DP_TOP/dotpool-checkconf}
[ -x "$checker" ] || dp_fail "dotpool-checkconf is not at $checker (build it first)"
ub_check=$UNBOUND_PREFIX/sbin/unbound-checkconf
dp_pki
d=$DP_TMP/conf
mkdir -p "$d/conf.d"
pin=$(openssl x509 -in "$DP_PKI/good.pem" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)

# ub FILE [MODULES] [TRUST]: an unbound.conf loading the module, its
# forward zones in conf.d/ (included by a glob)
ub() {
	cat >"$1" <<EOF
server:
	username: ""
	chroot: ""
	directory: "$d"
	pidfile: "$d/unbound.pid"
	module-config: "${2:-validator dynlib iterator}"
	${3:-tls-cert-bundle: "$DP_CA"}
dynlib:
	dynlib-file: "$DOTPOOL_MODULE"
include: "$d/conf.d/*.conf"
EOF
}
cat >"$d/conf.d/zones.conf" <<EOF
# the forward zones
forward-zone:
	name: "example.com."
	forward-tls-upstream: yes
	forward-addr: 192.0.2.1@853#dns.example.net
	forward-addr: 192.0.2.2@853#dns.example.net
forward-zone:
	name: "plain.example."
	forward-addr: 192.0.2.9
EOF

# run UBCONF DPCONF: sets out (stdout+stderr) and rc
run() {
	out=$("$checker" -c "$1" "$2" 2>&1)
	rc=$?
}
# good WHAT UBCONF DPCONF
good() {
	if [ -x "$ub_check" ]; then
		"$ub_check" "$2" >"$d/ubcheck" 2>&1 ||
			dp_fail "$1: unbound-checkconf refuses the test file: $(cat "$d/ubcheck")"
	fi
	run "$2" "$3"
	assert_eq 0 "$rc" "$1: exit status ($out)"
	assert_eq "dotpool-checkconf: no errors in $3 (with $2)" "$out" "$1: says so"
}
# bad WHAT UBCONF DPCONF EXACT-LINE
bad() {
	run "$2" "$3"
	assert_eq 1 "$rc" "$1: exit status ($out)"
	grep -qxF -- "$4" <<<"$out" ||
		dp_fail "$1: expected the line [$4], got [$out]"
}

ub "$d/unbound.conf"
printf 'dotpool:\n\tpolicy: random\nzone:\n\tname: example.com\n\thedge-delay: 50\nupstream:\n\taddr: 192.0.2.2@853#dns.example.net\n\tweight: 3\n' \
	>"$d/good.conf"
good "good files" "$d/unbound.conf" "$d/good.conf"
: >"$d/empty.conf"
good "an empty dotpool.conf" "$d/unbound.conf" "$d/empty.conf"
run "$DP_TOP/unbound.conf.sample" "$DP_TOP/dotpool.conf.sample"
assert_eq 0 "$rc" "the shipped samples pass ($out)"

# every parse error is the module's own message
printf 'dotpool:\n\tpolicy: random\n\tatempt-timeout: 500\n' >"$d/typo.conf"
bad "misspelt key" "$d/unbound.conf" "$d/typo.conf" \
	"$d/typo.conf:3: atempt-timeout: unknown key"
printf 'server:\n\tverbosity: 1\n' >"$d/section.conf"
bad "unknown section" "$d/unbound.conf" "$d/section.conf" \
	"$d/section.conf:1: server: unknown section (the sections are dotpool:, zone: and upstream:; Unbound's own go in unbound.conf)"
printf 'upstream:\n\taddr: 192.0.2.1@853#dns.example.net\n\tpin-sha256: "c2hvcnQ="\n' >"$d/pin.conf"
bad "malformed pin" "$d/unbound.conf" "$d/pin.conf" \
	"$d/pin.conf:3: pin-sha256: must be the base64 of 32 bytes (SHA-256), got \"c2hvcnQ=\""

# sections that match nothing
printf 'dotpool:\n\tprewarm: no\nzone:\n\tname: exmaple.com\n' >"$d/zone.conf"
bad "zone: typo" "$d/unbound.conf" "$d/zone.conf" \
	"$d/zone.conf:3: zone: \"exmaple.com.\" names no forward-zone with forward-tls-upstream in unbound.conf"
printf 'zone:\n\tname: plain.example\n' >"$d/plainzone.conf"
bad "zone: of a plain DNS forward zone" "$d/unbound.conf" "$d/plainzone.conf" \
	"$d/plainzone.conf:1: zone: \"plain.example.\" names no forward-zone with forward-tls-upstream in unbound.conf"
printf '\nupstream:\n\taddr: 192.0.2.1@8853\n' >"$d/up.conf"
bad "upstream: with the wrong port" "$d/unbound.conf" "$d/up.conf" \
	"$d/up.conf:2: upstream: \"192.0.2.1@8853\" matches no forward-addr of a forward-zone with forward-tls-upstream in unbound.conf"

# module-config
ub "$d/order.conf" "dynlib validator iterator"
bad "validator after dynlib" "$d/order.conf" "$d/good.conf" \
	"$d/order.conf:6: module-config \"dynlib validator iterator\": the validator after dynlib (dotpool) never sees the answers dotpool gives, so they fail validation (SERVFAIL); write module-config: \"validator dynlib iterator\""
ub "$d/order2.conf" "validator iterator dynlib"
bad "dynlib after the iterator" "$d/order2.conf" "$d/good.conf" \
	"$d/order2.conf:6: module-config \"validator iterator dynlib\": dynlib (dotpool) after the iterator gets no queries: the iterator passes none on; write module-config: \"validator dynlib iterator\""

# trust
ub "$d/notrust.conf" "" "verbosity: 1"
bad "no CA and no pins" "$d/notrust.conf" "$d/good.conf" \
	"$d/conf.d/zones.conf:5: forward-addr: \"192.0.2.1@853#dns.example.net\": no way to authenticate it: no tls-cert-bundle or tls-system-cert in unbound.conf, no pin-sha256 for it in dotpool.conf"
printf 'upstream:\n\taddr: 192.0.2.1\n\tpin-sha256: %s\nupstream:\n\taddr: 192.0.2.2\n\tpin-sha256: %s\n' \
	"$pin" "$pin" >"$d/pins.conf"
good "no CA but pins for every upstream" "$d/notrust.conf" "$d/pins.conf"
ub "$d/system.conf" "" "tls-system-cert: yes"
good "the system CA store" "$d/system.conf" "$d/good.conf"
ub "$d/nobundle.conf" "" "tls-cert-bundle: \"$d/missing.pem\""
bad "unreadable CA bundle" "$d/nobundle.conf" "$d/good.conf" \
	"$d/nobundle.conf:7: tls-cert-bundle: cannot read \"$d/missing.pem\": No such file or directory"
printf 'forward-zone:\n\tname: "noname.example."\n\tforward-tls-upstream: yes\n\tforward-addr: 192.0.2.3@853\n' \
	>"$d/conf.d/noname.conf"
bad "no #name and no pin" "$d/unbound.conf" "$d/good.conf" \
	"$d/conf.d/noname.conf:4: forward-addr: \"192.0.2.3@853\": no #name and no pin-sha256: a CA-signed certificate for any name would do; write IP@port#name"
printf 'upstream:\n\taddr: 192.0.2.3\n\tprofile: opportunistic\n' >"$d/opp.conf"
good "no #name, opportunistic" "$d/unbound.conf" "$d/opp.conf"
rm "$d/conf.d/noname.conf"

# an unbound.conf without dotpool: only dotpool.conf is checked
printf 'server:\n\tmodule-config: "validator iterator"\n' >"$d/nodotpool.conf"
run "$d/nodotpool.conf" "$d/zone.conf"
assert_eq 0 "$rc" "unbound.conf without dotpool: exit status ($out)"
assert_match "loads no dynlib-file named dotpool" "$out" "unbound.conf without dotpool: says so"

# the default dotpool.conf may be missing, also when DOTPOOL_CONF names it
# (the systemd drop-in does), as for the module
default=$("$checker" -h | sed -n 's/.*(default \$DOTPOOL_CONF, else \(.*\))$/\1/p')
[ -n "$default" ] || dp_fail "dotpool-checkconf -h names no default file"
if [ ! -e "$default" ]; then
	out=$(DOTPOOL_CONF=$default "$checker" -c "$d/unbound.conf" 2>&1)
	assert_eq 0 "$?" "DOTPOOL_CONF names the missing default file: defaults ($out)"
	out=$(DOTPOOL_CONF=$d/none.conf "$checker" -c "$d/unbound.conf" 2>&1)
	assert_eq "$d/none.conf: cannot open: No such file or directory" "$out" \
		"DOTPOOL_CONF names another missing file: an error"
fi

# unreadable files, usage
run "$d/missing.conf" "$d/good.conf"
assert_eq 1 "$rc" "missing unbound.conf"
assert_eq "$d/missing.conf: cannot open: No such file or directory" "$out" "missing unbound.conf: message"
printf 'include: "%s/none.conf"\n' "$d" >"$d/badinc.conf"
run "$d/badinc.conf" "$d/good.conf"
assert_eq "$d/badinc.conf:1: include: cannot open \"$d/none.conf\": No such file or directory" "$out" \
	"an include that does not exist names the include line"
"$checker" -x >/dev/null 2>&1
assert_eq 2 "$?" "a bad option: usage, exit 2"
dp_pass
