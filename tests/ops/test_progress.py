"""The summary line an operation prints where no progress bar is drawn (a log, a pipe, CI)."""

from __future__ import annotations

from streamproc.ops.progress import summary


def test_the_count_agrees_with_its_noun() -> None:
    assert summary("moving offsets", 1, "partitions", 0.01) == "moving offsets: 1 partition in 0.0s, 100 partitions/s"
    assert summary("moving offsets", 8, "partitions", 2.0) == "moving offsets: 8 partitions in 2.0s, 4 partitions/s"
    assert summary("rebuilding", 12345, "records", 0.0) == "rebuilding: 12,345 records in 0.0s"
    assert summary("re-driving", 0, "messages", 1.0) == "re-driving: 0 messages in 1.0s"
