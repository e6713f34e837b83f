"""Robustness figures: fuzzed inputs, apply under injected faults and killed helm, SIGKILLed plans, planted secrets.

    .venv/bin/python benchmarks/robustness_figures.py [--specs 300] [--configs 200] [--dumps 150] [--applies 6]
        [--killed 4] [--sigkills 12] [--seed 1] [--json out.json]

Every section is bounded by its count (defaults finish in a few minutes on a laptop); raise them for a long run.
It prints one table; every failure column should be 0:

- fuzzed specs (``check``, and ``plan`` for one in ten), device-plugin configs (``lint-config``) and dumps
  (``doctor --dump``): uncaught exceptions, "internal error" lines, exit codes outside {0, 1, 2}, the worst time
  of one run (wall, which follows the machine's load, and CPU), and for dumps the damaged ones doctor called healthy (exit 0, no findings) although a file it needs
  was broken;
- apply (real helm binary, a small chart, the fake API server) with 30 % of API requests failing at random
  (503/500/429/reset before or after the write): converged, duplicate node-label writes, duplicate release
  revisions, and whether a second apply changes nothing; the same after a helm killed mid-install or
  mid-upgrade (SIGKILL), recovered by the next apply (``--stale-after 0``: the figure takes the operator's word
  that nothing runs, instead of waiting out helm's timeout);
- ``gpuslice plan`` SIGKILLed at random moments: output folders that are half-written, and stray temporaries
  left after the next run;
- planted secrets (tests/test_secrets_everywhere.py: kubeconfig, spec, config, helm stderr, dump) found in any
  output of any verb.

Uses the test helpers (tests/), so run it from the repository root with ``PYTHONPATH=src``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# -- running the CLI in-process ---------------------------------------------------------------------------------


def _runner() -> Callable[..., Any]:
    from typer.testing import CliRunner

    from gpuslice.cli import app, build_app

    build_app()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)

    return invoke


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tried = 0
        self.uncaught = 0
        self.internal = 0
        self.bad_exit = 0
        self.worst = 0.0
        self.worst_label = ""
        self.worst_cpu = 0.0
        self.silent = 0  # dumps only: damaged, yet exit 0 and no findings
        self.examples: list[str] = []

    def run(self, cli: Callable[..., Any], label: str, *argv: str) -> Any:
        t, c = time.perf_counter(), time.process_time()
        r = cli(*argv)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        self.worst_cpu = max(self.worst_cpu, dc)
        self.tried += 1
        if dt > self.worst:
            self.worst, self.worst_label = dt, label
        exc = r.exception if r.exception is not None and not isinstance(r.exception, SystemExit) else None
        if exc is not None:
            self.uncaught += 1
            self._note(f"{label}: uncaught {type(exc).__name__}: {exc}"[:300])
        out = (r.stdout or "") + (r.stderr or "")
        if "internal error" in out:
            self.internal += 1
            self._note(f"{label}: {out.strip().splitlines()[-1][:300]}")
        if r.exit_code not in (0, 1, 2):
            self.bad_exit += 1
            self._note(f"{label}: exit {r.exit_code}")
        return r

    def _note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)

    def row(self) -> dict[str, Any]:
        return {
            "tried": self.tried,
            "uncaught": self.uncaught,
            "internalErrors": self.internal,
            "exitsOutside012": self.bad_exit,
            "worstSeconds": round(self.worst, 2),
            "worstInput": self.worst_label,
            "worstCpuSeconds": round(self.worst_cpu, 2),
            **({"silentDamaged": self.silent} if self.name == "dumps" else {}),
            "examples": self.examples,
        }


# -- fuzzing ---------------------------------------------------------------------------------------------------

_ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    float("inf"),
    "",
    "x" * 5000,
    "ü\u202e\u0000",
    "${HOME}",
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": None}},
    "v26.7.0",
    "g5.xlarge",
    "1e3",
]


def _walk(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _walk(v, (*path, i))
    return out


def _mutate_tree(data: Any, rng: random.Random) -> Any:
    import copy

    d = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _walk(d) if p]
        if not paths:
            break
        p = rng.choice(paths)
        parent = d
        for step in p[:-1]:
            parent = parent[step]
        op = rng.random()
        if op < 0.25 and isinstance(parent, dict):
            parent.pop(p[-1], None)
        elif op < 0.35 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[p[-1]]))
        elif op < 0.45 and isinstance(parent, dict):
            parent[p[-1] + rng.choice(["x", "_", "Name"]) if isinstance(p[-1], str) else p[-1]] = parent.pop(p[-1])
        else:
            parent[p[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
    return d


def _mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or [""]
    op = rng.randrange(9)
    if op == 0:
        return text[: rng.randrange(len(text) + 1)]
    if op == 1:  # a duplicate key
        i = rng.randrange(len(lines))
        return "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]])
    if op == 2:
        i = rng.randrange(len(text) + 1)
        return (
            text[:i]
            + rng.choice(["\t", "\x00", "\ufeff", ": :", "- - -", "&a ", "*a", "!!binary ", "{", "]"])
            + text[i:]
        )
    if op == 3:
        n = rng.choice([200, 2000, 20000])
        return text + "deep: " + "[" * n + "]" * n + "\n"
    if op == 4:
        return text + "deep:\n" + "".join(" " * i + "k:\n" for i in range(1, rng.choice([150, 600]))) + "\n"
    if op == 5:  # an alias bomb
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=False)
        )
        return text + bomb
    if op == 6:
        return text.encode("utf-8")[: rng.randrange(len(text) + 1)].decode("utf-8", "ignore") + "\udcff"
    if op == 7:
        return "\n".join(line[::-1] if rng.random() < 0.1 else line for line in text.splitlines())
    return text + rng.choice(["---\nkind: Other\n", "...\n", "%YAML 1.1\n---\n", "? [a]\n: b\n"])


def _dump_yaml(data: Any) -> str:
    import yaml

    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except Exception:
        return json.dumps(data, default=str)


def fuzz_specs(cli: Callable[..., Any], n: int, rng: random.Random, work: Path) -> Tally:
    import yaml

    t = Tally("specs")
    seeds = [p for p in (ROOT / "examples").glob("*.yaml")] + [ROOT / "tests" / "fixtures" / "dumps" / "gpuslice.yaml"]
    texts = [p.read_text(encoding="utf-8") for p in seeds]
    for i in range(n):
        text = rng.choice(texts)
        if rng.random() < 0.5:
            text = _dump_yaml(_mutate_tree(yaml.safe_load(text), rng))
        else:
            text = _mutate_text(text, rng)
        spec = work / f"spec-{i}.yaml"
        try:
            spec.write_text(text, encoding="utf-8", errors="surrogateescape")
        except UnicodeEncodeError:
            spec.write_bytes(text.encode("utf-8", "replace"))
        t.run(cli, spec.name, "check", str(spec), "-o", "json")
        if i % 10 == 0:
            t.run(cli, spec.name + " plan", "plan", str(spec), "-d", str(work / f"out-{i}"), "--force")
    return t


def fuzz_configs(cli: Callable[..., Any], n: int, rng: random.Random, work: Path) -> Tally:
    import yaml

    t = Tally("configs")
    seeds = sorted((ROOT / "tests" / "fixtures" / "lint").rglob("*.yaml"))[:60] or [
        ROOT / "examples" / "eks-ubuntu.yaml"
    ]
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in seeds]
    for i in range(n):
        text = rng.choice(texts)
        if rng.random() < 0.5:
            try:
                text = _dump_yaml(_mutate_tree(yaml.safe_load(text), rng))
            except Exception:
                text = _mutate_text(text, rng)
        else:
            text = _mutate_text(text, rng)
        cfg = work / f"config-{i}.yaml"
        cfg.write_bytes(text.encode("utf-8", "replace"))
        t.run(cli, cfg.name, "lint-config", str(cfg), "-o", "json")
    return t


_CORE = ("nodes", "gpu-operator/pods")


def _damage_dump(dump: Path, rng: random.Random) -> tuple[str, bool]:
    """Damage one file of ``dump``; returns (what was done, whether a file doctor needs was damaged)."""
    files = sorted(p for p in dump.rglob("*.json") if p.name != "expect.json")
    target = rng.choice(files)
    rel = str(target.relative_to(dump).with_suffix(""))
    core = rel in _CORE
    op = rng.randrange(12)
    if op == 0:
        target.write_text(json.dumps({"kind": "List", "items": rng.choice([7, True, "x", {"a": 1}])}))
    elif op == 1:
        n = rng.choice([2000, 50000])
        target.write_text('{"items": ' + "[" * n + "]" * n + "}")
    elif op == 2:
        data = target.read_bytes()
        target.write_bytes(data[: rng.randrange(len(data) + 1)])
    elif op == 3:
        target.unlink()
    elif op == 4:
        target.unlink()
        target.mkdir()
    elif op == 5:
        target.unlink()
        target.symlink_to(target)
    elif op == 6:
        target.write_bytes(os.urandom(rng.randint(1, 4096)))
    elif op == 7:
        other = rng.choice(files)
        shutil.copy(other, target) if other != target else None
        core = core and other != target
    elif op == 8:
        target.write_text("")
    elif op == 9:
        ns = rng.choice([p for p in dump.iterdir() if p.is_dir()])
        shutil.rmtree(ns)
        rel, core = ns.name + "/", ns.name == "gpu-operator"
    elif op == 10:
        for logs in dump.rglob("logs.txt"):
            logs.unlink()
        rel, core = "every logs.txt", False
    else:
        doc = json.loads(target.read_text())
        items = doc.get("items") or []
        for it in items:
            if isinstance(it, dict) and rng.random() < 0.5:
                it[rng.choice(["metadata", "status", "spec"])] = rng.choice(_ODD_VALUES)
        target.write_text(json.dumps(doc))
        core = False  # odd objects are skipped and reported; the file itself is readable
    return f"{rel} op{op}", core


def fuzz_dumps(cli: Callable[..., Any], n: int, rng: random.Random, work: Path) -> Tally:
    t = Tally("dumps")
    seeds = sorted(p for p in (ROOT / "tests" / "fixtures" / "dumps").iterdir() if p.is_dir())
    for i in range(n):
        seed = rng.choice(seeds)
        dump = work / f"dump-{i}"
        shutil.copytree(seed, dump, symlinks=True)
        what, core = _damage_dump(dump, rng)
        r = t.run(cli, f"{seed.name} {what}", "doctor", "--dump", str(dump), "-o", "json")
        if core and r.exit_code == 0:
            try:
                healthy = not json.loads(r.stdout).get("findings")
            except ValueError:
                healthy = False
            if healthy:
                t.silent += 1
                t._note(f"{seed.name} {what}: damaged, reported healthy")
        shutil.rmtree(dump, ignore_errors=True)
    return t


# -- apply under faults ------------------------------------------------------------------------------------------


def _apply_world(tmp: Path, chaos: float, seed: int) -> Any:
    from tests.fakeapi import FakeKube
    from tests.test_apply import CHART, fresh_cluster
    from tests.test_helm_recovery import World

    from gpuslice.cluster.apply import prepare

    w = World.__new__(World)
    w.api = FakeKube(fresh_cluster(), chaos=chaos, chaos_seed=seed).__enter__()
    w.kubeconfig = str(w.api.kubeconfig(tmp))
    from tests.test_helm_recovery import tiny_chart

    from gpuslice.cluster.helmops import Helm
    from gpuslice.cluster.retry import Retrier, RetryPolicy
    from gpuslice.helm import find_helm

    w.binary = find_helm()
    w.chart = tiny_chart(tmp)
    w.retrier = Retrier(policy=RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05, total_timeout=120))
    w.helm = Helm(helm=w.binary, kubeconfig=w.kubeconfig, retrier=w.retrier)
    prep = prepare(str(ROOT / "tests" / "fixtures" / "dumps" / "gpuslice.yaml"), chart=str(CHART))
    return w, prep


def _apply(w: Any, prep: Any, **opts: Any) -> Any:
    from gpuslice.cluster.apply import ApplyError, ApplyOptions, apply_release
    from gpuslice.cluster.kube import KubeClient

    kube = KubeClient(w.kubeconfig, retrier=w.retrier, request_timeout=(2.0, 10.0))
    o = ApplyOptions(wait=False, poll_interval=0.0, rollout_timeout=0.0, **opts)
    try:
        return apply_release(prep.resolved, {"replicas": 2}, w.chart, kube=kube, helm=w.helm, options=o), None
    except ApplyError as e:
        return e.result, str(e)


def _converged(w: Any, prep: Any) -> bool:
    name = prep.resolved.release_name
    recs = w.records(name)
    if not recs or recs[-1]["labels"]["status"] != "deployed":
        return False
    if recs[-1]["release"].get("config") != {"replicas": 2}:
        return False
    for pool in prep.resolved.pools:
        for n in w.api.items("nodes", ""):
            labels = n["metadata"].get("labels") or {}
            if labels.get("gpuslice.dev/pool") == pool.name and any(
                labels.get(k) != v for k, v in pool.node_labels.items()
            ):
                return False
    return True


_COMPLETED = ("Install complete", "Upgrade complete")


def apply_under_faults(runs: int, killed: int, rng: random.Random, work: Path) -> dict[str, Any]:
    out = {"runs": 0, "converged": 0, "convergedAfterRetryOfApply": 0, "duplicateLabelWrites": 0,
           "duplicateReleaseRevisions": 0, "recoveriesDuringFaults": 0, "secondApplyNoop": 0, "killedHelm": 0, "killedRecovered": 0,
           "examples": []}  # fmt: skip
    for i in range(runs + killed):
        tmp = work / f"apply-{i}"
        tmp.mkdir()
        is_killed = i >= runs
        w, prep = _apply_world(tmp, 0.0 if is_killed else 0.3, seed=rng.randrange(1 << 30))
        try:
            name = prep.resolved.release_name
            if is_killed:
                out["killedHelm"] += 1
                if rng.random() < 0.5:  # an upgrade killed (an earlier install succeeded)
                    w.helm.upgrade_install(name, prep.resolved.namespace, w.chart, {"replicas": 1}, wait=False)
                argv = [w.binary, "--kubeconfig", w.kubeconfig, "--namespace", prep.resolved.namespace, "upgrade",
                        "--install", name, str(w.chart.path), "--wait=legacy", "--timeout", "120s",
                        "--labels", "gpuslice.dev/managed-by=gpuslice", "--set", "replicas=3"]  # fmt: skip
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.2, 2.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                _res, err = _apply(w, prep, stale_after=0.0)
                if _converged(w, prep):
                    out["killedRecovered"] += 1
                else:
                    out["examples"].append(f"killed {i}: {err}"[:300])
            else:
                out["runs"] += 1
                _res, err = _apply(w, prep)
                if err is not None:  # the next apply (as a user would run it again)
                    _res, err = _apply(w, prep)
                    if err is None and _converged(w, prep):
                        out["convergedAfterRetryOfApply"] += 1
                if _converged(w, prep):
                    out["converged"] += 1
                elif len(out["examples"]) < 5:
                    out["examples"].append(f"run {i}: {err}"[:300])
                # each node needs at most one label patch; more that took effect are duplicates
                patches = w.api.applied("PATCH", r"^/api/v1/nodes/")
                out["duplicateLabelWrites"] += max(0, patches - len(w.api.items("nodes", "")))
                # an install/upgrade that completed twice for one apply (a retry after a lost answer): a duplicate;
                # a rollback made by a recovery is counted apart
                done = [r for r in w.records(name) if r["release"]["info"].get("description") in _COMPLETED]
                out["duplicateReleaseRevisions"] += max(0, len(done) - 1)
                out["recoveriesDuringFaults"] += len(w.helm.recoveries)
            w.api.chaos = 0.0
            before = len(w.records(name))
            res, err = _apply(w, prep)
            if err is None and not res.changed and len(w.records(name)) == before:
                out["secondApplyNoop"] += 1
        finally:
            w.close()
    return out


# -- SIGKILL during plan -------------------------------------------------------------------------------------------


def sigkill_plans(n: int, rng: random.Random, work: Path) -> dict[str, Any]:
    spec = ROOT / "examples" / "eks-ubuntu.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    exe = [sys.executable, "-c", "import sys; from gpuslice.cli import main; sys.argv[0]='gpuslice'; main()"]
    out_dir = work / "plan-out"
    t0 = time.perf_counter()
    subprocess.run([*exe, "plan", str(spec), "-d", str(out_dir)], env=env, capture_output=True, check=False)
    full = time.perf_counter() - t0
    reference = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*"))
    res = {"kills": 0, "halfWritten": 0, "strayAfterKill": 0, "strayAfterNextRun": 0, "fullRunSeconds": round(full, 2)}
    for _ in range(n):
        proc = subprocess.Popen([*exe, "plan", str(spec), "-d", str(out_dir)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.0, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        res["kills"] += 1
        if out_dir.exists():
            got = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*"))
            if got != reference:
                res["halfWritten"] += 1
        res["strayAfterKill"] += sum(1 for p in work.iterdir() if p.name.startswith(".plan-out."))
        subprocess.run([*exe, "plan", str(spec), "-d", str(out_dir)], env=env, capture_output=True, check=False)
        res["strayAfterNextRun"] += sum(1 for p in work.iterdir() if p.name.startswith(".plan-out."))
    return res


# -- planted secrets -------------------------------------------------------------------------------------------------


def planted_secrets(cli: Callable[..., Any], work: Path) -> dict[str, Any]:
    from tests.fakeapi import FakeKube
    from tests.fakehelm import install
    from tests.test_apply import fresh_cluster
    from tests.test_secrets_everywhere import run_every_verb

    from gpuslice.helm import find_helm

    api = FakeKube(fresh_cluster()).__enter__()
    helm = install(work / "helm-bin", real_helm=find_helm())
    old = os.environ.get("GPUSLICE_HELM")
    os.environ["GPUSLICE_HELM"] = str(helm.path)
    try:
        leaks, codes, _ = run_every_verb(cli, work, api, helm)
    finally:
        api.__exit__()
        if old is None:
            os.environ.pop("GPUSLICE_HELM", None)
        else:
            os.environ["GPUSLICE_HELM"] = old
    return {"runs": len(codes), "occurrences": sum(len(v) for v in leaks.values()), "where": sorted(leaks)[:10]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--specs", type=int, default=300)
    ap.add_argument("--configs", type=int, default=200)
    ap.add_argument("--dumps", type=int, default=150)
    ap.add_argument("--applies", type=int, default=6)
    ap.add_argument("--killed", type=int, default=4)
    ap.add_argument("--sigkills", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("GPUSLICE_OFFLINE", "1")  # fuzzed specs must not try to pull charts
    rng = random.Random(args.seed)
    cli = _runner()
    figures: dict[str, Any] = {"seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="gpuslice-figures-") as tmp:
        work = Path(tmp)
        for name, fn, n in (("specs", fuzz_specs, args.specs), ("configs", fuzz_configs, args.configs),
                            ("dumps", fuzz_dumps, args.dumps)):  # fmt: skip
            sub = work / name
            sub.mkdir()
            t0 = time.perf_counter()
            figures[name] = fn(cli, n, rng, sub).row()
            print(f"{name}: {json.dumps({k: v for k, v in figures[name].items() if k != 'examples'})} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        (work / "apply").mkdir()
        figures["apply"] = apply_under_faults(args.applies, args.killed, rng, work / "apply")
        print("apply:", json.dumps({k: v for k, v in figures["apply"].items() if k != "examples"}), flush=True)
        (work / "sigkill").mkdir()
        figures["sigkill"] = sigkill_plans(args.sigkills, rng, work / "sigkill")
        print("sigkill:", json.dumps(figures["sigkill"]), flush=True)
        (work / "secrets").mkdir()
        figures["secrets"] = planted_secrets(cli, work / "secrets")
        print("secrets:", json.dumps(figures["secrets"]), flush=True)
    for name in ("specs", "configs", "dumps", "apply"):
        for ex in figures[name].get("examples", []):
            print(f"  {name} example: {ex}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
