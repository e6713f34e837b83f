"""Turn the real-world doctor corpus (``tests/fixtures/realworld/doctor/<case>/case.yaml``) into dump folders.

Each case describes what one public issue thread showed: nodes (labels, OS), pods (container states, messages,
restart counts, log lines), events, DaemonSets and ConfigMaps. The evidence text in ``case.yaml`` is verbatim from
the thread; everything else this module adds is filler in the shape the API returns (uids, timestamps, the
DaemonSet that owns a listed pod, kubectl's dump layout), written by the helpers of :mod:`tests.k8sfixtures`.

Schema of ``case.yaml`` (every key optional except ``source``, ``root_cause`` and ``expect``)::

    source: URL of the thread          root_cause: what the thread settled on
    expect: [finding ids doctor must report]     absent: [ids it must not report]
    mentions: {finding id: [strings its message, fix or evidence must contain]}
    namespace: the operator namespace when not gpu-operator
    nodes: [{name, labels, os_image, kernel, capacity, gpu: true}]
    clusterpolicy: {cm_name, default, state}
    configmaps: [{namespace, name, data}]
    daemonsets: [{namespace, name, desired, ready, configmaps: [..], containers: [{name, image}]}]
    pods: [{namespace, name, node, daemonset, configmaps, labels,
            init: [container], containers: [container]}]
      container: {name, image, running: true | waiting: {reason, message} | terminated: {exit, reason, message},
                  restarts, last: {exit, reason, message}, log: "lines"}
    events: [{namespace, pod | node, reason, message, type, count}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests import k8sfixtures as kf

CORPUS = kf.ROOT / "fixtures" / "realworld" / "doctor"


def cases() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if (p / "case.yaml").is_file())


def load_case(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CORPUS / name / "case.yaml").read_text(encoding="utf-8"))
    return data


def _node(spec: dict[str, Any]) -> dict[str, Any]:
    name = spec["name"]
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(spec.get("labels") or {})}
    capacity = {k: str(v) for k, v in (spec.get("capacity") or {}).items()}
    info = {
        "osImage": spec.get("os_image", ""),
        "kernelVersion": spec.get("kernel", ""),
        "containerRuntimeVersion": spec.get("runtime", ""),
        "operatingSystem": "linux",
        "architecture": "amd64",
    }
    return {
        "metadata": {"name": name, "uid": kf.uid("node", name), "creationTimestamp": kf.T0, "labels": labels},
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "nodeInfo": {k: v for k, v in info.items() if v},
        },
    }


def _state(c: dict[str, Any]) -> dict[str, Any]:
    name, image = c["name"], c.get("image", "")
    restarts = int(c.get("restarts", 0))
    last = c.get("last")
    last_state: dict[str, Any] = {}
    if last:
        t = {"exitCode": last.get("exit", 1), "reason": last.get("reason", "Error"), "finishedAt": kf.T2}
        if last.get("message"):
            t["message"] = last["message"]
        last_state = {"terminated": t}
    if c.get("running"):
        s = kf.running(name, image, restarts=restarts, ready=c.get("ready", True))
        s["lastState"] = last_state
        return s
    if "terminated" in c:
        t = c["terminated"]
        term = {"exitCode": t.get("exit", 1), "reason": t.get("reason", "Error"), "finishedAt": kf.T2}
        if t.get("message"):
            term["message"] = t["message"]
        return {
            "name": name,
            "state": {"terminated": term},
            "lastState": last_state,
            "ready": False,
            "restartCount": restarts,
            "image": image,
            "imageID": "",
            "started": False,
        }
    w = c.get("waiting") or {"reason": "PodInitializing"}
    s = kf.waiting(name, image, w["reason"], w.get("message"), restarts=0)
    s["restartCount"] = restarts
    s["lastState"] = last_state
    return s


def _pod(p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    ns, name = p["namespace"], p["name"]
    ds = p.get("daemonset")
    owner = ("DaemonSet", ds) if ds else (tuple(p["owner"].split("/", 1)) if p.get("owner") else None)
    labels = dict(p.get("labels") or ({"app": ds} if ds else {}))
    init = p.get("init") or []
    containers = p.get("containers") or []
    vols = [kf.configmap_volume(cm) for cm in p.get("configmaps") or ()]
    pod = kf.pod(
        name,
        ns,
        p.get("node"),
        containers=[kf.container(c["name"], c.get("image", "")) for c in containers],
        init=[kf.container(c["name"], c.get("image", "")) for c in init],
        statuses=[_state(c) for c in containers],
        init_statuses=[_state(c) for c in init],
        labels=labels,
        owner=owner,  # type: ignore[arg-type]
        volumes=vols,
        phase=p.get("phase"),
    )
    logs = {c["name"]: str(c["log"]).rstrip("\n").split("\n") for c in [*init, *containers] if c.get("log")}
    return pod, logs


def _daemonset(d: dict[str, Any]) -> dict[str, Any]:
    ns, name = d["namespace"], d["name"]
    desired = int(d.get("desired", 1))
    ready = int(d.get("ready", desired))
    sel = d.get("labels") or {"app": name}
    tpl: dict[str, Any] = {"containers": d.get("containers") or [{"name": name, "image": d.get("image", "")}]}
    if d.get("configmaps"):
        tpl["volumes"] = [kf.configmap_volume(cm) for cm in d["configmaps"]]
    status = {
        "currentNumberScheduled": desired,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "numberAvailable": ready,
        "updatedNumberScheduled": desired,
        "numberMisscheduled": 0,
        "observedGeneration": 1,
    }
    if desired > ready:
        status["numberUnavailable"] = desired - ready
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": kf.uid("DaemonSet", ns, name),
            "generation": 1,
            "creationTimestamp": kf.T0,
            "labels": sel,
        },
        "spec": {"selector": {"matchLabels": sel}, "template": {"metadata": {"labels": sel}, "spec": tpl}},
        "status": status,
    }


def build(case: dict[str, Any]) -> kf.Cluster:
    c = kf.Cluster(namespace=case.get("namespace", "gpu-operator"))
    c.nodes = [_node(n) for n in case.get("nodes") or ()]
    if "clusterpolicy" in case:
        cp = case["clusterpolicy"] or {}
        c.clusterpolicies = [
            kf.clusterpolicy(
                state=cp.get("state", "notReady"),
                cm_name=cp.get("cm_name", ""),
                default=cp.get("default", ""),
                namespace=c.namespace,
            )
        ]
    for cm in case.get("configmaps") or ():
        c.configmaps.setdefault(cm["namespace"], []).append(
            kf.configmap(cm["name"], cm["namespace"], {k: str(v) for k, v in cm["data"].items()})
        )
    declared = {(d["namespace"], d["name"]) for d in case.get("daemonsets") or ()}
    for d in case.get("daemonsets") or ():
        c.daemonsets.setdefault(d["namespace"], []).append(_daemonset(d))
    owners: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in case.get("pods") or ():
        pod, logs = _pod(p)
        c.add_pod(pod, logs=logs or None)
        if p.get("daemonset"):
            owners.setdefault((p["namespace"], p["daemonset"]), []).append(p)
    # the DaemonSet of every listed DaemonSet pod (filler: desired = its pods, ready = those running)
    for (ns, name), pods in owners.items():
        if (ns, name) in declared:
            continue
        ready = sum(all(x.get("running") for x in p.get("containers") or ()) for p in pods)
        image = next((x.get("image", "") for p in pods for x in p.get("containers") or ()), "")
        c.daemonsets.setdefault(ns, []).append(
            _daemonset(
                {
                    "namespace": ns,
                    "name": name,
                    "desired": len(pods),
                    "ready": ready,
                    "configmaps": sorted({cm for p in pods for cm in p.get("configmaps") or ()}),
                    "containers": [{"name": x["name"], "image": x.get("image", "")} for x in pods[0]["containers"]],
                    "image": image,
                }
            )
        )
    pods_by = {(p["namespace"], p["name"]): p for p in case.get("pods") or ()}
    for e in case.get("events") or ():
        if "node" in e:
            kind, obj, host = "Node", e["node"], e["node"]
        else:
            kind, obj = "Pod", e["pod"]
            host = (pods_by.get((e["namespace"], obj)) or {}).get("node")
        c.add_event(
            kf.event(
                e["namespace"],
                kind,
                obj,
                e["reason"],
                e["message"],
                type_=e.get("type", "Warning"),
                count=int(e.get("count", 1)),
                host=host,
            )
        )
    return c


def write(name: str, root: Path) -> Path:
    """The case as a `kubectl cluster-info dump` folder (plus clusterpolicies/configmaps when the case has them)."""
    case = load_case(name)
    c = build(case)
    out = c.write_dump(root / name)
    if not case.get("clusterpolicy"):
        (out / "clusterpolicies.json").unlink(missing_ok=True)
    return out


def docs_table() -> str:
    """The corpus table of docs/cluster-ops.md (case, thread, root cause, finding ids)."""
    rows = ["| case | thread | root cause | finding |", "|---|---|---|---|"]
    for name in cases():
        c = load_case(name)
        src = c["source"].replace("https://github.com/", "")
        rc = " ".join(str(c["root_cause"]).split())
        if len(rc) > 150:
            rc = rc[:147].rsplit(" ", 1)[0] + " …"
        ids = "`, `".join(c["expect"])
        rows.append(f"| `{name}` | [{src}]({c['source']}) | {rc.replace('|', '/')} | `{ids}` |")
    return "\n".join(rows)


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2:
        sys.exit(
            "usage: python -m tests.realworld_dumps DIR [CASE ...]  (writes DIR/<case> for each case, default all)"
        )
    target = Path(sys.argv[1])
    for case_name in sys.argv[2:] or cases():
        print(write(case_name, target))
