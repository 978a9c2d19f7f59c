"""Readers turn a consumed message into a tuple: decoding, the error policy, offsets, dedupe of internal records.

The spout reader runs its only bolt inline (a copy of BoltRunner.run kept for speed); the parametrised
tests run both the inline copy and the general path (a spout feeding two bolts) and expect the same.
"""

from __future__ import annotations

from typing import Any

import pytest

from streamproc.components import Bolt, Tuple
from streamproc.errors import ProcessingError
from streamproc.kafka.memory import MemoryBroker, MemoryMessage, MemoryProducer
from streamproc.runtime.dedupe import ORIGIN_HEADER, OriginMarks
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy, OnError, StopProcessing
from streamproc.runtime.readers import InternalReader, SpoutReader
from streamproc.runtime.routing import SOURCE_TAG_HEADER, BoltRunner
from streamproc.serde.json import JsonSerde
from streamproc.serde.simple import IntSerde, StrSerde


class Seen(Bolt):
    def __init__(self, fail_on: Any = None) -> None:
        self.seen: list[tuple[Any, Any, int]] = []
        self.fail_on = fail_on

    def process(self, tup: Tuple) -> None:
        if tup.value == self.fail_on:
            raise ValueError("bad value")
        self.seen.append((tup.key, tup.value, tup.offset))


def spout_reader(mode: OnError, bolts: list[Seen]) -> tuple[SpoutReader, MemoryBroker]:
    broker = MemoryBroker()
    policy = ErrorPolicy(mode, "t-dlq", Output(MemoryProducer(broker)))
    delivers = [BoltRunner(f"b{i}", bolt).run for i, bolt in enumerate(bolts)]
    return SpoutReader("in", 0, policy, "in", StrSerde(), JsonSerde(), delivers), broker


def msg(offset: int, key: bytes | None, value: bytes | None, headers: Any = None) -> MemoryMessage:
    return MemoryMessage("in", 0, offset, key, value, headers, 1_000 + offset)


@pytest.mark.parametrize("bolts", [1, 2], ids=["inline-copy", "general-path"])
def test_a_spout_reader_decodes_and_hands_on_in_order(bolts: int) -> None:
    targets = [Seen() for _ in range(bolts)]
    reader, _ = spout_reader("fail", targets)
    for offset, value in enumerate([b'{"a": 1}', b"2", b'"x"']):
        reader.read(msg(offset, b"k", value))
    assert all(t.seen == [("k", {"a": 1}, 0), ("k", 2, 1), ("k", "x", 2)] for t in targets)
    assert reader.next_offset == 3


@pytest.mark.parametrize("bolts", [1, 2], ids=["inline-copy", "general-path"])
def test_a_failure_under_fail_leaves_the_offset_and_under_dlq_moves_on(bolts: int) -> None:
    reader, _ = spout_reader("fail", [Seen(fail_on=2) for _ in range(bolts)])
    reader.read(msg(0, b"k", b"1"))
    with pytest.raises(StopProcessing, match=r"'b0' failed: ValueError: bad value.*in\[0\]@1"):
        reader.read(msg(1, b"k", b"2"))
    assert reader.next_offset == 1  # not past the failed message
    reader, broker = spout_reader("dlq", [Seen(fail_on=2) for _ in range(bolts)])
    reader.read(msg(0, b"k", b"2"))
    reader.read(msg(1, b"k", b"not json"))  # undecodable: the spout's failure
    assert reader.next_offset == 2
    components = [dict(m.headers() or [])["streamproc.component"] for m in broker.log("t-dlq", 0)]
    assert components == [b"b0", b"in"]


def internal_reader(marks: OriginMarks | None = None, tagged: bool = False) -> tuple[InternalReader, list[Tuple]]:
    got: list[Tuple] = []
    origins: dict[bytes, Any] = {b"a/default": ("a", "default", JsonSerde())}
    if tagged:
        origins[b"b/alerts"] = ("b", "alerts", IntSerde())
    policy = ErrorPolicy("fail", "t", Output(MemoryProducer(MemoryBroker())))
    return InternalReader("rep", 0, policy, got.append, origins, marks), got


def rep(offset: int, origin: str, value: bytes, tag: bytes | None = None) -> MemoryMessage:
    headers = [(ORIGIN_HEADER, origin.encode())]
    if tag is not None:
        headers.append((SOURCE_TAG_HEADER, tag))
    return MemoryMessage("rep", 0, offset, b'["w", 1]', value, headers, 5)


def test_an_internal_reader_skips_what_its_marks_have_applied_and_decodes_the_rest() -> None:
    marks = OriginMarks()
    reader, got = internal_reader(marks)
    reader.read(rep(0, "in:0:7:0", b'"x"'))
    reader.read(rep(1, "in:0:7:0", b'"x"'))  # an upstream replay's copy
    reader.read(rep(2, "in:0:7:1", b'"y"'))
    assert [(t.key, t.value, t.source, t.stream) for t in got] == [(("w", 1), "x", "a", "default"),
                                                                   (("w", 1), "y", "a", "default")]
    assert marks.duplicates == 1 and reader.next_offset == 3


def test_an_internal_reader_of_several_sources_needs_their_tag() -> None:
    reader, got = internal_reader(tagged=True)
    reader.read(rep(0, "in:0:1:0", (42).to_bytes(8, "big", signed=True), tag=b"b/alerts"))
    assert (got[0].source, got[0].stream, got[0].value) == ("b", "alerts", 42)
    with pytest.raises(StopProcessing, match=r"without a known streamproc\.from header"):
        reader.read(rep(1, "in:0:2:0", b"1"))


def test_an_internal_reader_takes_offsets_as_they_come() -> None:
    """Gaps are the consumer adapter's business (streamproc.kafka.continuity), not the reader's."""
    reader, got = internal_reader()
    reader.read(rep(12, "in:0:1:0", b'"x"'))
    assert [t.offset for t in got] == [12] and reader.next_offset == 13


def test_processing_errors_name_the_component() -> None:
    error = ProcessingError("count", KeyError("word"))
    assert str(error) == "component 'count' failed: KeyError: 'word'"
