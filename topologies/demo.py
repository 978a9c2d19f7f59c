"""``make demo``: the word count end to end on the embedded broker, checked against the truth.

Starts the embedded broker, creates ``sentences`` (4 partitions) and ``word-counts``, produces the
sentences of ``topologies/data/sample.txt`` a number of rounds, runs ``streamproc run
topologies/wordcount.py`` as a subprocess and reads ``word-counts`` while it works. It is done when
the latest count of every word equals the number of times the demo produced that word; then it
stops the runner with SIGTERM (a graceful stop: final checkpoint, leave the group) and the broker.
Exit status 0 means the counts were exact; anything else says what went wrong and where the
runner's log is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streamproc.devbroker import CLIENT_SETTINGS, EmbeddedBroker
from streamproc.errors import StreamprocError

REPO = Path(__file__).resolve().parent.parent
TOPOLOGY = Path("topologies") / "wordcount.py"
SAMPLE = REPO / "topologies" / "data" / "sample.txt"
INPUT_TOPIC = "sentences"
OUTPUT_TOPIC = "word-counts"
PARTITIONS = 4
ROUNDS = 20
TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
# The client settings `streamproc run` uses with the embedded broker it starts itself: fast group joins and
# low fetch latency there (why: streamproc/devbroker.py, and the README's "The embedded broker in
# `streamproc run`"). The demo starts the broker itself, so it passes them with -X.
RUNNER_OVERRIDES = tuple(f"{key}={value}" for key, value in CLIENT_SETTINGS.items())


class DemoError(Exception):
    """The demo failed; the message says why."""


def load_sentences(path: Path = SAMPLE) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def true_counts(sentences: Sequence[str]) -> Counter[str]:
    """What the word count must arrive at: the same split as ``topologies/wordcount.py``."""
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(sentence.lower().split())
    return counts


def create_topics(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in (INPUT_TOPIC, OUTPUT_TOPIC)],
                                  operation_timeout=10)
    for name, future in futures.items():
        try:
            future.result(timeout=15)
        except KafkaException as exc:
            raise DemoError(f"cannot create topic {name!r}: {exc}") from exc


def produce(bootstrap: str, sentences: Sequence[str]) -> None:
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    for index, sentence in enumerate(sentences):
        producer.produce(INPUT_TOPIC, value=sentence.encode("utf-8"), partition=index % PARTITIONS,
                         on_delivery=on_delivery)
        if index % 1000 == 0:
            producer.poll(0)
    remaining = int(producer.flush(30))
    if remaining or failures:
        raise DemoError(f"producing the sentences failed: {remaining} undelivered, errors: {failures[:3]}")


def start_runner(bootstrap: str, workdir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "streamproc.cli.main", "run", str(TOPOLOGY),
               "--bootstrap-servers", bootstrap, "--state-dir", str(workdir / "state"), "--commit-interval", "1"]
    for override in RUNNER_OVERRIDES:
        command += ["-X", override]
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def stop_runner(runner: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM, then wait for the graceful stop; SIGKILL only if it does not come."""
    if runner.poll() is None:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
            raise DemoError(f"the runner did not stop within {timeout:.0f}s of SIGTERM; killed it") from None
    return runner.returncode


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Progress:
    expected: Counter[str]
    latest: dict[str, int] = field(default_factory=dict)
    seen: int = 0

    @property
    def total(self) -> int:
        return sum(self.expected.values())

    def add(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            raise DemoError(f"an output without key or value: key={key!r} value={value!r}")
        word = key.decode("utf-8")
        record = json.loads(value)
        if record.get("word") != word:
            raise DemoError(f"output key {word!r} does not match its value {record!r}")
        count = int(record["count"])
        if word not in self.expected:
            raise DemoError(f"the word count emitted {word!r}, which the demo never produced")
        if count > self.expected[word]:
            raise DemoError(f"{word!r} counted {count} times, but it occurs {self.expected[word]} times")
        self.seen += 1
        self.latest[word] = max(count, self.latest.get(word, 0))

    def shortfall(self, limit: int = 3) -> str:
        short = [(w, self.latest.get(w, 0), n) for w, n in self.expected.most_common() if self.latest.get(w, 0) < n]
        examples = ", ".join(f"{w!r} {got:,} of {n:,}" for w, got, n in short[:limit])
        return f"{len(short):,} words below their true count (e.g. {examples})"

    def complete(self) -> bool:
        return len(self.latest) == len(self.expected) and all(
            self.latest[word] == n for word, n in self.expected.items())


def watch(bootstrap: str, progress: Progress, runner: subprocess.Popen[bytes], timeout: float) -> float:
    """Read ``word-counts`` until every count is right; return the seconds it took."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "streamproc-demo-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(OUTPUT_TOPIC, p, -2) for p in range(PARTITIONS)])  # -2: the beginning
    start = last_report = time.monotonic()
    seen_at_report = 0
    try:
        while not progress.complete():
            now = time.monotonic()
            if now - start > timeout:
                raise DemoError(f"not finished after {timeout:.0f}s: {progress.seen:,} of "
                                f"{progress.total:,} outputs arrived; {progress.shortfall()}")
            if runner.poll() is not None:
                raise DemoError(f"the runner exited early with code {runner.returncode}")
            for msg in consumer.consume(num_messages=10_000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        raise DemoError(f"reading {OUTPUT_TOPIC}: {err}")
                    continue
                progress.add(msg.key(), msg.value())
            now = time.monotonic()
            if now - last_report >= 1.0:
                rate = (progress.seen - seen_at_report) / (now - last_report)
                print(f"  {now - start:5.1f}s  {progress.seen:>7,} / {progress.total:,} outputs "
                      f"({100 * progress.seen / progress.total:5.1f}%)  {rate:>8,.0f}/s", flush=True)
                last_report, seen_at_report = now, progress.seen
    finally:
        consumer.close()
    return time.monotonic() - start


def run(rounds: int, timeout: float) -> None:
    sample = load_sentences()
    sentences = sample * rounds
    expected = true_counts(sentences)
    progress = Progress(expected)
    workdir = Path(tempfile.mkdtemp(prefix="streamproc-demo-"))
    log_path = workdir / "runner.log"
    broker = EmbeddedBroker(log_path=workdir / "broker.log").start()
    runner: subprocess.Popen[bytes] | None = None
    try:
        bootstrap = broker.bootstrap_servers
        print(f"embedded broker on {bootstrap}")
        create_topics(bootstrap)
        produce(bootstrap, sentences)
        print(f"produced {len(sentences):,} sentences ({len(sample)} lines of {SAMPLE.name} x {rounds}) "
              f"to {INPUT_TOPIC!r}: {progress.total:,} words, {len(expected):,} distinct")
        runner = start_runner(bootstrap, workdir, log_path)
        print(f"running the word count (pid {runner.pid}); its log: {log_path}")
        elapsed = watch(bootstrap, progress, runner, timeout)
        print(f"all {len(expected):,} counts are exact after {elapsed:.1f}s "
              f"({progress.seen:,} outputs for {progress.total:,} words)")
        if progress.seen > progress.total:
            print(f"  ({progress.seen - progress.total:,} outputs were repeats: at-least-once delivery)")
        print("top 10 words:")
        for word, count in sorted(progress.latest.items(), key=lambda item: (-item[1], item[0]))[:10]:
            print(f"  {count:>7,}  {word}")
        code = stop_runner(runner)
        print(f"runner stopped by SIGTERM with exit code {code}")
        if code != 0:
            raise DemoError(f"the runner exited with code {code} after SIGTERM (a graceful stop exits 0)")
    except DemoError:
        if runner is not None and runner.poll() is None:
            runner.kill()
            runner.wait()
        print(f"--- last lines of the runner's log ({log_path}) ---\n{tail(log_path)}", file=sys.stderr)
        raise
    finally:
        if runner is not None and runner.poll() is None:
            runner.kill()
            runner.wait()
        broker.stop()
    shutil.rmtree(workdir / "state", ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"times to produce the sample (default {ROUNDS})")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds to wait for exact counts (default {TIMEOUT:.0f})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        run(max(1, args.rounds), args.timeout)
    except (DemoError, StreamprocError, OSError) as exc:
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        return 130
    print(f"demo OK in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
