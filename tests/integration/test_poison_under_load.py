"""1% undecodable messages in a stream of 20,000 under --on-error dlq: exactly those land in the DLQ,
each once, byte for byte with headers naming its origin; every other message is counted exactly."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.support.kafka import produce, read_all
from tests.support.wordcount import VOCABULARY, MakeRun

pytestmark = pytest.mark.integration


def test_one_percent_poison_lands_in_the_dlq_and_the_rest_is_exact(wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=4)
    rng = random.Random(61)
    values: list[bytes] = []
    for i in range(20_000):
        if i % 100 == 99:
            values.append(b"\xff\xfe poison " + str(i).encode())
        else:
            sentence = " ".join(rng.choices(VOCABULARY, k=rng.randint(1, 12)))
            wc.expected.update(sentence.lower().split())
            values.append(sentence.encode())
    produce(broker, wc.source, values)

    running = wc.start("--workers", "2", "--on-error", "dlq")
    try:
        wc.wait_exact(running, timeout=180)
    finally:
        assert running.stop() == 0

    poison = {}
    for record in read_all(broker, wc.source):
        try:
            record.value().decode("utf-8")
        except UnicodeDecodeError:
            poison[(record.partition(), record.offset())] = (record.key(), record.value())
    assert len(poison) == 200

    dead = read_all(broker, f"{wc.name}-dlq")
    origins = Counter()
    for record in dead:
        headers = dict(record.headers())
        assert headers["streamproc.source.topic"] == wc.source.encode()
        assert headers["streamproc.component"] == b"sentences"
        assert b"utf-8" in headers["streamproc.error"].lower()
        origin = (int(headers["streamproc.source.partition"]), int(headers["streamproc.source.offset"]))
        origins[origin] += 1
        assert (record.key(), record.value()) == poison.get(origin), f"dead letter {origin} is not that message"
    assert set(origins) == set(poison), "exactly the undecodable messages are dead-lettered"
    assert max(origins.values()) == 1, "each once"
