"""Every helm command line the apply adapter builds must parse with the real helm binary (helm 4 here).

The fake-helm tests accept any argv, so a flag helm no longer has (helm 4 dropped `list --all`) would pass them
and break every real apply. Here the real binary runs each argv against an unreachable cluster: the failure must
be the connection, never the command line.
"""

from __future__ import annotations

import pytest

from gpuslice.cluster import helmops
from gpuslice.cluster.retry import Retrier, RetryPolicy
from gpuslice.errors import GpusliceError
from tests.helpers import EXAMPLES

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
users: [{name: u, user: {token: t}}]
"""


def test_adapter_argv_parses_with_the_real_helm(tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE)
    errors: list[str] = []
    real = helmops.run_helm

    def spy(args, **kw):
        try:
            return real(args, **kw)
        except GpusliceError as e:
            errors.append(f"{args[0]} {args[1] if len(args) > 1 else ''}: {getattr(e, 'stderr', '') or e}")
            raise

    monkeypatch.setattr(helmops, "run_helm", spy)
    ops = helmops.Helm(
        kubeconfig=str(kubeconfig), retrier=Retrier(policy=RetryPolicy(max_attempts=1), sleep=lambda s: None)
    )
    chart = helmops.ChartRef(
        name="gpu-operator", version="v26.7.0", path=str(EXAMPLES / "charts" / "gpu-operator-v26.7.0")
    )
    with pytest.raises(GpusliceError):
        ops.release("r", "ns")
    with pytest.raises(GpusliceError):
        ops.upgrade_install("r", "ns", chart, {"driver": {"enabled": False}}, timeout_minutes=1)
    assert len(errors) >= 2
    for err in errors:
        assert "unknown flag" not in err and "unknown shorthand" not in err and "accepts" not in err, err
        assert "unreachable" in err or "connection refused" in err, err
