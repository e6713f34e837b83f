"""Where cluster state comes from: a small interface with two implementations.

* :class:`gpuslice.cluster.dump.DumpSource` reads a ``kubectl cluster-info dump --output-directory`` folder (or a
  ``gpuslice snapshot`` folder, which has the same layout plus ``clusterpolicies.json`` and ``configmaps.json``);
* :class:`gpuslice.cluster.kube.LiveSource` asks the API server through the official ``kubernetes`` client.

Both hand back the API's own list documents (JSON bytes, YAML text or parsed dicts); :mod:`gpuslice.cluster.view`
turns them into typed objects. Doctor and verify only ever see the view, so they run the same on a support bundle,
on the live API and on the test server.
"""

from __future__ import annotations

from typing import Any, Protocol

#: Per-namespace lists, in the order and with the file names ``kubectl cluster-info dump`` uses
#: (kubectl ``pkg/cmd/clusterinfo/clusterinfo_dump.go``).
NAMESPACED = ("events", "replication-controllers", "services", "daemonsets", "deployments", "replicasets", "pods")
#: Extra per-namespace list gpuslice's snapshot adds (only the device-plugin ConfigMaps, never Secrets).
CONFIGMAPS = "configmaps"
NODES = "nodes"
#: ``gpuslice top`` agent reports in a dump folder (``gpuslice top -o json > DIR/gpuslice-top.json``)
TOP_REPORTS_FILE = "gpuslice-top.json"
#: Extra cluster-scoped list gpuslice's snapshot adds (nvidia.com/v1 ClusterPolicy).
CLUSTERPOLICIES = "clusterpolicies"

Raw = bytes | memoryview | str | dict[str, Any]


class Source(Protocol):
    """Read-only access to cluster state."""

    @property
    def label(self) -> str:
        """Where the data comes from, for messages ("dump ./bundle", "cluster prod-euw1")."""
        ...

    def namespaces(self) -> list[str]:
        """The namespaces this source can list objects in."""
        ...

    def read(self, resource: str, namespace: str | None = None) -> Raw | None:
        """The list document for ``resource`` (None when the source does not have it at all)."""
        ...

    def logs(self, namespace: str, pod: str, containers: list[str]) -> dict[str, list[str]]:
        """The last lines of each container's log (bounded); containers without logs are left out."""
        ...
