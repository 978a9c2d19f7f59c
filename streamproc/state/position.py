"""What a store partition's committed data reflects: one value type and its one encoding.

A local copy is exact when it says how far it got: the next changelog offset it has applied and,
per input partition of its task, the next input offset whose effects it does not hold yet. The
write cache records both at every checkpoint, restores and standbys advance them, and a restore
compares the source offsets with the group's committed offsets to decide whether the copy can be
trusted. Every backend stores this value, and every one that stores bytes uses ``to_entries`` /
``from_entries`` below, so the format has one definition.

Input partitions are named ``topic:partition`` wherever a string is needed (``tp_name`` and
``parse_tp``); a topic name cannot contain ``:``, so the last colon splits it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: An input partition: (topic, partition). Not confluent-kafka's TopicPartition class.
TP = tuple[str, int]

CHANGELOG_KEY = b"changelog_offset"
SOURCE_PREFIX = b"source:"
_U64 = struct.Struct(">Q")


def tp_name(tp: TP) -> str:
    return f"{tp[0]}:{tp[1]}"


def parse_tp(name: str) -> TP:
    topic, partition = name.rsplit(":", 1)
    return topic, int(partition)


@dataclass(frozen=True, slots=True)
class Position:
    """``changelog``: the next changelog offset the data reflects (None: not recorded, as in a new copy).
    ``sources``: the next input offset to process per input partition the data reflects.

    Used as an update too (``merged``): a None changelog offset leaves the recorded one as it is, and
    source offsets replace those of the same partitions only, as a checkpoint or a restore step writes them.
    """

    changelog: int | None = None
    sources: Mapping[TP, int] = field(default_factory=dict)

    def merged(self, update: Position) -> Position:
        changelog = self.changelog if update.changelog is None else update.changelog
        if not update.sources:
            return Position(changelog, self.sources)
        return Position(changelog, {**self.sources, **update.sources})

    def ahead_of(self, committed: Mapping[TP, int]) -> dict[TP, int]:
        """Source offsets beyond the group's committed ones: the copy holds effects of uncommitted inputs."""
        return {tp: offset for tp, offset in self.sources.items() if offset > committed.get(tp, 0)}

    # --- the encoding: one entry per field, so that an update writes only what it changes ------------
    def to_entries(self) -> dict[bytes, bytes]:
        entries = {SOURCE_PREFIX + tp_name(tp).encode(): _U64.pack(o) for tp, o in self.sources.items()}
        if self.changelog is not None:
            entries[CHANGELOG_KEY] = _U64.pack(self.changelog)
        return entries

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[bytes, bytes]]) -> Position:
        changelog: int | None = None
        sources: dict[TP, int] = {}
        for key, raw in entries:
            if key == CHANGELOG_KEY:
                changelog = _U64.unpack(raw)[0]
            elif key.startswith(SOURCE_PREFIX):
                sources[parse_tp(key[len(SOURCE_PREFIX):].decode())] = _U64.unpack(raw)[0]
        return cls(changelog, sources)
