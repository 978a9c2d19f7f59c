from __future__ import annotations

import pytest

from streamproc.errors import SerdeError
from streamproc.serde import BytesSerde, FloatSerde, IntSerde, JsonSerde, SerdeContext, StrSerde

CTX = SerdeContext("t", is_key=False)


@pytest.mark.parametrize(
    ("serde", "value", "raw"),
    [
        (BytesSerde(), b"\x00\x01", b"\x00\x01"),
        (StrSerde(), "héllo", "héllo".encode()),
        (IntSerde(), -2, b"\xff" * 7 + b"\xfe"),
        (FloatSerde(), 1.5, b"\x3f\xf8" + b"\x00" * 6),
        (JsonSerde(), {"a": [1, "x"]}, b'{"a":[1,"x"]}'),
    ],
)
def test_round_trip_in_kafka_layout(serde: JsonSerde, value: object, raw: bytes) -> None:
    assert serde.serialize(value, CTX) == raw
    assert serde.deserialize(raw, CTX) == value
    assert serde.serialize(None, CTX) is None and serde.deserialize(None, CTX) is None


def test_bad_input_names_the_topic() -> None:
    with pytest.raises(SerdeError, match="not UTF-8 text on topic 't'"):
        StrSerde().deserialize(b"\xff", CTX)
    with pytest.raises(SerdeError, match="invalid JSON on topic 't'"):
        JsonSerde().deserialize(b"{", CTX)
    with pytest.raises(SerdeError, match="needs 8 bytes"):
        IntSerde().deserialize(b"\x01", CTX)
    with pytest.raises(SerdeError, match="cannot encode set"):
        JsonSerde().serialize({1}, CTX)
    with pytest.raises(SerdeError, match="needs str"):
        StrSerde().serialize(1, CTX)
