"""Counts in messages: ``counted(1, "partition")`` is "1 partition", never "1 partitions"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None, *, thousands: bool = False) -> str:
    """``count`` and ``noun``, the noun in the plural (``noun + "s"`` unless given) for any count but 1.

    ``thousands`` groups the digits (``12,345``), as operator-facing counts of records are shown.
    """
    number = f"{count:,}" if thousands else str(count)
    return f"{number} {noun if count == 1 else (plural or noun + 's')}"
