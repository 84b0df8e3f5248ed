#!/usr/bin/env python3
"""Validate the Kubernetes manifests under deploy/. Run by .ci/validate-deploy inside its venv
(needs kubernetes-validate, which brings PyYAML and jsonschema).

1. Every YAML file under deploy/ is accounted for: a kustomization.yaml, a patch that a
   kustomization names, or Kubernetes objects listed in some kustomization's resources.
   Each object is validated against the Kubernetes OpenAPI schemas (strict: unknown fields
   are errors) for the oldest and newest Kubernetes versions we support; cert-manager's
   Certificate is checked against a structural schema written below.
2. Each kustomization directory is rendered by the small kustomize subset below (resources,
   JSON 6902 patches with a target, and strategic-merge `$patch: delete`). When kubectl is on
   PATH, `kubectl kustomize` renders it too and the two renderings must agree.
3. Every rendering is validated again, then checked for the things that make or break the
   sidecar: securityContext and resources of every container, certgate's ports and probes
   matching its --listen/--admin-listen, grace period vs --shutdown-grace, every file flag
   lying on a whole-volume mount (no subPath), Service/PDB/NetworkPolicy selectors and ports,
   and that every CA certificate in a ConfigMap parses and is not about to expire.
4. With --certgate BIN: certgate's args from each rendering are run for real with the
   /etc/certgate paths mapped onto a throwaway PKI: `certgate run` must start, report ready
   and exit 0 on SIGTERM; `certgate check` must allow each subject rule's certificate (from
   --allow or an --allow-file's ConfigMap) on its route and deny a foreign subject and a
   certificate from another bundle's CA.
5. deploy/monitoring (a kustomization of Prometheus Operator objects only): the PrometheusRule
   carries exactly the plain rule file beside it, `promtool check rules` and `promtool test
   rules` pass, the PodMonitor selects the Deployment's pods and a named port, the Grafana
   dashboard is well-formed, and every metric that a rule or panel names is one that certgate's
   /metrics (scraped in step 4) exports.

Quiet on success. On failure: one line per problem on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# Oldest: lifecycle.preStop.sleep is on by default from 1.30. Newest: what the schemas know.
K8S_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]

errors: list[str] = []


def fail(where: str, msg: str) -> None:
    errors.append(f"{where}: {msg}")


def rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys, as kubectl does (PyYAML keeps the last)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_all(path: Path) -> list:
    with open(path) as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]


def ident(obj: dict) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


# --------------------------------------------------------------------------------------------
# Schemas

DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
KEY_USAGES = [
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
]
# A structural subset of cert-manager.io/v1 Certificate (the CRD is not in the Kubernetes
# schemas): the fields we use are typed, unknown fields are errors.
CERTIFICATE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "required": ["secretName", "issuerRef"],
            "additionalProperties": False,
            "anyOf": [
                {"required": ["dnsNames"]}, {"required": ["ipAddresses"]},
                {"required": ["uris"]}, {"required": ["emailAddresses"]},
                {"required": ["commonName"]}, {"required": ["literalSubject"]},
            ],
            "properties": {
                "secretName": {"type": "string", "minLength": 1},
                "secretTemplate": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "issuerRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "kind": {"type": "string"},
                        "group": {"type": "string"},
                    },
                },
                "commonName": {"type": "string"},
                "literalSubject": {"type": "string"},
                "dnsNames": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "ipAddresses": {"type": "array", "items": {"type": "string"}},
                "uris": {"type": "array", "items": {"type": "string"}},
                "emailAddresses": {"type": "array", "items": {"type": "string"}},
                "duration": {"type": "string", "pattern": DURATION},
                "renewBefore": {"type": "string", "pattern": DURATION},
                "renewBeforePercentage": {"type": "integer"},
                "revisionHistoryLimit": {"type": "integer", "minimum": 1},
                "isCA": {"type": "boolean"},
                "encodeUsagesInRequest": {"type": "boolean"},
                "usages": {"type": "array", "items": {"enum": KEY_USAGES}},
                "subject": {"type": "object"},
                "keystores": {"type": "object"},
                "additionalOutputFormats": {"type": "array"},
                "nameConstraints": {"type": "object"},
                "otherNames": {"type": "array"},
                "privateKey": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "encoding": {"enum": ["PKCS1", "PKCS8"]},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                        "size": {"type": "integer"},
                    },
                },
            },
        },
    },
}


# Structural subsets of the Prometheus Operator's monitoring.coreos.com/v1 PrometheusRule and
# PodMonitor (deploy/monitoring): the fields we use are typed, unknown fields are errors.
MONITORING_METADATA = CERTIFICATE_SCHEMA["properties"]["metadata"]
PROM_DURATION = r"^(([0-9]+)(y|w|d|h|m|s|ms))+$"
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": MONITORING_METADATA,
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {"groups": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["name", "rules"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": {"type": "string", "pattern": PROM_DURATION},
                    "rules": {"type": "array", "minItems": 1, "items": {
                        "type": "object",
                        "required": ["expr"],
                        "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                        "additionalProperties": False,
                        "properties": {
                            "alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                            "record": {"type": "string"},
                            "expr": {"type": "string", "minLength": 1},
                            "for": {"type": "string", "pattern": PROM_DURATION},
                            "keep_firing_for": {"type": "string", "pattern": PROM_DURATION},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "annotations": {"type": "object",
                                            "additionalProperties": {"type": "string"}},
                        },
                    }},
                },
            }}},
        },
    },
}
POD_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "metadata": MONITORING_METADATA,
        "spec": {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object",
                                                   "additionalProperties": {"type": "string"}}},
                },
                "namespaceSelector": {"type": "object"},
                "jobLabel": {"type": "string"},
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object",
                    "required": ["port"],
                    "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string", "minLength": 1},
                        "path": {"type": "string", "pattern": "^/"},
                        "scheme": {"enum": ["http", "https"]},
                        "interval": {"type": "string", "pattern": PROM_DURATION},
                        "scrapeTimeout": {"type": "string", "pattern": PROM_DURATION},
                        "honorLabels": {"type": "boolean"},
                    },
                }},
            },
        },
    },
}
MONITORING_SCHEMAS = {"PrometheusRule": PROMETHEUS_RULE_SCHEMA, "PodMonitor": POD_MONITOR_SCHEMA}


def validate_object(obj, where: str) -> None:
    if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
        fail(where, "not a Kubernetes object (no apiVersion/kind)")
        return
    where = f"{where}: {ident(obj)}"
    if obj["apiVersion"].startswith("cert-manager.io/"):
        for e in jsonschema.Draft202012Validator(CERTIFICATE_SCHEMA).iter_errors(obj):
            path = "/".join(str(p) for p in e.absolute_path)
            fail(where, f"cert-manager schema: at /{path}: {e.message}")
        return
    if obj["apiVersion"].startswith("monitoring.coreos.com/"):
        schema = MONITORING_SCHEMAS.get(obj["kind"])
        if schema is None:
            fail(where, f"no schema for {obj['kind']}: extend .ci/validate-deploy.py")
            return
        for e in jsonschema.Draft202012Validator(schema).iter_errors(obj):
            path = "/".join(str(p) for p in e.absolute_path)
            fail(where, f"Prometheus Operator schema: at /{path}: {e.message}")
        return
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.utils.ValidationError as e:
            path = "/".join(str(p) for p in e.absolute_path)
            fail(where, f"Kubernetes {version} schema: at /{path}: {e.message}")
            return
        except kubernetes_validate.utils.SchemaNotFoundError as e:
            fail(where, e.message)
            return


# --------------------------------------------------------------------------------------------
# A small kustomize: exactly the features deploy/ uses, and an error for anything else.

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "patches"}


def json_pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} does not start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_json6902(doc, ops: list) -> None:
    for n, op in enumerate(ops):
        kind, parts = op.get("op"), json_pointer(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        where = f"operation {n} ({kind} {op['path']})"
        if isinstance(parent, list):
            if kind == "add" and last == "-":
                parent.append(copy.deepcopy(op["value"]))
                continue
            i = int(last)
            if not 0 <= i < len(parent) + (1 if kind == "add" else 0):
                raise ValueError(f"{where}: index out of range")
            if kind == "add":
                parent.insert(i, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[i] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[i]
            elif kind == "test":
                if parent[i] != op["value"]:
                    raise ValueError(f"{where}: found {parent[i]!r}, expected {op['value']!r}")
            else:
                raise ValueError(f"{where}: unsupported op")
        else:
            if kind in ("replace", "remove", "test") and last not in parent:
                raise ValueError(f"{where}: no such member")
            if kind in ("add", "replace"):
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            elif kind == "test":
                if parent[last] != op["value"]:
                    raise ValueError(f"{where}: found {parent[last]!r}, expected {op['value']!r}")
            else:
                raise ValueError(f"{where}: unsupported op")


def matches_target(obj: dict, target: dict) -> bool:
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    want = {"group": group, "version": version, "kind": obj.get("kind"),
            "name": obj.get("metadata", {}).get("name")}
    return all(want.get(k) == v for k, v in target.items())


def render(kdir: Path, patch_files: set[Path], resource_files: set[Path]) -> list[dict]:
    kfile = kdir / "kustomization.yaml"
    (k,) = load_all(kfile)
    where = rel(kfile)
    unknown = set(k) - KUSTOMIZATION_KEYS
    if unknown:
        raise ValueError(f"{where}: fields {sorted(unknown)} are not supported by "
                         ".ci/validate-deploy.py's renderer: extend it")
    if k.get("kind") != "Kustomization":
        raise ValueError(f"{where}: kind must be Kustomization")
    for patch in k.get("patches", []):
        patch_files.add((kdir / patch["path"]).resolve())
    objs: list[dict] = []
    for r in k.get("resources", []):
        p = (kdir / r)
        if p.is_dir():
            objs += render(p, patch_files, resource_files)
        elif p.is_file():
            resource_files.add(p.resolve())
            objs += load_all(p)
        else:
            raise ValueError(f"{where}: resource {r} does not exist")
    for patch in k.get("patches", []):
        if set(patch) - {"path", "target"}:
            raise ValueError(f"{where}: patch fields {sorted(patch)} not supported: extend it")
        p = kdir / patch["path"]
        if not p.is_file():
            raise ValueError(f"{where}: patch {patch['path']} does not exist")
        patch_files.add(p.resolve())
        (body,) = load_all(p)
        if isinstance(body, list):  # JSON 6902
            if "target" not in patch:
                raise ValueError(f"{where}: JSON 6902 patch {patch['path']} needs a target")
            hits = [o for o in objs if matches_target(o, patch["target"])]
            if len(hits) != 1:
                raise ValueError(f"{where}: patch {patch['path']} target {patch['target']} "
                                 f"matches {len(hits)} objects, expected 1")
            try:
                apply_json6902(hits[0], body)
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(f"{rel(p)}: {e}") from None
        elif isinstance(body, dict) and body.get("$patch") == "delete":
            hits = [o for o in objs if ident(o) == ident(body)
                    and o.get("apiVersion") == body.get("apiVersion")]
            if len(hits) != 1:
                raise ValueError(f"{rel(p)}: deletes {ident(body)}, which the base does not have")
            objs.remove(hits[0])
        else:
            raise ValueError(f"{rel(p)}: only JSON 6902 patches and `$patch: delete` are "
                             "supported by the renderer: extend it")
    return objs


def sort_key(o: dict):
    return (o.get("apiVersion", ""), o.get("kind", ""), o.get("metadata", {}).get("name", ""))


def kubectl_render(kdir: Path) -> list[dict] | None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    r = subprocess.run([kubectl, "kustomize", str(kdir)], capture_output=True, text=True)
    if r.returncode != 0:
        fail(rel(kdir), f"kubectl kustomize failed: {r.stderr.strip()}")
        return None
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None]


# --------------------------------------------------------------------------------------------
# Semantic checks on one rendering


def parse_duration(s: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    total, pos = 0.0, 0
    for m in re.finditer(r"\s*(\d+)\s*(ms|sec|min|s|m|h|d)\s*", s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"cannot parse duration {s!r}")
    return total


def parse_args(args: list[str]) -> list[tuple[str, str | None]]:
    out = []
    for a in args[1:]:
        if not a.startswith("--"):
            raise ValueError(f"argument {a!r}: write flags as --flag=value, one per item")
        name, eq, value = a.partition("=")
        out.append((name, value if eq else None))
    return out


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


def host_of(addr: str) -> str:
    return addr.rsplit(":", 1)[0].strip("[]")


def labels_match(selector: dict, labels: dict) -> bool:
    if set(selector) - {"matchLabels"}:
        return False  # matchExpressions: not used here
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


PATH_FLAGS = {"--server-cert", "--server-key", "--trust", "--intermediates", "--crl"}


def path_args(flags) -> list[tuple[str, str]]:
    out = []
    for name, value in flags:
        if name in PATH_FLAGS:
            out.append((name, value))
        elif name in ("--trust-bundle", "--allow-file"):
            out.append((name, value.split("=", 1)[1]))
    return out


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


def check_ca_pem(where: str, text: str, binary: Path | None) -> None:
    blocks = pem_blocks(text)
    if not blocks:
        fail(where, "holds no PEM certificate")
    if binary:
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as f:
            f.write(text)
            f.flush()
            r = subprocess.run([str(binary), "inspect", f.name], capture_output=True, text=True)
        if r.returncode != 0:
            fail(where, f"`certgate inspect` cannot read it: {(r.stdout + r.stderr).strip()}")
    for n, block in enumerate(blocks):
        r = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(30 * 86400),
                            "-ext", "basicConstraints"], input=block + "\n",
                           capture_output=True, text=True)
        if "CA:TRUE" not in r.stdout:
            fail(where, f"certificate {n + 1} is not a CA certificate "
                        f"(basicConstraints CA:TRUE): {r.stderr.strip() or r.stdout.strip()}")
        elif r.returncode != 0:
            fail(where, f"certificate {n + 1} expires within 30 days")


def check_rendering(label: str, objs: list[dict], binary: Path | None) -> None:
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        fail(label, f"expected one Deployment, found {len(deps)}")
        return
    dep = deps[0]
    where = f"{label}: {ident(dep)}"
    tmpl = dep["spec"]["template"]
    pod = tmpl["spec"]
    pod_labels = tmpl["metadata"].get("labels", {})
    if not labels_match(dep["spec"]["selector"], pod_labels):
        fail(where, "spec.selector does not match the pod template's labels")
    configmaps = {o["metadata"]["name"]: o for o in by_kind.get("ConfigMap", [])}
    secrets = {o["metadata"]["name"] for o in by_kind.get("Secret", [])}
    secrets |= {o["spec"]["secretName"] for o in by_kind.get("Certificate", [])}

    if pod.get("automountServiceAccountToken") is not False:
        fail(where, "set automountServiceAccountToken: false (neither container uses the API)")
    for c in pod["containers"]:
        cw = f"{where}: container {c['name']}"
        sc = c.get("securityContext", {})
        want = {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True}
        for k, v in want.items():
            if sc.get(k) != v:
                fail(cw, f"securityContext.{k} must be {v}")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(cw, "securityContext.capabilities.drop must be [ALL]")
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            fail(cw, "securityContext.seccompProfile.type must be RuntimeDefault")
        if sc.get("privileged"):
            fail(cw, "must not be privileged")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(part, {}):
                    fail(cw, f"resources.{part}.{r} missing")
        image = c.get("image", "")
        if ":" not in image.rsplit("/", 1)[-1] and "@" not in image or image.endswith(":latest"):
            fail(cw, f"image {image!r} needs a fixed tag or digest")
        for m in c.get("volumeMounts", []):
            if "subPath" in m or "subPathExpr" in m:
                fail(cw, f"volumeMount {m['mountPath']} uses subPath: Kubernetes never updates "
                         "subPath mounts, so certgate would never see a rotation")

    cg = [c for c in pod["containers"] if c["name"] == "certgate"]
    if len(cg) != 1:
        fail(where, "no container named certgate")
        return
    cg = cg[0]
    cw = f"{where}: container certgate"
    args = cg.get("args", [])
    if "command" in cg:
        fail(cw, "do not set command: the image's ENTRYPOINT is certgate; pass `run ...` as args")
    if not args or args[0] != "run":
        fail(cw, "args must start with the sub-command `run`")
        return
    try:
        flags = parse_args(args)
    except ValueError as e:
        fail(cw, str(e))
        return
    single = {}
    for name, value in flags:
        single[name] = value
    listen = single.get("--listen", "0.0.0.0:8443")
    admin = single.get("--admin-listen", "127.0.0.1:9901")
    ports = {p.get("name"): p["containerPort"] for p in cg.get("ports", [])}
    if ports.get("https") != port_of(listen):
        fail(cw, f"containerPort `https` must be --listen's port {port_of(listen)}")
    if admin == "off":
        fail(cw, "--admin-listen=off leaves no /healthz or /readyz for the probes")
        return
    if ipaddress.ip_address(host_of(admin)).is_loopback:
        fail(cw, "--admin-listen on loopback: the kubelet's httpGet probes cannot reach it")
    if ports.get("admin") != port_of(admin):
        fail(cw, f"containerPort `admin` must be --admin-listen's port {port_of(admin)}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = cg.get(probe, {}).get("httpGet")
        if not get or get.get("path") != path or get.get("port") not in ("admin", port_of(admin)):
            fail(cw, f"{probe} must be httpGet {path} on the admin port")
    upstream = single.get("--upstream", "http://127.0.0.1:8080")
    if "--allow-remote-upstream" not in single and upstream.startswith("http://"):
        host = upstream[len("http://"):].split("/")[0].rsplit(":", 1)[0].strip("[]")
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            fail(cw, f"--upstream {upstream} is not loopback")
    grace = parse_duration(single.get("--shutdown-grace", "30s"))
    pre_stop = cg.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    if tgps <= pre_stop + grace:
        fail(where, f"terminationGracePeriodSeconds {tgps} must exceed preStop sleep {pre_stop}s "
                    f"+ --shutdown-grace {grace:g}s, or the kubelet kills certgate mid-drain")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = cg.get("volumeMounts", [])
    for m in mounts:
        v = volumes.get(m["name"])
        if v is None:
            fail(cw, f"volumeMount {m['mountPath']}: no volume {m['name']}")
            continue
        if "configMap" in v and v["configMap"]["name"] not in configmaps \
                and not v["configMap"].get("optional"):
            fail(cw, f"volume {m['name']}: ConfigMap {v['configMap']['name']} is not in the rendering")
        if "secret" in v and v["secret"]["secretName"] not in secrets:
            fail(cw, f"volume {m['name']}: Secret {v['secret']['secretName']} is neither in the "
                     "rendering nor issued by a Certificate in it")
    used_mounts = set()
    for name, path in path_args(flags):
        mount = next((m for m in mounts if path == m["mountPath"]
                      or path.startswith(m["mountPath"].rstrip("/") + "/")), None)
        if mount is None:
            fail(cw, f"{name} {path} is not on any volumeMount of the certgate container")
            continue
        used_mounts.add(mount["name"])
        v = volumes.get(mount["name"], {})
        key = path[len(mount["mountPath"].rstrip("/")) + 1:]
        if "configMap" in v and key:
            cm = configmaps.get(v["configMap"]["name"])
            if cm and key not in (cm.get("data") or {}):
                fail(cw, f"{name} {path}: ConfigMap {cm['metadata']['name']} has no key {key}")
    bundles = {v.split("=", 1)[0] for n, v in flags if n == "--trust-bundle"}
    if any(n == "--trust" for n, _ in flags):
        bundles.add("default")
    wanted = {v.split("=", 1)[1] for n, v in flags if n == "--route-trust"}
    routes = {v.split("=", 1)[0] for n, v in flags if n == "--route"}
    if routes - {v.split("=", 1)[0] for n, v in flags if n == "--route-trust"}:
        wanted.add("default")
    for b in sorted(bundles - wanted):
        fail(cw, f"trust bundle {b} is defined but no route uses it (--route-trust)")
    for m in mounts:
        if m["name"] not in used_mounts:
            fail(cw, f"volumeMount {m['mountPath']} is not used by any certgate flag")
    for v in volumes:
        if not any(v == m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])):
            fail(where, f"volume {v} is mounted by no container")
    for name, cm in configmaps.items():
        for key, text in (cm.get("data") or {}).items():
            if key.endswith((".crt", ".pem")):
                check_ca_pem(f"{label}: ConfigMap/{name} key {key}", text, binary)

    for svc in by_kind.get("Service", []):
        sw = f"{label}: {ident(svc)}"
        if not labels_match({"matchLabels": svc["spec"].get("selector", {})}, pod_labels):
            fail(sw, "selector does not match the Deployment's pod labels")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if target not in ("https", port_of(listen)):
                fail(sw, f"port {p['port']} targets {target}: the Service may expose only "
                         "certgate's TLS listener")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        pw = f"{label}: {ident(pdb)}"
        if not labels_match(pdb["spec"]["selector"], pod_labels):
            fail(pw, "selector does not match the Deployment's pod labels")
        if isinstance(pdb["spec"].get("minAvailable"), int) and \
                pdb["spec"]["minAvailable"] >= dep["spec"].get("replicas", 1):
            fail(pw, "minAvailable >= replicas: node drains would block forever")
    for np in by_kind.get("NetworkPolicy", []):
        nw = f"{label}: {ident(np)}"
        if not labels_match(np["spec"]["podSelector"], pod_labels):
            fail(nw, "podSelector does not match the Deployment's pod labels")
        for rule in np["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                port = p.get("port")
                if port not in (port_of(listen), port_of(admin), "https", "admin"):
                    fail(nw, f"admits port {port}, which is neither certgate's TLS nor admin port")
                if port in (port_of(admin), "admin") and not rule.get("from"):
                    fail(nw, "admits the admin port from everywhere: restrict it with `from`")


# --------------------------------------------------------------------------------------------
# Running certgate with the rendered args


def openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.strip()}")


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=validate-deploy {name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d: Path, name: str, ca: str, subj: str, ext: str) -> None:
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
    (d / f"{name}.ext").write_text(ext + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


def rfc4514_to_slash(dn: str) -> str:
    """CN=a,O=b\\, c,C=US -> /C=US/O=b, c/CN=a (simple DNs only: no + or hex escapes)."""
    rdns, cur, i = [], "", 0
    while i < len(dn):
        ch = dn[i]
        if ch == "\\" and i + 1 < len(dn):
            cur += dn[i + 1]
            i += 2
            continue
        if ch == ",":
            rdns.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    rdns.append(cur)
    parts = []
    for rdn in reversed(rdns):
        t, _, v = rdn.strip().partition("=")
        parts.append(f"/{t.strip()}={v.replace('/', chr(92) + '/')}")
    return "".join(parts)


CHECK_FLAGS = {"--trust", "--trust-bundle", "--intermediates", "--crl", "--crl-expired",
               "--client-auth", "--route", "--allow", "--allow-file", "--route-trust"}


def allow_file_rules(text: str) -> list[str]:
    """The rules of an --allow-file: one per line, blank lines and `#` lines skipped,
    ` until=TIME` removed (the checks below run now, before any planned end)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line.rsplit(" until=", 1)[0].rstrip())
    return out


def configmap_file(objs: list[dict], cg: dict, path: str) -> str | None:
    """The content a ConfigMap volume of the certgate container shows at `path`."""
    pod = next(o for o in objs if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in cg.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/") + "/"
        v = volumes.get(m["name"], {})
        if path.startswith(mp) and "configMap" in v:
            cm = next((o for o in objs if o["kind"] == "ConfigMap"
                       and o["metadata"]["name"] == v["configMap"]["name"]), None)
            if cm:
                return (cm.get("data") or {}).get(path[len(mp):])
    return None


def run_certgate(label: str, objs: list[dict], binary: Path) -> None:
    dep = next(o for o in objs if o["kind"] == "Deployment")
    cg = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "certgate")
    flags = parse_args(cg["args"])
    tmp = Path(tempfile.mkdtemp(prefix="validate-deploy-"))
    proc = None
    try:
        pki = tmp / "pki"
        pki.mkdir()
        root = tmp / "root"
        for m in cg.get("volumeMounts", []):
            (root / m["mountPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)

        def mapped(p: str) -> Path:
            return root / p.lstrip("/")

        make_ca(pki, "server-ca")
        make_leaf(pki, "server", "server-ca", "/CN=localhost",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
        bundles: dict[str, str] = {}  # bundle name -> CA file name in pki
        out_args = ["run"]
        for name, value in flags:
            if name == "--server-cert":
                shutil.copy(pki / "server.pem", mapped(value))
            elif name == "--server-key":
                shutil.copy(pki / "server.key", mapped(value))
            elif name in ("--crl", "--intermediates"):
                # An optional volume that does not exist yet: an empty directory.
                mapped(value).mkdir(parents=True, exist_ok=True)
            elif name in ("--trust", "--trust-bundle"):
                bundle, path = ("default", value) if name == "--trust" else value.split("=", 1)
                ca = f"bundle-{bundle}"
                if bundle not in bundles:
                    make_ca(pki, ca)
                    bundles[bundle] = ca
                target = mapped(path)
                if target.is_dir():
                    target = target / f"{ca}.pem"
                with open(target, "a") as f:
                    f.write((pki / f"{ca}.pem").read_text())
            elif name == "--allow-file":
                path = value.split("=", 1)[1]
                text = configmap_file(objs, cg, path)
                if text is None:
                    fail(label, f"--allow-file {path}: no ConfigMap key provides it")
                    return
                mapped(path).write_text(text)
            if name == "--listen":
                value = "127.0.0.1:0"
            elif name == "--admin-listen":
                value = "127.0.0.1:0"
            elif value is not None and value.startswith("/etc/"):
                value = str(mapped(value))
            elif name in ("--trust-bundle", "--allow-file"):
                b, p = value.split("=", 1)
                value = f"{b}={mapped(p)}"
            out_args.append(name if value is None else f"{name}={value}")
        if "--listen" not in dict(flags):
            out_args.append("--listen=127.0.0.1:0")
        if "--admin-listen" not in dict(flags):
            out_args.append("--admin-listen=127.0.0.1:0")

        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "info"}
        for e in cg.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
        log = tmp / "certgate.log"
        with open(log, "w") as logf:
            proc = subprocess.Popen([str(binary), *out_args], stdout=logf, stderr=logf, env=env)
        admin_addr = None
        listening = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text()
            m = re.search(r"admin listening addr=([0-9.:\[\]]+)", text)
            admin_addr = m.group(1) if m else None
            listening = re.search(r"(?<!admin )listening addr=", text) is not None
            if admin_addr and listening:
                break
            time.sleep(0.1)
        if not (admin_addr and listening):
            rc = proc.poll()
            fail(label, f"`certgate run` with the manifest's args did not start "
                        f"(exit {rc}): {log.read_text().strip()[-2000:]}")
            return
        for path, want in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
            try:
                with urllib.request.urlopen(f"http://{admin_addr}{path}", timeout=5) as r:
                    got = r.status
                    if path == "/metrics":
                        SCRAPES.append(r.read().decode())
            except urllib.error.HTTPError as e:
                got = e.code
            except OSError as e:
                got = str(e)
            if got != want:
                fail(label, f"certgate admin {path}: got {got}, expected {want}")
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            fail(label, "certgate did not exit within 15 s of SIGTERM")
        else:
            if rc != 0:
                fail(label, f"certgate exited {rc} after SIGTERM: {log.read_text().strip()[-2000:]}")
        proc = None

        # The route policy, offline, with the same trust and policy flags.
        check_args = [a for a in out_args[1:] if a.split("=", 1)[0] in CHECK_FLAGS]
        routes = {}
        route_trust = {}
        rules: list[tuple[str, str]] = []
        for name, value in flags:
            if name == "--route":
                r, prefix = value.split("=", 1)
                routes[r] = prefix
            elif name == "--route-trust":
                r, b = value.split("=", 1)
                route_trust[r] = b
            elif name == "--allow":
                r, rule = value.split("=", 1)
                rules.append((r, rule.rsplit(" until=", 1)[0].rstrip()))
            elif name == "--allow-file":
                r, path = value.split("=", 1)
                rules.extend((r, rule) for rule in
                             allow_file_rules(configmap_file(objs, cg, path) or ""))
        if not any(rule.startswith("subject:") for _, rule in rules):
            fail(label, "no subject: rule to exercise with `certgate check`: extend the check")
        intruder = "/C=US/O=Someone Else/CN=intruder.example"
        for n, (route, rule) in enumerate(rules):
            if not rule.startswith("subject:") or route not in routes:
                continue
            dn = rule[len("subject:"):]
            subj = dn if dn.startswith("/") else rfc4514_to_slash(dn)
            prefix = routes[route]
            path = prefix + ("probe" if prefix.endswith("/") else "/probe")
            bundle = route_trust.get(route, "default")
            if bundle not in bundles:
                fail(label, f"route {route} needs trust bundle {bundle}, which no flag defines")
                continue
            cases = [(f"rule{n}-ok", bundles[bundle], subj, 0, "its route's CA")]
            cases.append((f"rule{n}-intruder", bundles[bundle], intruder, 1, "its route's CA"))
            for other, ca in bundles.items():
                if other != bundle:
                    cases.append((f"rule{n}-{other}", ca, subj, 1, f"bundle {other}'s CA"))
            for cert, ca, s, want, what in cases:
                make_leaf(pki, cert, ca, s, "extendedKeyUsage=clientAuth")
                r = subprocess.run([str(binary), "check", *check_args, f"--cert={pki / cert}.pem",
                                    f"--path={path}"], capture_output=True, text=True, env=env)
                if r.returncode != want:
                    verdict = "allow" if want == 0 else "deny"
                    fail(label, f"`certgate check --path {path}` should {verdict} {s} signed by "
                                f"{what} (rule {route}={rule}), exit {r.returncode}: "
                                f"{(r.stdout + r.stderr).strip()}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# deploy/monitoring: Prometheus Operator objects, the plain rule file they carry, its promtool
# unit tests, and the Grafana dashboard; every metric they name must be one certgate exports.

SCRAPES: list[str] = []  # /metrics bodies from run_certgate
MONITORING_KINDS = {"PrometheusRule", "PodMonitor"}
METRIC_NAME = re.compile(r"\b((?:certgate|process)_[a-zA-Z0-9_]+)\b")
TYPE_SUFFIXES = {"counter": ["_total", "_created"], "gauge": [""], "unknown": [""],
                 "histogram": ["_bucket", "_sum", "_count", "_created"],
                 "summary": ["", "_sum", "_count", "_created"], "info": ["_info"],
                 "stateset": [""], "gaugehistogram": ["_bucket", "_gsum", "_gcount"]}


def is_promtool_file(docs: list) -> bool:
    """A Prometheus rule file (`groups:`) or a promtool unit-test file (`rule_files:`)."""
    return (len(docs) == 1 and isinstance(docs[0], dict) and "apiVersion" not in docs[0]
            and ("groups" in docs[0] or "rule_files" in docs[0]))


def exported_names(text: str) -> set[str]:
    """Sample names in a Prometheus/OpenMetrics exposition, including those of families that
    have no sample yet (from their `# TYPE` line)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) == 4:
                names |= {parts[2] + sfx for sfx in TYPE_SUFFIXES.get(parts[3], [""])}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def dashboard_exprs(where: str, dash: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target and query variable; checks the dashboard's shape."""
    out: list[tuple[str, str]] = []
    if not dash.get("title") or not dash.get("uid"):
        fail(where, "the dashboard needs a title and a uid")
    variables = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
    if "datasource" not in variables:
        fail(where, "no `datasource` variable: panels must not be tied to one data source")
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query":
            out.append((f"variable {v.get('name')}", q.get("query") if isinstance(q, dict) else q))
    ids = []
    panels = list(dash.get("panels", []))
    if not panels:
        fail(where, "no panels")
    while panels:
        panel = panels.pop(0)
        panels += panel.get("panels", [])
        ids.append(panel.get("id"))
        title = panel.get("title", "?")
        if panel.get("type") == "row":
            continue
        ds = panel.get("datasource", {})
        if not isinstance(ds, dict) or ds.get("uid") != "${datasource}":
            fail(where, f"panel {title!r}: datasource must be ${{datasource}}")
        if not panel.get("targets"):
            fail(where, f"panel {title!r} has no query")
        for t in panel.get("targets", []):
            if not t.get("expr"):
                fail(where, f"panel {title!r}: a target without expr")
            else:
                out.append((f"panel {title!r}", t["expr"]))
    if len(ids) != len(set(ids)):
        fail(where, "two panels with the same id")
    return out


def check_monitoring(label: str, kdir: Path, objs: list[dict],
                     renderings: list[tuple[str, Path, list[dict]]]) -> None:
    exprs: list[tuple[str, str]] = []
    rule_files = sorted(kdir.glob("*.rules.yaml"))
    for obj in objs:
        where = f"{label}: {ident(obj)}"
        if obj["kind"] == "PrometheusRule":
            same = [f for f in rule_files if load_all(f) == [obj["spec"]]]
            if len(same) != 1:
                fail(where, "spec must equal one *.rules.yaml file beside it (the plain rule "
                            "file that the promtool tests run against)")
            for g in obj["spec"]["groups"]:
                exprs += [(f"{where}: rule {r.get('alert') or r.get('record')}", r["expr"])
                          for r in g["rules"]]
        elif obj["kind"] == "PodMonitor":
            sel = obj["spec"]["selector"].get("matchLabels", {})
            ports = [e["port"] for e in obj["spec"]["podMetricsEndpoints"]]
            for rlabel, _, robjs in renderings:
                for dep in (o for o in robjs if o["kind"] == "Deployment"):
                    pod = dep["spec"]["template"]
                    if not labels_match({"matchLabels": sel}, pod["metadata"].get("labels", {})):
                        fail(where, f"selector does not select the pods of {rlabel}")
                        continue
                    named = {p.get("name") for c in pod["spec"]["containers"]
                             for p in c.get("ports", [])}
                    for port in ports:
                        if port not in named:
                            fail(where, f"port {port!r} is not a named container port in {rlabel}")
    promtool = shutil.which("promtool")
    if not promtool:
        fail(label, "promtool not on PATH (Debian: apt-get install prometheus); "
                    ".ci/validate-deploy installs it")
    tests = [f for f in sorted(kdir.glob("*.yaml")) if f.name != "kustomization.yaml"
             and is_promtool_file(load_all(f)) and "rule_files" in load_all(f)[0]]
    if rule_files and not tests:
        fail(label, "no promtool unit-test file (rule_files:) for the rules")
    if promtool:
        for args in ([["check", "rules", str(f)] for f in rule_files] +
                     [["test", "rules", str(f)] for f in tests]):
            r = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=kdir)
            if r.returncode != 0:
                fail(label, f"promtool {' '.join(args[:2])} {rel(Path(args[2]))}:\n"
                            f"{(r.stdout + r.stderr).strip()}")
    for f in sorted(kdir.glob("*.json")):
        try:
            dash = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            fail(rel(f), f"invalid JSON: {e}")
            continue
        exprs += [(f"{rel(f)}: {w}", e) for w, e in dashboard_exprs(rel(f), dash)]
    if not SCRAPES:
        fail(label, "no /metrics scrape from certgate to check metric names against "
                    "(run with --certgate BIN)")
        return
    known = set().union(*(exported_names(t) for t in SCRAPES))
    for where, expr in exprs:
        for name in sorted(set(METRIC_NAME.findall(expr)) - known):
            fail(where, f"{name} is not a metric certgate exports (see its /metrics)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--certgate", type=Path, help="certgate binary to run the rendered args with")
    opts = ap.parse_args()

    yaml_files = sorted(p.resolve() for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    kdirs = sorted({p.parent for p in yaml_files if p.name == "kustomization.yaml"})
    if not kdirs:
        fail("deploy/", "no kustomization.yaml found")
    patch_files: set[Path] = set()
    resource_files: set[Path] = set()
    renderings: list[tuple[str, Path, list[dict]]] = []
    for kdir in kdirs:
        try:
            objs = render(kdir, patch_files, resource_files)
        except (ValueError, KeyError, yaml.YAMLError) as e:
            fail(rel(kdir), f"cannot render: {e}")
            continue
        renderings.append((rel(kdir), kdir, objs))

    # 1. every file on its own
    for p in yaml_files:
        where = rel(p)
        try:
            docs = load_all(p)
        except yaml.YAMLError as e:
            fail(where, f"invalid YAML: {e}")
            continue
        if p.name == "kustomization.yaml" or p in patch_files:
            continue  # not Kubernetes objects; checked by rendering
        if is_promtool_file(docs):
            if not (p.parent / "kustomization.yaml").is_file():
                fail(where, "a Prometheus rule or test file belongs beside deploy/monitoring's "
                            "kustomization.yaml")
            continue  # checked with promtool by check_monitoring
        if p not in resource_files:
            fail(where, "no kustomization.yaml lists this file in its resources")
        if not docs:
            fail(where, "empty file")
        for doc in docs:
            validate_object(doc, where)

    # 2-4. each rendering (5. deploy/monitoring's after the others, with their /metrics)
    monitoring: list[tuple[str, Path, list[dict]]] = []
    for label, kdir, objs in renderings:
        label = f"{label} (rendered)"
        names = [sort_key(o) for o in objs]
        if len(names) != len(set(names)):
            fail(label, "two objects with the same kind and name")
        for o in objs:
            validate_object(o, label)
        theirs = kubectl_render(kdir)
        if theirs is not None:
            ours_sorted = sorted(objs, key=sort_key)
            theirs_sorted = sorted(theirs, key=sort_key)
            if json.dumps(ours_sorted, sort_keys=True) != json.dumps(theirs_sorted, sort_keys=True):
                for a, b in zip(ours_sorted, theirs_sorted):
                    if a != b:
                        fail(label, f"this script's rendering and `kubectl kustomize` disagree "
                                    f"on {ident(a)} / {ident(b)}")
                        break
                else:
                    fail(label, f"this script renders {len(objs)} objects, `kubectl kustomize` "
                                f"{len(theirs)}")
        if objs and all(o["kind"] in MONITORING_KINDS for o in objs):
            monitoring.append((label, kdir, objs))
            continue
        if errors:
            continue
        binary = opts.certgate.resolve() if opts.certgate else None
        check_rendering(label, objs, binary)
        if binary and not errors:
            run_certgate(label, objs, binary)

    for label, kdir, objs in monitoring:
        if not errors:
            check_monitoring(label, kdir, objs, renderings)

    if errors:
        print("validate-deploy: FAILED", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
