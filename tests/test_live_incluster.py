"""In a pod with no kubeconfig (the bench Job, a CI runner), the live adapter uses the service account."""

from __future__ import annotations

import pytest

from gpuslice.cluster.kube import KubeClient
from gpuslice.errors import ClusterError


@pytest.fixture
def pod_env(tmp_path, monkeypatch):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token-123")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("GPUSLICE_SERVICEACCOUNT_DIR", str(sa))
    return sa


def test_in_cluster_service_account_is_used_without_a_kubeconfig(pod_env):
    kube = KubeClient()
    assert kube.host == "https://10.100.0.1:443"
    cfg = kube._apis["core"].api_client.configuration
    assert any(v.endswith("sa-token-123") for v in cfg.api_key.values())


def test_a_named_kubeconfig_wins_over_the_pod(pod_env, tmp_path):
    with pytest.raises(ClusterError) as ei:
        KubeClient(kubeconfig=str(tmp_path / "missing-kubeconfig"))
    assert "missing-kubeconfig" in str(ei.value)


def test_outside_a_pod_without_kubeconfig_is_a_clear_error(pod_env, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(ClusterError) as ei:
        KubeClient()
    assert "kubeconfig" in str(ei.value)


@pytest.mark.parametrize("verb", [["doctor", "--max-attempts", "1"], ["top", "-o", "json"]])
def test_cli_verbs_in_a_pod_use_the_service_account(pod_env, monkeypatch, cli, verb):
    """The CLI's kubeconfig pre-check must not refuse a pod without a kubeconfig: the client goes to the API
    server named by KUBERNETES_SERVICE_HOST (here a closed local port, so the call fails on the connection)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
    r = cli(*verb)
    assert "cannot load kubeconfig" not in r.stderr
    assert f"port={port}" in r.stderr


def test_cli_top_names_the_missing_kubeconfig(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    r = cli("top")
    assert r.exit_code == 2
    assert "no-such-kubeconfig: file not found" in r.stderr
