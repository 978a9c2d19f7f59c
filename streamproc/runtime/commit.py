"""The at-least-once offset commit, and which of its failures only ask to commit again later.

A commit refused because the group's generation (the member epoch, under KIP-848) moved on while this
member still owns its partitions raced an incremental rebalance (cooperative-sticky, or the consumer
protocol): the member keeps its partitions, and the next commit, after the poll that serves the
rebalance, is accepted. Such a refusal raises CommitDeferred (streamproc.runtime.checkpoint says what
is kept). Under exactly-once the offsets travel in the transaction instead, and a refusal aborts it:
the worker restarts from the last commit (streamproc.runtime.transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streamproc.runtime.checkpoint import CommitDeferred
from streamproc.state.position import TP

#: Commit errors that mean "the group is rebalancing", not "this member lost its partitions" (that is the
#: lost-partitions callback's news, which follows an UNKNOWN_MEMBER_ID).
REBALANCING = frozenset({KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS,
                         KafkaError.STALE_MEMBER_EPOCH, KafkaError.UNKNOWN_MEMBER_ID})
#: Refused commits in a row after which the worker stops trying and restarts from the last commit.
MAX_DEFERRED_COMMITS = 10


def commit_offsets(consumer: Any, offsets: Mapping[TP, int]) -> None:
    """Commit ``offsets`` synchronously; CommitDeferred when the group refused them for a rebalance."""
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() in REBALANCING:
            raise CommitDeferred(err.str()) from exc
        raise
