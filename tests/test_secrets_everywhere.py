"""No credential gpuslice reads ever comes out of it: secrets are planted in a kubeconfig (token, client key,
password), a spec, a device-plugin config, helm's error output, and a dump (a pull Secret's data, a pod's env,
log lines), then every verb runs on them (successfully and with broken inputs) and every output is searched:
stdout, stderr, JSON, and every file written."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuslice.helm import find_helm
from gpuslice.redact import redact
from tests import k8sfixtures as kf
from tests.fakeapi import FakeKube
from tests.fakehelm import install
from tests.helpers import MINIMAL, write_spec
from tests.test_apply import CHART, fresh_cluster

SECRETS = {
    "token": "planted-token-1f7c2a9e",
    "token2": "planted-token-second-77aa",
    "password": "planted-password-5d1e",
    "key": "planted-client-key-c3b8",
    "docker": "planted-docker-auth-9e40",
    "env": "planted-env-secret-2b6f",
    "log": "planted-log-bearer-8a12",
}


def _found(text: str) -> list[str]:
    return [name for name, s in SECRETS.items() if s in text]


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
    elif root.is_dir():
        yield from (p for p in root.rglob("*") if p.is_file())


def kubeconfig(tmp_path: Path, server: str, *, duplicate: bool = False) -> Path:
    key_pem = f"-----BEGIN RSA PRIVATE KEY-----\n{SECRETS['key']}\n-----END RSA PRIVATE KEY-----\n"
    user = f"    token: {SECRETS['token']}\n" + (f"    token: {SECRETS['token2']}\n" if duplicate else "")
    user += f"    password: {SECRETS['password']}\n    username: admin\n"
    if duplicate:
        user += f"    client-key-data: {base64.b64encode(key_pem.encode()).decode()}\n"
    p = tmp_path / ("kubeconfig-dup" if duplicate else "kubeconfig")
    p.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster: {{server: '{server}'}}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        f"users:\n- name: u\n  user:\n{user}",
        encoding="utf-8",
    )
    return p


def planted_dump(tmp_path: Path) -> Path:
    """A real fixture dump plus credential material where real bundles carry it."""
    dump = tmp_path / "dump"
    shutil.copytree(kf.DUMPS / "image-pull-upstream", dump)
    docker = base64.b64encode(json.dumps({"auths": {"r": {"auth": SECRETS["docker"]}}}).encode()).decode()
    (dump / "gpu-operator" / "secrets.json").write_text(
        json.dumps(
            {
                "kind": "SecretList",
                "items": [
                    {
                        "metadata": {"name": "corp-registry"},
                        "type": "kubernetes.io/dockerconfigjson",
                        "data": {".dockerconfigjson": docker},
                        "stringData": {"auth": SECRETS["docker"]},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    pods = json.loads((dump / "gpu-operator" / "pods.json").read_text(encoding="utf-8"))
    for pod in pods["items"]:
        for c in pod["spec"].get("containers") or []:
            c.setdefault("env", []).append({"name": "REGISTRY_PASSWORD", "value": SECRETS["env"]})
        for cs in pod.get("status", {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("message"):
                waiting["message"] += f" (Authorization: Bearer {SECRETS['log']})"
    (dump / "gpu-operator" / "pods.json").write_text(json.dumps(pods), encoding="utf-8")
    for logs in dump.rglob("logs.txt"):
        with logs.open("a", encoding="utf-8") as fh:
            fh.write(f"pulling with password={SECRETS['password']} token: {SECRETS['token']}\n")
    return dump


@pytest.fixture
def world(tmp_path, monkeypatch):
    api = FakeKube(fresh_cluster()).__enter__()
    helm = install(tmp_path / "helm-bin", real_helm=find_helm())
    monkeypatch.setenv("GPUSLICE_HELM", str(helm.path))
    yield api, helm
    api.__exit__()


def run_every_verb(cli, tmp_path: Path, api: FakeKube, helm) -> tuple[dict[str, list[str]], dict, Path]:
    """Every verb on planted inputs, text and json: (where -> which secrets leaked, exit codes, output root).
    Shared with benchmarks/robustness_figures.py, which reports the count."""
    kc = kubeconfig(tmp_path, api.url)
    kc_dup = kubeconfig(tmp_path, api.url, duplicate=True)
    dump = planted_dump(tmp_path)
    spec = kf.SPEC
    bad_spec = write_spec(
        tmp_path,
        MINIMAL + f"registry:\n  password: {SECRETS['password']}\n  password: {SECRETS['token2']}\n",
        name="bad.yaml",
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 4\n"
        f"token: {SECRETS['token']}\ntoken: {SECRETS['token2']}\n",
        encoding="utf-8",
    )
    # helm fails with a credential in its stderr (a registry URL with a password, an auth header)
    helm.plan_failures(
        {
            "stderr": f"Error: failed to fetch https://admin:{SECRETS['password']}@charts.corp.example/index.yaml "
            f"(Authorization: Bearer {SECRETS['log']})",
            "exit": 1,
        }
    )
    out = tmp_path / "outs"
    runs = [
        ("check", str(spec)),
        ("check", str(bad_spec)),
        ("plan", str(spec), "-d", str(out / "plan"), "--chart", str(CHART)),
        ("plan", str(bad_spec), "-d", str(out / "plan-bad")),
        ("render", str(spec), "-d", str(out / "render"), "--chart", str(CHART)),
        ("lint-config", str(cfg)),
        ("doctor", "--dump", str(dump)),
        ("doctor", "--kubeconfig", str(kc)),
        ("doctor", "--kubeconfig", str(kc_dup)),
        ("snapshot", "-d", str(out / "snap"), "--kubeconfig", str(kc)),
        ("snapshot", "-d", str(out / "snap-dup"), "--kubeconfig", str(kc_dup)),
        ("verify", str(spec), "--kubeconfig", str(kc)),
        ("verify", str(spec), "--dump", str(dump)),
        ("verify", str(spec), "--kubeconfig", str(kc_dup)),
        ("apply", str(spec), "--chart", str(CHART), "--kubeconfig", str(kc), "--no-wait", "--rollout-timeout", "0"),
        ("apply", str(spec), "--chart", str(CHART), "--kubeconfig", str(kc_dup)),
        ("images", str(spec), "--chart", str(CHART)),
    ]
    leaks: dict[str, list[str]] = {}
    codes: dict[tuple[tuple[str, ...], str], int] = {}
    for argv in runs:
        for fmt in ("text", "json"):
            extra = ["-o", "json"] if fmt == "json" and argv[0] not in ("snapshot",) else []
            r = cli(*argv, *extra)
            codes[(argv, fmt)] = r.exit_code
            where = " ".join(argv[:2]) + f" [{fmt}]"
            for stream, text in (("stdout", r.stdout), ("stderr", r.stderr)):
                if _found(text):
                    leaks[f"{where} {stream}"] = _found(text)
            if "internal error" in r.stdout + r.stderr:
                leaks[f"{where} internal error"] = []
    for f in _files(out):
        text = f.read_text(encoding="utf-8", errors="replace")
        if _found(text):
            leaks[str(f.relative_to(out))] = _found(text)
    return leaks, codes, out


def test_every_verb_keeps_planted_secrets_out_of_every_output(cli, tmp_path, world):
    api, helm = world
    leaks, codes, out = run_every_verb(cli, tmp_path, api, helm)
    assert leaks == {}
    # the runs did run: the good ones worked, the broken inputs were refused
    bad_spec = str(tmp_path / "bad.yaml")
    assert codes[(("check", bad_spec), "json")] == 2
    assert codes[(("lint-config", str(tmp_path / "config.yaml")), "text")] in (1, 2)
    assert (out / "plan" / "values.yaml").is_file() and (out / "snap" / "nodes.json").is_file()
    assert helm.calls("upgrade"), "apply reached helm"


def test_the_snapshot_of_a_cluster_holding_secrets_carries_none(cli, tmp_path, world):
    """A ConfigMap with a credential-looking line is captured by snapshot; nothing else secret is read at all."""
    api, _ = world
    kc = kubeconfig(tmp_path, api.url)
    r = cli("snapshot", "-d", str(tmp_path / "snap"), "--kubeconfig", str(kc))
    assert r.exit_code == 0, r.stderr
    assert not any("secrets" in str(p) for p in _files(tmp_path / "snap"))
    assert all(not _found(p.read_text(encoding="utf-8", errors="replace")) for p in _files(tmp_path / "snap"))
    assert not any("/secrets" in req.path for req in api.requests)  # Secrets are never read


def test_redact_is_idempotent_and_leaves_masked_text_alone():
    text = f"token: {SECRETS['token']} password={SECRETS['password']}"
    once = redact(text)
    assert redact(once) == once and not _found(once)
