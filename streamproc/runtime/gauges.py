"""What the worker measures for the metrics at its checkpoint tick: consumer lag, state size, stream time lag,
pending timers.

Both run in the worker's thread (the consumer and the stores are not shared with the scrape
thread) and touch no broker: the high watermark comes from the last fetch response, which the
consumer caches. That is also the only high watermark the embedded test broker reports right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import TopicPartition

from streamproc.plan import Plan
from streamproc.runtime.task import Task
from streamproc.state.position import TP


def reader_components(plan: Plan) -> dict[str, str]:
    """The component that reads each source topic: its spout, or the bolt an internal topic feeds."""
    found = {name: topic.target for name, topic in plan.internal_topics.items()}
    for component, spout in plan.spouts.items():
        for topic in spout.topics:
            found[topic] = component
    return found


def consumer_lag(consumer: Any, tasks: Iterable[Task], start_offsets: Mapping[TP, int]) -> dict[TP, int]:
    """Records between the next offset to process and the high watermark, per assigned input partition.

    A partition with nothing processed yet counts from its committed offset; one that has neither,
    or that was never fetched (paused while its task restores), is left out rather than guessed.
    """
    lag: dict[TP, int] = {}
    watermarks = consumer.get_watermark_offsets
    for task in tasks:
        for topic, reader in task.readers.items():
            tp = (topic, task.partition)
            position = reader.next_offset if reader.next_offset is not None else start_offsets.get(tp)
            if position is None:
                continue
            _, high = watermarks(TopicPartition(topic, task.partition), cached=True)
            if high >= 0:
                lag[tp] = max(high - position, 0)
    return lag


def state_sizes(plan: Plan, tasks: Iterable[Task]) -> dict[str, tuple[int, int]]:
    """``store -> (entries, bytes)`` committed in this worker's partitions; 0 for stores it holds none of.

    Entries are exact (StoreBackend.entry_count: a key's own value and each sub-key count one); bytes
    are what the backend occupies (RocksDB: its files and memtables; memory: keys and values)."""
    sizes = dict.fromkeys(plan.stores, (0, 0))
    for task in tasks:
        for name, store in task.stores.items():
            backend = store.backend
            total_keys, total_bytes = sizes.get(name, (0, 0))
            sizes[name] = (total_keys + backend.entry_count(), total_bytes + backend.size_bytes())
    return sizes


def stream_time_lag(tasks: Iterable[Task], now: int) -> dict[str, float]:
    """``task id -> seconds`` the wall clock ``now`` (ms) is ahead of the task's stream time, for tasks that have
    one (a task that has seen no record is left out)."""
    return {task.id: (now - task.time.clock.time) / 1000 for task in tasks if task.time.clock.time >= 0}


def pending_timers(tasks: Iterable[Task]) -> dict[tuple[str, str], int]:
    """``(task id, component) -> timers pending`` for every bolt with timers. A scan of the timers (they are
    ordered by time, not counted), so it is asked at the checkpoint tick only."""
    return {(task.id, component): service.pending()
            for task in tasks for component, service in task.time.timers.items()}


def open_windows(tasks: Iterable[Task]) -> dict[tuple[str, int], int]:
    """``(component, partition) -> windows open`` in the windowed bolts of ``tasks``."""
    return {(component, task.partition): engine.open for task in tasks
            for component, engine in task.time.windows.items()}
