"""``streamproc run TARGET``: run a topology as supervised worker processes."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

from prometheus_client import disable_created_metrics

from streamproc.devbroker import CLIENT_SETTINGS, EmbeddedBroker
from streamproc.errors import ConfigError
from streamproc.kafka.overrides import check_overrides, parse_overrides
from streamproc.loader import check_bolts, load_topology
from streamproc.monitoring.fanin import SupervisorMonitor
from streamproc.plan import ASSIGNORS, check_assignor
from streamproc.runtime.policy import ON_ERROR_CHOICES
from streamproc.runtime.process import Supervisor, configure_logging
from streamproc.runtime.settings import GUARANTEES, WorkerSettings
from streamproc.state.dirs import check_state_dir
from streamproc.wording import counted

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
    if not math.isfinite(value) or value <= 0:  # nan compares false with everything: it would never checkpoint
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("run", help="run a topology")
    parser.add_argument("target", metavar="TARGET", help="file.py[:attr] or module[:attr] holding the Topology")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                        help=f"Kafka brokers (default: ${BOOTSTRAP_ENV}; without either, an embedded broker)")
    parser.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                        help="worker processes, one consumer each (default 1)")
    parser.add_argument("--state-dir", type=Path, default=Path("state"), metavar="DIR",
                        help="where RocksDB stores live, at DIR/<topology>/<store>/<partition> (default ./state)")
    parser.add_argument("--commit-interval", type=_positive_float, default=5.0, metavar="SECONDS",
                        help="seconds between checkpoints (default 5)")
    parser.add_argument("--max-cache-entries", type=_positive_int, default=100_000, metavar="N",
                        help="state writes a worker keeps in memory until a checkpoint writes them; when its write "
                             "caches hold N dirty entries (keys and sub-keys) it checkpoints early, so memory stays "
                             "bounded however many distinct keys an interval writes (default 100000)")
    parser.add_argument("--assignor", choices=ASSIGNORS, default="range",
                        help="partition assignment: range (default; needed when a sub-topology reads several topics) "
                             "or cooperative-sticky (a rebalance moves only the partitions that change owner)")
    parser.add_argument("--standby-replicas", type=_non_negative_int, default=0, metavar="N",
                        help="keep warm copies of the stores of the N partitions on each side of every partition a "
                             "worker owns, so a takeover restores only the changelog's tail (default 0)")
    parser.add_argument("--shutdown-timeout", type=_positive_float, default=30.0, metavar="SECONDS",
                        help="on SIGTERM/SIGINT, how long the final checkpoint and leaving the group may take "
                             "before a worker gives up without committing more (default 30)")
    parser.add_argument("--max-future-skew", type=_positive_float, default=86400.0, metavar="SECONDS",
                        help="how far one record may move a task's stream time ahead of the wall clock; a record "
                             "beyond it follows --on-error (default 86400: a day)")
    parser.add_argument("--idle-advance", type=_positive_float, metavar="SECONDS",
                        help="a task whose inputs delivered nothing for this long advances its stream time by the "
                             "wall-clock time elapsed since its last input, so event-time timers fire on a quiet "
                             "stream (default: off)")
    parser.add_argument("--on-error", choices=ON_ERROR_CHOICES, default="fail",
                        help="a message a component cannot handle: stop without committing past it (fail, the "
                             "default), dead-letter it to <topology>-dlq (dlq), or count, log and skip it (skip)")
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
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="ADDRESS",
                        help="address the metrics port listens on (default 127.0.0.1: this host only; 0.0.0.0 "
                             "exposes it on every interface, e.g. in a container)")
    embedded = parser.add_argument_group(
        "embedded broker", "when neither --bootstrap-servers nor $STREAMPROC_BOOTSTRAP_SERVERS is given, run starts an "
        "in-memory development broker for as long as it runs")
    embedded.add_argument("--broker-port", type=_port, metavar="PORT",
                          help="the port it listens on, on 127.0.0.1 (default: a free port, printed at start)")
    embedded.add_argument("--broker-partitions", type=_positive_int, metavar="N",
                          help="partitions of the input topics it creates when missing; internal topics follow "
                               f"their inputs (default {EMBEDDED_INPUT_PARTITIONS})")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="INFO (default): a line per lifecycle event (assigned, restored, checkpoint, revoked, "
                             "stopped); DEBUG adds librdkafka's lines when -X debug=... is set")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    level = getattr(logging, args.log_level)
    configure_logging(level, prefix="[supervisor] ")
    overrides = parse_overrides(args.overrides)
    check_overrides(overrides, args.workers, args.guarantee == "exactly-once")
    topology = load_topology(args.target)
    plan = topology.build(args.group_id)
    check_assignor(plan, args.assignor)  # fail here, once, rather than in every worker
    check_bolts(plan)
    bootstrap = bootstrap_address(args.bootstrap_servers, overrides)
    if bootstrap:
        given = [flag for flag, value in (("--broker-port", args.broker_port),
                                          ("--broker-partitions", args.broker_partitions)) if value is not None]
        if given:
            raise ConfigError(f"{' and '.join(given)} configure the embedded broker, which runs only without "
                              f"--bootstrap-servers or ${BOOTSTRAP_ENV} (given: {bootstrap})")
    check_state_dir(args.state_dir.resolve(), plan.names)  # before a ~20 s group join, not after it
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
    partitions = None
    if not bootstrap:
        broker = EmbeddedBroker(port=args.broker_port or 0).start()
        bootstrap = broker.bootstrap_servers
        overrides = embedded_client_settings(overrides)
        partitions = args.broker_partitions or EMBEDDED_INPUT_PARTITIONS
        _announce(bootstrap, partitions, overrides)
    settings = WorkerSettings(
        bootstrap_servers=bootstrap,
        group_id=args.group_id or name,
        state_dir=args.state_dir.resolve(),
        commit_interval=args.commit_interval,
        on_error=args.on_error,
        guarantee=args.guarantee,
        overrides=overrides,
        create_inputs=partitions,
        standby_replicas=args.standby_replicas,
        assignor=args.assignor,
        shutdown_timeout=args.shutdown_timeout,
        max_future_skew=args.max_future_skew,
        idle_advance=args.idle_advance,
        replication_factor=args.replication_factor,
        instance_id=args.instance_id,
        max_cache_entries=args.max_cache_entries,
    )
    if monitor is not None:
        monitor.start()
        log.info("serving metrics, /healthz and /readyz on %s:%d", args.metrics_host, monitor.port)
    try:
        return Supervisor(args.target, settings, args.workers, level, monitor=monitor).run()
    finally:
        if broker is not None:
            broker.stop()


def embedded_client_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` plus the client settings suited to the embedded broker that ``-X`` did not set."""
    return {**CLIENT_SETTINGS, **overrides}


def _announce(bootstrap: str, partitions: int, overrides: dict[str, Any]) -> None:
    """Tell the user where the broker is, on stderr before any worker logs: the other commands need it."""
    tuned = ", ".join(f"{key}={overrides[key]}" for key in CLIENT_SETTINGS)
    print(f"streamproc: no --bootstrap-servers or ${BOOTSTRAP_ENV}: started the embedded broker on {bootstrap} "
          "(Tansu, in-memory: its topics and offsets go when this command stops)\n"
          f"streamproc: for topics, lag, replay, state and dlq: export {BOOTSTRAP_ENV}={bootstrap}\n"
          f"streamproc: missing input topics are created with {counted(partitions, 'partition')}; "
          f"client settings for it: {tuned} (-X overrides them)",
          file=sys.stderr, flush=True)


def bootstrap_address(given: str | None, overrides: dict[str, Any]) -> str | None:
    """--bootstrap-servers, else the environment, else -X bootstrap.servers (taken out of ``overrides``); None
    starts the embedded broker. An empty one given on purpose is an error, not a request for that broker."""
    if given is not None:
        if not given.strip():
            raise ConfigError("--bootstrap-servers is empty; give HOST:PORT, or leave the option out to start the "
                              "embedded broker")
        return given
    env = os.environ.get(BOOTSTRAP_ENV)
    if env is not None:
        if not env.strip():
            raise ConfigError(f"${BOOTSTRAP_ENV} is set but empty; give HOST:PORT, or unset it to start the embedded "
                              "broker")
        return env
    found: str | None = overrides.pop("bootstrap.servers", None)
    return found
