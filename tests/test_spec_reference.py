"""The spec reference: every JSON Schema field has a description and an example that the schema accepts, and
docs/spec.md is the one generated from the schema (regenerate: python -m gpuslice.spec_docs > docs/spec.md)."""

from __future__ import annotations

import jsonschema

from gpuslice.spec import json_schema
from gpuslice.spec_docs import spec_markdown, undocumented
from tests.helpers import ROOT


def test_every_field_has_a_description_and_an_example():
    assert undocumented(json_schema()) == []


def test_every_example_is_valid_for_its_field():
    schema = json_schema()
    models = [("Spec", schema), *(schema["$defs"].items())]
    checked = 0
    for name, model in models:
        for field, prop in model.get("properties", {}).items():
            sub = {**prop, "$defs": schema["$defs"]}
            for example in prop["examples"]:
                errors = list(jsonschema.Draft202012Validator(sub).iter_errors(example))
                assert not errors, f"{name}.{field} example {example!r}: {errors[0].message}"
                checked += 1
    assert checked >= 60


def test_docs_spec_md_is_generated_from_the_schema():
    committed = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert committed == spec_markdown(json_schema()), (
        "docs/spec.md is stale: run `python -m gpuslice.spec_docs > docs/spec.md`"
    )
    for field in ("deploymentId", "nodePools", "failRequestsGreaterThanOne", "sizeGiB", "pullSecrets"):
        assert f"`{field}`" in committed
