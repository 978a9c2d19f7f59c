"""The Kafka sink: a terminal bolt that writes each tuple it receives to a topic."""

from __future__ import annotations

from typing import Any

from streamproc.components import Bolt, TaskContext, Tuple
from streamproc.serde.base import Serde, SerdeContext
from streamproc.serde.json import JsonSerde
from streamproc.serde.simple import StrSerde


class KafkaSink(Bolt):
    """Produces ``tup.key``/``tup.value`` to ``topic`` (partitioned by key, murmur2 as Kafka's Java client).

    Delivery is asynchronous; the checkpoint waits for every record to be acknowledged before it
    commits the inputs, so a crash can repeat sink records but never lose them.
    """

    def __init__(self, topic: str, *, key_serde: Serde | None = None, value_serde: Serde | None = None) -> None:
        self.topic = topic
        self.key_serde: Serde = key_serde if key_serde is not None else StrSerde()
        self.value_serde: Serde = value_serde if value_serde is not None else JsonSerde()
        self._key_ctx = SerdeContext(topic, is_key=True)
        self._value_ctx = SerdeContext(topic, is_key=False)
        self._produce: Any = None

    def setup(self, context: TaskContext) -> None:
        self._produce = context.services.produce_output

    def process(self, tup: Tuple) -> None:
        self._produce(
            self.topic,
            self.key_serde.serialize(tup.key, self._key_ctx),
            self.value_serde.serialize(tup.value, self._value_ctx),
            tup.headers,
            tup.timestamp,
        )

    def __repr__(self) -> str:
        return f"KafkaSink({self.topic})"
