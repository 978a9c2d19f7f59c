"""What RuntimeMetrics exposes for time and state expiry, read back through its registry as a scrape would."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamproc.metrics import RuntimeMetrics


def samples(metrics: RuntimeMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_time_gauges_and_expired_keys_appear_with_their_values() -> None:
    metrics = RuntimeMetrics("t")
    metrics.publish_stream_time_lag({"0_1": 12.5})
    metrics.publish_pending_timers({("0_1", "alert"): 3})
    metrics.expired("keep", "kept", 0)
    metrics.expired("keep", "kept", 4)
    found = samples(metrics)
    assert found[("streamproc_stream_time_lag_seconds", frozenset({("topology", "t"), ("task", "0_1")}))] == 12.5
    assert found[("streamproc_pending_timers",
                  frozenset({("topology", "t"), ("task", "0_1"), ("component", "alert")}))] == 3
    assert found[("streamproc_expired_keys_total",
                  frozenset({("topology", "t"), ("component", "keep"), ("store", "kept")}))] == 4


def test_checkpoints_are_counted_by_result_and_reason() -> None:
    metrics = RuntimeMetrics("t")
    metrics.checkpoint(True, 0.1)
    metrics.checkpoint(True, 0.1, "write-cache")
    metrics.checkpoint(True, 0.1, "write-cache")
    metrics.checkpoint(False, 0.0, "rebalance")
    found = samples(metrics)

    def count(result: str, reason: str) -> float:
        labels = frozenset({("topology", "t"), ("result", result), ("reason", reason)})
        return found.get(("streamproc_checkpoints_total", labels), 0.0)

    assert (count("ok", "interval"), count("ok", "write-cache"), count("failed", "rebalance")) == (1, 2, 1)
