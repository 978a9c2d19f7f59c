"""A task: one partition of one sub-topology, with its own bolt instances and store partitions.

Tasks are what a rebalance moves. Everything a task owns (bolt instances, write caches, open
RocksDB directories) belongs to this partition only, so tasks never share mutable state.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from streamproc.components import CALLBACK_ORIGIN, DEFAULT_STREAM, Bolt, CallbackContext, TaskContext
from streamproc.errors import BoltSetupError, TopologyError
from streamproc.kafka.sink import KafkaSink
from streamproc.metrics import Tally
from streamproc.plan import Plan, SubTopology
from streamproc.runtime.clock import TimeConfig
from streamproc.runtime.dedupe import MARKS_KEY, OriginCounter, OriginMarks
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.readers import InternalReader, Reader, SpoutReader
from streamproc.runtime.redrive import DEAD_PREFIX, RedriveGuard
from streamproc.runtime.routing import BoltRunner, ComponentEmitter, Deliver, InternalWriter
from streamproc.runtime.tasktime import TaskTime
from streamproc.serde.base import Headers, Serde
from streamproc.serde.json import JsonSerde
from streamproc.state.changelog import SOURCE_HEADER, encode_sources
from streamproc.state.keyed import keyed_state
from streamproc.state.partition import StorePartition, open_partition
from streamproc.state.position import TP
from streamproc.state.ttl import bind_clocks, check_format

log = logging.getLogger(__name__)


def instantiate(component: str, bolt: type[Bolt] | Bolt) -> Bolt:
    """A fresh bolt for one task: a class is called with no arguments, an instance is deep-copied."""
    try:
        return bolt() if isinstance(bolt, type) else copy.deepcopy(bolt)
    except Exception as exc:
        raise TopologyError(f"cannot create bolt {component!r} for a task: {type(exc).__name__}: {exc}") from exc


class Task:
    def __init__(
        self,
        plan: Plan,
        sub: SubTopology,
        partition: int,
        partitions: Mapping[str, int],
        output: Output,
        policy: ErrorPolicy,
        state_dir: Path,
        emitted: Callable[[str], Tally] | None = None,
        time: TimeConfig | None = None,
    ) -> None:
        """``emitted(component)`` gives the tally that counts the component's emissions (default: a private one).
        ``time``: the wall clock and the bounds of event time (default: the system clock, default bounds)."""
        self.plan = plan
        self.sub = sub
        self.partition = partition
        self.id = f"{sub.id}_{partition}"
        self._output = output
        self._counters: dict[str, OriginCounter] = {}
        #: Dedupe marks for internal inputs; only a task with state can keep them durably.
        self.marks: OriginMarks | None = None
        #: Dead-lettered inputs whose re-driven copy is still to come; only a task with state keeps it.
        self.guard: RedriveGuard | None = None
        self._policy = policy
        self.stores: dict[str, StorePartition] = {}
        self.bolts: dict[str, Bolt] = {}
        #: Stream time, timers and ticks (streamproc.runtime.tasktime).
        self.time = TaskTime(time if time is not None else TimeConfig(), sub.id, partition, policy, self.position)
        #: Where reading resumes per input (the committed offsets): the base of the task's input position.
        self.start_offsets: dict[TP, int] = {}
        #: The input position of the last flush (at first: where the task starts).
        self._flushed_at: int | None = None
        runners: dict[str, BoltRunner] = {}
        try:
            for component in sub.components:
                if component not in plan.bolts:
                    continue
                bolt = instantiate(component, plan.bolts[component].bolt)
                self.bolts[component] = bolt
                for spec in type(bolt).stores:
                    self.stores[spec.name] = open_partition(spec, state_dir, plan.names, partition)
                self.time.add_bolt(component, bolt, self.stores)  # may bind the bolt's process (windowed bolts)
                runners[component] = BoltRunner(component, bolt)
            clock = self.time.clock
            self._ttl = bind_clocks(self.stores.values(), lambda: clock.time, self.time.config.wall)
            self._wire(runners, partitions, emitted)
            self.readers: dict[str, Reader] = self._make_readers(runners, policy)
            for reader in self.readers.values():
                reader.clock = self.time.clock
            for component, bolt in self.bolts.items():
                try:
                    if isinstance(bolt, KafkaSink):
                        bolt.bind(output)
                    bolt.setup(TaskContext(plan.name, component, self.id, partition))
                except (Exception, SystemExit) as exc:
                    raise BoltSetupError(f"setup() of bolt {component!r} failed in task {self.id}: "
                                         f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _delivers(self, component: str, runners: Mapping[str, BoltRunner], partitions: Mapping[str, int]
                  ) -> dict[str, list[Deliver]]:
        streams: dict[str, list[Deliver]] = {}
        for (source, stream), routes in self.plan.routes.items():
            if source != component:
                continue
            for route in routes:
                if route.topic is None:
                    deliver: Deliver = runners[route.target].run
                else:
                    internal = self.plan.internal_topics[route.topic]
                    counter = self._counters.setdefault(route.topic, OriginCounter())
                    deliver = InternalWriter(route, partitions[route.topic], self._output, internal.tagged,
                                             counter).deliver
                streams.setdefault(stream, []).append(deliver)
        return streams

    def _direct_sink(self, component: str) -> tuple[str, KafkaSink] | None:
        """The KafkaSink that is the only, in-process subscriber of ``component``'s default stream, if any
        (and not a subclass that changes ``process``: the emitter would bypass it)."""
        routes = self.plan.routes.get((component, DEFAULT_STREAM), [])
        if len(routes) != 1 or routes[0].topic is not None:
            return None
        target = self.bolts[routes[0].target]
        if isinstance(target, KafkaSink) and type(target).process is KafkaSink.process:
            return routes[0].target, target
        return None

    def _wire(self, runners: Mapping[str, BoltRunner], partitions: Mapping[str, int],
              emitted: Callable[[str], Tally] | None) -> None:
        for component, bolt in self.bolts.items():
            # An instance attribute shadows Bolt.emit: user code calls the emitter directly.
            vars(bolt)["emit"] = ComponentEmitter(component, bolt, self._delivers(component, runners, partitions),
                                                  self._direct_sink(component),
                                                  emitted(component) if emitted is not None else None)
            bolt._states = {
                spec.name: keyed_state(bolt, self.stores[spec.name]) for spec in type(bolt).stores
            }
        spouts = [c for c in self.sub.components if c in self.plan.spouts]
        self._spout_delivers = {c: self._delivers(c, runners, partitions).get("default", []) for c in spouts}

    def _make_readers(self, runners: Mapping[str, BoltRunner], policy: ErrorPolicy) -> dict[str, Reader]:
        readers: dict[str, Reader] = {}
        for component, delivers in self._spout_delivers.items():
            spout = self.plan.spouts[component]
            for topic in spout.topics:
                readers[topic] = SpoutReader(
                    topic, self.partition, policy, component, spout.key_serde, spout.value_serde, delivers,
                    spout.timestamp,
                )
        for topic in self.sub.internal_topics:
            internal = self.plan.internal_topics[topic]
            origins: dict[bytes, tuple[str, str, Serde]] = {}
            for routes in self.plan.routes.values():
                for route in routes:
                    if route.topic == topic:
                        tag = f"{route.source}/{route.stream}".encode()
                        origins[tag] = (route.source, route.stream, route.grouping.serde or JsonSerde())
            readers[topic] = InternalReader(topic, self.partition, policy, runners[internal.target].run, origins)
        return readers

    def load_marks(self) -> None:
        """Read the dedupe marks and the re-drive guard the (restored) stores hold, and check each store's format
        (with or without TTL) against its declaration; call before the task processes anything."""
        internal = [r for r in self.readers.values() if isinstance(r, InternalReader)]
        spouts = [r for r in self.readers.values() if isinstance(r, SpoutReader)]
        self._flushed_at = self.position()
        for store in self.stores.values():
            check_format(store)
        self.time.load(self.stores.values())
        if not self.stores:
            return
        first = next(iter(self.stores.values()))
        if spouts:
            stores = list(self.stores.values())
            self.guard = RedriveGuard(lambda root: any(store.backend.get(DEAD_PREFIX + root) for store in stores))
            for spout in spouts:
                spout.guard = self.guard
                self._policy.guards[(spout.topic, spout.partition)] = self.guard
        if not internal:
            return
        self.marks = OriginMarks.decode(first.backend.get(MARKS_KEY))
        for reader in internal:
            reader.marks = self.marks

    # --- checkpoint steps -----------------------------------------------------------------------
    def last_processed(self) -> dict[TP, int]:
        return {
            (r.topic, r.partition): r.next_offset - 1 for r in self.readers.values() if r.next_offset is not None
        }

    def commit_offsets(self) -> dict[TP, int]:
        return {(r.topic, r.partition): r.next_offset for r in self.readers.values() if r.next_offset is not None}

    @property
    def dirty(self) -> bool:
        """Uncommitted state writes exist (a bolt may also write state from flush(), so ask the stores), or a tick
        or timer ran since the last checkpoint (what it emitted, or left for flush(), is due a checkpoint), or an
        entry of a TTL store may have expired (its tombstone is due)."""
        return (self.time.called_back or any(store.dirty_count for store in self.stores.values())
                or any(part.expiry_due() for part in self._ttl))

    def position(self) -> int:
        """The task's input position: the sum of where each input is (or resumes). It grows with every record,
        and a replay from the last commit reaches the same values at the same records."""
        start = self.start_offsets
        return sum(r.next_offset if r.next_offset is not None else start.get((r.topic, r.partition), 0)
                   for r in self.readers.values())

    def flush_bolts(self) -> None:
        """Call every bolt's flush() with a callback context: no key, and an origin that is the task's input
        position (streamproc.components.CallbackContext says why).

        With no input since the last flush (or since the task started at its committed position), what a
        flush emits comes of callbacks (ticks, timers), and the position would repeat an origin already
        applied downstream: such a flush takes the wall-clock origin that is never taken for a copy."""
        position = self.position()
        if position != self._flushed_at:
            origin, offset = f"{CALLBACK_ORIGIN}{self.sub.id}", position
            self._flushed_at = position
        else:
            origin, offset = self.time.wall_origin()
        for component, bolt in self.bolts.items():
            bolt._current = CallbackContext(None, None, origin, self.partition, offset, None, None,
                                            DEFAULT_STREAM, component)
            try:
                bolt.flush()
            finally:
                bolt._current = None

    def stage_changelogs(self) -> int:
        """Send one changelog record per dirty key of each store; returns how many."""
        if not self.stores:
            return 0
        headers: Headers = [(SOURCE_HEADER, encode_sources(self.last_processed()))]
        send = self._output.send
        if self.marks is not None and self.marks.dirty:
            encoded = self.marks.encode()
            for store in self.stores.values():
                store.put_raw(MARKS_KEY, encoded)
        self.time.stage(self.stores.values())
        if self.guard is not None and self.guard.pending:
            for key, raw in self.guard.staged().items():
                for store in self.stores.values():
                    store.put_raw(key, raw)

        def produce(topic: str, key: bytes, value: bytes | None, partition: int, on_delivery: Any) -> None:
            send(topic, key, value, partition, headers, None, on_delivery)

        return sum(store.stage_changelog(produce) for store in self.stores.values())

    def take_duplicates(self) -> int:
        """Replayed internal records skipped since the last call."""
        if self.marks is None:
            return 0
        count, self.marks.duplicates = self.marks.duplicates, 0
        return count

    def take_redriven_skipped(self) -> int:
        """Re-driven dead-letter copies skipped since the last call (their original was processed)."""
        if self.guard is None:
            return 0
        count, self.guard.skipped = self.guard.skipped, 0
        return count

    def take_expired(self) -> dict[str, int]:
        """Expired entries tombstoned per TTL store since the last call (streamproc.state.ttl)."""
        return {part.spec.name: part.take_expired() for part in self._ttl}

    def delivery_errors(self) -> list[Any]:
        return [e for store in self.stores.values() for e in store.delivery_errors()]

    def commit_stores(self) -> None:
        offsets = self.commit_offsets()
        for store in self.stores.values():
            store.commit_local(offsets)
        if self.marks is not None:
            self.marks.dirty = False
        self.time.committed()
        if self.guard is not None:
            self.guard.pending.clear()

    def discard(self) -> None:
        for store in self.stores.values():
            store.discard()

    def close(self) -> None:
        if self.guard is not None:
            for reader in self.readers.values():
                if self._policy.guards.get((reader.topic, reader.partition)) is self.guard:
                    del self._policy.guards[(reader.topic, reader.partition)]
        for component, bolt in getattr(self, "bolts", {}).items():
            bolt._current = None  # no record context in teardown()
            try:
                bolt.teardown()
            except Exception:
                log.exception("teardown of bolt %r in task %s failed", component, self.id)
        for store in self.stores.values():
            store.close()
