from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuslice import SpecError, json_schema, load_spec, parse_spec_text
from gpuslice.resolve import resolve
from tests.helpers import EXAMPLES, MINIMAL, ROOT


def errors_of(text: str) -> list:
    with pytest.raises(SpecError) as ei:
        parse_spec_text(text, "spec.yaml")
    return ei.value.problems


def test_minimal_spec_parses_and_resolves():
    spec = parse_spec_text(MINIMAL)
    r = resolve(spec)
    pool = r.pools[0]
    assert pool.gpu.model == "A10G" and pool.gpu.count == 1 and pool.gpu.memory_gib == 24
    assert pool.sharing.replicas == 4 and pool.sharing.config_key == "time-slicing-4"
    assert pool.node_labels["nvidia.com/device-plugin.config"] == "time-slicing-4"
    assert pool.containerd_on_data
    assert r.release_name == "demo-1-gpu-operator"
    assert set(r.sharing_configs) == {"exclusive", "time-slicing-4"}


def test_unknown_key_names_line_column_path_and_suggestion():
    text = MINIMAL.replace("    sharing: {", "    sharng: {")
    (p,) = errors_of(text)
    assert p.file == "spec.yaml"
    assert p.line == 14 and p.column == 5
    assert p.path == "nodePools[0].sharng"
    assert "did you mean 'sharing'" in p.message


def test_misplaced_key_is_an_error_with_allowed_list():
    text = MINIMAL.replace("  kubernetesVersion:", "  renameByDefault: true\n  kubernetesVersion:")
    (p,) = errors_of(text)
    assert p.path == "cluster.renameByDefault"
    assert "unknown field" in p.message


def test_every_problem_is_reported_not_just_the_first():
    text = (
        MINIMAL.replace('"1.33"', '"one.33"')
        .replace("replicas: 4", "replicas: 1")
        .replace("ubuntu-22.04", "ubuntu-18.04")
    )
    probs = errors_of(text)
    paths = {p.path for p in probs}
    assert "cluster.kubernetesVersion" in paths
    assert "nodePools[0].os" in paths
    assert "nodePools[0].sharing.replicas" in paths
    assert all(p.line for p in probs)


def test_strategy_without_replicas_and_replicas_without_strategy():
    probs = errors_of(MINIMAL.replace("replicas: 4, ", ""))
    assert any("needs replicas" in p.message for p in probs)
    probs = errors_of(MINIMAL.replace("strategy: time-slicing", "strategy: none"))
    assert any("only meaningful" in p.message for p in probs)


def test_duplicate_keys_and_duplicate_pools_are_errors():
    probs = errors_of(MINIMAL.replace("  name: demo\n", "  name: demo\n  name: demo2\n"))
    assert "duplicate" in probs[0].message.lower()
    dup = MINIMAL + MINIMAL[MINIMAL.index("  - name: pool-a") :]
    probs = errors_of(dup)
    assert any("unique" in p.message for p in probs)


def test_not_a_mapping_and_empty_file():
    assert "expected a mapping" in errors_of("- a\n- b\n")[0].message
    assert "empty" in errors_of("")[0].message


def test_invalid_yaml_reports_position():
    (p,) = errors_of("cluster: {name: [\n")
    assert p.line is not None and "invalid YAML" in p.message


def test_parser_crash_on_odd_scalar_is_a_clean_error():
    # ruamel raises IndexError on this key; found by the property test below.
    assert "invalid YAML" in errors_of("-_: null\n")[0].message


def test_missing_file(tmp_path):
    with pytest.raises(SpecError) as ei:
        load_spec(tmp_path / "nope.yaml")
    assert "file not found" in str(ei.value)


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_parse(example):
    r = resolve(load_spec(example))
    assert r.pools


def test_public_api_names_resolve_to_callables():
    import gpuslice
    import gpuslice.resolve  # a submodule import must not shadow a re-export

    for name in gpuslice.__all__:
        assert getattr(gpuslice, name) is not None
    assert callable(gpuslice.load) and callable(gpuslice.plan) and callable(gpuslice.check)


def test_schema_file_is_current():
    """The committed schema (for editors) must match the model; regenerate with `gpuslice schema --out-file ...`."""
    committed = json.loads((ROOT / "schema" / "gpuslice.schema.json").read_text())
    assert committed == json_schema()


def test_schema_validates_examples():
    import jsonschema
    import yaml

    schema = json_schema()
    for ex in EXAMPLES.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(ex.read_text()), schema)


# Random or mangled YAML never produces a traceback: either a Spec or a SpecError.
yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_random_documents_never_traceback(value):
    import yaml

    text = yaml.safe_dump(value)
    try:
        parse_spec_text(text)
    except SpecError as e:
        assert e.problems


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(MINIMAL) - 1), st.integers(min_value=1, max_value=20), st.text(max_size=5)
)
def test_mangled_spec_never_tracebacks(pos, cut, insert):
    text = MINIMAL[:pos] + insert + MINIMAL[pos + cut :]
    try:
        spec = parse_spec_text(text)
    except SpecError as e:
        assert e.problems and all(str(p) for p in e.problems)
    else:
        resolve(spec)


def test_unknown_key_spelled_like_a_pydantic_tag_is_named():
    """A top-level key "[]" (hypothesis found it) was dropped with pydantic's tags and crashed the error report."""
    with pytest.raises(SpecError) as e:
        parse_spec_text('"[]": null\n', "gpuslice.yaml")
    assert "unknown field '[]'" in str(e.value)
