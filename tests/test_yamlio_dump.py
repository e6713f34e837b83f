"""dump_yaml builds the nodes of plain strings, dicts and lists itself (the generic representer was most of the
Python time of emitting a large plan); the text must be exactly PyYAML's SafeDumper output with gpuslice's
settings, for the documents the renderers emit and for data they do not emit today."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gpuslice.render import bootstrap as bs
from gpuslice.render import nodegroups, smoke
from gpuslice.render.bootstrap import nodeadm
from gpuslice.yamlio import dump_yaml, dump_yaml_all
from tests.test_bootstrap import POOLS, matrix

SETTINGS: dict[str, Any] = dict(sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


class Reference(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's own representer, multi-line strings as literal blocks (what dump_yaml always wrote)."""


Reference.add_representer(
    str,
    lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None),
)


def reference(data: Any) -> str:
    return yaml.dump(data, Dumper=Reference, **SETTINGS)


def rendered_documents() -> list[Any]:
    r = matrix()
    docs: list[Any] = [*nodegroups.karpenter_manifests(r), nodegroups.eksctl_config(r)]
    for _, res, p in POOLS:
        docs.append(nodegroups.eksctl_config(res, [p]))
        if p.sharing.shared and smoke.expected_pods(p):
            docs += smoke.smoke_pods(res, p, "registry.example/validator:v1", count=2)
        if bs.supported(p) and bs.bootstrap_family(p).name == "nodeadm":
            docs.append(nodeadm.node_config(res, p))
    return docs


def test_rendered_documents_are_what_pyyaml_writes():
    docs = rendered_documents()
    assert len(docs) > 20
    for doc in docs:
        assert dump_yaml(doc) == reference(doc)
    assert dump_yaml_all(docs) == yaml.dump_all(docs, Dumper=Reference, **SETTINGS)


SHARED = {"a": 1}
LISTED = [1, 2]
RECURSIVE: dict[str, Any] = {"name": "loop"}
RECURSIVE["self"] = RECURSIVE


@pytest.mark.parametrize(
    "data",
    [
        {"scalars": [None, True, False, 0, -7, 1.5, float("inf"), "", "0644", "true", "null", "~", "1e3", "a: b"]},
        {"multi": "line one\nline two\n", "no-final-newline": "x\ny", "leading": "  indented\ntext", "cr": "a\rb"},
        {"unicode": "café ✓", "key with spaces": "- dash", "#": "#comment", "quote": 'it\'s "q"'},
        {7: "int key", None: "none key", True: "bool key", 2.5: "float key"},
        {"empty-dict": {}, "empty-list": [], "nested": [[[]], [{}], {"a": [{"b": {"c": []}}]}]},
        {"shared": [SHARED, SHARED], "lists": [LISTED, LISTED]},
        RECURSIVE,
        ["top", "level", ["list"]],
        "just a string",
        "multi\nline",
        42,
        None,
        [],
        {},
        {"long": "x" * 3000, "long-words": " ".join(["word"] * 600)},
    ],
)
def test_edge_data_is_what_pyyaml_writes(data):
    assert dump_yaml(data) == reference(data)


def test_a_shared_object_is_still_an_anchor_and_alias():
    assert "&id001" in dump_yaml({"x": [SHARED, SHARED]}) and "*id001" in dump_yaml({"x": [SHARED, SHARED]})


def test_types_outside_the_fast_path_are_refused_as_before():
    with pytest.raises(yaml.representer.RepresenterError):
        dump_yaml({"a": object()})
    with pytest.raises(yaml.representer.RepresenterError):
        reference({"a": object()})
