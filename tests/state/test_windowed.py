"""The windowed backend's key layout: (key, window start), in key then start order, framework entries apart."""

from __future__ import annotations

from pathlib import Path

from streamproc.names import Names
from streamproc.state.backend import open_backend
from streamproc.state.position import Position
from streamproc.state.reader import StoreReader
from streamproc.state.store import Store, key_prefix, reserved_key
from streamproc.state.windowed import WindowedBackend, split_window_key, window_key


def test_a_window_key_is_the_key_prefix_then_the_start_and_splits_back() -> None:
    prefix = key_prefix(b'"user"')
    assert window_key(prefix, 60_000) == prefix + (60_000).to_bytes(8, "big")
    assert split_window_key(window_key(prefix, 60_000)) == (prefix, 60_000)


def test_windows_are_scanned_per_key_in_start_order_without_framework_entries(tmp_path: Path) -> None:
    backend = open_backend(Store("w", backend="windowed"), tmp_path, Names("top"), 0)
    try:
        assert isinstance(backend, WindowedBackend) and backend.durable
        a, b = key_prefix(b'"a"'), key_prefix(b'"b"')
        entries = [(window_key(b, 0), b"1"), (window_key(a, 70_000), b"2"), (window_key(a, 256), b"3"),
                   (reserved_key("streamproc.stream-time"), b"9")]
        backend.write(entries, Position(1, {}))
        assert list(backend.windows()) == [(window_key(a, 256), b"3"), (window_key(a, 70_000), b"2"),
                                           (window_key(b, 0), b"1")]
        assert backend.entry_count() == 3
    finally:
        backend.close()


def test_the_state_commands_reader_shows_window_starts_as_sub_keys(tmp_path: Path) -> None:
    spec = Store("w", backend="windowed")
    backend = open_backend(spec, tmp_path, Names("top"), 0)
    prefix = key_prefix(b'"a"')
    backend.write([(window_key(prefix, 60_000), b"3"), (window_key(prefix, 0), b"[1,2]")], Position(1, {}))
    reader = StoreReader(Names("top"), spec, backend, 0)
    try:
        assert list(reader.entries()) == [("a", 0, [1, 2]), ("a", 60_000, 3)]
        assert list(reader.items("a")) == [(0, [1, 2]), (60_000, 3)]
        assert reader.get("a", 60_000) == 3 and reader.get("a") is None
    finally:
        reader.close()
