"""The Kafka sink: a terminal bolt that writes each tuple it receives to a topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamproc.components import Bolt, Tuple
from streamproc.serde.base import Headers, Serde, SerdeContext, fast_encoder
from streamproc.serde.json import JsonSerde
from streamproc.serde.simple import StrSerde

if TYPE_CHECKING:
    from streamproc.runtime.output import Output

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
        self._fast_key = fast_encoder(self.key_serde)
        self._fast_value = fast_encoder(self.value_serde)
        self._produce: Any = None
        self._send_slow: Any = None

    def bind(self, output: Output) -> None:
        """Write through ``output``, the task's (called by the runtime before ``setup``)."""
        self._produce = output.positional_produce()
        self._send_slow = output.produce_output

    def process(self, tup: Tuple) -> None:
        """Writes the tuple's key, value, headers and timestamp to the topic."""
        self.write(tup.key, tup.value, tup.headers, tup.timestamp)

    def write(self, key: Any, value: Any, headers: Headers | None, timestamp: int | None) -> None:
        """Encode and send one record. An upstream emitter calls this directly when this sink is the
        only subscriber of its stream, skipping the tuple and the call to ``process``."""
        fast = self._fast_key
        if key is None or fast is None:
            raw_key = self.key_serde.serialize(key, self._key_ctx)
        else:
            try:
                raw_key = fast(key)
            except Exception:
                raw_key = self.key_serde.serialize(key, self._key_ctx)  # the serde's own error message
        fast = self._fast_value
        if value is None or fast is None:
            raw_value = self.value_serde.serialize(value, self._value_ctx)
        else:
            try:
                raw_value = fast(value)
            except Exception:
                raw_value = self.value_serde.serialize(value, self._value_ctx)
        try:  # positional: see Output's docstring on why
            self._produce(self.topic, raw_value, raw_key, -1, None, None, timestamp or 0, headers)
        except BufferError:
            self._send_slow(self.topic, raw_key, raw_value, headers, timestamp)  # waits for room

    def __repr__(self) -> str:
        return f"KafkaSink({self.topic})"
