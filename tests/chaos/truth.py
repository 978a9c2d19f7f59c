"""The chaos suite's independent reader: the truth from the input topic, the verdict from the output
topic and the changelog, read with plain consumers and none of the framework's reading code."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.kafka import read_all

#: The framework's reserved storage key for dedupe marks (runtime/dedupe.py); not a word.
_MARKS_PREFIX = b"\xff\xff"


def expected_counts(bootstrap: str, source: str, client: Mapping[str, Any] | None = None) -> tuple[Counter[str], int]:
    """(count per word, number of input messages) of everything in the input topic."""
    expected: Counter[str] = Counter()
    records = read_all(bootstrap, source, timeout=120, client=client)
    for record in records:
        expected.update(record.value().decode().lower().split())
    return expected, len(records)


@dataclass
class OutputVerdict:
    """What the output topic says about every word occurrence."""

    outputs: int = 0
    #: Output records beyond the first of each (word, count): at-least-once repetitions.
    duplicates: int = 0
    #: Word occurrences without an output: counts in 1..expected that no output record carries.
    lost: int = 0
    #: Words whose highest output count is not the expected count.
    wrong: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Outputs whose count is above the word's expected count (an input counted twice).
    overcounted: int = 0


def verify_outputs(bootstrap: str, sink: str, expected: Mapping[str, int],
                   client: Mapping[str, Any] | None = None) -> OutputVerdict:
    """Each occurrence of a word must have an output, and the latest count per word (= the highest, as
    counts only grow) must equal its number of occurrences in the input."""
    seen: dict[str, set[int]] = {}
    verdict = OutputVerdict()
    for record in read_all(bootstrap, sink, timeout=300, client=client):
        value = json.loads(record.value())
        word, count = value["word"], value["count"]
        if record.key().decode() != word:
            raise AssertionError(f"output key {record.key()!r} does not match its word {word!r}")
        counts = seen.setdefault(word, set())
        if count in counts:
            verdict.duplicates += 1
        counts.add(count)
        verdict.outputs += 1
    for word, n in expected.items():
        counts = seen.get(word, set())
        verdict.lost += n - len(counts & set(range(1, n + 1)))
        verdict.overcounted += len([c for c in counts if c > n])
        latest = max(counts, default=0)
        if latest != n:
            verdict.wrong[word] = (latest, n)
    for word in seen.keys() - expected.keys():
        verdict.wrong[word] = (max(seen[word]), 0)
    return verdict


def verify_store(bootstrap: str, changelog: str, expected: Mapping[str, int],
                 client: Mapping[str, Any] | None = None) -> dict[str, tuple[int | None, int]]:
    """Words whose stored count, as the changelog's latest record per key holds it, is not the expected
    count: ``{word: (stored, expected)}``. Read after a graceful stop, the changelog ends with the
    committed state, which is what any later restore rebuilds."""
    stored: dict[str, int | None] = {}
    for record in read_all(bootstrap, changelog, timeout=120, client=client):
        raw = record.key()
        if raw.startswith(_MARKS_PREFIX):
            continue
        size = int.from_bytes(raw[:2], "big")
        word = json.loads(raw[2 : 2 + size])
        stored[word] = None if record.value() is None else json.loads(record.value())
    wrong: dict[str, tuple[int | None, int]] = {}
    for word in expected.keys() | stored.keys():
        if stored.get(word) != expected.get(word):
            wrong[word] = (stored.get(word), expected.get(word, 0))
    return wrong
