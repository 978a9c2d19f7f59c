"""The checkpoint: the one place where progress becomes durable, in an order that makes recovery exact.

1. flush batching bolts, then send one changelog record per dirty key;
2. flush the producer: every output, internal and changelog record is acknowledged, or nothing
   below is done (CheckpointError; the caller discards the write caches and restarts the tasks);
3. commit the input offsets (``commit``);
4. write each store's WriteBatch (values, changelog position, processed offsets).

A crash between 3 and 4 leaves local state behind the changelog, which recovery replays; a crash
before 3 leaves changelog records whose source offsets are not committed, which recovery skips.

The ``commit`` of step 3 is the guarantee's: under at-least-once a synchronous offset commit;
under exactly-once (streamproc.runtime.transaction) ``send_offsets_to_transaction`` and
``commit_transaction``, so that the records of steps 1-2 and the offsets become visible together.
Step 2 stays first under both: its delivery reports give the changelog positions step 4 stores.

Under at-least-once, a group in the middle of an incremental rebalance may refuse the offsets of a
member that still owns its partitions (its generation or member epoch moved on: the commit raced
the rebalance). Nothing needs undoing for that (Kafka Streams retries such commits too): the commit
raises CommitDeferred, step 4 still runs, and the next checkpoint commits the offsets, which by then
cover the same records and more. Until it does, the local stores are ahead of the committed offsets,
which recovery notices (a crash in between rebuilds them from the changelog, skipping the records of
uncommitted inputs); a partition revoked in between is redone by its next owner, as any uncommitted
work is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from streamproc.errors import CheckpointError
from streamproc.runtime.output import Output, is_fencing
from streamproc.runtime.task import Task
from streamproc.state.position import TP

log = logging.getLogger(__name__)

Commit = Callable[[dict[TP, int]], None]


class CommitDeferred(Exception):
    """The group refused the offsets only because it is rebalancing; commit them at the next checkpoint."""


@dataclass(frozen=True)
class CheckpointResult:
    offsets: dict[TP, int]
    changelog_records: int
    seconds: float
    #: Records replayed by an upstream task into an internal topic, recognised and skipped since the last one.
    duplicates_skipped: int = 0
    #: Re-driven dead-letter copies skipped since the last one: their originals were processed.
    redriven_skipped: int = 0
    #: Why the offsets are left for the next checkpoint (CommitDeferred); None when they were committed.
    deferred: str | None = None
    #: Expired entries of TTL stores tombstoned by this checkpoint, per store.
    expired: dict[str, int] = field(default_factory=dict)


class Checkpointer:
    def __init__(self, output: Output, commit: Commit, flush_timeout: float = 30.0) -> None:
        self._output = output
        self._commit = commit
        self._flush_timeout = flush_timeout

    def run(self, tasks: Sequence[Task]) -> CheckpointResult:
        started = time.monotonic()
        try:
            for task in tasks:
                task.flush_bolts()
            records = sum(task.stage_changelogs() for task in tasks)
            self._output.flush(self._flush_timeout)
            failed = [e for task in tasks for e in task.delivery_errors()]
            if failed:
                fenced = next((e for e in failed if is_fencing(e)), None)
                if fenced is not None:
                    raise self._output.fenced_error(fenced)
                raise CheckpointError(f"{len(failed)} changelog records failed to send, first: {failed[0]}")
            offsets = {tp: o for task in tasks for tp, o in task.commit_offsets().items()}
            deferred = None
            try:
                self._commit(offsets)  # called with no offsets too: a transaction must end all the same
            except CommitDeferred as exc:
                deferred = str(exc)
            except CheckpointError:
                raise
            except Exception as exc:
                raise CheckpointError(f"committing offsets failed: {exc}") from exc
        except BaseException:
            for task in tasks:
                task.discard()
            raise
        duplicates = redriven = 0
        expired: dict[str, int] = {}
        for task in tasks:
            task.commit_stores()
            duplicates += task.take_duplicates()
            redriven += task.take_redriven_skipped()
            for store, count in task.take_expired().items():
                expired[store] = expired.get(store, 0) + count
        return CheckpointResult(offsets, records, time.monotonic() - started, duplicates_skipped=duplicates,
                                redriven_skipped=redriven, deferred=deferred, expired=expired)
