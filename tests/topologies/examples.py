"""What the tests of the windowed examples share: loading an example file, and the oracle's view of its input.

Stream time is per task, so the oracle replays each input partition's records on their own, in the order
that partition received them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from tests.support.kafka import REPO
from tests.windows.oracle import Event

#: Event times of the examples' tests: 2026-11-01T00:00Z (a multiple of 5 minutes).
BASE = 1_793_491_200_000
DAY = 86_400_000
#: The test driver's wall clock: after every event time the tests use, and within the future-skew bound of them.
WALL = BASE + 2 * DAY
#: A stream time past every window's close in the tests: what idle advance reaches after a long silence.
FAR = BASE + 30 * DAY


def load_example(name: str) -> ModuleType:
    """topologies/<name>.py as a module (the examples are files, not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_example", REPO / "topologies" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


windowed_data = load_example("windowed_data")


def by_partition(rows: Sequence[tuple[str, dict[str, Any], int]], partitions: int) -> dict[int, list[Event]]:
    """Each partition's records as oracle Events (key, value, event time), in arrival order."""
    found: dict[int, list[Event]] = {p: [] for p in range(partitions)}
    for key, value, ts in rows:
        found[windowed_data.murmur2_partition(key, partitions)].append(Event(key, value, ts))
    return found


def identity(value: dict[str, Any]) -> tuple[Any, ...]:
    """A record's value as a hashable, for comparing multisets of records."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in value.items()))


def flush_keys(partitions: int) -> list[str]:
    """A key per partition: a record of it after the input moves that partition's stream time past every window."""
    keys: dict[int, str] = {}
    n = 0
    while len(keys) < partitions:
        keys.setdefault(windowed_data.murmur2_partition(f"flush-{n}", partitions), f"flush-{n}")
        n += 1
    return [keys[p] for p in range(partitions)]
