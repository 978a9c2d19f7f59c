"""Offset-for-time: the broker's answer is used only when the records agree; otherwise a binary search."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from streamproc.kafka.timestamps import offset_for_time


class _Msg:
    def __init__(self, offset: int, timestamp: int | None = None, eof: bool = False) -> None:
        self._offset, self._timestamp, self._eof = offset, timestamp, eof

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return 1, self._timestamp or 0

    def error(self) -> Any:
        return _Eof() if self._eof else None


class _Eof:
    def code(self) -> int:
        return KafkaError._PARTITION_EOF


class _Partition:
    """A consumer over one in-memory partition: {offset: timestamp} (gaps allowed), and a broker hint."""

    def __init__(self, records: dict[int, int], hint: int | None) -> None:
        self.records = records
        self.hint = hint
        self.reads = 0
        self._at = 0

    def offsets_for_times(self, tps: list[Any], timeout: float) -> list[Any]:
        tp = tps[0]
        tp.offset = -1 if self.hint is None else self.hint
        return [tp]

    def assign(self, tps: list[Any]) -> None:
        self._at = tps[0].offset

    def unassign(self) -> None:
        pass

    def consume(self, count: int, timeout: float) -> list[_Msg]:
        self.reads += 1
        later = [o for o in sorted(self.records) if o >= self._at]
        if not later:
            return [_Msg(max(self.records, default=-1) + 1, eof=True)]
        return [_Msg(later[0], self.records[later[0]])]


def _find(records: dict[int, int], when: int, hint: int | None) -> tuple[int, int]:
    consumer = _Partition(records, hint)
    high = max(records) + 1 if records else 0
    return offset_for_time(consumer, "t", 0, when, min(records, default=0), high), consumer.reads  # type: ignore[arg-type]


STEADY = {o: 1000 + 10 * o for o in range(1000)}  # offset o written at 1000 + 10 o


@pytest.mark.parametrize("hint", [None, 0, 3, 999, 5000])
def test_the_answer_is_right_whatever_the_broker_says(hint: int | None) -> None:
    assert _find(STEADY, 1000 + 10 * 400 + 5, hint)[0] == 401
    assert _find(STEADY, 1000 + 10 * 400, hint)[0] == 400  # a record exactly at the time is included
    assert _find(STEADY, 0, hint)[0] == 0
    assert _find(STEADY, 10**9, hint)[0] == 1000  # after everything: the end


def test_a_right_hint_is_checked_with_two_reads_and_a_wrong_one_costs_a_bounded_search() -> None:
    assert _find(STEADY, 1000 + 10 * 400 + 5, 401) == (401, 2)
    offset, reads = _find(STEADY, 1000 + 10 * 400 + 5, 0)
    assert offset == 401 and reads <= 2 + 11  # log2(1000) + the rejected check


def test_gaps_of_a_compacted_topic() -> None:
    records = {o: 1000 + 10 * o for o in range(0, 1000, 7)}
    expected = min(o for o in records if records[o] >= 1000 + 10 * 500)
    for hint in (None, 0, expected):
        assert _find(records, 1000 + 10 * 500, hint)[0] == expected
