"""Shared fixtures: one broker per test run (Tansu, or Apache Kafka); names are unique per test.

``STREAMPROC_TEST_BROKER`` picks the broker: ``tansu`` (default; the embedded broker, started once per
test process) or ``kafka`` (Apache Kafka from tests/support/apache_kafka.py, started once for the
whole run, before pytest-xdist starts its workers, and shared by them). Under ``kafka`` only tests that
talk to a broker run (the others ran in the Tansu half and are deselected); without Java or Maven they
are skipped, each saying why. ``@pytest.mark.broker("tansu", reason=...)`` keeps a test to one broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamproc.devbroker import EmbeddedBroker
from tests.support.apache_kafka import VERSION, KafkaCluster, KafkaStartError, KafkaUnavailable
from tests.support.kafka import TEST_BROKER
from tests.support.wordcount import MakeRun, WordCountRun

BROKERS = ("tansu", "kafka")
#: Set by the first pytest process for the workers it starts: the shared Kafka's address, or why there is none.
_BOOTSTRAP_ENV = "STREAMPROC_TEST_KAFKA_BOOTSTRAP"
_UNAVAILABLE_ENV = "STREAMPROC_TEST_KAFKA_UNAVAILABLE"
_shared: KafkaCluster | None = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "broker(name, reason): the test runs only on that broker (tansu or kafka)")
    if TEST_BROKER not in BROKERS:
        raise pytest.UsageError(f"STREAMPROC_TEST_BROKER={TEST_BROKER!r}: use one of {', '.join(BROKERS)}")
    if TEST_BROKER != "kafka" or hasattr(config, "workerinput") or os.environ.get(_BOOTSTRAP_ENV):
        return
    global _shared
    try:
        cluster = KafkaCluster(1, heap="768m")
        cluster.start()
    except KafkaUnavailable as exc:
        os.environ[_UNAVAILABLE_ENV] = str(exc)
        return
    except KafkaStartError as exc:
        os.environ[_UNAVAILABLE_ENV] = f"Apache Kafka {VERSION} did not start: {exc}"
        return
    _shared = cluster
    os.environ[_BOOTSTRAP_ENV] = cluster.bootstrap_servers


def pytest_unconfigure(config: pytest.Config) -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("broker")
        if marker is not None and marker.args[0] != TEST_BROKER:
            item.add_marker(pytest.mark.skip(reason=f"{marker.args[0]} only: {marker.kwargs.get('reason', '')}"))
        if TEST_BROKER == "kafka" and "broker_kind" not in getattr(item, "fixturenames", ()):
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def broker_kind() -> str:
    """``tansu`` or ``kafka``: the broker this run tests (every broker-facing fixture depends on it)."""
    if TEST_BROKER == "kafka" and os.environ.get(_UNAVAILABLE_ENV):
        pytest.skip(f"Apache Kafka half: {os.environ[_UNAVAILABLE_ENV]}")
    return TEST_BROKER


@pytest.fixture(scope="session")
def broker(broker_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap address of a real broker running for the whole session."""
    if broker_kind == "kafka":
        yield os.environ[_BOOTSTRAP_ENV]
        return
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
