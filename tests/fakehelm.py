"""A stand-in for the helm binary, for apply tests (there is no cluster to install into here).

It keeps helm's record of releases in a state folder and answers the commands gpuslice uses with helm's real
output formats: ``list --deployed --failed ... --filter ^NAME$ -o json`` (``--all`` is refused, as helm 4
does), ``get values NAME -o json``, ``history NAME -o json`` (the latest revision), ``upgrade --install``.
Stale-release recovery (rollback, uninstall, ``get metadata``) is tested with the real helm instead
(tests/test_helm_recovery.py).
``template`` and ``version`` are passed to the real helm, so dry-run renders the real chart. Each ``upgrade``
first consumes the next planned failure (helm's real stderr text and exit code; optionally "the upgrade went
through but the answer was lost"). Every argv is logged for the tests to assert.

Used by writing a tiny launcher script into a temporary folder (:func:`install`) and pointing ``GPUSLICE_HELM``
or ``--helm`` at it.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_ENV = "FAKEHELM_STATE"
REAL_ENV = "FAKEHELM_REAL"


@dataclass
class FakeHelm:
    path: Path  # the executable to give gpuslice
    state: Path

    def plan_failures(self, *failures: dict[str, Any]) -> None:
        """Each: {"stderr": str, "exit": int, "apply": bool (the release is recorded anyway)}."""
        (self.state / "failures.json").write_text(json.dumps(list(failures)), encoding="utf-8")

    def argv(self) -> list[list[str]]:
        log = self.state / "argv.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    def calls(self, command: str) -> list[list[str]]:
        return [a for a in self.argv() if a and a[0] == command]

    def releases(self) -> dict[str, Any]:
        p = self.state / "releases.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    def set_release(
        self,
        name: str,
        namespace: str,
        chart: str,
        values: dict[str, Any],
        *,
        status: str = "deployed",
        revision: int = 1,
    ) -> None:
        rel = self.releases()
        rel[f"{namespace}/{name}"] = {
            "name": name,
            "namespace": namespace,
            "revision": revision,
            "status": status,
            "chart": chart,
            "values": values,
        }
        (self.state / "releases.json").write_text(json.dumps(rel), encoding="utf-8")

    def values_passed(self) -> list[dict[str, Any]]:
        out = []
        for i in range(100):
            p = self.state / f"values-{i}.json"
            if not p.exists():
                break
            out.append(json.loads(p.read_text(encoding="utf-8")))
        return out


def install(folder: Path, real_helm: str | None = None) -> FakeHelm:
    state = folder / "fakehelm-state"
    state.mkdir(parents=True, exist_ok=True)
    exe = folder / "helm"
    exe.write_text(
        "#!/bin/sh\n"
        f"export {STATE_ENV}='{state}'\n"
        + (f"export {REAL_ENV}='{real_helm}'\n" if real_helm else "")
        + f"exec '{sys.executable}' '{Path(__file__).resolve()}' \"$@\"\n",
        encoding="utf-8",
    )
    exe.chmod(0o755)
    return FakeHelm(exe, state)


# -- the executable --------------------------------------------------------------------------------------------


def _opt(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _chart_label(ref: str, args: list[str]) -> str:
    import yaml

    p = Path(ref)
    meta: dict[str, Any] = {}
    if p.is_dir():
        meta = yaml.safe_load((p / "Chart.yaml").read_text(encoding="utf-8"))
    elif p.is_file():
        with tarfile.open(p) as tf:
            member = next(m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
            fh = tf.extractfile(member)
            meta = yaml.safe_load(fh.read()) if fh else {}
    else:
        meta = {"name": ref, "version": _opt(args, "--version") or "0.0.0"}
    return f"{meta['name']}-{meta['version']}"


def _as_go(value: Any) -> Any:
    """What real helm keeps of a values file: sigs.k8s.io/yaml decodes every number as a float64, and Go's
    encoding/json prints an integral float64 without a fraction (4.0 -> 4; 2**53 + 1 -> 9007199254740992)."""
    if isinstance(value, dict):
        return {k: _as_go(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_go(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    f = float(value)
    return int(f) if f.is_integer() and abs(f) < 1e21 else f


def main(argv: list[str]) -> int:
    state = Path(os.environ[STATE_ENV])
    with (state / "argv.log").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(argv) + "\n")
    if not argv:
        return 1
    cmd = argv[0]
    if cmd in ("template", "version") and os.environ.get(REAL_ENV):
        os.execv(os.environ[REAL_ENV], [os.environ[REAL_ENV], *argv])
    rel_path = state / "releases.json"
    releases: dict[str, Any] = json.loads(rel_path.read_text(encoding="utf-8")) if rel_path.exists() else {}
    ns = _opt(argv, "--namespace") or "default"
    if cmd == "list":
        if "--all" in argv or "-a" in argv:  # helm 3 only; helm 4: `Error: unknown flag: --all`
            sys.stderr.write("Error: unknown flag: --all\n")
            return 1
        pattern = (_opt(argv, "--filter") or "").strip("^$")
        rows = [
            {
                "name": r["name"],
                "namespace": r["namespace"],
                "revision": str(r["revision"]),
                "updated": "2026-11-20 11:00:00.000000000 +0000 UTC",
                "status": r["status"],
                "chart": r["chart"],
                "app_version": "v26.7.0",
            }
            for r in releases.values()
            if r["namespace"] == ns and (not pattern or r["name"] == pattern)
        ]
        print(json.dumps(rows))
        return 0
    if cmd == "history":  # the fake keeps the latest revision only
        rel = releases.get(f"{ns}/{argv[1]}")
        if rel is None:
            sys.stderr.write("Error: release: not found\n")
            return 1
        row = {
            "revision": rel["revision"],
            "updated": "2026-11-20T11:00:00.000000000Z",
            "status": rel["status"],
            "chart": rel["chart"],
            "app_version": "v26.7.0",
            "description": "Install complete" if rel["status"] == "deployed" else "",
        }
        print(json.dumps([row]))
        return 0
    if cmd == "get" and argv[1:2] == ["values"]:
        rel = releases.get(f"{ns}/{argv[2]}")
        if rel is None:
            sys.stderr.write("Error: release: not found\n")
            return 1
        print(json.dumps(rel["values"] or None))
        return 0
    if cmd == "upgrade":
        name, chart = argv[2], argv[3]
        values_file = _opt(argv, "--values") or _opt(argv, "-f")
        values = _as_go(json.loads(Path(values_file).read_text(encoding="utf-8"))) if values_file else {}
        fail_path = state / "failures.json"
        failures = json.loads(fail_path.read_text(encoding="utf-8")) if fail_path.exists() else []
        failure = failures.pop(0) if failures else None
        fail_path.write_text(json.dumps(failures), encoding="utf-8")
        i = 0
        while (state / f"values-{i}.json").exists():
            i += 1
        (state / f"values-{i}.json").write_text(json.dumps(values), encoding="utf-8")
        if failure is None or failure.get("apply"):
            key = f"{ns}/{name}"
            old = releases.get(key)
            releases[key] = {
                "name": name,
                "namespace": ns,
                "revision": (old["revision"] + 1) if old else 1,
                "status": "deployed",
                "chart": _chart_label(chart, argv),
                "values": values,
            }
            rel_path.write_text(json.dumps(releases), encoding="utf-8")
        if failure is not None:
            sys.stderr.write(failure["stderr"] + "\n")
            return int(failure.get("exit", 1))
        verb = "upgraded" if old else "installed"
        print(f'Release "{name}" has been {verb}. Happy Helming!\nNAME: {name}\nNAMESPACE: {ns}\nSTATUS: deployed')
        return 0
    sys.stderr.write(f"Error: unknown command {cmd!r} for fake helm\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
