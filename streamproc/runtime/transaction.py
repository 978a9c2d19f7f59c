"""Exactly-once: the worker's transactional producer, one transaction per checkpoint.

A transaction is always open between checkpoints. ``begin_transaction`` is local to the client
(the coordinator hears of a transaction when its first partition is added, at the first produce),
so beginning the next one right after each commit is the same, for the broker, as beginning it
lazily before the first produce, and the per-record path needs no "in a transaction?" check. At a
checkpoint the Checkpointer flushes the producer first (its delivery reports give the changelog
positions), then ``commit`` adds the processed input offsets to the transaction and commits it:
outputs, internal records, changelog records and offsets become visible together, or never.

Zombies are fenced as in Kafka Streams' EOS v2 (KIP-447): ``send_offsets_to_transaction`` carries
the consumer's group generation with the offsets, and Kafka refuses the offsets of a member whose
generation is stale (a worker that lost its partitions without noticing), so its transaction
aborts. Transactional ids therefore need not follow partitions; they follow worker slots, so that a
restarted worker aborts what its dead predecessor left open (streamproc.runtime.txn_id).

Any failure ends the worker (CheckpointError, exit code 4): its open transaction is aborted on the
way out and the supervisor restarts it from the last commit. Rewinding in place would also need the
tasks' bolts, dedupe marks and readers rewound; a restart rebuilds all of it from committed state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamproc.errors import CheckpointError, ConfigError, ServiceError
from streamproc.kafka.config import producer_config, transaction_timeout_ms
from streamproc.runtime.output import FENCING, Output
from streamproc.runtime.settings import WorkerSettings
from streamproc.runtime.txn_id import TransactionalIdLease
from streamproc.state.position import TP

log = logging.getLogger(__name__)

#: The group coordinator refused the offsets: this member's generation is stale (a zombie).
STALE_MEMBER = frozenset({KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID, KafkaError.FENCED_INSTANCE_ID})
_COMMIT_ATTEMPTS = 3


class Transactions:
    """Begins, commits and aborts the transactions of one worker's producer."""

    def __init__(self, output: Output, group_metadata: Callable[[], Any], timeout: float = 30.0,
                 abort_timeout: float = 10.0, lease: TransactionalIdLease | None = None) -> None:
        """``group_metadata()`` is the consumer's ``consumer_group_metadata()``, asked at each commit;
        ``lease`` (released by ``close``) holds the producer's transactional id."""
        self.output = output
        self._producer: Any = output.producer
        self._group_metadata = group_metadata
        self._timeout = timeout
        self._abort_timeout = abort_timeout
        self._lease = lease

    @classmethod
    def for_worker(cls, settings: WorkerSettings, client_id: str, group_metadata: Callable[[], Any]) -> Transactions:
        """A worker's transactional producer, under an id leased in its state directory."""
        lease = TransactionalIdLease.acquire(settings.state_dir, settings.group_id)
        config = producer_config(settings.bootstrap_servers, settings.overrides, client_id, lease.transactional_id,
                                 transaction_timeout_ms(settings.commit_interval))
        return cls(Output(config=config), group_metadata, lease=lease)

    @property
    def transactional_id(self) -> str | None:
        return self.output.transactional_id

    def close(self) -> None:
        """Give the transactional id back (once the producer is done with it)."""
        if self._lease is not None:
            self._lease.release()

    def start(self) -> None:
        """Register the id with the coordinator (aborting what an earlier holder left open), then begin."""
        try:
            self._producer.init_transactions(self._timeout)
            self._producer.begin_transaction()
        except KafkaException as exc:
            err = exc.args[0]
            message = (f"cannot start the transactional producer (transactional.id {self.transactional_id!r}): "
                       f"{err.str()}; --guarantee exactly-once needs a broker with transactions enabled")
            if err.fatal() or err.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
                raise ConfigError(message + " and the right to use this transactional id") from None
            raise ServiceError(message) from None

    def commit(self, offsets: Mapping[TP, int]) -> None:
        """Commit the open transaction with ``offsets`` as the group's committed offsets; begin the next."""
        producer = self._producer
        try:
            if offsets:
                positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
                producer.send_offsets_to_transaction(positions, self._group_metadata(), self._timeout)
            self._commit_transaction()
            producer.begin_transaction()
        except KafkaException as exc:
            raise self._failure(exc.args[0]) from None

    def _commit_transaction(self) -> None:
        for attempt in range(1, _COMMIT_ATTEMPTS + 1):
            try:
                self._producer.commit_transaction(self._timeout)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if not err.retriable() or attempt == _COMMIT_ATTEMPTS:
                    raise
                log.warning("committing the transaction: %s; retrying (%d of %d)", err.str(), attempt,
                            _COMMIT_ATTEMPTS - 1)

    def _failure(self, err: Any) -> CheckpointError:
        if err.code() in FENCING:
            return self.output.fenced_error(err)
        if err.code() in STALE_MEMBER:
            return CheckpointError(
                f"the group refused this worker's offsets: its partitions were reassigned while it worked (a stale "
                f"group generation: it is a zombie), so its transaction is aborted [{err.str()}]")
        return CheckpointError(f"committing the transaction failed: {err.str()}")

    def abort(self) -> None:
        """Abort the open transaction and begin the next (partitions were lost); CheckpointError if impossible."""
        if self.output.fenced:
            raise self.output.fenced_error()
        try:
            self._producer.abort_transaction(self._abort_timeout)
            self._producer.begin_transaction()
        except KafkaException as exc:
            raise self._failure(exc.args[0]) from None

    def abort_on_exit(self) -> None:
        """Best effort, when the worker stops on a failure: abort now rather than leave the transaction to
        expire, so read_committed readers of what it wrote need not wait for ``transaction.timeout.ms``."""
        try:
            self._producer.poll(0)  # delivery reports may say that the producer was fenced
            if not self.output.fenced:
                self._producer.abort_transaction(self._abort_timeout)
                log.info("aborted the open transaction: nothing since the last checkpoint is committed")
                return
        except KafkaException as exc:
            if exc.args[0].code() not in FENCING:
                log.warning("could not abort the open transaction (%s); the broker aborts it after "
                            "transaction.timeout.ms", exc.args[0].str())
                return
        log.info("the broker aborted this worker's open transaction when it fenced the producer")
