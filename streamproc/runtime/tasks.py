"""The one owner of a worker's tasks: created on assignment, restored, running, closed on revocation.

Every task goes through the same states, and only this class moves it:

    RESTORING --(its stores are restored, or it has none)--> RUNNING --(revoke / lost / close)--> CLOSED

A task is created and starts restoring when its partition is assigned. Its readers join
``readers`` (what the dispatch loop hands messages to) only when it is RUNNING; until then its
partitions stay paused. The worker (streamproc.runtime.worker) and the test driver
(streamproc.testing) both drive tasks through this class and nothing else creates or closes one:
they own the consumer and tell it to resume the partitions ``assign`` and ``restore_step`` report
ready, and they checkpoint ``running()`` tasks before a revocation.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from streamproc.kafka.continuity import ContiguousConsumer
from streamproc.metrics import Tally
from streamproc.plan import Plan, SubTopology
from streamproc.runtime.clock import TimeConfig
from streamproc.runtime.dispatch import Read
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.standby import StandbyKeeper
from streamproc.runtime.task import Task
from streamproc.state.position import TP
from streamproc.state.recovery import ChangelogRestorer

log = logging.getLogger(__name__)


class TaskState(enum.Enum):
    RESTORING = "restoring"
    RUNNING = "running"
    CLOSED = "closed"


TaskKey = tuple[int, int]  # (sub-topology id, partition)


class TaskManager:
    def __init__(
        self,
        plan: Plan,
        partitions: Mapping[str, int],
        output: Output,
        policy: ErrorPolicy,
        state_dir: Path,
        restorer: ChangelogRestorer,
        *,
        standby: StandbyKeeper | None = None,
        emitted: Callable[[str], Tally] | None = None,
        contiguous: ContiguousConsumer | None = None,
        time: TimeConfig | None = None,
    ) -> None:
        """``partitions``: the partition count of every topic the plan reads or writes. ``contiguous``: the
        consumer adapter that re-reads fetch gaps, where the broker needs it and internal topics have no
        gaps of their own (at-least-once: no compaction, no transaction markers); the internal topics of
        running tasks are checked (streamproc.kafka.continuity). ``time``: the wall clock and the bounds of
        event time (streamproc.runtime.clock)."""
        self.plan = plan
        self.partitions = partitions
        self._output = output
        self._policy = policy
        self._state_dir = state_dir
        self._restorer = restorer
        self._standby = standby
        self._emitted = emitted
        self._contiguous = contiguous
        self.time = time if time is not None else TimeConfig()
        self._sub_of_topic = plan.subtopology_of_topic()
        self._tasks: dict[TaskKey, Task] = {}
        self._states: dict[TaskKey, TaskState] = {}
        self._by_id: dict[str, TaskKey] = {}
        #: The reader of every partition whose task is RUNNING: the dispatch loop's routing table.
        self.readers: dict[TP, Read] = {}
        #: Committed offsets of the assigned partitions (where reading resumes; lag before the first message).
        self.committed: dict[TP, int] = {}

    # --- what the owner asks ---------------------------------------------------------------------
    def key_of(self, topic: str, partition: int) -> TaskKey:
        return self._sub_of_topic[topic].id, partition

    def state(self, key: TaskKey) -> TaskState:
        return self._states.get(key, TaskState.CLOSED)

    def tasks(self) -> list[Task]:
        """Every open task, restoring or running."""
        return list(self._tasks.values())

    def running(self) -> list[Task]:
        """The tasks a checkpoint covers, in a fixed order."""
        return [self._tasks[k] for k in sorted(self._tasks) if self._states[k] is TaskState.RUNNING]

    def on_wall(self, now: int) -> None:
        """Run the ticks, wall-clock timers and idle advance due at ``now`` (ms) in the running tasks; the
        owner calls it once per loop iteration (a comparison per task when nothing is due)."""
        for key, task in self._tasks.items():
            time = task.time
            if self._states[key] is TaskState.RUNNING and time.active:
                if time.idle_ms is not None:
                    time.idle_advance(now)
                if time.wall_due() <= now:
                    time.on_wall(now)

    @property
    def restoring(self) -> bool:
        return self._restorer.busy

    def counts(self) -> tuple[int, int]:
        """(running tasks, open tasks), for readiness."""
        return sum(1 for s in self._states.values() if s is TaskState.RUNNING), len(self._tasks)

    # --- assignment ------------------------------------------------------------------------------
    def assign(self, partitions: Iterable[TP], committed: Mapping[TP, int]) -> list[TP]:
        """Open a task for every newly assigned partition and start restoring its stores. Returns the
        partitions that can be read at once (their tasks have no state to restore)."""
        partitions = list(partitions)
        self.committed.update(committed)
        if self._standby is not None:  # a task opens these stores now: the standby copies let go of them
            self._standby.release({(store, p) for t, p in partitions for store in self._sub_of_topic[t].stores})
        created: list[TaskKey] = []
        for topic, partition in partitions:
            key = self.key_of(topic, partition)
            if key not in self._tasks:
                self._open(key, self._sub_of_topic[topic], partition)
                created.append(key)
        self._update_standby()
        ready: list[TP] = []
        for key in created:
            task = self._tasks[key]
            if not task.stores:
                ready += self._run(key)
                continue
            task_committed = {tp: o for tp, o in self.committed.items()
                              if tp[1] == task.partition and tp[0] in task.sub.source_topics}
            for store in task.stores.values():
                self._restorer.begin(task.id, store, task_committed)
        return ready

    def restore_step(self, timeout: float) -> list[TP]:
        """Apply one batch of changelog records; returns the partitions of the tasks that became RUNNING."""
        ready: list[TP] = []
        for task_id in self._restorer.step(timeout):
            key = self._by_id.get(task_id)
            if key is not None and self._states.get(key) is TaskState.RESTORING:
                ready += self._run(key)
        return ready

    def revoke(self, partitions: Iterable[TP]) -> None:
        """Close the tasks of revoked partitions (the owner checkpoints them first)."""
        self._close(partitions, discard=False)

    def lose(self, partitions: Iterable[TP]) -> None:
        """Close the tasks of lost partitions without keeping any of their uncommitted work."""
        self._close(partitions, discard=True)

    def close(self) -> None:
        for key in list(self._tasks):
            self._close_task(key)
        self.readers.clear()
        self.committed.clear()

    # --- internals -------------------------------------------------------------------------------
    def _open(self, key: TaskKey, sub: SubTopology, partition: int) -> None:
        task = Task(self.plan, sub, partition, self.partitions, self._output, self._policy, self._state_dir,
                    self._emitted, self.time)
        self._tasks[key] = task
        self._states[key] = TaskState.RESTORING
        self._by_id[task.id] = key

    def _run(self, key: TaskKey) -> list[TP]:
        """RESTORING -> RUNNING: the stores are restored (or there are none). Returns its partitions."""
        task = self._tasks[key]
        task.start_offsets = {tp: o for tp, o in self.committed.items()
                              if tp[1] == task.partition and tp[0] in task.sub.source_topics}
        task.load_marks()
        self._states[key] = TaskState.RUNNING
        tps = [(topic, task.partition) for topic in task.sub.source_topics]
        for tp in tps:
            if self._contiguous is not None and tp[0] in self.plan.internal_topics:
                self._contiguous.expect(tp[0], tp[1], self.committed.get(tp))
            self.readers[tp] = task.readers[tp[0]].read
        log.info("task %s ready: processing %s", task.id, ", ".join(f"{t}[{p}]" for t, p in tps))
        return tps

    def _close(self, partitions: Iterable[TP], discard: bool) -> None:
        partitions = list(partitions)
        if self._contiguous is not None:
            self._contiguous.forget(partitions)
        keys = set()
        for tp in partitions:
            self.committed.pop(tp, None)
            keys.add(self.key_of(*tp))
        for key in keys:
            task = self._tasks.get(key)
            if task is not None and discard:
                task.discard()
            self._close_task(key)
        self._update_standby()

    def _close_task(self, key: TaskKey) -> None:
        task = self._tasks.pop(key, None)
        self._states.pop(key, None)
        if task is None:
            return
        del self._by_id[task.id]
        for topic in task.sub.source_topics:
            self.readers.pop((topic, task.partition), None)
        self._restorer.cancel(task.id)
        task.close()

    def _update_standby(self) -> None:
        if self._standby is not None:
            self._standby.update(self._standby.wanted(self._tasks, dict(self.partitions)))
