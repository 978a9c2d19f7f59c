"""A bound on a worker's graceful stop: the final checkpoint and leaving the group.

A stop that cannot finish (the broker unreachable while the final checkpoint flushes, a consumer
that cannot leave) must not hold a deployment's rollout hostage. When the bound passes, the worker
says so and exits at once without committing anything more: the work since its last checkpoint is
redone after the restart, exactly as after a crash.
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)


class StopTimer:
    """Armed when a stop is requested (safe from a signal handler); ``stopped()`` reports how it went."""

    def __init__(self, timeout: float, exit_code: int) -> None:
        self.timeout = timeout
        self._exit_code = exit_code
        self._started: float | None = None
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._started is not None:
            return
        self._started = time.monotonic()
        self._timer = threading.Timer(self.timeout, self._give_up)
        self._timer.daemon = True
        self._timer.start()

    def stopped(self, left_group: bool = True) -> None:
        """The worker returned from its stop; ``left_group``: its final checkpoint ran and it left the group
        (closing the consumer did not fail), which is all the message may claim."""
        if self._timer is None or self._started is None:
            return
        self._timer.cancel()
        if left_group:
            log.info("stopped gracefully in %.1f s (final checkpoint committed, left the group; shutdown timeout "
                     "%.0f s)", time.monotonic() - self._started, self.timeout)
        else:
            log.warning("stopped in %.1f s, but not cleanly: closing the consumer failed (see above), so the final "
                        "checkpoint may not have committed and the group only notices after session.timeout.ms",
                        time.monotonic() - self._started)

    def _give_up(self) -> None:
        log.error("the final checkpoint and leaving the group did not finish within the %.0f s shutdown timeout "
                  "(--shutdown-timeout); gave up: nothing more is committed, and the work since the last checkpoint "
                  "is redone after a restart", self.timeout)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(self._exit_code)
