#!/usr/bin/env python3
"""Play one stage of container/Containerfile (default: the final one) into
a Debian root directory with chroot, since the test machine has no
container engine: ARG defaults, COPY (from the build context minus
.dockerignore, or --from=<stage> paths mapped to host directories) and RUN
(as /bin/sh -c inside the root, in WORKDIR, like the engines) are executed;
ENV, USER, WORKDIR, ENTRYPOINT and HEALTHCHECK are printed as JSON for the
caller to run the image's command the way an engine would.

Usage: containerfile_run.py [--stage NAME] CONTAINERFILE CONTEXT ROOT
                            [FROM-PATH=HOST-DIR]...
Understands the instructions the project's Containerfile uses; anything
else is an error, so a change there cannot silently go untested.
"""
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys


def logical_lines(text):
    text = re.sub(r"\\\n", " ", text)
    return [l.strip() for l in text.splitlines()
            if l.strip() and not l.strip().startswith("#")]


def subst(s, args):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: args.get(m.group(1) or m.group(2), m.group(0)), s)


def ignored(rel, patterns):
    parts = rel.split("/")
    for p in patterns:
        p = p.rstrip("/")
        pp = p[3:] if p.startswith("**/") else p
        if fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, pp):
            return True
        # a pattern naming a directory excludes what is under it
        for i in range(1, len(parts)):
            head = "/".join(parts[:i])
            if fnmatch.fnmatch(head, p):
                return True
        if p.startswith("**/") and any(fnmatch.fnmatch(x, pp) for x in parts):
            return True
    return False


def copy_context(context, target):
    """The build context minus .dockerignore, like `COPY . dst`."""
    patterns = []
    ign = os.path.join(context, ".dockerignore")
    if os.path.exists(ign):
        patterns = [l.strip() for l in open(ign)
                    if l.strip() and not l.startswith("#")]
    for dirpath, dirnames, filenames in os.walk(context):
        reld = os.path.relpath(dirpath, context)
        reld = "" if reld == "." else reld + "/"
        dirnames[:] = [d for d in dirnames if not ignored(reld + d, patterns)]
        os.makedirs(os.path.join(target, reld), exist_ok=True)
        for f in filenames:
            if not ignored(reld + f, patterns):
                src = os.path.join(dirpath, f)
                dst = os.path.join(target, reld + f)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                else:
                    shutil.copy2(src, dst)


def main(argv):
    argv = list(argv)
    stage = None
    if len(argv) > 2 and argv[1] == "--stage":
        stage = argv[2]
        del argv[1:3]
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    cf, context, root = argv[1:4]
    from_map = dict(a.split("=", 1) for a in argv[4:])
    lines = logical_lines(open(cf).read())
    starts = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    if stage is None:
        first = starts[-1]
    else:
        named = [i for i in starts if re.search(r"\sAS\s+" + re.escape(stage) + r"$",
                                                lines[i], re.I)]
        if not named:
            raise SystemExit(f"containerfile_run: no stage {stage}")
        first = named[0]
    nxt = [i for i in starts if i > first]
    final = lines[first + 1:nxt[0] if nxt else len(lines)]
    args, env = {}, {}
    # global ARGs before the first FROM are visible in FROM lines only
    image = {"User": "0", "Env": env, "WorkingDir": "/", "Entrypoint": None,
             "Healthcheck": None}
    for line in final:
        inst, _, rest = line.partition(" ")
        inst = inst.upper()
        if inst == "ARG":
            k, _, v = rest.partition("=")
            args[k] = v
        elif inst == "ENV":
            for tok in shlex.split(rest):
                k, _, v = tok.partition("=")
                env[k] = subst(v, {**args, **env})
        elif inst == "COPY":
            toks = shlex.split(rest)
            opts = [t for t in toks if t.startswith("--")]
            src, dst = [t for t in toks if not t.startswith("--")]
            mode = None
            for o in opts:
                if o.startswith("--chmod="):
                    mode = int(o.split("=", 1)[1], 8)
                elif o.startswith("--from="):
                    if src not in from_map:
                        raise SystemExit(f"containerfile_run: no host dir for {o} {src}")
                    src = from_map[src]
                    continue
                else:
                    raise SystemExit(f"containerfile_run: COPY option {o} not supported")
            target = os.path.join(root, dst.lstrip("/"))
            if not any(o.startswith("--from=") for o in opts):
                if src == ".":
                    copy_context(context, target)
                    continue
                src = os.path.join(context, src)
            if os.path.isdir(src):
                shutil.copytree(src, target, dirs_exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy(src, target)
                if mode is not None:
                    os.chmod(target, mode)
        elif inst == "RUN":
            cmd_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "DEBIAN_FRONTEND": "noninteractive", **args, **env}
            r = subprocess.run(["chroot", root, "/bin/sh", "-c",
                                'cd "$1" && shift && eval "$1"', "sh",
                                image["WorkingDir"], rest],
                               env=cmd_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                sys.stderr.write(r.stdout[-3000:])
                raise SystemExit(f"containerfile_run: RUN failed ({r.returncode}): {rest[:200]}")
        elif inst == "USER":
            image["User"] = subst(rest, args)
        elif inst == "WORKDIR":
            image["WorkingDir"] = rest
            os.makedirs(os.path.join(root, rest.lstrip("/")), exist_ok=True)
        elif inst == "ENTRYPOINT":
            image["Entrypoint"] = json.loads(rest)
        elif inst == "HEALTHCHECK":
            m = re.search(r"CMD (\[.*\])", rest)
            image["Healthcheck"] = json.loads(m.group(1)) if m else None
        elif inst in ("EXPOSE", "LABEL", "STOPSIGNAL"):
            pass
        else:
            raise SystemExit(f"containerfile_run: instruction {inst} not supported")
    print(json.dumps(image))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
