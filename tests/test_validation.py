"""Topology validation: each broken definition fails at build time with a message naming the component."""

from __future__ import annotations

import pytest

from streamproc import Bolt, JsonSerde, KafkaSink, KafkaSpout, Store, StrSerde, Topology, TopologyError, Tuple
from tests.support.bolts import Count, Passthrough, Split


def base() -> Topology:
    topology = Topology("t")
    topology.spout("in", KafkaSpout("input", value_serde=StrSerde()))
    return topology


def test_unknown_source_is_named() -> None:
    topology = base()
    topology.bolt("a", Passthrough).shuffle("nope")
    with pytest.raises(TopologyError, match="bolt 'a' subscribes to unknown component 'nope'"):
        topology.build()


def test_cycle_is_reported_with_its_path() -> None:
    topology = base()
    topology.bolt("a", Passthrough).shuffle("in").shuffle("b")
    topology.bolt("b", Passthrough).shuffle("a")
    with pytest.raises(TopologyError, match="cycle: a -> b -> a"):
        topology.build()


def test_bolt_without_input() -> None:
    topology = base()
    topology.bolt("lonely", Passthrough)
    with pytest.raises(TopologyError, match="bolt 'lonely' has no input"):
        topology.build()


def test_duplicate_ids() -> None:
    topology = base()
    topology.bolt("a", Passthrough).shuffle("in")
    with pytest.raises(TopologyError, match="component id 'a' is used twice"):
        topology.bolt("a", Passthrough)
    with pytest.raises(TopologyError, match="component id 'in' is used twice"):
        topology.spout("in", KafkaSpout("other"))


def test_fields_grouping_on_a_field_the_upstream_does_not_declare() -> None:
    topology = base()
    topology.bolt("split", Split).shuffle("in")
    topology.bolt("count", Count).fields("split", "wrd")
    with pytest.raises(TopologyError, match=r"bolt 'count' groups by \['wrd'\] from bolt 'split'"):
        topology.build()


def test_fields_grouping_on_a_spout_with_text_values() -> None:
    topology = base()
    topology.bolt("count", Count).fields("in", "word")
    with pytest.raises(TopologyError, match=r"spout 'in' \(StrSerde values\).*values without fields"):
        topology.build()


def test_fields_grouping_on_json_spout_is_checked_at_run_time_only() -> None:
    topology = Topology("t")
    topology.spout("in", KafkaSpout("input", value_serde=JsonSerde()))
    topology.bolt("count", Count).fields("in", "word")
    assert topology.build().internal_topics  # accepted: JSON values may have the field


def test_undeclared_stream_and_spout_streams() -> None:
    class Declares(Bolt):
        output_fields = {"default": ["x"], "errors": ["reason"]}

        def process(self, tup: Tuple) -> None:
            pass

    topology = base()
    topology.bolt("d", Declares).shuffle("in")
    topology.bolt("e", Passthrough).shuffle(("d", "oops"))
    with pytest.raises(TopologyError, match="stream 'oops' of 'd', which declares only \\['default', 'errors'\\]"):
        topology.build()

    topology = base()
    topology.bolt("e", Passthrough).shuffle(("in", "side"))
    with pytest.raises(TopologyError, match="spouts only emit 'default'"):
        topology.build()


def test_subscribing_to_a_sink_and_shared_store_names() -> None:
    topology = base()
    topology.bolt("sink", KafkaSink("out")).shuffle("in")
    topology.bolt("after", Passthrough).shuffle("sink")
    with pytest.raises(TopologyError, match="'sink', a KafkaSink, which emits nothing"):
        topology.build()

    class OtherCount(Count):
        stores = [Store("counts")]

    topology = base()
    topology.bolt("a", Count).shuffle("in")
    topology.bolt("b", OtherCount).shuffle("in")
    with pytest.raises(TopologyError, match="store 'counts' is declared by both 'a' and 'b'"):
        topology.build()


class Alerts(Bolt):
    streams = ("alerts",)

    def process(self, tup: Tuple) -> None:
        pass


def test_a_misspelled_stream_fails_at_build_naming_both_components() -> None:
    topology = base()
    topology.bolt("per_customer", Alerts).shuffle("in")
    topology.bolt("notify", Passthrough).shuffle(("per_customer", "alertz"))
    with pytest.raises(TopologyError, match=r"bolt 'notify' subscribes to stream 'alertz' of 'per_customer', which "
                                            r"declares only \['alerts', 'default'\].*streams = \(\.\.\.\)"):
        topology.build()

    topology = base()
    topology.bolt("per_customer", Alerts).shuffle("in")
    topology.bolt("notify", Passthrough).shuffle(("per_customer", "alerts"))
    topology.bolt("rest", Passthrough).shuffle("per_customer")  # every bolt has the default stream
    assert topology.build()


def test_a_bolt_that_declares_nothing_has_only_the_default_stream() -> None:
    topology = base()
    topology.bolt("a", Passthrough).shuffle("in")
    topology.bolt("b", Passthrough).shuffle(("a", "errors"))
    with pytest.raises(TopologyError, match=r"stream 'errors' of 'a', which declares only \['default'\]"):
        topology.build()


def test_malformed_stream_declarations_are_named() -> None:
    class OneString(Bolt):
        streams = "alerts"  # type: ignore[assignment]

        def process(self, tup: Tuple) -> None:
            pass

    topology = base()
    topology.bolt("a", OneString).shuffle("in")
    with pytest.raises(TopologyError, match=r"bolt 'a': streams must be a tuple of stream names"):
        topology.build()


def test_streams_and_output_fields_combine() -> None:
    class Both(Bolt):
        streams = ("alerts",)
        output_fields = ("word",)

        def process(self, tup: Tuple) -> None:
            pass

    topology = base()
    topology.bolt("a", Both).shuffle("in")
    topology.bolt("by_word", Passthrough).fields("a", "word")
    topology.bolt("alerts", Passthrough).fields(("a", "alerts"), "anything")  # fields unknown: checked at run time
    assert topology.build()
