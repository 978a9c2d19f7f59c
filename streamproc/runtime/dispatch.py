"""Handing each message of a consumed batch to its partition's reader.

A batch holds runs of one partition's messages, so the reader and the consumed-records tally are
looked up once per run, not per message. The loop only routes: what a broker gets wrong about
offsets is dealt with before a batch gets here (streamproc.kafka.continuity, for the brokers that
need it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError

from streamproc.errors import ConfigError, FatalError
from streamproc.metrics import RuntimeMetrics, Tally
from streamproc.state.position import TP

log = logging.getLogger(__name__)

Read = Callable[[Any], None]


def _unreachable(msg: Any) -> None:  # pragma: no cover - replaced before the first message
    raise AssertionError("no reader selected")


#: Authorization failures a consumer reports: (the operation denied, what on when no topic is named).
_DENIED = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED: ("READ (and DESCRIBE)", "an input topic"),
    KafkaError.GROUP_AUTHORIZATION_FAILED: ("READ", "its consumer group"),
    KafkaError.CLUSTER_AUTHORIZATION_FAILED: ("the cluster operation it needs", "the cluster"),
}

#: Where the empty run before a batch's first message is counted.
_NO_TALLY = Tally()


class Dispatcher:
    def __init__(self, readers: Mapping[TP, Read], consumed: Mapping[str, Tally],
                 metrics: RuntimeMetrics) -> None:
        """``readers``: the reader of every partition that is processing, kept by the task manager
        (streamproc.runtime.tasks); ``consumed``: the records-consumed tally of each source topic."""
        self.readers = readers
        self._consumed = consumed
        self._metrics = metrics

    def dispatch(self, messages: list[Any]) -> None:
        readers = self.readers
        consumed = self._consumed
        topic, partition = "", -1
        reader: Read = _unreachable
        tally = _NO_TALLY
        run = 0
        for msg in messages:
            if msg.error() is not None:
                self._consumer_error(msg.error(), msg.topic())
                continue
            if msg.partition() != partition or msg.topic() != topic:
                tally.count += run
                run = 0
                topic, partition = msg.topic(), msg.partition()
                reader, tally = readers[(topic, partition)], consumed[topic]
            reader(msg)
            run += 1
        tally.count += run

    def _consumer_error(self, err: Any, topic: str | None) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        self._metrics.error("consumer", err.name())
        denied = _DENIED.get(code)
        if denied is not None:  # a restart cannot fix a missing grant: stop with what to grant
            what = f"topic {topic!r}" if topic and code == KafkaError.TOPIC_AUTHORIZATION_FAILED else denied[1]
            raise FatalError(f"the broker denies this worker's user {denied[0]} on {what} ({err.str()}); grant it "
                             "with an ACL (e.g. kafka-acls --add --operation READ ...) and start again")
        if err.fatal():
            raise ConfigError(f"consumer failed: {err.str()}")
        log.warning("consumer: %s", err.str())
