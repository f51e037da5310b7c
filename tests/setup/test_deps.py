#!/usr/bin/env python3
"""Every tool a test calls, and every system file it reads, comes from a
package the README's test command installs.

The test command installs the package sets "build test pkg" of
scripts/deps.sh and nothing else. A test that calls a tool (dp_require,
command -v) or reads a file under /usr (a trust anchor, a stock binary)
from any other package passes on a developer's machine that happens to
have it and fails on a fresh one. This test finds each such tool or file,
asks dpkg which package ships it, and fails unless that package is in
those sets, is pulled in by them (their dependencies), or is part of
every Debian system (Essential or Priority: required).
"""
import os
import re
import shutil
import subprocess
import sys

TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
SETS = ["build", "test", "pkg", "upstream"]
# Tools the tests use when present and do without otherwise, each with why.
OPTIONAL = {
    "helm": "not packaged in Debian 12; the chart is rendered by "
            "tests/packaging/helm_render.py instead",
    "systemd-analyze": "only verifies the drop-in where systemd is the "
                       "init system (not in a container or chroot)",
}


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def wanted_packages():
    out = sh("bash", os.path.join(TOP, "scripts/deps.sh"), "--list", *SETS)
    if out.returncode != 0:
        sys.exit("deps: scripts/deps.sh --list failed: " + out.stderr)
    return set(out.stdout.split())


def closure(pkgs):
    """The packages pkgs depend on, recursively (what apt installs)."""
    out = sh("apt-cache", "depends", "--recurse", "--no-recommends",
             "--no-suggests", "--no-conflicts", "--no-breaks",
             "--no-replaces", "--no-enhances",
             *sorted(pkgs))
    got = set(pkgs)
    for line in out.stdout.splitlines():
        line = line.strip()
        m = re.match(r"^(?:\|?(?:Pre)?Depends: )?<?([a-z0-9][a-z0-9+.:-]*)>?$",
                     line)
        if m:
            got.add(m.group(1).split(":")[0])
    return got


def base_system():
    out = sh("dpkg-query", "-W", "-f=${Package} ${Essential} ${Priority}\n")
    base = set()
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and (f[1] == "yes" or f[2] == "required"):
            base.add(f[0])
    return base


def sources():
    for d in ("tests", "scripts"):
        for root, _, files in os.walk(os.path.join(TOP, d)):
            for f in files:
                if f.endswith((".sh", ".py")):
                    yield os.path.join(root, f)


def uses():
    """(kind, name, where) for each tool or file the tests rely on."""
    tool_re = re.compile(r"\b(?:dp_require|command -v)\s+([^;|&)>]*)")
    path_re = re.compile(r"(?<![\w$./-])(/usr/(?:s?bin|share|lib)/[\w./+-]+)")
    for path in sources():
        rel = os.path.relpath(path, TOP)
        if rel == "tests/setup/test_deps.py":
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                code = line.split("#", 1)[0] if path.endswith(".sh") else line
                for m in tool_re.finditer(code):
                    for word in m.group(1).split():
                        if word.startswith(("-", "$", '"', "'", "\\")):
                            continue
                        if not re.match(r"^[\w.+-]+$", word):
                            continue
                        yield "tool", word, "%s:%d" % (rel, n)
                for m in path_re.finditer(code):
                    p = m.group(1).rstrip(".")
                    if "*" in p:
                        continue
                    yield "file", p, "%s:%d" % (rel, n)


def owner(path):
    real = os.path.realpath(path)
    for cand in (path, real):
        out = sh("dpkg", "-S", cand)
        if out.returncode == 0:
            return out.stdout.split(":", 1)[0].split(",")[0].strip()
        # usrmerge: dpkg knows /bin/x, the test says /usr/bin/x
        if cand.startswith("/usr/"):
            out = sh("dpkg", "-S", cand[4:])
            if out.returncode == 0:
                return out.stdout.split(":", 1)[0].split(",")[0].strip()
    return None


def main():
    wanted = wanted_packages()
    allowed = closure(wanted) | base_system()
    failures = 0
    checked = 0
    seen = {}
    for kind, name, where in uses():
        if name in OPTIONAL:
            continue
        key = (kind, name)
        if key in seen:
            continue
        seen[key] = where
        checked += 1
        if kind == "tool":
            path = shutil.which(name)
            if not path:
                print("FAIL: %s uses the tool '%s', which no installed "
                      "package provides: add its package to scripts/deps.sh"
                      % (where, name))
                failures += 1
                continue
        else:
            path = name
            if not os.path.exists(path):
                # a path the test creates or a build product: not ours
                continue
        pkg = owner(path)
        if pkg is None:
            # built by the project (e.g. the dynlib Unbound) or not packaged
            continue
        if pkg not in allowed:
            print("FAIL: %s uses %s (%s), from the package %s, which the "
                  "test command does not install: add %s to a set of "
                  "scripts/deps.sh it installs (%s)"
                  % (where, name, path, pkg, pkg, " ".join(SETS)))
            failures += 1
    print("deps: %d tools and files checked against the packages of "
          "'scripts/deps.sh %s', %d not covered" % (checked, " ".join(SETS),
                                                    failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
