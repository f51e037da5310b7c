#!/usr/bin/env bash
# Offline checks of deploy/: yamllint, the Helm chart rendered by a small
# renderer of our own (Debian has no helm; a real helm, if on PATH, also
# lints and renders), the Kubernetes OpenAPI schema with unknown fields as
# errors (k8s_schema_check.py), the key fields of every object (check_manifests.py),
# mutations that those checks must catch, the Containerfile's rules, and
# the environment of every dotpool container fed to container/entrypoint.sh
# --check, so the dynlib unbound-checkconf sees the config each would run.
# Python snippets in single quotes below are not shell expansions.
# shellcheck disable=SC2016
set -uo pipefail
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/lib.sh"
python3 -c 'import yaml' 2>/dev/null || skip_all "python3-yaml missing"
render=$top/tests/packaging/helm_render.py
check=$top/tests/packaging/check_manifests.py
chart=$top/deploy/helm/dotpool
ep=$top/container/entrypoint.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- render the chart with several value sets -------------------------------
render_case() {  # NAME [renderer args...]
	local n=$1; shift
	if python3 "$render" "$chart" --name dp --namespace dns --notes "$@" \
		>"$tmp/$n.yaml" 2>"$tmp/$n.notes"; then
		pass "chart renders ($n)"
	else
		flunk "chart does not render ($n): $(cat "$tmp/$n.notes")"
	fi
}
render_case default
render_case daemonset-only --set-json '{"sidecarExample": {"enabled": false}}'
render_case sidecar-only --set-json '{"daemonset": {"enabled": false}}'
render_case custom --set-json '{"upstreams": ["2620:fe::fe@853#dns.quad9.net", "194.242.2.2#dns.mullvad.net"],
	"zone": "example.org", "clusterDNS": "", "dnssec": false, "minUpstreamsUp": 2,
	"image": {"tag": "test"}, "daemonset": {"serviceIP": "10.96.0.53", "listenPort": 8053}}'
kinds() { python3 -c 'import sys, yaml; print(" ".join(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$1"; }
check_that "default values: DaemonSet, Service and the sidecar example" \
	test "$(kinds "$tmp/default.yaml")" = "DaemonSet Service Deployment"
check_that "sidecarExample.enabled=false drops the example" \
	test "$(kinds "$tmp/daemonset-only.yaml")" = "DaemonSet Service"
check_that "daemonset.enabled=false drops DaemonSet and Service" \
	test "$(kinds "$tmp/sidecar-only.yaml")" = "Deployment"
custom_ok() {
	grep -q 'clusterIP: 10.96.0.53' "$tmp/custom.yaml" &&
		grep -q 'image: ghcr.io/example/dotpool:test' "$tmp/custom.yaml" &&
		grep -q '"--min-up", "2"' "$tmp/custom.yaml" &&
		grep -q 'containerPort: 8053' "$tmp/custom.yaml" &&
		! grep -q DOTPOOL_CLUSTER_DNS "$tmp/custom.yaml"
}
check_that "values reach the manifests (serviceIP, image tag, minUpstreamsUp, port, clusterDNS off)" custom_ok
check_that "NOTES.txt renders" grep -q 'Service dp-dotpool ' "$tmp/default.notes"
# the renderer is strict: a missing value is an error (Helm would print "")
mkdir -p "$tmp/badchart/templates"
cp "$chart/Chart.yaml" "$chart/values.yaml" "$tmp/badchart/"
printf 'a: {{ .Values.nosuch.key }}\n' >"$tmp/badchart/templates/x.yaml"
if python3 "$render" "$tmp/badchart" >/dev/null 2>"$tmp/bad.err"; then
	flunk "renderer accepts a missing value"
else check_that "renderer refuses missing values, naming them" \
	grep -q 'no value .Values.nosuch.key' "$tmp/bad.err"; fi

# ---- yamllint ------------------------------------------------------------------
if command -v yamllint >/dev/null; then
	if out=$(yamllint -s -c "$top/deploy/.yamllint" "$top"/deploy/kubernetes/*.yaml \
		"$chart/Chart.yaml" "$chart/values.yaml" "$tmp"/default.yaml "$tmp"/custom.yaml 2>&1); then
		pass "yamllint: manifests, chart metadata and rendered output clean"
	else flunk "yamllint: $out"; fi
else
	printf '# yamllint not installed: skipped (scripts/deps.sh pkg)\n'
fi
if command -v helm >/dev/null; then
	check_that "helm lint" helm lint "$chart"
	check_that "helm template" helm template dp "$chart"
fi

# ---- key fields -------------------------------------------------------------------
for f in "$top"/deploy/kubernetes/*.yaml "$tmp"/default.yaml "$tmp"/custom.yaml; do
	if out=$(python3 "$check" --env-out "$tmp/env.$(basename "$f" .yaml)" "$ep" "$f" 2>&1); then
		pass "$(basename "$f"): ${out##*$'\n'}"
	else flunk "$(basename "$f"): $out"; fi
done

# ---- the Kubernetes OpenAPI schema, unknown fields as errors ----------------------
# Debian 12 has no offline validator (kubectl --dry-run=client needs an API
# server); its kubernetes source package carries the API's OpenAPI schema.
# Fetched once with apt-get source (needs a deb-src entry), cached.
schema_dir=${DOTPOOL_K8S_SCHEMA_DIR:-$top/.cache/k8s-schema}
schema=$schema_dir/swagger.json
if [ ! -s "$schema" ]; then
	mkdir -p "$tmp/k8s" "$schema_dir"
	if (cd "$tmp/k8s" && apt-get source --download-only kubernetes) >"$tmp/k8s.log" 2>&1 &&
		tar -xzf "$tmp"/k8s/kubernetes_*.orig.tar.gz -O --wildcards \
			'*/api/openapi-spec/swagger.json' >"$schema.new" 2>>"$tmp/k8s.log"; then
		(cd "$tmp/k8s" && ls ./*.dsc) >"$schema_dir/SOURCE"
		mv "$schema.new" "$schema"
	else
		rm -f "$schema.new"
	fi
fi
schema_check=$top/tests/packaging/k8s_schema_check.py
# Fields newer than the schema's Kubernetes (1.20), each with why we use it:
allow=(
	# the node-local Service: GA in 1.26, the DaemonSet's minimum
	--allow 'io.k8s.api.core.v1.ServiceSpec.internalTrafficPolicy={"type": "string", "enum": ["Cluster", "Local"]}'
	# the native sidecar (an init container that keeps running): 1.29
	--allow 'io.k8s.api.core.v1.Container.restartPolicy={"type": "string", "enum": ["Always"]}'
)
if [ ! -s "$schema" ]; then
	flunk "no Kubernetes OpenAPI schema at $schema: apt-get source kubernetes failed (needs a deb-src line in apt's sources): $(tail -n 3 "$tmp/k8s.log")"
elif ! python3 -c 'import jsonschema' 2>/dev/null; then
	flunk "python3-jsonschema missing (scripts/deps.sh pkg)"
else
	if out=$(python3 "$schema_check" "$schema" "${allow[@]}" "$top"/deploy/kubernetes/*.yaml \
		"$tmp"/default.yaml "$tmp"/custom.yaml 2>&1); then
		pass "OpenAPI schema ($(cat "$schema_dir/SOURCE" 2>/dev/null || echo swagger.json)): ${out##*$'\n'}"
	else flunk "OpenAPI schema: $out"; fi
	# A misspelt field passes the key-field check (it looks only at what
	# it knows) and the API server would drop it; the schema refuses it.
	schema_mutate() {  # DESC FIELD SED-EXPR
		sed "$3" "$top/deploy/kubernetes/daemonset.yaml" >"$tmp/typo.yaml"
		grep -q "$2" "$tmp/typo.yaml" || { flunk "mutation '$1' changed nothing"; return; }
		if out=$(python3 "$schema_check" "$schema" "${allow[@]}" "$tmp/typo.yaml" 2>&1); then
			flunk "OpenAPI schema misses: $1"
		elif grep -q "'$2' was unexpected" <<<"$out"; then
			pass "OpenAPI schema catches: $1 ($(grep -m1 "'$2'" <<<"$out" | sed 's/^[^:]*: //'))"
		else flunk "OpenAPI schema: $1: wrong complaint: $out"; fi
	}
	schema_mutate "updateStrategy misspelt" updateStratgy 's/updateStrategy:/updateStratgy:/'
	schema_mutate "periodSeconds misspelt" periodSecond 's/periodSeconds:/periodSecond:/'
	# and a field of a newer Kubernetes is refused unless allowed
	if out=$(python3 "$schema_check" "$schema" "$top"/deploy/kubernetes/daemonset.yaml 2>&1); then
		flunk "OpenAPI schema accepts internalTrafficPolicy without the allow-list"
	else check_that "OpenAPI schema: internalTrafficPolicy needs the allow-list" \
		grep -q "'internalTrafficPolicy' was unexpected" <<<"$out"; fi
fi

# ---- mutations the checks must catch ---------------------------------------------
mutate() {  # DESC PYTHON-EXPR-ON-docs
	python3 - "$tmp/default.yaml" "$tmp/mut.yaml" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds, svc, dep = docs
dsc = ds["spec"]["template"]["spec"]["containers"][0]
side = dep["spec"]["template"]["spec"]["initContainers"][0]
exec(sys.argv[3])
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
	if out=$(python3 "$check" "$ep" "$tmp/mut.yaml" 2>&1); then
		flunk "not caught: $1"
	else pass "caught: $1 (${out%%$'\n'*})"; fi
}
mutate "writable root filesystem" 'dsc["securityContext"]["readOnlyRootFilesystem"] = False'
mutate "runs as root" 'side["securityContext"]["runAsUser"] = 0'
mutate "misspelt variable" 'dsc["env"][0]["name"] = "DOTPOOL_UPSTREAM"'
mutate "no tmpfs at /run/unbound" 'ds["spec"]["template"]["spec"]["volumes"] = []; dsc["volumeMounts"] = []'
mutate "readiness on the daemon only" 'dsc["readinessProbe"]["exec"]["command"].append("--control")'
mutate "liveness follows the upstreams" 'side["livenessProbe"]["exec"]["command"] = ["/usr/local/bin/dotpool-ready"]'
mutate "Service not node-local" 'del svc["spec"]["internalTrafficPolicy"]'
mutate "Service without TCP" 'svc["spec"]["ports"] = svc["spec"]["ports"][:1]'
mutate "Service selects nothing" 'svc["spec"]["selector"]["app.kubernetes.io/instance"] = "other"'
mutate "targetPort name unknown" 'svc["spec"]["ports"][0]["targetPort"] = "dnz"'
mutate "selector does not match the pod" 'ds["spec"]["selector"]["matchLabels"]["x"] = "y"'
mutate "port 53 without the sysctl" 'del dep["spec"]["template"]["spec"]["securityContext"]["sysctls"]'
mutate "sidecar not native" 'del side["restartPolicy"]'
mutate "metrics port not declared" 'dsc["ports"] = dsc["ports"][:2]'
mutate "numeric env value" 'dsc["env"][2]["value"] = 9153'
mutate "capability added" 'dsc["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]'

# ---- every dotpool container's environment through the entrypoint ----------------
if find_dynlib_unbound; then
	: >"$tmp/dotpool.so"
	n=0
	for envf in "$tmp"/env.*/*.env; do
		[ -f "$envf" ] || continue
		# a mounted unbound.conf (plain DaemonSet): test_configs.sh checks it
		grep -q '^DOTPOOL_UPSTREAMS=' "$envf" || continue
		n=$((n + 1))
		run=$tmp/run.$n
		mkdir -p "$run"
		mapfile -t vars <"$envf"
		if out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${vars[@]}" DOTPOOL_RUN_DIR="$run" \
			DOTPOOL_UNBOUND_CONF="$tmp/none/unbound.conf" DOTPOOL_MODULE="$tmp/dotpool.so" \
			DOTPOOL_ROOT_KEY=/usr/share/dns/root.key UNBOUND_CHECKCONF="$CHECKCONF" \
			DOTPOOL_CHECKCONF="${DOTPOOL_CHECKCONF:-$top/dotpool-checkconf}" \
			sh "$ep" --check 2>&1); then
			pass "$(basename "$(dirname "$envf")")/$(basename "$envf" .env): the entrypoint's config passes unbound-checkconf and dotpool-checkconf"
		else flunk "$envf: $out"; fi
	done
	check_that "$n container environments checked (4 expected)" test "$n" -ge 4
else
	printf '# no dynlib unbound-checkconf: environments not checked\n'
fi

# ---- Containerfile rules (no hadolint in Debian) ----------------------------------
cf=$top/container/Containerfile
# The conditions are Python, single-quoted on purpose.
# shellcheck disable=SC2016
cf_check() {  # DESC PYTHON-CONDITION (lines: logical lines of the file)
	if python3 - "$cf" "$top" "$2" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
top = sys.argv[2]
lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
stages = [i for i, l in enumerate(lines) if l.startswith("FROM ")]
final = lines[stages[-1]:]
runs = [l for l in lines if l.startswith("RUN ")]
sys.exit(0 if eval(sys.argv[3]) else 1)
PY
	then pass "Containerfile: $1"; else flunk "Containerfile: $1"; fi
}
cf_check "base images name a release, not latest (scratch: the .debs' stage)" \
	'all(re.search(r"debian:\$\{DEBIAN_RELEASE\}|debian:[a-z]+|^FROM scratch AS ", l) and ":latest" not in l for l in lines if l.startswith("FROM "))'
cf_check "final stage runs as a numeric non-root user" \
	'any(l.startswith("USER ") for l in final) and [l for l in final if l.startswith("USER ")][-1].split()[1].split(":")[0] in ("${UID}", ) and "ARG UID=10053" in final'
cf_check "apt-get install with --no-install-recommends, lists removed in the same RUN" \
	'all("--no-install-recommends" in r and "rm -rf /var/lib/apt/lists/*" in r for r in runs if "apt-get install" in r)'
cf_check "no ADD" 'not any(l.startswith("ADD ") for l in lines)'
cf_check "exec-form ENTRYPOINT and HEALTHCHECK" \
	'any(l.startswith("ENTRYPOINT [") for l in final) and any(l.startswith("HEALTHCHECK") and "CMD [" in l for l in final)'
cf_check "COPY sources exist and the entrypoint/probe are installed where manifests expect" \
	'all(os.path.exists(os.path.join(top, l.split()[-2])) for l in final if l.startswith("COPY ") and "--from" not in l) and "/usr/local/bin/dotpool-ready" in text and "/usr/local/bin/dotpool-entrypoint" in text'
cf_check "writable state only under /run/unbound" \
	'"DOTPOOL_RUN_DIR=/run/unbound" in text and "install -d -o \"${UID}\" -g \"${UID}\" -m 0700 /run/unbound" in text'
finish
