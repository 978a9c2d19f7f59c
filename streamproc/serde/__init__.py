"""Serdes: bytes <-> Python objects for spouts, sinks, internal topics and state stores."""

from streamproc.serde.avro import AvroSerde
from streamproc.serde.base import Headers, Serde, SerdeContext, ValueShape
from streamproc.serde.dataclass import DataclassSerde
from streamproc.serde.json import JsonSerde
from streamproc.serde.registry import (
    ConfluentAvroSerde,
    record_name_strategy,
    topic_name_strategy,
    topic_record_name_strategy,
)
from streamproc.serde.simple import BytesSerde, FloatSerde, IntSerde, StrSerde

__all__ = [
    "AvroSerde",
    "BytesSerde",
    "ConfluentAvroSerde",
    "DataclassSerde",
    "FloatSerde",
    "Headers",
    "IntSerde",
    "JsonSerde",
    "Serde",
    "SerdeContext",
    "StrSerde",
    "ValueShape",
    "record_name_strategy",
    "topic_name_strategy",
    "topic_record_name_strategy",
]
