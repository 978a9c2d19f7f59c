"""A worker reading an internal topic under at-least-once checks its offsets are contiguous.

The embedded broker sometimes answers a fetch with a later batch while an earlier one is still
being appended (streamproc.kafka.continuity), which cannot be staged on demand. Real gaps can:
transaction markers take offsets. Records written to the repartition topic in transactions show
that the check is on for a real worker (each gap is read again, then believed, and said so), and
that going on after a real gap loses nothing.
"""

from __future__ import annotations

import orjson
import pytest
from confluent_kafka import Producer

from streamproc.runtime.dedupe import ORIGIN_HEADER
from tests.support.kafka import create_topic, unique
from tests.support.wordcount import MakeRun

pytestmark = [pytest.mark.integration,
              pytest.mark.broker("tansu", reason="the re-read of fetch gaps is a workaround for the embedded "
                                 "broker; on Apache Kafka it is off (streamproc.kafka.quirks)")]


def test_transaction_markers_in_a_repartition_topic_are_read_twice_and_nothing_is_lost(
        wordcount: MakeRun, broker: str) -> None:
    wc = wordcount(partitions=2)
    wc.feed(300, seed=5)
    repartition = f"{wc.name}-count-repartition"
    create_topic(broker, repartition, 2)  # as the worker would: partitioned like the input

    # Words only these records carry, so that their counts come from partition 0 alone.
    producer = Producer({"bootstrap.servers": broker, "transactional.id": unique("upstream")})
    producer.init_transactions(30)
    offset = 0
    for word in ("gap-a", "gap-b", "gap-c"):
        producer.begin_transaction()
        for _ in range(4):
            origin = f"elsewhere:0:{offset}:0".encode()
            producer.produce(repartition, orjson.dumps({"word": word}), orjson.dumps(word), 0,
                             headers=[(ORIGIN_HEADER, origin)])
            offset += 1
        producer.commit_transaction(30)
    wc.expected.update({"gap-a": 4, "gap-b": 4, "gap-c": 4})

    running = wc.start()
    try:
        wc.wait_exact(running, timeout=90)
    finally:
        assert running.stop() == 0
    log = running.log()
    assert f"{repartition}[0]: offsets 4 to 4 missing from a fetch; reading them again" in log
    assert f"{repartition}[0]: offsets 4 to 4 hold no records (read twice); going on from 5" in log
    assert f"{repartition}[0]: offsets 9 to 9 hold no records (read twice); going on from 10" in log
