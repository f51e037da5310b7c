#!/usr/bin/env bash
# The Grafana dashboard may only use metric and label names the renderer
# really emits. The set comes from a render (tests/unit/metrics_demo
# --render), never from a hand-kept list; every PromQL expression of the
# dashboard (panel targets and template variables) is checked against it.
# A planted wrong name must be caught, so the checker itself is tested too.
set -euo pipefail
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
demo=${METRICS_DEMO:-./tests/unit/metrics_demo}
dashboard=${DOTPOOL_DASHBOARD:-$srcdir/deploy/grafana/dotpool.json}
command -v python3 >/dev/null || { echo "dashboard: python3 missing"; exit 99; }
[ -x "$demo" ] || { echo "dashboard: $demo not built"; exit 99; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$demo" --render >"$tmp/render.txt"

cat >"$tmp/check.py" <<'PY'
import json, re, sys

render, dashboard = sys.argv[1], sys.argv[2]
metrics, labels = set(), {"instance", "job"}  # target labels Prometheus adds
for line in open(render):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        name, kind = m.groups()
        metrics.add(name)
        if kind == "histogram":
            metrics.update(name + s for s in ("_bucket", "_sum", "_count"))
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} ", line)
    if m:
        labels.update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(2)))
if len(metrics) < 10:
    sys.exit("dashboard: the render has too few metrics: %s" % sorted(metrics))

exprs = []
def walk(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "definition") and isinstance(v, str):
                exprs.append((where, v))
            elif k == "query" and isinstance(v, str):
                exprs.append((where, v))
            else:
                walk(v, node.get("title", node.get("name", where)))
    elif isinstance(node, list):
        for v in node:
            walk(v, where)
walk(json.load(open(dashboard)), "dashboard")
exprs = [(w, e) for w, e in exprs if "dotpool_" in e or "by" in e]
if not exprs:
    sys.exit("dashboard: no PromQL expression found")

bad = []
used = set()
for where, e in exprs:
    for name in re.findall(r"\b(dotpool_[a-zA-Z0-9_:]*)", e):
        used.add(name)
        if name not in metrics:
            bad.append("%s: metric %s is not rendered" % (where, name))
    lab = []
    for grp in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", e):
        lab += [x.strip() for x in grp.split(",") if x.strip()]
    for grp in re.findall(r"\{([^}]*)\}", e):
        lab += re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"', grp)
    for grp in re.findall(r"label_values\([^,]*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", e):
        lab.append(grp)
    for name in lab:
        if name not in labels:
            bad.append("%s: label %s is not rendered" % (where, name))
for b in bad:
    print(b)
if bad:
    sys.exit(1)
print("dashboard: %d expressions, %d metric names, all rendered"
      % (len(exprs), len(used)))
PY

python3 "$tmp/check.py" "$tmp/render.txt" "$dashboard"

# The checker must notice a name the renderer does not emit, and a label.
sed 's/dotpool_connections_idle/dotpool_connections_idel/' "$dashboard" \
	>"$tmp/bad1.json"
if python3 "$tmp/check.py" "$tmp/render.txt" "$tmp/bad1.json" >/dev/null; then
	echo "dashboard: checker missed a misspelt metric name"; exit 1
fi
sed 's/sum by (class)/sum by (klass)/' "$dashboard" >"$tmp/bad2.json"
if python3 "$tmp/check.py" "$tmp/render.txt" "$tmp/bad2.json" >/dev/null; then
	echo "dashboard: checker missed a wrong label name"; exit 1
fi
echo "dashboard: checker catches planted mistakes"
