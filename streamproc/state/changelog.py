"""The provenance header every changelog record carries.

The header names, for each input partition of the task, the offset of the last input message
the record reflects. Recovery applies a record only when all those offsets are below the
group's committed offsets: a record written by a checkpoint that never committed describes
inputs that will be processed again, so applying it would count them twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamproc.state.position import TP, parse_tp, tp_name

SOURCE_HEADER = "streamproc.src"



def source_header(headers: Any) -> bytes | None:
    """The provenance header's value among a record's headers (streamproc writes it first)."""
    if headers and headers[0][0] == SOURCE_HEADER:
        value: bytes | None = headers[0][1]
        return value
    return next((v for k, v in headers or () if k == SOURCE_HEADER), None)


def encode_sources(last_processed: Mapping[TP, int]) -> bytes:
    """``topic:partition:offset`` entries joined by commas (topic names cannot contain either)."""
    return ",".join(f"{tp_name(tp)}:{o}" for tp, o in sorted(last_processed.items())).encode()


def decode_sources(raw: bytes) -> dict[TP, int]:
    found: dict[TP, int] = {}
    if not raw:
        return found
    for entry in raw.decode().split(","):
        name, offset = entry.rsplit(":", 1)
        found[parse_tp(name)] = int(offset)
    return found


def is_committed(sources: Mapping[TP, int], committed: Mapping[TP, int]) -> bool:
    """True when every input the record reflects is below the committed offset of its partition.

    A partition with no committed offset counts as committed at 0: nothing from it is durable yet.
    """
    return all(offset < committed.get(tp, 0) for tp, offset in sources.items())
