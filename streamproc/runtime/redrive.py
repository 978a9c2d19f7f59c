"""Re-driven dead letters count once: a copy is applied in place of its dead-lettered original only.

``streamproc dlq replay`` produces a dead letter's original back to its origin topic and partition,
where it is a new record with a new offset. Without a guard, that copy becomes a second valid input
as soon as the original is processed successfully too: a later replay from before the original, or
a fixed topology reading it again, would apply both. So the copy carries a header naming the root
original (``topic:partition:offset``; a copy of a copy names the first one), and the task that reads
the input remembers, in its state, which originals it dead-lettered:

- dead-lettering a message adds its root origin to the set;
- a copy is applied only if its root origin is in the set, and then removed from it (if the copy
  fails again it is dead-lettered again, which puts the origin back);
- any other copy is skipped and counted: its original was processed, in the current state.

The set is stored under a reserved key of each of the task's stores, so it is committed in the same
WriteBatch and changelogged with the state it describes: after ``replay --reset-state`` it is empty
with the rest. A task without stores has nowhere to keep it, and applies every copy.
"""

from __future__ import annotations

import logging

import orjson

log = logging.getLogger(__name__)

#: First header of a re-driven copy: the root origin ``topic:partition:offset`` it stands in for.
REDRIVE_HEADER = "streamproc.redrive.of"
#: A storage key no user key can equal (see runtime/dedupe.py's MARKS_KEY).
DEAD_KEY = b"\xff\xffstreamproc.dead-lettered"


def root_origin(headers: list[tuple[str, bytes | None]] | None, topic: str, partition: int, offset: int) -> bytes:
    """The original a message stands for: the one its re-drive header names, or itself."""
    if headers and headers[0][0] == REDRIVE_HEADER and headers[0][1]:
        return headers[0][1]
    return f"{topic}:{partition}:{offset}".encode()


class RedriveGuard:
    """The root origins one task dead-lettered whose re-driven copy it has not applied yet."""

    __slots__ = ("dirty", "origins", "skipped")

    def __init__(self, origins: set[bytes] | None = None) -> None:
        self.origins: set[bytes] = origins or set()
        self.dirty = False
        self.skipped = 0

    def dead_lettered(self, root: bytes) -> None:
        self.origins.add(root)
        self.dirty = True

    def admit(self, root: bytes | None, topic: str, partition: int, offset: int) -> bool:
        """True: apply this copy in place of its dead-lettered original. False: skip it."""
        root = root or b"?"
        if root in self.origins:
            self.origins.discard(root)
            self.dirty = True
            return True
        self.skipped += 1
        log.info("%s[%d]@%d skipped: a re-driven copy of %s, which was processed (not dead-lettered) in the "
                 "current state", topic, partition, offset, root.decode(errors="replace"))
        return False

    def encode(self) -> bytes:
        return orjson.dumps(sorted(o.decode() for o in self.origins))

    @classmethod
    def decode(cls, raw: bytes | None) -> RedriveGuard:
        if not raw:
            return cls()
        return cls({o.encode() for o in orjson.loads(raw)})
