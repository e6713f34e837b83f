"""Errors in the user's terms, each pointing at the line: no pydantic wording ("Input should be a valid tuple",
"instance of Sharing"), a scheme in registry.proxy says to drop it, a duplicate pool name points at the second
pool, and a file the spec names that is missing carries its line."""

from __future__ import annotations

import pytest

from tests.helpers import MINIMAL, write_spec

SHARING = "    sharing: {strategy: time-slicing, replicas: 4, failRequestsGreaterThanOne: true}\n"
DISKS = "    disks:\n      rootGiB: 40\n      data: {sizeGiB: 100}\n"

CASES = {
    "sharing-not-a-mapping": (MINIMAL.replace(SHARING, "    sharing: 4\n"), ":14:5:", "must be a mapping"),
    "pools-not-a-list": (MINIMAL.split("nodePools:")[0] + "nodePools: {a: 1}\n", ":7:1:", "must be a list"),
    "disks-a-list": (MINIMAL.replace(DISKS, "    disks: [1, 2]\n"), ":11:5:", "must be a mapping"),
    "taints-text": (MINIMAL + "    taints: x\n", ":15:5:", "must be a list"),
    "replicas-text": (MINIMAL.replace("replicas: 4", "replicas: four"), ":14:", "must be a whole number"),
    "replicas-zero": (MINIMAL.replace("replicas: 4", "replicas: 0"), ":14:", "must be at least"),
    "proxy-with-scheme": (
        MINIMAL + "registry:\n  proxy: https://artifactory.corp.example/docker-remote\n",
        ":16:3:",
        "drop the scheme: write 'artifactory.corp.example/docker-remote'",
    ),
    "mirror-with-scheme": (
        MINIMAL + "registry:\n  mirrors:\n    - {source: nvcr.io, mirror: 'http://reg.corp.example/nvcr'}\n",
        ":17:",
        "drop the scheme",
    ),
    "duplicate-pool": (
        MINIMAL + "  - name: pool-a\n    instanceType: g5.xlarge\n    os: ubuntu-22.04\n",
        ":15:5: nodePools[1].name:",
        "already used by nodePools[0]",
    ),
    "missing-operator-chart": (
        MINIMAL + "operator:\n  chart: charts/nothing-here\n",
        ":16:3: operator.chart:",
        "not found",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_messages_in_the_users_terms(cli, tmp_path, case):
    text, where, says = CASES[case]
    spec = write_spec(tmp_path, text)
    r = cli("plan", spec, "-d", tmp_path / "out")
    assert r.exit_code == 2, r.output
    err = " ".join(r.stderr.split())  # rich may wrap a long line
    assert f"gpuslice.yaml{where}" in err, err
    assert says in err, err
    for library_words in ("Input should", "instance of", "valid tuple", "valid dictionary", "pydantic", "^[a-z"):
        assert library_words not in err, err
    assert not (tmp_path / "out").exists()
