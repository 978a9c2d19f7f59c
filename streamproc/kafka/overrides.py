"""``-X`` settings: parsed once, and checked once against one table of what streamproc refuses.

A librdkafka setting can undo a guarantee (``acks=0`` loses acknowledged outputs, automatic commits
commit inputs before their outputs), fight the runtime over something it owns (the group id, the
assignor, the transactional id), or name a Python callback that text cannot express (``error_cb``,
which crashed a worker later). Each is refused here, before any client or worker exists, with the
reason and what to use instead; the command exits 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamproc.errors import ConfigError

#: ``-X @FILE`` reads at most this much: a settings file is a few lines (``@/dev/zero`` must not eat memory).
MAX_SETTINGS_FILE = 1 << 20

#: Settings confluent-kafka reads itself and insists on as real booleans (librdkafka takes text).
_PYTHON_BOOLEANS = frozenset({"delivery.report.only.error"})
_SETTING_NAME = re.compile(r"[A-Za-z0-9._-]*")
_TRUE = frozenset({"true", "t", "1", "yes", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "off"})


@dataclass(frozen=True)
class Rule:
    #: Values that may be given (lower case; booleans spelled any way librdkafka reads them); empty: none.
    allowed: frozenset[str]
    why: str


def _only(values: frozenset[str], why: str) -> Rule:
    return Rule(values, why)


def _never(why: str) -> Rule:
    return Rule(frozenset(), why)


_CALLBACK = "is a Python callback, which text cannot give (streamproc sets its own where it needs one)"

#: The one table: every -X setting streamproc refuses, or allows only with the value it needs.
RULES: Mapping[str, Rule] = {
    "enable.auto.commit": _only(_FALSE, "automatic commits would commit inputs before their outputs and state "
                                        "are acknowledged; streamproc commits at each checkpoint"),
    "enable.auto.offset.store": _only(_FALSE, "streamproc stores the offsets it has processed itself"),
    "acks": _only(frozenset({"all", "-1"}), "an output must be on every in-sync replica before its input offset is "
                                            "committed, or a broker failure loses it (at-least-once needs acks=all)"),
    "request.required.acks": _only(frozenset({"all", "-1"}), "alias of acks: see acks"),
    "enable.idempotence": _only(_TRUE, "without it a retried send can be written twice or out of order, which "
                                       "breaks exact state through changelogs and internal topics"),
    "transactional.id": _never("streamproc gives each worker its own (leased in the state directory); use "
                               "--guarantee exactly-once for transactions"),
    "group.id": _never("use --group-id (it also names the internal topics and state)"),
    "partition.assignment.strategy": _never("use --assignor (range or cooperative-sticky), which streamproc checks "
                                            "against the topology"),
    "enable.partition.eof": _never("streamproc sets it per consumer (restores need it, the group consumer not)"),
    "error_cb": _never(_CALLBACK), "throttle_cb": _never(_CALLBACK), "stats_cb": _never(_CALLBACK),
    "oauth_cb": _never(_CALLBACK), "on_delivery": _never(_CALLBACK), "on_commit": _never(_CALLBACK),
    "logger": _never(_CALLBACK),
}


def check_overrides(settings: Mapping[str, Any], workers: int = 1, exactly_once: bool = False) -> None:
    """Raise ConfigError for the first setting RULES refuses (or that does not fit ``workers`` or the guarantee)."""
    for key, value in settings.items():
        rule = RULES.get(key)
        if rule is not None and str(value).strip().lower() not in rule.allowed:
            shown = "" if not rule.allowed else f"={value}"
            raise ConfigError(f"-X {key}{shown} is not allowed: {key} {rule.why}")
    if settings.get("bootstrap.servers") is not None and not str(settings["bootstrap.servers"]).strip():
        raise ConfigError("-X bootstrap.servers is empty; give HOST:PORT (or leave it out for the embedded broker)")
    if workers > 1 and "group.instance.id" in settings:
        raise ConfigError(f"-X group.instance.id names one member of the group, but --workers {workers} makes "
                          f"{workers} members (they would fence each other); use it with --workers 1 (one run per "
                          "host, each with its own id) or leave it out")
    level = str(settings.get("isolation.level", "read_committed"))
    if exactly_once and level != "read_committed":
        raise ConfigError(f"-X isolation.level={level} would read records of aborted transactions; "
                          "--guarantee exactly-once needs read_committed")


def _printable(pair: str) -> str:
    """A malformed ``-X`` argument for an error message: only its leading setting name, since the rest
    may be a secret typed with the wrong separator (``-X sasl.password:hunter2``)."""
    name = _SETTING_NAME.match(pair.strip())
    shown = name.group() if name else ""
    return repr(pair) if shown == pair else f"{shown!r} followed by text not shown here"


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` from ``-X`` flags, later ones winning, checked against RULES.

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
    check_overrides(settings)
    return settings


def read_bounded(path: Path, limit: int, what: str) -> str:
    """The text of ``path``, refusing more than ``limit`` bytes (``/dev/zero``, a FIFO, a huge file) and
    anything but UTF-8 text, with a ConfigError that starts with ``what`` (e.g. "-X @FILE")."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read the file ({exc.strerror})") from None
    if len(data) > limit:
        raise ConfigError(f"{what}: the file is larger than {limit:,} bytes; is it the right file?")
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what}: the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _settings_file(path: Path) -> list[tuple[str, str]]:
    text = read_bounded(path, MAX_SETTINGS_FILE, f"-X @{path}")
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
