"""The Kafka spout: input topics whose partitions are the topology's parallelism."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streamproc.errors import TopologyError
from streamproc.serde.base import Serde
from streamproc.serde.simple import BytesSerde


class KafkaSpout:
    """Reads ``topics`` (all with the same partition count) and emits one tuple per record.

    ``fields`` declares the fields of the decoded values when they are dicts, so that a fields
    grouping on this spout can be checked when the topology is built.

    ``timestamp`` extracts a record's event time: ``fn(key, value, kafka_timestamp) -> ms`` (decoded
    key and value). Without it, event time is the record's Kafka timestamp.
    """

    def __init__(
        self,
        topics: str | Sequence[str],
        *,
        key_serde: Serde | None = None,
        value_serde: Serde | None = None,
        fields: Sequence[str] | None = None,
        timestamp: Callable[[Any, Any, int], int] | None = None,
    ) -> None:
        self.topics: tuple[str, ...] = (topics,) if isinstance(topics, str) else tuple(topics)
        if not self.topics or not all(isinstance(t, str) and t for t in self.topics):
            raise TopologyError(f"KafkaSpout needs at least one topic name, got {topics!r}")
        self.key_serde: Serde = key_serde if key_serde is not None else BytesSerde()
        self.value_serde: Serde = value_serde if value_serde is not None else BytesSerde()
        self.fields = tuple(fields) if fields is not None else None
        if timestamp is not None and not callable(timestamp):
            raise TopologyError(f"KafkaSpout({', '.join(self.topics)}): timestamp= must be a function "
                                f"fn(key, value, kafka_timestamp) -> ms, got {timestamp!r}")
        self.timestamp = timestamp

    def declared_fields(self) -> tuple[str, ...] | None:
        """The fields its values are known to have; () when they are scalars; None when unknown."""
        if self.fields is not None:
            return self.fields
        return () if self.value_serde.shape == "scalar" else None

    def __repr__(self) -> str:
        return f"KafkaSpout({', '.join(self.topics)})"
