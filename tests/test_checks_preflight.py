"""Preflight review tests: driver image tags per chart version reach the inventory, the DNS rules agree with the
bootstrap gpuslice renders, the names rules' premises, and the text report's layout at 80 and 120 columns."""

from __future__ import annotations

import re

import pytest

from gpuslice.chart import load_chart
from gpuslice.checks import run_checks
from gpuslice.checks.report import report_lines
from gpuslice.findings import Severity
from gpuslice.images import build_inventory
from gpuslice.names import HELM_RELEASE_MAX
from gpuslice.render.bootstrap.common import RESOLVED_DROPIN, family, script
from gpuslice.render.bootstrap.ubuntu import write_files
from gpuslice.render.operator import operator_values
from gpuslice.resolve import resolve
from gpuslice.spec import parse_spec_text
from tests.helpers import CHARTS, FIXTURES

SPECS = FIXTURES / "specs"


def _spec(os_id: str, chart: str, *, extra: str = "", provider: str = "generic", dep: str = "demo-1") -> str:
    return (
        "apiVersion: gpuslice.dev/v1alpha1\n"
        f'cluster: {{name: demo, deploymentId: {dep}, provider: {provider}, kubernetesVersion: "1.33"}}\n'
        f"operator: {{chartVersion: {chart}}}\n"
        "nodePools:\n"
        f"  - name: gpu\n    instanceType: g5.2xlarge\n    os: {os_id}\n    disks: {{rootGiB: 100}}\n{extra}"
    )


@pytest.mark.parametrize(
    ("version", "os_id", "tags"),
    [
        ("v25.3.4", "rhel-9", ["rhel9.2", "rhel9.4", "rhel9.5", "rhel9.6"]),  # VERSION_ID verbatim: the minor decides
        ("v26.7.0", "rhel-9", ["rhel9"]),
        ("v26.7.0", "rocky-9", ["rocky9"]),
        ("v25.3.4", "ubuntu-24.04", ["ubuntu24.04"]),
        ("v26.7.0", "ubuntu-26.04", ["ubuntu26.04"]),
        ("v25.3.4", "ubuntu-26.04", []),
    ],
)
def test_the_driver_image_inventory_lists_only_published_tags(version, os_id, tags):
    r = resolve(parse_spec_text(_spec(os_id, version), "x.yaml"))
    pool = r.pools[0]
    assert list(pool.driver_image_tags) == tags
    assert pool.os.driver_os_tag == (tags[0] if len(tags) == 1 else None)
    chart = load_chart(CHARTS / f"chart-{version}")
    inv = build_inventory(r, chart, operator_values(r, chart))
    driver = [i.source for i in inv.images if re.search(r"/driver:\d", i.source)]
    published = set(r.chart.driver_os_tags)
    assert all(src.rsplit("-", 1)[1] in published for src in driver), driver
    if len(tags) == 1:
        assert driver == [f"nvcr.io/nvidia/driver:{r.chart.driver_version}-{tags[0]}"]
    else:  # no single tag: nothing guessed, and the inventory says why
        assert driver == [] and any("driver" in w for w in inv.warnings)


def test_an_os_without_a_driver_image_at_the_chart_version_is_an_error():
    ids = {f.id: f for f in run_checks(resolve(parse_spec_text(_spec("ubuntu-26.04", "v25.3.4"), "x.yaml")))}
    assert ids["driver-no-image"].severity is Severity.ERROR
    assert "ubuntu22.04" in ids["driver-no-image"].message
    ok = run_checks(resolve(parse_spec_text(_spec("ubuntu-26.04", "v26.7.0"), "x.yaml")))
    assert "driver-no-image" not in {f.id for f in ok}
    rhel = run_checks(resolve(parse_spec_text(_spec("rhel-9", "v25.3.4"), "x.yaml")))
    assert "driver-no-image" not in {f.id for f in rhel}


def test_host_network_dns_bootstrap_turns_the_stub_off_as_the_dns_rules_assume():
    """dns.py reasons from what the Ubuntu bootstrap does with hostNetworkDns; if the bootstrap changes, this fails."""
    extra = "    hostNetworkDns: true\n    kubeletResolvConf: /etc/resolv.conf\n"
    r = resolve(parse_spec_text(_spec("ubuntu-22.04", "v26.7.0", extra=extra, provider="eks"), "x.yaml"))
    pool = r.pools[0]
    files = {e["path"]: e for e in write_files(r, pool, family(pool), None)}
    assert "DNSStubListener=no" in files[RESOLVED_DROPIN]["content"]
    assert 'ln -sfn /run/systemd/resolve/resolv.conf "$ROOT/etc/resolv.conf"' in script("node-setup.sh")
    env = files["/etc/gpuslice/node.env"]["content"]
    assert "--resolv-conf=/etc/resolv.conf" in env and "GPUSLICE_HOST_NETWORK_DNS=1" in env
    found = {f.id: f for f in run_checks(r)}
    assert "dns-kubelet-stub-resolver" not in found
    assert found["dns-hostnetwork-port53"].severity is Severity.INFO
    # Without hostNetworkDns the stub stays, and /etc/resolv.conf is the stub file.
    plain = resolve(
        parse_spec_text(
            _spec("ubuntu-22.04", "v26.7.0", provider="eks", extra="    kubeletResolvConf: /etc/resolv.conf/\n"),
            "x.yaml",
        )
    )
    assert RESOLVED_DROPIN not in {e["path"] for e in write_files(plain, plain.pools[0], family(plain.pools[0]), None)}
    assert "dns-kubelet-stub-resolver" in {f.id for f in run_checks(plain)}


def test_release_names_cannot_exceed_helms_limit():
    """Why there is no release-name rule: the spec refuses a long releaseName and the derived name fits."""
    from gpuslice.errors import SpecError

    long = "a" * (HELM_RELEASE_MAX + 1)
    with pytest.raises(SpecError, match="releaseName"):
        parse_spec_text(
            _spec("ubuntu-22.04", "v26.7.0").replace(
                "chartVersion: v26.7.0", f"chartVersion: v26.7.0, releaseName: {long}"
            )
        )
    r = resolve(parse_spec_text(_spec("ubuntu-22.04", "v26.7.0", dep="d" * 63), "x.yaml"))
    assert len(r.release_name) <= HELM_RELEASE_MAX


@pytest.mark.parametrize("width", [80, 120])
def test_check_report_wraps_at_spaces_and_keeps_ids_paths_and_urls_whole(cli, monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    path = SPECS / "names-eksctl-stack-too-long" / "long-cluster-and-pool-FAILED.yaml"
    r = cli("check", path)
    assert r.exit_code == 0, r.stdout
    lines = r.stdout.splitlines()
    words = r.stdout.split()
    for whole in (
        "names-eksctl-stack-too-long",
        "disk-instance-store-unused",
        f"{path}:6",
        "nodePools[0].name",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html",
    ):
        assert whole in words, whole
    # Only a single word longer than the line may overflow it.
    assert all(len(ln) <= width or " " not in ln.strip() for ln in lines), [ln for ln in lines if len(ln) > width]
    assert "0 error(s), 1 warning(s), 1 info" in r.stdout


def test_report_lines_group_by_pool_in_spec_order():
    r = resolve(
        parse_spec_text(
            _spec("ubuntu-22.04", "v26.7.0", provider="eks", extra="    kubeletResolvConf: /etc/resolv.conf\n")
            + "  - name: other\n    instanceType: p3.2xlarge\n    os: al2023-nvidia\n    disks: {instanceStore: raid0}\n",
            "x.yaml",
        )
    )
    lines = report_lines(run_checks(r), r, width=80)
    titles = [ln for ln in lines if ln.startswith("[bold]")]  # group titles; finding lines are indented
    assert [t.split(" (")[0] for t in titles] == ["[bold]cluster-wide[/]", "[bold]pool gpu", "[bold]pool other"]
    # errors before info within a pool (severity words without their markup)
    gpu = lines[lines.index(titles[1]) : lines.index(titles[2])]
    sev = [re.sub(r"\[/?[^\]]*\]", "", ln).split()[0] for ln in gpu if ln.startswith("  [")]
    assert sev == ["ERROR", "INFO"]
    assert any(ln.startswith("4 error(s), 0 warning(s), 1 info") for ln in lines[-3:])


def test_kubernetes_range_holds_for_every_pool_os():
    """v26.7.0 validates Ubuntu 24.04 from 1.32 but other OSes from 1.33: a 22.04 pool next to a 24.04 pool on 1.32
    is outside its range (the 24.04 row must not widen it)."""
    two = _spec("ubuntu-24.04", "v26.7.0").replace('"1.33"', '"1.32"') + (
        "  - name: jammy\n    instanceType: g5.2xlarge\n    os: ubuntu-22.04\n    disks: {rootGiB: 100}\n"
    )
    found = {f.id: f for f in run_checks(resolve(parse_spec_text(two, "x.yaml")))}
    assert "1.33 to 1.36" in found["k8s-version-unsupported"].message
    noble = _spec("ubuntu-24.04", "v26.7.0").replace('"1.33"', '"1.32"')
    assert "k8s-version-unsupported" not in {f.id for f in run_checks(resolve(parse_spec_text(noble, "x.yaml")))}


def test_a_located_finding_is_the_same_finding_at_its_line(tmp_path):
    """Findings that name a spec path get the spec's file and line; everything else stays, credentials still
    masked."""
    from gpuslice.findings import Finding, Severity

    f = Finding(
        id="x-test",
        severity=Severity.WARNING,
        message="kubeconfig token: abc123secretvalue is exposed",
        fix="fix it",
        pool="gpu",
        evidence=("password=hunter2hunter2",),
        path="nodePools[0].disks.rootGiB",
    )
    located = f.at("gpuslice.yaml", 12)
    assert (located.file, located.line) == ("gpuslice.yaml", 12) and (f.file, f.line) == (None, None)
    assert {k: v for k, v in vars(located).items() if k not in ("file", "line")} == {
        k: v for k, v in vars(f).items() if k not in ("file", "line")
    }
    assert "abc123secretvalue" not in located.message and "hunter2" not in located.evidence[0]
    from gpuslice import api

    spec = tmp_path / "x.yaml"
    spec.write_text(_spec("ubuntu-22.04", "v26.7.0", provider="eks"), encoding="utf-8")
    spec_findings = [g for g in api.check(spec) if g.path and g.path.startswith("nodePools")]
    assert spec_findings and all(g.file == str(spec) and g.line for g in spec_findings)
