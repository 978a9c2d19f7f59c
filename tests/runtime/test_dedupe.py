"""Records an upstream task writes twice to an internal topic (a replay after a crash) count once."""

from __future__ import annotations

from pathlib import Path

from streamproc.runtime.dedupe import OriginCounter, OriginMarks
from streamproc.testing import TopologyTestDriver
from tests.support.bolts import wordcount


def test_origin_indexes_restart_per_input_message() -> None:
    counter = OriginCounter()
    assert [counter.header("t", 0, 5) for _ in range(3)] == [b"t:0:5:0", b"t:0:5:1", b"t:0:5:2"]
    assert counter.header("t", 0, 6) == b"t:0:6:0"
    assert counter.header("t", 1, 6) == b"t:1:6:0"


def test_marks_admit_each_origin_position_once() -> None:
    marks = OriginMarks()
    assert marks.admit(b"a-b:3:10:0") and marks.admit(b"a-b:3:10:1") and marks.admit(b"a-b:3:11:0")
    assert not marks.admit(b"a-b:3:10:1")
    assert not marks.admit(b"a-b:3:11:0")
    assert marks.admit(b"a-b:4:0:0")  # another origin partition has its own mark
    assert marks.duplicates == 2
    assert OriginMarks.decode(marks.encode()).marks == marks.marks


def test_replayed_repartition_records_are_not_counted_twice(tmp_path: Path) -> None:
    driver = TopologyTestDriver(wordcount(), partitions=2, state_dir=tmp_path)
    driver.send("sentences", "a b a", partition=0)
    driver.checkpoint()
    # The upstream crashed before committing and replays: its records land in the topic again.
    for record in driver.records("wc-count-repartition"):
        driver.producer.produce(record.topic(), record.value(), record.key(), record.partition(),
                                headers=record.headers())
    driver.send("sentences", "a", partition=1)
    assert driver.state("counts", "a") == 3
    assert driver.state("counts", "b") == 1
    assert sum(t.marks.duplicates for t in driver.tasks.values() if t.marks is not None) == 3
    driver.checkpoint()
    driver.close()

    # The marks are durable with the state: a new driver over the same directory still skips the copies.
    again = TopologyTestDriver(wordcount(), partitions=2, state_dir=tmp_path, broker=driver.broker)
    for record in driver.records("wc-count-repartition"):
        again.producer.produce(record.topic(), record.value(), record.key(), record.partition(),
                               headers=record.headers())
    again.drain()
    assert again.state("counts", "a") == 3
    assert again.state("counts", "b") == 1
    # All 7 records (4 originals and the 3 copies appended above) were applied before the restart.
    assert sum(t.marks.duplicates for t in again.tasks.values() if t.marks is not None) == 7
    again.close()


def test_after_a_replay_barrier_replayed_records_are_applied_again(tmp_path: Path) -> None:
    from streamproc.runtime.dedupe import REPLAY_HEADER

    driver = TopologyTestDriver(wordcount(), partitions=2, state_dir=tmp_path)
    driver.send("sentences", "a b a", partition=0)
    driver.checkpoint()
    first = driver.records("wc-count-repartition")
    # A crash's copies written before the replay are still recognised...
    for record in first:
        driver.producer.produce(record.topic(), record.value(), record.key(), record.partition(),
                                headers=record.headers())
    # ...then `replay --keep-state` writes a barrier to each partition, and the replay writes the records again.
    for partition in range(2):
        driver.producer.produce("wc-count-repartition", None, None, partition,
                                headers=[(REPLAY_HEADER, b"sentences:0")])
    for record in first:
        driver.producer.produce(record.topic(), record.value(), record.key(), record.partition(),
                                headers=record.headers())
    driver.drain()
    assert driver.state("counts", "a") == 4 and driver.state("counts", "b") == 2
    assert sum(t.marks.duplicates for t in driver.tasks.values() if t.marks is not None) == 3
    # A crash after the replay: its copies come after the barrier, and the marks rebuilt since recognise them.
    for record in first:
        driver.producer.produce(record.topic(), record.value(), record.key(), record.partition(),
                                headers=record.headers())
    driver.drain()
    assert driver.state("counts", "a") == 4 and driver.state("counts", "b") == 2
    driver.close()


def test_a_replay_barrier_forgets_only_the_marks_of_the_rewound_partitions() -> None:
    marks = OriginMarks()
    assert marks.admit(b"in:0:10:0") and marks.admit(b"in:1:10:0") and marks.admit(b"t-x-repartition:3:7:0")
    marks.restart(b"in:0,other:2")
    assert marks.admit(b"in:0:10:0")  # replayed on purpose
    assert not marks.admit(b"in:1:10:0") and not marks.admit(b"t-x-repartition:3:7:0")  # still a crash's copies


def test_wall_clock_origins_are_never_taken_for_copies() -> None:
    """Ticks and wall timers are numbered by the wall clock: a task's new owner may have a clock behind the old
    one's, and its records must still be applied (a replay of them is applied again: at-least-once)."""
    marks = OriginMarks()
    assert marks.admit(b"streamproc.wall.0:3:5000:0")
    assert marks.admit(b"streamproc.wall.0:3:4000:0")
    assert marks.admit(b"streamproc.wall.0:3:4000:0")
    assert marks.admit(b"streamproc.timer.0.alert:3:4000:0")
    assert not marks.admit(b"streamproc.timer.0.alert:3:4000:0")
    assert marks.duplicates == 1
