"""Image references: parsing, generic discovery in chart values, mirror rewrite, pull secrets, inventory,
mirror script, the registry preflight checks and the `images` verb. No helm here (see test_chart_render)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gpuslice.chart import load_chart
from gpuslice.checks import registry as registry_check
from gpuslice.images import (
    build_inventory,
    diff_values,
    discover_images,
    driver_os_tags,
    find_slots,
    images_text,
    is_full_reference,
    mirror_for,
    mirror_script,
    parse_image,
    release_version,
    rewrite_values,
    set_pull_secrets,
)
from gpuslice.render.operator import image_inventory, operator_values
from gpuslice.resolve import resolve
from gpuslice.spec import parse_spec_text
from tests.helpers import CHARTS

V26, V25 = CHARTS / "chart-v26.7.0", CHARTS / "chart-v25.3.4"
PROXY = "artifactory.corp.example/docker-remote"


def spec_text(*, chart_version: str = "v26.7.0", registry: str | None = None, pools: str | None = None) -> str:
    registry = registry if registry is not None else f"registry:\n  proxy: {PROXY}\n  pullSecrets: [corp-registry]\n"
    pools = (
        pools
        or """\
  - name: a10g
    instanceType: g5.2xlarge
    os: ubuntu-22.04
    taints:
      - {key: nvidia.com/gpu, value: "true", effect: NoSchedule}
      - {key: dedicated, value: ml, effect: NoExecute}
    sharing: {strategy: time-slicing, replicas: 4}
  - name: h100
    instanceType: p5.48xlarge
    os: al2023-nvidia
  - name: l4
    instanceType: g6.xlarge
    os: ubuntu-24.04
    sharing: {strategy: mps, replicas: 2}
"""
    )
    return f"""\
apiVersion: gpuslice.dev/v1alpha1
kind: GpuCluster
cluster: {{name: ml, deploymentId: ml-prod, kubernetesVersion: "1.33"}}
operator: {{chartVersion: {chart_version}}}
{registry}nodePools:
{pools}"""


def resolved_for(text: str, file: str | None = None):
    return resolve(parse_spec_text(text, "gpuslice.yaml"), file=file)


@pytest.fixture(scope="module")
def chart26():
    return load_chart(V26)


@pytest.fixture(scope="module")
def chart25():
    return load_chart(V25)


# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expect"),
    [
        ("nvcr.io/nvidia/driver:595.91.07", ("nvcr.io", "nvidia/driver", "595.91.07", None)),
        ("busybox", ("docker.io", "library/busybox", None, None)),
        ("localhost:5000/a/b@sha256:" + "a" * 64, ("localhost:5000", "a/b", None, "sha256:" + "a" * 64)),
        (
            "registry.k8s.io/nfd/node-feature-discovery:v0.19.0",
            ("registry.k8s.io", "nfd/node-feature-discovery", "v0.19.0", None),
        ),
    ],
)
def test_parse_image(ref, expect):
    img = parse_image(ref)
    assert (img.registry, img.path, img.tag, img.digest) == expect
    assert parse_image(str(img)) == img


@pytest.mark.parametrize(
    ("value", "is_ref"),
    [
        ("nvcr.io/nvidia/driver:595.91.07-ubuntu22.04", True),
        ("mirror.corp.example:5000/proxy/nvcr.io/nvidia/gpu-operator:v26.7.0", True),
        ("ghcr.io/org/tool@sha256:" + "0" * 64, True),
        ("nvidia.com/gpu", False),  # a resource name, no tag
        ("https://helm.ngc.nvidia.com/nvidia", False),
        ("/run/nvidia/driver", False),
        ("busybox:1.36", False),  # no registry host: only accepted under an `image` key
        ("node-role.kubernetes.io/control-plane", False),
        ("feature.node.kubernetes.io/pci-10de.present", False),
        ("25%", False),
    ],
)
def test_is_full_reference(value, is_ref):
    assert is_full_reference(value) is is_ref


def test_discovery_finds_both_layouts_without_a_key_list(chart26, chart25):
    s26 = {s.where: s for s in discover_images(chart26, app_version="v26.7.0")}
    s25 = {s.where: s for s in discover_images(chart25, app_version="v25.3.4")}
    # The validator moved between the two charts; discovery follows the values, not a list.
    assert s26["validator"].source == "nvcr.io/nvidia/gpu-operator:v26.7.0"
    assert s25["validator"].source == "nvcr.io/nvidia/cloud-native/gpu-operator-validator:v25.3.4"
    # Tags the chart leaves to .Chart.AppVersion ("main-latest" in git) get the chart version, explicitly.
    for where in ("operator", "validator", "nodeStatusExporter"):
        assert s26[where].pinned_tag == "v26.7.0" and s25[where].pinned_tag == "v25.3.4"
    assert s26["driver"].pinned_tag is None and s26["driver"].source == "nvcr.io/nvidia/driver:595.91.07"
    # NFD: repository includes the image name, tag defaults to the subchart's appVersion.
    nfd = s26["node-feature-discovery.image"]
    assert (nfd.shape, nfd.source, nfd.pinned_tag) == (
        "repo-tag",
        "registry.k8s.io/nfd/node-feature-discovery:v0.19.0",
        "v0.19.0",
    )
    assert s25["node-feature-discovery.image"].source.endswith(":v0.17.3")
    # Only in v25.3.4: the operator's init container and kata artifacts (whole references inside a list).
    assert "operator.initContainer" in s25 and "operator.initContainer" not in s26
    assert s25["kataManager.config.runtimeClasses[0].artifacts.url"].shape == "ref"
    # vgpuManager has no repository/version (user-built): not an image to mirror.
    assert "vgpuManager" not in s26


@pytest.mark.parametrize("path", [V26, V25])
def test_every_repository_in_the_values_is_a_slot(path):
    """A generic cross-check: each mapping with a non-empty `repository` is covered by discovery."""
    chart = load_chart(path)
    values = chart.effective_values()
    slots = {s.path for s in discover_images(chart)}
    owners = []

    def walk(node, p):
        if isinstance(node, dict):
            if isinstance(node.get("repository"), str) and node["repository"]:
                owners.append(p)
            for k, v in node.items():
                walk(v, (*p, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*p, i))

    walk(values, ())
    assert owners and set(owners) <= slots


def test_discovery_on_other_layouts(tmp_path):
    digest = "sha256:" + "ab" * 32
    (tmp_path / "Chart.yaml").write_text('apiVersion: v2\nname: demo\nversion: 1.0.0\nappVersion: "2.4.1"\n')
    (tmp_path / "values.yaml").write_text(
        yaml.safe_dump(
            {
                "app": {"image": {"registry": "docker.io", "repository": "bitnami/nginx", "tag": ""}},
                "pinned": {"repository": "nvcr.io/nvidia", "image": "driver", "version": digest},
                "verbatim": {"repository": "", "image": f"quay.io/org/tool@{digest}", "version": ""},
                "sidecars": [{"name": "x", "image": "busybox:1.36"}, {"image": "ghcr.io/org/agent:v3"}],
                "notImages": {
                    "url": "https://example.com/a:b",
                    "resource": "nvidia.com/gpu",
                    "path": "/usr/local/nvidia",
                },
            }
        )
    )
    got = {s.where: (s.shape, s.source) for s in discover_images(load_chart(tmp_path))}
    assert got == {
        "app.image": ("repo-tag", "docker.io/bitnami/nginx:2.4.1"),
        "pinned": ("triple", f"nvcr.io/nvidia/driver@{digest}"),
        "verbatim.image": ("ref", f"quay.io/org/tool@{digest}"),
        "sidecars[0].image": ("ref", "busybox:1.36"),
        "sidecars[1].image": ("ref", "ghcr.io/org/agent:v3"),
    }


# --------------------------------------------------------------------------------------------------------


def test_rewrite_with_rules_renaming_the_image_and_reporting_uncovered(chart26):
    r = resolved_for(
        spec_text(
            registry="""\
registry:
  mirrors:
    - {source: nvcr.io/nvidia, mirror: registry.corp.example/nv}
    - {source: nvcr.io/nvidia/gpu-operator, mirror: registry.corp.example/ops/operator-image}
"""
        )
    )
    values = chart26.effective_values()
    slots = discover_images(chart26, values, app_version="v26.7.0")
    unmapped = rewrite_values(values, slots, r)
    # The longest source prefix wins, and a rule may rename the image itself.
    assert values["operator"]["repository"] == "registry.corp.example/ops"
    assert values["operator"]["image"] == "operator-image" and values["operator"]["version"] == "v26.7.0"
    assert values["driver"]["repository"] == "registry.corp.example/nv" and values["driver"]["image"] == "driver"
    assert values["driver"]["manager"]["repository"] == "registry.corp.example/nv/cloud-native"
    # NFD lives on registry.k8s.io, which no rule covers: reported, left as is.
    assert [s.where for s in unmapped] == ["node-feature-discovery.image"]
    assert values["node-feature-discovery"]["image"]["repository"] == "registry.k8s.io/nfd/node-feature-discovery"


def test_rewrite_without_mirror_only_pins_versions(chart25):
    r = resolved_for(spec_text(chart_version="v25.3.4", registry=""))
    values = chart25.effective_values()
    assert rewrite_values(values, discover_images(chart25, values, app_version="v25.3.4"), r) == []
    assert values["operator"]["repository"] == "nvcr.io/nvidia" and values["operator"]["version"] == "v25.3.4"
    assert values["node-feature-discovery"]["image"]["tag"] == "v0.17.3"


def test_pull_secret_shape_follows_each_chart(chart26):
    values = chart26.effective_values()
    values["dcgm"]["imagePullSecrets"] = ["already-there"]
    set_pull_secrets(values, chart26, ("corp-registry",))
    assert values["operator"]["imagePullSecrets"] == ["corp-registry"]
    # dcgm/dcgmExporter have no imagePullSecrets key in the chart's values: they are image owners, so they get it.
    assert values["dcgm"]["imagePullSecrets"] == ["already-there", "corp-registry"]
    assert values["dcgmExporter"]["imagePullSecrets"] == ["corp-registry"]
    # The NFD subchart puts the list into a PodSpec: LocalObjectReference objects. Helm's `global` is left alone.
    assert values["node-feature-discovery"]["imagePullSecrets"] == [{"name": "corp-registry"}]
    assert values["node-feature-discovery"]["global"]["imagePullSecrets"] == []


def test_diff_values_is_a_minimal_helm_override():
    base = {"a": {"b": 1, "c": [1, 2], "d": "x"}, "e": 5}
    new = {"a": {"b": 1, "c": [1, 2, 3], "d": "y"}, "e": 5, "f": {"g": True}}
    assert diff_values(base, new) == {"a": {"c": [1, 2, 3], "d": "y"}, "f": {"g": True}}


# --------------------------------------------------------------------------------------------------------


def test_inventory_lists_driver_tags_per_pool_os(chart26):
    r = resolved_for(spec_text())
    inv = image_inventory(r, chart26)
    by_source = {i.source: i for i in inv.images}
    assert "nvcr.io/nvidia/driver:595.91.07-ubuntu22.04" in by_source
    assert "nvcr.io/nvidia/driver:595.91.07-ubuntu24.04" in by_source
    # AL2023 keeps its pre-installed driver (node label), so no amzn2023 tag; the bare tag is never pulled.
    assert not any("amzn2023" in s or s.endswith(":595.91.07") for s in by_source)
    assert "(pools: a10g)" in " ".join(by_source["nvcr.io/nvidia/driver:595.91.07-ubuntu22.04"].used_by)
    for src, img in by_source.items():
        assert img.mirror == f"{PROXY}/{src}"
    # Disabled components are not pulled: dcgm, gds, gdrcopy, nodeStatusExporter (which adds no other image).
    assert not any("/dcgm:" in s or "nvidia-fs" in s or "gdrdrv" in s for s in by_source)
    assert "registry.k8s.io/nfd/node-feature-discovery:v0.19.0" in by_source
    assert set(by_source["nvcr.io/nvidia/gpu-operator:v26.7.0"].used_by) == {"operator", "validator"}
    assert inv.warnings == () and inv.unmapped == []
    assert images_text(inv).count(" -> ") == len(inv.images)


def test_inventory_without_operator_driver(chart26):
    r = resolved_for(spec_text(pools="  - {name: h100, instanceType: p5.48xlarge, os: al2023-nvidia}\n"))
    assert r.driver_enabled is False
    sources = image_inventory(r, chart26).sources()
    assert not any("/driver:" in s for s in sources)
    assert not any("container-toolkit" in s for s in sources)
    # The driver manager runs inside driver pods only; it is also vfioManager's image, which runs only for
    # sandbox workloads: so it is not pulled at all.
    inv = image_inventory(r, chart26)
    used = {u for i in inv.images for u in i.used_by}
    assert "driver.manager" not in used and "vfioManager" not in used
    assert any("k8s-driver-manager" in i.source for i in inv.not_run)


def test_inventory_warns_when_a_pool_os_has_no_driver_tag(chart26):
    from gpuslice.catalog import load_catalog

    cat = load_catalog()
    trimmed = cat.model_copy(update={"os_families": {k: v for k, v in cat.os_families.items() if k != "ubuntu-24.04"}})
    r = resolve(parse_spec_text(spec_text(), "x.yaml"), catalog=trimmed)
    tags, unknown = driver_os_tags(r)
    assert tags == {"ubuntu22.04": ["a10g"]} and unknown == ["l4"]
    inv = build_inventory(r, chart26, operator_values(r, chart26))
    assert any("l4" in w and "driver" in w for w in inv.warnings)


ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ECR_MIRRORS = f"registry:\n  mirrors:\n    - {{source: nvcr.io, mirror: {ECR}/nvcr}}\n    - {{source: registry.k8s.io, mirror: {ECR}/k8s}}\n"


def _shellcheck(path: Path) -> None:
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    if shutil.which("shellcheck"):
        sc = subprocess.run(["shellcheck", "-S", "warning", str(path)], capture_output=True, text=True)
        assert sc.returncode == 0, sc.stdout


def test_mirror_script_crane_and_skopeo(chart26, tmp_path):
    for registry in (None, ECR_MIRRORS, f"registry:\n  proxy: {PROXY}\n" + ECR_MIRRORS.split("\n", 1)[1]):
        inv = image_inventory(resolved_for(spec_text(registry=registry)), chart26)
        for tool in ("crane", "skopeo"):
            p = tmp_path / f"{tool}.sh"
            p.write_text(mirror_script(inv, tool, title="ml-prod"))
            _shellcheck(p)
    with pytest.raises(ValueError):
        mirror_script(inv, "docker")
    none = image_inventory(resolved_for(spec_text(registry="")), chart26)
    assert "nothing to copy" in mirror_script(none) and "crane copy" not in mirror_script(none)


def _stand_ins(tmp_path: Path, *, fail_on: str = "", aws_missing: tuple[str, ...] = ()) -> tuple[dict[str, str], Path]:
    """Stand-ins for `crane`, `skopeo` and `aws` on PATH that record their arguments (and fail where told)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / "calls.txt"
    for tool in ("crane", "skopeo"):
        fake = bindir / tool
        fake.write_text(
            f'#!/usr/bin/env bash\necho "{tool} $*" >> {log}\n'
            + (f'case "$*" in *{fail_on}*) echo "denied" >&2; exit 1;; esac\n' if fail_on else "")
        )
        fake.chmod(0o755)
    aws = bindir / "aws"
    missing = " ".join(aws_missing)
    aws.write_text(
        f'#!/usr/bin/env bash\necho "aws $*" >> {log}\n'
        f'if [ "$2" = describe-repositories ]; then for m in {missing or "-"}; do [ "$6" = "$m" ] && exit 254; done; fi\nexit 0\n'
    )
    aws.chmod(0o755)
    return {"PATH": f"{bindir}:/usr/bin:/bin"}, log


def _run(script_text: str, tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "mirror.sh"
    script.write_text(script_text)
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("tool", ["crane", "skopeo"])
def test_mirror_script_warms_a_pull_through_proxy_and_never_pushes(chart26, tmp_path, tool):
    """The reported case: with registry.proxy, mirror.sh pushed into the read-only cache and failed at once."""
    inv = image_inventory(resolved_for(spec_text()), chart26)
    env, log = _stand_ins(tmp_path)
    res = _run(mirror_script(inv, tool), tmp_path, env)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    if tool == "crane":
        assert calls == [f"crane digest {i.mirror}" for i in inv.images]
    else:
        assert calls == [f"skopeo inspect --raw docker://{i.mirror}" for i in inv.images]
    assert not any(" copy " in c for c in calls) and all(i.pull_through for i in inv.images)
    assert f"{len(inv.images)} image(s) warmed through the proxy, 0 copied" in res.stdout
    log.unlink()
    res = _run(mirror_script(inv, "crane"), tmp_path, env, "--layers")
    assert res.returncode == 0, res.stderr
    assert log.read_text().splitlines() == [
        f"crane pull --platform linux/amd64 {i.mirror} /dev/null" for i in inv.images
    ]


def test_mirror_script_goes_on_after_a_failure_and_names_it(chart26, tmp_path):
    inv = image_inventory(resolved_for(spec_text()), chart26)
    env, log = _stand_ins(tmp_path, fail_on="k8s-device-plugin")
    res = _run(mirror_script(inv, "crane"), tmp_path, env)
    assert res.returncode == 1
    assert len(log.read_text().splitlines()) == len(inv.images)  # every image was tried
    assert "1 of" in res.stderr and "k8s-device-plugin" in res.stderr


def test_mirror_script_copies_into_ecr_and_needs_the_repositories(chart26, tmp_path):
    inv = image_inventory(resolved_for(spec_text(registry=ECR_MIRRORS)), chart26)
    repos = sorted({parse_image(i.mirror).path for i in inv.images if i.mirror})
    text = mirror_script(inv, "crane")
    assert "ECR" in text and "--create-ecr-repos" in text
    # Every repository exists: plain copies of every platform.
    env, log = _stand_ins(tmp_path)
    res = _run(text, tmp_path, env)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    assert [c for c in calls if c.startswith("crane")] == [f"crane copy {i.source} {i.mirror}" for i in inv.images]
    assert [c.split()[-1] for c in calls if "describe-repositories" in c] == repos
    # One is missing: the script says so, names the command that creates it, and exits 1; asked, it creates it.
    missing = "nvcr/nvidia/gpu-operator"
    log.unlink()
    env, log = _stand_ins(tmp_path, aws_missing=(missing,))
    res = _run(text, tmp_path, env)
    assert res.returncode == 1 and f"ECR repository {missing} (us-east-1) does not exist" in res.stderr
    assert "--create-ecr-repos" in res.stderr
    log.unlink()
    res = _run(text, tmp_path, env, "--create-ecr-repos")
    assert res.returncode == 0, res.stderr
    assert f"aws ecr create-repository --region us-east-1 --repository-name {missing}" in log.read_text()


def test_inventory_lists_only_what_the_release_runs(chart26):
    """Issue: sandbox/KubeVirt, vGPU and confidential-computing images, the MIG manager without MIG GPUs and the
    driver manager without an operator driver were listed, so users mirrored them for nothing."""
    al2023 = resolved_for(spec_text(pools="  - {name: l4, instanceType: g6.xlarge, os: al2023-nvidia}\n"))
    inv = image_inventory(al2023, chart26)
    runs = " ".join(inv.sources())
    for name in ("cc-manager", "kubevirt-gpu-device-plugin", "sandbox-device-plugin", "vgpu-device-manager",
                 "k8s-driver-manager", "k8s-mig-manager", "dra-driver"):  # fmt: skip
        assert name not in runs, name
    left_out = {i.source.split("/")[-1].split(":")[0]: i.not_run for i in inv.not_run}
    assert "sandboxWorkloads.enabled" in left_out["k8s-cc-manager"]
    assert "MIG-capable" in left_out["k8s-mig-manager"]
    assert "gpuCluster.deployCR" in left_out["dra-driver-nvidia-gpu"]
    assert inv.to_dict()["notRun"] and all(i["notRunBecause"] for i in inv.to_dict()["notRun"])
    # A MIG-capable pool (H100) brings the MIG manager back; the all-images view lists everything.
    assert any("k8s-mig-manager" in s for s in image_inventory(resolved_for(spec_text()), chart26).sources())
    assert inv.with_all_images().sources() == inv.sources() | {i.source for i in inv.not_run}


def test_inventory_follows_sandbox_workloads_and_the_dra_flag(chart26):
    r = resolved_for(spec_text())
    values = operator_values(r, chart26)
    values["sandboxWorkloads"] = {"enabled": True}
    values["gpuCluster"] = {"deployCR": True}
    runs = build_inventory(r, chart26, values).sources()
    for name in ("k8s-cc-manager", "kubevirt-gpu-device-plugin", "vgpu-device-manager", "dra-driver-nvidia-gpu"):
        assert any(name in s for s in runs), name


# --------------------------------------------------------------------------------------------------------


def test_registry_check_rules():
    ids = lambda text: {f.id: f for f in registry_check.check(resolved_for(text))}  # noqa: E731
    assert ids(spec_text()) == {}
    assert ids(spec_text(registry="")) == {}
    only_nvcr = ids(spec_text(registry="registry:\n  mirrors: [{source: nvcr.io, mirror: reg.corp.example/nvcr}]\n"))
    assert set(only_nvcr) == {"registry-source-not-covered", "registry-no-pull-secret"}
    assert only_nvcr["registry-source-not-covered"].severity.value == "error"
    assert only_nvcr["registry-source-not-covered"].evidence == ("registry.k8s.io/nfd",)
    assert only_nvcr["registry-no-pull-secret"].severity.value == "warning"
    both = ids(
        spec_text(
            registry="registry:\n  pullSecrets: [s]\n  mirrors:\n"
            "    - {source: nvcr.io, mirror: reg.corp.example/nvcr}\n"
            "    - {source: registry.k8s.io, mirror: reg.corp.example/k8s}\n"
        )
    )
    assert both == {}
    # ECR mirrors on EKS: nodes pull with their instance role, so no pull secret is expected.
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    ecr_only = ids(
        spec_text(
            registry=f"registry:\n  mirrors:\n    - {{source: nvcr.io, mirror: {ecr}/nvcr}}\n"
            f"    - {{source: registry.k8s.io, mirror: {ecr}/k8s}}\n"
        )
    )
    assert ecr_only == {}


def test_find_slots_in_a_rendered_custom_resource():
    spec = {
        "driver": {
            "enabled": True,
            "repository": "m/nvcr.io/nvidia",
            "image": "driver",
            "version": "1",
            "manager": {
                "repository": "m/nvcr.io/nvidia/cloud-native",
                "image": "k8s-driver-manager",
                "version": "v0.12.0",
            },
        },
        "daemonsets": {"labels": {"helm.sh/chart": "gpu-operator-v1.0.0-devel"}},
    }
    got = [(s.where, s.source) for s in find_slots(spec, ("spec",))]
    assert got == [
        ("spec.driver", "m/nvcr.io/nvidia/driver:1"),
        ("spec.driver.manager", "m/nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.12.0"),
    ]


def test_release_version_prefers_a_real_app_version(chart26, tmp_path):
    assert release_version(chart26, "v26.7.0") == "v26.7.0"  # appVersion main-latest is a placeholder
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: gpu-operator\nversion: v26.3.3\nappVersion: v26.3.3\n")
    assert release_version(load_chart(tmp_path), "v26.7.0") == "v26.3.3"


def test_mirror_for_keeps_refs_already_in_the_mirror():
    r = resolved_for(spec_text())
    ref = f"{PROXY}/nvcr.io/nvidia/driver:1"
    assert mirror_for(ref, r) == ref


# --------------------------------------------------------------------------------------------------------
# The `images` verb


def test_images_verb_list_json_and_script(cli, tmp_path):
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text())
    r = cli("images", spec, "--chart", V26)
    assert r.exit_code == 0, r.stderr
    assert (
        f"nvcr.io/nvidia/driver:595.91.07-ubuntu22.04 -> {PROXY}/nvcr.io/nvidia/driver:595.91.07-ubuntu22.04"
        in r.stdout.splitlines()
    )
    j = cli("images", spec, "--chart", V26, "--output", "json")
    doc = json.loads(j.stdout)
    assert doc["mirrorConfigured"] is True and doc["chartVersion"] == "v26.7.0"
    assert {i["source"] for i in doc["images"]} >= {"registry.k8s.io/nfd/node-feature-discovery:v0.19.0"}
    assert not any("k8s-cc-manager" in i["source"] for i in doc["images"])
    assert any("k8s-cc-manager" in i["source"] for i in doc["notRun"])
    s = cli("images", spec, "--chart", V26, "--format", "mirror-script", "--mirror-tool", "skopeo")
    assert s.stdout.startswith("#!/usr/bin/env bash") and f"warm {PROXY}/nvcr.io/" in s.stdout
    assert "--all-images" in r.stderr and "k8s-cc-manager" not in r.stdout
    a = cli("images", spec, "--chart", V26, "--all-images")
    assert a.exit_code == 0 and "k8s-cc-manager" in a.stdout and "--all-images" not in a.stderr


def test_images_mirror_script_with_output_json_carries_the_script(cli, tmp_path):
    """--format mirror-script -o json used to drop the script silently: the document now carries its text, the
    same bytes the text form prints, next to the inventory; -o yaml is the same document."""
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text())
    args = ("images", spec, "--chart", V26, "--format", "mirror-script", "--mirror-tool", "skopeo")
    plain = cli(*args)
    j = cli(*args, "-o", "json")
    assert j.exit_code == 0, j.stderr
    doc = json.loads(j.stdout)
    assert doc["mirrorScript"] == {"tool": "skopeo", "text": plain.stdout}
    assert doc["mirrorScript"]["text"].startswith("#!/usr/bin/env bash") and "skopeo" in doc["mirrorScript"]["text"]
    assert doc["images"] == json.loads(cli("images", spec, "--chart", V26, "-o", "json").stdout)["images"]
    assert "mirrorScript" not in json.loads(cli("images", spec, "--chart", V26, "-o", "json").stdout)
    import yaml

    assert yaml.safe_load(cli(*args, "-o", "yaml").stdout) == doc


def test_images_verb_exit_1_when_a_registry_is_not_covered(cli, tmp_path):
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text(registry="registry:\n  mirrors: [{source: nvcr.io, mirror: reg.corp.example/nvcr}]\n"))
    r = cli("images", spec, "--chart", V25)
    assert r.exit_code == 1
    assert "no registry mirror rule covers registry.k8s.io/nfd/node-feature-discovery:v0.17.3" in r.stderr
    assert "(NO MIRROR RULE)" in r.stdout


def test_images_verb_without_a_chart_offline_says_how_to_provide_one(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUSLICE_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GPUSLICE_CHARTS_DIR", raising=False)
    spec = tmp_path / "gpuslice.yaml"
    spec.write_text(spec_text())
    r = cli("images", spec)
    assert r.exit_code == 2
    assert "--chart PATH" in r.stderr and "helm pull gpu-operator" in r.stderr and "Traceback" not in r.stderr


def test_chart_found_next_to_the_spec_and_via_env(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("GPUSLICE_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "a" / "charts").mkdir(parents=True)
    shutil.copytree(V25, tmp_path / "a" / "charts" / "gpu-operator-v25.3.4")
    spec = tmp_path / "a" / "gpuslice.yaml"
    spec.write_text(spec_text(chart_version="v25.3.4"))
    assert cli("images", spec).exit_code == 0
    other = tmp_path / "b" / "gpuslice.yaml"
    other.parent.mkdir()
    other.write_text(spec_text(chart_version="v25.3.4"))
    assert cli("images", other).exit_code == 2
    monkeypatch.setenv("GPUSLICE_CHARTS_DIR", str(tmp_path / "a" / "charts"))
    r = cli("images", other)
    assert r.exit_code == 0 and "gpu-operator-validator:v25.3.4" in r.stdout


def test_spec_relative_chart_field(cli, tmp_path):
    spec = tmp_path / "s" / "gpuslice.yaml"
    spec.parent.mkdir()
    spec.write_text(
        spec_text().replace(
            "operator: {chartVersion: v26.7.0}",
            f"operator: {{chartVersion: v26.7.0, chart: {Path('..') / 'vendored'}}}",
        )
    )
    r = cli("images", spec)
    assert r.exit_code == 2 and "operator.chart" in r.stderr and "not found" in r.stderr
    shutil.copytree(V26, tmp_path / "vendored")
    assert cli("images", spec).exit_code == 0
