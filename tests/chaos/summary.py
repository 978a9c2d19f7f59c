"""The chaos scenario's settings and its summary: what was done to the members, and what the verdict found."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tests.chaos import windowed

MOMENTS = ("processing", "restore", "rebalance", "random")


@dataclass(frozen=True)
class ChaosConfig:
    messages: int = 200_000
    kills: int = 5
    workers: int = 3
    partitions: int = 6
    #: Passed to `streamproc run --guarantee` unless at-least-once (the default, which needs no flag).
    guarantee: str = "at-least-once"
    #: Seconds the proxy is cut once (or a broker of a cluster is down), halfway through the kills (0: never).
    outage: float = 10.0
    delete_state: bool = True
    seed: int = 1
    commit_interval: float = 1.0
    #: Seconds before a kill at a random moment, drawn uniformly.
    kill_gap: tuple[float, float] = (2.0, 8.0)
    #: Seconds per kill the feed is spread over: a kill and the rebalances after it take about this long.
    seconds_per_kill: float = 12.0
    #: How long a targeted moment is awaited before the kill falls back to a random moment.
    moment_timeout: float = 20.0
    vocabulary: int = 500
    words_per_message: tuple[int, int] = (1, 4)
    #: Seconds allowed after the last kill for the counts to become exact.
    settle_timeout: float = 300.0
    #: ``wordcount`` (the word count, checked per occurrence), ``windowed`` (a per-minute count with final
    #: emission) or ``sessions`` (a count per session), both checked against the oracle: tests/chaos/windowed.py.
    workload: str = "wordcount"

    @property
    def feed_seconds(self) -> float:
        return self.kills * self.seconds_per_kill + self.outage


@dataclass
class ChaosSummary:
    config: ChaosConfig
    messages: int = 0
    words: int = 0
    outputs: int = 0
    worker_kills: int = 0
    member_kills: int = 0
    moments: Counter[str] = field(default_factory=Counter)
    state_deletions: int = 0
    outages: int = 0
    outage_seconds: float = 0.0
    #: What the broker failure was and how the cluster went through it (tests/chaos/brokers.py).
    broker_notes: list[str] = field(default_factory=list)
    restores: int = 0
    records_restored: int = 0
    #: Fetches of an internal topic that skipped offsets (read again), and gaps that proved real.
    gaps_reread: int = 0
    gaps_believed: int = 0
    duplicates: int = 0
    lost: int = 0
    overcounted: int = 0
    keys_wrong: dict[str, tuple[int, int]] = field(default_factory=dict)
    store_keys_wrong: dict[str, tuple[int | None, int]] = field(default_factory=dict)
    #: Members that exited without being killed (they must keep running or restart on their own).
    unexpected_exits: list[str] = field(default_factory=list)
    failed_stops: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    #: The windowed workload's verdict (None for the word count).
    windows: windowed.WindowedVerdict | None = None
    windows_expected: int = 0
    late_expected: int = 0

    @property
    def kills(self) -> int:
        return self.worker_kills + self.member_kills

    @property
    def ok(self) -> bool:
        w = self.windows
        windows_wrong = w is not None and bool(w.missing or w.wrong or w.late_missing or w.late_unexpected)
        return not (self.lost or self.overcounted or self.keys_wrong or self.store_keys_wrong
                    or self.unexpected_exits or self.failed_stops or windows_wrong)

    def render(self) -> str:
        c = self.config
        moments = ", ".join(f"{self.moments[m]} {m}" for m in MOMENTS)
        w = self.windows
        lines = [
            f"chaos summary: {c.workload}, {c.guarantee}, {c.workers} members x 1 worker, {c.partitions} input "
            f"partitions, seed {c.seed}",
            f"  messages          {self.messages:,}" + (f" ({self.words:,} words)" if w is None else ""),
            f"  outputs           {self.outputs:,}",
            f"  kills             {self.kills} ({self.worker_kills} worker only, {self.member_kills} whole member; "
            f"moments: {moments})",
            f"  state deletions   {self.state_deletions}",
            f"  broker outages    {self.outages} ({self.outage_seconds:.0f} s {self._outage_kind()})",
            f"  restores          {self.restores} store partitions, {self.records_restored:,} records restored",
            f"  fetch gaps        {self.gaps_reread} read again, {self.gaps_believed} real",
            f"  duplicates seen   {self.duplicates:,}",
        ]
        if w is None:
            lines += [
                f"  lost              {self.lost}",
                f"  keys wrong        {len(self.keys_wrong)} in the output, {len(self.store_keys_wrong)} in the "
                f"store ({self.overcounted} counts above the truth)",
            ]
        else:
            lines += [
                f"  finals            {self.windows_expected:,} windows; {w.missing} missing, {len(w.wrong)} wrong, "
                f"{w.repeats:,} repeated (identical)",
                f"  late records      {self.late_expected:,} expected; {w.late_missing} missing, "
                f"{w.late_unexpected} unexpected",
            ]
        lines += [
            f"  unexpected exits  {len(self.unexpected_exits)}",
            f"  elapsed           {self.elapsed:.1f} s",
            f"  verdict           {'OK' if self.ok else 'FAILED'}",
        ]
        for note in self.broker_notes:
            lines.append(f"  - {note}")
        for problem in self.unexpected_exits + self.failed_stops:
            lines.append(f"  ! {problem}")
        for word, (got, want) in list(self.keys_wrong.items())[:5]:
            lines.append(f"  ! output {word!r}: latest {got}, expected {want}")
        for word, (stored, want) in list(self.store_keys_wrong.items())[:5]:
            lines.append(f"  ! store {word!r}: {stored}, expected {want}")
        for window, (values, expected) in list(w.wrong.items() if w is not None else ())[:5]:
            lines.append(f"  ! window {window}: finals {values}, expected {expected}")
        return "\n".join(lines)

    def _outage_kind(self) -> str:
        return "with a broker killed" if any(n.startswith("broker kill") for n in self.broker_notes) else "cut"
