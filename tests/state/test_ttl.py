"""State TTL (streamproc.state.ttl): expiry on the event and the wall clock, through checkpoints, crashes and
restores, checked case by case and against a brute-force model over generated operations (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, Tuple
from streamproc.errors import StateError, TopologyError
from streamproc.names import Names
from streamproc.serde.base import SerdeContext
from streamproc.state import ttl as ttl_module
from streamproc.state.keyed import KeyedState
from streamproc.state.partition import StorePartition
from streamproc.state.reader import StoreReader
from streamproc.state.store import is_reserved, key_prefix
from streamproc.state.ttl import TtlStorePartition, split_value
from streamproc.testing import TopologyTestDriver

WALL = 1_700_000_000_000
TTL = 10.0
TTL_MS = 10_000
JSON = JsonSerde()


def keeper(clock: str = "event", backend: str = "rocksdb", ttl: float | None = TTL) -> Topology:
    """Each record is an operation on its key: set the key's own value, set a sub-key, delete, or read
    (which emits the key's own value and its sub-keys, tagged with the record's id)."""

    class Keeper(Bolt):
        stores = [Store("kept", ttl=ttl, clock=clock, backend=backend)]

        def process(self, tup: Tuple) -> None:
            op = tup.value
            state = self.state("kept")
            if op["op"] == "set":
                state.set(op["v"])
            elif op["op"] == "sub":
                state[op["sub"]] = op["v"]
            elif op["op"] == "del":
                state.delete()
            else:
                self.emit({"id": op["id"], "own": state.get(), "subs": dict(state.items())}, key=tup.key)

    t = Topology("ttl")
    t.spout("in", KafkaSpout("ops", key_serde=StrSerde(), value_serde=JsonSerde()))
    t.bolt("keep", Keeper).shuffle("in")
    t.bolt("out", KafkaSink("reads", key_serde=StrSerde(), value_serde=JsonSerde())).shuffle("keep")
    return t


def read(driver: TopologyTestDriver, key: str, ts: int) -> tuple[Any, dict[str, Any]]:
    driver.send("ops", {"op": "get", "id": 0}, key=key, timestamp=ts)
    out = driver.output("reads")[-1].value
    return out["own"], out["subs"]


def storage_key(key: str, sub: str | None = None) -> bytes:
    prefix = key_prefix(JSON.serialize(key, SerdeContext("c", True)) or b"")
    return prefix if sub is None else prefix + (JSON.serialize(sub, SerdeContext("c", True)) or b"")


def partition(driver: TopologyTestDriver) -> StorePartition:
    return next(iter(driver.tasks.values())).stores["kept"]


def last_changelog(driver: TopologyTestDriver) -> dict[bytes, bytes | None]:
    """The latest changelog record of every storage key (what a compacted changelog would keep)."""
    return {m.key(): m.value() for m in driver.records(driver.plan.names.changelog("kept"))}


def expired_total(driver: TopologyTestDriver) -> float:
    return driver.metrics.registry.get_sample_value(
        "streamproc_expired_keys_total", {"topology": "ttl", "component": "keep", "store": "kept"}) or 0.0


# --- case by case ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["rocksdb", "memory"])
def test_on_the_event_clock_a_key_is_gone_at_once_then_tombstoned_at_the_checkpoint(backend: str) -> None:
    with TopologyTestDriver(keeper("event", backend), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.checkpoint()
        assert split_value(last_changelog(driver)[storage_key("a")] or b"") == (1_000, b"1")
        assert read(driver, "a", 10_999) == (1, {})  # 9.999 s after the write
        assert read(driver, "a", 11_000) == (None, {})  # 10 s: expired, before any checkpoint
        assert partition(driver).backend.get(storage_key("a")) is not None
        driver.checkpoint()
        assert partition(driver).backend.get(storage_key("a")) is None
        assert last_changelog(driver)[storage_key("a")] is None
        assert expired_total(driver) == 1


def test_a_key_refreshed_within_the_ttl_is_never_deleted_even_in_the_interval_it_would_have_expired() -> None:
    with TopologyTestDriver(keeper("event"), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.checkpoint()
        driver.send("ops", {"op": "set", "v": 2}, key="a", timestamp=10_999)  # refreshed 1 ms before expiry
        driver.send("ops", {"op": "set", "v": 0}, key="other", timestamp=15_000)  # the committed write is 14 s old
        driver.checkpoint()
        assert read(driver, "a", 20_998) == (2, {})
        assert split_value(partition(driver).backend.get(storage_key("a")) or b"") == (10_999, b"2")
        assert expired_total(driver) == 0


def test_a_key_written_and_expired_within_one_interval_leaves_only_a_tombstone() -> None:
    with TopologyTestDriver(keeper("event"), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.send("ops", {"op": "set", "v": 0}, key="b", timestamp=30_000)
        driver.checkpoint()
        assert last_changelog(driver)[storage_key("a")] is None
        assert partition(driver).backend.get(storage_key("a")) is None
        assert read(driver, "b", 30_000) == (0, {})


@pytest.mark.parametrize("lose_state", [False, True])
def test_a_restore_never_resurrects_an_expired_key(lose_state: bool) -> None:
    """The committed value carries its write time, so even a restore from the changelog alone, where the key's
    last record is its value (it expired after the checkpoint), knows it has expired."""
    with TopologyTestDriver(keeper("wall"), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.send("ops", {"op": "sub", "sub": "x", "v": 5}, key="a", timestamp=1_000)
        driver.checkpoint()
        driver.advance_time(TTL)
        driver.crash(lose_state=lose_state)
        assert last_changelog(driver)[storage_key("a")] is not None  # no checkpoint since it expired
        assert read(driver, "a", 2_000) == (None, {})
        driver.checkpoint()
        assert last_changelog(driver)[storage_key("a")] is None
        assert last_changelog(driver)[storage_key("a", "x")] is None


def test_on_the_wall_clock_time_passes_without_records() -> None:
    with TopologyTestDriver(keeper("wall"), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.advance_time(9.999)
        assert read(driver, "a", 999_999) == (1, {})  # event time does not count on the wall clock
        driver.advance_time(0.001)
        assert read(driver, "a", 1_000) == (None, {})


def test_ttl_is_per_entry_a_sub_key_expires_on_its_own_last_write() -> None:
    with TopologyTestDriver(keeper("event"), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.send("ops", {"op": "sub", "sub": "x", "v": 2}, key="a", timestamp=2_000)
        driver.send("ops", {"op": "sub", "sub": "y", "v": 3}, key="a", timestamp=5_000)
        driver.checkpoint()
        assert read(driver, "a", 11_000) == (None, {"x": 2, "y": 3})
        assert read(driver, "a", 12_000) == (None, {"y": 3})
        driver.send("ops", {"op": "sub", "sub": "y", "v": 4}, key="a", timestamp=14_000)  # refreshes y only
        assert read(driver, "a", 23_999) == (None, {"y": 4})


def test_the_sweep_reads_a_bounded_number_of_entries_per_checkpoint_and_wraps_around(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ttl_module, "SWEEP", 4)
    with TopologyTestDriver(keeper("event"), wall_time=WALL) as driver:
        for i in range(10):
            driver.send("ops", {"op": "set", "v": i}, key=f"k{i}", timestamp=1_000)
        driver.checkpoint()
        driver.send("ops", {"op": "set", "v": 0}, key="late", timestamp=20_000)  # every k<i> expired
        stored = partition(driver).backend
        left = []
        for _ in range(4):
            driver.checkpoint()
            left.append(sum(stored.get(storage_key(f"k{i}")) is not None for i in range(10)))
        assert left[0] == 6 and left[-1] == 0  # 4 read per checkpoint, none deleted twice
        assert stored.get(storage_key("late")) is not None
        assert expired_total(driver) == 10


def test_a_quiet_task_is_due_a_checkpoint_once_a_committed_entry_may_have_expired() -> None:
    with TopologyTestDriver(keeper("wall"), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.checkpoint()
        driver.advance_time(5)
        driver.send("ops", {"op": "set", "v": 1}, key="b", timestamp=1_000)
        driver.checkpoint()
        task = next(iter(driver.tasks.values()))
        driver.advance_time(4.999)
        assert not task.dirty
        driver.advance_time(0.001)  # a expires: no input, but its tombstone is due
        assert task.dirty
        driver.checkpoint()
        assert partition(driver).backend.get(storage_key("a")) is None
        assert not task.dirty  # b expires at +15 s
        driver.advance_time(5)
        assert task.dirty
        driver.checkpoint()
        assert not task.dirty and expired_total(driver) == 2


@pytest.mark.parametrize(("before", "after"), [(None, TTL), (TTL, None)])
def test_changing_ttl_on_a_store_that_holds_data_is_refused_at_start(tmp_path: Any, before: float | None,
                                                                     after: float | None) -> None:
    """A TTL store's values carry their write time: read by the other kind of store they would be garbage."""
    with TopologyTestDriver(keeper(ttl=before), wall_time=WALL, state_dir=tmp_path) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        driver.checkpoint()
        broker = driver.broker
    with pytest.raises(StateError, match=r"holds values written (with|without) ttl.*--reset-state"):
        TopologyTestDriver(keeper(ttl=after), wall_time=WALL, state_dir=tmp_path, broker=broker)


def test_ttl_may_be_added_to_a_store_without_data_or_removed_once_all_expired(tmp_path: Any) -> None:
    with TopologyTestDriver(keeper(ttl=None), wall_time=WALL, state_dir=tmp_path) as driver:
        driver.send("ops", {"op": "get", "id": 0}, key="a", timestamp=1_000)
        driver.checkpoint()
        broker = driver.broker
    with TopologyTestDriver(keeper(), wall_time=WALL, state_dir=tmp_path, broker=broker) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=2_000)
        driver.send("ops", {"op": "set", "v": 1}, key="b", timestamp=20_000)
        driver.checkpoint()
        driver.send("ops", {"op": "get", "id": 0}, key="a", timestamp=40_000)
        driver.checkpoint()  # a and b expired and swept: the store holds no values
    with TopologyTestDriver(keeper(ttl=None), wall_time=WALL, state_dir=tmp_path, broker=broker) as driver:
        driver.send("ops", {"op": "set", "v": 5}, key="a", timestamp=50_000)
        driver.checkpoint()
        assert partition(driver).backend.get(storage_key("a")) == b"5"
        assert partition(driver).backend.get(ttl_module.TTL_MARK) is None  # so a later ttl= is refused again


def floor_holds(driver: TopologyTestDriver) -> None:
    """No committed entry expires before the partition's floor, or a quiet task would not checkpoint to delete it."""
    part = partition(driver)
    assert isinstance(part, TtlStorePartition)
    for key, raw in part.backend.iter_range(b""):
        if not is_reserved(key):
            assert split_value(raw)[0] + TTL_MS >= part._floor, key


def test_a_store_without_ttl_keeps_the_plain_classes_and_format() -> None:
    with TopologyTestDriver(keeper(ttl=None), wall_time=WALL) as driver:
        driver.send("ops", {"op": "set", "v": 1}, key="a", timestamp=1_000)
        part = partition(driver)
        assert type(part) is StorePartition
        task = next(iter(driver.tasks.values()))
        assert type(task.bolts["keep"]._states["kept"]) is KeyedState
        driver.checkpoint()
        assert part.backend.get(storage_key("a")) == b"1"
    with TopologyTestDriver(keeper(), wall_time=WALL) as driver:
        assert type(partition(driver)) is TtlStorePartition


def test_the_state_reader_shows_values_without_their_write_time(tmp_path: Any) -> None:
    with TopologyTestDriver(keeper("event"), wall_time=WALL, state_dir=tmp_path) as driver:
        driver.send("ops", {"op": "set", "v": {"n": 1}}, key="a", timestamp=1_000)
        driver.send("ops", {"op": "sub", "sub": "x", "v": 2}, key="a", timestamp=1_000)
        driver.checkpoint()
        spec = driver.plan.stores["kept"][1]
    with StoreReader.local(Names("ttl"), spec, tmp_path, 0) as reader:
        assert reader.get("a") == {"n": 1}
        assert list(reader.items("a")) == [("x", 2)]
        assert sorted(reader.entries(), key=str) == [("a", "x", 2), ("a", None, {"n": 1})]


@pytest.mark.parametrize("bad", [{"ttl": 0}, {"ttl": -1}, {"ttl": "60"}, {"ttl": True}, {"clock": "cpu"}])
def test_a_bad_ttl_or_clock_is_a_topology_error(bad: dict[str, Any]) -> None:
    with pytest.raises(TopologyError, match=r"ttl|clock"):
        Store("s", **bad)


# --- against a brute-force model ------------------------------------------------------------------
KEYS = ["a", "b", "c"]
SUBS = ["x", "y"]

#: Times on a 1 s grid, so that reads exactly at a write's expiry (written + ttl) come up often.
times = st.integers(1, 40).map(lambda s: s * 1000)
op_strategy = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.integers(0, 9), times),
    st.tuples(st.just("sub"), st.sampled_from(KEYS), st.sampled_from(SUBS), st.integers(0, 9),
              times),
    st.tuples(st.just("del"), st.sampled_from(KEYS), times),
    st.tuples(st.just("get"), st.sampled_from(KEYS), times),
    st.tuples(st.just("edge"), st.sampled_from(KEYS)),  # a read exactly when the key's own value expires
    st.tuples(st.just("checkpoint")),
    st.tuples(st.just("crash"), st.booleans()),
    st.tuples(st.just("advance"), st.integers(0, 12).map(lambda s: s * 1000)),
)


@dataclass
class Model:
    """What the store must show: every entry's value and write time, a committed copy, and the records since
    the last checkpoint, which a crash replays (the driver re-reads them from the committed offsets)."""

    clock: str
    entries: dict[tuple[str, str | None], tuple[int, int]] = field(default_factory=dict)
    committed: dict[tuple[str, str | None], tuple[int, int]] = field(default_factory=dict)
    stream_time: int = -1
    committed_time: int = -1
    wall: int = WALL
    pending: list[tuple[Any, ...]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> int:
        return self.stream_time if self.clock == "event" else self.wall

    def live(self, entry: tuple[str, str | None]) -> bool:
        return entry in self.entries and self.entries[entry][1] + TTL_MS > self.now()

    def record(self, op: tuple[Any, ...], i: int) -> None:
        self.stream_time = max(self.stream_time, op[-1])
        kind, key = op[0], op[1]
        if kind == "set":
            self.entries[(key, None)] = (op[2], self.now())
        elif kind == "sub":
            self.entries[(key, op[2])] = (op[3], self.now())
        elif kind == "del":
            self.entries.pop((key, None), None)
        else:
            subs = {s: self.entries[(key, s)][0] for s in SUBS if self.live((key, s))}
            own = self.entries[(key, None)][0] if self.live((key, None)) else None
            self.reads.append({"id": i, "own": own, "subs": subs})

    def checkpoint(self) -> None:
        self.committed, self.committed_time, self.pending = dict(self.entries), self.stream_time, []

    def crash(self) -> None:
        self.entries, self.stream_time = dict(self.committed), self.committed_time
        for i, op in self.pending:
            self.record(op, i)


def send(driver: TopologyTestDriver, op: tuple[Any, ...], i: int) -> None:
    kind, key, ts = op[0], op[1], op[-1]
    value: dict[str, Any] = {"op": kind, "id": i}
    if kind == "set":
        value["v"] = op[2]
    elif kind == "sub":
        value.update(sub=op[2], v=op[3])
    driver.send("ops", value, key=key, timestamp=ts)


@pytest.mark.parametrize(("clock", "backend"), [("event", "rocksdb"), ("wall", "rocksdb"), ("event", "memory")])
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op_strategy, max_size=30))
def test_ttl_matches_a_brute_force_model(clock: str, backend: str, ops: list[tuple[Any, ...]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariants: every read equals the model's (so a key refreshed within the ttl is never deleted, and none is
    resurrected by a crash or a restore from the changelog alone); after the sweep has gone round, an expired
    entry is in neither the store nor, as a last record, the changelog, and a live one is in both."""
    monkeypatch.setattr(ttl_module, "SWEEP", 3)  # several checkpoints per round of the sweep
    model = Model(clock)
    with TopologyTestDriver(keeper(clock, backend), wall_time=WALL) as driver:
        for i, op in enumerate(ops):
            if op[0] == "checkpoint":
                driver.checkpoint()
                model.checkpoint()
                floor_holds(driver)
            elif op[0] == "crash":
                driver.crash(lose_state=op[1])
                model.crash()
            elif op[0] == "advance":
                driver.advance_time(op[1] / 1000)
                model.wall += op[1]
            else:
                if op[0] == "edge":  # becomes a get at the expiry time of the key's own value, if it has one
                    expires = model.entries[(op[1], None)][1] + TTL_MS if (op[1], None) in model.entries else 0
                    if clock == "wall" and expires > model.wall:
                        driver.advance_time((expires - model.wall) / 1000)
                        model.wall = expires
                    op = ("get", op[1], max(expires, 1000) if clock == "event" else 1000)
                send(driver, op, i)
                model.record(op, i)
                model.pending.append((i, op))
        assert [r.value for r in driver.output("reads")] == model.reads
        for _ in range(6):  # 3 keys with 2 sub-keys, the stream time and the TTL mark: 11 entries, 3 a checkpoint
            driver.checkpoint()
            floor_holds(driver)
        model.checkpoint()
        stored, changelog = partition(driver).backend, last_changelog(driver)
        for key in KEYS:
            for sub in [None, *SUBS]:
                at = storage_key(key, sub)
                if model.live((key, sub)):
                    value, written = model.entries[(key, sub)]
                    expected = (written, str(value).encode())
                    assert split_value(stored.get(at) or b"") == expected, (key, sub)
                    assert split_value(changelog[at] or b"") == expected, (key, sub)
                else:
                    assert stored.get(at) is None, (key, sub)
                    assert changelog.get(at) is None, (key, sub)
