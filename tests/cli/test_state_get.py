"""`streamproc state get` on a map store: a key used as a map shows its sub-keys and values.

The store is written by the real task and checkpoint code (TopologyTestDriver with a state directory),
so the RocksDB files are what a worker leaves behind; no broker is needed to read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamproc.loader import load_topology
from streamproc.testing import TopologyTestDriver
from tests.support.cli import run_cli

TOPOLOGY = '''
from streamproc import Bolt, JsonSerde, KafkaSpout, Store, StrSerde, Topology, Tuple


class LastOrders(Bolt):
    """Per customer: each order's amount by order id (a map), and a plain count in another store."""

    stores = [Store("orders"), Store("counts")]

    def process(self, tup: Tuple) -> None:
        orders = self.state("orders")
        orders[tup.value["order"]] = tup.value["amount"]
        counts = self.state("counts")
        counts.set(counts.get(0) + 1)


topology = Topology("statemap")
topology.spout("in", KafkaSpout("orders-in", key_serde=StrSerde(), value_serde=JsonSerde()))
topology.bolt("last", LastOrders).shuffle("in")
'''


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The topology file and its state directory after a checkpoint, as `state get` arguments."""
    monkeypatch.delenv("STREAMPROC_BOOTSTRAP_SERVERS", raising=False)
    target = tmp_path / "statemap.py"
    target.write_text(TOPOLOGY)
    state_dir = tmp_path / "state"
    with TopologyTestDriver(load_topology(str(target)), partitions=2, state_dir=state_dir) as driver:
        for order, amount in (("o2", 20.5), ("o1", 10), ("o3", 7)):
            driver.send("orders-in", {"order": order, "amount": amount}, key="c0001")
        driver.send("orders-in", {"order": "o9", "amount": 1}, key="c0002")
        driver.checkpoint()
    return [str(target), "--state-dir", str(state_dir)]


def test_a_map_key_shows_its_sub_keys_and_values(written: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    got = run_cli(capsys, "state", "get", *written, "orders", "c0001")
    assert got.code == 0, got.err
    rows = [line.split(None, 1) for line in got.out.splitlines()]
    assert rows == [['["o1"]', "10"], ['["o2"]', "20.5"], ['["o3"]', "7"]]  # sub-key order, nothing of c0002

    as_json = run_cli(capsys, "state", "get", *written, "orders", "c0001", "--json")
    assert as_json.code == 0, as_json.err
    answer = json.loads(as_json.out)
    assert answer["value"] is None
    assert answer["items"] == [{"sub_key": "o1", "value": 10}, {"sub_key": "o2", "value": 20.5},
                               {"sub_key": "o3", "value": 7}]


def test_plain_keys_print_as_before_and_absent_keys_still_fail(written: list[str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    plain = run_cli(capsys, "state", "get", *written, "counts", "c0001")
    assert plain.code == 0 and plain.out == "3\n"
    assert "items" not in json.loads(run_cli(capsys, "state", "get", *written, "counts", "c0001", "--json").out)
    absent = run_cli(capsys, "state", "get", *written, "orders", "c0003")
    assert absent.code == 1 and "not in the local copy" in absent.err
