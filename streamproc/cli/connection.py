"""Options and set-up shared by the commands that talk to Kafka about a topology."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient

from streamproc.errors import ConfigError
from streamproc.kafka import admin as kadmin
from streamproc.kafka.config import admin_config, parse_overrides
from streamproc.loader import load_topology
from streamproc.plan import Plan

BOOTSTRAP_ENV = "STREAMPROC_BOOTSTRAP_SERVERS"
CONNECT_TIMEOUT = 15.0


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help="file.py[:attr] or module[:attr] holding the Topology")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT", help=f"Kafka brokers (default: ${BOOTSTRAP_ENV})")
    parser.add_argument("--group-id", help="consumer group id (default: the topology name)")
    parser.add_argument("-X", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka setting for every client, e.g. -X security.protocol=SSL (repeatable); "
                             "-X @FILE reads KEY=VALUE lines from FILE (keeps passwords out of the process list)")


@dataclass
class Connection:
    plan: Plan
    admin: AdminClient
    bootstrap: str
    group_id: str
    overrides: dict[str, Any]


def bootstrap_of(args: argparse.Namespace, overrides: dict[str, Any]) -> str | None:
    """--bootstrap-servers, else the environment, else -X bootstrap.servers (taken out of ``overrides``)."""
    found: str | None = args.bootstrap_servers or os.environ.get(BOOTSTRAP_ENV) or overrides.pop("bootstrap.servers",
                                                                                                  None)
    return found


def connect(args: argparse.Namespace) -> Connection:
    """Load and validate the topology, then reach the cluster (a clear error after a bounded time)."""
    overrides = parse_overrides(args.overrides)
    bootstrap = bootstrap_of(args, overrides)
    if not bootstrap:
        raise ConfigError(f"give --bootstrap-servers or set ${BOOTSTRAP_ENV}")
    plan = load_topology(args.target).build(args.group_id)
    admin = kadmin.connect(admin_config(bootstrap, overrides, f"{plan.name}-cli"), CONNECT_TIMEOUT)
    return Connection(plan, admin, bootstrap, plan.names.app, overrides)
