"""Regenerate the docs that are generated from gpuslice's data: docs/findings.md (the finding registry).

Run after changing src/gpuslice/data/findings.yaml:  python scripts/gen_docs.py
tests/test_findings_registry.py fails while a generated doc is stale.
"""

from __future__ import annotations

from pathlib import Path

from gpuslice.findings import findings_markdown

ROOT = Path(__file__).resolve().parent.parent

GENERATED = {"docs/findings.md": findings_markdown}


def main() -> None:
    for rel, make in GENERATED.items():
        path = ROOT / rel
        text = make()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")


if __name__ == "__main__":
    main()
