"""Exact state across internal topics: recognising records an upstream task wrote twice.

An upstream task that crashes after producing to an internal topic but before committing
replays its input and writes those records again. Every internal record therefore names its
origin (upstream topic, partition, offset, and its index among the records that upstream
message wrote to this topic). A downstream task with state keeps, per origin partition, the
highest (offset, index) it applied; anything at or below it is a replayed copy. The marks are
stored under a reserved key of each store, so they are committed in the same WriteBatch and
restored from the same changelog as the state they protect.

This relies on upstream bolts being deterministic: a replay must emit the same records in the
same order.

A deliberate replay (``streamproc replay --keep-state``) is not a crash: its records must be applied
again. The command, run while every worker is stopped, writes a **replay barrier** (a record whose
first header is ``REPLAY_HEADER``, naming the input partitions it rewound) to every partition of
every internal topic. Everything upstream writes from then on comes after the barrier, and
everything before it was written earlier, so a downstream task that reads the barrier forgets its
marks for those input partitions: copies written before it are still recognised, the replay's
records are applied. Marks of internal origins stay: a replay never rewinds an internal topic, so
records it causes there have new offsets anyway.
"""

from __future__ import annotations

from typing import Any

import orjson

from streamproc.state.store import reserved_key

ORIGIN_HEADER = "streamproc.origin"
#: First header of a replay barrier on an internal topic (written by ``streamproc replay --keep-state``).
REPLAY_HEADER = "streamproc.replay"
#: A framework entry of every store of the task (store.py's reserved keys).
MARKS_KEY = reserved_key("streamproc.marks")
#: Origins that are never taken for copies: those of wall-clock callbacks (components.WALL_ORIGIN), numbered by
#: the wall clock. A replay of such a callback gets a new number anyway, and a new owner whose clock is behind
#: the old one's must not have its records taken for copies.
UNCHECKED_ORIGIN = b"streamproc.wall."


class OriginCounter:
    """Numbers the records one input message writes to one internal topic (shared by its writers)."""

    __slots__ = ("_index", "_offset", "_partition", "_topic")

    def __init__(self) -> None:
        self._topic = ""
        self._partition = -1
        self._offset = -1
        self._index = -1

    def header(self, topic: str, partition: int, offset: int) -> bytes:
        if offset != self._offset or partition != self._partition or topic != self._topic:
            self._topic, self._partition, self._offset, self._index = topic, partition, offset, 0
        else:
            self._index += 1
        return f"{topic}:{partition}:{offset}:{self._index}".encode()


class OriginMarks:
    """The highest (offset, index) applied per origin partition, for one task."""

    __slots__ = ("dirty", "duplicates", "marks")

    def __init__(self, marks: dict[bytes, tuple[int, int]] | None = None) -> None:
        self.marks: dict[bytes, tuple[int, int]] = marks or {}
        self.dirty = False
        self.duplicates = 0

    def admit(self, origin: bytes) -> bool:
        """True for a record not applied before (and remember it); False for a replayed copy."""
        partition, offset, index = origin.rsplit(b":", 2)
        position = (int(offset), int(index))
        mark = self.marks.get(partition)
        if mark is not None and position <= mark and not partition.startswith(UNCHECKED_ORIGIN):
            self.duplicates += 1
            return False
        self.marks[partition] = position
        self.dirty = True
        return True

    def restart(self, partitions: bytes | None) -> None:
        """A replay barrier naming ``topic:partition,...``: what follows from those is applied again."""
        for partition in (partitions or b"").split(b","):
            self.marks.pop(partition, None)
        self.dirty = True

    def encode(self) -> bytes:
        return orjson.dumps({k.decode(): list(v) for k, v in self.marks.items()})

    @classmethod
    def decode(cls, raw: bytes | None) -> OriginMarks:
        if not raw:
            return cls()
        loaded: dict[str, Any] = orjson.loads(raw)
        return cls({k.encode(): (int(v[0]), int(v[1])) for k, v in loaded.items()})
