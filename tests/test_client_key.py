"""A kubeconfig's client key (client-key-data) never stays on disk: the official client would write it decoded to
a temporary file and delete it only at exit (a killed gpuslice left the private key in /tmp). Proven against a real
TLS server that requires the client certificate (certificates made with the openssl binary)."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpuslice.cluster.kube import KubeClient
from gpuslice.cluster.retry import Retrier, RetryPolicy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=fake-ca", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for who in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}.key", "-out", f"{who}.csr",
                 "-subj", f"/CN={who}", cwd=d)  # fmt: skip
        extra = ["-extfile", "san.cnf"] if who == "server" else []
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{who}.crt", "-days", "2", *extra, cwd=d)  # fmt: skip
    return d


@pytest.fixture
def server(pki):
    seen: list[str] = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.connection.getpeercert()["subject"][0][0][1])
            body = json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no answer
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, seen
    srv.shutdown()
    srv.server_close()


def _b64(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


def _key_files_in_tmp(key_text: str) -> list[Path]:
    out = []
    for p in Path(tempfile.gettempdir()).iterdir():
        try:
            if p.is_file() and p.stat().st_size < 100_000 and key_text in p.read_text(errors="ignore"):
                out.append(p)
        except OSError:
            continue
    return out


def test_client_key_is_used_then_removed_from_disk(tmp_path, pki, server):
    srv, seen = server
    kc = tmp_path / "kubeconfig"
    kc.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": f"https://127.0.0.1:{srv.server_address[1]}",
                            "certificate-authority-data": _b64(pki / "ca.crt"),
                        },
                    }
                ],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "users": [
                    {
                        "name": "u",
                        "user": {
                            "client-certificate-data": _b64(pki / "client.crt"),
                            "client-key-data": _b64(pki / "client.key"),
                        },
                    }
                ],
            }
        )
    )
    key_body = (pki / "client.key").read_text().splitlines()[1]  # a line of the private key itself
    k = KubeClient(str(kc), retrier=Retrier(policy=RetryPolicy(max_attempts=1)))
    assert _key_files_in_tmp(key_body) == []  # gone before the first request
    for _ in range(2):  # new connections still present the certificate
        k._apis["core"].api_client.rest_client.pool_manager.clear()
        assert k.list("nodes")["kind"] == "NodeList"
    assert seen == ["client", "client"]
    assert _key_files_in_tmp(key_body) == []
