"""The test Kafka's cluster ids: the storage tool must be able to take them as an argument."""

from __future__ import annotations

import uuid

import pytest

from tests.support import apache_kafka


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dash-first id is what the storage tool's parser took for an option; the next random one is used."""
    dashed, plain = uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(int=1)
    drawn = iter([dashed, plain])
    monkeypatch.setattr(apache_kafka.uuid, "uuid4", lambda: next(drawn))
    cluster_id = apache_kafka._cluster_id()
    assert not cluster_id.startswith("-") and len(cluster_id) == 22
    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAQ"
