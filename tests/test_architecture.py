"""Structural rules of the code base (docs/architecture.md): one home per rule, one exception tree.

Static scans over src/gpuslice: each fails with the file that breaks the rule."""

from __future__ import annotations

import ast
import re

from gpuslice.bench.mps import MpsUnavailable
from gpuslice.bench.runner import BenchError
from gpuslice.errors import GpusliceError
from tests.helpers import ROOT

SRC = ROOT / "src" / "gpuslice"
#: ValueError subclasses that never leave their module: pydantic needs a ValueError (spec.FieldError), the YAML and
#: JSON decoders signal with one (goyaml.Unsupported, model.DecodeError); each is turned into a SpecError/finding.
INTERNAL_VALUE_ERRORS = {"FieldError", "Unsupported", "DecodeError"}


def _sources() -> dict[str, str]:
    return {str(p.relative_to(SRC)): p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.py"))}


def test_every_gpuslice_exception_is_a_gpuslice_error():
    assert issubclass(BenchError, GpusliceError) and issubclass(MpsUnavailable, GpusliceError)
    bases: dict[str, list[str]] = {}
    for text in _sources().values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]

    def ancestors(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        out: set[str] = set()
        for b in bases.get(name, []):
            if b not in seen:
                out |= {b} | ancestors(b, seen | {name})
        return out

    errors = [
        n for n, bs in bases.items() if any(b.endswith(("Error", "Exception")) for b in bs) or n.endswith("Error")
    ]
    outside = sorted(n for n in errors if n != "GpusliceError" and "GpusliceError" not in ancestors(n))
    assert outside == sorted(INTERNAL_VALUE_ERRORS), outside


def test_kubernetes_name_rules_are_written_only_in_names_py():
    pieces = ("[-a-z0-9]", "[-A-Za-z0-9_.]", "[-._a-zA-Z0-9]")
    offenders = [rel for rel, text in _sources().items() if rel != "names.py" and any(p in text for p in pieces)]
    assert offenders == []


def test_packaged_yaml_is_read_by_the_one_loader():
    """``yamlio.load_packaged`` reads gpuslice's own YAML data (libyaml, duplicate keys refused, CatalogError)."""
    pattern = re.compile(r"resources\.files\([^)]*\)\.joinpath\([^)]*\.ya?ml")
    offenders = [rel for rel, text in _sources().items() if rel != "yamlio.py" and pattern.search(text)]
    assert offenders == []


def test_renderers_ask_the_bootstrap_family_object_not_its_name():
    pattern = re.compile(r"""[!=]=\s*["'](ubuntu-eks|al2-eks|nodeadm|bottlerocket)["']|in \(["'](ubuntu-eks|nodeadm)""")
    scoped = ("render/", "cdk/", "checks/")
    offenders = [rel for rel, text in _sources().items() if rel.startswith(scoped) and pattern.search(text)]
    assert offenders == []
