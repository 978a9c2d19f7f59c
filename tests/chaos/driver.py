"""The chaos driver: the word count on 3 members and a 6-partition input, fed a known input while workers
are SIGKILLed at random and targeted moments, a state directory is deleted once and the broker connection
is cut once (or, on a three-node Apache Kafka cluster, the busiest broker is SIGKILLed once and
restarted: tests/chaos/brokers.py); then an independent reader checks every occurrence's output and every
final count.

Kill moments, in turn: ``processing`` (every member owns partitions and has checkpointed since; the
kill comes up to 1.5 s later, mid-batch or mid-checkpoint as it falls), ``restore`` (the moment a
member logs that it starts restoring a store partition) and ``rebalance`` (the moment a member logs
an assignment or revocation). A moment that does not come within ``moment_timeout`` becomes a
``random`` kill after a delay drawn from ``kill_gap``. A kill takes either only the
worker process (its supervisor restarts it) or the whole member (the driver restarts it).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from tests.chaos import windowed
from tests.chaos.brokers import BrokerTrouble
from tests.chaos.members import Member
from tests.chaos.summary import MOMENTS, ChaosConfig, ChaosSummary
from tests.chaos.truth import expected_counts, verify_outputs, verify_store
from tests.support.kafka import TopicTail, create_topic, unique
from tests.support.wordcount import write_target

#: A store restored, in a member's log: "restored <changelog>[<p>]: <n> records applied, ...".
_RESTORED = re.compile(r"restored \S+: (\d+) records applied")


class ChaosDriver:
    """Runs one chaos scenario against ``broker``."""

    def __init__(self, broker: BrokerTrouble, workdir: Path, config: ChaosConfig, log: bool = True) -> None:
        self.broker = broker
        self.bootstrap = broker.bootstrap
        self.workdir = workdir
        self.config = config
        self._print = print if log else (lambda *args: None)
        self.rng = random.Random(config.seed)
        self.name = unique("chaos")
        self.source = f"{self.name}-sentences"
        self.sink = f"{self.name}-counts"
        self.changelog = f"{self.name}-counts-changelog"
        self.summary = ChaosSummary(config)
        self._client = ({"isolation.level": "read_committed"} if config.guarantee == "exactly-once" else {})
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / "target.py"
        self._windowed: windowed.WindowedInput | None = None
        if config.workload in windowed.WINDOWS:
            self.source, self.sink, self.late_sink = f"{self.name}-events", f"{self.name}-finals", f"{self.name}-late"
            windowed.write_target(target, self.name, self.source, self.sink, self.late_sink, config.workload)
            self._windowed = windowed.WindowedInput(config.messages, config.partitions, int(time.time() * 1000),
                                                    config.seed)
        elif config.workload == "wordcount":
            write_target(target, self.name, self.source, self.sink)
        else:
            raise ValueError(f"unknown chaos workload {config.workload!r}: wordcount, windowed or sessions")
        extra = ["--commit-interval", str(config.commit_interval), *broker.worker_args]
        if config.guarantee != "at-least-once":
            extra += ["--guarantee", config.guarantee]
        self.members = [Member(i, target, self.bootstrap, workdir, extra) for i in range(config.workers)]
        #: Members the driver stopped on purpose (killed whole, not yet restarted).
        self._down: set[int] = set()
        self._feed_error: BaseException | None = None

    # --- the scenario ----------------------------------------------------------------------------
    def run(self) -> ChaosSummary:
        c = self.config
        started = time.monotonic()
        create_topic(self.bootstrap, self.source, c.partitions, replicas=self.broker.replicas)
        feeder = threading.Thread(target=self._feed, name="chaos-feed", daemon=True)
        feeder.start()
        for member in self.members:
            member.start()
        try:
            self._chaos()
            self.summary.broker_notes = self.broker.finish()
            feeder.join(c.feed_seconds + 300)
            if self._feed_error is not None:
                raise RuntimeError("feeding the input failed") from self._feed_error
            self._settle()
        finally:
            self._stop_all()
        self._verify()
        self.summary.elapsed = time.monotonic() - started
        self._count_log_events()
        return self.summary

    def _chaos(self) -> None:
        c = self.config
        deletion_at = c.kills // 3 if c.delete_state else -1
        outage_after = c.kills // 2 if c.outage > 0 else -1
        moments = [MOMENTS[i % 3] for i in range(c.kills)]
        self.rng.shuffle(moments)
        for number in range(c.kills):
            self._check_members()
            moment, victim = self._await(moments[number])
            self.summary.moments[moment] += 1
            if number == deletion_at:
                self._kill_member(victim, delete_state=True)
            elif self.rng.random() < 0.5 and victim.kill_worker():
                self.summary.worker_kills += 1
                self._print(f"chaos: kill {number + 1}/{c.kills} ({moment}): worker of member {victim.index}")
            else:
                self._kill_member(victim)
            self._print(f"chaos: kill {number + 1}/{c.kills} ({moment}) done")
            if number == outage_after:
                self._outage(c.outage)

    def _await(self, moment: str) -> tuple[str, Member]:
        """Wait for ``moment``; returns the moment met (``random`` when it did not come in time) and the
        member to kill."""
        timeout = self.config.moment_timeout
        if moment == "processing":
            if self._wait(self._all_processing, timeout):
                time.sleep(self.rng.uniform(0.0, 1.5))  # some way into a batch or a checkpoint
                return moment, self.rng.choice(self._up())
        elif moment in ("restore", "rebalance"):
            markers = ("restoring ",) if moment == "restore" else (" revoked ", " assigned ")
            for member in self.members:
                member.new_log()
            found: list[Member] = []

            def seen() -> bool:
                found.extend(m for m in self._up() if any(marker in m.new_log() for marker in markers))
                return bool(found)

            if self._wait(seen, timeout):
                return moment, found[0]
        time.sleep(self.rng.uniform(*self.config.kill_gap))
        return "random", self.rng.choice(self._up())

    def _up(self) -> list[Member]:
        return [m for m in self.members if m.index not in self._down and m.alive]

    def _all_processing(self) -> bool:
        """Every member owns partitions and has checkpointed since its last assignment: no rebalance is on."""
        if len(self._up()) < len(self.members):
            return False
        for member in self.members:
            log = member.current_log()
            assigned = log.rfind(" assigned ")
            if assigned < 0 or max(log.rfind(" revoked "), log.rfind(" lost ")) > assigned:
                return False
            if "checkpoint:" not in log[assigned:]:
                return False
        return True

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return False

    def _kill_member(self, member: Member, delete_state: bool = False) -> None:
        member.kill_process()
        self.summary.member_kills += 1
        self._down.add(member.index)
        if delete_state:
            member.delete_state()
            self.summary.state_deletions += 1
        self._print(f"chaos: killed member {member.index}{' and deleted its state' if delete_state else ''}")
        time.sleep(self.rng.uniform(0.0, 2.0))
        member.start()
        self._down.discard(member.index)

    def _outage(self, seconds: float) -> None:
        """The broker failure (a cut, or a broker killed). Members restarted just before have reached the
        broker first: a member that cannot reach it on its very first start stops (a wrong address), as
        it should."""
        deadline = time.monotonic() + 60
        while not all("joined group" in m.current_log() for m in self.members) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.broker.fail(seconds, lambda topic: topic.startswith(f"{self.name}-"), self._print)
        self.summary.outages += 1
        self.summary.outage_seconds += seconds

    def _check_members(self) -> None:
        """Members must keep running (or restart their workers themselves): a member that exited is a failure,
        recorded, and started again so the run can still finish."""
        for member in self.members:
            if member.index in self._down or member.alive:
                continue
            self.summary.unexpected_exits.append(
                f"member {member.index} exited with {member.exit_code()}:\n{member.current_log()[-2000:]}")
            member.start()

    # --- input -----------------------------------------------------------------------------------
    def _sentences(self) -> Iterator[tuple[bytes, bytes, int | None, int | None]]:
        """The word count's input: (key, value, partition, timestamp), the last two left to the producer."""
        c = self.config
        rng = random.Random(c.seed)
        vocabulary = [f"w{i}" for i in range(c.vocabulary)]
        low, high = c.words_per_message
        for i in range(c.messages):
            yield str(i).encode(), " ".join(rng.choices(vocabulary, k=rng.randint(low, high))).encode(), None, None

    def _feed(self) -> None:
        """Produce the input at an even rate over the chaos phase (through the proxy, so an outage stalls it)."""
        try:
            c = self.config
            producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True,
                                 "linger.ms": 20, "message.timeout.ms": 600_000,
                                 "logger": logging.getLogger("chaos.feed")})

            def produce(key: bytes, value: bytes, partition: int | None, timestamp: int | None) -> None:
                args: dict[str, Any] = {} if partition is None else {"partition": partition, "timestamp": timestamp}
                while True:
                    try:
                        producer.produce(self.source, value, key, **args)
                        return
                    except BufferError:
                        producer.poll(0.1)

            chunk = 1000
            per_chunk = c.feed_seconds / max(1, c.messages // chunk)
            started = time.monotonic()
            records = self._sentences() if self._windowed is None else self._windowed.records()
            for number, record in enumerate(records):
                produce(*record)
                if number % chunk == chunk - 1:
                    producer.poll(0)
                    delay = started + (number // chunk + 1) * per_chunk - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
            for record in self._windowed.flush() if self._windowed is not None else ():
                produce(*record)
            left = producer.flush(600)
            if left:
                raise RuntimeError(f"{left} input messages were not acknowledged")
        except BaseException as exc:
            self._feed_error = exc

    # --- the end ---------------------------------------------------------------------------------
    def _settle(self) -> None:
        """Wait until the latest output count of every word equals the independent truth."""
        if self._windowed is not None:
            self._settle_windows()
            return
        expected, messages = expected_counts(self.bootstrap, self.source)
        self.summary.messages, self.summary.words = messages, sum(expected.values())
        self._expected = expected
        tail = TopicTail(self.bootstrap, self.sink, self._client)
        latest: dict[str, int] = {}
        deadline = time.monotonic() + self.config.settle_timeout
        try:
            while time.monotonic() < deadline:
                self._check_members()
                tail.poll()
                for record in tail.records:
                    value = json.loads(record.value())
                    if value["count"] > latest.get(value["word"], 0):
                        latest[value["word"]] = value["count"]
                tail.records.clear()
                if latest == dict(expected):
                    return
                time.sleep(0.5)
        finally:
            tail.close()
        self._print(f"chaos: counts not exact within {self.config.settle_timeout:.0f} s of the last kill")

    def _settle_windows(self) -> None:
        """Wait until every window the oracle closes has a final result."""
        truth = self._truth = windowed.windowed_truth(self.bootstrap, self.source, self._client, self.config.workload)
        self.summary.messages, self.summary.windows_expected = truth.messages, len(truth.finals)
        self.summary.late_expected = len(truth.late)
        tail = TopicTail(self.bootstrap, self.sink, self._client)
        seen: set[windowed.WindowKey] = set()
        deadline = time.monotonic() + self.config.settle_timeout
        try:
            while time.monotonic() < deadline:
                self._check_members()
                tail.poll()
                seen |= windowed.finals_seen(tail.records).keys()
                tail.records.clear()
                if seen >= truth.finals.keys():
                    return
                time.sleep(0.5)
        finally:
            tail.close()
        self._print(f"chaos: finals incomplete within {self.config.settle_timeout:.0f} s of the last kill")

    def _stop_all(self) -> None:
        for member in self.members:
            if member.running is None or not member.alive:
                continue
            code = member.stop()
            if code != 0:
                self.summary.failed_stops.append(f"member {member.index} stopped with exit code {code}")

    def _verify(self) -> None:
        if self._windowed is not None:
            found = windowed.verify_windows(self.bootstrap, self.sink, self.late_sink, self._truth, self._client)
            self.summary.windows = found
            self.summary.outputs, self.summary.duplicates = found.outputs, found.repeats
            return
        verdict = verify_outputs(self.bootstrap, self.sink, self._expected, self._client)
        s = self.summary
        s.outputs, s.duplicates, s.lost, s.overcounted = (verdict.outputs, verdict.duplicates, verdict.lost,
                                                          verdict.overcounted)
        s.keys_wrong = verdict.wrong
        s.store_keys_wrong = verify_store(self.bootstrap, self.changelog, self._expected, self._client)

    def _count_log_events(self) -> None:
        """Restores and fetch gaps, from what the members logged."""
        for member in self.members:
            for line in member.all_logs().splitlines():
                restored = _RESTORED.search(line)
                if restored is not None:
                    self.summary.restores += 1
                    self.summary.records_restored += int(restored.group(1))
                elif " missing from a fetch; reading them again" in line:
                    self.summary.gaps_reread += 1
                elif " hold no records (read twice)" in line:
                    self.summary.gaps_believed += 1
