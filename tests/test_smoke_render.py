"""smoke-test.yaml emits each pool's pod once and puts the pod names in; the file must be exactly every pod of
smoke_pods (what ``verify --smoke`` creates) emitted in full, on every example and the bootstrap matrix."""

from __future__ import annotations

import pytest

from gpuslice.render import RenderOptions
from gpuslice.render import smoke as sm
from gpuslice.resolve import ResolvedSpec, resolve
from gpuslice.spec import load_spec
from gpuslice.yamlio import dump_yaml
from tests.helpers import EXAMPLES
from tests.test_bootstrap import matrix

CHART = EXAMPLES / "charts" / "gpu-operator-v26.7.0"
SPECS = {p.stem: p for p in sorted(EXAMPLES.glob("*.yaml"))}


def resolved_of(name: str) -> ResolvedSpec:
    return matrix() if name == "bootstrap-matrix" else resolve(load_spec(SPECS[name]), file=SPECS[name])


@pytest.mark.parametrize("name", [*SPECS, "bootstrap-matrix"])
def test_smoke_file_is_every_pod_emitted_in_full(name):
    r = resolved_of(name)
    opts = RenderOptions(chart=CHART, prove=False)
    text = sm.render(r, opts).files.get(sm.SMOKE_FILE)
    shared = [p for p in r.pools if p.sharing.shared and sm.expected_pods(p)]
    if not shared:
        assert text is None
        return
    image = sm.smoke_image(r, opts)
    pods = [pod for p in shared for pod in sm.smoke_pods(r, p, image, count=(sm.expected_pods(p) or 0) + 1)]
    body = "---\n".join(dump_yaml(pod) for pod in pods)
    assert text is not None and text.endswith("\n" + body)
    assert len(pods) == sum((sm.expected_pods(p) or 0) + 1 for p in shared)


def test_names_yaml_would_not_write_plain_are_emitted_with_their_pod():
    r = matrix()
    pool = next(p for p in r.pools if p.sharing.shared)
    pod = sm.smoke_pods(r, pool, "registry.example/validator:v1", count=1)[0]
    names = [pod["metadata"]["name"], "123", "true", "on", "no", "null", "plain-name"]
    texts = sm._pod_texts(pod, names)
    assert texts == [dump_yaml({**pod, "metadata": {**pod["metadata"], "name": n}}) for n in names]
    assert all(f"name: '{n}'" in t for n, t in zip(names[1:6], texts[1:6], strict=True))
    assert "name: plain-name\n" in texts[6]
