"""Shared fixtures: the embedded broker is started once per test run; names are unique per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamproc.devbroker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real Kafka-protocol broker (Tansu) running for the whole session."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running.bootstrap_servers
