"""The spout reader and the sink write their serdes' fast path (a C function a built-in serde offers)
inline, with the serde's own method as the fallback: the same result and the same error either way.
Each case runs with the fast path and with it hidden (a serde that only has the method)."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc.components import Bolt, Tuple
from streamproc.kafka.memory import MemoryBroker, MemoryMessage, MemoryProducer
from streamproc.kafka.sink import KafkaSink
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.readers import SpoutReader
from streamproc.runtime.routing import BoltRunner
from streamproc.serde.base import Serde, SerdeContext
from streamproc.serde.json import JsonSerde
from streamproc.serde.simple import StrSerde


class SlowOnly(Serde):
    """The same serde without its fast path: the reader and sink must take the method."""

    def __init__(self, inner: Serde) -> None:
        self.inner = inner

    def serialize(self, value: Any, ctx: SerdeContext) -> bytes | None:
        return self.inner.serialize(value, ctx)

    def deserialize(self, data: bytes | None, ctx: SerdeContext) -> Any:
        return self.inner.deserialize(data, ctx)


def serdes(fast: bool) -> tuple[Serde, Serde]:
    key, value = StrSerde(), JsonSerde()
    assert getattr(key, "fast_decode", None) and getattr(value, "fast_decode", None)
    return (key, value) if fast else (SlowOnly(key), SlowOnly(value))


class Keep(Bolt):
    def __init__(self) -> None:
        self.got: list[tuple[Any, Any]] = []

    def process(self, tup: Tuple) -> None:
        self.got.append((tup.key, tup.value))


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "serde-method"])
def test_the_spout_reader_decodes_alike_on_both_paths(fast: bool) -> None:
    key_serde, value_serde = serdes(fast)
    broker = MemoryBroker()
    bolt = Keep()
    reader = SpoutReader("in", 0, ErrorPolicy("dlq", "t-dlq", Output(MemoryProducer(broker))), "spout", key_serde,
                         value_serde, [BoltRunner("keep", bolt).run])
    for offset, (key, value) in enumerate([(b"k", b'{"a": [1, 2]}'), (None, b"null"), (b"k", b"{bad json")]):
        reader.read(MemoryMessage("in", 0, offset, key, value, None, 1))
    assert bolt.got == [("k", {"a": [1, 2]}), (None, None)]
    [letter] = broker.log("t-dlq", 0)
    error = dict(letter.headers() or [])["streamproc.error"].decode()
    assert "topic 'in'" in error  # the serde's own message, which names the topic, on both paths


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "serde-method"])
def test_the_sink_encodes_alike_on_both_paths(fast: bool) -> None:
    key_serde, value_serde = serdes(fast)
    broker = MemoryBroker()
    sink = KafkaSink("out", key_serde=key_serde, value_serde=value_serde)
    sink.bind(Output(MemoryProducer(broker)))
    sink.write("k", {"n": 1}, [("h", b"1")], 5)
    sink.write(None, [1, "x"], None, 6)
    [first, second] = broker.log("out", 0)  # an in-memory topic has one partition unless created with more
    assert (first.key(), first.value(), first.headers(), first.timestamp()[1]) == (b"k", b'{"n":1}', [("h", b"1")], 5)
    assert (second.key(), second.value()) == (None, b'[1,"x"]')
    with pytest.raises(Exception, match="topic 'out'"):
        sink.write("k", {1, 2}, None, 7)  # a set is no JSON: the serde's error, on both paths
