"""A release left locked by a killed helm is recovered by the next apply — proven with the real helm binary and
its real release records (the Secret storage driver: base64(gzip(json)) in Secrets labelled owner=helm) on the
fake API server.

The stale locks are made the way users get them: a real ``helm upgrade --install --wait`` is SIGKILLed while it
waits, which leaves its revision ``pending-install``/``pending-upgrade`` for good.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuslice.cluster.apply import ApplyError, ApplyOptions, apply_release, prepare
from gpuslice.cluster.helmops import MANAGED_LABEL, ChartRef, Helm, StaleLock
from gpuslice.cluster.kube import KubeClient
from gpuslice.cluster.retry import Retrier, RetriesExhausted, RetryPolicy
from gpuslice.helm import find_helm, run_helm
from tests import k8sfixtures as kf
from tests.fakeapi import FakeKube
from tests.test_apply import fresh_cluster

NS = "gpu-operator"
POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, total_timeout=60.0)


def tiny_chart(root: Path, version: str = "0.1.0") -> ChartRef:
    """A chart with one Deployment: on the fake API it never becomes ready, so `--wait` waits until killed."""
    d = root / f"tiny-{version}"
    (d / "templates").mkdir(parents=True, exist_ok=True)
    (d / "Chart.yaml").write_text(f"apiVersion: v2\nname: tiny\nversion: {version}\n", encoding="utf-8")
    (d / "values.yaml").write_text("replicas: 1\n", encoding="utf-8")
    (d / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '{{ .Release.Name }}-tiny'}\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: tiny}}\n"
        "  template:\n    metadata: {labels: {app: tiny}}\n    spec: {containers: [{name: c, image: busybox}]}\n",
        encoding="utf-8",
    )
    return ChartRef(name="tiny", version=version, path=str(d))


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.api = FakeKube(fresh_cluster()).__enter__()
        self.kubeconfig = str(self.api.kubeconfig(tmp_path))
        self.binary = find_helm()
        self.chart = tiny_chart(tmp_path)
        self.retrier = Retrier(policy=POLICY, sleep=lambda _s: None, rng=random.Random(3))
        self.helm = Helm(helm=self.binary, kubeconfig=self.kubeconfig, retrier=self.retrier)

    def helm_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "--kubeconfig", self.kubeconfig, "--namespace", NS, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def records(self, name: str) -> list[dict]:
        """helm's own records of the release: the Secrets (or, with HELM_DRIVER=configmap, the ConfigMaps) its
        storage driver wrote, decoded."""
        out = []
        cm = os.environ.get("HELM_DRIVER") == "configmap"
        for s in self.api.items("configmaps" if cm else "secrets", NS):
            labels = s["metadata"].get("labels") or {}
            if labels.get("owner") == "helm" and labels.get("name") == name:
                raw = s["data"]["release"]
                data = base64.b64decode(raw if cm else base64.b64decode(raw))
                out.append({"labels": labels, "release": json.loads(gzip.decompress(data))})
        return sorted(out, key=lambda r: r["release"]["version"])

    def killed_install(self, name: str, *args: str, labels: bool = True) -> None:
        """Start `helm upgrade --install --wait` as gpuslice runs it and SIGKILL it once its revision is pending."""
        argv = [self.binary, "--kubeconfig", self.kubeconfig, "--namespace", NS, "upgrade", "--install", name]
        argv += [str(self.chart.path), "--wait=legacy", "--timeout", "120s", *args]
        if labels:
            argv += ["--labels", f"{MANAGED_LABEL}=gpuslice"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                recs = self.records(name)
                if recs and recs[-1]["labels"]["status"].startswith("pending-"):
                    time.sleep(0.3)  # helm is now waiting for the Deployment
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("helm never recorded a pending revision")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def age(self, name: str, seconds: float) -> None:
        """Move the last revision's start back in time, in helm's record (as if the kill was long ago)."""
        for s in self.api.items("secrets", NS):
            labels = s["metadata"].get("labels") or {}
            if labels.get("name") != name:
                continue
            rel = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(s["data"]["release"]))))
            for key in ("first_deployed", "last_deployed"):
                if key in rel["info"]:
                    t = time.time() - seconds
                    rel["info"][key] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".123456789Z"
            raw = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
            s["data"]["release"] = base64.b64encode(raw.encode()).decode()

    def status(self, name: str) -> list[str]:
        return [r["labels"]["status"] for r in self.records(name)]

    def close(self) -> None:
        self.api.__exit__()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def test_a_killed_first_install_is_uninstalled_and_installed_again(world):
    world.killed_install("rel")
    assert world.status("rel") == ["pending-install"]
    # today's failure: helm itself refuses
    r = world.helm_cli("upgrade", "--install", "rel", str(world.chart.path), check=False)
    assert r.returncode != 0 and "another operation (install/upgrade/rollback) is in progress" in r.stderr
    world.age("rel", 3600)
    rec = world.helm.recover_stale("rel", NS, stale_after=17 * 60)
    assert rec is not None and rec.action == "uninstalled" and "pending-install" in rec.detail
    assert world.records("rel") == []
    after = world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 2}, wait=False)
    assert after is not None and after.status == "deployed" and after.revision == 1
    assert world.status("rel") == ["deployed"]
    assert world.records("rel")[0]["labels"][MANAGED_LABEL] == "gpuslice"  # helm stores gpuslice's marker


def test_a_killed_upgrade_is_rolled_back_then_upgraded(world):
    world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 1}, wait=False)
    world.killed_install("rel", "--set", "replicas=2")
    assert world.status("rel") == ["deployed", "pending-upgrade"]
    world.age("rel", 3600)
    rec = world.helm.recover_stale("rel", NS, stale_after=17 * 60)
    assert rec is not None and rec.action == "rolled-back" and "revision 1" in rec.detail
    after = world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 3}, wait=False)
    assert after is not None and after.status == "deployed" and after.values == {"replicas": 3}
    hist = world.helm.history("rel", NS)
    assert [h.status for h in hist][-1] == "deployed" and hist[-2].description == "Rollback to 1"


def test_a_young_pending_revision_is_left_alone(world):
    """A pending revision younger than helm's timeout may still have a helm behind it: nothing is touched."""
    world.killed_install("rel")
    with pytest.raises(StaleLock) as e:
        world.helm.recover_stale("rel", NS, stale_after=17 * 60)
    assert "may still be running" in str(e.value) and "--stale-after 0" in str(e.value)
    assert "helm -n gpu-operator uninstall rel" in str(e.value)  # not "rollback": there is no earlier revision
    assert world.status("rel") == ["pending-install"]


def test_a_release_gpuslice_did_not_create_is_never_touched(world):
    world.killed_install("theirs", labels=False)
    world.age("theirs", 3600)
    with pytest.raises(StaleLock) as e:
        world.helm.recover_stale("theirs", NS, stale_after=60)
    assert "did not create this release" in str(e.value)
    assert world.status("theirs") == ["pending-install"]
    assert world.helm.recoveries == []


def test_no_recover_keeps_todays_behaviour(world):
    world.killed_install("rel")
    world.age("rel", 3600)
    world.helm.recover = False
    with pytest.raises(StaleLock) as e:
        world.helm.recover_stale("rel", NS, stale_after=60)
    assert "--no-recover" in str(e.value)
    assert world.status("rel") == ["pending-install"]


@pytest.fixture(scope="module")
def prepared():
    return prepare(str(kf.SPEC), chart=str(Path(__file__).parent / "fixtures" / "gpu-operator" / "chart-v26.7.0"))


def test_apply_recovers_a_killed_install_and_a_second_apply_is_a_noop(world, prepared):
    """The whole apply, with the real helm: the killed first install is uninstalled, installed again, and the
    next apply changes nothing."""
    r = prepared.resolved
    name = r.release_name
    world.killed_install(name)
    world.age(name, 3600)
    kube = KubeClient(world.kubeconfig, retrier=world.retrier)
    opts = ApplyOptions(wait=False, poll_interval=0.0, rollout_timeout=0.0)
    res = apply_release(r, {"replicas": 1}, world.chart, kube=kube, helm=world.helm, options=opts)
    steps = [(s.name, s.action) for s in res.steps]
    assert ("release", "uninstalled") in steps and ("release", "installed") in steps
    assert world.status(name) == ["deployed"]
    again = apply_release(r, {"replicas": 1}, world.chart, kube=kube, helm=world.helm, options=opts)
    assert not again.changed and ("release", "unchanged") in [(s.name, s.action) for s in again.steps]


def test_apply_no_recover_fails_with_the_manual_fix(world, prepared):
    r = prepared.resolved
    world.killed_install(r.release_name)
    world.age(r.release_name, 3600)
    kube = KubeClient(world.kubeconfig, retrier=world.retrier)
    opts = ApplyOptions(wait=False, recover=False, poll_interval=0.0, rollout_timeout=0.0)
    with pytest.raises(ApplyError) as e:
        apply_release(r, {"replicas": 1}, world.chart, kube=kube, helm=world.helm, options=opts)
    assert "pending-install" in str(e.value) and f"helm -n {NS} uninstall {r.release_name}" in str(e.value)
    assert world.status(r.release_name) == ["pending-install"]


# -- stopping helm: SIGTERM first, so helm records the release as failed -------------------------------------------


def test_our_timeout_stops_helm_with_sigterm_so_it_marks_the_release_failed(world):
    """gpuslice's own timeout used to SIGKILL helm (leaving pending-install); now helm gets SIGTERM and records
    the release failed, and a plain upgrade works afterwards."""
    argv = ["--kubeconfig", world.kubeconfig, "--namespace", NS, "upgrade", "--install", "rel"]
    argv += [str(world.chart.path), "--wait=legacy", "--timeout", "120s"]
    with pytest.raises(Exception) as e:
        run_helm(argv, helm=world.binary, timeout=3)
    assert "timed out" in str(e.value) and "SIGTERM" in str(e.value)
    assert world.status("rel") == ["failed"]
    world.helm_cli("upgrade", "--install", "rel", str(world.chart.path))
    assert world.status("rel") == ["superseded", "deployed"]


def test_ctrl_c_lets_helm_clean_up(world, tmp_path):
    """Ctrl-C (SIGINT to gpuslice) and SIGTERM to gpuslice both let helm finish its cleanup: release failed,
    never pending."""
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\nfrom gpuslice.helm import run_helm\nfrom gpuslice.cli import _terminated\nimport signal\n"
        "signal.signal(signal.SIGTERM, _terminated)\n"
        "try:\n    run_helm(sys.argv[2:], helm=sys.argv[1], timeout=600)\n"
        "except KeyboardInterrupt:\n    print('stopped'); sys.exit(130)\n",
        encoding="utf-8",
    )
    for sig, name in ((signal.SIGINT, "rel-int"), (signal.SIGTERM, "rel-term")):
        argv = ["--kubeconfig", world.kubeconfig, "--namespace", NS, "upgrade", "--install", name]
        argv += [str(world.chart.path), "--wait=legacy", "--timeout", "120s"]
        env_py = [sys.executable, str(script), world.binary, *argv]
        proc = subprocess.Popen(env_py, stdout=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 60
        while not any(r["labels"]["status"] == "pending-install" for r in world.records(name)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)  # gpuslice alone gets it (a new session): helm hears of it only from gpuslice
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "stopped" in out
        assert world.status(name) == ["failed"], name


def test_a_helm_that_exits_leaving_its_own_revision_pending_is_recovered_in_the_same_apply(world):
    """helm's writes of the outcome fail (the API server errors on every update of the release record): helm
    exits and its revision stays pending-install. No helm runs any more — it was ours — so the retry does not
    wait for "another operation" until the budget is spent: the release is unlocked at once and installed."""
    world.api.inject("PUT", r"/secrets/sh\.helm\.release", "500", times=3)
    after = world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 2}, wait=False)
    assert after is not None and after.status == "deployed" and after.values == {"replicas": 2}
    assert world.helm.recoveries and {r.action for r in world.helm.recoveries} == {"uninstalled"}
    assert world.status("rel") == ["deployed"]
    assert not any("another helm operation" in e.reason for e in world.retrier.events)


def test_an_uninstall_cut_short_is_finished_then_installed(world):
    """A recovery's uninstall that stopped half-way leaves the release `uninstalling`; helm then refuses the
    upgrade ("has no deployed releases"). The next apply finishes the uninstall and installs."""
    world.killed_install("rel")
    world.age("rel", 3600)
    # the uninstall fails on the API when it deletes the release record: the record stays `uninstalling`
    world.api.inject("DELETE", r"/secrets/sh\.helm\.release", "500", times=50)
    world.helm.retrier = Retrier(policy=RetryPolicy(max_attempts=2, base_delay=0.01), sleep=lambda _s: None)
    with pytest.raises(RetriesExhausted):
        world.helm.recover_stale("rel", NS, stale_after=60)
    assert world.status("rel") == ["uninstalling"]
    r = world.helm_cli("upgrade", "--install", "rel", str(world.chart.path), check=False)
    assert "has no deployed releases" in r.stderr
    world.api.faults.clear()
    rec = world.helm.recover_stale("rel", NS, stale_after=60)
    assert rec is not None and rec.action == "uninstalled"
    after = world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 2}, wait=False)
    assert after is not None and after.status == "deployed"


def test_the_configmap_storage_driver_is_recovered_the_same_way(world, monkeypatch):
    """HELM_DRIVER=configmap keeps the records in ConfigMaps; gpuslice reads them through helm, so recovery is
    the same."""
    monkeypatch.setenv("HELM_DRIVER", "configmap")
    world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 1}, wait=False)
    world.killed_install("rel", "--set", "replicas=2")
    assert world.status("rel") == ["deployed", "pending-upgrade"]
    assert not world.api.items("secrets", NS)
    rec = world.helm.recover_stale("rel", NS, stale_after=0)
    assert rec is not None and rec.action == "rolled-back"
    after = world.helm.upgrade_install("rel", NS, world.chart, {"replicas": 3}, wait=False)
    assert after is not None and after.status == "deployed" and after.values == {"replicas": 3}
