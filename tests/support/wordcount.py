"""The word-count topology (topologies/wordcount.py) run as real worker processes, and its truth."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support.kafka import REPO, RunningTopology, TopicTail, create_topic, produce, unique, wait_for

VOCABULARY = [f"w{i}" for i in range(60)] + ["the", "The", "fox", "FOX", "dog"]


def write_target(path: Path, name: str, source: str, sink: str, backend: str = "rocksdb") -> None:
    """A topology file for `streamproc run`: topologies/wordcount.py under its own names and topics."""
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO / 'topologies')!r})\n"
        "from wordcount import build\n"
        f"topology = build({name!r}, {source!r}, {sink!r}, backend={backend!r})\n"
    )


class WordCountRun:
    """A uniquely named copy of topologies/wordcount.py with its own topics, group and state."""

    def __init__(self, bootstrap: str, tmp_path: Path, partitions: int = 4,
                 client: Mapping[str, Any] | None = None, backend: str = "rocksdb") -> None:
        """``client``: librdkafka settings (TLS) for the test's own clients; the worker's come from ``start``.
        ``backend``: the counts store's backend."""
        self.bootstrap = bootstrap
        self.client = dict(client or {})
        self.name = unique("wc")
        self.source = f"{self.name}-sentences"
        self.sink = f"{self.name}-counts"
        self.state_dir = tmp_path / "state"
        self.tmp_path = tmp_path
        self.target = tmp_path / "target.py"
        write_target(self.target, self.name, self.source, self.sink, backend)
        self.expected: Counter[str] = Counter()
        self.runs = 0
        self._tail: TopicTail | None = None
        self._latest: dict[str, int] = {}
        self._seen = 0
        create_topic(bootstrap, self.source, partitions, self.client)

    def feed(self, count: int, seed: int, flush_timeout: float = 30.0) -> None:
        """Produce ``count`` sentences; they count as expected once every one is acknowledged."""
        rng = random.Random(seed)
        sentences = [" ".join(rng.choices(VOCABULARY, k=rng.randint(1, 12))) for _ in range(count)]
        produce(self.bootstrap, self.source, sentences, client=self.client, flush_timeout=flush_timeout)
        for sentence in sentences:
            self.expected.update(sentence.lower().split())

    def cli_args(self) -> list[str]:
        """The arguments every CLI command takes to find this run's topology, broker and state."""
        return [str(self.target), "--bootstrap-servers", self.bootstrap, "--state-dir", str(self.state_dir)]

    def start(self, *extra: str) -> RunningTopology:
        self.runs += 1
        log = self.tmp_path / f"run-{self.runs}.log"
        return RunningTopology(self.target, self.bootstrap, self.state_dir, log, *extra)

    def latest_counts(self) -> tuple[dict[str, int], int]:
        """(latest count per word, number of output records) of everything in the output topic now."""
        if self._tail is None:
            self._tail = TopicTail(self.bootstrap, self.sink, self.client)
        self._tail.poll()
        for record in self._tail.records[self._seen:]:
            value = json.loads(record.value())
            assert record.key().decode() == value["word"]
            self._latest[value["word"]] = max(self._latest.get(value["word"], 0), value["count"])
        self._seen = len(self._tail.records)
        return dict(self._latest), self._seen

    def run_until_exact(self) -> RunningTopology:
        """Start, wait until every count is exact, stop gracefully (exit code 0); returns the stopped run."""
        running = self.start()
        try:
            self.wait_exact(running)
        finally:
            assert running.stop() == 0
        return running

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()

    def wait_exact(self, running: RunningTopology, timeout: float = 90.0) -> int:
        """Wait until every word's latest count equals the truth; returns the output record count."""

        def done() -> int | None:
            if running.process.poll() is not None:
                raise AssertionError(f"worker exited with {running.process.returncode}:\n{running.log()[-3000:]}")
            latest, outputs = self.latest_counts()
            return outputs if latest == dict(self.expected) else None

        try:
            result: int = wait_for(done, timeout, "exact word counts", interval=0.3)
        except AssertionError:
            latest, _ = self.latest_counts()
            wrong = {w: (latest.get(w), n) for w, n in self.expected.items() if latest.get(w) != n}
            raise AssertionError(f"counts differ (got, expected): {dict(list(wrong.items())[:10])}\n"
                                 f"{running.log()[-3000:]}") from None
        return result


MakeRun = Callable[..., WordCountRun]


def run_until_exact(bootstrap: str, tmp_path: Path, client: Mapping[str, Any], seed: int, *args: str,
                    timeout: float = 90.0) -> tuple[WordCountRun, str]:
    """Feed 300 sentences to a word count over ``client`` settings (TLS, SASL), run it until its counts are
    exact, stop it, and return the (closed) run and its log: it must have stopped cleanly, with no worker
    restarted on the way."""
    run = WordCountRun(bootstrap, tmp_path, partitions=3, client=client)
    try:
        run.feed(300, seed=seed)
        running = run.start(*args)
        try:
            run.wait_exact(running, timeout=timeout)
        finally:
            code = running.stop()
    finally:
        run.close()
    output = running.log()
    assert code == 0, output[-3000:]
    assert "exited with" not in output  # no worker crashed and was restarted on the way
    return run, output
