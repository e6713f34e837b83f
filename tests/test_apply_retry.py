"""The retry policy, proven with the official kubernetes client against the fake API server under injected
faults: 503/500/429 (Retry-After), connection resets before and after a write, slow replies; bounded attempts and
total time, jitter, no duplicate writes, a clear final error."""

from __future__ import annotations

import random
import time

import pytest

from gpuslice.cluster import kube as kube_mod
from gpuslice.cluster.kube import AlreadyExists, KubeClient
from gpuslice.cluster.retry import (
    Retrier,
    RetriesExhausted,
    RetryPolicy,
    Transient,
    classify_helm_text,
)
from gpuslice.errors import ClusterError
from tests import k8sfixtures as kf
from tests.fakeapi import FakeKube

POLICY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, total_timeout=30.0)


@pytest.fixture
def api():
    with FakeKube(kf.healthy()) as a:
        yield a


def client(
    api: FakeKube,
    tmp_path,
    *,
    policy: RetryPolicy = POLICY,
    sleeps: list[float] | None = None,
    timeout: tuple[float, float] = (2.0, 5.0),
) -> KubeClient:
    r = Retrier(policy=policy, sleep=(sleeps.append if sleeps is not None else time.sleep), rng=random.Random(1))
    return KubeClient(str(api.kubeconfig(tmp_path)), retrier=r, request_timeout=timeout)


# -- the policy itself -----------------------------------------------------------------------------------------


def test_backoff_is_exponential_capped_and_jittered():
    p = RetryPolicy(base_delay=1.0, multiplier=2.0, max_delay=8.0, jitter=0.5)
    rng = random.Random(42)
    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 8.0)):
        got = [p.backoff(attempt, rng) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in got)
        assert len({round(d, 6) for d in got}) > 40  # jitter: clients do not retry in lockstep


def test_attempts_and_total_time_are_bounded():
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(d: float) -> None:
        sleeps.append(d)
        clock[0] += d

    r = Retrier(
        policy=RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=10.0, total_timeout=30.0),
        sleep=sleep,
        clock=lambda: clock[0],
        rng=random.Random(3),
    )
    calls = []

    def always_503() -> None:
        calls.append(clock[0])
        raise OSError("boom")

    with pytest.raises(RetriesExhausted) as e:
        r.call(always_503, "list nodes", lambda _e: Transient("HTTP 503"))
    assert clock[0] <= 30.0  # never sleeps past the budget
    assert len(calls) < 100 and e.value.attempts == len(calls)
    assert "list nodes failed after" in str(e.value) and "HTTP 503" in str(e.value)
    assert [ev.attempt for ev in r.events] == list(range(1, len(calls)))


def test_permanent_errors_are_not_retried():
    r = Retrier(policy=POLICY, sleep=lambda _d: None)
    calls = []

    def fail() -> None:
        calls.append(1)
        raise ValueError("bad request")

    with pytest.raises(ValueError):
        r.call(fail, "op", lambda _e: None)
    assert calls == [1] and r.events == []


@pytest.mark.parametrize(
    "text, transient",
    [
        ("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress", True),
        ("Error: UPGRADE FAILED: etcdserver: request timed out", True),
        (
            "Error: UPGRADE FAILED: unable to build kubernetes objects from release manifest: error validating data",
            False,
        ),
        (
            'Error: UPGRADE FAILED: cannot patch "cluster-policy" with kind ClusterPolicy: admission webhook denied',
            False,
        ),
        (
            'Error: INSTALLATION FAILED: chart "gpu-operator" version "v9.9.9" not found in https://helm.ngc.nvidia.com/nvidia',
            False,
        ),
        ('Error: UPGRADE FAILED: "demo-1-gpu-operator" has no deployed releases', False),
        ("Error: UPGRADE FAILED: timed out waiting for the condition", True),
        ("Error: unexpected EOF", True),
    ],
)
def test_helm_error_classification(text, transient):
    assert (classify_helm_text(text) is not None) is transient


# -- the kubernetes client against the fake server -----------------------------------------------------------------


def test_503_is_retried_then_succeeds(api, tmp_path):
    api.inject("GET", r"^/api/v1/nodes$", "503", times=2)
    k = client(api, tmp_path)
    doc = k.list("nodes")
    assert len(doc["items"]) == 3
    assert api.count("GET", r"^/api/v1/nodes$") == 3
    assert [e.reason for e in k.retrier.events] == ["HTTP 503", "HTTP 503"]


def test_429_waits_at_least_retry_after(api, tmp_path):
    api.inject("GET", r"/daemonsets$", "429", retry_after=2)
    sleeps: list[float] = []
    k = client(api, tmp_path, sleeps=sleeps)
    k.list("daemonsets", "gpu-operator")
    assert k.retrier.events[0].reason == "HTTP 429"
    assert sleeps and sleeps[0] >= 2.0


def test_connection_reset_is_retried(api, tmp_path):
    api.inject("GET", r"/pods$", "reset")
    k = client(api, tmp_path)
    assert k.list("pods", "kube-system")["items"]
    assert k.retrier.events[0].reason == "connection reset"


def test_slow_reply_times_out_and_is_retried(api, tmp_path):
    api.inject("GET", r"^/api/v1/nodes$", "slow", delay=1.5)
    k = client(api, tmp_path, timeout=(1.0, 0.4))
    assert k.list("nodes")["items"]
    assert k.retrier.events[0].reason == "timeout"


def test_500_on_a_write_then_success_applies_once(api, tmp_path):
    api.inject("PATCH", r"^/api/v1/nodes/", "500")
    k = client(api, tmp_path)
    k.patch_node_labels(kf.GPU1, {"example.com/x": "1"})
    assert api.applied("PATCH", r"^/api/v1/nodes/") == 1  # the 500 was not applied
    assert api.get("nodes", kf.GPU1)["metadata"]["labels"]["example.com/x"] == "1"


def test_label_patch_whose_answer_was_lost_is_read_not_sent_again(api, tmp_path):
    """The server applied the label patch, then the connection dropped: the node is read before a retry, and
    since it already carries the labels nothing is sent twice."""
    api.inject("PATCH", r"^/api/v1/nodes/", "reset-after")
    k = client(api, tmp_path)
    got = k.patch_node_labels(kf.GPU1, {"example.com/x": "1"})
    assert got["metadata"]["labels"]["example.com/x"] == "1"
    assert api.count("PATCH", r"^/api/v1/nodes/") == 1
    assert api.applied("PATCH", r"^/api/v1/nodes/") == 1
    assert k.retrier.events[0].reason == "connection reset"


def test_reset_before_a_label_patch_sends_it_again(api, tmp_path):
    """The patch never reached the server: the read shows the label missing, so the patch is sent again."""
    api.inject("PATCH", r"^/api/v1/nodes/", "reset")
    k = client(api, tmp_path)
    k.patch_node_labels(kf.GPU1, {"example.com/x": "1"})
    assert api.count("PATCH", r"^/api/v1/nodes/") == 2
    assert api.applied("PATCH", r"^/api/v1/nodes/") == 1


def test_reset_after_a_create_does_not_create_twice(api, tmp_path):
    """The server created the pod, then the connection dropped: the retry finds the pod by its token."""
    api.inject("POST", r"/pods$", "reset-after")
    k = client(api, tmp_path)
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "namespace": "gpu-operator"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    got = k.create("pods", "gpu-operator", body)
    assert got["metadata"]["name"] == "probe"
    assert api.applied("POST", r"/pods$") == 1
    assert api.count("POST", r"/pods$") == 1  # settled before a second POST was needed
    assert k.retrier.events[0].reason == "connection reset"


def test_create_of_someone_elses_object_is_refused(api, tmp_path):
    k = client(api, tmp_path)
    body = {"metadata": {"name": kf.healthy().configmaps["gpu-operator"][0]["metadata"]["name"]}, "data": {}}
    with pytest.raises(AlreadyExists):
        k.create("configmaps", "gpu-operator", body)
    assert api.count("POST", r"/configmaps$") == 1


def test_permanent_http_errors_fail_at_once(api, tmp_path):
    api.inject("GET", r"^/api/v1/nodes$", "403")
    k = client(api, tmp_path)
    with pytest.raises(ClusterError) as e:
        k.list("nodes")
    assert e.value.status == 403 and "forbidden" in str(e.value)
    assert api.count("GET", r"^/api/v1/nodes$") == 1
    assert k.get("pods", "does-not-exist", "gpu-operator") is None  # 404 is an answer, not a failure


def test_outage_ends_with_a_clear_bounded_error(api, tmp_path):
    api.inject("GET", r"^/api/v1/nodes$", "503", times=100)
    k = client(api, tmp_path)
    start = time.monotonic()
    with pytest.raises(RetriesExhausted) as e:
        k.list("nodes")
    assert time.monotonic() - start < 5
    assert api.count("GET", r"^/api/v1/nodes$") == POLICY.max_attempts
    msg = str(e.value)
    assert f"list nodes failed after {POLICY.max_attempts} attempt(s)" in msg
    assert "HTTP 503" in msg and "the server is currently unable to handle the request" in msg


def test_total_time_budget_stops_retrying_in_real_time(api, tmp_path):
    api.inject("GET", r"^/api/v1/nodes$", "503", times=100)
    k = client(
        api, tmp_path, policy=RetryPolicy(max_attempts=50, base_delay=0.2, max_delay=0.2, total_timeout=0.7, jitter=0.0)
    )
    start = time.monotonic()
    with pytest.raises(RetriesExhausted):
        k.list("nodes")
    assert time.monotonic() - start < 1.5
    assert api.count("GET", r"^/api/v1/nodes$") <= 5


def test_lists_are_read_page_by_page(api, tmp_path, monkeypatch):
    monkeypatch.setattr(kube_mod, "PAGE", 4)
    api.inject("GET", r"/pods$", "503")  # a fault in the middle of paging is retried for that page only
    k = client(api, tmp_path)
    doc = k.list("pods", "gpu-operator")
    assert len(doc["items"]) == len(kf.healthy().pods["gpu-operator"])
    assert "continue" not in doc["metadata"]
    continues = [r.query.get("continue") for r in api.requests if r.path.endswith("/pods")]
    assert continues[0] is None and ["4"] in continues
