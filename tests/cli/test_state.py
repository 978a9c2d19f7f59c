"""`streamproc state rebuild|get|dump` on the word count's real RocksDB stores and changelogs."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.cli import run_cli
from tests.support.kafka import committed, wait_for
from tests.support.wordcount import MakeRun

pytestmark = pytest.mark.integration


def test_rebuild_after_losing_the_state_directory_gives_the_same_dump(
    wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wc = wordcount(partitions=3)
    wc.feed(1200, seed=31)
    wc.run_until_exact()
    base = wc.cli_args()

    before = run_cli(capsys, "state", "dump", *base, "counts", "--format", "json")
    assert before.code == 0, before.err
    entries = [json.loads(line) for line in before.out.splitlines()]
    assert {e["key"]: e["value"] for e in entries} == dict(wc.expected)
    assert "behind" not in before.err  # the stopped worker checkpointed everything

    shutil.rmtree(wc.state_dir)
    missing = run_cli(capsys, "state", "dump", *base, "counts")
    assert missing.code == 2 and "state rebuild" in missing.err

    rebuilt = run_cli(capsys, "state", "rebuild", *base)
    assert rebuilt.code == 0, rebuilt.err
    assert "rebuilt counts[0], counts[1], counts[2]" in rebuilt.err
    after = run_cli(capsys, "state", "dump", *base, "counts", "--format", "json")
    assert sorted(after.out.splitlines()) == sorted(before.out.splitlines())

    word, count = wc.expected.most_common(1)[0]
    got = run_cli(capsys, "state", "get", *base, "counts", word, "--json")
    assert got.code == 0, got.err
    answer = json.loads(got.out)
    assert answer["value"] == count and answer["behind_changelog"] == 0

    absent = run_cli(capsys, "state", "get", *base, "counts", "no-such-word")
    assert absent.code == 1 and "not in the local copy" in absent.err

    table = run_cli(capsys, "state", "dump", *base, "counts", "--partition", str(answer["partition"]), "--limit", "3")
    rows = table.out.splitlines()[1:]
    assert len(rows) == 3 and all(row.split()[0] == str(answer["partition"]) for row in rows)


def test_reads_are_safe_beside_a_running_worker_and_rebuild_refuses_its_stores(
    wordcount: MakeRun, broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wc = wordcount(partitions=1)
    wc.feed(300, seed=32)
    base = wc.cli_args()
    running = wc.start()
    try:
        wc.wait_exact(running)
        wait_for(lambda: committed(broker, wc.name, wc.source, 1).get(0) == 300, 30, "the checkpoint")
        word, count = wc.expected.most_common(1)[0]

        def read_back() -> bool:
            got = run_cli(capsys, "state", "get", *base, "counts", word)
            return got.code == 0 and json.loads(got.out) == count

        wait_for(read_back, 30, "the checkpointed count, read while the worker holds the store")
        refused = run_cli(capsys, "state", "rebuild", *base, "--store", "counts")
        assert refused.code == 2 and "counts[0]" in refused.err and "in use by a worker on this host" in refused.err
    finally:
        assert running.stop() == 0
    unknown = run_cli(capsys, "state", "rebuild", *base, "--store", "nope")
    assert unknown.code == 2 and "has no store 'nope'" in unknown.err
    out_of_range = run_cli(capsys, "state", "rebuild", *base, "--partition", "5")
    assert out_of_range.code == 2 and "has partitions 0..0" in out_of_range.err
