"""The broker unreachable for 30 s in the middle of a stream, and back: the workers keep running or
restart on their own, nothing is lost and the counts stay exact.

Every client reaches the broker through a TCP proxy that the test cuts (open connections closed, new
ones swallowed without an answer, as a network partition looks) and restores."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tests.support.kafka import wait_for
from tests.support.proxy import TcpProxy, proxied_broker
from tests.support.wordcount import WordCountRun

pytestmark = pytest.mark.integration

OUTAGE = 30.0


@pytest.fixture(scope="module")
def proxy(broker_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpProxy]:
    with proxied_broker(tmp_path_factory.mktemp("proxied") / "broker.log", broker_kind) as proxy:
        yield proxy


def test_the_proxy_carries_every_connection_and_cuts_them(proxy: TcpProxy, tmp_path: Path) -> None:
    """The broker advertises the proxy, so no client can reach it around the proxy once cut."""
    admin = AdminClient({"bootstrap.servers": proxy.address})
    brokers = admin.list_topics(timeout=10).brokers
    assert [f"{b.host}:{b.port}" for b in brokers.values()] == [proxy.address]
    proxy.cut("refuse")
    try:
        with pytest.raises(KafkaException, match=r"[Tt]ransport|[Tt]imed out"):
            AdminClient({"bootstrap.servers": proxy.address}).list_topics(timeout=2)
    finally:
        proxy.restore()
    assert AdminClient({"bootstrap.servers": proxy.address}).list_topics(timeout=10).brokers


def test_a_30_second_broker_outage_mid_stream_loses_nothing(proxy: TcpProxy, tmp_path: Path) -> None:
    """Input keeps arriving before, during and after the cut (the feeder's own producer waits it out), so
    the workers hold unacknowledged outputs and uncommitted offsets when the connection goes. One worker
    also dies during the cut: its restart cannot reach the broker, and must keep trying rather than give up
    as a first start with a wrong address does."""
    wc = WordCountRun(proxy.address, tmp_path, partitions=4)
    done = threading.Event()

    def feed() -> None:
        seed = 100
        while not done.is_set():
            wc.feed(500, seed, flush_timeout=OUTAGE * 4)
            seed += 1
            time.sleep(0.1)

    feeder = threading.Thread(target=feed, daemon=True)
    try:
        wc.feed(5_000, seed=31)
        running = wc.start("--workers", "2")
        try:
            wait_for(lambda: wc.latest_counts()[1] > 0, 120, "the first outputs")
            feeder.start()
            time.sleep(2)  # processing the stream now
            proxy.cut("blackhole")
            cut_at = time.monotonic()
            time.sleep(2)
            os.kill(int(re.findall(r"started worker 1 \(pid (\d+)\)", running.log())[-1]), signal.SIGKILL)
            while time.monotonic() - cut_at < OUTAGE:  # the supervisor must not give up meanwhile
                assert running.process.poll() is None, running.log()[-3000:]
                time.sleep(0.5)
            proxy.restore()
            assert "worker 1 exited with -9; restarting" in running.log()
            assert "worker 1 cannot reach Kafka, which it reached before; retrying" in running.log()
            time.sleep(2)
            done.set()
            feeder.join(OUTAGE * 4)
            assert not feeder.is_alive()
            outputs = wc.wait_exact(running, timeout=180)
            assert outputs >= sum(wc.expected.values())
        finally:
            done.set()
            proxy.restore()
            code = running.stop()
        assert code == 0, running.log()[-3000:]
    finally:
        wc.close()


def test_a_stop_that_cannot_finish_gives_up_at_the_shutdown_timeout(proxy: TcpProxy, tmp_path: Path) -> None:
    """SIGTERM while the broker is cut off: the final checkpoint cannot flush, so the worker gives up at
    --shutdown-timeout, says so and exits non-zero; nothing was committed, and the next run redoes the work."""
    wc = WordCountRun(proxy.address, tmp_path, partitions=2)
    try:
        wc.feed(2000, seed=33)
        running = wc.start("--commit-interval", "600", "--shutdown-timeout", "3")
        try:
            wc.wait_exact(running)
            proxy.cut("blackhole")
            code = running.stop(timeout=30)
        finally:
            proxy.restore()
        log = running.log()
        assert code == 6, log[-3000:]  # EXIT_STOP_TIMEOUT
        assert "did not finish within the 3 s shutdown timeout (--shutdown-timeout); gave up" in log
        assert "worker 0 did not stop gracefully (exit code 6)" in log
        assert "stopped gracefully" not in log

        wc.feed(500, seed=34)
        second = wc.start()
        try:
            outputs = wc.wait_exact(second)
        finally:
            assert second.stop() == 0
        assert outputs > sum(wc.expected.values()), "the first run's uncommitted outputs are produced again"
    finally:
        wc.close()
