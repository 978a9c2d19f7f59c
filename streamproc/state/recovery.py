"""Bringing a task's stores up to date from their changelogs before the task processes anything.

Each store partition is read from its local changelog position to the end, in batches (one
WriteBatch per fetched batch). "The end" is reached when the consumer reports partition EOF and
its position is at or past the end offset read when the restore began: a broker may report a
stale high watermark, so neither signal alone is trusted. Records whose source offsets are not
below the group's committed offsets are skipped: they describe inputs that will be processed again.

A store partition with nothing to read (an empty changelog, or a local copy already at its end)
is done at once: the next ``step`` reports it without waiting for a fetch, which on an empty
partition would last the consumer's whole ``fetch.wait.max.ms``.

Only the StoreBackend interface is used, so every backend restores the same way.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamproc.errors import ServiceError
from streamproc.state.backend import Batch
from streamproc.state.changelog import SOURCE_HEADER, decode_sources, is_committed, source_header
from streamproc.state.partition import StorePartition
from streamproc.state.position import TP, Position

log = logging.getLogger(__name__)

#: Seconds between restore progress log lines.
PROGRESS_INTERVAL = 5.0
#: Errors of an end-offset lookup while a partition's leadership moves (a broker died or came back): the
#: client's metadata is stale, no leader is elected yet, or the request was in flight to the broker that
#: died. Asked again for up to ``ChangelogRestorer.leader_patience`` seconds (as any retriable error is).
_LEADER_MOVING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                            KafkaError._DESTROY_BROKER, KafkaError._TRANSPORT})


@dataclass
class _Restoring:
    store: StorePartition
    committed: Mapping[TP, int]
    end_offset: int
    owner: str
    started: float = field(default_factory=time.monotonic)
    applied: int = 0
    skipped: int = 0
    position: int = 0
    #: The position at which the broker last reported partition EOF; a record read since moves past it.
    eof_at: int = -1
    verdicts: dict[bytes | None, bool] = field(default_factory=dict)

    @property
    def at_eof(self) -> bool:
        return self.eof_at == self.position


class ChangelogRestorer:
    """Restores store partitions with one assign-only consumer per worker.

    ``consumer`` must be created with ``enable.partition.eof=true`` and never commits.
    """

    def __init__(self, consumer: Any, batch_size: int = 10_000,
                 on_restored: Callable[[str, int], None] | None = None,
                 true_end: Callable[[str, int], int] | None = None) -> None:
        """``on_restored(store, records)`` is told about every batch applied (the metrics)."""
        self._consumer = consumer
        self._batch_size = batch_size
        self._active: dict[TP, _Restoring] = {}
        #: Owners with a store found up to date by ``begin``, reported by the next ``step``.
        self._instant: set[str] = set()
        self._on_restored = on_restored
        #: The changelog's end confirmed by a fetch, asked only when the reported end is below the local
        #: offset: on Kafka that means the changelog was recreated; some brokers just report stale ends.
        self._true_end = true_end
        #: Seconds to wait for a changelog partition's end offset while it has no leader.
        self.leader_patience = 30.0
        #: Changelog records read so far (applied or skipped), for progress reports.
        self.records_read = 0
        self._next_report = time.monotonic() + PROGRESS_INTERVAL

    @property
    def busy(self) -> bool:
        return bool(self._active or self._instant)

    def owners(self) -> set[str]:
        return {r.owner for r in self._active.values()}

    def progress(self) -> dict[str, tuple[int, int]]:
        """``store -> (partitions restoring, records left)``. The end is the larger of the end offset read
        when the restore began and the high watermark of the latest fetch (the only one a broker with
        stale ListOffsets answers gets right); the count includes records that will be skipped."""
        found: dict[str, tuple[int, int]] = {}
        for (topic, partition), r in self._active.items():
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            left = max(r.end_offset, high) - r.position
            partitions, total = found.get(r.store.spec.name, (0, 0))
            found[r.store.spec.name] = (partitions + 1, total + max(left, 0))
        return found

    def begin(self, owner: str, store: StorePartition, committed: Mapping[TP, int]) -> None:
        """Start restoring ``store``; ``committed`` are the group's committed offsets of its task's inputs."""
        backend = store.backend
        position = backend.position()
        ahead = position.ahead_of(committed)
        start = position.changelog or 0
        if ahead:
            log.warning(
                "store %s[%d] reflects inputs beyond the committed offsets (%s); rebuilding it from the changelog",
                store.spec.name, store.partition, ahead,
            )
            backend.wipe()
            start = 0
        tp = (store.changelog, store.partition)
        high = self._end_offset(tp, store.spec.name)
        # A reported end at or below the local offset may be stale on some brokers: confirm it with a fetch.
        confirmed = high == 0
        if start >= high > 0 and self._true_end is not None:
            high, confirmed = max(high, self._true_end(*tp)), True
        if start > high:
            log.warning(
                "store %s[%d] is at changelog offset %d but %s ends at %d (the changelog was deleted or recreated, "
                "e.g. by replay --reset-state); discarding the local copy and rebuilding it",
                store.spec.name, store.partition, start, store.changelog, high,
            )
            backend.wipe()
            start = 0
        log.info("restoring %s[%d] from offset %d (end offset %d)", store.changelog, store.partition, start, high)
        if start >= high and confirmed:
            backend.write((), Position(start, committed))
            self._instant.add(owner)
            log.info("restored %s[%d]: 0 records applied, 0 skipped (uncommitted) in 0.00s (it was at the end)",
                     store.changelog, store.partition)
            return
        self._active[tp] = _Restoring(store, dict(committed), high, owner, position=start)
        self._consumer.incremental_assign([TopicPartition(store.changelog, store.partition, start)])

    def _end_offset(self, tp: TP, store: str) -> int:
        """The changelog partition's reported end. While a broker is down, a partition may have no leader
        for a few seconds (until another replica is elected), or the client may still ask the dead one: ask
        again, then give up with a ServiceError that says so (the worker restarts and tries again) rather than
        an unexplained exception. This runs in the assignment callback, where librdkafka retries nothing."""
        deadline = time.monotonic() + self.leader_patience
        while True:
            try:
                return int(self._consumer.get_watermark_offsets(TopicPartition(*tp), timeout=10)[1])
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() not in _LEADER_MOVING and not err.retriable():
                    raise
                if time.monotonic() >= deadline:
                    raise ServiceError(
                        f"cannot read where changelog {tp[0]}[{tp[1]}] ends, to restore store {store!r}: {err.str()} "
                        f"(is a broker down, or the partition without a leader?)") from None
                log.warning("reading where %s[%d] ends: %s; trying again", tp[0], tp[1], err.str())
                time.sleep(0.5)

    def cancel(self, owner: str) -> None:
        """Stop restoring the stores of ``owner`` (its partition was revoked)."""
        self._instant.discard(owner)
        done = [tp for tp, r in self._active.items() if r.owner == owner]
        if done:
            self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in done])
            for tp in done:
                del self._active[tp]

    def step(self, timeout: float) -> set[str]:
        """Apply one fetched batch; return the owners whose stores are all restored now.

        Python's cycle collector is paused meanwhile. The loop creates no reference cycles, so it would
        find nothing, but it would run every 700 allocations and walk the batch's 10,000 messages each
        time: 0.5 to 0.9 µs per record, about a fifth of the restore (measured with bench/restore.py).
        """
        instant, self._instant = self._instant, set()
        if not self._active:
            return instant
        collecting = gc.isenabled()
        gc.disable()
        try:
            return (self._apply(timeout) | instant) - self.owners()
        finally:
            if collecting:
                gc.enable()

    def _apply(self, timeout: float) -> set[str]:
        """This is the restore's hot loop. Records arrive in runs of one partition, so a partition's state
        is looked up once per run; a checkpoint's records share one provenance header, so the skip rule
        is decided once per distinct header; values go straight into the partition's WriteBatch.
        """
        if not self._active:
            return set()
        messages = self._consumer.consume(self._batch_size, timeout)
        batches: dict[TP, Batch] = {}
        written: set[TP] = set()  # partitions with records in this batch: their position is written
        restoring: _Restoring | None = None
        topic: str | None = None
        partition = -1
        last: Any = None
        verdicts: dict[bytes | None, bool] = {}
        put: Callable[[bytes, bytes], None] = _unbound
        delete: Callable[[bytes], None] = _unbound
        read = skipped = 0
        for msg in messages:
            if msg.partition() != partition or msg.topic() != topic:
                if restoring is not None:
                    self._end_run(restoring, last, skipped, written)
                topic, partition = msg.topic(), msg.partition()
                restoring = self._active.get((topic, partition))
                last, skipped = None, 0
                if restoring is not None:
                    verdicts = restoring.verdicts
                    batch = batches.get((topic, partition))
                    if batch is None:
                        batch = batches[topic, partition] = restoring.store.backend.new_batch()
                    put, delete = batch.put, batch.delete
            if restoring is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"reading changelog {topic}[{partition}] failed: {err}")
                self._end_run(restoring, last, skipped, written)
                last, skipped = None, 0
                # Past any transaction markers after the last record, which take offsets too.
                restoring.position = restoring.eof_at = max(restoring.position, msg.offset())
                continue
            last = msg
            read += 1
            headers = msg.headers()
            raw = headers[0][1] if headers and headers[0][0] == SOURCE_HEADER else source_header(headers)
            verdict = verdicts.get(raw)
            if verdict is None:
                verdict = verdicts[raw] = is_committed(decode_sources(raw or b""), restoring.committed)
            if not verdict:
                skipped += 1
            elif (value := msg.value()) is None:
                delete(msg.key())
            else:
                put(msg.key(), value)
        if restoring is not None:
            self._end_run(restoring, last, skipped, written)
        self.records_read += read
        if read and time.monotonic() >= self._next_report:
            self._report()
        for tp in written:
            restoring, batch = self._active[tp], batches[tp]
            applied = batch.len()
            restoring.applied += applied
            restoring.store.backend.write_batch(batch, Position(restoring.position))
            if self._on_restored is not None and applied:
                self._on_restored(restoring.store.spec.name, applied)
        return self._finish()

    @staticmethod
    def _end_run(restoring: _Restoring, last: Any, skipped: int, written: set[TP]) -> None:
        """Account for a run of one partition's records, ``last`` its last record (None: no records)."""
        if last is not None:
            restoring.position = last.offset() + 1
            restoring.skipped += skipped
            written.add((last.topic(), last.partition()))

    def _report(self) -> None:
        """A progress line per store partition being restored, at most every PROGRESS_INTERVAL seconds."""
        self._next_report = time.monotonic() + PROGRESS_INTERVAL
        for (topic, partition), r in self._active.items():
            seconds = time.monotonic() - r.started
            done = r.applied + r.skipped
            log.info("restoring %s[%d]: at offset %d of %d, %d records in %.0fs (%.0f/s)", topic, partition,
                     r.position, r.end_offset, done, seconds, done / seconds if seconds else 0.0)

    def _finish(self) -> set[str]:
        finished: list[TP] = []
        for tp, r in self._active.items():
            if r.at_eof and r.position >= r.end_offset:
                finished.append(tp)
        if not finished:
            return set()
        self._consumer.incremental_unassign([TopicPartition(t, p) for t, p in finished])
        owners: set[str] = set()
        for tp in finished:
            r = self._active.pop(tp)
            owners.add(r.owner)
            # The local copy now reflects exactly the committed inputs.
            r.store.backend.write((), Position(r.position, r.committed))
            log.info(
                "restored %s[%d]: %d records applied, %d skipped (uncommitted) in %.2fs",
                tp[0], tp[1], r.applied, r.skipped, time.monotonic() - r.started,
            )
        return owners - self.owners()


def _unbound(*_: bytes) -> None:
    raise AssertionError("a record was applied before its partition's batch was chosen")

