"""``gpuslice top``: which pod uses how much of each shared GPU, without replacing the device plugin.

- ``nvml``: per-process readings (memory, SM utilisation samples) — a saved reading replays without a GPU.
- ``cgroup``: host pid -> pod UID and container id from ``/proc/<pid>/cgroup``.
- ``podresources``: the kubelet's pod-resources API — which container holds which GPU replica.
- ``agent``: joins them into a report; serves ``/json`` and Prometheus ``/metrics``.
- ``view``: the cluster view (agents through the API server's pod proxy); ``findings``: what is wrong.
"""
