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

Each origin in the set is a reserved key of the task's stores (one changelog record when it is
added, one when it is removed, nothing for the others), committed in the same WriteBatch and
changelogged with the state it describes: after ``replay --reset-state`` the set is empty with the
rest. Only a copy looks it up. A task without stores has nowhere to keep it, and applies every copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: First header of a re-driven copy: the root origin ``topic:partition:offset`` it stands in for.
REDRIVE_HEADER = "streamproc.redrive.of"
#: Prefix of the storage key of an origin in the set; no user key can equal it (see runtime/dedupe.py's
#: MARKS_KEY). The value is b"1" while the origin is in the set, b"" once its copy was applied.
DEAD_PREFIX = b"\xff\xffstreamproc.dead/"


def root_origin(headers: list[tuple[str, bytes | None]] | None, topic: str, partition: int, offset: int) -> bytes:
    """The original a message stands for: the one its re-drive header names, or itself."""
    if headers and headers[0][0] == REDRIVE_HEADER and headers[0][1]:
        return headers[0][1]
    return f"{topic}:{partition}:{offset}".encode()


class RedriveGuard:
    """The root origins one task dead-lettered whose re-driven copy it has not applied yet.

    ``stored(root)`` says whether the committed state holds ``root``; ``pending`` holds the changes since
    the last checkpoint (True: added, False: removed), which the checkpoint writes as reserved keys.
    """

    __slots__ = ("_stored", "pending", "skipped")

    def __init__(self, stored: Callable[[bytes], bool]) -> None:
        self._stored = stored
        self.pending: dict[bytes, bool] = {}
        self.skipped = 0

    def dead_lettered(self, root: bytes) -> None:
        self.pending[root] = True

    def admit(self, root: bytes | None, topic: str, partition: int, offset: int) -> bool:
        """True: apply this copy in place of its dead-lettered original. False: skip it."""
        root = root or b"?"
        present = self.pending.get(root)
        if present is None:
            present = self._stored(root)
        if present:
            self.pending[root] = False
            return True
        self.skipped += 1
        log.info("%s[%d]@%d skipped: a re-driven copy of %s, which was processed (not dead-lettered) in the "
                 "current state", topic, partition, offset, root.decode(errors="replace"))
        return False

    def staged(self) -> dict[bytes, bytes]:
        """The reserved entries the checkpoint writes for the changes since the last one."""
        return {DEAD_PREFIX + root: b"1" if present else b"" for root, present in self.pending.items()}
