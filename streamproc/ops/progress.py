"""Progress bars for long operations (records done, rate, time left), drawn on stderr with rich.

On a terminal the bar redraws in place; otherwise (a log, a pipe, CI) only a summary line per
operation is printed, so logs stay readable and stdout stays machine-readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from streamproc.wording import counted

_console = Console(stderr=True)


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} {self._unit}/s")


@contextmanager
def progress(description: str, total: int | None, unit: str = "records") -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; ``total`` None draws an open-ended counter."""
    started = time.monotonic()
    done = 0
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(unit),
                   TimeRemainingColumn(), console=_console, disable=not _console.is_terminal, transient=False)
    with bar:
        task = bar.add_task(description, total=total)

        def advance(n: int) -> None:
            nonlocal done
            done += n
            bar.update(task, advance=n)

        yield advance
        if total is not None:
            bar.update(task, completed=max(done, total))
    if not _console.is_terminal:
        seconds = time.monotonic() - started
        _console.print(summary(description, done, unit, seconds), highlight=False)


def summary(description: str, done: int, unit: str, seconds: float) -> str:
    """The line an operation leaves where no bar is drawn: ``moving offsets: 1 partition in 0.0s, ...``."""
    noun = counted(done, unit[:-1], unit, thousands=True) if unit.endswith("s") else f"{done:,} {unit}"
    rate = f", {done / seconds:,.0f} {unit}/s" if seconds > 0 and done else ""
    return f"{description}: {noun} in {seconds:.1f}s{rate}"


def say(message: str) -> None:
    """A status line on stderr (stdout is for results)."""
    _console.print(message, highlight=False, soft_wrap=True)  # one line, whatever the width: logs get grepped
