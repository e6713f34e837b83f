"""The live API through the official ``kubernetes`` client, kept thin: raw lists in, a handful of writes out.

Every call goes through one :class:`~gpuslice.cluster.retry.Retrier`, so 429/5xx answers, resets and timeouts
are retried with backoff and reported, and the client's own urllib3 retries are switched off (one policy, one
budget). Responses are read raw (``_preload_content=False``) so the rest of gpuslice sees the API's JSON exactly
as a dump stores it. Creates carry a token annotation: when a create is retried after a reset, the object that
the lost request did create is recognised as ours instead of being created twice.

The ``kubernetes`` package is imported here only, lazily, so ``gpuslice --help`` and dump-only doctor runs do
not pay for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpuslice.cluster.retry import FAST, Retrier, RetryEvent, RetryPolicy, Transient, classify_http
from gpuslice.cluster.source import CLUSTERPOLICIES, CONFIGMAPS, NODES, Raw
from gpuslice.errors import ClusterError, GpusliceError

CREATE_TOKEN = "gpuslice.dev/create-token"

# resource -> (api group object, list method, namespaced)
_LISTS: dict[str, tuple[str, str, bool]] = {
    NODES: ("core", "list_node", False),
    "pods": ("core", "list_namespaced_pod", True),
    "events": ("core", "list_namespaced_event", True),
    "services": ("core", "list_namespaced_service", True),
    "replication-controllers": ("core", "list_namespaced_replication_controller", True),
    CONFIGMAPS: ("core", "list_namespaced_config_map", True),
    "daemonsets": ("apps", "list_namespaced_daemon_set", True),
    "deployments": ("apps", "list_namespaced_deployment", True),
    "replicasets": ("apps", "list_namespaced_replica_set", True),
}
_ALL_NAMESPACES = {
    "pods": "list_pod_for_all_namespaces",
    "events": "list_event_for_all_namespaces",
    CONFIGMAPS: "list_config_map_for_all_namespaces",
    "daemonsets": "list_daemon_set_for_all_namespaces",
    "services": "list_service_for_all_namespaces",
    "replication-controllers": "list_replication_controller_for_all_namespaces",
    "deployments": "list_deployment_for_all_namespaces",
    "replicasets": "list_replica_set_for_all_namespaces",
}
_READS: dict[str, tuple[str, str]] = {
    "pods": ("core", "read_namespaced_pod"),
    CONFIGMAPS: ("core", "read_namespaced_config_map"),
    NODES: ("core", "read_node"),
    "daemonsets": ("apps", "read_namespaced_daemon_set"),
    "namespaces": ("core", "read_namespace"),
}
_CREATES: dict[str, tuple[str, str]] = {
    "pods": ("core", "create_namespaced_pod"),
    CONFIGMAPS: ("core", "create_namespaced_config_map"),
}
PAGE = 500


class NotFound(ClusterError):
    pass


class AlreadyExists(ClusterError):
    pass


class Conflict(ClusterError):
    """409 Conflict on an update: the object changed since it was read (its resourceVersion moved on)."""


SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _use_in_cluster(kubeconfig: str | None, context: str | None) -> bool:
    """No kubeconfig named or found, and running in a pod: use the in-cluster service account."""
    if kubeconfig or context or os.environ.get("KUBECONFIG"):
        return False
    if (Path.home() / ".kube" / "config").exists():
        return False
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _seal_client_key(cfg: Any, api: Any) -> None:
    """Keep a kubeconfig's decoded client key off the disk.

    The ``kubernetes`` client writes ``client-key-data`` (decoded) to a temporary file, hands its path to
    urllib3, which reads it at every new TLS connection, and deletes it only at interpreter exit: a gpuslice
    killed meanwhile leaves the private key in /tmp. Here the key and certificate are loaded once into the SSL
    context the connection pools use, and the temporary files are deleted at once. A key file the kubeconfig
    names itself (``client-key``) is the user's and is left alone; through a proxy the client's own path is kept
    (the temporary file is then removed at exit).
    """
    key = getattr(cfg, "key_file", None)
    if not key or getattr(cfg, "proxy", None):
        return
    from kubernetes.config import kube_config

    temp: dict[str, str] = getattr(kube_config, "_temp_files", {})
    ours = {k: v for k, v in temp.items() if v in (key, cfg.cert_file)}
    if key not in ours.values():
        return
    import ssl

    from urllib3.util.ssl_ import create_urllib3_context

    ctx = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if cfg.verify_ssl else ssl.CERT_NONE)
    ctx.load_cert_chain(cfg.cert_file, key)
    api.rest_client.pool_manager.connection_pool_kw.update(ssl_context=ctx, cert_file=None, key_file=None)
    for k, path in ours.items():
        with contextlib.suppress(OSError):
            os.remove(path)
        temp.pop(k, None)


class KubeClient:
    """A small facade over the official client. All methods raise :class:`ClusterError` on failure."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        policy: RetryPolicy | None = None,
        request_timeout: tuple[float, float] = (5.0, 30.0),
        on_retry: Callable[[RetryEvent], None] | None = None,
        retrier: Retrier | None = None,
    ) -> None:
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as e:  # pragma: no cover - the cluster extra is part of every install we make
            raise ClusterError("the `kubernetes` package is missing: pip install 'gpuslice[cluster]'") from e
        cfg = client.Configuration()
        try:
            if _use_in_cluster(kubeconfig, context):
                # In a pod (e.g. the bench Job, a CI runner) with no kubeconfig: the service account's token.
                from kubernetes.config.incluster_config import InClusterConfigLoader

                sa = Path(os.environ.get("GPUSLICE_SERVICEACCOUNT_DIR", SERVICEACCOUNT_DIR))
                InClusterConfigLoader(str(sa / "token"), str(sa / "ca.crt")).load_and_set(cfg)
            else:
                config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        except (ConfigException, OSError, TypeError, ValueError) as e:
            where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
            raise ClusterError(
                f"cannot load kubeconfig ({where}{', context ' + context if context else ''}): {e}"
            ) from None
        cfg.retries = False  # our Retrier is the only retry loop
        self.host = cfg.host
        self.context = context
        api = client.ApiClient(cfg)
        _seal_client_key(cfg, api)
        self._apis = {
            "core": client.CoreV1Api(api),
            "apps": client.AppsV1Api(api),
            "custom": client.CustomObjectsApi(api),
        }
        self._api_exception = client.exceptions.ApiException
        self.timeout = request_timeout
        self.retrier = retrier or Retrier(policy=policy or RetryPolicy(), on_retry=on_retry)

    # -- plumbing ------------------------------------------------------------------------------------------------
    def _wrap(self, e: BaseException, what: str) -> ClusterError:
        status = getattr(e, "status", None)
        if isinstance(e, self._api_exception):
            msg = _api_message(getattr(e, "body", None)) or f"{e.status} {e.reason}"
            # A 409 is AlreadyExists on a create but Conflict (stale resourceVersion) on an update: the Status
            # body's reason tells them apart.
            cls: type[ClusterError] = ClusterError
            if status == 404:
                cls = NotFound
            elif status == 409:
                cls = Conflict if _api_reason(getattr(e, "body", None)) == "Conflict" else AlreadyExists
            err = cls(f"{what}: {msg}", status=status)
        else:
            err = ClusterError(f"{what}: {type(e).__name__}: {e}", status=None)
        err.__cause__ = e
        return err

    def _call(self, what: str, fn: Callable[[], Any], settled: Callable[[], tuple[bool, Any]] | None = None) -> Any:
        def attempt() -> Any:
            try:
                return fn()
            except ClusterError:
                raise
            except Exception as e:
                raise self._wrap(e, what) from e

        def classify(e: BaseException) -> Transient | None:
            return classify_http(e.__cause__ if isinstance(e, ClusterError) and e.__cause__ else e)

        return self.retrier.call(attempt, what, classify, settled)

    def _method(self, group: str, name: str) -> Callable[..., Any]:
        return getattr(self._apis[group], name)

    # -- reads ---------------------------------------------------------------------------------------------------
    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> dict[str, Any] | None:
        """The list document for ``resource`` (all pages), or None when the API does not serve it (404)."""
        if resource == CLUSTERPOLICIES:
            return self._list_custom("nvidia.com", "v1", "clusterpolicies")
        group, method, namespaced = _LISTS[resource]
        if namespaced and namespace is None:  # across all namespaces
            method, namespaced = _ALL_NAMESPACES[resource], False
        fn = self._method(group, method)
        doc: dict[str, Any] | None = None
        token: str | None = None
        where = f"list {resource}" + (f" in {namespace}" if namespace else "")
        while True:
            kw: dict[str, Any] = {"limit": PAGE, "_preload_content": False, "_request_timeout": self.timeout}
            if token:
                kw["_continue"] = token
            if field_selector:
                kw["field_selector"] = field_selector
            if label_selector:
                kw["label_selector"] = label_selector
            args = (namespace,) if namespaced else ()

            def fetch(a: tuple[Any, ...] = args, k: dict[str, Any] = kw) -> Any:
                return json.loads(fn(*a, **k).data)

            try:
                page = self._call(where, fetch)
            except NotFound:
                return None
            except ClusterError as e:
                if e.status != 410 or not token:
                    raise
                # 410 Expired: the continue token outlived etcd's compaction (a long walk over a large cluster).
                # Like client-go's pager, fall back to one full list without paging (a consistent result).
                kw.pop("_continue")
                kw.pop("limit")
                doc = self._call(where + " (again, in one piece: the paging token expired)", fetch)
                doc["items"] = list(doc.get("items") or [])
                break
            if doc is None:
                doc = page
                doc["items"] = list(page.get("items") or [])
            else:
                doc["items"].extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        if doc is not None:
            doc.get("metadata", {}).pop("continue", None)
        return doc

    def _list_custom(self, group: str, version: str, plural: str) -> dict[str, Any] | None:
        fn = self._method("custom", "list_cluster_custom_object")
        try:
            got = self._call(
                f"list {plural}.{group}", lambda: fn(group, version, plural, _request_timeout=self.timeout)
            )
        except NotFound:
            return None
        return got if isinstance(got, dict) else None

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        group, method = _READS[resource]
        fn = self._method(group, method)
        args = (name, namespace) if namespace else (name,)
        try:
            return self._call(
                f"read {resource} {name}",
                lambda: json.loads(fn(*args, _preload_content=False, _request_timeout=self.timeout).data),
            )
        except NotFound:
            return None

    def pod_log(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail_lines: int = 2000,
        limit_bytes: int = 4 * 1024 * 1024,
        previous: bool = False,
    ) -> str:
        fn = self._method("core", "read_namespaced_pod_log")
        raw = self._call(
            f"logs of {namespace}/{pod} [{container}]",
            lambda: (
                fn(
                    pod,
                    namespace,
                    container=container,
                    tail_lines=tail_lines,
                    limit_bytes=limit_bytes,
                    previous=previous,
                    _preload_content=False,
                    _request_timeout=self.timeout,
                ).data
            ),
        )
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def pod_proxy_get(self, namespace: str, pod: str, port: int, path: str) -> bytes:
        """GET ``path`` on a pod's port through the API server's pod proxy (no Service needed)."""
        fn = self._method("core", "connect_get_namespaced_pod_proxy_with_path")
        raw = self._call(
            f"GET {path} on {namespace}/{pod}:{port} (pod proxy)",
            lambda: (
                fn(
                    f"{pod}:{port}", namespace, path.lstrip("/"), _preload_content=False, _request_timeout=self.timeout
                ).data
            ),
        )
        return raw if isinstance(raw, bytes) else str(raw).encode()

    # -- writes --------------------------------------------------------------------------------------------------
    def patch_node_labels(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        """Merge-patch labels onto a node.

        A patch whose answer was lost (a reset after the server applied it, a timeout) is not simply sent again:
        the node is read first, and when it already carries every label the retry is skipped, so one label change
        is one write.
        """
        fn = self._method("core", "patch_node")
        body = {"metadata": {"labels": labels}}

        def settled() -> tuple[bool, dict[str, Any] | None]:
            node = self.get(NODES, name)
            have = ((node or {}).get("metadata") or {}).get("labels") or {}
            done = node is not None and all(have.get(k) == v for k, v in labels.items())
            return done, node if done else None

        return self._call(
            f"label node {name}",
            settled=settled,
            fn=lambda: json.loads(
                fn(
                    name,
                    body,
                    _content_type="application/merge-patch+json",
                    _preload_content=False,
                    _request_timeout=self.timeout,
                ).data
            ),
        )

    def create(self, resource: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create once. A retry after a lost response finds the object by its token instead of creating again.

        Raises :class:`AlreadyExists` when an object of that name exists that this call did not create.
        """
        body = json.loads(json.dumps(body))
        meta = body.setdefault("metadata", {})
        token = secrets.token_hex(8)
        meta.setdefault("annotations", {})[CREATE_TOKEN] = token
        name = meta.get("name", "")
        group, method = _CREATES[resource]
        fn = self._method(group, method)

        def ours() -> tuple[bool, dict[str, Any] | None]:
            found = self.get(resource, name, namespace)
            if found and (found.get("metadata", {}).get("annotations") or {}).get(CREATE_TOKEN) == token:
                return True, found
            return False, None

        try:
            return self._call(
                f"create {resource} {namespace}/{name}",
                lambda: json.loads(fn(namespace, body, _preload_content=False, _request_timeout=self.timeout).data),
                settled=ours,
            )
        except AlreadyExists:
            done, found = ours()
            if done and found is not None:
                return found
            raise

    def create_namespace(self, name: str) -> None:
        """Create a namespace unless it exists (then it is not ours and is left alone)."""
        fn = self._method("core", "create_namespace")
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "gpuslice"}},
        }

        def exists() -> tuple[bool, None]:
            return self.get("namespaces", name) is not None, None

        with contextlib.suppress(AlreadyExists):
            self._call(
                f"create namespace {name}",
                lambda: fn(body, _preload_content=False, _request_timeout=self.timeout).data,
                settled=exists,
            )

    def replace_configmap(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Replace a ConfigMap's data. ``body`` carries the resourceVersion it was read at, so a concurrent edit
        is refused (409 Conflict) instead of overwritten. A retry after a lost answer would carry that old
        resourceVersion too and be refused although our own write went through: before retrying, and on a
        Conflict, the ConfigMap is read again and a replace whose data is already there counts as done."""
        fn = self._method("core", "replace_namespaced_config_map")

        def ours() -> tuple[bool, dict[str, Any] | None]:
            found = self.get(CONFIGMAPS, name, namespace)
            same = (
                found is not None
                and (found.get("data") or {}) == (body.get("data") or {})
                and (found.get("binaryData") or {}) == (body.get("binaryData") or {})
            )
            return same, found if same else None

        what = f"replace configmap {namespace}/{name}"
        try:
            return self._call(
                what,
                lambda: json.loads(
                    fn(name, namespace, body, _preload_content=False, _request_timeout=self.timeout).data
                ),
                settled=ours,
            )
        except Conflict as e:
            done, found = ours()
            if done and found is not None:
                return found
            raise Conflict(
                f"{what}: it was changed by someone else while gpuslice updated it; run apply again "
                f"to re-read it ({e})",
                status=409,
            ) from e

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod; True if it was there. Idempotent (a retried delete that finds it gone is done)."""
        fn = self._method("core", "delete_namespaced_pod")

        def gone() -> tuple[bool, bool | None]:
            return (self.get("pods", name, namespace) is None), True

        try:
            self._call(
                f"delete pod {namespace}/{name}",
                lambda: (
                    fn(
                        name, namespace, grace_period_seconds=0, _preload_content=False, _request_timeout=self.timeout
                    ).data
                ),
                settled=gone,
            )
        except NotFound:
            return False
        return True


def _api_reason(body: Any) -> str | None:
    """The ``reason`` of a ``Status`` error body (AlreadyExists, Conflict, Forbidden, ...)."""
    try:
        doc = json.loads(body) if body else None
    except (TypeError, ValueError):
        return None
    return str(doc.get("reason") or "") or None if isinstance(doc, dict) else None


def _api_message(body: Any) -> str | None:
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (TypeError, ValueError):
        return str(body)[:300]
    return str(doc.get("message") or "")[:300] or None if isinstance(doc, dict) else None


class LiveSource:
    """The live cluster as a :class:`~gpuslice.cluster.source.Source` (what ``snapshot`` writes out)."""

    def __init__(
        self,
        kube: KubeClient,
        namespaces: list[str],
        *,
        tail_lines: int = 2000,
        limit_bytes: int = 4 * 1024 * 1024,
        configmap_names: tuple[str, ...] = (),
    ) -> None:
        self.kube = kube
        self._namespaces = list(dict.fromkeys(namespaces))
        self.tail_lines = tail_lines
        self.limit_bytes = limit_bytes
        self.configmap_names = configmap_names
        self._cm_cache: dict[str, list[dict[str, Any]]] | None = None
        self._plugin_ds: list[dict[str, Any]] | None = None
        #: optional lists RBAC did not allow (doctor reports them as not captured)
        self.denied: list[str] = []

    @property
    def label(self) -> str:
        return f"cluster {self.kube.context or self.kube.host}"

    def top_reports(self) -> list[dict[str, Any]]:
        """Reports of the ``gpuslice top`` agents, in any namespace; [] when none run (they are optional)."""
        from gpuslice.top.view import collect

        try:
            return collect(self.kube, None).reports
        except GpusliceError:
            return []

    def namespaces(self) -> list[str]:
        plugin_ns = sorted({d["metadata"]["namespace"] for d in self._plugin_daemonsets()})
        return list(dict.fromkeys([*self._namespaces, *plugin_ns, *sorted(self._configmaps_by_ns())]))

    def _plugin_daemonsets(self) -> list[dict[str, Any]]:
        """NVIDIA device-plugin / GFD / MPS-daemon DaemonSets in any namespace (the device plugin's Helm chart,
        eksctl's in kube-system): doctor reads their namespaces and lints the ConfigMaps they mount."""
        if self._plugin_ds is None:
            doc = self._optional("daemonsets") or {}
            out = []
            for d in doc.get("items") or ():
                name = str((d.get("metadata") or {}).get("name") or "").lower()
                tpl = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
                images = [str(c.get("image") or "") for c in tpl.get("containers") or () if isinstance(c, dict)]
                if (
                    any(h in name for h in ("device-plugin", "feature-discovery", "mps-control-daemon"))
                    or any("k8s-device-plugin" in i for i in images)
                ) and (d.get("metadata") or {}).get("namespace"):
                    out.append(d)
            self._plugin_ds = out
        return self._plugin_ds

    def _configmaps_by_ns(self) -> dict[str, list[dict[str, Any]]]:
        """Only device-plugin ConfigMaps: the one ClusterPolicy names (in any namespace, so one created in the
        wrong namespace shows up), those a device-plugin/GFD DaemonSet mounts, and gpuslice's own. Never other
        ConfigMaps, never Secrets."""
        if self._cm_cache is None:
            try:
                self._cm_cache = self._find_configmaps()
            except ClusterError as e:
                if e.status not in (401, 403):
                    raise
                self.denied.append(f"device-plugin ConfigMaps: {e}")
                self._cm_cache = {}
        return self._cm_cache

    def _find_configmaps(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, dict[str, Any]] = {}
        names = set(self.configmap_names)
        cps = self._optional(CLUSTERPOLICIES) or {}
        for cp in cps.get("items") or ():
            name = (((cp.get("spec") or {}).get("devicePlugin") or {}).get("config") or {}).get("name")
            if name:
                names.add(str(name))
        for name in sorted(names):
            doc = self.kube.list(CONFIGMAPS, None, field_selector=f"metadata.name={name}") or {}
            for cm in doc.get("items") or ():
                found[cm["metadata"].get("uid") or f"{cm['metadata']['namespace']}/{name}"] = cm
        for d in self._plugin_daemonsets():
            ns = d["metadata"]["namespace"]
            tpl = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
            for v in tpl.get("volumes") or ():
                cm_name = ((v or {}).get("configMap") or {}).get("name") if isinstance(v, dict) else None
                if not cm_name or cm_name == "kube-root-ca.crt":
                    continue
                doc = self.kube.list(CONFIGMAPS, ns, field_selector=f"metadata.name={cm_name}") or {}
                for cm in doc.get("items") or ():
                    found[cm["metadata"].get("uid") or f"{ns}/{cm_name}"] = cm
        for ns in self._namespaces:
            doc = self.kube.list(CONFIGMAPS, ns, label_selector="app.kubernetes.io/managed-by=gpuslice") or {}
            for cm in doc.get("items") or ():
                found[cm["metadata"].get("uid") or f"{ns}/{cm['metadata']['name']}"] = cm
        by_ns: dict[str, list[dict[str, Any]]] = {}
        for cm in found.values():
            by_ns.setdefault(cm["metadata"]["namespace"], []).append(cm)
        return by_ns

    def _optional(self, resource: str) -> dict[str, Any] | None:
        """A list doctor can do without: None (as if not captured) when RBAC does not allow it."""
        try:
            return self.kube.list(resource)
        except ClusterError as e:
            if e.status not in (401, 403):
                raise
            self.denied.append(f"{resource}: {e}")
            return None

    def read(self, resource: str, namespace: str | None = None) -> Raw | None:
        if resource == CONFIGMAPS:
            items = self._configmaps_by_ns().get(namespace or "", [])
            return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {}, "items": items}
        if resource == CLUSTERPOLICIES:
            cps = self._optional(CLUSTERPOLICIES)
            if cps is None and not any(CLUSTERPOLICIES in d for d in self.denied):
                # The API answered 404: the ClusterPolicy CRD is not installed, so there is none (unlike a dump,
                # where a missing file only means it was not captured).
                return {"kind": "ClusterPolicyList", "apiVersion": "nvidia.com/v1", "metadata": {}, "items": []}
            return cps
        doc = self.kube.list(resource, namespace)
        if doc is not None:
            doc.setdefault("kind", _list_kind(resource))
            doc.setdefault(
                "apiVersion", "apps/v1" if resource in ("daemonsets", "deployments", "replicasets") else "v1"
            )
        return doc

    def logs(self, namespace: str, pod: str, containers: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in containers:
            try:
                text = self.kube.pod_log(namespace, pod, c, tail_lines=self.tail_lines, limit_bytes=self.limit_bytes)
                if not text.strip():
                    # A crash-looping container's current log is often empty: the error is in the previous one.
                    text = self.kube.pod_log(
                        namespace, pod, c, tail_lines=self.tail_lines, limit_bytes=self.limit_bytes, previous=True
                    )
            except ClusterError as e:
                if e.status in (400, 404):  # container not started yet / no previous instance
                    continue
                out[c] = [f"Request log error: {e}"]
                continue
            if text:
                out[c] = text.splitlines()[-self.tail_lines :]
        return out


def _list_kind(resource: str) -> str:
    return {
        NODES: "NodeList",
        "pods": "PodList",
        "events": "EventList",
        "services": "ServiceList",
        "replication-controllers": "ReplicationControllerList",
        "daemonsets": "DaemonSetList",
        "deployments": "DeploymentList",
        "replicasets": "ReplicaSetList",
    }.get(resource, "List")


__all__ = ["FAST", "AlreadyExists", "Conflict", "KubeClient", "LiveSource", "NotFound"]
