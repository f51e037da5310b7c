#!/usr/bin/env bash
# Upstream authentication with real TLS: every case is a TLS
# forward zone <case>.dotpool.test of a dotpool Unbound sent to its own
# dotfault upstream (which answers A with an address of its own). "refused"
# means the client gets SERVFAIL, the server was contacted (a TCP
# connection) and saw zero DNS queries; "answers" means the server's own
# address came back. Every refused case has an answering twin that differs
# only in the point under test (the checks bite):
#   pins: wrong pin refused / right pin / rotated set (second matches) /
#         pins alone, no #name, self-signed certificate -> answers
#   certificate: expired, wrong name, self-signed without pins -> refused
#   versions: TLS 1.0-only server refused; tls-min-version: 1.3 refuses a
#         TLS 1.2-only server and talks to a 1.3 one
#   mTLS: refused without client-cert, answers with client-cert/client-key
#   profile: opportunistic answers a wrong-name server, strict refuses it
# Failed verifications are also counted in dotpool's metrics (class verify).
. "$(dirname "$0")/lib.sh"
. "$DP_TOP/tests/faultsrv/faultlib.sh"
dp_require dig openssl python3 curl

dp_pki
P=$DP_PKI

# spki_pin CERT: base64 SHA-256 of the certificate's SubjectPublicKeyInfo.
spki_pin() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64
}
pin_good=$(spki_pin "$P/good.pem")
pin_self=$(spki_pin "$P/selfsigned.pem")
assert_ne "$pin_good" "$pin_self" "SPKI pins of two different keys"

# case  expect  name(- none)  dotfault options
cases="
good       answers dot  --cert $P/good.pem --key $P/good.key
pinwrong   refused dot  --cert $P/good.pem --key $P/good.key
pinright   answers dot  --cert $P/good.pem --key $P/good.key
pinrotated answers dot  --cert $P/good.pem --key $P/good.key
pinonly    answers -    --cert $P/selfsigned.pem --key $P/selfsigned.key
expired    refused dot  --cert $P/expired.pem --key $P/expired.key
wrongname  refused dot  --cert $P/wrongname.pem --key $P/wrongname.key
selfsigned refused dot  --cert $P/selfsigned.pem --key $P/selfsigned.key
tls10      refused dot  --tls-max 1.0
mtlsnone   refused dot  --require-client-cert $P/ca.pem
mtlscert   answers dot  --require-client-cert $P/ca.pem
opportun   answers dot  --cert $P/wrongname.pem --key $P/wrongname.key
"
# under tls-min-version: 1.3
cases13="
tls12only  refused dot  --tls-max 1.2
tls13      answers dot
"
# the upstream: section of a case (its pins, client certificate, profile)
upstream_opts() {
	case $1 in
	pinwrong) printf '\tpin-sha256: "%s"\n' "$pin_self" ;;
	pinright) printf '\tpin-sha256: "%s"\n' "$pin_good" ;;
	pinrotated) printf '\tpin-sha256: "%s"\n' "$pin_self" "$pin_good" ;;
	pinonly) printf '\tpin-sha256: "%s"\n' "$pin_self" ;;
	mtlscert) printf '\tclient-cert: "%s"\n\tclient-key: "%s"\n' \
		"$P/client.pem" "$P/client.key" ;;
	opportun) printf '\tprofile: opportunistic\n' ;;
	esac
}

# setup INSTANCE CASES DOTPOOL_SETTINGS: start a dotfault per case and an
# Unbound INSTANCE forwarding each case's zone to it.
i=0
setup() {
	local ub=$1 list=$2 conf=$DP_TMP/$1.dotpool.conf c expect name opts
	local fwd='' addr
	printf 'dotpool:\n%s\n\tmetrics-listen: 127.0.0.1@%s\n' "$3" \
		"$(dp_free_port)" >"$conf"
	while read -r c expect name opts; do
		[ -n "$c" ] || continue
		i=$((i + 1))
		# shellcheck disable=SC2086 # the options are words
		df_start "$c" "192.0.2.$i" $opts
		echo "192.0.2.$i" >"$DP_TMP/$c/addr"
		echo "$expect" >"$DP_TMP/$c/expect"
		addr=127.0.0.1@$(dp_get "$c" tls_port)
		[ "$name" = - ] || addr=$addr#$DP_DOT_NAME
		fwd="$fwd
forward-zone:
	name: \"$c.$DP_ZONE.\"
	forward-addr: $addr
	forward-tls-upstream: yes"
		if [ -n "$(upstream_opts "$c")" ]; then
			printf 'upstream:\n\taddr: %s\n%s\n' "$addr" \
				"$(upstream_opts "$c")" >>"$conf"
		fi
	done <<<"$list"
	grep -o 'metrics-listen: .*' "$conf" | sed 's/.*@//' >"$DP_TMP/$ub.mport"
	dp_unbound_start "$ub" -c "$conf" <<EOF
$fwd
EOF
}

# check INSTANCE CASES: query every case's zone and judge the outcome.
check() {
	local ub=$1 c expect rest port q queries conns
	port=$(dp_get "$ub" port)
	while read -r c expect rest; do
		[ -n "$c" ] || continue
		q=www.$c.$DP_ZONE
		dp_query "$port" "$q" A
		queries=$(df_stat "$c" queries)
		conns=$(df_stat "$c" connections)
		dp_log "$c: $DP_RCODE, server saw $conns connection(s), $queries query(ies)"
		assert_ge "$conns" 1 "$c: connections the server received (dotpool tried it)"
		if [ "$expect" = answers ]; then
			assert_eq NOERROR "$DP_RCODE" "$c: rcode (expected an answer)"
			assert_eq "$q. A $(cat "$DP_TMP/$c/addr")" "$DP_ANSWER" \
				"$c: the answer from its own server"
			assert_ge "$queries" 1 "$c: DNS queries the server received"
		else
			assert_eq SERVFAIL "$DP_RCODE" "$c: rcode (expected refused)"
			assert_eq 0 "$queries" "$c: DNS queries the server received (expected none: refused)"
		fi
	done <<<"$2"
}

# verify_errors INSTANCE CASE: dotpool's verify error counter for CASE.
verify_errors() {
	curl -sf "http://127.0.0.1:$(cat "$DP_TMP/$1.mport")/metrics" |
		awk -v u="127.0.0.1@$(dp_get "$2" tls_port)#$DP_DOT_NAME\"" '
			/^dotpool_errors_total\{/ && index($0, "upstream=\"" u) &&
			/class="verify"/ { n += $NF }
			END { print n + 0 }'
}

setup dp "$cases" ""
check dp "$cases"
assert_dotpool_carried dp good
for c in pinwrong expired wrongname selfsigned; do
	assert_ge "$(verify_errors dp "$c")" 1 \
		"$c: dotpool_errors_total{class=\"verify\"} for its upstream"
done
assert_eq 0 "$(verify_errors dp good)" \
	"good: dotpool_errors_total{class=\"verify\"} (a valid server)"

setup v13 "$cases13" "	tls-min-version: 1.3"
check v13 "$cases13"

dp_unbound_stop dp
dp_unbound_stop v13
df_stop_all
dp_pass
