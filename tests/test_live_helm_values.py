"""apply's idempotence compares the rendered values with what helm gives back (`helm get values -o json`), and
helm gives numbers back as Go float64s: 4.0 -> 4, an integer past 2**53 rounded. A second apply must see no
difference where helm only re-spelled a number, and must still see a real change."""

from __future__ import annotations

import json

import pytest

from gpuslice.cluster.apply import ApplyOptions, Prepared, apply_release, prepare
from gpuslice.cluster.helmops import as_helm_stores, canonical
from tests import k8sfixtures as kf
from tests.test_apply import CHART, Env


@pytest.fixture(scope="module")
def prepared() -> Prepared:
    return prepare(str(kf.SPEC), chart=str(CHART))


def test_numbers_compare_as_helm_stores_them():
    assert as_helm_stores({"a": 4.0, "b": [1.0, 0.5], "c": True, "d": None, "e": "4.0"}) == {
        "a": 4,
        "b": [1, 0.5],
        "c": True,
        "d": None,
        "e": "4.0",
    }
    assert as_helm_stores(2**53 + 1) == 2**53  # float64 rounding, as helm prints it
    assert canonical({"x": 4.0}) == canonical({"x": 4})
    assert canonical({"x": True}) != canonical({"x": 1})  # booleans are not numbers
    assert canonical({"x": "4"}) != canonical({"x": 4})


def test_second_apply_is_a_noop_when_helm_respelled_a_number(tmp_path, prepared):
    values = json.loads(json.dumps(prepared.values))
    values.setdefault("devicePlugin", {})["gpuslice-test-ratio"] = 1.0  # helm keeps it as 1
    env = Env(tmp_path)
    try:
        ops = dict(kube=env.kube, helm=env.helm)
        opts = ApplyOptions(poll_interval=0.0, rollout_timeout=1.0)
        first = apply_release(prepared.resolved, values, prepared.chart, options=opts, sleep=lambda _s: None, **ops)
        assert {s.name: s.action for s in first.steps}["release"] == "installed"
        rel = env.helm_fake.releases()[f"{prepared.resolved.namespace}/{prepared.resolved.release_name}"]
        assert rel["values"]["devicePlugin"]["gpuslice-test-ratio"] == 1 and isinstance(
            rel["values"]["devicePlugin"]["gpuslice-test-ratio"], int
        )
        second = apply_release(prepared.resolved, values, prepared.chart, options=opts, sleep=lambda _s: None, **ops)
        assert {s.name: s.action for s in second.steps}["release"] == "unchanged"
        assert len(env.helm_fake.calls("upgrade")) == 1
        values["devicePlugin"]["gpuslice-test-ratio"] = 1.5
        third = apply_release(prepared.resolved, values, prepared.chart, options=opts, sleep=lambda _s: None, **ops)
        step = next(s for s in third.steps if s.name == "release")
        assert step.action == "upgraded" and "devicePlugin" in step.detail
    finally:
        env.close()
