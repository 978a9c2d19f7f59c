"""While a worker has no partition assignment: a line at INFO every 10 s, with what the group looks like.

A worker waits for partitions at start, and again after every revocation under the eager protocol.
Usually that takes a few seconds. It takes longer when a member that stopped without leaving the
group (SIGKILL, a lost host, a worker that gave up at its shutdown timeout) must first time out, and
indefinitely when the broker's coordinator is stuck. Without a word at INFO the operator sees only a
worker that does nothing and a ``/readyz`` of 503. The group is described through the admin API
without blocking the poll loop (the consumer must keep polling to take part in the rebalance), and
the line is logged when the answer arrives.

The worker calls :meth:`AssignmentWait.tick` once per turn of its poll loop: it costs one attribute
test while the worker has its assignment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription  # type: ignore[attr-defined]  # not in __all__

from streamproc.kafka.clients import new_admin
from streamproc.kafka.config import admin_config
from streamproc.runtime.settings import WorkerSettings

log = logging.getLogger("streamproc.runtime.worker")

#: Seconds between two "still waiting" lines.
INTERVAL = 10.0
#: librdkafka's default session.timeout.ms, named in the hint when -X does not set it.
DEFAULT_SESSION_TIMEOUT_MS = 45000

Describe = Callable[[], "Future[ConsumerGroupDescription]"]


class AssignmentWait:
    """Counts how long the worker has been without an assignment and says so every ``interval`` seconds.

    ``describe`` starts a description of the group and returns its future (None: the group is not
    described); ``member_id`` returns this worker's member id in the group, if it has one yet.
    """

    def __init__(self, group_id: str, describe: Describe | None, member_id: Callable[[], str | None], *,
                 session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.group_id = group_id
        self._describe = describe
        self._member_id = member_id
        self._session_timeout_ms = session_timeout_ms
        self._interval = interval
        self._clock = clock
        self._since: float | None = None
        self._next = 0.0
        self._reported = False
        self._pending: Future[ConsumerGroupDescription] | None = None

    @classmethod
    def for_worker(cls, settings: WorkerSettings, client_id: str, consumer: Any) -> AssignmentWait:
        """The wait of a worker's group consumer; the admin client is made the first time it is needed."""
        admin: list[AdminClient] = []

        def describe() -> Future[ConsumerGroupDescription]:
            if not admin:
                config = admin_config(settings.bootstrap_servers, settings.overrides, client_id + "-wait")
                admin.append(new_admin(config))
            futures = admin[0].describe_consumer_groups([settings.group_id], request_timeout=INTERVAL / 2)
            return futures[settings.group_id]

        session = int(settings.overrides.get("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS))
        return cls(settings.group_id, describe, consumer.memberid, session_timeout_ms=session)

    def tick(self, assigned: bool) -> None:
        """Called once per turn of the poll loop with whether the worker has its assignment."""
        if assigned:
            if self._since is not None:
                self._done()
            return
        now = self._clock()
        if self._since is None:
            self._since, self._next = now, now + self._interval
        elif now >= self._next:
            self._next = now + self._interval
            self._report(now - self._since)

    def _done(self) -> None:
        assert self._since is not None
        if self._reported:
            log.info("partition assignment received after %.0f s of waiting", self._clock() - self._since)
        self._since, self._reported, self._pending = None, False, None

    def _report(self, waited: float) -> None:
        self._reported = True
        member = self._member_id()
        if self._describe is None or (self._pending is not None and not self._pending.done()):
            log.info("%s", self.message(waited, None, member))
            return
        try:
            self._pending = future = self._describe()
        except Exception as exc:  # a line without the group's picture beats no line at all
            log.info("%s (cannot describe the group: %s)", self.message(waited, None, member), exc)
            return
        future.add_done_callback(lambda done: self._log_described(waited, done, member))

    def _log_described(self, waited: float, done: Future[ConsumerGroupDescription], member: str | None) -> None:
        error = done.exception()
        if error is not None:
            log.info("%s (cannot describe the group: %s)", self.message(waited, None, member), error)
        else:
            log.info("%s", self.message(waited, done.result(), member))

    def message(self, waited: float, group: ConsumerGroupDescription | None, member: str | None) -> str:
        """The line to log; ``group`` None when the broker's description is not at hand."""
        parts = [f"still waiting for a partition assignment ({waited:.0f} s): "]
        if group is None:
            parts.append(f"group {self.group_id!r}")
        else:
            parts.append(describe_group(group))
        parts.append(f"; this worker is member {member}" if member else "; this worker has no member id yet")
        parts.append(f". A member that stopped without leaving the group (killed, or cut off) holds up the "
                     f"assignment until its session times out (session.timeout.ms={self._session_timeout_ms})")
        return "".join(parts)


def describe_group(group: ConsumerGroupDescription) -> str:
    """``group 'g' is PREPARING_REBALANCE with 2 members: ...``, as far as the broker reports it."""
    state = _state_name(group.state)
    text = f"group {group.group_id!r} is {state}"
    if group.coordinator is not None:
        text += f" (coordinator {group.coordinator.host}:{group.coordinator.port})"
    if not group.members:
        if group.state == ConsumerGroupState.EMPTY:
            return text + ", with no members: this worker's join has not been accepted yet"
        return text + "; the broker does not report its members"
    members = ", ".join(_member(m) for m in sorted(group.members, key=lambda m: m.client_id))
    return text + f" with {len(group.members)} member{'s' if len(group.members) != 1 else ''}: {members}"


def _member(member: Any) -> str:
    partitions = member.assignment.topic_partitions if member.assignment is not None else []
    owns = f"{len(partitions)} partition{'s' if len(partitions) != 1 else ''}" if partitions else "no partitions"
    static = f", instance {member.group_instance_id}" if member.group_instance_id else ""
    return f"{member.client_id} on {member.host} ({member.member_id}{static}; {owns})"


def _state_name(state: Any) -> str:
    return state.name if isinstance(state, ConsumerGroupState) else str(state)
