"""Exceptions that carry enough context to tell the user what to fix.

Every error a user can cause names the component, topic or setting involved, because a
stream processor's errors surface in logs far away from the code that caused them.
"""

from __future__ import annotations


class StreamprocError(Exception):
    """Base of every error raised by streamproc itself."""


class FatalError(StreamprocError):
    """A failure that a restart cannot fix: a worker that meets one exits with code 3, and the supervisor
    stops every worker, instead of restarting into the same failure forever."""


class TopologyError(StreamprocError):
    """The topology definition is invalid; raised when it is built, before anything runs."""


class SchemaError(TopologyError):
    """A serde's schema does not parse or does not fit the type it maps to; raised when the serde is built."""


class ConfigError(StreamprocError):
    """A setting, CLI argument or environment is unusable (bad value, unreachable broker, missing topic)."""


class BrokerUnreachable(ConfigError):
    """No broker answered within the connect timeout.

    On a worker's first start that is most likely a wrong address, and stopping with the message is
    the help the user needs; on a restart the same address worked before, so it is an outage to wait out.
    """


class SerdeError(StreamprocError):
    """A key or value could not be (de)serialized."""


class ServiceError(StreamprocError):
    """A service a serde depends on (the Schema Registry) is unreachable or refused a request.

    It is not the message's fault, so the error policy does not apply to it: dead-lettering or
    skipping would lose good records for as long as the service is down. The worker stops without
    committing past the message and the supervisor restarts it from the last commit, with backoff.
    """


class ProcessingError(StreamprocError):
    """A message could not be fully handled by a component; the error policy decides what happens next."""

    def __init__(self, component: str, cause: BaseException) -> None:
        super().__init__(f"component {component!r} failed: {type(cause).__name__}: {cause}")
        self.component = component
        self.cause = cause


class TimestampError(StreamprocError):
    """A record has no usable event time: its timestamp is missing or negative, or the spout's extractor
    failed or returned something other than an int >= 0. The error policy applies."""


class FutureTimestampError(TimestampError):
    """A record's event time is further ahead of the wall clock than ``--max-future-skew`` allows (an upstream
    clock bug, most likely). The error policy applies; stream time does not move."""


class TimerFailed(StreamprocError):
    """A timer or tick callback raised under ``on_error="fail"``: the worker stops without committing, so the
    callback runs again after the restart."""


class CheckpointError(StreamprocError):
    """A checkpoint could not complete; nothing was committed and the tasks restart from the last commit."""


class ProducerFencedError(CheckpointError):
    """Under exactly-once, the broker refused this worker's transactional producer: a newer producer took
    its transactional id, or the broker aborted its transaction. Its open transaction is aborted, so the
    worker must stop without committing; a restart registers the id again with a new producer."""


class BoltSetupError(FatalError):
    """A bolt's ``setup()`` raised (or called sys.exit()): every start of the task would do the same."""


class StateError(StreamprocError):
    """A state store is unusable (locked by another process, corrupt, or used outside a keyed context)."""


class StateDirError(StateError, FatalError):
    """The state directory cannot be used: no permission, a symbolic link, or another user's file in it.

    A restart cannot fix it, so a worker that meets it exits as fatal (code 3) with the path, and
    ``streamproc run`` looks for it before any worker joins the group."""


class StateValueError(StateError, FatalError):
    """A value in a store's write cache cannot be encoded at the checkpoint, although it was checked when
    it was set: it was changed in place afterwards. Replaying the same records would do the same."""


class CorruptStateError(StateError):
    """A local store's files turned out damaged while in use (RocksDB verifies a data block only when it
    reads it). Not the message's fault: the error policy does not apply; the worker discards the
    directory and restarts, and the restart rebuilds the store from its changelog."""
