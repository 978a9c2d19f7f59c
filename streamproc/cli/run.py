"""``streamproc run TARGET``: run a topology as supervised worker processes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from prometheus_client import disable_created_metrics

from streamproc.devbroker import EmbeddedBroker
from streamproc.errors import ConfigError
from streamproc.kafka.config import parse_overrides
from streamproc.loader import load_topology
from streamproc.monitoring.fanin import SupervisorMonitor
from streamproc.plan import ASSIGNORS, check_assignor
from streamproc.runtime.policy import ON_ERROR_CHOICES
from streamproc.runtime.process import Supervisor, configure_logging
from streamproc.runtime.settings import GUARANTEES, WorkerSettings

log = logging.getLogger("streamproc.run")
BOOTSTRAP_ENV = "STREAMPROC_BOOTSTRAP_SERVERS"
EMBEDDED_INPUT_PARTITIONS = 4


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (1-65535), got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("run", help="run a topology")
    parser.add_argument("target", metavar="TARGET", help="file.py[:attr] or module[:attr] holding the Topology")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                        help=f"Kafka brokers (default: ${BOOTSTRAP_ENV}; without either, an embedded broker)")
    parser.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                        help="worker processes, one consumer each (default 1)")
    parser.add_argument("--state-dir", type=Path, default=Path("state"), help="where RocksDB stores live (./state)")
    parser.add_argument("--commit-interval", type=_positive_float, default=5.0, metavar="SECONDS",
                        help="seconds between checkpoints (default 5)")
    parser.add_argument("--assignor", choices=ASSIGNORS, default="range",
                        help="partition assignment: range (default; needed when a sub-topology reads several topics) "
                             "or cooperative-sticky (a rebalance moves only the partitions that change owner)")
    parser.add_argument("--standby-replicas", type=_non_negative_int, default=0, metavar="N",
                        help="keep warm copies of the stores of the N partitions on each side of every partition a "
                             "worker owns, so a takeover restores only the changelog's tail (default 0)")
    parser.add_argument("--shutdown-timeout", type=_positive_float, default=30.0, metavar="SECONDS",
                        help="on SIGTERM/SIGINT, how long the final checkpoint and leaving the group may take "
                             "before a worker gives up without committing more (default 30)")
    parser.add_argument("--on-error", choices=ON_ERROR_CHOICES, default="fail",
                        help="a message a component cannot handle: stop (fail), dead-letter it (dlq), or skip it")
    parser.add_argument("--guarantee", choices=GUARANTEES, default="at-least-once",
                        help="at-least-once (default): exact state, outputs may repeat after a failure; exactly-once: "
                             "outputs, state changes and input offsets commit in one Kafka transaction per "
                             "checkpoint, so read_committed consumers see each output once (needs transactions "
                             "on the broker)")
    parser.add_argument("--replication-factor", type=_positive_int, default=-1, metavar="N",
                        help="replicas of the topics the worker creates (changelogs, repartition, dead-letter, "
                             "missing outputs); 3 or more also sets their min.insync.replicas=2 (default: the "
                             "cluster's default.replication.factor)")
    parser.add_argument("--instance-id", metavar="ID",
                        help="static group membership: worker N is group.instance.id ID-N, so a worker restarted "
                             "within session.timeout.ms takes its partitions back without a rebalance of the "
                             "others (give each host its own ID; Apache Kafka 2.3+)")
    parser.add_argument("--group-id", help="consumer group id (default: the topology name)")
    parser.add_argument("-X", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka setting for every client, e.g. -X security.protocol=SSL (repeatable); "
                             "-X @FILE reads KEY=VALUE lines from FILE (keeps passwords out of the process list)")
    parser.add_argument("--metrics-port", type=_port, metavar="PORT",
                        help="serve /metrics (all workers, labelled by worker), /healthz and /readyz on this port")
    parser.add_argument("--metrics-host", default="0.0.0.0", metavar="ADDRESS",
                        help="address the metrics port listens on (default 0.0.0.0: all interfaces)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    level = getattr(logging, args.log_level)
    configure_logging(level, prefix="[supervisor] ")
    overrides = parse_overrides(args.overrides)
    topology = load_topology(args.target)
    check_assignor(topology.build(), args.assignor)  # fail here, once, rather than in every worker
    bootstrap = args.bootstrap_servers or os.environ.get(BOOTSTRAP_ENV) or overrides.pop("bootstrap.servers", None)
    if args.state_dir.exists() and not args.state_dir.is_dir():
        raise ConfigError(f"--state-dir {args.state_dir} exists and is not a directory")
    monitor = None
    if args.metrics_port is not None:  # bound before anything starts, so a busy port fails at once
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series, as in the workers
        monitor = SupervisorMonitor(topology.name, args.workers, args.metrics_host, args.metrics_port)
    try:
        return _supervise(args, topology.name, bootstrap, overrides, level, monitor)
    finally:
        if monitor is not None:
            monitor.close()


def _supervise(args: argparse.Namespace, name: str, bootstrap: str | None, overrides: dict[str, Any], level: int,
               monitor: SupervisorMonitor | None) -> int:
    broker = None
    if not bootstrap:
        broker = EmbeddedBroker().start()
        bootstrap = broker.bootstrap_servers
        print(f"streamproc: no --bootstrap-servers or ${BOOTSTRAP_ENV}: started the embedded broker on {bootstrap} "
              f"(in-memory; missing input topics are created with {EMBEDDED_INPUT_PARTITIONS} partitions)",
              file=sys.stderr, flush=True)
    settings = WorkerSettings(
        bootstrap_servers=bootstrap,
        group_id=args.group_id or name,
        state_dir=args.state_dir.resolve(),
        commit_interval=args.commit_interval,
        on_error=args.on_error,
        guarantee=args.guarantee,
        overrides=overrides,
        create_inputs=EMBEDDED_INPUT_PARTITIONS if broker else None,
        standby_replicas=args.standby_replicas,
        assignor=args.assignor,
        shutdown_timeout=args.shutdown_timeout,
        replication_factor=args.replication_factor,
        instance_id=args.instance_id,
    )
    if monitor is not None:
        monitor.start()
        log.info("serving metrics, /healthz and /readyz on %s:%d", args.metrics_host, monitor.port)
    try:
        return Supervisor(args.target, settings, args.workers, level, monitor=monitor).run()
    finally:
        if broker is not None:
            broker.stop()
