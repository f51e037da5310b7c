#!/usr/bin/env bash
# The container image with a real engine (podman; `make check-packages`):
#  1. podman set up as it works on Debian 12 (runc, ulimits; see
#     containers_conf) and a debian:bookworm / bookworm-slim base image
#     made locally (debootstrap minbase, cached as a tarball): nothing is
#     ever pulled;
#  2. the image built with the build command of docs/deploying.md, from the
#     .debs the package test already built (--build-context debs=DIR: the
#     build only installs them);
#  3. run with the run command of docs/deploying.md, as written there except
#     for the values a test must change (ports, upstream, name; see
#     doc_command): read-only root, non-root user, tmpfs, port 53 inside;
#     forwarding a test zone over DoT to Debian's stock unbound on the host's
#     loopback; resolve through it on a random loopback port;
#  4. the HEALTHCHECK (`podman healthcheck run`), the readiness script both
#     ways, the metrics endpoint (promtool check metrics);
#  5. `podman stop`: Unbound exits 0 within the image's stop timeout.
# The test's container and image are removed at the end; the base image is
# kept (and its tarball under .cache/container-base/).
# Needs root (podman's networking and storage as used here); skips (77)
# otherwise. Environment: UNBOUND_UPSTREAM (above), DOTPOOL_IMAGE_DEBS (the
# .debs; default the package test's $DOTPOOL_PKG_OUT/debs, built by
# packaging/dotpool-deb/build.sh when missing), DOTPOOL_CHROOT_BASE (a
# debootstrap minbase bookworm to make the base image from; default the
# package test's, else debootstrap).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top=$(cd "$top" && pwd)
[ "$(id -u)" = 0 ] || { echo "test_container: SKIP: needs root (podman storage, networking and sysctls as used here)"; exit 77; }
# shellcheck source=tests/integration/lib.sh
. "$top/tests/integration/lib.sh"

# The Unbound the image ships: Debian 12's 1.17.1 rebuilt with dynlib, or
# with UNBOUND_UPSTREAM=X.Y.Z the backport of Debian's packaging to that
# release (as for test_packages.sh). Its .debs are in $debs.
unbound_version=${UNBOUND_UPSTREAM:-1.17.1}

for t in podman runc kdig curl promtool openssl python3 tar; do
	command -v "$t" >/dev/null ||
		dp_fail "$t is not installed (scripts/deps.sh pkg installs it)"
done
# where packaging/dotpool-deb/build.sh leaves each pair
out=${DOTPOOL_PKG_OUT:-$top/.cache/packages${UNBOUND_UPSTREAM:+-$UNBOUND_UPSTREAM}}
debs=${DOTPOOL_IMAGE_DEBS:-$out/debs}
base_cache=$top/.cache/container-base
doc=$top/docs/deploying.md
t0=$(date +%s)
stamp() { dp_log "[$(( $(date +%s) - t0 ))s] $*"; }

# ---- 1. podman as it works here --------------------------------------------
# crun (podman's default) fails here on setrlimit and on hybrid cgroups; runc
# works. Without default ulimits the container inherits the test runner's,
# which a CI runner may have set too low for Unbound.
export CONTAINERS_CONF=$DP_TMP/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
cname=dotpool-test-$$
image=localhost/dotpool-test:$$
# shellcheck disable=SC2317 # called from the EXIT trap
ct_cleanup() {
	podman rm -f -t 0 "$cname" "$cname-down" >/dev/null 2>&1 || true
	podman rmi -f "$image" >/dev/null 2>&1 || true
}
# Containers and the test image go before the harness' own clean-up, which
# keeps the exit status it is handed.
trap 'rc=$?; ct_cleanup; (exit $rc); dp__cleanup' EXIT

# base_image: debian:bookworm and :bookworm-slim, as the Containerfile names
# them, from a debootstrap minbase root plus the layer the official image
# has and the Containerfile relies on: apt's sources in deb822 form.
base_image() {
	local tarball=$base_cache/bookworm-minbase.tar src root mirror
	if podman image exists docker.io/library/debian:bookworm &&
		podman image exists docker.io/library/debian:bookworm-slim; then
		return 0
	fi
	if [ ! -s "$tarball" ]; then
		src=${DOTPOOL_CHROOT_BASE:-$out/chroot-bookworm}
		if [ ! -x "$src/usr/bin/apt-get" ]; then
			command -v debootstrap >/dev/null || dp_fail "debootstrap is not installed"
			mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources \
				2>/dev/null | grep -v security | head -n 1)
			src=$DP_TMP/minbase
			stamp "debootstrap bookworm for the base image (cached for later runs)"
			debootstrap --variant=minbase bookworm "$src" \
				"${mirror:-http://deb.debian.org/debian}" >"$DP_TMP/debootstrap.log" 2>&1 ||
				{ tail -n 20 "$DP_TMP/debootstrap.log"; dp_fail "debootstrap failed"; }
		fi
		mkdir -p "$base_cache"
		tar -C "$src" --numeric-owner -cf "$tarball.new" . && mv "$tarball.new" "$tarball"
	fi
	root=$DP_TMP/base
	mkdir -p "$root"
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		# the host's mirror, as the package test's chroot uses
		cp /etc/apt/sources.list.d/debian.sources "$root/"
	else
		cat >"$root/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
	cat >"$root/Containerfile" <<'EOF'
FROM localhost/dotpool-base:minbase
COPY debian.sources /etc/apt/sources.list.d/debian.sources
RUN rm -f /etc/apt/sources.list
CMD ["bash"]
EOF
	podman import "$tarball" localhost/dotpool-base:minbase >"$DP_TMP/import.log" 2>&1 ||
		dp_fail "podman import of $tarball failed"
	podman build --pull=never --layers=false -t docker.io/library/debian:bookworm \
		-t docker.io/library/debian:bookworm-slim "$root" >"$DP_TMP/base-build.log" 2>&1 ||
		{ tail -n 20 "$DP_TMP/base-build.log"; dp_fail "building the base image failed"; }
	podman rmi localhost/dotpool-base:minbase >/dev/null
	stamp "base image made from $tarball"
}
base_image

# ---- 2. the image, from the .debs already built ------------------------------
if ! ls "$debs"/unbound_"$unbound_version"-*.deb >/dev/null 2>&1; then
	stamp "no unbound $unbound_version .deb in $debs: building the packages"
	vars=$("$top/packaging/dotpool-deb/build.sh" "$out" | tail -n 1) ||
		dp_fail "building the packages failed"
	eval "$vars"
	debs=${UNBOUND_DEBS:?}
	ls "$debs"/unbound_"$unbound_version"-*.deb >/dev/null 2>&1 ||
		dp_fail "packaging/dotpool-deb/build.sh made no unbound $unbound_version .deb in $debs"
fi
ls "$debs"/unbound-dotpool_*.deb >/dev/null 2>&1 || dp_fail "no unbound-dotpool .deb in $debs"

# doc_command WORD: the first `WORD ...` command of a sh block in
# docs/deploying.md, continuation lines joined, as shell words one a line
# (the doc is the one place the commands are written; the test runs them).
doc_command() {
	python3 - "$doc" "$1" <<'EOF'
import re, shlex, sys
text = open(sys.argv[1]).read()
for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
    joined = re.sub(r"\\\n\s*", " ", block)
    for line in joined.splitlines():
        if line.startswith(sys.argv[2] + " "):
            print("\n".join(shlex.split(line)))
            sys.exit(0)
sys.exit("no `%s` command in a sh block of %s" % (sys.argv[2], sys.argv[1]))
EOF
}
# subst OLD NEW: in the array cmd, replace the word OLD (exactly one) by NEW;
# the documented command no longer matching what the test knows fails.
subst() {
	local i n=0
	for i in "${!cmd[@]}"; do
		if [ "${cmd[$i]}" = "$1" ]; then cmd[i]=$2; n=$((n + 1)); fi
	done
	[ "$n" = 1 ] || dp_fail "docs/deploying.md: expected the word '$1' once in: ${cmd[*]}"
}

mapfile -t cmd < <(doc_command "podman build") || dp_fail "no podman build command in $doc"
[ "${#cmd[@]}" -gt 2 ] || dp_fail "no podman build command in $doc"
subst debs=DIR "debs=$debs"
subst UNBOUND_VERSION=1.26.0 "UNBOUND_VERSION=$unbound_version"
subst dotpool "$image"
# --layers=false: no intermediate images left behind.
cmd=("${cmd[@]:0:2}" --layers=false "${cmd[@]:2}")
stamp "${cmd[*]}"
(cd "$top" && "${cmd[@]}") >"$DP_TMP/build.log" 2>&1 ||
	{ tail -n 30 "$DP_TMP/build.log"; dp_fail "the image build failed"; }
grep -q "STEP.*AS debs-build" "$DP_TMP/build.log" &&
	dp_fail "the build ran the debs-build stage although --build-context debs= gave the .debs"
size=$(podman image inspect --format '{{.Size}}' "$image")
stamp "image built: $((size / 1000000)) MB"
health=$(podman image inspect --format '{{json .HealthCheck}}' "$image")
assert_match '"Test":\["CMD","/usr/local/bin/dotpool-ready"\]' "$health" \
	"the image's HEALTHCHECK (kept by --format docker)"
assert_eq 10053:10053 "$(podman image inspect --format '{{.User}}' "$image")" "the image's user"

# ---- 3. run it as documented -----------------------------------------------
mkdir -p "$DP_TMP/zone"
dp_zone_write "$DP_TMP/zone/db"
# test. is one of Unbound's default (RFC 6761) local zones, which the
# entrypoint's configuration keeps: the image is asked for another name.
sed 's/dotpool\.test\./dotpool.example./g' "$DP_TMP/zone/db" >"$DP_TMP/zone/example.db"
dp_upstream_start up -z "dotpool.example=$DP_TMP/zone/example.db"
up_port=$(dp_get up tls_port)
chmod 0644 "$DP_CA"
dns_port=$(dp_free_port)
metrics_port=$(dp_free_port)

# doc_run NAME UPSTREAM DNS_PORT METRICS_PORT: the documented podman run,
# started as container NAME forwarding to UPSTREAM (IP@port#name).
doc_run() {
	mapfile -t cmd < <(doc_command "podman run") || dp_fail "no podman run command in $doc"
	[ "${#cmd[@]}" -gt 2 ] || dp_fail "no podman run command in $doc"
	for w in "${cmd[@]}"; do
		case $w in DOTPOOL_UPSTREAMS=*) subst "$w" "DOTPOOL_UPSTREAMS=$2" ;; esac
	done
	for i in "${!cmd[@]}"; do
		[ "${cmd[$i]}" = --name ] && cmd[i + 1]=$1
	done
	subst 127.0.0.1:53:53/udp "127.0.0.1:$3:53/udp"
	subst 127.0.0.1:53:53/tcp "127.0.0.1:$3:53/tcp"
	subst 127.0.0.1:9153:9153/tcp "127.0.0.1:$4:9153/tcp"
	[ "${cmd[-1]}" = dotpool ] ||
		dp_fail "the documented podman run does not end with the image 'dotpool': ${cmd[*]}"
	# The test's own additions, before the image: the upstream is on the
	# host's loopback, which slirp4netns reaches as 10.0.2.2 (the default
	# bridge would need a server on a non-loopback address); the test CA;
	# a zone the upstream serves; no DNSSEC (the test zone is unsigned).
	unset 'cmd[-1]'
	cmd+=(--network slirp4netns:allow_host_loopback=true
		-v "$DP_CA:/etc/dotpool-test/ca.pem:ro"
		-e DOTPOOL_TLS_CA=/etc/dotpool-test/ca.pem -e DOTPOOL_ZONE=dotpool.example
		-e DOTPOOL_DNSSEC=no -e DOTPOOL_VERBOSITY=2 "$image")
	stamp "${cmd[*]}"
	"${cmd[@]}" >"$DP_TMP/run.out" 2>&1 || { cat "$DP_TMP/run.out"; dp_fail "podman run failed"; }
}
doc_run "$cname" "10.0.2.2@$up_port#$DP_DOT_NAME" "$dns_port" "$metrics_port"

answer=
for _ in $(seq 1 100); do
	answer=$(kdig -p "$dns_port" @127.0.0.1 +short +timeout=1 +retry=0 \
		www.dotpool.example A 2>/dev/null || true)
	[ "$answer" = 192.0.2.1 ] && break
	[ "$(podman inspect --format '{{.State.Running}}' "$cname")" = true ] || break
	sleep 0.2
done
[ "$answer" = 192.0.2.1 ] ||
	{ podman logs "$cname" 2>&1 | tail -n 30; dp_fail "www.dotpool.example did not resolve through the container (got '$answer')"; }
answer=$(kdig -p "$dns_port" @127.0.0.1 +tcp +short +timeout=2 +retry=0 \
	www.dotpool.example AAAA 2>/dev/null || true)
assert_eq 2001:db8::1 "$answer" "AAAA over TCP through the container"
podman logs "$cname" >"$DP_TMP/ct.log" 2>&1
assert_grep "$DP_TMP/ct.log" "dotpool: loaded, 1 TLS forward zone" "the container's log"
assert_grep "$DP_TMP/ct.log" "10\.0\.2\.2@$up_port#$DP_DOT_NAME: answered, verified" "the container's log"
stamp "resolved www.dotpool.example -> 192.0.2.1 via 127.0.0.1@$dns_port -> the container's port 53 -> DoT 127.0.0.1@$up_port"
assert_eq 10053 "$(podman exec "$cname" id -u)" "the container's user"
podman exec "$cname" touch /usr/probe 2>/dev/null &&
	dp_fail "the container's root filesystem is writable"
assert_eq "700 10053" "$(podman exec "$cname" stat -c '%a %u' /run/unbound)" \
	"the tmpfs at /run/unbound (mode, owner)"
assert_eq 53 "$(podman exec "$cname" cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" \
	"the sysctl that lets the non-root user bind 53"

# ---- 4. health check, readiness, metrics -------------------------------------
hc=
for _ in $(seq 1 25); do
	podman healthcheck run "$cname" >"$DP_TMP/hc.out" 2>&1 && { hc=ok; break; }
	sleep 0.2
done
[ "$hc" = ok ] || { cat "$DP_TMP/hc.out"; dp_fail "podman healthcheck run: not healthy"; }
assert_eq healthy "$(podman inspect --format '{{.State.Health.Status}}' "$cname")" \
	"the container's health after podman healthcheck run"
assert_eq "ready: 1 of 1 upstreams up" "$(podman exec "$cname" dotpool-ready)" "dotpool-ready"
if ready=$(podman exec "$cname" dotpool-ready --min-up 2); then
	dp_fail "dotpool-ready --min-up 2 with one upstream said ready: $ready"
fi
assert_match '^not ready: 1 of 1 upstreams up \(need 2\)' "$ready" "dotpool-ready --min-up 2"
assert_eq "ready: unbound is running" "$(podman exec "$cname" dotpool-ready --control)" \
	"dotpool-ready --control"
curl -sf "http://127.0.0.1:$metrics_port/metrics" >"$DP_TMP/metrics" ||
	dp_fail "no metrics at 127.0.0.1:$metrics_port (the container's 9153)"
promtool check metrics <"$DP_TMP/metrics" >"$DP_TMP/promtool.out" 2>&1 ||
	{ cat "$DP_TMP/promtool.out"; dp_fail "promtool check metrics rejects the endpoint's text"; }
assert_grep "$DP_TMP/metrics" '^dotpool_upstream_up\{.*\} 1$' "the upstream up in the metrics"
assert_grep "$DP_TMP/metrics" "^dotpool_build_info\\{.*unbound_version=\"$unbound_version\"\\} 1$" \
	"the image's Unbound in the metrics"
# privacy: no query name in the metrics
assert_no_grep "$DP_TMP/metrics" "www\\." "the metrics"
stamp "healthy; $(podman exec "$cname" dotpool-ready); metrics: $(grep -c '^dotpool_' "$DP_TMP/metrics") series, promtool clean"

# The health check failing: an image whose only upstream refuses
# connections is not ready, says why, and podman counts the check failed.
dead_port=$(dp_free_port)
doc_run "$cname-down" "10.0.2.2@$dead_port#$DP_DOT_NAME" "$(dp_free_port)" "$(dp_free_port)"
ready=
for _ in $(seq 1 50); do
	ready=$(podman exec "$cname-down" dotpool-ready 2>&1) && break
	case $ready in "not ready: 0 of 1 upstreams up"*) break ;; esac
	sleep 0.2
done
assert_match "^not ready: 0 of 1 upstreams up \(need 1\): 10\.0\.2\.2@$dead_port#$DP_DOT_NAME: " \
	"$ready" "dotpool-ready with the upstream refusing"
if hc=$(podman healthcheck run "$cname-down" 2>&1); then
	dp_fail "podman healthcheck run says healthy with the upstream refusing: $hc"
fi
assert_match unhealthy "$hc" "podman healthcheck run with the upstream refusing"
podman rm -f -t 0 "$cname-down" >/dev/null 2>&1
stamp "upstream refusing: '$ready'; podman healthcheck run: $hc"

# ---- 5. a clean stop ----------------------------------------------------------
stop_timeout=$(podman inspect --format '{{.Config.StopTimeout}}' "$cname")
start=$(date +%s%N)
podman stop "$cname" >/dev/null 2>&1 || dp_fail "podman stop failed"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
assert_eq 0 "$(podman inspect --format '{{.State.ExitCode}}' "$cname")" "the container's exit code after podman stop"
assert_le "$ms" $((stop_timeout * 1000 - 1)) "milliseconds podman stop took (stop timeout ${stop_timeout}s)"
podman logs "$cname" >"$DP_TMP/ct.log" 2>&1
assert_grep "$DP_TMP/ct.log" "service stopped" "the container's log after the stop"
stamp "stopped in $ms ms, exit code 0"
dp_pass
