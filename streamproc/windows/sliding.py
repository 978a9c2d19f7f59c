"""Sliding windows (Kafka Streams' SlidingWindows): declared, not yet aggregated (see WindowedBolt)."""

from __future__ import annotations

from streamproc.errors import TopologyError
from streamproc.windows.engine import Engine


class SlidingEngine(Engine):
    """Refuses to run: Sliding windows are not implemented yet."""

    def load(self) -> None:
        raise TopologyError(f"{self.component}: Sliding windows are not implemented yet")
