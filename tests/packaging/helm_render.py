#!/usr/bin/env python3
"""A small renderer for the subset of Helm's Go templates that the dotpool
chart uses, for offline tests (Debian has no helm). Stricter than Helm: an
unknown function, keyword or a missing value is an error, not "".

Supported: {{ }} with - trimming; define/include; if/else/end; pipelines of
.Values/.Release/.Chart paths, "strings", numbers, true/false and the
functions include, quote, nindent, indent, toYaml, join, default.

Usage: helm_render.py CHARTDIR [--name N] [--namespace NS]
                      [--values FILE.yaml]... [--set-json JSON]...
Prints the manifests (one "# Source:" document per template) like
`helm template`; NOTES.txt goes to stderr with --notes.
"""
import json
import os
import re
import sys

import yaml


class TemplateError(Exception):
    pass


TOKEN = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)


def tokenize(text, where):
    out = []
    pos = 0
    for m in TOKEN.finditer(text):
        chunk = text[pos:m.start()]
        if m.group(1):
            chunk = chunk.rstrip()
        out.append(("text", chunk))
        out.append(("action", m.group(2).strip(), where))
        pos = m.end()
        if m.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
    out.append(("text", text[pos:]))
    return out


def parse(tokens, defines):
    """Tokens -> node list; define blocks go to `defines`."""
    pos = 0

    def block(stop):
        nonlocal pos
        nodes = []
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok[0] == "text":
                if tok[1]:
                    nodes.append(("text", tok[1]))
                continue
            act, where = tok[1], tok[2]
            word = act.split(None, 1)[0] if act else ""
            if word in stop:
                return nodes, word, act
            if word == "if":
                cond = act[2:].strip()
                then, end, _ = block(("else", "end"))
                other = []
                if end == "else":
                    other, end, _ = block(("end",))
                if end != "end":
                    raise TemplateError(f"{where}: unclosed if")
                nodes.append(("if", cond, then, other, where))
            elif word == "define":
                m = re.fullmatch(r'define\s+"([^"]+)"', act)
                if not m:
                    raise TemplateError(f"{where}: bad define: {act}")
                body, end, _ = block(("end",))
                if end != "end":
                    raise TemplateError(f"{where}: unclosed define")
                defines[m.group(1)] = body
            elif word in ("else", "end", "range", "with", "template", "block"):
                raise TemplateError(f"{where}: unsupported or stray '{word}'")
            elif act.startswith("/*"):
                continue
            else:
                nodes.append(("expr", act, where))
        if stop:
            raise TemplateError(f"missing {{{{ end }}}} ({'/'.join(stop)})")
        return nodes, None, None

    nodes, _, _ = block(())
    return nodes


def split_outside_quotes(s, sep):
    parts, cur, inq = [], "", False
    for i, ch in enumerate(s):
        if ch == '"' and (i == 0 or s[i - 1] != "\\"):
            inq = not inq
        if ch == sep and not inq:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def words(cmd):
    return re.findall(r'"(?:[^"\\]|\\.)*"|\S+', cmd)


def go_str(v):
    if v is None:
        raise TemplateError("nil value printed")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        raise TemplateError(f"cannot print a {type(v).__name__} without toYaml")
    return str(v)


def truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == [] or v == {})


class Renderer:
    def __init__(self, defines):
        self.defines = defines

    def value(self, tok, ctx, where):
        if tok == ".":
            return ctx
        if tok.startswith('"'):
            return json.loads(tok)
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok.startswith("."):
            cur = ctx
            for part in tok[1:].split("."):
                if not isinstance(cur, dict) or part not in cur:
                    raise TemplateError(f"{where}: no value {tok}")
                cur = cur[part]
            return cur
        raise TemplateError(f"{where}: unknown word '{tok}'")

    def call(self, fn, args, where):
        if fn == "include":
            name, ctx = args
            if name not in self.defines:
                raise TemplateError(f"{where}: no template \"{name}\"")
            return self.render(self.defines[name], ctx)
        if fn == "quote":
            return json.dumps(go_str(args[0]))
        if fn in ("nindent", "indent"):
            n, s = args
            pad = " " * n
            s = "\n".join(pad + line for line in go_str(s).split("\n"))
            return "\n" + s if fn == "nindent" else s
        if fn == "toYaml":
            return yaml.safe_dump(args[0], default_flow_style=False,
                                  sort_keys=True).rstrip("\n")
        if fn == "join":
            sep, lst = args
            if not isinstance(lst, list):
                raise TemplateError(f"{where}: join of a non-list")
            return sep.join(go_str(x) for x in lst)
        if fn == "default":
            d, v = args
            return v if truthy(v) else d
        raise TemplateError(f"{where}: unknown function '{fn}'")

    def pipeline(self, text, ctx, where):
        result, have = None, False
        for cmd in split_outside_quotes(text, "|"):
            w = words(cmd.strip())
            if not w:
                raise TemplateError(f"{where}: empty command in '{text}'")
            if re.fullmatch(r"[A-Za-z]\w*", w[0]) and w[0] not in ("true", "false"):
                args = [self.value(a, ctx, where) for a in w[1:]]
                if have:
                    args.append(result)
                result = self.call(w[0], args, where)
            else:
                if len(w) != 1 or have:
                    raise TemplateError(f"{where}: bad pipeline '{text}'")
                result = self.value(w[0], ctx, where)
            have = True
        return result

    def render(self, nodes, ctx):
        out = []
        for n in nodes:
            if n[0] == "text":
                out.append(n[1])
            elif n[0] == "expr":
                out.append(go_str(self.pipeline(n[1], ctx, n[2])))
            elif n[0] == "if":
                branch = n[2] if truthy(self.pipeline(n[1], ctx, n[4])) else n[3]
                out.append(self.render(branch, ctx))
        return "".join(out)


def merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def render_chart(chart, name="release", namespace="default", overrides=()):
    with open(os.path.join(chart, "Chart.yaml")) as f:
        meta = yaml.safe_load(f)
    with open(os.path.join(chart, "values.yaml")) as f:
        values = yaml.safe_load(f) or {}
    for o in overrides:
        merge(values, o)
    ctx = {
        "Values": values,
        "Release": {"Name": name, "Namespace": namespace, "Service": "Helm"},
        "Chart": {"Name": meta["name"], "Version": meta["version"],
                  "AppVersion": meta.get("appVersion", "")},
    }
    tdir = os.path.join(chart, "templates")
    defines, files = {}, []
    for fn in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, fn)) as f:
            nodes = parse(tokenize(f.read(), f"templates/{fn}"), defines)
        files.append((fn, nodes))
    r = Renderer(defines)
    docs, notes = [], ""
    for fn, nodes in files:
        if fn.startswith("_"):
            continue
        text = r.render(nodes, ctx)
        if fn == "NOTES.txt":
            notes = text
        elif fn.endswith((".yaml", ".yml")) and text.strip():
            docs.append(f"---\n# Source: {meta['name']}/templates/{fn}\n{text.strip()}\n")
    return "".join(docs), notes


def main(argv):
    args = argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    chart, name, ns, over, notes = args[0], "release", "default", [], False
    i = 1
    while i < len(args):
        a = args[i]
        if a == "--notes":
            notes = True
            i += 1
            continue
        if i + 1 >= len(args):
            print(f"helm_render: {a} needs a value", file=sys.stderr)
            return 2
        v = args[i + 1]
        if a == "--name":
            name = v
        elif a == "--namespace":
            ns = v
        elif a == "--values":
            with open(v) as f:
                over.append(yaml.safe_load(f) or {})
        elif a == "--set-json":
            over.append(json.loads(v))
        else:
            print(f"helm_render: unknown option {a}", file=sys.stderr)
            return 2
        i += 2
    try:
        out, text = render_chart(chart, name, ns, over)
    except (TemplateError, KeyError, ValueError) as e:
        print(f"helm_render: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    if notes:
        sys.stderr.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
