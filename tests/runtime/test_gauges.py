"""Consumer lag from the reader positions and the cached high watermarks (fakes: pure bookkeeping)."""

from __future__ import annotations

from typing import Any

from streamproc.runtime.gauges import consumer_lag


class FakeReader:
    def __init__(self, next_offset: int | None) -> None:
        self.next_offset = next_offset


class FakeTask:
    def __init__(self, partition: int, **readers: FakeReader) -> None:
        self.partition = partition
        self.readers = readers


class FakeConsumer:
    """Answers only cached watermark lookups (a lookup that would ask the broker fails the test)."""

    def __init__(self, highs: dict[tuple[str, int], int]) -> None:
        self.highs = highs

    def get_watermark_offsets(self, tp: Any, cached: bool = False) -> tuple[int, int]:
        assert cached, "lag must come from the last fetch, never from a ListOffsets request"
        return 0, self.highs.get((tp.topic, tp.partition), -1001)


def test_lag_counts_from_the_next_offset_to_process_or_the_committed_offset() -> None:
    consumer = FakeConsumer({("a", 0): 100, ("a", 1): 50, ("b", 0): 7, ("a", 2): 30})
    tasks: list[Any] = [
        FakeTask(0, a=FakeReader(40), b=FakeReader(None)),  # b: nothing processed and nothing committed
        FakeTask(1, a=FakeReader(None)),  # nothing processed yet: counts from the committed offset
        FakeTask(2, a=FakeReader(35)),  # ahead of a stale watermark: never negative
        FakeTask(3, a=FakeReader(5)),  # never fetched (paused while restoring): unknown, left out
    ]
    lag = consumer_lag(consumer, tasks, {("a", 1): 10})
    assert lag == {("a", 0): 60, ("a", 1): 40, ("a", 2): 0}
