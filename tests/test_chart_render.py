"""The proof: the real helm renders the real charts with gpuslice's values; every image goes through the mirror,
every pod template carries the pull secret, ClusterPolicy validates against its CRD and core kinds against the
Kubernetes schemas. Also: chart sources (.tgz, helm pull with faults + cache) and `plan`'s files."""

from __future__ import annotations

import http.server
import json
import shutil
import stat
import threading
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from gpuslice import api
from gpuslice.chart import ChartError, load_chart, locate_chart, pull_chart
from gpuslice.errors import HelmError
from gpuslice.helm import run_helm, template
from gpuslice.images import Inventory, discover_images, is_mirrored, rewrite_values
from gpuslice.render import RenderOptions
from gpuslice.render.operator import image_inventory, operator_values, values_yaml
from gpuslice.render.operator import render as render_operator
from gpuslice.render.operator_proof import (
    apply_structural_defaults,
    collect_images,
    kubernetes_schema_version,
    parse_manifests,
    pod_templates,
    prove,
    render_chart,
    structural_to_jsonschema,
)
from tests.helpers import CHARTS, EXAMPLES
from tests.test_images import PROXY, resolved_for, spec_text

BOTH = [("v26.7.0", CHARTS / "chart-v26.7.0"), ("v25.3.4", CHARTS / "chart-v25.3.4")]


class Rendered:
    def __init__(self, version: str, path: Path) -> None:
        self.r = resolved_for(spec_text(chart_version=version))
        self.chart = load_chart(path)
        self.values = operator_values(self.r, self.chart)
        self.text = values_yaml(self.r, self.chart, self.values)
        self.inv = image_inventory(self.r, self.chart)
        self.docs = render_chart(self.r, self.chart, self.text)

    def prove(self, values: dict | None = None, inv: Inventory | None = None):
        text = self.text if values is None else values_yaml(self.r, self.chart, values)
        return prove(self.r, self.chart, text, inv or self.inv)


@pytest.fixture(scope="module", params=BOTH, ids=[v for v, _ in BOTH])
def rendered(request):
    return Rendered(*request.param)


@pytest.fixture(scope="module")
def r26():
    return Rendered(*BOTH[0])


def test_zero_images_outside_the_mirror(rendered):
    uses = collect_images(rendered.docs, rendered.r)
    kinds = {u.kind for u in uses}
    assert kinds == {"container", "env", "custom-resource"}
    outside = [u for u in uses if not u.image.startswith(PROXY + "/")]
    assert outside == []
    # The ClusterPolicy as the operator assembles it: driver tags per pool OS, validator, device plugin.
    cr = {u.image for u in uses if u.kind == "custom-resource" and u.enabled}
    assert {
        f"{PROXY}/nvcr.io/nvidia/driver:{rendered.chart.values['driver']['version']}-{t}"
        for t in ("ubuntu22.04", "ubuntu24.04")
    } <= cr
    # Hook Jobs (pre-upgrade CRD upgrade, NFD post-delete) are covered too.
    hooks = {u.where.split(" ")[0] for u in uses if "helm hook" in u.where}
    assert "Job/gpu-operator-upgrade-crd" in hooks and any(h.endswith("-nfd-prune") for h in hooks)
    # Every container image and enabled ClusterPolicy image is in images.txt / mirror.sh.
    assert {u.image for u in uses if u.kind != "env" and u.enabled} <= rendered.inv.mirrors()


def test_every_pod_template_carries_the_pull_secret(rendered):
    lacking = [
        pt.label
        for pt in pod_templates(rendered.docs)
        if "corp-registry" not in {s.get("name") for s in pt.spec.get("imagePullSecrets") or []}
    ]
    if rendered.r.chart_version == "v25.3.4":
        # node-feature-discovery 0.17.3's prune Job (post-delete hook) takes no imagePullSecrets at all.
        assert lacking == ["Job/ml-prod-nfd-prune (helm hook post-delete)"]
    else:
        assert lacking == []
    cp = next(d for d in rendered.docs if d["kind"] == "ClusterPolicy")["spec"]
    for comp in ("validator", "driver", "toolkit", "devicePlugin", "gfd", "dcgmExporter", "migManager"):
        assert cp[comp]["imagePullSecrets"] == ["corp-registry"], comp


def test_proof_is_clean(rendered):
    findings = rendered.prove()
    if rendered.r.chart_version == "v25.3.4":
        assert [(f.id, f.severity.value) for f in findings] == [("operator-pull-secret-missing", "warning")]
        assert "helm uninstall" in findings[0].message
    else:
        assert findings == []


def test_clusterpolicy_carries_the_sharing_config_and_mig_strategy(rendered):
    cp = next(d for d in rendered.docs if d["kind"] == "ClusterPolicy")["spec"]
    assert cp["devicePlugin"]["config"] == {"name": rendered.r.device_plugin_configmap, "default": "exclusive"}
    assert cp["mig"]["strategy"] == "none"
    # the chart does not create the sharing ConfigMap: gpuslice writes it (apply, device-plugin-config.yaml)
    assert not [
        d
        for d in rendered.docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == rendered.r.device_plugin_configmap
    ]
    names = [d["metadata"]["name"] for d in rendered.docs if d["kind"] != "CustomResourceDefinition"]
    assert max(len(n) for n in names) <= 63


def test_proof_catches_an_image_left_outside_the_mirror(r26):
    bad = json.loads(json.dumps(r26.values))
    bad["dcgmExporter"]["repository"] = "nvcr.io/nvidia/k8s"
    found = {f.id: f for f in r26.prove(bad)}
    assert found["operator-image-not-mirrored"].severity.value == "error"
    assert "nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-4.8.3-distroless" in found["operator-image-not-mirrored"].message


def test_proof_catches_a_missing_pull_secret(r26):
    bad = json.loads(json.dumps(r26.values))
    bad["operator"]["imagePullSecrets"] = []
    bad["gfd"]["imagePullSecrets"] = []
    msgs = [f.message for f in r26.prove(bad) if f.id == "operator-pull-secret-missing" and f.severity.value == "error"]
    assert any(m.startswith("Deployment/gpu-operator ") for m in msgs)
    assert any("Job/gpu-operator-upgrade-crd" in m for m in msgs)
    assert any("ClusterPolicy/cluster-policy spec.gfd" in m for m in msgs)


def test_proof_validates_clusterpolicy_against_its_crd(r26):
    bad = json.loads(json.dumps(r26.values))
    bad["mig"]["strategy"] = "sometimes"
    bad["devicePlugin"]["bogusField"] = "x"  # rendered nowhere: no finding
    bad["daemonsets"]["updateStrategy"] = "Sideways"
    found = [f for f in r26.prove(bad) if f.id == "operator-cr-invalid"]
    assert len(found) == 1
    ev = " ".join(found[0].evidence)
    assert "spec.mig.strategy" in ev and "spec.daemonsets.updateStrategy" in ev


def test_proof_validates_core_kinds(r26):
    bad = json.loads(json.dumps(r26.values))
    bad["operator"]["nodeSelector"] = {"kubernetes.io/os": {"nested": "map"}}
    found = [f for f in r26.prove(bad) if f.id == "operator-manifest-invalid"]
    assert found and any("Deployment/gpu-operator" in f.message for f in found)
    assert any("nodeSelector" in e for f in found for e in f.evidence)


def test_proof_catches_an_image_missing_from_the_inventory(r26):
    inv = r26.inv
    trimmed = Inventory(
        images=tuple(i for i in inv.images if "node-feature-discovery" not in i.source), mirror_configured=True
    )
    found = [f for f in r26.prove(inv=trimmed) if f.id == "operator-image-not-in-inventory"]
    assert len(found) == 1 and "node-feature-discovery:v0.19.0" in found[0].message
    assert any("nfd-worker" in e for e in found[0].evidence)


def test_structural_schema_conversion_and_server_side_defaulting():
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "a": {"type": "string", "nullable": True},
                    "b": {"type": "string"},
                    "n": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "mode": {"type": "string", "default": "docker"},
                },
                "required": ["mode"],
            }
        },
    }
    import jsonschema

    v = jsonschema.Draft7Validator(structural_to_jsonschema(schema))
    ok = apply_structural_defaults({"spec": {"a": None, "b": None, "n": "25%", "free": {"x": 1}}}, schema)
    assert ok == {"spec": {"a": None, "n": "25%", "free": {"x": 1}, "mode": "docker"}}
    assert list(v.iter_errors(ok)) == []
    assert [e.message for e in v.iter_errors({"spec": {"mode": "x", "typo": 1}})] == [
        "Additional properties are not allowed ('typo' was unexpected)"
    ]


def test_kubernetes_schema_version_falls_back_to_the_nearest():
    assert kubernetes_schema_version("1.33") == "1.33.0"
    newest = kubernetes_schema_version("1.99")
    oldest = kubernetes_schema_version("1.2")
    assert newest and oldest and tuple(map(int, newest.split("."))) > tuple(map(int, oldest.split(".")))


# --------------------------------------------------------------------------------------------------------
# A chart the code has never seen: other layouts, a packaged subchart, digests


def _write_chart(root: Path) -> Path:
    digest = "sha256:" + "cd" * 32
    sub = root / "src-sub"
    (sub / "templates").mkdir(parents=True)
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: agent\nversion: 0.3.0\nappVersion: v3.1.0\n")
    (sub / "values.yaml").write_text("image:\n  repository: registry.k8s.io/pause\n  tag: ''\nimagePullSecrets: []\n")
    (sub / "templates" / "ds.yaml").write_text(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n    spec:\n"
        "      imagePullSecrets: {{ toYaml .Values.imagePullSecrets | nindent 8 }}\n      containers:\n"
        '      - name: agent\n        image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default '
        '.Chart.AppVersion }}"\n'
    )
    main = root / "demo"
    (main / "templates").mkdir(parents=True)
    (main / "charts").mkdir()
    run_helm(["package", str(sub), "-d", str(main / "charts")])
    (main / "Chart.yaml").write_text(
        'apiVersion: v2\nname: demo\nversion: 1.0.0\nappVersion: "2.4.1"\n'
        "dependencies: [{name: agent, version: 0.3.0, condition: agent.enabled}]\n"
    )
    (main / "values.yaml").write_text(
        yaml.safe_dump(
            {
                "web": {
                    "image": {"registry": "docker.io", "repository": "bitnami/nginx", "tag": ""},
                    "imagePullSecrets": [],
                },
                "tool": {"repository": "quay.io/org", "image": "tool", "version": digest},
                "hooks": {"image": "ghcr.io/org/migrate:v9"},
            }
        )
    )
    (main / "templates" / "deploy.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {a: w}}\n"
        "  template:\n    metadata: {labels: {a: w}}\n    spec:\n"
        "      imagePullSecrets: {{ toYaml .Values.web.imagePullSecrets | nindent 8 }}\n"
        "      initContainers:\n      - name: tool\n"
        '        image: "{{ .Values.tool.repository }}/{{ .Values.tool.image }}@{{ .Values.tool.version }}"\n'
        '      containers:\n      - name: web\n        image: "{{ .Values.web.image.registry }}/'
        '{{ .Values.web.image.repository }}:{{ .Values.web.image.tag | default .Chart.AppVersion }}"\n'
        '        env: [{name: MIGRATE_IMAGE, value: "{{ .Values.hooks.image }}"}]\n'
    )
    return main


def test_generic_chart_rewrite_proven_by_helm(tmp_path):
    from gpuslice.images import diff_values, set_pull_secrets

    chart = load_chart(_write_chart(tmp_path))
    assert [(s.key, s.app_version, s.condition) for s in chart.subcharts] == [("agent", "v3.1.0", "agent.enabled")]
    r = resolved_for(spec_text())
    base = chart.effective_values()
    new = json.loads(json.dumps(base))
    slots = discover_images(chart, base)
    assert {s.where for s in slots} == {"web.image", "tool", "hooks.image", "agent.image"}
    assert rewrite_values(new, slots, r) == []
    set_pull_secrets(new, chart, r.pull_secrets)
    text = yaml.safe_dump(diff_values(base, new))
    docs = parse_manifests(template(chart.path, release="x", namespace="ns", values_yaml=text, kube_version="1.33"))
    uses = collect_images(docs, r)
    assert {u.image for u in uses} == {
        f"{PROXY}/docker.io/bitnami/nginx:2.4.1",
        f"{PROXY}/quay.io/org/tool@sha256:" + "cd" * 32,
        f"{PROXY}/ghcr.io/org/migrate:v9",
        f"{PROXY}/registry.k8s.io/pause:v3.1.0",
    }
    assert all(is_mirrored(u.image, r) for u in uses)
    for pt in pod_templates(docs):
        assert pt.spec["imagePullSecrets"] == [{"name": "corp-registry"}], pt.label


# --------------------------------------------------------------------------------------------------------
# Chart sources


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    d = tmp_path_factory.mktemp("repo")
    run_helm(
        ["package", str(CHARTS / "chart-v26.7.0"), "--version", "v26.7.0", "--app-version", "v26.7.0", "-d", str(d)]
    )
    return d


def test_packaged_chart_reads_like_the_folder(packaged):
    tgz = load_chart(packaged / "gpu-operator-v26.7.0.tgz")
    folder = load_chart(CHARTS / "chart-v26.7.0")
    assert (tgz.version, tgz.app_version) == ("v26.7.0", "v26.7.0")
    assert tgz.effective_values() == folder.effective_values()
    assert len(tgz.crd_docs) == len(folder.crd_docs) > 0


def test_chart_version_mismatch_is_reported(packaged, tmp_path):
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text(chart_version="v25.3.4"))
    res = render_operator(api.load(spec), RenderOptions(chart=packaged / "gpu-operator-v26.7.0.tgz", prove=False))
    mismatch = [f for f in res.findings if f.id == "operator-chart-version-mismatch"]
    # FAILED: a v26.7.0 chart for a spec that says v25.3.4 is an error (its images are v26.7.0's)
    assert len(mismatch) == 1 and "v26.7.0" in mismatch[0].message and mismatch[0].severity.value == "error"
    assert mismatch[0].path == "operator.chartVersion"
    assert yaml.safe_load(str(res.files["values.yaml"]))["operator"]["version"] == "v26.7.0"


def test_chart_version_match_passes(packaged, tmp_path):
    """PASSED: the packaged v26.7.0 chart for a spec that says v26.7.0."""
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text(chart_version="v26.7.0"))
    res = render_operator(api.load(spec), RenderOptions(chart=packaged / "gpu-operator-v26.7.0.tgz", prove=False))
    assert not [f for f in res.findings if f.id == "operator-chart-version-mismatch"]


def test_chart_version_mismatch_stops_plan(packaged, tmp_path, cli):
    """The reported case: a v25.10.1 chart rendered for a spec on v26.7.0 exited 0 with v26.7.0 image tags."""
    chart_dir = tmp_path / "src"
    shutil.copytree(CHARTS / "chart-v26.7.0", chart_dir / "gpu-operator")
    run_helm(["package", str(chart_dir / "gpu-operator"), "--version", "v25.10.1", "-d", str(tmp_path)])
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text(chart_version="v26.7.0"))
    tgz = tmp_path / "gpu-operator-v25.10.1.tgz"
    r = cli("plan", spec, "--chart", tgz, "-d", tmp_path / "out", "-o", "json", "--force")
    assert r.exit_code != 0
    found = [f for f in json.loads(r.stdout)["findings"] if f["id"] == "operator-chart-version-mismatch"]
    assert found and found[0]["severity"] == "error" and "v25.10.1" in found[0]["message"]


class _Repo(http.server.SimpleHTTPRequestHandler):
    """A static chart repository that answers 503 while ``failures`` > 0 (a flaky repository)."""

    failures: ClassVar[int] = 0
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        type(self).hits.append(self.path)
        if type(self).failures > 0:
            type(self).failures -= 1
            self.send_error(503, "try later")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def chart_repo(packaged, tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    shutil.copy(packaged / "gpu-operator-v26.7.0.tgz", root)
    handler = type("H", (_Repo,), {"failures": 0, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(root), **k))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    run_helm(["repo", "index", str(root), "--url", url])
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield url, handler
    server.shutdown()


def test_helm_pull_retries_with_backoff_then_caches(chart_repo, tmp_path, monkeypatch):
    url, handler = chart_repo
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "helm-cache"))
    monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "helm-config"))
    handler.failures = 2
    sleeps: list[float] = []
    said: list[str] = []
    got = pull_chart(
        "v26.7.0", url, cache=tmp_path / "cache", attempts=3, backoff_s=0.5, sleep=sleeps.append, progress=said.append
    )
    assert sleeps == [0.5, 1.0]
    # Progress says what is happening: each attempt, and each failure with the wait before the next.
    assert [m.split(" (")[0] for m in said if m.startswith("pulling")] == [
        f"pulling chart gpu-operator v26.7.0 from {url}"
    ] * 3
    assert (
        [m for m in said if "retrying in" in m]
        and "attempt 1 of 3 failed" in said[1]
        and "retrying in 0.5 s" in said[1]
    )
    assert got.is_file() and got.parent.parent == tmp_path / "cache"
    assert load_chart(got).app_version == "v26.7.0"
    before = len(handler.hits)
    assert pull_chart("v26.7.0", url, cache=tmp_path / "cache", sleep=sleeps.append) == got
    assert len(handler.hits) == before  # a chart version is immutable: served from the cache


def test_helm_pull_gives_up_with_a_clear_error(chart_repo, tmp_path, monkeypatch):
    url, handler = chart_repo
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "helm-cache"))
    monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "helm-config"))
    handler.failures = 100
    sleeps: list[float] = []
    with pytest.raises(ChartError) as e:
        pull_chart("v26.7.0", url, cache=tmp_path / "cache", attempts=3, backoff_s=0.01, sleep=sleeps.append)
    assert "after 3 attempts" in str(e.value) and url in str(e.value)
    assert len(sleeps) == 2
    assert not list((tmp_path / "cache").rglob("*.tgz"))


def test_locate_chart_pulls_from_the_spec_repository_into_the_cache(chart_repo, tmp_path, monkeypatch):
    url, _handler = chart_repo
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "helm-cache"))
    monkeypatch.setenv("HELM_CONFIG_HOME", str(tmp_path / "helm-config"))
    monkeypatch.delenv("GPUSLICE_OFFLINE", raising=False)
    monkeypatch.delenv("GPUSLICE_CHARTS_DIR", raising=False)
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(
        spec_text().replace(
            "operator: {chartVersion: v26.7.0}", f"operator: {{chartVersion: v26.7.0, chartRepository: '{url}'}}"
        )
    )
    r = api.load(spec)
    chart = locate_chart(r)
    assert chart.origin == f"helm pull {url}" and chart.app_version == "v26.7.0"
    again = locate_chart(r)
    assert again.origin.startswith("cache") and again.path == chart.path


def test_missing_helm_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GPUSLICE_HELM", "/nonexistent/helm")
    with pytest.raises(HelmError) as e:
        run_helm(["version"])
    assert "/nonexistent/helm" in str(e.value) and "not found" in str(e.value)


# --------------------------------------------------------------------------------------------------------
# plan: the files other parts rely on


def test_plan_on_the_example_writes_values_images_and_the_mirror_script(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUSLICE_OFFLINE", "1")  # the demo runs without NVIDIA's chart repository
    out = tmp_path / "out"
    r = cli("plan", EXAMPLES / "eks-ubuntu.yaml", "-d", out, "--mirror-tool", "skopeo", "--output", "json")
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert {"values.yaml", "images.txt", "images.json", "mirror.sh"} <= set(doc["files"])
    assert not [f for f in doc["findings"] if f["id"].startswith(("operator-", "registry-"))]
    values = yaml.safe_load((out / "values.yaml").read_text())
    assert values["operator"]["version"] == "v26.7.0"
    assert values["devicePlugin"]["config"]["create"] is False
    cm = yaml.safe_load((out / "device-plugin-config.yaml").read_text())
    assert cm["metadata"]["name"] == values["devicePlugin"]["config"]["name"]
    assert yaml.safe_load(cm["data"]["time-slicing-4"])["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 4
    mode = (out / "mirror.sh").stat().st_mode
    assert mode & stat.S_IXUSR and "skopeo inspect --raw" in (out / "mirror.sh").read_text()
    lines = (out / "images.txt").read_text().splitlines()
    assert (
        "nvcr.io/nvidia/driver:595.91.07-ubuntu22.04 -> artifactory.corp.example/docker-remote/nvcr.io/nvidia/"
        "driver:595.91.07-ubuntu22.04" in lines
    )
    assert len(json.loads((out / "images.json").read_text())["images"]) == len(lines)


def test_plan_without_write_hands_values_to_apply(tmp_path):
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text(chart_version="v25.3.4"))
    res = api.plan(
        spec, tmp_path / "unused", write=False, force=True, options=RenderOptions(chart=CHARTS / "chart-v25.3.4")
    )
    assert res.out_dir is None and not (tmp_path / "unused").exists()
    values = yaml.safe_load(str(res.rendered.files["values.yaml"]))
    assert values["validator"]["repository"] == f"{PROXY}/nvcr.io/nvidia/cloud-native"
    assert "mirror.sh" in res.rendered.executable


def test_plan_offline_without_chart_fails_clearly(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUSLICE_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GPUSLICE_CHARTS_DIR", raising=False)
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text())
    r = cli("plan", spec, "-d", tmp_path / "out", "--force")
    assert r.exit_code == 2 and not (tmp_path / "out").exists()
    assert "Provide the GPU Operator chart v26.7.0" in r.stderr and "--chart PATH" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_proof_and_generic_validation_import_without_the_values_renderer():
    """render.operator imports operator_proof; operator_proof and kubeschema must not import render.operator."""
    import subprocess
    import sys

    code = (
        "import sys, gpuslice.render.operator_proof, gpuslice.kubeschema; "
        "print('gpuslice.render.operator' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
