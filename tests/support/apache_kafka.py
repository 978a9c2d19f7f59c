"""Apache Kafka for the tests: the server's jars from Maven Central, run in KRaft mode on free ports.

The jars come from Maven Central (tests/support/kafka_jars.py). A :class:`KafkaCluster`
formats fresh storage for one node or three (each a combined controller and broker, as a small
production cluster runs), starts them, waits until every broker is registered, and on ``stop()``
removes their data. A machine without Java or Maven gets :class:`KafkaUnavailable`, which the suite
turns into skipped tests that say why; a broker that will not start raises :class:`KafkaStartError`
with the log's last lines.

``python -m tests.support.apache_kafka`` fetches the jars (``--fetch``) or runs a broker until ^C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.support.kafka_jars import VERSION, KafkaUnavailable, fetch_jars, find_java

__all__ = ["COMPACT_FAST", "VERSION", "KafkaCluster", "KafkaStartError", "KafkaUnavailable"]

#: Broker settings for tests: no waiting before the first rebalance, small internal topics, a log cleaner
#: that looks for work every 0.5 s (topics that a test wants compacted set small segments themselves:
#: see COMPACT_FAST), and session timeouts down to one second allowed.
FAST_BROKER = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "10",
    "transaction.state.log.num.partitions": "10",
    "num.partitions": "1",
    "log.cleaner.backoff.ms": "500",
    "log.initial.task.delay.ms": "1000",
    "log.segment.delete.delay.ms": "1000",
    "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "2000",
    "transaction.remove.expired.transaction.cleanup.interval.ms": "10000",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "num.recovery.threads.per.data.dir": "1",
    "auto.create.topics.enable": "true",
    # A killed broker is fenced, and its partitions and group coordinators move, after 3 s rather than 9 s:
    # within the tests' 6 s consumer session, so a broker failure costs no group member its partitions.
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    # The consumer group protocol of KIP-848 takes session and heartbeat times from the broker: as the
    # classic protocol's test clients set them.
    "group.consumer.min.session.timeout.ms": "1000",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.heartbeat.interval.ms": "1000",
}

#: Topic settings that make the log cleaner compact a topic within seconds of being written. Segments roll
#: by age: Kafka 4 refuses a segment.bytes under 1 MiB.
COMPACT_FAST = {
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "1000",
}

LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.log.LogCleaner
        level: INFO
      - name: state.change.logger
        level: ERROR
"""


class KafkaStartError(RuntimeError):
    """A node did not start; the message says which, why when known, and ends with its log's last lines."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_taken(port: int) -> bool:
    """Whether something listens on ``port`` (connections of a killed node in TIME_WAIT do not count: the
    server binds with SO_REUSEADDR too)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class KafkaNode:
    """One combined controller and broker: its ports, its data, its process."""

    node_id: int
    port: int
    controller_port: int
    root: Path
    advertised: str
    process: subprocess.Popen[bytes] | None = None
    #: Times started (a restart appends to the same log).
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class KafkaCluster:
    """``size`` KRaft nodes (each controller and broker) on free loopback ports; a context manager.

    ``advertised`` replaces the addresses the brokers give clients in their metadata (one per node), for
    clients that reach them through something else, such as a test's TCP proxy. ``config`` adds or
    overrides broker settings; ``scram_users`` (name: password) are created when the storage is
    formatted, and the client listener then requires SASL/SCRAM-SHA-256. ``tls`` (the server's PKCS#12
    keystore, a PEM file of the CA certificates it trusts, the keystore's password) makes it mutual TLS.
    """

    size: int = 1
    workdir: Path | None = None
    advertised: list[str] | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    scram_users: Mapping[str, str] = field(default_factory=dict)
    tls: tuple[Path, Path, str] | None = None
    #: librdkafka settings of a client the listener accepts (its certificate, under mutual TLS), used to
    #: check the nodes are up.
    client: Mapping[str, str] = field(default_factory=dict)
    heap: str = "512m"
    #: The client port of each node (free ports when not given), for a proxy set up before the cluster.
    ports: list[int] | None = None
    nodes: list[KafkaNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._owns_workdir = self.workdir is None
        self._root = Path(tempfile.mkdtemp(prefix="kafka-")) if self.workdir is None else self.workdir
        self._java = ""
        self._classpath = ""
        self.cluster_id = ""

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def client_protocol(self) -> str:
        if self.scram_users:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"

    # --- start ------------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> KafkaCluster:
        self._java = find_java()
        self._classpath = str(fetch_jars() / "*")
        self.cluster_id = _cluster_id()
        self.nodes = [self._node(i + 1) for i in range(self.size)]
        try:
            voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
            for node in self.nodes:
                self._write_config(node, voters)
            self._format()
            for node in self.nodes:
                self.start_node(node, wait=False)
            deadline = time.monotonic() + timeout
            for node in self.nodes:
                self._await_started(node, deadline)
            self._await_registered(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _node(self, node_id: int) -> KafkaNode:
        port, controller_port = self.ports[node_id - 1] if self.ports else free_port(), free_port()
        root = self._root / f"node-{node_id}"
        root.mkdir(parents=True, exist_ok=True)
        advertised = self.advertised[node_id - 1] if self.advertised else f"127.0.0.1:{port}"
        return KafkaNode(node_id, port, controller_port, root, advertised)

    def _write_config(self, node: KafkaNode, voters: str) -> None:
        replicas = str(min(3, self.size))
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"CLIENT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"CLIENT://{node.advertised}",
            "listener.security.protocol.map": f"CLIENT:{self.client_protocol},CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "CLIENT",
            "log.dirs": str(node.root / "data"),
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": str(min(2, self.size)),
            "default.replication.factor": replicas,
            "min.insync.replicas": str(min(2, self.size)),
            **FAST_BROKER,
            **self._security(),
            **self.config,
        }
        node.properties.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        (self._root / "log4j2.yaml").write_text(LOG4J2)

    def _security(self) -> dict[str, str]:
        settings: dict[str, str] = {}
        if self.scram_users:
            admin, password = next(iter(self.scram_users.items()))
            settings.update({
                "sasl.enabled.mechanisms": "SCRAM-SHA-256",
                "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256",
                "listener.name.client.scram-sha-256.sasl.jaas.config":
                    "org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="{admin}" password="{password}";',
            })
        if self.tls:
            keystore, truststore, password = self.tls
            settings.update({
                "ssl.keystore.type": "PKCS12", "ssl.keystore.location": str(keystore),
                "ssl.keystore.password": password, "ssl.key.password": password,
                "ssl.truststore.type": "PEM", "ssl.truststore.location": str(truststore),
                "ssl.client.auth": "required",
                "ssl.endpoint.identification.algorithm": "",
            })
        return settings

    def _format(self) -> None:
        scram = [arg for name, password in self.scram_users.items()
                 for arg in ("--add-scram", f"SCRAM-SHA-256=[name={name},password={password}]")]
        formats = [(node, subprocess.Popen(
            [self._java, "-Xmx256m", "-cp", self._classpath, "kafka.tools.StorageTool", "format", "-t",
             self.cluster_id, "-c", str(node.properties), *scram],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)) for node in self.nodes]
        for node, process in formats:
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise KafkaStartError(f"formatting the storage of Kafka node {node.node_id} failed "
                                      f"(exit {process.returncode}):\n{output.decode(errors='replace')[-3000:]}")

    def start_node(self, node: KafkaNode, wait: bool = True, timeout: float = 120.0) -> None:
        """Start (or restart, on its data) one node; ``wait``: until it says it has started."""
        for port in (node.port, node.controller_port):
            if _port_taken(port):
                raise KafkaStartError(f"Kafka node {node.node_id} cannot start: port {port} is taken")
        command = [self._java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                   "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self._root / 'log4j2.yaml'}",
                   "-cp", self._classpath, "kafka.Kafka", str(node.properties)]
        with open(node.log_path, "ab") as log:
            node.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        node.starts += 1
        if wait:
            self._await_started(node, time.monotonic() + timeout)

    def _await_started(self, node: KafkaNode, deadline: float) -> None:
        while True:
            text = node.log_path.read_text(errors="replace") if node.log_path.exists() else ""
            if text.count("Kafka Server started") >= node.starts:
                return
            if node.process is None or node.process.poll() is not None:
                code = None if node.process is None else node.process.returncode
                why = " (a port is in use)" if "Address already in use" in text else ""
                raise KafkaStartError(f"Kafka node {node.node_id} exited with code {code} while starting{why}; "
                                      f"last lines of {node.log_path}:\n{tail(node.log_path)}")
            if time.monotonic() > deadline:
                raise KafkaStartError(f"Kafka node {node.node_id} did not start in time; "
                                      f"last lines of {node.log_path}:\n{tail(node.log_path)}")
            time.sleep(0.1)

    def _await_registered(self, deadline: float) -> None:
        """Until clients see every broker in the metadata (a node has started before the others know it)."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.nodes[0].address, **self.client_settings()})
        while True:
            try:
                if len(admin.list_topics(timeout=5).brokers) == self.size:
                    return
            except Exception:  # not answering yet
                pass
            if time.monotonic() > deadline:
                raise KafkaStartError(f"only some of the {self.size} Kafka nodes registered in time; last lines "
                                      f"of {self.nodes[0].log_path}:\n{tail(self.nodes[0].log_path)}")
            time.sleep(0.2)

    def client_settings(self) -> dict[str, str]:
        """librdkafka settings of the first SCRAM user (with no users and no TLS: none)."""
        settings: dict[str, str] = {}
        if self.scram_users:
            name, password = next(iter(self.scram_users.items()))
            settings.update({"security.protocol": self.client_protocol, "sasl.mechanism": "SCRAM-SHA-256",
                             "sasl.username": name, "sasl.password": password})
        elif self.tls:
            settings["security.protocol"] = "SSL"
        return {**settings, **self.client}

    # --- failures and stopping ---------------------------------------------------------------------
    def kill(self, node: KafkaNode) -> None:
        """SIGKILL one node (its data stays, for :meth:`start_node`)."""
        if node.process is not None and node.process.poll() is None:
            os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(30)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 20 s) and delete the data."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGTERM)
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(20)
                except subprocess.TimeoutExpired:
                    self.kill(node)
        for node in self.nodes:
            shutil.rmtree(node.root / "data", ignore_errors=True)
        if self._owns_workdir:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _cluster_id() -> str:
    """A random id as Kafka makes them (its Uuid.randomUuid): never one starting with "-", which the storage
    tool's argument parser takes for an option (1 start in 64 failed with "expected one argument")."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.apache_kafka", description=__doc__.split("\n")[0])
    parser.add_argument("--fetch", action="store_true", help="only fetch the jars (with Maven) and exit")
    parser.add_argument("--nodes", type=int, default=1, choices=(1, 3))
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args(argv)
    try:
        if args.fetch:
            print(f"Apache Kafka {VERSION}: {fetch_jars()} (Java: {find_java()})")
            return 0
        with KafkaCluster(args.nodes, heap=args.heap) as cluster:
            print(f"Apache Kafka {VERSION} ({args.nodes} node{'s' if args.nodes > 1 else ''}) on "
                  f"{cluster.bootstrap_servers}; ^C stops it and deletes its data", flush=True)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    except KafkaUnavailable as exc:
        print(f"Apache Kafka unavailable: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
