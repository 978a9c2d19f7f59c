"""Shared fixtures: the embedded broker is started once per test run; names are unique per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamproc.devbroker import EmbeddedBroker
from tests.support.wordcount import MakeRun, WordCountRun


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real Kafka-protocol broker (Tansu) running for the whole session."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running.bootstrap_servers


@pytest.fixture
def wordcount(broker: str, tmp_path: Path) -> Iterator[MakeRun]:
    """Makes WordCountRun objects (topologies/wordcount.py under unique names) and closes their readers afterwards."""
    made: list[WordCountRun] = []

    def make(partitions: int = 4, backend: str = "rocksdb") -> WordCountRun:
        made.append(WordCountRun(broker, tmp_path, partitions, backend=backend))
        return made[-1]

    yield make
    for run in made:
        run.close()
