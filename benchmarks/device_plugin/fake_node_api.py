"""A tiny stand-in for the Kubernetes API that serves one Node, for NVIDIA's ``config-manager``.

config-manager lists and watches ``/api/v1/nodes?fieldSelector=metadata.name=<node>`` (client-go informer,
NVIDIA/k8s-device-plugin ``cmd/config-manager/main.go``) and switches the plugin's config when the node's
``nvidia.com/device-plugin.config`` label changes. Here the label's value comes from a file (``--label-file``):
write a new key into it and the watch sends a MODIFIED event, as the API server would after
``kubectl label node``.

Supports what the informer uses: list (JSON NodeList with a resourceVersion), watch (chunked JSON event
stream, also the streaming-list form with ``sendInitialEvents=true``: ADDED then a BOOKMARK marked
``k8s.io/initial-events-end``). Anything else is a 404 Status.

usage: python fake_node_api.py --node NAME --label-file FILE --port-file FILE [--kubeconfig FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

LABEL = "nvidia.com/device-plugin.config"


class NodeState:
    def __init__(self, node: str, label_file: Path) -> None:
        self.node = node
        self.label_file = label_file
        self.rv = 1
        self.value = self._read()
        self.cond = threading.Condition()
        threading.Thread(target=self._poll, daemon=True).start()

    def _read(self) -> str:
        try:
            return self.label_file.read_text().strip()
        except OSError:
            return ""

    def _poll(self) -> None:
        while True:
            time.sleep(0.1)
            v = self._read()
            if v != self.value:
                with self.cond:
                    self.value = v
                    self.rv += 1
                    self.cond.notify_all()

    def obj(self) -> dict[str, Any]:
        labels = {"kubernetes.io/hostname": self.node}
        if self.value:
            labels[LABEL] = self.value
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node, "resourceVersion": str(self.rv), "labels": labels, "uid": "fake-node-uid"},
        }


def handler(state: NodeState) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write("fake-node-api: " + (format % args) + "\n")

        def _json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chunk(self, ev: dict[str, Any]) -> None:
            data = json.dumps(ev).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def do_GET(self) -> None:
            u = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(u.query).items()}
            if u.path != "/api/v1/nodes":
                self._json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
                return
            sel = q.get("fieldSelector", "")
            match = sel in ("", f"metadata.name={state.node}")
            if q.get("watch") not in ("true", "1"):
                with state.cond:
                    items = [state.obj()] if match else []
                    rv = str(state.rv)
                self._json(
                    200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            timeout = float(q.get("timeoutSeconds", "300"))
            deadline = time.monotonic() + timeout
            try:
                with state.cond:
                    seen = int(q.get("resourceVersion") or 0)
                    if q.get("sendInitialEvents") == "true":
                        if match:
                            self._chunk({"type": "ADDED", "object": state.obj()})
                        bm = {
                            "kind": "Node",
                            "apiVersion": "v1",
                            "metadata": {
                                "resourceVersion": str(state.rv),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        }
                        self._chunk({"type": "BOOKMARK", "object": bm})
                        seen = state.rv
                    while time.monotonic() < deadline:
                        if state.rv > seen and match:
                            seen = state.rv
                            self._chunk({"type": "MODIFIED", "object": state.obj()})
                        state.cond.wait(timeout=1.0)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

    return H


def kubeconfig(url: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        },
        indent=1,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="serve one Node whose config label comes from a file")
    ap.add_argument("--node", required=True)
    ap.add_argument("--label-file", required=True, type=Path)
    ap.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for this server here")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args(argv)
    state = NodeState(a.node, a.label_file)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), handler(state))
    srv.daemon_threads = True
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    if a.kubeconfig:
        a.kubeconfig.write_text(kubeconfig(url) + "\n")
    print(url, flush=True)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
