"""Worker processes and the supervisor that keeps them running.

Exit codes say what the supervisor should do: 0 a requested stop, EXIT_FATAL a problem that a
restart cannot fix (bad topology or configuration, a failed message under ``--on-error fail``),
EXIT_UNREACHABLE no broker answered (fatal on a worker's first start, where it means a wrong
address; waited out with restarts after that, where it means an outage), EXIT_STOP_TIMEOUT a
graceful stop that gave up at its --shutdown-timeout, anything else (a crash, a failed checkpoint,
SIGKILL) a restart from the last commit.

With a monitor (``--metrics-port``), each worker serves its metrics on a free local port and sends
the port to the supervisor through a pipe; see streamproc.monitoring.fanin.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from types import FrameType
from typing import TYPE_CHECKING, Any

from prometheus_client import disable_created_metrics

from streamproc.errors import (
    BrokerUnreachable,
    CheckpointError,
    ConfigError,
    CorruptStateError,
    FatalError,
    ProducerFencedError,
    ServiceError,
    TopologyError,
)
from streamproc.monitoring.fanin import SupervisorMonitor
from streamproc.monitoring.server import MonitoringServer
from streamproc.proctitle import set_worker_title
from streamproc.redact import describe
from streamproc.runtime.orphans import die_with_parent
from streamproc.runtime.policy import StopProcessing
from streamproc.runtime.settings import WorkerSettings
from streamproc.runtime.shutdown import StopTimer

if TYPE_CHECKING:
    from streamproc.runtime.worker import Worker

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FATAL = 3
EXIT_RETRY = 4
EXIT_UNREACHABLE = 5
EXIT_STOP_TIMEOUT = 6
#: Each asks for a graceful stop. SIGHUP (the terminal went away) used to kill the supervisor silently.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def configure_logging(level: int = logging.INFO, prefix: str = "") -> None:
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_worker(target: str, settings: WorkerSettings, report: Connection | None = None) -> int:
    """Load the topology, run one worker until stopped; return its exit code. With ``report``, serve
    the worker's metrics on a free local port and send the port through it."""
    from streamproc.loader import load_topology
    from streamproc.runtime.worker import Worker

    server = None
    try:
        plan = load_topology(target).build(settings.group_id)
        set_worker_title(plan.name, settings.worker_index)
        worker = Worker(plan, settings)
        if report is not None:
            server = MonitoringServer(worker.metrics.registry, worker.readiness).start()
            report.send(server.port)
            report.close()
    except (TopologyError, ConfigError, FatalError) as exc:
        log.error("%s", exc)
        log.debug("cause", exc_info=exc)
        return EXIT_FATAL
    except SystemExit as exc:  # from the topology module or a bolt's constructor: not a request to stop
        log.error("the topology's code called sys.exit(%s) while the worker started; stopping", exc.code)
        return EXIT_FATAL
    try:
        return _run(worker)
    finally:
        if server is not None:
            server.close()


def _run(worker: Worker) -> int:
    timer = StopTimer(worker.settings.shutdown_timeout, EXIT_STOP_TIMEOUT)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping after a final checkpoint", signal.Signals(signum).name)
        worker.request_stop()
        timer.arm()

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    if _early_stop:
        stop(_early_stop[0], None)
    try:
        worker.run()
        timer.stopped(getattr(worker, "left_group", False))
    except BrokerUnreachable as exc:  # before ConfigError, its base class
        log.error("%s", exc)
        return EXIT_UNREACHABLE
    except (StopProcessing, TopologyError, ConfigError, FatalError) as exc:
        log.error("%s", exc)
        log.debug("cause", exc_info=exc)
        return EXIT_FATAL
    except SystemExit as exc:  # user code outside a record (a flush, a teardown): nothing to blame it on
        log.error("the topology's code called sys.exit(%s) outside a record; stopping without committing more",
                  exc.code)
        return EXIT_FATAL
    except ProducerFencedError as exc:
        log.error("%s", exc)
        return EXIT_RETRY
    except CheckpointError as exc:
        log.error("checkpoint failed, nothing committed; restarting from the last commit: %s", exc)
        return EXIT_RETRY
    except CorruptStateError as exc:
        log.error("%s; discarded it, restarting to rebuild it from the changelog", exc)
        return EXIT_RETRY
    except ServiceError as exc:
        log.error("%s; restarting from the last commit", exc)
        return EXIT_RETRY
    return EXIT_OK


#: A stop signal received before the worker's own handler was installed (``_child`` to ``_run``).
_early_stop: list[int] = []


def _remember_stop(signum: int, frame: FrameType | None) -> None:
    _early_stop.append(signum)


def _child(target: str, settings: WorkerSettings, log_level: int, report: Connection | None,
           armed: Any = None) -> None:
    """A worker process. Its first act is to take over the stop signals (a SIGTERM while it loads the topology
    is remembered, and honoured once the worker runs), then it tells the supervisor through ``armed`` (an
    Event): a SIGTERM before that killed it in the interpreter's start-up, before it did anything."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _remember_stop)
    if armed is not None:
        armed.set()
    die_with_parent(signal.SIGTERM, settings.parent_pid)  # a graceful stop when the supervisor dies, even by -9
    configure_logging(log_level, prefix=f"[worker-{settings.worker_index}] ")
    # A `_created` series per counter and histogram doubles what Prometheus stores, and rate() ignores it.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    sys.exit(run_worker(target, settings, report))


#: A worker that ran this long before it died starts its restart backoff afresh.
STABLE_RUN_SECONDS = 60.0


def next_delay(previous: float | None, ran_for: float) -> float:
    """Seconds before restarting a worker: 0.5 s, doubling per quick death up to 30 s; reset by a long run."""
    if previous is None or ran_for >= STABLE_RUN_SECONDS:
        return 0.5
    return min(previous * 2, 30.0)


class Supervisor:
    """Runs N workers; restarts any that die; SIGTERM/SIGINT stop them all gracefully.

    ``run`` returns EXIT_STOP_TIMEOUT when a worker did not stop gracefully (it gave up at its shutdown
    timeout, or was killed ``stop_grace`` seconds after it)."""

    def __init__(self, target: str, settings: WorkerSettings, workers: int, log_level: int = logging.INFO,
                 stop_grace: float = 15.0, monitor: SupervisorMonitor | None = None) -> None:
        self.target = target
        self.monitor = monitor
        #: Per worker, the pipe its metrics port arrives on (until it does).
        self._reports: dict[int, Connection] = {}
        self.settings = replace(settings, parent_pid=os.getpid())
        self.count = workers
        self.log_level = log_level
        #: The workers bound their own stop (settings.shutdown_timeout); this much later they are killed.
        self.stop_timeout = settings.shutdown_timeout + stop_grace
        self._context = multiprocessing.get_context("spawn")
        self._children: dict[int, multiprocessing.process.BaseProcess] = {}
        #: Workers started more than once: for them an unreachable broker is an outage, not a wrong address.
        self._restarted: set[int] = set()
        self._started_at: dict[int, float] = {}
        #: Per worker, set once its process handles the stop signals itself (``_child``).
        self._armed: dict[int, Any] = {}
        self._stopping = False

    def _spawn(self, index: int, restart: bool = False) -> None:
        report = None
        if self.monitor is not None:
            receive, report = self._context.Pipe(duplex=False)
            self._reports[index] = receive
            self.monitor.worker_started(index, restart)
        armed = self._armed[index] = self._context.Event()
        child = self._context.Process(
            target=_child,
            args=(self.target, replace(self.settings, worker_index=index), self.log_level, report, armed),
            name=f"streamproc-worker-{index}",
        )
        child.start()
        if restart:
            self._restarted.add(index)
        if report is not None:
            report.close()  # the child holds its own copy; EOF on ours then means it died before reporting
        self._children[index] = child
        self._started_at[index] = time.monotonic()
        log.info("started worker %d (pid %d)", index, child.pid)

    def _collect_reports(self) -> None:
        assert self.monitor is not None
        for index, receive in list(self._reports.items()):
            try:
                if not receive.poll():
                    continue
                self.monitor.worker_listening(index, receive.recv())
            except (EOFError, OSError):
                pass  # the worker died before it listened; the restart makes a new pipe
            receive.close()
            del self._reports[index]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("received %s: stopping %d workers gracefully", signal.Signals(signum).name, len(self._children))
        self._stopping = True

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        if self.settings.overrides:
            log.info("Kafka client settings from -X: %s", describe(self.settings.overrides))
        for index in range(self.count):
            self._spawn(index)
        backoff: dict[int, float] = {}
        restart_at: dict[int, float] = {}
        exit_code = EXIT_OK
        while not self._stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for index, due in list(restart_at.items()):
                if now >= due and not self._stopping:
                    del restart_at[index]
                    self._spawn(index, restart=True)
            if self.monitor is not None:
                self._collect_reports()
                self.monitor.workers_alive(sum(child.is_alive() for child in self._children.values()))
            for index, child in list(self._children.items()):
                if child.is_alive() or index in restart_at or self._stopping:
                    continue
                if self.monitor is not None:
                    self.monitor.worker_exited(index)
                code = child.exitcode
                if code == EXIT_FATAL or (code == EXIT_UNREACHABLE and index not in self._restarted):
                    log.error("worker %d stopped on an error a restart cannot fix; stopping all workers", index)
                    exit_code = EXIT_FATAL
                    self._stopping = True
                    break
                if code == EXIT_OK:
                    del self._children[index]
                    continue
                delay = backoff[index] = next_delay(backoff.get(index), now - self._started_at.get(index, now))
                restart_at[index] = now + delay
                if code == EXIT_UNREACHABLE:
                    log.warning("worker %d cannot reach Kafka, which it reached before; retrying in %.1fs", index,
                                delay)
                else:
                    log.warning("worker %d exited with %s; restarting in %.1fs", index, code, delay)
            if not self._children:
                break
        if not self._stop_children() and exit_code == EXIT_OK:
            exit_code = EXIT_STOP_TIMEOUT
        return exit_code

    def _stop_children(self) -> bool:
        """Stop the running workers; True when every one of them stopped gracefully."""
        if self.monitor is not None:
            self.monitor.stopping()
        running = {index: child for index, child in self._children.items() if child.is_alive()}
        for child in running.values():
            if child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        graceful = True
        for index, child in running.items():
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.error("worker %d did not stop within %.0fs; killing it", index, self.stop_timeout)
                child.kill()
                child.join()
            if child.exitcode == -signal.SIGTERM and not self._armed[index].is_set():
                log.info("worker %d was stopped while its process started, before it did anything", index)
                continue
            if child.exitcode != EXIT_OK:
                graceful = False
                log.error("worker %d did not stop gracefully (exit code %s)", index, child.exitcode)
        log.info("all workers stopped")
        return graceful
