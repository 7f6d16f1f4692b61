"""The Helm chart (issue 11, points 4-5) with the real Helm v4 engine (helm-python-sdk):
strict lint, rendering of every values file in the chart's ci/, every manifest validated
offline against the Kubernetes schemas (kubernetes-validate --strict, oldest and newest
supported version), the values schema refusing bad values, and the decisive check: the
keygate.toml, Secret and environment the chart renders, mounted where the pod mounts
them, are accepted by the real image (`keygate config check`) and serve /health/ready."""
import base64
import copy
import os
import re

import helm_python  # helm-python-sdk; scripts/deps.sh packaging installs it
import jsonschema
import pytest
import yaml

from support import ROOT, Valkey, free_port, need, run, tmpdir


CHART = ROOT / "deploy/helm/keygate"
VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSIONS = ["1.27.0", "1.37.0"]  # the chart's kubeVersion floor, and the newest known
SALT = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"


def load(path):
    return yaml.safe_load(path.read_text()) or {}


def render(values, name="kg", namespace="auth"):
    """(manifests, notes) as `helm install --dry-run` would render them."""
    out = helm_python.Chart.load(str(CHART)).render(values, name=name, namespace=namespace, is_install=True)
    docs, notes = [], ""
    for path, text in out.items():
        if path.endswith("NOTES.txt"):
            notes = text
        elif "/tests/" not in path:
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs, notes


def kind(docs, k):
    found = [d for d in docs if d["kind"] == k]
    assert len(found) == 1, f"{len(found)} {k} rendered"
    return found[0]


def test_values_files_cover_the_required_cases():
    names = {p.name for p in VALUES}
    assert {"embedded-values.yaml", "valkey-values.yaml", "exposed-values.yaml", "minimal-values.yaml"} <= names


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_lint_strict(values, kube):
    result = helm_python.lint(str(CHART), load(values), strict=True, kube_version=kube)
    assert result["total_charts_linted"] == 1
    assert not result["errors"], result
    bad = [m for m in result["messages"] if m["severity"] > 1]  # 1 is INFO (icon recommended)
    assert not bad, bad


def test_chart_packages(tmp_path):
    helm_python.package(str(CHART), destination=str(tmp_path))
    assert list(tmp_path.glob("keygate-*.tgz"))


# Strict schemas for the two custom resources (kubernetes-validate ships only the
# built-in kinds): the fields of Traefik's Middleware and the Prometheus Operator's
# ServiceMonitor that the chart writes, from their CRDs; anything else is refused.
CRD_SCHEMAS = {
    ("traefik.io/v1alpha1", "Middleware"): {
        "type": "object", "required": ["spec"],
        "properties": {"spec": {"type": "object", "additionalProperties": False,
                                "required": ["forwardAuth"], "properties": {"forwardAuth": {
                                    "type": "object", "additionalProperties": False, "required": ["address"],
                                    "properties": {
                                        "address": {"type": "string", "pattern": "^https?://"},
                                        "trustForwardHeader": {"type": "boolean"},
                                        "authResponseHeaders": {"type": "array", "items": {"type": "string"}},
                                        "authResponseHeadersRegex": {"type": "string"},
                                        "authRequestHeaders": {"type": "array", "items": {"type": "string"}},
                                    }}}}},
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object", "required": ["spec"],
        "properties": {"spec": {"type": "object", "additionalProperties": False,
                                "required": ["selector", "endpoints"], "properties": {
                                    "selector": {"type": "object"},
                                    "endpoints": {"type": "array", "items": {
                                        "type": "object", "additionalProperties": False,
                                        "properties": {k: {"type": "string"} for k in
                                                       ["port", "path", "interval", "scrapeTimeout", "scheme"]}}}}}},
    },
}


def validate_manifests(docs, tmp_path, kube):
    """kubernetes-validate --strict on the built-in kinds, CRD_SCHEMAS on the others."""
    builtin = []
    for d in docs:
        schema = CRD_SCHEMAS.get((d["apiVersion"], d["kind"]))
        if schema:
            jsonschema.validate(d, schema)
        else:
            builtin.append(d)
    f = tmp_path / f"manifests-{kube}.yaml"
    f.write_text(yaml.safe_dump_all(builtin))
    p = run(["kubernetes-validate", "-k", kube, "--strict", str(f)], check=False)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_rendered_manifests_validate(values, kube, tmp_path):
    need("kubernetes-validate")
    docs, notes = render(load(values))
    code, out = validate_manifests(docs, tmp_path, kube)
    assert code == 0 and "ERROR" not in out, out
    assert "Couldn't find schema" not in out, out
    workload = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
    pod = workload["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert c["livenessProbe"]["httpGet"]["path"].endswith("/health/live")
    assert c["readinessProbe"]["httpGet"]["path"].endswith("/health/ready")
    assert "checksum/config" in workload["spec"]["template"]["metadata"]["annotations"]
    assert "1." in notes and "2." in notes and "auth-url" in notes, notes


def test_strict_validation_catches_a_misspelt_field(tmp_path):
    """The check above can fail: a misspelt field is refused."""
    docs, _ = render({})
    bad = copy.deepcopy(docs)
    sts = kind(bad, "StatefulSet")
    sts["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    code, out = validate_manifests(bad, tmp_path, KUBE_VERSIONS[-1])
    assert code != 0, out
    mw = kind(render(load(CHART / "ci/exposed-values.yaml"))[0], "Middleware")
    mw["spec"]["forwardAuth"]["trustForwardHeaders"] = False
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mw, CRD_SCHEMAS[("traefik.io/v1alpha1", "Middleware")])


def test_workload_kind_follows_the_store():
    docs, _ = render(load(CHART / "ci/embedded-values.yaml"))
    sts = kind(docs, "StatefulSet")
    assert sts["spec"]["replicas"] == 1 and sts["spec"]["volumeClaimTemplates"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    docs, _ = render(load(CHART / "ci/valkey-values.yaml"))
    dep = kind(docs, "Deployment")
    assert dep["spec"]["replicas"] == 3
    assert not [d for d in docs if d["kind"] == "Secret"], "existingSecret: no generated Secret"


def test_generated_secret_keeps_the_salt():
    """A given token salt is used as is; a generated one is marked to survive uninstall
    (and `lookup` keeps it on upgrade, which needs a cluster: see docs/kubernetes.md)."""
    docs, _ = render({"store": "valkey", "valkey": {"url": "redis://valkey:6379"}, "secrets": {"tokenSalt": SALT}})
    secret = kind(docs, "Secret")
    assert base64.b64decode(secret["data"]["token-salt"]).decode() == SALT
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    docs, _ = render({"store": "valkey", "valkey": {"url": "redis://valkey:6379"}})
    generated = base64.b64decode(kind(docs, "Secret")["data"]["token-salt"]).decode()
    assert re.fullmatch(r"[0-9a-f]{64}", generated)


def test_config_change_rolls_the_pods():
    a = kind(render({"config": {"log_format": "json"}})[0], "StatefulSet")
    b = kind(render({"config": {"log_format": "text"}})[0], "StatefulSet")
    key = "checksum/config"
    assert a["spec"]["template"]["metadata"]["annotations"][key] != b["spec"]["template"]["metadata"]["annotations"][key]


BAD_VALUES = {
    "replicas above 1 with the embedded store": {"store": "embedded", "replicaCount": 2},
    "unknown top-level key": {"replicas": 2},
    "unknown nested key": {"persistence": {"sise": "1Gi"}},
    "replicaCount as a string": {"replicaCount": "3"},
    "unknown store": {"store": "redis"},
    "valkey store without a URL": {"store": "valkey", "replicaCount": 2},
    "a setting the chart owns in config": {"config": {"port": 9000}},
    "a secret in config": {"config": {"token_salt": SALT}},
    "a short token salt": {"secrets": {"tokenSalt": "abc"}},
    "a short admin key": {"secrets": {"adminKey": "short"}},
    "a service port out of range": {"service": {"port": 70000}},
    "metrics port as a string": {"metrics": {"port": "9090"}},
    "an unknown pull policy": {"image": {"repository": "x", "pullPolicy": "Sometimes"}},
    "a valkey URL of another scheme": {"store": "valkey", "valkey": {"url": "http://valkey:6379"}},
    "a path without a slash": {"ingress": {"enabled": True, "hosts": [{"host": "a", "paths": [{"path": "x", "pathType": "Prefix"}]}]}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_schema_rejects(values):
    chart = helm_python.Chart.load(str(CHART))
    with pytest.raises(helm_python.HelmError):
        chart.validate_schema(values)
    with pytest.raises(helm_python.HelmError):
        render(values)


def test_schema_accepts_the_values_files():
    chart = helm_python.Chart.load(str(CHART))
    for v in VALUES:
        chart.validate_schema(load(v))
    chart.validate_schema({"store": "valkey", "replicaCount": 5, "valkey": {"url": "rediss://v:6380/1"}})


# The decisive check.

class Pod:
    """Runs the rendered pod's container with podman as the kubelet would: the image, its
    args, env (secretKeyRef resolved), the ConfigMap and Secret files at their mount paths
    (Secret files 0440, group fsGroup), the data volume, the user, a read-only root and
    no capabilities. Ports (and the 0.0.0.0 address) are moved to free loopback ones."""

    def __init__(self, docs, existing_secrets, podman, image):
        self.docs, self.podman, self.image = docs, podman, image
        self.workload = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
        self.spec = self.workload["spec"]["template"]["spec"]
        self.c = self.spec["containers"][0]
        self.secrets = {s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
                        for s in docs if s["kind"] == "Secret"}
        self.secrets.update(existing_secrets)
        cm = kind(docs, "ConfigMap")
        self.port = free_port()
        toml = cm["data"]["keygate.toml"]
        assert re.search(r"^port = 8080$", toml, re.M), toml
        toml = re.sub(r"^port = \d+$", f"port = {self.port}", toml, flags=re.M)
        self.metrics_port = None
        if 'metrics_address = "0.0.0.0:' in toml:
            self.metrics_port = free_port()
            toml = re.sub(r'^metrics_address = "0\.0\.0\.0:\d+"$', f'metrics_address = "127.0.0.1:{self.metrics_port}"',
                          toml, flags=re.M)
        self.configmaps = {cm["metadata"]["name"]: {"keygate.toml": toml}}
        self.rendered_toml = cm["data"]["keygate.toml"]

    def env(self):
        out = {}
        for e in self.c.get("env", []):
            if "value" in e:
                out[e["name"]] = e["value"]
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                out[e["name"]] = self.secrets[ref["name"]][ref["key"]]
        assert out.pop("KEYGATE_ADDRESS") == "0.0.0.0"
        out["KEYGATE_ADDRESS"] = "127.0.0.1"
        return out

    def volumes(self):
        sec = self.spec["securityContext"]
        by_name = {v["name"]: v for v in self.spec["volumes"]}
        mounts = []
        for m in self.c["volumeMounts"]:
            ro = ":ro" if m.get("readOnly") else ""
            v = by_name.get(m["name"])
            if v is None:  # a volumeClaimTemplate (the PVC)
                mounts.append(f"{self.podman.create_volume()}:{m['mountPath']}")
                continue
            if "emptyDir" in v:
                mounts.append(f"{self.podman.create_volume()}:{m['mountPath']}")
                continue
            d = tmpdir(f"kg-{m['name']}-")
            if "configMap" in v:
                for k, text in self.configmaps[v["configMap"]["name"]].items():
                    (d / k).write_text(text)
                    (d / k).chmod(0o644)
            elif "secret" in v:
                data = self.secrets[v["secret"]["secretName"]]
                for item in v["secret"]["items"]:
                    f = d / item["path"]
                    f.write_text(data[item["key"]])
                    os.chown(f, 0, sec["fsGroup"])
                    f.chmod(v["secret"]["defaultMode"])
            else:
                raise AssertionError(f"volume kind not handled: {v}")
            src = d / m["subPath"] if "subPath" in m else d
            mounts.append(f"{src}:{m['mountPath']}{ro}")
        return mounts

    def flags(self):
        sec, csec = self.spec["securityContext"], self.c["securityContext"]
        flags = ["--user", f"{sec['runAsUser']}:{sec['runAsGroup']}", "--group-add", str(sec["fsGroup"])]
        if csec["capabilities"]["drop"] == ["ALL"]:
            flags += ["--cap-drop", "all"]
        if csec["allowPrivilegeEscalation"] is False:
            flags += ["--security-opt", "no-new-privileges"]
        return flags

    def run(self, args, hosts=()):
        return self.podman.start(self.image, *args, env=self.env(), volumes=self.volumes(), hosts=hosts,
                                 read_only=self.c["securityContext"]["readOnlyRootFilesystem"], extra=self.flags())


def wait_exit(podman, name, timeout=30):
    code = podman("wait", name, timeout=timeout).stdout.strip()
    return int(code), podman.logs(name)


@pytest.fixture
def valkey(tmp_path):
    v = Valkey(tmp_path)
    yield v
    v.stop()


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_rendered_configuration_runs(values, podman, valkey):
    pm, image = podman
    docs, _ = render(load(values))
    existing = {
        "keygate-valkey": {"url": f"redis://valkey.test:{valkey.port}/0"},
        "keygate-secrets": {"token-salt": SALT, "admin-key": "an-admin-key-from-our-own-secret"},
    }
    pod = Pod(docs, existing, pm, image)
    hosts = ["valkey.test:127.0.0.1"]
    check = pod.run(["config", "check"], hosts=hosts)
    code, logs = wait_exit(pm, check)
    assert code == 0, logs
    assert "configuration is valid" in logs, logs
    # Every setting the values file gives reaches the effective configuration.
    for key in load(values).get("config", {}):
        assert re.search(rf"^{key}\b|^\[{key}\]", logs, re.M), f"{key} missing from:\n{logs}"

    serve = pod.run(pod.c["args"], hosts=hosts)
    base = f"http://127.0.0.1:{pod.port}"
    probes = pod.c["readinessProbe"]["httpGet"]["path"], pod.c["livenessProbe"]["httpGet"]["path"]
    for path in probes:
        pm.wait(serve, base + path)
    if pod.metrics_port:
        pm.wait(serve, f"http://127.0.0.1:{pod.metrics_port}/metrics")
    if "KEYGATE_VALKEY_URL" in pod.env():
        assert valkey.command("PING") == "+PONG"
    pm("stop", "--time", "10", serve)
    assert pm.inspect(serve, "{{.State.ExitCode}}") == "0", pm.logs(serve)
