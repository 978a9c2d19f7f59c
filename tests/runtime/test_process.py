"""The supervisor's restart backoff."""

from __future__ import annotations

from streamproc.runtime.process import STABLE_RUN_SECONDS, next_delay


def test_backoff_doubles_for_quick_deaths_and_is_capped() -> None:
    delays = []
    previous = None
    for _ in range(9):
        previous = next_delay(previous, ran_for=1.0)
        delays.append(previous)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_long_run_resets_the_backoff() -> None:
    assert next_delay(30.0, ran_for=STABLE_RUN_SECONDS) == 0.5
    assert next_delay(30.0, ran_for=STABLE_RUN_SECONDS - 1) == 30.0
