#!/usr/bin/env python3
"""Validate Kubernetes manifests against the Kubernetes OpenAPI schema,
offline: `kubectl --dry-run=client` needs an API server, and Debian has no
kubeconform. The schema is api/openapi-spec/swagger.json of Debian's
`kubernetes` source package; every object with declared properties is
closed (additionalProperties: false), so a misspelt field is an error, not
silently dropped as the API server's non-strict decoding would.

Usage: k8s_schema_check.py SWAGGER.json [--allow DEF.FIELD=SCHEMA]... FILE.yaml...

--allow adds a field the schema's Kubernetes release does not know yet
(SCHEMA is JSON Schema for its value, e.g. '{"enum": ["Local"]}'); a field
the schema already has is refused, so the list shrinks with newer schemas.
Prints one line per problem (file: Kind name: path: message) and, last, a
summary; exit 1 on any problem.
"""
import json
import sys

import jsonschema
import yaml

# Types the swagger file describes by "format" only, as strings; YAML
# gives their other forms as numbers.
LOOSE = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["integer", "string"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}


def load_definitions(path, allows):
    with open(path) as f:
        spec = json.load(f)
    defs = spec["definitions"]
    for name, schema in LOOSE.items():
        defs[name] = schema
    for d in defs.values():
        if "properties" in d and "additionalProperties" not in d:
            d["additionalProperties"] = False
    for allow in allows:
        target, _, value = allow.partition("=")
        dname, _, field = target.rpartition(".")
        if dname not in defs or "properties" not in defs[dname]:
            sys.exit(f"--allow {target}: no object definition {dname} in {path}")
        if field in defs[dname]["properties"]:
            sys.exit(f"--allow {target}: the schema already has this field; drop it from the allow-list")
        defs[dname]["properties"][field] = json.loads(value)
    kinds = {}
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            api = gvk["version"] if not gvk["group"] else f'{gvk["group"]}/{gvk["version"]}'
            # the same kind also appears under meta types (e.g. WatchEvent)
            if name.startswith("io.k8s.api.") or (api, gvk["kind"]) not in kinds:
                kinds[(api, gvk["kind"])] = name
    return defs, kinds


def where(err):
    return ".".join(str(p) for p in err.absolute_path) or "(top)"


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    swagger, rest = argv[1], argv[2:]
    allows, files = [], []
    while rest:
        a = rest.pop(0)
        if a == "--allow":
            allows.append(rest.pop(0))
        else:
            files.append(a)
    defs, kinds = load_definitions(swagger, allows)
    problems = objects = 0
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            objects += 1
            key = (doc.get("apiVersion"), doc.get("kind"))
            ident = f'{path}: {key[1]} {doc.get("metadata", {}).get("name", "?")}'
            if key not in kinds:
                print(f"{ident}: apiVersion/kind {key[0]}/{key[1]} not in the schema")
                problems += 1
                continue
            schema = {"$ref": f"#/definitions/{kinds[key]}", "definitions": defs}
            validator = jsonschema.Draft4Validator(schema)
            for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
                print(f"{ident}: {where(err)}: {err.message}")
                problems += 1
    print(f"{objects} objects in {len(files)} files checked against the schema, "
          f"{len(allows)} allowed newer fields, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
