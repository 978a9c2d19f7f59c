"""The broker trouble of a chaos run: a cut connection to one broker, or SIGKILL of one of three brokers.

``proxy`` (Tansu or a single Apache Kafka node behind a TCP proxy): every connection is cut for the
outage's length, and the driver waits it out, since a member that cannot reach the broker on its very
first start stops (a wrong address). ``cluster`` (three Apache Kafka nodes, topics with replication
factor 3 and min.insync.replicas=2): the node that leads the most partitions of the run's topics is
SIGKILLed, and restarted on its data after the outage's length, while the worker kills go on: two of
three brokers are enough to write, so nothing has to wait for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confluent_kafka.admin import AdminClient

from tests.support.apache_kafka import KafkaCluster, KafkaNode
from tests.support.proxy import TcpProxy, proxied_broker

BROKERS = ("tansu", "kafka", "kafka-cluster")
#: The driver's metadata client: its lines about the killed broker (and, after the run, the stopped cluster)
#: are expected, so only critical ones are shown.
_quiet = logging.getLogger("chaos.metadata")
_quiet.setLevel(logging.CRITICAL)


class BrokerTrouble(Protocol):
    """Where the clients connect, and the one broker failure of a run."""

    bootstrap: str
    #: Worker arguments the broker calls for (replication of the topics the worker creates).
    worker_args: list[str]
    #: Replicas of the input topic (None: the test broker's default).
    replicas: int | None

    def fail(self, seconds: float, topics: Callable[[str], bool], say: Callable[[str], None]) -> None:
        """Start the failure; it ends ``seconds`` later (the call may return before). ``topics``: which
        topics' partitions count when choosing what to fail."""

    def finish(self) -> list[str]:
        """Wait until the failure is over; lines for the summary (empty when nothing failed)."""


class ProxyCut:
    """Every connection through ``proxy`` cut (``blackhole``: accepted, never answered) for the outage."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy
        self.bootstrap = proxy.address
        self.worker_args: list[str] = []
        self.replicas: int | None = None
        self._notes: list[str] = []

    def fail(self, seconds: float, topics: Callable[[str], bool], say: Callable[[str], None]) -> None:
        say(f"chaos: cutting the broker connection for {seconds:.0f} s")
        self.proxy.cut("blackhole")
        time.sleep(seconds)
        self.proxy.restore()
        say("chaos: broker connection restored")
        self._notes.append(f"outage: every connection cut for {seconds:.0f} s")

    def finish(self) -> list[str]:
        return self._notes


@dataclass
class BrokerKill:
    """What happened to the killed broker, in seconds from the SIGKILL."""

    node: int
    led: int
    partitions: int
    down: float
    leaders_moved: float | None = None
    restarted: float | None = None
    in_sync: float | None = None

    def describe(self) -> str:
        def at(seconds: float | None) -> str:
            return "never" if seconds is None else f"{seconds:.1f} s"

        moved = (f"not within the {self.down:.0f} s it was down" if self.leaders_moved is None
                 else f"after {self.leaders_moved:.1f} s")
        return (f"broker kill: node {self.node} (leader of {self.led} of {self.partitions} partitions) SIGKILLed; "
                f"its partitions had new leaders {moved}; restarted (up again) after "
                f"{at(self.restarted)}; every replica in sync again after {at(self.in_sync)}")


class ClusterKill:
    """SIGKILL of the node leading the most partitions of the run's topics, restarted ``seconds`` later."""

    def __init__(self, cluster: KafkaCluster) -> None:
        self.cluster = cluster
        self.bootstrap = cluster.bootstrap_servers
        self.worker_args = ["--replication-factor", str(cluster.size)]
        self.replicas = cluster.size
        self._admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _quiet})
        self._kills: list[BrokerKill] = []
        self._restarter: threading.Thread | None = None
        self._error: BaseException | None = None

    def _partitions(self, topics: Callable[[str], bool]) -> list[tuple[int, bool]]:
        """(leader, every replica in sync) of every partition of the chosen topics (leader -1: none)."""
        metadata = self._admin.list_topics(timeout=10).topics
        return [(p.leader, len(p.isrs) == len(p.replicas)) for name, t in metadata.items() if topics(name)
                for p in t.partitions.values()]

    def fail(self, seconds: float, topics: Callable[[str], bool], say: Callable[[str], None]) -> None:
        partitions = self._partitions(topics)
        leaders = Counter(leader for leader, _ in partitions)
        busiest, led = leaders.most_common(1)[0]
        node = next(n for n in self.cluster.nodes if n.node_id == busiest)
        kill = BrokerKill(busiest, led, len(partitions), seconds)
        self._kills.append(kill)
        say(f"chaos: SIGKILL of Kafka node {busiest}, leader of {led} of {len(partitions)} partitions, "
            f"for {seconds:.0f} s")
        killed = time.monotonic()
        self.cluster.kill(node)
        self._restarter = threading.Thread(target=self._recover, args=(node, kill, killed, seconds, topics, say),
                                           name="chaos-broker", daemon=True)
        self._restarter.start()

    def _recover(self, node: KafkaNode, kill: BrokerKill, killed: float, seconds: float,
                 topics: Callable[[str], bool], say: Callable[[str], None]) -> None:
        try:
            while time.monotonic() < killed + seconds:
                if kill.leaders_moved is None and all(
                        leader not in (node.node_id, -1) for leader, _ in self._safe_partitions(topics)):
                    kill.leaders_moved = time.monotonic() - killed
                time.sleep(0.2)
            self.cluster.start_node(node)
            kill.restarted = time.monotonic() - killed
            say(f"chaos: Kafka node {node.node_id} restarted")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                partitions = self._safe_partitions(topics)
                if partitions and all(in_sync for _, in_sync in partitions):
                    kill.in_sync = time.monotonic() - killed
                    return
                time.sleep(0.5)
        except BaseException as exc:
            self._error = exc

    def _safe_partitions(self, topics: Callable[[str], bool]) -> list[tuple[int, bool]]:
        try:
            return self._partitions(topics)
        except Exception:  # metadata unavailable for a moment while leaders move
            return []

    def finish(self) -> list[str]:
        if self._restarter is not None:
            self._restarter.join()
        if self._error is not None:
            raise RuntimeError("restarting the killed Kafka node failed") from self._error
        return [kill.describe() for kill in self._kills]


@contextlib.contextmanager
def chaos_broker(kind: str, workdir: Path) -> Iterator[BrokerTrouble]:
    """The broker of a chaos run: ``tansu`` or ``kafka`` behind a proxy, or ``kafka-cluster`` (three nodes)."""
    if kind == "kafka-cluster":
        with KafkaCluster(3, workdir=workdir / "kafka", heap="512m") as cluster:
            yield ClusterKill(cluster)
    else:
        with proxied_broker(workdir / "broker.log", kind) as proxy:
            yield ProxyCut(proxy)
