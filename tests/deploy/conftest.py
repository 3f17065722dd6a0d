"""Fixtures of the deployment tests: the shipped NATS cluster configuration, run on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.cluster import Cluster, write_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Three JetStream nodes from deploy/nats/ (free ports, store under tmp_path), stopped afterwards."""
    nodes = write_cluster(tmp_path / "nats")
    try:
        yield nodes.start()
    finally:
        nodes.stop()
