"""librdkafka configurations for every client a worker creates.

Defaults encode the framework's guarantees (manual commits, idempotent producer, range
assignment so that co-partitioned topics land on the same task, read_committed consumers; under
exactly-once a transactional producer). ``-X key=value`` settings are applied last to every
client they concern, so TLS/SASL and tuning reach all of them; settings that only one kind of
client understands are kept from the others, which would warn about them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamproc.errors import ConfigError

_librdkafka_log = logging.getLogger("streamproc.librdkafka")

#: Settings the runtime depends on for correctness: overriding them would break at-least-once.
_PROTECTED_CONSUMER = {"enable.auto.commit": "false", "enable.auto.offset.store": "false"}
#: Exactly-once also needs consumers that skip aborted transactions (librdkafka's default, made explicit).
_READ_COMMITTED = {"isolation.level": "read_committed"}
#: When a partition's prefetch queue holds ``queued.min.messages``, librdkafka postpones that partition's
#: next fetch by ``fetch.queue.backoff.ms``, 1000 ms by default. A worker drains 100,000 small records in
#: well under a second, then sat idle for the rest of it: measured on a 4-partition changelog, a bare
#: consumer read 135k records/s with the default and 490k/s with 10 ms. The queue bounds stay as they are.
_FETCH_QUEUE_BACKOFF = {"fetch.queue.backoff.ms": "10"}

_CONSUMER_ONLY = (
    "session.timeout.ms", "heartbeat.interval.ms", "fetch.", "auto.offset.reset", "max.poll.interval.ms",
    "partition.assignment.strategy", "isolation.level", "group.", "enable.partition.eof", "queued.",
    "check.crcs", "max.partition.fetch.bytes", "enable.auto.",
)
_PRODUCER_ONLY = (
    "linger.ms", "batch.", "compression.", "acks", "enable.idempotence", "queue.buffering.",
    "message.timeout.ms", "partitioner", "delivery.timeout.ms", "retries", "transaction",
)


#: Settings confluent-kafka reads itself and insists on as real booleans (librdkafka takes text).
_PYTHON_BOOLEANS = frozenset({"delivery.report.only.error"})


_SETTING_NAME = re.compile(r"[A-Za-z0-9._-]*")


def _printable(pair: str) -> str:
    """A malformed ``-X`` argument for an error message: only its leading setting name, since the rest
    may be a secret typed with the wrong separator (``-X sasl.password:hunter2``)."""
    name = _SETTING_NAME.match(pair.strip())
    shown = name.group() if name else ""
    return repr(pair) if shown == pair else f"{shown!r} followed by text not shown here"


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` from ``-X`` flags, later ones winning.

    ``@FILE`` reads ``k=v`` lines from a file (blank lines and ``#`` comments skipped), so that
    passwords stay off the command line, which any local user can read in the process list.
    """
    settings: dict[str, Any] = {}
    for pair in pairs:
        if pair.startswith("@"):
            for where, line in _settings_file(Path(pair[1:])):
                _add(settings, line, where)
        else:
            _add(settings, pair, "-X")
    return settings


def _settings_file(path: Path) -> list[tuple[str, str]]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"-X @{path}: cannot read the settings file ({exc})") from None
    lines = [(f"{path}:{number}", line.strip()) for number, line in enumerate(text.splitlines(), 1)]
    return [(where, line) for where, line in lines if line and not line.startswith("#")]


def _add(settings: dict[str, Any], pair: str, where: str) -> None:
    key, sep, value = pair.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise ConfigError(f"{where} {_printable(pair)}: expected key=value, e.g. -X session.timeout.ms=10000")
    if key in _PYTHON_BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"{where} {key} takes true or false, got {value!r}")
        settings[key] = value.lower() == "true"
    else:
        settings[key] = value


def _base(bootstrap: str, client_id: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "client.id": client_id, "logger": _librdkafka_log}


def consumer_config(bootstrap: str, group_id: str, overrides: Mapping[str, Any], client_id: str,
                    exactly_once: bool = False) -> dict[str, Any]:
    """``exactly_once``: refuse ``isolation.level=read_uncommitted``, which would read aborted records."""
    bad = {k: v for k, v in overrides.items() if k in _PROTECTED_CONSUMER and v != _PROTECTED_CONSUMER[k]}
    if bad:
        raise ConfigError(f"{bad} would commit offsets before outputs are acknowledged; streamproc commits them itself")
    level = overrides.get("isolation.level", "read_committed")
    if exactly_once and level != "read_committed":
        raise ConfigError(f"-X isolation.level={level} would read records of aborted transactions; "
                          "--guarantee exactly-once needs read_committed")
    conf = _base(bootstrap, client_id)
    conf.update({
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "range",
        "enable.partition.eof": "false",
        **_READ_COMMITTED,
        **_FETCH_QUEUE_BACKOFF,
    })
    conf.update({k: v for k, v in overrides.items() if not k.startswith(_PRODUCER_ONLY)})
    conf.update(_PROTECTED_CONSUMER)
    if str(conf.get("group.protocol", "classic")).lower() == "consumer":
        conf.pop("partition.assignment.strategy", None)  # KIP-848: the broker assigns (group.remote.assignor)
    return conf


def restore_consumer_config(bootstrap: str, group_id: str, overrides: Mapping[str, Any], client_id: str,
                            exactly_once: bool = False) -> dict[str, Any]:
    """Assign-only (never joins or commits for the group); reports EOF so "caught up" can be judged."""
    conf = consumer_config(bootstrap, group_id + "-restore", overrides, client_id + "-restore", exactly_once)
    conf.update({"enable.partition.eof": "true", "auto.offset.reset": "earliest"})
    return conf


def transaction_timeout_ms(commit_interval: float) -> int:
    """How long the broker lets a transaction stay open: two commit intervals and 10 s to spare.

    A live worker's transaction lasts about one commit interval, plus a batch and a checkpoint; one
    that outlives the timeout is aborted by the broker and its worker restarts (fenced). A crashed
    worker's transaction holds back read_committed readers of what it wrote until a restarted worker
    takes its transactional id over, or else for that long: hence not librdkafka's default of 60 s
    (Kafka Streams uses 10 s, with 100 ms commits).
    """
    return int((10.0 + 2 * commit_interval) * 1000)


def producer_config(bootstrap: str, overrides: Mapping[str, Any], client_id: str,
                    transactional_id: str | None = None, transaction_timeout: int | None = None) -> dict[str, Any]:
    """With ``transactional_id``, a transactional producer whose transactions time out after
    ``transaction_timeout`` ms (unless -X transaction.timeout.ms says otherwise)."""
    if "transactional.id" in overrides:
        raise ConfigError("-X transactional.id: streamproc gives each worker its own (leased in the state "
                          "directory); run with --guarantee exactly-once for transactions")
    conf = _base(bootstrap, client_id)
    conf.update({
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": "5",
        "partitioner": "murmur2_random",
        "queue.buffering.max.messages": "500000",
    })
    if transactional_id is not None:
        conf["transactional.id"] = transactional_id
        if transaction_timeout is not None:
            conf["transaction.timeout.ms"] = str(transaction_timeout)
    conf.update({k: v for k, v in overrides.items() if not k.startswith(_CONSUMER_ONLY)})
    return conf


def admin_config(bootstrap: str, overrides: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    conf = _base(bootstrap, client_id)
    conf.update({k: v for k, v in overrides.items() if not k.startswith(_CONSUMER_ONLY + _PRODUCER_ONLY)})
    return conf
