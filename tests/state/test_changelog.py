from __future__ import annotations

from streamproc.state.changelog import decode_sources, encode_sources, is_committed


def test_source_header_round_trip() -> None:
    sources = {("in", 3): 41, ("other.topic", 0): 7}
    raw = encode_sources(sources)
    assert raw == b"in:3:41,other.topic:0:7"
    assert decode_sources(raw) == sources
    assert decode_sources(b"") == {}


def test_record_applies_only_when_all_its_inputs_are_committed() -> None:
    sources = {("in", 0): 10, ("x", 0): 5}
    assert is_committed(sources, {("in", 0): 11, ("x", 0): 6})
    assert not is_committed(sources, {("in", 0): 10, ("x", 0): 6})  # offset 10 itself is not committed
    assert not is_committed(sources, {("in", 0): 11})  # nothing committed for x yet
