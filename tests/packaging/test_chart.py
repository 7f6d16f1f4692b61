"""The Helm chart (issue 11, points 4-5) with the real Helm v4 engine (helm-python-sdk):
strict lint, rendering of every values file in the chart's ci/, every manifest validated
offline against the Kubernetes schemas (kubernetes-validate --strict, oldest and newest
supported version), the values schema refusing bad values, and the decisive check: the
keygate.toml, Secret and environment the chart renders, mounted where the pod mounts
them, are accepted by the real image (`keygate config check`) and serve /health/ready.
Inline mode the same way: the chart in front of a Service (proxy.*), and the sidecar
example (examples/sidecar.yaml), run with a Python stand-in for the protected service.
The gRPC port (grpc.*) rendered, validated and run up to a gRPC health check, and the
Istio files of deploy/istio checked against their schemas, each other and the chart."""
import base64
import copy
import json
import os
import re
import ssl
import time
import tomllib

import helm_python  # helm-python-sdk; scripts/deps.sh packaging installs it
import jsonschema
import pytest
import yaml

from support import (
    ROOT, Upstream, Valkey, create_key, free_port, grpc_health, http, make_certs, need, run, tmpdir,
)


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
    assert {"embedded-values.yaml", "valkey-values.yaml", "exposed-values.yaml", "minimal-values.yaml",
            "proxy-values.yaml", "grpc-values.yaml"} <= names


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


def closed(properties, required=()):
    """An object schema refusing any field but `properties`."""
    return {"type": "object", "additionalProperties": False, "properties": properties, "required": list(required)}


STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(h|m|s|ms|us|µs|ns))+$"}
ISTIO_OPERATION = closed({k: STRINGS for k in [
    "hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"]})
ISTIO_SOURCE = closed({k: STRINGS for k in [
    "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces", "notNamespaces",
    "serviceAccounts", "notServiceAccounts", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks",
    "trustDomains", "notTrustDomains"]})
ISTIO_HTTP_POOL = closed({
    "h2UpgradePolicy": {"enum": ["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"]},
    "http1MaxPendingRequests": {"type": "integer"}, "http2MaxRequests": {"type": "integer"},
    "maxRequestsPerConnection": {"type": "integer"}, "maxRetries": {"type": "integer"},
    "maxConcurrentStreams": {"type": "integer"}, "useClientProtocol": {"type": "boolean"},
    "idleTimeout": DURATION, "http2KeepAlive": closed({"interval": DURATION, "timeout": DURATION}),
})
ISTIO_POOL = closed({"http": ISTIO_HTTP_POOL, "tcp": {"type": "object"}})
ISTIO_TLS = closed({
    "mode": {"enum": ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]},
    **{k: {"type": "string"} for k in ["clientCertificate", "privateKey", "caCertificates", "credentialName", "sni",
                                       "caCrl"]},
    "subjectAltNames": STRINGS, "insecureSkipVerify": {"type": "boolean"},
})

# Strict schemas for the custom resources (kubernetes-validate ships only the built-in
# kinds): the fields of Traefik's Middleware and the Prometheus Operator's ServiceMonitor
# that the chart writes, and of Istio's AuthorizationPolicy and DestinationRule that
# deploy/istio writes, from their CRDs (Istio's: istio/api
# kubernetes/customresourcedefinitions.gen.yaml); anything else is refused.
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
    ("security.istio.io/v1", "AuthorizationPolicy"): {
        "type": "object", "required": ["spec"],
        "properties": {"spec": closed({
            "selector": closed({"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}),
            "targetRef": {"type": "object"}, "targetRefs": {"type": "array"},
            "action": {"enum": ["ALLOW", "DENY", "AUDIT", "CUSTOM"]},
            "provider": closed({"name": {"type": "string", "minLength": 1}}, ["name"]),
            "rules": {"type": "array", "items": closed({
                "from": {"type": "array", "items": closed({"source": ISTIO_SOURCE})},
                "to": {"type": "array", "items": closed({"operation": ISTIO_OPERATION})},
                "when": {"type": "array", "items": closed({"key": {"type": "string"}, "values": STRINGS,
                                                           "notValues": STRINGS}, ["key"])},
            })},
        })},
    },
    ("networking.istio.io/v1", "DestinationRule"): {
        "type": "object", "required": ["spec"],
        "properties": {"spec": closed({
            "host": {"type": "string", "minLength": 1}, "exportTo": STRINGS, "subsets": {"type": "array"},
            "workloadSelector": {"type": "object"},
            "trafficPolicy": closed({
                "connectionPool": ISTIO_POOL, "tls": ISTIO_TLS, "loadBalancer": {"type": "object"},
                "outlierDetection": {"type": "object"}, "proxyProtocol": {"type": "object"},
                "tunnel": {"type": "object"}, "retryBudget": {"type": "object"},
                "portLevelSettings": {"type": "array", "items": closed({
                    "port": closed({"number": {"type": "integer", "minimum": 1, "maximum": 65535}}, ["number"]),
                    "connectionPool": ISTIO_POOL, "tls": ISTIO_TLS, "loadBalancer": {"type": "object"},
                    "outlierDetection": {"type": "object"}}, ["port"])},
            }),
        }, ["host"])},
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


# Inline mode in front of a Service (proxy.*): what each shape renders.

API = "http://my-api.default.svc.cluster.local:8080"
ROUTES = [
    {"name": "health", "paths": ["/healthz"], "methods": ["GET", "HEAD"], "upstream": API, "public": True},
    {"name": "orders", "hosts": ["api.example.com", "*.api.example.com"], "paths": ["/v1/orders"],
     "upstream": "https://orders.internal:8443/base", "pass_host": False, "keep_credential": True,
     "connect_timeout_ms": 2000, "response_timeout_ms": 120000},
]
PROXY_SHAPES = {
    "upstream": {"proxy": {"enabled": True, "upstream": API}},
    "routes": {"proxy": {"enabled": True, "routes": ROUTES, "port": 9000, "servicePort": 80}},
    "upstream and routes": {"proxy": {"enabled": True, "upstream": API, "routes": ROUTES[:1]}},
    "tls": {"proxy": {"enabled": True, "upstream": API,
                      "tls": {"existingSecret": "api-cert", "certKey": "chain.pem", "keyKey": "key.pem"}}},
    "upstream CA from a Secret": {"proxy": {"enabled": True, "upstream": "https://api.internal",
                                            "upstreamCA": {"existingSecret": "internal-ca"}}},
    "upstream CA from a ConfigMap": {"proxy": {"enabled": True, "upstream": "https://api.internal",
                                               "upstreamCA": {"existingConfigMap": "trust-bundle", "key": "bundle.pem"}}},
    "assertion": {"proxy": {"enabled": True, "upstream": API,
                            "assertion": {"enabled": True, "audience": "orders-api", "ttl_secs": 120}}},
    "valkey store, tuned": {"store": "valkey", "replicaCount": 3, "valkey": {"url": "redis://valkey:6379"},
                            "config": {"proxy": {"response_timeout_ms": 30000, "keep_credential": True}},
                            "proxy": {"enabled": True, "upstream": API}},
}


def proxy_parts(docs):
    """(Service ports by name, keygate container, pod spec, parsed keygate.toml)."""
    svc = kind(docs, "Service")
    workload = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
    pod = workload["spec"]["template"]["spec"]
    c = next(c for c in pod["containers"] if c["name"] == "keygate")
    config = tomllib.loads(kind(docs, "ConfigMap")["data"]["keygate.toml"])
    return {p["name"]: p for p in svc["spec"]["ports"]}, c, pod, config


def test_proxy_is_off_by_default():
    ports, c, pod, config = proxy_parts(render({})[0])
    assert list(ports) == ["http"]
    assert [p["name"] for p in c["ports"]] == ["http"]
    assert "proxy" not in config
    assert {v["name"] for v in pod["volumes"]} == {"config"}
    # Settings in config.proxy alone do not switch it on (keygate needs an upstream).
    ports, _, _, config = proxy_parts(render({"config": {"proxy": {"connect_timeout_ms": 100}}})[0])
    assert list(ports) == ["http"] and config["proxy"] == {"connect_timeout_ms": 100}


@pytest.mark.parametrize("values", PROXY_SHAPES.values(), ids=PROXY_SHAPES.keys())
def test_proxy_renders(values):
    docs, notes = render(values)
    ports, c, pod, config = proxy_parts(docs)
    v = values["proxy"]
    want_port = v.get("port", 8081)
    # The Service: http as before, and `proxy` to the container's proxy port.
    assert list(ports) == ["http", "proxy"]
    assert ports["http"] == {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    assert ports["proxy"] == {"name": "proxy", "port": v.get("servicePort", 8081), "targetPort": "proxy",
                              "protocol": "TCP"}
    assert {"name": "proxy", "containerPort": want_port, "protocol": "TCP"} in c["ports"]
    # Probes stay on the management port.
    assert c["readinessProbe"]["httpGet"]["port"] == "http"
    # keygate.toml: [proxy] with what the values say, [[proxy.routes]] as given.
    proxy = config["proxy"]
    assert proxy["port"] == want_port
    assert proxy.get("upstream") == v.get("upstream")
    assert proxy.get("routes", []) == v.get("routes", [])
    assert "address" not in proxy  # the main address, 0.0.0.0
    for k, val in values.get("config", {}).get("proxy", {}).items():
        assert proxy[k] == val
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {x["name"]: x for x in pod["volumes"]}
    tls = v.get("tls", {}).get("existingSecret")
    if tls:
        m = mounts["proxy-tls"]
        assert m["readOnly"] and "subPath" not in m, "a subPath mount never sees a renewed certificate"
        assert proxy["tls_cert_file"] == m["mountPath"] + "/tls.crt"
        assert proxy["tls_key_file"] == m["mountPath"] + "/tls.key"
        assert volumes["proxy-tls"]["secret"] == {
            "secretName": tls, "defaultMode": 0o440,
            "items": [{"key": v["tls"]["certKey"], "path": "tls.crt"}, {"key": v["tls"]["keyKey"], "path": "tls.key"}]}
        assert "https://" in notes
    else:
        assert "tls_cert_file" not in proxy and "proxy-tls" not in mounts
    ca = v.get("upstreamCA", {})
    if ca:
        m = mounts["upstream-ca"]
        assert proxy["upstream_ca_file"] == m["mountPath"] + "/ca.crt" and m["readOnly"]
        source = volumes["upstream-ca"].get("secret") or volumes["upstream-ca"]["configMap"]
        if ca.get("existingSecret"):
            assert source["secretName"] == ca["existingSecret"]
        else:
            assert source["name"] == ca["existingConfigMap"]
        assert source["items"] == [{"key": ca.get("key", "ca.crt"), "path": "ca.crt"}]
    else:
        assert "upstream_ca_file" not in proxy and "upstream-ca" not in mounts
    if v.get("assertion", {}).get("enabled"):
        assert proxy["assertion"] == v["assertion"]
        assert "/.well-known/jwks.json" in notes
    else:
        assert "assertion" not in proxy
    assert "Inline mode" in notes and f":{v.get('servicePort', 8081)}/" in notes, notes


def test_proxy_shapes_validate(tmp_path):
    """Every shape's manifests, in one run of kubernetes-validate per version."""
    need("kubernetes-validate")
    docs = []
    for i, values in enumerate(PROXY_SHAPES.values()):
        docs += render(values, name=f"kg{i}")[0]
    for kube in KUBE_VERSIONS:
        code, out = validate_manifests(docs, tmp_path, kube)
        assert code == 0 and "ERROR" not in out and "Couldn't find schema" not in out, out


# Envoy's gRPC external authorization (grpc.*): what each shape renders.

GRPC_SHAPES = {
    "defaults": {"grpc": {"enabled": True}},
    "ports moved": {"grpc": {"enabled": True, "port": 50051, "servicePort": 443}},
    "beside the proxy and metrics ports": {"grpc": {"enabled": True}, "metrics": {"port": 9090},
                                           "proxy": {"enabled": True, "upstream": API}},
    "valkey store, tuned": {"store": "valkey", "replicaCount": 2, "valkey": {"url": "redis://valkey:6379"},
                            "grpc": {"enabled": True},
                            "config": {"trusted_proxies": ["127.0.0.0/8", "10.42.0.0/16"],
                                       "grpc": {"keep_credential": True, "client_ratelimit_headers": False,
                                                "max_message_bytes": 4096, "max_headers": 200,
                                                "max_concurrent_streams": 100}}},
}


def test_grpc_is_off_by_default():
    ports, c, _, config = proxy_parts(render({})[0])
    assert "grpc" not in ports and "grpc" not in [p["name"] for p in c["ports"]]
    assert "grpc" not in config
    # Settings in config.grpc alone, or grpc.* with enabled false, switch nothing on.
    for values in ({"config": {"grpc": {"keep_credential": True}}}, {"grpc": {"enabled": False, "port": 7000}}):
        ports, c, _, config = proxy_parts(render(values)[0])
        assert list(ports) == ["http"] and [p["name"] for p in c["ports"]] == ["http"], values
        assert config.get("grpc", {}) == values.get("config", {}).get("grpc", {})


@pytest.mark.parametrize("values", GRPC_SHAPES.values(), ids=GRPC_SHAPES.keys())
def test_grpc_renders(values):
    docs, notes = render(values)
    ports, c, _, config = proxy_parts(docs)
    v = values["grpc"]
    port, service_port = v.get("port", 9191), v.get("servicePort", 9191)
    # The Service: http as before, and `grpc` (marked gRPC for a mesh) to the pod's port.
    assert list(ports)[0] == "http" and list(ports)[-1] == "grpc"
    assert ports["http"] == {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    assert ports["grpc"] == {"name": "grpc", "port": service_port, "targetPort": "grpc", "protocol": "TCP",
                             "appProtocol": "grpc"}
    assert {"name": "grpc", "containerPort": port, "protocol": "TCP"} in c["ports"]
    assert len({p["containerPort"] for p in c["ports"]}) == len(c["ports"])
    # Probes stay on the HTTP port.
    assert c["readinessProbe"]["httpGet"]["port"] == "http" and c["livenessProbe"]["httpGet"]["port"] == "http"
    # keygate.toml: [grpc] on at the pod's port, with config.grpc's other settings; no
    # address of its own, so it takes the main one, which the pod sets to 0.0.0.0.
    want = {**values.get("config", {}).get("grpc", {}), "enabled": True, "port": port}
    assert config["grpc"] == want
    assert {"name": "KEYGATE_ADDRESS", "value": "0.0.0.0"} in c["env"]
    if "proxy" in values:
        assert config["proxy"]["port"] == 8081 and "proxy" in ports
    assert f"svc.cluster.local:{service_port}" in notes and "CUSTOM" in notes, notes


def test_grpc_shapes_validate(tmp_path):
    """Every shape's manifests, in one run of kubernetes-validate per version."""
    need("kubernetes-validate")
    docs = []
    for i, values in enumerate(GRPC_SHAPES.values()):
        docs += render(values, name=f"kg{i}")[0]
    for kube in KUBE_VERSIONS:
        code, out = validate_manifests(docs, tmp_path, kube)
        assert code == 0 and "ERROR" not in out and "Couldn't find schema" not in out, out


GRPC_PORT_TAKEN = {
    "the main port": {"grpc": {"enabled": True, "port": 8080}},
    "the metrics port": {"grpc": {"enabled": True, "port": 9090}, "metrics": {"port": 9090}},
    "the proxy port": {"grpc": {"enabled": True, "port": 8081}, "proxy": {"enabled": True, "upstream": API}},
}


@pytest.mark.parametrize("values", GRPC_PORT_TAKEN.values(), ids=GRPC_PORT_TAKEN.keys())
def test_grpc_port_taken_is_refused(values):
    """A port keygate already listens on: valid values one by one, refused at render."""
    helm_python.Chart.load(str(CHART)).validate_schema(values)
    with pytest.raises(helm_python.HelmError, match="grpc.port"):
        render(values)


def test_grpc_schema_knows_keygates_settings():
    """config.grpc takes exactly keygate's [grpc] settings (src/config/grpc.rs) but the
    three the chart sets, so a misspelt one fails at install, not at keygate's start."""
    source = (ROOT / "src/config/grpc.rs").read_text()
    struct = re.search(r"pub struct GrpcConfig \{(.*?)\n\}", source, re.S).group(1)
    fields = set(re.findall(r"^\s*pub (\w+):", struct, re.M))
    schema = json.loads((CHART / "values.schema.json").read_text())
    settable = set(schema["properties"]["config"]["properties"]["grpc"]["properties"])
    assert settable | {"enabled", "address", "port"} == fields
    assert set(schema["properties"]["grpc"]["properties"]) == {"enabled", "port", "servicePort"}


def test_schema_accepts_the_grpc_shapes():
    chart = helm_python.Chart.load(str(CHART))
    for values in GRPC_SHAPES.values():
        chart.validate_schema(values)
    chart.validate_schema({"grpc": {"enabled": False}})


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
    "the proxy without an upstream or a route": {"proxy": {"enabled": True}},
    "a proxy upstream that is not a URL": {"proxy": {"enabled": True, "upstream": "my-api:8080"}},
    "a proxy upstream with a query": {"proxy": {"enabled": True, "upstream": "http://my-api/?x=1"}},
    "a route without an upstream": {"proxy": {"enabled": True, "routes": [{"paths": ["/v1"]}]}},
    "a misspelt route field": {"proxy": {"enabled": True, "routes": [{"upstream": API, "path": ["/v1"]}]}},
    "a route name with a space": {"proxy": {"enabled": True, "routes": [{"upstream": API, "name": "a b"}]}},
    "a proxy port as a string": {"proxy": {"enabled": True, "upstream": API, "port": "8081"}},
    "a proxy service port out of range": {"proxy": {"enabled": True, "upstream": API, "servicePort": 0}},
    "an unknown proxy key": {"proxy": {"enabled": True, "upstreams": [API]}},
    "the upstream CA from a Secret and a ConfigMap": {
        "proxy": {"enabled": True, "upstream": API, "upstreamCA": {"existingSecret": "a", "existingConfigMap": "b"}}},
    "a misspelt assertion field": {"proxy": {"enabled": True, "upstream": API, "assertion": {"enable": True}}},
    "an assertion lifetime over an hour": {"proxy": {"enabled": True, "upstream": API, "assertion": {"ttl_secs": 7200}}},
    "the upstream in config.proxy": {"config": {"proxy": {"upstream": API}}},
    "the proxy port in config.proxy": {"config": {"proxy": {"port": 9000}}},
    "TLS files in config.proxy": {"config": {"proxy": {"tls_cert_file": "/x", "tls_key_file": "/y"}}},
    "grpc enabled as a string": {"grpc": {"enabled": "true"}},
    "a grpc port as a string": {"grpc": {"enabled": True, "port": "9191"}},
    "a grpc port of 0": {"grpc": {"enabled": True, "port": 0}},
    "a grpc service port out of range": {"grpc": {"enabled": True, "servicePort": 70000}},
    "an unknown grpc key": {"grpc": {"enabled": True, "keepCredential": True}},
    "grpc switched on in config.grpc": {"config": {"grpc": {"enabled": True}}},
    "the grpc port in config.grpc": {"config": {"grpc": {"port": 9191}}},
    "a grpc address in config.grpc": {"config": {"grpc": {"address": "127.0.0.1"}}},
    "a misspelt setting in config.grpc": {"config": {"grpc": {"keep_credentials": True}}},
    "a grpc message limit under 1024 bytes": {"grpc": {"enabled": True},
                                              "config": {"grpc": {"max_message_bytes": 512}}},
    "no concurrent grpc streams": {"grpc": {"enabled": True}, "config": {"grpc": {"max_concurrent_streams": 0}}},
    "grpc keep_credential as a string": {"config": {"grpc": {"keep_credential": "yes"}}},
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
    for values in PROXY_SHAPES.values():
        chart.validate_schema(values)
    # Off, the proxy's values may be anything valid: nothing is rendered from them.
    chart.validate_schema({"proxy": {"enabled": False, "upstream": ""}})


# The decisive check.

def retarget_ports(toml):
    """keygate.toml with its listening ports moved to free loopback ones: (toml, main port,
    metrics port or None, proxy port or None, gRPC port or None). Only the top-level
    `port`, [proxy]'s and [grpc]'s `port` are touched, each in its own table."""
    out, table = [], None
    ports = {"main": None, "metrics": None, "proxy": None, "grpc": None}
    for line in toml.splitlines(keepends=True):
        head = re.match(r"^\[\[?([^\]]+)\]\]?\s*$", line)
        if head:
            table = head.group(1).strip()
        elif table is None and re.match(r"^port = \d+$", line.strip()):
            ports["main"] = free_port()
            line = f"port = {ports['main']}\n"
        elif table is None and line.startswith('metrics_address = "0.0.0.0:'):
            ports["metrics"] = free_port()
            line = f'metrics_address = "127.0.0.1:{ports["metrics"]}"\n'
        elif table in ("proxy", "grpc") and re.match(r"^port = \d+$", line.strip()):
            ports[table] = free_port()
            line = f"port = {ports[table]}\n"
        out.append(line)
    return "".join(out), ports["main"], ports["metrics"], ports["proxy"], ports["grpc"]


class Pod:
    """Runs the rendered pod's keygate container with podman as the kubelet would: the
    image, its args, env (secretKeyRef resolved), the ConfigMap and Secret files at their
    mount paths (Secret files with their mode, group fsGroup), the data volume, the user,
    a read-only root and no capabilities. Ports (and the 0.0.0.0 address) are moved to free
    loopback ones. `existing_secrets` / `existing_configmaps`: the objects the values name
    but the chart does not make, as {name: {key: text}}."""

    def __init__(self, docs, existing_secrets, podman, image, existing_configmaps=None, container="keygate"):
        self.docs, self.podman, self.image = docs, podman, image
        self.workload = next(d for d in docs if d["kind"] in ("StatefulSet", "Deployment"))
        self.spec = self.workload["spec"]["template"]["spec"]
        self.c = next(c for c in self.spec["containers"] if c["name"] == container)
        self.secrets = {s["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
                        for s in docs if s["kind"] == "Secret"}
        self.secrets.update(existing_secrets)
        cm = kind(docs, "ConfigMap")
        toml = cm["data"]["keygate.toml"]
        self.rendered_toml = toml
        self.config = tomllib.loads(toml)
        assert re.search(r"^port = 8080$", toml, re.M), toml
        toml, self.port, self.metrics_port, self.proxy_port, self.grpc_port = retarget_ports(toml)
        self.configmaps = dict(existing_configmaps or {})
        self.configmaps[cm["metadata"]["name"]] = {"keygate.toml": toml}
        self.config_map = cm["metadata"]["name"]

    def replace_in_config(self, old, new):
        """Changes the keygate.toml the container gets (e.g. an upstream's port)."""
        toml = self.configmaps[self.config_map]["keygate.toml"]
        assert old in toml, (old, toml)
        self.configmaps[self.config_map]["keygate.toml"] = toml.replace(old, new)

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
        fs_group = self.spec.get("securityContext", {}).get("fsGroup", 0)
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
                source, data = v["configMap"], self.configmaps[v["configMap"]["name"]]
            elif "secret" in v:
                source, data = v["secret"], self.secrets[v["secret"]["secretName"]]
            else:
                raise AssertionError(f"volume kind not handled: {v}")
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                f = d / item["path"]
                f.write_text(data[item["key"]])
                os.chown(f, 0, fs_group)
                f.chmod(source.get("defaultMode", 0o644))
            src = d / m["subPath"] if "subPath" in m else d
            mounts.append(f"{src}:{m['mountPath']}{ro}")
        return mounts

    def flags(self):
        pod_sec = self.spec.get("securityContext", {})
        sec = {**pod_sec, **self.c["securityContext"]}  # the container's settings win
        flags = ["--user", f"{sec['runAsUser']}:{sec['runAsGroup']}"]
        if "fsGroup" in pod_sec:
            flags += ["--group-add", str(pod_sec["fsGroup"])]
        if sec["capabilities"]["drop"] == ["ALL"]:
            flags += ["--cap-drop", "all"]
        if sec["allowPrivilegeEscalation"] is False:
            flags += ["--security-opt", "no-new-privileges"]
        return flags

    def run(self, args, hosts=()):
        return self.podman.start(self.image, *args, env=self.env(), volumes=self.volumes(), hosts=hosts,
                                 read_only=self.c["securityContext"]["readOnlyRootFilesystem"], extra=self.flags())


def wait_grpc_serving(podman, name, port, timeout=20):
    """Polls grpc.health.v1.Health on the pod's gRPC port until keygate's Check service
    says SERVING; fails with the container's log."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = grpc_health(port, "envoy.service.auth.v3.Authorization", timeout=2)
            if last == 1:
                return
        except (OSError, AssertionError) as e:
            last = repr(e)
        time.sleep(0.1)
    raise AssertionError(f"gRPC port {port} not SERVING within {timeout}s; last: {last}\n"
                         f"--- log of {name} ---\n{podman.logs(name)[-4000:]}")


def wait_exit(podman, name, timeout=30):
    code = podman("wait", name, timeout=timeout).stdout.strip()
    return int(code), podman.logs(name)


@pytest.fixture
def valkey(tmp_path):
    v = Valkey(tmp_path)
    yield v
    v.stop()


@pytest.fixture(scope="module")
def certs():
    """A CA and a certificate for the proxy port, as a cert-manager Secret holds them."""
    return make_certs(tmpdir("kg-certs-"), ["localhost", "my-api.example.com"])


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


def tls_secret(certs):
    return {"tls.crt": (certs / "server.pem").read_text(), "tls.key": (certs / "server.key").read_text(),
            "ca.crt": (certs / "ca.pem").read_text()}


def proxy_url(pod, certs, path="/"):
    """(url, ssl context) of the pod's proxy port; https with the test CA when it has TLS."""
    if "tls_cert_file" in pod.config["proxy"]:
        return f"https://localhost:{pod.proxy_port}{path}", ssl.create_default_context(cafile=str(certs / "ca.pem"))
    return f"http://127.0.0.1:{pod.proxy_port}{path}", None


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_rendered_configuration_runs(values, podman, valkey, certs):
    pm, image = podman
    docs, _ = render(load(values))
    existing = {
        "keygate-valkey": {"url": f"redis://valkey.test:{valkey.port}/0"},
        "keygate-secrets": {"token-salt": SALT, "admin-key": "an-admin-key-from-our-own-secret"},
        "my-api-tls": tls_secret(certs),
    }
    pod = Pod(docs, existing, pm, image, existing_configmaps={"my-api-ca": {"ca.crt": (certs / "ca.pem").read_text()}})
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
    if pod.proxy_port:  # inline mode: the proxy port asks for a key
        url, context = proxy_url(pod, certs)
        pm.wait(serve, url, want=401, context=context)
    if pod.grpc_port:  # HTTP/2 prior knowledge, the Check service and gRPC health served
        wait_grpc_serving(pm, serve, pod.grpc_port)
        assert grpc_health(pod.grpc_port) == 1
    if "KEYGATE_VALKEY_URL" in pod.env():
        assert valkey.command("PING") == "+PONG"
    pm("stop", "--time", "10", serve)
    assert pm.inspect(serve, "{{.State.ExitCode}}") == "0", pm.logs(serve)


# Inline mode, run: keygate with what the chart (or the sidecar example) renders, in front
# of a Python stand-in for the protected service.

ADMIN = "an-admin-key-for-the-proxy-tests"


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def check_proxied(pod, certs, upstream, key, path, upstream_path):
    """A request with the key reaches the upstream, as keygate sends it; one without never does."""
    url, context = proxy_url(pod, certs, path)
    before = len(upstream.seen)
    status, _, body = http("GET", url, context=context)
    assert status == 401, (status, body)
    assert len(upstream.seen) == before, "a refused request reached the upstream"
    status, headers, body = http("GET", url, {"Authorization": f"Bearer {key}"}, context=context)
    assert status == 200, (status, body)
    assert json.loads(body)["path"] == upstream_path
    assert {k.lower() for k in headers} >= {"x-request-id"}
    method, seen_path, seen = upstream.seen[-1]
    seen = {k.lower(): v for k, v in seen.items()}
    assert (method, seen_path) == ("GET", upstream_path)
    assert seen["x-authenticated-user"] == "alice"
    assert "authorization" not in seen, "the key went upstream"
    return seen


@pytest.mark.parametrize("shape", ["upstream", "routes, tls, assertion"])
def test_proxy_in_front_of_a_service(shape, podman, certs, upstream):
    """The chart with proxy.enabled, run: 401 without a key, the service with one."""
    pm, image = podman
    service = f"http://upstream.test:{upstream.port}"
    proxy = {"enabled": True, "upstream": service}
    if shape != "upstream":
        proxy = {
            "enabled": True,
            "routes": [
                {"name": "health", "paths": ["/healthz"], "methods": ["GET"], "upstream": service, "public": True},
                {"name": "api", "paths": ["/v1"], "upstream": service + "/base"},
            ],
            "tls": {"existingSecret": "my-api-tls"},
            "assertion": {"enabled": True, "audience": "my-api"},
        }
    docs, _ = render({"secrets": {"adminKey": ADMIN}, "proxy": proxy})
    pod = Pod(docs, {"my-api-tls": tls_secret(certs)}, pm, image)
    hosts = ["upstream.test:127.0.0.1"]
    check = pod.run(["config", "check"], hosts=hosts)
    code, logs = wait_exit(pm, check)
    assert code == 0 and "configuration is valid" in logs, logs
    assert logs.count("[[proxy.routes]]") == len(proxy.get("routes", [])), logs

    serve = pod.run(pod.c["args"], hosts=hosts)
    base = f"http://127.0.0.1:{pod.port}"
    pm.wait(serve, base + pod.c["readinessProbe"]["httpGet"]["path"])
    url, context = proxy_url(pod, certs)
    pm.wait(serve, url, want=401 if shape == "upstream" else 404, context=context)
    key = create_key(base, ADMIN)
    if shape == "upstream":
        check_proxied(pod, certs, upstream, key, "/anything?x=1", "/anything?x=1")
    else:
        seen = check_proxied(pod, certs, upstream, key, "/v1/items", "/base/v1/items")
        claims = jwt_claims(seen["x-keygate-assertion"])
        assert (claims["sub"], claims["aud"], claims["iss"]) == ("alice", "my-api", "keygate"), claims
        status, _, body = http("GET", base + "/.well-known/jwks.json")
        assert status == 200 and json.loads(body)["keys"], body
        # The public route asks for no key; no route: 404, and nothing goes upstream.
        url, context = proxy_url(pod, certs, "/healthz")
        assert http("GET", url, context=context)[0] == 200
        url, context = proxy_url(pod, certs, "/elsewhere")
        assert http("GET", url, {"Authorization": f"Bearer {key}"}, context=context)[0] == 404
    pm("stop", "--time", "10", serve)
    assert pm.inspect(serve, "{{.State.ExitCode}}") == "0", pm.logs(serve)


# The sidecar shape: examples/sidecar.yaml, keygate in the application's own pod.

SIDECAR = CHART / "examples/sidecar.yaml"


def sidecar_docs():
    return [d for d in yaml.safe_load_all(SIDECAR.read_text()) if d]


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_sidecar_example_validates(kube, tmp_path):
    need("kubernetes-validate")
    docs = sidecar_docs()
    code, out = validate_manifests(docs, tmp_path, kube)
    assert code == 0 and "ERROR" not in out and "Couldn't find schema" not in out, out
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "Service"]
    dep, svc = kind(docs, "Deployment"), kind(docs, "Service")
    pod = dep["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert set(containers) == {"app", "keygate"}
    kg = containers["keygate"]
    # The Service selects the pod and sends everything to keygate's proxy port, nothing
    # to the application or to keygate's management port.
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    kg_ports = {p["name"]: p["containerPort"] for p in kg["ports"]}
    config = tomllib.loads(kind(docs, "ConfigMap")["data"]["keygate.toml"])
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["keygate-proxy"]
    assert kg_ports["keygate-proxy"] == config["proxy"]["port"]
    assert kg_ports["keygate-http"] == config["port"]
    assert not containers["app"].get("ports"), "the application listens on loopback only"
    # keygate proxies to the application over the pod's loopback.
    assert config["proxy"]["upstream"].startswith("http://127.0.0.1:")
    assert all(r["upstream"] == config["proxy"]["upstream"] for r in config["proxy"].get("routes", []))
    # Locked down on the container itself (the pod's settings are the application's).
    sec = kg["securityContext"]
    assert sec["runAsNonRoot"] and sec["readOnlyRootFilesystem"] and sec["allowPrivilegeEscalation"] is False
    assert sec["capabilities"]["drop"] == ["ALL"] and sec["seccompProfile"] == {"type": "RuntimeDefault"}
    assert kg["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "keygate-http"}
    assert kg["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "keygate-http"}
    # The image the chart runs.
    chart = load(CHART / "Chart.yaml")
    assert kg["image"] == f"{load(CHART / 'values.yaml')['image']['repository']}:{chart['appVersion']}"


def test_sidecar_example_runs(podman, valkey, upstream):
    """The sidecar's keygate container as shipped, with the application's stand-in on the
    loopback port the example names and the shared Valkey store: a key made in the store
    (as the central keygate's API would) lets requests through, none is a 401."""
    pm, image = podman
    docs = sidecar_docs()
    existing = {"keygate-valkey": {"url": f"redis://valkey.test:{valkey.port}/0"},
                "keygate-secrets": {"token-salt": SALT}}
    pod = Pod(docs, existing, pm, image)
    app = pod.config["proxy"]["upstream"]
    pod.replace_in_config(f'"{app}"', f'"http://127.0.0.1:{upstream.port}"')
    hosts = ["valkey.test:127.0.0.1"]
    made = pod.run(["token", "create", "--owner", "alice", "--name", "sidecar"], hosts=hosts)
    code, logs = wait_exit(pm, made)
    assert code == 0, logs
    key = pm("logs", made).stdout.strip().splitlines()[-1]

    serve = pod.run(pod.c["args"], hosts=hosts)
    base = f"http://127.0.0.1:{pod.port}"
    pm.wait(serve, base + pod.c["readinessProbe"]["httpGet"]["path"])
    pm.wait(serve, base + pod.c["livenessProbe"]["httpGet"]["path"])
    check_proxied(pod, None, upstream, key, "/orders/7", "/orders/7")
    assert http("GET", f"http://127.0.0.1:{pod.proxy_port}/healthz")[0] == 200  # the public route
    pm("stop", "--time", "10", serve)
    assert pm.inspect(serve, "{{.State.ExitCode}}") == "0", pm.logs(serve)


# Istio (deploy/istio): keygate as an envoyExtAuthzGrpc extension provider, a CUSTOM
# AuthorizationPolicy, keygate's Service and DestinationRule. No Istio runs here: the
# files are parsed, validated (the Service and ConfigMap by kubernetes-validate, the
# custom resources by CRD_SCHEMAS, the provider by the MeshConfig's fields) and checked
# against each other and against what the chart renders.

ISTIO = ROOT / "deploy/istio"
ISTIO_FILES = {"meshconfig.yaml": ["ConfigMap"], "authorizationpolicy.yaml": ["AuthorizationPolicy"] * 2,
               "keygate-service.yaml": ["Service", "DestinationRule"]}
# MeshConfig.ExtensionProvider.EnvoyExternalAuthorizationGrpcProvider (istio/api
# mesh/v1alpha1/config.proto), in the MeshConfig's YAML spelling.
GRPC_PROVIDER = closed({
    "service": {"type": "string", "minLength": 1}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "timeout": DURATION, "failOpen": {"type": "boolean"}, "clearRouteCache": {"type": "boolean"},
    "statusOnError": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
    "includeRequestBodyInCheck": closed({"maxRequestBytes": {"type": "integer"},
                                         "allowPartialMessage": {"type": "boolean"},
                                         "packAsBytes": {"type": "boolean"}}),
}, ["service", "port"])


def istio_docs(name=None):
    files = [name] if name else ISTIO_FILES
    return [d for f in files for d in yaml.safe_load_all((ISTIO / f).read_text()) if d]


def seconds(duration):
    """An Istio (protobuf) duration such as 1s, 500ms or 1m30s, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def istio_parts():
    """(the extension provider named by the CUSTOM policy, that policy, the keygate-callers
    policy, the Service, the DestinationRule)."""
    docs = istio_docs()
    mesh = yaml.safe_load(kind(docs, "ConfigMap")["data"]["mesh"])
    policies = {d["spec"]["action"]: d for d in docs if d["kind"] == "AuthorizationPolicy"}
    custom = policies["CUSTOM"]
    providers = {p["name"]: p for p in mesh["extensionProviders"]}
    return (providers[custom["spec"]["provider"]["name"]], custom, policies["ALLOW"], kind(docs, "Service"),
            kind(docs, "DestinationRule"))


def test_istio_files_are_the_expected_kinds():
    assert sorted(p.name for p in ISTIO.glob("*.yaml")) == sorted(ISTIO_FILES)
    for name, kinds in ISTIO_FILES.items():
        docs = istio_docs(name)
        assert [d["kind"] for d in docs] == kinds, name
        for d in docs:
            assert d["metadata"]["name"] and d["metadata"]["namespace"], d["metadata"]
    cm = kind(istio_docs("meshconfig.yaml"), "ConfigMap")
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("istio", "istio-system")
    # Istio's kinds at v1, the version it stores (v1beta1 and v1alpha3 are older aliases).
    assert {(d["apiVersion"], d["kind"]) for d in istio_docs()} == {
        ("v1", "ConfigMap"), ("v1", "Service"), ("security.istio.io/v1", "AuthorizationPolicy"),
        ("networking.istio.io/v1", "DestinationRule")}


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_istio_files_validate(kube, tmp_path):
    need("kubernetes-validate")
    code, out = validate_manifests(istio_docs(), tmp_path, kube)
    assert code == 0 and "ERROR" not in out and "Couldn't find schema" not in out, out


def test_istio_strict_validation_catches_a_misspelt_field():
    _, custom, _, _, rule = istio_parts()
    rule = copy.deepcopy(rule)
    rule["spec"]["trafficPolicy"]["connectionPool"]["http"]["idletimeout"] = "4s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, CRD_SCHEMAS[("networking.istio.io/v1", "DestinationRule")])
    custom = copy.deepcopy(custom)
    custom["spec"]["rules"][0]["to"][0]["operation"]["notPath"] = ["/x"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(custom, CRD_SCHEMAS[("security.istio.io/v1", "AuthorizationPolicy")])


def test_istio_provider_is_keygates_grpc_port():
    provider, custom, _, svc, _ = istio_parts()
    assert set(provider) == {"name", "envoyExtAuthzGrpc"}, "the gRPC provider, not envoyExtAuthzHttp"
    grpc = provider["envoyExtAuthzGrpc"]
    jsonschema.validate(grpc, GRPC_PROVIDER)
    # keygate's Service, its `grpc` port, marked gRPC for Istio.
    assert grpc["service"] == f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local"
    port = next(p for p in svc["spec"]["ports"] if p["port"] == grpc["port"])
    assert (port["name"], port["appProtocol"], port["targetPort"]) == ("grpc", "grpc", "grpc")
    # Bounded (Istio's default is 600 s), fail closed, with 503.
    assert 0 < seconds(grpc["timeout"]) <= 5
    assert grpc["failOpen"] is False
    assert grpc["statusOnError"] == "503"
    assert grpc.get("clearRouteCache", False) is False
    assert "includeRequestBodyInCheck" not in grpc
    assert custom["spec"]["action"] == "CUSTOM"


def matches(rule, method, path):
    """Whether an AuthorizationPolicy rule matches a request, as Istio decides it for the
    fields the CUSTOM policy uses: `to` operations' paths and methods (exact, `prefix*`,
    `*suffix`, `*`), ORed over operations, ANDed within one."""
    assert set(rule) == {"to"}, rule

    def hit(patterns, value):
        return any(p == "*" or p == value or (p.endswith("*") and value.startswith(p[:-1]))
                   or (p.startswith("*") and value.endswith(p[1:])) for p in patterns)

    def op_matches(op):
        assert set(op) <= {"paths", "notPaths", "methods", "notMethods"}, op
        return (("paths" not in op or hit(op["paths"], path)) and not hit(op.get("notPaths", []), path)
                and ("methods" not in op or hit(op["methods"], method))
                and not hit(op.get("notMethods", []), method))
    return any(op_matches(t["operation"]) for t in rule["to"])


def test_istio_policy_checks_everything_but_healthz():
    _, custom, _, _, _ = istio_parts()
    spec = custom["spec"]
    assert spec["selector"]["matchLabels"], "a CUSTOM policy without a selector covers the whole namespace"
    checked = lambda method, path: any(matches(r, method, path) for r in spec["rules"])  # noqa: E731
    for method, path in [("GET", "/"), ("GET", "/v1/items"), ("POST", "/v1/items"), ("DELETE", "/healthz"),
                         ("POST", "/healthz"), ("GET", "/healthz/more"), ("GET", "/healthzz"), ("GET", "/HEALTHZ")]:
        assert checked(method, path), f"{method} {path} would reach the workload unchecked"
    for method in ("GET", "HEAD"):
        assert not checked(method, "/healthz")


def test_istio_service_is_the_charts():
    """keygate-service.yaml's Service is what the chart renders for release `keygate` in
    namespace `keygate` with grpc.enabled, and selects the chart's pods; its label
    selector (for `kubectl apply -l`) picks the DestinationRule alone."""
    _, _, callers, svc, rule = istio_parts()
    docs, _ = render({"grpc": {"enabled": True}}, name="keygate", namespace="keygate")
    chart_svc = kind(docs, "Service")
    assert svc["metadata"]["name"] == chart_svc["metadata"]["name"]
    assert svc["spec"] == chart_svc["spec"]
    workload = kind(docs, "StatefulSet")
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert callers["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ours = {"app.kubernetes.io/component": "mesh"}
    assert ours.items() <= rule["metadata"]["labels"].items()
    assert not ours.items() <= svc["metadata"].get("labels", {}).items()


def test_istio_callers_policy_opens_grpc_to_the_protected_namespace():
    """keygate-callers: the gRPC port (the pod's, which Istio's `ports` means) from the
    CUSTOM policy's namespace only; the HTTP port as before."""
    _, custom, callers, svc, _ = istio_parts()
    assert callers["metadata"]["namespace"] == svc["metadata"]["namespace"]
    docs, _ = render({"grpc": {"enabled": True}}, name="keygate", namespace="keygate")
    pod_ports = {p["name"]: str(p["containerPort"]) for p in kind(docs, "StatefulSet")[
        "spec"]["template"]["spec"]["containers"][0]["ports"]}
    by_port = {}
    for rule in callers["spec"]["rules"]:
        (to,) = rule["to"]
        for port in to["operation"]["ports"]:
            by_port[port] = rule.get("from")
    assert set(by_port) == {pod_ports["grpc"], pod_ports["http"]}
    assert by_port[pod_ports["http"]] is None
    (source,) = by_port[pod_ports["grpc"]]
    assert source["source"]["namespaces"] == [custom["metadata"]["namespace"]]


def test_istio_destination_rule():
    provider, _, _, svc, rule = istio_parts()
    spec = rule["spec"]
    assert spec["host"] == provider["envoyExtAuthzGrpc"]["service"]
    assert rule["metadata"]["namespace"] == svc["metadata"]["namespace"]
    policy = spec["trafficPolicy"]
    assert policy["tls"] == {"mode": "ISTIO_MUTUAL"}
    # Idle connections closed by the sidecars before keygate's idle_timeout_ms ends them.
    idle_ms = int(re.search(r"idle_timeout_ms: ([0-9_]+),", (ROOT / "src/config/mod.rs").read_text())
                  .group(1).replace("_", ""))
    # The HTTP port stays HTTP/1.1; the gRPC port is HTTP/2.
    assert policy["connectionPool"]["http"]["h2UpgradePolicy"] == "DO_NOT_UPGRADE"
    assert seconds(policy["connectionPool"]["http"]["idleTimeout"]) * 1000 < idle_ms
    (grpc,) = policy["portLevelSettings"]
    assert grpc["port"]["number"] == provider["envoyExtAuthzGrpc"]["port"]
    http = grpc["connectionPool"]["http"]
    assert http["h2UpgradePolicy"] == "UPGRADE"
    assert seconds(http["idleTimeout"]) * 1000 < idle_ms
