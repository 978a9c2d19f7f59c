"""The worker: one consumer in the topology's group, one task per assigned partition.

Poll loop: consume a batch → hand each message to its partition's reader (streamproc.runtime.dispatch;
the reader runs the bolts depth-first) → checkpoint when due. Rebalances checkpoint before giving
partitions up, and new partitions stay paused until their stores are restored, while the loop keeps
polling so that the consumer stays in the group. Under exactly-once a checkpoint commits a transaction
(streamproc.runtime.transaction); a worker that fails aborts its open transaction and exits, so
that the supervisor restarts it from the last commit.

Metrics stay off the per-message path: records read are counted per run of one partition's
messages, latency is sampled once per batch, and lag and state size are measured at the
checkpoint tick (see streamproc.metrics).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from confluent_kafka import OFFSET_INVALID, TIMESTAMP_NOT_AVAILABLE, Consumer, TopicPartition

from streamproc.errors import CheckpointError
from streamproc.kafka import admin as kadmin
from streamproc.kafka import quirks, reading
from streamproc.kafka.clients import new_consumer
from streamproc.kafka.config import admin_config, consumer_config, producer_config, restore_consumer_config
from streamproc.kafka.continuity import ContiguousConsumer
from streamproc.kafka.topics import prepare_topics
from streamproc.metrics import RuntimeMetrics
from streamproc.plan import Plan, check_assignor
from streamproc.runtime.checkpoint import Checkpointer
from streamproc.runtime.clock import TimeConfig
from streamproc.runtime.commit import MAX_DEFERRED_COMMITS, commit_offsets
from streamproc.runtime.dispatch import Dispatcher
from streamproc.runtime.gauges import (
    consumer_lag,
    open_windows,
    pending_timers,
    reader_components,
    state_sizes,
    stream_time_lag,
)
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.settings import WorkerSettings
from streamproc.runtime.standby import StandbyKeeper
from streamproc.runtime.tasks import TaskManager
from streamproc.runtime.transaction import Transactions
from streamproc.runtime.waiting import AssignmentWait
from streamproc.state.position import TP
from streamproc.state.recovery import ChangelogRestorer

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, plan: Plan, settings: WorkerSettings, metrics: RuntimeMetrics | None = None) -> None:
        self.plan = plan
        self.settings = settings
        self.metrics = metrics if metrics is not None else RuntimeMetrics(plan.name)
        self._stopping = False
        self._failed = False
        #: Set when the consumer closed cleanly after a successful run: only then may a stop say it left the group.
        self.left_group = False
        self._last_committed: dict[TP, int] = {}
        self._deferred_commits = 0
        self._client_id = f"{plan.name}-worker-{settings.worker_index}"
        self._probe: Consumer | None = None
        self.standby: StandbyKeeper | None = None
        #: The transactional producer's transactions, under exactly-once only.
        self.transactions: Transactions | None = None
        #: A topic to ask the consumer about after the current consume(), to start fetching at once.
        self._wake_fetcher: str | None = None
        self._component_of = reader_components(plan)
        self._consumed = {t: self.metrics.consumed_tally(t, self._component_of[t]) for t in plan.source_topics()}
        for component in plan.bolts:  # every series from the start, and no tally created while a scrape reads them
            self.metrics.emitted_tally(component)
        self._in_group = False
        self.metrics.readiness_from(lambda: self.readiness()[0])
        self.metrics.publish_state(state_sizes(plan, ()))
        self.metrics.publish_restoring(dict.fromkeys(plan.stores, (0, 0)))
        for store, (component, spec) in plan.stores.items():
            if spec.ttl is not None:
                self.metrics.expired(component, store, 0)

    def readiness(self) -> tuple[bool, str]:
        """Ready = in the group with every assigned partition restored and processing (safe from any thread)."""
        if self._stopping:
            return False, "stopping"
        if not self._in_group:
            return False, "waiting for a partition assignment"
        tasks = getattr(self, "tasks", None)
        ready, total = tasks.counts() if tasks is not None else (0, 0)
        if ready < total:
            return False, f"{total - ready} of {total} tasks not processing yet (restoring their state)"
        return True, f"{total} tasks processing"

    def request_stop(self) -> None:
        """Stop after the current batch, with a final checkpoint (safe to call from a signal handler)."""
        self._stopping = True

    # --- start-up --------------------------------------------------------------------------------
    def _prepare_topics(self) -> None:
        s = self.settings
        admin = kadmin.connect(admin_config(s.bootstrap_servers, s.overrides, self._client_id), s.connect_timeout)
        self.partitions = prepare_topics(admin, self.plan, s.bootstrap_servers, s.create_inputs,
                                         s.on_error == "dlq", s.replication_factor)
        self.quirks = quirks.choose(s.broker_quirks, admin, s.connect_timeout)

    def _create_clients(self) -> None:
        s = self.settings
        eos = s.guarantee == "exactly-once"
        if eos:
            self.transactions = Transactions.for_worker(s, self._client_id, self._group_metadata)
            self.output = self.transactions.output
        else:
            self.output = Output(config=producer_config(s.bootstrap_servers, s.overrides, self._client_id))
        self.producer = self.output.producer
        self.policy = ErrorPolicy(s.on_error, self.plan.names.dlq(), self.output, self.metrics.failed)
        config = consumer_config(s.bootstrap_servers, s.group_id, s.overrides, self._client_id, eos)
        assignor = check_assignor(self.plan, s.assignor)
        if self._new_protocol:
            # KIP-848: the broker assigns, always incrementally; its "range" co-locates partition p of
            # equally partitioned topics as the classic range assignor does, "uniform" is the sticky one.
            config.setdefault("group.remote.assignor", "range" if assignor == "range" else "uniform")
        else:
            config["partition.assignment.strategy"] = assignor
        if s.instance_id:  # static membership: one id per worker process, the same on every restart
            config["group.instance.id"] = f"{s.instance_id}-{s.worker_index}"
        self.consumer = new_consumer(config)
        self.restorer = ChangelogRestorer(
            new_consumer(restore_consumer_config(s.bootstrap_servers, self.plan.names.restore_group(), s.overrides,
                                                 self._client_id, eos), "restore consumer"),
            on_restored=self.metrics.restored,
            true_end=self._true_end if self.quirks.stale_end_offsets else None,
        )
        self.checkpointer = Checkpointer(self.output, self._commit)
        if s.standby_replicas and self.plan.stores:
            self.standby = StandbyKeeper(
                self.plan, reading.reader(s.bootstrap_servers, s.overrides, self._client_id + "-standby"),
                s.state_dir, s.standby_replicas)
        # Internal topics have no compaction, and no transaction markers unless under exactly-once: their
        # offsets are then contiguous, and on a broker whose fetches can skip records, a fetch that skips
        # some is read again (streamproc.kafka.continuity).
        self.fetch: Any = self.consumer
        contiguous = None
        if self.quirks.fetch_gaps and not eos:
            contiguous = self.fetch = ContiguousConsumer(self.consumer, self._real_gap)
        time_config = TimeConfig(max_future_skew_ms=round(s.max_future_skew * 1000),
                                 idle_advance_ms=None if s.idle_advance is None else round(s.idle_advance * 1000),
                                 on_future=self.metrics.future_timestamp)
        self.tasks = TaskManager(self.plan, self.partitions, self.output, self.policy, s.state_dir, self.restorer,
                                 standby=self.standby, emitted=self.metrics.emitted_tally, contiguous=contiguous,
                                 time=time_config)
        self.dispatcher = Dispatcher(self.tasks.readers, self._consumed, self.metrics)

    def _real_gap(self, topic: str, partition: int, first_missing: int, found: int) -> None:
        self.metrics.error("consumer", "OFFSET_GAP")

    def _group_metadata(self) -> Any:
        return self.consumer.consumer_group_metadata()

    def _true_end(self, topic: str, partition: int) -> int:
        """A changelog's end as a fetch reports it (asked rarely, so the consumer is made on first use)."""
        if self._probe is None:
            s = self.settings
            self._probe = reading.reader(s.bootstrap_servers, s.overrides, self._client_id + "-probe")
        return reading.true_watermarks(self._probe, topic, partition)[1]

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        self._prepare_topics()
        self._create_clients()
        guarantee: str = self.settings.guarantee
        if self.transactions is not None:
            self.transactions.start()
            guarantee += f", transactional.id {self.transactions.transactional_id}"
        topics = self.plan.source_topics()
        self.consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self._waiting = AssignmentWait.for_worker(self.settings, self._client_id, self.consumer)
        log.info("worker %d of %r joined group %r, reading %s (%s); broker workarounds: %s",
                 self.settings.worker_index, self.plan.name, self.settings.group_id, topics, guarantee,
                 self.quirks.name)
        try:
            self._loop()
            self.checkpoint("stop")
        except BaseException:
            self._failed = True
            raise
        finally:
            self._shutdown()

    def _loop(self) -> None:
        interval = self.settings.commit_interval
        next_checkpoint = time.monotonic() + interval
        # A batch's writes all reach the write cache before the bound is checked: a small bound caps the batch too.
        batch_size = min(self.settings.batch_size, self.settings.max_cache_entries)
        consume = self.fetch.consume
        poll_producer = self.output.poll
        standby = self.standby
        on_wall = self.tasks.on_wall
        wall = self.tasks.time.wall
        cache_bound = self.settings.max_cache_entries
        while not self._stopping:
            restoring = self.tasks.restoring
            messages = consume(batch_size, 0.0 if restoring else 0.2)
            self._waiting.tick(self._in_group)
            if restoring:
                self._resume(self.tasks.restore_step(0.1))
                self.metrics.publish_restoring(self._restore_progress())
            if standby is not None:
                standby.step()
            if self._wake_fetcher is not None:
                self.consumer.list_topics(self._wake_fetcher, timeout=5)
                self._wake_fetcher = None
            if messages:
                started = time.monotonic()
                self.dispatcher.dispatch(messages)
                self.metrics.batch(len(messages), time.monotonic() - started)
                self._sample_latency(messages[-1])
                if self._cache_full(cache_bound):
                    self.checkpoint("write-cache")
                    next_checkpoint = time.monotonic() + interval
            on_wall(wall())  # ticks, wall-clock timers, idle advance
            poll_producer(0)
            now = time.monotonic()
            if now >= next_checkpoint:
                self.checkpoint()
                next_checkpoint = now + interval
                self._check_parent()
                self._measure()

    def _cache_full(self, bound: int) -> bool:
        """Whether the write caches of this worker's tasks hold ``bound`` dirty entries or more: then the loop
        checkpoints early, so that memory stays bounded however many distinct keys an interval writes. Asked once
        per batch (a sum over the stores), never per message."""
        return sum(store.dirty_count for task in self.tasks.tasks() for store in task.stores.values()) >= bound

    def _sample_latency(self, msg: Any) -> None:
        """End-to-end latency of one record per batch: its timestamp to now, when its outputs are sent."""
        if msg.error() is not None:
            return
        kind, timestamp = msg.timestamp()
        if kind != TIMESTAMP_NOT_AVAILABLE and timestamp > 0:
            self.metrics.end_to_end(self._component_of[msg.topic()], time.time() - timestamp / 1000)

    def _restore_progress(self) -> dict[str, tuple[int, int]]:
        progress = dict.fromkeys(self.plan.stores, (0, 0))
        progress.update(self.restorer.progress())
        return progress

    def _measure(self) -> None:
        """Lag and state size, published for the metrics (at the checkpoint tick, in this thread)."""
        tasks = self.tasks.tasks()
        self.metrics.publish_lag(consumer_lag(self.consumer, tasks, self.tasks.committed))
        self.metrics.publish_state(state_sizes(self.plan, tasks))
        self.metrics.publish_restoring(self._restore_progress())
        self.metrics.publish_stream_time_lag(stream_time_lag(self.tasks.running(), self.tasks.time.wall()))
        self.metrics.publish_pending_timers(pending_timers(self.tasks.running()))
        self.metrics.publish_open_windows(open_windows(self.tasks.running()))

    def _check_parent(self) -> None:
        parent = self.settings.parent_pid
        if parent is not None and os.getppid() != parent:
            log.warning("supervisor %d is gone; stopping", parent)
            self._stopping = True

    # --- checkpoints -----------------------------------------------------------------------------
    def _commit(self, offsets: dict[TP, int]) -> None:
        try:
            if self.transactions is not None:
                self.transactions.commit(offsets)
            elif offsets:
                commit_offsets(self.consumer, offsets)
        except Exception:
            self.metrics.commit_failed()
            raise

    def checkpoint(self, reason: str = "interval") -> None:
        """Checkpoint the ready tasks, unless none progressed since the last checkpoint. ``reason`` labels the
        metric: interval, write-cache (the bound was reached), rebalance or stop."""
        tasks = self.tasks.running()
        progress = {tp: o for task in tasks for tp, o in task.commit_offsets().items()}
        if not tasks or (progress == self._last_committed and not any(t.dirty for t in tasks)):
            return
        try:
            result = self.checkpointer.run(tasks)
        except BaseException as exc:
            self.metrics.checkpoint(False, 0.0, reason)
            self.metrics.error("checkpoint", type(exc).__name__)
            raise
        self.metrics.checkpoint(True, result.seconds, reason)
        self.metrics.duplicates(result.duplicates_skipped)
        self.metrics.redriven_skipped(result.redriven_skipped)
        for store, count in result.expired.items():
            self.metrics.expired(self.plan.stores[store][0], store, count)
        if result.deferred is not None:
            self._deferred_commits += 1
            if self._deferred_commits > MAX_DEFERRED_COMMITS:
                raise CheckpointError(f"the group refused this worker's offsets at {self._deferred_commits} "
                                      f"checkpoints in a row ({result.deferred}); restarting from the last commit")
            log.warning("the group is rebalancing and refused the offsets (%s); state is kept and the offsets "
                        "are committed at the next checkpoint", result.deferred)
            return  # _last_committed stays: the next checkpoint runs even without progress
        self._deferred_commits = 0
        self._last_committed = progress
        replays = f", {result.duplicates_skipped} replayed records skipped" if result.duplicates_skipped else ""
        log.info("checkpoint: %d partitions committed, %d changelog records, %.0f ms%s%s",
                 len(result.offsets), result.changelog_records, result.seconds * 1000, replays,
                 "" if reason == "interval" else f" ({reason})")

    # --- rebalances ------------------------------------------------------------------------------
    @property
    def _new_protocol(self) -> bool:
        """The consumer group protocol of KIP-848 (-X group.protocol=consumer; Apache Kafka 4)."""
        return str(self.settings.overrides.get("group.protocol", "classic")).lower() == "consumer"

    def _cooperative(self, consumer: Any) -> bool:
        """Whether rebalances are incremental (confluent-kafka does not expose librdkafka's answer)."""
        return self.settings.assignor == "cooperative-sticky" or self._new_protocol

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        # Eager: the full new assignment. Cooperative: only the partitions added to the current one.
        if self._cooperative(consumer):
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        if not partitions:
            self._in_group = True
            return
        consumer.pause(partitions)
        committed = {
            (tp.topic, tp.partition): tp.offset
            for tp in consumer.committed(partitions, timeout=30)
            if tp.offset != OFFSET_INVALID and tp.offset >= 0
        }
        ready = self.tasks.assign([(tp.topic, tp.partition) for tp in partitions], committed)
        self._in_group = True  # only now: with no tasks yet, readiness would hold vacuously
        log.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        self.metrics.rebalance("assign", len(self.tasks.tasks()))
        self._resume(ready)

    def _resume(self, ready: list[TP]) -> None:
        """Resume the partitions of tasks that are RUNNING now (restored, or with no state)."""
        if not ready:
            return
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        tps = [TopicPartition(t, p) for t, p in ready if (t, p) in assigned]
        self.consumer.resume(tps)
        if tps:
            # resume() does not wake librdkafka's fetcher, which otherwise starts about a second later;
            # any request to the broker wakes it (measured: ~0.9 s -> ~0.01 s to the first fetch). The loop
            # sends it: this may run inside the assign callback, and a blocking call on the consumer there
            # clears confluent-kafka's state of the consume() in progress, so that the next callback of
            # that consume() (a librdkafka log line, e.g. with -X debug) aborts the process on an assertion.
            self._wake_fetcher = tps[0].topic

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        cooperative = self._cooperative(consumer)
        if not cooperative:
            self._in_group = False  # the eager protocol assigns again (all partitions) after a revocation
        if not self._failed:
            self.checkpoint("rebalance")
        self._close_tasks(partitions, "revoke")
        if cooperative:
            consumer.incremental_unassign(partitions)
        log.info("revoked %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing")

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._in_group = False
        if self._cooperative(consumer):
            consumer.incremental_unassign(partitions)
        log.warning("lost %s without a checkpoint (session expired); uncommitted work will be redone",
                    ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))
        if self.transactions is not None:
            self.transactions.abort()  # it holds the lost tasks' records: another worker redoes them
        self._close_tasks(partitions, "lost")
        if self.transactions is not None and self.tasks.tasks():
            # Only a cooperative assignor loses some partitions: the abort took the others' records as well.
            raise CheckpointError("partitions were lost while others stay assigned, and aborting the transaction "
                                  "dropped the records of those too; restarting from the last commit")

    def _close_tasks(self, partitions: list[Any], kind: str) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        if kind == "lost":
            self.tasks.lose(tps)
        else:
            self.tasks.revoke(tps)
        self.metrics.rebalance(kind, len(self.tasks.tasks()))
        self._measure()  # no lag or state left behind for partitions this worker gave up

    # --- shutdown --------------------------------------------------------------------------------
    def _shutdown(self) -> None:
        if self._failed and self.transactions is not None:
            self.transactions.abort_on_exit()  # before leaving the group, so that the next owner need not wait
        consumer = getattr(self, "consumer", None)
        if consumer is not None:
            try:
                consumer.close()  # leaves the group; the revoke callback checkpoints unless we failed
                self.left_group = not self._failed
            except Exception:
                log.exception("closing the consumer failed")
        tasks = getattr(self, "tasks", None)
        if tasks is not None:
            tasks.close()
        if self._probe is not None:
            self._probe.close()
        if self.standby is not None:
            self.standby.close()
        producer = getattr(self, "producer", None)
        if producer is not None and self.transactions is None:  # a transaction was committed or aborted
            producer.flush(10)
        if self.transactions is not None:
            self.transactions.close()
        log.info("worker %d of %r stopped", self.settings.worker_index, self.plan.name)
