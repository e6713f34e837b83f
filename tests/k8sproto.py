"""Just enough of the Kubernetes protobuf wire format for the fake API server to read what helm sends.

client-go writes built-in kinds as ``application/vnd.kubernetes.protobuf``: the bytes ``k8s\\0`` then a
``runtime.Unknown`` message (1: TypeMeta{1 apiVersion, 2 kind}, 2: raw object bytes). helm's release records are
Secrets, or ConfigMaps with ``HELM_DRIVER=configmap`` (``k8s.io/api/core/v1/generated.proto``: ConfigMap{1
metadata, 2 data map<string,string>}; Secret{1 metadata, 2 data map<string,bytes>, 3 type,
4 stringData, 5 immutable}; ObjectMeta{1 name, 2 generateName, 3 namespace, 5 uid, 6 resourceVersion,
11 labels, 12 annotations}). Decoded into the JSON shape the API would serve. Anything else decodes to its
TypeMeta only.

SOURCE: field numbers from k8s.io/api core/v1 and k8s.io/apimachinery meta/v1 and runtime generated.proto.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of every field of a message: varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
            out.append((num, v))
        elif wire == 2:
            n, i = _varint(buf, i)
            out.append((num, buf[i : i + n]))
            i += n
        elif wire == 1:
            out.append((num, buf[i : i + 8]))
            i += 8
        elif wire == 5:
            out.append((num, buf[i : i + 4]))
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _map_entry(b: bytes) -> tuple[str, bytes]:
    f = dict(fields(b))
    k, v = f.get(1, b""), f.get(2, b"")
    return (k.decode() if isinstance(k, bytes) else str(k)), (v if isinstance(v, bytes) else b"")


def _meta(b: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for num, v in fields(b):
        if num in names and isinstance(v, bytes):
            meta[names[num]] = v.decode()
        elif num in (11, 12) and isinstance(v, bytes):
            k, val = _map_entry(v)
            meta.setdefault("labels" if num == 11 else "annotations", {})[k] = val.decode()
    return meta


def decode(raw: bytes) -> dict[str, Any]:
    """A protobuf request body as the JSON object the API would hold."""
    if not raw.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body")
    top = dict(fields(raw[len(MAGIC) :]))
    tm = dict(fields(top.get(1, b"")))  # type: ignore[arg-type]
    api_version = tm.get(1, b"").decode()  # type: ignore[union-attr]
    kind = tm.get(2, b"").decode()  # type: ignore[union-attr]
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    body = top.get(2, b"")
    if kind not in ("Secret", "ConfigMap") or not isinstance(body, bytes):
        return obj
    if kind == "ConfigMap":  # ConfigMap{1 metadata, 2 data map<string,string>, 3 binaryData, 4 immutable}
        for num, v in fields(body):
            if num == 1 and isinstance(v, bytes):
                obj["metadata"] = _meta(v)
            elif num == 2 and isinstance(v, bytes):
                k, val = _map_entry(v)
                obj.setdefault("data", {})[k] = val.decode()
        obj.setdefault("metadata", {})
        return obj
    for num, v in fields(body):
        if num == 1 and isinstance(v, bytes):
            obj["metadata"] = _meta(v)
        elif num == 2 and isinstance(v, bytes):
            k, val = _map_entry(v)
            obj.setdefault("data", {})[k] = base64.b64encode(val).decode()
        elif num == 3 and isinstance(v, bytes):
            obj["type"] = v.decode()
        elif num == 5 and isinstance(v, int):
            obj["immutable"] = bool(v)
    obj.setdefault("metadata", {})
    return obj
